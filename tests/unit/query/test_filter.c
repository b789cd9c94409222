/*
 * test_filter.c: query filters (core/query/filter.c, filter_match.c, core/bson/path.c), case
 * by case from the MongoDB manual's query operator pages.
 */
#include "../bson/test_util.h"

#include "query/filter.h"

typedef struct match_case {
   const char *filter;
   const char *doc;
   bool expected;
} match_case_t;

/* Runs cases, reporting every failing one before failing. */
static void
run_cases(const match_case_t *cases, size_t n)
{
   int failures = 0;
   for (size_t i = 0; i < n; i++) {
      fe_error_t error = {0};
      bson_t *spec = tu_json(cases[i].filter);
      bson_t *doc = tu_json(cases[i].doc);
      fe_filter_t *filter = filter_compile(spec, &error);
      if (!filter) {
         print_error("case %zu: filter %s failed to compile: %s\n", i, cases[i].filter,
                     error.message);
         failures++;
      } else if (filter_match(filter, doc, NULL) != cases[i].expected) {
         print_error("case %zu: filter %s on %s: expected %s\n", i, cases[i].filter, cases[i].doc,
                     cases[i].expected ? "match" : "no match");
         failures++;
      }
      filter_destroy(filter);
      bson_destroy(spec);
      bson_destroy(doc);
   }
   assert_int_equal(failures, 0);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])
#define Y true
#define N false

static void
test_equality(void **state)
{
   (void) state;
   static const match_case_t cases[] = {
      {"{}", "{\"a\": 1}", Y},
      {"{\"a\": 1}", "{\"a\": 1}", Y},
      {"{\"a\": 1}", "{\"a\": 1.0}", Y},
      {"{\"a\": 1}", "{\"a\": {\"$numberLong\": \"1\"}}", Y},
      {"{\"a\": 1}", "{\"a\": {\"$numberDecimal\": \"1.00\"}}", Y},
      {"{\"a\": 1}", "{\"a\": \"1\"}", N},
      {"{\"a\": 1}", "{\"a\": true}", N},
      {"{\"a\": 1}", "{\"b\": 1}", N},
      {"{\"a\": 0}", "{\"a\": {\"$numberDouble\": \"-0.0\"}}", Y},
      {"{\"a\": {\"$eq\": 1}}", "{\"a\": 1}", Y},
      {"{\"a\": 1, \"b\": 2}", "{\"a\": 1, \"b\": 2}", Y},
      {"{\"a\": 1, \"b\": 2}", "{\"a\": 1, \"b\": 3}", N},
      /* Embedded documents: whole-document equality, field order matters. */
      {"{\"a\": {\"x\": 1, \"y\": 2}}", "{\"a\": {\"x\": 1, \"y\": 2}}", Y},
      {"{\"a\": {\"x\": 1, \"y\": 2}}", "{\"a\": {\"y\": 2, \"x\": 1}}", N},
      {"{\"a\": {\"x\": 1}}", "{\"a\": {\"x\": 1, \"y\": 2}}", N},
      /* Dotted paths. */
      {"{\"a.x\": 1}", "{\"a\": {\"x\": 1, \"y\": 2}}", Y},
      {"{\"a.x.y\": 1}", "{\"a\": {\"x\": {\"y\": 1}}}", Y},
      {"{\"a.x.y\": 1}", "{\"a\": {\"x\": 5}}", N},
      /* null matches null, missing, and undefined. */
      {"{\"a\": null}", "{\"a\": null}", Y},
      {"{\"a\": null}", "{\"b\": 1}", Y},
      {"{\"a\": null}", "{\"a\": {\"$undefined\": true}}", Y},
      {"{\"a\": null}", "{\"a\": 0}", N},
      {"{\"a\": null}", "{\"a\": false}", N},
      {"{\"a.b\": null}", "{\"a\": 5}", Y},
      {"{\"a.b\": null}", "{\"a\": {\"c\": 1}}", Y},
      {"{\"a.b\": null}", "{\"a\": [{\"c\": 1}]}", Y},
      {"{\"a.b\": null}", "{\"a\": [{\"b\": 1}]}", N},
      {"{\"a.b\": null}", "{\"a\": [1, 2]}", N},
      {"{\"a\": {\"$eq\": null}}", "{}", Y},
      /* Arrays: an element matches, or the whole array. */
      {"{\"a\": 2}", "{\"a\": [1, 2, 3]}", Y},
      {"{\"a\": 4}", "{\"a\": [1, 2, 3]}", N},
      {"{\"a\": [1, 2]}", "{\"a\": [1, 2]}", Y},
      {"{\"a\": [1, 2]}", "{\"a\": [2, 1]}", N},
      {"{\"a\": [1, 2]}", "{\"a\": [[1, 2], 3]}", Y},
      {"{\"a\": [1]}", "{\"a\": 1}", N},
      {"{\"a\": 1}", "{\"a\": [[1]]}", N},
      {"{\"a\": []}", "{\"a\": []}", Y},
      {"{\"a\": []}", "{\"a\": [[]]}", Y},
      {"{\"a\": null}", "{\"a\": [null]}", Y},
      {"{\"a\": null}", "{\"a\": []}", N},
      /* Arrays of documents along a path. */
      {"{\"a.b\": 2}", "{\"a\": [{\"b\": 1}, {\"b\": 2}]}", Y},
      {"{\"a.b\": 3}", "{\"a\": [{\"b\": 1}, {\"b\": 2}]}", N},
      {"{\"a.b\": 2}", "{\"a\": [{\"b\": [1, 2]}]}", Y},
      {"{\"a.b.c\": 2}", "{\"a\": [{\"b\": [{\"c\": 1}, {\"c\": 2}]}]}", Y},
      {"{\"a.b\": {\"c\": 1}}", "{\"a\": [{\"b\": {\"c\": 1}}]}", Y},
      /* Numeric components. */
      {"{\"a.0\": 1}", "{\"a\": [1, 2]}", Y},
      {"{\"a.1\": 1}", "{\"a\": [1, 2]}", N},
      {"{\"a.0.b\": 1}", "{\"a\": [{\"b\": 1}, {\"b\": 2}]}", Y},
      {"{\"a.1.b\": 1}", "{\"a\": [{\"b\": 1}, {\"b\": 2}]}", N},
      {"{\"a.0\": 5}", "{\"a\": {\"0\": 5}}", Y},
      {"{\"a.0\": 5}", "{\"a\": [{\"0\": 5}]}", Y},
      {"{\"a.0.0\": 5}", "{\"a\": [[5]]}", Y},
      {"{\"a.0\": 5}", "{\"a\": [[5]]}", Y},
      {"{\"a.01\": 5}", "{\"a\": [5]}", N},
      /* Other types. */
      {"{\"a\": \"x\"}", "{\"a\": \"x\"}", Y},
      {"{\"a\": \"x\"}", "{\"a\": \"X\"}", N},
      {"{\"a\": {\"$oid\": \"5f0000000000000000000001\"}}",
       "{\"a\": {\"$oid\": \"5f0000000000000000000001\"}}", Y},
      {"{\"a\": {\"$date\": {\"$numberLong\": \"1000\"}}}",
       "{\"a\": {\"$date\": {\"$numberLong\": \"1000\"}}}", Y},
      {"{\"a\": {\"$date\": {\"$numberLong\": \"1000\"}}}", "{\"a\": 1000}", N},
      {"{\"a\": {\"$minKey\": 1}}", "{\"a\": {\"$minKey\": 1}}", Y},
      {"{\"a\": {\"$minKey\": 1}}", "{\"a\": null}", N},
      {"{\"a\": {\"$numberDouble\": \"NaN\"}}", "{\"a\": {\"$numberDecimal\": \"NaN\"}}", Y},
      /* A DBRef is a document, not an operator. */
      {"{\"a\": {\"$ref\": \"c\", \"$id\": 1}}", "{\"a\": {\"$ref\": \"c\", \"$id\": 1}}", Y},
   };
   RUN(cases);
}

