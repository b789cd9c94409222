/*
 * pipeline.c: aggregation pipelines (pipeline.h): stage parsing and the pull-based run.
 *
 * Each stage pulls documents from the one before it (the first from the caller's source)
 * and hands back one document at a time, borrowed until its next call. Streaming stages
 * ($match, $project, $unwind, $skip, $limit, $lookup, $redact, ...) hold at most one
 * document; blocking ones ($sort, $group, $count, $facet, $bucketAuto, $sample) drain their
 * input first.
 *
 * Sub-pipelines ($lookup, $unionWith, $facet) are pipelines of their own, compiled with the
 * enclosing variables and run through the same entry points; the collections they read come
 * from the caller's pipeline_reader_t, so no stage knows about backends.
 */
#include "query/aggregate/pipeline.h"

#include <math.h>
#include <string.h>

#include "query/aggregate/pipeline_int.h"
#include "query/expr.h"
#include "query/filter.h"
#include "query/sort.h"
#include "query/update_int.h"

typedef enum stage_kind {
   STAGE_MATCH,
   STAGE_PROJECT,
   STAGE_REPLACE_ROOT,
   STAGE_SKIP,
   STAGE_LIMIT,
   STAGE_SORT,
   STAGE_GROUP,
   STAGE_COUNT,
   STAGE_UNWIND,
   STAGE_LOOKUP,
   STAGE_GRAPH_LOOKUP,
   STAGE_REDACT,
   STAGE_UNION,
   STAGE_FACET,
   STAGE_BUCKET_AUTO,
   STAGE_SAMPLE,
   STAGE_WINDOW,
   STAGE_DENSIFY,
} stage_kind_t;

typedef struct stage {
   stage_kind_t kind;
   const char *name;                 /* static: the stage name as written */
   fe_filter_t *filter;              /* owned; $match */
   bson_t *filter_spec;              /* owned; $match */
   stage_project_t *project;         /* owned; $project, $addFields, $set, $unset */
   fe_expr_t *expr;                  /* owned; $replaceRoot */
   int64_t n;                        /* $skip, $limit */
   fe_sort_t *sort;                  /* owned; $sort */
   stage_group_t *group;             /* owned; $group */
   char *field;                      /* owned; $count's field, $unwind's path */
   char *index_field;                /* owned; $unwind includeArrayIndex */
   bool preserve;                    /* $unwind preserveNullAndEmptyArrays */
   stage_lookup_t *lookup;           /* owned; $lookup */
   stage_graph_t *graph;             /* owned; $graphLookup */
   stage_redact_t *redact;           /* owned; $redact */
   stage_union_t *uni;               /* owned; $unionWith */
   stage_facet_t *facet;             /* owned; $facet */
   stage_bucket_auto_t *bucket_auto; /* owned; $bucketAuto */
   stage_window_t *window;           /* owned; $setWindowFields, $fill */
   stage_densify_t *densify;         /* owned; $densify */
} stage_t;

struct fe_pipeline {
   stage_t *stages; /* owned */
   size_t n_stages;
   fe_expr_let_t *let;               /* owned; NULL without let */
   const fe_expr_var_t *vars;        /* borrowed from let or the enclosing stage; nullable */
   fe_expr_var_t *collation_binding; /* owned; the collator's binding, at the end of vars */
   const char *within;               /* static: the stage holding this sub-pipeline, or NULL */
   int depth;                        /* 0 for a command's pipeline */
   bool needs_reader;                /* a stage reads other collections */
   size_t n_seen;                    /* stages compiled so far, including those not in stages */
   pipeline_source_t source;
   fe_expr_t *documents; /* owned; $documents' expression, evaluated by each run */
   bool has_output;
   pipeline_output_t output; /* its strings owned */
};

typedef struct stage_run {
   bson_t *cur; /* owned: the document last handed out */
   bool started;
   int64_t count;
   bson_t **docs; /* owned: a blocking stage's results */
   size_t n_docs;
   size_t pos;
   bson_t *source; /* owned: $unwind's input document */
   uint32_t unwind_index;
} stage_run_t;

typedef struct run {
   const fe_pipeline_t *pipeline;
   const pipeline_reader_t *reader; /* borrowed; nullable */
   stage_run_t *stages;             /* owned */
   pipeline_next_fn next;
   void *next_ctx;
   stage_docs_t documents; /* owned; $documents' documents */
   size_t documents_pos;   /* the next of them */
} run_t;

static fe_pipeline_t *compile_pipeline(const bson_t *stages, const bson_t *let,
                                       const fe_expr_var_t *vars, const char *within, int depth,
                                       unsigned flags, fe_error_t *error);
static bool compile_stage(fe_pipeline_t *p, const char *name, const bson_iter_t *spec,
                          unsigned flags, fe_error_t *error);
static bool check_nesting(const fe_pipeline_t *p, const char *name, fe_error_t *error);
static bool compile_new_stage(fe_pipeline_t *p, stage_t *st, const char *name,
                              const bson_iter_t *spec, bool *found, fe_error_t *error);
static bool evaluate_documents(run_t *run, fe_error_t *error);
static bool transform_next(run_t *run, size_t i, const bson_t **doc, fe_error_t *error);
static bool union_next(run_t *run, size_t i, const bson_t **doc, fe_error_t *error);
static bool finish_blocking(run_t *run, size_t i, bson_t ***docs, size_t *n, fe_error_t *error);
static void stage_clear(stage_t *stage);
static bool compile_documents(fe_pipeline_t *p, const bson_iter_t *spec, fe_error_t *error);
static bool compile_output(fe_pipeline_t *p, const char *name, const bson_iter_t *spec,
                           fe_error_t *error);
static bool output_namespace(pipeline_output_t *out, const char *name, const bson_iter_t *spec,
                             fe_error_t *error);
static bool stage_next(run_t *run, size_t i, const bson_t **doc, fe_error_t *error);
static bool input_next(run_t *run, size_t i, const bson_t **doc, fe_error_t *error);
static bool drain(run_t *run, size_t i, bson_t ***docs, size_t *n, fe_error_t *error);
static bool unwind_next(run_t *run, size_t i, const bson_t **doc, fe_error_t *error);
static void set_cur(stage_run_t *sr, bson_t *doc);
static bool check_stage_vars(const fe_pipeline_t *p, size_t first, fe_error_t *error);

static const char *const unsupported_stages[] = {
   "$collStats",    "$currentOp",      "$geoNear", "$indexStats",
   "$listSessions", "$planCacheStats", "$search",
};

fe_pipeline_t *
pipeline_compile(const bson_t *stages, const bson_t *let, unsigned flags, fe_error_t *error)
{
   return compile_pipeline(stages, let, NULL, NULL, 0, flags, error);
}

fe_pipeline_t *
pipeline_compile_sub(const bson_t *stages, const fe_expr_var_t *vars, const char *within, int depth,
                     fe_error_t *error)
{
   if (depth + 1 > PIPELINE_MAX_DEPTH) {
      error_set(error, 232, "Maximum number of nested sub-pipelines exceeded. Limit is %d",
                PIPELINE_MAX_DEPTH);
      return NULL;
   }
   return compile_pipeline(stages, NULL, vars, within, depth + 1, 0, error);
}

fe_pipeline_t *
pipeline_compile_collated(const bson_t *stages, const bson_t *let, unsigned flags,
                          const fe_collator_t *collator, fe_error_t *error)
{
   static const bson_value_t missing = {.value_type = BSON_TYPE_EOD};
   fe_expr_var_t *binding;
   fe_pipeline_t *p;

   if (!collator) {
      return pipeline_compile(stages, let, flags, error);
   }
   /* The binding ends the chain every stage, sub-pipeline and expression sees. */
   binding = bson_malloc0(sizeof *binding);
   binding->name = EXPR_COLLATION_VAR;
   binding->value = &missing;
   binding->collator = collator;
   p = compile_pipeline(stages, let, binding, NULL, 0, flags, error);
   if (!p) {
      bson_free(binding);
      return NULL;
   }
   p->collation_binding = binding;
   return p;
}

