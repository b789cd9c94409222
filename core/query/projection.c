/*
 * projection.c: find projections (MongoDB 4.4+ rules): inclusion or exclusion, _id included
 * unless excluded, dotted and nested paths (through arrays of documents), positional `$`,
 * $slice, $elemMatch, $literal and literal values.
 */
#include "query/projection.h"

#include <stdlib.h>
#include <string.h>

#include "bson/numeric.h"
#include "bson/path.h"

typedef enum pnode_kind {
   PN_INNER, /* a path prefix: its children name subfields */
   PN_INCLUDE,
   PN_EXCLUDE,
   PN_LITERAL, /* a value to set */
   PN_SLICE,
   PN_ELEM_MATCH, /* the first element matching a filter */
   PN_POSITIONAL, /* the element the query's positional index names */
} pnode_kind_t;

typedef struct pnode pnode_t;

struct pnode {
   char *name; /* owned */
   pnode_kind_t kind;
   pnode_t **children; /* owned; PN_INNER */
   size_t count;
   bool has_positional; /* PN_INNER: a positional projection lies below */
   bool has_literal;    /* PN_INNER: a literal lies below */
   bson_t *literal;     /* owned: PN_LITERAL, {"": value} */
   int64_t skip, limit; /* PN_SLICE */
   bool has_skip;
   fe_filter_t *filter; /* owned: PN_ELEM_MATCH, {name: {$elemMatch: spec}} */
};

typedef enum proj_type { TYPE_UNKNOWN, TYPE_INCLUSION, TYPE_EXCLUSION } proj_type_t;

struct fe_projection {
   pnode_t *root; /* owned */
   proj_type_t type;
   bool id_excluded;
   bool id_included; /* {_id: 1} alone is an inclusion projection */
};

typedef struct apply_ctx {
   const fe_projection_t *projection;
   int32_t positional; /* the query's positional index, or -1 */
   fe_error_t *error;
   bool failed;
} apply_ctx_t;

/* Compilation */
static bool add_spec(fe_projection_t *proj, const char *prefix, const bson_iter_t *doc,
                     fe_error_t *error);
static bool add_field(fe_projection_t *proj, const char *path, const bson_iter_t *value,
                      fe_error_t *error);
static pnode_t *pnode_new(const char *name, size_t len, pnode_kind_t kind);
static void pnode_destroy(pnode_t *node);
static pnode_t *pnode_child(const pnode_t *node, const char *name);

/* Application */
static void apply_include(apply_ctx_t *ctx, const pnode_t *node, const bson_iter_t *doc,
                          bson_t *out, bool root);
static void apply_exclude(apply_ctx_t *ctx, const pnode_t *node, const bson_iter_t *doc,
                          bson_t *out);
static void append_literals(const pnode_t *node, bson_t *out);
static void append_slice(const pnode_t *node, const bson_iter_t *value, bson_t *out);

fe_projection_t *
projection_compile(const bson_t *spec, fe_error_t *error)
{
   fe_projection_t *proj = bson_malloc0(sizeof *proj);
   bson_iter_t it;
   bool ok = false;

   proj->root = pnode_new("", 0, PN_INNER);
   if (!bson_iter_init(&it, spec)) {
      error_set(error, FE_BadValue, "invalid projection document");
      goto done;
   }
   if (!add_spec(proj, "", &it, error)) {
      goto done;
   }
   if (proj->type == TYPE_UNKNOWN) {
      /* Only _id or $slice: {_id: 1} keeps just _id; otherwise every other field stays. */
      proj->type = proj->id_included ? TYPE_INCLUSION : TYPE_EXCLUSION;
   }
   ok = true;
done:
   if (!ok) {
      projection_destroy(proj);
      proj = NULL;
   }
   return proj;
}

void
projection_destroy(fe_projection_t *projection)
{
   if (projection) {
      pnode_destroy(projection->root);
      bson_free(projection);
   }
}

