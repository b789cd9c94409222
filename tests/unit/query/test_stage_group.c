/*
 * test_stage_group.c: $group's accumulators (core/query/aggregate/stage_group.c) through the
 * stage's own interface: $stdDevPop $stdDevSamp $firstN $lastN $maxN $minN $top $bottom $topN
 * $bottomN $median $percentile, with the manual's examples and the argument errors.
 */
#include "../bson/test_util.h"

#include "query/aggregate/pipeline_int.h"

/* Groups the documents of the JSON array input by spec (a $group document); returns the
 * results as canonical JSON "[doc, doc]" in first-seen order, or "error <code>". */
static char *
group(const char *input, const char *spec_json)
{
   char *wrapped = bson_strdup_printf("{\"a\": %s}", input);
   bson_t *in = tu_json(wrapped), *spec = tu_json(spec_json);
   bson_string_t *out = bson_string_new("[");
   fe_error_t error = {0};
   stage_group_t *g = stage_group_compile(spec, &error);
   stage_group_run_t *run = NULL;
   bson_iter_t iter, item;
   bson_t **docs = NULL;
   size_t count = 0;
   char *result;

   if (!g) {
      bson_string_free(out, true);
      out = bson_string_new(NULL);
      bson_string_append_printf(out, "error %d", error.code);
      goto done;
   }
   run = stage_group_start(g);
   bson_iter_init_find(&iter, in, "a");
   bson_iter_recurse(&iter, &item);
   while (bson_iter_next(&item)) {
      uint32_t len;
      const uint8_t *data;
      bson_t doc;
      bson_iter_document(&item, &len, &data);
      bson_init_static(&doc, data, len);
      if (!stage_group_add(run, &doc, NULL, &error)) {
         stage_group_run_destroy(run);
         bson_string_free(out, true);
         out = bson_string_new(NULL);
         bson_string_append_printf(out, "error %d", error.code);
         goto done;
      }
   }
   stage_group_finish(run, &docs, &count);
   for (size_t i = 0; i < count; i++) {
      char *s = bson_as_canonical_extended_json(docs[i], NULL);
      bson_string_append_printf(out, "%s%s", i ? ", " : "", s);
      bson_free(s);
      bson_destroy(docs[i]);
   }
   bson_free(docs);
   bson_string_append(out, "]");

done:
   stage_group_destroy(g);
   bson_destroy(in);
   bson_destroy(spec);
   bson_free(wrapped);
   result = bson_string_free(out, false);
   return result;
}

/* expected: a JSON array of documents, or "error <code>". */
static void
check(const char *input, const char *spec, const char *expected)
{
   char *got = group(input, spec);
   char *want;

   if (strncmp(expected, "error", 5) == 0) {
      want = bson_strdup(expected);
   } else {
      char *wrapped = bson_strdup_printf("{\"a\": %s}", expected);
      bson_t *e = tu_json(wrapped);
      bson_iter_t iter, item;
      bson_string_t *s = bson_string_new("[");
      bson_iter_init_find(&iter, e, "a");
      bson_iter_recurse(&iter, &item);
      for (int i = 0; bson_iter_next(&item); i++) {
         uint32_t len;
         const uint8_t *data;
         bson_t doc;
         char *j;
         bson_iter_document(&item, &len, &data);
         bson_init_static(&doc, data, len);
         j = bson_as_canonical_extended_json(&doc, NULL);
         bson_string_append_printf(s, "%s%s", i ? ", " : "", j);
         bson_free(j);
      }
      bson_string_append(s, "]");
      want = bson_string_free(s, false);
      bson_destroy(e);
      bson_free(wrapped);
   }
   if (strcmp(got, want) != 0) {
      print_error("input %s group %s\n  got  %s\n  want %s\n", input, spec, got, want);
      bson_free(got);
      bson_free(want);
      fail();
   }
   bson_free(got);
   bson_free(want);
}

