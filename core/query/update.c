/*
 * update.c: MongoDB update documents (operators, replacement, pipeline) applied to documents.
 *
 * An operator update compiles into a tree keyed by path component, as mongod's update system
 * does: every operator's paths meet in one tree, so conflicting paths are found at compile
 * time (40 ConflictingUpdateOperators), and one pass over the document applies them all.
 * Children are kept in MongoDB's processing order (numeric names numerically, others
 * lexicographically), which is also the order in which new fields are appended.
 */
#include "query/update.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bson/compare.h"
#include "query/update_int.h"

typedef enum op {
   OP_SET,
   OP_SET_ON_INSERT,
   OP_UNSET,
   OP_INC,
   OP_MUL,
   OP_MIN,
   OP_MAX,
   OP_CURRENT_DATE,
   OP_RENAME_FROM,
   OP_RENAME_TO,
   OP_PUSH,
   OP_ADD_TO_SET,
   OP_POP,
   OP_PULL,
   OP_PULL_ALL,
   OP_BIT,
} op_t;

typedef enum child_kind {
   CHILD_FIELD,      /* a field name, or an array index when canonical numeric */
   CHILD_POSITIONAL, /* $ */
   CHILD_ALL,        /* $[] */
   CHILD_FILTERED,   /* $[id] */
} child_kind_t;

typedef enum pull_kind {
   PULL_EQUAL,  /* remove elements equal to value */
   PULL_OBJECT, /* value is a query on document elements */
   PULL_WRAP,   /* value is an operator condition on the element itself */
} pull_kind_t;

typedef struct array_filter {
   char *id;            /* owned */
   fe_filter_t *filter; /* owned; matched against {id: element} */
   bool used;
} array_filter_t;

typedef struct node node_t;

struct node {
   char *name; /* owned; the path component */
   child_kind_t kind;
   int64_t index;            /* array index of a canonical numeric name, else -1 */
   const array_filter_t *af; /* borrowed from the update, for CHILD_FILTERED */
   bool is_leaf;

   /* Leaf. */
   op_t op;
   char *path;         /* owned; the full path as written, for messages */
   bson_value_t value; /* owned operand copy */
   bool has_value;
   bson_t *each; /* owned array: values to push/add, or $pullAll's list */
   bool has_position;
   int64_t position; /* $push $position; $pop direction */
   bool has_slice;
   int64_t slice;
   int sort_dir;      /* $push $sort 1/-1 on whole elements, 0 when absent */
   bson_t *sort_spec; /* owned; $push $sort on fields */
   pull_kind_t pull_kind;
   fe_filter_t *pull_filter; /* owned */
   bool timestamp;           /* $currentDate {$type: 'timestamp'} */
   char *rename_source;      /* owned; OP_RENAME_TO's source path */

   /* Interior. */
   node_t **children; /* owned, sorted by compare_names() */
   size_t n_children;
};

typedef enum update_kind {
   UPDATE_OPERATORS,
   UPDATE_REPLACEMENT,
   UPDATE_PIPELINE,
} update_kind_t;

struct fe_update {
   update_kind_t kind;
   node_t *root;        /* owned; UPDATE_OPERATORS */
   bson_t *replacement; /* owned; UPDATE_REPLACEMENT */
   void *pipeline;      /* owned; UPDATE_PIPELINE, from update_pipeline_compile() */
   array_filter_t *afs; /* owned */
   size_t n_afs;
   bool has_positional;
   fe_expr_let_t *let; /* owned; NULL without let; arrayFilters' $expr borrow its bindings */
   /* The statement's collation (borrowed from update_compile_collated()'s caller; NULL:
    * binary): $addToSet, $pull, $pullAll, $push's $sort, $min and $max compare strings under
    * it, and collation_binding carries it into the $pull conditions and arrayFilters. */
   const fe_collator_t *collator;
   fe_expr_var_t *collation_binding; /* owned; NULL without a collator */
};

typedef struct ctx {
   const fe_update_t *update;
   const bson_t *original;
   int32_t positional;
   bool inserting;
   char path[2048]; /* the current path, for messages */
   size_t path_len;
   fe_error_t *error;
} ctx_t;

/* Compilation. */
static bool compile_operators(fe_update_t *update, const bson_t *spec, fe_error_t *error);
static bool compile_operator(fe_update_t *update, const char *opname, op_t op, bson_iter_t *field,
                             fe_error_t *error);
static bool compile_push(node_t *leaf, const bson_iter_t *value, fe_error_t *error);
static bool compile_add_to_set(node_t *leaf, const bson_iter_t *value, fe_error_t *error);
static bool compile_pull(const fe_update_t *update, node_t *leaf, const bson_iter_t *value,
                         fe_error_t *error);
static bool compile_array_filters(fe_update_t *update, const bson_t *array_filters,
                                  fe_error_t *error);
static bool filter_identifier(const bson_t *filter, char **id, fe_error_t *error);
static bool insert_path(fe_update_t *update, const char *path, node_t *leaf, fe_error_t *error);
static node_t *node_new(const char *name, size_t len);
static void node_destroy(node_t *node);
static node_t *find_child(const node_t *node, const char *name, size_t len);
static void add_child(node_t *parent, node_t *child);
static int compare_names(const char *a, const char *b);
static int64_t canonical_index(const char *name, size_t len);
static bool path_is_dynamic(const char *path);

/* Application. */
static bool apply_operators(ctx_t *ctx, const bson_t *doc, bson_t *out);
static bool apply_fields(ctx_t *ctx, const node_t *node, const bson_t *existing, bson_t *out);
static bool apply_node(ctx_t *ctx, const node_t *node, const bson_iter_t *cur, bool in_array,
                       bson_t *out, const char *key);
static bool apply_array(ctx_t *ctx, const node_t *node, const bson_t *array, bson_t *out);
static bool apply_leaf(ctx_t *ctx, const node_t *node, const bson_iter_t *cur, bool in_array,
                       bson_t *out, const char *key);
static bool apply_push(ctx_t *ctx, const node_t *node, const bson_iter_t *cur, bson_t *out,
                       const char *key);
static bool apply_add_to_set(ctx_t *ctx, const node_t *node, const bson_iter_t *cur, bson_t *out,
                             const char *key);
static bool apply_pull(ctx_t *ctx, const node_t *node, const bson_iter_t *cur, bson_t *out,
                       const char *key);
static bool apply_replacement(ctx_t *ctx, const bson_t *doc, bson_t *out);
static bool check_id(ctx_t *ctx, const bson_t *before, const bson_t *after);
static bool subtree_creates(ctx_t *ctx, const node_t *node);
static bool subtree_has(const node_t *node, op_t op);
static bool has_array_children(const node_t *node);
static bool element_matches(const node_t *child, const bson_iter_t *elem);
static bool lookup_rename_source(ctx_t *ctx, const char *path, bson_iter_t *found);
static size_t path_push(ctx_t *ctx, const char *key);
static void doc_id_json(ctx_t *ctx, char *buf, size_t size);
static bool values_equal(const bson_value_t *a, const bson_value_t *b,
                         const fe_collator_t *collator);
static void stable_sort_values(bson_value_t *values, size_t n, const node_t *node,
                               const fe_collator_t *collator);

/* Upserts. */
static bool collect_equalities(const bson_t *filter, bson_t *set, fe_error_t *error);

static const struct {
   const char *name;
   op_t op;
} operators[] = {
   {"$addToSet", OP_ADD_TO_SET},
   {"$bit", OP_BIT},
   {"$currentDate", OP_CURRENT_DATE},
   {"$inc", OP_INC},
   {"$max", OP_MAX},
   {"$min", OP_MIN},
   {"$mul", OP_MUL},
   {"$pop", OP_POP},
   {"$pull", OP_PULL},
   {"$pullAll", OP_PULL_ALL},
   {"$push", OP_PUSH},
   {"$rename", OP_RENAME_FROM},
   {"$set", OP_SET},
   {"$setOnInsert", OP_SET_ON_INSERT},
   {"$unset", OP_UNSET},
};

fe_update_t *
update_compile(const bson_t *spec, bool spec_is_pipeline, const bson_t *array_filters,
               fe_error_t *error)
{
   return update_compile_with_let(spec, spec_is_pipeline, array_filters, NULL, error);
}

fe_update_t *
update_compile_with_let(const bson_t *spec, bool spec_is_pipeline, const bson_t *array_filters,
                        const bson_t *let, fe_error_t *error)
{
   return update_compile_collated(spec, spec_is_pipeline, array_filters, let, NULL, error);
}

