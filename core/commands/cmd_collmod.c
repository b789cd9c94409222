/*
 * cmd_collmod.c: collMod, as MongoDB 7.0 documents it for a standalone server.
 *
 * What changes: an index's `hidden` flag and its `expireAfterSeconds` (both kept in the index
 * catalog, backend/indexes.h; neither changes what a query reads, since non-unique indexes are
 * metadata only and TTL is not enforced), and the validation options `validator`,
 * `validationLevel` and `validationAction` (backend/validators.h keeps them). What is accepted
 * as a no-op: `changeStreamPreAndPostImages` off, `dryRun`. Everything else that MongoDB would
 * change is refused with CommandNotSupported (115), naming the option: the backends keep a
 * collection's options as created.
 */
#include <string.h>

#include "backend/indexes.h"
#include "backend/validators.h"
#include "commands/args.h"
#include "commands/handlers.h"
#include "commands/write_ops.h"

#define ID_INDEX_NAME "_id_"

/* The requested change of one index ({index: {...}}). */
typedef struct index_change {
   bool has_key;
   bson_t key; /* static view into the command, when has_key */
   const char *name;
   bool has_hidden;
   bool hidden;
   bool has_ttl;
   bson_iter_t ttl; /* the expireAfterSeconds element of the command */
} index_change_t;

static bool read_index_change(const bson_iter_t *iter, index_change_t *change, fe_error_t *error);
static bool apply_index_change(fe_ctx_t *ctx, const char *collection, const index_change_t *change,
                               fe_error_t *error);
static bool apply_validation_change(fe_ctx_t *ctx, const char *collection, const bson_t *validation,
                                    fe_error_t *error);
static bool read_options(const fe_ctx_t *ctx, const char *collection, bool *exists, bson_t *options,
                         fe_error_t *error);
static void copy_options(void *ctx, const uint8_t *bson, size_t len);
static bool is_generic_argument(const char *key);

bool
cmd_coll_mod(fe_ctx_t *ctx, fe_error_t *error)
{
   const char *collection;
   bson_t stored = BSON_INITIALIZER;
   bool exists = false;
   bson_iter_t iter;
   index_change_t change = {0};
   bool has_index = false;
   bson_t validation = BSON_INITIALIZER; /* the validation options requested */
   bool ok = false;

   if (!args_collection(ctx, &collection, error) ||
       !read_options(ctx, collection, &exists, &stored, error)) {
      goto done;
   }
   if (!exists) {
      error_set(error, FE_NamespaceNotFound, "ns does not exist: %s.%s", ctx->db, collection);
      goto done;
   }
   /* Every option is checked before anything changes. */
   bson_iter_init(&iter, ctx->command);
   bson_iter_next(&iter); /* the command name */
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (is_generic_argument(key) || strcmp(key, "dryRun") == 0) {
         continue;
      }
      if (strcmp(key, "index") == 0) {
         if (!read_index_change(&iter, &change, error)) {
            goto done;
         }
         has_index = true;
      } else if (strcmp(key, "validator") == 0 || strcmp(key, "validationLevel") == 0 ||
                 strcmp(key, "validationAction") == 0) {
         if (strcmp(key, "validator") == 0 && !BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            error_set(error, FE_TypeMismatch, "'validator' must be an object");
            goto done;
         }
         bson_append_iter(&validation, key, -1, &iter);
      } else if (strcmp(key, "changeStreamPreAndPostImages") == 0) {
         bson_iter_t enabled;
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter) || !bson_iter_recurse(&iter, &enabled) ||
             !bson_iter_find(&enabled, "enabled") || bson_iter_as_bool(&enabled)) {
            error_set(error, FE_CommandNotSupported,
                      "collMod 'changeStreamPreAndPostImages' is not supported: there are no "
                      "change streams");
            goto done;
         }
      } else if (strcmp(key, "viewOn") == 0 || strcmp(key, "pipeline") == 0) {
         /* A view's collMod is run before this handler (cmd_views.c); this is a collection. */
         error_set(error, FE_InvalidOptions,
                   "'%s' is only valid when modifying a view: %s.%s is a collection", key, ctx->db,
                   collection);
         goto done;
      } else if (strcmp(key, "cappedSize") == 0 || strcmp(key, "cappedMax") == 0 ||
                 strcmp(key, "timeseries") == 0 || strcmp(key, "expireAfterSeconds") == 0 ||
                 strcmp(key, "recordIdsReplicated") == 0) {
         error_set(error, FE_CommandNotSupported,
                   "collMod '%s' is not supported: collection options stay as created", key);
         goto done;
      } else {
         error_set(error, 40415, "BSON field 'collMod.%s' is an unknown field.", key);
         goto done;
      }
   }
   if (!validators_check_options(&validation, error)) {
      goto done;
   }
   if (has_index && !apply_index_change(ctx, collection, &change, error)) {
      goto done;
   }
   if (!bson_empty(&validation) && !apply_validation_change(ctx, collection, &validation, error)) {
      goto done;
   }
   ok = true;

