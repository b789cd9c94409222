/*
 * plugin_env.h: where the loader fixtures (tests/plugins/) were built, from the environment
 * that tests/unit/backend/meson.build sets.
 */
#ifndef FE_TEST_PLUGIN_ENV_H
#define FE_TEST_PLUGIN_ENV_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The directory holding <fixture>.so (alt: the second directory, tests/plugins/alt). */
static inline const char *
plugin_dir(bool alt)
{
   const char *var = alt ? "FERRET_TEST_PLUGIN_DIR_ALT" : "FERRET_TEST_PLUGIN_DIR";
   const char *dir = getenv(var);
   if (!dir || !*dir) {
      fail_msg("%s is not set: run this test through meson test", var);
   }
   return dir;
}

/* The path of a fixture, in static storage that the next call overwrites. */
static inline const char *
plugin_path(const char *fixture)
{
   static char path[4096];
   snprintf(path, sizeof path, "%s/%s.so", plugin_dir(false), fixture);
   return path;
}

/* Asserts that text contains part, printing both when not. */
static inline void
assert_contains(const char *text, const char *part)
{
   if (!strstr(text, part)) {
      fail_msg("'%s' does not contain '%s'", text, part);
   }
}

#endif /* FE_TEST_PLUGIN_ENV_H */
