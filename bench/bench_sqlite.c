/*
 * bench_sqlite.c: the raw SQLite anchor (bench/README.md, "Anchors").
 *
 * The same storage work the SQLite backend does (plugins/sqlite/src/docs.c, cursor.c), in
 * this process and without a network or a query engine: one file in WAL mode with the
 * configured synchronous level, tables (id_key BLOB NOT NULL PRIMARY KEY, doc BLOB NOT NULL),
 * the server's id_key encoding, documents built with libbson, one BEGIN IMMEDIATE ... COMMIT
 * per insert batch, per insertOne and per update (compare-and-swap on the old bytes, as the
 * backend's replace does), a scan that decodes every document to test k.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define TABLE_DDL "(id_key BLOB NOT NULL PRIMARY KEY, doc BLOB NOT NULL)"
#define BUSY_TIMEOUT_MS 10000

typedef struct sq_shared {
   char path[4096];
   char synchronous[16];
   int64_t main_docs;
} sq_shared_t;

typedef struct sq_thread {
   sqlite3 *conn;        /* owned */
   sqlite3_stmt *insert; /* owned; INSERT INTO ins */
   sqlite3_stmt *find;   /* owned; SELECT doc FROM main WHERE id_key = ?1 */
   sqlite3_stmt *update; /* owned; the compare-and-swap replace */
   sqlite3_stmt *scan;   /* owned; SELECT doc FROM main */
   uint8_t *doc;         /* owned; the last document read */
   size_t doc_len;
   size_t doc_capacity;
} sq_thread_t;

static bool sq_open_conn(const sq_shared_t *shared, sqlite3 **out, char *err);
static bool sq_exec(sqlite3 *conn, const char *sql, char *err);
static bool sq_insert_batch(sqlite3 *conn, sqlite3_stmt *insert, int64_t first, int count,
                            char *err);
static bool sq_find(sq_thread_t *t, int64_t id, char *err);
static bool sq_update(sq_thread_t *t, int64_t id, char *err);
static bool sq_scan(sq_thread_t *t, int64_t expected, char *err);
static void *sq_thread_init(bench_cell_shared_t *shared, int index, char *err);
static bool sq_op(void *ctx, bench_cell_shared_t *shared, uint64_t *rng, uint64_t *docs, char *err);
static void sq_thread_fini(void *ctx);

const bench_engine_t bench_sqlite_engine = {
   .name = "raw SQLite",
   .thread_init = sq_thread_init,
   .op = sq_op,
   .thread_fini = sq_thread_fini,
};

void *
bench_sqlite_open(const char *dir, const bench_config_t *config, char *err)
{
   sq_shared_t *shared = calloc(1, sizeof *shared);
   sqlite3 *conn = NULL;
   sqlite3_stmt *insert = NULL;
   bool ok = false;

   if (!shared) {
      bench_util_fail(err, "out of memory");
      goto done;
   }
   snprintf(shared->path, sizeof shared->path, "%s/raw.sqlite", dir);
   snprintf(shared->synchronous, sizeof shared->synchronous, "%s", config->synchronous);
   shared->main_docs = config->main_docs;
   remove(shared->path);
   {
      char side[4200];
      snprintf(side, sizeof side, "%s-wal", shared->path);
      remove(side);
      snprintf(side, sizeof side, "%s-shm", shared->path);
      remove(side);
   }
   if (!sq_open_conn(shared, &conn, err) ||
       !sq_exec(conn, "CREATE TABLE main" TABLE_DDL "; CREATE TABLE ins" TABLE_DDL, err)) {
      goto done;
   }
   if (sqlite3_prepare_v2(conn, "INSERT INTO main(id_key, doc) VALUES(?1, ?2)", -1, &insert,
                          NULL) != SQLITE_OK) {
      bench_util_fail(err, "sqlite prepare: %s", sqlite3_errmsg(conn));
      goto done;
   }
   for (int64_t id = 0; id < config->main_docs; id += config->batch_size) {
      int64_t n = config->main_docs - id;
      if (!sq_insert_batch(conn, insert, id, n < config->batch_size ? (int) n : config->batch_size,
                           err)) {
         goto done;
      }
   }
   ok = true;

done:
   sqlite3_finalize(insert);
   sqlite3_close(conn);
   if (!ok) {
      free(shared);
      shared = NULL;
   }
   return shared;
}

bool
bench_sqlite_reset(void *engine, char *err)
{
   sqlite3 *conn = NULL;
   bool ok = sq_open_conn(engine, &conn, err) &&
             sq_exec(conn, "DROP TABLE ins; CREATE TABLE ins" TABLE_DDL, err);

   sqlite3_close(conn);
   return ok;
}

void
bench_sqlite_close(void *engine)
{
   free(engine);
}

