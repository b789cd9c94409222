/*
 * worker.h: worker threads, each with its own event base and backend session.
 */
#ifndef FE_WORKER_H
#define FE_WORKER_H

#include <stdbool.h>

#include "server/server.h"

/* Prepares a worker: event base, backend session, inbox. */
bool worker_init(fe_worker_t *worker, fe_server_t *server, int index, fe_error_t *error);

/* Starts the worker's thread. */
bool worker_start(fe_worker_t *worker, fe_error_t *error);

/* Hands an accepted socket to the worker; called from the listener thread. */
void worker_hand_over(fe_worker_t *worker, int fd);

/* Asks the worker to finish: it stops reading, lets in-flight commands complete and flushes
 * replies, then its loop ends. Thread-safe. */
void worker_request_stop(fe_worker_t *worker);

/* Waits for the thread, then closes the session and frees the worker's resources. */
void worker_join_and_destroy(fe_worker_t *worker);

/* Locks and unlocks the backend session of a worker. */
void worker_lock_session(fe_worker_t *worker);
void worker_unlock_session(fe_worker_t *worker);

#endif /* FE_WORKER_H */
