/*
 * test_projection.c: find projections (core/query/projection.c).
 */
#include "../bson/test_util.h"

#include "query/projection.h"

/* Projects doc by spec with positional index pos and compares with expected (JSON). */
static void
check(const char *spec_json, const char *doc_json, int32_t pos, const char *expected)
{
   fe_error_t error = {0};
   bson_t *spec = tu_json(spec_json);
   bson_t *doc = tu_json(doc_json);
   fe_match_info_t info = {pos};
   bson_t out;
   fe_projection_t *proj = projection_compile(spec, &error);
   if (!proj) {
      fail_msg("projection %s failed to compile: %s", spec_json, error.message);
   }
   if (!projection_apply(proj, doc, &info, &out, &error)) {
      fail_msg("projection %s of %s failed: %s", spec_json, doc_json, error.message);
   }
   tu_assert_doc_eq(&out, expected);
   bson_destroy(&out);
   projection_destroy(proj);
   bson_destroy(spec);
   bson_destroy(doc);
}

#define CHECK(spec, doc, expected) check(spec, doc, -1, expected)

static void
test_inclusion_exclusion(void **state)
{
   (void) state;
   const char *doc = "{\"_id\": 1, \"a\": 1, \"b\": {\"c\": 2, \"d\": 3}, \"e\": [1, 2]}";
   CHECK("{}", doc, doc);
   CHECK("{\"a\": 1}", doc, "{\"_id\": 1, \"a\": 1}");
   CHECK("{\"a\": true, \"e\": 5}", doc, "{\"_id\": 1, \"a\": 1, \"e\": [1, 2]}");
   CHECK("{\"e\": 1, \"a\": 1}", doc, "{\"_id\": 1, \"a\": 1, \"e\": [1, 2]}");
   CHECK("{\"a\": 1, \"_id\": 0}", doc, "{\"a\": 1}");
   CHECK("{\"_id\": 0}", doc, "{\"a\": 1, \"b\": {\"c\": 2, \"d\": 3}, \"e\": [1, 2]}");
   CHECK("{\"_id\": 1}", doc, "{\"_id\": 1}");
   CHECK("{\"a\": 0}", doc, "{\"_id\": 1, \"b\": {\"c\": 2, \"d\": 3}, \"e\": [1, 2]}");
   CHECK("{\"a\": 0, \"_id\": 1}", doc, "{\"_id\": 1, \"b\": {\"c\": 2, \"d\": 3}, \"e\": [1, 2]}");
   CHECK("{\"a\": false, \"_id\": 0}", doc, "{\"b\": {\"c\": 2, \"d\": 3}, \"e\": [1, 2]}");
   CHECK("{\"zz\": 1}", doc, "{\"_id\": 1}");
   CHECK("{\"zz\": 0}", doc, doc);
   /* Dotted and nested paths. */
   CHECK("{\"b.c\": 1}", doc, "{\"_id\": 1, \"b\": {\"c\": 2}}");
   CHECK("{\"b\": {\"c\": 1}}", doc, "{\"_id\": 1, \"b\": {\"c\": 2}}");
   CHECK("{\"b.c\": 0}", doc, "{\"_id\": 1, \"a\": 1, \"b\": {\"d\": 3}, \"e\": [1, 2]}");
   CHECK("{\"a.c\": 1}", doc, "{\"_id\": 1}");
   CHECK("{\"a.c\": 0}", doc, doc);
   /* Through arrays of documents. */
   const char *arr = "{\"_id\": 1, \"a\": [{\"b\": 1, \"c\": 2}, 5, {\"c\": 3}, [{\"b\": 4}]]}";
   CHECK("{\"a.b\": 1}", arr, "{\"_id\": 1, \"a\": [{\"b\": 1}, {}, [{\"b\": 4}]]}");
   CHECK("{\"a.b\": 0}", arr, "{\"_id\": 1, \"a\": [{\"c\": 2}, 5, {\"c\": 3}, [{}]]}");
   /* Field order follows the document. */
   CHECK("{\"b\": 1, \"a\": 1}", "{\"a\": 1, \"b\": 2, \"_id\": 3}",
         "{\"a\": 1, \"b\": 2, \"_id\": 3}");
}

