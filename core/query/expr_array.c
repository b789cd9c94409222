/*
 * expr_array.c: array, set and object expressions registered in expr.c's table: $reduce
 * $reverseArray $range $zip $indexOfArray $arrayToObject $objectToArray $sortArray $slice,
 * the array forms of $firstN $lastN $maxN $minN, $allElementsTrue $anyElementTrue, and the set
 * operators $setUnion $setIntersection $setDifference $setEquals $setIsSubset.
 *
 * Elements are compared as aggregation compares values (expr_compare_values(): 1, 1.0 and
 * NumberLong(1) are equal). Like MongoDB, $setUnion and $setIntersection return their result
 * in BSON order, $setDifference in the order of its first operand.
 */
#include "query/expr_int.h"
#include "query/expr_value_int.h"

#include <stdlib.h>
#include <string.h>

#include "query/sort.h"
#include "query/update_int.h"

/* $range refuses results above MongoDB's 100 MiB memory limit (counted as BSON bytes). */
#define RANGE_MAX_BYTES (100 * 1024 * 1024)

/* One element of an array value: a copy of an iterator placed on it. */
typedef struct elem {
   bson_iter_t it;
   size_t index;
} elem_t;

/* Arrays. */
static size_t collect(const bson_value_t *arr, elem_t **elems);
static void append_elem(bson_t *arr, uint32_t *n, elem_t *el);
static void append_value(bson_t *arr, uint32_t *n, const bson_value_t *v);
static int compare_elems(const void *a, const void *b, void *collator);
static int compare_elems_desc(const void *a, const void *b, void *collator);
static size_t dedup_sorted(elem_t *elems, size_t n, const fe_collator_t *collator);
static bool contains(elem_t *sorted, size_t n, const bson_value_t *v,
                     const fe_collator_t *collator);

/*
 * Parsing
 */

/* $reduce {input, initialValue, in}: args[0..2] in that order. */
fe_expr_t *
expr_array_parse_reduce(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"input", "initialValue", "in"};
   fe_expr_t *e = NULL;
   bson_iter_t sub;

   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      error_set(error, 40075, "$reduce requires an object as an argument, found: %s",
                update_util_type_name(bson_iter_type(operand)));
      return NULL;
   }
   e = expr_node_new(KIND_OP);
   e->op = op;
   e->args = bson_malloc0(sizeof *e->args * 3);
   e->n_args = 3;
   bson_iter_recurse(operand, &sub);
   while (bson_iter_next(&sub)) {
      size_t i;
      for (i = 0; i < 3 && strcmp(names[i], bson_iter_key(&sub)) != 0; i++) {
      }
      if (i == 3) {
         error_set(error, 40076, "$reduce found an unknown argument: %s", bson_iter_key(&sub));
         goto fail;
      }
      expr_destroy(e->args[i]);
      if (!(e->args[i] = expr_compile(&sub, error))) {
         goto fail;
      }
   }
   for (size_t i = 0; i < 3; i++) {
      if (!e->args[i]) {
         error_set(error, 40077 + (int32_t) i, "$reduce requires '%s' to be specified", names[i]);
         goto fail;
      }
   }
   return e;

fail:
   expr_destroy(e);
   return NULL;
}

/* $sortArray {input, sortBy}: args[0] input; args[1] the constant sortBy (1, -1 or a sort
 * document, checked here). */
fe_expr_t *
expr_array_parse_sort_array(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   fe_expr_t *e = NULL;
   bson_iter_t sub;
   bool has_sort = false;

   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      error_set(error, 2942500, "$sortArray requires an object as an argument, found: %s",
                update_util_type_name(bson_iter_type(operand)));
      return NULL;
   }
   e = expr_node_new(KIND_OP);
   e->op = op;
   e->args = bson_malloc0(sizeof *e->args * 2);
   e->n_args = 2;
   bson_iter_recurse(operand, &sub);
   while (bson_iter_next(&sub)) {
      const char *key = bson_iter_key(&sub);
      if (strcmp(key, "input") == 0) {
         expr_destroy(e->args[0]);
         if (!(e->args[0] = expr_compile(&sub, error))) {
            goto fail;
         }
      } else if (strcmp(key, "sortBy") == 0) {
         int64_t dir = 0;
         bson_value_t v;
         bson_value_copy(bson_iter_value(&sub), &v);
         if (expr_val_integral(&v, &dir) && (dir == 1 || dir == -1)) {
            has_sort = true;
         } else if (v.value_type == BSON_TYPE_DOCUMENT) {
            bson_t spec;
            fe_sort_t *sort;
            bson_init_static(&spec, v.value.v_doc.data, v.value.v_doc.data_len);
            if (bson_empty(&spec)) {
               error_set(error, 2942505, "$sortArray sort pattern must not be empty");
            } else if ((sort = sort_compile(&spec, error))) {
               sort_destroy(sort);
               has_sort = true;
            }
         } else {
            error_set(error, 2942505,
                      "$sortArray requires sortBy to be 1, -1 or a sort document, found: %s",
                      expr_val_type_name(&v));
         }
         if (!has_sort) {
            bson_value_destroy(&v);
            goto fail;
         }
         expr_destroy(e->args[1]);
         e->args[1] = expr_node_new(KIND_CONST);
         e->args[1]->value = v;
      } else {
         error_set(error, 2942501, "$sortArray found an unknown argument: %s", key);
         goto fail;
      }
   }
   if (!e->args[0]) {
      error_set(error, 2942502, "$sortArray requires 'input' to be specified");
      goto fail;
   }
   if (!e->args[1]) {
      error_set(error, 2942503, "$sortArray requires 'sortBy' to be specified");
      goto fail;
   }
   return e;

