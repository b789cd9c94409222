/*
 * stage_window.c: $setWindowFields (partitionBy, sortBy, output with window functions) and
 * $fill, which MongoDB defines as a $setWindowFields ($locf, $linearFill) followed by an
 * $addFields ({value: <expr>}).
 *
 * The input is sorted by {p: <partition key>, d.<sortBy paths>} (each document wrapped as
 * {p, d}, a stable sort), then each partition is walked in that order. The accumulators
 * ($sum ... $stdDevSamp) are $group's: each is compiled as {_id: null, v: {<op>: <arg>}}
 * and run over the documents of each window, so they behave exactly as in $group. A window
 * is documents: [lo, hi] (positions relative to the current one) or range: [lo, hi] (sort
 * key values relative to the current one's, in unit for dates); without one it is the
 * whole partition.
 */
#include "query/aggregate/pipeline_int.h"

#include <math.h>
#include <string.h>

#include "query/sort.h"
#include "query/update_int.h"

typedef enum wfn {
   WFN_ACC,
   WFN_RANK,
   WFN_DENSE_RANK,
   WFN_DOCUMENT_NUMBER,
   WFN_SHIFT,
   WFN_LOCF,
   WFN_LINEAR_FILL,
   WFN_EXP_MOVING_AVG,
   WFN_DERIVATIVE,
   WFN_INTEGRAL,
   WFN_COVARIANCE_POP,
   WFN_COVARIANCE_SAMP,
   WFN_VALUE, /* $fill's {value: <expr>}: the field's value when it is null or missing */
} wfn_t;

typedef struct bound {
   bool unbounded;
   double offset; /* documents: a position; range: a sort key difference (ms for dates) */
} bound_t;

typedef struct wout {
   char *field; /* owned */
   wfn_t fn;
   const char *op;        /* static: the operator name */
   stage_group_t *acc;    /* owned; WFN_ACC: {_id: null, v: {<op>: <arg>}} */
   fe_expr_t *input;      /* owned; the input of the other functions */
   fe_expr_t *input2;     /* owned; the covariances' second input */
   fe_expr_t *def;        /* owned; $shift's default, nullable */
   int64_t by;            /* $shift */
   double alpha;          /* $expMovingAvg */
   int64_t unit_ms;       /* $derivative, $integral: 0 without unit */
   bool has_window;       /* else the whole partition */
   bool range;            /* range window, else documents */
   bound_t lo, hi;        /* the window */
   int64_t range_unit_ms; /* range window on dates: the unit's length, 0 for numbers */
} wout_t;

struct stage_window {
   fe_expr_t *partition_by; /* owned; nullable */
   bson_t *sort_spec;       /* owned; nullable: sortBy as given */
   fe_sort_t *sort;         /* owned; {p: 1, d.<sortBy paths>} */
   char *sort_path;         /* owned; the single sortBy path, NULL otherwise */
   size_t n_sort_fields;
   wout_t *outs; /* owned */
   size_t n_outs;
};

/* One input document of a partition, in sorted order. */
typedef struct row {
   const bson_t *doc; /* borrowed from the sorted wrappers */
   bson_value_t key;  /* the sortBy value (single field), borrowed; EOD when missing */
} row_t;

static bool compile_output(stage_window_t *w, const char *field, const bson_iter_t *spec,
                           fe_error_t *error);
static bool parse_window(wout_t *o, const bson_iter_t *window, fe_error_t *error);
static bool parse_unit(const char *unit, int64_t *ms, fe_error_t *error);
static bool compute_partition(const stage_window_t *w, const fe_expr_var_t *vars, row_t *rows,
                              size_t n, bson_value_t *results, fe_error_t *error);
static bool compute_output(const stage_window_t *w, const wout_t *o, const fe_expr_var_t *vars,
                           row_t *rows, size_t n, bson_value_t *results, fe_error_t *error);
static int window_of(const wout_t *o, const row_t *rows, size_t n, size_t i, size_t *lo, size_t *hi,
                     fe_error_t *error);
static bool key_number(const wout_t *o, const bson_value_t *key, bool range, double *x,
                       fe_error_t *error);
static bool eval_number(const fe_expr_t *e, const bson_t *doc, const fe_expr_var_t *vars, double *x,
                        bool *numeric, fe_error_t *error);
static void set_double(bson_value_t *out, double d);
static void set_null(bson_value_t *out);

/*
 * Public functions
 */

stage_window_t *
stage_window_compile(const bson_iter_t *spec, fe_error_t *error)
{
   stage_window_t *w = bson_malloc0(sizeof *w);
   bson_iter_t sub, out;
   bool has_output = false;
   bson_t sort = BSON_INITIALIZER;

   if (!BSON_ITER_HOLDS_DOCUMENT(spec)) {
      error_set(error, FE_FailedToParse,
                "the $setWindowFields stage specification must be an "
                "object");
      goto fail;
   }
   bson_iter_recurse(spec, &sub);
   while (bson_iter_next(&sub)) {
      const char *key = bson_iter_key(&sub);
      if (strcmp(key, "partitionBy") == 0) {
         if (!(w->partition_by = expr_compile(&sub, error))) {
            goto fail;
         }
      } else if (strcmp(key, "sortBy") == 0) {
         uint32_t len;
         const uint8_t *data;
         if (!BSON_ITER_HOLDS_DOCUMENT(&sub)) {
            error_set(error, FE_TypeMismatch,
                      "BSON field '$setWindowFields.sortBy' is the wrong type '%s', expected "
                      "type 'object'",
                      update_util_type_name(bson_iter_type(&sub)));
            goto fail;
         }
         bson_iter_document(&sub, &len, &data);
         w->sort_spec = bson_new_from_data(data, len);
      } else if (strcmp(key, "output") == 0) {
         if (!BSON_ITER_HOLDS_DOCUMENT(&sub)) {
            error_set(error, FE_TypeMismatch,
                      "BSON field '$setWindowFields.output' is the wrong type '%s', expected "
                      "type 'object'",
                      update_util_type_name(bson_iter_type(&sub)));
            goto fail;
         }
         has_output = true;
         out = sub;
      } else {
         error_set(error, 40415, "BSON field '$setWindowFields.%s' is an unknown field.", key);
         goto fail;
      }
   }
   if (!has_output) {
      error_set(error, 40414,
                "BSON field '$setWindowFields.output' is missing but a required "
                "field");
      goto fail;
   }
   /* The wrapper sort: the partition key, then each sortBy path under "d.". */
   bson_append_int32(&sort, "p", 1, 1);
   if (w->sort_spec) {
      bson_iter_t s;
      bson_iter_init(&s, w->sort_spec);
      while (bson_iter_next(&s)) {
         char *path = bson_strdup_printf("d.%s", bson_iter_key(&s));
         int32_t dir;
         if (!BSON_ITER_HOLDS_NUMBER(&s) ||
             ((dir = (int32_t) bson_iter_as_int64(&s)) != 1 && dir != -1)) {
            bson_free(path);
            error_set(error, 15975,
                      "$sort key ordering must be 1 (for ascending) or -1 (for "
                      "descending)");
            goto fail;
         }
         bson_append_int32(&sort, path, -1, dir);
         bson_free(path);
         w->n_sort_fields++;
         bson_free(w->sort_path);
         w->sort_path = bson_strdup(bson_iter_key(&s));
      }
      if (w->n_sort_fields != 1) {
         bson_free(w->sort_path);
         w->sort_path = NULL;
      }
   }
   if (!(w->sort = sort_compile(&sort, error))) {
      goto fail;
   }
   {
      uint32_t n = 0;
      bson_iter_recurse(&out, &sub);
      while (bson_iter_next(&sub)) {
         n++;
      }
      w->outs = bson_malloc0(sizeof *w->outs * (n + 1));
      bson_iter_recurse(&out, &sub);
      while (bson_iter_next(&sub)) {
         if (!compile_output(w, bson_iter_key(&sub), &sub, error)) {
            goto fail;
         }
      }
   }
   bson_destroy(&sort);
   return w;

fail:
   bson_destroy(&sort);
   stage_window_destroy(w);
   return NULL;
}

