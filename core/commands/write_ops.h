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
   const bson_t *sort;          /* borrowed; NULL for none (findAndModify) */
   const bson_t *let;           /* borrowed; variables for $expr and pipelines, or NULL */
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

/* Appends one writeErrors element {index, code, codeName, errmsg[, keyPattern, keyValue]}:
 * the key of duplicate ({keyPattern, keyValue}; nullable) when given, else doc's _id. */
void write_ops_append_write_error(bson_t *array, uint32_t array_index, int64_t index,
                                  const fe_error_t *error, const bson_t *doc,
                                  const bson_t *duplicate);

#endif /* FE_WRITE_OPS_H */
