/*
 * ferret/backend.h: the storage-backend ABI, version 1.0.
 *
 * This is the only header a backend needs. A backend is a shared object that exports exactly
 * one symbol, ferret_backend_entry(), which returns a static descriptor: the ABI version the
 * backend was built against, its name, its capabilities and its method table. The design and
 * the rules for growing this header are in docs/rfc/0001-backend-abi.md; pushdown is in
 * docs/rfc/0002-pushdown.md.
 *
 * Rules that hold for every declaration below:
 * - Plain C. No libbson or driver types: documents cross the boundary as BSON bytes.
 * - Structs and the method table only ever grow at the end. Each starts with struct_size so
 *   that the reader can tell which fields exist; a field past struct_size reads as 0 / NULL.
 * - Every pointer says who owns it. "borrowed" means the callee must not free it and must not
 *   keep it past the stated lifetime; "owned by the backend" means the backend frees it.
 * - Methods return a ferret_status_t and take a ferret_error_t * last. On failure the backend
 *   writes a short message (lower-case, no trailing period) into error->message; the core maps
 *   the status to a MongoDB error code. Each method lists the statuses it may return; the
 *   core treats any other as FERRET_ERR_INTERNAL.
 */
#ifndef FERRET_BACKEND_H
#define FERRET_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FERRET_ABI_MAJOR 1
#define FERRET_ABI_MINOR 0

/* "FERB": the first field of every descriptor, checked before anything else is read. */
#define FERRET_BACKEND_MAGIC UINT32_C(0x46455242)

/* The one symbol a backend exports, as a string for dlsym(). */
#define FERRET_BACKEND_ENTRY_SYMBOL "ferret_backend_entry"

#if defined(__GNUC__)
#define FERRET_EXPORT __attribute__((visibility("default")))
#else
#define FERRET_EXPORT
#endif

/* ---------------------------------------------------------------------------------------------
 * Status codes and errors
 * ------------------------------------------------------------------------------------------- */

typedef enum ferret_status {
   FERRET_OK = 0,
   FERRET_ERR_NAMESPACE_NOT_FOUND = 1, /* the database or collection does not exist */
   FERRET_ERR_NAMESPACE_EXISTS = 2,    /* create or rename onto an existing collection */
   FERRET_ERR_DUPLICATE_KEY = 3,       /* a document with the same _id key already exists */
   FERRET_ERR_INVALID_NAME = 4,        /* a name the backend cannot store */
   FERRET_ERR_UNSUPPORTED = 5,         /* the backend does not do this (e.g. a capped option) */
   FERRET_ERR_TOO_LARGE = 6,           /* a document or batch over the backend's limit */
   FERRET_ERR_UNAVAILABLE = 7,         /* storage unreachable or busy; the command may be retried */
   FERRET_ERR_NO_MEMORY = 8,
   FERRET_ERR_INTERNAL = 9,        /* anything else; the message says what */
   FERRET_ERR_PLAN_UNUSABLE = 10,  /* plan(): this combination of terms cannot be used */
   FERRET_ERR_WRITE_CONFLICT = 11, /* a transaction lost a race; the core retries */
} ferret_status_t;

#define FERRET_ERROR_MESSAGE_SIZE 512

/* Caller storage; the core zeroes it before each call. */
typedef struct ferret_error {
   char message[FERRET_ERROR_MESSAGE_SIZE];
   /* Native code for the log only, e.g. a SQLSTATE or an SQLite extended result code. */
   char native_code[16];
} ferret_error_t;

/* ---------------------------------------------------------------------------------------------
 * Host services: what the core offers a backend. Valid from ferret_backend_entry() until
 * the process exits. A backend never links against the core.
 * ------------------------------------------------------------------------------------------- */

typedef enum ferret_log_level {
   FERRET_LOG_DEBUG = 0,
   FERRET_LOG_INFO = 1,
   FERRET_LOG_WARNING = 2,
   FERRET_LOG_ERROR = 3,
} ferret_log_level_t;

