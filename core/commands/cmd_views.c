/*
 * cmd_views.c: read-only views (docs/rfc/0008-views.md; interface in cmd_views.h).
 *
 * A view is {viewOn, pipeline} in the core's catalog (backend/views.h). A read on a view is an
 * aggregation over the collection at the end of the chain of views, their pipelines first,
 * innermost first: find becomes $match, $sort, $skip, $limit and $project after them, count a
 * $count, distinct $unwind and $group, as mongod rewrites them. $lookup, $graphLookup,
 * $unionWith and $facet read a view through cmd_views_reader_t.
 */
#include "commands/cmd_views.h"

#include <stdlib.h>
#include <string.h>

#include "backend/views.h"
#include "bson/compare.h"
#include "commands/args.h"
#include "commands/handlers.h"
#include "commands/write_ops.h"

/* mongod's limit on views over views (ViewGraph::kMaxViewDepth). */
#define VIEWS_MAX_DEPTH 20

typedef enum action {
   ACTION_FIND,
   ACTION_COUNT,
   ACTION_DISTINCT,
   ACTION_WRITE,          /* refused on a view: "is a view, not a collection" */
   ACTION_CREATE_INDEXES, /* refused with mongod's own message */
   ACTION_DROP,
   ACTION_CREATE,
   ACTION_COLL_MOD,
   ACTION_RENAME,
   ACTION_DROP_DATABASE,
} action_t;

/* Sorted by name. */
static const struct {
   const char *name;
   action_t action;
} intercepted[] = {
   {"collMod", ACTION_COLL_MOD},
   {"count", ACTION_COUNT},
   {"create", ACTION_CREATE},
   {"createIndexes", ACTION_CREATE_INDEXES},
   {"delete", ACTION_WRITE},
   {"distinct", ACTION_DISTINCT},
   {"drop", ACTION_DROP},
   {"dropDatabase", ACTION_DROP_DATABASE},
   {"dropIndexes", ACTION_WRITE},
   {"find", ACTION_FIND},
   {"findAndModify", ACTION_WRITE},
   {"findandmodify", ACTION_WRITE},
   {"insert", ACTION_WRITE},
   {"listIndexes", ACTION_WRITE},
   {"renameCollection", ACTION_RENAME},
   {"update", ACTION_WRITE},
};

/* One read of a collection or a view for a pipeline stage. */
typedef struct view_cursor {
   const cmd_views_reader_t *reader; /* borrowed */
   void *inner;                      /* the base reader's cursor, when not a view */
   bson_t **docs;                    /* owned, each owned: a view's documents */
   size_t count;
   size_t position;
} view_cursor_t;

typedef struct sink {
   bson_t **docs;
   size_t count;
   size_t capacity;
} sink_t;

/* ---- the catalog ---- */
static void catalog_store(fe_ctx_t *ctx, const char *db, fe_store_t *store);
static fe_view_cache_t *cache_of(fe_ctx_t *ctx);
static bool lookup(fe_ctx_t *ctx, const char *db, const char *name, bson_t *def, bool *found,
                   fe_error_t *error);
static bool collection_exists(fe_ctx_t *ctx, const char *name, bool *exists, fe_error_t *error);
static bool collect_name(void *ctx, const char *name);
static bool append_chain(fe_ctx_t *ctx, const bson_t *def, int depth, char **collection,
                         bson_t *stages, uint32_t *index, fe_error_t *error);
static void append_stages(bson_t *out, uint32_t *index, const bson_t *def);
static bool check_definition(fe_ctx_t *ctx, const char *name, const char *view_on,
                             const bson_t *pipeline, fe_error_t *error);
static bool check_cycles(fe_ctx_t *ctx, const char *name, const char *from, int depth,
                         fe_error_t *error);
static bool check_foreign(fe_ctx_t *ctx, const char *name, const bson_t *pipeline, int depth,
                          fe_error_t *error);
static bool refers_to_view(fe_ctx_t *ctx, const char *db, const char *name, fe_error_t *error);

/* ---- commands ---- */
static bool create_view(fe_ctx_t *ctx, const char *name, fe_error_t *error);
static bool coll_mod_view(fe_ctx_t *ctx, const char *name, const bson_t *old_def,
                          fe_error_t *error);
static bool read_definition(fe_ctx_t *ctx, const char *name, const char *command, bool for_create,
                            bson_t *def, fe_error_t *error);
static bool drop_view(fe_ctx_t *ctx, const char *name, const bson_t *def, fe_error_t *error);
static bool rename_check(fe_ctx_t *ctx, fe_error_t *error);
static bool find_view(fe_ctx_t *ctx, const char *name, fe_error_t *error);
static bool count_view(fe_ctx_t *ctx, const char *name, fe_error_t *error);
static bool distinct_view(fe_ctx_t *ctx, const char *name, fe_error_t *error);
static bool run_aggregate(fe_ctx_t *ctx, const bson_t *command, bson_t *reply, fe_error_t *error);
static void start_aggregate(bson_t *command, const char *name, bson_t *pipeline);
static void finish_aggregate(fe_ctx_t *ctx, bson_t *command, bson_t *pipeline, int64_t batch_size);
static int compare_wrapped(const void *a, const void *b);

/* ---- the reader ---- */
static bool reader_open(void *ctx, const char *collection, const bson_t *filter, void **cursor,
                        fe_error_t *error);
static bool reader_next(void *cursor, const bson_t **doc, fe_error_t *error);
static void reader_close(void *cursor);
static bool collect(void *ctx, const bson_t *doc, fe_error_t *error);

static int
compare_action(const void *key, const void *entry)
{
   return strcmp(key, *(const char *const *) entry);
}