fe_update_t *
update_compile_collated(const bson_t *spec, bool spec_is_pipeline, const bson_t *array_filters,
                        const bson_t *let, const fe_collator_t *collator, fe_error_t *error)
{
   static const bson_value_t missing = {.value_type = BSON_TYPE_EOD};
   fe_update_t *update = bson_malloc0(sizeof *update);
   bson_iter_t iter;
   bool ok = false;

   update->root = node_new("", 0);
   update->collator = collator;
   if (collator) {
      update->collation_binding = bson_malloc0(sizeof *update->collation_binding);
      update->collation_binding->name = EXPR_COLLATION_VAR;
      update->collation_binding->value = &missing;
      update->collation_binding->collator = collator;
   }

   /* A pipeline binds let itself; otherwise only arrayFilters' $expr can see it, but let is
    * checked either way. The chain ends in the collation binding, so that arrayFilters compare
    * strings under the collation. */
   if ((let || collator) && !spec_is_pipeline &&
       !(update->let = expr_let_compile_outer(let, update->collation_binding, error))) {
      goto done;
   }
   if (!compile_array_filters(update, array_filters, error)) {
      goto done;
   }
   if (spec_is_pipeline) {
      update->kind = UPDATE_PIPELINE;
      if (update->n_afs > 0) {
         error_set(error, FE_FailedToParse,
                   "arrayFilters may not be specified for pipeline-style updates");
         goto done;
      }
      update->pipeline = update_pipeline_compile(spec, let, collator, error);
      if (!update->pipeline) {
         goto done;
      }
      ok = true;
      goto done;
   }
   if (bson_iter_init(&iter, spec) && bson_iter_next(&iter) && bson_iter_key(&iter)[0] == '$') {
      update->kind = UPDATE_OPERATORS;
      if (!compile_operators(update, spec, error)) {
         goto done;
      }
      for (size_t i = 0; i < update->n_afs; i++) {
         if (!update->afs[i].used) {
            char *json = bson_as_relaxed_extended_json(spec, NULL);
            error_set(error, FE_FailedToParse,
                      "The array filter for identifier '%s' was not used in the update %s",
                      update->afs[i].id, json);
            bson_free(json);
            goto done;
         }
      }
   } else {
      update->kind = UPDATE_REPLACEMENT;
      bson_iter_init(&iter, spec);
      while (bson_iter_next(&iter)) {
         if (bson_iter_key(&iter)[0] == '$') {
            error_set(error, FE_DollarPrefixedFieldName,
                      "The dollar ($) prefixed field '%s' in '%s' is not allowed in the context "
                      "of an update's replacement document. Consider using an aggregation "
                      "pipeline with $replaceWith.",
                      bson_iter_key(&iter), bson_iter_key(&iter));
            goto done;
         }
      }
      if (update->n_afs > 0) {
         error_set(error, FE_FailedToParse,
                   "arrayFilters may not be specified for replacement-style updates");
         goto done;
      }
      update->replacement = bson_copy(spec);
   }
   ok = true;

done:
   if (!ok) {
      update_destroy(update);
      update = NULL;
   }
   return update;
}

bool
update_is_replacement(const fe_update_t *update)
{
   return update->kind == UPDATE_REPLACEMENT;
}

bool
update_apply(const fe_update_t *update, const bson_t *doc, const fe_match_info_t *match,
             bool inserting, bson_t *out, fe_error_t *error)
{
   ctx_t ctx = {.update = update,
                .original = doc,
                .positional = match ? match->positional_index : -1,
                .inserting = inserting,
                .error = error};
   bool ok = false;

   bson_init(out);
   switch (update->kind) {
   case UPDATE_OPERATORS:
      ok = apply_operators(&ctx, doc, out);
      break;
   case UPDATE_REPLACEMENT:
      ok = apply_replacement(&ctx, doc, out);
      break;
   case UPDATE_PIPELINE: {
      /* The pipeline's result replaces the document, keeping its _id when the result has
       * none, as mongod's PipelineExecutor does through its replacement executor. */
      bson_t result;
      bson_iter_t id;
      ok = update_pipeline_apply(update->pipeline, doc, &result, error);
      if (ok && !bson_has_field(&result, "_id") && bson_iter_init_find(&id, doc, "_id")) {
         bson_append_iter(out, "_id", 3, &id);
      }
      if (ok) {
         bson_concat(out, &result);
      }
      bson_destroy(&result);
      break;
   }
   }
   if (ok) {
      ok = check_id(&ctx, doc, out);
   }
   return ok;
}

bool
update_upsert_document(const fe_update_t *update, const bson_t *filter, bson_t *out,
                       fe_error_t *error)
{
   bson_t set_spec = BSON_INITIALIZER; /* {$set: {<equalities>}} */
   bson_t set_fields;
   bson_t base = BSON_INITIALIZER; /* the equality document */
   bson_t applied = BSON_INITIALIZER;
   bson_t empty = BSON_INITIALIZER;
   fe_update_t *equalities = NULL;
   fe_error_t local;
   bson_iter_t iter;
   bool ok = false;

   bson_init(out);
   bson_append_document_begin(&set_spec, "$set", 4, &set_fields);
   if (!collect_equalities(filter, &set_fields, error)) {
      bson_append_document_end(&set_spec, &set_fields);
      goto done;
   }
   bson_append_document_end(&set_spec, &set_fields);

   equalities = update_compile(&set_spec, false, NULL, &local);
   if (!equalities) {
      if (local.code == FE_ConflictingUpdateOperators) {
         /* "... would create a conflict at 'a'": report the path matched twice. */
         const char *at = strstr(local.message, "conflict at '");
         error_set(error, FE_NotSingleValueField,
                   "cannot infer query fields to set, path '%.*s' is matched twice",
                   at ? (int) (strlen(at + 13) - 1) : 0, at ? at + 13 : "");
      } else {
         *error = local;
      }
      goto done;
   }
   if (!update_apply(equalities, &empty, NULL, true, &base, error)) {
      goto done;
   }

   if (update->kind == UPDATE_REPLACEMENT) {
      ctx_t ctx = {
         .update = update, .original = &base, .positional = -1, .inserting = true, .error = error};
      if (!bson_iter_init_find(&iter, &base, "_id")) {
         /* Only the filter's _id carries over to a replacement. */
         bson_reinit(&base);
      } else {
         bson_t only_id = BSON_INITIALIZER;
         bson_append_iter(&only_id, "_id", 3, &iter);
         bson_destroy(&base);
         base = only_id;
      }
      if (!apply_replacement(&ctx, &base, &applied) || !check_id(&ctx, &base, &applied)) {
         goto done;
      }
   } else if (!update_apply(update, &base, NULL, true, &applied, error)) {
      goto done;
   }

   /* The upserted document starts with _id. */
   if (bson_iter_init_find(&iter, &applied, "_id")) {
      bson_append_iter(out, "_id", 3, &iter);
   }
   bson_iter_init(&iter, &applied);
   while (bson_iter_next(&iter)) {
      if (strcmp(bson_iter_key(&iter), "_id") != 0) {
         bson_append_iter(out, bson_iter_key(&iter), -1, &iter);
      }
   }
   ok = true;

done:
   update_destroy(equalities);
   bson_destroy(&set_spec);
   bson_destroy(&base);
   bson_destroy(&applied);
   bson_destroy(&empty);
   return ok;
}

void
update_destroy(fe_update_t *update)
{
   if (!update) {
      return;
   }
   node_destroy(update->root);
   if (update->replacement) {
      bson_destroy(update->replacement);
   }
   update_pipeline_destroy(update->pipeline);
   for (size_t i = 0; i < update->n_afs; i++) {
      bson_free(update->afs[i].id);
      filter_destroy(update->afs[i].filter);
   }
   bson_free(update->afs);
   expr_let_destroy(update->let); /* after the filters that borrow its bindings */
   bson_free(update->collation_binding);
   bson_free(update);
}

/*
 * Compilation
 */

static bool
compile_operators(fe_update_t *update, const bson_t *spec, fe_error_t *error)
{
   bson_iter_t iter, fields;

   bson_iter_init(&iter, spec);
   while (bson_iter_next(&iter)) {
      const char *opname = bson_iter_key(&iter);
      size_t i;

      for (i = 0; i < sizeof operators / sizeof operators[0]; i++) {
         if (strcmp(operators[i].name, opname) == 0) {
            break;
         }
      }
      if (i == sizeof operators / sizeof operators[0]) {
         return error_set(error, FE_FailedToParse,
                          "Unknown modifier: %s. Expected a valid update modifier or "
                          "pipeline-style update specified as an array",
                          opname);
      }
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         char *json = update_util_value_json(bson_iter_value(&iter));
         error_set(error, FE_FailedToParse,
                   "Modifiers operate on fields but we found type %s instead. For example: "
                   "{$mod: {<field>: ...}} not {%s: %s}",
                   update_util_type_name(bson_iter_type(&iter)), opname, json);
         bson_free(json);
         return false;
      }
      bson_iter_recurse(&iter, &fields);
      while (bson_iter_next(&fields)) {
         if (!compile_operator(update, opname, operators[i].op, &fields, error)) {
            return false;
         }
      }
   }
   return true;
}

