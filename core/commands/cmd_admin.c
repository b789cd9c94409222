/*
 * cmd_admin.c: databases and collections: listDatabases, listCollections, create, drop,
 * dropDatabase, renameCollection, collStats, dbStats, dataSize and validate. The core's hidden
 * collections (backend/indexes.h) never show and cannot be named; dropping or renaming a
 * collection takes its indexes along.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "backend/indexes.h"
#include "backend/pushdown.h"
#include "backend/validators.h"
#include "commands/args.h"
#include "commands/cmd_views.h"
#include "commands/handlers.h"
#include "commands/write_ops.h"

typedef struct name_list {
   char **names;
   size_t count;
   size_t capacity;
   /* collect_name() could not keep a name: returning false only stops the listing, so the
    * caller must fail the command instead of answering with a shorter list. */
   bool out_of_memory;
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
static bool read_scale(const bson_t *doc, const char *field, int64_t *scale, fe_error_t *error);
static bool append_storage_stats(fe_ctx_t *ctx, const char *collection, int64_t scale, bson_t *out,
                                 fe_error_t *error);
static bool collection_exists(const fe_ctx_t *ctx, const char *db, const char *collection,
                              bool *exists, fe_error_t *error);
static bool check_capped_options(const bson_t *options, fe_error_t *error);
static int64_t elapsed_millis(const struct timeval *start);
static void append_number(bson_t *out, const char *key, int64_t value);

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
   if (databases.out_of_memory) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory listing databases");
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
         append_number(&entry, "sizeOnDisk", stats.storage_size);
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
      append_number(ctx->reply, "totalSize", total);
      append_number(ctx->reply, "totalSizeMb", total / (1024 * 1024));
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
         fe_store_t store;
         bson_t options = BSON_INITIALIZER;
         write_ops_store(ctx, collections.names[i], &store);
         (void) validators_collection_options(&store, &options, NULL, NULL);
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
   if (!cmd_views_list(ctx, compiled, name_only, &docs, &count, error)) {
      goto done;
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
         if (strcmp(key, "timeseries") == 0 || strcmp(key, "clusteredIndex") == 0) {
            error_set(error, FE_CommandNotSupported, "'%s' collections are not supported", key);
            goto done;
         }
         if (strcmp(key, "collation") == 0) {
            /* Stored as mongod stores it: the full specification, none for simple. */
            fe_collator_t *collator = NULL;
            bson_t spec;
            if (BSON_ITER_HOLDS_NULL(&iter)) {
               continue;
            }
            if (!collation_parse_iter(&iter, "collation", &collator, error)) {
               goto done;
            }
            if (collator) {
               BSON_APPEND_DOCUMENT_BEGIN(&options, "collation", &spec);
               collation_append_spec(collator, &spec);
               bson_append_document_end(&options, &spec);
               collation_destroy(collator);
            }
            continue;
         }
         bson_append_iter(&options, key, -1, &iter);
      }
   }
   if (!check_capped_options(&options, error) || !validators_check_options(&options, error)) {
      goto done;
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
   validators_cache_bump(&ctx->worker->validator_cache);

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
   fe_index_set_t set = {0};
   size_t index_count;
   char full[512];

   if (!args_collection(ctx, &collection, error)) {
      return false;
   }
   /* The indexes first: a failure in between leaves a collection without them, never index
    * metadata waiting to come back with a new collection of the same name. */
   write_ops_store(ctx, collection, &store);
   if (!indexes_load(&store, false, &set, error)) {
      return false;
   }
   index_count = set.count;
   indexes_set_destroy(&set);
   if (!indexes_drop_all(&store, error) || !validators_forget(&store, error)) {
      return false;
   }
   ns.db = ctx->db;
   ns.collection = collection;
   status = ctx->methods->drop_collection(ctx->session, &ns, &berror);
   /* Since MongoDB 7.0 dropping a missing collection succeeds. */
   if (status != FERRET_OK && status != FERRET_ERR_NAMESPACE_NOT_FOUND) {
      return backend_error(ctx, status, &berror, error);
   }
   if (status == FERRET_OK) {
      BSON_APPEND_INT32(ctx->reply, "nIndexesWas", (int32_t) (1 + index_count));
   }
   snprintf(full, sizeof full, "%s.%s", ctx->db, collection);
   BSON_APPEND_UTF8(ctx->reply, "ns", full);
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
   validators_cache_bump(&ctx->worker->validator_cache);
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
      return indexes_rename(&from_store, &to_store, error) &&
             validators_rename(&from_store, &to_store, error);
   }
}

