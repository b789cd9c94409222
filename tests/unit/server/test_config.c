/*
 * test_config.c: the configuration file, flags over it, and backend sections
 * (core/server/config.c), with real files in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/config.h"
#include "server/log.h"

/* ---- helpers ---- */

typedef struct fixture {
   char path[64]; /* the current temporary file, "" when none */
   fe_config_t config;
   fe_error_t error;
} fixture_t;

static int
setup(void **state)
{
   fixture_t *fx = calloc(1, sizeof *fx);
   if (!fx) {
      return -1;
   }
   config_init(&fx->config);
   *state = fx;
   return 0;
}

static int
teardown(void **state)
{
   fixture_t *fx = *state;
   if (fx->path[0]) {
      unlink(fx->path);
   }
   config_destroy(&fx->config);
   free(fx);
   return 0;
}

/* Writes text to a new temporary file, replacing the fixture's previous one. */
static const char *
write_file(fixture_t *fx, const char *text)
{
   int fd;
   size_t len = strlen(text);
   if (fx->path[0]) {
      unlink(fx->path);
   }
   strcpy(fx->path, "/tmp/ferret-config-XXXXXX");
   fd = mkstemp(fx->path);
   assert_true(fd >= 0);
   assert_int_equal(write(fd, text, len), (ssize_t) len);
   close(fd);
   return fx->path;
}

/* Loads text into a fresh config, expecting success. */
static void
load_ok(fixture_t *fx, const char *text)
{
   config_destroy(&fx->config);
   config_init(&fx->config);
   error_clear(&fx->error);
   if (!config_load_file(&fx->config, write_file(fx, text), &fx->error)) {
      fail_msg("refused: %s\n--- file ---\n%s", fx->error.message, text);
   }
}

/* Loads text into a fresh config, expecting a BadValue naming the file and line and
 * containing part. */
static void
load_fails(fixture_t *fx, const char *text, unsigned line, const char *part)
{
   char where[128];
   config_destroy(&fx->config);
   config_init(&fx->config);
   error_clear(&fx->error);
   if (config_load_file(&fx->config, write_file(fx, text), &fx->error)) {
      fail_msg("accepted:\n%s", text);
   }
   assert_int_equal(fx->error.code, FE_BadValue);
   snprintf(where, sizeof where, "%s:%u:", fx->path, line);
   if (!strstr(fx->error.message, where)) {
      fail_msg("'%s' does not name '%s'", fx->error.message, where);
   }
   if (part && !strstr(fx->error.message, part)) {
      fail_msg("'%s' does not contain '%s'", fx->error.message, part);
   }
}

/* Sets key through config_set, as a flag does, expecting failure naming the value. */
static void
set_fails(fixture_t *fx, const char *key, const char *value)
{
   error_clear(&fx->error);
   if (config_set(&fx->config, key, value, "command line", 0, &fx->error)) {
      fail_msg("%s = '%s' accepted", key, value);
   }
   assert_int_equal(fx->error.code, FE_BadValue);
   assert_non_null(strstr(fx->error.message, "command line"));
}

static void
set_ok(fixture_t *fx, const char *key, const char *value)
{
   error_clear(&fx->error);
   if (!config_set(&fx->config, key, value, "command line", 0, &fx->error)) {
      fail_msg("%s = '%s' refused: %s", key, value, fx->error.message);
   }
}

/* ---- defaults and the file format ---- */

static void
test_defaults(void **state)
{
   fixture_t *fx = *state;
   assert_string_equal(fx->config.listen_host, "127.0.0.1");
   assert_int_equal(fx->config.listen_port, 27017);
   assert_string_equal(fx->config.backend, "sqlite");
   assert_true(fx->config.plugin_dir[0] != '\0');
   assert_int_equal(fx->config.workers, 0);
   assert_int_equal(fx->config.log_level, LOG_INFO);
   assert_true(fx->config.max_connections > 0);
   assert_int_equal(fx->config.line_count, 0);
}

