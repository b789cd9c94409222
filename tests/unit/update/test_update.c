/*
 * test_update.c: the update engine (core/query/update.c) against MongoDB's documented
 * behaviour for each operator, positional forms, replacement and upsert documents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../bson/test_util.h"

#include "query/update.h"

/* Applies update to doc with the given options and returns the result's canonical JSON, or
 * "error <code>" (owned by the caller). */
static char *
run_full(const char *doc_json, const char *update_json, const char *filters_json, int32_t pos,
         bool inserting)
{
   bson_t *doc = tu_json(doc_json);
   bson_t *spec = tu_json(update_json);
   bson_t *filters = filters_json ? tu_json(filters_json) : NULL;
   fe_error_t error = {0};
   fe_update_t *update;
   fe_match_info_t match = {.positional_index = pos};
   bson_t out;
   char *result;

   update = update_compile(spec, false, filters, &error);
   if (!update) {
      result = bson_strdup_printf("error %d", error.code);
      goto done;
   }
   if (!update_apply(update, doc, pos >= 0 ? &match : NULL, inserting, &out, &error)) {
      result = bson_strdup_printf("error %d", error.code);
   } else {
      result = bson_as_canonical_extended_json(&out, NULL);
   }
   bson_destroy(&out);

done:
   if (error.code) {
      assert_true(error.message[0] != '\0');
   }
   update_destroy(update);
   bson_destroy(doc);
   bson_destroy(spec);
   if (filters) {
      bson_destroy(filters);
   }
   return result;
}

/* The expected document written as relaxed JSON, turned canonical for comparison. */
static void
expect_full(const char *doc, const char *update, const char *filters, int32_t pos, bool inserting,
            const char *expected)
{
   char *got = run_full(doc, update, filters, pos, inserting);
   char *want;

   if (strncmp(expected, "error", 5) == 0) {
      want = bson_strdup(expected);
   } else {
      bson_t *e = tu_json(expected);
      want = bson_as_canonical_extended_json(e, NULL);
      bson_destroy(e);
   }
   if (strcmp(got, want) != 0) {
      print_error("doc %s update %s\n  got  %s\n  want %s\n", doc, update, got, want);
      bson_free(got);
      bson_free(want);
      fail();
   }
   bson_free(got);
   bson_free(want);
}

static void
expect(const char *doc, const char *update, const char *expected)
{
   expect_full(doc, update, NULL, -1, false, expected);
}

static void
test_set(void **state)
{
   (void) state;
   expect("{\"_id\": 1, \"a\": 1}", "{\"$set\": {\"a\": 2}}", "{\"_id\": 1, \"a\": 2}");
   /* New fields are appended in lexicographic order, whatever the update's order. */
   expect("{\"_id\": 1}", "{\"$set\": {\"b\": 1, \"a\": 2}}", "{\"_id\": 1, \"a\": 2, \"b\": 1}");
   /* Existing fields keep their place. */
   expect("{\"_id\": 1, \"z\": 0, \"a\": 0}", "{\"$set\": {\"a\": 1, \"m\": 1}}",
          "{\"_id\": 1, \"z\": 0, \"a\": 1, \"m\": 1}");
   expect("{\"_id\": 1}", "{\"$set\": {\"a.b.c\": 1}}", "{\"_id\": 1, \"a\": {\"b\": {\"c\": 1}}}");
   expect("{\"_id\": 1, \"a\": {\"x\": 1}}", "{\"$set\": {\"a.y\": 2}}",
          "{\"_id\": 1, \"a\": {\"x\": 1, \"y\": 2}}");
   /* Numeric components index arrays; past the end pads with null. */
   expect("{\"_id\": 1, \"a\": [1, 2]}", "{\"$set\": {\"a.1\": 5}}", "{\"_id\": 1, \"a\": [1, 5]}");
   expect("{\"_id\": 1, \"a\": [1]}", "{\"$set\": {\"a.3\": 5}}",
          "{\"_id\": 1, \"a\": [1, null, null, 5]}");
   expect("{\"_id\": 1, \"a\": [{\"b\": 1}]}", "{\"$set\": {\"a.0.c\": 5}}",
          "{\"_id\": 1, \"a\": [{\"b\": 1, \"c\": 5}]}");
   /* On a document, a numeric component is a field name. */
   expect("{\"_id\": 1}", "{\"$set\": {\"a.0\": 5}}", "{\"_id\": 1, \"a\": {\"0\": 5}}");
   /* Numeric names are processed in numeric order. */
   expect("{\"_id\": 1, \"a\": []}", "{\"$set\": {\"a.10\": 1, \"a.2\": 2}}",
          "{\"_id\": 1, \"a\": [null, null, 2, null, null, null, null, null, null, null, 1]}");
   /* A scalar in the way. */
   expect("{\"_id\": 1, \"a\": 5}", "{\"$set\": {\"a.b\": 1}}", "error 28");
   expect("{\"_id\": 1, \"a\": [1]}", "{\"$set\": {\"a.b\": 1}}", "error 28");
   expect("{\"_id\": 1}", "{\"$set\": {}}", "{\"_id\": 1}");
   expect("{\"_id\": 1}", "{\"$set\": {\"a..b\": 1}}", "error 56");
   expect("{\"_id\": 1}", "{\"$set\": {\"\": 1}}", "error 56");
   expect("{\"_id\": 1}", "{\"$set\": {\"a.$x\": 1}}", "error 52");
   expect("{\"_id\": 1}", "{\"$set\": 5}", "error 9");
}

