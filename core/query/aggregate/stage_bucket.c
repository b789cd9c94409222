/*
 * stage_bucket.c: $bucket (translated to $group + $sort, as MongoDB does) and $bucketAuto
 * (sorted input cut into buckets of about equal size, with $group's accumulators per bucket
 * and the optional preferred-number granularities).
 */
#include "query/aggregate/pipeline_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bson/compare.h"
#include "query/update_int.h"

struct stage_bucket_auto {
   fe_expr_t *group_by; /* owned */
   int32_t buckets;
   stage_group_t *accumulators; /* owned; {_id: null, <output>} */
   const double *series;        /* static; NULL without granularity or for POWERSOF2 */
   size_t series_len;
   bool powers_of_two;
   bool granularity;
};

typedef struct entry {
   bson_value_t key; /* owned */
   size_t pos;       /* the input position, for a stable sort */
} entry_t;

typedef struct bucket_state {
   const stage_bucket_auto_t *spec;
   const fe_expr_var_t *vars;
   bson_t *const *docs;
   entry_t *entries;
   size_t n;
   size_t next; /* the next entry not yet in a bucket */
} bucket_state_t;

static bool is_group_by(const bson_iter_t *iter);
static bool constant_value(const bson_iter_t *iter, bson_value_t *out);
static void append_literal(bson_t *doc, const char *key, const bson_value_t *value);
static int compare_entries(const void *a, const void *b);
static bool granularity_lookup(stage_bucket_auto_t *b, const char *name, fe_error_t *error);
static void round_value(const stage_bucket_auto_t *b, const bson_value_t *in, bool up,
                        bson_value_t *out);

/* Preferred numbers (the Renard series, the E series of IEC 60063 and 1-2-5), one decade
 * each, the next decade's first value last. */
static const double r5[] = {1.0, 1.6, 2.5, 4.0, 6.3, 10.0};
static const double r10[] = {1.0, 1.25, 1.6, 2.0, 2.5, 3.15, 4.0, 5.0, 6.3, 8.0, 10.0};
static const double r20[] = {1.0,  1.12, 1.25, 1.4, 1.6, 1.8, 2.0, 2.24, 2.5, 2.8, 3.15,
                             3.55, 4.0,  4.5,  5.0, 5.6, 6.3, 7.1, 8.0,  9.0, 10.0};
static const double r40[] = {1.0,  1.06, 1.12, 1.18, 1.25, 1.32, 1.4,  1.5, 1.6, 1.7,  1.8,
                             1.9,  2.0,  2.12, 2.24, 2.36, 2.5,  2.65, 2.8, 3.0, 3.15, 3.35,
                             3.55, 3.75, 4.0,  4.25, 4.5,  4.75, 5.0,  5.3, 5.6, 6.0,  6.3,
                             6.7,  7.1,  7.5,  8.0,  8.5,  9.0,  9.5,  10.0};
static const double r80[] = {1.0, 1.03, 1.06, 1.09, 1.12, 1.15, 1.18, 1.22, 1.25, 1.28, 1.32, 1.36,
                             1.4, 1.45, 1.5,  1.55, 1.6,  1.65, 1.7,  1.75, 1.8,  1.85, 1.9,  1.95,
                             2.0, 2.06, 2.12, 2.18, 2.24, 2.3,  2.36, 2.43, 2.5,  2.58, 2.65, 2.72,
                             2.8, 2.9,  3.0,  3.07, 3.15, 3.25, 3.35, 3.45, 3.55, 3.65, 3.75, 3.87,
                             4.0, 4.12, 4.25, 4.37, 4.5,  4.62, 4.75, 4.87, 5.0,  5.15, 5.3,  5.45,
                             5.6, 5.8,  6.0,  6.15, 6.3,  6.5,  6.7,  6.9,  7.1,  7.3,  7.5,  7.75,
                             8.0, 8.25, 8.5,  8.75, 9.0,  9.25, 9.5,  9.75, 10.0};
