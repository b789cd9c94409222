/*
 * test_registry.c: the set of loaded backends, one per name (core/backend/registry.c), with
 * the fixture plugins of tests/plugins/.
 */
#include <stdbool.h>

#include "plugin_env.h"

#include "backend/registry.h"

static void
test_load_and_find(void **state)
{
   fe_registry_t registry = {0};
   fe_error_t error = {0};
   fe_plugin_t *good;
   fe_plugin_t *other;
   (void) state;

   good = registry_load(&registry, "good", plugin_dir(false), &error);
   assert_non_null(good);
   other = registry_load(&registry, plugin_path("other"), NULL, &error);
   assert_non_null(other);
   assert_int_equal(registry.count, 2);
   assert_int_equal(error.code, 0);

   /* Found by descriptor name, not by file name. */
   assert_ptr_equal(registry_find(&registry, "fixture"), good);
   assert_ptr_equal(registry_find(&registry, "other"), other);
   assert_null(registry_find(&registry, "good"));
   assert_null(registry_find(&registry, ""));
   assert_null(registry_find(&registry, "fixtur"));

   registry_clear(&registry);
   assert_int_equal(registry.count, 0);
   assert_null(registry_find(&registry, "fixture"));

   /* Usable again after clearing. */
   assert_non_null(registry_load(&registry, "good", plugin_dir(false), &error));
   assert_int_equal(registry.count, 1);
   registry_clear(&registry);
   /* Clearing an empty registry is harmless. */
   registry_clear(&registry);
}

static void
test_duplicate_name(void **state)
{
   fe_registry_t registry = {0};
   fe_error_t error = {0};
   fe_plugin_t *good;
   char good_path[4096];
   char dup_path[4096];
   (void) state;

   snprintf(good_path, sizeof good_path, "%s", plugin_path("good"));
   snprintf(dup_path, sizeof dup_path, "%s", plugin_path("dup_name"));
   good = registry_load(&registry, good_path, NULL, &error);
   assert_non_null(good);

   /* Another file whose descriptor has the same name is refused, naming both files. */
   assert_null(registry_load(&registry, dup_path, NULL, &error));
   assert_int_equal(error.code, FE_BadValue);
   assert_contains(error.message, dup_path);
   assert_contains(error.message, good_path);
   assert_contains(error.message, "'fixture'");
   assert_int_equal(registry.count, 1);
   assert_ptr_equal(registry_find(&registry, "fixture"), good);

   /* So is the same file loaded again, by name this time. */
   error_clear(&error);
   assert_null(registry_load(&registry, "good", plugin_dir(false), &error));
   assert_int_equal(error.code, FE_BadValue);
   assert_contains(error.message, "duplicate");
   assert_int_equal(registry.count, 1);

   /* The first registration is untouched by the refusals: its plugin still works. */
   assert_ptr_equal(registry_find(&registry, "fixture"), good);
   assert_string_equal(good->path, good_path);
   assert_non_null(good->methods.open);

   registry_clear(&registry);
}

static void
test_failed_load_leaves_registry(void **state)
{
   fe_registry_t registry = {0};
   fe_error_t error = {0};
   (void) state;

   assert_non_null(registry_load(&registry, "good", plugin_dir(false), &error));
   assert_null(registry_load(&registry, plugin_path("major_mismatch"), NULL, &error));
   assert_contains(error.message, "major_mismatch.so");
   assert_null(registry_load(&registry, "nonexistent", plugin_dir(false), &error));
   assert_contains(error.message, "nonexistent");
   assert_int_equal(registry.count, 1);
   assert_non_null(registry_find(&registry, "fixture"));
   registry_clear(&registry);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_and_find),
      cmocka_unit_test(test_duplicate_name),
      cmocka_unit_test(test_failed_load_leaves_registry),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
