/*
 * query.c: cursors over a collection, the pushdown they negotiate, and explain
 * (docs/rfc/0002-pushdown.md, docs/rfc/0006-postgres-layout.md).
 *
 * A cursor holds no server-side state. It pages through the table by keyset on seq, the
 * insertion counter: each batch is
 *
 *   SELECT seq, doc FROM t WHERE <pushed terms> AND seq > <last seq seen>
 *   ORDER BY seq LIMIT <batch>
 *
 * which an index on seq answers without a sort. So a session can keep any number of cursors
 * open and run writes, transactions and other cursors between their batches on its one
 * connection; a cursor survives a reconnect; and it never holds locks or a snapshot between
 * batches (as in MongoDB, a long-lived cursor may or may not see concurrent writes, but it
 * never returns a document twice, because seq does not change on update). Batches start
 * small (a find with a limit or an _id lookup reads little) and double up to fetch_size.
 *
 * Pushdown: `_id` equality with an id_key (WHERE id_key = $n, exact because id_key is the
 * core's canonical _id encoding); $natural sort (ORDER BY seq); skip and limit when offered
 * and everything else was applied.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postgres_int.h"

#define QUERY_FIRST_BATCH 100

struct ferret_cursor {
   ferret_session_t *session; /* borrowed; outlives the cursor */
   char *ns_name;             /* owned; "db.collection", for messages */
   bool exists;               /* false: the collection is missing, the cursor is empty */
   char qualified[PG_QUALIFIED_MAX];
   uint8_t **id_keys; /* owned, with each element: copies of the pushed _id keys */
   size_t *id_key_lens;
   size_t id_key_count;
   bool desc;
   int64_t skip;      /* applied by the first batch */
   int64_t remaining; /* documents still to return; -1 without a limit */
   bool started;      /* last_seq is valid */
   int64_t last_seq;
   int batch;
   PGresult *res; /* owned; the current batch; rows point into it */
   int row;
   bool done; /* the current batch is the last */
};

/* ---- plan ---- */

static ferret_status_t query_plan(ferret_cursor_t *cursor, ferret_query_t *query);
static void query_sql(const ferret_cursor_t *cursor, int batch, char *sql, size_t size,
                      pg_params_t *params);
static ferret_status_t query_fetch(ferret_cursor_t *cursor, ferret_error_t *error);
static ferret_status_t query_prepare(ferret_session_t *session, const ferret_ns_t *ns,
                                     ferret_query_t *query, ferret_cursor_t **out,
                                     ferret_error_t *error);
static int64_t query_be64(const char *p);

/* ---- a minimal BSON writer for explain (the backend does not link libbson) ---- */

typedef struct query_bson {
   uint8_t *buf; /* owned */
   size_t len;
   size_t cap;
   bool oom;
} query_bson_t;

static void query_bson_raw(query_bson_t *b, const void *p, size_t n);
static size_t query_bson_open(query_bson_t *b, uint8_t type, const char *key);
static void query_bson_close(query_bson_t *b, size_t start);
static void query_bson_string(query_bson_t *b, const char *key, const char *value);
static void query_bson_bool(query_bson_t *b, const char *key, bool value);
static void query_bson_int64(query_bson_t *b, const char *key, int64_t value);

/* ---- public ---- */

ferret_status_t
query_open(ferret_session_t *session, const ferret_ns_t *ns, ferret_query_t *query,
           ferret_cursor_t **out, ferret_error_t *error)
{
   ferret_cursor_t *cursor = NULL; /* owned; transfers to *out on success */
   ferret_status_t status = FERRET_OK;

   *out = NULL;
   /* The first batch is read now, so that a missing server or a stale cached table shows up
    * here, where a retry is still invisible to the client. */
   for (int attempt = 0; attempt < 2; attempt++) {
      query_close(cursor);
      cursor = NULL;
      status = query_prepare(session, ns, query, &cursor, error);
      if (status == FERRET_OK && cursor->exists) {
         status = query_fetch(cursor, error);
      }
      if (status != FERRET_ERR_NAMESPACE_NOT_FOUND) {
         break;
      }
      catalog_forget(session, ns);
      if (session->txn != PG_TXN_NONE || attempt == 1) {
         status = conn_fail(
            error, session->txn != PG_TXN_NONE ? FERRET_ERR_WRITE_CONFLICT : FERRET_ERR_UNAVAILABLE,
            "collection '%s.%s' was dropped or renamed concurrently", ns->db, ns->collection);
         break;
      }
      memset(error, 0, sizeof *error);
   }
   if (status == FERRET_OK) {
      *out = cursor;
      cursor = NULL;
   }
   query_close(cursor);
   return status;
}

