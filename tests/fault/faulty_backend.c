/*
 * faulty_backend.c: a test-only backend that wraps another one and fails the Kth call
 * (tests/fault/README.md, STYLE.md rule 17).
 *
 * Its config section names the backend to wrap (`target`, a path to its .so); open() loads it
 * and every method passes through, handles and all, except the one call the test picked,
 * which returns the status the test picked without calling through, so nothing was done. The
 * test finds the control block through a second exported symbol, fault_backend_control(),
 * which real backends never have (they export exactly one).
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <ferret/backend.h>

#include "faulty_backend.h"

/* The wrapped backend; set by open(), which runs once, before any other method. */
static const ferret_backend_methods_t *target;
static void *target_handle;
static const ferret_host_t *host_services;
static fault_backend_control_t control;

FERRET_EXPORT fault_backend_control_t *
fault_backend_control(void)
{
   return &control;
}

/* True when this call is the one to fail; fills *error then. */
static bool
inject(fault_method_t method, ferret_error_t *error, ferret_status_t *status)
{
   if (control.fail_at == 0) {
      return false;
   }
   control.calls++;
   control.seen[method]++;
   if (control.calls <= FAULT_TRACE_SIZE) {
      control.trace[control.calls - 1] = method;
   }
   if (control.calls != control.fail_at) {
      return false;
   }
   control.failed_method = method;
   control.injected = true;
   *status = control.status;
   snprintf(error->message, sizeof error->message, "injected failure of %s",
            fault_method_names[method]);
   return true;
}

#define INJECT(method)                                                                             \
   do {                                                                                            \
      ferret_status_t injected_;                                                                   \
      if (inject((method), error, &injected_)) {                                                   \
         return injected_;                                                                         \
      }                                                                                            \
   } while (0)

static ferret_status_t
fb_open(const ferret_host_t *host, const ferret_config_t *config, ferret_backend_t **out,
        ferret_error_t *error)
{
   const char *path = NULL;
   ferret_backend_entry_fn entry;
   const ferret_backend_descriptor_t *descriptor;
   ferret_config_t rest = {sizeof rest, NULL, 0};

   *out = NULL;
   for (size_t i = 0; config && i < config->count; i++) {
      if (strcmp(config->items[i].key, "target") == 0) {
         path = config->items[i].value;
      }
   }
   if (!path) {
      snprintf(error->message, sizeof error->message, "no target backend");
      return FERRET_ERR_INVALID_NAME;
   }
   target_handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
   entry = target_handle ? (ferret_backend_entry_fn) (uintptr_t) dlsym(target_handle,
                                                                       FERRET_BACKEND_ENTRY_SYMBOL)
                         : NULL;
   descriptor = entry ? entry(host) : NULL;
   if (!descriptor || descriptor->abi_major != FERRET_ABI_MAJOR) {
      snprintf(error->message, sizeof error->message, "cannot load '%s'", path);
      return FERRET_ERR_INVALID_NAME;
   }
   host_services = host;
   target = descriptor->methods;
   return target->open(host, &rest, out, error);
}

static void
fb_close(ferret_backend_t *backend)
{
   target->close(backend);
   dlclose(target_handle);
   target = NULL;
}

static ferret_status_t
fb_session_open(ferret_backend_t *backend, ferret_session_t **out, ferret_error_t *error)
{
   return target->session_open(backend, out, error);
}

static void
fb_session_close(ferret_session_t *session)
{
   target->session_close(session);
}

static ferret_status_t
fb_list_databases(ferret_session_t *session, ferret_name_fn fn, void *ctx, ferret_error_t *error)
{
   INJECT(FAULT_LIST_DATABASES);
   return target->list_databases(session, fn, ctx, error);
}

static ferret_status_t
fb_drop_database(ferret_session_t *session, const char *db, ferret_error_t *error)
{
   INJECT(FAULT_DROP_DATABASE);
   return target->drop_database(session, db, error);
}

static ferret_status_t
fb_list_collections(ferret_session_t *session, const ferret_ns_t *ns, ferret_name_fn fn, void *ctx,
                    ferret_error_t *error)
{
   INJECT(FAULT_LIST_COLLECTIONS);
   return target->list_collections(session, ns, fn, ctx, error);
}

static ferret_status_t
fb_create_collection(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *options,
                     size_t options_len, ferret_error_t *error)
{
   INJECT(FAULT_CREATE_COLLECTION);
   return target->create_collection(session, ns, options, options_len, error);
}

