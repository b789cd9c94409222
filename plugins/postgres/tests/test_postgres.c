/*
 * test_postgres.c: the PostgreSQL backend against a real server, through its method table:
 * configuration, the catalog and awkward names, ordered inserts with duplicates,
 * compare-and-swap, cursors interleaved with writes, pushdown, transactions, explain, and
 * sessions racing to create one collection.
 *
 * usage: test_postgres PATH/postgres.so   (FERRET_PG_CONNINFO names the server; exit 77 without)
 */
#include <pthread.h>

#include <libpq-fe.h>

#include "pgtest.h"

static const ferret_backend_descriptor_t *D;
static const ferret_backend_methods_t *M;
static const char *conninfo;
static char prefix[40];

/* ---- helpers ---- */

/* Runs query on ns and writes up to max _ids into ids; returns how many came, -1 on error. */
static int
run_query(ferret_session_t *s, const char *db, const char *coll, ferret_query_t *q, int32_t *ids,
          int max)
{
   ferret_ns_t ns = {db, coll};
   ferret_error_t err = {{0}, {0}};
   ferret_cursor_t *c = NULL;
   const uint8_t *bson;
   size_t len;
   int n = 0;

   if (M->query(s, &ns, q, &c, &err) != FERRET_OK) {
      fprintf(stderr, "query: %s\n", err.message);
      return -1;
   }
   for (;;) {
      if (M->cursor_next(c, &bson, &len, &err) != FERRET_OK) {
         fprintf(stderr, "cursor_next: %s\n", err.message);
         n = -1;
         break;
      }
      if (bson == NULL) {
         break;
      }
      if (len != pgtest_rd32(bson)) {
         n = -1;
         break;
      }
      if (n < max) {
         ids[n] = pgtest_id(bson);
      }
      n++;
   }
   M->cursor_close(c);
   return n;
}

static int
count_all(ferret_session_t *s, const char *db, const char *coll)
{
   static int32_t ids[100000];
   ferret_query_t q = {.struct_size = sizeof q};

   return run_query(s, db, coll, &q, ids, 100000);
}

static ferret_status_t
insert_range(ferret_session_t *s, const char *db, const char *coll, int from, int to,
             size_t *inserted, ferret_error_t *error)
{
   int n = to - from;
   pgtest_doc_t *docs = calloc((size_t) n, sizeof *docs);
   ferret_doc_t *fd = calloc((size_t) n, sizeof *fd);
   ferret_ns_t ns = {db, coll};
   ferret_status_t st;

   for (int i = 0; i < n; i++) {
      pgtest_make(&docs[i], from + i, "value");
      fd[i] = pgtest_fdoc(&docs[i]);
   }
   st = M->insert(s, &ns, fd, (size_t) n, inserted, error);
   free(docs);
   free(fd);
   return st;
}

typedef struct names {
   char list[64][256];
   int n;
} names_t;

static bool
collect(void *ctx, const char *name)
{
   names_t *names = ctx;
   if (names->n < 64) {
      snprintf(names->list[names->n++], 256, "%s", name);
   }
   return true;
}

static bool
has(const names_t *names, const char *name)
{
   for (int i = 0; i < names->n; i++) {
      if (strcmp(names->list[i], name) == 0) {
         return true;
      }
   }
   return false;
}

typedef struct blob {
   uint8_t bytes[1024];
   size_t len;
   int calls;
} blob_t;

static void
keep_blob(void *ctx, const uint8_t *bson, size_t len)
{
   blob_t *b = ctx;
   b->calls++;
   b->len = len < sizeof b->bytes ? len : sizeof b->bytes;
   memcpy(b->bytes, bson, b->len);
}

/* ---- tests ---- */

static void
test_config(void)
{
   ferret_backend_t *b = NULL;

   CHECK_STATUS(pgtest_open(D, "host='unterminated", prefix, &b, error), FERRET_ERR_INVALID_NAME);
   CHECK_STATUS(pgtest_open(D, conninfo, "Bad-Prefix", &b, error), FERRET_ERR_INVALID_NAME);
   CHECK_STATUS(pgtest_open(D, conninfo, "pg_x", &b, error), FERRET_ERR_INVALID_NAME);
   CHECK_STATUS(pgtest_open(D, "host=127.0.0.1 port=1 connect_timeout=2", prefix, &b, error),
                FERRET_ERR_UNAVAILABLE);
   CHECK(b == NULL);
   CHECK(D->capabilities & FERRET_CAP_TRANSACTIONS);
   CHECK(D->capabilities & FERRET_CAP_EXPLAIN);
   CHECK(D->capabilities & FERRET_CAP_FILTER_PUSHDOWN);
   CHECK(strcmp(D->name, "postgres") == 0);
}

