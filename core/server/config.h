/*
 * config.h: the server configuration: an INI-style file, then command-line flags over it.
 *
 * Format: `key = value` lines, `[section]` headers, `#` or `;` comments, blank lines. Keys
 * before any section are the server's own; each backend reads its own section.
 */
#ifndef FE_CONFIG_H
#define FE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <ferret/backend.h>

#include "error/error.h"

typedef struct fe_config_line {
   char *section; /* owned; "" for the top level */
   char *key;     /* owned */
   char *value;   /* owned */
   char *origin;  /* owned; the file name, or "command line" */
   unsigned line;
} fe_config_line_t;

typedef struct fe_config {
   char listen_host[256];
   int listen_port;
   char backend[4096];    /* a backend name or a path to a .so */
   char plugin_dir[4096]; /* colon-separated directories */
   int workers;
   int log_level;
   int max_connections;
   bool enable_test_commands; /* configureFailPoint, as mongod's enableTestCommands */
   int ttl_monitor_interval;  /* seconds between TTL monitor passes; 0: no monitor */

   fe_config_line_t *lines; /* owned; every line read, in file order */
   size_t line_count;
} fe_config_t;

/* Fills *config with the defaults. */
void config_init(fe_config_t *config);

/* Reads a configuration file over the current values. Unknown top-level keys and bad values
 * are errors naming the file and line (code 2 BadValue). */
bool config_load_file(fe_config_t *config, const char *path, fe_error_t *error);

/* Sets one top-level key, as a flag does. origin and line name where it came from. */
bool config_set(fe_config_t *config, const char *key, const char *value, const char *origin,
                unsigned line, fe_error_t *error);

/* The lines of one section as the ABI's config items, checked against the keys the backend
 * accepts (NULL-terminated). *items is owned by the caller (free()); its strings are borrowed
 * from config. */
bool config_section_items(const fe_config_t *config, const char *section,
                          const char *const *allowed_keys, ferret_config_item_t **items,
                          size_t *count, fe_error_t *error);

void config_destroy(fe_config_t *config);

#endif /* FE_CONFIG_H */
