/*
 * catalog.c: databases and collections (docs/rfc/0005-sqlite-layout.md).
 *
 * A database is one file; its _ferret_collections table maps a collection name (any UTF-8)
 * to a generated table "c_<id>". Every catalog change runs in a write transaction, so two
 * sessions creating or renaming the same collection see each other's result.
 */
#include "sqlite_int.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOOKUP_SQL "SELECT table_name FROM _ferret_collections WHERE name = ?1"

static ferret_status_t drop_table_locked(session_db_t *entry, const char *collection,
                                         const char *table, ferret_error_t *error);
static ferret_status_t rename_across(ferret_session_t *session, const ferret_ns_t *from,
                                     const ferret_ns_t *to, bool drop_target,
                                     ferret_error_t *error);
static ferret_status_t table_stats(session_db_t *entry, const char *table, ferret_stats_t *st,
                                   ferret_error_t *error);
static int64_t dbstat_size(session_db_t *entry, const char *name);
static ferret_status_t step_error(sqlite3_stmt *stmt, int rc, const char *what,
                                  ferret_error_t *error);

ferret_status_t
catalog_lookup(sqlite3 *conn, sqlite3_stmt *stmt, const char *collection,
               char table[SQ_TABLE_NAME_SIZE], ferret_error_t *error)
{
   ferret_status_t status = FERRET_OK;
   int rc;

   table[0] = '\0';
   sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
   rc = sqlite3_step(stmt);
   if (rc == SQLITE_ROW) {
      const char *name = (const char *) sqlite3_column_text(stmt, 0);
      snprintf(table, SQ_TABLE_NAME_SIZE, "%s", name ? name : "");
   } else if (rc != SQLITE_DONE) {
      status = session_error(conn, rc, "cannot read the catalog", error);
   }
   session_stmt_done(stmt);
   return status;
}

ferret_status_t
catalog_lookup_main(session_db_t *entry, const char *collection, char table[SQ_TABLE_NAME_SIZE],
                    ferret_error_t *error)
{
   sqlite3_stmt *stmt;
   uint64_t tag;
   ferret_status_t status;

   if (session_name_find(entry, collection, table, &tag)) {
      return FERRET_OK;
   }
   table[0] = '\0';
   status = session_prepare(entry, LOOKUP_SQL, &stmt, error);
   if (status != FERRET_OK) {
      return status;
   }
   status = catalog_lookup(entry->main, stmt, collection, table, error);
   if (status == FERRET_OK) {
      session_name_store(entry, collection, table, tag);
   }
   return status;
}

ferret_status_t
catalog_lookup_reader(session_db_t *entry, session_reader_t *reader, const char *collection,
                      char table[SQ_TABLE_NAME_SIZE], ferret_error_t *error)
{
   sqlite3_stmt *stmt;
   uint64_t tag;
   ferret_status_t status;

   if (session_name_find(entry, collection, table, &tag)) {
      return FERRET_OK;
   }
   table[0] = '\0';
   status = session_prepare_on(&reader->stmts, reader->conn, LOOKUP_SQL, &stmt, error);
   if (status != FERRET_OK) {
      return status;
   }
   status = catalog_lookup(reader->conn, stmt, collection, table, error);
   if (status == FERRET_OK) {
      session_name_store(entry, collection, table, tag);
   }
   return status;
}