static ferret_status_t
fb_drop_collection(ferret_session_t *session, const ferret_ns_t *ns, ferret_error_t *error)
{
   INJECT(FAULT_DROP_COLLECTION);
   return target->drop_collection(session, ns, error);
}

static ferret_status_t
fb_rename_collection(ferret_session_t *session, const ferret_ns_t *from, const ferret_ns_t *to,
                     bool drop_target, ferret_error_t *error)
{
   INJECT(FAULT_RENAME_COLLECTION);
   return target->rename_collection(session, from, to, drop_target, error);
}

static ferret_status_t
fb_insert(ferret_session_t *session, const ferret_ns_t *ns, const ferret_doc_t *docs, size_t count,
          size_t *inserted, ferret_error_t *error)
{
   *inserted = 0;
   INJECT(FAULT_INSERT);
   return target->insert(session, ns, docs, count, inserted, error);
}

static ferret_status_t
fb_replace(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *expected,
           size_t expected_len, const ferret_doc_t *doc, bool *replaced, ferret_error_t *error)
{
   *replaced = false;
   INJECT(FAULT_REPLACE);
   return target->replace(session, ns, expected, expected_len, doc, replaced, error);
}

static ferret_status_t
fb_delete_one(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *id_key,
              size_t id_key_len, const uint8_t *expected, size_t expected_len, bool *deleted,
              ferret_error_t *error)
{
   *deleted = false;
   INJECT(FAULT_DELETE_ONE);
   return target->delete_one(session, ns, id_key, id_key_len, expected, expected_len, deleted,
                             error);
}

static ferret_status_t
fb_query(ferret_session_t *session, const ferret_ns_t *ns, ferret_query_t *query,
         ferret_cursor_t **out, ferret_error_t *error)
{
   *out = NULL;
   INJECT(FAULT_QUERY);
   return target->query(session, ns, query, out, error);
}

static ferret_status_t
fb_cursor_next(ferret_cursor_t *cursor, const uint8_t **bson, size_t *len, ferret_error_t *error)
{
   *bson = NULL;
   *len = 0;
   INJECT(FAULT_CURSOR_NEXT);
   return target->cursor_next(cursor, bson, len, error);
}

static void
fb_cursor_close(ferret_cursor_t *cursor)
{
   target->cursor_close(cursor);
}

static ferret_status_t
fb_stats(ferret_session_t *session, const ferret_ns_t *ns, ferret_stats_t *out,
         ferret_error_t *error)
{
   INJECT(FAULT_STATS);
   return target->stats(session, ns, out, error);
}

static ferret_status_t
fb_collection_options(ferret_session_t *session, const ferret_ns_t *ns,
                      void (*fn)(void *ctx, const uint8_t *bson, size_t len), void *ctx,
                      ferret_error_t *error)
{
   INJECT(FAULT_COLLECTION_OPTIONS);
   return target->collection_options(session, ns, fn, ctx, error);
}

static const char *const config_keys[] = {"target", NULL};

static const ferret_backend_methods_t methods = {
   .struct_size = sizeof(ferret_backend_methods_t),
   .open = fb_open,
   .close = fb_close,
   .session_open = fb_session_open,
   .session_close = fb_session_close,
   .list_databases = fb_list_databases,
   .drop_database = fb_drop_database,
   .list_collections = fb_list_collections,
   .create_collection = fb_create_collection,
   .drop_collection = fb_drop_collection,
   .rename_collection = fb_rename_collection,
   .insert = fb_insert,
   .replace = fb_replace,
   .delete_one = fb_delete_one,
   .query = fb_query,
   .cursor_next = fb_cursor_next,
   .cursor_close = fb_cursor_close,
   .stats = fb_stats,
   .collection_options = fb_collection_options,
};

/* Pushdown passes through: a target without it leaves every term unapplied, which is correct.
 * No transactions or explain, so the core never calls those. */
static const ferret_backend_descriptor_t descriptor = FERRET_BACKEND_DESCRIPTOR_INIT(
   "faulty", "0.1.0",
   FERRET_CAP_FILTER_PUSHDOWN | FERRET_CAP_SORT_PUSHDOWN | FERRET_CAP_LIMIT_PUSHDOWN, config_keys,
   &methods);

FERRET_EXPORT const ferret_backend_descriptor_t *
ferret_backend_entry(const ferret_host_t *host)
{
   (void) host;
   return &descriptor;
}
