/*
 * stage_project.c: $project, $addFields/$set and $unset, as one tree of paths.
 *
 * $project is an inclusion (fields kept in document order, computed fields appended in the
 * order given) or an exclusion; _id is kept unless excluded. $addFields replaces fields in
 * place and appends new ones. Dotted paths and nested objects address embedded documents,
 * and through arrays each element. Expressions always see the whole document as $$ROOT.
 */
#include "query/aggregate/pipeline_int.h"

#include <string.h>

typedef enum pnode_kind {
   PN_INCLUDE,
   PN_EXCLUDE,
   PN_EXPR,
   PN_SUB,
} pnode_kind_t;

typedef struct pnode pnode_t;

struct pnode {
   char *name; /* owned */
   pnode_kind_t kind;
   fe_expr_t *expr;    /* owned; PN_EXPR */
   pnode_t **children; /* owned; PN_SUB, in the order given */
   size_t n_children;
};

struct stage_project {
   stage_project_mode_t mode;
   bool inclusion; /* STAGE_PROJECT_PROJECT: inclusion or exclusion */
   pnode_t *root;  /* owned */
};

typedef struct apply_ctx {
   const bson_t *root;
   const fe_expr_var_t *vars;
   fe_error_t *error;
} apply_ctx_t;

static bool parse_spec(stage_project_t *p, pnode_t *node, const bson_t *spec, const char *name,
                       fe_error_t *error);
static pnode_t *pnode_new(const char *name, size_t len, pnode_kind_t kind);
static void pnode_destroy(pnode_t *node);
static pnode_t *pnode_find(const pnode_t *node, const char *name, size_t len);
static void pnode_add(pnode_t *parent, pnode_t *child);
static bool scan_mode(const pnode_t *node, bool top, bool *include, bool *exclude,
                      const char **first_include, const char **first_exclude);
static bool has_expr(const pnode_t *node);
static bool apply_inclusion(apply_ctx_t *c, const pnode_t *node, const bson_t *doc, bson_t *out);
static bool apply_inclusion_array(apply_ctx_t *c, const pnode_t *node, const bson_t *arr,
                                  bson_t *out);
static void apply_exclusion(const pnode_t *node, const bson_t *doc, bson_t *out);
static void apply_exclusion_array(const pnode_t *node, const bson_t *arr, bson_t *out);
static bool apply_add_fields(apply_ctx_t *c, const pnode_t *node, const bson_t *doc, bson_t *out);
static bool apply_add_fields_array(apply_ctx_t *c, const pnode_t *node, const bson_t *arr,
                                   bson_t *out);
static bool append_expr(apply_ctx_t *c, const pnode_t *node, bson_t *out);

stage_project_t *
stage_project_compile(const bson_t *spec, stage_project_mode_t mode, const char *name,
                      fe_error_t *error)
{
   stage_project_t *p = bson_malloc0(sizeof *p);
   bool include = false, exclude = false;
   const char *first_include = NULL, *first_exclude = NULL;

   p->mode = mode;
   p->root = pnode_new("", 0, PN_SUB);
   if (bson_empty(spec)) {
      error_set(error, mode == STAGE_PROJECT_PROJECT ? 51272 : 40177,
                "Invalid %s :: caused by :: %s specification must have at least one field", name,
                name);
      goto fail;
   }
   if (!parse_spec(p, p->root, spec, name, error)) {
      goto fail;
   }
   if (mode != STAGE_PROJECT_PROJECT) {
      return p;
   }
   scan_mode(p->root, true, &include, &exclude, &first_include, &first_exclude);
   if (include && exclude) {
      error_set(error, 31254,
                "Invalid $project :: caused by :: Cannot do exclusion on field %s in inclusion "
                "projection",
                first_exclude);
      goto fail;
   }
   p->inclusion = include;
   if (p->inclusion && !pnode_find(p->root, "_id", 3)) {
      /* _id is kept unless excluded; it is first in stored documents. */
      pnode_t *id = pnode_new("_id", 3, PN_INCLUDE);
      pnode_add(p->root, id);
   }
   return p;

fail:
   stage_project_destroy(p);
   return NULL;
}

