/*
 * harness.c: the in-process server and the command set of the fault-injection tests
 * (harness.h, tests/fault/README.md).
 */
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "backend/registry.h"
#include "server/log.h"
#include "server/worker.h"
#include "wire/header.h"

#define REPLY_DEADLINE_SECONDS 5
#define SEED_DOCS 10

static void die(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));
static double now_seconds(void);
static void fetch_docs(fh_t *h, bson_t *docs);
static bool find_by_id(const bson_t *docs, const bson_iter_t *id, bson_t *out);
static int32_t reply_int(const bson_t *reply, const char *key);

/* ---- the server ---- */

fh_t *
fh_open(const char *path, const ferret_config_item_t *items, size_t count)
{
   fh_t *h = bson_malloc0(sizeof *h);
   fe_server_t *server = bson_malloc0(sizeof *server);
   fe_error_t error = {0};
   ferret_error_t backend_error = {0};
   ferret_config_t section = {sizeof section, items, count};
   ferret_status_t status;

   h->server = server;
   h->client = -1;
   log_set_level(LOG_ERROR);
   /* What server_start() does before the listener. */
   config_init(&server->config);
   server->started = time(NULL);
   atomic_store(&server->next_connection_id, 1);
   cursor_registry_init(&server->cursors);
   if (evthread_use_pthreads() != 0) {
      die("libevent has no pthreads support");
   }
   server->plugin = registry_load(&server->registry, path, NULL, &error);
   if (!server->plugin) {
      die("cannot load %s: %s", path, error.message);
   }
   server->backend_name = server->plugin->descriptor->name;
   status = server->plugin->methods.open(loader_host(), &section, &server->backend, &backend_error);
   if (status != FERRET_OK) {
      die("cannot open %s: %s", path, backend_error.message);
   }
   server->worker_count = 1;
   /* server_destroy() frees it with free(). */
   server->workers = calloc(1, sizeof *server->workers);
   if (!server->workers) {
      die("out of memory");
   }
   if (!worker_init(&server->workers[0], server, 0, &error)) {
      die("cannot start the worker: %s", error.message);
   }
   h->worker = &server->workers[0];
   if (!fh_connect(h)) {
      die("cannot connect");
   }
   return h;
}

void
fh_close(fh_t *h)
{
   fe_server_t *server = h->server;

   if (h->client >= 0) {
      close(h->client);
      h->client = -1;
   }
   /* Let the worker see the hang-up and close the connection the normal way. */
   for (int i = 0; i < 100 && h->worker->connection_count > 0; i++) {
      event_base_loop(h->worker->base, EVLOOP_NONBLOCK);
   }
   server_destroy(server);
   bson_free(server);
   bson_free(h->buffer);
   bson_free(h);
   libevent_global_shutdown();
}

bool
fh_connect(fh_t *h)
{
   int fds[2];
   size_t before = h->worker->connection_count;

   if (h->client >= 0) {
      close(h->client);
      h->client = -1;
      for (int i = 0; i < 100 && h->worker->connection_count > 0; i++) {
         event_base_loop(h->worker->base, EVLOOP_NONBLOCK);
      }
      before = h->worker->connection_count;
   }
   if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
      die("socketpair: %s", strerror(errno));
   }
   h->client = fds[1];
   /* What on_accept() does with an accepted socket. */
   atomic_fetch_add(&h->server->open_connections, 1);
   worker_hand_over(h->worker, fds[0]);
   for (int i = 0; i < 100 && h->worker->connection_count == before; i++) {
      event_base_loop(h->worker->base, EVLOOP_NONBLOCK);
   }
   if (h->worker->connection_count == before) {
      /* Refused: the worker closed the socket; it never counted as open. */
      atomic_fetch_sub(&h->server->open_connections, 1);
      return false;
   }
   return true;
}

