/*
 * sort.h: sort specifications and sorting of documents in BSON order.
 */
#ifndef FE_SORT_H
#define FE_SORT_H

#include <stdbool.h>
#include <stddef.h>

#include <bson/bson.h>

#include "bson/collation.h"
#include "error/error.h"

typedef struct fe_sort fe_sort_t;

/* Compiles a sort document ({a: 1, b: -1}, {$natural: 1}). Returns NULL and sets *error on
 * a bad spec. Owned by the caller. */
fe_sort_t *sort_compile(const bson_t *spec, fe_error_t *error);

/* Like sort_compile(), ordering strings under collator (borrowed; must outlive the sort; NULL:
 * binary). */
fe_sort_t *sort_compile_collated(const bson_t *spec, const fe_collator_t *collator,
                                 fe_error_t *error);

/* The collation of a compiled sort (NULL: binary). */
const fe_collator_t *sort_collator(const fe_sort_t *sort);

/* True when the sort is only {$natural: ±1}; direction receives the sign. */
bool sort_is_natural(const fe_sort_t *sort, int *direction);

/* Sorts docs in place, stable. Arrays sort by their smallest element ascending and largest
 * descending; missing fields sort as null. */
void sort_documents(const fe_sort_t *sort, const bson_t **docs, size_t count);

void sort_destroy(fe_sort_t *sort);

#endif /* FE_SORT_H */
