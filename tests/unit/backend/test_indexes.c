/*
 * test_indexes.c: the pure parts of secondary indexes (core/backend/indexes.c): specification
 * checks and normalization, generated names, and the keys a document has in an index.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../bson/test_util.h"

#include "backend/indexes.h"

/* Normalizes spec; returns the error code (0 on success) and the result as canonical JSON. */
static int32_t
normalize(const char *spec, char **out)
{
   bson_t *doc = tu_json(spec);
   bson_t normalized;
   fe_error_t error = {0};
   bool ok = indexes_normalize_spec(doc, &normalized, &error);
   *out = ok ? bson_as_relaxed_extended_json(&normalized, NULL) : NULL;
   bson_destroy(&normalized);
   bson_destroy(doc);
   return ok ? 0 : error.code;
}

static void
test_normalize(void **state)
{
   char *out = NULL;
   (void) state;
   assert_int_equal(normalize("{\"key\": {\"a\": 1, \"b\": -1}}", &out), 0);
   assert_string_equal(
      out, "{ \"v\" : 2, \"key\" : { \"a\" : 1, \"b\" : -1 }, \"name\" : \"a_1_b_-1\" }");
   bson_free(out);
   /* Only true options are kept; background and ns are dropped. */
   assert_int_equal(normalize("{\"key\": {\"a.b\": 1.0}, \"unique\": true, \"sparse\": false, "
                              "\"background\": true, \"ns\": \"x.y\"}",
                              &out),
                    0);
   assert_string_equal(
      out, "{ \"v\" : 2, \"key\" : { \"a.b\" : 1.0 }, \"name\" : \"a.b_1\", \"unique\" : true }");
   bson_free(out);
   assert_int_equal(normalize("{\"key\": {\"h\": \"hashed\"}, \"name\": \"n\"}", &out), 0);
   bson_free(out);
   assert_int_equal(normalize("{\"key\": {\"h\": \"hashed\"}}", &out), 0);
   assert_non_null(strstr(out, "\"h_hashed\""));
   bson_free(out);
}

static void
test_normalize_errors(void **state)
{
   char *out = NULL;
   (void) state;
   assert_int_equal(normalize("{\"name\": \"x\"}", &out), FE_FailedToParse);
   assert_int_equal(normalize("{\"key\": {}}", &out), FE_CannotCreateIndex);
   assert_int_equal(normalize("{\"key\": {\"a\": 0}}", &out), FE_CannotCreateIndex);
   /* Text indexes are normalized by text_normalize_spec() (tests/unit/query/test_text.c). */
   assert_int_equal(normalize("{\"key\": {\"a\": \"text\", \"b\": \"2d\"}}", &out),
                    FE_CannotCreateIndex);
   assert_int_equal(normalize("{\"key\": {\"a\": \"2dsphere\"}}", &out), FE_CannotCreateIndex);
   assert_int_equal(normalize("{\"key\": {\"a\": \"bogus\"}}", &out), FE_CannotCreateIndex);
   assert_int_equal(normalize("{\"key\": {\"a\": {\"b\": 1}}}", &out), FE_CannotCreateIndex);
   assert_int_equal(normalize("{\"key\": {\"$**\": 1}}", &out), FE_CannotCreateIndex);
   assert_int_equal(normalize("{\"key\": {\"h\": \"hashed\"}, \"unique\": true}", &out),
                    FE_CannotCreateIndex);
   assert_int_equal(normalize("{\"key\": {\"a\": 1}, \"weird\": 1}", &out),
                    FE_InvalidIndexSpecificationOption);
   assert_int_equal(normalize("{\"key\": [1]}", &out), FE_TypeMismatch);
   assert_int_equal(
      normalize("{\"key\": {\"a\": 1}, \"partialFilterExpression\": {\"$bad\": 1}}", &out),
      FE_BadValue);
   assert_int_equal(normalize("{\"key\": {\"a\": 1, \"b\": 1}, \"expireAfterSeconds\": 5}", &out),
                    FE_CannotCreateIndex);
   assert_null(out);
}