/* The manual's $topN/$bottomN game scores. */
#define GAMES                                                                                      \
   "[{\"playerId\": \"PlayerA\", \"gameId\": \"G1\", \"score\": 31},"                              \
   " {\"playerId\": \"PlayerB\", \"gameId\": \"G1\", \"score\": 33},"                              \
   " {\"playerId\": \"PlayerC\", \"gameId\": \"G1\", \"score\": 99},"                              \
   " {\"playerId\": \"PlayerD\", \"gameId\": \"G1\", \"score\": 1},"                               \
   " {\"playerId\": \"PlayerA\", \"gameId\": \"G2\", \"score\": 10},"                              \
   " {\"playerId\": \"PlayerB\", \"gameId\": \"G2\", \"score\": 14},"                              \
   " {\"playerId\": \"PlayerC\", \"gameId\": \"G2\", \"score\": 66},"                              \
   " {\"playerId\": \"PlayerD\", \"gameId\": \"G2\", \"score\": 80}]"

static void
test_std_dev(void **state)
{
   (void) state;
   /* The manual: quiz scores 80 85 90 / 90 71 88 56. */
   check(
      "[{\"q\": 1, \"s\": 80}, {\"q\": 1, \"s\": 85}, {\"q\": 1, \"s\": 90}, "
      "{\"q\": 2, \"s\": 90}, {\"q\": 2, \"s\": 71}, {\"q\": 2, \"s\": 88}, {\"q\": 2, \"s\": 56}]",
      "{\"_id\": \"$q\", \"pop\": {\"$stdDevPop\": \"$s\"}, \"samp\": {\"$stdDevSamp\": \"$s\"}}",
      "[{\"_id\": 1, \"pop\": 4.08248290463863, \"samp\": 5.0}, "
      "{\"_id\": 2, \"pop\": 13.827056809024834, \"samp\": 15.96610994158147}]");
   check("[{\"s\": \"x\"}, {\"s\": null}, {\"t\": 1}]",
         "{\"_id\": null, \"pop\": {\"$stdDevPop\": \"$s\"}, \"samp\": {\"$stdDevSamp\": \"$s\"}}",
         "[{\"_id\": null, \"pop\": null, \"samp\": null}]");
   check("[{\"s\": 3}]",
         "{\"_id\": null, \"pop\": {\"$stdDevPop\": \"$s\"}, \"samp\": {\"$stdDevSamp\": \"$s\"}}",
         "[{\"_id\": null, \"pop\": 0.0, \"samp\": null}]");
   check("[]", "{\"_id\": null, \"pop\": {\"$stdDevPop\": [1]}}", "error 40237");
}

