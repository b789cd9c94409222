/*
 * test_expr.c: aggregation expressions (core/query/expr.c): field paths, variables, and each
 * operator's documented results, null handling and errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../bson/test_util.h"

#include "query/expr.h"

/* Evaluates the expression written as the JSON value expr_json against doc_json: returns
 * {"v": <result>} as canonical JSON, "missing", or "error <code>". */
static char *
evaluate(const char *doc_json, const char *expr_json)
{
   char *wrapped = bson_strdup_printf("{\"e\": %s}", expr_json);
   bson_t *doc = tu_json(doc_json);
   bson_t *spec = tu_json(wrapped);
   bson_iter_t iter;
   fe_error_t error = {0};
   fe_expr_t *expr;
   bson_value_t v;
   char *result;

   bson_iter_init_find(&iter, spec, "e");
   expr = expr_compile(&iter, &error);
   if (!expr) {
      result = bson_strdup_printf("error %d", error.code);
   } else if (!expr_evaluate(expr, doc, NULL, &v, &error)) {
      result = bson_strdup_printf("error %d", error.code);
   } else if (v.value_type == BSON_TYPE_EOD) {
      result = bson_strdup("missing");
   } else {
      bson_t out = BSON_INITIALIZER;
      bson_append_value(&out, "v", 1, &v);
      result = bson_as_canonical_extended_json(&out, NULL);
      bson_destroy(&out);
      bson_value_destroy(&v);
   }
   expr_destroy(expr);
   bson_destroy(doc);
   bson_destroy(spec);
   bson_free(wrapped);
   return result;
}

static void
check(const char *doc, const char *expr, const char *expected)
{
   char *got = evaluate(doc, expr);
   char *want;

   if (strncmp(expected, "error", 5) == 0 || strcmp(expected, "missing") == 0) {
      want = bson_strdup(expected);
   } else {
      char *wrapped = bson_strdup_printf("{\"v\": %s}", expected);
      bson_t *e = tu_json(wrapped);
      want = bson_as_canonical_extended_json(e, NULL);
      bson_destroy(e);
      bson_free(wrapped);
   }
   if (strcmp(got, want) != 0) {
      print_error("doc %s expr %s\n  got  %s\n  want %s\n", doc, expr, got, want);
      bson_free(got);
      bson_free(want);
      fail();
   }
   bson_free(got);
   bson_free(want);
}

#define D                                                                                          \
   "{\"_id\": 1, \"a\": 5, \"b\": 2.5, \"s\": \"Hello\", \"n\": null, \"arr\": [1, 2, 3], "        \
   "\"o\": {\"x\": 1, \"y\": {\"z\": 2}}, \"docs\": [{\"k\": 1}, {\"k\": 2}, {\"j\": 3}, 7]}"

static void
test_paths(void **state)
{
   (void) state;
   check(D, "\"$a\"", "5");
   check(D, "\"$o.y.z\"", "2");
   check(D, "\"$nope\"", "missing");
   check(D, "\"$o.nope.z\"", "missing");
   check(D, "\"$docs.k\"", "[1, 2]");
   check(D, "\"$$ROOT.a\"", "5");
   check(D, "\"$$CURRENT.o.x\"", "1");
   check(D, "\"$$REMOVE\"", "missing");
   check(D, "\"$$nope\"", "error 17276");
   check(D, "\"$\"", "error 16872");
   check(D, "\"$a..b\"", "error 15998");
   check(D, "\"$$Bad\"", "error 16870");
   check(D, "\"plain\"", "\"plain\"");
   check(D, "{\"p\": \"$a\", \"q\": {\"r\": \"$o.x\"}, \"m\": \"$missing\"}",
         "{\"p\": 5, \"q\": {\"r\": 1}}");
   check(D, "[\"$a\", \"$missing\", 1]", "[5, null, 1]");
   check(D, "{\"$literal\": \"$a\"}", "\"$a\"");
   check(D, "{\"$foo\": 1}", "error 168");
   check(D, "{\"$add\": [1], \"$sub\": 2}", "error 15983");
   check(D, "{\"a.b\": 1}", "error 16412");
}