static void
test_file_format(void **state)
{
   fixture_t *fx = *state;

   load_ok(fx, "# ferret.conf\n"
               "; another comment style\n"
               "\n"
               "   listen   =   0.0.0.0:27018   \n"
               "\tbackend\t=\tpostgres\t\n"
               "workers=3\n"
               "log_level = debug\r\n"
               "max_connections = 50\n"
               "plugin_dir = /opt/a:/opt/b\n"
               "   # indented comment\n"
               "\n"
               "[postgres]\n"
               "dsn = host=/tmp port=5432 dbname=x\n"
               "  [ sqlite ]  \n"
               "path=/var/lib/ferret\n");
   assert_string_equal(fx->config.listen_host, "0.0.0.0");
   assert_int_equal(fx->config.listen_port, 27018);
   assert_string_equal(fx->config.backend, "postgres");
   assert_int_equal(fx->config.workers, 3);
   assert_int_equal(fx->config.log_level, LOG_DEBUG);
   assert_int_equal(fx->config.max_connections, 50);
   assert_string_equal(fx->config.plugin_dir, "/opt/a:/opt/b");

   /* Every key line is kept in file order, with its section, origin and line. */
   assert_int_equal(fx->config.line_count, 8);
   assert_string_equal(fx->config.lines[0].section, "");
   assert_string_equal(fx->config.lines[0].key, "listen");
   assert_string_equal(fx->config.lines[0].value, "0.0.0.0:27018");
   assert_string_equal(fx->config.lines[0].origin, fx->path);
   assert_int_equal(fx->config.lines[0].line, 4);
   assert_string_equal(fx->config.lines[4].key, "max_connections");
   assert_int_equal(fx->config.lines[4].line, 8);
   /* Only the first '=' separates: the value keeps the rest. */
   assert_string_equal(fx->config.lines[6].section, "postgres");
   assert_string_equal(fx->config.lines[6].key, "dsn");
   assert_string_equal(fx->config.lines[6].value, "host=/tmp port=5432 dbname=x");
   assert_int_equal(fx->config.lines[6].line, 13);
   /* Whitespace inside the brackets is trimmed. */
   assert_string_equal(fx->config.lines[7].section, "sqlite");
   assert_string_equal(fx->config.lines[7].key, "path");
   assert_string_equal(fx->config.lines[7].value, "/var/lib/ferret");
   assert_int_equal(fx->config.lines[7].line, 15);

   /* An empty file and a file of comments change nothing. */
   load_ok(fx, "");
   assert_int_equal(fx->config.line_count, 0);
   assert_int_equal(fx->config.listen_port, 27017);
   load_ok(fx, "# only\n; comments\n\n   \n");
   assert_int_equal(fx->config.line_count, 0);

   /* No newline at the end of the last line. */
   load_ok(fx, "workers = 7");
   assert_int_equal(fx->config.workers, 7);

   /* A key given twice: the later one wins. */
   load_ok(fx, "workers = 2\nworkers = 5\n");
   assert_int_equal(fx->config.workers, 5);

   /* Keys in a section are the backend's: "workers" there is not the server's. */
   load_ok(fx, "[sqlite]\nworkers = 9\n");
   assert_int_equal(fx->config.workers, 0);
}

static void
test_file_errors(void **state)
{
   fixture_t *fx = *state;

   load_fails(fx, "# comment\n\nbogus = 1\n", 3, "'bogus'");
   load_fails(fx, "workers = 1\n   Listen = 1234\n", 2, "'Listen'");
   load_fails(fx, "workers = 1\njust words\n", 2, NULL);
   load_fails(fx, "= value\n", 1, NULL);
   load_fails(fx, "\n[sqlite\npath = x\n", 2, "section");
   load_fails(fx, "[]\n", 1, "section");
   load_fails(fx, "[sqlite] path = x\n", 1, "section");
   /* The first bad line is reported, even after a section. */
   load_fails(fx, "workers = 1\n[sqlite]\npath = x\n[other\n", 4, NULL);

   /* A missing file: the message names it. */
   config_destroy(&fx->config);
   config_init(&fx->config);
   error_clear(&fx->error);
   assert_false(config_load_file(&fx->config, "/nonexistent/ferret.conf", &fx->error));
   assert_int_equal(fx->error.code, FE_BadValue);
   assert_non_null(strstr(fx->error.message, "/nonexistent/ferret.conf"));
}

/* ---- values ---- */

static void
test_listen_forms(void **state)
{
   fixture_t *fx = *state;

   load_ok(fx, "listen = db.example:27100\n");
   assert_string_equal(fx->config.listen_host, "db.example");
   assert_int_equal(fx->config.listen_port, 27100);

   load_ok(fx, "listen = [::1]:27018\n");
   assert_string_equal(fx->config.listen_host, "::1");
   assert_int_equal(fx->config.listen_port, 27018);

   load_ok(fx, "listen = [fe80::1%eth0]:1\n");
   assert_string_equal(fx->config.listen_host, "fe80::1%eth0");
   assert_int_equal(fx->config.listen_port, 1);

   /* A bare port keeps the host. */
   load_ok(fx, "listen = 27019\n");
   assert_string_equal(fx->config.listen_host, "127.0.0.1");
   assert_int_equal(fx->config.listen_port, 27019);
   load_ok(fx, "listen = 65535\n");
   assert_int_equal(fx->config.listen_port, 65535);

   /* Flags apply over each other the same way. */
   set_ok(fx, "listen", "[::]:4000");
   set_ok(fx, "listen", "4001");
   assert_string_equal(fx->config.listen_host, "::");
   assert_int_equal(fx->config.listen_port, 4001);
}

