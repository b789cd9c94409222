/*
 * cmd_bulkwrite.c: the MongoDB 8.0 bulkWrite command (admin only; what drivers send for
 * MongoClient.bulkWrite): inserts, updates and deletes on any namespaces named in nsInfo, run
 * in order, with one result per operation returned through a cursor ("admin.$cmd.bulkWrite").
 *
 * As MongoDB's IDL parser does, the whole command is checked before any write: an unknown or
 * mistyped field, or an nsInfo index out of range, fails the command. What only running an
 * operation finds (a bad operator, a duplicate key, an undefined variable) becomes that
 * operation's error result; an ordered command stops there. The statements run through
 * write_ops.c like those of insert, update and delete; consecutive inserts into one namespace
 * go to the backend as one run.
 */
#include <stdlib.h>
#include <string.h>

#include "commands/args.h"
#include "commands/cmd_views.h"
#include "commands/handlers.h"
#include "commands/hint.h"
#include "commands/write_ops.h"
#include "wire/header.h"

#define BULK_CURSOR_COLLECTION "$cmd.bulkWrite"

/* Field kinds an operation may carry (bits), checked before anything runs. */
enum {
   KIND_INT = 1 << 0,
   KIND_DOCUMENT = 1 << 1,
   KIND_ARRAY = 1 << 2,
   KIND_BOOL = 1 << 3, /* numbers accepted as truthiness, as args_bool() does */
   KIND_STRING = 1 << 4,
   KIND_REQUIRED = 1 << 5,
};

typedef struct op_field {
   const char *name;
   unsigned kinds;
} op_field_t;

typedef enum { BULK_INSERT, BULK_UPDATE, BULK_DELETE } op_type_t;

/* One namespace of nsInfo. */
typedef struct bulk_ns {
   char *db;         /* owned */
   char *collection; /* owned */
   fe_store_t store; /* borrows db and collection */
   bool is_view;     /* a view: every operation on it fails (166), as the write commands do */
} bulk_ns_t;

/* The command while it runs. */
typedef struct bulk {
   fe_ctx_t *ctx;
   bulk_ns_t *ns; /* owned; ns_count entries */
   size_t ns_count;
   bool ordered;
   bool errors_only;
   bson_t let; /* static view into the command; empty for none */

   bson_t **results; /* owned, each owned: the cursor's documents */
   size_t result_count;
   size_t result_capacity;
   int32_t n_errors, n_inserted, n_matched, n_modified, n_upserted, n_deleted;

   /* Prepared inserts not yet sent: all into ns[pending_ns], for operations pending_idx. */
   bson_t **pending; /* owned, each owned */
   int32_t *pending_idx;
   size_t pending_count;
   size_t pending_ns;
   bool stop; /* an ordered command failed an operation */
} bulk_t;

/* ---- parsing ---- */
static bool parse_ns_info(bulk_t *bulk, const bson_t *command, fe_error_t *error);
static bool check_ops(const bulk_t *bulk, bson_iter_t *ops, uint32_t *count, fe_error_t *error);
static bool op_type(const bson_t *op, op_type_t *type, const char **key, fe_error_t *error);
static bool check_op_fields(const bson_t *op, const op_field_t *fields, fe_error_t *error);
static bool op_ns_index(const bson_t *op, const char *key, size_t ns_count, uint32_t op_index,
                        size_t *ns_index, fe_error_t *error);

/* ---- running ---- */
static void run_op(bulk_t *bulk, int32_t idx, const bson_t *op);
static void run_insert(bulk_t *bulk, int32_t idx, size_t ns_index, const bson_t *op);
static void run_update(bulk_t *bulk, int32_t idx, size_t ns_index, const bson_t *op);
static void run_delete(bulk_t *bulk, int32_t idx, size_t ns_index, const bson_t *op);
static void flush_inserts(bulk_t *bulk);
static void insert_outcome(void *arg, size_t position, const fe_error_t *error, const bson_t *doc,
                           const bson_t *duplicate);

/* ---- results ---- */
static bson_t *result_new(bulk_t *bulk, int32_t idx, const fe_error_t *error);
static void result_add(bulk_t *bulk, bson_t *result, bool failed);
static void add_error(bulk_t *bulk, int32_t idx, const fe_error_t *error, const bson_t *doc,
                      const bson_t *duplicate);
