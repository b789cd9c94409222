/*
 * dispatch.c: the checks every command shares, done once here so handlers never repeat them.
 */
#include "commands/dispatch.h"

#include <string.h>
#include <time.h>

#include "commands/cmd_views.h"
#include "commands/failpoint.h"
#include "net/conn.h"
#include "server/log.h"
#include "server/worker.h"

static bool read_lsid(const bson_iter_t *iter, uint8_t lsid[16]);
static bool run_fail_point(fe_ctx_t *ctx, const fe_failpoint_hit_t *hit, fe_error_t *error);

void
dispatch_command(fe_conn_t *conn, const char *legacy_db, const bson_t *command, bson_t *reply)
{
   fe_worker_t *worker = conn->worker;
   fe_error_t error = {0};
   fe_failpoint_hit_t hit = {0};
   const fe_command_t *entry;
   bson_iter_t iter;
   bson_iter_t db_iter;
   bson_iter_t lsid_iter;
   bool have_db = false;
   bool have_lsid = false;
   bool have_txn_number = false;
   fe_ctx_t ctx = {
      .conn = conn,
      .worker = worker,
      .server = worker->server,
      .command = command,
      .reply = reply,
      .methods = &worker->server->plugin->methods,
      .session = worker->session,
   };

   if (!bson_iter_init(&iter, command) || !bson_iter_next(&iter)) {
      error_set(&error, FE_FailedToParse, "empty command document");
      goto failed;
   }
   ctx.name = bson_iter_key(&iter);
   entry = table_find(ctx.name);
   if (!entry) {
      error_set(&error, FE_CommandNotFound, "no such command: '%s'", ctx.name);
      goto failed;
   }
   /* One pass finds the fields every command reads here (the first of each name, as
    * bson_iter_init_find() would). */
   do {
      const char *key = bson_iter_key(&iter);
      if (key[0] == '$' && !have_db && strcmp(key, "$db") == 0) {
         db_iter = iter;
         have_db = true;
      } else if (key[0] == 'l' && !have_lsid && strcmp(key, "lsid") == 0) {
         lsid_iter = iter;
         have_lsid = true;
      } else if (key[0] == 't' && strcmp(key, "txnNumber") == 0) {
         have_txn_number = true;
      }
   } while (bson_iter_next(&iter));
   if (legacy_db) {
      ctx.db = legacy_db;
   } else if (have_db && BSON_ITER_HOLDS_UTF8(&db_iter)) {
      ctx.db = bson_iter_utf8(&db_iter, NULL);
   } else {
      error_set(&error, 40571, "OP_MSG requests require a $db argument");
      goto failed;
   }
   if ((entry->flags & FE_CMD_ADMIN_ONLY) && strcmp(ctx.db, "admin") != 0) {
      error_set(&error, FE_Unauthorized, "%s may only be run against the admin database.",
                ctx.name);
      goto failed;
   }
   ctx.has_lsid = have_lsid && read_lsid(&lsid_iter, ctx.lsid);
   if (have_txn_number) {
      /* What a standalone mongod answers: retryable writes and transactions need a replica
       * set, and drivers only send txnNumber to one they were told is there. */
      error_set(&error, FE_IllegalOperation,
                "Transaction numbers are only allowed on a replica set member or mongos");
      goto failed;
   }
   if (failpoint_check(&ctx, &hit) && !run_fail_point(&ctx, &hit, &error)) {
      goto failed;
   }
   if (conn->close_without_reply) {
      goto done;
   }

   if (entry->flags & FE_CMD_NO_SESSION) {
      if (!entry->handler(&ctx, &error)) {
         goto failed;
      }
   } else {
      bool ok;
      bool handled = false;
      worker_lock_session(worker);
      /* A command naming a view runs or fails here (core/commands/cmd_views.c). */
      ok = cmd_views_intercept(&ctx, &handled, &error);
      if (ok && !handled) {
         ok = entry->handler(&ctx, &error);
      }
      worker_unlock_session(worker);
      if (!ok) {
         goto failed;
      }
   }
   if (hit.write_concern_error) {
      BSON_APPEND_DOCUMENT(reply, "writeConcernError", hit.write_concern_error);
      if (hit.error_labels) {
         BSON_APPEND_ARRAY(reply, "errorLabels", hit.error_labels);
      }
   }
   BSON_APPEND_DOUBLE(reply, "ok", 1.0);
   goto done;

failed:
   if (error.code == 0) {
      error_set(&error, FE_InternalError, "command failed without an error");
   }
   log_write(LOG_DEBUG, "command", "%s failed: %d %s", ctx.name ? ctx.name : "?", error.code,
             error.message);
   dispatch_error_reply(&error, reply);
   if (ctx.error_details) {
      bson_concat(reply, ctx.error_details);
   }

done:
   if (ctx.error_details) {
      bson_destroy(ctx.error_details);
   }
   failpoint_hit_clear(&hit);
}

bson_t *
dispatch_error_details(fe_ctx_t *ctx)
{
   if (!ctx->error_details) {
      ctx->error_details = bson_new();
   }
   return ctx->error_details;
}

void
dispatch_error_reply(const fe_error_t *error, bson_t *reply)
{
   bson_reinit(reply);
   BSON_APPEND_DOUBLE(reply, "ok", 0.0);
   BSON_APPEND_UTF8(reply, "errmsg", error->message);
   BSON_APPEND_INT32(reply, "code", error->code);
   BSON_APPEND_UTF8(reply, "codeName", error_code_name(error->code));
}

/* Does what a triggered fail point asks before the command runs. False with *error when the
 * command must fail; a writeConcernError is left for after it ran. */
static bool
run_fail_point(fe_ctx_t *ctx, const fe_failpoint_hit_t *hit, fe_error_t *error)
{
   if (hit->block_ms > 0) {
      /* Blocks the worker, so the connections it serves wait too; tests use short blocks. */
      struct timespec pause = {hit->block_ms / 1000, (long) (hit->block_ms % 1000) * 1000000L};
      nanosleep(&pause, NULL);
   }
   if (hit->close_connection) {
      ctx->conn->close_without_reply = true;
      return true;
   }
   if (hit->error_code) {
      if (hit->error_labels) {
         BSON_APPEND_ARRAY(dispatch_error_details(ctx), "errorLabels", hit->error_labels);
      }
      return error_set(error, hit->error_code, "Failing command via 'failCommand' failpoint");
   }
   return true;
}

static bool
read_lsid(const bson_iter_t *iter, uint8_t lsid[16])
{
   bson_iter_t id;
   const uint8_t *data;
   uint32_t len;
   bson_subtype_t subtype;

   if (!BSON_ITER_HOLDS_DOCUMENT(iter) || !bson_iter_recurse(iter, &id) ||
       !bson_iter_find(&id, "id") || !BSON_ITER_HOLDS_BINARY(&id)) {
      return false;
   }
   bson_iter_binary(&id, &subtype, &len, &data);
   if (len != 16) {
      return false;
   }
   memcpy(lsid, data, 16);
   return true;
}
