/*
 * stage_group.c: $group and its accumulators ($sum $avg $min $max $first $last $push
 * $addToSet $count $mergeObjects $stdDevPop $stdDevSamp $firstN $lastN $maxN $minN $top
 * $bottom $topN $bottomN $median $percentile).
 *
 * The n of the N accumulators is evaluated once per group with the group key as the
 * document ({_id: {st: ...}} groups see "$st"), as MongoDB does. $top/$bottom/$topN/$bottomN
 * keep each candidate as {v: <output>, d: <document>} and sort those with the sortBy paths
 * prefixed by "d.", trimming to n whenever 2n candidates have gathered. $median and
 * $percentile ("approximate", the only method of 7.0) are computed exactly: the value at rank
 * ceil(p * count) - 1 of the sorted numeric inputs.
 *
 * Groups are found through a hash of the canonical key bytes of the _id value (idkey.h), so
 * that keys equal under MongoDB's rules (1, 1.0, NumberLong(1)) share one group. Results come
 * out in the order groups were first seen.
 */
#include "query/aggregate/pipeline_int.h"

#include <math.h>
#include <string.h>

#include "bson/idkey.h"
#include "query/sort.h"
#include "query/update_int.h"

typedef enum acc_kind {
   ACC_SUM,
   ACC_AVG,
   ACC_MIN,
   ACC_MAX,
   ACC_FIRST,
   ACC_LAST,
   ACC_PUSH,
   ACC_ADD_TO_SET,
   ACC_COUNT,
   ACC_MERGE_OBJECTS,
   ACC_STD_DEV_POP,
   ACC_STD_DEV_SAMP,
   ACC_FIRST_N,
   ACC_LAST_N,
   ACC_MAX_N,
   ACC_MIN_N,
   ACC_TOP,
   ACC_BOTTOM,
   ACC_TOP_N,
   ACC_BOTTOM_N,
   ACC_MEDIAN,
   ACC_PERCENTILE,
} acc_kind_t;

typedef struct acc {
   char *field; /* owned */
   acc_kind_t kind;
   fe_expr_t *expr; /* owned; NULL for $count; the input or output of the others */
   fe_expr_t *n;    /* owned; the n of the N accumulators, else NULL */
   fe_sort_t *sort; /* owned; $top/$bottom family: sortBy with each path under "d." */
   double *p;       /* owned; $percentile's p ($median: 0.5) */
   size_t n_p;
} acc_t;

struct stage_group {
   fe_expr_t *id; /* owned */
   acc_t *accs;   /* owned */
   size_t n_accs;
};

typedef struct acc_state {
   bson_value_t value; /* owned: sum, best, first/last */
   bool set;
   int64_t count;
   bson_t *items; /* owned: $push, $addToSet, $mergeObjects */
   uint32_t n_items;
   double mean, m2; /* $stdDevPop/$stdDevSamp (Welford) */
   int64_t limit;   /* the N accumulators' n; 0 until evaluated */
   bson_t **cands;  /* owned: $top family {v, d}, or {v} for $firstN ... $percentile */
   size_t n_cands, cap_cands;
} acc_state_t;

typedef struct group_entry {
   bson_value_t key;   /* owned */
   uint8_t *key_bytes; /* owned */
   size_t key_len;
   uint64_t hash;
   acc_state_t *states; /* owned, one per accumulator */
} group_entry_t;

struct stage_group_run {
   const stage_group_t *group;
   group_entry_t *entries; /* owned */
   size_t n_entries;
   size_t cap_entries;
   size_t *table; /* owned: entry index + 1, 0 for an empty slot */
   size_t table_cap;
};

static const struct {
   const char *name;
   acc_kind_t kind;
} acc_names[] = {
   {"$addToSet", ACC_ADD_TO_SET},
   {"$avg", ACC_AVG},
   {"$bottom", ACC_BOTTOM},
   {"$bottomN", ACC_BOTTOM_N},
   {"$count", ACC_COUNT},
   {"$first", ACC_FIRST},
   {"$firstN", ACC_FIRST_N},
   {"$last", ACC_LAST},
   {"$lastN", ACC_LAST_N},
   {"$max", ACC_MAX},
   {"$maxN", ACC_MAX_N},
   {"$median", ACC_MEDIAN},
   {"$mergeObjects", ACC_MERGE_OBJECTS},
   {"$min", ACC_MIN},
   {"$minN", ACC_MIN_N},
   {"$percentile", ACC_PERCENTILE},
   {"$push", ACC_PUSH},
   {"$stdDevPop", ACC_STD_DEV_POP},
   {"$stdDevSamp", ACC_STD_DEV_SAMP},
   {"$sum", ACC_SUM},
   {"$top", ACC_TOP},
   {"$topN", ACC_TOP_N},
};

