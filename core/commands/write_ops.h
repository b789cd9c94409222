/*
 * write_ops.h: the single-statement write algorithms the write commands share: preparing a
 * document for insertion, one update statement (with upsert), one delete statement.
 */
#ifndef FE_WRITE_OPS_H
#define FE_WRITE_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "backend/generic.h"
#include "backend/indexes.h"
#include "commands/dispatch.h"

/* The store for the command's namespace on the worker's session. */
void write_ops_store(const fe_ctx_t *ctx, const char *collection, fe_store_t *store);

/* Makes the document to insert: _id first, generated (ObjectId) when missing; checks the _id
 * type and the size limit. *out is caller storage, initialized even on failure. */
bool write_ops_prepare_insert(const bson_t *doc, bson_t *out, fe_error_t *error);

typedef struct fe_update_statement {
   const bson_t *filter; /* borrowed */
   const bson_t *update; /* borrowed: document, or the pipeline array */
   bool update_is_pipeline;
   const bson_t *array_filters; /* borrowed; NULL for none */
   const bson_t *sort;          /* borrowed; NULL for none: the first match in sort order */
   const bson_t *let;           /* borrowed; variables for $expr and pipelines, or NULL */
   const bson_t *collation;     /* borrowed; the statement's, or NULL: the collection's */
   bool multi;
   bool upsert;
   bool want_documents; /* keep the document before and after (findAndModify) */
} fe_update_statement_t;

typedef struct fe_update_result {
   int64_t matched;
   int64_t modified;
   bool upserted;
   bson_t upserted_id; /* {"_id": value} when upserted */
   bson_t *before;     /* owned; the matched document, when want_documents */
   bson_t *after;      /* owned; the document as written, when want_documents */
   bson_t *duplicate;  /* owned or NULL; {keyPattern, keyValue} of a unique-index violation */
} fe_update_result_t;

/* Inserts prepared documents (write_ops_prepare_insert()) as generic_insert() does, keeping
 * the collection's unique indexes in step: every insert outside cmd_insert (upserts, $out,
 * $merge) must come through here or through indexes_insert(). *duplicate (nullable,
 * caller-initialized) receives {keyPattern, keyValue} of a unique-index violation. */
bool write_ops_insert(const fe_store_t *store, const bson_t *const *docs, size_t count,
                      size_t *inserted, ptrdiff_t *duplicate_index, bson_t *duplicate,
                      fe_error_t *error);

/* The field names of an update statement: the update command's (q, u, c) or bulkWrite's
 * (filter, updateMods, constants). what prefixes the field in messages ("update.updates"). */
typedef struct fe_update_names {
   const char *what;
   const char *filter;
   const char *update;
   const char *constants;
} fe_update_names_t;

/* One parsed update statement. Its views borrow the statement document they were parsed
 * from; let is owned. Release with write_ops_parse_destroy(). */
typedef struct fe_update_parse {
   fe_update_statement_t statement; /* borrows the fields below */
   bson_t filter;                   /* static view into the statement */
   bson_t update;                   /* static view: document or pipeline array */
   bson_t array_filters;            /* static view */
   bson_t sort;                     /* static view; empty for none */
   bson_t let;                      /* owned: the command's let merged with the constants */
   bson_t collation;                /* static view; empty for none */
} fe_update_parse_t;

/* Parses an update statement's filter, update, arrayFilters, multi, upsert, sort (8.0: only
 * when !multi), constants and collation (checked when the statement runs); let (nullable) is
 * the command's. *parse is caller storage, initialized even on failure. Errors: 40414 for a
 * missing field, 14/9 for a wrong type, 72 for sort with multi. */
bool write_ops_parse_update(const bson_t *item, const fe_update_names_t *names, const bson_t *let,
                            fe_update_parse_t *parse, fe_error_t *error);

void write_ops_parse_destroy(fe_update_parse_t *parse);

/* What became of document position of a run: error is NULL when it was inserted; on a
 * duplicate key, duplicate (nullable) holds {keyPattern, keyValue} of a secondary index. */
typedef void (*fe_insert_outcome_fn)(void *arg, size_t position, const fe_error_t *error,
                                     const bson_t *doc, const bson_t *duplicate);

/* Inserts docs[0..count) (prepared by write_ops_prepare_insert()) in order through set's
 * unique indexes, telling outcome about each document in order. After a failure, an ordered
 * run stops (the documents after it are not reported) and an unordered one goes on. Returns
 * false when it stopped early. */
bool write_ops_insert_run(const fe_store_t *store, const fe_index_set_t *set,
                          const bson_t *const *docs, size_t count, bool ordered,
                          fe_insert_outcome_fn outcome, void *arg);

/* Runs one update statement. *result is caller storage, initialized even on failure; release
 * with write_ops_result_destroy(). */
bool write_ops_update(const fe_store_t *store, const fe_update_statement_t *statement,
                      fe_update_result_t *result, fe_error_t *error);

void write_ops_result_destroy(fe_update_result_t *result);

/* Deletes the documents matching filter: at most one when !multi, the first in sort order
 * (sort nullable); let (nullable) holds the command's variables. *deleted counts them; *removed
 * (nullable) receives the deleted document when one was (owned by the caller). */
bool write_ops_delete(const fe_store_t *store, const bson_t *filter, const bson_t *sort,
                      const bson_t *let, bool multi, int64_t *deleted, bson_t **removed,
                      fe_error_t *error);

/* write_ops_delete() under collation (a collation document; NULL: the collection's default,
 * as write_ops_delete() uses). */
bool write_ops_delete_collated(const fe_store_t *store, const bson_t *filter, const bson_t *sort,
                               const bson_t *let, const bson_t *collation, bool multi,
                               int64_t *deleted, bson_t **removed, fe_error_t *error);

/* Deletes at most limit (0: all) documents matching filter, through the same path as
 * write_ops_delete(), for callers that work in bounded batches (the TTL monitor). */
bool write_ops_delete_some(const fe_store_t *store, const bson_t *filter, size_t limit,
                           int64_t *deleted, fe_error_t *error);

/* Appends one writeErrors element {index, code, codeName, errmsg[, keyPattern, keyValue]}:
 * the key of duplicate ({keyPattern, keyValue}; nullable) when given, else doc's _id. */
void write_ops_append_write_error(bson_t *array, uint32_t array_index, int64_t index,
                                  const fe_error_t *error, const bson_t *doc,
                                  const bson_t *duplicate);

/* Appends keyPattern and keyValue to entry when error is a duplicate key: duplicate's
 * ({keyPattern, keyValue}; nullable) when given, else doc's _id (doc nullable). */
void write_ops_append_duplicate_key(bson_t *entry, const fe_error_t *error, const bson_t *doc,
                                    const bson_t *duplicate);

#endif /* FE_WRITE_OPS_H */
