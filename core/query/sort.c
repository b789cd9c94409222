/*
 * sort.c: sort specifications and sorting documents in MongoDB's order ("Comparison/Sort
 * Order"): compound keys, BSON order across types, arrays by their smallest element ascending
 * and largest descending, missing as null, an empty array below null.
 */
#include "query/sort.h"

#include <stdlib.h>
#include <string.h>

#include "bson/compare.h"
#include "bson/numeric.h"
#include "bson/path.h"

typedef struct sort_key {
   fe_path_t path;
   int direction; /* 1 or -1 */
} sort_key_t;

struct fe_sort {
   sort_key_t *keys; /* owned, count entries */
   size_t count;
   bool natural;
   int natural_direction;
   const fe_collator_t *collator; /* borrowed; NULL: binary */
};

typedef enum key_kind { KEY_VALUE, KEY_NULL, KEY_UNDEFINED } key_kind_t;

/* A document's sort key for one path: where its value lies, so that it can be read again
 * without copying (bson_iter_t is too large to keep one per document). */
typedef struct key_ref {
   const uint8_t *raw; /* borrowed from the document */
   uint32_t len;
   uint32_t off;
   uint32_t keylen;
   key_kind_t kind;
} key_ref_t;

typedef struct entry {
   const bson_t *doc;
   size_t index;
   key_ref_t *keys; /* borrowed from the sort's key array */
} entry_t;

typedef struct key_search {
   int direction;
   const fe_collator_t *collator;
   key_ref_t best;
   bool found;
} key_search_t;

static int key_compare(const key_ref_t *a, const key_ref_t *b, const fe_collator_t *collator);
static bool key_visit(const fe_path_hit_t *hit, void *ctx);
static int entry_compare(const void *a, const void *b, void *ctx);

fe_sort_t *
sort_compile(const bson_t *spec, fe_error_t *error)
{
   return sort_compile_collated(spec, NULL, error);
}

const fe_collator_t *
sort_collator(const fe_sort_t *sort)
{
   return sort ? sort->collator : NULL;
}

fe_sort_t *
sort_compile_collated(const bson_t *spec, const fe_collator_t *collator, fe_error_t *error)
{
   fe_sort_t *sort = bson_malloc0(sizeof *sort);
   uint32_t n = bson_count_keys(spec);
   bson_iter_t it;
   bool ok = false;

   sort->keys = bson_malloc0((n ? n : 1) * sizeof *sort->keys);
   sort->collator = collator;
   if (!bson_iter_init(&it, spec)) {
      error_set(error, FE_BadValue, "invalid sort specification");
      goto done;
   }
   while (bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      int64_t direction = 0;
      if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
         error_set(error, FE_BadValue, "$meta sort is not supported: '%s'", key);
         goto done;
      }
      if (!numeric_is_number(bson_iter_type(&it)) || !numeric_to_int64_exact(&it, &direction) ||
          (direction != 1 && direction != -1)) {
         error_set(error, FE_BadValue,
                   "$sort key ordering must be 1 (for ascending) or -1 (for descending)");
         goto done;
      }
      if (strcmp(key, "$natural") == 0) {
         sort->natural = true;
         sort->natural_direction = (int) direction;
         continue;
      }
      if (key[0] == '$' || strstr(key, ".$")) {
         error_set(error, FE_BadValue, "FieldPath field names may not start with '$': '%s'", key);
         goto done;
      }
      if (!path_init(&sort->keys[sort->count].path, key, bson_iter_key_len(&it), error)) {
         path_destroy(&sort->keys[sort->count].path);
         goto done;
      }
      sort->keys[sort->count++].direction = (int) direction;
   }
   ok = true;
done:
   if (!ok) {
      sort_destroy(sort);
      sort = NULL;
   }
   return sort;
}

bool
sort_is_natural(const fe_sort_t *sort, int *direction)
{
   bool natural = sort->natural && sort->count == 0;
   if (direction) {
      *direction = natural ? sort->natural_direction : 1;
   }
   return natural;
}

