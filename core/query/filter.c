/*
 * filter.c: compiling MongoDB query filters into a tree of nodes with pre-split paths
 * (matching is in filter_match.c). Errors carry MongoDB's codes and messages.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bson/compare.h"
#include "bson/numeric.h"
#include "query/filter_int.h"

/* Node construction */
static filter_node_t *node_new(filter_kind_t kind);
static void node_add(filter_node_t *parent, filter_node_t *child);
static void node_destroy(filter_node_t *node);
static filter_node_t *leaf_new(filter_op_t op, const char *path, size_t path_len,
                               const bson_iter_t *operand, fe_error_t *error);

/* Compilation */
static bool compile_document(filter_node_t *parent, const bson_iter_t *doc, bool top,
                             fe_error_t *error);
static bool compile_logical(filter_node_t *parent, filter_kind_t kind, const bson_iter_t *value,
                            const char *name, bool top, fe_error_t *error);
static bool compile_field(filter_node_t *parent, const char *path, size_t path_len,
                          const bson_iter_t *value, fe_error_t *error);
static bool compile_operators(filter_node_t *parent, const char *path, size_t path_len,
                              const bson_iter_t *ops, fe_error_t *error);
static bool compile_operator(filter_node_t *parent, const char *path, size_t path_len,
                             const char *name, const bson_iter_t *value, fe_error_t *error);
static bool check_regex_options(const char *options, fe_error_t *error);
static bool compile_type(filter_node_t *leaf, const bson_iter_t *value, fe_error_t *error);
static bool compile_bits(filter_node_t *leaf, const char *name, const bson_iter_t *value,
                         fe_error_t *error);
static bool is_operator_document(const bson_iter_t *value);
static bool compile_expr(filter_node_t *parent, const bson_iter_t *value, bool top,
                         fe_error_t *error);
static void bind_vars(filter_node_t *node, const fe_expr_var_t *vars);
static bool check_vars(const filter_node_t *node, const fe_expr_var_t *vars, fe_error_t *error);

fe_filter_t *
filter_compile(const bson_t *spec, fe_error_t *error)
{
   return filter_compile_vars(spec, NULL, error);
}

fe_filter_t *
filter_compile_with_let(const bson_t *spec, const bson_t *let, fe_error_t *error)
{
   fe_expr_let_t *bound = NULL;
   fe_filter_t *filter = NULL;

   if (let && !(bound = expr_let_compile(let, error))) {
      return NULL;
   }
   filter = filter_compile_vars(spec, expr_let_vars(bound), error);
   if (filter) {
      filter->let = bound;
   } else {
      expr_let_destroy(bound);
   }
   return filter;
}

fe_filter_t *
filter_compile_collated(const bson_t *spec, const bson_t *let, const fe_collator_t *collator,
                        fe_error_t *error)
{
   static const bson_value_t missing = {.value_type = BSON_TYPE_EOD};
   fe_expr_var_t *binding = NULL;
   fe_expr_let_t *bound = NULL;
   fe_filter_t *filter = NULL;

   if (!collator) {
      return filter_compile_with_let(spec, let, error);
   }
   binding = bson_malloc0(sizeof *binding);
   binding->name = EXPR_COLLATION_VAR;
   binding->value = &missing;
   binding->collator = collator;
   if (!(bound = expr_let_compile_outer(let, binding, error))) {
      bson_free(binding);
      return NULL;
   }
   filter = filter_compile_vars(spec, expr_let_vars(bound), error);
   if (filter) {
      filter->let = bound;
      filter->collation_binding = binding;
   } else {
      expr_let_destroy(bound);
      bson_free(binding);
   }
   return filter;
}

void
filter_adopt_collator(fe_filter_t *filter, fe_collator_t *collator)
{
   collation_destroy(filter->owned_collator);
   filter->owned_collator = collator;
}

const fe_collator_t *
filter_collator(const fe_filter_t *filter)
{
   return filter ? filter->root->collator : NULL;
}

fe_filter_t *
filter_compile_vars(const bson_t *spec, const fe_expr_var_t *vars, fe_error_t *error)
{
   fe_filter_t *filter = bson_malloc0(sizeof *filter);
   bson_iter_t it;
   bool ok = false;

   filter->root = node_new(FILTER_AND);
   if (!bson_iter_init(&it, spec)) {
      error_set(error, FE_BadValue, "invalid filter document");
      goto done;
   }
   if (!compile_document(filter->root, &it, true, error)) {
      goto done;
   }
   if (vars) {
      bind_vars(filter->root, vars);
   }
   if (!check_vars(filter->root, vars, error)) {
      goto done;
   }
   ok = true;
done:
   if (!ok) {
      filter_destroy(filter);
      filter = NULL;
   }
   return filter;
}

