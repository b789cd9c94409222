/*
 * cmd_admin.c: databases and collections: listDatabases, listCollections, create, drop,
 * dropDatabase, renameCollection, collStats and dbStats. The core's hidden collections
 * (backend/indexes.h) never show and cannot be named; dropping or renaming a collection takes
 * its indexes along.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/indexes.h"
#include "commands/args.h"
#include "commands/handlers.h"
#include "commands/write_ops.h"

typedef struct name_list {
   char **names;
   size_t count;
   size_t capacity;
} name_list_t;

static bool collect_name(void *ctx, const char *name);
static void name_list_free(name_list_t *list);
static int compare_names(const void *a, const void *b);
static bool backend_error(const fe_ctx_t *ctx, ferret_status_t status,
                          const ferret_error_t *backend_error, fe_error_t *error);
static bool collection_stats(const fe_ctx_t *ctx, const char *db, const char *collection,
                             ferret_stats_t *stats, fe_error_t *error);
static void copy_options(void *ctx, const uint8_t *bson, size_t len);
static bool list_names(const fe_ctx_t *ctx, const char *db, name_list_t *list, fe_error_t *error);
static bool hidden_stats(const fe_ctx_t *ctx, ferret_stats_t *hidden, fe_error_t *error);

bool
cmd_list_databases(fe_ctx_t *ctx, fe_error_t *error)
{
   name_list_t databases = {0};
   ferret_error_t berror = {0};
   ferret_status_t status;
   bson_t filter;
   fe_filter_t *compiled = NULL;
   bool name_only = false;
   bson_t array;
   int64_t total = 0;
   uint32_t index = 0;
   bool ok = false;

   if (!args_document(ctx->command, "filter", &filter, NULL, error) ||
       !args_bool(ctx->command, "nameOnly", &name_only, error)) {
      goto done;
   }
   if (!bson_empty(&filter) && !(compiled = filter_compile(&filter, error))) {
      goto done;
   }
   status = ctx->methods->list_databases(ctx->session, collect_name, &databases, &berror);
   if (status != FERRET_OK) {
      backend_error(ctx, status, &berror, error);
      goto done;
   }
   if (databases.count > 1) {
      qsort(databases.names, databases.count, sizeof *databases.names, compare_names);
   }
   BSON_APPEND_ARRAY_BEGIN(ctx->reply, "databases", &array);
   for (size_t i = 0; i < databases.count; i++) {
      ferret_stats_t stats = {.struct_size = sizeof stats};
      ferret_ns_t ns = {.db = databases.names[i], .collection = NULL};
      bson_t entry = BSON_INITIALIZER;
      char key[16];
      const char *key_ptr;

      name_list_t visible = {0};
      bool shown;

      /* A database holding only the core's hidden collections does not exist for users. */
      if (!list_names(ctx, databases.names[i], &visible, error)) {
         bson_destroy(&entry);
         bson_append_array_end(ctx->reply, &array);
         goto done;
      }
      shown = visible.count > 0;
      name_list_free(&visible);
      if (!shown) {
         bson_destroy(&entry);
         continue;
      }
      BSON_APPEND_UTF8(&entry, "name", databases.names[i]);
      if (!name_only) {
         memset(&berror, 0, sizeof berror);
         status = ctx->methods->stats(ctx->session, &ns, &stats, &berror);
         if (status != FERRET_OK) {
            bson_destroy(&entry);
            backend_error(ctx, status, &berror, error);
            bson_append_array_end(ctx->reply, &array);
            goto done;
         }
         BSON_APPEND_INT64(&entry, "sizeOnDisk", stats.storage_size);
         BSON_APPEND_BOOL(&entry, "empty", stats.count == 0);
      }
      if (compiled && !filter_match(compiled, &entry, NULL)) {
         bson_destroy(&entry);
         continue;
      }
      total += stats.storage_size;
      bson_uint32_to_string(index++, &key_ptr, key, sizeof key);
      bson_append_document(&array, key_ptr, -1, &entry);
      bson_destroy(&entry);
   }
   bson_append_array_end(ctx->reply, &array);
   if (!name_only) {
      BSON_APPEND_INT64(ctx->reply, "totalSize", total);
      BSON_APPEND_INT64(ctx->reply, "totalSizeMb", total / (1024 * 1024));
   }
   ok = true;

done:
   name_list_free(&databases);
   if (compiled) {
      filter_destroy(compiled);
   }
   return ok;
}

