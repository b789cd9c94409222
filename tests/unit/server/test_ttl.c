/*
 * test_ttl.c: the TTL monitor's decision of which documents expired (core/server/ttl.c,
 * ttl_expiry_filter()), run through the filter engine as the monitor's deletes run it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../bson/test_util.h"

#include "query/filter.h"
#include "server/ttl.h"

/* 2024-01-01T00:00:00Z */
#define NOW_MS INT64_C(1704067200000)

/* Whether doc (JSON) has expired at NOW_MS under spec (JSON); fails the test when spec is not
 * a usable TTL index. */
static bool
expired(const char *spec_json, const char *doc_json)
{
   bson_t *spec = tu_json(spec_json);
   bson_t *doc = tu_json(doc_json);
   bson_t filter;
   fe_error_t error = {0};
   fe_filter_t *compiled = NULL;
   fe_match_info_t info = {-1};
   bool matched;

   assert_true(ttl_expiry_filter(spec, NOW_MS, &filter, &error));
   compiled = filter_compile(&filter, &error);
   assert_non_null(compiled);
   matched = filter_match(compiled, doc, &info);
   filter_destroy(compiled);
   bson_destroy(&filter);
   bson_destroy(doc);
   bson_destroy(spec);
   return matched;
}

/* The error code of ttl_expiry_filter() for spec (JSON). */
static int32_t
refused(const char *spec_json)
{
   bson_t *spec = tu_json(spec_json);
   bson_t filter;
   fe_error_t error = {0};
   bool ok = ttl_expiry_filter(spec, NOW_MS, &filter, &error);
   bson_destroy(&filter);
   bson_destroy(spec);
   return ok ? 0 : error.code;
}

#define SPEC_0 "{\"v\": 2, \"key\": {\"t\": 1}, \"name\": \"t_1\", \"expireAfterSeconds\": 0}"
#define SPEC_60 "{\"v\": 2, \"key\": {\"t\": 1}, \"name\": \"t_1\", \"expireAfterSeconds\": 60}"

/* Dates in canonical extended JSON, relative to NOW_MS. */
#define DATE(ms) "{\"$date\": {\"$numberLong\": \"" #ms "\"}}"

static void
test_dates(void **state)
{
   (void) state;
   assert_true(expired(SPEC_0, "{\"t\": " DATE(1704067199999) "}"));
   /* The cutoff itself is included, as in mongod's index scan. */
   assert_true(expired(SPEC_0, "{\"t\": " DATE(1704067200000) "}"));
   assert_false(expired(SPEC_0, "{\"t\": " DATE(1704067200001) "}"));
   /* Before the epoch. */
   assert_true(expired(SPEC_0, "{\"t\": " DATE(-1000) "}"));
   /* expireAfterSeconds moves the cutoff back. */
   assert_true(expired(SPEC_60, "{\"t\": " DATE(1704067140000) "}"));
   assert_false(expired(SPEC_60, "{\"t\": " DATE(1704067140001) "}"));
}

static void
test_non_dates_never_expire(void **state)
{
   (void) state;
   assert_false(expired(SPEC_0, "{}"));
   assert_false(expired(SPEC_0, "{\"t\": null}"));
   assert_false(expired(SPEC_0, "{\"t\": 0}"));
   assert_false(expired(SPEC_0, "{\"t\": -1.5}"));
   assert_false(expired(SPEC_0, "{\"t\": \"2000-01-01\"}"));
   assert_false(expired(SPEC_0, "{\"t\": {\"$timestamp\": {\"t\": 1, \"i\": 1}}}"));
   assert_false(expired(SPEC_0, "{\"t\": {\"$oid\": \"000000000000000000000000\"}}"));
   assert_false(expired(SPEC_0, "{\"t\": {\"d\": " DATE(0) "}}"));
   assert_false(expired(SPEC_0, "{\"t\": {\"$minKey\": 1}}"));
   assert_false(expired(SPEC_0, "{\"other\": " DATE(0) "}"));
}

