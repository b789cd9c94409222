/*
 * pushdown.c: the core's side of pushdown negotiation (docs/rfc/0002-pushdown.md).
 *
 * Only conjuncts the core can state exactly become terms: for now `_id` equality on a value
 * that has a canonical key (the backends' primary key). The backend's answer is a hint; the
 * core always rechecks the full filter, so an unapplied or wrongly applied term can cost
 * speed but never a wrong answer. Skip and limit are offered only when the filter is empty.
 */
#include "backend/pushdown.h"

#include <stdlib.h>
#include <string.h>

#include "bson/idkey.h"

#define MAX_TERMS 1

struct fe_plan {
   ferret_query_t query;
   ferret_term_t terms[MAX_TERMS];
   ferret_sort_key_t sort_key;
   bson_t *filter;            /* owned copy; query.filter points into it */
   bson_t *values[MAX_TERMS]; /* owned; {"": value} per term */
   uint8_t *id_key;           /* owned */
};

static bool offer_id_equality(fe_plan_t *plan, const bson_t *filter, const fe_collator_t *collator);

fe_plan_t *
pushdown_plan_new(const bson_t *filter, int natural_direction, int64_t skip, int64_t limit,
                  uint64_t capabilities)
{
   return pushdown_plan_new_collated(filter, natural_direction, skip, limit, capabilities, NULL);
}

fe_plan_t *
pushdown_plan_new_collated(const bson_t *filter, int natural_direction, int64_t skip, int64_t limit,
                           uint64_t capabilities, const fe_collator_t *collator)
{
   fe_plan_t *plan = calloc(1, sizeof *plan);
   bool empty_filter = !filter || bson_empty(filter);

   if (!plan) {
      return NULL;
   }
   plan->filter = filter ? bson_copy(filter) : bson_new();
   plan->query.struct_size = sizeof plan->query;
   plan->query.filter = bson_get_data(plan->filter);
   plan->query.filter_len = plan->filter->len;
   plan->query.terms = plan->terms;
   if ((capabilities & FERRET_CAP_FILTER_PUSHDOWN) && !empty_filter) {
      offer_id_equality(plan, filter, collator);
   }
   if (natural_direction != 0 && (capabilities & FERRET_CAP_SORT_PUSHDOWN)) {
      plan->sort_key.path = "$natural";
      plan->sort_key.direction = natural_direction;
      plan->query.sort = &plan->sort_key;
      plan->query.sort_count = 1;
   }
   if (empty_filter && (capabilities & FERRET_CAP_LIMIT_PUSHDOWN) &&
       (natural_direction == 0 || plan->query.sort_count == 1)) {
      plan->query.skip = skip;
      plan->query.limit = limit;
   }
   return plan;
}

ferret_query_t *
pushdown_plan_query(fe_plan_t *plan)
{
   return &plan->query;
}

bool
pushdown_plan_skip_limit_applied(const fe_plan_t *plan)
{
   return (plan->query.skip != 0 || plan->query.limit != 0) && plan->query.skip_limit_applied;
}

void
pushdown_plan_describe(const fe_plan_t *plan, bson_t *out)
{
   bson_t terms;
   bson_append_array_begin(out, "pushedTerms", -1, &terms);
   for (size_t i = 0; i < plan->query.term_count; i++) {
      bson_t term;
      char key[16];
      const char *key_ptr;
      bson_uint32_to_string((uint32_t) i, &key_ptr, key, sizeof key);
      bson_append_document_begin(&terms, key_ptr, -1, &term);
      BSON_APPEND_UTF8(&term, "path", plan->terms[i].path);
      BSON_APPEND_BOOL(&term, "applied", plan->terms[i].applied);
      bson_append_document_end(&terms, &term);
   }
   bson_append_array_end(out, &terms);
   BSON_APPEND_BOOL(out, "sortPushdown", plan->query.sort_applied);
   BSON_APPEND_BOOL(out, "limitPushdown", pushdown_plan_skip_limit_applied(plan));
}

void
pushdown_plan_destroy(fe_plan_t *plan)
{
   if (!plan) {
      return;
   }
   bson_destroy(plan->filter);
   for (size_t i = 0; i < MAX_TERMS; i++) {
      if (plan->values[i]) {
         bson_destroy(plan->values[i]);
      }
   }
   bson_free(plan->id_key);
   free(plan);
}

/* Offers {_id: v} or {_id: {$eq: v}} when v is a plain value with a canonical key. */
static bool
offer_id_equality(fe_plan_t *plan, const bson_t *filter, const fe_collator_t *collator)
{
   bson_iter_t iter;
   bson_iter_t value;
   size_t key_len = 0;
   ferret_term_t *term = &plan->terms[0];

   if (!bson_iter_init_find(&iter, filter, "_id")) {
      return false;
   }
   value = iter;
   if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      bson_iter_t child;
      /* {$eq: v} alone; any other document (operators or a literal) is left to the core. */
      if (!bson_iter_recurse(&iter, &child) || !bson_iter_next(&child) ||
          strcmp(bson_iter_key(&child), "$eq") != 0) {
         return false;
      }
      value = child;
      if (bson_iter_next(&child)) {
         return false;
      }
   }
   if (BSON_ITER_HOLDS_DOCUMENT(&value) || BSON_ITER_HOLDS_ARRAY(&value) ||
       BSON_ITER_HOLDS_REGEX(&value) || BSON_ITER_HOLDS_NULL(&value) ||
       BSON_ITER_HOLDS_UNDEFINED(&value)) {
      /* Documents may hold operators, arrays match elements, regexes match patterns, and
       * null matches missing: none of these is a primary-key lookup. */
      return false;
   }
   if (collator && (BSON_ITER_HOLDS_UTF8(&value) || BSON_ITER_HOLDS_SYMBOL(&value))) {
      /* Under a collation "a" may equal "A": not a primary-key lookup either. */
      return false;
   }
   if (!idkey_encode(&value, &plan->id_key, &key_len)) {
      return false;
   }
   plan->values[0] = bson_new();
   bson_append_iter(plan->values[0], "", 0, &value);
   term->path = "_id";
   term->op = FERRET_OP_EQ;
   term->value = bson_get_data(plan->values[0]);
   term->value_len = plan->values[0]->len;
   term->id_key = plan->id_key;
   term->id_key_len = key_len;
   term->applied = false;
   plan->query.term_count = 1;
   return true;
}
