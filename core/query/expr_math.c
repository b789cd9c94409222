/*
 * expr_math.c: arithmetic and type expressions registered in expr.c's table: $round and $trunc
 * with a place, $sqrt $exp $ln $log10 $log $pow, $isNumber, $bsonSize and $binarySize.
 *
 * $round and $trunc follow MongoDB: every number is rounded as a decimal (a double through its
 * 34-digit decimal form), $round halves to even, and integers stay integers (int32 widening to
 * int64 when the rounded value needs it). Rounding of decimal128 is exact, on the coefficient.
 * The transcendental functions of a decimal128 are computed in long double and so carry about
 * 19 significant digits where MongoDB carries 34.
 */
#include "query/expr_int.h"
#include "query/expr_value_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/update_int.h"

__extension__ typedef unsigned __int128 u128_t;

/* A decimal number: (-1)^neg * coef * 10^exp, or an infinity or NaN. */
typedef enum dec_class {
   DEC_FINITE,
   DEC_INF,
   DEC_NAN,
} dec_class_t;

typedef struct dec {
   dec_class_t cls;
   bool neg;
   int32_t exp;
   u128_t coef;
} dec_t;

typedef enum round_mode {
   ROUND_HALF_EVEN,
   ROUND_TOWARD_ZERO,
} round_mode_t;

#define DEC_MAX_DIGITS 34
#define DEC_EXP_BIAS 6176

/* Decimal numbers. */
static u128_t pow10_u128(int n);
static int digits_u128(u128_t v);
static void dec_from_bson(const bson_decimal128_t *raw, dec_t *d);
static void dec_to_bson(const dec_t *d, bson_decimal128_t *raw);
static void dec_from_double(double x, dec_t *d);
static double dec_to_double(const dec_t *d);
static void dec_quantize(dec_t *d, int32_t exp, round_mode_t mode);
static bool dec_to_int64(const dec_t *d, int64_t *out);
static long double unary_long_double(const char *name, long double x);
static double unary_double(const char *name, double x);
static long double decimal_to_long_double(const bson_decimal128_t *raw);
static void decimal_from_long_double(long double x, bson_value_t *out);

/* Helpers. */
static bool round_or_trunc(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out, round_mode_t mode);
static bool integral_int64(const bson_value_t *v, int64_t *out);

/*
 * Operators
 */

/* The default parse with MongoDB's code for operators taking a range of argument counts. */
fe_expr_t *
expr_math_parse_ranged(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   fe_expr_t *e = expr_parse_list(op, operand, error);
   if (!e && error && error->code == 16020) {
      error->code = 28667;
   }
   return e;
}

bool
expr_math_round(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   return round_or_trunc(e, c, out, ROUND_HALF_EVEN);
}

bool
expr_math_trunc(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   return round_or_trunc(e, c, out, ROUND_TOWARD_ZERO);
}

/* $sqrt $exp $ln $log10: one numeric argument; a double result, or a decimal for a decimal. */
bool
expr_math_unary(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   const char *name = e->op->name;
   bson_value_t v;
   bool ok = false;
   long double x;

   if (!expr_eval_node(e->args[0], c, &v)) {
      return false;
   }
   if (expr_val_nullish(&v)) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   if (!update_util_is_number(v.value_type)) {
      error_set(c->error, 28765, "%s only supports numeric types, not %s", name,
                expr_val_type_name(&v));
      goto done;
   }
   x = v.value_type == BSON_TYPE_DECIMAL128 ? decimal_to_long_double(&v.value.v_decimal128)
                                            : (long double) update_util_to_double(&v);
   /* NaN passes every domain check and comes out as NaN. */
   if (strcmp(name, "$sqrt") == 0) {
      if (x < 0) {
         error_set(c->error, 28714, "$sqrt's argument must be greater than or equal to 0");
         goto done;
      }
   } else if (strcmp(name, "$ln") == 0) {
      if (!(x > 0) && !isnan(x)) {
         error_set(c->error, 28766, "$ln's argument must be a positive number, but is %Lg", x);
         goto done;
      }
   } else if (strcmp(name, "$log10") == 0) {
      if (!(x > 0) && !isnan(x)) {
         error_set(c->error, 28761, "$log10's argument must be a positive number, but is %Lg", x);
         goto done;
      }
   }
   if (v.value_type == BSON_TYPE_DECIMAL128) {
      decimal_from_long_double(unary_long_double(name, x), out);
   } else {
      /* Doubles go through the double functions, as mongod's std:: calls do: long double
       * would round differently in the last bit now and then. */
      expr_val_double(out, unary_double(name, (double) x));
   }
   ok = true;

done:
   bson_value_destroy(&v);
   return ok;
}

