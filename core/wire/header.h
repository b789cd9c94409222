/*
 * header.h: MongoDB wire-protocol framing: the 16-byte message header and the size limits.
 */
#ifndef FE_HEADER_H
#define FE_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error/error.h"

#define HEADER_SIZE 16
#define HEADER_MAX_MESSAGE_SIZE 48000000
#define HEADER_MAX_BSON_SIZE (16 * 1024 * 1024)
/* Room MongoDB allows a command document above a user document's maximum. */
#define HEADER_MAX_COMMAND_BSON_SIZE (HEADER_MAX_BSON_SIZE + 16 * 1024)
#define HEADER_MAX_WRITE_BATCH 100000
#define HEADER_MAX_NESTING_DEPTH 200

enum {
   OP_REPLY = 1,
   OP_UPDATE = 2001,
   OP_INSERT = 2002,
   OP_QUERY = 2004,
   OP_GET_MORE = 2005,
   OP_DELETE = 2006,
   OP_KILL_CURSORS = 2007,
   OP_COMPRESSED = 2012,
   OP_MSG = 2013,
};

typedef struct fe_msg_header {
   int32_t message_length;
   int32_t request_id;
   int32_t response_to;
   int32_t opcode;
} fe_msg_header_t;

/* Decodes the first HEADER_SIZE bytes of data (little-endian). */
void header_decode(const uint8_t *data, fe_msg_header_t *header);

/* Checks a header before its message is buffered: the length must lie within
 * [HEADER_SIZE + 1, HEADER_MAX_MESSAGE_SIZE]. A failure means the stream cannot be trusted:
 * close the connection. */
bool header_check(const fe_msg_header_t *header, fe_error_t *error);

/* Writes a header into 16 bytes at out. */
void header_encode(const fe_msg_header_t *header, uint8_t *out);

/* Little-endian helpers for the wire parsers. */
int32_t header_read_int32(const uint8_t *data);
void header_write_int32(uint8_t *out, int32_t value);

/* Validates one BSON document in place: its bytes, UTF-8 of keys and strings, and nesting
 * depth no greater than max_depth. Code 22 InvalidBSON on failure. */
bool header_validate_bson(const uint8_t *data, size_t len, int max_depth, fe_error_t *error);

#endif /* FE_HEADER_H */
