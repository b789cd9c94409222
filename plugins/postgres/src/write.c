/*
 * write.c: inserting, replacing and deleting documents (docs/rfc/0006-postgres-layout.md).
 *
 * A batch goes to the server as two binary bytea[] parameters unnested by one INSERT, so a
 * batch of any size costs one round trip. When no key collides that statement is the whole
 * story (atomic, committed on return). When one does, the batch is redone inside a savepoint
 * with ON CONFLICT DO NOTHING RETURNING id_key, which tells which document was the first
 * rejected; the savepoint is rolled back and only the documents before it are inserted, so
 * the ordered-insert contract holds: documents 0..k-1 stored, *inserted = k, DUPLICATE_KEY.
 *
 * replace and delete_one are compare-and-swap statements (WHERE id_key = $1 AND doc = $2).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postgres_int.h"

/* A statement's parameters must each stay below 1 GB; chunks stay far below that, and small
 * enough that a failed chunk wastes little work. */
#define WRITE_CHUNK_BYTES (32u * 1024 * 1024)
#define WRITE_CHUNK_DOCS 10000

typedef struct write_key {
   const char *bytes; /* borrowed from a PGresult */
   int len;
   bool used;
} write_key_t;

/* ---- helpers ---- */

static ferret_status_t write_chunk(ferret_session_t *session, const ferret_ns_t *ns,
                                   const char *qualified, const ferret_doc_t *docs, size_t count,
                                   size_t *inserted, ferret_error_t *error);
static ferret_status_t write_unnest(ferret_session_t *session, const char *what,
                                    const char *qualified, const ferret_doc_t *docs, size_t count,
                                    bool on_conflict, PGresult **out, ferret_error_t *error);
static uint8_t *write_array(const ferret_doc_t *docs, size_t count, bool keys, size_t *len);
static size_t write_first_rejected(const ferret_doc_t *docs, size_t count, PGresult *res);
static int write_key_cmp(const void *a, const void *b);
static bool write_retry(ferret_session_t *session, const ferret_ns_t *ns, ferret_status_t *status,
                        int attempt, ferret_error_t *error);

/* ---- public ---- */

ferret_status_t
write_insert(ferret_session_t *session, const ferret_ns_t *ns, const ferret_doc_t *docs,
             size_t count, size_t *inserted, ferret_error_t *error)
{
   char qualified[PG_QUALIFIED_MAX];
   bool found = false;
   size_t done = 0;
   ferret_status_t status = FERRET_OK;

   *inserted = 0;
   for (int attempt = 0; attempt < 2 && count > 0; attempt++) {
      status = catalog_resolve(session, ns, true, qualified, &found, error);
      while (status == FERRET_OK && done < count) {
         size_t n = 0;
         size_t bytes = 0;
         size_t chunk_inserted = 0;
         while (done + n < count && n < WRITE_CHUNK_DOCS &&
                (n == 0 || bytes + docs[done + n].bson_len <= WRITE_CHUNK_BYTES)) {
            bytes += docs[done + n].bson_len + docs[done + n].id_key_len;
            n++;
         }
         status = write_chunk(session, ns, qualified, docs + done, n, &chunk_inserted, error);
         done += chunk_inserted;
      }
      /* Retrying a stale table is safe only while nothing went into it. */
      if (done > 0 || !write_retry(session, ns, &status, attempt, error)) {
         break;
      }
   }
   *inserted = done;
   return status;
}