ferret_status_t
catalog_create_locked(session_db_t *entry, const char *collection, const uint8_t *options,
                      size_t options_len, char table[SQ_TABLE_NAME_SIZE], ferret_error_t *error)
{
   sqlite3_stmt *stmt;
   char sql[128];
   ferret_status_t status;
   int rc;

   table[0] = '\0';
   if (!collection[0]) {
      return session_fail(error, FERRET_ERR_INVALID_NAME, "empty collection name");
   }
   session_ddl_enter(entry->session);
   status = session_prepare(entry,
                            "INSERT INTO _ferret_collections(name, options, created) "
                            "VALUES(?1, ?2, ?3)",
                            &stmt, error);
   if (status != FERRET_OK) {
      return status;
   }
   sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
   if (options) {
      sqlite3_bind_blob(stmt, 2, options, (int) options_len, SQLITE_STATIC);
   }
   sqlite3_bind_int64(stmt, 3, (sqlite3_int64) time(NULL));
   rc = sqlite3_step(stmt);
   session_stmt_done(stmt);
   if (rc != SQLITE_DONE) {
      status = session_error(entry->main, rc, "cannot add to the catalog", error);
      if (status == FERRET_ERR_DUPLICATE_KEY) {
         status = FERRET_ERR_NAMESPACE_EXISTS;
      }
      return status;
   }
   snprintf(table, SQ_TABLE_NAME_SIZE, "c_%lld",
            (long long) sqlite3_last_insert_rowid(entry->main));

   status = session_prepare(entry, "UPDATE _ferret_collections SET table_name = ?1 WHERE name = ?2",
                            &stmt, error);
   if (status != FERRET_OK) {
      return status;
   }
   sqlite3_bind_text(stmt, 1, table, -1, SQLITE_STATIC);
   sqlite3_bind_text(stmt, 2, collection, -1, SQLITE_STATIC);
   rc = sqlite3_step(stmt);
   session_stmt_done(stmt);
   if (rc != SQLITE_DONE) {
      return session_error(entry->main, rc, "cannot add to the catalog", error);
   }

   /* A rowid table (not WITHOUT ROWID): rowid order is insertion order, which is $natural. */
   snprintf(sql, sizeof sql,
            "CREATE TABLE \"%s\"(id_key BLOB NOT NULL PRIMARY KEY, doc BLOB NOT NULL)", table);
   return session_exec(entry->main, sql, error);
}

ferret_status_t
catalog_list_databases(ferret_session_t *session, ferret_name_fn fn, void *ctx,
                       ferret_error_t *error)
{
   DIR *dir = NULL;
   struct dirent *de;
   ferret_status_t status = FERRET_OK;

   dir = opendir(session->backend->data_dir);
   if (!dir) {
      status = session_fail(error, FERRET_ERR_UNAVAILABLE, "cannot read data_dir '%s'",
                            session->backend->data_dir);
      goto done;
   }
   while ((de = readdir(dir)) != NULL) {
      char db[NAME_MAX + 1];
      session_db_t *entry;
      sqlite3_stmt *stmt;
      int rc;

      if (!names_decode_db(de->d_name, db, sizeof db)) {
         continue;
      }
      status = session_db_get(session, db, false, &entry, error);
      if (status != FERRET_OK) {
         goto done;
      }
      if (!entry) {
         continue; /* dropped meanwhile */
      }
      status = session_prepare(entry, "SELECT 1 FROM _ferret_collections LIMIT 1", &stmt, error);
      if (status != FERRET_OK) {
         goto done;
      }
      rc = sqlite3_step(stmt);
      session_stmt_done(stmt);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
         status = session_error(entry->main, rc, "cannot read the catalog", error);
         goto done;
      }
      if (rc == SQLITE_ROW && !fn(ctx, db)) {
         break;
      }
   }

done:
   if (dir) {
      closedir(dir);
   }
   session_trim(session);
   return status;
}

