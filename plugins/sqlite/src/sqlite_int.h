/*
 * sqlite_int.h: types and functions private to the SQLite backend (plugins/sqlite/README.md,
 * docs/rfc/0005-sqlite-layout.md).
 *
 * Every function here is hidden: the plugin is built with -fvisibility=hidden and exports only
 * ferret_backend_entry() (sqlite.c).
 */
#ifndef SQ_SQLITE_INT_H
#define SQ_SQLITE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include <ferret/backend.h>

#define SQ_BACKEND_NAME "sqlite"

/* Statements kept prepared per database connection of a session. */
#define SQ_STMT_CACHE 32
/* Database files a session keeps open while no cursor or transaction pins them. */
#define SQ_MAX_DBS 16
/* Idle read-only connections a session keeps per database for cursors. */
#define SQ_MAX_IDLE_READERS 4
/* The page cache (KiB) of a reader opened while SQ_MAX_IDLE_READERS others are in use: such a
 * reader serves one cursor and is closed after it. With SQLite's default (2 MiB) 64 concurrent
 * scans held 115 MB that glibc kept after the readers closed. */
#define SQ_TRANSIENT_READER_CACHE_KIB 256
/* Collection -> table mappings a session keeps per database. */
#define SQ_NAME_CACHE 16
/* Room for "c_<int64>" plus the NUL. */
#define SQ_TABLE_NAME_SIZE 32

typedef struct registry_file registry_file_t;

struct ferret_backend {
   const ferret_host_t *host; /* borrowed; valid until the process exits */
   char *data_dir;            /* owned */
   const char *synchronous;   /* static string: "FULL" or "NORMAL" */
   int busy_timeout_ms;
   pthread_mutex_t lock;   /* guards files */
   registry_file_t *files; /* owned; the database files some session has open */
   /* Validate the sessions' collection -> table caches (session_name_find()). A DDL bumps
    * ddl_active and ddl_generation before it changes the catalog and bumps the generation
    * again, then drops ddl_active, after it committed or rolled back. */
   atomic_uint_fast64_t ddl_generation;
   atomic_int ddl_active;
};

typedef struct session_stmt {
   char *sql;          /* owned */
   sqlite3_stmt *stmt; /* owned; always reset when not in use */
   uint64_t used;      /* the session clock when last used, for eviction */
} session_stmt_t;

/* Statements kept prepared on one connection, least recently used evicted. */
typedef struct session_stmts {
   session_stmt_t slots[SQ_STMT_CACHE];
   uint64_t clock;
} session_stmts_t;

/* A read-only connection for cursors outside a transaction, with its own statements: a
 * reader serves one cursor at a time, so its cached statements are never shared. */
typedef struct session_reader {
   sqlite3 *conn; /* owned (through the registry) */
   session_stmts_t stmts;
   bool transient; /* opened beyond the idle pool's size: small cache, never pooled */
} session_reader_t;

/* One cached collection -> table mapping. */
typedef struct session_name {
   char *collection; /* owned; NULL for an empty slot */
   char table[SQ_TABLE_NAME_SIZE];
   uint64_t generation; /* backend->ddl_generation when the catalog was read */
   uint64_t used;
} session_name_t;

/* A database file as one session sees it. */
typedef struct session_db {
   ferret_session_t *session; /* borrowed; owns the entry */
   char *name;                /* owned; the MongoDB database name */
   sqlite3 *main;         /* owned (through the registry); writes, catalog reads, cursors inside a
                           * transaction */
   session_stmts_t stmts; /* on main */
   session_name_t names[SQ_NAME_CACHE];
   uint64_t names_clock;
   session_reader_t *idle[SQ_MAX_IDLE_READERS]; /* owned; readers waiting for the next cursor */
   size_t idle_count;
   int readers_out; /* readers lent to cursors */
   int cursors;     /* open cursors using this entry; such an entry is never evicted */
   bool in_txn;     /* main holds the session transaction's BEGIN IMMEDIATE */
   uint64_t used;   /* session clock when last used */
} session_db_t;

struct ferret_session {
   ferret_backend_t *backend; /* borrowed; outlives the session */
   session_db_t **dbs;        /* owned, and each entry */
   size_t db_count;
   size_t db_capacity;
   bool txn;      /* begin() was called and neither commit() nor abort() yet */
   bool ddl_held; /* this session counts in backend->ddl_active (session_ddl_enter()) */
   uint64_t clock;
};