void
filter_destroy(fe_filter_t *filter)
{
   if (filter) {
      node_destroy(filter->root);
      expr_let_destroy(filter->let);
      bson_free(filter->collation_binding);
      collation_destroy(filter->owned_collator);
      bson_free(filter);
   }
}

/* Node construction */

static filter_node_t *
node_new(filter_kind_t kind)
{
   /* bson_iter_t (in leaves) is declared 128-byte aligned, beyond what malloc promises.
    * libbson's allocator aborts when memory runs out, as for every bson_malloc() here. */
   size_t size = (sizeof(filter_node_t) + 127) / 128 * 128;
   filter_node_t *node = bson_aligned_alloc0(128, size);
   node->kind = kind;
   return node;
}

static void
node_add(filter_node_t *parent, filter_node_t *child)
{
   parent->children =
      bson_realloc(parent->children, (parent->count + 1) * sizeof *parent->children);
   parent->children[parent->count++] = child;
}

static void
node_destroy(filter_node_t *node)
{
   if (!node) {
      return;
   }
   for (size_t i = 0; i < node->count; i++) {
      node_destroy(node->children[i]);
   }
   bson_free(node->children);
   for (size_t i = 0; i < node->regex_count; i++) {
      pcre2_match_data_free(node->regexes[i].match_data);
      pcre2_code_free(node->regexes[i].code);
   }
   bson_free(node->regexes);
   bson_free(node->bits);
   expr_destroy(node->expr);
   filter_jsonschema_destroy(node->schema);
   text_query_destroy(node->text);
   if (node->operand) {
      bson_destroy(node->operand);
   }
   path_destroy(&node->path);
   bson_free(node);
}

/* A leaf on path (path_len 0: the value itself) holding a copy of operand (nullable). */
static filter_node_t *
leaf_new(filter_op_t op, const char *path, size_t path_len, const bson_iter_t *operand,
         fe_error_t *error)
{
   filter_node_t *leaf = node_new(FILTER_LEAF);
   leaf->op = op;
   leaf->flags = PATH_LEAF_ELEMENTS | PATH_LEAF_WHOLE;
   if (path_len > 0 && !path_init(&leaf->path, path, path_len, error)) {
      node_destroy(leaf);
      return NULL;
   }
   if (operand) {
      leaf->operand = bson_new();
      bson_append_iter(leaf->operand, "", 0, operand);
      bson_iter_init(&leaf->value, leaf->operand);
      bson_iter_next(&leaf->value);
   }
   return leaf;
}

/* Compilation */

/* Top-level operators allowed beside fields. top is false inside $elemMatch, where the
 * document is an array element and $expr does not apply. */
static bool
compile_document(filter_node_t *parent, const bson_iter_t *doc, bool top, fe_error_t *error)
{
   bson_iter_t it = *doc;

   while (bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      if (key[0] != '$') {
         if (!compile_field(parent, key, bson_iter_key_len(&it), &it, error)) {
            return false;
         }
      } else if (strcmp(key, "$and") == 0) {
         if (!compile_logical(parent, FILTER_AND, &it, key, top, error)) {
            return false;
         }
      } else if (strcmp(key, "$or") == 0) {
         if (!compile_logical(parent, FILTER_OR, &it, key, top, error)) {
            return false;
         }
      } else if (strcmp(key, "$nor") == 0) {
         if (!compile_logical(parent, FILTER_NOR, &it, key, top, error)) {
            return false;
         }
      } else if (strcmp(key, "$comment") == 0) {
         continue;
      } else if (strcmp(key, "$expr") == 0) {
         if (!compile_expr(parent, &it, top, error)) {
            return false;
         }
      } else if (strcmp(key, "$jsonSchema") == 0) {
         filter_node_t *node = node_new(FILTER_JSON);
         node_add(parent, node);
         if (!(node->schema = filter_jsonschema_compile(&it, error))) {
            return false;
         }
      } else if (strcmp(key, "$text") == 0) {
         if (!filter_text_compile(parent, &it, top, error)) {
            return false;
         }
      } else {
         return error_set(error, FE_BadValue, "unknown top level operator: %s", key);
      }
   }
   return true;
}