const fe_expr_var_t *
pipeline_vars(const fe_pipeline_t *pipeline)
{
   return pipeline->vars;
}

static fe_pipeline_t *
compile_pipeline(const bson_t *stages, const bson_t *let, const fe_expr_var_t *vars,
                 const char *within, int depth, unsigned flags, fe_error_t *error)
{
   fe_pipeline_t *p = bson_malloc0(sizeof *p);
   bson_iter_t iter, stage;

   p->stages = bson_malloc0(sizeof *p->stages * (2 * bson_count_keys(stages) + 1));
   p->within = within;
   p->depth = depth;
   p->vars = vars;
   if (let) {
      if (!(p->let = expr_let_compile_outer(let, vars, error))) {
         goto fail;
      }
      p->vars = expr_let_vars(p->let);
   }
   bson_iter_init(&iter, stages);
   while (bson_iter_next(&iter)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         error_set(error, FE_TypeMismatch,
                   "Each element of the 'pipeline' array must be an object");
         goto fail;
      }
      bson_iter_recurse(&iter, &stage);
      if (!bson_iter_next(&stage)) {
         error_set(error, 40323,
                   "A pipeline stage specification object must contain exactly one field.");
         goto fail;
      }
      {
         bson_iter_t extra = stage;
         if (bson_iter_next(&extra)) {
            error_set(error, 40323,
                      "A pipeline stage specification object must contain exactly one field.");
            goto fail;
         }
      }
      if (p->has_output) {
         error_set(error, 40601, "%s can only be the final stage in the pipeline",
                   p->output.merge ? "$merge" : "$out");
         goto fail;
      }
      {
         size_t first = p->n_stages;
         if (!compile_stage(p, bson_iter_key(&stage), &stage, flags, error) ||
             !check_stage_vars(p, first, error)) {
            goto fail;
         }
      }
      p->n_seen++;
   }
   return p;

fail:
   pipeline_destroy(p);
   return NULL;
}

bool
pipeline_run(const fe_pipeline_t *pipeline, pipeline_next_fn next, void *next_ctx,
             pipeline_emit_fn emit, void *emit_ctx, fe_error_t *error)
{
   return pipeline_run_reader(pipeline, NULL, next, next_ctx, emit, emit_ctx, error);
}

bool
pipeline_run_reader(const fe_pipeline_t *pipeline, const pipeline_reader_t *reader,
                    pipeline_next_fn next, void *next_ctx, pipeline_emit_fn emit, void *emit_ctx,
                    fe_error_t *error)
{
   run_t run = {.pipeline = pipeline, .reader = reader, .next = next, .next_ctx = next_ctx};
   bool ok = false;

   run.stages = bson_malloc0(sizeof *run.stages * (pipeline->n_stages + 1));
   if (pipeline->needs_reader && !reader) {
      error_set(error, FE_NotImplemented,
                "stages that read other collections are not supported here");
      goto done;
   }
   if (!evaluate_documents(&run, error)) {
      goto done;
   }
   for (;;) {
      const bson_t *doc = NULL;
      if (!input_next(&run, pipeline->n_stages, &doc, error)) {
         goto done;
      }
      if (!doc) {
         break;
      }
      if (!emit(emit_ctx, doc, error)) {
         goto done;
      }
   }
   ok = true;

done:
   for (size_t i = 0; i < pipeline->n_stages; i++) {
      stage_run_t *sr = &run.stages[i];
      if (sr->cur) {
         bson_destroy(sr->cur);
      }
      if (sr->source) {
         bson_destroy(sr->source);
      }
      for (size_t d = sr->pos; d < sr->n_docs; d++) {
         bson_destroy(sr->docs[d]);
      }
      bson_free(sr->docs);
   }
   bson_free(run.stages);
   stage_docs_clear(&run.documents);
   return ok;
}

typedef struct reader_source {
   const pipeline_reader_t *reader;
   void *cursor;
   bson_t *const *docs;
   size_t count;
   size_t pos;
} reader_source_t;

static bool
reader_source_next(void *ctx, const bson_t **doc, fe_error_t *error)
{
   reader_source_t *src = ctx;
   if (src->cursor) {
      return src->reader->next(src->cursor, doc, error);
   }
   *doc = src->pos < src->count ? src->docs[src->pos++] : NULL;
   return true;
}

bool
pipeline_run_collection(const fe_pipeline_t *sub, const pipeline_reader_t *reader,
                        const char *collection, const bson_t *filter, pipeline_emit_fn emit,
                        void *emit_ctx, fe_error_t *error)
{
   reader_source_t src = {.reader = reader};
   bool ok;

   if (sub->source == PIPELINE_SOURCE_COLLECTION && collection) {
      if (!reader) {
         return error_set(error, FE_NotImplemented,
                          "stages that read other collections are not supported here");
      }
      if (!reader->open(reader->ctx, collection, filter, &src.cursor, error)) {
         return false;
      }
   }
   ok = pipeline_run_reader(sub, reader, reader_source_next, &src, emit, emit_ctx, error);
   if (src.cursor) {
      reader->close(src.cursor);
   }
   return ok;
}

bool
pipeline_run_documents(const fe_pipeline_t *sub, const pipeline_reader_t *reader,
                       bson_t *const *docs, size_t count, pipeline_emit_fn emit, void *emit_ctx,
                       fe_error_t *error)
{
   reader_source_t src = {.reader = reader, .docs = docs, .count = count};
   return pipeline_run_reader(sub, reader, reader_source_next, &src, emit, emit_ctx, error);
}

typedef struct one_ctx {
   const bson_t *doc;
   bool given;
   bson_t *out;
   size_t results;
} one_ctx_t;

static bool
one_next(void *ctx, const bson_t **doc, fe_error_t *error)
{
   one_ctx_t *one = ctx;
   (void) error;
   *doc = one->given ? NULL : one->doc;
   one->given = true;
   return true;
}

static bool
one_emit(void *ctx, const bson_t *doc, fe_error_t *error)
{
   one_ctx_t *one = ctx;
   if (one->results++ > 0) {
      return error_set(error, FE_BadValue, "the update pipeline produced more than one document");
   }
   bson_destroy(one->out);
   bson_copy_to(doc, one->out);
   return true;
}

bool
pipeline_apply_one(const fe_pipeline_t *pipeline, const bson_t *doc, bson_t *out, fe_error_t *error)
{
   one_ctx_t one = {.doc = doc, .out = out};

   bson_init(out);
   if (!pipeline_run(pipeline, one_next, &one, one_emit, &one, error)) {
      return false;
   }
   if (one.results != 1) {
      return error_set(error, FE_BadValue, "the update pipeline produced no document");
   }
   return true;
}

const bson_t *
pipeline_leading_match(const fe_pipeline_t *pipeline)
{
   if (pipeline->n_stages > 0 && pipeline->stages[0].kind == STAGE_MATCH) {
      return pipeline->stages[0].filter_spec;
   }
   return NULL;
}

pipeline_source_t
pipeline_source(const fe_pipeline_t *pipeline)
{
   return pipeline->source;
}

const pipeline_output_t *
pipeline_output(const fe_pipeline_t *pipeline)
{
   return pipeline->has_output ? &pipeline->output : NULL;
}

void
pipeline_destroy(fe_pipeline_t *p)
{
   if (!p) {
      return;
   }
   expr_destroy(p->documents);
   bson_free((char *) p->output.db);
   bson_free((char *) p->output.coll);
   bson_free((char *) p->output.when_matched);
   bson_free((char *) p->output.when_not_matched);
   for (size_t i = 0; i < p->n_stages; i++) {
      stage_clear(&p->stages[i]);
   }
   bson_free(p->stages);
   expr_let_destroy(p->let);
   bson_free(p->collation_binding);
   bson_free(p);
}

