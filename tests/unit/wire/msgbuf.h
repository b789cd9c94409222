/*
 * msgbuf.h: building wire-protocol messages byte by byte for the wire tests, so that each
 * test can write exactly the malformed message it means.
 */
#ifndef FE_TEST_MSGBUF_H
#define FE_TEST_MSGBUF_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <bson/bson.h>

#include "wire/header.h"
#include "wire/opmsg.h"

typedef struct msgbuf {
   uint8_t *data; /* owned; mb_free() */
   size_t len;
   size_t cap;
} msgbuf_t;

static inline void
mb_bytes(msgbuf_t *mb, const void *bytes, size_t len)
{
   if (mb->len + len > mb->cap) {
      size_t cap = mb->cap ? mb->cap : 256;
      while (cap < mb->len + len) {
         cap *= 2;
      }
      mb->data = realloc(mb->data, cap);
      assert_non_null(mb->data);
      mb->cap = cap;
   }
   if (len) {
      memcpy(mb->data + mb->len, bytes, len);
   }
   mb->len += len;
}

static inline void
mb_int32(msgbuf_t *mb, int32_t value)
{
   uint8_t bytes[4];
   header_write_int32(bytes, value);
   mb_bytes(mb, bytes, 4);
}

static inline void
mb_byte(msgbuf_t *mb, uint8_t value)
{
   mb_bytes(mb, &value, 1);
}

static inline void
mb_cstring(msgbuf_t *mb, const char *text)
{
   mb_bytes(mb, text, strlen(text) + 1);
}

static inline void
mb_doc(msgbuf_t *mb, const bson_t *doc)
{
   mb_bytes(mb, bson_get_data(doc), doc->len);
}

/* Starts a message: a header whose length mb_finish() fills in. */
static inline void
mb_header(msgbuf_t *mb, int32_t request_id, int32_t opcode)
{
   mb->len = 0;
   mb_int32(mb, 0);
   mb_int32(mb, request_id);
   mb_int32(mb, 0);
   mb_int32(mb, opcode);
}

/* OP_MSG: header and flag bits. */
static inline void
mb_opmsg(msgbuf_t *mb, uint32_t flags)
{
   mb_header(mb, 7, OP_MSG);
   mb_int32(mb, (int32_t) flags);
}

/* A kind 0 section. */
static inline void
mb_body(msgbuf_t *mb, const bson_t *doc)
{
   mb_byte(mb, 0);
   mb_doc(mb, doc);
}

/* A kind 1 section of count documents. */
static inline void
mb_sequence(msgbuf_t *mb, const char *identifier, bson_t *const *docs, size_t count)
{
   size_t size = 4 + strlen(identifier) + 1;
   for (size_t i = 0; i < count; i++) {
      size += docs[i]->len;
   }
   mb_byte(mb, 1);
   mb_int32(mb, (int32_t) size);
   mb_cstring(mb, identifier);
   for (size_t i = 0; i < count; i++) {
      mb_doc(mb, docs[i]);
   }
}

/* Writes the final length into the header. */
static inline void
mb_finish(msgbuf_t *mb)
{
   header_write_int32(mb->data, (int32_t) mb->len);
}

/* Appends the CRC-32C of everything before it, after fixing the length to include it. */
static inline void
mb_finish_checksum(msgbuf_t *mb)
{
   header_write_int32(mb->data, (int32_t) mb->len + 4);
   mb_int32(mb, (int32_t) opmsg_crc32c(mb->data, mb->len));
}

static inline void
mb_free(msgbuf_t *mb)
{
   free(mb->data);
   memset(mb, 0, sizeof *mb);
}

/* Asserts two documents are equal, printing both when not. */
static inline void
mb_assert_doc_eq(const bson_t *got, const bson_t *expected)
{
   if (!bson_equal(got, expected)) {
      char *g = bson_as_canonical_extended_json(got, NULL);
      char *e = bson_as_canonical_extended_json(expected, NULL);
      print_error("expected %s\n     got %s\n", e, g);
      bson_free(g);
      bson_free(e);
      fail();
   }
}

#endif /* FE_TEST_MSGBUF_H */
