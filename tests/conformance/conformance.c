/*
 * conformance.c: the backend conformance harness (STYLE.md rule 18, docs/rfc/0001-backend-abi.md).
 *
 *    conformance PLUGIN.so [key=value ...]
 *
 * Loads a backend through the core's loader, opens it with the key=value items as its config
 * section, and runs the same cases on every backend: names, catalog statuses, every BSON type
 * of the spec corpus byte for byte, a 16 MiB document, duplicate keys in a batch,
 * compare-and-swap, cursor lifetimes, pushdown contracts, several sessions on threads,
 * transactions and explain when advertised, statistics. FERRET_BACKEND stands in for the path
 * and FERRET_BACKEND_CONFIG (space-separated key=value) for the items. FERRET_SPEC_DIR
 * overrides where the BSON corpus is.
 *
 * Each run works in databases named after its process id and drops them at the end, so
 * repeated runs share a data directory or server without seeing each other.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <bson/bson.h>

#include <ferret/backend.h>

#include "backend/loader.h"
#include "bson/idkey.h"

#ifndef CONFORMANCE_SPEC_DIR
#define CONFORMANCE_SPEC_DIR "../shared/spec"
#endif

#define MAX_CONFIG 32
#define THREADS 4
#define THREAD_BATCHES 50
#define THREAD_BATCH 10
#define CAS_INCREMENTS 50

/* The run's state: one loaded backend and one main session. */
typedef struct harness {
   fe_plugin_t *plugin; /* owned */
   const ferret_backend_methods_t *m;
   uint64_t caps;
   ferret_backend_t *backend; /* owned by the backend until close() */
   ferret_session_t *session; /* owned by the backend until session_close() */
   char prefix[32];           /* database name prefix of this run */
} harness_t;

/* A document and its _id key, both owned. */
typedef struct doc {
   bson_t *bson;
   uint8_t *id_key;
   size_t id_key_len;
} doc_t;

/* Everything a query returned, copied. */
typedef struct result {
   uint8_t **docs; /* owned, each owned */
   size_t *lens;
   size_t count;
} result_t;

static ferret_config_item_t config_items[MAX_CONFIG];
static size_t config_count;
static const char *plugin_path;

/* ---- helpers ---- */

static harness_t *
H(void **state)
{
   return *state;
}

static void
db_name(harness_t *h, const char *suffix, char *out, size_t size)
{
   snprintf(out, size, "%s%s", h->prefix, suffix);
}