ferret_status_t
catalog_drop_database(ferret_session_t *session, const char *db, ferret_error_t *error)
{
   session_db_t *entry = NULL;
   sqlite3_stmt *stmt;
   char(*tables)[SQ_TABLE_NAME_SIZE] = NULL;
   size_t count = 0, capacity = 0;
   bool writing = false;
   ferret_status_t status;
   int rc;

   status = session_db_get(session, db, false, &entry, error);
   if (status != FERRET_OK || !entry) {
      goto done;
   }
   status = session_write_begin(session, entry, error);
   if (status != FERRET_OK) {
      goto done;
   }
   writing = true;
   session_ddl_enter(session);

   /* Collected first: DROP TABLE cannot run while a statement on the catalog is stepping. */
   status = session_prepare(entry, "SELECT table_name FROM _ferret_collections", &stmt, error);
   if (status != FERRET_OK) {
      goto done;
   }
   while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      if (count == capacity) {
         size_t n = capacity ? capacity * 2 : 8;
         void *grown = realloc(tables, n * sizeof *tables);
         if (!grown) {
            session_stmt_done(stmt);
            status = session_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
            goto done;
         }
         tables = grown;
         capacity = n;
      }
      snprintf(tables[count++], SQ_TABLE_NAME_SIZE, "%s",
               (const char *) sqlite3_column_text(stmt, 0));
   }
   session_stmt_done(stmt);
   if (rc != SQLITE_DONE) {
      status = session_error(entry->main, rc, "cannot read the catalog", error);
      goto done;
   }
   for (size_t i = 0; i < count; i++) {
      char sql[64];
      snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS \"%s\"", tables[i]);
      status = session_exec(entry->main, sql, error);
      if (status != FERRET_OK) {
         goto done;
      }
      session_forget_table(entry, tables[i]);
   }
   status = session_exec(entry->main, "DELETE FROM _ferret_collections", error);
   if (status != FERRET_OK) {
      goto done;
   }
   writing = false;
   status = session_write_end(session, entry, true, error);
   if (status != FERRET_OK) {
      goto done;
   }
   /* The file goes when the last connection of this process closes (registry.c). */
   registry_mark_dropped(session->backend, db);
   session_db_release(session, entry);

done:
   if (writing) {
      session_write_end(session, entry, false, NULL);
   }
   free(tables);
   session_trim(session);
   return status;
}

ferret_status_t
catalog_list_collections(ferret_session_t *session, const ferret_ns_t *ns, ferret_name_fn fn,
                         void *ctx, ferret_error_t *error)
{
   session_db_t *entry = NULL;
   sqlite3_stmt *stmt = NULL;
   ferret_status_t status;
   int rc;

   status = session_db_get(session, ns->db, false, &entry, error);
   if (status != FERRET_OK || !entry) {
      goto done;
   }
   status = session_read_begin(session, entry, error);
   if (status != FERRET_OK) {
      goto done;
   }
   status =
      session_prepare(entry, "SELECT name FROM _ferret_collections ORDER BY name", &stmt, error);
   if (status != FERRET_OK) {
      goto done;
   }
   while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      if (!fn(ctx, (const char *) sqlite3_column_text(stmt, 0))) {
         rc = SQLITE_DONE;
         break;
      }
   }
   if (rc != SQLITE_DONE) {
      status = session_error(entry->main, rc, "cannot read the catalog", error);
   }

done:
   session_stmt_done(stmt);
   session_trim(session);
   return status;
}

ferret_status_t
catalog_create_collection(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *options,
                          size_t options_len, ferret_error_t *error)
{
   session_db_t *entry = NULL;
   char table[SQ_TABLE_NAME_SIZE];
   bool writing = false;
   ferret_status_t status;

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
   if (table[0]) {
      status = session_fail(error, FERRET_ERR_NAMESPACE_EXISTS, "collection already exists");
      goto done;
   }
   status = catalog_create_locked(entry, ns->collection, options, options_len, table, error);
   if (status != FERRET_OK) {
      goto done;
   }
   writing = false;
   status = session_write_end(session, entry, true, error);

done:
   if (writing) {
      session_write_end(session, entry, false, NULL);
   }
   session_trim(session);
   return status;
}

ferret_status_t
catalog_drop_collection(ferret_session_t *session, const ferret_ns_t *ns, ferret_error_t *error)
{
   session_db_t *entry = NULL;
   char table[SQ_TABLE_NAME_SIZE];
   bool writing = false;
   ferret_status_t status;

   status = session_db_get(session, ns->db, false, &entry, error);
   if (status != FERRET_OK) {
      goto done;
   }
   if (!entry) {
      status = session_fail(error, FERRET_ERR_NAMESPACE_NOT_FOUND, "ns not found");
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
      status = session_fail(error, FERRET_ERR_NAMESPACE_NOT_FOUND, "ns not found");
      goto done;
   }
   status = drop_table_locked(entry, ns->collection, table, error);
   if (status != FERRET_OK) {
      goto done;
   }
   writing = false;
   status = session_write_end(session, entry, true, error);

done:
   if (writing) {
      session_write_end(session, entry, false, NULL);
   }
   session_trim(session);
   return status;
}