static bool
compile_operator(fe_update_t *update, const char *opname, op_t op, bson_iter_t *field,
                 fe_error_t *error)
{
   const char *path = bson_iter_key(field);
   node_t *leaf = node_new("", 0);
   char *json = NULL;
   bool ok = false;

   leaf->is_leaf = true;
   leaf->op = op;
   leaf->path = bson_strdup(path);

   switch (op) {
   case OP_SET:
   case OP_SET_ON_INSERT:
   case OP_MIN:
   case OP_MAX:
      bson_value_copy(bson_iter_value(field), &leaf->value);
      leaf->has_value = true;
      break;
   case OP_UNSET:
      break;
   case OP_INC:
   case OP_MUL:
      if (!update_util_is_number(bson_iter_type(field))) {
         json = update_util_value_json(bson_iter_value(field));
         error_set(error, FE_TypeMismatch, "Cannot %s with non-numeric argument: {%s: %s}",
                   op == OP_INC ? "increment" : "multiply", path, json);
         goto done;
      }
      bson_value_copy(bson_iter_value(field), &leaf->value);
      leaf->has_value = true;
      break;
   case OP_CURRENT_DATE:
      if (BSON_ITER_HOLDS_BOOL(field)) {
         break;
      }
      if (BSON_ITER_HOLDS_DOCUMENT(field)) {
         bson_iter_t sub;
         const char *type = NULL;
         size_t count = 0;
         bson_iter_recurse(field, &sub);
         while (bson_iter_next(&sub)) {
            count++;
            if (strcmp(bson_iter_key(&sub), "$type") == 0 && BSON_ITER_HOLDS_UTF8(&sub)) {
               type = bson_iter_utf8(&sub, NULL);
            }
         }
         if (count == 1 && type && (strcmp(type, "date") == 0 || strcmp(type, "timestamp") == 0)) {
            leaf->timestamp = strcmp(type, "timestamp") == 0;
            break;
         }
      }
      json = update_util_value_json(bson_iter_value(field));
      error_set(error, FE_BadValue,
                "%s is not valid type for $currentDate. Please use a boolean ('true') or a "
                "$type expression ({$type: 'timestamp/date'}).",
                json);
      goto done;
   case OP_RENAME_FROM: {
      const char *to;
      size_t from_len = strlen(path), to_len;
      node_t *target;

      if (!BSON_ITER_HOLDS_UTF8(field)) {
         json = update_util_value_json(bson_iter_value(field));
         error_set(error, FE_BadValue, "The 'to' field for $rename must be a string: %s: %s", path,
                   json);
         goto done;
      }
      to = bson_iter_utf8(field, NULL);
      to_len = strlen(to);
      if (strcmp(to, path) == 0) {
         error_set(error, FE_BadValue,
                   "The source and target field for $rename must differ: %s: \"%s\"", path, to);
         goto done;
      }
      if ((from_len < to_len && strncmp(path, to, from_len) == 0 && to[from_len] == '.') ||
          (to_len < from_len && strncmp(path, to, to_len) == 0 && path[to_len] == '.')) {
         error_set(error, FE_BadValue,
                   "The source and target field for $rename must not be on the same path: "
                   "%s: \"%s\"",
                   path, to);
         goto done;
      }
      if (path_is_dynamic(path)) {
         error_set(error, FE_BadValue, "The source field for $rename may not be dynamic: %s", path);
         goto done;
      }
      if (path_is_dynamic(to)) {
         error_set(error, FE_BadValue, "The destination field for $rename may not be dynamic: %s",
                   to);
         goto done;
      }
      if (!insert_path(update, path, leaf, error)) {
         goto done;
      }
      leaf = NULL; /* the tree owns it now */
      target = node_new("", 0);
      target->is_leaf = true;
      target->op = OP_RENAME_TO;
      target->path = bson_strdup(to);
      target->rename_source = bson_strdup(path);
      if (!insert_path(update, to, target, error)) {
         node_destroy(target);
         goto done;
      }
      ok = true;
      goto done;
   }
   case OP_RENAME_TO:
      break;
   case OP_BIT: {
      bson_iter_t ops;
      uint32_t len;
      const uint8_t *data;
      if (!BSON_ITER_HOLDS_DOCUMENT(field)) {
         error_set(error, FE_BadValue,
                   "The $bit modifier is not compatible with a %s. You must pass in an embedded "
                   "document: {$bit: {field: {and/or/xor: #}}",
                   update_util_type_name(bson_iter_type(field)));
         goto done;
      }
      bson_iter_recurse(field, &ops);
      while (bson_iter_next(&ops)) {
         const char *name = bson_iter_key(&ops);
         if (strcmp(name, "and") != 0 && strcmp(name, "or") != 0 && strcmp(name, "xor") != 0) {
            error_set(error, FE_BadValue,
                      "The $bit modifier only supports 'and', 'or', and 'xor', not '%s' which is "
                      "an unknown operator: {%s: ...}",
                      name, name);
            goto done;
         }
         if (!BSON_ITER_HOLDS_INT32(&ops) && !BSON_ITER_HOLDS_INT64(&ops)) {
            json = update_util_value_json(bson_iter_value(&ops));
            error_set(error, FE_BadValue,
                      "The $bit modifier field must be an Integer(32/64 bit); a '%s' is not "
                      "supported here: {%s: %s}",
                      update_util_type_name(bson_iter_type(&ops)), name, json);
            goto done;
         }
      }
      bson_iter_document(field, &len, &data);
      leaf->each = bson_new_from_data(data, len);
      if (bson_empty(leaf->each)) {
         error_set(error, FE_BadValue,
                   "You must pass in at least one bitwise operation. The format is: {$bit: "
                   "{field: {and/or/xor: #}}");
         goto done;
      }
      break;
   }
   case OP_PUSH:
      if (!compile_push(leaf, field, error)) {
         goto done;
      }
      break;
   case OP_ADD_TO_SET:
      if (!compile_add_to_set(leaf, field, error)) {
         goto done;
      }
      break;
   case OP_POP: {
      int64_t dir;
      if (!update_util_is_number(bson_iter_type(field))) {
         json = update_util_value_json(bson_iter_value(field));
         error_set(error, FE_FailedToParse, "Expected a number in: %s: %s", path, json);
         goto done;
      }
      if (!update_util_to_int64(bson_iter_value(field), &dir) || (dir != 1 && dir != -1)) {
         json = update_util_value_json(bson_iter_value(field));
         error_set(error, FE_FailedToParse, "$pop expects 1 or -1, found: %s", json);
         goto done;
      }
      leaf->position = dir;
      break;
   }
   case OP_PULL:
      if (!compile_pull(update, leaf, field, error)) {
         goto done;
      }
      break;
   case OP_PULL_ALL: {
      uint32_t len;
      const uint8_t *data;
      if (!BSON_ITER_HOLDS_ARRAY(field)) {
         error_set(error, FE_BadValue, "$pullAll requires an array argument but was given a %s",
                   update_util_type_name(bson_iter_type(field)));
         goto done;
      }
      bson_iter_array(field, &len, &data);
      leaf->each = bson_new_from_data(data, len);
      break;
   }
   }
   (void) opname;

   if (!insert_path(update, path, leaf, error)) {
      goto done;
   }
   leaf = NULL;
   ok = true;

done:
   node_destroy(leaf);
   bson_free(json);
   return ok;
}

static bool
compile_push(node_t *leaf, const bson_iter_t *value, fe_error_t *error)
{
   bson_iter_t mods;
   uint32_t len;
   const uint8_t *data;
   bool has_each = false;

   if (BSON_ITER_HOLDS_DOCUMENT(value)) {
      bson_iter_recurse(value, &mods);
      has_each = bson_iter_find(&mods, "$each");
   }
   if (!has_each) {
      leaf->each = bson_new();
      bson_append_value(leaf->each, "0", 1, bson_iter_value((bson_iter_t *) value));
      return true;
   }

   bson_iter_recurse(value, &mods);
   while (bson_iter_next(&mods)) {
      const char *key = bson_iter_key(&mods);
      if (strcmp(key, "$each") == 0) {
         if (!BSON_ITER_HOLDS_ARRAY(&mods)) {
            return error_set(error, FE_BadValue,
                             "The argument to $each in $push must be an array but it was of "
                             "type: %s",
                             update_util_type_name(bson_iter_type(&mods)));
         }
         bson_iter_array(&mods, &len, &data);
         leaf->each = bson_new_from_data(data, len);
      } else if (strcmp(key, "$slice") == 0) {
         if (!update_util_is_number(bson_iter_type(&mods)) ||
             !update_util_to_int64(bson_iter_value(&mods), &leaf->slice)) {
            return error_set(error, FE_BadValue,
                             "The value for $slice must be an integer value but was given "
                             "type: %s",
                             update_util_type_name(bson_iter_type(&mods)));
         }
         leaf->has_slice = true;
      } else if (strcmp(key, "$position") == 0) {
         if (!update_util_is_number(bson_iter_type(&mods)) ||
             !update_util_to_int64(bson_iter_value(&mods), &leaf->position)) {
            return error_set(error, FE_BadValue,
                             "The value for $position must be an integer value, not of type: "
                             "%s",
                             update_util_type_name(bson_iter_type(&mods)));
         }
         leaf->has_position = true;
      } else if (strcmp(key, "$sort") == 0) {
         int64_t dir;
         if (update_util_is_number(bson_iter_type(&mods))) {
            if (!update_util_to_int64(bson_iter_value(&mods), &dir) || (dir != 1 && dir != -1)) {
               return error_set(error, FE_BadValue,
                                "The $sort element value must be either 1 or -1");
            }
            leaf->sort_dir = (int) dir;
         } else if (BSON_ITER_HOLDS_DOCUMENT(&mods)) {
            bson_iter_t spec;
            bson_iter_document(&mods, &len, &data);
            leaf->sort_spec = bson_new_from_data(data, len);
            if (bson_empty(leaf->sort_spec)) {
               return error_set(error, FE_BadValue,
                                "The $sort pattern is empty when it should be a set of fields.");
            }
            bson_iter_init(&spec, leaf->sort_spec);
            while (bson_iter_next(&spec)) {
               if (!update_util_is_number(bson_iter_type(&spec)) ||
                   !update_util_to_int64(bson_iter_value(&spec), &dir) || (dir != 1 && dir != -1)) {
                  return error_set(error, FE_BadValue,
                                   "The $sort element value must be either 1 or -1");
               }
               if (bson_iter_key(&spec)[0] == '\0' || bson_iter_key(&spec)[0] == '$') {
                  return error_set(error, FE_BadValue, "The $sort field is a special identifier");
               }
            }
         } else {
            return error_set(error, FE_BadValue,
                             "The $sort is invalid: use 1/-1 to sort the whole element, or "
                             "{field:1/-1} to sort embedded fields");
         }
      } else {
         return error_set(error, FE_BadValue, "Unrecognized clause in $push: %s", key);
      }
   }
   return true;
}

