/*
 * postgres_int.h: types and functions shared by the files of the PostgreSQL backend. Nothing
 * here is exported: the module is built with hidden visibility and exports only
 * ferret_backend_entry (backend.c). The storage layout is described in
 * docs/rfc/0006-postgres-layout.md.
 */
#ifndef PG_POSTGRES_INT_H
#define PG_POSTGRES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include <ferret/backend.h>

#define PG_BACKEND_NAME "postgres"
#define PG_BACKEND_VERSION "0.1.0"

/* The layout version written to the catalog's meta table; a newer one is refused. */
#define PG_LAYOUT_VERSION "1"

/* Generated identifiers are short ASCII: prefix (at most 32) + a decimal counter. */
#define PG_PREFIX_MAX 32
#define PG_IDENT_MAX 64
/* "schema"."table" with quotes, NUL included. */
#define PG_QUALIFIED_MAX (2 * PG_IDENT_MAX + 8)

#define PG_CACHE_SIZE 64
/* Named prepared statements a session keeps on its connection. */
#define PG_PREPARED_SIZE 32
#define PG_MAX_PARAMS 16

/* The process-wide state; immutable after open(), so sessions share it without locks. */
struct ferret_backend {
   const ferret_host_t *host; /* borrowed; valid until the process exits */
   char *conninfo;            /* owned; the [postgres] conninfo value, "" for libpq defaults */
   char prefix[PG_PREFIX_MAX + 1];
   char catalog[PG_IDENT_MAX + 1]; /* the catalog schema, "<prefix>catalog" */
   int64_t lock_key;               /* pg_advisory_xact_lock key that serializes catalog DDL */
   int fetch_size;                 /* the largest batch a cursor fetches */
};

typedef enum pg_txn {
   PG_TXN_NONE = 0,
   PG_TXN_ACTIVE = 1, /* begin() ran; every statement joins the transaction */
   PG_TXN_BROKEN = 2, /* the connection died inside begin()..commit(); only abort/commit clear it */
} pg_txn_t;

/* A resolved collection: where its documents live. */
typedef struct pg_cache_entry {
   char *key; /* owned; db + '\0' + collection + '\0', NULL for an empty slot */
   size_t key_len;
   char qualified[PG_QUALIFIED_MAX]; /* "schema"."table" */
} pg_cache_entry_t;

/* A statement prepared on the session's connection as "ferret_p<id>". */
typedef struct pg_prepared {
   char *sql; /* owned; NULL for an empty slot */
   unsigned id;
   uint64_t used;
} pg_prepared_t;

/* One per worker; used by one thread at a time. */
struct ferret_session {
   ferret_backend_t *backend; /* borrowed; outlives the session */
   PGconn *conn;              /* owned */
   pg_txn_t txn;
   int open_cursors;
   /* Collection name -> table. A table identifier names one collection for its whole life
    * (rename gives a new one), so a stale entry can only point at a missing table, which the
    * statement reports as undefined_table; the entry is then dropped and the call retried. */
   pg_cache_entry_t cache[PG_CACHE_SIZE];
   unsigned cache_next;
   /* Prepared statements, by SQL text; forgotten when the connection is reset, since the
    * server forgets them with the connection. */
   pg_prepared_t prepared[PG_PREPARED_SIZE];
   unsigned prepared_next_id;
   uint64_t prepared_clock;
};

/* Parameters of one statement; values are borrowed for the statement. */
typedef struct pg_params {
   int count;
   const char *values[PG_MAX_PARAMS];
   int lengths[PG_MAX_PARAMS];
   int formats[PG_MAX_PARAMS];
} pg_params_t;

/* ---- conn.c: connections, statements, errors ---- */

/* Sets error->message (printf style) and returns status. */
ferret_status_t conn_fail(ferret_error_t *error, ferret_status_t status, const char *format, ...)
   __attribute__((format(printf, 3, 4)));

/* Opens a connection with the configured conninfo. *out is owned by the caller (PQfinish),
 * set even on failure to NULL. Statuses: UNAVAILABLE, NO_MEMORY. */
ferret_status_t conn_connect(const ferret_backend_t *backend, PGconn **out, ferret_error_t *error);

/* Makes the session's connection usable before a call: notices a server that went away while
 * the session was idle and reconnects, unless a transaction was open on the lost connection.
 * Statuses: UNAVAILABLE. */
ferret_status_t conn_ready(ferret_session_t *session, ferret_error_t *error);

void conn_params_text(pg_params_t *params, const char *text /* borrowed */);
void conn_params_bytes(pg_params_t *params, const void *bytes /* borrowed */, size_t len);

/*
 * Runs one statement (params may be NULL; with no params it may hold several statements).
 * On OK, *out (when out is not NULL) is the result, owned by the caller (PQclear); on failure
 * *out is NULL and the status comes from conn_status(); `what` prefixes the message.
 * result_binary asks for binary results.
 */
ferret_status_t conn_exec(ferret_session_t *session, const char *what, const char *sql,
                          const pg_params_t *params, bool result_binary, PGresult **out,
                          ferret_error_t *error);