static void
test_comparison(void **state)
{
   (void) state;
   static const match_case_t cases[] = {
      {"{\"a\": {\"$gt\": 1}}", "{\"a\": 2}", Y},
      {"{\"a\": {\"$gt\": 1}}", "{\"a\": 1}", N},
      {"{\"a\": {\"$gte\": 1}}", "{\"a\": 1.0}", Y},
      {"{\"a\": {\"$lt\": 1}}", "{\"a\": 0.5}", Y},
      {"{\"a\": {\"$lte\": 1}}", "{\"a\": {\"$numberDecimal\": \"1.0000\"}}", Y},
      {"{\"a\": {\"$lt\": 1}}", "{\"a\": {\"$numberDecimal\": \"0.9999999999999999999999\"}}", Y},
      {"{\"a\": {\"$gt\": 1, \"$lt\": 3}}", "{\"a\": 2}", Y},
      {"{\"a\": {\"$gt\": 1, \"$lt\": 3}}", "{\"a\": 3}", N},
      /* Type bracketing: no cross-type matches. */
      {"{\"a\": {\"$gt\": 1}}", "{\"a\": \"2\"}", N},
      {"{\"a\": {\"$lt\": \"a\"}}", "{\"a\": 1}", N},
      {"{\"a\": {\"$gt\": null}}", "{\"a\": 1}", N},
      {"{\"a\": {\"$gte\": \"\"}}", "{\"a\": {}}", N},
      {"{\"a\": {\"$gt\": \"a\"}}", "{\"a\": \"b\"}", Y},
      {"{\"a\": {\"$gt\": {\"$date\": {\"$numberLong\": \"0\"}}}}",
       "{\"a\": {\"$date\": {\"$numberLong\": \"1\"}}}", Y},
      {"{\"a\": {\"$gt\": {\"$date\": {\"$numberLong\": \"0\"}}}}", "{\"a\": 1}", N},
      /* null and missing. */
      {"{\"a\": {\"$gte\": null}}", "{}", Y},
      {"{\"a\": {\"$lte\": null}}", "{\"a\": null}", Y},
      {"{\"a\": {\"$gt\": null}}", "{}", N},
      {"{\"a\": {\"$lt\": null}}", "{\"a\": null}", N},
      /* MinKey and MaxKey compare across brackets. */
      {"{\"a\": {\"$gt\": {\"$minKey\": 1}}}", "{\"a\": \"x\"}", Y},
      {"{\"a\": {\"$gt\": {\"$minKey\": 1}}}", "{}", Y},
      {"{\"a\": {\"$lt\": {\"$maxKey\": 1}}}", "{\"a\": [1]}", Y},
      {"{\"a\": {\"$lt\": {\"$minKey\": 1}}}", "{\"a\": 1}", N},
      {"{\"a\": {\"$gte\": {\"$maxKey\": 1}}}", "{\"a\": {\"$maxKey\": 1}}", Y},
      /* NaN: equal to NaN, otherwise never less or greater. */
      {"{\"a\": {\"$gt\": {\"$numberDouble\": \"NaN\"}}}", "{\"a\": 1}", N},
      {"{\"a\": {\"$lt\": {\"$numberDouble\": \"NaN\"}}}", "{\"a\": 1}", N},
      {"{\"a\": {\"$lt\": 1}}", "{\"a\": {\"$numberDouble\": \"NaN\"}}", N},
      {"{\"a\": {\"$gte\": {\"$numberDouble\": \"NaN\"}}}", "{\"a\": {\"$numberDouble\": \"NaN\"}}",
       Y},
      {"{\"a\": {\"$gt\": {\"$numberDouble\": \"-Infinity\"}}}", "{\"a\": -1e308}", Y},
      /* Arrays: any element, or the whole array. */
      {"{\"a\": {\"$gt\": 5}}", "{\"a\": [1, 7]}", Y},
      {"{\"a\": {\"$gt\": 5}}", "{\"a\": [1, 3]}", N},
      {"{\"a\": {\"$gt\": 1, \"$lt\": 3}}", "{\"a\": [0, 4]}", Y},
      {"{\"a\": {\"$gt\": [1]}}", "{\"a\": [1, 2]}", Y},
      {"{\"a\": {\"$lt\": [5]}}", "{\"a\": [1, 7]}", Y},
      {"{\"a.b\": {\"$gt\": 5}}", "{\"a\": [{\"b\": 1}, {\"b\": 6}]}", Y},
      {"{\"a\": {\"$gt\": {\"b\": 1}}}", "{\"a\": {\"b\": 2}}", Y},
      /* $ne */
      {"{\"a\": {\"$ne\": 1}}", "{\"a\": 2}", Y},
      {"{\"a\": {\"$ne\": 1}}", "{\"a\": 1.0}", N},
      {"{\"a\": {\"$ne\": 1}}", "{}", Y},
      {"{\"a\": {\"$ne\": 1}}", "{\"a\": [1, 2]}", N},
      {"{\"a\": {\"$ne\": 3}}", "{\"a\": [1, 2]}", Y},
      {"{\"a\": {\"$ne\": null}}", "{}", N},
      {"{\"a\": {\"$ne\": null}}", "{\"a\": 0}", Y},
      {"{\"a.b\": {\"$ne\": 1}}", "{\"a\": [{\"b\": 1}, {\"b\": 2}]}", N},
      {"{\"a.b\": {\"$ne\": 1}}", "{\"a\": [1, 2]}", Y},
      {"{\"a\": {\"$ne\": \"1\"}}", "{\"a\": 1}", Y},
   };
   RUN(cases);
}

