/*
 * cmd_diag.c: diagnostic commands drivers and shells ask for: getParameter, getCmdLineOpts,
 * hostInfo, whatsmyuri, connectionStatus, getLog, serverStatus, listCommands.
 */
#include <string.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "commands/handlers.h"
#include "net/conn.h"

static int64_t now_millis(void);

bool
cmd_get_parameter(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_iter_t iter;
   bool all = false;
   bool found = false;
   bson_t fcv;

   if (bson_iter_init_find(&iter, ctx->command, "getParameter") && BSON_ITER_HOLDS_UTF8(&iter) &&
       strcmp(bson_iter_utf8(&iter, NULL), "*") == 0) {
      all = true;
   }
   if (all || bson_has_field(ctx->command, "featureCompatibilityVersion")) {
      BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "featureCompatibilityVersion", &fcv);
      BSON_APPEND_UTF8(&fcv, "version", "7.0");
      bson_append_document_end(ctx->reply, &fcv);
      found = true;
   }
   if (all || bson_has_field(ctx->command, "authenticationMechanisms")) {
      bson_t mechanisms;
      BSON_APPEND_ARRAY_BEGIN(ctx->reply, "authenticationMechanisms", &mechanisms);
      bson_append_array_end(ctx->reply, &mechanisms);
      found = true;
   }
   if (all || bson_has_field(ctx->command, "quiet")) {
      BSON_APPEND_BOOL(ctx->reply, "quiet", false);
      found = true;
   }
   if (!found) {
      return error_set(error, FE_InvalidOptions, "no option found to get");
   }
   return true;
}

bool
cmd_get_cmd_line_opts(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_t argv;
   bson_t parsed;
   bson_t net;
   const fe_config_t *config = &ctx->server->config;
   (void) error;

   BSON_APPEND_ARRAY_BEGIN(ctx->reply, "argv", &argv);
   BSON_APPEND_UTF8(&argv, "0", "ferretd");
   bson_append_array_end(ctx->reply, &argv);
   BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "parsed", &parsed);
   BSON_APPEND_UTF8(&parsed, "backend", ctx->server->backend_name);
   BSON_APPEND_DOCUMENT_BEGIN(&parsed, "net", &net);
   BSON_APPEND_UTF8(&net, "bindIp", config->listen_host);
   BSON_APPEND_INT32(&net, "port", ctx->server->bound_port);
   bson_append_document_end(&parsed, &net);
   bson_append_document_end(ctx->reply, &parsed);
   return true;
}

bool
cmd_host_info(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_t system;
   bson_t os;
   bson_t extra;
   struct utsname name;
   char hostname[256] = "localhost";
   long pages = sysconf(_SC_PHYS_PAGES);
   long page_size = sysconf(_SC_PAGESIZE);
   (void) error;

   gethostname(hostname, sizeof hostname - 1);
   uname(&name);
   BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "system", &system);
   BSON_APPEND_DATE_TIME(&system, "currentTime", now_millis());
   BSON_APPEND_UTF8(&system, "hostname", hostname);
   BSON_APPEND_INT32(&system, "cpuAddrSize", (int32_t) (sizeof(void *) * 8));
   BSON_APPEND_INT64(&system, "memSizeMB", (int64_t) pages * page_size / (1024 * 1024));
   BSON_APPEND_INT32(&system, "numCores", (int32_t) sysconf(_SC_NPROCESSORS_ONLN));
   BSON_APPEND_UTF8(&system, "cpuArch", name.machine);
   BSON_APPEND_BOOL(&system, "numaEnabled", false);
   bson_append_document_end(ctx->reply, &system);
   BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "os", &os);
   BSON_APPEND_UTF8(&os, "type", name.sysname);
   BSON_APPEND_UTF8(&os, "name", name.sysname);
   BSON_APPEND_UTF8(&os, "version", name.release);
   bson_append_document_end(ctx->reply, &os);
   BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "extra", &extra);
   bson_append_document_end(ctx->reply, &extra);
   return true;
}