#define CHECK_OK(call)                                                                             \
   do {                                                                                            \
      ferret_error_t err_ = {0};                                                                   \
      ferret_status_t st_ = (call);                                                                \
      (void) err_;                                                                                 \
      if (st_ != FERRET_OK) {                                                                      \
         fail_msg("%s: status %d", #call, (int) st_);                                              \
      }                                                                                            \
   } while (0)

static ferret_status_t
expect_status(ferret_status_t got, ferret_status_t want, const ferret_error_t *error,
              const char *what)
{
   if (got != want) {
      fail_msg("%s: status %d, expected %d (%s)", what, (int) got, (int) want, error->message);
   }
   if (want != FERRET_OK && !error->message[0]) {
      fail_msg("%s: status %d without a message", what, (int) got);
   }
   return got;
}

static void
make_doc(doc_t *d, int32_t id, const char *tag)
{
   bson_iter_t iter;

   d->bson = bson_new();
   BSON_APPEND_INT32(d->bson, "_id", id);
   BSON_APPEND_UTF8(d->bson, "tag", tag);
   assert_true(bson_iter_init_find(&iter, d->bson, "_id"));
   assert_true(idkey_encode(&iter, &d->id_key, &d->id_key_len));
}

static void
doc_free(doc_t *d)
{
   bson_destroy(d->bson);
   bson_free(d->id_key);
   memset(d, 0, sizeof *d);
}

static ferret_doc_t
as_fdoc(const doc_t *d)
{
   ferret_doc_t f = {bson_get_data(d->bson), d->bson->len, d->id_key, d->id_key_len};
   return f;
}

static void
result_free(result_t *r)
{
   for (size_t i = 0; i < r->count; i++) {
      free(r->docs[i]);
   }
   free(r->docs);
   free(r->lens);
   memset(r, 0, sizeof *r);
}

/* Runs a query to the end and copies what it returned. */
static ferret_status_t
run_query(harness_t *h, ferret_session_t *session, const ferret_ns_t *ns, ferret_query_t *q,
          result_t *r, ferret_error_t *error)
{
   ferret_cursor_t *cursor = NULL;
   ferret_status_t status;

   memset(r, 0, sizeof *r);
   status = h->m->query(session, ns, q, &cursor, error);
   if (status != FERRET_OK) {
      return status;
   }
   assert_non_null(cursor);
   for (;;) {
      const uint8_t *bson = NULL;
      size_t len = 0;
      status = h->m->cursor_next(cursor, &bson, &len, error);
      if (status != FERRET_OK || !bson) {
         break;
      }
      r->docs = realloc(r->docs, (r->count + 1) * sizeof *r->docs);
      r->lens = realloc(r->lens, (r->count + 1) * sizeof *r->lens);
      r->docs[r->count] = malloc(len);
      memcpy(r->docs[r->count], bson, len);
      r->lens[r->count] = len;
      r->count++;
   }
   h->m->cursor_close(cursor);
   return status;
}

static void
scan(harness_t *h, const ferret_ns_t *ns, result_t *r)
{
   ferret_query_t q = {.struct_size = sizeof q};
   ferret_error_t error = {0};

   expect_status(run_query(h, h->session, ns, &q, r, &error), FERRET_OK, &error, "query");
}

static bool
result_has(const result_t *r, const uint8_t *bson, size_t len)
{
   for (size_t i = 0; i < r->count; i++) {
      if (r->lens[i] == len && memcmp(r->docs[i], bson, len) == 0) {
         return true;
      }
   }
   return false;
}

static void
insert_docs(harness_t *h, const ferret_ns_t *ns, doc_t *docs, size_t count)
{
   ferret_doc_t *f = calloc(count, sizeof *f);
   ferret_error_t error = {0};
   size_t inserted = 99;

   for (size_t i = 0; i < count; i++) {
      f[i] = as_fdoc(&docs[i]);
   }
   expect_status(h->m->insert(h->session, ns, f, count, &inserted, &error), FERRET_OK, &error,
                 "insert");
   assert_int_equal(inserted, count);
   free(f);
}

/* Collects names from a listing. */
typedef struct names {
   char *items[64];
   size_t count;
} names_t;

static bool
collect_name(void *ctx, const char *name)
{
   names_t *n = ctx;
   if (n->count < 64) {
      n->items[n->count++] = strdup(name);
   }
   return true;
}

static bool
names_has(const names_t *n, const char *name)
{
   for (size_t i = 0; i < n->count; i++) {
      if (strcmp(n->items[i], name) == 0) {
         return true;
      }
   }
   return false;
}

static void
names_free(names_t *n)
{
   for (size_t i = 0; i < n->count; i++) {
      free(n->items[i]);
   }
   n->count = 0;
}

static void
list_collections(harness_t *h, const char *db, names_t *out)
{
   ferret_ns_t ns = {db, NULL};
   ferret_error_t error = {0};

   memset(out, 0, sizeof *out);
   expect_status(h->m->list_collections(h->session, &ns, collect_name, out, &error), FERRET_OK,
                 &error, "list_collections");
}

static void
list_databases(harness_t *h, names_t *out)
{
   ferret_error_t error = {0};

   memset(out, 0, sizeof *out);
   expect_status(h->m->list_databases(h->session, collect_name, out, &error), FERRET_OK, &error,
                 "list_databases");
}

static int64_t
count_docs(harness_t *h, const ferret_ns_t *ns)
{
   result_t r;
   int64_t n;

   scan(h, ns, &r);
   n = (int64_t) r.count;
   result_free(&r);
   return n;
}

static void
drop_db(harness_t *h, const char *db)
{
   ferret_error_t error = {0};
   expect_status(h->m->drop_database(h->session, db, &error), FERRET_OK, &error, "drop_database");
}

/* Captures the BSON a callback is given. */
typedef struct captured {
   int calls;
   uint8_t *bson;
   size_t len;
} captured_t;

static void
capture_bson(void *ctx, const uint8_t *bson, size_t len)
{
   captured_t *c = ctx;
   c->calls++;
   free(c->bson);
   c->bson = malloc(len ? len : 1);
   memcpy(c->bson, bson, len);
   c->len = len;
}

/* ---- setup ---- */

static int
group_setup(void **state)
{
   harness_t *h = calloc(1, sizeof *h);
   fe_error_t load_error = {0};
   ferret_error_t error = {0};
   ferret_config_t config = {sizeof config, config_items, config_count};
   ferret_status_t status;

   h->plugin = loader_load(plugin_path, NULL, &load_error);
   if (!h->plugin) {
      fprintf(stderr, "conformance: %s\n", load_error.message);
      free(h);
      return -1;
   }
   h->m = &h->plugin->methods;
   h->caps = h->plugin->descriptor->capabilities;
   status = h->m->open(loader_host(), &config, &h->backend, &error);
   if (status != FERRET_OK) {
      fprintf(stderr, "conformance: open: status %d: %s\n", (int) status, error.message);
      loader_unload(h->plugin);
      free(h);
      return -1;
   }
   status = h->m->session_open(h->backend, &h->session, &error);
   if (status != FERRET_OK) {
      fprintf(stderr, "conformance: session_open: status %d: %s\n", (int) status, error.message);
      return -1;
   }
   snprintf(h->prefix, sizeof h->prefix, "cf%ld_", (long) getpid());
   *state = h;
   return 0;
}

static int
group_teardown(void **state)
{
   harness_t *h = *state;
   names_t dbs;

   if (!h) {
      return 0;
   }
   /* Leave nothing of this run behind. */
   list_databases(h, &dbs);
   for (size_t i = 0; i < dbs.count; i++) {
      if (strncmp(dbs.items[i], h->prefix, strlen(h->prefix)) == 0) {
         drop_db(h, dbs.items[i]);
      }
   }
   names_free(&dbs);
   h->m->session_close(h->session);
   h->m->close(h->backend);
   loader_unload(h->plugin);
   free(h);
   return 0;
}

/* ---- cases ---- */

static void
test_descriptor(void **state)
{
   harness_t *h = H(state);
   const ferret_backend_descriptor_t *d = h->plugin->descriptor;

   assert_int_equal(d->magic, FERRET_BACKEND_MAGIC);
   assert_int_equal(d->abi_major, FERRET_ABI_MAJOR);
   assert_true(d->name && d->name[0]);
   assert_true(d->version && d->version[0]);
   assert_int_equal(d->capabilities & ~FERRET_CAP_KNOWN_MASK, 0);
   /* A capability bit and its methods come together. */
   assert_int_equal((d->capabilities & FERRET_CAP_TRANSACTIONS) != 0, h->m->begin != NULL);
   assert_int_equal((d->capabilities & FERRET_CAP_TRANSACTIONS) != 0, h->m->commit != NULL);
   assert_int_equal((d->capabilities & FERRET_CAP_TRANSACTIONS) != 0, h->m->abort != NULL);
   assert_int_equal((d->capabilities & FERRET_CAP_EXPLAIN) != 0, h->m->explain != NULL);
   assert_non_null(d->config_keys);
}

static void
test_names(void **state)
{
   harness_t *h = H(state);
   char db[64];
   char long_a[256], long_b[256], long_c[256];
   const char *names[12];
   size_t n = 0;
   names_t listed;

   db_name(h, "names", db, sizeof db);
   /* 254 bytes, differing only in the last byte: a backend that truncates collides. */
   memset(long_a, 'x', 253);
   memcpy(long_b, long_a, 253);
   long_a[253] = '1';
   long_b[253] = '2';
   long_a[254] = long_b[254] = '\0';
   /* 207 bytes of multi-byte UTF-8. */
   long_c[0] = '\0';
   for (int i = 0; i < 23; i++) {
      strcat(long_c, "\xc3\xa9\xe2\x98\x83\xf0\x9f\x98\x80"); /* é ☃ 😀 */
   }
   assert_true(strlen(long_c) >= 200);
   names[n++] = "plain";
   names[n++] = "with.dots.in.it";
   names[n++] = "with space and  two";
   /* "ünïcødé ☃ 名前" */
   names[n++] = "\xc3\xbcn\xc3\xaf"
                "c\xc3\xb8"
                "d\xc3\xa9 \xe2\x98\x83 \xe5\x90\x8d\xe5\x89\x8d";
   names[n++] = "Case";
   names[n++] = "case";
   names[n++] = "CASE";
   names[n++] = long_a;
   names[n++] = long_b;
   names[n++] = long_c;
   names[n++] = "system.js";
   names[n++] = "a\"quote'and;drop table x;--";

   for (size_t i = 0; i < n; i++) {
      ferret_ns_t ns = {db, names[i]};
      doc_t d;
      make_doc(&d, (int32_t) i, names[i]);
      insert_docs(h, &ns, &d, 1);
      doc_free(&d);
   }
   list_collections(h, db, &listed);
   assert_int_equal(listed.count, n);
   for (size_t i = 0; i < n; i++) {
      ferret_ns_t ns = {db, names[i]};
      result_t r;
      doc_t d;
      assert_true(names_has(&listed, names[i]));
      /* Each collection holds its own document and no other. */
      make_doc(&d, (int32_t) i, names[i]);
      scan(h, &ns, &r);
      assert_int_equal(r.count, 1);
      assert_true(result_has(&r, bson_get_data(d.bson), d.bson->len));
      result_free(&r);
      doc_free(&d);
   }
   names_free(&listed);

   /* Database names that differ in case only are two databases to a backend (the core
    * refuses them to clients, as MongoDB does). */
   {
      char upper[64], lower[64];
      names_t dbs;
      db_name(h, "Names_Db-1", upper, sizeof upper);
      db_name(h, "names_db-1", lower, sizeof lower);
      for (int i = 0; i < 2; i++) {
         ferret_ns_t ns = {i ? upper : lower, "c"};
         doc_t d;
         make_doc(&d, i, "db");
         insert_docs(h, &ns, &d, 1);
         doc_free(&d);
      }
      list_databases(h, &dbs);
      assert_true(names_has(&dbs, upper));
      assert_true(names_has(&dbs, lower));
      assert_true(names_has(&dbs, db));
      names_free(&dbs);
      {
         ferret_ns_t ns = {upper, "c"};
         assert_int_equal(count_docs(h, &ns), 1);
      }
      drop_db(h, upper);
      drop_db(h, lower);
   }
   drop_db(h, db);
}

static void
test_catalog_statuses(void **state)
{
   harness_t *h = H(state);
   char db[64], db2[64], missing[64];
   ferret_error_t error = {0};
   ferret_ns_t a, b, c, other, gone;
   bson_t *options = BCON_NEW("capped", BCON_BOOL(false), "validationLevel", "strict");
   captured_t cap = {0};
   names_t listed;
   doc_t docs[3];

   db_name(h, "catalog", db, sizeof db);
   db_name(h, "catalog2", db2, sizeof db2);
   db_name(h, "missing", missing, sizeof missing);
   a = (ferret_ns_t){db, "a"};
   b = (ferret_ns_t){db, "b"};
   c = (ferret_ns_t){db, "c"};
   other = (ferret_ns_t){db2, "moved"};
   gone = (ferret_ns_t){missing, "x"};

   expect_status(
      h->m->create_collection(h->session, &a, bson_get_data(options), options->len, &error),
      FERRET_OK, &error, "create");
   memset(&error, 0, sizeof error);
   expect_status(h->m->create_collection(h->session, &a, NULL, 0, &error),
                 FERRET_ERR_NAMESPACE_EXISTS, &error, "create twice");
   memset(&error, 0, sizeof error);
   expect_status(h->m->drop_collection(h->session, &b, &error), FERRET_ERR_NAMESPACE_NOT_FOUND,
                 &error, "drop missing collection");
   memset(&error, 0, sizeof error);
   expect_status(h->m->drop_collection(h->session, &gone, &error), FERRET_ERR_NAMESPACE_NOT_FOUND,
                 &error, "drop in missing database");
   memset(&error, 0, sizeof error);
   expect_status(h->m->drop_database(h->session, missing, &error), FERRET_OK, &error,
                 "drop missing database");

   /* Options come back byte for byte; an implicit collection has none; a missing one is
    * NAMESPACE_NOT_FOUND. */
   expect_status(h->m->collection_options(h->session, &a, capture_bson, &cap, &error), FERRET_OK,
                 &error, "collection_options");
   assert_int_equal(cap.calls, 1);
   assert_int_equal(cap.len, options->len);
   assert_memory_equal(cap.bson, bson_get_data(options), cap.len);
   make_doc(&docs[0], 1, "b1");
   insert_docs(h, &b, &docs[0], 1);
   cap.calls = 0;
   expect_status(h->m->collection_options(h->session, &b, capture_bson, &cap, &error), FERRET_OK,
                 &error, "collection_options implicit");
   assert_int_equal(cap.calls, 0);
   expect_status(h->m->collection_options(h->session, &c, capture_bson, &cap, &error),
                 FERRET_ERR_NAMESPACE_NOT_FOUND, &error, "collection_options missing");
   memset(&error, 0, sizeof error);

   /* A missing namespace reads as empty. */
   assert_int_equal(count_docs(h, &c), 0);
   assert_int_equal(count_docs(h, &gone), 0);
   list_collections(h, missing, &listed);
   assert_int_equal(listed.count, 0);

   /* rename: missing source, existing target, drop_target, across databases. */
   expect_status(h->m->rename_collection(h->session, &c, &other, false, &error),
                 FERRET_ERR_NAMESPACE_NOT_FOUND, &error, "rename missing");
   memset(&error, 0, sizeof error);
   expect_status(h->m->rename_collection(h->session, &b, &a, false, &error),
                 FERRET_ERR_NAMESPACE_EXISTS, &error, "rename onto existing");
   memset(&error, 0, sizeof error);
   assert_int_equal(count_docs(h, &b), 1);
   expect_status(h->m->rename_collection(h->session, &b, &a, true, &error), FERRET_OK, &error,
                 "rename with drop_target");
   assert_int_equal(count_docs(h, &b), 0);
   assert_int_equal(count_docs(h, &a), 1);
   cap.calls = 0;
   h->m->collection_options(h->session, &a, capture_bson, &cap, &error);
   assert_int_equal(cap.calls, 0); /* the target's options went with it */
   list_collections(h, db, &listed);
   assert_int_equal(listed.count, 1);
   assert_true(names_has(&listed, "a"));
   names_free(&listed);

   /* Across databases, with order and options kept. */
   make_doc(&docs[1], 2, "c2");
   make_doc(&docs[2], 3, "c3");
   expect_status(
      h->m->create_collection(h->session, &c, bson_get_data(options), options->len, &error),
      FERRET_OK, &error, "create c");
   insert_docs(h, &c, docs, 3);
   expect_status(h->m->rename_collection(h->session, &c, &other, false, &error), FERRET_OK, &error,
                 "rename across databases");
   assert_int_equal(count_docs(h, &c), 0);
   {
      result_t r;
      scan(h, &other, &r);
      assert_int_equal(r.count, 3);
      for (int i = 0; i < 3; i++) {
         assert_true(result_has(&r, bson_get_data(docs[i].bson), docs[i].bson->len));
      }
      result_free(&r);
   }
   cap.calls = 0;
   expect_status(h->m->collection_options(h->session, &other, capture_bson, &cap, &error),
                 FERRET_OK, &error, "options after rename");
   assert_int_equal(cap.calls, 1);
   assert_memory_equal(cap.bson, bson_get_data(options), options->len);
   /* Across databases onto an existing target. */
   expect_status(h->m->rename_collection(h->session, &a, &other, false, &error),
                 FERRET_ERR_NAMESPACE_EXISTS, &error, "rename across onto existing");
   memset(&error, 0, sizeof error);

   /* drop, list, drop_database, reuse of the name. */
   expect_status(h->m->drop_collection(h->session, &a, &error), FERRET_OK, &error, "drop");
   expect_status(h->m->drop_collection(h->session, &a, &error), FERRET_ERR_NAMESPACE_NOT_FOUND,
                 &error, "drop twice");
   memset(&error, 0, sizeof error);
   {
      names_t dbs;
      list_databases(h, &dbs);
      assert_false(names_has(&dbs, db)); /* no collection left */
      assert_true(names_has(&dbs, db2));
      names_free(&dbs);
   }
   drop_db(h, db2);
   {
      names_t dbs;
      list_databases(h, &dbs);
      assert_false(names_has(&dbs, db2));
      names_free(&dbs);
   }
   assert_int_equal(count_docs(h, &other), 0);
   insert_docs(h, &other, &docs[0], 1);
   assert_int_equal(count_docs(h, &other), 1);
   drop_db(h, db2);
   drop_db(h, db);

   for (int i = 0; i < 3; i++) {
      doc_free(&docs[i]);
   }
   free(cap.bson);
   bson_destroy(options);
}

/* Every valid canonical_bson of the spec corpus is stored and read back byte for byte. */
static void
test_bson_corpus(void **state)
{
   harness_t *h = H(state);
   const char *spec = getenv("FERRET_SPEC_DIR") ? getenv("FERRET_SPEC_DIR") : CONFORMANCE_SPEC_DIR;
   char dir_path[1024];
   char db[64];
   ferret_ns_t ns;
   DIR *dir;
   struct dirent *de;
   size_t total = 0;

   db_name(h, "corpus", db, sizeof db);
   ns = (ferret_ns_t){db, "corpus"};
   snprintf(dir_path, sizeof dir_path, "%s/bson-corpus", spec);
   dir = opendir(dir_path);
   if (!dir) {
      fail_msg("cannot open %s (set FERRET_SPEC_DIR)", dir_path);
   }
   while ((de = readdir(dir)) != NULL) {
      char path[2048];
      bson_error_t berr;
      bson_json_reader_t *reader;
      bson_t file = BSON_INITIALIZER;
      bson_iter_t iter, valid, item, field;
      size_t nlen = strlen(de->d_name);

      if (nlen < 5 || strcmp(de->d_name + nlen - 5, ".json") != 0) {
         continue;
      }
      snprintf(path, sizeof path, "%s/%s", dir_path, de->d_name);
      reader = bson_json_reader_new_from_file(path, &berr);
      assert_non_null(reader);
      assert_int_equal(bson_json_reader_read(reader, &file, &berr), 1);
      bson_json_reader_destroy(reader);
      if (!bson_iter_init_find(&iter, &file, "valid") || !BSON_ITER_HOLDS_ARRAY(&iter)) {
         bson_destroy(&file);
         continue;
      }
      bson_iter_recurse(&iter, &valid);
      while (bson_iter_next(&valid)) {
         const char *hex;
         size_t hex_len, len;
         uint8_t *bytes;
         char key[300];
         ferret_doc_t f;
         ferret_error_t error = {0};
         size_t inserted = 0;
         result_t r;
         ferret_term_t term = {0};
         ferret_query_t q = {.struct_size = sizeof q};
         bson_t *value;

         bson_iter_recurse(&valid, &item);
         if (!bson_iter_find(&item, "canonical_bson")) {
            continue;
         }
         hex = bson_iter_utf8(&item, NULL);
         hex_len = strlen(hex);
         len = hex_len / 2;
         bytes = malloc(len);
         for (size_t i = 0; i < len; i++) {
            unsigned v;
            sscanf(hex + 2 * i, "%2x", &v);
            bytes[i] = (uint8_t) v;
         }
         /* Backends never interpret the key: any unique bytes do. */
         snprintf(key, sizeof key, "%s#%zu", de->d_name, total);
         f = (ferret_doc_t){bytes, len, (const uint8_t *) key, strlen(key)};
         expect_status(h->m->insert(h->session, &ns, &f, 1, &inserted, &error), FERRET_OK, &error,
                       de->d_name);
         assert_int_equal(inserted, 1);

         /* Read back through an _id term: pushed down or not, the document must be there. */
         value = bson_new();
         bson_append_utf8(value, "", 0, key, -1);
         term = (ferret_term_t){"_id",      FERRET_OP_EQ,          bson_get_data(value),
                                value->len, (const uint8_t *) key, strlen(key),
                                false};
         q.terms = &term;
         q.term_count = 1;
         expect_status(run_query(h, h->session, &ns, &q, &r, &error), FERRET_OK, &error,
                       "query corpus");
         if (term.applied) {
            assert_int_equal(r.count, 1);
         }
         if (!result_has(&r, bytes, len)) {
            fail_msg("%s: document %s not read back byte for byte", de->d_name, hex);
         }
         (void) field;
         result_free(&r);
         bson_destroy(value);
         free(bytes);
         total++;
      }
      bson_destroy(&file);
   }
   closedir(dir);
   assert_true(total > 100);
   assert_int_equal(count_docs(h, &ns), (int64_t) total);
   drop_db(h, db);
}

static void
test_large_document(void **state)
{
   harness_t *h = H(state);
   char db[64];
   ferret_ns_t ns;
   const size_t target = 16 * 1024 * 1024;
   bson_t *big = bson_new();
   uint8_t *payload;
   size_t payload_len;
   bson_iter_t iter;
   uint8_t *key;
   size_t key_len;
   ferret_doc_t f;
   ferret_error_t error = {0};
   size_t inserted = 0;
   result_t r;

   db_name(h, "large", db, sizeof db);
   ns = (ferret_ns_t){db, "big"};
   BSON_APPEND_INT32(big, "_id", 16);
   /* header 4 + _id element 9 + binary element (1 + 2 + 4 + 1 + payload) + trailing 1 */
   payload_len = target - 4 - 9 - 8 - 1;
   payload = malloc(payload_len);
   for (size_t i = 0; i < payload_len; i++) {
      payload[i] = (uint8_t) (i * 2654435761u >> 13);
   }
   bson_append_binary(big, "b", 1, BSON_SUBTYPE_BINARY, payload, (uint32_t) payload_len);
   assert_int_equal(big->len, target);
   assert_true(bson_iter_init_find(&iter, big, "_id"));
   assert_true(idkey_encode(&iter, &key, &key_len));
   f = (ferret_doc_t){bson_get_data(big), big->len, key, key_len};
   expect_status(h->m->insert(h->session, &ns, &f, 1, &inserted, &error), FERRET_OK, &error,
                 "insert 16 MiB");
   assert_int_equal(inserted, 1);
   scan(h, &ns, &r);
   assert_int_equal(r.count, 1);
   assert_int_equal(r.lens[0], target);
   assert_memory_equal(r.docs[0], bson_get_data(big), target);
   result_free(&r);
   drop_db(h, db);
   bson_free(key);
   free(payload);
   bson_destroy(big);
}

static void
test_duplicate_keys(void **state)
{
   harness_t *h = H(state);
   char db[64];
   ferret_ns_t ns;
   doc_t docs[5];
   ferret_doc_t f[5];
   ferret_error_t error = {0};
   size_t inserted = 99;
   result_t r;

   db_name(h, "dup", db, sizeof db);
   ns = (ferret_ns_t){db, "dup"};
   make_doc(&docs[0], 0, "a");
   make_doc(&docs[1], 1, "b");
   make_doc(&docs[2], 2, "c");
   make_doc(&docs[3], 1, "again"); /* same _id as docs[1], other bytes */
   make_doc(&docs[4], 4, "e");
   for (int i = 0; i < 5; i++) {
      f[i] = as_fdoc(&docs[i]);
   }
   /* The first three are stored, the fourth fails, the fifth is not tried. */
   expect_status(h->m->insert(h->session, &ns, f, 5, &inserted, &error), FERRET_ERR_DUPLICATE_KEY,
                 &error, "insert with duplicate");
   assert_int_equal(inserted, 3);
   scan(h, &ns, &r);
   assert_int_equal(r.count, 3);
   for (int i = 0; i < 3; i++) {
      assert_true(result_has(&r, bson_get_data(docs[i].bson), docs[i].bson->len));
   }
   assert_false(result_has(&r, bson_get_data(docs[3].bson), docs[3].bson->len));
   result_free(&r);

   /* A duplicate of a stored document at index 0 stores nothing. */
   memset(&error, 0, sizeof error);
   inserted = 99;
   expect_status(h->m->insert(h->session, &ns, &f[3], 2, &inserted, &error),
                 FERRET_ERR_DUPLICATE_KEY, &error, "insert duplicate first");
   assert_int_equal(inserted, 0);
   assert_int_equal(count_docs(h, &ns), 3);

   /* What was stored is durable: a new session (a fresh connection) sees it. */
   {
      ferret_session_t *other;
      result_t r2;
      ferret_query_t q = {.struct_size = sizeof q};
      CHECK_OK(h->m->session_open(h->backend, &other, &err_));
      expect_status(run_query(h, other, &ns, &q, &r2, &error), FERRET_OK, &error, "query");
      assert_int_equal(r2.count, 3);
      result_free(&r2);
      h->m->session_close(other);
   }
   for (int i = 0; i < 5; i++) {
      doc_free(&docs[i]);
   }
   drop_db(h, db);
}

static void
test_compare_and_swap(void **state)
{
   harness_t *h = H(state);
   char db[64];
   ferret_ns_t ns, missing;
   doc_t v1, v2, v3, other;
   ferret_doc_t f;
   ferret_error_t error = {0};
   bool done = true;
   result_t r;

   db_name(h, "cas", db, sizeof db);
   ns = (ferret_ns_t){db, "cas"};
   missing = (ferret_ns_t){db, "nothing"};
   make_doc(&v1, 7, "v1");
   make_doc(&v2, 7, "v2");
   make_doc(&v3, 7, "v3 is longer");
   make_doc(&other, 8, "other");
   insert_docs(h, &ns, &v1, 1);
   insert_docs(h, &ns, &other, 1);

   f = as_fdoc(&v2);
   expect_status(
      h->m->replace(h->session, &ns, bson_get_data(v1.bson), v1.bson->len, &f, &done, &error),
      FERRET_OK, &error, "replace");
   assert_true(done);
   /* Stale expected bytes: not replaced, the stored document stays v2. */
   f = as_fdoc(&v3);
   expect_status(
      h->m->replace(h->session, &ns, bson_get_data(v1.bson), v1.bson->len, &f, &done, &error),
      FERRET_OK, &error, "stale replace");
   assert_false(done);
   scan(h, &ns, &r);
   assert_int_equal(r.count, 2);
   assert_true(result_has(&r, bson_get_data(v2.bson), v2.bson->len));
   assert_false(result_has(&r, bson_get_data(v3.bson), v3.bson->len));
   assert_true(result_has(&r, bson_get_data(other.bson), other.bson->len));
   result_free(&r);
   /* A missing document or collection is not an error. */
   {
      doc_t absent;
      make_doc(&absent, 99, "absent");
      f = as_fdoc(&absent);
      done = true;
      expect_status(h->m->replace(h->session, &ns, bson_get_data(absent.bson), absent.bson->len, &f,
                                  &done, &error),
                    FERRET_OK, &error, "replace missing document");
      assert_false(done);
      done = true;
      expect_status(h->m->replace(h->session, &missing, bson_get_data(absent.bson),
                                  absent.bson->len, &f, &done, &error),
                    FERRET_OK, &error, "replace in missing collection");
      assert_false(done);
      assert_int_equal(count_docs(h, &ns), 2);
      doc_free(&absent);
   }

   /* delete_one: stale expected, current expected, NULL expected, missing. */
   expect_status(h->m->delete_one(h->session, &ns, v1.id_key, v1.id_key_len, bson_get_data(v1.bson),
                                  v1.bson->len, &done, &error),
                 FERRET_OK, &error, "stale delete");
   assert_false(done);
   assert_int_equal(count_docs(h, &ns), 2);
   expect_status(h->m->delete_one(h->session, &ns, v2.id_key, v2.id_key_len, bson_get_data(v2.bson),
                                  v2.bson->len, &done, &error),
                 FERRET_OK, &error, "delete");
   assert_true(done);
   assert_int_equal(count_docs(h, &ns), 1);
   expect_status(
      h->m->delete_one(h->session, &ns, other.id_key, other.id_key_len, NULL, 0, &done, &error),
      FERRET_OK, &error, "delete any");
   assert_true(done);
   expect_status(
      h->m->delete_one(h->session, &ns, other.id_key, other.id_key_len, NULL, 0, &done, &error),
      FERRET_OK, &error, "delete missing");
   assert_false(done);
   expect_status(h->m->delete_one(h->session, &missing, other.id_key, other.id_key_len, NULL, 0,
                                  &done, &error),
                 FERRET_OK, &error, "delete in missing collection");
   assert_false(done);
   assert_int_equal(count_docs(h, &ns), 0);

   doc_free(&v1);
   doc_free(&v2);
   doc_free(&v3);
   doc_free(&other);
   drop_db(h, db);
}

static void
test_cursors(void **state)
{
   harness_t *h = H(state);
   char db[64];
   ferret_ns_t ns;
   doc_t docs[100];
   ferret_query_t q1 = {.struct_size = sizeof q1}, q2 = {.struct_size = sizeof q2};
   ferret_cursor_t *c1 = NULL, *c2 = NULL, *c3 = NULL;
   ferret_error_t error = {0};
   const uint8_t *bson;
   size_t len, seen1 = 0, seen2 = 0;
   ferret_session_t *writer;

   db_name(h, "cursors", db, sizeof db);
   ns = (ferret_ns_t){db, "c"};
   for (int i = 0; i < 100; i++) {
      make_doc(&docs[i], i, "cursor");
   }
   insert_docs(h, &ns, docs, 100);

   /* Closed before the first next(), and half-read. */
   CHECK_OK(h->m->query(h->session, &ns, &q1, &c1, &err_));
   h->m->cursor_close(c1);
   CHECK_OK(h->m->query(h->session, &ns, &q1, &c1, &err_));
   CHECK_OK(h->m->query(h->session, &ns, &q2, &c2, &err_));
   for (int i = 0; i < 10; i++) {
      expect_status(h->m->cursor_next(c1, &bson, &len, &error), FERRET_OK, &error, "next c1");
      assert_non_null(bson);
      seen1++;
      expect_status(h->m->cursor_next(c2, &bson, &len, &error), FERRET_OK, &error, "next c2");
      assert_non_null(bson);
      seen2++;
   }
   h->m->cursor_close(c1);

   /* Writes while a cursor is open: from this session and from another one, which must neither
    * block nor fail. */
   CHECK_OK(h->m->session_open(h->backend, &writer, &err_));
   for (int round = 0; round < 3; round++) {
      doc_t d;
      ferret_doc_t f;
      size_t inserted = 0;
      make_doc(&d, 1000 + round * 2, "writer");
      f = as_fdoc(&d);
      expect_status(h->m->insert(writer, &ns, &f, 1, &inserted, &error), FERRET_OK, &error,
                    "insert from another session");
      doc_free(&d);
      make_doc(&d, 1001 + round * 2, "self");
      f = as_fdoc(&d);
      expect_status(h->m->insert(h->session, &ns, &f, 1, &inserted, &error), FERRET_OK, &error,
                    "insert with a cursor open");
      doc_free(&d);
      expect_status(h->m->cursor_next(c2, &bson, &len, &error), FERRET_OK, &error, "next c2");
      assert_non_null(bson);
      seen2++;
   }
   /* A cursor on a missing collection is empty. */
   {
      ferret_ns_t none = {db, "none"};
      CHECK_OK(h->m->query(h->session, &none, &q1, &c3, &err_));
      expect_status(h->m->cursor_next(c3, &bson, &len, &error), FERRET_OK, &error, "next empty");
      assert_null(bson);
      h->m->cursor_close(c3);
   }
   for (;;) {
      expect_status(h->m->cursor_next(c2, &bson, &len, &error), FERRET_OK, &error, "next c2");
      if (!bson) {
         break;
      }
      seen2++;
   }
   /* The documents from before it opened, at least; later ones may or may not show. */
   assert_true(seen2 >= 100 && seen2 <= 106);
   /* next() after the end stays at the end. */
   expect_status(h->m->cursor_next(c2, &bson, &len, &error), FERRET_OK, &error, "next at end");
   assert_null(bson);
   h->m->cursor_close(c2);
   assert_int_equal(count_docs(h, &ns), 106);
   (void) seen1;

   /* A cursor still open when its collection is dropped by another session. */
   CHECK_OK(h->m->query(h->session, &ns, &q1, &c1, &err_));
   expect_status(h->m->cursor_next(c1, &bson, &len, &error), FERRET_OK, &error, "next");
   expect_status(h->m->drop_collection(writer, &ns, &error), FERRET_OK, &error,
                 "drop under a cursor");
   h->m->cursor_close(c1);
   assert_int_equal(count_docs(h, &ns), 0);
   h->m->session_close(writer);

   for (int i = 0; i < 100; i++) {
      doc_free(&docs[i]);
   }
   drop_db(h, db);
}

static void
test_pushdown(void **state)
{
   harness_t *h = H(state);
   char db[64];
   ferret_ns_t ns;
   doc_t docs[10];
   ferret_error_t error = {0};
   bson_t *v5 = BCON_NEW("", BCON_INT32(5));
   bson_t *vtag = BCON_NEW("", "p");
   result_t r;

   db_name(h, "pushdown", db, sizeof db);
   ns = (ferret_ns_t){db, "p"};
   for (int i = 0; i < 10; i++) {
      make_doc(&docs[i], i, "p");
   }
   insert_docs(h, &ns, docs, 10);

   /* _id equality: applied means exactly the one document. */
   {
      ferret_term_t terms[2] = {
         {"tag", FERRET_OP_EQ, bson_get_data(vtag), vtag->len, NULL, 0, false},
         {"_id", FERRET_OP_EQ, bson_get_data(v5), v5->len, docs[5].id_key, docs[5].id_key_len,
          false},
      };
      ferret_query_t q = {.struct_size = sizeof q, .terms = terms, .term_count = 2};
      expect_status(run_query(h, h->session, &ns, &q, &r, &error), FERRET_OK, &error, "query _id");
      assert_true(result_has(&r, bson_get_data(docs[5].bson), docs[5].bson->len));
      if (terms[1].applied) {
         assert_int_equal(r.count, 1);
      }
      if (h->caps & FERRET_CAP_FILTER_PUSHDOWN) {
         print_message("filter pushdown: _id term %s\n",
                       terms[1].applied ? "applied" : "not applied");
      } else {
         assert_false(terms[0].applied || terms[1].applied);
      }
      /* Skip and limit were not offered. */
      assert_false(q.skip_limit_applied);
      result_free(&r);
   }
   /* A missing _id with the term applied finds nothing. */
   {
      doc_t absent;
      ferret_term_t term;
      ferret_query_t q = {.struct_size = sizeof q};
      make_doc(&absent, 77, "p");
      term = (ferret_term_t){
         "_id", FERRET_OP_EQ, bson_get_data(v5), v5->len, absent.id_key, absent.id_key_len, false};
      q.terms = &term;
      q.term_count = 1;
      expect_status(run_query(h, h->session, &ns, &q, &r, &error), FERRET_OK, &error, "query");
      if (term.applied) {
         assert_int_equal(r.count, 0);
      }
      result_free(&r);
      doc_free(&absent);
   }
   /* $natural both ways, with skip and limit. */
   for (int dir = -1; dir <= 1; dir += 2) {
      ferret_sort_key_t sort = {"$natural", dir};
      ferret_query_t q = {.struct_size = sizeof q, .sort = &sort, .sort_count = 1};
      expect_status(run_query(h, h->session, &ns, &q, &r, &error), FERRET_OK, &error,
                    "query $natural");
      assert_int_equal(r.count, 10);
      if (q.sort_applied) {
         for (int i = 0; i < 10; i++) {
            const doc_t *want = &docs[dir > 0 ? i : 9 - i];
            assert_int_equal(r.lens[i], want->bson->len);
            assert_memory_equal(r.docs[i], bson_get_data(want->bson), r.lens[i]);
         }
      }
      result_free(&r);

      q = (ferret_query_t){
         .struct_size = sizeof q, .sort = &sort, .sort_count = 1, .skip = 2, .limit = 3};
      expect_status(run_query(h, h->session, &ns, &q, &r, &error), FERRET_OK, &error,
                    "query skip/limit");
      if (q.skip_limit_applied) {
         assert_true(q.sort_applied);
         assert_int_equal(r.count, 3);
         for (int i = 0; i < 3; i++) {
            const doc_t *want = &docs[dir > 0 ? 2 + i : 7 - i];
            assert_memory_equal(r.docs[i], bson_get_data(want->bson), want->bson->len);
         }
      } else {
         assert_int_equal(r.count, 10);
      }
      result_free(&r);
   }
   /* An unknown sort is never claimed. */
   {
      ferret_sort_key_t sort = {"tag", 1};
      ferret_query_t q = {.struct_size = sizeof q, .sort = &sort, .sort_count = 1};
      expect_status(run_query(h, h->session, &ns, &q, &r, &error), FERRET_OK, &error, "query");
      assert_int_equal(r.count, 10);
      result_free(&r);
   }

   if (h->caps & FERRET_CAP_EXPLAIN) {
      ferret_term_t term = {"_id",   FERRET_OP_EQ,   bson_get_data(v5),
                            v5->len, docs[5].id_key, docs[5].id_key_len,
                            false};
      ferret_term_t term2 = term;
      ferret_query_t q = {.struct_size = sizeof q, .terms = &term, .term_count = 1};
      ferret_query_t q2 = {.struct_size = sizeof q2, .terms = &term2, .term_count = 1};
      captured_t cap = {0};
      bson_t explained;
      expect_status(h->m->explain(h->session, &ns, &q, capture_bson, &cap, &error), FERRET_OK,
                    &error, "explain");
      assert_int_equal(cap.calls, 1);
      assert_true(bson_init_static(&explained, cap.bson, cap.len));
      assert_true(bson_validate(&explained, BSON_VALIDATE_NONE, NULL));
      /* explain fills the outputs exactly as query would. */
      expect_status(run_query(h, h->session, &ns, &q2, &r, &error), FERRET_OK, &error, "query");
      assert_int_equal(term.applied, term2.applied);
      assert_int_equal(q.sort_applied, q2.sort_applied);
      assert_int_equal(q.skip_limit_applied, q2.skip_limit_applied);
      result_free(&r);
      free(cap.bson);
   }

   for (int i = 0; i < 10; i++) {
      doc_free(&docs[i]);
   }
   bson_destroy(v5);
   bson_destroy(vtag);
   drop_db(h, db);
}

typedef struct worker {
   harness_t *h;
   const ferret_ns_t *ns;
   int index;
   int failures;
   char failure[FERRET_ERROR_MESSAGE_SIZE + 64];
} worker_t;

static void
worker_fail(worker_t *w, const char *what, ferret_status_t status, const ferret_error_t *error)
{
   if (!w->failures++) {
      snprintf(w->failure, sizeof w->failure, "%s: status %d: %s", what, (int) status,
               error->message);
   }
}

/* One session per thread: batches of inserts, each followed by reads of what it wrote. */
static void *
worker_run(void *arg)
{
   worker_t *w = arg;
   harness_t *h = w->h;
   ferret_session_t *session = NULL;
   ferret_error_t error = {0};
   ferret_status_t status;

   status = h->m->session_open(h->backend, &session, &error);
   if (status != FERRET_OK) {
      worker_fail(w, "session_open", status, &error);
      return NULL;
   }
   for (int b = 0; b < THREAD_BATCHES; b++) {
      doc_t docs[THREAD_BATCH];
      ferret_doc_t f[THREAD_BATCH];
      size_t inserted = 0;
      for (int i = 0; i < THREAD_BATCH; i++) {
         make_doc(&docs[i], w->index * 100000 + b * THREAD_BATCH + i, "thread");
         f[i] = as_fdoc(&docs[i]);
      }
      status = h->m->insert(session, w->ns, f, THREAD_BATCH, &inserted, &error);
      if (status != FERRET_OK || inserted != THREAD_BATCH) {
         worker_fail(w, "insert", status, &error);
      }
      /* Read one back by _id, and scan now and then. */
      {
         bson_t *v = BCON_NEW("", BCON_INT32(0));
         ferret_term_t term = {"_id",
                               FERRET_OP_EQ,
                               bson_get_data(v),
                               v->len,
                               docs[THREAD_BATCH - 1].id_key,
                               docs[THREAD_BATCH - 1].id_key_len,
                               false};
         ferret_query_t q = {.struct_size = sizeof q, .terms = &term, .term_count = 1};
         result_t r;
         status = run_query(h, session, w->ns, &q, &r, &error);
         if (status != FERRET_OK) {
            worker_fail(w, "query", status, &error);
         } else if (!result_has(&r, bson_get_data(docs[THREAD_BATCH - 1].bson),
                                docs[THREAD_BATCH - 1].bson->len)) {
            worker_fail(w, "read back", FERRET_OK, &error);
         }
         result_free(&r);
         bson_destroy(v);
         if (b % 5 == 4) {
            ferret_query_t all = {.struct_size = sizeof all};
            status = run_query(h, session, w->ns, &all, &r, &error);
            if (status != FERRET_OK) {
               worker_fail(w, "scan", status, &error);
            } else if (r.count < (size_t) (b + 1) * THREAD_BATCH) {
               worker_fail(w, "scan lost rows", FERRET_OK, &error);
            }
            result_free(&r);
         }
      }
      for (int i = 0; i < THREAD_BATCH; i++) {
         doc_free(&docs[i]);
      }
   }
   h->m->session_close(session);
   return NULL;
}

static void
test_threads(void **state)
{
   harness_t *h = H(state);
   char db[64];
   ferret_ns_t ns;
   pthread_t threads[THREADS];
   worker_t workers[THREADS];
   result_t r;

   db_name(h, "threads", db, sizeof db);
   ns = (ferret_ns_t){db, "shared"};
   for (int i = 0; i < THREADS; i++) {
      workers[i] = (worker_t){.h = h, .ns = &ns, .index = i};
      assert_int_equal(pthread_create(&threads[i], NULL, worker_run, &workers[i]), 0);
   }
   for (int i = 0; i < THREADS; i++) {
      pthread_join(threads[i], NULL);
   }
   for (int i = 0; i < THREADS; i++) {
      if (workers[i].failures) {
         fail_msg("thread %d: %d failures, first: %s", i, workers[i].failures, workers[i].failure);
      }
   }
   /* No lost rows: every thread's every document, once. */
   scan(h, &ns, &r);
   assert_int_equal(r.count, THREADS * THREAD_BATCHES * THREAD_BATCH);
   for (int t = 0; t < THREADS; t++) {
      for (int i = 0; i < THREAD_BATCHES * THREAD_BATCH; i += 37) {
         doc_t d;
         make_doc(&d, t * 100000 + i, "thread");
         assert_true(result_has(&r, bson_get_data(d.bson), d.bson->len));
         doc_free(&d);
      }
   }
   result_free(&r);
   drop_db(h, db);
}

/* A database dropped while another session has it open: that session's later writes land in
 * the new database that everyone sees, never in a vanished file. */
static void
test_drop_database_shared(void **state)
{
   harness_t *h = H(state);
   char db[64];
   ferret_ns_t ns;
   ferret_session_t *other;
   ferret_error_t error = {0};
   ferret_cursor_t *cursor = NULL;
   ferret_query_t q = {.struct_size = sizeof q};
   const uint8_t *bson;
   size_t len;
   doc_t docs[3];
   names_t dbs;

   db_name(h, "shared_drop", db, sizeof db);
   ns = (ferret_ns_t){db, "c"};
   for (int i = 0; i < 3; i++) {
      make_doc(&docs[i], i, "shared");
   }
   CHECK_OK(h->m->session_open(h->backend, &other, &err_));
   insert_docs(h, &ns, &docs[0], 1);
   /* The other session reads (and so opens the database) and keeps a cursor open. */
   CHECK_OK(h->m->query(other, &ns, &q, &cursor, &err_));
   expect_status(h->m->cursor_next(cursor, &bson, &len, &error), FERRET_OK, &error, "next");
   assert_non_null(bson);

   drop_db(h, db);
   list_databases(h, &dbs);
   assert_false(names_has(&dbs, db));
   names_free(&dbs);
   assert_int_equal(count_docs(h, &ns), 0);
   h->m->cursor_close(cursor);

   /* Writes from the session that had it open are seen by the dropping one, and vice versa. */
   {
      ferret_doc_t f = as_fdoc(&docs[1]);
      size_t inserted = 0;
      result_t r;
      expect_status(h->m->insert(other, &ns, &f, 1, &inserted, &error), FERRET_OK, &error,
                    "insert after drop");
      assert_int_equal(inserted, 1);
      insert_docs(h, &ns, &docs[2], 1);
      scan(h, &ns, &r);
      assert_int_equal(r.count, 2);
      assert_false(result_has(&r, bson_get_data(docs[0].bson), docs[0].bson->len));
      result_free(&r);
      expect_status(run_query(h, other, &ns, &q, &r, &error), FERRET_OK, &error, "query");
      assert_int_equal(r.count, 2);
      result_free(&r);
   }
   /* Dropped again with both sessions' connections open, then both close. */
   drop_db(h, db);
   h->m->session_close(other);
   list_databases(h, &dbs);
   assert_false(names_has(&dbs, db));
   names_free(&dbs);
   assert_int_equal(count_docs(h, &ns), 0);
   for (int i = 0; i < 3; i++) {
      doc_free(&docs[i]);
   }
}

typedef struct incrementer {
   harness_t *h;
   const ferret_ns_t *ns;
   const doc_t *seed;
   int done;
   int failures;
   char failure[FERRET_ERROR_MESSAGE_SIZE + 64];
} incrementer_t;

/* Read-modify-write of one counter with replace() as compare-and-swap, retried on a lost race:
 * what the core does for an update. */
static void *
incrementer_run(void *arg)
{
   incrementer_t *w = arg;
   harness_t *h = w->h;
   ferret_session_t *session = NULL;
   ferret_error_t error = {0};

   if (h->m->session_open(h->backend, &session, &error) != FERRET_OK) {
      w->failures++;
      return NULL;
   }
   while (w->done < CAS_INCREMENTS) {
      bson_t *v = BCON_NEW("", BCON_INT32(0));
      ferret_term_t term = {"_id",  FERRET_OP_EQ,    bson_get_data(v),
                            v->len, w->seed->id_key, w->seed->id_key_len,
                            false};
      ferret_query_t q = {.struct_size = sizeof q, .terms = &term, .term_count = 1};
      result_t r;
      ferret_status_t status = run_query(h, session, w->ns, &q, &r, &error);
      bson_destroy(v);
      if (status != FERRET_OK || r.count != 1) {
         if (!w->failures++) {
            snprintf(w->failure, sizeof w->failure, "read: status %d, %zu docs: %s", (int) status,
                     r.count, error.message);
         }
         result_free(&r);
         break;
      }
      {
         bson_t old, *next = bson_new();
         bson_iter_t it;
         ferret_doc_t f;
         bool replaced = false;
         bson_init_static(&old, r.docs[0], r.lens[0]);
         bson_iter_init_find(&it, &old, "n");
         BSON_APPEND_INT32(next, "_id", 0);
         BSON_APPEND_INT32(next, "n", bson_iter_int32(&it) + 1);
         f = (ferret_doc_t){bson_get_data(next), next->len, w->seed->id_key, w->seed->id_key_len};
         status = h->m->replace(session, w->ns, r.docs[0], r.lens[0], &f, &replaced, &error);
         if (status != FERRET_OK) {
            if (!w->failures++) {
               snprintf(w->failure, sizeof w->failure, "replace: status %d: %s", (int) status,
                        error.message);
            }
         } else if (replaced) {
            w->done++;
         }
         bson_destroy(next);
      }
      result_free(&r);
   }
   h->m->session_close(session);
   return NULL;
}

static void
test_concurrent_compare_and_swap(void **state)
{
   harness_t *h = H(state);
   char db[64];
   ferret_ns_t ns;
   doc_t seed;
   pthread_t threads[THREADS];
   incrementer_t workers[THREADS];
   bson_iter_t it;
   bson_t stored;
   result_t r;

   db_name(h, "cas_race", db, sizeof db);
   ns = (ferret_ns_t){db, "counter"};
   seed.bson = BCON_NEW("_id", BCON_INT32(0), "n", BCON_INT32(0));
   assert_true(bson_iter_init_find(&it, seed.bson, "_id"));
   assert_true(idkey_encode(&it, &seed.id_key, &seed.id_key_len));
   insert_docs(h, &ns, &seed, 1);
   for (int i = 0; i < THREADS; i++) {
      workers[i] = (incrementer_t){.h = h, .ns = &ns, .seed = &seed};
      assert_int_equal(pthread_create(&threads[i], NULL, incrementer_run, &workers[i]), 0);
   }
   for (int i = 0; i < THREADS; i++) {
      pthread_join(threads[i], NULL);
   }
   for (int i = 0; i < THREADS; i++) {
      if (workers[i].failures) {
         fail_msg("thread %d: %s", i, workers[i].failure);
      }
   }
   /* No increment lost: the counter is the number of successful swaps. */
   scan(h, &ns, &r);
   assert_int_equal(r.count, 1);
   assert_true(bson_init_static(&stored, r.docs[0], r.lens[0]));
   assert_true(bson_iter_init_find(&it, &stored, "n"));
   assert_int_equal(bson_iter_int32(&it), THREADS * CAS_INCREMENTS);
   result_free(&r);
   doc_free(&seed);
   drop_db(h, db);
}

static void
test_transactions(void **state)
{
   harness_t *h = H(state);
   char db[64];
   ferret_ns_t ns;
   doc_t docs[3];
   ferret_error_t error = {0};
   ferret_session_t *other;
   result_t r;
   ferret_query_t q = {.struct_size = sizeof q};

   if (!(h->caps & FERRET_CAP_TRANSACTIONS)) {
      skip();
   }
   db_name(h, "txn", db, sizeof db);
   ns = (ferret_ns_t){db, "t"};
   for (int i = 0; i < 3; i++) {
      make_doc(&docs[i], i, "txn");
   }
   insert_docs(h, &ns, &docs[0], 1);
   CHECK_OK(h->m->session_open(h->backend, &other, &err_));

   /* Aborted: nothing stays. Inside, the session reads its own writes. */
   expect_status(h->m->begin(h->session, &error), FERRET_OK, &error, "begin");
   insert_docs(h, &ns, &docs[1], 2);
   assert_int_equal(count_docs(h, &ns), 3);
   h->m->abort(h->session);
   assert_int_equal(count_docs(h, &ns), 1);

   /* Committed: everything stays; before commit another session does not see it. */
   expect_status(h->m->begin(h->session, &error), FERRET_OK, &error, "begin");
   insert_docs(h, &ns, &docs[1], 1);
   {
      bool done = false;
      ferret_doc_t f = as_fdoc(&docs[2]);
      /* replace inside the transaction: docs[0] becomes docs[2]'s bytes under docs[0]'s key. */
      f.id_key = docs[0].id_key;
      f.id_key_len = docs[0].id_key_len;
      expect_status(h->m->replace(h->session, &ns, bson_get_data(docs[0].bson), docs[0].bson->len,
                                  &f, &done, &error),
                    FERRET_OK, &error, "replace in transaction");
      assert_true(done);
   }
   expect_status(run_query(h, other, &ns, &q, &r, &error), FERRET_OK, &error, "other query");
   assert_int_equal(r.count, 1);
   assert_true(result_has(&r, bson_get_data(docs[0].bson), docs[0].bson->len));
   result_free(&r);
   expect_status(h->m->commit(h->session, &error), FERRET_OK, &error, "commit");
   expect_status(run_query(h, other, &ns, &q, &r, &error), FERRET_OK, &error, "other query");
   assert_int_equal(r.count, 2);
   assert_true(result_has(&r, bson_get_data(docs[1].bson), docs[1].bson->len));
   assert_true(result_has(&r, bson_get_data(docs[2].bson), docs[2].bson->len));
   result_free(&r);

   /* A duplicate inside a transaction keeps the prefix in the transaction. */
   expect_status(h->m->begin(h->session, &error), FERRET_OK, &error, "begin");
   {
      doc_t d;
      ferret_doc_t f[2];
      size_t inserted = 99;
      make_doc(&d, 50, "txn");
      f[0] = as_fdoc(&d);
      f[1] = as_fdoc(&docs[1]);
      expect_status(h->m->insert(h->session, &ns, f, 2, &inserted, &error),
                    FERRET_ERR_DUPLICATE_KEY, &error, "duplicate in transaction");
      memset(&error, 0, sizeof error);
      assert_int_equal(inserted, 1);
      expect_status(h->m->commit(h->session, &error), FERRET_OK, &error, "commit");
      assert_int_equal(count_docs(h, &ns), 3);
      doc_free(&d);
   }

   h->m->session_close(other);
   for (int i = 0; i < 3; i++) {
      doc_free(&docs[i]);
   }
   drop_db(h, db);
}

static void
test_stats(void **state)
{
   harness_t *h = H(state);
   char db[64];
   ferret_ns_t a, b, dbns, missing;
   doc_t docs[20];
   ferret_stats_t st = {.struct_size = sizeof st};
   ferret_error_t error = {0};
   int64_t size_a = 0, size_b = 0;

   db_name(h, "stats", db, sizeof db);
   a = (ferret_ns_t){db, "a"};
   b = (ferret_ns_t){db, "b"};
   dbns = (ferret_ns_t){db, NULL};
   missing = (ferret_ns_t){db, "missing"};
   for (int i = 0; i < 20; i++) {
      make_doc(&docs[i], i, i % 2 ? "odd" : "even and a little longer");
      if (i < 15) {
         size_a += docs[i].bson->len;
      } else {
         size_b += docs[i].bson->len;
      }
   }
   insert_docs(h, &a, docs, 15);
   insert_docs(h, &b, docs + 15, 5);

   expect_status(h->m->stats(h->session, &a, &st, &error), FERRET_OK, &error, "stats");
   assert_int_equal(st.count, 15);
   assert_int_equal(st.data_size, size_a);
   assert_true(st.storage_size > 0);
   assert_true(st.index_count >= 1);

   st = (ferret_stats_t){.struct_size = sizeof st};
   expect_status(h->m->stats(h->session, &dbns, &st, &error), FERRET_OK, &error, "db stats");
   assert_int_equal(st.count, 20);
   assert_int_equal(st.data_size, size_a + size_b);
   assert_int_equal(st.collections, 2);
   assert_true(st.storage_size >= st.data_size);

   st = (ferret_stats_t){.struct_size = sizeof st, .count = 5};
   expect_status(h->m->stats(h->session, &missing, &st, &error), FERRET_OK, &error,
                 "missing stats");
   assert_int_equal(st.count, 0);
   assert_int_equal(st.data_size, 0);
   {
      char gone[64];
      ferret_ns_t g;
      db_name(h, "stats_nothing", gone, sizeof gone);
      g = (ferret_ns_t){gone, NULL};
      st = (ferret_stats_t){.struct_size = sizeof st, .collections = 3};
      expect_status(h->m->stats(h->session, &g, &st, &error), FERRET_OK, &error,
                    "missing db stats");
      assert_int_equal(st.collections, 0);
      assert_int_equal(st.count, 0);
   }
   for (int i = 0; i < 20; i++) {
      doc_free(&docs[i]);
   }
   drop_db(h, db);
}

/* ---- main ---- */

static void
usage(void)
{
   fprintf(stderr, "usage: conformance PLUGIN.so [key=value ...]\n"
                   "   (or FERRET_BACKEND=PLUGIN.so, FERRET_BACKEND_CONFIG=\"key=value ...\")\n");
}

static bool
add_config(char *arg)
{
   char *eq = strchr(arg, '=');
   if (!eq || eq == arg || config_count == MAX_CONFIG) {
      fprintf(stderr, "conformance: bad config item '%s'\n", arg);
      return false;
   }
   *eq = '\0';
   config_items[config_count] =
      (ferret_config_item_t){arg, eq + 1, "conformance arguments", (uint32_t) config_count + 1};
   config_count++;
   return true;
}

int
main(int argc, char **argv)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_descriptor),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_catalog_statuses),
      cmocka_unit_test(test_bson_corpus),
      cmocka_unit_test(test_large_document),
      cmocka_unit_test(test_duplicate_keys),
      cmocka_unit_test(test_compare_and_swap),
      cmocka_unit_test(test_cursors),
      cmocka_unit_test(test_pushdown),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_drop_database_shared),
      cmocka_unit_test(test_concurrent_compare_and_swap),
      cmocka_unit_test(test_transactions),
      cmocka_unit_test(test_stats),
   };
   char *env_config =
      getenv("FERRET_BACKEND_CONFIG") ? strdup(getenv("FERRET_BACKEND_CONFIG")) : NULL;
   int first = 1;
   int rc;

   plugin_path = getenv("FERRET_BACKEND");
   if (argc > 1 && !strchr(argv[1], '=')) {
      plugin_path = argv[1];
      first = 2;
   }
   if (!plugin_path) {
      usage();
      return 2;
   }
   if (env_config) {
      for (char *save = NULL, *tok = strtok_r(env_config, " ", &save); tok;
           tok = strtok_r(NULL, " ", &save)) {
         if (!add_config(tok)) {
            return 2;
         }
      }
   }
   for (int i = first; i < argc; i++) {
      if (!add_config(argv[i])) {
         return 2;
      }
   }
   rc = cmocka_run_group_tests_name("conformance", tests, group_setup, group_teardown);
   free(env_config);
   return rc;
}