fail:
   expr_destroy(e);
   return NULL;
}

/* $firstN $lastN $maxN $minN {n, input}: args[0] n, args[1] input. */
fe_expr_t *
expr_array_parse_n(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   fe_expr_t *e = NULL;
   bson_iter_t sub;

   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      error_set(error, 5787900, "specification for %s must be an object, found: %s", op->name,
                update_util_type_name(bson_iter_type(operand)));
      return NULL;
   }
   e = expr_node_new(KIND_OP);
   e->op = op;
   e->args = bson_malloc0(sizeof *e->args * 2);
   e->n_args = 2;
   bson_iter_recurse(operand, &sub);
   while (bson_iter_next(&sub)) {
      const char *key = bson_iter_key(&sub);
      size_t i = strcmp(key, "n") == 0 ? 0 : strcmp(key, "input") == 0 ? 1 : 2;
      if (i == 2) {
         error_set(error, 5787901, "unknown argument to %s: %s", op->name, key);
         goto fail;
      }
      expr_destroy(e->args[i]);
      if (!(e->args[i] = expr_compile(&sub, error))) {
         goto fail;
      }
   }
   if (!e->args[0]) {
      error_set(error, 5787906, "%s requires an 'n' field", op->name);
      goto fail;
   }
   if (!e->args[1]) {
      error_set(error, 5787907, "%s requires an 'input' field", op->name);
      goto fail;
   }
   return e;

fail:
   expr_destroy(e);
   return NULL;
}

/* $setEquals takes two or more arrays (17045). */
fe_expr_t *
expr_array_parse_set_equals(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   fe_expr_t *e = expr_parse_list(op, operand, error);
   if (!e && error && error->code == 16020) {
      error_set(error, 17045, "$setEquals needs at least two arguments");
   }
   return e;
}

/* $zip {inputs, useLongestLength, defaults}: args[0..n-1] the inputs, args[n..2n-1] the
 * defaults (NULL when not given); e->value is an int64 holding n * 2 + useLongestLength. */
fe_expr_t *
expr_array_parse_zip(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   fe_expr_t *e = NULL;
   bson_iter_t sub, inputs, defaults, item;
   bool has_inputs = false, has_defaults = false, longest = false;
   size_t n = 0, n_defaults = 0;

   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      error_set(error, 34460, "$zip only supports an object as an argument, found %s",
                update_util_type_name(bson_iter_type(operand)));
      return NULL;
   }
   bson_iter_recurse(operand, &sub);
   while (bson_iter_next(&sub)) {
      const char *key = bson_iter_key(&sub);
      if (strcmp(key, "inputs") == 0) {
         if (!BSON_ITER_HOLDS_ARRAY(&sub)) {
            error_set(error, 34461, "inputs must be an array of expressions, found %s",
                      update_util_type_name(bson_iter_type(&sub)));
            return NULL;
         }
         inputs = sub;
         has_inputs = true;
      } else if (strcmp(key, "defaults") == 0) {
         if (!BSON_ITER_HOLDS_ARRAY(&sub)) {
            error_set(error, 34462, "defaults must be an array of expressions, found %s",
                      update_util_type_name(bson_iter_type(&sub)));
            return NULL;
         }
         defaults = sub;
         has_defaults = true;
      } else if (strcmp(key, "useLongestLength") == 0) {
         if (!BSON_ITER_HOLDS_BOOL(&sub)) {
            error_set(error, 34463, "useLongestLength must be a bool, found %s",
                      update_util_type_name(bson_iter_type(&sub)));
            return NULL;
         }
         longest = bson_iter_bool(&sub);
      } else {
         error_set(error, 34464, "$zip found an unknown argument: %s", key);
         return NULL;
      }
   }
   if (has_inputs) {
      bson_iter_recurse(&inputs, &item);
      while (bson_iter_next(&item)) {
         n++;
      }
   }
   if (has_defaults) {
      bson_iter_recurse(&defaults, &item);
      while (bson_iter_next(&item)) {
         n_defaults++;
      }
   }
   if (n == 0) {
      error_set(error, 34465, "$zip requires at least one input array");
      return NULL;
   }
   if (n_defaults > 0 && !longest) {
      error_set(error, 34466, "cannot specify defaults unless useLongestLength is true");
      return NULL;
   }
   if (n_defaults > 0 && n_defaults != n) {
      error_set(error, 34467, "defaults and inputs must have the same length");
      return NULL;
   }
   e = expr_node_new(KIND_OP);
   e->op = op;
   e->args = bson_malloc0(sizeof *e->args * 2 * n);
   e->n_args = 2 * n;
   e->value.value_type = BSON_TYPE_INT64;
   e->value.value.v_int64 = (int64_t) (n * 2 + (longest ? 1 : 0));
   bson_iter_recurse(&inputs, &item);
   for (size_t i = 0; bson_iter_next(&item); i++) {
      if (!(e->args[i] = expr_compile(&item, error))) {
         goto fail;
      }
   }
   if (n_defaults > 0) {
      bson_iter_recurse(&defaults, &item);
      for (size_t i = 0; bson_iter_next(&item); i++) {
         if (!(e->args[n + i] = expr_compile(&item, error))) {
            goto fail;
         }
      }
   }
   return e;

fail:
   expr_destroy(e);
   return NULL;
}

/*
 * Operators
 */

