/*
 * faulty_backend.h: the control block of the fault-injecting test backend (faulty_backend.c),
 * shared by the plugin and fault_backend.c.
 */
#ifndef FE_FAULTY_BACKEND_H
#define FE_FAULTY_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include <ferret/backend.h>

/* The methods that can fail; open, close, session_open, session_close and cursor_close are
 * never failed (the first four run outside commands, the last cannot fail). */
typedef enum fault_method {
   FAULT_LIST_DATABASES,
   FAULT_DROP_DATABASE,
   FAULT_LIST_COLLECTIONS,
   FAULT_CREATE_COLLECTION,
   FAULT_DROP_COLLECTION,
   FAULT_RENAME_COLLECTION,
   FAULT_INSERT,
   FAULT_REPLACE,
   FAULT_DELETE_ONE,
   FAULT_QUERY,
   FAULT_CURSOR_NEXT,
   FAULT_STATS,
   FAULT_COLLECTION_OPTIONS,
   FAULT_METHOD_COUNT,
} fault_method_t;

static const char *const fault_method_names[FAULT_METHOD_COUNT] = {
   "list_databases",
   "drop_database",
   "list_collections",
   "create_collection",
   "drop_collection",
   "rename_collection",
   "insert",
   "replace",
   "delete_one",
   "query",
   "cursor_next",
   "stats",
   "collection_options",
};

/* The statuses each method may return besides OK, as include/ferret/backend.h lists them;
 * FERRET_OK ends each list. */
static const ferret_status_t fault_allowed[FAULT_METHOD_COUNT][6] = {
   [FAULT_LIST_DATABASES] = {FERRET_ERR_UNAVAILABLE, FERRET_ERR_INTERNAL},
   [FAULT_DROP_DATABASE] = {FERRET_ERR_UNAVAILABLE, FERRET_ERR_INTERNAL},
   [FAULT_LIST_COLLECTIONS] = {FERRET_ERR_UNAVAILABLE, FERRET_ERR_INTERNAL},
   [FAULT_CREATE_COLLECTION] = {FERRET_ERR_NAMESPACE_EXISTS, FERRET_ERR_INVALID_NAME,
                                FERRET_ERR_UNAVAILABLE, FERRET_ERR_INTERNAL},
   [FAULT_DROP_COLLECTION] = {FERRET_ERR_NAMESPACE_NOT_FOUND, FERRET_ERR_UNAVAILABLE,
                              FERRET_ERR_INTERNAL},
   [FAULT_RENAME_COLLECTION] = {FERRET_ERR_NAMESPACE_NOT_FOUND, FERRET_ERR_NAMESPACE_EXISTS,
                                FERRET_ERR_INVALID_NAME, FERRET_ERR_UNAVAILABLE,
                                FERRET_ERR_INTERNAL},
   [FAULT_INSERT] = {FERRET_ERR_DUPLICATE_KEY, FERRET_ERR_TOO_LARGE, FERRET_ERR_UNAVAILABLE,
                     FERRET_ERR_INTERNAL},
   [FAULT_REPLACE] = {FERRET_ERR_TOO_LARGE, FERRET_ERR_UNAVAILABLE, FERRET_ERR_INTERNAL},
   [FAULT_DELETE_ONE] = {FERRET_ERR_UNAVAILABLE, FERRET_ERR_INTERNAL},
   [FAULT_QUERY] = {FERRET_ERR_UNAVAILABLE, FERRET_ERR_INTERNAL},
   [FAULT_CURSOR_NEXT] = {FERRET_ERR_UNAVAILABLE, FERRET_ERR_INTERNAL},
   [FAULT_STATS] = {FERRET_ERR_UNAVAILABLE, FERRET_ERR_INTERNAL},
   [FAULT_COLLECTION_OPTIONS] = {FERRET_ERR_NAMESPACE_NOT_FOUND, FERRET_ERR_UNAVAILABLE,
                                 FERRET_ERR_INTERNAL},
};

#define FAULT_TRACE_SIZE 4096

typedef struct fault_backend_control {
   long fail_at;           /* 0: pass everything through; else the call to fail, from 1 */
   ferret_status_t status; /* what the failed call returns */
   long calls;             /* calls counted since arming */
   long seen[FAULT_METHOD_COUNT];
   fault_method_t failed_method; /* valid when injected */
   bool injected;
   /* Which method each call was, for the test to pick statuses: filled while counting. */
   fault_method_t trace[FAULT_TRACE_SIZE];
} fault_backend_control_t;

typedef fault_backend_control_t *(*fault_backend_control_fn)(void);

#endif /* FE_FAULTY_BACKEND_H */