static void
test_arithmetic(void **state)
{
   (void) state;
   check(D, "{\"$add\": [\"$a\", 1, \"$b\"]}", "8.5");
   check(D, "{\"$add\": [\"$a\", 1]}", "6");
   check(D, "{\"$add\": [2147483647, 1]}", "{\"$numberLong\": \"2147483648\"}");
   check(D, "{\"$add\": [\"$a\", null]}", "null");
   check(D, "{\"$add\": [\"$a\", \"$missing\"]}", "null");
   check(D, "{\"$add\": [\"$a\", \"x\"]}", "error 16554");
   check(D, "{\"$add\": [{\"$toDate\": {\"$numberLong\": \"1000\"}}, 500]}",
         "{\"$date\": {\"$numberLong\": \"1500\"}}");
   check(D, "{\"$subtract\": [\"$a\", 7]}", "-2");
   check(D,
         "{\"$subtract\": [{\"$toDate\": {\"$numberLong\": \"1000\"}}, {\"$toDate\": "
         "{\"$numberLong\": \"400\"}}]}",
         "{\"$numberLong\": \"600\"}");
   check(D, "{\"$subtract\": [\"$a\"]}", "error 16020");
   check(D, "{\"$multiply\": [\"$a\", 2, 0.5]}", "5.0");
   check(D, "{\"$multiply\": [\"$a\", \"$s\"]}", "error 16555");
   check(D, "{\"$divide\": [\"$a\", 2]}", "2.5");
   check(D, "{\"$divide\": [\"$a\", 0]}", "error 16608");
   check(D, "{\"$mod\": [\"$a\", 3]}", "2");
   check(D, "{\"$mod\": [-5, 3]}", "-2");
   check(D, "{\"$mod\": [\"$a\", 0]}", "error 16610");
   check(D, "{\"$abs\": -3}", "3");
   check(D, "{\"$abs\": null}", "null");
   check(D, "{\"$abs\": -2147483648}", "{\"$numberLong\": \"2147483648\"}");
   check(D, "{\"$add\": [{\"$toDecimal\": \"1.1\"}, 1]}", "{\"$numberDecimal\": \"2.1\"}");
   check(D, "{\"$floor\": 2.7}", "2.0");
   check(D, "{\"$ceil\": 2.1}", "3.0");
   check(D, "{\"$trunc\": -2.7}", "-2.0");
}

static void
test_strings(void **state)
{
   (void) state;
   check(D, "{\"$concat\": [\"$s\", \" \", \"world\"]}", "\"Hello world\"");
   check(D, "{\"$concat\": [\"$s\", \"$missing\"]}", "null");
   check(D, "{\"$concat\": [\"$s\", 1]}", "error 16702");
   check(D, "{\"$toLower\": \"$s\"}", "\"hello\"");
   check(D, "{\"$toUpper\": \"$s\"}", "\"HELLO\"");
   check(D, "{\"$toUpper\": \"$missing\"}", "\"\"");
   check(D, "{\"$toLower\": 12}", "\"12\"");
   check(D, "{\"$substrCP\": [\"$s\", 1, 3]}", "\"ell\"");
   check(D, "{\"$substrCP\": [\"h\u00e9llo\", 1, 2]}", "\"\u00e9l\"");
   check(D, "{\"$substrBytes\": [\"$s\", 3, 10]}", "\"lo\"");
   check(D, "{\"$strLenCP\": \"h\u00e9\"}", "2");
   check(D, "{\"$split\": [\"a,b,,c\", \",\"]}", "[\"a\", \"b\", \"\", \"c\"]");
}