/* $expr: an aggregation expression (query/expr.h) evaluated against the whole document. */
static bool
compile_expr(filter_node_t *parent, const bson_iter_t *value, bool top, fe_error_t *error)
{
   filter_node_t *node;

   if (!top) {
      return error_set(error, FE_BadValue, "$expr can only be applied to the top-level document");
   }
   node = node_new(FILTER_EXPR);
   node_add(parent, node);
   node->expr = expr_compile(value, error);
   return node->expr != NULL;
}

/* Hands the variables to every $expr; $expr is top-level only, but may sit inside $and, $or
 * and $nor. */
static void
bind_vars(filter_node_t *node, const fe_expr_var_t *vars)
{
   node->collator = expr_vars_collator(vars);
   if (node->kind == FILTER_EXPR) {
      node->vars = vars;
   }
   for (size_t i = 0; i < node->count; i++) {
      bind_vars(node->children[i], vars);
   }
}

/* Refuses, as MongoDB does when it parses a filter, an $expr using a variable that neither
 * the system nor vars define (17276). */
static bool
check_vars(const filter_node_t *node, const fe_expr_var_t *vars, fe_error_t *error)
{
   if (node->kind == FILTER_EXPR && !expr_check_vars(node->expr, vars, error)) {
      return false;
   }
   for (size_t i = 0; i < node->count; i++) {
      if (!check_vars(node->children[i], vars, error)) {
         return false;
      }
   }
   return true;
}

static bool
compile_logical(filter_node_t *parent, filter_kind_t kind, const bson_iter_t *value,
                const char *name, bool top, fe_error_t *error)
{
   bson_iter_t it;
   filter_node_t *node;
   bool any = false;

   if (bson_iter_type(value) != BSON_TYPE_ARRAY) {
      return error_set(error, FE_BadValue, "%s must be an array", name);
   }
   node = node_new(kind);
   node_add(parent, node);
   bson_iter_recurse(value, &it);
   while (bson_iter_next(&it)) {
      bson_iter_t child;
      filter_node_t *clause;
      if (bson_iter_type(&it) != BSON_TYPE_DOCUMENT) {
         return error_set(error, FE_BadValue, "$or/$and/$nor entries need to be full objects");
      }
      clause = node_new(FILTER_AND);
      node_add(node, clause);
      bson_iter_recurse(&it, &child);
      if (!compile_document(clause, &child, top, error)) {
         return false;
      }
      any = true;
   }
   if (!any) {
      return error_set(error, FE_BadValue, "$and/$or/$nor must be a nonempty array");
   }
   return true;
}

/* {$gt: 1, ...} as opposed to an embedded document to compare with; DBRefs ({$ref, $id}) are
 * documents. */
static bool
is_operator_document(const bson_iter_t *value)
{
   bson_iter_t it;
   if (bson_iter_type(value) != BSON_TYPE_DOCUMENT || !bson_iter_recurse(value, &it) ||
       !bson_iter_next(&it)) {
      return false;
   }
   const char *key = bson_iter_key(&it);
   return key[0] == '$' && strcmp(key, "$ref") != 0 && strcmp(key, "$id") != 0 &&
          strcmp(key, "$db") != 0;
}

static bool
compile_field(filter_node_t *parent, const char *path, size_t path_len, const bson_iter_t *value,
              fe_error_t *error)
{
   filter_node_t *leaf;

   if (is_operator_document(value)) {
      bson_iter_t ops;
      bson_iter_recurse(value, &ops);
      return compile_operators(parent, path, path_len, &ops, error);
   }
   if (bson_iter_type(value) == BSON_TYPE_REGEX) {
      const char *options;
      const char *pattern;
      leaf = leaf_new(OP_REGEX, path, path_len, value, error);
      if (!leaf) {
         return false;
      }
      node_add(parent, leaf);
      pattern = bson_iter_regex(&leaf->value, &options);
      leaf->regexes = bson_malloc0(sizeof *leaf->regexes);
      leaf->regex_count = 1;
      return filter_compile_regex(&leaf->regexes[0], pattern, options, error);
   }
   if (bson_iter_type(value) == BSON_TYPE_UNDEFINED) {
      return error_set(error, FE_BadValue, "cannot compare to undefined");
   }
   leaf = leaf_new(OP_EQ, path, path_len, value, error);
   if (!leaf) {
      return false;
   }
   node_add(parent, leaf);
   return true;
}

