/*
 * cmd_write.c: the write commands: insert, update, delete and findAndModify, with ordered
 * and unordered batches and per-statement writeErrors.
 */
#include <stdlib.h>
#include <string.h>

#include "commands/args.h"
#include "commands/handlers.h"
#include "commands/hint.h"
#include "commands/write_ops.h"
#include "wire/header.h"

static bool statements(const fe_ctx_t *ctx, const char *field, bson_iter_t *items, uint32_t *count,
                       fe_error_t *error);
static bool check_statement_fields(const bson_iter_t *items, const char *what,
                                   const char *const *allowed, fe_error_t *error);
static void insert_outcome(void *arg, size_t position, const fe_error_t *error, const bson_t *doc,
                           const bson_t *duplicate);
static bool insert_flush(const fe_store_t *store, const fe_index_set_t *set, bson_t *prepared,
                         size_t count, bool ordered, void *arg);

/* The state of an insert command while its runs go to the backend. */
typedef struct insert_state {
   const int64_t *indexes; /* the statement index of each prepared document */
   int64_t inserted;
   bson_t *write_errors;
   uint32_t error_count;
} insert_state_t;

bool
cmd_insert(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *collection;
   fe_store_t store;
   bson_iter_t items;
   uint32_t count = 0;
   bool ordered = true;
   bson_t *prepared = NULL;
   int64_t *indexes = NULL;
   size_t pending = 0;
   bson_t write_errors = BSON_INITIALIZER;
   insert_state_t state = {.write_errors = &write_errors};
   bool stop = false;
   bool ok = false;
   int64_t index = 0;
   fe_index_set_t set = {0};

   if (!args_collection(ctx, &collection, error) ||
       !args_bool(ctx->command, "ordered", &ordered, error) ||
       !statements(ctx, "documents", &items, &count, error)) {
      goto done;
   }
   write_ops_store(ctx, collection, &store);
   if (!indexes_load(&store, true, &set, error)) {
      goto done;
   }
   /* bson_t demands 128-byte alignment, more than calloc promises. */
   prepared = aligned_alloc(BSON_ALIGNOF(bson_t), (count ? count : 1) * sizeof *prepared);
   indexes = calloc(count ? count : 1, sizeof *indexes);
   if (!prepared || !indexes) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   state.indexes = indexes;
   /* Valid documents go to the backend in runs; an invalid one ends its run with an error. */
   for (index = 0; bson_iter_next(&items) && !stop; index++) {
      fe_error_t item_error = {0};
      bson_t doc;
      const uint8_t *data;
      uint32_t len;

      if (!BSON_ITER_HOLDS_DOCUMENT(&items)) {
         error_set(&item_error, FE_TypeMismatch, "document to insert must be an object");
      } else {
         bson_iter_document(&items, &len, &data);
         bson_init_static(&doc, data, len);
         if (write_ops_prepare_insert(&doc, &prepared[pending], &item_error)) {
            indexes[pending++] = index;
            continue;
         }
         bson_destroy(&prepared[pending]);
      }
      stop = !insert_flush(&store, &set, prepared, pending, ordered, &state);
      pending = 0;
      if (!stop) {
         write_ops_append_write_error(&write_errors, state.error_count++, index, &item_error, NULL,
                                      NULL);
         stop = ordered;
      }
   }
   if (!stop) {
      insert_flush(&store, &set, prepared, pending, ordered, &state);
      pending = 0;
   }
   BSON_APPEND_INT32(ctx->reply, "n", (int32_t) state.inserted);
   if (state.error_count > 0) {
      BSON_APPEND_ARRAY(ctx->reply, "writeErrors", &write_errors);
   }
   ok = true;

done:
   if (prepared) {
      for (size_t i = 0; i < pending; i++) {
         bson_destroy(&prepared[i]);
      }
   }
   free(prepared);
   free(indexes);
   bson_destroy(&write_errors);
   indexes_set_destroy(&set);
   return ok;
}

/* The fields a statement may have; any other fails the whole command, as MongoDB parses the
 * command before running any statement. */
static const char *const update_fields[] = {"q",    "u",         "upsert", "multi", "arrayFilters",
                                            "hint", "collation", "c",      "sort",  NULL};
static const fe_update_names_t update_names = {"update.updates", "q", "u", "c"};
static const char *const delete_fields[] = {"q", "limit", "hint", "collation", NULL};

