/*
 * test_mongoc.c: the everyday flow through libmongoc against a real ferretd.
 *
 * Run by tests/integration/harness/run_with_server.py, which starts the server and passes its
 * address in FERRET_URI. Each cmocka test uses its own collection in database "it_mongoc":
 * insert, find with a filter, update, delete, a cursor long enough to need getMore, command
 * errors (unknown command, duplicate key), findAndModify, and the connection staying usable
 * after errors.
 */
/* libmongoc headers need struct addrinfo, which strict C11 hides. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mongoc/mongoc.h>

#define DB_NAME "it_mongoc"

typedef struct {
   mongoc_client_t *client;   /* owned */
   mongoc_collection_t *coll; /* owned */
} fixture_t;

static const char *
test_uri(void)
{
   const char *uri = getenv("FERRET_URI");

   return uri != NULL ? uri : "mongodb://127.0.0.1:27017/?directConnection=true";
}

static int
fixture_setup(void **state, const char *coll_name)
{
   bson_error_t error;
   fixture_t *fx = calloc(1, sizeof *fx);

   assert_non_null(fx);
   fx->client = mongoc_client_new(test_uri());
   assert_non_null(fx->client);
   mongoc_client_set_error_api(fx->client, MONGOC_ERROR_API_VERSION_2);
   mongoc_client_set_appname(fx->client, "ferret-it-mongoc");
   fx->coll = mongoc_client_get_collection(fx->client, DB_NAME, coll_name);
   /* A missing collection is fine here: some servers answer NamespaceNotFound. */
   (void) mongoc_collection_drop(fx->coll, &error);
   *state = fx;
   return 0;
}

static int
fixture_teardown(void **state)
{
   fixture_t *fx = *state;

   mongoc_collection_destroy(fx->coll);
   mongoc_client_destroy(fx->client);
   free(fx);
   return 0;
}

#define SETUP(name)                                                                                \
   static int setup_##name(void **state)                                                           \
   {                                                                                               \
      return fixture_setup(state, #name);                                                          \
   }

static int64_t
count(fixture_t *fx, const bson_t *filter)
{
   bson_error_t error;
   int64_t n = mongoc_collection_count_documents(fx->coll, filter, NULL, NULL, NULL, &error);

   if (n < 0) {
      fail_msg("count_documents: %s (%u)", error.message, error.code);
   }
   return n;
}

/* ------------------------------------------------------------------------------------------ */

SETUP(ping)
static void
test_ping(void **state)
{
   fixture_t *fx = *state;
   bson_error_t error;
   bson_t reply;
   bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
   bool ok = mongoc_client_command_simple(fx->client, "admin", cmd, NULL, &reply, &error);

   if (!ok) {
      fail_msg("ping: %s", error.message);
   }
   bson_iter_t it;
   assert_true(bson_iter_init_find(&it, &reply, "ok"));
   assert_true(bson_iter_as_double(&it) == 1.0);
   bson_destroy(&reply);
   bson_destroy(cmd);

   /* The handshake worked and the driver sees a standalone it can write to. */
   mongoc_server_description_t *sd = mongoc_client_select_server(fx->client, true, NULL, &error);
   if (sd == NULL) {
      fail_msg("select_server: %s", error.message);
   }
   assert_string_equal(mongoc_server_description_type(sd), "Standalone");
   mongoc_server_description_destroy(sd);
}

SETUP(insert_find)
static void
test_insert_find(void **state)
{
   fixture_t *fx = *state;
   bson_error_t error;
   bson_t *docs[10];
   bson_t reply;

   bson_t *one = BCON_NEW("_id", BCON_INT32(100), "name", BCON_UTF8("solo"), "sub", "{", "k",
                          BCON_DOUBLE(1.5), "}");
   if (!mongoc_collection_insert_one(fx->coll, one, NULL, &reply, &error)) {
      fail_msg("insert_one: %s", error.message);
   }
   bson_iter_t it;
   assert_true(bson_iter_init_find(&it, &reply, "insertedCount"));
   assert_int_equal(bson_iter_as_int64(&it), 1);
   bson_destroy(&reply);
   bson_destroy(one);

   for (int i = 0; i < 10; i++) {
      docs[i] = BCON_NEW("_id", BCON_INT32(i), "g", BCON_INT32(i % 3), "s", BCON_UTF8("x"));
   }
   if (!mongoc_collection_insert_many(fx->coll, (const bson_t **) docs, 10, NULL, &reply, &error)) {
      fail_msg("insert_many: %s", error.message);
   }
   assert_true(bson_iter_init_find(&it, &reply, "insertedCount"));
   assert_int_equal(bson_iter_as_int64(&it), 10);
   bson_destroy(&reply);
   for (int i = 0; i < 10; i++) {
      bson_destroy(docs[i]);
   }

   /* {g: 1} sorted by _id descending: 7, 4, 1. */
   bson_t *filter = BCON_NEW("g", BCON_INT32(1));
   bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(-1), "}");
   mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(fx->coll, filter, opts, NULL);
   const bson_t *doc;
   int expect[] = {7, 4, 1};
   int n = 0;
   while (mongoc_cursor_next(cursor, &doc)) {
      assert_true(n < 3);
      assert_true(bson_iter_init_find(&it, doc, "_id"));
      assert_int_equal(bson_iter_int32(&it), expect[n]);
      n++;
   }
   if (mongoc_cursor_error(cursor, &error)) {
      fail_msg("cursor: %s", error.message);
   }
   assert_int_equal(n, 3);
   mongoc_cursor_destroy(cursor);
   bson_destroy(filter);
   bson_destroy(opts);

   /* Dotted path and $gt. */
   filter = BCON_NEW("sub.k", "{", "$gt", BCON_INT32(1), "}");
   assert_int_equal(count(fx, filter), 1);
   bson_destroy(filter);
   bson_t empty = BSON_INITIALIZER;
   assert_int_equal(count(fx, &empty), 11);
}

