/*
 * test_stages.c: the stages that read other collections or reshape whole inputs
 * (core/query/aggregate/stage_*.c) run through pipeline_run_reader() over an in-memory
 * database: $lookup, $graphLookup, $unionWith, $facet, $bucket, $bucketAuto, $sample,
 * $redact, the nesting rules, and the shared path helpers.
 */
#include "stage_check.h"

#include "query/aggregate/pipeline_int.h"

/* The database: {collection: [documents]}; one per test. */
typedef struct memdb {
   bson_t *collections;
   int opens;
   char last_hint[512]; /* relaxed JSON of the last filter offered to open() */
} memdb_t;

typedef struct memcursor {
   bson_iter_t iter;
   bool valid;
   bson_t current; /* on the stack of no one: memcursor_t is allocated aligned */
} memcursor_t;

static bool
mem_open(void *ctx, const char *collection, const bson_t *filter, void **cursor, fe_error_t *error)
{
   memdb_t *db = ctx;
   memcursor_t *c = bson_aligned_alloc0(BSON_ALIGNOF(memcursor_t), sizeof *c);
   bson_iter_t iter;

   if (strchr(collection, '$')) {
      bson_free(c);
      return error_set(error, 73, "invalid collection name");
   }
   db->opens++;
   db->last_hint[0] = '\0';
   if (filter) {
      char *s = bson_as_relaxed_extended_json(filter, NULL);
      snprintf(db->last_hint, sizeof db->last_hint, "%s", s);
      bson_free(s);
   }
   if (bson_iter_init_find(&iter, db->collections, collection)) {
      bson_iter_recurse(&iter, &c->iter);
      c->valid = true;
   }
   *cursor = c;
   return true;
}

static bool
mem_next(void *cursor, const bson_t **doc, fe_error_t *error)
{
   memcursor_t *c = cursor;
   uint32_t len;
   const uint8_t *data;
   (void) error;
   *doc = NULL;
   if (c->valid && bson_iter_next(&c->iter)) {
      bson_iter_document(&c->iter, &len, &data);
      bson_init_static(&c->current, data, len);
      *doc = &c->current;
   }
   return true;
}

static void
mem_close(void *cursor)
{
   bson_free(cursor);
}

/* Runs stages (a JSON array) over the collection "in" of db (a JSON object of collections);
 * returns relaxed JSON "[doc, doc]" or "error <code>". */
static char *
run_db(memdb_t *db, const char *db_json, const char *stages, const char *let)
{
   char *wrapped = bson_strdup_printf("{\"a\": %s}", stages);
   bson_t *st = tu_json(wrapped);
   bson_t *let_doc = let ? tu_json(let) : NULL;
   bson_t arr;
   bson_iter_t iter;
   uint32_t len;
   const uint8_t *data;
   fe_error_t error = {0};
   fe_pipeline_t *p;
   bson_string_t *out = bson_string_new("[");
   pipeline_reader_t reader = {mem_open, mem_next, mem_close, db};
   void *cursor = NULL;
   char *result;

   db->collections = tu_json(db_json);
   bson_iter_init_find(&iter, st, "a");
   bson_iter_array(&iter, &len, &data);
   bson_init_static(&arr, data, len);
   p = pipeline_compile(&arr, let_doc, 0, &error);
   if (!p) {
      result = bson_strdup_printf("error %d", error.code);
   } else {
      mem_open(db, "in", NULL, &cursor, &error);
      db->opens = 0;
      if (pipeline_run_reader(p, &reader, mem_next, cursor, sc_collect, out, &error)) {
         bson_string_append(out, "]");
         result = bson_strdup(out->str);
      } else {
         result = bson_strdup_printf("error %d", error.code);
      }
      mem_close(cursor);
   }
   pipeline_destroy(p);
   bson_string_free(out, true);
   bson_destroy(st);
   bson_destroy(db->collections);
   if (let_doc) {
      bson_destroy(let_doc);
   }
   bson_free(wrapped);
   return result;
}