static void
test_catalog(ferret_session_t *s, ferret_session_t *s2)
{
   /* Names PostgreSQL could not take as identifiers: too long, mixed case, unicode, quotes. */
   char longname[200];
   memset(longname, 'x', sizeof longname - 1);
   longname[sizeof longname - 1] = '\0';
   const char *names[] = {"Foo",       "foo",       "FOO",    "with space",
                          "q\"uote's", "ünïcödé ☃", longname, "system.profile2",
                          "a.b.c"};
   const uint8_t options[] = {5, 0, 0, 0, 0};
   names_t got = {0};
   blob_t blob = {0};
   ferret_ns_t ns = {"cat_db", "c1"};
   ferret_ns_t other = {"Cat_DB", "c1"};
   ferret_ns_t missing = {"cat_db", "nope"};

   CHECK_STATUS(M->list_databases(s, collect, &got, error), FERRET_OK);
   CHECK(got.n == 0);
   CHECK_STATUS(M->create_collection(s, &ns, options, sizeof options, error), FERRET_OK);
   CHECK_STATUS(M->create_collection(s, &ns, NULL, 0, error), FERRET_ERR_NAMESPACE_EXISTS);
   CHECK_STATUS(M->create_collection(s2, &ns, NULL, 0, error), FERRET_ERR_NAMESPACE_EXISTS);
   CHECK_STATUS(M->create_collection(s, &other, NULL, 0, error), FERRET_OK);
   CHECK_STATUS(M->collection_options(s2, &ns, keep_blob, &blob, error), FERRET_OK);
   CHECK(blob.calls == 1 && blob.len == sizeof options && memcmp(blob.bytes, options, 5) == 0);
   blob.calls = 0;
   CHECK_STATUS(M->collection_options(s, &other, keep_blob, &blob, error), FERRET_OK);
   CHECK(blob.calls == 0);
   CHECK_STATUS(M->collection_options(s, &missing, keep_blob, &blob, error),
                FERRET_ERR_NAMESPACE_NOT_FOUND);

   for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
      size_t inserted = 0;
      CHECK_STATUS(insert_range(s, names[i], names[i], 0, (int) i + 1, &inserted, error),
                   FERRET_OK);
   }
   for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
      CHECK(count_all(s2, names[i], names[i]) == (int) i + 1);
   }
   got.n = 0;
   CHECK_STATUS(M->list_databases(s, collect, &got, error), FERRET_OK);
   CHECK(got.n == 2 + (int) (sizeof names / sizeof names[0]));
   CHECK(has(&got, "cat_db") && has(&got, "Cat_DB") && has(&got, "ünïcödé ☃") &&
         has(&got, longname));
   got.n = 0;
   CHECK_STATUS(M->list_collections(s, &(ferret_ns_t){"Foo", NULL}, collect, &got, error),
                FERRET_OK);
   CHECK(got.n == 1 && strcmp(got.list[0], "Foo") == 0);

   /* Drops. */
   CHECK_STATUS(M->drop_collection(s, &missing, error), FERRET_ERR_NAMESPACE_NOT_FOUND);
   CHECK_STATUS(M->drop_collection(s, &other, error), FERRET_OK);
   CHECK(count_all(s2, "Cat_DB", "c1") == 0);
   for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
      CHECK_STATUS(M->drop_database(s, names[i], error), FERRET_OK);
   }
   CHECK_STATUS(M->drop_database(s, "never_there", error), FERRET_OK);
   got.n = 0;
   CHECK_STATUS(M->list_databases(s2, collect, &got, error), FERRET_OK);
   CHECK(got.n == 1 && has(&got, "cat_db"));
   CHECK_STATUS(M->drop_database(s, "cat_db", error), FERRET_OK);
}

