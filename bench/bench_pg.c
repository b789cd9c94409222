/*
 * bench_pg.c: the raw libpq anchor (bench/README.md, "Anchors").
 *
 * The statements the PostgreSQL backend runs (plugins/postgres/src/write.c, query.c), sent
 * the same way (PQexecParams, binary parameters, binary results where the backend asks for
 * them) on tables of the same layout, in a schema of its own:
 *
 *   insert batch  INSERT INTO t (id_key, doc) SELECT k, d FROM unnest($1::bytea[], $2::bytea[])
 *   insert one    INSERT INTO t (id_key, doc) VALUES ($1, $2) ON CONFLICT (id_key) DO NOTHING
 *   find by _id   SELECT seq, doc FROM t WHERE true AND id_key = $1 ORDER BY seq LIMIT 2
 *   update        the find, then UPDATE t SET doc = $3 WHERE id_key = $1 AND doc = $2
 *   scan          keyset pages SELECT seq, doc FROM t WHERE true [AND seq > $last]
 *                 ORDER BY seq LIMIT n, n = 100 doubling to 1000, every document decoded
 */
#include "bench.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define PG_SCHEMA "bench_raw"
#define PG_TABLE_DDL                                                                               \
   " (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id_key bytea NOT NULL UNIQUE,"          \
   " doc bytea NOT NULL)"
/* The backend's first cursor batch and its default fetch_size. */
#define PG_FIRST_BATCH 100
#define PG_FETCH_SIZE 1000

typedef struct pg_shared {
   char *conninfo; /* owned */
} pg_shared_t;

typedef struct pg_thread {
   PGconn *conn; /* owned */
   uint8_t *doc; /* owned; the last document read */
   size_t doc_len;
   size_t doc_capacity;
} pg_thread_t;

static bool pg_connect(const char *conninfo, PGconn **out, char *err);
static bool pg_exec(PGconn *conn, const char *sql, char *err);
static bool pg_check(PGconn *conn, PGresult *res, const char *what, char *err);
static bool pg_insert_batch(PGconn *conn, const char *table, int64_t first, int count, char *err);
static bool pg_insert_one(PGconn *conn, int64_t id, char *err);
static bool pg_find(pg_thread_t *t, int64_t id, char *err);
static bool pg_update(pg_thread_t *t, int64_t id, char *err);
static bool pg_scan(pg_thread_t *t, int64_t expected, char *err);
static uint8_t *pg_array(uint8_t *const *items, const size_t *lens, int count, size_t *len);
static int64_t pg_be64(const char *p);
static void *pg_thread_init(bench_cell_shared_t *shared, int index, char *err);
static bool pg_op(void *ctx, bench_cell_shared_t *shared, uint64_t *rng, uint64_t *docs, char *err);
static void pg_thread_fini(void *ctx);

const bench_engine_t bench_pg_engine = {
   .name = "raw libpq",
   .thread_init = pg_thread_init,
   .op = pg_op,
   .thread_fini = pg_thread_fini,
};

void *
bench_pg_open(const char *conninfo, const bench_config_t *config, char *err)
{
   pg_shared_t *shared = calloc(1, sizeof *shared);
   PGconn *conn = NULL;
   bool ok = false;

   if (!shared || !(shared->conninfo = strdup(conninfo))) {
      bench_util_fail(err, "out of memory");
      goto done;
   }
   if (!pg_connect(conninfo, &conn, err) ||
       !pg_exec(conn,
                "SET client_min_messages = warning;"
                "DROP SCHEMA IF EXISTS " PG_SCHEMA " CASCADE; CREATE SCHEMA " PG_SCHEMA ";"
                "CREATE TABLE " PG_SCHEMA ".main" PG_TABLE_DDL ";"
                "CREATE TABLE " PG_SCHEMA ".ins" PG_TABLE_DDL,
                err)) {
      goto done;
   }
   for (int64_t id = 0; id < config->main_docs; id += config->batch_size) {
      int64_t n = config->main_docs - id;
      if (!pg_insert_batch(conn, PG_SCHEMA ".main", id,
                           n < config->batch_size ? (int) n : config->batch_size, err)) {
         goto done;
      }
   }
   ok = true;

done:
   PQfinish(conn);
   if (!ok && shared) {
      free(shared->conninfo);
      free(shared);
      shared = NULL;
   }
   return shared;
}