/* Normalizes expected through libbson's relaxed JSON, then compares. */
static void
check_let(const char *db_json, const char *stages, const char *let, const char *expected)
{
   memdb_t db = {0};
   char *got = run_db(&db, db_json, stages, let);
   char *want;

   if (strncmp(expected, "error", 5) == 0) {
      want = bson_strdup(expected);
   } else {
      char *wrapped = bson_strdup_printf("{\"a\": %s}", expected);
      bson_t *doc = tu_json(wrapped);
      bson_iter_t iter;
      bson_iter_t item;
      bson_string_t *s = bson_string_new("[");
      bson_iter_init_find(&iter, doc, "a");
      bson_iter_recurse(&iter, &item);
      while (bson_iter_next(&item)) {
         uint32_t len;
         const uint8_t *data;
         bson_t sub;
         char *j;
         bson_iter_document(&item, &len, &data);
         bson_init_static(&sub, data, len);
         j = bson_as_relaxed_extended_json(&sub, NULL);
         if (s->len > 1) {
            bson_string_append(s, ", ");
         }
         bson_string_append(s, j);
         bson_free(j);
      }
      bson_string_append(s, "]");
      want = bson_string_free(s, false);
      bson_destroy(doc);
      bson_free(wrapped);
   }
   if (strcmp(got, want) != 0) {
      print_error("stages %s\nexpected %s\n     got %s\n", stages, want, got);
      bson_free(got);
      bson_free(want);
      fail();
   }
   bson_free(got);
   bson_free(want);
}

static void
check(const char *db_json, const char *stages, const char *expected)
{
   check_let(db_json, stages, NULL, expected);
}

#define ORDERS                                                                                     \
   "{\"in\": [{\"_id\": 1, \"item\": \"almonds\", \"qty\": 2}, "                                   \
   "{\"_id\": 2, \"item\": \"pecans\", \"qty\": 90}, {\"_id\": 3}], "                              \
   "\"inv\": [{\"_id\": 1, \"sku\": \"almonds\", \"n\": 120}, {\"_id\": 4, \"sku\": \"pecans\", "  \
   "\"n\": 70}, {\"_id\": 5, \"sku\": null}, {\"_id\": 6}]}"

static void
test_lookup_equality(void **state)
{
   memdb_t db = {0};
   char *got;
   (void) state;

   check(ORDERS,
         "[{\"$lookup\": {\"from\": \"inv\", \"localField\": \"item\", \"foreignField\": "
         "\"sku\", \"as\": \"m\"}}, {\"$project\": {\"m.n\": 0}}]",
         "[{\"_id\": 1, \"item\": \"almonds\", \"qty\": 2, \"m\": [{\"_id\": 1, \"sku\": "
         "\"almonds\"}]}, {\"_id\": 2, \"item\": \"pecans\", \"qty\": 90, \"m\": [{\"_id\": 4, "
         "\"sku\": \"pecans\"}]}, {\"_id\": 3, \"m\": [{\"_id\": 5, \"sku\": null}, {\"_id\": "
         "6}]}]");
   /* A missing collection: empty arrays; a dotted "as" creates documents. */
   check(ORDERS,
         "[{\"$lookup\": {\"from\": \"none\", \"localField\": \"item\", \"foreignField\": "
         "\"sku\", \"as\": \"a.b\"}}, {\"$project\": {\"a\": 1}}]",
         "[{\"_id\": 1, \"a\": {\"b\": []}}, {\"_id\": 2, \"a\": {\"b\": []}}, {\"_id\": 3, "
         "\"a\": {\"b\": []}}]");
   /* Local arrays give $in; foreign _id gives an {_id: {$eq}} hint the backend can push. */
   check("{\"in\": [{\"_id\": 1, \"r\": [4, 6]}], \"inv\": [{\"_id\": 4}, {\"_id\": 5}, "
         "{\"_id\": 6}]}",
         "[{\"$lookup\": {\"from\": \"inv\", \"localField\": \"r\", \"foreignField\": \"_id\", "
         "\"as\": \"m\"}}]",
         "[{\"_id\": 1, \"r\": [4, 6], \"m\": [{\"_id\": 4}, {\"_id\": 6}]}]");
   got = run_db(&db, ORDERS,
                "[{\"$match\": {\"_id\": 1}}, {\"$lookup\": {\"from\": \"inv\", \"localField\": "
                "\"_id\", \"foreignField\": \"_id\", \"as\": \"m\"}}]",
                NULL);
   assert_int_equal(db.opens, 1);
   assert_string_equal(db.last_hint, "{ \"_id\" : { \"$eq\" : 1 } }");
   bson_free(got);
}