bool
cmd_coll_stats(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *collection;
   char ns[512];
   int64_t scale = 1;

   if (!args_collection(ctx, &collection, error) ||
       !read_scale(ctx->command, "scale", &scale, error)) {
      return false;
   }
   snprintf(ns, sizeof ns, "%s.%s", ctx->db, collection);
   BSON_APPEND_UTF8(ctx->reply, "ns", ns);
   return append_storage_stats(ctx, collection, scale, ctx->reply, error);
}

bool
cmd_append_storage_stats(fe_ctx_t *ctx, const char *collection, bson_t *out, fe_error_t *error)
{
   return append_storage_stats(ctx, collection, 1, out, error);
}

/* collStats' fields, sizes divided by scale (avgObjSize is not, as in MongoDB). The _id index
 * is the backend's own storage; a unique secondary index's size is its entries collection and
 * a non-unique one, being metadata only, takes no space. */
static bool
append_storage_stats(fe_ctx_t *ctx, const char *collection, int64_t scale, bson_t *out,
                     fe_error_t *error)
{
   ferret_stats_t stats = {.struct_size = sizeof stats};
   fe_store_t store;
   fe_index_set_t set = {0};
   ferret_ns_t ns = {.db = ctx->db, .collection = collection};
   ferret_error_t berror = {0};
   bson_t options = BSON_INITIALIZER;
   bson_t sizes;
   bson_iter_t iter;
   int64_t *index_sizes = NULL;
   int64_t id_size;
   bool capped;
   bool ok = false;

   if (!collection_stats(ctx, ctx->db, collection, &stats, error)) {
      goto done;
   }
   write_ops_store(ctx, collection, &store);
   if (!indexes_load(&store, false, &set, error)) {
      goto done;
   }
   index_sizes = calloc(set.count + 1, sizeof *index_sizes);
   if (!index_sizes) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   id_size = stats.index_size;
   for (size_t i = 0; i < set.count; i++) {
      ferret_stats_t entries = {.struct_size = sizeof entries};
      if (set.items[i].entries &&
          collection_stats(ctx, ctx->db, set.items[i].entries, &entries, NULL)) {
         index_sizes[i] = entries.storage_size;
         stats.index_size += entries.storage_size;
      }
   }
   /* A missing collection has no options: not an error here. */
   ctx->methods->collection_options(ctx->session, &ns, copy_options, &options, &berror);
   capped = bson_iter_init_find(&iter, &options, "capped") && bson_iter_as_bool(&iter);
   append_number(out, "count", stats.count);
   append_number(out, "size", stats.data_size / scale);
   append_number(out, "avgObjSize", stats.count ? stats.data_size / stats.count : 0);
   append_number(out, "numOrphanDocs", 0);
   append_number(out, "storageSize", stats.storage_size / scale);
   append_number(out, "freeStorageSize", 0);
   BSON_APPEND_BOOL(out, "capped", capped);
   if (capped) {
      if (bson_iter_init_find(&iter, &options, "max") && BSON_ITER_HOLDS_NUMBER(&iter)) {
         append_number(out, "max", bson_iter_as_int64(&iter));
      }
      if (bson_iter_init_find(&iter, &options, "size") && BSON_ITER_HOLDS_NUMBER(&iter)) {
         append_number(out, "maxSize", bson_iter_as_int64(&iter) / scale);
      }
   }
   append_number(out, "nindexes", (int64_t) set.count + 1);
   BSON_APPEND_ARRAY_BEGIN(out, "indexBuilds", &sizes);
   bson_append_array_end(out, &sizes);
   append_number(out, "totalIndexSize", stats.index_size / scale);
   append_number(out, "totalSize", (stats.storage_size + stats.index_size) / scale);
   BSON_APPEND_DOCUMENT_BEGIN(out, "indexSizes", &sizes);
   append_number(&sizes, "_id_", id_size / scale);
   for (size_t i = 0; i < set.count; i++) {
      append_number(&sizes, set.items[i].name, index_sizes[i] / scale);
   }
   bson_append_document_end(out, &sizes);
   BSON_APPEND_INT32(out, "scaleFactor", (int32_t) scale);
   ok = true;

done:
   free(index_sizes);
   bson_destroy(&options);
   indexes_set_destroy(&set);
   return ok;
}

