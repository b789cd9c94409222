/*
 * cmd_views.h: read-only views in the commands (docs/rfc/0008-views.md). Definitions live in
 * the core's catalog (backend/views.h); reads on a view run as aggregations over the
 * collection at the end of its chain, as mongod runs them; writes are refused.
 */
#ifndef FE_CMD_VIEWS_H
#define FE_CMD_VIEWS_H

#include <stdbool.h>

#include <bson/bson.h>

#include "commands/dispatch.h"
#include "query/aggregate/pipeline.h"
#include "query/filter.h"

/* Called by the dispatcher before a handler, with the session locked. Runs the commands that
 * name a view (find, count, distinct, drop, create with viewOn, collMod of a view) and sets
 * *handled; refuses writes to a view (166), a collection over a view's name (48) and renaming
 * a view (166); drops the database's views before dropDatabase. Any other command, or one that
 * names no view, is left to its handler (*handled false) after one cached catalog look-up. */
bool cmd_views_intercept(fe_ctx_t *ctx, bool *handled, fe_error_t *error);

/* What an aggregate reads when it names a view. */
typedef struct cmd_views_source {
   char *collection; /* owned; the collection at the end of the view chain, or NULL: no view */
   bson_t stages;    /* owned; the views' pipelines, innermost first, then the command's */
} cmd_views_source_t;

/* Sets *is_view when db.name is a view (one cached catalog look-up): bulkWrite refuses its
 * operations on a view (166) as cmd_views_intercept() refuses the other write commands. */
bool cmd_views_is_view(fe_ctx_t *ctx, const char *db, const char *name, bool *is_view,
                       fe_error_t *error);

/* For aggregate on collection (nullable: {aggregate: 1}): when it is a view, re-points *stages
 * (a static view) at the views' pipelines followed by the command's stages, and
 * source->collection names what to read. Refuses a final $out or $merge into a view (166).
 * *source is caller storage, initialized even on failure: cmd_views_source_destroy(). */
bool cmd_views_resolve(fe_ctx_t *ctx, const char *collection, bson_t *stages,
                       cmd_views_source_t *source, fe_error_t *error);
void cmd_views_source_destroy(cmd_views_source_t *source);

/* A pipeline_reader_t that reads a view as its pipeline over its collection, and anything else
 * through base. Everything is borrowed for the command. */
typedef struct cmd_views_reader {
   fe_ctx_t *ctx;
   pipeline_reader_t base; /* reads collections */
   pipeline_reader_t self; /* hand this one to the pipeline; its ctx is the struct */
   int depth;              /* views being read within views ($lookup in a view) */
} cmd_views_reader_t;

void cmd_views_reader_init(cmd_views_reader_t *reader, fe_ctx_t *ctx,
                           const pipeline_reader_t *base);

/* Appends listCollections entries for ctx->db's views ({name, type: "view", options: {viewOn,
 * pipeline[, collation]}, info: {readOnly: true}}, or {name, type} with name_only) matching
 * filter (nullable) to *docs (owned array of owned documents, grown with realloc). */
bool cmd_views_list(fe_ctx_t *ctx, const fe_filter_t *filter, bool name_only, bson_t ***docs,
                    size_t *count, fe_error_t *error);

#endif /* FE_CMD_VIEWS_H */