bool
cmd_views_intercept(fe_ctx_t *ctx, bool *handled, fe_error_t *error)
{
   const void *found;
   action_t action;
   bson_iter_t iter;
   const char *name;
   bson_t def = BSON_INITIALIZER;
   bool is_view = false;
   bool ok = false;

   *handled = false;
   found = bsearch(ctx->name, intercepted, sizeof intercepted / sizeof intercepted[0],
                   sizeof intercepted[0], compare_action);
   if (!found) {
      return true;
   }
   action = ((const __typeof__(intercepted[0]) *) found)->action;
   if (action == ACTION_RENAME) {
      return rename_check(ctx, error);
   }
   if (action == ACTION_DROP_DATABASE) {
      fe_store_t store;
      if (!args_check_db_name(ctx->db, NULL)) {
         return true;
      }
      /* Before the database: a failure in between leaves collections without views, never
       * views whose database was dropped. */
      catalog_store(ctx, ctx->db, &store);
      return views_drop_all(&store, cache_of(ctx), error);
   }
   /* A name the handler would refuse is the handler's to report. */
   if (!bson_iter_init(&iter, ctx->command) || !bson_iter_next(&iter) ||
       !BSON_ITER_HOLDS_UTF8(&iter) || !args_check_db_name(ctx->db, NULL) ||
       !args_check_collection_name(ctx->db, bson_iter_utf8(&iter, NULL), NULL)) {
      return true;
   }
   name = bson_iter_utf8(&iter, NULL);
   if (!lookup(ctx, ctx->db, name, &def, &is_view, error)) {
      goto done;
   }
   if (action == ACTION_CREATE) {
      if (bson_has_field(ctx->command, "viewOn") || bson_has_field(ctx->command, "pipeline")) {
         *handled = true;
         ok = create_view(ctx, name, error);
         goto done;
      }
      if (is_view) {
         error_set(error, FE_NamespaceExists, "A view already exists. NS: %s.%s", ctx->db, name);
         goto done;
      }
      ok = true;
      goto done;
   }
   if (!is_view) {
      ok = true;
      goto done;
   }
   *handled = true;
   switch (action) {
   case ACTION_FIND:
      ok = find_view(ctx, name, error);
      break;
   case ACTION_COUNT:
      ok = count_view(ctx, name, error);
      break;
   case ACTION_DISTINCT:
      ok = distinct_view(ctx, name, error);
      break;
   case ACTION_DROP:
      ok = drop_view(ctx, name, &def, error);
      break;
   case ACTION_COLL_MOD:
      ok = coll_mod_view(ctx, name, &def, error);
      break;
   case ACTION_CREATE_INDEXES:
      error_set(error, FE_CommandNotSupportedOnView, "Cannot create indexes on a view: %s.%s",
                ctx->db, name);
      break;
   default:
      error_set(error, FE_CommandNotSupportedOnView, "Namespace %s.%s is a view, not a collection",
                ctx->db, name);
      break;
   }

done:
   bson_destroy(&def);
   return ok;
}

bool
cmd_views_resolve(fe_ctx_t *ctx, const char *collection, bson_t *stages, cmd_views_source_t *source,
                  fe_error_t *error)
{
   bson_t def = BSON_INITIALIZER;
   bson_iter_t iter;
   bool found = false;
   uint32_t index = 0;
   bool ok = false;

   source->collection = NULL;
   bson_init(&source->stages);
   /* A final $out or $merge must not write over a view. */
   if (bson_iter_init(&iter, stages)) {
      bson_iter_t last, stage, field;
      bool has_last = false;
      while (bson_iter_next(&iter)) {
         last = iter;
         has_last = true;
      }
      if (has_last && BSON_ITER_HOLDS_DOCUMENT(&last) && bson_iter_recurse(&last, &stage) &&
          bson_iter_next(&stage) &&
          (strcmp(bson_iter_key(&stage), "$out") == 0 ||
           strcmp(bson_iter_key(&stage), "$merge") == 0)) {
         const char *db = ctx->db;
         const char *coll = NULL;
         if (BSON_ITER_HOLDS_UTF8(&stage)) {
            coll = bson_iter_utf8(&stage, NULL);
         } else if (BSON_ITER_HOLDS_DOCUMENT(&stage) && bson_iter_recurse(&stage, &field)) {
            bson_iter_t into = field;
            if (strcmp(bson_iter_key(&stage), "$merge") == 0 && bson_iter_find(&into, "into")) {
               if (BSON_ITER_HOLDS_UTF8(&into)) {
                  coll = bson_iter_utf8(&into, NULL);
               } else if (BSON_ITER_HOLDS_DOCUMENT(&into)) {
                  bson_iter_recurse(&into, &field);
               }
            }
            if (!coll) {
               bson_iter_t part = field;
               if (bson_iter_find(&part, "db") && BSON_ITER_HOLDS_UTF8(&part)) {
                  db = bson_iter_utf8(&part, NULL);
               }
               part = field;
               if (bson_iter_find(&part, "coll") && BSON_ITER_HOLDS_UTF8(&part)) {
                  coll = bson_iter_utf8(&part, NULL);
               }
            }
         }
         if (coll && args_check_db_name(db, NULL) && args_check_collection_name(db, coll, NULL)) {
            bool target_is_view = false;
            bson_t target = BSON_INITIALIZER;
            bool looked = lookup(ctx, db, coll, &target, &target_is_view, error);
            bson_destroy(&target);
            if (!looked) {
               goto done;
            }
            if (target_is_view) {
               error_set(error, FE_CommandNotSupportedOnView,
                         "Namespace %s.%s is a view, not a collection", db, coll);
               goto done;
            }
         }
      }
   }
   if (!collection) {
      ok = true;
      goto done;
   }
   if (!lookup(ctx, ctx->db, collection, &def, &found, error)) {
      goto done;
   }
   if (!found) {
      ok = true;
      goto done;
   }
   if (!append_chain(ctx, &def, 1, &source->collection, &source->stages, &index, error)) {
      goto done;
   }
   append_stages(&source->stages, &index, stages);
   bson_init_static(stages, bson_get_data(&source->stages), source->stages.len);
   ok = true;

done:
   bson_destroy(&def);
   return ok;
}

bool
cmd_views_is_view(fe_ctx_t *ctx, const char *db, const char *name, bool *is_view, fe_error_t *error)
{
   bson_t def = BSON_INITIALIZER;
   bool ok = lookup(ctx, db, name, &def, is_view, error);
   bson_destroy(&def);
   return ok;
}

void
cmd_views_source_destroy(cmd_views_source_t *source)
{
   free(source->collection);
   source->collection = NULL;
   bson_destroy(&source->stages);
}

