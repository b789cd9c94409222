/*
 * cmd_find.c: the read commands: find, count and distinct.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/generic.h"
#include "backend/pushdown.h"
#include "bson/compare.h"
#include "commands/args.h"
#include "commands/handlers.h"
#include "commands/hint.h"
#include "commands/textsearch.h"
#include "commands/write_ops.h"
#include "query/sort.h"

typedef struct find_args {
   bson_t filter;
   bson_t sort;
   bson_t projection;
   bson_t let;
   bson_t collation; /* static view; has_collation says whether there is one */
   bool has_collation;
   int64_t skip;
   int64_t limit;
   int64_t batch_size;
   bool single_batch;
} find_args_t;

static bool parse_find_args(const fe_ctx_t *ctx, find_args_t *args, fe_error_t *error);
static bool open_stream(fe_ctx_t *ctx, const fe_store_t *store, fe_cursor_t *cursor,
                        const bson_t *filter_spec, int natural, int64_t skip, int64_t limit,
                        fe_error_t *error);
static bool materialize(fe_cursor_t *cursor, bson_t **docs, size_t count, int64_t skip,
                        int64_t limit, const fe_projection_t *projection, fe_error_t *error);
static void distinct_values_at(const bson_t *doc, const char *path, bson_t ***values, size_t *count,
                               size_t *capacity);
static int compare_wrapped(const void *a, const void *b, void *collator);

bool
cmd_find(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *collection;
   fe_store_t store;
   find_args_t args;
   fe_cursor_t *cursor = NULL;
   fe_sort_t *sort = NULL;
   fe_filter_t *filter = NULL;
   fe_projection_t *projection = NULL;
   fe_collator_t *collator = NULL;
   bson_t **docs = NULL;
   size_t count = 0;
   int natural = 0;
   bool has_text = false;
   bool ok = false;

   if (!args_collection(ctx, &collection, error) || !parse_find_args(ctx, &args, error)) {
      goto done;
   }
   write_ops_store(ctx, collection, &store);
   if (!args_resolve_collation(args.has_collation ? &args.collation : NULL, &store, &collator,
                               error)) {
      goto done;
   }
   if (!(filter = filter_compile_collated(&args.filter, bson_empty(&args.let) ? NULL : &args.let,
                                          collator, error)) ||
       !textsearch_bind(&store, filter, &has_text, error) ||
       !hint_check(&store, ctx->command, false, error)) {
      goto done;
   }
   if (has_text || textsearch_uses_meta(&args.sort, &args.projection)) {
      ok = textsearch_find(ctx, &store, collection, filter, &args.filter, &args.sort,
                           &args.projection, args.skip, args.limit, args.batch_size,
                           args.single_batch, error);
      goto done;
   }
   if (!bson_empty(&args.projection) &&
       !(projection = projection_compile(&args.projection, error))) {
      goto done;
   }
   if (!bson_empty(&args.sort)) {
      if (!(sort = sort_compile_collated(&args.sort, collator, error))) {
         goto done;
      }
      if (!sort_is_natural(sort, &natural)) {
         natural = 0;
      }
   }
   cursor = cursor_new(ctx->db, collection);
   if (!cursor) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   if (sort && !natural) {
      /* A sort needs every match before the first can be returned. */
      size_t keep = args.limit > 0 ? (size_t) (args.skip + args.limit) : 0;
      if (!generic_collect(&store, filter, &args.filter, sort, keep, &docs, &count, error) ||
          !materialize(cursor, docs, count, args.skip, args.limit, projection, error)) {
         goto done;
      }
      docs = NULL;
   } else {
      /* The cursor's filter outlives the command: it keeps the collator. */
      filter_adopt_collator(filter, collator);
      collator = NULL;
      cursor->filter = filter;
      cursor->projection = projection;
      filter = NULL;
      projection = NULL;
      if (!open_stream(ctx, &store, cursor, &args.filter, natural, args.skip, args.limit, error)) {
         goto done;
      }
   }
   ok = args_reply_first_batch(ctx, cursor, args.batch_size, args.single_batch, error);
   cursor = NULL;

done:
   generic_free_documents(docs, count);
   cursor_destroy(cursor);
   if (sort) {
      sort_destroy(sort);
   }
   if (filter) {
      filter_destroy(filter);
   }
   if (projection) {
      projection_destroy(projection);
   }
   collation_destroy(collator);
   return ok;
}

