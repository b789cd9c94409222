/*
 * filter_match.c: matching a compiled filter tree against documents (MongoDB query semantics:
 * type bracketing, null matches missing, implicit array traversal, positional index).
 * Matching allocates nothing.
 */
#include <math.h>
#include <string.h>

#include "bson/compare.h"
#include "bson/numeric.h"
#include "query/filter_int.h"

typedef struct leaf_ctx {
   const filter_node_t *node;
   int32_t *positional;
} leaf_ctx_t;

static bool match_value_node(const filter_node_t *node, const bson_iter_t *value);
static bool leaf_test(const filter_node_t *node, const bson_iter_t *value, int32_t array_index,
                      int32_t *positional);
static bool leaf_hit(const fe_path_hit_t *hit, void *ctx);
static bool compare_op(filter_op_t op, const bson_iter_t *value, const bson_iter_t *operand,
                       const fe_collator_t *collator);
static bool is_nan(const bson_iter_t *iter);
static bool bits_test(const filter_node_t *node, const bson_iter_t *value);
static bool elem_match(const filter_node_t *node, const bson_iter_t *array, int32_t array_index,
                       int32_t *positional);

bool
filter_match(const fe_filter_t *filter, const bson_t *doc, fe_match_info_t *info)
{
   bson_iter_t it;
   int32_t positional = -1;
   bool ok;

   if (info) {
      info->positional_index = -1;
   }
   if (!bson_iter_init(&it, doc)) {
      return false;
   }
   ok = filter_match_node(filter->root, &it, doc, &positional);
   if (ok && info) {
      info->positional_index = positional;
   }
   return ok;
}

bool
filter_match_node(const filter_node_t *node, const bson_iter_t *doc, const bson_t *root,
                  int32_t *positional)
{
   switch (node->kind) {
   case FILTER_AND:
      for (size_t i = 0; i < node->count; i++) {
         if (!filter_match_node(node->children[i], doc, root, positional)) {
            return false;
         }
      }
      return true;
   case FILTER_OR:
      /* As in MongoDB, $or, $nor and $not do not report a positional index. */
      for (size_t i = 0; i < node->count; i++) {
         if (filter_match_node(node->children[i], doc, root, NULL)) {
            return true;
         }
      }
      return false;
   case FILTER_NOR:
      for (size_t i = 0; i < node->count; i++) {
         if (filter_match_node(node->children[i], doc, root, NULL)) {
            return false;
         }
      }
      return true;
   case FILTER_NOT:
      return !filter_match_node(node->children[0], doc, root, NULL);
   case FILTER_FALSE:
      return false;
   case FILTER_EXPR:
      return root && expr_match_vars(node->expr, root, node->vars);
   case FILTER_JSON:
      return filter_jsonschema_match(node->schema, doc);
   case FILTER_TEXT:
      return root && text_query_match(node->text, root, NULL);
   case FILTER_LEAF: {
      leaf_ctx_t ctx = {node, positional};
      return path_visit(&node->path, 0, doc, node->flags, leaf_hit, &ctx);
   }
   }
   return false;
}

bool
filter_match_regex(const filter_regex_t *regex, const bson_iter_t *value)
{
   const char *s;
   uint32_t len;

   switch (bson_iter_type(value)) {
   case BSON_TYPE_UTF8:
      s = bson_iter_utf8(value, &len);
      break;
   case BSON_TYPE_SYMBOL:
      s = bson_iter_symbol(value, &len);
      break;
   case BSON_TYPE_REGEX: {
      const char *options;
      const char *pattern = bson_iter_regex(value, &options);
      return strcmp(pattern, regex->pattern) == 0 && strcmp(options, regex->options) == 0;
   }
   default:
      return false;
   }
   return pcre2_match(regex->code, (PCRE2_SPTR) s, len, 0, 0, regex->match_data, NULL) >= 0;
}

/* A node inside $elemMatch on values: its leaves have no path and test the element itself,
 * without traversing it when it is an array. */
