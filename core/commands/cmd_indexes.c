/*
 * cmd_indexes.c: createIndexes, dropIndexes and listIndexes (docs/rfc/0007-indexes.md).
 *
 * The catalog and the entries of unique indexes live in backend/indexes.c; this file checks
 * the commands as MongoDB does and shapes the replies.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/indexes.h"
#include "commands/args.h"
#include "commands/handlers.h"
#include "commands/textsearch.h"
#include "commands/write_ops.h"
#include "query/text.h"

#define ID_INDEX_NAME "_id_"
/* How often createIndexes retries one index build that lost a race (WriteConflict). */
#define CREATE_ATTEMPTS 8

static bool collection_exists(const fe_ctx_t *ctx, const char *collection, bool *exists,
                              fe_error_t *error);
static bool name_fn(void *ctx, const char *name);
static void spec_options(const bson_t *spec, bson_t *out);
static bool same_options(const bson_t *a, const bson_t *b);
static bool is_id_key(const bson_t *key);
static void spec_key(const bson_t *spec, bson_t *key);
static const char *spec_name(const bson_t *spec);
static bool check_against(const fe_index_set_t *set, const bson_t *spec, bool *exists,
                          fe_error_t *error);
static const fe_index_t *find_by_name(const fe_index_set_t *set, const char *name);
static const fe_index_t *find_by_key(const fe_index_set_t *set, const bson_t *key);
static void append_id_index(bson_t *doc);
static void inherit_collation(const bson_t *spec, const fe_collator_t *collator,
                              bson_t *normalized);

typedef struct find_name {
   const char *name;
   bool found;
} find_name_t;

