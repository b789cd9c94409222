/*
 * args.h: reading and checking command arguments, and the reply shapes commands share.
 */
#ifndef FE_ARGS_H
#define FE_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "backend/generic.h"
#include "bson/collation.h"
#include "commands/dispatch.h"
#include "cursor/cursor.h"

/* The largest reply batch, leaving room for the reply envelope under 16 MiB. */
#define ARGS_MAX_BATCH_BYTES (16 * 1024 * 1024 - 16 * 1024)
#define ARGS_DEFAULT_BATCH_SIZE 101

/* Checks a database name as MongoDB does (code 73 InvalidNamespace). */
bool args_check_db_name(const char *db, fe_error_t *error);

/* Checks a collection name (code 73 InvalidNamespace). */
bool args_check_collection_name(const char *db, const char *collection, fe_error_t *error);

/* The collection a command names in its first field ({find: "c"}), checked. *collection is
 * borrowed from the command. Errors: 2 BadValue / 73 InvalidNamespace. */
bool args_collection(const fe_ctx_t *ctx, const char **collection, fe_error_t *error);

/* An optional document argument: *out is a static view into the command (bson_init_static),
 * or empty when absent (*present false; present may be NULL). Error 14 TypeMismatch when the
 * field is not a document. */
bool args_document(const bson_t *command, const char *key, bson_t *out, bool *present,
                   fe_error_t *error);

/* An optional array argument, as args_document(). */
bool args_array(const bson_t *command, const char *key, bson_t *out, bool *present,
                fe_error_t *error);

/* An optional numeric argument as int64 (integral doubles accepted); *out keeps its value
 * when absent. Error 14 TypeMismatch for another type, 2 BadValue for a fraction. */
bool args_int64(const bson_t *command, const char *key, int64_t *out, fe_error_t *error);

/* An optional boolean argument (numbers accepted as truthiness); *out keeps its value when
 * absent. Error 14 TypeMismatch for another type. */
bool args_bool(const bson_t *command, const char *key, bool *out, fe_error_t *error);

/* The collation an operation uses: collation (a collation document; NULL when the operation
 * has none) or else the default collation of the collection store names (store nullable: no
 * default), stored in its options by create. *out (caller storage) receives an owned collator
 * (collation_destroy()), or NULL for the simple binary comparison. Errors: those of
 * collation_parse(), the backend's. */
bool args_resolve_collation(const bson_t *collation, const fe_store_t *store, fe_collator_t **out,
                            fe_error_t *error);

/* args_resolve_collation() for the "collation" field of doc (a command or a statement; null is
 * as absent). Error 14 TypeMismatch when it is not a document. */
bool args_collation(const bson_t *doc, const fe_store_t *store, fe_collator_t **out,
                    fe_error_t *error);

/* Fails when doc carries a collation other than the simple one: for what does not implement
 * collations yet (views). Errors: those of collation_parse(), 2 BadValue for a non-simple one. */
bool args_check_collation(const bson_t *doc, fe_error_t *error);

/* One field found by args_find_fields(). A struct, not a bare bson_iter_t, because libbson
 * aligns bson_iter_t beyond its size, which arrays of it do not allow. */
typedef struct args_field {
   bson_iter_t iter;
   bool found;
} args_field_t;

/* Finds several top-level fields of doc in one pass: fields[i] is the first field named keys[i]
 * when fields[i].found. A command reading many arguments scans its document once this way and
 * passes each iterator (ARGS_AT(), NULL when absent) to the args_*_at() functions, which
 * behave as the functions above. */
void args_find_fields(const bson_t *doc, const char *const *keys, size_t count,
                      args_field_t *fields);
#define ARGS_AT(field) ((field).found ? &(field).iter : NULL)
bool args_document_at(const bson_iter_t *iter, const char *key, bson_t *out, bool *present,
                      fe_error_t *error);
bool args_int64_at(const bson_iter_t *iter, const char *key, int64_t *out, fe_error_t *error);
bool args_bool_at(const bson_iter_t *iter, const char *key, bool *out, fe_error_t *error);
bool args_check_collation_at(const bson_iter_t *iter, fe_error_t *error);

/* Fails with 40415 when doc has a field not in allowed (NULL-terminated), as MongoDB's IDL
 * parser does for unknown fields of a statement. what names the statement for the message. */
bool args_check_fields(const bson_t *doc, const char *what, const char *const *allowed,
                       fe_error_t *error);

/* Appends {cursor: {firstBatch|nextBatch: batch, id, ns}} to reply. */
void args_append_cursor(bson_t *reply, int64_t id, const char *ns, bool first, const bson_t *batch);

/* Fills the first batch of a new cursor, registers it when more remains (and single_batch is
 * false), and appends the cursor reply. Takes ownership of cursor in every case. */
bool args_reply_first_batch(fe_ctx_t *ctx, fe_cursor_t *cursor, int64_t batch_size,
                            bool single_batch, fe_error_t *error);

#endif /* FE_ARGS_H */
