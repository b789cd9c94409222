/*
 * session.c: a worker's session, its connections, cached statements and transactions
 * (docs/rfc/0005-sqlite-layout.md, "Concurrency").
 *
 * A session keeps, per database file it touched, one main connection for writes and catalog
 * reads plus a few idle reader connections for cursors. Cursors outside a transaction never
 * read through the main connection: an open statement there would pin an old WAL snapshot, and
 * a later write on the same connection could then never upgrade to a write lock
 * (SQLITE_BUSY_SNAPSHOT) until the client closed its cursor.
 *
 * Writes take BEGIN IMMEDIATE, which waits for the write lock through the busy timeout, so
 * concurrent writers queue instead of failing. Inside begin()/commit() the first touch of a
 * database takes BEGIN IMMEDIATE and each method then works under a savepoint.
 */
#include "sqlite_int.h"

#include <stdarg.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void db_close(ferret_session_t *session, session_db_t *entry);
static ferret_status_t txn_join(ferret_session_t *session, session_db_t *entry,
                                ferret_error_t *error);
static ferret_status_t commit_main(ferret_session_t *session, session_db_t *entry,
                                   ferret_error_t *error);
static void sleep_ms(int ms);
static int step_cached(session_db_t *entry, const char *sql);
static void reset_cached(session_db_t *entry, const char *sql);
static ferret_status_t exec_failed(sqlite3 *conn, int rc, const char *sql, ferret_error_t *error);
static void stmts_clear(session_stmts_t *stmts);
static void stmts_forget(session_stmts_t *stmts, const char *table);
static void reader_close(ferret_session_t *session, session_db_t *entry, session_reader_t *reader);

ferret_status_t
session_open(ferret_backend_t *backend, ferret_session_t **out, ferret_error_t *error)
{
   ferret_session_t *session = calloc(1, sizeof *session);

   *out = NULL;
   if (!session) {
      return session_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
   }
   session->backend = backend;
   *out = session;
   return FERRET_OK;
}

void
session_close(ferret_session_t *session)
{
   if (!session) {
      return;
   }
   if (session->txn) {
      session_abort(session);
   }
   for (size_t i = 0; i < session->db_count; i++) {
      db_close(session, session->dbs[i]);
   }
   session_ddl_settle(session);
   free(session->dbs);
   free(session);
}

ferret_status_t
session_begin(ferret_session_t *session, ferret_error_t *error)
{
   if (session->txn) {
      return session_fail(error, FERRET_ERR_INTERNAL, "a transaction is already open");
   }
   /* Databases join lazily, on first use, so a transaction touching one file locks one. */
   session->txn = true;
   return FERRET_OK;
}

ferret_status_t
session_commit(ferret_session_t *session, ferret_error_t *error)
{
   ferret_status_t status = FERRET_OK;

   if (!session->txn) {
      return session_fail(error, FERRET_ERR_INTERNAL, "no transaction is open");
   }
   /* Each file commits on its own: a transaction over several databases is atomic per
    * database only (README.md). After a failure the rest roll back. */
   for (size_t i = 0; i < session->db_count; i++) {
      session_db_t *entry = session->dbs[i];
      if (!entry->in_txn) {
         continue;
      }
      if (status == FERRET_OK) {
         status = commit_main(session, entry, error);
      } else {
         sqlite3_exec(entry->main, "ROLLBACK", NULL, NULL, NULL);
      }
      entry->in_txn = false;
   }
   session->txn = false;
   session_trim(session);
   return status;
}

void
session_abort(ferret_session_t *session)
{
   for (size_t i = 0; i < session->db_count; i++) {
      session_db_t *entry = session->dbs[i];
      if (entry->in_txn) {
         sqlite3_exec(entry->main, "ROLLBACK", NULL, NULL, NULL);
         entry->in_txn = false;
      }
   }
   session->txn = false;
   session_trim(session);
}

