/*
 * write_ops.c: one update or delete statement, and insert preparation.
 *
 * Updates read, modify and compare-and-swap (backend/generic.c). A statement that loses a
 * race reloads the document and tries again, so concurrent updates never lose each other's
 * changes and never apply twice.
 */
#include "commands/write_ops.h"

#include <stdlib.h>
#include <string.h>

#include "backend/validators.h"
#include "commands/args.h"
#include "commands/textsearch.h"
#include "query/expr.h"
#include "query/update.h"
#include "wire/header.h"

/* A statement that keeps losing races gives up with WriteConflict rather than spin. */
#define MAX_ATTEMPTS 64

static bool update_documents(const fe_store_t *store, const fe_index_set_t *indexes,
                             const fe_update_statement_t *statement, const fe_filter_t *filter,
                             const fe_update_t *update, fe_update_result_t *result, bool *lost_race,
                             fe_error_t *error);
static bool update_one_document(const fe_store_t *store, const fe_index_set_t *indexes,
                                const fe_filter_t *filter, const fe_update_t *update, bson_t *doc,
                                bool want_documents, fe_update_result_t *result, fe_error_t *error);
static bool upsert(const fe_store_t *store, const fe_index_set_t *indexes,
                   const fe_update_statement_t *statement, const fe_update_t *update,
                   fe_update_result_t *result, bool *duplicate, bool *index_duplicate,
                   fe_error_t *error);
static bool compile_collated_filter(const fe_store_t *store, const bson_t *filter_spec,
                                    const bson_t *let, const bson_t *collation,
                                    fe_filter_t **filter, fe_error_t *error);
static bool delete_matching(const fe_store_t *store, const bson_t *filter_spec,
                            const bson_t *collation, const bson_t *sort_spec, const bson_t *let,
                            size_t limit, int64_t *deleted, bson_t **removed, fe_error_t *error);
static bson_t *take_duplicate(bson_t *duplicate);
static bool insert_segment(const fe_store_t *store, const fe_index_set_t *set,
                           const bson_t *const *docs, size_t start, size_t count, bool ordered,
                           fe_insert_outcome_fn outcome, void *arg);

void
write_ops_store(const fe_ctx_t *ctx, const char *collection, fe_store_t *store)
{
   bson_iter_t bypass;

   store->methods = ctx->methods;
   store->session = ctx->session;
   store->capabilities = ctx->server->plugin->descriptor->capabilities;
   store->backend_name = ctx->server->backend_name;
   store->ns.db = ctx->db;
   store->ns.collection = collection;
   store->index_cache = &ctx->worker->index_cache;
   store->validator_cache = &ctx->worker->validator_cache;
   store->bypass_validation =
      bson_iter_init_find(&bypass, ctx->command, "bypassDocumentValidation") &&
      bson_iter_as_bool(&bypass);
}

bool
write_ops_prepare_insert(const bson_t *doc, bson_t *out, fe_error_t *error)
{
   bson_iter_t iter;
   bson_iter_t id;
   bson_t generated = BSON_INITIALIZER;
   const uint8_t *id_bytes;
   size_t id_len;
   uint8_t *buffer = NULL;
   size_t len = 0;

   bson_init(out);
   if (bson_iter_init_find(&id, doc, "_id")) {
      if (BSON_ITER_HOLDS_ARRAY(&id) || BSON_ITER_HOLDS_REGEX(&id) ||
          BSON_ITER_HOLDS_UNDEFINED(&id)) {
         bson_destroy(&generated);
         return error_set(error, FE_InvalidIdField, "can't use a%s %s for _id",
                          BSON_ITER_HOLDS_ARRAY(&id) ? "n" : "",
                          BSON_ITER_HOLDS_ARRAY(&id)   ? "array"
                          : BSON_ITER_HOLDS_REGEX(&id) ? "regex"
                                                       : "undefined");
      }
      id_bytes = bson_get_data(doc) + id.off;
      id_len = id.next_off - id.off;
   } else {
      bson_oid_t oid;
      bson_oid_init(&oid, NULL);
      BSON_APPEND_OID(&generated, "_id", &oid);
      id_bytes = bson_get_data(&generated) + 4;
      id_len = generated.len - 5;
   }
   if (id_bytes == bson_get_data(doc) + 4) {
      /* _id already comes first, as drivers send it: the document is stored as it is. */
      bson_destroy(&generated);
      bson_destroy(out);
      bson_copy_to(doc, out);
      goto check_size;
   }
   /* The elements are copied as raw bytes, _id first: re-appending them through libbson would
    * cut code strings at embedded NUL bytes, and MongoDB returns documents byte for byte. */
   len = 4 + id_len + (doc->len - 5) + 1;
   buffer = bson_malloc(len);
   memcpy(buffer + 4, id_bytes, id_len);
   len = 4 + id_len;
   if (bson_iter_init(&iter, doc)) {
      while (bson_iter_next(&iter)) {
         if (strcmp(bson_iter_key(&iter), "_id") != 0) {
            size_t element_len = iter.next_off - iter.off;
            memcpy(buffer + len, bson_get_data(doc) + iter.off, element_len);
            len += element_len;
         }
      }
   }
   buffer[len++] = 0;
   header_write_int32(buffer, (int32_t) len);
   bson_destroy(&generated);
   bson_destroy(out);
   if (!bson_init_static(out, buffer, len)) {
      bson_free(buffer);
      bson_init(out);
      return error_set(error, FE_InvalidBSON, "invalid document to insert");
   }
   /* bson_init_static does not own the buffer: copy into an owned document. */
   {
      bson_t view = *out;
      bson_copy_to(&view, out);
      bson_free(buffer);
   }

check_size:
   if (out->len > HEADER_MAX_BSON_SIZE) {
      return error_set(error, FE_BSONObjectTooLarge,
                       "object to insert too large. size in bytes: %u, max size: %d", out->len,
                       HEADER_MAX_BSON_SIZE);
   }
   return true;
}

