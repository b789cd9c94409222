/*
 * test_pushdown.c: the query the core offers a backend (core/backend/pushdown.c,
 * docs/rfc/0002-pushdown.md): only what the backend can apply exactly is offered.
 */
#include "../bson/test_util.h"

#include "backend/pushdown.h"
#include "bson/idkey.h"

#define ALL_CAPS (FERRET_CAP_FILTER_PUSHDOWN | FERRET_CAP_SORT_PUSHDOWN | FERRET_CAP_LIMIT_PUSHDOWN)

/* The id_key of the value v in {"v": <json>}; owned by the caller (bson_free). */
static uint8_t *
key_of(const char *value_json, size_t *len)
{
   char json[256];
   bson_t *doc;
   bson_iter_t iter;
   uint8_t *key = NULL;

   snprintf(json, sizeof json, "{\"v\": %s}", value_json);
   doc = tu_json(json);
   assert_true(bson_iter_init_find(&iter, doc, "v"));
   assert_true(idkey_encode(&iter, &key, len));
   bson_destroy(doc);
   return key;
}

/* Plans filter_json with every capability and returns the plan (caller destroys). */
static fe_plan_t *
plan_for(const char *filter_json, int natural, int64_t skip, int64_t limit, uint64_t caps)
{
   bson_t *filter = filter_json ? tu_json(filter_json) : NULL;
   fe_plan_t *plan = pushdown_plan_new(filter, natural, skip, limit, caps);
   ferret_query_t *query;

   assert_non_null(plan);
   query = pushdown_plan_query(plan);
   assert_int_equal(query->struct_size, sizeof(ferret_query_t));
   /* The whole filter travels along, as a copy the plan owns. */
   if (filter) {
      assert_int_equal(query->filter_len, filter->len);
      assert_memory_equal(query->filter, bson_get_data(filter), filter->len);
      assert_ptr_not_equal(query->filter, bson_get_data(filter));
      bson_destroy(filter);
   } else {
      assert_int_equal(query->filter_len, 5);
   }
   /* Outputs start false. */
   assert_false(query->sort_applied);
   assert_false(query->skip_limit_applied);
   return plan;
}

/* Asserts one EQ term on _id whose id_key is that of expected_value_json and whose value is
 * {"": <value as given in the filter>}. */
static void
expect_id_term(const char *filter_json, const char *expected_key_json,
               const char *expected_value_json)
{
   fe_plan_t *plan = plan_for(filter_json, 0, 0, 0, ALL_CAPS);
   ferret_query_t *query = pushdown_plan_query(plan);
   ferret_term_t *term;
   size_t key_len;
   uint8_t *key = key_of(expected_key_json, &key_len);
   bson_t value;
   char json[256];

   if (query->term_count != 1) {
      fail_msg("%s: %zu terms offered, expected 1", filter_json, query->term_count);
   }
   assert_non_null(query->terms);
   term = &query->terms[0];
   assert_string_equal(term->path, "_id");
   assert_int_equal(term->op, FERRET_OP_EQ);
   assert_false(term->applied);
   assert_non_null(term->id_key);
   assert_int_equal(term->id_key_len, key_len);
   assert_memory_equal(term->id_key, key, key_len);
   assert_true(bson_init_static(&value, term->value, term->value_len));
   snprintf(json, sizeof json, "{\"\": %s}", expected_value_json);
   tu_assert_doc_eq(&value, json);
   /* Filters are not pushed with skip and limit. */
   assert_int_equal(query->skip, 0);
   assert_int_equal(query->limit, 0);

   bson_free(key);
   pushdown_plan_destroy(plan);
}

static void
expect_no_terms(const char *filter_json)
{
   fe_plan_t *plan = plan_for(filter_json, 0, 5, 10, ALL_CAPS);
   ferret_query_t *query = pushdown_plan_query(plan);
   if (query->term_count != 0) {
      fail_msg("%s: %zu terms offered, expected none", filter_json, query->term_count);
   }
   /* A non-empty filter never lets skip and limit through. */
   assert_int_equal(query->skip, 0);
   assert_int_equal(query->limit, 0);
   pushdown_plan_destroy(plan);
}

/* ---- terms ---- */