/*
 * Compilation
 */

static bool
spec_document(const bson_iter_t *spec, bson_t *doc)
{
   uint32_t len;
   const uint8_t *data;
   if (!BSON_ITER_HOLDS_DOCUMENT(spec)) {
      return false;
   }
   bson_iter_document(spec, &len, &data);
   return bson_init_static(doc, data, len);
}

static bool
compile_stage(fe_pipeline_t *p, const char *name, const bson_iter_t *spec, unsigned flags,
              fe_error_t *error)
{
   stage_t *st = &p->stages[p->n_stages];
   bson_t doc;

   memset(st, 0, sizeof *st);
   if (flags & PIPELINE_FOR_UPDATE) {
      static const char *const allowed[] = {"$addFields",   "$project", "$replaceRoot",
                                            "$replaceWith", "$set",     "$unset"};
      bool ok = false;
      for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
         ok = ok || strcmp(allowed[i], name) == 0;
      }
      if (!ok) {
         return error_set(error, FE_InvalidOptions, "%s is not allowed to be used within an update",
                          name);
      }
   }
   if (!check_nesting(p, name, error)) {
      return false;
   }

   if (strcmp(name, "$documents") == 0 || strcmp(name, "$listLocalSessions") == 0) {
      if (p->n_seen > 0) {
         return error_set(error, 40602, "%s is only valid as the first stage in a pipeline", name);
      }
      if (name[1] == 'l') {
         if (!(flags & PIPELINE_WITH_SESSIONS)) {
            return error_set(error, FE_NotImplemented, "the %s stage is not supported", name);
         }
         if (!BSON_ITER_HOLDS_DOCUMENT(spec)) {
            return error_set(error, FE_TypeMismatch,
                             "$listLocalSessions must take a nested object but found: %s",
                             update_util_type_name(bson_iter_type(spec)));
         }
         p->source = PIPELINE_SOURCE_LOCAL_SESSIONS;
         return true;
      }
      return compile_documents(p, spec, error);
   }
   if (strcmp(name, "$out") == 0 || strcmp(name, "$merge") == 0) {
      if (!(flags & PIPELINE_WITH_OUTPUT)) {
         return error_set(error, FE_NotImplemented, "the %s stage is not supported", name);
      }
      return compile_output(p, name, spec, error);
   }
   if (strcmp(name, "$match") == 0) {
      st->kind = STAGE_MATCH;
      st->name = "$match";
      if (!spec_document(spec, &doc)) {
         return error_set(error, 15959, "the match filter must be an expression in an object");
      }
      st->filter_spec = bson_copy(&doc);
      p->n_stages++;
      st->filter = filter_compile_vars(&doc, p->vars, error);
      if (st->filter) {
         /* The command runs a leading $text $match itself (commands/textsearch.c). */
         struct fe_text_query *text = NULL;
         if (!filter_text_query(st->filter, &text, error)) {
            return false;
         }
         if (text) {
            return error_set(error, 17313,
                             "$match with $text is only allowed as the first pipeline stage");
         }
      }
      return st->filter != NULL;
   }
   if (strcmp(name, "$project") == 0 || strcmp(name, "$addFields") == 0 ||
       strcmp(name, "$set") == 0) {
      bool project = strcmp(name, "$project") == 0;
      st->kind = STAGE_PROJECT;
      st->name = project ? "$project" : name[1] == 'a' ? "$addFields" : "$set";
      if (!spec_document(spec, &doc)) {
         return error_set(error, project ? 15969 : 40272,
                          project ? "$project specification must be an object"
                                  : "%s specification stage must be an object, got %s",
                          name, update_util_type_name(bson_iter_type(spec)));
      }
      st->project = stage_project_compile(
         &doc, project ? STAGE_PROJECT_PROJECT : STAGE_PROJECT_ADD_FIELDS, st->name, error);
      if (!st->project) {
         return false;
      }
      p->n_stages++;
      return true;
   }
   if (strcmp(name, "$unset") == 0) {
      bson_t paths = BSON_INITIALIZER;
      bson_iter_t sub;
      st->kind = STAGE_PROJECT;
      st->name = "$unset";
      if (BSON_ITER_HOLDS_UTF8(spec)) {
         bson_append_int32(&paths, bson_iter_utf8(spec, NULL), -1, 0);
      } else if (BSON_ITER_HOLDS_ARRAY(spec)) {
         bson_iter_recurse(spec, &sub);
         while (bson_iter_next(&sub)) {
            if (!BSON_ITER_HOLDS_UTF8(&sub)) {
               bson_destroy(&paths);
               return error_set(error, 31120,
                                "$unset specification must be a string or an array containing "
                                "only string values");
            }
            bson_append_int32(&paths, bson_iter_utf8(&sub, NULL), -1, 0);
         }
      } else {
         bson_destroy(&paths);
         return error_set(error, 31002, "$unset specification must be a string or an array");
      }
      st->project = stage_project_compile(&paths, STAGE_PROJECT_UNSET, "$unset", error);
      bson_destroy(&paths);
      if (!st->project) {
         return false;
      }
      p->n_stages++;
      return true;
   }
   if (strcmp(name, "$replaceRoot") == 0 || strcmp(name, "$replaceWith") == 0) {
      bson_iter_t sub;
      st->kind = STAGE_REPLACE_ROOT;
      if (strcmp(name, "$replaceRoot") == 0) {
         st->name = "$replaceRoot";
         if (!BSON_ITER_HOLDS_DOCUMENT(spec)) {
            return error_set(error, 40229,
                             "expected an object as specification for $replaceRoot "
                             "stage, got %s",
                             update_util_type_name(bson_iter_type(spec)));
         }
         bson_iter_recurse(spec, &sub);
         if (!bson_iter_find(&sub, "newRoot")) {
            return error_set(error, 40231, "no newRoot specified for the $replaceRoot stage");
         }
         st->expr = expr_compile(&sub, error);
      } else {
         st->name = "$replaceWith";
         st->expr = expr_compile(spec, error);
      }
      if (!st->expr) {
         return false;
      }
      p->n_stages++;
      return true;
   }
   if (strcmp(name, "$skip") == 0 || strcmp(name, "$limit") == 0) {
      bool skip = name[1] == 's';
      st->kind = skip ? STAGE_SKIP : STAGE_LIMIT;
      st->name = skip ? "$skip" : "$limit";
      if (!update_util_is_number(bson_iter_type(spec)) ||
          !update_util_to_int64(bson_iter_value((bson_iter_t *) spec), &st->n)) {
         return error_set(error, skip ? 15972 : 15957,
                          skip ? "Argument to $skip must be a number"
                               : "the limit must be specified as a number");
      }
      if (skip ? st->n < 0 : st->n <= 0) {
         return error_set(error, skip ? 15956 : 15958,
                          skip ? "Argument to $skip cannot be negative"
                               : "the limit must be positive");
      }
      p->n_stages++;
      return true;
   }
   if (strcmp(name, "$sort") == 0) {
      st->kind = STAGE_SORT;
      st->name = "$sort";
      if (!spec_document(spec, &doc)) {
         return error_set(error, 15973, "the $sort key specification must be an object");
      }
      if (bson_empty(&doc)) {
         return error_set(error, 15976, "$sort stage must have at least one sort key");
      }
      st->sort = sort_compile_collated(&doc, expr_vars_collator(p->vars), error);
      if (!st->sort) {
         if (error) {
            error->code = 15974;
         }
         return false;
      }
      p->n_stages++;
      return true;
   }
   if (strcmp(name, "$group") == 0) {
      st->kind = STAGE_GROUP;
      st->name = "$group";
      if (!spec_document(spec, &doc)) {
         return error_set(error, 15947, "a group's fields must be specified in an object");
      }
      st->group = stage_group_compile(&doc, error);
      if (!st->group) {
         return false;
      }
      p->n_stages++;
      return true;
   }
   if (strcmp(name, "$count") == 0) {
      const char *field;
      st->kind = STAGE_COUNT;
      st->name = "$count";
      if (!BSON_ITER_HOLDS_UTF8(spec)) {
         return error_set(error, 40156, "the count field must be a non-empty string");
      }
      field = bson_iter_utf8(spec, NULL);
      if (field[0] == '\0') {
         return error_set(error, 40157, "the count field must be a non-empty string");
      }
      if (field[0] == '$') {
         return error_set(error, 40158, "the count field cannot be a $-prefixed path");
      }
      if (strchr(field, '.')) {
         return error_set(error, 40160, "the count field cannot contain '.'");
      }
      st->field = bson_strdup(field);
      p->n_stages++;
      return true;
   }
   if (strcmp(name, "$sortByCount") == 0) {
      /* {$group: {_id: <expr>, count: {$sum: 1}}}, {$sort: {count: -1}} */
      bson_t group = BSON_INITIALIZER, count, sort_spec = BSON_INITIALIZER;
      bson_iter_t sub;
      bool ok;
      if (BSON_ITER_HOLDS_UTF8(spec) && bson_iter_utf8(spec, NULL)[0] != '$') {
         return error_set(error, 40148,
                          "the sortKey field must be prefixed with a '$' if it is a path");
      }
      if (!BSON_ITER_HOLDS_UTF8(spec) && !BSON_ITER_HOLDS_DOCUMENT(spec)) {
         return error_set(error, 40149,
                          "the sortByCount field must be defined as a $-prefixed path or an "
                          "expression");
      }
      if (BSON_ITER_HOLDS_DOCUMENT(spec)) {
         bson_iter_recurse(spec, &sub);
         if (!bson_iter_next(&sub) || bson_iter_key(&sub)[0] != '$') {
            return error_set(error, 40147,
                             "the sortByCount field must be defined as a $-prefixed path or an "
                             "expression inside an object");
         }
      }
      bson_append_iter(&group, "_id", 3, spec);
      bson_append_document_begin(&group, "count", 5, &count);
      bson_append_int32(&count, "$sum", 4, 1);
      bson_append_document_end(&group, &count);
      st->kind = STAGE_GROUP;
      st->name = "$sortByCount";
      st->group = stage_group_compile(&group, error);
      bson_destroy(&group);
      if (!st->group) {
         return false;
      }
      p->n_stages++;
      st = &p->stages[p->n_stages];
      memset(st, 0, sizeof *st);
      st->kind = STAGE_SORT;
      st->name = "$sortByCount";
      bson_append_int32(&sort_spec, "count", 5, -1);
      st->sort = sort_compile_collated(&sort_spec, expr_vars_collator(p->vars), error);
      bson_destroy(&sort_spec);
      ok = st->sort != NULL;
      if (ok) {
         p->n_stages++;
      }
      return ok;
   }
   if (strcmp(name, "$unwind") == 0) {
      const char *path = NULL;
      bson_iter_t sub;
      st->kind = STAGE_UNWIND;
      st->name = "$unwind";
      if (BSON_ITER_HOLDS_UTF8(spec)) {
         path = bson_iter_utf8(spec, NULL);
      } else if (BSON_ITER_HOLDS_DOCUMENT(spec)) {
         bson_iter_recurse(spec, &sub);
         while (bson_iter_next(&sub)) {
            const char *key = bson_iter_key(&sub);
            if (strcmp(key, "path") == 0) {
               if (!BSON_ITER_HOLDS_UTF8(&sub)) {
                  return error_set(error, 28808,
                                   "expected a string as the path for $unwind stage, got %s",
                                   update_util_type_name(bson_iter_type(&sub)));
               }
               path = bson_iter_utf8(&sub, NULL);
            } else if (strcmp(key, "includeArrayIndex") == 0) {
               const char *index;
               if (!BSON_ITER_HOLDS_UTF8(&sub) || !*(index = bson_iter_utf8(&sub, NULL))) {
                  return error_set(error, 28810,
                                   "expected a non-empty string for the includeArrayIndex "
                                   " option to $unwind stage");
               }
               if (index[0] == '$') {
                  return error_set(error, 28822,
                                   "includeArrayIndex option to $unwind stage should not be "
                                   "prefixed with a '$': %s",
                                   index);
               }
               bson_free(st->index_field);
               st->index_field = bson_strdup(index);
            } else if (strcmp(key, "preserveNullAndEmptyArrays") == 0) {
               if (!BSON_ITER_HOLDS_BOOL(&sub)) {
                  return error_set(error, 28809,
                                   "expected a boolean for the preserveNullAndEmptyArrays option "
                                   "to $unwind stage, got %s",
                                   update_util_type_name(bson_iter_type(&sub)));
               }
               st->preserve = bson_iter_bool(&sub);
            } else {
               return error_set(error, 28811, "unrecognized option to $unwind stage: %s", key);
            }
         }
         if (!path) {
            return error_set(error, 28812, "no path specified to $unwind stage");
         }
      } else {
         return error_set(error, 15981,
                          "expected either a string or an object as specification for $unwind "
                          "stage, got %s",
                          update_util_type_name(bson_iter_type(spec)));
      }
      if (path[0] != '$' || path[1] == '\0') {
         return error_set(error, 28818,
                          "path option to $unwind stage should be prefixed with a '$': %s", path);
      }
      st->field = bson_strdup(path + 1);
      p->n_stages++;
      return true;
   }

   {
      bool found = false;
      bool ok = compile_new_stage(p, st, name, spec, &found, error);
      if (found) {
         return ok;
      }
   }
   if (strcmp(name, "$changeStream") == 0) {
      /* What a standalone mongod answers: change streams read the replication oplog. */
      return error_set(error, 40573, "The $changeStream stage is only supported on replica sets");
   }
   for (size_t i = 0; i < sizeof unsupported_stages / sizeof unsupported_stages[0]; i++) {
      if (strcmp(unsupported_stages[i], name) == 0) {
         return error_set(error, FE_NotImplemented, "the %s stage is not supported", name);
      }
   }
   return error_set(error, 40324, "Unrecognized pipeline stage name: '%s'", name);
}