static group_entry_t *find_or_add(stage_group_run_t *run, const bson_value_t *key,
                                  const fe_collator_t *collator, size_t *index);
static bool accumulate(const acc_t *acc, acc_state_t *state, const bson_value_t *v,
                       const fe_collator_t *collator, fe_error_t *error);
static bool compile_object_acc(acc_t *acc, const char *name, const bson_iter_t *op,
                               fe_error_t *error);
static bool accumulate_object(const acc_t *acc, acc_state_t *state, const bson_value_t *v,
                              const bson_t *doc, const bson_value_t *key, const fe_expr_var_t *vars,
                              fe_error_t *error);
static bool is_object_acc(acc_kind_t kind);
static void finish_acc(const acc_t *acc, acc_state_t *state, bson_t *out);
static void finish_object(const acc_t *acc, acc_state_t *state, bson_t *out);
static uint64_t hash_bytes(const uint8_t *data, size_t len);

stage_group_t *
stage_group_compile(const bson_t *spec, fe_error_t *error)
{
   stage_group_t *g = bson_malloc0(sizeof *g);
   bson_iter_t iter;
   bool has_id = false;

   g->accs = bson_malloc0(sizeof *g->accs * (bson_count_keys(spec) + 1));
   bson_iter_init(&iter, spec);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      bson_iter_t op;
      acc_t *acc;
      size_t i;

      if (strcmp(key, "_id") == 0) {
         has_id = true;
         if (!(g->id = expr_compile(&iter, error))) {
            goto fail;
         }
         continue;
      }
      if (strchr(key, '.')) {
         error_set(error, 40235, "The field name '%s' cannot contain '.'", key);
         goto fail;
      }
      if (key[0] == '$') {
         error_set(error, 40236, "The field name '%s' cannot be an operator name", key);
         goto fail;
      }
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter) || !bson_iter_recurse(&iter, &op) ||
          !bson_iter_next(&op)) {
         error_set(error, 40234, "The field '%s' must be an accumulator object", key);
         goto fail;
      }
      for (i = 0; i < sizeof acc_names / sizeof acc_names[0]; i++) {
         if (strcmp(acc_names[i].name, bson_iter_key(&op)) == 0) {
            break;
         }
      }
      if (i == sizeof acc_names / sizeof acc_names[0]) {
         error_set(error, 15952, "unknown group operator '%s'", bson_iter_key(&op));
         goto fail;
      }
      acc = &g->accs[g->n_accs++];
      acc->field = bson_strdup(key);
      acc->kind = acc_names[i].kind;
      if (is_object_acc(acc->kind)) {
         if (!compile_object_acc(acc, acc_names[i].name, &op, error)) {
            goto fail;
         }
      } else if (acc->kind == ACC_COUNT) {
         bson_iter_t args;
         if (!BSON_ITER_HOLDS_DOCUMENT(&op) || !bson_iter_recurse(&op, &args) ||
             bson_iter_next(&args)) {
            error_set(error, FE_FailedToParse, "$count takes no arguments, i.e. $count:{}");
            goto fail;
         }
      } else {
         if (BSON_ITER_HOLDS_ARRAY(&op)) {
            error_set(error, 40237, "The %s accumulator is a unary operator", acc_names[i].name);
            goto fail;
         }
         if (!(acc->expr = expr_compile(&op, error))) {
            goto fail;
         }
      }
      if (bson_iter_next(&op)) {
         error_set(error, 40238, "The field '%s' must specify one accumulator", key);
         goto fail;
      }
   }
   if (!has_id) {
      error_set(error, 15955, "a group specification must include an _id");
      goto fail;
   }
   return g;

fail:
   stage_group_destroy(g);
   return NULL;
}

stage_group_run_t *
stage_group_start(const stage_group_t *group)
{
   stage_group_run_t *run = bson_malloc0(sizeof *run);
   run->group = group;
   run->table_cap = 64;
   run->table = bson_malloc0(sizeof *run->table * run->table_cap);
   return run;
}

bool
stage_group_add(stage_group_run_t *run, const bson_t *doc, const fe_expr_var_t *vars,
                fe_error_t *error)
{
   const stage_group_t *g = run->group;
   bson_value_t key;
   group_entry_t *entry;
   size_t index;

   if (!expr_evaluate(g->id, doc, vars, &key, error)) {
      return false;
   }
   if (key.value_type == BSON_TYPE_EOD) {
      key.value_type = BSON_TYPE_NULL;
   }
   entry = find_or_add(run, &key, expr_vars_collator(vars), &index);
   bson_value_destroy(&key);
   for (size_t i = 0; i < g->n_accs; i++) {
      bson_value_t v;
      bool ok;
      memset(&v, 0, sizeof v);
      if (g->accs[i].expr && !expr_evaluate(g->accs[i].expr, doc, vars, &v, error)) {
         return false;
      }
      ok = is_object_acc(g->accs[i].kind)
              ? accumulate_object(&g->accs[i], &entry->states[i], &v, doc, &entry->key, vars, error)
              : accumulate(&g->accs[i], &entry->states[i], &v, expr_vars_collator(vars), error);
      bson_value_destroy(&v);
      if (!ok) {
         return false;
      }
   }
   return true;
}

