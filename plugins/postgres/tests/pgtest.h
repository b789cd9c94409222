/*
 * pgtest.h: what the PostgreSQL backend's own tests share: loading postgres.so the way the
 * core does (dlopen + ferret_backend_entry), small hand-made BSON documents (the plugin and
 * its tests do not use libbson), and CHECK macros that count failures.
 *
 * The tests need a server: FERRET_PG_CONNINFO (a libpq conninfo, e.g. the output of
 * tests/support/pg_cluster.sh start DIR). Without it they exit 77, which meson reports as
 * skipped.
 */
#ifndef PGTEST_H
#define PGTEST_H

#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ferret/backend.h>

#define PGTEST_SKIP 77

static int pgtest_failures;

#define CHECK(cond)                                                                                \
   do {                                                                                            \
      if (!(cond)) {                                                                               \
         fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                  \
         pgtest_failures++;                                                                        \
      }                                                                                            \
   } while (0)

/* A call that must return want; prints the backend's message when it does not. */
#define CHECK_STATUS(call, want)                                                                   \
   do {                                                                                            \
      ferret_error_t err_ = {{0}, {0}};                                                            \
      ferret_error_t *error = &err_;                                                               \
      ferret_status_t got_ = (call);                                                               \
      if (got_ != (want)) {                                                                        \
         fprintf(stderr, "%s:%d: %s returned %d, want %d: %s [%s]\n", __FILE__, __LINE__, #call,   \
                 (int) got_, (int) (want), err_.message, err_.native_code);                        \
         pgtest_failures++;                                                                        \
      }                                                                                            \
   } while (0)

static void
pgtest_log(ferret_log_level_t level, const char *backend_name, const char *format, ...)
{
   va_list ap;

   if (level < FERRET_LOG_INFO && getenv("PGTEST_DEBUG") == NULL) {
      return;
   }
   va_start(ap, format);
   fprintf(stderr, "[%s %d] ", backend_name, (int) level);
   vfprintf(stderr, format, ap);
   fputc('\n', stderr);
   va_end(ap);
}

static const ferret_host_t pgtest_host = {
   sizeof(ferret_host_t), FERRET_ABI_MAJOR, FERRET_ABI_MINOR, "test", pgtest_log,
};

/* Loads the plugin at path; exits on failure (nothing else can be tested). */
static const ferret_backend_descriptor_t *
pgtest_load(const char *path)
{
   void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
   ferret_backend_entry_fn entry;
   void *sym;

   if (handle == NULL) {
      fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
      exit(1);
   }
   sym = dlsym(handle, FERRET_BACKEND_ENTRY_SYMBOL);
   if (sym == NULL) {
      fprintf(stderr, "%s has no %s\n", path, FERRET_BACKEND_ENTRY_SYMBOL);
      exit(1);
   }
   /* POSIX guarantees a data pointer from dlsym converts to a function pointer. */
   memcpy(&entry, &sym, sizeof entry);
   return entry(&pgtest_host);
}

/* Opens the backend with conninfo and a schema prefix private to this test run. */
static ferret_status_t
pgtest_open(const ferret_backend_descriptor_t *d, const char *conninfo, const char *prefix,
            ferret_backend_t **out, ferret_error_t *error)
{
   ferret_config_item_t items[2] = {
      {"conninfo", conninfo, "test.conf", 1},
      {"schema_prefix", prefix, "test.conf", 2},
   };
   ferret_config_t config = {sizeof config, items, 2};

   return d->methods->open(&pgtest_host, &config, out, error);
}

/* ---- BSON: {_id: <int32>, v: <string>} is all the tests need ---- */

typedef struct pgtest_doc {
   uint8_t bson[256];
   size_t len;
   uint8_t key[16]; /* stands for the core's id_key: the backend only compares bytes */
   size_t key_len;
} pgtest_doc_t;

static void
pgtest_le32(uint8_t *p, uint32_t v)
{
   p[0] = (uint8_t) v;
   p[1] = (uint8_t) (v >> 8);
   p[2] = (uint8_t) (v >> 16);
   p[3] = (uint8_t) (v >> 24);
}

static uint32_t
pgtest_rd32(const uint8_t *p)
{
   return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void
pgtest_make(pgtest_doc_t *doc, int32_t id, const char *v)
{
   size_t n = 4;
   size_t vlen = strlen(v) + 1;

   doc->bson[n++] = 0x10; /* int32 _id */
   memcpy(doc->bson + n, "_id", 4);
   n += 4;
   pgtest_le32(doc->bson + n, (uint32_t) id);
   n += 4;
   doc->bson[n++] = 0x02; /* string v */
   memcpy(doc->bson + n, "v", 2);
   n += 2;
   pgtest_le32(doc->bson + n, (uint32_t) vlen);
   n += 4;
   memcpy(doc->bson + n, v, vlen);
   n += vlen;
   doc->bson[n++] = 0;
   pgtest_le32(doc->bson, (uint32_t) n);
   doc->len = n;
   doc->key[0] = 'k';
   pgtest_le32(doc->key + 1, (uint32_t) id);
   doc->key_len = 5;
}

/* The _id of a document made by pgtest_make. */
static int32_t
pgtest_id(const uint8_t *bson)
{
   return (int32_t) pgtest_rd32(bson + 9);
}

static ferret_doc_t
pgtest_fdoc(const pgtest_doc_t *doc)
{
   ferret_doc_t d = {doc->bson, doc->len, doc->key, doc->key_len};
   return d;
}

#endif /* PGTEST_H */