bool
cmd_db_stats(fe_ctx_t *ctx, fe_error_t *error)
{
   ferret_stats_t stats = {.struct_size = sizeof stats};
   ferret_stats_t hidden = {.struct_size = sizeof hidden};
   ferret_ns_t ns = {.db = ctx->db, .collection = NULL};
   ferret_error_t berror = {0};
   ferret_status_t status;
   int64_t scale = 1;

   if (!args_check_db_name(ctx->db, error) || !read_scale(ctx->command, "scale", &scale, error)) {
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
   append_number(ctx->reply, "collections", stats.collections);
   append_number(ctx->reply, "views", 0);
   append_number(ctx->reply, "objects", stats.count);
   BSON_APPEND_DOUBLE(ctx->reply, "avgObjSize",
                      stats.count ? (double) stats.data_size / (double) stats.count : 0.0);
   /* MongoDB divides dataSize exactly and the storage sizes in whole units. */
   if (scale == 1) {
      append_number(ctx->reply, "dataSize", stats.data_size);
   } else {
      BSON_APPEND_DOUBLE(ctx->reply, "dataSize", (double) stats.data_size / (double) scale);
   }
   append_number(ctx->reply, "storageSize", stats.storage_size / scale);
   append_number(ctx->reply, "indexes", stats.collections + hidden.index_count);
   append_number(ctx->reply, "indexSize", stats.index_size / scale);
   append_number(ctx->reply, "totalSize", (stats.storage_size + stats.index_size) / scale);
   BSON_APPEND_INT32(ctx->reply, "scaleFactor", (int32_t) scale);
   return true;
}

/* {dataSize: "db.coll", keyPattern, min, max, estimate}: the size and number of the documents,
 * all of them or those whose single key field lies in [min, max). */
bool
cmd_data_size(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_iter_t iter;
   const char *full;
   const char *dot;
   char db[128];
   bson_t key_pattern, min, max;
   bool has_key = false, has_min = false, has_max = false;
   struct timeval start;
   fe_store_t store;
   fe_filter_t *compiled = NULL;
   bson_t filter = BSON_INITIALIZER;
   bson_t **docs = NULL;
   size_t count = 0;
   int64_t size = 0;
   int64_t objects = 0;
   bool ok = false;

   gettimeofday(&start, NULL);
   if (!bson_iter_init_find(&iter, ctx->command, "dataSize") || !BSON_ITER_HOLDS_UTF8(&iter)) {
      error_set(error, FE_TypeMismatch, "'dataSize' must be of type String");
      goto done;
   }
   full = bson_iter_utf8(&iter, NULL);
   dot = strchr(full, '.');
   if (!dot || (size_t) (dot - full) >= sizeof db) {
      error_set(error, FE_InvalidNamespace, "Invalid namespace specified '%s'", full);
      goto done;
   }
   snprintf(db, sizeof db, "%.*s", (int) (dot - full), full);
   if (!args_check_collection_name(db, dot + 1, error) ||
       !args_document(ctx->command, "keyPattern", &key_pattern, &has_key, error) ||
       !args_document(ctx->command, "min", &min, &has_min, error) ||
       !args_document(ctx->command, "max", &max, &has_max, error)) {
      goto done;
   }
   write_ops_store(ctx, dot + 1, &store);
   store.ns.db = db;
   if (!has_min && !has_max) {
      ferret_stats_t stats = {.struct_size = sizeof stats};
      if (!collection_stats(ctx, db, dot + 1, &stats, error)) {
         goto done;
      }
      size = stats.data_size;
      objects = stats.count;
   } else {
      bson_iter_t field;
      bson_t range;
      const char *name;
      if (!has_key || !has_min || !has_max) {
         error_set(error, FE_BadValue, "only key pattern and min and max together are supported");
         goto done;
      }
      if (bson_count_keys(&key_pattern) != 1 || !bson_iter_init(&field, &key_pattern) ||
          !bson_iter_next(&field)) {
         error_set(error, FE_CommandNotSupported,
                   "dataSize supports a single-field keyPattern only");
         goto done;
      }
      name = bson_iter_key(&field);
      BSON_APPEND_DOCUMENT_BEGIN(&filter, name, &range);
      if (bson_iter_init_find(&field, &min, name)) {
         bson_append_iter(&range, "$gte", 4, &field);
      }
      if (bson_iter_init_find(&field, &max, name)) {
         bson_append_iter(&range, "$lt", 3, &field);
      }
      bson_append_document_end(&filter, &range);
      if (!(compiled = filter_compile(&filter, error)) ||
          !generic_collect(&store, compiled, &filter, NULL, 0, &docs, &count, error)) {
         goto done;
      }
      for (size_t i = 0; i < count; i++) {
         size += docs[i]->len;
      }
      objects = (int64_t) count;
   }
   append_number(ctx->reply, "size", size);
   append_number(ctx->reply, "numObjects", objects);
   append_number(ctx->reply, "millis", elapsed_millis(&start));
   ok = true;

done:
   generic_free_documents(docs, count);
   if (compiled) {
      filter_destroy(compiled);
   }
   bson_destroy(&filter);
   return ok;
}

/* Reads every document of the collection and checks it (well-formed BSON with an _id), counts
 * the keys each index holds for them, and compares a unique index's entries with those keys.
 * Not atomic with concurrent writes: a count may then differ for a moment. */
bool
cmd_validate(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *collection;
   bool exists = false;
   bool repair = false;
   bool full = false;
   bool check_bson = false;
   fe_store_t store;
   fe_index_set_t set = {0};
   int64_t *keys = NULL; /* owned; per secondary index, the keys the documents give */
   fe_plan_t *plan = NULL;
   ferret_cursor_t *cursor = NULL;
   ferret_error_t berror = {0};
   ferret_status_t status;
   int64_t records = 0;
   int64_t invalid = 0;
   bson_t errors = BSON_INITIALIZER;  /* the messages, as an array's elements */
   bson_t corrupt = BSON_INITIALIZER; /* the _ids (or positions) of invalid documents */
   uint32_t error_count = 0;
   uint32_t corrupt_count = 0;
   bson_t child, detail;
   char ns[512];
   char key[16];
   const char *key_ptr;
   bool ok = false;

   if (!args_collection(ctx, &collection, error) ||
       !args_bool(ctx->command, "repair", &repair, error) ||
       !args_bool(ctx->command, "full", &full, error) ||
       !args_bool(ctx->command, "checkBSONConformance", &check_bson, error)) {
      goto done;
   }
   if (repair) {
      error_set(error, FE_CommandNotSupported, "validate with repair is not supported");
      goto done;
   }
   snprintf(ns, sizeof ns, "%s.%s", ctx->db, collection);
   if (!collection_exists(ctx, ctx->db, collection, &exists, error)) {
      goto done;
   }
   if (!exists) {
      error_set(error, FE_NamespaceNotFound, "Collection '%s' does not exist to validate.", ns);
      goto done;
   }
   write_ops_store(ctx, collection, &store);
   if (!indexes_load(&store, false, &set, error)) {
      goto done;
   }
   keys = calloc(set.count + 1, sizeof *keys);
   plan = pushdown_plan_new(NULL, 0, 0, 0, store.capabilities);
   if (!keys || !plan) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   status =
      ctx->methods->query(ctx->session, &store.ns, pushdown_plan_query(plan), &cursor, &berror);
   if (status != FERRET_OK) {
      cursor = NULL;
      backend_error(ctx, status, &berror, error);
      goto done;
   }
   for (;;) {
      const uint8_t *data = NULL;
      size_t len = 0;
      bson_t doc;
      bson_iter_t id;
      bool good;

      status = ctx->methods->cursor_next(cursor, &data, &len, &berror);
      if (status != FERRET_OK) {
         backend_error(ctx, status, &berror, error);
         goto done;
      }
      if (!data) {
         break;
      }
      records++;
      good = len <= UINT32_MAX && bson_init_static(&doc, data, len) &&
             bson_validate(&doc,
                           check_bson || full ? BSON_VALIDATE_UTF8 | BSON_VALIDATE_UTF8_ALLOW_NULL
                                              : BSON_VALIDATE_NONE,
                           NULL) &&
             bson_iter_init_find(&id, &doc, "_id");
      if (!good) {
         invalid++;
         bson_uint32_to_string(corrupt_count++, &key_ptr, key, sizeof key);
         append_number(&corrupt, key_ptr, records);
         continue;
      }
      for (size_t i = 0; i < set.count; i++) {
         bson_t **doc_keys = NULL;
         size_t key_count = 0;
         fe_error_t key_error = {0};
         if (indexes_doc_keys(&set.items[i], &doc, &doc_keys, &key_count, &key_error)) {
            keys[i] += (int64_t) key_count;
         } else {
            bson_uint32_to_string(error_count++, &key_ptr, key, sizeof key);
            BSON_APPEND_UTF8(&errors, key_ptr, key_error.message);
         }
         generic_free_documents(doc_keys, key_count);
      }
   }
   BSON_APPEND_UTF8(ctx->reply, "ns", ns);
   append_number(ctx->reply, "nInvalidDocuments", invalid);
   append_number(ctx->reply, "nNonCompliantDocuments", 0);
   append_number(ctx->reply, "nrecords", records);
   append_number(ctx->reply, "nIndexes", (int64_t) set.count + 1);
   BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "keysPerIndex", &child);
   append_number(&child, "_id_", records - invalid);
   for (size_t i = 0; i < set.count; i++) {
      append_number(&child, set.items[i].name, keys[i]);
   }
   bson_append_document_end(ctx->reply, &child);
   BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "indexDetails", &child);
   BSON_APPEND_DOCUMENT_BEGIN(&child, "_id_", &detail);
   BSON_APPEND_BOOL(&detail, "valid", true);
   bson_append_document_end(&child, &detail);
   for (size_t i = 0; i < set.count; i++) {
      ferret_stats_t entries = {.struct_size = sizeof entries};
      bool index_valid = true;
      /* A unique index keeps one entry per key: any difference is a missing or extra entry. */
      if (set.items[i].entries) {
         if (!collection_stats(ctx, ctx->db, set.items[i].entries, &entries, error)) {
            bson_append_document_end(ctx->reply, &child);
            goto done;
         }
         if (entries.count != keys[i]) {
            char message[400];
            index_valid = false;
            snprintf(message, sizeof message,
                     "index '%s' has %lld entries but the documents have %lld keys",
                     set.items[i].name, (long long) entries.count, (long long) keys[i]);
            bson_uint32_to_string(error_count++, &key_ptr, key, sizeof key);
            BSON_APPEND_UTF8(&errors, key_ptr, message);
         }
      }
      BSON_APPEND_DOCUMENT_BEGIN(&child, set.items[i].name, &detail);
      BSON_APPEND_BOOL(&detail, "valid", index_valid);
      bson_append_document_end(&child, &detail);
   }
   bson_append_document_end(ctx->reply, &child);
   if (invalid > 0) {
      char message[200];
      snprintf(message, sizeof message, "Detected %lld invalid documents", (long long) invalid);
      bson_uint32_to_string(error_count++, &key_ptr, key, sizeof key);
      BSON_APPEND_UTF8(&errors, key_ptr, message);
   }
   BSON_APPEND_BOOL(ctx->reply, "valid", error_count == 0);
   BSON_APPEND_BOOL(ctx->reply, "repaired", false);
   BSON_APPEND_ARRAY_BEGIN(ctx->reply, "warnings", &child);
   bson_append_array_end(ctx->reply, &child);
   BSON_APPEND_ARRAY(ctx->reply, "errors", &errors);
   BSON_APPEND_ARRAY_BEGIN(ctx->reply, "extraIndexEntries", &child);
   bson_append_array_end(ctx->reply, &child);
   BSON_APPEND_ARRAY_BEGIN(ctx->reply, "missingIndexEntries", &child);
   bson_append_array_end(ctx->reply, &child);
   BSON_APPEND_ARRAY(ctx->reply, "corruptRecords", &corrupt);
   ok = true;

