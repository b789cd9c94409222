/*
 * skeleton.c: the skeleton backend, an in-memory store behind the ferret backend ABI
 * (include/ferret/backend.h, plugins/skeleton/README.md, docs/rfc/0004-packaging.md).
 *
 * The starting point for a third-party backend: every required method, each returning exactly
 * the statuses the header lists, plus the _id-equality, $natural and skip/limit pushdowns to
 * show how negotiation works. The data lives in store.c; this file is the translation from the
 * ABI to it, and the part to keep when store.c is replaced by a real storage library.
 *
 * Concurrency: the backend object is shared by every worker's session, so one mutex guards
 * the store. Every method takes it for the whole call, which makes each call atomic (replace
 * and delete_one compare and swap under it) and is the simplest correct choice. A cursor holds
 * references to the documents it will return, so it stays valid whatever other calls do, and
 * reads them without the lock. Callbacks into the core (listing names, options) run after the
 * lock is released, on copies, so that a callback can never deadlock against the backend.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ferret/backend.h>

#include "store.h"

/* The name the config's `backend` key selects, which is also the module's file name. */
#define SK_NAME "skeleton"
#define SK_VERSION "0.1.0"

struct ferret_backend {
   const ferret_host_t *host; /* borrowed; valid until the process exits */
   int64_t max_documents;     /* per collection; 0 for no limit */
   pthread_mutex_t lock;      /* guards store, and the refs of every document in it */
   store_t store;
};

/* A backend over a real database keeps the worker's connection and prepared statements here.
 * This one needs nothing of its own, but the handle still tells whose call it is. */
struct ferret_session {
   ferret_backend_t *backend; /* borrowed; outlives the session */
};

struct ferret_cursor {
   ferret_backend_t *backend; /* borrowed; outlives the cursor */
   store_doc_t **docs;        /* owned, with one reference on each document */
   size_t count;
   size_t capacity;
   size_t next; /* index of the document the next cursor_next() returns */
};

/* Names copied out under the lock: count NUL-terminated strings, one after the other. */
typedef struct names {
   char *buf;   /* owned */
   size_t used; /* bytes of buf in use */
   size_t count;
} names_t;

/* ---- the entry point: the one exported symbol ---- */

FERRET_EXPORT const ferret_backend_descriptor_t *ferret_backend_entry(const ferret_host_t *host);

/* ---- lifecycle ---- */

static ferret_status_t sk_open(const ferret_host_t *host, const ferret_config_t *config,
                               ferret_backend_t **out, ferret_error_t *error);
static void sk_close(ferret_backend_t *backend);
static ferret_status_t sk_session_open(ferret_backend_t *backend, ferret_session_t **out,
                                       ferret_error_t *error);
static void sk_session_close(ferret_session_t *session);

/* ---- catalog ---- */

static ferret_status_t sk_list_databases(ferret_session_t *session, ferret_name_fn fn, void *ctx,
                                         ferret_error_t *error);
static ferret_status_t sk_drop_database(ferret_session_t *session, const char *db,
                                        ferret_error_t *error);
static ferret_status_t sk_list_collections(ferret_session_t *session, const ferret_ns_t *ns,
                                           ferret_name_fn fn, void *ctx, ferret_error_t *error);
static ferret_status_t sk_create_collection(ferret_session_t *session, const ferret_ns_t *ns,
                                            const uint8_t *options, size_t options_len,
                                            ferret_error_t *error);
static ferret_status_t sk_drop_collection(ferret_session_t *session, const ferret_ns_t *ns,
                                          ferret_error_t *error);
static ferret_status_t sk_rename_collection(ferret_session_t *session, const ferret_ns_t *from,
                                            const ferret_ns_t *to, bool drop_target,
                                            ferret_error_t *error);
static ferret_status_t sk_stats(ferret_session_t *session, const ferret_ns_t *ns,
                                ferret_stats_t *out, ferret_error_t *error);
static ferret_status_t sk_collection_options(ferret_session_t *session, const ferret_ns_t *ns,
                                             void (*fn)(void *ctx, const uint8_t *bson, size_t len),
                                             void *ctx, ferret_error_t *error);