static void
test_in_nin(void **state)
{
   (void) state;
   static const match_case_t cases[] = {
      {"{\"a\": {\"$in\": [1, 2]}}", "{\"a\": 2.0}", Y},
      {"{\"a\": {\"$in\": [1, 2]}}", "{\"a\": 3}", N},
      {"{\"a\": {\"$in\": []}}", "{\"a\": 3}", N},
      {"{\"a\": {\"$in\": [1, 2]}}", "{\"a\": [5, 2]}", Y},
      {"{\"a\": {\"$in\": [[5, 2]]}}", "{\"a\": [5, 2]}", Y},
      {"{\"a\": {\"$in\": [null]}}", "{}", Y},
      {"{\"a\": {\"$in\": [null]}}", "{\"a\": 1}", N},
      {"{\"a\": {\"$in\": [{\"$regularExpression\": {\"pattern\": \"^ab\", \"options\": \"\"}}, "
       "5]}}",
       "{\"a\": \"abc\"}", Y},
      {"{\"a\": {\"$in\": [{\"$regularExpression\": {\"pattern\": \"^ab\", \"options\": \"\"}}, "
       "5]}}",
       "{\"a\": 5}", Y},
      {"{\"a\": {\"$in\": [{\"$regularExpression\": {\"pattern\": \"^ab\", \"options\": \"i\"}}]}}",
       "{\"a\": [\"x\", \"ABx\"]}", Y},
      {"{\"a\": {\"$in\": [{\"$regularExpression\": {\"pattern\": \"^ab\", \"options\": \"\"}}]}}",
       "{\"a\": \"xab\"}", N},
      {"{\"a\": {\"$in\": [{\"x\": 1}]}}", "{\"a\": {\"x\": 1}}", Y},
      {"{\"a.b\": {\"$in\": [3, 4]}}", "{\"a\": [{\"b\": 1}, {\"b\": 4}]}", Y},
      {"{\"a\": {\"$nin\": [1, 2]}}", "{\"a\": 3}", Y},
      {"{\"a\": {\"$nin\": [1, 2]}}", "{}", Y},
      {"{\"a\": {\"$nin\": [1, 2]}}", "{\"a\": [3, 1]}", N},
      {"{\"a\": {\"$nin\": [null]}}", "{}", N},
      {"{\"a\": {\"$nin\": []}}", "{\"a\": 1}", Y},
   };
   RUN(cases);
}