bool
stage_project_apply(const stage_project_t *p, const bson_t *doc, const fe_expr_var_t *vars,
                    bson_t *out, fe_error_t *error)
{
   apply_ctx_t c = {.root = doc, .vars = vars, .error = error};

   bson_init(out);
   switch (p->mode) {
   case STAGE_PROJECT_PROJECT:
      if (p->inclusion) {
         return apply_inclusion(&c, p->root, doc, out);
      }
      apply_exclusion(p->root, doc, out);
      return true;
   case STAGE_PROJECT_ADD_FIELDS:
      return apply_add_fields(&c, p->root, doc, out);
   case STAGE_PROJECT_UNSET:
      apply_exclusion(p->root, doc, out);
      return true;
   }
   return false;
}

static bool
pnode_check_vars(const pnode_t *node, const fe_expr_var_t *scope, fe_error_t *error)
{
   if (node->expr && !expr_check_vars(node->expr, scope, error)) {
      return false;
   }
   for (size_t i = 0; i < node->n_children; i++) {
      if (!pnode_check_vars(node->children[i], scope, error)) {
         return false;
      }
   }
   return true;
}

bool
stage_project_check_vars(const stage_project_t *project, const fe_expr_var_t *scope,
                         fe_error_t *error)
{
   return pnode_check_vars(project->root, scope, error);
}

void
stage_project_destroy(stage_project_t *p)
{
   if (p) {
      pnode_destroy(p->root);
      bson_free(p);
   }
}

/*
 * Compilation
 */

static bool
parse_spec(stage_project_t *p, pnode_t *node, const bson_t *spec, const char *name,
           fe_error_t *error)
{
   bson_iter_t iter;

   bson_iter_init(&iter, spec);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      const char *comp = key;
      pnode_t *parent = node, *leaf;
      pnode_kind_t kind;
      size_t len;

      if (key[0] == '\0') {
         return error_set(error, 40352,
                          "Invalid %s :: caused by :: FieldPath cannot be "
                          "constructed with empty string",
                          name);
      }
      if (key[0] == '$') {
         return error_set(error, 16410,
                          "Invalid %s :: caused by :: FieldPath field names may not start with "
                          "'$'. Consider using $getField or $setField.",
                          name);
      }
      /* Walk the dotted prefix. */
      for (;;) {
         pnode_t *child;
         len = strcspn(comp, ".");
         if (len == 0) {
            return error_set(error, 15998,
                             "Invalid %s :: caused by :: FieldPath field names may not be empty "
                             "strings.",
                             name);
         }
         if (comp[len] == '\0') {
            break;
         }
         child = pnode_find(parent, comp, len);
         if (!child) {
            child = pnode_new(comp, len, PN_SUB);
            pnode_add(parent, child);
         } else if (child->kind != PN_SUB) {
            return error_set(error, 31250, "Invalid %s :: caused by :: Path collision at %s", name,
                             key);
         }
         parent = child;
         comp += len + 1;
      }
      if (pnode_find(parent, comp, len)) {
         return error_set(error, 31250, "Invalid %s :: caused by :: Path collision at %s", name,
                          key);
      }

      if (p->mode == STAGE_PROJECT_UNSET) {
         kind = PN_EXCLUDE;
      } else if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         bson_iter_t first;
         bson_iter_recurse(&iter, &first);
         if (bson_iter_next(&first) && bson_iter_key(&first)[0] == '$') {
            kind = PN_EXPR;
         } else if (bson_iter_recurse(&iter, &first) && !bson_iter_next(&first)) {
            if (p->mode == STAGE_PROJECT_PROJECT) {
               return error_set(error, 51270,
                                "Invalid $project :: caused by :: An empty sub-projection is "
                                "not a valid value. Found empty object at path");
            }
            kind = PN_EXPR;
         } else {
            kind = PN_SUB;
         }
      } else if (p->mode == STAGE_PROJECT_PROJECT &&
                 (BSON_ITER_HOLDS_BOOL(&iter) || BSON_ITER_HOLDS_NUMBER(&iter))) {
         kind = bson_iter_as_bool(&iter) ? PN_INCLUDE : PN_EXCLUDE;
      } else {
         kind = PN_EXPR;
      }

      leaf = pnode_new(comp, len, kind);
      pnode_add(parent, leaf);
      if (kind == PN_EXPR) {
         leaf->expr = expr_compile(&iter, error);
         if (!leaf->expr) {
            return false;
         }
      } else if (kind == PN_SUB) {
         bson_t sub;
         uint32_t dlen;
         const uint8_t *data;
         bson_iter_document(&iter, &dlen, &data);
         bson_init_static(&sub, data, dlen);
         if (!parse_spec(p, leaf, &sub, name, error)) {
            return false;
         }
      }
   }
   return true;
}

