/*
 * indexes.c: secondary indexes on top of the required backend methods
 * (docs/rfc/0007-indexes.md; interface in indexes.h).
 *
 * A unique index is enforced through a hidden entries collection keyed by the index key: the
 * backend's _id uniqueness makes inserting an entry the uniqueness check. A document write and
 * its entry writes share one backend transaction where the backend has them. Without
 * transactions the writes are ordered so that a failure leaves at worst a stale entry (one
 * whose document no longer has that key), and an entry found in the way is verified against
 * its document before it is trusted.
 */
#include "backend/indexes.h"

#include <stdatomic.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bson/compare.h"
#include "bson/idkey.h"
#include "query/sort.h"
#include "query/text.h"

/* Retries of an entry insert that found a stale entry in its way. */
#define ENTRY_ATTEMPTS 4

typedef enum entry_result {
   ENTRY_ADDED,   /* we inserted it */
   ENTRY_PRESENT, /* it was already there, for this document */
   ENTRY_DUPLICATE,
} entry_result_t;

/* One entry written during a document write, to undo if the write fails. */
typedef struct entry_undo {
   const fe_index_t *index; /* borrowed from the set */
   bson_t *entry;           /* owned */
} entry_undo_t;

typedef struct undo_list {
   entry_undo_t *items; /* owned */
   size_t count;
   size_t capacity;
} undo_list_t;

typedef struct key_values {
   bson_t values; /* an array of the values one key field has */
   uint32_t count;
   bool present; /* the field exists (sparse indexes skip documents where none does) */
} key_values_t;

/* ---- keys ---- */
static bool cache_knows_none(const fe_store_t *store, uint64_t *generation);
static void cache_remember_none(const fe_store_t *store, uint64_t generation);
static void cache_bump(const fe_store_t *store);
static bool collect_value(const fe_path_hit_t *hit, void *ctx);
static bool value_idkey(const bson_t *doc, uint8_t **key, size_t *len);
static bool keys_contain(bson_t *const *keys, size_t count, const bson_t *key);
static void append_key_name(char *buf, size_t size, size_t *used, const char *text);

/* ---- entries ---- */
static void entries_store(const fe_store_t *store, const fe_index_t *index, fe_store_t *out);
static void entry_doc(const bson_t *key, const bson_t *doc, bson_t *out);
static bool entry_add(const fe_store_t *store, const fe_index_t *index, const bson_t *key,
                      const bson_t *doc, entry_result_t *result, fe_error_t *error);
static bool entry_remove(const fe_store_t *store, const fe_index_t *index, const bson_t *entry,
                         fe_error_t *error);
static bool add_doc_entries(const fe_store_t *store, const fe_index_set_t *set, const bson_t *doc,
                            const bson_t *old_doc, undo_list_t *undo, bson_t *dup, bool *duplicate,
                            fe_error_t *error);
static bool remove_doc_entries(const fe_store_t *store, const fe_index_set_t *set,
                               const bson_t *doc, const bson_t *new_doc, fe_error_t *error);
static void undo_entries(const fe_store_t *store, undo_list_t *undo);
static void undo_clear(undo_list_t *undo);
static bool undo_push(undo_list_t *undo, const fe_index_t *index, bson_t *entry);
static void duplicate_error(const fe_store_t *store, const fe_index_t *index, const bson_t *key,
                            bson_t *dup, fe_error_t *error);

/* ---- transactions ---- */
static bool txn_begin(const fe_store_t *store, bool *active, fe_error_t *error);
static bool txn_commit(const fe_store_t *store, bool *active, fe_error_t *error);
static void txn_abort(const fe_store_t *store, bool *active);

/* ---- catalog ---- */
static void catalog_store(const fe_store_t *store, fe_store_t *out);
static void catalog_doc(const bson_oid_t *id, const char *collection, const bson_t *spec,
                        const char *entries, bson_t *out);
static bool catalog_collect(const fe_store_t *store, bson_t ***docs, size_t *count,
                            fe_error_t *error);
static bool drop_collection(const fe_store_t *store, const char *collection, fe_error_t *error);
static bool backend_failed(const fe_store_t *store, ferret_status_t status,
                           const ferret_error_t *backend_error, fe_error_t *error);

/* Zeroed memory for structs holding a bson_t, which demands more alignment than calloc
 * promises. size is a multiple of alignment (it is count * sizeof of the struct). */
static void *
zalloc_aligned(size_t alignment, size_t size)
{
   void *p = aligned_alloc(alignment, size);
   if (p) {
      memset(p, 0, size);
   }
   return p;
}

bool
indexes_is_hidden(const char *collection)
{
   return collection &&
          strncmp(collection, INDEXES_HIDDEN_PREFIX, sizeof INDEXES_HIDDEN_PREFIX - 1) == 0;
}

/* ---------------------------------------------------------------------------------------------
 * Specifications
 * ------------------------------------------------------------------------------------------- */

static bool
truthy(const bson_iter_t *iter)
{
   return bson_iter_as_bool(iter);
}

static bool
check_key(const bson_t *key, bool unique, fe_error_t *error)
{
   bson_iter_t iter;
   int fields = 0;

   if (!bson_iter_init(&iter, key)) {
      return error_set(error, FE_CannotCreateIndex, "malformed index key pattern");
   }
   while (bson_iter_next(&iter)) {
      const char *field = bson_iter_key(&iter);
      fields++;
      if (field[0] == '\0' || field[0] == '$' || strstr(field, "..") || field[0] == '.' ||
          field[strlen(field) - 1] == '.') {
         if (strcmp(field, "$**") == 0 || strstr(field, ".$**")) {
            return error_set(error, FE_CannotCreateIndex, "wildcard indexes are not supported");
         }
         return error_set(error, FE_CannotCreateIndex,
                          "Index key contains an illegal field name: '%s'", field);
      }
      if (BSON_ITER_HOLDS_NUMBER(&iter) || BSON_ITER_HOLDS_DECIMAL128(&iter)) {
         double value = BSON_ITER_HOLDS_DECIMAL128(&iter) ? 1.0 : bson_iter_as_double(&iter);
         if (value == 0.0 || isnan(value)) {
            return error_set(error, FE_CannotCreateIndex,
                             "Values in the index key pattern can't be 0 or NaN: '%s'", field);
         }
      } else if (BSON_ITER_HOLDS_UTF8(&iter)) {
         const char *type = bson_iter_utf8(&iter, NULL);
         if (strcmp(type, "hashed") == 0) {
            if (unique) {
               return error_set(error, FE_CannotCreateIndex,
                                "Currently hashed indexes cannot guarantee uniqueness. Use a "
                                "regular index.");
            }
         } else if (strcmp(type, "text") == 0 || strcmp(type, "2d") == 0 ||
                    strcmp(type, "2dsphere") == 0 || strcmp(type, "geoHaystack") == 0) {
            return error_set(error, FE_CannotCreateIndex, "'%s' indexes are not supported", type);
         } else {
            return error_set(error, FE_CannotCreateIndex, "Unknown index plugin '%s'", type);
         }
      } else {
         return error_set(error, FE_CannotCreateIndex,
                          "Values in v:2 index key pattern cannot be of type %s. Only numbers "
                          "> 0, numbers < 0, and strings are allowed.",
                          BSON_ITER_HOLDS_DOCUMENT(&iter) ? "object"
                          : BSON_ITER_HOLDS_ARRAY(&iter)  ? "array"
                          : BSON_ITER_HOLDS_BOOL(&iter)   ? "bool"
                          : BSON_ITER_HOLDS_NULL(&iter)   ? "null"
                                                          : "this type");
      }
   }
   if (fields == 0) {
      return error_set(error, FE_CannotCreateIndex, "Index keys cannot be empty.");
   }
   if (fields > 32) {
      return error_set(error, FE_CannotCreateIndex,
                       "Index key pattern has %d fields; the limit is 32", fields);
   }
   return true;
}