bool
write_ops_insert(const fe_store_t *store, const bson_t *const *docs, size_t count, size_t *inserted,
                 ptrdiff_t *duplicate_index, bson_t *duplicate, fe_error_t *error)
{
   fe_index_set_t indexes;
   bool ok;

   *inserted = 0;
   *duplicate_index = -1;
   if (!indexes_load(store, true, &indexes, error)) {
      return false;
   }
   ok = indexes_insert(store, &indexes, docs, count, inserted, duplicate_index, duplicate, error);
   indexes_set_destroy(&indexes);
   return ok;
}

bool
write_ops_parse_update(const bson_t *item, const fe_update_names_t *names, const bson_t *let,
                       fe_update_parse_t *parse, fe_error_t *error)
{
   fe_update_statement_t *statement = &parse->statement;
   bson_t constants;
   bson_iter_t iter;
   bool has_filter = false;
   bool has_array_filters = false;
   bool has_sort = false;
   bool has_collation = false;
   const uint8_t *data;
   uint32_t len;

   memset(statement, 0, sizeof *statement);
   bson_init(&parse->collation);
   bson_init(&parse->filter);
   bson_init(&parse->update);
   bson_init(&parse->array_filters);
   bson_init(&parse->sort);
   bson_init(&parse->let);
   if (!args_document(item, "collation", &parse->collation, &has_collation, error) ||
       !args_document(item, names->filter, &parse->filter, &has_filter, error) ||
       !args_array(item, "arrayFilters", &parse->array_filters, &has_array_filters, error) ||
       !args_bool(item, "multi", &statement->multi, error) ||
       !args_bool(item, "upsert", &statement->upsert, error) ||
       !args_document(item, "sort", &parse->sort, &has_sort, error)) {
      return false;
   }
   if (!has_filter) {
      return error_set(error, 40414, "BSON field '%s.%s' is missing but a required field",
                       names->what, names->filter);
   }
   statement->collation = has_collation ? &parse->collation : NULL;
   if (!bson_iter_init_find(&iter, item, names->update)) {
      return error_set(error, 40414, "BSON field '%s.%s' is missing but a required field",
                       names->what, names->update);
   }
   if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      bson_iter_document(&iter, &len, &data);
   } else if (BSON_ITER_HOLDS_ARRAY(&iter)) {
      bson_iter_array(&iter, &len, &data);
      statement->update_is_pipeline = true;
   } else {
      return error_set(error, FE_FailedToParse,
                       "Update argument must be either an object or an array");
   }
   bson_destroy(&parse->update);
   bson_init_static(&parse->update, data, len);
   if (has_sort && statement->multi) {
      return error_set(error, FE_InvalidOptions, "Cannot specify sort with multi=true");
   }
   if (!args_document(item, names->constants, &constants, NULL, error)) {
      return false;
   }
   /* The statement's constants override the command's let. */
   bson_destroy(&parse->let);
   expr_let_merge(let && !bson_empty(let) ? let : NULL, bson_empty(&constants) ? NULL : &constants,
                  &parse->let);
   statement->filter = &parse->filter;
   statement->update = &parse->update;
   statement->array_filters = has_array_filters ? &parse->array_filters : NULL;
   statement->sort = bson_empty(&parse->sort) ? NULL : &parse->sort;
   statement->let = bson_empty(&parse->let) ? NULL : &parse->let;
   return true;
}

