/*
 * registry.c: the set of loaded backend plugins, one per name.
 */
#include "backend/registry.h"

#include <string.h>

fe_plugin_t *
registry_load(fe_registry_t *registry, const char *name_or_path, const char *plugin_dir,
              fe_error_t *error)
{
   fe_plugin_t *plugin = loader_load(name_or_path, plugin_dir, error);
   fe_plugin_t *existing;

   if (!plugin) {
      return NULL;
   }
   existing = registry_find(registry, plugin->descriptor->name);
   if (existing) {
      error_set(error, FE_BadValue,
                "backend \"%s\": duplicate backend name '%s', already loaded from \"%s\"",
                plugin->path, plugin->descriptor->name, existing->path);
      loader_unload(plugin);
      return NULL;
   }
   if (registry->count == REGISTRY_MAX_PLUGINS) {
      error_set(error, FE_BadValue, "backend \"%s\": too many backends loaded", plugin->path);
      loader_unload(plugin);
      return NULL;
   }
   registry->plugins[registry->count++] = plugin;
   return plugin;
}

fe_plugin_t *
registry_find(const fe_registry_t *registry, const char *name)
{
   for (size_t i = 0; i < registry->count; i++) {
      if (strcmp(registry->plugins[i]->descriptor->name, name) == 0) {
         return registry->plugins[i];
      }
   }
   return NULL;
}

void
registry_clear(fe_registry_t *registry)
{
   for (size_t i = 0; i < registry->count; i++) {
      loader_unload(registry->plugins[i]);
      registry->plugins[i] = NULL;
   }
   registry->count = 0;
}