/* $log: [number, base]. */
bool
expr_math_log(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t vals[2];
   bool ok = false, decimal;
   long double x, base;

   if (!expr_eval_args(e, c, vals)) {
      return false;
   }
   if (expr_val_nullish(&vals[0]) || expr_val_nullish(&vals[1])) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   if (!update_util_is_number(vals[0].value_type)) {
      error_set(c->error, 28756, "$log's argument must be numeric, not %s",
                expr_val_type_name(&vals[0]));
      goto done;
   }
   if (!update_util_is_number(vals[1].value_type)) {
      error_set(c->error, 28757, "$log's base must be numeric, not %s",
                expr_val_type_name(&vals[1]));
      goto done;
   }
   decimal =
      vals[0].value_type == BSON_TYPE_DECIMAL128 || vals[1].value_type == BSON_TYPE_DECIMAL128;
   x = vals[0].value_type == BSON_TYPE_DECIMAL128
          ? decimal_to_long_double(&vals[0].value.v_decimal128)
          : (long double) update_util_to_double(&vals[0]);
   base = vals[1].value_type == BSON_TYPE_DECIMAL128
             ? decimal_to_long_double(&vals[1].value.v_decimal128)
             : (long double) update_util_to_double(&vals[1]);
   if (!(x > 0) && !isnan(x)) {
      error_set(c->error, 28758, "$log's argument must be a positive number, but is %Lg", x);
      goto done;
   }
   if (!((base > 0 && base != 1) || isnan(base))) {
      error_set(c->error, 28759, "$log's base must be a positive number not equal to 1, but is %Lg",
                base);
      goto done;
   }
   if (decimal) {
      decimal_from_long_double(logl(x) / logl(base), out);
   } else {
      expr_val_double(out, log((double) x) / log((double) base));
   }
   ok = true;

done:
   for (int i = 0; i < 2; i++) {
      bson_value_destroy(&vals[i]);
   }
   return ok;
}

