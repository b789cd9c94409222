/*
 * header.c: message framing, limits, and validation of BSON received from clients.
 */
#include "wire/header.h"

#include <string.h>

#include <bson/bson.h>

static bool check_values(const bson_t *doc, int depth_left, fe_error_t *error);
static bool utf8_valid(const char *text, size_t len, bool allow_null);
static bool key_valid(const char *key);

void
header_decode(const uint8_t *data, fe_msg_header_t *header)
{
   header->message_length = header_read_int32(data);
   header->request_id = header_read_int32(data + 4);
   header->response_to = header_read_int32(data + 8);
   header->opcode = header_read_int32(data + 12);
}

bool
header_check(const fe_msg_header_t *header, fe_error_t *error)
{
   if (header->message_length <= HEADER_SIZE || header->message_length > HEADER_MAX_MESSAGE_SIZE) {
      return error_set(error, FE_ProtocolError,
                       "message length %d is outside the allowed range (%d to %d bytes)",
                       header->message_length, HEADER_SIZE + 1, HEADER_MAX_MESSAGE_SIZE);
   }
   return true;
}

void
header_encode(const fe_msg_header_t *header, uint8_t *out)
{
   header_write_int32(out, header->message_length);
   header_write_int32(out + 4, header->request_id);
   header_write_int32(out + 8, header->response_to);
   header_write_int32(out + 12, header->opcode);
}

int32_t
header_read_int32(const uint8_t *data)
{
   uint32_t value = (uint32_t) data[0] | (uint32_t) data[1] << 8 | (uint32_t) data[2] << 16 |
                    (uint32_t) data[3] << 24;
   return (int32_t) value;
}

void
header_write_int32(uint8_t *out, int32_t value)
{
   uint32_t bits = (uint32_t) value;
   out[0] = (uint8_t) bits;
   out[1] = (uint8_t) (bits >> 8);
   out[2] = (uint8_t) (bits >> 16);
   out[3] = (uint8_t) (bits >> 24);
}

bool
header_validate_bson(const uint8_t *data, size_t len, int max_depth, fe_error_t *error)
{
   bson_t doc;
   fe_error_t local;

   if (!error) {
      error = &local; /* check_values() reads back what it set */
   }
   error_clear(error);
   if (len < 5 || (size_t) header_read_int32(data) != len || !bson_init_static(&doc, data, len)) {
      return error_set(error, FE_InvalidBSON, "invalid BSON: bad document length");
   }
   return check_values(&doc, max_depth, error);
}

/* One pass over a document: its structure (the iterator checks every element's bounds), the
 * UTF-8 of keys and string values (MongoDB stores strings with embedded NUL bytes, so only
 * well-formed UTF-8 is demanded), and the nesting depth. Every client document goes through
 * here, so it walks the bytes once instead of bson_validate() and a second walk. */
static bool
check_values(const bson_t *doc, int depth_left, fe_error_t *error)
{
   bson_iter_t iter;

   if (depth_left <= 0) {
      return error_set(error, FE_InvalidBSON, "BSON document nested deeper than %d levels",
                       HEADER_MAX_NESTING_DEPTH);
   }
   if (!bson_iter_init(&iter, doc)) {
      return error_set(error, FE_InvalidBSON, "invalid BSON document");
   }
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      const char *text = NULL;
      uint32_t text_len = 0;
      const uint8_t *data;
      uint32_t len;
      bson_t child;

      switch (bson_iter_type(&iter)) {
      case BSON_TYPE_UTF8:
         text = bson_iter_utf8(&iter, &text_len);
         break;
      case BSON_TYPE_SYMBOL:
         text = bson_iter_symbol(&iter, &text_len);
         break;
      case BSON_TYPE_CODE:
         text = bson_iter_code(&iter, &text_len);
         break;
      case BSON_TYPE_DBPOINTER: {
         const bson_oid_t *oid;
         bson_iter_dbpointer(&iter, &text_len, &text, &oid);
         break;
      }
      case BSON_TYPE_DOCUMENT:
      case BSON_TYPE_ARRAY:
         if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            bson_iter_document(&iter, &len, &data);
         } else {
            bson_iter_array(&iter, &len, &data);
         }
         if (!bson_init_static(&child, data, len) || !check_values(&child, depth_left - 1, error)) {
            return error->code ? false : error_set(error, FE_InvalidBSON, "invalid BSON document");
         }
         break;
      case BSON_TYPE_CODEWSCOPE:
         text = bson_iter_codewscope(&iter, &text_len, &len, &data);
         if (!bson_init_static(&child, data, len) || !check_values(&child, depth_left - 1, error)) {
            return error->code ? false : error_set(error, FE_InvalidBSON, "invalid BSON document");
         }
         break;
      default:
         break;
      }
      if (text && !utf8_valid(text, text_len, true)) {
         return error_set(error, FE_InvalidBSON, "invalid UTF-8 in the string of field '%s'", key);
      }
      if (!key_valid(key)) {
         return error_set(error, FE_InvalidBSON, "invalid UTF-8 in a field name");
      }
   }
   if (iter.err_off != 0) {
      return error_set(error, FE_InvalidBSON, "invalid BSON at offset %u", iter.err_off);
   }
   return true;
}

/* bson_utf8_validate() decodes every character; nearly all keys and strings are ASCII, which
 * is valid UTF-8 as it is, so the decoder runs only from the first byte that is not. */
static bool
utf8_valid(const char *text, size_t len, bool allow_null)
{
   for (size_t i = 0; i < len; i++) {
      unsigned char c = (unsigned char) text[i];
      if (c >= 0x80 || (c == 0 && !allow_null)) {
         return bson_utf8_validate(text + i, len - i, allow_null);
      }
   }
   return true;
}

/* A key as bson_utf8_validate(key, strlen(key), false) checks it, in one walk. */
static bool
key_valid(const char *key)
{
   for (size_t i = 0; key[i]; i++) {
      if ((unsigned char) key[i] >= 0x80) {
         return bson_utf8_validate(key + i, strlen(key + i), false);
      }
   }
   return true;
}