bool
expr_array_reduce(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   const fe_expr_var_t *saved = c->vars;
   fe_expr_var_t vars[2];
   bson_value_t input, acc, elem;
   bson_t holder;
   bson_iter_t iter;
   bool ok = false;

   memset(&acc, 0, sizeof acc);
   if (!expr_eval_node(e->args[0], c, &input)) {
      return false;
   }
   if (expr_val_nullish(&input)) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   if (input.value_type != BSON_TYPE_ARRAY) {
      char *json = update_util_value_json(&input);
      error_set(c->error, 40080, "$reduce requires that 'input' be an array, found: %s", json);
      bson_free(json);
      goto done;
   }
   if (!expr_eval_node(e->args[1], c, &acc)) {
      goto done;
   }
   vars[0] = (fe_expr_var_t){.name = "this", .value = &elem, .next = &vars[1]};
   vars[1] = (fe_expr_var_t){.name = "value", .value = &acc, .next = saved};
   expr_val_iter(&input, &holder, &iter);
   while (bson_iter_next(&iter)) {
      bson_value_t next;
      bool step;
      bson_value_copy(bson_iter_value(&iter), &elem);
      c->vars = &vars[0];
      step = expr_eval_node(e->args[2], c, &next);
      c->vars = saved;
      bson_value_destroy(&elem);
      if (!step) {
         goto done;
      }
      bson_value_destroy(&acc);
      acc = next;
   }
   *out = acc;
   memset(&acc, 0, sizeof acc);
   ok = true;

done:
   bson_value_destroy(&input);
   bson_value_destroy(&acc);
   return ok;
}

bool
expr_array_reverse(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t v;
   elem_t *elems = NULL;
   bool ok = true;

   if (!expr_eval_node(e->args[0], c, &v)) {
      return false;
   }
   if (expr_val_nullish(&v)) {
      expr_val_null(out);
   } else if (v.value_type != BSON_TYPE_ARRAY) {
      ok = error_set(c->error, 34435,
                     "The argument to $reverseArray must be an array, but was of type: %s",
                     expr_val_type_name(&v));
   } else {
      bson_t result = BSON_INITIALIZER;
      uint32_t k = 0;
      size_t n = collect(&v, &elems);
      for (size_t i = n; i > 0; i--) {
         append_elem(&result, &k, &elems[i - 1]);
      }
      expr_val_from_bson(out, &result, true);
   }
   bson_free(elems);
   bson_value_destroy(&v);
   return ok;
}

bool
expr_array_range(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t vals[3];
   bson_t result = BSON_INITIALIZER;
   int32_t start = 0, end = 0, step = 1;
   uint32_t k = 0;
   int64_t count;
   bool ok = false;

   if (!expr_eval_args(e, c, vals)) {
      bson_destroy(&result);
      return false;
   }
   if (!update_util_is_number(vals[0].value_type)) {
      error_set(c->error, 34443,
                "$range requires a numeric starting value, found value of type: %s",
                expr_val_type_name(&vals[0]));
      goto done;
   }
   if (!expr_val_integral_int32(&vals[0], &start)) {
      error_set(c->error, 34444,
                "$range requires a starting value that can be represented as a 32-bit integer");
      goto done;
   }
   if (!update_util_is_number(vals[1].value_type)) {
      error_set(c->error, 34445, "$range requires a numeric ending value, found value of type: %s",
                expr_val_type_name(&vals[1]));
      goto done;
   }
   if (!expr_val_integral_int32(&vals[1], &end)) {
      error_set(c->error, 34446,
                "$range requires an ending value that can be represented as a 32-bit integer");
      goto done;
   }
   if (e->n_args > 2) {
      if (!update_util_is_number(vals[2].value_type)) {
         error_set(c->error, 34447, "$range requires a numeric step value, found value of type: %s",
                   expr_val_type_name(&vals[2]));
         goto done;
      }
      if (!expr_val_integral_int32(&vals[2], &step)) {
         error_set(c->error, 34448,
                   "$range requires a step value that can be represented as a 32-bit integer");
         goto done;
      }
      if (step == 0) {
         error_set(c->error, 34449, "$range requires a non-zero step value");
         goto done;
      }
   }
   count = step > 0 ? ((int64_t) end - start + step - 1) / step
                    : ((int64_t) start - end - step - 1) / -step;
   /* Each element takes at least its type byte, a key of a few digits and four bytes. */
   if (count * 12 > RANGE_MAX_BYTES) {
      error_set(c->error, FE_ExceededMemoryLimit,
                "$range would use too much memory and cannot spill to disk. Memory limit: %d "
                "bytes",
                RANGE_MAX_BYTES);
      goto done;
   }
   for (int64_t i = 0, v = start; i < count; i++, v += step) {
      char keybuf[16];
      const char *key;
      bson_uint32_to_string(k++, &key, keybuf, sizeof keybuf);
      bson_append_int32(&result, key, -1, (int32_t) v);
   }
   expr_val_from_bson(out, &result, true);
   ok = true;

done:
   if (!ok) {
      bson_destroy(&result);
   }
   for (size_t i = 0; i < e->n_args; i++) {
      bson_value_destroy(&vals[i]);
   }
   return ok;
}

