/*
 * bench_server.c: the server benchmark (bench/README.md).
 *
 * Starts ferretd with one backend, drives it through libmongoc with 1..64 concurrent clients
 * (threads, each with its own client from a pool), and runs next to each workload its anchor:
 * the same storage work on raw SQLite or raw libpq in this process, and for the round trip a
 * raw-wire ping and a plain TCP echo on loopback. Reads the server's resident memory from
 * /proc. Writes a Markdown section and a data file for the chart; bench/run.sh assembles them.
 */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#define MAX_CLIENT_COUNTS 16
#define DB_NAME "bench"

typedef enum backend_kind { BACKEND_SQLITE, BACKEND_POSTGRES } backend_kind_t;

/* The command line. */
typedef struct options {
   const char *ferretd;
   const char *plugin_dir;
   backend_kind_t backend;
   const char *conninfo;
   const char *work_dir;
   int port;
   int workers;
   int clients[MAX_CLIENT_COUNTS];
   int client_count;
   int64_t mem_docs;
   int64_t mem_ops;
   int mem_clients;
   const char *md_path;
   const char *dat_path;
   bool use_pool;   /* --pool: clients from one mongoc_client_pool_t */
   long attach_pid; /* --attach: a ferretd already running on --port (for profiling) */
   bool selected[BENCH_WORKLOAD_COUNT]; /* --workloads; all by default */
   bench_config_t config;
} options_t;

/* The mongoc engine's shared state. */
typedef struct server_shared {
   mongoc_client_pool_t *pool; /* borrowed; the clients come from it when use_pool */
   const mongoc_uri_t *uri;    /* borrowed; otherwise each thread makes a client from it */
   bool use_pool;
   const char *main_name; /* the collection read and updated */
   const char *ins_name;  /* the collection inserted into */
} server_shared_t;

typedef struct server_thread {
   mongoc_client_pool_t *pool; /* borrowed; NULL when the client is not from a pool */
   mongoc_client_t *client;    /* owned (popped from the pool, or made) */
   mongoc_collection_t *main;  /* owned */
   mongoc_collection_t *ins;   /* owned */
   bson_t *batch;              /* owned; batch_size documents */
   const bson_t **batch_ptrs;  /* owned */
   int batch_count;            /* initialized entries of batch */
} server_thread_t;

/* Everything measured for one backend. */
typedef struct report {
   bench_result_t server[BENCH_WORKLOAD_COUNT][MAX_CLIENT_COUNTS];
   /* Storage workloads: the raw anchor. Ping: the raw-wire ping. */
   bench_result_t anchor[BENCH_WORKLOAD_COUNT][MAX_CLIENT_COUNTS];
   /* Ping only: the TCP echo. */
   bench_result_t echo[MAX_CLIENT_COUNTS];
   long rss_idle_kb, rss_loaded_kb, rss_after_ops_kb, rss_end_kb;
   double mem_load_s, mem_ops_s;
   double main_load_s, raw_load_s;
   char mem_error[BENCH_ERR_SIZE]; /* why the memory phase stopped early, "" when it did not */
} report_t;

static const char *const workload_names[BENCH_WORKLOAD_COUNT] = {
   [BENCH_INSERT_MANY] = "insertMany",
   [BENCH_INSERT_ONE] = "insertOne",
   [BENCH_FIND_ID] = "find by _id",
   [BENCH_SCAN] = "unindexed scan (1%)",
   [BENCH_UPDATE] = "update $inc",
   [BENCH_MIX] = "50/50 find/update",
   [BENCH_PING] = "ping",
};
static const char *const workload_keys[BENCH_WORKLOAD_COUNT] = {
   [BENCH_INSERT_MANY] = "insert_many",
   [BENCH_INSERT_ONE] = "insert_one",
   [BENCH_FIND_ID] = "find_id",
   [BENCH_SCAN] = "scan",
   [BENCH_UPDATE] = "update",
   [BENCH_MIX] = "mix",
   [BENCH_PING] = "ping",
};
/* The order cells run in: reads before the writes that grow or change the data. */
static const bench_workload_t run_order[] = {BENCH_PING,       BENCH_FIND_ID, BENCH_SCAN,
                                             BENCH_UPDATE,     BENCH_MIX,     BENCH_INSERT_ONE,
                                             BENCH_INSERT_MANY};

/* ---- the command line ---- */
static bool parse_options(int argc, char **argv, options_t *o);
static void usage(FILE *out);

/* ---- the server process ---- */
static bool prepare_dir(const char *dir, char *err);
static pid_t server_start(const options_t *o, char *err);
static void server_stop(pid_t pid);
static bool server_wait_ready(const options_t *o, pid_t pid, char *err);

/* ---- the mongoc engine ---- */
static void *server_thread_init(bench_cell_shared_t *shared, int index, char *err);
static bool server_op(void *ctx, bench_cell_shared_t *shared, uint64_t *rng, uint64_t *docs,
                      char *err);
static void server_thread_fini(void *ctx);
static bool server_drop(mongoc_client_pool_t *pool, const mongoc_uri_t *uri, const char *collection,
                        char *err);

/* ---- phases ---- */
static bool run_memory(const options_t *o, mongoc_client_pool_t *pool, const mongoc_uri_t *uri,
                       pid_t pid, report_t *r, char *err);
static bool load_main(const options_t *o, mongoc_client_pool_t *pool, const mongoc_uri_t *uri,
                      report_t *r, char *err);
static void run_cells(const options_t *o, mongoc_client_pool_t *pool, const mongoc_uri_t *uri,
                      void *raw, int echo_port, pid_t server_pid, report_t *r);
static void run_measured(const bench_engine_t *engine, bench_cell_shared_t *shared, int threads,
                         pid_t server_pid, bench_result_t *out);
static void print_cell(const char *who, bench_workload_t w, const bench_result_t *res);

/* ---- output ---- */
static void write_markdown(const options_t *o, const report_t *r);
static void write_dat(const options_t *o, const report_t *r);
static const bench_result_t *best(const bench_result_t *row, int n, bool docs);

static const bench_engine_t server_engine = {
   .name = "ferretd",
   .thread_init = server_thread_init,
   .op = server_op,
   .thread_fini = server_thread_fini,
};