ferret_status_t
session_db_get(ferret_session_t *session, const char *db, bool create, session_db_t **out,
               ferret_error_t *error)
{
   session_db_t *entry = NULL;
   sqlite3 *conn = NULL;
   ferret_status_t status = FERRET_OK;

   *out = NULL;
   for (size_t i = 0; i < session->db_count; i++) {
      if (strcmp(session->dbs[i]->name, db) == 0) {
         session->dbs[i]->used = ++session->clock;
         *out = session->dbs[i];
         return FERRET_OK;
      }
   }

   status = registry_open(session->backend, db, create, &conn, error);
   if (status != FERRET_OK || !conn) {
      goto done;
   }
   if (session->db_count == session->db_capacity) {
      size_t capacity = session->db_capacity ? session->db_capacity * 2 : 4;
      session_db_t **dbs = realloc(session->dbs, capacity * sizeof *dbs);
      if (!dbs) {
         status = session_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
         goto done;
      }
      session->dbs = dbs;
      session->db_capacity = capacity;
   }
   entry = calloc(1, sizeof *entry);
   if (!entry || !(entry->name = strdup(db))) {
      status = session_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
      goto done;
   }
   entry->session = session;
   entry->main = conn;
   conn = NULL;
   entry->used = ++session->clock;
   session->dbs[session->db_count++] = entry;
   *out = entry;
   entry = NULL;

done:
   if (conn) {
      registry_close(session->backend, db, conn);
   }
   if (entry) {
      free(entry->name);
      free(entry);
   }
   return status;
}

void
session_db_release(ferret_session_t *session, session_db_t *entry)
{
   if (entry->cursors > 0 || entry->in_txn) {
      return;
   }
   for (size_t i = 0; i < session->db_count; i++) {
      if (session->dbs[i] == entry) {
         session->dbs[i] = session->dbs[--session->db_count];
         db_close(session, entry);
         return;
      }
   }
}

void
session_trim(ferret_session_t *session)
{
   session_ddl_settle(session);
   while (session->db_count > SQ_MAX_DBS) {
      session_db_t *victim = NULL;
      for (size_t i = 0; i < session->db_count; i++) {
         session_db_t *entry = session->dbs[i];
         if (entry->cursors == 0 && !entry->in_txn && (!victim || entry->used < victim->used)) {
            victim = entry;
         }
      }
      if (!victim) {
         return;
      }
      session_db_release(session, victim);
   }
}

ferret_status_t
session_prepare(session_db_t *entry, const char *sql, sqlite3_stmt **out, ferret_error_t *error)
{
   return session_prepare_on(&entry->stmts, entry->main, sql, out, error);
}

ferret_status_t
session_prepare_on(session_stmts_t *stmts, sqlite3 *conn, const char *sql, sqlite3_stmt **out,
                   ferret_error_t *error)
{
   session_stmt_t *slot = NULL;
   int rc;

   *out = NULL;
   for (size_t i = 0; i < SQ_STMT_CACHE; i++) {
      session_stmt_t *s = &stmts->slots[i];
      if (s->sql && strcmp(s->sql, sql) == 0) {
         s->used = ++stmts->clock;
         *out = s->stmt;
         return FERRET_OK;
      }
      if (!slot || !s->sql || (slot->sql && s->used < slot->used)) {
         slot = s;
      }
   }
   if (slot->sql) {
      sqlite3_finalize(slot->stmt);
      free(slot->sql);
      slot->sql = NULL;
      slot->stmt = NULL;
   }
   rc = sqlite3_prepare_v3(conn, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot->stmt, NULL);
   if (rc != SQLITE_OK) {
      sqlite3_finalize(slot->stmt);
      slot->stmt = NULL;
      return session_error(conn, rc, "cannot prepare statement", error);
   }
   slot->sql = strdup(sql);
   if (!slot->sql) {
      sqlite3_finalize(slot->stmt);
      slot->stmt = NULL;
      return session_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
   }
   slot->used = ++stmts->clock;
   *out = slot->stmt;
   return FERRET_OK;
}

void
session_stmt_done(sqlite3_stmt *stmt)
{
   if (stmt) {
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
   }
}

void
session_forget_table(session_db_t *entry, const char *table)
{
   stmts_forget(&entry->stmts, table);
   for (size_t i = 0; i < entry->idle_count; i++) {
      stmts_forget(&entry->idle[i]->stmts, table);
   }
}

bool
session_name_find(session_db_t *entry, const char *collection, char table[SQ_TABLE_NAME_SIZE],
                  uint64_t *tag)
{
   ferret_backend_t *backend = entry->session->backend;
   uint64_t generation;

   *tag = 0;
   /* ddl_active first: a DDL raises it before its first bump and lowers it after its last, so
    * seeing it at zero and then the generation means every finished DDL's bump is seen. */
   if (entry->session->txn || atomic_load(&backend->ddl_active) != 0) {
      return false;
   }
   generation = atomic_load(&backend->ddl_generation) + 1;
   for (size_t i = 0; i < SQ_NAME_CACHE; i++) {
      session_name_t *n = &entry->names[i];
      if (n->collection && n->generation == generation && strcmp(n->collection, collection) == 0) {
         n->used = ++entry->names_clock;
         memcpy(table, n->table, SQ_TABLE_NAME_SIZE);
         return true;
      }
   }
   *tag = generation;
   return false;
}