bool
bench_pg_reset(void *engine, char *err)
{
   pg_shared_t *shared = engine;
   PGconn *conn = NULL;
   bool ok =
      pg_connect(shared->conninfo, &conn, err) &&
      pg_exec(conn, "DROP TABLE " PG_SCHEMA ".ins; CREATE TABLE " PG_SCHEMA ".ins" PG_TABLE_DDL,
              err);

   PQfinish(conn);
   return ok;
}

void
bench_pg_close(void *engine)
{
   pg_shared_t *shared = engine;
   PGconn *conn = NULL;
   char err[BENCH_ERR_SIZE];

   if (!shared) {
      return;
   }
   if (pg_connect(shared->conninfo, &conn, err)) {
      pg_exec(conn,
              "SET client_min_messages = warning; DROP SCHEMA IF EXISTS " PG_SCHEMA " CASCADE",
              err);
   }
   PQfinish(conn);
   free(shared->conninfo);
   free(shared);
}

static bool
pg_connect(const char *conninfo, PGconn **out, char *err)
{
   *out = PQconnectdb(conninfo);
   if (PQstatus(*out) != CONNECTION_OK) {
      return bench_util_fail(err, "libpq connect: %s", PQerrorMessage(*out));
   }
   return true;
}

static bool
pg_exec(PGconn *conn, const char *sql, char *err)
{
   return pg_check(conn, PQexec(conn, sql), sql, err);
}

/* Takes res; true when it holds a success. */
static bool
pg_check(PGconn *conn, PGresult *res, const char *what, char *err)
{
   ExecStatusType status = PQresultStatus(res);
   bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;

   if (!ok) {
      bench_util_fail(err, "libpq '%.60s': %s", what, PQerrorMessage(conn));
   }
   PQclear(res);
   return ok;
}

static bool
pg_insert_batch(PGconn *conn, const char *table, int64_t first, int count, char *err)
{
   uint8_t **keys = calloc((size_t) count, sizeof *keys);
   uint8_t **bsons = calloc((size_t) count, sizeof *bsons);
   size_t *key_lens = calloc((size_t) count, sizeof *key_lens);
   size_t *bson_lens = calloc((size_t) count, sizeof *bson_lens);
   uint8_t *key_array = NULL;
   uint8_t *bson_array = NULL;
   size_t key_array_len = 0, bson_array_len = 0;
   char sql[256];
   bool ok = false;

   if (!keys || !bsons || !key_lens || !bson_lens) {
      bench_util_fail(err, "out of memory");
      goto done;
   }
   for (int i = 0; i < count; i++) {
      bson_t doc = BSON_INITIALIZER;
      bench_util_doc(&doc, first + i);
      bson_lens[i] = doc.len;
      bsons[i] = bson_destroy_with_steal(&doc, true, NULL);
      if (!bench_util_id_key(first + i, &keys[i], &key_lens[i])) {
         bench_util_fail(err, "cannot encode an _id");
         goto done;
      }
   }
   key_array = pg_array(keys, key_lens, count, &key_array_len);
   bson_array = pg_array(bsons, bson_lens, count, &bson_array_len);
   if (!key_array || !bson_array) {
      bench_util_fail(err, "out of memory");
      goto done;
   }
   snprintf(sql, sizeof sql,
            "INSERT INTO %s (id_key, doc) SELECT k, d FROM unnest($1::bytea[], $2::bytea[])"
            " AS u(k, d)",
            table);
   {
      const char *values[2] = {(const char *) key_array, (const char *) bson_array};
      int lengths[2] = {(int) key_array_len, (int) bson_array_len};
      int formats[2] = {1, 1};
      ok = pg_check(conn, PQexecParams(conn, sql, 2, NULL, values, lengths, formats, 1),
                    "insert batch", err);
   }

done:
   for (int i = 0; i < count && keys && bsons; i++) {
      bson_free(keys[i]);
      bson_free(bsons[i]);
   }
   free(keys);
   free(bsons);
   free(key_lens);
   free(bson_lens);
   free(key_array);
   free(bson_array);
   return ok;
}