static void bulk_destroy(bulk_t *bulk);

static const op_field_t insert_fields[] = {
   {"insert", KIND_INT},
   {"document", KIND_DOCUMENT | KIND_REQUIRED},
   {NULL, 0},
};
static const op_field_t update_fields[] = {
   {"update", KIND_INT},
   {"filter", KIND_DOCUMENT | KIND_REQUIRED},
   {"updateMods", KIND_DOCUMENT | KIND_ARRAY | KIND_REQUIRED},
   {"multi", KIND_BOOL},
   {"upsert", KIND_BOOL},
   {"arrayFilters", KIND_ARRAY},
   {"hint", KIND_DOCUMENT | KIND_STRING},
   {"constants", KIND_DOCUMENT},
   {"collation", KIND_DOCUMENT},
   {"sort", KIND_DOCUMENT},
   {NULL, 0},
};
static const op_field_t delete_fields[] = {
   {"delete", KIND_INT},         {"filter", KIND_DOCUMENT | KIND_REQUIRED},
   {"multi", KIND_BOOL},         {"hint", KIND_DOCUMENT | KIND_STRING},
   {"collation", KIND_DOCUMENT}, {NULL, 0},
};
static const op_field_t ns_info_fields[] = {
   {"ns", KIND_STRING | KIND_REQUIRED},
   {"collectionUUID", 0}, /* any type: checked by nobody, as there are no UUIDs to compare */
   {NULL, 0},
};

static const fe_update_names_t update_names = {"bulkWrite.ops", "filter", "updateMods",
                                               "constants"};

bool
cmd_bulk_write(fe_ctx_t *ctx, fe_error_t *error)
{
   bulk_t bulk = {.ctx = ctx, .ordered = true};
   bson_iter_t ops;
   bson_t cursor_options;
   int64_t batch_size = 0;
   uint32_t count = 0;
   fe_cursor_t *cursor = NULL;
   bool bypass = false;
   bool ok = false;

   bson_init(&bulk.let);
   if (!args_bool(ctx->command, "ordered", &bulk.ordered, error) ||
       !args_bool(ctx->command, "errorsOnly", &bulk.errors_only, error) ||
       !args_bool(ctx->command, "bypassDocumentValidation", &bypass, error) ||
       !args_document(ctx->command, "let", &bulk.let, NULL, error) ||
       !args_document(ctx->command, "cursor", &cursor_options, NULL, error) ||
       !args_int64(&cursor_options, "batchSize", &batch_size, error) ||
       !parse_ns_info(&bulk, ctx->command, error) || !check_ops(&bulk, &ops, &count, error)) {
      goto done;
   }
   if (batch_size < 0) {
      error_set(error, 51024, "BSON field 'batchSize' value must be >= 0, actual value '%lld'",
                (long long) batch_size);
      goto done;
   }
   bulk.results = calloc(count, sizeof *bulk.results);
   bulk.pending = calloc(count, sizeof *bulk.pending);
   bulk.pending_idx = calloc(count, sizeof *bulk.pending_idx);
   if (!bulk.results || !bulk.pending || !bulk.pending_idx) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   bulk.result_capacity = count;
   for (int32_t idx = 0; bson_iter_next(&ops) && !bulk.stop; idx++) {
      const uint8_t *data;
      uint32_t len;
      bson_t op;
      bson_iter_document(&ops, &len, &data);
      bson_init_static(&op, data, len);
      run_op(&bulk, idx, &op);
   }
   flush_inserts(&bulk);

   cursor = cursor_new(ctx->db, BULK_CURSOR_COLLECTION);
   if (!cursor) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   cursor_set_documents(cursor, bulk.results, bulk.result_count);
   bulk.results = NULL;
   bulk.result_count = 0;
   /* The cursor goes first, as MongoDB orders the reply; it takes the cursor in every case. */
   if (!args_reply_first_batch(ctx, cursor, batch_size, false, error)) {
      goto done;
   }
   BSON_APPEND_INT32(ctx->reply, "nErrors", bulk.n_errors);
   BSON_APPEND_INT32(ctx->reply, "nInserted", bulk.n_inserted);
   BSON_APPEND_INT32(ctx->reply, "nMatched", bulk.n_matched);
   BSON_APPEND_INT32(ctx->reply, "nModified", bulk.n_modified);
   BSON_APPEND_INT32(ctx->reply, "nUpserted", bulk.n_upserted);
   BSON_APPEND_INT32(ctx->reply, "nDeleted", bulk.n_deleted);
   ok = true;

done:
   bulk_destroy(&bulk);
   return ok;
}

