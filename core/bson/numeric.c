/*
 * numeric.c: exact comparison of BSON numbers across int32, int64, double and decimal128.
 *
 * int32/int64/double follow the usual exact integer-versus-double comparison. decimal128 is
 * decoded into sign, coefficient and exponent; decimal against an integer is decimal against
 * decimal (exact in 128 bits); decimal against a double is done exactly with a small bignum,
 * since a double's exact decimal expansion may need hundreds of digits.
 */
#include "bson/numeric.h"

#include <math.h>
#include <string.h>

typedef enum num_kind { NUM_INT, NUM_DOUBLE, NUM_DECIMAL } num_kind_t;

/* A decoded number. */
typedef struct num {
   num_kind_t kind;
   int64_t i;
   double d;
   /* NUM_DECIMAL */
   numeric_class_t cls;
   bool negative;
   numeric_u128_t coef;
   int32_t exp;
} num_t;

/* Enough 32-bit limbs for C * 5^6176 (113 + 14340 bits) with room to spare. */
#define BIG_LIMBS 480

typedef struct big {
   uint32_t limb[BIG_LIMBS];
   int n;
} big_t;

/* Decoding */
static void num_decode(const bson_iter_t *iter, num_t *out);
static void decimal_decode(const bson_decimal128_t *d, num_t *out);
static numeric_u128_t pow10_u128(int n);
static int digits_u128(numeric_u128_t v);

/* Comparison by kind */
static int cmp_int64_double(int64_t a, double b);
static int cmp_decimal_decimal(const num_t *a, const num_t *b);
static int cmp_decimal_double(const num_t *a, double b);
static int cmp_magnitude_dec_dec(numeric_u128_t c1, int32_t e1, numeric_u128_t c2, int32_t e2);
static int cmp_magnitude_dec_bin(numeric_u128_t c, int32_t e10, uint64_t m, int32_t e2);
static void int64_to_decimal(int64_t v, num_t *out);

/* Bignum */
static void big_set_u128(big_t *b, numeric_u128_t v);
static void big_mul_small(big_t *b, uint32_t m);
static void big_mul_pow5(big_t *b, int k);
static void big_shl(big_t *b, int bits);
static int big_bitlen(const big_t *b);
static int big_cmp(const big_t *a, const big_t *b);

bool
numeric_is_number(bson_type_t type)
{
   return type == BSON_TYPE_INT32 || type == BSON_TYPE_INT64 || type == BSON_TYPE_DOUBLE ||
          type == BSON_TYPE_DECIMAL128;
}

static int
num_compare(const num_t *a, const num_t *b)
{
   if (a->kind == NUM_INT && b->kind == NUM_INT) {
      return (a->i > b->i) - (a->i < b->i);
   }
   if (a->kind == NUM_DOUBLE && b->kind == NUM_DOUBLE) {
      if (isnan(a->d) || isnan(b->d)) {
         return !isnan(a->d) - !isnan(b->d);
      }
      return (a->d > b->d) - (a->d < b->d);
   }
   if (a->kind == NUM_INT && b->kind == NUM_DOUBLE) {
      return cmp_int64_double(a->i, b->d);
   }
   if (a->kind == NUM_DOUBLE && b->kind == NUM_INT) {
      return -cmp_int64_double(b->i, a->d);
   }
   /* At least one decimal. */
   if (a->kind == NUM_DECIMAL && b->kind == NUM_DOUBLE) {
      return cmp_decimal_double(a, b->d);
   }
   if (a->kind == NUM_DOUBLE && b->kind == NUM_DECIMAL) {
      return -cmp_decimal_double(b, a->d);
   }
   num_t da = *a, db = *b;
   if (da.kind == NUM_INT) {
      int64_to_decimal(a->i, &da);
   }
   if (db.kind == NUM_INT) {
      int64_to_decimal(b->i, &db);
   }
   return cmp_decimal_decimal(&da, &db);
}

int
numeric_compare(const bson_iter_t *a, const bson_iter_t *b)
{
   num_t na, nb;
   num_decode(a, &na);
   num_decode(b, &nb);
   return num_compare(&na, &nb);
}

int
numeric_compare_int64(const bson_iter_t *a, int64_t b)
{
   num_t na, nb = {.kind = NUM_INT, .i = b};
   num_decode(a, &na);
   return num_compare(&na, &nb);
}

