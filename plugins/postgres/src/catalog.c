/*
 * catalog.c: databases and collections (docs/rfc/0006-postgres-layout.md).
 *
 * One PostgreSQL schema per MongoDB database and one table per collection, both with generated
 * identifiers ("<prefix><n>", "c_<n>" from one sequence), so that any legal MongoDB name fits:
 * PostgreSQL identifiers are at most 63 bytes and fold case unless quoted. The real names live
 * in the catalog schema "<prefix>catalog":
 *
 *   meta(key text primary key, value text)                 the layout version
 *   databases(name text primary key, schema_name text unique)
 *   collections(db text references databases, name text, table_name text unique,
 *               options bytea, primary key (db, name))
 *
 * Every catalog change runs in a transaction that first takes advisory locks on the names it
 * touches (pg_advisory_xact_lock: exclusive on each collection name, shared on its database
 * name, exclusive on the database name to drop a database), then looks again: concurrent
 * sessions and processes creating the same collection therefore serialize instead of racing
 * on CREATE ... IF NOT EXISTS, while work on other names never waits (a transaction of the core
 * that creates a collection holds its locks until commit). Two creators of collections in one
 * new database meet at INSERT ... ON CONFLICT on the database's row. Inside a REPEATABLE READ
 * transaction of the core (begin()) the second look cannot see a concurrent creation, and
 * the unique constraints turn that race into WRITE_CONFLICT, which the core retries.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postgres_int.h"

typedef struct catalog_table {
   char schema[PG_IDENT_MAX + 1];
   char table[PG_IDENT_MAX + 1];
} catalog_table_t;

/* ---- cache ---- */

static size_t catalog_key(const ferret_ns_t *ns, char **out);
static pg_cache_entry_t *catalog_cache_find(ferret_session_t *session, const ferret_ns_t *ns);
static void catalog_cache_put(ferret_session_t *session, const ferret_ns_t *ns,
                              const char *qualified);

/* ---- statements ---- */

static ferret_status_t catalog_lock(ferret_session_t *session, const ferret_ns_t *a,
                                    const ferret_ns_t *b, ferret_error_t *error);
static uint32_t catalog_hash(uint32_t h, const char *s);
static int catalog_cmp_key(const void *x, const void *y);
static ferret_status_t catalog_lookup(ferret_session_t *session, const ferret_ns_t *ns,
                                      catalog_table_t *table, bool *found, ferret_error_t *error);
static ferret_status_t catalog_db_schema(ferret_session_t *session, const char *db, bool create,
                                         char *schema, bool *found, ferret_error_t *error);
static ferret_status_t catalog_create_locked(ferret_session_t *session, const ferret_ns_t *ns,
                                             const uint8_t *options, size_t options_len,
                                             catalog_table_t *table, ferret_error_t *error);
static ferret_status_t catalog_table_stats(ferret_session_t *session, const char *qualified,
                                           ferret_stats_t *sum, ferret_error_t *error);
static void catalog_qualify(const catalog_table_t *table, char *qualified);
static ferret_status_t catalog_race(ferret_session_t *session, ferret_status_t status,
                                    const ferret_ns_t *ns, ferret_error_t *error);

/* ---- public ---- */

