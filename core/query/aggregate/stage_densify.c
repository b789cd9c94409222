/*
 * stage_densify.c: $densify {field, partitionByFields, range: {step, bounds, unit}}.
 *
 * The input is sorted by the partition fields and the field; within each partition the
 * values lower + k * step missing between the documents are added as new documents holding
 * only the partition fields and the field. lower is the smallest value of all documents
 * ("full"), of the partition ("partition") or the given one ([lower, upper], where upper is
 * exclusive and documents outside the range pass through). Documents without the field (or
 * with null) pass through first. Dates step by unit; month, quarter and year step by
 * calendar months.
 */
#include "query/aggregate/pipeline_int.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "query/sort.h"
#include "query/update_int.h"

typedef enum bounds_kind { BOUNDS_FULL, BOUNDS_PARTITION, BOUNDS_EXPLICIT } bounds_kind_t;

struct stage_densify {
   char *field;       /* owned */
   char **partitions; /* owned, n_partitions of them */
   size_t n_partitions;
   double step;
   bool step_integral;
   int64_t unit_ms; /* dates: a fixed unit's length */
   int months;      /* dates: a calendar unit in months (month 1, quarter 3, year 12) */
   bool dates;      /* unit given */
   bounds_kind_t bounds;
   bson_value_t lower, upper; /* owned; BOUNDS_EXPLICIT */
   fe_sort_t *sort;           /* owned: the partition fields, then the field */
};

static bool value_number(const stage_densify_t *d, const bson_value_t *v, double *x,
                         fe_error_t *error);
static double next_value(const stage_densify_t *d, double start, int64_t k);
static void emit_generated(const stage_densify_t *d, const bson_t *partition_doc, double x,
                           stage_docs_t *out);

