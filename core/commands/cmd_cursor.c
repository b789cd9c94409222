/*
 * cmd_cursor.c: getMore and killCursors.
 *
 * Neither locks the worker's own session: a cursor's backend cursor belongs to the session
 * that opened it, so getMore locks that one. Locking only one session per command is what
 * keeps two workers from deadlocking on each other's cursors.
 */
#include <string.h>

#include "commands/args.h"
#include "commands/handlers.h"
#include "server/worker.h"

bool
cmd_get_more(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_iter_t iter;
   int64_t id;
   const char *collection = NULL;
   int64_t batch_size = 0;
   fe_cursor_t *cursor = NULL;
   bson_t batch = BSON_INITIALIZER;
   bool exhausted = false;
   char ns[512];
   bool ok = false;

   if (!bson_iter_init_find(&iter, ctx->command, "getMore") || !BSON_ITER_HOLDS_INT64(&iter)) {
      error_set(error, FE_TypeMismatch,
                "BSON field 'getMore.getMore' is the wrong type, expected type 'long'");
      goto done;
   }
   id = bson_iter_int64(&iter);
   if (!bson_iter_init_find(&iter, ctx->command, "collection") || !BSON_ITER_HOLDS_UTF8(&iter)) {
      error_set(error, 40414, "BSON field 'getMore.collection' is missing but a required field");
      goto done;
   }
   collection = bson_iter_utf8(&iter, NULL);
   if (!args_int64(ctx->command, "batchSize", &batch_size, error)) {
      goto done;
   }
   if (batch_size < 0) {
      error_set(error, 51024, "BSON field 'batchSize' value must be >= 0, actual value '%lld'",
                (long long) batch_size);
      goto done;
   }
   cursor = cursor_registry_acquire(&ctx->server->cursors, id, error);
   if (!cursor) {
      goto done;
   }
   snprintf(ns, sizeof ns, "%s.%s", ctx->db, collection);
   if (strcmp(ns, cursor->ns) != 0) {
      error_set(
         error, FE_Unauthorized,
         "Requested getMore on namespace '%s', but cursor belongs to a different namespace %s", ns,
         cursor->ns);
      goto done;
   }
   if (cursor->has_lsid && ctx->has_lsid && memcmp(cursor->lsid, ctx->lsid, 16) != 0) {
      error_set(error, FE_Unauthorized,
                "Cursor session id is not the same as the operation context's session id");
      goto done;
   }
   if (cursor->owner) {
      worker_lock_session(cursor->owner);
   }
   ok = cursor_fill_batch(cursor, batch_size, ARGS_MAX_BATCH_BYTES, &batch, &exhausted, error);
   if (cursor->owner) {
      worker_unlock_session(cursor->owner);
   }
   if (!ok) {
      /* A cursor that failed cannot be trusted to resume. */
      cursor->exhausted = true;
      goto done;
   }
   args_append_cursor(ctx->reply, exhausted ? 0 : id, cursor->ns, false, &batch);

done:
   if (cursor) {
      cursor_registry_release(&ctx->server->cursors, cursor);
   }
   bson_destroy(&batch);
   return ok;
}

bool
cmd_kill_cursors(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_iter_t iter;
   bson_iter_t ids;
   bson_t killed, not_found, alive, unknown;

   if (!bson_iter_init_find(&iter, ctx->command, "cursors") || !BSON_ITER_HOLDS_ARRAY(&iter)) {
      return error_set(error, 40414,
                       "BSON field 'killCursors.cursors' is missing but a required field");
   }
   bson_iter_recurse(&iter, &ids);
   BSON_APPEND_ARRAY_BEGIN(ctx->reply, "cursorsKilled", &killed);
   bson_init(&not_found);
   {
      uint32_t killed_index = 0;
      uint32_t missing_index = 0;
      while (bson_iter_next(&ids)) {
         char key[16];
         const char *key_ptr;
         int64_t id;
         if (!BSON_ITER_HOLDS_INT64(&ids)) {
            continue;
         }
         id = bson_iter_int64(&ids);
         if (cursor_registry_kill(&ctx->server->cursors, id)) {
            bson_uint32_to_string(killed_index++, &key_ptr, key, sizeof key);
            bson_append_int64(&killed, key_ptr, -1, id);
         } else {
            bson_uint32_to_string(missing_index++, &key_ptr, key, sizeof key);
            bson_append_int64(&not_found, key_ptr, -1, id);
         }
      }
   }
   bson_append_array_end(ctx->reply, &killed);
   BSON_APPEND_ARRAY(ctx->reply, "cursorsNotFound", &not_found);
   bson_destroy(&not_found);
   BSON_APPEND_ARRAY_BEGIN(ctx->reply, "cursorsAlive", &alive);
   bson_append_array_end(ctx->reply, &alive);
   BSON_APPEND_ARRAY_BEGIN(ctx->reply, "cursorsUnknown", &unknown);
   bson_append_array_end(ctx->reply, &unknown);
   return true;
}
