/*
 * path.c: dotted paths and MongoDB's implicit traversal of arrays along them (see path.h).
 */
#include "bson/path.h"

#include <string.h>

typedef struct walk {
   const fe_path_t *path;
   unsigned flags;
   path_visit_fn fn;
   void *ctx;
} walk_t;

static bool walk_doc(const walk_t *w, const bson_iter_t *doc, size_t i, int32_t array_index);
static bool walk_found(const walk_t *w, const bson_iter_t *value, size_t i, int32_t array_index);
static bool walk_array(const walk_t *w, const bson_iter_t *array, size_t i, int32_t array_index);
static bool emit(const walk_t *w, const bson_iter_t *value, int32_t array_index, bool whole);

bool
path_init(fe_path_t *path, const char *dotted, size_t len, fe_error_t *error)
{
   size_t count = 1;

   memset(path, 0, sizeof *path);
   if (len == 0) {
      return error_set(error, FE_BadValue, "FieldPath cannot be constructed with empty string");
   }
   for (size_t i = 0; i < len; i++) {
      count += dotted[i] == '.';
   }
   path->dotted = bson_strndup(dotted, len);
   path->buf = bson_strndup(dotted, len);
   path->parts = bson_malloc0(count * sizeof *path->parts);
   path->count = count;
   char *start = path->buf;
   for (size_t k = 0; k < count; k++) {
      char *dot = strchr(start, '.');
      if (dot) {
         *dot = '\0';
      }
      path->parts[k].name = start;
      path->parts[k].len = (uint32_t) strlen(start);
      path->parts[k].index = path_parse_index(start, path->parts[k].len);
      if (path->parts[k].len == 0) {
         return error_set(error, FE_BadValue, "FieldPath field names may not be empty strings");
      }
      start = dot ? dot + 1 : start + path->parts[k].len;
   }
   return true;
}

void
path_destroy(fe_path_t *path)
{
   bson_free(path->buf);
   bson_free(path->dotted);
   bson_free(path->parts);
   memset(path, 0, sizeof *path);
}

int32_t
path_parse_index(const char *s, size_t len)
{
   int64_t v = 0;
   if (len == 0 || len > 9 || (len > 1 && s[0] == '0')) {
      return -1;
   }
   for (size_t i = 0; i < len; i++) {
      if (s[i] < '0' || s[i] > '9') {
         return -1;
      }
      v = v * 10 + (s[i] - '0');
   }
   return (int32_t) v;
}

bool
path_visit(const fe_path_t *path, size_t first, const bson_iter_t *doc, unsigned flags,
           path_visit_fn fn, void *ctx)
{
   walk_t w = {path, flags, fn, ctx};
   if (first >= path->count) {
      return false;
   }
   return walk_doc(&w, doc, first, -1);
}

/* Looks up component i in a document. */
static bool
walk_doc(const walk_t *w, const bson_iter_t *doc, size_t i, int32_t array_index)
{
   bson_iter_t it = *doc;
   const fe_path_part_t *part = &w->path->parts[i];

   if (!bson_iter_find_w_len(&it, part->name, (int) part->len)) {
      return emit(w, NULL, array_index, false);
   }
   return walk_found(w, &it, i, array_index);
}

/* value is what component i named. */
static bool
walk_found(const walk_t *w, const bson_iter_t *value, size_t i, int32_t array_index)
{
   bson_type_t type = bson_iter_type(value);

   if (i + 1 == w->path->count) {
      if (type != BSON_TYPE_ARRAY) {
         return emit(w, value, array_index, false);
      }
      if (w->flags & PATH_LEAF_ELEMENTS) {
         bson_iter_t child;
         if (bson_iter_recurse(value, &child)) {
            for (int32_t k = 0; bson_iter_next(&child); k++) {
               if (emit(w, &child, array_index >= 0 ? array_index : k, false)) {
                  return true;
               }
            }
         }
      }
      if (w->flags & PATH_LEAF_WHOLE) {
         return emit(w, value, array_index, true);
      }
      return false;
   }
   if (type == BSON_TYPE_DOCUMENT) {
      bson_iter_t child;
      if (!bson_iter_recurse(value, &child)) {
         return false;
      }
      return walk_doc(w, &child, i + 1, array_index);
   }
   if (type == BSON_TYPE_ARRAY) {
      return walk_array(w, value, i + 1, array_index);
   }
   return emit(w, NULL, array_index, false);
}

/* An array where component i must still be resolved. */
static bool
walk_array(const walk_t *w, const bson_iter_t *array, size_t i, int32_t array_index)
{
   const fe_path_part_t *part = &w->path->parts[i];
   bson_iter_t child;

   if (part->index >= 0 && bson_iter_recurse(array, &child) &&
       bson_iter_find_w_len(&child, part->name, (int) part->len)) {
      /* "a.1" names the element itself; the positional index stays the outer one. */
      if (walk_found(w, &child, i, array_index)) {
         return true;
      }
   }
   if (!bson_iter_recurse(array, &child)) {
      return false;
   }
   for (int32_t k = 0; bson_iter_next(&child); k++) {
      if (bson_iter_type(&child) == BSON_TYPE_DOCUMENT) {
         bson_iter_t grand;
         if (bson_iter_recurse(&child, &grand) &&
             walk_doc(w, &grand, i, array_index >= 0 ? array_index : k)) {
            return true;
         }
      }
   }
   return false;
}

static bool
emit(const walk_t *w, const bson_iter_t *value, int32_t array_index, bool whole)
{
   fe_path_hit_t hit = {value, array_index, whole};
   return w->fn(&hit, w->ctx);
}