/* Reads nsInfo: each entry's "db.collection", checked as any command's namespace. */
static bool
parse_ns_info(bulk_t *bulk, const bson_t *command, fe_error_t *error)
{
   bson_t array;
   bson_iter_t iter;
   bool present = false;
   size_t count = 0;

   if (!args_array(command, "nsInfo", &array, &present, error)) {
      return false;
   }
   if (!present) {
      return error_set(error, 40414,
                       "BSON field 'bulkWrite.nsInfo' is missing but a required field");
   }
   count = bson_count_keys(&array);
   if (count == 0 || count > HEADER_MAX_WRITE_BATCH) {
      return error_set(error, FE_InvalidLength,
                       "Write batch sizes must be between 1 and %d. Got %zu namespaces.",
                       HEADER_MAX_WRITE_BATCH, count);
   }
   bulk->ns = calloc(count, sizeof *bulk->ns);
   if (!bulk->ns) {
      return error_set(error, FE_ExceededMemoryLimit, "out of memory");
   }
   bson_iter_init(&iter, &array);
   while (bson_iter_next(&iter)) {
      bulk_ns_t *ns = &bulk->ns[bulk->ns_count];
      bson_t entry;
      bson_iter_t field;
      const uint8_t *data;
      uint32_t len;
      const char *name;
      const char *dot;

      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         return error_set(
            error, FE_TypeMismatch,
            "BSON field 'bulkWrite.nsInfo' is the wrong type, expected type 'object'");
      }
      bson_iter_document(&iter, &len, &data);
      bson_init_static(&entry, data, len);
      if (!check_op_fields(&entry, ns_info_fields, error)) {
         return false;
      }
      bson_iter_init_find(&field, &entry, "ns");
      name = bson_iter_utf8(&field, &len);
      dot = strchr(name, '.');
      if (strlen(name) != len || !dot || dot == name) {
         return error_set(error, FE_InvalidNamespace, "Invalid namespace specified '%s'", name);
      }
      ns->db = strndup(name, (size_t) (dot - name));
      ns->collection = strdup(dot + 1);
      bulk->ns_count++;
      if (!ns->db || !ns->collection) {
         return error_set(error, FE_ExceededMemoryLimit, "out of memory");
      }
      if (!args_check_collection_name(ns->db, ns->collection, error)) {
         return false;
      }
      write_ops_store(bulk->ctx, ns->collection, &ns->store);
      ns->store.ns.db = ns->db;
      if (!cmd_views_is_view(bulk->ctx, ns->db, ns->collection, &ns->is_view, error)) {
         return false;
      }
   }
   return true;
}

/* Checks every operation before any runs; *ops is left before the first one. */
static bool
check_ops(const bulk_t *bulk, bson_iter_t *ops, uint32_t *count, fe_error_t *error)
{
   bson_t array;
   bson_iter_t iter;
   bool present = false;

   *count = 0;
   if (!args_array(bulk->ctx->command, "ops", &array, &present, error)) {
      return false;
   }
   if (!present) {
      return error_set(error, 40414, "BSON field 'bulkWrite.ops' is missing but a required field");
   }
   bson_iter_init(&iter, &array);
   *ops = iter;
   while (bson_iter_next(&iter)) {
      const uint8_t *data;
      uint32_t len;
      bson_t op;
      op_type_t type = BULK_INSERT;
      const char *key = NULL;
      size_t ns_index;

      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         return error_set(error, FE_TypeMismatch,
                          "BSON field 'bulkWrite.ops' is the wrong type, expected type 'object'");
      }
      bson_iter_document(&iter, &len, &data);
      bson_init_static(&op, data, len);
      if (!op_type(&op, &type, &key, error) ||
          !check_op_fields(&op,
                           type == BULK_INSERT   ? insert_fields
                           : type == BULK_UPDATE ? update_fields
                                                 : delete_fields,
                           error) ||
          !op_ns_index(&op, key, bulk->ns_count, *count, &ns_index, error)) {
         return false;
      }
      (*count)++;
   }
   if (*count == 0 || *count > HEADER_MAX_WRITE_BATCH) {
      return error_set(error, FE_InvalidLength,
                       "Write batch sizes must be between 1 and %d. Got %u operations.",
                       HEADER_MAX_WRITE_BATCH, *count);
   }
   return true;
}