/* ---- names.c: database name <-> file name ---- */

/* Writes the file name (without directory) for db into out. Returns false when it does not
 * fit or db is empty. */
bool names_encode_db(const char *db, char *out, size_t out_size);
/* Decodes a directory entry; false when it is not one of ours. */
bool names_decode_db(const char *file_name, char *out, size_t out_size);

/* ---- registry.c: the database files open in this process ---- */

/* Opens a connection to db's file, creating it when create is true. *out is NULL (and the
 * status OK) when the file does not exist and create is false. The connection is in WAL mode
 * with the configured synchronous level, busy timeout and catalog table. */
ferret_status_t registry_open(ferret_backend_t *backend, const char *db, bool create, sqlite3 **out,
                              ferret_error_t *error);
/* Closes a connection from registry_open(); every statement on it must be finalized. The last
 * connection of a dropped database that holds no collection unlinks the file. */
void registry_close(ferret_backend_t *backend, const char *db, sqlite3 *conn);
/* Marks db's file for removal once no connection of this process has it open. */
void registry_mark_dropped(ferret_backend_t *backend, const char *db);
void registry_free(ferret_backend_t *backend);
/* The full path of db's file into out; false when it does not fit. */
bool registry_path(const ferret_backend_t *backend, const char *db, char *out, size_t size);

/* ---- session.c: sessions, their connections, statements and transactions ---- */

ferret_status_t session_open(ferret_backend_t *backend, ferret_session_t **out,
                             ferret_error_t *error);
void session_close(ferret_session_t *session);
ferret_status_t session_begin(ferret_session_t *session, ferret_error_t *error);
ferret_status_t session_commit(ferret_session_t *session, ferret_error_t *error);
void session_abort(ferret_session_t *session);

/* The session's entry for db, opening the file on first use. *out is NULL (status OK) when the
 * file does not exist and create is false. The entry stays valid until session_trim(). */
ferret_status_t session_db_get(ferret_session_t *session, const char *db, bool create,
                               session_db_t **out, ferret_error_t *error);
/* Closes the entry's connections now if nothing pins it; used after drop_database. */
void session_db_release(ferret_session_t *session, session_db_t *entry);
/* Closes least recently used entries beyond SQ_MAX_DBS that nothing pins. Called at the end
 * of each method, never while the method still holds an entry. */
void session_trim(ferret_session_t *session);

/* A cached prepared statement on entry->main; reset it with session_stmt_done(). */
ferret_status_t session_prepare(session_db_t *entry, const char *sql, sqlite3_stmt **out,
                                ferret_error_t *error);
/* The same on any connection, cached in stmts. */
ferret_status_t session_prepare_on(session_stmts_t *stmts, sqlite3 *conn, const char *sql,
                                   sqlite3_stmt **out, ferret_error_t *error);
void session_stmt_done(sqlite3_stmt *stmt);
/* Drops cached statements whose SQL mentions table (after a DROP TABLE), on main and on the
 * idle readers. */
void session_forget_table(session_db_t *entry, const char *table);

/*
 * The collection -> table cache. session_name_find() fills table and returns true when a
 * mapping is cached and no catalog change happened since it was read; otherwise it sets *tag
 * to what session_name_store() needs (0: do not cache, a catalog change is under way or the
 * session is inside a transaction, which reads its own snapshot). The tag is taken before
 * the catalog read, so a change committed after it invalidates what that read returned.
 */
bool session_name_find(session_db_t *entry, const char *collection, char table[SQ_TABLE_NAME_SIZE],
                       uint64_t *tag);
void session_name_store(session_db_t *entry, const char *collection, const char *table,
                        uint64_t tag);
/* Called before any catalog change (create, drop, rename): until session_ddl_settle(), every
 * session reads the catalog instead of its cache. */
void session_ddl_enter(ferret_session_t *session);
/* After the change committed or rolled back (outside a transaction; a transaction settles at
 * commit or abort). Called by session_trim(). */
void session_ddl_settle(ferret_session_t *session);

/* Starts a write on entry->main: BEGIN IMMEDIATE, or a savepoint inside the session's
 * transaction. Every successful call is paired with session_write_end(). */
ferret_status_t session_write_begin(ferret_session_t *session, session_db_t *entry,
                                    ferret_error_t *error);