ferret_status_t
catalog_init(const ferret_backend_t *backend, PGconn *conn, ferret_error_t *error)
{
   char sql[2048];
   const char *c = backend->catalog;
   const char *encoding;
   PGresult *res = NULL; /* owned */
   ferret_status_t status;

   if (PQserverVersion(conn) < 100000) {
      status = conn_fail(error, FERRET_ERR_INTERNAL,
                         "postgresql %d is too old: identity columns need 10 or newer",
                         PQserverVersion(conn) / 10000);
      goto done;
   }
   /* Names are stored as text; only these encodings hold every UTF-8 name unchanged. */
   encoding = PQparameterStatus(conn, "server_encoding");
   if (encoding == NULL || (strcmp(encoding, "UTF8") != 0 && strcmp(encoding, "SQL_ASCII") != 0)) {
      status = conn_fail(error, FERRET_ERR_INTERNAL,
                         "database encoding '%s' cannot hold every collection name; use a UTF8 "
                         "database",
                         encoding != NULL ? encoding : "?");
      goto done;
   }
   snprintf(sql, sizeof sql,
            "BEGIN;"
            "SELECT pg_advisory_xact_lock(%" PRId64 ");"
            "CREATE SCHEMA IF NOT EXISTS \"%s\";"
            "CREATE TABLE IF NOT EXISTS \"%s\".meta (key text PRIMARY KEY, value text NOT NULL);"
            "CREATE TABLE IF NOT EXISTS \"%s\".databases (name text PRIMARY KEY,"
            " schema_name text NOT NULL UNIQUE);"
            "CREATE TABLE IF NOT EXISTS \"%s\".collections (db text NOT NULL REFERENCES"
            " \"%s\".databases (name), name text NOT NULL, table_name text NOT NULL UNIQUE,"
            " options bytea, PRIMARY KEY (db, name));"
            "CREATE SEQUENCE IF NOT EXISTS \"%s\".names;"
            "INSERT INTO \"%s\".meta VALUES ('layout', '" PG_LAYOUT_VERSION "')"
            " ON CONFLICT (key) DO NOTHING;"
            "COMMIT",
            backend->lock_key, c, c, c, c, c, c, c);
   status = conn_exec_raw(conn, "create the catalog", sql, NULL, false, NULL, error);
   if (status != FERRET_OK) {
      PQclear(PQexec(conn, "ROLLBACK"));
      goto done;
   }
   snprintf(sql, sizeof sql, "SELECT value FROM \"%s\".meta WHERE key = 'layout'", c);
   status = conn_exec_raw(conn, "read the catalog", sql, NULL, false, &res, error);
   if (status != FERRET_OK) {
      goto done;
   }
   if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), PG_LAYOUT_VERSION) != 0) {
      status = conn_fail(error, FERRET_ERR_INTERNAL,
                         "catalog schema '%s' has layout version '%s'; this backend reads '%s'", c,
                         PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "", PG_LAYOUT_VERSION);
      goto done;
   }

done:
   PQclear(res);
   return status;
}

ferret_status_t
catalog_resolve(ferret_session_t *session, const ferret_ns_t *ns, bool create, char *qualified,
                bool *found, ferret_error_t *error)
{
   pg_cache_entry_t *entry = catalog_cache_find(session, ns);
   catalog_table_t table;
   bool own = false;
   ferret_status_t status;

   *found = false;
   qualified[0] = '\0';
   if (entry != NULL) {
      memcpy(qualified, entry->qualified, sizeof entry->qualified);
      *found = true;
      return FERRET_OK;
   }
   status = catalog_lookup(session, ns, &table, found, error);
   if (status != FERRET_OK || *found || !create) {
      goto done;
   }
   status = conn_txn_start(session, &own, error);
   if (status == FERRET_OK) {
      status = catalog_lock(session, ns, NULL, error);
   }
   if (status == FERRET_OK) {
      status = catalog_lookup(session, ns, &table, found, error);
   }
   if (status == FERRET_OK && !*found) {
      status = catalog_create_locked(session, ns, NULL, 0, &table, error);
      *found = status == FERRET_OK;
   }
   status = conn_txn_end(session, own, status, error);
   if (status != FERRET_OK) {
      *found = false;
   }

done:
   if (status == FERRET_OK && *found) {
      catalog_qualify(&table, qualified);
      catalog_cache_put(session, ns, qualified);
   }
   return status;
}

void
catalog_forget(ferret_session_t *session, const ferret_ns_t *ns)
{
   pg_cache_entry_t *entry = catalog_cache_find(session, ns);

   if (entry != NULL) {
      free(entry->key);
      entry->key = NULL;
   }
}

void
catalog_cache_clear(ferret_session_t *session)
{
   for (size_t i = 0; i < PG_CACHE_SIZE; i++) {
      free(session->cache[i].key);
      session->cache[i].key = NULL;
   }
}

ferret_status_t
catalog_list_databases(ferret_session_t *session, ferret_name_fn fn, void *ctx,
                       ferret_error_t *error)
{
   char sql[256];
   PGresult *res = NULL; /* owned */
   ferret_status_t status;

   /* A database is listed while it holds a collection; an emptied one keeps its schema. */
   snprintf(sql, sizeof sql, "SELECT DISTINCT db FROM \"%s\".collections",
            session->backend->catalog);
   status = conn_exec(session, "list databases", sql, NULL, false, &res, error);
   for (int i = 0; status == FERRET_OK && i < PQntuples(res); i++) {
      if (!fn(ctx, PQgetvalue(res, i, 0))) {
         break;
      }
   }
   PQclear(res);
   return status;
}