static void
test_insert(ferret_session_t *s)
{
   pgtest_doc_t d[6];
   ferret_doc_t fd[6];
   ferret_ns_t ns = {"ins_db", "c"};
   int32_t ids[16];
   size_t inserted = 99;
   ferret_stats_t st = {.struct_size = sizeof st};

   CHECK_STATUS(insert_range(s, "ins_db", "c", 0, 5, &inserted, error), FERRET_OK);
   CHECK(inserted == 5);
   /* Ordered insert: 10, 11, then 2 collides: 10 and 11 stay, 12 and 13 never go in. */
   pgtest_make(&d[0], 10, "a");
   pgtest_make(&d[1], 11, "b");
   pgtest_make(&d[2], 2, "dup");
   pgtest_make(&d[3], 12, "c");
   pgtest_make(&d[4], 13, "d");
   for (int i = 0; i < 5; i++) {
      fd[i] = pgtest_fdoc(&d[i]);
   }
   CHECK_STATUS(M->insert(s, &ns, fd, 5, &inserted, error), FERRET_ERR_DUPLICATE_KEY);
   CHECK(inserted == 2);
   ferret_query_t q = {.struct_size = sizeof q};
   CHECK(run_query(s, "ins_db", "c", &q, ids, 16) == 7);
   CHECK(ids[5] == 10 && ids[6] == 11);
   /* A key repeated inside one batch: the second copy is the duplicate. */
   pgtest_make(&d[0], 20, "a");
   pgtest_make(&d[1], 21, "b");
   pgtest_make(&d[2], 20, "again");
   fd[0] = pgtest_fdoc(&d[0]);
   fd[1] = pgtest_fdoc(&d[1]);
   fd[2] = pgtest_fdoc(&d[2]);
   CHECK_STATUS(M->insert(s, &ns, fd, 3, &inserted, error), FERRET_ERR_DUPLICATE_KEY);
   CHECK(inserted == 2);
   /* The first document a duplicate: nothing goes in. A single document. */
   CHECK_STATUS(M->insert(s, &ns, fd, 2, &inserted, error), FERRET_ERR_DUPLICATE_KEY);
   CHECK(inserted == 0);
   CHECK_STATUS(M->insert(s, &ns, fd + 2, 1, &inserted, error), FERRET_ERR_DUPLICATE_KEY);
   CHECK(inserted == 0);
   CHECK(count_all(s, "ins_db", "c") == 9);
   /* Bytes round-trip exactly, including an empty key. */
   pgtest_make(&d[5], 99, "exact");
   d[5].key_len = 0;
   fd[5] = pgtest_fdoc(&d[5]);
   CHECK_STATUS(M->insert(s, &ns, fd + 5, 1, &inserted, error), FERRET_OK);
   q.terms = &(ferret_term_t){"_id", FERRET_OP_EQ, NULL, 0, d[5].key, 0, false};
   q.term_count = 1;
   {
      ferret_cursor_t *c = NULL;
      const uint8_t *bson = NULL;
      size_t len = 0;
      CHECK_STATUS(M->query(s, &ns, &q, &c, error), FERRET_OK);
      CHECK_STATUS(M->cursor_next(c, &bson, &len, error), FERRET_OK);
      CHECK(bson != NULL && len == d[5].len && memcmp(bson, d[5].bson, len) == 0);
      CHECK_STATUS(M->cursor_next(c, &bson, &len, error), FERRET_OK);
      CHECK(bson == NULL);
      M->cursor_close(c);
   }
   CHECK_STATUS(M->stats(s, &ns, &st, error), FERRET_OK);
   CHECK(st.count == 10 && st.data_size > 0 && st.storage_size > 0 && st.index_count == 1);
   st.collections = 0;
   CHECK_STATUS(M->stats(s, &(ferret_ns_t){"ins_db", NULL}, &st, error), FERRET_OK);
   CHECK(st.count == 10 && st.collections == 1);
   CHECK_STATUS(M->stats(s, &(ferret_ns_t){"ins_db", "none"}, &st, error), FERRET_OK);
   CHECK(st.count == 0);
   /* A big batch, over several chunks of the fast path. */
   CHECK_STATUS(insert_range(s, "ins_db", "big", 0, 25000, &inserted, error), FERRET_OK);
   CHECK(inserted == 25000);
   CHECK_STATUS(insert_range(s, "ins_db", "big", 25000, 45000, &inserted, error), FERRET_OK);
   CHECK_STATUS(insert_range(s, "ins_db", "big", 45000, 60000, &inserted, error), FERRET_OK);
   /* A duplicate deep in the second chunk of a batch. */
   CHECK_STATUS(insert_range(s, "ins_db", "big", 60000 - 5000 - 12345, 70000, &inserted, error),
                FERRET_ERR_DUPLICATE_KEY);
   CHECK(inserted == 0);
   CHECK(count_all(s, "ins_db", "big") == 60000);
}