static const double one_two_five[] = {1.0, 2.0, 5.0, 10.0};
static const double e6[] = {1.0, 1.5, 2.2, 3.3, 4.7, 6.8, 10.0};
static const double e12[] = {1.0, 1.2, 1.5, 1.8, 2.2, 2.7, 3.3, 3.9, 4.7, 5.6, 6.8, 8.2, 10.0};
static const double e24[] = {1.0, 1.1, 1.2, 1.3, 1.5, 1.6, 1.8, 2.0, 2.2, 2.4, 2.7, 3.0, 3.3,
                             3.6, 3.9, 4.3, 4.7, 5.1, 5.6, 6.2, 6.8, 7.5, 8.2, 9.1, 10.0};
static const double e48[] = {1.0,  1.05, 1.1,  1.15, 1.21, 1.27, 1.33, 1.4,  1.47, 1.54,
                             1.62, 1.69, 1.78, 1.87, 1.96, 2.05, 2.15, 2.26, 2.37, 2.49,
                             2.61, 2.74, 2.87, 3.01, 3.16, 3.32, 3.48, 3.65, 3.83, 4.02,
                             4.22, 4.42, 4.64, 4.87, 5.11, 5.36, 5.62, 5.9,  6.19, 6.49,
                             6.81, 7.15, 7.5,  7.87, 8.25, 8.66, 9.09, 9.53, 10.0};
static const double e96[] = {
   1.0,  1.02, 1.05, 1.07, 1.1,  1.13, 1.15, 1.18, 1.21, 1.24, 1.27, 1.3,  1.33, 1.37,
   1.4,  1.43, 1.47, 1.5,  1.54, 1.58, 1.62, 1.65, 1.69, 1.74, 1.78, 1.82, 1.87, 1.91,
   1.96, 2.0,  2.05, 2.1,  2.15, 2.21, 2.26, 2.32, 2.37, 2.43, 2.49, 2.55, 2.61, 2.67,
   2.74, 2.8,  2.87, 2.94, 3.01, 3.09, 3.16, 3.24, 3.32, 3.4,  3.48, 3.57, 3.65, 3.74,
   3.83, 3.92, 4.02, 4.12, 4.22, 4.32, 4.42, 4.53, 4.64, 4.75, 4.87, 4.99, 5.11, 5.23,
   5.36, 5.49, 5.62, 5.76, 5.9,  6.04, 6.19, 6.34, 6.49, 6.65, 6.81, 6.98, 7.15, 7.32,
   7.5,  7.68, 7.87, 8.06, 8.25, 8.45, 8.66, 8.87, 9.09, 9.31, 9.53, 9.76, 10.0};

#define SERIES(name, table)                                                                        \
   {                                                                                               \
      name, table, sizeof table / sizeof table[0]                                                  \
   }
static const struct {
   const char *name;
   const double *values;
   size_t len;
} series_table[] = {
   SERIES("R5", r5),   SERIES("R10", r10), SERIES("R20", r20),
   SERIES("R40", r40), SERIES("R80", r80), SERIES("1-2-5", one_two_five),
   SERIES("E6", e6),   SERIES("E12", e12), SERIES("E24", e24),
   SERIES("E48", e48), SERIES("E96", e96),
};

/*
 * $bucket
 */

