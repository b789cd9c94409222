/*
 * textsearch.h: what the commands do for text search (core/query/text.h): find the
 * collection's text index for $text, answer find with text scores, and run aggregate's
 * leading $text $match.
 */
#ifndef FE_TEXTSEARCH_H
#define FE_TEXTSEARCH_H

#include <stdbool.h>

#include <bson/bson.h>

#include "backend/indexes.h"
#include "commands/handlers.h"
#include "query/aggregate/pipeline.h"
#include "query/filter.h"

/* Binds the text index of store->ns to filter's $text, if it has one (*has_text, nullable).
 * Errors:
 * 27 IndexNotFound "text index required for $text query", 2 for two $text. */
bool textsearch_bind(const fe_store_t *store, const fe_filter_t *filter, bool *has_text,
                     fe_error_t *error);

/* True when sort or projection asks for {$meta: ...}: find then goes through
 * textsearch_find(). */
bool textsearch_uses_meta(const bson_t *sort, const bson_t *projection);

/* Answers find: the matches of filter (bound, with or without $text), sorted (a
 * {$meta: "textScore"} key sorts by score, highest first), skipped, limited and projected
 * ({$meta: "textScore"} fields receive the score). Without $text a textScore is 40218. */
bool textsearch_find(fe_ctx_t *ctx, const fe_store_t *store, const char *collection,
                     const fe_filter_t *filter, const bson_t *filter_spec, const bson_t *sort,
                     const bson_t *projection, int64_t skip, int64_t limit, int64_t batch_size,
                     bool single_batch, fe_error_t *error);

/* A second index checked against the existing ones: one text index per collection (85). */
bool textsearch_check_create(const fe_index_set_t *set, const bson_t *spec, fe_error_t *error);

/* The leading {$match: {$text: ...}} of an aggregate, run by the command. */
typedef struct textsearch_source textsearch_source_t;

/* When stages starts with a $match holding $text, *source (owned; textsearch_source_destroy())
 * reads through next/next_ctx, keeps the matches and adds their score; *rest (caller storage,
 * initialized here) is the remaining stages with {$meta: "textScore"} rewritten to read it.
 * Otherwise *source is NULL, and a textScore anywhere is 40218. Other $meta kinds are 238. */
bool textsearch_aggregate(const fe_store_t *store, const bson_t *stages, pipeline_next_fn next,
                          void *next_ctx, bson_t *rest, textsearch_source_t **source,
                          fe_error_t *error);

/* The $match specification, for pushdown (borrowed). */
const bson_t *textsearch_source_filter(const textsearch_source_t *source);

/* A pipeline_next_fn over a textsearch_source_t. */
bool textsearch_pull(void *ctx, const bson_t **doc, fe_error_t *error);

void textsearch_source_destroy(textsearch_source_t *source);

#endif /* FE_TEXTSEARCH_H */
