/*
 * pipeline_int.h: the stages that need more than a few lines, private to the pipeline.
 */
#ifndef FE_PIPELINE_INT_H
#define FE_PIPELINE_INT_H

#include <stdbool.h>

#include <bson/bson.h>

#include "error/error.h"
#include "query/aggregate/pipeline.h"
#include "query/expr.h"

/* The deepest nesting of sub-pipelines ($lookup, $unionWith, $facet), as in MongoDB. */
#define PIPELINE_MAX_DEPTH 20

/* MongoDB's limit on the memory of one blocking stage without allowDiskUse (bytes). */
#define PIPELINE_STAGE_MEMORY_LIMIT (100 * 1024 * 1024)

/* The largest document a stage may build (BSON's 16 MB plus MongoDB's 16 KB slack). */
#define PIPELINE_MAX_DOCUMENT_SIZE (16 * 1024 * 1024 + 16 * 1024)

/*
 * Sub-pipelines (pipeline.c)
 */

/* Compiles the sub-pipeline of the stage named within ("$lookup", "$unionWith", "$facet"),
 * which refuses what cannot be nested there ($out, $merge; for $facet also the source
 * stages and $facet itself). vars (nullable) are the enclosing bindings: borrowed, they must
 * outlive the pipeline, and their values may change between runs (so a $lookup's let reaches
 * its correlated sub-pipeline). depth is the enclosing pipeline's; past PIPELINE_MAX_DEPTH
 * the error is 232 MaxSubPipelineDepthExceeded. */
fe_pipeline_t *pipeline_compile_sub(const bson_t *stages, const fe_expr_var_t *vars,
                                    const char *within, int depth, fe_error_t *error);

/* Runs a sub-pipeline over the collection named collection read through reader, offering
 * filter (nullable) as the reader's hint, or over nothing when the sub-pipeline starts with
 * $documents (collection may then be NULL). */
bool pipeline_run_collection(const fe_pipeline_t *sub, const pipeline_reader_t *reader,
                             const char *collection, const bson_t *filter, pipeline_emit_fn emit,
                             void *emit_ctx, fe_error_t *error);

/* Runs a sub-pipeline over count documents (borrowed for the call). */
bool pipeline_run_documents(const fe_pipeline_t *sub, const pipeline_reader_t *reader,
                            bson_t *const *docs, size_t count, pipeline_emit_fn emit,
                            void *emit_ctx, fe_error_t *error);

/* The variables a pipeline's expressions see. Borrowed; valid while the pipeline lives. */
const fe_expr_var_t *pipeline_vars(const fe_pipeline_t *pipeline);

/*
 * Helpers shared by the stages (stage_util.c)
 */

/* A growing list of owned documents, with their total size in bytes. Zero-initialize. */
typedef struct stage_docs {
   bson_t **items; /* owned, each owned */
   size_t count;
   size_t capacity;
   size_t bytes;
} stage_docs_t;

/* Appends doc (transfers). */
void stage_docs_push(stage_docs_t *docs, bson_t *doc);
/* A pipeline_emit_fn that appends a copy of each document to the stage_docs_t *ctx. */
bool stage_docs_collect(void *ctx, const bson_t *doc, fe_error_t *error);
/* Frees every document and the list, leaving it empty. */
void stage_docs_clear(stage_docs_t *docs);

/* Calls fn with every value at the dotted path of doc as $lookup and $graphLookup see them:
 * through arrays of documents on the way, and each element of an array at the end (the
 * array itself is not visited). A missing path visits nothing. Values are borrowed for the
 * call. */
void stage_visit_path(const bson_t *doc, const char *path,
                      void (*fn)(void *ctx, const bson_value_t *value), void *ctx);

/* Writes to out (initialized by the caller) doc with the dotted path set to value, creating
 * documents on the way; a non-document on the way is replaced, as $addFields does. */
void stage_set_path(const bson_t *doc, const char *path, const bson_value_t *value, bson_t *out);