ferret_status_t
catalog_rename_collection(ferret_session_t *session, const ferret_ns_t *from, const ferret_ns_t *to,
                          bool drop_target, ferret_error_t *error)
{
   session_db_t *entry = NULL;
   char table[SQ_TABLE_NAME_SIZE];
   char target[SQ_TABLE_NAME_SIZE];
   sqlite3_stmt *stmt;
   bool writing = false;
   ferret_status_t status;
   int rc;

   if (strcmp(from->db, to->db) != 0) {
      return rename_across(session, from, to, drop_target, error);
   }
   if (strcmp(from->collection, to->collection) == 0) {
      return session_fail(error, FERRET_ERR_INVALID_NAME, "cannot rename a collection to itself");
   }
   if (!to->collection[0]) {
      return session_fail(error, FERRET_ERR_INVALID_NAME, "empty collection name");
   }
   status = session_db_get(session, from->db, false, &entry, error);
   if (status != FERRET_OK) {
      goto done;
   }
   if (!entry) {
      status =
         session_fail(error, FERRET_ERR_NAMESPACE_NOT_FOUND, "source namespace does not exist");
      goto done;
   }
   status = session_write_begin(session, entry, error);
   if (status != FERRET_OK) {
      goto done;
   }
   writing = true;
   status = catalog_lookup_main(entry, from->collection, table, error);
   if (status != FERRET_OK) {
      goto done;
   }
   if (!table[0]) {
      status =
         session_fail(error, FERRET_ERR_NAMESPACE_NOT_FOUND, "source namespace does not exist");
      goto done;
   }
   status = catalog_lookup_main(entry, to->collection, target, error);
   if (status != FERRET_OK) {
      goto done;
   }
   if (target[0]) {
      if (!drop_target) {
         status = session_fail(error, FERRET_ERR_NAMESPACE_EXISTS, "target namespace exists");
         goto done;
      }
      status = drop_table_locked(entry, to->collection, target, error);
      if (status != FERRET_OK) {
         goto done;
      }
   }
   /* Within a file a rename is a catalog update: the table and its rows stay. */
   session_ddl_enter(session);
   status = session_prepare(entry, "UPDATE _ferret_collections SET name = ?1 WHERE name = ?2",
                            &stmt, error);
   if (status != FERRET_OK) {
      goto done;
   }
   sqlite3_bind_text(stmt, 1, to->collection, -1, SQLITE_STATIC);
   sqlite3_bind_text(stmt, 2, from->collection, -1, SQLITE_STATIC);
   rc = sqlite3_step(stmt);
   session_stmt_done(stmt);
   if (rc != SQLITE_DONE) {
      status = session_error(entry->main, rc, "cannot rename in the catalog", error);
      goto done;
   }
   writing = false;
   status = session_write_end(session, entry, true, error);

done:
   if (writing) {
      session_write_end(session, entry, false, NULL);
   }
   session_trim(session);
   return status;
}

