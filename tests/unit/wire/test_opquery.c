/*
 * test_opquery.c: legacy OP_QUERY commands and their OP_REPLY answers (core/wire/opquery.c).
 */
#include "msgbuf.h"

#include <event2/buffer.h>

#include "wire/opquery.h"

/* Builds OP_QUERY: flags, fullCollectionName, numberToSkip 0, numberToReturn -1, query, and an
 * optional returnFieldsSelector. */
static void
build_query(msgbuf_t *mb, const char *collection, const bson_t *query, const bson_t *fields)
{
   mb_header(mb, 99, OP_QUERY);
   mb_int32(mb, 4); /* SecondaryOk, which a hello from a driver may carry */
   mb_cstring(mb, collection);
   mb_int32(mb, 0);
   mb_int32(mb, -1);
   mb_doc(mb, query);
   if (fields) {
      mb_doc(mb, fields);
   }
   mb_finish(mb);
}

static void
expect_error(const msgbuf_t *mb, int32_t code)
{
   fe_opquery_t q;
   fe_error_t error = {0};
   assert_false(opquery_parse(mb->data, mb->len, &q, &error));
   if (error.code != code) {
      fail_msg("expected code %d, got %d: %s", code, error.code, error.message);
   }
   assert_true(error.message[0] != '\0');
   bson_destroy(&q.query);
}

static void
test_admin_cmd(void **state)
{
   msgbuf_t mb = {0};
   bson_t *hello = BCON_NEW("isMaster", BCON_INT32(1), "helloOk", BCON_BOOL(true), "client", "{",
                            "driver", "{", "name", BCON_UTF8("test"), "}", "}");
   fe_opquery_t q;
   fe_error_t error = {0};
   (void) state;

   build_query(&mb, "admin.$cmd", hello, NULL);
   assert_true(opquery_parse(mb.data, mb.len, &q, &error));
   assert_int_equal(q.flags, 4);
   assert_string_equal(q.db, "admin");
   mb_assert_doc_eq(&q.query, hello);
   bson_destroy(&q.query);

   /* Another database, and a returnFieldsSelector after the query, which is ignored. */
   {
      bson_t *fields = BCON_NEW("x", BCON_INT32(1));
      build_query(&mb, "my_db.$cmd", hello, fields);
      assert_true(opquery_parse(mb.data, mb.len, &q, &error));
      assert_string_equal(q.db, "my_db");
      mb_assert_doc_eq(&q.query, hello);
      bson_destroy(&q.query);
      bson_destroy(fields);
   }

   bson_destroy(hello);
   mb_free(&mb);
}

static void
test_query_wrapper(void **state)
{
   msgbuf_t mb = {0};
   bson_t *wrapped = BCON_NEW("$query", "{", "hello", BCON_INT32(1), "}", "$readPreference", "{",
                              "mode", BCON_UTF8("secondaryPreferred"), "}");
   bson_t *inner = BCON_NEW("hello", BCON_INT32(1));
   bson_t *not_doc = BCON_NEW("$query", BCON_INT32(5));
   fe_opquery_t q;
   fe_error_t error = {0};
   (void) state;

   build_query(&mb, "admin.$cmd", wrapped, NULL);
   assert_true(opquery_parse(mb.data, mb.len, &q, &error));
   assert_string_equal(q.db, "admin");
   mb_assert_doc_eq(&q.query, inner);
   bson_destroy(&q.query);

   /* A $query that is not a document is not a wrapper: the command is left as sent. */
   build_query(&mb, "admin.$cmd", not_doc, NULL);
   assert_true(opquery_parse(mb.data, mb.len, &q, &error));
   mb_assert_doc_eq(&q.query, not_doc);
   bson_destroy(&q.query);

   bson_destroy(not_doc);
   bson_destroy(inner);
   bson_destroy(wrapped);
   mb_free(&mb);
}

