/*
 * test_text.c: the text search engine (core/query/text.c, text_stem.c, filter_text.c):
 * stemming, stop words, folding, tokenizing, $text parsing, matching and scores.
 */
#include "../bson/test_util.h"

#include <math.h>

#include "query/filter.h"
#include "query/text.h"

static void
check_stem(const char *word, const char *expected)
{
   char buf[TEXT_STEM_MAX + 1];
   size_t len = strlen(word);
   memcpy(buf, word, len + 1);
   len = text_stem_english(buf, len);
   buf[len] = '\0';
   if (strcmp(buf, expected) != 0) {
      fail_msg("stem(%s) = %s, expected %s", word, buf, expected);
   }
}

static void
test_stem(void **state)
{
   (void) state;
   /* From the Snowball English vocabulary and its output. */
   check_stem("consign", "consign");
   check_stem("consigned", "consign");
   check_stem("consigning", "consign");
   check_stem("consignment", "consign");
   check_stem("caresses", "caress");
   check_stem("ponies", "poni");
   check_stem("ties", "tie");
   check_stem("cats", "cat");
   check_stem("gas", "gas");
   check_stem("running", "run");
   check_stem("hopping", "hop");
   check_stem("hoping", "hope");
   check_stem("agreed", "agre");
   check_stem("feed", "feed");
   check_stem("happy", "happi");
   check_stem("cry", "cri");
   check_stem("by", "by");
   check_stem("generously", "generous");
   check_stem("generate", "generat");
   check_stem("national", "nation");
   check_stem("relational", "relat");
   check_stem("abilities", "abil");
   check_stem("coffee", "coffe");
   check_stem("coffees", "coffe");
   check_stem("baking", "bake");
   check_stem("dying", "die");
   check_stem("skies", "sky");
   check_stem("news", "news");
   check_stem("fishing", "fish");
   check_stem("fished", "fish");
   check_stem("fisher", "fisher");
   check_stem("succeeded", "succeed");
   check_stem("yellow", "yellow");
   check_stem("saying", "say");
   check_stem("controll", "control");
   check_stem("Coffees", "Coffees"); /* not lower-case: left alone */
}

static void
test_stop_words(void **state)
{
   (void) state;
   assert_true(text_is_stop_word("the", 3));
   assert_true(text_is_stop_word("a", 1));
   assert_true(text_is_stop_word("yourselves", 10));
   assert_true(text_is_stop_word("can't", 5));
   assert_false(text_is_stop_word("coffee", 6));
   assert_false(text_is_stop_word("th", 2));
   assert_false(text_is_stop_word("zzz", 3));
   assert_true(text_language_known("spanish", NULL));
   assert_true(text_language_known("none", NULL));
   assert_false(text_language_known("klingon", NULL));
}

static void
check_fold(const char *in, unsigned options, const char *expected)
{
   char out[256];
   text_fold(in, strlen(in), options, out);
   if (strcmp(out, expected) != 0) {
      fail_msg("fold(%s, %u) = %s, expected %s", in, options, out, expected);
   }
}

static void
test_fold(void **state)
{
   (void) state;
   check_fold("Café CRÈME", 0, "cafe creme");
   check_fold("Café CRÈME", TEXT_CASE_SENSITIVE, "Cafe CREME");
   check_fold("Café CRÈME", TEXT_DIACRITIC_SENSITIVE, "café crème");
   check_fold("Łódź Straße", 0, "lodz straße");
   check_fold("ΆΘΗΝΑ", 0, "αθηνα");
   check_fold("МОСКВА", 0, "москва");
   check_fold("cafe\xcc\x81", 0, "cafe"); /* e + combining acute */
}

typedef struct collected {
   char terms[32][32];
   int count;
} collected_t;

static void
collect(void *ctx, const char *term, size_t len)
{
   collected_t *c = ctx;
   if (c->count < 32 && len < 32) {
      memcpy(c->terms[c->count], term, len);
      c->terms[c->count][len] = '\0';
      c->count++;
   }
}

static void
test_terms(void **state)
{
   collected_t c = {0};
   (void) state;
   text_terms("The quick-brown foxes, jumping over snake_case!", 47, "english", 0, collect, &c);
   assert_int_equal(c.count, 5);
   assert_string_equal(c.terms[0], "quick");
   assert_string_equal(c.terms[1], "brown");
   assert_string_equal(c.terms[2], "fox");
   assert_string_equal(c.terms[3], "jump");
   assert_string_equal(c.terms[4], "snake_case");
   memset(&c, 0, sizeof c);
   text_terms("The foxes", 9, "none", 0, collect, &c);
   assert_int_equal(c.count, 2);
   assert_string_equal(c.terms[0], "the");
   assert_string_equal(c.terms[1], "foxes");
}

/* Compiles filter_json, binds the text index spec_json ({key, weights...} as createIndexes
 * takes it) and matches doc_json; *score receives the score. */
