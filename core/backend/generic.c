/*
 * generic.c: the shared write and read paths on top of the required backend methods.
 *
 * Updates are read-modify-write. Two workers updating one document must not lose either
 * change, so every replace and delete is a compare-and-swap on the bytes the core read; the
 * caller reloads and retries when it loses.
 */
#include "backend/generic.h"

#include <stdlib.h>
#include <string.h>

#include "backend/pushdown.h"
#include "bson/idkey.h"

static bool id_key_of(const bson_t *doc, uint8_t **key, size_t *len, fe_error_t *error);
static bool backend_failed(const fe_store_t *store, ferret_status_t status,
                           const ferret_error_t *backend_error, fe_error_t *error);
static bool append_owned(bson_t ***docs, size_t *count, size_t *capacity, bson_t *doc);

bool
generic_insert(const fe_store_t *store, const bson_t *const *docs, size_t count, size_t *inserted,
               ptrdiff_t *duplicate_index, fe_error_t *error)
{
   ferret_doc_t *batch = calloc(count ? count : 1, sizeof *batch);
   uint8_t **keys = calloc(count ? count : 1, sizeof *keys);
   ferret_error_t backend_error = {0};
   ferret_status_t status;
   bool ok = false;

   *inserted = 0;
   *duplicate_index = -1;
   if (!batch || !keys) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   for (size_t i = 0; i < count; i++) {
      size_t key_len;
      if (!id_key_of(docs[i], &keys[i], &key_len, error)) {
         goto done;
      }
      batch[i].bson = bson_get_data(docs[i]);
      batch[i].bson_len = docs[i]->len;
      batch[i].id_key = keys[i];
      batch[i].id_key_len = key_len;
   }
   status =
      store->methods->insert(store->session, &store->ns, batch, count, inserted, &backend_error);
   if (status == FERRET_ERR_DUPLICATE_KEY && *inserted < count) {
      *duplicate_index = (ptrdiff_t) *inserted;
      generic_duplicate_key_error(store, docs[*inserted], error);
      goto done;
   }
   if (status != FERRET_OK) {
      backend_failed(store, status, &backend_error, error);
      goto done;
   }
   ok = true;

done:
   for (size_t i = 0; keys && i < count; i++) {
      bson_free(keys[i]);
   }
   free(keys);
   free(batch);
   return ok;
}

bool
generic_replace(const fe_store_t *store, const bson_t *old_doc, const bson_t *new_doc,
                bool *replaced, fe_error_t *error)
{
   uint8_t *key = NULL;
   size_t key_len = 0;
   ferret_error_t backend_error = {0};
   ferret_status_t status;
   ferret_doc_t doc;
   bool ok = false;

   *replaced = false;
   if (!id_key_of(new_doc, &key, &key_len, error)) {
      goto done;
   }
   doc.bson = bson_get_data(new_doc);
   doc.bson_len = new_doc->len;
   doc.id_key = key;
   doc.id_key_len = key_len;
   status = store->methods->replace(store->session, &store->ns, bson_get_data(old_doc),
                                    old_doc->len, &doc, replaced, &backend_error);
   ok = status == FERRET_OK || backend_failed(store, status, &backend_error, error);

done:
   bson_free(key);
   return ok;
}

bool
generic_delete(const fe_store_t *store, const bson_t *doc, bool *deleted, fe_error_t *error)
{
   uint8_t *key = NULL;
   size_t key_len = 0;
   ferret_error_t backend_error = {0};
   ferret_status_t status;
   bool ok = false;

   *deleted = false;
   if (!id_key_of(doc, &key, &key_len, error)) {
      goto done;
   }
   status = store->methods->delete_one(store->session, &store->ns, key, key_len, bson_get_data(doc),
                                       doc->len, deleted, &backend_error);
   ok = status == FERRET_OK || backend_failed(store, status, &backend_error, error);

done:
   bson_free(key);
   return ok;
}

bool
generic_reload(const fe_store_t *store, const bson_t *doc, bson_t **current, fe_error_t *error)
{
   bson_t filter = BSON_INITIALIZER;
   bson_iter_t iter;
   bson_t **docs = NULL;
   size_t count = 0;
   fe_filter_t *compiled = NULL;
   bool ok = false;

   *current = NULL;
   if (!bson_iter_init_find(&iter, doc, "_id")) {
      error_set(error, FE_InternalError, "document has no _id");
      goto done;
   }
   bson_append_iter(&filter, "_id", 3, &iter);
   compiled = filter_compile(&filter, error);
   if (!compiled || !generic_collect(store, compiled, &filter, NULL, 1, &docs, &count, error)) {
      goto done;
   }
   if (count == 1) {
      *current = docs[0];
      docs[0] = NULL;
   }
   ok = true;

done:
   generic_free_documents(docs, count);
   if (compiled) {
      filter_destroy(compiled);
   }
   bson_destroy(&filter);
   return ok;
}

