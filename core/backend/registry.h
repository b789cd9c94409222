/*
 * registry.h: the set of loaded backend plugins, one per name.
 */
#ifndef FE_REGISTRY_H
#define FE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "backend/loader.h"

#define REGISTRY_MAX_PLUGINS 16

typedef struct fe_registry {
   fe_plugin_t *plugins[REGISTRY_MAX_PLUGINS]; /* owned */
   size_t count;
} fe_registry_t;

/* Loads a plugin (see loader_load) and adds it. Fails, unloading it, when a plugin of the same
 * backend name is already registered: two backends must never silently shadow each other.
 * Returns the registered plugin (borrowed; owned by the registry) or NULL with *error. */
fe_plugin_t *registry_load(fe_registry_t *registry, const char *name_or_path,
                           const char *plugin_dir, fe_error_t *error);

/* The plugin registered under a backend name, or NULL. */
fe_plugin_t *registry_find(const fe_registry_t *registry, const char *name);

/* Unloads every plugin. */
void registry_clear(fe_registry_t *registry);

#endif /* FE_REGISTRY_H */