/* $pow: [base, exponent]. Integers stay integers while the exact result fits, as in MongoDB. */
bool
expr_math_pow(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t vals[2];
   bson_type_t bt, et;
   bool ok = false;

   if (!expr_eval_args(e, c, vals)) {
      return false;
   }
   bt = vals[0].value_type;
   et = vals[1].value_type;
   if (expr_val_nullish(&vals[0]) || expr_val_nullish(&vals[1])) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   if (!update_util_is_number(bt)) {
      error_set(c->error, 28762, "$pow's base must be numeric, not %s",
                expr_val_type_name(&vals[0]));
      goto done;
   }
   if (!update_util_is_number(et)) {
      error_set(c->error, 28763, "$pow's exponent must be numeric, not %s",
                expr_val_type_name(&vals[1]));
      goto done;
   }
   if (bt == BSON_TYPE_DECIMAL128 || et == BSON_TYPE_DECIMAL128) {
      long double b = bt == BSON_TYPE_DECIMAL128
                         ? decimal_to_long_double(&vals[0].value.v_decimal128)
                         : (long double) update_util_to_double(&vals[0]);
      long double x = et == BSON_TYPE_DECIMAL128
                         ? decimal_to_long_double(&vals[1].value.v_decimal128)
                         : (long double) update_util_to_double(&vals[1]);
      if (b == 0 && x < 0) {
         error_set(c->error, 28764, "$pow cannot take a base of 0 and a negative exponent");
         goto done;
      }
      decimal_from_long_double(powl(b, x), out);
   } else if (bt == BSON_TYPE_DOUBLE || et == BSON_TYPE_DOUBLE) {
      double b = update_util_to_double(&vals[0]), x = update_util_to_double(&vals[1]);
      if (b == 0 && x < 0) {
         error_set(c->error, 28764, "$pow cannot take a base of 0 and a negative exponent");
         goto done;
      }
      expr_val_double(out, pow(b, x));
   } else {
      int64_t b = bt == BSON_TYPE_INT32 ? vals[0].value.v_int32 : vals[0].value.v_int64;
      int64_t x = et == BSON_TYPE_INT32 ? vals[1].value.v_int32 : vals[1].value.v_int64;
      bool as_long = bt == BSON_TYPE_INT64 || et == BSON_TYPE_INT64;
      int64_t r = 1;
      bool overflow = false;

      if (b == 0 && x < 0) {
         error_set(c->error, 28764, "$pow cannot take a base of 0 and a negative exponent");
         goto done;
      }
      if (b == 1 || (b == -1 && x % 2 == 0)) {
         r = 1;
      } else if (b == -1) {
         r = -1;
      } else if (b == 0) {
         r = x == 0 ? 1 : 0;
      } else if (x < 0) {
         overflow = true;
      } else {
         /* Exact repeated squaring; any overflow gives the double result instead. */
         int64_t base = b, exp = x;
         while (exp > 0 && !overflow) {
            if (exp & 1) {
               overflow = __builtin_mul_overflow(r, base, &r);
            }
            exp >>= 1;
            if (exp > 0 && !overflow) {
               overflow = __builtin_mul_overflow(base, base, &base);
            }
         }
      }
      if (overflow) {
         expr_val_double(out, pow((double) b, (double) x));
      } else if (as_long || r < INT32_MIN || r > INT32_MAX) {
         expr_val_int64(out, r);
      } else {
         expr_val_int32(out, (int32_t) r);
      }
   }
   ok = true;

done:
   for (int i = 0; i < 2; i++) {
      bson_value_destroy(&vals[i]);
   }
   return ok;
}

bool
expr_math_is_number(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t v;

   if (!expr_eval_node(e->args[0], c, &v)) {
      return false;
   }
   memset(out, 0, sizeof *out);
   out->value_type = BSON_TYPE_BOOL;
   out->value.v_bool = update_util_is_number(v.value_type);
   bson_value_destroy(&v);
   return true;
}

bool
expr_math_bson_size(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t v;
   bool ok = true;

   if (!expr_eval_node(e->args[0], c, &v)) {
      return false;
   }
   if (expr_val_nullish(&v)) {
      expr_val_null(out);
   } else if (v.value_type != BSON_TYPE_DOCUMENT) {
      ok = error_set(c->error, 31393, "$bsonSize requires a document input, found: %s",
                     expr_val_type_name(&v));
   } else {
      expr_val_int32(out, (int32_t) v.value.v_doc.data_len);
   }
   bson_value_destroy(&v);
   return ok;
}

bool
expr_math_binary_size(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t v;
   bool ok = true;

   if (!expr_eval_node(e->args[0], c, &v)) {
      return false;
   }
   if (expr_val_nullish(&v)) {
      expr_val_null(out);
   } else if (v.value_type == BSON_TYPE_UTF8) {
      expr_val_int32(out, (int32_t) v.value.v_utf8.len);
   } else if (v.value_type == BSON_TYPE_BINARY) {
      expr_val_int32(out, (int32_t) v.value.v_binary.data_len);
   } else {
      ok =
         error_set(c->error, 51276, "$binarySize requires a string or BinData argument, found: %s",
                   expr_val_type_name(&v));
   }
   bson_value_destroy(&v);
   return ok;
}

