/*
 * update_pipeline.c: pipeline-style updates: an array of $addFields/$set, $project, $unset
 * and $replaceRoot/$replaceWith stages applied to the one document being updated.
 */
#include "query/update_int.h"

#include "query/aggregate/pipeline.h"

void *
update_pipeline_compile(const bson_t *pipeline, const bson_t *let, const fe_collator_t *collator,
                        fe_error_t *error)
{
   return pipeline_compile_collated(pipeline, let, PIPELINE_FOR_UPDATE, collator, error);
}

bool
update_pipeline_apply(void *pipeline, const bson_t *doc, bson_t *out, fe_error_t *error)
{
   return pipeline_apply_one(pipeline, doc, out, error);
}

void
update_pipeline_destroy(void *pipeline)
{
   pipeline_destroy(pipeline);
}
