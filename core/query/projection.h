/*
 * projection.h: find projections.
 */
#ifndef FE_PROJECTION_H
#define FE_PROJECTION_H

#include <stdbool.h>

#include <bson/bson.h>

#include "error/error.h"
#include "query/filter.h"

typedef struct fe_projection fe_projection_t;

/* Compiles a projection. Returns NULL and sets *error (MongoDB's codes, e.g. 31254 for mixing
 * inclusion and exclusion) on failure. Owned by the caller. */
fe_projection_t *projection_compile(const bson_t *spec, fe_error_t *error);

/* Projects doc into *out (caller storage, uninitialized; initialized even on failure). match
 * carries the positional index for `field.$`. */
bool projection_apply(const fe_projection_t *projection, const bson_t *doc,
                      const fe_match_info_t *match, bson_t *out, fe_error_t *error);

void projection_destroy(fe_projection_t *projection);

#endif /* FE_PROJECTION_H */