void
write_ops_parse_destroy(fe_update_parse_t *parse)
{
   bson_destroy(&parse->filter);
   bson_destroy(&parse->update);
   bson_destroy(&parse->array_filters);
   bson_destroy(&parse->sort);
   bson_destroy(&parse->let);
   bson_destroy(&parse->collation);
}

/* Compiles filter_spec with let under the collation (the statement's collation document, else
 * the collection's default); *filter owns the collator. */
static bool
compile_collated_filter(const fe_store_t *store, const bson_t *filter_spec, const bson_t *let,
                        const bson_t *collation, fe_filter_t **filter, fe_error_t *error)
{
   fe_collator_t *collator = NULL;

   *filter = NULL;
   if (!args_resolve_collation(collation, store, &collator, error)) {
      return false;
   }
   *filter = filter_compile_collated(filter_spec, let, collator, error);
   if (!*filter) {
      collation_destroy(collator);
      return false;
   }
   filter_adopt_collator(*filter, collator);
   return true;
}

bool
write_ops_insert_run(const fe_store_t *store, const fe_index_set_t *set, const bson_t *const *docs,
                     size_t count, bool ordered, fe_insert_outcome_fn outcome, void *arg)
{
   const fe_validator_t *validator = NULL;
   fe_error_t run_error = {0};
   size_t start = 0;

   if (count > 0 && !validators_get(store, &validator, &run_error)) {
      outcome(arg, 0, &run_error, docs[0], NULL);
      return false;
   }
   /* Runs of valid documents go to the backend together; each invalid one fails alone. */
   while (start < count) {
      bson_t info = BSON_INITIALIZER;
      size_t end = start;
      while (end < count && validators_check(validator, NULL, docs[end], &info, &run_error)) {
         end++;
      }
      if (!insert_segment(store, set, docs, start, end, ordered, outcome, arg)) {
         bson_destroy(&info);
         return false;
      }
      if (end < count) {
         outcome(arg, end, &run_error, docs[end], &info);
      }
      bson_destroy(&info);
      if (end < count && ordered) {
         return false;
      }
      start = end + 1;
   }
   return true;
}

/* Inserts docs[start..count) as one run; see write_ops_insert_run(). */
static bool
insert_segment(const fe_store_t *store, const fe_index_set_t *set, const bson_t *const *docs,
               size_t start, size_t count, bool ordered, fe_insert_outcome_fn outcome, void *arg)
{
   while (start < count) {
      fe_error_t run_error = {0};
      size_t stored = 0;
      ptrdiff_t duplicate = -1;
      size_t failed;
      bson_t key = BSON_INITIALIZER;
      bool ok = indexes_insert(store, set, docs + start, count - start, &stored, &duplicate, &key,
                               &run_error);
      for (size_t i = 0; i < stored; i++) {
         outcome(arg, start + i, NULL, docs[start + i], NULL);
      }
      if (ok) {
         bson_destroy(&key);
         break;
      }
      /* A duplicate fails its document; a backend failure fails the one after the stored ones. */
      failed = duplicate >= 0 ? start + (size_t) duplicate : start + stored;
      if (failed >= count) {
         bson_destroy(&key);
         break;
      }
      outcome(arg, failed, &run_error, docs[failed], duplicate >= 0 ? &key : NULL);
      bson_destroy(&key);
      if (ordered) {
         return false;
      }
      start = failed + 1;
   }
   return true;
}

