/*
 * test_restart.c: the PostgreSQL server restarts under a running workload (pg_ctl stop -m
 * fast, then -m immediate: a crash). Checks that in-flight calls fail with UNAVAILABLE and a
 * message that says so, that the next calls reconnect and succeed, that a cursor opened before
 * the restart carries on, that a transaction open across the restart is reported lost (and
 * its rows are gone), and that every acknowledged insert is still there.
 *
 * usage: test_restart PATH/postgres.so
 * Needs FERRET_PG_CONNINFO (else exit 77) and tests/support/pg_cluster.sh
 * (FERRET_PG_CLUSTER_SCRIPT). With FERRET_PG_CLUSTER_DIR, that cluster (made by pg_cluster.sh)
 * is restarted; otherwise the test makes a private one, so parallel tests on the shared
 * server are never disturbed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "pgtest.h"

#define BATCH 5000
#define MAX_IDS 4000000

static const ferret_backend_methods_t *M;

typedef struct writer {
   ferret_backend_t *backend;
   atomic_bool stop;
   atomic_int ok_after_failure; /* successful calls since the last failure */
   atomic_int failures;
   int other_failures; /* statuses other than UNAVAILABLE */
   char message[FERRET_ERROR_MESSAGE_SIZE];
   uint8_t *acked; /* owned; acked[id] = 1 once an insert covering id returned it inserted */
   int next_id;
} writer_t;

static void
sleep_ms(int ms)
{
   struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
   nanosleep(&ts, NULL);
}

static void *
write_loop(void *arg)
{
   writer_t *w = arg;
   ferret_session_t *s = NULL;
   ferret_error_t err = {{0}, {0}};
   ferret_ns_t ns = {"restart_db", "w"};
   pgtest_doc_t *docs = calloc(BATCH, sizeof *docs);
   ferret_doc_t *fd = calloc(BATCH, sizeof *fd);

   while (M->session_open(w->backend, &s, &err) != FERRET_OK) {
      sleep_ms(50);
   }
   while (!atomic_load(&w->stop) && w->next_id + BATCH < MAX_IDS) {
      size_t inserted = 0;
      ferret_status_t st;
      for (int i = 0; i < BATCH; i++) {
         pgtest_make(&docs[i], w->next_id + i, "written under restart");
         fd[i] = pgtest_fdoc(&docs[i]);
      }
      memset(&err, 0, sizeof err);
      st = M->insert(s, &ns, fd, BATCH, &inserted, &err);
      for (size_t i = 0; i < inserted; i++) {
         w->acked[w->next_id + (int) i] = 1;
      }
      /* Ids of a failed batch are never reused: they may be in or out. */
      w->next_id += BATCH;
      if (st == FERRET_OK) {
         atomic_fetch_add(&w->ok_after_failure, 1);
         continue;
      }
      if (st == FERRET_ERR_UNAVAILABLE) {
         if (atomic_load(&w->failures) == 0) {
            snprintf(w->message, sizeof w->message, "%s", err.message);
         }
      } else {
         fprintf(stderr, "writer: status %d: %s\n", (int) st, err.message);
         w->other_failures++;
      }
      atomic_fetch_add(&w->failures, 1);
      atomic_store(&w->ok_after_failure, 0);
      sleep_ms(20);
   }
   M->session_close(s);
   free(docs);
   free(fd);
   return NULL;
}

/* Runs `script cmd dir [arg]`; returns its exit status. */
static int
cluster(const char *script, const char *cmd, const char *dir, const char *arg, char *out,
        size_t out_size)
{
   char line[2048];
   FILE *p;
   int rc;

   snprintf(line, sizeof line, "'%s' %s '%s' %s", script, cmd, dir, arg != NULL ? arg : "");
   p = popen(line, "r");
   if (p == NULL) {
      return -1;
   }
   if (out != NULL) {
      out[0] = '\0';
      if (fgets(out, (int) out_size, p) != NULL) {
         out[strcspn(out, "\n")] = '\0';
      }
   }
   while (fgets(line, sizeof line, p) != NULL) {
   }
   rc = pclose(p);
   return rc;
}

