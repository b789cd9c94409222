/*
 * test_expr_string.c: the string expressions of core/query/expr_string.c: the manual's
 * examples, null and missing, and each argument error's code.
 */
#include "expr_check.h"

#define D "{'s': 'Hello', 'n': null, 'i': 5, 'c': 'cafétéria'}"

static void
test_trim(void **state)
{
   (void) state;
   ec_check(D, "{'$trim': {'input': '  ggggoodbyeeeee  '}}", "'ggggoodbyeeeee'");
   ec_check(D, "{'$trim': {'input': 'ggggoodbyeeeee', 'chars': 'ge'}}", "'oodby'");
   ec_check(D, "{'$ltrim': {'input': '  ggggoodbyeeeee', 'chars': ' g'}}", "'oodbyeeeee'");
   ec_check(D, "{'$rtrim': {'input': '  ggggoodbyeeeee  ', 'chars': 'e '}}", "'  ggggoodby'");
   ec_check(D, "{'$ltrim': {'input': ' \\t\\n x '}}", "'x '");
   ec_check(D, "{'$rtrim': {'input': ' x \\u00a0\\u2000\\u0000'}}", "' x'");
   /* U+3000 is not in MongoDB's default set. */
   ec_check(D, "{'$trim': {'input': '\\u3000x'}}", "'\\u3000x'");
   /* chars are code points, not bytes. */
   ec_check(D, "{'$trim': {'input': 'éaé', 'chars': 'é'}}", "'a'");
   ec_check(D, "{'$trim': {'input': 'abc', 'chars': ''}}", "'abc'");
   ec_check(D, "{'$trim': {'input': '$n'}}", "null");
   ec_check(D, "{'$trim': {'input': '$nope'}}", "null");
   ec_check(D, "{'$trim': {'input': 'x', 'chars': null}}", "null");
   ec_check(D, "{'$trim': {'input': '$i'}}", "error 50699");
   ec_check(D, "{'$trim': {'input': 'x', 'chars': 1}}", "error 50700");
   ec_check(D, "{'$trim': 'x'}", "error 50696");
   ec_check(D, "{'$trim': {'input': 'x', 'foo': 1}}", "error 50694");
   ec_check(D, "{'$trim': {'chars': 'x'}}", "error 50695");
}

static void
test_index_of(void **state)
{
   (void) state;
   ec_check(D, "{'$indexOfBytes': ['cafeteria', 'e']}", "3");
   ec_check(D, "{'$indexOfBytes': ['$c', 'é']}", "3");
   ec_check(D, "{'$indexOfCP': ['$c', 'é']}", "3");
   ec_check(D, "{'$indexOfBytes': ['$c', 't']}", "5");
   ec_check(D, "{'$indexOfCP': ['$c', 't']}", "4");
   ec_check(D, "{'$indexOfCP': ['$c', 'é', 4]}", "5");
   ec_check(D, "{'$indexOfBytes': ['foo.bar.fi', '.', 5]}", "7");
   ec_check(D, "{'$indexOfBytes': ['vanilla', 'll', 0, 2]}", "-1");
   ec_check(D, "{'$indexOfBytes': ['vanilla', 'll', {'$numberLong': '-1'}]}", "error 40097");
   ec_check(D, "{'$indexOfBytes': ['vanilla', 'll', -1]}", "error 40097");
   ec_check(D, "{'$indexOfBytes': ['vanilla', 'll', 12]}", "-1");
   ec_check(D, "{'$indexOfBytes': ['vanilla', 'll', 5, 2]}", "-1");
   ec_check(D, "{'$indexOfBytes': ['vanilla', 'nilla', 3]}", "-1");
   ec_check(D, "{'$indexOfBytes': ['vanilla', 'nilla', 2.0]}", "2");
   ec_check(D, "{'$indexOfBytes': ['abc', '']}", "0");
   ec_check(D, "{'$indexOfBytes': ['abc', '', 3]}", "3");
   ec_check(D, "{'$indexOfBytes': ['abc', '', 4]}", "-1");
   ec_check(D, "{'$indexOfCP': ['abc', 'c', 1, 100]}", "2");
   ec_check(D, "{'$indexOfBytes': [null, 'a']}", "null");
   ec_check(D, "{'$indexOfCP': ['$nope', 'a']}", "null");
   ec_check(D, "{'$indexOfBytes': [1, 'a']}", "error 40091");
   ec_check(D, "{'$indexOfBytes': ['a', 1]}", "error 40092");
   ec_check(D, "{'$indexOfCP': [1, 'a']}", "error 40093");
   ec_check(D, "{'$indexOfCP': ['a', null]}", "error 40094");
   ec_check(D, "{'$indexOfBytes': ['a', 'a', 1.5]}", "error 40096");
   ec_check(D, "{'$indexOfCP': ['a', 'a', 0, 'x']}", "error 40096");
   ec_check(D, "{'$indexOfBytes': ['a']}", "error 16020");
}