/* Refuses, as MongoDB does when it parses a pipeline, the expressions of the stages compiled
 * from stages[first] on (and $documents') that use an undefined variable (17276). $match's
 * filter and the sub-pipelines checked themselves when compiled. */
static bool
check_stage_vars(const fe_pipeline_t *p, size_t first, fe_error_t *error)
{
   if (p->documents && !expr_check_vars(p->documents, p->vars, error)) {
      return false;
   }
   for (size_t i = first; i < p->n_stages; i++) {
      const stage_t *st = &p->stages[i];
      bool ok = true;
      switch (st->kind) {
      case STAGE_PROJECT:
         ok = stage_project_check_vars(st->project, p->vars, error);
         break;
      case STAGE_REPLACE_ROOT:
         ok = expr_check_vars(st->expr, p->vars, error);
         break;
      case STAGE_GROUP:
         ok = stage_group_check_vars(st->group, p->vars, error);
         break;
      case STAGE_LOOKUP:
         ok = stage_lookup_check_vars(st->lookup, p->vars, error);
         break;
      case STAGE_GRAPH_LOOKUP:
         ok = stage_graph_check_vars(st->graph, p->vars, error);
         break;
      case STAGE_REDACT:
         ok = stage_redact_check_vars(st->redact, p->vars, error);
         break;
      case STAGE_BUCKET_AUTO:
         ok = stage_bucket_auto_check_vars(st->bucket_auto, p->vars, error);
         break;
      case STAGE_WINDOW:
         ok = stage_window_check_vars(st->window, p->vars, error);
         break;
      default:
         break;
      }
      if (!ok) {
         return false;
      }
   }
   return true;
}