stage_densify_t *
stage_densify_compile(const bson_iter_t *spec, fe_error_t *error)
{
   stage_densify_t *d = bson_malloc0(sizeof *d);
   bson_iter_t sub, range;
   bool has_range = false, has_step = false, has_bounds = false;
   const char *unit = NULL;
   bson_t sort = BSON_INITIALIZER;

   if (!BSON_ITER_HOLDS_DOCUMENT(spec)) {
      error_set(error, FE_TypeMismatch, "$densify specification must be an object");
      goto fail;
   }
   bson_iter_recurse(spec, &sub);
   while (bson_iter_next(&sub)) {
      const char *key = bson_iter_key(&sub);
      if (strcmp(key, "field") == 0) {
         if (!BSON_ITER_HOLDS_UTF8(&sub)) {
            error_set(error, FE_TypeMismatch,
                      "BSON field '$densify.field' is the wrong type '%s', expected type "
                      "'string'",
                      update_util_type_name(bson_iter_type(&sub)));
            goto fail;
         }
         if (bson_iter_utf8(&sub, NULL)[0] == '$') {
            error_set(error, 16410, "FieldPath field names may not start with '$'");
            goto fail;
         }
         d->field = bson_strdup(bson_iter_utf8(&sub, NULL));
      } else if (strcmp(key, "partitionByFields") == 0) {
         bson_iter_t p;
         uint32_t n = 0;
         if (!BSON_ITER_HOLDS_ARRAY(&sub)) {
            error_set(error, FE_TypeMismatch,
                      "BSON field '$densify.partitionByFields' is the wrong type '%s', expected "
                      "type 'array'",
                      update_util_type_name(bson_iter_type(&sub)));
            goto fail;
         }
         bson_iter_recurse(&sub, &p);
         while (bson_iter_next(&p)) {
            n++;
         }
         d->partitions = bson_malloc0(sizeof *d->partitions * (n + 1));
         bson_iter_recurse(&sub, &p);
         while (bson_iter_next(&p)) {
            if (!BSON_ITER_HOLDS_UTF8(&p) || bson_iter_utf8(&p, NULL)[0] == '$') {
               error_set(error, FE_TypeMismatch,
                         "partitionByFields must be an array of field names not starting with "
                         "'$'");
               goto fail;
            }
            d->partitions[d->n_partitions++] = bson_strdup(bson_iter_utf8(&p, NULL));
         }
      } else if (strcmp(key, "range") == 0) {
         if (!BSON_ITER_HOLDS_DOCUMENT(&sub)) {
            error_set(error, FE_TypeMismatch,
                      "BSON field '$densify.range' is the wrong type '%s', expected type "
                      "'object'",
                      update_util_type_name(bson_iter_type(&sub)));
            goto fail;
         }
         has_range = true;
         range = sub;
      } else {
         error_set(error, 40415, "BSON field '$densify.%s' is an unknown field.", key);
         goto fail;
      }
   }
   if (!d->field || !has_range) {
      error_set(error, 40414, "BSON field '$densify.%s' is missing but a required field",
                d->field ? "range" : "field");
      goto fail;
   }
   bson_iter_recurse(&range, &sub);
   while (bson_iter_next(&sub)) {
      const char *key = bson_iter_key(&sub);
      if (strcmp(key, "step") == 0) {
         if (!BSON_ITER_HOLDS_NUMBER(&sub) && !BSON_ITER_HOLDS_DECIMAL128(&sub)) {
            error_set(error, FE_TypeMismatch,
                      "BSON field '$densify.range.step' is the wrong type '%s', expected types "
                      "'[long, int, decimal, double]'",
                      update_util_type_name(bson_iter_type(&sub)));
            goto fail;
         }
         d->step = update_util_to_double(bson_iter_value(&sub));
         d->step_integral =
            BSON_ITER_HOLDS_INT32(&sub) || BSON_ITER_HOLDS_INT64(&sub) || d->step == floor(d->step);
         has_step = true;
      } else if (strcmp(key, "unit") == 0) {
         if (!BSON_ITER_HOLDS_UTF8(&sub)) {
            error_set(error, FE_TypeMismatch, "BSON field '$densify.range.unit' must be a string");
            goto fail;
         }
         unit = bson_iter_utf8(&sub, NULL);
      } else if (strcmp(key, "bounds") == 0) {
         has_bounds = true;
         if (BSON_ITER_HOLDS_UTF8(&sub)) {
            const char *b = bson_iter_utf8(&sub, NULL);
            if (strcmp(b, "full") == 0) {
               d->bounds = BOUNDS_FULL;
            } else if (strcmp(b, "partition") == 0) {
               d->bounds = BOUNDS_PARTITION;
            } else {
               error_set(error, 5946802, "Bounds string must either be 'full' or 'partition'");
               goto fail;
            }
         } else if (BSON_ITER_HOLDS_ARRAY(&sub)) {
            bson_iter_t b;
            int n = 0;
            bson_iter_recurse(&sub, &b);
            while (bson_iter_next(&b)) {
               bson_value_copy(bson_iter_value(&b), n == 0 ? &d->lower : &d->upper);
               if (++n > 2) {
                  break;
               }
            }
            if (n != 2) {
               error_set(error, 5733403,
                         "a bounding array in a range statement must have "
                         "exactly two elements");
               goto fail;
            }
            d->bounds = BOUNDS_EXPLICIT;
         } else {
            error_set(error, 5946802,
                      "the bounds in a range statement must be the string "
                      "'full', 'partition', or an ascending array of two "
                      "numbers or two dates");
            goto fail;
         }
      } else {
         error_set(error, 40415, "BSON field '$densify.range.%s' is an unknown field.", key);
         goto fail;
      }
   }
   if (!has_step || !has_bounds) {
      error_set(error, 40414, "BSON field '$densify.range.%s' is missing but a required field",
                has_step ? "bounds" : "step");
      goto fail;
   }
   if (!(d->step > 0)) {
      error_set(error, 5733401,
                "the step parameter in a range statement must be a strictly positive numeric "
                "value");
      goto fail;
   }
   if (unit) {
      static const struct {
         const char *name;
         int64_t ms;
         int months;
      } units[] = {
         {"millisecond", 1, 0}, {"second", 1000, 0},  {"minute", 60000, 0},
         {"hour", 3600000, 0},  {"day", 86400000, 0}, {"week", 604800000, 0},
         {"month", 0, 1},       {"quarter", 0, 3},    {"year", 0, 12},
      };
      size_t i;
      for (i = 0; i < sizeof units / sizeof units[0]; i++) {
         if (strcmp(units[i].name, unit) == 0) {
            break;
         }
      }
      if (i == sizeof units / sizeof units[0]) {
         error_set(error, FE_FailedToParse, "unknown time unit value: %s", unit);
         goto fail;
      }
      if (!d->step_integral) {
         error_set(error, 5733412,
                   "The step parameter in a range statement must be a whole "
                   "number when densifying a date range");
         goto fail;
      }
      d->dates = true;
      d->unit_ms = units[i].ms;
      d->months = units[i].months;
   }
   if (d->bounds == BOUNDS_EXPLICIT) {
      bool dates =
         d->lower.value_type == BSON_TYPE_DATE_TIME && d->upper.value_type == BSON_TYPE_DATE_TIME;
      bool numbers =
         update_util_is_number(d->lower.value_type) && update_util_is_number(d->upper.value_type);
      if (!dates && !numbers) {
         error_set(error, 5733402,
                   "a bounding array must contain either both dates or both "
                   "numeric types");
         goto fail;
      }
      if (dates != d->dates) {
         error_set(error, 5733409,
                   dates ? "a unit is required when densifying dates"
                         : "a unit may only be given when densifying dates");
         goto fail;
      }
      if (expr_compare_values(&d->lower, &d->upper) > 0) {
         error_set(error, 5733402, "a bounding array in a range statement must be sorted");
         goto fail;
      }
   }
   if (d->bounds == BOUNDS_PARTITION && d->n_partitions == 0) {
      /* As MongoDB: "partition" without partitions is the whole input, like "full". */
      d->bounds = BOUNDS_FULL;
   }
   for (size_t i = 0; i < d->n_partitions; i++) {
      bson_append_int32(&sort, d->partitions[i], -1, 1);
   }
   bson_append_int32(&sort, d->field, -1, 1);
   if (!(d->sort = sort_compile(&sort, error))) {
      goto fail;
   }
   bson_destroy(&sort);
   return d;

fail:
   bson_destroy(&sort);
   stage_densify_destroy(d);
   return NULL;
}