static void
test_listen_errors(void **state)
{
   fixture_t *fx = *state;
   const char *bad[] = {"localhost:",
                        ":27017",
                        "localhost:abc",
                        "localhost:70000",
                        "localhost:-1",
                        "localhost:27017x",
                        "0",
                        "65536",
                        "-5",
                        "abc",
                        "[::1]",
                        "[]:27017",
                        "localhost: 27017x"};
   char text[128];

   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      snprintf(text, sizeof text, "# c\nlisten = %s\n", bad[i]);
      load_fails(fx, text, 2, "listen");
      assert_non_null(strstr(fx->error.message, bad[i]));
   }
   /* An empty value. */
   load_fails(fx, "listen =\n", 1, "listen");
   /* A failed value leaves the previous one. */
   config_destroy(&fx->config);
   config_init(&fx->config);
   set_ok(fx, "listen", "10.0.0.1:5000");
   set_fails(fx, "listen", "10.0.0.2:");
   assert_string_equal(fx->config.listen_host, "10.0.0.1");
   assert_int_equal(fx->config.listen_port, 5000);
}

/* None of the documented forms (host:port, [v6addr]:port, port) has a bare colon in the host
 * or an unbalanced bracket: such a value must be refused, not read as host ":" port 1. */
static void
test_listen_ambiguous(void **state)
{
   fixture_t *fx = *state;
   const char *bad[] = {"::1", "::1:27017", "fe80::1:27017", "[::1:27017", "::1]:27017"};

   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      error_clear(&fx->error);
      if (config_set(&fx->config, "listen", bad[i], "command line", 0, &fx->error)) {
         fail_msg("listen '%s' accepted as host '%s' port %d", bad[i], fx->config.listen_host,
                  fx->config.listen_port);
      }
   }
}

static void
test_workers_and_others(void **state)
{
   fixture_t *fx = *state;
   const char *bad_workers[] = {"-1", "257", "abc", "4x", "", " ", "1.5", "99999999999999999999"};
   const char *bad_max[] = {"0", "-1", "1000001", "many"};

   load_ok(fx, "workers = 0\n");
   assert_int_equal(fx->config.workers, 0);
   load_ok(fx, "workers = 256\n");
   assert_int_equal(fx->config.workers, 256);
   for (size_t i = 0; i < sizeof bad_workers / sizeof bad_workers[0]; i++) {
      char text[128];
      snprintf(text, sizeof text, "\n\nworkers = %s\n", bad_workers[i]);
      load_fails(fx, text, 3, "workers");
   }
   for (size_t i = 0; i < sizeof bad_max / sizeof bad_max[0]; i++) {
      set_fails(fx, "max_connections", bad_max[i]);
   }
   set_ok(fx, "max_connections", "1");
   assert_int_equal(fx->config.max_connections, 1);

   assert_int_equal(fx->config.ttl_monitor_interval, 60);
   set_ok(fx, "ttl_monitor_interval", "0");
   assert_int_equal(fx->config.ttl_monitor_interval, 0);
   load_ok(fx, "ttl_monitor_interval = 1\n");
   assert_int_equal(fx->config.ttl_monitor_interval, 1);
   set_fails(fx, "ttl_monitor_interval", "-1");
   set_fails(fx, "ttl_monitor_interval", "1s");
   set_fails(fx, "ttl_monitor_interval", "2147483648");
   assert_int_equal(fx->config.ttl_monitor_interval, 1);

   set_ok(fx, "log_level", "error");
   assert_int_equal(fx->config.log_level, LOG_ERROR);
   set_ok(fx, "log_level", "warning");
   assert_int_equal(fx->config.log_level, LOG_WARNING);
   set_fails(fx, "log_level", "verbose");
   set_fails(fx, "log_level", "INFO");
   assert_int_equal(fx->config.log_level, LOG_WARNING);

   set_fails(fx, "backend", "");
   set_ok(fx, "backend", "/usr/lib/ferret/backends/sqlite.so");
   assert_string_equal(fx->config.backend, "/usr/lib/ferret/backends/sqlite.so");
   {
      char long_value[5000];
      memset(long_value, 'x', sizeof long_value - 1);
      long_value[sizeof long_value - 1] = '\0';
      set_fails(fx, "backend", long_value);
      set_fails(fx, "plugin_dir", long_value);
   }
}