static void
test_lookup_pipeline(void **state)
{
   (void) state;
   /* Correlated: let variables reach $expr in the sub-pipeline; the command's let too. For
    * _id 3 both variables are missing, and so are inv 6's fields: $eq and $gte hold. */
   check_let(ORDERS,
             "[{\"$lookup\": {\"from\": \"inv\", \"let\": {\"it\": \"$item\", \"q\": \"$qty\"}, "
             "\"pipeline\": [{\"$match\": {\"$expr\": {\"$and\": [{\"$eq\": [\"$sku\", "
             "\"$$it\"]}, {\"$gte\": [\"$n\", \"$$q\"]}]}}}, {\"$project\": {\"_id\": 1, \"k\": "
             "\"$$k\"}}], \"as\": \"m\"}}, {\"$project\": {\"m\": 1}}]",
             "{\"k\": \"K\"}",
             "[{\"_id\": 1, \"m\": [{\"_id\": 1, \"k\": \"K\"}]}, {\"_id\": 2, \"m\": []}, "
             "{\"_id\": 3, \"m\": [{\"_id\": 6, \"k\": \"K\"}]}]");
   /* Combined: the pipeline runs over the equality matches. */
   check(ORDERS,
         "[{\"$lookup\": {\"from\": \"inv\", \"localField\": \"item\", \"foreignField\": "
         "\"sku\", \"pipeline\": [{\"$count\": \"c\"}], \"as\": \"m\"}}, {\"$project\": "
         "{\"m\": 1}}]",
         "[{\"_id\": 1, \"m\": [{\"c\": 1}]}, {\"_id\": 2, \"m\": [{\"c\": 1}]}, {\"_id\": 3, "
         "\"m\": [{\"c\": 2}]}]");
   /* $documents without from, fed by let. */
   check(ORDERS,
         "[{\"$match\": {\"_id\": 1}}, {\"$lookup\": {\"let\": {\"q\": \"$qty\"}, "
         "\"pipeline\": [{\"$documents\": [{\"x\": \"$$q\"}]}], \"as\": \"d\"}}, {\"$project\": "
         "{\"d\": 1}}]",
         "[{\"_id\": 1, \"d\": [{\"x\": 2}]}]");
}

static void
test_lookup_errors(void **state)
{
   (void) state;
   check(ORDERS, "[{\"$lookup\": 1}]", "error 9");
   check(ORDERS, "[{\"$lookup\": {\"from\": \"inv\", \"as\": \"x\", \"foo\": \"y\"}}]", "error 9");
   check(ORDERS,
         "[{\"$lookup\": {\"from\": \"inv\", \"localField\": \"a\", \"foreignField\": "
         "\"b\"}}]",
         "error 9");
   check(ORDERS,
         "[{\"$lookup\": {\"from\": \"inv\", \"pipeline\": [], \"localField\": \"a\", "
         "\"as\": \"x\"}}]",
         "error 9");
   check(ORDERS,
         "[{\"$lookup\": {\"from\": \"inv\", \"pipeline\": [], \"as\": \"x\", \"let\": "
         "{\"A\": 1}}}]",
         "error 16867");
   check(ORDERS, "[{\"$lookup\": {\"from\": \"inv\", \"pipeline\": [], \"as\": \"$x\"}}]",
         "error 16410");
   check(ORDERS,
         "[{\"$lookup\": {\"from\": \"inv\", \"pipeline\": [{\"$out\": \"o\"}], \"as\": "
         "\"x\"}}]",
         "error 51047");
   check(ORDERS, "[{\"$lookup\": {\"pipeline\": [{\"$match\": {}}], \"as\": \"x\"}}]", "error 9");
   check(ORDERS,
         "[{\"$lookup\": {\"from\": \"a$b\", \"localField\": \"a\", \"foreignField\": "
         "\"b\", \"as\": \"x\"}}]",
         "error 73");
}

