/*
 * stage_group.c: $group and its accumulators ($sum $avg $min $max $first $last $push
 * $addToSet $count $mergeObjects).
 *
 * Groups are found through a hash of the canonical key bytes of the _id value (idkey.h), so
 * that keys equal under MongoDB's rules (1, 1.0, NumberLong(1)) share one group. Results come
 * out in the order groups were first seen.
 */
#include "query/aggregate/pipeline_int.h"

#include <string.h>

#include "bson/idkey.h"
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
} acc_kind_t;

typedef struct acc {
   char *field; /* owned */
   acc_kind_t kind;
   fe_expr_t *expr; /* owned; NULL for $count */
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
   {"$count", ACC_COUNT},
   {"$first", ACC_FIRST},
   {"$last", ACC_LAST},
   {"$max", ACC_MAX},
   {"$mergeObjects", ACC_MERGE_OBJECTS},
   {"$min", ACC_MIN},
   {"$push", ACC_PUSH},
   {"$sum", ACC_SUM},
};

static group_entry_t *find_or_add(stage_group_run_t *run, const bson_value_t *key, size_t *index);
static bool accumulate(const acc_t *acc, acc_state_t *state, const bson_value_t *v,
                       fe_error_t *error);
static void finish_acc(const acc_t *acc, acc_state_t *state, bson_t *out);
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
      if (acc->kind == ACC_COUNT) {
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
   entry = find_or_add(run, &key, &index);
   bson_value_destroy(&key);
   for (size_t i = 0; i < g->n_accs; i++) {
      bson_value_t v;
      bool ok;
      memset(&v, 0, sizeof v);
      if (g->accs[i].expr && !expr_evaluate(g->accs[i].expr, doc, vars, &v, error)) {
         return false;
      }
      ok = accumulate(&g->accs[i], &entry->states[i], &v, error);
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
      }
      bson_free(entry->states);
   }
   bson_free(run->entries);
   bson_free(run->table);
   bson_free(run);
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
   }
   bson_free(g->accs);
   bson_free(g);
}

static group_entry_t *
find_or_add(stage_group_run_t *run, const bson_value_t *key, size_t *index)
{
   bson_t outer = BSON_INITIALIZER, inner;
   bson_iter_t iter;
   uint8_t *bytes = NULL;
   size_t len = 0, slot;
   uint64_t hash;
   group_entry_t *entry;

   /* The key wrapped in a document: idkey encodes every type inside one. */
   bson_append_document_begin(&outer, "d", 1, &inner);
   bson_append_value(&inner, "k", 1, key);
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
accumulate(const acc_t *acc, acc_state_t *state, const bson_value_t *v, fe_error_t *error)
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
   case ACC_MIN:
   case ACC_MAX:
      if (is_nullish(v)) {
         return true;
      }
      if (state->set) {
         int cmp = expr_compare_values(v, &state->value);
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
            if (expr_compare_values(bson_iter_value(&iter), v) == 0) {
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
