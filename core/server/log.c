/*
 * log.c: the server log. Each line is formatted in full first and written with one write(2),
 * so lines from several workers never interleave.
 */
#include "server/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* The one mutable file-scope variable outside fe_server_t: the log must work before the
 * server exists and from backends that only hold the host table. */
static _Atomic int min_level = LOG_INFO;

static const char *const level_names[] = {"D", "I", "W", "E"};

void
log_set_level(log_level_t level)
{
   atomic_store(&min_level, (int) level);
}

void
log_write(log_level_t level, const char *component, const char *format, ...)
{
   va_list args;
   va_start(args, format);
   log_writev(level, component, format, args);
   va_end(args);
}

void
log_writev(log_level_t level, const char *component, const char *format, va_list args)
{
   char line[2048];
   struct timeval now;
   struct tm tm;
   int used;

   if ((int) level < atomic_load(&min_level)) {
      return;
   }
   if (level > LOG_ERROR) {
      level = LOG_ERROR;
   }
   gettimeofday(&now, NULL);
   gmtime_r(&now.tv_sec, &tm);
   used = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %-8s ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   (int) (now.tv_usec / 1000), level_names[level], component ? component : "-");
   if (used < 0 || (size_t) used >= sizeof line) {
      return;
   }
   vsnprintf(line + used, sizeof line - (size_t) used, format, args);
   used = (int) strlen(line);
   if ((size_t) used >= sizeof line - 1) {
      used = (int) sizeof line - 2;
   }
   line[used++] = '\n';
   /* Nothing useful can be done when stderr is gone. */
   if (write(STDERR_FILENO, line, (size_t) used) < 0) {
      return;
   }
}
