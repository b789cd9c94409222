/*
 * test_expr_array.c: the array, set and object expressions of core/query/expr_array.c, with
 * the manual's examples, null and missing, wrong types and their codes.
 */
#include "expr_check.h"

#define D                                                                                          \
   "{\"a\": [1, 2, 3], \"e\": [], \"n\": null, \"s\": \"x\", \"o\": {\"p\": 1, \"q\": [2]}, "      \
   "\"docs\": [{\"k\": 3, \"v\": \"c\"}, {\"k\": 1, \"v\": \"a\"}, {\"k\": 2, \"v\": \"b\"}, 7]}"
#define LONG(s) "{\"$numberLong\": \"" s "\"}"

static void
test_reduce(void **state)
{
   (void) state;
   ec_check(D,
            "{\"$reduce\": {\"input\": \"$a\", \"initialValue\": 0, \"in\": {\"$add\": "
            "[\"$$value\", \"$$this\"]}}}",
            "6");
   ec_check(D,
            "{\"$reduce\": {\"input\": [\"a\", \"b\", \"c\"], \"initialValue\": \"\", \"in\": "
            "{\"$concat\": [\"$$value\", \"$$this\"]}}}",
            "\"abc\"");
   ec_check(D,
            "{\"$reduce\": {\"input\": [[3, 4], [5, 6]], \"initialValue\": [1, 2], \"in\": "
            "{\"$concatArrays\": [\"$$value\", \"$$this\"]}}}",
            "[1, 2, 3, 4, 5, 6]");
   ec_check(D,
            "{\"$reduce\": {\"input\": [1, 2, 3, 4], \"initialValue\": {\"sum\": 5, "
            "\"product\": 2}, \"in\": {\"sum\": {\"$add\": [\"$$value.sum\", \"$$this\"]}, "
            "\"product\": {\"$multiply\": [\"$$value.product\", \"$$this\"]}}}}",
            "{\"sum\": 15, \"product\": 48}");
   ec_check(D, "{\"$reduce\": {\"input\": \"$e\", \"initialValue\": 7, \"in\": 1}}", "7");
   ec_check(D, "{\"$reduce\": {\"input\": \"$nope\", \"initialValue\": 0, \"in\": 1}}", "null");
   ec_check(D, "{\"$reduce\": {\"input\": \"$s\", \"initialValue\": 0, \"in\": 1}}", "error 40080");
   ec_check(D, "{\"$reduce\": [1]}", "error 40075");
   ec_check(D, "{\"$reduce\": {\"input\": [], \"initialValue\": 0, \"in\": 1, \"x\": 1}}",
            "error 40076");
   ec_check(D, "{\"$reduce\": {\"initialValue\": 0, \"in\": 1}}", "error 40077");
   ec_check(D, "{\"$reduce\": {\"input\": [], \"in\": 1}}", "error 40078");
   ec_check(D, "{\"$reduce\": {\"input\": [], \"initialValue\": 0}}", "error 40079");
}

