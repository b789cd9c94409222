/*
 * stage_redact.c: $redact. The expression is evaluated on the document and, where it says
 * $$DESCEND, on every embedded document (also inside arrays) with $$CURRENT bound to it;
 * $$KEEP keeps a level whole, $$PRUNE drops it.
 *
 * $$DESCEND, $$PRUNE and $$KEEP are MongoDB's system variables holding the strings
 * "descend", "prune" and "keep". The expression language here knows only the variables every
 * expression may use, so the stage rewrites these three into their string literals before
 * compiling: the result is the same, and no other expression can see them.
 */
#include "query/aggregate/pipeline_int.h"

#include <string.h>

#include "query/update_int.h"

struct stage_redact {
   fe_expr_t *expr; /* owned */
};

typedef enum redact_action { REDACT_PRUNE, REDACT_KEEP, REDACT_DESCEND } redact_action_t;

static void rewrite_value(const bson_iter_t *iter, const char *key, bson_t *out);
static bool redact_document(const stage_redact_t *r, const bson_t *root, const bson_t *doc,
                            const fe_expr_var_t *vars, bson_t *out, bool *kept, int depth,
                            fe_error_t *error);
static bool redact_array(const stage_redact_t *r, const bson_t *root, const bson_t *arr,
                         const fe_expr_var_t *vars, bson_t *out, int depth, fe_error_t *error);

/* Nesting deeper than this is refused instead of recursing further (BSON allows ~100). */
#define REDACT_MAX_DEPTH 200

stage_redact_t *
stage_redact_compile(const bson_iter_t *spec, fe_error_t *error)
{
   stage_redact_t *r = bson_malloc0(sizeof *r);
   bson_t wrapped = BSON_INITIALIZER;
   bson_iter_t iter;

   rewrite_value(spec, "e", &wrapped);
   bson_iter_init_find(&iter, &wrapped, "e");
   r->expr = expr_compile(&iter, error);
   bson_destroy(&wrapped);
   if (!r->expr) {
      bson_free(r);
      return NULL;
   }
   return r;
}

bool
stage_redact_apply(const stage_redact_t *r, const fe_expr_var_t *vars, const bson_t *doc,
                   bson_t **out, fe_error_t *error)
{
   bson_t *result = bson_new();
   bool kept = false;

   *out = NULL;
   if (!redact_document(r, doc, doc, vars, result, &kept, 0, error)) {
      bson_destroy(result);
      return false;
   }
   if (!kept) {
      bson_destroy(result);
      return true;
   }
   *out = result;
   return true;
}

bool
stage_redact_check_vars(const stage_redact_t *r, const fe_expr_var_t *scope, fe_error_t *error)
{
   return expr_check_vars(r->expr, scope, error);
}

void
stage_redact_destroy(stage_redact_t *r)
{
   if (r) {
      expr_destroy(r->expr);
      bson_free(r);
   }
}

/* Copies the value at iter to out under key, with "$$DESCEND", "$$PRUNE" and "$$KEEP" (alone
 * or as the head of a path) replaced by their values; $literal is left alone. */
static void
rewrite_value(const bson_iter_t *iter, const char *key, bson_t *out)
{
   static const struct {
      const char *var;
      const char *value;
   } vars[] = {{"$$DESCEND", "descend"}, {"$$PRUNE", "prune"}, {"$$KEEP", "keep"}};
   bson_iter_t child;
   bson_t sub;

   if (BSON_ITER_HOLDS_UTF8(iter)) {
      const char *s = bson_iter_utf8(iter, NULL);
      for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
         if (strcmp(s, vars[i].var) == 0) {
            bson_append_document_begin(out, key, -1, &sub);
            bson_append_utf8(&sub, "$literal", 8, vars[i].value, -1);
            bson_append_document_end(out, &sub);
            return;
         }
      }
      bson_append_iter(out, key, -1, iter);
      return;
   }
   if (BSON_ITER_HOLDS_DOCUMENT(iter)) {
      bson_iter_recurse(iter, &child);
      bson_append_document_begin(out, key, -1, &sub);
      while (bson_iter_next(&child)) {
         if (strcmp(bson_iter_key(&child), "$literal") == 0) {
            bson_append_iter(&sub, "$literal", 8, &child);
         } else {
            rewrite_value(&child, bson_iter_key(&child), &sub);
         }
      }
      bson_append_document_end(out, &sub);
      return;
   }
   if (BSON_ITER_HOLDS_ARRAY(iter)) {
      bson_iter_recurse(iter, &child);
      bson_append_array_begin(out, key, -1, &sub);
      while (bson_iter_next(&child)) {
         rewrite_value(&child, bson_iter_key(&child), &sub);
      }
      bson_append_array_end(out, &sub);
      return;
   }
   bson_append_iter(out, key, -1, iter);
}