fh_result_t
fh_roundtrip(fh_t *h, const uint8_t *message, size_t len, bson_t *reply)
{
   size_t have = 0;
   size_t need = HEADER_SIZE;
   double deadline = now_seconds() + REPLY_DEADLINE_SECONDS;
   fe_msg_header_t header;
   bson_t body;

   bson_init(reply);
   if (h->client < 0) {
      return FH_CLOSED;
   }
   for (size_t sent = 0; sent < len;) {
      ssize_t n = send(h->client, message + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN && errno != EINTR) {
         return FH_CLOSED;
      }
      if (n > 0) {
         sent += (size_t) n;
      }
      event_base_loop(h->worker->base, EVLOOP_NONBLOCK);
   }
   for (;;) {
      ssize_t n;

      event_base_loop(h->worker->base, EVLOOP_NONBLOCK);
      if (need > h->buffer_cap) {
         h->buffer_cap = need * 2;
         h->buffer = bson_realloc(h->buffer, h->buffer_cap);
      }
      n = recv(h->client, h->buffer + have, need - have, MSG_DONTWAIT);
      if (n == 0) {
         return FH_CLOSED;
      }
      if (n < 0) {
         struct pollfd pfd = {h->client, POLLIN, 0};
         if (errno != EAGAIN && errno != EINTR) {
            return FH_CLOSED;
         }
         if (now_seconds() > deadline) {
            return FH_TIMEOUT;
         }
         (void) poll(&pfd, 1, 1);
         continue;
      }
      have += (size_t) n;
      if (have < need) {
         continue;
      }
      if (need == HEADER_SIZE) {
         header_decode(h->buffer, &header);
         if (header.message_length < HEADER_SIZE + 5 || header.message_length > 64 * 1024 * 1024) {
            return FH_BAD;
         }
         need = (size_t) header.message_length;
         if (need > have) {
            continue;
         }
      }
      break;
   }
   /* OP_MSG: header, flagBits, one kind-0 section. */
   if (header.opcode != 2013 || h->buffer[HEADER_SIZE + 4] != 0 ||
       !bson_init_static(&body, h->buffer + HEADER_SIZE + 5, need - HEADER_SIZE - 5) ||
       !bson_validate(&body, BSON_VALIDATE_NONE, NULL)) {
      return FH_BAD;
   }
   bson_copy_to_excluding_noinit(&body, reply, "", NULL);
   return FH_REPLY;
}

fh_result_t
fh_command(fh_t *h, const bson_t *command, bson_t *reply)
{
   bson_t full = BSON_INITIALIZER;
   uint8_t *message;
   size_t len;
   fh_result_t result;

   bson_concat(&full, command);
   if (!bson_has_field(command, "$db")) {
      BSON_APPEND_UTF8(&full, "$db", FH_DB);
   }
   len = HEADER_SIZE + 5 + full.len;
   message = bson_malloc(len);
   header_write_int32(message, (int32_t) len);
   header_write_int32(message + 4, ++h->request_id);
   header_write_int32(message + 8, 0);
   header_write_int32(message + 12, 2013);
   header_write_int32(message + 16, 0);
   message[20] = 0;
   memcpy(message + 21, bson_get_data(&full), full.len);
   result = fh_roundtrip(h, message, len, reply);
   bson_free(message);
   bson_destroy(&full);
   return result;
}

fh_result_t
fh_command_json(fh_t *h, const char *json, bson_t *reply)
{
   bson_error_t error;
   bson_t command;
   fh_result_t result;

   if (!bson_init_from_json(&command, json, -1, &error)) {
      die("bad JSON %s: %s", json, error.message);
   }
   result = fh_command(h, &command, reply);
   bson_destroy(&command);
   return result;
}

void
fh_must(fh_t *h, const char *json, bson_t *reply)
{
   bson_t local;
   bson_t *out = reply ? reply : &local;
   bson_iter_t iter;
   fh_result_t result = fh_command_json(h, json, out);

   if (result != FH_REPLY || !bson_iter_init_find(&iter, out, "ok") ||
       bson_iter_as_double(&iter) != 1.0 || bson_has_field(out, "writeErrors")) {
      char *text = bson_as_relaxed_extended_json(out, NULL);
      die("setup command %s failed (%d): %s", json, (int) result, text);
   }
   if (!reply) {
      bson_destroy(&local);
   }
}

bool
fh_alive(fh_t *h)
{
   bson_t reply;
   int32_t code;
   char why[256];
   bool ok = fh_command_json(h, "{\"ping\": 1}", &reply) == FH_REPLY &&
             fh_classify(&reply, &code, why, sizeof why) == FH_OK;
   bson_destroy(&reply);
   return ok;
}

