/*
 * cmd_aggregate.c: the aggregate command, and explain for the read commands.
 *
 * The pipeline pulls documents straight from a backend cursor; its leading $match is offered
 * to the backend as the query, so a pushed-down _id lookup serves aggregations too.
 *
 * Stages that read other collections ($lookup, $graphLookup, $unionWith) get a
 * pipeline_reader_t over the command's database: each read is a backend query with the
 * stage's filter offered for pushdown, so a $lookup on foreignField _id is a primary-key read.
 *
 * A final $out or $merge is written here, after the pipeline has run and its input cursor is
 * closed: the results are collected first, so a pipeline may read and write one collection
 * without seeing its own writes, and no backend read statement is open while tables are
 * created, renamed or dropped. $out fills a temporary collection and renames it over the
 * target, so readers see the old contents or the new, never a half-written target.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/generic.h"
#include "backend/indexes.h"
#include "backend/pushdown.h"
#include "commands/args.h"
#include "commands/cmd_views.h"
#include "commands/handlers.h"
#include "commands/hint.h"
#include "commands/textsearch.h"
#include "commands/write_ops.h"
#include "query/aggregate/pipeline.h"
#include "wire/header.h"

typedef struct source {
   const fe_store_t *store;
   ferret_cursor_t *cursor; /* NULL: no backend input (a collectionless aggregate) */
   bson_t current;          /* a static view of the last document read */
   bson_t *const *docs;     /* borrowed; the input when there is no cursor ($listLocalSessions) */
   size_t doc_count;
   size_t doc_pos;
} source_t;

/* How many documents $out hands the backend per insert call. */
#define OUT_INSERT_BATCH 1000

/* How often $merge retries one document whose target changed under it. */
#define MERGE_MAX_ATTEMPTS 100

/* One read of another collection for a pipeline stage (pipeline_reader_t). */
typedef struct reader_cursor {
   fe_store_t store;
   fe_plan_t *plan;         /* owned */
   ferret_cursor_t *cursor; /* owned */
   bson_t *current;         /* owned storage (aligned); a static view of the last document */
} reader_cursor_t;

typedef struct sink {
   bson_t **docs;
   size_t count;
   size_t capacity;
} sink_t;

static bool pull(void *ctx, const bson_t **doc, fe_error_t *error);
static bool collect(void *ctx, const bson_t *doc, fe_error_t *error);
static bool explain_plan(fe_ctx_t *ctx, const char *collection, const bson_t *filter,
                         fe_error_t *error);
/* Copies a BSON document handed to a backend callback into the bson_t *ctx. */
static void copy_document(void *ctx, const uint8_t *bson, size_t len);

/* $out and $merge */
static bool output_store(fe_ctx_t *ctx, const pipeline_output_t *output, fe_store_t *target,
                         fe_error_t *error);
static bool write_out(fe_ctx_t *ctx, const pipeline_output_t *output, bson_t *const *docs,
                      size_t count, fe_error_t *error);
static bool write_merge(fe_ctx_t *ctx, const pipeline_output_t *output, bson_t *const *docs,
                        size_t count, fe_error_t *error);
static bool merge_one(fe_ctx_t *ctx, const fe_store_t *target, const fe_index_set_t *unique,
                      const pipeline_output_t *output, const bson_t *doc, fe_error_t *error);
static void merge_fields(const bson_t *current, const bson_t *doc, bson_t *out);
static bool is_capped(const bson_t *options);
static bool split_source_stage(const bson_t *stages, bson_t *rest, bson_t *spec, const char **name,
                               fe_error_t *error);
static bool coll_stats_document(fe_ctx_t *ctx, const char *collection, const bson_t *spec,
                                bson_t *out, fe_error_t *error);
static bool is_id_violation(const bson_t *duplicate);

/* The collection reader handed to the pipeline */
/* What the reader of other collections needs: the command, and the collation its filters
 * compare strings with (pushdown must know it). */
typedef struct reader_ctx {
   fe_ctx_t *cmd;
   const fe_collator_t *collator; /* borrowed; NULL: binary */
} reader_ctx_t;