static pnode_t *
pnode_new(const char *name, size_t len, pnode_kind_t kind)
{
   pnode_t *node = bson_malloc0(sizeof *node);
   node->name = bson_strndup(name, len);
   node->kind = kind;
   return node;
}

static void
pnode_destroy(pnode_t *node)
{
   if (!node) {
      return;
   }
   for (size_t i = 0; i < node->n_children; i++) {
      pnode_destroy(node->children[i]);
   }
   bson_free(node->children);
   expr_destroy(node->expr);
   bson_free(node->name);
   bson_free(node);
}

static pnode_t *
pnode_find(const pnode_t *node, const char *name, size_t len)
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
pnode_add(pnode_t *parent, pnode_t *child)
{
   parent->children =
      bson_realloc(parent->children, sizeof *parent->children * (parent->n_children + 1));
   parent->children[parent->n_children++] = child;
}

/* Finds whether the projection includes (or computes) and whether it excludes; a top-level
 * _id exclusion is allowed in either mode. */
static bool
scan_mode(const pnode_t *node, bool top, bool *include, bool *exclude, const char **first_include,
          const char **first_exclude)
{
   for (size_t i = 0; i < node->n_children; i++) {
      const pnode_t *child = node->children[i];
      switch (child->kind) {
      case PN_INCLUDE:
      case PN_EXPR:
         *include = true;
         if (!*first_include) {
            *first_include = child->name;
         }
         break;
      case PN_EXCLUDE:
         if (top && strcmp(child->name, "_id") == 0) {
            break;
         }
         *exclude = true;
         if (!*first_exclude) {
            *first_exclude = child->name;
         }
         break;
      case PN_SUB:
         scan_mode(child, false, include, exclude, first_include, first_exclude);
         break;
      }
   }
   return true;
}

static bool
has_expr(const pnode_t *node)
{
   if (node->kind == PN_EXPR) {
      return true;
   }
   for (size_t i = 0; i < node->n_children; i++) {
      if (has_expr(node->children[i])) {
         return true;
      }
   }
   return false;
}

/*
 * Application
 */

static bool
iter_to_bson(const bson_iter_t *iter, bson_t *sub)
{
   uint32_t len;
   const uint8_t *data;
   if (BSON_ITER_HOLDS_DOCUMENT(iter)) {
      bson_iter_document(iter, &len, &data);
   } else {
      bson_iter_array(iter, &len, &data);
   }
   return bson_init_static(sub, data, len);
}

static bool
append_expr(apply_ctx_t *c, const pnode_t *node, bson_t *out)
{
   bson_value_t v;
   if (!expr_evaluate(node->expr, c->root, c->vars, &v, c->error)) {
      return false;
   }
   if (v.value_type != BSON_TYPE_EOD) {
      bson_append_value(out, node->name, -1, &v);
   }
   bson_value_destroy(&v);
   return true;
}