static bool
compile_add_to_set(node_t *leaf, const bson_iter_t *value, fe_error_t *error)
{
   bson_iter_t mods;
   uint32_t len;
   const uint8_t *data;

   if (BSON_ITER_HOLDS_DOCUMENT(value)) {
      bson_iter_recurse(value, &mods);
      if (bson_iter_next(&mods) && strcmp(bson_iter_key(&mods), "$each") == 0) {
         if (!BSON_ITER_HOLDS_ARRAY(&mods)) {
            return error_set(error, FE_TypeMismatch,
                             "The argument to $each in $addToSet must be an array but it was "
                             "of type %s",
                             update_util_type_name(bson_iter_type(&mods)));
         }
         bson_iter_array(&mods, &len, &data);
         leaf->each = bson_new_from_data(data, len);
         if (bson_iter_next(&mods)) {
            return error_set(error, FE_BadValue,
                             "Found unexpected fields after $each in $addToSet: %s",
                             bson_iter_key(&mods));
         }
         return true;
      }
   }
   leaf->each = bson_new();
   bson_append_value(leaf->each, "0", 1, bson_iter_value((bson_iter_t *) value));
   return true;
}

/* Operators that take a path, as mongod's parsePathAcceptingKeyword(): a $pull condition
 * starting with one of them is a condition on the element itself. */
static bool
is_path_operator(const char *name)
{
   static const char *const names[] = {
      "$all",          "$bitsAllClear", "$bitsAllSet",
      "$bitsAnyClear", "$bitsAnySet",   "$elemMatch",
      "$eq",           "$exists",       "$geoIntersects",
      "$geoWithin",    "$gt",           "$gte",
      "$in",           "$lt",           "$lte",
      "$mod",          "$ne",           "$near",
      "$nearSphere",   "$nin",          "$not",
      "$options",      "$regex",        "$size",
      "$type",         "$within",
   };
   for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
      if (strcmp(names[i], name) == 0) {
         return true;
      }
   }
   return false;
}

static bool
compile_pull(const fe_update_t *update, node_t *leaf, const bson_iter_t *value, fe_error_t *error)
{
   bson_t spec = BSON_INITIALIZER;
   bson_iter_t first;
   uint32_t len;
   const uint8_t *data;
   bool ok = false;

   bson_value_copy(bson_iter_value((bson_iter_t *) value), &leaf->value);
   leaf->has_value = true;

   if (BSON_ITER_HOLDS_DOCUMENT(value)) {
      bson_iter_recurse(value, &first);
      if (bson_iter_next(&first) && is_path_operator(bson_iter_key(&first))) {
         leaf->pull_kind = PULL_WRAP;
         bson_append_iter(&spec, "x", 1, value);
      } else {
         leaf->pull_kind = PULL_OBJECT;
         bson_iter_document(value, &len, &data);
         bson_destroy(&spec);
         bson_init_static(&spec, data, len);
      }
   } else if (BSON_ITER_HOLDS_REGEX(value)) {
      leaf->pull_kind = PULL_WRAP;
      bson_append_iter(&spec, "x", 1, value);
   } else {
      leaf->pull_kind = PULL_EQUAL;
      ok = true;
      goto done;
   }
   /* Only the collation binding: let variables are not visible to $pull's conditions. */
   leaf->pull_filter = filter_compile_vars(&spec, update->collation_binding, error);
   ok = leaf->pull_filter != NULL;

done:
   bson_destroy(&spec);
   return ok;
}

static bool
compile_array_filters(fe_update_t *update, const bson_t *array_filters, fe_error_t *error)
{
   bson_iter_t iter;
   uint32_t len;
   const uint8_t *data;

   if (!array_filters) {
      return true;
   }
   update->afs = bson_malloc0(sizeof *update->afs * (bson_count_keys(array_filters) + 1));
   bson_iter_init(&iter, array_filters);
   while (bson_iter_next(&iter)) {
      bson_t filter;
      char *id = NULL;

      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         return error_set(error, FE_TypeMismatch, "Each array filter must be an object, found: %s",
                          update_util_type_name(bson_iter_type(&iter)));
      }
      bson_iter_document(&iter, &len, &data);
      bson_init_static(&filter, data, len);
      if (!filter_identifier(&filter, &id, error)) {
         return false;
      }
      if (!id) {
         return error_set(error, FE_FailedToParse,
                          "Cannot use an expression without a top-level field name in "
                          "arrayFilters");
      }
      for (size_t i = 0; i < update->n_afs; i++) {
         if (strcmp(update->afs[i].id, id) == 0) {
            error_set(error, FE_FailedToParse,
                      "Found multiple array filters with the same top-level field name %s", id);
            bson_free(id);
            return false;
         }
      }
      update->afs[update->n_afs].id = id;
      update->afs[update->n_afs].filter =
         filter_compile_vars(&filter, expr_let_vars(update->let), error);
      if (!update->afs[update->n_afs].filter) {
         update->n_afs++;
         return false;
      }
      update->n_afs++;
   }
   return true;
}

/* Finds the one top-level field name that a filter's paths start with. *id stays NULL when
 * the filter has none (an empty filter, $expr alone). */
static bool
filter_identifier(const bson_t *filter, char **id, fe_error_t *error)
{
   bson_iter_t iter, sub;
   uint32_t len;
   const uint8_t *data;

   bson_iter_init(&iter, filter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "$and") == 0 || strcmp(key, "$or") == 0 || strcmp(key, "$nor") == 0) {
         if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
            continue; /* filter_compile reports it */
         }
         bson_iter_recurse(&iter, &sub);
         while (bson_iter_next(&sub)) {
            bson_t clause;
            if (!BSON_ITER_HOLDS_DOCUMENT(&sub)) {
               continue;
            }
            bson_iter_document(&sub, &len, &data);
            bson_init_static(&clause, data, len);
            if (!filter_identifier(&clause, id, error)) {
               return false;
            }
         }
      } else if (key[0] == '$') {
         continue;
      } else {
         size_t n = strcspn(key, ".");
         bool valid = n > 0 && key[0] >= 'a' && key[0] <= 'z';
         for (size_t i = 1; valid && i < n; i++) {
            valid = (key[i] >= 'a' && key[i] <= 'z') || (key[i] >= 'A' && key[i] <= 'Z') ||
                    (key[i] >= '0' && key[i] <= '9');
         }
         if (!valid) {
            return error_set(error, FE_BadValue,
                             "Error parsing array filter :: caused by :: The top-level field "
                             "name must be an alphanumeric string beginning with a lowercase "
                             "letter, found '%.*s'",
                             (int) n, key);
         }
         if (*id && (strlen(*id) != n || strncmp(*id, key, n) != 0)) {
            return error_set(error, FE_FailedToParse,
                             "Error parsing array filter :: caused by :: Expected a single "
                             "top-level field name, found '%s' and '%.*s'",
                             *id, (int) n, key);
         }
         if (!*id) {
            *id = bson_strndup(key, n);
         }
      }
   }
   return true;
}

