/*
 * expr_date.c: the date aggregation expressions ($year ... $millisecond, $week, $isoWeek,
 * $isoWeekYear, $isoDayOfWeek, $dateToString, $dateFromString, $dateToParts, $dateFromParts,
 * $dateAdd, $dateSubtract, $dateDiff, $dateTrunc) with MongoDB's argument checks and codes.
 *
 * Time zones. An Olson name is read from the system tz database as a TZif file
 * (/usr/share/zoneinfo/<name>, RFC 8536) and its POSIX TZ footer for instants after the last
 * listed transition; offsets "+hh", "+hhmm" and "+hh:mm" are fixed zones. We parse the files
 * ourselves rather than setenv("TZ") + localtime_r(): TZ is process-wide state and the
 * workers evaluate expressions concurrently. A constant timezone argument is loaded once,
 * when the expression is compiled; one computed per document is loaded per evaluation.
 *
 * Dates are int64 milliseconds since the epoch (negative before 1970). The calendar is the
 * proleptic Gregorian one, computed with days_from_civil()/civil_from_days() (H. Hinnant),
 * so no time_t or struct tm range limits apply.
 */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/expr_int.h"
#include "query/expr_value_int.h"
#include "query/update_int.h"

#define MS_PER_DAY INT64_C(86400000)
#define ZONEINFO_DIR "/usr/share/zoneinfo"

/* A POSIX TZ rule's transition day: Jn, n or Mm.w.d, plus the time of day in seconds. */
typedef struct tz_rule_day {
   char kind; /* 'J', 'n' or 'M' */
   int m, w, d;
   int32_t secs;
} tz_rule_day_t;

/* A time zone: fixed (an offset) or TZif transitions followed by an optional POSIX rule. */
typedef struct tz_zone {
   int64_t *times; /* owned; transition instants, seconds since the epoch, ascending */
   uint8_t *idx;   /* owned; the type in force from times[i] */
   int32_t *utoff; /* owned; each type's offset east of UTC in seconds */
   size_t n_times;
   size_t n_types;
   int32_t fixed; /* the offset when n_types == 0 */
   bool has_rule; /* the footer: after the last transition */
   int32_t std_off, dst_off;
   bool rule_dst;
   tz_rule_day_t start, end;
   bool utc; /* UTC or an offset of zero: for $dateToString's default format */
} tz_zone_t;

/* A local time broken down. */
typedef struct dt_parts {
   int64_t year;
   int month, day, hour, minute, second, millis;
   int wday; /* 0 Sunday .. 6 Saturday */
   int yday; /* 0-based */
} dt_parts_t;

typedef enum unit {
   UNIT_YEAR,
   UNIT_QUARTER,
   UNIT_MONTH,
   UNIT_WEEK,
   UNIT_DAY,
   UNIT_HOUR,
   UNIT_MINUTE,
   UNIT_SECOND,
   UNIT_MILLISECOND,
} unit_t;

/* Calendar. */
static int64_t floor_div(int64_t a, int64_t b);
static int64_t days_from_civil(int64_t y, int m, int d);
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d);
static bool is_leap(int64_t y);
static int days_in_month(int64_t y, int m);
static void split_local(int64_t local_ms, dt_parts_t *p);
static void iso_week(const dt_parts_t *p, int64_t *iso_year, int *week, int *iso_wday);

/* Time zones. */
static void zone_free(void *zone);
static bool zone_load(const char *name, tz_zone_t **zone, fe_error_t *error);
static int32_t zone_offset(const tz_zone_t *z, int64_t utc_ms);
static int64_t zone_to_utc(const tz_zone_t *z, int64_t local_ms);

/* Arguments. */
static fe_expr_t *parse_object(const op_def_t *op, const bson_iter_t *operand,
                               const char *const *names, size_t n, int32_t object_code,
                               int32_t unknown_code, fe_error_t *error);
static void prepare_zone(fe_expr_t *e, size_t tz_arg);
static bool eval_zone(const fe_expr_t *e, size_t tz_arg, eval_ctx_t *c, const tz_zone_t **zone,
                      tz_zone_t **owned, bool *null, int32_t tz_code);
static bool date_millis(const bson_value_t *v, int64_t *ms);
static bool parse_unit(const bson_value_t *v, const char *opname, unit_t *unit, eval_ctx_t *c);
static bool parse_week_start(const bson_value_t *v, const char *opname, int *wday, eval_ctx_t *c);

static const char *const month_names[] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};
static const char *const day_names[] = {"sunday",   "monday", "tuesday", "wednesday",
                                        "thursday", "friday", "saturday"};

/*
 * Date parts: $year {date, timezone} or $year <date>
 */

fe_expr_t *
expr_date_parse_part(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"date", "timezone"};
   fe_expr_t *e;
   bson_iter_t sub;

   if (BSON_ITER_HOLDS_DOCUMENT(operand)) {
      bson_iter_recurse(operand, &sub);
      if (!bson_iter_next(&sub) || bson_iter_key(&sub)[0] != '$') {
         bson_iter_recurse(operand, &sub);
         while (bson_iter_next(&sub)) {
            if (strcmp(bson_iter_key(&sub), "date") != 0 &&
                strcmp(bson_iter_key(&sub), "timezone") != 0) {
               error_set(error, 40535, "unrecognized option to %s: \"%s\"", op->name,
                         bson_iter_key(&sub));
               return NULL;
            }
         }
         e = parse_object(op, operand, names, 2, 40535, 40535, error);
         if (e && !e->args[0]) {
            error_set(error, 40539, "missing 'date' argument to %s", op->name);
            expr_destroy(e);
            return NULL;
         }
         if (e) {
            prepare_zone(e, 1);
         }
         return e;
      }
   }
   if (BSON_ITER_HOLDS_ARRAY(operand)) {
      size_t n = 0;
      bson_iter_recurse(operand, &sub);
      while (bson_iter_next(&sub)) {
         n++;
      }
      if (n != 1) {
         error_set(error, 40536,
                   "%s accepts exactly one argument if given an array, but was given %zu", op->name,
                   n);
         return NULL;
      }
      bson_iter_recurse(operand, &sub);
      bson_iter_next(&sub);
      operand = &sub;
   }
   e = expr_node_new(KIND_OP);
   e->op = op;
   e->args = bson_malloc0(sizeof *e->args * 2);
   e->n_args = 2;
   if (!(e->args[0] = expr_compile(operand, error))) {
      expr_destroy(e);
      return NULL;
   }
   return e;
}

bool
expr_date_part(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   const char *name = e->op->name;
   const tz_zone_t *zone = NULL;
   tz_zone_t *owned = NULL;
   bson_value_t date;
   dt_parts_t p;
   int64_t ms, iso_year;
   int week, iso_wday, v = 0;
   bool null = false, ok = false;

   memset(out, 0, sizeof *out);
   if (!expr_eval_node(e->args[0], c, &date)) {
      return false;
   }
   if (!eval_zone(e, 1, c, &zone, &owned, &null, 40517)) {
      goto done;
   }
   if (null || expr_val_nullish(&date)) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   if (!date_millis(&date, &ms)) {
      error_set(c->error, 16006, "can't convert from BSON type %s to Date",
                expr_val_type_name(&date));
      goto done;
   }
   split_local(ms + (int64_t) zone_offset(zone, ms) * 1000, &p);
   iso_week(&p, &iso_year, &week, &iso_wday);
   if (strcmp(name, "$year") == 0) {
      v = (int) p.year;
   } else if (strcmp(name, "$month") == 0) {
      v = p.month;
   } else if (strcmp(name, "$dayOfMonth") == 0) {
      v = p.day;
   } else if (strcmp(name, "$dayOfWeek") == 0) {
      v = p.wday + 1;
   } else if (strcmp(name, "$dayOfYear") == 0) {
      v = p.yday + 1;
   } else if (strcmp(name, "$hour") == 0) {
      v = p.hour;
   } else if (strcmp(name, "$minute") == 0) {
      v = p.minute;
   } else if (strcmp(name, "$second") == 0) {
      v = p.second;
   } else if (strcmp(name, "$millisecond") == 0) {
      v = p.millis;
   } else if (strcmp(name, "$week") == 0) {
      v = (p.yday + 7 - p.wday) / 7;
   } else if (strcmp(name, "$isoWeek") == 0) {
      v = week;
   } else if (strcmp(name, "$isoWeekYear") == 0) {
      v = (int) iso_year;
   } else {
      v = iso_wday;
   }
   expr_val_int32(out, v);
   ok = true;

done:
   zone_free(owned);
   bson_value_destroy(&date);
   return ok;
}

/*
 * $dateToString {date, format, timezone, onNull}
 */

enum { TS_DATE, TS_FORMAT, TS_TIMEZONE, TS_ONNULL };