ferret_status_t
catalog_stats(ferret_session_t *session, const ferret_ns_t *ns, ferret_stats_t *out,
              ferret_error_t *error)
{
   ferret_stats_t st = {.struct_size = out->struct_size};
   session_db_t *entry = NULL;
   char table[SQ_TABLE_NAME_SIZE];
   sqlite3_stmt *list = NULL; /* owned */
   sqlite3_stmt *stmt = NULL; /* cached */
   ferret_status_t status;
   int rc;

   status = session_db_get(session, ns->db, false, &entry, error);
   if (status != FERRET_OK || !entry) {
      goto done;
   }
   status = session_read_begin(session, entry, error);
   if (status != FERRET_OK) {
      goto done;
   }
   if (ns->collection) {
      status = catalog_lookup_main(entry, ns->collection, table, error);
      if (status == FERRET_OK && table[0]) {
         status = table_stats(entry, table, &st, error);
      }
      goto done;
   }

   /* Not from the cache: table_stats() prepares a statement per table, and that could evict
    * this one while it steps. */
   rc = sqlite3_prepare_v2(entry->main, "SELECT table_name FROM _ferret_collections", -1, &list,
                           NULL);
   if (rc != SQLITE_OK) {
      status = session_error(entry->main, rc, "cannot read the catalog", error);
      goto done;
   }
   while ((rc = sqlite3_step(list)) == SQLITE_ROW) {
      snprintf(table, sizeof table, "%s", (const char *) sqlite3_column_text(list, 0));
      status = table_stats(entry, table, &st, error);
      if (status != FERRET_OK) {
         goto done;
      }
      st.collections++;
   }
   if (rc != SQLITE_DONE) {
      status = session_error(entry->main, rc, "cannot read the catalog", error);
      goto done;
   }
   /* The file as a whole, catalog and free pages included: what the database costs on disk. */
   status = session_prepare(entry,
                            "SELECT page_count * page_size FROM pragma_page_count(), "
                            "pragma_page_size()",
                            &stmt, error);
   if (status != FERRET_OK) {
      goto done;
   }
   rc = sqlite3_step(stmt);
   if (rc != SQLITE_ROW) {
      status = step_error(stmt, rc, "cannot read the page count", error);
      goto done;
   }
   st.storage_size = sqlite3_column_int64(stmt, 0);

done:
   sqlite3_finalize(list);
   session_stmt_done(stmt);
   memcpy(out, &st, out->struct_size < sizeof st ? out->struct_size : sizeof st);
   session_trim(session);
   return status;
}

ferret_status_t
catalog_collection_options(ferret_session_t *session, const ferret_ns_t *ns,
                           void (*fn)(void *ctx, const uint8_t *bson, size_t len), void *ctx,
                           ferret_error_t *error)
{
   session_db_t *entry = NULL;
   sqlite3_stmt *stmt = NULL;
   ferret_status_t status;
   int rc;

   status = session_db_get(session, ns->db, false, &entry, error);
   if (status != FERRET_OK) {
      goto done;
   }
   if (!entry) {
      status = session_fail(error, FERRET_ERR_NAMESPACE_NOT_FOUND, "ns not found");
      goto done;
   }
   status = session_read_begin(session, entry, error);
   if (status != FERRET_OK) {
      goto done;
   }
   status = session_prepare(entry, "SELECT options FROM _ferret_collections WHERE name = ?1", &stmt,
                            error);
   if (status != FERRET_OK) {
      goto done;
   }
   sqlite3_bind_text(stmt, 1, ns->collection, -1, SQLITE_STATIC);
   rc = sqlite3_step(stmt);
   if (rc == SQLITE_DONE) {
      status = session_fail(error, FERRET_ERR_NAMESPACE_NOT_FOUND, "ns not found");
   } else if (rc != SQLITE_ROW) {
      status = session_error(entry->main, rc, "cannot read the catalog", error);
   } else if (sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
      const uint8_t *bson = sqlite3_column_blob(stmt, 0);
      fn(ctx, bson, (size_t) sqlite3_column_bytes(stmt, 0));
   }

done:
   session_stmt_done(stmt);
   session_trim(session);
   return status;
}

/* The caller holds a write transaction on entry. */
static ferret_status_t
drop_table_locked(session_db_t *entry, const char *collection, const char *table,
                  ferret_error_t *error)
{
   sqlite3_stmt *stmt;
   char sql[64];
   ferret_status_t status;
   int rc;

   session_ddl_enter(entry->session);
   session_forget_table(entry, table);
   snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS \"%s\"", table);
   status = session_exec(entry->main, sql, error);
   if (status != FERRET_OK) {
      return status;
   }
   status = session_prepare(entry, "DELETE FROM _ferret_collections WHERE name = ?1", &stmt, error);
   if (status != FERRET_OK) {
      return status;
   }
   sqlite3_bind_text(stmt, 1, collection, -1, SQLITE_STATIC);
   rc = sqlite3_step(stmt);
   session_stmt_done(stmt);
   if (rc != SQLITE_DONE) {
      return session_error(entry->main, rc, "cannot remove from the catalog", error);
   }
   return FERRET_OK;
}

