/*
 * conn.c: the connection of a session, running statements, and the one mapping from
 * PostgreSQL errors (SQLSTATE) to backend statuses. Reconnection after a server restart
 * happens here: see conn_ready().
 */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postgres_int.h"

/* ---- helpers ---- */

static void conn_copy_trimmed(char *dst, size_t size, const char *src);
static void conn_notice(void *arg, const char *message);
static ferret_status_t conn_check_result(PGconn *conn, PGresult *res, const char *what,
                                         ferret_error_t *error);

/* ---- public ---- */

ferret_status_t
conn_fail(ferret_error_t *error, ferret_status_t status, const char *format, ...)
{
   va_list ap;

   if (error != NULL) {
      va_start(ap, format);
      vsnprintf(error->message, sizeof error->message, format, ap);
      va_end(ap);
   }
   return status;
}

ferret_status_t
conn_connect(const ferret_backend_t *backend, PGconn **out, ferret_error_t *error)
{
   /* Our defaults come first so that anything in the user's conninfo (expanded from dbname)
    * overrides them; a server that does not answer must not hang a worker forever. */
   const char *keys[] = {"fallback_application_name", "client_encoding", "connect_timeout",
                         "dbname", NULL};
   const char *timeout = getenv("PGCONNECT_TIMEOUT");
   const char *values[] = {"ferret", "UTF8", timeout != NULL ? timeout : "10", backend->conninfo,
                           NULL};
   char message[FERRET_ERROR_MESSAGE_SIZE];
   PGconn *conn = NULL; /* owned; transfers to *out on success */
   ferret_status_t status = FERRET_OK;

   *out = NULL;
   conn = PQconnectdbParams(keys, values, 1);
   if (conn == NULL) {
      status = conn_fail(error, FERRET_ERR_NO_MEMORY, "out of memory connecting to postgresql");
      goto done;
   }
   if (PQstatus(conn) != CONNECTION_OK) {
      conn_copy_trimmed(message, sizeof message, PQerrorMessage(conn));
      status =
         conn_fail(error, FERRET_ERR_UNAVAILABLE, "cannot connect to postgresql: %s", message);
      goto done;
   }
   /* NOTICEs ("drop cascades to ...") are chatter; the default processor prints to stderr. */
   PQsetNoticeProcessor(conn, conn_notice, NULL);
   *out = conn;
   conn = NULL;

done:
   if (conn != NULL) {
      PQfinish(conn);
   }
   return status;
}

ferret_status_t
conn_ready(ferret_session_t *session, ferret_error_t *error)
{
   char message[FERRET_ERROR_MESSAGE_SIZE];
   struct pollfd pfd;

   if (session->txn == PG_TXN_BROKEN) {
      return conn_fail(error, FERRET_ERR_UNAVAILABLE,
                       "the transaction was lost with the connection to postgresql");
   }
   /* A server that restarted while we were idle has closed our socket: it is readable (an
    * error message, then end of file). Noticing it here, before sending anything, lets the
    * call reconnect instead of failing on a dead socket. One poll() per call is cheap. */
   if (PQstatus(session->conn) == CONNECTION_OK &&
       PQtransactionStatus(session->conn) == PQTRANS_IDLE) {
      pfd.fd = PQsocket(session->conn);
      pfd.events = POLLIN;
      pfd.revents = 0;
      if (pfd.fd >= 0 && poll(&pfd, 1, 0) > 0) {
         PQconsumeInput(session->conn);
         PGnotify *notify;
         while ((notify = PQnotifies(session->conn)) != NULL) {
            PQfreemem(notify);
         }
      }
   }
   if (PQstatus(session->conn) == CONNECTION_OK) {
      /* Outside begin() no transaction may survive a call; if one did (a bug), end it rather
       * than let the next writes join it and never commit. */
      if (session->txn == PG_TXN_NONE && PQtransactionStatus(session->conn) != PQTRANS_IDLE) {
         session->backend->host->log(FERRET_LOG_WARNING, PG_BACKEND_NAME,
                                     "rolling back a transaction left open");
         PQclear(PQexec(session->conn, "ROLLBACK"));
      }
      return FERRET_OK;
   }
   if (session->txn == PG_TXN_ACTIVE) {
      session->txn = PG_TXN_BROKEN;
      return conn_fail(error, FERRET_ERR_UNAVAILABLE,
                       "the transaction was lost with the connection to postgresql");
   }
   /* A new server connection knows none of our prepared statements. */
   conn_prepared_clear(session);
   PQreset(session->conn);
   if (PQstatus(session->conn) != CONNECTION_OK) {
      conn_copy_trimmed(message, sizeof message, PQerrorMessage(session->conn));
      return conn_fail(error, FERRET_ERR_UNAVAILABLE, "cannot connect to postgresql: %s", message);
   }
   session->backend->host->log(FERRET_LOG_INFO, PG_BACKEND_NAME, "reconnected to postgresql");
   return FERRET_OK;
}