/* $documents: an expression (with the pipeline's variables, no document) that must give an
 * array of objects; evaluated when a run starts, since a $lookup's variables may feed it. */
static bool
compile_documents(fe_pipeline_t *p, const bson_iter_t *spec, fe_error_t *error)
{
   p->documents = expr_compile(spec, error);
   if (!p->documents) {
      return false;
   }
   p->source = PIPELINE_SOURCE_DOCUMENTS;
   return true;
}

/* Refuses the stages that cannot be nested in the stage holding this sub-pipeline. */
static bool
check_nesting(const fe_pipeline_t *p, const char *name, fe_error_t *error)
{
   static const char *const not_in_facet[] = {
      "$changeStream", "$collStats",  "$documents",         "$facet",
      "$geoNear",      "$indexStats", "$listLocalSessions", "$listSessions",
      "$merge",        "$out",        "$planCacheStats",    "$search",
      "$searchMeta",
   };
   bool output = strcmp(name, "$out") == 0 || strcmp(name, "$merge") == 0;

   if (!p->within) {
      return true;
   }
   if (strcmp(p->within, "$facet") == 0) {
      for (size_t i = 0; i < sizeof not_in_facet / sizeof not_in_facet[0]; i++) {
         if (strcmp(not_in_facet[i], name) == 0) {
            return error_set(error, 40600, "%s is not allowed to be used within a $facet stage",
                             name);
         }
      }
      return true;
   }
   if (output && strcmp(p->within, "$lookup") == 0) {
      return error_set(error, 51047, "%s is not allowed within a $lookup's sub-pipeline", name);
   }
   if (output) {
      return error_set(error, 31441, "%s is not allowed within a $unionWith's sub-pipeline", name);
   }
   return true;
}

/* The stages of pipeline_int.h's stage modules. *found says whether name is one of them. */
static bool
compile_new_stage(fe_pipeline_t *p, stage_t *st, const char *name, const bson_iter_t *spec,
                  bool *found, fe_error_t *error)
{
   *found = true;
   if (strcmp(name, "$lookup") == 0) {
      st->kind = STAGE_LOOKUP;
      st->name = "$lookup";
      st->lookup = stage_lookup_compile(spec, p->vars, p->depth, error);
      p->needs_reader = true;
      return st->lookup && ++p->n_stages;
   }
   if (strcmp(name, "$graphLookup") == 0) {
      st->kind = STAGE_GRAPH_LOOKUP;
      st->name = "$graphLookup";
      st->graph = stage_graph_compile(spec, p->vars, error);
      p->needs_reader = true;
      return st->graph && ++p->n_stages;
   }
   if (strcmp(name, "$unionWith") == 0) {
      st->kind = STAGE_UNION;
      st->name = "$unionWith";
      st->uni = stage_union_compile(spec, p->vars, p->depth, error);
      p->needs_reader = true;
      return st->uni && ++p->n_stages;
   }
   if (strcmp(name, "$facet") == 0) {
      st->kind = STAGE_FACET;
      st->name = "$facet";
      st->facet = stage_facet_compile(spec, p->vars, p->depth, error);
      return st->facet && ++p->n_stages;
   }
   if (strcmp(name, "$redact") == 0) {
      st->kind = STAGE_REDACT;
      st->name = "$redact";
      st->redact = stage_redact_compile(spec, error);
      return st->redact && ++p->n_stages;
   }
   if (strcmp(name, "$bucketAuto") == 0) {
      st->kind = STAGE_BUCKET_AUTO;
      st->name = "$bucketAuto";
      st->bucket_auto = stage_bucket_auto_compile(spec, error);
      return st->bucket_auto && ++p->n_stages;
   }
   if (strcmp(name, "$bucket") == 0) {
      /* As in MongoDB: {$group: {_id: {$switch: ...}, ...}}, {$sort: {_id: 1}}. */
      bson_t group, sort_spec = BSON_INITIALIZER;
      bool ok = stage_bucket_group_spec(spec, &group, error);
      st->kind = STAGE_GROUP;
      st->name = "$bucket";
      st->group = ok ? stage_group_compile(&group, error) : NULL;
      bson_destroy(&group);
      if (!st->group) {
         return false;
      }
      p->n_stages++;
      st = &p->stages[p->n_stages];
      memset(st, 0, sizeof *st);
      st->kind = STAGE_SORT;
      st->name = "$bucket";
      bson_append_int32(&sort_spec, "_id", 3, 1);
      st->sort = sort_compile_collated(&sort_spec, expr_vars_collator(p->vars), error);
      bson_destroy(&sort_spec);
      return st->sort && ++p->n_stages;
   }
   if (strcmp(name, "$setWindowFields") == 0 || strcmp(name, "$fill") == 0) {
      st->kind = STAGE_WINDOW;
      st->name = name[1] == 's' ? "$setWindowFields" : "$fill";
      st->window = name[1] == 's' ? stage_window_compile(spec, error)
                                  : stage_window_compile_fill(spec, error);
      return st->window && ++p->n_stages;
   }
   if (strcmp(name, "$densify") == 0) {
      st->kind = STAGE_DENSIFY;
      st->name = "$densify";
      st->densify = stage_densify_compile(spec, error);
      return st->densify && ++p->n_stages;
   }
   if (strcmp(name, "$sample") == 0) {
      bson_iter_t sub;
      bool has_size = false;
      st->kind = STAGE_SAMPLE;
      st->name = "$sample";
      if (!BSON_ITER_HOLDS_DOCUMENT(spec)) {
         return error_set(error, 28745, "the $sample stage specification must be an object");
      }
      bson_iter_recurse(spec, &sub);
      while (bson_iter_next(&sub)) {
         if (strcmp(bson_iter_key(&sub), "size") != 0) {
            return error_set(error, 28748, "unrecognized option to $sample: %s",
                             bson_iter_key(&sub));
         }
         if (!BSON_ITER_HOLDS_NUMBER(&sub) && !BSON_ITER_HOLDS_DECIMAL128(&sub)) {
            return error_set(error, 28746, "size argument to $sample must be a number");
         }
         if (!update_util_to_int64(bson_iter_value(&sub), &st->n)) {
            double d = BSON_ITER_HOLDS_DOUBLE(&sub) ? bson_iter_double(&sub) : 0;
            if (isnan(d) || d < 0) {
               return error_set(error, 28747, "size argument to $sample must not be negative");
            }
            st->n = d > (double) INT64_MAX ? INT64_MAX : (int64_t) d;
         }
         if (st->n < 0) {
            return error_set(error, 28747, "size argument to $sample must not be negative");
         }
         has_size = true;
      }
      if (!has_size) {
         return error_set(error, 28749, "$sample stage must specify a size");
      }
      p->n_stages++;
      return true;
   }
   *found = false;
   return false;
}

/* $out: "coll" or {db, coll}. $merge: "coll" or {into: "coll" | {db, coll}, on, whenMatched,
 * whenNotMatched}. Kept aside, not a stage: pipeline_output() hands it to the caller. */
