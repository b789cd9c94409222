/*
 * table.c: the command table, sorted by name (strcmp order) and searched with bsearch.
 */
#include <stdlib.h>
#include <string.h>

#include "commands/dispatch.h"
#include "commands/failpoint.h"
#include "commands/handlers.h"

static const fe_command_t commands[] = {
   {"abortTransaction", cmd_end_transaction, FE_CMD_ADMIN_ONLY | FE_CMD_NO_SESSION},
   {"aggregate", cmd_aggregate, 0},
   {"buildInfo", cmd_build_info, FE_CMD_NO_SESSION},
   {"buildinfo", cmd_build_info, FE_CMD_NO_SESSION},
   {"bulkWrite", cmd_bulk_write, FE_CMD_ADMIN_ONLY},
   {"collMod", cmd_coll_mod, 0},
   {"collStats", cmd_coll_stats, 0},
   {"commitTransaction", cmd_end_transaction, FE_CMD_ADMIN_ONLY | FE_CMD_NO_SESSION},
   {"configureFailPoint", failpoint_configure, FE_CMD_ADMIN_ONLY | FE_CMD_NO_SESSION},
   {"connectionStatus", cmd_connection_status, FE_CMD_NO_SESSION},
   {"count", cmd_count, 0},
   {"create", cmd_create, 0},
   {"createIndexes", cmd_create_indexes, 0},
   {"currentOp", cmd_current_op, FE_CMD_ADMIN_ONLY | FE_CMD_NO_SESSION},
   {"dataSize", cmd_data_size, 0},
   {"dbStats", cmd_db_stats, 0},
   {"delete", cmd_delete, 0},
   {"distinct", cmd_distinct, 0},
   {"drop", cmd_drop, 0},
   {"dropDatabase", cmd_drop_database, 0},
   {"dropIndexes", cmd_drop_indexes, 0},
   {"endSessions", cmd_end_sessions, FE_CMD_NO_SESSION},
   {"explain", cmd_explain, 0},
   {"features", cmd_features, FE_CMD_NO_SESSION},
   {"find", cmd_find, 0},
   {"findAndModify", cmd_find_and_modify, 0},
   {"findandmodify", cmd_find_and_modify, 0},
   {"getCmdLineOpts", cmd_get_cmd_line_opts, FE_CMD_ADMIN_ONLY | FE_CMD_NO_SESSION},
   {"getFreeMonitoringStatus", cmd_get_free_monitoring_status,
    FE_CMD_ADMIN_ONLY | FE_CMD_NO_SESSION},
   {"getLog", cmd_get_log, FE_CMD_ADMIN_ONLY | FE_CMD_NO_SESSION},
   {"getMore", cmd_get_more, FE_CMD_NO_SESSION},
   {"getParameter", cmd_get_parameter, FE_CMD_ADMIN_ONLY | FE_CMD_NO_SESSION},
   {"hello", cmd_hello, FE_CMD_NO_SESSION},
   {"hostInfo", cmd_host_info, FE_CMD_NO_SESSION},
   {"insert", cmd_insert, 0},
   {"isMaster", cmd_is_master, FE_CMD_NO_SESSION},
   {"ismaster", cmd_is_master, FE_CMD_NO_SESSION},
   {"killCursors", cmd_kill_cursors, FE_CMD_NO_SESSION},
   {"killOp", cmd_kill_op, FE_CMD_ADMIN_ONLY | FE_CMD_NO_SESSION},
   {"listCollections", cmd_list_collections, 0},
   {"listCommands", cmd_list_commands, FE_CMD_NO_SESSION},
   {"listDatabases", cmd_list_databases, FE_CMD_ADMIN_ONLY},
   {"listIndexes", cmd_list_indexes, 0},
   {"logout", cmd_logout, FE_CMD_NO_SESSION},
   {"ping", cmd_ping, FE_CMD_NO_SESSION},
   {"profile", cmd_profile, FE_CMD_NO_SESSION},
   {"renameCollection", cmd_rename_collection, FE_CMD_ADMIN_ONLY},
   {"replSetGetConfig", cmd_repl_set, FE_CMD_ADMIN_ONLY | FE_CMD_NO_SESSION},
   {"replSetGetStatus", cmd_repl_set, FE_CMD_ADMIN_ONLY | FE_CMD_NO_SESSION},
   {"replSetInitiate", cmd_repl_set, FE_CMD_ADMIN_ONLY | FE_CMD_NO_SESSION},
   {"rolesInfo", cmd_roles_info, FE_CMD_NO_SESSION},
   {"serverStatus", cmd_server_status, FE_CMD_NO_SESSION},
   {"update", cmd_update, 0},
   {"usersInfo", cmd_users_info, FE_CMD_NO_SESSION},
   {"validate", cmd_validate, 0},
   {"whatsmyuri", cmd_whats_my_uri, FE_CMD_NO_SESSION},
};

static int
compare_name(const void *key, const void *entry)
{
   return strcmp(key, ((const fe_command_t *) entry)->name);
}

const fe_command_t *
table_find(const char *name)
{
   return bsearch(name, commands, sizeof commands / sizeof commands[0], sizeof commands[0],
                  compare_name);
}

const fe_command_t *
table_all(size_t *count)
{
   *count = sizeof commands / sizeof commands[0];
   return commands;
}
