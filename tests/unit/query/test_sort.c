/*
 * test_sort.c: sort specifications and document order (core/query/sort.c).
 */
#include "../bson/test_util.h"

#include "query/sort.h"

/* Sorts the documents of a JSON array (each with an "id") by spec and checks the order of ids,
 * given as a comma-separated string. */
static void
check_sort(const char *spec_json, const char *docs_json, const char *expected_ids)
{
   fe_error_t error = {0};
   bson_t *spec = tu_json(spec_json);
   char wrapped[4096];
   snprintf(wrapped, sizeof wrapped, "{\"d\": %s}", docs_json);
   bson_t *all = tu_json(wrapped);
   bson_t docs_storage[32];
   const bson_t *docs[32];
   size_t n = 0;
   bson_iter_t it, arr;
   char got[256] = "";

   fe_sort_t *sort = sort_compile(spec, &error);
   if (!sort) {
      fail_msg("sort %s failed to compile: %s", spec_json, error.message);
   }
   assert_true(bson_iter_init_find(&it, all, "d"));
   assert_true(bson_iter_recurse(&it, &arr));
   while (bson_iter_next(&arr)) {
      uint32_t len;
      const uint8_t *data;
      bson_iter_document(&arr, &len, &data);
      assert_true(bson_init_static(&docs_storage[n], data, len));
      docs[n] = &docs_storage[n];
      n++;
   }
   sort_documents(sort, docs, n);
   for (size_t i = 0; i < n; i++) {
      bson_iter_t id;
      assert_true(bson_iter_init_find(&id, docs[i], "id"));
      snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", i ? "," : "",
               bson_iter_int32(&id));
   }
   if (strcmp(got, expected_ids) != 0) {
      fail_msg("sort %s of %s: got %s, expected %s", spec_json, docs_json, got, expected_ids);
   }
   sort_destroy(sort);
   bson_destroy(spec);
   bson_destroy(all);
}

static void
test_simple(void **state)
{
   (void) state;
   check_sort("{\"a\": 1}", "[{\"id\": 1, \"a\": 3}, {\"id\": 2, \"a\": 1}, {\"id\": 3, \"a\": 2}]",
              "2,3,1");
   check_sort("{\"a\": -1}",
              "[{\"id\": 1, \"a\": 3}, {\"id\": 2, \"a\": 1}, {\"id\": 3, \"a\": 2}]", "1,3,2");
   /* Numbers of every type compare by value. */
   check_sort("{\"a\": 1}",
              "[{\"id\": 1, \"a\": {\"$numberDecimal\": \"2.5\"}}, {\"id\": 2, \"a\": "
              "{\"$numberLong\": \"2\"}},"
              " {\"id\": 3, \"a\": 2.75}, {\"id\": 4, \"a\": {\"$numberDouble\": \"NaN\"}}]",
              "4,2,1,3");
   /* Stable: equal keys keep their input order. */
   check_sort("{\"a\": 1}",
              "[{\"id\": 1, \"a\": 1}, {\"id\": 2, \"a\": 1.0}, {\"id\": 3, \"a\": 0}]", "3,1,2");
   check_sort("{\"a\": -1}",
              "[{\"id\": 1, \"a\": 1}, {\"id\": 2, \"a\": 1.0}, {\"id\": 3, \"a\": 0}]", "1,2,3");
}

static void
test_types_and_missing(void **state)
{
   (void) state;
   /* Missing sorts as null, before numbers; strings after numbers; objects after strings. */
   check_sort(
      "{\"a\": 1}",
      "[{\"id\": 1, \"a\": \"x\"}, {\"id\": 2, \"a\": 5}, {\"id\": 3}, {\"id\": 4, \"a\": null},"
      " {\"id\": 5, \"a\": {}}, {\"id\": 6, \"a\": true}, {\"id\": 7, \"a\": {\"$minKey\": 1}}]",
      "7,3,4,2,1,5,6");
   check_sort(
      "{\"a\": -1}",
      "[{\"id\": 1, \"a\": \"x\"}, {\"id\": 2, \"a\": 5}, {\"id\": 3}, {\"id\": 4, \"a\": null}]",
      "1,2,3,4");
   check_sort(
      "{\"a.b\": 1}",
      "[{\"id\": 1, \"a\": {\"b\": 2}}, {\"id\": 2, \"a\": 7}, {\"id\": 3, \"a\": {\"b\": 1}}]",
      "2,3,1");
}