/* A 64-bit pseudo-random number from a per-call state (*state 0: seeds it). */
uint64_t stage_random(uint64_t *state);

/* $project, $addFields/$set and $unset: a tree of paths (stage_project.c). */
typedef struct stage_project stage_project_t;

typedef enum stage_project_mode {
   STAGE_PROJECT_PROJECT,
   STAGE_PROJECT_ADD_FIELDS,
   STAGE_PROJECT_UNSET,
} stage_project_mode_t;

/* spec is the stage's document ($project, $addFields) or, for $unset, a document listing the
 * paths as keys. name is the stage name for messages. */
stage_project_t *stage_project_compile(const bson_t *spec, stage_project_mode_t mode,
                                       const char *name, fe_error_t *error);
/* *out is caller storage, initialized here even on failure. */
bool stage_project_apply(const stage_project_t *project, const bson_t *doc,
                         const fe_expr_var_t *vars, bson_t *out, fe_error_t *error);
/* expr_check_vars() over every expression of the stage (17276). */
bool stage_project_check_vars(const stage_project_t *project, const fe_expr_var_t *scope,
                              fe_error_t *error);
void stage_project_destroy(stage_project_t *project);

/* $group (stage_group.c): compiled spec, and the groups of one run. */
typedef struct stage_group stage_group_t;
typedef struct stage_group_run stage_group_run_t;

stage_group_t *stage_group_compile(const bson_t *spec, fe_error_t *error);
stage_group_run_t *stage_group_start(const stage_group_t *group);
bool stage_group_add(stage_group_run_t *run, const bson_t *doc, const fe_expr_var_t *vars,
                     fe_error_t *error);
/* Moves the result documents to *docs (owned by the caller: each bson_destroy()ed, the array
 * bson_free()d) and frees the run. */
void stage_group_finish(stage_group_run_t *run, bson_t ***docs, size_t *count);
void stage_group_run_destroy(stage_group_run_t *run);
bool stage_group_check_vars(const stage_group_t *group, const fe_expr_var_t *scope,
                            fe_error_t *error);
void stage_group_destroy(stage_group_t *group);

/* $lookup (stage_lookup.c): the equality form, the let + pipeline form and both together. */
typedef struct stage_lookup stage_lookup_t;

/* vars: the enclosing pipeline's (borrowed; outlives the stage). */
stage_lookup_t *stage_lookup_compile(const bson_iter_t *spec, const fe_expr_var_t *vars, int depth,
                                     fe_error_t *error);
/* *out (owned by the caller) receives doc with the matches at the "as" path. */
bool stage_lookup_apply(const stage_lookup_t *lookup, const pipeline_reader_t *reader,
                        const fe_expr_var_t *vars, const bson_t *doc, bson_t **out,
                        fe_error_t *error);
/* Checks the let expressions; the sub-pipeline checked itself when compiled. */
bool stage_lookup_check_vars(const stage_lookup_t *lookup, const fe_expr_var_t *scope,
                             fe_error_t *error);
void stage_lookup_destroy(stage_lookup_t *lookup);

/* $graphLookup (stage_lookup.c). */
typedef struct stage_graph stage_graph_t;

stage_graph_t *stage_graph_compile(const bson_iter_t *spec, const fe_expr_var_t *vars,
                                   fe_error_t *error);
bool stage_graph_apply(const stage_graph_t *graph, const pipeline_reader_t *reader,
                       const fe_expr_var_t *vars, const bson_t *doc, bson_t **out,
                       fe_error_t *error);
bool stage_graph_check_vars(const stage_graph_t *graph, const fe_expr_var_t *scope,
                            fe_error_t *error);
void stage_graph_destroy(stage_graph_t *graph);

/* $facet and $unionWith (stage_facet.c). */
typedef struct stage_facet stage_facet_t;