static bool reader_open(void *ctx, const char *collection, const bson_t *filter, void **cursor,
                        fe_error_t *error);
static bool reader_next(void *cursor, const bson_t **doc, fe_error_t *error);
static void reader_close(void *cursor);

/* $listLocalSessions */
static bool local_sessions(fe_ctx_t *ctx, bson_t ***docs, size_t *count, fe_error_t *error);

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
   const pipeline_output_t *output;
   bson_t **sessions = NULL; /* owned, each owned; the input of a source stage the command runs */
   size_t session_count = 0;
   bson_t rest = BSON_INITIALIZER; /* the stages after a leading $collStats or $currentOp */
   bson_t source_spec;             /* static view of that stage's specification */
   const char *source_stage = NULL;
   fe_collator_t *collator = NULL;
   reader_ctx_t reader_ctx = {ctx, NULL};
   pipeline_reader_t base_reader = {reader_open, reader_next, reader_close, &reader_ctx};
   cmd_views_reader_t reader;                          /* reads views too */
   cmd_views_source_t view = {NULL, BSON_INITIALIZER}; /* when collection is a view */
   textsearch_source_t *text = NULL;                   /* a leading $text $match, run here */
   bson_t text_rest = BSON_INITIALIZER;
   bool ok = false;

   cmd_views_reader_init(&reader, ctx, &base_reader);

   if (bson_iter_init_find(&iter, ctx->command, "aggregate") && BSON_ITER_HOLDS_UTF8(&iter)) {
      if (!args_collection(ctx, &collection, error)) {
         goto done;
      }
   } else if (!bson_iter_init_find(&iter, ctx->command, "aggregate") ||
              !BSON_ITER_HOLDS_NUMBER(&iter) || bson_iter_as_int64(&iter) != 1) {
      error_set(
         error, FE_FailedToParse,
         "Invalid command format: the 'aggregate' field must specify a collection name or 1");
      goto done;
   }
   if (collection) {
      write_ops_store(ctx, collection, &store);
   }
   if (!args_collation(ctx->command, collection ? &store : NULL, &collator, error) ||
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
   if (!cmd_views_resolve(ctx, collection, &stages, &view, error) ||
       !split_source_stage(&stages, &rest, &source_spec, &source_stage, error)) {
      goto done;
   }
   if (collection && !source_stage) {
      write_ops_store(ctx, view.collection ? view.collection : collection, &store);
   }
   bson_destroy(&text_rest);
   if (!textsearch_aggregate(collection && !source_stage ? &store : NULL, &stages, pull, &source,
                             &text_rest, &text, error)) {
      goto done;
   }
   reader_ctx.collator = collator;
   pipeline =
      pipeline_compile_collated(text           ? &text_rest
                                : source_stage ? &rest
                                               : &stages,
                                bson_empty(&let) ? NULL : &let,
                                PIPELINE_WITH_OUTPUT | PIPELINE_WITH_SESSIONS, collator, error);
   if (!pipeline) {
      goto done;
   }
   leading = pipeline_leading_match(pipeline);
   output = pipeline_output(pipeline);
   if (explain) {
      ok = explain_plan(ctx, collection ? collection : "$cmd.aggregate", leading, error);
      goto done;
   }
   if (source_stage) {
      bool coll_stats = strcmp(source_stage, "$collStats") == 0;
      if (coll_stats && !collection) {
         error_set(error, FE_InvalidNamespace, "$collStats must be run against a collection");
         goto done;
      }
      if (!coll_stats && (collection || strcmp(ctx->db, "admin") != 0)) {
         error_set(error, FE_InvalidNamespace,
                   "$currentOp must be run against the 'admin' database with {aggregate: 1}");
         goto done;
      }
      sessions = calloc(1, sizeof *sessions);
      if (!sessions) {
         error_set(error, FE_ExceededMemoryLimit, "out of memory");
         goto done;
      }
      sessions[0] = bson_new();
      session_count = 1;
      if (coll_stats) {
         if (!coll_stats_document(ctx, collection, &source_spec, sessions[0], error)) {
            goto done;
         }
      } else {
         /* Commands run to completion on their worker: the caller's is the one operation in
          * progress that the server can report (cmd_diag.c). */
         cmd_current_op_document(ctx, sessions[0]);
      }
      source.docs = sessions;
      source.doc_count = session_count;
   } else if (pipeline_source(pipeline) == PIPELINE_SOURCE_LOCAL_SESSIONS) {
      if (collection) {
         error_set(error, FE_InvalidNamespace, "{aggregate: 1} is required for $listLocalSessions");
         goto done;
      }
      if (!local_sessions(ctx, &sessions, &session_count, error)) {
         goto done;
      }
      source.docs = sessions;
      source.doc_count = session_count;
   } else if (collection) {
      write_ops_store(ctx, view.collection ? view.collection : collection, &store);
      source.store = &store;
      /* On a view the hint is the underlying collection's, as mongod applies it. */
      if (!hint_check(&store, ctx->command, false, error)) {
         goto done;
      }
      plan = pushdown_plan_new_collated(text ? textsearch_source_filter(text) : leading, 0, 0, 0,
                                        store.capabilities, collator);
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
   if (!pipeline_run_reader(pipeline, &reader.self, text ? textsearch_pull : pull,
                            text ? (void *) text : &source, collect, &sink, error)) {
      goto done;
   }
   if (source.cursor) {
      store.methods->cursor_close(source.cursor);
      source.cursor = NULL;
   }
   if (output) {
      bool written = output->merge ? write_merge(ctx, output, sink.docs, sink.count, error)
                                   : write_out(ctx, output, sink.docs, sink.count, error);
      if (!written) {
         goto done;
      }
      /* The results went to the target; the reply is an exhausted, empty cursor. */
      generic_free_documents(sink.docs, sink.count);
      sink.docs = NULL;
      sink.count = 0;
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
   generic_free_documents(sessions, session_count);
   bson_destroy(&rest);
   cmd_views_source_destroy(&view);
   bson_destroy(&text_rest);
   textsearch_source_destroy(text);
   cursor_destroy(cursor);
   if (pipeline) {
      pipeline_destroy(pipeline);
   }
   collation_destroy(collator);
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
          !(pipeline = pipeline_compile(&stages, NULL,
                                        PIPELINE_WITH_OUTPUT | PIPELINE_WITH_SESSIONS, error))) {
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
                                      copy_document, &backend_plan, &backend_error);
      (void) status; /* explain is informational: a backend that cannot tell still explains */
   }
   snprintf(ns, sizeof ns, "%s.%s", ctx->db, collection);
   BSON_APPEND_UTF8(ctx->reply, "explainVersion", "1");
   BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "queryPlanner", &planner);
   BSON_APPEND_UTF8(&planner, "namespace", ns);
   BSON_APPEND_DOCUMENT(&planner, "parsedQuery", filter ? filter : &empty);
   BSON_APPEND_DOCUMENT_BEGIN(&planner, "winningPlan", &winning);
   BSON_APPEND_UTF8(&winning, "stage",
                    pushdown_plan_query(plan)->term_count &&
                          pushdown_plan_query(plan)->terms[0].applied
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
copy_document(void *ctx, const uint8_t *bson, size_t len)
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
      if (source->doc_pos < source->doc_count) {
         *doc = source->docs[source->doc_pos++];
      }
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

/*
 * $out and $merge
 */

/* The store for the output namespace, checked as MongoDB does: a valid name, not a system
 * collection, not in an internal database. */
static bool
output_store(fe_ctx_t *ctx, const pipeline_output_t *output, fe_store_t *target, fe_error_t *error)
{
   const char *db;

   write_ops_store(ctx, output->coll, target);
   if (output->db) {
      target->ns.db = output->db;
   }
   db = target->ns.db;
   if (!args_check_collection_name(db, output->coll, error)) {
      return false;
   }
   if (strcmp(db, "admin") == 0 || strcmp(db, "config") == 0 || strcmp(db, "local") == 0) {
      return output->merge ? error_set(error, 31320, "Cannot $merge to internal database: %s", db)
                           : error_set(error, 31321, "Can't $out to internal database: %s", db);
   }
   if (strncmp(output->coll, "system.", 7) == 0) {
      return output->merge
                ? error_set(error, 31319, "Cannot $merge to special collection: %s", output->coll)
                : error_set(error, 17385, "Can't $out to special collection: %s", output->coll);
   }
   return true;
}

/*
 * $out: creates a temporary collection in the target database with the target's options,
 * fills it, and renames it over the target (drop_target), so the target holds either its old
 * contents or all of the results. On failure the temporary collection is dropped and the
 * target is left as it was. An empty result still replaces the target with an empty
 * collection, as MongoDB does.
 */
static bool
write_out(fe_ctx_t *ctx, const pipeline_output_t *output, bson_t *const *docs, size_t count,
          fe_error_t *error)
{
   fe_store_t target;
   fe_store_t temp;
   bson_t options = BSON_INITIALIZER; /* the target's create options, copied */
   bson_t *batch = NULL;              /* owned; OUT_INSERT_BATCH prepared documents */
   const bson_t **pointers = NULL;    /* owned array; borrows batch */
   size_t prepared = 0;               /* how many of batch are initialized */
   char temp_name[64];
   char oid_hex[25];
   bson_oid_t oid;
   fe_index_set_t target_indexes = {0}; /* the target's indexes, rebuilt on the temp */
   fe_index_set_t temp_unique = {0};
   ferret_error_t backend_error = {0};
   ferret_status_t status;
   bool created = false;
   bool ok = false;

   if (!output_store(ctx, output, &target, error)) {
      goto done;
   }
   status = target.methods->collection_options(target.session, &target.ns, copy_document, &options,
                                               &backend_error);
   if (status != FERRET_OK && status != FERRET_ERR_NAMESPACE_NOT_FOUND) {
      error_set_from_backend(error, target.backend_name, status, &backend_error);
      goto done;
   }
   if (is_capped(&options)) {
      error_set(error, 17152, "namespace '%s.%s' is capped so it can't be used for $out",
                target.ns.db, target.ns.collection);
      goto done;
   }
   /* bson_t demands 128-byte alignment, more than calloc promises. */
   batch = aligned_alloc(BSON_ALIGNOF(bson_t), OUT_INSERT_BATCH * sizeof *batch);
   pointers = calloc(OUT_INSERT_BATCH, sizeof *pointers);
   if (!batch || !pointers) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }

   /* An ObjectId is unique within the process and across restarts, which is all a name for
    * a collection that lives for one command needs. */
   bson_oid_init(&oid, NULL);
   bson_oid_to_string(&oid, oid_hex);
   snprintf(temp_name, sizeof temp_name, "tmp.agg_out.%s", oid_hex);
   temp = target;
   temp.ns.collection = temp_name;
   status = temp.methods->create_collection(temp.session, &temp.ns,
                                            bson_empty(&options) ? NULL : bson_get_data(&options),
                                            bson_empty(&options) ? 0 : options.len, &backend_error);
   if (status != FERRET_OK) {
      error_set_from_backend(error, temp.backend_name, status, &backend_error);
      goto done;
   }
   created = true;
   /* The target keeps its indexes: they are built on the temporary collection first, so its
    * unique indexes judge the new contents before the rename makes them visible. */
   if (!indexes_load(&target, false, &target_indexes, error)) {
      goto done;
   }
   for (size_t i = 0; i < target_indexes.count; i++) {
      if (!indexes_create(&temp, &target_indexes.items[i].spec, error)) {
         goto done;
      }
   }
   if (!indexes_load(&temp, true, &temp_unique, error)) {
      goto done;
   }

   for (size_t start = 0; start < count; start += OUT_INSERT_BATCH) {
      size_t n = count - start < OUT_INSERT_BATCH ? count - start : OUT_INSERT_BATCH;
      size_t inserted = 0;
      ptrdiff_t duplicate = -1;
      bool inserted_ok;

      for (prepared = 0; prepared < n;) {
         /* prepare_insert initializes batch[prepared] even when it fails. */
         bool prepared_ok =
            write_ops_prepare_insert(docs[start + prepared], &batch[prepared], error);
         pointers[prepared] = &batch[prepared];
         prepared++;
         if (!prepared_ok) {
            goto done;
         }
      }
      inserted_ok = indexes_insert(&temp, &temp_unique, (const bson_t *const *) pointers, n,
                                   &inserted, &duplicate, NULL, error);
      for (size_t i = 0; i < prepared; i++) {
         bson_destroy(&batch[i]);
      }
      prepared = 0;
      if (!inserted_ok) {
         goto done;
      }
   }

   status =
      temp.methods->rename_collection(temp.session, &temp.ns, &target.ns, true, &backend_error);
   if (status != FERRET_OK) {
      error_set_from_backend(error, temp.backend_name, status, &backend_error);
      goto done;
   }
   created = false; /* it is the target now */
   if (!indexes_rename(&temp, &target, error)) {
      goto done;
   }
   ok = true;

done:
   for (size_t i = 0; i < prepared; i++) {
      bson_destroy(&batch[i]);
   }
   if (created) {
      ferret_error_t drop_error = {0};
      fe_error_t ignored = {0};
      /* Best effort: the command already failed with the error that matters. */
      (void) indexes_drop_all(&temp, &ignored);
      (void) temp.methods->drop_collection(temp.session, &temp.ns, &drop_error);
   }
   indexes_set_destroy(&target_indexes);
   indexes_set_destroy(&temp_unique);
   free(pointers);
   free(batch);
   bson_destroy(&options);
   return ok;
}