static void
test_reverse_range_slice(void **state)
{
   (void) state;
   ec_check(D, "{\"$reverseArray\": \"$a\"}", "[3, 2, 1]");
   ec_check(D, "{\"$reverseArray\": [[1, [2]]]}", "[[2], 1]");
   ec_check(D, "{\"$reverseArray\": \"$e\"}", "[]");
   ec_check(D, "{\"$reverseArray\": \"$nope\"}", "null");
   ec_check(D, "{\"$reverseArray\": \"$s\"}", "error 34435");

   ec_check(D, "{\"$range\": [0, 10, 2]}", "[0, 2, 4, 6, 8]");
   ec_check(D, "{\"$range\": [10, 0, -2]}", "[10, 8, 6, 4, 2]");
   ec_check(D, "{\"$range\": [0, 10, -2]}", "[]");
   ec_check(D, "{\"$range\": [0, 5]}", "[0, 1, 2, 3, 4]");
   ec_check(D, "{\"$range\": [1.0, " LONG("3") "]}", "[1, 2]");
   ec_check(D, "{\"$range\": [\"a\", 5]}", "error 34443");
   ec_check(D, "{\"$range\": [0.5, 5]}", "error 34444");
   ec_check(D, "{\"$range\": [0, null]}", "error 34445");
   ec_check(D, "{\"$range\": [0, 3000000000]}", "error 34446");
   ec_check(D, "{\"$range\": [0, 5, \"x\"]}", "error 34447");
   ec_check(D, "{\"$range\": [0, 5, 1.5]}", "error 34448");
   ec_check(D, "{\"$range\": [0, 5, 0]}", "error 34449");
   ec_check(D, "{\"$range\": [0]}", "error 28667");
   ec_check(D, "{\"$range\": [0, 2000000000]}", "error 146");

   ec_check(D, "{\"$slice\": [\"$a\", 1]}", "[1]");
   ec_check(D, "{\"$slice\": [\"$a\", -2]}", "[2, 3]");
   ec_check(D, "{\"$slice\": [\"$a\", 15]}", "[1, 2, 3]");
   ec_check(D, "{\"$slice\": [\"$a\", -15]}", "[1, 2, 3]");
   ec_check(D, "{\"$slice\": [\"$a\", 1, 1]}", "[2]");
   ec_check(D, "{\"$slice\": [\"$a\", -2, 1]}", "[2]");
   ec_check(D, "{\"$slice\": [\"$a\", 15, 2]}", "[]");
   ec_check(D, "{\"$slice\": [\"$a\", -15, 2]}", "[1, 2]");
   ec_check(D, "{\"$slice\": [\"$nope\", 1]}", "null");
   ec_check(D, "{\"$slice\": [\"$a\", null]}", "null");
   ec_check(D, "{\"$slice\": [\"$s\", 1]}", "error 28724");
   ec_check(D, "{\"$slice\": [\"$a\", \"x\"]}", "error 28725");
   ec_check(D, "{\"$slice\": [\"$a\", 1.5]}", "error 28726");
   ec_check(D, "{\"$slice\": [\"$a\", 1, \"x\"]}", "error 28727");
   ec_check(D, "{\"$slice\": [\"$a\", 1, 1.5]}", "error 28728");
   ec_check(D, "{\"$slice\": [\"$a\", 1, 0]}", "error 28729");
   ec_check(D, "{\"$slice\": [\"$a\"]}", "error 28667");
}

static void
test_zip_index_of(void **state)
{
   (void) state;
   ec_check(D, "{\"$zip\": {\"inputs\": [[\"a\", \"b\"], [1, 2, 3]]}}", "[[\"a\", 1], [\"b\", 2]]");
   ec_check(D, "{\"$zip\": {\"inputs\": [[\"a\"], [1, 2]], \"useLongestLength\": true}}",
            "[[\"a\", 1], [null, 2]]");
   ec_check(D,
            "{\"$zip\": {\"inputs\": [[\"a\"], [1, 2]], \"useLongestLength\": true, "
            "\"defaults\": [\"z\", 0]}}",
            "[[\"a\", 1], [\"z\", 2]]");
   ec_check(D, "{\"$zip\": {\"inputs\": [\"$a\", \"$nope\"]}}", "null");
   ec_check(D, "{\"$zip\": {\"inputs\": [\"$a\", \"$s\"]}}", "error 34468");
   ec_check(D, "{\"$zip\": []}", "error 34460");
   ec_check(D, "{\"$zip\": {\"inputs\": 1}}", "error 34461");
   ec_check(D, "{\"$zip\": {\"inputs\": [[1]], \"defaults\": 1}}", "error 34462");
   ec_check(D, "{\"$zip\": {\"inputs\": [[1]], \"useLongestLength\": 1}}", "error 34463");
   ec_check(D, "{\"$zip\": {\"inputs\": [[1]], \"x\": 1}}", "error 34464");
   ec_check(D, "{\"$zip\": {\"inputs\": []}}", "error 34465");
   ec_check(D, "{\"$zip\": {\"inputs\": [[1]], \"defaults\": [1]}}", "error 34466");
   ec_check(D, "{\"$zip\": {\"inputs\": [[1]], \"useLongestLength\": true, \"defaults\": [1, 2]}}",
            "error 34467");

   ec_check(D, "{\"$indexOfArray\": [[\"a\", \"abc\"], \"a\"]}", "0");
   ec_check(D, "{\"$indexOfArray\": [[\"a\", \"abc\", \"de\", [\"de\"]], [\"de\"]]}", "3");
   ec_check(D, "{\"$indexOfArray\": [[1, 2], 5]}", "-1");
   ec_check(D, "{\"$indexOfArray\": [[1, 2, 3], 2.0]}", "1");
   ec_check(D, "{\"$indexOfArray\": [[10, 9, 9, 8, 9], 9, 3]}", "4");
   ec_check(D, "{\"$indexOfArray\": [[\"a\", \"abc\", \"b\"], \"b\", 0, 1]}", "-1");
   ec_check(D, "{\"$indexOfArray\": [[\"a\", \"abc\", \"b\"], \"b\", 1, 0]}", "-1");
   ec_check(D, "{\"$indexOfArray\": [[\"a\", \"abc\", \"b\"], \"b\", 20]}", "-1");
   ec_check(D, "{\"$indexOfArray\": [[null], null]}", "0");
   ec_check(D, "{\"$indexOfArray\": [null, \"a\"]}", "null");
   ec_check(D, "{\"$indexOfArray\": [\"$s\", \"a\"]}", "error 40090");
   ec_check(D, "{\"$indexOfArray\": [[1], 1, -1]}", "error 40097");
   ec_check(D, "{\"$indexOfArray\": [[1], 1, 1.5]}", "error 40096");
   ec_check(D, "{\"$indexOfArray\": [[1]]}", "error 28667");
}

