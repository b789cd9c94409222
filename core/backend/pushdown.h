/*
 * pushdown.h: turning a query into the terms offered to a backend, and keeping them alive
 * while the backend's cursor borrows them (docs/rfc/0002-pushdown.md).
 */
#ifndef FE_PUSHDOWN_H
#define FE_PUSHDOWN_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>
#include <ferret/backend.h>

#include "bson/collation.h"
#include "error/error.h"

typedef struct fe_plan fe_plan_t;

/*
 * Builds the query offered to a backend with the given capabilities: the top-level conjuncts
 * of filter that are plain comparisons, natural_direction (0: none) as a $natural sort, and
 * skip and limit when nothing else could make them wrong (an empty filter, no other sort).
 * Returns NULL only when out of memory. Owned by the caller; the query stays valid until
 * pushdown_plan_destroy().
 */
fe_plan_t *pushdown_plan_new(const bson_t *filter, int natural_direction, int64_t skip,
                             int64_t limit, uint64_t capabilities);

/* Like pushdown_plan_new(), for a query comparing strings under collator (NULL: binary): a
 * backend compares bytes, so no term on a string is offered unless the collation is simple. */
fe_plan_t *pushdown_plan_new_collated(const bson_t *filter, int natural_direction, int64_t skip,
                                      int64_t limit, uint64_t capabilities,
                                      const fe_collator_t *collator);

/* The query to hand to the backend's query() or explain(). */
ferret_query_t *pushdown_plan_query(fe_plan_t *plan);

/* After query(): whether the backend applied skip and limit (then the core must not). */
bool pushdown_plan_skip_limit_applied(const fe_plan_t *plan);

/* Describes what was pushed down, for explain: appends {terms: [...], applied: ...} fields. */
void pushdown_plan_describe(const fe_plan_t *plan, bson_t *out);

void pushdown_plan_destroy(fe_plan_t *plan);

#endif /* FE_PUSHDOWN_H */
