/*
 * cmd_aggregate.c: the aggregate command, and explain for the read commands.
 *
 * The pipeline pulls documents straight from a backend cursor; its leading $match is offered
 * to the backend as the query, so a pushed-down _id lookup serves aggregations too.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/generic.h"
#include "backend/pushdown.h"
#include "commands/args.h"
#include "commands/handlers.h"
#include "commands/write_ops.h"
#include "query/aggregate/pipeline.h"

typedef struct source {
   const fe_store_t *store;
   ferret_cursor_t *cursor; /* NULL: no input (a collectionless aggregate) */
   bson_t current;          /* a static view of the last document read */
} source_t;

typedef struct sink {
   bson_t **docs;
   size_t count;
   size_t capacity;
} sink_t;

static bool pull(void *ctx, const bson_t **doc, fe_error_t *error);
static bool collect(void *ctx, const bson_t *doc, fe_error_t *error);
static bool explain_plan(fe_ctx_t *ctx, const char *collection, const bson_t *filter,
                         fe_error_t *error);
static void copy_backend_plan(void *ctx, const uint8_t *bson, size_t len);

bool
cmd_aggregate(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_iter_t iter;
   const char *collection = NULL;
   bson_t stages, let, cursor_options;
   bool has_pipeline = false;
   bool has_cursor = false;
   bool explain = false;
   int64_t batch_size = ARGS_DEFAULT_BATCH_SIZE;
   fe_pipeline_t *pipeline = NULL;
   fe_store_t store;
   fe_plan_t *plan = NULL;
   source_t source = {0};
   sink_t sink = {0};
   fe_cursor_t *cursor = NULL;
   ferret_error_t backend_error = {0};
   ferret_status_t status;
   const bson_t *leading;
   bool ok = false;

   if (bson_iter_init_find(&iter, ctx->command, "aggregate") && BSON_ITER_HOLDS_UTF8(&iter)) {
      if (!args_collection(ctx, &collection, error)) {
         goto done;
      }
   } else if (!bson_iter_init_find(&iter, ctx->command, "aggregate") ||
              !BSON_ITER_HOLDS_NUMBER(&iter) || bson_iter_as_int64(&iter) != 1) {
      error_set(error, FE_FailedToParse,
                "Invalid command format: the 'aggregate' field must specify a collection name or 1");
      goto done;
   }
   if (!args_check_collation(ctx->command, error) ||
       !args_array(ctx->command, "pipeline", &stages, &has_pipeline, error) ||
       !args_document(ctx->command, "let", &let, NULL, error) ||
       !args_document(ctx->command, "cursor", &cursor_options, &has_cursor, error) ||
       !args_bool(ctx->command, "explain", &explain, error) ||
       !args_int64(&cursor_options, "batchSize", &batch_size, error)) {
      goto done;
   }
   if (!has_pipeline) {
      error_set(error, 40414, "BSON field 'aggregate.pipeline' is missing but a required field");
      goto done;
   }
   if (!has_cursor && !explain) {
      error_set(error, FE_FailedToParse,
                "The 'cursor' option is required, except for aggregate with the explain argument");
      goto done;
   }
   pipeline = pipeline_compile(&stages, bson_empty(&let) ? NULL : &let, 0, error);
   if (!pipeline) {
      goto done;
   }
   leading = pipeline_leading_match(pipeline);
   if (explain) {
      ok = explain_plan(ctx, collection ? collection : "$cmd.aggregate", leading, error);
      goto done;
   }
   if (collection) {
      write_ops_store(ctx, collection, &store);
      source.store = &store;
      plan = pushdown_plan_new(leading, 0, 0, 0, store.capabilities);
      if (!plan) {
         error_set(error, FE_ExceededMemoryLimit, "out of memory");
         goto done;
      }
      status = store.methods->query(store.session, &store.ns, pushdown_plan_query(plan),
                                    &source.cursor, &backend_error);
      if (status != FERRET_OK) {
         source.cursor = NULL;
         error_set_from_backend(error, store.backend_name, status, &backend_error);
         goto done;
      }
   }
   if (!pipeline_run(pipeline, pull, &source, collect, &sink, error)) {
      goto done;
   }
   cursor = cursor_new(ctx->db, collection ? collection : "$cmd.aggregate");
   if (!cursor) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   cursor_set_documents(cursor, sink.docs, sink.count);
   sink.docs = NULL;
   sink.count = 0;
   ok = args_reply_first_batch(ctx, cursor, batch_size, false, error);
   cursor = NULL;

done:
   if (source.cursor) {
      store.methods->cursor_close(source.cursor);
   }
   pushdown_plan_destroy(plan);
   generic_free_documents(sink.docs, sink.count);
   cursor_destroy(cursor);
   if (pipeline) {
      pipeline_destroy(pipeline);
   }
   return ok;
}