static bool
pg_insert_one(PGconn *conn, int64_t id, char *err)
{
   bson_t doc = BSON_INITIALIZER;
   uint8_t *key = NULL;
   size_t key_len = 0;
   bool ok = false;

   bench_util_doc(&doc, id);
   if (bench_util_id_key(id, &key, &key_len)) {
      const char *values[2] = {(const char *) key, (const char *) bson_get_data(&doc)};
      int lengths[2] = {(int) key_len, (int) doc.len};
      int formats[2] = {1, 1};
      ok = pg_check(conn,
                    PQexecParams(conn,
                                 "INSERT INTO " PG_SCHEMA ".ins (id_key, doc) VALUES ($1, $2)"
                                 " ON CONFLICT (id_key) DO NOTHING",
                                 2, NULL, values, lengths, formats, 0),
                    "insert one", err);
   } else {
      bench_util_fail(err, "cannot encode an _id");
   }
   bson_free(key);
   bson_destroy(&doc);
   return ok;
}

static bool
pg_find(pg_thread_t *t, int64_t id, char *err)
{
   uint8_t *key = NULL;
   size_t key_len = 0;
   PGresult *res = NULL;
   bool ok = false;

   if (!bench_util_id_key(id, &key, &key_len)) {
      return bench_util_fail(err, "cannot encode an _id");
   }
   {
      const char *values[1] = {(const char *) key};
      int lengths[1] = {(int) key_len};
      int formats[1] = {1};
      res = PQexecParams(t->conn,
                         "SELECT seq, doc FROM " PG_SCHEMA ".main WHERE true AND id_key = $1"
                         " ORDER BY seq LIMIT 2",
                         1, NULL, values, lengths, formats, 1);
   }
   if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      bench_util_fail(err, "libpq find: %s", PQerrorMessage(t->conn));
   } else if (PQntuples(res) != 1) {
      bench_util_fail(err, "libpq find of _id %lld: %d rows", (long long) id, PQntuples(res));
   } else {
      size_t len = (size_t) PQgetlength(res, 0, 1);
      (void) pg_be64(PQgetvalue(res, 0, 0));
      if (len > t->doc_capacity) {
         free(t->doc);
         t->doc = malloc(len);
         t->doc_capacity = t->doc ? len : 0;
      }
      if (t->doc) {
         memcpy(t->doc, PQgetvalue(res, 0, 1), len);
         t->doc_len = len;
         ok = true;
      } else {
         bench_util_fail(err, "out of memory");
      }
   }
   PQclear(res);
   bson_free(key);
   return ok;
}

static bool
pg_update(pg_thread_t *t, int64_t id, char *err)
{
   for (int attempt = 0; attempt < 100; attempt++) {
      bson_t updated = BSON_INITIALIZER;
      uint8_t *key = NULL;
      size_t key_len = 0;
      PGresult *res = NULL;
      bool ok = false, replaced = false;

      if (!pg_find(t, id, err)) {
         return false;
      }
      if (!bench_util_inc_v(t->doc, t->doc_len, &updated) ||
          !bench_util_id_key(id, &key, &key_len)) {
         bson_destroy(&updated);
         bson_free(key);
         return bench_util_fail(err, "cannot build the updated document");
      }
      {
         const char *values[3] = {(const char *) key, (const char *) t->doc,
                                  (const char *) bson_get_data(&updated)};
         int lengths[3] = {(int) key_len, (int) t->doc_len, (int) updated.len};
         int formats[3] = {1, 1, 1};
         res = PQexecParams(t->conn,
                            "UPDATE " PG_SCHEMA ".main SET doc = $3 WHERE id_key = $1 AND"
                            " doc = $2",
                            3, NULL, values, lengths, formats, 0);
      }
      if (PQresultStatus(res) == PGRES_COMMAND_OK) {
         ok = true;
         replaced = strcmp(PQcmdTuples(res), "1") == 0;
      } else {
         bench_util_fail(err, "libpq update: %s", PQerrorMessage(t->conn));
      }
      PQclear(res);
      bson_destroy(&updated);
      bson_free(key);
      if (!ok) {
         return false;
      }
      if (replaced) {
         return true;
      }
   }
   return bench_util_fail(err, "update of _id %lld kept losing its compare-and-swap",
                          (long long) id);
}