bool
expr_array_zip(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   size_t n = (size_t) (e->value.value.v_int64 / 2);
   bool longest = (e->value.value.v_int64 & 1) != 0;
   bson_value_t *inputs = bson_malloc0(sizeof *inputs * n);
   bson_value_t *defaults = bson_malloc0(sizeof *defaults * n);
   elem_t **elems = bson_malloc0(sizeof *elems * n);
   size_t *lens = bson_malloc0(sizeof *lens * n);
   size_t min_len = SIZE_MAX, max_len = 0, rows;
   bson_t result = BSON_INITIALIZER;
   bool ok = false, null_result = false;

   for (size_t i = 0; i < n; i++) {
      if (!expr_eval_node(e->args[i], c, &inputs[i])) {
         goto done;
      }
      if (expr_val_nullish(&inputs[i])) {
         null_result = true;
         break;
      }
      if (inputs[i].value_type != BSON_TYPE_ARRAY) {
         char *json = update_util_value_json(&inputs[i]);
         error_set(c->error, 34468, "$zip found a non-array expression in input: %s", json);
         bson_free(json);
         goto done;
      }
      lens[i] = collect(&inputs[i], &elems[i]);
      min_len = lens[i] < min_len ? lens[i] : min_len;
      max_len = lens[i] > max_len ? lens[i] : max_len;
   }
   if (null_result) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   for (size_t i = 0; i < n; i++) {
      if (min_len != max_len && e->args[n + i] &&
          !expr_eval_node(e->args[n + i], c, &defaults[i])) {
         goto done;
      }
      if (expr_val_missing(&defaults[i])) {
         expr_val_null(&defaults[i]);
      }
   }
   rows = longest ? max_len : min_len;
   for (size_t r = 0; r < rows; r++) {
      bson_t row;
      char keybuf[16];
      const char *key;
      uint32_t k = 0;
      bson_uint32_to_string((uint32_t) r, &key, keybuf, sizeof keybuf);
      bson_append_array_begin(&result, key, -1, &row);
      for (size_t i = 0; i < n; i++) {
         if (r < lens[i]) {
            append_elem(&row, &k, &elems[i][r]);
         } else {
            append_value(&row, &k, &defaults[i]);
         }
      }
      bson_append_array_end(&result, &row);
   }
   expr_val_from_bson(out, &result, true);
   ok = true;

done:
   if (!ok || null_result) {
      bson_destroy(&result);
   }
   for (size_t i = 0; i < n; i++) {
      bson_value_destroy(&inputs[i]);
      bson_value_destroy(&defaults[i]);
      bson_free(elems[i]);
   }
   bson_free(inputs);
   bson_free(defaults);
   bson_free(elems);
   bson_free(lens);
   return ok;
}

bool
expr_array_index_of(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t vals[4];
   elem_t *elems = NULL;
   int32_t start = 0, end = INT32_MAX, found = -1;
   bool ok = false;
   size_t n;

   if (!expr_eval_args(e, c, vals)) {
      return false;
   }
   if (expr_val_nullish(&vals[0])) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   if (vals[0].value_type != BSON_TYPE_ARRAY) {
      error_set(c->error, 40090, "$indexOfArray requires an array as a first argument, found: %s",
                expr_val_type_name(&vals[0]));
      goto done;
   }
   for (size_t i = 2; i < e->n_args; i++) {
      int32_t *dst = i == 2 ? &start : &end;
      const char *what = i == 2 ? "starting index" : "ending index";
      if (!expr_val_integral_int32(&vals[i], dst)) {
         error_set(c->error, 40096,
                   "$indexOfArray requires an integral %s, found a value of type: %s", what,
                   expr_val_type_name(&vals[i]));
         goto done;
      }
      if (*dst < 0) {
         error_set(c->error, 40097, "$indexOfArray requires a nonnegative %s, found: %d", what,
                   (int) *dst);
         goto done;
      }
   }
   n = collect(&vals[0], &elems);
   for (size_t i = (size_t) start; i < n && i < (size_t) end; i++) {
      if (expr_compare_values_collated(bson_iter_value(&elems[i].it), &vals[1],
                                       expr_vars_collator(c->vars)) == 0) {
         found = (int32_t) i;
         break;
      }
   }
   expr_val_int32(out, found);
   ok = true;

done:
   bson_free(elems);
   for (size_t i = 0; i < e->n_args; i++) {
      bson_value_destroy(&vals[i]);
   }
   return ok;
}

