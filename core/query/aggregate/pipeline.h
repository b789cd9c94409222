/*
 * pipeline.h: aggregation pipelines, compiled once and run over a stream of documents.
 *
 * The caller feeds documents through a pull callback (typically from a backend cursor) and
 * receives results through an emit callback, so a pipeline never needs the whole input in
 * memory unless a stage requires it ($sort, $group, $count).
 */
#ifndef FE_PIPELINE_H
#define FE_PIPELINE_H

#include <stdbool.h>

#include <bson/bson.h>

#include "bson/collation.h"
#include "error/error.h"

typedef struct fe_pipeline fe_pipeline_t;

/* Sets *doc to the next input document, or to NULL at the end of the input. *doc is borrowed:
 * it must stay valid until the next call. Returns false (with *error set) to abort the run. */
typedef bool (*pipeline_next_fn)(void *ctx, const bson_t **doc, fe_error_t *error);

/* Receives one result document (borrowed for the duration of the call). Returns false (with
 * *error set) to abort the run: pipeline_run() then returns false with that error. */
typedef bool (*pipeline_emit_fn)(void *ctx, const bson_t *doc, fe_error_t *error);

enum {
   /* Only the stages an update may use: $addFields/$set, $project, $unset,
    * $replaceRoot/$replaceWith. */
   PIPELINE_FOR_UPDATE = 1,
   /* The caller writes the results of a final $out or $merge (pipeline_output()); without
    * this flag those stages fail with 238 NotImplemented. */
   PIPELINE_WITH_OUTPUT = 2,
   /* The caller feeds the server's sessions to a pipeline starting with $listLocalSessions
    * (pipeline_source()); without this flag that stage fails with 238 NotImplemented. */
   PIPELINE_WITH_SESSIONS = 4,
};

/* Compiles stages (a BSON array of stage documents). let (nullable) holds variables,
 * available to every expression as $$name; their values are expressions evaluated once,
 * here. Errors: 40324 for an unknown stage, 40323 for a malformed stage document, 168 for an
 * unknown expression operator, the stage's own codes otherwise. Owned by the caller; does not
 * borrow stages or let. */
fe_pipeline_t *pipeline_compile(const bson_t *stages, const bson_t *let, unsigned flags,
                                fe_error_t *error);

/* Like pipeline_compile(), with strings compared under collator (borrowed; must outlive the
 * pipeline; NULL: binary) in every stage, sub-pipeline and expression. */
fe_pipeline_t *pipeline_compile_collated(const bson_t *stages, const bson_t *let, unsigned flags,
                                         const fe_collator_t *collator, fe_error_t *error);

/* Runs the pipeline: pulls every input document it needs from next and passes each result
 * to emit, in order. A pipeline may be run any number of times, one run at a time (its
 * filters and the variables of its sub-pipelines belong to the compiled pipeline). Stops at
 * the first error; neither callback is called after that. Stages that read other
 * collections ($lookup, $graphLookup, $unionWith) fail with 238 NotImplemented here: use
 * pipeline_run_reader(). */
bool pipeline_run(const fe_pipeline_t *pipeline, pipeline_next_fn next, void *next_ctx,
                  pipeline_emit_fn emit, void *emit_ctx, fe_error_t *error);

/*
 * Reading other collections of the database: what the command layer hands a pipeline so
 * that $lookup, $graphLookup, $unionWith and their sub-pipelines can read any collection,
 * while the pipeline itself knows nothing of backends.
 */
typedef struct pipeline_reader {
   /* Opens a read of the collection named collection (borrowed for the call) in the
    * command's database. filter (nullable; borrowed until close) is a hint: the reader may
    * return any superset of the documents matching it (the pipeline applies its own filter
    * again), for instance every document. A missing collection reads as empty. *cursor
    * (caller storage) is owned by the reader until close(). Errors: 73 InvalidNamespace for a
    * bad name, the backend's otherwise. */
   bool (*open)(void *ctx, const char *collection, const bson_t *filter, void **cursor,
                fe_error_t *error);
   /* As pipeline_next_fn, on an open cursor. */
   bool (*next)(void *cursor, const bson_t **doc, fe_error_t *error);
   /* Closes a cursor at any point; NULL is ignored. */
   void (*close)(void *cursor);
   void *ctx;
} pipeline_reader_t;

/* pipeline_run() with a reader (nullable; borrowed for the call) for the stages that read
 * other collections. */
bool pipeline_run_reader(const fe_pipeline_t *pipeline, const pipeline_reader_t *reader,
                         pipeline_next_fn next, void *next_ctx, pipeline_emit_fn emit,
                         void *emit_ctx, fe_error_t *error);

/* Applies a pipeline to a single document (pipeline-style updates): *out (caller storage,
 * initialized even on failure; bson_destroy() it) receives the one result. Fails when the
 * pipeline does not produce exactly one document. */
bool pipeline_apply_one(const fe_pipeline_t *pipeline, const bson_t *doc, bson_t *out,
                        fe_error_t *error);

/* The filter of the pipeline's leading $match stage, or NULL: the part a backend may apply
 * while reading (the pipeline applies it again anyway). Borrowed; valid while the pipeline
 * lives. */
const bson_t *pipeline_leading_match(const fe_pipeline_t *pipeline);

/* Where a pipeline's input comes from, set by its first stage. */
typedef enum pipeline_source {
   PIPELINE_SOURCE_COLLECTION,     /* feed the collection's documents */
   PIPELINE_SOURCE_DOCUMENTS,      /* $documents: the pipeline never calls next; run it as a
                                    * database-level aggregate ({aggregate: 1}) */
   PIPELINE_SOURCE_LOCAL_SESSIONS, /* $listLocalSessions: feed the server's sessions, one
                                    * document each: {_id: {id: <UUID>, uid: <BinData>},
                                    * lastUse: <date>} */
} pipeline_source_t;

pipeline_source_t pipeline_source(const fe_pipeline_t *pipeline);

/* A final $out or $merge stage. The pipeline does not write: its results still go to emit,
 * and the caller writes them to the target and answers with an empty cursor. $out replaces
 * the target collection's contents with the results (created when missing); $merge writes
 * each result matched by _id into the target: when_matched "merge" (merge the fields,
 * default), "replace", "keepExisting" or "fail" (DuplicateKey 11000); when_not_matched
 * "insert" (default), "discard" or "fail" (13113 MergeStageNoMatchingDocument). */
typedef struct pipeline_output {
   bool merge;     /* $merge, else $out */
   const char *db; /* NULL: the command's database */
   const char *coll;
   const char *when_matched;     /* $merge only */
   const char *when_not_matched; /* $merge only */
} pipeline_output_t;

/* The pipeline's $out or $merge, or NULL. Borrowed; valid while the pipeline lives. */
const pipeline_output_t *pipeline_output(const fe_pipeline_t *pipeline);

void pipeline_destroy(fe_pipeline_t *pipeline);

#endif /* FE_PIPELINE_H */