static bool
pg_scan(pg_thread_t *t, int64_t expected, char *err)
{
   int64_t matched = 0;
   int64_t last_seq = 0;
   bool started = false;
   int batch = PG_FIRST_BATCH;

   for (;;) {
      char sql[256];
      PGresult *res;
      int rows;

      if (started) {
         snprintf(sql, sizeof sql,
                  "SELECT seq, doc FROM " PG_SCHEMA ".main WHERE true AND seq > %" PRId64
                  " ORDER BY seq LIMIT %d",
                  last_seq, batch);
      } else {
         snprintf(sql, sizeof sql,
                  "SELECT seq, doc FROM " PG_SCHEMA ".main WHERE true ORDER BY seq LIMIT %d",
                  batch);
      }
      res = PQexecParams(t->conn, sql, 0, NULL, NULL, NULL, NULL, 1);
      if (PQresultStatus(res) != PGRES_TUPLES_OK) {
         bench_util_fail(err, "libpq scan: %s", PQerrorMessage(t->conn));
         PQclear(res);
         return false;
      }
      rows = PQntuples(res);
      for (int r = 0; r < rows; r++) {
         last_seq = pg_be64(PQgetvalue(res, r, 0));
         started = true;
         if (bench_util_matches((const uint8_t *) PQgetvalue(res, r, 1),
                                (size_t) PQgetlength(res, r, 1))) {
            matched++;
         }
      }
      PQclear(res);
      if (rows < batch) {
         break;
      }
      batch = batch * 2 < PG_FETCH_SIZE ? batch * 2 : PG_FETCH_SIZE;
   }
   if (matched != expected) {
      return bench_util_fail(err, "libpq scan matched %lld, expected %lld", (long long) matched,
                             (long long) expected);
   }
   return true;
}

/* A one-dimensional bytea[] in the binary array format, as the backend's write_array(). */
static uint8_t *
pg_array(uint8_t *const *items, const size_t *lens, int count, size_t *len)
{
   uint32_t header[5] = {htonl(1), htonl(0), htonl(17), htonl((uint32_t) count), htonl(1)};
   size_t size = sizeof header;
   size_t pos = sizeof header;
   uint8_t *buf;

   for (int i = 0; i < count; i++) {
      size += 4 + lens[i];
   }
   buf = malloc(size);
   if (!buf) {
      return NULL;
   }
   memcpy(buf, header, sizeof header);
   for (int i = 0; i < count; i++) {
      uint32_t be = htonl((uint32_t) lens[i]);
      memcpy(buf + pos, &be, 4);
      memcpy(buf + pos + 4, items[i], lens[i]);
      pos += 4 + lens[i];
   }
   *len = size;
   return buf;
}

static int64_t
pg_be64(const char *p)
{
   uint64_t v = 0;

   for (int i = 0; i < 8; i++) {
      v = (v << 8) | (uint8_t) p[i];
   }
   return (int64_t) v;
}

static void *
pg_thread_init(bench_cell_shared_t *shared, int index, char *err)
{
   pg_shared_t *engine = shared->engine;
   pg_thread_t *t = calloc(1, sizeof *t);

   (void) index;
   if (!t) {
      bench_util_fail(err, "out of memory");
      return NULL;
   }
   if (!pg_connect(engine->conninfo, &t->conn, err)) {
      pg_thread_fini(t);
      return NULL;
   }
   return t;
}

static bool
pg_op(void *ctx, bench_cell_shared_t *shared, uint64_t *rng, uint64_t *docs, char *err)
{
   pg_thread_t *t = ctx;
   const bench_config_t *config = shared->config;
   int64_t id = (int64_t) (bench_util_rand(rng) % (uint64_t) config->main_docs);

   switch (shared->workload) {
   case BENCH_INSERT_MANY:
      *docs = (uint64_t) config->batch_size;
      return pg_insert_batch(t->conn, PG_SCHEMA ".ins",
                             atomic_fetch_add(&shared->next_id, config->batch_size),
                             config->batch_size, err);
   case BENCH_INSERT_ONE:
      *docs = 1;
      return pg_insert_one(t->conn, atomic_fetch_add(&shared->next_id, 1), err);
   case BENCH_FIND_ID:
      *docs = 1;
      return pg_find(t, id, err);
   case BENCH_SCAN:
      *docs = (uint64_t) config->main_docs;
      return pg_scan(t, bench_scan_expected(config->main_docs), err);
   case BENCH_UPDATE:
      *docs = 1;
      return pg_update(t, id, err);
   case BENCH_MIX:
      *docs = 1;
      return (bench_util_rand(rng) & 1) ? pg_update(t, id, err) : pg_find(t, id, err);
   default:
      return bench_util_fail(err, "workload %d has no libpq anchor", (int) shared->workload);
   }
}

static void
pg_thread_fini(void *ctx)
{
   pg_thread_t *t = ctx;

   if (!t) {
      return;
   }
   PQfinish(t->conn);
   free(t->doc);
   free(t);
}