bool
cmd_list_collections(fe_ctx_t *ctx, fe_error_t *error)
{
   name_list_t collections = {0};
   bson_t filter;
   fe_filter_t *compiled = NULL;
   bool name_only = false;
   int64_t batch_size = ARGS_DEFAULT_BATCH_SIZE;
   bson_t cursor_options;
   bson_t **docs = NULL;
   size_t count = 0;
   fe_cursor_t *cursor = NULL;
   bool ok = false;

   if (!args_check_db_name(ctx->db, error) ||
       !args_document(ctx->command, "filter", &filter, NULL, error) ||
       !args_bool(ctx->command, "nameOnly", &name_only, error) ||
       !args_document(ctx->command, "cursor", &cursor_options, NULL, error) ||
       !args_int64(&cursor_options, "batchSize", &batch_size, error)) {
      goto done;
   }
   if (!bson_empty(&filter) && !(compiled = filter_compile(&filter, error))) {
      goto done;
   }
   if (!list_names(ctx, ctx->db, &collections, error)) {
      goto done;
   }
   docs = calloc(collections.count ? collections.count : 1, sizeof *docs);
   if (!docs) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   for (size_t i = 0; i < collections.count; i++) {
      bson_t *entry = bson_new();
      bson_t child;
      BSON_APPEND_UTF8(entry, "name", collections.names[i]);
      BSON_APPEND_UTF8(entry, "type", "collection");
      if (!name_only) {
         ferret_ns_t ns = {.db = ctx->db, .collection = collections.names[i]};
         bson_t options = BSON_INITIALIZER;
         ferret_error_t berror = {0};
         ctx->methods->collection_options(ctx->session, &ns, copy_options, &options, &berror);
         BSON_APPEND_DOCUMENT(entry, "options", &options);
         bson_destroy(&options);
         BSON_APPEND_DOCUMENT_BEGIN(entry, "info", &child);
         BSON_APPEND_BOOL(&child, "readOnly", false);
         bson_append_document_end(entry, &child);
         BSON_APPEND_DOCUMENT_BEGIN(entry, "idIndex", &child);
         {
            bson_t key;
            BSON_APPEND_INT32(&child, "v", 2);
            BSON_APPEND_DOCUMENT_BEGIN(&child, "key", &key);
            BSON_APPEND_INT32(&key, "_id", 1);
            bson_append_document_end(&child, &key);
            BSON_APPEND_UTF8(&child, "name", "_id_");
         }
         bson_append_document_end(entry, &child);
      }
      if (compiled && !filter_match(compiled, entry, NULL)) {
         bson_destroy(entry);
         continue;
      }
      docs[count++] = entry;
   }
   cursor = cursor_new(ctx->db, "$cmd.listCollections");
   if (!cursor) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   cursor_set_documents(cursor, docs, count);
   docs = NULL;
   count = 0;
   ok = args_reply_first_batch(ctx, cursor, batch_size, false, error);
   cursor = NULL;

done:
   for (size_t i = 0; i < count; i++) {
      bson_destroy(docs[i]);
   }
   free(docs);
   cursor_destroy(cursor);
   name_list_free(&collections);
   if (compiled) {
      filter_destroy(compiled);
   }
   return ok;
}

bool
cmd_create(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *collection;
   bson_t options = BSON_INITIALIZER;
   bson_iter_t iter;
   ferret_error_t berror = {0};
   ferret_status_t status;
   ferret_ns_t ns;
   bool ok = false;

   if (!args_collection(ctx, &collection, error)) {
      goto done;
   }
   if (bson_iter_init(&iter, ctx->command)) {
      bson_iter_next(&iter); /* the command name */
      while (bson_iter_next(&iter)) {
         const char *key = bson_iter_key(&iter);
         /* Generic command arguments are not options of the collection. */
         if (key[0] == '$' || strcmp(key, "lsid") == 0 || strcmp(key, "txnNumber") == 0 ||
             strcmp(key, "writeConcern") == 0 || strcmp(key, "comment") == 0 ||
             strcmp(key, "maxTimeMS") == 0 || strcmp(key, "apiVersion") == 0 ||
             strcmp(key, "apiStrict") == 0 || strcmp(key, "apiDeprecationErrors") == 0) {
            continue;
         }
         if (strcmp(key, "viewOn") == 0 || strcmp(key, "pipeline") == 0) {
            error_set(error, FE_CommandNotSupported, "views are not supported");
            goto done;
         }
         if (strcmp(key, "timeseries") == 0 || strcmp(key, "clusteredIndex") == 0) {
            error_set(error, FE_CommandNotSupported, "'%s' collections are not supported", key);
            goto done;
         }
         bson_append_iter(&options, key, -1, &iter);
      }
   }
   ns.db = ctx->db;
   ns.collection = collection;
   status = ctx->methods->create_collection(ctx->session, &ns, bson_get_data(&options), options.len,
                                            &berror);
   if (status == FERRET_ERR_NAMESPACE_EXISTS) {
      error_set(error, FE_NamespaceExists, "Collection %s.%s already exists.", ctx->db, collection);
      goto done;
   }
   ok = status == FERRET_OK || backend_error(ctx, status, &berror, error);

done:
   bson_destroy(&options);
   return ok;
}