static void
test_objects(void **state)
{
   (void) state;
   ec_check(D, "{\"$objectToArray\": \"$o\"}",
            "[{\"k\": \"p\", \"v\": 1}, {\"k\": \"q\", \"v\": [2]}]");
   ec_check(D, "{\"$objectToArray\": {\"$literal\": {}}}", "[]");
   ec_check(D, "{\"$objectToArray\": \"$nope\"}", "null");
   ec_check(D, "{\"$objectToArray\": \"$a\"}", "error 40390");

   ec_check(D, "{\"$arrayToObject\": [[[\"item\", \"abc123\"], [\"qty\", 25]]]}",
            "{\"item\": \"abc123\", \"qty\": 25}");
   ec_check(D,
            "{\"$arrayToObject\": {\"$literal\": [{\"k\": \"item\", \"v\": \"abc123\"}, "
            "{\"k\": \"qty\", \"v\": 25}]}}",
            "{\"item\": \"abc123\", \"qty\": 25}");
   ec_check(D, "{\"$arrayToObject\": [[[\"a\", 1], [\"b\", 2], [\"a\", 3]]]}",
            "{\"a\": 3, \"b\": 2}");
   ec_check(D, "{\"$arrayToObject\": {\"$objectToArray\": \"$o\"}}", "{\"p\": 1, \"q\": [2]}");
   ec_check(D, "{\"$arrayToObject\": [[]]}", "{}");
   ec_check(D, "{\"$arrayToObject\": \"$nope\"}", "null");
   ec_check(D, "{\"$arrayToObject\": \"$s\"}", "error 40386");
   ec_check(D, "{\"$arrayToObject\": [[1]]}", "error 40398");
   ec_check(D, "{\"$arrayToObject\": [[[\"a\", 1], {\"k\": \"b\", \"v\": 2}]]}", "error 40396");
   ec_check(D, "{\"$arrayToObject\": [[[\"a\", 1, 2]]]}", "error 40397");
   ec_check(D, "{\"$arrayToObject\": [[[1, 1]]]}", "error 40395");
   ec_check(D, "{\"$arrayToObject\": {\"$literal\": [{\"k\": \"a\", \"v\": 1}, [\"b\", 2]]}}",
            "error 40391");
   ec_check(D, "{\"$arrayToObject\": {\"$literal\": [{\"k\": \"a\"}]}}", "error 40392");
   ec_check(D, "{\"$arrayToObject\": {\"$literal\": [{\"k\": \"a\", \"x\": 1}]}}", "error 40393");
   ec_check(D, "{\"$arrayToObject\": {\"$literal\": [{\"k\": 1, \"v\": 1}]}}", "error 40394");
}

