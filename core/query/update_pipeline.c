/*
 * update_pipeline.c: pipeline-style updates (an array of aggregation stages as the update).
 * Until the aggregation pipeline exists, they are reported as not implemented.
 */
#include "query/update_int.h"

void *
update_pipeline_compile(const bson_t *pipeline, fe_error_t *error)
{
   (void) pipeline;
   error_set(error, FE_NotImplemented, "pipeline-style updates are not supported yet");
   return NULL;
}

bool
update_pipeline_apply(void *pipeline, const bson_t *doc, bson_t *out, fe_error_t *error)
{
   (void) pipeline;
   (void) doc;
   (void) out;
   return error_set(error, FE_NotImplemented, "pipeline-style updates are not supported yet");
}

void
update_pipeline_destroy(void *pipeline)
{
   (void) pipeline;
}
