/*
 * backend.c: the PostgreSQL backend's descriptor, its configuration, sessions and
 * transactions (docs/rfc/0001-backend-abi.md, docs/rfc/0006-postgres-layout.md).
 *
 * The module exports one symbol, ferret_backend_entry. Each session owns one libpq
 * connection; the other files do the work: catalog.c (databases and collections), write.c
 * (documents), query.c (cursors and explain), conn.c (statements, errors, reconnection).
 *
 * Configuration, section [postgres]:
 *   conninfo       libpq connection string or URI; "" (default) takes libpq's environment
 *                  defaults (PGHOST, PGPORT, PGDATABASE, PGUSER, ...)
 *   schema_prefix  prefix of the schemas this server creates, default "fdb_"; servers sharing a
 *                  PostgreSQL database with different prefixes do not see each other
 *   fetch_size     the largest batch a cursor reads at once, default 1000
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postgres_int.h"

#define BACKEND_DEFAULT_PREFIX "fdb_"
#define BACKEND_DEFAULT_FETCH 1000
#define BACKEND_MAX_FETCH 100000

/* ---- methods ---- */

static ferret_status_t backend_open(const ferret_host_t *host, const ferret_config_t *config,
                                    ferret_backend_t **out, ferret_error_t *error);
static void backend_close(ferret_backend_t *backend);
static ferret_status_t backend_session_open(ferret_backend_t *backend, ferret_session_t **out,
                                            ferret_error_t *error);
static void backend_session_close(ferret_session_t *session);
static ferret_status_t backend_list_databases(ferret_session_t *session, ferret_name_fn fn,
                                              void *ctx, ferret_error_t *error);
static ferret_status_t backend_drop_database(ferret_session_t *session, const char *db,
                                             ferret_error_t *error);
static ferret_status_t backend_list_collections(ferret_session_t *session, const ferret_ns_t *ns,
                                                ferret_name_fn fn, void *ctx,
                                                ferret_error_t *error);
static ferret_status_t backend_create_collection(ferret_session_t *session, const ferret_ns_t *ns,
                                                 const uint8_t *options, size_t options_len,
                                                 ferret_error_t *error);
static ferret_status_t backend_drop_collection(ferret_session_t *session, const ferret_ns_t *ns,
                                               ferret_error_t *error);
static ferret_status_t backend_rename_collection(ferret_session_t *session, const ferret_ns_t *from,
                                                 const ferret_ns_t *to, bool drop_target,
                                                 ferret_error_t *error);
static ferret_status_t backend_insert(ferret_session_t *session, const ferret_ns_t *ns,
                                      const ferret_doc_t *docs, size_t count, size_t *inserted,
                                      ferret_error_t *error);
static ferret_status_t backend_replace(ferret_session_t *session, const ferret_ns_t *ns,
                                       const uint8_t *expected, size_t expected_len,
                                       const ferret_doc_t *doc, bool *replaced,
                                       ferret_error_t *error);
static ferret_status_t backend_delete_one(ferret_session_t *session, const ferret_ns_t *ns,
                                          const uint8_t *id_key, size_t id_key_len,
                                          const uint8_t *expected, size_t expected_len,
                                          bool *deleted, ferret_error_t *error);
static ferret_status_t backend_query(ferret_session_t *session, const ferret_ns_t *ns,
                                     ferret_query_t *query, ferret_cursor_t **out,
                                     ferret_error_t *error);
static ferret_status_t backend_cursor_next(ferret_cursor_t *cursor, const uint8_t **bson,
                                           size_t *len, ferret_error_t *error);
static void backend_cursor_close(ferret_cursor_t *cursor);
static ferret_status_t backend_stats(ferret_session_t *session, const ferret_ns_t *ns,
                                     ferret_stats_t *out, ferret_error_t *error);
static ferret_status_t backend_collection_options(ferret_session_t *session, const ferret_ns_t *ns,
                                                  void (*fn)(void *ctx, const uint8_t *bson,
                                                             size_t len),
                                                  void *ctx, ferret_error_t *error);