bool
cmd_update(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *collection;
   fe_store_t store;
   bson_iter_t items;
   uint32_t count = 0;
   bool ordered = true;
   int64_t matched = 0;
   int64_t modified = 0;
   bson_t upserted = BSON_INITIALIZER;
   bson_t let;
   uint32_t upserted_count = 0;
   bson_t write_errors = BSON_INITIALIZER;
   uint32_t error_count = 0;
   bool ok = false;

   if (!args_collection(ctx, &collection, error) ||
       !args_bool(ctx->command, "ordered", &ordered, error) ||
       !args_document(ctx->command, "let", &let, NULL, error) ||
       !statements(ctx, "updates", &items, &count, error) ||
       !check_statement_fields(&items, "update.updates", update_fields, error)) {
      goto done;
   }
   write_ops_store(ctx, collection, &store);
   for (int64_t index = 0; bson_iter_next(&items); index++) {
      fe_error_t item_error = {0};
      fe_update_parse_t parse;
      fe_update_result_t result;
      bson_t item;
      const uint8_t *data;
      uint32_t len;
      bool item_ok;

      memset(&result, 0, sizeof result);
      bson_init(&result.upserted_id);
      if (!BSON_ITER_HOLDS_DOCUMENT(&items)) {
         item_ok = error_set(&item_error, FE_TypeMismatch, "update statement must be an object");
      } else {
         bson_iter_document(&items, &len, &data);
         bson_init_static(&item, data, len);
         item_ok = write_ops_parse_update(&item, &update_names, &let, &parse, &item_error) &&
                   hint_check(&store, &item, parse.statement.upsert, &item_error) &&
                   write_ops_update(&store, &parse.statement, &result, &item_error);
         write_ops_parse_destroy(&parse);
      }
      if (item_ok) {
         matched += result.matched;
         modified += result.modified;
         if (result.upserted) {
            char key[16];
            const char *key_ptr;
            bson_t entry;
            bson_iter_t id;
            bson_uint32_to_string(upserted_count++, &key_ptr, key, sizeof key);
            bson_append_document_begin(&upserted, key_ptr, -1, &entry);
            BSON_APPEND_INT32(&entry, "index", (int32_t) index);
            if (bson_iter_init_find(&id, &result.upserted_id, "_id")) {
               bson_append_iter(&entry, "_id", 3, &id);
            }
            bson_append_document_end(&upserted, &entry);
         }
      } else {
         write_ops_append_write_error(&write_errors, error_count++, index, &item_error, NULL,
                                      result.duplicate);
      }
      write_ops_result_destroy(&result);
      if (!item_ok && ordered) {
         break;
      }
   }
   BSON_APPEND_INT32(ctx->reply, "n", (int32_t) (matched + upserted_count));
   BSON_APPEND_INT32(ctx->reply, "nModified", (int32_t) modified);
   if (upserted_count > 0) {
      BSON_APPEND_ARRAY(ctx->reply, "upserted", &upserted);
   }
   if (error_count > 0) {
      BSON_APPEND_ARRAY(ctx->reply, "writeErrors", &write_errors);
   }
   ok = true;

done:
   bson_destroy(&upserted);
   bson_destroy(&write_errors);
   return ok;
}

bool
cmd_delete(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *collection;
   fe_store_t store;
   bson_iter_t items;
   uint32_t count = 0;
   bool ordered = true;
   int64_t deleted_total = 0;
   bson_t let;
   bson_t write_errors = BSON_INITIALIZER;
   uint32_t error_count = 0;
   bool ok = false;

   if (!args_collection(ctx, &collection, error) ||
       !args_bool(ctx->command, "ordered", &ordered, error) ||
       !args_document(ctx->command, "let", &let, NULL, error) ||
       !statements(ctx, "deletes", &items, &count, error) ||
       !check_statement_fields(&items, "delete.deletes", delete_fields, error)) {
      goto done;
   }
   write_ops_store(ctx, collection, &store);
   for (int64_t index = 0; bson_iter_next(&items); index++) {
      fe_error_t item_error = {0};
      bson_t item;
      bson_t q;
      bson_t collation;
      bool has_collation = false;
      int64_t limit = 0;
      int64_t deleted = 0;
      const uint8_t *data;
      uint32_t len;
      bool item_ok = false;
      bool has_q = false;

      bson_init(&q);
      if (!BSON_ITER_HOLDS_DOCUMENT(&items)) {
         error_set(&item_error, FE_TypeMismatch, "delete statement must be an object");
      } else {
         bson_iter_document(&items, &len, &data);
         bson_init_static(&item, data, len);
         bson_destroy(&q);
         if (args_document(&item, "collation", &collation, &has_collation, &item_error) &&
             args_document(&item, "q", &q, &has_q, &item_error) &&
             args_int64(&item, "limit", &limit, &item_error)) {
            if (!has_q) {
               error_set(&item_error, 40414,
                         "BSON field 'delete.deletes.q' is missing but a required field");
            } else if (limit != 0 && limit != 1) {
               error_set(&item_error, FE_FailedToParse,
                         "The limit field in delete objects must be 0 or 1. Got %lld",
                         (long long) limit);
            } else {
               item_ok = hint_check(&store, &item, false, &item_error) &&
                         write_ops_delete_collated(&store, &q, NULL, bson_empty(&let) ? NULL : &let,
                                                   has_collation ? &collation : NULL, limit == 0,
                                                   &deleted, NULL, &item_error);
            }
         }
      }
      bson_destroy(&q);
      if (item_ok) {
         deleted_total += deleted;
      } else {
         write_ops_append_write_error(&write_errors, error_count++, index, &item_error, NULL, NULL);
         if (ordered) {
            break;
         }
      }
   }
   BSON_APPEND_INT32(ctx->reply, "n", (int32_t) deleted_total);
   if (error_count > 0) {
      BSON_APPEND_ARRAY(ctx->reply, "writeErrors", &write_errors);
   }
   ok = true;

done:
   bson_destroy(&write_errors);
   return ok;
}