void
session_name_store(session_db_t *entry, const char *collection, const char *table, uint64_t tag)
{
   session_name_t *slot = NULL;

   if (tag == 0 || !table[0]) {
      return;
   }
   for (size_t i = 0; i < SQ_NAME_CACHE; i++) {
      session_name_t *n = &entry->names[i];
      if (n->collection && strcmp(n->collection, collection) == 0) {
         slot = n;
         break;
      }
      if (!slot || !n->collection || (slot->collection && n->used < slot->used)) {
         slot = n;
      }
   }
   if (!slot->collection || strcmp(slot->collection, collection) != 0) {
      free(slot->collection);
      slot->collection = strdup(collection);
      if (!slot->collection) {
         return; /* not cached: the next lookup reads the catalog */
      }
   }
   snprintf(slot->table, sizeof slot->table, "%s", table);
   slot->generation = tag;
   slot->used = ++entry->names_clock;
}

void
session_ddl_enter(ferret_session_t *session)
{
   if (session->ddl_held) {
      return;
   }
   atomic_fetch_add(&session->backend->ddl_active, 1);
   atomic_fetch_add(&session->backend->ddl_generation, 1);
   session->ddl_held = true;
}

void
session_ddl_settle(ferret_session_t *session)
{
   if (!session->ddl_held || session->txn) {
      return;
   }
   atomic_fetch_add(&session->backend->ddl_generation, 1);
   atomic_fetch_sub(&session->backend->ddl_active, 1);
   session->ddl_held = false;
}

ferret_status_t
session_write_begin(ferret_session_t *session, session_db_t *entry, ferret_error_t *error)
{
   ferret_status_t status;
   int rc;

   if (session->txn) {
      status = txn_join(session, entry, error);
      if (status == FERRET_OK) {
         status = session_exec(entry->main, "SAVEPOINT ferret_op", error);
      }
      return status;
   }
   rc = step_cached(entry, "BEGIN IMMEDIATE");
   if (rc != SQLITE_OK) {
      status = exec_failed(entry->main, rc, "BEGIN IMMEDIATE", error);
      reset_cached(entry, "BEGIN IMMEDIATE");
      return status;
   }
   return FERRET_OK;
}

ferret_status_t
session_write_end(ferret_session_t *session, session_db_t *entry, bool commit,
                  ferret_error_t *error)
{
   ferret_status_t status = FERRET_OK;

   if (session->txn) {
      if (commit) {
         return session_exec(entry->main, "RELEASE ferret_op", error);
      }
      sqlite3_exec(entry->main, "ROLLBACK TO ferret_op", NULL, NULL, NULL);
      sqlite3_exec(entry->main, "RELEASE ferret_op", NULL, NULL, NULL);
      return FERRET_OK;
   }
   if (commit) {
      status = commit_main(session, entry, error);
   } else if (!sqlite3_get_autocommit(entry->main)) {
      sqlite3_exec(entry->main, "ROLLBACK", NULL, NULL, NULL);
   }
   return status;
}

ferret_status_t
session_read_begin(ferret_session_t *session, session_db_t *entry, ferret_error_t *error)
{
   return session->txn ? txn_join(session, entry, error) : FERRET_OK;
}

ferret_status_t
session_reader_get(ferret_session_t *session, session_db_t *entry, session_reader_t **out,
                   ferret_error_t *error)
{
   session_reader_t *reader = NULL;
   ferret_status_t status;

   *out = NULL;
   if (entry->idle_count > 0) {
      *out = entry->idle[--entry->idle_count];
      entry->readers_out++;
      return FERRET_OK;
   }
   reader = calloc(1, sizeof *reader);
   if (!reader) {
      return session_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
   }
   /* The file exists: entry->main has it open, so no drop can have unlinked it. */
   status = registry_open(session->backend, entry->name, false, &reader->conn, error);
   if (status != FERRET_OK || !reader->conn) {
      free(reader);
      return status;
   }
   if (entry->readers_out >= SQ_MAX_IDLE_READERS) {
      /* Many cursors at once (concurrent scans): each would otherwise fill a page cache of
       * its own. A failure leaves SQLite's default, which is only more memory. */
      char pragma[64];
      snprintf(pragma, sizeof pragma, "PRAGMA cache_size = -%d", SQ_TRANSIENT_READER_CACHE_KIB);
      sqlite3_exec(reader->conn, pragma, NULL, NULL, NULL);
      reader->transient = true;
   }
   entry->readers_out++;
   *out = reader;
   return FERRET_OK;
}

