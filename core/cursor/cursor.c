/*
 * cursor.c: server-side cursors: reading batches from their source, and the registry that
 * getMore, killCursors and the idle timeout use.
 */
#include "cursor/cursor.h"

#include <stdlib.h>
#include <string.h>

#include "backend/pushdown.h"
#include "server/worker.h"

static bool next_document(fe_cursor_t *cursor, bson_t **doc, fe_error_t *error);
static bool next_from_backend(fe_cursor_t *cursor, bson_t **doc, fe_error_t *error);
static fe_cursor_t *unlink_cursor(fe_cursor_registry_t *registry, int64_t id);
static void kill_where(fe_cursor_registry_t *registry,
                       bool (*doomed)(const fe_cursor_t *cursor, const void *arg), const void *arg);
static bool opened_in_session(const fe_cursor_t *cursor, const void *lsid);
static bool idle_since(const fe_cursor_t *cursor, const void *now);

fe_cursor_t *
cursor_new(const char *db, const char *collection)
{
   fe_cursor_t *cursor = calloc(1, sizeof *cursor);
   if (cursor) {
      /* "db.collection", truncated as snprintf() would, without its format parser. */
      size_t db_len = strnlen(db, sizeof cursor->ns - 1);
      size_t coll_len = 0;
      memcpy(cursor->ns, db, db_len);
      if (db_len + 1 < sizeof cursor->ns) {
         cursor->ns[db_len] = '.';
         coll_len = strnlen(collection, sizeof cursor->ns - db_len - 2);
         memcpy(cursor->ns + db_len + 1, collection, coll_len);
         coll_len++;
      }
      cursor->ns[db_len + coll_len] = '\0';
      cursor->last_used = time(NULL);
   }
   return cursor;
}

void
cursor_set_documents(fe_cursor_t *cursor, bson_t **docs, size_t count)
{
   cursor->docs = docs;
   cursor->doc_count = count;
   cursor->doc_pos = 0;
}

bool
cursor_fill_batch(fe_cursor_t *cursor, int64_t batch_size, size_t max_bytes, bson_t *array,
                  bool *exhausted, fe_error_t *error)
{
   size_t bytes = 0;
   uint32_t index = 0;

   *exhausted = false;
   while (batch_size <= 0 || (int64_t) index < batch_size) {
      bson_t *doc = NULL;
      char key[16];
      const char *key_ptr;

      if (cursor->pending) {
         doc = cursor->pending;
         cursor->pending = NULL;
      } else if (!next_document(cursor, &doc, error)) {
         return false;
      }
      if (!doc) {
         cursor->exhausted = true;
         break;
      }
      /* Room for the array key and type byte of each element. */
      if (index > 0 && bytes + doc->len + 16 > max_bytes) {
         cursor->pending = doc;
         break;
      }
      bson_uint32_to_string(index++, &key_ptr, key, sizeof key);
      bson_append_document(array, key_ptr, -1, doc);
      bytes += doc->len + 16;
      bson_destroy(doc);
   }
   if (!cursor->pending && !cursor->exhausted && cursor->limited && cursor->limit_left == 0) {
      cursor->exhausted = true;
   }
   *exhausted = cursor->exhausted;
   return true;
}

void
cursor_destroy(fe_cursor_t *cursor)
{
   if (!cursor) {
      return;
   }
   if (cursor->backend_cursor) {
      worker_lock_session(cursor->owner);
      cursor->methods->cursor_close(cursor->backend_cursor);
      worker_unlock_session(cursor->owner);
   }
   pushdown_plan_destroy(cursor->plan);
   if (cursor->filter) {
      filter_destroy(cursor->filter);
   }
   if (cursor->projection) {
      projection_destroy(cursor->projection);
   }
   for (size_t i = cursor->doc_pos; i < cursor->doc_count; i++) {
      bson_destroy(cursor->docs[i]);
   }
   free(cursor->docs);
   if (cursor->pending) {
      bson_destroy(cursor->pending);
   }
   free(cursor);
}

void
cursor_registry_init(fe_cursor_registry_t *registry)
{
   pthread_mutex_init(&registry->lock, NULL);
   registry->head = NULL;
   registry->id_state = (uint64_t) time(NULL) * 2654435761u ^ (uint64_t) (uintptr_t) registry;
}

int64_t
cursor_registry_add(fe_cursor_registry_t *registry, fe_cursor_t *cursor)
{
   pthread_mutex_lock(&registry->lock);
   /* Ids are positive, never 0 (which means "no cursor"), and hard to guess (xorshift). */
   do {
      uint64_t x = registry->id_state;
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      registry->id_state = x;
      cursor->id = (int64_t) (x & INT64_MAX);
   } while (cursor->id == 0);
   cursor->last_used = time(NULL);
   cursor->next = registry->head;
   registry->head = cursor;
   pthread_mutex_unlock(&registry->lock);
   return cursor->id;
}

fe_cursor_t *
cursor_registry_acquire(fe_cursor_registry_t *registry, int64_t id, fe_error_t *error)
{
   fe_cursor_t *cursor;

   pthread_mutex_lock(&registry->lock);
   for (cursor = registry->head; cursor && cursor->id != id; cursor = cursor->next) {
   }
   if (!cursor || cursor->killed) {
      error_set(error, FE_CursorNotFound, "cursor id %lld not found", (long long) id);
      cursor = NULL;
   } else if (cursor->busy) {
      error_set(error, FE_BadValue, "cursor id %lld is already in use", (long long) id);
      cursor = NULL;
   } else {
      cursor->busy = true;
   }
   pthread_mutex_unlock(&registry->lock);
   return cursor;
}