bool
stage_bucket_group_spec(const bson_iter_t *spec, bson_t *group, fe_error_t *error)
{
   bson_iter_t iter, elem;
   bson_iter_t group_by;
   bool has_group_by = false, has_output = false, has_default = false;
   bson_value_t *bounds = NULL; /* owned, each owned */
   size_t n_bounds = 0;
   bson_value_t def = {0};
   bson_t output = BSON_INITIALIZER, id, sw, branches, branch, cond, and, cmp, arr;
   bool ok = false;

   bson_init(group);
   if (!BSON_ITER_HOLDS_DOCUMENT(spec)) {
      error_set(error, 40201, "Argument to $bucket stage must be an object, but found type: %s.",
                update_util_type_name(bson_iter_type(spec)));
      goto done;
   }
   bson_iter_recurse(spec, &iter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "groupBy") == 0) {
         if (!is_group_by(&iter)) {
            error_set(error, 40202,
                      "The $bucket 'groupBy' field must be defined as a $-prefixed path or an "
                      "expression");
            goto done;
         }
         group_by = iter;
         has_group_by = true;
      } else if (strcmp(key, "boundaries") == 0) {
         if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
            error_set(error, 40200,
                      "The $bucket 'boundaries' field must be an array, but found type: %s.",
                      update_util_type_name(bson_iter_type(&iter)));
            goto done;
         }
         for (size_t i = 0; i < n_bounds; i++) {
            bson_value_destroy(&bounds[i]);
         }
         n_bounds = 0;
         bson_iter_recurse(&iter, &elem);
         while (bson_iter_next(&elem)) {
            bounds = bson_realloc(bounds, sizeof *bounds * (n_bounds + 1));
            if (!constant_value(&elem, &bounds[n_bounds])) {
               error_set(error, 40191,
                         "The $bucket 'boundaries' field must be an array of constant values");
               goto done;
            }
            n_bounds++;
         }
         if (n_bounds < 2) {
            error_set(error, 40192,
                      "The $bucket 'boundaries' field must have at least 2 values, but found %zu "
                      "value(s).",
                      n_bounds);
            goto done;
         }
         for (size_t i = 1; i < n_bounds; i++) {
            if (compare_type_bracket(bounds[i - 1].value_type) !=
                compare_type_bracket(bounds[i].value_type)) {
               error_set(error, 40193,
                         "All values in the the 'boundaries' option to $bucket must have the "
                         "same type. Found conflicting types %s and %s.",
                         update_util_type_name(bounds[i - 1].value_type),
                         update_util_type_name(bounds[i].value_type));
               goto done;
            }
            if (expr_compare_values(&bounds[i - 1], &bounds[i]) >= 0) {
               error_set(error, 40194,
                         "The 'boundaries' option to $bucket must be sorted, but elements %zu "
                         "and %zu are not in ascending order",
                         i - 1, i);
               goto done;
            }
         }
      } else if (strcmp(key, "default") == 0) {
         bson_value_destroy(&def);
         if (!constant_value(&iter, &def)) {
            error_set(error, 40195, "The $bucket 'default' field must be a constant expression");
            goto done;
         }
         has_default = true;
      } else if (strcmp(key, "output") == 0) {
         uint32_t len;
         const uint8_t *data;
         bson_t sub;
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            error_set(error, 40196,
                      "The $bucket 'output' field must be an object, but found type: %s.",
                      update_util_type_name(bson_iter_type(&iter)));
            goto done;
         }
         bson_iter_document(&iter, &len, &data);
         bson_init_static(&sub, data, len);
         bson_reinit(&output);
         bson_concat(&output, &sub);
         has_output = true;
      } else {
         error_set(error, 40197, "Unrecognized option to $bucket: %s.", key);
         goto done;
      }
   }
   if (!has_group_by || n_bounds == 0) {
      error_set(error, 40198, "$bucket requires 'groupBy' and 'boundaries' to be specified.");
      goto done;
   }
   if (has_default &&
       compare_type_bracket(def.value_type) == compare_type_bracket(bounds[0].value_type) &&
       !(expr_compare_values(&def, &bounds[0]) < 0 ||
         expr_compare_values(&def, &bounds[n_bounds - 1]) >= 0)) {
      error_set(error, 40199,
                "The $bucket 'default' field must be less than the lowest boundary or greater "
                "than or equal to the highest boundary.");
      goto done;
   }

   /* {_id: {$switch: {branches: [{case: {$and: [{$gte: [g, lo]}, {$lt: [g, hi]}]}, then: lo},
    * ...], default: d}}, <output>} */
   bson_append_document_begin(group, "_id", 3, &id);
   bson_append_document_begin(&id, "$switch", 7, &sw);
   bson_append_array_begin(&sw, "branches", 8, &branches);
   for (size_t i = 1; i < n_bounds; i++) {
      char key[16];
      const char *key_ptr;
      bson_uint32_to_string((uint32_t) (i - 1), &key_ptr, key, sizeof key);
      bson_append_document_begin(&branches, key_ptr, -1, &branch);
      bson_append_document_begin(&branch, "case", 4, &cond);
      bson_append_array_begin(&cond, "$and", 4, &and);
      for (int k = 0; k < 2; k++) {
         bson_append_document_begin(&and, k ? "1" : "0", 1, &cmp);
         bson_append_array_begin(&cmp, k ? "$lt" : "$gte", -1, &arr);
         bson_append_iter(&arr, "0", 1, &group_by);
         append_literal(&arr, "1", &bounds[k ? i : i - 1]);
         bson_append_array_end(&cmp, &arr);
         bson_append_document_end(&and, &cmp);
      }
      bson_append_array_end(&cond, &and);
      bson_append_document_end(&branch, &cond);
      append_literal(&branch, "then", &bounds[i - 1]);
      bson_append_document_end(&branches, &branch);
   }
   bson_append_array_end(&sw, &branches);
   if (has_default) {
      append_literal(&sw, "default", &def);
   }
   bson_append_document_end(&id, &sw);
   bson_append_document_end(group, &id);
   if (has_output) {
      bson_concat(group, &output);
   } else {
      bson_t count;
      bson_append_document_begin(group, "count", 5, &count);
      bson_append_int32(&count, "$sum", 4, 1);
      bson_append_document_end(group, &count);
   }
   ok = true;

