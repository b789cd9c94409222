/*
 * expr_value_int.h: small value helpers shared by the operator families in expr_math.c and
 * expr_array.c (missing is BSON_TYPE_EOD, as everywhere in the expression engine).
 */
#ifndef FE_EXPR_VALUE_INT_H
#define FE_EXPR_VALUE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <bson/bson.h>

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

/* A document or array value as a static bson_t in *holder, with *iter at its start. */
static inline void
expr_val_iter(const bson_value_t *v, bson_t *holder, bson_iter_t *iter)
{
   bson_init_static(holder, v->value.v_doc.data, v->value.v_doc.data_len);
   bson_iter_init(iter, holder);
}

#endif /* FE_EXPR_VALUE_INT_H */