static ferret_status_t backend_begin(ferret_session_t *session, ferret_error_t *error);
static ferret_status_t backend_commit(ferret_session_t *session, ferret_error_t *error);
static void backend_abort(ferret_session_t *session);
static ferret_status_t backend_explain(ferret_session_t *session, const ferret_ns_t *ns,
                                       ferret_query_t *query,
                                       void (*fn)(void *ctx, const uint8_t *bson, size_t len),
                                       void *ctx, ferret_error_t *error);

/* ---- helpers ---- */

static ferret_status_t backend_configure(ferret_backend_t *backend, const ferret_config_t *config,
                                         ferret_error_t *error);
static bool backend_valid_prefix(const char *prefix);
static int64_t backend_lock_key(const char *prefix);
static void backend_log_nothing(ferret_log_level_t level, const char *backend_name,
                                const char *format, ...);

static const ferret_host_t backend_silent_host = {
   sizeof(ferret_host_t), FERRET_ABI_MAJOR, FERRET_ABI_MINOR, "", backend_log_nothing,
};

static const char *const backend_config_keys[] = {"conninfo", "schema_prefix", "fetch_size", NULL};

static const ferret_backend_methods_t backend_methods = {
   .struct_size = sizeof(ferret_backend_methods_t),
   .open = backend_open,
   .close = backend_close,
   .session_open = backend_session_open,
   .session_close = backend_session_close,
   .list_databases = backend_list_databases,
   .drop_database = backend_drop_database,
   .list_collections = backend_list_collections,
   .create_collection = backend_create_collection,
   .drop_collection = backend_drop_collection,
   .rename_collection = backend_rename_collection,
   .insert = backend_insert,
   .replace = backend_replace,
   .delete_one = backend_delete_one,
   .query = backend_query,
   .cursor_next = backend_cursor_next,
   .cursor_close = backend_cursor_close,
   .stats = backend_stats,
   .collection_options = backend_collection_options,
   .begin = backend_begin,
   .commit = backend_commit,
   .abort = backend_abort,
   .explain = backend_explain,
};

static const ferret_backend_descriptor_t backend_descriptor = FERRET_BACKEND_DESCRIPTOR_INIT(
   PG_BACKEND_NAME, PG_BACKEND_VERSION,
   FERRET_CAP_FILTER_PUSHDOWN | FERRET_CAP_SORT_PUSHDOWN | FERRET_CAP_LIMIT_PUSHDOWN |
      FERRET_CAP_TRANSACTIONS | FERRET_CAP_EXPLAIN,
   backend_config_keys, &backend_methods);

/* ---- the entry point ---- */

FERRET_EXPORT const ferret_backend_descriptor_t *
ferret_backend_entry(const ferret_host_t *host)
{
   (void) host; /* open() receives it again; nothing is kept in file scope */
   return &backend_descriptor;
}

/* ---- methods ---- */

static ferret_status_t
backend_open(const ferret_host_t *host, const ferret_config_t *config, ferret_backend_t **out,
             ferret_error_t *error)
{
   ferret_backend_t *backend = NULL; /* owned; transfers to *out on success */
   PGconn *conn = NULL;              /* owned */
   ferret_status_t status;

   *out = NULL;
   backend = calloc(1, sizeof *backend);
   if (backend == NULL) {
      status = conn_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
      goto done;
   }
   backend->host = host;
   if (host == NULL || host->struct_size < offsetof(ferret_host_t, log) + sizeof host->log ||
       host->log == NULL) {
      backend->host = &backend_silent_host;
   }
   status = backend_configure(backend, config, error);
   if (status != FERRET_OK) {
      goto done;
   }
   /* One connection now: a wrong conninfo or a missing server fails at startup, with the
    * message, rather than on the first command; and the catalog is made once here. */
   status = conn_connect(backend, &conn, error);
   if (status == FERRET_OK) {
      status = catalog_init(backend, conn, error);
   }
   if (status != FERRET_OK) {
      goto done;
   }
   backend->host->log(FERRET_LOG_INFO, PG_BACKEND_NAME,
                      "postgresql %d.%d, database '%s' on '%s', catalog schema '%s'",
                      PQserverVersion(conn) / 10000, PQserverVersion(conn) % 10000, PQdb(conn),
                      PQhost(conn) != NULL ? PQhost(conn) : "", backend->catalog);
   *out = backend;
   backend = NULL;

done:
   if (conn != NULL) {
      PQfinish(conn);
   }
   backend_close(backend);
   return status;
}