stage_window_t *
stage_window_compile_fill(const bson_iter_t *spec, fe_error_t *error)
{
   bson_t swf = BSON_INITIALIZER, output;
   bson_iter_t sub, field, iter;
   stage_window_t *w = NULL;
   bool has_output = false, has_sort = false, has_partition = false;

   if (!BSON_ITER_HOLDS_DOCUMENT(spec)) {
      error_set(error, FE_FailedToParse, "$fill specification must be an object");
      goto done;
   }
   bson_iter_recurse(spec, &sub);
   while (bson_iter_next(&sub)) {
      const char *key = bson_iter_key(&sub);
      if (strcmp(key, "sortBy") == 0) {
         has_sort = true;
         bson_append_iter(&swf, "sortBy", -1, &sub);
      } else if (strcmp(key, "partitionBy") == 0) {
         if (has_partition) {
            error_set(error, 6050204,
                      "Maximum one of 'partitionBy' and 'partitionByFields' can "
                      "be specified in '$fill'");
            goto done;
         }
         has_partition = true;
         bson_append_iter(&swf, "partitionBy", -1, &sub);
      } else if (strcmp(key, "partitionByFields") == 0) {
         bson_t p;
         if (has_partition) {
            error_set(error, 6050204,
                      "Maximum one of 'partitionBy' and 'partitionByFields' can "
                      "be specified in '$fill'");
            goto done;
         }
         if (!BSON_ITER_HOLDS_ARRAY(&sub)) {
            error_set(error, FE_TypeMismatch,
                      "BSON field '$fill.partitionByFields' is the wrong type '%s', expected "
                      "type 'array'",
                      update_util_type_name(bson_iter_type(&sub)));
            goto done;
         }
         has_partition = true;
         bson_append_document_begin(&swf, "partitionBy", -1, &p);
         bson_iter_recurse(&sub, &field);
         while (bson_iter_next(&field)) {
            char *path;
            if (!BSON_ITER_HOLDS_UTF8(&field) || bson_iter_utf8(&field, NULL)[0] == '$') {
               bson_append_document_end(&swf, &p);
               error_set(error, 9527,
                         "'partitionByFields' field names must be strings that do "
                         "not start with '$'");
               goto done;
            }
            path = bson_strdup_printf("$%s", bson_iter_utf8(&field, NULL));
            bson_append_utf8(&p, bson_iter_utf8(&field, NULL), -1, path, -1);
            bson_free(path);
         }
         bson_append_document_end(&swf, &p);
      } else if (strcmp(key, "output") == 0) {
         if (!BSON_ITER_HOLDS_DOCUMENT(&sub)) {
            error_set(error, FE_TypeMismatch,
                      "BSON field '$fill.output' is the wrong type '%s', expected type 'object'",
                      update_util_type_name(bson_iter_type(&sub)));
            goto done;
         }
         has_output = true;
         iter = sub;
      } else {
         error_set(error, 40415, "BSON field '$fill.%s' is an unknown field.", key);
         goto done;
      }
   }
   if (!has_output) {
      error_set(error, 40414, "BSON field '$fill.output' is missing but a required field");
      goto done;
   }
   bson_append_document_begin(&swf, "output", -1, &output);
   bson_iter_recurse(&iter, &field);
   while (bson_iter_next(&field)) {
      bson_iter_t opt;
      const char *name = bson_iter_key(&field);
      bool seen = false;
      if (!BSON_ITER_HOLDS_DOCUMENT(&field)) {
         bson_append_document_end(&swf, &output);
         error_set(error, FE_TypeMismatch,
                   "$fill output specification for '%s' must be an "
                   "object",
                   name);
         goto done;
      }
      bson_iter_recurse(&field, &opt);
      while (bson_iter_next(&opt)) {
         const char *k = bson_iter_key(&opt);
         if (seen) {
            bson_append_document_end(&swf, &output);
            error_set(error, 6050203,
                      "Exactly one of 'value' and 'method' must be specified in "
                      "a $fill output specification");
            goto done;
         }
         seen = true;
         if (strcmp(k, "value") == 0) {
            bson_t v;
            bson_append_document_begin(&output, name, -1, &v);
            bson_append_iter(&v, "$fillValue", -1, &opt);
            bson_append_document_end(&output, &v);
         } else if (strcmp(k, "method") == 0) {
            const char *m = BSON_ITER_HOLDS_UTF8(&opt) ? bson_iter_utf8(&opt, NULL) : "";
            bson_t v;
            char *path = bson_strdup_printf("$%s", name);
            if (strcmp(m, "linear") != 0 && strcmp(m, "locf") != 0) {
               bson_free(path);
               bson_append_document_end(&swf, &output);
               error_set(error, 6050202, "Method must be either 'linear' or 'locf'");
               goto done;
            }
            if (m[0] == 'l' && m[1] == 'i' && !has_sort) {
               bson_free(path);
               bson_append_document_end(&swf, &output);
               error_set(error, 605001, "'$linearFill' requires a sortBy");
               goto done;
            }
            bson_append_document_begin(&output, name, -1, &v);
            bson_append_utf8(&v, m[1] == 'i' ? "$linearFill" : "$locf", -1, path, -1);
            bson_append_document_end(&output, &v);
            bson_free(path);
         } else {
            bson_append_document_end(&swf, &output);
            error_set(error, 40415, "BSON field '$fill.output.%s.%s' is an unknown field.", name,
                      k);
            goto done;
         }
      }
      if (!seen) {
         bson_append_document_end(&swf, &output);
         error_set(error, 6050203,
                   "Exactly one of 'value' and 'method' must be specified in a "
                   "$fill output specification");
         goto done;
      }
   }
   bson_append_document_end(&swf, &output);
   {
      bson_t holder = BSON_INITIALIZER;
      bson_iter_t it;
      bson_append_document(&holder, "s", 1, &swf);
      bson_iter_init_find(&it, &holder, "s");
      w = stage_window_compile(&it, error);
      bson_destroy(&holder);
   }

done:
   bson_destroy(&swf);
   return w;
}

