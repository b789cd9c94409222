/*
 * validators.h: schema validation (https://www.mongodb.com/docs/manual/core/schema-validation/):
 * a collection's validator, validationLevel and validationAction, checked on every insert,
 * update, upsert and findAndModify written through a store with a validator cache.
 *
 * The options are stored by the backend as `create` gave them; a later `collMod` keeps the new
 * values of the three options in a hidden collection per database (VALIDATORS_CATALOG, one
 * document {_id: collection, validator, validationLevel, validationAction}), which overrides
 * them. Each worker caches the compiled validator of the collections it writes, keyed by the
 * server's validator generation, which every create, collMod, drop, rename and dropDatabase
 * bumps (after the change), so a write reads the options only after something changed. The
 * same cache holds each collection's default collation, which every command reads.
 */
#ifndef FE_VALIDATORS_H
#define FE_VALIDATORS_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "backend/generic.h"
#include "error/error.h"
#include "query/filter.h"

#define VALIDATORS_CATALOG "__ferret.validators"
#define VALIDATORS_CACHE_SLOTS 32

typedef enum validators_level {
   VALIDATORS_STRICT,
   VALIDATORS_MODERATE,
   VALIDATORS_OFF,
} validators_level_t;

/* A collection's compiled validator. */
typedef struct fe_validator {
   fe_filter_t *filter; /* owned; the validator query */
   validators_level_t level;
   bool warn; /* validationAction "warn": log and accept */
} fe_validator_t;

typedef struct fe_validator_cache {
   _Atomic uint64_t *generation; /* borrowed: the server's validator generation */
   struct {
      char *ns; /* owned; "db\x1fcollection", or NULL */
      uint64_t generation;
      fe_validator_t *validator; /* owned; NULL: the collection has none */
      bson_t *collation;         /* owned; the default collation of create, or NULL */
   } slots[VALIDATORS_CACHE_SLOTS];
   size_t next; /* the slot to reuse next (round robin) */
} fe_validator_cache_t;

void validators_cache_destroy(fe_validator_cache_t *cache);

/* Tells every worker that some collection's validation options changed: call after the change
 * is written (create, collMod, drop, renameCollection, dropDatabase). cache nullable. */
void validators_cache_bump(fe_validator_cache_t *cache);

/* Checks create's validator, validationLevel and validationAction options (options: the
 * collection options of create) as mongod does: the validator must compile as a query (its
 * own error), without $near, $nearSphere, $geoNear, $text or $where (224
 * QueryFeatureNotAllowed); the level is off/strict/moderate and the action error/warn (2
 * BadValue); wrong types are 14 TypeMismatch. */
bool validators_check_options(const bson_t *options, fe_error_t *error);

/* The collection's options as listCollections shows them: the backend's, with the validation
 * options collMod changed replaced. *options is caller storage (initialized by the caller); a
 * missing collection leaves it as it is and sets *exists (nullable) to false. */
bool validators_collection_options(const fe_store_t *store, bson_t *options, bool *exists,
                                   fe_error_t *error);

/* Writes new validation options for store->ns (collMod): validator, level and action (each
 * nullable: unchanged), over the current effective ones; bumps the generation. */
bool validators_set(const fe_store_t *store, const bson_t *validator, const char *level,
                    const char *action, fe_error_t *error);

/* Forgets store->ns's stored changes (drop), or moves them to `to` (renameCollection). Both
 * bump the generation. */
bool validators_forget(const fe_store_t *store, fe_error_t *error);
bool validators_rename(const fe_store_t *from, const fe_store_t *to, fe_error_t *error);

/* The validator for writes through store: *validator is NULL when the collection has none,
 * when its level is off, when the write bypasses validation (store->bypass_validation), for
 * stores without a cache and for the hidden collections. Borrowed from the worker's cache:
 * valid until the next validators_get() on that worker. */
bool validators_get(const fe_store_t *store, const fe_validator_t **validator, fe_error_t *error);

/* The collection's default collation (the `collation` option of create) from the same cache, so
 * that commands without a collation do not read the options each time: *collation is NULL when
 * it has none, borrowed until the next call on that worker. *cached is false for stores without
 * a cache, whose caller reads the options itself. */
bool validators_default_collation(const fe_store_t *store, const bson_t **collation, bool *cached,
                                  fe_error_t *error);

/* Checks new_doc (the document a write would store) against validator (nullable: true).
 * old_doc is the document an update replaces (NULL for inserts and upserts): under the
 * moderate level an update of a document that did not match is not checked. On failure returns
 * false with 121 DocumentValidationFailure "Document failed validation" and appends
 * {errInfo: {failingDocumentId, details}} to info (caller-initialized); with action warn it
 * logs the failure and returns true. */
bool validators_check(const fe_validator_t *validator, const bson_t *old_doc, const bson_t *new_doc,
                      bson_t *info, fe_error_t *error);

#endif /* FE_VALIDATORS_H */