void
session_reader_put(ferret_session_t *session, session_db_t *entry, session_reader_t *reader)
{
   entry->readers_out--;
   if (!reader->transient && entry->idle_count < SQ_MAX_IDLE_READERS) {
      entry->idle[entry->idle_count++] = reader;
      return;
   }
   reader_close(session, entry, reader);
#ifdef __GLIBC__
   if (entry->readers_out == 0) {
      /* The last of a burst of readers is gone: glibc would keep the memory their page caches
       * freed in the worker's arena for good. */
      malloc_trim(0);
   }
#endif
}

ferret_status_t
session_fail(ferret_error_t *error, ferret_status_t status, const char *format, ...)
{
   if (error) {
      va_list args;
      va_start(args, format);
      vsnprintf(error->message, sizeof error->message, format, args);
      va_end(args);
   }
   return status;
}

ferret_status_t
session_error(sqlite3 *conn, int rc, const char *what, ferret_error_t *error)
{
   int code = conn ? sqlite3_extended_errcode(conn) : rc;
   const char *message = conn ? sqlite3_errmsg(conn) : sqlite3_errstr(rc);
   ferret_status_t status;

   /* The connection's code can be stale when rc came from elsewhere (a reset). */
   if ((code & 0xff) != (rc & 0xff)) {
      code = rc;
      message = sqlite3_errstr(rc);
   }
   switch (code & 0xff) {
   case SQLITE_BUSY:
      status = code == SQLITE_BUSY_SNAPSHOT ? FERRET_ERR_WRITE_CONFLICT : FERRET_ERR_UNAVAILABLE;
      break;
   case SQLITE_LOCKED:
   case SQLITE_CANTOPEN:
   case SQLITE_FULL:
   case SQLITE_READONLY:
   case SQLITE_PROTOCOL:
      status = FERRET_ERR_UNAVAILABLE;
      break;
   case SQLITE_NOMEM:
      status = FERRET_ERR_NO_MEMORY;
      break;
   case SQLITE_TOOBIG:
      status = FERRET_ERR_TOO_LARGE;
      break;
   case SQLITE_CONSTRAINT:
      status = code == SQLITE_CONSTRAINT_PRIMARYKEY || code == SQLITE_CONSTRAINT_UNIQUE
                  ? FERRET_ERR_DUPLICATE_KEY
                  : FERRET_ERR_INTERNAL;
      break;
   default:
      status = FERRET_ERR_INTERNAL;
      break;
   }
   if (error) {
      snprintf(error->message, sizeof error->message, "%s: %s", what, message);
      snprintf(error->native_code, sizeof error->native_code, "%d", code);
   }
   return status;
}

ferret_status_t
session_exec(sqlite3 *conn, const char *sql, ferret_error_t *error)
{
   int rc = sqlite3_exec(conn, sql, NULL, NULL, NULL);

   return rc == SQLITE_OK ? FERRET_OK : exec_failed(conn, rc, sql, error);
}

/* The error of sql failing with rc, named by the statement's first words. */
static ferret_status_t
exec_failed(sqlite3 *conn, int rc, const char *sql, ferret_error_t *error)
{
   char what[64];

   /* The statement's first words say what failed without quoting a whole query. */
   snprintf(what, sizeof what, "%.*s failed", (int) strcspn(sql, "(=;"), sql);
   for (char *p = what; *p; p++) {
      if (*p >= 'A' && *p <= 'Z') {
         *p = (char) (*p - 'A' + 'a');
      }
   }
   return session_error(conn, rc, what, error);
}

/* Runs sql, a statement without results, on entry->main as sqlite3_exec() would, but through
 * the statement cache: every write's BEGIN IMMEDIATE and COMMIT were parsed anew, an eighth of
 * an insertOne's instructions. Returns SQLITE_OK or the error code, with SQLite's message
 * still on the connection (the statement is reset only after a success). */
static int
step_cached(session_db_t *entry, const char *sql)
{
   sqlite3_stmt *stmt;
   int rc;

   if (session_prepare(entry, sql, &stmt, NULL) != FERRET_OK) {
      return sqlite3_exec(entry->main, sql, NULL, NULL, NULL);
   }
   rc = sqlite3_step(stmt);
   if (rc == SQLITE_DONE) {
      session_stmt_done(stmt);
      return SQLITE_OK;
   }
   return rc;
}

