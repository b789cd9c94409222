/*
 * config.c: reading the INI-style configuration file and applying flags over it.
 */
#include "server/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"

#define DEFAULT_PORT 27017

static char *trim(char *text);
static bool parse_int(const char *value, long min, long max, long *out);
static bool parse_listen(const char *value, char *host, size_t host_size, int *port);
static bool append_line(fe_config_t *config, const char *section, const char *key,
                        const char *value, const char *origin, unsigned line);

void
config_init(fe_config_t *config)
{
   memset(config, 0, sizeof *config);
   snprintf(config->listen_host, sizeof config->listen_host, "127.0.0.1");
   config->listen_port = DEFAULT_PORT;
   snprintf(config->backend, sizeof config->backend, "sqlite");
   snprintf(config->plugin_dir, sizeof config->plugin_dir, "%s", FERRET_BACKEND_DIR);
   config->workers = 0; /* 0: one per core */
   config->log_level = LOG_INFO;
   config->max_connections = 10000;
   config->ttl_monitor_interval = 60; /* mongod's ttlMonitorSleepSecs */
}

bool
config_load_file(fe_config_t *config, const char *path, fe_error_t *error)
{
   FILE *file = NULL;
   char *buffer = NULL;
   size_t buffer_size = 0;
   char section[256] = "";
   unsigned line_number = 0;
   bool ok = false;

   file = fopen(path, "r");
   if (!file) {
      error_set(error, FE_BadValue, "%s: cannot open: %s", path, strerror(errno));
      goto done;
   }
   while (getline(&buffer, &buffer_size, file) != -1) {
      char *text = trim(buffer);
      char *equals;
      line_number++;
      if (*text == '\0' || *text == '#' || *text == ';') {
         continue;
      }
      if (*text == '[') {
         char *end = strchr(text, ']');
         if (!end || *trim(end + 1) != '\0' || end == text + 1) {
            error_set(error, FE_BadValue, "%s:%u: malformed section header", path, line_number);
            goto done;
         }
         *end = '\0';
         snprintf(section, sizeof section, "%s", trim(text + 1));
         continue;
      }
      equals = strchr(text, '=');
      if (!equals) {
         error_set(error, FE_BadValue, "%s:%u: expected 'key = value'", path, line_number);
         goto done;
      }
      *equals = '\0';
      {
         char *key = trim(text);
         char *value = trim(equals + 1);
         if (!*key) {
            error_set(error, FE_BadValue, "%s:%u: empty key", path, line_number);
            goto done;
         }
         if (!section[0] && !config_set(config, key, value, path, line_number, error)) {
            goto done;
         }
         if (!append_line(config, section, key, value, path, line_number)) {
            error_set(error, FE_ExceededMemoryLimit, "%s: out of memory", path);
            goto done;
         }
      }
   }
   ok = true;

done:
   free(buffer);
   if (file) {
      fclose(file);
   }
   return ok;
}

bool
config_set(fe_config_t *config, const char *key, const char *value, const char *origin,
           unsigned line, fe_error_t *error)
{
   long number;

   if (strcmp(key, "listen") == 0) {
      if (!parse_listen(value, config->listen_host, sizeof config->listen_host,
                        &config->listen_port)) {
         return error_set(error, FE_BadValue, "%s:%u: bad listen address '%s', expected host:port",
                          origin, line, value);
      }
   } else if (strcmp(key, "backend") == 0) {
      if (!*value || strlen(value) >= sizeof config->backend) {
         return error_set(error, FE_BadValue, "%s:%u: bad backend '%s'", origin, line, value);
      }
      snprintf(config->backend, sizeof config->backend, "%s", value);
   } else if (strcmp(key, "plugin_dir") == 0) {
      if (strlen(value) >= sizeof config->plugin_dir) {
         return error_set(error, FE_BadValue, "%s:%u: plugin_dir too long", origin, line);
      }
      snprintf(config->plugin_dir, sizeof config->plugin_dir, "%s", value);
   } else if (strcmp(key, "workers") == 0) {
      if (!parse_int(value, 0, 256, &number)) {
         return error_set(error, FE_BadValue, "%s:%u: bad workers '%s', expected 0 to 256", origin,
                          line, value);
      }
      config->workers = (int) number;
   } else if (strcmp(key, "max_connections") == 0) {
      if (!parse_int(value, 1, 1000000, &number)) {
         return error_set(error, FE_BadValue, "%s:%u: bad max_connections '%s'", origin, line,
                          value);
      }
      config->max_connections = (int) number;
   } else if (strcmp(key, "ttl_monitor_interval") == 0) {
      if (!parse_int(value, 0, INT_MAX, &number)) {
         return error_set(error, FE_BadValue,
                          "%s:%u: bad ttl_monitor_interval '%s', expected seconds (0: off)", origin,
                          line, value);
      }
      config->ttl_monitor_interval = (int) number;
   } else if (strcmp(key, "enable_test_commands") == 0) {
      if (strcmp(value, "true") == 0) {
         config->enable_test_commands = true;
      } else if (strcmp(value, "false") == 0) {
         config->enable_test_commands = false;
      } else {
         return error_set(error, FE_BadValue,
                          "%s:%u: bad enable_test_commands '%s', expected true or false", origin,
                          line, value);
      }
   } else if (strcmp(key, "log_level") == 0) {
      static const char *const names[] = {"debug", "info", "warning", "error"};
      int found = -1;
      for (int i = 0; i < 4; i++) {
         if (strcmp(value, names[i]) == 0) {
            found = i;
         }
      }
      if (found < 0) {
         return error_set(error, FE_BadValue,
                          "%s:%u: bad log_level '%s', expected debug, info, warning or error",
                          origin, line, value);
      }
      config->log_level = found;
   } else {
      return error_set(error, FE_BadValue, "%s:%u: unknown key '%s'", origin, line, key);
   }
   return true;
}