static void
test_comparison_logic(void **state)
{
   (void) state;
   check(D, "{\"$eq\": [\"$a\", 5.0]}", "true");
   check(D, "{\"$eq\": [\"$missing\", null]}", "false");
   check(D, "{\"$lt\": [\"$missing\", null]}", "true");
   check(D, "{\"$ne\": [\"$a\", 5]}", "false");
   check(D, "{\"$gt\": [\"$s\", 5]}", "true");
   check(D, "{\"$gte\": [\"$a\", 5]}", "true");
   check(D, "{\"$lte\": [\"$a\", 4]}", "false");
   check(D, "{\"$cmp\": [\"$a\", 9]}", "-1");
   check(D, "{\"$cmp\": [\"$a\", 5]}", "0");
   check(D, "{\"$eq\": [1]}", "error 16020");
   check(D, "{\"$and\": [1, \"$a\", true]}", "true");
   check(D, "{\"$and\": [1, 0]}", "false");
   check(D, "{\"$and\": []}", "true");
   check(D, "{\"$or\": [null, \"$missing\", false]}", "false");
   check(D, "{\"$or\": [null, []]}", "true");
   check(D, "{\"$not\": [0]}", "true");
   check(D, "{\"$cond\": [{\"$gt\": [\"$a\", 3]}, \"big\", \"small\"]}", "\"big\"");
   check(D, "{\"$cond\": {\"if\": \"$n\", \"then\": 1, \"else\": 2}}", "2");
   check(D, "{\"$cond\": {\"if\": true, \"then\": 1}}", "error 17080");
   check(D, "{\"$ifNull\": [\"$n\", \"$missing\", \"dflt\"]}", "\"dflt\"");
   check(D, "{\"$ifNull\": [\"$a\", \"dflt\"]}", "5");
   check(D,
         "{\"$switch\": {\"branches\": [{\"case\": false, \"then\": 1}, "
         "{\"case\": true, \"then\": 2}]}}",
         "2");
   check(D, "{\"$switch\": {\"branches\": [{\"case\": false, \"then\": 1}]}}", "error 40066");
}

static void
test_arrays(void **state)
{
   (void) state;
   check(D, "{\"$in\": [2, \"$arr\"]}", "true");
   check(D, "{\"$in\": [9, \"$arr\"]}", "false");
   check(D, "{\"$in\": [9, \"$a\"]}", "error 40081");
   check(D, "{\"$size\": \"$arr\"}", "3");
   check(D, "{\"$size\": \"$missing\"}", "error 17124");
   check(D, "{\"$arrayElemAt\": [\"$arr\", 0]}", "1");
   check(D, "{\"$arrayElemAt\": [\"$arr\", -1]}", "3");
   check(D, "{\"$arrayElemAt\": [\"$arr\", 5]}", "missing");
   check(D, "{\"$arrayElemAt\": [\"$a\", 0]}", "error 28689");
   check(D, "{\"$arrayElemAt\": [\"$arr\", \"x\"]}", "error 28690");
   check(D, "{\"$concatArrays\": [\"$arr\", [4], []]}", "[1, 2, 3, 4]");
   check(D, "{\"$concatArrays\": [\"$arr\", \"$missing\"]}", "null");
   check(D, "{\"$concatArrays\": [\"$arr\", 1]}", "error 28664");
   check(D, "{\"$isArray\": [\"$arr\"]}", "true");
   check(D, "{\"$isArray\": \"$a\"}", "false");
   check(D, "{\"$max\": \"$arr\"}", "3");
   check(D, "{\"$min\": [\"$a\", 2, null]}", "2");
   check(D, "{\"$max\": [null, \"$missing\"]}", "null");
   check(D, "{\"$sum\": \"$arr\"}", "6");
   check(D, "{\"$sum\": [\"$a\", \"$s\", 1]}", "6");
   check(D, "{\"$avg\": \"$arr\"}", "2.0");
   check(D, "{\"$first\": \"$arr\"}", "1");
   check(D, "{\"$last\": \"$arr\"}", "3");
   check(D,
         "{\"$map\": {\"input\": \"$arr\", \"as\": \"x\", \"in\": {\"$multiply\": "
         "[\"$$x\", 10]}}}",
         "[10, 20, 30]");
   check(D, "{\"$map\": {\"input\": \"$arr\", \"in\": {\"$add\": [\"$$this\", \"$a\"]}}}",
         "[6, 7, 8]");
   check(D,
         "{\"$filter\": {\"input\": \"$arr\", \"as\": \"x\", \"cond\": {\"$gte\": "
         "[\"$$x\", 2]}}}",
         "[2, 3]");
   check(D, "{\"$filter\": {\"input\": \"$arr\", \"cond\": true, \"limit\": 1}}", "[1]");
   check(D, "{\"$map\": {\"input\": \"$a\", \"in\": 1}}", "error 16883");
}