/* The operators of one field ({$gt: 1, $lt: 5}), each a leaf under parent. $regex and
 * $options are read together. */
static bool
compile_operators(filter_node_t *parent, const char *path, size_t path_len, const bson_iter_t *ops,
                  fe_error_t *error)
{
   bson_iter_t it = *ops;
   bson_iter_t regex_it, options_it;
   bool has_regex = false, has_options = false;

   while (bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      if (strcmp(key, "$regex") == 0) {
         regex_it = it;
         has_regex = true;
      } else if (strcmp(key, "$options") == 0) {
         options_it = it;
         has_options = true;
      }
   }
   if (has_options && !has_regex) {
      return error_set(error, FE_BadValue, "$options needs a $regex");
   }
   if (has_regex) {
      const char *pattern, *options = "";
      bson_type_t type = bson_iter_type(&regex_it);
      if (has_options) {
         if (bson_iter_type(&options_it) != BSON_TYPE_UTF8) {
            return error_set(error, FE_BadValue, "$options has to be a string");
         }
         options = bson_iter_utf8(&options_it, NULL);
      }
      if (type == BSON_TYPE_REGEX) {
         const char *own_options;
         pattern = bson_iter_regex(&regex_it, &own_options);
         if (has_options && own_options[0] != '\0') {
            return error_set(error, FE_Location51075, "options set in both $regex and $options");
         }
         if (!has_options) {
            options = own_options;
         }
      } else if (type == BSON_TYPE_UTF8) {
         uint32_t len;
         pattern = bson_iter_utf8(&regex_it, &len);
         if (strlen(pattern) != len) {
            return error_set(error, FE_BadValue,
                             "Regular expression cannot contain an embedded null byte");
         }
      } else {
         return error_set(error, FE_BadValue, "$regex has to be a string");
      }
      if (!check_regex_options(options, error)) {
         return false;
      }
      /* The operand is the regex as a BSON regex, so a stored regex equal to it matches too. */
      bson_t tmp = BSON_INITIALIZER;
      bson_iter_t tmp_it;
      bson_append_regex(&tmp, "", 0, pattern, options);
      bson_iter_init(&tmp_it, &tmp);
      bson_iter_next(&tmp_it);
      filter_node_t *leaf = leaf_new(OP_REGEX, path, path_len, &tmp_it, error);
      bson_destroy(&tmp);
      if (!leaf) {
         return false;
      }
      node_add(parent, leaf);
      const char *stored_options;
      const char *stored = bson_iter_regex(&leaf->value, &stored_options);
      leaf->regexes = bson_malloc0(sizeof *leaf->regexes);
      leaf->regex_count = 1;
      if (!filter_compile_regex(&leaf->regexes[0], stored, stored_options, error)) {
         return false;
      }
   }
   it = *ops;
   while (bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      if (strcmp(key, "$regex") == 0 || strcmp(key, "$options") == 0) {
         continue;
      }
      if (!compile_operator(parent, path, path_len, key, &it, error)) {
         return false;
      }
   }
   return true;
}

static filter_op_t
comparison_op(const char *name)
{
   if (strcmp(name, "$lt") == 0) {
      return OP_LT;
   }
   if (strcmp(name, "$lte") == 0) {
      return OP_LTE;
   }
   if (strcmp(name, "$gt") == 0) {
      return OP_GT;
   }
   if (strcmp(name, "$gte") == 0) {
      return OP_GTE;
   }
   return OP_EQ;
}

/* Wraps child in a new NOT under parent, returning the NOT's slot for the child. */
static filter_node_t *
not_new(filter_node_t *parent)
{
   filter_node_t *node = node_new(FILTER_NOT);
   node_add(parent, node);
   return node;
}