/* The name MongoDB generates: each field and its value joined by '_'. */
static void
default_name(const bson_t *key, char *buf, size_t size)
{
   bson_iter_t iter;
   size_t used = 0;

   buf[0] = '\0';
   if (!bson_iter_init(&iter, key)) {
      return;
   }
   while (bson_iter_next(&iter)) {
      char value[64];
      if (used > 0) {
         append_key_name(buf, size, &used, "_");
      }
      append_key_name(buf, size, &used, bson_iter_key(&iter));
      append_key_name(buf, size, &used, "_");
      if (BSON_ITER_HOLDS_UTF8(&iter)) {
         append_key_name(buf, size, &used, bson_iter_utf8(&iter, NULL));
         continue;
      }
      if (BSON_ITER_HOLDS_DOUBLE(&iter)) {
         double d = bson_iter_double(&iter);
         if (d == floor(d) && fabs(d) < 1e15) {
            snprintf(value, sizeof value, "%lld", (long long) d);
         } else {
            snprintf(value, sizeof value, "%g", d);
         }
      } else if (BSON_ITER_HOLDS_DECIMAL128(&iter)) {
         bson_decimal128_t dec;
         char text[BSON_DECIMAL128_STRING];
         bson_iter_decimal128(&iter, &dec);
         bson_decimal128_to_string(&dec, text);
         snprintf(value, sizeof value, "%s", text);
      } else {
         snprintf(value, sizeof value, "%lld", (long long) bson_iter_as_int64(&iter));
      }
      append_key_name(buf, size, &used, value);
   }
}

static void
append_key_name(char *buf, size_t size, size_t *used, const char *text)
{
   size_t len = strlen(text);
   if (*used + len + 1 > size) {
      len = size - *used - 1;
   }
   memcpy(buf + *used, text, len);
   *used += len;
   buf[*used] = '\0';
}

/* The key pattern of the _id index: {_id: <positive number>}. */
static bool
is_id_pattern(const bson_t *key)
{
   bson_iter_t iter;
   return bson_count_keys(key) == 1 && bson_iter_init_find(&iter, key, "_id") &&
          BSON_ITER_HOLDS_NUMBER(&iter) && bson_iter_as_double(&iter) > 0;
}

bool
indexes_ttl_seconds(const bson_iter_t *iter, int32_t *seconds, fe_error_t *error)
{
   double value;

   *seconds = 0;
   if (BSON_ITER_HOLDS_DECIMAL128(iter)) {
      bson_decimal128_t dec;
      char text[BSON_DECIMAL128_STRING];
      bson_iter_decimal128(iter, &dec);
      bson_decimal128_to_string(&dec, text);
      value = strcmp(text, "NaN") == 0 ? NAN : strtod(text, NULL);
   } else if (BSON_ITER_HOLDS_NUMBER(iter)) {
      value =
         BSON_ITER_HOLDS_DOUBLE(iter) ? bson_iter_double(iter) : (double) bson_iter_as_int64(iter);
   } else {
      return error_set(error, FE_CannotCreateIndex,
                       "TTL index 'expireAfterSeconds' option must be numeric, but received a "
                       "type of '%s'",
                       BSON_ITER_HOLDS_UTF8(iter)       ? "string"
                       : BSON_ITER_HOLDS_BOOL(iter)     ? "bool"
                       : BSON_ITER_HOLDS_NULL(iter)     ? "null"
                       : BSON_ITER_HOLDS_DOCUMENT(iter) ? "object"
                       : BSON_ITER_HOLDS_ARRAY(iter)    ? "array"
                                                        : "non-numeric");
   }
   if (isnan(value)) {
      return error_set(error, FE_CannotCreateIndex,
                       "TTL index 'expireAfterSeconds' option must not be NaN");
   }
   if (value < 0) {
      return error_set(error, FE_CannotCreateIndex,
                       "TTL index 'expireAfterSeconds' option cannot be less than 0");
   }
   value = trunc(value);
   if (value > (double) INT32_MAX) {
      return error_set(error, FE_CannotCreateIndex,
                       "TTL index 'expireAfterSeconds' option must be within an acceptable "
                       "range, try a lower number");
   }
   *seconds = (int32_t) value;
   return true;
}

