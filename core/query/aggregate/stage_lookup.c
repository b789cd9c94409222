/*
 * stage_lookup.c: $lookup and $graphLookup, the stages that join with another collection of
 * the database, read through the caller's pipeline_reader_t.
 *
 * $lookup's equality form matches foreignField against every value at localField ({$eq} for
 * one value, {$in} for several, an $or of $eq when one is a regex, null when there is none),
 * with the query semantics of find: arrays match by element, null matches missing. The
 * pipeline form runs a sub-pipeline per input document, with the let variables bound to the
 * values computed from that document; the combined form runs the pipeline over the equality
 * matches. The equality filter is also the reader's hint, so a foreignField of _id is a
 * primary-key read where the backend supports it.
 *
 * $graphLookup is a breadth-first search: each level matches connectToField against the
 * connectFromField values found in the level before, and a document joins the result once
 * (by _id), which ends cycles.
 */
#include "query/aggregate/pipeline_int.h"

#include <string.h>

#include "bson/idkey.h"
#include "query/filter.h"
#include "query/update_int.h"

struct stage_lookup {
   char *from;              /* owned; NULL: the pipeline starts with $documents */
   char *as;                /* owned */
   char *local_field;       /* owned; NULL without the equality form */
   char *foreign_field;     /* owned; NULL without the equality form */
   fe_pipeline_t *pipeline; /* owned; NULL without a pipeline */
   size_t n_let;
   char **let_names;      /* owned, n_let of them */
   fe_expr_t **let_exprs; /* owned, n_let of them */
   fe_expr_var_t *slots;  /* owned; the bindings the sub-pipeline was compiled with */
   bson_value_t *values;  /* owned; the slots' values, set for each input document */
};

struct stage_graph {
   char *from;                   /* owned */
   char *as;                     /* owned */
   char *connect_from;           /* owned */
   char *connect_to;             /* owned */
   char *depth_field;            /* owned; nullable */
   fe_expr_t *start_with;        /* owned */
   int64_t max_depth;            /* -1: unlimited */
   fe_filter_t *restrict_filter; /* owned; nullable */
};

/* Values gathered from paths: an array document {"0": v, "1": v, ...}. */
typedef struct values {
   bson_t *arr; /* owned */
   uint32_t count;
   bool has_regex;
} values_t;

/* A set of byte strings (canonical _id keys). */
typedef struct key_set {
   uint8_t **keys; /* owned, each owned */
   size_t *lens;
   size_t capacity; /* a power of two, or 0 */
   size_t count;
} key_set_t;

/* A reader cursor whose documents are filtered (for a sub-pipeline's input). */
typedef struct filtered_source {
   const pipeline_reader_t *reader;
   void *cursor;
   const fe_filter_t *filter; /* nullable */
} filtered_source_t;

static bool check_path(const char *stage, const char *field, const char *path, fe_error_t *error);
static bool check_let_name(const char *name, fe_error_t *error);
static void values_add(void *ctx, const bson_value_t *value);
static void equality_filter(const char *field, const values_t *values, bson_t *out);
static bool filtered_next(void *ctx, const bson_t **doc, fe_error_t *error);
static bool key_set_add(key_set_t *set, const uint8_t *key, size_t len);
static void key_set_destroy(key_set_t *set);
static bool set_results(const bson_t *doc, const char *as, const stage_docs_t *results,
                        bson_t **out);

/*
 * $lookup
 */

