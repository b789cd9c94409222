/*
 * cmd_diag.c: diagnostic commands drivers, shells and tools ask for: getParameter,
 * getCmdLineOpts, hostInfo, whatsmyuri, connectionStatus, getLog, serverStatus, listCommands,
 * currentOp, killOp, profile, features, logout, usersInfo, rolesInfo, getFreeMonitoringStatus, and
 * the replication commands a standalone mongod refuses (replSetGetStatus, replSetGetConfig,
 * replSetInitiate).
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "commands/handlers.h"
#include "cursor/cursor.h"
#include "net/conn.h"
#include "query/filter.h"
#include "server/log.h"

/* The parameters getParameter knows, in MongoDB's names and strcmp order. */
static const char *const parameters[] = {
   "authenticationMechanisms",
   "cursorTimeoutMillis",
   "featureCompatibilityVersion",
   "logComponentVerbosity",
   "logLevel",
   "quiet",
   "ttlMonitorEnabled",
};

/* The profiler settings a standalone reports when profiling is off. */
#define DIAG_PROFILE_SLOWMS 100

static int64_t now_millis(void);
static bool is_parameter(const char *name);
static void append_parameter(const fe_ctx_t *ctx, const char *name, bool details, bson_t *out);
static bool is_generic_argument(const char *key);

/* {getParameter: "*"} or {getParameter: {allParameters: true, showDetails}} lists every
 * parameter; {getParameter: 1, name: 1, ...} the ones named (72 when none is known). */
bool
cmd_get_parameter(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_iter_t iter;
   bool all = false;
   bool details = false;
   bool found = false;

   if (bson_iter_init_find(&iter, ctx->command, "getParameter")) {
      if (BSON_ITER_HOLDS_UTF8(&iter) && strcmp(bson_iter_utf8(&iter, NULL), "*") == 0) {
         all = true;
      } else if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         bson_iter_t options;
         bson_iter_recurse(&iter, &options);
         while (bson_iter_next(&options)) {
            if (strcmp(bson_iter_key(&options), "allParameters") == 0) {
               all = bson_iter_as_bool(&options);
            } else if (strcmp(bson_iter_key(&options), "showDetails") == 0) {
               details = bson_iter_as_bool(&options);
            }
         }
      }
   }
   if (all) {
      for (size_t i = 0; i < sizeof parameters / sizeof parameters[0]; i++) {
         append_parameter(ctx, parameters[i], details, ctx->reply);
      }
      return true;
   }
   bson_iter_init(&iter, ctx->command);
   while (bson_iter_next(&iter)) {
      const char *name = bson_iter_key(&iter);
      if (is_parameter(name)) {
         append_parameter(ctx, name, details, ctx->reply);
         found = true;
      }
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
   bson_t child;
   char hostname[256] = "localhost";
   int64_t now = now_millis();
   int64_t uptime_ms = now - (int64_t) ctx->server->started * 1000;
   int open = atomic_load(&ctx->server->open_connections);
   long pages_virtual = 0, pages_resident = 0;
   FILE *statm;
   (void) error;

   gethostname(hostname, sizeof hostname - 1);
   BSON_APPEND_UTF8(ctx->reply, "host", hostname);
   BSON_APPEND_UTF8(ctx->reply, "version", CMD_MONGODB_VERSION);
   BSON_APPEND_UTF8(ctx->reply, "process", "ferretd");
   BSON_APPEND_INT64(ctx->reply, "pid", (int64_t) getpid());
   BSON_APPEND_DOUBLE(ctx->reply, "uptime", (double) (time(NULL) - ctx->server->started));
   BSON_APPEND_INT64(ctx->reply, "uptimeMillis", uptime_ms > 0 ? uptime_ms : 0);
   BSON_APPEND_INT64(ctx->reply, "uptimeEstimate", (int64_t) (time(NULL) - ctx->server->started));
   BSON_APPEND_DATE_TIME(ctx->reply, "localTime", now);
   BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "connections", &child);
   BSON_APPEND_INT32(&child, "current", open);
   BSON_APPEND_INT32(
      &child, "available",
      ctx->server->config.max_connections > open ? ctx->server->config.max_connections - open : 0);
   BSON_APPEND_INT64(&child, "totalCreated", atomic_load(&ctx->server->next_connection_id) - 1);
   bson_append_document_end(ctx->reply, &child);
   /* Memory in MiB, as MongoDB reports it; Linux tells it in pages. */
   statm = fopen("/proc/self/statm", "r");
   if (statm) {
      if (fscanf(statm, "%ld %ld", &pages_virtual, &pages_resident) != 2) {
         pages_virtual = pages_resident = 0;
      }
      fclose(statm);
   }
   BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "mem", &child);
   BSON_APPEND_INT32(&child, "bits", (int32_t) (sizeof(void *) * 8));
   BSON_APPEND_INT32(&child, "resident",
                     (int32_t) ((int64_t) pages_resident * sysconf(_SC_PAGESIZE) / (1024 * 1024)));
   BSON_APPEND_INT32(&child, "virtual",
                     (int32_t) ((int64_t) pages_virtual * sysconf(_SC_PAGESIZE) / (1024 * 1024)));
   BSON_APPEND_BOOL(&child, "supported", statm != NULL);
   bson_append_document_end(ctx->reply, &child);
   BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "storageEngine", &child);
   BSON_APPEND_UTF8(&child, "name", ctx->server->backend_name);
   BSON_APPEND_BOOL(&child, "supportsCommittedReads", false);
   BSON_APPEND_BOOL(&child, "readOnly", false);
   bson_append_document_end(ctx->reply, &child);
   BSON_APPEND_DOCUMENT_BEGIN(ctx->reply, "metrics", &child);
   ttl_append_metrics(&ctx->server->ttl, &child);
   bson_append_document_end(ctx->reply, &child);
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

