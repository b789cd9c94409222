/*
 * ttl.c: the TTL monitor (interface in ttl.h; docs/rfc/0007-indexes.md, "TTL").
 *
 * One thread with its own backend session. A pass lists the databases, reads each one's TTL
 * indexes from the index catalog, and deletes what expired through write_ops_delete_some(),
 * the path of a user's delete, so unique index entries go with their documents. Deletes run in
 * batches and the stop request is looked at between them, so shutdown never waits for more
 * than one batch.
 */
#include "server/ttl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/generic.h"
#include "commands/write_ops.h"
#include "server/log.h"
#include "server/server.h"

/* Documents deleted per call: bounds both the memory a pass holds and how long a stop request
 * waits. */
#define TTL_BATCH 500

/* Names collected from list_databases(). */
typedef struct name_list {
   char **items; /* owned; count owned strings */
   size_t count;
   size_t capacity;
   bool failed; /* out of memory */
} name_list_t;

static void *monitor_main(void *arg);
static bool sleep_interval(fe_ttl_monitor_t *monitor);
static bool stop_requested(fe_ttl_monitor_t *monitor);
static void run_pass(fe_ttl_monitor_t *monitor);
static void expire_database(fe_ttl_monitor_t *monitor, const fe_store_t *base, const char *db,
                            int64_t now_ms);
static void expire_index(fe_ttl_monitor_t *monitor, const fe_store_t *base, const char *db,
                         const bson_t *catalog_doc, int64_t now_ms);
static bool collect_name(void *ctx, const char *name);
static void name_list_clear(name_list_t *list);
static int64_t realtime_ms(void);

/* ---------------------------------------------------------------------------------------------
 * The expiry decision
 * ------------------------------------------------------------------------------------------- */

bool
ttl_expiry_filter(const bson_t *spec, int64_t now_ms, bson_t *filter, fe_error_t *error)
{
   bson_iter_t iter;
   bson_iter_t key_iter;
   bson_t key;
   bson_t partial;
   bool has_partial = false;
   const char *field;
   int32_t seconds;
   const uint8_t *data;
   uint32_t len;
   bson_t and_array;
   bson_t clause;
   bson_t condition;
   bson_t *target = filter;

   bson_init(filter);
   if (!bson_iter_init_find(&iter, spec, "key") || !BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      return error_set(error, FE_BadValue, "index specification has no key pattern");
   }
   bson_iter_document(&iter, &len, &data);
   if (!bson_init_static(&key, data, len) || bson_count_keys(&key) != 1 ||
       !bson_iter_init(&key_iter, &key) || !bson_iter_next(&key_iter)) {
      return error_set(error, FE_BadValue, "a TTL index has exactly one key field");
   }
   field = bson_iter_key(&key_iter);
   if (!bson_iter_init_find(&iter, spec, "expireAfterSeconds")) {
      return error_set(error, FE_BadValue, "not a TTL index");
   }
   if (!indexes_ttl_seconds(&iter, &seconds, error)) {
      return false;
   }
   if (bson_iter_init_find(&iter, spec, "partialFilterExpression") &&
       BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      bson_iter_document(&iter, &len, &data);
      has_partial = bson_init_static(&partial, data, len) && !bson_empty(&partial);
   }
   /* The index holds only the documents its partial filter matches: only those expire. */
   if (has_partial) {
      BSON_APPEND_ARRAY_BEGIN(filter, "$and", &and_array);
      BSON_APPEND_DOCUMENT(&and_array, "0", &partial);
      BSON_APPEND_DOCUMENT_BEGIN(&and_array, "1", &clause);
      target = &clause;
   }
   /* mongod scans the index from the dawn of time to the cutoff, both ends included. */
   bson_append_document_begin(target, field, -1, &condition);
   BSON_APPEND_DATE_TIME(&condition, "$lte", now_ms - (int64_t) seconds * 1000);
   bson_append_document_end(target, &condition);
   if (has_partial) {
      bson_append_document_end(&and_array, &clause);
      bson_append_array_end(filter, &and_array);
   }
   return true;
}

/* ---------------------------------------------------------------------------------------------
 * The monitor
 * ------------------------------------------------------------------------------------------- */

