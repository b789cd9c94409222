/*
 * stage_check.h: running aggregation stages for the stage unit tests: the pipeline sink that
 * collects results as relaxed JSON.
 */
#ifndef FE_STAGE_CHECK_H
#define FE_STAGE_CHECK_H

#include "../bson/test_util.h"

#include "error/error.h"

/* A pipeline sink: appends doc as relaxed extended JSON to ctx (a bson_string_t started with
 * "["), separated by ", ". */
static inline bool
sc_collect(void *ctx, const bson_t *doc, fe_error_t *error)
{
   bson_string_t *out = ctx;
   char *s = bson_as_relaxed_extended_json(doc, NULL);
   (void) error;
   if (out->len > 1) {
      bson_string_append(out, ", ");
   }
   bson_string_append(out, s);
   bson_free(s);
   return true;
}

#endif /* FE_STAGE_CHECK_H */