static void
test_logical(void **state)
{
   (void) state;
   static const match_case_t cases[] = {
      {"{\"$and\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 1, \"b\": 2}", Y},
      {"{\"$and\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 1, \"b\": 3}", N},
      {"{\"$or\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 0, \"b\": 2}", Y},
      {"{\"$or\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 0, \"b\": 0}", N},
      {"{\"$nor\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 0, \"b\": 0}", Y},
      {"{\"$nor\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 1}", N},
      {"{\"$nor\": [{\"a\": 1}]}", "{}", Y},
      {"{\"$and\": [{}]}", "{\"x\": 1}", Y},
      {"{\"$or\": [{\"$and\": [{\"a\": 1}, {\"b\": 1}]}, {\"c\": 1}]}", "{\"a\": 1, \"b\": 1}", Y},
      {"{\"a\": 1, \"$or\": [{\"b\": 1}, {\"c\": 1}]}", "{\"a\": 1, \"c\": 1}", Y},
      {"{\"a\": 1, \"$or\": [{\"b\": 1}, {\"c\": 1}]}", "{\"a\": 2, \"c\": 1}", N},
      {"{\"$comment\": \"hello\", \"a\": 1}", "{\"a\": 1}", Y},
      /* $expr compares fields of the same document. */
      {"{\"$expr\": {\"$gt\": [\"$a\", \"$b\"]}}", "{\"a\": 5, \"b\": 3}", Y},
      {"{\"$expr\": {\"$gt\": [\"$a\", \"$b\"]}}", "{\"a\": 2, \"b\": 3}", N},
      {"{\"$or\": [{\"$expr\": {\"$eq\": [\"$a\", 1]}}, {\"b\": 1}]}", "{\"a\": 1}", Y},
      {"{\"x\": 1, \"$expr\": {\"$eq\": [\"$a\", 1]}}", "{\"a\": 1}", N},
      /* $not */
      {"{\"a\": {\"$not\": {\"$gt\": 5}}}", "{\"a\": 3}", Y},
      {"{\"a\": {\"$not\": {\"$gt\": 5}}}", "{\"a\": 6}", N},
      {"{\"a\": {\"$not\": {\"$gt\": 5}}}", "{}", Y},
      {"{\"a\": {\"$not\": {\"$gt\": 5}}}", "{\"a\": \"x\"}", Y},
      {"{\"a\": {\"$not\": {\"$gt\": 5}}}", "{\"a\": [1, 7]}", N},
      {"{\"a\": {\"$not\": {\"$gt\": 1, \"$lt\": 5}}}", "{\"a\": 3}", N},
      {"{\"a\": {\"$not\": {\"$gt\": 1, \"$lt\": 5}}}", "{\"a\": 7}", Y},
      {"{\"a\": {\"$not\": {\"$regularExpression\": {\"pattern\": \"^x\", \"options\": \"\"}}}}",
       "{\"a\": \"xy\"}", N},
      {"{\"a\": {\"$not\": {\"$regularExpression\": {\"pattern\": \"^x\", \"options\": \"\"}}}}",
       "{\"a\": \"yx\"}", Y},
      {"{\"a\": {\"$not\": {\"$_regex\": \"^X\", \"$options\": \"i\"}}}", "{\"a\": \"xy\"}", N},
   };
   RUN(cases);
}

static void
test_exists_type(void **state)
{
   (void) state;
   static const match_case_t cases[] = {
      {"{\"a\": {\"$exists\": true}}", "{\"a\": null}", Y},
      {"{\"a\": {\"$exists\": true}}", "{\"b\": 1}", N},
      {"{\"a\": {\"$exists\": false}}", "{\"b\": 1}", Y},
      {"{\"a\": {\"$exists\": false}}", "{\"a\": 1}", N},
      {"{\"a\": {\"$exists\": 1}}", "{\"a\": 1}", Y},
      {"{\"a\": {\"$exists\": 0}}", "{\"a\": 1}", N},
      {"{\"a.b\": {\"$exists\": true}}", "{\"a\": [{\"c\": 1}, {\"b\": 1}]}", Y},
      {"{\"a.b\": {\"$exists\": true}}", "{\"a\": [1, 2]}", N},
      {"{\"a.b\": {\"$exists\": false}}", "{\"a\": [1, 2]}", Y},
      {"{\"a\": {\"$exists\": true}}", "{\"a\": []}", Y},
      {"{\"a.0\": {\"$exists\": true}}", "{\"a\": []}", N},
      {"{\"a.0\": {\"$exists\": true}}", "{\"a\": [null]}", Y},
      {"{\"a\": {\"$_type\": \"string\"}}", "{\"a\": \"x\"}", Y},
      {"{\"a\": {\"$_type\": 2}}", "{\"a\": \"x\"}", Y},
      {"{\"a\": {\"$_type\": 2.0}}", "{\"a\": \"x\"}", Y},
      {"{\"a\": {\"$_type\": \"string\"}}", "{\"a\": 1}", N},
      {"{\"a\": {\"$_type\": \"number\"}}", "{\"a\": {\"$numberDecimal\": \"1\"}}", Y},
      {"{\"a\": {\"$_type\": \"number\"}}", "{\"a\": \"1\"}", N},
      {"{\"a\": {\"$_type\": \"int\"}}", "{\"a\": 1}", Y},
      {"{\"a\": {\"$_type\": \"long\"}}", "{\"a\": 1}", N},
      {"{\"a\": {\"$_type\": \"double\"}}", "{\"a\": 1.5}", Y},
      {"{\"a\": {\"$_type\": [\"string\", \"bool\"]}}", "{\"a\": true}", Y},
      {"{\"a\": {\"$_type\": \"array\"}}", "{\"a\": []}", Y},
      {"{\"a\": {\"$_type\": \"array\"}}", "{\"a\": [1]}", Y},
      {"{\"a\": {\"$_type\": \"array\"}}", "{\"a\": 1}", N},
      {"{\"a\": {\"$_type\": \"number\"}}", "{\"a\": [\"x\", 1]}", Y},
      {"{\"a\": {\"$_type\": \"null\"}}", "{}", N},
      {"{\"a\": {\"$_type\": \"null\"}}", "{\"a\": null}", Y},
      {"{\"a\": {\"$_type\": \"minKey\"}}", "{\"a\": {\"$minKey\": 1}}", Y},
      {"{\"a\": {\"$_type\": -1}}", "{\"a\": {\"$minKey\": 1}}", Y},
      {"{\"a\": {\"$_type\": 127}}", "{\"a\": {\"$maxKey\": 1}}", Y},
      {"{\"a\": {\"$_type\": \"objectId\"}}", "{\"a\": {\"$oid\": \"5f0000000000000000000001\"}}",
       Y},
      {"{\"a\": {\"$_type\": \"date\"}}", "{\"a\": {\"$date\": {\"$numberLong\": \"1\"}}}", Y},
      {"{\"a\": {\"$_type\": \"object\"}}", "{\"a\": {}}", Y},
   };
   RUN(cases);
}

