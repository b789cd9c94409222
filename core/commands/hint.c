/*
 * hint.c: the check of a `hint` against the collection's indexes, as mongod's planner makes
 * it (QueryPlanner::plan: "hint provided does not correspond to an existing index"). Queries
 * themselves still scan: non-unique indexes are metadata only (docs/rfc/0007-indexes.md).
 */
#include <string.h>

#include "backend/indexes.h"
#include "commands/hint.h"

#define ID_INDEX "_id_"

typedef struct find_name {
   const char *name;
   bool found;
} find_name_t;

static bool is_id_key(const bson_t *key);
static bool is_hidden(const fe_index_t *index);
static bool collection_exists(const fe_store_t *store, bool *exists, fe_error_t *error);
static bool name_fn(void *ctx, const char *name);

bool
hint_check(const fe_store_t *store, const bson_t *doc, bool upsert, fe_error_t *error)
{
   bson_iter_t iter;
   const char *name = NULL;
   bson_t key;
   fe_index_set_t set = {0};
   size_t matches = 0;
   bool exists = true;
   bool ok = false;

   if (!bson_iter_init_find(&iter, doc, "hint")) {
      return true;
   }
   if (BSON_ITER_HOLDS_UTF8(&iter)) {
      name = bson_iter_utf8(&iter, NULL);
      if (strcmp(name, ID_INDEX) == 0) {
         return true;
      }
   } else if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      const uint8_t *data;
      uint32_t len;
      bson_iter_t first;
      bson_iter_document(&iter, &len, &data);
      if (!bson_init_static(&key, data, len) || bson_empty(&key) || is_id_key(&key) ||
          (bson_iter_init(&first, &key) && bson_iter_next(&first) &&
           strcmp(bson_iter_key(&first), "$natural") == 0)) {
         return true;
      }
   } else {
      return error_set(error, FE_FailedToParse, "Hint must be a string or an object");
   }

   if (!indexes_load(store, false, &set, error)) {
      goto done;
   }
   for (size_t i = 0; i < set.count; i++) {
      const fe_index_t *index = &set.items[i];
      if (!is_hidden(index) &&
          (name ? strcmp(index->name, name) == 0 : indexes_same_key(&index->key, &key))) {
         matches++;
      }
   }
   if (matches > 1) {
      /* Only a key pattern can match twice (indexes differing in collation or options). */
      error_set(error, FE_BadValue, "Hint matched multiple indexes, must hint by index name");
      goto done;
   }
   if (matches == 0 && !upsert && !collection_exists(store, &exists, error)) {
      goto done;
   }
   if (matches == 0 && exists) {
      error_set(error, FE_BadValue,
                "error processing query: ns=%s.%s planner returned error :: caused by :: hint "
                "provided does not correspond to an existing index",
                store->ns.db, store->ns.collection);
      goto done;
   }
   ok = true;

done:
   indexes_set_destroy(&set);
   return ok;
}

/* {_id: 1}, the key of the index every collection has. */
static bool
is_id_key(const bson_t *key)
{
   bson_t id = BSON_INITIALIZER;
   bool same;
   BSON_APPEND_INT32(&id, "_id", 1);
   same = indexes_same_key(key, &id);
   bson_destroy(&id);
   return same;
}

/* A hidden index (collMod, createIndexes' hidden) is invisible to the planner. */
static bool
is_hidden(const fe_index_t *index)
{
   bson_iter_t iter;
   return bson_iter_init_find(&iter, &index->spec, "hidden") && bson_iter_as_bool(&iter);
}

static bool
collection_exists(const fe_store_t *store, bool *exists, fe_error_t *error)
{
   ferret_ns_t ns = {.db = store->ns.db, .collection = NULL};
   ferret_error_t berror = {0};
   find_name_t find = {store->ns.collection, false};
   ferret_status_t status =
      store->methods->list_collections(store->session, &ns, name_fn, &find, &berror);
   *exists = false;
   if (status != FERRET_OK) {
      return error_set_from_backend(error, store->backend_name, status, &berror);
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