bool
indexes_normalize_spec(const bson_t *spec, bson_t *out, fe_error_t *error)
{
   static const char *const allowed[] = {"key",
                                         "name",
                                         "unique",
                                         "sparse",
                                         "hidden",
                                         "partialFilterExpression",
                                         "expireAfterSeconds",
                                         "background",
                                         "v",
                                         "ns",
                                         "collation",
                                         "storageEngine",
                                         NULL};
   bson_iter_t iter;
   bson_t key;
   const char *name = NULL;
   char generated[1024];
   bool has_key = false;
   bool unique = false;
   bson_t options = BSON_INITIALIZER;
   bool ok = false;

   if (text_spec_is_text(spec)) {
      bson_destroy(&options);
      return text_normalize_spec(spec, out, error);
   }
   bson_init(out);
   bson_init(&key);
   if (!bson_iter_init(&iter, spec)) {
      error_set(error, FE_BadValue, "malformed index specification");
      goto done;
   }
   while (bson_iter_next(&iter)) {
      const char *field = bson_iter_key(&iter);
      bool known = false;
      for (size_t i = 0; allowed[i]; i++) {
         known = known || strcmp(field, allowed[i]) == 0;
      }
      if (!known) {
         error_set(error, FE_InvalidIndexSpecificationOption,
                   "The field '%s' is not valid for an index specification", field);
         goto done;
      }
      if (strcmp(field, "key") == 0) {
         const uint8_t *data;
         uint32_t len;
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            error_set(error, FE_TypeMismatch, "The 'key' field must be an object, not %s",
                      BSON_ITER_HOLDS_ARRAY(&iter) ? "an array" : "this type");
            goto done;
         }
         bson_iter_document(&iter, &len, &data);
         bson_destroy(&key);
         if (!bson_init_static(&key, data, len)) {
            bson_init(&key);
            error_set(error, FE_BadValue, "malformed index key pattern");
            goto done;
         }
         has_key = true;
      } else if (strcmp(field, "name") == 0) {
         if (!BSON_ITER_HOLDS_UTF8(&iter)) {
            error_set(error, FE_TypeMismatch, "The 'name' field must be a string");
            goto done;
         }
         name = bson_iter_utf8(&iter, NULL);
         if (name[0] == '\0') {
            error_set(error, FE_CannotCreateIndex, "The index name cannot be empty");
            goto done;
         }
      } else if (strcmp(field, "unique") == 0 || strcmp(field, "sparse") == 0 ||
                 strcmp(field, "hidden") == 0) {
         if (!BSON_ITER_HOLDS_BOOL(&iter) && !BSON_ITER_HOLDS_NUMBER(&iter)) {
            error_set(error, FE_TypeMismatch, "The field '%s' must be a boolean", field);
            goto done;
         }
         /* Only true options are kept, so {unique: false} and no option are one index. */
         if (truthy(&iter)) {
            BSON_APPEND_BOOL(&options, field, true);
            unique = unique || strcmp(field, "unique") == 0;
         }
      } else if (strcmp(field, "partialFilterExpression") == 0) {
         const uint8_t *data;
         uint32_t len;
         bson_t filter;
         fe_filter_t *compiled;
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            error_set(error, FE_TypeMismatch,
                      "The field 'partialFilterExpression' must be an object");
            goto done;
         }
         bson_iter_document(&iter, &len, &data);
         if (!bson_init_static(&filter, data, len) ||
             !(compiled = filter_compile(&filter, error))) {
            goto done;
         }
         filter_destroy(compiled);
         bson_append_iter(&options, field, -1, &iter);
      } else if (strcmp(field, "expireAfterSeconds") == 0) {
         int32_t seconds;
         if (!indexes_ttl_seconds(&iter, &seconds, error)) {
            goto done;
         }
         /* Stored as the whole seconds, as mongod 7 stores them (10000.7 lists as 10000). */
         BSON_APPEND_INT32(&options, field, seconds);
      } else if (strcmp(field, "v") == 0) {
         if (!BSON_ITER_HOLDS_NUMBER(&iter) ||
             (bson_iter_as_int64(&iter) != 1 && bson_iter_as_int64(&iter) != 2)) {
            error_set(error, FE_CannotCreateIndex,
                      "Invalid index specification; 'v' must be 1 or 2");
            goto done;
         }
      } else if (strcmp(field, "collation") == 0) {
         fe_collator_t *collator = NULL;
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            error_set(error, FE_TypeMismatch, "The field 'collation' must be an object");
            goto done;
         }
         if (!collation_parse_iter(&iter, "collation", &collator, error)) {
            goto done;
         }
         /* Stored as mongod lists it: the full specification; none for simple. */
         if (collator) {
            bson_t full;
            BSON_APPEND_DOCUMENT_BEGIN(&options, "collation", &full);
            collation_append_spec(collator, &full);
            bson_append_document_end(&options, &full);
            collation_destroy(collator);
         }
      }
      /* background and ns are accepted and dropped (MongoDB ignores them since 4.2);
       * storageEngine options mean nothing to our backends. */
   }
   if (!has_key) {
      error_set(error, FE_FailedToParse,
                "The 'key' field is a required property of an index specification");
      goto done;
   }
   if (!check_key(&key, unique, error)) {
      goto done;
   }
   if (bson_has_field(&options, "expireAfterSeconds") && bson_count_keys(&key) != 1) {
      error_set(error, FE_CannotCreateIndex,
                "TTL indexes are single-field indexes, compound indexes do not support TTL");
      goto done;
   }
   if (bson_has_field(&options, "expireAfterSeconds") && is_id_pattern(&key)) {
      error_set(error, FE_InvalidIndexSpecificationOption,
                "The field 'expireAfterSeconds' is not valid for an _id index specification");
      goto done;
   }
   if (!name) {
      default_name(&key, generated, sizeof generated);
      name = generated;
   }
   BSON_APPEND_INT32(out, "v", 2);
   BSON_APPEND_DOCUMENT(out, "key", &key);
   BSON_APPEND_UTF8(out, "name", name);
   bson_concat(out, &options);
   ok = true;

done:
   bson_destroy(&options);
   bson_destroy(&key);
   return ok;
}

bool
indexes_index_init(fe_index_t *index, const bson_t *spec, const char *entries, fe_error_t *error)
{
   bson_iter_t iter;
   size_t fields;
   size_t i = 0;

   memset(index, 0, sizeof *index);
   bson_init(&index->spec);
   bson_init(&index->key);
   bson_destroy(&index->spec);
   bson_copy_to(spec, &index->spec);
   if (!bson_iter_init_find(&iter, spec, "key") || !BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      return error_set(error, FE_InternalError, "stored index specification has no key");
   }
   {
      const uint8_t *data;
      uint32_t len;
      bson_t view;
      bson_iter_document(&iter, &len, &data);
      bson_destroy(&index->key);
      bson_init(&index->key);
      if (bson_init_static(&view, data, len)) {
         bson_destroy(&index->key);
         bson_copy_to(&view, &index->key);
      }
   }
   if (!bson_iter_init_find(&iter, spec, "name") || !BSON_ITER_HOLDS_UTF8(&iter)) {
      return error_set(error, FE_InternalError, "stored index specification has no name");
   }
   index->name = bson_strdup(bson_iter_utf8(&iter, NULL));
   if (bson_iter_init_find(&iter, spec, "collation") &&
       !collation_parse_iter(&iter, "collation", &index->collator, error)) {
      return false;
   }
   index->unique = bson_iter_init_find(&iter, spec, "unique") && truthy(&iter);
   index->sparse = bson_iter_init_find(&iter, spec, "sparse") && truthy(&iter);
   if (bson_iter_init_find(&iter, spec, "partialFilterExpression") &&
       BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      const uint8_t *data;
      uint32_t len;
      bson_t filter;
      bson_iter_document(&iter, &len, &data);
      if (!bson_init_static(&filter, data, len) ||
          !(index->partial = filter_compile_collated(&filter, NULL, index->collator, error))) {
         return false;
      }
   }
   fields = bson_count_keys(&index->key);
   index->paths = calloc(fields ? fields : 1, sizeof *index->paths);
   if (!index->paths) {
      return error_set(error, FE_ExceededMemoryLimit, "out of memory");
   }
   if (bson_iter_init(&iter, &index->key)) {
      while (bson_iter_next(&iter) && i < fields) {
         const char *field = bson_iter_key(&iter);
         index->path_count = i + 1;
         if (!path_init(&index->paths[i], field, strlen(field), error)) {
            return false;
         }
         i++;
      }
   }
   index->entries = entries ? bson_strdup(entries) : NULL;
   return true;
}

void
indexes_index_clear(fe_index_t *index)
{
   bson_free(index->name);
   bson_destroy(&index->spec);
   bson_destroy(&index->key);
   for (size_t i = 0; index->paths && i < index->path_count; i++) {
      path_destroy(&index->paths[i]);
   }
   free(index->paths);
   if (index->partial) {
      filter_destroy(index->partial);
   }
   collation_destroy(index->collator);
   bson_free(index->entries);
   memset(index, 0, sizeof *index);
}

void
indexes_set_destroy(fe_index_set_t *set)
{
   for (size_t i = 0; set->items && i < set->count; i++) {
      indexes_index_clear(&set->items[i]);
   }
   free(set->items);
   memset(set, 0, sizeof *set);
}