/* ---- documents ---- */

static ferret_status_t sk_insert(ferret_session_t *session, const ferret_ns_t *ns,
                                 const ferret_doc_t *docs, size_t count, size_t *inserted,
                                 ferret_error_t *error);
static ferret_status_t sk_replace(ferret_session_t *session, const ferret_ns_t *ns,
                                  const uint8_t *expected, size_t expected_len,
                                  const ferret_doc_t *doc, bool *replaced, ferret_error_t *error);
static ferret_status_t sk_delete_one(ferret_session_t *session, const ferret_ns_t *ns,
                                     const uint8_t *id_key, size_t id_key_len,
                                     const uint8_t *expected, size_t expected_len, bool *deleted,
                                     ferret_error_t *error);

/* ---- queries and cursors ---- */

static ferret_status_t sk_query(ferret_session_t *session, const ferret_ns_t *ns,
                                ferret_query_t *query, ferret_cursor_t **out,
                                ferret_error_t *error);
static ferret_status_t sk_cursor_next(ferret_cursor_t *cursor, const uint8_t **bson, size_t *len,
                                      ferret_error_t *error);
static void sk_cursor_close(ferret_cursor_t *cursor);

/* ---- helpers ---- */

static ferret_status_t fail(ferret_error_t *error, ferret_status_t status, const char *format, ...)
#if defined(__GNUC__)
   __attribute__((format(printf, 3, 4)))
#endif
   ;
static ferret_status_t out_of_memory(ferret_error_t *error);
static bool parse_count(const char *text, int64_t *out);
static bool names_add(names_t *names, const char *name);
static ferret_status_t names_call(names_t *names, ferret_name_fn fn, void *ctx);
static bool cursor_push(ferret_cursor_t *cursor, store_doc_t *doc);
static ferret_term_t *find_id_term(ferret_query_t *query);

/* ---- the descriptor ---- */

/* Keys of the [skeleton] section; the core rejects any other before open() runs. */
static const char *const config_keys[] = {"max_documents", NULL};

static const ferret_backend_methods_t methods = {
   .struct_size = sizeof(ferret_backend_methods_t),
   .open = sk_open,
   .close = sk_close,
   .session_open = sk_session_open,
   .session_close = sk_session_close,
   .list_databases = sk_list_databases,
   .drop_database = sk_drop_database,
   .list_collections = sk_list_collections,
   .create_collection = sk_create_collection,
   .drop_collection = sk_drop_collection,
   .rename_collection = sk_rename_collection,
   .insert = sk_insert,
   .replace = sk_replace,
   .delete_one = sk_delete_one,
   .query = sk_query,
   .cursor_next = sk_cursor_next,
   .cursor_close = sk_cursor_close,
   .stats = sk_stats,
   .collection_options = sk_collection_options,
   /* Optional methods left out (NULL), so their capability bits are clear: begin, commit,
    * abort (FERRET_CAP_TRANSACTIONS) and explain (FERRET_CAP_EXPLAIN). */
};

static const ferret_backend_descriptor_t descriptor = FERRET_BACKEND_DESCRIPTOR_INIT(
   SK_NAME, SK_VERSION,
   FERRET_CAP_FILTER_PUSHDOWN | FERRET_CAP_SORT_PUSHDOWN | FERRET_CAP_LIMIT_PUSHDOWN, config_keys,
   &methods);

/*
 * The one exported symbol. It must not fail and must do no work: the core checks the
 * descriptor's magic and ABI version before it calls anything else, and open() is given the
 * host again.
 */
const ferret_backend_descriptor_t *
ferret_backend_entry(const ferret_host_t *host)
{
   (void) host;
   return &descriptor;
}

/* ---- lifecycle ---- */