ferret_status_t
write_replace(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *expected,
              size_t expected_len, const ferret_doc_t *doc, bool *replaced, ferret_error_t *error)
{
   char sql[PG_QUALIFIED_MAX + 128];
   char what[300];
   char qualified[PG_QUALIFIED_MAX];
   pg_params_t params = {0};
   PGresult *res = NULL; /* owned */
   bool found = false;
   ferret_status_t status = FERRET_OK;

   *replaced = false;
   snprintf(what, sizeof what, "replace in '%s.%s'", ns->db, ns->collection);
   conn_params_bytes(&params, doc->id_key, doc->id_key_len);
   conn_params_bytes(&params, expected, expected_len);
   conn_params_bytes(&params, doc->bson, doc->bson_len);
   for (int attempt = 0; attempt < 2; attempt++) {
      status = catalog_resolve(session, ns, false, qualified, &found, error);
      if (status != FERRET_OK || !found) {
         break;
      }
      snprintf(sql, sizeof sql, "UPDATE %s SET doc = $3 WHERE id_key = $1 AND doc = $2", qualified);
      status = conn_exec_prepared(session, what, sql, &params, false, &res, error);
      if (!write_retry(session, ns, &status, attempt, error)) {
         break;
      }
   }
   if (status == FERRET_OK && found) {
      *replaced = strcmp(PQcmdTuples(res), "1") == 0;
   }
   PQclear(res);
   return status;
}

ferret_status_t
write_delete_one(ferret_session_t *session, const ferret_ns_t *ns, const uint8_t *id_key,
                 size_t id_key_len, const uint8_t *expected, size_t expected_len, bool *deleted,
                 ferret_error_t *error)
{
   char sql[PG_QUALIFIED_MAX + 128];
   char what[300];
   char qualified[PG_QUALIFIED_MAX];
   pg_params_t params = {0};
   PGresult *res = NULL; /* owned */
   bool found = false;
   ferret_status_t status = FERRET_OK;

   *deleted = false;
   snprintf(what, sizeof what, "delete from '%s.%s'", ns->db, ns->collection);
   conn_params_bytes(&params, id_key, id_key_len);
   if (expected != NULL) {
      conn_params_bytes(&params, expected, expected_len);
   }
   for (int attempt = 0; attempt < 2; attempt++) {
      status = catalog_resolve(session, ns, false, qualified, &found, error);
      if (status != FERRET_OK || !found) {
         break;
      }
      snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id_key = $1%s", qualified,
               expected != NULL ? " AND doc = $2" : "");
      PQclear(res);
      res = NULL;
      status = conn_exec_prepared(session, what, sql, &params, false, &res, error);
      if (!write_retry(session, ns, &status, attempt, error)) {
         break;
      }
   }
   if (status == FERRET_OK && found) {
      *deleted = strcmp(PQcmdTuples(res), "1") == 0;
   }
   PQclear(res);
   return status;
}

/* ---- helpers ---- */

/* Inserts docs[0..count) in order up to the first duplicate; *inserted counts them, and they
 * are committed (or part of the core's transaction) when this returns. */
