/*
 * registry.c: the database files this process has open, and their removal after
 * drop_database (docs/rfc/0005-sqlite-layout.md, "Dropping a database").
 *
 * Unlinking a SQLite file while another connection has it open would let that connection go
 * on writing into a deleted inode: its writes would be acknowledged and lost. So
 * drop_database only empties the file (drops every collection, a normal transaction every
 * connection sees) and marks it; the file is unlinked when the last connection of this
 * process closes and it still holds no collection. Opening a connection counts itself here
 * under the lock before it touches the file, so an unlink never races an open.
 */
#include "sqlite_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct registry_file {
   registry_file_t *next; /* owned */
   char *db;              /* owned */
   int open_count;        /* connections of this process */
   bool dropped;          /* unlink at the last close if still empty */
};

static registry_file_t *find_file(ferret_backend_t *backend, const char *db, bool add);
static void forget_file(ferret_backend_t *backend, registry_file_t *file);
static ferret_status_t prepare_connection(ferret_backend_t *backend, sqlite3 *conn,
                                          ferret_error_t *error);
static bool holds_collections(sqlite3 *conn);

bool
registry_path(const ferret_backend_t *backend, const char *db, char *out, size_t size)
{
   char name[NAME_MAX + 1];
   int n;

   if (!names_encode_db(db, name, sizeof name)) {
      return false;
   }
   n = snprintf(out, size, "%s/%s", backend->data_dir, name);
   return n > 0 && (size_t) n < size;
}

ferret_status_t
registry_open(ferret_backend_t *backend, const char *db, bool create, sqlite3 **out,
              ferret_error_t *error)
{
   char path[PATH_MAX];
   registry_file_t *file;
   sqlite3 *conn = NULL;
   bool counted = false;
   ferret_status_t status = FERRET_OK;
   int rc;

   *out = NULL;
   if (!registry_path(backend, db, path, sizeof path)) {
      return session_fail(error, FERRET_ERR_INVALID_NAME, "database name too long: '%s'", db);
   }

   pthread_mutex_lock(&backend->lock);
   file = find_file(backend, db, true);
   if (!file) {
      pthread_mutex_unlock(&backend->lock);
      return session_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
   }
   if (!create && access(path, F_OK) != 0) {
      if (file->open_count == 0) {
         forget_file(backend, file);
      }
      pthread_mutex_unlock(&backend->lock);
      return FERRET_OK;
   }
   file->open_count++;
   counted = true;
   pthread_mutex_unlock(&backend->lock);

   /* NOMUTEX: the core serializes calls on a session, and a connection belongs to one
    * session; SQLite's multi-thread mode allows it to move between threads. */
   rc = sqlite3_open_v2(
      path, &conn, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX,
      NULL);
   if (rc != SQLITE_OK) {
      status = session_error(conn, rc, "cannot open database file", error);
      goto done;
   }
   status = prepare_connection(backend, conn, error);
   if (status != FERRET_OK) {
      goto done;
   }
   *out = conn;
   conn = NULL;
   counted = false;

done:
   if (conn || counted) {
      if (conn) {
         sqlite3_close_v2(conn);
      }
      pthread_mutex_lock(&backend->lock);
      file = find_file(backend, db, false);
      if (file && --file->open_count == 0) {
         forget_file(backend, file);
      }
      pthread_mutex_unlock(&backend->lock);
   }
   return status;
}

void
registry_close(ferret_backend_t *backend, const char *db, sqlite3 *conn)
{
   registry_file_t *file;
   bool unlink_file = false;
   char path[PATH_MAX];

   pthread_mutex_lock(&backend->lock);
   file = find_file(backend, db, false);
   if (file && file->open_count == 1 && file->dropped && !holds_collections(conn)) {
      unlink_file = registry_path(backend, db, path, sizeof path);
   }
   sqlite3_close_v2(conn);
   if (unlink_file) {
      /* The last close of a WAL database checkpoints and removes -wal and -shm itself; these
       * unlinks cover a connection that could not. */
      char side[PATH_MAX + 8];
      unlink(path);
      snprintf(side, sizeof side, "%s-wal", path);
      unlink(side);
      snprintf(side, sizeof side, "%s-shm", path);
      unlink(side);
   }
   if (file && --file->open_count == 0) {
      forget_file(backend, file);
   }
   pthread_mutex_unlock(&backend->lock);
}