static void
test_unset(void **state)
{
   (void) state;
   expect("{\"_id\": 1, \"a\": 1, \"b\": 2}", "{\"$unset\": {\"a\": \"\"}}",
          "{\"_id\": 1, \"b\": 2}");
   expect("{\"_id\": 1}", "{\"$unset\": {\"a.b\": 1}}", "{\"_id\": 1}");
   expect("{\"_id\": 1, \"a\": {\"b\": 1, \"c\": 2}}", "{\"$unset\": {\"a.b\": 1}}",
          "{\"_id\": 1, \"a\": {\"c\": 2}}");
   /* An unset array element becomes null. */
   expect("{\"_id\": 1, \"a\": [1, 2, 3]}", "{\"$unset\": {\"a.1\": 1}}",
          "{\"_id\": 1, \"a\": [1, null, 3]}");
   /* Non-viable paths are a no-op for $unset. */
   expect("{\"_id\": 1, \"a\": 5}", "{\"$unset\": {\"a.b\": 1}}", "{\"_id\": 1, \"a\": 5}");
   expect("{\"_id\": 1, \"a\": [1]}", "{\"$unset\": {\"a.5\": 1}}", "{\"_id\": 1, \"a\": [1]}");
}

static void
test_inc_mul(void **state)
{
   (void) state;
   expect("{\"_id\": 1, \"a\": 1}", "{\"$inc\": {\"a\": 2}}", "{\"_id\": 1, \"a\": 3}");
   expect("{\"_id\": 1}", "{\"$inc\": {\"a\": 2}}", "{\"_id\": 1, \"a\": 2}");
   expect("{\"_id\": 1, \"a\": 1}", "{\"$inc\": {\"a\": -1.5}}", "{\"_id\": 1, \"a\": -0.5}");
   /* int32 overflow promotes to int64, int64 overflow to double. */
   expect("{\"_id\": 1, \"a\": 2147483647}", "{\"$inc\": {\"a\": 1}}",
          "{\"_id\": 1, \"a\": {\"$numberLong\": \"2147483648\"}}");
   expect("{\"_id\": 1, \"a\": {\"$numberLong\": \"9223372036854775807\"}}",
          "{\"$inc\": {\"a\": 1}}", "{\"_id\": 1, \"a\": 9.2233720368547758e18}");
   expect("{\"_id\": 1, \"a\": 1}", "{\"$inc\": {\"a\": {\"$numberLong\": \"1\"}}}",
          "{\"_id\": 1, \"a\": {\"$numberLong\": \"2\"}}");
   expect("{\"_id\": 1, \"a\": {\"$numberDecimal\": \"1.1\"}}", "{\"$inc\": {\"a\": 2}}",
          "{\"_id\": 1, \"a\": {\"$numberDecimal\": \"3.1\"}}");
   expect("{\"_id\": 1, \"a\": \"x\"}", "{\"$inc\": {\"a\": 1}}", "error 14");
   expect("{\"_id\": 1, \"a\": 1}", "{\"$inc\": {\"a\": \"1\"}}", "error 14");
   expect("{\"_id\": 1, \"a\": 3}", "{\"$mul\": {\"a\": 4}}", "{\"_id\": 1, \"a\": 12}");
   expect("{\"_id\": 1, \"a\": 3}", "{\"$mul\": {\"a\": 0.5}}", "{\"_id\": 1, \"a\": 1.5}");
   /* $mul on a missing field sets zero of the multiplier's type. */
   expect("{\"_id\": 1}", "{\"$mul\": {\"a\": {\"$numberLong\": \"5\"}}}",
          "{\"_id\": 1, \"a\": {\"$numberLong\": \"0\"}}");
   expect("{\"_id\": 1}", "{\"$mul\": {\"a\": 2.5}}", "{\"_id\": 1, \"a\": 0.0}");
   expect("{\"_id\": 1, \"a\": 65536}", "{\"$mul\": {\"a\": 65536}}",
          "{\"_id\": 1, \"a\": {\"$numberLong\": \"4294967296\"}}");
   expect("{\"_id\": 1, \"a\": null}", "{\"$mul\": {\"a\": 2}}", "error 14");
}