void
cmd_views_reader_init(cmd_views_reader_t *reader, fe_ctx_t *ctx, const pipeline_reader_t *base)
{
   reader->ctx = ctx;
   reader->base = *base;
   reader->self.open = reader_open;
   reader->self.next = reader_next;
   reader->self.close = reader_close;
   reader->self.ctx = reader;
   reader->depth = 0;
}

bool
cmd_views_list(fe_ctx_t *ctx, const fe_filter_t *filter, bool name_only, bson_t ***docs,
               size_t *count, fe_error_t *error)
{
   fe_store_t store;
   bson_t views = BSON_INITIALIZER;
   bson_iter_t iter;
   bool ok = false;

   catalog_store(ctx, ctx->db, &store);
   if (!views_all(&store, cache_of(ctx), &views, error)) {
      goto done;
   }
   if (!bson_iter_init(&iter, &views)) {
      ok = true;
      goto done;
   }
   while (bson_iter_next(&iter)) {
      bson_t def, child;
      bson_iter_t field;
      const uint8_t *data;
      uint32_t len;
      bson_t *entry;
      bson_t **grown;

      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         continue;
      }
      bson_iter_document(&iter, &len, &data);
      bson_init_static(&def, data, len);
      entry = bson_new();
      BSON_APPEND_UTF8(entry, "name", bson_iter_key(&iter));
      BSON_APPEND_UTF8(entry, "type", "view");
      if (!name_only) {
         BSON_APPEND_DOCUMENT_BEGIN(entry, "options", &child);
         if (bson_iter_init(&field, &def)) {
            while (bson_iter_next(&field)) {
               if (strcmp(bson_iter_key(&field), "_id") != 0) {
                  bson_append_iter(&child, bson_iter_key(&field), -1, &field);
               }
            }
         }
         bson_append_document_end(entry, &child);
         BSON_APPEND_DOCUMENT_BEGIN(entry, "info", &child);
         BSON_APPEND_BOOL(&child, "readOnly", true);
         bson_append_document_end(entry, &child);
      }
      if (filter && !filter_match(filter, entry, NULL)) {
         bson_destroy(entry);
         continue;
      }
      grown = realloc(*docs, (*count + 1) * sizeof *grown);
      if (!grown) {
         bson_destroy(entry);
         error_set(error, FE_ExceededMemoryLimit, "out of memory");
         goto done;
      }
      *docs = grown;
      (*docs)[(*count)++] = entry;
   }
   ok = true;

done:
   bson_destroy(&views);
   return ok;
}

/*
 * The catalog
 */

static void
catalog_store(fe_ctx_t *ctx, const char *db, fe_store_t *store)
{
   write_ops_store(ctx, VIEWS_CATALOG, store);
   store->ns.db = db;
}

static fe_view_cache_t *
cache_of(fe_ctx_t *ctx)
{
   return ctx->worker ? &ctx->worker->view_cache : NULL;
}

static bool
lookup(fe_ctx_t *ctx, const char *db, const char *name, bson_t *def, bool *found, fe_error_t *error)
{
   fe_store_t store;
   bool ok;
   catalog_store(ctx, db, &store);
   bson_destroy(def);
   ok = views_lookup(&store, cache_of(ctx), name, def, found, error);
   return ok;
}

typedef struct name_probe {
   const char *name;
   bool found;
} name_probe_t;

static bool
collect_name(void *ctx, const char *name)
{
   name_probe_t *probe = ctx;
   if (strcmp(name, probe->name) == 0) {
      probe->found = true;
      return false;
   }
   return true;
}

static bool
collection_exists(fe_ctx_t *ctx, const char *name, bool *exists, fe_error_t *error)
{
   ferret_ns_t ns = {.db = ctx->db, .collection = NULL};
   ferret_error_t backend_error = {0};
   name_probe_t probe = {name, false};
   ferret_status_t status =
      ctx->methods->list_collections(ctx->session, &ns, collect_name, &probe, &backend_error);

   *exists = false;
   if (status != FERRET_OK && status != FERRET_ERR_NAMESPACE_NOT_FOUND) {
      return error_set_from_backend(error, ctx->server->backend_name, status, &backend_error);
   }
   *exists = probe.found;
   return true;
}

/* Appends the pipelines of the chain ending in def, innermost first, and names the collection
 * the chain reads. depth counts def. */
static bool
append_chain(fe_ctx_t *ctx, const bson_t *def, int depth, char **collection, bson_t *stages,
             uint32_t *index, fe_error_t *error)
{
   bson_iter_t iter;
   bson_t next = BSON_INITIALIZER;
   bool found = false;
   bool ok = false;
   const char *view_on;

   if (!bson_iter_init_find(&iter, def, "viewOn") || !BSON_ITER_HOLDS_UTF8(&iter)) {
      error_set(error, FE_InternalError, "a stored view definition has no 'viewOn'");
      goto done;
   }
   view_on = bson_iter_utf8(&iter, NULL);
   if (!lookup(ctx, ctx->db, view_on, &next, &found, error)) {
      goto done;
   }
   if (found) {
      if (depth >= VIEWS_MAX_DEPTH) {
         error_set(error, FE_ViewDepthLimitExceeded,
                   "View depth too deep or view cycle detected; maximum depth is %d",
                   VIEWS_MAX_DEPTH);
         goto done;
      }
      if (!append_chain(ctx, &next, depth + 1, collection, stages, index, error)) {
         goto done;
      }
   } else {
      *collection = bson_strdup(view_on);
   }
   if (bson_iter_init_find(&iter, def, "pipeline") && BSON_ITER_HOLDS_ARRAY(&iter)) {
      const uint8_t *data;
      uint32_t len;
      bson_t pipeline;
      bson_iter_array(&iter, &len, &data);
      bson_init_static(&pipeline, data, len);
      append_stages(stages, index, &pipeline);
   }
   ok = true;

done:
   bson_destroy(&next);
   return ok;
}

static void
append_stages(bson_t *out, uint32_t *index, const bson_t *array)
{
   bson_iter_t iter;
   if (!bson_iter_init(&iter, array)) {
      return;
   }
   while (bson_iter_next(&iter)) {
      char key[16];
      const char *key_ptr;
      bson_uint32_to_string((*index)++, &key_ptr, key, sizeof key);
      bson_append_iter(out, key_ptr, -1, &iter);
   }
}