void
registry_mark_dropped(ferret_backend_t *backend, const char *db)
{
   registry_file_t *file;

   pthread_mutex_lock(&backend->lock);
   file = find_file(backend, db, false);
   if (file) {
      file->dropped = true;
   }
   pthread_mutex_unlock(&backend->lock);
}

void
registry_free(ferret_backend_t *backend)
{
   while (backend->files) {
      forget_file(backend, backend->files);
   }
}

/* The caller holds backend->lock. NULL when absent (and add is false) or out of memory. */
static registry_file_t *
find_file(ferret_backend_t *backend, const char *db, bool add)
{
   registry_file_t *file;

   for (file = backend->files; file; file = file->next) {
      if (strcmp(file->db, db) == 0) {
         return file;
      }
   }
   if (!add) {
      return NULL;
   }
   file = calloc(1, sizeof *file);
   if (!file || !(file->db = strdup(db))) {
      free(file);
      return NULL;
   }
   file->next = backend->files;
   backend->files = file;
   return file;
}

/* The caller holds backend->lock. */
static void
forget_file(ferret_backend_t *backend, registry_file_t *file)
{
   for (registry_file_t **p = &backend->files; *p; p = &(*p)->next) {
      if (*p == file) {
         *p = file->next;
         break;
      }
   }
   free(file->db);
   free(file);
}

static ferret_status_t
prepare_connection(ferret_backend_t *backend, sqlite3 *conn, ferret_error_t *error)
{
   char sql[64];
   sqlite3_stmt *stmt = NULL;
   ferret_status_t status = FERRET_OK;
   int rc;

   sqlite3_extended_result_codes(conn, 1);
   sqlite3_busy_timeout(conn, backend->busy_timeout_ms);

   rc = sqlite3_prepare_v2(conn, "PRAGMA journal_mode=WAL", -1, &stmt, NULL);
   if (rc == SQLITE_OK) {
      busy_backoff_t backoff = {0};
      do {
         sqlite3_reset(stmt);
         rc = sqlite3_step(stmt);
      } while (session_busy_backoff(backend, rc, &backoff));
   }
   if (rc != SQLITE_ROW) {
      status = session_error(conn, rc, "cannot enable wal mode", error);
      goto done;
   }
   if (sqlite3_stricmp((const char *) sqlite3_column_text(stmt, 0), "wal") != 0) {
      status = session_fail(error, FERRET_ERR_UNAVAILABLE, "cannot enable wal mode: got '%s'",
                            (const char *) sqlite3_column_text(stmt, 0));
      goto done;
   }
   sqlite3_finalize(stmt);
   stmt = NULL;

   snprintf(sql, sizeof sql, "PRAGMA synchronous=%s", backend->synchronous);
   status = session_exec(conn, sql, error);
   if (status != FERRET_OK) {
      goto done;
   }

   /* Checked first so that opening an existing file takes no write lock. */
   rc = sqlite3_prepare_v2(conn,
                           "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                           "'_ferret_collections'",
                           -1, &stmt, NULL);
   if (rc == SQLITE_OK) {
      rc = sqlite3_step(stmt);
   }
   if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      status = session_error(conn, rc, "cannot read the catalog", error);
      goto done;
   }
   if (rc == SQLITE_DONE) {
      /* AUTOINCREMENT: a table name is never reused, so a statement cached by another session
       * for a dropped collection can never reach a newer one. */
      status = session_exec(conn,
                            "CREATE TABLE IF NOT EXISTS _ferret_collections("
                            "id INTEGER PRIMARY KEY AUTOINCREMENT, "
                            "name TEXT NOT NULL UNIQUE, "
                            "table_name TEXT UNIQUE, "
                            "options BLOB, "
                            "created INTEGER NOT NULL)",
                            error);
   }

done:
   sqlite3_finalize(stmt);
   return status;
}

/* True when the catalog lists a collection; a missing or unreadable catalog holds none. */
static bool
holds_collections(sqlite3 *conn)
{
   sqlite3_stmt *stmt = NULL;
   bool holds = true;

   if (sqlite3_prepare_v2(conn, "SELECT 1 FROM _ferret_collections LIMIT 1", -1, &stmt, NULL) !=
       SQLITE_OK) {
      holds = false;
   } else {
      int rc = sqlite3_step(stmt);
      /* An error other than "no rows" keeps the file: unlinking data on doubt is worse. */
      holds = rc != SQLITE_DONE;
   }
   sqlite3_finalize(stmt);
   return holds;
}