fe_expr_t *
expr_date_parse_to_string(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"date", "format", "timezone", "onNull"};
   fe_expr_t *e = parse_object(op, operand, names, 4, 18629, 18534, error);
   const bson_value_t *format;

   if (!e) {
      return NULL;
   }
   if (!e->args[TS_DATE]) {
      error_set(error, 18628, "Missing 'date' parameter to $dateToString");
      expr_destroy(e);
      return NULL;
   }
   /* A constant format is checked when compiling, as MongoDB does. */
   if (e->args[TS_FORMAT] && expr_is_constant(e->args[TS_FORMAT], &format)) {
      if (format->value_type == BSON_TYPE_UTF8) {
         const char *f = format->value.v_utf8.str;
         for (size_t i = 0; i < format->value.v_utf8.len; i++) {
            if (f[i] != '%') {
               continue;
            }
            if (i + 1 == format->value.v_utf8.len) {
               error_set(error, 18535, "Unmatched '%%' at end of format string");
               expr_destroy(e);
               return NULL;
            }
            if (!strchr("bBdGHjLmMSuUVwYzZ%", f[i + 1])) {
               error_set(error, 18536, "Invalid format character '%%%c' in format string",
                         f[i + 1]);
               expr_destroy(e);
               return NULL;
            }
            i++;
         }
      } else if (format->value_type != BSON_TYPE_NULL) {
         error_set(error, 18533, "$dateToString requires that 'format' be a string, found: %s",
                   expr_val_type_name(format));
         expr_destroy(e);
         return NULL;
      }
   }
   prepare_zone(e, TS_TIMEZONE);
   return e;
}

/* Appends the date formatted by format to buf (a bson_string_t). */
static bool
format_date(const char *format, size_t len, int64_t ms, const tz_zone_t *zone, bson_string_t *buf,
            fe_error_t *error)
{
   int32_t off = zone_offset(zone, ms);
   dt_parts_t p;
   int64_t iso_year;
   int week, iso_wday;

   split_local(ms + (int64_t) off * 1000, &p);
   iso_week(&p, &iso_year, &week, &iso_wday);
   for (size_t i = 0; i < len; i++) {
      char ch = format[i];
      if (ch != '%') {
         bson_string_append_c(buf, ch);
         continue;
      }
      if (++i == len) {
         return error_set(error, 18535, "Unmatched '%%' at end of format string");
      }
      switch (format[i]) {
      case 'Y':
      case 'G': {
         int64_t y = format[i] == 'Y' ? p.year : iso_year;
         if (y < 0 || y > 9999) {
            return error_set(error, 18537,
                             "Could not convert date to string: date component was outside "
                             "the supported range of 0-9999: %lld",
                             (long long) y);
         }
         bson_string_append_printf(buf, "%04d", (int) y);
         break;
      }
      case 'm':
         bson_string_append_printf(buf, "%02d", p.month);
         break;
      case 'd':
         bson_string_append_printf(buf, "%02d", p.day);
         break;
      case 'H':
         bson_string_append_printf(buf, "%02d", p.hour);
         break;
      case 'M':
         bson_string_append_printf(buf, "%02d", p.minute);
         break;
      case 'S':
         bson_string_append_printf(buf, "%02d", p.second);
         break;
      case 'L':
         bson_string_append_printf(buf, "%03d", p.millis);
         break;
      case 'j':
         bson_string_append_printf(buf, "%03d", p.yday + 1);
         break;
      case 'w':
         bson_string_append_printf(buf, "%d", p.wday + 1);
         break;
      case 'u':
         bson_string_append_printf(buf, "%d", iso_wday);
         break;
      case 'U':
         bson_string_append_printf(buf, "%02d", (p.yday + 7 - p.wday) / 7);
         break;
      case 'V':
         bson_string_append_printf(buf, "%02d", week);
         break;
      case 'b':
         bson_string_append_printf(buf, "%.3s", month_names[p.month - 1]);
         break;
      case 'B':
         bson_string_append(buf, month_names[p.month - 1]);
         break;
      case 'z':
         bson_string_append_printf(buf, "%c%02d%02d", off < 0 ? '-' : '+', abs(off) / 3600,
                                   abs(off) / 60 % 60);
         break;
      case 'Z':
         bson_string_append_printf(buf, "%c%d", off < 0 ? '-' : '+', abs(off) / 60);
         break;
      case '%':
         bson_string_append_c(buf, '%');
         break;
      default:
         return error_set(error, 18536, "Invalid format character '%%%c' in format string",
                          format[i]);
      }
   }
   return true;
}

bool
expr_date_to_string(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t vals[4];
   const tz_zone_t *zone = NULL;
   tz_zone_t *owned = NULL;
   bson_string_t *buf = NULL;
   const char *format;
   size_t format_len;
   int64_t ms;
   bool null = false, ok = false;

   memset(out, 0, sizeof *out);
   memset(vals, 0, sizeof vals);
   if (!expr_eval_arg(e, TS_DATE, c, &vals[TS_DATE]) ||
       !expr_eval_arg(e, TS_FORMAT, c, &vals[TS_FORMAT])) {
      goto done;
   }
   if (e->args[TS_FORMAT]) {
      if (expr_val_nullish(&vals[TS_FORMAT])) {
         null = true;
      } else if (vals[TS_FORMAT].value_type != BSON_TYPE_UTF8) {
         error_set(c->error, 18533, "$dateToString requires that 'format' be a string, found: %s",
                   expr_val_type_name(&vals[TS_FORMAT]));
         goto done;
      }
   }
   if (!eval_zone(e, TS_TIMEZONE, c, &zone, &owned, &null, 40517)) {
      goto done;
   }
   if (expr_val_nullish(&vals[TS_DATE])) {
      ok = e->args[TS_ONNULL] ? expr_eval_arg(e, TS_ONNULL, c, out) : (expr_val_null(out), true);
      goto done;
   }
   if (null) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   if (!date_millis(&vals[TS_DATE], &ms)) {
      error_set(c->error, 16006, "can't convert from BSON type %s to Date",
                expr_val_type_name(&vals[TS_DATE]));
      goto done;
   }
   if (e->args[TS_FORMAT]) {
      format = vals[TS_FORMAT].value.v_utf8.str;
      format_len = vals[TS_FORMAT].value.v_utf8.len;
   } else {
      format = zone->utc ? "%Y-%m-%dT%H:%M:%S.%LZ" : "%Y-%m-%dT%H:%M:%S.%L";
      format_len = strlen(format);
   }
   buf = bson_string_new(NULL);
   if (!format_date(format, format_len, ms, zone, buf, c->error)) {
      goto done;
   }
   out->value_type = BSON_TYPE_UTF8;
   out->value.v_utf8.len = buf->len;
   out->value.v_utf8.str = bson_string_free(buf, false);
   buf = NULL;
   ok = true;

done:
   if (buf) {
      bson_string_free(buf, true);
   }
   zone_free(owned);
   for (size_t i = 0; i < 4; i++) {
      bson_value_destroy(&vals[i]);
   }
   return ok;
}

/*
 * $dateFromString {dateString, format, timezone, onError, onNull}
 */

enum { FS_STRING, FS_FORMAT, FS_TIMEZONE, FS_ONERROR, FS_ONNULL };

fe_expr_t *
expr_date_parse_from_string(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"dateString", "format", "timezone", "onError", "onNull"};
   fe_expr_t *e = parse_object(op, operand, names, 5, 40540, 40541, error);

   if (e && !e->args[FS_STRING]) {
      error_set(error, 40542, "Missing 'dateString' parameter to $dateFromString");
      expr_destroy(e);
      return NULL;
   }
   if (e) {
      prepare_zone(e, FS_TIMEZONE);
   }
   return e;
}

/* The fields a date string sets; unset ones take their defaults. */
typedef struct parsed_date {
   int64_t year;
   int month, day, hour, minute, second, millis;
   bool has_year, has_iso, has_yday;
   int64_t iso_year;
   int iso_week, iso_wday, yday;
   bool has_offset;
   int32_t offset; /* seconds east of UTC */
   char zone_name[64];
} parsed_date_t;

static bool
read_int(const char **s, int min_digits, int max_digits, int64_t *out)
{
   int64_t v = 0;
   int n = 0;
   while (n < max_digits && isdigit((unsigned char) (*s)[n])) {
      v = v * 10 + ((*s)[n] - '0');
      n++;
   }
   if (n < min_digits) {
      return false;
   }
   *s += n;
   *out = v;
   return true;
}