bool
indexes_same_key(const bson_t *a, const bson_t *b)
{
   bson_iter_t ia, ib;
   if (!bson_iter_init(&ia, a) || !bson_iter_init(&ib, b)) {
      return false;
   }
   for (;;) {
      bool more_a = bson_iter_next(&ia);
      bool more_b = bson_iter_next(&ib);
      if (!more_a || !more_b) {
         return more_a == more_b;
      }
      if (strcmp(bson_iter_key(&ia), bson_iter_key(&ib)) != 0 || !compare_values_equal(&ia, &ib)) {
         return false;
      }
   }
}

/* ---------------------------------------------------------------------------------------------
 * Keys
 * ------------------------------------------------------------------------------------------- */

static bool
collect_value(const fe_path_hit_t *hit, void *ctx)
{
   key_values_t *values = ctx;
   char key[16];
   const char *key_ptr;

   if (hit->whole_array) {
      /* Elements came first; an empty array has none and is indexed as undefined. */
      bson_iter_t child;
      if (bson_iter_recurse(hit->value, &child) && !bson_iter_next(&child)) {
         bson_uint32_to_string(values->count++, &key_ptr, key, sizeof key);
         bson_append_undefined(&values->values, key_ptr, -1);
         values->present = true;
      }
      return false;
   }
   bson_uint32_to_string(values->count++, &key_ptr, key, sizeof key);
   if (hit->value) {
      bson_append_iter(&values->values, key_ptr, -1, hit->value);
      values->present = true;
   } else {
      bson_append_null(&values->values, key_ptr, -1);
   }
   return false;
}

bool
indexes_doc_keys(const fe_index_t *index, const bson_t *doc, bson_t ***keys, size_t *count,
                 fe_error_t *error)
{
   key_values_t *values = NULL;
   bson_iter_t root;
   bson_t **out = NULL;
   size_t wide = SIZE_MAX; /* the one field with several values, if any */
   uint32_t rows = 1;
   bool any_present = false;
   bool ok = false;

   *keys = NULL;
   *count = 0;
   if (index->partial && !filter_match(index->partial, doc, NULL)) {
      return true;
   }
   values = zalloc_aligned(_Alignof(key_values_t),
                           (index->path_count ? index->path_count : 1) * sizeof *values);
   if (!values || !bson_iter_init(&root, doc)) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   for (size_t i = 0; i < index->path_count; i++) {
      bson_init(&values[i].values);
      path_visit(&index->paths[i], 0, &root, PATH_LEAF_ELEMENTS | PATH_LEAF_WHOLE, collect_value,
                 &values[i]);
      if (values[i].count == 0) {
         /* An array along the path with no document elements: as missing. */
         bson_append_null(&values[i].values, "0", 1);
         values[i].count = 1;
      }
      any_present = any_present || values[i].present;
      if (values[i].count > 1) {
         if (wide != SIZE_MAX) {
            error_set(error, FE_CannotIndexParallelArrays, "cannot index parallel arrays [%s] [%s]",
                      index->paths[i].dotted, index->paths[wide].dotted);
            goto done;
         }
         wide = i;
         rows = values[i].count;
      }
   }
   if (index->sparse && !any_present) {
      ok = true;
      goto done;
   }
   out = calloc(rows, sizeof *out);
   if (!out) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   for (uint32_t row = 0; row < rows; row++) {
      bson_t *key = bson_new();
      for (size_t i = 0; i < index->path_count; i++) {
         bson_iter_t iter;
         char number[16];
         const char *number_ptr;
         bson_uint32_to_string(i == wide ? row : 0, &number_ptr, number, sizeof number);
         if (bson_iter_init_find(&iter, &values[i].values, number_ptr)) {
            collation_append_key_value(index->collator, key, index->paths[i].dotted, &iter);
         }
      }
      if (keys_contain(out, *count, key)) {
         bson_destroy(key);
         continue;
      }
      out[(*count)++] = key;
   }
   *keys = out;
   out = NULL;
   ok = true;

done:
   for (size_t i = 0; values && i < index->path_count; i++) {
      bson_destroy(&values[i].values);
   }
   free(values);
   if (out) {
      generic_free_documents(out, *count);
      *count = 0;
   }
   return ok;
}

/* The canonical key of a whole document, as if it were an _id value. */
static bool
value_idkey(const bson_t *doc, uint8_t **key, size_t *len)
{
   bson_t wrapper = BSON_INITIALIZER;
   bson_iter_t iter;
   bool ok;

   BSON_APPEND_DOCUMENT(&wrapper, "k", doc);
   ok = bson_iter_init_find(&iter, &wrapper, "k") && idkey_encode(&iter, key, len);
   bson_destroy(&wrapper);
   return ok;
}

static bool
keys_contain(bson_t *const *keys, size_t count, const bson_t *key)
{
   uint8_t *want = NULL;
   size_t want_len = 0;
   bool found = false;

   if (!value_idkey(key, &want, &want_len)) {
      return false;
   }
   for (size_t i = 0; i < count && !found; i++) {
      uint8_t *have = NULL;
      size_t have_len = 0;
      if (value_idkey(keys[i], &have, &have_len)) {
         found = have_len == want_len && memcmp(have, want, want_len) == 0;
      }
      bson_free(have);
   }
   bson_free(want);
   return found;
}

/* ---------------------------------------------------------------------------------------------
 * Entries
 * ------------------------------------------------------------------------------------------- */

static void
entries_store(const fe_store_t *store, const fe_index_t *index, fe_store_t *out)
{
   *out = *store;
   out->ns.collection = index->entries;
}

/* {_id: key, doc: <doc's _id>}: built the same way every time, so that a compare-and-swap
 * delete with these bytes removes exactly the entry this document wrote. */
static void
entry_doc(const bson_t *key, const bson_t *doc, bson_t *out)
{
   bson_iter_t id;
   bson_init(out);
   BSON_APPEND_DOCUMENT(out, "_id", key);
   if (bson_iter_init_find(&id, doc, "_id")) {
      bson_append_iter(out, "doc", 3, &id);
   }
}

static bool
same_id(const bson_t *a, const bson_t *b, const char *a_field)
{
   bson_iter_t ia, ib;
   return bson_iter_init_find(&ia, a, a_field) && bson_iter_init_find(&ib, b, "_id") &&
          bson_iter_type(&ia) == bson_iter_type(&ib) && compare_values_equal(&ia, &ib);
}

/*
 * Inserts the entry of key for doc. An entry already there is trusted only after its document
 * is reloaded and still has this key: otherwise it is stale (left by a write that failed
 * half-way on a backend without transactions) and is replaced.
 */