done:
   if (cursor) {
      ctx->methods->cursor_close(cursor);
   }
   pushdown_plan_destroy(plan);
   free(keys);
   indexes_set_destroy(&set);
   bson_destroy(&errors);
   bson_destroy(&corrupt);
   return ok;
}

/* An optional positive scale (collStats, dbStats); fractions are truncated, as in MongoDB. */
static bool
read_scale(const bson_t *doc, const char *field, int64_t *scale, fe_error_t *error)
{
   bson_iter_t iter;

   *scale = 1;
   if (!bson_iter_init_find(&iter, doc, field)) {
      return true;
   }
   if (!BSON_ITER_HOLDS_NUMBER(&iter)) {
      return error_set(error, FE_TypeMismatch, "'%s' must be a number", field);
   }
   if (bson_iter_as_double(&iter) < 1.0 || bson_iter_as_double(&iter) > (double) INT32_MAX) {
      return error_set(error, FE_Location51024, "%s has to be > 0", field);
   }
   *scale = bson_iter_as_int64(&iter);
   return true;
}

static bool
collection_exists(const fe_ctx_t *ctx, const char *db, const char *collection, bool *exists,
                  fe_error_t *error)
{
   name_list_t names = {0};
   *exists = false;
   if (!list_names(ctx, db, &names, error)) {
      return false;
   }
   for (size_t i = 0; i < names.count && !*exists; i++) {
      *exists = strcmp(names.names[i], collection) == 0;
   }
   name_list_free(&names);
   return true;
}