/* Reads "+hh", "+hhmm" or "+hh:mm" (minutes_only: "+mmm", %Z) into *off in seconds. */
static bool
read_offset(const char **s, bool minutes_only, int32_t *off)
{
   int sign;
   int64_t h, m = 0;
   if (**s != '+' && **s != '-') {
      return false;
   }
   sign = **s == '-' ? -1 : 1;
   (*s)++;
   if (minutes_only) {
      if (!read_int(s, 1, 4, &m)) {
         return false;
      }
      *off = (int32_t) (sign * m * 60);
      return true;
   }
   if (!read_int(s, 2, 2, &h)) {
      return false;
   }
   if (**s == ':') {
      (*s)++;
      if (!read_int(s, 2, 2, &m)) {
         return false;
      }
   } else if (isdigit((unsigned char) **s)) {
      if (!read_int(s, 2, 2, &m)) {
         return false;
      }
   }
   *off = (int32_t) (sign * (h * 3600 + m * 60));
   return true;
}

static bool
read_month_name(const char **s, int *month)
{
   for (int m = 0; m < 12; m++) {
      size_t full = strlen(month_names[m]);
      if (strncasecmp(*s, month_names[m], full) == 0) {
         *s += full;
         *month = m + 1;
         return true;
      }
      if (strncasecmp(*s, month_names[m], 3) == 0) {
         *s += 3;
         *month = m + 1;
         return true;
      }
   }
   return false;
}

/* Parses s by format ($dateFromString's specifiers). */
static bool
parse_with_format(const char *s, const char *format, parsed_date_t *pd, const char **why)
{
   int64_t v;
   for (const char *f = format; *f; f++) {
      if (*f != '%') {
         if (*s != *f) {
            *why = "format literal not found";
            return false;
         }
         s++;
         continue;
      }
      f++;
      switch (*f) {
      case 'Y':
         if (!read_int(&s, 4, 4, &pd->year)) {
            goto bad;
         }
         pd->has_year = true;
         break;
      case 'G':
         if (!read_int(&s, 4, 4, &pd->iso_year)) {
            goto bad;
         }
         pd->has_iso = true;
         break;
      case 'm':
      case 'd':
      case 'H':
      case 'M':
      case 'S':
      case 'V':
         if (!read_int(&s, 1, 2, &v)) {
            goto bad;
         }
         if (*f == 'm') {
            pd->month = (int) v;
         } else if (*f == 'd') {
            pd->day = (int) v;
         } else if (*f == 'H') {
            pd->hour = (int) v;
         } else if (*f == 'M') {
            pd->minute = (int) v;
         } else if (*f == 'S') {
            pd->second = (int) v;
         } else {
            pd->iso_week = (int) v;
            pd->has_iso = true;
         }
         break;
      case 'L': {
         const char *start = s;
         if (!read_int(&s, 1, 3, &v)) {
            goto bad;
         }
         for (long n = s - start; n < 3; n++) {
            v *= 10;
         }
         pd->millis = (int) v;
         break;
      }
      case 'j':
         if (!read_int(&s, 1, 3, &v)) {
            goto bad;
         }
         pd->yday = (int) v;
         pd->has_yday = true;
         break;
      case 'u':
         if (!read_int(&s, 1, 1, &v)) {
            goto bad;
         }
         pd->iso_wday = (int) v;
         pd->has_iso = true;
         break;
      case 'b':
      case 'B':
         if (!read_month_name(&s, &pd->month)) {
            goto bad;
         }
         break;
      case 'z':
      case 'Z':
         if (!read_offset(&s, *f == 'Z', &pd->offset)) {
            goto bad;
         }
         pd->has_offset = true;
         break;
      case '%':
         if (*s != '%') {
            goto bad;
         }
         s++;
         break;
      default:
         *why = "invalid format character";
         return false;
      }
   }
   if (*s) {
      *why = "trailing data";
      return false;
   }
   return true;

bad:
   *why = "unexpected data";
   return false;
}

/* Parses the ISO 8601 forms MongoDB's default parser takes most often: a date
 * (YYYY-MM-DD or YYYY/MM/DD), optionally a time ([T ]HH:MM[:SS[.fff]]), optionally a zone
 * (Z, +hh[:mm], or a space and an Olson name / UTC / GMT). */
static bool
parse_iso(const char *s, parsed_date_t *pd, const char **why)
{
   int64_t v;
   char sep;

   *why = "unexpected data";
   while (*s == ' ') {
      s++;
   }
   if (!read_int(&s, 4, 4, &pd->year)) {
      return false;
   }
   pd->has_year = true;
   sep = *s;
   if (sep != '-' && sep != '/') {
      return false;
   }
   s++;
   if (!read_int(&s, 1, 2, &v)) {
      return false;
   }
   pd->month = (int) v;
   if (*s++ != sep || !read_int(&s, 1, 2, &v)) {
      return false;
   }
   pd->day = (int) v;
   if (*s == 'T' || (*s == ' ' && isdigit((unsigned char) s[1]))) {
      s++;
      if (!read_int(&s, 2, 2, &v)) {
         return false;
      }
      pd->hour = (int) v;
      if (*s++ != ':' || !read_int(&s, 2, 2, &v)) {
         return false;
      }
      pd->minute = (int) v;
      if (*s == ':') {
         s++;
         if (!read_int(&s, 2, 2, &v)) {
            return false;
         }
         pd->second = (int) v;
         if (*s == '.' || *s == ',') {
            const char *start = ++s;
            int64_t frac = 0;
            int n = 0;
            while (isdigit((unsigned char) *s)) {
               if (n < 3) {
                  frac = frac * 10 + (*s - '0');
                  n++;
               }
               s++;
            }
            if (s == start) {
               return false;
            }
            for (; n < 3; n++) {
               frac *= 10;
            }
            pd->millis = (int) frac;
         }
      }
   }
   if (*s == 'Z' && s[1] == '\0') {
      pd->has_offset = true;
      pd->offset = 0;
      s++;
   } else if (*s == '+' || *s == '-') {
      if (!read_offset(&s, false, &pd->offset)) {
         return false;
      }
      pd->has_offset = true;
   } else if (*s == ' ' && s[1]) {
      size_t len = strlen(s + 1);
      if (len >= sizeof pd->zone_name) {
         return false;
      }
      memcpy(pd->zone_name, s + 1, len + 1);
      s += len + 1;
   }
   if (*s) {
      *why = "trailing data";
      return false;
   }
   return true;
}

/* Checks the parsed fields and turns them into local milliseconds. */
static bool
parsed_to_local(const parsed_date_t *pd, int64_t *local, const char **why)
{
   int64_t days;

   if (pd->hour > 23 || pd->minute > 59 || pd->second > 59) {
      *why = "invalid time";
      return false;
   }
   if (pd->has_iso) {
      /* ISO week date: Monday of week 1 is the Monday on or before January 4th. */
      int64_t jan4 = days_from_civil(pd->iso_year, 1, 4);
      int jan4_wday = (int) ((jan4 % 7 + 10) % 7); /* 0 Monday */
      if (pd->iso_week < 1 || pd->iso_week > 53 || pd->iso_wday < 1 || pd->iso_wday > 7) {
         *why = "invalid ISO week date";
         return false;
      }
      days = jan4 - jan4_wday + (int64_t) (pd->iso_week - 1) * 7 + (pd->iso_wday - 1);
   } else if (pd->has_yday) {
      if (pd->yday < 1 || pd->yday > (is_leap(pd->year) ? 366 : 365)) {
         *why = "invalid day of year";
         return false;
      }
      days = days_from_civil(pd->year, 1, 1) + pd->yday - 1;
   } else {
      if (!pd->has_year) {
         *why = "no year";
         return false;
      }
      if (pd->month < 1 || pd->month > 12 || pd->day < 1 ||
          pd->day > days_in_month(pd->year, pd->month)) {
         *why = "invalid date";
         return false;
      }
      days = days_from_civil(pd->year, pd->month, pd->day);
   }
   *local = days * MS_PER_DAY + pd->hour * INT64_C(3600000) + pd->minute * INT64_C(60000) +
            pd->second * INT64_C(1000) + pd->millis;
   return true;
}

