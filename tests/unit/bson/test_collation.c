/*
 * test_collation.c: ICU collations (core/bson/collation.c), and filters and sorts under one
 * (core/query/filter.c, core/query/sort.c).
 */
#include "test_util.h"

#include "bson/collation.h"
#include "bson/compare.h"
#include "query/filter.h"
#include "query/sort.h"

/* A collator from extended JSON; NULL for simple. Fails the test on a parse error. */
static fe_collator_t *
make(const char *json)
{
   bson_t *spec = tu_json(json);
   fe_collator_t *c = NULL;
   fe_error_t error = {0};
   assert_true(collation_parse(spec, &c, &error));
   bson_destroy(spec);
   return c;
}

static int
parse_code(const char *json)
{
   bson_t *spec = tu_json(json);
   fe_collator_t *c = NULL;
   fe_error_t error = {0};
   bool ok = collation_parse(spec, &c, &error);
   assert_false(ok);
   assert_null(c);
   bson_destroy(spec);
   return error.code;
}

static int
cmp(const fe_collator_t *c, const char *a, const char *b)
{
   int r = collation_compare(c, a, strlen(a), b, strlen(b));
   return r < 0 ? -1 : r > 0;
}

static void
test_strength(void **state)
{
   (void) state;
   fe_collator_t *s1 = make("{\"locale\": \"en\", \"strength\": 1}");
   fe_collator_t *s2 = make("{\"locale\": \"en\", \"strength\": 2}");
   fe_collator_t *s3 = make("{\"locale\": \"en\"}");
   assert_int_equal(cmp(s1, "a", "\xc3\xa1"), 0); /* a, á: base letters only */
   assert_int_equal(cmp(s1, "a", "A"), 0);
   assert_int_equal(cmp(s2, "a", "A"), 0);
   assert_int_equal(cmp(s2, "a", "\xc3\xa1"), -1);
   assert_int_equal(cmp(s3, "a", "A"), -1);
   assert_int_equal(cmp(s3, "a", "B"), -1);
   assert_int_equal(cmp(NULL, "a", "B"), 1);
   collation_destroy(s1);
   collation_destroy(s2);
   collation_destroy(s3);
}

static void
test_case_first_numeric_shifted(void **state)
{
   (void) state;
   fe_collator_t *upper = make("{\"locale\": \"en\", \"caseFirst\": \"upper\"}");
   fe_collator_t *numeric = make("{\"locale\": \"en\", \"numericOrdering\": true}");
   fe_collator_t *shifted = make("{\"locale\": \"en\", \"alternate\": \"shifted\"}");
   fe_collator_t *plain = make("{\"locale\": \"en\"}");
   assert_int_equal(cmp(upper, "A", "a"), -1);
   assert_int_equal(cmp(plain, "A", "a"), 1);
   assert_int_equal(cmp(numeric, "10", "9"), 1);
   assert_int_equal(cmp(plain, "10", "9"), -1);
   assert_int_equal(cmp(shifted, "a b", "ab"), 0);
   assert_int_not_equal(cmp(plain, "a b", "ab"), 0);
   collation_destroy(upper);
   collation_destroy(numeric);
   collation_destroy(shifted);
   collation_destroy(plain);
}

static void
test_locales(void **state)
{
   (void) state;
   /* French accents compare from the end with backwards (fr_CA's default). */
   fe_collator_t *fr = make("{\"locale\": \"fr\", \"backwards\": true}");
   fe_collator_t *en = make("{\"locale\": \"en\"}");
   /* cote < côte < coté < côté in French order; côte > coté in English order. */
   assert_int_equal(cmp(fr, "c\xc3\xb4te", "cot\xc3\xa9"), -1);
   assert_int_equal(cmp(en, "c\xc3\xb4te", "cot\xc3\xa9"), 1);
   fe_collator_t *book = make("{\"locale\": \"de@collation=phonebook\"}");
   fe_collator_t *de = make("{\"locale\": \"de\"}");
   /* Phonebook German sorts ü as ue, plain German as u. */
   assert_int_equal(cmp(book, "M\xc3\xbcller", "Muf"), -1); /* Mue < Muf */
   assert_int_equal(cmp(de, "M\xc3\xbcller", "Muf"), 1);    /* Mul > Muf */
   assert_null(make("{\"locale\": \"simple\"}"));
   collation_destroy(fr);
   collation_destroy(en);
   collation_destroy(book);
   collation_destroy(de);
}