static bool
insert_path(fe_update_t *update, const char *path, node_t *leaf, fe_error_t *error)
{
   node_t *node = update->root;
   const char *comp = path;
   size_t positionals = 0;

   if (path[0] == '\0') {
      return error_set(error, FE_EmptyFieldName, "An empty update path is not valid.");
   }
   for (;;) {
      size_t len = strcspn(comp, ".");
      bool last = comp[len] == '\0';
      node_t *child;
      child_kind_t kind = CHILD_FIELD;
      const array_filter_t *af = NULL;

      if (len == 0) {
         return error_set(error, FE_EmptyFieldName,
                          "The update path '%s' contains an empty field name, which is not "
                          "allowed.",
                          path);
      }
      if (comp[0] == '$') {
         if (len == 1) {
            kind = CHILD_POSITIONAL;
            if (++positionals > 1) {
               return error_set(error, FE_BadValue,
                                "Too many positional (i.e. '$') elements found in path '%s'", path);
            }
         } else if (len == 3 && strncmp(comp, "$[]", 3) == 0) {
            kind = CHILD_ALL;
         } else if (len > 3 && comp[1] == '[' && comp[len - 1] == ']') {
            kind = CHILD_FILTERED;
            for (size_t i = 0; i < update->n_afs; i++) {
               if (strlen(update->afs[i].id) == len - 3 &&
                   strncmp(update->afs[i].id, comp + 2, len - 3) == 0) {
                  af = &update->afs[i];
               }
            }
            if (!af) {
               return error_set(error, FE_BadValue,
                                "No array filter found for identifier '%.*s' in path '%s'",
                                (int) (len - 3), comp + 2, path);
            }
            ((array_filter_t *) af)->used = true;
         } else {
            return error_set(error, FE_DollarPrefixedFieldName,
                             "The dollar ($) prefixed field '%.*s' in '%s' is not valid for "
                             "storage.",
                             (int) len, comp, path);
         }
         if (node == update->root) {
            return error_set(error, FE_BadValue,
                             "Cannot have array filter identifier (i.e. '$[<id>]') or positional "
                             "operator as the first element in the path '%s'",
                             path);
         }
         if (kind == CHILD_POSITIONAL) {
            update->has_positional = true;
         }
      }
      child = find_child(node, comp, len);
      if (child) {
         if (last || child->is_leaf) {
            return error_set(error, FE_ConflictingUpdateOperators,
                             "Updating the path '%s' would create a conflict at '%.*s'", path,
                             (int) (comp + len - path), path);
         }
      } else {
         if (last) {
            child = leaf;
            bson_free(child->name);
            child->name = bson_strndup(comp, len);
            child->index = canonical_index(comp, len);
         } else {
            child = node_new(comp, len);
         }
         child->kind = kind;
         child->af = af;
         add_child(node, child);
      }
      if (last) {
         return true;
      }
      node = child;
      comp += len + 1;
   }
}

static node_t *
node_new(const char *name, size_t len)
{
   node_t *node = bson_malloc0(sizeof *node);
   node->name = bson_strndup(name, len);
   node->index = canonical_index(name, len);
   return node;
}

static void
node_destroy(node_t *node)
{
   if (!node) {
      return;
   }
   for (size_t i = 0; i < node->n_children; i++) {
      node_destroy(node->children[i]);
   }
   bson_free(node->children);
   bson_free(node->name);
   bson_free(node->path);
   if (node->has_value) {
      bson_value_destroy(&node->value);
   }
   if (node->each) {
      bson_destroy(node->each);
   }
   if (node->sort_spec) {
      bson_destroy(node->sort_spec);
   }
   filter_destroy(node->pull_filter);
   bson_free(node->rename_source);
   bson_free(node);
}

static node_t *
find_child(const node_t *node, const char *name, size_t len)
{
   for (size_t i = 0; i < node->n_children; i++) {
      if (strlen(node->children[i]->name) == len &&
          memcmp(node->children[i]->name, name, len) == 0) {
         return node->children[i];
      }
   }
   return NULL;
}

static void
add_child(node_t *parent, node_t *child)
{
   size_t at = parent->n_children;

   parent->children =
      bson_realloc(parent->children, sizeof *parent->children * (parent->n_children + 1));
   while (at > 0 && compare_names(parent->children[at - 1]->name, child->name) > 0) {
      parent->children[at] = parent->children[at - 1];
      at--;
   }
   parent->children[at] = child;
   parent->n_children++;
}

/* MongoDB (5.0+) applies numeric field names in numeric order, others lexicographically. */
static int
compare_names(const char *a, const char *b)
{
   int64_t ia = canonical_index(a, strlen(a)), ib = canonical_index(b, strlen(b));

   if (ia >= 0 && ib >= 0) {
      return ia < ib ? -1 : ia > ib;
   }
   return strcmp(a, b);
}

/* The array index a path component names: digits without a leading zero; else -1. */
static int64_t
canonical_index(const char *name, size_t len)
{
   int64_t index = 0;

   if (len == 0 || len > 9 || (len > 1 && name[0] == '0')) {
      return -1;
   }
   for (size_t i = 0; i < len; i++) {
      if (name[i] < '0' || name[i] > '9') {
         return -1;
      }
      index = index * 10 + (name[i] - '0');
   }
   return index;
}

static bool
path_is_dynamic(const char *path)
{
   const char *comp = path;
   for (;;) {
      if (comp[0] == '$') {
         return true;
      }
      comp = strchr(comp, '.');
      if (!comp) {
         return false;
      }
      comp++;
   }
}

/*
 * Application
 */

static bool
apply_operators(ctx_t *ctx, const bson_t *doc, bson_t *out)
{
   if (ctx->update->has_positional && ctx->positional < 0) {
      return error_set(ctx->error, FE_BadValue,
                       "The positional operator did not find the match needed from the query.");
   }
   return apply_fields(ctx, ctx->update->root, doc, out);
}

/* Applies node's children to the fields of a document (existing NULL: a document being
 * created), appending the result's fields to out. */
static bool
apply_fields(ctx_t *ctx, const node_t *node, const bson_t *existing, bson_t *out)
{
   bool *handled = bson_malloc0(node->n_children + 1);
   bson_iter_t iter;
   bool ok = false;

   for (size_t i = 0; i < node->n_children; i++) {
      const node_t *child = node->children[i];
      if (child->kind != CHILD_FIELD && subtree_creates(ctx, child)) {
         if (existing) {
            char *json;
            bson_value_t v = {.value_type = BSON_TYPE_DOCUMENT};
            v.value.v_doc.data = (uint8_t *) bson_get_data(existing);
            v.value.v_doc.data_len = existing->len;
            json = update_util_value_json(&v);
            error_set(ctx->error, FE_BadValue,
                      "Cannot apply array updates to non-array element %s: %s",
                      ctx->path_len ? ctx->path : "", json);
            bson_free(json);
         } else {
            error_set(ctx->error, FE_BadValue,
                      "The path '%s' must exist in the document in order to apply array "
                      "updates.",
                      ctx->path);
         }
         goto done;
      }
   }

   if (existing && bson_iter_init(&iter, existing)) {
      while (bson_iter_next(&iter)) {
         const char *key = bson_iter_key(&iter);
         const node_t *child = NULL;
         for (size_t i = 0; i < node->n_children; i++) {
            if (!handled[i] && node->children[i]->kind == CHILD_FIELD &&
                strcmp(node->children[i]->name, key) == 0) {
               child = node->children[i];
               handled[i] = true;
               break;
            }
         }
         if (!child) {
            bson_append_iter(out, key, -1, &iter);
         } else if (!apply_node(ctx, child, &iter, false, out, key)) {
            goto done;
         }
      }
   }
   for (size_t i = 0; i < node->n_children; i++) {
      const node_t *child = node->children[i];
      if (!handled[i] && child->kind == CHILD_FIELD &&
          !apply_node(ctx, child, NULL, false, out, child->name)) {
         goto done;
      }
   }
   ok = true;

done:
   bson_free(handled);
   return ok;
}

/* Applies node to the value cur (NULL when missing), appending the result under key unless
 * the result is missing. */
static bool
apply_node(ctx_t *ctx, const node_t *node, const bson_iter_t *cur, bool in_array, bson_t *out,
           const char *key)
{
   size_t saved = path_push(ctx, key);
   bson_t sub, existing;
   uint32_t len;
   const uint8_t *data;
   bool ok = false;

   if (node->is_leaf) {
      ok = apply_leaf(ctx, node, cur, in_array, out, key);
   } else if (!cur) {
      if (!subtree_creates(ctx, node)) {
         ok = true;
      } else {
         bson_append_document_begin(out, key, -1, &sub);
         ok = apply_fields(ctx, node, NULL, &sub);
         bson_append_document_end(out, &sub);
      }
   } else if (BSON_ITER_HOLDS_DOCUMENT(cur)) {
      bson_iter_document(cur, &len, &data);
      bson_init_static(&existing, data, len);
      bson_append_document_begin(out, key, -1, &sub);
      ok = apply_fields(ctx, node, &existing, &sub);
      bson_append_document_end(out, &sub);
   } else if (BSON_ITER_HOLDS_ARRAY(cur)) {
      bson_iter_array(cur, &len, &data);
      bson_init_static(&existing, data, len);
      bson_append_array_begin(out, key, -1, &sub);
      ok = apply_array(ctx, node, &existing, &sub);
      bson_append_array_end(out, &sub);
   } else if (subtree_creates(ctx, node)) {
      char *json = update_util_value_json(bson_iter_value((bson_iter_t *) cur));
      const char *field = "";
      for (size_t i = 0; i < node->n_children; i++) {
         if (subtree_creates(ctx, node->children[i])) {
            field = node->children[i]->name;
            break;
         }
      }
      if (has_array_children(node)) {
         error_set(ctx->error, FE_BadValue,
                   "Cannot apply array updates to non-array element %s: %s", key, json);
      } else {
         error_set(ctx->error, FE_PathNotViable, "Cannot create field '%s' in element {%s: %s}",
                   field, key, json);
      }
      bson_free(json);
   } else {
      bson_append_iter(out, key, -1, cur);
      ok = true;
   }
   ctx->path_len = saved;
   ctx->path[saved] = '\0';
   return ok;
}

