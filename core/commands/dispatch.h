/*
 * dispatch.h: running one command: lookup in the command table, the checks every command
 * shares, the handler, and the reply envelope.
 */
#ifndef FE_DISPATCH_H
#define FE_DISPATCH_H

#include <stdbool.h>

#include <bson/bson.h>

#include "error/error.h"
#include "server/server.h"

typedef struct fe_conn fe_conn_t;

/* The context a handler runs in; everything borrowed for the duration of the command. */
typedef struct fe_ctx {
   fe_conn_t *conn;
   fe_worker_t *worker;
   fe_server_t *server;
   const char *name;      /* the command name: the first key of command */
   const char *db;        /* the target database ($db) */
   const bson_t *command; /* the whole command document */
   bson_t *reply;         /* the handler appends its fields; the dispatcher adds ok */
   const ferret_backend_methods_t *methods;
   ferret_session_t *session; /* the worker's session, locked for the command */
   uint8_t lsid[16];          /* the logical session id, if has_lsid */
   bool has_lsid;
   /* Owned by the dispatcher; NULL until dispatch_error_details() creates it: fields a failing
    * handler wants in its error reply (keyPattern and keyValue of a duplicate key). */
   bson_t *error_details;
} fe_ctx_t;

typedef bool (*fe_command_fn)(fe_ctx_t *ctx, fe_error_t *error);

enum {
   FE_CMD_ADMIN_ONLY = 1 << 0, /* must run against the admin database */
   FE_CMD_NO_SESSION = 1 << 1, /* runs without locking the worker's backend session */
};

typedef struct fe_command {
   const char *name;
   fe_command_fn handler;
   unsigned flags;
} fe_command_t;

/* Runs command and writes the whole reply (ok: 1 or the error envelope) to *reply, which the
 * caller initialized. legacy_db is the database of an OP_QUERY ("admin" of "admin.$cmd"), or
 * NULL for OP_MSG, where $db names it. */
void dispatch_command(fe_conn_t *conn, const char *legacy_db, const bson_t *command, bson_t *reply);

/* The document whose fields are appended to the error reply if the handler fails. */
bson_t *dispatch_error_details(fe_ctx_t *ctx);

/* Writes {ok: 0, errmsg, code, codeName} to *reply, replacing whatever it held. */
void dispatch_error_reply(const fe_error_t *error, bson_t *reply);

/* The command table, sorted by name (table.c). */
const fe_command_t *table_find(const char *name);

/* Every command, for listCommands; *count receives how many. */
const fe_command_t *table_all(size_t *count);

#endif /* FE_DISPATCH_H */