bool
expr_date_from_string(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t vals[5];
   const tz_zone_t *zone = NULL;
   tz_zone_t *owned = NULL, *named = NULL;
   parsed_date_t pd;
   const char *why = NULL;
   int64_t local, ms;
   bool null = false, ok = false, parse_error = false;

   memset(out, 0, sizeof *out);
   memset(vals, 0, sizeof vals);
   memset(&pd, 0, sizeof pd);
   pd.month = 1;
   pd.day = 1;
   if (!expr_eval_arg(e, FS_STRING, c, &vals[FS_STRING]) ||
       !expr_eval_arg(e, FS_FORMAT, c, &vals[FS_FORMAT])) {
      goto done;
   }
   if (!eval_zone(e, FS_TIMEZONE, c, &zone, &owned, &null, 40517)) {
      goto done;
   }
   if (e->args[FS_FORMAT]) {
      if (expr_val_nullish(&vals[FS_FORMAT])) {
         null = true;
      } else if (vals[FS_FORMAT].value_type != BSON_TYPE_UTF8) {
         error_set(c->error, 40684, "$dateFromString requires that 'format' be a string, found: %s",
                   expr_val_type_name(&vals[FS_FORMAT]));
         goto done;
      }
   }
   if (expr_val_nullish(&vals[FS_STRING])) {
      ok = e->args[FS_ONNULL] ? expr_eval_arg(e, FS_ONNULL, c, out) : (expr_val_null(out), true);
      goto done;
   }
   if (null) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   parse_error = true;
   if (vals[FS_STRING].value_type != BSON_TYPE_UTF8) {
      char *json = update_util_value_json(&vals[FS_STRING]);
      error_set(c->error, 241,
                "$dateFromString requires that 'dateString' be a string, found: %s with value %s",
                expr_val_type_name(&vals[FS_STRING]), json);
      bson_free(json);
      goto done;
   }
   if (e->args[FS_FORMAT] ? !parse_with_format(vals[FS_STRING].value.v_utf8.str,
                                               vals[FS_FORMAT].value.v_utf8.str, &pd, &why)
                          : !parse_iso(vals[FS_STRING].value.v_utf8.str, &pd, &why)) {
      error_set(c->error, 241, "Error parsing date string '%s'; %s",
                vals[FS_STRING].value.v_utf8.str, why);
      goto done;
   }
   if (!parsed_to_local(&pd, &local, &why)) {
      error_set(c->error, 241, "Error parsing date string '%s'; %s",
                vals[FS_STRING].value.v_utf8.str, why);
      goto done;
   }
   if (pd.zone_name[0]) {
      fe_error_t ignored;
      if (!zone_load(pd.zone_name, &named, &ignored)) {
         error_set(c->error, 241, "Error parsing date string '%s'; unknown time zone '%s'",
                   vals[FS_STRING].value.v_utf8.str, pd.zone_name);
         goto done;
      }
   }
   if ((pd.has_offset || named) && e->args[FS_TIMEZONE]) {
      error_set(c->error, 40554,
                "you cannot pass in a date/time string with time zone information ('%s') "
                "together with a timezone argument",
                vals[FS_STRING].value.v_utf8.str);
      goto done;
   }
   if (pd.has_offset) {
      ms = local - (int64_t) pd.offset * 1000;
   } else {
      ms = zone_to_utc(named ? named : zone, local);
   }
   expr_val_date(out, ms);
   ok = true;

done:
   if (!ok && parse_error && e->args[FS_ONERROR]) {
      memset(out, 0, sizeof *out);
      ok = expr_eval_arg(e, FS_ONERROR, c, out);
   }
   zone_free(owned);
   zone_free(named);
   for (size_t i = 0; i < 5; i++) {
      bson_value_destroy(&vals[i]);
   }
   return ok;
}

/*
 * $dateToParts {date, timezone, iso8601}
 */

fe_expr_t *
expr_date_parse_to_parts(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"date", "timezone", "iso8601"};
   fe_expr_t *e = parse_object(op, operand, names, 3, 40524, 40520, error);

   if (e && !e->args[0]) {
      error_set(error, 40522, "Missing 'date' parameter to $dateToParts");
      expr_destroy(e);
      return NULL;
   }
   if (e) {
      prepare_zone(e, 1);
   }
   return e;
}

bool
expr_date_to_parts(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t date, iso;
   const tz_zone_t *zone = NULL;
   tz_zone_t *owned = NULL;
   bson_t doc = BSON_INITIALIZER;
   dt_parts_t p;
   int64_t ms, iso_year;
   int week, iso_wday;
   bool null = false, ok = false;
   uint32_t len;

   memset(out, 0, sizeof *out);
   memset(&iso, 0, sizeof iso);
   if (!expr_eval_arg(e, 0, c, &date) || !expr_eval_arg(e, 2, c, &iso) ||
       !eval_zone(e, 1, c, &zone, &owned, &null, 40517)) {
      goto done;
   }
   if (e->args[2] && !expr_val_nullish(&iso) && iso.value_type != BSON_TYPE_BOOL) {
      error_set(c->error, 40521, "iso8601 must be a boolean value, found type: %s",
                expr_val_type_name(&iso));
      goto done;
   }
   if (null || expr_val_nullish(&date) || (e->args[2] && expr_val_nullish(&iso))) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   if (!date_millis(&date, &ms)) {
      error_set(c->error, 16006, "can't convert from BSON type %s to Date",
                expr_val_type_name(&date));
      goto done;
   }
   split_local(ms + (int64_t) zone_offset(zone, ms) * 1000, &p);
   if (iso.value_type == BSON_TYPE_BOOL && iso.value.v_bool) {
      iso_week(&p, &iso_year, &week, &iso_wday);
      BSON_APPEND_INT32(&doc, "isoWeekYear", (int32_t) iso_year);
      BSON_APPEND_INT32(&doc, "isoWeek", week);
      BSON_APPEND_INT32(&doc, "isoDayOfWeek", iso_wday);
   } else {
      BSON_APPEND_INT32(&doc, "year", (int32_t) p.year);
      BSON_APPEND_INT32(&doc, "month", p.month);
      BSON_APPEND_INT32(&doc, "day", p.day);
   }
   BSON_APPEND_INT32(&doc, "hour", p.hour);
   BSON_APPEND_INT32(&doc, "minute", p.minute);
   BSON_APPEND_INT32(&doc, "second", p.second);
   BSON_APPEND_INT32(&doc, "millisecond", p.millis);
   out->value_type = BSON_TYPE_DOCUMENT;
   out->value.v_doc.data = bson_destroy_with_steal(&doc, true, &len);
   out->value.v_doc.data_len = len;
   ok = true;

done:
   if (!ok) {
      bson_destroy(&doc);
   }
   zone_free(owned);
   bson_value_destroy(&date);
   bson_value_destroy(&iso);
   return ok;
}

/*
 * $dateFromParts {year|isoWeekYear, month|isoWeek, day|isoDayOfWeek, hour, minute, second,
 * millisecond, timezone}
 */

enum {
   FP_YEAR,
   FP_MONTH,
   FP_DAY,
   FP_ISO_YEAR,
   FP_ISO_WEEK,
   FP_ISO_DAY,
   FP_HOUR,
   FP_MINUTE,
   FP_SECOND,
   FP_MILLIS,
   FP_TIMEZONE,
   FP_N
};

fe_expr_t *
expr_date_parse_from_parts(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"year",    "month",        "day",     "isoWeekYear",
                                       "isoWeek", "isoDayOfWeek", "hour",    "minute",
                                       "second",  "millisecond",  "timezone"};
   fe_expr_t *e = parse_object(op, operand, names, FP_N, 40519, 40518, error);
   bool natural, iso;

   if (!e) {
      return NULL;
   }
   natural = e->args[FP_YEAR] || e->args[FP_MONTH] || e->args[FP_DAY];
   iso = e->args[FP_ISO_YEAR] || e->args[FP_ISO_WEEK] || e->args[FP_ISO_DAY];
   if (natural && iso) {
      error_set(error, 40489, "$dateFromParts does not allow mixing natural dates with ISO dates");
      goto fail;
   }
   if (!e->args[FP_YEAR] && !e->args[FP_ISO_YEAR]) {
      error_set(error, 40516,
                "$dateFromParts requires either 'year' or 'isoWeekYear' to be present");
      goto fail;
   }
   prepare_zone(e, FP_TIMEZONE);
   return e;

fail:
   expr_destroy(e);
   return NULL;
}