static void
test_min_max(void **state)
{
   (void) state;
   expect("{\"_id\": 1, \"a\": 5}", "{\"$min\": {\"a\": 3}}", "{\"_id\": 1, \"a\": 3}");
   expect("{\"_id\": 1, \"a\": 5}", "{\"$min\": {\"a\": 7}}", "{\"_id\": 1, \"a\": 5}");
   expect("{\"_id\": 1, \"a\": 5}", "{\"$max\": {\"a\": 7}}", "{\"_id\": 1, \"a\": 7}");
   expect("{\"_id\": 1}", "{\"$max\": {\"a\": 7}}", "{\"_id\": 1, \"a\": 7}");
   /* Across types, BSON order decides: null < numbers < strings. */
   expect("{\"_id\": 1, \"a\": 5}", "{\"$min\": {\"a\": null}}", "{\"_id\": 1, \"a\": null}");
   expect("{\"_id\": 1, \"a\": 5}", "{\"$max\": {\"a\": \"s\"}}", "{\"_id\": 1, \"a\": \"s\"}");
   /* Equal values across numeric types leave the field alone. */
   expect("{\"_id\": 1, \"a\": 5}", "{\"$min\": {\"a\": 5.0}}", "{\"_id\": 1, \"a\": 5}");
}

static void
test_rename(void **state)
{
   (void) state;
   expect("{\"_id\": 1, \"a\": 1, \"b\": 2}", "{\"$rename\": {\"a\": \"c\"}}",
          "{\"_id\": 1, \"b\": 2, \"c\": 1}");
   expect("{\"_id\": 1, \"a\": {\"b\": 1}}", "{\"$rename\": {\"a.b\": \"x.y\"}}",
          "{\"_id\": 1, \"a\": {}, \"x\": {\"y\": 1}}");
   /* Renaming onto an existing field replaces it. */
   expect("{\"_id\": 1, \"a\": 1, \"b\": 2}", "{\"$rename\": {\"a\": \"b\"}}",
          "{\"_id\": 1, \"b\": 1}");
   expect("{\"_id\": 1, \"b\": 2}", "{\"$rename\": {\"a\": \"b\"}}", "{\"_id\": 1, \"b\": 2}");
   expect("{\"_id\": 1, \"a\": 1}", "{\"$rename\": {\"a\": \"a\"}}", "error 2");
   expect("{\"_id\": 1, \"a\": 1}", "{\"$rename\": {\"a\": \"a.b\"}}", "error 2");
   expect("{\"_id\": 1, \"a\": 1}", "{\"$rename\": {\"a\": 1}}", "error 2");
   expect("{\"_id\": 1, \"a\": [1]}", "{\"$rename\": {\"a.0\": \"b\"}}", "error 2");
   expect("{\"_id\": 1, \"a\": 1}", "{\"$rename\": {\"a\": \"b\"}, \"$set\": {\"b\": 1}}",
          "error 40");
}

static void
test_current_date(void **state)
{
   /* Built with BCON: libbson's JSON reader takes {"$type": ...} for legacy binary. */
   bson_t *spec =
      BCON_NEW("$currentDate", "{", "a", BCON_BOOL(true), "b", "{", "$type", BCON_UTF8("timestamp"),
               "}", "c", "{", "$type", BCON_UTF8("date"), "}", "}");
   bson_t *bad = BCON_NEW("$currentDate", "{", "a", "{", "$type", BCON_UTF8("x"), "}", "}");
   bson_t *doc = BCON_NEW("_id", BCON_INT32(1));
   fe_error_t error = {0};
   fe_update_t *update = update_compile(spec, false, NULL, &error);
   bson_iter_t iter;
   bson_t out;

   (void) state;
   assert_non_null(update);
   assert_true(update_apply(update, doc, NULL, false, &out, &error));
   assert_true(bson_iter_init_find(&iter, &out, "a") && BSON_ITER_HOLDS_DATE_TIME(&iter));
   assert_true(bson_iter_date_time(&iter) > 1600000000000LL);
   assert_true(bson_iter_init_find(&iter, &out, "b") && BSON_ITER_HOLDS_TIMESTAMP(&iter));
   assert_true(bson_iter_init_find(&iter, &out, "c") && BSON_ITER_HOLDS_DATE_TIME(&iter));
   bson_destroy(&out);
   update_destroy(update);
   assert_null(update_compile(bad, false, NULL, &error));
   assert_int_equal(error.code, 2);
   bson_destroy(spec);
   bson_destroy(bad);
   bson_destroy(doc);
   expect("{\"_id\": 1}", "{\"$currentDate\": {\"a\": 1}}", "error 2");
}

static void
test_set_on_insert(void **state)
{
   (void) state;
   expect("{\"_id\": 1}", "{\"$setOnInsert\": {\"a\": 1}, \"$set\": {\"b\": 1}}",
          "{\"_id\": 1, \"b\": 1}");
   expect_full("{\"_id\": 1}", "{\"$setOnInsert\": {\"a\": 1}, \"$set\": {\"b\": 1}}", NULL, -1,
               true, "{\"_id\": 1, \"a\": 1, \"b\": 1}");
}

