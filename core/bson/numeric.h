/*
 * numeric.h: exact comparison of BSON numbers across int32, int64, double and decimal128,
 * and their canonical decimal form (used by idkey.c so that equal numbers share one key).
 */
#ifndef FE_NUMERIC_H
#define FE_NUMERIC_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

__extension__ typedef unsigned __int128 numeric_u128_t;

typedef enum numeric_class {
   NUMERIC_NAN = 0, /* sorts below every other number; NaN equals NaN */
   NUMERIC_NEG_INF,
   NUMERIC_FINITE,
   NUMERIC_POS_INF,
} numeric_class_t;

/* A number's canonical form. For FINITE values: value = (negative ? -1 : 1) * coefficient *
 * 10^exponent with trailing decimal zeros stripped from coefficient, and zero always as
 * {false, 0, 0}. A double whose exact decimal expansion needs more than 34 digits equals no
 * decimal128 and no int64: it is marked raw_double and keeps its bits in raw. */
typedef struct numeric_canon {
   numeric_class_t cls;
   bool negative;
   bool raw_double;
   int32_t exponent;
   numeric_u128_t coefficient;
   uint64_t raw;
} numeric_canon_t;

/* True for int32, int64, double and decimal128. */
bool numeric_is_number(bson_type_t type);

/* Compares two numbers (both iterators at numeric types) by exact value: <0, 0 or >0.
 * NaN == NaN and NaN < -Infinity; -0 == 0. */
int numeric_compare(const bson_iter_t *a, const bson_iter_t *b);

/* Compares a number at iter with an int64 by exact value. */
int numeric_compare_int64(const bson_iter_t *a, int64_t b);

/* Fills *out with the canonical form of the number at iter (a numeric type). */
void numeric_canonicalize(const bson_iter_t *iter, numeric_canon_t *out);

/* Converts the number at iter to int64 truncating toward zero, as MongoDB does for $mod and
 * bit positions. Returns false for NaN, infinities and values out of int64 range. */
bool numeric_to_int64_trunc(const bson_iter_t *iter, int64_t *out);

/* True when the number at iter is an integral value (1, 1.0, NumberDecimal("1")); *out gets it.
 * False for fractions, NaN, infinities and values outside int64. */
bool numeric_to_int64_exact(const bson_iter_t *iter, int64_t *out);

/* The value as a double (rounded for int64/decimal beyond 2^53). */
double numeric_to_double(const bson_iter_t *iter);

#endif /* FE_NUMERIC_H */
