/*
 * cursor.h: server-side cursors and their registry.
 *
 * A cursor produces documents from one of two sources: a backend cursor read on the fly (the
 * core applying the filter, skip, limit and projection the backend did not), or a list of
 * documents the core already computed (sorted results, aggregation, listings). Cursors live in
 * one server-wide registry because drivers may send getMore on any pooled connection; a
 * backend cursor is only ever used under its owning session's lock.
 */
#ifndef FE_CURSOR_H
#define FE_CURSOR_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <bson/bson.h>
#include <ferret/backend.h>

#include "error/error.h"
#include "query/filter.h"
#include "query/projection.h"

#define CURSOR_IDLE_TIMEOUT_SECONDS (10 * 60)

struct fe_worker;
typedef struct fe_plan fe_plan_t;

typedef struct fe_cursor {
   int64_t id;       /* 0 until registered */
   char ns[512];     /* "db.collection", as replies name it */
   uint8_t lsid[16]; /* the logical session that opened it, if has_lsid */
   bool has_lsid;
   time_t last_used;
   bool busy;              /* a command is using it; not expired or killed under it */
   bool killed;            /* killed while busy: removed when released */
   struct fe_cursor *next; /* registry list */

   /* A backend stream. */
   struct fe_worker *owner;                 /* borrowed: whose session backend_cursor belongs to */
   const ferret_backend_methods_t *methods; /* borrowed */
   ferret_cursor_t *backend_cursor;         /* owned */
   fe_plan_t *plan;                         /* owned; the query backend_cursor borrows */
   fe_filter_t *filter;                     /* owned; NULL matches everything */
   fe_projection_t *projection;             /* owned; NULL returns documents whole */
   int64_t skip_left;
   int64_t limit_left; /* 0: no limit */
   bool limited;       /* limit_left counts down to the end */

   /* A computed list. */
   bson_t **docs; /* owned, each owned */
   size_t doc_count;
   size_t doc_pos;

   bson_t *pending; /* owned; a document read but not yet returned (did not fit a batch) */
   bool exhausted;
} fe_cursor_t;

typedef struct fe_cursor_registry {
   pthread_mutex_t lock;
   fe_cursor_t *head; /* owned */
   uint64_t id_state;
} fe_cursor_registry_t;

/* A new, empty cursor over namespace ns. Owned by the caller until registered. */
fe_cursor_t *cursor_new(const char *db, const char *collection);

/* Takes ownership of docs (and each document) as the cursor's source. */
void cursor_set_documents(fe_cursor_t *cursor, bson_t **docs, size_t count);

/*
 * Appends up to batch_size documents (0: no count limit) to array, stopping before the batch
 * would pass max_bytes (at least one document is always returned). A stream cursor must be
 * filled under its owner's session lock. *exhausted tells whether nothing is left.
 */
bool cursor_fill_batch(fe_cursor_t *cursor, int64_t batch_size, size_t max_bytes, bson_t *array,
                       bool *exhausted, fe_error_t *error);

/* Frees a cursor that is not registered; closes its backend cursor under the owner's lock. */
void cursor_destroy(fe_cursor_t *cursor);

void cursor_registry_init(fe_cursor_registry_t *registry);

/* Registers a cursor and gives it an id; the registry owns it from then on. */
int64_t cursor_registry_add(fe_cursor_registry_t *registry, fe_cursor_t *cursor);

/* Finds a cursor and marks it busy. Errors: 43 CursorNotFound, or 2 when another command is
 * using it. Release it with cursor_registry_release(). */
fe_cursor_t *cursor_registry_acquire(fe_cursor_registry_t *registry, int64_t id, fe_error_t *error);

/* Ends a command's use of a cursor; an exhausted or killed cursor is destroyed. */
void cursor_registry_release(fe_cursor_registry_t *registry, fe_cursor_t *cursor);

/* Kills a cursor by id. Returns false when there is no such cursor. */
bool cursor_registry_kill(fe_cursor_registry_t *registry, int64_t id);

/* Kills the cursors opened in a logical session (endSessions). */
void cursor_registry_kill_session(fe_cursor_registry_t *registry, const uint8_t lsid[16]);

/* Kills cursors idle for CURSOR_IDLE_TIMEOUT_SECONDS. */
void cursor_registry_expire(fe_cursor_registry_t *registry, time_t now);

/* Destroys every cursor. */
void cursor_registry_destroy(fe_cursor_registry_t *registry);

#endif /* FE_CURSOR_H */