static void
test_regex(void **state)
{
   (void) state;
   static const match_case_t cases[] = {
      {"{\"a\": {\"$_regex\": \"^ab\"}}", "{\"a\": \"abc\"}", Y},
      {"{\"a\": {\"$_regex\": \"^ab\"}}", "{\"a\": \"cab\"}", N},
      {"{\"a\": {\"$_regex\": \"^AB\", \"$options\": \"i\"}}", "{\"a\": \"abc\"}", Y},
      {"{\"a\": {\"$_regex\": {\"$regularExpression\": {\"pattern\": \"^AB\", \"options\": "
       "\"i\"}}}}",
       "{\"a\": \"abc\"}", Y},
      {"{\"a\": {\"$regularExpression\": {\"pattern\": \"b\", \"options\": \"\"}}}",
       "{\"a\": \"abc\"}", Y},
      {"{\"a\": {\"$regularExpression\": {\"pattern\": \"b\", \"options\": \"\"}}}", "{\"a\": 1}",
       N},
      {"{\"a\": {\"$_regex\": \"b\"}}", "{\"a\": [\"x\", \"abc\"]}", Y},
      {"{\"a\": {\"$_regex\": \"b\"}}", "{\"a\": {\"$symbol\": \"abc\"}}", Y},
      {"{\"a\": {\"$_regex\": \"^b$\", \"$options\": \"m\"}}", "{\"a\": \"a\\nb\\nc\"}", Y},
      {"{\"a\": {\"$_regex\": \"^b$\"}}", "{\"a\": \"a\\nb\\nc\"}", N},
      {"{\"a\": {\"$_regex\": \"a.c\", \"$options\": \"s\"}}", "{\"a\": \"a\\nc\"}", Y},
      {"{\"a\": {\"$_regex\": \"a.c\"}}", "{\"a\": \"a\\nc\"}", N},
      {"{\"a\": {\"$_regex\": \"a b # comment\", \"$options\": \"x\"}}", "{\"a\": \"ab\"}", Y},
      {"{\"a\": {\"$_regex\": \"é.\"}}", "{\"a\": \"éa\"}", Y},
      /* A stored regex equal to the query's matches it. */
      {"{\"a\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"i\"}}}",
       "{\"a\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"i\"}}}", Y},
      {"{\"a\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"i\"}}}",
       "{\"a\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"\"}}}", N},
      /* $eq with a regex is plain equality. */
      {"{\"a\": {\"$eq\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"\"}}}}",
       "{\"a\": \"x\"}", N},
      {"{\"a\": {\"$eq\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"\"}}}}",
       "{\"a\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"\"}}}", Y},
   };
   RUN(cases);
}

static void
test_mod_size_all(void **state)
{
   (void) state;
   static const match_case_t cases[] = {
      {"{\"a\": {\"$mod\": [4, 0]}}", "{\"a\": 8}", Y},
      {"{\"a\": {\"$mod\": [4, 0]}}", "{\"a\": 9}", N},
      {"{\"a\": {\"$mod\": [4, 1]}}", "{\"a\": 9.9}", Y},
      {"{\"a\": {\"$mod\": [4, -1]}}", "{\"a\": -5}", Y},
      {"{\"a\": {\"$mod\": [4.5, 0]}}", "{\"a\": 8}", Y},
      {"{\"a\": {\"$mod\": [4, 0]}}", "{\"a\": \"8\"}", N},
      {"{\"a\": {\"$mod\": [4, 0]}}", "{\"a\": [1, 12]}", Y},
      {"{\"a\": {\"$mod\": [-1, 0]}}", "{\"a\": {\"$numberLong\": \"-9223372036854775808\"}}", Y},
      {"{\"a\": {\"$mod\": [2, 0]}}", "{\"a\": {\"$numberDouble\": \"NaN\"}}", N},
      {"{\"a\": {\"$size\": 2}}", "{\"a\": [1, 2]}", Y},
      {"{\"a\": {\"$size\": 2}}", "{\"a\": [1]}", N},
      {"{\"a\": {\"$size\": 0}}", "{\"a\": []}", Y},
      {"{\"a\": {\"$size\": 0}}", "{}", N},
      {"{\"a\": {\"$size\": 1}}", "{\"a\": 1}", N},
      {"{\"a\": {\"$size\": 2}}", "{\"a\": [[1, 2]]}", N},
      {"{\"a\": {\"$size\": 2.0}}", "{\"a\": [1, 2]}", Y},
      {"{\"a.b\": {\"$size\": 2}}", "{\"a\": [{\"b\": [1]}, {\"b\": [1, 2]}]}", Y},
      {"{\"a\": {\"$all\": [1, 2]}}", "{\"a\": [2, 3, 1]}", Y},
      {"{\"a\": {\"$all\": [1, 2]}}", "{\"a\": [2, 3]}", N},
      {"{\"a\": {\"$all\": [1]}}", "{\"a\": 1}", Y},
      {"{\"a\": {\"$all\": []}}", "{\"a\": [1]}", N},
      {"{\"a\": {\"$all\": [[1, 2]]}}", "{\"a\": [1, 2]}", Y},
      {"{\"a\": {\"$all\": [[1, 2]]}}", "{\"a\": [[1, 2], 3]}", Y},
      {"{\"a\": {\"$all\": [{\"$regularExpression\": {\"pattern\": \"^x\", \"options\": \"\"}}, "
       "\"yz\"]}}",
       "{\"a\": [\"xa\", \"yz\"]}", Y},
      {"{\"a\": {\"$all\": [{\"$elemMatch\": {\"b\": 1}}, {\"$elemMatch\": {\"b\": 2}}]}}",
       "{\"a\": [{\"b\": 1}, {\"b\": 2}]}", Y},
      {"{\"a\": {\"$all\": [{\"$elemMatch\": {\"b\": 1}}, {\"$elemMatch\": {\"b\": 3}}]}}",
       "{\"a\": [{\"b\": 1}, {\"b\": 2}]}", N},
      {"{\"a.b\": {\"$all\": [1, 2]}}", "{\"a\": [{\"b\": 1}, {\"b\": 2}]}", Y},
   };
   RUN(cases);
}