static ferret_status_t
write_chunk(ferret_session_t *session, const ferret_ns_t *ns, const char *qualified,
            const ferret_doc_t *docs, size_t count, size_t *inserted, ferret_error_t *error)
{
   char sql[PG_QUALIFIED_MAX + 128];
   char what[300];
   pg_params_t params = {0};
   PGresult *res = NULL; /* owned */
   bool own = false;
   size_t m = count;
   ferret_status_t status;

   *inserted = 0;
   snprintf(what, sizeof what, "insert into '%s.%s'", ns->db, ns->collection);
   if (count == 1) {
      /* One row: ON CONFLICT DO NOTHING says everything, in or out of a transaction. */
      snprintf(sql, sizeof sql,
               "INSERT INTO %s (id_key, doc) VALUES ($1, $2) ON CONFLICT (id_key) DO NOTHING",
               qualified);
      conn_params_bytes(&params, docs[0].id_key, docs[0].id_key_len);
      conn_params_bytes(&params, docs[0].bson, docs[0].bson_len);
      status = conn_exec_prepared(session, what, sql, &params, false, &res, error);
      if (status == FERRET_OK) {
         m = strcmp(PQcmdTuples(res), "1") == 0 ? 1 : 0;
      }
      goto done;
   }
   if (session->txn == PG_TXN_NONE) {
      /* The common case: no collision, one atomic statement. A failed statement inside the
       * core's transaction would abort it, so there we go straight to the savepoint path. */
      status = write_unnest(session, what, qualified, docs, count, false, NULL, error);
      if (status != FERRET_ERR_DUPLICATE_KEY) {
         goto done;
      }
   }
   status = conn_txn_start(session, &own, error);
   if (status == FERRET_OK) {
      status = conn_exec(session, what, "SAVEPOINT ferret_insert", NULL, false, NULL, error);
   }
   /* Each pass inserts a shorter prefix; the second normally succeeds whole, but a concurrent
    * insert of an earlier key can shorten it again. */
   while (status == FERRET_OK && m > 0) {
      size_t k;
      PQclear(res);
      res = NULL;
      status = write_unnest(session, what, qualified, docs, m, true, &res, error);
      if (status != FERRET_OK) {
         break;
      }
      k = write_first_rejected(docs, m, res);
      if (k == m) {
         break;
      }
      status =
         conn_exec(session, what, "ROLLBACK TO SAVEPOINT ferret_insert", NULL, false, NULL, error);
      m = k;
   }
   if (status == FERRET_OK) {
      status =
         conn_exec(session, what, "RELEASE SAVEPOINT ferret_insert", NULL, false, NULL, error);
   }
   status = conn_txn_end(session, own, status, error);

done:
   if (status == FERRET_OK) {
      *inserted = m;
      if (m < count) {
         memset(error->native_code, 0, sizeof error->native_code);
         status = conn_fail(error, FERRET_ERR_DUPLICATE_KEY,
                            "E11000 duplicate key error collection: %s.%s index: _id_", ns->db,
                            ns->collection);
      }
   }
   PQclear(res);
   return status;
}

static ferret_status_t
write_unnest(ferret_session_t *session, const char *what, const char *qualified,
             const ferret_doc_t *docs, size_t count, bool on_conflict, PGresult **out,
             ferret_error_t *error)
{
   char sql[PG_QUALIFIED_MAX + 256];
   pg_params_t params = {0};
   uint8_t *keys = NULL;  /* owned */
   uint8_t *bsons = NULL; /* owned */
   size_t keys_len = 0;
   size_t bsons_len = 0;
   ferret_status_t status;

   keys = write_array(docs, count, true, &keys_len);
   bsons = write_array(docs, count, false, &bsons_len);
   if (keys == NULL || bsons == NULL) {
      status = conn_fail(error, FERRET_ERR_NO_MEMORY, "out of memory");
      goto done;
   }
   if (keys_len > INT32_MAX || bsons_len > INT32_MAX) {
      status = conn_fail(error, FERRET_ERR_TOO_LARGE, "insert batch too large");
      goto done;
   }
   /* unnest() yields the arrays in order, so seq ($natural) follows the batch order. */
   snprintf(sql, sizeof sql,
            "INSERT INTO %s (id_key, doc) SELECT k, d FROM unnest($1::bytea[], $2::bytea[])"
            " AS u(k, d)%s",
            qualified, on_conflict ? " ON CONFLICT (id_key) DO NOTHING RETURNING id_key" : "");
   conn_params_bytes(&params, keys, keys_len);
   conn_params_bytes(&params, bsons, bsons_len);
   status = conn_exec_prepared(session, what, sql, &params, true, out, error);

done:
   free(keys);
   free(bsons);
   return status;
}

/* A one-dimensional bytea[] in PostgreSQL's binary array format (array_recv): ndim, has-null
 * flag, element type, then per dimension its length and lower bound, then each element as a
 * length and its bytes, all integers big-endian. Returns an owned buffer, NULL on no memory. */