stage_lookup_t *
stage_lookup_compile(const bson_iter_t *spec, const fe_expr_var_t *vars, int depth,
                     fe_error_t *error)
{
   stage_lookup_t *l = bson_malloc0(sizeof *l);
   bson_iter_t iter;
   bson_t stages = BSON_INITIALIZER; /* a static view once has_pipeline */
   bson_t let = BSON_INITIALIZER;    /* a static view once has_let */
   bool has_pipeline = false, has_let = false;
   const fe_expr_var_t *sub_vars = vars;

   if (!BSON_ITER_HOLDS_DOCUMENT(spec)) {
      error_set(error, FE_FailedToParse, "the $lookup specification must be an Object");
      goto fail;
   }
   bson_iter_recurse(spec, &iter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      uint32_t len;
      const uint8_t *data;
      char **dst = NULL;

      if (strcmp(key, "pipeline") == 0) {
         if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
            error_set(error, FE_TypeMismatch, "'pipeline' option must be specified as an array");
            goto fail;
         }
         bson_iter_array(&iter, &len, &data);
         bson_init_static(&stages, data, len);
         has_pipeline = true;
         continue;
      }
      if (strcmp(key, "let") == 0) {
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            error_set(error, FE_FailedToParse,
                      "$lookup argument 'let' must be an object, is type %s",
                      update_util_type_name(bson_iter_type(&iter)));
            goto fail;
         }
         bson_iter_document(&iter, &len, &data);
         bson_init_static(&let, data, len);
         has_let = true;
         continue;
      }
      if (strcmp(key, "from") == 0) {
         if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            error_set(error, FE_FailedToParse,
                      "$lookup with syntax {from: {db:<>, coll:<>},..} is not supported");
            goto fail;
         }
         if (!BSON_ITER_HOLDS_UTF8(&iter)) {
            error_set(error, FE_FailedToParse,
                      "$lookup 'from' field must be a string, but found %s",
                      update_util_type_name(bson_iter_type(&iter)));
            goto fail;
         }
         dst = &l->from;
      } else if (!BSON_ITER_HOLDS_UTF8(&iter)) {
         error_set(error, FE_FailedToParse, "$lookup argument '%s' must be a string, found %s", key,
                   update_util_type_name(bson_iter_type(&iter)));
         goto fail;
      } else if (strcmp(key, "as") == 0) {
         dst = &l->as;
      } else if (strcmp(key, "localField") == 0) {
         dst = &l->local_field;
      } else if (strcmp(key, "foreignField") == 0) {
         dst = &l->foreign_field;
      } else {
         error_set(error, FE_FailedToParse, "unknown argument to $lookup: %s", key);
         goto fail;
      }
      bson_free(*dst);
      *dst = bson_strdup(bson_iter_utf8(&iter, NULL));
   }

   if (!l->from) {
      bson_iter_t first, stage;
      if (!has_pipeline) {
         error_set(error, FE_FailedToParse, "must specify 'pipeline' when 'from' is empty");
         goto fail;
      }
      if (!bson_iter_init(&first, &stages) || !bson_iter_next(&first) ||
          !BSON_ITER_HOLDS_DOCUMENT(&first) || !bson_iter_recurse(&first, &stage) ||
          !bson_iter_next(&stage) || strcmp(bson_iter_key(&stage), "$documents") != 0) {
         error_set(error, FE_FailedToParse,
                   "$lookup stage without explicit collection must have a pipeline with "
                   "$documents as first stage");
         goto fail;
      }
   }
   if (!l->as || !*l->as) {
      error_set(error, FE_FailedToParse, "must specify 'as' field for a $lookup");
      goto fail;
   }
   if (l->local_field && !*l->local_field) {
      bson_free(l->local_field);
      l->local_field = NULL;
   }
   if (l->foreign_field && !*l->foreign_field) {
      bson_free(l->foreign_field);
      l->foreign_field = NULL;
   }
   if (has_pipeline && (!l->local_field != !l->foreign_field)) {
      error_set(error, FE_FailedToParse,
                "$lookup requires both or neither of 'localField' and 'foreignField' to be "
                "specified");
      goto fail;
   }
   if (!has_pipeline && (!l->local_field || !l->foreign_field)) {
      error_set(error, FE_FailedToParse,
                "$lookup requires either 'pipeline' or both 'localField' and 'foreignField' to "
                "be specified");
      goto fail;
   }
   if (!has_pipeline && has_let) {
      error_set(error, FE_FailedToParse,
                "$lookup with a 'let' argument must also specify 'pipeline'");
      goto fail;
   }
   if (!check_path("$lookup", "as", l->as, error) ||
       (l->local_field && !check_path("$lookup", "localField", l->local_field, error)) ||
       (l->foreign_field && !check_path("$lookup", "foreignField", l->foreign_field, error))) {
      goto fail;
   }

   if (has_let) {
      size_t n = bson_count_keys(&let);
      l->let_names = bson_malloc0(sizeof *l->let_names * (n + 1));
      l->let_exprs = bson_malloc0(sizeof *l->let_exprs * (n + 1));
      l->slots = bson_malloc0(sizeof *l->slots * (n + 1));
      l->values = bson_malloc0(sizeof *l->values * (n + 1));
      bson_iter_init(&iter, &let);
      while (bson_iter_next(&iter)) {
         size_t i = l->n_let;
         if (!check_let_name(bson_iter_key(&iter), error)) {
            goto fail;
         }
         l->let_names[i] = bson_strdup(bson_iter_key(&iter));
         l->n_let++;
         if (!(l->let_exprs[i] = expr_compile(&iter, error))) {
            goto fail;
         }
      }
      /* Innermost first; the enclosing pipeline's bindings after ours. */
      for (size_t i = 0; i < l->n_let; i++) {
         l->slots[i].name = l->let_names[i];
         l->slots[i].value = &l->values[i];
         l->slots[i].next = i + 1 < l->n_let ? &l->slots[i + 1] : vars;
      }
      if (l->n_let > 0) {
         sub_vars = &l->slots[0];
      }
   }
   if (has_pipeline) {
      l->pipeline = pipeline_compile_sub(&stages, sub_vars, "$lookup", depth, error);
      if (!l->pipeline) {
         goto fail;
      }
      if (l->local_field && pipeline_source(l->pipeline) == PIPELINE_SOURCE_DOCUMENTS) {
         error_set(error, FE_NotImplemented,
                   "$lookup with localField/foreignField and a pipeline starting with "
                   "$documents is not supported");
         goto fail;
      }
   }
   return l;

