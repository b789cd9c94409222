/*
 * update_int.h: helpers private to the update engine and the aggregation code (expr.c,
 * aggregate/): BSON number arithmetic with MongoDB's promotion rules, type names, and short
 * value rendering for error messages. Implemented in update_util.c.
 */
#ifndef FE_UPDATE_INT_H
#define FE_UPDATE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "bson/collation.h"
#include "error/error.h"

/* True for int32, int64, double and decimal128. */
bool update_util_is_number(bson_type_t type);

/* Arithmetic on two numeric values (update_util_is_number() holds for both). The result
 * takes the wider type: int32 < int64 < double < decimal128; int32 overflow promotes to
 * int64 and int64 overflow to double, as MongoDB does. *out needs no destruction. */
void update_util_add(const bson_value_t *a, const bson_value_t *b, bson_value_t *out);
void update_util_subtract(const bson_value_t *a, const bson_value_t *b, bson_value_t *out);
void update_util_multiply(const bson_value_t *a, const bson_value_t *b, bson_value_t *out);

/* Division always yields a double, or a decimal when an operand is decimal. False when b is
 * zero. */
bool update_util_divide(const bson_value_t *a, const bson_value_t *b, bson_value_t *out);

/* Remainder with the sign of a, in the wider type. False when b is zero. */
bool update_util_mod(const bson_value_t *a, const bson_value_t *b, bson_value_t *out);

/* The numeric value as a double (decimal128 rounded). */
double update_util_to_double(const bson_value_t *v);

/* Sets *out to the value as int64 when it is an integral number that fits; false otherwise. */
bool update_util_to_int64(const bson_value_t *v, int64_t *out);

/* Decimal128 <-> host decimal conversions (GCC's _Decimal128 uses the same BID encoding). */
void update_util_decimal_from_double(double d, bson_decimal128_t *out);
void update_util_decimal_from_int64(int64_t i, bson_decimal128_t *out);

/* MongoDB's alias of a BSON type: "double", "string", "object", "int", "long", ... */
const char *update_util_type_name(bson_type_t type);

/* The value rendered as relaxed extended JSON, for messages. Owned by the caller
 * (bson_free). */
char *update_util_value_json(const bson_value_t *v);

/* Points *iter at a copy of v stored in *holder (caller storage, initialized here; destroy
 * with bson_destroy()), so that values can be handed to the iterator-based compare.h. */
void update_util_value_iter(const bson_value_t *v, bson_t *holder, bson_iter_t *iter);

/* Compares two values with compare_values() semantics. */
int update_util_compare_values(const bson_value_t *a, const bson_value_t *b);
/* As update_util_compare_values(), under collator (NULL: binary). */
int update_util_compare_values_collated(const bson_value_t *a, const bson_value_t *b,
                                        const fe_collator_t *collator);

/* Pipeline-style updates (update_pipeline.c): checks the stages an update pipeline may use
 * ($addFields/$set, $project, $unset, $replaceRoot/$replaceWith) and compiles them; let
 * (nullable) as for pipeline_compile(); collator (borrowed, nullable) as for
 * pipeline_compile_collated(). */
void *update_pipeline_compile(const bson_t *pipeline, const bson_t *let,
                              const fe_collator_t *collator, fe_error_t *error);
bool update_pipeline_apply(void *pipeline, const bson_t *doc, bson_t *out, fe_error_t *error);
void update_pipeline_destroy(void *pipeline);

#endif /* FE_UPDATE_INT_H */