/*
 * The server keeps no table of operations in progress across its worker threads, so the one
 * operation it can report is the caller's own, which is running by definition (an idle
 * connection on another worker is invisible). Appends that operation to out in MongoDB's
 * shape; opid is the connection id, each connection running one command at a time.
 */
void
cmd_current_op_document(const fe_ctx_t *ctx, bson_t *out)
{
   char host[300];
   char desc[32];
   char hostname[256] = "localhost";
   char when[64];
   struct timeval now;
   struct tm tm;
   bson_iter_t iter;

   gethostname(hostname, sizeof hostname - 1);
   snprintf(host, sizeof host, "%s:%d", hostname, ctx->server->bound_port);
   snprintf(desc, sizeof desc, "conn%lld", (long long) ctx->conn->id);
   gettimeofday(&now, NULL);
   gmtime_r(&now.tv_sec, &tm);
   snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
            (int) (now.tv_usec / 1000));
   BSON_APPEND_UTF8(out, "type", "op");
   BSON_APPEND_UTF8(out, "host", host);
   BSON_APPEND_UTF8(out, "desc", desc);
   BSON_APPEND_INT64(out, "connectionId", ctx->conn->id);
   BSON_APPEND_UTF8(out, "client", ctx->conn->peer);
   if (ctx->conn->client_metadata) {
      BSON_APPEND_DOCUMENT(out, "clientMetadata", ctx->conn->client_metadata);
   }
   BSON_APPEND_BOOL(out, "active", true);
   BSON_APPEND_UTF8(out, "currentOpTime", when);
   BSON_APPEND_BOOL(out, "threaded", true);
   BSON_APPEND_INT64(out, "opid", ctx->conn->id);
   if (bson_iter_init_find(&iter, ctx->command, "lsid") && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      bson_append_iter(out, "lsid", -1, &iter);
   }
   BSON_APPEND_INT64(out, "secs_running", 0);
   BSON_APPEND_INT64(out, "microsecs_running", 0);
   BSON_APPEND_UTF8(out, "op", "command");
   BSON_APPEND_UTF8(out, "ns", ctx->db);
   BSON_APPEND_DOCUMENT(out, "command", ctx->command);
   BSON_APPEND_INT32(out, "numYields", 0);
   BSON_APPEND_BOOL(out, "waitingForLock", false);
}

/* {currentOp: 1, $all, $ownOps, <filter fields>}: the fields that are not options or generic
 * arguments form a query filter over the operation documents, as in MongoDB. */