static void
backend_close(ferret_backend_t *backend)
{
   if (backend == NULL) {
      return;
   }
   free(backend->conninfo);
   free(backend);
}

static ferret_status_t
backend_session_open(ferret_backend_t *backend, ferret_session_t **out, ferret_error_t *error)
{
   ferret_session_t *session = NULL; /* owned; transfers to *out on success */
   ferret_status_t status;

   *out = NULL;
   session = calloc(1, sizeof *session);
   if (session == NULL) {
      return conn_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
   }
   session->backend = backend;
   status = conn_connect(backend, &session->conn, error);
   if (status != FERRET_OK) {
      free(session);
      return status;
   }
   *out = session;
   return FERRET_OK;
}

static void
backend_session_close(ferret_session_t *session)
{
   if (session == NULL) {
      return;
   }
   /* Closing the connection rolls back a transaction left open. */
   catalog_cache_clear(session);
   conn_prepared_clear(session);
   PQfinish(session->conn);
   free(session);
}

static ferret_status_t
backend_list_databases(ferret_session_t *session, ferret_name_fn fn, void *ctx,
                       ferret_error_t *error)
{
   ferret_status_t status = conn_ready(session, error);

   return status != FERRET_OK ? status : catalog_list_databases(session, fn, ctx, error);
}

static ferret_status_t
backend_drop_database(ferret_session_t *session, const char *db, ferret_error_t *error)
{
   ferret_status_t status = conn_ready(session, error);

   return status != FERRET_OK ? status : catalog_drop_database(session, db, error);
}

static ferret_status_t
backend_list_collections(ferret_session_t *session, const ferret_ns_t *ns, ferret_name_fn fn,
                         void *ctx, ferret_error_t *error)
{
   ferret_status_t status = conn_ready(session, error);

   return status != FERRET_OK ? status : catalog_list_collections(session, ns, fn, ctx, error);
}

static ferret_status_t
backend_create_collection(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *options,
                          size_t options_len, ferret_error_t *error)
{
   ferret_status_t status = conn_ready(session, error);

   return status != FERRET_OK ? status
                              : catalog_create_collection(session, ns, options, options_len, error);
}

static ferret_status_t
backend_drop_collection(ferret_session_t *session, const ferret_ns_t *ns, ferret_error_t *error)
{
   ferret_status_t status = conn_ready(session, error);

   return status != FERRET_OK ? status : catalog_drop_collection(session, ns, error);
}

static ferret_status_t
backend_rename_collection(ferret_session_t *session, const ferret_ns_t *from, const ferret_ns_t *to,
                          bool drop_target, ferret_error_t *error)
{
   ferret_status_t status = conn_ready(session, error);

   return status != FERRET_OK ? status
                              : catalog_rename_collection(session, from, to, drop_target, error);
}

static ferret_status_t
backend_insert(ferret_session_t *session, const ferret_ns_t *ns, const ferret_doc_t *docs,
               size_t count, size_t *inserted, ferret_error_t *error)
{
   ferret_status_t status;

   *inserted = 0;
   status = conn_ready(session, error);
   return status != FERRET_OK ? status : write_insert(session, ns, docs, count, inserted, error);
}

static ferret_status_t
backend_replace(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *expected,
                size_t expected_len, const ferret_doc_t *doc, bool *replaced, ferret_error_t *error)
{
   ferret_status_t status;

   *replaced = false;
   status = conn_ready(session, error);
   return status != FERRET_OK
             ? status
             : write_replace(session, ns, expected, expected_len, doc, replaced, error);
}

static ferret_status_t
backend_delete_one(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *id_key,
                   size_t id_key_len, const uint8_t *expected, size_t expected_len, bool *deleted,
                   ferret_error_t *error)
{
   ferret_status_t status;

   *deleted = false;
   status = conn_ready(session, error);
   return status != FERRET_OK ? status
                              : write_delete_one(session, ns, id_key, id_key_len, expected,
                                                 expected_len, deleted, error);
}