static void
test_types_objects(void **state)
{
   (void) state;
   check(D, "{\"$type\": \"$a\"}", "\"int\"");
   check(D, "{\"$type\": \"$missing\"}", "\"missing\"");
   check(D, "{\"$type\": \"$o\"}", "\"object\"");
   check(D, "{\"$toString\": \"$b\"}", "\"2.5\"");
   check(D, "{\"$toString\": 0.1}", "\"0.1\"");
   check(D, "{\"$toString\": true}", "\"true\"");
   check(D, "{\"$toString\": {\"$toDate\": 0.0}}", "\"1970-01-01T00:00:00.000Z\"");
   check(D, "{\"$toInt\": \"42\"}", "42");
   check(D, "{\"$toInt\": 2.9}", "2");
   check(D, "{\"$toInt\": \"4.2\"}", "error 241");
   check(D, "{\"$toInt\": 1e20}", "error 241");
   check(D, "{\"$toLong\": \"$a\"}", "{\"$numberLong\": \"5\"}");
   check(D, "{\"$toDouble\": \"1.5\"}", "1.5");
   check(D, "{\"$toDouble\": \"$missing\"}", "null");
   check(D, "{\"$toBool\": 0}", "false");
   check(D, "{\"$convert\": {\"input\": \"abc\", \"to\": \"int\", \"onError\": -1}}", "-1");
   check(D, "{\"$convert\": {\"input\": null, \"to\": \"int\", \"onNull\": 0}}", "0");
   check(D, "{\"$convert\": {\"input\": \"7\", \"to\": 18}}", "{\"$numberLong\": \"7\"}");
   check(D, "{\"$convert\": {\"input\": \"7\"}}", "error 9");
   check(D, "{\"$getField\": \"a\"}", "5");
   check(D, "{\"$getField\": {\"field\": \"z\", \"input\": \"$o.y\"}}", "2");
   check(D, "{\"$mergeObjects\": [\"$o\", {\"x\": 9, \"w\": 1}, null]}",
         "{\"x\": 9, \"y\": {\"z\": 2}, \"w\": 1}");
   check(D, "{\"$mergeObjects\": [\"$o\", 1]}", "error 40400");
   check(D,
         "{\"$let\": {\"vars\": {\"t\": {\"$add\": [\"$a\", 1]}}, \"in\": "
         "{\"$multiply\": [\"$$t\", 2]}}}",
         "12");
   check(D, "{\"$let\": {\"vars\": {\"T\": 1}, \"in\": 1}}", "error 16870");
}

