/*
 * expr_int.h: private to the aggregation expression module (expr.c and the operator files
 * expr_string.c, expr_date.c and the other operator families): the node layout, the evaluation
 * context, the operator table's entry type and the operators defined outside expr.c. Nothing
 * outside core/query/expr*.c includes this.
 */
#ifndef FE_EXPR_INT_H
#define FE_EXPR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <bson/bson.h>

#include "error/error.h"
#include "query/expr.h"

typedef enum kind {
   KIND_CONST,
   KIND_PATH,
   KIND_OBJECT,
   KIND_ARRAY,
   KIND_OP,
} kind_t;

typedef struct eval_ctx {
   const bson_t *root;
   const fe_expr_var_t *vars;
   fe_error_t *error;
} eval_ctx_t;

typedef struct op_def op_def_t;

struct fe_expr {
   kind_t kind;
   bson_value_t value; /* KIND_CONST, owned; a KIND_OP may keep a parse-time number here */
   char *var;          /* KIND_PATH: the variable ("CURRENT" for "$a"); owned */
   char **names;       /* KIND_PATH parts, KIND_OBJECT field names, variable names; owned */
   size_t n_names;
   fe_expr_t **args; /* KIND_OBJECT values, KIND_ARRAY elements, KIND_OP operands; owned */
   size_t n_args;
   const op_def_t *op; /* KIND_OP */
   /* KIND_OP: state an operator prepared when compiling (a regex or a time zone given as a
    * constant); owned, released by data_free when the node is destroyed. */
   void *data;
   void (*data_free)(void *data);
};

typedef bool (*eval_fn)(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
typedef fe_expr_t *(*parse_fn)(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);

struct op_def {
   const char *name;
   eval_fn eval;
   int min_args;
   int max_args;   /* -1: any */
   parse_fn parse; /* NULL: operands are an array (or one value) of expressions */
};

/*
 * Services of expr.c to the operator families in other files
 */

/* A new node of the given kind, all else zero. Owned by the caller (expr_destroy()). */
fe_expr_t *expr_node_new(kind_t kind);

/* Evaluates one node; *out is caller storage, always initialized (EOD when missing). */
bool expr_eval_node(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);

/* Evaluates e->args[i] into *out, caller storage, always initialized (missing when the
 * operand is absent). */
static inline bool
expr_eval_arg(const fe_expr_t *e, size_t i, eval_ctx_t *c, bson_value_t *out)
{
   if (!e->args[i]) {
      memset(out, 0, sizeof *out);
      return true;
   }
   return expr_eval_node(e->args[i], c, out);
}

/* Evaluates every e->args[i] into vals[i] (NULL args stay missing); on failure vals are
 * released. */
bool expr_eval_args(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *vals);

/* The default operand parser: an array (or one value) of expressions, counted against
 * op->min_args and op->max_args (16020). */
fe_expr_t *expr_parse_list(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);

/* An object operand with named fields into args[i] for names[i] (NULL when absent); a name
 * starting with '=' names a variable (stored in names[i]). */
fe_expr_t *expr_parse_named(const op_def_t *op, const bson_iter_t *operand,
                            const char *const *names, const bool *required, size_t n,
                            fe_error_t *error);

/* Checks a user variable name (16869, 16870, 16871). */
bool expr_check_var_name(const char *name, fe_error_t *error);

/*
 * expr_string.c: string operators
 */

fe_expr_t *expr_string_parse_trim(const op_def_t *op, const bson_iter_t *operand,
                                  fe_error_t *error);
fe_expr_t *expr_string_parse_replace(const op_def_t *op, const bson_iter_t *operand,
                                     fe_error_t *error);
fe_expr_t *expr_string_parse_regex(const op_def_t *op, const bson_iter_t *operand,
                                   fe_error_t *error);
bool expr_string_trim(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_string_index_of(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_string_len_bytes(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_string_casecmp(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_string_replace(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_string_regex(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);

/*
 * expr_date.c: date operators
 */

fe_expr_t *expr_date_parse_part(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);
fe_expr_t *expr_date_parse_to_string(const op_def_t *op, const bson_iter_t *operand,
                                     fe_error_t *error);
fe_expr_t *expr_date_parse_from_string(const op_def_t *op, const bson_iter_t *operand,
                                       fe_error_t *error);
fe_expr_t *expr_date_parse_to_parts(const op_def_t *op, const bson_iter_t *operand,
                                    fe_error_t *error);
fe_expr_t *expr_date_parse_from_parts(const op_def_t *op, const bson_iter_t *operand,
                                      fe_error_t *error);
fe_expr_t *expr_date_parse_add(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);
fe_expr_t *expr_date_parse_diff(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);
fe_expr_t *expr_date_parse_trunc(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);
bool expr_date_part(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_date_to_string(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_date_from_string(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_date_to_parts(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_date_from_parts(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_date_add(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_date_diff(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_date_trunc(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);

/*
 * expr_math.c: arithmetic and type operators
 */

fe_expr_t *expr_math_parse_ranged(const op_def_t *op, const bson_iter_t *operand,
                                  fe_error_t *error);
bool expr_math_round(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_math_trunc(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_math_unary(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_math_log(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_math_pow(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_math_is_number(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_math_bson_size(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_math_binary_size(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);

/*
 * expr_array.c: array, set and object operators
 */

fe_expr_t *expr_array_parse_reduce(const op_def_t *op, const bson_iter_t *operand,
                                   fe_error_t *error);
fe_expr_t *expr_array_parse_sort_array(const op_def_t *op, const bson_iter_t *operand,
                                       fe_error_t *error);
fe_expr_t *expr_array_parse_n(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);
fe_expr_t *expr_array_parse_set_equals(const op_def_t *op, const bson_iter_t *operand,
                                       fe_error_t *error);
fe_expr_t *expr_array_parse_zip(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error);
bool expr_array_reduce(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_array_reverse(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_array_range(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_array_zip(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_array_index_of(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_array_to_object(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_array_object_to_array(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_array_sort(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_array_slice(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_array_n(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_array_all_any(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_array_set_op(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);
bool expr_array_set_compare(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out);

#endif /* FE_EXPR_INT_H */