void
sort_documents(const fe_sort_t *sort, const bson_t **docs, size_t count)
{
   entry_t *entries;
   key_ref_t *keys;

   if (count < 2) {
      return;
   }
   if (sort->count == 0) {
      if (sort->natural && sort->natural_direction < 0) {
         for (size_t i = 0; i < count / 2; i++) {
            const bson_t *t = docs[i];
            docs[i] = docs[count - 1 - i];
            docs[count - 1 - i] = t;
         }
      }
      return;
   }
   entries = bson_malloc(count * sizeof *entries);
   keys = bson_malloc(count * sort->count * sizeof *keys);
   for (size_t i = 0; i < count; i++) {
      bson_iter_t it;
      entries[i].doc = docs[i];
      entries[i].index = i;
      entries[i].keys = &keys[i * sort->count];
      for (size_t k = 0; k < sort->count; k++) {
         key_search_t search = {.direction = sort->keys[k].direction, .collator = sort->collator};
         search.best.kind = KEY_NULL;
         if (bson_iter_init(&it, docs[i])) {
            path_visit(&sort->keys[k].path, 0, &it, PATH_LEAF_ELEMENTS | PATH_LEAF_WHOLE, key_visit,
                       &search);
         }
         entries[i].keys[k] = search.best;
      }
   }
   qsort_r(entries, count, sizeof *entries, entry_compare, (void *) sort);
   for (size_t i = 0; i < count; i++) {
      docs[i] = entries[i].doc;
   }
   bson_free(keys);
   bson_free(entries);
}

void
sort_destroy(fe_sort_t *sort)
{
   if (sort) {
      for (size_t i = 0; i < sort->count; i++) {
         path_destroy(&sort->keys[i].path);
      }
      bson_free(sort->keys);
      bson_free(sort);
   }
}

/* Keeps the smallest candidate (ascending) or the largest (descending). */
static bool
key_visit(const fe_path_hit_t *hit, void *ctx)
{
   key_search_t *search = ctx;
   key_ref_t candidate = {NULL, 0, 0, 0, KEY_NULL};

   if (hit->whole_array) {
      bson_iter_t child;
      if (bson_iter_recurse(hit->value, &child) && bson_iter_next(&child)) {
         return false; /* its elements were the candidates */
      }
      candidate.kind = KEY_UNDEFINED; /* an empty array sorts below null */
   } else if (hit->value) {
      candidate.kind = KEY_VALUE;
      candidate.raw = hit->value->raw;
      candidate.len = hit->value->len;
      candidate.off = hit->value->off;
      candidate.keylen = bson_iter_key_len(hit->value);
   }
   if (!search->found ||
       key_compare(&candidate, &search->best, search->collator) * search->direction < 0) {
      search->best = candidate;
      search->found = true;
   }
   return false;
}

static int
key_bracket(const key_ref_t *key, const bson_iter_t *it)
{
   switch (key->kind) {
   case KEY_NULL:
      return compare_type_bracket(BSON_TYPE_NULL);
   case KEY_UNDEFINED:
      return compare_type_bracket(BSON_TYPE_UNDEFINED);
   case KEY_VALUE:
      return compare_type_bracket(bson_iter_type(it));
   }
   return 0;
}

static int
key_compare(const key_ref_t *a, const key_ref_t *b, const fe_collator_t *collator)
{
   bson_iter_t ia = {0}, ib = {0};
   if (a->kind == KEY_VALUE) {
      bson_iter_init_from_data_at_offset(&ia, a->raw, a->len, a->off, a->keylen);
   }
   if (b->kind == KEY_VALUE) {
      bson_iter_init_from_data_at_offset(&ib, b->raw, b->len, b->off, b->keylen);
   }
   int ba = key_bracket(a, &ia), bb = key_bracket(b, &ib);
   if (ba != bb) {
      return ba < bb ? -1 : 1;
   }
   if (a->kind != KEY_VALUE || b->kind != KEY_VALUE) {
      return 0;
   }
   return compare_values_collated(&ia, &ib, collator);
}

/* Ties keep the input order, so the sort is stable. */
static int
entry_compare(const void *pa, const void *pb, void *ctx)
{
   const fe_sort_t *sort = ctx;
   const entry_t *a = pa, *b = pb;
   for (size_t k = 0; k < sort->count; k++) {
      int c = key_compare(&a->keys[k], &b->keys[k], sort->collator);
      if (c != 0) {
         return c * sort->keys[k].direction;
      }
   }
   return (a->index > b->index) - (a->index < b->index);
}