int
main(int argc, char **argv)
{
   options_t o;
   report_t *r = calloc(1, sizeof *r);
   char err[BENCH_ERR_SIZE] = "";
   char uri_string[128];
   mongoc_uri_t *uri = NULL;
   mongoc_client_pool_t *pool = NULL;
   void *raw = NULL;
   pid_t pid = -1;        /* the ferretd this process started */
   pid_t server_pid = -1; /* the ferretd measured */
   int echo_port;
   int status = EXIT_FAILURE;

   if (!r || !parse_options(argc, argv, &o)) {
      free(r);
      return 2;
   }
   signal(SIGPIPE, SIG_IGN);
   mongoc_init();

   echo_port = bench_net_echo_start(err);
   if (echo_port < 0) {
      goto done;
   }
   if (o.attach_pid > 0) {
      /* Someone else's process (under perf or valgrind, say): used, never stopped. */
      if (!prepare_dir(o.work_dir, err) || !server_wait_ready(&o, (pid_t) o.attach_pid, err)) {
         goto done;
      }
   } else {
      pid = server_start(&o, err);
      if (pid < 0 || !server_wait_ready(&o, pid, err)) {
         goto done;
      }
   }
   snprintf(uri_string, sizeof uri_string,
            "mongodb://127.0.0.1:%d/?maxPoolSize=200&serverSelectionTimeoutMS=30000"
            "&socketTimeoutMS=600000",
            o.port);
   uri = mongoc_uri_new(uri_string);
   if (!uri) {
      bench_util_fail(err, "bad uri '%s'", uri_string);
      goto done;
   }
   /* Only with --pool: a pool's monitor thread talks to the server the whole time. */
   if (o.use_pool) {
      pool = mongoc_client_pool_new(uri);
      if (!pool) {
         bench_util_fail(err, "cannot create a client pool for '%s'", uri_string);
         goto done;
      }
      mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
   }
   server_pid = o.attach_pid > 0 ? (pid_t) o.attach_pid : pid;
   r->rss_idle_kb = bench_util_rss_kb(server_pid);
   fprintf(stderr, "bench: ferretd pid %ld, VmRSS idle %ld kB\n", (long) server_pid,
           r->rss_idle_kb);

   if (!server_drop(pool, uri, NULL, err)) {
      goto done;
   }
   /* A failed memory phase is reported with the rest, not fatal: the cells still tell a lot. */
   if (!run_memory(&o, pool, uri, server_pid, r, r->mem_error)) {
      fprintf(stderr, "bench: memory phase failed: %s\n", r->mem_error);
      server_drop(pool, uri, "mem", err);
   }
   if (!load_main(&o, pool, uri, r, err)) {
      goto done;
   }
   {
      uint64_t t0 = bench_util_now_ns();
      fprintf(stderr, "bench: loading the raw anchor\n");
      if (o.backend == BACKEND_SQLITE) {
         char dir[4096];
         snprintf(dir, sizeof dir, "%s/raw-sqlite", o.work_dir);
         raw = prepare_dir(dir, err) ? bench_sqlite_open(dir, &o.config, err) : NULL;
      } else {
         raw = bench_pg_open(o.conninfo, &o.config, err);
      }
      if (!raw) {
         goto done;
      }
      r->raw_load_s = (double) (bench_util_now_ns() - t0) / 1e9;
   }
   run_cells(&o, pool, uri, raw, echo_port, server_pid, r);
   r->rss_end_kb = bench_util_rss_kb(server_pid);
   write_markdown(&o, r);
   write_dat(&o, r);
   status = EXIT_SUCCESS;

done:
   if (status != EXIT_SUCCESS) {
      fprintf(stderr, "bench: %s\n", err);
   }
   if (raw) {
      if (o.backend == BACKEND_SQLITE) {
         bench_sqlite_close(raw);
      } else {
         bench_pg_close(raw);
      }
   }
   if (pool) {
      mongoc_client_pool_destroy(pool);
   }
   mongoc_uri_destroy(uri);
   if (pid > 0) {
      server_stop(pid);
   }
   mongoc_cleanup();
   free(r);
   return status;
}

/* ---- the command line ---- */

