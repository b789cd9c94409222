/*
 * test_stage_window.c: $setWindowFields, $fill and $densify (stage_window.c,
 * stage_densify.c) run through pipeline_run() over in-memory documents, with the manual's
 * examples, and the parse-time check of undefined variables (17276) in pipelines.
 */
#include "stage_check.h"

#include "query/aggregate/pipeline_int.h"

typedef struct source {
   bson_t *docs; /* {"0": doc, ...} */
   bson_iter_t iter;
   bson_t current;
} source_t;

static bool
source_next(void *ctx, const bson_t **doc, fe_error_t *error)
{
   source_t *s = ctx;
   uint32_t len;
   const uint8_t *data;
   (void) error;
   *doc = NULL;
   if (bson_iter_next(&s->iter)) {
      bson_iter_document(&s->iter, &len, &data);
      bson_init_static(&s->current, data, len);
      *doc = &s->current;
   }
   return true;
}

/* Runs pipeline (JSON array) over docs (JSON array); returns the results as "[...]" (owned)
 * or NULL with *error set. */
static char *
run(const char *docs, const char *pipeline, fe_error_t *error)
{
   bson_t *stages = tu_json(pipeline);
   source_t *src = bson_aligned_alloc0(BSON_ALIGNOF(source_t), sizeof *src);
   bson_string_t *out = bson_string_new("[");
   fe_pipeline_t *p = pipeline_compile(stages, NULL, 0, error);
   bool ok = false;

   src->docs = tu_json(docs);
   bson_iter_init(&src->iter, src->docs);
   if (p) {
      ok = pipeline_run(p, source_next, src, sc_collect, out, error);
   }
   pipeline_destroy(p);
   bson_destroy(stages);
   bson_destroy(src->docs);
   bson_free(src);
   bson_string_append(out, "]");
   if (!ok) {
      bson_string_free(out, true);
      return NULL;
   }
   return bson_string_free(out, false);
}

static void
expect(const char *docs, const char *pipeline, const char *want)
{
   fe_error_t error = {0};
   char *got = run(docs, pipeline, &error);
   if (!got) {
      fail_msg("error %d: %s", error.code, error.message);
   }
   assert_string_equal(got, want);
   bson_free(got);
}

static void
expect_error(const char *docs, const char *pipeline, int32_t code)
{
   fe_error_t error = {0};
   char *got = run(docs, pipeline, &error);
   assert_null(got);
   assert_int_equal(error.code, code);
}

static const char *const sales = "{\"0\": {\"_id\": 0, \"state\": \"CA\", \"d\": 3, \"q\": 120},"
                                 " \"1\": {\"_id\": 1, \"state\": \"WA\", \"d\": 6, \"q\": 140},"
                                 " \"2\": {\"_id\": 2, \"state\": \"CA\", \"d\": 5, \"q\": 145},"
                                 " \"3\": {\"_id\": 3, \"state\": \"WA\", \"d\": 2, \"q\": 104},"
                                 " \"4\": {\"_id\": 4, \"state\": \"CA\", \"d\": 1, \"q\": 162},"
                                 " \"5\": {\"_id\": 5, \"state\": \"WA\", \"d\": 0, \"q\": 134}}";

static void
test_accumulators(void **state)
{
   (void) state;
   expect(sales,
          "[{\"$setWindowFields\": {\"partitionBy\": \"$state\", \"sortBy\": {\"d\": 1}, "
          "\"output\": {\"c\": {\"$sum\": \"$q\", \"window\": {\"documents\": [\"unbounded\", "
          "\"current\"]}}}}}, {\"$project\": {\"c\": 1}}]",
          "[{ \"_id\" : 4, \"c\" : 162 }, { \"_id\" : 0, \"c\" : 282 }, { \"_id\" : 2, \"c\" : "
          "427 }, { \"_id\" : 5, \"c\" : 134 }, { \"_id\" : 3, \"c\" : 238 }, { \"_id\" : 1, "
          "\"c\" : 378 }]");
   expect(sales,
          "[{\"$setWindowFields\": {\"partitionBy\": \"$state\", \"sortBy\": {\"d\": 1}, "
          "\"output\": {\"a\": {\"$avg\": \"$q\", \"window\": {\"range\": [-2, 0]}}, "
          "\"n\": {\"$count\": {}}, \"s\": {\"$addToSet\": \"$state\"}}}}, "
          "{\"$project\": {\"a\": 1, \"n\": 1, \"s\": 1}}, {\"$limit\": 2}]",
          "[{ \"_id\" : 4, \"a\" : 162.0, \"n\" : 3, \"s\" : [ \"CA\" ] }, { \"_id\" : 0, \"a\" "
          ": 141.0, \"n\" : 3, \"s\" : [ \"CA\" ] }]");
}