/* ---- replies ---- */

fh_kind_t
fh_classify(const bson_t *reply, int32_t *code, char *why, size_t size)
{
   bson_iter_t iter;
   bson_iter_t errors;

   *code = 0;
   if (!bson_iter_init_find(&iter, reply, "ok") || !BSON_ITER_HOLDS_NUMBER(&iter)) {
      snprintf(why, size, "no numeric ok");
      return FH_MALFORMED;
   }
   if (bson_iter_as_double(&iter) == 0.0) {
      bson_iter_t field;
      if (!bson_iter_init_find(&field, reply, "code") || !BSON_ITER_HOLDS_INT32(&field) ||
          bson_iter_int32(&field) == 0) {
         snprintf(why, size, "ok 0 without an int32 code");
         return FH_MALFORMED;
      }
      *code = bson_iter_int32(&field);
      if (!bson_iter_init_find(&field, reply, "errmsg") || !BSON_ITER_HOLDS_UTF8(&field) ||
          !bson_iter_init_find(&field, reply, "codeName") || !BSON_ITER_HOLDS_UTF8(&field)) {
         snprintf(why, size, "ok 0 without errmsg or codeName");
         return FH_MALFORMED;
      }
      return FH_ERROR;
   }
   if (bson_iter_as_double(&iter) != 1.0) {
      snprintf(why, size, "ok is neither 0 nor 1");
      return FH_MALFORMED;
   }
   if (!bson_iter_init_find(&iter, reply, "writeErrors")) {
      return FH_OK;
   }
   if (!BSON_ITER_HOLDS_ARRAY(&iter) || !bson_iter_recurse(&iter, &errors)) {
      snprintf(why, size, "writeErrors is not an array");
      return FH_MALFORMED;
   }
   while (bson_iter_next(&errors)) {
      bson_iter_t entry;
      bool has_index = false, has_code = false, has_message = false;
      if (!BSON_ITER_HOLDS_DOCUMENT(&errors) || !bson_iter_recurse(&errors, &entry)) {
         snprintf(why, size, "a writeErrors entry is not a document");
         return FH_MALFORMED;
      }
      while (bson_iter_next(&entry)) {
         const char *key = bson_iter_key(&entry);
         if (strcmp(key, "index") == 0) {
            has_index = BSON_ITER_HOLDS_INT32(&entry);
         } else if (strcmp(key, "code") == 0 && BSON_ITER_HOLDS_INT32(&entry)) {
            has_code = bson_iter_int32(&entry) != 0;
            if (*code == 0) {
               *code = bson_iter_int32(&entry);
            }
         } else if (strcmp(key, "errmsg") == 0) {
            has_message = BSON_ITER_HOLDS_UTF8(&entry);
         }
      }
      if (!has_index || !has_code || !has_message) {
         snprintf(why, size, "a writeErrors entry lacks index, code or errmsg");
         return FH_MALFORMED;
      }
   }
   return FH_WRITE_ERRORS;
}

char *
fh_normalize(const bson_t *reply)
{
   bson_t copy = BSON_INITIALIZER;
   bson_iter_t iter;
   char *json;

   bson_iter_init(&iter, reply);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "localTime") == 0 || strcmp(key, "connectionId") == 0 ||
          strcmp(key, "operationTime") == 0 || strcmp(key, "$clusterTime") == 0) {
         continue;
      }
      if (strcmp(key, "cursor") == 0 && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         bson_iter_t inner;
         bson_t cursor;
         bson_iter_recurse(&iter, &inner);
         bson_append_document_begin(&copy, key, -1, &cursor);
         while (bson_iter_next(&inner)) {
            if (strcmp(bson_iter_key(&inner), "id") == 0) {
               /* Ids differ between runs; whether the cursor is open does not. */
               BSON_APPEND_BOOL(&cursor, "open", bson_iter_as_int64(&inner) != 0);
            } else {
               bson_append_iter(&cursor, NULL, 0, &inner);
            }
         }
         bson_append_document_end(&copy, &cursor);
         continue;
      }
      bson_append_iter(&copy, NULL, 0, &iter);
   }
   json = bson_as_relaxed_extended_json(&copy, NULL);
   bson_destroy(&copy);
   return json;
}

/* ---- the command set ---- */

