/*
 * test_opmsg.c: parsing OP_MSG requests and writing OP_MSG replies (core/wire/opmsg.c),
 * against the wire-protocol specification's section and flag rules.
 */
#include "msgbuf.h"

#include <event2/buffer.h>

/* ---- helpers ---- */

/* Parses mb, expecting failure with code; the message must be non-empty. Returns nothing:
 * the command is released here, as a caller would after a failure. */
static void
expect_parse_error(const msgbuf_t *mb, int32_t code, const char *message_part)
{
   fe_opmsg_t msg;
   fe_error_t error = {0};
   assert_false(opmsg_parse(mb->data, mb->len, &msg, &error));
   if (error.code != code) {
      fail_msg("expected code %d, got %d: %s", code, error.code, error.message);
   }
   assert_true(error.message[0] != '\0');
   if (message_part && !strstr(error.message, message_part)) {
      fail_msg("message '%s' lacks '%s'", error.message, message_part);
   }
   opmsg_destroy(&msg);
}

/* Parses mb, expecting success and the given command. */
static void
expect_parse(const msgbuf_t *mb, const bson_t *expected, uint32_t expected_flags)
{
   fe_opmsg_t msg;
   fe_error_t error = {0};
   if (!opmsg_parse(mb->data, mb->len, &msg, &error)) {
      fail_msg("parse failed: %d %s", error.code, error.message);
   }
   assert_int_equal(msg.flags, expected_flags);
   mb_assert_doc_eq(&msg.command, expected);
   opmsg_destroy(&msg);
}

/* ---- CRC-32C ---- */

static void
test_crc32c(void **state)
{
   (void) state;
   /* The check value of CRC-32C (Castagnoli), as in RFC 3720 and every CRC catalogue. */
   assert_int_equal(opmsg_crc32c((const uint8_t *) "123456789", 9), 0xE3069283u);
   assert_int_equal(opmsg_crc32c((const uint8_t *) "", 0), 0);
   /* RFC 3720 B.4: 32 bytes of zeros. */
   {
      uint8_t zeros[32] = {0};
      assert_int_equal(opmsg_crc32c(zeros, sizeof zeros), 0x8A9136AAu);
   }
}

/* ---- well-formed messages ---- */

static void
test_body_only(void **state)
{
   msgbuf_t mb = {0};
   bson_t *body = BCON_NEW("ping", BCON_INT32(1), "$db", BCON_UTF8("admin"));
   (void) state;

   mb_opmsg(&mb, 0);
   mb_body(&mb, body);
   mb_finish(&mb);
   expect_parse(&mb, body, 0);
   bson_destroy(body);
   mb_free(&mb);
}

static void
test_sequences_merged(void **state)
{
   msgbuf_t mb = {0};
   bson_t *body =
      BCON_NEW("insert", BCON_UTF8("c"), "ordered", BCON_BOOL(true), "$db", BCON_UTF8("test"));
   bson_t *docs[] = {BCON_NEW("_id", BCON_INT32(1), "a", BCON_UTF8("x")),
                     BCON_NEW("_id", BCON_INT32(2), "n", "{", "b", BCON_INT32(3), "}")};
   bson_t *others[] = {BCON_NEW("q", "{", "}", "limit", BCON_INT32(0))};
   bson_t *expected =
      BCON_NEW("insert", BCON_UTF8("c"), "ordered", BCON_BOOL(true), "$db", BCON_UTF8("test"),
               "documents", "[", "{", "_id", BCON_INT32(1), "a", BCON_UTF8("x"), "}", "{", "_id",
               BCON_INT32(2), "n", "{", "b", BCON_INT32(3), "}", "}", "]", "deletes", "[", "{", "q",
               "{", "}", "limit", BCON_INT32(0), "}", "]");
   (void) state;

   /* Body first. */
   mb_opmsg(&mb, 0);
   mb_body(&mb, body);
   mb_sequence(&mb, "documents", docs, 2);
   mb_sequence(&mb, "deletes", others, 1);
   mb_finish(&mb);
   expect_parse(&mb, expected, 0);

   /* Sections may come in any order: the body last gives the same command. */
   mb_opmsg(&mb, 0);
   mb_sequence(&mb, "documents", docs, 2);
   mb_sequence(&mb, "deletes", others, 1);
   mb_body(&mb, body);
   mb_finish(&mb);
   expect_parse(&mb, expected, 0);

   bson_destroy(expected);
   bson_destroy(body);
   bson_destroy(docs[0]);
   bson_destroy(docs[1]);
   bson_destroy(others[0]);
   mb_free(&mb);
}

