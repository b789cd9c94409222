/*
 * expr_value_int.h: small value helpers shared by expr.c and the operator families in
 * expr_math.c, expr_array.c, expr_date.c and expr_string.c (missing is BSON_TYPE_EOD, as
 * everywhere in the expression engine). Every constructor below overwrites *out without
 * releasing what it held.
 */
#ifndef FE_EXPR_VALUE_INT_H
#define FE_EXPR_VALUE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <bson/bson.h>

#include "query/update_int.h"

static inline bool
expr_val_missing(const bson_value_t *v)
{
   return v->value_type == BSON_TYPE_EOD;
}

/* Null, undefined or missing. */
static inline bool
expr_val_nullish(const bson_value_t *v)
{
   return v->value_type == BSON_TYPE_EOD || v->value_type == BSON_TYPE_NULL ||
          v->value_type == BSON_TYPE_UNDEFINED;
}

static inline void
expr_val_null(bson_value_t *out)
{
   memset(out, 0, sizeof *out);
   out->value_type = BSON_TYPE_NULL;
}

static inline void
expr_val_bool(bson_value_t *out, bool b)
{
   memset(out, 0, sizeof *out);
   out->value_type = BSON_TYPE_BOOL;
   out->value.v_bool = b;
}

static inline void
expr_val_int32(bson_value_t *out, int32_t i)
{
   memset(out, 0, sizeof *out);
   out->value_type = BSON_TYPE_INT32;
   out->value.v_int32 = i;
}

static inline void
expr_val_int64(bson_value_t *out, int64_t i)
{
   memset(out, 0, sizeof *out);
   out->value_type = BSON_TYPE_INT64;
   out->value.v_int64 = i;
}

static inline void
expr_val_double(bson_value_t *out, double d)
{
   memset(out, 0, sizeof *out);
   out->value_type = BSON_TYPE_DOUBLE;
   out->value.v_double = d;
}

static inline void
expr_val_date(bson_value_t *out, int64_t ms)
{
   memset(out, 0, sizeof *out);
   out->value_type = BSON_TYPE_DATE_TIME;
   out->value.v_datetime = ms;
}

/* A string value holding a copy of s[0..len). */
static inline void
expr_val_utf8(bson_value_t *out, const char *s, size_t len)
{
   memset(out, 0, sizeof *out);
   out->value_type = BSON_TYPE_UTF8;
   out->value.v_utf8.str = bson_strndup(s, len);
   out->value.v_utf8.len = (uint32_t) len;
}

/* Takes s (freed here) as a string value. */
static inline void
expr_val_utf8_take(bson_value_t *out, bson_string_t *s)
{
   memset(out, 0, sizeof *out);
   out->value_type = BSON_TYPE_UTF8;
   out->value.v_utf8.len = s->len;
   out->value.v_utf8.str = bson_string_free(s, false);
}

/* Takes b's buffer (b is destroyed) as a document or array value. */
static inline void
expr_val_from_bson(bson_value_t *out, bson_t *b, bool array)
{
   uint32_t len;
   memset(out, 0, sizeof *out);
   out->value_type = array ? BSON_TYPE_ARRAY : BSON_TYPE_DOCUMENT;
   out->value.v_doc.data = bson_destroy_with_steal(b, true, &len);
   out->value.v_doc.data_len = len;
}

/* A deep copy of src into *dst; missing stays missing. */
static inline void
expr_val_copy(const bson_value_t *src, bson_value_t *dst)
{
   if (expr_val_missing(src)) {
      memset(dst, 0, sizeof *dst);
   } else {
      bson_value_copy(src, dst);
   }
}

/* The type's name as $type spells it ("missing" for missing); static storage. */
static inline const char *
expr_val_type_name(const bson_value_t *v)
{
   return update_util_type_name(v->value_type);
}

/* True when v is a number whose value converts to int64 (update_util_to_int64()). */
static inline bool
expr_val_integral(const bson_value_t *v, int64_t *out)
{
   return update_util_is_number(v->value_type) && update_util_to_int64(v, out);
}

/* True when v is a number with an integral value representable as int32. */
static inline bool
expr_val_integral_int32(const bson_value_t *v, int32_t *out)
{
   int64_t i;
   if (!expr_val_integral(v, &i) || i < INT32_MIN || i > INT32_MAX) {
      return false;
   }
   *out = (int32_t) i;
   return true;
}

/* A document or array value as a static bson_t in *holder, with *iter at its start. */
static inline void
expr_val_iter(const bson_value_t *v, bson_t *holder, bson_iter_t *iter)
{
   bson_init_static(holder, v->value.v_doc.data, v->value.v_doc.data_len);
   bson_iter_init(iter, holder);
}

#endif /* FE_EXPR_VALUE_INT_H */
