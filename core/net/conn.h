/*
 * conn.h: one client connection, pinned to one worker for its whole life.
 *
 * States: reading (waiting for a full message), then each message runs to completion on the
 * worker; on a protocol error or at shutdown the connection becomes closing: it stops reading,
 * flushes what it has written, and conn_close() frees it in exactly one place.
 */
#ifndef FE_CONN_H
#define FE_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "server/server.h"

struct bufferevent;
struct event;

typedef enum conn_state {
   CONN_READING,
   CONN_CLOSING, /* flushing the last replies; no more reads */
} conn_state_t;

struct fe_conn {
   fe_worker_t *worker;      /* borrowed */
   struct bufferevent *bev;  /* owned; closes the socket when freed; used for output only */
   struct event *read_event; /* owned; the socket's readability (conn.c reads it itself) */
   struct evbuffer *input;   /* owned; bytes read and not yet handled */
   struct evbuffer *replies; /* owned; replies of this wakeup, written at its end */
   int64_t id;               /* connectionId, as hello reports it */
   char peer[64];            /* "host:port" of the client */
   conn_state_t state;
   int32_t next_request_id;
   bson_t *client_metadata;  /* owned; the hello `client` document, NULL until one comes */
   bool close_without_reply; /* set by the failCommand fail point's closeConnection */
   fe_conn_t *prev;
   fe_conn_t *next;
};

/* Adopts an accepted socket on the worker's thread. Closes fd on failure. */
void conn_adopt(fe_worker_t *worker, int fd);

/* Stops reading, flushes pending output, then closes. */
void conn_close_after_flush(fe_conn_t *conn);

/* Frees the connection and closes its socket. The one place a connection dies. */
void conn_close(fe_conn_t *conn);

#endif /* FE_CONN_H */