bool
cmd_find_and_modify(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *collection;
   fe_store_t store;
   bson_t query, sort, fields, update, array_filters, let, collation;
   bool has_collation = false;
   bool has_update = false;
   bool has_fields = false;
   bool remove = false;
   bool return_new = false;
   bool upsert = false;
   fe_update_result_t result;
   bson_t *removed = NULL;
   const bson_t *value = NULL;
   fe_projection_t *projection = NULL;
   bson_t projected = BSON_INITIALIZER;
   bson_t last_error;
   bson_iter_t iter;
   bool ok = false;

   memset(&result, 0, sizeof result);
   bson_init(&result.upserted_id);
   bson_init(&update);
   if (!args_collection(ctx, &collection, error) ||
       !args_document(ctx->command, "collation", &collation, &has_collation, error) ||
       !args_document(ctx->command, "query", &query, NULL, error) ||
       !args_document(ctx->command, "sort", &sort, NULL, error) ||
       !args_document(ctx->command, "fields", &fields, &has_fields, error) ||
       !args_array(ctx->command, "arrayFilters", &array_filters, NULL, error) ||
       !args_document(ctx->command, "let", &let, NULL, error) ||
       !args_bool(ctx->command, "remove", &remove, error) ||
       !args_bool(ctx->command, "new", &return_new, error) ||
       !args_bool(ctx->command, "upsert", &upsert, error)) {
      goto done;
   }
   if (bson_iter_init_find(&iter, ctx->command, "update") && !BSON_ITER_HOLDS_NULL(&iter)) {
      const uint8_t *data;
      uint32_t len;
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter) && !BSON_ITER_HOLDS_ARRAY(&iter)) {
         error_set(error, FE_FailedToParse, "Update argument must be either an object or an array");
         goto done;
      }
      if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         bson_iter_document(&iter, &len, &data);
      } else {
         bson_iter_array(&iter, &len, &data);
      }
      bson_destroy(&update);
      bson_init_static(&update, data, len);
      has_update = true;
   }
   if (remove && has_update) {
      error_set(error, FE_FailedToParse, "Cannot specify both an update and remove=true");
      goto done;
   }
   if (!remove && !has_update) {
      error_set(error, FE_FailedToParse, "Either an update or remove=true must be specified");
      goto done;
   }
   if (remove && upsert) {
      error_set(error, FE_FailedToParse, "Cannot specify both upsert=true and remove=true");
      goto done;
   }
   if (remove && return_new) {
      error_set(error, FE_FailedToParse,
                "Cannot specify both new=true and remove=true; 'remove' always returns the "
                "deleted document");
      goto done;
   }
   if (has_fields && !bson_empty(&fields) && !(projection = projection_compile(&fields, error))) {
      goto done;
   }
   write_ops_store(ctx, collection, &store);
   if (!hint_check(&store, ctx->command, upsert, error)) {
      goto done;
   }

   BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "lastErrorObject", &last_error);
   if (remove) {
      int64_t deleted = 0;
      if (!write_ops_delete_collated(&store, &query, &sort, bson_empty(&let) ? NULL : &let,
                                     has_collation ? &collation : NULL, false, &deleted, &removed,
                                     error)) {
         bson_append_document_end(ctx->reply, &last_error);
         goto done;
      }
      BSON_APPEND_INT32(&last_error, "n", (int32_t) deleted);
      value = removed;
   } else {
      fe_update_statement_t statement = {
         .filter = &query,
         .update = &update,
         .update_is_pipeline =
            bson_iter_init_find(&iter, ctx->command, "update") && BSON_ITER_HOLDS_ARRAY(&iter),
         .array_filters = bson_empty(&array_filters) ? NULL : &array_filters,
         .sort = &sort,
         .let = bson_empty(&let) ? NULL : &let,
         .collation = has_collation ? &collation : NULL,
         .multi = false,
         .upsert = upsert,
         .want_documents = true,
      };
      if (!write_ops_update(&store, &statement, &result, error)) {
         bson_append_document_end(ctx->reply, &last_error);
         if (result.duplicate) {
            bson_concat(dispatch_error_details(ctx), result.duplicate);
         }
         goto done;
      }
      BSON_APPEND_INT32(&last_error, "n", (int32_t) (result.matched + (result.upserted ? 1 : 0)));
      BSON_APPEND_BOOL(&last_error, "updatedExisting", result.matched > 0);
      if (result.upserted && bson_iter_init_find(&iter, &result.upserted_id, "_id")) {
         bson_append_iter(&last_error, "upserted", -1, &iter);
      }
      value = return_new ? result.after : result.before;
   }
   bson_append_document_end(ctx->reply, &last_error);
   if (value && projection) {
      fe_match_info_t match = {-1};
      bson_destroy(&projected);
      if (!projection_apply(projection, value, &match, &projected, error)) {
         goto done;
      }
      value = &projected;
   }
   if (value) {
      BSON_APPEND_DOCUMENT(ctx->reply, "value", value);
   } else {
      BSON_APPEND_NULL(ctx->reply, "value");
   }
   ok = true;

