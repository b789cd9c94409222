/*
 * views.c: the catalog of read-only views in a hidden collection per database, and each
 * worker's memory of it (docs/rfc/0008-views.md; interface in views.h).
 */
#include "backend/views.h"

#include <stdlib.h>
#include <string.h>

static bool load(const fe_store_t *store, fe_view_cache_t *cache, bson_t **views,
                 fe_error_t *error);
static bool read_catalog(const fe_store_t *store, bson_t *views, fe_error_t *error);
static void catalog_store(const fe_store_t *store, fe_store_t *out);
static void bump(fe_view_cache_t *cache);

void
views_cache_destroy(fe_view_cache_t *cache)
{
   for (size_t i = 0; i < VIEWS_CACHE_SLOTS; i++) {
      free(cache->slots[i].db);
      if (cache->slots[i].views) {
         bson_destroy(cache->slots[i].views);
      }
      cache->slots[i].db = NULL;
      cache->slots[i].views = NULL;
   }
}

bool
views_lookup(const fe_store_t *store, fe_view_cache_t *cache, const char *name, bson_t *definition,
             bool *found, fe_error_t *error)
{
   bson_t *views = NULL; /* borrowed from the cache, or owned when there is none */
   bson_iter_t iter;
   bool ok = false;

   bson_init(definition);
   *found = false;
   if (!load(store, cache, &views, error)) {
      goto done;
   }
   if (bson_iter_init_find(&iter, views, name) && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      const uint8_t *data;
      uint32_t len;
      bson_t stored;
      bson_iter_document(&iter, &len, &data);
      bson_init_static(&stored, data, len);
      bson_destroy(definition);
      bson_copy_to(&stored, definition);
      *found = true;
   }
   ok = true;

done:
   if (!cache && views) {
      bson_destroy(views);
   }
   return ok;
}

bool
views_all(const fe_store_t *store, fe_view_cache_t *cache, bson_t *out, fe_error_t *error)
{
   bson_t *views = NULL;
   bool ok;

   bson_init(out);
   ok = load(store, cache, &views, error);
   if (ok) {
      bson_destroy(out);
      bson_copy_to(views, out);
   }
   if (!cache && views) {
      bson_destroy(views);
   }
   return ok;
}

bool
views_insert(const fe_store_t *store, fe_view_cache_t *cache, const bson_t *definition,
             fe_error_t *error)
{
   fe_store_t catalog;
   const bson_t *docs[1] = {definition};
   size_t inserted = 0;
   ptrdiff_t duplicate = -1;
   bool ok;

   catalog_store(store, &catalog);
   ok = generic_insert(&catalog, docs, 1, &inserted, &duplicate, error);
   if (!ok && duplicate == 0) {
      bson_iter_t id;
      bson_iter_init_find(&id, definition, "_id");
      error_set(error, FE_NamespaceExists, "A view already exists. NS: %s.%s", store->ns.db,
                BSON_ITER_HOLDS_UTF8(&id) ? bson_iter_utf8(&id, NULL) : "?");
   }
   bump(cache);
   return ok;
}

bool
views_replace(const fe_store_t *store, fe_view_cache_t *cache, const bson_t *old_def,
              const bson_t *new_def, fe_error_t *error)
{
   fe_store_t catalog;
   bool replaced = false;
   bool ok;

   catalog_store(store, &catalog);
   ok = generic_replace(&catalog, old_def, new_def, &replaced, error);
   bump(cache);
   if (ok && !replaced) {
      return error_set(error, FE_WriteConflict, "the view changed meanwhile");
   }
   return ok;
}

bool
views_remove(const fe_store_t *store, fe_view_cache_t *cache, const bson_t *def, bool *removed,
             fe_error_t *error)
{
   fe_store_t catalog;
   bool ok;

   catalog_store(store, &catalog);
   *removed = false;
   ok = generic_delete(&catalog, def, removed, error);
   bump(cache);
   return ok;
}

