/*
 * test_names.c: database name <-> file name (src/names.c, docs/rfc/0005-sqlite-layout.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sqlite_int.h"

static void
round_trip(const char *db, const char *file)
{
   char encoded[256];
   char decoded[256];

   assert_true(names_encode_db(db, encoded, sizeof encoded));
   assert_string_equal(encoded, file);
   assert_true(names_decode_db(encoded, decoded, sizeof decoded));
   assert_string_equal(decoded, db);
}

static void
test_encode(void **state)
{
   (void) state;
   round_trip("test", "test.sqlite");
   round_trip("a_b-c9", "a_b-c9.sqlite");
   /* Case is encoded, so case-insensitive filesystems keep these apart. */
   round_trip("Foo", "%46oo.sqlite");
   round_trip("FOO", "%46%4F%4F.sqlite");
   round_trip("my.db", "my%2Edb.sqlite");
   round_trip("../etc", "%2E%2E%2Fetc.sqlite");
   round_trip("100%", "100%25.sqlite");
   round_trip("\xc3\xa9t\xc3\xa9", "%C3%A9t%C3%A9.sqlite");
}

static void
test_limits(void **state)
{
   char out[16];
   (void) state;
   assert_false(names_encode_db("", out, sizeof out));
   assert_true(names_encode_db("abcdefgh", out, sizeof out)); /* 8 + 7 + NUL */
   assert_false(names_encode_db("abcdefghi", out, sizeof out));
   assert_false(names_encode_db("ABC", out, sizeof out)); /* 9 + 7 + NUL */
}

static void
test_decode_rejects(void **state)
{
   char out[64];
   (void) state;
   /* Only the exact form we write is ours: one file per name. */
   assert_false(names_decode_db("test.sqlite-wal", out, sizeof out));
   assert_false(names_decode_db("test.sqlite-shm", out, sizeof out));
   assert_false(names_decode_db(".sqlite", out, sizeof out));
   assert_false(names_decode_db("Foo.sqlite", out, sizeof out));     /* raw upper case */
   assert_false(names_decode_db("my%2edb.sqlite", out, sizeof out)); /* lower-case hex */
   assert_false(names_decode_db("%61.sqlite", out, sizeof out));     /* needless escape */
   assert_false(names_decode_db("%00.sqlite", out, sizeof out));
   assert_false(names_decode_db("ab%4.sqlite", out, sizeof out));
   assert_false(names_decode_db("a.b.sqlite", out, sizeof out));
   assert_false(names_decode_db("notes.txt", out, sizeof out));
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encode),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_decode_rejects),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
