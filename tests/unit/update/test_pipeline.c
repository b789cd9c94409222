/*
 * test_pipeline.c: aggregation pipelines (core/query/aggregate/) run over real documents,
 * and pipeline-style updates through update.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../bson/test_util.h"

#include "query/aggregate/pipeline.h"
#include "query/expr.h"
#include "query/update.h"

typedef struct source {
   bson_t *docs; /* the input as {"0": {...}, "1": {...}} */
   bson_iter_t iter;
   bson_t cur;
   int pulled;
} source_t;

static bool
source_next(void *ctx, const bson_t **doc, fe_error_t *error)
{
   source_t *src = ctx;
   uint32_t len;
   const uint8_t *data;
   (void) error;
   if (!bson_iter_next(&src->iter)) {
      *doc = NULL;
      return true;
   }
   bson_iter_document(&src->iter, &len, &data);
   bson_init_static(&src->cur, data, len);
   *doc = &src->cur;
   src->pulled++;
   return true;
}

static bool
collect(void *ctx, const bson_t *doc, fe_error_t *error)
{
   bson_string_t *out = ctx;
   char *s = bson_as_relaxed_extended_json(doc, NULL);
   (void) error;
   if (out->len > 1) {
      bson_string_append(out, ", ");
   }
   bson_string_append(out, s);
   bson_free(s);
   return true;
}

/* Runs stages (a JSON array) over input (a JSON array of documents); returns the results as
 * relaxed JSON "[doc, doc]" or "error <code>". *pulled gets how many inputs were read. */
static char *
run_pipeline(const char *input, const char *stages, const char *let, int *pulled)
{
   char *wrapped_in = bson_strdup_printf("{\"a\": %s}", input);
   char *wrapped_st = bson_strdup_printf("{\"a\": %s}", stages);
   bson_t *in = tu_json(wrapped_in), *st = tu_json(wrapped_st),
          *let_doc = let ? tu_json(let) : NULL;
   bson_t in_arr, st_arr;
   bson_iter_t iter;
   uint32_t len;
   const uint8_t *data;
   fe_error_t error = {0};
   fe_pipeline_t *p;
   source_t src = {0};
   bson_string_t *out = bson_string_new("[");
   char *result;

   bson_iter_init_find(&iter, in, "a");
   bson_iter_array(&iter, &len, &data);
   bson_init_static(&in_arr, data, len);
   bson_iter_init_find(&iter, st, "a");
   bson_iter_array(&iter, &len, &data);
   bson_init_static(&st_arr, data, len);

   p = pipeline_compile(&st_arr, let_doc, PIPELINE_WITH_OUTPUT | PIPELINE_WITH_SESSIONS, &error);
   if (!p) {
      result = bson_strdup_printf("error %d", error.code);
   } else {
      bson_iter_init(&src.iter, &in_arr);
      if (pipeline_run(p, source_next, &src, collect, out, &error)) {
         bson_string_append(out, "]");
         result = bson_strdup(out->str);
      } else {
         result = bson_strdup_printf("error %d", error.code);
      }
   }
   if (pulled) {
      *pulled = src.pulled;
   }
   pipeline_destroy(p);
   bson_string_free(out, true);
   bson_destroy(in);
   bson_destroy(st);
   if (let_doc) {
      bson_destroy(let_doc);
   }
   bson_free(wrapped_in);
   bson_free(wrapped_st);
   return result;
}

