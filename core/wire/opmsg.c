/*
 * opmsg.c: parsing OP_MSG requests and writing OP_MSG replies.
 */
#include "wire/opmsg.h"

#include <string.h>

#include <event2/buffer.h>

#include "wire/header.h"

/* Bits 0-15 are required: a receiver must reject a flag it does not know there. */
#define REQUIRED_FLAG_MASK 0xffffu
#define KNOWN_FLAGS (OPMSG_CHECKSUM_PRESENT | OPMSG_MORE_TO_COME | OPMSG_EXHAUST_ALLOWED)

static bool append_sequence(bson_t *command, const char *identifier, const uint8_t *docs,
                            size_t len, fe_error_t *error);

bool
opmsg_parse(const uint8_t *message, size_t message_len, fe_opmsg_t *out, fe_error_t *error)
{
   const uint8_t *body = message + HEADER_SIZE;
   size_t len = message_len - HEADER_SIZE;
   const uint8_t *body_doc = NULL;
   size_t body_len = 0;
   size_t offset = 4;
   bool have_sequences = false;
   bool ok = false;

   bson_init(&out->command);
   out->flags = 0;
   if (len < 5) {
      error_set(error, FE_ProtocolError, "OP_MSG too short");
      goto done;
   }
   out->flags = (uint32_t) header_read_int32(body);
   if (out->flags & REQUIRED_FLAG_MASK & ~KNOWN_FLAGS) {
      error_set(error, FE_ProtocolError, "OP_MSG has unknown required flag bits 0x%x",
                out->flags & REQUIRED_FLAG_MASK & ~KNOWN_FLAGS);
      goto done;
   }
   if (out->flags & OPMSG_CHECKSUM_PRESENT) {
      uint32_t expected;
      if (len < 9) {
         error_set(error, FE_ProtocolError, "OP_MSG too short for its checksum");
         goto done;
      }
      len -= 4;
      expected = (uint32_t) header_read_int32(body + len);
      if (opmsg_crc32c(message, message_len - 4) != expected) {
         error_set(error, FE_ProtocolError, "OP_MSG checksum mismatch");
         goto done;
      }
   }

   /* First pass: find the body, validate every document. */
   while (offset < len) {
      uint8_t kind = body[offset++];
      if (kind == 0) {
         int32_t doc_len;
         if (body_doc) {
            error_set(error, FE_ProtocolError, "OP_MSG has more than one body section");
            goto done;
         }
         if (len - offset < 5) {
            error_set(error, FE_ProtocolError, "OP_MSG body section truncated");
            goto done;
         }
         doc_len = header_read_int32(body + offset);
         if (doc_len < 5 || (size_t) doc_len > len - offset) {
            error_set(error, FE_ProtocolError, "OP_MSG body section length %d is invalid", doc_len);
            goto done;
         }
         if (doc_len > HEADER_MAX_COMMAND_BSON_SIZE) {
            error_set(error, FE_BSONObjectTooLarge, "command document of %d bytes is too large",
                      doc_len);
            goto done;
         }
         if (!header_validate_bson(body + offset, (size_t) doc_len, HEADER_MAX_NESTING_DEPTH,
                                   error)) {
            goto done;
         }
         body_doc = body + offset;
         body_len = (size_t) doc_len;
         offset += (size_t) doc_len;
      } else if (kind == 1) {
         int32_t section_len;
         if (len - offset < 4) {
            error_set(error, FE_ProtocolError, "OP_MSG document sequence truncated");
            goto done;
         }
         section_len = header_read_int32(body + offset);
         if (section_len < 5 || (size_t) section_len > len - offset) {
            error_set(error, FE_ProtocolError, "OP_MSG document sequence length %d is invalid",
                      section_len);
            goto done;
         }
         have_sequences = true;
         offset += (size_t) section_len;
      } else {
         error_set(error, FE_ProtocolError, "OP_MSG has unknown section kind %u", kind);
         goto done;
      }
   }
   if (!body_doc) {
      error_set(error, FE_ProtocolError, "OP_MSG has no body section");
      goto done;
   }

   if (!have_sequences) {
      bson_destroy(&out->command);
      if (!bson_init_static(&out->command, body_doc, body_len)) {
         bson_init(&out->command);
         error_set(error, FE_InvalidBSON, "invalid BSON in OP_MSG body");
         goto done;
      }
      ok = true;
      goto done;
   }

   /* Second pass: copy the body and append each sequence as an array. */
   {
      bson_t body_bson;
      bson_init_static(&body_bson, body_doc, body_len);
      bson_destroy(&out->command);
      bson_copy_to(&body_bson, &out->command);
   }
   offset = 4;
   while (offset < len) {
      uint8_t kind = body[offset++];
      int32_t section_len = header_read_int32(body + offset);
      if (kind == 1) {
         const uint8_t *section = body + offset + 4;
         size_t remaining = (size_t) section_len - 4;
         size_t id_len = strnlen((const char *) section, remaining);
         if (id_len == remaining || id_len == 0) {
            error_set(error, FE_ProtocolError, "OP_MSG document sequence has a bad identifier");
            goto done;
         }
         if (!append_sequence(&out->command, (const char *) section, section + id_len + 1,
                              remaining - id_len - 1, error)) {
            goto done;
         }
      }
      offset += (size_t) section_len;
   }
   ok = true;

done:
   return ok;
}