void
fh_seed(fh_t *h)
{
   bson_t insert = BSON_INITIALIZER;
   bson_t docs;
   bson_t reply;

   fh_must(h, "{\"dropDatabase\": 1}", NULL);
   BSON_APPEND_UTF8(&insert, "insert", "c");
   bson_append_array_begin(&insert, "documents", -1, &docs);
   for (int i = 0; i < SEED_DOCS; i++) {
      char key[16], text[16];
      bson_t doc;
      snprintf(key, sizeof key, "%d", i);
      snprintf(text, sizeof text, "s%d", i);
      bson_append_document_begin(&docs, key, -1, &doc);
      BSON_APPEND_INT32(&doc, "_id", i);
      BSON_APPEND_INT32(&doc, "a", i % 3);
      BSON_APPEND_UTF8(&doc, "b", text);
      BSON_APPEND_INT32(&doc, "n", i);
      bson_append_document_end(&docs, &doc);
   }
   bson_append_array_end(&insert, &docs);
   if (fh_command(h, &insert, &reply) != FH_REPLY || reply_int(&reply, "n") != SEED_DOCS) {
      die("seeding failed");
   }
   bson_destroy(&reply);
   bson_destroy(&insert);
   fh_must(h, "{\"createIndexes\": \"c\", \"indexes\": [{\"key\": {\"a\": 1}, \"name\": \"a_1\"}]}",
           NULL);
}

/* getMore needs a cursor: a find with a small first batch opens one. */
static void
prepare_getmore(fh_t *h, const fh_case_t *c, fh_run_t *run)
{
   bson_t reply;
   bson_iter_t iter;
   (void) c;

   fh_must(h, "{\"find\": \"c\", \"sort\": {\"n\": 1}, \"batchSize\": 2}", &reply);
   if (!bson_iter_init(&iter, &reply) || !bson_iter_find_descendant(&iter, "cursor.id", &iter) ||
       bson_iter_as_int64(&iter) == 0) {
      die("find opened no cursor");
   }
   bson_init(&run->command);
   BSON_APPEND_INT64(&run->command, "getMore", bson_iter_as_int64(&iter));
   BSON_APPEND_UTF8(&run->command, "collection", "c");
   BSON_APPEND_INT32(&run->command, "batchSize", 3);
   bson_destroy(&reply);
}

/* An OP_MSG whose framing is right but whose body section is not BSON: an error reply. */
static void
prepare_malformed(fh_t *h, const fh_case_t *c, fh_run_t *run)
{
   static const uint8_t body[] = {
      /* a document claiming 40 bytes where 12 follow */
      40, 0, 0, 0, 0x10, 'p', 'i', 'n', 'g', 0, 1, 0,
   };
   size_t len = HEADER_SIZE + 5 + sizeof body;
   (void) c;

   bson_init(&run->command);
   run->raw = bson_malloc(len);
   run->raw_len = len;
   header_write_int32(run->raw, (int32_t) len);
   header_write_int32(run->raw + 4, ++h->request_id);
   header_write_int32(run->raw + 8, 0);
   header_write_int32(run->raw + 12, 2013);
   header_write_int32(run->raw + 16, 0);
   run->raw[20] = 0;
   memcpy(run->raw + 21, body, sizeof body);
}

/* insert: with ordered, the first n documents are acknowledged; without, every one that
 * has no writeErrors entry. */