static void
test_sub_pipeline_limits(void **state)
{
   bson_string_t *s = bson_string_new("[");
   bson_t *stages;
   char *wrapped;
   fe_error_t error = {0};
   fe_pipeline_t *p;
   (void) state;

   /* 21 nested $facet-free $lookups exceed MongoDB's depth of 20 (232). */
   for (int i = 0; i < 21; i++) {
      bson_string_append(s, "{\"$lookup\": {\"from\": \"c\", \"as\": \"x\", \"pipeline\": [");
   }
   for (int i = 0; i < 21; i++) {
      bson_string_append(s, "]}}");
   }
   bson_string_append(s, "]");
   wrapped = bson_strdup_printf("{\"a\": %s}", s->str);
   stages = tu_json(wrapped);
   {
      bson_iter_t iter;
      uint32_t len;
      const uint8_t *data;
      bson_t arr;
      bson_iter_init_find(&iter, stages, "a");
      bson_iter_array(&iter, &len, &data);
      bson_init_static(&arr, data, len);
      assert_null(pipeline_compile(&arr, NULL, 0, &error));
      assert_int_equal(error.code, 232);
   }
   bson_destroy(stages);
   bson_free(wrapped);
   bson_string_free(s, true);

   /* Without a reader, stages that read fail at run time with 238. */
   stages = tu_json("{\"0\": {\"$unionWith\": \"c\"}}");
   p = pipeline_compile(stages, NULL, 0, &error);
   assert_non_null(p);
   {
      memcursor_t *c = bson_aligned_alloc0(BSON_ALIGNOF(memcursor_t), sizeof *c);
      bson_string_t *out = bson_string_new("[");
      assert_false(pipeline_run(p, mem_next, c, sc_collect, out, &error));
      assert_int_equal(error.code, 238);
      bson_string_free(out, true);
      bson_free(c);
   }
   pipeline_destroy(p);
   bson_destroy(stages);
}

static void
test_union_and_facet(void **state)
{
   (void) state;
   check("{\"in\": [{\"_id\": 1}], \"b\": [{\"_id\": 2, \"x\": 1}, {\"_id\": 3, \"x\": 2}]}",
         "[{\"$unionWith\": {\"coll\": \"b\", \"pipeline\": [{\"$match\": {\"x\": 2}}]}}]",
         "[{\"_id\": 1}, {\"_id\": 3, \"x\": 2}]");
   check("{\"in\": [{\"_id\": 1}]}", "[{\"$unionWith\": \"nothing\"}]", "[{\"_id\": 1}]");
   check("{\"in\": [{\"_id\": 1}, {\"_id\": 2}]}",
         "[{\"$facet\": {\"n\": [{\"$count\": \"c\"}], \"first\": [{\"$limit\": 1}], \"none\": "
         "[{\"$match\": {\"_id\": 9}}]}}]",
         "[{\"n\": [{\"c\": 2}], \"first\": [{\"_id\": 1}], \"none\": []}]");
   check("{\"in\": []}", "[{\"$facet\": {\"a\": []}}]", "[{\"a\": []}]");
   check("{\"in\": []}", "[{\"$facet\": {\"a\": [{\"$facet\": {\"b\": []}}]}}]", "error 40600");
   check("{\"in\": []}", "[{\"$facet\": {\"a\": [{\"$merge\": \"x\"}]}}]", "error 40600");
   check("{\"in\": []}", "[{\"$facet\": {}}]", "error 40169");
   check("{\"in\": []}", "[{\"$facet\": {\"a\": {}}}]", "error 40170");
   check("{\"in\": []}", "[{\"$unionWith\": {\"coll\": \"x\", \"pipeline\": [{\"$out\": \"y\"}]}}]",
         "error 31441");
   check("{\"in\": []}", "[{\"$unionWith\": {\"foo\": 1}}]", "error 40415");
}

