/*
 * test_header.c: message framing and limits, and validation of client BSON
 * (core/wire/header.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <bson/bson.h>

#include "wire/header.h"

/* ---- helpers ---- */

/* A document nested `levels` deep, the top level counting as one: {a: {a: {... {} ...}}}.
 * Built by hand, since a recursive builder 200 levels deep is what is being tested. Owned by
 * the caller (free); *len is its length. */
static uint8_t *
nested_doc(int levels, size_t *len)
{
   /* Each wrapping level adds 4 (length) + 1 (type) + 2 ("a\0") + 1 (terminator) bytes. */
   size_t total = 5 + (size_t) (levels - 1) * 8;
   uint8_t *buf = calloc(1, total);
   /* Each level's prefix takes 7 bytes; the innermost empty document follows the last one. */
   size_t inner_start = (size_t) (levels - 1) * 7;
   size_t inner_len;

   assert_non_null(buf);
   assert_true(levels >= 1);
   header_write_int32(buf + inner_start, 5);
   buf[inner_start + 4] = 0;
   inner_len = 5;
   for (int level = levels - 1; level >= 1; level--) {
      size_t start = (size_t) (level - 1) * 7;
      size_t doc_len = inner_len + 8;
      header_write_int32(buf + start, (int32_t) doc_len);
      buf[start + 4] = 0x03;
      buf[start + 5] = 'a';
      buf[start + 6] = 0;
      /* The inner document starts at start + 7 (where it already is); the terminator of this
       * level goes after it. */
      buf[start + 7 + inner_len] = 0;
      inner_len = doc_len;
   }
   assert_int_equal(inner_len, total);
   *len = total;
   return buf;
}

static void
expect_invalid(const uint8_t *data, size_t len, int max_depth)
{
   fe_error_t error = {0};
   assert_false(header_validate_bson(data, len, max_depth, &error));
   assert_int_equal(error.code, FE_InvalidBSON);
   assert_true(error.message[0] != '\0');
}

static void
expect_valid(const uint8_t *data, size_t len, int max_depth)
{
   fe_error_t error = {0};
   if (!header_validate_bson(data, len, max_depth, &error)) {
      fail_msg("rejected: %s", error.message);
   }
   assert_int_equal(error.code, 0);
}

/* ---- framing ---- */

static void
test_check_limits(void **state)
{
   fe_msg_header_t header = {.request_id = 1, .opcode = OP_MSG};
   fe_error_t error = {0};
   const int32_t rejected[] = {INT32_MIN, -1, 0, 1, 15, HEADER_SIZE, HEADER_MAX_MESSAGE_SIZE + 1,
                               INT32_MAX};
   const int32_t accepted[] = {HEADER_SIZE + 1, 21, 4096, HEADER_MAX_MESSAGE_SIZE};
   (void) state;

   assert_int_equal(HEADER_MAX_MESSAGE_SIZE, 48000000);
   for (size_t i = 0; i < sizeof rejected / sizeof rejected[0]; i++) {
      header.message_length = rejected[i];
      error_clear(&error);
      assert_false(header_check(&header, &error));
      assert_int_equal(error.code, FE_ProtocolError);
      assert_non_null(strstr(error.message, "48000000"));
   }
   for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
      header.message_length = accepted[i];
      error_clear(&error);
      assert_true(header_check(&header, &error));
      assert_int_equal(error.code, 0);
   }
   /* NULL error is allowed. */
   header.message_length = 3;
   assert_false(header_check(&header, NULL));
}

static void
test_little_endian(void **state)
{
   uint8_t bytes[4];
   const int32_t values[] = {0, 1, -1, 0x01020304, INT32_MIN, INT32_MAX, 48000000};
   (void) state;

   header_write_int32(bytes, 0x01020304);
   assert_int_equal(bytes[0], 0x04);
   assert_int_equal(bytes[1], 0x03);
   assert_int_equal(bytes[2], 0x02);
   assert_int_equal(bytes[3], 0x01);
   header_write_int32(bytes, -2);
   assert_int_equal(bytes[0], 0xfe);
   assert_int_equal(bytes[3], 0xff);
   for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
      header_write_int32(bytes, values[i]);
      assert_int_equal(header_read_int32(bytes), values[i]);
   }
}

