/*
 * handlers.h: every command handler, grouped by the file that implements it. Each takes the
 * command context and returns false with *error set on failure (see dispatch.h).
 */
#ifndef FE_HANDLERS_H
#define FE_HANDLERS_H

#include "commands/dispatch.h"

/* The MongoDB version and wire protocol version we claim. */
#define CMD_MONGODB_VERSION "8.0.0"
#define CMD_MONGODB_VERSION_ARRAY 8, 0, 0, 0
#define CMD_MAX_WIRE_VERSION 25
#define CMD_SESSION_TIMEOUT_MINUTES 30

/* cmd_hello.c */
bool cmd_hello(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_is_master(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_ping(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_build_info(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_end_sessions(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_end_transaction(fe_ctx_t *ctx, fe_error_t *error);

/* cmd_diag.c */
bool cmd_get_parameter(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_get_cmd_line_opts(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_host_info(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_whats_my_uri(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_connection_status(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_get_log(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_server_status(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_list_commands(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_current_op(fe_ctx_t *ctx, fe_error_t *error);
/* Appends the document describing the caller's own operation, as currentOp and $currentOp
 * report it (the only operation the server can see; see cmd_diag.c). */
void cmd_current_op_document(const fe_ctx_t *ctx, bson_t *out);
bool cmd_kill_op(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_profile(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_repl_set(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_features(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_logout(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_users_info(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_roles_info(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_get_free_monitoring_status(fe_ctx_t *ctx, fe_error_t *error);

/* cmd_admin.c */
bool cmd_list_databases(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_list_collections(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_create(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_drop(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_drop_database(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_rename_collection(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_coll_stats(fe_ctx_t *ctx, fe_error_t *error);
/* Appends a collection's storage statistics (count, size, storageSize, nindexes, ...) to out,
 * as collStats and $collStats report them. */
bool cmd_append_storage_stats(fe_ctx_t *ctx, const char *collection, bson_t *out,
                              fe_error_t *error);
bool cmd_db_stats(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_data_size(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_validate(fe_ctx_t *ctx, fe_error_t *error);

/* cmd_collmod.c */
bool cmd_coll_mod(fe_ctx_t *ctx, fe_error_t *error);

/* cmd_indexes.c */
bool cmd_create_indexes(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_drop_indexes(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_list_indexes(fe_ctx_t *ctx, fe_error_t *error);

/* cmd_find.c */
bool cmd_find(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_count(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_distinct(fe_ctx_t *ctx, fe_error_t *error);

/* cmd_cursor.c */
bool cmd_get_more(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_kill_cursors(fe_ctx_t *ctx, fe_error_t *error);

/* cmd_aggregate.c */
bool cmd_aggregate(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_explain(fe_ctx_t *ctx, fe_error_t *error);

/* cmd_write.c */
bool cmd_insert(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_update(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_delete(fe_ctx_t *ctx, fe_error_t *error);
bool cmd_find_and_modify(fe_ctx_t *ctx, fe_error_t *error);

/* cmd_bulkwrite.c */
bool cmd_bulk_write(fe_ctx_t *ctx, fe_error_t *error);

#endif /* FE_HANDLERS_H */
