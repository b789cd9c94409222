/*
 * test_expr_math.c: the arithmetic and type expressions of core/query/expr_math.c ($round,
 * $trunc, $sqrt, $exp, $ln, $log, $log10, $pow, $isNumber, $bsonSize, $binarySize) with the
 * manual's examples, null and missing, wrong types, domain errors, overflow, NaN, Infinity
 * and -0.0.
 */
#include "expr_check.h"

#define D "{\"a\": 5, \"n\": null, \"s\": \"x\", \"neg\": -4}"
#define DEC(s) "{\"$numberDecimal\": \"" s "\"}"
#define LONG(s) "{\"$numberLong\": \"" s "\"}"
#define DBL(s) "{\"$numberDouble\": \"" s "\"}"

static void
test_round(void **state)
{
   (void) state;
   /* The manual's examples: half to even. */
   ec_check(D, "{\"$round\": [10.5, 0]}", "10.0");
   ec_check(D, "{\"$round\": [11.5, 0]}", "12.0");
   ec_check(D, "{\"$round\": [12.5, 0]}", "12.0");
   ec_check(D, "{\"$round\": [-12.5, 0]}", "-12.0");
   ec_check(D, "{\"$round\": [19.25, 1]}", "19.2");
   ec_check(D, "{\"$round\": [28.73, -1]}", "30.0");
   ec_check(D, "{\"$round\": [34.32, -2]}", "0.0");
   ec_check(D, "{\"$round\": [-45.39, -1]}", "-50.0");
   ec_check(D, "{\"$round\": [1.298, 1]}", "1.3");
   ec_check(D, "{\"$round\": [1.298, 100]}", "1.298");
   ec_check(D, "{\"$round\": 0.9}", "1.0");
   ec_check(D, "{\"$round\": -1.2}", "-1.0");
   ec_check(D, "{\"$round\": " LONG("4") "}", LONG("4"));
   ec_check(D, "{\"$round\": [" DEC("1.298") ", 1]}", DEC("1.3"));
   ec_check(D, "{\"$round\": [" DEC("23.298") ", -1]}", DEC("2E+1"));
   ec_check(D, "{\"$round\": " DEC("-1.6") "}", DEC("-2"));
   ec_check(D, "{\"$round\": [" DEC("1.298912343250054252245154325") ", " LONG("20") "]}",
            DEC("1.29891234325005425225"));
   ec_check(D, "{\"$round\": [" DEC("1.298") ", " DEC("100") "]}",
            DEC("1.298000000000000000000000000000000"));
   ec_check(D, "{\"$round\": [" DEC("2.5") ", 0]}", DEC("2"));
   /* Integers stay integers; int32 widens to int64. */
   ec_check(D, "{\"$round\": [1234, -2]}", "1200");
   ec_check(D, "{\"$round\": [1250, -2]}", "1200");
   ec_check(D, "{\"$round\": [1350, -2]}", "1400");
   ec_check(D, "{\"$round\": [5, 2]}", "5");
   ec_check(D, "{\"$round\": [2147483647, -1]}", LONG("2147483650"));
   ec_check(D, "{\"$round\": [" LONG("9223372036854775806") ", -1]}", "error 51080");
   /* NaN, infinities, -0.0. */
   ec_check(D, "{\"$round\": " DBL("NaN") "}", DBL("NaN"));
   ec_check(D, "{\"$round\": [" DBL("-Infinity") ", 0]}", DBL("-Infinity"));
   ec_check(D, "{\"$round\": [" DEC("Infinity") ", 0]}", DEC("Infinity"));
   ec_check(D, "{\"$round\": [" DEC("NaN") ", 0]}", DEC("NaN"));
   ec_check(D, "{\"$round\": -0.4}", DBL("-0.0"));
   /* null, missing and errors. */
   ec_check(D, "{\"$round\": null}", "null");
   ec_check(D, "{\"$round\": \"$nope\"}", "null");
   ec_check(D, "{\"$round\": [\"$a\", null]}", "null");
   ec_check(D, "{\"$round\": \"string\"}", "error 51081");
   ec_check(D, "{\"$round\": [1, 2, 3]}", "error 28667");
   ec_check(D, "{\"$round\": [1, 101]}", "error 51083");
   ec_check(D, "{\"$round\": [1, " LONG("-21") "]}", "error 51083");
   ec_check(D, "{\"$round\": [1, " DEC("1.4") "]}", "error 51082");
   ec_check(D, "{\"$round\": [1, \"x\"]}", "error 51082");
}

