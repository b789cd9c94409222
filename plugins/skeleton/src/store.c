/*
 * store.c: the skeleton backend's in-memory storage (store.h, plugins/skeleton/README.md).
 *
 * Plain data structures, chosen to be read rather than to be fast: singly-linked lists of
 * databases and of collections, searched by name, and per collection a chained hash table on
 * the _id key plus a doubly-linked list in insertion order. The caller holds the backend's
 * lock around every call.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

/* A new collection's buckets; the table doubles whenever it holds more entries than buckets. */
#define STORE_INITIAL_BUCKETS 16

/* ---- helpers ---- */

static uint64_t hash_key(const uint8_t *key, size_t len);
static store_entry_t **bucket_of(const store_coll_t *coll, const uint8_t *key, size_t len);
static bool grow_buckets(store_coll_t *coll);
static void coll_free(store_coll_t *coll);
static void db_unlink(store_t *store, store_db_t *db);
static void db_free(store_db_t *db);
static store_coll_t **coll_slot(store_db_t *db, const char *name);

/* ---- documents ---- */

store_doc_t *
store_doc_new(const ferret_doc_t *doc)
{
   store_doc_t *copy = malloc(sizeof *copy + doc->id_key_len + doc->bson_len);

   if (!copy) {
      return NULL;
   }
   copy->refs = 1;
   memcpy(copy->bytes, doc->id_key, doc->id_key_len);
   memcpy(copy->bytes + doc->id_key_len, doc->bson, doc->bson_len);
   copy->id_key = copy->bytes;
   copy->id_key_len = doc->id_key_len;
   copy->bson = copy->bytes + doc->id_key_len;
   copy->bson_len = doc->bson_len;
   return copy;
}

void
store_doc_ref(store_doc_t *doc)
{
   doc->refs++;
}

void
store_doc_unref(store_doc_t *doc)
{
   if (doc && --doc->refs == 0) {
      free(doc);
   }
}

bool
store_doc_equals(const store_doc_t *doc, const uint8_t *bson, size_t len)
{
   return doc->bson_len == len && memcmp(doc->bson, bson, len) == 0;
}

/* ---- databases and collections ---- */

void
store_init(store_t *store)
{
   store->dbs = NULL;
}

void
store_clear(store_t *store)
{
   while (store->dbs) {
      store_db_t *db = store->dbs;
      store->dbs = db->next;
      db_free(db);
   }
}

store_db_t *
store_db_find(const store_t *store, const char *name)
{
   for (store_db_t *db = store->dbs; db; db = db->next) {
      if (strcmp(db->name, name) == 0) {
         return db;
      }
   }
   return NULL;
}

void
store_db_drop(store_t *store, const char *name)
{
   store_db_t *db = store_db_find(store, name);

   if (db) {
      db_unlink(store, db);
      db_free(db);
   }
}

store_coll_t *
store_coll_find(const store_t *store, const ferret_ns_t *ns)
{
   store_db_t *db = store_db_find(store, ns->db);

   return db ? *coll_slot(db, ns->collection) : NULL;
}

store_coll_t *
store_coll_create(store_t *store, const ferret_ns_t *ns, const uint8_t *options, size_t options_len)
{
   store_db_t *db = store_db_find(store, ns->db);
   store_db_t *new_db = NULL; /* owned until linked into the store */
   store_coll_t *coll = NULL; /* owned until linked into its database */
   store_coll_t *result = NULL;

   coll = calloc(1, sizeof *coll);
   if (!coll) {
      goto done;
   }
   coll->name = strdup(ns->collection);
   coll->bucket_count = STORE_INITIAL_BUCKETS;
   coll->buckets = calloc(coll->bucket_count, sizeof *coll->buckets);
   if (!coll->name || !coll->buckets) {
      goto done;
   }
   if (options) {
      coll->options = malloc(options_len ? options_len : 1);
      if (!coll->options) {
         goto done;
      }
      memcpy(coll->options, options, options_len);
      coll->options_len = options_len;
   }
   if (!db) {
      new_db = calloc(1, sizeof *new_db);
      if (!new_db || !(new_db->name = strdup(ns->db))) {
         goto done;
      }
      db = new_db;
   }

   /* Nothing can fail from here on. */
   coll->next = db->colls;
   db->colls = coll;
   if (new_db) {
      new_db->next = store->dbs;
      store->dbs = new_db;
      new_db = NULL;
   }
   result = coll;
   coll = NULL;

done:
   if (coll) {
      coll_free(coll);
   }
   if (new_db) {
      db_free(new_db);
   }
   return result;
}