/* $merge: each result matched by _id against the target, one at a time. Not atomic: as in
 * MongoDB, the documents written before a failure stay written. */
static bool
write_merge(fe_ctx_t *ctx, const pipeline_output_t *output, bson_t *const *docs, size_t count,
            fe_error_t *error)
{
   fe_store_t target;
   bson_t doc = BSON_INITIALIZER; /* the result with its _id first (generated if missing) */
   fe_index_set_t unique = {0};   /* the target's unique indexes, kept in step */
   bool ok = false;

   if (!output_store(ctx, output, &target, error) || !indexes_load(&target, true, &unique, error)) {
      goto done;
   }
   for (size_t i = 0; i < count; i++) {
      bson_destroy(&doc);
      if (!write_ops_prepare_insert(docs[i], &doc, error) ||
          !merge_one(ctx, &target, &unique, output, &doc, error)) {
         goto done;
      }
   }
   ok = true;

done:
   indexes_set_destroy(&unique);
   bson_destroy(&doc);
   return ok;
}

/* Writes one result: looks the target document up, then applies whenMatched or
 * whenNotMatched. The write is a compare-and-swap (or an insert that fails on an existing
 * _id), so a concurrent change to the same document makes it start again from the lookup. */
static bool
merge_one(fe_ctx_t *ctx, const fe_store_t *target, const fe_index_set_t *unique,
          const pipeline_output_t *output, const bson_t *doc, fe_error_t *error)
{
   const char *matched = output->when_matched;
   const char *not_matched = output->when_not_matched;
   bson_t *current = NULL;              /* owned; the stored document */
   bson_t merged = BSON_INITIALIZER;    /* whenMatched "merge": current with doc's fields */
   bson_t duplicate = BSON_INITIALIZER; /* {keyPattern, keyValue} of a unique-index violation */
   bool ok = false;

   for (int attempt = 0; attempt < MERGE_MAX_ATTEMPTS; attempt++) {
      const bson_t *replacement = doc;
      bool replaced = false;

      if (current) {
         bson_destroy(current);
         current = NULL;
      }
      if (!generic_reload(target, doc, &current, error)) {
         goto done;
      }
      if (!current) {
         size_t inserted = 0;
         ptrdiff_t duplicate_index = -1;
         if (strcmp(not_matched, "discard") == 0) {
            ok = true;
            goto done;
         }
         if (strcmp(not_matched, "fail") == 0) {
            error_set(error, FE_MergeStageNoMatchingDocument,
                      "$merge could not find a matching document in the target collection "
                      "for at least one document in the source collection");
            goto done;
         }
         bson_reinit(&duplicate);
         if (indexes_insert(target, unique, &doc, 1, &inserted, &duplicate_index, &duplicate,
                            error)) {
            ok = true;
            goto done;
         }
         if (duplicate_index != 0 || !is_id_violation(&duplicate)) {
            bson_concat(dispatch_error_details(ctx), &duplicate);
            goto done;
         }
         error_clear(error);
         continue; /* inserted meanwhile by someone else: now it matches */
      }
      if (strcmp(matched, "keepExisting") == 0) {
         ok = true;
         goto done;
      }
      if (strcmp(matched, "fail") == 0) {
         bson_t child;
         bson_iter_t iter;
         bson_t *details = dispatch_error_details(ctx);
         generic_duplicate_key_error(target, doc, error);
         /* MongoDB's error reply carries keyPattern and keyValue beside errmsg. */
         BSON_APPEND_DOCUMENT_BEGIN(details, "keyPattern", &child);
         BSON_APPEND_INT32(&child, "_id", 1);
         bson_append_document_end(details, &child);
         BSON_APPEND_DOCUMENT_BEGIN(details, "keyValue", &child);
         if (bson_iter_init_find(&iter, doc, "_id")) {
            bson_append_iter(&child, "_id", 3, &iter);
         }
         bson_append_document_end(details, &child);
         goto done;
      }
      if (strcmp(matched, "merge") == 0) {
         bson_reinit(&merged);
         merge_fields(current, doc, &merged);
         if (merged.len > HEADER_MAX_BSON_SIZE) {
            error_set(error, FE_BSONObjectTooLarge,
                      "$merge result too large. size in bytes: %u, max size: %d", merged.len,
                      HEADER_MAX_BSON_SIZE);
            goto done;
         }
         replacement = &merged;
      }
      bson_reinit(&duplicate);
      if (!indexes_replace(target, unique, current, replacement, &replaced, &duplicate, error)) {
         bson_concat(dispatch_error_details(ctx), &duplicate);
         goto done;
      }
      if (replaced) {
         ok = true;
         goto done;
      }
   }
   error_set(error, FE_WriteConflict, "$merge kept conflicting with concurrent writes");

done:
   if (current) {
      bson_destroy(current);
   }
   bson_destroy(&merged);
   bson_destroy(&duplicate);
   return ok;
}