fail:
   stage_lookup_destroy(l);
   return NULL;
}

bool
stage_lookup_apply(const stage_lookup_t *l, const pipeline_reader_t *reader,
                   const fe_expr_var_t *vars, const bson_t *doc, bson_t **out, fe_error_t *error)
{
   values_t values = {0};
   bson_t match = BSON_INITIALIZER; /* the equality filter */
   fe_filter_t *filter = NULL;      /* owned; match compiled */
   filtered_source_t source = {.reader = reader};
   stage_docs_t results = {0};
   bool ok = false;

   *out = NULL;
   for (size_t i = 0; i < l->n_let; i++) {
      bson_value_destroy(&l->values[i]);
      if (!expr_evaluate(l->let_exprs[i], doc, vars, &l->values[i], error)) {
         goto done;
      }
   }
   if (l->local_field) {
      values.arr = bson_new();
      stage_visit_path(doc, l->local_field, values_add, &values);
      if (values.count == 0) {
         bson_value_t null_value = {.value_type = BSON_TYPE_NULL};
         values_add(&values, &null_value);
      }
      equality_filter(l->foreign_field, &values, &match);
      if (!(filter = filter_compile(&match, error))) {
         goto done;
      }
      source.filter = filter;
   }

   if (l->pipeline && pipeline_source(l->pipeline) == PIPELINE_SOURCE_DOCUMENTS) {
      if (!pipeline_run_reader(l->pipeline, reader, filtered_next, &source, stage_docs_collect,
                               &results, error)) {
         goto done;
      }
   } else {
      const bson_t *hint = filter        ? &match
                           : l->pipeline ? pipeline_leading_match(l->pipeline)
                                         : NULL;
      if (!reader->open(reader->ctx, l->from, hint, &source.cursor, error)) {
         source.cursor = NULL;
         goto done;
      }
      if (l->pipeline) {
         if (!pipeline_run_reader(l->pipeline, reader, filtered_next, &source, stage_docs_collect,
                                  &results, error)) {
            goto done;
         }
      } else {
         for (;;) {
            const bson_t *found = NULL;
            if (!filtered_next(&source, &found, error)) {
               goto done;
            }
            if (!found) {
               break;
            }
            stage_docs_push(&results, bson_copy(found));
            if (results.bytes > PIPELINE_STAGE_MEMORY_LIMIT) {
               break;
            }
         }
      }
   }
   if (results.bytes > PIPELINE_STAGE_MEMORY_LIMIT) {
      error_set(error, 4568,
                "Total size of documents in %s matching pipeline's $lookup stage exceeds %d "
                "bytes",
                l->from ? l->from : "$documents", PIPELINE_STAGE_MEMORY_LIMIT);
      goto done;
   }
   if (!set_results(doc, l->as, &results, out)) {
      error_set(error, FE_BSONObjectTooLarge,
                "the document built by $lookup exceeds the maximum document size");
      goto done;
   }
   ok = true;

done:
   if (source.cursor) {
      reader->close(source.cursor);
   }
   stage_docs_clear(&results);
   filter_destroy(filter);
   bson_destroy(&match);
   if (values.arr) {
      bson_destroy(values.arr);
   }
   return ok;
}