static void
test_empty_sequence(void **state)
{
   msgbuf_t mb = {0};
   bson_t *body = BCON_NEW("insert", BCON_UTF8("c"));
   bson_t *expected = BCON_NEW("insert", BCON_UTF8("c"), "documents", "[", "]");
   (void) state;

   mb_opmsg(&mb, 0);
   mb_body(&mb, body);
   mb_sequence(&mb, "documents", NULL, 0);
   mb_finish(&mb);
   expect_parse(&mb, expected, 0);
   bson_destroy(expected);
   bson_destroy(body);
   mb_free(&mb);
}

/* The command must stay usable after the parser returns: with sequences it is a copy, without
 * them it borrows the message, which the caller keeps. */
static void
test_command_outlives_parse(void **state)
{
   msgbuf_t mb = {0};
   bson_t *body = BCON_NEW("find", BCON_UTF8("c"), "$db", BCON_UTF8("d"));
   bson_t *docs[] = {BCON_NEW("a", BCON_INT32(1))};
   fe_opmsg_t msg;
   fe_error_t error = {0};
   bson_iter_t iter;
   (void) state;

   mb_opmsg(&mb, 0);
   mb_body(&mb, body);
   mb_sequence(&mb, "filters", docs, 1);
   mb_finish(&mb);
   assert_true(opmsg_parse(mb.data, mb.len, &msg, &error));
   /* A copy: scribbling over the message leaves it intact. */
   memset(mb.data, 0xAB, mb.len);
   assert_true(bson_iter_init_find(&iter, &msg.command, "find"));
   assert_string_equal(bson_iter_utf8(&iter, NULL), "c");
   assert_true(bson_iter_init_find(&iter, &msg.command, "filters"));
   assert_true(BSON_ITER_HOLDS_ARRAY(&iter));
   opmsg_destroy(&msg);

   bson_destroy(body);
   bson_destroy(docs[0]);
   mb_free(&mb);
}

/* ---- flags and checksum ---- */

static void
test_flags(void **state)
{
   msgbuf_t mb = {0};
   bson_t *body = BCON_NEW("hello", BCON_INT32(1));
   (void) state;

   /* exhaustAllowed (bit 16) and moreToCome (bit 1) are known; they are kept in flags. */
   mb_opmsg(&mb, OPMSG_EXHAUST_ALLOWED);
   mb_body(&mb, body);
   mb_finish(&mb);
   expect_parse(&mb, body, OPMSG_EXHAUST_ALLOWED);

   mb_opmsg(&mb, OPMSG_MORE_TO_COME);
   mb_body(&mb, body);
   mb_finish(&mb);
   expect_parse(&mb, body, OPMSG_MORE_TO_COME);

   /* Bits 16-31 are optional: an unknown one is ignored. */
   mb_opmsg(&mb, 1u << 20 | 1u << 31);
   mb_body(&mb, body);
   mb_finish(&mb);
   expect_parse(&mb, body, 1u << 20 | 1u << 31);

   /* Bits 2-15 are required and unknown: each must be refused. */
   for (int bit = 2; bit < 16; bit++) {
      mb_opmsg(&mb, 1u << bit);
      mb_body(&mb, body);
      mb_finish(&mb);
      expect_parse_error(&mb, FE_ProtocolError, "flag");
   }
   bson_destroy(body);
   mb_free(&mb);
}