void
conn_params_text(pg_params_t *params, const char *text)
{
   params->values[params->count] = text;
   params->lengths[params->count] = 0;
   params->formats[params->count] = 0;
   params->count++;
}

void
conn_params_bytes(pg_params_t *params, const void *bytes, size_t len)
{
   /* libpq wants a non-NULL value for a non-NULL parameter, even an empty one. */
   params->values[params->count] = bytes != NULL ? (const char *) bytes : "";
   params->lengths[params->count] = (int) len;
   params->formats[params->count] = 1;
   params->count++;
}

ferret_status_t
conn_exec_raw(PGconn *conn, const char *what, const char *sql, const pg_params_t *params,
              bool result_binary, PGresult **out, ferret_error_t *error)
{
   PGresult *res = NULL; /* owned; transfers to *out on success */
   ferret_status_t status;

   if (out != NULL) {
      *out = NULL;
   }
   if (params == NULL && !result_binary) {
      res = PQexec(conn, sql);
   } else {
      res = PQexecParams(conn, sql, params != NULL ? params->count : 0, NULL,
                         params != NULL ? params->values : NULL,
                         params != NULL ? params->lengths : NULL,
                         params != NULL ? params->formats : NULL, result_binary ? 1 : 0);
   }
   status = conn_check_result(conn, res, what, error);
   if (status == FERRET_OK && out != NULL) {
      *out = res;
      res = NULL;
   }
   PQclear(res);
   return status;
}

ferret_status_t
conn_exec(ferret_session_t *session, const char *what, const char *sql, const pg_params_t *params,
          bool result_binary, PGresult **out, ferret_error_t *error)
{
   ferret_status_t status;

   status = conn_exec_raw(session->conn, what, sql, params, result_binary, out, error);
   if (status != FERRET_OK && session->txn == PG_TXN_ACTIVE &&
       PQstatus(session->conn) != CONNECTION_OK) {
      session->txn = PG_TXN_BROKEN;
   }
   return status;
}