static bool
compile_in(filter_node_t *parent, const char *path, size_t path_len, const char *name,
           const bson_iter_t *value, fe_error_t *error)
{
   bson_iter_t it;
   filter_node_t *leaf;

   if (bson_iter_type(value) != BSON_TYPE_ARRAY) {
      return error_set(error, FE_BadValue, "%s needs an array", name);
   }
   leaf = leaf_new(OP_IN, path, path_len, value, error);
   if (!leaf) {
      return false;
   }
   node_add(parent, leaf);
   bson_iter_recurse(&leaf->value, &it);
   while (bson_iter_next(&it)) {
      bson_type_t type = bson_iter_type(&it);
      if (is_operator_document(&it)) {
         return error_set(error, FE_BadValue, "cannot nest $ under %s", name);
      }
      if (type == BSON_TYPE_NULL) {
         leaf->in_has_null = true;
      } else if (type == BSON_TYPE_UNDEFINED) {
         return error_set(error, FE_BadValue, "InMatchExpression equality cannot be undefined");
      } else if (type == BSON_TYPE_REGEX) {
         const char *options;
         const char *pattern = bson_iter_regex(&it, &options);
         leaf->regexes =
            bson_realloc(leaf->regexes, (leaf->regex_count + 1) * sizeof *leaf->regexes);
         memset(&leaf->regexes[leaf->regex_count], 0, sizeof *leaf->regexes);
         leaf->regex_count++;
         if (!filter_compile_regex(&leaf->regexes[leaf->regex_count - 1], pattern, options,
                                   error)) {
            return false;
         }
      }
   }
   return true;
}

static bool
compile_all(filter_node_t *parent, const char *path, size_t path_len, const bson_iter_t *value,
            fe_error_t *error)
{
   bson_iter_t it;
   bool elem_match = false, first = true;

   if (bson_iter_type(value) != BSON_TYPE_ARRAY) {
      return error_set(error, FE_BadValue, "$all needs an array");
   }
   bson_iter_recurse(value, &it);
   if (!bson_iter_next(&it)) {
      node_add(parent, node_new(FILTER_FALSE));
      return true;
   }
   do {
      bool is_elem_match = false;
      if (bson_iter_type(&it) == BSON_TYPE_DOCUMENT) {
         bson_iter_t inner;
         bson_iter_recurse(&it, &inner);
         is_elem_match = bson_iter_next(&inner) && strcmp(bson_iter_key(&inner), "$elemMatch") == 0;
      }
      if (first) {
         elem_match = is_elem_match;
         first = false;
      } else if (elem_match != is_elem_match) {
         return error_set(error, FE_BadValue, "$all/$elemMatch has to be consistent");
      }
      if (is_elem_match) {
         bson_iter_t inner;
         bson_iter_recurse(&it, &inner);
         if (!compile_operators(parent, path, path_len, &inner, error)) {
            return false;
         }
      } else if (is_operator_document(&it)) {
         return error_set(error, FE_BadValue, "no $ expressions in $all");
      } else if (!compile_field(parent, path, path_len, &it, error)) {
         return false;
      }
   } while (bson_iter_next(&it));
   return true;
}

static bool
compile_elem_match(filter_node_t *parent, const char *path, size_t path_len,
                   const bson_iter_t *value, fe_error_t *error)
{
   filter_node_t *leaf, *inner;
   bson_iter_t it;
   bool value_form = false;

   if (bson_iter_type(value) != BSON_TYPE_DOCUMENT) {
      return error_set(error, FE_BadValue, "$elemMatch needs an Object");
   }
   bson_iter_recurse(value, &it);
   if (bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      value_form = key[0] == '$' && strcmp(key, "$and") != 0 && strcmp(key, "$or") != 0 &&
                   strcmp(key, "$nor") != 0 && strcmp(key, "$expr") != 0 &&
                   strcmp(key, "$comment") != 0;
   }
   leaf = leaf_new(value_form ? OP_ELEM_MATCH_VALUE : OP_ELEM_MATCH_OBJECT, path, path_len, NULL,
                   error);
   if (!leaf) {
      return false;
   }
   node_add(parent, leaf);
   leaf->flags = PATH_LEAF_WHOLE;
   inner = node_new(FILTER_AND);
   node_add(leaf, inner);
   bson_iter_recurse(value, &it);
   if (value_form) {
      return compile_operators(inner, "", 0, &it, error);
   }
   return compile_document(inner, &it, false, error);
}

