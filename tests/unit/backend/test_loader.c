/*
 * test_loader.c: loading backend plugins and checking their descriptors
 * (core/backend/loader.c), against the fixture plugins of tests/plugins/, each of which
 * breaks one rule of the ABI.
 */
#include <stdbool.h>

#include "plugin_env.h"

#include "backend/loader.h"

/* ---- helpers ---- */

/* Loads a fixture by path, expecting failure; the message must name the path and contain
 * each of the NULL-terminated parts. */
static void
expect_refused(const char *fixture, ...)
{
   char path[4096];
   fe_error_t error = {0};
   fe_plugin_t *plugin;
   va_list parts;
   const char *part;

   snprintf(path, sizeof path, "%s", plugin_path(fixture));
   plugin = loader_load(path, NULL, &error);
   if (plugin) {
      loader_unload(plugin);
      fail_msg("%s loaded", fixture);
   }
   assert_int_equal(error.code, FE_BadValue);
   assert_contains(error.message, path);
   va_start(parts, fixture);
   while ((part = va_arg(parts, const char *)) != NULL) {
      assert_contains(error.message, part);
   }
   va_end(parts);
}

static void
assert_required_methods(const ferret_backend_methods_t *m)
{
   assert_non_null(m->open);
   assert_non_null(m->close);
   assert_non_null(m->session_open);
   assert_non_null(m->session_close);
   assert_non_null(m->list_databases);
   assert_non_null(m->drop_database);
   assert_non_null(m->list_collections);
   assert_non_null(m->create_collection);
   assert_non_null(m->drop_collection);
   assert_non_null(m->rename_collection);
   assert_non_null(m->insert);
   assert_non_null(m->replace);
   assert_non_null(m->delete_one);
   assert_non_null(m->query);
   assert_non_null(m->cursor_next);
   assert_non_null(m->cursor_close);
   assert_non_null(m->stats);
   assert_non_null(m->collection_options);
}

/* ---- loading ---- */

static void
test_host(void **state)
{
   const ferret_host_t *host = loader_host();
   (void) state;
   assert_non_null(host);
   assert_int_equal(host->struct_size, sizeof(ferret_host_t));
   assert_int_equal(host->abi_major, FERRET_ABI_MAJOR);
   assert_int_equal(host->abi_minor, FERRET_ABI_MINOR);
   assert_non_null(host->server_version);
   assert_true(host->server_version[0] != '\0');
   assert_non_null(host->log);
   assert_ptr_equal(loader_host(), host);
}

static void
test_load_by_path(void **state)
{
   fe_error_t error = {0};
   fe_plugin_t *plugin;
   ferret_backend_t *backend = NULL;
   ferret_session_t *session = NULL;
   ferret_error_t berr;
   ferret_config_t config = {.struct_size = sizeof config};
   char path[4096];
   (void) state;

   memset(&berr, 0, sizeof berr);
   snprintf(path, sizeof path, "%s", plugin_path("good"));
   plugin = loader_load(path, NULL, &error);
   if (!plugin) {
      fail_msg("%s", error.message);
   }
   assert_int_equal(error.code, 0);
   assert_string_equal(plugin->path, path);
   assert_non_null(plugin->handle);
   assert_string_equal(plugin->descriptor->name, "fixture");
   assert_string_equal(plugin->descriptor->version, "0.0.1");
   assert_int_equal(plugin->descriptor->capabilities, FERRET_CAP_TRANSACTIONS);
   /* The core's copy of the table is at the core's size. */
   assert_int_equal(plugin->methods.struct_size, sizeof(ferret_backend_methods_t));
   assert_required_methods(&plugin->methods);
   assert_non_null(plugin->methods.begin);
   assert_non_null(plugin->methods.commit);
   assert_non_null(plugin->methods.abort);
   assert_null(plugin->methods.explain);

   /* The methods are the plugin's own and callable; open() checks that it was handed the
    * same host as the entry point. */
   assert_int_equal(plugin->methods.open(loader_host(), &config, &backend, &berr), FERRET_OK);
   assert_non_null(backend);
   assert_int_equal(plugin->methods.session_open(backend, &session, &berr), FERRET_OK);
   plugin->methods.session_close(session);
   plugin->methods.close(backend);

   loader_unload(plugin);
   loader_unload(NULL);
}

