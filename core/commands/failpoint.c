/*
 * failpoint.c: the failCommand fail point (failpoint.h), the one drivers' specification tests
 * use to make the server fail a command the way a real deployment sometimes does.
 *
 * The state is process-wide, as mongod's fail point registry is: a test arms it through one
 * connection and the commands of every connection see it.
 */
#include "commands/failpoint.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "net/conn.h"

typedef enum fail_mode {
   FAIL_OFF,
   FAIL_ALWAYS,
   FAIL_TIMES,      /* the next `remaining` matching commands */
   FAIL_SKIP,       /* every matching command after `remaining` of them */
   FAIL_PROBABILITY /* each matching command with `probability` */
} fail_mode_t;

typedef struct fail_command {
   pthread_mutex_t lock;
   fail_mode_t mode;
   int64_t remaining;
   double probability;
   bson_t *data;    /* owned; the `data` document it was armed with */
   int64_t entered; /* how often it triggered since it was armed */
} fail_command_t;

static fail_command_t fail_command = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool parse_mode(const bson_iter_t *mode, fail_command_t *out, fe_error_t *error);
static bool check_data(const bson_t *data, fe_error_t *error);
static bool applies_to(const bson_t *data, const fe_ctx_t *ctx);
static bool array_holds_string(const bson_iter_t *array, const char *value);
static const char *app_name_of(const fe_conn_t *conn);
static void fill_hit(const bson_t *data, fe_failpoint_hit_t *hit);

bool
failpoint_configure(fe_ctx_t *ctx, fe_error_t *error)
{
   fail_command_t armed = {.mode = FAIL_OFF};
   bson_iter_t iter;
   bson_t *data = NULL;
   int64_t entered;

   if (!ctx->server->config.enable_test_commands) {
      return error_set(error, FE_CommandNotFound, "no such command: '%s'", ctx->name);
   }
   if (!bson_iter_init_find(&iter, ctx->command, "configureFailPoint") ||
       !BSON_ITER_HOLDS_UTF8(&iter)) {
      return error_set(error, FE_TypeMismatch, "configureFailPoint must name a fail point");
   }
   if (strcmp(bson_iter_utf8(&iter, NULL), "failCommand") != 0) {
      return error_set(error, FE_BadValue, "unknown fail point: '%s'", bson_iter_utf8(&iter, NULL));
   }
   if (!bson_iter_init_find(&iter, ctx->command, "mode")) {
      return error_set(error, FE_BadValue, "missing 'mode' of configureFailPoint");
   }
   if (!parse_mode(&iter, &armed, error)) {
      return false;
   }
   if (bson_iter_init_find(&iter, ctx->command, "data")) {
      const uint8_t *raw;
      uint32_t len;
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         return error_set(error, FE_TypeMismatch, "'data' of configureFailPoint must be an object");
      }
      bson_iter_document(&iter, &len, &raw);
      data = bson_new_from_data(raw, len);
   } else {
      data = bson_new();
   }
   if (armed.mode != FAIL_OFF && !check_data(data, error)) {
      bson_destroy(data);
      return false;
   }

   pthread_mutex_lock(&fail_command.lock);
   entered = fail_command.entered;
   bson_destroy(fail_command.data);
   fail_command.mode = armed.mode;
   fail_command.remaining = armed.remaining;
   fail_command.probability = armed.probability;
   fail_command.data = data;
   fail_command.entered = 0;
   pthread_mutex_unlock(&fail_command.lock);

   BSON_APPEND_INT64(ctx->reply, "count", entered);
   return true;
}