void
numeric_canonicalize(const bson_iter_t *iter, numeric_canon_t *out)
{
   num_t n;
   const numeric_u128_t limit = pow10_u128(34);

   memset(out, 0, sizeof *out);
   num_decode(iter, &n);
   out->cls = NUMERIC_FINITE;
   if (n.kind == NUM_INT) {
      int64_to_decimal(n.i, &n);
   } else if (n.kind == NUM_DOUBLE) {
      double d = n.d;
      if (isnan(d)) {
         out->cls = NUMERIC_NAN;
         return;
      }
      if (isinf(d)) {
         out->cls = d > 0 ? NUMERIC_POS_INF : NUMERIC_NEG_INF;
         return;
      }
      if (d == 0) {
         return;
      }
      int x;
      double f = frexp(fabs(d), &x);
      uint64_t m = (uint64_t) ldexp(f, 53);
      int32_t e = x - 53;
      while ((m & 1) == 0) {
         m >>= 1;
         e++;
      }
      numeric_u128_t c = m;
      int32_t e10 = 0;
      bool fits = true;
      if (e >= 0) {
         if (64 - __builtin_clzll(m) + e > 127) {
            fits = false;
         } else {
            c = (numeric_u128_t) m << e;
         }
      } else {
         /* m * 2^e = m * 5^-e / 10^-e; m is odd so the coefficient has no trailing zero. */
         for (int k = 0; k < -e && fits; k++) {
            c *= 5;
            fits = c < limit;
         }
         e10 = e;
      }
      if (fits) {
         while (c % 10 == 0) {
            c /= 10;
            e10++;
         }
         fits = c < limit;
      }
      out->negative = d < 0;
      if (!fits) {
         out->raw_double = true;
         memcpy(&out->raw, &d, sizeof d);
         return;
      }
      out->coefficient = c;
      out->exponent = e10;
      return;
   }
   out->cls = n.cls;
   if (n.cls != NUMERIC_FINITE || n.coef == 0) {
      return;
   }
   while (n.coef % 10 == 0) {
      n.coef /= 10;
      n.exp++;
   }
   out->negative = n.negative;
   out->coefficient = n.coef;
   out->exponent = n.exp;
}

bool
numeric_to_int64_trunc(const bson_iter_t *iter, int64_t *out)
{
   num_t n;
   num_decode(iter, &n);
   *out = 0;
   if (n.kind == NUM_INT) {
      *out = n.i;
      return true;
   }
   double d = n.kind == NUM_DOUBLE ? n.d : numeric_to_double(iter);
   if (isnan(d) || d >= 9223372036854775808.0 || d < -9223372036854775808.0) {
      return false;
   }
   if (n.kind == NUM_DECIMAL && n.cls == NUMERIC_FINITE) {
      /* Truncate the decimal exactly rather than through a rounded double. */
      numeric_u128_t c = n.coef;
      int32_t e = n.exp;
      while (e < 0 && c != 0) {
         c /= 10;
         e++;
      }
      while (e > 0 && c != 0 && c < ((numeric_u128_t) 1 << 64)) {
         c *= 10;
         e--;
      }
      if (c > ((numeric_u128_t) 1 << 63) || (c == ((numeric_u128_t) 1 << 63) && !n.negative)) {
         return false;
      }
      *out = n.negative ? (int64_t) (0 - (uint64_t) c) : (int64_t) c;
      return true;
   }
   *out = (int64_t) d;
   return true;
}

bool
numeric_to_int64_exact(const bson_iter_t *iter, int64_t *out)
{
   int64_t v;
   *out = 0;
   if (!numeric_to_int64_trunc(iter, &v) || numeric_compare_int64(iter, v) != 0) {
      return false;
   }
   *out = v;
   return true;
}

double
numeric_to_double(const bson_iter_t *iter)
{
   switch (bson_iter_type(iter)) {
   case BSON_TYPE_INT32:
      return bson_iter_int32(iter);
   case BSON_TYPE_INT64:
      return (double) bson_iter_int64(iter);
   case BSON_TYPE_DOUBLE:
      return bson_iter_double(iter);
   case BSON_TYPE_DECIMAL128: {
      bson_decimal128_t dec;
      char str[BSON_DECIMAL128_STRING];
      bson_iter_decimal128(iter, &dec);
      bson_decimal128_to_string(&dec, str);
      if (strstr(str, "NaN")) {
         return NAN;
      }
      if (strstr(str, "Inf")) {
         return str[0] == '-' ? -INFINITY : INFINITY;
      }
      return strtod(str, NULL);
   }
   default:
      return 0;
   }
}

/* Decoding */