void
stage_group_finish(stage_group_run_t *run, bson_t ***docs, size_t *count)
{
   const stage_group_t *g = run->group;

   *docs = bson_malloc0(sizeof **docs * (run->n_entries + 1));
   *count = run->n_entries;
   for (size_t e = 0; e < run->n_entries; e++) {
      bson_t *out = bson_new();
      bson_append_value(out, "_id", 3, &run->entries[e].key);
      for (size_t i = 0; i < g->n_accs; i++) {
         finish_acc(&g->accs[i], &run->entries[e].states[i], out);
      }
      (*docs)[e] = out;
   }
   stage_group_run_destroy(run);
}

void
stage_group_run_destroy(stage_group_run_t *run)
{
   if (!run) {
      return;
   }
   for (size_t e = 0; e < run->n_entries; e++) {
      group_entry_t *entry = &run->entries[e];
      bson_value_destroy(&entry->key);
      bson_free(entry->key_bytes);
      for (size_t i = 0; i < run->group->n_accs; i++) {
         bson_value_destroy(&entry->states[i].value);
         if (entry->states[i].items) {
            bson_destroy(entry->states[i].items);
         }
         for (size_t k = 0; k < entry->states[i].n_cands; k++) {
            bson_destroy(entry->states[i].cands[k]);
         }
         bson_free(entry->states[i].cands);
      }
      bson_free(entry->states);
   }
   bson_free(run->entries);
   bson_free(run->table);
   bson_free(run);
}

bool
stage_group_check_vars(const stage_group_t *g, const fe_expr_var_t *scope, fe_error_t *error)
{
   if (!expr_check_vars(g->id, scope, error)) {
      return false;
   }
   for (size_t i = 0; i < g->n_accs; i++) {
      if (!expr_check_vars(g->accs[i].expr, scope, error) ||
          !expr_check_vars(g->accs[i].n, scope, error)) {
         return false;
      }
   }
   return true;
}

void
stage_group_destroy(stage_group_t *g)
{
   if (!g) {
      return;
   }
   expr_destroy(g->id);
   for (size_t i = 0; i < g->n_accs; i++) {
      bson_free(g->accs[i].field);
      expr_destroy(g->accs[i].expr);
      expr_destroy(g->accs[i].n);
      sort_destroy(g->accs[i].sort);
      bson_free(g->accs[i].p);
   }
   bson_free(g->accs);
   bson_free(g);
}

/* Keys that compare equal under collator (strings by their collation keys) are one group; the
 * group keeps the first key seen, as MongoDB does. */
static group_entry_t *
find_or_add(stage_group_run_t *run, const bson_value_t *key, const fe_collator_t *collator,
            size_t *index)
{
   bson_t outer = BSON_INITIALIZER, inner;
   bson_iter_t iter;
   uint8_t *bytes = NULL;
   size_t len = 0, slot;
   uint64_t hash;
   group_entry_t *entry;

   /* The key wrapped in a document: idkey encodes every type inside one. */
   bson_append_document_begin(&outer, "d", 1, &inner);
   if (collator) {
      bson_t holder;
      bson_iter_t value;
      update_util_value_iter(key, &holder, &value);
      collation_append_key_value(collator, &inner, "k", &value);
      bson_destroy(&holder);
   } else {
      bson_append_value(&inner, "k", 1, key);
   }
   bson_append_document_end(&outer, &inner);
   bson_iter_init_find(&iter, &outer, "d");
   idkey_encode(&iter, &bytes, &len);
   bson_destroy(&outer);
   hash = hash_bytes(bytes, len);

   slot = hash & (run->table_cap - 1);
   while (run->table[slot]) {
      entry = &run->entries[run->table[slot] - 1];
      if (entry->hash == hash && entry->key_len == len &&
          memcmp(entry->key_bytes, bytes, len) == 0) {
         bson_free(bytes);
         *index = run->table[slot] - 1;
         return entry;
      }
      slot = (slot + 1) & (run->table_cap - 1);
   }

   if (run->n_entries == run->cap_entries) {
      run->cap_entries = run->cap_entries ? run->cap_entries * 2 : 16;
      run->entries = bson_realloc(run->entries, sizeof *run->entries * run->cap_entries);
   }
   entry = &run->entries[run->n_entries];
   memset(entry, 0, sizeof *entry);
   bson_value_copy(key, &entry->key);
   entry->key_bytes = bytes;
   entry->key_len = len;
   entry->hash = hash;
   entry->states = bson_malloc0(sizeof *entry->states * (run->group->n_accs + 1));
   run->table[slot] = ++run->n_entries;
   *index = run->n_entries - 1;

   if (run->n_entries * 2 > run->table_cap) {
      size_t cap = run->table_cap * 2;
      size_t *table = bson_malloc0(sizeof *table * cap);
      for (size_t e = 0; e < run->n_entries; e++) {
         size_t s = run->entries[e].hash & (cap - 1);
         while (table[s]) {
            s = (s + 1) & (cap - 1);
         }
         table[s] = e + 1;
      }
      bson_free(run->table);
      run->table = table;
      run->table_cap = cap;
   }
   return &run->entries[*index];
}