bool
expr_array_to_object(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t v;
   bson_t result = BSON_INITIALIZER, holder;
   bson_iter_t iter;
   bool ok = false, pairs = false;
   size_t i = 0;

   if (!expr_eval_node(e->args[0], c, &v)) {
      bson_destroy(&result);
      return false;
   }
   if (expr_val_nullish(&v)) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   if (v.value_type != BSON_TYPE_ARRAY) {
      error_set(c->error, 40386, "$arrayToObject requires an array input, found: %s",
                expr_val_type_name(&v));
      goto done;
   }
   expr_val_iter(&v, &holder, &iter);
   for (; bson_iter_next(&iter); i++) {
      bson_iter_t part;
      const char *key = NULL;
      uint32_t key_len = 0;
      bson_iter_t value_it;
      bool have_value = false;

      if (i == 0) {
         if (BSON_ITER_HOLDS_ARRAY(&iter)) {
            pairs = true;
         } else if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            error_set(c->error, 40398, "Unrecognised input type format for $arrayToObject: %s",
                      update_util_type_name(bson_iter_type(&iter)));
            goto done;
         }
      }
      if (pairs) {
         size_t count = 0;
         if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
            error_set(c->error, 40396,
                      "$arrayToObject requires a consistent input format. Elements must all be "
                      "arrays or all be objects. Array was detected, now found: %s",
                      update_util_type_name(bson_iter_type(&iter)));
            goto done;
         }
         bson_iter_recurse(&iter, &part);
         while (bson_iter_next(&part)) {
            if (count == 0) {
               if (BSON_ITER_HOLDS_UTF8(&part)) {
                  key = bson_iter_utf8(&part, &key_len);
               } else {
                  error_set(c->error, 40395,
                            "$arrayToObject requires an array of key-value pairs, where the key "
                            "must be of type string. Found key type: %s",
                            update_util_type_name(bson_iter_type(&part)));
                  goto done;
               }
            } else if (count == 1) {
               value_it = part;
               have_value = true;
            }
            count++;
         }
         if (count != 2) {
            error_set(c->error, 40397,
                      "$arrayToObject requires an array of size 2 arrays,found array of size: %zu",
                      count);
            goto done;
         }
      } else {
         size_t count = 0;
         bool has_k = false;
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            error_set(c->error, 40391,
                      "$arrayToObject requires a consistent input format. Elements must all be "
                      "arrays or all be objects. Object was detected, now found: %s",
                      update_util_type_name(bson_iter_type(&iter)));
            goto done;
         }
         bson_iter_recurse(&iter, &part);
         while (bson_iter_next(&part)) {
            count++;
         }
         if (count != 2) {
            error_set(c->error, 40392,
                      "$arrayToObject requires an object keys of 'k' and 'v'. Found incorrect "
                      "number of keys:%zu",
                      count);
            goto done;
         }
         bson_iter_recurse(&iter, &part);
         while (bson_iter_next(&part)) {
            if (strcmp(bson_iter_key(&part), "k") == 0) {
               has_k = true;
               if (!BSON_ITER_HOLDS_UTF8(&part)) {
                  error_set(c->error, 40394,
                            "$arrayToObject requires an object with keys 'k' and 'v', where the "
                            "value of 'k' must be of type string. Found type: %s",
                            update_util_type_name(bson_iter_type(&part)));
                  goto done;
               }
               key = bson_iter_utf8(&part, &key_len);
            } else if (strcmp(bson_iter_key(&part), "v") == 0) {
               value_it = part;
               have_value = true;
            }
         }
         if (!has_k || !have_value) {
            error_set(c->error, 40393,
                      "$arrayToObject requires an object with keys 'k' and 'v'. Missing either or "
                      "both keys");
            goto done;
         }
      }
      if (memchr(key, '\0', key_len)) {
         error_set(c->error, 4940400, "Key field cannot contain an embedded null byte");
         goto done;
      }
      {
         /* A repeated key keeps its first position and takes the last value. */
         bson_t next = BSON_INITIALIZER;
         bson_iter_t old;
         bool replaced = false;
         bson_iter_init(&old, &result);
         while (bson_iter_next(&old)) {
            if (bson_iter_key_len(&old) == key_len &&
                memcmp(bson_iter_key(&old), key, key_len) == 0) {
               bson_append_iter(&next, key, (int) key_len, &value_it);
               replaced = true;
            } else {
               bson_append_iter(&next, NULL, 0, &old);
            }
         }
         if (!replaced) {
            bson_append_iter(&next, key, (int) key_len, &value_it);
         }
         bson_destroy(&result);
         bson_init(&result);
         bson_concat(&result, &next);
         bson_destroy(&next);
      }
   }
   expr_val_from_bson(out, &result, false);
   bson_init(&result);
   ok = true;

done:
   bson_destroy(&result);
   bson_value_destroy(&v);
   return ok;
}

bool
expr_array_object_to_array(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t v;
   bool ok = true;

   if (!expr_eval_node(e->args[0], c, &v)) {
      return false;
   }
   if (expr_val_nullish(&v)) {
      expr_val_null(out);
   } else if (v.value_type != BSON_TYPE_DOCUMENT) {
      ok = error_set(c->error, 40390, "$objectToArray requires a document input, found: %s",
                     expr_val_type_name(&v));
   } else {
      bson_t result = BSON_INITIALIZER, holder;
      bson_iter_t iter;
      uint32_t k = 0;
      expr_val_iter(&v, &holder, &iter);
      while (bson_iter_next(&iter)) {
         bson_t pair;
         char keybuf[16];
         const char *key;
         bson_uint32_to_string(k++, &key, keybuf, sizeof keybuf);
         bson_append_document_begin(&result, key, -1, &pair);
         bson_append_utf8(&pair, "k", 1, bson_iter_key(&iter), (int) bson_iter_key_len(&iter));
         bson_append_iter(&pair, "v", 1, &iter);
         bson_append_document_end(&result, &pair);
      }
      expr_val_from_bson(out, &result, true);
   }
   bson_value_destroy(&v);
   return ok;
}

bool
expr_array_sort(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   const bson_value_t *sort_by = &e->args[1]->value;
   bson_value_t v;
   elem_t *elems = NULL;
   bool ok = true;

   if (!expr_eval_node(e->args[0], c, &v)) {
      return false;
   }
   if (expr_val_nullish(&v)) {
      expr_val_null(out);
   } else if (v.value_type != BSON_TYPE_ARRAY) {
      ok = error_set(c->error, 2942504, "$sortArray requires an array as input, found: %s",
                     expr_val_type_name(&v));
   } else {
      bson_t result = BSON_INITIALIZER;
      uint32_t k = 0;
      size_t n = collect(&v, &elems);

      if (sort_by->value_type != BSON_TYPE_DOCUMENT) {
         int64_t dir = 1;
         update_util_to_int64(sort_by, &dir);
         qsort_r(elems, n, sizeof *elems, dir > 0 ? compare_elems : compare_elems_desc,
                 (void *) expr_vars_collator(c->vars));
         for (size_t i = 0; i < n; i++) {
            append_elem(&result, &k, &elems[i]);
         }
      } else {
         /* Elements sort as documents; anything else as an empty document (every key null). */
         bson_t spec, empty = BSON_INITIALIZER;
         bson_t *docs = bson_malloc0(sizeof *docs * (n + 1));
         const bson_t **order = bson_malloc0(sizeof *order * (n + 1));
         fe_sort_t *sort;
         bson_init_static(&spec, sort_by->value.v_doc.data, sort_by->value.v_doc.data_len);
         sort = sort_compile(&spec, NULL);
         for (size_t i = 0; i < n; i++) {
            const bson_value_t *ev = bson_iter_value(&elems[i].it);
            if (ev->value_type == BSON_TYPE_DOCUMENT) {
               bson_init_static(&docs[i], ev->value.v_doc.data, ev->value.v_doc.data_len);
            } else {
               bson_init_static(&docs[i], bson_get_data(&empty), empty.len);
            }
            order[i] = &docs[i];
         }
         sort_documents(sort, order, n);
         for (size_t i = 0; i < n; i++) {
            append_elem(&result, &k, &elems[order[i] - docs]);
         }
         sort_destroy(sort);
         bson_free(order);
         bson_free(docs);
      }
      expr_val_from_bson(out, &result, true);
   }
   bson_free(elems);
   bson_value_destroy(&v);
   return ok;
}