static void
test_encode_decode(void **state)
{
   const uint8_t wire[HEADER_SIZE] = {
      0x25, 0x00, 0x00, 0x00, /* messageLength 37 */
      0x78, 0x56, 0x34, 0x12, /* requestID 0x12345678 */
      0xff, 0xff, 0xff, 0xff, /* responseTo -1 */
      0xdd, 0x07, 0x00, 0x00, /* opCode 2013 */
   };
   fe_msg_header_t header;
   uint8_t out[HEADER_SIZE];
   (void) state;

   header_decode(wire, &header);
   assert_int_equal(header.message_length, 37);
   assert_int_equal(header.request_id, 0x12345678);
   assert_int_equal(header.response_to, -1);
   assert_int_equal(header.opcode, OP_MSG);
   header_encode(&header, out);
   assert_memory_equal(out, wire, HEADER_SIZE);
}

/* ---- BSON validation ---- */

static void
test_validate_plain(void **state)
{
   bson_t *doc =
      BCON_NEW("hello", BCON_INT32(1), "s", BCON_UTF8("x"), "d", "{", "e", BCON_DOUBLE(1.5), "}");
   (void) state;
   expect_valid(bson_get_data(doc), doc->len, HEADER_MAX_NESTING_DEPTH);
   bson_destroy(doc);

   /* The empty document. */
   static const uint8_t empty[] = {5, 0, 0, 0, 0};
   expect_valid(empty, sizeof empty, HEADER_MAX_NESTING_DEPTH);
}

static void
test_validate_lengths(void **state)
{
   bson_t *doc = BCON_NEW("a", BCON_UTF8("hello"), "b", BCON_INT32(7));
   uint8_t *copy = malloc(doc->len + 1);
   uint32_t len = doc->len;
   (void) state;

   assert_non_null(copy);
   memcpy(copy, bson_get_data(doc), len);

   /* Shorter than the smallest document. */
   expect_invalid(copy, 0, 10);
   expect_invalid(copy, 4, 10);
   /* The declared length must be the buffer's length, both ways. */
   expect_invalid(copy, len - 1, 10);
   copy[len] = 0;
   expect_invalid(copy, len + 1, 10);
   header_write_int32(copy, (int32_t) len + 1);
   expect_invalid(copy, len, 10);
   header_write_int32(copy, -5);
   expect_invalid(copy, len, 10);
   header_write_int32(copy, (int32_t) len);
   expect_valid(copy, len, 10);

   /* Missing terminator. */
   copy[len - 1] = 1;
   expect_invalid(copy, len, 10);
   copy[len - 1] = 0;

   /* A string element whose length runs past the document. Layout: 4 length, 0x02, "a\0",
    * then the string length at offset 7. */
   assert_int_equal(copy[4], 0x02);
   header_write_int32(copy + 7, 1000);
   expect_invalid(copy, len, 10);
   /* A string length of zero: BSON strings always hold at least their NUL. */
   header_write_int32(copy + 7, 0);
   expect_invalid(copy, len, 10);
   header_write_int32(copy + 7, 6);
   expect_valid(copy, len, 10);

   /* An unknown element type. */
   copy[4] = 0x42;
   expect_invalid(copy, len, 10);

   free(copy);
   bson_destroy(doc);
}

static void
test_validate_utf8_keys(void **state)
{
   bson_t doc = BSON_INITIALIZER;
   (void) state;

   /* An invalid key: 0xc3 must be followed by a continuation byte. */
   bson_append_int32(&doc, "k\xc3\x28", 3, 1);
   expect_invalid(bson_get_data(&doc), doc.len, 10);
   bson_reinit(&doc);

   /* ... also in a nested document. */
   {
      bson_t child;
      bson_append_document_begin(&doc, "d", 1, &child);
      bson_append_int32(&child, "\xff", 1, 1);
      bson_append_document_end(&doc, &child);
   }
   expect_invalid(bson_get_data(&doc), doc.len, 10);
   bson_reinit(&doc);

   /* Valid multibyte keys and text, and an embedded NUL in a string, which MongoDB stores. */
   bson_append_utf8(&doc, "caf\xc3\xa9", 5, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14);
   bson_append_utf8(&doc, "n", 1, "a\0b", 3);
   expect_valid(bson_get_data(&doc), doc.len, 10);
   bson_destroy(&doc);
}

/* header.h promises UTF-8 validation of strings too. libbson 1.23's bson_validate() with
 * BSON_VALIDATE_UTF8 checks only keys and embedded NULs, not the bytes of string values, so
 * this needs the core to check values itself. */