static bool
is_nullish(const bson_value_t *v)
{
   return v->value_type == BSON_TYPE_EOD || v->value_type == BSON_TYPE_NULL ||
          v->value_type == BSON_TYPE_UNDEFINED;
}

static void
push_item(acc_state_t *state, const bson_value_t *v)
{
   char keybuf[16];
   const char *key;
   if (!state->items) {
      state->items = bson_new();
   }
   bson_uint32_to_string(state->n_items++, &key, keybuf, sizeof keybuf);
   bson_append_value(state->items, key, -1, v);
}

static bool
accumulate(const acc_t *acc, acc_state_t *state, const bson_value_t *v,
           const fe_collator_t *collator, fe_error_t *error)
{
   switch (acc->kind) {
   case ACC_SUM:
   case ACC_AVG:
      if (!state->set) {
         state->value.value_type = BSON_TYPE_INT32;
         state->value.value.v_int32 = 0;
         state->set = true;
      }
      if (update_util_is_number(v->value_type)) {
         bson_value_t sum;
         update_util_add(&state->value, v, &sum);
         state->value = sum;
         state->count++;
      }
      return true;
   case ACC_COUNT:
      state->count++;
      return true;
   case ACC_STD_DEV_POP:
   case ACC_STD_DEV_SAMP:
   case ACC_FIRST_N:
   case ACC_LAST_N:
   case ACC_MAX_N:
   case ACC_MIN_N:
   case ACC_TOP:
   case ACC_BOTTOM:
   case ACC_TOP_N:
   case ACC_BOTTOM_N:
   case ACC_MEDIAN:
   case ACC_PERCENTILE:
      return true; /* accumulate_object() */
   case ACC_MIN:
   case ACC_MAX:
      if (is_nullish(v)) {
         return true;
      }
      if (state->set) {
         int cmp = expr_compare_values_collated(v, &state->value, collator);
         if (acc->kind == ACC_MIN ? cmp >= 0 : cmp <= 0) {
            return true;
         }
         bson_value_destroy(&state->value);
      }
      bson_value_copy(v, &state->value);
      state->set = true;
      return true;
   case ACC_FIRST:
   case ACC_LAST:
      if (acc->kind == ACC_FIRST && state->set) {
         return true;
      }
      if (state->set) {
         bson_value_destroy(&state->value);
      }
      if (v->value_type == BSON_TYPE_EOD) {
         memset(&state->value, 0, sizeof state->value);
         state->value.value_type = BSON_TYPE_NULL;
      } else {
         bson_value_copy(v, &state->value);
      }
      state->set = true;
      return true;
   case ACC_PUSH:
      if (v->value_type != BSON_TYPE_EOD) {
         push_item(state, v);
      }
      return true;
   case ACC_ADD_TO_SET:
      if (v->value_type == BSON_TYPE_EOD) {
         return true;
      }
      if (state->items) {
         bson_iter_t iter;
         bson_iter_init(&iter, state->items);
         while (bson_iter_next(&iter)) {
            if (expr_compare_values_collated(bson_iter_value(&iter), v, collator) == 0) {
               return true;
            }
         }
      }
      push_item(state, v);
      return true;
   case ACC_MERGE_OBJECTS: {
      bson_t doc, merged = BSON_INITIALIZER;
      bson_iter_t iter, found;
      if (is_nullish(v)) {
         return true;
      }
      if (v->value_type != BSON_TYPE_DOCUMENT) {
         return error_set(error, 40400,
                          "$mergeObjects requires object inputs, but input is of type %s",
                          update_util_type_name(v->value_type));
      }
      bson_init_static(&doc, v->value.v_doc.data, v->value.v_doc.data_len);
      if (state->items) {
         bson_iter_init(&iter, state->items);
         while (bson_iter_next(&iter)) {
            if (bson_iter_init_find(&found, &doc, bson_iter_key(&iter))) {
               bson_append_iter(&merged, bson_iter_key(&iter), -1, &found);
            } else {
               bson_append_iter(&merged, bson_iter_key(&iter), -1, &iter);
            }
         }
      }
      bson_iter_init(&iter, &doc);
      while (bson_iter_next(&iter)) {
         if (!state->items || !bson_has_field(state->items, bson_iter_key(&iter))) {
            bson_append_iter(&merged, bson_iter_key(&iter), -1, &iter);
         }
      }
      if (state->items) {
         bson_destroy(state->items);
      }
      state->items = bson_copy(&merged);
      bson_destroy(&merged);
      return true;
   }
   }
   return true;
}