static bool
match_text(const char *index_json, const char *filter_json, const char *doc_json, double *score)
{
   fe_error_t error = {0};
   bson_t *index_spec = tu_json(index_json);
   bson_t *filter_spec = tu_json(filter_json);
   bson_t *doc = tu_json(doc_json);
   bson_t normalized;
   fe_text_index_t *index;
   fe_filter_t *filter;
   struct fe_text_query *query = NULL;
   bool matched;

   if (!text_normalize_spec(index_spec, &normalized, &error)) {
      fail_msg("index %s: %s", index_json, error.message);
   }
   index = text_index_new(&normalized, &error);
   assert_non_null(index);
   filter = filter_compile(filter_spec, &error);
   if (!filter) {
      fail_msg("filter %s: %s", filter_json, error.message);
   }
   assert_true(filter_text_query(filter, &query, &error));
   assert_non_null(query);
   assert_false(filter_match(filter, doc, NULL)); /* unbound: nothing matches */
   assert_true(text_query_bind(query, index, &error));
   matched = filter_match(filter, doc, NULL);
   assert_int_equal(matched, text_query_match(query, doc, score));
   filter_destroy(filter);
   text_index_destroy(index);
   bson_destroy(&normalized);
   bson_destroy(index_spec);
   bson_destroy(filter_spec);
   bson_destroy(doc);
   return matched;
}

#define IDX "{\"key\": {\"title\": \"text\", \"body\": \"text\"}, \"weights\": {\"title\": 10}}"

static void
test_match(void **state)
{
   double score;
   (void) state;
   assert_true(match_text(IDX, "{\"$text\": {\"$search\": \"coffee\"}}",
                          "{\"title\": \"Coffees\", \"body\": \"x\"}", &score));
   assert_false(
      match_text(IDX, "{\"$text\": {\"$search\": \"tea\"}}", "{\"title\": \"Coffee\"}", &score));
   /* Terms are OR'ed. */
   assert_true(match_text(IDX, "{\"$text\": {\"$search\": \"tea coffee\"}}",
                          "{\"body\": \"green tea\"}", &score));
   /* Negation. */
   assert_false(match_text(IDX, "{\"$text\": {\"$search\": \"tea -green\"}}",
                           "{\"body\": \"green tea\"}", &score));
   assert_true(match_text(IDX, "{\"$text\": {\"$search\": \"tea -green\"}}",
                          "{\"body\": \"black tea\"}", &score));
   /* Only negations: nothing. */
   assert_false(match_text(IDX, "{\"$text\": {\"$search\": \"-green\"}}",
                           "{\"body\": \"black tea\"}", &score));
   /* A hyphen inside a word is a delimiter, not a negation. */
   assert_true(match_text(IDX, "{\"$text\": {\"$search\": \"green-tea\"}}",
                          "{\"body\": \"green tea\"}", &score));
   /* Phrases are AND'ed, as substrings. */
   assert_true(match_text(IDX, "{\"$text\": {\"$search\": \"\\\"green tea\\\"\"}}",
                          "{\"body\": \"Some GREEN TEA here\"}", &score));
   assert_false(match_text(IDX, "{\"$text\": {\"$search\": \"\\\"green tea\\\" coffee\"}}",
                           "{\"body\": \"tea green coffee\"}", &score));
   assert_false(match_text(IDX, "{\"$text\": {\"$search\": \"tea -\\\"green tea\\\"\"}}",
                           "{\"body\": \"green tea\"}", &score));
   /* Stop words alone match nothing. */
   assert_false(
      match_text(IDX, "{\"$text\": {\"$search\": \"the\"}}", "{\"body\": \"the\"}", &score));
   /* Case and diacritics. */
   assert_true(
      match_text(IDX, "{\"$text\": {\"$search\": \"cafe\"}}", "{\"body\": \"Café\"}", &score));
   assert_false(match_text(IDX,
                           "{\"$text\": {\"$search\": \"cafe\", \"$diacriticSensitive\": true}}",
                           "{\"body\": \"Café\"}", &score));
   assert_false(match_text(IDX, "{\"$text\": {\"$search\": \"Cafe\", \"$caseSensitive\": true}}",
                           "{\"body\": \"cafe\"}", &score));
   assert_true(match_text(IDX, "{\"$text\": {\"$search\": \"Cafe\", \"$caseSensitive\": true}}",
                          "{\"body\": \"Cafe\"}", &score));
   /* Unindexed fields do not count; arrays and nested documents do. */
   assert_false(
      match_text(IDX, "{\"$text\": {\"$search\": \"coffee\"}}", "{\"other\": \"coffee\"}", &score));
   assert_true(match_text(IDX, "{\"$text\": {\"$search\": \"coffee\"}}",
                          "{\"body\": [\"tea\", \"coffee\"]}", &score));
   assert_true(match_text("{\"key\": {\"$**\": \"text\"}}",
                          "{\"$text\": {\"$search\": \"coffee\"}}",
                          "{\"a\": {\"b\": [\"coffee\"]}}", &score));
   /* "none": no stemming. */
   assert_false(match_text(IDX, "{\"$text\": {\"$search\": \"coffee\", \"$language\": \"none\"}}",
                           "{\"body\": \"coffees\", \"language\": \"none\"}", &score));
}