static void
test_elem_match(void **state)
{
   (void) state;
   static const match_case_t cases[] = {
      {"{\"a\": {\"$elemMatch\": {\"$gt\": 1, \"$lt\": 5}}}", "{\"a\": [0, 3]}", Y},
      {"{\"a\": {\"$elemMatch\": {\"$gt\": 1, \"$lt\": 5}}}", "{\"a\": [0, 6]}", N},
      /* Contrast: without $elemMatch, different elements may satisfy each condition. */
      {"{\"a\": {\"$gt\": 1, \"$lt\": 5}}", "{\"a\": [0, 6]}", Y},
      {"{\"a\": {\"$elemMatch\": {\"$gt\": 1}}}", "{\"a\": 3}", N},
      {"{\"a\": {\"$elemMatch\": {\"$eq\": 5}}}", "{\"a\": [[5]]}", N},
      {"{\"a\": {\"$elemMatch\": {\"b\": 1, \"c\": 2}}}", "{\"a\": [{\"b\": 1, \"c\": 2}]}", Y},
      {"{\"a\": {\"$elemMatch\": {\"b\": 1, \"c\": 2}}}", "{\"a\": [{\"b\": 1}, {\"c\": 2}]}", N},
      {"{\"a.b\": 1, \"a.c\": 2}", "{\"a\": [{\"b\": 1}, {\"c\": 2}]}", Y},
      {"{\"a\": {\"$elemMatch\": {\"b\": {\"$gt\": 1}}}}", "{\"a\": [{\"b\": 0}, {\"b\": 2}]}", Y},
      {"{\"a\": {\"$elemMatch\": {\"$or\": [{\"b\": 1}, {\"c\": 1}]}}}", "{\"a\": [{\"c\": 1}]}",
       Y},
      {"{\"a\": {\"$elemMatch\": {\"$not\": {\"$gt\": 5}}}}", "{\"a\": [7, 9]}", N},
      {"{\"a\": {\"$elemMatch\": {\"$not\": {\"$gt\": 5}}}}", "{\"a\": [7, 3]}", Y},
      {"{\"a\": {\"$elemMatch\": {\"$in\": [1, 2]}}}", "{\"a\": [3, 2]}", Y},
      {"{\"a\": {\"$elemMatch\": {\"$elemMatch\": {\"$gt\": 1}}}}", "{\"a\": [[0], [2]]}", Y},
      {"{\"a\": {\"$elemMatch\": {\"0\": 1}}}", "{\"a\": [[1, 2]]}", Y},
      {"{\"a.b\": {\"$elemMatch\": {\"$gt\": 1}}}", "{\"a\": [{\"b\": [0]}, {\"b\": [3]}]}", Y},
      {"{\"a\": {\"$elemMatch\": {}}}", "{\"a\": [{}]}", Y},
      {"{\"a\": {\"$elemMatch\": {}}}", "{\"a\": [1]}", N},
      {"{\"a\": {\"$elemMatch\": {\"$_regex\": \"^x\"}}}", "{\"a\": [\"y\", \"xz\"]}", Y},
      {"{\"a\": {\"$elemMatch\": {\"$exists\": true}}}", "{\"a\": [1]}", Y},
   };
   RUN(cases);
}

static void
test_bits(void **state)
{
   (void) state;
   static const match_case_t cases[] = {
      /* 54 is 0b110110. */
      {"{\"a\": {\"$bitsAllSet\": [1, 5]}}", "{\"a\": 54}", Y},
      {"{\"a\": {\"$bitsAllSet\": [0, 1]}}", "{\"a\": 54}", N},
      {"{\"a\": {\"$bitsAllSet\": 50}}", "{\"a\": 54}", Y},
      {"{\"a\": {\"$bitsAnySet\": [0, 1]}}", "{\"a\": 54}", Y},
      {"{\"a\": {\"$bitsAnySet\": [0, 3]}}", "{\"a\": 54}", N},
      {"{\"a\": {\"$bitsAllClear\": [0, 3]}}", "{\"a\": 54}", Y},
      {"{\"a\": {\"$bitsAllClear\": [0, 1]}}", "{\"a\": 54}", N},
      {"{\"a\": {\"$bitsAnyClear\": [0, 1]}}", "{\"a\": 54}", Y},
      {"{\"a\": {\"$bitsAnyClear\": [1, 2]}}", "{\"a\": 54}", N},
      {"{\"a\": {\"$bitsAllSet\": [1]}}", "{\"a\": 54.0}", Y},
      {"{\"a\": {\"$bitsAllSet\": [1]}}", "{\"a\": 54.5}", N},
      {"{\"a\": {\"$bitsAllSet\": [1]}}", "{\"a\": \"54\"}", N},
      /* Negative numbers are two's complement, sign-extended. */
      {"{\"a\": {\"$bitsAllSet\": [0, 63, 200]}}", "{\"a\": -1}", Y},
      {"{\"a\": {\"$bitsAllClear\": [0]}}", "{\"a\": -2}", Y},
      {"{\"a\": {\"$bitsAllSet\": [100]}}", "{\"a\": 1}", N},
      /* BinData is read little-endian, byte by byte: 0x20 0x01 has bits 5 and 8. */
      {"{\"a\": {\"$bitsAllSet\": [5, 8]}}",
       "{\"a\": {\"$binary\": {\"base64\": \"IAE=\", \"subType\": \"00\"}}}", Y},
      {"{\"a\": {\"$bitsAnySet\": [0, 100]}}",
       "{\"a\": {\"$binary\": {\"base64\": \"IAE=\", \"subType\": \"00\"}}}", N},
      {"{\"a\": {\"$bitsAllSet\": {\"$binary\": {\"base64\": \"IA==\", \"subType\": \"00\"}}}}",
       "{\"a\": 32}", Y},
      {"{\"a\": {\"$bitsAllSet\": []}}", "{\"a\": 0}", Y},
      {"{\"a\": {\"$bitsAnySet\": []}}", "{\"a\": 7}", N},
      {"{\"a\": {\"$bitsAnySet\": [1]}}", "{\"a\": [1, 2]}", Y},
   };
   RUN(cases);
}

