/*
 * filter.h: MongoDB query filters, compiled once and matched against documents.
 */
#ifndef FE_FILTER_H
#define FE_FILTER_H

#include <stdbool.h>

#include <bson/bson.h>

#include "error/error.h"
#include "query/expr.h"

typedef struct fe_filter fe_filter_t;

/* What a match learned that later stages need: the array index the positional operator `$`
 * refers to, or -1. As in MongoDB it is the index within the first (outermost) array a
 * matching path went through, or the element $elemMatch matched; the last operator of a
 * top-level AND that matched through an array sets it; $or, $nor and $not never do. */
typedef struct fe_match_info {
   int32_t positional_index;
} fe_match_info_t;

/* Compiles a filter document. Returns NULL and sets *error (code 2 BadValue for an unknown or
 * malformed operator, as MongoDB does) on failure. The result is owned by the caller and
 * does not borrow spec. */
fe_filter_t *filter_compile(const bson_t *spec, fe_error_t *error);

/* Like filter_compile(), with the command's let variables (nullable; see expr_let_compile():
 * evaluated once, here) available to $expr as $$name. Errors in let as expr_let_compile()
 * reports them. Does not borrow let. */
fe_filter_t *filter_compile_with_let(const bson_t *spec, const bson_t *let, fe_error_t *error);

/* Like filter_compile_with_let() (let nullable), comparing strings under collator (borrowed;
 * must outlive the filter; NULL: binary), in the filter and in its $expr. */
fe_filter_t *filter_compile_collated(const bson_t *spec, const bson_t *let,
                                     const fe_collator_t *collator, fe_error_t *error);

/* Makes filter own collator (transfers; it must be the one the filter was compiled with): for
 * a filter that outlives the command that parsed the collation (a cursor's). */
void filter_adopt_collator(fe_filter_t *filter, fe_collator_t *collator);

/* The collation a compiled filter compares strings with (NULL: binary). */
const fe_collator_t *filter_collator(const fe_filter_t *filter);

/* Like filter_compile(), with variables already bound (nullable): borrowed, they must outlive
 * the filter. For a filter inside something that holds the variables (a pipeline's $match). */
fe_filter_t *filter_compile_vars(const bson_t *spec, const fe_expr_var_t *vars, fe_error_t *error);

/* True when doc matches. info (nullable) receives the positional index. Allocates nothing,
 * except inside $expr. A compiled filter keeps PCRE2 match data for its regexes, so one
 * filter is matched by one thread at a time (compile one per query, as the commands do). */
bool filter_match(const fe_filter_t *filter, const bson_t *doc, fe_match_info_t *info);

void filter_destroy(fe_filter_t *filter);

/* When filter is a single $jsonSchema, appends to details why doc fails it, as mongod 5+ does
 * in a DocumentValidationFailure's errInfo ({operatorName: "$jsonSchema",
 * schemaRulesNotSatisfied: [...]}) and returns true; returns false, appending nothing, for any
 * other filter (filter_jsonschema.c). */
bool filter_jsonschema_explain(const fe_filter_t *filter, const bson_t *doc, bson_t *details);
struct fe_text_query;

/* The filter's $text query (borrowed; valid while the filter lives), or NULL without one:
 * the command binds the collection's text index to it (text.h). Errors as mongod: 2 BadValue
 * "Too many text expressions" for two, and for a $text under $nor. (filter_text.c) */
bool filter_text_query(const fe_filter_t *filter, struct fe_text_query **query, fe_error_t *error);

#endif /* FE_FILTER_H */
