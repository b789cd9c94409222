/*
 * bench_util.c: the cell runner, latency percentiles, the benchmark document and the helpers
 * every engine shares (bench/README.md).
 */
#include "bench.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bson/idkey.h"

/* One thread of a cell. */
typedef struct cell_thread {
   pthread_t thread;
   const bench_engine_t *engine; /* borrowed */
   bench_cell_shared_t *shared;  /* borrowed */
   pthread_barrier_t *ready;     /* borrowed; every thread connected */
   pthread_barrier_t *go;        /* borrowed; the start time is set */
   const uint64_t *deadline_ns;  /* borrowed; written before the go barrier */
   int index;
   bool init_ok;
   bool failed;
   uint64_t ops;
   uint64_t docs;
   uint64_t end_ns;
   uint64_t *lat_ns; /* owned; one latency per operation */
   size_t lat_count;
   size_t lat_capacity;
   char error[BENCH_ERR_SIZE];
} cell_thread_t;

static void *cell_thread_main(void *arg);
static int compare_u64(const void *a, const void *b);

uint64_t
bench_util_now_ns(void)
{
   struct timespec ts;

   clock_gettime(CLOCK_MONOTONIC, &ts);
   return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

uint64_t
bench_util_rand(uint64_t *state)
{
   uint64_t x = *state;

   x ^= x << 13;
   x ^= x >> 7;
   x ^= x << 17;
   *state = x;
   return x;
}

bool
bench_util_fail(char *err, const char *format, ...)
{
   va_list args;

   va_start(args, format);
   vsnprintf(err, BENCH_ERR_SIZE, format, args);
   va_end(args);
   return false;
}

void
bench_util_doc(bson_t *doc, int64_t id)
{
   static const char pad[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
   char name[32];

   snprintf(name, sizeof name, "user-%08lld", (long long) id);
   BSON_APPEND_INT64(doc, "_id", id);
   BSON_APPEND_INT32(doc, "k", (int32_t) (id % BENCH_K_MOD));
   BSON_APPEND_INT32(doc, "v", 0);
   BSON_APPEND_UTF8(doc, "name", name);
   BSON_APPEND_UTF8(doc, "pad", pad);
}

bool
bench_util_inc_v(const uint8_t *src, size_t len, bson_t *dst)
{
   bson_iter_t iter;
   bool found = false;

   if (!bson_iter_init_from_data(&iter, src, len)) {
      return false;
   }
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (!found && strcmp(key, "v") == 0 && BSON_ITER_HOLDS_INT32(&iter)) {
         BSON_APPEND_INT32(dst, "v", bson_iter_int32(&iter) + 1);
         found = true;
      } else {
         bson_append_iter(dst, key, -1, &iter);
      }
   }
   return found;
}

bool
bench_util_matches(const uint8_t *data, size_t len)
{
   bson_iter_t iter;

   if (!bson_iter_init_from_data(&iter, data, len) || !bson_iter_find(&iter, "k")) {
      return false;
   }
   return BSON_ITER_HOLDS_INT32(&iter) && bson_iter_int32(&iter) == BENCH_SCAN_K;
}

bool
bench_util_id_key(int64_t id, uint8_t **key, size_t *len)
{
   bson_t doc = BSON_INITIALIZER;
   bson_iter_t iter;
   bool ok;

   BSON_APPEND_INT64(&doc, "_id", id);
   ok = bson_iter_init_find(&iter, &doc, "_id") && idkey_encode(&iter, key, len);
   bson_destroy(&doc);
   return ok;
}

long
bench_util_rss_kb(long pid)
{
   char path[64];
   char line[256];
   long kb = -1;
   FILE *f;

   snprintf(path, sizeof path, "/proc/%ld/status", pid);
   f = fopen(path, "r");
   if (!f) {
      return -1;
   }
   while (fgets(line, sizeof line, f)) {
      if (strncmp(line, "VmRSS:", 6) == 0) {
         kb = strtol(line + 6, NULL, 10);
         break;
      }
   }
   fclose(f);
   return kb;
}

double
bench_util_cpu_us(long pid)
{
   char path[64];
   char buf[1024];
   unsigned long utime = 0, stime = 0;
   const char *p;
   size_t n;
   FILE *f;

   snprintf(path, sizeof path, "/proc/%ld/stat", pid);
   f = fopen(path, "r");
   if (!f) {
      return -1;
   }
   n = fread(buf, 1, sizeof buf - 1, f);
   fclose(f);
   buf[n] = '\0';
   /* The command name may hold spaces; the fields after it are fixed: utime is the 12th and
    * stime the 13th after the state. */
   p = strrchr(buf, ')');
   if (!p ||
       sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) {
      return -1;
   }
   return (double) (utime + stime) * 1e6 / (double) sysconf(_SC_CLK_TCK);
}

double
bench_util_self_cpu_us(void)
{
   struct rusage ru;

   getrusage(RUSAGE_SELF, &ru);
   return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
          (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

void
bench_util_run_cell(const bench_engine_t *engine, bench_cell_shared_t *shared, int threads,
                    bench_result_t *out)
{
   cell_thread_t *t = calloc((size_t) threads, sizeof *t);
   pthread_barrier_t ready, go;
   uint64_t deadline_ns = 0;
   uint64_t start_ns, end_ns = 0;
   uint64_t *all = NULL;
   size_t total_lat = 0;
   int started = 0;

   memset(out, 0, sizeof *out);
   out->threads = threads;
   out->server_cpu_us = -1;
   out->client_cpu_us = -1;
   if (!t) {
      bench_util_fail(out->error, "out of memory");
      out->failed = true;
      return;
   }
   atomic_store(&shared->ops, 0);
   pthread_barrier_init(&ready, NULL, (unsigned) threads + 1);
   pthread_barrier_init(&go, NULL, (unsigned) threads + 1);
   for (int i = 0; i < threads; i++) {
      t[i].engine = engine;
      t[i].shared = shared;
      t[i].ready = &ready;
      t[i].go = &go;
      t[i].deadline_ns = &deadline_ns;
      t[i].index = i;
      if (pthread_create(&t[i].thread, NULL, cell_thread_main, &t[i]) != 0) {
         /* The barriers count every thread: without this one nobody could pass them. */
         fprintf(stderr, "bench: cannot start thread %d\n", i);
         abort();
      }
      started++;
   }
   pthread_barrier_wait(&ready);
   start_ns = bench_util_now_ns();
   deadline_ns = start_ns + (uint64_t) (shared->config->seconds * 1e9);
   pthread_barrier_wait(&go);
   for (int i = 0; i < started; i++) {
      pthread_join(t[i].thread, NULL);
   }
   pthread_barrier_destroy(&ready);
   pthread_barrier_destroy(&go);

   for (int i = 0; i < threads; i++) {
      out->ops += t[i].ops;
      out->docs += t[i].docs;
      total_lat += t[i].lat_count;
      if (t[i].end_ns > end_ns) {
         end_ns = t[i].end_ns;
      }
      if ((t[i].failed || !t[i].init_ok) && !out->failed) {
         out->failed = true;
         snprintf(out->error, sizeof out->error, "%s", t[i].error);
      }
   }
   out->ran = out->ops > 0;
   out->seconds = end_ns > start_ns ? (double) (end_ns - start_ns) / 1e9 : 0;
   if (out->seconds > 0) {
      out->ops_per_s = (double) out->ops / out->seconds;
      out->docs_per_s = (double) out->docs / out->seconds;
   }
   all = total_lat ? malloc(total_lat * sizeof *all) : NULL;
   if (all) {
      size_t n = 0;
      for (int i = 0; i < threads; i++) {
         memcpy(all + n, t[i].lat_ns, t[i].lat_count * sizeof *all);
         n += t[i].lat_count;
      }
      qsort(all, n, sizeof *all, compare_u64);
      out->p50_us = (double) all[(n - 1) * 50 / 100] / 1e3;
      out->p99_us = (double) all[(n - 1) * 99 / 100] / 1e3;
   }
   free(all);
   for (int i = 0; i < threads; i++) {
      free(t[i].lat_ns);
   }
   free(t);
}

static void *
cell_thread_main(void *arg)
{
   cell_thread_t *t = arg;
   bench_cell_shared_t *shared = t->shared;
   void *ctx = t->engine->thread_init(shared, t->index, t->error);
   uint64_t rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t) (t->index + 1) * 0xBF58476D1CE4E5B9ull);

   t->init_ok = ctx != NULL;
   pthread_barrier_wait(t->ready);
   pthread_barrier_wait(t->go);
   if (!ctx) {
      return NULL;
   }
   for (;;) {
      uint64_t before, after, docs = 0;
      if (bench_util_now_ns() >= *t->deadline_ns ||
          atomic_fetch_add(&shared->ops, 1) >= shared->config->max_ops) {
         break;
      }
      before = bench_util_now_ns();
      if (!t->engine->op(ctx, shared, &rng, &docs, t->error)) {
         t->failed = true;
         break;
      }
      after = bench_util_now_ns();
      if (t->lat_count == t->lat_capacity) {
         size_t capacity = t->lat_capacity ? t->lat_capacity * 2 : 4096;
         uint64_t *lat = realloc(t->lat_ns, capacity * sizeof *lat);
         if (!lat) {
            bench_util_fail(t->error, "out of memory");
            t->failed = true;
            break;
         }
         t->lat_ns = lat;
         t->lat_capacity = capacity;
      }
      t->lat_ns[t->lat_count++] = after - before;
      t->ops++;
      t->docs += docs;
   }
   t->end_ns = bench_util_now_ns();
   t->engine->thread_fini(ctx);
   return NULL;
}

static int
compare_u64(const void *a, const void *b)
{
   uint64_t x = *(const uint64_t *) a;
   uint64_t y = *(const uint64_t *) b;

   return x < y ? -1 : x > y;
}