/* One `key = value` line of the backend's section in the configuration file. */
typedef struct ferret_config_item {
   const char *key;   /* borrowed; valid during open() */
   const char *value; /* borrowed; valid during open() */
   const char *file;  /* borrowed; where the line is, for error messages */
   uint32_t line;
} ferret_config_item_t;

/* The backend's section. The core has already rejected keys the descriptor does not list. */
typedef struct ferret_config {
   size_t struct_size;
   const ferret_config_item_t *items; /* borrowed; valid during open() */
   size_t count;
} ferret_config_t;

typedef struct ferret_host {
   size_t struct_size;
   uint16_t abi_major;
   uint16_t abi_minor;
   const char *server_version; /* borrowed; e.g. "0.1.0" */

   /* Writes one line to the server log, prefixed with the backend's name. Thread-safe. */
   void (*log)(ferret_log_level_t level, const char *backend_name, const char *format, ...)
#if defined(__GNUC__)
      __attribute__((format(printf, 3, 4)))
#endif
      ;
} ferret_host_t;

/* ---------------------------------------------------------------------------------------------
 * Data that crosses the boundary
 * ------------------------------------------------------------------------------------------- */

/* A namespace. Names are UTF-8, already validated by the core against MongoDB's rules. */
typedef struct ferret_ns {
   const char *db;         /* borrowed; valid during the call */
   const char *collection; /* borrowed; valid during the call; NULL where only a db is meant */
} ferret_ns_t;

/*
 * A document to write. id_key is the core's canonical encoding of the document's _id: two
 * _id values are equal under MongoDB's rules (1, 1.0 and NumberLong(1) are one value) exactly
 * when their keys are equal byte for byte. Backends store it as the primary key and never
 * interpret it or the BSON.
 */
typedef struct ferret_doc {
   const uint8_t *bson; /* borrowed; valid during the call */
   size_t bson_len;
   const uint8_t *id_key; /* borrowed; valid during the call */
   size_t id_key_len;
} ferret_doc_t;

/* Statistics of a collection, or of a database when ns->collection is NULL. */
typedef struct ferret_stats {
   size_t struct_size;
   int64_t count;        /* documents */
   int64_t data_size;    /* bytes of BSON stored */
   int64_t storage_size; /* bytes on disk, including overhead */
   int64_t index_count;
   int64_t index_size;
   int64_t collections; /* database statistics only */
} ferret_stats_t;

/* ---------------------------------------------------------------------------------------------
 * Queries and pushdown (docs/rfc/0002-pushdown.md)
 *
 * The core hands the backend the whole query and a normalized list of terms: the top-level
 * conjunction of the filter, one path/operator/value each. The backend says, per term, whether
 * it applied the term exactly; it may return a superset of the matching documents, and the core
 * always rechecks the whole filter, so leaving a term unapplied is always correct. Sort, skip
 * and limit are exact or nothing, and the core only offers skip and limit when it may take them.
 * ------------------------------------------------------------------------------------------- */

typedef enum ferret_op {
   FERRET_OP_EQ = 0,
   FERRET_OP_GT = 1,
   FERRET_OP_GTE = 2,
   FERRET_OP_LT = 3,
   FERRET_OP_LTE = 4,
   FERRET_OP_NE = 5,
   FERRET_OP_IN = 6,     /* value is an array */
   FERRET_OP_EXISTS = 7, /* value is a boolean */
} ferret_op_t;

typedef struct ferret_term {
   const char *path; /* borrowed; dotted path, e.g. "a.b" */
   ferret_op_t op;
   /* The operand as a BSON document {"": value}; borrowed, valid during the call. */
   const uint8_t *value;
   size_t value_len;
   /* For EQ on "_id" only: the operand's id_key (see ferret_doc_t), else NULL. */
   const uint8_t *id_key;
   size_t id_key_len;
   /* Output: the backend applied this term exactly. Prefilled false by the core. */
   bool applied;
} ferret_term_t;