static ferret_status_t
sk_open(const ferret_host_t *host, const ferret_config_t *config, ferret_backend_t **out,
        ferret_error_t *error)
{
   ferret_backend_t *backend = NULL; /* owned until given to the caller */
   bool lock_made = false;
   ferret_status_t status = FERRET_OK;

   *out = NULL;
   backend = calloc(1, sizeof *backend);
   if (!backend) {
      status = fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
      goto done;
   }
   backend->host = host;
   store_init(&backend->store);

   for (size_t i = 0; config && i < config->count; i++) {
      const ferret_config_item_t *item = &config->items[i];
      const char *file = item->file ? item->file : "configuration";

      if (strcmp(item->key, "max_documents") == 0) {
         if (!parse_count(item->value, &backend->max_documents)) {
            /* A bad value is INVALID_NAME, and the message says where the line is. */
            status = fail(error, FERRET_ERR_INVALID_NAME,
                          "%s:%" PRIu32 ": max_documents must be a non-negative integer, not "
                          "'%s'",
                          file, item->line, item->value);
            goto done;
         }
      } else {
         /* The core already refused keys missing from config_keys; this is a safety net. */
         status = fail(error, FERRET_ERR_INVALID_NAME, "%s:%" PRIu32 ": unknown key '%s'", file,
                       item->line, item->key);
         goto done;
      }
   }

   if (pthread_mutex_init(&backend->lock, NULL) != 0) {
      status = fail(error, FERRET_ERR_INTERNAL, "cannot create a mutex: %s", strerror(errno));
      goto done;
   }
   lock_made = true;
   if (host && host->log) {
      host->log(FERRET_LOG_INFO, SK_NAME, "in memory, max_documents %" PRId64 "%s",
                backend->max_documents, backend->max_documents ? "" : " (no limit)");
   }
   *out = backend;
   backend = NULL;

done:
   if (backend) {
      if (lock_made) {
         pthread_mutex_destroy(&backend->lock);
      }
      free(backend);
   }
   return status;
}

static void
sk_close(ferret_backend_t *backend)
{
   if (!backend) {
      return;
   }
   /* Every session, and so every cursor, is closed: nothing else holds a document. */
   store_clear(&backend->store);
   pthread_mutex_destroy(&backend->lock);
   free(backend);
}

static ferret_status_t
sk_session_open(ferret_backend_t *backend, ferret_session_t **out, ferret_error_t *error)
{
   ferret_session_t *session = calloc(1, sizeof *session);

   *out = NULL;
   if (!session) {
      return fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
   }
   /* A backend over a real database would open its connection here, one per worker. */
   session->backend = backend;
   *out = session;
   return FERRET_OK;
}

/* The core has closed the session's cursors already; they would not mind anyway, since they
 * point at the backend, not the session. */
static void
sk_session_close(ferret_session_t *session)
{
   free(session);
}

/* ---- catalog ---- */

static ferret_status_t
sk_list_databases(ferret_session_t *session, ferret_name_fn fn, void *ctx, ferret_error_t *error)
{
   ferret_backend_t *backend = session->backend;
   names_t names = {NULL, 0, 0};
   bool ok = true;

   pthread_mutex_lock(&backend->lock);
   /* The store drops a database with its last collection, so every one listed holds one. */
   for (store_db_t *db = backend->store.dbs; db && ok; db = db->next) {
      ok = names_add(&names, db->name);
   }
   pthread_mutex_unlock(&backend->lock);
   if (!ok) {
      free(names.buf);
      return out_of_memory(error);
   }
   return names_call(&names, fn, ctx);
}

static ferret_status_t
sk_drop_database(ferret_session_t *session, const char *db, ferret_error_t *error)
{
   ferret_backend_t *backend = session->backend;

   (void) error; /* dropping a missing database is OK, and nothing else can go wrong */
   pthread_mutex_lock(&backend->lock);
   store_db_drop(&backend->store, db);
   pthread_mutex_unlock(&backend->lock);
   return FERRET_OK;
}

static ferret_status_t
sk_list_collections(ferret_session_t *session, const ferret_ns_t *ns, ferret_name_fn fn, void *ctx,
                    ferret_error_t *error)
{
   ferret_backend_t *backend = session->backend;
   names_t names = {NULL, 0, 0};
   bool ok = true;

   pthread_mutex_lock(&backend->lock);
   {
      /* A missing database lists nothing. */
      store_db_t *db = store_db_find(&backend->store, ns->db);
      for (store_coll_t *coll = db ? db->colls : NULL; coll && ok; coll = coll->next) {
         ok = names_add(&names, coll->name);
      }
   }
   pthread_mutex_unlock(&backend->lock);
   if (!ok) {
      free(names.buf);
      return out_of_memory(error);
   }
   return names_call(&names, fn, ctx);
}

