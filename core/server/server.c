/*
 * server.c: startup, the listener, the main loop and graceful shutdown.
 */
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "server/log.h"
#include "server/worker.h"

/* How often idle cursors are looked for. */
#define CURSOR_SWEEP_SECONDS 30

static bool open_backend(fe_server_t *server, fe_error_t *error);
static bool start_listener(fe_server_t *server, fe_error_t *error);
static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *address,
                      int len, void *arg);
static void on_accept_error(struct evconnlistener *listener, void *arg);
static void on_signal(evutil_socket_t signal_number, short events, void *arg);
static void on_cursor_timer(evutil_socket_t fd, short events, void *arg);

bool
server_start(fe_server_t *server, fe_error_t *error)
{
   struct timeval sweep = {CURSOR_SWEEP_SECONDS, 0};
   long cores = sysconf(_SC_NPROCESSORS_ONLN);

   server->started = time(NULL);
   atomic_store(&server->next_connection_id, 1);
   cursor_registry_init(&server->cursors);
   /* Workers are handed sockets from the main thread through event_active(). */
   if (evthread_use_pthreads() != 0) {
      return error_set(error, FE_InternalError, "libevent has no pthreads support");
   }
   /* A client that hangs up must not kill the server through SIGPIPE. */
   signal(SIGPIPE, SIG_IGN);

   if (!open_backend(server, error)) {
      return false;
   }
   server->worker_count =
      server->config.workers > 0 ? server->config.workers : (int) (cores > 0 ? cores : 1);
   server->workers = calloc((size_t) server->worker_count, sizeof *server->workers);
   if (!server->workers) {
      return error_set(error, FE_ExceededMemoryLimit, "out of memory");
   }
   for (int i = 0; i < server->worker_count; i++) {
      if (!worker_init(&server->workers[i], server, i, error)) {
         return false;
      }
   }
   if (!ttl_init(&server->ttl, server, error)) {
      return false;
   }
   server->base = event_base_new();
   if (!server->base || !start_listener(server, error)) {
      return error->code ? false : error_set(error, FE_InternalError, "cannot create event base");
   }
   server->signal_int = evsignal_new(server->base, SIGINT, on_signal, server);
   server->signal_term = evsignal_new(server->base, SIGTERM, on_signal, server);
   server->cursor_timer = event_new(server->base, -1, EV_PERSIST, on_cursor_timer, server);
   if (!server->signal_int || !server->signal_term || !server->cursor_timer) {
      return error_set(error, FE_InternalError, "cannot install signal handlers");
   }
   evsignal_add(server->signal_int, NULL);
   evsignal_add(server->signal_term, NULL);
   event_add(server->cursor_timer, &sweep);
   for (int i = 0; i < server->worker_count; i++) {
      if (!worker_start(&server->workers[i], error)) {
         return false;
      }
   }
   if (!ttl_start(&server->ttl, error)) {
      return false;
   }
   log_write(LOG_INFO, "server", "ferretd %s listening on %s:%d with backend %s %s, %d workers",
             FERRET_VERSION, server->config.listen_host, server->bound_port, server->backend_name,
             server->plugin->descriptor->version, server->worker_count);
   return true;
}

void
server_run(fe_server_t *server)
{
   event_base_dispatch(server->base);
   log_write(LOG_INFO, "server", "shutting down");
   /* The TTL monitor stops after the batch it is deleting, while the workers drain. */
   ttl_request_stop(&server->ttl);
   for (int i = 0; i < server->worker_count; i++) {
      worker_request_stop(&server->workers[i]);
   }
   for (int i = 0; i < server->worker_count; i++) {
      pthread_join(server->workers[i].thread, NULL);
      server->workers[i].thread = 0;
   }
   ttl_destroy(&server->ttl);
   log_write(LOG_INFO, "server", "stopped");
}

void
server_destroy(fe_server_t *server)
{
   if (server->listener) {
      evconnlistener_free(server->listener);
   }
   /* Cursors hold backend cursors of the workers' sessions: close them first. */
   cursor_registry_destroy(&server->cursors);
   /* Joins the monitor (if server_run() did not) and closes its session before the backend. */
   ttl_destroy(&server->ttl);
   for (int i = 0; server->workers && i < server->worker_count; i++) {
      worker_join_and_destroy(&server->workers[i]);
   }
   free(server->workers);
   if (server->signal_int) {
      event_free(server->signal_int);
   }
   if (server->signal_term) {
      event_free(server->signal_term);
   }
   if (server->cursor_timer) {
      event_free(server->cursor_timer);
   }
   if (server->base) {
      event_base_free(server->base);
   }
   if (server->backend) {
      server->plugin->methods.close(server->backend);
   }
   registry_clear(&server->registry);
   config_destroy(&server->config);
}