static bool
apply_inclusion(apply_ctx_t *c, const pnode_t *node, const bson_t *doc, bson_t *out)
{
   bool *emitted = bson_malloc0(node->n_children + 1);
   bson_iter_t iter;
   bool ok = false;

   if (doc && bson_iter_init(&iter, doc)) {
      while (bson_iter_next(&iter)) {
         const pnode_t *child = pnode_find(node, bson_iter_key(&iter), bson_iter_key_len(&iter));
         size_t index;
         bson_t sub, child_out;

         if (!child) {
            continue;
         }
         index = 0;
         while (node->children[index] != child) {
            index++;
         }
         if (child->kind == PN_INCLUDE) {
            bson_append_iter(out, bson_iter_key(&iter), -1, &iter);
            emitted[index] = true;
         } else if (child->kind == PN_SUB &&
                    (BSON_ITER_HOLDS_DOCUMENT(&iter) || BSON_ITER_HOLDS_ARRAY(&iter))) {
            bool is_doc = BSON_ITER_HOLDS_DOCUMENT(&iter);
            bool sub_ok;
            iter_to_bson(&iter, &sub);
            if (is_doc) {
               bson_append_document_begin(out, child->name, -1, &child_out);
               sub_ok = apply_inclusion(c, child, &sub, &child_out);
               bson_append_document_end(out, &child_out);
            } else {
               bson_append_array_begin(out, child->name, -1, &child_out);
               sub_ok = apply_inclusion_array(c, child, &sub, &child_out);
               bson_append_array_end(out, &child_out);
            }
            if (!sub_ok) {
               goto done;
            }
            emitted[index] = true;
         }
      }
   }
   for (size_t i = 0; i < node->n_children; i++) {
      const pnode_t *child = node->children[i];
      if (emitted[i]) {
         continue;
      }
      if (child->kind == PN_EXPR) {
         if (!append_expr(c, child, out)) {
            goto done;
         }
      } else if (child->kind == PN_SUB && has_expr(child)) {
         bson_t child_out;
         bool sub_ok;
         bson_append_document_begin(out, child->name, -1, &child_out);
         sub_ok = apply_inclusion(c, child, NULL, &child_out);
         bson_append_document_end(out, &child_out);
         if (!sub_ok) {
            goto done;
         }
      }
   }
   ok = true;

done:
   bson_free(emitted);
   return ok;
}

static bool
apply_inclusion_array(apply_ctx_t *c, const pnode_t *node, const bson_t *arr, bson_t *out)
{
   bson_iter_t iter;
   uint32_t n = 0;
   bool computed = has_expr(node);

   bson_iter_init(&iter, arr);
   while (bson_iter_next(&iter)) {
      char keybuf[16];
      const char *key;
      bson_t sub, child_out;
      bool ok = true;

      bson_uint32_to_string(n, &key, keybuf, sizeof keybuf);
      if (BSON_ITER_HOLDS_DOCUMENT(&iter) || (!BSON_ITER_HOLDS_ARRAY(&iter) && computed)) {
         bson_t *src = NULL;
         if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            iter_to_bson(&iter, &sub);
            src = &sub;
         }
         bson_append_document_begin(out, key, -1, &child_out);
         ok = apply_inclusion(c, node, src, &child_out);
         bson_append_document_end(out, &child_out);
         n++;
      } else if (BSON_ITER_HOLDS_ARRAY(&iter)) {
         iter_to_bson(&iter, &sub);
         bson_append_array_begin(out, key, -1, &child_out);
         ok = apply_inclusion_array(c, node, &sub, &child_out);
         bson_append_array_end(out, &child_out);
         n++;
      }
      if (!ok) {
         return false;
      }
   }
   return true;
}

static void
apply_exclusion(const pnode_t *node, const bson_t *doc, bson_t *out)
{
   bson_iter_t iter;

   bson_iter_init(&iter, doc);
   while (bson_iter_next(&iter)) {
      const pnode_t *child = pnode_find(node, bson_iter_key(&iter), bson_iter_key_len(&iter));
      bson_t sub, child_out;

      if (!child || (child->kind == PN_SUB && !BSON_ITER_HOLDS_DOCUMENT(&iter) &&
                     !BSON_ITER_HOLDS_ARRAY(&iter))) {
         bson_append_iter(out, bson_iter_key(&iter), -1, &iter);
      } else if (child->kind == PN_SUB) {
         iter_to_bson(&iter, &sub);
         if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            bson_append_document_begin(out, child->name, -1, &child_out);
            apply_exclusion(child, &sub, &child_out);
            bson_append_document_end(out, &child_out);
         } else {
            bson_append_array_begin(out, child->name, -1, &child_out);
            apply_exclusion_array(child, &sub, &child_out);
            bson_append_array_end(out, &child_out);
         }
      } else if (child->kind != PN_EXCLUDE) {
         bson_append_iter(out, bson_iter_key(&iter), -1, &iter);
      }
   }
}