/*
 * Helpers
 */

static bool
round_or_trunc(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out, round_mode_t mode)
{
   bson_value_t vals[2];
   int64_t place = 0;
   bool ok = false;
   dec_t d;

   if (!expr_eval_args(e, c, vals)) {
      return false;
   }
   if (expr_val_nullish(&vals[0])) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   if (!update_util_is_number(vals[0].value_type)) {
      error_set(c->error, 51081, "%s only supports numeric types, not %s", e->op->name,
                expr_val_type_name(&vals[0]));
      goto done;
   }
   if (e->n_args > 1) {
      if (expr_val_nullish(&vals[1])) {
         expr_val_null(out);
         ok = true;
         goto done;
      }
      if (!integral_int64(&vals[1], &place)) {
         error_set(c->error, 51082, "precision argument to %s must be a integral value",
                   e->op->name);
         goto done;
      }
      if (place < -20 || place > 100) {
         error_set(c->error, 51083,
                   "cannot apply %s with precision value %lld value must be in [-20, 100]",
                   e->op->name, (long long) place);
         goto done;
      }
   }
   switch (vals[0].value_type) {
   case BSON_TYPE_DECIMAL128:
      dec_from_bson(&vals[0].value.v_decimal128, &d);
      if (d.cls == DEC_FINITE) {
         dec_quantize(&d, (int32_t) -place, mode);
      }
      memset(out, 0, sizeof *out);
      out->value_type = BSON_TYPE_DECIMAL128;
      dec_to_bson(&d, &out->value.v_decimal128);
      break;
   case BSON_TYPE_DOUBLE:
      if (!isfinite(vals[0].value.v_double)) {
         expr_val_double(out, vals[0].value.v_double);
         break;
      }
      dec_from_double(vals[0].value.v_double, &d);
      dec_quantize(&d, (int32_t) -place, mode);
      expr_val_double(out, dec_to_double(&d));
      break;
   default: {
      int64_t i =
         vals[0].value_type == BSON_TYPE_INT32 ? vals[0].value.v_int32 : vals[0].value.v_int64;
      int64_t r;
      if (place >= 0) {
         *out = vals[0];
         memset(&vals[0], 0, sizeof vals[0]);
         ok = true;
         goto done;
      }
      d.cls = DEC_FINITE;
      d.neg = i < 0;
      d.exp = 0;
      d.coef = i < 0 ? (u128_t) (-(i + 1)) + 1 : (u128_t) i;
      dec_quantize(&d, (int32_t) -place, mode);
      if (!dec_to_int64(&d, &r)) {
         error_set(c->error, 51080,
                   "invalid conversion from Decimal128 result in %s resulting from arguments: "
                   "[%lld, %lld]",
                   e->op->name, (long long) i, (long long) place);
         goto done;
      }
      if (vals[0].value_type == BSON_TYPE_INT64 || r < INT32_MIN || r > INT32_MAX) {
         expr_val_int64(out, r);
      } else {
         expr_val_int32(out, (int32_t) r);
      }
   }
   }
   ok = true;

done:
   for (size_t i = 0; i < e->n_args && i < 2; i++) {
      bson_value_destroy(&vals[i]);
   }
   return ok;
}