static void
test_literals(void **state)
{
   (void) state;
   const char *doc = "{\"_id\": 1, \"a\": 1, \"b\": 2}";
   CHECK("{\"a\": 1, \"x\": \"hi\"}", doc, "{\"_id\": 1, \"a\": 1, \"x\": \"hi\"}");
   CHECK("{\"x\": null}", doc, "{\"_id\": 1, \"x\": null}");
   CHECK("{\"x\": {\"$literal\": 0}}", doc, "{\"_id\": 1, \"x\": 0}");
   CHECK("{\"a\": \"new\"}", doc, "{\"_id\": 1, \"a\": \"new\"}");
   CHECK("{\"x.y\": \"v\"}", doc, "{\"_id\": 1, \"x\": {\"y\": \"v\"}}");
}

static void
test_slice(void **state)
{
   (void) state;
   const char *doc = "{\"_id\": 1, \"a\": [1, 2, 3, 4, 5], \"b\": 7}";
   CHECK("{\"a\": {\"$slice\": 2}}", doc, "{\"_id\": 1, \"a\": [1, 2], \"b\": 7}");
   CHECK("{\"a\": {\"$slice\": -2}}", doc, "{\"_id\": 1, \"a\": [4, 5], \"b\": 7}");
   CHECK("{\"a\": {\"$slice\": 0}}", doc, "{\"_id\": 1, \"a\": [], \"b\": 7}");
   CHECK("{\"a\": {\"$slice\": 10}}", doc, doc);
   CHECK("{\"a\": {\"$slice\": -10}}", doc, doc);
   CHECK("{\"a\": {\"$slice\": [1, 2]}}", doc, "{\"_id\": 1, \"a\": [2, 3], \"b\": 7}");
   CHECK("{\"a\": {\"$slice\": [-2, 1]}}", doc, "{\"_id\": 1, \"a\": [4], \"b\": 7}");
   CHECK("{\"a\": {\"$slice\": [-20, 2]}}", doc, "{\"_id\": 1, \"a\": [1, 2], \"b\": 7}");
   CHECK("{\"a\": {\"$slice\": [9, 2]}}", doc, "{\"_id\": 1, \"a\": [], \"b\": 7}");
   CHECK("{\"b\": {\"$slice\": 1}}", doc, doc);
   CHECK("{\"a\": {\"$slice\": 1}, \"b\": 1}", doc, "{\"_id\": 1, \"a\": [1], \"b\": 7}");
   CHECK("{\"a\": {\"$slice\": 1}, \"b\": 0}", doc, "{\"_id\": 1, \"a\": [1]}");
   CHECK("{\"x.a\": {\"$slice\": 1}}", "{\"x\": {\"a\": [1, 2], \"z\": 0}}",
         "{\"x\": {\"a\": [1], \"z\": 0}}");
}

static void
test_positional_and_elem_match(void **state)
{
   (void) state;
   const char *doc = "{\"_id\": 1, \"a\": [10, 20, 30], \"b\": 5}";
   check("{\"a.$\": 1}", doc, 1, "{\"_id\": 1, \"a\": [20]}");
   check("{\"a.$\": 1, \"b\": 1}", doc, 2, "{\"_id\": 1, \"a\": [30], \"b\": 5}");
   const char *docs = "{\"_id\": 1, \"g\": [{\"s\": 1, \"t\": 2}, {\"s\": 3, \"t\": 4}]}";
   check("{\"g.$\": 1}", docs, 1, "{\"_id\": 1, \"g\": [{\"s\": 3, \"t\": 4}]}");
   check("{\"g.s.$\": 1}", docs, 0, "{\"_id\": 1, \"g\": [{\"s\": 1}]}");
   check("{\"x.a.$\": 1}", "{\"x\": {\"a\": [7, 8]}}", 1, "{\"x\": {\"a\": [8]}}");

   /* Without a positional index from the query the projection fails. */
   fe_error_t error = {0};
   bson_t *spec = tu_json("{\"a.$\": 1}");
   bson_t *d = tu_json(doc);
   fe_match_info_t info = {-1};
   bson_t out;
   fe_projection_t *proj = projection_compile(spec, &error);
   assert_non_null(proj);
   assert_false(projection_apply(proj, d, &info, &out, &error));
   assert_int_equal(error.code, 2);
   assert_true(bson_empty(&out));
   bson_destroy(&out);
   info.positional_index = 7;
   assert_false(projection_apply(proj, d, &info, &out, &error));
   bson_destroy(&out);
   projection_destroy(proj);
   bson_destroy(spec);
   bson_destroy(d);

   const char *school = "{\"_id\": 1, \"zip\": \"63109\", \"students\": [{\"name\": \"john\", "
                        "\"school\": 102, \"age\": 10},"
                        " {\"name\": \"jess\", \"school\": 102, \"age\": 11}, {\"name\": \"jeff\", "
                        "\"school\": 108, \"age\": 15}]}";
   CHECK("{\"students\": {\"$elemMatch\": {\"school\": 102}}}", school,
         "{\"_id\": 1, \"students\": [{\"name\": \"john\", \"school\": 102, \"age\": 10}]}");
   CHECK("{\"students\": {\"$elemMatch\": {\"school\": 102, \"age\": {\"$gt\": 10}}}, \"zip\": 1}",
         school,
         "{\"_id\": 1, \"zip\": \"63109\", \"students\": [{\"name\": \"jess\", \"school\": 102, "
         "\"age\": 11}]}");
   CHECK("{\"students\": {\"$elemMatch\": {\"school\": 999}}}", school, "{\"_id\": 1}");
   CHECK("{\"zip\": {\"$elemMatch\": {\"a\": 1}}}", school, "{\"_id\": 1}");
}

