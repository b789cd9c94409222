/*
 * test_compare.c: BSON comparison order (core/bson/compare.c, core/bson/numeric.c).
 */
#include "test_util.h"

#include "bson/compare.h"
#include "bson/numeric.h"

/* Compares the values a and b, each given as extended JSON ("1", "{\"$numberLong\": \"1\"}"). */
static int
cmp(const char *a, const char *b)
{
   char ja[512], jb[512];
   snprintf(ja, sizeof ja, "{\"v\": %s}", a);
   snprintf(jb, sizeof jb, "{\"v\": %s}", b);
   bson_t *da = tu_json(ja), *db = tu_json(jb);
   bson_iter_t ia, ib;
   assert_true(bson_iter_init_find(&ia, da, "v"));
   assert_true(bson_iter_init_find(&ib, db, "v"));
   int c = compare_values(&ia, &ib);
   int r = compare_values(&ib, &ia);
   /* The order is antisymmetric. */
   assert_int_equal(c < 0 ? -1 : c > 0, r < 0 ? 1 : r > 0 ? -1 : 0);
   assert_int_equal(compare_values_equal(&ia, &ib), c == 0);
   bson_destroy(da);
   bson_destroy(db);
   return c < 0 ? -1 : c > 0;
}

#define LT(a, b) assert_int_equal(cmp(a, b), -1)
#define EQ(a, b) assert_int_equal(cmp(a, b), 0)
#define GT(a, b) assert_int_equal(cmp(a, b), 1)

#define DEC(s) "{\"$numberDecimal\": \"" s "\"}"
#define LONG(s) "{\"$numberLong\": \"" s "\"}"
#define DBL(s) "{\"$numberDouble\": \"" s "\"}"
#define INT(s) "{\"$numberInt\": \"" s "\"}"

static void
test_type_brackets(void **state)
{
   (void) state;
   const char *ordered[] = {
      "{\"$minKey\": 1}",
      "null",
      "-5",
      "\"\"",
      "{}",
      "[]",
      "{\"$binary\": {\"base64\": \"\", \"subType\": \"00\"}}",
      "{\"$oid\": \"000000000000000000000000\"}",
      "false",
      "{\"$date\": {\"$numberLong\": \"-1000\"}}",
      "{\"$timestamp\": {\"t\": 0, \"i\": 0}}",
      "{\"$regularExpression\": {\"pattern\": \"\", \"options\": \"\"}}",
      "{\"$maxKey\": 1}",
   };
   size_t n = sizeof ordered / sizeof ordered[0];
   for (size_t i = 0; i < n; i++) {
      EQ(ordered[i], ordered[i]);
      for (size_t j = i + 1; j < n; j++) {
         LT(ordered[i], ordered[j]);
      }
   }
   /* A huge number is still below the empty string; a string below any object. */
   LT(DBL("Infinity"), "\"\"");
   LT("\"zzz\"", "{}");
   LT("{\"a\": {\"$maxKey\": 1}}", "[]");
   LT("true", "{\"$date\": {\"$numberLong\": \"-100000\"}}");
   assert_int_equal(compare_type_bracket(BSON_TYPE_INT32),
                    compare_type_bracket(BSON_TYPE_DECIMAL128));
   assert_int_equal(compare_type_bracket(BSON_TYPE_UTF8), compare_type_bracket(BSON_TYPE_SYMBOL));
   assert_true(compare_type_bracket(BSON_TYPE_NULL) != compare_type_bracket(BSON_TYPE_INT32));
}

