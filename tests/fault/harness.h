/*
 * harness.h: an in-process server for the fault-injection tests (tests/fault/README.md).
 *
 * The harness sets the server up as server_start() does, minus the listener and the worker
 * thread: it loads a backend through the registry, opens it, initializes one worker, and hands
 * the worker one end of a socket pair through worker_hand_over(), exactly as the listener does
 * with an accepted socket. The test drives the worker's event loop itself, on its own thread,
 * so a command runs through the real path (on_read, opmsg_parse, dispatch_command, the
 * handlers, opmsg_write_reply, flush_replies) and a fault hook sees every allocation and
 * backend call a command makes, deterministically.
 */
#ifndef FE_FAULT_HARNESS_H
#define FE_FAULT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include <ferret/backend.h>

#include "server/server.h"

#define FH_DB "fault"

typedef struct fh {
   fe_server_t *server; /* owned */
   fe_worker_t *worker; /* borrowed from server */
   int client;          /* owned; our end of the connection, -1 when closed */
   int32_t request_id;
   uint8_t *buffer; /* owned (bson_malloc); reply bytes */
   size_t buffer_cap;
} fh_t;

typedef enum fh_result {
   FH_REPLY,   /* a reply came; *reply holds its body */
   FH_CLOSED,  /* the server closed the connection */
   FH_TIMEOUT, /* no reply within the deadline */
   FH_BAD,     /* a reply that is not a well-formed OP_MSG */
} fh_result_t;

/* Loads the backend at path, opens it with items, starts one worker. Exits on failure. */
fh_t *fh_open(const char *path, const ferret_config_item_t *items, size_t count);

/* Closes the connection and releases everything, as server_destroy() does. */
void fh_close(fh_t *h);

/* Hands a new socket to the worker, as the listener does, and runs the loop until it is
 * adopted or refused. False when the server closed it (its allocation failed). */
bool fh_connect(fh_t *h);

/* Sends bytes as one message and waits for the reply; *reply is initialized in every case. */
fh_result_t fh_roundtrip(fh_t *h, const uint8_t *message, size_t len, bson_t *reply);

/* Sends command (with $db added when missing) as an OP_MSG. */
fh_result_t fh_command(fh_t *h, const bson_t *command, bson_t *reply);

/* The same from relaxed extended JSON; exits on a JSON error. */
fh_result_t fh_command_json(fh_t *h, const char *json, bson_t *reply);

/* Runs a command that must succeed; exits otherwise. */
void fh_must(fh_t *h, const char *json, bson_t *reply /* NULL to discard */);

/* ---- the command set both tests drive ---- */

typedef struct fh_case fh_case_t;

/* Per-run state a case keeps between building and verifying. */
typedef struct fh_run {
   bson_t command; /* owned */
   uint8_t *raw;   /* owned (bson_malloc); a raw message instead of command, or NULL */
   size_t raw_len;
} fh_run_t;

struct fh_case {
   const char *name;
   const char *json; /* the command, or NULL when prepare() builds it */
   /* Optional: builds run->command or run->raw from the seeded state (unarmed). */
   void (*prepare)(fh_t *h, const fh_case_t *c, fh_run_t *run);
   /* Optional: after an armed run, checks (unarmed, through the same connection) that every
    * write the reply acknowledged is there. False with *why on a lost write. */
   bool (*verify)(fh_t *h, const fh_run_t *run, const bson_t *reply, char *why, size_t size);
};

/* The representative command set, terminated by a zeroed entry. */
extern const fh_case_t fh_cases[];

/* Resets the database to the same seeded state before every run. */
void fh_seed(fh_t *h);

/* Prepares a run of c; fh_run_destroy() releases it. */
void fh_run_prepare(fh_t *h, const fh_case_t *c, fh_run_t *run);
fh_result_t fh_run_send(fh_t *h, const fh_run_t *run, bson_t *reply);
void fh_run_destroy(fh_run_t *run);

/* Classifies a reply. FH_OK: ok 1 with no writeErrors; FH_WRITE_ERRORS: ok 1 with well-formed
 * writeErrors; FH_ERROR: a well-formed {ok: 0, errmsg, code, codeName}; FH_MALFORMED: anything
 * else, with *why. *code receives the error's code (the first writeError's for writes). */
typedef enum fh_kind { FH_OK, FH_WRITE_ERRORS, FH_ERROR, FH_MALFORMED } fh_kind_t;
fh_kind_t fh_classify(const bson_t *reply, int32_t *code, char *why, size_t size);

/* The reply as JSON with what differs between identical runs taken out (times, connection and
 * cursor ids); bson_free() it. Two runs of the same command on the same state give equal
 * strings. */
char *fh_normalize(const bson_t *reply);

/* After a run: the connection still answers ping. */
bool fh_alive(fh_t *h);

#endif /* FE_FAULT_HARNESS_H */
