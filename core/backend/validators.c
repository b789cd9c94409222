/*
 * validators.c: schema validation options, their storage beside the backend's collection
 * options, the per-worker cache of compiled validators and the check a write makes (interface
 * in validators.h).
 */
#include "backend/validators.h"

#include <stdatomic.h>

#include <stdlib.h>
#include <string.h>

#include "server/log.h"

/* The keys the override document and the options share. */
static const char *const option_keys[] = {"validator", "validationLevel", "validationAction"};

/* ---- options ---- */
static void catalog_store(const fe_store_t *store, fe_store_t *out);
static bool load_override(const fe_store_t *store, bson_t **doc, fe_error_t *error);
static void copy_options(void *ctx, const uint8_t *bson, size_t len);
static bool check_query_features(const bson_t *query, int depth, fe_error_t *error);
static bool compile_validator(const bson_t *options, fe_validator_t **out, fe_error_t *error);
static void validator_destroy(fe_validator_t *validator);

/* ---- cache ---- */
static void cache_key(const fe_store_t *store, char *key, size_t size);
static bool cache_slot(const fe_store_t *store, size_t *out, fe_error_t *error);

bool
validators_check_options(const bson_t *options, fe_error_t *error)
{
   bson_iter_t it;
   fe_validator_t *compiled = NULL;

   if (bson_iter_init_find(&it, options, "validator") && !BSON_ITER_HOLDS_DOCUMENT(&it)) {
      return error_set(error, FE_TypeMismatch,
                       "BSON field 'create.validator' is the wrong type '%s', expected type "
                       "'object'",
                       bson_iter_type(&it) == BSON_TYPE_ARRAY ? "array" : "scalar");
   }
   if (bson_iter_init_find(&it, options, "validationLevel")) {
      const char *level = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : NULL;
      if (!level) {
         return error_set(error, FE_TypeMismatch, "'validationLevel' must be a string");
      }
      if (strcmp(level, "off") != 0 && strcmp(level, "strict") != 0 &&
          strcmp(level, "moderate") != 0) {
         return error_set(error, FE_BadValue,
                          "Enumeration value '%s' for field 'validationLevel' is not a valid "
                          "value.",
                          level);
      }
   }
   if (bson_iter_init_find(&it, options, "validationAction")) {
      const char *action = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : NULL;
      if (!action) {
         return error_set(error, FE_TypeMismatch, "'validationAction' must be a string");
      }
      if (strcmp(action, "error") != 0 && strcmp(action, "warn") != 0 &&
          strcmp(action, "errorAndLog") != 0) {
         return error_set(error, FE_BadValue,
                          "Enumeration value '%s' for field 'validationAction' is not a valid "
                          "value.",
                          action);
      }
   }
   if (!compile_validator(options, &compiled, error)) {
      return false;
   }
   validator_destroy(compiled);
   return true;
}

bool
validators_collection_options(const fe_store_t *store, bson_t *options, bool *exists,
                              fe_error_t *error)
{
   ferret_error_t berror = {0};
   ferret_status_t status;
   bson_t *override = NULL;
   bson_t merged = BSON_INITIALIZER;
   bson_iter_t it;

   if (exists) {
      *exists = true;
   }
   status = store->methods->collection_options(store->session, &store->ns, copy_options, options,
                                               &berror);
   if (status == FERRET_ERR_NAMESPACE_NOT_FOUND) {
      if (exists) {
         *exists = false;
      }
      return true;
   }
   if (status != FERRET_OK) {
      return error_set_from_backend(error, store->backend_name, status, &berror);
   }
   if (!load_override(store, &override, error)) {
      return false;
   }
   if (!override) {
      return true;
   }
   /* The backend's options without the validation ones, then the override's. */
   bson_iter_init(&it, options);
   while (bson_iter_next(&it)) {
      bool replaced = false;
      for (size_t i = 0; i < sizeof option_keys / sizeof option_keys[0]; i++) {
         replaced = replaced || strcmp(bson_iter_key(&it), option_keys[i]) == 0;
      }
      if (!replaced) {
         bson_append_iter(&merged, bson_iter_key(&it), -1, &it);
      }
   }
   for (size_t i = 0; i < sizeof option_keys / sizeof option_keys[0]; i++) {
      if (bson_iter_init_find(&it, override, option_keys[i])) {
         bson_append_iter(&merged, option_keys[i], -1, &it);
      }
   }
   bson_reinit(options);
   bson_concat(options, &merged);
   bson_destroy(&merged);
   bson_destroy(override);
   return true;
}