ferret_status_t
catalog_drop_database(ferret_session_t *session, const char *db, ferret_error_t *error)
{
   char sql[512];
   char what[300];
   char schema[PG_IDENT_MAX + 1];
   const char *c = session->backend->catalog;
   pg_params_t params = {0};
   bool found = false;
   bool own = false;
   ferret_status_t status;

   snprintf(what, sizeof what, "drop database '%s'", db);
   conn_params_text(&params, db);
   status = conn_txn_start(session, &own, error);
   if (status != FERRET_OK) {
      goto done;
   }
   status = catalog_lock(session, &(ferret_ns_t){db, NULL}, NULL, error);
   if (status == FERRET_OK) {
      status = catalog_db_schema(session, db, false, schema, &found, error);
   }
   if (status == FERRET_OK && found) {
      /* CASCADE takes one lock per table; a database of thousands of collections needs
       * max_locks_per_transaction raised. */
      snprintf(sql, sizeof sql, "DROP SCHEMA \"%s\" CASCADE;", schema);
      status = conn_exec(session, what, sql, NULL, false, NULL, error);
   }
   if (status == FERRET_OK && found) {
      snprintf(sql, sizeof sql,
               "WITH c AS (DELETE FROM \"%s\".collections WHERE db = $1)"
               " DELETE FROM \"%s\".databases WHERE name = $1",
               c, c);
      status = conn_exec(session, what, sql, &params, false, NULL, error);
   }
   status = conn_txn_end(session, own, status, error);

done:
   /* The dropped tables' entries can only fail now; clearing them all is simplest. */
   catalog_cache_clear(session);
   return status;
}

ferret_status_t
catalog_list_collections(ferret_session_t *session, const ferret_ns_t *ns, ferret_name_fn fn,
                         void *ctx, ferret_error_t *error)
{
   char sql[256];
   pg_params_t params = {0};
   PGresult *res = NULL; /* owned */
   ferret_status_t status;

   snprintf(sql, sizeof sql, "SELECT name FROM \"%s\".collections WHERE db = $1 ORDER BY name",
            session->backend->catalog);
   conn_params_text(&params, ns->db);
   status = conn_exec(session, "list collections", sql, &params, false, &res, error);
   for (int i = 0; status == FERRET_OK && i < PQntuples(res); i++) {
      if (!fn(ctx, PQgetvalue(res, i, 0))) {
         break;
      }
   }
   PQclear(res);
   return status;
}

ferret_status_t
catalog_create_collection(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *options,
                          size_t options_len, ferret_error_t *error)
{
   catalog_table_t table;
   char qualified[PG_QUALIFIED_MAX];
   bool found = false;
   bool own = false;
   ferret_status_t status;

   status = conn_txn_start(session, &own, error);
   if (status == FERRET_OK) {
      status = catalog_lock(session, ns, NULL, error);
   }
   if (status == FERRET_OK) {
      status = catalog_lookup(session, ns, &table, &found, error);
   }
   if (status == FERRET_OK && found) {
      status = conn_fail(error, FERRET_ERR_NAMESPACE_EXISTS, "collection '%s.%s' already exists",
                         ns->db, ns->collection);
   }
   if (status == FERRET_OK) {
      status = catalog_create_locked(session, ns, options, options_len, &table, error);
   }
   status = conn_txn_end(session, own, status, error);
   if (status == FERRET_OK) {
      catalog_qualify(&table, qualified);
      catalog_cache_put(session, ns, qualified);
   }
   return status;
}