static void
test_trunc(void **state)
{
   (void) state;
   ec_check(D, "{\"$trunc\": [1.298, 0]}", "1.0");
   ec_check(D, "{\"$trunc\": [1.298, 1]}", "1.2");
   ec_check(D, "{\"$trunc\": [23.298, -1]}", "20.0");
   ec_check(D, "{\"$trunc\": [19.25, 1]}", "19.2");
   ec_check(D, "{\"$trunc\": [-45.39, -1]}", "-40.0");
   ec_check(D, "{\"$trunc\": 0.9}", "0.0");
   ec_check(D, "{\"$trunc\": -2.0}", "-2.0");
   ec_check(D, "{\"$trunc\": " DEC("-1.6") "}", DEC("-1"));
   ec_check(D, "{\"$trunc\": [" DEC("23.298") ", -1]}", DEC("2E+1"));
   ec_check(D, "{\"$trunc\": [" DEC("1.298912343250054252245154325") ", " LONG("20") "]}",
            DEC("1.29891234325005425224"));
   ec_check(D, "{\"$trunc\": [1299, -2]}", "1200");
   ec_check(D, "{\"$trunc\": " LONG("4") "}", LONG("4"));
   ec_check(D, "{\"$trunc\": " DBL("Infinity") "}", DBL("Infinity"));
   ec_check(D, "{\"$trunc\": null}", "null");
   ec_check(D, "{\"$trunc\": \"string\"}", "error 51081");
   ec_check(D, "{\"$trunc\": [1, 10.5]}", "error 51082");
   ec_check(D, "{\"$trunc\": [1, -21]}", "error 51083");
   ec_check(D, "{\"$trunc\": [1, 2, 3]}", "error 28667");
}

static void
test_sqrt_exp_ln(void **state)
{
   (void) state;
   ec_check(D, "{\"$sqrt\": 25}", "5.0");
   ec_check(D, "{\"$sqrt\": \"$a\"}", DBL("2.23606797749979"));
   ec_check(D, "{\"$sqrt\": " DEC("4") "}", DEC("2"));
   ec_check(D, "{\"$sqrt\": 0}", "0.0");
   ec_check(D, "{\"$sqrt\": " DBL("-0.0") "}", DBL("-0.0"));
   ec_check(D, "{\"$sqrt\": " DBL("NaN") "}", DBL("NaN"));
   ec_check(D, "{\"$sqrt\": " DBL("Infinity") "}", DBL("Infinity"));
   ec_check(D, "{\"$sqrt\": \"$neg\"}", "error 28714");
   ec_check(D, "{\"$sqrt\": " DEC("-1") "}", "error 28714");
   ec_check(D, "{\"$sqrt\": null}", "null");
   ec_check(D, "{\"$sqrt\": \"$nope\"}", "null");
   ec_check(D, "{\"$sqrt\": \"$s\"}", "error 28765");
   ec_check(D, "{\"$sqrt\": [1, 2]}", "error 16020");

   ec_check(D, "{\"$exp\": 0}", "1.0");
   ec_check(D, "{\"$exp\": 1}", DBL("2.718281828459045"));
   ec_check(D, "{\"$exp\": " DEC("0") "}", DEC("1"));
   ec_check(D, "{\"$exp\": " DBL("-Infinity") "}", "0.0");
   ec_check(D, "{\"$exp\": \"x\"}", "error 28765");
   ec_check(D, "{\"$exp\": null}", "null");

   ec_check(D, "{\"$ln\": 1}", "0.0");
   ec_check(D, "{\"$ln\": " DBL("2.718281828459045") "}", "1.0");
   ec_check(D, "{\"$ln\": " LONG("1") "}", "0.0");
   ec_check(D, "{\"$ln\": 0}", "error 28766");
   ec_check(D, "{\"$ln\": -1}", "error 28766");
   ec_check(D, "{\"$ln\": " DBL("NaN") "}", DBL("NaN"));
   ec_check(D, "{\"$ln\": null}", "null");
   ec_check(D, "{\"$ln\": \"x\"}", "error 28765");

   ec_check(D, "{\"$log10\": 100}", "2.0");
   ec_check(D, "{\"$log10\": " DEC("1000") "}", DEC("3"));
   ec_check(D, "{\"$log10\": 0}", "error 28761");
   ec_check(D, "{\"$log10\": null}", "null");
}