static void
test_str_len_bytes(void **state)
{
   (void) state;
   ec_check(D, "{'$strLenBytes': 'abcde'}", "5");
   ec_check(D, "{'$strLenBytes': '$c'}", "11");
   ec_check(D, "{'$strLenBytes': '\\ud83d\\ude00'}", "4");
   ec_check(D, "{'$strLenBytes': ''}", "0");
   ec_check(D, "{'$strLenCP': '$c'}", "9");
   ec_check(D, "{'$strLenBytes': null}", "error 34473");
   ec_check(D, "{'$strLenBytes': '$nope'}", "error 34473");
   ec_check(D, "{'$strLenBytes': 1}", "error 34473");
}

static void
test_strcasecmp(void **state)
{
   (void) state;
   ec_check(D, "{'$strcasecmp': ['ABC', 'abc']}", "0");
   ec_check(D, "{'$strcasecmp': ['a', 'B']}", "-1");
   ec_check(D, "{'$strcasecmp': ['b', 'A']}", "1");
   ec_check(D, "{'$strcasecmp': ['abc', 'ab']}", "1");
   ec_check(D, "{'$strcasecmp': [null, '']}", "0");
   ec_check(D, "{'$strcasecmp': ['$nope', 'a']}", "-1");
   ec_check(D, "{'$strcasecmp': [5, '5']}", "0");
   ec_check(D, "{'$strcasecmp': [true, 'a']}", "error 16007");
   ec_check(D, "{'$strcasecmp': ['a']}", "error 16020");
}

static void
test_replace(void **state)
{
   (void) state;
   ec_check(D, "{'$replaceOne': {'input': 'blue paint', 'find': 'blue', 'replacement': 'red'}}",
            "'red paint'");
   ec_check(D,
            "{'$replaceOne': {'input': 'blue paint with blue paintbrush', 'find': 'blue', "
            "'replacement': 'red'}}",
            "'red paint with blue paintbrush'");
   ec_check(D,
            "{'$replaceAll': {'input': 'blue paint with blue paintbrush', 'find': 'blue', "
            "'replacement': 'red'}}",
            "'red paint with red paintbrush'");
   ec_check(D, "{'$replaceAll': {'input': 'aaa', 'find': 'aa', 'replacement': 'b'}}", "'ba'");
   ec_check(D, "{'$replaceAll': {'input': 'abc', 'find': 'x', 'replacement': 'y'}}", "'abc'");
   ec_check(D, "{'$replaceAll': {'input': 'aé', 'find': '', 'replacement': '-'}}", "'-a-é-'");
   ec_check(D, "{'$replaceOne': {'input': 'abc', 'find': '', 'replacement': '-'}}", "'-abc'");
   ec_check(D, "{'$replaceOne': {'input': '$n', 'find': 'a', 'replacement': 'b'}}", "null");
   ec_check(D, "{'$replaceOne': {'input': 'a', 'find': '$nope', 'replacement': 'b'}}", "null");
   ec_check(D, "{'$replaceAll': {'input': 'a', 'find': 'a', 'replacement': null}}", "null");
   ec_check(D, "{'$replaceOne': {'input': 1, 'find': 'a', 'replacement': 'b'}}", "error 51746");
   ec_check(D, "{'$replaceOne': {'input': 'a', 'find': 1, 'replacement': 'b'}}", "error 51745");
   ec_check(D, "{'$replaceAll': {'input': 'a', 'find': 'a', 'replacement': 1}}", "error 51744");
   ec_check(D, "{'$replaceOne': 'x'}", "error 51751");
   ec_check(D, "{'$replaceOne': {'input': 'a', 'find': 'a', 'replacement': 'b', 'x': 1}}",
            "error 51750");
   ec_check(D, "{'$replaceOne': {'find': 'a', 'replacement': 'b'}}", "error 51749");
   ec_check(D, "{'$replaceOne': {'input': 'a', 'replacement': 'b'}}", "error 51748");
   ec_check(D, "{'$replaceAll': {'input': 'a', 'find': 'b'}}", "error 51747");
}