/* Whether a duplicate-key report ({keyPattern, keyValue}) is about _id, or is empty (the
 * backend's own _id check, which reports no pattern). */
static bool
is_id_violation(const bson_t *duplicate)
{
   bson_iter_t iter;
   bson_iter_t key;
   if (!bson_iter_init_find(&iter, duplicate, "keyPattern") || !BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      return true;
   }
   return bson_iter_recurse(&iter, &key) && bson_iter_next(&key) &&
          strcmp(bson_iter_key(&key), "_id") == 0 && !bson_iter_next(&key);
}

/* whenMatched "merge": the stored fields in their order, each taking doc's value where doc
 * has the field, then doc's other fields in their order (top-level only, like
 * $mergeObjects). */
static void
merge_fields(const bson_t *current, const bson_t *doc, bson_t *out)
{
   bson_iter_t iter;
   bson_iter_t found;

   if (bson_iter_init(&iter, current)) {
      while (bson_iter_next(&iter)) {
         const char *key = bson_iter_key(&iter);
         if (bson_iter_init_find(&found, doc, key)) {
            bson_append_iter(out, key, -1, &found);
         } else {
            bson_append_iter(out, key, -1, &iter);
         }
      }
   }
   if (bson_iter_init(&iter, doc)) {
      while (bson_iter_next(&iter)) {
         if (!bson_iter_init_find(&found, current, bson_iter_key(&iter))) {
            bson_append_iter(out, bson_iter_key(&iter), -1, &iter);
         }
      }
   }
}