ferret_status_t
query_next(ferret_cursor_t *cursor, const uint8_t **bson, size_t *len, ferret_error_t *error)
{
   ferret_status_t status = FERRET_OK;

   *bson = NULL;
   *len = 0;
   for (;;) {
      if (cursor->res != NULL && cursor->row < PQntuples(cursor->res)) {
         int r = cursor->row++;
         cursor->last_seq = query_be64(PQgetvalue(cursor->res, r, 0));
         cursor->started = true;
         if (cursor->remaining > 0) {
            cursor->remaining--;
         }
         *bson = (const uint8_t *) PQgetvalue(cursor->res, r, 1);
         *len = (size_t) PQgetlength(cursor->res, r, 1);
         return FERRET_OK;
      }
      if (!cursor->exists || cursor->done || cursor->remaining == 0) {
         return FERRET_OK;
      }
      status = conn_ready(cursor->session, error);
      if (status == FERRET_OK) {
         status = query_fetch(cursor, error);
      }
      if (status == FERRET_ERR_NAMESPACE_NOT_FOUND) {
         catalog_cache_clear(cursor->session);
         status = conn_fail(error, FERRET_ERR_INTERNAL,
                            "collection '%s' was dropped or renamed while a cursor was open",
                            cursor->ns_name);
      }
      if (status != FERRET_OK) {
         return status;
      }
   }
}

void
query_close(ferret_cursor_t *cursor)
{
   if (cursor == NULL) {
      return;
   }
   cursor->session->open_cursors--;
   for (size_t i = 0; i < cursor->id_key_count; i++) {
      free(cursor->id_keys[i]);
   }
   free(cursor->id_keys);
   free(cursor->id_key_lens);
   free(cursor->ns_name);
   PQclear(cursor->res);
   free(cursor);
}

ferret_status_t
query_explain(ferret_session_t *session, const ferret_ns_t *ns, ferret_query_t *query,
              void (*fn)(void *ctx, const uint8_t *bson, size_t len), void *ctx,
              ferret_error_t *error)
{
   char sql[2048];
   char explain_sql[2100];
   char key[16];
   ferret_cursor_t *cursor = NULL; /* owned */
   pg_params_t params = {0};
   PGresult *res = NULL; /* owned */
   query_bson_t b = {0};
   size_t top;
   size_t plan;
   ferret_status_t status;

   status = query_prepare(session, ns, query, &cursor, error);
   if (status != FERRET_OK) {
      goto done;
   }
   top = query_bson_open(&b, 0, NULL);
   query_bson_string(&b, "backend", PG_BACKEND_NAME);
   query_bson_string(&b, "namespace", cursor->ns_name);
   query_bson_bool(&b, "exists", cursor->exists);
   query_bson_bool(&b, "idKeyPushdown", cursor->id_key_count > 0);
   query_bson_bool(&b, "sortPushdown", query->sort_applied);
   query_bson_bool(&b, "skipLimitPushdown", query->skip_limit_applied);
   if (cursor->exists) {
      query_sql(cursor, cursor->batch, sql, sizeof sql, &params);
      snprintf(explain_sql, sizeof explain_sql, "EXPLAIN %s", sql);
      status = conn_exec(session, "explain", explain_sql, &params, false, &res, error);
      if (status != FERRET_OK) {
         goto done;
      }
      query_bson_string(&b, "table", cursor->qualified);
      query_bson_string(&b, "sql", sql);
      query_bson_int64(&b, "firstBatch", cursor->batch);
      query_bson_int64(&b, "fetchSize", session->backend->fetch_size);
      plan = query_bson_open(&b, 0x04, "plan");
      for (int i = 0; i < PQntuples(res); i++) {
         snprintf(key, sizeof key, "%d", i);
         query_bson_string(&b, key, PQgetvalue(res, i, 0));
      }
      query_bson_close(&b, plan);
   }
   query_bson_close(&b, top);
   if (b.oom) {
      status = conn_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
      goto done;
   }
   fn(ctx, b.buf, b.len);

done:
   PQclear(res);
   free(b.buf);
   query_close(cursor);
   return status;
}

/* ---- plan ---- */