void
opmsg_destroy(fe_opmsg_t *msg)
{
   bson_destroy(&msg->command);
}

bool
opmsg_write_reply(struct evbuffer *buffer, int32_t request_id, int32_t response_to,
                  const bson_t *reply)
{
   uint8_t prefix[HEADER_SIZE + 5];
   fe_msg_header_t header = {
      .message_length = (int32_t) (sizeof prefix + reply->len),
      .request_id = request_id,
      .response_to = response_to,
      .opcode = OP_MSG,
   };
   header_encode(&header, prefix);
   header_write_int32(prefix + HEADER_SIZE, 0); /* flags */
   prefix[HEADER_SIZE + 4] = 0;                 /* section kind 0: body */
   /* Room for the whole message first: a header added without its body would put the
    * stream out of step for every later reply. */
   return evbuffer_expand(buffer, sizeof prefix + reply->len) == 0 &&
          evbuffer_add(buffer, prefix, sizeof prefix) == 0 &&
          evbuffer_add(buffer, bson_get_data(reply), reply->len) == 0;
}

uint32_t
opmsg_crc32c(const uint8_t *data, size_t len)
{
   uint32_t crc = 0xffffffffu;
   for (size_t i = 0; i < len; i++) {
      crc ^= data[i];
      for (int bit = 0; bit < 8; bit++) {
         crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
      }
   }
   return ~crc;
}

static bool
append_sequence(bson_t *command, const char *identifier, const uint8_t *docs, size_t len,
                fe_error_t *error)
{
   bson_t array;
   size_t offset = 0;
   uint32_t index = 0;
   bson_iter_t existing;

   if (bson_iter_init_find(&existing, command, identifier)) {
      return error_set(error, FE_ProtocolError,
                       "OP_MSG document sequence '%s' duplicates a body field", identifier);
   }
   bson_append_array_begin(command, identifier, -1, &array);
   while (offset < len) {
      int32_t doc_len;
      bson_t doc;
      char key[16];
      const char *key_ptr;
      if (len - offset < 5) {
         bson_append_array_end(command, &array);
         return error_set(error, FE_ProtocolError, "OP_MSG document sequence truncated");
      }
      doc_len = header_read_int32(docs + offset);
      if (doc_len < 5 || (size_t) doc_len > len - offset) {
         bson_append_array_end(command, &array);
         return error_set(error, FE_ProtocolError, "OP_MSG document sequence has a bad length");
      }
      if (!header_validate_bson(docs + offset, (size_t) doc_len, HEADER_MAX_NESTING_DEPTH, error)) {
         bson_append_array_end(command, &array);
         return false;
      }
      bson_init_static(&doc, docs + offset, (size_t) doc_len);
      bson_uint32_to_string(index++, &key_ptr, key, sizeof key);
      bson_append_document(&array, key_ptr, -1, &doc);
      offset += (size_t) doc_len;
   }
   bson_append_array_end(command, &array);
   return true;
}