static ferret_status_t
sk_create_collection(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *options,
                     size_t options_len, ferret_error_t *error)
{
   ferret_backend_t *backend = session->backend;
   ferret_status_t status = FERRET_OK;

   pthread_mutex_lock(&backend->lock);
   if (store_coll_find(&backend->store, ns)) {
      status = fail(error, FERRET_ERR_NAMESPACE_EXISTS, "collection already exists: '%s.%s'",
                    ns->db, ns->collection);
   } else if (!store_coll_create(&backend->store, ns, options, options_len)) {
      status = out_of_memory(error);
   }
   pthread_mutex_unlock(&backend->lock);
   return status;
}

static ferret_status_t
sk_drop_collection(ferret_session_t *session, const ferret_ns_t *ns, ferret_error_t *error)
{
   ferret_backend_t *backend = session->backend;
   ferret_status_t status = FERRET_OK;

   pthread_mutex_lock(&backend->lock);
   /* Cursors on it keep their documents: they hold references. */
   if (!store_coll_drop(&backend->store, ns)) {
      status = fail(error, FERRET_ERR_NAMESPACE_NOT_FOUND, "collection not found: '%s.%s'", ns->db,
                    ns->collection);
   }
   pthread_mutex_unlock(&backend->lock);
   return status;
}

static ferret_status_t
sk_rename_collection(ferret_session_t *session, const ferret_ns_t *from, const ferret_ns_t *to,
                     bool drop_target, ferret_error_t *error)
{
   ferret_backend_t *backend = session->backend;
   ferret_status_t status = FERRET_OK;
   bool same = strcmp(from->db, to->db) == 0 && strcmp(from->collection, to->collection) == 0;

   pthread_mutex_lock(&backend->lock);
   if (!store_coll_find(&backend->store, from)) {
      status = fail(error, FERRET_ERR_NAMESPACE_NOT_FOUND, "source collection not found: '%s.%s'",
                    from->db, from->collection);
   } else if (same || (!drop_target && store_coll_find(&backend->store, to))) {
      /* The core refuses a rename onto itself; the check keeps the store from dropping the
       * source as the target if it ever came here. */
      status = fail(error, FERRET_ERR_NAMESPACE_EXISTS, "target collection exists: '%s.%s'", to->db,
                    to->collection);
   } else if (!store_coll_rename(&backend->store, from, to)) {
      status = out_of_memory(error);
   }
   /* Under the one lock, dropping the target and moving the source are one atomic step. */
   pthread_mutex_unlock(&backend->lock);
   return status;
}

static ferret_status_t
sk_stats(ferret_session_t *session, const ferret_ns_t *ns, ferret_stats_t *out,
         ferret_error_t *error)
{
   ferret_backend_t *backend = session->backend;
   ferret_stats_t stats = {.struct_size = sizeof stats};

   (void) error;
   pthread_mutex_lock(&backend->lock);
   if (ns->collection) {
      store_coll_t *coll = store_coll_find(&backend->store, ns);
      if (coll) {
         store_coll_stats(coll, &stats);
      }
   } else {
      store_db_t *db = store_db_find(&backend->store, ns->db);
      for (store_coll_t *coll = db ? db->colls : NULL; coll; coll = coll->next) {
         store_coll_stats(coll, &stats);
         stats.collections++;
      }
   }
   pthread_mutex_unlock(&backend->lock);

   /* Write no further than the caller's struct_size: a core built against an older minor
    * passes a shorter struct. A missing namespace gives zeroes. */
   {
      size_t size = out->struct_size < sizeof stats ? out->struct_size : sizeof stats;
      stats.struct_size = out->struct_size;
      memcpy(out, &stats, size);
   }
   return FERRET_OK;
}