/* Compares after normalizing the expected text through libbson's relaxed JSON. */
static void
check_full(const char *input, const char *stages, const char *let, const char *expected)
{
   char *got = run_pipeline(input, stages, let, NULL);
   char *want;

   if (strncmp(expected, "error", 5) == 0) {
      want = bson_strdup(expected);
   } else {
      char *wrapped = bson_strdup_printf("{\"a\": %s}", expected);
      bson_t *e = tu_json(wrapped);
      bson_iter_t iter, elem;
      bson_string_t *s = bson_string_new("[");
      bson_iter_init_find(&iter, e, "a");
      bson_iter_recurse(&iter, &elem);
      while (bson_iter_next(&elem)) {
         bson_t doc;
         uint32_t len;
         const uint8_t *data;
         bson_iter_document(&elem, &len, &data);
         bson_init_static(&doc, data, len);
         collect(s, &doc, NULL);
      }
      bson_string_append(s, "]");
      want = bson_strdup(s->str);
      bson_string_free(s, true);
      bson_destroy(e);
      bson_free(wrapped);
   }
   if (strcmp(got, want) != 0) {
      print_error("stages %s\n  got  %s\n  want %s\n", stages, got, want);
      bson_free(got);
      bson_free(want);
      fail();
   }
   bson_free(got);
   bson_free(want);
}

static void
check(const char *input, const char *stages, const char *expected)
{
   check_full(input, stages, NULL, expected);
}

#define DOCS                                                                                       \
   "[{\"_id\": 1, \"item\": \"a\", \"qty\": 5, \"price\": 10, \"tags\": [\"x\", \"y\"]}, "         \
   "{\"_id\": 2, \"item\": \"b\", \"qty\": 2, \"price\": 20, \"tags\": []}, "                      \
   "{\"_id\": 3, \"item\": \"a\", \"qty\": 1, \"price\": 10, \"tags\": null}, "                    \
   "{\"_id\": 4, \"item\": \"c\", \"qty\": 7, \"price\": 1.5}]"

static void
test_match_project(void **state)
{
   (void) state;
   check(DOCS, "[{\"$match\": {\"item\": \"a\"}}, {\"$project\": {\"qty\": 1}}]",
         "[{\"_id\": 1, \"qty\": 5}, {\"_id\": 3, \"qty\": 1}]");
   check(DOCS,
         "[{\"$match\": {\"qty\": {\"$gt\": 4}}}, {\"$project\": {\"_id\": 0, \"item\": 1, "
         "\"total\": {\"$multiply\": [\"$qty\", \"$price\"]}}}]",
         "[{\"item\": \"a\", \"total\": 50}, {\"item\": \"c\", \"total\": 10.5}]");
   check(DOCS, "[{\"$match\": {\"_id\": 2}}, {\"$project\": {\"tags\": 0, \"price\": 0}}]",
         "[{\"_id\": 2, \"item\": \"b\", \"qty\": 2}]");
   check("[{\"_id\": 1, \"a\": {\"b\": 1, \"c\": 2}, \"d\": [{\"b\": 3, \"c\": 4}, 5]}]",
         "[{\"$project\": {\"a.b\": 1, \"d\": {\"c\": 1}}}]",
         "[{\"_id\": 1, \"a\": {\"b\": 1}, \"d\": [{\"c\": 4}]}]");
   check("[{\"_id\": 1, \"a\": {\"b\": 1, \"c\": 2}}]", "[{\"$project\": {\"a.c\": 0}}]",
         "[{\"_id\": 1, \"a\": {\"b\": 1}}]");
   check(DOCS, "[{\"$project\": {\"item\": 1, \"qty\": 0}}]", "error 31254");
   check(DOCS, "[{\"$project\": {}}]", "error 51272");
   check(DOCS, "[{\"$project\": {\"a\": 1, \"a.b\": 1}}]", "error 31250");
   check(DOCS, "[{\"$match\": {\"$expr\": 1, \"x\": {\"$bad\": 1}}}]", "error 2");
}