/* The value of path in doc (missing: EOD), borrowed. */
static bson_value_t
value_at(const bson_t *doc, const char *path)
{
   bson_iter_t iter, found;
   bson_value_t v = {0};
   if (bson_iter_init(&iter, doc) && bson_iter_find_descendant(&iter, path, &found)) {
      v = *bson_iter_value(&found);
   }
   return v;
}

static bool
same_partition(const stage_densify_t *d, const bson_t *a, const bson_t *b)
{
   for (size_t i = 0; i < d->n_partitions; i++) {
      bson_value_t va = value_at(a, d->partitions[i]);
      bson_value_t vb = value_at(b, d->partitions[i]);
      if (expr_compare_values(&va, &vb) != 0 || va.value_type != vb.value_type) {
         return false;
      }
   }
   return true;
}

bool
stage_densify_run(const stage_densify_t *d, bson_t *const *docs, size_t count, stage_docs_t *out,
                  fe_error_t *error)
{
   const bson_t **sorted = bson_malloc0(sizeof *sorted * (count + 1));
   size_t n = 0, bytes = 0;
   double min = 0, max = 0, lower = 0, upper = 0;
   bool any = false, ok = false;

   for (size_t i = 0; i < count; i++) {
      bson_value_t v = value_at(docs[i], d->field);
      bytes += docs[i]->len;
      if (bytes > PIPELINE_STAGE_MEMORY_LIMIT) {
         error_set(error, 292, "$densify exceeded its memory limit of %d bytes; use allowDiskUse",
                   PIPELINE_STAGE_MEMORY_LIMIT);
         goto done;
      }
      if (v.value_type == BSON_TYPE_EOD || v.value_type == BSON_TYPE_NULL) {
         stage_docs_push(out, bson_copy(docs[i]));
         continue;
      }
      {
         double x;
         if (!value_number(d, &v, &x, error)) {
            goto done;
         }
         min = any && min < x ? min : x;
         max = any && max > x ? max : x;
         any = true;
      }
      sorted[n++] = docs[i];
   }
   sort_documents(d->sort, sorted, n);
   if (d->bounds == BOUNDS_EXPLICIT) {
      if (!value_number(d, &d->lower, &lower, error) ||
          !value_number(d, &d->upper, &upper, error)) {
         goto done;
      }
   }
   for (size_t start = 0; start < n;) {
      size_t end = start + 1;
      double first, cur_start;
      int64_t k = 0;
      while (end < n && same_partition(d, sorted[start], sorted[end])) {
         end++;
      }
      {
         bson_value_t v = value_at(sorted[start], d->field);
         value_number(d, &v, &first, NULL);
      }
      cur_start = d->bounds == BOUNDS_FULL ? min : d->bounds == BOUNDS_PARTITION ? first : lower;
      for (size_t i = start; i < end; i++) {
         bson_value_t v = value_at(sorted[i], d->field);
         double x, cur;
         value_number(d, &v, &x, NULL);
         while ((cur = next_value(d, cur_start, k)) < x &&
                (d->bounds != BOUNDS_EXPLICIT || cur < upper)) {
            if (d->bounds != BOUNDS_EXPLICIT || cur >= lower) {
               emit_generated(d, sorted[start], cur, out);
            }
            k++;
         }
         if (next_value(d, cur_start, k) == x) {
            k++;
         }
         stage_docs_push(out, bson_copy(sorted[i]));
      }
      if (d->bounds != BOUNDS_PARTITION) {
         double cur;
         while ((cur = next_value(d, cur_start, k)),
                d->bounds == BOUNDS_EXPLICIT ? cur < upper : cur <= max) {
            emit_generated(d, sorted[start], cur, out);
            k++;
            if (out->bytes > PIPELINE_STAGE_MEMORY_LIMIT) {
               error_set(error, 292,
                         "$densify exceeded its memory limit of %d bytes; use allowDiskUse",
                         PIPELINE_STAGE_MEMORY_LIMIT);
               goto done;
            }
         }
      }
      if (out->bytes > PIPELINE_STAGE_MEMORY_LIMIT) {
         error_set(error, 292, "$densify exceeded its memory limit of %d bytes; use allowDiskUse",
                   PIPELINE_STAGE_MEMORY_LIMIT);
         goto done;
      }
      start = end;
   }
   ok = true;

done:
   bson_free(sorted);
   return ok;
}

