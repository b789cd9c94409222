/*
 * stage_util.c: what several stages share (pipeline_int.h): lists of owned documents, the
 * values at a path as $lookup reads them, setting a dotted path, and a random source.
 */
#include "query/aggregate/pipeline_int.h"

#include <string.h>
#include <time.h>

static void visit_value(const bson_iter_t *iter, const char *rest,
                        void (*fn)(void *ctx, const bson_value_t *value), void *ctx);

void
stage_docs_push(stage_docs_t *docs, bson_t *doc)
{
   if (docs->count == docs->capacity) {
      docs->capacity = docs->capacity ? docs->capacity * 2 : 16;
      docs->items = bson_realloc(docs->items, sizeof *docs->items * docs->capacity);
   }
   docs->items[docs->count++] = doc;
   docs->bytes += doc->len;
}

bool
stage_docs_collect(void *ctx, const bson_t *doc, fe_error_t *error)
{
   (void) error;
   stage_docs_push(ctx, bson_copy(doc));
   return true;
}

void
stage_docs_clear(stage_docs_t *docs)
{
   for (size_t i = 0; i < docs->count; i++) {
      if (docs->items[i]) {
         bson_destroy(docs->items[i]);
      }
   }
   bson_free(docs->items);
   memset(docs, 0, sizeof *docs);
}

void
stage_visit_path(const bson_t *doc, const char *path,
                 void (*fn)(void *ctx, const bson_value_t *value), void *ctx)
{
   size_t len = strcspn(path, ".");
   bson_iter_t iter;

   if (!bson_iter_init(&iter, doc) || !bson_iter_find_w_len(&iter, path, (int) len)) {
      return;
   }
   visit_value(&iter, path[len] ? path + len + 1 : NULL, fn, ctx);
}

/* The value at iter, with rest (NULL at the end) still to walk. */
static void
visit_value(const bson_iter_t *iter, const char *rest,
            void (*fn)(void *ctx, const bson_value_t *value), void *ctx)
{
   bson_iter_t child;

   if (BSON_ITER_HOLDS_ARRAY(iter)) {
      bson_iter_recurse(iter, &child);
      while (bson_iter_next(&child)) {
         if (!rest) {
            fn(ctx, bson_iter_value(&child));
         } else if (BSON_ITER_HOLDS_DOCUMENT(&child)) {
            bson_t sub;
            uint32_t dlen;
            const uint8_t *data;
            bson_iter_document(&child, &dlen, &data);
            if (bson_init_static(&sub, data, dlen)) {
               stage_visit_path(&sub, rest, fn, ctx);
            }
         }
      }
      return;
   }
   if (!rest) {
      fn(ctx, bson_iter_value((bson_iter_t *) iter));
      return;
   }
   if (BSON_ITER_HOLDS_DOCUMENT(iter)) {
      bson_t sub;
      uint32_t dlen;
      const uint8_t *data;
      bson_iter_document(iter, &dlen, &data);
      if (bson_init_static(&sub, data, dlen)) {
         stage_visit_path(&sub, rest, fn, ctx);
      }
   }
}

void
stage_set_path(const bson_t *doc, const char *path, const bson_value_t *value, bson_t *out)
{
   size_t len = strcspn(path, ".");
   bool last = path[len] == '\0';
   bool done = false;
   bson_iter_t iter;
   bson_t child;

   if (doc && bson_iter_init(&iter, doc)) {
      while (bson_iter_next(&iter)) {
         if (bson_iter_key_len(&iter) != len || memcmp(bson_iter_key(&iter), path, len) != 0) {
            bson_append_iter(out, bson_iter_key(&iter), -1, &iter);
            continue;
         }
         done = true;
         if (last) {
            bson_append_value(out, bson_iter_key(&iter), -1, value);
         } else {
            bson_t sub;
            uint32_t dlen;
            const uint8_t *data;
            bson_append_document_begin(out, bson_iter_key(&iter), -1, &child);
            if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
               bson_iter_document(&iter, &dlen, &data);
               bson_init_static(&sub, data, dlen);
               stage_set_path(&sub, path + len + 1, value, &child);
            } else {
               stage_set_path(NULL, path + len + 1, value, &child);
            }
            bson_append_document_end(out, &child);
         }
      }
   }
   if (!done) {
      if (last) {
         bson_append_value(out, path, (int) len, value);
      } else {
         bson_append_document_begin(out, path, (int) len, &child);
         stage_set_path(NULL, path + len + 1, value, &child);
         bson_append_document_end(out, &child);
      }
   }
}

uint64_t
stage_random(uint64_t *state)
{
   /* xorshift64*: fast and good enough for sampling; not for anything secret. */
   uint64_t x = *state;
   if (x == 0) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      x = ((uint64_t) now.tv_sec * 1000000007u) ^ (uint64_t) now.tv_nsec ^
          (uint64_t) (uintptr_t) state;
      x = x ? x : 0x9e3779b97f4a7c15u;
   }
   x ^= x >> 12;
   x ^= x << 25;
   x ^= x >> 27;
   *state = x;
   return x * 0x2545f4914f6cdd1du;
}
