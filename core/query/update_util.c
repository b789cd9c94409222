/*
 * update_util.c: number arithmetic with MongoDB's type promotion, type names and value
 * rendering, shared by the update engine and the aggregation expressions (update_int.h).
 *
 * Decimal128 arithmetic uses GCC's _Decimal128, whose x86-64/aarch64 encoding (BID) is the
 * one BSON uses, so values are copied bit for bit between the two. Compilers without decimal
 * floating point (clang) fall back to long double through the decimal string form: close,
 * but not exact beyond long double's precision.
 */
#include "query/update_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bson/compare.h"

#if defined(__DEC128_MANT_DIG__)
#define HAVE_DECIMAL128 1
typedef _Decimal128 dec_t;
#define DEC_INT64_LIMIT 9223372036854775808.DL
#else
typedef long double dec_t;
#define DEC_INT64_LIMIT 9223372036854775808.0L
#endif

/* Ranks of the numeric types: an operation's result takes the highest rank involved. */
enum { RANK_INT32, RANK_INT64, RANK_DOUBLE, RANK_DECIMAL };

static int num_rank(const bson_value_t *v);
static dec_t to_dec(const bson_value_t *v);
static dec_t dec_from_bson(const bson_decimal128_t *raw);
static void dec_to_bson(dec_t d, bson_decimal128_t *raw);
static void set_dec(bson_value_t *out, dec_t d);
static void set_double(bson_value_t *out, double d);
static void set_integer(bson_value_t *out, int64_t i, int rank);
static int64_t to_i64(const bson_value_t *v);

bool
update_util_is_number(bson_type_t type)
{
   return type == BSON_TYPE_INT32 || type == BSON_TYPE_INT64 || type == BSON_TYPE_DOUBLE ||
          type == BSON_TYPE_DECIMAL128;
}

void
update_util_add(const bson_value_t *a, const bson_value_t *b, bson_value_t *out)
{
   int rank = num_rank(a) > num_rank(b) ? num_rank(a) : num_rank(b);
   int64_t r;

   if (rank == RANK_DECIMAL) {
      set_dec(out, to_dec(a) + to_dec(b));
   } else if (rank == RANK_DOUBLE) {
      set_double(out, update_util_to_double(a) + update_util_to_double(b));
   } else if (__builtin_add_overflow(to_i64(a), to_i64(b), &r)) {
      set_double(out, (double) to_i64(a) + (double) to_i64(b));
   } else {
      set_integer(out, r, rank);
   }
}

void
update_util_subtract(const bson_value_t *a, const bson_value_t *b, bson_value_t *out)
{
   int rank = num_rank(a) > num_rank(b) ? num_rank(a) : num_rank(b);
   int64_t r;

   if (rank == RANK_DECIMAL) {
      set_dec(out, to_dec(a) - to_dec(b));
   } else if (rank == RANK_DOUBLE) {
      set_double(out, update_util_to_double(a) - update_util_to_double(b));
   } else if (__builtin_sub_overflow(to_i64(a), to_i64(b), &r)) {
      set_double(out, (double) to_i64(a) - (double) to_i64(b));
   } else {
      set_integer(out, r, rank);
   }
}

void
update_util_multiply(const bson_value_t *a, const bson_value_t *b, bson_value_t *out)
{
   int rank = num_rank(a) > num_rank(b) ? num_rank(a) : num_rank(b);
   int64_t r;

   if (rank == RANK_DECIMAL) {
      set_dec(out, to_dec(a) * to_dec(b));
   } else if (rank == RANK_DOUBLE) {
      set_double(out, update_util_to_double(a) * update_util_to_double(b));
   } else if (__builtin_mul_overflow(to_i64(a), to_i64(b), &r)) {
      set_double(out, (double) to_i64(a) * (double) to_i64(b));
   } else {
      set_integer(out, r, rank);
   }
}

bool
update_util_divide(const bson_value_t *a, const bson_value_t *b, bson_value_t *out)
{
   if (num_rank(a) == RANK_DECIMAL || num_rank(b) == RANK_DECIMAL) {
      dec_t divisor = to_dec(b);
      if (divisor == 0) {
         return false;
      }
      set_dec(out, to_dec(a) / divisor);
      return true;
   }
   if (update_util_to_double(b) == 0.0) {
      return false;
   }
   set_double(out, update_util_to_double(a) / update_util_to_double(b));
   return true;
}