static bool
parse_options(int argc, char **argv, options_t *o)
{
   static const struct option long_options[] = {
      {"ferretd", required_argument, NULL, 'f'},
      {"plugin-dir", required_argument, NULL, 'P'},
      {"backend", required_argument, NULL, 'b'},
      {"conninfo", required_argument, NULL, 'C'},
      {"synchronous", required_argument, NULL, 'y'},
      {"work-dir", required_argument, NULL, 'W'},
      {"port", required_argument, NULL, 'p'},
      {"workers", required_argument, NULL, 'w'},
      {"clients", required_argument, NULL, 'c'},
      {"seconds", required_argument, NULL, 's'},
      {"max-ops", required_argument, NULL, 'm'},
      {"main-docs", required_argument, NULL, 'n'},
      {"batch", required_argument, NULL, 'B'},
      {"mem-docs", required_argument, NULL, 'D'},
      {"mem-ops", required_argument, NULL, 'O'},
      {"mem-clients", required_argument, NULL, 'M'},
      {"md", required_argument, NULL, 'r'},
      {"dat", required_argument, NULL, 'd'},
      {"workloads", required_argument, NULL, 'k'},
      {"attach", required_argument, NULL, 'a'},
      {"pool", no_argument, NULL, 'o'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
   };
   const char *clients = "1,4,16,64";
   const char *workloads = NULL;
   long cpus = sysconf(_SC_NPROCESSORS_ONLN);
   int opt;

   memset(o, 0, sizeof *o);
   o->backend = BACKEND_SQLITE;
   o->work_dir = "/tmp/ferret-bench";
   o->port = 27950;
   o->workers = cpus > 0 ? (int) cpus : 2;
   o->mem_docs = 1000000;
   o->mem_ops = 1000000;
   o->mem_clients = 8;
   o->config.main_docs = 200000;
   o->config.batch_size = 1000;
   o->config.seconds = 3;
   o->config.max_ops = 2000000;
   o->config.synchronous = "normal";
   while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
      switch (opt) {
      case 'f':
         o->ferretd = optarg;
         break;
      case 'P':
         o->plugin_dir = optarg;
         break;
      case 'b':
         if (strcmp(optarg, "sqlite") == 0) {
            o->backend = BACKEND_SQLITE;
         } else if (strcmp(optarg, "postgres") == 0) {
            o->backend = BACKEND_POSTGRES;
         } else {
            fprintf(stderr, "bench: unknown backend '%s'\n", optarg);
            return false;
         }
         break;
      case 'C':
         o->conninfo = optarg;
         break;
      case 'y':
         if (strcmp(optarg, "full") != 0 && strcmp(optarg, "normal") != 0) {
            fprintf(stderr, "bench: synchronous must be full or normal\n");
            return false;
         }
         o->config.synchronous = optarg;
         break;
      case 'W':
         o->work_dir = optarg;
         break;
      case 'p':
         o->port = atoi(optarg);
         break;
      case 'w':
         o->workers = atoi(optarg);
         break;
      case 'c':
         clients = optarg;
         break;
      case 's':
         o->config.seconds = atof(optarg);
         break;
      case 'm':
         o->config.max_ops = strtoull(optarg, NULL, 10);
         break;
      case 'n':
         o->config.main_docs = strtoll(optarg, NULL, 10);
         break;
      case 'B':
         o->config.batch_size = atoi(optarg);
         break;
      case 'D':
         o->mem_docs = strtoll(optarg, NULL, 10);
         break;
      case 'O':
         o->mem_ops = strtoll(optarg, NULL, 10);
         break;
      case 'M':
         o->mem_clients = atoi(optarg);
         break;
      case 'r':
         o->md_path = optarg;
         break;
      case 'd':
         o->dat_path = optarg;
         break;
      case 'k':
         workloads = optarg;
         break;
      case 'o':
         o->use_pool = true;
         break;
      case 'a':
         o->attach_pid = strtol(optarg, NULL, 10);
         break;
      case 'h':
         usage(stdout);
         exit(EXIT_SUCCESS);
      default:
         usage(stderr);
         return false;
      }
   }
   for (const char *p = clients; *p && o->client_count < MAX_CLIENT_COUNTS;) {
      char *end;
      long n = strtol(p, &end, 10);
      if (end == p || n < 1 || n > 1000) {
         fprintf(stderr, "bench: bad --clients '%s'\n", clients);
         return false;
      }
      o->clients[o->client_count++] = (int) n;
      p = *end == ',' ? end + 1 : end;
   }
   for (int w = 0; w < BENCH_WORKLOAD_COUNT; w++) {
      char list[256];
      size_t len = strlen(workload_keys[w]);
      const char *p;
      snprintf(list, sizeof list, ",%s,", workloads ? workloads : "");
      p = strstr(list, workload_keys[w]);
      o->selected[w] = !workloads || (p && p[-1] == ',' && p[len] == ',');
   }
   if ((!o->attach_pid && (!o->ferretd || !o->plugin_dir)) || o->client_count == 0 ||
       o->workers < 1 || o->config.batch_size < 1 || o->config.main_docs < o->config.batch_size ||
       o->config.main_docs % o->config.batch_size != 0 || o->mem_docs % o->config.batch_size != 0 ||
       o->config.seconds <= 0 || (o->backend == BACKEND_POSTGRES && !o->conninfo)) {
      fprintf(stderr, "bench: --ferretd and --plugin-dir are required, --conninfo with postgres;"
                      " document counts must be multiples of --batch\n");
      usage(stderr);
      return false;
   }
   return true;
}

static void
usage(FILE *out)
{
   fprintf(out,
           "usage: bench_server --ferretd PATH --plugin-dir DIR [--backend sqlite|postgres]\n"
           "       [--conninfo STR] [--synchronous normal|full] [--work-dir DIR] [--port N]\n"
           "       [--workers N] [--clients 1,4,16,64] [--seconds S] [--max-ops N]\n"
           "       [--main-docs N] [--batch N] [--mem-docs N] [--mem-ops N] [--mem-clients N]\n"
           "       [--md FILE] [--dat FILE] [--workloads ping,find_id,scan,update,mix,\n"
           "       insert_one,insert_many] [--attach PID] [--pool]\n"
           "Starts ferretd, runs every workload at every client count next to its anchor,\n"
           "appends a Markdown section to --md and writes chart data to --dat. With --attach\n"
           "it uses the ferretd of that pid already listening on --port instead. Each client\n"
           "thread makes its own mongoc_client_t, or pops one from a pool with --pool.\n");
}

/* ---- the server process ---- */

/* Creates dir, or empties it of the files a previous run left (not recursively). */
static bool
prepare_dir(const char *dir, char *err)
{
   DIR *d;
   struct dirent *e;

   if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
      return bench_util_fail(err, "cannot create '%s': %s", dir, strerror(errno));
   }
   d = opendir(dir);
   if (!d) {
      return bench_util_fail(err, "cannot open '%s': %s", dir, strerror(errno));
   }
   while ((e = readdir(d))) {
      char path[8192];
      struct stat st;
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
         unlink(path);
      }
   }
   closedir(d);
   return true;
}

/* True when something already accepts connections on the port: a ferretd started there
 * would fail to bind while the benchmark measured that other server. */
static bool
port_in_use(int port)
{
   struct sockaddr_in addr = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                              .sin_port = htons((uint16_t) port)};
   int fd = socket(AF_INET, SOCK_STREAM, 0);
   bool used = fd >= 0 && connect(fd, (struct sockaddr *) &addr, sizeof addr) == 0;

   if (fd >= 0) {
      close(fd);
   }
   return used;
}

