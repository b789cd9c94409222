/*
 * path.h: dotted field paths ("a.b.0.c"), split once, and the walk that visits every value a
 * path reaches in a document the way MongoDB's queries do: through embedded documents, through
 * arrays of documents (each element in turn), and by numeric components into arrays.
 */
#ifndef FE_PATH_H
#define FE_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "error/error.h"

typedef struct fe_path_part {
   const char *name; /* borrowed from fe_path_t.buf */
   uint32_t len;
   int32_t index; /* the component as an array index ("0", "12"), or -1 */
} fe_path_part_t;

typedef struct fe_path {
   char *buf;             /* owned: the dotted path with '.' replaced by '\0' */
   char *dotted;          /* owned: the dotted path as given */
   fe_path_part_t *parts; /* owned; count entries */
   size_t count;
} fe_path_t;

/* What path_visit() found. value is NULL when the path is missing there. array_index is the
 * index within the first (outermost) array the walk went through, or -1: what MongoDB's
 * positional `$` refers to. whole_array is true when value is a leaf array given as a whole
 * (after its elements, when PATH_LEAF_ELEMENTS is set too). */
typedef struct fe_path_hit {
   const bson_iter_t *value; /* borrowed; valid during the callback */
   int32_t array_index;
   bool whole_array;
} fe_path_hit_t;

/* Returns true to stop the walk. */
typedef bool (*path_visit_fn)(const fe_path_hit_t *hit, void *ctx);

enum {
   PATH_LEAF_ELEMENTS = 1, /* a leaf array yields each of its elements */
   PATH_LEAF_WHOLE = 2,    /* a leaf array yields itself */
};

/* Splits a dotted path. Fails (code 2 BadValue) on an empty path or an empty component.
 * On failure *path is still safe to path_destroy(). */
bool path_init(fe_path_t *path, const char *dotted, size_t len, fe_error_t *error);

/* Releases what path_init() allocated. */
void path_destroy(fe_path_t *path);

/* Visits the values path reaches below doc (a document's iterator before its first child, from
 * bson_iter_init() or bson_iter_recurse()), starting at component first. A scalar where the
 * path continues, or a missing field, yields one missing hit; an array where the path continues
 * yields the hits of its document elements (and of the element a numeric component names)
 * and nothing for its scalar elements. Returns true when fn stopped the walk. */
bool path_visit(const fe_path_t *path, size_t first, const bson_iter_t *doc, unsigned flags,
                path_visit_fn fn, void *ctx);

/* Parses a canonical array index ("0", "17"; not "01", "-1" or "1a") of len bytes; -1 if none. */
int32_t path_parse_index(const char *s, size_t len);

#endif /* FE_PATH_H */