static void
test_checksum(void **state)
{
   msgbuf_t mb = {0};
   bson_t *body = BCON_NEW("ping", BCON_INT32(1), "$db", BCON_UTF8("admin"));
   bson_t *docs[] = {BCON_NEW("a", BCON_INT32(1))};
   bson_t *expected = BCON_NEW("ping", BCON_INT32(1), "$db", BCON_UTF8("admin"), "seq", "[", "{",
                               "a", BCON_INT32(1), "}", "]");
   (void) state;

   /* Correct checksum, body only. */
   mb_opmsg(&mb, OPMSG_CHECKSUM_PRESENT);
   mb_body(&mb, body);
   mb_finish_checksum(&mb);
   expect_parse(&mb, body, OPMSG_CHECKSUM_PRESENT);

   /* The checksum covers the header: changing requestID breaks it. */
   mb.data[4] ^= 1;
   expect_parse_error(&mb, FE_ProtocolError, "checksum");
   mb.data[4] ^= 1;
   /* And the checksum itself. */
   mb.data[mb.len - 1] ^= 0x80;
   expect_parse_error(&mb, FE_ProtocolError, "checksum");
   mb.data[mb.len - 1] ^= 0x80;
   expect_parse(&mb, body, OPMSG_CHECKSUM_PRESENT);

   /* Correct checksum after a document sequence. */
   mb_opmsg(&mb, OPMSG_CHECKSUM_PRESENT);
   mb_body(&mb, body);
   mb_sequence(&mb, "seq", docs, 1);
   mb_finish_checksum(&mb);
   expect_parse(&mb, expected, OPMSG_CHECKSUM_PRESENT);

   /* The flag set but no checksum: the last four bytes of the body are taken as the checksum,
    * which cannot match. */
   mb_opmsg(&mb, OPMSG_CHECKSUM_PRESENT);
   mb_body(&mb, body);
   mb_finish(&mb);
   expect_parse_error(&mb, FE_ProtocolError, NULL);

   /* A checksum computed without the flag, then the flag set afterwards, does not match. */
   mb_opmsg(&mb, 0);
   mb_body(&mb, body);
   mb_finish_checksum(&mb);
   mb.data[HEADER_SIZE] |= OPMSG_CHECKSUM_PRESENT;
   expect_parse_error(&mb, FE_ProtocolError, "checksum");

   /* Flags and a checksum only. */
   mb_opmsg(&mb, OPMSG_CHECKSUM_PRESENT);
   mb_finish_checksum(&mb);
   expect_parse_error(&mb, FE_ProtocolError, NULL);

   bson_destroy(expected);
   bson_destroy(docs[0]);
   bson_destroy(body);
   mb_free(&mb);
}

/* ---- malformed section layout ---- */

static void
test_body_count(void **state)
{
   msgbuf_t mb = {0};
   bson_t *body = BCON_NEW("ping", BCON_INT32(1));
   bson_t *docs[] = {BCON_NEW("a", BCON_INT32(1))};
   (void) state;

   mb_opmsg(&mb, 0);
   mb_body(&mb, body);
   mb_body(&mb, body);
   mb_finish(&mb);
   expect_parse_error(&mb, FE_ProtocolError, "more than one body");

   /* Only a document sequence. */
   mb_opmsg(&mb, 0);
   mb_sequence(&mb, "documents", docs, 1);
   mb_finish(&mb);
   expect_parse_error(&mb, FE_ProtocolError, "no body");

   /* Nothing after the flags. */
   mb_opmsg(&mb, 0);
   mb_finish(&mb);
   expect_parse_error(&mb, FE_ProtocolError, NULL);

   bson_destroy(docs[0]);
   bson_destroy(body);
   mb_free(&mb);
}

static void
test_unknown_kind(void **state)
{
   msgbuf_t mb = {0};
   bson_t *body = BCON_NEW("ping", BCON_INT32(1));
   (void) state;

   /* Kind 2 (the internal kind) and others are not for clients. */
   for (int kind = 2; kind < 256; kind += 37) {
      mb_opmsg(&mb, 0);
      mb_body(&mb, body);
      mb_byte(&mb, (uint8_t) kind);
      mb_doc(&mb, body);
      mb_finish(&mb);
      expect_parse_error(&mb, FE_ProtocolError, "kind");
   }
   bson_destroy(body);
   mb_free(&mb);
}

