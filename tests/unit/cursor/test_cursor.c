/*
 * test_cursor.c: the cursor registry (core/cursor/cursor.c) with cursors over computed lists:
 * batches, ids, busy cursors, killCursors, endSessions and the idle timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "cursor/cursor.h"

static fe_cursor_t *
list_cursor(int count)
{
   fe_cursor_t *cursor = cursor_new("db", "coll");
   bson_t **docs = calloc((size_t) count + 1, sizeof *docs);
   for (int i = 0; i < count; i++) {
      docs[i] = bson_new();
      BSON_APPEND_INT32(docs[i], "i", i);
   }
   cursor_set_documents(cursor, docs, (size_t) count);
   return cursor;
}

static int
setup(void **state)
{
   fe_cursor_registry_t *registry = calloc(1, sizeof *registry);
   cursor_registry_init(registry);
   *state = registry;
   return 0;
}

static int
teardown(void **state)
{
   cursor_registry_destroy(*state);
   free(*state);
   return 0;
}

static void
test_batches(void **state)
{
   fe_cursor_t *cursor = list_cursor(5);
   bson_t batch = BSON_INITIALIZER;
   bool exhausted = true;
   fe_error_t error = {0};
   (void) state;

   assert_string_equal(cursor->ns, "db.coll");
   assert_true(cursor_fill_batch(cursor, 2, 1 << 20, &batch, &exhausted, &error));
   assert_int_equal(bson_count_keys(&batch), 2);
   assert_false(exhausted);
   bson_reinit(&batch);
   assert_true(cursor_fill_batch(cursor, 0, 1 << 20, &batch, &exhausted, &error));
   assert_int_equal(bson_count_keys(&batch), 3);
   assert_true(exhausted);
   bson_destroy(&batch);
   cursor_destroy(cursor);
}

static void
test_batch_byte_limit_keeps_order(void **state)
{
   fe_cursor_t *cursor = list_cursor(3);
   bson_t batch = BSON_INITIALIZER;
   bool exhausted = false;
   fe_error_t error = {0};
   bson_iter_t iter;
   (void) state;

   /* Room for one document only: the second waits for the next batch, nothing is lost. */
   assert_true(cursor_fill_batch(cursor, 0, 20, &batch, &exhausted, &error));
   assert_int_equal(bson_count_keys(&batch), 1);
   for (int expected = 1; expected < 3; expected++) {
      bson_reinit(&batch);
      assert_true(cursor_fill_batch(cursor, 0, 20, &batch, &exhausted, &error));
      assert_true(bson_iter_init(&iter, &batch) && bson_iter_next(&iter));
      {
         bson_iter_t field;
         assert_true(bson_iter_recurse(&iter, &field) && bson_iter_find(&field, "i"));
         assert_int_equal(bson_iter_int32(&field), expected);
      }
   }
   bson_reinit(&batch);
   assert_true(cursor_fill_batch(cursor, 0, 20, &batch, &exhausted, &error));
   assert_true(exhausted);
   bson_destroy(&batch);
   cursor_destroy(cursor);
}

static void
test_ids_acquire_release_kill(void **state)
{
   fe_cursor_registry_t *registry = *state;
   fe_error_t error = {0};
   int64_t a = cursor_registry_add(registry, list_cursor(2));
   int64_t b = cursor_registry_add(registry, list_cursor(2));
   fe_cursor_t *cursor;

   assert_true(a > 0 && b > 0 && a != b);
   cursor = cursor_registry_acquire(registry, a, &error);
   assert_non_null(cursor);
   /* A cursor in use cannot be taken twice. */
   assert_null(cursor_registry_acquire(registry, a, &error));
   assert_int_equal(error.code, FE_BadValue);
   /* Killed while busy: it goes when its command releases it. */
   assert_true(cursor_registry_kill(registry, a));
   cursor_registry_release(registry, cursor);
   assert_null(cursor_registry_acquire(registry, a, &error));
   assert_int_equal(error.code, FE_CursorNotFound);
   assert_false(cursor_registry_kill(registry, a));
   assert_true(cursor_registry_kill(registry, b));
   assert_false(cursor_registry_kill(registry, 12345));
}

static void
test_end_sessions_kills_only_their_cursors(void **state)
{
   fe_cursor_registry_t *registry = *state;
   uint8_t mine[16] = {1};
   uint8_t other[16] = {2};
   fe_cursor_t *a = list_cursor(1);
   fe_cursor_t *b = list_cursor(1);
   fe_error_t error = {0};
   int64_t id_a, id_b;

   memcpy(a->lsid, mine, 16);
   a->has_lsid = true;
   memcpy(b->lsid, other, 16);
   b->has_lsid = true;
   id_a = cursor_registry_add(registry, a);
   id_b = cursor_registry_add(registry, b);
   cursor_registry_kill_session(registry, mine);
   assert_null(cursor_registry_acquire(registry, id_a, &error));
   b = cursor_registry_acquire(registry, id_b, &error);
   assert_non_null(b);
   cursor_registry_release(registry, b);
}

static void
test_idle_timeout(void **state)
{
   fe_cursor_registry_t *registry = *state;
   fe_error_t error = {0};
   int64_t idle = cursor_registry_add(registry, list_cursor(1));
   int64_t busy_id = cursor_registry_add(registry, list_cursor(1));
   fe_cursor_t *busy = cursor_registry_acquire(registry, busy_id, &error);
   time_t later = time(NULL) + CURSOR_IDLE_TIMEOUT_SECONDS + 1;
   fe_cursor_t *kept;

   cursor_registry_expire(registry, time(NULL));
   kept = cursor_registry_acquire(registry, idle, &error);
   assert_non_null(kept); /* not idle long enough yet */
   cursor_registry_release(registry, kept);

   cursor_registry_expire(registry, later);
   assert_null(cursor_registry_acquire(registry, idle, &error));
   assert_int_equal(error.code, FE_CursorNotFound);
   /* A cursor a command is using is never expired under it. */
   cursor_registry_release(registry, busy);
   kept = cursor_registry_acquire(registry, busy_id, &error);
   assert_non_null(kept);
   cursor_registry_release(registry, kept);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_batches),
      cmocka_unit_test(test_batch_byte_limit_keeps_order),
      cmocka_unit_test_setup_teardown(test_ids_acquire_release_kill, setup, teardown),
      cmocka_unit_test_setup_teardown(test_end_sessions_kills_only_their_cursors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