/* Reads the rest of a cursor, retrying once on UNAVAILABLE; returns the count read. */
static int
drain(ferret_cursor_t *c, int *unavailable)
{
   const uint8_t *bson;
   size_t len;
   int n = 0;

   for (;;) {
      ferret_error_t err = {{0}, {0}};
      ferret_status_t st = M->cursor_next(c, &bson, &len, &err);
      if (st == FERRET_ERR_UNAVAILABLE && *unavailable == 0) {
         (*unavailable)++;
         continue;
      }
      if (st != FERRET_OK) {
         fprintf(stderr, "cursor_next: %d %s\n", (int) st, err.message);
         return -1;
      }
      if (bson == NULL) {
         return n;
      }
      n++;
   }
}

static void
round_trip(const char *script, const char *dir, const char *mode, ferret_backend_t *b,
           ferret_session_t *reader, int round)
{
   static uint8_t seen[MAX_IDS];
   writer_t w = {.backend = b};
   pthread_t t;
   ferret_session_t *tx = NULL;
   ferret_cursor_t *c = NULL;
   ferret_query_t q = {.struct_size = sizeof q};
   ferret_ns_t cur = {"restart_db", round == 0 ? "cursor0" : "cursor1"};
   ferret_ns_t txns = {"restart_db", "txn"};
   size_t inserted = 0;
   const uint8_t *bson;
   size_t len;
   int read = 0;
   int unavailable = 0;
   int waited = 0;

   w.acked = calloc(MAX_IDS, 1);
   w.next_id = round * (MAX_IDS / 2);

   /* A cursor 150 documents into a 1000-document collection. */
   pgtest_doc_t *docs = calloc(1000, sizeof *docs);
   ferret_doc_t *fd = calloc(1000, sizeof *fd);
   for (int i = 0; i < 1000; i++) {
      pgtest_make(&docs[i], round * 1000 + i, "cursor");
      fd[i] = pgtest_fdoc(&docs[i]);
   }
   CHECK_STATUS(M->insert(reader, &cur, fd, 1000, &inserted, error), FERRET_OK);
   CHECK_STATUS(M->query(reader, &cur, &q, &c, error), FERRET_OK);
   for (int i = 0; c != NULL && i < 150; i++) {
      CHECK_STATUS(M->cursor_next(c, &bson, &len, error), FERRET_OK);
      read++;
   }
   /* A transaction left open across the restart. */
   CHECK_STATUS(M->session_open(b, &tx, error), FERRET_OK);
   CHECK_STATUS(M->begin(tx, error), FERRET_OK);
   CHECK_STATUS(M->insert(tx, &txns, fd, 3, &inserted, error), FERRET_OK);

   pthread_create(&t, NULL, write_loop, &w);
   while (atomic_load(&w.ok_after_failure) < 3) {
      sleep_ms(10); /* the writer is under way */
   }
   CHECK(cluster(script, "restart", dir, mode, NULL, 0) == 0);
   /* Wait for the writer to fail, reconnect and succeed a few times. */
   while ((atomic_load(&w.failures) == 0 || atomic_load(&w.ok_after_failure) < 3) &&
          waited < 60000) {
      sleep_ms(50);
      waited += 50;
   }
   atomic_store(&w.stop, true);
   pthread_join(t, NULL);

   fprintf(stderr, "round %d (%s): %d unavailable, first: %s\n", round, mode,
           atomic_load(&w.failures), w.message);
   CHECK(atomic_load(&w.failures) >= 1);
   CHECK(w.other_failures == 0);
   CHECK(atomic_load(&w.ok_after_failure) >= 3);
   CHECK(strstr(w.message, "postgresql") != NULL);

   /* The cursor opened before the restart goes on where it was. */
   if (c != NULL) {
      int rest = drain(c, &unavailable);
      if (rest != 850) {
         fprintf(stderr, "round %d: the cursor read %d after the restart, want 850\n", round, rest);
      }
      CHECK(rest == 850);
      M->cursor_close(c);
   }

   /* The open transaction is lost: said so until the core ends it; its rows are gone. */
   CHECK_STATUS(M->insert(tx, &txns, fd + 3, 1, &inserted, error), FERRET_ERR_UNAVAILABLE);
   CHECK_STATUS(M->commit(tx, error), FERRET_ERR_UNAVAILABLE);
   CHECK_STATUS(M->insert(tx, &txns, fd + 4, 1, &inserted, error), FERRET_OK);
   M->session_close(tx);

   /* Every acknowledged document is there, and none twice. */
   ferret_query_t all = {.struct_size = sizeof all};
   ferret_cursor_t *wc = NULL;
   int dups = 0;
   int lost = 0;
   int acked = 0;
   memset(seen, 0, sizeof seen);
   CHECK_STATUS(M->query(reader, &(ferret_ns_t){"restart_db", "w"}, &all, &wc, error), FERRET_OK);
   for (;;) {
      ferret_error_t err = {{0}, {0}};
      if (wc == NULL || M->cursor_next(wc, &bson, &len, &err) != FERRET_OK || bson == NULL) {
         break;
      }
      int id = pgtest_id(bson);
      if (id >= 0 && id < MAX_IDS) {
         dups += seen[id];
         seen[id] = 1;
      }
   }
   M->cursor_close(wc);
   for (int i = 0; i < MAX_IDS; i++) {
      acked += w.acked[i];
      lost += w.acked[i] && !seen[i];
   }
   fprintf(stderr, "round %d: %d acknowledged, %d lost, %d duplicated\n", round, acked, lost, dups);
   CHECK(acked > 0);
   CHECK(lost == 0);
   CHECK(dups == 0);
   int txn_rows = 0;
   ferret_query_t tq = {.struct_size = sizeof tq};
   ferret_cursor_t *tc = NULL;
   CHECK_STATUS(M->query(reader, &txns, &tq, &tc, error), FERRET_OK);
   while (tc != NULL && M->cursor_next(tc, &bson, &len, &(ferret_error_t){{0}, {0}}) == FERRET_OK &&
          bson != NULL) {
      txn_rows++;
      CHECK(pgtest_id(bson) == round * 1000 + 4);
   }
   M->cursor_close(tc);
   CHECK(txn_rows == 1);
   CHECK_STATUS(M->drop_collection(reader, &txns, error), FERRET_OK);
   free(w.acked);
   free(docs);
   free(fd);
}

