/*
 * expr.c: aggregation expressions (expr.h), compiled into a tree of nodes and evaluated
 * against a document. Values during evaluation are owned bson_value_t; BSON_TYPE_EOD stands
 * for "missing", which aggregation distinguishes from null.
 */
#include "query/expr.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/random.h>

#include "bson/compare.h"
#include "query/expr_int.h"
#include "query/expr_value_int.h"
#include "query/update_int.h"

struct fe_expr_let {
   char **names;         /* owned */
   bson_value_t *values; /* owned */
   fe_expr_var_t *vars;  /* owned chain over the two arrays above; vars[n - 1] is innermost */
   size_t n;
   const fe_expr_var_t *outer; /* borrowed; where the chain continues, or NULL */
};

/* Compilation. */
static fe_expr_t *expr_new(kind_t kind);
static fe_expr_t *compile_path(const char *path, fe_error_t *error);
static fe_expr_t *compile_operator(const bson_iter_t *value, fe_error_t *error);
static fe_expr_t *parse_list(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);
static fe_expr_t *parse_named(const op_def_t *op, const bson_iter_t *operand,
                              const char *const *names, const bool *required, size_t n,
                              fe_error_t *error);
static fe_expr_t *parse_literal(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);
static fe_expr_t *parse_cond(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);
static fe_expr_t *parse_let(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);
static fe_expr_t *parse_map(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);
static fe_expr_t *parse_filter(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);
static fe_expr_t *parse_convert(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);
static fe_expr_t *parse_get_field(const op_def_t *op, const bson_iter_t *operand,
                                  fe_error_t *error);
static fe_expr_t *parse_switch(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);
static fe_expr_t *parse_set_field(const op_def_t *op, const bson_iter_t *operand,
                                  fe_error_t *error);
static fe_expr_t *parse_rand(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);
static bool check_var_name(const char *name, bool user, fe_error_t *error);