static void
test_rank_shift(void **state)
{
   (void) state;
   expect("{\"0\": {\"v\": 1}, \"1\": {\"v\": 2}, \"2\": {\"v\": 2}, \"3\": {\"v\": 5}}",
          "[{\"$setWindowFields\": {\"sortBy\": {\"v\": 1}, \"output\": {\"r\": {\"$rank\": {}}, "
          "\"d\": {\"$denseRank\": {}}, \"s\": {\"$shift\": {\"output\": \"$v\", \"by\": 1}}}}}]",
          "[{ \"v\" : 1, \"r\" : 1, \"d\" : 1, \"s\" : 2 }, { \"v\" : 2, \"r\" : 2, \"d\" : 2, "
          "\"s\" : 2 }, { \"v\" : 2, \"r\" : 2, \"d\" : 2, \"s\" : 5 }, { \"v\" : 5, \"r\" : 4, "
          "\"d\" : 3, \"s\" : null }]");
   expect_error("{}", "[{\"$setWindowFields\": {\"output\": {\"r\": {\"$rank\": {}}}}}]", 5371602);
   expect_error("{}",
                "[{\"$setWindowFields\": {\"output\": {\"r\": {\"$sum\": 1, \"window\": "
                "{\"range\": [0, 1]}}}}}]",
                5339902);
}

static void
test_fill_densify(void **state)
{
   (void) state;
   expect("{\"0\": {\"t\": 1, \"v\": 1}, \"1\": {\"t\": 2}, \"2\": {\"t\": 3, \"v\": 3}}",
          "[{\"$fill\": {\"sortBy\": {\"t\": 1}, \"output\": {\"v\": {\"method\": \"linear\"}, "
          "\"w\": {\"value\": 0}}}}]",
          "[{ \"t\" : 1, \"v\" : 1, \"w\" : 0 }, { \"t\" : 2, \"v\" : 2.0, \"w\" : 0 }, { \"t\" : "
          "3, \"v\" : 3, \"w\" : 0 }]");
   expect("{\"0\": {\"v\": 0}, \"1\": {\"v\": 3}}",
          "[{\"$densify\": {\"field\": \"v\", \"range\": {\"step\": 1, \"bounds\": \"full\"}}}]",
          "[{ \"v\" : 0 }, { \"v\" : 1 }, { \"v\" : 2 }, { \"v\" : 3 }]");
   expect_error("{}",
                "[{\"$densify\": {\"field\": \"v\", \"range\": {\"step\": -1, \"bounds\": "
                "\"full\"}}}]",
                5733401);
}

static void
test_undefined_variables(void **state)
{
   (void) state;
   expect_error("{}", "[{\"$project\": {\"a\": \"$$x\"}}]", 17276);
   expect_error("{}", "[{\"$match\": {\"$expr\": \"$$x\"}}]", 17276);
   expect_error("{}", "[{\"$group\": {\"_id\": \"$$x\"}}]", 17276);
   expect_error("{}", "[{\"$setWindowFields\": {\"output\": {\"a\": {\"$sum\": \"$$x\"}}}}]",
                17276);
   expect("{\"0\": {\"a\": [1]}}",
          "[{\"$project\": {\"_id\": 0, \"m\": {\"$map\": {\"input\": \"$a\", \"as\": \"e\", "
          "\"in\": {\"$let\": {\"vars\": {\"z\": \"$$e\"}, \"in\": \"$$z\"}}}}, "
          "\"c\": \"$$CURRENT.a\"}}]",
          "[{ \"m\" : [ 1 ], \"c\" : [ 1 ] }]");
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accumulators),
      cmocka_unit_test(test_rank_shift),
      cmocka_unit_test(test_fill_densify),
      cmocka_unit_test(test_undefined_variables),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