bool
expr_array_slice(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t vals[3];
   elem_t *elems = NULL;
   int32_t a = 0, count = 0;
   size_t n, start, end;
   bool ok = false;

   if (!expr_eval_args(e, c, vals)) {
      return false;
   }
   if (expr_val_nullish(&vals[0]) || expr_val_nullish(&vals[1]) ||
       (e->n_args > 2 && expr_val_nullish(&vals[2]))) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   if (vals[0].value_type != BSON_TYPE_ARRAY) {
      error_set(c->error, 28724, "First argument to $slice must be an array, but is of type: %s",
                expr_val_type_name(&vals[0]));
      goto done;
   }
   if (!update_util_is_number(vals[1].value_type)) {
      error_set(c->error, 28725,
                "Second argument to $slice must be a numeric value, but is of type: %s",
                expr_val_type_name(&vals[1]));
      goto done;
   }
   if (!expr_val_integral_int32(&vals[1], &a)) {
      error_set(c->error, 28726,
                "Second argument to $slice can't be represented as a 32-bit integer");
      goto done;
   }
   n = collect(&vals[0], &elems);
   if (e->n_args == 2) {
      if (a >= 0) {
         start = 0;
         end = (size_t) a < n ? (size_t) a : n;
      } else {
         start = (size_t) - (int64_t) a >= n ? 0 : n - (size_t) - (int64_t) a;
         end = n;
      }
   } else {
      if (!update_util_is_number(vals[2].value_type)) {
         error_set(c->error, 28727, "Third argument to $slice must be numeric, but is of type: %s",
                   expr_val_type_name(&vals[2]));
         goto done;
      }
      if (!expr_val_integral_int32(&vals[2], &count)) {
         error_set(c->error, 28728,
                   "Third argument to $slice can't be represented as a 32-bit integer");
         goto done;
      }
      if (count <= 0) {
         error_set(c->error, 28729, "Third argument to $slice must be positive: %d", (int) count);
         goto done;
      }
      if (a < 0) {
         start = (size_t) - (int64_t) a >= n ? 0 : n - (size_t) - (int64_t) a;
      } else {
         start = (size_t) a < n ? (size_t) a : n;
      }
      end = start + (size_t) count < n ? start + (size_t) count : n;
   }
   {
      bson_t result = BSON_INITIALIZER;
      uint32_t k = 0;
      for (size_t i = start; i < end; i++) {
         append_elem(&result, &k, &elems[i]);
      }
      expr_val_from_bson(out, &result, true);
   }
   ok = true;

done:
   bson_free(elems);
   for (size_t i = 0; i < e->n_args; i++) {
      bson_value_destroy(&vals[i]);
   }
   return ok;
}

/* $firstN $lastN $maxN $minN over an array. */
bool
expr_array_n(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   const char *name = e->op->name;
   bson_value_t vals[2];
   elem_t *elems = NULL;
   int64_t limit = 0;
   bool ok = false;
   size_t n, start = 0, end;
   bson_t result = BSON_INITIALIZER;
   uint32_t k = 0;

   if (!expr_eval_args(e, c, vals)) {
      bson_destroy(&result);
      return false;
   }
   if (!update_util_is_number(vals[0].value_type)) {
      error_set(c->error, 5787902, "Value for 'n' must be of integral type, but found %s",
                expr_val_type_name(&vals[0]));
      goto done;
   }
   if (!update_util_to_int64(&vals[0], &limit)) {
      error_set(c->error, 5787903, "Value for 'n' must be of integral type");
      goto done;
   }
   if (limit <= 0) {
      error_set(c->error, 5787908, "'n' must be greater than 0, found %lld", (long long) limit);
      goto done;
   }
   if (expr_val_nullish(&vals[1])) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   if (vals[1].value_type != BSON_TYPE_ARRAY) {
      error_set(c->error, 5788200, "Input to %s must be an array, found %s", name,
                expr_val_type_name(&vals[1]));
      goto done;
   }
   n = collect(&vals[1], &elems);
   if (strcmp(name, "$maxN") == 0 || strcmp(name, "$minN") == 0) {
      /* null and missing are not values here. */
      size_t m = 0;
      for (size_t i = 0; i < n; i++) {
         if (!expr_val_nullish(bson_iter_value(&elems[i].it))) {
            elems[m++] = elems[i];
         }
      }
      n = m;
      qsort_r(elems, n, sizeof *elems,
              strcmp(name, "$maxN") == 0 ? compare_elems_desc : compare_elems,
              (void *) expr_vars_collator(c->vars));
   }
   end = (uint64_t) limit < n ? (size_t) limit : n;
   if (strcmp(name, "$lastN") == 0) {
      start = n - end;
      end = n;
   }
   for (size_t i = start; i < end; i++) {
      append_elem(&result, &k, &elems[i]);
   }
   expr_val_from_bson(out, &result, true);
   ok = true;

done:
   if (!ok || out->value_type != BSON_TYPE_ARRAY) {
      bson_destroy(&result);
   }
   bson_free(elems);
   bson_value_destroy(&vals[0]);
   bson_value_destroy(&vals[1]);
   return ok;
}