/* True when v is a number with an integral value that fits int64. */
static bool
integral_int64(const bson_value_t *v, int64_t *out)
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
      if (!isfinite(d) || d != trunc(d) || d < -9223372036854775808.0 ||
          d >= 9223372036854775808.0) {
         return false;
      }
      *out = (int64_t) d;
      return true;
   }
   case BSON_TYPE_DECIMAL128: {
      dec_t d, q;
      dec_from_bson(&v->value.v_decimal128, &d);
      if (d.cls != DEC_FINITE) {
         return false;
      }
      q = d;
      dec_quantize(&q, d.exp < 0 ? 0 : d.exp, ROUND_TOWARD_ZERO);
      /* Integral when truncating the fraction loses nothing. */
      if (d.exp < 0 && q.coef * pow10_u128(-d.exp) != d.coef) {
         return false;
      }
      return dec_to_int64(&q, out);
   }
   default:
      return false;
   }
}

/*
 * Decimal numbers
 */

static u128_t
pow10_u128(int n)
{
   u128_t r = 1;
   for (int i = 0; i < n; i++) {
      r *= 10;
   }
   return r;
}

static int
digits_u128(u128_t v)
{
   int n = 0;
   while (v > 0) {
      v /= 10;
      n++;
   }
   return n;
}

/* Decodes the BID encoding BSON uses. */
static void
dec_from_bson(const bson_decimal128_t *raw, dec_t *d)
{
   uint64_t hi = raw->high, lo = raw->low;

   memset(d, 0, sizeof *d);
   d->neg = (hi >> 63) != 0;
   if (((hi >> 58) & 0x1f) == 0x1f) {
      d->cls = DEC_NAN;
   } else if (((hi >> 58) & 0x1f) == 0x1e) {
      d->cls = DEC_INF;
   } else if (((hi >> 61) & 3) == 3) {
      /* The large-coefficient form always exceeds 34 digits: a non-canonical zero. */
      d->exp = (int32_t) ((hi >> 47) & 0x3fff) - DEC_EXP_BIAS;
   } else {
      d->exp = (int32_t) ((hi >> 49) & 0x3fff) - DEC_EXP_BIAS;
      d->coef = ((u128_t) (hi & ((1ULL << 49) - 1)) << 64) | lo;
      if (d->coef >= pow10_u128(DEC_MAX_DIGITS)) {
         d->coef = 0;
      }
   }
}

static void
dec_to_bson(const dec_t *d, bson_decimal128_t *raw)
{
   uint64_t sign = d->neg ? 1ULL << 63 : 0;

   if (d->cls == DEC_NAN) {
      raw->high = 0x7c00000000000000ULL;
      raw->low = 0;
      return;
   }
   if (d->cls == DEC_INF) {
      raw->high = sign | 0x7800000000000000ULL;
      raw->low = 0;
      return;
   }
   raw->high = sign | ((uint64_t) (d->exp + DEC_EXP_BIAS) << 49) | (uint64_t) (d->coef >> 64);
   raw->low = (uint64_t) d->coef;
}

/* The double's value rounded to 34 significant digits (glibc prints exact digits). */
static void
dec_from_double(double x, dec_t *d)
{
   char buf[64];
   char *p = buf;

   memset(d, 0, sizeof *d);
   snprintf(buf, sizeof buf, "%.33e", x);
   if (*p == '-') {
      d->neg = true;
      p++;
   }
   for (; *p && *p != 'e'; p++) {
      if (*p >= '0' && *p <= '9') {
         d->coef = d->coef * 10 + (u128_t) (*p - '0');
      }
   }
   d->exp = (int32_t) strtol(p + 1, NULL, 10) - 33;
}

static void
u128_to_string(u128_t v, char *buf)
{
   char tmp[48];
   int n = 0;
   do {
      tmp[n++] = (char) ('0' + (int) (v % 10));
      v /= 10;
   } while (v > 0);
   for (int i = 0; i < n; i++) {
      buf[i] = tmp[n - 1 - i];
   }
   buf[n] = '\0';
}

static double
dec_to_double(const dec_t *d)
{
   char buf[96];
   size_t len;

   buf[0] = d->neg ? '-' : '+';
   u128_to_string(d->coef, buf + 1);
   len = strlen(buf);
   snprintf(buf + len, sizeof buf - len, "e%d", (int) d->exp);
   return strtod(buf, NULL);
}