bool
ttl_init(fe_ttl_monitor_t *monitor, struct fe_server *server, fe_error_t *error)
{
   ferret_error_t backend_error = {0};
   ferret_status_t status;
   pthread_condattr_t attr;

   monitor->server = server;
   monitor->index_cache.generation = &server->index_generation;
   if (server->config.ttl_monitor_interval <= 0) {
      return true;
   }
   pthread_mutex_init(&monitor->lock, NULL);
   pthread_condattr_init(&attr);
   pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
   pthread_cond_init(&monitor->wake, &attr);
   pthread_condattr_destroy(&attr);
   monitor->initialized = true;
   status =
      server->plugin->methods.session_open(server->backend, &monitor->session, &backend_error);
   if (status != FERRET_OK) {
      monitor->session = NULL;
      return error_set_from_backend(error, server->backend_name, status, &backend_error);
   }
   return true;
}

bool
ttl_start(fe_ttl_monitor_t *monitor, fe_error_t *error)
{
   if (!monitor->session) {
      return true; /* off */
   }
   if (pthread_create(&monitor->thread, NULL, monitor_main, monitor) != 0) {
      return error_set(error, FE_InternalError, "cannot start the TTL monitor thread");
   }
   monitor->running = true;
   return true;
}

void
ttl_request_stop(fe_ttl_monitor_t *monitor)
{
   if (!monitor->initialized) {
      return;
   }
   pthread_mutex_lock(&monitor->lock);
   monitor->stop = true;
   pthread_cond_broadcast(&monitor->wake);
   pthread_mutex_unlock(&monitor->lock);
}

void
ttl_destroy(fe_ttl_monitor_t *monitor)
{
   ttl_request_stop(monitor);
   if (monitor->running) {
      pthread_join(monitor->thread, NULL);
      monitor->running = false;
   }
   if (monitor->session) {
      monitor->server->plugin->methods.session_close(monitor->session);
      monitor->session = NULL;
   }
   if (monitor->initialized) {
      pthread_cond_destroy(&monitor->wake);
      pthread_mutex_destroy(&monitor->lock);
      monitor->initialized = false;
   }
   indexes_cache_destroy(&monitor->index_cache);
}

void
ttl_append_metrics(const fe_ttl_monitor_t *monitor, bson_t *metrics)
{
   bson_t ttl;

   BSON_APPEND_DOCUMENT_BEGIN(metrics, "ttl", &ttl);
   BSON_APPEND_INT64(&ttl, "deletedDocuments", (int64_t) atomic_load(&monitor->deleted));
   BSON_APPEND_INT64(&ttl, "passes", (int64_t) atomic_load(&monitor->passes));
   bson_append_document_end(metrics, &ttl);
}

static void *
monitor_main(void *arg)
{
   fe_ttl_monitor_t *monitor = arg;

   while (sleep_interval(monitor)) {
      run_pass(monitor);
   }
   return NULL;
}

/* Sleeps one interval; false when asked to stop meanwhile. */
static bool
sleep_interval(fe_ttl_monitor_t *monitor)
{
   struct timespec deadline;
   bool stop;

   clock_gettime(CLOCK_MONOTONIC, &deadline);
   deadline.tv_sec += monitor->server->config.ttl_monitor_interval;
   pthread_mutex_lock(&monitor->lock);
   while (!monitor->stop) {
      if (pthread_cond_timedwait(&monitor->wake, &monitor->lock, &deadline) == ETIMEDOUT) {
         break;
      }
   }
   stop = monitor->stop;
   pthread_mutex_unlock(&monitor->lock);
   return !stop;
}

static bool
stop_requested(fe_ttl_monitor_t *monitor)
{
   bool stop;
   pthread_mutex_lock(&monitor->lock);
   stop = monitor->stop;
   pthread_mutex_unlock(&monitor->lock);
   return stop;
}

static void
run_pass(fe_ttl_monitor_t *monitor)
{
   const fe_server_t *server = monitor->server;
   const ferret_backend_methods_t *methods = &server->plugin->methods;
   fe_store_t base = {
      .methods = methods,
      .session = monitor->session,
      .capabilities = server->plugin->descriptor->capabilities,
      .backend_name = server->backend_name,
      .index_cache = &monitor->index_cache,
   };
   name_list_t databases = {0};
   ferret_error_t backend_error = {0};
   ferret_status_t status;
   int64_t now_ms = realtime_ms();

   status = methods->list_databases(monitor->session, collect_name, &databases, &backend_error);
   if (status != FERRET_OK || databases.failed) {
      fe_error_t error = {0};
      if (status != FERRET_OK) {
         error_set_from_backend(&error, server->backend_name, status, &backend_error);
      } else {
         error_set(&error, FE_ExceededMemoryLimit, "out of memory");
      }
      log_write(LOG_WARNING, "ttl", "pass skipped: cannot list databases: %s", error.message);
      goto done;
   }
   for (size_t i = 0; i < databases.count && !stop_requested(monitor); i++) {
      expire_database(monitor, &base, databases.items[i], now_ms);
   }
   atomic_fetch_add(&monitor->passes, 1);

done:
   name_list_clear(&databases);
}

