/*
 * args.c: command arguments and shared reply shapes.
 */
#include "commands/args.h"

#include "backend/indexes.h"
#include "backend/validators.h"

#include <math.h>
#include <string.h>

#define MAX_DB_NAME 64
#define MAX_NAMESPACE 255

bool
args_check_db_name(const char *db, fe_error_t *error)
{
   size_t len = strlen(db);
   if (len == 0) {
      return error_set(error, FE_InvalidNamespace, "database name cannot be empty");
   }
   if (len >= MAX_DB_NAME) {
      return error_set(error, FE_InvalidNamespace, "database name is too long: '%s'", db);
   }
   if (strpbrk(db, "/\\. \"$")) {
      return error_set(error, FE_InvalidNamespace, "Invalid database name: '%s'", db);
   }
   return true;
}

bool
args_check_collection_name(const char *db, const char *collection, fe_error_t *error)
{
   if (!args_check_db_name(db, error)) {
      return false;
   }
   if (collection[0] == '\0') {
      return error_set(error, FE_InvalidNamespace, "Invalid namespace specified '%s.'", db);
   }
   if (strchr(collection, '$')) {
      return error_set(error, FE_InvalidNamespace, "Invalid collection name: %s", collection);
   }
   if (indexes_is_hidden(collection)) {
      return error_set(error, FE_InvalidNamespace,
                       "collection names starting with '%s' are reserved: %s.%s",
                       INDEXES_HIDDEN_PREFIX, db, collection);
   }
   if (strlen(db) + 1 + strlen(collection) > MAX_NAMESPACE) {
      return error_set(error, FE_InvalidNamespace, "Fully qualified namespace is too long: %s.%s",
                       db, collection);
   }
   return true;
}

bool
args_collection(const fe_ctx_t *ctx, const char **collection, fe_error_t *error)
{
   bson_iter_t iter;
   if (!bson_iter_init_find(&iter, ctx->command, ctx->name) || !BSON_ITER_HOLDS_UTF8(&iter)) {
      return error_set(error, FE_InvalidNamespace, "collection name has invalid type %s",
                       bson_iter_init_find(&iter, ctx->command, ctx->name) ? "non-string"
                                                                           : "missing");
   }
   *collection = bson_iter_utf8(&iter, NULL);
   if (strlen(*collection) != bson_iter_utf8_len_unsafe(&iter)) {
      return error_set(error, FE_InvalidNamespace, "collection name contains a null byte");
   }
   return args_check_collection_name(ctx->db, *collection, error);
}

/* Reads the document or array at iter (NULL when the field is absent) into *out, as
 * args_document() describes. */
static bool
nested_at(const bson_iter_t *iter, const char *key, bool want_array, bson_t *out, bool *present,
          fe_error_t *error)
{
   const uint8_t *data;
   uint32_t len;

   bson_init(out);
   if (present) {
      *present = false;
   }
   if (!iter) {
      return true;
   }
   if (!want_array && BSON_ITER_HOLDS_NULL(iter)) {
      return true;
   }
   if (want_array ? !BSON_ITER_HOLDS_ARRAY(iter) : !BSON_ITER_HOLDS_DOCUMENT(iter)) {
      return error_set(error, FE_TypeMismatch, "BSON field '%s' is the wrong type, expected %s",
                       key, want_array ? "array" : "object");
   }
   if (want_array) {
      bson_iter_array(iter, &len, &data);
   } else {
      bson_iter_document(iter, &len, &data);
   }
   bson_destroy(out);
   bson_init_static(out, data, len);
   if (present) {
      *present = true;
   }
   return true;
}

static bool
nested(const bson_t *command, const char *key, bool want_array, bson_t *out, bool *present,
       fe_error_t *error)
{
   bson_iter_t iter;
   bool found = bson_iter_init_find(&iter, command, key);
   return nested_at(found ? &iter : NULL, key, want_array, out, present, error);
}