static void
test_load_by_name(void **state)
{
   fe_error_t error = {0};
   fe_plugin_t *plugin;
   char expected[4096];
   (void) state;

   plugin = loader_load("good", plugin_dir(false), &error);
   if (!plugin) {
      fail_msg("%s", error.message);
   }
   snprintf(expected, sizeof expected, "%s/good.so", plugin_dir(false));
   assert_string_equal(plugin->path, expected);
   assert_string_equal(plugin->descriptor->name, "fixture");
   loader_unload(plugin);
}

static void
test_plugin_dir_search(void **state)
{
   const char *main_dir = plugin_dir(false);
   const char *alt_dir = plugin_dir(true);
   char dirs[3 * 4096];
   char expected[4096];
   fe_error_t error = {0};
   fe_plugin_t *plugin;
   (void) state;

   /* Found in the last of several directories, missing ones skipped. */
   snprintf(dirs, sizeof dirs, "/nonexistent/ferret:%s:%s", main_dir, alt_dir);
   plugin = loader_load("only_alt", dirs, &error);
   if (!plugin) {
      fail_msg("%s", error.message);
   }
   snprintf(expected, sizeof expected, "%s/only_alt.so", alt_dir);
   assert_string_equal(plugin->path, expected);
   assert_string_equal(plugin->descriptor->name, "only_alt");
   loader_unload(plugin);

   /* A name in two directories: the first in plugin_dir wins, either way round. */
   snprintf(dirs, sizeof dirs, "%s:%s", main_dir, alt_dir);
   plugin = loader_load("shadow", dirs, &error);
   assert_non_null(plugin);
   assert_string_equal(plugin->descriptor->name, "shadow_main");
   loader_unload(plugin);

   snprintf(dirs, sizeof dirs, "%s:%s", alt_dir, main_dir);
   plugin = loader_load("shadow", dirs, &error);
   assert_non_null(plugin);
   assert_string_equal(plugin->descriptor->name, "shadow_alt");
   loader_unload(plugin);

   /* Empty components (a leading, doubled or trailing colon) are ignored. */
   snprintf(dirs, sizeof dirs, ":%s::%s:", alt_dir, main_dir);
   plugin = loader_load("good", dirs, &error);
   assert_non_null(plugin);
   snprintf(expected, sizeof expected, "%s/good.so", main_dir);
   assert_string_equal(plugin->path, expected);
   loader_unload(plugin);

   /* Not in any directory: the message names the backend and the whole search path. */
   snprintf(dirs, sizeof dirs, "/nonexistent/ferret:%s", alt_dir);
   error_clear(&error);
   assert_null(loader_load("good", dirs, &error));
   assert_int_equal(error.code, FE_BadValue);
   assert_contains(error.message, "\"good\"");
   assert_contains(error.message, "not found");
   assert_contains(error.message, dirs);
}

static void
test_file_not_found(void **state)
{
   fe_error_t error = {0};
   char path[4096];
   (void) state;

   assert_null(loader_load("/nonexistent/ferret/sqlite.so", NULL, &error));
   assert_int_equal(error.code, FE_BadValue);
   assert_contains(error.message, "/nonexistent/ferret/sqlite.so");
   assert_contains(error.message, "not found");

   /* A path is taken as given: no ".so" is added and plugin_dir is not searched. */
   snprintf(path, sizeof path, "%s/good", plugin_dir(false));
   error_clear(&error);
   assert_null(loader_load(path, plugin_dir(false), &error));
   assert_contains(error.message, path);

   /* A name is not a path: "good.so" looks for "good.so.so". */
   error_clear(&error);
   assert_null(loader_load("good.so", plugin_dir(false), &error));
   assert_contains(error.message, "good.so");

   /* NULL error is allowed. */
   assert_null(loader_load("/nonexistent/x.so", NULL, NULL));
}

/* ---- the checks, in the order the loader makes them ---- */

static void
test_not_a_shared_object(void **state)
{
   (void) state;
   expect_refused("garbage", "cannot load", NULL);
}

static void
test_no_entry_symbol(void **state)
{
   (void) state;
   expect_refused("no_entry", FERRET_BACKEND_ENTRY_SYMBOL, NULL);
   expect_refused("null_descriptor", "no descriptor", NULL);
}

static void
test_bad_magic(void **state)
{
   (void) state;
   expect_refused("bad_magic", "magic", "0x46455243", "0x46455242", NULL);
}