static bool
entry_add(const fe_store_t *store, const fe_index_t *index, const bson_t *key, const bson_t *doc,
          entry_result_t *result, fe_error_t *error)
{
   fe_store_t entries;
   bson_t entry;
   bool ok = false;

   *result = ENTRY_DUPLICATE;
   entries_store(store, index, &entries);
   entry_doc(key, doc, &entry);
   for (int attempt = 0; attempt < ENTRY_ATTEMPTS; attempt++) {
      const bson_t *docs[1] = {&entry};
      size_t inserted = 0;
      ptrdiff_t duplicate = -1;
      fe_error_t insert_error = {0};
      bson_t *existing = NULL;
      bson_t *owner = NULL;
      bson_t owner_id = BSON_INITIALIZER;
      bson_iter_t iter;
      bson_t **owner_keys = NULL;
      size_t owner_key_count = 0;
      bool stale = false;

      if (generic_insert(&entries, docs, 1, &inserted, &duplicate, &insert_error)) {
         *result = ENTRY_ADDED;
         ok = true;
         goto done;
      }
      if (duplicate != 0) {
         *error = insert_error;
         goto done;
      }
      if (!generic_reload(&entries, &entry, &existing, error)) {
         goto done;
      }
      if (!existing) {
         continue; /* removed meanwhile */
      }
      if (same_id(existing, doc, "doc")) {
         bson_destroy(existing);
         *result = ENTRY_PRESENT;
         ok = true;
         goto done;
      }
      if (bson_iter_init_find(&iter, existing, "doc")) {
         bson_append_iter(&owner_id, "_id", 3, &iter);
      }
      if (!generic_reload(store, &owner_id, &owner, error)) {
         bson_destroy(existing);
         bson_destroy(&owner_id);
         goto done;
      }
      stale = !owner;
      if (owner) {
         if (!indexes_doc_keys(index, owner, &owner_keys, &owner_key_count, error)) {
            bson_destroy(owner);
            bson_destroy(existing);
            bson_destroy(&owner_id);
            goto done;
         }
         stale = !keys_contain(owner_keys, owner_key_count, key);
         generic_free_documents(owner_keys, owner_key_count);
         bson_destroy(owner);
      }
      bson_destroy(&owner_id);
      if (!stale) {
         bson_destroy(existing);
         *result = ENTRY_DUPLICATE;
         ok = true;
         goto done;
      }
      {
         bool deleted = false;
         bool removed = generic_delete(&entries, existing, &deleted, error);
         bson_destroy(existing);
         if (!removed) {
            goto done;
         }
      }
   }
   /* Could not prove the entry in the way stale: the safe answer is a duplicate. */
   *result = ENTRY_DUPLICATE;
   ok = true;

done:
   bson_destroy(&entry);
   return ok;
}

static bool
entry_remove(const fe_store_t *store, const fe_index_t *index, const bson_t *entry,
             fe_error_t *error)
{
   fe_store_t entries;
   bool deleted = false;
   entries_store(store, index, &entries);
   return generic_delete(&entries, entry, &deleted, error);
}

/* Adds the entries doc has in every unique index, except those old_doc (nullable: the
 * document doc replaces) already has. */
static bool
add_doc_entries(const fe_store_t *store, const fe_index_set_t *set, const bson_t *doc,
                const bson_t *old_doc, undo_list_t *undo, bson_t *dup, bool *duplicate,
                fe_error_t *error)
{
   bool ok = false;

   *duplicate = false;
   for (size_t i = 0; i < set->count; i++) {
      const fe_index_t *index = &set->items[i];
      bson_t **keys = NULL;
      size_t count = 0;
      bson_t **old_keys = NULL;
      size_t old_count = 0;
      bool failed = false;

      if (!index->unique || !index->entries) {
         continue;
      }
      if (!indexes_doc_keys(index, doc, &keys, &count, error) ||
          (old_doc && !indexes_doc_keys(index, old_doc, &old_keys, &old_count, error))) {
         generic_free_documents(keys, count);
         goto done;
      }
      for (size_t k = 0; k < count && !failed; k++) {
         entry_result_t result;
         if (keys_contain(old_keys, old_count, keys[k])) {
            continue;
         }
         if (!entry_add(store, index, keys[k], doc, &result, error)) {
            failed = true;
         } else if (result == ENTRY_DUPLICATE) {
            duplicate_error(store, index, keys[k], dup, error);
            *duplicate = true;
            failed = true;
         } else if (result == ENTRY_ADDED) {
            bson_t built;
            bson_t *entry;
            entry_doc(keys[k], doc, &built);
            entry = bson_copy(&built);
            bson_destroy(&built);
            if (!undo_push(undo, index, entry)) {
               error_set(error, FE_ExceededMemoryLimit, "out of memory");
               failed = true;
            }
         }
      }
      generic_free_documents(keys, count);
      generic_free_documents(old_keys, old_count);
      if (failed) {
         goto done;
      }
   }
   ok = true;

done:
   return ok;
}

/* Removes the entries doc has, except those new_doc (nullable: its replacement) keeps. */
static bool
remove_doc_entries(const fe_store_t *store, const fe_index_set_t *set, const bson_t *doc,
                   const bson_t *new_doc, fe_error_t *error)
{
   for (size_t i = 0; i < set->count; i++) {
      const fe_index_t *index = &set->items[i];
      bson_t **keys = NULL;
      size_t count = 0;
      bson_t **new_keys = NULL;
      size_t new_count = 0;
      bool ok = true;

      if (!index->unique || !index->entries) {
         continue;
      }
      if (!indexes_doc_keys(index, doc, &keys, &count, error)) {
         return false;
      }
      if (new_doc && !indexes_doc_keys(index, new_doc, &new_keys, &new_count, error)) {
         generic_free_documents(keys, count);
         return false;
      }
      for (size_t k = 0; k < count && ok; k++) {
         bson_t entry;
         if (keys_contain(new_keys, new_count, keys[k])) {
            continue;
         }
         entry_doc(keys[k], doc, &entry);
         ok = entry_remove(store, index, &entry, error);
         bson_destroy(&entry);
      }
      generic_free_documents(keys, count);
      generic_free_documents(new_keys, new_count);
      if (!ok) {
         return false;
      }
   }
   return true;
}

static bool
undo_push(undo_list_t *undo, const fe_index_t *index, bson_t *entry)
{
   if (undo->count == undo->capacity) {
      size_t grown = undo->capacity ? undo->capacity * 2 : 8;
      entry_undo_t *bigger = realloc(undo->items, grown * sizeof *bigger);
      if (!bigger) {
         bson_destroy(entry);
         return false;
      }
      undo->items = bigger;
      undo->capacity = grown;
   }
   undo->items[undo->count].index = index;
   undo->items[undo->count].entry = entry;
   undo->count++;
   return true;
}

/* Best effort: an entry left behind is stale and is verified before it is trusted. */
static void
undo_entries(const fe_store_t *store, undo_list_t *undo)
{
   for (size_t i = 0; i < undo->count; i++) {
      fe_error_t ignored = {0};
      entry_remove(store, undo->items[i].index, undo->items[i].entry, &ignored);
   }
   undo_clear(undo);
}

static void
undo_clear(undo_list_t *undo)
{
   for (size_t i = 0; i < undo->count; i++) {
      bson_destroy(undo->items[i].entry);
   }
   undo->count = 0;
}

static void
duplicate_error(const fe_store_t *store, const fe_index_t *index, const bson_t *key, bson_t *dup,
                fe_error_t *error)
{
   char *value = bson_as_relaxed_extended_json(key, NULL);
   error_set(error, FE_DuplicateKey,
             "E11000 duplicate key error collection: %s.%s index: %s dup key: %s", store->ns.db,
             store->ns.collection, index->name, value ? value : "{}");
   bson_free(value);
   if (dup) {
      bson_reinit(dup);
      BSON_APPEND_DOCUMENT(dup, "keyPattern", &index->key);
      BSON_APPEND_DOCUMENT(dup, "keyValue", key);
   }
}