bool
stage_window_check_vars(const stage_window_t *w, const fe_expr_var_t *scope, fe_error_t *error)
{
   if (!expr_check_vars(w->partition_by, scope, error)) {
      return false;
   }
   for (size_t i = 0; i < w->n_outs; i++) {
      const wout_t *o = &w->outs[i];
      if ((o->acc && !stage_group_check_vars(o->acc, scope, error)) ||
          !expr_check_vars(o->input, scope, error) || !expr_check_vars(o->input2, scope, error) ||
          !expr_check_vars(o->def, scope, error)) {
         return false;
      }
   }
   return true;
}

/* Wraps each document as {p: <partition key>, d: <document>}. */
bool
stage_window_run(const stage_window_t *w, const fe_expr_var_t *vars, bson_t *const *docs,
                 size_t count, stage_docs_t *out, fe_error_t *error)
{
   bson_t **wrapped = bson_malloc0(sizeof *wrapped * (count + 1));
   row_t *rows = bson_malloc0(sizeof *rows * (count + 1));
   bson_value_t *results = NULL;
   size_t bytes = 0, start = 0;
   bool ok = false;

   for (size_t i = 0; i < count; i++) {
      bson_value_t key = {0};
      bytes += docs[i]->len;
      if (bytes > PIPELINE_STAGE_MEMORY_LIMIT) {
         error_set(error, 292,
                   "$setWindowFields exceeded its memory limit of %d bytes; use allowDiskUse",
                   PIPELINE_STAGE_MEMORY_LIMIT);
         goto done;
      }
      if (w->partition_by && !expr_evaluate(w->partition_by, docs[i], vars, &key, error)) {
         goto done;
      }
      wrapped[i] = bson_new();
      if (key.value_type == BSON_TYPE_EOD) {
         bson_append_null(wrapped[i], "p", 1);
      } else {
         bson_append_value(wrapped[i], "p", 1, &key);
      }
      bson_append_document(wrapped[i], "d", 1, docs[i]);
      bson_value_destroy(&key);
   }
   sort_documents(w->sort, (const bson_t **) wrapped, count);
   for (size_t i = 0; i < count; i++) {
      bson_iter_t iter, d;
      bson_iter_init_find(&iter, wrapped[i], "d");
      bson_iter_recurse(&iter, &d);
      rows[i].doc = NULL;
      memset(&rows[i].key, 0, sizeof rows[i].key);
      if (w->sort_path && bson_iter_find_descendant(&d, w->sort_path, &d)) {
         rows[i].key = *bson_iter_value(&d);
      }
   }
   {
      /* The documents themselves, borrowed from the wrappers. */
      bson_t *inner = bson_malloc0(sizeof *inner * (count + 1));
      results = bson_malloc0(sizeof *results * (count * (w->n_outs ? w->n_outs : 1) + 1));
      for (size_t i = 0; i < count; i++) {
         bson_iter_t iter;
         uint32_t len;
         const uint8_t *data;
         bson_iter_init_find(&iter, wrapped[i], "d");
         bson_iter_document(&iter, &len, &data);
         bson_init_static(&inner[i], data, len);
         rows[i].doc = &inner[i];
      }
      ok = true;
      for (size_t i = 1; i <= count && ok; i++) {
         bson_iter_t a, b;
         if (i < count) {
            bson_iter_init_find(&a, wrapped[i - 1], "p");
            bson_iter_init_find(&b, wrapped[i], "p");
            if (expr_compare_values(bson_iter_value(&a), bson_iter_value(&b)) == 0 &&
                bson_iter_type(&a) == bson_iter_type(&b)) {
               continue;
            }
         }
         ok =
            compute_partition(w, vars, rows + start, i - start, results + start * w->n_outs, error);
         start = i;
      }
      for (size_t i = 0; i < count && ok; i++) {
         bson_t cur, next;
         bson_copy_to(rows[i].doc, &cur);
         for (size_t k = 0; k < w->n_outs; k++) {
            bson_value_t *v = &results[i * w->n_outs + k];
            bson_init(&next);
            if (w->outs[k].fn == WFN_VALUE && v->value_type == BSON_TYPE_EOD) {
               bson_copy_to(&cur, &next); /* the field was not null: left as it is */
            } else {
               if (v->value_type == BSON_TYPE_EOD) {
                  set_null(v);
               }
               stage_set_path(&cur, w->outs[k].field, v, &next);
            }
            bson_destroy(&cur);
            bson_copy_to(&next, &cur);
            bson_destroy(&next);
         }
         stage_docs_push(out, bson_copy(&cur));
         bson_destroy(&cur);
      }
      bson_free(inner);
   }

done:
   if (results) {
      for (size_t i = 0; i < count * w->n_outs; i++) {
         bson_value_destroy(&results[i]);
      }
   }
   bson_free(results);
   for (size_t i = 0; i < count; i++) {
      if (wrapped[i]) {
         bson_destroy(wrapped[i]);
      }
   }
   bson_free(wrapped);
   bson_free(rows);
   return ok;
}