static void
test_numbers_across_types(void **state)
{
   (void) state;
   EQ(INT("1"), LONG("1"));
   EQ(INT("1"), "1.0");
   EQ(LONG("1"), DEC("1.0"));
   EQ("1.0", DEC("1"));
   EQ(DEC("1.000"), DEC("0.001E3"));
   EQ(DBL("-0.0"), "0");
   EQ(DBL("-0.0"), DEC("-0"));
   EQ(DEC("0E-100"), DEC("0E+50"));
   LT("1", "1.5");
   GT("2", "1.5");
   LT(DEC("1.4"), "1.5");
   GT(DEC("1.6"), "1.5");
   EQ(DEC("1.5"), "1.5");
   EQ(DEC("0.5"), "0.5");
   /* 0.1 as a double is 0.1000000000000000055511151231257827...: above decimal 0.1. */
   LT(DEC("0.1"), "0.1");
   GT(DEC("0.1000000000000000055511151231257828"), "0.1");
   LT(DEC("0.1000000000000000055511151231257827"), "0.1");
   GT(DEC("-0.1"), "-0.1");
   /* int64 beyond 2^53 against doubles. */
   GT(LONG("9007199254740993"), "9007199254740992.0");
   LT(LONG("9007199254740991"), "9007199254740992.0");
   EQ(LONG("9007199254740992"), "9007199254740992.0");
   LT(LONG("9223372036854775807"), "9223372036854775808.0");
   GT(LONG("-9223372036854775808"), "-1e19");
   EQ(LONG("-9223372036854775808"), "-9223372036854775808.0");
   EQ(LONG("-9223372036854775808"), DEC("-9223372036854775808"));
   LT(LONG("9223372036854775806"), DEC("9223372036854775807"));
   GT(DEC("9223372036854775807.5"), LONG("9223372036854775807"));
   /* Decimals beyond double's range. */
   GT(DEC("1E+400"), DBL("1.7976931348623157E308"));
   LT(DEC("1E+400"), DBL("Infinity"));
   LT(DEC("1E-400"), DBL("4.9E-324"));
   GT(DEC("1E-400"), "0");
   LT(DEC("-1E-400"), "0");
   GT(DEC("9.999999999999999999999999999999999E+6144"), DEC("1E+6144"));
   LT(DEC("1E-6176"), DEC("2E-6176"));
   EQ(DEC("1E+1"), "10");
   /* The double nearest 12345678901234567890 is 12345678901234567168. */
   GT(DEC("12345678901234567890"), "12345678901234567890.0");
   EQ(DEC("12345678901234567168"), "12345678901234567890.0");
   EQ(DEC("1.234567890123456716800E+19"), "12345678901234567890.0");
}

static void
test_nan_and_infinity(void **state)
{
   (void) state;
   EQ(DBL("NaN"), DBL("NaN"));
   EQ(DEC("NaN"), DBL("NaN"));
   EQ(DEC("NaN"), DEC("-NaN"));
   LT(DBL("NaN"), DBL("-Infinity"));
   LT(DEC("NaN"), DBL("-Infinity"));
   LT(DBL("NaN"), LONG("-9223372036854775808"));
   LT(DEC("NaN"), INT("-5"));
   EQ(DBL("Infinity"), DEC("Infinity"));
   EQ(DBL("-Infinity"), DEC("-Infinity"));
   GT(DEC("Infinity"), LONG("9223372036854775807"));
   LT(DEC("-Infinity"), DEC("-1E+6144"));
   GT(DBL("Infinity"), DEC("1E+6144"));
}

static void
test_strings_and_documents(void **state)
{
   (void) state;
   LT("\"a\"", "\"b\"");
   LT("\"a\"", "\"aa\"");
   LT("\"B\"", "\"a\"");
   EQ("\"abc\"", "{\"$symbol\": \"abc\"}");
   LT("\"abc\"", "{\"$symbol\": \"abd\"}");
   /* Objects: field by field, by type bracket, then name, then value. */
   LT("{\"a\": 1}", "{\"a\": 2}");
   LT("{\"a\": 1}", "{\"b\": 1}");
   LT("{\"a\": 1}", "{\"a\": 1, \"b\": 0}");
   LT("{\"b\": 1}", "{\"a\": \"x\"}");
   EQ("{\"a\": 1}", "{\"a\": 1.0}");
   GT("{\"a\": {\"b\": 2}}", "{\"a\": {\"b\": 1, \"c\": 9}}");
   /* Arrays element by element; shorter first. */
   LT("[1, 2]", "[1, 3]");
   LT("[1, 2]", "[1, 2, 0]");
   LT("[]", "[{\"$minKey\": 1}]");
   EQ("[1, 2]", "[1.0, " LONG("2") "]");
   LT("[2]", "[\"a\"]");
}