static void
finish_acc(const acc_t *acc, acc_state_t *state, bson_t *out)
{
   switch (acc->kind) {
   case ACC_STD_DEV_POP:
   case ACC_STD_DEV_SAMP:
   case ACC_FIRST_N:
   case ACC_LAST_N:
   case ACC_MAX_N:
   case ACC_MIN_N:
   case ACC_TOP:
   case ACC_BOTTOM:
   case ACC_TOP_N:
   case ACC_BOTTOM_N:
   case ACC_MEDIAN:
   case ACC_PERCENTILE:
      finish_object(acc, state, out);
      break;
   case ACC_SUM:
      if (state->set) {
         bson_append_value(out, acc->field, -1, &state->value);
      } else {
         bson_append_int32(out, acc->field, -1, 0);
      }
      break;
   case ACC_AVG:
      if (state->count == 0) {
         bson_append_null(out, acc->field, -1);
      } else {
         bson_value_t count = {.value_type = BSON_TYPE_INT64}, avg;
         count.value.v_int64 = state->count;
         update_util_divide(&state->value, &count, &avg);
         bson_append_value(out, acc->field, -1, &avg);
      }
      break;
   case ACC_COUNT:
      if (state->count <= INT32_MAX) {
         bson_append_int32(out, acc->field, -1, (int32_t) state->count);
      } else {
         bson_append_int64(out, acc->field, -1, state->count);
      }
      break;
   case ACC_MIN:
   case ACC_MAX:
   case ACC_FIRST:
   case ACC_LAST:
      if (state->set) {
         bson_append_value(out, acc->field, -1, &state->value);
      } else {
         bson_append_null(out, acc->field, -1);
      }
      break;
   case ACC_PUSH:
   case ACC_ADD_TO_SET:
      if (state->items) {
         bson_append_array(out, acc->field, -1, state->items);
      } else {
         bson_t empty = BSON_INITIALIZER;
         bson_append_array(out, acc->field, -1, &empty);
         bson_destroy(&empty);
      }
      break;
   case ACC_MERGE_OBJECTS:
      if (state->items) {
         bson_append_document(out, acc->field, -1, state->items);
      } else {
         bson_t empty = BSON_INITIALIZER;
         bson_append_document(out, acc->field, -1, &empty);
         bson_destroy(&empty);
      }
      break;
   }
}

/*
 * The accumulators taking an object or needing more than one value
 */

static bool
is_object_acc(acc_kind_t kind)
{
   return kind >= ACC_STD_DEV_POP;
}

/* Parses {input, n} ($firstN ...), {output, sortBy[, n]} ($top ...), {input, method[, p]}
 * ($median, $percentile); $stdDevPop/$stdDevSamp take an expression like $sum. */