bool
write_ops_update(const fe_store_t *store, const fe_update_statement_t *statement,
                 fe_update_result_t *result, fe_error_t *error)
{
   fe_filter_t *filter = NULL;
   fe_update_t *update = NULL;
   fe_index_set_t indexes = {0};
   int index_duplicates = 0;
   bool ok = false;

   memset(result, 0, sizeof *result);
   bson_init(&result->upserted_id);
   if (!indexes_load(store, true, &indexes, error)) {
      goto done;
   }
   if (!compile_collated_filter(store, statement->filter, statement->let, statement->collation,
                                &filter, error) ||
       !textsearch_bind(store, filter, NULL, error)) {
      goto done;
   }
   /* The update's operators compare under the statement's collation, which the filter owns. */
   update = update_compile_collated(statement->update, statement->update_is_pipeline,
                                    statement->array_filters, statement->let,
                                    filter_collator(filter), error);
   if (!update) {
      goto done;
   }
   if (statement->multi && update_is_replacement(update)) {
      error_set(error, FE_FailedToParse,
                "multi update is not supported for replacement-style update");
      goto done;
   }
   for (int attempt = 0;; attempt++) {
      bool lost_race = false;
      bool duplicate = false;
      bool index_duplicate = false;
      if (attempt == MAX_ATTEMPTS) {
         error_set(error, FE_WriteConflict, "update kept conflicting with concurrent writes");
         goto done;
      }
      if (!update_documents(store, &indexes, statement, filter, update, result, &lost_race,
                            error)) {
         goto done;
      }
      if (lost_race && result->matched == 0) {
         continue; /* every candidate changed under us: look again */
      }
      if (result->matched == 0 && statement->upsert) {
         if (!upsert(store, &indexes, statement, update, result, &duplicate, &index_duplicate,
                     error)) {
            /* A concurrent upsert of the same unique key may have won: look once more, as
             * MongoDB retries such an upsert; a second duplicate is the answer. */
            if (index_duplicate && index_duplicates++ == 0) {
               error_clear(error);
               continue;
            }
            goto done;
         }
         if (duplicate) {
            continue; /* another client inserted the document first: update it instead */
         }
      }
      break;
   }
   ok = true;

done:
   if (update) {
      update_destroy(update); /* before the filter, which owns its collator */
   }
   if (filter) {
      filter_destroy(filter);
   }
   indexes_set_destroy(&indexes);
   return ok;
}

void
write_ops_result_destroy(fe_update_result_t *result)
{
   bson_destroy(&result->upserted_id);
   if (result->before) {
      bson_destroy(result->before);
   }
   if (result->after) {
      bson_destroy(result->after);
   }
   if (result->duplicate) {
      bson_destroy(result->duplicate);
   }
   result->before = result->after = result->duplicate = NULL;
}

bool
write_ops_delete(const fe_store_t *store, const bson_t *filter_spec, const bson_t *sort_spec,
                 const bson_t *let, bool multi, int64_t *deleted, bson_t **removed,
                 fe_error_t *error)
{
   return delete_matching(store, filter_spec, NULL, sort_spec, let, multi ? 0 : 1, deleted, removed,
                          error);
}

bool
write_ops_delete_collated(const fe_store_t *store, const bson_t *filter_spec,
                          const bson_t *sort_spec, const bson_t *let, const bson_t *collation,
                          bool multi, int64_t *deleted, bson_t **removed, fe_error_t *error)
{
   return delete_matching(store, filter_spec, collation, sort_spec, let, multi ? 0 : 1, deleted,
                          removed, error);
}

bool
write_ops_delete_some(const fe_store_t *store, const bson_t *filter_spec, size_t limit,
                      int64_t *deleted, fe_error_t *error)
{
   return delete_matching(store, filter_spec, NULL, NULL, NULL, limit, deleted, NULL, error);
}

/* Deletes up to limit (0: all) documents matching filter_spec, the first in sort order. */
static bool
delete_matching(const fe_store_t *store, const bson_t *filter_spec, const bson_t *collation,
                const bson_t *sort_spec, const bson_t *let, size_t limit, int64_t *deleted,
                bson_t **removed, fe_error_t *error)
{
   fe_filter_t *filter = NULL;
   fe_sort_t *sort = NULL;
   bson_t **docs = NULL;
   size_t count = 0;
   fe_index_set_t indexes = {0};
   bool ok = false;

   *deleted = 0;
   if (removed) {
      *removed = NULL;
   }
   if (!indexes_load(store, true, &indexes, error)) {
      goto done;
   }
   if (!compile_collated_filter(store, filter_spec, let, collation, &filter, error) ||
       !textsearch_bind(store, filter, NULL, error)) {
      goto done;
   }
   if (sort_spec && !bson_empty(sort_spec) &&
       !(sort = sort_compile_collated(sort_spec, filter_collator(filter), error))) {
      goto done;
   }
   for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      bool lost_race = false;
      generic_free_documents(docs, count);
      docs = NULL;
      count = 0;
      if (!generic_collect(store, filter, filter_spec, sort, limit, &docs, &count, error)) {
         goto done;
      }
      for (size_t i = 0; i < count; i++) {
         bool gone = false;
         if (!indexes_delete(store, &indexes, docs[i], &gone, error)) {
            goto done;
         }
         if (gone) {
            (*deleted)++;
            if (removed && !*removed) {
               *removed = docs[i];
               docs[i] = NULL;
            }
         } else {
            lost_race = true;
         }
      }
      /* A multi delete takes what it found; a changed document that still matches was
       * rescanned only when nothing was deleted (deleteOne must delete one if any matches). */
      if (!lost_race || *deleted > 0) {
         break;
      }
   }
   ok = true;