static void
test_errors_and_spec(void **state)
{
   (void) state;
   assert_int_equal(parse_code("{\"locale\": \"xx\"}"), 2);
   assert_int_equal(parse_code("{\"locale\": \"EN\"}"), 2);
   assert_int_equal(parse_code("{\"strength\": 1}"), 40414);
   assert_int_equal(parse_code("{\"locale\": 1}"), 14);
   assert_int_equal(parse_code("{\"locale\": \"en\", \"x\": 1}"), 40415);
   assert_int_equal(parse_code("{\"locale\": \"en\", \"strength\": 0}"), 51024);
   assert_int_equal(parse_code("{\"locale\": \"en\", \"caseLevel\": 1}"), 14);
   assert_int_equal(parse_code("{\"locale\": \"en\", \"alternate\": \"x\"}"), 2);
   assert_int_equal(parse_code("{\"locale\": \"en\", \"strength\": 1, \"backwards\": true}"), 2);
   assert_int_equal(parse_code("{\"locale\": \"simple\", \"strength\": 1}"), 9);
   assert_int_equal(parse_code("{\"locale\": \"en\", \"version\": \"1.0\"}"), 161);

   fe_collator_t *c = make("{\"locale\": \"fr_CA\", \"strength\": 2}");
   bson_t out = BSON_INITIALIZER;
   collation_append_spec(c, &out);
   tu_assert_doc_eq(&out, "{\"locale\": \"fr_CA\", \"caseLevel\": false, \"caseFirst\": \"off\", "
                          "\"strength\": 2, \"numericOrdering\": false, \"alternate\": "
                          "\"non-ignorable\", \"maxVariable\": \"punct\", \"normalization\": "
                          "false, \"backwards\": true, \"version\": \"57.1\"}");
   bson_destroy(&out);
   collation_destroy(c);
}

static void
test_keys_and_compare(void **state)
{
   (void) state;
   fe_collator_t *c = make("{\"locale\": \"en\", \"strength\": 2}");
   bson_t *a = tu_json("{\"v\": {\"x\": [\"ABC\"]}}"), *b = tu_json("{\"v\": {\"x\": [\"abc\"]}}");
   bson_t ka = BSON_INITIALIZER, kb = BSON_INITIALIZER;
   bson_iter_t ia, ib;
   assert_true(bson_iter_init_find(&ia, a, "v") && bson_iter_init_find(&ib, b, "v"));
   assert_int_equal(compare_values_collated(&ia, &ib, c), 0);
   assert_int_not_equal(compare_values(&ia, &ib), 0);
   collation_append_key_value(c, &ka, "v", &ia);
   collation_append_key_value(c, &kb, "v", &ib);
   assert_true(bson_equal(&ka, &kb));
   bson_destroy(&ka);
   bson_destroy(&kb);
   bson_destroy(a);
   bson_destroy(b);
   collation_destroy(c);
}

static void
test_filter_and_sort(void **state)
{
   (void) state;
   fe_collator_t *c = make("{\"locale\": \"en\", \"strength\": 2}");
   fe_error_t error = {0};
   bson_t *spec = tu_json("{\"name\": {\"$in\": [\"ADA\"]}, \"tag\": {\"$ne\": \"X\"}}");
   bson_t *regex = tu_json("{\"name\": {\"$regex\": \"^ADA\"}}");
   bson_t *doc = tu_json("{\"name\": \"ada\", \"tag\": \"y\"}");
   bson_t *other = tu_json("{\"name\": \"ada\", \"tag\": \"x\"}");
   fe_filter_t *f = filter_compile_collated(spec, NULL, c, &error);
   fe_filter_t *binary = filter_compile(spec, &error);
   fe_filter_t *re = filter_compile_collated(regex, NULL, c, &error);
   assert_non_null(f);
   assert_true(filter_match(f, doc, NULL));
   assert_false(filter_match(f, other, NULL));
   assert_false(filter_match(binary, doc, NULL));
   assert_false(filter_match(re, doc, NULL)); /* $regex is never collated */
   filter_destroy(f);
   filter_destroy(binary);
   filter_destroy(re);

   bson_t *sort_spec = tu_json("{\"n\": 1}");
   fe_collator_t *numeric = make("{\"locale\": \"en\", \"numericOrdering\": true}");
   fe_sort_t *sort = sort_compile_collated(sort_spec, numeric, &error);
   bson_t *d10 = tu_json("{\"n\": \"10\"}"), *d9 = tu_json("{\"n\": \"9\"}");
   const bson_t *docs[] = {d10, d9};
   sort_documents(sort, docs, 2);
   assert_ptr_equal(docs[0], d9);
   sort_destroy(sort);
   sort = sort_compile(sort_spec, &error);
   sort_documents(sort, docs, 2);
   assert_ptr_equal(docs[0], d10);
   sort_destroy(sort);
   collation_destroy(numeric);
   bson_destroy(d10);
   bson_destroy(d9);
   bson_destroy(sort_spec);
   bson_destroy(spec);
   bson_destroy(regex);
   bson_destroy(doc);
   bson_destroy(other);
   collation_destroy(c);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strength),         cmocka_unit_test(test_case_first_numeric_shifted),
      cmocka_unit_test(test_locales),          cmocka_unit_test(test_errors_and_spec),
      cmocka_unit_test(test_keys_and_compare), cmocka_unit_test(test_filter_and_sort),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