done:
   bson_destroy(&validation);
   bson_destroy(&stored);
   return ok;
}

/* Reads {index: {keyPattern | name, hidden, expireAfterSeconds}}; iter is at "index". */
static bool
read_index_change(const bson_iter_t *iter, index_change_t *change, fe_error_t *error)
{
   bson_iter_t field;

   if (!BSON_ITER_HOLDS_DOCUMENT(iter)) {
      return error_set(error, FE_TypeMismatch, "BSON field 'collMod.index' must be an object");
   }
   bson_iter_recurse(iter, &field);
   while (bson_iter_next(&field)) {
      const char *key = bson_iter_key(&field);
      if (strcmp(key, "keyPattern") == 0) {
         const uint8_t *data;
         uint32_t len;
         if (!BSON_ITER_HOLDS_DOCUMENT(&field)) {
            return error_set(error, FE_TypeMismatch, "'keyPattern' must be an object");
         }
         bson_iter_document(&field, &len, &data);
         if (!bson_init_static(&change->key, data, len)) {
            return error_set(error, FE_BadValue, "malformed index key pattern");
         }
         change->has_key = true;
      } else if (strcmp(key, "name") == 0) {
         if (!BSON_ITER_HOLDS_UTF8(&field)) {
            return error_set(error, FE_TypeMismatch, "'name' must be a string");
         }
         change->name = bson_iter_utf8(&field, NULL);
      } else if (strcmp(key, "hidden") == 0) {
         if (!BSON_ITER_HOLDS_BOOL(&field)) {
            return error_set(error, FE_TypeMismatch,
                             "BSON field 'collMod.index.hidden' must be a boolean");
         }
         change->has_hidden = true;
         change->hidden = bson_iter_bool(&field);
      } else if (strcmp(key, "expireAfterSeconds") == 0) {
         if (!BSON_ITER_HOLDS_NUMBER(&field)) {
            return error_set(error, FE_TypeMismatch,
                             "BSON field 'collMod.index.expireAfterSeconds' must be a number");
         }
         if (bson_iter_as_int64(&field) < 0) {
            return error_set(error, FE_BadValue,
                             "TTL index 'expireAfterSeconds' option must be within an acceptable "
                             "range");
         }
         change->has_ttl = true;
         change->ttl = field;
      } else if (strcmp(key, "unique") == 0 || strcmp(key, "prepareUnique") == 0 ||
                 strcmp(key, "forceNonUnique") == 0) {
         return error_set(error, FE_CommandNotSupported,
                          "collMod index option '%s' is not supported: create a new index", key);
      } else {
         return error_set(error, 40415, "BSON field 'collMod.index.%s' is an unknown field.", key);
      }
   }
   if (change->has_key == (change->name != NULL)) {
      return error_set(error, FE_InvalidOptions,
                       change->has_key ? "cannot specify both key pattern and name"
                                       : "must specify either index name or key pattern");
   }
   if (!change->has_hidden && !change->has_ttl) {
      return error_set(error, FE_InvalidOptions,
                       "no expireAfterSeconds or hidden field to modify the index with");
   }
   return true;
}

/* Finds the index, writes its new specification and reports {hidden_old, hidden_new,
 * expireAfterSeconds_old, expireAfterSeconds_new} as MongoDB does. */