static void
test_regex_match(void **state)
{
   (void) state;
   ec_check(D, "{'$regexMatch': {'input': '$s', 'regex': '^h'}}", "false");
   ec_check(D, "{'$regexMatch': {'input': '$s', 'regex': '^h', 'options': 'i'}}", "true");
   ec_check(D,
            "{'$regexMatch': {'input': '$s', 'regex': {'$regularExpression': {'pattern': '^h', "
            "'options': 'i'}}}}",
            "true");
   ec_check(D, "{'$regexMatch': {'input': 'a\\nb', 'regex': '^b', 'options': 'm'}}", "true");
   ec_check(D, "{'$regexMatch': {'input': 'a\\nb', 'regex': 'a.b', 'options': 's'}}", "true");
   ec_check(D, "{'$regexMatch': {'input': 'ab', 'regex': 'a b # c', 'options': 'x'}}", "true");
   ec_check(D, "{'$regexMatch': {'input': '$n', 'regex': 'a'}}", "false");
   ec_check(D, "{'$regexMatch': {'input': 'a', 'regex': null}}", "false");
   ec_check(D, "{'$regexMatch': {'input': 'a', 'regex': '$s'}}", "false");
   ec_check(D, "{'$regexMatch': {'input': 1, 'regex': 'a'}}", "error 51104");
   ec_check(D, "{'$regexMatch': {'input': 'a', 'regex': 1}}", "error 51105");
   ec_check(D, "{'$regexMatch': {'input': 'a', 'regex': 'a', 'options': 1}}", "error 51106");
   ec_check(D,
            "{'$regexMatch': {'input': 'a', 'regex': {'$regularExpression': {'pattern': 'a', "
            "'options': 'i'}}, 'options': 'm'}}",
            "error 51107");
   ec_check(D, "{'$regexMatch': {'input': 'a', 'regex': 'a', 'options': 'g'}}", "error 51108");
   ec_check(D, "{'$regexMatch': {'input': 'a', 'regex': '('}}", "error 51111");
   ec_check(D, "{'$regexMatch': 'a'}", "error 51103");
   ec_check(D, "{'$regexMatch': {'input': 'a', 'regex': 'a', 'x': 1}}", "error 31024");
   ec_check(D, "{'$regexMatch': {'regex': 'a'}}", "error 31022");
   ec_check(D, "{'$regexMatch': {'input': 'a'}}", "error 31023");
}

static void
test_regex_find(void **state)
{
   (void) state;
   ec_check(D, "{'$regexFind': {'input': '$c', 'regex': 't'}}",
            "{'match': 't', 'idx': 4, 'captures': []}");
   ec_check(D, "{'$regexFind': {'input': 'cat', 'regex': '(c)(x)?a'}}",
            "{'match': 'ca', 'idx': 0, 'captures': ['c', null]}");
   ec_check(D, "{'$regexFind': {'input': 'cat', 'regex': 'z'}}", "null");
   ec_check(D, "{'$regexFind': {'input': null, 'regex': 'z'}}", "null");
   ec_check(
      D, "{'$regexFindAll': {'input': 'a1b22', 'regex': '[0-9]+'}}",
      "[{'match': '1', 'idx': 1, 'captures': []}, {'match': '22', 'idx': 3, 'captures': []}]");
   ec_check(D, "{'$regexFindAll': {'input': 'éxéx', 'regex': '(x)'}}",
            "[{'match': 'x', 'idx': 1, 'captures': ['x']}, {'match': 'x', 'idx': 3, "
            "'captures': ['x']}]");
   ec_check(D, "{'$regexFindAll': {'input': 'ab', 'regex': 'z'}}", "[]");
   ec_check(D, "{'$regexFindAll': {'input': '$nope', 'regex': 'z'}}", "[]");
   /* A regex computed per document is compiled at evaluation. */
   ec_check("{'r': 'L+', 'o': 'i'}",
            "{'$regexFindAll': {'input': 'hello', 'regex': '$r', 'options': '$o'}}",
            "[{'match': 'll', 'idx': 2, 'captures': []}]");
   ec_check("{'r': '('}", "{'$regexFind': {'input': 'x', 'regex': '$r'}}", "error 51111");
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trim),          cmocka_unit_test(test_index_of),
      cmocka_unit_test(test_str_len_bytes), cmocka_unit_test(test_strcasecmp),
      cmocka_unit_test(test_replace),       cmocka_unit_test(test_regex_match),
      cmocka_unit_test(test_regex_find),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