static void
test_n_accumulators(void **state)
{
   (void) state;
   check(GAMES,
         "{\"_id\": \"$gameId\", \"first\": {\"$firstN\": {\"input\": \"$score\", \"n\": 2}}, "
         "\"last\": {\"$lastN\": {\"input\": \"$score\", \"n\": 2}}, "
         "\"max\": {\"$maxN\": {\"input\": \"$score\", \"n\": 3}}, "
         "\"min\": {\"$minN\": {\"input\": \"$score\", \"n\": 3}}}",
         "[{\"_id\": \"G1\", \"first\": [31, 33], \"last\": [99, 1], \"max\": [99, 33, 31], "
         "\"min\": [1, 31, 33]}, "
         "{\"_id\": \"G2\", \"first\": [10, 14], \"last\": [66, 80], \"max\": [80, 66, 14], "
         "\"min\": [10, 14, 66]}]");
   /* $firstN keeps null and missing (as null); $maxN/$minN skip them. */
   check("[{\"v\": null}, {}, {\"v\": 2}]",
         "{\"_id\": null, \"f\": {\"$firstN\": {\"input\": \"$v\", \"n\": 5}}, "
         "\"m\": {\"$maxN\": {\"input\": \"$v\", \"n\": 5}}}",
         "[{\"_id\": null, \"f\": [null, null, 2], \"m\": [2]}]");
   /* n computed from the group key. */
   check(
      GAMES,
      "{\"_id\": {\"g\": \"$gameId\"}, \"f\": {\"$firstN\": {\"input\": \"$score\", \"n\": "
      "{\"$cond\": {\"if\": {\"$eq\": [\"$g\", \"G2\"]}, \"then\": 1, \"else\": 3}}}}}",
      "[{\"_id\": {\"g\": \"G1\"}, \"f\": [31, 33, 99]}, {\"_id\": {\"g\": \"G2\"}, \"f\": [10]}]");
   /* Many inputs: the trimming keeps the right ones. */
   check("[{\"v\": 5}, {\"v\": 9}, {\"v\": 1}, {\"v\": 7}, {\"v\": 3}, {\"v\": 8}, {\"v\": 2}, "
         "{\"v\": 6}, {\"v\": 4}, {\"v\": 0}, {\"v\": 11}, {\"v\": 10}, {\"v\": 13}, {\"v\": 12}, "
         "{\"v\": 15}, {\"v\": 14}, {\"v\": 17}, {\"v\": 16}, {\"v\": 19}, {\"v\": 18}]",
         "{\"_id\": null, \"max\": {\"$maxN\": {\"input\": \"$v\", \"n\": 2}}, "
         "\"min\": {\"$minN\": {\"input\": \"$v\", \"n\": 2}}, "
         "\"last\": {\"$lastN\": {\"input\": \"$v\", \"n\": 2}}}",
         "[{\"_id\": null, \"max\": [19, 18], \"min\": [0, 1], \"last\": [19, 18]}]");
   check("[{}]", "{\"_id\": null, \"f\": {\"$firstN\": {\"input\": 1, \"n\": \"x\"}}}",
         "error 5787902");
   check("[{}]", "{\"_id\": null, \"f\": {\"$firstN\": {\"input\": 1, \"n\": 1.5}}}",
         "error 5787903");
   check("[{}]", "{\"_id\": null, \"f\": {\"$firstN\": {\"input\": 1, \"n\": 0}}}",
         "error 5787908");
   check("[]", "{\"_id\": null, \"f\": {\"$firstN\": {\"input\": 1}}}", "error 5787906");
   check("[]", "{\"_id\": null, \"f\": {\"$lastN\": {\"n\": 1}}}", "error 5787907");
   check("[]", "{\"_id\": null, \"f\": {\"$maxN\": {\"n\": 1, \"input\": 1, \"x\": 1}}}",
         "error 5787901");
   check("[]", "{\"_id\": null, \"f\": {\"$minN\": 1}}", "error 5787900");
}