static bool
open_backend(fe_server_t *server, fe_error_t *error)
{
   ferret_config_item_t *items = NULL;
   size_t count = 0;
   ferret_error_t backend_error = {0};
   ferret_status_t status;
   ferret_config_t section;
   bool ok = false;

   server->plugin =
      registry_load(&server->registry, server->config.backend, server->config.plugin_dir, error);
   if (!server->plugin) {
      goto done;
   }
   server->backend_name = server->plugin->descriptor->name;
   if (!config_section_items(&server->config, server->backend_name,
                             server->plugin->descriptor->config_keys, &items, &count, error)) {
      goto done;
   }
   section.struct_size = sizeof section;
   section.items = items;
   section.count = count;
   status = server->plugin->methods.open(loader_host(), &section, &server->backend, &backend_error);
   if (status != FERRET_OK) {
      server->backend = NULL;
      error_set_from_backend(error, server->backend_name, status, &backend_error);
      goto done;
   }
   ok = true;

done:
   free(items);
   return ok;
}

static bool
start_listener(fe_server_t *server, fe_error_t *error)
{
   struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
   struct addrinfo *addresses = NULL;
   char port[16];
   int rc;

   snprintf(port, sizeof port, "%d", server->config.listen_port);
   rc = getaddrinfo(server->config.listen_host, port, &hints, &addresses);
   if (rc != 0) {
      return error_set(error, FE_BadValue, "cannot resolve listen address %s: %s",
                       server->config.listen_host, gai_strerror(rc));
   }
   server->listener =
      evconnlistener_new_bind(server->base, on_accept, server,
                              LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                              511, addresses->ai_addr, (int) addresses->ai_addrlen);
   freeaddrinfo(addresses);
   if (!server->listener) {
      return error_set(error, FE_BadValue, "cannot listen on %s:%d: %s", server->config.listen_host,
                       server->config.listen_port, strerror(errno));
   }
   evconnlistener_set_error_cb(server->listener, on_accept_error);
   {
      struct sockaddr_storage bound;
      socklen_t len = sizeof bound;
      int fd = evconnlistener_get_fd(server->listener);
      server->bound_port = server->config.listen_port;
      if (getsockname(fd, (struct sockaddr *) &bound, &len) == 0) {
         server->bound_port = bound.ss_family == AF_INET6
                                 ? ntohs(((struct sockaddr_in6 *) &bound)->sin6_port)
                                 : ntohs(((struct sockaddr_in *) &bound)->sin_port);
      }
   }
   return true;
}

static void
on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *address, int len,
          void *arg)
{
   fe_server_t *server = arg;
   unsigned next;
   (void) listener;
   (void) address;
   (void) len;

   if (atomic_load(&server->open_connections) >= server->config.max_connections) {
      log_write(LOG_WARNING, "network", "refusing connection: max_connections (%d) reached",
                server->config.max_connections);
      close(fd);
      return;
   }
   atomic_fetch_add(&server->open_connections, 1);
   next = atomic_fetch_add(&server->next_worker, 1);
   worker_hand_over(&server->workers[next % (unsigned) server->worker_count], fd);
}

static void
on_accept_error(struct evconnlistener *listener, void *arg)
{
   (void) listener;
   (void) arg;
   /* EMFILE and friends pass; the listener keeps trying. */
   log_write(LOG_WARNING, "network", "accept failed: %s", strerror(errno));
}

static void
on_signal(evutil_socket_t signal_number, short events, void *arg)
{
   fe_server_t *server = arg;
   (void) events;
   log_write(LOG_INFO, "server", "received signal %d", (int) signal_number);
   /* Stop accepting first, so no new connection arrives while workers drain. */
   evconnlistener_disable(server->listener);
   event_base_loopbreak(server->base);
}

static void
on_cursor_timer(evutil_socket_t fd, short events, void *arg)
{
   fe_server_t *server = arg;
   (void) fd;
   (void) events;
   cursor_registry_expire(&server->cursors, time(NULL));
}