bool
cmd_create_indexes(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *collection;
   fe_store_t store;
   bson_t specs;
   bool has_specs = false;
   bson_iter_t iter;
   bson_t *normalized = NULL;
   size_t count = 0;
   fe_index_set_t set = {0};
   bool exists = false;
   bool created_collection = false;
   int64_t before;
   size_t created = 0;
   fe_collator_t *collection_collator = NULL; /* owned; the collection's default, or NULL */
   bool ok = false;

   if (!args_collection(ctx, &collection, error) ||
       !args_array(ctx->command, "indexes", &specs, &has_specs, error)) {
      goto done;
   }
   if (!has_specs) {
      error_set(error, 40414, "BSON field 'createIndexes.indexes' is missing but a required field");
      goto done;
   }
   count = bson_count_keys(&specs);
   if (count == 0) {
      error_set(error, FE_BadValue, "Must specify at least one index.");
      goto done;
   }
   /* bson_t demands 128-byte alignment, more than calloc promises. */
   normalized = aligned_alloc(BSON_ALIGNOF(bson_t), count * sizeof *normalized);
   if (!normalized) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   for (size_t i = 0; i < count; i++) {
      bson_init(&normalized[i]);
   }
   /* Every specification is checked before any index is built, as MongoDB does. */
   bson_iter_init(&iter, &specs);
   for (size_t i = 0; bson_iter_next(&iter) && i < count; i++) {
      const uint8_t *data;
      uint32_t len;
      bson_t spec;
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         error_set(error, FE_TypeMismatch, "The elements of the 'indexes' array must be objects");
         goto done;
      }
      bson_iter_document(&iter, &len, &data);
      bson_destroy(&normalized[i]);
      if (!bson_init_static(&spec, data, len) ||
          !indexes_normalize_spec(&spec, &normalized[i], error)) {
         goto done;
      }
   }
   if (!collection_exists(ctx, collection, &exists, error)) {
      goto done;
   }
   write_ops_store(ctx, collection, &store);
   if (!exists) {
      ferret_error_t berror = {0};
      ferret_status_t status =
         ctx->methods->create_collection(ctx->session, &store.ns, NULL, 0, &berror);
      if (status != FERRET_OK && status != FERRET_ERR_NAMESPACE_EXISTS) {
         error_set_from_backend(error, ctx->server->backend_name, status, &berror);
         goto done;
      }
      created_collection = status == FERRET_OK;
   }
   /* An index without a collation takes the collection's default, as mongod's
    * addCollationDefaultsToIndexSpecsForCreate() does. */
   if (!args_resolve_collation(NULL, &store, &collection_collator, error)) {
      goto done;
   }
   if (collection_collator) {
      bson_iter_init(&iter, &specs);
      for (size_t i = 0; bson_iter_next(&iter) && i < count; i++) {
         const uint8_t *data;
         uint32_t len;
         bson_t spec;
         bson_iter_document(&iter, &len, &data);
         if (bson_init_static(&spec, data, len)) {
            inherit_collation(&spec, collection_collator, &normalized[i]);
         }
      }
   }
   if (!indexes_load(&store, false, &set, error)) {
      goto done;
   }
   before = 1 + (int64_t) set.count;
   for (size_t i = 0; i < count; i++) {
      bool already = false;
      if (!textsearch_check_create(&set, &normalized[i], error) ||
          !check_against(&set, &normalized[i], &already, error)) {
         goto done;
      }
      if (already) {
         continue;
      }
      /* Builds racing on one database (an ODM creating every model's indexes at once) can
       * collide where the backend creates the catalog, or on the catalog's rows: a write
       * conflict, after which the build is checked again and retried. */
      for (int attempt = 1; !indexes_create(&store, &normalized[i], error); attempt++) {
         if (!error || error->code != FE_WriteConflict || attempt >= CREATE_ATTEMPTS) {
            goto done;
         }
         memset(error, 0, sizeof *error);
         indexes_set_destroy(&set);
         if (!indexes_load(&store, false, &set, error) ||
             !check_against(&set, &normalized[i], &already, error)) {
            goto done;
         }
         if (already) {
            break;
         }
      }
      if (already) {
         continue;
      }
      created++;
      /* Later specifications of this command are checked against this one too. */
      indexes_set_destroy(&set);
      if (!indexes_load(&store, false, &set, error)) {
         goto done;
      }
   }
   BSON_APPEND_INT32(ctx->reply, "numIndexesBefore", (int32_t) before);
   BSON_APPEND_INT32(ctx->reply, "numIndexesAfter", (int32_t) (1 + set.count));
   BSON_APPEND_BOOL(ctx->reply, "createdCollectionAutomatically", created_collection);
   if (created == 0) {
      BSON_APPEND_UTF8(ctx->reply, "note", "all indexes already exist");
   }
   ok = true;

done:
   for (size_t i = 0; normalized && i < count; i++) {
      bson_destroy(&normalized[i]);
   }
   free(normalized);
   indexes_set_destroy(&set);
   collation_destroy(collection_collator);
   return ok;
}