static bool
is_capped(const bson_t *options)
{
   bson_iter_t iter;
   return bson_iter_init_find(&iter, options, "capped") && bson_iter_as_bool(&iter);
}

/*
 * The collection reader
 */

static bool
reader_open(void *ctx, const char *collection, const bson_t *filter, void **cursor,
            fe_error_t *error)
{
   const reader_ctx_t *reader = ctx;
   fe_ctx_t *cmd = reader->cmd;
   reader_cursor_t *rc = NULL;
   ferret_error_t backend_error = {0};
   ferret_status_t status;

   *cursor = NULL;
   if (!args_check_collection_name(cmd->db, collection, error)) {
      return false;
   }
   rc = calloc(1, sizeof *rc);
   if (!rc) {
      return error_set(error, FE_ExceededMemoryLimit, "out of memory");
   }
   /* bson_t demands 128-byte alignment, more than calloc promises. */
   rc->current = aligned_alloc(BSON_ALIGNOF(bson_t), sizeof *rc->current);
   write_ops_store(cmd, collection, &rc->store);
   /* The store borrows the name; the pipeline keeps it alive only for this call. */
   rc->store.ns.collection = bson_strdup(collection);
   rc->plan = pushdown_plan_new_collated(filter, 0, 0, 0, rc->store.capabilities, reader->collator);
   if (!rc->current || !rc->plan) {
      reader_close(rc);
      return error_set(error, FE_ExceededMemoryLimit, "out of memory");
   }
   status = rc->store.methods->query(rc->store.session, &rc->store.ns,
                                     pushdown_plan_query(rc->plan), &rc->cursor, &backend_error);
   if (status != FERRET_OK) {
      rc->cursor = NULL;
      error_set_from_backend(error, rc->store.backend_name, status, &backend_error);
      reader_close(rc);
      return false;
   }
   *cursor = rc;
   return true;
}