typedef struct ferret_sort_key {
   const char *path; /* borrowed; "$natural" for insertion order */
   int direction;    /* 1 or -1 */
} ferret_sort_key_t;

typedef struct ferret_query {
   size_t struct_size;
   /* The whole filter as BSON; borrowed, valid until the cursor is closed. Informational: the
    * backend may use it, but terms[] is the negotiated part. */
   const uint8_t *filter;
   size_t filter_len;

   ferret_term_t *terms; /* borrowed; the backend writes only the `applied` fields */
   size_t term_count;

   const ferret_sort_key_t *sort; /* borrowed; NULL when there is no sort */
   size_t sort_count;

   /* 0 means none. Offered only when every term can be applied and the sort consumed; the
    * backend applies both or neither. */
   int64_t skip;
   int64_t limit;

   /* Outputs, prefilled false by the core. */
   bool sort_applied;
   bool skip_limit_applied;
} ferret_query_t;

/* ---------------------------------------------------------------------------------------------
 * Opaque handles, each owned by the backend
 * ------------------------------------------------------------------------------------------- */

typedef struct ferret_backend ferret_backend_t; /* one per process; thread-safe */
typedef struct ferret_session ferret_session_t; /* one per worker; one thread at a time */
typedef struct ferret_cursor ferret_cursor_t;   /* belongs to the session that opened it */

/* Called once for each name listed; returning false stops the listing without an error. */
typedef bool (*ferret_name_fn)(void *ctx, const char *name /* borrowed; valid during the call */);

/* ---------------------------------------------------------------------------------------------
 * Capabilities
 * ------------------------------------------------------------------------------------------- */

#define FERRET_CAP_FILTER_PUSHDOWN (UINT64_C(1) << 0) /* query() may apply terms */
#define FERRET_CAP_SORT_PUSHDOWN (UINT64_C(1) << 1)   /* query() may apply sort */
#define FERRET_CAP_LIMIT_PUSHDOWN (UINT64_C(1) << 2)  /* query() may apply skip/limit */
#define FERRET_CAP_TRANSACTIONS (UINT64_C(1) << 3)    /* begin/commit/abort are present */
#define FERRET_CAP_EXPLAIN (UINT64_C(1) << 4)         /* explain is present */
#define FERRET_CAP_KNOWN_MASK ((UINT64_C(1) << 5) - 1)

/* ---------------------------------------------------------------------------------------------
 * The method table
 *
 * Threading: open and close run on the main thread, before the workers start and after they
 * stop. Every other method takes a session. A session and its cursors are used by one thread
 * at a time, not always the same thread: the core serializes calls on a session with a lock.
 * Distinct sessions are used concurrently.
 * ------------------------------------------------------------------------------------------- */

