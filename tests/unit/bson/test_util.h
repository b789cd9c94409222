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

/* Copies src into dst renaming keys "$_x" to "$x", recursively. */
static inline void
tu_rename(bson_iter_t *src, bson_t *dst)
{
   while (bson_iter_next(src)) {
      const char *key = bson_iter_key(src);
      char renamed[256];
      if (key[0] == '$' && key[1] == '_') {
         snprintf(renamed, sizeof renamed, "$%s", key + 2);
         key = renamed;
      }
      if (BSON_ITER_HOLDS_DOCUMENT(src) || BSON_ITER_HOLDS_ARRAY(src)) {
         bson_t child;
         bson_iter_t sub;
         bool array = BSON_ITER_HOLDS_ARRAY(src);
         bson_iter_recurse(src, &sub);
         if (array) {
            bson_append_array_begin(dst, key, -1, &child);
         } else {
            bson_append_document_begin(dst, key, -1, &child);
         }
         tu_rename(&sub, &child);
         if (array) {
            bson_append_array_end(dst, &child);
         } else {
            bson_append_document_end(dst, &child);
         }
      } else {
         bson_append_iter(dst, key, -1, src);
      }
   }
}

/* Parses relaxed or canonical extended JSON; fails the test on a parse error. Keys written
 * "$_type", "$_regex" become "$type", "$regex": libbson's parser would read those as legacy
 * extended JSON. Owned by the caller (bson_destroy). */
static inline bson_t *
tu_json(const char *json)
{
   bson_error_t err;
   bson_t *doc = bson_new_from_json((const uint8_t *) json, -1, &err);
   if (!doc) {
      fail_msg("bad test JSON %s: %s", json, err.message);
   }
   if (strstr(json, "\"$_")) {
      bson_t *renamed = bson_new();
      bson_iter_t it;
      bson_iter_init(&it, doc);
      tu_rename(&it, renamed);
      bson_destroy(doc);
      doc = renamed;
   }
   return doc;
}

/* s with every ' turned into ", so that test JSON can be written with single quotes. Owned by
 * the caller (bson_free). */
static inline char *
tu_quotes(const char *s)
{
   char *r = bson_strdup(s);
   for (char *p = r; *p; p++) {
      if (*p == '\'') {
         *p = '"';
      }
   }
   return r;
}

/* tu_json() of text written with single quotes for double quotes. Owned by the caller
 * (bson_destroy). */
static inline bson_t *
tu_json_q(const char *text)
{
   char *copy = tu_quotes(text);
   bson_t *doc = tu_json(copy);
   bson_free(copy);
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