static void
test_push(void **state)
{
   (void) state;
   expect("{\"_id\": 1, \"a\": [1]}", "{\"$push\": {\"a\": 2}}", "{\"_id\": 1, \"a\": [1, 2]}");
   expect("{\"_id\": 1}", "{\"$push\": {\"a\": [2]}}", "{\"_id\": 1, \"a\": [[2]]}");
   expect("{\"_id\": 1, \"a\": [1]}", "{\"$push\": {\"a\": {\"$each\": [2, 3]}}}",
          "{\"_id\": 1, \"a\": [1, 2, 3]}");
   expect("{\"_id\": 1, \"a\": [1, 2]}", "{\"$push\": {\"a\": {\"$each\": [9], \"$position\": 1}}}",
          "{\"_id\": 1, \"a\": [1, 9, 2]}");
   expect("{\"_id\": 1, \"a\": [1, 2, 3]}",
          "{\"$push\": {\"a\": {\"$each\": [9], \"$position\": -1}}}",
          "{\"_id\": 1, \"a\": [1, 2, 9, 3]}");
   expect("{\"_id\": 1, \"a\": [1, 2]}",
          "{\"$push\": {\"a\": {\"$each\": [9], \"$position\": 50}}}",
          "{\"_id\": 1, \"a\": [1, 2, 9]}");
   expect("{\"_id\": 1, \"a\": [5, 1]}",
          "{\"$push\": {\"a\": {\"$each\": [3, 4], \"$sort\": 1, \"$slice\": 3}}}",
          "{\"_id\": 1, \"a\": [1, 3, 4]}");
   expect("{\"_id\": 1, \"a\": [5, 1]}",
          "{\"$push\": {\"a\": {\"$each\": [3], \"$sort\": -1, \"$slice\": -2}}}",
          "{\"_id\": 1, \"a\": [3, 1]}");
   expect("{\"_id\": 1, \"a\": [1, 2, 3]}", "{\"$push\": {\"a\": {\"$each\": [], \"$slice\": 0}}}",
          "{\"_id\": 1, \"a\": []}");
   expect(
      "{\"_id\": 1, \"a\": [{\"s\": 2, \"n\": 1}, {\"s\": 1, \"n\": 2}]}",
      "{\"$push\": {\"a\": {\"$each\": [{\"s\": 1, \"n\": 3}], \"$sort\": {\"s\": 1}}}}",
      "{\"_id\": 1, \"a\": [{\"s\": 1, \"n\": 2}, {\"s\": 1, \"n\": 3}, {\"s\": 2, \"n\": 1}]}");
   expect("{\"_id\": 1, \"a\": 1}", "{\"$push\": {\"a\": 2}}", "error 2");
   expect("{\"_id\": 1, \"a\": []}", "{\"$push\": {\"a\": {\"$each\": 1}}}", "error 2");
   expect("{\"_id\": 1, \"a\": []}", "{\"$push\": {\"a\": {\"$each\": [1], \"$bad\": 1}}}",
          "error 2");
   expect("{\"_id\": 1, \"a\": []}", "{\"$push\": {\"a\": {\"$each\": [1], \"$slice\": \"x\"}}}",
          "error 2");
   expect("{\"_id\": 1, \"a\": []}", "{\"$push\": {\"a\": {\"$each\": [1], \"$sort\": 2}}}",
          "error 2");
}

static void
test_add_to_set(void **state)
{
   (void) state;
   expect("{\"_id\": 1, \"a\": [1, 2]}", "{\"$addToSet\": {\"a\": 2}}",
          "{\"_id\": 1, \"a\": [1, 2]}");
   expect("{\"_id\": 1, \"a\": [1, 2]}", "{\"$addToSet\": {\"a\": 2.0}}",
          "{\"_id\": 1, \"a\": [1, 2]}");
   expect("{\"_id\": 1, \"a\": [1]}", "{\"$addToSet\": {\"a\": {\"$each\": [1, 3, 3, 4]}}}",
          "{\"_id\": 1, \"a\": [1, 3, 4]}");
   expect("{\"_id\": 1}", "{\"$addToSet\": {\"a\": [1]}}", "{\"_id\": 1, \"a\": [[1]]}");
   expect("{\"_id\": 1, \"a\": 5}", "{\"$addToSet\": {\"a\": 1}}", "error 2");
}