typedef struct ferret_backend_methods {
   size_t struct_size;

   /* ---- required ---- */

   /* Opens the backend from its configuration section. *out is owned by the backend until
    * close(). Statuses: INVALID_NAME (a bad config value; the message names file and line),
    * UNAVAILABLE, NO_MEMORY, INTERNAL. */
   ferret_status_t (*open)(const ferret_host_t *host, const ferret_config_t *config,
                           ferret_backend_t **out, ferret_error_t *error);
   /* Releases everything open() made. Called once, after every session is closed. */
   void (*close)(ferret_backend_t *backend);

   /* A session: the backend's per-worker state (connections, prepared statements).
    * Statuses: UNAVAILABLE, NO_MEMORY, INTERNAL. */
   ferret_status_t (*session_open)(ferret_backend_t *backend, ferret_session_t **out,
                                   ferret_error_t *error);
   /* Called after every cursor of the session is closed. */
   void (*session_close)(ferret_session_t *session);

   /* Lists databases that hold at least one collection, each name once, any order.
    * Statuses: UNAVAILABLE, INTERNAL. */
   ferret_status_t (*list_databases)(ferret_session_t *session, ferret_name_fn fn, void *ctx,
                                     ferret_error_t *error);
   /* Drops a database and every collection in it; dropping a missing database is OK. */
   ferret_status_t (*drop_database)(ferret_session_t *session, const char *db,
                                    ferret_error_t *error);
   /* Lists the collections of ns->db; a missing database lists nothing. */
   ferret_status_t (*list_collections)(ferret_session_t *session, const ferret_ns_t *ns,
                                       ferret_name_fn fn, void *ctx, ferret_error_t *error);
   /* Creates a collection, and its database if needed. options is the create command's
    * option document as BSON (borrowed; NULL for none); the backend stores it and returns it
    * from collection_options(). Statuses: NAMESPACE_EXISTS, INVALID_NAME, UNAVAILABLE,
    * INTERNAL. */
   ferret_status_t (*create_collection)(ferret_session_t *session, const ferret_ns_t *ns,
                                        const uint8_t *options, size_t options_len,
                                        ferret_error_t *error);
   /* Statuses: NAMESPACE_NOT_FOUND, UNAVAILABLE, INTERNAL. */
   ferret_status_t (*drop_collection)(ferret_session_t *session, const ferret_ns_t *ns,
                                      ferret_error_t *error);
   /* Renames from to to, possibly across databases. With drop_target an existing target is
    * replaced, atomically where the backend can. Statuses: NAMESPACE_NOT_FOUND (from),
    * NAMESPACE_EXISTS (to, without drop_target), INVALID_NAME, UNAVAILABLE, INTERNAL. */
   ferret_status_t (*rename_collection)(ferret_session_t *session, const ferret_ns_t *from,
                                        const ferret_ns_t *to, bool drop_target,
                                        ferret_error_t *error);

   /* Inserts docs in order, creating the collection if needed. Documents up to the first
    * failure are stored and durable when this returns; *inserted counts them (caller storage,
    * set even on failure). Statuses: DUPLICATE_KEY (docs[*inserted] has an existing _id),
    * TOO_LARGE, UNAVAILABLE, INTERNAL. */
   ferret_status_t (*insert)(ferret_session_t *session, const ferret_ns_t *ns,
                             const ferret_doc_t *docs, size_t count, size_t *inserted,
                             ferret_error_t *error);

   /* Replaces the document whose _id key is doc->id_key, but only while it is still
    * byte-for-byte `expected` (borrowed, the document as the core read it): a compare-and-swap
    * that keeps read-modify-write updates from losing each other's changes. *replaced (caller
    * storage) says whether it happened. A missing document or collection is not an error:
    * *replaced is false. Statuses: TOO_LARGE, UNAVAILABLE, INTERNAL. */
   ferret_status_t (*replace)(ferret_session_t *session, const ferret_ns_t *ns,
                              const uint8_t *expected, size_t expected_len, const ferret_doc_t *doc,
                              bool *replaced, ferret_error_t *error);

   /* Deletes the document with this _id key while it is still byte-for-byte `expected`
    * (borrowed; NULL deletes whatever is there). *deleted (caller storage) says whether it
    * happened. Statuses: UNAVAILABLE, INTERNAL. */
   ferret_status_t (*delete_one)(ferret_session_t *session, const ferret_ns_t *ns,
                                 const uint8_t *id_key, size_t id_key_len, const uint8_t *expected,
                                 size_t expected_len, bool *deleted, ferret_error_t *error);

   /* Opens a cursor over the collection. query is borrowed until cursor_close(); the backend
    * writes only its output fields. A missing collection yields an empty cursor, not an error.
    * *out is owned by the backend until cursor_close(). Statuses: UNAVAILABLE, INTERNAL. */
   ferret_status_t (*query)(ferret_session_t *session, const ferret_ns_t *ns, ferret_query_t *query,
                            ferret_cursor_t **out, ferret_error_t *error);
   /* The next document: *bson is borrowed, valid until the next cursor_next() or
    * cursor_close(); *bson is NULL at the end. Statuses: UNAVAILABLE, INTERNAL. */
   ferret_status_t (*cursor_next)(ferret_cursor_t *cursor, const uint8_t **bson, size_t *len,
                                  ferret_error_t *error);
   /* Closes a cursor at any point, finished or not. */
   void (*cursor_close)(ferret_cursor_t *cursor);

   /* Statistics; *out is caller storage with struct_size set by the caller. A missing
    * namespace gives zeroes. Statuses: UNAVAILABLE, INTERNAL. */
   ferret_status_t (*stats)(ferret_session_t *session, const ferret_ns_t *ns, ferret_stats_t *out,
                            ferret_error_t *error);

   /* Returns the options stored by create_collection() through fn (called at most once with
    * the BSON bytes, borrowed for the call); a collection created implicitly has none.
    * Statuses: NAMESPACE_NOT_FOUND, UNAVAILABLE, INTERNAL. */
   ferret_status_t (*collection_options)(ferret_session_t *session, const ferret_ns_t *ns,
                                         void (*fn)(void *ctx, const uint8_t *bson, size_t len),
                                         void *ctx, ferret_error_t *error);

   /* ---- optional: NULL when absent; the capability bit says the same ---- */

   /* A transaction on the session covering every write until commit or abort. The core uses
    * it to make multi-document commands atomic where the backend can (CAP_TRANSACTIONS).
    * Statuses: WRITE_CONFLICT, UNAVAILABLE, INTERNAL. */
   ferret_status_t (*begin)(ferret_session_t *session, ferret_error_t *error);
   ferret_status_t (*commit)(ferret_session_t *session, ferret_error_t *error);
   void (*abort)(ferret_session_t *session);

   /* Describes how query() would run this query, as a BSON document passed to fn (borrowed
    * for the call), and fills the query's output fields exactly as query() would
    * (CAP_EXPLAIN). Statuses: UNAVAILABLE, INTERNAL. */
   ferret_status_t (*explain)(ferret_session_t *session, const ferret_ns_t *ns,
                              ferret_query_t *query,
                              void (*fn)(void *ctx, const uint8_t *bson, size_t len), void *ctx,
                              ferret_error_t *error);
} ferret_backend_methods_t;