static void
test_other_types(void **state)
{
   (void) state;
   /* binData: length, then subtype, then bytes. */
   LT("{\"$binary\": {\"base64\": \"/w==\", \"subType\": \"05\"}}",
      "{\"$binary\": {\"base64\": \"AAA=\", \"subType\": \"00\"}}");
   LT("{\"$binary\": {\"base64\": \"/w==\", \"subType\": \"00\"}}",
      "{\"$binary\": {\"base64\": \"AA==\", \"subType\": \"04\"}}");
   LT("{\"$binary\": {\"base64\": \"AA==\", \"subType\": \"00\"}}",
      "{\"$binary\": {\"base64\": \"AQ==\", \"subType\": \"00\"}}");
   LT("{\"$oid\": \"000000000000000000000001\"}", "{\"$oid\": \"000000000000000000000002\"}");
   LT("{\"$oid\": \"0f0000000000000000000000\"}", "{\"$oid\": \"f00000000000000000000000\"}");
   LT("false", "true");
   LT("{\"$date\": {\"$numberLong\": \"-1\"}}", "{\"$date\": {\"$numberLong\": \"0\"}}");
   LT("{\"$timestamp\": {\"t\": 1, \"i\": 9}}", "{\"$timestamp\": {\"t\": 2, \"i\": 0}}");
   LT("{\"$timestamp\": {\"t\": 1, \"i\": 1}}", "{\"$timestamp\": {\"t\": 1, \"i\": 2}}");
   /* Timestamps are unsigned. */
   LT("{\"$timestamp\": {\"t\": 1, \"i\": 1}}", "{\"$timestamp\": {\"t\": 4294967295, \"i\": 1}}");
   LT("{\"$regularExpression\": {\"pattern\": \"a\", \"options\": \"i\"}}",
      "{\"$regularExpression\": {\"pattern\": \"b\", \"options\": \"\"}}");
   LT("{\"$regularExpression\": {\"pattern\": \"a\", \"options\": \"\"}}",
      "{\"$regularExpression\": {\"pattern\": \"a\", \"options\": \"i\"}}");
   EQ("null", "null");
   EQ("{\"$minKey\": 1}", "{\"$minKey\": 1}");
   LT("{\"$undefined\": true}", "null");
}

static void
test_compare_documents(void **state)
{
   (void) state;
   bson_t *a = tu_json("{\"x\": 1, \"y\": [1, 2]}");
   bson_t *b = tu_json("{\"x\": 1.0, \"y\": [1, " LONG("2") "]}");
   bson_t *c = tu_json("{\"x\": 1, \"y\": [1, 2, 3]}");
   bson_t *e = bson_new();
   assert_int_equal(compare_documents(a, b), 0);
   assert_true(compare_documents(a, c) < 0);
   assert_true(compare_documents(c, a) > 0);
   assert_true(compare_documents(e, a) < 0);
   assert_int_equal(compare_documents(e, e), 0);
   bson_destroy(a);
   bson_destroy(b);
   bson_destroy(c);
   bson_destroy(e);
}

static void
test_numeric_helpers(void **state)
{
   (void) state;
   bson_t *d = tu_json("{\"a\": 3.7, \"b\": " DEC("-3.7") ", \"c\": " DEC("42.000") ", \"d\": " DBL(
      "NaN") ", \"e\": 1e300, \"f\": " LONG("-7") "}");
   bson_iter_t it;
   int64_t v;
   assert_true(bson_iter_init_find(&it, d, "a"));
   assert_true(numeric_to_int64_trunc(&it, &v));
   assert_int_equal(v, 3);
   assert_false(numeric_to_int64_exact(&it, &v));
   assert_true(bson_iter_init_find(&it, d, "b"));
   assert_true(numeric_to_int64_trunc(&it, &v));
   assert_int_equal(v, -3);
   assert_true(bson_iter_init_find(&it, d, "c"));
   assert_true(numeric_to_int64_exact(&it, &v));
   assert_int_equal(v, 42);
   assert_true(bson_iter_init_find(&it, d, "d"));
   assert_false(numeric_to_int64_trunc(&it, &v));
   assert_true(bson_iter_init_find(&it, d, "e"));
   assert_false(numeric_to_int64_trunc(&it, &v));
   assert_true(bson_iter_init_find(&it, d, "f"));
   assert_true(numeric_to_int64_exact(&it, &v));
   assert_int_equal(v, -7);
   assert_true(numeric_compare_int64(&it, -7) == 0);
   assert_true(numeric_compare_int64(&it, -6) < 0);
   bson_destroy(d);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_type_brackets),    cmocka_unit_test(test_numbers_across_types),
      cmocka_unit_test(test_nan_and_infinity), cmocka_unit_test(test_strings_and_documents),
      cmocka_unit_test(test_other_types),      cmocka_unit_test(test_compare_documents),
      cmocka_unit_test(test_numeric_helpers),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