bool
cmd_drop_indexes(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *collection;
   fe_store_t store;
   fe_index_set_t set = {0};
   const fe_index_t **victims = NULL;
   size_t victim_count = 0;
   bson_iter_t iter;
   bool exists = false;
   bool ok = false;

   if (!args_collection(ctx, &collection, error) ||
       !collection_exists(ctx, collection, &exists, error)) {
      goto done;
   }
   if (!exists) {
      error_set(error, FE_NamespaceNotFound, "ns not found %s.%s", ctx->db, collection);
      goto done;
   }
   if (!bson_iter_init_find(&iter, ctx->command, "index")) {
      error_set(error, 40414, "BSON field 'dropIndexes.index' is missing but a required field");
      goto done;
   }
   write_ops_store(ctx, collection, &store);
   if (!indexes_load(&store, false, &set, error)) {
      goto done;
   }
   victims = calloc(set.count ? set.count : 1, sizeof *victims);
   if (!victims) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   if (BSON_ITER_HOLDS_UTF8(&iter) && strcmp(bson_iter_utf8(&iter, NULL), "*") == 0) {
      for (size_t i = 0; i < set.count; i++) {
         victims[victim_count++] = &set.items[i];
      }
   } else if (BSON_ITER_HOLDS_UTF8(&iter)) {
      const char *name = bson_iter_utf8(&iter, NULL);
      const fe_index_t *index = find_by_name(&set, name);
      if (strcmp(name, ID_INDEX_NAME) == 0) {
         error_set(error, FE_InvalidOptions, "cannot drop _id index");
         goto done;
      }
      if (!index) {
         error_set(error, FE_IndexNotFound, "index not found with name [%s]", name);
         goto done;
      }
      victims[victim_count++] = index;
   } else if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      const uint8_t *data;
      uint32_t len;
      bson_t key;
      const fe_index_t *index;
      bson_iter_document(&iter, &len, &data);
      if (!bson_init_static(&key, data, len)) {
         error_set(error, FE_BadValue, "malformed index key");
         goto done;
      }
      if (is_id_key(&key)) {
         error_set(error, FE_InvalidOptions, "cannot drop _id index");
         goto done;
      }
      index = find_by_key(&set, &key);
      if (!index) {
         char *json = bson_as_relaxed_extended_json(&key, NULL);
         error_set(error, FE_IndexNotFound, "can't find index with key: %s", json ? json : "{}");
         bson_free(json);
         goto done;
      }
      victims[victim_count++] = index;
   } else if (BSON_ITER_HOLDS_ARRAY(&iter)) {
      bson_iter_t names;
      bson_iter_recurse(&iter, &names);
      while (bson_iter_next(&names)) {
         const char *name;
         const fe_index_t *index;
         bool listed = false;
         if (!BSON_ITER_HOLDS_UTF8(&names)) {
            error_set(error, FE_TypeMismatch, "dropIndexes 'index' array must contain strings");
            goto done;
         }
         name = bson_iter_utf8(&names, NULL);
         if (strcmp(name, ID_INDEX_NAME) == 0) {
            error_set(error, FE_InvalidOptions, "cannot drop _id index");
            goto done;
         }
         index = find_by_name(&set, name);
         if (!index) {
            error_set(error, FE_IndexNotFound, "index not found with name [%s]", name);
            goto done;
         }
         for (size_t i = 0; i < victim_count; i++) {
            listed = listed || victims[i] == index;
         }
         if (!listed && victim_count < set.count) {
            victims[victim_count++] = index;
         }
      }
   } else {
      error_set(error, FE_TypeMismatch,
                "BSON field 'dropIndexes.index' is the wrong type, expected a string, an array "
                "of strings or an object");
      goto done;
   }
   for (size_t i = 0; i < victim_count; i++) {
      if (!indexes_drop(&store, victims[i], error)) {
         goto done;
      }
   }
   BSON_APPEND_INT32(ctx->reply, "nIndexesWas", (int32_t) (1 + set.count));
   ok = true;

done:
   free(victims);
   indexes_set_destroy(&set);
   return ok;
}

bool
cmd_list_indexes(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *collection;
   fe_store_t store;
   fe_index_set_t set = {0};
   fe_cursor_t *cursor = NULL;
   bson_t **docs = NULL;
   size_t count = 0;
   bson_t cursor_options;
   int64_t batch_size = ARGS_DEFAULT_BATCH_SIZE;
   bool exists = false;
   bool ok = false;

   if (!args_collection(ctx, &collection, error) ||
       !args_document(ctx->command, "cursor", &cursor_options, NULL, error) ||
       !args_int64(&cursor_options, "batchSize", &batch_size, error) ||
       !collection_exists(ctx, collection, &exists, error)) {
      goto done;
   }
   if (!exists) {
      error_set(error, FE_NamespaceNotFound, "ns does not exist: %s.%s", ctx->db, collection);
      goto done;
   }
   write_ops_store(ctx, collection, &store);
   if (!indexes_load(&store, false, &set, error)) {
      goto done;
   }
   docs = calloc(set.count + 1, sizeof *docs);
   cursor = cursor_new(ctx->db, collection);
   if (!docs || !cursor) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   docs[count] = bson_new();
   append_id_index(docs[count++]);
   for (size_t i = 0; i < set.count; i++) {
      docs[count++] = bson_copy(&set.items[i].spec);
   }
   cursor_set_documents(cursor, docs, count);
   docs = NULL;
   count = 0;
   ok = args_reply_first_batch(ctx, cursor, batch_size, false, error);
   cursor = NULL;

done:
   generic_free_documents(docs, count);
   cursor_destroy(cursor);
   indexes_set_destroy(&set);
   return ok;
}

