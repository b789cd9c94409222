/*
 * server.h: the server's mutable state, in two places (STYLE rule 11): fe_server_t, shared and
 * immutable once the workers start (apart from its atomics and the cursor registry, which locks
 * itself), and fe_worker_t, one per thread.
 */
#ifndef FE_SERVER_H
#define FE_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <ferret/backend.h>

#include "backend/indexes.h"
#include "backend/registry.h"
#include "backend/validators.h"
#include "backend/views.h"
#include "cursor/cursor.h"
#include "server/config.h"
#include "server/ttl.h"

struct event_base;
struct event;
struct evconnlistener;
typedef struct fe_conn fe_conn_t;
typedef struct fe_server fe_server_t;

typedef struct fe_worker {
   fe_server_t *server; /* borrowed */
   int index;
   pthread_t thread;
   struct event_base *base; /* owned */

   /* The backend session. Commands on this worker use it under session_lock; a getMore on
    * another worker may borrow it for a cursor this session opened. */
   ferret_session_t *session; /* owned */
   pthread_mutex_t session_lock;

   /* New connections handed over by the listener thread. */
   pthread_mutex_t inbox_lock;
   int *inbox; /* owned; accepted sockets not yet adopted */
   size_t inbox_count;
   size_t inbox_capacity;
   struct event *inbox_event;    /* owned; activated by the listener */
   struct event *shutdown_event; /* owned; activated on shutdown */
   bool stopping;

   fe_conn_t *connections; /* owned; a doubly linked list */
   size_t connection_count;

   fe_index_cache_t index_cache; /* collections this worker saw without indexes */
   fe_view_cache_t view_cache;   /* the view definitions this worker read */
   /* The compiled validators this worker used (backend/validators.h). */
   fe_validator_cache_t validator_cache;
} fe_worker_t;

struct fe_server {
   fe_config_t config;
   fe_registry_t registry;
   fe_plugin_t *plugin;       /* borrowed from registry: the backend in use */
   ferret_backend_t *backend; /* owned; opened from the plugin */
   const char *backend_name;  /* borrowed from the plugin's descriptor */

   fe_worker_t *workers; /* owned */
   int worker_count;

   struct event_base *base; /* owned; the main thread's: listener and signals */
   struct evconnlistener *listener;
   struct event *signal_int;
   struct event *signal_term;
   struct event *cursor_timer;
   int bound_port;

   fe_cursor_registry_t cursors;
   fe_ttl_monitor_t ttl; /* the TTL monitor thread and its session */

   time_t started;
   atomic_int_least64_t next_connection_id;
   atomic_uint next_worker;
   atomic_int open_connections;
   _Atomic uint64_t index_generation; /* bumped by every index catalog change */
   _Atomic uint64_t view_generation;  /* bumped by every view catalog change */
   /* Bumped by every change of a collection's validation options. */
   _Atomic uint64_t validator_generation;
   char argv_json[4096]; /* the command line, for getCmdLineOpts */
};

/* Loads the backend, opens it, binds the listener and starts the workers. */
bool server_start(fe_server_t *server, fe_error_t *error);

/* Runs the main loop until SIGINT or SIGTERM, then shuts down gracefully: stops accepting,
 * lets the workers finish what they are doing and flush replies, closes the sessions and the
 * backend. */
void server_run(fe_server_t *server);

/* Releases everything; safe after a failed server_start(). */
void server_destroy(fe_server_t *server);

#endif /* FE_SERVER_H */