/* expireAfterSeconds as mongod 7 and 8 check and store it. */
static void
test_normalize_ttl(void **state)
{
   static const char *const bad[] = {
      "-1",
      "-0.5",
      "\"10\"",
      "true",
      "null",
      "{}",
      "{\"$numberDouble\": \"NaN\"}",
      "{\"$numberDouble\": \"Infinity\"}",
      "2147483648",
      "{\"$numberLong\": \"9223372036854775807\"}",
      "{\"$numberDecimal\": \"-1\"}",
      "{\"$numberDecimal\": \"NaN\"}",
   };
   char *out = NULL;
   char spec[256];
   (void) state;

   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      snprintf(spec, sizeof spec, "{\"key\": {\"t\": 1}, \"expireAfterSeconds\": %s}", bad[i]);
      assert_int_equal(normalize(spec, &out), FE_CannotCreateIndex);
   }
   /* The _id index takes no TTL; a descending _id key is an ordinary index. */
   assert_int_equal(normalize("{\"key\": {\"_id\": 1}, \"expireAfterSeconds\": 5}", &out),
                    FE_InvalidIndexSpecificationOption);
   assert_int_equal(normalize("{\"key\": {\"_id\": -1}, \"expireAfterSeconds\": 5}", &out), 0);
   bson_free(out);
   /* Stored as int32 whole seconds. */
   assert_int_equal(normalize("{\"key\": {\"t\": 1}, \"expireAfterSeconds\": 10000.7}", &out), 0);
   assert_string_equal(out, "{ \"v\" : 2, \"key\" : { \"t\" : 1 }, \"name\" : \"t_1\", "
                            "\"expireAfterSeconds\" : 10000 }");
   bson_free(out);
   assert_int_equal(
      normalize("{\"key\": {\"t\": 1}, \"expireAfterSeconds\": {\"$numberLong\": \"2147483647\"}}",
                &out),
      0);
   assert_non_null(strstr(out, "\"expireAfterSeconds\" : 2147483647 }"));
   bson_free(out);
   assert_int_equal(
      normalize("{\"key\": {\"t\": 1}, \"expireAfterSeconds\": {\"$numberDecimal\": \"60\"}}",
                &out),
      0);
   assert_non_null(strstr(out, "\"expireAfterSeconds\" : 60 }"));
   bson_free(out);
   assert_int_equal(normalize("{\"key\": {\"t\": 1}, \"expireAfterSeconds\": 0}", &out), 0);
   assert_non_null(strstr(out, "\"expireAfterSeconds\" : 0 }"));
   bson_free(out);
}

/* The keys of doc in the index spec (a normalized spec as JSON), joined as JSON with '|'. */
static int32_t
keys_of(const char *spec, const char *doc_json, char *joined, size_t size)
{
   bson_t *spec_doc = tu_json(spec);
   bson_t *doc = tu_json(doc_json);
   bson_t normalized;
   fe_index_t index;
   fe_error_t error = {0};
   bson_t **keys = NULL;
   size_t count = 0;
   int32_t code = 0;

   joined[0] = '\0';
   assert_true(indexes_normalize_spec(spec_doc, &normalized, &error));
   assert_true(indexes_index_init(&index, &normalized, NULL, &error));
   if (indexes_doc_keys(&index, doc, &keys, &count, &error)) {
      for (size_t i = 0; i < count; i++) {
         char *text = bson_as_relaxed_extended_json(keys[i], NULL);
         if (i > 0) {
            strncat(joined, "|", size - strlen(joined) - 1);
         }
         strncat(joined, text, size - strlen(joined) - 1);
         bson_free(text);
      }
   } else {
      code = error.code;
   }
   for (size_t i = 0; i < count; i++) {
      bson_destroy(keys[i]);
   }
   free(keys);
   indexes_index_clear(&index);
   bson_destroy(&normalized);
   bson_destroy(spec_doc);
   bson_destroy(doc);
   return code;
}