/* $setField, $unsetField and $getField with names that field paths cannot spell. */
static void
test_set_field(void **state)
{
   (void) state;
   check(
      "{\"_id\": 1, \"foo\": {}}",
      "{\"$setField\": {\"field\": {\"$literal\": \"$a\"}, \"value\": 1, \"input\": \"$$ROOT\"}}",
      "{\"_id\": 1, \"foo\": {}, \"$a\": 1}");
   check("{\"_id\": 1, \"foo\": {}}",
         "{\"$setField\": {\"field\": \"a.b\", \"value\": 1, \"input\": \"$foo\"}}",
         "{\"a.b\": 1}");
   /* An existing field keeps its place; $$REMOVE removes it. */
   check("{\"x\": 1, \"a.b\": 2, \"y\": 3}",
         "{\"$setField\": {\"field\": \"a.b\", \"value\": {\"$add\": [\"$x\", 9]}, \"input\": "
         "\"$$CURRENT\"}}",
         "{\"x\": 1, \"a.b\": 10, \"y\": 3}");
   check("{\"x\": 1, \"a.b\": 2, \"y\": 3}",
         "{\"$setField\": {\"field\": \"a.b\", \"value\": \"$$REMOVE\", \"input\": \"$$ROOT\"}}",
         "{\"x\": 1, \"y\": 3}");
   check("{\"x\": 1, \"$y\": 3}",
         "{\"$unsetField\": {\"field\": {\"$literal\": \"$y\"}, \"input\": \"$$ROOT\"}}",
         "{\"x\": 1}");
   check("{\"x\": 1, \"$y\": 3}",
         "{\"$getField\": {\"field\": {\"$literal\": \"$y\"}, \"input\": \"$$ROOT\"}}", "3");
   check("{\"x\": 1, \"a.b\": 3}", "{\"$getField\": \"a.b\"}", "3");
   /* Null or missing input gives null. */
   check("{}", "{\"$setField\": {\"field\": \"a\", \"value\": 1, \"input\": \"$nope\"}}", "null");
   check("{}", "{\"$unsetField\": {\"field\": \"a\", \"input\": null}}", "null");
   /* Errors. */
   check("{\"x\": 1}", "{\"$setField\": {\"field\": \"a\", \"value\": 1, \"input\": \"$x\"}}",
         "error 4161105");
   check("{}", "{\"$setField\": {\"field\": \"$a\", \"value\": 1, \"input\": {}}}",
         "error 4161106");
   check("{}", "{\"$setField\": {\"field\": 5, \"value\": 1, \"input\": {}}}", "error 4161107");
   check("{}", "{\"$setField\": {\"field\": \"a\", \"input\": {}}}", "error 9");
   check("{}", "{\"$unsetField\": {\"field\": \"a\", \"value\": 1, \"input\": {}}}", "error 9");
   check("{}", "{\"$setField\": 1}", "error 4161100");
}

static void
test_rand(void **state)
{
   bson_t *spec = tu_json("{\"e\": {\"$rand\": {}}}");
   bson_iter_t iter;
   fe_error_t error = {0};
   bson_t empty = BSON_INITIALIZER;
   fe_expr_t *e;
   double first = -1;
   bool differs = false;

   (void) state;
   bson_iter_init_find(&iter, spec, "e");
   e = expr_compile(&iter, &error);
   assert_non_null(e);
   for (int i = 0; i < 200; i++) {
      bson_value_t v;
      assert_true(expr_evaluate(e, &empty, NULL, &v, &error));
      assert_int_equal(v.value_type, BSON_TYPE_DOUBLE);
      assert_true(v.value.v_double >= 0.0 && v.value.v_double < 1.0);
      if (i == 0) {
         first = v.value.v_double;
      } else if (v.value.v_double != first) {
         differs = true;
      }
   }
   assert_true(differs);
   expr_destroy(e);
   bson_destroy(spec);
   check("{}", "{\"$rand\": {\"seed\": 1}}", "error 3040501");
   check("{}", "{\"$rand\": 1}", "error 10065");
}

static void
test_match(void **state)
{
   bson_t *doc = tu_json(D);
   bson_t *spec = tu_json("{\"e\": {\"$gt\": [\"$a\", \"$b\"]}}");
   bson_t *spec2 = tu_json("{\"e\": {\"$divide\": [1, 0]}}");
   bson_iter_t iter;
   fe_error_t error;
   fe_expr_t *e1, *e2;

   (void) state;
   bson_iter_init_find(&iter, spec, "e");
   e1 = expr_compile(&iter, &error);
   bson_iter_init_find(&iter, spec2, "e");
   e2 = expr_compile(&iter, &error);
   assert_non_null(e1);
   assert_non_null(e2);
   assert_true(expr_match(e1, doc));
   assert_false(expr_match(e2, doc));
   expr_destroy(e1);
   expr_destroy(e2);
   bson_destroy(doc);
   bson_destroy(spec);
   bson_destroy(spec2);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_paths),   cmocka_unit_test(test_arithmetic),
      cmocka_unit_test(test_strings), cmocka_unit_test(test_comparison_logic),
      cmocka_unit_test(test_arrays),  cmocka_unit_test(test_types_objects),
      cmocka_unit_test(test_match),   cmocka_unit_test(test_set_field),
      cmocka_unit_test(test_rand),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