/* A definition mongod would store: its pipeline compiles, writes nothing, and no view it reads
 * (through viewOn, $lookup, $graphLookup, $unionWith, $facet) reads name again. */
static bool
check_definition(fe_ctx_t *ctx, const char *name, const char *view_on, const bson_t *pipeline,
                 fe_error_t *error)
{
   bson_iter_t iter;
   fe_pipeline_t *compiled;

   if (bson_iter_init(&iter, pipeline)) {
      while (bson_iter_next(&iter)) {
         bson_iter_t stage;
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            return error_set(error, FE_TypeMismatch,
                             "'pipeline' must be an array of objects, found a non-object");
         }
         if (bson_iter_recurse(&iter, &stage) && bson_iter_next(&stage) &&
             (strcmp(bson_iter_key(&stage), "$out") == 0 ||
              strcmp(bson_iter_key(&stage), "$merge") == 0 ||
              strcmp(bson_iter_key(&stage), "$changeStream") == 0)) {
            return error_set(error, FE_OptionNotSupportedOnView,
                             "%s cannot be used in a view definition", bson_iter_key(&stage));
         }
      }
   }
   if (!(compiled = pipeline_compile(pipeline, NULL, 0, error))) {
      return false;
   }
   pipeline_destroy(compiled);
   if (strcmp(view_on, name) == 0) {
      return error_set(error, FE_GraphContainsCycle, "View cycle detected: %s.%s -> %s.%s", ctx->db,
                       name, ctx->db, name);
   }
   return check_cycles(ctx, name, view_on, 1, error) &&
          check_foreign(ctx, name, pipeline, 1, error);
}

/* Follows the view from (and the views it reads) looking for name. */
static bool
check_cycles(fe_ctx_t *ctx, const char *name, const char *from, int depth, fe_error_t *error)
{
   bson_t def = BSON_INITIALIZER;
   bson_iter_t iter;
   bool found = false;
   bool ok = false;

   if (strcmp(from, name) == 0) {
      error_set(error, FE_GraphContainsCycle, "View cycle detected: %s.%s", ctx->db, name);
      goto done;
   }
   if (!lookup(ctx, ctx->db, from, &def, &found, error)) {
      goto done;
   }
   if (!found) {
      ok = true;
      goto done;
   }
   if (depth >= VIEWS_MAX_DEPTH) {
      error_set(error, FE_ViewDepthLimitExceeded,
                "View depth too deep or view cycle detected; maximum depth is %d", VIEWS_MAX_DEPTH);
      goto done;
   }
   if (bson_iter_init_find(&iter, &def, "viewOn") && BSON_ITER_HOLDS_UTF8(&iter) &&
       !check_cycles(ctx, name, bson_iter_utf8(&iter, NULL), depth + 1, error)) {
      goto done;
   }
   if (bson_iter_init_find(&iter, &def, "pipeline") && BSON_ITER_HOLDS_ARRAY(&iter)) {
      const uint8_t *data;
      uint32_t len;
      bson_t pipeline;
      bson_iter_array(&iter, &len, &data);
      bson_init_static(&pipeline, data, len);
      if (!check_foreign(ctx, name, &pipeline, depth + 1, error)) {
         goto done;
      }
   }
   ok = true;

done:
   bson_destroy(&def);
   return ok;
}

/* check_cycles() for every collection a pipeline's stages read, nested pipelines included. */
static bool
check_foreign(fe_ctx_t *ctx, const char *name, const bson_t *pipeline, int depth, fe_error_t *error)
{
   bson_iter_t iter;

   if (!bson_iter_init(&iter, pipeline)) {
      return true;
   }
   while (bson_iter_next(&iter)) {
      bson_iter_t stage, field;
      const char *key;
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter) || !bson_iter_recurse(&iter, &stage) ||
          !bson_iter_next(&stage)) {
         continue;
      }
      key = bson_iter_key(&stage);
      if (strcmp(key, "$unionWith") == 0 && BSON_ITER_HOLDS_UTF8(&stage)) {
         if (!check_cycles(ctx, name, bson_iter_utf8(&stage, NULL), depth, error)) {
            return false;
         }
         continue;
      }
      if (!BSON_ITER_HOLDS_DOCUMENT(&stage) || !bson_iter_recurse(&stage, &field)) {
         continue;
      }
      if (strcmp(key, "$facet") == 0) {
         while (bson_iter_next(&field)) {
            const uint8_t *data;
            uint32_t len;
            bson_t sub;
            if (BSON_ITER_HOLDS_ARRAY(&field)) {
               bson_iter_array(&field, &len, &data);
               bson_init_static(&sub, data, len);
               if (!check_foreign(ctx, name, &sub, depth, error)) {
                  return false;
               }
            }
         }
         continue;
      }
      if (strcmp(key, "$lookup") != 0 && strcmp(key, "$graphLookup") != 0 &&
          strcmp(key, "$unionWith") != 0) {
         continue;
      }
      while (bson_iter_next(&field)) {
         const char *part = bson_iter_key(&field);
         if ((strcmp(part, "from") == 0 || strcmp(part, "coll") == 0) &&
             BSON_ITER_HOLDS_UTF8(&field) &&
             !check_cycles(ctx, name, bson_iter_utf8(&field, NULL), depth, error)) {
            return false;
         }
         if (strcmp(part, "pipeline") == 0 && BSON_ITER_HOLDS_ARRAY(&field)) {
            const uint8_t *data;
            uint32_t len;
            bson_t sub;
            bson_iter_array(&field, &len, &data);
            bson_init_static(&sub, data, len);
            if (!check_foreign(ctx, name, &sub, depth, error)) {
               return false;
            }
         }
      }
   }
   return true;
}

/* Refuses (48) a name a view holds in db; for renameCollection's target. */
static bool
refers_to_view(fe_ctx_t *ctx, const char *db, const char *name, fe_error_t *error)
{
   bson_t def = BSON_INITIALIZER;
   bool found = false;
   bool ok = lookup(ctx, db, name, &def, &found, error);
   bson_destroy(&def);
   if (ok && found) {
      return error_set(error, FE_NamespaceExists, "a view already exists with that name: %s.%s", db,
                       name);
   }
   return ok;
}