/* ---------------------------------------------------------------------------------------------
 * Writes
 * ------------------------------------------------------------------------------------------- */

bool
indexes_insert(const fe_store_t *store, const fe_index_set_t *set, const bson_t *const *docs,
               size_t count, size_t *inserted, ptrdiff_t *duplicate_index, bson_t *dup,
               fe_error_t *error)
{
   undo_list_t undo = {0};
   bool txn = false;
   bool ok = false;

   *inserted = 0;
   *duplicate_index = -1;
   if (!set || set->unique_count == 0) {
      return generic_insert(store, docs, count, inserted, duplicate_index, error);
   }
   if (!txn_begin(store, &txn, error)) {
      goto done;
   }
   for (size_t i = 0; i < count; i++) {
      bool duplicate = false;
      size_t stored = 0;
      ptrdiff_t failed = -1;

      if (!add_doc_entries(store, set, docs[i], NULL, &undo, dup, &duplicate, error)) {
         undo_entries(store, &undo);
         if (duplicate) {
            *duplicate_index = (ptrdiff_t) i;
         }
         break;
      }
      if (!generic_insert(store, docs + i, 1, &stored, &failed, error)) {
         undo_entries(store, &undo);
         if (failed == 0) {
            *duplicate_index = (ptrdiff_t) i;
         }
         break;
      }
      undo_clear(&undo);
      (*inserted)++;
   }
   ok = *inserted == count;
   if (txn) {
      /* The stored prefix commits whether or not a later document failed. */
      fe_error_t commit_error = {0};
      if (!txn_commit(store, &txn, &commit_error)) {
         *inserted = 0;
         *duplicate_index = -1;
         *error = commit_error;
         ok = false;
      }
   }

done:
   txn_abort(store, &txn);
   undo_clear(&undo);
   free(undo.items);
   return ok;
}

bool
indexes_replace(const fe_store_t *store, const fe_index_set_t *set, const bson_t *old_doc,
                const bson_t *new_doc, bool *replaced, bson_t *dup, fe_error_t *error)
{
   undo_list_t undo = {0};
   bool duplicate = false;
   bool txn = false;
   bool ok = false;

   *replaced = false;
   if (!set || set->unique_count == 0) {
      return generic_replace(store, old_doc, new_doc, replaced, error);
   }
   if (!txn_begin(store, &txn, error)) {
      goto done;
   }
   if (!add_doc_entries(store, set, new_doc, old_doc, &undo, dup, &duplicate, error)) {
      undo_entries(store, &undo);
      goto done;
   }
   if (!generic_replace(store, old_doc, new_doc, replaced, error)) {
      undo_entries(store, &undo);
      goto done;
   }
   if (!*replaced) {
      /* Lost the race: the caller reloads and tries again. */
      undo_entries(store, &undo);
      ok = true;
      goto done;
   }
   if (!remove_doc_entries(store, set, old_doc, new_doc, error)) {
      goto done;
   }
   ok = !txn || txn_commit(store, &txn, error);
   if (!ok) {
      *replaced = false;
   }

done:
   if (!ok && error && error->code == FE_WriteConflict && !duplicate) {
      /* A transaction that lost to a concurrent write is a lost compare-and-swap. */
      error_clear(error);
      *replaced = false;
      ok = true;
   }
   txn_abort(store, &txn);
   undo_clear(&undo);
   free(undo.items);
   return ok;
}

bool
indexes_delete(const fe_store_t *store, const fe_index_set_t *set, const bson_t *doc, bool *deleted,
               fe_error_t *error)
{
   bool txn = false;
   bool ok = false;

   *deleted = false;
   if (!set || set->unique_count == 0) {
      return generic_delete(store, doc, deleted, error);
   }
   if (!txn_begin(store, &txn, error)) {
      goto done;
   }
   /* The document first: without a transaction a failure then leaves stale entries, never a
    * document missing its entries. */
   if (!generic_delete(store, doc, deleted, error)) {
      goto done;
   }
   if (*deleted && !remove_doc_entries(store, set, doc, NULL, error)) {
      goto done;
   }
   ok = !txn || txn_commit(store, &txn, error);
   if (!ok) {
      *deleted = false;
   }

done:
   if (!ok && error && error->code == FE_WriteConflict) {
      error_clear(error);
      *deleted = false;
      ok = true;
   }
   txn_abort(store, &txn);
   return ok;
}

/* ---------------------------------------------------------------------------------------------
 * Transactions
 * ------------------------------------------------------------------------------------------- */

static bool
txn_begin(const fe_store_t *store, bool *active, fe_error_t *error)
{
   ferret_error_t backend_error = {0};
   ferret_status_t status;

   *active = false;
   if (!(store->capabilities & FERRET_CAP_TRANSACTIONS) || !store->methods->begin ||
       !store->methods->commit || !store->methods->abort) {
      return true;
   }
   status = store->methods->begin(store->session, &backend_error);
   if (status != FERRET_OK) {
      return backend_failed(store, status, &backend_error, error);
   }
   *active = true;
   return true;
}

static bool
txn_commit(const fe_store_t *store, bool *active, fe_error_t *error)
{
   ferret_error_t backend_error = {0};
   ferret_status_t status;

   if (!*active) {
      return true;
   }
   *active = false;
   status = store->methods->commit(store->session, &backend_error);
   return status == FERRET_OK || backend_failed(store, status, &backend_error, error);
}

static void
txn_abort(const fe_store_t *store, bool *active)
{
   if (*active) {
      store->methods->abort(store->session);
      *active = false;
   }
}

/* ---------------------------------------------------------------------------------------------
 * Catalog
 * ------------------------------------------------------------------------------------------- */

static void
catalog_store(const fe_store_t *store, fe_store_t *out)
{
   *out = *store;
   out->ns.collection = INDEXES_CATALOG;
}

static void
catalog_doc(const bson_oid_t *id, const char *collection, const bson_t *spec, const char *entries,
            bson_t *out)
{
   bson_iter_t iter;
   bson_init(out);
   BSON_APPEND_OID(out, "_id", id);
   BSON_APPEND_UTF8(out, "coll", collection);
   if (bson_iter_init_find(&iter, spec, "name")) {
      bson_append_iter(out, "name", 4, &iter);
   }
   BSON_APPEND_DOCUMENT(out, "spec", spec);
   if (entries) {
      BSON_APPEND_UTF8(out, "entries", entries);
   }
}

/* The catalog documents of store->ns, in creation order. */
static bool
catalog_collect(const fe_store_t *store, bson_t ***docs, size_t *count, fe_error_t *error)
{
   fe_store_t catalog;
   bson_t filter = BSON_INITIALIZER;
   bson_t sort_spec = BSON_INITIALIZER;
   fe_filter_t *compiled = NULL;
   fe_sort_t *sort = NULL;
   bool ok = false;

   *docs = NULL;
   *count = 0;
   catalog_store(store, &catalog);
   BSON_APPEND_UTF8(&filter, "coll", store->ns.collection);
   BSON_APPEND_INT32(&sort_spec, "_id", 1);
   if (!(compiled = filter_compile(&filter, error)) || !(sort = sort_compile(&sort_spec, error))) {
      goto done;
   }
   ok = generic_collect(&catalog, compiled, &filter, sort, 0, docs, count, error);

done:
   if (compiled) {
      filter_destroy(compiled);
   }
   if (sort) {
      sort_destroy(sort);
   }
   bson_destroy(&filter);
   bson_destroy(&sort_spec);
   return ok;
}