static bool
match_value_node(const filter_node_t *node, const bson_iter_t *value)
{
   switch (node->kind) {
   case FILTER_AND:
      for (size_t i = 0; i < node->count; i++) {
         if (!match_value_node(node->children[i], value)) {
            return false;
         }
      }
      return true;
   case FILTER_OR:
      for (size_t i = 0; i < node->count; i++) {
         if (match_value_node(node->children[i], value)) {
            return true;
         }
      }
      return false;
   case FILTER_NOR:
      for (size_t i = 0; i < node->count; i++) {
         if (match_value_node(node->children[i], value)) {
            return false;
         }
      }
      return true;
   case FILTER_NOT:
      return !match_value_node(node->children[0], value);
   case FILTER_FALSE:
   case FILTER_EXPR:
   case FILTER_JSON:
   case FILTER_TEXT:
      return false;
   case FILTER_LEAF:
      return leaf_test(node, value, -1, NULL);
   }
   return false;
}

static bool
leaf_hit(const fe_path_hit_t *hit, void *ctx)
{
   const leaf_ctx_t *leaf = ctx;
   return leaf_test(leaf->node, hit->value, hit->array_index, leaf->positional);
}

/* Tests one value (NULL: missing). On a match, records array_index as the positional index
 * when the match went through an array. */
static bool
leaf_test(const filter_node_t *node, const bson_iter_t *value, int32_t array_index,
          int32_t *positional)
{
   bool ok = false;

   switch (node->op) {
   case OP_EQ:
   case OP_LT:
   case OP_LTE:
   case OP_GT:
   case OP_GTE:
      ok = compare_op(node->op, value, &node->value, node->collator);
      break;
   case OP_IN:
      if (!value) {
         ok = node->in_has_null;
         break;
      }
      for (size_t i = 0; i < node->regex_count && !ok; i++) {
         ok = filter_match_regex(&node->regexes[i], value);
      }
      if (!ok) {
         bson_iter_t it;
         if (bson_iter_recurse(&node->value, &it)) {
            while (!ok && bson_iter_next(&it)) {
               ok = bson_iter_type(&it) != BSON_TYPE_REGEX &&
                    compare_op(OP_EQ, value, &it, node->collator);
            }
         }
      }
      break;
   case OP_EXISTS:
      ok = value != NULL;
      break;
   case OP_TYPE:
      if (value) {
         bson_type_t t = bson_iter_type(value);
         uint32_t bit = t == BSON_TYPE_MINKEY   ? FILTER_TYPE_MINKEY
                        : t == BSON_TYPE_MAXKEY ? FILTER_TYPE_MAXKEY
                        : (uint32_t) t < 30     ? 1u << t
                                                : 0;
         ok = (node->type_mask & bit) != 0;
      }
      break;
   case OP_REGEX:
      ok = value && filter_match_regex(&node->regexes[0], value);
      break;
   case OP_MOD:
      if (value && numeric_is_number(bson_iter_type(value))) {
         int64_t v;
         if (numeric_to_int64_trunc(value, &v)) {
            /* -1 divides everything; INT64_MIN % -1 would trap. */
            ok = node->divisor == -1 ? node->remainder == 0 : v % node->divisor == node->remainder;
         }
      }
      break;
   case OP_SIZE:
      if (value && bson_iter_type(value) == BSON_TYPE_ARRAY) {
         bson_iter_t it;
         int64_t n = 0;
         if (bson_iter_recurse(value, &it)) {
            while (bson_iter_next(&it)) {
               n++;
            }
         }
         ok = n == node->size;
      }
      break;
   case OP_ELEM_MATCH_OBJECT:
   case OP_ELEM_MATCH_VALUE:
      /* Records its own positional index: the matching element's. */
      return value && bson_iter_type(value) == BSON_TYPE_ARRAY &&
             elem_match(node, value, array_index, positional);
   case OP_BITS_ALL_SET:
   case OP_BITS_ANY_SET:
   case OP_BITS_ALL_CLEAR:
   case OP_BITS_ANY_CLEAR:
      ok = value && bits_test(node, value);
      break;
   }
   if (ok && positional && array_index >= 0) {
      *positional = array_index;
   }
   return ok;
}