bool
update_util_mod(const bson_value_t *a, const bson_value_t *b, bson_value_t *out)
{
   int rank = num_rank(a) > num_rank(b) ? num_rank(a) : num_rank(b);

   if (rank == RANK_DECIMAL) {
      dec_t x = to_dec(a), y = to_dec(b), q;
      if (y == 0) {
         return false;
      }
      /* No decimal fmod in libgcc: truncate the quotient through long double when it fits. */
      q = x / y;
      q = (dec_t) (long long) q;
      set_dec(out, x - q * y);
   } else if (rank == RANK_DOUBLE) {
      double y = update_util_to_double(b);
      if (y == 0.0) {
         return false;
      }
      set_double(out, fmod(update_util_to_double(a), y));
   } else {
      int64_t x = to_i64(a), y = to_i64(b);
      if (y == 0) {
         return false;
      }
      set_integer(out, y == -1 ? 0 : x % y, rank);
   }
   return true;
}

double
update_util_to_double(const bson_value_t *v)
{
   switch (v->value_type) {
   case BSON_TYPE_INT32:
      return v->value.v_int32;
   case BSON_TYPE_INT64:
      return (double) v->value.v_int64;
   case BSON_TYPE_DOUBLE:
      return v->value.v_double;
   case BSON_TYPE_DECIMAL128:
      return (double) dec_from_bson(&v->value.v_decimal128);
   default:
      return 0.0;
   }
}

bool
update_util_to_int64(const bson_value_t *v, int64_t *out)
{
   switch (v->value_type) {
   case BSON_TYPE_INT32:
      *out = v->value.v_int32;
      return true;
   case BSON_TYPE_INT64:
      *out = v->value.v_int64;
      return true;
   case BSON_TYPE_DOUBLE: {
      double d = v->value.v_double;
      if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != trunc(d)) {
         return false;
      }
      *out = (int64_t) d;
      return true;
   }
   case BSON_TYPE_DECIMAL128: {
      dec_t d = dec_from_bson(&v->value.v_decimal128);
      if (!(d >= -DEC_INT64_LIMIT && d < DEC_INT64_LIMIT)) {
         return false;
      }
      if ((dec_t) (long long) d != d) {
         return false;
      }
      *out = (int64_t) d;
      return true;
   }
   default:
      return false;
   }
}

void
update_util_decimal_from_double(double d, bson_decimal128_t *out)
{
   char text[64];

   /* MongoDB converts a double to decimal with 15 significant digits. */
   if (isnan(d)) {
      snprintf(text, sizeof text, "NaN");
   } else if (isinf(d)) {
      snprintf(text, sizeof text, d > 0 ? "Infinity" : "-Infinity");
   } else {
      snprintf(text, sizeof text, "%.14e", d);
   }
   bson_decimal128_from_string(text, out);
}

void
update_util_decimal_from_int64(int64_t i, bson_decimal128_t *out)
{
#ifdef HAVE_DECIMAL128
   dec_t d = (dec_t) i;
   memcpy(out, &d, sizeof d);
#else
   char text[32];
   snprintf(text, sizeof text, "%lld", (long long) i);
   bson_decimal128_from_string(text, out);
#endif
}

const char *
update_util_type_name(bson_type_t type)
{
   switch (type) {
   case BSON_TYPE_DOUBLE:
      return "double";
   case BSON_TYPE_UTF8:
      return "string";
   case BSON_TYPE_DOCUMENT:
      return "object";
   case BSON_TYPE_ARRAY:
      return "array";
   case BSON_TYPE_BINARY:
      return "binData";
   case BSON_TYPE_UNDEFINED:
      return "undefined";
   case BSON_TYPE_OID:
      return "objectId";
   case BSON_TYPE_BOOL:
      return "bool";
   case BSON_TYPE_DATE_TIME:
      return "date";
   case BSON_TYPE_NULL:
      return "null";
   case BSON_TYPE_REGEX:
      return "regex";
   case BSON_TYPE_DBPOINTER:
      return "dbPointer";
   case BSON_TYPE_CODE:
      return "javascript";
   case BSON_TYPE_SYMBOL:
      return "symbol";
   case BSON_TYPE_CODEWSCOPE:
      return "javascriptWithScope";
   case BSON_TYPE_INT32:
      return "int";
   case BSON_TYPE_TIMESTAMP:
      return "timestamp";
   case BSON_TYPE_INT64:
      return "long";
   case BSON_TYPE_DECIMAL128:
      return "decimal";
   case BSON_TYPE_MINKEY:
      return "minKey";
   case BSON_TYPE_MAXKEY:
      return "maxKey";
   default:
      return "missing";
   }
}

