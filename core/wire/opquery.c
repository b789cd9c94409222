/*
 * opquery.c: legacy OP_QUERY commands and their OP_REPLY answers.
 */
#include "wire/opquery.h"

#include <string.h>

#include <event2/buffer.h>

#include "wire/header.h"

#define CMD_SUFFIX ".$cmd"

bool
opquery_parse(const uint8_t *message, size_t message_len, fe_opquery_t *out, fe_error_t *error)
{
   const uint8_t *cursor = message + HEADER_SIZE;
   const uint8_t *end = message + message_len;
   size_t name_len;
   int32_t doc_len;
   bson_iter_t iter;

   memset(out->db, 0, sizeof out->db);
   bson_init(&out->query);
   if (end - cursor < 4) {
      return error_set(error, FE_ProtocolError, "OP_QUERY too short");
   }
   out->flags = header_read_int32(cursor);
   cursor += 4;
   name_len = strnlen((const char *) cursor, (size_t) (end - cursor));
   if (name_len == (size_t) (end - cursor)) {
      return error_set(error, FE_ProtocolError, "OP_QUERY collection name is not terminated");
   }
   if (name_len <= strlen(CMD_SUFFIX) ||
       strcmp((const char *) cursor + name_len - strlen(CMD_SUFFIX), CMD_SUFFIX) != 0 ||
       name_len - strlen(CMD_SUFFIX) >= sizeof out->db) {
      return error_set(error, FE_ProtocolError,
                       "OP_QUERY is only supported for commands; use OP_MSG");
   }
   memcpy(out->db, cursor, name_len - strlen(CMD_SUFFIX));
   cursor += name_len + 1;
   if (end - cursor < 8 + 5) {
      return error_set(error, FE_ProtocolError, "OP_QUERY truncated");
   }
   cursor += 8; /* numberToSkip, numberToReturn */
   doc_len = header_read_int32(cursor);
   if (doc_len < 5 || doc_len > end - cursor) {
      return error_set(error, FE_ProtocolError, "OP_QUERY document length %d is invalid", doc_len);
   }
   if (!header_validate_bson(cursor, (size_t) doc_len, HEADER_MAX_NESTING_DEPTH, error)) {
      return false;
   }
   bson_destroy(&out->query);
   bson_init_static(&out->query, cursor, (size_t) doc_len);
   /* Old drivers wrap the command as {$query: {...}, $readPreference: ...}. */
   if (bson_iter_init_find(&iter, &out->query, "$query") && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      const uint8_t *data;
      uint32_t len;
      bson_iter_document(&iter, &len, &data);
      bson_init_static(&out->query, data, len);
   }
   return true;
}

bool
opquery_write_reply(struct evbuffer *buffer, int32_t request_id, int32_t response_to,
                    const bson_t *reply)
{
   uint8_t prefix[HEADER_SIZE + 20];
   fe_msg_header_t header = {
      .message_length = (int32_t) (sizeof prefix + reply->len),
      .request_id = request_id,
      .response_to = response_to,
      .opcode = OP_REPLY,
   };
   header_encode(&header, prefix);
   header_write_int32(prefix + HEADER_SIZE, 8);      /* responseFlags: AwaitCapable */
   header_write_int32(prefix + HEADER_SIZE + 4, 0);  /* cursorID, low half */
   header_write_int32(prefix + HEADER_SIZE + 8, 0);  /* cursorID, high half */
   header_write_int32(prefix + HEADER_SIZE + 12, 0); /* startingFrom */
   header_write_int32(prefix + HEADER_SIZE + 16, 1); /* numberReturned */
   /* Room for the whole message first, so a failure never leaves half a reply queued. */
   return evbuffer_expand(buffer, sizeof prefix + reply->len) == 0 &&
          evbuffer_add(buffer, prefix, sizeof prefix) == 0 &&
          evbuffer_add(buffer, bson_get_data(reply), reply->len) == 0;
}