/* Whether spec is already there (*exists), or conflicts with an index that is. */
static bool
check_against(const fe_index_set_t *set, const bson_t *spec, bool *exists, fe_error_t *error)
{
   bson_t key;
   const char *name = spec_name(spec);
   const fe_index_t *same_name;
   const fe_index_t *same_key;

   *exists = false;
   spec_key(spec, &key);
   if (is_id_key(&key) || strcmp(name, ID_INDEX_NAME) == 0) {
      bson_t options;
      bool plain;
      spec_options(spec, &options);
      plain = bson_empty(&options);
      bson_destroy(&options);
      if (!is_id_key(&key) || (strcmp(name, ID_INDEX_NAME) != 0 && strcmp(name, "_id_1") != 0)) {
         bson_destroy(&key);
         return error_set(error, FE_BadValue,
                          "The index name '_id_' is reserved for the _id index, which must "
                          "have key {_id: 1}");
      }
      bson_destroy(&key);
      if (!plain) {
         return error_set(error, FE_InvalidIndexSpecificationOption,
                          "The _id index takes no options");
      }
      *exists = true;
      return true;
   }
   same_name = find_by_name(set, name);
   same_key = find_by_key(set, &key);
   bson_destroy(&key);
   if (same_name) {
      bson_t requested;
      bool key_equal;
      spec_key(spec, &requested);
      key_equal = indexes_same_key(&same_name->key, &requested);
      bson_destroy(&requested);
      if (!key_equal) {
         char *want = bson_as_relaxed_extended_json(spec, NULL);
         char *have = bson_as_relaxed_extended_json(&same_name->spec, NULL);
         error_set(error, FE_IndexKeySpecsConflict,
                   "An existing index has the same name as the requested index. When index "
                   "names are not specified, they are auto generated and can cause conflicts. "
                   "Please refer to our documentation. Requested index: %s, existing index: %s",
                   want ? want : "{}", have ? have : "{}");
         bson_free(want);
         bson_free(have);
         return false;
      }
      if (!same_options(&same_name->spec, spec)) {
         return error_set(error, FE_IndexOptionsConflict,
                          "Index with name: %s already exists with different options", name);
      }
      *exists = true;
      return true;
   }
   if (same_key) {
      return error_set(error, FE_IndexOptionsConflict,
                       "Index already exists with a different name: %s", same_key->name);
   }
   return true;
}

static const fe_index_t *
find_by_name(const fe_index_set_t *set, const char *name)
{
   for (size_t i = 0; i < set->count; i++) {
      if (strcmp(set->items[i].name, name) == 0) {
         return &set->items[i];
      }
   }
   return NULL;
}

static const fe_index_t *
find_by_key(const fe_index_set_t *set, const bson_t *key)
{
   for (size_t i = 0; i < set->count; i++) {
      if (indexes_same_key(&set->items[i].key, key)) {
         return &set->items[i];
      }
   }
   return NULL;
}