ferret_status_t
catalog_drop_collection(ferret_session_t *session, const ferret_ns_t *ns, ferret_error_t *error)
{
   char sql[512];
   char what[300];
   char qualified[PG_QUALIFIED_MAX];
   catalog_table_t table;
   pg_params_t params = {0};
   bool found = false;
   bool own = false;
   ferret_status_t status;

   snprintf(what, sizeof what, "drop collection '%s.%s'", ns->db, ns->collection);
   catalog_forget(session, ns);
   status = conn_txn_start(session, &own, error);
   if (status == FERRET_OK) {
      status = catalog_lock(session, ns, NULL, error);
   }
   if (status == FERRET_OK) {
      status = catalog_lookup(session, ns, &table, &found, error);
   }
   if (status == FERRET_OK && !found) {
      status = conn_fail(error, FERRET_ERR_NAMESPACE_NOT_FOUND, "collection '%s.%s' does not exist",
                         ns->db, ns->collection);
   }
   if (status == FERRET_OK) {
      catalog_qualify(&table, qualified);
      snprintf(sql, sizeof sql, "DROP TABLE %s", qualified);
      status = conn_exec(session, what, sql, NULL, false, NULL, error);
   }
   if (status == FERRET_OK) {
      snprintf(sql, sizeof sql, "DELETE FROM \"%s\".collections WHERE db = $1 AND name = $2",
               session->backend->catalog);
      conn_params_text(&params, ns->db);
      conn_params_text(&params, ns->collection);
      status = conn_exec(session, what, sql, &params, false, NULL, error);
   }
   return conn_txn_end(session, own, status, error);
}

ferret_status_t
catalog_rename_collection(ferret_session_t *session, const ferret_ns_t *from, const ferret_ns_t *to,
                          bool drop_target, ferret_error_t *error)
{
   char sql[1024];
   char what[600];
   char qualified[PG_QUALIFIED_MAX];
   char to_schema[PG_IDENT_MAX + 1];
   char new_table[PG_IDENT_MAX + 1];
   const char *c = session->backend->catalog;
   catalog_table_t src;
   catalog_table_t dst;
   pg_params_t params = {0};
   PGresult *res = NULL; /* owned */
   bool found = false;
   bool own = false;
   ferret_status_t status;

   snprintf(what, sizeof what, "rename '%s.%s' to '%s.%s'", from->db, from->collection, to->db,
            to->collection);
   catalog_forget(session, from);
   catalog_forget(session, to);
   status = conn_txn_start(session, &own, error);
   if (status == FERRET_OK) {
      status = catalog_lock(session, from, to, error);
   }
   if (status == FERRET_OK) {
      status = catalog_lookup(session, from, &src, &found, error);
   }
   if (status == FERRET_OK && !found) {
      status = conn_fail(error, FERRET_ERR_NAMESPACE_NOT_FOUND, "source namespace does not exist");
   }
   if (status != FERRET_OK) {
      goto done;
   }
   if (strcmp(from->db, to->db) == 0 && strcmp(from->collection, to->collection) == 0) {
      goto done; /* renaming onto itself changes nothing */
   }
   status = catalog_lookup(session, to, &dst, &found, error);
   if (status == FERRET_OK && found && !drop_target) {
      status = conn_fail(error, FERRET_ERR_NAMESPACE_EXISTS, "target namespace exists");
   }
   if (status == FERRET_OK && found) {
      catalog_qualify(&dst, qualified);
      snprintf(sql, sizeof sql,
               "DROP TABLE %s;"
               "DELETE FROM \"%s\".collections WHERE table_name = '%s'",
               qualified, c, dst.table);
      status = conn_exec(session, what, sql, NULL, false, NULL, error);
   }
   if (status == FERRET_OK) {
      status = catalog_db_schema(session, to->db, true, to_schema, &found, error);
   }
   /* The table gets a new identifier: a session whose cache still maps the old name to the
    * old identifier then fails cleanly instead of writing into the renamed collection. */
   if (status == FERRET_OK) {
      snprintf(sql, sizeof sql, "SELECT 'c_' || nextval('\"%s\".names')", c);
      status = conn_exec(session, what, sql, NULL, false, &res, error);
   }
   if (status == FERRET_OK) {
      snprintf(new_table, sizeof new_table, "%s", PQgetvalue(res, 0, 0));
      catalog_qualify(&src, qualified);
      if (strcmp(src.schema, to_schema) != 0) {
         snprintf(sql, sizeof sql, "ALTER TABLE %s SET SCHEMA \"%s\"", qualified, to_schema);
         status = conn_exec(session, what, sql, NULL, false, NULL, error);
      }
   }
   if (status == FERRET_OK) {
      snprintf(sql, sizeof sql, "ALTER TABLE \"%s\".\"%s\" RENAME TO \"%s\"", to_schema, src.table,
               new_table);
      status = conn_exec(session, what, sql, NULL, false, NULL, error);
   }
   if (status == FERRET_OK) {
      snprintf(sql, sizeof sql,
               "UPDATE \"%s\".collections SET db = $3, name = $4, table_name = $5"
               " WHERE db = $1 AND name = $2",
               c);
      conn_params_text(&params, from->db);
      conn_params_text(&params, from->collection);
      conn_params_text(&params, to->db);
      conn_params_text(&params, to->collection);
      conn_params_text(&params, new_table);
      status = conn_exec(session, what, sql, &params, false, NULL, error);
   }
   status = catalog_race(session, status, to, error);

done:
   PQclear(res);
   return conn_txn_end(session, own, status, error);
}