/*
 * Commands
 */

/* Reads and checks {viewOn, pipeline[, collation]} of create or collMod into *def
 * ({_id: name, viewOn, pipeline[, collation]}; caller-initialized). */
static bool
read_definition(fe_ctx_t *ctx, const char *name, const char *command, bool for_create, bson_t *def,
                fe_error_t *error)
{
   bson_iter_t iter;
   const char *view_on = NULL;
   bson_t pipeline = BSON_INITIALIZER; /* a static view into the command, or empty */
   bool has_pipeline = false;
   bson_t collation;
   bool has_collation = false;

   if (!bson_iter_init(&iter, ctx->command)) {
      return error_set(error, FE_FailedToParse, "malformed command");
   }
   bson_iter_next(&iter); /* the command name */
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (key[0] == '$' || strcmp(key, "lsid") == 0 || strcmp(key, "txnNumber") == 0 ||
          strcmp(key, "writeConcern") == 0 || strcmp(key, "comment") == 0 ||
          strcmp(key, "maxTimeMS") == 0 || strcmp(key, "apiVersion") == 0 ||
          strcmp(key, "apiStrict") == 0 || strcmp(key, "apiDeprecationErrors") == 0 ||
          strcmp(key, "dryRun") == 0) {
         continue;
      }
      if (strcmp(key, "viewOn") == 0) {
         if (!BSON_ITER_HOLDS_UTF8(&iter)) {
            return error_set(error, FE_TypeMismatch,
                             "BSON field '%s.viewOn' is the wrong type, expected type 'string'",
                             command);
         }
         view_on = bson_iter_utf8(&iter, NULL);
      } else if (strcmp(key, "pipeline") == 0) {
         const uint8_t *data;
         uint32_t len;
         if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
            return error_set(error, FE_TypeMismatch,
                             "BSON field '%s.pipeline' is the wrong type, expected type 'array'",
                             command);
         }
         bson_iter_array(&iter, &len, &data);
         bson_init_static(&pipeline, data, len);
         has_pipeline = true;
      } else if (for_create && strcmp(key, "collation") == 0) {
         const uint8_t *data;
         uint32_t len;
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            return error_set(error, FE_TypeMismatch,
                             "BSON field 'create.collation' is the wrong type, expected type "
                             "'object'");
         }
         /* The same collations as every command: what args_check_collation() accepts. */
         if (!args_check_collation(ctx->command, error)) {
            return false;
         }
         bson_iter_document(&iter, &len, &data);
         bson_init_static(&collation, data, len);
         has_collation = true;
      } else {
         return error_set(error, FE_InvalidOptions, "option '%s' is not supported on a view", key);
      }
   }
   if (!view_on) {
      return error_set(error, FE_InvalidOptions,
                       for_create ? "'pipeline' requires 'viewOn' to also be specified"
                                  : "must specify both 'viewOn' and 'pipeline' when modifying "
                                    "a view");
   }
   if (!for_create && !has_pipeline) {
      return error_set(error, FE_InvalidOptions,
                       "must specify both 'viewOn' and 'pipeline' when modifying a view");
   }
   if (view_on[0] == '\0') {
      return error_set(error, FE_BadValue, "'viewOn' cannot be empty");
   }
   if (!args_check_collection_name(ctx->db, view_on, error) ||
       !check_definition(ctx, name, view_on, &pipeline, error)) {
      return false;
   }
   BSON_APPEND_UTF8(def, "_id", name);
   BSON_APPEND_UTF8(def, "viewOn", view_on);
   BSON_APPEND_ARRAY(def, "pipeline", &pipeline);
   if (has_collation) {
      BSON_APPEND_DOCUMENT(def, "collation", &collation);
   }
   return true;
}

static bool
create_view(fe_ctx_t *ctx, const char *name, fe_error_t *error)
{
   bson_t def = BSON_INITIALIZER;
   bson_t existing = BSON_INITIALIZER;
   bool is_view = false;
   bool exists = false;
   fe_store_t store;
   bool ok = false;

   if (!lookup(ctx, ctx->db, name, &existing, &is_view, error) ||
       (!is_view && !collection_exists(ctx, name, &exists, error))) {
      goto done;
   }
   if (exists) {
      error_set(error, FE_NamespaceExists, "Collection already exists. NS: %s.%s", ctx->db, name);
      goto done;
   }
   if (!read_definition(ctx, name, "create", true, &def, error)) {
      goto done;
   }
   if (is_view) {
      /* As for collections since 7.0: the same definition again is no change. */
      if (existing.len == def.len &&
          memcmp(bson_get_data(&existing), bson_get_data(&def), def.len) == 0) {
         ok = true;
      } else {
         error_set(error, FE_NamespaceExists, "A view already exists. NS: %s.%s", ctx->db, name);
      }
      goto done;
   }
   catalog_store(ctx, ctx->db, &store);
   ok = views_insert(&store, cache_of(ctx), &def, error);

done:
   bson_destroy(&def);
   bson_destroy(&existing);
   return ok;
}

static bool
coll_mod_view(fe_ctx_t *ctx, const char *name, const bson_t *old_def, fe_error_t *error)
{
   bson_t def = BSON_INITIALIZER;
   bson_iter_t iter;
   fe_store_t store;
   bool ok = false;

   if (!read_definition(ctx, name, "collMod", false, &def, error)) {
      goto done;
   }
   /* collMod keeps the view's collation. */
   if (bson_iter_init_find(&iter, old_def, "collation")) {
      bson_append_iter(&def, "collation", -1, &iter);
   }
   catalog_store(ctx, ctx->db, &store);
   ok = views_replace(&store, cache_of(ctx), old_def, &def, error);

done:
   bson_destroy(&def);
   return ok;
}

static bool
drop_view(fe_ctx_t *ctx, const char *name, const bson_t *def, fe_error_t *error)
{
   fe_store_t store;
   bool removed = false;
   char ns[512];

   catalog_store(ctx, ctx->db, &store);
   if (!views_remove(&store, cache_of(ctx), def, &removed, error)) {
      return false;
   }
   snprintf(ns, sizeof ns, "%s.%s", ctx->db, name);
   BSON_APPEND_UTF8(ctx->reply, "ns", ns);
   return true;
}