typedef struct error_case {
   const char *spec;
   int32_t code;
   const char *message;
} error_case_t;

static void
test_errors(void **state)
{
   (void) state;
   static const error_case_t cases[] = {
      {"{\"a\": 1, \"b\": 0}", 31254, "Cannot do exclusion on field b in inclusion projection"},
      {"{\"a\": 0, \"b\": 1}", 31253, "Cannot do inclusion on field b in exclusion projection"},
      {"{\"a\": 0, \"b\": \"lit\"}", 31253, "inclusion"},
      {"{\"a\": 0, \"b\": {\"$elemMatch\": {\"x\": 1}}}", 31253, "inclusion"},
      {"{\"a\": 1, \"a.b\": 1}", 31249, "Path collision at a.b"},
      {"{\"a.b\": 1, \"a\": 1}", 31250, "Path collision at a"},
      {"{\"a.$\": 1, \"b.$\": 1}", 2, "more than one positional"},
      {"{\"a.$.b\": 1}", 2, "positional"},
      {"{\"a\": {\"$slice\": \"x\"}}", 2, "$slice"},
      {"{\"a\": {\"$slice\": [1, 0]}}", 2, "$slice limit must be positive"},
      {"{\"a\": {\"$slice\": [1]}}", 2, "$slice"},
      {"{\"a.b\": {\"$elemMatch\": {\"x\": 1}}}", 2, "nested field"},
      {"{\"a\": {\"$elemMatch\": 1}}", 2, "object required"},
      {"{\"a\": {\"$elemMatch\": {\"$foo\": 1}}}", 2, "unknown operator"},
      {"{\"a\": {\"$foo\": 1}}", 2, "not supported"},
      {"{\"a\": {}}", 2, "empty sub-projection"},
      {"{\"$a\": 1}", 2, "may not start with '$'"},
      {"{\"a..b\": 1}", 2, "empty"},
   };
   int failures = 0;
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      fe_error_t error = {0};
      bson_t *spec = tu_json(cases[i].spec);
      fe_projection_t *proj = projection_compile(spec, &error);
      if (proj) {
         print_error("case %zu: %s compiled\n", i, cases[i].spec);
         failures++;
      } else if (error.code != cases[i].code || !strstr(error.message, cases[i].message)) {
         print_error("case %zu: %s: got %d '%s', expected %d '%s'\n", i, cases[i].spec, error.code,
                     error.message, cases[i].code, cases[i].message);
         failures++;
      }
      projection_destroy(proj);
      bson_destroy(spec);
   }
   assert_int_equal(failures, 0);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_inclusion_exclusion),
      cmocka_unit_test(test_literals),
      cmocka_unit_test(test_slice),
      cmocka_unit_test(test_positional_and_elem_match),
      cmocka_unit_test(test_errors),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
