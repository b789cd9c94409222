/*
 * log.h: the server log: one line per call to stderr, thread-safe.
 */
#ifndef FE_LOG_H
#define FE_LOG_H

#include <stdarg.h>

/* Same values as ferret_log_level_t, so backend log calls pass straight through. */
typedef enum log_level {
   LOG_DEBUG = 0,
   LOG_INFO = 1,
   LOG_WARNING = 2,
   LOG_ERROR = 3,
} log_level_t;

/* Lines below this level are dropped. Set once at startup, before workers start. */
void log_set_level(log_level_t level);

void log_write(log_level_t level, const char *component, const char *format, ...)
   __attribute__((format(printf, 3, 4)));
void log_writev(log_level_t level, const char *component, const char *format, va_list args);

#endif /* FE_LOG_H */
