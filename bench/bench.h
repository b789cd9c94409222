/*
 * bench.h: what the files of the server benchmark share (bench/README.md).
 *
 * One benchmark "cell" is one workload run by N threads for a bounded time and operation
 * count. The same cell runner drives ferretd through libmongoc (bench_server.c), raw SQLite
 * (bench_sqlite.c), raw libpq (bench_pg.c) and plain sockets (bench_net.c), so the numbers
 * put side by side are measured the same way.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

/* Room for one failure message. */
#define BENCH_ERR_SIZE 512

/* The filter of the scan workload matches k == BENCH_SCAN_K: 1 % of the documents. */
#define BENCH_SCAN_K 42
#define BENCH_K_MOD 100

/* How many of the documents with _id 0 .. docs-1 the scan matches. */
static inline int64_t
bench_scan_expected(int64_t docs)
{
   return docs > BENCH_SCAN_K ? (docs - BENCH_SCAN_K - 1) / BENCH_K_MOD + 1 : 0;
}

/* The workloads; every engine implements those that make sense for it. */
typedef enum bench_workload {
   BENCH_INSERT_MANY = 0, /* batches of batch_size documents, one transaction each */
   BENCH_INSERT_ONE,      /* one acknowledged document per operation */
   BENCH_FIND_ID,         /* one document by a random _id */
   BENCH_SCAN,            /* k == 42 over the unindexed main collection */
   BENCH_UPDATE,          /* $inc of v on a random _id */
   BENCH_MIX,             /* find by _id or update, 50/50 */
   BENCH_PING,            /* a round trip with no storage work */
   BENCH_WORKLOAD_COUNT
} bench_workload_t;

/* Settings every engine reads; immutable while cells run. */
typedef struct bench_config {
   int64_t main_docs;       /* documents in the main collection (find, scan, update) */
   int batch_size;          /* documents per insertMany */
   double seconds;          /* the time bound of one cell */
   uint64_t max_ops;        /* the operation bound of one cell */
   const char *synchronous; /* "full" or "normal", for SQLite */
} bench_config_t;

/* Shared by the threads of one cell. */
typedef struct bench_cell_shared {
   const bench_config_t *config; /* borrowed */
   bench_workload_t workload;
   atomic_int_fast64_t next_id; /* _id allocator of the insert workloads */
   atomic_uint_fast64_t ops;    /* operations started, for the max_ops bound */
   void *engine;                /* borrowed; the engine's own shared state */
} bench_cell_shared_t;

/* An engine: how one thread connects and runs one operation. */
typedef struct bench_engine {
   const char *name;
   /* Returns the thread's context (owned by the runner until fini), NULL with err set on
    * failure. Runs before the clock starts. */
   void *(*thread_init)(bench_cell_shared_t *shared, int index, char *err);
   /* One operation. *docs is how many documents it wrote or returned. False with err set on
    * failure; the thread then stops. */
   bool (*op)(void *ctx, bench_cell_shared_t *shared, uint64_t *rng, uint64_t *docs, char *err);
   void (*thread_fini)(void *ctx);
} bench_engine_t;

/* What one cell measured. */
typedef struct bench_result {
   bool ran;    /* false: not measured (skipped or failed before starting) */
   bool failed; /* some thread stopped on an error; the numbers cover what ran */
   int threads;
   uint64_t ops;
   uint64_t docs;
   double seconds;
   double ops_per_s;
   double docs_per_s;
   double p50_us;
   double p99_us;
   /* CPU time per operation (user + system), when measured: of the server process and of
    * this process (the clients); -1 when not. */
   double server_cpu_us;
   double client_cpu_us;
   char error[BENCH_ERR_SIZE];
} bench_result_t;

/* ---- bench_util.c ---- */

/* Monotonic time in nanoseconds. */
uint64_t bench_util_now_ns(void);
/* A xorshift step; *state must be non-zero. */
uint64_t bench_util_rand(uint64_t *state);
/* Formats into err (BENCH_ERR_SIZE bytes) and returns false. */
bool bench_util_fail(char *err, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* The benchmark document with this _id, about 130 bytes:
 * {_id: Int64, k: Int32 (id % 100), v: Int32 0, name: "user-<id>", pad: 64 characters}.
 * doc must be initialized; it is appended to. */
void bench_util_doc(bson_t *doc, int64_t id);
/* Copies src into dst (initialized, empty) with v incremented: what {$inc: {v: 1}} does. */
bool bench_util_inc_v(const uint8_t *src, size_t len, bson_t *dst);
/* Whether the document's k equals BENCH_SCAN_K, by decoding it: what a filter {k: 42} does. */
bool bench_util_matches(const uint8_t *data, size_t len);
/* The canonical _id key the server stores for Int64 id (core/bson/idkey.h). *key is owned by
 * the caller (bson_free). */
bool bench_util_id_key(int64_t id, uint8_t **key, size_t *len);

/* Runs one cell: threads threads of engine, each until the time or operation bound. */
void bench_util_run_cell(const bench_engine_t *engine, bench_cell_shared_t *shared, int threads,
                         bench_result_t *out);

/* The resident set of process pid in kB (VmRSS), -1 when unreadable. */
long bench_util_rss_kb(long pid);
/* CPU time (user + system) process pid has used, in microseconds; -1 when unreadable. */
double bench_util_cpu_us(long pid);
/* CPU time this process has used, in microseconds. */
double bench_util_self_cpu_us(void);

/* ---- bench_sqlite.c: raw SQLite, the same storage work as the SQLite backend ---- */

extern const bench_engine_t bench_sqlite_engine;
/* Creates the database under dir and loads the main table; returns the engine's shared
 * state (owned; bench_sqlite_close), NULL with err set. */
void *bench_sqlite_open(const char *dir, const bench_config_t *config, char *err);
/* Empties the insert table before an insert cell. */
bool bench_sqlite_reset(void *engine, char *err);
void bench_sqlite_close(void *engine);

/* ---- bench_pg.c: raw libpq, the statements the PostgreSQL backend runs ---- */

extern const bench_engine_t bench_pg_engine;
void *bench_pg_open(const char *conninfo, const bench_config_t *config, char *err);
bool bench_pg_reset(void *engine, char *err);
void bench_pg_close(void *engine);

/* ---- bench_net.c: TCP echo and a raw-wire ping ---- */

/* Both engines' shared state is a bench_net_target_t: where to connect. */
typedef struct bench_net_target {
   int port;
} bench_net_target_t;
/* Round trips of an OP_MSG {ping: 1, $db: "admin"} sent over a plain socket: to ferretd
 * (ping reply) or to the echo server (the same bytes back). */
extern const bench_engine_t bench_net_engine;
/* Starts the echo server on a free loopback port; returns the port, -1 with err set. Its
 * threads live until the process exits. */
int bench_net_echo_start(char *err);

#endif /* BENCH_H */