/* The options of a normalized spec: everything but v, key and name. */
static void
spec_options(const bson_t *spec, bson_t *out)
{
   bson_iter_t iter;
   bson_init(out);
   if (bson_iter_init(&iter, spec)) {
      while (bson_iter_next(&iter)) {
         const char *field = bson_iter_key(&iter);
         if (strcmp(field, "v") != 0 && strcmp(field, "key") != 0 && strcmp(field, "name") != 0) {
            bson_append_iter(out, field, -1, &iter);
         }
      }
   }
}

static bool
same_options(const bson_t *a, const bson_t *b)
{
   bson_t oa, ob;
   bool same;
   spec_options(a, &oa);
   spec_options(b, &ob);
   same = oa.len == ob.len && memcmp(bson_get_data(&oa), bson_get_data(&ob), oa.len) == 0;
   bson_destroy(&oa);
   bson_destroy(&ob);
   return same;
}

static bool
is_id_key(const bson_t *key)
{
   bson_iter_t iter;
   return bson_count_keys(key) == 1 && bson_iter_init_find(&iter, key, "_id") &&
          BSON_ITER_HOLDS_NUMBER(&iter) && bson_iter_as_double(&iter) > 0;
}

static void
spec_key(const bson_t *spec, bson_t *key)
{
   bson_iter_t iter;
   bson_init(key);
   if (bson_iter_init_find(&iter, spec, "key") && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      const uint8_t *data;
      uint32_t len;
      bson_t view;
      bson_iter_document(&iter, &len, &data);
      if (bson_init_static(&view, data, len)) {
         bson_destroy(key);
         bson_copy_to(&view, key);
      }
   }
}

static const char *
spec_name(const bson_t *spec)
{
   bson_iter_t iter;
   if (bson_iter_init_find(&iter, spec, "name") && BSON_ITER_HOLDS_UTF8(&iter)) {
      return bson_iter_utf8(&iter, NULL);
   }
   return "";
}

static void
append_id_index(bson_t *doc)
{
   bson_t key;
   BSON_APPEND_INT32(doc, "v", 2);
   BSON_APPEND_DOCUMENT_BEGIN(doc, "key", &key);
   BSON_APPEND_INT32(&key, "_id", 1);
   bson_append_document_end(doc, &key);
   BSON_APPEND_UTF8(doc, "name", ID_INDEX_NAME);
}

static bool
collection_exists(const fe_ctx_t *ctx, const char *collection, bool *exists, fe_error_t *error)
{
   ferret_ns_t ns = {.db = ctx->db, .collection = NULL};
   ferret_error_t berror = {0};
   find_name_t find = {collection, false};
   ferret_status_t status =
      ctx->methods->list_collections(ctx->session, &ns, name_fn, &find, &berror);
   *exists = false;
   if (status != FERRET_OK) {
      return error_set_from_backend(error, ctx->server->backend_name, status, &berror);
   }
   *exists = find.found;
   return true;
}

static bool
name_fn(void *ctx, const char *name)
{
   find_name_t *find = ctx;
   if (strcmp(find->name, name) == 0) {
      find->found = true;
      return false;
   }
   return true;
}

/* Adds collator's specification to normalized (an index specification as
 * indexes_normalize_spec() made it from spec) when spec names no collation: {locale: "simple"}
 * keeps an index binary. Text indexes compare words, never under a collation, and keep none;
 * the _id index is implicit (check_against() takes {_id: 1} as it). */
static void
inherit_collation(const bson_t *spec, const fe_collator_t *collator, bson_t *normalized)
{
   bson_t full;
   bson_t key;
   bool id_key;

   if (bson_has_field(spec, "collation") || text_spec_is_text(spec)) {
      return;
   }
   spec_key(normalized, &key);
   id_key = is_id_key(&key);
   bson_destroy(&key);
   if (id_key) {
      return;
   }
   BSON_APPEND_DOCUMENT_BEGIN(normalized, "collation", &full);
   collation_append_spec(collator, &full);
   bson_append_document_end(normalized, &full);
}