static ferret_status_t
sk_collection_options(ferret_session_t *session, const ferret_ns_t *ns,
                      void (*fn)(void *ctx, const uint8_t *bson, size_t len), void *ctx,
                      ferret_error_t *error)
{
   ferret_backend_t *backend = session->backend;
   store_coll_t *coll;
   uint8_t *copy = NULL; /* owned; the options, copied to be passed without the lock */
   size_t copy_len = 0;
   ferret_status_t status = FERRET_OK;

   pthread_mutex_lock(&backend->lock);
   coll = store_coll_find(&backend->store, ns);
   if (!coll) {
      status = fail(error, FERRET_ERR_NAMESPACE_NOT_FOUND, "collection not found: '%s.%s'", ns->db,
                    ns->collection);
   } else if (coll->options) {
      copy = malloc(coll->options_len ? coll->options_len : 1);
      if (copy) {
         memcpy(copy, coll->options, coll->options_len);
         copy_len = coll->options_len;
      } else {
         status = out_of_memory(error);
      }
   }
   pthread_mutex_unlock(&backend->lock);

   /* A collection created by an insert has no options: fn is not called. */
   if (copy) {
      fn(ctx, copy, copy_len);
   }
   free(copy);
   return status;
}

/* ---- documents ---- */

static ferret_status_t
sk_insert(ferret_session_t *session, const ferret_ns_t *ns, const ferret_doc_t *docs, size_t count,
          size_t *inserted, ferret_error_t *error)
{
   ferret_backend_t *backend = session->backend;
   store_coll_t *coll;
   ferret_status_t status = FERRET_OK;

   *inserted = 0;
   pthread_mutex_lock(&backend->lock);
   coll = store_coll_find(&backend->store, ns);
   if (!coll) {
      /* An insert creates its collection, with no options. */
      coll = store_coll_create(&backend->store, ns, NULL, 0);
      if (!coll) {
         status = out_of_memory(error);
         goto done;
      }
   }
   /* In order, stopping at the first failure: the documents before it stay. Memory is as
    * durable as this backend gets, so "stored" is "durable" when the lock is released. */
   for (size_t i = 0; i < count; i++) {
      store_doc_t *doc;

      if (backend->max_documents && (int64_t) coll->count >= backend->max_documents) {
         status = fail(error, FERRET_ERR_TOO_LARGE,
                       "collection '%s.%s' is full: max_documents is %" PRId64, ns->db,
                       ns->collection, backend->max_documents);
         goto done;
      }
      if (store_coll_get(coll, docs[i].id_key, docs[i].id_key_len)) {
         status = fail(error, FERRET_ERR_DUPLICATE_KEY, "duplicate _id in '%s.%s'", ns->db,
                       ns->collection);
         goto done;
      }
      doc = store_doc_new(&docs[i]);
      if (!doc || !store_coll_add(coll, doc)) {
         store_doc_unref(doc);
         status = out_of_memory(error);
         goto done;
      }
      (*inserted)++;
   }

done:
   pthread_mutex_unlock(&backend->lock);
   return status;
}

static ferret_status_t
sk_replace(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *expected,
           size_t expected_len, const ferret_doc_t *doc, bool *replaced, ferret_error_t *error)
{
   ferret_backend_t *backend = session->backend;
   store_coll_t *coll;
   store_entry_t *entry = NULL;
   store_doc_t *copy;
   ferret_status_t status = FERRET_OK;

   *replaced = false;
   pthread_mutex_lock(&backend->lock);
   coll = store_coll_find(&backend->store, ns);
   if (coll) {
      entry = store_coll_get(coll, doc->id_key, doc->id_key_len);
   }
   /* Compare and swap: only while the stored bytes are still what the core read. A missing
    * collection, a missing document or other bytes leave *replaced false, and are no error. */
   if (entry && store_doc_equals(entry->doc, expected, expected_len)) {
      copy = store_doc_new(doc);
      if (!copy) {
         status = out_of_memory(error);
      } else {
         /* Cursors that hold the old document keep it; they never see the new one. */
         store_coll_set(coll, entry, copy);
         *replaced = true;
      }
   }
   pthread_mutex_unlock(&backend->lock);
   return status;
}