static bool
apply_array(ctx_t *ctx, const node_t *node, const bson_t *array, bson_t *out)
{
   bson_iter_t iter;
   uint32_t n = 0;
   char keybuf[16];
   const char *key;
   const node_t *matches[64];
   bool ok = false;

   if (subtree_has(node, OP_RENAME_FROM) || subtree_has(node, OP_RENAME_TO)) {
      return error_set(ctx->error, FE_BadValue,
                       "The source and destination field for $rename may not be inside an "
                       "array: '%s' is an array",
                       ctx->path);
   }
   for (size_t i = 0; i < node->n_children; i++) {
      const node_t *child = node->children[i];
      if (child->kind == CHILD_FIELD && child->index < 0 && subtree_creates(ctx, child)) {
         char *json;
         bson_value_t v = {.value_type = BSON_TYPE_ARRAY};
         v.value.v_doc.data = (uint8_t *) bson_get_data(array);
         v.value.v_doc.data_len = array->len;
         json = update_util_value_json(&v);
         error_set(ctx->error, FE_PathNotViable, "Cannot create field '%s' in element {%s: %s}",
                   child->name, strrchr(ctx->path, '.') ? strrchr(ctx->path, '.') + 1 : ctx->path,
                   json);
         bson_free(json);
         return false;
      }
   }

   bson_iter_init(&iter, array);
   while (bson_iter_next(&iter)) {
      size_t n_matches = 0;

      for (size_t i = 0; i < node->n_children && n_matches < 64; i++) {
         const node_t *child = node->children[i];
         bool applies = false;
         switch (child->kind) {
         case CHILD_FIELD:
            applies = child->index == (int64_t) n;
            break;
         case CHILD_POSITIONAL:
            applies = ctx->positional == (int32_t) n;
            break;
         case CHILD_ALL:
            applies = true;
            break;
         case CHILD_FILTERED:
            applies = element_matches(child, &iter);
            break;
         }
         if (applies) {
            matches[n_matches++] = child;
         }
      }
      bson_uint32_to_string(n, &key, keybuf, sizeof keybuf);
      if (n_matches == 0) {
         bson_append_iter(out, key, -1, &iter);
      } else if (n_matches == 1) {
         if (!apply_node(ctx, matches[0], &iter, true, out, key)) {
            goto done;
         }
      } else {
         /* Several children meet at one element: interior ones apply in turn; a leaf with
          * anything else is a conflict, as in mongod's merged update nodes. */
         bson_t value = BSON_INITIALIZER;
         bson_append_iter(&value, key, -1, &iter);
         for (size_t m = 0; m < n_matches; m++) {
            bson_t next = BSON_INITIALIZER;
            bson_iter_t vi;
            if (matches[m]->is_leaf) {
               error_set(ctx->error, FE_ConflictingUpdateOperators,
                         "Update created a conflict at '%s.%s'", ctx->path, key);
               bson_destroy(&value);
               bson_destroy(&next);
               goto done;
            }
            bson_iter_init(&vi, &value);
            bson_iter_next(&vi);
            if (!apply_node(ctx, matches[m], &vi, true, &next, key)) {
               bson_destroy(&value);
               bson_destroy(&next);
               goto done;
            }
            bson_destroy(&value);
            value = next;
         }
         /* value holds exactly the one element. */
         {
            bson_iter_t vi;
            bson_iter_init(&vi, &value);
            if (bson_iter_next(&vi)) {
               bson_append_iter(out, key, -1, &vi);
            }
         }
         bson_destroy(&value);
      }
      n++;
   }

   /* Indexes past the end: pad with null up to each one that creates something. */
   for (size_t i = 0; i < node->n_children; i++) {
      const node_t *child = node->children[i];
      int64_t index = child->kind == CHILD_FIELD ? child->index : -1;
      if (index < (int64_t) n || !subtree_creates(ctx, child)) {
         continue;
      }
      while ((int64_t) n < index) {
         bson_uint32_to_string(n, &key, keybuf, sizeof keybuf);
         bson_append_null(out, key, -1);
         n++;
      }
      bson_uint32_to_string(n, &key, keybuf, sizeof keybuf);
      if (!apply_node(ctx, child, NULL, true, out, key)) {
         goto done;
      }
      n++;
   }
   ok = true;

done:
   return ok;
}