bool
cmd_current_op(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_t filter = BSON_INITIALIZER;
   bson_t op = BSON_INITIALIZER;
   bson_t inprog;
   fe_filter_t *compiled = NULL;
   bson_iter_t iter;
   bool ok = false;

   bson_iter_init(&iter, ctx->command);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "currentOp") == 0 || strcmp(key, "$all") == 0 ||
          strcmp(key, "$ownOps") == 0 || strcmp(key, "$truncateOps") == 0 ||
          is_generic_argument(key)) {
         continue;
      }
      bson_append_iter(&filter, key, -1, &iter);
   }
   if (!bson_empty(&filter) && !(compiled = filter_compile(&filter, error))) {
      goto done;
   }
   cmd_current_op_document(ctx, &op);
   BSON_APPEND_ARRAY_BEGIN(ctx->reply, "inprog", &inprog);
   if (!compiled || filter_match(compiled, &op, NULL)) {
      BSON_APPEND_DOCUMENT(&inprog, "0", &op);
   }
   bson_append_array_end(ctx->reply, &inprog);
   ok = true;

done:
   if (compiled) {
      filter_destroy(compiled);
   }
   bson_destroy(&op);
   bson_destroy(&filter);
   return ok;
}

/* Every command runs to completion on its worker; none can be interrupted. mongod answers the
 * same for an operation that has already finished. */
bool
cmd_kill_op(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_iter_t iter;

   if (!bson_iter_init_find(&iter, ctx->command, "op")) {
      return error_set(error, FE_NoSuchKey, "Missing expected field \"op\"");
   }
   if (!BSON_ITER_HOLDS_NUMBER(&iter)) {
      return error_set(error, FE_TypeMismatch, "Field 'op' must be a number");
   }
   BSON_APPEND_UTF8(ctx->reply, "info", "attempting to kill op");
   return true;
}

/* The profiler is off and stays off: level 0 and -1 (read) answer as a standalone with
 * profiling off; levels 1 and 2 would promise a system.profile collection that never fills. */
bool
cmd_profile(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_iter_t iter;
   int64_t level;

   if (!bson_iter_init_find(&iter, ctx->command, "profile") || !BSON_ITER_HOLDS_NUMBER(&iter)) {
      return error_set(error, FE_TypeMismatch, "BSON field 'profile' must be a number");
   }
   level = bson_iter_as_int64(&iter);
   if (level < -1 || level > 2) {
      return error_set(error, FE_BadValue, "Invalid profiling level: %lld", (long long) level);
   }
   if (level > 0) {
      return error_set(error, FE_CommandNotSupported,
                       "profiling level %lld is not supported: the profiler is always off",
                       (long long) level);
   }
   BSON_APPEND_INT32(ctx->reply, "was", 0);
   BSON_APPEND_INT32(ctx->reply, "slowms", DIAG_PROFILE_SLOWMS);
   BSON_APPEND_DOUBLE(ctx->reply, "sampleRate", 1.0);
   return true;
}

/* replSetGetStatus, replSetGetConfig, replSetInitiate: what a mongod started without
 * --replSet answers. */
bool
cmd_repl_set(fe_ctx_t *ctx, fe_error_t *error)
{
   (void) ctx;
   return error_set(error, FE_NoReplicationEnabled, "not running with --replSet");
}

bool
cmd_features(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_oid_t oid;
   const uint8_t *bytes;
   (void) error;

   /* The machine part of the ObjectIds this process generates (bytes 4 to 6). */
   bson_oid_init(&oid, NULL);
   bytes = oid.bytes;
   BSON_APPEND_INT32(ctx->reply, "oidMachine",
                     (int32_t) ((uint32_t) bytes[4] << 16 | (uint32_t) bytes[5] << 8 | bytes[6]));
   return true;
}

/* Without authentication there is no one to log out; MongoDB 7.0 answers ok as well. */
bool
cmd_logout(fe_ctx_t *ctx, fe_error_t *error)
{
   (void) ctx;
   (void) error;
   return true;
}

/* No users exist without authentication: usersInfo lists none. */
bool
cmd_users_info(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_t users;
   (void) error;

   BSON_APPEND_ARRAY_BEGIN(ctx->reply, "users", &users);
   bson_append_array_end(ctx->reply, &users);
   return true;
}

