/*
 * loader.c: dlopen a backend plugin and check its descriptor before trusting it
 * (docs/rfc/0001-backend-abi.md).
 *
 * The checks run in the order that makes each message meaningful: the file opens, the entry
 * symbol exists, the magic is ours, the ABI version fits (reported before anything else in the
 * descriptor is read, since a different major may have another layout), the structs are big
 * enough, and every required method is present.
 */
#include "backend/loader.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/log.h"

/* The prefix of the method table a 1.0 plugin must provide: every required method. */
#define REQUIRED_METHODS_SIZE offsetof(ferret_backend_methods_t, begin)

static void host_log(ferret_log_level_t level, const char *backend_name, const char *format, ...);
static char *find_plugin(const char *name_or_path, const char *plugin_dir, fe_error_t *error);
static bool check_descriptor(const char *path, const ferret_backend_descriptor_t *descriptor,
                             fe_error_t *error);
static bool check_methods(const char *path, const ferret_backend_methods_t *methods,
                          fe_error_t *error);

static const ferret_host_t host = {
   .struct_size = sizeof(ferret_host_t),
   .abi_major = FERRET_ABI_MAJOR,
   .abi_minor = FERRET_ABI_MINOR,
   .server_version = FERRET_VERSION,
   .log = host_log,
};

const ferret_host_t *
loader_host(void)
{
   return &host;
}

fe_plugin_t *
loader_load(const char *name_or_path, const char *plugin_dir, fe_error_t *error)
{
   fe_plugin_t *plugin = NULL;
   char *path = NULL;
   void *handle = NULL;
   const ferret_backend_descriptor_t *descriptor;
   ferret_backend_entry_fn entry;
   size_t methods_size;

   path = find_plugin(name_or_path, plugin_dir, error);
   if (!path) {
      goto done;
   }
   /* RTLD_LOCAL keeps one backend's driver symbols from interposing another's; RTLD_NOW makes
    * a missing symbol fail here rather than in the middle of a command. */
   handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
   if (!handle) {
      error_set(error, FE_BadValue, "backend \"%s\": cannot load: %s", path, dlerror());
      goto done;
   }
   *(void **) &entry = dlsym(handle, FERRET_BACKEND_ENTRY_SYMBOL);
   if (!entry) {
      error_set(error, FE_BadValue, "backend \"%s\": not a ferret backend: no symbol %s", path,
                FERRET_BACKEND_ENTRY_SYMBOL);
      goto done;
   }
   descriptor = entry(&host);
   if (!descriptor) {
      error_set(error, FE_BadValue, "backend \"%s\": %s returned no descriptor", path,
                FERRET_BACKEND_ENTRY_SYMBOL);
      goto done;
   }
   if (!check_descriptor(path, descriptor, error) ||
       !check_methods(path, descriptor->methods, error)) {
      goto done;
   }

   plugin = calloc(1, sizeof *plugin);
   if (!plugin) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory loading backend \"%s\"", path);
      goto done;
   }
   /* A plugin built against an older minor has a shorter table: the rest stays NULL. */
   methods_size = descriptor->methods->struct_size;
   if (methods_size > sizeof plugin->methods) {
      methods_size = sizeof plugin->methods;
   }
   memcpy(&plugin->methods, descriptor->methods, methods_size);
   plugin->methods.struct_size = sizeof plugin->methods;
   plugin->descriptor = descriptor;
   plugin->path = path;
   plugin->handle = handle;
   path = NULL;
   handle = NULL;

done:
   if (handle) {
      dlclose(handle);
   }
   free(path);
   return plugin;
}

void
loader_unload(fe_plugin_t *plugin)
{
   if (!plugin) {
      return;
   }
   dlclose(plugin->handle);
   free(plugin->path);
   free(plugin);
}

static void
host_log(ferret_log_level_t level, const char *backend_name, const char *format, ...)
{
   va_list args;
   va_start(args, format);
   log_writev((log_level_t) level, backend_name, format, args);
   va_end(args);
}