static pid_t
server_start(const options_t *o, char *err)
{
   char data_dir[4096], conf[4200], log_path[4200], listen_arg[64], workers[16];
   const char *backend = o->backend == BACKEND_SQLITE ? "sqlite" : "postgres";
   FILE *f;
   pid_t pid;

   if (port_in_use(o->port)) {
      bench_util_fail(err, "port %d is in use; choose another with --port", o->port);
      return -1;
   }
   if (!prepare_dir(o->work_dir, err)) {
      return -1;
   }
   snprintf(data_dir, sizeof data_dir, "%s/data-%s", o->work_dir, backend);
   if (!prepare_dir(data_dir, err)) {
      return -1;
   }
   snprintf(conf, sizeof conf, "%s/ferretd-%s.conf", o->work_dir, backend);
   snprintf(log_path, sizeof log_path, "%s/ferretd-%s.log", o->work_dir, backend);
   f = fopen(conf, "w");
   if (!f) {
      bench_util_fail(err, "cannot write '%s': %s", conf, strerror(errno));
      return -1;
   }
   fprintf(f, "log_level = warning\n\n[sqlite]\ndata_dir = %s\nsynchronous = %s\n", data_dir,
           o->config.synchronous);
   if (o->conninfo) {
      fprintf(f, "\n[postgres]\nconninfo = %s\n", o->conninfo);
   }
   fclose(f);
   snprintf(listen_arg, sizeof listen_arg, "127.0.0.1:%d", o->port);
   snprintf(workers, sizeof workers, "%d", o->workers);

   pid = fork();
   if (pid < 0) {
      bench_util_fail(err, "fork: %s", strerror(errno));
      return -1;
   }
   if (pid == 0) {
      int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
         dup2(fd, STDOUT_FILENO);
         dup2(fd, STDERR_FILENO);
         close(fd);
      }
      execl(o->ferretd, o->ferretd, "--config", conf, "--listen", listen_arg, "--backend", backend,
            "--plugin-dir", o->plugin_dir, "--workers", workers, (char *) NULL);
      fprintf(stderr, "exec '%s': %s\n", o->ferretd, strerror(errno));
      _exit(127);
   }
   fprintf(stderr, "bench: started %s (pid %ld), log %s\n", o->ferretd, (long) pid, log_path);
   return pid;
}

static void
server_stop(pid_t pid)
{
   int status;

   kill(pid, SIGTERM);
   for (int i = 0; i < 100; i++) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
         return;
      }
      usleep(100000);
   }
   kill(pid, SIGKILL);
   waitpid(pid, &status, 0);
}

static bool
server_wait_ready(const options_t *o, pid_t pid, char *err)
{
   char uri[96];
   mongoc_client_t *client;
   bson_t ping = BSON_INITIALIZER;
   bson_error_t error = {0};
   bool ok = false;

   snprintf(uri, sizeof uri, "mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=500", o->port);
   client = mongoc_client_new(uri);
   BSON_APPEND_INT32(&ping, "ping", 1);
   for (int i = 0; i < 60 && client && !ok; i++) {
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) {
         bench_util_fail(err, "ferretd exited at start; see its log in %s", o->work_dir);
         break;
      }
      ok = mongoc_client_command_simple(client, "admin", &ping, NULL, NULL, &error);
      if (!ok) {
         usleep(250000);
      }
   }
   if (!ok && !err[0]) {
      bench_util_fail(err, "ferretd does not answer ping: %s", error.message);
   }
   bson_destroy(&ping);
   mongoc_client_destroy(client);
   return ok;
}

/* ---- the mongoc engine ---- */

static void *
server_thread_init(bench_cell_shared_t *shared, int index, char *err)
{
   const server_shared_t *s = shared->engine;
   server_thread_t *t = calloc(1, sizeof *t);
   int n = shared->config->batch_size;

   (void) index;
   if (!t) {
      bench_util_fail(err, "out of memory");
      return NULL;
   }
   if (s->use_pool) {
      t->pool = s->pool;
      t->client = mongoc_client_pool_pop(s->pool);
   } else {
      t->client = mongoc_client_new_from_uri(s->uri);
      if (!t->client) {
         bench_util_fail(err, "cannot create a client");
         server_thread_fini(t);
         return NULL;
      }
      mongoc_client_set_error_api(t->client, MONGOC_ERROR_API_VERSION_2);
   }
   t->main = mongoc_client_get_collection(t->client, DB_NAME, s->main_name);
   t->ins = mongoc_client_get_collection(t->client, DB_NAME, s->ins_name);
   if (shared->workload == BENCH_INSERT_MANY) {
      t->batch = calloc((size_t) n, sizeof *t->batch);
      t->batch_ptrs = calloc((size_t) n, sizeof *t->batch_ptrs);
      if (!t->batch || !t->batch_ptrs) {
         bench_util_fail(err, "out of memory");
         server_thread_fini(t);
         return NULL;
      }
      for (int i = 0; i < n; i++) {
         bson_init(&t->batch[i]);
         t->batch_ptrs[i] = &t->batch[i];
         t->batch_count++;
      }
   }
   return t;
}

static bool
server_find(server_thread_t *t, int64_t id, char *err)
{
   bson_t filter = BSON_INITIALIZER;
   bson_t opts = BSON_INITIALIZER;
   const bson_t *doc;
   bson_error_t error;
   mongoc_cursor_t *cursor;
   bool found = false;
   bool ok;

   BSON_APPEND_INT64(&filter, "_id", id);
   BSON_APPEND_INT64(&opts, "limit", 1);
   BSON_APPEND_BOOL(&opts, "singleBatch", true);
   cursor = mongoc_collection_find_with_opts(t->main, &filter, &opts, NULL);
   while (mongoc_cursor_next(cursor, &doc)) {
      found = true;
   }
   ok = !mongoc_cursor_error(cursor, &error);
   if (!ok) {
      bench_util_fail(err, "find: %s", error.message);
   } else if (!found) {
      ok = bench_util_fail(err, "find of _id %lld: not found", (long long) id);
   }
   mongoc_cursor_destroy(cursor);
   bson_destroy(&filter);
   bson_destroy(&opts);
   return ok;
}