static void
test_add_fields_unset_replace(void **state)
{
   (void) state;
   check("[{\"_id\": 1, \"a\": 1, \"s\": {\"x\": 1}}]",
         "[{\"$addFields\": {\"b\": {\"$add\": [\"$a\", 1]}, \"a\": 10, \"s.y\": 2}}]",
         "[{\"_id\": 1, \"a\": 10, \"s\": {\"x\": 1, \"y\": 2}, \"b\": 2}]");
   check("[{\"_id\": 1, \"a\": 1}]", "[{\"$set\": {\"a\": \"$$REMOVE\", \"n\": {\"m\": 1}}}]",
         "[{\"_id\": 1, \"n\": {\"m\": 1}}]");
   check("[{\"_id\": 1, \"arr\": [{\"k\": 1}, 2]}]", "[{\"$set\": {\"arr.z\": 0}}]",
         "[{\"_id\": 1, \"arr\": [{\"k\": 1, \"z\": 0}, {\"z\": 0}]}]");
   check("[{\"_id\": 1, \"a\": 1, \"b\": {\"c\": 1, \"d\": 2}}]",
         "[{\"$unset\": [\"a\", \"b.c\"]}]", "[{\"_id\": 1, \"b\": {\"d\": 2}}]");
   check("[{\"_id\": 1, \"a\": 1}]", "[{\"$unset\": \"a\"}]", "[{\"_id\": 1}]");
   check("[{\"_id\": 1, \"a\": 1}]", "[{\"$unset\": 1}]", "error 31002");
   check("[{\"_id\": 1, \"in\": {\"x\": 1}}]", "[{\"$replaceRoot\": {\"newRoot\": \"$in\"}}]",
         "[{\"x\": 1}]");
   check("[{\"_id\": 1, \"in\": {\"x\": 1}}]",
         "[{\"$replaceWith\": {\"$mergeObjects\": [\"$in\", {\"y\": 2}]}}]",
         "[{\"x\": 1, \"y\": 2}]");
   check("[{\"_id\": 1, \"in\": 5}]", "[{\"$replaceWith\": \"$in\"}]", "error 40228");
}

static void
test_skip_limit_sort(void **state)
{
   int pulled = 0;
   char *got;
   (void) state;
   check(DOCS,
         "[{\"$sort\": {\"qty\": -1}}, {\"$skip\": 1}, {\"$limit\": 2}, "
         "{\"$project\": {\"_id\": 1}}]",
         "[{\"_id\": 1}, {\"_id\": 2}]");
   check(DOCS, "[{\"$sort\": {\"item\": 1, \"_id\": -1}}, {\"$project\": {\"_id\": 1}}]",
         "[{\"_id\": 3}, {\"_id\": 1}, {\"_id\": 2}, {\"_id\": 4}]");
   check(DOCS, "[{\"$limit\": 0}]", "error 15958");
   check(DOCS, "[{\"$skip\": -1}]", "error 15956");
   check(DOCS, "[{\"$sort\": {}}]", "error 15976");
   /* $limit stops pulling from the source. */
   got = run_pipeline(DOCS, "[{\"$limit\": 1}]", NULL, &pulled);
   assert_int_equal(pulled, 1);
   bson_free(got);
}

