/*
 * fixture.c: one trivial backend, built many times with different FIXTURE_* macros, each
 * build breaking exactly one rule of the ABI (include/ferret/backend.h) so that the loader's
 * tests (tests/unit/backend/test_loader.c) can prove each check and its message.
 *
 * Macros, all optional; the defaults give a well-formed 1.0 plugin named "fixture":
 *   FIXTURE_NAME            descriptor name
 *   FIXTURE_MAGIC           descriptor magic
 *   FIXTURE_ABI_MAJOR       descriptor abi_major
 *   FIXTURE_ABI_MINOR       descriptor abi_minor
 *   FIXTURE_STRUCT_SIZE     descriptor struct_size
 *   FIXTURE_METHODS_SIZE    method table struct_size
 *   FIXTURE_OMIT            the name of one method to leave NULL
 *   FIXTURE_NO_ENTRY        export no ferret_backend_entry
 *   FIXTURE_NULL_DESCRIPTOR ferret_backend_entry returns NULL
 *   FIXTURE_NO_VERSION      descriptor version NULL
 *
 * The optional methods are always filled in, so that a table whose struct_size stops before
 * them proves the loader reads nothing past struct_size.
 */
#include <stdlib.h>
#include <string.h>

#include <ferret/backend.h>

#ifndef FIXTURE_NAME
#define FIXTURE_NAME "fixture"
#endif
#ifndef FIXTURE_MAGIC
#define FIXTURE_MAGIC FERRET_BACKEND_MAGIC
#endif
#ifndef FIXTURE_ABI_MAJOR
#define FIXTURE_ABI_MAJOR FERRET_ABI_MAJOR
#endif
#ifndef FIXTURE_ABI_MINOR
#define FIXTURE_ABI_MINOR FERRET_ABI_MINOR
#endif
#ifndef FIXTURE_STRUCT_SIZE
#define FIXTURE_STRUCT_SIZE sizeof(ferret_backend_descriptor_t)
#endif
#ifndef FIXTURE_METHODS_SIZE
#define FIXTURE_METHODS_SIZE sizeof(ferret_backend_methods_t)
#endif
#ifdef FIXTURE_NO_VERSION
#define FIXTURE_VERSION NULL
#else
#define FIXTURE_VERSION "0.0.1"
#endif

struct ferret_backend {
   int opened;
};

struct ferret_session {
   ferret_backend_t *backend;
};

struct ferret_cursor {
   int done;
};

static const ferret_host_t *fixture_host;

static ferret_status_t
fx_open(const ferret_host_t *host, const ferret_config_t *config, ferret_backend_t **out,
        ferret_error_t *error)
{
   (void) config;
   *out = NULL;
   /* The host given to open() must be the one the entry point was given. */
   if (host != fixture_host || host->abi_major != FERRET_ABI_MAJOR) {
      strcpy(error->message, "host differs from the one passed to the entry point");
      return FERRET_ERR_INTERNAL;
   }
   *out = calloc(1, sizeof **out);
   if (!*out) {
      return FERRET_ERR_NO_MEMORY;
   }
   (*out)->opened = 1;
   return FERRET_OK;
}

static void
fx_close(ferret_backend_t *backend)
{
   free(backend);
}

static ferret_status_t
fx_session_open(ferret_backend_t *backend, ferret_session_t **out, ferret_error_t *error)
{
   (void) error;
   *out = calloc(1, sizeof **out);
   if (!*out) {
      return FERRET_ERR_NO_MEMORY;
   }
   (*out)->backend = backend;
   return FERRET_OK;
}

static void
fx_session_close(ferret_session_t *session)
{
   free(session);
}

static ferret_status_t
fx_list_databases(ferret_session_t *session, ferret_name_fn fn, void *ctx, ferret_error_t *error)
{
   (void) session;
   (void) fn;
   (void) ctx;
   (void) error;
   return FERRET_OK;
}

static ferret_status_t
fx_drop_database(ferret_session_t *session, const char *db, ferret_error_t *error)
{
   (void) session;
   (void) db;
   (void) error;
   return FERRET_OK;
}

static ferret_status_t
fx_list_collections(ferret_session_t *session, const ferret_ns_t *ns, ferret_name_fn fn, void *ctx,
                    ferret_error_t *error)
{
   (void) session;
   (void) ns;
   (void) fn;
   (void) ctx;
   (void) error;
   return FERRET_OK;
}

static ferret_status_t
fx_create_collection(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *options,
                     size_t options_len, ferret_error_t *error)
{
   (void) session;
   (void) ns;
   (void) options;
   (void) options_len;
   (void) error;
   return FERRET_OK;
}

static ferret_status_t
fx_drop_collection(ferret_session_t *session, const ferret_ns_t *ns, ferret_error_t *error)
{
   (void) session;
   (void) ns;
   (void) error;
   return FERRET_ERR_NAMESPACE_NOT_FOUND;
}

static ferret_status_t
fx_rename_collection(ferret_session_t *session, const ferret_ns_t *from, const ferret_ns_t *to,
                     bool drop_target, ferret_error_t *error)
{
   (void) session;
   (void) from;
   (void) to;
   (void) drop_target;
   (void) error;
   return FERRET_ERR_NAMESPACE_NOT_FOUND;
}

static ferret_status_t
fx_insert(ferret_session_t *session, const ferret_ns_t *ns, const ferret_doc_t *docs, size_t count,
          size_t *inserted, ferret_error_t *error)
{
   (void) session;
   (void) ns;
   (void) docs;
   (void) error;
   *inserted = count;
   return FERRET_OK;
}

