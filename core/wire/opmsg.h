/*
 * opmsg.h: OP_MSG, the wire protocol's message for every command since MongoDB 3.6.
 */
#ifndef FE_OPMSG_H
#define FE_OPMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "error/error.h"

#define OPMSG_CHECKSUM_PRESENT (1u << 0)
#define OPMSG_MORE_TO_COME (1u << 1)
#define OPMSG_EXHAUST_ALLOWED (1u << 16)

typedef struct fe_opmsg {
   uint32_t flags;
   /* The command: the body section with each document sequence (kind 1) appended as an array
    * field named by its identifier, as MongoDB treats them. Initialized by opmsg_parse even on
    * failure; release with opmsg_destroy(). May borrow the message bytes. */
   bson_t command;
} fe_opmsg_t;

/* Parses a whole OP_MSG message, header included (message_len > HEADER_SIZE, checked by the
 * framing). Every document is validated and a present checksum verified. Errors: 17
 * ProtocolError for framing, 22 InvalidBSON, 10334 BSONObjectTooLarge. The message bytes must
 * outlive out->command. */
bool opmsg_parse(const uint8_t *message, size_t message_len, fe_opmsg_t *out, fe_error_t *error);

void opmsg_destroy(fe_opmsg_t *msg);

/* Appends an OP_MSG with one body section holding reply to buffer (a libevent evbuffer).
 * Returns false only when out of memory. */
struct evbuffer;
bool opmsg_write_reply(struct evbuffer *buffer, int32_t request_id, int32_t response_to,
                       const bson_t *reply);

/* CRC-32C (Castagnoli) of data, as the checksum of OP_MSG uses. */
uint32_t opmsg_crc32c(const uint8_t *data, size_t len);

#endif /* FE_OPMSG_H */