static bool
server_update(server_thread_t *t, int64_t id, char *err)
{
   bson_t filter = BSON_INITIALIZER;
   bson_t update = BSON_INITIALIZER;
   bson_t inc;
   bson_t reply;
   bson_iter_t iter;
   bson_error_t error;
   bool ok;

   BSON_APPEND_INT64(&filter, "_id", id);
   BSON_APPEND_DOCUMENT_BEGIN(&update, "$inc", &inc);
   BSON_APPEND_INT32(&inc, "v", 1);
   bson_append_document_end(&update, &inc);
   ok = mongoc_collection_update_one(t->main, &filter, &update, NULL, &reply, &error);
   if (!ok) {
      bench_util_fail(err, "update: %s", error.message);
   } else if (!bson_iter_init_find(&iter, &reply, "modifiedCount") ||
              bson_iter_as_int64(&iter) != 1) {
      char *json = bson_as_relaxed_extended_json(&reply, NULL);
      ok = bench_util_fail(err, "update of _id %lld modified nothing: %s", (long long) id, json);
      bson_free(json);
   }
   bson_destroy(&reply);
   bson_destroy(&filter);
   bson_destroy(&update);
   return ok;
}

static bool
server_scan(server_thread_t *t, int64_t expected, char *err)
{
   bson_t filter = BSON_INITIALIZER;
   const bson_t *doc;
   bson_error_t error;
   mongoc_cursor_t *cursor;
   int64_t n = 0;
   bool ok;

   BSON_APPEND_INT32(&filter, "k", BENCH_SCAN_K);
   cursor = mongoc_collection_find_with_opts(t->main, &filter, NULL, NULL);
   while (mongoc_cursor_next(cursor, &doc)) {
      n++;
   }
   ok = !mongoc_cursor_error(cursor, &error);
   if (!ok) {
      bench_util_fail(err, "scan: %s", error.message);
   } else if (n != expected) {
      ok = bench_util_fail(err, "scan returned %lld documents, expected %lld", (long long) n,
                           (long long) expected);
   }
   mongoc_cursor_destroy(cursor);
   bson_destroy(&filter);
   return ok;
}

static bool
server_op(void *ctx, bench_cell_shared_t *shared, uint64_t *rng, uint64_t *docs, char *err)
{
   server_thread_t *t = ctx;
   const bench_config_t *config = shared->config;
   int64_t id = (int64_t) (bench_util_rand(rng) % (uint64_t) config->main_docs);
   bson_error_t error;
   bool ok = true;

   *docs = 1;
   switch (shared->workload) {
   case BENCH_INSERT_MANY: {
      int64_t first = atomic_fetch_add(&shared->next_id, config->batch_size);
      for (int i = 0; i < config->batch_size; i++) {
         bson_reinit(&t->batch[i]);
         bench_util_doc(&t->batch[i], first + i);
      }
      *docs = (uint64_t) config->batch_size;
      if (!mongoc_collection_insert_many(t->ins, t->batch_ptrs, (size_t) config->batch_size, NULL,
                                         NULL, &error)) {
         ok = bench_util_fail(err, "insertMany: %s", error.message);
      }
      break;
   }
   case BENCH_INSERT_ONE: {
      bson_t doc = BSON_INITIALIZER;
      bench_util_doc(&doc, atomic_fetch_add(&shared->next_id, 1));
      if (!mongoc_collection_insert_one(t->ins, &doc, NULL, NULL, &error)) {
         ok = bench_util_fail(err, "insertOne: %s", error.message);
      }
      bson_destroy(&doc);
      break;
   }
   case BENCH_FIND_ID:
      ok = server_find(t, id, err);
      break;
   case BENCH_SCAN:
      *docs = (uint64_t) config->main_docs;
      ok = server_scan(t, bench_scan_expected(config->main_docs), err);
      break;
   case BENCH_UPDATE:
      ok = server_update(t, id, err);
      break;
   case BENCH_MIX:
      ok = (bench_util_rand(rng) & 1) ? server_update(t, id, err) : server_find(t, id, err);
      break;
   case BENCH_PING: {
      bson_t ping = BSON_INITIALIZER;
      *docs = 0;
      BSON_APPEND_INT32(&ping, "ping", 1);
      if (!mongoc_client_command_simple(t->client, "admin", &ping, NULL, NULL, &error)) {
         ok = bench_util_fail(err, "ping: %s", error.message);
      }
      bson_destroy(&ping);
      break;
   }
   default:
      ok = bench_util_fail(err, "unknown workload %d", (int) shared->workload);
      break;
   }
   return ok;
}

static void
server_thread_fini(void *ctx)
{
   server_thread_t *t = ctx;

   if (!t) {
      return;
   }
   for (int i = 0; i < t->batch_count; i++) {
      bson_destroy(&t->batch[i]);
   }
   free(t->batch);
   free(t->batch_ptrs);
   mongoc_collection_destroy(t->main);
   mongoc_collection_destroy(t->ins);
   if (t->client && t->pool) {
      mongoc_client_pool_push(t->pool, t->client);
   } else {
      mongoc_client_destroy(t->client);
   }
   free(t);
}

/* Drops collection, or the whole benchmark database when collection is NULL; through a client
 * of pool, or without a pool a client of its own. */
static bool
server_drop(mongoc_client_pool_t *pool, const mongoc_uri_t *uri, const char *collection, char *err)
{
   mongoc_client_t *client = pool ? mongoc_client_pool_pop(pool) : mongoc_client_new_from_uri(uri);
   bson_error_t error = {0};
   bool ok;

   if (collection) {
      mongoc_collection_t *c = mongoc_client_get_collection(client, DB_NAME, collection);
      ok = mongoc_collection_drop_with_opts(c, NULL, &error);
      mongoc_collection_destroy(c);
   } else {
      mongoc_database_t *db = mongoc_client_get_database(client, DB_NAME);
      ok = mongoc_database_drop_with_opts(db, NULL, &error);
      mongoc_database_destroy(db);
   }
   /* A collection that is not there is as good as dropped. */
   if (!ok && error.code == 26) {
      ok = true;
   }
   if (!ok) {
      bench_util_fail(err, "drop: %s", error.message);
   }
   if (pool) {
      mongoc_client_pool_push(pool, client);
   } else {
      mongoc_client_destroy(client);
   }
   return ok;
}

/* ---- phases ---- */

/* Loads mem_docs documents, then runs mem_ops finds and updates by _id, reading VmRSS after
 * each; the collection is dropped afterwards so the cells start from the same state. */