bool
expr_date_from_parts(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   static const char *const names[] = {"year",    "month",        "day",  "isoWeekYear",
                                       "isoWeek", "isoDayOfWeek", "hour", "minute",
                                       "second",  "millisecond"};
   bson_value_t v;
   int64_t part[FP_TIMEZONE];
   const tz_zone_t *zone = NULL;
   tz_zone_t *owned = NULL;
   bool null = false, ok = false, iso = e->args[FP_ISO_YEAR] != NULL;
   int64_t days, local;

   memset(out, 0, sizeof *out);
   for (size_t i = 0; i < FP_TIMEZONE; i++) {
      /* Defaults: month, day, isoWeek, isoDayOfWeek 1; the rest 0. */
      part[i] = i == FP_MONTH || i == FP_DAY || i == FP_ISO_WEEK || i == FP_ISO_DAY;
      if (!e->args[i]) {
         continue;
      }
      if (!expr_eval_arg(e, i, c, &v)) {
         goto done;
      }
      if (expr_val_nullish(&v)) {
         null = true;
      } else if (!expr_val_integral(&v, &part[i])) {
         char *json = update_util_value_json(&v);
         error_set(c->error, 40515, "'%s' must evaluate to an integer, found %s with value %s",
                   names[i], expr_val_type_name(&v), json);
         bson_free(json);
         bson_value_destroy(&v);
         goto done;
      } else if (i == FP_YEAR || i == FP_ISO_YEAR) {
         if (part[i] < 1 || part[i] > 9999) {
            error_set(c->error, i == FP_YEAR ? 40523 : 31095,
                      "'%s' must evaluate to an integer in the range 1 to 9999, found %lld",
                      names[i], (long long) part[i]);
            bson_value_destroy(&v);
            goto done;
         }
      } else if (part[i] < -32768 || part[i] > 32767) {
         error_set(c->error, 31034,
                   "'%s' must evaluate to a value in the range [-32768, 32767]; value %lld is not "
                   "in range",
                   names[i], (long long) part[i]);
         bson_value_destroy(&v);
         goto done;
      }
      bson_value_destroy(&v);
   }
   if (!eval_zone(e, FP_TIMEZONE, c, &zone, &owned, &null, 40517)) {
      goto done;
   }
   if (null) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   if (iso) {
      int64_t jan4 = days_from_civil(part[FP_ISO_YEAR], 1, 4);
      int jan4_wday = (int) ((jan4 % 7 + 10) % 7); /* 0 Monday */
      days = jan4 - jan4_wday + (part[FP_ISO_WEEK] - 1) * 7 + (part[FP_ISO_DAY] - 1);
   } else {
      /* Months carry into years, days into months, as MongoDB does. */
      int64_t months = part[FP_YEAR] * 12 + part[FP_MONTH] - 1;
      days = days_from_civil(floor_div(months, 12), (int) (months - floor_div(months, 12) * 12) + 1,
                             1) +
             part[FP_DAY] - 1;
   }
   local = days * MS_PER_DAY + part[FP_HOUR] * INT64_C(3600000) + part[FP_MINUTE] * INT64_C(60000) +
           part[FP_SECOND] * INT64_C(1000) + part[FP_MILLIS];
   expr_val_date(out, zone_to_utc(zone, local));
   ok = true;

done:
   zone_free(owned);
   return ok;
}

/*
 * $dateAdd / $dateSubtract {startDate, unit, amount, timezone}
 */

enum { DA_START, DA_UNIT, DA_AMOUNT, DA_TIMEZONE };

fe_expr_t *
expr_date_parse_add(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"startDate", "unit", "amount", "timezone"};
   fe_expr_t *e = parse_object(op, operand, names, 4, 5166400, 5166401, error);

   for (size_t i = 0; e && i < 3; i++) {
      if (!e->args[i]) {
         error_set(error, 5166402, "%s requires '%s' to be present", op->name, names[i]);
         expr_destroy(e);
         return NULL;
      }
   }
   if (e) {
      prepare_zone(e, DA_TIMEZONE);
   }
   return e;
}

/* Adds amount units to utc in zone; false on overflow. */
static bool
add_units(int64_t utc, unit_t unit, int64_t amount, const tz_zone_t *zone, int64_t *result)
{
   static const int64_t unit_ms[] = {0, 0, 0, 7 * MS_PER_DAY, MS_PER_DAY, 3600000, 60000, 1000, 1};
   int64_t local, months, delta;
   dt_parts_t p;

   if (unit >= UNIT_HOUR) {
      if (__builtin_mul_overflow(amount, unit_ms[unit], &delta) ||
          __builtin_add_overflow(utc, delta, result)) {
         return false;
      }
      return true;
   }
   local = utc + (int64_t) zone_offset(zone, utc) * 1000;
   if (unit == UNIT_DAY || unit == UNIT_WEEK) {
      if (__builtin_mul_overflow(amount, unit_ms[unit], &delta) ||
          __builtin_add_overflow(local, delta, &local)) {
         return false;
      }
      *result = zone_to_utc(zone, local);
      return true;
   }
   split_local(local, &p);
   if (__builtin_mul_overflow(amount,
                              unit == UNIT_YEAR      ? 12
                              : unit == UNIT_QUARTER ? 3
                                                     : 1,
                              &months) ||
       months > INT64_C(1) << 40 || months < -(INT64_C(1) << 40)) {
      return false;
   }
   months += p.year * 12 + p.month - 1;
   {
      int64_t y = floor_div(months, 12);
      int m = (int) (months - y * 12) + 1;
      int d = p.day > days_in_month(y, m) ? days_in_month(y, m) : p.day;
      int64_t days = days_from_civil(y, m, d);
      if (days > INT64_MAX / MS_PER_DAY - 1 || days < INT64_MIN / MS_PER_DAY + 1) {
         return false;
      }
      local = days * MS_PER_DAY + p.hour * INT64_C(3600000) + p.minute * INT64_C(60000) +
              p.second * INT64_C(1000) + p.millis;
   }
   *result = zone_to_utc(zone, local);
   return true;
}

bool
expr_date_add(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bool subtract = strcmp(e->op->name, "$dateSubtract") == 0;
   bson_value_t vals[3];
   const tz_zone_t *zone = NULL;
   tz_zone_t *owned = NULL;
   int64_t start, amount, result;
   unit_t unit;
   bool null = false, ok = false;

   memset(out, 0, sizeof *out);
   memset(vals, 0, sizeof vals);
   for (size_t i = 0; i < 3; i++) {
      if (!expr_eval_arg(e, i, c, &vals[i])) {
         goto done;
      }
      null = null || expr_val_nullish(&vals[i]);
   }
   if (!eval_zone(e, DA_TIMEZONE, c, &zone, &owned, &null, 40517)) {
      goto done;
   }
   if (null) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   if (!date_millis(&vals[DA_START], &start)) {
      error_set(c->error, 5166403, "%s requires startDate to be convertible to a date",
                e->op->name);
      goto done;
   }
   if (!parse_unit(&vals[DA_UNIT], e->op->name, &unit, c)) {
      goto done;
   }
   if (!expr_val_integral(&vals[DA_AMOUNT], &amount)) {
      error_set(c->error, 5166405, "%s expects integer amount of time units", e->op->name);
      goto done;
   }
   if (subtract) {
      if (amount == INT64_MIN) {
         error_set(c->error, 6045000, "invalid %s 'amount' parameter value: %lld", e->op->name,
                   (long long) amount);
         goto done;
      }
      amount = -amount;
   }
   if (!add_units(start, unit, amount, zone, &result)) {
      error_set(c->error, 5166406, "%s overflowed", e->op->name);
      goto done;
   }
   expr_val_date(out, result);
   ok = true;

done:
   zone_free(owned);
   for (size_t i = 0; i < 3; i++) {
      bson_value_destroy(&vals[i]);
   }
   return ok;
}

/*
 * $dateDiff {startDate, endDate, unit, timezone, startOfWeek}
 */

enum { DD_START, DD_END, DD_UNIT, DD_TIMEZONE, DD_WEEK };

fe_expr_t *
expr_date_parse_diff(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"startDate", "endDate", "unit", "timezone", "startOfWeek"};
   fe_expr_t *e = parse_object(op, operand, names, 5, 5166301, 5166302, error);

   for (size_t i = 0; e && i < 3; i++) {
      if (!e->args[i]) {
         error_set(error, 5166303, "Missing '%s' parameter to $dateDiff", names[i]);
         expr_destroy(e);
         return NULL;
      }
   }
   if (e) {
      prepare_zone(e, DD_TIMEZONE);
   }
   return e;
}

/* The number of the period (of unit) holding local time local: differences of these count
 * the boundaries crossed. */
static int64_t
period_number(int64_t local, unit_t unit, int week_start)
{
   dt_parts_t p;
   switch (unit) {
   case UNIT_YEAR:
   case UNIT_QUARTER:
   case UNIT_MONTH:
      split_local(local, &p);
      return unit == UNIT_YEAR      ? p.year
             : unit == UNIT_QUARTER ? p.year * 4 + (p.month - 1) / 3
                                    : p.year * 12 + p.month - 1;
   case UNIT_WEEK: {
      int64_t day = floor_div(local, MS_PER_DAY);
      /* 1970-01-01 was a Thursday (4); shift so that week_start days begin a week. */
      return floor_div(day + 4 - week_start, 7);
   }
   case UNIT_DAY:
      return floor_div(local, MS_PER_DAY);
   case UNIT_HOUR:
      return floor_div(local, 3600000);
   case UNIT_MINUTE:
      return floor_div(local, 60000);
   case UNIT_SECOND:
      return floor_div(local, 1000);
   case UNIT_MILLISECOND:
      return local;
   }
   return 0;
}