static void
test_replace_delete(ferret_session_t *s)
{
   pgtest_doc_t a;
   pgtest_doc_t a2;
   pgtest_doc_t a3;
   ferret_ns_t ns = {"rd_db", "c"};
   ferret_doc_t fa;
   ferret_doc_t fa2;
   ferret_doc_t fa3;
   size_t inserted;
   bool ok = true;

   pgtest_make(&a, 1, "one");
   pgtest_make(&a2, 1, "one, changed");
   pgtest_make(&a3, 1, "one, lost update");
   fa = pgtest_fdoc(&a);
   fa2 = pgtest_fdoc(&a2);
   fa3 = pgtest_fdoc(&a3);
   CHECK_STATUS(M->replace(s, &ns, a.bson, a.len, &fa2, &ok, error), FERRET_OK);
   CHECK(!ok);
   CHECK_STATUS(M->insert(s, &ns, &fa, 1, &inserted, error), FERRET_OK);
   CHECK_STATUS(M->replace(s, &ns, a.bson, a.len, &fa2, &ok, error), FERRET_OK);
   CHECK(ok);
   /* The same expected image again: someone else changed it; no lost update. */
   CHECK_STATUS(M->replace(s, &ns, a.bson, a.len, &fa3, &ok, error), FERRET_OK);
   CHECK(!ok);
   CHECK_STATUS(M->delete_one(s, &ns, a.key, a.key_len, a.bson, a.len, &ok, error), FERRET_OK);
   CHECK(!ok);
   CHECK_STATUS(M->delete_one(s, &ns, a.key, a.key_len, a2.bson, a2.len, &ok, error), FERRET_OK);
   CHECK(ok);
   CHECK_STATUS(M->insert(s, &ns, &fa, 1, &inserted, error), FERRET_OK);
   CHECK_STATUS(M->delete_one(s, &ns, a.key, a.key_len, NULL, 0, &ok, error), FERRET_OK);
   CHECK(ok);
   CHECK_STATUS(M->delete_one(s, &ns, a.key, a.key_len, NULL, 0, &ok, error), FERRET_OK);
   CHECK(!ok);
   CHECK_STATUS(
      M->delete_one(s, &(ferret_ns_t){"rd_db", "missing"}, a.key, a.key_len, NULL, 0, &ok, error),
      FERRET_OK);
   CHECK(!ok);
   CHECK_STATUS(M->drop_database(s, "rd_db", error), FERRET_OK);
}