static void
test_validate_utf8_values(void **state)
{
   static const struct {
      const char *bytes;
      int len;
   } bad[] = {
      {"ab\xff", 3},       /* 0xff never appears in UTF-8 */
      {"\xc3", 1},         /* a truncated two-byte sequence */
      {"\xe2\x82", 2},     /* a truncated three-byte sequence */
      {"\xc0\xaf", 2},     /* an overlong encoding of '/' */
      {"\xed\xa0\x80", 3}, /* a UTF-16 surrogate */
   };
   (void) state;

   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      bson_t doc = BSON_INITIALIZER;
      bson_t child;
      fe_error_t error = {0};

      bson_append_utf8(&doc, "s", 1, bad[i].bytes, bad[i].len);
      if (header_validate_bson(bson_get_data(&doc), doc.len, 10, &error)) {
         fail_msg("string value %zu with invalid UTF-8 accepted", i);
      }
      assert_int_equal(error.code, FE_InvalidBSON);
      bson_reinit(&doc);

      /* Inside an array, as in {a: [<bad>]}. */
      bson_append_array_begin(&doc, "a", 1, &child);
      bson_append_utf8(&child, "0", 1, bad[i].bytes, bad[i].len);
      bson_append_array_end(&doc, &child);
      if (header_validate_bson(bson_get_data(&doc), doc.len, 10, &error)) {
         fail_msg("array element %zu with invalid UTF-8 accepted", i);
      }
      bson_destroy(&doc);
   }
}

static void
test_validate_depth(void **state)
{
   size_t len;
   uint8_t *doc;
   (void) state;

   /* The top-level document counts as one level: 200 levels pass the default limit. */
   doc = nested_doc(HEADER_MAX_NESTING_DEPTH, &len);
   expect_valid(doc, len, HEADER_MAX_NESTING_DEPTH);
   free(doc);
   doc = nested_doc(HEADER_MAX_NESTING_DEPTH + 1, &len);
   expect_invalid(doc, len, HEADER_MAX_NESTING_DEPTH);
   {
      fe_error_t error = {0};
      assert_false(header_validate_bson(doc, len, HEADER_MAX_NESTING_DEPTH, &error));
      assert_non_null(strstr(error.message, "200"));
   }
   free(doc);

   /* Small limits, to pin the counting. */
   doc = nested_doc(1, &len);
   expect_valid(doc, len, 1);
   expect_invalid(doc, len, 0);
   free(doc);
   doc = nested_doc(3, &len);
   expect_valid(doc, len, 3);
   expect_invalid(doc, len, 2);
   free(doc);
}

static void
test_validate_depth_arrays(void **state)
{
   /* {a: [[1]]}: three levels. */
   bson_t *doc = BCON_NEW("a", "[", "[", BCON_INT32(1), "]", "]");
   (void) state;
   expect_valid(bson_get_data(doc), doc->len, 3);
   expect_invalid(bson_get_data(doc), doc->len, 2);
   bson_destroy(doc);

   /* Depth is the deepest branch, not the sum of branches. */
   doc = BCON_NEW("a", "{", "b", BCON_INT32(1), "}", "c", "{", "d", BCON_INT32(1), "}", "e", "[",
                  BCON_INT32(1), "]");
   expect_valid(bson_get_data(doc), doc->len, 2);
   expect_invalid(bson_get_data(doc), doc->len, 1);
   bson_destroy(doc);
}

static void
test_validate_code_with_scope(void **state)
{
   bson_t *scope = BCON_NEW("x", "{", "y", "{", "z", BCON_INT32(1), "}", "}");
   bson_t doc = BSON_INITIALIZER;
   (void) state;

   /* The scope is a document one level below its holder: top 1, scope 2, x 3, y 4. */
   bson_append_code_with_scope(&doc, "f", 1, "function() { return z; }", scope);
   expect_valid(bson_get_data(&doc), doc.len, 4);
   expect_invalid(bson_get_data(&doc), doc.len, 3);

   /* A code-with-scope deep inside a document adds its own levels. */
   {
      bson_t outer = BSON_INITIALIZER;
      bson_append_document(&outer, "w", 1, &doc);
      expect_valid(bson_get_data(&outer), outer.len, 5);
      expect_invalid(bson_get_data(&outer), outer.len, 4);
      bson_destroy(&outer);
   }

   bson_destroy(&doc);
   bson_destroy(scope);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_check_limits),          cmocka_unit_test(test_little_endian),
      cmocka_unit_test(test_encode_decode),         cmocka_unit_test(test_validate_plain),
      cmocka_unit_test(test_validate_lengths),      cmocka_unit_test(test_validate_utf8_keys),
      cmocka_unit_test(test_validate_utf8_values),  cmocka_unit_test(test_validate_depth),
      cmocka_unit_test(test_validate_depth_arrays), cmocka_unit_test(test_validate_code_with_scope),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