SETUP(update)
static void
test_update(void **state)
{
   fixture_t *fx = *state;
   bson_error_t error;
   bson_t reply;
   bson_iter_t it;

   for (int i = 0; i < 6; i++) {
      bson_t *d = BCON_NEW("_id", BCON_INT32(i), "n", BCON_INT32(i));
      assert_true(mongoc_collection_insert_one(fx->coll, d, NULL, NULL, &error));
      bson_destroy(d);
   }

   bson_t *sel = BCON_NEW("_id", BCON_INT32(2));
   bson_t *upd =
      BCON_NEW("$set", "{", "tag", BCON_UTF8("two"), "}", "$inc", "{", "n", BCON_INT32(10), "}");
   if (!mongoc_collection_update_one(fx->coll, sel, upd, NULL, &reply, &error)) {
      fail_msg("update_one: %s", error.message);
   }
   assert_true(bson_iter_init_find(&it, &reply, "modifiedCount"));
   assert_int_equal(bson_iter_as_int64(&it), 1);
   bson_destroy(&reply);
   bson_destroy(sel);
   bson_destroy(upd);

   sel = BCON_NEW("n", "{", "$gte", BCON_INT32(3), "}");
   upd = BCON_NEW("$set", "{", "big", BCON_BOOL(true), "}");
   if (!mongoc_collection_update_many(fx->coll, sel, upd, NULL, &reply, &error)) {
      fail_msg("update_many: %s", error.message);
   }
   assert_true(bson_iter_init_find(&it, &reply, "matchedCount"));
   assert_int_equal(bson_iter_as_int64(&it), 4); /* 3, 4, 5 and 2 (now 12) */
   bson_destroy(&reply);
   bson_destroy(sel);
   bson_destroy(upd);

   /* Upsert a new document. */
   sel = BCON_NEW("_id", BCON_UTF8("new"));
   upd = BCON_NEW("$set", "{", "n", BCON_INT32(-1), "}");
   bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
   if (!mongoc_collection_update_one(fx->coll, sel, upd, opts, &reply, &error)) {
      fail_msg("upsert: %s", error.message);
   }
   assert_true(bson_iter_init_find(&it, &reply, "upsertedCount"));
   assert_int_equal(bson_iter_as_int64(&it), 1);
   assert_true(bson_iter_init_find(&it, &reply, "upsertedId"));
   assert_int_equal(bson_iter_type(&it), BSON_TYPE_UTF8);
   assert_string_equal(bson_iter_utf8(&it, NULL), "new");
   bson_destroy(&reply);
   bson_destroy(sel);
   bson_destroy(upd);
   bson_destroy(opts);

   /* Replace. */
   sel = BCON_NEW("_id", BCON_INT32(0));
   upd = BCON_NEW("only", BCON_UTF8("field"));
   assert_true(mongoc_collection_replace_one(fx->coll, sel, upd, NULL, NULL, &error));
   bson_destroy(upd);

   mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(fx->coll, sel, NULL, NULL);
   const bson_t *doc;
   assert_true(mongoc_cursor_next(cursor, &doc));
   char *json = bson_as_relaxed_extended_json(doc, NULL);
   assert_string_equal(json, "{ \"_id\" : 0, \"only\" : \"field\" }");
   bson_free(json);
   mongoc_cursor_destroy(cursor);
   bson_destroy(sel);

   bson_t *flt = BCON_NEW("big", BCON_BOOL(true));
   assert_int_equal(count(fx, flt), 4);
   bson_destroy(flt);
   flt = BCON_NEW("tag", BCON_UTF8("two"), "n", BCON_INT32(12));
   assert_int_equal(count(fx, flt), 1);
   bson_destroy(flt);
}