static bool
verify_insert(fh_t *h, const fh_run_t *run, const bson_t *reply, char *why, size_t size)
{
   bson_t docs;
   bson_iter_t iter;
   bson_iter_t list;
   bool ordered = true;
   int32_t n = reply_int(reply, "n");
   uint32_t index = 0;
   bool ok = true;

   if (bson_iter_init_find(&iter, reply, "ok") && bson_iter_as_double(&iter) != 1.0) {
      return true; /* the command failed: it acknowledged nothing */
   }
   if (bson_iter_init_find(&iter, &run->command, "ordered")) {
      ordered = bson_iter_as_bool(&iter);
   }
   fetch_docs(h, &docs);
   bson_iter_init_find(&iter, &run->command, "documents");
   bson_iter_recurse(&iter, &list);
   for (; bson_iter_next(&list); index++) {
      bson_iter_t doc;
      bson_iter_t id;
      bool acknowledged;
      bson_t found;

      if (ordered) {
         acknowledged = (int32_t) index < n;
      } else {
         char path[64];
         bson_iter_t errors;
         acknowledged = true;
         for (int e = 0; e < 1000; e++) {
            snprintf(path, sizeof path, "writeErrors.%d.index", e);
            if (!bson_iter_init(&errors, reply) ||
                !bson_iter_find_descendant(&errors, path, &errors)) {
               break;
            }
            if (bson_iter_as_int64(&errors) == index) {
               acknowledged = false;
            }
         }
      }
      bson_iter_recurse(&list, &doc);
      if (acknowledged && bson_iter_find(&doc, "_id")) {
         id = doc;
         if (!find_by_id(&docs, &id, &found)) {
            snprintf(why, size, "acknowledged insert of document %u is missing", index);
            ok = false;
         } else {
            bson_destroy(&found);
         }
      }
   }
   bson_destroy(&docs);
   return ok;
}

/* update: every upserted _id is there, and at least nModified + upserted documents carry the
 * marker the updates set (x or y). */
static bool
verify_update(fh_t *h, const fh_run_t *run, const bson_t *reply, char *why, size_t size)
{
   bson_t docs;
   bson_iter_t iter;
   bson_iter_t list;
   int32_t modified = reply_int(reply, "nModified");
   int32_t upserted = 0;
   int32_t marked = 0;
   bool ok = true;
   (void) run;

   fetch_docs(h, &docs);
   bson_iter_init(&iter, &docs);
   while (bson_iter_next(&iter)) {
      bson_iter_t field;
      if (bson_iter_recurse(&iter, &field) &&
          (bson_iter_find(&field, "x") ||
           (bson_iter_recurse(&iter, &field) && bson_iter_find(&field, "y")))) {
         marked++;
      }
   }
   if (bson_iter_init_find(&iter, reply, "upserted") && bson_iter_recurse(&iter, &list)) {
      while (bson_iter_next(&list)) {
         bson_iter_t entry;
         bson_t found;
         upserted++;
         if (bson_iter_recurse(&list, &entry) && bson_iter_find(&entry, "_id")) {
            if (!find_by_id(&docs, &entry, &found)) {
               snprintf(why, size, "acknowledged upsert is missing");
               ok = false;
            } else {
               bson_destroy(&found);
            }
         }
      }
   }
   if (ok && marked < modified + upserted) {
      snprintf(why, size, "%d documents updated, %d acknowledged", marked, modified + upserted);
      ok = false;
   }
   bson_destroy(&docs);
   return ok;
}

/* delete: at least n of the seeded documents are gone. */
static bool
verify_delete(fh_t *h, const fh_run_t *run, const bson_t *reply, char *why, size_t size)
{
   bson_t docs;
   int32_t n = reply_int(reply, "n");
   int32_t left;
   bool ok = true;
   (void) run;

   fetch_docs(h, &docs);
   left = (int32_t) bson_count_keys(&docs);
   if (SEED_DOCS - left < n) {
      snprintf(why, size, "%d deletes acknowledged, %d documents gone", n, SEED_DOCS - left);
      ok = false;
   }
   bson_destroy(&docs);
   return ok;
}

/* findAndModify with new: the document the reply returns is the one stored. */
static bool
verify_find_and_modify(fh_t *h, const fh_run_t *run, const bson_t *reply, char *why, size_t size)
{
   bson_t docs;
   bson_iter_t iter;
   bson_iter_t id;
   bson_t found;
   bool ok = true;
   (void) run;

   if (!bson_iter_init_find(&iter, reply, "value") || !BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      return true;
   }
   fetch_docs(h, &docs);
   bson_iter_recurse(&iter, &id);
   if (!bson_iter_find(&id, "_id") || !find_by_id(&docs, &id, &found)) {
      snprintf(why, size, "the document findAndModify returned is missing");
      ok = false;
   } else {
      uint32_t len;
      const uint8_t *data;
      bson_iter_document(&iter, &len, &data);
      if (len != found.len || memcmp(data, bson_get_data(&found), len) != 0) {
         snprintf(why, size, "the document findAndModify returned is not the one stored");
         ok = false;
      }
      bson_destroy(&found);
   }
   bson_destroy(&docs);
   return ok;
}