static bool
compile_output(fe_pipeline_t *p, const char *name, const bson_iter_t *spec, fe_error_t *error)
{
   static const char *const matched[] = {"merge", "replace", "keepExisting", "fail"};
   static const char *const not_matched[] = {"insert", "discard", "fail"};
   pipeline_output_t *out = &p->output;
   bson_iter_t sub;
   bool found_into = false;

   p->has_output = true;
   out->merge = strcmp(name, "$merge") == 0;
   if (!out->merge || !BSON_ITER_HOLDS_DOCUMENT(spec)) {
      if (!out->merge && !BSON_ITER_HOLDS_UTF8(spec) && !BSON_ITER_HOLDS_DOCUMENT(spec)) {
         return error_set(error, 16990, "$out only supports a string or object argument, not %s",
                          update_util_type_name(bson_iter_type(spec)));
      }
      if (out->merge && !BSON_ITER_HOLDS_UTF8(spec)) {
         return error_set(error, 51182, "$merge only supports a string or object argument, not %s",
                          update_util_type_name(bson_iter_type(spec)));
      }
      if (!output_namespace(out, name, spec, error)) {
         return false;
      }
   } else {
      bson_iter_recurse(spec, &sub);
      while (bson_iter_next(&sub)) {
         const char *key = bson_iter_key(&sub);
         const char *const *allowed = NULL;
         size_t n_allowed = 0;
         const char **dst = NULL;

         if (strcmp(key, "into") == 0) {
            if (!output_namespace(out, name, &sub, error)) {
               return false;
            }
            found_into = true;
            continue;
         }
         if (strcmp(key, "on") == 0) {
            /* Only the default, matching on _id, is supported. */
            if ((BSON_ITER_HOLDS_UTF8(&sub) && strcmp(bson_iter_utf8(&sub, NULL), "_id") == 0)) {
               continue;
            }
            return error_set(error, FE_NotImplemented,
                             "$merge 'on' other than _id is not supported");
         }
         if (strcmp(key, "let") == 0) {
            continue; /* only used by a pipeline whenMatched, which is rejected below */
         }
         if (strcmp(key, "whenMatched") == 0) {
            allowed = matched;
            n_allowed = sizeof matched / sizeof matched[0];
            dst = &out->when_matched;
         } else if (strcmp(key, "whenNotMatched") == 0) {
            allowed = not_matched;
            n_allowed = sizeof not_matched / sizeof not_matched[0];
            dst = &out->when_not_matched;
         } else {
            return error_set(error, 40415, "BSON field '$merge.%s' is an unknown field.", key);
         }
         if (BSON_ITER_HOLDS_ARRAY(&sub)) {
            return error_set(error, FE_NotImplemented,
                             "$merge with a pipeline for whenMatched is not supported");
         }
         if (!BSON_ITER_HOLDS_UTF8(&sub)) {
            return error_set(error, FE_TypeMismatch,
                             "BSON field '$merge.%s' is the wrong type '%s', expected type "
                             "'string'",
                             key, update_util_type_name(bson_iter_type(&sub)));
         }
         for (size_t i = 0; i < n_allowed && !*dst; i++) {
            if (strcmp(allowed[i], bson_iter_utf8(&sub, NULL)) == 0) {
               *dst = bson_strdup(allowed[i]);
            }
         }
         if (!*dst) {
            return error_set(error, FE_BadValue,
                             "Enumeration value '%s' for field '$merge.%s' "
                             "is not a valid value.",
                             bson_iter_utf8(&sub, NULL), key);
         }
      }
      if (!found_into) {
         return error_set(error, 40414, "BSON field '$merge.into' is missing but a required field");
      }
   }
   if (out->merge) {
      if (!out->when_matched) {
         out->when_matched = bson_strdup("merge");
      }
      if (!out->when_not_matched) {
         out->when_not_matched = bson_strdup("insert");
      }
   }
   return true;
}

/* A target collection: "coll" or {db: "db", coll: "coll"}. */
static bool
output_namespace(pipeline_output_t *out, const char *name, const bson_iter_t *spec,
                 fe_error_t *error)
{
   bson_iter_t sub;

   bson_free((char *) out->db);
   bson_free((char *) out->coll);
   out->db = out->coll = NULL;
   if (BSON_ITER_HOLDS_UTF8(spec)) {
      out->coll = bson_strdup(bson_iter_utf8(spec, NULL));
   } else if (BSON_ITER_HOLDS_DOCUMENT(spec)) {
      bson_iter_recurse(spec, &sub);
      while (bson_iter_next(&sub)) {
         const char *key = bson_iter_key(&sub);
         const char **dst = strcmp(key, "db") == 0     ? &out->db
                            : strcmp(key, "coll") == 0 ? &out->coll
                                                       : NULL;
         if (!dst) {
            return error_set(error, 40415, "BSON field '%s.%s' is an unknown field.",
                             out->merge ? "$merge.into" : "$out", key);
         }
         if (!BSON_ITER_HOLDS_UTF8(&sub)) {
            return error_set(error, FE_TypeMismatch,
                             "BSON field '%s.%s' is the wrong type '%s', expected type 'string'",
                             out->merge ? "$merge.into" : "$out", key,
                             update_util_type_name(bson_iter_type(&sub)));
         }
         bson_free((char *) *dst);
         *dst = bson_strdup(bson_iter_utf8(&sub, NULL));
      }
   } else {
      return error_set(error, 51178,
                       "%s 'into' field must be either a string or an object, but found %s", name,
                       update_util_type_name(bson_iter_type(spec)));
   }
   if (!out->coll || !*out->coll) {
      return error_set(error, FE_InvalidNamespace, "Invalid %s target namespace", name);
   }
   return true;
}

static void
stage_clear(stage_t *st)
{
   filter_destroy(st->filter);
   if (st->filter_spec) {
      bson_destroy(st->filter_spec);
   }
   stage_project_destroy(st->project);
   expr_destroy(st->expr);
   if (st->sort) {
      sort_destroy(st->sort);
   }
   stage_group_destroy(st->group);
   bson_free(st->field);
   bson_free(st->index_field);
   stage_lookup_destroy(st->lookup);
   stage_graph_destroy(st->graph);
   stage_redact_destroy(st->redact);
   stage_union_destroy(st->uni);
   stage_facet_destroy(st->facet);
   stage_bucket_auto_destroy(st->bucket_auto);
   stage_window_destroy(st->window);
   stage_densify_destroy(st->densify);
}

/*
 * Running
 */

static void
set_cur(stage_run_t *sr, bson_t *doc)
{
   if (sr->cur) {
      bson_destroy(sr->cur);
   }
   sr->cur = doc;
}

/* The input of stage i: the source for the first stage, else stage i - 1's output. */
static bool
input_next(run_t *run, size_t i, const bson_t **doc, fe_error_t *error)
{
   *doc = NULL;
   if (i == 0) {
      const fe_pipeline_t *p = run->pipeline;
      if (p->source == PIPELINE_SOURCE_DOCUMENTS) {
         if (run->documents_pos < run->documents.count) {
            *doc = run->documents.items[run->documents_pos++];
         }
         return true;
      }
      return run->next(run->next_ctx, doc, error);
   }
   return stage_next(run, i - 1, doc, error);
}

static const fe_expr_var_t *
run_vars(const run_t *run)
{
   return run->pipeline->vars;
}