static void
num_decode(const bson_iter_t *iter, num_t *out)
{
   memset(out, 0, sizeof *out);
   switch (bson_iter_type(iter)) {
   case BSON_TYPE_INT32:
      out->kind = NUM_INT;
      out->i = bson_iter_int32(iter);
      break;
   case BSON_TYPE_INT64:
      out->kind = NUM_INT;
      out->i = bson_iter_int64(iter);
      break;
   case BSON_TYPE_DOUBLE:
      out->kind = NUM_DOUBLE;
      out->d = bson_iter_double(iter);
      break;
   case BSON_TYPE_DECIMAL128: {
      bson_decimal128_t dec;
      bson_iter_decimal128(iter, &dec);
      decimal_decode(&dec, out);
      break;
   }
   default:
      out->kind = NUM_INT;
      break;
   }
}

/* IEEE 754-2008 decimal128, binary integer decimal encoding, as BSON stores it. */
static void
decimal_decode(const bson_decimal128_t *d, num_t *out)
{
   uint64_t high = d->high;
   uint32_t combination = (uint32_t) (high >> 58) & 0x1f;

   out->kind = NUM_DECIMAL;
   out->negative = (high >> 63) != 0;
   if (combination == 0x1f) {
      out->cls = NUMERIC_NAN;
      return;
   }
   if (combination == 0x1e) {
      out->cls = out->negative ? NUMERIC_NEG_INF : NUMERIC_POS_INF;
      return;
   }
   out->cls = NUMERIC_FINITE;
   if (((high >> 61) & 3) == 3) {
      /* The implied coefficient would be at least 2^113 > 10^34: non-canonical, so zero. */
      out->exp = (int32_t) ((high >> 47) & 0x3fff) - 6176;
      out->coef = 0;
      return;
   }
   out->exp = (int32_t) ((high >> 49) & 0x3fff) - 6176;
   out->coef = ((numeric_u128_t) (high & 0x1ffffffffffffULL) << 64) | d->low;
   if (out->coef >= pow10_u128(34)) {
      out->coef = 0;
   }
}

static numeric_u128_t
pow10_u128(int n)
{
   numeric_u128_t v = 1;
   while (n-- > 0) {
      v *= 10;
   }
   return v;
}

static int
digits_u128(numeric_u128_t v)
{
   int n = 0;
   while (v != 0) {
      v /= 10;
      n++;
   }
   return n;
}

static void
int64_to_decimal(int64_t v, num_t *out)
{
   memset(out, 0, sizeof *out);
   out->kind = NUM_DECIMAL;
   out->cls = NUMERIC_FINITE;
   out->negative = v < 0;
   out->coef = v < 0 ? (numeric_u128_t) (0 - (uint64_t) v) : (numeric_u128_t) v;
   out->exp = 0;
}

/* Comparison by kind */

