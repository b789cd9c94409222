/*
 * conn.c: reading framed messages from a client, running them, writing the replies.
 */
#include "net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "commands/dispatch.h"
#include "server/log.h"
#include "wire/header.h"
#include "wire/opmsg.h"
#include "wire/opquery.h"

/* Messages handled per wakeup, so one pipelining client cannot starve the others. */
#define MESSAGES_PER_WAKEUP 32
/* Bytes asked of one recv(): what a bufferevent reads, or more of a message known to be
 * larger, up to READ_MAX. */
#define READ_DEFAULT 16384
#define READ_MAX (1024 * 1024)

static void on_readable(evutil_socket_t fd, short events, void *arg);
static bool read_socket(fe_conn_t *conn);
static void handle_input(fe_conn_t *conn);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short events, void *arg);
static bool handle_message(fe_conn_t *conn, const fe_msg_header_t *header, const uint8_t *message);
static bool write_reply(fe_conn_t *conn, bool written);
static void protocol_error(fe_conn_t *conn, const fe_error_t *error);
static void flush_replies(fe_conn_t *conn);
static void describe_peer(int fd, char *out, size_t size);

void
conn_adopt(fe_worker_t *worker, int fd)
{
   fe_server_t *server = worker->server;
   fe_conn_t *conn = calloc(1, sizeof *conn);
   int one = 1;

   if (!conn) {
      close(fd);
      return;
   }
   /* The bufferevent writes what the socket does not take at once (flush_replies()); reads
    * are done here, with one recv() per wakeup: a bufferevent asks the socket for its
    * readable byte count (ioctl FIONREAD) before every read, a system call per request. */
   conn->bev =
      bufferevent_socket_new(worker->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
   conn->read_event = event_new(worker->base, fd, EV_READ | EV_PERSIST, on_readable, conn);
   conn->input = evbuffer_new();
   conn->replies = evbuffer_new();
   if (!conn->bev || !conn->read_event || !conn->input || !conn->replies ||
       event_add(conn->read_event, NULL) != 0) {
      if (conn->read_event) {
         event_free(conn->read_event);
      }
      if (conn->bev) {
         bufferevent_free(conn->bev); /* closes fd */
      } else {
         close(fd);
      }
      if (conn->input) {
         evbuffer_free(conn->input);
      }
      if (conn->replies) {
         evbuffer_free(conn->replies);
      }
      free(conn);
      return;
   }
   /* Replies are small and latency-bound. */
   setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
   conn->worker = worker;
   conn->id = atomic_fetch_add(&server->next_connection_id, 1);
   conn->state = CONN_READING;
   describe_peer(fd, conn->peer, sizeof conn->peer);

   conn->next = worker->connections;
   if (worker->connections) {
      worker->connections->prev = conn;
   }
   worker->connections = conn;
   worker->connection_count++;

   bufferevent_setcb(conn->bev, NULL, on_write, on_event, conn);
   bufferevent_enable(conn->bev, EV_WRITE);
   log_write(LOG_DEBUG, "network", "connection %lld accepted from %s on worker %d",
             (long long) conn->id, conn->peer, worker->index);
}

void
conn_close_after_flush(fe_conn_t *conn)
{
   flush_replies(conn);
   conn->state = CONN_CLOSING;
   event_del(conn->read_event);
   if (evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0) {
      conn_close(conn);
   }
   /* Otherwise on_write closes it once the output is flushed. */
}

void
conn_close(fe_conn_t *conn)
{
   fe_worker_t *worker = conn->worker;

   if (conn->prev) {
      conn->prev->next = conn->next;
   } else {
      worker->connections = conn->next;
   }
   if (conn->next) {
      conn->next->prev = conn->prev;
   }
   worker->connection_count--;
   atomic_fetch_sub(&worker->server->open_connections, 1);
   log_write(LOG_DEBUG, "network", "connection %lld closed", (long long) conn->id);
   event_free(conn->read_event); /* before the socket closes */
   bufferevent_free(conn->bev);
   evbuffer_free(conn->input);
   evbuffer_free(conn->replies);
   if (conn->client_metadata) {
      bson_destroy(conn->client_metadata);
   }
   free(conn);
   if (worker->stopping && worker->connection_count == 0) {
      event_base_loopexit(worker->base, NULL);
   }
}

static void
on_readable(evutil_socket_t fd, short events, void *arg)
{
   fe_conn_t *conn = arg;
   (void) fd;
   (void) events;

   if (!read_socket(conn)) {
      conn_close(conn);
      return;
   }
   handle_input(conn);
}

/* One recv() into conn->input. False when the connection is over (end of stream or an error)
 * and must be closed. Nothing to read is not an error: a wakeup rescheduled for messages
 * already buffered finds the socket empty. */
static bool
read_socket(fe_conn_t *conn)
{
   size_t buffered = evbuffer_get_length(conn->input);
   size_t want = READ_DEFAULT;
   struct evbuffer_iovec vec;
   ssize_t n;

   if (buffered >= HEADER_SIZE) {
      uint8_t raw_header[HEADER_SIZE];
      fe_msg_header_t header;
      evbuffer_copyout(conn->input, raw_header, HEADER_SIZE);
      header_decode(raw_header, &header);
      if (header.message_length > 0 && (size_t) header.message_length > buffered + want) {
         want = (size_t) header.message_length - buffered;
         want = want < READ_MAX ? want : READ_MAX;
      }
   }
   if (evbuffer_reserve_space(conn->input, (ev_ssize_t) want, &vec, 1) < 1) {
      log_write(LOG_WARNING, "network", "connection %lld: out of memory reading; closing",
                (long long) conn->id);
      return false;
   }
   do {
      n = recv(bufferevent_getfd(conn->bev), vec.iov_base, want < vec.iov_len ? want : vec.iov_len,
               0);
   } while (n < 0 && errno == EINTR);
   if (n > 0) {
      vec.iov_len = (size_t) n;
      evbuffer_commit_space(conn->input, &vec, 1);
      return true;
   }
   evbuffer_commit_space(conn->input, &vec, 0);
   return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static void
handle_input(fe_conn_t *conn)
{
   struct evbuffer *input = conn->input;

   for (int handled = 0; conn->state == CONN_READING; handled++) {
      uint8_t raw_header[HEADER_SIZE];
      fe_msg_header_t header;
      fe_error_t error = {0};
      uint8_t *message;
      bool keep_open;

      if (evbuffer_copyout(input, raw_header, HEADER_SIZE) < HEADER_SIZE) {
         break;
      }
      header_decode(raw_header, &header);
      if (!header_check(&header, &error)) {
         protocol_error(conn, &error);
         return;
      }
      if (evbuffer_get_length(input) < (size_t) header.message_length) {
         break; /* the rest comes with a later wakeup */
      }
      if (handled == MESSAGES_PER_WAKEUP) {
         /* Again after the other ready connections had their turn. */
         event_active(conn->read_event, EV_READ, 0);
         break;
      }
      message = evbuffer_pullup(input, header.message_length);
      if (!message) {
         error_set(&error, FE_ExceededMemoryLimit, "out of memory reading a message");
         protocol_error(conn, &error);
         return;
      }
      keep_open = handle_message(conn, &header, message);
      evbuffer_drain(input, (size_t) header.message_length);
      if (!keep_open) {
         conn_close_after_flush(conn);
         return;
      }
   }
   flush_replies(conn);
}

/* Writes the replies of this wakeup. Most fit the socket buffer, so they are written at once
 * instead of through a write event, which costs two epoll_ctl calls and another wakeup per
 * reply; what does not fit goes to the bufferevent, behind anything still queued there. */
static void
flush_replies(fe_conn_t *conn)
{
   struct evbuffer *output = bufferevent_get_output(conn->bev);

   if (evbuffer_get_length(conn->replies) == 0) {
      return;
   }
   if (evbuffer_get_length(output) == 0) {
      /* A failed write leaves the bytes in place; the bufferevent then meets the error. */
      (void) evbuffer_write(conn->replies, bufferevent_getfd(conn->bev));
   }
   if (evbuffer_get_length(conn->replies) > 0) {
      evbuffer_add_buffer(output, conn->replies);
   }
}

static void
on_write(struct bufferevent *bev, void *arg)
{
   fe_conn_t *conn = arg;
   if (conn->state == CONN_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
      conn_close(conn);
   }
}

static void
on_event(struct bufferevent *bev, short events, void *arg)
{
   fe_conn_t *conn = arg;
   (void) bev;
   if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
      conn_close(conn);
   }
}

/* Runs one message and writes its reply. Returns false when the connection must close. */
static bool
handle_message(fe_conn_t *conn, const fe_msg_header_t *header, const uint8_t *message)
{
   struct evbuffer *output = conn->replies;
   fe_error_t error = {0};
   bson_t reply = BSON_INITIALIZER;
   bool keep_open = true;

   if (header->opcode == OP_MSG) {
      fe_opmsg_t msg;
      if (!opmsg_parse(message, (size_t) header->message_length, &msg, &error)) {
         /* The header framed the message, so the stream stays in step: answer and go on. */
         dispatch_error_reply(&error, &reply);
      } else {
         dispatch_command(conn, NULL, &msg.command, &reply);
      }
      opmsg_destroy(&msg);
      if (conn->close_without_reply) {
         keep_open = false;
      } else if (!(msg.flags & OPMSG_MORE_TO_COME) || error.code) {
         keep_open = write_reply(
            conn, opmsg_write_reply(output, ++conn->next_request_id, header->request_id, &reply));
      }
   } else if (header->opcode == OP_QUERY) {
      fe_opquery_t query;
      if (!opquery_parse(message, (size_t) header->message_length, &query, &error)) {
         dispatch_error_reply(&error, &reply);
      } else {
         dispatch_command(conn, query.db, &query.query, &reply);
      }
      bson_destroy(&query.query);
      if (conn->close_without_reply) {
         keep_open = false;
      } else {
         keep_open = write_reply(
            conn, opquery_write_reply(output, ++conn->next_request_id, header->request_id, &reply));
      }
   } else {
      error_set(&error, FE_ProtocolError, "unsupported opcode %d", header->opcode);
      log_write(LOG_WARNING, "network", "connection %lld: %s; closing", (long long) conn->id,
                error.message);
      keep_open = false;
   }
   bson_destroy(&reply);
   return keep_open;
}

/* The client waits for a reply that could not be queued: closing tells it at once. */
static bool
write_reply(fe_conn_t *conn, bool written)
{
   if (!written) {
      log_write(LOG_WARNING, "network", "connection %lld: out of memory writing a reply; closing",
                (long long) conn->id);
   }
   return written;
}

static void
protocol_error(fe_conn_t *conn, const fe_error_t *error)
{
   log_write(LOG_WARNING, "network", "connection %lld from %s: %s; closing", (long long) conn->id,
             conn->peer, error->message);
   conn_close_after_flush(conn);
}

static void
describe_peer(int fd, char *out, size_t size)
{
   struct sockaddr_storage address;
   socklen_t len = sizeof address;
   char host[INET6_ADDRSTRLEN] = "?";
   int port = 0;

   if (getpeername(fd, (struct sockaddr *) &address, &len) == 0) {
      if (address.ss_family == AF_INET) {
         struct sockaddr_in *v4 = (struct sockaddr_in *) &address;
         inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
         port = ntohs(v4->sin_port);
      } else if (address.ss_family == AF_INET6) {
         struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &address;
         inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
         port = ntohs(v6->sin6_port);
      }
   }
   snprintf(out, size, "%s:%d", host, port);
}