/*
 * A rename between two files copies the rows in insertion order and drops the source. Both
 * files are locked in name order, so two crossing renames cannot wait on each other. The
 * target commits first: a crash between the two commits leaves the rows in both places,
 * never in neither.
 */
static ferret_status_t
rename_across(ferret_session_t *session, const ferret_ns_t *from, const ferret_ns_t *to,
              bool drop_target, ferret_error_t *error)
{
   session_db_t *src = NULL, *dst = NULL, *first, *second;
   char table[SQ_TABLE_NAME_SIZE], target[SQ_TABLE_NAME_SIZE];
   char sql[128];
   sqlite3_stmt *read = NULL, *stmt, *insert;
   uint8_t *options = NULL;
   size_t options_len = 0;
   bool has_options = false, writing_first = false, writing_second = false;
   ferret_status_t status;
   int rc;

   if (!to->collection[0]) {
      return session_fail(error, FERRET_ERR_INVALID_NAME, "empty collection name");
   }
   status = session_db_get(session, from->db, false, &src, error);
   if (status != FERRET_OK) {
      goto done;
   }
   if (!src) {
      status =
         session_fail(error, FERRET_ERR_NAMESPACE_NOT_FOUND, "source namespace does not exist");
      goto done;
   }
   status = session_db_get(session, to->db, true, &dst, error);
   if (status != FERRET_OK) {
      goto done;
   }
   first = strcmp(src->name, dst->name) < 0 ? src : dst;
   second = first == src ? dst : src;
   status = session_write_begin(session, first, error);
   if (status != FERRET_OK) {
      goto done;
   }
   writing_first = true;
   status = session_write_begin(session, second, error);
   if (status != FERRET_OK) {
      goto done;
   }
   writing_second = true;

   status = catalog_lookup_main(src, from->collection, table, error);
   if (status != FERRET_OK) {
      goto done;
   }
   if (!table[0]) {
      status =
         session_fail(error, FERRET_ERR_NAMESPACE_NOT_FOUND, "source namespace does not exist");
      goto done;
   }
   status = catalog_lookup_main(dst, to->collection, target, error);
   if (status != FERRET_OK) {
      goto done;
   }
   if (target[0]) {
      if (!drop_target) {
         status = session_fail(error, FERRET_ERR_NAMESPACE_EXISTS, "target namespace exists");
         goto done;
      }
      status = drop_table_locked(dst, to->collection, target, error);
      if (status != FERRET_OK) {
         goto done;
      }
   }

   /* The collection keeps its create options. */
   status =
      session_prepare(src, "SELECT options FROM _ferret_collections WHERE name = ?1", &stmt, error);
   if (status != FERRET_OK) {
      goto done;
   }
   sqlite3_bind_text(stmt, 1, from->collection, -1, SQLITE_STATIC);
   rc = sqlite3_step(stmt);
   if (rc == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
      options_len = (size_t) sqlite3_column_bytes(stmt, 0);
      options = malloc(options_len ? options_len : 1);
      if (options) {
         memcpy(options, sqlite3_column_blob(stmt, 0), options_len);
         has_options = true;
      }
   }
   session_stmt_done(stmt);
   if (rc != SQLITE_ROW) {
      status = session_error(src->main, rc, "cannot read the catalog", error);
      goto done;
   }
   status = catalog_create_locked(dst, to->collection, has_options ? options : NULL, options_len,
                                  target, error);
   if (status != FERRET_OK) {
      goto done;
   }

   snprintf(sql, sizeof sql, "SELECT id_key, doc FROM \"%s\" ORDER BY rowid", table);
   rc = sqlite3_prepare_v2(src->main, sql, -1, &read, NULL);
   if (rc != SQLITE_OK) {
      status = session_error(src->main, rc, "cannot read the source collection", error);
      goto done;
   }
   snprintf(sql, sizeof sql, "INSERT INTO \"%s\"(id_key, doc) VALUES(?1, ?2)", target);
   status = session_prepare(dst, sql, &insert, error);
   if (status != FERRET_OK) {
      goto done;
   }
   while ((rc = sqlite3_step(read)) == SQLITE_ROW) {
      int wrc;
      sqlite3_bind_blob(insert, 1, sqlite3_column_blob(read, 0), sqlite3_column_bytes(read, 0),
                        SQLITE_STATIC);
      sqlite3_bind_blob(insert, 2, sqlite3_column_blob(read, 1), sqlite3_column_bytes(read, 1),
                        SQLITE_STATIC);
      wrc = sqlite3_step(insert);
      session_stmt_done(insert);
      if (wrc != SQLITE_DONE) {
         status = session_error(dst->main, wrc, "cannot copy a document", error);
         goto done;
      }
   }
   if (rc != SQLITE_DONE) {
      status = session_error(src->main, rc, "cannot read the source collection", error);
      goto done;
   }
   sqlite3_finalize(read);
   read = NULL;
   status = drop_table_locked(src, from->collection, table, error);
   if (status != FERRET_OK) {
      goto done;
   }

   /* Target first (see above); a failed commit there rolls the source back untouched. */
   writing_first = writing_second = false;
   status = session_write_end(session, dst, true, error);
   session_write_end(session, src, status == FERRET_OK, status == FERRET_OK ? error : NULL);

done:
   sqlite3_finalize(read);
   if (writing_second) {
      session_write_end(session, second, false, NULL);
   }
   if (writing_first) {
      session_write_end(session, first, false, NULL);
   }
   free(options);
   session_trim(session);
   return status;
}