int
main(int argc, char **argv)
{
   const char *conninfo = getenv("FERRET_PG_CONNINFO");
   const char *script = getenv("FERRET_PG_CLUSTER_SCRIPT");
   const char *shared_dir = getenv("FERRET_PG_CLUSTER_DIR");
   char private_dir[] = "/tmp/ferret-pg-restart-XXXXXX";
   char private_conninfo[512];
   const char *dir = shared_dir;
   const ferret_backend_descriptor_t *d;
   ferret_backend_t *b = NULL;
   ferret_session_t *reader = NULL;
   char prefix[32];

   if (conninfo == NULL || conninfo[0] == '\0') {
      fprintf(stderr, "FERRET_PG_CONNINFO is not set: skipped\n");
      return PGTEST_SKIP;
   }
   if (script == NULL || access(script, X_OK) != 0) {
      fprintf(stderr, "FERRET_PG_CLUSTER_SCRIPT (pg_cluster.sh) is not available: skipped\n");
      return PGTEST_SKIP;
   }
   if (argc != 2) {
      fprintf(stderr, "usage: %s postgres.so\n", argv[0]);
      return 2;
   }
   if (shared_dir == NULL || shared_dir[0] == '\0') {
      if (mkdtemp(private_dir) == NULL) {
         perror("mkdtemp");
         return 1;
      }
      dir = private_dir;
      if (cluster(script, "start", dir, NULL, private_conninfo, sizeof private_conninfo) != 0 ||
          private_conninfo[0] == '\0') {
         fprintf(stderr, "could not start a cluster in %s\n", dir);
         return 1;
      }
      conninfo = private_conninfo;
   }
   snprintf(prefix, sizeof prefix, "r%ld_", (long) getpid());
   d = pgtest_load(argv[1]);
   M = d->methods;
   CHECK_STATUS(pgtest_open(d, conninfo, prefix, &b, error), FERRET_OK);
   if (b != NULL) {
      CHECK_STATUS(M->session_open(b, &reader, error), FERRET_OK);
   }
   if (reader != NULL) {
      round_trip(script, dir, "fast", b, reader, 0);
      round_trip(script, dir, "immediate", b, reader, 1);
      CHECK_STATUS(M->drop_database(reader, "restart_db", error), FERRET_OK);
      M->session_close(reader);
   }
   if (b != NULL) {
      M->close(b);
   }
   if (dir == private_dir) {
      cluster(script, "stop", dir, NULL, NULL, 0);
   }
   if (pgtest_failures > 0) {
      fprintf(stderr, "%d checks failed\n", pgtest_failures);
      return 1;
   }
   printf("restart test passed\n");
   return 0;
}