bool
cmd_drop(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *collection;
   ferret_error_t berror = {0};
   ferret_status_t status;
   ferret_ns_t ns;
   fe_store_t store;

   if (!args_collection(ctx, &collection, error)) {
      return false;
   }
   /* The indexes first: a failure in between leaves a collection without them, never index
    * metadata waiting to come back with a new collection of the same name. */
   write_ops_store(ctx, collection, &store);
   if (!indexes_drop_all(&store, error)) {
      return false;
   }
   ns.db = ctx->db;
   ns.collection = collection;
   status = ctx->methods->drop_collection(ctx->session, &ns, &berror);
   /* Since MongoDB 7.0 dropping a missing collection succeeds. */
   if (status != FERRET_OK && status != FERRET_ERR_NAMESPACE_NOT_FOUND) {
      return backend_error(ctx, status, &berror, error);
   }
   BSON_APPEND_UTF8(ctx->reply, "ns", ctx->db);
   return true;
}

bool
cmd_drop_database(fe_ctx_t *ctx, fe_error_t *error)
{
   ferret_error_t berror = {0};
   ferret_status_t status;

   if (!args_check_db_name(ctx->db, error)) {
      return false;
   }
   status = ctx->methods->drop_database(ctx->session, ctx->db, &berror);
   if (status != FERRET_OK) {
      return backend_error(ctx, status, &berror, error);
   }
   BSON_APPEND_UTF8(ctx->reply, "dropped", ctx->db);
   return true;
}

bool
cmd_rename_collection(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_iter_t iter;
   const char *from;
   const char *to;
   char from_db[128], to_db[128];
   const char *from_dot, *to_dot;
   bool drop_target = false;
   ferret_ns_t from_ns, to_ns;
   ferret_error_t berror = {0};
   ferret_status_t status;

   if (!bson_iter_init_find(&iter, ctx->command, "renameCollection") ||
       !BSON_ITER_HOLDS_UTF8(&iter)) {
      return error_set(error, FE_TypeMismatch, "'renameCollection' must be of type String");
   }
   from = bson_iter_utf8(&iter, NULL);
   if (!bson_iter_init_find(&iter, ctx->command, "to") || !BSON_ITER_HOLDS_UTF8(&iter)) {
      return error_set(error, FE_TypeMismatch, "'to' must be of type String");
   }
   to = bson_iter_utf8(&iter, NULL);
   if (!args_bool(ctx->command, "dropTarget", &drop_target, error)) {
      return false;
   }
   from_dot = strchr(from, '.');
   to_dot = strchr(to, '.');
   if (!from_dot || !to_dot || (size_t) (from_dot - from) >= sizeof from_db ||
       (size_t) (to_dot - to) >= sizeof to_db) {
      return error_set(error, FE_InvalidNamespace, "Invalid namespace specified '%s'",
                       !from_dot ? from : to);
   }
   snprintf(from_db, sizeof from_db, "%.*s", (int) (from_dot - from), from);
   snprintf(to_db, sizeof to_db, "%.*s", (int) (to_dot - to), to);
   if (!args_check_collection_name(from_db, from_dot + 1, error) ||
       !args_check_collection_name(to_db, to_dot + 1, error)) {
      return false;
   }
   if (strcmp(from, to) == 0) {
      return error_set(error, FE_IllegalOperation, "Can't rename a collection to itself");
   }
   if (indexes_is_hidden(from_dot + 1) || indexes_is_hidden(to_dot + 1)) {
      return error_set(error, FE_InvalidNamespace,
                       "collection names starting with '%s' are reserved", INDEXES_HIDDEN_PREFIX);
   }
   from_ns.db = from_db;
   from_ns.collection = from_dot + 1;
   to_ns.db = to_db;
   to_ns.collection = to_dot + 1;
   status = ctx->methods->rename_collection(ctx->session, &from_ns, &to_ns, drop_target, &berror);
   if (status == FERRET_ERR_NAMESPACE_NOT_FOUND) {
      return error_set(error, FE_NamespaceNotFound, "Source collection %s does not exist", from);
   }
   if (status == FERRET_ERR_NAMESPACE_EXISTS) {
      return error_set(error, FE_NamespaceExists, "Target collection %s exists", to);
   }
   if (status != FERRET_OK) {
      return backend_error(ctx, status, &berror, error);
   }
   {
      fe_store_t from_store, to_store;
      write_ops_store(ctx, from_ns.collection, &from_store);
      from_store.ns = from_ns;
      write_ops_store(ctx, to_ns.collection, &to_store);
      to_store.ns = to_ns;
      return indexes_rename(&from_store, &to_store, error);
   }
}

