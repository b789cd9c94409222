/*
 * opquery.h: legacy OP_QUERY, which drivers still use for the first hello of a connection,
 * answered with OP_REPLY. Only commands (a collection named "$cmd") are served.
 */
#ifndef FE_OPQUERY_H
#define FE_OPQUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "error/error.h"

typedef struct fe_opquery {
   int32_t flags;
   char db[128]; /* the database of "<db>.$cmd" */
   bson_t query; /* borrows the message bytes; the command, unwrapped from $query if needed */
} fe_opquery_t;

/* Parses a whole OP_QUERY message, header included. Errors: 17 ProtocolError, 22 InvalidBSON,
 * 352 UnsupportedOpQueryCommand-like BadValue for a query that is not a command. */
bool opquery_parse(const uint8_t *message, size_t message_len, fe_opquery_t *out,
                   fe_error_t *error);

struct evbuffer;
/* Appends an OP_REPLY carrying one document. */
bool opquery_write_reply(struct evbuffer *buffer, int32_t request_id, int32_t response_to,
                         const bson_t *reply);

#endif /* FE_OPQUERY_H */