done:
   for (size_t i = 0; i < n_bounds; i++) {
      bson_value_destroy(&bounds[i]);
   }
   bson_free(bounds);
   bson_value_destroy(&def);
   bson_destroy(&output);
   return ok;
}

/*
 * $bucketAuto
 */

stage_bucket_auto_t *
stage_bucket_auto_compile(const bson_iter_t *spec, fe_error_t *error)
{
   stage_bucket_auto_t *b = bson_malloc0(sizeof *b);
   bson_t group = BSON_INITIALIZER;
   bson_iter_t iter;
   bool has_buckets = false;
   bool has_output = false;

   bson_append_null(&group, "_id", 3);
   if (!BSON_ITER_HOLDS_DOCUMENT(spec)) {
      error_set(error, 40240, "The argument to $bucketAuto must be an object, but found type: %s",
                update_util_type_name(bson_iter_type(spec)));
      goto fail;
   }
   bson_iter_recurse(spec, &iter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "groupBy") == 0) {
         if (!is_group_by(&iter)) {
            error_set(error, 40239,
                      "The $bucketAuto 'groupBy' field must be defined as a $-prefixed path or "
                      "an expression object");
            goto fail;
         }
         expr_destroy(b->group_by);
         if (!(b->group_by = expr_compile(&iter, error))) {
            goto fail;
         }
      } else if (strcmp(key, "buckets") == 0) {
         int64_t n;
         if (!update_util_is_number(bson_iter_type(&iter))) {
            error_set(error, 40241,
                      "The $bucketAuto 'buckets' field must be a numeric value, but found type: "
                      "%s",
                      update_util_type_name(bson_iter_type(&iter)));
            goto fail;
         }
         if (!update_util_to_int64(bson_iter_value(&iter), &n) || n < INT32_MIN || n > INT32_MAX) {
            error_set(error, 40242,
                      "The $bucketAuto 'buckets' field must be representable as a 32-bit "
                      "integer");
            goto fail;
         }
         if (n <= 0) {
            error_set(error, 40243,
                      "The $bucketAuto 'buckets' field must be greater than 0, but found: %d",
                      (int) n);
            goto fail;
         }
         b->buckets = (int32_t) n;
         has_buckets = true;
      } else if (strcmp(key, "output") == 0) {
         uint32_t len;
         const uint8_t *data;
         bson_t sub;
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            error_set(error, 40244,
                      "The $bucketAuto 'output' field must be an object, but found type: %s",
                      update_util_type_name(bson_iter_type(&iter)));
            goto fail;
         }
         bson_iter_document(&iter, &len, &data);
         bson_init_static(&sub, data, len);
         bson_reinit(&group);
         bson_append_null(&group, "_id", 3);
         bson_concat(&group, &sub);
         has_output = !bson_empty(&sub);
      } else if (strcmp(key, "granularity") == 0) {
         if (!BSON_ITER_HOLDS_UTF8(&iter)) {
            error_set(error, 40261,
                      "The $bucketAuto 'granularity' field must be a string, but found type: %s",
                      update_util_type_name(bson_iter_type(&iter)));
            goto fail;
         }
         if (!granularity_lookup(b, bson_iter_utf8(&iter, NULL), error)) {
            goto fail;
         }
      } else {
         error_set(error, 40245, "Unrecognized option to $bucketAuto: %s", key);
         goto fail;
      }
   }
   if (!b->group_by || !has_buckets) {
      error_set(error, 40246, "$bucketAuto requires 'groupBy' and 'buckets' to be specified");
      goto fail;
   }
   if (!has_output) {
      bson_t count;
      bson_append_document_begin(&group, "count", 5, &count);
      bson_append_int32(&count, "$sum", 4, 1);
      bson_append_document_end(&group, &count);
   }
   if (!(b->accumulators = stage_group_compile(&group, error))) {
      goto fail;
   }
   bson_destroy(&group);
   return b;