bool
config_section_items(const fe_config_t *config, const char *section,
                     const char *const *allowed_keys, ferret_config_item_t **items, size_t *count,
                     fe_error_t *error)
{
   ferret_config_item_t *out = calloc(config->line_count + 1, sizeof *out);
   size_t n = 0;

   *items = NULL;
   *count = 0;
   if (!out) {
      return error_set(error, FE_ExceededMemoryLimit, "out of memory");
   }
   for (size_t i = 0; i < config->line_count; i++) {
      const fe_config_line_t *line = &config->lines[i];
      bool allowed = false;
      if (strcmp(line->section, section) != 0) {
         continue;
      }
      for (const char *const *key = allowed_keys; key && *key; key++) {
         allowed = allowed || strcmp(*key, line->key) == 0;
      }
      if (!allowed) {
         free(out);
         return error_set(error, FE_BadValue, "%s:%u: unknown key '%s' in section [%s]",
                          line->origin, line->line, line->key, section);
      }
      out[n].key = line->key;
      out[n].value = line->value;
      out[n].file = line->origin;
      out[n].line = line->line;
      n++;
   }
   *items = out;
   *count = n;
   return true;
}

void
config_destroy(fe_config_t *config)
{
   for (size_t i = 0; i < config->line_count; i++) {
      free(config->lines[i].section);
      free(config->lines[i].key);
      free(config->lines[i].value);
      free(config->lines[i].origin);
   }
   free(config->lines);
   config->lines = NULL;
   config->line_count = 0;
}

static char *
trim(char *text)
{
   char *end;
   while (isspace((unsigned char) *text)) {
      text++;
   }
   end = text + strlen(text);
   while (end > text && isspace((unsigned char) end[-1])) {
      *--end = '\0';
   }
   return text;
}

static bool
parse_int(const char *value, long min, long max, long *out)
{
   char *end;
   long number;
   errno = 0;
   number = strtol(value, &end, 10);
   if (errno || end == value || *end || number < min || number > max) {
      return false;
   }
   *out = number;
   return true;
}

/* host:port, [v6addr]:port, or a bare port. */
static bool
parse_listen(const char *value, char *host, size_t host_size, int *port)
{
   const char *colon = strrchr(value, ':');
   long number;
   size_t host_len;

   if (!colon) {
      if (!parse_int(value, 1, 65535, &number)) {
         return false;
      }
      *port = (int) number;
      return true;
   }
   if (!parse_int(colon + 1, 0, 65535, &number)) {
      return false;
   }
   host_len = (size_t) (colon - value);
   if (host_len >= 2 && value[0] == '[' && value[host_len - 1] == ']') {
      value++;
      host_len -= 2;
   } else if (memchr(value, ':', host_len)) {
      return false; /* an IPv6 address needs brackets to be told apart from its port */
   }
   if (host_len == 0 || host_len >= host_size || memchr(value, '[', host_len) ||
       memchr(value, ']', host_len)) {
      return false;
   }
   memcpy(host, value, host_len);
   host[host_len] = '\0';
   *port = (int) number;
   return true;
}

static bool
append_line(fe_config_t *config, const char *section, const char *key, const char *value,
            const char *origin, unsigned line)
{
   fe_config_line_t *lines =
      realloc(config->lines, (config->line_count + 1) * sizeof *config->lines);
   fe_config_line_t *entry;
   if (!lines) {
      return false;
   }
   config->lines = lines;
   entry = &lines[config->line_count];
   entry->section = strdup(section);
   entry->key = strdup(key);
   entry->value = strdup(value);
   entry->origin = strdup(origin);
   entry->line = line;
   if (!entry->section || !entry->key || !entry->value || !entry->origin) {
      free(entry->section);
      free(entry->key);
      free(entry->value);
      free(entry->origin);
      return false;
   }
   config->line_count++;
   return true;
}