static bool
elem_match(const filter_node_t *node, const bson_iter_t *array, int32_t array_index,
           int32_t *positional)
{
   bson_iter_t it;
   if (!bson_iter_recurse(array, &it)) {
      return false;
   }
   for (int32_t k = 0; bson_iter_next(&it); k++) {
      bool ok;
      if (node->op == OP_ELEM_MATCH_VALUE) {
         ok = match_value_node(node->children[0], &it);
      } else {
         bson_type_t t = bson_iter_type(&it);
         bson_iter_t child;
         ok = (t == BSON_TYPE_DOCUMENT || t == BSON_TYPE_ARRAY) && bson_iter_recurse(&it, &child) &&
              filter_match_node(node->children[0], &child, NULL, NULL);
      }
      if (ok) {
         if (positional) {
            *positional = array_index >= 0 ? array_index : k;
         }
         return true;
      }
   }
   return false;
}

/* The comparison operators with MongoDB's type bracketing: values of different brackets never
 * compare, except null against missing/undefined and MinKey/MaxKey operands. */
static bool
compare_op(filter_op_t op, const bson_iter_t *value, const bson_iter_t *operand,
           const fe_collator_t *collator)
{
   bson_type_t ot = bson_iter_type(operand);
   int vb = value ? compare_type_bracket(bson_iter_type(value)) : 0; /* missing: as undefined */
   int ob = compare_type_bracket(ot);

   if (vb != ob) {
      if (vb + ob == 5) { /* null (5) against missing or undefined (0) */
         return op == OP_EQ || op == OP_LTE || op == OP_GTE;
      }
      if (ot == BSON_TYPE_MAXKEY) {
         return op == OP_LT || op == OP_LTE;
      }
      if (ot == BSON_TYPE_MINKEY) {
         return op == OP_GT || op == OP_GTE;
      }
      return false;
   }
   if (!value) {
      return op == OP_EQ || op == OP_LTE || op == OP_GTE;
   }
   if (vb == compare_type_bracket(BSON_TYPE_DOUBLE) && (is_nan(value) || is_nan(operand))) {
      /* NaN equals NaN and is neither below nor above anything. */
      bool both = is_nan(value) && is_nan(operand);
      return both && (op == OP_EQ || op == OP_LTE || op == OP_GTE);
   }
   int c = compare_values_collated(value, operand, collator);
   switch (op) {
   case OP_EQ:
      return c == 0;
   case OP_LT:
      return c < 0;
   case OP_LTE:
      return c <= 0;
   case OP_GT:
      return c > 0;
   case OP_GTE:
      return c >= 0;
   default:
      return false;
   }
}

static bool
is_nan(const bson_iter_t *iter)
{
   bson_type_t t = bson_iter_type(iter);
   if (t == BSON_TYPE_DOUBLE) {
      return isnan(bson_iter_double(iter));
   }
   if (t == BSON_TYPE_DECIMAL128) {
      numeric_canon_t canon;
      numeric_canonicalize(iter, &canon);
      return canon.cls == NUMERIC_NAN;
   }
   return false;
}

static bool
bits_test(const filter_node_t *node, const bson_iter_t *value)
{
   bson_type_t t = bson_iter_type(value);
   int64_t v = 0;
   const uint8_t *data = NULL;
   uint32_t len = 0;
   bool all = node->op == OP_BITS_ALL_SET || node->op == OP_BITS_ALL_CLEAR;
   bool want_set = node->op == OP_BITS_ALL_SET || node->op == OP_BITS_ANY_SET;

   if (t == BSON_TYPE_BINARY) {
      bson_subtype_t subtype;
      bson_iter_binary(value, &subtype, &len, &data);
   } else if (!numeric_is_number(t) || !numeric_to_int64_exact(value, &v)) {
      return false;
   }
   for (size_t i = 0; i < node->bit_count; i++) {
      uint32_t p = node->bits[i];
      bool set;
      if (data || t == BSON_TYPE_BINARY) {
         set = p / 8 < len && (data[p / 8] >> (p % 8)) & 1;
      } else {
         /* Beyond bit 63 a number reads as its sign extension. */
         set = p < 64 ? ((uint64_t) v >> p) & 1 : v < 0;
      }
      if (set == want_set) {
         if (!all) {
            return true;
         }
      } else if (all) {
         return false;
      }
   }
   return all;
}