SETUP(delete)
static void
test_delete(void **state)
{
   fixture_t *fx = *state;
   bson_error_t error;
   bson_t reply;
   bson_iter_t it;

   for (int i = 0; i < 9; i++) {
      bson_t *d = BCON_NEW("_id", BCON_INT32(i), "g", BCON_INT32(i % 3));
      assert_true(mongoc_collection_insert_one(fx->coll, d, NULL, NULL, &error));
      bson_destroy(d);
   }
   bson_t *sel = BCON_NEW("g", BCON_INT32(0));
   assert_true(mongoc_collection_delete_one(fx->coll, sel, NULL, &reply, &error));
   assert_true(bson_iter_init_find(&it, &reply, "deletedCount"));
   assert_int_equal(bson_iter_as_int64(&it), 1);
   bson_destroy(&reply);
   assert_true(mongoc_collection_delete_many(fx->coll, sel, NULL, &reply, &error));
   assert_true(bson_iter_init_find(&it, &reply, "deletedCount"));
   assert_int_equal(bson_iter_as_int64(&it), 2);
   bson_destroy(&reply);
   bson_destroy(sel);
   bson_t empty = BSON_INITIALIZER;
   assert_int_equal(count(fx, &empty), 6);
   sel = BCON_NEW("g", "{", "$in", "[", BCON_INT32(1), BCON_INT32(2), "]", "}");
   assert_true(mongoc_collection_delete_many(fx->coll, sel, NULL, &reply, &error));
   assert_true(bson_iter_init_find(&it, &reply, "deletedCount"));
   assert_int_equal(bson_iter_as_int64(&it), 6);
   bson_destroy(&reply);
   bson_destroy(sel);
   assert_int_equal(count(fx, &empty), 0);
}