fail:
   bson_destroy(&group);
   stage_bucket_auto_destroy(b);
   return NULL;
}

/* Adds entry e's document to the bucket's accumulators. */
static bool
bucket_add(bucket_state_t *s, stage_group_run_t *run, size_t e, fe_error_t *error)
{
   return stage_group_add(run, s->docs[s->entries[e].pos], s->vars, error);
}

bool
stage_bucket_auto_run(const stage_bucket_auto_t *b, const fe_expr_var_t *vars, bson_t *const *docs,
                      size_t count, stage_docs_t *out, fe_error_t *error)
{
   bucket_state_t s = {.spec = b, .vars = vars, .docs = docs, .n = count};
   stage_group_run_t *run = NULL;
   bson_value_t min = {0}, max = {0}, previous_max = {0};
   bool has_previous = false;
   size_t bytes = 0;
   size_t approx;
   bool ok = false;

   s.entries = bson_malloc0(sizeof *s.entries * (count + 1));
   for (size_t i = 0; i < count; i++) {
      entry_t *e = &s.entries[i];
      bytes += docs[i]->len;
      if (bytes > PIPELINE_STAGE_MEMORY_LIMIT) {
         error_set(error, FE_QueryExceededMemoryLimitNoDiskUseAllowed,
                   "Exceeded memory limit for $bucketAuto, but didn't allow external sort. "
                   "Pass allowDiskUse:true to opt in.");
         goto done;
      }
      e->pos = i;
      if (!expr_evaluate(b->group_by, docs[i], vars, &e->key, error)) {
         goto done;
      }
      if (e->key.value_type == BSON_TYPE_EOD) {
         e->key.value_type = BSON_TYPE_NULL;
      }
      if (b->granularity) {
         double d;
         if (!update_util_is_number(e->key.value_type)) {
            error_set(error, 40258,
                      "$bucketAuto can specify a 'granularity' with numeric boundaries only, but "
                      "found a value with type: %s",
                      update_util_type_name(e->key.value_type));
            goto done;
         }
         d = update_util_to_double(&e->key);
         if (isnan(d)) {
            error_set(error, 40259,
                      "$bucketAuto can specify a 'granularity' with numeric boundaries only, but "
                      "found a NaN");
            goto done;
         }
         if (d < 0) {
            error_set(error, 40260,
                      "$bucketAuto can specify a 'granularity' with non-negative numbers only, "
                      "but found a negative number");
            goto done;
         }
      }
   }
   qsort(s.entries, count, sizeof *s.entries, compare_entries);

   approx = (size_t) llround((double) count / (double) b->buckets);
   if (approx < 1) {
      approx = 1;
   }
   for (int32_t bucket = 1; bucket <= b->buckets && s.next < count; bucket++) {
      bool last = bucket == b->buckets;
      size_t first = s.next++;
      size_t filled = 1;
      bson_t **result = NULL;
      size_t n_result = 0;
      bson_t *doc, id;
      bson_iter_t iter;

      run = stage_group_start(b->accumulators);
      bson_value_destroy(&min);
      bson_value_destroy(&max);
      if (b->granularity && has_previous) {
         bson_value_copy(&previous_max, &min);
      } else if (b->granularity) {
         round_value(b, &s.entries[first].key, false, &min);
      } else {
         bson_value_copy(&s.entries[first].key, &min);
      }
      if (!bucket_add(&s, run, first, error)) {
         goto done;
      }
      while (s.next < count && (filled < approx || last)) {
         if (!bucket_add(&s, run, s.next++, error)) {
            goto done;
         }
         filled++;
      }
      /* max: the last key added; equal keys (and, with granularity, keys below the rounded
       * boundary) join this bucket too. */
      bson_value_copy(&s.entries[s.next - 1].key, &max);
      if (b->granularity) {
         bson_value_t boundary;
         round_value(b, &max, true, &boundary);
         while (s.next < count && (expr_compare_values(&boundary, &s.entries[s.next].key) > 0 ||
                                   expr_compare_values(&max, &s.entries[s.next].key) == 0)) {
            bson_value_destroy(&max);
            bson_value_copy(&s.entries[s.next].key, &max);
            if (!bucket_add(&s, run, s.next++, error)) {
               bson_value_destroy(&boundary);
               goto done;
            }
         }
         bson_value_destroy(&max);
         if (update_util_to_double(&boundary) == 0.0 && s.next < count) {
            round_value(b, &s.entries[s.next].key, false, &max);
            bson_value_destroy(&boundary);
         } else {
            max = boundary;
         }
      } else {
         while (s.next < count && expr_compare_values(&max, &s.entries[s.next].key) == 0) {
            if (!bucket_add(&s, run, s.next++, error)) {
               goto done;
            }
         }
         if (s.next < count) {
            bson_value_destroy(&max);
            bson_value_copy(&s.entries[s.next].key, &max);
         }
      }
      bson_value_destroy(&previous_max);
      bson_value_copy(&max, &previous_max);
      has_previous = true;

      stage_group_finish(run, &result, &n_result);
      run = NULL;
      doc = bson_new();
      bson_append_document_begin(doc, "_id", 3, &id);
      bson_append_value(&id, "min", 3, &min);
      bson_append_value(&id, "max", 3, &max);
      bson_append_document_end(doc, &id);
      if (n_result > 0 && bson_iter_init(&iter, result[0])) {
         while (bson_iter_next(&iter)) {
            if (strcmp(bson_iter_key(&iter), "_id") != 0) {
               bson_append_iter(doc, bson_iter_key(&iter), -1, &iter);
            }
         }
      }
      for (size_t i = 0; i < n_result; i++) {
         bson_destroy(result[i]);
      }
      bson_free(result);
      stage_docs_push(out, doc);
   }
   ok = true;

done:
   stage_group_run_destroy(run);
   for (size_t i = 0; i < count; i++) {
      bson_value_destroy(&s.entries[i].key);
   }
   bson_free(s.entries);
   bson_value_destroy(&min);
   bson_value_destroy(&max);
   bson_value_destroy(&previous_max);
   return ok;
}