/* Like conn_exec(), with params, through a named statement prepared on first use (the SQL
 * must not vary per call, or the cache only churns). Falls back to conn_exec() when no slot
 * can be freed (inside a transaction). */
ferret_status_t conn_exec_prepared(ferret_session_t *session, const char *what, const char *sql,
                                   const pg_params_t *params, bool result_binary, PGresult **out,
                                   ferret_error_t *error);
/* Forgets every prepared statement (the connection was reset or closed). */
void conn_prepared_clear(ferret_session_t *session);

/* Like conn_exec() on a bare connection (open() has no session yet). */
ferret_status_t conn_exec_raw(PGconn *conn, const char *what, const char *sql,
                              const pg_params_t *params, bool result_binary, PGresult **out,
                              ferret_error_t *error);

/* The one mapping from a SQLSTATE (NULL when the server sent none) to a status. */
ferret_status_t conn_status(const char *sqlstate, bool connection_lost);

/* Statement helpers for a series of statements that must be atomic: starts a transaction
 * unless the session is inside begin()..commit() (then the statements join it). *own says
 * whether conn_txn_end() must finish it. */
ferret_status_t conn_txn_start(ferret_session_t *session, bool *own, ferret_error_t *error);
/* Commits (ok) or rolls back an own transaction; returns the commit's status or `status`. */
ferret_status_t conn_txn_end(ferret_session_t *session, bool own, ferret_status_t status,
                             ferret_error_t *error);

/* ---- catalog.c: databases, collections, the name cache ---- */

/* Creates the catalog schema and tables if missing; race-free across processes. */
ferret_status_t catalog_init(const ferret_backend_t *backend, PGconn *conn, ferret_error_t *error);

/*
 * Finds the table of ns (create: making the collection, and its database, when missing).
 * Without create, a missing collection is OK with *found false. qualified (caller storage of
 * PG_QUALIFIED_MAX bytes) receives "schema"."table".
 */
ferret_status_t catalog_resolve(ferret_session_t *session, const ferret_ns_t *ns, bool create,
                                char *qualified, bool *found, ferret_error_t *error);

/* Forgets the cached table of ns, after a statement found it missing. */
void catalog_forget(ferret_session_t *session, const ferret_ns_t *ns);
void catalog_cache_clear(ferret_session_t *session);

ferret_status_t catalog_list_databases(ferret_session_t *session, ferret_name_fn fn, void *ctx,
                                       ferret_error_t *error);
ferret_status_t catalog_drop_database(ferret_session_t *session, const char *db,
                                      ferret_error_t *error);
ferret_status_t catalog_list_collections(ferret_session_t *session, const ferret_ns_t *ns,
                                         ferret_name_fn fn, void *ctx, ferret_error_t *error);
ferret_status_t catalog_create_collection(ferret_session_t *session, const ferret_ns_t *ns,
                                          const uint8_t *options, size_t options_len,
                                          ferret_error_t *error);
ferret_status_t catalog_drop_collection(ferret_session_t *session, const ferret_ns_t *ns,
                                        ferret_error_t *error);
ferret_status_t catalog_rename_collection(ferret_session_t *session, const ferret_ns_t *from,
                                          const ferret_ns_t *to, bool drop_target,
                                          ferret_error_t *error);
ferret_status_t catalog_stats(ferret_session_t *session, const ferret_ns_t *ns, ferret_stats_t *out,
                              ferret_error_t *error);
ferret_status_t catalog_collection_options(ferret_session_t *session, const ferret_ns_t *ns,
                                           void (*fn)(void *ctx, const uint8_t *bson, size_t len),
                                           void *ctx, ferret_error_t *error);

/* ---- write.c: documents ---- */

ferret_status_t write_insert(ferret_session_t *session, const ferret_ns_t *ns,
                             const ferret_doc_t *docs, size_t count, size_t *inserted,
                             ferret_error_t *error);
ferret_status_t write_replace(ferret_session_t *session, const ferret_ns_t *ns,
                              const uint8_t *expected, size_t expected_len, const ferret_doc_t *doc,
                              bool *replaced, ferret_error_t *error);
ferret_status_t write_delete_one(ferret_session_t *session, const ferret_ns_t *ns,
                                 const uint8_t *id_key, size_t id_key_len, const uint8_t *expected,
                                 size_t expected_len, bool *deleted, ferret_error_t *error);

/* ---- query.c: cursors and explain ---- */

ferret_status_t query_open(ferret_session_t *session, const ferret_ns_t *ns, ferret_query_t *query,
                           ferret_cursor_t **out, ferret_error_t *error);
ferret_status_t query_next(ferret_cursor_t *cursor, const uint8_t **bson, size_t *len,
                           ferret_error_t *error);
void query_close(ferret_cursor_t *cursor);
ferret_status_t query_explain(ferret_session_t *session, const ferret_ns_t *ns,
                              ferret_query_t *query,
                              void (*fn)(void *ctx, const uint8_t *bson, size_t len), void *ctx,
                              ferret_error_t *error);

#endif /* PG_POSTGRES_INT_H */
