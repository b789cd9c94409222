/*
 * names.c: the file name of a database (docs/rfc/0005-sqlite-layout.md).
 *
 * A database name becomes "<encoded>.sqlite" where every byte outside [a-z0-9_-] is written
 * as %XX with uppercase hex. Upper-case letters are encoded too, so "Foo" and "foo" stay two
 * files on a case-insensitive filesystem ("%46oo.sqlite", "foo.sqlite"); '.', '/' and '%'
 * never appear raw, so the encoding is reversible and no name can escape data_dir.
 */
#include "sqlite_int.h"

#include <string.h>

#define SQ_SUFFIX ".sqlite"

static bool is_plain(unsigned char c);
static int hex_value(char c);

bool
names_encode_db(const char *db, char *out, size_t out_size)
{
   static const char hex[] = "0123456789ABCDEF";
   size_t n = 0;

   if (!db[0]) {
      return false;
   }
   for (const unsigned char *p = (const unsigned char *) db; *p; p++) {
      if (is_plain(*p)) {
         if (n + 1 >= out_size) {
            return false;
         }
         out[n++] = (char) *p;
      } else {
         if (n + 3 >= out_size) {
            return false;
         }
         out[n++] = '%';
         out[n++] = hex[*p >> 4];
         out[n++] = hex[*p & 15];
      }
   }
   if (n + sizeof SQ_SUFFIX > out_size) {
      return false;
   }
   memcpy(out + n, SQ_SUFFIX, sizeof SQ_SUFFIX);
   return true;
}

bool
names_decode_db(const char *file_name, char *out, size_t out_size)
{
   size_t len = strlen(file_name);
   size_t suffix = sizeof SQ_SUFFIX - 1;
   size_t n = 0;

   if (len <= suffix || strcmp(file_name + len - suffix, SQ_SUFFIX) != 0) {
      return false;
   }
   len -= suffix;
   for (size_t i = 0; i < len; i++) {
      unsigned char c = (unsigned char) file_name[i];
      if (n + 1 >= out_size) {
         return false;
      }
      if (c == '%') {
         int hi, lo;
         /* Only the exact form we write decodes, so each name has one file. */
         if (i + 2 >= len) {
            return false;
         }
         hi = hex_value(file_name[i + 1]);
         lo = hex_value(file_name[i + 2]);
         if (hi < 0 || lo < 0) {
            return false;
         }
         c = (unsigned char) (hi << 4 | lo);
         if (c == 0 || is_plain(c)) {
            return false;
         }
         out[n++] = (char) c;
         i += 2;
      } else if (is_plain(c)) {
         out[n++] = (char) c;
      } else {
         return false;
      }
   }
   out[n] = '\0';
   return n > 0;
}

static bool
is_plain(unsigned char c)
{
   return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Uppercase hex only: "%2e" is not ours. */
static int
hex_value(char c)
{
   if (c >= '0' && c <= '9') {
      return c - '0';
   }
   if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
   }
   return -1;
}