void
cursor_registry_release(fe_cursor_registry_t *registry, fe_cursor_t *cursor)
{
   fe_cursor_t *dead = NULL;

   pthread_mutex_lock(&registry->lock);
   cursor->busy = false;
   cursor->last_used = time(NULL);
   if (cursor->exhausted || cursor->killed) {
      dead = unlink_cursor(registry, cursor->id);
   }
   pthread_mutex_unlock(&registry->lock);
   cursor_destroy(dead);
}

bool
cursor_registry_kill(fe_cursor_registry_t *registry, int64_t id)
{
   fe_cursor_t *cursor;
   fe_cursor_t *dead = NULL;
   bool found = false;

   pthread_mutex_lock(&registry->lock);
   for (cursor = registry->head; cursor && cursor->id != id; cursor = cursor->next) {
   }
   if (cursor && !cursor->killed) {
      found = true;
      if (cursor->busy) {
         cursor->killed = true;
      } else {
         dead = unlink_cursor(registry, id);
      }
   }
   pthread_mutex_unlock(&registry->lock);
   cursor_destroy(dead);
   return found;
}

void
cursor_registry_kill_session(fe_cursor_registry_t *registry, const uint8_t lsid[16])
{
   kill_where(registry, opened_in_session, lsid);
}

void
cursor_registry_expire(fe_cursor_registry_t *registry, time_t now)
{
   kill_where(registry, idle_since, &now);
}

void
cursor_registry_destroy(fe_cursor_registry_t *registry)
{
   while (registry->head) {
      fe_cursor_t *cursor = registry->head;
      registry->head = cursor->next;
      cursor_destroy(cursor);
   }
   pthread_mutex_destroy(&registry->lock);
}

/* The next document to return, or *doc NULL at the end. *doc is owned by the caller. */
static bool
next_document(fe_cursor_t *cursor, bson_t **doc, fe_error_t *error)
{
   *doc = NULL;
   if (cursor->exhausted) {
      return true;
   }
   if (cursor->backend_cursor) {
      return next_from_backend(cursor, doc, error);
   }
   if (cursor->doc_pos < cursor->doc_count) {
      *doc = cursor->docs[cursor->doc_pos];
      cursor->docs[cursor->doc_pos++] = NULL;
   }
   return true;
}

static bool
next_from_backend(fe_cursor_t *cursor, bson_t **doc, fe_error_t *error)
{
   if (cursor->limited && cursor->limit_left == 0) {
      return true;
   }
   for (;;) {
      const uint8_t *data = NULL;
      size_t len = 0;
      ferret_error_t backend_error = {0};
      ferret_status_t status;
      bson_t stored;
      fe_match_info_t match = {-1};

      status = cursor->methods->cursor_next(cursor->backend_cursor, &data, &len, &backend_error);
      if (status != FERRET_OK) {
         return error_set_from_backend(error, "backend", status, &backend_error);
      }
      if (!data) {
         return true;
      }
      if (!bson_init_static(&stored, data, len)) {
         return error_set(error, FE_InternalError, "backend returned a malformed document");
      }
      if (cursor->filter && !filter_match(cursor->filter, &stored, &match)) {
         continue;
      }
      if (cursor->skip_left > 0) {
         cursor->skip_left--;
         continue;
      }
      if (cursor->projection) {
         bson_t projected;
         bool projected_ok =
            projection_apply(cursor->projection, &stored, &match, &projected, error);
         *doc = projected_ok ? bson_copy(&projected) : NULL;
         bson_destroy(&projected);
         if (!projected_ok) {
            return false;
         }
      } else {
         *doc = bson_copy(&stored);
      }
      if (cursor->limited) {
         cursor->limit_left--;
      }
      return true;
   }
}

static fe_cursor_t *
unlink_cursor(fe_cursor_registry_t *registry, int64_t id)
{
   for (fe_cursor_t **link = &registry->head; *link; link = &(*link)->next) {
      if ((*link)->id == id) {
         fe_cursor_t *cursor = *link;
         *link = cursor->next;
         cursor->next = NULL;
         return cursor;
      }
   }
   return NULL;
}

/* Kills every cursor doomed() picks: at once when idle, else when its command releases it.
 * Cursors are destroyed outside the registry lock: closing one takes its owner's session lock. */
static void
kill_where(fe_cursor_registry_t *registry,
           bool (*doomed)(const fe_cursor_t *cursor, const void *arg), const void *arg)
{
   fe_cursor_t *dead = NULL;

   pthread_mutex_lock(&registry->lock);
   for (fe_cursor_t **link = &registry->head; *link;) {
      fe_cursor_t *cursor = *link;
      if (doomed(cursor, arg)) {
         if (cursor->busy) {
            cursor->killed = true;
         } else {
            *link = cursor->next;
            cursor->next = dead;
            dead = cursor;
            continue;
         }
      }
      link = &cursor->next;
   }
   pthread_mutex_unlock(&registry->lock);
   while (dead) {
      fe_cursor_t *next = dead->next;
      cursor_destroy(dead);
      dead = next;
   }
}

static bool
opened_in_session(const fe_cursor_t *cursor, const void *lsid)
{
   return cursor->has_lsid && memcmp(cursor->lsid, lsid, 16) == 0;
}

/* A busy cursor is in use, so never idle. */
static bool
idle_since(const fe_cursor_t *cursor, const void *now)
{
   return !cursor->busy && *(const time_t *) now - cursor->last_used >= CURSOR_IDLE_TIMEOUT_SECONDS;
}