/* ---- flags over the file ---- */

static void
test_flags_override(void **state)
{
   fixture_t *fx = *state;

   load_ok(fx, "listen = 0.0.0.0:1000\nworkers = 2\nbackend = postgres\n");
   set_ok(fx, "workers", "4");
   set_ok(fx, "listen", "2000");
   assert_int_equal(fx->config.workers, 4);
   assert_string_equal(fx->config.listen_host, "0.0.0.0");
   assert_int_equal(fx->config.listen_port, 2000);
   assert_string_equal(fx->config.backend, "postgres");

   /* An unknown flag names its origin and the key. */
   error_clear(&fx->error);
   assert_false(config_set(&fx->config, "colour", "blue", "--colour", 3, &fx->error));
   assert_int_equal(fx->error.code, FE_BadValue);
   assert_non_null(strstr(fx->error.message, "--colour:3:"));
   assert_non_null(strstr(fx->error.message, "'colour'"));
}

/* ---- backend sections ---- */

static void
test_section_items(void **state)
{
   fixture_t *fx = *state;
   static const char *const allowed[] = {"path", "journal_mode", "cache_size", NULL};
   ferret_config_item_t *items = NULL;
   size_t count = 99;

   load_ok(fx, "backend = sqlite\n"
               "[sqlite]\n"
               "path = /data\n"
               "\n"
               "journal_mode = wal\n"
               "[sqlite2]\n"
               "bogus = 1\n"
               "[sqlite]\n"
               "cache_size = -2000\n");

   assert_true(config_section_items(&fx->config, "sqlite", allowed, &items, &count, &fx->error));
   assert_int_equal(count, 3);
   assert_string_equal(items[0].key, "path");
   assert_string_equal(items[0].value, "/data");
   assert_string_equal(items[0].file, fx->path);
   assert_int_equal(items[0].line, 3);
   assert_string_equal(items[1].key, "journal_mode");
   assert_int_equal(items[1].line, 5);
   /* A section reopened later adds to it. */
   assert_string_equal(items[2].key, "cache_size");
   assert_string_equal(items[2].value, "-2000");
   assert_int_equal(items[2].line, 9);
   /* Borrowed from the config, not copied. */
   assert_ptr_equal(items[0].key, fx->config.lines[1].key);
   assert_ptr_equal(items[0].value, fx->config.lines[1].value);
   free(items);

   /* A section that is not there: no items, no error. */
   items = NULL;
   assert_true(config_section_items(&fx->config, "postgres", allowed, &items, &count, &fx->error));
   assert_int_equal(count, 0);
   free(items);

   /* A key the backend does not accept: file, line, key and section. */
   {
      char where[128];
      items = (ferret_config_item_t *) 1;
      error_clear(&fx->error);
      assert_false(
         config_section_items(&fx->config, "sqlite2", allowed, &items, &count, &fx->error));
      assert_null(items);
      assert_int_equal(count, 0);
      assert_int_equal(fx->error.code, FE_BadValue);
      snprintf(where, sizeof where, "%s:7:", fx->path);
      assert_non_null(strstr(fx->error.message, where));
      assert_non_null(strstr(fx->error.message, "'bogus'"));
      assert_non_null(strstr(fx->error.message, "sqlite2"));
   }

   /* A backend that accepts no keys at all (config_keys NULL) refuses any line. */
   error_clear(&fx->error);
   assert_false(config_section_items(&fx->config, "sqlite", NULL, &items, &count, &fx->error));
   assert_non_null(strstr(fx->error.message, "'path'"));

   /* Top-level lines are the server's, never a backend section's. */
   assert_true(config_section_items(&fx->config, "sqlite", allowed, &items, &count, &fx->error));
   for (size_t i = 0; i < count; i++) {
      assert_string_not_equal(items[i].key, "backend");
   }
   free(items);
}

static void
test_destroy_twice(void **state)
{
   fixture_t *fx = *state;
   load_ok(fx, "workers = 1\n[x]\na = b\n");
   config_destroy(&fx->config);
   assert_null(fx->config.lines);
   assert_int_equal(fx->config.line_count, 0);
   /* teardown destroys again */
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_format, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_listen_forms, setup, teardown),
      cmocka_unit_test_setup_teardown(test_listen_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_listen_ambiguous, setup, teardown),
      cmocka_unit_test_setup_teardown(test_workers_and_others, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flags_override, setup, teardown),
      cmocka_unit_test_setup_teardown(test_section_items, setup, teardown),
      cmocka_unit_test_setup_teardown(test_destroy_twice, setup, teardown),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