bool
cmd_coll_stats(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *collection;
   char ns[512];

   if (!args_collection(ctx, &collection, error)) {
      return false;
   }
   snprintf(ns, sizeof ns, "%s.%s", ctx->db, collection);
   BSON_APPEND_UTF8(ctx->reply, "ns", ns);
   return cmd_append_storage_stats(ctx, collection, ctx->reply, error);
}

bool
cmd_append_storage_stats(fe_ctx_t *ctx, const char *collection, bson_t *out, fe_error_t *error)
{
   ferret_stats_t stats = {.struct_size = sizeof stats};
   fe_store_t store;
   fe_index_set_t set = {0};

   if (!collection_stats(ctx, ctx->db, collection, &stats, error)) {
      return false;
   }
   write_ops_store(ctx, collection, &store);
   if (!indexes_load(&store, false, &set, error)) {
      return false;
   }
   /* Secondary indexes count; a unique one's size is its entries collection. */
   stats.index_count = (stats.index_count > 0 ? stats.index_count : 1) + (int64_t) set.count;
   for (size_t i = 0; i < set.count; i++) {
      ferret_stats_t entries = {.struct_size = sizeof entries};
      if (set.items[i].entries &&
          collection_stats(ctx, ctx->db, set.items[i].entries, &entries, NULL)) {
         stats.index_size += entries.storage_size;
      }
   }
   indexes_set_destroy(&set);
   BSON_APPEND_INT64(out, "count", stats.count);
   BSON_APPEND_INT64(out, "size", stats.data_size);
   BSON_APPEND_INT64(out, "avgObjSize", stats.count ? stats.data_size / stats.count : 0);
   BSON_APPEND_INT64(out, "storageSize", stats.storage_size);
   BSON_APPEND_INT64(out, "nindexes", stats.index_count > 0 ? stats.index_count : 1);
   BSON_APPEND_INT64(out, "totalIndexSize", stats.index_size);
   BSON_APPEND_INT64(out, "totalSize", stats.storage_size + stats.index_size);
   BSON_APPEND_INT32(out, "scaleFactor", 1);
   return true;
}

bool
cmd_db_stats(fe_ctx_t *ctx, fe_error_t *error)
{
   ferret_stats_t stats = {.struct_size = sizeof stats};
   ferret_stats_t hidden = {.struct_size = sizeof hidden};
   ferret_ns_t ns = {.db = ctx->db, .collection = NULL};
   ferret_error_t berror = {0};
   ferret_status_t status;

   if (!args_check_db_name(ctx->db, error)) {
      return false;
   }
   status = ctx->methods->stats(ctx->session, &ns, &stats, &berror);
   if (status != FERRET_OK) {
      return backend_error(ctx, status, &berror, error);
   }
   /* The hidden collections are index storage, not data. */
   if (!hidden_stats(ctx, &hidden, error)) {
      return false;
   }
   stats.collections -= hidden.collections;
   stats.count -= hidden.count;
   stats.data_size -= hidden.data_size;
   stats.storage_size -= hidden.storage_size;
   stats.index_size += hidden.storage_size;
   BSON_APPEND_UTF8(ctx->reply, "db", ctx->db);
   BSON_APPEND_INT64(ctx->reply, "collections", stats.collections);
   BSON_APPEND_INT64(ctx->reply, "views", 0);
   BSON_APPEND_INT64(ctx->reply, "objects", stats.count);
   BSON_APPEND_DOUBLE(ctx->reply, "avgObjSize",
                      stats.count ? (double) stats.data_size / (double) stats.count : 0.0);
   BSON_APPEND_INT64(ctx->reply, "dataSize", stats.data_size);
   BSON_APPEND_INT64(ctx->reply, "storageSize", stats.storage_size);
   BSON_APPEND_INT64(ctx->reply, "indexes", stats.collections + hidden.index_count);
   BSON_APPEND_INT64(ctx->reply, "indexSize", stats.index_size);
   BSON_APPEND_INT64(ctx->reply, "totalSize", stats.storage_size + stats.index_size);
   BSON_APPEND_INT32(ctx->reply, "scaleFactor", 1);
   return true;
}