bool
generic_collect(const fe_store_t *store, const fe_filter_t *filter, const bson_t *filter_spec,
                const fe_sort_t *sort, size_t limit, bson_t ***docs, size_t *count,
                fe_error_t *error)
{
   fe_plan_t *plan = NULL;
   ferret_cursor_t *cursor = NULL;
   ferret_error_t backend_error = {0};
   ferret_status_t status;
   size_t capacity = 0;
   int natural = 0;
   bool ok = false;

   *docs = NULL;
   *count = 0;
   if (sort && !sort_is_natural(sort, &natural)) {
      natural = 0;
   }
   plan = pushdown_plan_new_collated(filter_spec, natural, 0, 0, store->capabilities,
                                     filter_collator(filter));
   if (!plan) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   status = store->methods->query(store->session, &store->ns, pushdown_plan_query(plan), &cursor,
                                  &backend_error);
   if (status != FERRET_OK) {
      cursor = NULL;
      backend_failed(store, status, &backend_error, error);
      goto done;
   }
   for (;;) {
      const uint8_t *data = NULL;
      size_t len = 0;
      bson_t stored;
      status = store->methods->cursor_next(cursor, &data, &len, &backend_error);
      if (status != FERRET_OK) {
         backend_failed(store, status, &backend_error, error);
         goto done;
      }
      if (!data) {
         break;
      }
      if (!bson_init_static(&stored, data, len)) {
         error_set(error, FE_InternalError, "backend returned a malformed document");
         goto done;
      }
      if (filter && !filter_match(filter, &stored, NULL)) {
         continue;
      }
      if (!append_owned(docs, count, &capacity, bson_copy(&stored))) {
         error_set(error, FE_ExceededMemoryLimit, "out of memory");
         goto done;
      }
      /* Without a sort the first matches are the answer; with one, every match competes. */
      if (limit && *count == limit &&
          (!sort || (natural != 0 && pushdown_plan_query(plan)->sort_applied))) {
         break;
      }
   }
   if (sort && *count > 1 && !natural) {
      sort_documents(sort, (const bson_t **) *docs, *count);
   }
   if (natural < 0 && !pushdown_plan_query(plan)->sort_applied) {
      for (size_t i = 0, j = *count; i + 1 < j; i++, j--) {
         bson_t *swap = (*docs)[i];
         (*docs)[i] = (*docs)[j - 1];
         (*docs)[j - 1] = swap;
      }
   }
   if (limit && *count > limit) {
      for (size_t i = limit; i < *count; i++) {
         bson_destroy((*docs)[i]);
      }
      *count = limit;
   }
   ok = true;

done:
   if (cursor) {
      store->methods->cursor_close(cursor);
   }
   pushdown_plan_destroy(plan);
   if (!ok) {
      generic_free_documents(*docs, *count);
      *docs = NULL;
      *count = 0;
   }
   return ok;
}

void
generic_free_documents(bson_t **docs, size_t count)
{
   for (size_t i = 0; docs && i < count; i++) {
      if (docs[i]) {
         bson_destroy(docs[i]);
      }
   }
   free(docs);
}

void
generic_duplicate_key_error(const fe_store_t *store, const bson_t *doc, fe_error_t *error)
{
   bson_iter_t iter;
   char *value = NULL;

   if (bson_iter_init_find(&iter, doc, "_id")) {
      bson_t wrapper = BSON_INITIALIZER;
      bson_append_iter(&wrapper, "_id", 3, &iter);
      value = bson_as_relaxed_extended_json(&wrapper, NULL);
      bson_destroy(&wrapper);
   }
   error_set(error, FE_DuplicateKey,
             "E11000 duplicate key error collection: %s.%s index: _id_ dup key: %s", store->ns.db,
             store->ns.collection, value ? value : "{}");
   bson_free(value);
}

static bool
id_key_of(const bson_t *doc, uint8_t **key, size_t *len, fe_error_t *error)
{
   bson_iter_t iter;
   *key = NULL;
   if (!bson_iter_init_find(&iter, doc, "_id")) {
      return error_set(error, FE_InternalError, "document has no _id");
   }
   if (!idkey_encode(&iter, key, len)) {
      return error_set(error, FE_InvalidIdField, "can't use a %s for _id",
                       BSON_ITER_HOLDS_ARRAY(&iter) ? "array" : "value of this type");
   }
   return true;
}

static bool
backend_failed(const fe_store_t *store, ferret_status_t status, const ferret_error_t *backend_error,
               fe_error_t *error)
{
   return error_set_from_backend(error, store->backend_name, status, backend_error);
}

static bool
append_owned(bson_t ***docs, size_t *count, size_t *capacity, bson_t *doc)
{
   if (!doc) {
      return false;
   }
   if (*count == *capacity) {
      size_t grown = *capacity ? *capacity * 2 : 16;
      bson_t **bigger = realloc(*docs, grown * sizeof *bigger);
      if (!bigger) {
         bson_destroy(doc);
         return false;
      }
      *docs = bigger;
      *capacity = grown;
   }
   (*docs)[(*count)++] = doc;
   return true;
}