bool
projection_apply(const fe_projection_t *projection, const bson_t *doc, const fe_match_info_t *match,
                 bson_t *out, fe_error_t *error)
{
   apply_ctx_t ctx = {projection, match ? match->positional_index : -1, error, false};
   bson_iter_t it;

   bson_init(out);
   if (!bson_iter_init(&it, doc)) {
      return error_set(error, FE_BadValue, "invalid document");
   }
   if (projection->type == TYPE_INCLUSION) {
      apply_include(&ctx, projection->root, &it, out, true);
   } else {
      apply_exclude(&ctx, projection->root, &it, out);
   }
   if (ctx.failed) {
      bson_reinit(out);
      return false;
   }
   return true;
}

/* Compilation */

static bool
add_spec(fe_projection_t *proj, const char *prefix, const bson_iter_t *doc, fe_error_t *error)
{
   bson_iter_t it = *doc;
   while (bson_iter_next(&it)) {
      char *path = prefix[0] ? bson_strdup_printf("%s.%s", prefix, bson_iter_key(&it))
                             : bson_strdup(bson_iter_key(&it));
      bool ok = add_field(proj, path, &it, error);
      bson_free(path);
      if (!ok) {
         return false;
      }
   }
   return true;
}

static bool
set_type(fe_projection_t *proj, proj_type_t type, const char *path, fe_error_t *error)
{
   if (strcmp(path, "_id") == 0) {
      return true; /* _id may be included or excluded in either kind */
   }
   if (proj->type == TYPE_UNKNOWN) {
      proj->type = type;
   } else if (proj->type != type) {
      if (type == TYPE_EXCLUSION) {
         return error_set(error, FE_Location31254,
                          "Cannot do exclusion on field %s in inclusion projection", path);
      }
      return error_set(error, FE_Location31253,
                       "Cannot do inclusion on field %s in exclusion projection", path);
   }
   return true;
}

/* Places a leaf at path, creating inner nodes; a leaf on a leaf's path, or the other way
 * round, is a path collision. */
static bool
place(fe_projection_t *proj, const char *path, pnode_t *leaf, fe_error_t *error)
{
   pnode_t *node = proj->root;
   const char *start = path;
   bool ok = false;

   for (;;) {
      const char *dot = strchr(start, '.');
      size_t len = dot ? (size_t) (dot - start) : strlen(start);
      pnode_t *child = NULL;
      if (len == 0) {
         error_set(error, FE_BadValue, "FieldPath field names may not be empty strings");
         goto done;
      }
      for (size_t i = 0; i < node->count; i++) {
         if (strlen(node->children[i]->name) == len &&
             memcmp(node->children[i]->name, start, len) == 0) {
            child = node->children[i];
         }
      }
      if (leaf->kind == PN_POSITIONAL) {
         node->has_positional = true;
      }
      if (leaf->kind == PN_LITERAL) {
         node->has_literal = true;
      }
      if (!dot) {
         if (child) {
            error_set(error, FE_Location31250, "Path collision at %s", path);
            goto done;
         }
         bson_free(leaf->name);
         leaf->name = bson_strndup(start, len);
         node->children = bson_realloc(node->children, (node->count + 1) * sizeof *node->children);
         node->children[node->count++] = leaf;
         leaf = NULL;
         ok = true;
         goto done;
      }
      if (child && child->kind != PN_INNER) {
         error_set(error, FE_Location31249, "Path collision at %s remaining portion %s", path,
                   dot + 1);
         goto done;
      }
      if (!child) {
         child = pnode_new(start, len, PN_INNER);
         node->children = bson_realloc(node->children, (node->count + 1) * sizeof *node->children);
         node->children[node->count++] = child;
      }
      node = child;
      start = dot + 1;
   }
done:
   pnode_destroy(leaf);
   return ok;
}

static bool
parse_slice(pnode_t *leaf, const bson_iter_t *value, fe_error_t *error)
{
   if (numeric_is_number(bson_iter_type(value))) {
      if (!numeric_to_int64_trunc(value, &leaf->limit)) {
         return error_set(error, FE_BadValue, "$slice limit is invalid");
      }
      return true;
   }
   if (BSON_ITER_HOLDS_ARRAY(value)) {
      bson_iter_t it;
      int n = 0;
      bson_iter_recurse(value, &it);
      while (bson_iter_next(&it)) {
         int64_t *slot = n == 0 ? &leaf->skip : &leaf->limit;
         if (n >= 2 || !numeric_is_number(bson_iter_type(&it)) ||
             !numeric_to_int64_trunc(&it, slot)) {
            return error_set(error, FE_BadValue,
                             "$slice takes a number or an array of two numbers [skip, limit]");
         }
         n++;
      }
      if (n != 2) {
         return error_set(error, FE_BadValue,
                          "$slice takes a number or an array of two numbers [skip, limit]");
      }
      if (leaf->limit <= 0) {
         return error_set(error, FE_BadValue, "$slice limit must be positive");
      }
      leaf->has_skip = true;
      return true;
   }
   return error_set(error, FE_BadValue, "$slice only supports numbers and [skip, limit] arrays");
}