/* Sets d's exponent to exp, rounding the coefficient by mode. A larger exponent is reached
 * only as far as 34 digits allow (the value is then kept exactly, as MongoDB's quantize
 * does). */
static void
dec_quantize(dec_t *d, int32_t exp, round_mode_t mode)
{
   if (d->exp < exp) {
      int shift = exp - d->exp;
      u128_t q, r, half_unit;
      if (shift > DEC_MAX_DIGITS + 4) {
         q = 0;
         r = d->coef;
         /* Below half a unit in every case: the coefficient has at most 34 digits. */
         half_unit = r + 1;
      } else {
         u128_t div = pow10_u128(shift);
         q = d->coef / div;
         r = d->coef % div;
         half_unit = div / 2;
      }
      if (mode == ROUND_HALF_EVEN && (r > half_unit || (r == half_unit && r != 0 && (q & 1)))) {
         q++;
      }
      d->coef = q;
      d->exp = exp;
   } else if (d->exp > exp) {
      int room = DEC_MAX_DIGITS - digits_u128(d->coef);
      int shift = d->exp - exp < room ? d->exp - exp : room;
      if (d->coef == 0) {
         shift = d->exp - exp;
      }
      d->coef *= pow10_u128(shift);
      d->exp -= shift;
   }
}

static bool
dec_to_int64(const dec_t *d, int64_t *out)
{
   u128_t v = d->coef;
   if (d->cls != DEC_FINITE || d->exp < 0) {
      return false;
   }
   for (int i = 0; i < d->exp; i++) {
      if (v > ((u128_t) 1 << 64)) {
         return false;
      }
      v *= 10;
   }
   if (d->neg ? v > (u128_t) 1 << 63 : v >= (u128_t) 1 << 63) {
      return false;
   }
   *out = d->neg ? (int64_t) (0 - (uint64_t) v) : (int64_t) v;
   return true;
}

/* $sqrt $exp $ln or $log10 of x, its domain already checked. */
static long double
unary_long_double(const char *name, long double x)
{
   if (strcmp(name, "$sqrt") == 0) {
      return sqrtl(x);
   }
   if (strcmp(name, "$exp") == 0) {
      return expl(x);
   }
   if (strcmp(name, "$ln") == 0) {
      return logl(x);
   }
   return log10l(x);
}

static double
unary_double(const char *name, double x)
{
   if (strcmp(name, "$sqrt") == 0) {
      return sqrt(x);
   }
   if (strcmp(name, "$exp") == 0) {
      return exp(x);
   }
   if (strcmp(name, "$ln") == 0) {
      return log(x);
   }
   return log10(x);
}

static long double
decimal_to_long_double(const bson_decimal128_t *raw)
{
   char buf[BSON_DECIMAL128_STRING];
   bson_decimal128_to_string(raw, buf);
   return strtold(buf, NULL);
}

static void
decimal_from_long_double(long double x, bson_value_t *out)
{
   char buf[64];

   memset(out, 0, sizeof *out);
   out->value_type = BSON_TYPE_DECIMAL128;
   if (isnan(x)) {
      snprintf(buf, sizeof buf, "NaN");
   } else if (isinf(x)) {
      snprintf(buf, sizeof buf, x > 0 ? "Infinity" : "-Infinity");
   } else {
      /* long double carries about 19 significant digits; trailing zeros are dropped so that
       * exact results keep the short form ($sqrt of 4 is 2). */
      char *e, *z;
      snprintf(buf, sizeof buf, "%.18Le", x);
      e = strchr(buf, 'e');
      for (z = e; z[-1] == '0'; z--) {
      }
      if (z[-1] == '.') {
         z--;
      }
      memmove(z, e, strlen(e) + 1);
   }
   bson_decimal128_from_string(buf, &out->value.v_decimal128);
}
