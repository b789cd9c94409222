/*
 * test_idkey.c: canonical _id keys (core/bson/idkey.c): equal under MongoDB's rules exactly
 * when byte-equal.
 */
#include "test_util.h"

#include "bson/compare.h"
#include "bson/idkey.h"

#define DEC(s) "{\"$numberDecimal\": \"" s "\"}"
#define LONG(s) "{\"$numberLong\": \"" s "\"}"
#define DBL(s) "{\"$numberDouble\": \"" s "\"}"

/* Keys a value given as extended JSON; the caller frees *key. */
static bool
key_of(const char *value, uint8_t **key, size_t *len)
{
   char json[512];
   snprintf(json, sizeof json, "{\"v\": %s}", value);
   bson_t *doc = tu_json(json);
   bson_iter_t it;
   assert_true(bson_iter_init_find(&it, doc, "v"));
   bool ok = idkey_encode(&it, key, len);
   bson_destroy(doc);
   return ok;
}

static bool
same_key(const char *a, const char *b)
{
   uint8_t *ka, *kb;
   size_t la, lb;
   assert_true(key_of(a, &ka, &la));
   assert_true(key_of(b, &kb, &lb));
   bool same = la == lb && memcmp(ka, kb, la) == 0;
   bson_free(ka);
   bson_free(kb);
   return same;
}

#define SAME(a, b) assert_true(same_key(a, b))
#define DIFF(a, b) assert_false(same_key(a, b))

static void
test_numbers(void **state)
{
   (void) state;
   SAME("1", LONG("1"));
   SAME("1", "1.0");
   SAME("1", DEC("1"));
   SAME("1", DEC("1.0"));
   SAME("1", DEC("0.0001E4"));
   SAME("100", DEC("1E2"));
   SAME("0", DBL("-0.0"));
   SAME("0", DEC("-0E+10"));
   SAME("0.5", DEC("0.50"));
   SAME("-2.25", DEC("-2.250"));
   SAME(DBL("NaN"), DEC("NaN"));
   SAME(DBL("Infinity"), DEC("Infinity"));
   SAME(LONG("9223372036854775807"), DEC("9223372036854775807"));
   SAME(LONG("9007199254740992"), "9007199254740992.0");
   SAME("1e300", "1e300");
   DIFF(LONG("9007199254740993"), "9007199254740992.0");
   DIFF(LONG("9223372036854775807"), "9223372036854775808.0");
   DIFF("1", "2");
   DIFF("1", DEC("1.0000000000000000000000000000001"));
   DIFF(DBL("Infinity"), DBL("-Infinity"));
   DIFF(DBL("NaN"), "0");
   /* 0.1 as a double is not the decimal 0.1. */
   DIFF("0.1", DEC("0.1"));
   DIFF("-1", "1");
}

static void
test_other_types(void **state)
{
   (void) state;
   SAME("\"abc\"", "\"abc\"");
   SAME("\"abc\"", "{\"$symbol\": \"abc\"}");
   DIFF("\"abc\"", "\"abd\"");
   DIFF("\"a\"", "\"a\\u0000\"");
   DIFF("\"1\"", "1");
   DIFF("null", "{\"$minKey\": 1}");
   DIFF("null", "{\"$maxKey\": 1}");
   DIFF("false", "0");
   DIFF("true", "false");
   SAME("{\"$oid\": \"5f0000000000000000000001\"}", "{\"$oid\": \"5f0000000000000000000001\"}");
   DIFF("{\"$oid\": \"5f0000000000000000000001\"}", "{\"$oid\": \"5f0000000000000000000002\"}");
   DIFF("{\"$date\": {\"$numberLong\": \"1\"}}", "1");
   DIFF("{\"$date\": {\"$numberLong\": \"1\"}}", "{\"$date\": {\"$numberLong\": \"2\"}}");
   DIFF("{\"$timestamp\": {\"t\": 1, \"i\": 2}}", "{\"$timestamp\": {\"t\": 2, \"i\": 1}}");
   DIFF("{\"$binary\": {\"base64\": \"AQI=\", \"subType\": \"00\"}}",
        "{\"$binary\": {\"base64\": \"AQI=\", \"subType\": \"80\"}}");
   SAME("{\"$binary\": {\"base64\": \"AQI=\", \"subType\": \"04\"}}",
        "{\"$binary\": {\"base64\": \"AQI=\", \"subType\": \"04\"}}");
}

static void
test_documents(void **state)
{
   (void) state;
   SAME("{\"a\": 1, \"b\": \"x\"}", "{\"a\": 1.0, \"b\": \"x\"}");
   SAME("{\"a\": {\"b\": [1, 2]}}", "{\"a\": {\"b\": [" LONG("1") ", " DEC("2.0") "]}}");
   /* Field order and names matter, as in MongoDB. */
   DIFF("{\"a\": 1, \"b\": 2}", "{\"b\": 2, \"a\": 1}");
   DIFF("{\"a\": 1}", "{\"b\": 1}");
   DIFF("{\"a\": 1}", "{\"a\": 1, \"b\": 1}");
   DIFF("{}", "{\"\": null}");
   /* No collision between names and values running into each other. */
   DIFF("{\"ab\": \"c\"}", "{\"a\": \"bc\"}");
   DIFF("{\"a\": [1, 2]}", "{\"a\": [1], \"b\": 2}");
   DIFF("{\"a\": [[1], 2]}", "{\"a\": [[1, 2]]}");
}

static void
test_rejected_types(void **state)
{
   (void) state;
   uint8_t *key = (uint8_t *) "x";
   size_t len = 9;
   assert_false(key_of("[1]", &key, &len));
   assert_null(key);
   assert_int_equal(len, 0);
   assert_false(
      key_of("{\"$regularExpression\": {\"pattern\": \"a\", \"options\": \"\"}}", &key, &len));
   assert_false(key_of("{\"$undefined\": true}", &key, &len));
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_numbers),
      cmocka_unit_test(test_other_types),
      cmocka_unit_test(test_documents),
      cmocka_unit_test(test_rejected_types),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