static ferret_status_t
sk_delete_one(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *id_key,
              size_t id_key_len, const uint8_t *expected, size_t expected_len, bool *deleted,
              ferret_error_t *error)
{
   ferret_backend_t *backend = session->backend;
   store_coll_t *coll;
   store_entry_t *entry = NULL;

   (void) error;
   *deleted = false;
   pthread_mutex_lock(&backend->lock);
   coll = store_coll_find(&backend->store, ns);
   if (coll) {
      entry = store_coll_get(coll, id_key, id_key_len);
   }
   /* expected NULL deletes whatever is there; otherwise only the bytes the core read. */
   if (entry && (!expected || store_doc_equals(entry->doc, expected, expected_len))) {
      store_coll_remove(coll, entry);
      *deleted = true;
   }
   pthread_mutex_unlock(&backend->lock);
   return FERRET_OK;
}

/* ---- queries and cursors ---- */

/*
 * The cursor is a snapshot: at query() it takes a reference on each document to return, so
 * that inserts, replaces, deletes and drops, on this session or any other, never invalidate
 * it. Pushdown, negotiated through the query's output fields:
 * - an "_id" equality term carrying an id_key is answered from the hash table and marked
 *   applied: then the cursor holds that document or nothing;
 * - a sort on "$natural" alone is applied by walking the insertion list either way;
 * - skip and limit are applied only when every term was applied and the sort (if any) too,
 *   since they are exact or nothing. Every other term stays unapplied and the core filters.
 */
static ferret_status_t
sk_query(ferret_session_t *session, const ferret_ns_t *ns, ferret_query_t *query,
         ferret_cursor_t **out, ferret_error_t *error)
{
   ferret_backend_t *backend = session->backend;
   ferret_cursor_t *cursor = NULL; /* owned until given to the caller */
   store_coll_t *coll;
   ferret_term_t *id_term = NULL;
   int direction = 1;
   bool all_applied;
   int64_t skip = 0, limit = 0;
   ferret_status_t status = FERRET_OK;

   *out = NULL;
   cursor = calloc(1, sizeof *cursor);
   if (!cursor) {
      status = out_of_memory(error);
      goto done;
   }
   cursor->backend = backend;

   /* Decide what is applied before reading anything; the same answers hold for an empty or
    * missing collection. */
   id_term = find_id_term(query);
   if (id_term) {
      id_term->applied = true;
   }
   if (query->sort_count == 1 && strcmp(query->sort[0].path, "$natural") == 0) {
      direction = query->sort[0].direction < 0 ? -1 : 1;
      query->sort_applied = true;
   }
   all_applied = true;
   for (size_t i = 0; i < query->term_count; i++) {
      all_applied = all_applied && query->terms[i].applied;
   }
   if ((query->skip > 0 || query->limit > 0) && query->skip >= 0 && query->limit >= 0 &&
       all_applied && (query->sort_count == 0 || query->sort_applied)) {
      skip = query->skip;
      limit = query->limit;
      query->skip_limit_applied = true;
   }

   pthread_mutex_lock(&backend->lock);
   coll = store_coll_find(&backend->store, ns);
   if (!coll) {
      /* A missing collection is an empty cursor, not an error. */
   } else if (id_term) {
      /* One document at most, so any skip leaves nothing. */
      store_entry_t *entry = store_coll_get(coll, id_term->id_key, id_term->id_key_len);
      if (entry && skip == 0 && !cursor_push(cursor, entry->doc)) {
         status = out_of_memory(error);
      }
   } else {
      store_entry_t *e = direction > 0 ? coll->first : coll->last;
      for (; e && status == FERRET_OK; e = direction > 0 ? e->next : e->prev) {
         if (limit > 0 && (int64_t) cursor->count == limit) {
            break;
         }
         if (skip > 0) {
            skip--;
         } else if (!cursor_push(cursor, e->doc)) {
            status = out_of_memory(error);
         }
      }
   }
   pthread_mutex_unlock(&backend->lock);

done:
   if (status != FERRET_OK) {
      sk_cursor_close(cursor);
      cursor = NULL;
   }
   *out = cursor;
   return status;
}

