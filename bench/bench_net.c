/*
 * bench_net.c: the network anchors (bench/README.md, "Anchors").
 *
 * A plain TCP echo server on loopback (a thread accepting, a thread per connection echoing
 * what it reads), and one engine that sends a pre-encoded OP_MSG {ping: 1, $db: "admin"} over
 * a plain socket and reads one message back. Pointed at ferretd it measures the server's
 * ping without any driver; pointed at the echo server, the same bytes make the floor: the
 * kernel's loopback round trip and two thread wake-ups.
 */
#include "bench.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NET_OP_MSG 2013
#define NET_MAX_MESSAGE (16 * 1024 * 1024)

typedef struct net_thread {
   int fd;
   uint8_t *message; /* owned; the ping OP_MSG */
   size_t message_len;
   uint8_t *reply; /* owned */
   size_t reply_capacity;
   int32_t request_id;
} net_thread_t;

static void *net_echo_accept(void *arg);
static void *net_echo_conn(void *arg);
static bool net_write_all(int fd, const uint8_t *p, size_t n);
static bool net_read_all(int fd, uint8_t *p, size_t n);
static void net_put_le32(uint8_t *p, uint32_t v);
static uint32_t net_get_le32(const uint8_t *p);
static void *net_thread_init(bench_cell_shared_t *shared, int index, char *err);
static bool net_op(void *ctx, bench_cell_shared_t *shared, uint64_t *rng, uint64_t *docs,
                   char *err);
static void net_thread_fini(void *ctx);

const bench_engine_t bench_net_engine = {
   .name = "raw socket",
   .thread_init = net_thread_init,
   .op = net_op,
   .thread_fini = net_thread_fini,
};

int
bench_net_echo_start(char *err)
{
   struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
   socklen_t addr_len = sizeof addr;
   pthread_t thread;
   int *fd = malloc(sizeof *fd); /* transfers to the accept thread */

   if (!fd) {
      bench_util_fail(err, "out of memory");
      return -1;
   }
   *fd = socket(AF_INET, SOCK_STREAM, 0);
   if (*fd < 0 || bind(*fd, (struct sockaddr *) &addr, sizeof addr) != 0 || listen(*fd, 128) != 0 ||
       getsockname(*fd, (struct sockaddr *) &addr, &addr_len) != 0) {
      bench_util_fail(err, "echo server: %s", strerror(errno));
      if (*fd >= 0) {
         close(*fd);
      }
      free(fd);
      return -1;
   }
   if (pthread_create(&thread, NULL, net_echo_accept, fd) != 0) {
      bench_util_fail(err, "echo server: cannot start a thread");
      close(*fd);
      free(fd);
      return -1;
   }
   pthread_detach(thread);
   return ntohs(addr.sin_port);
}

static void *
net_echo_accept(void *arg)
{
   int listen_fd = *(int *) arg;

   free(arg);
   for (;;) {
      int one = 1;
      pthread_t thread;
      int *fd = malloc(sizeof *fd); /* transfers to the connection's thread */
      if (!fd) {
         return NULL;
      }
      *fd = accept(listen_fd, NULL, NULL);
      if (*fd < 0) {
         free(fd);
         if (errno == EINTR || errno == ECONNABORTED) {
            continue;
         }
         return NULL;
      }
      setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (pthread_create(&thread, NULL, net_echo_conn, fd) != 0) {
         close(*fd);
         free(fd);
         continue;
      }
      pthread_detach(thread);
   }
}

static void *
net_echo_conn(void *arg)
{
   int fd = *(int *) arg;
   uint8_t buf[65536];
   ssize_t n;

   free(arg);
   while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0 && !net_write_all(fd, buf, (size_t) n)) {
         break;
      }
   }
   close(fd);
   return NULL;
}