typedef struct error_case {
   const char *filter;
   int32_t code;
   const char *message; /* a substring */
} error_case_t;

static void
test_errors(void **state)
{
   (void) state;
   static const error_case_t cases[] = {
      {"{\"a\": {\"$foo\": 1}}", 2, "unknown operator: $foo"},
      {"{\"$foo\": 1}", 2, "unknown top level operator: $foo"},
      {"{\"$where\": \"true\"}", 2, "$where"},
      {"{\"a\": {\"$elemMatch\": {\"$expr\": {\"$eq\": [1, 1]}}}}", 2, "top-level document"},
      {"{\"$expr\": {\"$noSuchOperator\": 1}}", 168, ""},
      {"{\"a\": {\"$in\": 1}}", 2, "$in needs an array"},
      {"{\"a\": {\"$nin\": {}}}", 2, "$nin needs an array"},
      {"{\"a\": {\"$in\": [{\"$gt\": 1}]}}", 2, "cannot nest $ under $in"},
      {"{\"a\": {\"$size\": \"x\"}}", 2, "$size needs a number"},
      {"{\"a\": {\"$size\": -1}}", 2, "negative"},
      {"{\"a\": {\"$size\": 1.5}}", 2, "whole number"},
      {"{\"a\": {\"$_type\": \"foo\"}}", 2, "Unknown type name alias: foo"},
      {"{\"a\": {\"$_type\": 100}}", 2, "Invalid numerical type code: 100"},
      {"{\"a\": {\"$_type\": 1.5}}", 2, "Invalid numerical type code"},
      {"{\"a\": {\"$_type\": []}}", 9, "at least one type"},
      {"{\"a\": {\"$_type\": true}}", 14, "type must be represented"},
      {"{\"a\": {\"$_regex\": \"x\", \"$options\": \"z\"}}", 51108,
       "invalid flag in regex options: z"},
      {"{\"a\": {\"$_regex\": \"(\"}}", 51091, "Regular expression is invalid"},
      {"{\"a\": {\"$_regex\": 1}}", 2, "$regex has to be a string"},
      {"{\"a\": {\"$_options\": \"i\"}}", 2, "$options needs a $regex"},
      {"{\"a\": {\"$_regex\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"i\"}}, "
       "\"$options\": \"m\"}}",
       51075, "options set in both $regex and $options"},
      {"{\"$and\": []}", 2, "$and/$or/$nor must be a nonempty array"},
      {"{\"$or\": []}", 2, "nonempty array"},
      {"{\"$nor\": []}", 2, "nonempty array"},
      {"{\"$and\": {}}", 2, "$and must be an array"},
      {"{\"$or\": [1]}", 2, "entries need to be full objects"},
      {"{\"$or\": [{\"a\": {\"$bad\": 1}}]}", 2, "unknown operator: $bad"},
      {"{\"a\": {\"$mod\": 4}}", 2, "malformed mod, needs to be an array"},
      {"{\"a\": {\"$mod\": [4]}}", 2, "not enough elements"},
      {"{\"a\": {\"$mod\": [4, 1, 2]}}", 2, "too many elements"},
      {"{\"a\": {\"$mod\": [0, 1]}}", 2, "divisor cannot be 0"},
      {"{\"a\": {\"$mod\": [\"x\", 1]}}", 2, "divisor not a number"},
      {"{\"a\": {\"$all\": 1}}", 2, "$all needs an array"},
      {"{\"a\": {\"$all\": [{\"$gt\": 1}]}}", 2, "no $ expressions in $all"},
      {"{\"a\": {\"$elemMatch\": 1}}", 2, "$elemMatch needs an Object"},
      {"{\"a\": {\"$not\": 1}}", 2, "$not needs a regex or a document"},
      {"{\"a\": {\"$not\": {}}}", 2, "$not cannot be empty"},
      {"{\"a\": {\"$ne\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"\"}}}}", 2,
       "regex"},
      {"{\"a\": {\"$bitsAllSet\": -1}}", 2, "negative"},
      {"{\"a\": {\"$bitsAllSet\": \"x\"}}", 2, "takes an Array, a number, or a BinData"},
      {"{\"a\": {\"$bitsAnySet\": [-1]}}", 2, "bit positions"},
      {"{\"a\": {\"$elemMatch\": {\"$foo\": 1}}}", 2, "unknown operator: $foo"},
      {"{\"a\": {\"$gt\": {\"$undefined\": true}}}", 2, "undefined"},
   };
   int failures = 0;
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      fe_error_t error = {0};
      bson_t *spec = tu_json(cases[i].filter);
      fe_filter_t *filter = filter_compile(spec, &error);
      if (filter) {
         print_error("case %zu: %s compiled\n", i, cases[i].filter);
         failures++;
      } else if (error.code != cases[i].code || !strstr(error.message, cases[i].message)) {
         print_error("case %zu: %s: got %d '%s', expected %d '%s'\n", i, cases[i].filter,
                     error.code, error.message, cases[i].code, cases[i].message);
         failures++;
      }
      filter_destroy(filter);
      bson_destroy(spec);
   }
   assert_int_equal(failures, 0);
   /* A NULL error is allowed. */
   bson_t *spec = tu_json("{\"a\": {\"$foo\": 1}}");
   assert_null(filter_compile(spec, NULL));
   bson_destroy(spec);
}

