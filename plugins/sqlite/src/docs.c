/*
 * docs.c: insert, replace and delete (docs/rfc/0005-sqlite-layout.md).
 *
 * Each method is one write transaction (or one savepoint inside the session's transaction).
 * replace and delete_one compare the stored bytes with what the core read, in the same
 * statement that writes: the core's read-modify-write updates rely on that compare-and-swap.
 */
#include "sqlite_int.h"

#include <stdio.h>

/* SQLite reads a NULL pointer as SQL NULL; an empty key must stay an empty blob. */
static const uint8_t empty_blob[1];

static void bind_bytes(sqlite3_stmt *stmt, int index, const uint8_t *bytes, size_t len);

ferret_status_t
docs_insert(ferret_session_t *session, const ferret_ns_t *ns, const ferret_doc_t *docs,
            size_t count, size_t *inserted, ferret_error_t *error)
{
   session_db_t *entry = NULL;
   char table[SQ_TABLE_NAME_SIZE];
   char sql[96];
   sqlite3_stmt *stmt = NULL;
   bool writing = false;
   size_t n = 0;
   ferret_status_t status;

   *inserted = 0;
   if (count == 0) {
      return FERRET_OK;
   }
   status = session_db_get(session, ns->db, true, &entry, error);
   if (status != FERRET_OK) {
      goto done;
   }
   status = session_write_begin(session, entry, error);
   if (status != FERRET_OK) {
      goto done;
   }
   writing = true;
   status = catalog_lookup_main(entry, ns->collection, table, error);
   if (status != FERRET_OK) {
      goto done;
   }
   if (!table[0]) {
      status = catalog_create_locked(entry, ns->collection, NULL, 0, table, error);
      if (status != FERRET_OK) {
         goto done;
      }
   }
   snprintf(sql, sizeof sql, "INSERT INTO \"%s\"(id_key, doc) VALUES(?1, ?2)", table);
   status = session_prepare(entry, sql, &stmt, error);
   if (status != FERRET_OK) {
      goto done;
   }
   for (; n < count; n++) {
      int rc;
      if (docs[n].bson_len > (size_t) sqlite3_limit(entry->main, SQLITE_LIMIT_LENGTH, -1)) {
         status = session_fail(error, FERRET_ERR_TOO_LARGE, "document too large: %zu bytes",
                               docs[n].bson_len);
         break;
      }
      bind_bytes(stmt, 1, docs[n].id_key, docs[n].id_key_len);
      bind_bytes(stmt, 2, docs[n].bson, docs[n].bson_len);
      rc = sqlite3_step(stmt);
      if (rc != SQLITE_DONE) {
         status = session_error(entry->main, rc, "cannot insert", error);
         if (status == FERRET_ERR_DUPLICATE_KEY) {
            session_fail(error, FERRET_ERR_DUPLICATE_KEY, "duplicate key in collection '%s'",
                         ns->collection);
         }
         session_stmt_done(stmt);
         break;
      }
      session_stmt_done(stmt);
   }
   /* A failed INSERT undoes only itself, so the documents before it commit now: with a
    * duplicate key the caller is told exactly which prefix is stored and durable. Any other
    * failure commits that prefix just the same. */
   writing = false;
   {
      ferret_status_t commit = session_write_end(session, entry, n > 0, error);
      if (commit != FERRET_OK) {
         status = commit;
         n = 0;
      }
   }

done:
   session_stmt_done(stmt);
   if (writing) {
      session_write_end(session, entry, false, NULL);
   }
   *inserted = n;
   session_trim(session);
   return status;
}

ferret_status_t
docs_replace(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *expected,
             size_t expected_len, const ferret_doc_t *doc, bool *replaced, ferret_error_t *error)
{
   session_db_t *entry = NULL;
   char table[SQ_TABLE_NAME_SIZE];
   char sql[96];
   sqlite3_stmt *stmt = NULL;
   bool writing = false;
   ferret_status_t status;
   int rc;

   *replaced = false;
   status = session_db_get(session, ns->db, false, &entry, error);
   if (status != FERRET_OK || !entry) {
      goto done;
   }
   status = session_write_begin(session, entry, error);
   if (status != FERRET_OK) {
      goto done;
   }
   writing = true;
   status = catalog_lookup_main(entry, ns->collection, table, error);
   if (status != FERRET_OK || !table[0]) {
      goto done;
   }
   snprintf(sql, sizeof sql, "UPDATE \"%s\" SET doc = ?1 WHERE id_key = ?2 AND doc = ?3", table);
   status = session_prepare(entry, sql, &stmt, error);
   if (status != FERRET_OK) {
      goto done;
   }
   bind_bytes(stmt, 1, doc->bson, doc->bson_len);
   bind_bytes(stmt, 2, doc->id_key, doc->id_key_len);
   bind_bytes(stmt, 3, expected, expected_len);
   rc = sqlite3_step(stmt);
   if (rc != SQLITE_DONE) {
      status = session_error(entry->main, rc, "cannot replace", error);
      goto done;
   }
   *replaced = sqlite3_changes(entry->main) > 0;
   writing = false;
   status = session_write_end(session, entry, true, error);
   if (status != FERRET_OK) {
      *replaced = false;
   }

done:
   session_stmt_done(stmt);
   if (writing) {
      session_write_end(session, entry, false, NULL);
   }
   session_trim(session);
   return status;
}

ferret_status_t
docs_delete_one(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *id_key,
                size_t id_key_len, const uint8_t *expected, size_t expected_len, bool *deleted,
                ferret_error_t *error)
{
   session_db_t *entry = NULL;
   char table[SQ_TABLE_NAME_SIZE];
   char sql[96];
   sqlite3_stmt *stmt = NULL;
   bool writing = false;
   ferret_status_t status;
   int rc;

   *deleted = false;
   status = session_db_get(session, ns->db, false, &entry, error);
   if (status != FERRET_OK || !entry) {
      goto done;
   }
   status = session_write_begin(session, entry, error);
   if (status != FERRET_OK) {
      goto done;
   }
   writing = true;
   status = catalog_lookup_main(entry, ns->collection, table, error);
   if (status != FERRET_OK || !table[0]) {
      goto done;
   }
   if (expected) {
      snprintf(sql, sizeof sql, "DELETE FROM \"%s\" WHERE id_key = ?1 AND doc = ?2", table);
   } else {
      snprintf(sql, sizeof sql, "DELETE FROM \"%s\" WHERE id_key = ?1", table);
   }
   status = session_prepare(entry, sql, &stmt, error);
   if (status != FERRET_OK) {
      goto done;
   }
   bind_bytes(stmt, 1, id_key, id_key_len);
   if (expected) {
      bind_bytes(stmt, 2, expected, expected_len);
   }
   rc = sqlite3_step(stmt);
   if (rc != SQLITE_DONE) {
      status = session_error(entry->main, rc, "cannot delete", error);
      goto done;
   }
   *deleted = sqlite3_changes(entry->main) > 0;
   writing = false;
   status = session_write_end(session, entry, true, error);
   if (status != FERRET_OK) {
      *deleted = false;
   }

done:
   session_stmt_done(stmt);
   if (writing) {
      session_write_end(session, entry, false, NULL);
   }
   session_trim(session);
   return status;
}

/* Binds borrowed bytes; they stay valid until session_stmt_done() clears the bindings. */
static void
bind_bytes(sqlite3_stmt *stmt, int index, const uint8_t *bytes, size_t len)
{
   sqlite3_bind_blob64(stmt, index, bytes ? (const void *) bytes : (const void *) empty_blob,
                       (sqlite3_uint64) len, SQLITE_STATIC);
}