static bool
reader_next(void *cursor, const bson_t **doc, fe_error_t *error)
{
   reader_cursor_t *rc = cursor;
   const uint8_t *data = NULL;
   size_t len = 0;
   ferret_error_t backend_error = {0};
   ferret_status_t status;

   *doc = NULL;
   status = rc->store.methods->cursor_next(rc->cursor, &data, &len, &backend_error);
   if (status != FERRET_OK) {
      return error_set_from_backend(error, rc->store.backend_name, status, &backend_error);
   }
   if (!data) {
      return true;
   }
   if (!bson_init_static(rc->current, data, len)) {
      return error_set(error, FE_InternalError, "backend returned a malformed document");
   }
   *doc = rc->current;
   return true;
}

static void
reader_close(void *cursor)
{
   reader_cursor_t *rc = cursor;
   if (!rc) {
      return;
   }
   if (rc->cursor) {
      rc->store.methods->cursor_close(rc->cursor);
   }
   pushdown_plan_destroy(rc->plan);
   bson_free((char *) rc->store.ns.collection);
   free(rc->current);
   free(rc);
}

/*
 * $listLocalSessions
 */

/*
 * The server keeps no table of sessions, so the sessions it can list are the ones it sees:
 * the session of this very command (drivers send an implicit one with every command), in
 * MongoDB's shape. uid is the SHA-256 of the user name, which is empty without
 * authentication. *docs is an owned array of owned documents (generic_free_documents()).
 */