static void
test_pop_pull(void **state)
{
   (void) state;
   expect("{\"_id\": 1, \"a\": [1, 2, 3]}", "{\"$pop\": {\"a\": 1}}",
          "{\"_id\": 1, \"a\": [1, 2]}");
   expect("{\"_id\": 1, \"a\": [1, 2, 3]}", "{\"$pop\": {\"a\": -1}}",
          "{\"_id\": 1, \"a\": [2, 3]}");
   expect("{\"_id\": 1, \"a\": []}", "{\"$pop\": {\"a\": 1}}", "{\"_id\": 1, \"a\": []}");
   expect("{\"_id\": 1}", "{\"$pop\": {\"a\": 1}}", "{\"_id\": 1}");
   expect("{\"_id\": 1, \"a\": 1}", "{\"$pop\": {\"a\": 1}}", "error 14");
   expect("{\"_id\": 1, \"a\": [1]}", "{\"$pop\": {\"a\": 2}}", "error 9");
   expect("{\"_id\": 1, \"a\": [1, 2, 1, 3]}", "{\"$pull\": {\"a\": 1}}",
          "{\"_id\": 1, \"a\": [2, 3]}");
   expect("{\"_id\": 1, \"a\": [1, 5, 6, 7]}", "{\"$pull\": {\"a\": {\"$gte\": 6}}}",
          "{\"_id\": 1, \"a\": [1, 5]}");
   /* A document condition matches document elements as a query: extra fields are fine. */
   expect("{\"_id\": 1, \"a\": [{\"x\": 1, \"y\": 2}, {\"x\": 2}, 1]}",
          "{\"$pull\": {\"a\": {\"x\": 1}}}", "{\"_id\": 1, \"a\": [{\"x\": 2}, 1]}");
   expect("{\"_id\": 1, \"a\": 1}", "{\"$pull\": {\"a\": 1}}", "error 2");
   expect("{\"_id\": 1}", "{\"$pull\": {\"a\": 1}}", "{\"_id\": 1}");
   expect("{\"_id\": 1, \"a\": [1, 2, 3, 1]}", "{\"$pullAll\": {\"a\": [1, 3]}}",
          "{\"_id\": 1, \"a\": [2]}");
   expect("{\"_id\": 1, \"a\": [1]}", "{\"$pullAll\": {\"a\": 1}}", "error 2");
}

static void
test_bit(void **state)
{
   (void) state;
   expect("{\"_id\": 1, \"a\": 13}", "{\"$bit\": {\"a\": {\"and\": 10}}}",
          "{\"_id\": 1, \"a\": 8}");
   expect("{\"_id\": 1, \"a\": 13}", "{\"$bit\": {\"a\": {\"or\": 2, \"xor\": 1}}}",
          "{\"_id\": 1, \"a\": 14}");
   expect("{\"_id\": 1, \"a\": 1}", "{\"$bit\": {\"a\": {\"or\": {\"$numberLong\": \"2\"}}}}",
          "{\"_id\": 1, \"a\": {\"$numberLong\": \"3\"}}");
   expect("{\"_id\": 1}", "{\"$bit\": {\"a\": {\"or\": 5}}}", "{\"_id\": 1, \"a\": 5}");
   expect("{\"_id\": 1, \"a\": 1.5}", "{\"$bit\": {\"a\": {\"or\": 5}}}", "error 2");
   expect("{\"_id\": 1}", "{\"$bit\": {\"a\": 5}}", "error 2");
   expect("{\"_id\": 1}", "{\"$bit\": {\"a\": {\"nand\": 5}}}", "error 2");
   expect("{\"_id\": 1}", "{\"$bit\": {\"a\": {\"and\": 5.0}}}", "error 2");
   expect("{\"_id\": 1}", "{\"$bit\": {\"a\": {}}}", "error 2");
}

static void
test_positional(void **state)
{
   (void) state;
   expect_full("{\"_id\": 1, \"a\": [1, 2, 3]}", "{\"$set\": {\"a.$\": 9}}", NULL, 1, false,
               "{\"_id\": 1, \"a\": [1, 9, 3]}");
   expect_full("{\"_id\": 1, \"a\": [{\"b\": 1}, {\"b\": 2}]}", "{\"$inc\": {\"a.$.b\": 10}}", NULL,
               1, false, "{\"_id\": 1, \"a\": [{\"b\": 1}, {\"b\": 12}]}");
   expect("{\"_id\": 1, \"a\": [1, 2, 3]}", "{\"$set\": {\"a.$\": 9}}", "error 2");
   expect("{\"_id\": 1, \"a\": [[1]]}", "{\"$set\": {\"a.$.$\": 9}}", "error 2");
   expect("{\"_id\": 1, \"a\": [1, 2, 3]}", "{\"$inc\": {\"a.$[]\": 1}}",
          "{\"_id\": 1, \"a\": [2, 3, 4]}");
   expect("{\"_id\": 1, \"a\": [{\"b\": [1, 2]}, {\"b\": [3]}]}",
          "{\"$set\": {\"a.$[].b.$[]\": 0}}",
          "{\"_id\": 1, \"a\": [{\"b\": [0, 0]}, {\"b\": [0]}]}");
   expect("{\"_id\": 1}", "{\"$set\": {\"a.$[]\": 1}}", "error 2");
   expect("{\"_id\": 1, \"a\": 5}", "{\"$set\": {\"a.$[]\": 1}}", "error 2");
   expect("{\"_id\": 1}", "{\"$set\": {\"$[]\": 1}}", "error 2");
   /* $[] and a named index meeting at one element as leaves conflict. */
   expect("{\"_id\": 1, \"a\": [1]}", "{\"$set\": {\"a.$[]\": 1, \"a.0\": 2}}", "error 40");
}

