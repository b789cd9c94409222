/*
 * loader.h: loading backend plugins with dlopen and checking their descriptor
 * (docs/rfc/0001-backend-abi.md).
 */
#ifndef FE_LOADER_H
#define FE_LOADER_H

#include <stdbool.h>

#include <ferret/backend.h>

#include "error/error.h"

/* A loaded plugin. The shared object is never dlclosed while this exists. */
typedef struct fe_plugin {
   char *path;                                    /* owned */
   void *handle;                                  /* owned; the dlopen handle */
   const ferret_backend_descriptor_t *descriptor; /* borrowed from the plugin; static there */
   /* A copy of the plugin's method table at the core's size: methods past the plugin's
    * struct_size (an older minor) read as NULL. */
   ferret_backend_methods_t methods;
} fe_plugin_t;

/* The host services table given to every plugin; static storage. */
const ferret_host_t *loader_host(void);

/*
 * Loads a backend by name ("sqlite" looks for "<dir>/sqlite.so" in each directory of the
 * colon-separated plugin_dir) or by path (anything containing a '/'). Checks the magic, the
 * ABI version (equal major, plugin minor <= core minor), the struct sizes and the required
 * methods before calling anything but the entry point. Returns NULL and sets *error with a
 * message naming the path (and both versions for a version mismatch). The result is owned by
 * the caller: loader_unload().
 */
fe_plugin_t *loader_load(const char *name_or_path, const char *plugin_dir, fe_error_t *error);

void loader_unload(fe_plugin_t *plugin);

#endif /* FE_LOADER_H */