static bool
stage_next(run_t *run, size_t i, const bson_t **doc, fe_error_t *error)
{
   const stage_t *st = &run->pipeline->stages[i];
   stage_run_t *sr = &run->stages[i];
   const bson_t *in = NULL;

   *doc = NULL;
   switch (st->kind) {
   case STAGE_MATCH:
      for (;;) {
         if (!input_next(run, i, &in, error)) {
            return false;
         }
         if (!in || filter_match(st->filter, in, NULL)) {
            *doc = in;
            return true;
         }
      }
   case STAGE_PROJECT:
   case STAGE_REPLACE_ROOT: {
      bson_t *out;
      if (!input_next(run, i, &in, error)) {
         return false;
      }
      if (!in) {
         return true;
      }
      if (st->kind == STAGE_PROJECT) {
         bson_t tmp;
         if (!stage_project_apply(st->project, in, run_vars(run), &tmp, error)) {
            bson_destroy(&tmp);
            return false;
         }
         out = bson_copy(&tmp);
         bson_destroy(&tmp);
      } else {
         bson_value_t v;
         bson_t tmp;
         if (!expr_evaluate(st->expr, in, run_vars(run), &v, error)) {
            return false;
         }
         if (v.value_type != BSON_TYPE_DOCUMENT) {
            char *json =
               v.value_type == BSON_TYPE_EOD ? bson_strdup("MISSING") : update_util_value_json(&v);
            char *input = bson_as_relaxed_extended_json(in, NULL);
            error_set(error, 40228,
                      "'%s' expression must evaluate to an object, but resulting value was: %s. "
                      "Type of resulting value: '%s'. Input document: %s",
                      strcmp(st->name, "$replaceRoot") == 0 ? "newRoot" : "replacement", json,
                      v.value_type == BSON_TYPE_EOD ? "missing"
                                                    : update_util_type_name(v.value_type),
                      input);
            bson_free(json);
            bson_free(input);
            bson_value_destroy(&v);
            return false;
         }
         bson_init_static(&tmp, v.value.v_doc.data, v.value.v_doc.data_len);
         out = bson_copy(&tmp);
         bson_value_destroy(&v);
      }
      set_cur(sr, out);
      *doc = out;
      return true;
   }
   case STAGE_SKIP:
      while (sr->count < st->n) {
         if (!input_next(run, i, &in, error)) {
            return false;
         }
         if (!in) {
            return true;
         }
         sr->count++;
      }
      return input_next(run, i, doc, error);
   case STAGE_LIMIT:
      if (sr->count >= st->n) {
         return true;
      }
      sr->count++;
      return input_next(run, i, doc, error);
   case STAGE_LOOKUP:
   case STAGE_GRAPH_LOOKUP:
   case STAGE_REDACT:
      return transform_next(run, i, doc, error);
   case STAGE_UNION:
      return union_next(run, i, doc, error);
   case STAGE_SORT:
   case STAGE_GROUP:
   case STAGE_COUNT:
   case STAGE_FACET:
   case STAGE_BUCKET_AUTO:
   case STAGE_SAMPLE:
   case STAGE_WINDOW:
   case STAGE_DENSIFY:
      if (!sr->started) {
         sr->started = true;
         if (!drain(run, i, &sr->docs, &sr->n_docs, error)) {
            return false;
         }
      }
      if (sr->pos < sr->n_docs) {
         /* Hand the document out and own it as cur until the next call. */
         set_cur(sr, sr->docs[sr->pos]);
         sr->docs[sr->pos++] = NULL;
         *doc = sr->cur;
      }
      return true;
   case STAGE_UNWIND:
      return unwind_next(run, i, doc, error);
   }
   return false;
}

/* Runs a blocking stage over its whole input. */
static bool
drain(run_t *run, size_t i, bson_t ***docs, size_t *n, fe_error_t *error)
{
   const stage_t *st = &run->pipeline->stages[i];
   const bson_t *in = NULL;
   stage_group_run_t *group = NULL;
   size_t cap = 0;
   int64_t count = 0;
   uint64_t random_state = 0;

   *docs = NULL;
   *n = 0;
   if (st->kind == STAGE_GROUP) {
      group = stage_group_start(st->group);
   }
   for (;;) {
      if (!input_next(run, i, &in, error)) {
         goto fail;
      }
      if (!in) {
         break;
      }
      if (st->kind == STAGE_GROUP) {
         if (!stage_group_add(group, in, run_vars(run), error)) {
            goto fail;
         }
      } else if (st->kind == STAGE_COUNT) {
         count++;
      } else if (st->kind == STAGE_SAMPLE) {
         /* Reservoir sampling: the first n documents, then each later one replaces a random
          * one with probability n / seen, so memory stays at n documents. */
         count++;
         if (st->n == 0) {
            continue;
         }
         if ((int64_t) *n < st->n) {
            if (*n == cap) {
               cap = cap ? cap * 2 : 64;
               *docs = bson_realloc(*docs, sizeof **docs * cap);
            }
            (*docs)[(*n)++] = bson_copy(in);
         } else {
            uint64_t r = stage_random(&random_state) % (uint64_t) count;
            if (r < (uint64_t) st->n) {
               bson_destroy((*docs)[r]);
               (*docs)[r] = bson_copy(in);
            }
         }
      } else {
         if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            *docs = bson_realloc(*docs, sizeof **docs * cap);
         }
         (*docs)[(*n)++] = bson_copy(in);
      }
   }
   if (st->kind == STAGE_GROUP) {
      stage_group_finish(group, docs, n);
   } else if (st->kind == STAGE_COUNT) {
      if (count > 0) {
         *docs = bson_malloc0(sizeof **docs);
         (*docs)[0] = bson_new();
         if (count <= INT32_MAX) {
            bson_append_int32((*docs)[0], st->field, -1, (int32_t) count);
         } else {
            bson_append_int64((*docs)[0], st->field, -1, count);
         }
         *n = 1;
      }
   } else if (st->kind == STAGE_SORT) {
      sort_documents(st->sort, (const bson_t **) *docs, *n);
   } else if (!finish_blocking(run, i, docs, n, error)) {
      goto fail;
   }
   return true;

fail:
   stage_group_run_destroy(group);
   for (size_t d = 0; d < *n; d++) {
      bson_destroy((*docs)[d]);
   }
   bson_free(*docs);
   *docs = NULL;
   *n = 0;
   return false;
}

/* The blocking stages of the stage modules, given their whole input in *docs (replaced by
 * their results). */
static bool
finish_blocking(run_t *run, size_t i, bson_t ***docs, size_t *n, fe_error_t *error)
{
   const stage_t *st = &run->pipeline->stages[i];
   stage_docs_t out = {0};
   bool ok = true;

   if (st->kind == STAGE_SAMPLE) {
      /* A random order, as MongoDB's $sample gives (Fisher-Yates). */
      uint64_t state = 0;
      for (size_t k = *n; k > 1; k--) {
         size_t j = (size_t) (stage_random(&state) % k);
         bson_t *tmp = (*docs)[k - 1];
         (*docs)[k - 1] = (*docs)[j];
         (*docs)[j] = tmp;
      }
      return true;
   }
   if (st->kind == STAGE_FACET) {
      bson_t *result = NULL;
      ok = stage_facet_run(st->facet, run->reader, *docs, *n, &result, error);
      if (ok) {
         stage_docs_push(&out, result);
      }
   } else if (st->kind == STAGE_BUCKET_AUTO) {
      ok = stage_bucket_auto_run(st->bucket_auto, run_vars(run), *docs, *n, &out, error);
   } else if (st->kind == STAGE_WINDOW) {
      ok = stage_window_run(st->window, run_vars(run), *docs, *n, &out, error);
   } else if (st->kind == STAGE_DENSIFY) {
      ok = stage_densify_run(st->densify, *docs, *n, &out, error);
   }
   for (size_t d = 0; d < *n; d++) {
      bson_destroy((*docs)[d]);
   }
   bson_free(*docs);
   *docs = out.items;
   *n = out.count;
   if (!ok) {
      stage_docs_clear(&out);
      *docs = NULL;
      *n = 0;
   }
   return ok;
}

