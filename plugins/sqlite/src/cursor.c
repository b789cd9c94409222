/*
 * cursor.c: query, cursors and explain (docs/rfc/0002-pushdown.md,
 * docs/rfc/0005-sqlite-layout.md).
 *
 * Pushdown: every EQ term on "_id" that carries an id_key becomes `id_key = ?`, exact because
 * the core's id_key is equal exactly when the _id values are equal. A sort on $natural alone is
 * rowid order. Skip and limit are applied only when every term and the sort were.
 */
#include "sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ferret_cursor {
   ferret_session_t *session; /* borrowed; outlives the cursor */
   session_db_t *entry;       /* borrowed from the session, pinned by entry->cursors; NULL for an
                               * empty cursor */
   sqlite3 *conn;             /* reader->conn, or entry->main (borrowed) */
   session_reader_t *reader;  /* owned until given back; NULL on entry->main */
   sqlite3_stmt *stmt;        /* NULL for an empty cursor; on a reader, borrowed from its statement
                               * cache (reset when done), else owned */
   bool stepped;              /* a row was returned */
};

/* The SQL for one query, built once and used by query() and explain(). */
typedef struct plan {
   char *sql;                      /* owned */
   const ferret_term_t **id_terms; /* owned array of borrowed terms, bound in order */
   size_t id_term_count;
} plan_t;

/* A growing BSON document, written by hand: the backend does not link libbson. */
typedef struct bsonw {
   uint8_t *data; /* owned */
   size_t len;
   size_t capacity;
   bool failed;
} bsonw_t;

static ferret_status_t plan_build(const char *table, ferret_query_t *query, plan_t *plan,
                                  ferret_error_t *error);
static void plan_free(plan_t *plan);
static size_t sql_append(char *sql, size_t len, const char *text);
static ferret_status_t open_source(ferret_session_t *session, const ferret_ns_t *ns,
                                   ferret_cursor_t *cursor, char table[SQ_TABLE_NAME_SIZE],
                                   ferret_error_t *error);
static void release_source(ferret_cursor_t *cursor);
static void bsonw_bytes(bsonw_t *w, const void *bytes, size_t len);
static void bsonw_int32_at(bsonw_t *w, size_t at, int32_t value);
static size_t bsonw_open(bsonw_t *w, uint8_t type, const char *key);
static void bsonw_close(bsonw_t *w, size_t start);
static void bsonw_string(bsonw_t *w, const char *key, const char *value);
static void bsonw_bool(bsonw_t *w, const char *key, bool value);

ferret_status_t
cursor_query(ferret_session_t *session, const ferret_ns_t *ns, ferret_query_t *query,
             ferret_cursor_t **out, ferret_error_t *error)
{
   ferret_cursor_t *cursor = NULL;
   char table[SQ_TABLE_NAME_SIZE];
   plan_t plan = {0};
   ferret_status_t status;
   int rc;

   *out = NULL;
   cursor = calloc(1, sizeof *cursor);
   if (!cursor) {
      status = session_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
      goto done;
   }
   cursor->session = session;
   status = open_source(session, ns, cursor, table, error);
   if (status != FERRET_OK) {
      goto done;
   }
   if (!table[0]) {
      /* A missing collection is an empty cursor; what it did not apply the core does. */
      release_source(cursor);
      *out = cursor;
      cursor = NULL;
      goto done;
   }
   status = plan_build(table, query, &plan, error);
   if (status != FERRET_OK) {
      goto done;
   }
   if (cursor->reader) {
      /* The reader serves only this cursor, so its cached statement is this cursor's alone
       * until release_source() resets it. */
      rc = SQLITE_OK;
      status =
         session_prepare_on(&cursor->reader->stmts, cursor->conn, plan.sql, &cursor->stmt, error);
      if (status != FERRET_OK) {
         rc = sqlite3_errcode(cursor->conn);
         if (!strstr(sqlite3_errmsg(cursor->conn), "no such table")) {
            goto done;
         }
         status = FERRET_OK;
      }
   } else {
      rc = sqlite3_prepare_v2(cursor->conn, plan.sql, -1, &cursor->stmt, NULL);
   }
   if (rc != SQLITE_OK) {
      if (strstr(sqlite3_errmsg(cursor->conn), "no such table")) {
         /* Dropped between the catalog lookup and now: as if the query ran just after. */
         release_source(cursor);
         *out = cursor;
         cursor = NULL;
         goto done;
      }
      status = session_error(cursor->conn, rc, "cannot prepare query", error);
      goto done;
   }
   for (size_t i = 0; i < plan.id_term_count; i++) {
      sqlite3_bind_blob64(cursor->stmt, (int) i + 1, plan.id_terms[i]->id_key,
                          (sqlite3_uint64) plan.id_terms[i]->id_key_len, SQLITE_STATIC);
   }
   *out = cursor;
   cursor = NULL;

done:
   plan_free(&plan);
   if (cursor) {
      cursor_close(cursor);
   }
   return status;
}