/* A capped collection needs its size, as MongoDB demands (the cap itself is not enforced). */
static bool
check_capped_options(const bson_t *options, fe_error_t *error)
{
   bson_iter_t iter;

   if (!bson_iter_init_find(&iter, options, "capped") || !bson_iter_as_bool(&iter)) {
      return true;
   }
   if (!bson_iter_init_find(&iter, options, "size")) {
      return error_set(error, FE_InvalidOptions,
                       "the 'size' field is required when 'capped' is true");
   }
   if (!BSON_ITER_HOLDS_NUMBER(&iter)) {
      return error_set(error, FE_TypeMismatch, "'size' must be a number");
   }
   if (bson_iter_as_double(&iter) < 0) {
      return error_set(error, FE_BadValue, "size has to be >= 0");
   }
   return true;
}

/* Sizes and counts as MongoDB appends them: an int when it fits, else a long (shells then print
 * 4096, not Long('4096')). */
static void
append_number(bson_t *out, const char *key, int64_t value)
{
   if (value >= INT32_MIN && value <= INT32_MAX) {
      BSON_APPEND_INT32(out, key, (int32_t) value);
   } else {
      BSON_APPEND_INT64(out, key, value);
   }
}

static int64_t
elapsed_millis(const struct timeval *start)
{
   struct timeval now;
   gettimeofday(&now, NULL);
   return (int64_t) (now.tv_sec - start->tv_sec) * 1000 +
          (int64_t) (now.tv_usec - start->tv_usec) / 1000;
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
   if (list->out_of_memory) {
      return error_set(error, FE_ExceededMemoryLimit, "out of memory listing collections");
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
   if (all.out_of_memory) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory listing collections");
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
         list->out_of_memory = true;
         return false;
      }
      list->names = bigger;
      list->capacity = grown;
   }
   list->names[list->count] = strdup(name);
   if (!list->names[list->count]) {
      list->out_of_memory = true;
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