/* createIndexes: an acknowledged index is listed. */
static bool
verify_create_indexes(fh_t *h, const fh_run_t *run, const bson_t *reply, char *why, size_t size)
{
   bson_t listed;
   char *json;
   bool ok = true;
   int32_t code;
   char ignored[64];
   (void) run;

   if (fh_classify(reply, &code, ignored, sizeof ignored) != FH_OK) {
      return true;
   }
   fh_must(h, "{\"listIndexes\": \"c\"}", &listed);
   json = bson_as_relaxed_extended_json(&listed, NULL);
   if (!strstr(json, "\"b_1_n_-1\"") || !strstr(json, "\"x_1\"")) {
      snprintf(why, size, "an acknowledged index is not listed");
      ok = false;
   }
   bson_free(json);
   bson_destroy(&listed);
   return ok;
}

const fh_case_t fh_cases[] = {
   {"hello", "{\"hello\": 1, \"client\": {\"application\": {\"name\": \"fault\"}}}", NULL, NULL},
   {"insert",
    "{\"insert\": \"c\", \"documents\": [{\"_id\": 100, \"a\": 1}, {\"_id\": 101, \"a\": 2, "
    "\"s\": \"text\"}, {\"_id\": 102, \"a\": [1, 2]}]}",
    NULL, verify_insert},
   {"insert-unordered-duplicate",
    "{\"insert\": \"c\", \"ordered\": false, \"documents\": [{\"_id\": 110}, {\"_id\": 3}, "
    "{\"_id\": 111}]}",
    NULL, verify_insert},
   {"find",
    "{\"find\": \"c\", \"filter\": {\"a\": {\"$in\": [1, 2]}, \"n\": {\"$gte\": 1}}, \"sort\": "
    "{\"n\": -1}, \"projection\": {\"b\": 1, \"n\": 1}, \"batchSize\": 3}",
    NULL, NULL},
   {"find-index", "{\"find\": \"c\", \"filter\": {\"a\": 1}, \"limit\": 2}", NULL, NULL},
   {"getMore", NULL, prepare_getmore, NULL},
   {"update",
    "{\"update\": \"c\", \"updates\": [{\"q\": {\"a\": 1}, \"u\": {\"$set\": {\"x\": \"set\"}, "
    "\"$inc\": {\"n\": 100}, \"$push\": {\"l\": 1}}, \"multi\": true}, {\"q\": {\"_id\": 50}, "
    "\"u\": {\"$set\": {\"x\": \"up\"}}, \"upsert\": true}, {\"q\": {\"_id\": 2}, \"u\": "
    "[{\"$set\": {\"y\": {\"$add\": [\"$n\", 1]}}}]}]}",
    NULL, verify_update},
   {"delete",
    "{\"delete\": \"c\", \"deletes\": [{\"q\": {\"n\": {\"$gte\": 7}}, \"limit\": 0}, {\"q\": "
    "{\"a\": 0}, \"limit\": 1}]}",
    NULL, verify_delete},
   {"findAndModify",
    "{\"findAndModify\": \"c\", \"query\": {\"a\": 2}, \"sort\": {\"n\": -1}, \"update\": "
    "{\"$inc\": {\"n\": 1}}, \"new\": true}",
    NULL, verify_find_and_modify},
   {"findAndModify-upsert",
    "{\"findAndModify\": \"c\", \"query\": {\"_id\": 60}, \"update\": {\"$set\": {\"z\": 1}}, "
    "\"upsert\": true, \"new\": true}",
    NULL, verify_find_and_modify},
   {"aggregate",
    "{\"aggregate\": \"c\", \"pipeline\": [{\"$match\": {\"n\": {\"$gte\": 1}}}, {\"$group\": "
    "{\"_id\": \"$a\", \"total\": {\"$sum\": \"$n\"}, \"names\": {\"$push\": \"$b\"}}}, "
    "{\"$sort\": {\"_id\": 1}}, {\"$project\": {\"total\": 1, \"count\": {\"$size\": "
    "\"$names\"}}}], \"cursor\": {}}",
    NULL, NULL},
   {"count", "{\"count\": \"c\", \"query\": {\"a\": 1}}", NULL, NULL},
   {"distinct", "{\"distinct\": \"c\", \"key\": \"a\"}", NULL, NULL},
   {"createIndexes",
    "{\"createIndexes\": \"c\", \"indexes\": [{\"key\": {\"b\": 1, \"n\": -1}, \"name\": "
    "\"b_1_n_-1\"}, {\"key\": {\"x\": 1}, \"name\": \"x_1\", \"unique\": true, \"sparse\": "
    "true}]}",
    NULL, verify_create_indexes},
   {"listIndexes", "{\"listIndexes\": \"c\"}", NULL, NULL},
   {"listCollections", "{\"listCollections\": 1, \"filter\": {}}", NULL, NULL},
   {"malformed-opmsg", NULL, prepare_malformed, NULL},
   {NULL, NULL, NULL, NULL},
};