bool
stage_bucket_auto_check_vars(const stage_bucket_auto_t *b, const fe_expr_var_t *scope,
                             fe_error_t *error)
{
   return expr_check_vars(b->group_by, scope, error) &&
          stage_group_check_vars(b->accumulators, scope, error);
}

void
stage_bucket_auto_destroy(stage_bucket_auto_t *b)
{
   if (!b) {
      return;
   }
   expr_destroy(b->group_by);
   stage_group_destroy(b->accumulators);
   bson_free(b);
}

/*
 * Helpers
 */

/* A $-prefixed path or an expression object ({$op: ...}), as groupBy must be. */
static bool
is_group_by(const bson_iter_t *iter)
{
   bson_iter_t sub;
   if (BSON_ITER_HOLDS_UTF8(iter)) {
      const char *s = bson_iter_utf8(iter, NULL);
      return s[0] == '$' && s[1] != '\0';
   }
   return BSON_ITER_HOLDS_DOCUMENT(iter) && bson_iter_recurse(iter, &sub) && bson_iter_next(&sub) &&
          bson_iter_key(&sub)[0] == '$';
}

/* The value of a constant expression (a literal, {$literal: v}, or an operator over
 * constants), copied to *out (caller storage, to bson_value_destroy()). */
static bool
constant_value(const bson_iter_t *iter, bson_value_t *out)
{
   fe_expr_t *e = expr_compile(iter, NULL);
   const bson_value_t *v;
   bool ok = e && expr_is_constant(e, &v);

   memset(out, 0, sizeof *out);
   if (ok) {
      bson_value_copy(v, out);
   }
   expr_destroy(e);
   return ok;
}