bool
store_coll_drop(store_t *store, const ferret_ns_t *ns)
{
   store_db_t *db = store_db_find(store, ns->db);
   store_coll_t **slot;
   store_coll_t *coll;

   if (!db || !*(slot = coll_slot(db, ns->collection))) {
      return false;
   }
   coll = *slot;
   *slot = coll->next;
   coll_free(coll);
   if (!db->colls) {
      db_unlink(store, db);
      db_free(db);
   }
   return true;
}

bool
store_coll_rename(store_t *store, const ferret_ns_t *from, const ferret_ns_t *to)
{
   store_db_t *from_db = store_db_find(store, from->db);
   store_db_t *to_db = store_db_find(store, to->db);
   store_db_t *new_db = NULL; /* owned until linked into the store */
   store_coll_t **slot;
   store_coll_t *coll;
   char *name = NULL; /* owned until given to the collection */
   bool ok = false;

   /* Allocate first, so that running out of memory changes nothing. */
   name = strdup(to->collection);
   if (!name) {
      goto done;
   }
   if (!to_db) {
      new_db = calloc(1, sizeof *new_db);
      if (!new_db || !(new_db->name = strdup(to->db))) {
         goto done;
      }
      to_db = new_db;
   }

   /* The target goes first, but not its database: the collection is about to join it. */
   slot = coll_slot(to_db, to->collection);
   if (*slot) {
      store_coll_t *target = *slot;
      *slot = target->next;
      coll_free(target);
   }
   slot = coll_slot(from_db, from->collection);
   coll = *slot;
   *slot = coll->next;
   free(coll->name);
   coll->name = name;
   name = NULL;
   coll->next = to_db->colls;
   to_db->colls = coll;
   if (new_db) {
      new_db->next = store->dbs;
      store->dbs = new_db;
      new_db = NULL;
   }
   /* Only now may the source database be empty (never when it is also the target). */
   if (!from_db->colls) {
      db_unlink(store, from_db);
      db_free(from_db);
   }
   ok = true;

done:
   free(name);
   if (new_db) {
      db_free(new_db);
   }
   return ok;
}

/* ---- documents in a collection ---- */

store_entry_t *
store_coll_get(const store_coll_t *coll, const uint8_t *id_key, size_t len)
{
   for (store_entry_t *e = *bucket_of(coll, id_key, len); e; e = e->hash_next) {
      if (e->doc->id_key_len == len && memcmp(e->doc->id_key, id_key, len) == 0) {
         return e;
      }
   }
   return NULL;
}

bool
store_coll_add(store_coll_t *coll, store_doc_t *doc)
{
   store_entry_t *entry;
   store_entry_t **bucket;

   /* A failed grow leaves a longer chain, not an error: the table still works. */
   if (coll->count >= coll->bucket_count) {
      (void) grow_buckets(coll);
   }
   entry = calloc(1, sizeof *entry);
   if (!entry) {
      return false;
   }
   entry->doc = doc;
   bucket = bucket_of(coll, doc->id_key, doc->id_key_len);
   entry->hash_next = *bucket;
   *bucket = entry;
   entry->prev = coll->last;
   if (coll->last) {
      coll->last->next = entry;
   } else {
      coll->first = entry;
   }
   coll->last = entry;
   coll->count++;
   coll->data_size += (int64_t) doc->bson_len;
   coll->key_size += (int64_t) doc->id_key_len;
   return true;
}

