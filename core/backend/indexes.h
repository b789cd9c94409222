/*
 * indexes.h: secondary indexes, written once in the core for every backend
 * (docs/rfc/0007-indexes.md).
 *
 * Index metadata lives in a hidden collection per database (INDEXES_CATALOG). A unique index
 * keeps one hidden entries collection whose documents are {_id: <index key>, doc: <_id of the
 * document>}: because every backend enforces _id uniqueness, inserting an entry is the
 * uniqueness check. Non-unique indexes are metadata only; queries scan and filter in the core.
 *
 * The write functions here wrap generic_insert/replace/delete (backend/generic.h) and keep the
 * entries in step, inside a backend transaction where the backend has them.
 */
#ifndef FE_INDEXES_H
#define FE_INDEXES_H

#include <stdbool.h>
#include <stddef.h>

#include <bson/bson.h>

#include "backend/generic.h"
#include "bson/collation.h"
#include "bson/path.h"
#include "error/error.h"
#include "query/filter.h"

/* Every collection whose name starts with this belongs to the core and is hidden. */
#define INDEXES_HIDDEN_PREFIX "__ferret."
#define INDEXES_CATALOG "__ferret.indexes"

typedef struct fe_index {
   bson_oid_t id; /* the catalog document's _id */
   char *name;    /* owned */
   bson_t spec;   /* owned; as listIndexes shows it: {v, key, name, options...} */
   bson_t key;    /* owned; the key pattern */
   bool unique;
   bool sparse;
   fe_path_t *paths; /* owned; one per key field */
   size_t path_count;
   fe_filter_t *partial;    /* owned; the partialFilterExpression, or NULL */
   fe_collator_t *collator; /* owned; the index's collation, or NULL for simple */
   char *entries;           /* owned; the entries collection of a unique index, else NULL */
} fe_index_t;

/* What a worker remembers between commands: the collections known to have no index, each with
 * the catalog generation it was seen at. Every change to an index catalog bumps the server's
 * generation (after it commits), so a remembered answer is trusted only while nothing changed;
 * the common write to a collection without indexes then costs no catalog read. */
#define INDEXES_CACHE_SLOTS 64

typedef struct fe_index_cache {
   _Atomic uint64_t *generation; /* borrowed: the server's catalog generation */
   struct {
      char *ns; /* owned; "db\x1fcollection", or NULL */
      uint64_t generation;
   } slots[INDEXES_CACHE_SLOTS];
   size_t next; /* the slot to reuse next (round robin) */
} fe_index_cache_t;

void indexes_cache_destroy(fe_index_cache_t *cache);

/* The indexes of one collection, in creation order. */
typedef struct fe_index_set {
   fe_index_t *items; /* owned; count entries */
   size_t count;
   size_t unique_count;
} fe_index_set_t;

/* ---- pure parts (no backend) ---- */

/* True for the names of the core's hidden collections. */
bool indexes_is_hidden(const char *collection);

/* Checks one index specification of createIndexes as MongoDB does and writes the normalized
 * spec ({v: 2, key, name, then the options given}) to *out (caller storage, initialized even
 * on failure). A missing name is generated from the key ("a_1_b_-1"). Errors: 67
 * CannotCreateIndex, 197 InvalidIndexSpecificationOption, 2 BadValue, 14 TypeMismatch,
 * 238 NotImplemented (text, geo and wildcard indexes). */
bool indexes_normalize_spec(const bson_t *spec, bson_t *out, fe_error_t *error);

/* Checks an expireAfterSeconds value as mongod 7 and 8 do (every failure is 67
 * CannotCreateIndex): a number, not NaN, whose whole part is 0 to 2147483647, which is
 * *seconds (0 on failure). */
bool indexes_ttl_seconds(const bson_iter_t *iter, int32_t *seconds, fe_error_t *error);

/* Compiles a normalized spec into *index (caller storage; release with indexes_index_clear()
 * even on failure). entries (nullable, copied) names the entries collection. */