done:
   generic_free_documents(docs, count);
   if (filter) {
      filter_destroy(filter);
   }
   if (sort) {
      sort_destroy(sort);
   }
   indexes_set_destroy(&indexes);
   return ok;
}

void
write_ops_append_write_error(bson_t *array, uint32_t array_index, int64_t index,
                             const fe_error_t *error, const bson_t *doc, const bson_t *duplicate)
{
   char key[16];
   const char *key_ptr;
   bson_t entry;

   bson_uint32_to_string(array_index, &key_ptr, key, sizeof key);
   bson_append_document_begin(array, key_ptr, -1, &entry);
   BSON_APPEND_INT32(&entry, "index", (int32_t) index);
   BSON_APPEND_INT32(&entry, "code", error->code);
   BSON_APPEND_UTF8(&entry, "codeName", error_code_name(error->code));
   BSON_APPEND_UTF8(&entry, "errmsg", error->message);
   write_ops_append_duplicate_key(&entry, error, doc, duplicate);
   bson_append_document_end(array, &entry);
}

void
write_ops_append_duplicate_key(bson_t *entry, const fe_error_t *error, const bson_t *doc,
                               const bson_t *duplicate)
{
   bson_iter_t id;

   if ((error->code == FE_DuplicateKey || error->code == FE_DocumentValidationFailure) &&
       duplicate && !bson_empty(duplicate)) {
      bson_concat(entry, duplicate);
   } else if (error->code == FE_DuplicateKey && doc && bson_iter_init_find(&id, doc, "_id")) {
      bson_t child;
      BSON_APPEND_DOCUMENT_BEGIN(entry, "keyPattern", &child);
      BSON_APPEND_INT32(&child, "_id", 1);
      bson_append_document_end(entry, &child);
      BSON_APPEND_DOCUMENT_BEGIN(entry, "keyValue", &child);
      bson_append_iter(&child, "_id", 3, &id);
      bson_append_document_end(entry, &child);
   }
}

static bool
update_documents(const fe_store_t *store, const fe_index_set_t *indexes,
                 const fe_update_statement_t *statement, const fe_filter_t *filter,
                 const fe_update_t *update, fe_update_result_t *result, bool *lost_race,
                 fe_error_t *error)
{
   fe_sort_t *sort = NULL;
   bson_t **docs = NULL;
   size_t count = 0;
   bool ok = false;

   result->matched = 0;
   result->modified = 0;
   if (statement->sort && !bson_empty(statement->sort) &&
       !(sort = sort_compile_collated(statement->sort, filter_collator(filter), error))) {
      goto done;
   }
   if (!generic_collect(store, filter, statement->filter, sort, statement->multi ? 0 : 1, &docs,
                        &count, error)) {
      goto done;
   }
   for (size_t i = 0; i < count; i++) {
      int64_t matched_before = result->matched;
      if (!update_one_document(store, indexes, filter, update, docs[i], statement->want_documents,
                               result, error)) {
         goto done;
      }
      if (result->matched == matched_before) {
         *lost_race = true;
      }
   }
   ok = true;

done:
   generic_free_documents(docs, count);
   if (sort) {
      sort_destroy(sort);
   }
   return ok;
}

/* Updates one document, reloading it while compare-and-swap loses. Counts it as matched only
 * if it still matches when the update lands. */