static int
cmp_int64_double(int64_t a, double b)
{
   if (isnan(b)) {
      return 1;
   }
   if (b >= 9223372036854775808.0) {
      return -1;
   }
   if (b < -9223372036854775808.0) {
      return 1;
   }
   int64_t bi = (int64_t) b;
   if (a != bi) {
      return a < bi ? -1 : 1;
   }
   double frac = b - (double) bi; /* exact: the fractional part of a double */
   return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

/* The order of classes matches the enum: NaN < -Inf < finite < +Inf. */
static int
cmp_class(numeric_class_t a, numeric_class_t b)
{
   return (a > b) - (a < b);
}

static int
dec_sign(const num_t *n)
{
   return n->coef == 0 ? 0 : n->negative ? -1 : 1;
}

static int
cmp_decimal_decimal(const num_t *a, const num_t *b)
{
   if (a->cls != NUMERIC_FINITE || b->cls != NUMERIC_FINITE) {
      return cmp_class(a->cls, b->cls);
   }
   int sa = dec_sign(a), sb = dec_sign(b);
   if (sa != sb || sa == 0) {
      return (sa > sb) - (sa < sb);
   }
   return sa * cmp_magnitude_dec_dec(a->coef, a->exp, b->coef, b->exp);
}

static int
cmp_decimal_double(const num_t *a, double b)
{
   numeric_class_t bcls = isnan(b)   ? NUMERIC_NAN
                          : isinf(b) ? (b > 0 ? NUMERIC_POS_INF : NUMERIC_NEG_INF)
                                     : NUMERIC_FINITE;
   if (a->cls != NUMERIC_FINITE || bcls != NUMERIC_FINITE) {
      return cmp_class(a->cls, bcls);
   }
   int sa = dec_sign(a), sb = (b > 0) - (b < 0);
   if (sa != sb || sa == 0) {
      return (sa > sb) - (sa < sb);
   }
   int x;
   double f = frexp(fabs(b), &x);
   uint64_t m = (uint64_t) ldexp(f, 53);
   return sa * cmp_magnitude_dec_bin(a->coef, a->exp, m, x - 53);
}

/* Compares c1 * 10^e1 with c2 * 10^e2, both coefficients non-zero. */
static int
cmp_magnitude_dec_dec(numeric_u128_t c1, int32_t e1, numeric_u128_t c2, int32_t e2)
{
   int32_t o1 = digits_u128(c1) + e1, o2 = digits_u128(c2) + e2;
   if (o1 != o2) {
      return o1 < o2 ? -1 : 1;
   }
   /* Equal orders of magnitude: the exponents differ by at most 33, and scaling the one with
    * the larger exponent keeps it within 34 digits. */
   if (e1 > e2) {
      c1 *= pow10_u128(e1 - e2);
   } else if (e2 > e1) {
      c2 *= pow10_u128(e2 - e1);
   }
   return (c1 > c2) - (c1 < c2);
}

/* Compares c * 10^e10 with m * 2^e2 exactly, both non-zero. */
static int
cmp_magnitude_dec_bin(numeric_u128_t c, int32_t e10, uint64_t m, int32_t e2)
{
   big_t a, b;
   int32_t ea, eb; /* the binary exponents of a and b */

   /* c * 10^e10 = c * 5^e10 * 2^e10; a negative power of five moves to the other side. */
   big_set_u128(&a, c);
   big_set_u128(&b, m);
   if (e10 >= 0) {
      big_mul_pow5(&a, e10);
   } else {
      big_mul_pow5(&b, -e10);
   }
   ea = e10;
   eb = e2;
   int32_t la = big_bitlen(&a) + ea, lb = big_bitlen(&b) + eb;
   if (la != lb) {
      return la < lb ? -1 : 1;
   }
   /* Same magnitude in bits: shifting the one with the larger exponent keeps it no longer
    * than the other. */
   if (ea > eb) {
      big_shl(&a, ea - eb);
   } else if (eb > ea) {
      big_shl(&b, eb - ea);
   }
   return big_cmp(&a, &b);
}

/* Bignum: little-endian 32-bit limbs, n significant. */

static void
big_set_u128(big_t *b, numeric_u128_t v)
{
   b->n = 0;
   while (v != 0) {
      b->limb[b->n++] = (uint32_t) v;
      v >>= 32;
   }
}

static void
big_mul_small(big_t *b, uint32_t m)
{
   uint64_t carry = 0;
   for (int i = 0; i < b->n; i++) {
      uint64_t p = (uint64_t) b->limb[i] * m + carry;
      b->limb[i] = (uint32_t) p;
      carry = p >> 32;
   }
   if (carry != 0 && b->n < BIG_LIMBS) {
      b->limb[b->n++] = (uint32_t) carry;
   }
}

static void
big_mul_pow5(big_t *b, int k)
{
   while (k >= 13) {
      big_mul_small(b, 1220703125u); /* 5^13, the largest power of five in 32 bits */
      k -= 13;
   }
   uint32_t rest = 1;
   while (k-- > 0) {
      rest *= 5;
   }
   big_mul_small(b, rest);
}

static void
big_shl(big_t *b, int bits)
{
   int words = bits / 32, rem = bits % 32;
   if (b->n == 0) {
      return;
   }
   if (b->n + words + 1 > BIG_LIMBS) {
      words = BIG_LIMBS - b->n - 1; /* cannot happen for valid inputs; stay in bounds */
   }
   for (int i = b->n - 1; i >= 0; i--) {
      b->limb[i + words] = b->limb[i];
   }
   for (int i = 0; i < words; i++) {
      b->limb[i] = 0;
   }
   b->n += words;
   if (rem != 0) {
      uint32_t carry = 0;
      for (int i = words; i < b->n; i++) {
         uint32_t v = b->limb[i];
         b->limb[i] = (v << rem) | carry;
         carry = v >> (32 - rem);
      }
      if (carry != 0) {
         b->limb[b->n++] = carry;
      }
   }
}

static int
big_bitlen(const big_t *b)
{
   if (b->n == 0) {
      return 0;
   }
   return (b->n - 1) * 32 + (32 - __builtin_clz(b->limb[b->n - 1]));
}

static int
big_cmp(const big_t *a, const big_t *b)
{
   if (a->n != b->n) {
      return a->n < b->n ? -1 : 1;
   }
   for (int i = a->n - 1; i >= 0; i--) {
      if (a->limb[i] != b->limb[i]) {
         return a->limb[i] < b->limb[i] ? -1 : 1;
      }
   }
   return 0;
}