void
stage_window_destroy(stage_window_t *w)
{
   if (!w) {
      return;
   }
   expr_destroy(w->partition_by);
   if (w->sort_spec) {
      bson_destroy(w->sort_spec);
   }
   sort_destroy(w->sort);
   bson_free(w->sort_path);
   for (size_t i = 0; i < w->n_outs; i++) {
      bson_free(w->outs[i].field);
      stage_group_destroy(w->outs[i].acc);
      expr_destroy(w->outs[i].input);
      expr_destroy(w->outs[i].input2);
      expr_destroy(w->outs[i].def);
   }
   bson_free(w->outs);
   bson_free(w);
}

/*
 * Compilation
 */

static const struct {
   const char *name;
   wfn_t fn;
} functions[] = {
   {"$addToSet", WFN_ACC},
   {"$avg", WFN_ACC},
   {"$count", WFN_ACC},
   {"$covariancePop", WFN_COVARIANCE_POP},
   {"$covarianceSamp", WFN_COVARIANCE_SAMP},
   {"$denseRank", WFN_DENSE_RANK},
   {"$derivative", WFN_DERIVATIVE},
   {"$documentNumber", WFN_DOCUMENT_NUMBER},
   {"$expMovingAvg", WFN_EXP_MOVING_AVG},
   {"$fillValue", WFN_VALUE},
   {"$first", WFN_ACC},
   {"$integral", WFN_INTEGRAL},
   {"$last", WFN_ACC},
   {"$linearFill", WFN_LINEAR_FILL},
   {"$locf", WFN_LOCF},
   {"$max", WFN_ACC},
   {"$min", WFN_ACC},
   {"$push", WFN_ACC},
   {"$rank", WFN_RANK},
   {"$shift", WFN_SHIFT},
   {"$stdDevPop", WFN_ACC},
   {"$stdDevSamp", WFN_ACC},
   {"$sum", WFN_ACC},
};