static void
test_array_filters(void **state)
{
   (void) state;
   expect_full("{\"_id\": 1, \"a\": [1, 5, 7]}", "{\"$set\": {\"a.$[x]\": 0}}",
               "[{\"x\": {\"$gte\": 5}}]", -1, false, "{\"_id\": 1, \"a\": [1, 0, 0]}");
   expect_full("{\"_id\": 1, \"a\": [{\"k\": 1, \"v\": 1}, {\"k\": 2, \"v\": 1}]}",
               "{\"$inc\": {\"a.$[e].v\": 5}}", "[{\"e.k\": 2}]", -1, false,
               "{\"_id\": 1, \"a\": [{\"k\": 1, \"v\": 1}, {\"k\": 2, \"v\": 6}]}");
   /* Every identifier must be used, defined once, and well formed. */
   expect_full("{\"_id\": 1, \"a\": [1]}", "{\"$set\": {\"a.$[x]\": 0}}",
               "[{\"x\": 1}, {\"y\": 1}]", -1, false, "error 9");
   expect_full("{\"_id\": 1, \"a\": [1]}", "{\"$set\": {\"a.$[z]\": 0}}", "[{\"x\": 1}]", -1, false,
               "error 2");
   expect_full("{\"_id\": 1, \"a\": [1]}", "{\"$set\": {\"a.$[x]\": 0}}",
               "[{\"x\": 1}, {\"x\": 2}]", -1, false, "error 9");
   expect_full("{\"_id\": 1, \"a\": [1]}", "{\"$set\": {\"a.$[X]\": 0}}", "[{\"X\": 1}]", -1, false,
               "error 2");
   expect_full("{\"_id\": 1, \"a\": [1]}", "{\"$set\": {\"a.0\": 0}}", "[{}]", -1, false,
               "error 9");
}

static void
test_validation(void **state)
{
   (void) state;
   expect("{\"_id\": 1}", "{\"$foo\": {\"a\": 1}}", "error 9");
   expect("{\"_id\": 1}", "{\"$set\": {\"a\": 1}, \"b\": 2}", "error 9");
   expect("{\"_id\": 1}", "{\"b\": 2, \"$set\": {\"a\": 1}}", "error 52");
   expect("{\"_id\": 1}", "{\"$set\": {\"a\": 1, \"a.b\": 1}}", "error 40");
   expect("{\"_id\": 1}", "{\"$set\": {\"a.b\": 1}, \"$inc\": {\"a\": 1}}", "error 40");
   expect("{\"_id\": 1}", "{\"$set\": {\"a\": 1}, \"$unset\": {\"a\": 1}}", "error 40");
   expect("{\"_id\": 1}", "{\"$set\": {\"ab\": 1, \"a.b\": 1}}",
          "{\"_id\": 1, \"a\": {\"b\": 1}, \"ab\": 1}");
   expect("{\"_id\": 1}", "{\"$set\": {\"_id\": 2}}", "error 66");
   expect("{\"_id\": 1}", "{\"$set\": {\"_id\": 1}}", "{\"_id\": 1}");
   expect("{\"_id\": 1}", "{\"$unset\": {\"_id\": 1}}", "error 66");
   expect("{\"_id\": {\"a\": 1}}", "{\"$set\": {\"_id.a\": 2}}", "error 66");
}

static void
test_replacement(void **state)
{
   (void) state;
   expect("{\"_id\": 1, \"a\": 1}", "{\"b\": 2}", "{\"_id\": 1, \"b\": 2}");
   expect("{\"_id\": 1, \"a\": 1}", "{}", "{\"_id\": 1}");
   expect("{\"_id\": 1, \"a\": 1}", "{\"b\": 2, \"_id\": 1}", "{\"_id\": 1, \"b\": 2}");
   expect("{\"_id\": 1, \"a\": 1}", "{\"_id\": 2}", "error 66");
   expect("{\"_id\": 1, \"a\": 1}", "{\"a\": {\"$set\": 1}}", "{\"_id\": 1, \"a\": {\"$set\": 1}}");
}

static char *
upsert(const char *filter_json, const char *update_json)
{
   bson_t *filter = tu_json(filter_json);
   bson_t *spec = tu_json(update_json);
   fe_error_t error = {0};
   fe_update_t *update = update_compile(spec, false, NULL, &error);
   bson_t out;
   char *result;

   assert_non_null(update);
   if (update_upsert_document(update, filter, &out, &error)) {
      result = bson_as_canonical_extended_json(&out, NULL);
   } else {
      result = bson_strdup_printf("error %d", error.code);
   }
   bson_destroy(&out);
   update_destroy(update);
   bson_destroy(filter);
   bson_destroy(spec);
   return result;
}

