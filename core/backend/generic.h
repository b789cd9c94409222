/*
 * generic.h: the write and read paths every backend shares, written once in the core on top
 * of the required methods: batched inserts with _id keys, compare-and-swap replace and delete,
 * and scans that collect the documents a write will touch.
 */
#ifndef FE_GENERIC_H
#define FE_GENERIC_H

#include <stdbool.h>
#include <stddef.h>

#include <bson/bson.h>
#include <ferret/backend.h>

#include "error/error.h"
#include "query/filter.h"
#include "query/sort.h"

struct fe_index_cache;
struct fe_validator_cache;

/* A namespace on one backend session; everything borrowed for a command. */
typedef struct fe_store {
   const ferret_backend_methods_t *methods;
   ferret_session_t *session;
   uint64_t capabilities;
   const char *backend_name;
   ferret_ns_t ns;
   struct fe_index_cache *index_cache; /* borrowed; the worker's (backend/indexes.h), or NULL */
   struct fe_validator_cache *validator_cache; /* borrowed; the worker's (validators.h), or NULL */
   bool bypass_validation;                     /* the command's bypassDocumentValidation */
} fe_store_t;

/* Inserts docs in order (each must have an _id). *inserted counts the stored prefix. On a
 * duplicate _id, *duplicate_index is its index and the error is 11000 DuplicateKey with
 * MongoDB's message; other failures leave *duplicate_index at -1. */
bool generic_insert(const fe_store_t *store, const bson_t *const *docs, size_t count,
                    size_t *inserted, ptrdiff_t *duplicate_index, fe_error_t *error);

/* Replaces old with new (same _id) if old is still what is stored. */
bool generic_replace(const fe_store_t *store, const bson_t *old_doc, const bson_t *new_doc,
                     bool *replaced, fe_error_t *error);

/* Deletes doc if it is still what is stored. */
bool generic_delete(const fe_store_t *store, const bson_t *doc, bool *deleted, fe_error_t *error);

/* The stored document with the same _id as doc, or *current NULL when gone. *current is owned
 * by the caller (bson_destroy). */
bool generic_reload(const fe_store_t *store, const bson_t *doc, bson_t **current,
                    fe_error_t *error);

/*
 * Collects copies of the documents matching filter (compiled) / filter_spec (its source, for
 * pushdown), sorted by sort (nullable), at most limit of them (0: all). *docs is an owned
 * array of owned documents: generic_free_documents().
 */
bool generic_collect(const fe_store_t *store, const fe_filter_t *filter, const bson_t *filter_spec,
                     const fe_sort_t *sort, size_t limit, bson_t ***docs, size_t *count,
                     fe_error_t *error);

void generic_free_documents(bson_t **docs, size_t count);

/* MongoDB's E11000 message and keyValue for a duplicate _id. */
void generic_duplicate_key_error(const fe_store_t *store, const bson_t *doc, fe_error_t *error);

#endif /* FE_GENERIC_H */
