/*
 * expr.h: aggregation expressions ("$a.b", {$add: [...]}, {$cond: ...}, literals, objects),
 * compiled once and evaluated against a document with variables.
 */
#ifndef FE_EXPR_H
#define FE_EXPR_H

#include <stdbool.h>

#include <bson/bson.h>

#include "bson/collation.h"
#include "error/error.h"

typedef struct fe_expr fe_expr_t;

/* A chain of variable bindings, innermost first. Everything is borrowed for the duration of
 * one evaluation. $$ROOT is the evaluated document, $$CURRENT defaults to it; $$REMOVE is
 * missing and $$NOW the current date: none of these need a binding. */
typedef struct fe_expr_var {
   const char *name;          /* without the "$$" */
   const bson_value_t *value; /* BSON_TYPE_EOD means missing */
   const struct fe_expr_var *next;
   /* Set only on the binding named EXPR_COLLATION_VAR, which carries the collation of the
    * command (borrowed; NULL: binary) to every expression and filter evaluated with the
    * chain; expr_vars_collator() finds it. */
   const fe_collator_t *collator;
} fe_expr_var_t;

/* The name of the binding that carries the collation: no expression can name it (a user
 * variable starts with a lower-case letter, a system one with an upper-case one). */
#define EXPR_COLLATION_VAR "$collation"

/* The collation a chain of bindings carries (NULL: binary). */
const fe_collator_t *expr_vars_collator(const fe_expr_var_t *vars);

/* Compiles the expression at value (any BSON value: a string starting with '$' is a field
 * path or variable, a document is an operator or an object of expressions, an array is an
 * array of expressions, anything else a constant). Returns NULL and sets *error on failure:
 * 168 InvalidPipelineOperator for an unknown operator, MongoDB's location codes otherwise.
 * Owned by the caller; does not borrow value. */
fe_expr_t *expr_compile(const bson_iter_t *value, fe_error_t *error);

/* Compiles the expression object doc ({a: <expr>, b: <expr>}). */
fe_expr_t *expr_compile_object(const bson_t *doc, fe_error_t *error);

/* Evaluates expr with root as $$ROOT (and $$CURRENT unless vars binds it). *out is caller
 * storage, always initialized: BSON_TYPE_EOD when the result is missing; release it with
 * bson_value_destroy(). Fails on runtime errors (a type mismatch, a division by zero). */
bool expr_evaluate(const fe_expr_t *expr, const bson_t *root, const fe_expr_var_t *vars,
                   bson_value_t *out, fe_error_t *error);

/* True when expr evaluates to a true value against doc: what $expr in a filter needs. An
 * evaluation error counts as no match. */
bool expr_match(const fe_expr_t *expr, const bson_t *doc);

/* Like expr_match() with variables (nullable, borrowed for the call). */
bool expr_match_vars(const fe_expr_t *expr, const bson_t *doc, const fe_expr_var_t *vars);

/* Like expr_match() with the error reported. */
bool expr_match_error(const fe_expr_t *expr, const bson_t *doc, const fe_expr_var_t *vars,
                      bool *matched, fe_error_t *error);

/* MongoDB's truthiness: false, null, missing, undefined and numeric zero are false. */
bool expr_value_is_true(const bson_value_t *value);

/* Compares two values as aggregation does (BSON order, missing lowest): <0, 0, >0. */
int expr_compare_values(const bson_value_t *a, const bson_value_t *b);

/* As expr_compare_values(), with strings compared under collator (NULL: binary). */
int expr_compare_values_collated(const bson_value_t *a, const bson_value_t *b,
                                 const fe_collator_t *collator);

/* True when expr is a constant; *value (borrowed, valid while expr lives) receives it. */
bool expr_is_constant(const fe_expr_t *expr, const bson_value_t **value);

/* Checks, as MongoDB does when it parses an expression, that every variable expr uses is
 * defined: a system variable ($$ROOT, $$CURRENT, $$REMOVE, $$NOW, ...), a name in scope (a
 * chain of bindings of which only the names are read; nullable) or one bound inside expr
 * ($let, $map, $filter, $reduce). Errors: 17276 "Use of undefined variable". */
bool expr_check_vars(const fe_expr_t *expr, const fe_expr_var_t *scope, fe_error_t *error);

void expr_destroy(fe_expr_t *expr);

/* Variables bound once for a whole command or statement: a command's "let", an update
 * statement's "c". Each value is an expression evaluated once, when compiled, against an
 * empty document ($$NOW, $rand and $literal work; field paths are missing); later variables
 * see earlier ones. */
typedef struct fe_expr_let fe_expr_let_t;

/* Compiles and evaluates let (a document {name: <expression>}). Names must be valid user
 * variable names (16869, 16870, 16871); let must be a document. Owned by the caller; does
 * not borrow let. */
fe_expr_let_t *expr_let_compile(const bson_t *let, fe_error_t *error);

/* As expr_let_compile(), with the chain continuing into outer (nullable; borrowed, must outlive
 * the result): a collation binding, for instance. let may be NULL: the bindings are then
 * outer's. */
fe_expr_let_t *expr_let_compile_outer(const bson_t *let, const fe_expr_var_t *outer,
                                      fe_error_t *error);

/* The bindings, innermost first, for expr_evaluate(); NULL when there are none. Borrowed;
 * valid while let lives. let may be NULL. */
const fe_expr_var_t *expr_let_vars(const fe_expr_let_t *let);

void expr_let_destroy(fe_expr_let_t *let);

/* Writes to *out (caller storage, initialized here) the fields of base with those of over
 * replacing them or appended: how an update statement's "c" combines with the command's
 * "let". Either may be NULL. */
void expr_let_merge(const bson_t *base, const bson_t *over, bson_t *out);

#endif /* FE_EXPR_H */