/* Resolves a backend name to an existing file. Returns a malloc'd path or NULL with *error. */
static char *
find_plugin(const char *name_or_path, const char *plugin_dir, fe_error_t *error)
{
   char *dirs = NULL;
   char *found = NULL;
   char *cursor;
   char *dir;

   if (strchr(name_or_path, '/')) {
      if (access(name_or_path, R_OK) != 0) {
         error_set(error, FE_BadValue, "backend \"%s\": file not found", name_or_path);
         return NULL;
      }
      return strdup(name_or_path);
   }
   dirs = strdup(plugin_dir ? plugin_dir : FERRET_BACKEND_DIR);
   for (cursor = dirs; dirs && (dir = strsep(&cursor, ":")) != NULL;) {
      char candidate[4096];
      if (!*dir) {
         continue;
      }
      snprintf(candidate, sizeof candidate, "%s/%s.so", dir, name_or_path);
      if (access(candidate, R_OK) == 0) {
         found = strdup(candidate);
         break;
      }
   }
   if (!found) {
      error_set(error, FE_BadValue, "backend \"%s\": file not found: no %s.so in plugin_dir \"%s\"",
                name_or_path, name_or_path, plugin_dir ? plugin_dir : FERRET_BACKEND_DIR);
   }
   free(dirs);
   return found;
}

static bool
check_descriptor(const char *path, const ferret_backend_descriptor_t *descriptor, fe_error_t *error)
{
   if (descriptor->magic != FERRET_BACKEND_MAGIC) {
      return error_set(error, FE_BadValue,
                       "backend \"%s\": bad magic 0x%08x in descriptor, expected 0x%08x", path,
                       (unsigned) descriptor->magic, (unsigned) FERRET_BACKEND_MAGIC);
   }
   if (descriptor->abi_major != FERRET_ABI_MAJOR) {
      return error_set(error, FE_BadValue,
                       "backend \"%s\": ABI mismatch: server speaks %d.%d, backend built for %d.%d",
                       path, FERRET_ABI_MAJOR, FERRET_ABI_MINOR, descriptor->abi_major,
                       descriptor->abi_minor);
   }
   if (descriptor->abi_minor > FERRET_ABI_MINOR) {
      return error_set(error, FE_BadValue,
                       "backend \"%s\": ABI too new: server speaks %d.%d, backend built for %d.%d; "
                       "upgrade the server",
                       path, FERRET_ABI_MAJOR, FERRET_ABI_MINOR, descriptor->abi_major,
                       descriptor->abi_minor);
   }
   if (descriptor->struct_size < sizeof(ferret_backend_descriptor_t)) {
      return error_set(error, FE_BadValue,
                       "backend \"%s\": descriptor too small: %zu bytes, ABI %d.%d needs %zu", path,
                       descriptor->struct_size, FERRET_ABI_MAJOR, descriptor->abi_minor,
                       sizeof(ferret_backend_descriptor_t));
   }
   if (!descriptor->name || !descriptor->name[0] || !descriptor->version || !descriptor->methods) {
      return error_set(error, FE_BadValue,
                       "backend \"%s\": descriptor lacks a name, a version or a method table",
                       path);
   }
   return true;
}

static bool
check_methods(const char *path, const ferret_backend_methods_t *methods, fe_error_t *error)
{
   static const struct {
      const char *name;
      size_t offset;
   } required[] = {
#define REQUIRED(m) {#m, offsetof(ferret_backend_methods_t, m)}
      REQUIRED(open),
      REQUIRED(close),
      REQUIRED(session_open),
      REQUIRED(session_close),
      REQUIRED(list_databases),
      REQUIRED(drop_database),
      REQUIRED(list_collections),
      REQUIRED(create_collection),
      REQUIRED(drop_collection),
      REQUIRED(rename_collection),
      REQUIRED(insert),
      REQUIRED(replace),
      REQUIRED(delete_one),
      REQUIRED(query),
      REQUIRED(cursor_next),
      REQUIRED(cursor_close),
      REQUIRED(stats),
      REQUIRED(collection_options),
#undef REQUIRED
   };

   if (methods->struct_size < REQUIRED_METHODS_SIZE) {
      return error_set(error, FE_BadValue,
                       "backend \"%s\": method table too small: %zu bytes, the required methods "
                       "need %zu",
                       path, methods->struct_size, (size_t) REQUIRED_METHODS_SIZE);
   }
   for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
      void *const *slot = (void *const *) ((const char *) methods + required[i].offset);
      if (*slot == NULL) {
         return error_set(error, FE_BadValue, "backend \"%s\": required method %s is missing", path,
                          required[i].name);
      }
   }
   return true;
}