static bool
net_write_all(int fd, const uint8_t *p, size_t n)
{
   while (n > 0) {
      ssize_t w = write(fd, p, n);
      if (w < 0 && errno == EINTR) {
         continue;
      }
      if (w <= 0) {
         return false;
      }
      p += w;
      n -= (size_t) w;
   }
   return true;
}

static bool
net_read_all(int fd, uint8_t *p, size_t n)
{
   while (n > 0) {
      ssize_t r = read(fd, p, n);
      if (r < 0 && errno == EINTR) {
         continue;
      }
      if (r <= 0) {
         return false;
      }
      p += r;
      n -= (size_t) r;
   }
   return true;
}

static void
net_put_le32(uint8_t *p, uint32_t v)
{
   for (int i = 0; i < 4; i++) {
      p[i] = (uint8_t) (v >> (8 * i));
   }
}

static uint32_t
net_get_le32(const uint8_t *p)
{
   return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void *
net_thread_init(bench_cell_shared_t *shared, int index, char *err)
{
   const bench_net_target_t *target = shared->engine;
   struct sockaddr_in addr = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                              .sin_port = htons((uint16_t) target->port)};
   net_thread_t *t = calloc(1, sizeof *t);
   bson_t body = BSON_INITIALIZER;
   int one = 1;

   if (!t) {
      bench_util_fail(err, "out of memory");
      return NULL;
   }
   t->request_id = index * 1000000;
   t->fd = socket(AF_INET, SOCK_STREAM, 0);
   if (t->fd < 0 || connect(t->fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
      bench_util_fail(err, "connect to port %d: %s", target->port, strerror(errno));
      net_thread_fini(t);
      return NULL;
   }
   setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

   /* header (16) + flagBits (4) + section kind 0 (1) + the body */
   BSON_APPEND_INT32(&body, "ping", 1);
   BSON_APPEND_UTF8(&body, "$db", "admin");
   t->message_len = 16 + 4 + 1 + body.len;
   t->message = calloc(1, t->message_len);
   t->reply_capacity = 4096;
   t->reply = malloc(t->reply_capacity);
   if (!t->message || !t->reply) {
      bson_destroy(&body);
      bench_util_fail(err, "out of memory");
      net_thread_fini(t);
      return NULL;
   }
   net_put_le32(t->message, (uint32_t) t->message_len);
   net_put_le32(t->message + 12, NET_OP_MSG);
   memcpy(t->message + 21, bson_get_data(&body), body.len);
   bson_destroy(&body);
   return t;
}

static bool
net_op(void *ctx, bench_cell_shared_t *shared, uint64_t *rng, uint64_t *docs, char *err)
{
   net_thread_t *t = ctx;
   uint32_t len;

   (void) shared;
   (void) rng;
   *docs = 0;
   net_put_le32(t->message + 4, (uint32_t) ++t->request_id);
   if (!net_write_all(t->fd, t->message, t->message_len) || !net_read_all(t->fd, t->reply, 16)) {
      return bench_util_fail(err, "round trip: %s", errno ? strerror(errno) : "closed");
   }
   len = net_get_le32(t->reply);
   if (len < 16 || len > NET_MAX_MESSAGE || net_get_le32(t->reply + 12) != NET_OP_MSG) {
      return bench_util_fail(err, "round trip: not an OP_MSG reply (length %u)", len);
   }
   if (len > t->reply_capacity) {
      uint8_t *reply = realloc(t->reply, len);
      if (!reply) {
         return bench_util_fail(err, "out of memory");
      }
      t->reply = reply;
      t->reply_capacity = len;
   }
   if (!net_read_all(t->fd, t->reply + 16, len - 16)) {
      return bench_util_fail(err, "round trip: %s", errno ? strerror(errno) : "closed");
   }
   return true;
}

static void
net_thread_fini(void *ctx)
{
   net_thread_t *t = ctx;

   if (!t) {
      return;
   }
   if (t->fd >= 0) {
      close(t->fd);
   }
   free(t->message);
   free(t->reply);
   free(t);
}