void
stage_densify_destroy(stage_densify_t *d)
{
   if (!d) {
      return;
   }
   bson_free(d->field);
   for (size_t i = 0; i < d->n_partitions; i++) {
      bson_free(d->partitions[i]);
   }
   bson_free(d->partitions);
   bson_value_destroy(&d->lower);
   bson_value_destroy(&d->upper);
   sort_destroy(d->sort);
   bson_free(d);
}

/* A value of the field as a number: dates in milliseconds when densifying dates. */
static bool
value_number(const stage_densify_t *d, const bson_value_t *v, double *x, fe_error_t *error)
{
   if (d->dates) {
      if (v->value_type != BSON_TYPE_DATE_TIME) {
         return error_set(error, 5733500,
                          "Densify field type must be a date when densifying dates, found %s",
                          update_util_type_name(v->value_type));
      }
      *x = (double) v->value.v_datetime;
      return true;
   }
   if (!update_util_is_number(v->value_type)) {
      return error_set(error, 5733201, "Densify field type must be numeric, found %s",
                       update_util_type_name(v->value_type));
   }
   *x = update_util_to_double(v);
   return true;
}

/* start + k steps: milliseconds for fixed units, calendar months otherwise. */
static double
next_value(const stage_densify_t *d, double start, int64_t k)
{
   if (d->dates && d->months) {
      int64_t ms = (int64_t) start;
      time_t secs = (time_t) (ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
      int64_t rest = ms - (int64_t) secs * 1000;
      struct tm tm;
      int64_t months;
      int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
      gmtime_r(&secs, &tm);
      months = (int64_t) tm.tm_year * 12 + tm.tm_mon + k * (int64_t) d->step * d->months;
      tm.tm_year = (int) (months / 12);
      tm.tm_mon = (int) (months % 12);
      {
         int y = tm.tm_year + 1900;
         int max =
            mdays[tm.tm_mon] + (tm.tm_mon == 1 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
         if (tm.tm_mday > max) {
            tm.tm_mday = max;
         }
      }
      return (double) ((int64_t) timegm(&tm) * 1000 + rest);
   }
   return start + (double) k * d->step * (double) (d->dates ? d->unit_ms : 1);
}

/* A new document with the partition fields of like and the field at x. */
static void
emit_generated(const stage_densify_t *d, const bson_t *like, double x, stage_docs_t *out)
{
   bson_t doc = BSON_INITIALIZER, next;
   bson_value_t v = {0};

   for (size_t i = 0; i < d->n_partitions; i++) {
      bson_value_t p = value_at(like, d->partitions[i]);
      if (p.value_type != BSON_TYPE_EOD) {
         bson_init(&next);
         stage_set_path(&doc, d->partitions[i], &p, &next);
         bson_destroy(&doc);
         bson_copy_to(&next, &doc);
         bson_destroy(&next);
      }
   }
   if (d->dates) {
      v.value_type = BSON_TYPE_DATE_TIME;
      v.value.v_datetime = (int64_t) x;
   } else if (x == floor(x) && fabs(x) < 9e15) {
      bson_value_t base = value_at(like, d->field);
      if (base.value_type == BSON_TYPE_DOUBLE || !d->step_integral) {
         v.value_type = BSON_TYPE_DOUBLE;
         v.value.v_double = x;
      } else if (x >= INT32_MIN && x <= INT32_MAX) {
         v.value_type = BSON_TYPE_INT32;
         v.value.v_int32 = (int32_t) x;
      } else {
         v.value_type = BSON_TYPE_INT64;
         v.value.v_int64 = (int64_t) x;
      }
   } else {
      v.value_type = BSON_TYPE_DOUBLE;
      v.value.v_double = x;
   }
   bson_init(&next);
   stage_set_path(&doc, d->field, &v, &next);
   stage_docs_push(out, bson_copy(&next));
   bson_destroy(&next);
   bson_destroy(&doc);
}