/* Adds one collection table's numbers to *st. */
static ferret_status_t
table_stats(session_db_t *entry, const char *table, ferret_stats_t *st, ferret_error_t *error)
{
   char sql[128];
   char index[SQ_TABLE_NAME_SIZE + 24];
   sqlite3_stmt *stmt;
   ferret_status_t status;
   int64_t data_size, storage;
   int rc;

   /* length() of a blob reads the record header only, not the document. */
   snprintf(sql, sizeof sql, "SELECT count(*), coalesce(sum(length(doc)), 0) FROM \"%s\"", table);
   status = session_prepare(entry, sql, &stmt, error);
   if (status != FERRET_OK) {
      return status;
   }
   rc = sqlite3_step(stmt);
   if (rc != SQLITE_ROW) {
      return step_error(stmt, rc, "cannot count documents", error);
   }
   st->count += sqlite3_column_int64(stmt, 0);
   data_size = sqlite3_column_int64(stmt, 1);
   session_stmt_done(stmt);
   st->data_size += data_size;

   storage = dbstat_size(entry, table);
   st->storage_size += storage >= 0 ? storage : data_size;
   st->index_count += 1; /* the primary key: MongoDB's _id index */
   snprintf(index, sizeof index, "sqlite_autoindex_%s_1", table);
   storage = dbstat_size(entry, index);
   st->index_size += storage >= 0 ? storage : 0;
   return FERRET_OK;
}

/* Bytes of the pages of one b-tree through the dbstat table; -1 when SQLite lacks it. */
static int64_t
dbstat_size(session_db_t *entry, const char *name)
{
   sqlite3_stmt *stmt;
   int64_t size = -1;

   if (session_prepare(entry, "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = ?1", &stmt,
                       NULL) != FERRET_OK) {
      return -1;
   }
   sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
   if (sqlite3_step(stmt) == SQLITE_ROW) {
      size = sqlite3_column_int64(stmt, 0);
   }
   session_stmt_done(stmt);
   return size;
}

static ferret_status_t
step_error(sqlite3_stmt *stmt, int rc, const char *what, ferret_error_t *error)
{
   ferret_status_t status = session_error(sqlite3_db_handle(stmt), rc, what, error);
   session_stmt_done(stmt);
   return status;
}