static bool
add_operator(fe_projection_t *proj, const char *path, const bson_iter_t *value, fe_error_t *error)
{
   bson_iter_t op;
   bson_iter_recurse(value, &op);
   bson_iter_next(&op);
   const char *name = bson_iter_key(&op);
   pnode_t *leaf;

   if (strcmp(name, "$slice") == 0) {
      leaf = pnode_new("", 0, PN_SLICE);
      if (!parse_slice(leaf, &op, error)) {
         pnode_destroy(leaf);
         return false;
      }
      return place(proj, path, leaf, error);
   }
   if (strcmp(name, "$elemMatch") == 0) {
      if (strchr(path, '.')) {
         return error_set(error, FE_BadValue, "Cannot use $elemMatch projection on a nested field");
      }
      if (!BSON_ITER_HOLDS_DOCUMENT(&op)) {
         return error_set(error, FE_BadValue, "elemMatch: Invalid argument, object required");
      }
      if (!set_type(proj, TYPE_INCLUSION, path, error)) {
         return false;
      }
      bson_t spec = BSON_INITIALIZER, inner;
      bson_append_document_begin(&spec, path, -1, &inner);
      bson_append_iter(&inner, "$elemMatch", -1, &op);
      bson_append_document_end(&spec, &inner);
      leaf = pnode_new("", 0, PN_ELEM_MATCH);
      leaf->filter = filter_compile(&spec, error);
      bson_destroy(&spec);
      if (!leaf->filter) {
         pnode_destroy(leaf);
         return false;
      }
      return place(proj, path, leaf, error);
   }
   if (strcmp(name, "$literal") == 0) {
      if (!set_type(proj, TYPE_INCLUSION, path, error)) {
         return false;
      }
      leaf = pnode_new("", 0, PN_LITERAL);
      leaf->literal = bson_new();
      bson_append_iter(leaf->literal, "", 0, &op);
      return place(proj, path, leaf, error);
   }
   return error_set(error, FE_BadValue, "projection expression %s on field %s is not supported yet",
                    name, path);
}

