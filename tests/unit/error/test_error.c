/*
 * test_error.c: error codes' names and the backend status mapping (core/error/error.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error/error.h"

static void
test_named_codes(void **state)
{
   (void) state;
   assert_string_equal(error_code_name(2), "BadValue");
   assert_string_equal(error_code_name(11000), "DuplicateKey");
   assert_string_equal(error_code_name(59), "CommandNotFound");
   assert_string_equal(error_code_name(232), "MaxSubPipelineDepthExceeded");
   assert_string_equal(error_code_name(241), "ConversionFailure");
}

/* mongod's codeName for an assertion code that error_codes.yml does not name. */
static void
test_unnamed_codes_are_locations(void **state)
{
   (void) state;
   assert_string_equal(error_code_name(40415), "Location40415");
   assert_string_equal(error_code_name(4568), "Location4568");
   assert_string_equal(error_code_name(5787900), "Location5787900");
}

static void
test_codes_are_sorted(void **state)
{
   (void) state;
   /* The table is searched with bsearch: every listed code must be found by its number. */
#define FE_ERROR_CODE(code, name) assert_string_equal(error_code_name(code), #name);
#include "error/error_codes.def"
#undef FE_ERROR_CODE
}

static void
test_error_set(void **state)
{
   fe_error_t error = {0};

   (void) state;
   assert_false(error_set(&error, 2, "bad '%s'", "x"));
   assert_int_equal(error.code, 2);
   assert_string_equal(error.message, "bad 'x'");
   assert_false(error_set(NULL, 2, "ignored"));
   error_clear(&error);
   assert_int_equal(error.code, 0);
   assert_string_equal(error.message, "");
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_named_codes),
      cmocka_unit_test(test_unnamed_codes_are_locations),
      cmocka_unit_test(test_codes_are_sorted),
      cmocka_unit_test(test_error_set),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