ferret_status_t
catalog_stats(ferret_session_t *session, const ferret_ns_t *ns, ferret_stats_t *out,
              ferret_error_t *error)
{
   char sql[512];
   char qualified[PG_QUALIFIED_MAX];
   catalog_table_t table;
   pg_params_t params = {0};
   ferret_stats_t sum;
   PGresult *res = NULL; /* owned */
   bool found = false;
   ferret_status_t status = FERRET_OK;

   for (int attempt = 0; attempt < 2; attempt++) {
      memset(&sum, 0, sizeof sum);
      PQclear(res);
      res = NULL;
      if (ns->collection != NULL) {
         status = catalog_resolve(session, ns, false, qualified, &found, error);
         if (status == FERRET_OK && found) {
            status = catalog_table_stats(session, qualified, &sum, error);
         }
      } else {
         snprintf(sql, sizeof sql,
                  "SELECT d.schema_name, c.table_name FROM \"%s\".collections c"
                  " JOIN \"%s\".databases d ON d.name = c.db WHERE c.db = $1",
                  session->backend->catalog, session->backend->catalog);
         params.count = 0;
         conn_params_text(&params, ns->db);
         status = conn_exec(session, "database stats", sql, &params, false, &res, error);
         for (int i = 0; status == FERRET_OK && i < PQntuples(res); i++) {
            snprintf(table.schema, sizeof table.schema, "%s", PQgetvalue(res, i, 0));
            snprintf(table.table, sizeof table.table, "%s", PQgetvalue(res, i, 1));
            catalog_qualify(&table, qualified);
            status = catalog_table_stats(session, qualified, &sum, error);
            sum.collections++;
         }
      }
      /* A collection dropped under us: look again, outside a transaction only. */
      if (status != FERRET_ERR_NAMESPACE_NOT_FOUND || session->txn != PG_TXN_NONE) {
         break;
      }
      catalog_cache_clear(session);
   }
   if (status == FERRET_ERR_NAMESPACE_NOT_FOUND) {
      status = conn_fail(
         error, session->txn != PG_TXN_NONE ? FERRET_ERR_WRITE_CONFLICT : FERRET_ERR_UNAVAILABLE,
         "collections were dropped while their statistics were read");
   }
   if (status == FERRET_OK) {
      out->count = sum.count;
      out->data_size = sum.data_size;
      out->storage_size = sum.storage_size;
      out->index_count = sum.index_count;
      out->index_size = sum.index_size;
      if (out->struct_size >= offsetof(ferret_stats_t, collections) + sizeof out->collections) {
         out->collections = sum.collections;
      }
   }
   PQclear(res);
   return status;
}

ferret_status_t
catalog_collection_options(ferret_session_t *session, const ferret_ns_t *ns,
                           void (*fn)(void *ctx, const uint8_t *bson, size_t len), void *ctx,
                           ferret_error_t *error)
{
   char sql[256];
   pg_params_t params = {0};
   PGresult *res = NULL; /* owned */
   ferret_status_t status;

   snprintf(sql, sizeof sql, "SELECT options FROM \"%s\".collections WHERE db = $1 AND name = $2",
            session->backend->catalog);
   conn_params_text(&params, ns->db);
   conn_params_text(&params, ns->collection);
   status = conn_exec(session, "collection options", sql, &params, true, &res, error);
   if (status == FERRET_OK && PQntuples(res) == 0) {
      status = conn_fail(error, FERRET_ERR_NAMESPACE_NOT_FOUND, "collection '%s.%s' does not exist",
                         ns->db, ns->collection);
   }
   if (status == FERRET_OK && !PQgetisnull(res, 0, 0)) {
      fn(ctx, (const uint8_t *) PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0));
   }
   PQclear(res);
   return status;
}