static bool
apply_leaf(ctx_t *ctx, const node_t *node, const bson_iter_t *cur, bool in_array, bson_t *out,
           const char *key)
{
   const bson_value_t *value = cur ? bson_iter_value((bson_iter_t *) cur) : NULL;
   bson_value_t result;
   char idbuf[256];
   bson_iter_t source;

   switch (node->op) {
   case OP_SET_ON_INSERT:
      if (!ctx->inserting) {
         break;
      }
      /* fall through */
   case OP_SET:
      bson_append_value(out, key, -1, &node->value);
      return true;
   case OP_UNSET:
   case OP_RENAME_FROM:
      /* An unset array element becomes null: positions of the others stay. */
      if (cur && in_array) {
         bson_append_null(out, key, -1);
      }
      return true;
   case OP_INC:
   case OP_MUL:
      if (!value) {
         if (node->op == OP_INC) {
            bson_append_value(out, key, -1, &node->value);
         } else {
            bson_value_t zero = {.value_type = BSON_TYPE_INT32};
            update_util_multiply(&node->value, &zero, &result);
            bson_append_value(out, key, -1, &result);
         }
         return true;
      }
      if (!update_util_is_number(value->value_type)) {
         doc_id_json(ctx, idbuf, sizeof idbuf);
         return error_set(ctx->error, FE_TypeMismatch,
                          "Cannot apply %s to a value of non-numeric type. %s has the field '%s' "
                          "of non-numeric type %s",
                          node->op == OP_INC ? "$inc" : "$mul", idbuf, key,
                          update_util_type_name(value->value_type));
      }
      if (node->op == OP_INC) {
         update_util_add(value, &node->value, &result);
      } else {
         update_util_multiply(value, &node->value, &result);
      }
      bson_append_value(out, key, -1, &result);
      return true;
   case OP_MIN:
   case OP_MAX: {
      int cmp = value
                   ? update_util_compare_values_collated(&node->value, value, ctx->update->collator)
                   : 0;
      if (!value || (node->op == OP_MIN ? cmp < 0 : cmp > 0)) {
         bson_append_value(out, key, -1, &node->value);
         return true;
      }
      break;
   }
   case OP_CURRENT_DATE: {
      struct timespec now;
      clock_gettime(CLOCK_REALTIME, &now);
      if (node->timestamp) {
         bson_append_timestamp(out, key, -1, (uint32_t) now.tv_sec, 1);
      } else {
         bson_append_date_time(out, key, -1, (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000);
      }
      return true;
   }
   case OP_RENAME_TO:
      if (lookup_rename_source(ctx, node->rename_source, &source)) {
         bson_append_iter(out, key, -1, &source);
         return true;
      }
      break;
   case OP_BIT: {
      bson_iter_t ops;
      int64_t acc = 0;
      bool wide = false;
      if (value && value->value_type != BSON_TYPE_INT32 && value->value_type != BSON_TYPE_INT64) {
         doc_id_json(ctx, idbuf, sizeof idbuf);
         return error_set(ctx->error, FE_BadValue,
                          "Cannot apply $bit to a value of non-integral type.%s has the field %s "
                          "of non-integer type %s",
                          idbuf, key, update_util_type_name(value->value_type));
      }
      if (value) {
         wide = value->value_type == BSON_TYPE_INT64;
         acc = wide ? value->value.v_int64 : value->value.v_int32;
      }
      /* As SafeNum: int32 with int32 stays int32, anything with int64 widens. */
      bson_iter_init(&ops, node->each);
      while (bson_iter_next(&ops)) {
         int64_t operand =
            BSON_ITER_HOLDS_INT64(&ops) ? bson_iter_int64(&ops) : bson_iter_int32(&ops);
         const char *name = bson_iter_key(&ops);
         wide = wide || BSON_ITER_HOLDS_INT64(&ops);
         acc = name[0] == 'a'   ? (acc & operand)
               : name[0] == 'o' ? (acc | operand)
                                : (acc ^ operand);
         if (!wide) {
            acc = (int32_t) acc;
         }
      }
      if (wide) {
         bson_append_int64(out, key, -1, acc);
      } else {
         bson_append_int32(out, key, -1, (int32_t) acc);
      }
      return true;
   }
   case OP_PUSH:
      return apply_push(ctx, node, cur, out, key);
   case OP_ADD_TO_SET:
      return apply_add_to_set(ctx, node, cur, out, key);
   case OP_POP:
   case OP_PULL:
   case OP_PULL_ALL:
      if (!cur) {
         return true;
      }
      if (!BSON_ITER_HOLDS_ARRAY(cur)) {
         if (node->op == OP_POP) {
            return error_set(ctx->error, FE_TypeMismatch,
                             "Path '%s' contains an element of non-array type '%s'", ctx->path,
                             update_util_type_name(value->value_type));
         }
         return error_set(ctx->error, FE_BadValue, "Cannot apply %s to a non-array value",
                          node->op == OP_PULL ? "$pull" : "$pullAll");
      }
      return apply_pull(ctx, node, cur, out, key);
   }
   if (cur) {
      bson_append_iter(out, key, -1, cur);
   }
   return true;
}

static bool
apply_push(ctx_t *ctx, const node_t *node, const bson_iter_t *cur, bson_t *out, const char *key)
{
   bson_value_t *values = NULL;
   size_t n = 0, n_each = bson_count_keys(node->each), n_existing = 0, at;
   bson_iter_t iter, sub;
   bson_t arr;
   char keybuf[16];
   const char *k;
   size_t first = 0, last;
   char idbuf[256];

   if (cur && !BSON_ITER_HOLDS_ARRAY(cur)) {
      doc_id_json(ctx, idbuf, sizeof idbuf);
      return error_set(ctx->error, FE_BadValue,
                       "The field '%s' must be an array but is of type %s in document %s",
                       ctx->path, update_util_type_name(bson_iter_type(cur)), idbuf);
   }
   if (cur) {
      bson_iter_recurse(cur, &sub);
      while (bson_iter_next(&sub)) {
         n_existing++;
      }
   }
   values = bson_malloc(sizeof *values * (n_existing + n_each + 1));
   if (cur) {
      bson_iter_recurse(cur, &sub);
      while (bson_iter_next(&sub)) {
         values[n++] = *bson_iter_value(&sub);
      }
   }
   /* Insert the new values at $position (negative counts from the end). */
   at = n_existing;
   if (node->has_position) {
      if (node->position < 0) {
         at = (int64_t) n_existing + node->position < 0
                 ? 0
                 : (size_t) ((int64_t) n_existing + node->position);
      } else if ((uint64_t) node->position < n_existing) {
         at = (size_t) node->position;
      }
   }
   memmove(values + at + n_each, values + at, sizeof *values * (n_existing - at));
   bson_iter_init(&iter, node->each);
   while (bson_iter_next(&iter)) {
      values[at++] = *bson_iter_value(&iter);
   }
   n = n_existing + n_each;

   if (node->sort_dir || node->sort_spec) {
      stable_sort_values(values, n, node, ctx->update->collator);
   }
   last = n;
   if (node->has_slice) {
      if (node->slice >= 0) {
         last = (uint64_t) node->slice < n ? (size_t) node->slice : n;
      } else {
         first = (uint64_t) (-node->slice) < n ? n - (size_t) (-node->slice) : 0;
      }
   }

   bson_append_array_begin(out, key, -1, &arr);
   for (size_t i = first; i < last; i++) {
      bson_uint32_to_string((uint32_t) (i - first), &k, keybuf, sizeof keybuf);
      bson_append_value(&arr, k, -1, &values[i]);
   }
   bson_append_array_end(out, &arr);
   bson_free(values);
   return true;
}

static bool
apply_add_to_set(ctx_t *ctx, const node_t *node, const bson_iter_t *cur, bson_t *out,
                 const char *key)
{
   bson_value_t *values;
   size_t n = 0, cap;
   bson_iter_t iter, sub;
   bson_t arr;
   char keybuf[16];
   const char *k;

   if (cur && !BSON_ITER_HOLDS_ARRAY(cur)) {
      return error_set(ctx->error, FE_BadValue,
                       "Cannot apply $addToSet to non-array field. Field named '%s' has "
                       "non-array type %s",
                       key, update_util_type_name(bson_iter_type(cur)));
   }
   cap = bson_count_keys(node->each) + 1;
   if (cur) {
      bson_iter_recurse(cur, &sub);
      while (bson_iter_next(&sub)) {
         cap++;
      }
   }
   values = bson_malloc(sizeof *values * cap);
   if (cur) {
      bson_iter_recurse(cur, &sub);
      while (bson_iter_next(&sub)) {
         values[n++] = *bson_iter_value(&sub);
      }
   }
   bson_iter_init(&iter, node->each);
   while (bson_iter_next(&iter)) {
      const bson_value_t *candidate = bson_iter_value(&iter);
      bool present = false;
      for (size_t i = 0; i < n && !present; i++) {
         present = values_equal(&values[i], candidate, ctx->update->collator);
      }
      if (!present) {
         values[n++] = *candidate;
      }
   }
   bson_append_array_begin(out, key, -1, &arr);
   for (size_t i = 0; i < n; i++) {
      bson_uint32_to_string((uint32_t) i, &k, keybuf, sizeof keybuf);
      bson_append_value(&arr, k, -1, &values[i]);
   }
   bson_append_array_end(out, &arr);
   bson_free(values);
   return true;
}

/* $pop, $pull and $pullAll on an existing array. */
static bool
apply_pull(ctx_t *ctx, const node_t *node, const bson_iter_t *cur, bson_t *out, const char *key)
{
   bson_iter_t sub, each;
   bson_t arr;
   char keybuf[16];
   const char *k;
   uint32_t n = 0, count = 0, index = 0;

   (void) ctx;
   bson_iter_recurse(cur, &sub);
   while (bson_iter_next(&sub)) {
      count++;
   }
   bson_append_array_begin(out, key, -1, &arr);
   bson_iter_recurse(cur, &sub);
   while (bson_iter_next(&sub)) {
      bool drop = false;
      const bson_value_t *elem = bson_iter_value(&sub);

      if (node->op == OP_POP) {
         drop = node->position < 0 ? index == 0 : index == count - 1;
      } else if (node->op == OP_PULL_ALL) {
         bson_iter_init(&each, node->each);
         while (!drop && bson_iter_next(&each)) {
            drop = values_equal(bson_iter_value(&each), elem, ctx->update->collator);
         }
      } else if (node->pull_kind == PULL_EQUAL) {
         drop = values_equal(&node->value, elem, ctx->update->collator);
      } else if (node->pull_kind == PULL_OBJECT) {
         if (BSON_ITER_HOLDS_DOCUMENT(&sub)) {
            bson_t doc;
            uint32_t len;
            const uint8_t *data;
            bson_iter_document(&sub, &len, &data);
            bson_init_static(&doc, data, len);
            drop = filter_match(node->pull_filter, &doc, NULL);
         }
      } else {
         bson_t doc = BSON_INITIALIZER;
         bson_append_iter(&doc, "x", 1, &sub);
         drop = filter_match(node->pull_filter, &doc, NULL);
         bson_destroy(&doc);
      }
      index++;
      if (!drop) {
         bson_uint32_to_string(n++, &k, keybuf, sizeof keybuf);
         bson_append_iter(&arr, k, -1, &sub);
      }
   }
   bson_append_array_end(out, &arr);
   return true;
}

static bool
apply_replacement(ctx_t *ctx, const bson_t *doc, bson_t *out)
{
   bson_iter_t iter;

   (void) ctx;
   if (bson_iter_init_find(&iter, doc, "_id")) {
      bson_append_iter(out, "_id", 3, &iter);
   } else if (bson_iter_init_find(&iter, ctx->update->replacement, "_id")) {
      bson_append_iter(out, "_id", 3, &iter);
   }
   bson_iter_init(&iter, ctx->update->replacement);
   while (bson_iter_next(&iter)) {
      if (strcmp(bson_iter_key(&iter), "_id") == 0) {
         bson_iter_t old;
         if (bson_iter_init_find(&old, doc, "_id") &&
             !values_equal(bson_iter_value(&old), bson_iter_value(&iter), NULL)) {
            char *json = update_util_value_json(bson_iter_value(&iter));
            error_set(ctx->error, FE_ImmutableField,
                      "After applying the update, the (immutable) field '_id' was found to "
                      "have been altered to _id: %s",
                      json);
            bson_free(json);
            return false;
         }
         continue;
      }
      bson_append_iter(out, bson_iter_key(&iter), -1, &iter);
   }
   return true;
}

static bool
check_id(ctx_t *ctx, const bson_t *before, const bson_t *after)
{
   bson_iter_t old, new_id;
   bool had = bson_iter_init_find(&old, before, "_id");
   bool has = bson_iter_init_find(&new_id, after, "_id");

   if (had && !has) {
      return error_set(ctx->error, FE_ImmutableField,
                       "Performing an update on the path '_id' would modify the immutable field "
                       "'_id'");
   }
   if (had &&
       (bson_iter_type(&old) != bson_iter_type(&new_id) || !compare_values_equal(&old, &new_id))) {
      char *json = update_util_value_json(bson_iter_value(&new_id));
      error_set(ctx->error, FE_ImmutableField,
                "After applying the update, the (immutable) field '_id' was found to have been "
                "altered to _id: %s",
                json);
      bson_free(json);
      return false;
   }
   if (has && BSON_ITER_HOLDS_ARRAY(&new_id)) {
      return error_set(ctx->error, FE_InvalidIdField, "The '_id' value cannot be of type array");
   }
   return true;
}

/* True when applying node to a missing value would create something. */
static bool
subtree_creates(ctx_t *ctx, const node_t *node)
{
   bson_iter_t source;

   if (!node->is_leaf) {
      for (size_t i = 0; i < node->n_children; i++) {
         if (subtree_creates(ctx, node->children[i])) {
            return true;
         }
      }
      return false;
   }
   switch (node->op) {
   case OP_SET_ON_INSERT:
      return ctx->inserting;
   case OP_UNSET:
   case OP_RENAME_FROM:
   case OP_POP:
   case OP_PULL:
   case OP_PULL_ALL:
      return false;
   case OP_RENAME_TO:
      return lookup_rename_source(ctx, node->rename_source, &source);
   default:
      return true;
   }
}

static bool
subtree_has(const node_t *node, op_t op)
{
   if (node->is_leaf) {
      return node->op == op;
   }
   for (size_t i = 0; i < node->n_children; i++) {
      if (subtree_has(node->children[i], op)) {
         return true;
      }
   }
   return false;
}

static bool
has_array_children(const node_t *node)
{
   for (size_t i = 0; i < node->n_children; i++) {
      if (node->children[i]->kind != CHILD_FIELD) {
         return true;
      }
   }
   return false;
}

static bool
element_matches(const node_t *child, const bson_iter_t *elem)
{
   bson_t doc = BSON_INITIALIZER;
   bool match;

   bson_append_iter(&doc, child->af->id, -1, elem);
   match = filter_match(child->af->filter, &doc, NULL);
   bson_destroy(&doc);
   return match;
}

/* Finds a $rename source in the original document through embedded documents only. */
static bool
lookup_rename_source(ctx_t *ctx, const char *path, bson_iter_t *found)
{
   bson_iter_t iter;
   const char *comp = path;

   if (!bson_iter_init(&iter, ctx->original)) {
      return false;
   }
   for (;;) {
      size_t len = strcspn(comp, ".");
      if (!bson_iter_find_w_len(&iter, comp, (int) len)) {
         return false;
      }
      if (comp[len] == '\0') {
         *found = iter;
         return true;
      }
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         return false;
      }
      bson_iter_recurse(&iter, &iter);
      comp += len + 1;
   }
}

