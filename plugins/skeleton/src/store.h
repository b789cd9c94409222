/*
 * store.h: the skeleton backend's storage, kept in memory: databases, collections in them, and
 * reference-counted documents in each collection, found by _id key through a hash table and
 * kept in insertion order ($natural) in a list (plugins/skeleton/README.md).
 *
 * This is the part a real backend replaces with its storage library; skeleton.c, which
 * translates the ABI's methods into calls here, is the part it adapts. Nothing here locks: the
 * caller holds the backend's mutex around every call, including store_doc_ref() and
 * store_doc_unref().
 *
 * Every function here is hidden: the plugin is built with -fvisibility=hidden and exports only
 * ferret_backend_entry() (skeleton.c).
 */
#ifndef SK_STORE_H
#define SK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ferret/backend.h>

/*
 * A stored document: immutable once made, shared by the collection and every cursor that has
 * returned or will return it. Replacing or deleting a document takes it out of its collection
 * and drops the collection's reference; a cursor's reference keeps the bytes valid until the
 * cursor is closed.
 */
typedef struct store_doc {
   size_t refs;           /* guarded by the caller's lock */
   const uint8_t *id_key; /* points into bytes[]; the core's canonical _id key */
   size_t id_key_len;
   const uint8_t *bson; /* points into bytes[] */
   size_t bson_len;
   uint8_t bytes[]; /* the id key, then the BSON, in one allocation */
} store_doc_t;

/* A document's place in its collection. */
typedef struct store_entry {
   store_doc_t *doc;              /* one reference, owned by the entry */
   struct store_entry *hash_next; /* the next entry in the same hash bucket */
   struct store_entry *prev;      /* insertion order, oldest first */
   struct store_entry *next;
} store_entry_t;

typedef struct store_coll {
   char *name;       /* owned */
   uint8_t *options; /* owned; the create command's options, NULL when created by an insert */
   size_t options_len;
   store_entry_t **buckets; /* owned, with every entry; bucket_count is a power of two */
   size_t bucket_count;
   store_entry_t *first; /* the oldest document: $natural order starts here */
   store_entry_t *last;
   size_t count;
   int64_t data_size;       /* bytes of BSON */
   int64_t key_size;        /* bytes of _id keys */
   struct store_coll *next; /* the next collection of the same database */
} store_coll_t;

typedef struct store_db {
   char *name;          /* owned */
   store_coll_t *colls; /* owned; never empty: a database goes with its last collection */
   struct store_db *next;
} store_db_t;

typedef struct store {
   store_db_t *dbs; /* owned */
} store_t;

/* ---- documents ---- */

/* Copies doc's BSON and id key into a new document holding one reference; NULL when out of
 * memory. */
store_doc_t *store_doc_new(const ferret_doc_t *doc);
void store_doc_ref(store_doc_t *doc);
/* Drops one reference; the last one frees the document. */
void store_doc_unref(store_doc_t *doc);
/* True when the document is byte for byte `bson`. */
bool store_doc_equals(const store_doc_t *doc, const uint8_t *bson, size_t len);

/* ---- databases and collections ---- */

void store_init(store_t *store);
/* Frees every database, collection and the collections' document references. */
void store_clear(store_t *store);

/* NULL when missing. The result is borrowed: valid until the store changes. */
store_db_t *store_db_find(const store_t *store, const char *name);
/* Drops a database and its collections; a missing one is nothing to do. */
void store_db_drop(store_t *store, const char *name);

/* NULL when missing. The result is borrowed: valid until the store changes. */
store_coll_t *store_coll_find(const store_t *store, const ferret_ns_t *ns);
/* Creates ns, which must not exist, and its database if needed, with a copy of options (NULL
 * for none). Returns the collection (borrowed), or NULL when out of memory, with the store
 * unchanged. */
store_coll_t *store_coll_create(store_t *store, const ferret_ns_t *ns, const uint8_t *options,
                                size_t options_len);
/* Drops ns, and its database when that was the last collection. False when missing. */
bool store_coll_drop(store_t *store, const ferret_ns_t *ns);
/* Moves from (which must exist) to to, dropping whatever is at to first. Documents, their
 * order and the options go along. False when out of memory, with the store unchanged. */
bool store_coll_rename(store_t *store, const ferret_ns_t *from, const ferret_ns_t *to);

/* ---- documents in a collection ---- */

/* NULL when no document has this key. Borrowed: valid until the collection changes. */
store_entry_t *store_coll_get(const store_coll_t *coll, const uint8_t *id_key, size_t len);
/* Appends doc, whose key must not be in the collection yet, and takes over the caller's
 * reference. False when out of memory: then the caller keeps its reference. */
bool store_coll_add(store_coll_t *coll, store_doc_t *doc);
/* Puts doc (same key, the caller's reference taken over) in entry's place, keeping its place in
 * $natural order, and drops the entry's reference to the old document. */
void store_coll_set(store_coll_t *coll, store_entry_t *entry, store_doc_t *doc);
/* Removes entry and drops its reference. */
void store_coll_remove(store_coll_t *coll, store_entry_t *entry);

/* Adds the collection's figures to out: count, data_size, storage_size, index_count,
 * index_size (not collections). */
void store_coll_stats(const store_coll_t *coll, ferret_stats_t *out);

#endif /* SK_STORE_H */