static void
test_top_bottom(void **state)
{
   (void) state;
   check(GAMES,
         "{\"_id\": \"$gameId\", \"top\": {\"$top\": {\"output\": [\"$playerId\", \"$score\"], "
         "\"sortBy\": {\"score\": -1}}}, \"bottom\": {\"$bottom\": {\"output\": [\"$playerId\", "
         "\"$score\"], \"sortBy\": {\"score\": -1}}}}",
         "[{\"_id\": \"G1\", \"top\": [\"PlayerC\", 99], \"bottom\": [\"PlayerD\", 1]}, "
         "{\"_id\": \"G2\", \"top\": [\"PlayerD\", 80], \"bottom\": [\"PlayerA\", 10]}]");
   check(GAMES,
         "{\"_id\": \"$gameId\", \"top\": {\"$topN\": {\"output\": \"$playerId\", \"n\": 3, "
         "\"sortBy\": {\"score\": -1}}}, \"bottom\": {\"$bottomN\": {\"output\": \"$playerId\", "
         "\"n\": 3, \"sortBy\": {\"score\": -1}}}}",
         "[{\"_id\": \"G1\", \"top\": [\"PlayerC\", \"PlayerB\", \"PlayerA\"], "
         "\"bottom\": [\"PlayerB\", \"PlayerA\", \"PlayerD\"]}, "
         "{\"_id\": \"G2\", \"top\": [\"PlayerD\", \"PlayerC\", \"PlayerB\"], "
         "\"bottom\": [\"PlayerC\", \"PlayerB\", \"PlayerA\"]}]");
   /* Compound sort and a missing output (null). */
   check(
      "[{\"a\": 1, \"b\": 2}, {\"a\": 1, \"b\": 1}, {\"a\": 0, \"b\": 5}]",
      "{\"_id\": null, \"t\": {\"$topN\": {\"output\": {\"a\": \"$a\", \"b\": \"$b\"}, \"n\": 9, "
      "\"sortBy\": {\"a\": 1, \"b\": -1}}}, \"m\": {\"$top\": {\"output\": \"$zz\", "
      "\"sortBy\": {\"a\": 1}}}}",
      "[{\"_id\": null, \"t\": [{\"a\": 0, \"b\": 5}, {\"a\": 1, \"b\": 2}, {\"a\": 1, \"b\": 1}], "
      "\"m\": null}]");
   check("[]", "{\"_id\": null, \"t\": {\"$topN\": {\"output\": 1, \"sortBy\": {\"a\": 1}}}}",
         "error 5788003");
   check("[]", "{\"_id\": null, \"t\": {\"$topN\": {\"n\": 1, \"sortBy\": {\"a\": 1}}}}",
         "error 5788004");
   check("[]", "{\"_id\": null, \"t\": {\"$topN\": {\"n\": 1, \"output\": 1}}}", "error 5788005");
   check("[]",
         "{\"_id\": null, \"t\": {\"$top\": {\"n\": 1, \"output\": 1, \"sortBy\": {\"a\": 1}}}}",
         "error 5788002");
   check("[]", "{\"_id\": null, \"t\": {\"$top\": {\"output\": 1, \"sortBy\": {\"a\": \"x\"}}}}",
         "error 15974");
   check("[]", "{\"_id\": null, \"t\": {\"$top\": {\"output\": 1, \"sortBy\": {\"a\": 2}}}}",
         "error 15975");
   check("[]", "{\"_id\": null, \"t\": {\"$top\": {\"output\": 1, \"sortBy\": \"a\"}}}",
         "error 10065");
   check(
      "[{\"s\": 1}]",
      "{\"_id\": null, \"t\": {\"$bottomN\": {\"output\": 1, \"n\": -1, \"sortBy\": {\"s\": 1}}}}",
      "error 5787908");
}

static void
test_median_percentile(void **state)
{
   (void) state;
   /* The manual's test scores. */
   check("[{\"t\": 62}, {\"t\": 51}, {\"t\": 80}, {\"t\": 55}, {\"t\": 92}, {\"t\": \"x\"}]",
         "{\"_id\": null, \"m\": {\"$median\": {\"input\": \"$t\", \"method\": \"approximate\"}}, "
         "\"p\": {\"$percentile\": {\"input\": \"$t\", \"p\": [0.5, 0.75, 0.9, 0.95], "
         "\"method\": \"approximate\"}}}",
         "[{\"_id\": null, \"m\": 62.0, \"p\": [62.0, 80.0, 92.0, 92.0]}]");
   check("[{\"t\": \"x\"}]",
         "{\"_id\": null, \"m\": {\"$median\": {\"input\": \"$t\", \"method\": \"approximate\"}}, "
         "\"p\": {\"$percentile\": {\"input\": \"$t\", \"p\": [0, 1], \"method\": "
         "\"approximate\"}}}",
         "[{\"_id\": null, \"m\": null, \"p\": [null, null]}]");
   check("[]", "{\"_id\": null, \"m\": {\"$median\": {\"input\": \"$t\"}}}", "error 40414");
   check("[]", "{\"_id\": null, \"m\": {\"$median\": {\"input\": \"$t\", \"method\": \"x\"}}}",
         "error 2");
   check("[]",
         "{\"_id\": null, \"m\": {\"$percentile\": {\"input\": \"$t\", \"p\": [1.5], \"method\": "
         "\"approximate\"}}}",
         "error 7750301");
   check("[]",
         "{\"_id\": null, \"m\": {\"$median\": {\"input\": 1, \"method\": \"approximate\", \"x\": "
         "1}}}",
         "error 40415");
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_std_dev),
      cmocka_unit_test(test_n_accumulators),
      cmocka_unit_test(test_top_bottom),
      cmocka_unit_test(test_median_percentile),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