static bool
local_sessions(fe_ctx_t *ctx, bson_t ***docs, size_t *count, fe_error_t *error)
{
   static const uint8_t empty_user_sha256[32] = {
      0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
      0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
      0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
   };
   struct timespec now;
   bson_t *doc;
   bson_t id;

   *docs = NULL;
   *count = 0;
   if (!ctx->has_lsid) {
      return true;
   }
   *docs = calloc(1, sizeof **docs);
   if (!*docs) {
      return error_set(error, FE_ExceededMemoryLimit, "out of memory");
   }
   clock_gettime(CLOCK_REALTIME, &now);
   doc = bson_new();
   BSON_APPEND_DOCUMENT_BEGIN(doc, "_id", &id);
   BSON_APPEND_BINARY(&id, "id", BSON_SUBTYPE_UUID, ctx->lsid, 16);
   BSON_APPEND_BINARY(&id, "uid", BSON_SUBTYPE_BINARY, empty_user_sha256, sizeof empty_user_sha256);
   bson_append_document_end(doc, &id);
   BSON_APPEND_DATE_TIME(doc, "lastUse", (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000);
   (*docs)[0] = doc;
   *count = 1;
   return true;
}

/* A leading {$collStats: spec} or {$currentOp: spec} is a source stage the command runs itself:
 * *name is its name (NULL when there is none), *spec (a static view) its specification, and
 * *rest receives the stages after it, renumbered. Elsewhere in a pipeline it is an error, as in
 * MongoDB. */
static bool
split_source_stage(const bson_t *stages, bson_t *rest, bson_t *spec, const char **name,
                   fe_error_t *error)
{
   static const char *const sources[] = {"$collStats", "$currentOp"};
   bson_iter_t iter;
   uint32_t index = 0;

   *name = NULL;
   bson_init(spec);
   if (!bson_iter_init(&iter, stages)) {
      return true;
   }
   while (bson_iter_next(&iter)) {
      bson_iter_t stage;
      const char *source = NULL;
      if (BSON_ITER_HOLDS_DOCUMENT(&iter) && bson_iter_recurse(&iter, &stage) &&
          bson_iter_next(&stage)) {
         for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++) {
            if (strcmp(bson_iter_key(&stage), sources[i]) == 0) {
               source = sources[i];
            }
         }
      }
      if (source) {
         const uint8_t *data;
         uint32_t len;
         if (index > 0 || *name) {
            return error_set(error, 40602, "%s is only valid as the first stage in a pipeline",
                             source);
         }
         if (!BSON_ITER_HOLDS_DOCUMENT(&stage)) {
            return error_set(error, strcmp(source, "$collStats") == 0 ? 5447000 : FE_FailedToParse,
                             "%s must take a nested object but found: a non-object", source);
         }
         bson_iter_document(&stage, &len, &data);
         bson_init_static(spec, data, len);
         *name = source;
         continue;
      }
      if (*name) {
         char key[16];
         const char *key_ptr;
         bson_uint32_to_string(index, &key_ptr, key, sizeof key);
         bson_append_iter(rest, key_ptr, -1, &iter);
      }
      index++;
   }
   return true;
}