bool
validators_set(const fe_store_t *store, const bson_t *validator, const char *level,
               const char *action, fe_error_t *error)
{
   fe_store_t catalog;
   bson_t options = BSON_INITIALIZER;
   bson_t doc = BSON_INITIALIZER;
   bson_t *old = NULL;
   bson_iter_t it;
   bool ok = false;

   if (!validators_collection_options(store, &options, NULL, error) ||
       !load_override(store, &old, error)) {
      goto done;
   }
   BSON_APPEND_UTF8(&doc, "_id", store->ns.collection);
   if (validator) {
      BSON_APPEND_DOCUMENT(&doc, "validator", validator);
   } else if (bson_iter_init_find(&it, &options, "validator")) {
      bson_append_iter(&doc, "validator", -1, &it);
   }
   if (level) {
      BSON_APPEND_UTF8(&doc, "validationLevel", level);
   } else if (bson_iter_init_find(&it, &options, "validationLevel")) {
      bson_append_iter(&doc, "validationLevel", -1, &it);
   }
   if (action) {
      BSON_APPEND_UTF8(&doc, "validationAction", action);
   } else if (bson_iter_init_find(&it, &options, "validationAction")) {
      bson_append_iter(&doc, "validationAction", -1, &it);
   }
   catalog_store(store, &catalog);
   if (old) {
      bool replaced = false;
      if (!generic_replace(&catalog, old, &doc, &replaced, error)) {
         goto done;
      }
      if (!replaced) {
         error_set(error, FE_WriteConflict, "collMod conflicted with a concurrent collMod");
         goto done;
      }
   } else {
      const bson_t *docs[1] = {&doc};
      size_t inserted = 0;
      ptrdiff_t duplicate = -1;
      if (!generic_insert(&catalog, docs, 1, &inserted, &duplicate, error)) {
         if (duplicate >= 0) {
            error_set(error, FE_WriteConflict, "collMod conflicted with a concurrent collMod");
         }
         goto done;
      }
   }
   ok = true;

done:
   if (store->validator_cache) {
      validators_cache_bump(store->validator_cache);
   }
   if (old) {
      bson_destroy(old);
   }
   bson_destroy(&options);
   bson_destroy(&doc);
   return ok;
}

bool
validators_forget(const fe_store_t *store, fe_error_t *error)
{
   fe_store_t catalog;
   bson_t *old = NULL;
   bool deleted = false;
   bool ok;

   if (!load_override(store, &old, error)) {
      return false;
   }
   catalog_store(store, &catalog);
   ok = !old || generic_delete(&catalog, old, &deleted, error);
   if (old) {
      bson_destroy(old);
   }
   if (store->validator_cache) {
      validators_cache_bump(store->validator_cache);
   }
   return ok;
}

bool
validators_rename(const fe_store_t *from, const fe_store_t *to, fe_error_t *error)
{
   fe_store_t catalog;
   bson_t *old = NULL;
   bson_t moved = BSON_INITIALIZER;
   bson_iter_t it;
   bool ok = false;

   if (!validators_forget(to, error) || !load_override(from, &old, error)) {
      goto done;
   }
   if (old) {
      const bson_t *docs[1] = {&moved};
      size_t inserted = 0;
      ptrdiff_t duplicate = -1;
      bool deleted = false;
      BSON_APPEND_UTF8(&moved, "_id", to->ns.collection);
      bson_iter_init(&it, old);
      while (bson_iter_next(&it)) {
         if (strcmp(bson_iter_key(&it), "_id") != 0) {
            bson_append_iter(&moved, bson_iter_key(&it), -1, &it);
         }
      }
      catalog_store(to, &catalog);
      if (!generic_insert(&catalog, docs, 1, &inserted, &duplicate, error)) {
         goto done;
      }
      catalog_store(from, &catalog);
      if (!generic_delete(&catalog, old, &deleted, error)) {
         goto done;
      }
   }
   ok = true;

done:
   if (from->validator_cache) {
      validators_cache_bump(from->validator_cache);
   }
   if (old) {
      bson_destroy(old);
   }
   bson_destroy(&moved);
   return ok;
}

bool
validators_get(const fe_store_t *store, const fe_validator_t **validator, fe_error_t *error)
{
   size_t slot;

   *validator = NULL;
   if (!store->validator_cache || !store->validator_cache->generation || store->bypass_validation ||
       strncmp(store->ns.collection, "__ferret.", 9) == 0) {
      return true;
   }
   if (!cache_slot(store, &slot, error)) {
      return false;
   }
   *validator = store->validator_cache->slots[slot].validator;
   return true;
}