void
fh_run_prepare(fh_t *h, const fh_case_t *c, fh_run_t *run)
{
   bson_error_t error;

   memset(run, 0, sizeof *run);
   if (c->prepare) {
      c->prepare(h, c, run);
   } else if (!bson_init_from_json(&run->command, c->json, -1, &error)) {
      die("bad JSON in case %s: %s", c->name, error.message);
   }
}

fh_result_t
fh_run_send(fh_t *h, const fh_run_t *run, bson_t *reply)
{
   if (run->raw) {
      return fh_roundtrip(h, run->raw, run->raw_len, reply);
   }
   return fh_command(h, &run->command, reply);
}

void
fh_run_destroy(fh_run_t *run)
{
   bson_destroy(&run->command);
   bson_free(run->raw);
   memset(run, 0, sizeof *run);
}

/* ---- helpers ---- */

static void
die(const char *format, ...)
{
   va_list args;
   va_start(args, format);
   fprintf(stderr, "fault harness: ");
   vfprintf(stderr, format, args);
   fprintf(stderr, "\n");
   va_end(args);
   exit(2);
}

static double
now_seconds(void)
{
   struct timespec ts;
   clock_gettime(CLOCK_MONOTONIC, &ts);
   return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Every document of fault.c, as an array document. */
static void
fetch_docs(fh_t *h, bson_t *docs)
{
   bson_t reply;
   bson_iter_t iter;
   uint32_t len;
   const uint8_t *data;
   bson_t view;

   fh_must(h, "{\"find\": \"c\", \"sort\": {\"_id\": 1}, \"batchSize\": 100000}", &reply);
   if (!bson_iter_init(&iter, &reply) ||
       !bson_iter_find_descendant(&iter, "cursor.firstBatch", &iter) ||
       !BSON_ITER_HOLDS_ARRAY(&iter)) {
      die("find has no firstBatch");
   }
   bson_iter_array(&iter, &len, &data);
   bson_init_static(&view, data, len);
   bson_copy_to(&view, docs);
   bson_destroy(&reply);
}

/* The document of docs (an array) whose _id equals *id, copied to *out. */
static bool
find_by_id(const bson_t *docs, const bson_iter_t *id, bson_t *out)
{
   bson_iter_t iter;
   const bson_value_t *want = bson_iter_value((bson_iter_t *) id);

   bson_iter_init(&iter, docs);
   while (bson_iter_next(&iter)) {
      bson_iter_t field;
      if (bson_iter_recurse(&iter, &field) && bson_iter_find(&field, "_id")) {
         const bson_value_t *have = bson_iter_value(&field);
         bool equal =
            have->value_type == want->value_type &&
            ((have->value_type == BSON_TYPE_INT32 && have->value.v_int32 == want->value.v_int32) ||
             (have->value_type == BSON_TYPE_INT64 && have->value.v_int64 == want->value.v_int64));
         if (equal) {
            uint32_t len;
            const uint8_t *data;
            bson_t view;
            bson_iter_document(&iter, &len, &data);
            bson_init_static(&view, data, len);
            bson_copy_to(&view, out);
            return true;
         }
      }
   }
   return false;
}

static int32_t
reply_int(const bson_t *reply, const char *key)
{
   bson_iter_t iter;
   if (bson_iter_init_find(&iter, reply, key) && BSON_ITER_HOLDS_NUMBER(&iter)) {
      return (int32_t) bson_iter_as_int64(&iter);
   }
   return 0;
}