static bool
run_memory(const options_t *o, mongoc_client_pool_t *pool, const mongoc_uri_t *uri, pid_t pid,
           report_t *r, char *err)
{
   bench_config_t config = o->config;
   server_shared_t s = {pool, uri, o->use_pool, "mem", "mem"};
   bench_cell_shared_t shared = {.config = &config, .engine = &s};
   bench_result_t res;

   if (o->mem_docs <= 0) {
      return true;
   }
   config.main_docs = o->mem_docs;
   config.seconds = 1e6;
   config.max_ops = (uint64_t) (o->mem_docs / config.batch_size);
   shared.workload = BENCH_INSERT_MANY;
   atomic_store(&shared.next_id, 0);
   fprintf(stderr, "bench: memory: loading %lld documents\n", (long long) o->mem_docs);
   bench_util_run_cell(&server_engine, &shared, o->mem_clients, &res);
   if (res.failed || res.docs != (uint64_t) o->mem_docs) {
      return bench_util_fail(err, "memory load: %s", res.error);
   }
   r->mem_load_s = res.seconds;
   r->rss_loaded_kb = bench_util_rss_kb(pid);
   fprintf(stderr, "bench: memory: loaded in %.1f s, VmRSS %ld kB\n", res.seconds,
           r->rss_loaded_kb);

   if (o->mem_ops > 0) {
      config.max_ops = (uint64_t) o->mem_ops;
      shared.workload = BENCH_MIX;
      bench_util_run_cell(&server_engine, &shared, o->mem_clients, &res);
      if (res.failed) {
         return bench_util_fail(err, "memory operations: %s", res.error);
      }
      r->mem_ops_s = res.seconds;
      r->rss_after_ops_kb = bench_util_rss_kb(pid);
      fprintf(stderr, "bench: memory: %lld operations in %.1f s, VmRSS %ld kB\n",
              (long long) res.ops, res.seconds, r->rss_after_ops_kb);
   }
   return server_drop(pool, uri, "mem", err);
}

static bool
load_main(const options_t *o, mongoc_client_pool_t *pool, const mongoc_uri_t *uri, report_t *r,
          char *err)
{
   bench_config_t config = o->config;
   server_shared_t s = {pool, uri, o->use_pool, "main", "main"};
   bench_cell_shared_t shared = {.config = &config, .engine = &s, .workload = BENCH_INSERT_MANY};
   bench_result_t res;

   config.seconds = 1e6;
   config.max_ops = (uint64_t) (config.main_docs / config.batch_size);
   atomic_store(&shared.next_id, 0);
   fprintf(stderr, "bench: loading %lld documents into the main collection\n",
           (long long) config.main_docs);
   bench_util_run_cell(&server_engine, &shared, 2, &res);
   if (res.failed || res.docs != (uint64_t) config.main_docs) {
      return bench_util_fail(err, "main load: %s", res.error);
   }
   r->main_load_s = res.seconds;
   return true;
}

static void
run_cells(const options_t *o, mongoc_client_pool_t *pool, const mongoc_uri_t *uri, void *raw,
          int echo_port, pid_t server_pid, report_t *r)
{
   const bench_engine_t *raw_engine =
      o->backend == BACKEND_SQLITE ? &bench_sqlite_engine : &bench_pg_engine;
   server_shared_t s = {pool, uri, o->use_pool, "main", "ins"};
   bench_net_target_t server_target = {o->port};
   bench_net_target_t echo_target = {echo_port};
   char err[BENCH_ERR_SIZE];

   for (size_t k = 0; k < sizeof run_order / sizeof run_order[0]; k++) {
      bench_workload_t w = run_order[k];
      bool inserts = w == BENCH_INSERT_MANY || w == BENCH_INSERT_ONE;
      if (!o->selected[w]) {
         continue;
      }
      for (int c = 0; c < o->client_count; c++) {
         int clients = o->clients[c];
         bench_cell_shared_t shared = {.config = &o->config, .workload = w, .engine = &s};

         if (inserts && !server_drop(pool, uri, "ins", err)) {
            snprintf(r->server[w][c].error, sizeof r->server[w][c].error, "%s", err);
            r->server[w][c].failed = true;
            continue;
         }
         atomic_store(&shared.next_id, 0);
         run_measured(&server_engine, &shared, clients, server_pid, &r->server[w][c]);
         print_cell("ferretd", w, &r->server[w][c]);

         if (w == BENCH_PING) {
            shared.engine = &server_target;
            run_measured(&bench_net_engine, &shared, clients, server_pid, &r->anchor[w][c]);
            print_cell("raw-wire ping", w, &r->anchor[w][c]);
            shared.engine = &echo_target;
            bench_util_run_cell(&bench_net_engine, &shared, clients, &r->echo[c]);
            print_cell("TCP echo", w, &r->echo[c]);
            continue;
         }
         /* The server runs at most `workers` storage calls at once; so does its anchor. A
          * cell with as many threads ran already: reuse it. */
         {
            int threads = clients < o->workers ? clients : o->workers;
            bool reused = false;
            for (int p = 0; p < c; p++) {
               if (r->anchor[w][p].threads == threads && r->anchor[w][p].ran) {
                  r->anchor[w][c] = r->anchor[w][p];
                  reused = true;
                  break;
               }
            }
            if (reused) {
               continue;
            }
            shared.engine = raw;
            if (inserts && !(o->backend == BACKEND_SQLITE ? bench_sqlite_reset(raw, err)
                                                          : bench_pg_reset(raw, err))) {
               snprintf(r->anchor[w][c].error, sizeof r->anchor[w][c].error, "%s", err);
               r->anchor[w][c].failed = true;
               continue;
            }
            atomic_store(&shared.next_id, 0);
            bench_util_run_cell(raw_engine, &shared, threads, &r->anchor[w][c]);
            print_cell(raw_engine->name, w, &r->anchor[w][c]);
         }
      }
   }
}

/* A cell against ferretd, with the CPU per operation on each side of the socket: what the
 * server spends, and what the clients (libmongoc, building documents) take from the same
 * cores. */
