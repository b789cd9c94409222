/*
 * update.h: update documents (operators or replacement) applied to a document.
 */
#ifndef FE_UPDATE_H
#define FE_UPDATE_H

#include <stdbool.h>

#include <bson/bson.h>

#include "error/error.h"
#include "query/filter.h"

typedef struct fe_update fe_update_t;

/* Compiles an update: an operator document ({$set: ...}), a replacement document, or an
 * aggregation pipeline given as a BSON array. array_filters (nullable) is the arrayFilters
 * array. Returns NULL and sets *error with MongoDB's code on failure. Owned by the caller. */
fe_update_t *update_compile(const bson_t *spec, bool spec_is_pipeline, const bson_t *array_filters,
                            fe_error_t *error);

/* Like update_compile(), with the command's let variables (nullable; an update statement's
 * "c" merged over them, see expr_let_merge()) available as $$name to a pipeline's expressions
 * and to $expr in arrayFilters. Evaluated once, here (expr_let_compile()); errors in let as
 * that reports them. Does not borrow let. */
fe_update_t *update_compile_with_let(const bson_t *spec, bool spec_is_pipeline,
                                     const bson_t *array_filters, const bson_t *let,
                                     fe_error_t *error);

/* Like update_compile_with_let(), comparing strings under collator (borrowed; must outlive the
 * update; NULL: binary), as mongod does with the statement's collation: $addToSet's
 * membership, $pull's conditions and values, $pullAll, $push's $sort, $min and $max, and
 * arrayFilters, and a pipeline's stages and expressions. The _id immutability check stays
 * binary. */
fe_update_t *update_compile_collated(const bson_t *spec, bool spec_is_pipeline,
                                     const bson_t *array_filters, const bson_t *let,
                                     const fe_collator_t *collator, fe_error_t *error);

bool update_is_replacement(const fe_update_t *update);

/* Applies the update to doc, writing the new document to *out (caller storage, uninitialized;
 * initialized by this call even on failure, to be bson_destroy()ed). match carries the
 * positional index for `$`. inserting is true for the document an upsert inserts, where
 * $setOnInsert applies. The _id of doc may not change (code 66 ImmutableField). */
bool update_apply(const fe_update_t *update, const bson_t *doc, const fe_match_info_t *match,
                  bool inserting, bson_t *out, fe_error_t *error);

/* Builds the document an upsert inserts: the equality parts of filter (dotted paths too, _id
 * taken from the filter when present) with the update applied (inserting = true). *out as
 * for update_apply(). Does not generate an _id: the caller adds one when missing. */
bool update_upsert_document(const fe_update_t *update, const bson_t *filter, bson_t *out,
                            fe_error_t *error);

void update_destroy(fe_update_t *update);

#endif /* FE_UPDATE_H */