/* A cursor for the query, planned, no rows read yet. */
static ferret_status_t
query_prepare(ferret_session_t *session, const ferret_ns_t *ns, ferret_query_t *query,
              ferret_cursor_t **out, ferret_error_t *error)
{
   ferret_cursor_t *cursor = NULL; /* owned; transfers to *out */
   size_t name_len = strlen(ns->db) + strlen(ns->collection) + 2;
   bool found = false;
   ferret_status_t status;

   *out = NULL;
   cursor = calloc(1, sizeof *cursor);
   if (cursor == NULL) {
      return conn_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
   }
   cursor->session = session;
   session->open_cursors++;
   cursor->ns_name = malloc(name_len);
   if (cursor->ns_name == NULL) {
      status = conn_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
      goto done;
   }
   snprintf(cursor->ns_name, name_len, "%s.%s", ns->db, ns->collection);
   status = query_plan(cursor, query);
   if (status != FERRET_OK) {
      status = conn_fail(error, status, "out of memory");
      goto done;
   }
   status = catalog_resolve(session, ns, false, cursor->qualified, &found, error);
   cursor->exists = found;

done:
   *out = cursor;
   return status;
}

/* Decides what the cursor applies and says so in the query's output fields. */
static ferret_status_t
query_plan(ferret_cursor_t *cursor, ferret_query_t *query)
{
   bool all_terms = true;
   bool sort_ok;
   int fetch_size = cursor->session->backend->fetch_size;

   if (query->term_count > 0) {
      cursor->id_keys = calloc(query->term_count, sizeof *cursor->id_keys);
      cursor->id_key_lens = calloc(query->term_count, sizeof *cursor->id_key_lens);
      if (cursor->id_keys == NULL || cursor->id_key_lens == NULL) {
         return FERRET_ERR_NO_MEMORY;
      }
   }
   for (size_t i = 0; i < query->term_count; i++) {
      ferret_term_t *term = &query->terms[i];
      if (term->op != FERRET_OP_EQ || term->id_key == NULL || strcmp(term->path, "_id") != 0 ||
          cursor->id_key_count >= PG_MAX_PARAMS) {
         all_terms = false;
         continue;
      }
      uint8_t *copy = malloc(term->id_key_len > 0 ? term->id_key_len : 1);
      if (copy == NULL) {
         return FERRET_ERR_NO_MEMORY;
      }
      memcpy(copy, term->id_key, term->id_key_len);
      cursor->id_keys[cursor->id_key_count] = copy;
      cursor->id_key_lens[cursor->id_key_count] = term->id_key_len;
      cursor->id_key_count++;
      term->applied = true;
   }
   /* Only $natural: id_key bytes are not in BSON order, so an _id sort stays in the core. */
   if (query->sort_count == 1 && query->sort != NULL &&
       strcmp(query->sort[0].path, "$natural") == 0) {
      cursor->desc = query->sort[0].direction < 0;
      query->sort_applied = true;
   }
   sort_ok = query->sort_count == 0 || query->sort_applied;
   cursor->remaining = -1;
   if (all_terms && sort_ok && (query->skip > 0 || query->limit > 0) && query->skip >= 0 &&
       query->limit >= 0) {
      cursor->skip = query->skip;
      cursor->remaining = query->limit > 0 ? query->limit : -1;
      query->skip_limit_applied = true;
   }
   cursor->batch = fetch_size < QUERY_FIRST_BATCH ? fetch_size : QUERY_FIRST_BATCH;
   if (cursor->remaining > 0 && cursor->remaining < cursor->batch) {
      cursor->batch = (int) cursor->remaining;
   }
   if (cursor->id_key_count > 0) {
      cursor->batch = 2; /* at most one row; asking for two tells us it was the last */
   }
   return FERRET_OK;
}

static void
query_sql(const ferret_cursor_t *cursor, int batch, char *sql, size_t size, pg_params_t *params)
{
   size_t n;

   params->count = 0;
   n = (size_t) snprintf(sql, size, "SELECT seq, doc FROM %s WHERE true", cursor->qualified);
   for (size_t i = 0; i < cursor->id_key_count && n < size; i++) {
      conn_params_bytes(params, cursor->id_keys[i], cursor->id_key_lens[i]);
      n += (size_t) snprintf(sql + n, size - n, " AND id_key = $%zu", i + 1);
   }
   if (cursor->started && n < size) {
      n += (size_t) snprintf(sql + n, size - n, " AND seq %c %" PRId64, cursor->desc ? '<' : '>',
                             cursor->last_seq);
   }
   if (n < size) {
      n += (size_t) snprintf(sql + n, size - n, " ORDER BY seq%s LIMIT %d",
                             cursor->desc ? " DESC" : "", batch);
   }
   if (!cursor->started && cursor->skip > 0 && n < size) {
      snprintf(sql + n, size - n, " OFFSET %" PRId64, cursor->skip);
   }
}