bool
failpoint_check(const fe_ctx_t *ctx, fe_failpoint_hit_t *hit)
{
   bool trigger = false;

   pthread_mutex_lock(&fail_command.lock);
   if (fail_command.mode != FAIL_OFF && applies_to(fail_command.data, ctx)) {
      switch (fail_command.mode) {
      case FAIL_ALWAYS:
         trigger = true;
         break;
      case FAIL_TIMES:
         trigger = true;
         if (--fail_command.remaining <= 0) {
            fail_command.mode = FAIL_OFF;
         }
         break;
      case FAIL_SKIP:
         if (fail_command.remaining > 0) {
            fail_command.remaining--;
         } else {
            trigger = true;
         }
         break;
      case FAIL_PROBABILITY:
         trigger = (double) random() / RAND_MAX < fail_command.probability;
         break;
      case FAIL_OFF:
         break;
      }
   }
   if (trigger) {
      fail_command.entered++;
      fill_hit(fail_command.data, hit);
   }
   pthread_mutex_unlock(&fail_command.lock);
   return trigger;
}

void
failpoint_hit_clear(fe_failpoint_hit_t *hit)
{
   if (hit->error_labels) {
      bson_destroy(hit->error_labels);
   }
   if (hit->write_concern_error) {
      bson_destroy(hit->write_concern_error);
   }
   *hit = (fe_failpoint_hit_t){0};
}

/* "off", "alwaysOn", {times: n}, {skip: n} or {activationProbability: p}. */
static bool
parse_mode(const bson_iter_t *mode, fail_command_t *out, fe_error_t *error)
{
   bson_iter_t inner;
   const char *key;

   if (BSON_ITER_HOLDS_UTF8(mode)) {
      const char *name = bson_iter_utf8(mode, NULL);
      if (strcmp(name, "off") == 0) {
         out->mode = FAIL_OFF;
      } else if (strcmp(name, "alwaysOn") == 0) {
         out->mode = FAIL_ALWAYS;
      } else {
         return error_set(error, FE_BadValue, "unknown fail point mode: '%s'", name);
      }
      return true;
   }
   if (!BSON_ITER_HOLDS_DOCUMENT(mode) || !bson_iter_recurse(mode, &inner) ||
       !bson_iter_next(&inner)) {
      return error_set(error, FE_TypeMismatch,
                       "'mode' must be 'off', 'alwaysOn' or an object with times, skip or "
                       "activationProbability");
   }
   key = bson_iter_key(&inner);
   if (strcmp(key, "activationProbability") == 0) {
      double p = BSON_ITER_HOLDS_NUMBER(&inner) ? bson_iter_as_double(&inner) : NAN;
      if (!(p >= 0.0 && p <= 1.0)) {
         return error_set(error, FE_BadValue, "activationProbability must be between 0 and 1");
      }
      out->mode = FAIL_PROBABILITY;
      out->probability = p;
      return true;
   }
   if (strcmp(key, "times") != 0 && strcmp(key, "skip") != 0) {
      return error_set(error, FE_BadValue, "unknown fail point mode: '%s'", key);
   }
   if (!BSON_ITER_HOLDS_NUMBER(&inner) || bson_iter_as_int64(&inner) < 0) {
      return error_set(error, FE_BadValue, "'%s' must be a non-negative number", key);
   }
   out->remaining = bson_iter_as_int64(&inner);
   if (strcmp(key, "times") == 0) {
      out->mode = out->remaining > 0 ? FAIL_TIMES : FAIL_OFF;
   } else {
      out->mode = FAIL_SKIP;
   }
   return true;
}

/* The data fields must have the types the fail point reads; failCommands is required. */
static bool
check_data(const bson_t *data, fe_error_t *error)
{
   static const struct {
      const char *name;
      bson_type_t type;
   } typed[] = {
      {"failCommands", BSON_TYPE_ARRAY},
      {"errorLabels", BSON_TYPE_ARRAY},
      {"writeConcernError", BSON_TYPE_DOCUMENT},
      {"closeConnection", BSON_TYPE_BOOL},
      {"blockConnection", BSON_TYPE_BOOL},
      {"appName", BSON_TYPE_UTF8},
      {"namespace", BSON_TYPE_UTF8},
   };
   bson_iter_t iter;

   if (!bson_iter_init_find(&iter, data, "failCommands")) {
      return error_set(error, FE_BadValue, "failCommand fail point requires 'failCommands'");
   }
   for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++) {
      if (bson_iter_init_find(&iter, data, typed[i].name) &&
          bson_iter_type(&iter) != typed[i].type) {
         return error_set(error, FE_TypeMismatch, "wrong type for '%s' in failCommand data",
                          typed[i].name);
      }
   }
   if (bson_iter_init_find(&iter, data, "errorCode") && !BSON_ITER_HOLDS_NUMBER(&iter)) {
      return error_set(error, FE_TypeMismatch, "'errorCode' in failCommand data must be a number");
   }
   return true;
}