/* The operation's type: the one of insert, update and delete it names. */
static bool
op_type(const bson_t *op, op_type_t *type, const char **key, fe_error_t *error)
{
   static const char *const names[] = {"insert", "update", "delete"};
   int found = 0;

   for (int i = 0; i < 3; i++) {
      if (bson_has_field(op, names[i])) {
         *type = (op_type_t) i;
         *key = names[i];
         found++;
      }
   }
   if (found != 1) {
      return error_set(error, FE_FailedToParse,
                       "BulkWrite ops entry must name exactly one of insert, update and delete");
   }
   return true;
}

static bool
check_op_fields(const bson_t *op, const op_field_t *fields, fe_error_t *error)
{
   bson_iter_t iter;

   bson_iter_init(&iter, op);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      const op_field_t *field = fields;
      unsigned kinds;
      bool fits;

      while (field->name && strcmp(field->name, key) != 0) {
         field++;
      }
      if (!field->name) {
         return error_set(error, 40415, "BSON field 'bulkWrite.%s.%s' is an unknown field.",
                          fields == ns_info_fields ? "nsInfo" : "ops", key);
      }
      kinds = field->kinds & ~(unsigned) KIND_REQUIRED;
      switch (bson_iter_type(&iter)) {
      case BSON_TYPE_INT32:
      case BSON_TYPE_INT64:
      case BSON_TYPE_DOUBLE:
         fits = kinds & (KIND_INT | KIND_BOOL);
         break;
      case BSON_TYPE_BOOL:
         fits = kinds & KIND_BOOL;
         break;
      case BSON_TYPE_DOCUMENT:
         fits = kinds & KIND_DOCUMENT;
         break;
      case BSON_TYPE_ARRAY:
         fits = kinds & KIND_ARRAY;
         break;
      case BSON_TYPE_UTF8:
         fits = kinds & KIND_STRING;
         break;
      default:
         fits = false;
         break;
      }
      if (kinds != 0 && !fits) {
         return error_set(error, FE_TypeMismatch, "BSON field 'bulkWrite.%s.%s' is the wrong type",
                          fields == ns_info_fields ? "nsInfo" : "ops", key);
      }
   }
   for (const op_field_t *field = fields; field->name; field++) {
      if ((field->kinds & KIND_REQUIRED) && !bson_has_field(op, field->name)) {
         return error_set(error, 40414,
                          "BSON field 'bulkWrite.%s.%s' is missing but a required field",
                          fields == ns_info_fields ? "nsInfo" : "ops", field->name);
      }
   }
   return true;
}

/* The nsInfo index an operation names under key, which must be in range. */
static bool
op_ns_index(const bson_t *op, const char *key, size_t ns_count, uint32_t op_index, size_t *ns_index,
            fe_error_t *error)
{
   int64_t value = -1;

   if (!args_int64(op, key, &value, error)) {
      return false;
   }
   if (value < 0 || (uint64_t) value >= ns_count) {
      return error_set(error, FE_BadValue,
                       "BulkWrite ops entry %u has an invalid nsInfo index: %lld (nsInfo has %zu "
                       "entries)",
                       op_index, (long long) value, ns_count);
   }
   *ns_index = (size_t) value;
   return true;
}