bool
indexes_catalog_ttl(const fe_store_t *store, bson_t ***docs, size_t *count, fe_error_t *error)
{
   fe_store_t catalog;
   bson_t filter = BSON_INITIALIZER;
   bson_t exists;
   bson_t sort_spec = BSON_INITIALIZER;
   fe_filter_t *compiled = NULL;
   fe_sort_t *sort = NULL;
   bool ok = false;

   *docs = NULL;
   *count = 0;
   catalog_store(store, &catalog);
   BSON_APPEND_DOCUMENT_BEGIN(&filter, "spec.expireAfterSeconds", &exists);
   BSON_APPEND_BOOL(&exists, "$exists", true);
   bson_append_document_end(&filter, &exists);
   BSON_APPEND_INT32(&sort_spec, "_id", 1);
   if (!(compiled = filter_compile(&filter, error)) || !(sort = sort_compile(&sort_spec, error))) {
      goto done;
   }
   ok = generic_collect(&catalog, compiled, &filter, sort, 0, docs, count, error);

done:
   if (compiled) {
      filter_destroy(compiled);
   }
   if (sort) {
      sort_destroy(sort);
   }
   bson_destroy(&filter);
   bson_destroy(&sort_spec);
   return ok;
}

bool
indexes_load(const fe_store_t *store, bool unique_only, fe_index_set_t *set, fe_error_t *error)
{
   bson_t **docs = NULL;
   size_t count = 0;
   bool ok = false;

   uint64_t generation = 0;

   memset(set, 0, sizeof *set);
   if (indexes_is_hidden(store->ns.collection) || cache_knows_none(store, &generation)) {
      return true;
   }
   if (!catalog_collect(store, &docs, &count, error)) {
      goto done;
   }
   if (count == 0) {
      cache_remember_none(store, generation);
   }
   set->items = zalloc_aligned(_Alignof(fe_index_t), (count ? count : 1) * sizeof *set->items);
   if (!set->items) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   for (size_t i = 0; i < count; i++) {
      bson_iter_t iter;
      bson_t spec;
      const uint8_t *data;
      uint32_t len;
      const char *entries = NULL;
      fe_index_t *index = &set->items[set->count];

      if (!bson_iter_init_find(&iter, docs[i], "spec") || !BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         continue;
      }
      bson_iter_document(&iter, &len, &data);
      if (!bson_init_static(&spec, data, len)) {
         continue;
      }
      if (bson_iter_init_find(&iter, docs[i], "entries") && BSON_ITER_HOLDS_UTF8(&iter)) {
         entries = bson_iter_utf8(&iter, NULL);
      }
      if (!indexes_index_init(index, &spec, entries, error)) {
         indexes_index_clear(index);
         goto done;
      }
      if (bson_iter_init_find(&iter, docs[i], "_id") && BSON_ITER_HOLDS_OID(&iter)) {
         bson_oid_copy(bson_iter_oid(&iter), &index->id);
      }
      if (unique_only && !index->unique) {
         indexes_index_clear(index);
         continue;
      }
      set->count++;
      if (index->unique) {
         set->unique_count++;
      }
   }
   ok = true;

done:
   generic_free_documents(docs, count);
   if (!ok) {
      indexes_set_destroy(set);
   }
   return ok;
}

bool
indexes_create(const fe_store_t *store, const bson_t *spec, fe_error_t *error)
{
   fe_store_t catalog;
   fe_index_set_t set = {0};
   fe_index_t index;
   bson_oid_t id;
   char entries[64];
   char hex[25];
   bson_t doc = BSON_INITIALIZER;
   bson_t **docs = NULL;
   size_t count = 0;
   bool txn = false;
   bool stored = false;
   bool ok = false;
   bson_iter_t iter;
   bool unique = bson_iter_init_find(&iter, spec, "unique") && truthy(&iter);

   memset(&index, 0, sizeof index);
   catalog_store(store, &catalog);
   bson_oid_init(&id, NULL);
   bson_oid_to_string(&id, hex);
   snprintf(entries, sizeof entries, INDEXES_HIDDEN_PREFIX "idx.%s", hex);
   if (!indexes_index_init(&index, spec, unique ? entries : NULL, error)) {
      goto done;
   }
   bson_oid_copy(&id, &index.id);
   bson_destroy(&doc);
   catalog_doc(&id, store->ns.collection, spec, unique ? entries : NULL, &doc);
   /* With a transaction the catalog document and every entry appear together; without one
    * the catalog document comes first, so that concurrent writers maintain the entries while
    * the build runs. */
   if (!txn_begin(store, &txn, error)) {
      goto done;
   }
   {
      const bson_t *one[1] = {&doc};
      size_t inserted = 0;
      ptrdiff_t duplicate = -1;
      if (!generic_insert(&catalog, one, 1, &inserted, &duplicate, error)) {
         goto done;
      }
      stored = true;
   }
   if (unique) {
      set.items = &index;
      set.count = 1;
      set.unique_count = 1;
      bson_t everything = BSON_INITIALIZER;
      bool collected = generic_collect(store, NULL, &everything, NULL, 0, &docs, &count, error);
      bson_destroy(&everything);
      if (!collected) {
         goto done;
      }
      for (size_t i = 0; i < count; i++) {
         undo_list_t undo = {0};
         bool duplicate = false;
         bool added = add_doc_entries(store, &set, docs[i], NULL, &undo, NULL, &duplicate, error);
         undo_clear(&undo);
         free(undo.items);
         if (!added) {
            goto done;
         }
      }
   }
   ok = txn_commit(store, &txn, error);

done:
   set.items = NULL;
   txn_abort(store, &txn);
   if (!ok && stored) {
      /* Without a transaction (or after a failed commit) remove what the build left. */
      fe_error_t ignored = {0};
      bool deleted = false;
      generic_delete(&catalog, &doc, &deleted, &ignored);
   }
   if (!ok && unique) {
      fe_error_t ignored = {0};
      drop_collection(store, entries, &ignored);
   }
   generic_free_documents(docs, count);
   indexes_index_clear(&index);
   bson_destroy(&doc);
   cache_bump(store);
   return ok;
}

static bool
drop_collection(const fe_store_t *store, const char *collection, fe_error_t *error)
{
   ferret_ns_t ns = {.db = store->ns.db, .collection = collection};
   ferret_error_t backend_error = {0};
   ferret_status_t status = store->methods->drop_collection(store->session, &ns, &backend_error);
   return status == FERRET_OK || status == FERRET_ERR_NAMESPACE_NOT_FOUND ||
          backend_failed(store, status, &backend_error, error);
}