char *
update_util_value_json(const bson_value_t *v)
{
   bson_t holder = BSON_INITIALIZER;
   char *json, *result;
   size_t len;

   bson_append_value(&holder, "v", 1, v);
   json = bson_as_relaxed_extended_json(&holder, &len);
   /* json is `{ "v" : <value> }`: keep <value>. */
   if (json && len > 10) {
      result = bson_strndup(json + 8, len - 10);
   } else {
      result = bson_strdup("?");
   }
   bson_free(json);
   bson_destroy(&holder);
   return result;
}

void
update_util_value_iter(const bson_value_t *v, bson_t *holder, bson_iter_t *iter)
{
   bson_init(holder);
   bson_append_value(holder, "v", 1, v);
   bson_iter_init(iter, holder);
   bson_iter_next(iter);
}

int
update_util_compare_values(const bson_value_t *a, const bson_value_t *b)
{
   return update_util_compare_values_collated(a, b, NULL);
}

int
update_util_compare_values_collated(const bson_value_t *a, const bson_value_t *b,
                                    const fe_collator_t *collator)
{
   bson_t ha, hb;
   bson_iter_t ia, ib;
   int cmp;

   update_util_value_iter(a, &ha, &ia);
   update_util_value_iter(b, &hb, &ib);
   cmp = compare_values_collated(&ia, &ib, collator);
   bson_destroy(&ha);
   bson_destroy(&hb);
   return cmp;
}

static int
num_rank(const bson_value_t *v)
{
   switch (v->value_type) {
   case BSON_TYPE_INT32:
      return RANK_INT32;
   case BSON_TYPE_INT64:
      return RANK_INT64;
   case BSON_TYPE_DECIMAL128:
      return RANK_DECIMAL;
   default:
      return RANK_DOUBLE;
   }
}

static dec_t
to_dec(const bson_value_t *v)
{
   bson_decimal128_t raw;

   switch (v->value_type) {
   case BSON_TYPE_DECIMAL128:
      raw = v->value.v_decimal128;
      break;
   case BSON_TYPE_DOUBLE:
      update_util_decimal_from_double(v->value.v_double, &raw);
      break;
   default:
      update_util_decimal_from_int64(to_i64(v), &raw);
      break;
   }
   return dec_from_bson(&raw);
}

static void
set_dec(bson_value_t *out, dec_t d)
{
   out->value_type = BSON_TYPE_DECIMAL128;
   dec_to_bson(d, &out->value.v_decimal128);
}

#ifdef HAVE_DECIMAL128
static dec_t
dec_from_bson(const bson_decimal128_t *raw)
{
   dec_t d;
   memcpy(&d, raw, sizeof d);
   return d;
}

static void
dec_to_bson(dec_t d, bson_decimal128_t *raw)
{
   memcpy(raw, &d, sizeof d);
}
#else
static dec_t
dec_from_bson(const bson_decimal128_t *raw)
{
   char text[BSON_DECIMAL128_STRING];
   bson_decimal128_to_string(raw, text);
   if (strcmp(text, "NaN") == 0) {
      return (dec_t) NAN;
   }
   return strtold(text, NULL);
}

static void
dec_to_bson(dec_t d, bson_decimal128_t *raw)
{
   char text[64];
   if (isnan(d)) {
      snprintf(text, sizeof text, "NaN");
   } else if (isinf(d)) {
      snprintf(text, sizeof text, d > 0 ? "Infinity" : "-Infinity");
   } else {
      snprintf(text, sizeof text, "%.18Lg", d);
   }
   bson_decimal128_from_string(text, raw);
}
#endif

static void
set_double(bson_value_t *out, double d)
{
   out->value_type = BSON_TYPE_DOUBLE;
   out->value.v_double = d;
}

static void
set_integer(bson_value_t *out, int64_t i, int rank)
{
   if (rank == RANK_INT32 && i >= INT32_MIN && i <= INT32_MAX) {
      out->value_type = BSON_TYPE_INT32;
      out->value.v_int32 = (int32_t) i;
   } else {
      out->value_type = BSON_TYPE_INT64;
      out->value.v_int64 = i;
   }
}

static int64_t
to_i64(const bson_value_t *v)
{
   return v->value_type == BSON_TYPE_INT32 ? v->value.v_int32 : v->value.v_int64;
}