static void
test_id_equality(void **state)
{
   (void) state;
   expect_id_term("{\"_id\": 5}", "5", "5");
   expect_id_term("{\"_id\": {\"$eq\": 5}}", "5", "5");
   /* int32 5 and double 5.0 are one _id: the key is the same, the value as written. */
   expect_id_term("{\"_id\": 5}", "5.0", "5");
   expect_id_term("{\"_id\": 5.0}", "5", "5.0");
   expect_id_term("{\"_id\": {\"$numberLong\": \"5\"}}", "5.0", "{\"$numberLong\": \"5\"}");
   expect_id_term("{\"_id\": \"abc\"}", "\"abc\"", "\"abc\"");
   expect_id_term("{\"_id\": {\"$oid\": \"0123456789abcdef01234567\"}}",
                  "{\"$oid\": \"0123456789abcdef01234567\"}",
                  "{\"$oid\": \"0123456789abcdef01234567\"}");
   /* Other conjuncts are the core's to check; the _id term is still offered. */
   expect_id_term("{\"a\": 1, \"_id\": 7, \"b\": {\"$gt\": 2}}", "7", "7");
}

static void
test_not_offered(void **state)
{
   (void) state;
   /* Ranges, and operators besides $eq. */
   expect_no_terms("{\"_id\": {\"$gt\": 5}}");
   expect_no_terms("{\"_id\": {\"$in\": [1, 2]}}");
   expect_no_terms("{\"_id\": {\"$ne\": 5}}");
   /* $eq together with another operator. */
   expect_no_terms("{\"_id\": {\"$eq\": 5, \"$gt\": 1}}");
   expect_no_terms("{\"_id\": {\"$gt\": 1, \"$eq\": 5}}");
   /* null also matches a missing _id (there is none, but the core decides). */
   expect_no_terms("{\"_id\": null}");
   expect_no_terms("{\"_id\": {\"$eq\": null}}");
   /* An array matches its elements as well. */
   expect_no_terms("{\"_id\": [1]}");
   expect_no_terms("{\"_id\": {\"$eq\": [1]}}");
   /* A regex matches a pattern. */
   expect_no_terms("{\"_id\": {\"$regularExpression\": {\"pattern\": \"re\", \"options\": \"\"}}}");
   expect_no_terms("{\"_id\": {\"$_regex\": \"re\"}}");
   /* An embedded document: operators or a literal, the core decides. */
   expect_no_terms("{\"_id\": {\"a\": 1}}");
   expect_no_terms("{\"_id\": {}}");
   expect_no_terms("{\"_id\": {\"$eq\": {\"a\": 1}}}");
   /* Not _id, or _id only inside a logical operator. */
   expect_no_terms("{\"a\": 5}");
   expect_no_terms("{\"_id.x\": 5}");
   expect_no_terms("{\"$and\": [{\"_id\": 5}]}");
   expect_no_terms("{\"$or\": [{\"_id\": 5}, {\"_id\": 6}]}");
}

static void
test_terms_need_capability(void **state)
{
   fe_plan_t *plan;
   (void) state;

   plan = plan_for("{\"_id\": 5}", 0, 0, 0, FERRET_CAP_SORT_PUSHDOWN | FERRET_CAP_LIMIT_PUSHDOWN);
   assert_int_equal(pushdown_plan_query(plan)->term_count, 0);
   pushdown_plan_destroy(plan);

   plan = plan_for("{\"_id\": 5}", 0, 0, 0, FERRET_CAP_FILTER_PUSHDOWN);
   assert_int_equal(pushdown_plan_query(plan)->term_count, 1);
   pushdown_plan_destroy(plan);
}

/* ---- sort, skip, limit ---- */

static void
test_skip_limit(void **state)
{
   fe_plan_t *plan;
   ferret_query_t *query;
   (void) state;

   /* Empty filter (given or absent) with the capability: offered. */
   plan = plan_for("{}", 0, 3, 4, ALL_CAPS);
   query = pushdown_plan_query(plan);
   assert_int_equal(query->skip, 3);
   assert_int_equal(query->limit, 4);
   assert_int_equal(query->term_count, 0);
   assert_null(query->sort);
   assert_int_equal(query->sort_count, 0);
   pushdown_plan_destroy(plan);

   plan = plan_for(NULL, 0, 0, 9, FERRET_CAP_LIMIT_PUSHDOWN);
   query = pushdown_plan_query(plan);
   assert_int_equal(query->skip, 0);
   assert_int_equal(query->limit, 9);
   pushdown_plan_destroy(plan);

   /* Without the capability: not offered. */
   plan = plan_for("{}", 0, 3, 4, FERRET_CAP_FILTER_PUSHDOWN | FERRET_CAP_SORT_PUSHDOWN);
   query = pushdown_plan_query(plan);
   assert_int_equal(query->skip, 0);
   assert_int_equal(query->limit, 0);
   pushdown_plan_destroy(plan);

   /* A filter, even one whose only term is offered: the term might not be applied. */
   plan = plan_for("{\"_id\": 5}", 0, 3, 4, ALL_CAPS);
   query = pushdown_plan_query(plan);
   assert_int_equal(query->term_count, 1);
   assert_int_equal(query->skip, 0);
   assert_int_equal(query->limit, 0);
   pushdown_plan_destroy(plan);

   /* A filter with no term offered at all. */
   expect_no_terms("{\"a\": 1}");
}