static void
test_log_pow(void **state)
{
   (void) state;
   ec_check(D, "{\"$log\": [100, 10]}", "2.0");
   ec_check(D, "{\"$log\": [8, 2]}", "3.0");
   ec_check(D, "{\"$log\": [" DEC("100") ", 10]}", DEC("2"));
   ec_check(D, "{\"$log\": [null, 10]}", "null");
   ec_check(D, "{\"$log\": [100, \"$nope\"]}", "null");
   ec_check(D, "{\"$log\": [\"x\", 10]}", "error 28756");
   ec_check(D, "{\"$log\": [10, \"x\"]}", "error 28757");
   ec_check(D, "{\"$log\": [0, 10]}", "error 28758");
   ec_check(D, "{\"$log\": [10, 1]}", "error 28759");
   ec_check(D, "{\"$log\": [10, -2]}", "error 28759");
   ec_check(D, "{\"$log\": [10]}", "error 16020");

   ec_check(D, "{\"$pow\": [5, 0]}", "1");
   ec_check(D, "{\"$pow\": [5, 2]}", "25");
   ec_check(D, "{\"$pow\": [5, -2]}", "0.04");
   ec_check(D, "{\"$pow\": [-5, 0.5]}", DBL("NaN"));
   ec_check(D, "{\"$pow\": [2, 31]}", LONG("2147483648"));
   ec_check(D, "{\"$pow\": [2, 62]}", LONG("4611686018427387904"));
   ec_check(D, "{\"$pow\": [2, 63]}", DBL("9.223372036854775808E+18"));
   ec_check(D, "{\"$pow\": [" LONG("2") ", 3]}", LONG("8"));
   ec_check(D, "{\"$pow\": [-1, 3]}", "-1");
   ec_check(D, "{\"$pow\": [-1, -3]}", "-1");
   ec_check(D, "{\"$pow\": [0, 0]}", "1");
   ec_check(D, "{\"$pow\": [2.0, 3]}", "8.0");
   ec_check(D, "{\"$pow\": [" DEC("2") ", 10]}", DEC("1024"));
   ec_check(D, "{\"$pow\": [0, -1]}", "error 28764");
   ec_check(D, "{\"$pow\": [0.0, -1.5]}", "error 28764");
   ec_check(D, "{\"$pow\": [null, 2]}", "null");
   ec_check(D, "{\"$pow\": [\"x\", 2]}", "error 28762");
   ec_check(D, "{\"$pow\": [2, \"x\"]}", "error 28763");
}

static void
test_types(void **state)
{
   (void) state;
   ec_check(D, "{\"$isNumber\": \"$a\"}", "true");
   ec_check(D, "{\"$isNumber\": " DEC("1") "}", "true");
   ec_check(D, "{\"$isNumber\": " LONG("1") "}", "true");
   ec_check(D, "{\"$isNumber\": \"$s\"}", "false");
   ec_check(D, "{\"$isNumber\": \"$n\"}", "false");
   ec_check(D, "{\"$isNumber\": \"$nope\"}", "false");

   ec_check(D, "{\"$bsonSize\": {\"$literal\": {}}}", "5");
   ec_check(D, "{\"$bsonSize\": {\"$literal\": {\"a\": 1}}}", "12");
   ec_check(D, "{\"$bsonSize\": \"$$ROOT\"}", "33");
   ec_check(D, "{\"$bsonSize\": null}", "null");
   ec_check(D, "{\"$bsonSize\": \"$nope\"}", "null");
   ec_check(D, "{\"$bsonSize\": \"$a\"}", "error 31393");

   ec_check(D, "{\"$binarySize\": \"abc\"}", "3");
   ec_check(D, "{\"$binarySize\": \"h\\u00e9\"}", "3");
   ec_check(D, "{\"$binarySize\": {\"$binary\": {\"base64\": \"AQID\", \"subType\": \"00\"}}}",
            "3");
   ec_check(D, "{\"$binarySize\": null}", "null");
   ec_check(D, "{\"$binarySize\": \"$a\"}", "error 51276");
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round),       cmocka_unit_test(test_trunc),
      cmocka_unit_test(test_sqrt_exp_ln), cmocka_unit_test(test_log_pow),
      cmocka_unit_test(test_types),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