static void
expect_upsert(const char *filter, const char *update, const char *expected)
{
   char *got = upsert(filter, update);
   char *want;
   if (strncmp(expected, "error", 5) == 0) {
      want = bson_strdup(expected);
   } else {
      bson_t *e = tu_json(expected);
      want = bson_as_canonical_extended_json(e, NULL);
      bson_destroy(e);
   }
   if (strcmp(got, want) != 0) {
      print_error("filter %s update %s\n  got  %s\n  want %s\n", filter, update, got, want);
      bson_free(got);
      bson_free(want);
      fail();
   }
   bson_free(got);
   bson_free(want);
}

static void
test_upsert(void **state)
{
   (void) state;
   expect_upsert("{\"a\": 1, \"b\": {\"$gt\": 1}, \"c.d\": {\"$eq\": 2}}", "{\"$set\": {\"x\": 1}}",
                 "{\"a\": 1, \"c\": {\"d\": 2}, \"x\": 1}");
   expect_upsert("{\"x\": 1, \"_id\": 7}", "{\"$inc\": {\"n\": 1}}",
                 "{\"_id\": 7, \"x\": 1, \"n\": 1}");
   expect_upsert("{\"$and\": [{\"a\": 1}, {\"b\": {\"$in\": [2]}}], \"c\": {\"$in\": [1, 2]}}",
                 "{\"$setOnInsert\": {\"s\": 1}}", "{\"a\": 1, \"b\": 2, \"s\": 1}");
   /* A replacement takes only the filter's _id. */
   expect_upsert("{\"_id\": 3, \"a\": 1}", "{\"b\": 1}", "{\"_id\": 3, \"b\": 1}");
   expect_upsert("{\"a\": 1}", "{\"b\": 1}", "{\"b\": 1}");
   expect_upsert("{\"_id\": 3}", "{\"_id\": 4}", "error 66");
   expect_upsert("{\"_id\": 3}", "{\"$set\": {\"_id\": 4}}", "error 66");
   expect_upsert("{\"a\": 1, \"a.b\": 1}", "{\"$set\": {\"x\": 1}}", "error 54");
   expect_upsert("{\"a\": 1}", "{\"$set\": {\"a.$\": 1}}", "error 2");
   expect_upsert("{\"a\": 1}", "{\"$set\": {\"a\": 2}}", "{\"a\": 2}");
}

/* Applies update (with arrayFilters filters, nullable; single-quoted JSON) to doc under a
 * strength-2 English collation, where "A" and "a" are equal, and checks the result (pos: the
 * positional index for `$`, or -1). */
static void
expect_collated(const char *doc_json, const char *update_json, const char *filters_json,
                int32_t pos, const char *expected_json)
{
   bson_t *collation = tu_json_q("{'locale': 'en', 'strength': 2}");
   bson_t *doc = tu_json_q(doc_json);
   bson_t *spec = tu_json_q(update_json);
   bson_t *filters = filters_json ? tu_json_q(filters_json) : NULL;
   bson_t *expected = tu_json_q(expected_json);
   fe_collator_t *collator = NULL;
   fe_update_t *update = NULL;
   fe_match_info_t match = {.positional_index = pos};
   fe_error_t error = {0};
   bson_t out;
   char *got;
   char *want;

   assert_true(collation_parse(collation, &collator, &error));
   update = update_compile_collated(spec, false, filters, NULL, collator, &error);
   if (!update) {
      print_error("update %s: %s\n", update_json, error.message);
      fail();
   }
   assert_true(update_apply(update, doc, pos >= 0 ? &match : NULL, false, &out, &error));
   got = bson_as_canonical_extended_json(&out, NULL);
   want = bson_as_canonical_extended_json(expected, NULL);
   if (strcmp(got, want) != 0) {
      print_error("doc %s update %s\n  got  %s\n  want %s\n", doc_json, update_json, got, want);
      fail();
   }
   bson_free(got);
   bson_free(want);
   bson_destroy(&out);
   update_destroy(update);
   collation_destroy(collator);
   bson_destroy(collation);
   bson_destroy(doc);
   bson_destroy(spec);
   if (filters) {
      bson_destroy(filters);
   }
   bson_destroy(expected);
}

/* The statement's collation reaches every operator that compares values; without one they
 * compare binary (the cases above). */