static void
test_not_a_command(void **state)
{
   msgbuf_t mb = {0};
   bson_t *query = BCON_NEW("a", BCON_INT32(1));
   const char *names[] = {"test.coll", "admin.$cmdx", "admin.cmd", "$cmd", ".$cmd",
                          "",          "admin.$cm"};
   char long_db[200];
   (void) state;

   for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
      build_query(&mb, names[i], query, NULL);
      expect_error(&mb, FE_ProtocolError);
   }
   /* A database name longer than the parser's buffer is refused, not truncated. */
   memset(long_db, 'd', sizeof long_db);
   strcpy(long_db + sizeof long_db - sizeof ".$cmd", ".$cmd");
   build_query(&mb, long_db, query, NULL);
   expect_error(&mb, FE_ProtocolError);

   bson_destroy(query);
   mb_free(&mb);
}

static void
test_truncated(void **state)
{
   msgbuf_t mb = {0};
   bson_t *query = BCON_NEW("hello", BCON_INT32(1));
   (void) state;

   build_query(&mb, "admin.$cmd", query, NULL);
   for (size_t len = HEADER_SIZE; len < mb.len; len++) {
      uint8_t *prefix = malloc(len);
      fe_opquery_t q;
      fe_error_t error = {0};
      assert_non_null(prefix);
      memcpy(prefix, mb.data, len);
      header_write_int32(prefix, (int32_t) len);
      if (opquery_parse(prefix, len, &q, &error)) {
         fail_msg("prefix of %zu bytes accepted", len);
      }
      assert_int_equal(error.code, FE_ProtocolError);
      bson_destroy(&q.query);
      free(prefix);
   }

   /* A document length that disagrees with the message. */
   build_query(&mb, "admin.$cmd", query, NULL);
   header_write_int32(mb.data + mb.len - query->len, (int32_t) query->len + 1);
   expect_error(&mb, FE_ProtocolError);
   header_write_int32(mb.data + mb.len - query->len, 4);
   expect_error(&mb, FE_ProtocolError);

   bson_destroy(query);
   mb_free(&mb);
}

static void
test_invalid_bson(void **state)
{
   msgbuf_t mb = {0};
   bson_t bad = BSON_INITIALIZER;
   (void) state;

   bson_append_int32(&bad, "hello\xc0\xaf", 7, 1); /* an overlong encoding of '/' in a key */
   build_query(&mb, "admin.$cmd", &bad, NULL);
   expect_error(&mb, FE_InvalidBSON);
   bson_destroy(&bad);
   mb_free(&mb);
}

static void
test_write_reply(void **state)
{
   struct evbuffer *buffer = evbuffer_new();
   bson_t *reply = BCON_NEW("ismaster", BCON_BOOL(true), "ok", BCON_DOUBLE(1.0));
   fe_msg_header_t header;
   uint8_t *bytes;
   size_t len;
   (void) state;

   assert_true(opquery_write_reply(buffer, 5, 99, reply));
   len = evbuffer_get_length(buffer);
   /* header, responseFlags, cursorID (8), startingFrom, numberReturned, one document */
   assert_int_equal(len, HEADER_SIZE + 4 + 8 + 4 + 4 + reply->len);
   bytes = evbuffer_pullup(buffer, -1);
   header_decode(bytes, &header);
   assert_int_equal(header.message_length, (int32_t) len);
   assert_int_equal(header.request_id, 5);
   assert_int_equal(header.response_to, 99);
   assert_int_equal(header.opcode, OP_REPLY);
   assert_int_equal(header_read_int32(bytes + 16), 8); /* AwaitCapable */
   assert_int_equal(header_read_int32(bytes + 20), 0); /* cursorID */
   assert_int_equal(header_read_int32(bytes + 24), 0);
   assert_int_equal(header_read_int32(bytes + 28), 0); /* startingFrom */
   assert_int_equal(header_read_int32(bytes + 32), 1); /* numberReturned */
   assert_memory_equal(bytes + 36, bson_get_data(reply), reply->len);
   assert_true(header_validate_bson(bytes + 36, reply->len, HEADER_MAX_NESTING_DEPTH, NULL));

   evbuffer_free(buffer);
   bson_destroy(reply);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_admin_cmd),     cmocka_unit_test(test_query_wrapper),
      cmocka_unit_test(test_not_a_command), cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_invalid_bson),  cmocka_unit_test(test_write_reply),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