/* Resets sql's cached statement after step_cached() failed and its error was read. */
static void
reset_cached(session_db_t *entry, const char *sql)
{
   sqlite3_stmt *stmt;

   if (session_prepare(entry, sql, &stmt, NULL) == FERRET_OK) {
      session_stmt_done(stmt);
   }
}

static ferret_status_t
txn_join(ferret_session_t *session, session_db_t *entry, ferret_error_t *error)
{
   ferret_status_t status;

   (void) session;
   if (entry->in_txn) {
      return FERRET_OK;
   }
   /* A write lock from the first touch, reads included: the transaction then sees one
    * snapshot and can never lose its upgrade to a concurrent writer. */
   status = session_exec(entry->main, "BEGIN IMMEDIATE", error);
   if (status == FERRET_ERR_UNAVAILABLE) {
      /* Another transaction holds this file, possibly while waiting for one we hold: let the
       * core abort and retry rather than wait in a circle. */
      status = FERRET_ERR_WRITE_CONFLICT;
   }
   if (status == FERRET_OK) {
      entry->in_txn = true;
   }
   return status;
}

bool
session_busy_backoff(const ferret_backend_t *backend, int rc, busy_backoff_t *backoff)
{
   if ((rc & 0xff) != SQLITE_BUSY || backoff->waited_ms >= backend->busy_timeout_ms) {
      return false;
   }
   if (backoff->delay_ms == 0) {
      backoff->delay_ms = 1;
   }
   sleep_ms(backoff->delay_ms);
   backoff->waited_ms += backoff->delay_ms;
   backoff->delay_ms = backoff->delay_ms < 50 ? backoff->delay_ms * 2 : 50;
   return true;
}

/* COMMIT, retrying SQLITE_BUSY for up to the busy timeout; rolls back when it gives up. */
static ferret_status_t
commit_main(ferret_session_t *session, session_db_t *entry, ferret_error_t *error)
{
   busy_backoff_t backoff = {0};
   int rc;

   for (;;) {
      rc = step_cached(entry, "COMMIT");
      if (rc == SQLITE_OK || !session_busy_backoff(session->backend, rc, &backoff)) {
         break;
      }
      reset_cached(entry, "COMMIT");
   }
   if (rc != SQLITE_OK) {
      ferret_status_t status = session_error(entry->main, rc, "commit failed", error);
      reset_cached(entry, "COMMIT");
      if (!sqlite3_get_autocommit(entry->main)) {
         sqlite3_exec(entry->main, "ROLLBACK", NULL, NULL, NULL);
      }
      return status;
   }
   return FERRET_OK;
}

static void
db_close(ferret_session_t *session, session_db_t *entry)
{
   stmts_clear(&entry->stmts);
   for (size_t i = 0; i < SQ_NAME_CACHE; i++) {
      free(entry->names[i].collection);
   }
   for (size_t i = 0; i < entry->idle_count; i++) {
      reader_close(session, entry, entry->idle[i]);
   }
   if (entry->in_txn) {
      sqlite3_exec(entry->main, "ROLLBACK", NULL, NULL, NULL);
   }
   registry_close(session->backend, entry->name, entry->main);
   free(entry->name);
   free(entry);
}

static void
sleep_ms(int ms)
{
   struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
   nanosleep(&ts, NULL);
}

static void
stmts_clear(session_stmts_t *stmts)
{
   for (size_t i = 0; i < SQ_STMT_CACHE; i++) {
      if (stmts->slots[i].sql) {
         sqlite3_finalize(stmts->slots[i].stmt);
         free(stmts->slots[i].sql);
         stmts->slots[i].sql = NULL;
         stmts->slots[i].stmt = NULL;
      }
   }
}

static void
stmts_forget(session_stmts_t *stmts, const char *table)
{
   char quoted[SQ_TABLE_NAME_SIZE + 2];

   snprintf(quoted, sizeof quoted, "\"%s\"", table);
   for (size_t i = 0; i < SQ_STMT_CACHE; i++) {
      session_stmt_t *s = &stmts->slots[i];
      if (s->sql && strstr(s->sql, quoted)) {
         sqlite3_finalize(s->stmt);
         free(s->sql);
         s->sql = NULL;
         s->stmt = NULL;
      }
   }
}

/* Every statement is finalized first: registry_close() needs a bare connection. */
static void
reader_close(ferret_session_t *session, session_db_t *entry, session_reader_t *reader)
{
   stmts_clear(&reader->stmts);
   registry_close(session->backend, entry->name, reader->conn);
   free(reader);
}