bool
stage_lookup_check_vars(const stage_lookup_t *l, const fe_expr_var_t *scope, fe_error_t *error)
{
   for (size_t i = 0; i < l->n_let; i++) {
      if (!expr_check_vars(l->let_exprs[i], scope, error)) {
         return false;
      }
   }
   return true;
}

void
stage_lookup_destroy(stage_lookup_t *l)
{
   if (!l) {
      return;
   }
   bson_free(l->from);
   bson_free(l->as);
   bson_free(l->local_field);
   bson_free(l->foreign_field);
   pipeline_destroy(l->pipeline);
   for (size_t i = 0; i < l->n_let; i++) {
      bson_free(l->let_names[i]);
      expr_destroy(l->let_exprs[i]);
      bson_value_destroy(&l->values[i]);
   }
   bson_free(l->let_names);
   bson_free(l->let_exprs);
   bson_free(l->slots);
   bson_free(l->values);
   bson_free(l);
}

/*
 * $graphLookup
 */

stage_graph_t *
stage_graph_compile(const bson_iter_t *spec, const fe_expr_var_t *vars, fe_error_t *error)
{
   stage_graph_t *g = bson_malloc0(sizeof *g);
   bson_iter_t iter;

   g->max_depth = -1;
   if (!BSON_ITER_HOLDS_DOCUMENT(spec)) {
      error_set(error, FE_FailedToParse,
                "the $graphLookup stage specification must be an object, but found %s",
                update_util_type_name(bson_iter_type(spec)));
      goto fail;
   }
   bson_iter_recurse(spec, &iter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      char **dst = NULL;

      if (strcmp(key, "startWith") == 0) {
         expr_destroy(g->start_with);
         if (!(g->start_with = expr_compile(&iter, error))) {
            goto fail;
         }
         continue;
      }
      if (strcmp(key, "maxDepth") == 0) {
         if (!update_util_is_number(bson_iter_type(&iter))) {
            error_set(error, 40100, "maxDepth must be numeric, found type: %s",
                      update_util_type_name(bson_iter_type(&iter)));
            goto fail;
         }
         if (!update_util_to_int64(bson_iter_value(&iter), &g->max_depth)) {
            double d = update_util_to_double(bson_iter_value(&iter));
            if (d < 0) {
               error_set(error, 40101, "maxDepth requires a nonnegative argument");
            } else {
               error_set(error, 40102, "maxDepth could not be represented as a long long");
            }
            goto fail;
         }
         if (g->max_depth < 0) {
            error_set(error, 40101, "maxDepth requires a nonnegative argument, found: %lld",
                      (long long) g->max_depth);
            goto fail;
         }
         continue;
      }
      if (strcmp(key, "restrictSearchWithMatch") == 0) {
         uint32_t len;
         const uint8_t *data;
         bson_t filter;
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            error_set(error, 40185, "restrictSearchWithMatch must be an object, found %s",
                      update_util_type_name(bson_iter_type(&iter)));
            goto fail;
         }
         bson_iter_document(&iter, &len, &data);
         bson_init_static(&filter, data, len);
         filter_destroy(g->restrict_filter);
         if (!(g->restrict_filter = filter_compile_vars(&filter, vars, error))) {
            goto fail;
         }
         continue;
      }
      if (!BSON_ITER_HOLDS_UTF8(&iter)) {
         error_set(error, 40103, "expected string as argument for %s, found: %s", key,
                   update_util_type_name(bson_iter_type(&iter)));
         goto fail;
      }
      if (strcmp(key, "from") == 0) {
         dst = &g->from;
      } else if (strcmp(key, "as") == 0) {
         dst = &g->as;
      } else if (strcmp(key, "connectFromField") == 0) {
         dst = &g->connect_from;
      } else if (strcmp(key, "connectToField") == 0) {
         dst = &g->connect_to;
      } else if (strcmp(key, "depthField") == 0) {
         dst = &g->depth_field;
      } else {
         error_set(error, 40104, "Unknown argument to $graphLookup: %s", key);
         goto fail;
      }
      bson_free(*dst);
      *dst = bson_strdup(bson_iter_utf8(&iter, NULL));
      if (!check_path("$graphLookup", key, *dst, error)) {
         goto fail;
      }
   }
   if (!g->from || !g->as || !g->start_with || !g->connect_from || !g->connect_to) {
      error_set(error, 40105,
                "$graphLookup requires 'from', 'as', 'startWith', 'connectFromField', and "
                "'connectToField' to be specified.");
      goto fail;
   }
   return g;