static bool
add_field(fe_projection_t *proj, const char *path, const bson_iter_t *value, fe_error_t *error)
{
   bson_type_t type = bson_iter_type(value);
   size_t len = strlen(path);
   pnode_t *leaf;

   if (path[0] == '$') {
      return error_set(error, FE_BadValue, "FieldPath field names may not start with '$': '%s'",
                       path);
   }
   if (len >= 2 && strcmp(path + len - 2, ".$") == 0) {
      char *base = bson_strndup(path, len - 2);
      bool ok = false;
      if (proj->root->has_positional) {
         error_set(error, FE_BadValue,
                   "Cannot specify more than one positional projection per query");
      } else if (strstr(base, ".$") || strcmp(base, "$") == 0) {
         error_set(error, FE_BadValue,
                   "positional projection may only appear at the end of a path");
      } else if (!bson_iter_as_bool(value) || type == BSON_TYPE_DOCUMENT) {
         error_set(error, FE_BadValue, "positional projection must be an inclusion: '%s'", path);
      } else if (set_type(proj, TYPE_INCLUSION, path, error)) {
         ok = place(proj, base, pnode_new("", 0, PN_POSITIONAL), error);
      }
      bson_free(base);
      return ok;
   }
   if (strstr(path, ".$")) {
      return error_set(error, FE_BadValue,
                       "positional projection may only appear at the end of a path: '%s'", path);
   }
   if (numeric_is_number(type) || type == BSON_TYPE_BOOL) {
      bool include = bson_iter_as_bool(value);
      if (numeric_is_number(type)) {
         include = numeric_compare_int64(value, 0) != 0;
      }
      if (!set_type(proj, include ? TYPE_INCLUSION : TYPE_EXCLUSION, path, error)) {
         return false;
      }
      if (strcmp(path, "_id") == 0) {
         proj->id_excluded = !include;
         proj->id_included = include;
      }
      return place(proj, path, pnode_new("", 0, include ? PN_INCLUDE : PN_EXCLUDE), error);
   }
   if (type == BSON_TYPE_DOCUMENT) {
      bson_iter_t inner;
      bson_iter_recurse(value, &inner);
      bson_iter_t probe = inner;
      if (!bson_iter_next(&probe)) {
         return error_set(error, FE_BadValue,
                          "An empty sub-projection is not a valid value. Found empty object at "
                          "path %s",
                          path);
      }
      if (bson_iter_key(&probe)[0] == '$') {
         return add_operator(proj, path, value, error);
      }
      return add_spec(proj, path, &inner, error);
   }
   if (type == BSON_TYPE_UTF8 && bson_iter_utf8(value, NULL)[0] == '$') {
      return error_set(error, FE_BadValue, "projection expression on field %s is not supported yet",
                       path);
   }
   /* Any other value is a literal to set (MongoDB 4.4+). */
   if (!set_type(proj, TYPE_INCLUSION, path, error)) {
      return false;
   }
   leaf = pnode_new("", 0, PN_LITERAL);
   leaf->literal = bson_new();
   bson_append_iter(leaf->literal, "", 0, value);
   return place(proj, path, leaf, error);
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
   for (size_t i = 0; i < node->count; i++) {
      pnode_destroy(node->children[i]);
   }
   bson_free(node->children);
   bson_free(node->name);
   if (node->literal) {
      bson_destroy(node->literal);
   }
   filter_destroy(node->filter);
   bson_free(node);
}

static pnode_t *
pnode_child(const pnode_t *node, const char *name)
{
   for (size_t i = 0; i < node->count; i++) {
      if (strcmp(node->children[i]->name, name) == 0) {
         return node->children[i];
      }
   }
   return NULL;
}

/* Application */

static void
positional_error(apply_ctx_t *ctx)
{
   if (!ctx->failed) {
      error_set(ctx->error, FE_BadValue,
                "positional operator '.$' couldn't find a matching element in the array");
      ctx->failed = true;
   }
}

/* Appends array element idx of value as a one-element array, or fails. */
static bool
select_element(apply_ctx_t *ctx, const bson_iter_t *array, bson_iter_t *element)
{
   char key[16];
   if (ctx->positional < 0 || !bson_iter_recurse(array, element)) {
      positional_error(ctx);
      return false;
   }
   snprintf(key, sizeof key, "%d", ctx->positional);
   if (!bson_iter_find(element, key)) {
      positional_error(ctx);
      return false;
   }
   return true;
}

/* Projects an array below an inner node in an inclusion projection: documents and nested
 * arrays are projected element by element, scalars dropped. */
static void
include_array(apply_ctx_t *ctx, const pnode_t *node, const bson_iter_t *array, bson_t *out)
{
   bson_iter_t it;
   uint32_t n = 0;
   if (!bson_iter_recurse(array, &it)) {
      return;
   }
   while (bson_iter_next(&it)) {
      char buf[16];
      const char *key;
      bson_uint32_to_string(n, &key, buf, sizeof buf);
      if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
         bson_t child;
         bson_iter_t sub;
         bson_iter_recurse(&it, &sub);
         bson_append_document_begin(out, key, -1, &child);
         apply_include(ctx, node, &sub, &child, false);
         bson_append_document_end(out, &child);
         n++;
      } else if (BSON_ITER_HOLDS_ARRAY(&it)) {
         bson_t child;
         bson_append_array_begin(out, key, -1, &child);
         include_array(ctx, node, &it, &child);
         bson_append_array_end(out, &child);
         n++;
      }
   }
}