/* With ABI 1.0: "server speaks 1.0, backend built for 2.0". */
static void
test_major_mismatch(void **state)
{
   char versions[128];
   (void) state;
   snprintf(versions, sizeof versions, "server speaks %d.%d, backend built for 2.%d",
            FERRET_ABI_MAJOR, FERRET_ABI_MINOR, FERRET_ABI_MINOR);
   expect_refused("major_mismatch", versions, NULL);
}

/* With ABI 1.0: "server speaks 1.0, backend built for 1.1". */
static void
test_minor_newer(void **state)
{
   char versions[128];
   (void) state;
   snprintf(versions, sizeof versions, "server speaks %d.%d, backend built for %d.%d",
            FERRET_ABI_MAJOR, FERRET_ABI_MINOR, FERRET_ABI_MAJOR, FERRET_ABI_MINOR + 1);
   expect_refused("minor_newer", versions, NULL);
}

static void
test_struct_too_small(void **state)
{
   char size[32];
   (void) state;
   snprintf(size, sizeof size, "%zu", offsetof(ferret_backend_descriptor_t, methods));
   expect_refused("struct_too_small", "descriptor", size, NULL);
}

static void
test_descriptor_fields(void **state)
{
   (void) state;
   expect_refused("no_version", "version", NULL);
   expect_refused("empty_name", "name", NULL);
}

static void
test_methods_too_small(void **state)
{
   char size[32];
   (void) state;
   snprintf(size, sizeof size, "%zu", offsetof(ferret_backend_methods_t, collection_options));
   expect_refused("methods_too_small", "method table", size, NULL);
}

static void
test_missing_method(void **state)
{
   (void) state;
   expect_refused("missing_open", "open", "missing", NULL);
   expect_refused("missing_query", "query", "missing", NULL);
   expect_refused("missing_collection_options", "collection_options", "missing", NULL);
}

/* A table that stops at the required prefix loads, and what lies past its struct_size reads
 * as NULL even though the plugin's static table has begin/commit/abort set there. */
static void
test_required_only(void **state)
{
   fe_error_t error = {0};
   fe_plugin_t *plugin;
   char path[4096];
   (void) state;

   snprintf(path, sizeof path, "%s", plugin_path("required_only"));
   plugin = loader_load(path, NULL, &error);
   if (!plugin) {
      fail_msg("%s", error.message);
   }
   assert_int_equal(plugin->descriptor->methods->struct_size,
                    offsetof(ferret_backend_methods_t, begin));
   assert_non_null(plugin->descriptor->methods->begin);
   assert_int_equal(plugin->methods.struct_size, sizeof(ferret_backend_methods_t));
   assert_required_methods(&plugin->methods);
   assert_null(plugin->methods.begin);
   assert_null(plugin->methods.commit);
   assert_null(plugin->methods.abort);
   assert_null(plugin->methods.explain);
   loader_unload(plugin);
}

/* The same file loaded twice gives two independent handles (the registry, not the loader,
 * refuses duplicates). */
static void
test_load_twice(void **state)
{
   fe_error_t error = {0};
   fe_plugin_t *a;
   fe_plugin_t *b;
   (void) state;

   a = loader_load("good", plugin_dir(false), &error);
   b = loader_load("good", plugin_dir(false), &error);
   assert_non_null(a);
   assert_non_null(b);
   assert_ptr_not_equal(a, b);
   assert_ptr_equal(a->descriptor, b->descriptor);
   loader_unload(a);
   /* b stays usable after a is unloaded: dlopen counts references. */
   assert_string_equal(b->descriptor->name, "fixture");
   loader_unload(b);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_host),
      cmocka_unit_test(test_load_by_path),
      cmocka_unit_test(test_load_by_name),
      cmocka_unit_test(test_plugin_dir_search),
      cmocka_unit_test(test_file_not_found),
      cmocka_unit_test(test_not_a_shared_object),
      cmocka_unit_test(test_no_entry_symbol),
      cmocka_unit_test(test_bad_magic),
      cmocka_unit_test(test_major_mismatch),
      cmocka_unit_test(test_minor_newer),
      cmocka_unit_test(test_struct_too_small),
      cmocka_unit_test(test_descriptor_fields),
      cmocka_unit_test(test_methods_too_small),
      cmocka_unit_test(test_missing_method),
      cmocka_unit_test(test_required_only),
      cmocka_unit_test(test_load_twice),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
