/*
 * sqlite.c: the SQLite backend's entry point, descriptor, configuration, open and close
 * (plugins/sqlite/README.md, docs/rfc/0005-sqlite-layout.md).
 */
#include "sqlite_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SQ_VERSION "0.1.0"

FERRET_EXPORT const ferret_backend_descriptor_t *ferret_backend_entry(const ferret_host_t *host);

static ferret_status_t sq_open(const ferret_host_t *host, const ferret_config_t *config,
                               ferret_backend_t **out, ferret_error_t *error);
static void sq_close(ferret_backend_t *backend);
static bool make_dirs(const char *path);

static const char *const config_keys[] = {"data_dir", "synchronous", "busy_timeout_ms", NULL};

static const ferret_backend_methods_t methods = {
   .struct_size = sizeof(ferret_backend_methods_t),
   .open = sq_open,
   .close = sq_close,
   .session_open = session_open,
   .session_close = session_close,
   .list_databases = catalog_list_databases,
   .drop_database = catalog_drop_database,
   .list_collections = catalog_list_collections,
   .create_collection = catalog_create_collection,
   .drop_collection = catalog_drop_collection,
   .rename_collection = catalog_rename_collection,
   .insert = docs_insert,
   .replace = docs_replace,
   .delete_one = docs_delete_one,
   .query = cursor_query,
   .cursor_next = cursor_next,
   .cursor_close = cursor_close,
   .stats = catalog_stats,
   .collection_options = catalog_collection_options,
   .begin = session_begin,
   .commit = session_commit,
   .abort = session_abort,
   .explain = cursor_explain,
};

static const ferret_backend_descriptor_t descriptor = FERRET_BACKEND_DESCRIPTOR_INIT(
   SQ_BACKEND_NAME, SQ_VERSION,
   FERRET_CAP_FILTER_PUSHDOWN | FERRET_CAP_SORT_PUSHDOWN | FERRET_CAP_LIMIT_PUSHDOWN |
      FERRET_CAP_TRANSACTIONS | FERRET_CAP_EXPLAIN,
   config_keys, &methods);

const ferret_backend_descriptor_t *
ferret_backend_entry(const ferret_host_t *host)
{
   /* open() receives the host again; nothing to keep here. */
   (void) host;
   return &descriptor;
}

static ferret_status_t
sq_open(const ferret_host_t *host, const ferret_config_t *config, ferret_backend_t **out,
        ferret_error_t *error)
{
   ferret_backend_t *backend = NULL;
   const char *data_dir = "./data";
   ferret_status_t status = FERRET_OK;

   *out = NULL;
   backend = calloc(1, sizeof *backend);
   if (!backend) {
      status = session_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
      goto done;
   }
   backend->host = host;
   backend->synchronous = "FULL";
   backend->busy_timeout_ms = 10000;
   pthread_mutex_init(&backend->lock, NULL);

   for (size_t i = 0; config && i < config->count; i++) {
      const ferret_config_item_t *item = &config->items[i];
      if (strcmp(item->key, "data_dir") == 0) {
         if (!item->value[0]) {
            status = session_fail(error, FERRET_ERR_INVALID_NAME, "%s:%u: data_dir is empty",
                                  item->file ? item->file : "config", item->line);
            goto done;
         }
         data_dir = item->value;
      } else if (strcmp(item->key, "synchronous") == 0) {
         if (strcmp(item->value, "full") == 0) {
            backend->synchronous = "FULL";
         } else if (strcmp(item->value, "normal") == 0) {
            backend->synchronous = "NORMAL";
         } else {
            status = session_fail(error, FERRET_ERR_INVALID_NAME,
                                  "%s:%u: synchronous must be 'full' or 'normal', not '%s'",
                                  item->file ? item->file : "config", item->line, item->value);
            goto done;
         }
      } else if (strcmp(item->key, "busy_timeout_ms") == 0) {
         char *end = NULL;
         long value;
         errno = 0;
         value = strtol(item->value, &end, 10);
         if (errno || end == item->value || *end || value < 0 || value > INT_MAX) {
            status = session_fail(error, FERRET_ERR_INVALID_NAME,
                                  "%s:%u: busy_timeout_ms must be a non-negative integer, not "
                                  "'%s'",
                                  item->file ? item->file : "config", item->line, item->value);
            goto done;
         }
         backend->busy_timeout_ms = (int) value;
      } else {
         status = session_fail(error, FERRET_ERR_INVALID_NAME, "%s:%u: unknown key '%s'",
                               item->file ? item->file : "config", item->line, item->key);
         goto done;
      }
   }

   backend->data_dir = strdup(data_dir);
   if (!backend->data_dir) {
      status = session_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
      goto done;
   }
   if (!make_dirs(backend->data_dir)) {
      status = session_fail(error, FERRET_ERR_UNAVAILABLE, "cannot create data_dir '%s': %s",
                            backend->data_dir, strerror(errno));
      goto done;
   }
   if (sqlite3_threadsafe() == 0) {
      status = session_fail(error, FERRET_ERR_INTERNAL,
                            "the sqlite library was built without thread support");
      goto done;
   }
   if (host && host->log) {
      host->log(FERRET_LOG_INFO, SQ_BACKEND_NAME,
                "sqlite %s, data_dir '%s', synchronous %s, busy_timeout_ms %d",
                sqlite3_libversion(), backend->data_dir, backend->synchronous,
                backend->busy_timeout_ms);
   }
   *out = backend;
   backend = NULL;

done:
   if (backend) {
      sq_close(backend);
   }
   return status;
}

static void
sq_close(ferret_backend_t *backend)
{
   if (!backend) {
      return;
   }
   registry_free(backend);
   pthread_mutex_destroy(&backend->lock);
   free(backend->data_dir);
   free(backend);
}

/* mkdir -p; true when path is a directory afterwards. */
static bool
make_dirs(const char *path)
{
   char buf[PATH_MAX];
   struct stat st;
   size_t len = strlen(path);

   if (len == 0 || len >= sizeof buf) {
      errno = ENAMETOOLONG;
      return false;
   }
   memcpy(buf, path, len + 1);
   for (char *p = buf + 1; *p; p++) {
      if (*p == '/') {
         *p = '\0';
         if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
            return false;
         }
         *p = '/';
      }
   }
   if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
      return false;
   }
   if (stat(buf, &st) != 0) {
      return false;
   }
   if (!S_ISDIR(st.st_mode)) {
      errno = ENOTDIR;
      return false;
   }
   return true;
}