stage_facet_t *stage_facet_compile(const bson_iter_t *spec, const fe_expr_var_t *vars, int depth,
                                   fe_error_t *error);
/* Runs every facet over docs (borrowed); *out (owned by the caller) is the one result. */
bool stage_facet_run(const stage_facet_t *facet, const pipeline_reader_t *reader,
                     bson_t *const *docs, size_t count, bson_t **out, fe_error_t *error);
void stage_facet_destroy(stage_facet_t *facet);

typedef struct stage_union stage_union_t;

stage_union_t *stage_union_compile(const bson_iter_t *spec, const fe_expr_var_t *vars, int depth,
                                   fe_error_t *error);
/* Appends the other collection's documents (through its pipeline) to *out. */
bool stage_union_run(const stage_union_t *u, const pipeline_reader_t *reader, stage_docs_t *out,
                     fe_error_t *error);
void stage_union_destroy(stage_union_t *u);

/* $bucket and $bucketAuto (stage_bucket.c). */

/* Translates a $bucket specification into the equivalent $group specification (*group,
 * caller storage initialized here even on failure), to be followed by {$sort: {_id: 1}}. */
bool stage_bucket_group_spec(const bson_iter_t *spec, bson_t *group, fe_error_t *error);

typedef struct stage_bucket_auto stage_bucket_auto_t;

stage_bucket_auto_t *stage_bucket_auto_compile(const bson_iter_t *spec, fe_error_t *error);
/* Buckets docs (borrowed) into *out. */
bool stage_bucket_auto_run(const stage_bucket_auto_t *bucket, const fe_expr_var_t *vars,
                           bson_t *const *docs, size_t count, stage_docs_t *out, fe_error_t *error);
bool stage_bucket_auto_check_vars(const stage_bucket_auto_t *bucket, const fe_expr_var_t *scope,
                                  fe_error_t *error);
void stage_bucket_auto_destroy(stage_bucket_auto_t *bucket);

/* $redact (stage_redact.c). */
typedef struct stage_redact stage_redact_t;

stage_redact_t *stage_redact_compile(const bson_iter_t *spec, fe_error_t *error);
/* *out (owned by the caller) is the redacted document, or NULL when it is pruned. */
bool stage_redact_apply(const stage_redact_t *redact, const fe_expr_var_t *vars, const bson_t *doc,
                        bson_t **out, fe_error_t *error);
bool stage_redact_check_vars(const stage_redact_t *redact, const fe_expr_var_t *scope,
                             fe_error_t *error);
void stage_redact_destroy(stage_redact_t *redact);

/* $setWindowFields and $fill (stage_window.c). */
typedef struct stage_window stage_window_t;

stage_window_t *stage_window_compile(const bson_iter_t *spec, fe_error_t *error);
/* $fill, compiled as the $setWindowFields it stands for. */
stage_window_t *stage_window_compile_fill(const bson_iter_t *spec, fe_error_t *error);
bool stage_window_check_vars(const stage_window_t *window, const fe_expr_var_t *scope,
                             fe_error_t *error);
/* Computes the output fields over docs (borrowed), appending the results to *out in
 * partition and sortBy order. Input beyond PIPELINE_STAGE_MEMORY_LIMIT is 292. */
bool stage_window_run(const stage_window_t *window, const fe_expr_var_t *vars, bson_t *const *docs,
                      size_t count, stage_docs_t *out, fe_error_t *error);
void stage_window_destroy(stage_window_t *window);

/* $densify (stage_densify.c). */
typedef struct stage_densify stage_densify_t;

stage_densify_t *stage_densify_compile(const bson_iter_t *spec, fe_error_t *error);
/* Appends docs (borrowed) and the documents filled in between to *out. */
bool stage_densify_run(const stage_densify_t *densify, bson_t *const *docs, size_t count,
                       stage_docs_t *out, fe_error_t *error);
void stage_densify_destroy(stage_densify_t *densify);

#endif /* FE_PIPELINE_INT_H */
