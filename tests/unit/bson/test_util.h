/*
 * test_util.h: helpers shared by the bson and query unit tests: documents from (extended)
 * JSON, so that test cases read like the MongoDB manual's examples.
 */
#ifndef FE_TEST_UTIL_H
#define FE_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <bson/bson.h>

/* Parses relaxed or canonical extended JSON; fails the test on a parse error. Owned by the
 * caller (bson_destroy). */
static inline bson_t *
tu_json(const char *json)
{
   bson_error_t err;
   bson_t *doc = bson_new_from_json((const uint8_t *) json, -1, &err);
   if (!doc) {
      fail_msg("bad test JSON %s: %s", json, err.message);
   }
   return doc;
}

/* The canonical extended JSON of doc, for messages; owned by the caller (bson_free). */
static inline char *
tu_str(const bson_t *doc)
{
   return bson_as_canonical_extended_json(doc, NULL);
}

/* Asserts that two documents are identical byte for byte, printing both when not. */
static inline void
tu_assert_doc_eq(const bson_t *got, const char *expected_json)
{
   bson_t *expected = tu_json(expected_json);
   if (!bson_equal(got, expected)) {
      char *g = tu_str(got), *e = tu_str(expected);
      print_error("expected %s\n     got %s\n", e, g);
      bson_free(g);
      bson_free(e);
      bson_destroy(expected);
      fail();
   }
   bson_destroy(expected);
}

#endif /* FE_TEST_UTIL_H */