static bool
compile_output(stage_window_t *w, const char *field, const bson_iter_t *spec, fe_error_t *error)
{
   wout_t *o = &w->outs[w->n_outs++];
   bson_iter_t sub, fn_iter, window;
   bool has_fn = false, has_window = false;
   size_t k;

   o->field = bson_strdup(field);
   if (field[0] == '$') {
      return error_set(error, 16410, "FieldPath field names may not start with '$'.");
   }
   if (!BSON_ITER_HOLDS_DOCUMENT(spec)) {
      return error_set(error, FE_FailedToParse, "output field '%s' must be an object", field);
   }
   bson_iter_recurse(spec, &sub);
   while (bson_iter_next(&sub)) {
      const char *key = bson_iter_key(&sub);
      if (strcmp(key, "window") == 0) {
         has_window = true;
         window = sub;
      } else if (key[0] == '$') {
         if (has_fn) {
            return error_set(error, FE_FailedToParse,
                             "Window function found an unknown argument: %s", key);
         }
         has_fn = true;
         fn_iter = sub;
      } else {
         return error_set(error, FE_FailedToParse, "Window function found an unknown argument: %s",
                          key);
      }
   }
   if (!has_fn) {
      return error_set(error, FE_FailedToParse, "Expected a $-prefixed window function, %s", field);
   }
   for (k = 0; k < sizeof functions / sizeof functions[0]; k++) {
      if (strcmp(functions[k].name, bson_iter_key(&fn_iter)) == 0) {
         break;
      }
   }
   if (k == sizeof functions / sizeof functions[0]) {
      return error_set(error, FE_FailedToParse, "Unrecognized window function, %s",
                       bson_iter_key(&fn_iter));
   }
   o->fn = functions[k].fn;
   o->op = functions[k].name;

   switch (o->fn) {
   case WFN_RANK:
   case WFN_DENSE_RANK:
   case WFN_DOCUMENT_NUMBER: {
      bson_iter_t args;
      if (has_window) {
         return error_set(error, 5371601, "Rank style window functions take no other arguments");
      }
      if (!BSON_ITER_HOLDS_DOCUMENT(&fn_iter) ||
          (bson_iter_recurse(&fn_iter, &args) && bson_iter_next(&args))) {
         return error_set(error, 5371603, "%s must be specified with '{}' as the value", o->op);
      }
      if (w->n_sort_fields != 1) {
         return error_set(error, 5371602,
                          "%s must be specified with a top level sortBy expression with exactly "
                          "one element",
                          o->op);
      }
      return true;
   }
   case WFN_SHIFT: {
      static const char *const names[] = {"output", "by", "default"};
      bool seen[3] = {false, false, false};
      if (!BSON_ITER_HOLDS_DOCUMENT(&fn_iter)) {
         return error_set(error, FE_FailedToParse, "Argument to $shift must be an object");
      }
      if (has_window) {
         return error_set(error, FE_FailedToParse, "$shift does not accept a 'window' field");
      }
      bson_iter_recurse(&fn_iter, &sub);
      while (bson_iter_next(&sub)) {
         size_t i;
         for (i = 0; i < 3 && strcmp(names[i], bson_iter_key(&sub)) != 0; i++) {
         }
         if (i == 3) {
            return error_set(error, FE_FailedToParse, "$shift got unexpected argument: %s",
                             bson_iter_key(&sub));
         }
         seen[i] = true;
         if (i == 0 && !(o->input = expr_compile(&sub, error))) {
            return false;
         }
         if (i == 1) {
            double d = BSON_ITER_HOLDS_NUMBER(&sub) ? bson_iter_as_double(&sub) : 0.5;
            if (d != floor(d) || fabs(d) > 2147483647.0) {
               return error_set(error, FE_FailedToParse,
                                "'$shift:by' field must be an integer, but found %s",
                                update_util_type_name(bson_iter_type(&sub)));
            }
            o->by = (int64_t) d;
         }
         if (i == 2) {
            const bson_value_t *c;
            if (!(o->def = expr_compile(&sub, error))) {
               return false;
            }
            if (!expr_is_constant(o->def, &c)) {
               return error_set(error, FE_FailedToParse,
                                "'$shift:default' expression must yield a constant value.");
            }
         }
      }
      if (!seen[0] || !seen[1]) {
         return error_set(error, FE_FailedToParse, "$shift requires an 'output' and 'by' field");
      }
      if (!w->sort_spec) {
         return error_set(error, 5613100, "$shift requires a sortBy");
      }
      return true;
   }
   case WFN_EXP_MOVING_AVG: {
      bool has_n = false, has_alpha = false;
      if (!BSON_ITER_HOLDS_DOCUMENT(&fn_iter)) {
         return error_set(error, FE_FailedToParse,
                          "$expMovingAvg must have exactly one argument that is an object");
      }
      if (has_window) {
         return error_set(error, FE_FailedToParse, "$expMovingAvg does not accept a window");
      }
      bson_iter_recurse(&fn_iter, &sub);
      while (bson_iter_next(&sub)) {
         const char *key = bson_iter_key(&sub);
         if (strcmp(key, "input") == 0) {
            if (!(o->input = expr_compile(&sub, error))) {
               return false;
            }
         } else if (strcmp(key, "N") == 0) {
            double n = BSON_ITER_HOLDS_NUMBER(&sub) ? bson_iter_as_double(&sub) : 0;
            if (!BSON_ITER_HOLDS_NUMBER(&sub) || n != floor(n) || n <= 0) {
               return error_set(error, FE_FailedToParse,
                                "'N' field must be an integer, but found type %s",
                                update_util_type_name(bson_iter_type(&sub)));
            }
            o->alpha = 2.0 / (n + 1.0);
            has_n = true;
         } else if (strcmp(key, "alpha") == 0) {
            double a = BSON_ITER_HOLDS_NUMBER(&sub) || BSON_ITER_HOLDS_DECIMAL128(&sub)
                          ? update_util_to_double(bson_iter_value(&sub))
                          : 0;
            if (!(a > 0 && a < 1)) {
               return error_set(error, FE_FailedToParse,
                                "'alpha' must be between 0 and 1 (exclusive), found alpha: %g", a);
            }
            o->alpha = a;
            has_alpha = true;
         } else {
            return error_set(error, FE_FailedToParse,
                             "Got unrecognized field in $expMovingAvg, $expMovingAvg sub object "
                             "must have exactly two fields: An 'input' field, and either an "
                             "'N' field or an 'alpha' field");
         }
      }
      if (!o->input || has_n == has_alpha) {
         return error_set(error, FE_FailedToParse,
                          "$expMovingAvg sub object must have exactly two fields: An 'input' "
                          "field, and either an 'N' field or an 'alpha' field");
      }
      if (!w->sort_spec) {
         return error_set(error, FE_FailedToParse, "$expMovingAvg requires an explicit 'sortBy'");
      }
      return true;
   }
   case WFN_DERIVATIVE:
   case WFN_INTEGRAL: {
      if (!BSON_ITER_HOLDS_DOCUMENT(&fn_iter)) {
         return error_set(error, FE_FailedToParse, "%s expects an object, but got a %s", o->op,
                          update_util_type_name(bson_iter_type(&fn_iter)));
      }
      bson_iter_recurse(&fn_iter, &sub);
      while (bson_iter_next(&sub)) {
         const char *key = bson_iter_key(&sub);
         if (strcmp(key, "input") == 0) {
            if (!(o->input = expr_compile(&sub, error))) {
               return false;
            }
         } else if (strcmp(key, "unit") == 0) {
            if (!BSON_ITER_HOLDS_UTF8(&sub)) {
               return error_set(error, FE_FailedToParse, "%s 'unit' must be a string", o->op);
            }
            if (!parse_unit(bson_iter_utf8(&sub, NULL), &o->unit_ms, error)) {
               return false;
            }
            if (o->unit_ms == 0) {
               return error_set(error, 5490704, "unit must be 'week' or smaller");
            }
         } else {
            return error_set(error, FE_FailedToParse, "%s got unexpected argument: %s", o->op, key);
         }
      }
      if (!o->input) {
         return error_set(error, FE_FailedToParse, "%s requires an 'input' expression", o->op);
      }
      if (w->n_sort_fields != 1) {
         return error_set(error, 5490702, "%s requires a sortBy that is a single field", o->op);
      }
      if (o->fn == WFN_DERIVATIVE && !has_window) {
         return error_set(error, 5490701, "$derivative requires explicit window bounds");
      }
      break;
   }
   case WFN_COVARIANCE_POP:
   case WFN_COVARIANCE_SAMP: {
      bson_iter_t args;
      size_t count = 0;
      if (BSON_ITER_HOLDS_ARRAY(&fn_iter) && bson_iter_recurse(&fn_iter, &args)) {
         while (bson_iter_next(&args)) {
            count++;
         }
      }
      if (count != 2) {
         return error_set(error, FE_FailedToParse, "%s requires an array of two expressions",
                          o->op);
      }
      bson_iter_recurse(&fn_iter, &args);
      bson_iter_next(&args);
      if (!(o->input = expr_compile(&args, error))) {
         return false;
      }
      bson_iter_next(&args);
      if (!(o->input2 = expr_compile(&args, error))) {
         return false;
      }
      break;
   }
   case WFN_LOCF:
   case WFN_LINEAR_FILL:
   case WFN_VALUE:
      if (has_window) {
         return error_set(error, FE_FailedToParse, "%s does not accept a window", o->op);
      }
      if (!(o->input = expr_compile(&fn_iter, error))) {
         return false;
      }
      if (o->fn == WFN_LINEAR_FILL && w->n_sort_fields != 1) {
         return error_set(error, 605001, "$linearFill requires a sortBy with exactly one field");
      }
      if (o->fn == WFN_LOCF && !w->sort_spec) {
         return error_set(error, 605001, "$locf requires a sortBy");
      }
      return true;
   case WFN_ACC: {
      bson_t group = BSON_INITIALIZER, v;
      bson_append_null(&group, "_id", 3);
      bson_append_document_begin(&group, "v", 1, &v);
      bson_append_iter(&v, o->op, -1, &fn_iter);
      bson_append_document_end(&group, &v);
      o->acc = stage_group_compile(&group, error);
      bson_destroy(&group);
      if (!o->acc) {
         return false;
      }
      break;
   }
   }
   if (has_window) {
      return parse_window(o, &window, error) &&
             (!o->range || w->n_sort_fields == 1 ||
              error_set(error, 5339902, "Range-based bounds require sortBy a single field")) &&
             (o->range || w->sort_spec || (o->lo.unbounded && o->hi.unbounded) ||
              error_set(error, 5339901, "Document-based bounds require a sortBy"));
   }
   return true;
}