bool
expr_date_diff(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   static const char *const names[] = {"startDate", "endDate"};
   bson_value_t vals[5];
   const tz_zone_t *zone = NULL;
   tz_zone_t *owned = NULL;
   int64_t ms[2] = {0, 0};
   unit_t unit = UNIT_DAY;
   int week_start = 0;
   bool null = false, ok = false;

   memset(out, 0, sizeof *out);
   memset(vals, 0, sizeof vals);
   for (size_t i = 0; i < 5; i++) {
      if (i == DD_TIMEZONE) {
         continue;
      }
      if (!expr_eval_arg(e, i, c, &vals[i])) {
         goto done;
      }
      null = null || (e->args[i] && expr_val_nullish(&vals[i]));
   }
   if (!eval_zone(e, DD_TIMEZONE, c, &zone, &owned, &null, 40517)) {
      goto done;
   }
   for (size_t i = 0; i < 2; i++) {
      if (!expr_val_nullish(&vals[i]) && !date_millis(&vals[i], &ms[i])) {
         error_set(c->error, 5166307, "$dateDiff requires '%s' to be a date, but got %s", names[i],
                   expr_val_type_name(&vals[i]));
         goto done;
      }
   }
   if (!expr_val_nullish(&vals[DD_UNIT]) && !parse_unit(&vals[DD_UNIT], e->op->name, &unit, c)) {
      goto done;
   }
   if (e->args[DD_WEEK] && !expr_val_nullish(&vals[DD_WEEK]) &&
       !parse_week_start(&vals[DD_WEEK], e->op->name, &week_start, c)) {
      goto done;
   }
   if (null) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   {
      int64_t a =
         period_number(ms[0] + (int64_t) zone_offset(zone, ms[0]) * 1000, unit, week_start);
      int64_t b =
         period_number(ms[1] + (int64_t) zone_offset(zone, ms[1]) * 1000, unit, week_start);
      if (unit >= UNIT_HOUR) {
         /* Hours and shorter units count elapsed time, whatever the offsets did. */
         a = period_number(ms[0], unit, 0);
         b = period_number(ms[1], unit, 0);
      }
      if (__builtin_sub_overflow(b, a, &out->value.v_int64)) {
         error_set(c->error, 5166309, "$dateDiff overflowed");
         goto done;
      }
      out->value_type = BSON_TYPE_INT64;
   }
   ok = true;

done:
   zone_free(owned);
   for (size_t i = 0; i < 5; i++) {
      bson_value_destroy(&vals[i]);
   }
   return ok;
}

/*
 * $dateTrunc {date, unit, binSize, timezone, startOfWeek}
 */

enum { DT_DATE, DT_UNIT, DT_BIN, DT_TIMEZONE, DT_WEEK };

fe_expr_t *
expr_date_parse_trunc(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"date", "unit", "binSize", "timezone", "startOfWeek"};
   fe_expr_t *e = parse_object(op, operand, names, 5, 5439007, 5439008, error);

   if (e && !e->args[DT_DATE]) {
      error_set(error, 5439009, "Missing 'date' parameter to $dateTrunc");
   } else if (e && !e->args[DT_UNIT]) {
      error_set(error, 5439010, "Missing 'unit' parameter to $dateTrunc");
   } else {
      if (e) {
         prepare_zone(e, DT_TIMEZONE);
      }
      return e;
   }
   expr_destroy(e);
   return NULL;
}

bool
expr_date_trunc(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t vals[5];
   const tz_zone_t *zone = NULL;
   tz_zone_t *owned = NULL;
   int64_t ms = 0, bin = 1, local, result;
   unit_t unit = UNIT_DAY;
   int week_start = 0;
   bool null = false, ok = false;

   memset(out, 0, sizeof *out);
   memset(vals, 0, sizeof vals);
   for (size_t i = 0; i < 5; i++) {
      if (i == DT_TIMEZONE) {
         continue;
      }
      if (!expr_eval_arg(e, i, c, &vals[i])) {
         goto done;
      }
      null = null || (e->args[i] && expr_val_nullish(&vals[i]));
   }
   if (!eval_zone(e, DT_TIMEZONE, c, &zone, &owned, &null, 40517)) {
      goto done;
   }
   if (!expr_val_nullish(&vals[DT_DATE]) && !date_millis(&vals[DT_DATE], &ms)) {
      error_set(c->error, 5439012, "$dateTrunc requires 'date' to be a date, but got %s",
                expr_val_type_name(&vals[DT_DATE]));
      goto done;
   }
   if (!expr_val_nullish(&vals[DT_UNIT]) && !parse_unit(&vals[DT_UNIT], e->op->name, &unit, c)) {
      goto done;
   }
   if (e->args[DT_BIN] && !expr_val_nullish(&vals[DT_BIN])) {
      if (!expr_val_integral(&vals[DT_BIN], &bin)) {
         char *json = update_util_value_json(&vals[DT_BIN]);
         error_set(c->error, 5439017,
                   "$dateTrunc requires 'binSize' to be a 64-bit integer, but got value '%s' of "
                   "type %s",
                   json, expr_val_type_name(&vals[DT_BIN]));
         bson_free(json);
         goto done;
      }
      if (bin <= 0) {
         error_set(c->error, 5439018,
                   "$dateTrunc requires 'binSize' to be greater than 0, but got value %lld",
                   (long long) bin);
         goto done;
      }
   }
   if (unit == UNIT_WEEK && e->args[DT_WEEK] && !expr_val_nullish(&vals[DT_WEEK]) &&
       !parse_week_start(&vals[DT_WEEK], e->op->name, &week_start, c)) {
      goto done;
   }
   if (null) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   local = ms + (int64_t) zone_offset(zone, ms) * 1000;
   if (unit <= UNIT_MONTH) {
      /* Bins of months counted from 2000-01, MongoDB's reference point. */
      int64_t per = unit == UNIT_YEAR ? 12 : unit == UNIT_QUARTER ? 3 : 1;
      int64_t months, y;
      dt_parts_t p;
      split_local(local, &p);
      months = (p.year - 2000) * 12 + p.month - 1;
      if (bin > INT64_MAX / per) {
         bin = INT64_MAX / per;
      }
      months = floor_div(months, per * bin) * per * bin + 2000 * 12;
      y = floor_div(months, 12);
      local = days_from_civil(y, (int) (months - y * 12) + 1, 1) * MS_PER_DAY;
   } else {
      static const int64_t unit_ms[] = {0,     0,    0, 7 * MS_PER_DAY, MS_PER_DAY, 3600000,
                                        60000, 1000, 1};
      /* 2000-01-01 local, or the first week_start day on or after it for weeks. */
      int64_t ref = days_from_civil(2000, 1, 1) * MS_PER_DAY;
      int64_t span;
      if (unit == UNIT_WEEK) {
         ref += ((week_start - 6 + 7) % 7) * MS_PER_DAY; /* 2000-01-01 was a Saturday */
      }
      if (__builtin_mul_overflow(unit_ms[unit], bin, &span)) {
         span = INT64_MAX;
      }
      /* Keep the subtraction in range: local and ref are both far from the int64 ends. */
      local = ref + floor_div(local - ref, span) * span;
   }
   result = unit >= UNIT_HOUR && zone->n_types == 0 ? local - (int64_t) zone->fixed * 1000
                                                    : zone_to_utc(zone, local);
   expr_val_date(out, result);
   ok = true;

done:
   zone_free(owned);
   for (size_t i = 0; i < 5; i++) {
      bson_value_destroy(&vals[i]);
   }
   return ok;
}

/*
 * Calendar
 */