bool
validators_default_collation(const fe_store_t *store, const bson_t **collation, bool *cached,
                             fe_error_t *error)
{
   size_t slot;

   *collation = NULL;
   *cached = false;
   if (!store->validator_cache || !store->validator_cache->generation ||
       strncmp(store->ns.collection, "__ferret.", 9) == 0) {
      return true;
   }
   if (!cache_slot(store, &slot, error)) {
      return false;
   }
   *collation = store->validator_cache->slots[slot].collation;
   *cached = true;
   return true;
}

/* The index of store->ns's slot in the worker's cache, loaded from the collection's options
 * when absent or older than the generation. */
static bool
cache_slot(const fe_store_t *store, size_t *out, fe_error_t *error)
{
   fe_validator_cache_t *cache = store->validator_cache;
   char key[512];
   uint64_t generation;
   size_t slot = VALIDATORS_CACHE_SLOTS;
   bson_t options = BSON_INITIALIZER;
   fe_validator_t *compiled = NULL;
   bson_t *collation = NULL;
   bson_iter_t it;
   bool ok = false;

   /* The generation is read before the options, so a change racing this load leaves a slot
    * that the change's bump invalidates. */
   generation = atomic_load(cache->generation);
   cache_key(store, key, sizeof key);
   for (size_t i = 0; i < VALIDATORS_CACHE_SLOTS; i++) {
      if (cache->slots[i].ns && strcmp(cache->slots[i].ns, key) == 0) {
         if (cache->slots[i].generation == generation) {
            *out = i;
            return true;
         }
         slot = i;
         break;
      }
   }
   if (!validators_collection_options(store, &options, NULL, error) ||
       !compile_validator(&options, &compiled, error)) {
      goto done;
   }
   if (bson_iter_init_find(&it, &options, "collation") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
      const uint8_t *data;
      uint32_t len;
      bson_iter_document(&it, &len, &data);
      collation = bson_new_from_data(data, len);
   }
   if (slot == VALIDATORS_CACHE_SLOTS) {
      slot = cache->next;
      cache->next = (cache->next + 1) % VALIDATORS_CACHE_SLOTS;
      free(cache->slots[slot].ns);
      cache->slots[slot].ns = NULL;
   }
   validator_destroy(cache->slots[slot].validator);
   if (cache->slots[slot].collation) {
      bson_destroy(cache->slots[slot].collation);
   }
   cache->slots[slot].validator = compiled;
   cache->slots[slot].collation = collation;
   cache->slots[slot].generation = generation;
   if (!cache->slots[slot].ns && !(cache->slots[slot].ns = strdup(key))) {
      /* Without its key the slot can never be found again: empty it. */
      validator_destroy(cache->slots[slot].validator);
      cache->slots[slot].validator = NULL;
      bson_destroy(cache->slots[slot].collation);
      cache->slots[slot].collation = NULL;
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      compiled = NULL;
      collation = NULL;
      goto done;
   }
   *out = slot;
   compiled = NULL;
   collation = NULL;
   ok = true;

done:
   validator_destroy(compiled);
   if (collation) {
      bson_destroy(collation);
   }
   bson_destroy(&options);
   return ok;
}

bool
validators_check(const fe_validator_t *validator, const bson_t *old_doc, const bson_t *new_doc,
                 bson_t *info, fe_error_t *error)
{
   bson_t err_info, details;
   bson_iter_t id;

   if (!validator || filter_match(validator->filter, new_doc, NULL)) {
      return true;
   }
   if (old_doc && validator->level == VALIDATORS_MODERATE &&
       !filter_match(validator->filter, old_doc, NULL)) {
      return true; /* moderate: an invalid document may stay invalid */
   }
   if (validator->warn) {
      char *json = bson_as_relaxed_extended_json(new_doc, NULL);
      log_write(LOG_WARNING, "validation", "Document would fail validation: %s",
                json ? json : "(unprintable)");
      bson_free(json);
      return true;
   }
   BSON_APPEND_DOCUMENT_BEGIN(info, "errInfo", &err_info);
   if (bson_iter_init_find(&id, new_doc, "_id")) {
      bson_append_iter(&err_info, "failingDocumentId", -1, &id);
   }
   BSON_APPEND_DOCUMENT_BEGIN(&err_info, "details", &details);
   if (!filter_jsonschema_explain(validator->filter, new_doc, &details)) {
      BSON_APPEND_UTF8(&details, "operatorName", "$and");
      BSON_APPEND_UTF8(&details, "reason", "the document did not match the validator");
   }
   bson_append_document_end(&err_info, &details);
   bson_append_document_end(info, &err_info);
   return error_set(error, FE_DocumentValidationFailure, "Document failed validation");
}