bool
expr_array_all_any(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bool all = strcmp(e->op->name, "$allElementsTrue") == 0;
   bson_value_t v;
   bson_t holder;
   bson_iter_t iter;
   bool result = all;

   if (!expr_eval_node(e->args[0], c, &v)) {
      return false;
   }
   if (v.value_type != BSON_TYPE_ARRAY) {
      error_set(c->error, all ? 17040 : 17041, "%s's argument must be an array, but is %s",
                e->op->name, expr_val_type_name(&v));
      bson_value_destroy(&v);
      return false;
   }
   expr_val_iter(&v, &holder, &iter);
   while (bson_iter_next(&iter)) {
      if (expr_value_is_true(bson_iter_value(&iter)) != all) {
         result = !all;
         break;
      }
   }
   expr_val_bool(out, result);
   bson_value_destroy(&v);
   return true;
}

/* $setUnion $setIntersection $setDifference. */
bool
expr_array_set_op(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   const char *name = e->op->name;
   bool is_union = strcmp(name, "$setUnion") == 0;
   bool is_difference = strcmp(name, "$setDifference") == 0;
   const fe_collator_t *collator = expr_vars_collator(c->vars);
   bson_value_t *vals = bson_malloc0(sizeof *vals * (e->n_args + 1));
   elem_t **sets = bson_malloc0(sizeof *sets * (e->n_args + 1));
   size_t *lens = bson_malloc0(sizeof *lens * (e->n_args + 1));
   bson_t result = BSON_INITIALIZER;
   uint32_t k = 0;
   bool ok = false, null_result = false;

   if (!expr_eval_args(e, c, vals)) {
      goto done;
   }
   for (size_t i = 0; i < e->n_args; i++) {
      if (expr_val_nullish(&vals[i])) {
         null_result = true;
         continue;
      }
      if (vals[i].value_type != BSON_TYPE_ARRAY) {
         if (is_difference) {
            error_set(c->error, i == 0 ? 17048 : 17049,
                      "both operands of $setDifference must be arrays. %s argument is of type: %s",
                      i == 0 ? "First" : "Second", expr_val_type_name(&vals[i]));
         } else {
            error_set(c->error, is_union ? 17043 : 17047,
                      "All operands of %s must be arrays. One argument is of type: %s", name,
                      expr_val_type_name(&vals[i]));
         }
         goto done;
      }
   }
   /* MongoDB stops at the first null operand: only operands before it are checked. */
   if (null_result) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   for (size_t i = 0; i < e->n_args; i++) {
      lens[i] = collect(&vals[i], &sets[i]);
      if (!is_difference || i == 1) {
         qsort_r(sets[i], lens[i], sizeof *sets[i], compare_elems, (void *) collator);
         lens[i] = dedup_sorted(sets[i], lens[i], collator);
      }
   }
   if (is_union) {
      size_t total = 0;
      elem_t *all;
      for (size_t i = 0; i < e->n_args; i++) {
         total += lens[i];
      }
      all = bson_aligned_alloc0(_Alignof(elem_t), sizeof *all * (total + 1));
      total = 0;
      for (size_t i = 0; i < e->n_args; i++) {
         memcpy(all + total, sets[i], sizeof *all * lens[i]);
         total += lens[i];
      }
      /* Equal elements keep the first operand's: position decides ties. */
      for (size_t i = 0; i < total; i++) {
         all[i].index = i;
      }
      qsort_r(all, total, sizeof *all, compare_elems, (void *) collator);
      total = dedup_sorted(all, total, collator);
      for (size_t i = 0; i < total; i++) {
         append_elem(&result, &k, &all[i]);
      }
      bson_free(all);
   } else if (is_difference) {
      /* The first operand's order, without duplicates, without the second's elements. */
      elem_t *seen = bson_aligned_alloc0(_Alignof(elem_t), sizeof *seen * (lens[0] + 1));
      size_t n_seen = 0;
      for (size_t i = 0; i < lens[0]; i++) {
         const bson_value_t *v = bson_iter_value(&sets[0][i].it);
         bool dup = false;
         if (contains(sets[1], lens[1], v, collator)) {
            continue;
         }
         for (size_t j = 0; j < n_seen && !dup; j++) {
            dup = expr_compare_values_collated(bson_iter_value(&seen[j].it), v, collator) == 0;
         }
         if (!dup) {
            seen[n_seen++] = sets[0][i];
            append_elem(&result, &k, &sets[0][i]);
         }
      }
      bson_free(seen);
   } else if (e->n_args > 0) {
      for (size_t i = 0; i < lens[0]; i++) {
         const bson_value_t *v = bson_iter_value(&sets[0][i].it);
         bool everywhere = true;
         for (size_t j = 1; j < e->n_args && everywhere; j++) {
            everywhere = contains(sets[j], lens[j], v, collator);
         }
         if (everywhere) {
            append_elem(&result, &k, &sets[0][i]);
         }
      }
   }
   expr_val_from_bson(out, &result, true);
   bson_init(&result);
   ok = true;

done:
   bson_destroy(&result);
   for (size_t i = 0; i < e->n_args; i++) {
      bson_value_destroy(&vals[i]);
      bson_free(sets[i]);
   }
   bson_free(vals);
   bson_free(sets);
   bson_free(lens);
   return ok;
}