/* The one document $collStats produces: {ns, host, localTime, storageStats?, count?}. */
static bool
coll_stats_document(fe_ctx_t *ctx, const char *collection, const bson_t *spec, bson_t *out,
                    fe_error_t *error)
{
   char ns[512];
   char host[256] = "localhost";
   bson_t storage;
   bson_iter_t iter;

   snprintf(ns, sizeof ns, "%s.%s", ctx->db, collection);
   gethostname(host, sizeof host - 1);
   BSON_APPEND_UTF8(out, "ns", ns);
   BSON_APPEND_UTF8(out, "host", host);
   BSON_APPEND_DATE_TIME(out, "localTime", (int64_t) time(NULL) * 1000);
   if (bson_iter_init_find(&iter, spec, "storageStats")) {
      BSON_APPEND_DOCUMENT_BEGIN(out, "storageStats", &storage);
      if (!cmd_append_storage_stats(ctx, collection, &storage, error)) {
         bson_append_document_end(out, &storage);
         return false;
      }
      bson_append_document_end(out, &storage);
   }
   if (bson_iter_init_find(&iter, spec, "count")) {
      ferret_stats_t stats = {.struct_size = sizeof stats};
      ferret_ns_t target = {.db = ctx->db, .collection = collection};
      ferret_error_t backend_error = {0};
      ferret_status_t status = ctx->methods->stats(ctx->session, &target, &stats, &backend_error);
      if (status != FERRET_OK) {
         return error_set_from_backend(error, ctx->server->backend_name, status, &backend_error);
      }
      BSON_APPEND_INT64(out, "count", stats.count);
   }
   return true;
}