/* One bound: "unbounded", "current" or a number (an integer for documents). */
static bool
parse_bound(const bson_iter_t *iter, bool documents, bound_t *b, fe_error_t *error)
{
   memset(b, 0, sizeof *b);
   if (BSON_ITER_HOLDS_UTF8(iter)) {
      const char *s = bson_iter_utf8(iter, NULL);
      if (strcmp(s, "unbounded") == 0) {
         b->unbounded = true;
         return true;
      }
      if (strcmp(s, "current") == 0) {
         return true;
      }
   } else if (BSON_ITER_HOLDS_NUMBER(iter) || BSON_ITER_HOLDS_DECIMAL128(iter)) {
      b->offset = update_util_to_double(bson_iter_value((bson_iter_t *) iter));
      if (!documents || b->offset == floor(b->offset)) {
         return true;
      }
   }
   return error_set(error, FE_FailedToParse,
                    documents ? "Numeric document-based bounds must be an integer"
                              : "Range-based bounds expression must be a number");
}

static bool
parse_window(wout_t *o, const bson_iter_t *window, fe_error_t *error)
{
   bson_iter_t sub, b;
   bool has_documents = false, has_range = false;
   const char *unit = NULL;

   if (!BSON_ITER_HOLDS_DOCUMENT(window)) {
      return error_set(error, FE_FailedToParse, "'window' field must be an object");
   }
   o->has_window = true;
   bson_iter_recurse(window, &sub);
   while (bson_iter_next(&sub)) {
      const char *key = bson_iter_key(&sub);
      bool documents = strcmp(key, "documents") == 0;
      if (strcmp(key, "unit") == 0) {
         if (!BSON_ITER_HOLDS_UTF8(&sub)) {
            return error_set(error, FE_FailedToParse, "'unit' must be a string");
         }
         unit = bson_iter_utf8(&sub, NULL);
         continue;
      }
      if (!documents && strcmp(key, "range") != 0) {
         return error_set(error, FE_FailedToParse,
                          "'window' field that is not documents or range "
                          "or unit: %s",
                          key);
      }
      if (!BSON_ITER_HOLDS_ARRAY(&sub) || !bson_iter_recurse(&sub, &b) || !bson_iter_next(&b) ||
          !parse_bound(&b, documents, &o->lo, error) || !bson_iter_next(&b) ||
          !parse_bound(&b, documents, &o->hi, error) || bson_iter_next(&b)) {
         if (error && error->code) {
            return false;
         }
         return error_set(error, FE_FailedToParse,
                          "Window bounds must be a 2-element array: %s: [lower, upper]", key);
      }
      has_documents = has_documents || documents;
      has_range = has_range || !documents;
   }
   if (has_documents && has_range) {
      return error_set(error, FE_FailedToParse,
                       "Window bounds can specify either 'documents' or 'unit', not both");
   }
   if (unit && !has_range) {
      return error_set(error, FE_FailedToParse,
                       "'unit' can only be specified with range-based "
                       "bounds");
   }
   if (!has_documents && !has_range) {
      o->lo.unbounded = o->hi.unbounded = true;
      return true;
   }
   o->range = has_range;
   if (!o->lo.unbounded && !o->hi.unbounded && o->lo.offset > o->hi.offset) {
      return error_set(error, 5339900, "Lower bound must not exceed upper bound: [%g, %g]",
                       o->lo.offset, o->hi.offset);
   }
   if (unit && !parse_unit(unit, &o->range_unit_ms, error)) {
      return false;
   }
   if (unit && o->range_unit_ms == 0) {
      return error_set(error, FE_FailedToParse, "unit '%s' is not supported for range windows",
                       unit);
   }
   return true;
}

/* A time unit's length in milliseconds; month, quarter and year give 0 (not fixed). */
static bool
parse_unit(const char *unit, int64_t *ms, fe_error_t *error)
{
   static const struct {
      const char *name;
      int64_t ms;
   } units[] = {
      {"millisecond", 1}, {"second", 1000},  {"minute", 60000},
      {"hour", 3600000},  {"day", 86400000}, {"week", 604800000},
      {"month", 0},       {"quarter", 0},    {"year", 0},
   };
   for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
      if (strcmp(units[i].name, unit) == 0) {
         *ms = units[i].ms;
         return true;
      }
   }
   return error_set(error, FE_FailedToParse, "unknown time unit value: %s", unit);
}

/*
 * Running
 */

static bool
compute_partition(const stage_window_t *w, const fe_expr_var_t *vars, row_t *rows, size_t n,
                  bson_value_t *results, fe_error_t *error)
{
   bson_value_t *column = bson_malloc0(sizeof *column * (n + 1));
   bool ok = true;

   for (size_t k = 0; k < w->n_outs && ok; k++) {
      ok = compute_output(w, &w->outs[k], vars, rows, n, column, error);
      for (size_t i = 0; i < n; i++) {
         results[i * w->n_outs + k] = column[i];
         memset(&column[i], 0, sizeof column[i]);
      }
   }
   bson_free(column);
   return ok;
}

/* The empty window's value of an accumulator. */
static void
empty_value(const char *op, bson_value_t *out)
{
   if (strcmp(op, "$sum") == 0 || strcmp(op, "$count") == 0) {
      out->value_type = BSON_TYPE_INT32;
      out->value.v_int32 = 0;
   } else if (strcmp(op, "$push") == 0 || strcmp(op, "$addToSet") == 0) {
      static const uint8_t empty[5] = {5, 0, 0, 0, 0};
      bson_t arr;
      bson_init_static(&arr, empty, 5);
      out->value_type = BSON_TYPE_ARRAY;
      out->value.v_doc.data_len = 5;
      out->value.v_doc.data = bson_malloc(5);
      memcpy(out->value.v_doc.data, empty, 5);
   } else {
      set_null(out);
   }
}

/* Runs the $group accumulator over rows[lo..hi] into *out. */
static bool
accumulate(const wout_t *o, const fe_expr_var_t *vars, const row_t *rows, size_t lo, size_t hi,
           bool empty, bson_value_t *out, fe_error_t *error)
{
   stage_group_run_t *run;
   bson_t **docs = NULL;
   size_t count = 0;
   bson_iter_t iter;

   memset(out, 0, sizeof *out);
   if (empty) {
      empty_value(o->op, out);
      return true;
   }
   run = stage_group_start(o->acc);
   for (size_t j = lo; j <= hi; j++) {
      if (!stage_group_add(run, rows[j].doc, vars, error)) {
         stage_group_run_destroy(run);
         return false;
      }
   }
   stage_group_finish(run, &docs, &count);
   if (count == 1 && bson_iter_init_find(&iter, docs[0], "v")) {
      bson_value_copy(bson_iter_value(&iter), out);
   }
   for (size_t d = 0; d < count; d++) {
      bson_destroy(docs[d]);
   }
   bson_free(docs);
   return true;
}