/* ---- cache ---- */

/* The cache key: db NUL collection NUL. *out is owned by the caller (free). */
static size_t
catalog_key(const ferret_ns_t *ns, char **out)
{
   size_t db_len = strlen(ns->db);
   size_t coll_len = strlen(ns->collection);
   size_t len = db_len + coll_len + 2;

   *out = malloc(len);
   if (*out == NULL) {
      return 0;
   }
   memcpy(*out, ns->db, db_len + 1);
   memcpy(*out + db_len + 1, ns->collection, coll_len + 1);
   return len;
}

static pg_cache_entry_t *
catalog_cache_find(ferret_session_t *session, const ferret_ns_t *ns)
{
   size_t db_len = strlen(ns->db);
   size_t len = db_len + strlen(ns->collection) + 2;

   for (size_t i = 0; i < PG_CACHE_SIZE; i++) {
      pg_cache_entry_t *e = &session->cache[i];
      if (e->key != NULL && e->key_len == len && strcmp(e->key, ns->db) == 0 &&
          strcmp(e->key + db_len + 1, ns->collection) == 0) {
         return e;
      }
   }
   return NULL;
}

static void
catalog_cache_put(ferret_session_t *session, const ferret_ns_t *ns, const char *qualified)
{
   pg_cache_entry_t *e = catalog_cache_find(session, ns);
   char *key = NULL; /* owned; transfers to the entry */
   size_t len;

   if (e == NULL) {
      len = catalog_key(ns, &key);
      if (key == NULL) {
         return; /* the cache is an optimization: no memory, no entry */
      }
      /* Round robin: the hot collections of a worker are few; no need for LRU. */
      e = &session->cache[session->cache_next++ % PG_CACHE_SIZE];
      free(e->key);
      e->key = key;
      e->key_len = len;
   }
   snprintf(e->qualified, sizeof e->qualified, "%s", qualified);
}

/* ---- statements ---- */

/*
 * Locks the names of a and b (either may be NULL) until the transaction ends: exclusive on a
 * collection name and shared on its database name, or exclusive on a database name when
 * collection is NULL (dropping a database waits for every creator in it). Keys are taken in
 * sorted order, databases first, so two sessions never wait for each other in a circle.
 */
static ferret_status_t
catalog_lock(ferret_session_t *session, const ferret_ns_t *a, const ferret_ns_t *b,
             ferret_error_t *error)
{
   /* key: class (databases even, collections odd, so the two never share a key), hash, mode */
   int64_t keys[4][3];
   const ferret_ns_t *ns[2] = {a, b};
   uint32_t cls = (uint32_t) session->backend->lock_key & ~UINT32_C(1);
   char sql[512];
   size_t n = 0;
   size_t len;

   for (size_t i = 0; i < 2; i++) {
      if (ns[i] == NULL) {
         continue;
      }
      uint32_t h = catalog_hash(UINT32_C(2166136261), ns[i]->db);
      keys[n][0] = (int32_t) cls;
      keys[n][1] = (int32_t) h;
      keys[n][2] = ns[i]->collection != NULL; /* shared when a collection is named */
      n++;
      if (ns[i]->collection != NULL) {
         keys[n][0] = (int32_t) (cls | 1);
         keys[n][1] = (int32_t) catalog_hash(catalog_hash(h, "\x01"), ns[i]->collection);
         keys[n][2] = 0;
         n++;
      }
   }
   qsort(keys, n, sizeof keys[0], catalog_cmp_key);
   len = (size_t) snprintf(sql, sizeof sql, "SELECT true");
   for (size_t i = 0; i < n && len < sizeof sql; i++) {
      if (i > 0 && keys[i][0] == keys[i - 1][0] && keys[i][1] == keys[i - 1][1]) {
         continue; /* the same database twice: shared once is enough */
      }
      len += (size_t) snprintf(sql + len, sizeof sql - len,
                               ", pg_advisory_xact_lock%s(%" PRId64 ", %" PRId64 ")",
                               keys[i][2] ? "_shared" : "", keys[i][0], keys[i][1]);
   }
   return conn_exec(session, "lock the catalog", sql, NULL, false, NULL, error);
}