fail:
   stage_graph_destroy(g);
   return NULL;
}

bool
stage_graph_apply(const stage_graph_t *g, const pipeline_reader_t *reader,
                  const fe_expr_var_t *vars, const bson_t *doc, bson_t **out, fe_error_t *error)
{
   bson_value_t start = {0};
   values_t frontier = {.arr = bson_new()};
   values_t next = {0};
   key_set_t visited = {0};
   stage_docs_t results = {0};
   bson_t query = BSON_INITIALIZER;
   fe_filter_t *filter = NULL;
   void *cursor = NULL;
   bool ok = false;

   *out = NULL;
   if (!expr_evaluate(g->start_with, doc, vars, &start, error)) {
      goto done;
   }
   if (start.value_type == BSON_TYPE_ARRAY) {
      bson_t arr;
      bson_iter_t iter;
      bson_init_static(&arr, start.value.v_doc.data, start.value.v_doc.data_len);
      bson_iter_init(&iter, &arr);
      while (bson_iter_next(&iter)) {
         values_add(&frontier, bson_iter_value(&iter));
      }
   } else if (start.value_type != BSON_TYPE_EOD) {
      values_add(&frontier, &start);
   }

   for (int64_t depth = 0; frontier.count > 0 && (g->max_depth < 0 || depth <= g->max_depth);
        depth++) {
      next.arr = bson_new();
      next.count = 0;
      next.has_regex = false;
      bson_reinit(&query);
      equality_filter(g->connect_to, &frontier, &query);
      filter_destroy(filter);
      if (!(filter = filter_compile(&query, error))) {
         goto done;
      }
      if (!reader->open(reader->ctx, g->from, &query, &cursor, error)) {
         cursor = NULL;
         goto done;
      }
      for (;;) {
         const bson_t *found = NULL;
         bson_iter_t id;
         uint8_t *key = NULL;
         size_t key_len = 0;
         bool added;

         if (!reader->next(cursor, &found, error)) {
            goto done;
         }
         if (!found) {
            break;
         }
         if (!filter_match(filter, found, NULL) ||
             (g->restrict_filter && !filter_match(g->restrict_filter, found, NULL))) {
            continue;
         }
         if (bson_iter_init_find(&id, found, "_id") && idkey_encode(&id, &key, &key_len)) {
            added = key_set_add(&visited, key, key_len);
         } else {
            /* No usable _id: the whole document stands for itself. */
            added = key_set_add(&visited, bson_get_data(found), found->len);
         }
         bson_free(key);
         if (!added) {
            continue;
         }
         stage_visit_path(found, g->connect_from, values_add, &next);
         if (g->depth_field) {
            bson_t *with = bson_new();
            bson_value_t d = {.value_type = BSON_TYPE_INT64};
            d.value.v_int64 = depth;
            stage_set_path(found, g->depth_field, &d, with);
            stage_docs_push(&results, with);
         } else {
            stage_docs_push(&results, bson_copy(found));
         }
         if (results.bytes > PIPELINE_STAGE_MEMORY_LIMIT) {
            error_set(error, 40099, "$graphLookup reached maximum memory consumption");
            goto done;
         }
      }
      reader->close(cursor);
      cursor = NULL;
      bson_destroy(frontier.arr);
      frontier = next;
      next.arr = NULL;
   }
   if (!set_results(doc, g->as, &results, out)) {
      error_set(error, FE_BSONObjectTooLarge,
                "the document built by $graphLookup exceeds the maximum document size");
      goto done;
   }
   ok = true;

done:
   if (cursor) {
      reader->close(cursor);
   }
   bson_value_destroy(&start);
   if (frontier.arr) {
      bson_destroy(frontier.arr);
   }
   if (next.arr) {
      bson_destroy(next.arr);
   }
   key_set_destroy(&visited);
   stage_docs_clear(&results);
   filter_destroy(filter);
   bson_destroy(&query);
   return ok;
}