static void
test_score(void **state)
{
   double score = 0, other = 0;
   (void) state;
   /* One term: weight * 1 * (0.5 * 1/1 + 0.5); the bonus for a whole string equal to the
    * term goes to unstemmed words only, as mongod compares the raw string with the term. */
   assert_true(
      match_text(IDX, "{\"$text\": {\"$search\": \"coffee\"}}", "{\"title\": \"coffee\"}", &score));
   assert_true(fabs(score - 10.0) < 1e-9);
   assert_true(
      match_text(IDX, "{\"$text\": {\"$search\": \"tea\"}}", "{\"title\": \"Tea\"}", &score));
   assert_true(fabs(score - 11.0) < 1e-9);
   /* Twice in four terms: freq 1.5, coeff 0.75. */
   assert_true(match_text(IDX, "{\"$text\": {\"$search\": \"coffee\"}}",
                          "{\"body\": \"coffee shop coffee cake\"}", &score));
   assert_true(fabs(score - 1.5 * 0.75) < 1e-9);
   /* Weights rank the title above the body. */
   assert_true(match_text(IDX, "{\"$text\": {\"$search\": \"coffee\"}}",
                          "{\"title\": \"coffee shop\"}", &score));
   assert_true(match_text(IDX, "{\"$text\": {\"$search\": \"coffee\"}}",
                          "{\"body\": \"coffee shop\"}", &other));
   assert_true(score > other);
   assert_true(fabs(score - 7.5) < 1e-9);
   /* Scores of several terms add up. */
   assert_true(match_text(IDX, "{\"$text\": {\"$search\": \"coffee shop\"}}",
                          "{\"body\": \"coffee shop\"}", &score));
   assert_true(fabs(score - 1.5) < 1e-9);
}

static void
test_errors(void **state)
{
   fe_error_t error = {0};
   bson_t out;
   struct fe_text_query *query = NULL;
   bson_t *spec;
   fe_filter_t *filter;
   (void) state;

   spec = tu_json("{\"$text\": {\"search\": \"x\"}}");
   assert_null(filter_compile(spec, &error));
   bson_destroy(spec);
   spec = tu_json("{\"$text\": {\"$search\": 1}}");
   assert_null(filter_compile(spec, &error));
   assert_int_equal(error.code, FE_TypeMismatch);
   bson_destroy(spec);
   spec = tu_json("{\"$text\": {\"$search\": \"x\", \"$language\": \"klingon\"}}");
   assert_null(filter_compile(spec, &error));
   assert_int_equal(error.code, 17262);
   bson_destroy(spec);
   spec = tu_json("{\"a\": {\"$elemMatch\": {\"$text\": {\"$search\": \"x\"}}}}");
   assert_null(filter_compile(spec, &error));
   bson_destroy(spec);
   spec = tu_json("{\"$and\": [{\"$text\": {\"$search\": \"x\"}}, {\"$text\": {\"$search\": "
                  "\"y\"}}]}");
   filter = filter_compile(spec, &error);
   assert_non_null(filter);
   assert_false(filter_text_query(filter, &query, &error));
   assert_string_equal(error.message, "Too many text expressions");
   filter_destroy(filter);
   bson_destroy(spec);
   spec = tu_json("{\"$nor\": [{\"$text\": {\"$search\": \"x\"}}]}");
   filter = filter_compile(spec, &error);
   assert_non_null(filter);
   assert_false(filter_text_query(filter, &query, &error));
   filter_destroy(filter);
   bson_destroy(spec);

   spec = tu_json("{\"key\": {\"a\": \"text\"}, \"default_language\": \"klingon\"}");
   assert_false(text_normalize_spec(spec, &out, &error));
   bson_destroy(&out);
   bson_destroy(spec);
   spec = tu_json("{\"key\": {\"a\": \"text\"}, \"weights\": {\"a\": 0}}");
   assert_false(text_normalize_spec(spec, &out, &error));
   bson_destroy(&out);
   bson_destroy(spec);
}

static void
test_normalize(void **state)
{
   fe_error_t error = {0};
   bson_t out;
   bson_t *spec = tu_json("{\"key\": {\"z\": 1, \"title\": \"text\", \"body\": \"text\"}, "
                          "\"weights\": {\"title\": 5}, \"background\": true}");
   char *json;
   (void) state;
   assert_true(text_normalize_spec(spec, &out, &error));
   json = bson_as_relaxed_extended_json(&out, NULL);
   assert_string_equal(json, "{ \"v\" : 2, \"key\" : { \"z\" : 1, \"_fts\" : \"text\", \"_ftsx\" : "
                             "1 }, \"name\" : \"z_1_title_text_body_text\", \"weights\" : { "
                             "\"body\" : 1, \"title\" : 5 }, \"default_language\" : \"english\", "
                             "\"language_override\" : \"language\", \"textIndexVersion\" : 3 }");
   bson_free(json);
   bson_destroy(&out);
   bson_destroy(spec);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stem),   cmocka_unit_test(test_stop_words),
      cmocka_unit_test(test_fold),   cmocka_unit_test(test_terms),
      cmocka_unit_test(test_match),  cmocka_unit_test(test_score),
      cmocka_unit_test(test_errors), cmocka_unit_test(test_normalize),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
