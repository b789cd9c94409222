/*
 * failpoint.h: the failCommand fail point, as mongod has it for tests (enableTestCommands):
 * configureFailPoint arms it, and dispatch asks it before each command whether to fail it,
 * close the connection, block, or attach a writeConcernError.
 */
#ifndef FE_FAILPOINT_H
#define FE_FAILPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "commands/dispatch.h"

/* What the fail point asks of one command. Zero-initialize; failpoint_hit_clear() releases. */
typedef struct fe_failpoint_hit {
   bool triggered;
   bool close_connection;       /* close without a reply */
   int64_t block_ms;            /* wait this long first */
   int32_t error_code;          /* fail with this code; 0: run the command */
   bson_t *error_labels;        /* owned; an array document, or NULL */
   bson_t *write_concern_error; /* owned; appended to the reply of a command that ran */
} fe_failpoint_hit_t;

/* configureFailPoint: refused as an unknown command unless test commands are enabled. */
bool failpoint_configure(fe_ctx_t *ctx, fe_error_t *error);

/* Whether the armed failCommand applies to the command of ctx; consumes one activation when it
 * does. Returns true and fills *hit when it triggers. */
bool failpoint_check(const fe_ctx_t *ctx, fe_failpoint_hit_t *hit);

void failpoint_hit_clear(fe_failpoint_hit_t *hit);

#endif /* FE_FAILPOINT_H */