static size_t
path_push(ctx_t *ctx, const char *key)
{
   size_t saved = ctx->path_len;
   int written =
      snprintf(ctx->path + saved, sizeof ctx->path - saved, "%s%s", saved ? "." : "", key);
   if (written > 0) {
      ctx->path_len += (size_t) written;
      if (ctx->path_len >= sizeof ctx->path) {
         ctx->path_len = sizeof ctx->path - 1;
      }
   }
   return saved;
}

static void
doc_id_json(ctx_t *ctx, char *buf, size_t size)
{
   bson_iter_t iter;
   if (bson_iter_init_find(&iter, ctx->original, "_id")) {
      char *json = update_util_value_json(bson_iter_value(&iter));
      snprintf(buf, size, "{_id: %s}", json);
      bson_free(json);
   } else {
      snprintf(buf, size, "{}");
   }
}

/* Equality under collator (NULL: binary, as the _id check always is). */
static bool
values_equal(const bson_value_t *a, const bson_value_t *b, const fe_collator_t *collator)
{
   bson_t ha, hb;
   bson_iter_t ia, ib;
   bool equal;

   update_util_value_iter(a, &ha, &ia);
   update_util_value_iter(b, &hb, &ib);
   equal = compare_values_collated(&ia, &ib, collator) == 0;
   bson_destroy(&ha);
   bson_destroy(&hb);
   return equal;
}

/* Orders two $push elements by the $sort modifier. */
static int
compare_for_push(const bson_value_t *a, const bson_value_t *b, const node_t *node,
                 const fe_collator_t *collator)
{
   bson_iter_t spec;
   static const bson_value_t null_value = {.value_type = BSON_TYPE_NULL};

   if (!node->sort_spec) {
      return node->sort_dir * update_util_compare_values_collated(a, b, collator);
   }
   bson_iter_init(&spec, node->sort_spec);
   while (bson_iter_next(&spec)) {
      const bson_value_t *va = &null_value, *vb = &null_value;
      bson_t da, db;
      bson_iter_t ia, ib;
      int64_t dir = 1;
      int cmp;

      update_util_to_int64(bson_iter_value(&spec), &dir);
      if (a->value_type == BSON_TYPE_DOCUMENT &&
          bson_init_static(&da, a->value.v_doc.data, a->value.v_doc.data_len) &&
          bson_iter_init(&ia, &da) && bson_iter_find_descendant(&ia, bson_iter_key(&spec), &ia)) {
         va = bson_iter_value(&ia);
      }
      if (b->value_type == BSON_TYPE_DOCUMENT &&
          bson_init_static(&db, b->value.v_doc.data, b->value.v_doc.data_len) &&
          bson_iter_init(&ib, &db) && bson_iter_find_descendant(&ib, bson_iter_key(&spec), &ib)) {
         vb = bson_iter_value(&ib);
      }
      cmp = update_util_compare_values_collated(va, vb, collator);
      if (cmp != 0) {
         return (int) dir * cmp;
      }
   }
   return 0;
}

/* A stable merge sort: $push $sort keeps equal elements in their order. */
static void
stable_sort_values(bson_value_t *values, size_t n, const node_t *node,
                   const fe_collator_t *collator)
{
   bson_value_t *tmp;

   if (n < 2) {
      return;
   }
   tmp = bson_malloc(sizeof *tmp * n);
   for (size_t width = 1; width < n; width *= 2) {
      for (size_t lo = 0; lo < n; lo += 2 * width) {
         size_t mid = lo + width < n ? lo + width : n;
         size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
         size_t i = lo, j = mid, k = lo;
         while (i < mid && j < hi) {
            if (compare_for_push(&values[j], &values[i], node, collator) < 0) {
               tmp[k++] = values[j++];
            } else {
               tmp[k++] = values[i++];
            }
         }
         while (i < mid) {
            tmp[k++] = values[i++];
         }
         while (j < hi) {
            tmp[k++] = values[j++];
         }
      }
      memcpy(values, tmp, sizeof *tmp * n);
   }
   bson_free(tmp);
}

/*
 * Upserts
 */

/* Appends the equality parts of filter to set as {path: value}: plain values, $eq, a
 * one-element $in, and the same inside $and. */
static bool
collect_equalities(const bson_t *filter, bson_t *set, fe_error_t *error)
{
   bson_iter_t iter, sub, ops;
   uint32_t len;
   const uint8_t *data;

   bson_iter_init(&iter, filter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);

      if (strcmp(key, "$and") == 0 && BSON_ITER_HOLDS_ARRAY(&iter)) {
         bson_iter_recurse(&iter, &sub);
         while (bson_iter_next(&sub)) {
            bson_t clause;
            if (!BSON_ITER_HOLDS_DOCUMENT(&sub)) {
               continue;
            }
            bson_iter_document(&sub, &len, &data);
            bson_init_static(&clause, data, len);
            if (!collect_equalities(&clause, set, error)) {
               return false;
            }
         }
         continue;
      }
      if (key[0] == '$') {
         continue;
      }
      if (BSON_ITER_HOLDS_REGEX(&iter)) {
         continue;
      }
      if (BSON_ITER_HOLDS_DOCUMENT(&iter) && bson_iter_recurse(&iter, &ops) &&
          bson_iter_next(&ops) && bson_iter_key(&ops)[0] == '$') {
         bson_iter_recurse(&iter, &ops);
         while (bson_iter_next(&ops)) {
            if (strcmp(bson_iter_key(&ops), "$eq") == 0) {
               bson_append_iter(set, key, -1, &ops);
            } else if (strcmp(bson_iter_key(&ops), "$in") == 0 && BSON_ITER_HOLDS_ARRAY(&ops) &&
                       bson_iter_recurse(&ops, &sub) && bson_iter_next(&sub)) {
               bson_iter_t only = sub;
               if (!bson_iter_next(&sub) && !BSON_ITER_HOLDS_REGEX(&only)) {
                  bson_append_iter(set, key, -1, &only);
               }
            }
         }
         continue;
      }
      bson_append_iter(set, key, -1, &iter);
   }
   return true;
}