typedef struct positional_case {
   const char *filter;
   const char *doc;
   int32_t index;
} positional_case_t;

static void
test_positional(void **state)
{
   (void) state;
   static const positional_case_t cases[] = {
      {"{\"a\": 2}", "{\"a\": [1, 2, 3]}", 1},
      {"{\"a\": {\"$gt\": 1}}", "{\"a\": [1, 2, 3]}", 1},
      {"{\"a\": 1}", "{\"a\": 1}", -1},
      {"{\"a\": [1, 2]}", "{\"a\": [1, 2]}", -1},
      {"{\"a.b\": 5}", "{\"a\": [{\"b\": 1}, {\"b\": 1}, {\"b\": 5}]}", 2},
      {"{\"a.b\": 5}", "{\"a\": [{\"b\": 1}, {\"b\": [4, 5]}]}", 1},
      {"{\"a\": {\"$elemMatch\": {\"b\": 1, \"c\": 2}}}",
       "{\"a\": [{\"b\": 1}, {\"b\": 1, \"c\": 2}]}", 1},
      {"{\"x\": 1, \"a\": 3}", "{\"x\": 1, \"a\": [3]}", 0},
      {"{\"a\": 3, \"b\": 7}", "{\"a\": [1, 3], \"b\": [5, 6, 7]}", 2},
      {"{\"$or\": [{\"a\": 3}]}", "{\"a\": [1, 3]}", -1},
   };
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      fe_error_t error = {0};
      fe_match_info_t info = {.positional_index = 99};
      bson_t *spec = tu_json(cases[i].filter);
      bson_t *doc = tu_json(cases[i].doc);
      fe_filter_t *filter = filter_compile(spec, &error);
      assert_non_null(filter);
      assert_true(filter_match(filter, doc, &info));
      if (info.positional_index != cases[i].index) {
         fail_msg("case %zu: %s on %s: positional %d, expected %d", i, cases[i].filter,
                  cases[i].doc, info.positional_index, cases[i].index);
      }
      filter_destroy(filter);
      bson_destroy(spec);
      bson_destroy(doc);
   }
}

/* A compiled filter does not borrow its spec and can be reused. */
static void
test_reuse(void **state)
{
   (void) state;
   fe_error_t error = {0};
   bson_t *spec = tu_json("{\"a\": {\"$in\": [1, {\"$regularExpression\": {\"pattern\": \"^x\", "
                          "\"options\": \"\"}}]}, \"b\": {\"$_regex\": \"y\"}}");
   fe_filter_t *filter = filter_compile(spec, &error);
   bson_destroy(spec);
   assert_non_null(filter);
   bson_t *yes = tu_json("{\"a\": \"xx\", \"b\": \"ayb\"}");
   bson_t *no = tu_json("{\"a\": 2, \"b\": \"y\"}");
   for (int i = 0; i < 100; i++) {
      assert_true(filter_match(filter, yes, NULL));
      assert_false(filter_match(filter, no, NULL));
   }
   bson_destroy(yes);
   bson_destroy(no);
   filter_destroy(filter);
}

/* let variables reach $expr as $$name, evaluated once at compile time. */
static void
test_let(void **state)
{
   (void) state;
   fe_error_t error = {0};
   bson_t *spec = tu_json("{\"$or\": [{\"$expr\": {\"$eq\": [\"$_id\", \"$$id\"]}}, "
                          "{\"$expr\": {\"$eq\": [\"$s\", \"$$s\"]}}]}");
   bson_t *let = tu_json("{\"id\": {\"$add\": [1, 1]}, \"s\": {\"$literal\": \"$bar\"}, "
                         "\"t\": \"$$NOW\"}");
   bson_t *bad_name = tu_json("{\"Id\": 1}");
   bson_t *bad_value = tu_json("{\"id\": {\"$noSuchOperator\": 1}}");
   bson_t *two = tu_json("{\"_id\": 2}");
   bson_t *three = tu_json("{\"_id\": 3}");
   bson_t *bar = tu_json("{\"_id\": 3, \"s\": \"$bar\"}");
   fe_filter_t *filter = filter_compile_with_let(spec, let, &error);

   assert_non_null(filter);
   assert_true(filter_match(filter, two, NULL));
   assert_false(filter_match(filter, three, NULL));
   assert_true(filter_match(filter, bar, NULL));
   filter_destroy(filter);

   /* Without let the variable is undefined: refused when parsed, as MongoDB does. */
   assert_null(filter_compile_with_let(spec, NULL, &error));
   assert_int_equal(error.code, 17276);
   assert_string_equal(error.message, "Use of undefined variable: id");

   assert_null(filter_compile_with_let(spec, bad_name, &error));
   assert_int_equal(error.code, 16870);
   assert_null(filter_compile_with_let(spec, bad_value, &error));
   assert_int_equal(error.code, 168);

   bson_destroy(spec);
   bson_destroy(let);
   bson_destroy(bad_name);
   bson_destroy(bad_value);
   bson_destroy(two);
   bson_destroy(three);
   bson_destroy(bar);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_equality),     cmocka_unit_test(test_comparison),
      cmocka_unit_test(test_in_nin),       cmocka_unit_test(test_logical),
      cmocka_unit_test(test_exists_type),  cmocka_unit_test(test_regex),
      cmocka_unit_test(test_mod_size_all), cmocka_unit_test(test_elem_match),
      cmocka_unit_test(test_bits),         cmocka_unit_test(test_errors),
      cmocka_unit_test(test_positional),   cmocka_unit_test(test_reuse),
      cmocka_unit_test(test_let),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