static void
test_group(void **state)
{
   (void) state;
   check(DOCS,
         "[{\"$group\": {\"_id\": \"$item\", \"n\": {\"$sum\": 1}, \"qty\": {\"$sum\": \"$qty\"}, "
         "\"avg\": {\"$avg\": \"$price\"}, \"ids\": {\"$push\": \"$_id\"}, "
         "\"first\": {\"$first\": \"$qty\"}, \"max\": {\"$max\": \"$qty\"}}}, "
         "{\"$sort\": {\"_id\": 1}}]",
         "[{\"_id\": \"a\", \"n\": 2, \"qty\": 6, \"avg\": 10.0, \"ids\": [1, 3], \"first\": 5, "
         "\"max\": 5}, "
         "{\"_id\": \"b\", \"n\": 1, \"qty\": 2, \"avg\": 20.0, \"ids\": [2], \"first\": 2, "
         "\"max\": 2}, "
         "{\"_id\": \"c\", \"n\": 1, \"qty\": 7, \"avg\": 1.5, \"ids\": [4], \"first\": 7, "
         "\"max\": 7}]");
   check(DOCS,
         "[{\"$group\": {\"_id\": null, \"total\": {\"$sum\": {\"$multiply\": "
         "[\"$qty\", \"$price\"]}}, \"c\": {\"$count\": {}}}}]",
         "[{\"_id\": null, \"total\": 110.5, \"c\": 4}]");
   /* 1 and 1.0 are one group; a missing key groups with null. */
   check("[{\"k\": 1}, {\"k\": 1.0}, {\"k\": {\"$numberLong\": \"1\"}}, {}, {\"k\": null}]",
         "[{\"$group\": {\"_id\": \"$k\", \"n\": {\"$sum\": 1}}}]",
         "[{\"_id\": 1, \"n\": 3}, {\"_id\": null, \"n\": 2}]");
   check("[{\"a\": 1, \"b\": 2}, {\"a\": 1, \"b\": 2}, {\"a\": 1, \"b\": 3}]",
         "[{\"$group\": {\"_id\": {\"a\": \"$a\", \"b\": \"$b\"}, \"s\": {\"$addToSet\": "
         "\"$b\"}}}]",
         "[{\"_id\": {\"a\": 1, \"b\": 2}, \"s\": [2]}, {\"_id\": {\"a\": 1, \"b\": 3}, "
         "\"s\": [3]}]");
   check(DOCS, "[{\"$group\": {\"n\": {\"$sum\": 1}}}]", "error 15955");
   check(DOCS, "[{\"$group\": {\"_id\": 1, \"n\": {\"$bogus\": 1}}}]", "error 15952");
   check(DOCS, "[{\"$group\": {\"_id\": 1, \"n\": 1}}]", "error 40234");
   check(DOCS, "[{\"$group\": {\"_id\": 1, \"n\": {\"$sum\": [1, 2]}}}]", "error 40237");
   check("[]", "[{\"$group\": {\"_id\": 1, \"n\": {\"$sum\": 1}}}]", "[]");
}

/* Enough groups to make the group table grow several times. */
static void
test_group_many(void **state)
{
   bson_string_t *input = bson_string_new("[");
   char *got;
   (void) state;
   for (int i = 0; i < 2000; i++) {
      bson_string_append_printf(input, "%s{\"k\": %d, \"v\": %d}", i ? ", " : "", i % 500, i);
   }
   bson_string_append(input, "]");
   got = run_pipeline(input->str,
                      "[{\"$group\": {\"_id\": \"$k\", \"n\": {\"$sum\": 1}, \"s\": {\"$sum\": "
                      "\"$v\"}}}, {\"$match\": {\"n\": {\"$ne\": 4}}}, {\"$count\": \"bad\"}]",
                      NULL, NULL);
   assert_string_equal(got, "[]");
   bson_free(got);
   got = run_pipeline(input->str,
                      "[{\"$group\": {\"_id\": \"$k\", \"s\": {\"$sum\": \"$v\"}}}, "
                      "{\"$match\": {\"_id\": 7}}]",
                      NULL, NULL);
   /* 7 + 507 + 1007 + 1507 */
   assert_string_equal(got, "[{ \"_id\" : 7, \"s\" : 3028 }]");
   bson_free(got);
   got = run_pipeline(input->str, "[{\"$group\": {\"_id\": \"$k\"}}, {\"$count\": \"groups\"}]",
                      NULL, NULL);
   assert_string_equal(got, "[{ \"groups\" : 500 }]");
   bson_free(got);
   bson_string_free(input, true);
}