/* $setEquals (two or more arrays) and $setIsSubset (two arrays). */
bool
expr_array_set_compare(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bool equals = strcmp(e->op->name, "$setEquals") == 0;
   const fe_collator_t *collator = expr_vars_collator(c->vars);
   bson_value_t *vals = bson_malloc0(sizeof *vals * (e->n_args + 1));
   elem_t **sets = bson_malloc0(sizeof *sets * (e->n_args + 1));
   size_t *lens = bson_malloc0(sizeof *lens * (e->n_args + 1));
   bool ok = false, result = true;

   if (!expr_eval_args(e, c, vals)) {
      goto done;
   }
   for (size_t i = 0; i < e->n_args; i++) {
      if (vals[i].value_type != BSON_TYPE_ARRAY) {
         if (equals) {
            error_set(c->error, 17044,
                      "All operands of $setEquals must be arrays. One argument is of type: %s",
                      expr_val_type_name(&vals[i]));
         } else {
            error_set(c->error, i == 0 ? 17046 : 17042,
                      "both operands of $setIsSubset must be arrays. %s argument is of type: %s",
                      i == 0 ? "First" : "Second", expr_val_type_name(&vals[i]));
         }
         goto done;
      }
      lens[i] = collect(&vals[i], &sets[i]);
      qsort_r(sets[i], lens[i], sizeof *sets[i], compare_elems, (void *) collator);
      lens[i] = dedup_sorted(sets[i], lens[i], collator);
   }
   for (size_t i = 1; i < e->n_args && result; i++) {
      if (equals && lens[i] != lens[0]) {
         result = false;
      }
      for (size_t j = 0; j < lens[0] && result; j++) {
         result = contains(sets[i], lens[i], bson_iter_value(&sets[0][j].it), collator);
      }
   }
   expr_val_bool(out, result);
   ok = true;

done:
   for (size_t i = 0; i < e->n_args; i++) {
      bson_value_destroy(&vals[i]);
      bson_free(sets[i]);
   }
   bson_free(vals);
   bson_free(sets);
   bson_free(lens);
   return ok;
}

/*
 * Arrays
 */

/* The elements of the array value arr (which must outlive them) in *elems (owned by the
 * caller, bson_free). Returns the count. */
static size_t
collect(const bson_value_t *arr, elem_t **elems)
{
   bson_t holder;
   bson_iter_t iter;
   size_t n = 0, cap = 8;

   /* elem_t holds a bson_iter_t, declared 128-byte aligned: beyond what malloc promises. */
   *elems = bson_aligned_alloc0(_Alignof(elem_t), sizeof **elems * cap);
   expr_val_iter(arr, &holder, &iter);
   while (bson_iter_next(&iter)) {
      if (n == cap) {
         elem_t *bigger = bson_aligned_alloc0(_Alignof(elem_t), sizeof **elems * cap * 2);
         memcpy(bigger, *elems, sizeof **elems * cap);
         bson_free(*elems);
         *elems = bigger;
         cap *= 2;
      }
      (*elems)[n].it = iter;
      (*elems)[n].index = n;
      n++;
   }
   return n;
}

static void
append_elem(bson_t *arr, uint32_t *n, elem_t *el)
{
   char keybuf[16];
   const char *key;
   bson_uint32_to_string((*n)++, &key, keybuf, sizeof keybuf);
   bson_append_iter(arr, key, -1, &el->it);
}

static void
append_value(bson_t *arr, uint32_t *n, const bson_value_t *v)
{
   char keybuf[16];
   const char *key;
   bson_uint32_to_string((*n)++, &key, keybuf, sizeof keybuf);
   bson_append_value(arr, key, -1, v);
}

/* BSON order, then position: qsort becomes stable. */
static int
compare_elems(const void *a, const void *b, void *collator)
{
   elem_t *x = (elem_t *) a, *y = (elem_t *) b;
   int cmp =
      expr_compare_values_collated(bson_iter_value(&x->it), bson_iter_value(&y->it), collator);
   if (cmp == 0) {
      return x->index < y->index ? -1 : x->index > y->index;
   }
   return cmp;
}

static int
compare_elems_desc(const void *a, const void *b, void *collator)
{
   elem_t *x = (elem_t *) a, *y = (elem_t *) b;
   int cmp =
      expr_compare_values_collated(bson_iter_value(&y->it), bson_iter_value(&x->it), collator);
   if (cmp == 0) {
      return x->index < y->index ? -1 : x->index > y->index;
   }
   return cmp;
}

/* Keeps the first of each run of equal elements of a sorted array; returns the new count. */
static size_t
dedup_sorted(elem_t *elems, size_t n, const fe_collator_t *collator)
{
   size_t m = 0;
   for (size_t i = 0; i < n; i++) {
      if (m == 0 || expr_compare_values_collated(bson_iter_value(&elems[m - 1].it),
                                                 bson_iter_value(&elems[i].it), collator) != 0) {
         elems[m++] = elems[i];
      }
   }
   return m;
}

/* Binary search of a sorted, deduplicated array. */
static bool
contains(elem_t *sorted, size_t n, const bson_value_t *v, const fe_collator_t *collator)
{
   size_t lo = 0, hi = n;
   while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      int cmp = expr_compare_values_collated(bson_iter_value(&sorted[mid].it), v, collator);
      if (cmp == 0) {
         return true;
      }
      if (cmp < 0) {
         lo = mid + 1;
      } else {
         hi = mid;
      }
   }
   return false;
}