static void
expire_database(fe_ttl_monitor_t *monitor, const fe_store_t *base, const char *db, int64_t now_ms)
{
   fe_store_t store = *base;
   fe_error_t error = {0};
   bson_t **docs = NULL;
   size_t count = 0;

   store.ns.db = db;
   store.ns.collection = INDEXES_CATALOG;
   /* Read on every pass, never cached: collMod may have changed expireAfterSeconds, and another
    * server on the same PostgreSQL database changes the catalog without our generation. */
   if (!indexes_catalog_ttl(&store, &docs, &count, &error)) {
      log_write(LOG_WARNING, "ttl", "cannot read the indexes of database %s: %s", db,
                error.message);
      return;
   }
   for (size_t i = 0; i < count && !stop_requested(monitor); i++) {
      expire_index(monitor, base, db, docs[i], now_ms);
   }
   generic_free_documents(docs, count);
}

static void
expire_index(fe_ttl_monitor_t *monitor, const fe_store_t *base, const char *db,
             const bson_t *catalog_doc, int64_t now_ms)
{
   fe_store_t store = *base;
   fe_error_t error = {0};
   bson_iter_t iter;
   bson_t spec;
   bson_t filter = BSON_INITIALIZER;
   const uint8_t *data;
   uint32_t len;
   const char *collection;
   const char *name = "?";
   int64_t total = 0;

   if (!bson_iter_init_find(&iter, catalog_doc, "coll") || !BSON_ITER_HOLDS_UTF8(&iter)) {
      goto done;
   }
   collection = bson_iter_utf8(&iter, NULL);
   if (bson_iter_init_find(&iter, catalog_doc, "name") && BSON_ITER_HOLDS_UTF8(&iter)) {
      name = bson_iter_utf8(&iter, NULL);
   }
   if (!bson_iter_init_find(&iter, catalog_doc, "spec") || !BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      goto done;
   }
   bson_iter_document(&iter, &len, &data);
   bson_destroy(&filter);
   if (!bson_init_static(&spec, data, len) || !ttl_expiry_filter(&spec, now_ms, &filter, &error)) {
      /* A value collMod stored that no longer passes the checks: the index expires nothing. */
      log_write(LOG_DEBUG, "ttl", "index %s of %s.%s skipped: %s", name, db, collection,
                error.message);
      goto done;
   }
   store.ns.db = db;
   store.ns.collection = collection;
   for (;;) {
      int64_t deleted = 0;
      bool ok = write_ops_delete_some(&store, &filter, TTL_BATCH, &deleted, &error);
      total += deleted;
      atomic_fetch_add(&monitor->deleted, deleted);
      if (!ok) {
         log_write(LOG_WARNING, "ttl", "deleting expired documents of %s.%s (index %s): %s", db,
                   collection, name, error.message);
         break;
      }
      if (deleted < TTL_BATCH || stop_requested(monitor)) {
         break;
      }
   }
   if (total > 0) {
      log_write(LOG_DEBUG, "ttl", "deleted %lld expired documents of %s.%s (index %s)",
                (long long) total, db, collection, name);
   }

done:
   bson_destroy(&filter);
}

static bool
collect_name(void *ctx, const char *name)
{
   name_list_t *list = ctx;
   char *copy;

   if (list->count == list->capacity) {
      size_t capacity = list->capacity ? list->capacity * 2 : 16;
      char **items = realloc(list->items, capacity * sizeof *items);
      if (!items) {
         list->failed = true;
         return false;
      }
      list->items = items;
      list->capacity = capacity;
   }
   copy = strdup(name);
   if (!copy) {
      list->failed = true;
      return false;
   }
   list->items[list->count++] = copy;
   return true;
}

static void
name_list_clear(name_list_t *list)
{
   for (size_t i = 0; i < list->count; i++) {
      free(list->items[i]);
   }
   free(list->items);
   memset(list, 0, sizeof *list);
}

static int64_t
realtime_ms(void)
{
   struct timespec now;
   clock_gettime(CLOCK_REALTIME, &now);
   return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}
