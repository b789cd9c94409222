/*
 * compare.h: MongoDB's total order over BSON values and documents.
 *
 * Values are ordered first by type bracket (MinKey < null/undefined < numbers < symbol/string
 * < object < array < binData < ObjectId < bool < date < timestamp < regex < ... < MaxKey),
 * then by value; numbers compare by exact value across int32, int64, double and decimal128.
 */
#ifndef FE_COMPARE_H
#define FE_COMPARE_H

#include <stdbool.h>

#include <bson/bson.h>

#include "bson/collation.h"

/* The type bracket of a BSON type: equal for types compared with each other (all numbers). */
int compare_type_bracket(bson_type_t type);

/* Compares the values the iterators point at: <0, 0 or >0. */
int compare_values(const bson_iter_t *a, const bson_iter_t *b);

/* As compare_values(), with strings (at any depth, not field names) compared under collator
 * (borrowed; NULL: binary, as compare_values()). */
int compare_values_collated(const bson_iter_t *a, const bson_iter_t *b,
                            const fe_collator_t *collator);

/* True when the two values are equal under MongoDB's rules (1 == 1.0 == NumberLong(1)). */
bool compare_values_equal(const bson_iter_t *a, const bson_iter_t *b);

/* Compares documents element by element: field names and values, as MongoDB orders objects. */
int compare_documents(const bson_t *a, const bson_t *b);

/* As compare_documents(), under collator (NULL: binary). */
int compare_documents_collated(const bson_t *a, const bson_t *b, const fe_collator_t *collator);

#endif /* FE_COMPARE_H */