static ferret_status_t
backend_query(ferret_session_t *session, const ferret_ns_t *ns, ferret_query_t *query,
              ferret_cursor_t **out, ferret_error_t *error)
{
   ferret_status_t status;

   *out = NULL;
   status = conn_ready(session, error);
   return status != FERRET_OK ? status : query_open(session, ns, query, out, error);
}

static ferret_status_t
backend_cursor_next(ferret_cursor_t *cursor, const uint8_t **bson, size_t *len,
                    ferret_error_t *error)
{
   return query_next(cursor, bson, len, error);
}

static void
backend_cursor_close(ferret_cursor_t *cursor)
{
   query_close(cursor);
}

static ferret_status_t
backend_stats(ferret_session_t *session, const ferret_ns_t *ns, ferret_stats_t *out,
              ferret_error_t *error)
{
   ferret_status_t status;

   out->count = out->data_size = out->storage_size = out->index_count = out->index_size = 0;
   if (out->struct_size >= offsetof(ferret_stats_t, collections) + sizeof out->collections) {
      out->collections = 0;
   }
   status = conn_ready(session, error);
   return status != FERRET_OK ? status : catalog_stats(session, ns, out, error);
}

static ferret_status_t
backend_collection_options(ferret_session_t *session, const ferret_ns_t *ns,
                           void (*fn)(void *ctx, const uint8_t *bson, size_t len), void *ctx,
                           ferret_error_t *error)
{
   ferret_status_t status = conn_ready(session, error);

   return status != FERRET_OK ? status : catalog_collection_options(session, ns, fn, ctx, error);
}

static ferret_status_t
backend_begin(ferret_session_t *session, ferret_error_t *error)
{
   ferret_status_t status;

   if (session->txn != PG_TXN_NONE) {
      return conn_fail(error, FERRET_ERR_INTERNAL, "a transaction is already open");
   }
   status = conn_ready(session, error);
   if (status != FERRET_OK) {
      return status;
   }
   /* Snapshot isolation, as MongoDB transactions have: a concurrent write to the same row is
    * a serialization failure, reported as WRITE_CONFLICT for the core to retry. */
   status = conn_exec(session, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ", NULL, false, NULL,
                      error);
   if (status == FERRET_OK) {
      session->txn = PG_TXN_ACTIVE;
   }
   return status;
}

static ferret_status_t
backend_commit(ferret_session_t *session, ferret_error_t *error)
{
   PGresult *res = NULL; /* owned */
   ferret_status_t status = FERRET_OK;

   switch (session->txn) {
   case PG_TXN_NONE:
      return conn_fail(error, FERRET_ERR_INTERNAL, "no transaction is open");
   case PG_TXN_BROKEN:
      status = conn_fail(error, FERRET_ERR_UNAVAILABLE,
                         "the transaction was lost with the connection to postgresql");
      break;
   case PG_TXN_ACTIVE:
      status = conn_exec(session, "commit", "COMMIT", NULL, false, &res, error);
      if (status == FERRET_OK && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
         status = conn_fail(error, FERRET_ERR_INTERNAL,
                            "the transaction was rolled back after an earlier error");
      } else if (status == FERRET_ERR_UNAVAILABLE) {
         status = conn_fail(error, FERRET_ERR_UNAVAILABLE,
                            "the connection to postgresql was lost during commit; the "
                            "transaction may or may not have been committed");
      }
      break;
   }
   session->txn = PG_TXN_NONE;
   if (status != FERRET_OK) {
      /* Collections made inside the transaction are gone with it. */
      catalog_cache_clear(session);
   }
   PQclear(res);
   return status;
}

static void
backend_abort(ferret_session_t *session)
{
   if (session->txn == PG_TXN_ACTIVE && PQstatus(session->conn) == CONNECTION_OK) {
      PQclear(PQexec(session->conn, "ROLLBACK"));
   }
   session->txn = PG_TXN_NONE;
   catalog_cache_clear(session);
}

static ferret_status_t
backend_explain(ferret_session_t *session, const ferret_ns_t *ns, ferret_query_t *query,
                void (*fn)(void *ctx, const uint8_t *bson, size_t len), void *ctx,
                ferret_error_t *error)
{
   ferret_status_t status = conn_ready(session, error);

   return status != FERRET_OK ? status : query_explain(session, ns, query, fn, ctx, error);
}