static ferret_status_t
sk_cursor_next(ferret_cursor_t *cursor, const uint8_t **bson, size_t *len, ferret_error_t *error)
{
   (void) error;
   /* No lock: the cursor's references keep these bytes alive and nothing changes them. The
    * pointer stays valid until cursor_close(), longer than the ABI asks (the next call). */
   if (cursor->next == cursor->count) {
      *bson = NULL;
      *len = 0;
      return FERRET_OK;
   }
   *bson = cursor->docs[cursor->next]->bson;
   *len = cursor->docs[cursor->next]->bson_len;
   cursor->next++;
   return FERRET_OK;
}

/* Also frees a cursor that query() could not finish. */
static void
sk_cursor_close(ferret_cursor_t *cursor)
{
   ferret_backend_t *backend;

   if (!cursor) {
      return;
   }
   backend = cursor->backend;
   /* References change only under the lock: another thread may be dropping the same
    * documents from their collection right now. */
   pthread_mutex_lock(&backend->lock);
   for (size_t i = 0; i < cursor->count; i++) {
      store_doc_unref(cursor->docs[i]);
   }
   pthread_mutex_unlock(&backend->lock);
   free(cursor->docs);
   free(cursor);
}

/* ---- helpers ---- */

/* Writes the message (lower-case, no trailing period) and returns status. */
static ferret_status_t
fail(ferret_error_t *error, ferret_status_t status, const char *format, ...)
{
   va_list args;

   if (error) {
      va_start(args, format);
      vsnprintf(error->message, sizeof error->message, format, args);
      va_end(args);
   }
   return status;
}

/* Most methods do not list NO_MEMORY among their statuses (only open and session_open do),
 * and the core would read it as INTERNAL anyway: say INTERNAL and let the message tell. */
static ferret_status_t
out_of_memory(ferret_error_t *error)
{
   return fail(error, FERRET_ERR_INTERNAL, "out of memory");
}

/* A decimal integer >= 0 and nothing else. */
static bool
parse_count(const char *text, int64_t *out)
{
   char *end = NULL;
   long long value;

   if (text[0] < '0' || text[0] > '9') {
      return false; /* strtoll would accept leading spaces and a sign */
   }
   errno = 0;
   value = strtoll(text, &end, 10);
   if (errno != 0 || *end != '\0') {
      return false;
   }
   *out = (int64_t) value;
   return true;
}

static bool
names_add(names_t *names, const char *name)
{
   size_t len = strlen(name) + 1;
   char *grown = realloc(names->buf, names->used + len);

   if (!grown) {
      return false;
   }
   memcpy(grown + names->used, name, len);
   names->buf = grown;
   names->used += len;
   names->count++;
   return true;
}

/* Calls fn for each name until it returns false, then frees the names. */
static ferret_status_t
names_call(names_t *names, ferret_name_fn fn, void *ctx)
{
   const char *name = names->buf;

   for (size_t i = 0; i < names->count; i++) {
      if (!fn(ctx, name)) {
         break; /* the caller has seen enough; not an error */
      }
      name += strlen(name) + 1;
   }
   free(names->buf);
   *names = (names_t){NULL, 0, 0};
   return FERRET_OK;
}

/* Takes a reference on doc for the cursor; called with the lock held. */
static bool
cursor_push(ferret_cursor_t *cursor, store_doc_t *doc)
{
   if (cursor->count == cursor->capacity) {
      size_t capacity = cursor->capacity ? cursor->capacity * 2 : 8;
      store_doc_t **grown = realloc(cursor->docs, capacity * sizeof *grown);
      if (!grown) {
         return false;
      }
      cursor->docs = grown;
      cursor->capacity = capacity;
   }
   store_doc_ref(doc);
   cursor->docs[cursor->count++] = doc;
   return true;
}

/* The first "_id" equality term that carries the core's id_key, or NULL. */
static ferret_term_t *
find_id_term(ferret_query_t *query)
{
   for (size_t i = 0; i < query->term_count; i++) {
      ferret_term_t *term = &query->terms[i];
      if (term->op == FERRET_OP_EQ && term->id_key && strcmp(term->path, "_id") == 0) {
         return term;
      }
   }
   return NULL;
}