ferret_status_t
cursor_next(ferret_cursor_t *cursor, const uint8_t **bson, size_t *len, ferret_error_t *error)
{
   int rc;

   *bson = NULL;
   *len = 0;
   if (!cursor->stmt) {
      return FERRET_OK;
   }
   rc = sqlite3_step(cursor->stmt);
   if (rc == SQLITE_ROW) {
      cursor->stepped = true;
      *bson = sqlite3_column_blob(cursor->stmt, 0);
      *len = (size_t) sqlite3_column_bytes(cursor->stmt, 0);
      return FERRET_OK;
   }
   if (rc == SQLITE_DONE || (!cursor->stepped && (rc & 0xff) == SQLITE_ERROR &&
                             strstr(sqlite3_errmsg(cursor->conn), "no such table"))) {
      /* A cached statement re-prepares itself after a schema change; failing for a missing
       * table, it saw a drop that committed after the catalog lookup: as if the query ran
       * just after it, the cursor is empty (what a fresh prepare in cursor_query() does). */
      /* Finished: release the snapshot and the connection now, not when the client closes. */
      release_source(cursor);
      return FERRET_OK;
   }
   return session_error(cursor->conn, rc, "cannot read the next document", error);
}

void
cursor_close(ferret_cursor_t *cursor)
{
   if (!cursor) {
      return;
   }
   release_source(cursor);
   free(cursor);
}

ferret_status_t
cursor_explain(ferret_session_t *session, const ferret_ns_t *ns, ferret_query_t *query,
               void (*fn)(void *ctx, const uint8_t *bson, size_t len), void *ctx,
               ferret_error_t *error)
{
   ferret_cursor_t source = {.session = session};
   char table[SQ_TABLE_NAME_SIZE];
   char *sql = NULL;
   sqlite3_stmt *stmt = NULL;
   plan_t plan = {0};
   bsonw_t w = {0};
   ferret_status_t status;
   size_t root, steps;
   int rc;

   status = open_source(session, ns, &source, table, error);
   if (status != FERRET_OK) {
      goto done;
   }
   root = bsonw_open(&w, 0, NULL);
   bsonw_string(&w, "backend", SQ_BACKEND_NAME);
   bsonw_bool(&w, "collectionExists", table[0] != '\0');
   if (table[0]) {
      status = plan_build(table, query, &plan, error);
      if (status != FERRET_OK) {
         goto done;
      }
      bsonw_string(&w, "table", table);
      bsonw_string(&w, "sql", plan.sql);
      sql = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", plan.sql);
      if (!sql) {
         status = session_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
         goto done;
      }
      rc = sqlite3_prepare_v2(source.conn, sql, -1, &stmt, NULL);
      if (rc != SQLITE_OK) {
         status = session_error(source.conn, rc, "cannot explain query", error);
         goto done;
      }
      for (size_t i = 0; i < plan.id_term_count; i++) {
         sqlite3_bind_blob64(stmt, (int) i + 1, plan.id_terms[i]->id_key,
                             (sqlite3_uint64) plan.id_terms[i]->id_key_len, SQLITE_STATIC);
      }
      steps = bsonw_open(&w, 0x04, "plan");
      for (int i = 0; (rc = sqlite3_step(stmt)) == SQLITE_ROW; i++) {
         char key[16];
         snprintf(key, sizeof key, "%d", i);
         bsonw_string(&w, key, (const char *) sqlite3_column_text(stmt, 3));
      }
      if (rc != SQLITE_DONE) {
         status = session_error(source.conn, rc, "cannot explain query", error);
         goto done;
      }
      bsonw_close(&w, steps);
   }
   bsonw_close(&w, root);
   if (w.failed) {
      status = session_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
      goto done;
   }
   fn(ctx, w.data, w.len);

done:
   sqlite3_finalize(stmt);
   sqlite3_free(sql);
   plan_free(&plan);
   release_source(&source);
   free(w.data);
   return status;
}