bool
cmd_count(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *collection;
   fe_store_t store;
   bson_t query;
   int64_t skip = 0;
   int64_t limit = 0;
   fe_filter_t *filter = NULL;
   fe_cursor_t *cursor = NULL;
   fe_collator_t *collator = NULL;
   int64_t n = 0;
   bool ok = false;

   if (!args_collection(ctx, &collection, error) ||
       !args_document(ctx->command, "query", &query, NULL, error) ||
       !args_int64(ctx->command, "skip", &skip, error) ||
       !args_int64(ctx->command, "limit", &limit, error)) {
      goto done;
   }
   if (skip < 0) {
      error_set(error, FE_BadValue, "skip value is negative in count query");
      goto done;
   }
   /* A negative limit counts like its absolute value, as MongoDB's count does. */
   limit = limit < 0 ? -limit : limit;
   write_ops_store(ctx, collection, &store);
   if (!args_collation(ctx->command, &store, &collator, error) ||
       !(filter = filter_compile_collated(&query, NULL, collator, error)) ||
       !textsearch_bind(&store, filter, NULL, error) ||
       !hint_check(&store, ctx->command, false, error)) {
      goto done;
   }
   filter_adopt_collator(filter, collator);
   collator = NULL;
   cursor = cursor_new(ctx->db, collection);
   if (!cursor) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   cursor->filter = filter;
   filter = NULL;
   if (!open_stream(ctx, &store, cursor, &query, 0, skip, limit, error)) {
      goto done;
   }
   for (;;) {
      bson_t batch = BSON_INITIALIZER;
      bool exhausted = false;
      bool filled =
         cursor_fill_batch(cursor, 1000, ARGS_MAX_BATCH_BYTES, &batch, &exhausted, error);
      n += bson_count_keys(&batch);
      bson_destroy(&batch);
      if (!filled) {
         goto done;
      }
      if (exhausted) {
         break;
      }
   }
   BSON_APPEND_INT32(ctx->reply, "n", (int32_t) n);
   ok = true;

done:
   cursor_destroy(cursor);
   if (filter) {
      filter_destroy(filter);
   }
   collation_destroy(collator);
   return ok;
}