static void
test_doc_keys(void **state)
{
   char k[1024];
   (void) state;
   assert_int_equal(keys_of("{\"key\": {\"a\": 1}}", "{\"a\": 5}", k, sizeof k), 0);
   assert_string_equal(k, "{ \"a\" : 5 }");
   /* Missing is null. */
   assert_int_equal(keys_of("{\"key\": {\"a\": 1, \"b\": 1}}", "{\"b\": \"x\"}", k, sizeof k), 0);
   assert_string_equal(k, "{ \"a\" : null, \"b\" : \"x\" }");
   /* Multikey: one key per element, duplicates within the document collapse (1 and 1.0). */
   assert_int_equal(keys_of("{\"key\": {\"t\": 1}}", "{\"t\": [1, 2, 1.0]}", k, sizeof k), 0);
   assert_string_equal(k, "{ \"t\" : 1 }|{ \"t\" : 2 }");
   /* An empty array is undefined. */
   assert_int_equal(keys_of("{\"key\": {\"t\": 1}}", "{\"t\": []}", k, sizeof k), 0);
   assert_string_equal(k, "{ \"t\" : { \"$undefined\" : true } }");
   /* Dotted paths through arrays of documents; a document without the field gives null. */
   assert_int_equal(
      keys_of("{\"key\": {\"a.b\": 1}}", "{\"a\": [{\"b\": 1}, {\"c\": 2}]}", k, sizeof k), 0);
   assert_string_equal(k, "{ \"a.b\" : 1 }|{ \"a.b\" : null }");
   /* Compound with one array field. */
   assert_int_equal(
      keys_of("{\"key\": {\"a\": 1, \"b\": 1}}", "{\"a\": 1, \"b\": [2, 3]}", k, sizeof k), 0);
   assert_string_equal(k, "{ \"a\" : 1, \"b\" : 2 }|{ \"a\" : 1, \"b\" : 3 }");
   assert_int_equal(
      keys_of("{\"key\": {\"a\": 1, \"b\": 1}}", "{\"a\": [1, 2], \"b\": [2, 3]}", k, sizeof k),
      FE_CannotIndexParallelArrays);
   /* Sparse skips documents missing every key field, not those with null. */
   assert_int_equal(keys_of("{\"key\": {\"a\": 1}, \"sparse\": true}", "{\"x\": 1}", k, sizeof k),
                    0);
   assert_string_equal(k, "");
   assert_int_equal(
      keys_of("{\"key\": {\"a\": 1}, \"sparse\": true}", "{\"a\": null}", k, sizeof k), 0);
   assert_string_equal(k, "{ \"a\" : null }");
   /* Partial filter. */
   assert_int_equal(keys_of("{\"key\": {\"a\": 1}, \"partialFilterExpression\": {\"on\": true}}",
                            "{\"a\": 1, \"on\": false}", k, sizeof k),
                    0);
   assert_string_equal(k, "");
   assert_int_equal(keys_of("{\"key\": {\"a\": 1}, \"partialFilterExpression\": {\"on\": true}}",
                            "{\"a\": 1, \"on\": true}", k, sizeof k),
                    0);
   assert_string_equal(k, "{ \"a\" : 1 }");
}

static void
test_same_key_and_hidden(void **state)
{
   bson_t *a = tu_json("{\"a\": 1, \"b\": -1}");
   bson_t *b = tu_json("{\"a\": 1.0, \"b\": {\"$numberLong\": \"-1\"}}");
   bson_t *c = tu_json("{\"b\": -1, \"a\": 1}");
   bson_t *d = tu_json("{\"a\": 1}");
   (void) state;
   assert_true(indexes_same_key(a, b));
   assert_false(indexes_same_key(a, c));
   assert_false(indexes_same_key(a, d));
   assert_false(indexes_same_key(d, a));
   assert_true(indexes_is_hidden("__ferret.indexes"));
   assert_true(indexes_is_hidden("__ferret.idx.0123"));
   assert_false(indexes_is_hidden("__ferret"));
   assert_false(indexes_is_hidden("users"));
   bson_destroy(a);
   bson_destroy(b);
   bson_destroy(c);
   bson_destroy(d);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_normalize),           cmocka_unit_test(test_normalize_errors),
      cmocka_unit_test(test_normalize_ttl),       cmocka_unit_test(test_doc_keys),
      cmocka_unit_test(test_same_key_and_hidden),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