static void
test_count_sort_by_count(void **state)
{
   (void) state;
   check(DOCS, "[{\"$match\": {\"item\": \"a\"}}, {\"$count\": \"n\"}]", "[{\"n\": 2}]");
   check(DOCS, "[{\"$match\": {\"item\": \"zz\"}}, {\"$count\": \"n\"}]", "[]");
   check(DOCS, "[{\"$count\": \"$n\"}]", "error 40158");
   check(DOCS, "[{\"$count\": \"\"}]", "error 40157");
   check(DOCS, "[{\"$sortByCount\": \"$item\"}, {\"$limit\": 1}]",
         "[{\"_id\": \"a\", \"count\": 2}]");
   check(DOCS, "[{\"$sortByCount\": \"item\"}]", "error 40148");
}

static void
test_unwind(void **state)
{
   (void) state;
   check(DOCS, "[{\"$unwind\": \"$tags\"}, {\"$project\": {\"tags\": 1}}]",
         "[{\"_id\": 1, \"tags\": \"x\"}, {\"_id\": 1, \"tags\": \"y\"}]");
   check(DOCS,
         "[{\"$unwind\": {\"path\": \"$tags\", \"includeArrayIndex\": \"i\", "
         "\"preserveNullAndEmptyArrays\": true}}, {\"$project\": {\"tags\": 1, \"i\": 1}}]",
         "[{\"_id\": 1, \"tags\": \"x\", \"i\": 0}, {\"_id\": 1, \"tags\": \"y\", \"i\": 1}, "
         "{\"_id\": 2, \"i\": null}, {\"_id\": 3, \"tags\": null, \"i\": null}, "
         "{\"_id\": 4, \"i\": null}]");
   check("[{\"_id\": 1, \"a\": {\"b\": [1, 2]}}, {\"_id\": 2, \"a\": {\"b\": 5}}]",
         "[{\"$unwind\": \"$a.b\"}]",
         "[{\"_id\": 1, \"a\": {\"b\": 1}}, {\"_id\": 1, \"a\": {\"b\": 2}}, "
         "{\"_id\": 2, \"a\": {\"b\": 5}}]");
   check(DOCS, "[{\"$unwind\": \"tags\"}]", "error 28818");
   check(DOCS, "[{\"$unwind\": {\"path\": \"$tags\", \"bad\": 1}}]", "error 28811");
   check(DOCS, "[{\"$unwind\": 1}]", "error 15981");
}

static void
test_stages_and_let(void **state)
{
   (void) state;
   check(DOCS, "[{\"$foo\": {}}]", "error 40324");
   check(DOCS, "[{\"$match\": {}, \"$limit\": 1}]", "error 40323");
   check(DOCS, "[{\"$lookup\": {}}]", "error 9");
   check(DOCS, "[{\"$project\": {\"x\": {\"$nope\": 1}}}]", "error 168");
   check(DOCS, "[1]", "error 14");
   check_full(DOCS, "[{\"$limit\": 1}, {\"$project\": {\"_id\": 0, \"v\": \"$$factor\"}}]",
              "{\"factor\": {\"$add\": [1, 2]}}", "[{\"v\": 3}]");
   /* $match's $expr sees let too (the CRUD spec's aggregate-let). */
   check_full(DOCS,
              "[{\"$match\": {\"$expr\": {\"$eq\": [\"$_id\", \"$$id\"]}}}, "
              "{\"$project\": {\"_id\": 0, \"x\": \"$$x\", \"y\": \"$$y\"}}]",
              "{\"id\": 2, \"x\": \"foo\", \"y\": {\"$literal\": \"$bar\"}}",
              "[{\"x\": \"foo\", \"y\": \"$bar\"}]");
   check_full(DOCS, "[{\"$limit\": 1}]", "{\"Bad\": 1}", "error 16870");
   check_full(DOCS, "[{\"$limit\": 1}]", "{\"a-b\": 1}", "error 16871");
   check(DOCS, "[]",
         "[{\"_id\": 1, \"item\": \"a\", \"qty\": 5, \"price\": 10, \"tags\": [\"x\", \"y\"]}, "
         "{\"_id\": 2, \"item\": \"b\", \"qty\": 2, \"price\": 20, \"tags\": []}, "
         "{\"_id\": 3, \"item\": \"a\", \"qty\": 1, \"price\": 10, \"tags\": null}, "
         "{\"_id\": 4, \"item\": \"c\", \"qty\": 7, \"price\": 1.5}]");
}