static void
test_sequence_identifiers(void **state)
{
   msgbuf_t mb = {0};
   bson_t *body = BCON_NEW("insert", BCON_UTF8("c"), "documents", "[", "]");
   bson_t *plain = BCON_NEW("insert", BCON_UTF8("c"));
   bson_t *docs[] = {BCON_NEW("a", BCON_INT32(1))};
   (void) state;

   /* An identifier naming a field the body already has. */
   mb_opmsg(&mb, 0);
   mb_body(&mb, body);
   mb_sequence(&mb, "documents", docs, 1);
   mb_finish(&mb);
   expect_parse_error(&mb, FE_ProtocolError, "documents");

   /* Two sequences with one identifier. */
   mb_opmsg(&mb, 0);
   mb_body(&mb, plain);
   mb_sequence(&mb, "documents", docs, 1);
   mb_sequence(&mb, "documents", docs, 1);
   mb_finish(&mb);
   expect_parse_error(&mb, FE_ProtocolError, "documents");

   /* An empty identifier. */
   mb_opmsg(&mb, 0);
   mb_body(&mb, plain);
   mb_sequence(&mb, "", docs, 1);
   mb_finish(&mb);
   expect_parse_error(&mb, FE_ProtocolError, "identifier");

   /* An identifier without its terminating NUL inside the section. */
   mb_opmsg(&mb, 0);
   mb_body(&mb, plain);
   mb_byte(&mb, 1);
   mb_int32(&mb, 4 + 3);
   mb_bytes(&mb, "abc", 3);
   mb_finish(&mb);
   expect_parse_error(&mb, FE_ProtocolError, "identifier");

   bson_destroy(docs[0]);
   bson_destroy(plain);
   bson_destroy(body);
   mb_free(&mb);
}

static void
test_bad_section_lengths(void **state)
{
   msgbuf_t mb = {0};
   bson_t *body = BCON_NEW("insert", BCON_UTF8("c"));
   bson_t *docs[] = {BCON_NEW("a", BCON_INT32(1)), BCON_NEW("b", BCON_INT32(2))};
   const int32_t bad[] = {-1, 0, 3, 4, 1000};
   size_t size_at;
   (void) state;

   /* The sequence's own length, too small or past the end. */
   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      mb_opmsg(&mb, 0);
      mb_body(&mb, body);
      size_at = mb.len + 1;
      mb_sequence(&mb, "documents", docs, 2);
      mb_finish(&mb);
      header_write_int32(mb.data + size_at, bad[i]);
      expect_parse_error(&mb, FE_ProtocolError, NULL);
   }

   /* A sequence that ends inside its second document: the section's length agrees with the
    * message's end, but the document's own length runs past both. */
   mb_opmsg(&mb, 0);
   mb_body(&mb, body);
   size_at = mb.len + 1;
   mb_sequence(&mb, "documents", docs, 2);
   mb.len -= 3;
   mb_finish(&mb);
   header_write_int32(mb.data + size_at,
                      (int32_t) (4 + sizeof "documents" + docs[0]->len + docs[1]->len - 3));
   expect_parse_error(&mb, FE_ProtocolError, NULL);

   /* The body's declared length past the end, or below the minimum. */
   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      mb_opmsg(&mb, 0);
      mb_body(&mb, body);
      mb_finish(&mb);
      header_write_int32(mb.data + HEADER_SIZE + 5, bad[i]);
      expect_parse_error(&mb, FE_ProtocolError, NULL);
   }

   bson_destroy(docs[0]);
   bson_destroy(docs[1]);
   bson_destroy(body);
   mb_free(&mb);
}

/* Every prefix of a valid message is refused, except those that end on a section boundary
 * after the body (a shorter but well-formed message). Run under ASan or valgrind, this also
 * proves no prefix is read past its end. */