static void
include_inner(apply_ctx_t *ctx, const pnode_t *child, const bson_iter_t *value, bson_t *out)
{
   const char *key = bson_iter_key(value);
   if (BSON_ITER_HOLDS_DOCUMENT(value)) {
      bson_t sub_out;
      bson_iter_t sub;
      bson_iter_recurse(value, &sub);
      bson_append_document_begin(out, key, -1, &sub_out);
      apply_include(ctx, child, &sub, &sub_out, false);
      bson_append_document_end(out, &sub_out);
   } else if (BSON_ITER_HOLDS_ARRAY(value)) {
      bson_t sub_out;
      bson_append_array_begin(out, key, -1, &sub_out);
      if (child->has_positional && ctx->positional != -2) {
         /* The positional projection applies to the first array on its path. */
         bson_iter_t element;
         if (select_element(ctx, value, &element)) {
            int32_t saved = ctx->positional;
            ctx->positional = -2; /* consumed */
            if (BSON_ITER_HOLDS_DOCUMENT(&element)) {
               bson_t e_out;
               bson_iter_t sub;
               bson_iter_recurse(&element, &sub);
               bson_append_document_begin(&sub_out, "0", 1, &e_out);
               apply_include(ctx, child, &sub, &e_out, false);
               bson_append_document_end(&sub_out, &e_out);
            }
            ctx->positional = saved;
         }
      } else {
         include_array(ctx, child, value, &sub_out);
      }
      bson_append_array_end(out, &sub_out);
   } else if (child->has_literal) {
      bson_t sub_out;
      bson_append_document_begin(out, key, -1, &sub_out);
      append_literals(child, &sub_out);
      bson_append_document_end(out, &sub_out);
   }
}

static void
apply_include(apply_ctx_t *ctx, const pnode_t *node, const bson_iter_t *doc, bson_t *out, bool root)
{
   bson_iter_t it = *doc;

   while (bson_iter_next(&it) && !ctx->failed) {
      const char *key = bson_iter_key(&it);
      const pnode_t *child = pnode_child(node, key);
      if (!child) {
         if (root && strcmp(key, "_id") == 0 && !ctx->projection->id_excluded) {
            bson_append_iter(out, key, -1, &it);
         }
         continue;
      }
      switch (child->kind) {
      case PN_INCLUDE:
         bson_append_iter(out, key, -1, &it);
         break;
      case PN_EXCLUDE:
      case PN_LITERAL: /* appended below, in projection order */
         break;
      case PN_INNER:
         include_inner(ctx, child, &it, out);
         break;
      case PN_SLICE:
         append_slice(child, &it, out);
         break;
      case PN_POSITIONAL:
         if (BSON_ITER_HOLDS_ARRAY(&it) && ctx->positional != -2) {
            bson_iter_t element;
            if (select_element(ctx, &it, &element)) {
               bson_t arr;
               bson_append_array_begin(out, key, -1, &arr);
               bson_append_iter(&arr, "0", 1, &element);
               bson_append_array_end(out, &arr);
            }
         } else {
            bson_append_iter(out, key, -1, &it);
         }
         break;
      case PN_ELEM_MATCH: {
         /* The filter {key: {$elemMatch: ...}} reports the first matching element. */
         bson_t single = BSON_INITIALIZER;
         fe_match_info_t info;
         bson_append_iter(&single, key, -1, &it);
         if (BSON_ITER_HOLDS_ARRAY(&it) && filter_match(child->filter, &single, &info) &&
             info.positional_index >= 0) {
            bson_iter_t element;
            char index[16];
            snprintf(index, sizeof index, "%d", info.positional_index);
            if (bson_iter_recurse(&it, &element) && bson_iter_find(&element, index)) {
               bson_t arr;
               bson_append_array_begin(out, key, -1, &arr);
               bson_append_iter(&arr, "0", 1, &element);
               bson_append_array_end(out, &arr);
            }
         }
         bson_destroy(&single);
         break;
      }
      }
   }
   /* Literals, and inner nodes holding literals that the document did not have. */
   for (size_t i = 0; i < node->count; i++) {
      const pnode_t *child = node->children[i];
      bson_iter_t probe = *doc;
      if (child->kind == PN_LITERAL) {
         bson_iter_t value;
         bson_iter_init(&value, child->literal);
         bson_iter_next(&value);
         bson_append_iter(out, child->name, -1, &value);
      } else if (child->kind == PN_INNER && child->has_literal &&
                 !bson_iter_find(&probe, child->name)) {
         bson_t sub_out;
         bson_append_document_begin(out, child->name, -1, &sub_out);
         append_literals(child, &sub_out);
         bson_append_document_end(out, &sub_out);
      }
   }
}

