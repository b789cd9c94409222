/*
 * error.h: the core's one error type, carrying a MongoDB error code (docs/rfc/0003-errors.md).
 */
#ifndef FE_ERROR_H
#define FE_ERROR_H

#include <stdbool.h>
#include <stdint.h>

#include <ferret/backend.h>

enum {
#define FE_ERROR_CODE(code, name) FE_##name = code,
#include "error_codes.def"
#undef FE_ERROR_CODE
};

/* Caller storage, usually on the stack; never freed. code 0 means no error. */
typedef struct fe_error {
   int32_t code;
   char message[512];
} fe_error_t;

/* Sets *error (when not NULL) and returns false, so that a failing function can end with
 * `return error_set(error, FE_BadValue, "unknown operator: '%s'", name);`. */
bool error_set(fe_error_t *error, int32_t code, const char *format, ...)
   __attribute__((format(printf, 3, 4)));

/* Clears *error (when not NULL). */
void error_clear(fe_error_t *error);

/* The codeName of a MongoDB error code: "BadValue" for 2, "Location51024" for an assertion code
 * without a name. The string is static or the calling thread's, valid until its next call. */
const char *error_code_name(int32_t code);

/* The one mapping from a backend status to a MongoDB error code. */
int32_t error_from_backend_status(ferret_status_t status);

/* Sets *error from a failed backend call: the status's code and the backend's message, prefixed
 * with the backend's name. Returns false. */
bool error_set_from_backend(fe_error_t *error, const char *backend_name, ferret_status_t status,
                            const ferret_error_t *backend_error);

#endif /* FE_ERROR_H */