/* The per-document stages of the stage modules: $lookup, $graphLookup, $redact. */
static bool
transform_next(run_t *run, size_t i, const bson_t **doc, fe_error_t *error)
{
   const stage_t *st = &run->pipeline->stages[i];
   stage_run_t *sr = &run->stages[i];

   for (;;) {
      const bson_t *in = NULL;
      bson_t *out = NULL;
      bool ok;

      if (!input_next(run, i, &in, error)) {
         return false;
      }
      if (!in) {
         *doc = NULL;
         return true;
      }
      switch (st->kind) {
      case STAGE_LOOKUP:
         ok = stage_lookup_apply(st->lookup, run->reader, run_vars(run), in, &out, error);
         break;
      case STAGE_GRAPH_LOOKUP:
         ok = stage_graph_apply(st->graph, run->reader, run_vars(run), in, &out, error);
         break;
      default:
         ok = stage_redact_apply(st->redact, run_vars(run), in, &out, error);
         break;
      }
      if (!ok) {
         return false;
      }
      if (out) {
         set_cur(sr, out);
         *doc = out;
         return true;
      }
   }
}

/* $unionWith: the input, then the other collection's documents. */
static bool
union_next(run_t *run, size_t i, const bson_t **doc, fe_error_t *error)
{
   const stage_t *st = &run->pipeline->stages[i];
   stage_run_t *sr = &run->stages[i];

   *doc = NULL;
   if (!sr->started) {
      stage_docs_t docs = {0};
      if (!input_next(run, i, doc, error)) {
         return false;
      }
      if (*doc) {
         return true;
      }
      sr->started = true;
      if (!stage_union_run(st->uni, run->reader, &docs, error)) {
         stage_docs_clear(&docs);
         return false;
      }
      sr->docs = docs.items;
      sr->n_docs = docs.count;
   }
   if (sr->pos < sr->n_docs) {
      set_cur(sr, sr->docs[sr->pos]);
      sr->docs[sr->pos++] = NULL;
      *doc = sr->cur;
   }
   return true;
}

/* $documents' array, evaluated with the run's variables. */
static bool
evaluate_documents(run_t *run, fe_error_t *error)
{
   const fe_pipeline_t *p = run->pipeline;
   bson_t empty = BSON_INITIALIZER, arr;
   bson_value_t v = {0};
   bson_iter_t iter;
   bool ok = false;

   if (p->source != PIPELINE_SOURCE_DOCUMENTS) {
      return true;
   }
   if (!expr_evaluate(p->documents, &empty, run_vars(run), &v, error)) {
      goto done;
   }
   if (v.value_type != BSON_TYPE_ARRAY) {
      error_set(error, 5858203, "an array is expected");
      goto done;
   }
   bson_init_static(&arr, v.value.v_doc.data, v.value.v_doc.data_len);
   bson_iter_init(&iter, &arr);
   while (bson_iter_next(&iter)) {
      uint32_t len;
      const uint8_t *data;
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         error_set(error, 40228,
                   "'newRoot' expression must evaluate to an object, but "
                   "resulting value was of type: %s",
                   update_util_type_name(bson_iter_type(&iter)));
         goto done;
      }
      bson_iter_document(&iter, &len, &data);
      stage_docs_push(&run->documents, bson_new_from_data(data, len));
   }
   ok = true;

done:
   bson_value_destroy(&v);
   return ok;
}

/* Rebuilds doc with the dotted path set to value (NULL: removed), through documents only. */
static void
set_path(const bson_t *doc, const char *path, const bson_value_t *value, bson_t *out)
{
   size_t len = strcspn(path, ".");
   bool last = path[len] == '\0';
   bson_iter_t iter;

   bson_iter_init(&iter, doc);
   while (bson_iter_next(&iter)) {
      if (bson_iter_key_len(&iter) != len || memcmp(bson_iter_key(&iter), path, len) != 0) {
         bson_append_iter(out, bson_iter_key(&iter), -1, &iter);
      } else if (last) {
         if (value) {
            bson_append_value(out, bson_iter_key(&iter), -1, value);
         }
      } else if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         bson_t sub, child;
         uint32_t dlen;
         const uint8_t *data;
         bson_iter_document(&iter, &dlen, &data);
         bson_init_static(&sub, data, dlen);
         bson_append_document_begin(out, bson_iter_key(&iter), -1, &child);
         set_path(&sub, path + len + 1, value, &child);
         bson_append_document_end(out, &child);
      } else {
         bson_append_iter(out, bson_iter_key(&iter), -1, &iter);
      }
   }
}

/* Produces the next $unwind output: one per element of the array at the path of the input
 * document; with preserveNullAndEmptyArrays, the document itself for null, missing and []. */
static bool
unwind_next(run_t *run, size_t i, const bson_t **doc, fe_error_t *error)
{
   const stage_t *st = &run->pipeline->stages[i];
   stage_run_t *sr = &run->stages[i];

   for (;;) {
      bson_iter_t iter, elem;
      bool found;

      if (!sr->source) {
         const bson_t *in = NULL;
         if (!input_next(run, i, &in, error)) {
            return false;
         }
         if (!in) {
            *doc = NULL;
            return true;
         }
         sr->source = bson_copy(in);
         sr->unwind_index = 0;
      }
      found =
         bson_iter_init(&iter, sr->source) && bson_iter_find_descendant(&iter, st->field, &iter);
      /* A numeric component indexes arrays in bson_iter_find_descendant, not in $unwind. */
      if (found && strchr(st->field, '.')) {
         const char *p = st->field;
         bson_iter_t walk;
         bson_iter_init(&walk, sr->source);
         for (;;) {
            size_t len = strcspn(p, ".");
            if (!bson_iter_find_w_len(&walk, p, (int) len)) {
               found = false;
               break;
            }
            if (p[len] == '\0') {
               break;
            }
            if (!BSON_ITER_HOLDS_DOCUMENT(&walk)) {
               found = false;
               break;
            }
            bson_iter_recurse(&walk, &walk);
            p += len + 1;
         }
      }

      if (found && BSON_ITER_HOLDS_ARRAY(&iter)) {
         uint32_t k = 0;
         bson_iter_recurse(&iter, &elem);
         while (k <= sr->unwind_index && bson_iter_next(&elem)) {
            k++;
         }
         if (k == sr->unwind_index + 1) {
            bson_t *out = bson_new();
            set_path(sr->source, st->field, bson_iter_value(&elem), out);
            if (st->index_field) {
               bson_t *with = bson_new();
               bson_value_t index = {.value_type = BSON_TYPE_INT64};
               index.value.v_int64 = sr->unwind_index;
               if (bson_has_field(out, st->index_field)) {
                  set_path(out, st->index_field, &index, with);
               } else {
                  bson_concat(with, out);
                  bson_append_int64(with, st->index_field, -1, sr->unwind_index);
               }
               bson_destroy(out);
               out = with;
            }
            sr->unwind_index++;
            set_cur(sr, out);
            *doc = out;
            return true;
         }
         if (sr->unwind_index == 0 && st->preserve) {
            /* An empty array: the document without the field. */
            bson_t *out = bson_new();
            set_path(sr->source, st->field, NULL, out);
            if (st->index_field) {
               bson_append_null(out, st->index_field, -1);
            }
            bson_destroy(sr->source);
            sr->source = NULL;
            set_cur(sr, out);
            *doc = out;
            return true;
         }
         bson_destroy(sr->source);
         sr->source = NULL;
         continue;
      }

      if ((found && !BSON_ITER_HOLDS_NULL(&iter) && !BSON_ITER_HOLDS_UNDEFINED(&iter)) ||
          st->preserve) {
         /* A non-array value unwinds to itself. */
         bson_t *out = sr->source;
         sr->source = NULL;
         if (st->index_field) {
            bson_t *with = bson_new();
            if (bson_has_field(out, st->index_field)) {
               bson_value_t null_value = {.value_type = BSON_TYPE_NULL};
               set_path(out, st->index_field, &null_value, with);
            } else {
               bson_concat(with, out);
               bson_append_null(with, st->index_field, -1);
            }
            bson_destroy(out);
            out = with;
         }
         set_cur(sr, out);
         *doc = out;
         return true;
      }
      bson_destroy(sr->source);
      sr->source = NULL;
   }
}
