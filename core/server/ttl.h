/*
 * ttl.h: the TTL monitor, a background thread that deletes the documents TTL indexes
 * (expireAfterSeconds) say have expired (docs/rfc/0007-indexes.md, "TTL").
 *
 * Every ttl_monitor_interval seconds it reads the index catalog of every database (so a
 * collMod of expireAfterSeconds counts from the next pass), and deletes, in bounded batches
 * through the write path user deletes take (unique index entries stay in step), the documents
 * whose indexed field is a date, or an array holding one, at or before now - expireAfterSeconds.
 * It has its own backend session, as a worker has.
 */
#ifndef FE_TTL_H
#define FE_TTL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>
#include <ferret/backend.h>

#include "backend/indexes.h"
#include "error/error.h"

struct fe_server;

typedef struct fe_ttl_monitor {
   struct fe_server *server;  /* borrowed */
   ferret_session_t *session; /* owned; used by the monitor's thread only */
   fe_index_cache_t index_cache;

   pthread_t thread;
   bool running; /* the thread was started and is not joined yet */

   bool initialized; /* lock and wake exist */
   pthread_mutex_t lock;
   pthread_cond_t wake; /* signalled to stop; waits on CLOCK_MONOTONIC */
   bool stop;           /* under lock */

   atomic_int_least64_t deleted; /* serverStatus metrics.ttl.deletedDocuments */
   atomic_int_least64_t passes;  /* serverStatus metrics.ttl.passes */
} fe_ttl_monitor_t;

/* ---- pure parts ---- */

/* The filter that matches the documents expired at now_ms (milliseconds since the epoch) under
 * the TTL index spec (as listIndexes shows it): {<field>: {$lte: <now - expireAfterSeconds>}},
 * under an $and with the partialFilterExpression when there is one. A date compares only with
 * dates, and an array matches when one of its elements does (the earliest date counts), so a
 * missing field or one holding no date never matches. *filter is caller storage, initialized
 * even on failure. Fails (2 BadValue, or 67 for a bad expireAfterSeconds) when spec is not a
 * usable single-field TTL index. */
bool ttl_expiry_filter(const bson_t *spec, int64_t now_ms, bson_t *filter, fe_error_t *error);

/* ---- the monitor ---- */

/* Prepares the monitor: opens its backend session, unless the configured interval is 0 (the
 * monitor is off). *monitor may be zeroed memory; ttl_destroy() releases it even after a
 * failure. */
bool ttl_init(fe_ttl_monitor_t *monitor, struct fe_server *server, fe_error_t *error);

/* Starts the thread (nothing when the monitor is off). The first pass comes one interval after
 * the start, as in mongod. */
bool ttl_start(fe_ttl_monitor_t *monitor, fe_error_t *error);

/* Asks the thread to stop: it leaves its sleep at once, and a pass stops after the batch it is
 * deleting. Thread-safe; harmless when the monitor never started. */
void ttl_request_stop(fe_ttl_monitor_t *monitor);

/* Stops and joins the thread, then closes the session: call before the backend is closed. */
void ttl_destroy(fe_ttl_monitor_t *monitor);

/* Appends {deletedDocuments, passes} (int64) as "ttl" to serverStatus's metrics document. */
void ttl_append_metrics(const fe_ttl_monitor_t *monitor, bson_t *metrics);

#endif /* FE_TTL_H */