static void
run_measured(const bench_engine_t *engine, bench_cell_shared_t *shared, int threads,
             pid_t server_pid, bench_result_t *out)
{
   double server0 = bench_util_cpu_us(server_pid);
   double self0 = bench_util_self_cpu_us();

   bench_util_run_cell(engine, shared, threads, out);
   if (out->ops > 0 && server0 >= 0) {
      out->server_cpu_us = (bench_util_cpu_us(server_pid) - server0) / (double) out->ops;
      out->client_cpu_us = (bench_util_self_cpu_us() - self0) / (double) out->ops;
   }
}

static void
print_cell(const char *who, bench_workload_t w, const bench_result_t *res)
{
   fprintf(stderr,
           "bench: %-14s %-20s %3d threads: %10.1f ops/s %12.1f docs/s p50 %8.1f us"
           " p99 %9.1f us",
           who, workload_names[w], res->threads, res->ops_per_s, res->docs_per_s, res->p50_us,
           res->p99_us);
   if (res->server_cpu_us >= 0) {
      fprintf(stderr, " cpu/op server %.1f us client %.1f us", res->server_cpu_us,
              res->client_cpu_us);
   }
   fprintf(stderr, "%s%s\n", res->failed ? "  FAILED: " : "", res->failed ? res->error : "");
}

/* ---- output ---- */

/* The cell with the highest throughput of a row of n, NULL when none ran. */
static const bench_result_t *
best(const bench_result_t *row, int n, bool docs)
{
   const bench_result_t *b = NULL;

   for (int i = 0; i < n; i++) {
      if (row[i].ran &&
          (!b || (docs ? row[i].docs_per_s > b->docs_per_s : row[i].ops_per_s > b->ops_per_s))) {
         b = &row[i];
      }
   }
   return b;
}

static void
fmt_num(char *out, size_t size, double v)
{
   if (v >= 100) {
      snprintf(out, size, "%.0f", v);
   } else if (v >= 10) {
      snprintf(out, size, "%.1f", v);
   } else {
      snprintf(out, size, "%.2f", v);
   }
}

static void
md_row(FILE *f, const char *workload, int clients, const bench_result_t *s, const char *anchor_name,
       const bench_result_t *a, bool docs)
{
   char ops[32], dps[32], p50[32], p99[32], aops[32], ap50[32];

   fmt_num(ops, sizeof ops, s->ops_per_s);
   fmt_num(dps, sizeof dps, s->docs_per_s);
   fmt_num(p50, sizeof p50, s->p50_us);
   fmt_num(p99, sizeof p99, s->p99_us);
   fprintf(f, "| %s | %d | %s | %s | %s | %s |", workload, clients, ops, docs ? dps : "", p50, p99);
   if (s->server_cpu_us >= 0) {
      fprintf(f, " %.1f | %.1f |", s->server_cpu_us, s->client_cpu_us);
   } else {
      fprintf(f, " | |");
   }
   if (a && a->ran) {
      double as = docs ? a->docs_per_s : a->ops_per_s;
      double ss = docs ? s->docs_per_s : s->ops_per_s;
      fmt_num(aops, sizeof aops, a->ops_per_s);
      fmt_num(ap50, sizeof ap50, a->p50_us);
      fprintf(f, " %s (%d) | %s | %s | %.2f | %.2f |", anchor_name, a->threads, aops, ap50,
              as > 0 ? ss / as : 0, a->p50_us > 0 ? s->p50_us / a->p50_us : 0);
   } else {
      fprintf(f, " | | | | |");
   }
   if (s->failed || (a && a->failed)) {
      fprintf(f, " failed: %s", s->failed ? s->error : a->error);
   }
   fprintf(f, "\n");
}

static void
md_target(FILE *f, const char *what, double value, const char *rule, bool met)
{
   fprintf(f, "| %s | %.2f | %s | %s |\n", what, value, rule, met ? "met" : "**missed**");
}