/*
 * Picks the connection (the main one inside a transaction, to see its writes; a reader
 * otherwise) and looks the collection's table up through it. table is empty when the
 * collection does not exist; the cursor then holds nothing.
 */
static ferret_status_t
open_source(ferret_session_t *session, const ferret_ns_t *ns, ferret_cursor_t *cursor,
            char table[SQ_TABLE_NAME_SIZE], ferret_error_t *error)
{
   ferret_status_t status;

   table[0] = '\0';
   status = session_db_get(session, ns->db, false, &cursor->entry, error);
   if (status != FERRET_OK || !cursor->entry) {
      return status;
   }
   cursor->entry->cursors++;
   if (session->txn) {
      status = session_read_begin(session, cursor->entry, error);
      if (status != FERRET_OK) {
         return status;
      }
      cursor->conn = cursor->entry->main;
      return catalog_lookup_main(cursor->entry, ns->collection, table, error);
   }
   status = session_reader_get(session, cursor->entry, &cursor->reader, error);
   if (status != FERRET_OK || !cursor->reader) {
      return status;
   }
   cursor->conn = cursor->reader->conn;
   return catalog_lookup_reader(cursor->entry, cursor->reader, ns->collection, table, error);
}

/* Gives back what open_source() took; safe to call twice. */
static void
release_source(ferret_cursor_t *cursor)
{
   if (cursor->reader) {
      session_stmt_done(cursor->stmt);
      session_reader_put(cursor->session, cursor->entry, cursor->reader);
   } else {
      sqlite3_finalize(cursor->stmt);
   }
   cursor->stmt = NULL;
   cursor->conn = NULL;
   cursor->reader = NULL;
   if (cursor->entry) {
      cursor->entry->cursors--;
      cursor->entry = NULL;
      session_trim(cursor->session);
   }
}

static ferret_status_t
plan_build(const char *table, ferret_query_t *query, plan_t *plan, ferret_error_t *error)
{
   char *sql = NULL;
   size_t size, len;
   bool all_terms = true;
   bool sort_ok = query->sort_count == 0;

   if (query->term_count > 0) {
      plan->id_terms = calloc(query->term_count, sizeof *plan->id_terms);
      if (!plan->id_terms) {
         return session_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
      }
   }
   for (size_t i = 0; i < query->term_count; i++) {
      ferret_term_t *term = &query->terms[i];
      if (term->op == FERRET_OP_EQ && term->id_key && strcmp(term->path, "_id") == 0) {
         plan->id_terms[plan->id_term_count++] = term;
         term->applied = true;
      } else {
         all_terms = false;
      }
   }
   if (query->sort_count == 1 && strcmp(query->sort[0].path, "$natural") == 0) {
      sort_ok = true;
      query->sort_applied = true;
   }

   size = 128 + strlen(table) + plan->id_term_count * 24;
   sql = malloc(size);
   if (!sql) {
      return session_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
   }
   /* Built by hand, not with snprintf(): every find runs this, and the format parser was a
    * tenth of the plugin's share of a find by _id. */
   len = sql_append(sql, 0, "SELECT doc FROM \"");
   len = sql_append(sql, len, table);
   len = sql_append(sql, len, "\"");
   for (size_t i = 0; i < plan->id_term_count; i++) {
      char number[24];
      size_t digits = sizeof number;
      size_t n = i + 1;
      number[--digits] = '\0';
      do {
         number[--digits] = (char) ('0' + n % 10);
         n /= 10;
      } while (n > 0);
      len = sql_append(sql, len, i ? " AND id_key = ?" : " WHERE id_key = ?");
      len = sql_append(sql, len, number + digits);
   }
   if (query->sort_applied) {
      len += (size_t) snprintf(sql + len, size - len, " ORDER BY rowid %s",
                               query->sort[0].direction < 0 ? "DESC" : "ASC");
   }
   if (all_terms && sort_ok && (query->skip > 0 || query->limit > 0)) {
      len += (size_t) snprintf(sql + len, size - len, " LIMIT %lld OFFSET %lld",
                               query->limit > 0 ? (long long) query->limit : -1LL,
                               query->skip > 0 ? (long long) query->skip : 0LL);
      query->skip_limit_applied = true;
   }
   plan->sql = sql;
   return FERRET_OK;
}