static bool
apply_index_change(fe_ctx_t *ctx, const char *collection, const index_change_t *change,
                   fe_error_t *error)
{
   fe_store_t store;
   fe_index_set_t set = {0};
   const fe_index_t *index = NULL;
   bson_t spec = BSON_INITIALIZER;
   bson_iter_t iter;
   bool was_hidden = false;
   bool ok = false;

   write_ops_store(ctx, collection, &store);
   if (!indexes_load(&store, false, &set, error)) {
      goto done;
   }
   for (size_t i = 0; i < set.count && !index; i++) {
      if (change->name ? strcmp(set.items[i].name, change->name) == 0
                       : indexes_same_key(&set.items[i].key, &change->key)) {
         index = &set.items[i];
      }
   }
   if (!index) {
      bool is_id = change->name ? strcmp(change->name, ID_INDEX_NAME) == 0
                                : bson_count_keys(&change->key) == 1 &&
                                     bson_iter_init_find(&iter, &change->key, "_id");
      if (is_id) {
         error_set(error, FE_BadValue, "cannot modify the _id index");
      } else if (change->name) {
         error_set(error, FE_IndexNotFound, "cannot find index %s for ns %s.%s", change->name,
                   ctx->db, collection);
      } else {
         char *json = bson_as_relaxed_extended_json(&change->key, NULL);
         error_set(error, FE_IndexNotFound, "cannot find index %s for ns %s.%s", json ? json : "{}",
                   ctx->db, collection);
         bson_free(json);
      }
      goto done;
   }
   if (change->has_ttl && bson_count_keys(&index->key) != 1) {
      error_set(error, FE_InvalidOptions,
                "TTL indexes are single-field indexes, compound indexes do not support TTL");
      goto done;
   }
   /* The new spec: the old one with hidden and expireAfterSeconds replaced, in place when
    * they were there, appended otherwise; hidden is kept only when true (as createIndexes
    * stores it). */
   bson_iter_init(&iter, &index->spec);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "hidden") == 0) {
         was_hidden = bson_iter_as_bool(&iter);
         if (!change->has_hidden) {
            bson_append_iter(&spec, key, -1, &iter);
         }
      } else if (strcmp(key, "expireAfterSeconds") == 0) {
         BSON_APPEND_VALUE(ctx->reply, "expireAfterSeconds_old", bson_iter_value(&iter));
         if (!change->has_ttl) {
            bson_append_iter(&spec, key, -1, &iter);
         }
      } else {
         bson_append_iter(&spec, key, -1, &iter);
      }
   }
   if (change->has_ttl) {
      bson_iter_t ttl = change->ttl;
      bson_append_iter(&spec, "expireAfterSeconds", -1, &ttl);
      BSON_APPEND_VALUE(ctx->reply, "expireAfterSeconds_new", bson_iter_value(&ttl));
   }
   if (change->has_hidden) {
      if (change->hidden) {
         BSON_APPEND_BOOL(&spec, "hidden", true);
      }
      BSON_APPEND_BOOL(ctx->reply, "hidden_old", was_hidden);
      BSON_APPEND_BOOL(ctx->reply, "hidden_new", change->hidden);
   }
   ok = indexes_update_spec(&store, index, &spec, error);

done:
   bson_destroy(&spec);
   indexes_set_destroy(&set);
   return ok;
}

/* Stores the new validation options (checked by validators_check_options()). */
static bool
apply_validation_change(fe_ctx_t *ctx, const char *collection, const bson_t *validation,
                        fe_error_t *error)
{
   fe_store_t store;
   bson_iter_t iter;
   bson_t validator;
   bool has_validator = false;
   const char *level = NULL;
   const char *action = NULL;

   write_ops_store(ctx, collection, &store);
   if (bson_iter_init_find(&iter, validation, "validator")) {
      const uint8_t *data;
      uint32_t len;
      bson_iter_document(&iter, &len, &data);
      has_validator = bson_init_static(&validator, data, len);
   }
   if (bson_iter_init_find(&iter, validation, "validationLevel")) {
      level = bson_iter_utf8(&iter, NULL);
   }
   if (bson_iter_init_find(&iter, validation, "validationAction")) {
      action = bson_iter_utf8(&iter, NULL);
   }
   return validators_set(&store, has_validator ? &validator : NULL, level, action, error);
}

static bool
read_options(const fe_ctx_t *ctx, const char *collection, bool *exists, bson_t *options,
             fe_error_t *error)
{
   ferret_ns_t ns = {.db = ctx->db, .collection = collection};
   ferret_error_t berror = {0};
   ferret_status_t status =
      ctx->methods->collection_options(ctx->session, &ns, copy_options, options, &berror);

   *exists = status == FERRET_OK;
   if (status == FERRET_OK || status == FERRET_ERR_NAMESPACE_NOT_FOUND) {
      return true;
   }
   return error_set_from_backend(error, ctx->server->backend_name, status, &berror);
}

static void
copy_options(void *ctx, const uint8_t *bson, size_t len)
{
   bson_t *out = ctx;
   bson_t stored;
   if (bson && len >= 5 && bson_init_static(&stored, bson, len)) {
      bson_destroy(out);
      bson_copy_to(&stored, out);
   }
}

/* The arguments any command may carry, which are never collMod options. */
static bool
is_generic_argument(const char *key)
{
   static const char *const generic[] = {
      "$db",         "$readPreference", "$clusterTime",
      "lsid",        "comment",         "maxTimeMS",
      "apiVersion",  "apiStrict",       "apiDeprecationErrors",
      "readConcern", "writeConcern",
   };
   for (size_t i = 0; i < sizeof generic / sizeof generic[0]; i++) {
      if (strcmp(generic[i], key) == 0) {
         return true;
      }
   }
   return false;
}