static bool
list_names(const fe_ctx_t *ctx, const char *db, name_list_t *list, fe_error_t *error)
{
   ferret_ns_t ns = {.db = db, .collection = NULL};
   ferret_error_t berror = {0};
   ferret_status_t status =
      ctx->methods->list_collections(ctx->session, &ns, collect_name, list, &berror);
   size_t kept = 0;
   if (status != FERRET_OK) {
      return backend_error(ctx, status, &berror, error);
   }
   for (size_t i = 0; i < list->count; i++) {
      if (indexes_is_hidden(list->names[i])) {
         free(list->names[i]);
      } else {
         list->names[kept++] = list->names[i];
      }
   }
   list->count = kept;
   if (list->count > 1) {
      qsort(list->names, list->count, sizeof *list->names, compare_names);
   }
   return true;
}

/* The summed statistics of the hidden collections of ctx->db: collections counts them and
 * index_count counts the secondary indexes in the catalog. */
static bool
hidden_stats(const fe_ctx_t *ctx, ferret_stats_t *hidden, fe_error_t *error)
{
   ferret_ns_t ns = {.db = ctx->db, .collection = NULL};
   ferret_error_t berror = {0};
   name_list_t all = {0};
   ferret_status_t status =
      ctx->methods->list_collections(ctx->session, &ns, collect_name, &all, &berror);
   bool ok = false;

   if (status != FERRET_OK) {
      backend_error(ctx, status, &berror, error);
      goto done;
   }
   for (size_t i = 0; i < all.count; i++) {
      ferret_stats_t one = {.struct_size = sizeof one};
      if (!indexes_is_hidden(all.names[i])) {
         continue;
      }
      if (!collection_stats(ctx, ctx->db, all.names[i], &one, error)) {
         goto done;
      }
      hidden->collections++;
      hidden->count += one.count;
      hidden->data_size += one.data_size;
      hidden->storage_size += one.storage_size;
      if (strcmp(all.names[i], INDEXES_CATALOG) == 0) {
         hidden->index_count += one.count;
      }
   }
   ok = true;

done:
   name_list_free(&all);
   return ok;
}

static bool
collection_stats(const fe_ctx_t *ctx, const char *db, const char *collection, ferret_stats_t *stats,
                 fe_error_t *error)
{
   ferret_ns_t ns = {.db = db, .collection = collection};
   ferret_error_t berror = {0};
   ferret_status_t status = ctx->methods->stats(ctx->session, &ns, stats, &berror);
   return status == FERRET_OK || backend_error(ctx, status, &berror, error);
}

static bool
collect_name(void *ctx, const char *name)
{
   name_list_t *list = ctx;
   if (list->count == list->capacity) {
      size_t grown = list->capacity ? list->capacity * 2 : 16;
      char **bigger = realloc(list->names, grown * sizeof *bigger);
      if (!bigger) {
         return false;
      }
      list->names = bigger;
      list->capacity = grown;
   }
   list->names[list->count] = strdup(name);
   if (!list->names[list->count]) {
      return false;
   }
   list->count++;
   return true;
}

static void
name_list_free(name_list_t *list)
{
   for (size_t i = 0; i < list->count; i++) {
      free(list->names[i]);
   }
   free(list->names);
   memset(list, 0, sizeof *list);
}

static int
compare_names(const void *a, const void *b)
{
   return strcmp(*(char *const *) a, *(char *const *) b);
}

static bool
backend_error(const fe_ctx_t *ctx, ferret_status_t status, const ferret_error_t *berror,
              fe_error_t *error)
{
   return error_set_from_backend(error, ctx->server->backend_name, status, berror);
}

static void
copy_options(void *ctx, const uint8_t *bson, size_t len)
{
   bson_t *out = ctx;
   bson_t stored;
   if (bson && len >= 5 && bson_init_static(&stored, bson, len)) {
      bson_destroy(out);
      bson_copy_to(&stored, out);
   }
}