/* Replaces the current batch with the next one. */
static ferret_status_t
query_fetch(ferret_cursor_t *cursor, ferret_error_t *error)
{
   char sql[2048];
   char what[300];
   pg_params_t params = {0};
   int batch = cursor->batch;
   int fetch_size = cursor->session->backend->fetch_size;
   ferret_status_t status;

   if (cursor->remaining > 0 && cursor->remaining < batch) {
      batch = (int) cursor->remaining;
   }
   PQclear(cursor->res);
   cursor->res = NULL;
   cursor->row = 0;
   snprintf(what, sizeof what, "read '%s'", cursor->ns_name);
   query_sql(cursor, batch, sql, sizeof sql, &params);
   /* A lookup by _id has one shape per collection; later batches carry literals (seq, skip)
    * and would only churn the statement cache. */
   if (cursor->id_key_count > 0 && !cursor->started && cursor->skip == 0) {
      status = conn_exec_prepared(cursor->session, what, sql, &params, true, &cursor->res, error);
   } else {
      status = conn_exec(cursor->session, what, sql, &params, true, &cursor->res, error);
   }
   if (status != FERRET_OK) {
      return status;
   }
   /* A short batch is the last one; a skip applies to the first batch only, and the first
    * batch fixes last_seq, so later batches never need an OFFSET. */
   if (PQntuples(cursor->res) < batch) {
      cursor->done = true;
   }
   if (PQntuples(cursor->res) > 0) {
      cursor->skip = 0;
   }
   if (cursor->batch < fetch_size) {
      cursor->batch = cursor->batch * 2 < fetch_size ? cursor->batch * 2 : fetch_size;
   }
   return FERRET_OK;
}

static int64_t
query_be64(const char *p)
{
   uint64_t v = 0;

   for (int i = 0; i < 8; i++) {
      v = (v << 8) | (uint8_t) p[i];
   }
   return (int64_t) v;
}

/* ---- BSON writer ---- */

static void
query_bson_raw(query_bson_t *b, const void *p, size_t n)
{
   if (b->oom) {
      return;
   }
   if (b->len + n > b->cap) {
      size_t cap = b->cap > 0 ? b->cap : 256;
      while (cap < b->len + n) {
         cap *= 2;
      }
      uint8_t *buf = realloc(b->buf, cap);
      if (buf == NULL) {
         b->oom = true;
         return;
      }
      b->buf = buf;
      b->cap = cap;
   }
   memcpy(b->buf + b->len, p, n);
   b->len += n;
}

static void
query_bson_le32(query_bson_t *b, uint32_t v)
{
   uint8_t le[4] = {(uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16), (uint8_t) (v >> 24)};

   query_bson_raw(b, le, 4);
}

/* Starts an embedded document or array (type 0x03/0x04 under key), or the top level (type 0).
 * Returns where its length goes, for query_bson_close(). */
static size_t
query_bson_open(query_bson_t *b, uint8_t type, const char *key)
{
   size_t start;

   if (type != 0) {
      query_bson_raw(b, &type, 1);
      query_bson_raw(b, key, strlen(key) + 1);
   }
   start = b->len;
   query_bson_le32(b, 0);
   return start;
}

static void
query_bson_close(query_bson_t *b, size_t start)
{
   uint8_t zero = 0;
   uint32_t n;

   query_bson_raw(b, &zero, 1);
   if (b->oom) {
      return;
   }
   n = (uint32_t) (b->len - start);
   uint8_t le[4] = {(uint8_t) n, (uint8_t) (n >> 8), (uint8_t) (n >> 16), (uint8_t) (n >> 24)};
   memcpy(b->buf + start, le, 4);
}

static void
query_bson_string(query_bson_t *b, const char *key, const char *value)
{
   uint8_t type = 0x02;
   size_t n = strlen(value) + 1;

   query_bson_raw(b, &type, 1);
   query_bson_raw(b, key, strlen(key) + 1);
   query_bson_le32(b, (uint32_t) n);
   query_bson_raw(b, value, n);
}

static void
query_bson_bool(query_bson_t *b, const char *key, bool value)
{
   uint8_t type = 0x08;
   uint8_t v = value ? 1 : 0;

   query_bson_raw(b, &type, 1);
   query_bson_raw(b, key, strlen(key) + 1);
   query_bson_raw(b, &v, 1);
}

static void
query_bson_int64(query_bson_t *b, const char *key, int64_t value)
{
   uint8_t type = 0x12;
   uint64_t v = (uint64_t) value;
   uint8_t le[8];

   for (int i = 0; i < 8; i++) {
      le[i] = (uint8_t) (v >> (8 * i));
   }
   query_bson_raw(b, &type, 1);
   query_bson_raw(b, key, strlen(key) + 1);
   query_bson_raw(b, le, 8);
}