static void
apply_exclusion_array(const pnode_t *node, const bson_t *arr, bson_t *out)
{
   bson_iter_t iter;

   bson_iter_init(&iter, arr);
   while (bson_iter_next(&iter)) {
      bson_t sub, child_out;
      if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         iter_to_bson(&iter, &sub);
         bson_append_document_begin(out, bson_iter_key(&iter), -1, &child_out);
         apply_exclusion(node, &sub, &child_out);
         bson_append_document_end(out, &child_out);
      } else if (BSON_ITER_HOLDS_ARRAY(&iter)) {
         iter_to_bson(&iter, &sub);
         bson_append_array_begin(out, bson_iter_key(&iter), -1, &child_out);
         apply_exclusion_array(node, &sub, &child_out);
         bson_append_array_end(out, &child_out);
      } else {
         bson_append_iter(out, bson_iter_key(&iter), -1, &iter);
      }
   }
}

static bool
apply_add_fields(apply_ctx_t *c, const pnode_t *node, const bson_t *doc, bson_t *out)
{
   bool *emitted = bson_malloc0(node->n_children + 1);
   bson_iter_t iter;
   bool ok = false;

   if (doc && bson_iter_init(&iter, doc)) {
      while (bson_iter_next(&iter)) {
         const pnode_t *child = pnode_find(node, bson_iter_key(&iter), bson_iter_key_len(&iter));
         size_t index = 0;
         bson_t sub, child_out;
         bool sub_ok = true;

         if (!child) {
            bson_append_iter(out, bson_iter_key(&iter), -1, &iter);
            continue;
         }
         while (node->children[index] != child) {
            index++;
         }
         emitted[index] = true;
         if (child->kind == PN_EXPR) {
            sub_ok = append_expr(c, child, out);
         } else if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            iter_to_bson(&iter, &sub);
            bson_append_document_begin(out, child->name, -1, &child_out);
            sub_ok = apply_add_fields(c, child, &sub, &child_out);
            bson_append_document_end(out, &child_out);
         } else if (BSON_ITER_HOLDS_ARRAY(&iter)) {
            iter_to_bson(&iter, &sub);
            bson_append_array_begin(out, child->name, -1, &child_out);
            sub_ok = apply_add_fields_array(c, child, &sub, &child_out);
            bson_append_array_end(out, &child_out);
         } else {
            bson_append_document_begin(out, child->name, -1, &child_out);
            sub_ok = apply_add_fields(c, child, NULL, &child_out);
            bson_append_document_end(out, &child_out);
         }
         if (!sub_ok) {
            goto done;
         }
      }
   }
   for (size_t i = 0; i < node->n_children; i++) {
      const pnode_t *child = node->children[i];
      bool sub_ok;
      bson_t child_out;
      if (emitted[i]) {
         continue;
      }
      if (child->kind == PN_EXPR) {
         sub_ok = append_expr(c, child, out);
      } else {
         bson_append_document_begin(out, child->name, -1, &child_out);
         sub_ok = apply_add_fields(c, child, NULL, &child_out);
         bson_append_document_end(out, &child_out);
      }
      if (!sub_ok) {
         goto done;
      }
   }
   ok = true;

done:
   bson_free(emitted);
   return ok;
}

static bool
apply_add_fields_array(apply_ctx_t *c, const pnode_t *node, const bson_t *arr, bson_t *out)
{
   bson_iter_t iter;

   bson_iter_init(&iter, arr);
   while (bson_iter_next(&iter)) {
      bson_t sub, child_out;
      bool ok;
      if (BSON_ITER_HOLDS_ARRAY(&iter)) {
         iter_to_bson(&iter, &sub);
         bson_append_array_begin(out, bson_iter_key(&iter), -1, &child_out);
         ok = apply_add_fields_array(c, node, &sub, &child_out);
         bson_append_array_end(out, &child_out);
      } else {
         bool is_doc = BSON_ITER_HOLDS_DOCUMENT(&iter);
         if (is_doc) {
            iter_to_bson(&iter, &sub);
         }
         bson_append_document_begin(out, bson_iter_key(&iter), -1, &child_out);
         ok = apply_add_fields(c, node, is_doc ? &sub : NULL, &child_out);
         bson_append_document_end(out, &child_out);
      }
      if (!ok) {
         return false;
      }
   }
   return true;
}