static void
test_truncated(void **state)
{
   msgbuf_t mb = {0};
   bson_t *body = BCON_NEW("insert", BCON_UTF8("c"), "$db", BCON_UTF8("d"));
   bson_t *docs[] = {BCON_NEW("a", BCON_INT32(1)), BCON_NEW("b", BCON_UTF8("two"))};
   size_t after_body;
   (void) state;

   mb_opmsg(&mb, 0);
   mb_body(&mb, body);
   after_body = mb.len;
   mb_sequence(&mb, "documents", docs, 2);
   mb_finish(&mb);

   for (size_t len = HEADER_SIZE + 1; len < mb.len; len++) {
      /* An exact copy of the prefix in its own allocation, so that ASan sees any overrun. */
      uint8_t *prefix = malloc(len);
      fe_opmsg_t msg;
      fe_error_t error = {0};
      bool ok;
      assert_non_null(prefix);
      memcpy(prefix, mb.data, len);
      header_write_int32(prefix, (int32_t) len);
      ok = opmsg_parse(prefix, len, &msg, &error);
      if (len == after_body) {
         if (!ok) {
            fail_msg("prefix of %zu bytes (body only) refused: %s", len, error.message);
         }
         mb_assert_doc_eq(&msg.command, body);
      } else {
         if (ok) {
            fail_msg("prefix of %zu bytes accepted", len);
         }
         assert_int_equal(error.code, FE_ProtocolError);
      }
      opmsg_destroy(&msg);
      free(prefix);
   }

   bson_destroy(docs[0]);
   bson_destroy(docs[1]);
   bson_destroy(body);
   mb_free(&mb);
}

/* ---- invalid documents ---- */

static void
test_invalid_bson(void **state)
{
   msgbuf_t mb = {0};
   bson_t *body = BCON_NEW("insert", BCON_UTF8("c"));
   bson_t bad_utf8 = BSON_INITIALIZER;
   bson_t *docs[2];
   size_t doc_at;
   (void) state;

   /* Invalid UTF-8 in a key (test_header.c covers string values). */
   bson_append_int32(&bad_utf8, "k\xff\xfe", 3, 1);
   docs[0] = BCON_NEW("a", BCON_INT32(1));
   docs[1] = &bad_utf8;

   /* Bad UTF-8 in the body. */
   mb_opmsg(&mb, 0);
   mb_body(&mb, &bad_utf8);
   mb_finish(&mb);
   expect_parse_error(&mb, FE_InvalidBSON, NULL);

   /* Bad UTF-8 in the second document of a sequence. */
   mb_opmsg(&mb, 0);
   mb_body(&mb, body);
   mb_sequence(&mb, "documents", docs, 2);
   mb_finish(&mb);
   expect_parse_error(&mb, FE_InvalidBSON, NULL);

   /* A document in a sequence whose length runs past the section. */
   mb_opmsg(&mb, 0);
   mb_body(&mb, body);
   mb_sequence(&mb, "documents", docs, 1);
   mb_finish(&mb);
   doc_at = mb.len - docs[0]->len;
   header_write_int32(mb.data + doc_at, (int32_t) docs[0]->len + 1);
   expect_parse_error(&mb, FE_ProtocolError, NULL);
   /* ... or is shorter than the smallest document. */
   header_write_int32(mb.data + doc_at, 4);
   expect_parse_error(&mb, FE_ProtocolError, NULL);

   /* A document in a sequence with a corrupt element. */
   mb_opmsg(&mb, 0);
   mb_body(&mb, body);
   mb_sequence(&mb, "documents", docs, 1);
   mb_finish(&mb);
   mb.data[doc_at + 4] = 0x7a; /* an element type that does not exist */
   expect_parse_error(&mb, FE_InvalidBSON, NULL);

   /* A body too deep. */
   {
      bson_t *inner = BCON_NEW("x", BCON_INT32(1));
      for (int i = 1; i < HEADER_MAX_NESTING_DEPTH + 1; i++) {
         bson_t *outer = bson_new();
         bson_append_document(outer, "d", 1, inner);
         bson_destroy(inner);
         inner = outer;
      }
      mb_opmsg(&mb, 0);
      mb_body(&mb, inner);
      mb_finish(&mb);
      expect_parse_error(&mb, FE_InvalidBSON, NULL);
      bson_destroy(inner);
   }

   bson_destroy(docs[0]);
   bson_destroy(&bad_utf8);
   bson_destroy(body);
   mb_free(&mb);
}