static void
test_query(ferret_session_t *s)
{
   static int32_t ids[3000];
   pgtest_doc_t d;
   ferret_ns_t ns = {"q_db", "c"};
   size_t inserted;
   uint8_t value[] = {12, 0, 0, 0, 0x10, 0, 5, 0, 0, 0, 0, 0}; /* {"": 5} */

   CHECK_STATUS(insert_range(s, "q_db", "c", 0, 2500, &inserted, error), FERRET_OK);
   pgtest_make(&d, 42, "");
   ferret_term_t id_term = {"_id", FERRET_OP_EQ, value, sizeof value, d.key, d.key_len, false};
   ferret_term_t other = {"v", FERRET_OP_EQ, value, sizeof value, NULL, 0, false};
   ferret_sort_key_t natural_desc = {"$natural", -1};
   ferret_sort_key_t by_v = {"v", 1};

   /* _id equality is applied. */
   ferret_query_t q1 = {.struct_size = sizeof q1, .terms = &id_term, .term_count = 1, .limit = 5};
   CHECK(run_query(s, "q_db", "c", &q1, ids, 3000) == 1 && ids[0] == 42);
   CHECK(id_term.applied && q1.skip_limit_applied);
   /* Another term is not; skip/limit then stay with the core. */
   ferret_term_t two[2] = {other, id_term};
   two[1].applied = false;
   ferret_query_t q2 = {
      .struct_size = sizeof q2, .terms = two, .term_count = 2, .skip = 1, .limit = 1};
   CHECK(run_query(s, "q_db", "c", &q2, ids, 3000) == 1);
   CHECK(!two[0].applied && two[1].applied && !q2.skip_limit_applied);
   /* Natural order, both ways, across many batches. */
   ferret_query_t q3 = {.struct_size = sizeof q3, .sort = &natural_desc, .sort_count = 1};
   CHECK(run_query(s, "q_db", "c", &q3, ids, 3000) == 2500);
   CHECK(q3.sort_applied && ids[0] == 2499 && ids[2499] == 0);
   bool ordered = true;
   for (int i = 1; i < 2500; i++) {
      ordered = ordered && ids[i] == ids[i - 1] - 1;
   }
   CHECK(ordered);
   ferret_query_t q4 = {
      .struct_size = sizeof q4, .sort = &by_v, .sort_count = 1, .skip = 3, .limit = 2};
   CHECK(run_query(s, "q_db", "c", &q4, ids, 3000) == 2500);
   CHECK(!q4.sort_applied && !q4.skip_limit_applied);
   /* skip and limit, with and without a natural sort. */
   ferret_query_t q5 = {.struct_size = sizeof q5, .skip = 1000, .limit = 1200};
   CHECK(run_query(s, "q_db", "c", &q5, ids, 3000) == 1200);
   CHECK(q5.skip_limit_applied && ids[0] == 1000 && ids[1199] == 2199);
   ferret_query_t q6 = {
      .struct_size = sizeof q6, .sort = &natural_desc, .sort_count = 1, .skip = 2400, .limit = 500};
   CHECK(run_query(s, "q_db", "c", &q6, ids, 3000) == 100);
   CHECK(ids[0] == 99 && ids[99] == 0);
   ferret_query_t q7 = {.struct_size = sizeof q7, .skip = 5000};
   CHECK(run_query(s, "q_db", "c", &q7, ids, 3000) == 0);
   /* A missing collection is an empty cursor. */
   ferret_query_t q8 = {.struct_size = sizeof q8};
   CHECK(run_query(s, "q_db", "missing", &q8, ids, 3000) == 0);
   CHECK(run_query(s, "nodb", "missing", &q8, ids, 3000) == 0);

   /* Two cursors open at once, with writes in between: each sees every old row once. */
   ferret_query_t qa = {.struct_size = sizeof qa};
   ferret_query_t qb = {.struct_size = sizeof qb, .sort = &natural_desc, .sort_count = 1};
   ferret_cursor_t *ca = NULL;
   ferret_cursor_t *cb = NULL;
   const uint8_t *bson;
   size_t len;
   int na = 0;
   int nb = 0;
   int last_a = -1;
   bool a_ok = true;
   bool end_a = false;
   bool end_b = false;
   CHECK_STATUS(M->query(s, &ns, &qa, &ca, error), FERRET_OK);
   CHECK_STATUS(M->query(s, &ns, &qb, &cb, error), FERRET_OK);
   for (int step = 0; ca != NULL && cb != NULL && !(end_a && end_b); step++) {
      if (!end_a) {
         CHECK_STATUS(M->cursor_next(ca, &bson, &len, error), FERRET_OK);
         if (bson == NULL) {
            end_a = true;
         } else {
            a_ok = a_ok && pgtest_id(bson) > last_a;
            last_a = pgtest_id(bson);
            na++;
         }
      }
      if (!end_b) {
         CHECK_STATUS(M->cursor_next(cb, &bson, &len, error), FERRET_OK);
         end_b = bson == NULL;
         nb += bson != NULL;
      }
      if (step % 500 == 0) {
         size_t k;
         CHECK_STATUS(insert_range(s, "q_db", "c", 10000 + step, 10001 + step, &k, error),
                      FERRET_OK);
         bool replaced = false;
         pgtest_doc_t old;
         pgtest_doc_t new;
         pgtest_make(&old, step / 2, "value");
         pgtest_make(&new, step / 2, "value updated while a cursor is open");
         ferret_doc_t fnew = pgtest_fdoc(&new);
         CHECK_STATUS(M->replace(s, &ns, old.bson, old.len, &fnew, &replaced, error), FERRET_OK);
         CHECK(replaced);
      }
   }
   /* The forward cursor also sees rows added behind its position; never a row twice. */
   CHECK(a_ok && na >= 2500 && na <= 2506);
   CHECK(nb == 2500);
   M->cursor_close(ca);
   M->cursor_close(cb);
   CHECK_STATUS(M->drop_database(s, "q_db", error), FERRET_OK);
}