static void
test_arrays(void **state)
{
   (void) state;
   /* The earliest date counts. */
   assert_true(expired(SPEC_0, "{\"t\": [" DATE(1804067200000) ", " DATE(0) "]}"));
   assert_true(expired(SPEC_0, "{\"t\": [\"x\", 1, null, " DATE(0) "]}"));
   assert_false(expired(SPEC_0, "{\"t\": [" DATE(1804067200000) ", " DATE(1904067200000) "]}"));
   assert_false(expired(SPEC_0, "{\"t\": []}"));
   assert_false(expired(SPEC_0, "{\"t\": [\"x\", 1]}"));
   /* An array inside the array is not a date (nor is it an index key holding one). */
   assert_false(expired(SPEC_0, "{\"t\": [[" DATE(0) "]]}"));
}

static void
test_dotted_path_and_partial_filter(void **state)
{
   static const char *dotted =
      "{\"v\": 2, \"key\": {\"s.t\": -1}, \"name\": \"s.t_-1\", \"expireAfterSeconds\": 0}";
   static const char *partial = "{\"v\": 2, \"key\": {\"t\": 1}, \"name\": \"t_1\", "
                                "\"expireAfterSeconds\": 0, "
                                "\"partialFilterExpression\": {\"kind\": \"temp\"}}";
   (void) state;
   assert_true(expired(dotted, "{\"s\": {\"t\": " DATE(0) "}}"));
   assert_true(expired(dotted, "{\"s\": [{\"t\": 1}, {\"t\": " DATE(0) "}]}"));
   assert_false(expired(dotted, "{\"s\": {\"u\": " DATE(0) "}}"));
   assert_true(expired(partial, "{\"kind\": \"temp\", \"t\": " DATE(0) "}"));
   assert_false(expired(partial, "{\"kind\": \"keep\", \"t\": " DATE(0) "}"));
   assert_false(expired(partial, "{\"t\": " DATE(0) "}"));
}

static void
test_catalog_values(void **state)
{
   (void) state;
   /* What a collMod may have stored: a double counts by its whole seconds. */
   assert_true(expired("{\"key\": {\"t\": 1}, \"expireAfterSeconds\": 60.9}",
                       "{\"t\": " DATE(1704067140000) "}"));
   assert_false(expired("{\"key\": {\"t\": 1}, \"expireAfterSeconds\": {\"$numberLong\": \"60\"}}",
                        "{\"t\": " DATE(1704067140001) "}"));
   /* Unusable specifications expire nothing. */
   assert_int_equal(refused("{\"key\": {\"t\": 1}}"), FE_BadValue);
   assert_int_equal(refused("{\"expireAfterSeconds\": 1}"), FE_BadValue);
   assert_int_equal(refused("{\"key\": {\"a\": 1, \"b\": 1}, \"expireAfterSeconds\": 1}"),
                    FE_BadValue);
   assert_int_equal(refused("{\"key\": {\"t\": 1}, \"expireAfterSeconds\": -1}"),
                    FE_CannotCreateIndex);
   assert_int_equal(refused("{\"key\": {\"t\": 1}, \"expireAfterSeconds\": \"1\"}"),
                    FE_CannotCreateIndex);
   assert_int_equal(refused("{\"key\": {\"t\": 1}, \"expireAfterSeconds\": {\"$numberDouble\": "
                            "\"NaN\"}}"),
                    FE_CannotCreateIndex);
   assert_int_equal(refused("{\"key\": {\"t\": 1}, \"expireAfterSeconds\": {\"$numberLong\": "
                            "\"2147483648\"}}"),
                    FE_CannotCreateIndex);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dates),          cmocka_unit_test(test_non_dates_never_expire),
      cmocka_unit_test(test_arrays),         cmocka_unit_test(test_dotted_path_and_partial_filter),
      cmocka_unit_test(test_catalog_values),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