/* ---------------------------------------------------------------------------------------------
 * The descriptor
 * ------------------------------------------------------------------------------------------- */

typedef struct ferret_backend_descriptor {
   uint32_t magic;     /* FERRET_BACKEND_MAGIC */
   uint16_t abi_major; /* FERRET_ABI_MAJOR the backend was built with */
   uint16_t abi_minor; /* FERRET_ABI_MINOR the backend was built with */
   size_t struct_size; /* sizeof(ferret_backend_descriptor_t) as the backend saw it */

   const char *name;    /* e.g. "sqlite": the name the config's `backend` key selects */
   const char *version; /* the backend's own version, e.g. "1.0.0" */
   uint64_t capabilities;

   /* The keys its config section accepts, NULL-terminated; the core rejects any other. */
   const char *const *config_keys;

   const ferret_backend_methods_t *methods;
} ferret_backend_descriptor_t;

/*
 * The entry point. Returns a descriptor with static storage duration; it and everything it
 * points to must not change. host stays valid until the process exits. Must not fail and
 * must do no work beyond keeping the host pointer: the core checks the descriptor before it
 * calls anything else.
 */
typedef const ferret_backend_descriptor_t *(*ferret_backend_entry_fn)(const ferret_host_t *host);

#define FERRET_BACKEND_DESCRIPTOR_INIT(name_, version_, caps_, keys_, methods_)                    \
   {                                                                                               \
      FERRET_BACKEND_MAGIC, FERRET_ABI_MAJOR, FERRET_ABI_MINOR,                                    \
         sizeof(ferret_backend_descriptor_t), (name_), (version_), (caps_), (keys_), (methods_)    \
   }

#ifdef __cplusplus
}
#endif

#endif /* FERRET_BACKEND_H */