static bool
applies_to(const bson_t *data, const fe_ctx_t *ctx)
{
   bson_iter_t iter;
   bson_iter_t array;

   if (!bson_iter_init_find(&iter, data, "failCommands") || !bson_iter_recurse(&iter, &array) ||
       !array_holds_string(&array, ctx->name)) {
      return false;
   }
   if (bson_iter_init_find(&iter, data, "appName")) {
      const char *app = app_name_of(ctx->conn);
      if (!app || strcmp(app, bson_iter_utf8(&iter, NULL)) != 0) {
         return false;
      }
   }
   if (bson_iter_init_find(&iter, data, "namespace")) {
      /* The namespace a collection command targets: $db plus the command's string value. */
      const char *want = bson_iter_utf8(&iter, NULL);
      size_t db_len = strlen(ctx->db);
      bson_iter_t target;
      if (!bson_iter_init(&target, ctx->command) || !bson_iter_next(&target) ||
          !BSON_ITER_HOLDS_UTF8(&target) || strncmp(want, ctx->db, db_len) != 0 ||
          want[db_len] != '.' || strcmp(want + db_len + 1, bson_iter_utf8(&target, NULL)) != 0) {
         return false;
      }
   }
   return true;
}

static bool
array_holds_string(const bson_iter_t *array, const char *value)
{
   bson_iter_t iter = *array;

   while (bson_iter_next(&iter)) {
      if (BSON_ITER_HOLDS_UTF8(&iter) && strcmp(bson_iter_utf8(&iter, NULL), value) == 0) {
         return true;
      }
   }
   return false;
}

/* The client's application.name from its handshake, or NULL. */
static const char *
app_name_of(const fe_conn_t *conn)
{
   bson_iter_t iter;
   bson_iter_t name;

   if (!conn->client_metadata || !bson_iter_init(&iter, conn->client_metadata) ||
       !bson_iter_find_descendant(&iter, "application.name", &name) ||
       !BSON_ITER_HOLDS_UTF8(&name)) {
      return NULL;
   }
   return bson_iter_utf8(&name, NULL);
}

static void
fill_hit(const bson_t *data, fe_failpoint_hit_t *hit)
{
   bson_iter_t iter;
   const uint8_t *raw;
   uint32_t len;

   *hit = (fe_failpoint_hit_t){.triggered = true};
   if (bson_iter_init_find(&iter, data, "closeConnection")) {
      hit->close_connection = bson_iter_as_bool(&iter);
   }
   if (bson_iter_init_find(&iter, data, "blockConnection") && bson_iter_as_bool(&iter) &&
       bson_iter_init_find(&iter, data, "blockTimeMS") && BSON_ITER_HOLDS_NUMBER(&iter)) {
      hit->block_ms = bson_iter_as_int64(&iter);
   }
   if (bson_iter_init_find(&iter, data, "errorCode")) {
      hit->error_code = (int32_t) bson_iter_as_int64(&iter);
   }
   if (bson_iter_init_find(&iter, data, "errorLabels")) {
      bson_iter_array(&iter, &len, &raw);
      hit->error_labels = bson_new_from_data(raw, len);
   }
   if (bson_iter_init_find(&iter, data, "writeConcernError")) {
      bson_iter_document(&iter, &len, &raw);
      hit->write_concern_error = bson_new_from_data(raw, len);
   }
}