static uint32_t
catalog_hash(uint32_t h, const char *s)
{
   for (; *s != '\0'; s++) {
      h = (h ^ (uint8_t) *s) * UINT32_C(16777619);
   }
   return h;
}

static int
catalog_cmp_key(const void *x, const void *y)
{
   const int64_t *a = x;
   const int64_t *b = y;

   for (int i = 0; i < 3; i++) {
      if (a[i] != b[i]) {
         return a[i] < b[i] ? -1 : 1;
      }
   }
   return 0;
}

static ferret_status_t
catalog_lookup(ferret_session_t *session, const ferret_ns_t *ns, catalog_table_t *table,
               bool *found, ferret_error_t *error)
{
   char sql[512];
   pg_params_t params = {0};
   PGresult *res = NULL; /* owned */
   ferret_status_t status;

   *found = false;
   snprintf(sql, sizeof sql,
            "SELECT d.schema_name, c.table_name FROM \"%s\".collections c"
            " JOIN \"%s\".databases d ON d.name = c.db WHERE c.db = $1 AND c.name = $2",
            session->backend->catalog, session->backend->catalog);
   conn_params_text(&params, ns->db);
   conn_params_text(&params, ns->collection);
   status = conn_exec(session, "look up a collection", sql, &params, false, &res, error);
   if (status == FERRET_OK && PQntuples(res) == 1) {
      snprintf(table->schema, sizeof table->schema, "%s", PQgetvalue(res, 0, 0));
      snprintf(table->table, sizeof table->table, "%s", PQgetvalue(res, 0, 1));
      *found = true;
   }
   PQclear(res);
   return status;
}

/* The schema of database db (caller storage of PG_IDENT_MAX + 1), made when create is true
 * and it is missing. Runs under the catalog lock. */
static ferret_status_t
catalog_db_schema(ferret_session_t *session, const char *db, bool create, char *schema, bool *found,
                  ferret_error_t *error)
{
   char sql[512];
   const char *c = session->backend->catalog;
   pg_params_t params = {0};
   PGresult *res = NULL; /* owned */
   ferret_status_t status;

   *found = false;
   schema[0] = '\0';
   snprintf(sql, sizeof sql, "SELECT schema_name FROM \"%s\".databases WHERE name = $1", c);
   conn_params_text(&params, db);
   status = conn_exec(session, "look up a database", sql, &params, false, &res, error);
   if (status == FERRET_OK && PQntuples(res) == 1) {
      snprintf(schema, PG_IDENT_MAX + 1, "%s", PQgetvalue(res, 0, 0));
      *found = true;
   }
   if (status != FERRET_OK || *found || !create) {
      goto done;
   }
   PQclear(res);
   res = NULL;
   /* Another session may be creating a collection in the same new database: the conflict
    * waits for it; when it commits, its row is the one to use. */
   snprintf(sql, sizeof sql,
            "INSERT INTO \"%s\".databases (name, schema_name)"
            " VALUES ($1, '%s' || nextval('\"%s\".names')) ON CONFLICT (name) DO NOTHING"
            " RETURNING schema_name",
            c, session->backend->prefix, c);
   status = conn_exec(session, "create a database", sql, &params, false, &res, error);
   if (status == FERRET_OK && PQntuples(res) == 1) {
      snprintf(schema, PG_IDENT_MAX + 1, "%s", PQgetvalue(res, 0, 0));
      snprintf(sql, sizeof sql, "CREATE SCHEMA \"%s\"", schema);
      status = conn_exec(session, "create a database", sql, NULL, false, NULL, error);
   } else if (status == FERRET_OK) {
      PQclear(res);
      res = NULL;
      snprintf(sql, sizeof sql, "SELECT schema_name FROM \"%s\".databases WHERE name = $1", c);
      status = conn_exec(session, "look up a database", sql, &params, false, &res, error);
      if (status == FERRET_OK && PQntuples(res) == 1) {
         snprintf(schema, PG_IDENT_MAX + 1, "%s", PQgetvalue(res, 0, 0));
      } else if (status == FERRET_OK) {
         status = conn_fail(error, FERRET_ERR_WRITE_CONFLICT,
                            "database '%s' was created concurrently", db);
      }
   }

done:
   PQclear(res);
   return status;
}