SETUP(getmore)
static void
test_getmore(void **state)
{
   fixture_t *fx = *state;
   bson_error_t error;
   enum { N = 1200 };
   mongoc_bulk_operation_t *bulk =
      mongoc_collection_create_bulk_operation_with_opts(fx->coll, NULL);

   for (int i = 0; i < N; i++) {
      bson_t *d = BCON_NEW("_id", BCON_INT32(i), "pad", BCON_UTF8("................"));
      mongoc_bulk_operation_insert(bulk, d);
      bson_destroy(d);
   }
   bson_t reply;
   if (!mongoc_bulk_operation_execute(bulk, &reply, &error)) {
      fail_msg("bulk insert: %s", error.message);
   }
   bson_iter_t it;
   assert_true(bson_iter_init_find(&it, &reply, "nInserted"));
   assert_int_equal(bson_iter_as_int64(&it), N);
   bson_destroy(&reply);
   mongoc_bulk_operation_destroy(bulk);

   /* batchSize 50 forces 23 getMore round trips. */
   bson_t empty = BSON_INITIALIZER;
   bson_t *opts = BCON_NEW("batchSize", BCON_INT32(50), "sort", "{", "_id", BCON_INT32(1), "}");
   mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(fx->coll, &empty, opts, NULL);
   const bson_t *doc;
   int n = 0;
   bool saw_live_cursor = false;
   while (mongoc_cursor_next(cursor, &doc)) {
      assert_true(bson_iter_init_find(&it, doc, "_id"));
      assert_int_equal(bson_iter_int32(&it), n);
      if (n == 10) {
         saw_live_cursor = mongoc_cursor_get_id(cursor) != 0;
      }
      n++;
   }
   if (mongoc_cursor_error(cursor, &error)) {
      fail_msg("cursor: %s", error.message);
   }
   assert_int_equal(n, N);
   assert_true(saw_live_cursor);
   assert_int_equal(mongoc_cursor_get_id(cursor), 0);
   mongoc_cursor_destroy(cursor);
   bson_destroy(opts);

   /* A cursor abandoned half-way is killed by the driver; the server keeps serving. */
   opts = BCON_NEW("batchSize", BCON_INT32(10));
   cursor = mongoc_collection_find_with_opts(fx->coll, &empty, opts, NULL);
   assert_true(mongoc_cursor_next(cursor, &doc));
   assert_true(mongoc_cursor_get_id(cursor) != 0);
   mongoc_cursor_destroy(cursor);
   bson_destroy(opts);
   assert_int_equal(count(fx, &empty), N);

   /* Aggregate through a cursor too. */
   bson_t *pipeline = BCON_NEW("pipeline", "[", "{", "$match", "{", "_id", "{", "$lt",
                               BCON_INT32(300), "}", "}", "}", "]");
   opts = BCON_NEW("batchSize", BCON_INT32(40));
   cursor = mongoc_collection_aggregate(fx->coll, MONGOC_QUERY_NONE, pipeline, opts, NULL);
   n = 0;
   while (mongoc_cursor_next(cursor, &doc)) {
      n++;
   }
   if (mongoc_cursor_error(cursor, &error)) {
      fail_msg("aggregate: %s", error.message);
   }
   assert_int_equal(n, 300);
   mongoc_cursor_destroy(cursor);
   bson_destroy(pipeline);
   bson_destroy(opts);
}

SETUP(errors)
static void
test_errors(void **state)
{
   fixture_t *fx = *state;
   bson_error_t error;
   bson_t reply;

   /* Unknown command: CommandNotFound 59, as a server error. */
   bson_t *cmd = BCON_NEW("thisIsNotACommand", BCON_INT32(1));
   assert_false(mongoc_client_command_simple(fx->client, DB_NAME, cmd, NULL, &reply, &error));
   assert_int_equal(error.domain, MONGOC_ERROR_SERVER);
   assert_int_equal(error.code, 59);
   bson_iter_t it;
   assert_true(bson_iter_init_find(&it, &reply, "codeName"));
   assert_string_equal(bson_iter_utf8(&it, NULL), "CommandNotFound");
   bson_destroy(&reply);
   bson_destroy(cmd);

   /* Duplicate key: 11000 as a write error. */
   bson_t *d = BCON_NEW("_id", BCON_UTF8("dup"));
   assert_true(mongoc_collection_insert_one(fx->coll, d, NULL, NULL, &error));
   assert_false(mongoc_collection_insert_one(fx->coll, d, NULL, &reply, &error));
   assert_int_equal(error.code, 11000);
   assert_true(bson_iter_init_find(&it, &reply, "writeErrors"));
   bson_destroy(&reply);
   bson_destroy(d);

   /* Bad operator: BadValue 2. */
   bson_t *filter = BCON_NEW("a", "{", "$notAnOperator", BCON_INT32(1), "}");
   mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(fx->coll, filter, NULL, NULL);
   const bson_t *doc;
   assert_false(mongoc_cursor_next(cursor, &doc));
   assert_true(mongoc_cursor_error(cursor, &error));
   assert_int_equal(error.code, 2);
   mongoc_cursor_destroy(cursor);
   bson_destroy(filter);

   /* The client (and its one connection) still works. */
   cmd = BCON_NEW("ping", BCON_INT32(1));
   assert_true(mongoc_client_command_simple(fx->client, "admin", cmd, NULL, NULL, &error));
   bson_destroy(cmd);
   bson_t empty = BSON_INITIALIZER;
   assert_int_equal(count(fx, &empty), 1);
}