static void
test_arrays(void **state)
{
   (void) state;
   /* Ascending uses each array's smallest element, descending its largest. */
   check_sort("{\"a\": 1}",
              "[{\"id\": 1, \"a\": [3, 9]}, {\"id\": 2, \"a\": [5, 6]}, {\"id\": 3, \"a\": 4}]",
              "1,3,2");
   check_sort("{\"a\": -1}",
              "[{\"id\": 1, \"a\": [3, 9]}, {\"id\": 2, \"a\": [5, 6]}, {\"id\": 3, \"a\": 4}]",
              "1,2,3");
   /* An empty array sorts before null and missing. */
   check_sort("{\"a\": 1}",
              "[{\"id\": 1, \"a\": null}, {\"id\": 2, \"a\": []}, {\"id\": 3, \"a\": 0}]", "2,1,3");
   /* Arrays of documents along a path. */
   check_sort("{\"a.b\": 1}",
              "[{\"id\": 1, \"a\": [{\"b\": 5}, {\"b\": 2}]}, {\"id\": 2, \"a\": [{\"b\": 3}]}]",
              "1,2");
   check_sort("{\"a.b\": -1}",
              "[{\"id\": 1, \"a\": [{\"b\": 5}, {\"b\": 2}]}, {\"id\": 2, \"a\": [{\"b\": 3}]}]",
              "1,2");
   /* Mixed types inside an array: the smallest by BSON order. */
   check_sort("{\"a\": 1}", "[{\"id\": 1, \"a\": [\"s\", 10]}, {\"id\": 2, \"a\": [5]}]", "2,1");
   check_sort("{\"a\": -1}", "[{\"id\": 1, \"a\": [\"s\", 10]}, {\"id\": 2, \"a\": [\"t\"]}]",
              "2,1");
}

static void
test_compound(void **state)
{
   (void) state;
   check_sort("{\"a\": 1, \"b\": -1}",
              "[{\"id\": 1, \"a\": 1, \"b\": 1}, {\"id\": 2, \"a\": 0, \"b\": 1}, {\"id\": 3, "
              "\"a\": 1, \"b\": 2}]",
              "2,3,1");
   check_sort("{\"b\": 1, \"a\": 1}",
              "[{\"id\": 1, \"a\": 1, \"b\": 1}, {\"id\": 2, \"a\": 0, \"b\": 1}, {\"id\": 3, "
              "\"a\": 1, \"b\": 0}]",
              "3,2,1");
   check_sort("{}", "[{\"id\": 2}, {\"id\": 1}]", "2,1");
   check_sort("{\"a\": 1.0}", "[{\"id\": 2, \"a\": 2}, {\"id\": 1, \"a\": 1}]", "1,2");
   check_sort("{\"a\": {\"$numberLong\": \"-1\"}}",
              "[{\"id\": 1, \"a\": 1}, {\"id\": 2, \"a\": 2}]", "2,1");
}

static void
test_natural(void **state)
{
   (void) state;
   fe_error_t error = {0};
   int direction = 0;
   bson_t *spec = tu_json("{\"$natural\": -1}");
   fe_sort_t *sort = sort_compile(spec, &error);
   assert_non_null(sort);
   assert_true(sort_is_natural(sort, &direction));
   assert_int_equal(direction, -1);
   sort_destroy(sort);
   bson_destroy(spec);
   check_sort("{\"$natural\": -1}", "[{\"id\": 1}, {\"id\": 2}, {\"id\": 3}]", "3,2,1");
   check_sort("{\"$natural\": 1}", "[{\"id\": 1}, {\"id\": 2}, {\"id\": 3}]", "1,2,3");

   spec = tu_json("{\"a\": 1}");
   sort = sort_compile(spec, &error);
   assert_false(sort_is_natural(sort, &direction));
   sort_destroy(sort);
   bson_destroy(spec);
}

static void
test_errors(void **state)
{
   (void) state;
   const char *bad[] = {
      "{\"a\": 2}",        "{\"a\": 0}",    "{\"a\": \"asc\"}",
      "{\"a\": 1.5}",      "{\"a\": true}", "{\"a\": {\"$meta\": \"textScore\"}}",
      "{\"$foo\": 1}",     "{\"a..b\": 1}", "{\"\": 1}",
      "{\"$natural\": 2}",
   };
   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      fe_error_t error = {0};
      bson_t *spec = tu_json(bad[i]);
      fe_sort_t *sort = sort_compile(spec, &error);
      if (sort) {
         fail_msg("sort %s compiled", bad[i]);
      }
      assert_int_equal(error.code, 2);
      bson_destroy(spec);
   }
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_simple),  cmocka_unit_test(test_types_and_missing),
      cmocka_unit_test(test_arrays),  cmocka_unit_test(test_compound),
      cmocka_unit_test(test_natural), cmocka_unit_test(test_errors),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