static void
test_leading_match(void **state)
{
   bson_t *stages = tu_json("{\"0\": {\"$match\": {\"a\": 1}}, \"1\": {\"$limit\": 1}}");
   fe_error_t error;
   fe_pipeline_t *p = pipeline_compile(stages, NULL, 0, &error);
   const bson_t *filter;
   bson_iter_t iter;

   (void) state;
   assert_non_null(p);
   filter = pipeline_leading_match(p);
   assert_non_null(filter);
   assert_true(bson_iter_init_find(&iter, filter, "a"));
   pipeline_destroy(p);
   bson_destroy(stages);
}

/* Compiles stages (a JSON object {"0": stage, ...}); NULL with *error set on failure. */
static fe_pipeline_t *
compile_stages(const char *stages_json, fe_error_t *error)
{
   bson_t *stages = tu_json(stages_json);
   fe_pipeline_t *p =
      pipeline_compile(stages, NULL, PIPELINE_WITH_OUTPUT | PIPELINE_WITH_SESSIONS, error);
   bson_destroy(stages);
   return p;
}

/* Source stages ($documents, $listLocalSessions) and the final $out / $merge. */
static void
test_sources_and_outputs(void **state)
{
   fe_error_t error = {0};
   fe_pipeline_t *p;
   const pipeline_output_t *out;
   int pulled = -1;
   char *got;
   (void) state;

   /* $documents never reads the caller's input. */
   got = run_pipeline(DOCS,
                      "[{\"$documents\": [{\"x\": 1}, {\"x\": {\"$add\": [1, \"$$k\"]}}]}, "
                      "{\"$match\": {\"x\": 2}}]",
                      "{\"k\": 1}", &pulled);
   assert_string_equal(got, "[{ \"x\" : 2 }]");
   assert_int_equal(pulled, 0);
   bson_free(got);
   check(DOCS, "[{\"$limit\": 1}, {\"$documents\": []}]", "error 40602");
   check(DOCS, "[{\"$documents\": [1]}]", "error 40228");
   check(DOCS, "[{\"$documents\": 1}]", "error 5858203");

   /* $listLocalSessions passes the caller's session documents through. */
   p = compile_stages("{\"0\": {\"$listLocalSessions\": {}}, \"1\": {\"$limit\": 1}}", &error);
   assert_non_null(p);
   assert_int_equal(pipeline_source(p), PIPELINE_SOURCE_LOCAL_SESSIONS);
   assert_null(pipeline_output(p));
   pipeline_destroy(p);
   check_full(DOCS, "[{\"$listLocalSessions\": {}}, {\"$limit\": 1}, {\"$project\": {\"_id\": 1}}]",
              NULL, "[{\"_id\": 1}]");

   /* $out and $merge: kept for the caller, results still emitted. */
   check(DOCS, "[{\"$match\": {\"_id\": {\"$gt\": 3}}}, {\"$out\": \"other\"}]",
         "[{\"_id\": 4, \"item\": \"c\", \"qty\": 7, \"price\": 1.5}]");
   p = compile_stages("{\"0\": {\"$out\": {\"db\": \"d\", \"coll\": \"c\"}}}", &error);
   assert_non_null(p);
   assert_int_equal(pipeline_source(p), PIPELINE_SOURCE_COLLECTION);
   out = pipeline_output(p);
   assert_non_null(out);
   assert_false(out->merge);
   assert_string_equal(out->db, "d");
   assert_string_equal(out->coll, "c");
   pipeline_destroy(p);
   p =
      compile_stages("{\"0\": {\"$merge\": {\"into\": \"t\", \"whenMatched\": \"fail\"}}}", &error);
   assert_non_null(p);
   out = pipeline_output(p);
   assert_true(out->merge);
   assert_null(out->db);
   assert_string_equal(out->coll, "t");
   assert_string_equal(out->when_matched, "fail");
   assert_string_equal(out->when_not_matched, "insert");
   pipeline_destroy(p);
   check(DOCS, "[{\"$out\": \"x\"}, {\"$limit\": 1}]", "error 40601");
   check(DOCS, "[{\"$merge\": \"x\"}, {\"$limit\": 1}]", "error 40601");
   check(DOCS, "[{\"$out\": 1}]", "error 16990");
   check(DOCS, "[{\"$merge\": {\"whenMatched\": \"fail\"}}]", "error 40414");
   check(DOCS, "[{\"$merge\": {\"into\": \"x\", \"whenMatched\": \"nope\"}}]", "error 2");
   check(DOCS, "[{\"$merge\": {\"into\": \"x\", \"bogus\": 1}}]", "error 40415");
   /* Callers that cannot write or list sessions do not ask for these stages. */
   {
      bson_t *stages = tu_json("{\"0\": {\"$out\": \"x\"}}");
      assert_null(pipeline_compile(stages, NULL, 0, &error));
      assert_int_equal(error.code, 238);
      bson_destroy(stages);
      stages = tu_json("{\"0\": {\"$listLocalSessions\": {}}}");
      assert_null(pipeline_compile(stages, NULL, 0, &error));
      assert_int_equal(error.code, 238);
      bson_destroy(stages);
   }
}