static bool
compile_not(filter_node_t *parent, const char *path, size_t path_len, const bson_iter_t *value,
            fe_error_t *error)
{
   filter_node_t *inner;
   bson_iter_t it;

   if (bson_iter_type(value) == BSON_TYPE_REGEX) {
      return compile_field(not_new(parent), path, path_len, value, error);
   }
   if (bson_iter_type(value) != BSON_TYPE_DOCUMENT) {
      return error_set(error, FE_BadValue, "$not needs a regex or a document");
   }
   bson_iter_recurse(value, &it);
   bson_iter_t probe = it;
   if (!bson_iter_next(&probe)) {
      return error_set(error, FE_BadValue, "$not cannot be empty");
   }
   inner = node_new(FILTER_AND);
   node_add(not_new(parent), inner);
   return compile_operators(inner, path, path_len, &it, error);
}

static bool
number_operand(const bson_iter_t *value, const char *what, int64_t *out, fe_error_t *error)
{
   if (!numeric_is_number(bson_iter_type(value))) {
      return error_set(error, FE_BadValue, "%s not a number", what);
   }
   if (!numeric_to_int64_trunc(value, out)) {
      return error_set(error, FE_BadValue, "%s value is invalid", what);
   }
   return true;
}

static bool
compile_mod(filter_node_t *leaf, const bson_iter_t *value, fe_error_t *error)
{
   bson_iter_t it;
   uint32_t n = 0;

   if (bson_iter_type(value) != BSON_TYPE_ARRAY) {
      return error_set(error, FE_BadValue, "malformed mod, needs to be an array");
   }
   bson_iter_recurse(value, &it);
   while (bson_iter_next(&it)) {
      n++;
      if (n == 1 && !number_operand(&it, "malformed mod, divisor", &leaf->divisor, error)) {
         return false;
      }
      if (n == 2 && !number_operand(&it, "malformed mod, remainder", &leaf->remainder, error)) {
         return false;
      }
   }
   if (n < 2) {
      return error_set(error, FE_BadValue, "malformed mod, not enough elements");
   }
   if (n > 2) {
      return error_set(error, FE_BadValue, "malformed mod, too many elements");
   }
   if (leaf->divisor == 0) {
      return error_set(error, FE_BadValue, "divisor cannot be 0");
   }
   return true;
}

static bool
compile_size(filter_node_t *leaf, const bson_iter_t *value, fe_error_t *error)
{
   if (!numeric_is_number(bson_iter_type(value))) {
      return error_set(error, FE_BadValue, "$size needs a number");
   }
   if (numeric_compare_int64(value, 0) < 0) {
      return error_set(error, FE_BadValue, "$size may not be negative");
   }
   if (!numeric_to_int64_exact(value, &leaf->size)) {
      return error_set(error, FE_BadValue, "$size must be a whole number");
   }
   leaf->flags = PATH_LEAF_WHOLE;
   return true;
}

static bool
compile_operator(filter_node_t *parent, const char *path, size_t path_len, const char *name,
                 const bson_iter_t *value, fe_error_t *error)
{
   bson_type_t type = bson_iter_type(value);
   filter_node_t *leaf;

   if (strcmp(name, "$eq") == 0 || strcmp(name, "$ne") == 0 || strcmp(name, "$lt") == 0 ||
       strcmp(name, "$lte") == 0 || strcmp(name, "$gt") == 0 || strcmp(name, "$gte") == 0) {
      bool ne = strcmp(name, "$ne") == 0;
      if (type == BSON_TYPE_UNDEFINED) {
         return error_set(error, FE_BadValue, "cannot compare to undefined");
      }
      if (ne && type == BSON_TYPE_REGEX) {
         return error_set(error, FE_BadValue, "Can't have regex as arg to $ne");
      }
      leaf = leaf_new(comparison_op(name), path, path_len, value, error);
      if (!leaf) {
         return false;
      }
      node_add(ne ? not_new(parent) : parent, leaf);
      return true;
   }
   if (strcmp(name, "$in") == 0) {
      return compile_in(parent, path, path_len, name, value, error);
   }
   if (strcmp(name, "$nin") == 0) {
      return compile_in(not_new(parent), path, path_len, name, value, error);
   }
   if (strcmp(name, "$exists") == 0) {
      leaf = leaf_new(OP_EXISTS, path, path_len, NULL, error);
      if (!leaf) {
         return false;
      }
      node_add(bson_iter_as_bool(value) ? parent : not_new(parent), leaf);
      return true;
   }
   if (strcmp(name, "$not") == 0) {
      return compile_not(parent, path, path_len, value, error);
   }
   if (strcmp(name, "$all") == 0) {
      return compile_all(parent, path, path_len, value, error);
   }
   if (strcmp(name, "$elemMatch") == 0) {
      return compile_elem_match(parent, path, path_len, value, error);
   }

   /* The remaining operators are leaves that parse their own operand. */
   filter_op_t op;
   if (strcmp(name, "$type") == 0) {
      op = OP_TYPE;
   } else if (strcmp(name, "$mod") == 0) {
      op = OP_MOD;
   } else if (strcmp(name, "$size") == 0) {
      op = OP_SIZE;
   } else if (strcmp(name, "$bitsAllSet") == 0) {
      op = OP_BITS_ALL_SET;
   } else if (strcmp(name, "$bitsAnySet") == 0) {
      op = OP_BITS_ANY_SET;
   } else if (strcmp(name, "$bitsAllClear") == 0) {
      op = OP_BITS_ALL_CLEAR;
   } else if (strcmp(name, "$bitsAnyClear") == 0) {
      op = OP_BITS_ANY_CLEAR;
   } else {
      return error_set(error, FE_BadValue, "unknown operator: %s", name);
   }
   leaf = leaf_new(op, path, path_len, NULL, error);
   if (!leaf) {
      return false;
   }
   node_add(parent, leaf);
   switch (op) {
   case OP_TYPE:
      return compile_type(leaf, value, error);
   case OP_MOD:
      return compile_mod(leaf, value, error);
   case OP_SIZE:
      return compile_size(leaf, value, error);
   default:
      return compile_bits(leaf, name, value, error);
   }
}