static void
append_literals(const pnode_t *node, bson_t *out)
{
   for (size_t i = 0; i < node->count; i++) {
      const pnode_t *child = node->children[i];
      if (child->kind == PN_LITERAL) {
         bson_iter_t value;
         bson_iter_init(&value, child->literal);
         bson_iter_next(&value);
         bson_append_iter(out, child->name, -1, &value);
      } else if (child->kind == PN_INNER && child->has_literal) {
         bson_t sub_out;
         bson_append_document_begin(out, child->name, -1, &sub_out);
         append_literals(child, &sub_out);
         bson_append_document_end(out, &sub_out);
      }
   }
}

static void
exclude_array(apply_ctx_t *ctx, const pnode_t *node, const bson_iter_t *array, bson_t *out)
{
   bson_iter_t it;
   if (!bson_iter_recurse(array, &it)) {
      return;
   }
   while (bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
         bson_t child;
         bson_iter_t sub;
         bson_iter_recurse(&it, &sub);
         bson_append_document_begin(out, key, -1, &child);
         apply_exclude(ctx, node, &sub, &child);
         bson_append_document_end(out, &child);
      } else if (BSON_ITER_HOLDS_ARRAY(&it)) {
         bson_t child;
         bson_append_array_begin(out, key, -1, &child);
         exclude_array(ctx, node, &it, &child);
         bson_append_array_end(out, &child);
      } else {
         bson_append_iter(out, key, -1, &it);
      }
   }
}

static void
apply_exclude(apply_ctx_t *ctx, const pnode_t *node, const bson_iter_t *doc, bson_t *out)
{
   bson_iter_t it = *doc;

   while (bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      const pnode_t *child = pnode_child(node, key);
      if (!child || child->kind == PN_INCLUDE) {
         bson_append_iter(out, key, -1, &it);
         continue;
      }
      if (child->kind == PN_SLICE) {
         append_slice(child, &it, out);
      } else if (child->kind == PN_INNER) {
         if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_t sub_out;
            bson_iter_t sub;
            bson_iter_recurse(&it, &sub);
            bson_append_document_begin(out, key, -1, &sub_out);
            apply_exclude(ctx, child, &sub, &sub_out);
            bson_append_document_end(out, &sub_out);
         } else if (BSON_ITER_HOLDS_ARRAY(&it)) {
            bson_t sub_out;
            bson_append_array_begin(out, key, -1, &sub_out);
            exclude_array(ctx, child, &it, &sub_out);
            bson_append_array_end(out, &sub_out);
         } else {
            bson_append_iter(out, key, -1, &it);
         }
      }
      /* PN_EXCLUDE: dropped. */
   }
}

static void
append_slice(const pnode_t *node, const bson_iter_t *value, bson_t *out)
{
   const char *key = bson_iter_key(value);
   bson_iter_t it;
   int64_t len = 0, start, count;

   if (!BSON_ITER_HOLDS_ARRAY(value)) {
      bson_append_iter(out, key, -1, value);
      return;
   }
   bson_iter_recurse(value, &it);
   while (bson_iter_next(&it)) {
      len++;
   }
   if (node->has_skip) {
      start = node->skip < 0 ? (len + node->skip < 0 ? 0 : len + node->skip)
                             : (node->skip > len ? len : node->skip);
      count = node->limit;
   } else if (node->limit >= 0) {
      start = 0;
      count = node->limit;
   } else {
      start = len + node->limit < 0 ? 0 : len + node->limit;
      count = len;
   }
   bson_t arr;
   uint32_t n = 0;
   bson_append_array_begin(out, key, -1, &arr);
   bson_iter_recurse(value, &it);
   for (int64_t i = 0; bson_iter_next(&it); i++) {
      if (i >= start && i - start < count) {
         char buf[16];
         const char *k;
         bson_uint32_to_string(n++, &k, buf, sizeof buf);
         bson_append_iter(&arr, k, -1, &it);
      }
   }
   bson_append_array_end(out, &arr);
}