bool indexes_index_init(fe_index_t *index, const bson_t *spec, const char *entries,
                        fe_error_t *error);
void indexes_index_clear(fe_index_t *index);

/* The keys doc has in index, each a document {field: value, ...} in key order (strings replaced
 * by their collation keys when the index has a collation, so that a unique index treats the
 * strings its collation calls equal as duplicates): missing fields
 * are null, an array gives one key per element (an empty one, undefined), duplicates within
 * the document are removed. None when sparse and every key field is missing, or when the
 * partial filter does not match. *keys is an owned array of owned documents
 * (generic_free_documents()). Error 171 CannotIndexParallelArrays when two key fields are
 * arrays. */
bool indexes_doc_keys(const fe_index_t *index, const bson_t *doc, bson_t ***keys, size_t *count,
                      fe_error_t *error);

/* Two key patterns are the same index key ({a: 1} and {a: 1.0} are). */
bool indexes_same_key(const bson_t *a, const bson_t *b);

void indexes_set_destroy(fe_index_set_t *set);

/* ---- the catalog ---- */

/* Loads the indexes of store->ns (all of them, or only the unique ones). *set is caller
 * storage, initialized even on failure. */
bool indexes_load(const fe_store_t *store, bool unique_only, fe_index_set_t *set,
                  fe_error_t *error);

/* The catalog documents ({_id, coll, name, spec[, entries]}) of every TTL index (a spec with
 * expireAfterSeconds) in the database store->ns.db, in creation order; store->ns.collection is
 * ignored. The TTL monitor reads them on each pass. *docs is an owned array of owned documents
 * (generic_free_documents()); a database without indexes has none. */
bool indexes_catalog_ttl(const fe_store_t *store, bson_t ***docs, size_t *count, fe_error_t *error);

/* Adds an index (spec normalized and checked against the existing ones by the caller). A
 * unique index is built over the documents already stored; a duplicate among them fails with
 * 11000 and leaves nothing behind. */
bool indexes_create(const fe_store_t *store, const bson_t *spec, fe_error_t *error);

/* Removes one index: its catalog document and its entries. */
bool indexes_drop(const fe_store_t *store, const fe_index_t *index, fe_error_t *error);

/* Replaces the specification of index (collMod: hidden, expireAfterSeconds) with spec, whose
 * key and name must be the index's own; its entries stay as they are. Errors: 27 IndexNotFound
 * when the index went meanwhile, 112 WriteConflict when it changed meanwhile. */
bool indexes_update_spec(const fe_store_t *store, const fe_index_t *index, const bson_t *spec,
                         fe_error_t *error);

/* Removes every index of store->ns (the collection is being dropped). */
bool indexes_drop_all(const fe_store_t *store, fe_error_t *error);

/* Moves the indexes of from (a renamed collection) to to, across databases too. Indexes
 * to already had are dropped first (renameCollection with dropTarget). */
bool indexes_rename(const fe_store_t *from, const fe_store_t *to, fe_error_t *error);

/* ---- writes that keep the unique indexes in step ---- */

/* As generic_insert(). On a duplicate in a unique index, *duplicate_index is the failing
 * document and *dup (nullable, caller-initialized) receives {keyPattern, keyValue}. */
bool indexes_insert(const fe_store_t *store, const fe_index_set_t *set, const bson_t *const *docs,
                    size_t count, size_t *inserted, ptrdiff_t *duplicate_index, bson_t *dup,
                    fe_error_t *error);

/* As generic_replace(); a lost race (*replaced false) leaves the entries as they were. */
bool indexes_replace(const fe_store_t *store, const fe_index_set_t *set, const bson_t *old_doc,
                     const bson_t *new_doc, bool *replaced, bson_t *dup, fe_error_t *error);

/* As generic_delete(). */
bool indexes_delete(const fe_store_t *store, const fe_index_set_t *set, const bson_t *doc,
                    bool *deleted, fe_error_t *error);

#endif /* FE_INDEXES_H */