static void
test_sort_array(void **state)
{
   (void) state;
   ec_check(D, "{\"$sortArray\": {\"input\": [3, 1, 2], \"sortBy\": 1}}", "[1, 2, 3]");
   ec_check(D, "{\"$sortArray\": {\"input\": [3, 1, 2], \"sortBy\": -1}}", "[3, 2, 1]");
   ec_check(D, "{\"$sortArray\": {\"input\": [1, \"a\", null, {\"x\": 1}, 2.5], \"sortBy\": 1}}",
            "[null, 1, 2.5, \"a\", {\"x\": 1}]");
   ec_check(D, "{\"$sortArray\": {\"input\": \"$docs\", \"sortBy\": {\"k\": 1}}}",
            "[7, {\"k\": 1, \"v\": \"a\"}, {\"k\": 2, \"v\": \"b\"}, {\"k\": 3, \"v\": \"c\"}]");
   ec_check(D, "{\"$sortArray\": {\"input\": \"$docs\", \"sortBy\": {\"k\": -1}}}",
            "[{\"k\": 3, \"v\": \"c\"}, {\"k\": 2, \"v\": \"b\"}, {\"k\": 1, \"v\": \"a\"}, 7]");
   ec_check(D, "{\"$sortArray\": {\"input\": \"$nope\", \"sortBy\": 1}}", "null");
   ec_check(D, "{\"$sortArray\": {\"input\": \"$s\", \"sortBy\": 1}}", "error 2942504");
   ec_check(D, "{\"$sortArray\": [1]}", "error 2942500");
   ec_check(D, "{\"$sortArray\": {\"input\": [], \"sortBy\": 1, \"x\": 1}}", "error 2942501");
   ec_check(D, "{\"$sortArray\": {\"sortBy\": 1}}", "error 2942502");
   ec_check(D, "{\"$sortArray\": {\"input\": []}}", "error 2942503");
   ec_check(D, "{\"$sortArray\": {\"input\": [], \"sortBy\": 2}}", "error 2942505");
}

static void
test_n_operators(void **state)
{
   (void) state;
   ec_check(D, "{\"$firstN\": {\"n\": 2, \"input\": [1, 2, 3]}}", "[1, 2]");
   ec_check(D, "{\"$firstN\": {\"n\": 5, \"input\": [1, 2, 3]}}", "[1, 2, 3]");
   ec_check(D, "{\"$firstN\": {\"n\": 2, \"input\": [null, 2, 3]}}", "[null, 2]");
   ec_check(D, "{\"$lastN\": {\"n\": 2, \"input\": [1, 2, 3]}}", "[2, 3]");
   ec_check(D, "{\"$lastN\": {\"n\": " LONG("5") ", \"input\": [1, 2, 3]}}", "[1, 2, 3]");
   ec_check(D, "{\"$maxN\": {\"n\": 2, \"input\": [1, null, 3, 2]}}", "[3, 2]");
   ec_check(D, "{\"$minN\": {\"n\": 2, \"input\": [3, null, 1, 2]}}", "[1, 2]");
   ec_check(D, "{\"$minN\": {\"n\": 2, \"input\": [null]}}", "[]");
   ec_check(D, "{\"$firstN\": {\"n\": 2, \"input\": \"$nope\"}}", "null");
   ec_check(D, "{\"$firstN\": {\"n\": 2, \"input\": \"$s\"}}", "error 5788200");
   ec_check(D, "{\"$firstN\": {\"n\": \"x\", \"input\": [1]}}", "error 5787902");
   ec_check(D, "{\"$firstN\": {\"n\": 1.5, \"input\": [1]}}", "error 5787903");
   ec_check(D, "{\"$firstN\": {\"n\": 0, \"input\": [1]}}", "error 5787908");
   ec_check(D, "{\"$firstN\": [1]}", "error 5787900");
   ec_check(D, "{\"$firstN\": {\"n\": 1, \"input\": [1], \"x\": 1}}", "error 5787901");
   ec_check(D, "{\"$firstN\": {\"input\": [1]}}", "error 5787906");
   ec_check(D, "{\"$firstN\": {\"n\": 1}}", "error 5787907");
}