static bool
compile_object_acc(acc_t *acc, const char *name, const bson_iter_t *op, fe_error_t *error)
{
   bool top = acc->kind == ACC_TOP || acc->kind == ACC_BOTTOM || acc->kind == ACC_TOP_N ||
              acc->kind == ACC_BOTTOM_N;
   bool with_n = acc->kind != ACC_TOP && acc->kind != ACC_BOTTOM;
   bool stats = acc->kind == ACC_MEDIAN || acc->kind == ACC_PERCENTILE;
   bool has_method = false, has_p = false, has_sort = false;
   bson_iter_t sub;

   if (acc->kind == ACC_STD_DEV_POP || acc->kind == ACC_STD_DEV_SAMP) {
      if (BSON_ITER_HOLDS_ARRAY(op)) {
         return error_set(error, 40237, "The %s accumulator is a unary operator", name);
      }
      return (acc->expr = expr_compile(op, error)) != NULL;
   }
   if (!BSON_ITER_HOLDS_DOCUMENT(op)) {
      return error_set(error,
                       stats ? 7436200
                       : top ? 5788001
                             : 5787900,
                       "specification for %s must be an object", name);
   }
   bson_iter_recurse(op, &sub);
   while (bson_iter_next(&sub)) {
      const char *key = bson_iter_key(&sub);
      if (strcmp(key, stats ? "input" : top ? "output" : "input") == 0) {
         expr_destroy(acc->expr);
         if (!(acc->expr = expr_compile(&sub, error))) {
            return false;
         }
      } else if (strcmp(key, "n") == 0 && with_n && !stats) {
         expr_destroy(acc->n);
         if (!(acc->n = expr_compile(&sub, error))) {
            return false;
         }
      } else if (top && strcmp(key, "sortBy") == 0) {
         bson_t prefixed = BSON_INITIALIZER;
         bson_iter_t k;
         if (!BSON_ITER_HOLDS_DOCUMENT(&sub)) {
            return error_set(error, 10065, "sortBy must be an object");
         }
         bson_iter_recurse(&sub, &k);
         while (bson_iter_next(&k)) {
            char *path = bson_strdup_printf("d.%s", bson_iter_key(&k));
            if (!BSON_ITER_HOLDS_NUMBER(&k)) {
               bson_free(path);
               bson_destroy(&prefixed);
               return error_set(error, 15974, "Illegal key in $sort specification: %s",
                                bson_iter_key(&k));
            }
            if (bson_iter_as_int64(&k) != 1 && bson_iter_as_int64(&k) != -1) {
               bson_free(path);
               bson_destroy(&prefixed);
               return error_set(error, 15975,
                                "$sort key ordering must be 1 (for ascending) or -1 (for "
                                "descending)");
            }
            bson_append_iter(&prefixed, path, -1, &k);
            bson_free(path);
         }
         sort_destroy(acc->sort);
         acc->sort = sort_compile(&prefixed, error);
         bson_destroy(&prefixed);
         if (!acc->sort) {
            return false;
         }
         has_sort = true;
      } else if (stats && strcmp(key, "method") == 0) {
         if (!BSON_ITER_HOLDS_UTF8(&sub) ||
             strcmp(bson_iter_utf8(&sub, NULL), "approximate") != 0) {
            return error_set(error, FE_BadValue,
                             "Currently only 'approximate' can be used as percentile 'method'");
         }
         has_method = true;
      } else if (acc->kind == ACC_PERCENTILE && strcmp(key, "p") == 0) {
         bson_iter_t item;
         size_t count = 0;
         if (!BSON_ITER_HOLDS_ARRAY(&sub)) {
            return error_set(error, 7750301,
                             "The 'p' field for $percentile must be an array of numbers from "
                             "[0.0, 1.0]");
         }
         bson_iter_recurse(&sub, &item);
         while (bson_iter_next(&item)) {
            count++;
         }
         bson_free(acc->p);
         acc->p = bson_malloc0(sizeof *acc->p * (count + 1));
         acc->n_p = 0;
         bson_iter_recurse(&sub, &item);
         while (bson_iter_next(&item)) {
            double p = BSON_ITER_HOLDS_NUMBER(&item) ? bson_iter_as_double(&item) : -1;
            if (!BSON_ITER_HOLDS_NUMBER(&item) || !(p >= 0 && p <= 1)) {
               return error_set(error, 7750301,
                                "The 'p' field for $percentile must be an array of numbers from "
                                "[0.0, 1.0]");
            }
            acc->p[acc->n_p++] = p;
         }
         if (acc->n_p == 0) {
            return error_set(error, 7750301,
                             "The 'p' field for $percentile must be an array of numbers from "
                             "[0.0, 1.0]");
         }
         has_p = true;
      } else {
         return error_set(error,
                          stats ? 40415
                          : top ? 5788002
                                : 5787901,
                          "unknown argument to %s: '%s'", name, key);
      }
   }
   if (stats) {
      if (!acc->expr || !has_method || (acc->kind == ACC_PERCENTILE && !has_p)) {
         return error_set(error, 40414, "%s requires the fields %s", name,
                          acc->kind == ACC_PERCENTILE ? "'input', 'p' and 'method'"
                                                      : "'input' and 'method'");
      }
      if (acc->kind == ACC_MEDIAN) {
         acc->p = bson_malloc0(sizeof *acc->p);
         acc->p[0] = 0.5;
         acc->n_p = 1;
      }
      return true;
   }
   if (with_n && !acc->n) {
      return error_set(error, top ? 5788003 : 5787906, "%s requires an 'n' field", name);
   }
   if (!acc->expr) {
      return error_set(error, top ? 5788004 : 5787907, "%s requires an '%s' field", name,
                       top ? "output" : "input");
   }
   if (top && !has_sort) {
      return error_set(error, 5788005, "%s requires a 'sortBy' field", name);
   }
   return true;
}