/* The pragmas of plugins/sqlite/src/registry.c prepare_connection(). */
static bool
sq_open_conn(const sq_shared_t *shared, sqlite3 **out, char *err)
{
   char sql[64];
   int rc;

   rc = sqlite3_open_v2(shared->path, out,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
   if (rc != SQLITE_OK) {
      return bench_util_fail(err, "sqlite open '%s': %s", shared->path, sqlite3_errstr(rc));
   }
   sqlite3_busy_timeout(*out, BUSY_TIMEOUT_MS);
   snprintf(sql, sizeof sql, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s", shared->synchronous);
   return sq_exec(*out, sql, err);
}

static bool
sq_exec(sqlite3 *conn, const char *sql, char *err)
{
   char *message = NULL;

   if (sqlite3_exec(conn, sql, NULL, NULL, &message) != SQLITE_OK) {
      bench_util_fail(err, "sqlite '%s': %s", sql, message ? message : "?");
      sqlite3_free(message);
      return false;
   }
   return true;
}

/* Documents first .. first+count-1 in one transaction, built as the client builds them. */
static bool
sq_insert_batch(sqlite3 *conn, sqlite3_stmt *insert, int64_t first, int count, char *err)
{
   bool ok = true;

   if (!sq_exec(conn, "BEGIN IMMEDIATE", err)) {
      return false;
   }
   for (int i = 0; i < count && ok; i++) {
      bson_t doc = BSON_INITIALIZER;
      uint8_t *key = NULL;
      size_t key_len = 0;
      bench_util_doc(&doc, first + i);
      if (!bench_util_id_key(first + i, &key, &key_len)) {
         ok = bench_util_fail(err, "cannot encode an _id");
      } else {
         sqlite3_bind_blob(insert, 1, key, (int) key_len, SQLITE_STATIC);
         sqlite3_bind_blob(insert, 2, bson_get_data(&doc), (int) doc.len, SQLITE_STATIC);
         if (sqlite3_step(insert) != SQLITE_DONE) {
            ok = bench_util_fail(err, "sqlite insert: %s", sqlite3_errmsg(conn));
         }
         sqlite3_reset(insert);
         sqlite3_clear_bindings(insert);
      }
      bson_free(key);
      bson_destroy(&doc);
   }
   if (!ok) {
      sqlite3_exec(conn, "ROLLBACK", NULL, NULL, NULL);
      return false;
   }
   return sq_exec(conn, "COMMIT", err);
}

static bool
sq_find(sq_thread_t *t, int64_t id, char *err)
{
   uint8_t *key = NULL;
   size_t key_len = 0;
   bool ok = false;
   int rc;

   if (!bench_util_id_key(id, &key, &key_len)) {
      return bench_util_fail(err, "cannot encode an _id");
   }
   sqlite3_bind_blob(t->find, 1, key, (int) key_len, SQLITE_STATIC);
   rc = sqlite3_step(t->find);
   if (rc == SQLITE_ROW) {
      /* The server copies the document into its reply; so does the anchor. */
      size_t len = (size_t) sqlite3_column_bytes(t->find, 0);
      if (len > t->doc_capacity) {
         free(t->doc);
         t->doc = malloc(len);
         t->doc_capacity = t->doc ? len : 0;
      }
      if (t->doc) {
         memcpy(t->doc, sqlite3_column_blob(t->find, 0), len);
         t->doc_len = len;
         ok = true;
      } else {
         bench_util_fail(err, "out of memory");
      }
   } else {
      bench_util_fail(err, "sqlite find of _id %lld: %s", (long long) id,
                      rc == SQLITE_DONE ? "not found" : sqlite3_errmsg(t->conn));
   }
   sqlite3_reset(t->find);
   sqlite3_clear_bindings(t->find);
   bson_free(key);
   return ok;
}

/* Read, apply $inc, write back if unchanged: the core's read-modify-write update. */
static bool
sq_update(sq_thread_t *t, int64_t id, char *err)
{
   for (int attempt = 0; attempt < 100; attempt++) {
      bson_t updated = BSON_INITIALIZER;
      uint8_t *key = NULL;
      size_t key_len = 0;
      bool ok = true;
      int changes = 0;

      if (!sq_find(t, id, err)) {
         return false;
      }
      if (!bench_util_inc_v(t->doc, t->doc_len, &updated) ||
          !bench_util_id_key(id, &key, &key_len)) {
         bson_destroy(&updated);
         bson_free(key);
         return bench_util_fail(err, "cannot build the updated document");
      }
      ok = sq_exec(t->conn, "BEGIN IMMEDIATE", err);
      if (ok) {
         sqlite3_bind_blob(t->update, 1, bson_get_data(&updated), (int) updated.len, SQLITE_STATIC);
         sqlite3_bind_blob(t->update, 2, key, (int) key_len, SQLITE_STATIC);
         sqlite3_bind_blob(t->update, 3, t->doc, (int) t->doc_len, SQLITE_STATIC);
         if (sqlite3_step(t->update) != SQLITE_DONE) {
            ok = bench_util_fail(err, "sqlite update: %s", sqlite3_errmsg(t->conn));
         }
         changes = sqlite3_changes(t->conn);
         sqlite3_reset(t->update);
         sqlite3_clear_bindings(t->update);
         if (ok) {
            ok = sq_exec(t->conn, "COMMIT", err);
         } else {
            sqlite3_exec(t->conn, "ROLLBACK", NULL, NULL, NULL);
         }
      }
      bson_destroy(&updated);
      bson_free(key);
      if (!ok) {
         return false;
      }
      if (changes == 1) {
         return true;
      }
   }
   return bench_util_fail(err, "update of _id %lld kept losing its compare-and-swap",
                          (long long) id);
}

static bool
sq_scan(sq_thread_t *t, int64_t expected, char *err)
{
   int64_t matched = 0;
   int rc;

   while ((rc = sqlite3_step(t->scan)) == SQLITE_ROW) {
      if (bench_util_matches(sqlite3_column_blob(t->scan, 0),
                             (size_t) sqlite3_column_bytes(t->scan, 0))) {
         matched++;
      }
   }
   sqlite3_reset(t->scan);
   if (rc != SQLITE_DONE) {
      return bench_util_fail(err, "sqlite scan: %s", sqlite3_errmsg(t->conn));
   }
   if (matched != expected) {
      return bench_util_fail(err, "sqlite scan matched %lld, expected %lld", (long long) matched,
                             (long long) expected);
   }
   return true;
}

static void *
sq_thread_init(bench_cell_shared_t *shared, int index, char *err)
{
   sq_thread_t *t = calloc(1, sizeof *t);

   (void) index;
   if (!t) {
      bench_util_fail(err, "out of memory");
      return NULL;
   }
   if (!sq_open_conn(shared->engine, &t->conn, err)) {
      sq_thread_fini(t);
      return NULL;
   }
   if (sqlite3_prepare_v3(t->conn, "INSERT INTO ins(id_key, doc) VALUES(?1, ?2)", -1,
                          SQLITE_PREPARE_PERSISTENT, &t->insert, NULL) != SQLITE_OK ||
       sqlite3_prepare_v3(t->conn, "SELECT doc FROM main WHERE id_key = ?1", -1,
                          SQLITE_PREPARE_PERSISTENT, &t->find, NULL) != SQLITE_OK ||
       sqlite3_prepare_v3(t->conn, "UPDATE main SET doc = ?1 WHERE id_key = ?2 AND doc = ?3", -1,
                          SQLITE_PREPARE_PERSISTENT, &t->update, NULL) != SQLITE_OK ||
       sqlite3_prepare_v3(t->conn, "SELECT doc FROM main", -1, SQLITE_PREPARE_PERSISTENT, &t->scan,
                          NULL) != SQLITE_OK) {
      bench_util_fail(err, "sqlite prepare: %s", sqlite3_errmsg(t->conn));
      sq_thread_fini(t);
      return NULL;
   }
   return t;
}

static bool
sq_op(void *ctx, bench_cell_shared_t *shared, uint64_t *rng, uint64_t *docs, char *err)
{
   sq_thread_t *t = ctx;
   const bench_config_t *config = shared->config;
   int64_t id = (int64_t) (bench_util_rand(rng) % (uint64_t) config->main_docs);

   switch (shared->workload) {
   case BENCH_INSERT_MANY: {
      int64_t first = atomic_fetch_add(&shared->next_id, config->batch_size);
      *docs = (uint64_t) config->batch_size;
      return sq_insert_batch(t->conn, t->insert, first, config->batch_size, err);
   }
   case BENCH_INSERT_ONE:
      *docs = 1;
      return sq_insert_batch(t->conn, t->insert, atomic_fetch_add(&shared->next_id, 1), 1, err);
   case BENCH_FIND_ID:
      *docs = 1;
      return sq_find(t, id, err);
   case BENCH_SCAN:
      *docs = (uint64_t) config->main_docs;
      return sq_scan(t, bench_scan_expected(config->main_docs), err);
   case BENCH_UPDATE:
      *docs = 1;
      return sq_update(t, id, err);
   case BENCH_MIX:
      *docs = 1;
      return (bench_util_rand(rng) & 1) ? sq_update(t, id, err) : sq_find(t, id, err);
   default:
      return bench_util_fail(err, "workload %d has no SQLite anchor", (int) shared->workload);
   }
}

static void
sq_thread_fini(void *ctx)
{
   sq_thread_t *t = ctx;

   if (!t) {
      return;
   }
   sqlite3_finalize(t->insert);
   sqlite3_finalize(t->find);
   sqlite3_finalize(t->update);
   sqlite3_finalize(t->scan);
   sqlite3_close(t->conn);
   free(t->doc);
   free(t);
}