void
args_find_fields(const bson_t *doc, const char *const *keys, size_t count, args_field_t *fields)
{
   bson_iter_t iter;
   size_t missing = count;

   for (size_t i = 0; i < count; i++) {
      fields[i].found = false;
   }
   if (!bson_iter_init(&iter, doc)) {
      return;
   }
   while (missing > 0 && bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      for (size_t i = 0; i < count; i++) {
         /* The first occurrence wins, as with bson_iter_init_find(). */
         if (!fields[i].found && strcmp(key, keys[i]) == 0) {
            fields[i].iter = iter;
            fields[i].found = true;
            missing--;
            break;
         }
      }
   }
}

bool
args_document_at(const bson_iter_t *iter, const char *key, bson_t *out, bool *present,
                 fe_error_t *error)
{
   return nested_at(iter, key, false, out, present, error);
}

bool
args_document(const bson_t *command, const char *key, bson_t *out, bool *present, fe_error_t *error)
{
   return nested(command, key, false, out, present, error);
}

bool
args_array(const bson_t *command, const char *key, bson_t *out, bool *present, fe_error_t *error)
{
   return nested(command, key, true, out, present, error);
}

bool
args_int64(const bson_t *command, const char *key, int64_t *out, fe_error_t *error)
{
   bson_iter_t iter;
   bool found = bson_iter_init_find(&iter, command, key);
   return args_int64_at(found ? &iter : NULL, key, out, error);
}

bool
args_int64_at(const bson_iter_t *iter, const char *key, int64_t *out, fe_error_t *error)
{
   if (!iter || BSON_ITER_HOLDS_NULL(iter)) {
      return true;
   }
   switch (bson_iter_type(iter)) {
   case BSON_TYPE_INT32:
      *out = bson_iter_int32(iter);
      return true;
   case BSON_TYPE_INT64:
      *out = bson_iter_int64(iter);
      return true;
   case BSON_TYPE_DOUBLE: {
      double value = bson_iter_double(iter);
      if (value != floor(value) || !isfinite(value) || fabs(value) > 9.2e18) {
         return error_set(error, FE_BadValue, "BSON field '%s' has a non-integral value", key);
      }
      *out = (int64_t) value;
      return true;
   }
   default:
      return error_set(error, FE_TypeMismatch,
                       "BSON field '%s' is the wrong type '%s', expected types '[long, int, "
                       "decimal, double]'",
                       key, bson_iter_type(iter) == BSON_TYPE_UTF8 ? "string" : "other");
   }
}

bool
args_bool(const bson_t *command, const char *key, bool *out, fe_error_t *error)
{
   bson_iter_t iter;
   bool found = bson_iter_init_find(&iter, command, key);
   return args_bool_at(found ? &iter : NULL, key, out, error);
}

bool
args_bool_at(const bson_iter_t *iter, const char *key, bool *out, fe_error_t *error)
{
   if (!iter || BSON_ITER_HOLDS_NULL(iter)) {
      return true;
   }
   if (!BSON_ITER_HOLDS_BOOL(iter) && !BSON_ITER_HOLDS_NUMBER(iter)) {
      return error_set(error, FE_TypeMismatch,
                       "BSON field '%s' is the wrong type, expected type 'bool'", key);
   }
   *out = bson_iter_as_bool(iter);
   return true;
}

bool
args_check_collation(const bson_t *doc, fe_error_t *error)
{
   bson_iter_t iter;
   bool found = bson_iter_init_find(&iter, doc, "collation");
   return args_check_collation_at(found ? &iter : NULL, error);
}

bool
args_check_collation_at(const bson_iter_t *iter, fe_error_t *error)
{
   fe_collator_t *collator = NULL;
   if (!iter || BSON_ITER_HOLDS_NULL(iter)) {
      return true;
   }
   if (!collation_parse_iter(iter, "collation", &collator, error)) {
      return false;
   }
   if (collator) {
      collation_destroy(collator);
      return error_set(error, FE_BadValue, "only the simple collation is supported here");
   }
   return true;
}

static void
copy_options(void *ctx, const uint8_t *data, size_t len)
{
   bson_t view;
   if (bson_init_static(&view, data, len)) {
      bson_destroy((bson_t *) ctx);
      bson_copy_to(&view, (bson_t *) ctx);
   }
}