bool
cmd_whats_my_uri(fe_ctx_t *ctx, fe_error_t *error)
{
   (void) error;
   BSON_APPEND_UTF8(ctx->reply, "you", ctx->conn->peer);
   return true;
}

bool
cmd_connection_status(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_t auth;
   bson_t empty;
   (void) error;

   BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "authInfo", &auth);
   BSON_APPEND_ARRAY_BEGIN(&auth, "authenticatedUsers", &empty);
   bson_append_array_end(&auth, &empty);
   BSON_APPEND_ARRAY_BEGIN(&auth, "authenticatedUserRoles", &empty);
   bson_append_array_end(&auth, &empty);
   bson_append_document_end(ctx->reply, &auth);
   return true;
}

bool
cmd_get_log(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_iter_t iter;
   bson_t array;
   const char *which;

   if (!bson_iter_init_find(&iter, ctx->command, "getLog") || !BSON_ITER_HOLDS_UTF8(&iter)) {
      return error_set(error, FE_TypeMismatch, "argument to getLog must be of type String");
   }
   which = bson_iter_utf8(&iter, NULL);
   if (strcmp(which, "*") == 0) {
      BSON_APPEND_ARRAY_BEGIN(ctx->reply, "names", &array);
      BSON_APPEND_UTF8(&array, "0", "global");
      BSON_APPEND_UTF8(&array, "1", "startupWarnings");
      bson_append_array_end(ctx->reply, &array);
      return true;
   }
   if (strcmp(which, "global") != 0 && strcmp(which, "startupWarnings") != 0) {
      return error_set(error, FE_OperationFailed, "no RamLog named: %s", which);
   }
   /* The log goes to stderr; nothing is kept in memory to return. */
   BSON_APPEND_INT32(ctx->reply, "totalLinesWritten", 0);
   BSON_APPEND_ARRAY_BEGIN(ctx->reply, "log", &array);
   bson_append_array_end(ctx->reply, &array);
   return true;
}

bool
cmd_server_status(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_t connections;
   char hostname[256] = "localhost";
   (void) error;

   gethostname(hostname, sizeof hostname - 1);
   BSON_APPEND_UTF8(ctx->reply, "host", hostname);
   BSON_APPEND_UTF8(ctx->reply, "version", CMD_MONGODB_VERSION);
   BSON_APPEND_UTF8(ctx->reply, "process", "ferretd");
   BSON_APPEND_INT64(ctx->reply, "pid", (int64_t) getpid());
   BSON_APPEND_INT64(ctx->reply, "uptime", (int64_t) (time(NULL) - ctx->server->started));
   BSON_APPEND_DATE_TIME(ctx->reply, "localTime", now_millis());
   BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "connections", &connections);
   BSON_APPEND_INT32(&connections, "current", atomic_load(&ctx->server->open_connections));
   BSON_APPEND_INT64(&connections, "totalCreated",
                     atomic_load(&ctx->server->next_connection_id) - 1);
   bson_append_document_end(ctx->reply, &connections);
   return true;
}

bool
cmd_list_commands(fe_ctx_t *ctx, fe_error_t *error)
{
   size_t count;
   const fe_command_t *commands = table_all(&count);
   bson_t all;
   (void) error;

   BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "commands", &all);
   for (size_t i = 0; i < count; i++) {
      bson_t entry;
      BSON_APPEND_DOCUMENT_BEGIN(&all, commands[i].name, &entry);
      BSON_APPEND_BOOL(&entry, "adminOnly", (commands[i].flags & FE_CMD_ADMIN_ONLY) != 0);
      bson_append_document_end(&all, &entry);
   }
   bson_append_document_end(ctx->reply, &all);
   return true;
}

static int64_t
now_millis(void)
{
   struct timeval now;
   gettimeofday(&now, NULL);
   return (int64_t) now.tv_sec * 1000 + (int64_t) now.tv_usec / 1000;
}
