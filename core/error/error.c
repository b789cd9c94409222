/*
 * error.c: fe_error_t, MongoDB code names and the backend status mapping
 * (docs/rfc/0003-errors.md).
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct code_name {
   int32_t code;
   const char *name;
} code_name_t;

static const code_name_t code_names[] = {
#define FE_ERROR_CODE(code, name) {code, #name},
#include "error_codes.def"
#undef FE_ERROR_CODE
};

static int compare_code(const void *key, const void *entry);

bool
error_set(fe_error_t *error, int32_t code, const char *format, ...)
{
   if (error) {
      va_list args;
      error->code = code;
      va_start(args, format);
      vsnprintf(error->message, sizeof error->message, format, args);
      va_end(args);
   }
   return false;
}

void
error_clear(fe_error_t *error)
{
   if (error) {
      error->code = 0;
      error->message[0] = '\0';
   }
}

const char *
error_code_name(int32_t code)
{
   const code_name_t *found = bsearch(&code, code_names, sizeof code_names / sizeof code_names[0],
                                      sizeof code_names[0], compare_code);
   /* mongod names every code its error_codes.yml does not list "Location<code>". */
   static _Thread_local char location[24];

   if (found) {
      return found->name;
   }
   snprintf(location, sizeof location, "Location%d", code);
   return location;
}

int32_t
error_from_backend_status(ferret_status_t status)
{
   switch (status) {
   case FERRET_OK:
      return 0;
   case FERRET_ERR_NAMESPACE_NOT_FOUND:
      return FE_NamespaceNotFound;
   case FERRET_ERR_NAMESPACE_EXISTS:
      return FE_NamespaceExists;
   case FERRET_ERR_DUPLICATE_KEY:
      return FE_DuplicateKey;
   case FERRET_ERR_INVALID_NAME:
      return FE_InvalidNamespace;
   case FERRET_ERR_UNSUPPORTED:
      return FE_CommandNotSupported;
   case FERRET_ERR_TOO_LARGE:
      return FE_BSONObjectTooLarge;
   case FERRET_ERR_UNAVAILABLE:
      return FE_HostUnreachable;
   case FERRET_ERR_NO_MEMORY:
      return FE_ExceededMemoryLimit;
   case FERRET_ERR_WRITE_CONFLICT:
      return FE_WriteConflict;
   case FERRET_ERR_PLAN_UNUSABLE:
   case FERRET_ERR_INTERNAL:
      break;
   }
   return FE_InternalError;
}

bool
error_set_from_backend(fe_error_t *error, const char *backend_name, ferret_status_t status,
                       const ferret_error_t *backend_error)
{
   const char *message =
      backend_error && backend_error->message[0] ? backend_error->message : "backend failed";
   return error_set(error, error_from_backend_status(status), "%s: %s", backend_name, message);
}

static int
compare_code(const void *key, const void *entry)
{
   int32_t code = *(const int32_t *) key;
   int32_t other = ((const code_name_t *) entry)->code;
   return (code > other) - (code < other);
}