static void
test_rename(ferret_session_t *s, ferret_session_t *s2)
{
   ferret_ns_t a = {"rn_db", "a"};
   ferret_ns_t b = {"rn_db", "b"};
   ferret_ns_t x = {"rn_other", "x"};
   size_t inserted;

   CHECK_STATUS(insert_range(s, "rn_db", "a", 0, 3, &inserted, error), FERRET_OK);
   CHECK_STATUS(insert_range(s, "rn_db", "b", 0, 5, &inserted, error), FERRET_OK);
   CHECK(count_all(s2, "rn_db", "a") == 3); /* s2 now has a cached */
   CHECK_STATUS(M->rename_collection(s, &a, &b, false, error), FERRET_ERR_NAMESPACE_EXISTS);
   CHECK_STATUS(M->rename_collection(s, &(ferret_ns_t){"rn_db", "zz"}, &x, false, error),
                FERRET_ERR_NAMESPACE_NOT_FOUND);
   CHECK_STATUS(M->rename_collection(s, &a, &b, true, error), FERRET_OK);
   CHECK(count_all(s, "rn_db", "b") == 3);
   CHECK(count_all(s2, "rn_db", "a") == 0);
   /* s2's cache said a -> the renamed table: the insert must make a new a, not write into b. */
   CHECK_STATUS(insert_range(s2, "rn_db", "a", 100, 101, &inserted, error), FERRET_OK);
   CHECK(count_all(s, "rn_db", "a") == 1);
   CHECK(count_all(s, "rn_db", "b") == 3);
   CHECK(count_all(s2, "rn_db", "b") == 3);
   /* Across databases. */
   CHECK_STATUS(M->rename_collection(s, &b, &x, false, error), FERRET_OK);
   CHECK(count_all(s2, "rn_other", "x") == 3);
   CHECK(count_all(s2, "rn_db", "b") == 0);
   CHECK_STATUS(insert_range(s2, "rn_other", "x", 3, 4, &inserted, error), FERRET_OK);
   CHECK(count_all(s, "rn_other", "x") == 4);
   CHECK_STATUS(M->drop_database(s, "rn_db", error), FERRET_OK);
   CHECK_STATUS(M->drop_database(s2, "rn_other", error), FERRET_OK);
   /* A dropped and re-made collection, seen through a stale cache. */
   CHECK_STATUS(insert_range(s, "rn_db", "a", 0, 2, &inserted, error), FERRET_OK);
   CHECK(count_all(s2, "rn_db", "a") == 2);
   CHECK_STATUS(M->drop_collection(s, &a, error), FERRET_OK);
   CHECK_STATUS(insert_range(s, "rn_db", "a", 0, 1, &inserted, error), FERRET_OK);
   CHECK(count_all(s2, "rn_db", "a") == 1);
   bool deleted = false;
   pgtest_doc_t d;
   pgtest_make(&d, 0, "value");
   CHECK_STATUS(M->drop_collection(s, &a, error), FERRET_OK);
   CHECK_STATUS(M->delete_one(s2, &a, d.key, d.key_len, NULL, 0, &deleted, error), FERRET_OK);
   CHECK(!deleted);
   CHECK_STATUS(M->drop_database(s, "rn_db", error), FERRET_OK);
}