bool
args_resolve_collation(const bson_t *collation, const fe_store_t *store, fe_collator_t **out,
                       fe_error_t *error)
{
   bson_t options = BSON_INITIALIZER;
   ferret_error_t backend_error = {0};
   ferret_status_t status;
   bson_iter_t iter;
   const bson_t *cached_collation = NULL; /* borrowed from the worker's cache */
   bool cached = false;
   bool ok = false;

   *out = NULL;
   if (collation) {
      return collation_parse(collation, out, error);
   }
   if (!store || !store->methods || !store->methods->collection_options) {
      return true;
   }
   if (!validators_default_collation(store, &cached_collation, &cached, error)) {
      return false;
   }
   if (cached) {
      return !cached_collation || collation_parse(cached_collation, out, error);
   }
   status = store->methods->collection_options(store->session, &store->ns, copy_options, &options,
                                               &backend_error);
   if (status == FERRET_ERR_NAMESPACE_NOT_FOUND) {
      ok = true;
      goto done;
   }
   if (status != FERRET_OK) {
      error_set_from_backend(error, store->backend_name, status, &backend_error);
      goto done;
   }
   if (!bson_iter_init_find(&iter, &options, "collation") || !BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      ok = true;
      goto done;
   }
   ok = collation_parse_iter(&iter, "collation", out, error);

done:
   bson_destroy(&options);
   return ok;
}

bool
args_collation(const bson_t *doc, const fe_store_t *store, fe_collator_t **out, fe_error_t *error)
{
   bson_t collation;
   bool present = false;

   *out = NULL;
   if (!args_document(doc, "collation", &collation, &present, error)) {
      return false;
   }
   return args_resolve_collation(present ? &collation : NULL, store, out, error);
}

bool
args_check_fields(const bson_t *doc, const char *what, const char *const *allowed,
                  fe_error_t *error)
{
   bson_iter_t iter;
   if (!bson_iter_init(&iter, doc)) {
      return true;
   }
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      bool known = false;
      for (const char *const *name = allowed; *name && !known; name++) {
         known = strcmp(*name, key) == 0;
      }
      if (!known) {
         return error_set(error, 40415, "BSON field '%s.%s' is an unknown field.", what, key);
      }
   }
   return true;
}

void
args_append_cursor(bson_t *reply, int64_t id, const char *ns, bool first, const bson_t *batch)
{
   bson_t cursor;
   BSON_APPEND_DOCUMENT_BEGIN(reply, "cursor", &cursor);
   bson_append_array(&cursor, first ? "firstBatch" : "nextBatch", -1, batch);
   BSON_APPEND_INT64(&cursor, "id", id);
   BSON_APPEND_UTF8(&cursor, "ns", ns);
   bson_append_document_end(reply, &cursor);
}

bool
args_reply_first_batch(fe_ctx_t *ctx, fe_cursor_t *cursor, int64_t batch_size, bool single_batch,
                       fe_error_t *error)
{
   bson_t batch = BSON_INITIALIZER;
   bool exhausted = false;
   int64_t id = 0;
   bool ok = false;
   char ns[sizeof cursor->ns];

   memcpy(ns, cursor->ns, sizeof ns); /* NUL-terminated: cursor_new() wrote it */
   if (batch_size < 0) {
      error_set(error, 51024, "BSON field 'batchSize' value must be >= 0, actual value '%lld'",
                (long long) batch_size);
      goto done;
   }
   if (!cursor_fill_batch(cursor, batch_size, ARGS_MAX_BATCH_BYTES, &batch, &exhausted, error)) {
      goto done;
   }
   if (ctx->has_lsid) {
      memcpy(cursor->lsid, ctx->lsid, 16);
      cursor->has_lsid = true;
   }
   if (!exhausted && !single_batch) {
      id = cursor_registry_add(&ctx->server->cursors, cursor);
      cursor = NULL;
   }
   args_append_cursor(ctx->reply, id, ns, true, &batch);
   ok = true;

done:
   cursor_destroy(cursor);
   bson_destroy(&batch);
   return ok;
}