/* renameCollection: a view cannot be renamed (166), nor can anything take a view's name (48),
 * as mongod answers. Both namespaces are "db.collection"; malformed ones are the handler's. */
static bool
rename_check(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *names[2] = {NULL, NULL};
   const char *fields[2] = {"renameCollection", "to"};
   char db[2][128];
   const char *collection[2];
   bson_t def = BSON_INITIALIZER;
   bool found = false;
   bool ok;

   for (int i = 0; i < 2; i++) {
      bson_iter_t iter;
      const char *dot;
      if (!bson_iter_init_find(&iter, ctx->command, fields[i]) || !BSON_ITER_HOLDS_UTF8(&iter)) {
         return true;
      }
      names[i] = bson_iter_utf8(&iter, NULL);
      dot = strchr(names[i], '.');
      if (!dot || (size_t) (dot - names[i]) >= sizeof db[i]) {
         return true;
      }
      snprintf(db[i], sizeof db[i], "%.*s", (int) (dot - names[i]), names[i]);
      collection[i] = dot + 1;
      if (!args_check_db_name(db[i], NULL) ||
          !args_check_collection_name(db[i], collection[i], NULL)) {
         return true;
      }
   }
   ok = lookup(ctx, db[0], collection[0], &def, &found, error);
   bson_destroy(&def);
   if (!ok) {
      return false;
   }
   if (found) {
      return error_set(error, FE_CommandNotSupportedOnView, "cannot rename view: %s", names[0]);
   }
   return refers_to_view(ctx, db[1], collection[1], error);
}

/* find on a view: the view's pipeline, then $match, $sort, $skip, $limit and $project. */
static bool
find_view(fe_ctx_t *ctx, const char *name, fe_error_t *error)
{
   bson_t filter, sort, projection, let;
   bool has_let = false;
   int64_t skip = 0, limit = 0, batch_size = ARGS_DEFAULT_BATCH_SIZE;
   bool single_batch = false;
   bson_t command = BSON_INITIALIZER;
   bson_t pipeline, stage;
   uint32_t index = 0;
   char key[16];
   const char *key_ptr;
   bool ok = false;

   if (!args_document(ctx->command, "filter", &filter, NULL, error) ||
       !args_document(ctx->command, "sort", &sort, NULL, error) ||
       !args_document(ctx->command, "projection", &projection, NULL, error) ||
       !args_document(ctx->command, "let", &let, &has_let, error) ||
       !args_int64(ctx->command, "skip", &skip, error) ||
       !args_int64(ctx->command, "limit", &limit, error) ||
       !args_int64(ctx->command, "batchSize", &batch_size, error) ||
       !args_bool(ctx->command, "singleBatch", &single_batch, error)) {
      goto done;
   }
   if (skip < 0 || batch_size < 0) {
      error_set(error, 51024, "BSON field '%s' value must be >= 0, actual value '%lld'",
                skip < 0 ? "skip" : "batchSize", (long long) (skip < 0 ? skip : batch_size));
      goto done;
   }
   if (limit < 0) {
      limit = -limit;
      single_batch = true;
   }
   if (limit > 0 && (batch_size == 0 || batch_size > limit)) {
      batch_size = limit;
   }
   if (single_batch && limit == 0) {
      batch_size = INT32_MAX; /* one batch: as much as a reply holds */
   }
   start_aggregate(&command, name, &pipeline);
#define NEXT_STAGE(op)                                                                             \
   bson_uint32_to_string(index++, &key_ptr, key, sizeof key);                                      \
   BSON_APPEND_DOCUMENT_BEGIN(&pipeline, key_ptr, &stage)
   if (!bson_empty(&filter)) {
      NEXT_STAGE();
      BSON_APPEND_DOCUMENT(&stage, "$match", &filter);
      bson_append_document_end(&pipeline, &stage);
   }
   if (!bson_empty(&sort)) {
      NEXT_STAGE();
      BSON_APPEND_DOCUMENT(&stage, "$sort", &sort);
      bson_append_document_end(&pipeline, &stage);
   }
   if (skip > 0) {
      NEXT_STAGE();
      BSON_APPEND_INT64(&stage, "$skip", skip);
      bson_append_document_end(&pipeline, &stage);
   }
   if (limit > 0) {
      NEXT_STAGE();
      BSON_APPEND_INT64(&stage, "$limit", limit);
      bson_append_document_end(&pipeline, &stage);
   }
   if (!bson_empty(&projection)) {
      NEXT_STAGE();
      BSON_APPEND_DOCUMENT(&stage, "$project", &projection);
      bson_append_document_end(&pipeline, &stage);
   }
#undef NEXT_STAGE
   finish_aggregate(ctx, &command, &pipeline, batch_size);
   ok = run_aggregate(ctx, &command, ctx->reply, error);

done:
   bson_destroy(&command);
   return ok;
}

