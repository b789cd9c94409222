/*
 * worker.c: a worker thread runs its own libevent loop over the connections pinned to it,
 * using its own backend session, so a slow backend call stalls only this worker.
 */
#include "server/worker.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "net/conn.h"
#include "server/log.h"

/* How long a stopping worker waits for replies to flush before it drops its connections. */
#define STOP_GRACE_SECONDS 10

static void *worker_main(void *arg);
static void on_inbox(evutil_socket_t fd, short events, void *arg);
static void on_shutdown(evutil_socket_t fd, short events, void *arg);

bool
worker_init(fe_worker_t *worker, fe_server_t *server, int index, fe_error_t *error)
{
   const ferret_backend_methods_t *methods = &server->plugin->methods;
   ferret_error_t backend_error = {0};
   ferret_status_t status;

   memset(worker, 0, sizeof *worker);
   worker->server = server;
   worker->index = index;
   worker->index_cache.generation = &server->index_generation;
   worker->view_cache.generation = &server->view_generation;
   worker->validator_cache.generation = &server->validator_generation;
   {
      /* Recursive: closing a cursor takes its owner's lock, which the command may hold. */
      pthread_mutexattr_t attr;
      pthread_mutexattr_init(&attr);
      pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
      pthread_mutex_init(&worker->session_lock, &attr);
      pthread_mutexattr_destroy(&attr);
   }
   pthread_mutex_init(&worker->inbox_lock, NULL);
   worker->base = event_base_new();
   if (!worker->base) {
      return error_set(error, FE_InternalError, "cannot create an event base for worker %d", index);
   }
   worker->inbox_event = event_new(worker->base, -1, 0, on_inbox, worker);
   worker->shutdown_event = event_new(worker->base, -1, 0, on_shutdown, worker);
   if (!worker->inbox_event || !worker->shutdown_event) {
      return error_set(error, FE_InternalError, "cannot create events for worker %d", index);
   }
   status = methods->session_open(server->backend, &worker->session, &backend_error);
   if (status != FERRET_OK) {
      worker->session = NULL;
      return error_set_from_backend(error, server->backend_name, status, &backend_error);
   }
   return true;
}

bool
worker_start(fe_worker_t *worker, fe_error_t *error)
{
   if (pthread_create(&worker->thread, NULL, worker_main, worker) != 0) {
      return error_set(error, FE_InternalError, "cannot start worker thread %d", worker->index);
   }
   return true;
}

void
worker_hand_over(fe_worker_t *worker, int fd)
{
   bool queued = false;

   pthread_mutex_lock(&worker->inbox_lock);
   if (worker->inbox_count == worker->inbox_capacity) {
      size_t capacity = worker->inbox_capacity ? worker->inbox_capacity * 2 : 16;
      int *inbox = realloc(worker->inbox, capacity * sizeof *inbox);
      if (inbox) {
         worker->inbox = inbox;
         worker->inbox_capacity = capacity;
      }
   }
   if (worker->inbox_count < worker->inbox_capacity) {
      worker->inbox[worker->inbox_count++] = fd;
      queued = true;
   }
   pthread_mutex_unlock(&worker->inbox_lock);
   if (!queued) {
      close(fd);
      return;
   }
   event_active(worker->inbox_event, 0, 0);
}

void
worker_request_stop(fe_worker_t *worker)
{
   event_active(worker->shutdown_event, 0, 0);
}

void
worker_join_and_destroy(fe_worker_t *worker)
{
   if (worker->thread) {
      pthread_join(worker->thread, NULL);
   }
   while (worker->connections) {
      conn_close(worker->connections);
   }
   if (worker->session) {
      worker->server->plugin->methods.session_close(worker->session);
      worker->session = NULL;
   }
   if (worker->inbox_event) {
      event_free(worker->inbox_event);
   }
   if (worker->shutdown_event) {
      event_free(worker->shutdown_event);
   }
   for (size_t i = 0; i < worker->inbox_count; i++) {
      close(worker->inbox[i]);
   }
   free(worker->inbox);
   if (worker->base) {
      event_base_free(worker->base);
   }
   indexes_cache_destroy(&worker->index_cache);
   views_cache_destroy(&worker->view_cache);
   validators_cache_destroy(&worker->validator_cache);
   pthread_mutex_destroy(&worker->session_lock);
   pthread_mutex_destroy(&worker->inbox_lock);
}

void
worker_lock_session(fe_worker_t *worker)
{
   pthread_mutex_lock(&worker->session_lock);
}

void
worker_unlock_session(fe_worker_t *worker)
{
   pthread_mutex_unlock(&worker->session_lock);
}

static void *
worker_main(void *arg)
{
   fe_worker_t *worker = arg;
   /* The loop must keep running while it has no connections yet. */
   event_base_loop(worker->base, EVLOOP_NO_EXIT_ON_EMPTY);
   return NULL;
}

static void
on_inbox(evutil_socket_t fd, short events, void *arg)
{
   fe_worker_t *worker = arg;
   int *sockets;
   size_t count;
   (void) fd;
   (void) events;

   pthread_mutex_lock(&worker->inbox_lock);
   sockets = worker->inbox;
   count = worker->inbox_count;
   worker->inbox = NULL;
   worker->inbox_count = 0;
   worker->inbox_capacity = 0;
   pthread_mutex_unlock(&worker->inbox_lock);

   for (size_t i = 0; i < count; i++) {
      if (worker->stopping) {
         close(sockets[i]);
      } else {
         conn_adopt(worker, sockets[i]);
      }
   }
   free(sockets);
}

static void
on_shutdown(evutil_socket_t fd, short events, void *arg)
{
   fe_worker_t *worker = arg;
   struct timeval grace = {STOP_GRACE_SECONDS, 0};
   fe_conn_t *conn = worker->connections;
   (void) fd;
   (void) events;

   worker->stopping = true;
   /* Commands run to completion inside callbacks, so none is in flight here: what is left is
    * flushing the replies already written. */
   while (conn) {
      fe_conn_t *next = conn->next;
      conn_close_after_flush(conn);
      conn = next;
   }
   if (worker->connection_count == 0) {
      event_base_loopexit(worker->base, NULL);
   } else {
      event_base_loopexit(worker->base, &grace);
   }
}