void
validators_cache_bump(fe_validator_cache_t *cache)
{
   if (cache && cache->generation) {
      atomic_fetch_add(cache->generation, 1);
   }
}

void
validators_cache_destroy(fe_validator_cache_t *cache)
{
   for (size_t i = 0; i < VALIDATORS_CACHE_SLOTS; i++) {
      free(cache->slots[i].ns);
      cache->slots[i].ns = NULL;
      validator_destroy(cache->slots[i].validator);
      cache->slots[i].validator = NULL;
      if (cache->slots[i].collation) {
         bson_destroy(cache->slots[i].collation);
         cache->slots[i].collation = NULL;
      }
   }
}

/* ---- helpers ---- */

static void
catalog_store(const fe_store_t *store, fe_store_t *out)
{
   *out = *store;
   out->ns.collection = VALIDATORS_CATALOG;
}

/* The override document of store->ns, or *doc NULL when collMod never changed it. */
static bool
load_override(const fe_store_t *store, bson_t **doc, fe_error_t *error)
{
   fe_store_t catalog;
   bson_t key = BSON_INITIALIZER;
   bool ok;

   catalog_store(store, &catalog);
   BSON_APPEND_UTF8(&key, "_id", store->ns.collection);
   ok = generic_reload(&catalog, &key, doc, error);
   bson_destroy(&key);
   return ok;
}

static void
copy_options(void *ctx, const uint8_t *bson, size_t len)
{
   bson_t *out = ctx;
   bson_t stored;
   if (bson && len >= 5 && bson_init_static(&stored, bson, len)) {
      bson_reinit(out);
      bson_concat(out, &stored);
   }
}

/* mongod refuses these in a validator (they need an index or JavaScript). */
static bool
check_query_features(const bson_t *query, int depth, fe_error_t *error)
{
   static const char *const refused[] = {"$near", "$nearSphere", "$geoNear", "$text", "$where"};
   bson_iter_t it;

   if (depth > 100 || !bson_iter_init(&it, query)) {
      return true;
   }
   while (bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
         if (strcmp(key, refused[i]) == 0) {
            return error_set(error, FE_QueryFeatureNotAllowed, "%s is not allowed in this context",
                             key);
         }
      }
      if (strcmp(key, "$jsonSchema") != 0 && strcmp(key, "$expr") != 0 &&
          (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it))) {
         const uint8_t *data;
         uint32_t len;
         bson_t child;
         if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_iter_document(&it, &len, &data);
         } else {
            bson_iter_array(&it, &len, &data);
         }
         if (bson_init_static(&child, data, len) &&
             !check_query_features(&child, depth + 1, error)) {
            return false;
         }
      }
   }
   return true;
}

/* The validator of options, or *out NULL when there is none (or an empty one). */
static bool
compile_validator(const bson_t *options, fe_validator_t **out, fe_error_t *error)
{
   bson_iter_t it;
   bson_t query;
   const uint8_t *data;
   uint32_t len;
   fe_validator_t *validator;

   *out = NULL;
   if (!bson_iter_init_find(&it, options, "validator") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
      return true;
   }
   bson_iter_document(&it, &len, &data);
   if (!bson_init_static(&query, data, len) || bson_empty(&query)) {
      return true;
   }
   if (!check_query_features(&query, 0, error)) {
      return false;
   }
   validator = bson_malloc0(sizeof *validator);
   validator->filter = filter_compile(&query, error);
   if (!validator->filter) {
      bson_free(validator);
      return false;
   }
   if (bson_iter_init_find(&it, options, "validationLevel") && BSON_ITER_HOLDS_UTF8(&it)) {
      const char *level = bson_iter_utf8(&it, NULL);
      validator->level = strcmp(level, "off") == 0        ? VALIDATORS_OFF
                         : strcmp(level, "moderate") == 0 ? VALIDATORS_MODERATE
                                                          : VALIDATORS_STRICT;
   }
   if (bson_iter_init_find(&it, options, "validationAction") && BSON_ITER_HOLDS_UTF8(&it)) {
      validator->warn = strcmp(bson_iter_utf8(&it, NULL), "warn") == 0;
   }
   if (validator->level == VALIDATORS_OFF) {
      validator_destroy(validator);
      return true;
   }
   *out = validator;
   return true;
}

static void
validator_destroy(fe_validator_t *validator)
{
   if (validator) {
      filter_destroy(validator->filter);
      bson_free(validator);
   }
}

static void
cache_key(const fe_store_t *store, char *key, size_t size)
{
   snprintf(key, size, "%s\x1f%s", store->ns.db, store->ns.collection);
}