static void
test_bucket(void **state)
{
   (void) state;
   check("{\"in\": [{\"v\": 1}, {\"v\": 5}, {\"v\": 6}, {\"v\": 50}, {\"v\": \"s\"}]}",
         "[{\"$bucket\": {\"groupBy\": \"$v\", \"boundaries\": [0, 5, 10], \"default\": "
         "\"other\", \"output\": {\"n\": {\"$sum\": 1}, \"vs\": {\"$push\": \"$v\"}}}}]",
         "[{\"_id\": 0, \"n\": 1, \"vs\": [1]}, {\"_id\": 5, \"n\": 2, \"vs\": [5, 6]}, "
         "{\"_id\": \"other\", \"n\": 2, \"vs\": [50, \"s\"]}]");
   check("{\"in\": [{\"v\": 1}]}",
         "[{\"$bucket\": {\"groupBy\": \"$v\", \"boundaries\": [\"a\", \"b\"]}}]", "error 40066");
   check("{\"in\": []}", "[{\"$bucket\": {\"groupBy\": \"$v\", \"boundaries\": [1, 1]}}]",
         "error 40194");
   check("{\"in\": []}",
         "[{\"$bucket\": {\"groupBy\": \"$v\", \"boundaries\": [1, 3], \"default\": 2}}]",
         "error 40199");
}

static void
test_bucket_auto(void **state)
{
   (void) state;
   check("{\"in\": [{\"v\": 4}, {\"v\": 1}, {\"v\": 3}, {\"v\": 2}]}",
         "[{\"$bucketAuto\": {\"groupBy\": \"$v\", \"buckets\": 2, \"output\": {\"s\": "
         "{\"$sum\": \"$v\"}}}}]",
         "[{\"_id\": {\"min\": 1, \"max\": 3}, \"s\": 3}, {\"_id\": {\"min\": 3, \"max\": 4}, "
         "\"s\": 7}]");
   check("{\"in\": [{\"v\": 0}, {\"v\": 14}, {\"v\": 100}]}",
         "[{\"$bucketAuto\": {\"groupBy\": \"$v\", \"buckets\": 3, \"granularity\": "
         "\"1-2-5\"}}]",
         "[{\"_id\": {\"min\": 0, \"max\": 10.0}, \"count\": 1}, {\"_id\": {\"min\": 10.0, "
         "\"max\": 20.0}, \"count\": 1}, {\"_id\": {\"min\": 20.0, \"max\": 200.0}, "
         "\"count\": 1}]");
   check("{\"in\": [{\"v\": -1}]}",
         "[{\"$bucketAuto\": {\"groupBy\": \"$v\", \"buckets\": 1, \"granularity\": \"E12\"}}]",
         "error 40260");
}

static void
test_sample_and_redact(void **state)
{
   memdb_t db = {0};
   char *got;
   (void) state;

   got = run_db(&db, "{\"in\": [{\"_id\": 1}, {\"_id\": 2}, {\"_id\": 3}]}",
                "[{\"$sample\": {\"size\": 2}}, {\"$count\": \"n\"}]", NULL);
   assert_string_equal(got, "[{ \"n\" : 2 }]");
   bson_free(got);
   check("{\"in\": [{\"_id\": 1}]}", "[{\"$sample\": {\"size\": 5}}]", "[{\"_id\": 1}]");
   check("{\"in\": []}", "[{\"$sample\": {\"size\": -1}}]", "error 28747");

   check("{\"in\": [{\"_id\": 1, \"l\": 1, \"a\": {\"l\": 2, \"x\": 1}, \"b\": [{\"l\": 1}, "
         "{\"l\": 3}, 7, [{\"l\": 5}]]}]}",
         "[{\"$redact\": {\"$cond\": [{\"$lte\": [\"$l\", 2]}, \"$$DESCEND\", \"$$PRUNE\"]}}]",
         "[{\"_id\": 1, \"l\": 1, \"a\": {\"l\": 2, \"x\": 1}, \"b\": [{\"l\": 1}, 7, []]}]");
   check("{\"in\": [{\"_id\": 1, \"l\": 9}]}",
         "[{\"$redact\": {\"$cond\": [{\"$lte\": [\"$l\", 2]}, \"$$KEEP\", \"$$PRUNE\"]}}]", "[]");
   check("{\"in\": [{\"_id\": 1}]}", "[{\"$redact\": 1}]", "error 17053");
}