static int64_t
floor_div(int64_t a, int64_t b)
{
   int64_t q = a / b;
   return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t
days_from_civil(int64_t y, int m, int d)
{
   int64_t era, yoe, doy, doe;
   y -= m <= 2;
   era = floor_div(y, 400);
   yoe = y - era * 400;
   doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
   doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
   return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
   int64_t era, doe, yoe, doy, mp;
   z += 719468;
   era = floor_div(z, 146097);
   doe = z - era * 146097;
   yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
   doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
   mp = (5 * doy + 2) / 153;
   *d = (int) (doy - (153 * mp + 2) / 5 + 1);
   *m = (int) (mp < 10 ? mp + 3 : mp - 9);
   *y = yoe + era * 400 + (*m <= 2);
}

static bool
is_leap(int64_t y)
{
   return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int64_t y, int m)
{
   static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
   return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static void
split_local(int64_t local_ms, dt_parts_t *p)
{
   int64_t days = floor_div(local_ms, MS_PER_DAY);
   int64_t rem = local_ms - days * MS_PER_DAY;

   civil_from_days(days, &p->year, &p->month, &p->day);
   p->hour = (int) (rem / 3600000);
   p->minute = (int) (rem / 60000 % 60);
   p->second = (int) (rem / 1000 % 60);
   p->millis = (int) (rem % 1000);
   p->wday = (int) ((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
   p->yday = (int) (days - days_from_civil(p->year, 1, 1));
}

static int
iso_weeks_in_year(int64_t y)
{
   int64_t jan1 = days_from_civil(y, 1, 1);
   int wday = (int) ((jan1 % 7 + 11) % 7);
   return wday == 4 || (wday == 3 && is_leap(y)) ? 53 : 52;
}

static void
iso_week(const dt_parts_t *p, int64_t *iso_year, int *week, int *iso_wday)
{
   *iso_wday = p->wday == 0 ? 7 : p->wday;
   *iso_year = p->year;
   *week = (p->yday + 1 - *iso_wday + 10) / 7;
   if (*week < 1) {
      (*iso_year)--;
      *week = iso_weeks_in_year(*iso_year);
   } else if (*week > iso_weeks_in_year(p->year)) {
      (*iso_year)++;
      *week = 1;
   }
}

/*
 * Time zones
 */

static void
zone_free(void *zone)
{
   tz_zone_t *z = zone;
   if (!z) {
      return;
   }
   bson_free(z->times);
   bson_free(z->idx);
   bson_free(z->utoff);
   bson_free(z);
}

static int64_t
be_int(const uint8_t *p, int bytes)
{
   uint64_t v = 0;
   for (int i = 0; i < bytes; i++) {
      v = v << 8 | p[i];
   }
   if (bytes == 4) {
      return (int32_t) (uint32_t) v;
   }
   return (int64_t) v;
}

/* Reads a POSIX TZ offset "[+-]hh[:mm[:ss]]" into seconds. */
static bool
posix_time(const char **s, int32_t *secs)
{
   int sign = 1;
   int64_t h, m = 0, sec = 0;
   if (**s == '+' || **s == '-') {
      sign = **s == '-' ? -1 : 1;
      (*s)++;
   }
   if (!read_int(s, 1, 3, &h)) {
      return false;
   }
   if (**s == ':') {
      (*s)++;
      if (!read_int(s, 1, 2, &m)) {
         return false;
      }
      if (**s == ':') {
         (*s)++;
         if (!read_int(s, 1, 2, &sec)) {
            return false;
         }
      }
   }
   *secs = (int32_t) (sign * (h * 3600 + m * 60 + sec));
   return true;
}

static bool
posix_name(const char **s)
{
   if (**s == '<') {
      const char *end = strchr(*s, '>');
      if (!end) {
         return false;
      }
      *s = end + 1;
      return true;
   }
   if (!isalpha((unsigned char) **s)) {
      return false;
   }
   while (isalpha((unsigned char) **s)) {
      (*s)++;
   }
   return true;
}

static bool
posix_rule_day(const char **s, tz_rule_day_t *r)
{
   int64_t a, b, c;
   r->secs = 7200;
   if (**s == 'M') {
      (*s)++;
      if (!read_int(s, 1, 2, &a) || *(*s)++ != '.' || !read_int(s, 1, 1, &b) || *(*s)++ != '.' ||
          !read_int(s, 1, 1, &c)) {
         return false;
      }
      r->kind = 'M';
      r->m = (int) a;
      r->w = (int) b;
      r->d = (int) c;
   } else if (**s == 'J') {
      (*s)++;
      if (!read_int(s, 1, 3, &a)) {
         return false;
      }
      r->kind = 'J';
      r->d = (int) a;
   } else {
      if (!read_int(s, 1, 3, &a)) {
         return false;
      }
      r->kind = 'n';
      r->d = (int) a;
   }
   if (**s == '/') {
      (*s)++;
      return posix_time(s, &r->secs);
   }
   return true;
}

/* Parses a TZif footer such as "CET-1CEST,M3.5.0,M10.5.0/3". */
static bool
posix_parse(const char *s, tz_zone_t *z)
{
   int32_t std, dst;
   if (!posix_name(&s) || !posix_time(&s, &std)) {
      return false;
   }
   z->std_off = -std;
   z->has_rule = true;
   if (*s == '\0') {
      return true;
   }
   if (!posix_name(&s)) {
      return false;
   }
   z->dst_off = z->std_off + 3600;
   if (*s != ',' && *s) {
      if (!posix_time(&s, &dst)) {
         return false;
      }
      z->dst_off = -dst;
   }
   if (*s++ != ',' || !posix_rule_day(&s, &z->start) || *s++ != ',' ||
       !posix_rule_day(&s, &z->end)) {
      return false;
   }
   z->rule_dst = true;
   return true;
}

/* The local-time instant (seconds) of a rule's transition in year y. */
static int64_t
rule_local(const tz_rule_day_t *r, int64_t y)
{
   int64_t day;
   if (r->kind == 'J') {
      day = days_from_civil(y, 1, 1) + r->d - 1;
      if (is_leap(y) && r->d >= 60) {
         day++;
      }
   } else if (r->kind == 'n') {
      day = days_from_civil(y, 1, 1) + r->d;
   } else {
      int64_t first = days_from_civil(y, r->m, 1);
      int wday = (int) ((first % 7 + 11) % 7);
      day = first + (r->d - wday + 7) % 7 + (int64_t) (r->w - 1) * 7;
      if (r->w == 5) {
         while (day >= first + days_in_month(y, r->m)) {
            day -= 7;
         }
      }
   }
   return day * 86400 + r->secs;
}

static int32_t
rule_offset(const tz_zone_t *z, int64_t t)
{
   int64_t y, start, end;
   int m, d;
   if (!z->rule_dst) {
      return z->std_off;
   }
   civil_from_days(floor_div(t + z->std_off, 86400), &y, &m, &d);
   start = rule_local(&z->start, y) - z->std_off;
   end = rule_local(&z->end, y) - z->dst_off;
   if (start < end) {
      return t >= start && t < end ? z->dst_off : z->std_off;
   }
   return t < end || t >= start ? z->dst_off : z->std_off;
}

static bool
zone_parse_tzif(const uint8_t *data, size_t len, tz_zone_t *z)
{
   size_t pos = 0, counts[6], block;
   int tb = 4;

   for (int pass = 0; pass < 2; pass++) {
      if (len - pos < 44 || memcmp(data + pos, "TZif", 4) != 0) {
         return false;
      }
      for (int i = 0; i < 6; i++) {
         counts[i] = (size_t) (uint32_t) be_int(data + pos + 20 + 4 * i, 4);
      }
      /* isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt */
      block = counts[3] * tb + counts[3] + counts[4] * 6 + counts[5] + counts[2] * (tb + 4) +
              counts[1] + counts[0];
      if (len - pos - 44 < block) {
         return false;
      }
      if (pass == 0 && data[pos + 4] >= '2') {
         pos += 44 + block; /* skip the 32-bit data */
         tb = 8;
         continue;
      }
      pos += 44;
      break;
   }
   if (counts[4] == 0 || counts[4] > 256) {
      return false;
   }
   z->n_times = counts[3];
   z->n_types = counts[4];
   z->times = bson_malloc0(sizeof *z->times * (z->n_times + 1));
   z->idx = bson_malloc0(z->n_times + 1);
   z->utoff = bson_malloc0(sizeof *z->utoff * z->n_types);
   for (size_t i = 0; i < z->n_times; i++) {
      z->times[i] = be_int(data + pos + i * tb, tb);
   }
   pos += z->n_times * tb;
   for (size_t i = 0; i < z->n_times; i++) {
      z->idx[i] = data[pos + i];
      if (z->idx[i] >= z->n_types) {
         return false;
      }
   }
   pos += z->n_times;
   for (size_t i = 0; i < z->n_types; i++) {
      z->utoff[i] = (int32_t) be_int(data + pos + i * 6, 4);
   }
   pos += z->n_types * 6 + counts[5] + counts[2] * (tb + 4) + counts[1] + counts[0];
   if (tb == 8 && pos < len && data[pos] == '\n') {
      const uint8_t *end = memchr(data + pos + 1, '\n', len - pos - 1);
      if (end && end > data + pos + 1) {
         char footer[128];
         size_t n = (size_t) (end - data) - pos - 1;
         if (n < sizeof footer) {
            memcpy(footer, data + pos + 1, n);
            footer[n] = '\0';
            if (!posix_parse(footer, z)) {
               z->has_rule = false;
            }
         }
      }
   }
   return true;
}

/* Loads a zone by name: an offset ("+hh", "+hhmm", "+hh:mm"), or an Olson name read from
 * the system tz database. *zone is owned by the caller (zone_free()). */
static bool
zone_load(const char *name, tz_zone_t **zone, fe_error_t *error)
{
   tz_zone_t *z = bson_malloc0(sizeof *z);
   char path[sizeof ZONEINFO_DIR + 256];
   uint8_t *data = NULL;
   size_t len = 0, cap = 0;
   FILE *f = NULL;
   bool ok = false;

   *zone = NULL;
   if (name[0] == '+' || name[0] == '-') {
      const char *s = name;
      int32_t off;
      if (read_offset(&s, false, &off) && *s == '\0' &&
          (s - name == 3 || s - name == 5 || (s - name == 6 && name[3] == ':'))) {
         z->fixed = off;
         z->utc = off == 0;
         ok = true;
      }
      goto done;
   }
   if (strcmp(name, "UTC") == 0 || strcmp(name, "GMT") == 0 || strcmp(name, "Z") == 0) {
      z->utc = true;
      ok = true;
      goto done;
   }
   /* Only names that stay under the database directory. */
   if (!name[0] || name[0] == '/' || strstr(name, "..") || strlen(name) > 255) {
      goto done;
   }
   for (const char *p = name; *p; p++) {
      if (!isalnum((unsigned char) *p) && !strchr("/_-+", *p)) {
         goto done;
      }
   }
   snprintf(path, sizeof path, "%s/%s", ZONEINFO_DIR, name);
   if (!(f = fopen(path, "rb"))) {
      goto done;
   }
   for (;;) {
      size_t got;
      if (len == cap) {
         if (cap >= (1u << 20)) {
            goto done;
         }
         cap = cap ? cap * 2 : 8192;
         data = bson_realloc(data, cap);
      }
      got = fread(data + len, 1, cap - len, f);
      if (got == 0) {
         break;
      }
      len += got;
   }
   ok = zone_parse_tzif(data, len, z);
   if (ok) {
      z->utc = z->n_types == 1 && z->utoff[0] == 0 && !z->rule_dst;
   }

done:
   if (f) {
      fclose(f);
   }
   bson_free(data);
   if (!ok) {
      zone_free(z);
      return error_set(error, 40485, "unrecognized time zone identifier: \"%s\"", name);
   }
   *zone = z;
   return true;
}

/* The offset east of UTC, in seconds, in force at utc_ms. */
static int32_t
zone_offset(const tz_zone_t *z, int64_t utc_ms)
{
   int64_t t = floor_div(utc_ms, 1000);
   size_t lo = 0, hi;

   if (z->n_types == 0) {
      return z->fixed;
   }
   if (z->n_times == 0 || t < z->times[0]) {
      /* Before the first transition: the first standard-time type, as zic writes it first. */
      return z->n_times == 0 && z->has_rule ? rule_offset(z, t) : z->utoff[0];
   }
   if (t >= z->times[z->n_times - 1] && z->has_rule) {
      return rule_offset(z, t);
   }
   hi = z->n_times;
   while (hi - lo > 1) {
      size_t mid = (lo + hi) / 2;
      if (z->times[mid] <= t) {
         lo = mid;
      } else {
         hi = mid;
      }
   }
   return z->utoff[z->idx[lo]];
}

/* The instant whose local time in z is local_ms. In a gap (spring forward) the earlier
 * offset applies, giving a time after the gap; in an overlap the first instant wins. */
static int64_t
zone_to_utc(const tz_zone_t *z, int64_t local_ms)
{
   int32_t o1 = zone_offset(z, local_ms);
   int64_t guess = local_ms - (int64_t) o1 * 1000;
   int32_t o2 = zone_offset(z, guess);
   int64_t second;

   if (o1 == o2) {
      /* An overlap has a second candidate with a larger offset: prefer the earlier one. */
      int64_t before = local_ms - (int64_t) zone_offset(z, guess - 3 * 3600000) * 1000;
      if (before < guess && zone_offset(z, before) * INT64_C(1000) == local_ms - before) {
         return before;
      }
      return guess;
   }
   second = local_ms - (int64_t) o2 * 1000;
   if (zone_offset(z, second) == o2) {
      return second;
   }
   return local_ms - (int64_t) (o1 < o2 ? o1 : o2) * 1000;
}

/*
 * Arguments
 */

/* Parses {name: <expr>, ...} for names (each optional here; callers check the required
 * ones) with $dateXxx's error codes. */
static fe_expr_t *
parse_object(const op_def_t *op, const bson_iter_t *operand, const char *const *names, size_t n,
             int32_t object_code, int32_t unknown_code, fe_error_t *error)
{
   fe_expr_t *e;
   bson_iter_t sub;

   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      error_set(error, object_code, "%s only supports an object as its argument", op->name);
      return NULL;
   }
   e = expr_node_new(KIND_OP);
   e->op = op;
   e->args = bson_malloc0(sizeof *e->args * n);
   e->n_args = n;
   bson_iter_recurse(operand, &sub);
   while (bson_iter_next(&sub)) {
      size_t i;
      for (i = 0; i < n && strcmp(names[i], bson_iter_key(&sub)) != 0; i++) {
      }
      if (i == n) {
         error_set(error, unknown_code, "Unrecognized argument to %s: %s", op->name,
                   bson_iter_key(&sub));
         goto fail;
      }
      expr_destroy(e->args[i]);
      if (!(e->args[i] = expr_compile(&sub, error))) {
         goto fail;
      }
   }
   return e;

fail:
   expr_destroy(e);
   return NULL;
}

/* Loads a constant timezone argument once, into e->data. A bad one is left for evaluation
 * to report, so that an expression never evaluated does not fail. */
static void
prepare_zone(fe_expr_t *e, size_t tz_arg)
{
   const bson_value_t *v;
   tz_zone_t *zone = NULL;

   if (e->args[tz_arg] && expr_is_constant(e->args[tz_arg], &v) &&
       v->value_type == BSON_TYPE_UTF8 && zone_load(v->value.v_utf8.str, &zone, NULL)) {
      e->data = zone;
      e->data_free = zone_free;
   }
}

/* Sets *zone (borrowed from e or *owned) to the timezone argument's zone, UTC when absent;
 * *null when it is null or missing. tz_code: the code for a non-string timezone. */
static bool
eval_zone(const fe_expr_t *e, size_t tz_arg, eval_ctx_t *c, const tz_zone_t **zone,
          tz_zone_t **owned, bool *null, int32_t tz_code)
{
   static const tz_zone_t utc = {.utc = true};
   bson_value_t v;
   bool ok = true;

   *owned = NULL;
   *zone = &utc;
   if (!e->args[tz_arg]) {
      return true;
   }
   if (e->data) {
      *zone = e->data;
      return true;
   }
   if (!expr_eval_node(e->args[tz_arg], c, &v)) {
      return false;
   }
   if (expr_val_nullish(&v)) {
      *null = true;
   } else if (v.value_type != BSON_TYPE_UTF8) {
      ok = error_set(c->error, tz_code, "timezone must evaluate to a string, found %s",
                     expr_val_type_name(&v));
   } else if ((ok = zone_load(v.value.v_utf8.str, owned, c->error))) {
      *zone = *owned;
   }
   bson_value_destroy(&v);
   return ok;
}

/* Dates, Timestamps and ObjectIds, as milliseconds since the epoch. */
static bool
date_millis(const bson_value_t *v, int64_t *ms)
{
   switch (v->value_type) {
   case BSON_TYPE_DATE_TIME:
      *ms = v->value.v_datetime;
      return true;
   case BSON_TYPE_TIMESTAMP:
      *ms = (int64_t) v->value.v_timestamp.timestamp * 1000;
      return true;
   case BSON_TYPE_OID:
      *ms = (int64_t) bson_oid_get_time_t(&v->value.v_oid) * 1000;
      return true;
   default:
      return false;
   }
}

static bool
parse_unit(const bson_value_t *v, const char *opname, unit_t *unit, eval_ctx_t *c)
{
   static const char *const units[] = {"year", "quarter", "month",  "week",       "day",
                                       "hour", "minute",  "second", "millisecond"};
   if (v->value_type != BSON_TYPE_UTF8) {
      return error_set(c->error, 5439013, "%s requires 'unit' to be a string, but got %s", opname,
                       expr_val_type_name(v));
   }
   for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
      if (strcmp(units[i], v->value.v_utf8.str) == 0) {
         *unit = (unit_t) i;
         return true;
      }
   }
   return error_set(c->error, FE_FailedToParse, "unknown time unit value: %s", v->value.v_utf8.str);
}

static bool
parse_week_start(const bson_value_t *v, const char *opname, int *wday, eval_ctx_t *c)
{
   if (v->value_type != BSON_TYPE_UTF8) {
      return error_set(c->error, 5439015, "%s requires 'startOfWeek' to be a string, but got %s",
                       opname, expr_val_type_name(v));
   }
   for (int i = 0; i < 7; i++) {
      /* Full names or their three-letter abbreviations, any case. */
      if (strcasecmp(day_names[i], v->value.v_utf8.str) == 0 ||
          (v->value.v_utf8.len == 3 && strncasecmp(day_names[i], v->value.v_utf8.str, 3) == 0)) {
         *wday = i;
         return true;
      }
   }
   return error_set(c->error, 5439016,
                    "%s parameter 'startOfWeek' value cannot be recognized as a day of a week: %s",
                    opname, v->value.v_utf8.str);
}