static void
test_body_too_large(void **state)
{
   msgbuf_t mb = {0};
   size_t doc_len = HEADER_MAX_COMMAND_BSON_SIZE + 1;
   uint8_t *big = calloc(1, doc_len);
   (void) state;

   /* The size check comes before validation, so the contents do not matter. */
   assert_non_null(big);
   header_write_int32(big, (int32_t) doc_len);
   mb_opmsg(&mb, 0);
   mb_byte(&mb, 0);
   mb_bytes(&mb, big, doc_len);
   mb_finish(&mb);
   expect_parse_error(&mb, FE_BSONObjectTooLarge, NULL);
   free(big);
   mb_free(&mb);
}

/* ---- replies ---- */

static void
test_write_reply(void **state)
{
   struct evbuffer *buffer = evbuffer_new();
   bson_t *reply = BCON_NEW("ok", BCON_DOUBLE(1.0), "n", BCON_INT32(3));
   fe_msg_header_t header;
   fe_opmsg_t msg;
   fe_error_t error = {0};
   uint8_t *bytes;
   size_t len;
   (void) state;

   assert_non_null(buffer);
   /* Appends: whatever is in the buffer already stays in front. */
   evbuffer_add(buffer, "xy", 2);
   assert_true(opmsg_write_reply(buffer, 41, 7, reply));
   len = evbuffer_get_length(buffer);
   assert_int_equal(len, 2 + HEADER_SIZE + 4 + 1 + reply->len);
   bytes = evbuffer_pullup(buffer, -1);
   assert_memory_equal(bytes, "xy", 2);
   bytes += 2;
   len -= 2;

   header_decode(bytes, &header);
   assert_int_equal(header.message_length, (int32_t) len);
   assert_int_equal(header.request_id, 41);
   assert_int_equal(header.response_to, 7);
   assert_int_equal(header.opcode, OP_MSG);
   assert_true(header_check(&header, NULL));
   assert_int_equal(header_read_int32(bytes + HEADER_SIZE), 0); /* flags */
   assert_int_equal(bytes[HEADER_SIZE + 4], 0);                 /* kind 0 */
   assert_memory_equal(bytes + HEADER_SIZE + 5, bson_get_data(reply), reply->len);

   /* The reply parses back as the same document. */
   assert_true(opmsg_parse(bytes, len, &msg, &error));
   assert_int_equal(msg.flags, 0);
   mb_assert_doc_eq(&msg.command, reply);
   opmsg_destroy(&msg);

   /* Two replies in a row frame independently. */
   evbuffer_drain(buffer, evbuffer_get_length(buffer));
   assert_true(opmsg_write_reply(buffer, 1, 2, reply));
   assert_true(opmsg_write_reply(buffer, 3, 4, reply));
   bytes = evbuffer_pullup(buffer, -1);
   header_decode(bytes + HEADER_SIZE + 5 + reply->len, &header);
   assert_int_equal(header.request_id, 3);
   assert_int_equal(header.response_to, 4);

   evbuffer_free(buffer);
   bson_destroy(reply);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crc32c),
      cmocka_unit_test(test_body_only),
      cmocka_unit_test(test_sequences_merged),
      cmocka_unit_test(test_empty_sequence),
      cmocka_unit_test(test_command_outlives_parse),
      cmocka_unit_test(test_flags),
      cmocka_unit_test(test_checksum),
      cmocka_unit_test(test_body_count),
      cmocka_unit_test(test_unknown_kind),
      cmocka_unit_test(test_sequence_identifiers),
      cmocka_unit_test(test_bad_section_lengths),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_invalid_bson),
      cmocka_unit_test(test_body_too_large),
      cmocka_unit_test(test_write_reply),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