static char *
update_with_pipeline_let(const char *doc_json, const char *stages_json, const char *let_json)
{
   char *wrapped = bson_strdup_printf("{\"a\": %s}", stages_json);
   bson_t *doc = tu_json(doc_json), *w = tu_json(wrapped), stages, out;
   bson_iter_t iter;
   uint32_t len;
   const uint8_t *data;
   fe_error_t error = {0};
   fe_update_t *update;
   char *result;
   bson_t *let = let_json ? tu_json(let_json) : NULL;

   bson_iter_init_find(&iter, w, "a");
   bson_iter_array(&iter, &len, &data);
   bson_init_static(&stages, data, len);
   update = update_compile_with_let(&stages, true, NULL, let, &error);
   if (!update) {
      result = bson_strdup_printf("error %d", error.code);
   } else {
      if (update_apply(update, doc, NULL, false, &out, &error)) {
         result = bson_as_relaxed_extended_json(&out, NULL);
      } else {
         result = bson_strdup_printf("error %d", error.code);
      }
      bson_destroy(&out);
   }
   update_destroy(update);
   bson_destroy(doc);
   bson_destroy(w);
   bson_free(wrapped);
   if (let) {
      bson_destroy(let);
   }
   return result;
}

static char *
update_with_pipeline(const char *doc_json, const char *stages_json)
{
   return update_with_pipeline_let(doc_json, stages_json, NULL);
}