/* Evaluates n against the group key (the key itself when a document, else {_id: key}). */
static bool
evaluate_n(const acc_t *acc, const bson_value_t *key, const fe_expr_var_t *vars, int64_t *n,
           fe_error_t *error)
{
   bson_t root = BSON_INITIALIZER;
   bson_value_t v;
   bool ok = false;

   if (key->value_type == BSON_TYPE_DOCUMENT) {
      bson_destroy(&root);
      bson_init_static(&root, key->value.v_doc.data, key->value.v_doc.data_len);
   } else {
      bson_append_value(&root, "_id", 3, key);
   }
   if (!expr_evaluate(acc->n, &root, vars, &v, error)) {
      goto done;
   }
   if (!update_util_is_number(v.value_type)) {
      error_set(error, 5787902, "Value for 'n' must be of integral type, but found %s",
                v.value_type == BSON_TYPE_EOD ? "missing" : update_util_type_name(v.value_type));
   } else if (!update_util_to_int64(&v, n)) {
      error_set(error, 5787903, "Value for 'n' must be of integral type");
   } else if (*n <= 0) {
      error_set(error, 5787908, "'n' must be greater than 0, found %lld", (long long) *n);
   } else {
      ok = true;
   }
   bson_value_destroy(&v);

done:
   bson_destroy(&root);
   return ok;
}

static void
push_cand(acc_state_t *state, bson_t *cand)
{
   if (state->n_cands == state->cap_cands) {
      state->cap_cands = state->cap_cands ? state->cap_cands * 2 : 8;
      state->cands = bson_realloc(state->cands, sizeof *state->cands * state->cap_cands);
   }
   state->cands[state->n_cands++] = cand;
}

/* Reads the candidate's "v" (borrowed from cand). */
static const bson_value_t *
cand_value(const bson_t *cand, bson_iter_t *iter)
{
   bson_iter_init_find(iter, cand, "v");
   return bson_iter_value(iter);
}

static int
compare_cands_asc(const void *a, const void *b)
{
   bson_iter_t x, y;
   return expr_compare_values(cand_value(*(bson_t *const *) a, &x),
                              cand_value(*(bson_t *const *) b, &y));
}

static int
compare_cands_desc(const void *a, const void *b)
{
   return -compare_cands_asc(a, b);
}

/* Sorts the candidates (stable for the $top family) and keeps the first keep of them. */
static void
sort_cands(const acc_t *acc, acc_state_t *state, size_t keep, bool from_end)
{
   if (acc->sort) {
      sort_documents(acc->sort, (const bson_t **) state->cands, state->n_cands);
   } else if (state->n_cands > 1) {
      qsort(state->cands, state->n_cands, sizeof *state->cands,
            acc->kind == ACC_MAX_N ? compare_cands_desc : compare_cands_asc);
   }
   if (keep < state->n_cands) {
      size_t drop = state->n_cands - keep;
      size_t first = from_end ? 0 : keep;
      for (size_t i = first; i < first + drop; i++) {
         bson_destroy(state->cands[i]);
      }
      if (from_end) {
         memmove(state->cands, state->cands + drop, sizeof *state->cands * keep);
      }
      state->n_cands = keep;
   }
}

static bool
accumulate_object(const acc_t *acc, acc_state_t *state, const bson_value_t *v, const bson_t *doc,
                  const bson_value_t *key, const fe_expr_var_t *vars, fe_error_t *error)
{
   bson_t *cand;

   if (acc->n && state->limit == 0 && !evaluate_n(acc, key, vars, &state->limit, error)) {
      return false;
   }
   switch (acc->kind) {
   case ACC_STD_DEV_POP:
   case ACC_STD_DEV_SAMP: {
      double x, delta;
      if (!update_util_is_number(v->value_type)) {
         return true;
      }
      x = update_util_to_double(v);
      state->count++;
      delta = x - state->mean;
      state->mean += delta / (double) state->count;
      state->m2 += delta * (x - state->mean);
      return true;
   }
   case ACC_FIRST_N:
      if ((int64_t) state->n_cands >= state->limit) {
         return true;
      }
      break;
   case ACC_MAX_N:
   case ACC_MIN_N:
   case ACC_MEDIAN:
   case ACC_PERCENTILE:
      if (acc->kind >= ACC_MEDIAN
             ? !update_util_is_number(v->value_type)
             : v->value_type == BSON_TYPE_EOD || v->value_type == BSON_TYPE_NULL ||
                  v->value_type == BSON_TYPE_UNDEFINED) {
         return true;
      }
      break;
   default:
      break;
   }
   cand = bson_new();
   if (v->value_type == BSON_TYPE_EOD) {
      bson_append_null(cand, "v", 1);
   } else {
      bson_append_value(cand, "v", 1, v);
   }
   if (acc->sort) {
      bson_append_document(cand, "d", 1, doc);
   }
   push_cand(state, cand);
   /* Bounded memory: past 2n candidates, sort and keep the n that can still win. */
   if (acc->kind != ACC_MEDIAN && acc->kind != ACC_PERCENTILE && acc->kind != ACC_FIRST_N) {
      size_t keep = acc->kind == ACC_TOP || acc->kind == ACC_BOTTOM ? 1 : (size_t) state->limit;
      if (state->n_cands >= 2 * keep + 16) {
         bool from_end =
            acc->kind == ACC_BOTTOM || acc->kind == ACC_BOTTOM_N || acc->kind == ACC_LAST_N;
         if (acc->kind == ACC_LAST_N) {
            size_t drop = state->n_cands - keep;
            for (size_t i = 0; i < drop; i++) {
               bson_destroy(state->cands[i]);
            }
            memmove(state->cands, state->cands + drop, sizeof *state->cands * keep);
            state->n_cands = keep;
         } else {
            sort_cands(acc, state, keep, from_end);
         }
      }
   }
   return true;
}