/* {$literal: value}, so a string like "$x" stays a string. */
static void
append_literal(bson_t *doc, const char *key, const bson_value_t *value)
{
   bson_t lit;
   bson_append_document_begin(doc, key, -1, &lit);
   bson_append_value(&lit, "$literal", 8, value);
   bson_append_document_end(doc, &lit);
}

static int
compare_entries(const void *a, const void *b)
{
   const entry_t *x = a, *y = b;
   int c = expr_compare_values(&x->key, &y->key);
   return c ? c : (x->pos < y->pos ? -1 : x->pos > y->pos);
}

static bool
granularity_lookup(stage_bucket_auto_t *b, const char *name, fe_error_t *error)
{
   b->granularity = true;
   b->series = NULL;
   b->powers_of_two = strcmp(name, "POWERSOF2") == 0;
   if (b->powers_of_two) {
      return true;
   }
   for (size_t i = 0; i < sizeof series_table / sizeof series_table[0]; i++) {
      if (strcmp(series_table[i].name, name) == 0) {
         b->series = series_table[i].values;
         b->series_len = series_table[i].len;
         return true;
      }
   }
   if (strcmp(name, "E192") == 0) {
      return error_set(error, FE_NotImplemented, "granularity 'E192' is not supported");
   }
   return error_set(error, 40257, "Rounding granularity '%s' is unknown", name);
}

/* Rounds a non-negative number up (to the next boundary strictly above it) or down (to the
 * boundary strictly below it) in the granularity's series. Zero stays zero. */
static void
round_value(const stage_bucket_auto_t *b, const bson_value_t *in, bool up, bson_value_t *out)
{
   double x = update_util_to_double(in);
   double r;

   memset(out, 0, sizeof *out);
   if (x == 0.0) {
      bson_value_copy(in, out);
      return;
   }
   if (b->powers_of_two) {
      r = exp2(floor(log2(x)));
      if (up) {
         while (r <= x) {
            r *= 2;
         }
      } else {
         while (r >= x) {
            r /= 2;
         }
         while (r * 2 < x) {
            r *= 2;
         }
      }
      if ((in->value_type == BSON_TYPE_INT32 || in->value_type == BSON_TYPE_INT64) && r >= 1) {
         if (in->value_type == BSON_TYPE_INT32 && r <= INT32_MAX) {
            out->value_type = BSON_TYPE_INT32;
            out->value.v_int32 = (int32_t) r;
         } else {
            out->value_type = BSON_TYPE_INT64;
            out->value.v_int64 = (int64_t) r;
         }
         return;
      }
   } else {
      /* Scale x into [1, 10) and step through the series, as MongoDB's rounder does. */
      double number = x, multiplier = 1.0;
      const double *s = b->series;
      size_t n = b->series_len;
      while (number < s[0]) {
         number *= 10;
         multiplier /= 10;
      }
      while (number >= s[n - 1]) {
         number /= 10;
         multiplier *= 10;
      }
      if (up) {
         size_t i = 0;
         while (s[i] <= number) {
            i++;
         }
         r = s[i] * multiplier;
      } else {
         size_t i = n - 1;
         while (i > 0 && s[i - 1] >= number) {
            i--;
         }
         r = i > 0 ? s[i - 1] * multiplier : s[n - 2] * multiplier / 10;
      }
   }
   out->value_type = BSON_TYPE_DOUBLE;
   out->value.v_double = r;
}