void
store_coll_set(store_coll_t *coll, store_entry_t *entry, store_doc_t *doc)
{
   coll->data_size += (int64_t) doc->bson_len - (int64_t) entry->doc->bson_len;
   store_doc_unref(entry->doc);
   entry->doc = doc;
}

void
store_coll_remove(store_coll_t *coll, store_entry_t *entry)
{
   store_entry_t **link = bucket_of(coll, entry->doc->id_key, entry->doc->id_key_len);

   while (*link != entry) {
      link = &(*link)->hash_next;
   }
   *link = entry->hash_next;
   if (entry->prev) {
      entry->prev->next = entry->next;
   } else {
      coll->first = entry->next;
   }
   if (entry->next) {
      entry->next->prev = entry->prev;
   } else {
      coll->last = entry->prev;
   }
   coll->count--;
   coll->data_size -= (int64_t) entry->doc->bson_len;
   coll->key_size -= (int64_t) entry->doc->id_key_len;
   store_doc_unref(entry->doc);
   free(entry);
}

void
store_coll_stats(const store_coll_t *coll, ferret_stats_t *out)
{
   int64_t per_doc = (int64_t) (sizeof(store_entry_t) + sizeof(store_doc_t));
   int64_t index_size = (int64_t) (coll->bucket_count * sizeof *coll->buckets) + coll->key_size;

   out->count += (int64_t) coll->count;
   out->data_size += coll->data_size;
   /* Memory rather than disk: the BSON, the keys and the bookkeeping around each document. */
   out->storage_size += coll->data_size + (int64_t) coll->count * per_doc + index_size;
   /* The hash table on _id is the one index. */
   out->index_count += 1;
   out->index_size += index_size;
}

/* ---- helpers ---- */

/* FNV-1a: short, and good enough for keys that are mostly small. */
static uint64_t
hash_key(const uint8_t *key, size_t len)
{
   uint64_t h = UINT64_C(14695981039346656037);

   for (size_t i = 0; i < len; i++) {
      h = (h ^ key[i]) * UINT64_C(1099511628211);
   }
   return h;
}

static store_entry_t **
bucket_of(const store_coll_t *coll, const uint8_t *key, size_t len)
{
   return &coll->buckets[hash_key(key, len) & (coll->bucket_count - 1)];
}

static bool
grow_buckets(store_coll_t *coll)
{
   size_t old_count = coll->bucket_count;
   store_entry_t **old = coll->buckets;

   coll->buckets = calloc(old_count * 2, sizeof *coll->buckets);
   if (!coll->buckets) {
      coll->buckets = old;
      return false;
   }
   coll->bucket_count = old_count * 2;
   for (size_t i = 0; i < old_count; i++) {
      while (old[i]) {
         store_entry_t *e = old[i];
         store_entry_t **bucket = bucket_of(coll, e->doc->id_key, e->doc->id_key_len);
         old[i] = e->hash_next;
         e->hash_next = *bucket;
         *bucket = e;
      }
   }
   free(old);
   return true;
}

static void
coll_free(store_coll_t *coll)
{
   store_entry_t *e = coll->first;

   while (e) {
      store_entry_t *next = e->next;
      store_doc_unref(e->doc);
      free(e);
      e = next;
   }
   free(coll->buckets);
   free(coll->options);
   free(coll->name);
   free(coll);
}

static void
db_unlink(store_t *store, store_db_t *db)
{
   store_db_t **link = &store->dbs;

   while (*link != db) {
      link = &(*link)->next;
   }
   *link = db->next;
}

static void
db_free(store_db_t *db)
{
   while (db->colls) {
      store_coll_t *coll = db->colls;
      db->colls = coll->next;
      coll_free(coll);
   }
   free(db->name);
   free(db);
}

/* The link that points at the collection called name, or the NULL link at the end of the list:
 * the place to unlink it from. */
static store_coll_t **
coll_slot(store_db_t *db, const char *name)
{
   store_coll_t **link = &db->colls;

   while (*link && strcmp((*link)->name, name) != 0) {
      link = &(*link)->next;
   }
   return link;
}