/* Appends text at sql + len (the caller sized sql) and returns the new length. */
static size_t
sql_append(char *sql, size_t len, const char *text)
{
   size_t n = strlen(text);
   memcpy(sql + len, text, n + 1);
   return len + n;
}

static void
plan_free(plan_t *plan)
{
   free(plan->sql);
   free(plan->id_terms);
   plan->sql = NULL;
   plan->id_terms = NULL;
}

static void
bsonw_bytes(bsonw_t *w, const void *bytes, size_t len)
{
   if (w->failed) {
      return;
   }
   if (w->len + len > w->capacity) {
      size_t capacity = w->capacity ? w->capacity : 256;
      uint8_t *data;
      while (capacity < w->len + len) {
         capacity *= 2;
      }
      data = realloc(w->data, capacity);
      if (!data) {
         w->failed = true;
         return;
      }
      w->data = data;
      w->capacity = capacity;
   }
   memcpy(w->data + w->len, bytes, len);
   w->len += len;
}

/* Little-endian, as BSON is. */
static void
bsonw_int32_at(bsonw_t *w, size_t at, int32_t value)
{
   uint32_t v = (uint32_t) value;
   if (w->failed) {
      return;
   }
   for (int i = 0; i < 4; i++) {
      w->data[at + (size_t) i] = (uint8_t) (v >> (8 * i));
   }
}

/* Starts a document (type 0 and no key: the root) or an embedded document/array. Returns the
 * offset of its length, for bsonw_close(). */
static size_t
bsonw_open(bsonw_t *w, uint8_t type, const char *key)
{
   static const uint8_t zero[4] = {0};
   size_t start;

   if (key) {
      bsonw_bytes(w, &type, 1);
      bsonw_bytes(w, key, strlen(key) + 1);
   }
   start = w->len;
   bsonw_bytes(w, zero, 4);
   return start;
}

static void
bsonw_close(bsonw_t *w, size_t start)
{
   static const uint8_t nul = 0;
   bsonw_bytes(w, &nul, 1);
   bsonw_int32_at(w, start, (int32_t) (w->len - start));
}

static void
bsonw_string(bsonw_t *w, const char *key, const char *value)
{
   static const uint8_t type = 0x02;
   uint8_t len[4];
   size_t n = strlen(value ? value : "") + 1;

   bsonw_bytes(w, &type, 1);
   bsonw_bytes(w, key, strlen(key) + 1);
   for (int i = 0; i < 4; i++) {
      len[i] = (uint8_t) ((uint32_t) n >> (8 * i));
   }
   bsonw_bytes(w, len, 4);
   bsonw_bytes(w, value ? value : "", n);
}

static void
bsonw_bool(bsonw_t *w, const char *key, bool value)
{
   static const uint8_t type = 0x08;
   uint8_t b = value ? 1 : 0;

   bsonw_bytes(w, &type, 1);
   bsonw_bytes(w, key, strlen(key) + 1);
   bsonw_bytes(w, &b, 1);
}