bool
stage_graph_check_vars(const stage_graph_t *g, const fe_expr_var_t *scope, fe_error_t *error)
{
   return expr_check_vars(g->start_with, scope, error);
}

void
stage_graph_destroy(stage_graph_t *g)
{
   if (!g) {
      return;
   }
   bson_free(g->from);
   bson_free(g->as);
   bson_free(g->connect_from);
   bson_free(g->connect_to);
   bson_free(g->depth_field);
   expr_destroy(g->start_with);
   filter_destroy(g->restrict_filter);
   bson_free(g);
}

/*
 * Helpers
 */

/* A field path as FieldPath accepts it: non-empty components, none starting with '$'. */
static bool
check_path(const char *stage, const char *field, const char *path, fe_error_t *error)
{
   const char *p = path;
   (void) stage;
   (void) field;
   for (;;) {
      size_t len = strcspn(p, ".");
      if (len == 0) {
         return error_set(error, 15998, "FieldPath field names may not be empty strings.");
      }
      if (p[0] == '$') {
         return error_set(error, 16410, "FieldPath field names may not start with '$'. Given '%s'",
                          path);
      }
      if (p[len] == '\0') {
         return true;
      }
      p += len + 1;
   }
}

/* A variable name a user may define (MongoDB's validateNameForUserWrite). */
static bool
check_let_name(const char *name, fe_error_t *error)
{
   if (name[0] == '\0') {
      return error_set(error, 16866, "empty variable names are not allowed");
   }
   if (!((name[0] >= 'a' && name[0] <= 'z') || (unsigned char) name[0] >= 0x80)) {
      return error_set(error, 16867,
                       "'%s' starts with an invalid character for a user variable name", name);
   }
   for (const char *p = name + 1; *p; p++) {
      bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                *p == '_' || (unsigned char) *p >= 0x80;
      if (!ok) {
         return error_set(error, 16868,
                          "'%s' contains an invalid character for a variable name: '%c'", name, *p);
      }
   }
   return true;
}

static void
values_add(void *ctx, const bson_value_t *value)
{
   values_t *v = ctx;
   char key[16];
   const char *key_ptr;
   bson_uint32_to_string(v->count++, &key_ptr, key, sizeof key);
   bson_append_value(v->arr, key_ptr, -1, value);
   v->has_regex = v->has_regex || value->value_type == BSON_TYPE_REGEX;
}

/* {field: {$eq: v}}, {field: {$in: [...]}} or, with a regex among several values,
 * {$or: [{field: {$eq: v}}, ...]} (in $in a regex would match as a pattern). */