bool
views_drop_all(const fe_store_t *store, fe_view_cache_t *cache, fe_error_t *error)
{
   fe_store_t catalog;
   ferret_error_t backend_error = {0};
   ferret_status_t status;

   catalog_store(store, &catalog);
   status = catalog.methods->drop_collection(catalog.session, &catalog.ns, &backend_error);
   bump(cache);
   if (status != FERRET_OK && status != FERRET_ERR_NAMESPACE_NOT_FOUND) {
      return error_set_from_backend(error, store->backend_name, status, &backend_error);
   }
   return true;
}

/* *views: the database's definitions, borrowed from the cache (valid until the next call with
 * it), or owned by the caller when cache is NULL. */
static bool
load(const fe_store_t *store, fe_view_cache_t *cache, bson_t **views, fe_error_t *error)
{
   uint64_t generation = 0;
   size_t slot = VIEWS_CACHE_SLOTS;
   bson_t *fresh = NULL;

   *views = NULL;
   if (cache && cache->generation) {
      /* Read before the catalog: a change stored meanwhile makes the answer stale at once. */
      generation = atomic_load(cache->generation);
      for (slot = 0; slot < VIEWS_CACHE_SLOTS; slot++) {
         if (cache->slots[slot].db && strcmp(cache->slots[slot].db, store->ns.db) == 0) {
            break;
         }
      }
      if (slot < VIEWS_CACHE_SLOTS && cache->slots[slot].generation == generation &&
          cache->slots[slot].views) {
         *views = cache->slots[slot].views;
         return true;
      }
   }
   fresh = bson_new();
   if (!read_catalog(store, fresh, error)) {
      bson_destroy(fresh);
      return false;
   }
   if (!cache || !cache->generation) {
      *views = fresh;
      return true;
   }
   if (slot == VIEWS_CACHE_SLOTS) {
      slot = cache->next;
      cache->next = (cache->next + 1) % VIEWS_CACHE_SLOTS;
      free(cache->slots[slot].db);
      cache->slots[slot].db = strdup(store->ns.db);
   }
   if (cache->slots[slot].views) {
      bson_destroy(cache->slots[slot].views);
   }
   cache->slots[slot].views = fresh;
   cache->slots[slot].generation = generation;
   if (!cache->slots[slot].db) {
      /* Out of memory for the name: answer, but remember nothing. */
      cache->slots[slot].views = NULL;
      bson_destroy(fresh);
      return error_set(error, FE_ExceededMemoryLimit, "out of memory");
   }
   *views = fresh;
   return true;
}

static bool
read_catalog(const fe_store_t *store, bson_t *views, fe_error_t *error)
{
   fe_store_t catalog;
   bson_t empty = BSON_INITIALIZER;
   fe_filter_t *all = NULL;
   bson_t **docs = NULL;
   size_t count = 0;
   bool ok = false;

   catalog_store(store, &catalog);
   if (!(all = filter_compile(&empty, error)) ||
       !generic_collect(&catalog, all, &empty, NULL, 0, &docs, &count, error)) {
      goto done;
   }
   for (size_t i = 0; i < count; i++) {
      bson_iter_t id;
      if (bson_iter_init_find(&id, docs[i], "_id") && BSON_ITER_HOLDS_UTF8(&id)) {
         BSON_APPEND_DOCUMENT(views, bson_iter_utf8(&id, NULL), docs[i]);
      }
   }
   ok = true;

done:
   generic_free_documents(docs, count);
   if (all) {
      filter_destroy(all);
   }
   bson_destroy(&empty);
   return ok;
}

static void
catalog_store(const fe_store_t *store, fe_store_t *out)
{
   *out = *store;
   out->ns.collection = VIEWS_CATALOG;
}

static void
bump(fe_view_cache_t *cache)
{
   if (cache && cache->generation) {
      atomic_fetch_add(cache->generation, 1);
   }
}