done:
   write_ops_result_destroy(&result);
   if (removed) {
      bson_destroy(removed);
   }
   if (projection) {
      projection_destroy(projection);
   }
   bson_destroy(&projected);
   return ok;
}

/* The array of statements a write command carries, checked for type and batch size. */
static bool
statements(const fe_ctx_t *ctx, const char *field, bson_iter_t *items, uint32_t *count,
           fe_error_t *error)
{
   bson_iter_t iter;
   *count = 0;
   if (!bson_iter_init_find(&iter, ctx->command, field)) {
      return error_set(error, 40414, "BSON field '%s.%s' is missing but a required field",
                       ctx->name, field);
   }
   if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
      return error_set(error, FE_TypeMismatch,
                       "BSON field '%s.%s' is the wrong type, expected type 'array'", ctx->name,
                       field);
   }
   bson_iter_recurse(&iter, items);
   {
      bson_iter_t counter = *items;
      while (bson_iter_next(&counter)) {
         (*count)++;
      }
   }
   if (*count > HEADER_MAX_WRITE_BATCH) {
      return error_set(error, FE_InvalidLength,
                       "Write batch sizes must be between 1 and %d. Got %u operations.",
                       HEADER_MAX_WRITE_BATCH, *count);
   }
   return true;
}

static bool
check_statement_fields(const bson_iter_t *items, const char *what, const char *const *allowed,
                       fe_error_t *error)
{
   bson_iter_t iter = *items;
   while (bson_iter_next(&iter)) {
      const uint8_t *data;
      uint32_t len;
      bson_t item;
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         continue; /* reported per statement */
      }
      bson_iter_document(&iter, &len, &data);
      if (bson_init_static(&item, data, len) && !args_check_fields(&item, what, allowed, error)) {
         return false;
      }
   }
   return true;
}

static void
insert_outcome(void *arg, size_t position, const fe_error_t *error, const bson_t *doc,
               const bson_t *duplicate)
{
   insert_state_t *state = arg;
   if (!error) {
      state->inserted++;
      return;
   }
   write_ops_append_write_error(state->write_errors, state->error_count++, state->indexes[position],
                                error, doc, duplicate);
}

/* Inserts a run of prepared documents; consumes prepared[0..count). Returns false when an
 * ordered insert must stop. */
static bool
insert_flush(const fe_store_t *store, const fe_index_set_t *set, bson_t *prepared, size_t count,
             bool ordered, void *arg)
{
   const bson_t **docs = calloc(count ? count : 1, sizeof *docs);
   bool ok = true;

   if (!docs) {
      fe_error_t error;
      error_set(&error, FE_ExceededMemoryLimit, "out of memory");
      for (size_t i = 0; i < count && ok; i++) {
         insert_outcome(arg, i, &error, NULL, NULL);
         ok = !ordered;
      }
   } else {
      for (size_t i = 0; i < count; i++) {
         docs[i] = &prepared[i];
      }
      ok = write_ops_insert_run(store, set, docs, count, ordered, insert_outcome, arg);
   }
   for (size_t i = 0; i < count; i++) {
      bson_destroy(&prepared[i]);
   }
   free(docs);
   return ok;
}
