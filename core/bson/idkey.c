/*
 * idkey.c: the canonical byte key of an _id value (see idkey.h).
 *
 * Every value starts with its type bracket (compare_type_bracket() + 1), so values of
 * different brackets never collide. Numbers are written in their canonical decimal form
 * (numeric_canonicalize()), so 1, 1.0, NumberLong(1) and NumberDecimal("1.00") share one key.
 * Variable-length parts carry a length or a terminator, so embedded values cannot run into
 * each other. The key is not order-preserving: backends only test it for equality.
 */
#include "bson/idkey.h"

#include <string.h>

#include "bson/compare.h"
#include "bson/numeric.h"

typedef struct buf {
   uint8_t *data; /* owned */
   size_t len;
   size_t cap;
} buf_t;

enum { NUMBER_NAN, NUMBER_NEG_INF, NUMBER_FINITE, NUMBER_POS_INF, NUMBER_RAW_DOUBLE };

static void buf_put(buf_t *buf, const void *data, size_t len);
static void buf_byte(buf_t *buf, uint8_t b);
static void buf_u32(buf_t *buf, uint32_t v);
static void buf_u64(buf_t *buf, uint64_t v);
static void encode_value(buf_t *buf, const bson_iter_t *iter);
static void encode_children(buf_t *buf, const bson_iter_t *iter, bool names);

bool
idkey_encode(const bson_iter_t *iter, uint8_t **key, size_t *len)
{
   buf_t buf = {NULL, 0, 0};
   bson_type_t type = bson_iter_type(iter);

   *key = NULL;
   *len = 0;
   if (type == BSON_TYPE_ARRAY || type == BSON_TYPE_REGEX || type == BSON_TYPE_UNDEFINED) {
      return false;
   }
   encode_value(&buf, iter);
   *key = buf.data;
   *len = buf.len;
   return true;
}

static void
encode_number(buf_t *buf, const bson_iter_t *iter)
{
   numeric_canon_t canon;
   numeric_canonicalize(iter, &canon);
   if (canon.cls != NUMERIC_FINITE) {
      buf_byte(buf, canon.cls == NUMERIC_NAN       ? NUMBER_NAN
                    : canon.cls == NUMERIC_NEG_INF ? NUMBER_NEG_INF
                                                   : NUMBER_POS_INF);
      return;
   }
   if (canon.raw_double) {
      buf_byte(buf, NUMBER_RAW_DOUBLE);
      buf_u64(buf, canon.raw);
      return;
   }
   buf_byte(buf, NUMBER_FINITE);
   buf_byte(buf, canon.negative);
   buf_u32(buf, (uint32_t) canon.exponent);
   buf_u64(buf, (uint64_t) (canon.coefficient >> 64));
   buf_u64(buf, (uint64_t) canon.coefficient);
}