static void
test_transactions(ferret_session_t *s, ferret_session_t *s2)
{
   ferret_ns_t ns = {"tx_db", "c"};
   size_t inserted;

   CHECK_STATUS(insert_range(s, "tx_db", "c", 0, 1, &inserted, error), FERRET_OK);
   CHECK_STATUS(M->begin(s, error), FERRET_OK);
   CHECK_STATUS(M->begin(s, error), FERRET_ERR_INTERNAL);
   CHECK_STATUS(insert_range(s, "tx_db", "c", 1, 4, &inserted, error), FERRET_OK);
   CHECK(count_all(s, "tx_db", "c") == 4);
   CHECK(count_all(s2, "tx_db", "c") == 1);
   M->abort(s);
   CHECK(count_all(s, "tx_db", "c") == 1);

   /* Commit, including a collection made inside the transaction and an ordered insert that
    * hits a duplicate (the savepoint path). */
   CHECK_STATUS(M->begin(s, error), FERRET_OK);
   CHECK_STATUS(insert_range(s, "tx_db", "c", 1, 4, &inserted, error), FERRET_OK);
   CHECK_STATUS(insert_range(s, "tx_db", "c", 4, 10, &inserted, error), FERRET_OK);
   CHECK_STATUS(insert_range(s, "tx_db", "c", 10, 12, &inserted, error), FERRET_OK);
   CHECK_STATUS(insert_range(s, "tx_db", "c", 12, 15, &inserted, error), FERRET_OK);
   CHECK_STATUS(insert_range(s, "tx_db", "c", 13, 16, &inserted, error), FERRET_ERR_DUPLICATE_KEY);
   CHECK(inserted == 0);
   CHECK_STATUS(insert_range(s, "tx_db", "new", 0, 2, &inserted, error), FERRET_OK);
   CHECK(count_all(s2, "tx_db", "new") == 0);
   CHECK_STATUS(M->commit(s, error), FERRET_OK);
   CHECK(count_all(s2, "tx_db", "c") == 15);
   CHECK(count_all(s2, "tx_db", "new") == 2);

   /* An aborted collection creation leaves no trace, in the catalog or the cache. */
   CHECK_STATUS(M->begin(s, error), FERRET_OK);
   CHECK_STATUS(insert_range(s, "tx_db", "ghost", 0, 2, &inserted, error), FERRET_OK);
   M->abort(s);
   names_t got = {0};
   CHECK_STATUS(M->list_collections(s, &ns, collect, &got, error), FERRET_OK);
   CHECK(got.n == 2 && !has(&got, "ghost"));
   CHECK(count_all(s, "tx_db", "ghost") == 0);
   CHECK_STATUS(insert_range(s, "tx_db", "ghost", 0, 1, &inserted, error), FERRET_OK);
   CHECK(count_all(s2, "tx_db", "ghost") == 1);

   /* Two transactions replacing one document: the second is a write conflict. */
   pgtest_doc_t d0;
   pgtest_doc_t d1;
   pgtest_doc_t d2;
   pgtest_make(&d0, 0, "value");
   pgtest_make(&d1, 0, "from s");
   pgtest_make(&d2, 0, "from s2");
   ferret_doc_t f1 = pgtest_fdoc(&d1);
   ferret_doc_t f2 = pgtest_fdoc(&d2);
   bool replaced = false;
   CHECK_STATUS(M->begin(s, error), FERRET_OK);
   CHECK_STATUS(M->begin(s2, error), FERRET_OK);
   CHECK(count_all(s2, "tx_db", "c") == 15); /* s2's snapshot starts here */
   CHECK_STATUS(M->replace(s, &ns, d0.bson, d0.len, &f1, &replaced, error), FERRET_OK);
   CHECK(replaced);
   CHECK_STATUS(M->commit(s, error), FERRET_OK);
   CHECK_STATUS(M->replace(s2, &ns, d0.bson, d0.len, &f2, &replaced, error),
                FERRET_ERR_WRITE_CONFLICT);
   CHECK_STATUS(M->commit(s2, error), FERRET_ERR_INTERNAL);
   CHECK_STATUS(M->commit(s2, error), FERRET_ERR_INTERNAL); /* none open now */
   CHECK_STATUS(M->drop_database(s, "tx_db", error), FERRET_OK);
}

static void
explain_cb(void *ctx, const uint8_t *bson, size_t len)
{
   blob_t *b = ctx;
   keep_blob(ctx, bson, len);
   b->len = len;
}

static void
test_explain(ferret_session_t *s)
{
   pgtest_doc_t d;
   size_t inserted;
   blob_t blob = {0};

   CHECK_STATUS(insert_range(s, "ex_db", "c", 0, 10, &inserted, error), FERRET_OK);
   pgtest_make(&d, 3, "");
   ferret_term_t t = {"_id", FERRET_OP_EQ, NULL, 0, d.key, d.key_len, false};
   ferret_query_t q = {.struct_size = sizeof q, .terms = &t, .term_count = 1};
   CHECK_STATUS(M->explain(s, &(ferret_ns_t){"ex_db", "c"}, &q, explain_cb, &blob, error),
                FERRET_OK);
   CHECK(blob.calls == 1 && t.applied);
   CHECK(blob.len == pgtest_rd32(blob.bytes) && blob.bytes[blob.len - 1] == 0);
   CHECK(memmem(blob.bytes, blob.len, "postgres", 8) != NULL);
   CHECK(memmem(blob.bytes, blob.len, "id_key = $1", 11) != NULL);
   blob.calls = 0;
   ferret_query_t q2 = {.struct_size = sizeof q2};
   CHECK_STATUS(M->explain(s, &(ferret_ns_t){"ex_db", "nope"}, &q2, explain_cb, &blob, error),
                FERRET_OK);
   CHECK(blob.calls == 1);
   CHECK_STATUS(M->drop_database(s, "ex_db", error), FERRET_OK);
}

/* Sessions racing to create the same collection lazily, each inserting its own documents. */
typedef struct racer {
   ferret_backend_t *backend;
   int id;
   int failures;
} racer_t;