/* ---- helpers ---- */

static ferret_status_t
backend_configure(ferret_backend_t *backend, const ferret_config_t *config, ferret_error_t *error)
{
   const char *conninfo = "";
   const char *prefix = BACKEND_DEFAULT_PREFIX;
   long fetch = BACKEND_DEFAULT_FETCH;
   char *parse_error = NULL;         /* owned by libpq: PQfreemem */
   PQconninfoOption *options = NULL; /* owned by libpq: PQconninfoFree */
   ferret_status_t status = FERRET_OK;

   for (size_t i = 0; config != NULL && i < config->count; i++) {
      const ferret_config_item_t *item = &config->items[i];
      if (strcmp(item->key, "conninfo") == 0) {
         conninfo = item->value;
         if (conninfo[0] != '\0') {
            options = PQconninfoParse(conninfo, &parse_error);
            if (options == NULL) {
               status = conn_fail(error, FERRET_ERR_INVALID_NAME, "%s:%u: invalid conninfo: %s",
                                  item->file, item->line,
                                  parse_error != NULL ? parse_error : "out of memory");
               goto done;
            }
            PQconninfoFree(options);
            options = NULL;
         }
      } else if (strcmp(item->key, "schema_prefix") == 0) {
         prefix = item->value;
         if (!backend_valid_prefix(prefix)) {
            status = conn_fail(error, FERRET_ERR_INVALID_NAME,
                               "%s:%u: invalid schema_prefix '%s': want 1 to %d lower-case "
                               "letters, digits or '_', starting with a letter, not 'pg_'",
                               item->file, item->line, prefix, PG_PREFIX_MAX);
            goto done;
         }
      } else if (strcmp(item->key, "fetch_size") == 0) {
         char *end = NULL;
         fetch = strtol(item->value, &end, 10);
         if (end == item->value || *end != '\0' || fetch < 1 || fetch > BACKEND_MAX_FETCH) {
            status = conn_fail(error, FERRET_ERR_INVALID_NAME,
                               "%s:%u: invalid fetch_size '%s': want 1 to %d", item->file,
                               item->line, item->value, BACKEND_MAX_FETCH);
            goto done;
         }
      }
   }
   backend->conninfo = strdup(conninfo);
   if (backend->conninfo == NULL) {
      status = conn_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
      goto done;
   }
   snprintf(backend->prefix, sizeof backend->prefix, "%s", prefix);
   snprintf(backend->catalog, sizeof backend->catalog, "%scatalog", prefix);
   backend->lock_key = backend_lock_key(prefix);
   backend->fetch_size = (int) fetch;

done:
   if (parse_error != NULL) {
      PQfreemem(parse_error);
   }
   return status;
}

/* Generated names must need no quoting to be typed in psql, and must stay short. */
static bool
backend_valid_prefix(const char *prefix)
{
   size_t n = strlen(prefix);

   if (n == 0 || n > PG_PREFIX_MAX || !(prefix[0] >= 'a' && prefix[0] <= 'z') ||
       strncmp(prefix, "pg_", 3) == 0) {
      return false;
   }
   for (size_t i = 0; i < n; i++) {
      char c = prefix[i];
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
         return false;
      }
   }
   return true;
}

/* FNV-1a of the prefix: servers with one prefix share the lock, other prefixes never wait. */
static int64_t
backend_lock_key(const char *prefix)
{
   const char *tag = "ferret-postgres:";
   uint64_t h = UINT64_C(14695981039346656037);

   for (const char *p = tag; *p != '\0'; p++) {
      h = (h ^ (uint8_t) *p) * UINT64_C(1099511628211);
   }
   for (const char *p = prefix; *p != '\0'; p++) {
      h = (h ^ (uint8_t) *p) * UINT64_C(1099511628211);
   }
   return (int64_t) (h >> 1);
}

static void
backend_log_nothing(ferret_log_level_t level, const char *backend_name, const char *format, ...)
{
   (void) level;
   (void) backend_name;
   (void) format;
}