ferret_status_t
conn_status(const char *sqlstate, bool connection_lost)
{
   /* SQLSTATE classes and codes: https://www.postgresql.org/docs/current/errcodes-appendix.html */
   static const struct {
      const char *code; /* a full code, or a two-character class */
      ferret_status_t status;
   } map[] = {
      {"23505", FERRET_ERR_DUPLICATE_KEY},       /* unique_violation */
      {"40001", FERRET_ERR_WRITE_CONFLICT},      /* serialization_failure */
      {"40P01", FERRET_ERR_WRITE_CONFLICT},      /* deadlock_detected */
      {"42P06", FERRET_ERR_NAMESPACE_EXISTS},    /* duplicate_schema */
      {"42P07", FERRET_ERR_NAMESPACE_EXISTS},    /* duplicate_table */
      {"42P01", FERRET_ERR_NAMESPACE_NOT_FOUND}, /* undefined_table */
      {"3F000", FERRET_ERR_NAMESPACE_NOT_FOUND}, /* invalid_schema_name */
      {"22021", FERRET_ERR_INVALID_NAME},        /* character_not_in_repertoire */
      {"22P05", FERRET_ERR_INVALID_NAME},        /* untranslatable_character */
      {"53200", FERRET_ERR_NO_MEMORY},           /* out_of_memory */
      {"54", FERRET_ERR_TOO_LARGE},              /* program_limit_exceeded: index row too big */
      {"08", FERRET_ERR_UNAVAILABLE},            /* connection_exception */
      {"57P01", FERRET_ERR_UNAVAILABLE},         /* admin_shutdown */
      {"57P02", FERRET_ERR_UNAVAILABLE},         /* crash_shutdown */
      {"57P03", FERRET_ERR_UNAVAILABLE},         /* cannot_connect_now */
      {"57014", FERRET_ERR_UNAVAILABLE},         /* query_canceled (statement_timeout) */
      {"55P03", FERRET_ERR_UNAVAILABLE},         /* lock_not_available (lock_timeout) */
      {"53", FERRET_ERR_UNAVAILABLE},            /* insufficient_resources: disk full, ... */
   };

   if (connection_lost) {
      return FERRET_ERR_UNAVAILABLE;
   }
   if (sqlstate == NULL || strlen(sqlstate) != 5) {
      return FERRET_ERR_INTERNAL;
   }
   for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
      if (strncmp(sqlstate, map[i].code, strlen(map[i].code)) == 0) {
         return map[i].status;
      }
   }
   return FERRET_ERR_INTERNAL;
}

ferret_status_t
conn_txn_start(ferret_session_t *session, bool *own, ferret_error_t *error)
{
   *own = session->txn == PG_TXN_NONE;
   if (!*own) {
      return FERRET_OK;
   }
   return conn_exec(session, "begin", "BEGIN", NULL, false, NULL, error);
}

ferret_status_t
conn_txn_end(ferret_session_t *session, bool own, ferret_status_t status, ferret_error_t *error)
{
   PGresult *res = NULL; /* owned */

   if (!own) {
      return status;
   }
   if (status != FERRET_OK) {
      /* The error is already in *error; a failing rollback (a lost connection) changes
       * nothing for the caller: the transaction is gone either way. */
      if (PQstatus(session->conn) == CONNECTION_OK) {
         PQclear(PQexec(session->conn, "ROLLBACK"));
      }
      return status;
   }
   status = conn_exec(session, "commit", "COMMIT", NULL, false, &res, error);
   /* COMMIT of a transaction that failed reports ROLLBACK, not an error. */
   if (status == FERRET_OK && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
      status = conn_fail(error, FERRET_ERR_INTERNAL, "the transaction was rolled back");
   }
   PQclear(res);
   return status;
}

/* ---- helpers ---- */

static void
conn_notice(void *arg, const char *message)
{
   (void) arg;
   (void) message;
}

/* libpq messages end with a newline and may span lines; the log wants one line. */
static void
conn_copy_trimmed(char *dst, size_t size, const char *src)
{
   size_t n = 0;

   for (; src != NULL && *src != '\0' && n + 1 < size; src++) {
      char c = (*src == '\n' || *src == '\t') ? ' ' : *src;
      if (c == ' ' && (n == 0 || dst[n - 1] == ' ')) {
         continue;
      }
      dst[n++] = c;
   }
   while (n > 0 && dst[n - 1] == ' ') {
      n--;
   }
   dst[n] = '\0';
}

static ferret_status_t
conn_check_result(PGconn *conn, PGresult *res, const char *what, ferret_error_t *error)
{
   char message[FERRET_ERROR_MESSAGE_SIZE];
   const char *sqlstate;
   const char *primary;
   bool lost;
   ferret_status_t status;

   if (res != NULL) {
      ExecStatusType st = PQresultStatus(res);
      if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
         return FERRET_OK;
      }
   }
   lost = PQstatus(conn) != CONNECTION_OK;
   sqlstate = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
   if (!lost && res != NULL && sqlstate == NULL) {
      /* An error libpq made itself ("server closed the connection unexpectedly" after a failed
       * send) can come while the connection still reads as OK: reading meets the end of file
       * that marks it lost, so a restarting server is reported as unavailable, not internal. */
      lost = PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK;
   }
   primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
   conn_copy_trimmed(message, sizeof message, primary != NULL ? primary : PQerrorMessage(conn));
   status = conn_status(sqlstate, lost);
   if (res == NULL && !lost) {
      status = FERRET_ERR_NO_MEMORY;
   }
   if (error != NULL) {
      if (sqlstate != NULL) {
         snprintf(error->native_code, sizeof error->native_code, "%s", sqlstate);
      }
      if (status == FERRET_ERR_UNAVAILABLE) {
         snprintf(error->message, sizeof error->message,
                  "postgresql unavailable during %.150s: %.300s", what, message);
      } else {
         snprintf(error->message, sizeof error->message, "%.200s: %.300s", what, message);
      }
   }
   return status;
}