/* Nor roles: rolesInfo (mongosh `show roles`) lists none. */
bool
cmd_roles_info(fe_ctx_t *ctx, fe_error_t *error)
{
   bson_t roles;
   (void) error;

   BSON_APPEND_ARRAY_BEGIN(ctx->reply, "roles", &roles);
   bson_append_array_end(ctx->reply, &roles);
   return true;
}

/* Free monitoring was decommissioned; a server without it configured says disabled. */
bool
cmd_get_free_monitoring_status(fe_ctx_t *ctx, fe_error_t *error)
{
   (void) error;
   BSON_APPEND_UTF8(ctx->reply, "state", "disabled");
   return true;
}

static bool
is_parameter(const char *name)
{
   for (size_t i = 0; i < sizeof parameters / sizeof parameters[0]; i++) {
      if (strcmp(parameters[i], name) == 0) {
         return true;
      }
   }
   return false;
}

/* Appends {name: value}, or {name: {value, settableAtRuntime, settableAtStartup}} with
 * details. Nothing is settable: there is no setParameter. */
static void
append_parameter(const fe_ctx_t *ctx, const char *name, bool details, bson_t *out)
{
   bson_t wrapper;
   bson_t child;
   bson_t *target = out;
   const char *key = name;

   if (details) {
      BSON_APPEND_DOCUMENT_BEGIN(out, name, &wrapper);
      target = &wrapper;
      key = "value";
   }
   if (strcmp(name, "featureCompatibilityVersion") == 0) {
      const int version[] = {CMD_MONGODB_VERSION_ARRAY};
      char fcv[16];
      snprintf(fcv, sizeof fcv, "%d.%d", version[0], version[1]);
      BSON_APPEND_DOCUMENT_BEGIN(target, key, &child);
      BSON_APPEND_UTF8(&child, "version", fcv);
      bson_append_document_end(target, &child);
   } else if (strcmp(name, "authenticationMechanisms") == 0) {
      BSON_APPEND_ARRAY_BEGIN(target, key, &child);
      bson_append_array_end(target, &child);
   } else if (strcmp(name, "quiet") == 0) {
      BSON_APPEND_BOOL(target, key, false);
   } else if (strcmp(name, "cursorTimeoutMillis") == 0) {
      BSON_APPEND_INT64(target, key, (int64_t) CURSOR_IDLE_TIMEOUT_SECONDS * 1000);
   } else if (strcmp(name, "logLevel") == 0) {
      BSON_APPEND_INT32(target, key, ctx->server->config.log_level == LOG_DEBUG ? 1 : 0);
   } else if (strcmp(name, "logComponentVerbosity") == 0) {
      BSON_APPEND_DOCUMENT_BEGIN(target, key, &child);
      BSON_APPEND_INT32(&child, "verbosity", ctx->server->config.log_level == LOG_DEBUG ? 1 : 0);
      bson_append_document_end(target, &child);
   } else if (strcmp(name, "ttlMonitorEnabled") == 0) {
      /* The TTL monitor runs unless ttl_monitor_interval is 0. */
      BSON_APPEND_BOOL(target, key, ctx->server->config.ttl_monitor_interval > 0);
   }
   if (details) {
      BSON_APPEND_BOOL(&wrapper, "settableAtRuntime", false);
      BSON_APPEND_BOOL(&wrapper, "settableAtStartup", false);
      bson_append_document_end(out, &wrapper);
   }
}

/* The arguments any command may carry, which are never a command's own options. */
static bool
is_generic_argument(const char *key)
{
   static const char *const generic[] = {
      "$db",
      "$readPreference",
      "$clusterTime",
      "lsid",
      "comment",
      "maxTimeMS",
      "apiVersion",
      "apiStrict",
      "readConcern",
      "writeConcern",
      "txnNumber",
      "autocommit",
      "startTransaction",
      "apiDeprecationErrors",
   };
   for (size_t i = 0; i < sizeof generic / sizeof generic[0]; i++) {
      if (strcmp(generic[i], key) == 0) {
         return true;
      }
   }
   return false;
}

static int64_t
now_millis(void)
{
   struct timeval now;
   gettimeofday(&now, NULL);
   return (int64_t) now.tv_sec * 1000 + (int64_t) now.tv_usec / 1000;
}