static void
run_op(bulk_t *bulk, int32_t idx, const bson_t *op)
{
   op_type_t type = BULK_INSERT;
   const char *key = NULL;
   size_t ns_index = 0;

   /* Both were checked by check_ops(). */
   op_type(op, &type, &key, NULL);
   op_ns_index(op, key, bulk->ns_count, (uint32_t) idx, &ns_index, NULL);
   if (type != BULK_INSERT || (bulk->pending_count > 0 && bulk->pending_ns != ns_index)) {
      flush_inserts(bulk);
      if (bulk->stop) {
         return;
      }
   }
   if (bulk->ns[ns_index].is_view) {
      fe_error_t error;
      flush_inserts(bulk);
      if (!bulk->stop) {
         error_set(&error, FE_CommandNotSupportedOnView,
                   "Namespace %s.%s is a view, not a collection", bulk->ns[ns_index].db,
                   bulk->ns[ns_index].collection);
         add_error(bulk, idx, &error, NULL, NULL);
      }
      return;
   }
   switch (type) {
   case BULK_INSERT:
      run_insert(bulk, idx, ns_index, op);
      break;
   case BULK_UPDATE:
      run_update(bulk, idx, ns_index, op);
      break;
   case BULK_DELETE:
      run_delete(bulk, idx, ns_index, op);
      break;
   }
}

/* Prepares the document and queues it; a document that cannot be inserted fails after the
 * queued ones went, so that results stay in operation order. */
static void
run_insert(bulk_t *bulk, int32_t idx, size_t ns_index, const bson_t *op)
{
   fe_error_t error = {0};
   bson_t doc;
   bson_t prepared;

   args_document(op, "document", &doc, NULL, NULL); /* checked by check_ops() */
   if (!write_ops_prepare_insert(&doc, &prepared, &error)) {
      bson_destroy(&prepared);
      flush_inserts(bulk);
      if (!bulk->stop) {
         add_error(bulk, idx, &error, NULL, NULL);
      }
      return;
   }
   bulk->pending_ns = ns_index;
   bulk->pending_idx[bulk->pending_count] = idx;
   bulk->pending[bulk->pending_count++] = bson_copy(&prepared);
   bson_destroy(&prepared);
}

static void
run_update(bulk_t *bulk, int32_t idx, size_t ns_index, const bson_t *op)
{
   fe_error_t error = {0};
   fe_update_parse_t parse;
   fe_update_result_t result;
   bson_t *item;
   bson_iter_t id;
   bool ok;

   memset(&result, 0, sizeof result);
   bson_init(&result.upserted_id);
   ok = write_ops_parse_update(op, &update_names, &bulk->let, &parse, &error) &&
        hint_check(&bulk->ns[ns_index].store, op, parse.statement.upsert, &error) &&
        write_ops_update(&bulk->ns[ns_index].store, &parse.statement, &result, &error);
   write_ops_parse_destroy(&parse);
   if (!ok) {
      add_error(bulk, idx, &error, NULL, result.duplicate);
      write_ops_result_destroy(&result);
      return;
   }
   bulk->n_matched += (int32_t) result.matched;
   bulk->n_modified += (int32_t) result.modified;
   bulk->n_upserted += result.upserted ? 1 : 0;
   item = result_new(bulk, idx, NULL);
   if (item) {
      BSON_APPEND_INT32(item, "n", (int32_t) (result.matched + (result.upserted ? 1 : 0)));
      BSON_APPEND_INT32(item, "nModified", (int32_t) result.modified);
      if (result.upserted && bson_iter_init_find(&id, &result.upserted_id, "_id")) {
         bson_t upserted;
         BSON_APPEND_DOCUMENT_BEGIN(item, "upserted", &upserted);
         bson_append_iter(&upserted, "_id", 3, &id);
         bson_append_document_end(item, &upserted);
      }
      result_add(bulk, item, false);
   }
   write_ops_result_destroy(&result);
}

static void
run_delete(bulk_t *bulk, int32_t idx, size_t ns_index, const bson_t *op)
{
   fe_error_t error = {0};
   bson_t filter;
   bson_t collation;
   bool has_collation = false;
   bool multi = false;
   int64_t deleted = 0;
   bson_t *item;

   if (!args_document(op, "collation", &collation, &has_collation, &error) ||
       !args_document(op, "filter", &filter, NULL, &error) ||
       !args_bool(op, "multi", &multi, &error) ||
       !hint_check(&bulk->ns[ns_index].store, op, false, &error) ||
       !write_ops_delete_collated(
          &bulk->ns[ns_index].store, &filter, NULL, bson_empty(&bulk->let) ? NULL : &bulk->let,
          has_collation ? &collation : NULL, multi, &deleted, NULL, &error)) {
      add_error(bulk, idx, &error, NULL, NULL);
      return;
   }
   bulk->n_deleted += (int32_t) deleted;
   item = result_new(bulk, idx, NULL);
   if (item) {
      BSON_APPEND_INT32(item, "n", (int32_t) deleted);
      result_add(bulk, item, false);
   }
}