static bool
same_key(const stage_window_t *w, const row_t *a, const row_t *b)
{
   (void) w;
   return expr_compare_values(&a->key, &b->key) == 0;
}

static bool
compute_output(const stage_window_t *w, const wout_t *o, const fe_expr_var_t *vars, row_t *rows,
               size_t n, bson_value_t *results, fe_error_t *error)
{
   switch (o->fn) {
   case WFN_RANK:
   case WFN_DENSE_RANK:
   case WFN_DOCUMENT_NUMBER: {
      int64_t rank = 0, dense = 0;
      for (size_t i = 0; i < n; i++) {
         bool tie = i > 0 && same_key(w, &rows[i - 1], &rows[i]);
         if (!tie) {
            rank = (int64_t) i + 1;
            dense++;
         }
         results[i].value_type = BSON_TYPE_INT32;
         results[i].value.v_int32 = (int32_t) (o->fn == WFN_RANK         ? rank
                                               : o->fn == WFN_DENSE_RANK ? dense
                                                                         : (int64_t) i + 1);
      }
      return true;
   }
   case WFN_SHIFT:
      for (size_t i = 0; i < n; i++) {
         int64_t j = (int64_t) i + o->by;
         if (j >= 0 && j < (int64_t) n) {
            if (!expr_evaluate(o->input, rows[j].doc, vars, &results[i], error)) {
               return false;
            }
            if (results[i].value_type == BSON_TYPE_EOD) {
               set_null(&results[i]);
            }
         } else if (o->def) {
            if (!expr_evaluate(o->def, rows[i].doc, vars, &results[i], error)) {
               return false;
            }
         } else {
            set_null(&results[i]);
         }
      }
      return true;
   case WFN_LOCF:
   case WFN_VALUE: {
      bson_value_t last = {0};
      for (size_t i = 0; i < n; i++) {
         bson_value_t v;
         if (o->fn == WFN_VALUE) {
            /* $fill value: only where the field is null or missing. */
            bson_iter_t it;
            bool present = false;
            if (bson_iter_init(&it, rows[i].doc) && bson_iter_find_descendant(&it, o->field, &it)) {
               present = !BSON_ITER_HOLDS_NULL(&it);
            }
            if (!present && !expr_evaluate(o->input, rows[i].doc, vars, &results[i], error)) {
               return false;
            }
            continue;
         }
         if (!expr_evaluate(o->input, rows[i].doc, vars, &v, error)) {
            bson_value_destroy(&last);
            return false;
         }
         if (v.value_type != BSON_TYPE_EOD && v.value_type != BSON_TYPE_NULL &&
             v.value_type != BSON_TYPE_UNDEFINED) {
            bson_value_destroy(&last);
            bson_value_copy(&v, &last);
         }
         bson_value_destroy(&v);
         if (last.value_type != BSON_TYPE_EOD) {
            bson_value_copy(&last, &results[i]);
         } else {
            set_null(&results[i]);
         }
      }
      bson_value_destroy(&last);
      return true;
   }
   case WFN_LINEAR_FILL: {
      double *y = bson_malloc0(sizeof *y * (n + 1));
      bool *has = bson_malloc0(sizeof *has * (n + 1));
      bool ok = true;
      for (size_t i = 0; i < n && ok; i++) {
         bson_value_t v;
         ok = expr_evaluate(o->input, rows[i].doc, vars, &v, error);
         if (ok && v.value_type != BSON_TYPE_EOD && v.value_type != BSON_TYPE_NULL) {
            if (!update_util_is_number(v.value_type)) {
               ok = error_set(error, 6050106,
                              "There can be no repeated values in the sort field, and the input "
                              "to $linearFill must be numeric");
            } else {
               y[i] = update_util_to_double(&v);
               has[i] = true;
               bson_value_copy(&v, &results[i]);
            }
         }
         bson_value_destroy(&v);
      }
      for (size_t i = 0; i < n && ok; i++) {
         size_t a = i, b = i;
         double xi, xa, xb;
         if (has[i]) {
            continue;
         }
         while (a > 0 && !has[a - 1]) {
            a--;
         }
         while (b < n && !has[b]) {
            b++;
         }
         if (a == 0 || b == n) {
            set_null(&results[i]);
            continue;
         }
         a--;
         if (!key_number(o, &rows[i].key, false, &xi, error) ||
             !key_number(o, &rows[a].key, false, &xa, error) ||
             !key_number(o, &rows[b].key, false, &xb, error)) {
            ok = false;
            break;
         }
         set_double(&results[i], xb == xa ? y[a] : y[a] + (y[b] - y[a]) * (xi - xa) / (xb - xa));
      }
      bson_free(y);
      bson_free(has);
      return ok;
   }
   case WFN_EXP_MOVING_AVG: {
      bool have = false;
      double prev = 0;
      for (size_t i = 0; i < n; i++) {
         double x;
         bool numeric;
         if (!eval_number(o->input, rows[i].doc, vars, &x, &numeric, error)) {
            return false;
         }
         if (!numeric) {
            set_null(&results[i]);
            continue;
         }
         prev = have ? o->alpha * x + (1 - o->alpha) * prev : x;
         have = true;
         set_double(&results[i], prev);
      }
      return true;
   }
   default:
      break;
   }

   /* The windowed functions. */
   for (size_t i = 0; i < n; i++) {
      size_t lo = 0, hi = 0;
      int found = window_of(o, rows, n, i, &lo, &hi, error);
      bool empty = found == 0;
      if (found < 0) {
         return false;
      }
      switch (o->fn) {
      case WFN_ACC:
         if (!accumulate(o, vars, rows, lo, hi, empty, &results[i], error)) {
            return false;
         }
         break;
      case WFN_DERIVATIVE: {
         double x0, x1, y0, y1;
         bool n0, n1;
         if (empty || lo == hi) {
            set_null(&results[i]);
            break;
         }
         if (!key_number(o, &rows[lo].key, false, &x0, error) ||
             !key_number(o, &rows[hi].key, false, &x1, error) ||
             !eval_number(o->input, rows[lo].doc, vars, &y0, &n0, error) ||
             !eval_number(o->input, rows[hi].doc, vars, &y1, &n1, error)) {
            return false;
         }
         if (!n0 || !n1 || x1 == x0) {
            set_null(&results[i]);
         } else {
            set_double(&results[i], (y1 - y0) / (x1 - x0));
         }
         break;
      }
      case WFN_INTEGRAL: {
         double sum = 0, px = 0, py = 0;
         bool have = false;
         for (size_t j = lo; !empty && j <= hi; j++) {
            double x, y;
            bool numeric;
            if (!key_number(o, &rows[j].key, false, &x, error) ||
                !eval_number(o->input, rows[j].doc, vars, &y, &numeric, error)) {
               return false;
            }
            if (!numeric) {
               continue;
            }
            if (have) {
               sum += (x - px) * (y + py) / 2;
            }
            px = x;
            py = y;
            have = true;
         }
         if (have) {
            set_double(&results[i], sum);
         } else {
            set_null(&results[i]);
         }
         break;
      }
      case WFN_COVARIANCE_POP:
      case WFN_COVARIANCE_SAMP: {
         double sx = 0, sy = 0, sxy = 0;
         int64_t count = 0;
         for (size_t j = lo; !empty && j <= hi; j++) {
            double x, y;
            bool nx, ny;
            if (!eval_number(o->input, rows[j].doc, vars, &x, &nx, error) ||
                !eval_number(o->input2, rows[j].doc, vars, &y, &ny, error)) {
               return false;
            }
            if (nx && ny) {
               sx += x;
               sy += y;
               sxy += x * y;
               count++;
            }
         }
         if (count == 0 || (o->fn == WFN_COVARIANCE_SAMP && count < 2)) {
            set_null(&results[i]);
         } else {
            double c = sxy - sx * sy / (double) count;
            set_double(&results[i],
                       c / (double) (o->fn == WFN_COVARIANCE_SAMP ? count - 1 : count));
         }
         break;
      }
      default:
         set_null(&results[i]);
         break;
      }
   }
   return true;
}