static void
test_graph_lookup(void **state)
{
   (void) state;
   check("{\"in\": [{\"_id\": 1, \"s\": \"a\"}], \"g\": [{\"_id\": \"a\", \"to\": \"b\"}, "
         "{\"_id\": \"b\", \"to\": [\"c\", \"a\"]}, {\"_id\": \"c\"}, {\"_id\": \"z\", \"to\": "
         "\"a\"}]}",
         "[{\"$graphLookup\": {\"from\": \"g\", \"startWith\": \"$s\", \"connectFromField\": "
         "\"to\", \"connectToField\": \"_id\", \"as\": \"r\", \"depthField\": \"d\"}}]",
         "[{\"_id\": 1, \"s\": \"a\", \"r\": [{\"_id\": \"a\", \"to\": \"b\", \"d\": 0}, "
         "{\"_id\": \"b\", \"to\": [\"c\", \"a\"], \"d\": 1}, {\"_id\": \"c\", \"d\": 2}]}]");
   check("{\"in\": [{\"_id\": 1, \"s\": \"a\"}], \"g\": [{\"_id\": \"a\", \"to\": \"b\"}, "
         "{\"_id\": \"b\"}]}",
         "[{\"$graphLookup\": {\"from\": \"g\", \"startWith\": \"$s\", \"connectFromField\": "
         "\"to\", \"connectToField\": \"_id\", \"as\": \"r\", \"maxDepth\": 0}}]",
         "[{\"_id\": 1, \"s\": \"a\", \"r\": [{\"_id\": \"a\", \"to\": \"b\"}]}]");
   check("{\"in\": []}", "[{\"$graphLookup\": {\"from\": \"g\"}}]", "error 40105");
}

static void
collect_value(void *ctx, const bson_value_t *value)
{
   bson_string_t *s = ctx;
   bson_string_append_printf(s, "%d,",
                             value->value_type == BSON_TYPE_INT32 ? value->value.v_int32
                                                                  : -(int) value->value_type);
}

static void
test_path_helpers(void **state)
{
   bson_t *doc = tu_json("{\"a\": [{\"b\": 1}, {\"b\": [2, [3]]}, 4, {\"c\": 5}], \"d\": 6}");
   bson_string_t *s = bson_string_new(NULL);
   bson_t out = BSON_INITIALIZER;
   bson_value_t v = {.value_type = BSON_TYPE_INT32};
   (void) state;

   stage_visit_path(doc, "a.b", collect_value, s);
   /* 1, then 2 and [3] (an array element is not expanded again). */
   assert_string_equal(s->str, "1,2,-4,");
   bson_string_truncate(s, 0);
   stage_visit_path(doc, "d", collect_value, s);
   stage_visit_path(doc, "nope.x", collect_value, s);
   assert_string_equal(s->str, "6,");

   v.value.v_int32 = 9;
   stage_set_path(doc, "d.e", &v, &out);
   tu_assert_doc_eq(&out, "{\"a\": [{\"b\": 1}, {\"b\": [2, [3]]}, 4, {\"c\": 5}], \"d\": "
                          "{\"e\": 9}}");
   bson_reinit(&out);
   stage_set_path(doc, "x.y", &v, &out);
   bson_destroy(doc);
   doc = bson_copy(&out);
   bson_reinit(&out);
   stage_set_path(doc, "x.z", &v, &out);
   tu_assert_doc_eq(&out, "{\"a\": [{\"b\": 1}, {\"b\": [2, [3]]}, 4, {\"c\": 5}], \"d\": 6, "
                          "\"x\": {\"y\": 9, \"z\": 9}}");
   bson_destroy(&out);
   bson_destroy(doc);
   bson_string_free(s, true);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lookup_equality), cmocka_unit_test(test_lookup_pipeline),
      cmocka_unit_test(test_lookup_errors),   cmocka_unit_test(test_sub_pipeline_limits),
      cmocka_unit_test(test_union_and_facet), cmocka_unit_test(test_bucket),
      cmocka_unit_test(test_bucket_auto),     cmocka_unit_test(test_sample_and_redact),
      cmocka_unit_test(test_graph_lookup),    cmocka_unit_test(test_path_helpers),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
