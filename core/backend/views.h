/*
 * views.h: the catalog of read-only views, kept by the core for every backend
 * (docs/rfc/0008-views.md).
 *
 * Each database keeps its view definitions in the hidden collection VIEWS_CATALOG, one document
 * per view: {_id: "<view name>", viewOn: "<source>", pipeline: [...][, collation: {...}]}. A
 * worker remembers each database's definitions with the server's view generation, which every
 * change (the write functions below) bumps once it is stored, so the common case (a database
 * without views) costs one catalog read per database and generation.
 */
#ifndef FE_VIEWS_H
#define FE_VIEWS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "backend/generic.h"
#include "error/error.h"

#define VIEWS_CATALOG "__ferret.views"
#define VIEWS_CACHE_SLOTS 16

typedef struct fe_view_cache {
   _Atomic uint64_t *generation; /* borrowed: the server's view generation */
   struct {
      char *db;      /* owned, or NULL for a free slot */
      bson_t *views; /* owned; {<name>: <catalog document>, ...} */
      uint64_t generation;
   } slots[VIEWS_CACHE_SLOTS];
   size_t next; /* the slot to reuse next (round robin) */
} fe_view_cache_t;

void views_cache_destroy(fe_view_cache_t *cache);

/* Copies the catalog document of view name in store->ns.db into *definition (caller storage,
 * initialized even on failure; bson_destroy() it) and sets *found; store->ns.collection is
 * ignored. cache (nullable) is the worker's. */
bool views_lookup(const fe_store_t *store, fe_view_cache_t *cache, const char *name,
                  bson_t *definition, bool *found, fe_error_t *error);

/* Copies every view of store->ns.db into *views (caller storage, initialized even on failure):
 * {<name>: <catalog document>, ...}. */
bool views_all(const fe_store_t *store, fe_view_cache_t *cache, bson_t *views, fe_error_t *error);

/* Stores a new definition ({_id: name, viewOn, pipeline[, collation]}) in store->ns.db. A view
 * of that name already stored is 48 NamespaceExists. */
bool views_insert(const fe_store_t *store, fe_view_cache_t *cache, const bson_t *definition,
                  fe_error_t *error);

/* Replaces the stored definition old_def with new_def (same _id); 112 WriteConflict when it
 * changed meanwhile. */
bool views_replace(const fe_store_t *store, fe_view_cache_t *cache, const bson_t *old_def,
                   const bson_t *new_def, fe_error_t *error);

/* Removes the stored definition def (as views_lookup() returned it); *removed false when it
 * was already gone. */
bool views_remove(const fe_store_t *store, fe_view_cache_t *cache, const bson_t *def, bool *removed,
                  fe_error_t *error);

/* Removes every view of store->ns.db (dropDatabase). */
bool views_drop_all(const fe_store_t *store, fe_view_cache_t *cache, fe_error_t *error);

#endif /* FE_VIEWS_H */