/* Sends the queued inserts to the backend as one run. */
static void
flush_inserts(bulk_t *bulk)
{
   fe_index_set_t set = {0};
   fe_error_t error = {0};
   const fe_store_t *store;

   if (bulk->pending_count == 0) {
      return;
   }
   store = &bulk->ns[bulk->pending_ns].store;
   if (!indexes_load(store, true, &set, &error)) {
      /* Nothing was inserted: the first document fails, and the rest unless ordered. */
      for (size_t i = 0; i < bulk->pending_count && !bulk->stop; i++) {
         add_error(bulk, bulk->pending_idx[i], &error, NULL, NULL);
      }
   } else {
      write_ops_insert_run(store, &set, (const bson_t *const *) bulk->pending, bulk->pending_count,
                           bulk->ordered, insert_outcome, bulk);
   }
   indexes_set_destroy(&set);
   for (size_t i = 0; i < bulk->pending_count; i++) {
      bson_destroy(bulk->pending[i]);
      bulk->pending[i] = NULL;
   }
   bulk->pending_count = 0;
}

static void
insert_outcome(void *arg, size_t position, const fe_error_t *error, const bson_t *doc,
               const bson_t *duplicate)
{
   bulk_t *bulk = arg;
   int32_t idx = bulk->pending_idx[position];
   bson_t *item;

   if (error) {
      add_error(bulk, idx, error, doc, duplicate);
      return;
   }
   bulk->n_inserted++;
   item = result_new(bulk, idx, NULL);
   if (item) {
      BSON_APPEND_INT32(item, "n", 1);
      result_add(bulk, item, false);
   }
}

/* A new result {ok, idx[, code, errmsg]} (owned by the caller), or NULL when errorsOnly
 * leaves a success out. */
static bson_t *
result_new(bulk_t *bulk, int32_t idx, const fe_error_t *error)
{
   bson_t *item;

   if (!error && bulk->errors_only) {
      return NULL;
   }
   item = bson_new();
   BSON_APPEND_DOUBLE(item, "ok", error ? 0.0 : 1.0);
   BSON_APPEND_INT32(item, "idx", idx);
   if (error) {
      BSON_APPEND_INT32(item, "code", error->code);
      BSON_APPEND_UTF8(item, "errmsg", error->message);
   }
   return item;
}

/* Takes result into the cursor's documents; a failure stops an ordered command. */
static void
result_add(bulk_t *bulk, bson_t *result, bool failed)
{
   if (failed) {
      bulk->n_errors++;
      bulk->stop = bulk->ordered;
   }
   if (bulk->result_count == bulk->result_capacity) { /* never: one result per operation */
      bson_destroy(result);
      return;
   }
   bulk->results[bulk->result_count++] = result;
}

/* Records a failed operation: {ok: 0, idx, code, errmsg[, keyPattern, keyValue], n: 0}. */
static void
add_error(bulk_t *bulk, int32_t idx, const fe_error_t *error, const bson_t *doc,
          const bson_t *duplicate)
{
   bson_t *item = result_new(bulk, idx, error);
   write_ops_append_duplicate_key(item, error, doc, duplicate);
   BSON_APPEND_INT32(item, "n", 0);
   result_add(bulk, item, true);
}

static void
bulk_destroy(bulk_t *bulk)
{
   for (size_t i = 0; i < bulk->ns_count; i++) {
      free(bulk->ns[i].db);
      free(bulk->ns[i].collection);
   }
   free(bulk->ns);
   for (size_t i = 0; i < bulk->result_count; i++) {
      bson_destroy(bulk->results[i]);
   }
   free(bulk->results);
   for (size_t i = 0; i < bulk->pending_count; i++) {
      bson_destroy(bulk->pending[i]);
   }
   free(bulk->pending);
   free(bulk->pending_idx);
}