static void *
race(void *arg)
{
   racer_t *r = arg;
   ferret_session_t *s = NULL;
   ferret_error_t err = {{0}, {0}};

   if (M->session_open(r->backend, &s, &err) != FERRET_OK) {
      r->failures++;
      return NULL;
   }
   for (int round = 0; round < 5; round++) {
      char coll[32];
      size_t inserted = 0;
      snprintf(coll, sizeof coll, "c%d", round);
      if (insert_range(s, "race_db", coll, r->id * 1000, r->id * 1000 + 50, &inserted, &err) !=
             FERRET_OK ||
          inserted != 50) {
         fprintf(stderr, "racer %d: %s\n", r->id, err.message);
         r->failures++;
      }
   }
   M->session_close(s);
   return NULL;
}

static void
test_race(ferret_backend_t *b, ferret_session_t *s)
{
   pthread_t t[6];
   racer_t r[6];
   names_t got = {0};

   for (int i = 0; i < 6; i++) {
      r[i] = (racer_t){b, i, 0};
      pthread_create(&t[i], NULL, race, &r[i]);
   }
   for (int i = 0; i < 6; i++) {
      pthread_join(t[i], NULL);
      CHECK(r[i].failures == 0);
   }
   CHECK_STATUS(M->list_collections(s, &(ferret_ns_t){"race_db", NULL}, collect, &got, error),
                FERRET_OK);
   CHECK(got.n == 5);
   for (int i = 0; i < 5; i++) {
      char coll[32];
      snprintf(coll, sizeof coll, "c%d", i);
      CHECK(count_all(s, "race_db", coll) == 300);
   }
   CHECK_STATUS(M->drop_database(s, "race_db", error), FERRET_OK);
}

/* Removes every schema this run made, through libpq directly. */
static void
cleanup(void)
{
   char sql[512];
   PGconn *conn = PQconnectdb(conninfo);

   PQclear(PQexec(conn, "SET client_min_messages = warning"));
   PGresult *res;

   snprintf(sql, sizeof sql,
            "SELECT string_agg(format('DROP SCHEMA %%I CASCADE', nspname), ';')"
            " FROM pg_namespace WHERE starts_with(nspname, '%s')",
            prefix);
   res = PQexec(conn, sql);
   if (PQresultStatus(res) == PGRES_TUPLES_OK && !PQgetisnull(res, 0, 0)) {
      PQclear(PQexec(conn, PQgetvalue(res, 0, 0)));
   }
   PQclear(res);
   PQfinish(conn);
}

int
main(int argc, char **argv)
{
   ferret_backend_t *b = NULL;
   ferret_session_t *s = NULL;
   ferret_session_t *s2 = NULL;

   conninfo = getenv("FERRET_PG_CONNINFO");
   if (conninfo == NULL || conninfo[0] == '\0') {
      fprintf(stderr, "FERRET_PG_CONNINFO is not set: skipped\n");
      return PGTEST_SKIP;
   }
   if (argc != 2) {
      fprintf(stderr, "usage: %s postgres.so\n", argv[0]);
      return 2;
   }
   snprintf(prefix, sizeof prefix, "t%ld_", (long) getpid());
   D = pgtest_load(argv[1]);
   M = D->methods;

   test_config();
   CHECK_STATUS(pgtest_open(D, conninfo, prefix, &b, error), FERRET_OK);
   if (b == NULL) {
      return 1;
   }
   /* Opening twice (a second server process) finds the catalog in place. */
   {
      ferret_backend_t *again = NULL;
      CHECK_STATUS(pgtest_open(D, conninfo, prefix, &again, error), FERRET_OK);
      M->close(again);
   }
   CHECK_STATUS(M->session_open(b, &s, error), FERRET_OK);
   CHECK_STATUS(M->session_open(b, &s2, error), FERRET_OK);
   if (s == NULL || s2 == NULL) {
      return 1;
   }
   test_catalog(s, s2);
   test_insert(s);
   test_replace_delete(s);
   test_query(s);
   test_rename(s, s2);
   test_transactions(s, s2);
   test_explain(s);
   test_race(b, s);
   M->session_close(s);
   M->session_close(s2);
   M->close(b);
   cleanup();
   if (pgtest_failures > 0) {
      fprintf(stderr, "%d checks failed\n", pgtest_failures);
      return 1;
   }
   printf("all postgres backend tests passed\n");
   return 0;
}