bool
cmd_explain(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_t inner;
   bson_t filter;
   bson_iter_t iter;
   const char *verb;
   const char *collection;

   if (!args_document(ctx->command, "explain", &inner, NULL, error)) {
      return false;
   }
   if (!bson_iter_init(&iter, &inner) || !bson_iter_next(&iter) || !BSON_ITER_HOLDS_UTF8(&iter)) {
      return error_set(error, FE_FailedToParse, "explain command requires a nested object");
   }
   verb = bson_iter_key(&iter);
   collection = bson_iter_utf8(&iter, NULL);
   if (!args_check_collection_name(ctx->db, collection, error)) {
      return false;
   }
   if (strcmp(verb, "aggregate") == 0) {
      bson_t stages;
      fe_pipeline_t *pipeline;
      bool ok;
      if (!args_array(&inner, "pipeline", &stages, NULL, error) ||
          !(pipeline = pipeline_compile(&stages, NULL, 0, error))) {
         return false;
      }
      ok = explain_plan(ctx, collection, pipeline_leading_match(pipeline), error);
      pipeline_destroy(pipeline);
      return ok;
   }
   if (strcmp(verb, "find") != 0 && strcmp(verb, "count") != 0 && strcmp(verb, "distinct") != 0 &&
       strcmp(verb, "update") != 0 && strcmp(verb, "delete") != 0 &&
       strcmp(verb, "findAndModify") != 0) {
      return error_set(error, FE_CommandNotFound, "explain is not supported for '%s'", verb);
   }
   if (!args_document(&inner, strcmp(verb, "find") == 0 ? "filter" : "query", &filter, NULL,
                      error)) {
      return false;
   }
   return explain_plan(ctx, collection, &filter, error);
}

/* {queryPlanner: {namespace, parsedQuery, winningPlan}} with what the backend would do. */
static bool
explain_plan(fe_ctx_t *ctx, const char *collection, const bson_t *filter, fe_error_t *error)
{
   fe_store_t store;
   fe_plan_t *plan = NULL;
   bson_t planner, winning, backend_plan = BSON_INITIALIZER;
   bson_t empty = BSON_INITIALIZER;
   char ns[512];
   bool ok = false;

   write_ops_store(ctx, collection, &store);
   plan = pushdown_plan_new(filter ? filter : &empty, 0, 0, 0, store.capabilities);
   if (!plan) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   if (store.methods->explain) {
      ferret_error_t backend_error = {0};
      ferret_status_t status;
      status = store.methods->explain(store.session, &store.ns, pushdown_plan_query(plan),
                                      copy_backend_plan, &backend_plan, &backend_error);
      (void) status; /* explain is informational: a backend that cannot tell still explains */
   }
   snprintf(ns, sizeof ns, "%s.%s", ctx->db, collection);
   BSON_APPEND_UTF8(ctx->reply, "explainVersion", "1");
   BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "queryPlanner", &planner);
   BSON_APPEND_UTF8(&planner, "namespace", ns);
   BSON_APPEND_DOCUMENT(&planner, "parsedQuery", filter ? filter : &empty);
   BSON_APPEND_DOCUMENT_BEGIN(&planner, "winningPlan", &winning);
   BSON_APPEND_UTF8(&winning, "stage",
                    pushdown_plan_query(plan)->term_count && pushdown_plan_query(plan)->terms[0].applied
                       ? "IDHACK"
                       : "COLLSCAN");
   BSON_APPEND_UTF8(&winning, "backend", ctx->server->backend_name);
   pushdown_plan_describe(plan, &winning);
   if (!bson_empty(&backend_plan)) {
      BSON_APPEND_DOCUMENT(&winning, "backendPlan", &backend_plan);
   }
   bson_append_document_end(&planner, &winning);
   bson_append_document_end(ctx->reply, &planner);
   ok = true;

done:
   pushdown_plan_destroy(plan);
   bson_destroy(&backend_plan);
   bson_destroy(&empty);
   return ok;
}

static void
copy_backend_plan(void *ctx, const uint8_t *bson, size_t len)
{
   bson_t *out = ctx;
   bson_t native;
   if (bson && bson_init_static(&native, bson, len)) {
      bson_destroy(out);
      bson_copy_to(&native, out);
   }
}

static bool
pull(void *ctx, const bson_t **doc, fe_error_t *error)
{
   source_t *source = ctx;
   const uint8_t *data = NULL;
   size_t len = 0;
   ferret_error_t backend_error = {0};
   ferret_status_t status;

   *doc = NULL;
   if (!source->cursor) {
      return true;
   }
   status = source->store->methods->cursor_next(source->cursor, &data, &len, &backend_error);
   if (status != FERRET_OK) {
      return error_set_from_backend(error, source->store->backend_name, status, &backend_error);
   }
   if (!data) {
      return true;
   }
   if (!bson_init_static(&source->current, data, len)) {
      return error_set(error, FE_InternalError, "backend returned a malformed document");
   }
   *doc = &source->current;
   return true;
}

static bool
collect(void *ctx, const bson_t *doc, fe_error_t *error)
{
   sink_t *sink = ctx;
   if (sink->count == sink->capacity) {
      size_t grown = sink->capacity ? sink->capacity * 2 : 64;
      bson_t **bigger = realloc(sink->docs, grown * sizeof *bigger);
      if (!bigger) {
         return error_set(error, FE_ExceededMemoryLimit, "out of memory collecting results");
      }
      sink->docs = bigger;
      sink->capacity = grown;
   }
   sink->docs[sink->count++] = bson_copy(doc);
   return true;
}