/* Sets [*lo, *hi] to the window of row i: 1, or 0 when it is empty, -1 on error. */
static int
window_of(const wout_t *o, const row_t *rows, size_t n, size_t i, size_t *lo, size_t *hi,
          fe_error_t *error)
{
   double xi;

   if (!o->has_window || (o->lo.unbounded && o->hi.unbounded)) {
      *lo = 0;
      *hi = n - 1;
      return n > 0 ? 1 : 0;
   }
   if (!o->range) {
      double l = o->lo.unbounded ? 0 : (double) i + o->lo.offset;
      double h = o->hi.unbounded ? (double) n - 1 : (double) i + o->hi.offset;
      if (l < 0) {
         l = 0;
      }
      if (h > (double) n - 1) {
         h = (double) n - 1;
      }
      if (l > h) {
         return 0;
      }
      *lo = (size_t) l;
      *hi = (size_t) h;
      return 1;
   }
   if (!key_number(o, &rows[i].key, true, &xi, error)) {
      return -1;
   }
   {
      double lo_x = xi + o->lo.offset * (double) (o->range_unit_ms ? o->range_unit_ms : 1);
      double hi_x = xi + o->hi.offset * (double) (o->range_unit_ms ? o->range_unit_ms : 1);
      bool found = false;
      for (size_t j = 0; j < n; j++) {
         double x;
         if (!key_number(o, &rows[j].key, true, &x, error)) {
            return -1;
         }
         if ((o->lo.unbounded || x >= lo_x) && (o->hi.unbounded || x <= hi_x)) {
            if (!found) {
               *lo = j;
            }
            *hi = j;
            found = true;
         }
      }
      return found ? 1 : 0;
   }
}

/* The sortBy value as a number: for a range window (range) numbers as they are and dates in
 * milliseconds (only with a unit, as MongoDB requires); for $derivative, $integral and
 * $linearFill dates in the function's unit. */
static bool
key_number(const wout_t *o, const bson_value_t *key, bool range, double *x, fe_error_t *error)
{
   if (key->value_type == BSON_TYPE_DATE_TIME) {
      if (range && !o->range_unit_ms) {
         return error_set(error, 5429513,
                          "Invalid range: Expected the sortBy field to be a number, but it "
                          "was a date");
      }
      if (!range && (o->fn == WFN_DERIVATIVE || o->fn == WFN_INTEGRAL) && !o->unit_ms) {
         return error_set(error, 5624901,
                          "%s with sortBy set to Date type requires the 'unit' argument", o->op);
      }
      *x = (double) key->value.v_datetime / (double) (range || !o->unit_ms ? 1 : o->unit_ms);
      return true;
   }
   if (update_util_is_number(key->value_type)) {
      if (range && o->range_unit_ms) {
         return error_set(error, 5429513,
                          "Invalid range: Expected the sortBy field to be a date, but it was %s",
                          update_util_type_name(key->value_type));
      }
      if (!range && o->unit_ms && (o->fn == WFN_DERIVATIVE || o->fn == WFN_INTEGRAL)) {
         return error_set(error, 5624900, "%s with a 'unit' requires a date sortBy", o->op);
      }
      *x = update_util_to_double(key);
      return true;
   }
   return error_set(error, 5429414,
                    "Invalid range: Expected the sortBy field to be a number or a date, but it "
                    "was %s",
                    key->value_type == BSON_TYPE_EOD ? "missing"
                                                     : update_util_type_name(key->value_type));
}

static bool
eval_number(const fe_expr_t *e, const bson_t *doc, const fe_expr_var_t *vars, double *x,
            bool *numeric, fe_error_t *error)
{
   bson_value_t v;
   if (!expr_evaluate(e, doc, vars, &v, error)) {
      return false;
   }
   *numeric = update_util_is_number(v.value_type);
   *x = *numeric ? update_util_to_double(&v) : 0;
   bson_value_destroy(&v);
   return true;
}

static void
set_double(bson_value_t *out, double d)
{
   memset(out, 0, sizeof *out);
   out->value_type = BSON_TYPE_DOUBLE;
   out->value.v_double = d;
}

static void
set_null(bson_value_t *out)
{
   memset(out, 0, sizeof *out);
   out->value_type = BSON_TYPE_NULL;
}