static void
test_update_pipeline(void **state)
{
   char *got;
   (void) state;
   got = update_with_pipeline("{\"_id\": 1, \"a\": 2, \"b\": 3}",
                              "[{\"$set\": {\"sum\": {\"$add\": [\"$a\", \"$b\"]}}}, "
                              "{\"$unset\": \"b\"}]");
   assert_string_equal(got, "{ \"_id\" : 1, \"a\" : 2, \"sum\" : 5 }");
   bson_free(got);
   /* A result without _id keeps the original one; a different _id is an error. */
   got = update_with_pipeline("{\"_id\": 1, \"a\": 2}", "[{\"$replaceWith\": {\"x\": 1}}]");
   assert_string_equal(got, "{ \"_id\" : 1, \"x\" : 1 }");
   bson_free(got);
   got = update_with_pipeline("{\"_id\": 1, \"a\": 2}", "[{\"$set\": {\"_id\": 2}}]");
   assert_string_equal(got, "error 66");
   bson_free(got);
   got = update_with_pipeline("{\"_id\": 1, \"a\": 2}",
                              "[{\"$replaceWith\": {\"_id\": \"$_id\", \"x\": \"$a\"}}]");
   assert_string_equal(got, "{ \"_id\" : 1, \"x\" : 2 }");
   bson_free(got);
   got = update_with_pipeline("{\"_id\": 1}", "[{\"$group\": {\"_id\": 1}}]");
   assert_string_equal(got, "error 72");
   bson_free(got);
   /* The CRUD spec's dots_and_dollars updates. */
   got = update_with_pipeline(
      "{\"_id\": 1, \"foo\": {}}",
      "[{\"$replaceWith\": {\"$setField\": {\"field\": {\"$literal\": \"$a\"}, "
      "\"value\": 1, \"input\": \"$$ROOT\"}}}]");
   assert_string_equal(got, "{ \"_id\" : 1, \"foo\" : {  }, \"$a\" : 1 }");
   bson_free(got);
   got = update_with_pipeline(
      "{\"_id\": 1, \"foo\": {}}",
      "[{\"$set\": {\"foo\": {\"$setField\": {\"field\": {\"$literal\": \"a.b\"}, "
      "\"value\": 1, \"input\": \"$foo\"}}}}]");
   assert_string_equal(got, "{ \"_id\" : 1, \"foo\" : { \"a.b\" : 1 } }");
   bson_free(got);
}

/* let (with an update statement's "c" merged over it) reaches a pipeline update as $$name. */
static void
test_update_let(void **state)
{
   bson_t *base = tu_json("{\"a\": 1, \"b\": 2}"), *over = tu_json("{\"b\": 3, \"c\": 4}"), merged;
   char *got, *let;
   fe_error_t error = {0};
   fe_update_t *update;
   (void) state;

   expr_let_merge(base, over, &merged);
   let = bson_as_relaxed_extended_json(&merged, NULL);
   assert_string_equal(let, "{ \"a\" : 1, \"b\" : 3, \"c\" : 4 }");
   got = update_with_pipeline_let(
      "{\"_id\": 1, \"x\": 5}",
      "[{\"$set\": {\"y\": {\"$add\": [\"$x\", \"$$a\", \"$$b\", \"$$c\"]}}}]", let);
   assert_string_equal(got, "{ \"_id\" : 1, \"x\" : 5, \"y\" : 13 }");
   bson_free(got);
   got = update_with_pipeline_let("{\"_id\": 1}", "[{\"$set\": {\"y\": \"$$nope\"}}]", let);
   assert_string_equal(got, "error 17276");
   bson_free(got);
   got = update_with_pipeline_let("{\"_id\": 1}", "[{\"$set\": {\"y\": 1}}]", "{\"ROOT\": 1}");
   assert_string_equal(got, "error 16870");
   bson_free(got);

   /* An operator update checks let too. */
   update = update_compile_with_let(base, false, NULL, over, &error);
   assert_non_null(update); /* {a: 1, b: 2} is a replacement */
   update_destroy(update);
   bson_destroy(over);
   over = tu_json("{\"\": 1}");
   update = update_compile_with_let(base, false, NULL, over, &error);
   assert_null(update);
   assert_int_equal(error.code, 16869);

   bson_free(let);
   bson_destroy(&merged);
   bson_destroy(base);
   bson_destroy(over);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_match_project),   cmocka_unit_test(test_add_fields_unset_replace),
      cmocka_unit_test(test_skip_limit_sort), cmocka_unit_test(test_group),
      cmocka_unit_test(test_group_many),      cmocka_unit_test(test_count_sort_by_count),
      cmocka_unit_test(test_unwind),          cmocka_unit_test(test_stages_and_let),
      cmocka_unit_test(test_leading_match),   cmocka_unit_test(test_update_pipeline),
      cmocka_unit_test(test_update_let),      cmocka_unit_test(test_sources_and_outputs),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