/* count on a view: the view's pipeline, then $match, $skip, $limit and $count. */
static bool
count_view(fe_ctx_t *ctx, const char *name, fe_error_t *error)
{
   bson_t query;
   int64_t skip = 0, limit = 0;
   bson_t command = BSON_INITIALIZER;
   bson_t reply = BSON_INITIALIZER;
   bson_t pipeline, stage;
   bson_iter_t iter;
   uint32_t index = 0;
   char key[16];
   const char *key_ptr;
   int64_t n = 0;
   bool ok = false;

   if (!args_document(ctx->command, "query", &query, NULL, error) ||
       !args_int64(ctx->command, "skip", &skip, error) ||
       !args_int64(ctx->command, "limit", &limit, error)) {
      goto done;
   }
   if (skip < 0) {
      error_set(error, FE_BadValue, "skip value is negative in count query");
      goto done;
   }
   limit = limit < 0 ? -limit : limit;
   start_aggregate(&command, name, &pipeline);
   bson_uint32_to_string(index++, &key_ptr, key, sizeof key);
   BSON_APPEND_DOCUMENT_BEGIN(&pipeline, key_ptr, &stage);
   BSON_APPEND_DOCUMENT(&stage, "$match", &query);
   bson_append_document_end(&pipeline, &stage);
   if (skip > 0) {
      bson_uint32_to_string(index++, &key_ptr, key, sizeof key);
      BSON_APPEND_DOCUMENT_BEGIN(&pipeline, key_ptr, &stage);
      BSON_APPEND_INT64(&stage, "$skip", skip);
      bson_append_document_end(&pipeline, &stage);
   }
   if (limit > 0) {
      bson_uint32_to_string(index++, &key_ptr, key, sizeof key);
      BSON_APPEND_DOCUMENT_BEGIN(&pipeline, key_ptr, &stage);
      BSON_APPEND_INT64(&stage, "$limit", limit);
      bson_append_document_end(&pipeline, &stage);
   }
   bson_uint32_to_string(index++, &key_ptr, key, sizeof key);
   BSON_APPEND_DOCUMENT_BEGIN(&pipeline, key_ptr, &stage);
   BSON_APPEND_UTF8(&stage, "$count", "n");
   bson_append_document_end(&pipeline, &stage);
   finish_aggregate(ctx, &command, &pipeline, ARGS_DEFAULT_BATCH_SIZE);
   if (!run_aggregate(ctx, &command, &reply, error)) {
      goto done;
   }
   if (bson_iter_init(&iter, &reply) &&
       bson_iter_find_descendant(&iter, "cursor.firstBatch.0.n", &iter)) {
      n = bson_iter_as_int64(&iter);
   }
   BSON_APPEND_INT32(ctx->reply, "n", (int32_t) n);
   ok = true;

done:
   bson_destroy(&command);
   bson_destroy(&reply);
   return ok;
}

/* distinct on a view: the view's pipeline, then $match, an $unwind of every prefix of the key's
 * path and a $group gathering the values with $addToSet, as mongod rewrites it; the values are
 * answered in BSON order. */
static bool
distinct_view(fe_ctx_t *ctx, const char *name, fe_error_t *error)
{
   bson_t query;
   bson_iter_t iter;
   const char *key_path;
   bson_t command = BSON_INITIALIZER;
   bson_t reply = BSON_INITIALIZER;
   bson_t pipeline, stage, spec, group;
   uint32_t index = 0;
   char key[16];
   const char *key_ptr;
   char path[1024];
   bson_t **values = NULL;
   size_t value_count = 0;
   bson_t array;
   bool ok = false;

   if (!args_document(ctx->command, "query", &query, NULL, error)) {
      goto done;
   }
   if (!bson_iter_init_find(&iter, ctx->command, "key")) {
      error_set(error, 40414, "BSON field 'distinct.key' is missing but a required field");
      goto done;
   }
   if (!BSON_ITER_HOLDS_UTF8(&iter)) {
      error_set(error, FE_TypeMismatch,
                "BSON field 'distinct.key' is the wrong type, expected type 'string'");
      goto done;
   }
   key_path = bson_iter_utf8(&iter, NULL);
   if (strlen(key_path) + 2 > sizeof path || key_path[0] == '\0') {
      error_set(error, FE_BadValue, "invalid distinct key: '%s'", key_path);
      goto done;
   }
   start_aggregate(&command, name, &pipeline);
   bson_uint32_to_string(index++, &key_ptr, key, sizeof key);
   BSON_APPEND_DOCUMENT_BEGIN(&pipeline, key_ptr, &stage);
   BSON_APPEND_DOCUMENT(&stage, "$match", &query);
   bson_append_document_end(&pipeline, &stage);
   for (const char *end = key_path;; end++) {
      if (*end != '.' && *end != '\0') {
         continue;
      }
      snprintf(path, sizeof path, "$%.*s", (int) (end - key_path), key_path);
      bson_uint32_to_string(index++, &key_ptr, key, sizeof key);
      BSON_APPEND_DOCUMENT_BEGIN(&pipeline, key_ptr, &stage);
      BSON_APPEND_DOCUMENT_BEGIN(&stage, "$unwind", &spec);
      BSON_APPEND_UTF8(&spec, "path", path);
      BSON_APPEND_BOOL(&spec, "preserveNullAndEmptyArrays", true);
      bson_append_document_end(&stage, &spec);
      bson_append_document_end(&pipeline, &stage);
      if (*end == '\0') {
         break;
      }
   }
   bson_uint32_to_string(index++, &key_ptr, key, sizeof key);
   BSON_APPEND_DOCUMENT_BEGIN(&pipeline, key_ptr, &stage);
   BSON_APPEND_DOCUMENT_BEGIN(&stage, "$group", &spec);
   BSON_APPEND_NULL(&spec, "_id");
   BSON_APPEND_DOCUMENT_BEGIN(&spec, "values", &group);
   BSON_APPEND_UTF8(&group, "$addToSet", path);
   bson_append_document_end(&spec, &group);
   bson_append_document_end(&stage, &spec);
   bson_append_document_end(&pipeline, &stage);
   finish_aggregate(ctx, &command, &pipeline, ARGS_DEFAULT_BATCH_SIZE);
   if (!run_aggregate(ctx, &command, &reply, error)) {
      goto done;
   }
   if (bson_iter_init(&iter, &reply) &&
       bson_iter_find_descendant(&iter, "cursor.firstBatch.0.values", &iter) &&
       BSON_ITER_HOLDS_ARRAY(&iter)) {
      bson_iter_t element;
      uint32_t count = 0;
      bson_iter_recurse(&iter, &element);
      while (bson_iter_next(&element)) {
         count++;
      }
      values = calloc(count ? count : 1, sizeof *values);
      if (!values) {
         error_set(error, FE_ExceededMemoryLimit, "out of memory");
         goto done;
      }
      bson_iter_recurse(&iter, &element);
      while (bson_iter_next(&element) && value_count < count) {
         values[value_count] = bson_new();
         bson_append_iter(values[value_count++], "v", 1, &element);
      }
   }
   if (value_count > 1) {
      qsort(values, value_count, sizeof *values, compare_wrapped);
   }
   BSON_APPEND_ARRAY_BEGIN(ctx->reply, "values", &array);
   for (size_t i = 0; i < value_count; i++) {
      bson_iter_t value;
      if (bson_iter_init(&value, values[i]) && bson_iter_next(&value)) {
         bson_uint32_to_string((uint32_t) i, &key_ptr, key, sizeof key);
         bson_append_iter(&array, key_ptr, -1, &value);
      }
   }
   bson_append_array_end(ctx->reply, &array);
   ok = true;

done:
   for (size_t i = 0; i < value_count; i++) {
      bson_destroy(values[i]);
   }
   free(values);
   bson_destroy(&command);
   bson_destroy(&reply);
   return ok;
}