/* libbson's bson_append_regex() silently drops flags it does not know, so options are
 * checked before they get there. */
static bool
check_regex_options(const char *options, fe_error_t *error)
{
   for (const char *o = options; *o; o++) {
      if (!strchr("imsxu", *o)) {
         return error_set(error, FE_Location51108, "invalid flag in regex options: %c", *o);
      }
   }
   return true;
}

bool
filter_compile_regex(filter_regex_t *regex, const char *pattern, const char *options,
                     fe_error_t *error)
{
   uint32_t flags = PCRE2_UTF;
   int code;
   PCRE2_SIZE offset;

   regex->pattern = pattern;
   regex->options = options;
   for (const char *o = options; *o; o++) {
      switch (*o) {
      case 'i':
         flags |= PCRE2_CASELESS;
         break;
      case 'm':
         flags |= PCRE2_MULTILINE;
         break;
      case 's':
         flags |= PCRE2_DOTALL;
         break;
      case 'x':
         flags |= PCRE2_EXTENDED;
         break;
      case 'u':
         break;
      default:
         return error_set(error, FE_Location51108, "invalid flag in regex options: %c", *o);
      }
   }
   regex->code =
      pcre2_compile((PCRE2_SPTR) pattern, PCRE2_ZERO_TERMINATED, flags, &code, &offset, NULL);
   if (!regex->code) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(code, message, sizeof message);
      return error_set(error, FE_Location51091, "Regular expression is invalid: %s",
                       (const char *) message);
   }
   /* JIT is an optimization only: without it matching still works. */
   (void) pcre2_jit_compile(regex->code, PCRE2_JIT_COMPLETE);
   regex->match_data = pcre2_match_data_create_from_pattern(regex->code, NULL);
   return true;
}

typedef struct type_alias {
   const char *name;
   int32_t code;
} type_alias_t;

static const type_alias_t type_aliases[] = {
   {"double", 1},      {"string", 2},     {"object", 3},
   {"array", 4},       {"binData", 5},    {"undefined", 6},
   {"objectId", 7},    {"bool", 8},       {"date", 9},
   {"null", 10},       {"regex", 11},     {"dbPointer", 12},
   {"javascript", 13}, {"symbol", 14},    {"javascriptWithScope", 15},
   {"int", 16},        {"timestamp", 17}, {"long", 18},
   {"decimal", 19},    {"minKey", -1},    {"maxKey", 127},
};

static uint32_t
type_code_mask(int32_t code)
{
   if (code == -1) {
      return FILTER_TYPE_MINKEY;
   }
   if (code == 127) {
      return FILTER_TYPE_MAXKEY;
   }
   if (code >= 1 && code <= 19) {
      return 1u << code;
   }
   return 0;
}

