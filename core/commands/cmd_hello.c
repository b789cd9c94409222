/*
 * cmd_hello.c: the handshake (hello, isMaster), ping, buildInfo and endSessions.
 */
#include <string.h>
#include <sys/time.h>

#include "commands/handlers.h"
#include "net/conn.h"
#include "wire/header.h"

static void append_handshake(fe_ctx_t *ctx, const char *primary_field);

bool
cmd_hello(fe_ctx_t *ctx, fe_error_t *error)
{
   (void) error;
   append_handshake(ctx, "isWritablePrimary");
   return true;
}

bool
cmd_is_master(fe_ctx_t *ctx, fe_error_t *error)
{
   (void) error;
   append_handshake(ctx, "ismaster");
   return true;
}

bool
cmd_ping(fe_ctx_t *ctx, fe_error_t *error)
{
   (void) ctx;
   (void) error;
   return true;
}

bool
cmd_build_info(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_t *reply = ctx->reply;
   bson_t array;
   bson_t child;
   const int version[] = {CMD_MONGODB_VERSION_ARRAY};
   (void) error;

   BSON_APPEND_UTF8(reply, "version", CMD_MONGODB_VERSION);
   BSON_APPEND_UTF8(reply, "gitVersion", "ferret-" FERRET_VERSION);
   BSON_APPEND_ARRAY_BEGIN(reply, "modules", &array);
   bson_append_array_end(reply, &array);
   BSON_APPEND_UTF8(reply, "allocator", "system");
   BSON_APPEND_UTF8(reply, "javascriptEngine", "none");
   BSON_APPEND_UTF8(reply, "sysInfo", "deprecated");
   BSON_APPEND_ARRAY_BEGIN(reply, "versionArray", &array);
   for (int i = 0; i < 4; i++) {
      char key[4];
      snprintf(key, sizeof key, "%d", i);
      BSON_APPEND_INT32(&array, key, version[i]);
   }
   bson_append_array_end(reply, &array);
   BSON_APPEND_DOCUMENT_BEGIN(reply, "openssl", &child);
   BSON_APPEND_UTF8(&child, "running", "disabled");
   bson_append_document_end(reply, &child);
   BSON_APPEND_DOCUMENT_BEGIN(reply, "buildEnvironment", &child);
   bson_append_document_end(reply, &child);
   BSON_APPEND_INT32(reply, "bits", (int32_t) (sizeof(void *) * 8));
   BSON_APPEND_BOOL(reply, "debug", false);
   BSON_APPEND_INT32(reply, "maxBsonObjectSize", HEADER_MAX_BSON_SIZE);
   BSON_APPEND_ARRAY_BEGIN(reply, "storageEngines", &array);
   BSON_APPEND_UTF8(&array, "0", ctx->server->backend_name);
   bson_append_array_end(reply, &array);
   BSON_APPEND_UTF8(reply, "ferretVersion", FERRET_VERSION);
   BSON_APPEND_UTF8(reply, "ferretBackend", ctx->server->backend_name);
   return true;
}

bool
cmd_end_sessions(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_iter_t iter;
   bson_iter_t sessions;
   (void) error;

   if (!bson_iter_init_find(&iter, ctx->command, "endSessions") || !BSON_ITER_HOLDS_ARRAY(&iter) ||
       !bson_iter_recurse(&iter, &sessions)) {
      return true;
   }
   while (bson_iter_next(&sessions)) {
      bson_iter_t id;
      const uint8_t *data;
      uint32_t len;
      bson_subtype_t subtype;
      if (BSON_ITER_HOLDS_DOCUMENT(&sessions) && bson_iter_recurse(&sessions, &id) &&
          bson_iter_find(&id, "id") && BSON_ITER_HOLDS_BINARY(&id)) {
         bson_iter_binary(&id, &subtype, &len, &data);
         if (len == 16) {
            cursor_registry_kill_session(&ctx->server->cursors, data);
         }
      }
   }
   return true;
}

/* commitTransaction and abortTransaction: a standalone server has no transactions. */
bool
cmd_end_transaction(fe_ctx_t *ctx, fe_error_t *error)
{
   (void) ctx;
   return error_set(error, FE_IllegalOperation,
                    "Transaction numbers are only allowed on a replica set member or mongos");
}

static void
append_handshake(fe_ctx_t *ctx, const char *primary_field)
{
   bson_t *reply = ctx->reply;
   bson_iter_t iter;
   struct timeval now;

   /* The first handshake of a connection carries the client's metadata; keep it for logs. */
   if (bson_iter_init_find(&iter, ctx->command, "client") && BSON_ITER_HOLDS_DOCUMENT(&iter) &&
       !ctx->conn->client_metadata) {
      const uint8_t *data;
      uint32_t len;
      bson_t client;
      bson_iter_document(&iter, &len, &data);
      if (bson_init_static(&client, data, len)) {
         ctx->conn->client_metadata = bson_copy(&client);
      }
   }
   if (bson_iter_init_find(&iter, ctx->command, "helloOk") && bson_iter_as_bool(&iter)) {
      BSON_APPEND_BOOL(reply, "helloOk", true);
   }
   BSON_APPEND_BOOL(reply, primary_field, true);
   /* No topologyVersion: it would invite drivers to stream hello replies (exhaust), which a
    * standalone server that never changes role gains nothing from. Drivers poll instead. */
   BSON_APPEND_INT32(reply, "maxBsonObjectSize", HEADER_MAX_BSON_SIZE);
   BSON_APPEND_INT32(reply, "maxMessageSizeBytes", HEADER_MAX_MESSAGE_SIZE);
   BSON_APPEND_INT32(reply, "maxWriteBatchSize", HEADER_MAX_WRITE_BATCH);
   gettimeofday(&now, NULL);
   BSON_APPEND_DATE_TIME(reply, "localTime",
                         (int64_t) now.tv_sec * 1000 + (int64_t) now.tv_usec / 1000);
   BSON_APPEND_INT32(reply, "logicalSessionTimeoutMinutes", CMD_SESSION_TIMEOUT_MINUTES);
   BSON_APPEND_INT32(reply, "connectionId", (int32_t) ctx->conn->id);
   BSON_APPEND_INT32(reply, "minWireVersion", 0);
   BSON_APPEND_INT32(reply, "maxWireVersion", CMD_MAX_WIRE_VERSION);
   BSON_APPEND_BOOL(reply, "readOnly", false);
}