static void
test_natural_sort(void **state)
{
   fe_plan_t *plan;
   ferret_query_t *query;
   (void) state;

   /* $natural descending with sort pushdown: offered, and skip/limit with it. */
   plan = plan_for("{}", -1, 2, 5, ALL_CAPS);
   query = pushdown_plan_query(plan);
   assert_int_equal(query->sort_count, 1);
   assert_non_null(query->sort);
   assert_string_equal(query->sort[0].path, "$natural");
   assert_int_equal(query->sort[0].direction, -1);
   assert_int_equal(query->skip, 2);
   assert_int_equal(query->limit, 5);
   pushdown_plan_destroy(plan);

   plan = plan_for("{}", 1, 0, 0, FERRET_CAP_SORT_PUSHDOWN);
   query = pushdown_plan_query(plan);
   assert_int_equal(query->sort_count, 1);
   assert_int_equal(query->sort[0].direction, 1);
   pushdown_plan_destroy(plan);

   /* Without sort pushdown the core sorts, so skip and limit must stay with it too. */
   plan = plan_for("{}", -1, 2, 5, FERRET_CAP_LIMIT_PUSHDOWN | FERRET_CAP_FILTER_PUSHDOWN);
   query = pushdown_plan_query(plan);
   assert_int_equal(query->sort_count, 0);
   assert_null(query->sort);
   assert_int_equal(query->skip, 0);
   assert_int_equal(query->limit, 0);
   pushdown_plan_destroy(plan);

   /* A sort with a filter: the sort is offered, skip/limit not. */
   plan = plan_for("{\"_id\": 1}", -1, 2, 5, ALL_CAPS);
   query = pushdown_plan_query(plan);
   assert_int_equal(query->sort_count, 1);
   assert_int_equal(query->term_count, 1);
   assert_int_equal(query->skip, 0);
   assert_int_equal(query->limit, 0);
   pushdown_plan_destroy(plan);
}

static void
test_skip_limit_applied(void **state)
{
   fe_plan_t *plan;
   ferret_query_t *query;
   (void) state;

   plan = plan_for("{}", 0, 3, 4, ALL_CAPS);
   query = pushdown_plan_query(plan);
   assert_false(pushdown_plan_skip_limit_applied(plan));
   query->skip_limit_applied = true; /* as a backend would */
   assert_true(pushdown_plan_skip_limit_applied(plan));
   pushdown_plan_destroy(plan);

   /* A backend claiming skip/limit that was never offered is not believed. */
   plan = plan_for("{\"a\": 1}", 0, 3, 4, ALL_CAPS);
   query = pushdown_plan_query(plan);
   query->skip_limit_applied = true;
   assert_false(pushdown_plan_skip_limit_applied(plan));
   pushdown_plan_destroy(plan);
}

static void
test_describe(void **state)
{
   fe_plan_t *plan;
   bson_t out = BSON_INITIALIZER;
   (void) state;

   plan = plan_for("{\"_id\": 5}", -1, 0, 0, ALL_CAPS);
   pushdown_plan_query(plan)->terms[0].applied = true;
   pushdown_plan_query(plan)->sort_applied = true;
   pushdown_plan_describe(plan, &out);
   tu_assert_doc_eq(&out, "{\"pushedTerms\": [{\"path\": \"_id\", \"applied\": true}], "
                          "\"sortPushdown\": true, \"limitPushdown\": false}");
   bson_destroy(&out);
   pushdown_plan_destroy(plan);

   bson_init(&out);
   plan = plan_for("{}", 0, 1, 1, ALL_CAPS);
   pushdown_plan_query(plan)->skip_limit_applied = true;
   pushdown_plan_describe(plan, &out);
   tu_assert_doc_eq(&out, "{\"pushedTerms\": [], \"sortPushdown\": false, "
                          "\"limitPushdown\": true}");
   bson_destroy(&out);
   pushdown_plan_destroy(plan);

   pushdown_plan_destroy(NULL);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_id_equality),
      cmocka_unit_test(test_not_offered),
      cmocka_unit_test(test_terms_need_capability),
      cmocka_unit_test(test_skip_limit),
      cmocka_unit_test(test_natural_sort),
      cmocka_unit_test(test_skip_limit_applied),
      cmocka_unit_test(test_describe),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