/* Evaluates the expression with $$CURRENT = doc (and $$ROOT = root). */
static bool
decide(const stage_redact_t *r, const bson_t *root, const bson_t *doc, const fe_expr_var_t *vars,
       redact_action_t *action, fe_error_t *error)
{
   bson_value_t current = {.value_type = BSON_TYPE_DOCUMENT};
   fe_expr_var_t bind = {.name = "CURRENT", .value = &current, .next = vars};
   bson_value_t v;
   bool ok = false;

   current.value.v_doc.data = (uint8_t *) bson_get_data(doc);
   current.value.v_doc.data_len = doc->len;
   if (!expr_evaluate(r->expr, root, &bind, &v, error)) {
      return false;
   }
   if (v.value_type == BSON_TYPE_UTF8 && strcmp(v.value.v_utf8.str, "prune") == 0) {
      *action = REDACT_PRUNE;
      ok = true;
   } else if (v.value_type == BSON_TYPE_UTF8 && strcmp(v.value.v_utf8.str, "keep") == 0) {
      *action = REDACT_KEEP;
      ok = true;
   } else if (v.value_type == BSON_TYPE_UTF8 && strcmp(v.value.v_utf8.str, "descend") == 0) {
      *action = REDACT_DESCEND;
      ok = true;
   } else {
      char *json =
         v.value_type == BSON_TYPE_EOD ? bson_strdup("MISSING") : update_util_value_json(&v);
      error_set(error, 17053,
                "$redact's expression should not return anything aside from the variables "
                "$$KEEP, $$DESCEND, and $$PRUNE, but returned %s",
                json);
      bson_free(json);
   }
   bson_value_destroy(&v);
   return ok;
}

static bool
redact_document(const stage_redact_t *r, const bson_t *root, const bson_t *doc,
                const fe_expr_var_t *vars, bson_t *out, bool *kept, int depth, fe_error_t *error)
{
   redact_action_t action;
   bson_iter_t iter;

   *kept = false;
   if (depth > REDACT_MAX_DEPTH) {
      return error_set(error, FE_BadValue, "$redact: documents nested too deeply");
   }
   if (!decide(r, root, doc, vars, &action, error)) {
      return false;
   }
   if (action == REDACT_PRUNE) {
      return true;
   }
   *kept = true;
   if (action == REDACT_KEEP) {
      bson_concat(out, doc);
      return true;
   }
   bson_iter_init(&iter, doc);
   while (bson_iter_next(&iter)) {
      uint32_t len;
      const uint8_t *data;
      bson_t sub, child;
      if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         bool sub_kept;
         bson_t *tmp = bson_new();
         bson_iter_document(&iter, &len, &data);
         bson_init_static(&sub, data, len);
         if (!redact_document(r, root, &sub, vars, tmp, &sub_kept, depth + 1, error)) {
            bson_destroy(tmp);
            return false;
         }
         if (sub_kept) {
            bson_append_document(out, bson_iter_key(&iter), -1, tmp);
         }
         bson_destroy(tmp);
      } else if (BSON_ITER_HOLDS_ARRAY(&iter)) {
         bson_iter_array(&iter, &len, &data);
         bson_init_static(&sub, data, len);
         bson_append_array_begin(out, bson_iter_key(&iter), -1, &child);
         if (!redact_array(r, root, &sub, vars, &child, depth + 1, error)) {
            bson_append_array_end(out, &child);
            return false;
         }
         bson_append_array_end(out, &child);
      } else {
         bson_append_iter(out, bson_iter_key(&iter), -1, &iter);
      }
   }
   return true;
}

/* An array under $$DESCEND: documents are redacted (pruned ones dropped), arrays descended,
 * other values kept. */
static bool
redact_array(const stage_redact_t *r, const bson_t *root, const bson_t *arr,
             const fe_expr_var_t *vars, bson_t *out, int depth, fe_error_t *error)
{
   bson_iter_t iter;
   uint32_t index = 0;

   bson_iter_init(&iter, arr);
   while (bson_iter_next(&iter)) {
      char key[16];
      const char *key_ptr;
      uint32_t len;
      const uint8_t *data;
      bson_t sub, child;

      bson_uint32_to_string(index, &key_ptr, key, sizeof key);
      if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         bool kept;
         bson_t *tmp = bson_new();
         bson_iter_document(&iter, &len, &data);
         bson_init_static(&sub, data, len);
         if (!redact_document(r, root, &sub, vars, tmp, &kept, depth + 1, error)) {
            bson_destroy(tmp);
            return false;
         }
         if (kept) {
            bson_append_document(out, key_ptr, -1, tmp);
            index++;
         }
         bson_destroy(tmp);
      } else if (BSON_ITER_HOLDS_ARRAY(&iter)) {
         bool ok;
         bson_iter_array(&iter, &len, &data);
         bson_init_static(&sub, data, len);
         bson_append_array_begin(out, key_ptr, -1, &child);
         ok = redact_array(r, root, &sub, vars, &child, depth + 1, error);
         bson_append_array_end(out, &child);
         if (!ok) {
            return false;
         }
         index++;
      } else {
         bson_append_iter(out, key_ptr, -1, &iter);
         index++;
      }
   }
   return true;
}
