/*
 * fuzz_opmsg.c: libFuzzer target for the wire parsers. Any byte string, framed as a message,
 * must parse or fail cleanly: no crash, no read outside the buffer, no leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/header.h"
#include "wire/opmsg.h"
#include "wire/opquery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
   /* An exact-size copy, so the sanitizer sees any read past the message. */
   uint8_t *message = malloc(HEADER_SIZE + size);
   fe_msg_header_t header = {
      .message_length = (int32_t) (HEADER_SIZE + size),
      .request_id = 1,
      .response_to = 0,
      .opcode = OP_MSG,
   };
   fe_opmsg_t msg;
   fe_opquery_t query;
   fe_error_t error;

   if (!message || size > HEADER_MAX_MESSAGE_SIZE - HEADER_SIZE) {
      free(message);
      return 0;
   }
   header_encode(&header, message);
   memcpy(message + HEADER_SIZE, data, size);
   opmsg_parse(message, HEADER_SIZE + size, &msg, &error);
   opmsg_destroy(&msg);
   opquery_parse(message, HEADER_SIZE + size, &query, &error);
   bson_destroy(&query.query);
   free(message);
   return 0;
}