SETUP(find_and_modify)
static void
test_find_and_modify(void **state)
{
   fixture_t *fx = *state;
   bson_error_t error;
   bson_t reply;
   bson_iter_t it, sub;

   bson_t *d = BCON_NEW("_id", BCON_INT32(1), "n", BCON_INT32(1));
   assert_true(mongoc_collection_insert_one(fx->coll, d, NULL, NULL, &error));
   bson_destroy(d);

   bson_t *query = BCON_NEW("_id", BCON_INT32(1));
   bson_t *update = BCON_NEW("$inc", "{", "n", BCON_INT32(41), "}");
   if (!mongoc_collection_find_and_modify(fx->coll, query, NULL, update, NULL, false, false, true,
                                          &reply, &error)) {
      fail_msg("findAndModify: %s", error.message);
   }
   assert_true(bson_iter_init_find(&it, &reply, "value"));
   assert_true(BSON_ITER_HOLDS_DOCUMENT(&it));
   assert_true(bson_iter_recurse(&it, &sub));
   assert_true(bson_iter_find(&sub, "n"));
   assert_int_equal(bson_iter_as_int64(&sub), 42);
   bson_destroy(&reply);

   /* remove: returns the old document and deletes it. */
   if (!mongoc_collection_find_and_modify(fx->coll, query, NULL, NULL, NULL, true, false, false,
                                          &reply, &error)) {
      fail_msg("findAndModify remove: %s", error.message);
   }
   assert_true(bson_iter_init_find(&it, &reply, "value"));
   assert_true(BSON_ITER_HOLDS_DOCUMENT(&it));
   bson_destroy(&reply);
   bson_t empty = BSON_INITIALIZER;
   assert_int_equal(count(fx, &empty), 0);
   bson_destroy(query);
   bson_destroy(update);
}

SETUP(databases)
static void
test_databases(void **state)
{
   fixture_t *fx = *state;
   bson_error_t error;
   mongoc_database_t *db = mongoc_client_get_database(fx->client, "it_mongoc_db");

   (void) mongoc_database_drop(db, &error);
   mongoc_collection_t *c = mongoc_database_create_collection(db, "made", NULL, &error);
   if (c == NULL) {
      fail_msg("create_collection: %s", error.message);
   }
   mongoc_collection_destroy(c);

   char **names = mongoc_database_get_collection_names_with_opts(db, NULL, &error);
   assert_non_null(names);
   assert_non_null(names[0]);
   assert_string_equal(names[0], "made");
   assert_null(names[1]);
   bson_strfreev(names);

   names = mongoc_client_get_database_names_with_opts(fx->client, NULL, &error);
   assert_non_null(names);
   bool found = false;
   for (char **p = names; *p != NULL; p++) {
      found |= strcmp(*p, "it_mongoc_db") == 0;
   }
   bson_strfreev(names);
   assert_true(found);

   assert_true(mongoc_database_drop(db, &error));
   names = mongoc_database_get_collection_names_with_opts(db, NULL, &error);
   assert_non_null(names);
   assert_null(names[0]);
   bson_strfreev(names);
   mongoc_database_destroy(db);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ping, setup_ping, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_insert_find, setup_insert_find, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_update, setup_update, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_delete, setup_delete, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_getmore, setup_getmore, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_errors, setup_errors, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_find_and_modify, setup_find_and_modify,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_databases, setup_databases, fixture_teardown),
   };
   int failed;

   mongoc_init();
   failed = cmocka_run_group_tests_name("mongoc", tests, NULL, NULL);
   mongoc_cleanup();
   return failed == 0 ? 0 : 1;
}