static bool
update_one_document(const fe_store_t *store, const fe_index_set_t *indexes,
                    const fe_filter_t *filter, const fe_update_t *update, bson_t *doc,
                    bool want_documents, fe_update_result_t *result, fe_error_t *error)
{
   bson_t *current = bson_copy(doc);
   bson_t updated = BSON_INITIALIZER;
   bson_t duplicate = BSON_INITIALIZER;
   bool ok = false;

   for (int attempt = 0; current; attempt++) {
      fe_match_info_t match = {-1};
      bool replaced = false;
      bson_t *reloaded = NULL;

      if (attempt == MAX_ATTEMPTS) {
         error_set(error, FE_WriteConflict, "update kept conflicting with concurrent writes");
         goto done;
      }
      if (!filter_match(filter, current, &match)) {
         break;
      }
      bson_destroy(&updated);
      if (!update_apply(update, current, &match, false, &updated, error)) {
         goto done;
      }
      if (updated.len > HEADER_MAX_BSON_SIZE) {
         error_set(error, FE_BSONObjectTooLarge,
                   "resulting document after update is larger than %d", HEADER_MAX_BSON_SIZE);
         goto done;
      }
      if (updated.len == current->len &&
          memcmp(bson_get_data(&updated), bson_get_data(current), updated.len) == 0) {
         result->matched++;
         replaced = true;
      } else {
         const fe_validator_t *validator = NULL;
         if (!validators_get(store, &validator, error) ||
             !validators_check(validator, current, &updated, &duplicate, error)) {
            result->duplicate = take_duplicate(&duplicate);
            goto done;
         }
         if (!indexes_replace(store, indexes, current, &updated, &replaced, &duplicate, error)) {
            result->duplicate = take_duplicate(&duplicate);
            goto done;
         }
         if (replaced) {
            result->matched++;
            result->modified++;
         }
      }
      if (replaced) {
         if (want_documents) {
            result->before = bson_copy(current);
            result->after = bson_copy(&updated);
         }
         break;
      }
      if (!generic_reload(store, current, &reloaded, error)) {
         goto done;
      }
      bson_destroy(current);
      current = reloaded;
   }
   ok = true;

done:
   if (current) {
      bson_destroy(current);
   }
   bson_destroy(&updated);
   bson_destroy(&duplicate);
   return ok;
}

static bool
upsert(const fe_store_t *store, const fe_index_set_t *indexes,
       const fe_update_statement_t *statement, const fe_update_t *update,
       fe_update_result_t *result, bool *duplicate, bool *index_duplicate, fe_error_t *error)
{
   bson_t seed;
   bson_t doc;
   bson_t key = BSON_INITIALIZER;
   const bson_t *docs[1];
   size_t inserted = 0;
   ptrdiff_t duplicate_index = -1;
   bson_iter_t id;
   const fe_validator_t *validator = NULL;
   bool ok = false;

   *duplicate = false;
   *index_duplicate = false;
   bson_init(&doc);
   if (!update_upsert_document(update, statement->filter, &seed, error)) {
      goto done;
   }
   bson_destroy(&doc);
   if (!write_ops_prepare_insert(&seed, &doc, error)) {
      bson_destroy(&seed);
      goto done;
   }
   bson_destroy(&seed);
   if (!validators_get(store, &validator, error) ||
       !validators_check(validator, NULL, &doc, &key, error)) {
      if (result->duplicate) {
         bson_destroy(result->duplicate);
      }
      result->duplicate = take_duplicate(&key);
      goto done;
   }
   docs[0] = &doc;
   if (!indexes_insert(store, indexes, docs, 1, &inserted, &duplicate_index, &key, error)) {
      if (duplicate_index == 0 && !bson_empty(&key)) {
         /* A unique secondary index, not the _id: the caller decides whether to retry. */
         *index_duplicate = true;
         if (result->duplicate) {
            bson_destroy(result->duplicate);
         }
         result->duplicate = take_duplicate(&key);
      } else if (duplicate_index == 0) {
         *duplicate = true;
         error_clear(error);
         ok = true;
      }
      goto done;
   }
   result->upserted = true;
   if (bson_iter_init_find(&id, &doc, "_id")) {
      bson_append_iter(&result->upserted_id, "_id", 3, &id);
   }
   if (statement->want_documents) {
      result->after = bson_copy(&doc);
   }
   ok = true;

done:
   bson_destroy(&doc);
   bson_destroy(&key);
   return ok;
}

/* An owned copy of a {keyPattern, keyValue} document, or NULL when there is none. */
static bson_t *
take_duplicate(bson_t *duplicate)
{
   return bson_empty(duplicate) ? NULL : bson_copy(duplicate);
}