bool
cmd_distinct(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *collection;
   fe_store_t store;
   bson_t query;
   bson_iter_t iter;
   const char *key;
   fe_filter_t *filter = NULL;
   bson_t **docs = NULL;
   size_t count = 0;
   bson_t **values = NULL;
   size_t value_count = 0;
   size_t capacity = 0;
   bson_t array;
   uint32_t index = 0;
   fe_collator_t *collator = NULL;
   bool ok = false;

   if (!args_collection(ctx, &collection, error) ||
       !args_document(ctx->command, "query", &query, NULL, error)) {
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
   key = bson_iter_utf8(&iter, NULL);
   write_ops_store(ctx, collection, &store);
   if (!args_collation(ctx->command, &store, &collator, error) ||
       !(filter = filter_compile_collated(&query, NULL, collator, error)) ||
       !textsearch_bind(&store, filter, NULL, error) ||
       !hint_check(&store, ctx->command, false, error) ||
       !generic_collect(&store, filter, &query, NULL, 0, &docs, &count, error)) {
      goto done;
   }
   for (size_t i = 0; i < count; i++) {
      distinct_values_at(docs[i], key, &values, &value_count, &capacity);
   }
   if (value_count > 1) {
      qsort_r(values, value_count, sizeof *values, compare_wrapped, collator);
   }
   BSON_APPEND_ARRAY_BEGIN(ctx->reply, "values", &array);
   for (size_t i = 0; i < value_count; i++) {
      bson_iter_t value;
      char number[16];
      const char *number_ptr;
      if (i > 0 && compare_wrapped(&values[i - 1], &values[i], collator) == 0) {
         continue;
      }
      if (bson_iter_init(&value, values[i]) && bson_iter_next(&value)) {
         bson_uint32_to_string(index++, &number_ptr, number, sizeof number);
         bson_append_iter(&array, number_ptr, -1, &value);
      }
   }
   bson_append_array_end(ctx->reply, &array);
   ok = true;

done:
   generic_free_documents(values, value_count);
   generic_free_documents(docs, count);
   if (filter) {
      filter_destroy(filter);
   }
   collation_destroy(collator);
   return ok;
}

/* Reads find's arguments (and checks its collation) in one pass over the command: a find by
 * _id is short, and scanning the command once per argument was a fifth of its cost. The
 * checks run in the same order as before, whatever the order of the fields. */
static bool
parse_find_args(const fe_ctx_t *ctx, find_args_t *args, fe_error_t *error)
{
   enum { COLLATION, FILTER, SORT, PROJECTION, LET, SKIP, LIMIT, BATCH_SIZE, SINGLE_BATCH, COUNT };
   static const char *const keys[COUNT] = {
      [COLLATION] = "collation",
      [FILTER] = "filter",
      [SORT] = "sort",
      [PROJECTION] = "projection",
      [LET] = "let",
      [SKIP] = "skip",
      [LIMIT] = "limit",
      [BATCH_SIZE] = "batchSize",
      [SINGLE_BATCH] = "singleBatch",
   };
   args_field_t fields[COUNT];
#define AT(field) ARGS_AT(fields[field])

   memset(args, 0, sizeof *args);
   args->batch_size = ARGS_DEFAULT_BATCH_SIZE;
   args_find_fields(ctx->command, keys, COUNT, fields);
   if (!args_document_at(AT(COLLATION), keys[COLLATION], &args->collation, &args->has_collation,
                         error) ||
       !args_document_at(AT(FILTER), keys[FILTER], &args->filter, NULL, error) ||
       !args_document_at(AT(SORT), keys[SORT], &args->sort, NULL, error) ||
       !args_document_at(AT(PROJECTION), keys[PROJECTION], &args->projection, NULL, error) ||
       !args_document_at(AT(LET), keys[LET], &args->let, NULL, error) ||
       !args_int64_at(AT(SKIP), keys[SKIP], &args->skip, error) ||
       !args_int64_at(AT(LIMIT), keys[LIMIT], &args->limit, error) ||
       !args_int64_at(AT(BATCH_SIZE), keys[BATCH_SIZE], &args->batch_size, error) ||
       !args_bool_at(AT(SINGLE_BATCH), keys[SINGLE_BATCH], &args->single_batch, error)) {
      return false;
   }
#undef AT
   if (args->skip < 0) {
      return error_set(error, 51024, "BSON field 'skip' value must be >= 0, actual value '%lld'",
                       (long long) args->skip);
   }
   if (args->limit < 0) {
      /* The legacy meaning drivers still pass through: one batch of at most |limit|. */
      args->limit = -args->limit;
      args->single_batch = true;
   }
   if (args->batch_size < 0) {
      return error_set(error, 51024,
                       "BSON field 'batchSize' value must be >= 0, actual value '%lld'",
                       (long long) args->batch_size);
   }
   if (args->limit > 0 && (args->batch_size == 0 || args->batch_size > args->limit)) {
      args->batch_size = args->limit;
   }
   return true;
}

/* Opens the backend cursor that feeds a stream cursor; the cursor applies what the backend
 * did not. A reverse $natural the backend cannot do is read whole and reversed. */
static bool
open_stream(fe_ctx_t *ctx, const fe_store_t *store, fe_cursor_t *cursor, const bson_t *filter_spec,
            int natural, int64_t skip, int64_t limit, fe_error_t *error)
{
   ferret_error_t backend_error = {0};
   ferret_status_t status;
   ferret_query_t *query;

   cursor->plan = pushdown_plan_new_collated(filter_spec, natural, skip, limit, store->capabilities,
                                             filter_collator(cursor->filter));
   if (!cursor->plan) {
      return error_set(error, FE_ExceededMemoryLimit, "out of memory");
   }
   query = pushdown_plan_query(cursor->plan);
   status = store->methods->query(store->session, &store->ns, query, &cursor->backend_cursor,
                                  &backend_error);
   if (status != FERRET_OK) {
      cursor->backend_cursor = NULL;
      return error_set_from_backend(error, store->backend_name, status, &backend_error);
   }
   cursor->owner = ctx->worker;
   cursor->methods = store->methods;
   cursor->skip_left = pushdown_plan_skip_limit_applied(cursor->plan) ? 0 : skip;
   cursor->limit_left = limit;
   cursor->limited = limit > 0;
   if (natural < 0 && !query->sort_applied) {
      /* Read everything in forward order, then hand it out backwards. */
      bson_t batch = BSON_INITIALIZER;
      bool exhausted = false;
      bson_t **docs = NULL;
      size_t count = 0;
      bson_iter_t iter;
      fe_projection_t *projection = cursor->projection;
      cursor->projection = NULL;
      cursor->limited = false;
      cursor->skip_left = 0;
      if (!cursor_fill_batch(cursor, 0, SIZE_MAX, &batch, &exhausted, error)) {
         bson_destroy(&batch);
         cursor->projection = projection;
         return false;
      }
      count = bson_count_keys(&batch);
      docs = calloc(count ? count : 1, sizeof *docs);
      if (bson_iter_init(&iter, &batch)) {
         for (size_t i = count; bson_iter_next(&iter) && i > 0; i--) {
            const uint8_t *data;
            uint32_t len;
            bson_t doc;
            bson_iter_document(&iter, &len, &data);
            bson_init_static(&doc, data, len);
            docs[i - 1] = bson_copy(&doc);
         }
      }
      bson_destroy(&batch);
      cursor->methods->cursor_close(cursor->backend_cursor);
      cursor->backend_cursor = NULL;
      cursor->exhausted = false;
      cursor->pending = NULL;
      {
         bool materialized = materialize(cursor, docs, count, skip, limit, projection, error);
         if (projection) {
            projection_destroy(projection);
         }
         return materialized;
      }
   }
   return true;
}

/* Makes docs (owned, consumed) the cursor's list after skip, limit and projection. */
static bool
materialize(fe_cursor_t *cursor, bson_t **docs, size_t count, int64_t skip, int64_t limit,
            const fe_projection_t *projection, fe_error_t *error)
{
   size_t start = skip > 0 ? ((size_t) skip < count ? (size_t) skip : count) : 0;
   size_t end = limit > 0 && start + (size_t) limit < count ? start + (size_t) limit : count;
   size_t kept = 0;

   for (size_t i = 0; i < count; i++) {
      if (i < start || i >= end) {
         bson_destroy(docs[i]);
         docs[i] = NULL;
         continue;
      }
      if (projection) {
         fe_match_info_t match = {-1};
         bson_t projected;
         if (!projection_apply(projection, docs[i], &match, &projected, error)) {
            bson_destroy(&projected);
            for (size_t j = i; j < count; j++) {
               bson_destroy(docs[j]);
            }
            for (size_t j = 0; j < kept; j++) {
               bson_destroy(docs[j]);
            }
            free(docs);
            return false;
         }
         bson_destroy(docs[i]);
         docs[i] = bson_copy(&projected);
         bson_destroy(&projected);
      }
      docs[kept++] = docs[i];
   }
   cursor_set_documents(cursor, docs, kept);
   return true;
}

/* Adds the values at a dotted path, flattening arrays as distinct does, each wrapped as a
 * one-field document so that it can be owned and sorted. */
static void
distinct_values_at(const bson_t *doc, const char *path, bson_t ***values, size_t *count,
                   size_t *capacity)
{
   const char *dot = strchr(path, '.');
   size_t key_len = dot ? (size_t) (dot - path) : strlen(path);
   bson_iter_t iter;

   if (!bson_iter_init(&iter, doc)) {
      return;
   }
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strlen(key) != key_len || strncmp(key, path, key_len) != 0) {
         continue;
      }
      if (dot) {
         const uint8_t *data;
         uint32_t len;
         bson_t child;
         if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            bson_iter_document(&iter, &len, &data);
            bson_init_static(&child, data, len);
            distinct_values_at(&child, dot + 1, values, count, capacity);
         } else if (BSON_ITER_HOLDS_ARRAY(&iter)) {
            bson_iter_t element;
            bson_iter_array(&iter, &len, &data);
            bson_init_static(&child, data, len);
            /* Documents in an array continue the path; a numeric component indexes it. */
            distinct_values_at(&child, dot + 1, values, count, capacity);
            if (bson_iter_init(&element, &child)) {
               while (bson_iter_next(&element)) {
                  if (BSON_ITER_HOLDS_DOCUMENT(&element)) {
                     bson_t element_doc;
                     bson_iter_document(&element, &len, &data);
                     bson_init_static(&element_doc, data, len);
                     distinct_values_at(&element_doc, dot + 1, values, count, capacity);
                  }
               }
            }
         }
         continue;
      }
      {
         bson_iter_t element;
         bool flatten = BSON_ITER_HOLDS_ARRAY(&iter) && bson_iter_recurse(&iter, &element);
         bson_iter_t *source = flatten ? &element : &iter;
         while (!flatten || bson_iter_next(&element)) {
            bson_t *wrapped = bson_new();
            bson_append_iter(wrapped, "v", 1, source);
            if (*count == *capacity) {
               size_t grown = *capacity ? *capacity * 2 : 16;
               bson_t **bigger = realloc(*values, grown * sizeof *bigger);
               if (!bigger) {
                  bson_destroy(wrapped);
                  return;
               }
               *values = bigger;
               *capacity = grown;
            }
            (*values)[(*count)++] = wrapped;
            if (!flatten) {
               break;
            }
         }
      }
   }
}

static int
compare_wrapped(const void *a, const void *b, void *collator)
{
   bson_iter_t left;
   bson_iter_t right;
   bson_iter_init(&left, *(bson_t *const *) a);
   bson_iter_init(&right, *(bson_t *const *) b);
   bson_iter_next(&left);
   bson_iter_next(&right);
   return compare_values_collated(&left, &right, collator);
}