static void
write_markdown(const options_t *o, const report_t *r)
{
   const char *raw_name = o->backend == BACKEND_SQLITE ? "raw SQLite" : "raw libpq";
   FILE *f = o->md_path ? fopen(o->md_path, "a") : stdout;
   int n = o->client_count;

   if (!f) {
      fprintf(stderr, "bench: cannot write '%s': %s\n", o->md_path, strerror(errno));
      return;
   }
   if (o->backend == BACKEND_SQLITE) {
      fprintf(f, "## SQLite backend (synchronous = %s, %d workers)\n\n", o->config.synchronous,
              o->workers);
   } else {
      fprintf(f, "## PostgreSQL backend (%d workers)\n\n", o->workers);
   }
   fprintf(f,
           "Main collection: %lld documents of about 130 bytes, loaded through insertMany in "
           "%.1f s by 2 clients (%s: %.1f s, one thread). Cells: %.0f s or %llu operations "
           "each; batches of %d documents.\n\n",
           (long long) o->config.main_docs, r->main_load_s, raw_name, r->raw_load_s,
           o->config.seconds, (unsigned long long) o->config.max_ops, o->config.batch_size);

   fprintf(f, "### Memory (ferretd VmRSS)\n\n| point | VmRSS (MB) |\n|---|---:|\n");
   fprintf(f, "| idle, after start | %.1f |\n", r->rss_idle_kb / 1024.0);
   if (o->mem_docs > 0) {
      fprintf(f, "| after loading %lld documents (%.1f s, %d clients) | %.1f |\n",
              (long long) o->mem_docs, r->mem_load_s, o->mem_clients, r->rss_loaded_kb / 1024.0);
   }
   if (o->mem_docs > 0 && o->mem_ops > 0) {
      fprintf(f,
              "| after %lld more operations (find/update by _id 50/50, %.1f s, %d clients) "
              "| %.1f |\n",
              (long long) o->mem_ops, r->mem_ops_s, o->mem_clients, r->rss_after_ops_kb / 1024.0);
   }
   fprintf(f, "| at the end of all cells | %.1f |\n\n", r->rss_end_kb / 1024.0);
   if (r->mem_error[0]) {
      fprintf(f, "The memory phase stopped early: %s\n\n", r->mem_error);
   }

   fprintf(f, "### Workloads\n\n"
              "Ratio = ferretd throughput / anchor throughput (docs/s for insertMany and the "
              "scan); p50 ratio = ferretd p50 / anchor p50. The anchor runs min(clients, "
              "workers) threads: the server never runs more storage calls at once. CPU µs/op: "
              "user + system time of the ferretd process, and of the benchmark process (the "
              "mongoc clients), divided by the cell's operations; both share the same cores.\n\n");
   fprintf(f, "| workload | clients | ops/s | docs/s | p50 µs | p99 µs | ferretd CPU µs/op | "
              "client CPU µs/op | anchor (threads) | anchor ops/s | anchor p50 µs | ratio | "
              "p50 ratio |\n");
   fprintf(f, "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n");
   for (size_t k = 0; k < sizeof run_order / sizeof run_order[0]; k++) {
      bench_workload_t w = run_order[k];
      bool docs = w == BENCH_INSERT_MANY || w == BENCH_SCAN;
      if (!o->selected[w]) {
         continue;
      }
      for (int c = 0; c < n; c++) {
         if (w == BENCH_PING) {
            md_row(f, "ping (mongoc)", o->clients[c], &r->server[w][c], "TCP echo", &r->echo[c],
                   false);
            md_row(f, "ping (raw wire)", o->clients[c], &r->anchor[w][c], "TCP echo", &r->echo[c],
                   false);
         } else {
            md_row(f, workload_names[w], o->clients[c], &r->server[w][c], raw_name,
                   &r->anchor[w][c], docs);
         }
      }
   }

   fprintf(f, "\n### Targets\n\n| target | value | rule | |\n|---|---:|---|---|\n");
   {
      const bench_result_t *ping1 = &r->server[BENCH_PING][0];
      const bench_result_t *raw_ping1 = &r->anchor[BENCH_PING][0];
      const bench_result_t *echo1 = &r->echo[0];
      const bench_result_t *find1 = &r->server[BENCH_FIND_ID][0];
      char what[160];

      if (find1->ran && ping1->ran) {
         snprintf(what, sizeof what, "find by _id p50 / ping p50 (%d client)", o->clients[0]);
         md_target(f, what, find1->p50_us / ping1->p50_us, "≤ 1.3",
                   find1->p50_us / ping1->p50_us <= 1.3);
      }
      if (ping1->ran && echo1->ran) {
         snprintf(what, sizeof what, "ping p50 (mongoc) / TCP echo p50 (%d client)", o->clients[0]);
         md_target(f, what, ping1->p50_us / echo1->p50_us, "≤ 1.5",
                   ping1->p50_us / echo1->p50_us <= 1.5);
      }
      if (raw_ping1->ran && echo1->ran) {
         snprintf(what, sizeof what, "ping p50 (raw wire) / TCP echo p50 (%d client)",
                  o->clients[0]);
         md_target(f, what, raw_ping1->p50_us / echo1->p50_us, "≤ 1.5",
                   raw_ping1->p50_us / echo1->p50_us <= 1.5);
      }
      for (size_t k = 0; k < sizeof run_order / sizeof run_order[0]; k++) {
         bench_workload_t w = run_order[k];
         bool docs = w == BENCH_INSERT_MANY || w == BENCH_SCAN;
         const bench_result_t *bs = best(r->server[w], n, docs);
         const bench_result_t *ba = best(r->anchor[w], n, docs);
         double ratio;
         if (w == BENCH_PING || !bs || !ba) {
            continue;
         }
         ratio = docs ? bs->docs_per_s / ba->docs_per_s : bs->ops_per_s / ba->ops_per_s;
         if (o->backend == BACKEND_SQLITE) {
            if (w != BENCH_INSERT_MANY && w != BENCH_SCAN) {
               continue;
            }
            snprintf(what, sizeof what, "%s: best ferretd / best raw SQLite (%s)",
                     workload_names[w], docs ? "docs/s" : "ops/s");
            md_target(f, what, ratio, "≥ 0.50", ratio >= 0.5);
         } else {
            snprintf(what, sizeof what, "%s: best ferretd / best raw libpq (%s)", workload_names[w],
                     docs ? "docs/s" : "ops/s");
            md_target(f, what, ratio, "≥ 0.77 (within 1.3x)", ratio >= 1 / 1.3);
            if (r->server[w][0].ran && r->anchor[w][0].ran) {
               double p = r->server[w][0].p50_us / r->anchor[w][0].p50_us;
               snprintf(what, sizeof what, "%s: p50 ferretd / raw libpq (%d client)",
                        workload_names[w], o->clients[0]);
               md_target(f, what, p, "≤ 1.3", p <= 1.3);
            }
         }
      }
   }
   fprintf(f, "\n");
   if (f != stdout) {
      fclose(f);
   }
}

/* One row per client count: ferretd's throughput per workload, then the anchors'. insertMany
 * and the scan are in docs/s, the rest in ops/s. */
static void
write_dat(const options_t *o, const report_t *r)
{
   FILE *f;

   if (!o->dat_path) {
      return;
   }
   f = fopen(o->dat_path, "w");
   if (!f) {
      fprintf(stderr, "bench: cannot write '%s': %s\n", o->dat_path, strerror(errno));
      return;
   }
   fprintf(f, "# clients");
   for (size_t k = 0; k < sizeof run_order / sizeof run_order[0]; k++) {
      fprintf(f, " %s", workload_keys[run_order[k]]);
   }
   for (size_t k = 0; k < sizeof run_order / sizeof run_order[0]; k++) {
      fprintf(f, " anchor_%s", workload_keys[run_order[k]]);
   }
   fprintf(f, " echo\n");
   for (int c = 0; c < o->client_count; c++) {
      fprintf(f, "%d", o->clients[c]);
      for (int pass = 0; pass < 2; pass++) {
         for (size_t k = 0; k < sizeof run_order / sizeof run_order[0]; k++) {
            bench_workload_t w = run_order[k];
            const bench_result_t *res = pass == 0 ? &r->server[w][c] : &r->anchor[w][c];
            bool docs = w == BENCH_INSERT_MANY || w == BENCH_SCAN;
            if (res->ran) {
               fprintf(f, " %.1f", docs ? res->docs_per_s : res->ops_per_s);
            } else {
               fprintf(f, " NaN");
            }
         }
      }
      fprintf(f, " %.1f\n", r->echo[c].ran ? r->echo[c].ops_per_s : 0.0);
   }
   fclose(f);
}