static bool
type_one(filter_node_t *leaf, const bson_iter_t *value, fe_error_t *error)
{
   if (bson_iter_type(value) == BSON_TYPE_UTF8) {
      const char *name = bson_iter_utf8(value, NULL);
      if (strcmp(name, "number") == 0) {
         leaf->type_mask |= (1u << BSON_TYPE_DOUBLE) | (1u << BSON_TYPE_INT32) |
                            (1u << BSON_TYPE_INT64) | (1u << BSON_TYPE_DECIMAL128);
         return true;
      }
      for (size_t i = 0; i < sizeof type_aliases / sizeof type_aliases[0]; i++) {
         if (strcmp(name, type_aliases[i].name) == 0) {
            leaf->type_mask |= type_code_mask(type_aliases[i].code);
            return true;
         }
      }
      return error_set(error, FE_BadValue, "Unknown type name alias: %s", name);
   }
   if (numeric_is_number(bson_iter_type(value))) {
      int64_t code;
      uint32_t mask;
      if (!numeric_to_int64_exact(value, &code)) {
         return error_set(error, FE_BadValue, "Invalid numerical type code: %g",
                          numeric_to_double(value));
      }
      mask = code >= -1 && code <= 127 ? type_code_mask((int32_t) code) : 0;
      if (mask == 0) {
         return error_set(error, FE_BadValue, "Invalid numerical type code: %lld",
                          (long long) code);
      }
      leaf->type_mask |= mask;
      return true;
   }
   return error_set(error, FE_TypeMismatch, "type must be represented as a number or a string");
}

static bool
compile_type(filter_node_t *leaf, const bson_iter_t *value, fe_error_t *error)
{
   if (bson_iter_type(value) == BSON_TYPE_ARRAY) {
      bson_iter_t it;
      bool any = false;
      bson_iter_recurse(value, &it);
      while (bson_iter_next(&it)) {
         if (!type_one(leaf, &it, error)) {
            return false;
         }
         any = true;
      }
      if (!any) {
         return error_set(error, FE_FailedToParse, "$type must match at least one type");
      }
      return true;
   }
   return type_one(leaf, value, error);
}

static void
bits_add(filter_node_t *leaf, uint32_t position)
{
   leaf->bits = bson_realloc(leaf->bits, (leaf->bit_count + 1) * sizeof *leaf->bits);
   leaf->bits[leaf->bit_count++] = position;
}

static bool
compile_bits(filter_node_t *leaf, const char *name, const bson_iter_t *value, fe_error_t *error)
{
   bson_type_t type = bson_iter_type(value);

   if (numeric_is_number(type)) {
      int64_t mask;
      if (!numeric_to_int64_exact(value, &mask)) {
         return error_set(error, FE_BadValue, "%s cannot represent the value as a 64-bit integer",
                          name);
      }
      if (mask < 0) {
         return error_set(error, FE_BadValue, "%s cannot take a negative number: %lld", name,
                          (long long) mask);
      }
      for (uint32_t p = 0; p < 63; p++) {
         if ((mask >> p) & 1) {
            bits_add(leaf, p);
         }
      }
      return true;
   }
   if (type == BSON_TYPE_ARRAY) {
      bson_iter_t it;
      bson_iter_recurse(value, &it);
      while (bson_iter_next(&it)) {
         int64_t p;
         if (!numeric_is_number(bson_iter_type(&it)) || !numeric_to_int64_exact(&it, &p)) {
            return error_set(error, FE_BadValue, "bit positions must be an integer but got: %s",
                             bson_iter_key(&it));
         }
         if (p < 0) {
            return error_set(error, FE_BadValue, "bit positions must be >= 0 but got: %lld",
                             (long long) p);
         }
         if (p > INT32_MAX) {
            return error_set(error, FE_BadValue, "bit positions cannot exceed %d", INT32_MAX);
         }
         bits_add(leaf, (uint32_t) p);
      }
      return true;
   }
   if (type == BSON_TYPE_BINARY) {
      bson_subtype_t subtype;
      uint32_t len;
      const uint8_t *data;
      bson_iter_binary(value, &subtype, &len, &data);
      for (uint32_t p = 0; p < len * 8; p++) {
         if ((data[p / 8] >> (p % 8)) & 1) {
            bits_add(leaf, p);
         }
      }
      return true;
   }
   return error_set(error, FE_BadValue,
                    "%s takes an Array, a number, or a BinData but received: %s", name,
                    bson_iter_key(value));
}