/* Commits (commit true) or rolls back what session_write_begin() started. With commit true a
 * failed COMMIT rolls back and returns the failure. */
ferret_status_t session_write_end(ferret_session_t *session, session_db_t *entry, bool commit,
                                  ferret_error_t *error);
/* Before reading through entry->main: inside a transaction, joins it. */
ferret_status_t session_read_begin(ferret_session_t *session, session_db_t *entry,
                                   ferret_error_t *error);

/* A connection for a cursor outside a transaction; give it back with session_reader_put(). */
ferret_status_t session_reader_get(ferret_session_t *session, session_db_t *entry,
                                   session_reader_t **out, ferret_error_t *error);
void session_reader_put(ferret_session_t *session, session_db_t *entry, session_reader_t *reader);

/* Fills *error from SQLite's state and returns the matching status. what says what failed. */
ferret_status_t session_error(sqlite3 *conn, int rc, const char *what, ferret_error_t *error);
/* Sets a message and returns status. */
ferret_status_t session_fail(ferret_error_t *error, ferret_status_t status, const char *format, ...)
   __attribute__((format(printf, 3, 4)));
/* Runs SQL without results. */
ferret_status_t session_exec(sqlite3 *conn, const char *sql, ferret_error_t *error);

/* SQLite skips the busy handler where waiting could deadlock (a COMMIT, a journal mode
 * change); such steps retry here instead. Zero-initialize one per step. */
typedef struct {
   int waited_ms;
   int delay_ms;
} busy_backoff_t;

/* True after sleeping when rc is SQLITE_BUSY and the busy timeout is not used up: retry. */
bool session_busy_backoff(const ferret_backend_t *backend, int rc, busy_backoff_t *backoff);

/* ---- catalog.c: databases and collections ---- */

/* Finds the table of collection in the catalog through stmt, a prepared
 * "SELECT table_name FROM _ferret_collections WHERE name = ?1". table is empty when absent. */
ferret_status_t catalog_lookup(sqlite3 *conn, sqlite3_stmt *stmt, const char *collection,
                               char table[SQ_TABLE_NAME_SIZE], ferret_error_t *error);
/* The same through the entry's statement cache and name cache. */
ferret_status_t catalog_lookup_main(session_db_t *entry, const char *collection,
                                    char table[SQ_TABLE_NAME_SIZE], ferret_error_t *error);
/* The same on a reader connection outside a transaction. */
ferret_status_t catalog_lookup_reader(session_db_t *entry, session_reader_t *reader,
                                      const char *collection, char table[SQ_TABLE_NAME_SIZE],
                                      ferret_error_t *error);
/* Creates a collection; the caller holds a write transaction and knows it is absent. */
ferret_status_t catalog_create_locked(session_db_t *entry, const char *collection,
                                      const uint8_t *options, size_t options_len,
                                      char table[SQ_TABLE_NAME_SIZE], ferret_error_t *error);

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

/* ---- docs.c: writes ---- */

ferret_status_t docs_insert(ferret_session_t *session, const ferret_ns_t *ns,
                            const ferret_doc_t *docs, size_t count, size_t *inserted,
                            ferret_error_t *error);
ferret_status_t docs_replace(ferret_session_t *session, const ferret_ns_t *ns,
                             const uint8_t *expected, size_t expected_len, const ferret_doc_t *doc,
                             bool *replaced, ferret_error_t *error);
ferret_status_t docs_delete_one(ferret_session_t *session, const ferret_ns_t *ns,
                                const uint8_t *id_key, size_t id_key_len, const uint8_t *expected,
                                size_t expected_len, bool *deleted, ferret_error_t *error);

/* ---- cursor.c: reads ---- */

ferret_status_t cursor_query(ferret_session_t *session, const ferret_ns_t *ns,
                             ferret_query_t *query, ferret_cursor_t **out, ferret_error_t *error);
ferret_status_t cursor_next(ferret_cursor_t *cursor, const uint8_t **bson, size_t *len,
                            ferret_error_t *error);
void cursor_close(ferret_cursor_t *cursor);
ferret_status_t cursor_explain(ferret_session_t *session, const ferret_ns_t *ns,
                               ferret_query_t *query,
                               void (*fn)(void *ctx, const uint8_t *bson, size_t len), void *ctx,
                               ferret_error_t *error);

#endif /* SQ_SQLITE_INT_H */