static void
equality_filter(const char *field, const values_t *values, bson_t *out)
{
   bson_iter_t iter;
   bson_t op, arr, clause;

   if (values->count == 1 && bson_iter_init(&iter, values->arr) && bson_iter_next(&iter)) {
      bson_append_document_begin(out, field, -1, &op);
      bson_append_iter(&op, "$eq", 3, &iter);
      bson_append_document_end(out, &op);
      return;
   }
   if (!values->has_regex) {
      bson_append_document_begin(out, field, -1, &op);
      bson_append_array(&op, "$in", 3, values->arr);
      bson_append_document_end(out, &op);
      return;
   }
   bson_append_array_begin(out, "$or", 3, &arr);
   bson_iter_init(&iter, values->arr);
   while (bson_iter_next(&iter)) {
      bson_append_document_begin(&arr, bson_iter_key(&iter), -1, &clause);
      bson_append_document_begin(&clause, field, -1, &op);
      bson_append_iter(&op, "$eq", 3, &iter);
      bson_append_document_end(&clause, &op);
      bson_append_document_end(&arr, &clause);
   }
   bson_append_array_end(out, &arr);
}

static bool
filtered_next(void *ctx, const bson_t **doc, fe_error_t *error)
{
   filtered_source_t *src = ctx;

   *doc = NULL;
   if (!src->cursor) {
      return true;
   }
   for (;;) {
      if (!src->reader->next(src->cursor, doc, error)) {
         return false;
      }
      if (!*doc || !src->filter || filter_match(src->filter, *doc, NULL)) {
         return true;
      }
   }
}

/* *out: doc with the results as an array at the path as. False when it would be too large. */
static bool
set_results(const bson_t *doc, const char *as, const stage_docs_t *results, bson_t **out)
{
   bson_t arr = BSON_INITIALIZER;
   bson_value_t value = {.value_type = BSON_TYPE_ARRAY};

   if (doc->len + results->bytes > PIPELINE_MAX_DOCUMENT_SIZE) {
      bson_destroy(&arr);
      return false;
   }
   for (size_t i = 0; i < results->count; i++) {
      char key[16];
      const char *key_ptr;
      bson_uint32_to_string((uint32_t) i, &key_ptr, key, sizeof key);
      bson_append_document(&arr, key_ptr, -1, results->items[i]);
   }
   value.value.v_doc.data = (uint8_t *) bson_get_data(&arr);
   value.value.v_doc.data_len = arr.len;
   *out = bson_new();
   stage_set_path(doc, as, &value, *out);
   bson_destroy(&arr);
   return true;
}

static uint64_t
hash_key(const uint8_t *key, size_t len)
{
   uint64_t h = 1469598103934665603u;
   for (size_t i = 0; i < len; i++) {
      h = (h ^ key[i]) * 1099511628211u;
   }
   return h;
}

/* Adds a copy of key; false when it was already there. */
static bool
key_set_add(key_set_t *set, const uint8_t *key, size_t len)
{
   size_t slot;

   if (2 * (set->count + 1) > set->capacity) {
      key_set_t bigger = {.capacity = set->capacity ? set->capacity * 2 : 64};
      bigger.keys = bson_malloc0(sizeof *bigger.keys * bigger.capacity);
      bigger.lens = bson_malloc0(sizeof *bigger.lens * bigger.capacity);
      for (size_t i = 0; i < set->capacity; i++) {
         if (set->keys[i]) {
            size_t s = hash_key(set->keys[i], set->lens[i]) & (bigger.capacity - 1);
            while (bigger.keys[s]) {
               s = (s + 1) & (bigger.capacity - 1);
            }
            bigger.keys[s] = set->keys[i];
            bigger.lens[s] = set->lens[i];
         }
      }
      bigger.count = set->count;
      bson_free(set->keys);
      bson_free(set->lens);
      *set = bigger;
   }
   slot = hash_key(key, len) & (set->capacity - 1);
   while (set->keys[slot]) {
      if (set->lens[slot] == len && memcmp(set->keys[slot], key, len) == 0) {
         return false;
      }
      slot = (slot + 1) & (set->capacity - 1);
   }
   set->keys[slot] = bson_malloc(len ? len : 1);
   memcpy(set->keys[slot], key, len);
   set->lens[slot] = len;
   set->count++;
   return true;
}

static void
key_set_destroy(key_set_t *set)
{
   for (size_t i = 0; i < set->capacity; i++) {
      bson_free(set->keys[i]);
   }
   bson_free(set->keys);
   bson_free(set->lens);
   memset(set, 0, sizeof *set);
}