void
conn_prepared_clear(ferret_session_t *session)
{
   for (size_t i = 0; i < PG_PREPARED_SIZE; i++) {
      free(session->prepared[i].sql);
      session->prepared[i].sql = NULL;
   }
}

ferret_status_t
conn_exec_prepared(ferret_session_t *session, const char *what, const char *sql,
                   const pg_params_t *params, bool result_binary, PGresult **out,
                   ferret_error_t *error)
{
   pg_prepared_t *slot = NULL;
   char name[32];
   PGresult *res = NULL; /* owned; transfers to *out on success */
   ferret_status_t status;

   if (out != NULL) {
      *out = NULL;
   }
   for (size_t i = 0; i < PG_PREPARED_SIZE; i++) {
      pg_prepared_t *p = &session->prepared[i];
      if (p->sql != NULL && strcmp(p->sql, sql) == 0) {
         slot = p;
         break;
      }
      if (slot == NULL || p->sql == NULL || (slot->sql != NULL && p->used < slot->used)) {
         slot = p;
      }
   }
   if (slot->sql == NULL || strcmp(slot->sql, sql) != 0) {
      /* Preparing (and deallocating an evicted statement) only outside a transaction: a
       * failure there would abort the caller's transaction for a cache's sake. */
      if (PQstatus(session->conn) != CONNECTION_OK ||
          PQtransactionStatus(session->conn) != PQTRANS_IDLE) {
         return conn_exec(session, what, sql, params, result_binary, out, error);
      }
      if (slot->sql != NULL) {
         /* Full: start over. DEALLOCATE ALL also drops statements forgotten after a failure,
          * and a working set beyond the cache is rare (many collections at once). */
         PQclear(PQexec(session->conn, "DEALLOCATE ALL"));
         conn_prepared_clear(session);
      }
      slot->id = ++session->prepared_next_id;
      snprintf(name, sizeof name, "ferret_p%u", slot->id);
      res = PQprepare(session->conn, name, sql, params->count, NULL);
      status = conn_check_result(session->conn, res, what, error);
      PQclear(res);
      res = NULL;
      if (status != FERRET_OK) {
         if (session->txn == PG_TXN_ACTIVE && PQstatus(session->conn) != CONNECTION_OK) {
            session->txn = PG_TXN_BROKEN;
         }
         return status;
      }
      slot->sql = strdup(sql);
      if (slot->sql == NULL) {
         /* The server keeps the statement under a name we forget: harmless until reset. */
         return conn_exec(session, what, sql, params, result_binary, out, error);
      }
   }
   slot->used = ++session->prepared_clock;
   snprintf(name, sizeof name, "ferret_p%u", slot->id);
   res = PQexecPrepared(session->conn, name, params->count, params->values, params->lengths,
                        params->formats, result_binary ? 1 : 0);
   status = conn_check_result(session->conn, res, what, error);
   if (status != FERRET_OK) {
      if (session->txn == PG_TXN_ACTIVE && PQstatus(session->conn) != CONNECTION_OK) {
         session->txn = PG_TXN_BROKEN;
      }
      /* A failed statement may be one the server no longer knows (a reset we did not see):
       * forget it so that the next call prepares again. */
      free(slot->sql);
      slot->sql = NULL;
   } else if (out != NULL) {
      *out = res;
      res = NULL;
   }
   PQclear(res);
   return status;
}