static void
encode_value(buf_t *buf, const bson_iter_t *iter)
{
   bson_type_t type = bson_iter_type(iter);
   uint32_t len;

   buf_byte(buf, (uint8_t) (compare_type_bracket(type) + 1));
   switch (type) {
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
   case BSON_TYPE_DOUBLE:
   case BSON_TYPE_DECIMAL128:
      encode_number(buf, iter);
      break;
   case BSON_TYPE_UTF8:
   case BSON_TYPE_SYMBOL: {
      const char *s =
         type == BSON_TYPE_UTF8 ? bson_iter_utf8(iter, &len) : bson_iter_symbol(iter, &len);
      buf_u32(buf, len);
      buf_put(buf, s, len);
      break;
   }
   case BSON_TYPE_CODE: {
      const char *s = bson_iter_code(iter, &len);
      buf_u32(buf, len);
      buf_put(buf, s, len);
      break;
   }
   case BSON_TYPE_DOCUMENT:
      encode_children(buf, iter, true);
      break;
   case BSON_TYPE_ARRAY:
      encode_children(buf, iter, false);
      break;
   case BSON_TYPE_BINARY: {
      bson_subtype_t subtype;
      const uint8_t *data;
      bson_iter_binary(iter, &subtype, &len, &data);
      buf_byte(buf, (uint8_t) subtype);
      buf_u32(buf, len);
      buf_put(buf, data, len);
      break;
   }
   case BSON_TYPE_OID:
      buf_put(buf, bson_iter_oid(iter)->bytes, 12);
      break;
   case BSON_TYPE_BOOL:
      buf_byte(buf, bson_iter_bool(iter));
      break;
   case BSON_TYPE_DATE_TIME:
      buf_u64(buf, (uint64_t) bson_iter_date_time(iter));
      break;
   case BSON_TYPE_TIMESTAMP: {
      uint32_t t, i;
      bson_iter_timestamp(iter, &t, &i);
      buf_u32(buf, t);
      buf_u32(buf, i);
      break;
   }
   case BSON_TYPE_REGEX: {
      const char *options;
      const char *pattern = bson_iter_regex(iter, &options);
      buf_put(buf, pattern, strlen(pattern) + 1);
      buf_put(buf, options, strlen(options) + 1);
      break;
   }
   case BSON_TYPE_DBPOINTER: {
      const char *collection;
      const bson_oid_t *oid;
      bson_iter_dbpointer(iter, &len, &collection, &oid);
      buf_u32(buf, len);
      buf_put(buf, collection, len);
      buf_put(buf, oid->bytes, 12);
      break;
   }
   case BSON_TYPE_CODEWSCOPE: {
      uint32_t scope_len;
      const uint8_t *scope;
      const char *code = bson_iter_codewscope(iter, &len, &scope_len, &scope);
      bson_t doc;
      bson_iter_t child;
      buf_u32(buf, len);
      buf_put(buf, code, len);
      if (bson_init_static(&doc, scope, scope_len) && bson_iter_init(&child, &doc)) {
         while (bson_iter_next(&child)) {
            const char *key = bson_iter_key(&child);
            buf_byte(buf, 1);
            buf_put(buf, key, strlen(key) + 1);
            encode_value(buf, &child);
         }
      }
      buf_byte(buf, 0);
      break;
   }
   case BSON_TYPE_EOD:
   case BSON_TYPE_UNDEFINED:
   case BSON_TYPE_NULL:
   case BSON_TYPE_MINKEY:
   case BSON_TYPE_MAXKEY:
      break;
   }
}

/* Each child is 0x01, its name (NUL-terminated, documents only) and its value; 0x00 ends. */
static void
encode_children(buf_t *buf, const bson_iter_t *iter, bool names)
{
   bson_iter_t child;
   if (bson_iter_recurse(iter, &child)) {
      while (bson_iter_next(&child)) {
         buf_byte(buf, 1);
         if (names) {
            const char *key = bson_iter_key(&child);
            buf_put(buf, key, strlen(key) + 1);
         }
         encode_value(buf, &child);
      }
   }
   buf_byte(buf, 0);
}

static void
buf_put(buf_t *buf, const void *data, size_t len)
{
   if (buf->len + len > buf->cap) {
      size_t cap = buf->cap ? buf->cap * 2 : 32;
      while (cap < buf->len + len) {
         cap *= 2;
      }
      buf->data = bson_realloc(buf->data, cap);
      buf->cap = cap;
   }
   if (len > 0) {
      memcpy(buf->data + buf->len, data, len);
   }
   buf->len += len;
}

static void
buf_byte(buf_t *buf, uint8_t b)
{
   buf_put(buf, &b, 1);
}

static void
buf_u32(buf_t *buf, uint32_t v)
{
   uint8_t b[4] = {(uint8_t) (v >> 24), (uint8_t) (v >> 16), (uint8_t) (v >> 8), (uint8_t) v};
   buf_put(buf, b, sizeof b);
}

static void
buf_u64(buf_t *buf, uint64_t v)
{
   buf_u32(buf, (uint32_t) (v >> 32));
   buf_u32(buf, (uint32_t) v);
}