static void
test_collation(void **state)
{
   (void) state;
   expect_collated("{'a': ['A', 'b']}", "{'$addToSet': {'a': 'a'}}", NULL, -1, "{'a': ['A', 'b']}");
   expect_collated("{'a': ['A']}", "{'$addToSet': {'a': {'$each': ['a', 'B', 'b']}}}", NULL, -1,
                   "{'a': ['A', 'B']}");
   expect_collated("{'a': ['A', 'b', 'a']}", "{'$pull': {'a': 'a'}}", NULL, -1, "{'a': ['b']}");
   expect_collated("{'a': ['A', 'b', 'c']}", "{'$pull': {'a': {'$in': ['a', 'C']}}}", NULL, -1,
                   "{'a': ['b']}");
   expect_collated("{'a': [{'n': 'X'}, {'n': 'y'}]}", "{'$pull': {'a': {'n': 'x'}}}", NULL, -1,
                   "{'a': [{'n': 'y'}]}");
   expect_collated("{'a': ['A', 'b', 'c']}", "{'$pullAll': {'a': ['a', 'B']}}", NULL, -1,
                   "{'a': ['c']}");
   expect_collated("{'a': ['b', 'C']}", "{'$push': {'a': {'$each': ['a'], '$sort': 1}}}", NULL, -1,
                   "{'a': ['a', 'b', 'C']}");
   expect_collated("{'a': [{'n': 'b'}, {'n': 'C'}]}",
                   "{'$push': {'a': {'$each': [{'n': 'a'}], '$sort': {'n': -1}}}}", NULL, -1,
                   "{'a': [{'n': 'C'}, {'n': 'b'}, {'n': 'a'}]}");
   /* Binary, "B" < "a"; under the collation "a" < "B". */
   expect_collated("{'s': 'B'}", "{'$min': {'s': 'a'}}", NULL, -1, "{'s': 'a'}");
   expect_collated("{'s': 'a'}", "{'$max': {'s': 'B'}}", NULL, -1, "{'s': 'B'}");
   expect_collated("{'s': 'b'}", "{'$max': {'s': 'B'}}", NULL, -1, "{'s': 'b'}");
   expect_collated("{'a': ['A', 'b', 'a']}", "{'$set': {'a.$[e]': 'z'}}", "[{'e': 'a'}]", -1,
                   "{'a': ['z', 'b', 'z']}");
   expect_collated("{'a': [{'n': 'X'}, {'n': 'y'}]}", "{'$set': {'a.$[e].m': 1}}",
                   "[{'e.n': {'$gte': 'x'}}]", -1,
                   "{'a': [{'n': 'X', 'm': 1}, {'n': 'y', 'm': 1}]}");
   /* A pipeline's expressions compare under it too. */
   {
      bson_t *collation = tu_json_q("{'locale': 'en', 'strength': 2}");
      bson_t *doc = tu_json_q("{'_id': 1, 's': 'a'}");
      bson_t *stages = tu_json_q("[{'$set': {'e': {'$eq': ['$s', 'A']}}}]");
      fe_collator_t *collator = NULL;
      fe_error_t error = {0};
      fe_update_t *update;
      bson_iter_t iter;
      bson_t out;
      assert_true(collation_parse(collation, &collator, &error));
      update = update_compile_collated(stages, true, NULL, NULL, collator, &error);
      assert_non_null(update);
      assert_true(update_apply(update, doc, NULL, false, &out, &error));
      assert_true(bson_iter_init_find(&iter, &out, "e") && bson_iter_as_bool(&iter));
      bson_destroy(&out);
      update_destroy(update);
      collation_destroy(collator);
      bson_destroy(collation);
      bson_destroy(doc);
      bson_destroy(stages);
   }
   /* The _id stays binary: a replacement may not change its case. */
   {
      bson_t *collation = tu_json_q("{'locale': 'en', 'strength': 2}");
      bson_t *doc = tu_json_q("{'_id': 'a'}");
      bson_t *spec = tu_json_q("{'_id': 'A'}");
      fe_collator_t *collator = NULL;
      fe_error_t error = {0};
      fe_update_t *update;
      bson_t out;
      assert_true(collation_parse(collation, &collator, &error));
      update = update_compile_collated(spec, false, NULL, NULL, collator, &error);
      assert_non_null(update);
      assert_false(update_apply(update, doc, NULL, false, &out, &error));
      assert_int_equal(error.code, 66);
      bson_destroy(&out);
      update_destroy(update);
      collation_destroy(collator);
      bson_destroy(collation);
      bson_destroy(doc);
      bson_destroy(spec);
   }
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_set),           cmocka_unit_test(test_unset),
      cmocka_unit_test(test_inc_mul),       cmocka_unit_test(test_min_max),
      cmocka_unit_test(test_rename),        cmocka_unit_test(test_current_date),
      cmocka_unit_test(test_set_on_insert), cmocka_unit_test(test_push),
      cmocka_unit_test(test_add_to_set),    cmocka_unit_test(test_pop_pull),
      cmocka_unit_test(test_bit),           cmocka_unit_test(test_positional),
      cmocka_unit_test(test_array_filters), cmocka_unit_test(test_validation),
      cmocka_unit_test(test_replacement),   cmocka_unit_test(test_upsert),
      cmocka_unit_test(test_collation),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