/* Evaluation. */
static bool eval(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool eval_args(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *vals);
static void destroy_values(bson_value_t *vals, size_t n);
static bool lookup_var(eval_ctx_t *c, const char *name, bson_value_t *borrowed);
static void path_on_value(const bson_value_t *v, char *const *parts, size_t n, bson_value_t *out);

/* Values: the shared helpers of expr_value_int.h under this file's short names (the call
 * sites keep them so that concurrent branches on expr.c still merge). */
#define is_missing(v) expr_val_missing(v)
#define is_nullish(v) expr_val_nullish(v)
#define set_null(out) expr_val_null(out)
#define set_bool(out, b) expr_val_bool(out, b)
#define set_int32(out, i) expr_val_int32(out, i)
#define set_int64(out, i) expr_val_int64(out, i)
#define set_double(out, d) expr_val_double(out, d)
#define set_utf8(out, s, len) expr_val_utf8(out, s, len)
#define set_from_bson(out, b, array) expr_val_from_bson(out, b, array)
#define copy_value(src, dst) expr_val_copy(src, dst)
#define type_name(v) expr_val_type_name(v)

static bool to_string(const bson_value_t *v, char **s, size_t *len);

/* Operators, sorted by name for bsearch. */
static bool op_abs(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_add(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_and(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_array_elem_at(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_avg(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_ceil(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_cmp(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_concat(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_concat_arrays(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_cond(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_convert(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_divide(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_filter(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_first_last(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_floor(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_get_field(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_if_null(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_in(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_is_array(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_let(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_literal(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_map(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_max_min(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_merge_objects(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_mod(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_multiply(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_not(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_or(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_rand(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_set_field(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_size(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_split(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_str_len_cp(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_substr_bytes(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_substr_cp(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_subtract(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_sum(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_switch(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_to(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_to_case(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_type(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
static bool op_compare(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);

static const op_def_t op_defs[] = {
   {"$abs", op_abs, 1, 1, NULL},
   {"$add", op_add, 0, -1, NULL},
   {"$allElementsTrue", expr_array_all_any, 1, 1, NULL},
   {"$and", op_and, 0, -1, NULL},
   {"$anyElementTrue", expr_array_all_any, 1, 1, NULL},
   {"$arrayElemAt", op_array_elem_at, 2, 2, NULL},
   {"$arrayToObject", expr_array_to_object, 1, 1, NULL},
   {"$avg", op_avg, 1, -1, NULL},
   {"$binarySize", expr_math_binary_size, 1, 1, NULL},
   {"$bsonSize", expr_math_bson_size, 1, 1, NULL},
   {"$ceil", op_ceil, 1, 1, NULL},
   {"$cmp", op_cmp, 2, 2, NULL},
   {"$concat", op_concat, 0, -1, NULL},
   {"$concatArrays", op_concat_arrays, 0, -1, NULL},
   {"$cond", op_cond, 3, 3, parse_cond},
   {"$convert", op_convert, 0, 0, parse_convert},
   {"$dateAdd", expr_date_add, 0, 0, expr_date_parse_add},
   {"$dateDiff", expr_date_diff, 0, 0, expr_date_parse_diff},
   {"$dateFromParts", expr_date_from_parts, 0, 0, expr_date_parse_from_parts},
   {"$dateFromString", expr_date_from_string, 0, 0, expr_date_parse_from_string},
   {"$dateSubtract", expr_date_add, 0, 0, expr_date_parse_add},
   {"$dateToParts", expr_date_to_parts, 0, 0, expr_date_parse_to_parts},
   {"$dateToString", expr_date_to_string, 0, 0, expr_date_parse_to_string},
   {"$dateTrunc", expr_date_trunc, 0, 0, expr_date_parse_trunc},
   {"$dayOfMonth", expr_date_part, 0, 0, expr_date_parse_part},
   {"$dayOfWeek", expr_date_part, 0, 0, expr_date_parse_part},
   {"$dayOfYear", expr_date_part, 0, 0, expr_date_parse_part},
   {"$divide", op_divide, 2, 2, NULL},
   {"$eq", op_compare, 2, 2, NULL},
   {"$exp", expr_math_unary, 1, 1, NULL},
   {"$filter", op_filter, 0, 0, parse_filter},
   {"$first", op_first_last, 1, 1, NULL},
   {"$firstN", expr_array_n, 0, 0, expr_array_parse_n},
   {"$floor", op_floor, 1, 1, NULL},
   {"$getField", op_get_field, 0, 0, parse_get_field},
   {"$gt", op_compare, 2, 2, NULL},
   {"$gte", op_compare, 2, 2, NULL},
   {"$hour", expr_date_part, 0, 0, expr_date_parse_part},
   {"$ifNull", op_if_null, 2, -1, NULL},
   {"$in", op_in, 2, 2, NULL},
   {"$indexOfArray", expr_array_index_of, 2, 4, expr_math_parse_ranged},
   {"$indexOfBytes", expr_string_index_of, 2, 4, NULL},
   {"$indexOfCP", expr_string_index_of, 2, 4, NULL},
   {"$isArray", op_is_array, 1, 1, NULL},
   {"$isNumber", expr_math_is_number, 1, 1, NULL},
   {"$isoDayOfWeek", expr_date_part, 0, 0, expr_date_parse_part},
   {"$isoWeek", expr_date_part, 0, 0, expr_date_parse_part},
   {"$isoWeekYear", expr_date_part, 0, 0, expr_date_parse_part},
   {"$last", op_first_last, 1, 1, NULL},
   {"$lastN", expr_array_n, 0, 0, expr_array_parse_n},
   {"$let", op_let, 0, 0, parse_let},
   {"$literal", op_literal, 0, 0, parse_literal},
   {"$ln", expr_math_unary, 1, 1, NULL},
   {"$log", expr_math_log, 2, 2, NULL},
   {"$log10", expr_math_unary, 1, 1, NULL},
   {"$lt", op_compare, 2, 2, NULL},
   {"$lte", op_compare, 2, 2, NULL},
   {"$ltrim", expr_string_trim, 0, 0, expr_string_parse_trim},
   {"$map", op_map, 0, 0, parse_map},
   {"$max", op_max_min, 1, -1, NULL},
   {"$maxN", expr_array_n, 0, 0, expr_array_parse_n},
   {"$mergeObjects", op_merge_objects, 0, -1, NULL},
   {"$millisecond", expr_date_part, 0, 0, expr_date_parse_part},
   {"$min", op_max_min, 1, -1, NULL},
   {"$minN", expr_array_n, 0, 0, expr_array_parse_n},
   {"$minute", expr_date_part, 0, 0, expr_date_parse_part},
   {"$mod", op_mod, 2, 2, NULL},
   {"$month", expr_date_part, 0, 0, expr_date_parse_part},
   {"$multiply", op_multiply, 0, -1, NULL},
   {"$ne", op_compare, 2, 2, NULL},
   {"$not", op_not, 1, 1, NULL},
   {"$objectToArray", expr_array_object_to_array, 1, 1, NULL},
   {"$or", op_or, 0, -1, NULL},
   {"$pow", expr_math_pow, 2, 2, NULL},
   {"$rand", op_rand, 0, 0, parse_rand},
   {"$range", expr_array_range, 2, 3, expr_math_parse_ranged},
   {"$reduce", expr_array_reduce, 0, 0, expr_array_parse_reduce},
   {"$regexFind", expr_string_regex, 0, 0, expr_string_parse_regex},
   {"$regexFindAll", expr_string_regex, 0, 0, expr_string_parse_regex},
   {"$regexMatch", expr_string_regex, 0, 0, expr_string_parse_regex},
   {"$replaceAll", expr_string_replace, 0, 0, expr_string_parse_replace},
   {"$replaceOne", expr_string_replace, 0, 0, expr_string_parse_replace},
   {"$reverseArray", expr_array_reverse, 1, 1, NULL},
   {"$round", expr_math_round, 1, 2, expr_math_parse_ranged},
   {"$rtrim", expr_string_trim, 0, 0, expr_string_parse_trim},
   {"$second", expr_date_part, 0, 0, expr_date_parse_part},
   {"$setDifference", expr_array_set_op, 2, 2, NULL},
   {"$setEquals", expr_array_set_compare, 2, -1, expr_array_parse_set_equals},
   {"$setField", op_set_field, 0, 0, parse_set_field},
   {"$setIntersection", expr_array_set_op, 0, -1, NULL},
   {"$setIsSubset", expr_array_set_compare, 2, 2, NULL},
   {"$setUnion", expr_array_set_op, 0, -1, NULL},
   {"$size", op_size, 1, 1, NULL},
   {"$slice", expr_array_slice, 2, 3, expr_math_parse_ranged},
   {"$sortArray", expr_array_sort, 0, 0, expr_array_parse_sort_array},
   {"$split", op_split, 2, 2, NULL},
   {"$sqrt", expr_math_unary, 1, 1, NULL},
   {"$strLenBytes", expr_string_len_bytes, 1, 1, NULL},
   {"$strLenCP", op_str_len_cp, 1, 1, NULL},
   {"$strcasecmp", expr_string_casecmp, 2, 2, NULL},
   {"$substr", op_substr_bytes, 3, 3, NULL},
   {"$substrBytes", op_substr_bytes, 3, 3, NULL},
   {"$substrCP", op_substr_cp, 3, 3, NULL},
   {"$subtract", op_subtract, 2, 2, NULL},
   {"$sum", op_sum, 1, -1, NULL},
   {"$switch", op_switch, 0, 0, parse_switch},
   {"$toBool", op_to, 1, 1, NULL},
   {"$toDate", op_to, 1, 1, NULL},
   {"$toDecimal", op_to, 1, 1, NULL},
   {"$toDouble", op_to, 1, 1, NULL},
   {"$toInt", op_to, 1, 1, NULL},
   {"$toLong", op_to, 1, 1, NULL},
   {"$toLower", op_to_case, 1, 1, NULL},
   {"$toObjectId", op_to, 1, 1, NULL},
   {"$toString", op_to, 1, 1, NULL},
   {"$toUpper", op_to_case, 1, 1, NULL},
   {"$trim", expr_string_trim, 0, 0, expr_string_parse_trim},
   {"$trunc", expr_math_trunc, 1, 2, expr_math_parse_ranged},
   {"$type", op_type, 1, 1, NULL},
   {"$unsetField", op_set_field, 0, 0, parse_set_field},
   {"$week", expr_date_part, 0, 0, expr_date_parse_part},
   {"$year", expr_date_part, 0, 0, expr_date_parse_part},
   {"$zip", expr_array_zip, 0, 0, expr_array_parse_zip},
};

static int
compare_op_name(const void *key, const void *entry)
{
   return strcmp(key, ((const op_def_t *) entry)->name);
}

/*
 * Public functions
 */

fe_expr_t *
expr_compile(const bson_iter_t *value, fe_error_t *error)
{
   fe_expr_t *e = NULL;
   bson_iter_t sub;
   uint32_t len;
   const uint8_t *data;

   if (BSON_ITER_HOLDS_UTF8(value)) {
      const char *s = bson_iter_utf8(value, &len);
      if (s[0] == '$') {
         return compile_path(s, error);
      }
   } else if (BSON_ITER_HOLDS_DOCUMENT(value)) {
      bson_t doc;
      bson_iter_recurse(value, &sub);
      if (bson_iter_next(&sub) && bson_iter_key(&sub)[0] == '$') {
         return compile_operator(value, error);
      }
      bson_iter_document(value, &len, &data);
      bson_init_static(&doc, data, len);
      return expr_compile_object(&doc, error);
   } else if (BSON_ITER_HOLDS_ARRAY(value)) {
      size_t n = 0;
      e = expr_new(KIND_ARRAY);
      bson_iter_recurse(value, &sub);
      while (bson_iter_next(&sub)) {
         n++;
      }
      e->args = bson_malloc0(sizeof *e->args * (n + 1));
      bson_iter_recurse(value, &sub);
      while (bson_iter_next(&sub)) {
         e->args[e->n_args] = expr_compile(&sub, error);
         if (!e->args[e->n_args]) {
            expr_destroy(e);
            return NULL;
         }
         e->n_args++;
      }
      return e;
   }
   e = expr_new(KIND_CONST);
   bson_value_copy(bson_iter_value((bson_iter_t *) value), &e->value);
   return e;
}

fe_expr_t *
expr_compile_object(const bson_t *doc, fe_error_t *error)
{
   fe_expr_t *e = expr_new(KIND_OBJECT);
   size_t n = bson_count_keys(doc);
   bson_iter_t iter;

   e->names = bson_malloc0(sizeof *e->names * (n + 1));
   e->args = bson_malloc0(sizeof *e->args * (n + 1));
   bson_iter_init(&iter, doc);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (key[0] == '$') {
         char *json = bson_as_relaxed_extended_json(doc, NULL);
         error_set(error, 15983,
                   "an expression specification must contain exactly one field, the name of the "
                   "expression. Found %zu fields in %s",
                   n, json);
         bson_free(json);
         expr_destroy(e);
         return NULL;
      }
      if (strchr(key, '.')) {
         error_set(error, 16412,
                   "FieldPath field names may not contain '.'. Consider using $getField or "
                   "$setField.");
         expr_destroy(e);
         return NULL;
      }
      e->names[e->n_names++] = bson_strdup(key);
      e->args[e->n_args] = expr_compile(&iter, error);
      if (!e->args[e->n_args]) {
         expr_destroy(e);
         return NULL;
      }
      e->n_args++;
   }
   return e;
}

bool
expr_evaluate(const fe_expr_t *expr, const bson_t *root, const fe_expr_var_t *vars,
              bson_value_t *out, fe_error_t *error)
{
   eval_ctx_t c = {.root = root, .vars = vars, .error = error};
   memset(out, 0, sizeof *out);
   return eval(expr, &c, out);
}

bool
expr_match(const fe_expr_t *expr, const bson_t *doc)
{
   return expr_match_vars(expr, doc, NULL);
}

bool
expr_match_vars(const fe_expr_t *expr, const bson_t *doc, const fe_expr_var_t *vars)
{
   bool matched = false;
   fe_error_t error;
   return expr_match_error(expr, doc, vars, &matched, &error) && matched;
}

bool
expr_match_error(const fe_expr_t *expr, const bson_t *doc, const fe_expr_var_t *vars, bool *matched,
                 fe_error_t *error)
{
   bson_value_t v;
   bool ok = expr_evaluate(expr, doc, vars, &v, error);
   *matched = ok && expr_value_is_true(&v);
   bson_value_destroy(&v);
   return ok;
}

bool
expr_value_is_true(const bson_value_t *v)
{
   switch (v->value_type) {
   case BSON_TYPE_EOD:
   case BSON_TYPE_NULL:
   case BSON_TYPE_UNDEFINED:
      return false;
   case BSON_TYPE_BOOL:
      return v->value.v_bool;
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
   case BSON_TYPE_DOUBLE:
   case BSON_TYPE_DECIMAL128:
      return update_util_to_double(v) != 0.0 || isnan(update_util_to_double(v));
   default:
      return true;
   }
}

int
expr_compare_values(const bson_value_t *a, const bson_value_t *b)
{
   return expr_compare_values_collated(a, b, NULL);
}

int
expr_compare_values_collated(const bson_value_t *a, const bson_value_t *b,
                             const fe_collator_t *collator)
{
   if (is_missing(a) || is_missing(b)) {
      if (is_missing(a) && is_missing(b)) {
         return 0;
      }
      /* Missing sorts just above MinKey and below everything else. */
      if (is_missing(a)) {
         return b->value_type == BSON_TYPE_MINKEY ? 1 : -1;
      }
      return a->value_type == BSON_TYPE_MINKEY ? -1 : 1;
   }
   return update_util_compare_values_collated(a, b, collator);
}

bool
expr_is_constant(const fe_expr_t *expr, const bson_value_t **value)
{
   if (expr->kind != KIND_CONST) {
      return false;
   }
   *value = &expr->value;
   return true;
}

void
expr_destroy(fe_expr_t *e)
{
   if (!e) {
      return;
   }
   if (e->kind == KIND_CONST) {
      bson_value_destroy(&e->value);
   }
   if (e->data_free) {
      e->data_free(e->data);
   }
   bson_free(e->var);
   for (size_t i = 0; i < e->n_names; i++) {
      bson_free(e->names[i]);
   }
   bson_free(e->names);
   for (size_t i = 0; i < e->n_args; i++) {
      expr_destroy(e->args[i]);
   }
   bson_free(e->args);
   bson_free(e);
}

fe_expr_let_t *
expr_let_compile(const bson_t *let, fe_error_t *error)
{
   return expr_let_compile_outer(let, NULL, error);
}

fe_expr_let_t *
expr_let_compile_outer(const bson_t *let, const fe_expr_var_t *outer, fe_error_t *error)
{
   fe_expr_let_t *l = bson_malloc0(sizeof *l);
   bson_t none = BSON_INITIALIZER;
   size_t n;
   bson_t empty = BSON_INITIALIZER;
   bson_iter_t iter;
   fe_expr_t *e = NULL;
   bool ok = false;

   if (!let) {
      let = &none;
   }
   n = bson_count_keys(let);
   l->outer = outer;
   l->names = bson_malloc0(sizeof *l->names * (n + 1));
   l->values = bson_malloc0(sizeof *l->values * (n + 1));
   l->vars = bson_malloc0(sizeof *l->vars * (n + 1));
   if (!bson_iter_init(&iter, let)) {
      error_set(error, FE_TypeMismatch, "'let' must be a document");
      goto done;
   }
   while (bson_iter_next(&iter)) {
      const char *name = bson_iter_key(&iter);
      if (!check_var_name(name, true, error)) {
         goto done;
      }
      e = expr_compile(&iter, error);
      if (!e || !expr_evaluate(e, &empty, expr_let_vars(l), &l->values[l->n], error)) {
         goto done;
      }
      expr_destroy(e);
      e = NULL;
      l->names[l->n] = bson_strdup(name);
      l->vars[l->n].name = l->names[l->n];
      l->vars[l->n].value = &l->values[l->n];
      l->vars[l->n].next = expr_let_vars(l);
      l->n++;
   }
   ok = true;

done:
   expr_destroy(e);
   if (!ok) {
      expr_let_destroy(l);
      l = NULL;
   }
   return l;
}

const fe_expr_var_t *
expr_let_vars(const fe_expr_let_t *let)
{
   return !let ? NULL : let->n ? &let->vars[let->n - 1] : let->outer;
}

const fe_collator_t *
expr_vars_collator(const fe_expr_var_t *vars)
{
   for (; vars; vars = vars->next) {
      if (vars->collator) {
         return vars->collator;
      }
   }
   return NULL;
}

void
expr_let_destroy(fe_expr_let_t *let)
{
   if (!let) {
      return;
   }
   for (size_t i = 0; i < let->n; i++) {
      bson_free(let->names[i]);
   }
   /* values[n] holds a failed evaluation's result, which expr_evaluate() leaves destroyable. */
   for (size_t i = 0; i <= let->n; i++) {
      bson_value_destroy(&let->values[i]);
   }
   bson_free(let->names);
   bson_free(let->values);
   bson_free(let->vars);
   bson_free(let);
}

void
expr_let_merge(const bson_t *base, const bson_t *over, bson_t *out)
{
   bson_iter_t iter, found;

   bson_init(out);
   if (base && bson_iter_init(&iter, base)) {
      while (bson_iter_next(&iter)) {
         if (!over || !bson_iter_init_find(&found, over, bson_iter_key(&iter))) {
            bson_append_iter(out, NULL, 0, &iter);
         }
      }
   }
   if (over && bson_iter_init(&iter, over)) {
      while (bson_iter_next(&iter)) {
         bson_append_iter(out, NULL, 0, &iter);
      }
   }
}

/* The system variables every expression may use without a binding. */
static bool
is_system_var(const char *name)
{
   static const char *const system[] = {"CLUSTER_TIME", "CURRENT",   "DESCEND", "KEEP",
                                        "NOW",          "PRUNE",     "REMOVE",  "ROOT",
                                        "SEARCH_META",  "USER_ROLES"};
   for (size_t i = 0; i < sizeof system / sizeof system[0]; i++) {
      if (strcmp(system[i], name) == 0) {
         return true;
      }
   }
   return false;
}

static bool
scope_has(const fe_expr_var_t *scope, const char *name)
{
   for (; scope; scope = scope->next) {
      if (strcmp(scope->name, name) == 0) {
         return true;
      }
   }
   return false;
}

bool
expr_check_vars(const fe_expr_t *e, const fe_expr_var_t *scope, fe_error_t *error)
{
   if (!e) {
      return true;
   }
   if (e->kind == KIND_PATH) {
      if (!is_system_var(e->var) && !scope_has(scope, e->var)) {
         return error_set(error, 17276, "Use of undefined variable: %s", e->var);
      }
      return true;
   }
   if (e->kind == KIND_OP && e->op->eval == op_let) {
      /* args[1..n] see the outer scope; args[0] ("in") sees them all. */
      size_t n = e->n_args - 1;
      fe_expr_var_t *inner = bson_malloc0(sizeof *inner * (n + 1));
      bool ok = true;
      for (size_t i = 0; i < n && ok; i++) {
         ok = expr_check_vars(e->args[i + 1], scope, error);
         inner[i].name = e->names[i + 1];
         inner[i].next = i + 1 < n ? &inner[i + 1] : scope;
      }
      ok = ok && expr_check_vars(e->args[0], n ? &inner[0] : scope, error);
      bson_free(inner);
      return ok;
   }
   if (e->kind == KIND_OP && (e->op->eval == op_map || e->op->eval == op_filter)) {
      /* input and limit see the outer scope; in/cond also "as" (default "this"). */
      fe_expr_var_t as = {.name = e->names[1] ? e->names[1] : "this", .next = scope};
      return expr_check_vars(e->args[0], scope, error) && expr_check_vars(e->args[2], &as, error) &&
             (e->n_args < 4 || expr_check_vars(e->args[3], scope, error));
   }
   if (e->kind == KIND_OP && e->op->eval == expr_array_reduce) {
      fe_expr_var_t value = {.name = "value", .next = scope};
      fe_expr_var_t self = {.name = "this", .next = &value};
      return expr_check_vars(e->args[0], scope, error) &&
             expr_check_vars(e->args[1], scope, error) && expr_check_vars(e->args[2], &self, error);
   }
   for (size_t i = 0; i < e->n_args; i++) {
      if (!expr_check_vars(e->args[i], scope, error)) {
         return false;
      }
   }
   return true;
}

/*
 * Services to the operator families (expr_int.h)
 */

fe_expr_t *
expr_node_new(kind_t kind)
{
   return expr_new(kind);
}

bool
expr_eval_node(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   return eval(e, c, out);
}

bool
expr_eval_args(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *vals)
{
   return eval_args(e, c, vals);
}

fe_expr_t *
expr_parse_list(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   return parse_list(op, operand, error);
}

fe_expr_t *
expr_parse_named(const op_def_t *op, const bson_iter_t *operand, const char *const *names,
                 const bool *required, size_t n, fe_error_t *error)
{
   return parse_named(op, operand, names, required, n, error);
}

bool
expr_check_var_name(const char *name, fe_error_t *error)
{
   return check_var_name(name, true, error);
}

/*
 * Compilation
 */

static fe_expr_t *
expr_new(kind_t kind)
{
   fe_expr_t *e = bson_malloc0(sizeof *e);
   e->kind = kind;
   return e;
}

static fe_expr_t *
compile_path(const char *path, fe_error_t *error)
{
   fe_expr_t *e = expr_new(KIND_PATH);
   const char *rest;
   size_t n = 1;

   if (path[1] == '$') {
      size_t len = strcspn(path + 2, ".");
      e->var = bson_strndup(path + 2, len);
      if (!check_var_name(e->var, false, error)) {
         expr_destroy(e);
         return NULL;
      }
      rest = path[2 + len] == '.' ? path + 3 + len : NULL;
   } else {
      if (path[1] == '\0') {
         expr_destroy(e);
         error_set(error, 16872, "'$' by itself is not a valid FieldPath");
         return NULL;
      }
      e->var = bson_strdup("CURRENT");
      rest = path + 1;
   }
   if (!rest) {
      return e;
   }
   for (const char *p = rest; *p; p++) {
      n += *p == '.';
   }
   e->names = bson_malloc0(sizeof *e->names * (n + 1));
   for (;;) {
      size_t len = strcspn(rest, ".");
      if (len == 0) {
         expr_destroy(e);
         error_set(error, 15998, "FieldPath field names may not be empty strings.");
         return NULL;
      }
      if (rest[0] == '$') {
         expr_destroy(e);
         error_set(error, 16410,
                   "FieldPath field names may not start with '$'. Consider using "
                   "$getField or $setField.");
         return NULL;
      }
      e->names[e->n_names++] = bson_strndup(rest, len);
      if (rest[len] == '\0') {
         break;
      }
      rest += len + 1;
   }
   return e;
}

static bool
check_var_name(const char *name, bool user, fe_error_t *error)
{
   if (name[0] == '\0') {
      return error_set(error, 16869, "empty variable names are not allowed");
   }
   if (!user &&
       (strcmp(name, "ROOT") == 0 || strcmp(name, "CURRENT") == 0 || strcmp(name, "REMOVE") == 0 ||
        strcmp(name, "NOW") == 0 || strcmp(name, "CLUSTER_TIME") == 0)) {
      return true;
   }
   if (!((name[0] >= 'a' && name[0] <= 'z') || (unsigned char) name[0] >= 0x80)) {
      return error_set(error, 16870,
                       "'%s' starts with an invalid character for a user variable name", name);
   }
   for (const char *p = name + 1; *p; p++) {
      if (!(isalnum((unsigned char) *p) || *p == '_' || (unsigned char) *p >= 0x80)) {
         return error_set(error, 16871,
                          "'%s' contains an invalid character for a variable name: '%c'", name, *p);
      }
   }
   return true;
}

static fe_expr_t *
compile_operator(const bson_iter_t *value, fe_error_t *error)
{
   bson_iter_t sub;
   const op_def_t *op;
   const char *name;
   size_t fields = 0;

   bson_iter_recurse(value, &sub);
   while (bson_iter_next(&sub)) {
      fields++;
   }
   bson_iter_recurse(value, &sub);
   bson_iter_next(&sub);
   name = bson_iter_key(&sub);
   if (fields != 1) {
      error_set(error, 15983,
                "an expression specification must contain exactly one field, the name of the "
                "expression. Found %zu fields",
                fields);
      return NULL;
   }
   op = bsearch(name, op_defs, sizeof op_defs / sizeof op_defs[0], sizeof op_defs[0],
                compare_op_name);
   if (!op) {
      error_set(error, FE_InvalidPipelineOperator, "Unrecognized expression '%s'", name);
      return NULL;
   }
   return op->parse ? op->parse(op, &sub, error) : parse_list(op, &sub, error);
}

static fe_expr_t *
parse_list(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   fe_expr_t *e = expr_new(KIND_OP);
   bson_iter_t sub;
   size_t n = 1;

   e->op = op;
   if (BSON_ITER_HOLDS_ARRAY(operand)) {
      n = 0;
      bson_iter_recurse(operand, &sub);
      while (bson_iter_next(&sub)) {
         n++;
      }
   }
   if ((int) n < op->min_args || (op->max_args >= 0 && (int) n > op->max_args)) {
      if (op->min_args == op->max_args) {
         error_set(error, 16020, "Expression %s takes exactly %d arguments. %zu were passed in.",
                   op->name, op->min_args, n);
      } else if ((int) n < op->min_args) {
         error_set(error, 16020,
                   "Expression %s takes at least %d arguments, and %zu were passed in.", op->name,
                   op->min_args, n);
      } else {
         error_set(error, 16020,
                   "Expression %s takes at most %d arguments, and %zu were passed in.", op->name,
                   op->max_args, n);
      }
      expr_destroy(e);
      return NULL;
   }
   e->args = bson_malloc0(sizeof *e->args * (n + 1));
   if (BSON_ITER_HOLDS_ARRAY(operand)) {
      bson_iter_recurse(operand, &sub);
      while (bson_iter_next(&sub)) {
         if (!(e->args[e->n_args] = expr_compile(&sub, error))) {
            expr_destroy(e);
            return NULL;
         }
         e->n_args++;
      }
   } else {
      if (!(e->args[0] = expr_compile(operand, error))) {
         expr_destroy(e);
         return NULL;
      }
      e->n_args = 1;
   }
   return e;
}

/* Parses an object operand with named fields into args[i] for names[i] (NULL when absent).
 * A name starting with '=' names a variable (a string, stored in e->names[i]). */
static fe_expr_t *
parse_named(const op_def_t *op, const bson_iter_t *operand, const char *const *names,
            const bool *required, size_t n, fe_error_t *error)
{
   fe_expr_t *e = expr_new(KIND_OP);
   bson_iter_t sub;

   e->op = op;
   e->args = bson_malloc0(sizeof *e->args * n);
   e->names = bson_malloc0(sizeof *e->names * n);
   e->n_args = n;
   e->n_names = n;
   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      error_set(error, FE_FailedToParse, "%s expects an object as its argument", op->name);
      goto fail;
   }
   bson_iter_recurse(operand, &sub);
   while (bson_iter_next(&sub)) {
      const char *key = bson_iter_key(&sub);
      size_t i;
      for (i = 0; i < n; i++) {
         const char *want = names[i][0] == '=' ? names[i] + 1 : names[i];
         if (strcmp(want, key) == 0) {
            break;
         }
      }
      if (i == n) {
         error_set(error, FE_FailedToParse, "%s found an unknown argument: %s", op->name, key);
         goto fail;
      }
      if (names[i][0] == '=') {
         if (!BSON_ITER_HOLDS_UTF8(&sub)) {
            error_set(error, FE_FailedToParse, "%s: '%s' must be a string", op->name, key);
            goto fail;
         }
         e->names[i] = bson_strdup(bson_iter_utf8(&sub, NULL));
         if (!check_var_name(e->names[i], true, error)) {
            goto fail;
         }
      } else if (!(e->args[i] = expr_compile(&sub, error))) {
         goto fail;
      }
   }
   for (size_t i = 0; i < n; i++) {
      if (required[i] && !e->args[i] && !e->names[i]) {
         error_set(error, FE_FailedToParse, "Missing '%s' parameter to %s",
                   names[i][0] == '=' ? names[i] + 1 : names[i], op->name);
         goto fail;
      }
   }
   return e;

fail:
   expr_destroy(e);
   return NULL;
}

static fe_expr_t *
parse_literal(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   fe_expr_t *e = expr_new(KIND_CONST);
   (void) op;
   (void) error;
   bson_value_copy(bson_iter_value((bson_iter_t *) operand), &e->value);
   return e;
}

static fe_expr_t *
parse_cond(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"if", "then", "else"};
   static const bool required[] = {true, true, true};
   fe_expr_t *e;

   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      return parse_list(op, operand, error);
   }
   e = parse_named(op, operand, names, required, 3, error);
   if (!e && error && error->code == FE_FailedToParse && strstr(error->message, "Missing")) {
      error->code = 17080;
   }
   return e;
}

static fe_expr_t *
parse_let(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   fe_expr_t *e = expr_new(KIND_OP);
   bson_iter_t sub, vars;
   bool has_in = false, has_vars = false;
   size_t n = 0;

   e->op = op;
   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      error_set(error, 16874, "$let only supports an object as its argument");
      goto fail;
   }
   bson_iter_recurse(operand, &sub);
   while (bson_iter_next(&sub)) {
      if (strcmp(bson_iter_key(&sub), "vars") == 0 && BSON_ITER_HOLDS_DOCUMENT(&sub)) {
         has_vars = true;
         vars = sub;
      } else if (strcmp(bson_iter_key(&sub), "in") == 0) {
         has_in = true;
      } else {
         error_set(error, 16875, "Unrecognized parameter to $let: %s", bson_iter_key(&sub));
         goto fail;
      }
   }
   if (!has_vars || !has_in) {
      error_set(error, has_vars ? 16877 : 16876, "Missing '%s' parameter to $let",
                has_vars ? "in" : "vars");
      goto fail;
   }
   {
      bson_iter_t v;
      bson_iter_recurse(&vars, &v);
      while (bson_iter_next(&v)) {
         n++;
      }
      /* args[0] is 'in'; args[1..n] the variables' values, named by names[1..n]. */
      e->args = bson_malloc0(sizeof *e->args * (n + 1));
      e->names = bson_malloc0(sizeof *e->names * (n + 1));
      e->n_args = n + 1;
      e->n_names = n + 1;
      bson_iter_recurse(&vars, &v);
      for (size_t i = 1; bson_iter_next(&v); i++) {
         e->names[i] = bson_strdup(bson_iter_key(&v));
         if (!check_var_name(e->names[i], true, error) || !(e->args[i] = expr_compile(&v, error))) {
            goto fail;
         }
      }
   }
   bson_iter_recurse(operand, &sub);
   bson_iter_find(&sub, "in");
   if (!(e->args[0] = expr_compile(&sub, error))) {
      goto fail;
   }
   return e;

fail:
   expr_destroy(e);
   return NULL;
}

static fe_expr_t *
parse_map(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"input", "=as", "in"};
   static const bool required[] = {true, false, true};
   return parse_named(op, operand, names, required, 3, error);
}

static fe_expr_t *
parse_filter(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"input", "=as", "cond", "limit"};
   static const bool required[] = {true, false, true, false};
   return parse_named(op, operand, names, required, 4, error);
}

static fe_expr_t *
parse_convert(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"input", "to", "onError", "onNull"};
   static const bool required[] = {true, true, false, false};
   return parse_named(op, operand, names, required, 4, error);
}

static fe_expr_t *
parse_get_field(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"field", "input"};
   static const bool required[] = {true, false};
   fe_expr_t *e;

   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      e = expr_new(KIND_OP);
      e->op = op;
      e->args = bson_malloc0(sizeof *e->args * 2);
      e->n_args = 2;
      if (!(e->args[0] = expr_compile(operand, error))) {
         expr_destroy(e);
         return NULL;
      }
      return e;
   }
   return parse_named(op, operand, names, required, 2, error);
}

/* $setField {field, input, value} and $unsetField {field, input}: args[0] field (a constant
 * string: a name with '.' or a leading '$' is taken literally), args[1] input, args[2] value
 * (NULL for $unsetField, which removes the field). */
static fe_expr_t *
parse_set_field(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"field", "input", "value"};
   static const bool required[] = {true, true, true};
   bool unset = strcmp(op->name, "$unsetField") == 0;
   const bson_value_t *field;
   fe_expr_t *e;

   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      error_set(error, 4161100, "%s only supports an object as its argument", op->name);
      return NULL;
   }
   e = parse_named(op, operand, names, required, unset ? 2 : 3, error);
   if (!e) {
      return NULL;
   }
   if (!expr_is_constant(e->args[0], &field)) {
      error_set(error, 4161106,
                "%s requires 'field' to evaluate to a constant, but got a non-constant argument",
                op->name);
      goto fail;
   }
   if (field->value_type != BSON_TYPE_UTF8) {
      error_set(error, 4161107, "%s requires 'field' to evaluate to type String, but got %s",
                op->name, type_name(field));
      goto fail;
   }
   return e;

fail:
   expr_destroy(e);
   return NULL;
}

/* $rand takes an empty object. */
static fe_expr_t *
parse_rand(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   bson_iter_t sub;
   fe_expr_t *e;

   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      error_set(error, 10065, "invalid parameter: expected an object (%s)", op->name);
      return NULL;
   }
   bson_iter_recurse(operand, &sub);
   if (bson_iter_next(&sub)) {
      error_set(error, 3040501, "%s does not currently accept arguments", op->name);
      return NULL;
   }
   e = expr_new(KIND_OP);
   e->op = op;
   return e;
}

static fe_expr_t *
parse_switch(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   fe_expr_t *e = expr_new(KIND_OP);
   bson_iter_t sub, branches, branch;
   size_t n = 0;

   e->op = op;
   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      error_set(error, 40060, "$switch requires an object as an argument");
      goto fail;
   }
   /* args[0] is 'default' (nullable), then case/then pairs. */
   bson_iter_recurse(operand, &sub);
   if (!bson_iter_find(&sub, "branches") || !BSON_ITER_HOLDS_ARRAY(&sub)) {
      error_set(error, 40061, "$switch requires at least one branch.");
      goto fail;
   }
   branches = sub;
   bson_iter_recurse(&branches, &branch);
   while (bson_iter_next(&branch)) {
      n++;
   }
   e->args = bson_malloc0(sizeof *e->args * (2 * n + 1));
   e->n_args = 2 * n + 1;
   bson_iter_recurse(operand, &sub);
   while (bson_iter_next(&sub)) {
      if (strcmp(bson_iter_key(&sub), "default") == 0) {
         if (!(e->args[0] = expr_compile(&sub, error))) {
            goto fail;
         }
      } else if (strcmp(bson_iter_key(&sub), "branches") != 0) {
         error_set(error, 40067, "$switch found an unknown argument: %s", bson_iter_key(&sub));
         goto fail;
      }
   }
   bson_iter_recurse(&branches, &branch);
   for (size_t i = 0; bson_iter_next(&branch); i++) {
      bson_iter_t part;
      if (!BSON_ITER_HOLDS_DOCUMENT(&branch)) {
         error_set(error, 40062, "$switch expected each branch to be an object");
         goto fail;
      }
      bson_iter_recurse(&branch, &part);
      while (bson_iter_next(&part)) {
         size_t at;
         if (strcmp(bson_iter_key(&part), "case") == 0) {
            at = 1 + 2 * i;
         } else if (strcmp(bson_iter_key(&part), "then") == 0) {
            at = 2 + 2 * i;
         } else {
            error_set(error, 40063, "$switch found an unknown argument to a branch: %s",
                      bson_iter_key(&part));
            goto fail;
         }
         if (!(e->args[at] = expr_compile(&part, error))) {
            goto fail;
         }
      }
      if (!e->args[1 + 2 * i] || !e->args[2 + 2 * i]) {
         error_set(error, !e->args[1 + 2 * i] ? 40064 : 40065,
                   "$switch requires each branch have a '%s' expression",
                   !e->args[1 + 2 * i] ? "case" : "then");
         goto fail;
      }
   }
   return e;

fail:
   expr_destroy(e);
   return NULL;
}

/*
 * Evaluation
 */

static bool
eval(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   memset(out, 0, sizeof *out);
   switch (e->kind) {
   case KIND_CONST:
      copy_value(&e->value, out);
      return true;
   case KIND_PATH: {
      bson_value_t base;
      if (strcmp(e->var, "REMOVE") == 0) {
         return true;
      }
      if (strcmp(e->var, "NOW") == 0) {
         struct timespec now;
         clock_gettime(CLOCK_REALTIME, &now);
         out->value_type = BSON_TYPE_DATE_TIME;
         out->value.v_datetime = (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
         return true;
      }
      if (!lookup_var(c, e->var, &base)) {
         return error_set(c->error, 17276, "Use of undefined variable: %s", e->var);
      }
      path_on_value(&base, e->names, e->n_names, out);
      return true;
   }
   case KIND_OBJECT: {
      bson_t doc = BSON_INITIALIZER;
      for (size_t i = 0; i < e->n_args; i++) {
         bson_value_t v;
         if (!eval(e->args[i], c, &v)) {
            bson_destroy(&doc);
            return false;
         }
         if (!is_missing(&v)) {
            bson_append_value(&doc, e->names[i], -1, &v);
         }
         bson_value_destroy(&v);
      }
      set_from_bson(out, &doc, false);
      return true;
   }
   case KIND_ARRAY: {
      bson_t arr = BSON_INITIALIZER;
      char keybuf[16];
      const char *key;
      for (size_t i = 0; i < e->n_args; i++) {
         bson_value_t v;
         if (!eval(e->args[i], c, &v)) {
            bson_destroy(&arr);
            return false;
         }
         bson_uint32_to_string((uint32_t) i, &key, keybuf, sizeof keybuf);
         /* A missing element becomes null inside an array literal. */
         if (is_missing(&v)) {
            bson_append_null(&arr, key, -1);
         } else {
            bson_append_value(&arr, key, -1, &v);
         }
         bson_value_destroy(&v);
      }
      set_from_bson(out, &arr, true);
      return true;
   }
   case KIND_OP:
      return e->op->eval(e, c, out);
   }
   return false;
}

static bool
eval_args(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *vals)
{
   for (size_t i = 0; i < e->n_args; i++) {
      memset(&vals[i], 0, sizeof vals[i]);
   }
   for (size_t i = 0; i < e->n_args; i++) {
      if (e->args[i] && !eval(e->args[i], c, &vals[i])) {
         destroy_values(vals, e->n_args);
         return false;
      }
   }
   return true;
}

static void
destroy_values(bson_value_t *vals, size_t n)
{
   for (size_t i = 0; i < n; i++) {
      bson_value_destroy(&vals[i]);
      memset(&vals[i], 0, sizeof vals[i]);
   }
}

/* Sets *borrowed to the variable's value (not owned). */
static bool
lookup_var(eval_ctx_t *c, const char *name, bson_value_t *borrowed)
{
   for (const fe_expr_var_t *v = c->vars; v; v = v->next) {
      if (strcmp(v->name, name) == 0) {
         *borrowed = *v->value;
         return true;
      }
   }
   if (strcmp(name, "ROOT") == 0 || strcmp(name, "CURRENT") == 0) {
      memset(borrowed, 0, sizeof *borrowed);
      borrowed->value_type = BSON_TYPE_DOCUMENT;
      borrowed->value.v_doc.data = (uint8_t *) bson_get_data(c->root);
      borrowed->value.v_doc.data_len = c->root->len;
      return true;
   }
   return false;
}

static void path_on_array(const bson_value_t *arr, char *const *parts, size_t n, bson_value_t *out);

/* Field path semantics: through documents, and through arrays element by element (document
 * elements yield their value when present; array elements nest). */
static void
path_on_value(const bson_value_t *v, char *const *parts, size_t n, bson_value_t *out)
{
   bson_t doc;
   bson_iter_t iter;

   memset(out, 0, sizeof *out);
   if (n == 0) {
      copy_value(v, out);
      return;
   }
   if (v->value_type == BSON_TYPE_ARRAY) {
      path_on_array(v, parts, n, out);
      return;
   }
   if (v->value_type != BSON_TYPE_DOCUMENT) {
      return;
   }
   bson_init_static(&doc, v->value.v_doc.data, v->value.v_doc.data_len);
   if (!bson_iter_init_find(&iter, &doc, parts[0])) {
      return;
   }
   if (n == 1) {
      copy_value(bson_iter_value(&iter), out);
      return;
   }
   if (BSON_ITER_HOLDS_DOCUMENT(&iter) || BSON_ITER_HOLDS_ARRAY(&iter)) {
      path_on_value(bson_iter_value(&iter), parts + 1, n - 1, out);
   }
}

static void
path_on_array(const bson_value_t *arr, char *const *parts, size_t n, bson_value_t *out)
{
   bson_t doc, result = BSON_INITIALIZER;
   bson_iter_t iter;
   uint32_t i = 0;
   char keybuf[16];
   const char *key;

   bson_init_static(&doc, arr->value.v_doc.data, arr->value.v_doc.data_len);
   bson_iter_init(&iter, &doc);
   while (bson_iter_next(&iter)) {
      bson_value_t v;
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter) && !BSON_ITER_HOLDS_ARRAY(&iter)) {
         continue;
      }
      path_on_value(bson_iter_value(&iter), parts, n, &v);
      if (!is_missing(&v)) {
         bson_uint32_to_string(i++, &key, keybuf, sizeof keybuf);
         bson_append_value(&result, key, -1, &v);
      }
      bson_value_destroy(&v);
   }
   set_from_bson(out, &result, true);
}

/*
 * Values
 */

static void
format_double(double d, char *buf, size_t size)
{
   if (isnan(d)) {
      snprintf(buf, size, "NaN");
   } else if (isinf(d)) {
      snprintf(buf, size, d > 0 ? "Infinity" : "-Infinity");
   } else {
      /* The shortest form that reads back as the same double. */
      for (int prec = 1; prec <= 17; prec++) {
         snprintf(buf, size, "%.*g", prec, d);
         if (strtod(buf, NULL) == d) {
            break;
         }
      }
   }
}

static void
format_date(int64_t ms, char *buf, size_t size)
{
   time_t secs = (time_t) (ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
   int millis = (int) (ms - (int64_t) secs * 1000);
   struct tm tm;
   gmtime_r(&secs, &tm);
   snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

/* Converts v to a string as $toString/$concat coercion do. *s is owned by the caller. */
static bool
to_string(const bson_value_t *v, char **s, size_t *len)
{
   char buf[128];

   switch (v->value_type) {
   case BSON_TYPE_UTF8:
      *s = bson_strndup(v->value.v_utf8.str, v->value.v_utf8.len);
      *len = v->value.v_utf8.len;
      return true;
   case BSON_TYPE_SYMBOL:
      *s = bson_strndup(v->value.v_symbol.symbol, v->value.v_symbol.len);
      *len = v->value.v_symbol.len;
      return true;
   case BSON_TYPE_INT32:
      snprintf(buf, sizeof buf, "%d", v->value.v_int32);
      break;
   case BSON_TYPE_INT64:
      snprintf(buf, sizeof buf, "%lld", (long long) v->value.v_int64);
      break;
   case BSON_TYPE_DOUBLE:
      format_double(v->value.v_double, buf, sizeof buf);
      break;
   case BSON_TYPE_DECIMAL128:
      bson_decimal128_to_string(&v->value.v_decimal128, buf);
      break;
   case BSON_TYPE_BOOL:
      snprintf(buf, sizeof buf, "%s", v->value.v_bool ? "true" : "false");
      break;
   case BSON_TYPE_OID:
      bson_oid_to_string(&v->value.v_oid, buf);
      break;
   case BSON_TYPE_DATE_TIME:
      format_date(v->value.v_datetime, buf, sizeof buf);
      break;
   default:
      return false;
   }
   *s = bson_strdup(buf);
   *len = strlen(buf);
   return true;
}

/*
 * Operators
 */

static bool
op_abs(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t v;
   bool ok = true;

   if (!eval(e->args[0], c, &v)) {
      return false;
   }
   if (is_nullish(&v)) {
      set_null(out);
   } else if (!update_util_is_number(v.value_type)) {
      ok = error_set(c->error, 28765, "$abs only supports numeric types, not %s", type_name(&v));
   } else if (v.value_type == BSON_TYPE_INT32) {
      if (v.value.v_int32 == INT32_MIN) {
         set_int64(out, -(int64_t) INT32_MIN);
      } else {
         set_int32(out, abs(v.value.v_int32));
      }
   } else if (v.value_type == BSON_TYPE_INT64) {
      if (v.value.v_int64 == INT64_MIN) {
         ok = error_set(c->error, 28680, "can't take $abs of long long min");
      } else {
         set_int64(out, v.value.v_int64 < 0 ? -v.value.v_int64 : v.value.v_int64);
      }
   } else if (v.value_type == BSON_TYPE_DOUBLE) {
      set_double(out, fabs(v.value.v_double));
   } else {
      *out = v;
      out->value.v_decimal128.high &= ~(1ULL << 63);
      return true;
   }
   bson_value_destroy(&v);
   return ok;
}

static bool
op_add(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t *vals = bson_malloc0(sizeof *vals * (e->n_args + 1));
   bson_value_t sum;
   bool ok = false, has_date = false, has_null = false;
   int64_t date = 0;

   set_int32(&sum, 0);
   if (!eval_args(e, c, vals)) {
      goto done;
   }
   for (size_t i = 0; i < e->n_args; i++) {
      if (is_nullish(&vals[i])) {
         has_null = true;
      } else if (vals[i].value_type == BSON_TYPE_DATE_TIME) {
         if (has_date) {
            error_set(c->error, 16612, "only one date allowed in an $add expression");
            goto done;
         }
         has_date = true;
         date = vals[i].value.v_datetime;
      } else if (update_util_is_number(vals[i].value_type)) {
         bson_value_t next;
         update_util_add(&sum, &vals[i], &next);
         sum = next;
      } else {
         error_set(c->error, 16554, "$add only supports numeric or date types, not %s",
                   type_name(&vals[i]));
         goto done;
      }
   }
   if (has_null) {
      set_null(out);
   } else if (has_date) {
      double add = update_util_to_double(&sum);
      out->value_type = BSON_TYPE_DATE_TIME;
      out->value.v_datetime = date + (int64_t) llround(add);
   } else {
      *out = sum;
   }
   ok = true;

done:
   destroy_values(vals, e->n_args);
   bson_free(vals);
   return ok;
}

static bool
op_and(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   for (size_t i = 0; i < e->n_args; i++) {
      bson_value_t v;
      bool truth;
      if (!eval(e->args[i], c, &v)) {
         return false;
      }
      truth = expr_value_is_true(&v);
      bson_value_destroy(&v);
      if (!truth) {
         set_bool(out, false);
         return true;
      }
   }
   set_bool(out, true);
   return true;
}

static bool
op_or(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   for (size_t i = 0; i < e->n_args; i++) {
      bson_value_t v;
      bool truth;
      if (!eval(e->args[i], c, &v)) {
         return false;
      }
      truth = expr_value_is_true(&v);
      bson_value_destroy(&v);
      if (truth) {
         set_bool(out, true);
         return true;
      }
   }
   set_bool(out, false);
   return true;
}

static bool
op_not(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t v;
   if (!eval(e->args[0], c, &v)) {
      return false;
   }
   set_bool(out, !expr_value_is_true(&v));
   bson_value_destroy(&v);
   return true;
}

/* Iterates an array value: fills *iter. */
static void
array_iter(const bson_value_t *arr, bson_t *holder, bson_iter_t *iter)
{
   bson_init_static(holder, arr->value.v_doc.data, arr->value.v_doc.data_len);
   bson_iter_init(iter, holder);
}

static uint32_t
array_count(const bson_value_t *arr)
{
   bson_t holder;
   bson_iter_t iter;
   uint32_t n = 0;
   array_iter(arr, &holder, &iter);
   while (bson_iter_next(&iter)) {
      n++;
   }
   return n;
}

static bool
op_array_elem_at(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t vals[2];
   int64_t index;
   bool ok = false;

   if (!eval_args(e, c, vals)) {
      return false;
   }
   if (is_nullish(&vals[0]) || is_nullish(&vals[1])) {
      set_null(out);
      ok = true;
   } else if (vals[0].value_type != BSON_TYPE_ARRAY) {
      error_set(c->error, 28689, "$arrayElemAt's first argument must be an array, but is %s",
                type_name(&vals[0]));
   } else if (!update_util_is_number(vals[1].value_type)) {
      error_set(c->error, 28690,
                "$arrayElemAt's second argument must be a numeric value, but is %s",
                type_name(&vals[1]));
   } else if (!update_util_to_int64(&vals[1], &index) || index < INT32_MIN || index > INT32_MAX) {
      error_set(c->error, 28691,
                "$arrayElemAt's second argument must be representable as a 32-bit integer");
   } else {
      uint32_t n = array_count(&vals[0]);
      bson_t holder;
      bson_iter_t iter;
      if (index < 0) {
         index += n;
      }
      ok = true;
      if (index >= 0 && index < (int64_t) n) {
         array_iter(&vals[0], &holder, &iter);
         for (int64_t i = 0; i <= index; i++) {
            bson_iter_next(&iter);
         }
         copy_value(bson_iter_value(&iter), out);
      }
   }
   destroy_values(vals, 2);
   return ok;
}

static bool
op_first_last(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t v;
   bool ok = true;
   bool first = strcmp(e->op->name, "$first") == 0;

   if (!eval(e->args[0], c, &v)) {
      return false;
   }
   if (is_nullish(&v)) {
      set_null(out);
   } else if (v.value_type != BSON_TYPE_ARRAY) {
      ok = error_set(c->error, first ? 28689 : 28689, "%s's argument must be an array, but is %s",
                     e->op->name, type_name(&v));
   } else {
      bson_t holder;
      bson_iter_t iter;
      uint32_t n = array_count(&v);
      array_iter(&v, &holder, &iter);
      for (uint32_t i = 0; n > 0 && i < (first ? 1 : n); i++) {
         bson_iter_next(&iter);
      }
      if (n > 0) {
         copy_value(bson_iter_value(&iter), out);
      }
   }
   bson_value_destroy(&v);
   return ok;
}

/* The values $sum/$avg/$max/$min work over: one array operand's elements, or the operands.
 * Fills a fresh array of borrowed-or-owned values in *holder. */
static bool
gather_operands(const fe_expr_t *e, eval_ctx_t *c, bson_value_t **vals, size_t *n,
                bson_value_t *single)
{
   memset(single, 0, sizeof *single);
   if (e->n_args == 1) {
      if (!eval(e->args[0], c, single)) {
         return false;
      }
      if (single->value_type == BSON_TYPE_ARRAY) {
         bson_t holder;
         bson_iter_t iter;
         size_t count = array_count(single), i = 0;
         *vals = bson_malloc0(sizeof **vals * (count + 1));
         array_iter(single, &holder, &iter);
         while (bson_iter_next(&iter)) {
            copy_value(bson_iter_value(&iter), &(*vals)[i++]);
         }
         *n = count;
         return true;
      }
      *vals = bson_malloc0(sizeof **vals);
      copy_value(single, &(*vals)[0]);
      *n = 1;
      return true;
   }
   *vals = bson_malloc0(sizeof **vals * (e->n_args + 1));
   *n = e->n_args;
   if (!eval_args(e, c, *vals)) {
      bson_free(*vals);
      *vals = NULL;
      return false;
   }
   return true;
}

static bool
op_sum_avg(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out, bool avg)
{
   bson_value_t *vals = NULL, single, sum;
   size_t n = 0, count = 0;

   if (!gather_operands(e, c, &vals, &n, &single)) {
      return false;
   }
   set_int32(&sum, 0);
   for (size_t i = 0; i < n; i++) {
      if (update_util_is_number(vals[i].value_type)) {
         bson_value_t next;
         update_util_add(&sum, &vals[i], &next);
         sum = next;
         count++;
      }
   }
   if (!avg) {
      *out = sum;
   } else if (count == 0) {
      set_null(out);
   } else {
      bson_value_t divisor;
      set_int64(&divisor, (int64_t) count);
      update_util_divide(&sum, &divisor, out);
   }
   destroy_values(vals, n);
   bson_free(vals);
   bson_value_destroy(&single);
   return true;
}

static bool
op_sum(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   return op_sum_avg(e, c, out, false);
}

static bool
op_avg(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   return op_sum_avg(e, c, out, true);
}

static bool
op_max_min(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t *vals = NULL, single;
   size_t n = 0, best = SIZE_MAX;
   bool max = strcmp(e->op->name, "$max") == 0;

   if (!gather_operands(e, c, &vals, &n, &single)) {
      return false;
   }
   for (size_t i = 0; i < n; i++) {
      if (is_nullish(&vals[i])) {
         continue;
      }
      if (best == SIZE_MAX) {
         best = i;
      } else {
         int cmp = expr_compare_values_collated(&vals[i], &vals[best], expr_vars_collator(c->vars));
         if (max ? cmp > 0 : cmp < 0) {
            best = i;
         }
      }
   }
   if (best == SIZE_MAX) {
      set_null(out);
   } else {
      copy_value(&vals[best], out);
   }
   destroy_values(vals, n);
   bson_free(vals);
   bson_value_destroy(&single);
   return true;
}

static bool
op_rounding(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out, double (*fn)(double),
            const char *name)
{
   bson_value_t v;
   if (!eval(e->args[0], c, &v)) {
      return false;
   }
   if (is_nullish(&v)) {
      set_null(out);
   } else if (!update_util_is_number(v.value_type)) {
      error_set(c->error, 28765, "%s only supports numeric types, not %s", name, type_name(&v));
      bson_value_destroy(&v);
      return false;
   } else if (v.value_type == BSON_TYPE_DOUBLE) {
      set_double(out, fn(v.value.v_double));
   } else if (v.value_type == BSON_TYPE_DECIMAL128) {
      bson_decimal128_t d;
      update_util_decimal_from_double(fn(update_util_to_double(&v)), &d);
      out->value_type = BSON_TYPE_DECIMAL128;
      out->value.v_decimal128 = d;
   } else {
      *out = v;
      return true;
   }
   bson_value_destroy(&v);
   return true;
}

static bool
op_ceil(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   return op_rounding(e, c, out, ceil, "$ceil");
}

static bool
op_floor(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   return op_rounding(e, c, out, floor, "$floor");
}

static bool
op_cmp(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t vals[2];
   int cmp;
   if (!eval_args(e, c, vals)) {
      return false;
   }
   cmp = expr_compare_values_collated(&vals[0], &vals[1], expr_vars_collator(c->vars));
   set_int32(out, cmp < 0 ? -1 : cmp > 0);
   destroy_values(vals, 2);
   return true;
}

static bool
op_compare(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t vals[2];
   const char *name = e->op->name;
   int cmp;
   bool r;

   if (!eval_args(e, c, vals)) {
      return false;
   }
   cmp = expr_compare_values_collated(&vals[0], &vals[1], expr_vars_collator(c->vars));
   if (strcmp(name, "$eq") == 0) {
      r = cmp == 0;
   } else if (strcmp(name, "$ne") == 0) {
      r = cmp != 0;
   } else if (strcmp(name, "$gt") == 0) {
      r = cmp > 0;
   } else if (strcmp(name, "$gte") == 0) {
      r = cmp >= 0;
   } else if (strcmp(name, "$lt") == 0) {
      r = cmp < 0;
   } else {
      r = cmp <= 0;
   }
   set_bool(out, r);
   destroy_values(vals, 2);
   return true;
}

static bool
op_concat(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t *vals = bson_malloc0(sizeof *vals * (e->n_args + 1));
   bson_string_t *s = NULL;
   bool ok = false;

   if (!eval_args(e, c, vals)) {
      goto done;
   }
   for (size_t i = 0; i < e->n_args; i++) {
      if (is_nullish(&vals[i])) {
         set_null(out);
         ok = true;
         goto done;
      }
      if (vals[i].value_type != BSON_TYPE_UTF8) {
         error_set(c->error, 16702, "$concat only supports strings, not %s", type_name(&vals[i]));
         goto done;
      }
   }
   s = bson_string_new(NULL);
   for (size_t i = 0; i < e->n_args; i++) {
      bson_string_append(s, vals[i].value.v_utf8.str);
   }
   set_utf8(out, s->str, s->len);
   ok = true;

done:
   if (s) {
      bson_string_free(s, true);
   }
   destroy_values(vals, e->n_args);
   bson_free(vals);
   return ok;
}

static bool
op_concat_arrays(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t *vals = bson_malloc0(sizeof *vals * (e->n_args + 1));
   bson_t result = BSON_INITIALIZER;
   uint32_t n = 0;
   bool ok = false;

   if (!eval_args(e, c, vals)) {
      goto done;
   }
   for (size_t i = 0; i < e->n_args; i++) {
      if (is_nullish(&vals[i])) {
         set_null(out);
         ok = true;
         goto done;
      }
      if (vals[i].value_type != BSON_TYPE_ARRAY) {
         error_set(c->error, 28664, "$concatArrays only supports arrays, not %s",
                   type_name(&vals[i]));
         goto done;
      }
   }
   for (size_t i = 0; i < e->n_args; i++) {
      bson_t holder;
      bson_iter_t iter;
      array_iter(&vals[i], &holder, &iter);
      while (bson_iter_next(&iter)) {
         char keybuf[16];
         const char *key;
         bson_uint32_to_string(n++, &key, keybuf, sizeof keybuf);
         bson_append_iter(&result, key, -1, &iter);
      }
   }
   set_from_bson(out, &result, true);
   ok = true;

done:
   bson_destroy(&result);
   destroy_values(vals, e->n_args);
   bson_free(vals);
   return ok;
}

static bool
op_cond(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t v;
   bool truth;
   if (!eval(e->args[0], c, &v)) {
      return false;
   }
   truth = expr_value_is_true(&v);
   bson_value_destroy(&v);
   return eval(e->args[truth ? 1 : 2], c, out);
}

static bool
op_switch(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   for (size_t i = 1; i + 1 < e->n_args; i += 2) {
      bson_value_t v;
      bool truth;
      if (!eval(e->args[i], c, &v)) {
         return false;
      }
      truth = expr_value_is_true(&v);
      bson_value_destroy(&v);
      if (truth) {
         return eval(e->args[i + 1], c, out);
      }
   }
   if (!e->args[0]) {
      return error_set(c->error, 40066,
                       "$switch could not find a matching branch for an input, and no default "
                       "was specified.");
   }
   return eval(e->args[0], c, out);
}

static bool
op_if_null(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   for (size_t i = 0; i < e->n_args; i++) {
      if (!eval(e->args[i], c, out)) {
         return false;
      }
      if (!is_nullish(out) || i + 1 == e->n_args) {
         return true;
      }
      bson_value_destroy(out);
      memset(out, 0, sizeof *out);
   }
   return true;
}

static bool
op_in(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t vals[2];
   bool found = false;

   if (!eval_args(e, c, vals)) {
      return false;
   }
   if (vals[1].value_type != BSON_TYPE_ARRAY) {
      error_set(c->error, 40081, "$in requires an array as a second argument, found: %s",
                type_name(&vals[1]));
      destroy_values(vals, 2);
      return false;
   }
   {
      bson_t holder;
      bson_iter_t iter;
      array_iter(&vals[1], &holder, &iter);
      while (!found && bson_iter_next(&iter)) {
         found = expr_compare_values_collated(&vals[0], bson_iter_value(&iter),
                                              expr_vars_collator(c->vars)) == 0;
      }
   }
   set_bool(out, found);
   destroy_values(vals, 2);
   return true;
}

static bool
op_is_array(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t v;
   if (!eval(e->args[0], c, &v)) {
      return false;
   }
   set_bool(out, v.value_type == BSON_TYPE_ARRAY);
   bson_value_destroy(&v);
   return true;
}

static bool
op_size(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t v;
   if (!eval(e->args[0], c, &v)) {
      return false;
   }
   if (v.value_type != BSON_TYPE_ARRAY) {
      error_set(c->error, 17124, "The argument to $size must be an array. Type of argument was: %s",
                type_name(&v));
      bson_value_destroy(&v);
      return false;
   }
   set_int32(out, (int32_t) array_count(&v));
   bson_value_destroy(&v);
   return true;
}

static bool
op_let(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   size_t n = e->n_args - 1;
   bson_value_t *vals = bson_malloc0(sizeof *vals * (n + 1));
   fe_expr_var_t *vars = bson_malloc0(sizeof *vars * (n + 1));
   const fe_expr_var_t *saved = c->vars;
   bool ok = false;

   /* The variables are evaluated in the outer scope, then bound together. */
   for (size_t i = 0; i < n; i++) {
      if (!eval(e->args[i + 1], c, &vals[i])) {
         goto done;
      }
   }
   for (size_t i = 0; i < n; i++) {
      vars[i].name = e->names[i + 1];
      vars[i].value = &vals[i];
      vars[i].next = i + 1 < n ? &vars[i + 1] : saved;
   }
   c->vars = n ? &vars[0] : saved;
   ok = eval(e->args[0], c, out);
   c->vars = saved;

done:
   destroy_values(vals, n);
   bson_free(vals);
   bson_free(vars);
   return ok;
}

static bool
op_literal(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   (void) c;
   copy_value(&e->value, out);
   return true;
}

/* $map and $filter: args are input, as (in names[1]), in/cond, limit. */
static bool
map_or_filter(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out, bool filter)
{
   bson_value_t input, limit_v;
   bson_t result = BSON_INITIALIZER;
   const fe_expr_var_t *saved = c->vars;
   fe_expr_var_t var = {.name = e->names[1] ? e->names[1] : "this", .next = saved};
   int64_t limit = -1;
   uint32_t n = 0;
   bool ok = false;

   memset(&limit_v, 0, sizeof limit_v);
   if (!eval(e->args[0], c, &input)) {
      return false;
   }
   if (filter && e->args[3]) {
      if (!eval(e->args[3], c, &limit_v)) {
         goto done;
      }
      if (!is_nullish(&limit_v) && (!update_util_to_int64(&limit_v, &limit) || limit < 1)) {
         error_set(c->error, 327391,
                   "$filter: limit must be represented as a 32-bit integral value greater than "
                   "0");
         goto done;
      }
   }
   if (is_nullish(&input)) {
      set_null(out);
      ok = true;
      goto done;
   }
   if (input.value_type != BSON_TYPE_ARRAY) {
      error_set(c->error, filter ? 28651 : 16883, "input to %s must be an array not %s",
                e->op->name, type_name(&input));
      goto done;
   }
   {
      bson_t holder;
      bson_iter_t iter;
      array_iter(&input, &holder, &iter);
      c->vars = &var;
      while (bson_iter_next(&iter) && (limit < 0 || n < limit)) {
         bson_value_t elem, r;
         char keybuf[16];
         const char *key;
         copy_value(bson_iter_value(&iter), &elem);
         var.value = &elem;
         if (!eval(e->args[2], c, &r)) {
            bson_value_destroy(&elem);
            c->vars = saved;
            goto done;
         }
         bson_uint32_to_string(n, &key, keybuf, sizeof keybuf);
         if (!filter) {
            if (is_missing(&r)) {
               bson_append_null(&result, key, -1);
            } else {
               bson_append_value(&result, key, -1, &r);
            }
            n++;
         } else if (expr_value_is_true(&r)) {
            bson_append_value(&result, key, -1, &elem);
            n++;
         }
         bson_value_destroy(&r);
         bson_value_destroy(&elem);
      }
      c->vars = saved;
   }
   set_from_bson(out, &result, true);
   ok = true;

done:
   bson_destroy(&result);
   bson_value_destroy(&input);
   bson_value_destroy(&limit_v);
   return ok;
}

static bool
op_map(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   return map_or_filter(e, c, out, false);
}

static bool
op_filter(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   return map_or_filter(e, c, out, true);
}

static bool
op_get_field(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t field, input;
   bool ok = false;

   memset(&input, 0, sizeof input);
   if (!eval(e->args[0], c, &field)) {
      return false;
   }
   if (field.value_type != BSON_TYPE_UTF8) {
      error_set(c->error, 5654602,
                "$getField requires 'field' to evaluate to type String, but got %s",
                type_name(&field));
      goto done;
   }
   if (e->args[1]) {
      if (!eval(e->args[1], c, &input)) {
         goto done;
      }
   } else {
      bson_value_t current;
      lookup_var(c, "CURRENT", &current);
      copy_value(&current, &input);
   }
   ok = true;
   if (is_nullish(&input)) {
      if (input.value_type == BSON_TYPE_NULL) {
         set_null(out);
      }
   } else if (input.value_type != BSON_TYPE_DOCUMENT) {
      ok = error_set(c->error, 3041705,
                     "$getField requires 'input' to evaluate to type Object, but got %s",
                     type_name(&input));
   } else {
      bson_t doc;
      bson_iter_t iter;
      bson_init_static(&doc, input.value.v_doc.data, input.value.v_doc.data_len);
      if (bson_iter_init_find_w_len(&iter, &doc, field.value.v_utf8.str,
                                    (int) field.value.v_utf8.len)) {
         copy_value(bson_iter_value(&iter), out);
      }
   }

done:
   bson_value_destroy(&field);
   bson_value_destroy(&input);
   return ok;
}

static bool
op_set_field(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   const bson_value_t *field = &e->args[0]->value; /* a constant string: parse_set_field() */
   bson_value_t input, value;
   bson_t doc, result = BSON_INITIALIZER;
   bson_iter_t iter;
   bool replaced = false, ok = false;

   memset(&value, 0, sizeof value);
   if (!eval(e->args[1], c, &input)) {
      goto done;
   }
   if (is_nullish(&input)) {
      set_null(out);
      ok = true;
      goto done;
   }
   if (input.value_type != BSON_TYPE_DOCUMENT) {
      error_set(c->error, 4161105, "%s requires 'input' to evaluate to type Object", e->op->name);
      goto done;
   }
   /* $unsetField has no value: missing, which removes the field as $$REMOVE does. */
   if (e->n_args > 2 && !eval(e->args[2], c, &value)) {
      goto done;
   }
   bson_init_static(&doc, input.value.v_doc.data, input.value.v_doc.data_len);
   bson_iter_init(&iter, &doc);
   while (bson_iter_next(&iter)) {
      if (bson_iter_key_len(&iter) == field->value.v_utf8.len &&
          memcmp(bson_iter_key(&iter), field->value.v_utf8.str, field->value.v_utf8.len) == 0) {
         /* The field keeps its position. */
         if (!replaced && !is_missing(&value)) {
            bson_append_value(&result, field->value.v_utf8.str, (int) field->value.v_utf8.len,
                              &value);
         }
         replaced = true;
      } else {
         bson_append_iter(&result, NULL, 0, &iter);
      }
   }
   if (!replaced && !is_missing(&value)) {
      bson_append_value(&result, field->value.v_utf8.str, (int) field->value.v_utf8.len, &value);
   }
   set_from_bson(out, &result, false); /* steals result */
   ok = true;

done:
   if (!ok) {
      bson_destroy(&result);
   }
   bson_value_destroy(&input);
   bson_value_destroy(&value);
   return ok;
}

static bool
op_rand(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   uint64_t bits = 0;
   (void) e;

   if (getrandom(&bits, sizeof bits, 0) != (ssize_t) sizeof bits) {
      return error_set(c->error, FE_InternalError, "$rand: no random bytes available");
   }
   /* The top 53 bits make a double in [0, 1) with every value equally likely. */
   set_double(out, (double) (bits >> 11) * 0x1.0p-53);
   return true;
}

static bool
op_merge_objects(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t *vals = bson_malloc0(sizeof *vals * (e->n_args + 1));
   bson_t result = BSON_INITIALIZER;
   bool ok = false;

   if (!eval_args(e, c, vals)) {
      goto done;
   }
   for (size_t i = 0; i < e->n_args; i++) {
      bson_t doc, merged = BSON_INITIALIZER;
      bson_iter_t iter, in_new;
      if (is_nullish(&vals[i])) {
         continue;
      }
      if (vals[i].value_type != BSON_TYPE_DOCUMENT) {
         error_set(c->error, 40400,
                   "$mergeObjects requires object inputs, but input %s is of type %s", "value",
                   type_name(&vals[i]));
         bson_destroy(&merged);
         goto done;
      }
      /* Fields already present keep their position and take the new value. */
      bson_init_static(&doc, vals[i].value.v_doc.data, vals[i].value.v_doc.data_len);
      bson_iter_init(&iter, &result);
      while (bson_iter_next(&iter)) {
         if (bson_iter_init_find(&in_new, &doc, bson_iter_key(&iter))) {
            bson_append_iter(&merged, bson_iter_key(&iter), -1, &in_new);
         } else {
            bson_append_iter(&merged, bson_iter_key(&iter), -1, &iter);
         }
      }
      bson_iter_init(&iter, &doc);
      while (bson_iter_next(&iter)) {
         if (!bson_has_field(&result, bson_iter_key(&iter))) {
            bson_append_iter(&merged, bson_iter_key(&iter), -1, &iter);
         }
      }
      bson_destroy(&result);
      bson_init(&result);
      bson_concat(&result, &merged);
      bson_destroy(&merged);
   }
   set_from_bson(out, &result, false);
   bson_init(&result);
   ok = true;

done:
   bson_destroy(&result);
   destroy_values(vals, e->n_args);
   bson_free(vals);
   return ok;
}

static bool
arith2(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out, int which)
{
   bson_value_t vals[2];
   bool ok = false;

   if (!eval_args(e, c, vals)) {
      return false;
   }
   if (is_nullish(&vals[0]) || is_nullish(&vals[1])) {
      set_null(out);
      ok = true;
   } else if (which == 0) { /* $subtract */
      bool na = update_util_is_number(vals[0].value_type);
      bool nb = update_util_is_number(vals[1].value_type);
      if (na && nb) {
         update_util_subtract(&vals[0], &vals[1], out);
         ok = true;
      } else if (vals[0].value_type == BSON_TYPE_DATE_TIME &&
                 vals[1].value_type == BSON_TYPE_DATE_TIME) {
         set_int64(out, vals[0].value.v_datetime - vals[1].value.v_datetime);
         ok = true;
      } else if (vals[0].value_type == BSON_TYPE_DATE_TIME && nb) {
         out->value_type = BSON_TYPE_DATE_TIME;
         out->value.v_datetime =
            vals[0].value.v_datetime - (int64_t) llround(update_util_to_double(&vals[1]));
         ok = true;
      } else {
         error_set(c->error, 16556, "can't $subtract %s from %s", type_name(&vals[1]),
                   type_name(&vals[0]));
      }
   } else if (!update_util_is_number(vals[0].value_type) ||
              !update_util_is_number(vals[1].value_type)) {
      error_set(c->error, which == 1 ? 16609 : 16611,
                "%s only supports numeric types, not %s and %s", which == 1 ? "$divide" : "$mod",
                type_name(&vals[0]), type_name(&vals[1]));
   } else if (which == 1) {
      ok = update_util_divide(&vals[0], &vals[1], out) ||
           error_set(c->error, 16608, "can't $divide by zero");
   } else {
      ok = update_util_mod(&vals[0], &vals[1], out) ||
           error_set(c->error, 16610, "can't $mod by zero");
   }
   destroy_values(vals, 2);
   return ok;
}

static bool
op_subtract(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   return arith2(e, c, out, 0);
}

static bool
op_divide(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   return arith2(e, c, out, 1);
}

static bool
op_mod(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   return arith2(e, c, out, 2);
}

static bool
op_multiply(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t *vals = bson_malloc0(sizeof *vals * (e->n_args + 1));
   bson_value_t product;
   bool ok = false, has_null = false;

   set_int32(&product, 1);
   if (!eval_args(e, c, vals)) {
      goto done;
   }
   for (size_t i = 0; i < e->n_args; i++) {
      bson_value_t next;
      if (is_nullish(&vals[i])) {
         has_null = true;
         continue;
      }
      if (!update_util_is_number(vals[i].value_type)) {
         error_set(c->error, 16555, "$multiply only supports numeric types, not %s",
                   type_name(&vals[i]));
         goto done;
      }
      update_util_multiply(&product, &vals[i], &next);
      product = next;
   }
   if (has_null) {
      set_null(out);
   } else {
      *out = product;
   }
   ok = true;

done:
   destroy_values(vals, e->n_args);
   bson_free(vals);
   return ok;
}

/* Code point helpers for $substrCP/$strLenCP. */
static size_t
utf8_char_len(unsigned char lead)
{
   return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

static bool
op_str_len_cp(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t v;
   int32_t n = 0;

   if (!eval(e->args[0], c, &v)) {
      return false;
   }
   if (v.value_type != BSON_TYPE_UTF8) {
      error_set(c->error, 34471, "$strLenCP requires a string argument, found: %s", type_name(&v));
      bson_value_destroy(&v);
      return false;
   }
   for (uint32_t i = 0; i < v.value.v_utf8.len; n++) {
      i += (uint32_t) utf8_char_len((unsigned char) v.value.v_utf8.str[i]);
   }
   set_int32(out, n);
   bson_value_destroy(&v);
   return true;
}

static bool
substr(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out, bool code_points)
{
   bson_value_t vals[3];
   char *s = NULL;
   size_t len = 0;
   int64_t start, count;
   bool ok = false;

   if (!eval_args(e, c, vals)) {
      return false;
   }
   if (is_nullish(&vals[0])) {
      s = bson_strdup("");
   } else if (!to_string(&vals[0], &s, &len)) {
      error_set(c->error, 16007, "can't convert from BSON type %s to String", type_name(&vals[0]));
      goto done;
   }
   if (!update_util_is_number(vals[1].value_type) || !update_util_to_int64(&vals[1], &start)) {
      error_set(c->error, code_points ? 34450 : 16034,
                "%s: starting index must be a numeric type (is BSON type %s)", e->op->name,
                type_name(&vals[1]));
      goto done;
   }
   if (!update_util_is_number(vals[2].value_type) || !update_util_to_int64(&vals[2], &count)) {
      error_set(c->error, code_points ? 34452 : 16035,
                "%s: length must be a numeric type (is BSON type %s)", e->op->name,
                type_name(&vals[2]));
      goto done;
   }
   if (start < 0) {
      error_set(c->error, 34455, "%s: starting index must be non-negative (got: %lld)", e->op->name,
                (long long) start);
      goto done;
   }
   if (code_points) {
      size_t b = 0, end;
      for (int64_t i = 0; i < start && b < len; i++) {
         b += utf8_char_len((unsigned char) s[b]);
      }
      end = b;
      for (int64_t i = 0; (count < 0 || i < count) && end < len; i++) {
         end += utf8_char_len((unsigned char) s[end]);
      }
      if (b > len) {
         b = len;
      }
      if (end > len) {
         end = len;
      }
      set_utf8(out, s + b, end - b);
   } else {
      size_t b = (size_t) start < len ? (size_t) start : len;
      size_t end = count < 0 || b + (size_t) count > len ? len : b + (size_t) count;
      set_utf8(out, s + b, end - b);
   }
   ok = true;

done:
   bson_free(s);
   destroy_values(vals, 3);
   return ok;
}

static bool
op_substr_cp(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   return substr(e, c, out, true);
}

static bool
op_substr_bytes(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   return substr(e, c, out, false);
}

static bool
op_split(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t vals[2];
   bson_t result = BSON_INITIALIZER;
   bool ok = false;

   if (!eval_args(e, c, vals)) {
      return false;
   }
   if (is_nullish(&vals[0])) {
      set_null(out);
      ok = true;
   } else if (vals[0].value_type != BSON_TYPE_UTF8) {
      error_set(c->error, 40085,
                "$split requires an expression that evaluates to a string as a "
                "first argument, found: %s",
                type_name(&vals[0]));
   } else if (vals[1].value_type != BSON_TYPE_UTF8) {
      error_set(c->error, 40086,
                "$split requires an expression that evaluates to a string as a "
                "second argument, found: %s",
                type_name(&vals[1]));
   } else if (vals[1].value.v_utf8.len == 0) {
      error_set(c->error, 40087, "$split requires a non-empty separator");
   } else {
      const char *s = vals[0].value.v_utf8.str, *end = s + vals[0].value.v_utf8.len;
      const char *sep = vals[1].value.v_utf8.str;
      size_t sep_len = vals[1].value.v_utf8.len;
      uint32_t n = 0;
      for (;;) {
         const char *hit = NULL;
         char keybuf[16];
         const char *key;
         for (const char *p = s; p + sep_len <= end; p++) {
            if (memcmp(p, sep, sep_len) == 0) {
               hit = p;
               break;
            }
         }
         bson_uint32_to_string(n++, &key, keybuf, sizeof keybuf);
         bson_append_utf8(&result, key, -1, s, (int) ((hit ? hit : end) - s));
         if (!hit) {
            break;
         }
         s = hit + sep_len;
      }
      set_from_bson(out, &result, true);
      ok = true;
   }
   bson_destroy(&result);
   destroy_values(vals, 2);
   return ok;
}

static bool
op_to_case(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t v;
   char *s = NULL;
   size_t len = 0;
   bool upper = strcmp(e->op->name, "$toUpper") == 0;

   if (!eval(e->args[0], c, &v)) {
      return false;
   }
   if (is_nullish(&v)) {
      s = bson_strdup("");
   } else if (!to_string(&v, &s, &len)) {
      error_set(c->error, 16007, "can't convert from BSON type %s to String", type_name(&v));
      bson_value_destroy(&v);
      return false;
   }
   /* MongoDB maps ASCII letters only. */
   for (size_t i = 0; i < len; i++) {
      s[i] = (char) (upper ? toupper((unsigned char) s[i]) : tolower((unsigned char) s[i]));
   }
   set_utf8(out, s, len);
   bson_free(s);
   bson_value_destroy(&v);
   return true;
}

static bool
op_type(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t v;
   const char *name;
   if (!eval(e->args[0], c, &v)) {
      return false;
   }
   name = is_missing(&v) ? "missing" : type_name(&v);
   set_utf8(out, name, strlen(name));
   bson_value_destroy(&v);
   return true;
}

/* Conversions ($convert and the $toX shorthands). */

static bool
conversion_error(eval_ctx_t *c, const bson_value_t *in, const char *to)
{
   char *json = update_util_value_json(in);
   error_set(c->error, 241,
             "Unsupported conversion from %s to %s in $convert with no onError value",
             type_name(in), to);
   (void) json;
   bson_free(json);
   return false;
}

static bool
parse_int64_string(const char *s, int64_t *out)
{
   char *end;
   long long v;
   if (*s == '\0' || isspace((unsigned char) *s)) {
      return false;
   }
   errno = 0;
   v = strtoll(s, &end, 10);
   if (errno || *end) {
      return false;
   }
   *out = v;
   return true;
}

static bool
convert_value(eval_ctx_t *c, const bson_value_t *in, bson_type_t to, bson_value_t *out)
{
   const char *to_name = update_util_type_name(to);
   int64_t i64;
   double d;

   switch (to) {
   case BSON_TYPE_UTF8: {
      char *s;
      size_t len;
      if (!to_string(in, &s, &len)) {
         return conversion_error(c, in, to_name);
      }
      set_utf8(out, s, len);
      bson_free(s);
      return true;
   }
   case BSON_TYPE_BOOL:
      set_bool(out, expr_value_is_true(in));
      return true;
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
      if (in->value_type == BSON_TYPE_BOOL) {
         i64 = in->value.v_bool;
      } else if (in->value_type == BSON_TYPE_INT32 || in->value_type == BSON_TYPE_INT64) {
         update_util_to_int64(in, &i64);
      } else if (in->value_type == BSON_TYPE_DOUBLE || in->value_type == BSON_TYPE_DECIMAL128) {
         d = update_util_to_double(in);
         if (isnan(d) || isinf(d)) {
            return error_set(c->error, 241,
                             "Attempt to convert NaN or infinity value to integer type in $convert "
                             "with no onError value");
         }
         d = trunc(d);
         if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
            return error_set(c->error, 241,
                             "Conversion would overflow target type in $convert with no onError "
                             "value");
         }
         i64 = (int64_t) d;
      } else if (in->value_type == BSON_TYPE_DATE_TIME && to == BSON_TYPE_INT64) {
         i64 = in->value.v_datetime;
      } else if (in->value_type == BSON_TYPE_UTF8) {
         if (!parse_int64_string(in->value.v_utf8.str, &i64)) {
            return error_set(c->error, 241,
                             "Failed to parse number '%s' in $convert with no onError value",
                             in->value.v_utf8.str);
         }
      } else {
         return conversion_error(c, in, to_name);
      }
      if (to == BSON_TYPE_INT32) {
         if (i64 < INT32_MIN || i64 > INT32_MAX) {
            return error_set(c->error, 241,
                             "Conversion would overflow target type in $convert with no onError "
                             "value");
         }
         set_int32(out, (int32_t) i64);
      } else {
         set_int64(out, i64);
      }
      return true;
   case BSON_TYPE_DOUBLE:
   case BSON_TYPE_DECIMAL128:
      if (update_util_is_number(in->value_type)) {
         if (to == BSON_TYPE_DOUBLE) {
            set_double(out, update_util_to_double(in));
         } else if (in->value_type == BSON_TYPE_DECIMAL128) {
            *out = *in;
         } else if (in->value_type == BSON_TYPE_DOUBLE) {
            out->value_type = BSON_TYPE_DECIMAL128;
            update_util_decimal_from_double(in->value.v_double, &out->value.v_decimal128);
         } else {
            update_util_to_int64(in, &i64);
            out->value_type = BSON_TYPE_DECIMAL128;
            update_util_decimal_from_int64(i64, &out->value.v_decimal128);
         }
         return true;
      }
      if (in->value_type == BSON_TYPE_BOOL || in->value_type == BSON_TYPE_DATE_TIME) {
         i64 = in->value_type == BSON_TYPE_BOOL ? in->value.v_bool : in->value.v_datetime;
         if (to == BSON_TYPE_DOUBLE) {
            set_double(out, (double) i64);
         } else {
            out->value_type = BSON_TYPE_DECIMAL128;
            update_util_decimal_from_int64(i64, &out->value.v_decimal128);
         }
         return true;
      }
      if (in->value_type == BSON_TYPE_UTF8) {
         char *end;
         if (to == BSON_TYPE_DECIMAL128) {
            if (!bson_decimal128_from_string(in->value.v_utf8.str, &out->value.v_decimal128)) {
               return error_set(c->error, 241,
                                "Failed to parse number '%s' in $convert with no onError value",
                                in->value.v_utf8.str);
            }
            out->value_type = BSON_TYPE_DECIMAL128;
            return true;
         }
         d = strtod(in->value.v_utf8.str, &end);
         if (in->value.v_utf8.len == 0 || *end ||
             isspace((unsigned char) in->value.v_utf8.str[0])) {
            return error_set(c->error, 241,
                             "Failed to parse number '%s' in $convert with no onError value",
                             in->value.v_utf8.str);
         }
         set_double(out, d);
         return true;
      }
      return conversion_error(c, in, to_name);
   case BSON_TYPE_OID:
      if (in->value_type == BSON_TYPE_OID) {
         *out = *in;
         return true;
      }
      if (in->value_type == BSON_TYPE_UTF8 && in->value.v_utf8.len == 24 &&
          bson_oid_is_valid(in->value.v_utf8.str, 24)) {
         out->value_type = BSON_TYPE_OID;
         bson_oid_init_from_string(&out->value.v_oid, in->value.v_utf8.str);
         return true;
      }
      if (in->value_type == BSON_TYPE_UTF8) {
         return error_set(c->error, 241,
                          "Failed to parse objectId '%s' in $convert with no onError value",
                          in->value.v_utf8.str);
      }
      return conversion_error(c, in, to_name);
   case BSON_TYPE_DATE_TIME:
      if (in->value_type == BSON_TYPE_DATE_TIME) {
         *out = *in;
         return true;
      }
      if (in->value_type == BSON_TYPE_INT64 || in->value_type == BSON_TYPE_DOUBLE ||
          in->value_type == BSON_TYPE_DECIMAL128) {
         d = update_util_to_double(in);
         out->value_type = BSON_TYPE_DATE_TIME;
         out->value.v_datetime = (int64_t) d;
         return true;
      }
      if (in->value_type == BSON_TYPE_OID) {
         out->value_type = BSON_TYPE_DATE_TIME;
         out->value.v_datetime = (int64_t) bson_oid_get_time_t(&in->value.v_oid) * 1000;
         return true;
      }
      return conversion_error(c, in, to_name);
   default:
      return conversion_error(c, in, to_name);
   }
}

static bool
type_from_value(eval_ctx_t *c, const bson_value_t *v, bson_type_t *type)
{
   static const struct {
      const char *name;
      bson_type_t type;
   } names[] = {
      {"double", BSON_TYPE_DOUBLE}, {"string", BSON_TYPE_UTF8},        {"objectId", BSON_TYPE_OID},
      {"bool", BSON_TYPE_BOOL},     {"date", BSON_TYPE_DATE_TIME},     {"int", BSON_TYPE_INT32},
      {"long", BSON_TYPE_INT64},    {"decimal", BSON_TYPE_DECIMAL128},
   };
   int64_t code;

   if (v->value_type == BSON_TYPE_UTF8) {
      for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
         if (strcmp(names[i].name, v->value.v_utf8.str) == 0) {
            *type = names[i].type;
            return true;
         }
      }
      return error_set(c->error, FE_BadValue, "Unknown type name: %s", v->value.v_utf8.str);
   }
   if (update_util_is_number(v->value_type) && update_util_to_int64(v, &code)) {
      for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
         if ((int64_t) names[i].type == code) {
            *type = names[i].type;
            return true;
         }
      }
      return error_set(c->error, FE_BadValue, "Invalid numeric type code: %lld", (long long) code);
   }
   return error_set(c->error, FE_FailedToParse,
                    "$convert's 'to' argument must be a string or number, but is %s", type_name(v));
}

static bool
op_to(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   static const struct {
      const char *name;
      bson_type_t type;
   } ops[] = {
      {"$toBool", BSON_TYPE_BOOL},          {"$toDate", BSON_TYPE_DATE_TIME},
      {"$toDecimal", BSON_TYPE_DECIMAL128}, {"$toDouble", BSON_TYPE_DOUBLE},
      {"$toInt", BSON_TYPE_INT32},          {"$toLong", BSON_TYPE_INT64},
      {"$toObjectId", BSON_TYPE_OID},       {"$toString", BSON_TYPE_UTF8},
   };
   bson_value_t v;
   bson_type_t to = BSON_TYPE_UTF8;
   bool ok;

   for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
      if (strcmp(ops[i].name, e->op->name) == 0) {
         to = ops[i].type;
      }
   }
   if (!eval(e->args[0], c, &v)) {
      return false;
   }
   if (is_nullish(&v)) {
      set_null(out);
      ok = true;
   } else {
      ok = convert_value(c, &v, to, out);
   }
   bson_value_destroy(&v);
   return ok;
}

static bool
op_convert(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t input, to_v;
   bson_type_t to = BSON_TYPE_EOD;
   bool ok = false;

   memset(&to_v, 0, sizeof to_v);
   if (!eval(e->args[0], c, &input)) {
      return false;
   }
   if (!eval(e->args[1], c, &to_v)) {
      goto done;
   }
   if (is_nullish(&input)) {
      if (e->args[3]) {
         ok = eval(e->args[3], c, out);
      } else {
         set_null(out);
         ok = true;
      }
      goto done;
   }
   if (is_nullish(&to_v)) {
      set_null(out);
      ok = true;
      goto done;
   }
   if (!type_from_value(c, &to_v, &to)) {
      goto done;
   }
   ok = convert_value(c, &input, to, out);
   if (!ok && e->args[2]) {
      memset(out, 0, sizeof *out);
      ok = eval(e->args[2], c, out);
   }

done:
   bson_value_destroy(&input);
   bson_value_destroy(&to_v);
   return ok;
}