bool
indexes_drop(const fe_store_t *store, const fe_index_t *index, fe_error_t *error)
{
   fe_store_t catalog;
   bson_t filter = BSON_INITIALIZER;
   bson_t *current = NULL;
   bool deleted = false;
   bool ok = false;

   catalog_store(store, &catalog);
   BSON_APPEND_OID(&filter, "_id", &index->id);
   /* The catalog document first: writers stop maintaining the entries before they go. */
   if (!generic_reload(&catalog, &filter, &current, error)) {
      goto done;
   }
   if (current && !generic_delete(&catalog, current, &deleted, error)) {
      goto done;
   }
   ok = !index->entries || drop_collection(store, index->entries, error);

done:
   if (current) {
      bson_destroy(current);
   }
   bson_destroy(&filter);
   cache_bump(store);
   return ok;
}

bool
indexes_update_spec(const fe_store_t *store, const fe_index_t *index, const bson_t *spec,
                    fe_error_t *error)
{
   fe_store_t catalog;
   bson_t filter = BSON_INITIALIZER;
   bson_t *current = NULL;
   bson_t updated = BSON_INITIALIZER;
   bool replaced = false;
   bool ok = false;

   catalog_store(store, &catalog);
   BSON_APPEND_OID(&filter, "_id", &index->id);
   if (!generic_reload(&catalog, &filter, &current, error)) {
      goto done;
   }
   if (!current) {
      error_set(error, FE_IndexNotFound, "index '%s' was dropped concurrently", index->name);
      goto done;
   }
   bson_destroy(&updated);
   catalog_doc(&index->id, store->ns.collection, spec, index->entries, &updated);
   if (!generic_replace(&catalog, current, &updated, &replaced, error)) {
      goto done;
   }
   if (!replaced) {
      error_set(error, FE_WriteConflict, "index '%s' changed concurrently", index->name);
      goto done;
   }
   ok = true;

done:
   if (current) {
      bson_destroy(current);
   }
   bson_destroy(&updated);
   bson_destroy(&filter);
   cache_bump(store);
   return ok;
}

bool
indexes_drop_all(const fe_store_t *store, fe_error_t *error)
{
   fe_index_set_t set;
   bool ok = true;

   if (!indexes_load(store, false, &set, error)) {
      return false;
   }
   for (size_t i = 0; i < set.count && ok; i++) {
      ok = indexes_drop(store, &set.items[i], error);
   }
   indexes_set_destroy(&set);
   cache_bump(store);
   return ok;
}

bool
indexes_rename(const fe_store_t *from, const fe_store_t *to, fe_error_t *error)
{
   fe_store_t from_catalog, to_catalog;
   bson_t **docs = NULL;
   size_t count = 0;
   bool same_db = strcmp(from->ns.db, to->ns.db) == 0;
   bool ok = false;

   catalog_store(from, &from_catalog);
   catalog_store(to, &to_catalog);
   if (!indexes_drop_all(to, error) || !catalog_collect(from, &docs, &count, error)) {
      goto done;
   }
   for (size_t i = 0; i < count; i++) {
      bson_iter_t iter;
      bson_t spec;
      const uint8_t *data;
      uint32_t len;
      const char *entries = NULL;
      bson_t moved;
      bool done_one = false;

      if (!bson_iter_init_find(&iter, docs[i], "spec") || !BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         continue;
      }
      bson_iter_document(&iter, &len, &data);
      if (!bson_init_static(&spec, data, len)) {
         continue;
      }
      if (bson_iter_init_find(&iter, docs[i], "entries") && BSON_ITER_HOLDS_UTF8(&iter)) {
         entries = bson_iter_utf8(&iter, NULL);
      }
      if (!bson_iter_init_find(&iter, docs[i], "_id") || !BSON_ITER_HOLDS_OID(&iter)) {
         continue;
      }
      catalog_doc(bson_iter_oid(&iter), to->ns.collection, &spec, entries, &moved);
      if (same_db) {
         bool replaced = false;
         done_one = generic_replace(&from_catalog, docs[i], &moved, &replaced, error);
      } else {
         const bson_t *one[1] = {&moved};
         size_t inserted = 0;
         ptrdiff_t duplicate = -1;
         bool deleted = false;
         done_one = true;
         if (entries) {
            ferret_ns_t src = {.db = from->ns.db, .collection = entries};
            ferret_ns_t dst = {.db = to->ns.db, .collection = entries};
            ferret_error_t backend_error = {0};
            ferret_status_t status =
               from->methods->rename_collection(from->session, &src, &dst, true, &backend_error);
            if (status != FERRET_OK && status != FERRET_ERR_NAMESPACE_NOT_FOUND) {
               done_one = backend_failed(from, status, &backend_error, error);
            }
         }
         done_one = done_one && generic_insert(&to_catalog, one, 1, &inserted, &duplicate, error) &&
                    generic_delete(&from_catalog, docs[i], &deleted, error);
      }
      bson_destroy(&moved);
      if (!done_one) {
         goto done;
      }
   }
   ok = true;

done:
   generic_free_documents(docs, count);
   cache_bump(from);
   cache_bump(to);
   return ok;
}

static bool
backend_failed(const fe_store_t *store, ferret_status_t status, const ferret_error_t *backend_error,
               fe_error_t *error)
{
   return error_set_from_backend(error, store->backend_name, status, backend_error);
}

/* ---- the per-worker cache of collections without indexes ---- */

static void
cache_key(const fe_store_t *store, char *key, size_t size)
{
   snprintf(key, size, "%s\x1f%s", store->ns.db, store->ns.collection);
}

/* True when the cache says store->ns has no index; *generation receives the generation to
 * remember a fresh answer with, read before the catalog is. */
static bool
cache_knows_none(const fe_store_t *store, uint64_t *generation)
{
   fe_index_cache_t *cache = store->index_cache;
   char key[512];

   if (!cache || !cache->generation) {
      return false;
   }
   *generation = atomic_load(cache->generation);
   cache_key(store, key, sizeof key);
   for (size_t i = 0; i < INDEXES_CACHE_SLOTS; i++) {
      if (cache->slots[i].ns && strcmp(cache->slots[i].ns, key) == 0) {
         return cache->slots[i].generation == *generation;
      }
   }
   return false;
}

static void
cache_remember_none(const fe_store_t *store, uint64_t generation)
{
   fe_index_cache_t *cache = store->index_cache;
   char key[512];
   size_t slot;

   if (!cache || !cache->generation) {
      return;
   }
   cache_key(store, key, sizeof key);
   for (slot = 0; slot < INDEXES_CACHE_SLOTS; slot++) {
      if (cache->slots[slot].ns && strcmp(cache->slots[slot].ns, key) == 0) {
         break;
      }
   }
   if (slot == INDEXES_CACHE_SLOTS) {
      slot = cache->next;
      cache->next = (cache->next + 1) % INDEXES_CACHE_SLOTS;
      free(cache->slots[slot].ns);
      cache->slots[slot].ns = strdup(key);
   }
   cache->slots[slot].generation = generation;
}

/* Called after every change to an index catalog: every worker's remembered answers expire. */
static void
cache_bump(const fe_store_t *store)
{
   if (store->index_cache && store->index_cache->generation) {
      atomic_fetch_add(store->index_cache->generation, 1);
   }
}

void
indexes_cache_destroy(fe_index_cache_t *cache)
{
   for (size_t i = 0; i < INDEXES_CACHE_SLOTS; i++) {
      free(cache->slots[i].ns);
      cache->slots[i].ns = NULL;
   }
}
