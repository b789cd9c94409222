/*
 * expr_check.h: evaluating one aggregation expression against one document for the
 * expression unit tests. Expressions and results are JSON written with single quotes
 * ('$year' for "$year"), so that cases read like the MongoDB manual's examples.
 */
#ifndef FE_EXPR_CHECK_H
#define FE_EXPR_CHECK_H

#include "../bson/test_util.h"

#include "query/expr.h"

/* Evaluates expr_json against doc_json: {"v": <result>} as canonical JSON, "missing", or
 * "error <code>". Owned by the caller. */
static inline char *
ec_evaluate(const char *doc_json, const char *expr_json)
{
   char *doc_text = tu_quotes(doc_json), *expr_text = tu_quotes(expr_json);
   char *wrapped = bson_strdup_printf("{\"e\": %s}", expr_text);
   bson_t *doc = tu_json(doc_text);
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
   bson_free(doc_text);
   bson_free(expr_text);
   return result;
}

/* Fails the test unless expr evaluates against doc to expected (a JSON value, "missing" or
 * "error <code>"). */
static inline void
ec_check(const char *doc, const char *expr, const char *expected)
{
   char *got = ec_evaluate(doc, expr);
   char *want;

   if (strncmp(expected, "error", 5) == 0 || strcmp(expected, "missing") == 0) {
      want = bson_strdup(expected);
   } else {
      char *text = tu_quotes(expected);
      char *wrapped = bson_strdup_printf("{\"v\": %s}", text);
      bson_t *e = tu_json(wrapped);
      want = bson_as_canonical_extended_json(e, NULL);
      bson_destroy(e);
      bson_free(wrapped);
      bson_free(text);
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

#endif /* FE_EXPR_CHECK_H */