/* Starts {aggregate: name, pipeline: [ and leaves *pipeline open for the stages. */
static void
start_aggregate(bson_t *command, const char *name, bson_t *pipeline)
{
   BSON_APPEND_UTF8(command, "aggregate", name);
   BSON_APPEND_ARRAY_BEGIN(command, "pipeline", pipeline);
}

/* Closes the pipeline and adds the cursor and the arguments that carry over: let, collation. */
static void
finish_aggregate(fe_ctx_t *ctx, bson_t *command, bson_t *pipeline, int64_t batch_size)
{
   bson_t cursor;
   bson_iter_t iter;

   bson_append_array_end(command, pipeline);
   BSON_APPEND_DOCUMENT_BEGIN(command, "cursor", &cursor);
   BSON_APPEND_INT64(&cursor, "batchSize", batch_size);
   bson_append_document_end(command, &cursor);
   if (bson_iter_init_find(&iter, ctx->command, "let")) {
      bson_append_iter(command, "let", -1, &iter);
   }
   if (bson_iter_init_find(&iter, ctx->command, "collation")) {
      bson_append_iter(command, "collation", -1, &iter);
   }
}

/* Runs aggregate as if the client had sent command, with its reply going to reply. */
static bool
run_aggregate(fe_ctx_t *ctx, const bson_t *command, bson_t *reply, fe_error_t *error)
{
   fe_ctx_t inner = *ctx;
   bool ok;

   inner.name = "aggregate";
   inner.command = command;
   inner.reply = reply;
   ok = cmd_aggregate(&inner, error);
   ctx->error_details = inner.error_details;
   return ok;
}

static int
compare_wrapped(const void *a, const void *b)
{
   bson_iter_t left;
   bson_iter_t right;
   bson_iter_init(&left, *(bson_t *const *) a);
   bson_iter_init(&right, *(bson_t *const *) b);
   bson_iter_next(&left);
   bson_iter_next(&right);
   return compare_values(&left, &right);
}

/*
 * The reader: a view reads as its documents, computed in full when it is opened (the filter
 * hint is not applied: the pipeline filters again).
 */

static bool
reader_open(void *ctx, const char *collection, const bson_t *filter, void **cursor,
            fe_error_t *error)
{
   cmd_views_reader_t *reader = ctx;
   view_cursor_t *vc = NULL;
   cmd_views_source_t source = {NULL, BSON_INITIALIZER};
   bson_t def = BSON_INITIALIZER;
   bson_t empty = BSON_INITIALIZER;
   bson_t stages;
   bool found = false;
   fe_pipeline_t *pipeline = NULL;
   void *inner = NULL;
   sink_t sink = {0};
   bool ok = false;

   *cursor = NULL;
   vc = calloc(1, sizeof *vc);
   if (!vc) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   vc->reader = reader;
   if (!args_check_collection_name(reader->ctx->db, collection, error) ||
       !lookup(reader->ctx, reader->ctx->db, collection, &def, &found, error)) {
      goto done;
   }
   if (!found) {
      if (!reader->base.open(reader->base.ctx, collection, filter, &vc->inner, error)) {
         goto done;
      }
      *cursor = vc;
      vc = NULL;
      ok = true;
      goto done;
   }
   if (reader->depth >= VIEWS_MAX_DEPTH) {
      error_set(error, FE_ViewDepthLimitExceeded,
                "View depth too deep or view cycle detected; maximum depth is %d", VIEWS_MAX_DEPTH);
      goto done;
   }
   bson_init_static(&stages, bson_get_data(&empty), empty.len);
   if (!cmd_views_resolve(reader->ctx, collection, &stages, &source, error) ||
       !(pipeline = pipeline_compile(&stages, NULL, 0, error)) ||
       !reader->base.open(reader->base.ctx, source.collection, pipeline_leading_match(pipeline),
                          &inner, error)) {
      goto done;
   }
   reader->depth++;
   ok =
      pipeline_run_reader(pipeline, &reader->self, reader->base.next, inner, collect, &sink, error);
   reader->depth--;
   if (!ok) {
      goto done;
   }
   vc->docs = sink.docs;
   vc->count = sink.count;
   sink.docs = NULL;
   sink.count = 0;
   *cursor = vc;
   vc = NULL;

done:
   if (inner) {
      reader->base.close(inner);
   }
   if (pipeline) {
      pipeline_destroy(pipeline);
   }
   generic_free_documents(sink.docs, sink.count);
   cmd_views_source_destroy(&source);
   bson_destroy(&def);
   bson_destroy(&empty);
   reader_close(vc);
   return ok;
}

static bool
reader_next(void *cursor, const bson_t **doc, fe_error_t *error)
{
   view_cursor_t *vc = cursor;

   if (vc->inner) {
      return vc->reader->base.next(vc->inner, doc, error);
   }
   *doc = NULL;
   if (vc->position < vc->count) {
      *doc = vc->docs[vc->position++];
   }
   return true;
}

static void
reader_close(void *cursor)
{
   view_cursor_t *vc = cursor;
   if (!vc) {
      return;
   }
   if (vc->inner) {
      vc->reader->base.close(vc->inner);
   }
   generic_free_documents(vc->docs, vc->count);
   free(vc);
}

static bool
collect(void *ctx, const bson_t *doc, fe_error_t *error)
{
   sink_t *sink = ctx;
   if (sink->count == sink->capacity) {
      size_t grown = sink->capacity ? sink->capacity * 2 : 16;
      bson_t **bigger = realloc(sink->docs, grown * sizeof *bigger);
      if (!bigger) {
         return error_set(error, FE_ExceededMemoryLimit, "out of memory");
      }
      sink->docs = bigger;
      sink->capacity = grown;
   }
   sink->docs[sink->count++] = bson_copy(doc);
   return true;
}