static uint8_t *
write_array(const ferret_doc_t *docs, size_t count, bool keys, size_t *len)
{
   const uint32_t bytea_oid = 17;
   uint32_t header[5] = {htonl(1), htonl(0), htonl(bytea_oid), htonl((uint32_t) count), htonl(1)};
   uint8_t *buf = NULL; /* owned; transfers to the caller */
   size_t size = sizeof header;
   size_t pos;

   for (size_t i = 0; i < count; i++) {
      size += 4 + (keys ? docs[i].id_key_len : docs[i].bson_len);
   }
   buf = malloc(size);
   if (buf == NULL) {
      return NULL;
   }
   memcpy(buf, header, sizeof header);
   pos = sizeof header;
   for (size_t i = 0; i < count; i++) {
      const uint8_t *p = keys ? docs[i].id_key : docs[i].bson;
      size_t n = keys ? docs[i].id_key_len : docs[i].bson_len;
      uint32_t be = htonl((uint32_t) n);
      memcpy(buf + pos, &be, 4);
      if (n > 0) {
         memcpy(buf + pos + 4, p, n);
      }
      pos += 4 + n;
   }
   *len = size;
   return buf;
}

/* The index of the first document whose key the INSERT ... RETURNING id_key in res did not
 * return, or count. A key repeated within the batch is stored once: its first occurrence is
 * matched by the returned key, the next finds it used. */
static size_t
write_first_rejected(const ferret_doc_t *docs, size_t count, PGresult *res)
{
   size_t rows = (size_t) PQntuples(res);
   write_key_t *keys = NULL; /* owned */
   size_t first = count;

   if (rows == count) {
      return count;
   }
   keys = calloc(rows > 0 ? rows : 1, sizeof *keys);
   if (keys == NULL) {
      return 0; /* treat as "the first is rejected": nothing stored, still correct */
   }
   for (size_t i = 0; i < rows; i++) {
      keys[i].bytes = PQgetvalue(res, (int) i, 0);
      keys[i].len = PQgetlength(res, (int) i, 0);
   }
   qsort(keys, rows, sizeof *keys, write_key_cmp);
   for (size_t i = 0; i < count && first == count; i++) {
      write_key_t probe = {(const char *) docs[i].id_key, (int) docs[i].id_key_len, false};
      size_t lo = 0;
      size_t hi = rows;
      while (lo < hi) {
         size_t mid = lo + (hi - lo) / 2;
         if (write_key_cmp(&keys[mid], &probe) < 0) {
            lo = mid + 1;
         } else {
            hi = mid;
         }
      }
      while (lo < rows && write_key_cmp(&keys[lo], &probe) == 0 && keys[lo].used) {
         lo++;
      }
      if (lo < rows && write_key_cmp(&keys[lo], &probe) == 0) {
         keys[lo].used = true;
      } else {
         first = i;
      }
   }
   free(keys);
   return first;
}

static int
write_key_cmp(const void *a, const void *b)
{
   const write_key_t *x = a;
   const write_key_t *y = b;
   int c;

   if (x->len != y->len) {
      return x->len < y->len ? -1 : 1;
   }
   c = x->len > 0 ? memcmp(x->bytes, y->bytes, (size_t) x->len) : 0;
   return c;
}

/* After undefined_table from a cached table: forget it and say whether to run again (outside
 * a transaction, once). Otherwise turns the status into one the caller may return. */
static bool
write_retry(ferret_session_t *session, const ferret_ns_t *ns, ferret_status_t *status, int attempt,
            ferret_error_t *error)
{
   if (*status != FERRET_ERR_NAMESPACE_NOT_FOUND) {
      return false;
   }
   catalog_forget(session, ns);
   if (session->txn == PG_TXN_NONE && attempt == 0) {
      memset(error, 0, sizeof *error);
      return true;
   }
   *status = conn_fail(
      error, session->txn == PG_TXN_NONE ? FERRET_ERR_UNAVAILABLE : FERRET_ERR_WRITE_CONFLICT,
      "collection '%s.%s' was dropped or renamed concurrently", ns->db, ns->collection);
   return false;
}