/* Creates ns, which does not exist, and its database if needed. Runs under the catalog lock. */
static ferret_status_t
catalog_create_locked(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *options,
                      size_t options_len, catalog_table_t *table, ferret_error_t *error)
{
   char sql[1024];
   char what[300];
   const char *c = session->backend->catalog;
   pg_params_t params = {0};
   PGresult *res = NULL; /* owned */
   bool found = false;
   ferret_status_t status;

   snprintf(what, sizeof what, "create collection '%s.%s'", ns->db, ns->collection);
   status = catalog_db_schema(session, ns->db, true, table->schema, &found, error);
   if (status != FERRET_OK) {
      goto done;
   }
   snprintf(sql, sizeof sql,
            "INSERT INTO \"%s\".collections (db, name, table_name, options)"
            " VALUES ($1, $2, 'c_' || nextval('\"%s\".names'), $3) RETURNING table_name",
            c, c);
   conn_params_text(&params, ns->db);
   conn_params_text(&params, ns->collection);
   conn_params_bytes(&params, options, options_len);
   if (options == NULL) {
      params.values[2] = NULL; /* SQL NULL: created implicitly, no options */
   }
   status = conn_exec(session, what, sql, &params, false, &res, error);
   if (status != FERRET_OK) {
      goto done;
   }
   snprintf(table->table, sizeof table->table, "%s", PQgetvalue(res, 0, 0));
   /* seq gives $natural order and the keyset that cursors page by; id_key is the core's
    * canonical _id encoding; doc is the BSON, byte for byte. */
   snprintf(sql, sizeof sql,
            "CREATE TABLE \"%s\".\"%s\" ("
            "seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " id_key bytea NOT NULL UNIQUE,"
            " doc bytea NOT NULL)",
            table->schema, table->table);
   status = conn_exec(session, what, sql, NULL, false, NULL, error);

done:
   PQclear(res);
   return catalog_race(session, status, ns, error);
}

/* Adds one table's numbers to *sum. */
static ferret_status_t
catalog_table_stats(ferret_session_t *session, const char *qualified, ferret_stats_t *sum,
                    ferret_error_t *error)
{
   char sql[1024];
   PGresult *res = NULL; /* owned */
   ferret_status_t status;

   /* MongoDB reports one index, _id; the seq index is ours, but its size is real storage. */
   snprintf(sql, sizeof sql,
            "SELECT count(*), coalesce(sum(octet_length(doc)), 0)::int8,"
            " pg_table_size('%s'::regclass), pg_indexes_size('%s'::regclass) FROM %s",
            qualified, qualified, qualified);
   status = conn_exec(session, "collection stats", sql, NULL, false, &res, error);
   if (status == FERRET_OK) {
      sum->count += strtoll(PQgetvalue(res, 0, 0), NULL, 10);
      sum->data_size += strtoll(PQgetvalue(res, 0, 1), NULL, 10);
      sum->storage_size += strtoll(PQgetvalue(res, 0, 2), NULL, 10);
      sum->index_size += strtoll(PQgetvalue(res, 0, 3), NULL, 10);
      sum->index_count += 1;
   }
   PQclear(res);
   return status;
}

static void
catalog_qualify(const catalog_table_t *table, char *qualified)
{
   snprintf(qualified, PG_QUALIFIED_MAX, "\"%s\".\"%s\"", table->schema, table->table);
}

/* A unique violation in the catalog means another session made the same name after our
 * snapshot (only possible inside the core's transaction): a conflict the core retries. */
static ferret_status_t
catalog_race(ferret_session_t *session, ferret_status_t status, const ferret_ns_t *ns,
             ferret_error_t *error)
{
   (void) session;
   if (status != FERRET_ERR_DUPLICATE_KEY && status != FERRET_ERR_NAMESPACE_EXISTS) {
      return status;
   }
   if (status == FERRET_ERR_NAMESPACE_EXISTS && error->native_code[0] == '\0') {
      return status; /* our own check, not a constraint */
   }
   return conn_fail(error, FERRET_ERR_WRITE_CONFLICT, "collection '%s.%s' was changed concurrently",
                    ns->db, ns->collection);
}