static void
append_cands(bson_t *out, const char *field, acc_state_t *state, size_t start, size_t end)
{
   bson_t arr;
   uint32_t k = 0;
   bson_append_array_begin(out, field, -1, &arr);
   for (size_t i = start; i < end; i++) {
      bson_iter_t iter;
      char keybuf[16];
      const char *key;
      bson_uint32_to_string(k++, &key, keybuf, sizeof keybuf);
      bson_append_value(&arr, key, -1, cand_value(state->cands[i], &iter));
   }
   bson_append_array_end(out, &arr);
}

static double
percentile_of(acc_state_t *state, double p)
{
   bson_iter_t iter;
   double rank = ceil(p * (double) state->n_cands) - 1;
   size_t at = rank < 0 ? 0 : (size_t) rank;
   if (at >= state->n_cands) {
      at = state->n_cands - 1;
   }
   return update_util_to_double(cand_value(state->cands[at], &iter));
}

static void
finish_object(const acc_t *acc, acc_state_t *state, bson_t *out)
{
   size_t n = state->n_cands;
   size_t limit = (size_t) state->limit;

   switch (acc->kind) {
   case ACC_STD_DEV_POP:
   case ACC_STD_DEV_SAMP:
      if (state->count == 0 || (acc->kind == ACC_STD_DEV_SAMP && state->count == 1)) {
         bson_append_null(out, acc->field, -1);
      } else {
         double var =
            state->m2 / (double) (acc->kind == ACC_STD_DEV_POP ? state->count : state->count - 1);
         bson_append_double(out, acc->field, -1, sqrt(var < 0 ? 0 : var));
      }
      break;
   case ACC_FIRST_N:
      append_cands(out, acc->field, state, 0, n < limit ? n : limit);
      break;
   case ACC_LAST_N:
      append_cands(out, acc->field, state, n > limit ? n - limit : 0, n);
      break;
   case ACC_MAX_N:
   case ACC_MIN_N:
   case ACC_TOP_N:
      sort_cands(acc, state, n, false);
      append_cands(out, acc->field, state, 0, n < limit ? n : limit);
      break;
   case ACC_BOTTOM_N:
      sort_cands(acc, state, n, false);
      append_cands(out, acc->field, state, n > limit ? n - limit : 0, n);
      break;
   case ACC_TOP:
   case ACC_BOTTOM:
      if (n == 0) {
         bson_append_null(out, acc->field, -1);
      } else {
         bson_iter_t iter;
         sort_cands(acc, state, n, false);
         bson_append_value(out, acc->field, -1,
                           cand_value(state->cands[acc->kind == ACC_TOP ? 0 : n - 1], &iter));
      }
      break;
   case ACC_MEDIAN:
   case ACC_PERCENTILE:
      if (n > 1) {
         qsort(state->cands, n, sizeof *state->cands, compare_cands_asc);
      }
      if (acc->kind == ACC_MEDIAN) {
         if (n == 0) {
            bson_append_null(out, acc->field, -1);
         } else {
            bson_append_double(out, acc->field, -1, percentile_of(state, acc->p[0]));
         }
      } else {
         bson_t arr;
         bson_append_array_begin(out, acc->field, -1, &arr);
         for (size_t i = 0; i < acc->n_p; i++) {
            char keybuf[16];
            const char *key;
            bson_uint32_to_string((uint32_t) i, &key, keybuf, sizeof keybuf);
            if (n == 0) {
               bson_append_null(&arr, key, -1);
            } else {
               bson_append_double(&arr, key, -1, percentile_of(state, acc->p[i]));
            }
         }
         bson_append_array_end(out, &arr);
      }
      break;
   default:
      break;
   }
}

/* FNV-1a. */
static uint64_t
hash_bytes(const uint8_t *data, size_t len)
{
   uint64_t h = 14695981039346656037ULL;
   for (size_t i = 0; i < len; i++) {
      h ^= data[i];
      h *= 1099511628211ULL;
   }
   return h;
}