static void
test_all_any(void **state)
{
   (void) state;
   ec_check(D, "{\"$allElementsTrue\": [[true, 1, \"someString\"]]}", "true");
   ec_check(D, "{\"$allElementsTrue\": [[[false]]]}", "true");
   ec_check(D, "{\"$allElementsTrue\": [[]]}", "true");
   ec_check(D, "{\"$allElementsTrue\": [[null, false, 0]]}", "false");
   ec_check(D, "{\"$allElementsTrue\": \"$n\"}", "error 17040");
   ec_check(D, "{\"$anyElementTrue\": [[true, false]]}", "true");
   ec_check(D, "{\"$anyElementTrue\": [[[false]]]}", "true");
   ec_check(D, "{\"$anyElementTrue\": [[null, false, 0]]}", "false");
   ec_check(D, "{\"$anyElementTrue\": [[]]}", "false");
   ec_check(D, "{\"$anyElementTrue\": \"$s\"}", "error 17041");
}

static void
test_sets(void **state)
{
   (void) state;
   ec_check(D, "{\"$setUnion\": [[\"b\", \"a\"], [\"a\", \"c\", \"c\"]]}", "[\"a\", \"b\", \"c\"]");
   ec_check(D, "{\"$setUnion\": [[1, 2.0], [" LONG("2") ", 3]]}", "[1, 2.0, 3]");
   ec_check(D, "{\"$setUnion\": []}", "[]");
   ec_check(D, "{\"$setUnion\": [[1], null]}", "null");
   ec_check(D, "{\"$setUnion\": [[1], \"$s\"]}", "error 17043");

   ec_check(D, "{\"$setIntersection\": [[\"a\", \"b\", \"a\"], [\"b\", \"a\"]]}", "[\"a\", \"b\"]");
   ec_check(D, "{\"$setIntersection\": [[\"a\", \"b\"], []]}", "[]");
   ec_check(D, "{\"$setIntersection\": [[[\"a\", \"b\"]], [[\"a\", \"b\"]]]}", "[[\"a\", \"b\"]]");
   ec_check(D, "{\"$setIntersection\": [[1], \"$nope\"]}", "null");
   ec_check(D, "{\"$setIntersection\": [[1], 1]}", "error 17047");

   ec_check(D, "{\"$setDifference\": [[\"b\", \"a\", \"c\", \"b\"], [\"c\"]]}", "[\"b\", \"a\"]");
   ec_check(D, "{\"$setDifference\": [[1, 2], [2.0]]}", "[1]");
   ec_check(D, "{\"$setDifference\": [null, [1]]}", "null");
   ec_check(D, "{\"$setDifference\": [1, [1]]}", "error 17048");
   ec_check(D, "{\"$setDifference\": [[1], 1]}", "error 17049");
   ec_check(D, "{\"$setDifference\": [[1]]}", "error 16020");

   ec_check(D, "{\"$setEquals\": [[\"a\", \"b\", \"a\"], [\"b\", \"a\"]]}", "true");
   ec_check(D, "{\"$setEquals\": [[\"a\", \"b\"], [[\"a\", \"b\"]]]}", "false");
   ec_check(D, "{\"$setEquals\": [[1], [1.0], [" LONG("1") "]]}", "true");
   ec_check(D, "{\"$setEquals\": [[1], [1, 2]]}", "false");
   ec_check(D, "{\"$setEquals\": [[1]]}", "error 17045");
   ec_check(D, "{\"$setEquals\": [[1], null]}", "error 17044");

   ec_check(D, "{\"$setIsSubset\": [[\"a\", \"b\", \"a\"], [\"b\", \"a\"]]}", "true");
   ec_check(D, "{\"$setIsSubset\": [[\"a\", \"b\"], [[\"a\", \"b\"]]]}", "false");
   ec_check(D, "{\"$setIsSubset\": [[], [1]]}", "true");
   ec_check(D, "{\"$setIsSubset\": [null, [1]]}", "error 17046");
   ec_check(D, "{\"$setIsSubset\": [[1], null]}", "error 17042");
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reduce),       cmocka_unit_test(test_reverse_range_slice),
      cmocka_unit_test(test_zip_index_of), cmocka_unit_test(test_objects),
      cmocka_unit_test(test_sort_array),   cmocka_unit_test(test_n_operators),
      cmocka_unit_test(test_all_any),      cmocka_unit_test(test_sets),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
