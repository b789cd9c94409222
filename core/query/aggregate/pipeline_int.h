/*
 * pipeline_int.h: the stages that need more than a few lines, private to the pipeline.
 */
#ifndef FE_PIPELINE_INT_H
#define FE_PIPELINE_INT_H

#include <stdbool.h>

#include <bson/bson.h>

#include "error/error.h"
#include "query/expr.h"

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
void stage_group_destroy(stage_group_t *group);

#endif /* FE_PIPELINE_INT_H */