static ferret_status_t
fx_replace(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *expected,
           size_t expected_len, const ferret_doc_t *doc, bool *replaced, ferret_error_t *error)
{
   (void) session;
   (void) ns;
   (void) expected;
   (void) expected_len;
   (void) doc;
   (void) error;
   *replaced = false;
   return FERRET_OK;
}

static ferret_status_t
fx_delete_one(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *id_key,
              size_t id_key_len, const uint8_t *expected, size_t expected_len, bool *deleted,
              ferret_error_t *error)
{
   (void) session;
   (void) ns;
   (void) id_key;
   (void) id_key_len;
   (void) expected;
   (void) expected_len;
   (void) error;
   *deleted = false;
   return FERRET_OK;
}

static ferret_status_t
fx_query(ferret_session_t *session, const ferret_ns_t *ns, ferret_query_t *query,
         ferret_cursor_t **out, ferret_error_t *error)
{
   (void) session;
   (void) ns;
   (void) query;
   (void) error;
   *out = calloc(1, sizeof **out);
   return *out ? FERRET_OK : FERRET_ERR_NO_MEMORY;
}

static ferret_status_t
fx_cursor_next(ferret_cursor_t *cursor, const uint8_t **bson, size_t *len, ferret_error_t *error)
{
   (void) error;
   cursor->done = 1;
   *bson = NULL;
   *len = 0;
   return FERRET_OK;
}

static void
fx_cursor_close(ferret_cursor_t *cursor)
{
   free(cursor);
}

static ferret_status_t
fx_stats(ferret_session_t *session, const ferret_ns_t *ns, ferret_stats_t *out,
         ferret_error_t *error)
{
   (void) session;
   (void) ns;
   (void) error;
   out->count = 0;
   return FERRET_OK;
}

static ferret_status_t
fx_collection_options(ferret_session_t *session, const ferret_ns_t *ns,
                      void (*fn)(void *ctx, const uint8_t *bson, size_t len), void *ctx,
                      ferret_error_t *error)
{
   (void) session;
   (void) ns;
   (void) fn;
   (void) ctx;
   (void) error;
   return FERRET_ERR_NAMESPACE_NOT_FOUND;
}

static ferret_status_t
fx_begin(ferret_session_t *session, ferret_error_t *error)
{
   (void) session;
   (void) error;
   return FERRET_OK;
}

static ferret_status_t
fx_commit(ferret_session_t *session, ferret_error_t *error)
{
   (void) session;
   (void) error;
   return FERRET_OK;
}

static void
fx_abort(ferret_session_t *session)
{
   (void) session;
}

/* FIXTURE_OMIT=query appends `.query = NULL`, overriding the earlier initializer: the one
 * place a designated initializer is meant to be overridden, so the warning is silenced. */
#ifdef FIXTURE_OMIT
#define FIXTURE_OMIT_INIT , .FIXTURE_OMIT = NULL
#if defined(__clang__)
#pragma clang diagnostic ignored "-Winitializer-overrides"
#else
#pragma GCC diagnostic ignored "-Woverride-init"
#endif
#else
#define FIXTURE_OMIT_INIT
#endif

static const ferret_backend_methods_t methods = {.struct_size = FIXTURE_METHODS_SIZE,
                                                 .open = fx_open,
                                                 .close = fx_close,
                                                 .session_open = fx_session_open,
                                                 .session_close = fx_session_close,
                                                 .list_databases = fx_list_databases,
                                                 .drop_database = fx_drop_database,
                                                 .list_collections = fx_list_collections,
                                                 .create_collection = fx_create_collection,
                                                 .drop_collection = fx_drop_collection,
                                                 .rename_collection = fx_rename_collection,
                                                 .insert = fx_insert,
                                                 .replace = fx_replace,
                                                 .delete_one = fx_delete_one,
                                                 .query = fx_query,
                                                 .cursor_next = fx_cursor_next,
                                                 .cursor_close = fx_cursor_close,
                                                 .stats = fx_stats,
                                                 .collection_options = fx_collection_options,
                                                 .begin = fx_begin,
                                                 .commit = fx_commit,
                                                 .abort = fx_abort FIXTURE_OMIT_INIT};

static const ferret_backend_descriptor_t descriptor = {
   .magic = FIXTURE_MAGIC,
   .abi_major = FIXTURE_ABI_MAJOR,
   .abi_minor = FIXTURE_ABI_MINOR,
   .struct_size = FIXTURE_STRUCT_SIZE,
   .name = FIXTURE_NAME,
   .version = FIXTURE_VERSION,
   .capabilities = FERRET_CAP_TRANSACTIONS,
   .config_keys = NULL,
   .methods = &methods,
};

#ifdef FIXTURE_NO_ENTRY
/* Exported, but under a name the loader does not look for. */
FERRET_EXPORT const ferret_backend_descriptor_t *
fixture_entry(const ferret_host_t *host)
{
   fixture_host = host;
   return &descriptor;
}
#else
FERRET_EXPORT const ferret_backend_descriptor_t *
ferret_backend_entry(const ferret_host_t *host)
{
   fixture_host = host;
#ifdef FIXTURE_NULL_DESCRIPTOR
   (void) descriptor;
   return NULL;
#else
   return &descriptor;
#endif
}
#endif
