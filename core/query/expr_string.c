/*
 * expr_string.c: the string aggregation expressions $trim $ltrim $rtrim $indexOfBytes
 * $indexOfCP $strLenBytes $strcasecmp $replaceOne $replaceAll $regexMatch $regexFind
 * $regexFindAll, with MongoDB's argument checks and codes. Regular expressions are compiled
 * by the filter's filter_compile_regex() (PCRE2, UTF mode), once when the regex and options
 * are constants, else per evaluation.
 */
#include <string.h>

#include "query/expr_int.h"
#include "query/expr_value_int.h"
#include "query/filter_int.h"
#include "query/update_int.h"

/* Helpers. */
static size_t utf8_len(unsigned char lead);
static uint32_t utf8_decode(const char *s, size_t len, size_t *n);
static fe_expr_t *parse_object(const op_def_t *op, const bson_iter_t *operand,
                               const char *const *names, size_t n, fe_error_t *error);

/*
 * $trim / $ltrim / $rtrim {input, chars}
 */

fe_expr_t *
expr_string_parse_trim(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"input", "chars"};
   fe_expr_t *e;
   bson_iter_t sub;

   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      error_set(error, 50696, "%s only supports an object as an argument, found: %s", op->name,
                update_util_type_name(bson_iter_type(operand)));
      return NULL;
   }
   bson_iter_recurse(operand, &sub);
   while (bson_iter_next(&sub)) {
      if (strcmp(bson_iter_key(&sub), "input") != 0 && strcmp(bson_iter_key(&sub), "chars") != 0) {
         error_set(error, 50694, "%s found an unknown argument: %s", op->name, bson_iter_key(&sub));
         return NULL;
      }
   }
   e = parse_object(op, operand, names, 2, error);
   if (e && !e->args[0]) {
      error_set(error, 50695, "%s requires an 'input' field", op->name);
      expr_destroy(e);
      return NULL;
   }
   return e;
}

/* MongoDB's default trim set: NUL, space, \t \n \v \f \r, U+00A0, U+1680, U+2000-U+200A. */
static bool
is_default_space(uint32_t cp)
{
   return cp == 0 || cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0xA0 || cp == 0x1680 ||
          (cp >= 0x2000 && cp <= 0x200A);
}

static bool
in_set(uint32_t cp, const char *chars, size_t len)
{
   if (!chars) {
      return is_default_space(cp);
   }
   for (size_t i = 0; i < len;) {
      size_t n;
      if (utf8_decode(chars + i, len - i, &n) == cp) {
         return true;
      }
      i += n;
   }
   return false;
}

bool
expr_string_trim(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   const char *name = e->op->name;
   bool left = strcmp(name, "$rtrim") != 0, right = strcmp(name, "$ltrim") != 0;
   bson_value_t input, chars;
   const char *s, *set = NULL;
   size_t begin = 0, end, set_len = 0;
   bool ok = false;

   memset(out, 0, sizeof *out);
   memset(&chars, 0, sizeof chars);
   if (!expr_eval_arg(e, 0, c, &input) || !expr_eval_arg(e, 1, c, &chars)) {
      goto done;
   }
   if (expr_val_nullish(&input) || (e->args[1] && expr_val_nullish(&chars))) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   if (input.value_type != BSON_TYPE_UTF8) {
      error_set(c->error, 50699, "%s requires its input to be a string, got %s instead", name,
                expr_val_type_name(&input));
      goto done;
   }
   if (e->args[1]) {
      if (chars.value_type != BSON_TYPE_UTF8) {
         error_set(c->error, 50700, "%s requires 'chars' to be a string, got %s instead", name,
                   expr_val_type_name(&chars));
         goto done;
      }
      set = chars.value.v_utf8.str;
      set_len = chars.value.v_utf8.len;
   }
   s = input.value.v_utf8.str;
   end = input.value.v_utf8.len;
   if (left) {
      while (begin < end) {
         size_t n;
         uint32_t cp = utf8_decode(s + begin, end - begin, &n);
         if (!in_set(cp, set, set_len)) {
            break;
         }
         begin += n;
      }
   }
   if (right) {
      while (end > begin) {
         size_t start = end - 1, n;
         while (start > begin && ((unsigned char) s[start] & 0xC0) == 0x80) {
            start--;
         }
         if (!in_set(utf8_decode(s + start, end - start, &n), set, set_len)) {
            break;
         }
         end = start;
      }
   }
   out->value_type = BSON_TYPE_UTF8;
   out->value.v_utf8.str = bson_strndup(s + begin, end - begin);
   out->value.v_utf8.len = (uint32_t) (end - begin);
   ok = true;

done:
   bson_value_destroy(&input);
   bson_value_destroy(&chars);
   return ok;
}

/*
 * $indexOfBytes / $indexOfCP [string, substring, start, end]
 */

static bool
index_bound(const bson_value_t *v, const char *name, bool starting, int64_t *out, eval_ctx_t *c)
{
   if (!expr_val_integral(v, out)) {
      char *json = update_util_value_json(v);
      error_set(c->error, 40096,
                "%s requires an integral %s index, found a value of type: %s, with value: %s", name,
                starting ? "starting" : "ending", expr_val_type_name(v), json);
      bson_free(json);
      return false;
   }
   if (*out < 0) {
      return error_set(c->error, 40097, "%s requires a nonnegative %s index, found: %lld", name,
                       starting ? "start" : "ending", (long long) *out);
   }
   return true;
}

bool
expr_string_index_of(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   const char *name = e->op->name;
   bool cp = strcmp(name, "$indexOfCP") == 0;
   bson_value_t vals[4];
   int64_t start = 0, end = -1, result = -1;
   bool ok = false;

   memset(out, 0, sizeof *out);
   memset(vals, 0, sizeof vals);
   if (!expr_eval_args(e, c, vals)) {
      return false;
   }
   if (expr_val_nullish(&vals[0])) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   if (vals[0].value_type != BSON_TYPE_UTF8) {
      error_set(c->error, cp ? 40093 : 40091,
                "%s requires a string as the first argument, found: %s", name,
                expr_val_type_name(&vals[0]));
      goto done;
   }
   if (vals[1].value_type != BSON_TYPE_UTF8) {
      error_set(c->error, cp ? 40094 : 40092,
                "%s requires a string as the second argument, found: %s", name,
                expr_val_type_name(&vals[1]));
      goto done;
   }
   if (e->n_args > 2 && !index_bound(&vals[2], name, true, &start, c)) {
      goto done;
   }
   if (e->n_args > 3 && !index_bound(&vals[3], name, false, &end, c)) {
      goto done;
   }
   {
      const char *s = vals[0].value.v_utf8.str, *sub = vals[1].value.v_utf8.str;
      size_t len = vals[0].value.v_utf8.len, sub_len = vals[1].value.v_utf8.len;
      /* Work in bytes; for code points, map the bounds to byte offsets and back. */
      size_t b_start = 0, b_end = len;
      int64_t i = 0;
      if (cp) {
         size_t b = 0;
         for (i = 0; i < start && b < len; i++) {
            b += utf8_len((unsigned char) s[b]);
         }
         if (i < start) {
            goto not_found;
         }
         b_start = b;
         if (end >= 0) {
            for (b = 0, i = 0; i < end && b < len; i++) {
               b += utf8_len((unsigned char) s[b]);
            }
            b_end = b;
         }
      } else {
         if ((uint64_t) start > len) {
            goto not_found;
         }
         b_start = (size_t) start;
         if (end >= 0 && (uint64_t) end < len) {
            b_end = (size_t) end;
         }
      }
      if (b_end < b_start) {
         goto not_found;
      }
      for (size_t b = b_start; b + sub_len <= b_end;) {
         if (memcmp(s + b, sub, sub_len) == 0) {
            if (cp) {
               result = start;
               for (size_t k = b_start; k < b; k += utf8_len((unsigned char) s[k])) {
                  result++;
               }
            } else {
               result = (int64_t) b;
            }
            break;
         }
         b += cp ? utf8_len((unsigned char) s[b]) : 1;
      }
   }
not_found:
   expr_val_int32(out, (int32_t) result);
   ok = true;

done:
   for (size_t i = 0; i < 4; i++) {
      bson_value_destroy(&vals[i]);
   }
   return ok;
}

/*
 * $strLenBytes, $strcasecmp
 */

bool
expr_string_len_bytes(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t v;
   bool ok = false;

   memset(out, 0, sizeof *out);
   if (!expr_eval_node(e->args[0], c, &v)) {
      return false;
   }
   if (v.value_type != BSON_TYPE_UTF8) {
      error_set(c->error, 34473, "$strLenBytes requires a string argument, found: %s",
                expr_val_type_name(&v));
   } else if (v.value.v_utf8.len > INT32_MAX) {
      error_set(c->error, 34470, "string length could not be represented as an int");
   } else {
      expr_val_int32(out, (int32_t) v.value.v_utf8.len);
      ok = true;
   }
   bson_value_destroy(&v);
   return ok;
}

/* Coerces v to a string as $strcasecmp does (null and missing are ""). *s is owned. */
static bool
coerce_string(const bson_value_t *v, char **s, size_t *len, eval_ctx_t *c)
{
   switch (v->value_type) {
   case BSON_TYPE_UTF8:
      *s = bson_strndup(v->value.v_utf8.str, v->value.v_utf8.len);
      *len = v->value.v_utf8.len;
      return true;
   case BSON_TYPE_SYMBOL:
      *s = bson_strndup(v->value.v_symbol.symbol, v->value.v_symbol.len);
      *len = v->value.v_symbol.len;
      return true;
   case BSON_TYPE_EOD:
   case BSON_TYPE_NULL:
   case BSON_TYPE_UNDEFINED:
      *s = bson_strdup("");
      *len = 0;
      return true;
   case BSON_TYPE_INT32:
      *s = bson_strdup_printf("%d", v->value.v_int32);
      break;
   case BSON_TYPE_INT64:
      *s = bson_strdup_printf("%lld", (long long) v->value.v_int64);
      break;
   case BSON_TYPE_DOUBLE:
      *s = bson_strdup_printf("%.17g", v->value.v_double);
      break;
   default:
      return error_set(c->error, 16007, "can't convert from BSON type %s to String",
                       expr_val_type_name(v));
   }
   *len = strlen(*s);
   return true;
}

bool
expr_string_casecmp(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   bson_value_t vals[2];
   char *a = NULL, *b = NULL;
   size_t alen = 0, blen = 0;
   bool ok = false;

   memset(out, 0, sizeof *out);
   if (!expr_eval_args(e, c, vals)) {
      return false;
   }
   if (coerce_string(&vals[0], &a, &alen, c) && coerce_string(&vals[1], &b, &blen, c)) {
      /* ASCII case folding only, byte order otherwise, as MongoDB does. */
      int cmp = 0;
      for (size_t i = 0; i < alen && i < blen && cmp == 0; i++) {
         int x = (unsigned char) a[i], y = (unsigned char) b[i];
         x = x >= 'a' && x <= 'z' ? x - 32 : x;
         y = y >= 'a' && y <= 'z' ? y - 32 : y;
         cmp = (x > y) - (x < y);
      }
      if (cmp == 0) {
         cmp = (alen > blen) - (alen < blen);
      }
      expr_val_int32(out, cmp);
      ok = true;
   }
   bson_free(a);
   bson_free(b);
   bson_value_destroy(&vals[0]);
   bson_value_destroy(&vals[1]);
   return ok;
}

/*
 * $replaceOne / $replaceAll {input, find, replacement}
 */

fe_expr_t *
expr_string_parse_replace(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"input", "find", "replacement"};
   static const int32_t missing[] = {51749, 51748, 51747};
   fe_expr_t *e;
   bson_iter_t sub;

   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      error_set(error, 51751, "%s requires an object as an argument, found: %s", op->name,
                update_util_type_name(bson_iter_type(operand)));
      return NULL;
   }
   bson_iter_recurse(operand, &sub);
   while (bson_iter_next(&sub)) {
      const char *key = bson_iter_key(&sub);
      if (strcmp(key, "input") != 0 && strcmp(key, "find") != 0 &&
          strcmp(key, "replacement") != 0) {
         error_set(error, 51750, "%s found an unknown argument: %s", op->name, key);
         return NULL;
      }
   }
   if (!(e = parse_object(op, operand, names, 3, error))) {
      return NULL;
   }
   for (size_t i = 0; i < 3; i++) {
      if (!e->args[i]) {
         error_set(error, missing[i], "%s requires '%s' to be specified", op->name, names[i]);
         expr_destroy(e);
         return NULL;
      }
   }
   return e;
}

bool
expr_string_replace(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   static const char *const names[] = {"input", "find", "replacement"};
   static const int32_t codes[] = {51746, 51745, 51744};
   bool all = strcmp(e->op->name, "$replaceAll") == 0, null = false, ok = false;
   bson_value_t vals[3];
   bson_string_t *buf;

   memset(out, 0, sizeof *out);
   if (!expr_eval_args(e, c, vals)) {
      return false;
   }
   for (size_t i = 0; i < 3; i++) {
      if (expr_val_nullish(&vals[i])) {
         null = true;
      } else if (vals[i].value_type != BSON_TYPE_UTF8) {
         error_set(c->error, codes[i], "%s requires that '%s' be a string, found: %s", e->op->name,
                   names[i], expr_val_type_name(&vals[i]));
         goto done;
      }
   }
   if (null) {
      expr_val_null(out);
      ok = true;
      goto done;
   }
   {
      const char *s = vals[0].value.v_utf8.str, *find = vals[1].value.v_utf8.str;
      const char *rep = vals[2].value.v_utf8.str;
      size_t len = vals[0].value.v_utf8.len, find_len = vals[1].value.v_utf8.len;
      size_t rep_len = vals[2].value.v_utf8.len, i = 0;
      bool replaced = false;

      buf = bson_string_new(NULL);
      /* An empty 'find' matches before each code point and at the end. */
      while (i <= len) {
         if ((!replaced || all) && i + find_len <= len && memcmp(s + i, find, find_len) == 0) {
            bson_string_append_printf(buf, "%.*s", (int) rep_len, rep);
            replaced = true;
            if (find_len > 0) {
               i += find_len;
               continue;
            }
         }
         if (i == len) {
            break;
         }
         {
            size_t n = utf8_len((unsigned char) s[i]);
            if (n > len - i) {
               n = len - i;
            }
            bson_string_append_printf(buf, "%.*s", (int) n, s + i);
            i += n;
         }
      }
      expr_val_utf8_take(out, buf);
   }
   ok = true;

done:
   for (size_t i = 0; i < 3; i++) {
      bson_value_destroy(&vals[i]);
   }
   return ok;
}

/*
 * $regexMatch / $regexFind / $regexFindAll {input, regex, options}
 */

enum { RX_INPUT, RX_REGEX, RX_OPTIONS };

/* A compiled regex and the pattern and options strings it borrows. */
typedef struct rx {
   filter_regex_t regex;
   char *pattern;
   char *options;
} rx_t;

static void
rx_free(void *p)
{
   rx_t *rx = p;
   if (!rx) {
      return;
   }
   pcre2_match_data_free(rx->regex.match_data);
   pcre2_code_free(rx->regex.code);
   bson_free(rx->pattern);
   bson_free(rx->options);
   bson_free(rx);
}

/* Compiles the regex and options values (already known not to be null) into *out (owned by
 * the caller; rx_free()). */
static bool
rx_compile(const char *opname, const bson_value_t *regex, const bson_value_t *options, rx_t **out,
           fe_error_t *error)
{
   rx_t *rx = bson_malloc0(sizeof *rx);
   const char *flags = "";
   bool ok = false;

   *out = NULL;
   if (regex->value_type == BSON_TYPE_REGEX) {
      rx->pattern = bson_strdup(regex->value.v_regex.regex);
      flags = regex->value.v_regex.options;
   } else if (regex->value_type == BSON_TYPE_UTF8) {
      if (strlen(regex->value.v_utf8.str) != regex->value.v_utf8.len) {
         error_set(error, 51109, "%s: regular expression cannot contain an embedded null byte",
                   opname);
         goto done;
      }
      rx->pattern = bson_strdup(regex->value.v_utf8.str);
   } else {
      error_set(error, 51105, "%s needs 'regex' to be of type string or regex", opname);
      goto done;
   }
   if (options && !expr_val_nullish(options)) {
      if (options->value_type != BSON_TYPE_UTF8) {
         error_set(error, 51106, "%s needs 'options' to be of type string", opname);
         goto done;
      }
      if (strlen(options->value.v_utf8.str) != options->value.v_utf8.len) {
         error_set(error, 51110,
                   "%s: regular expression options string cannot contain an "
                   "embedded null byte",
                   opname);
         goto done;
      }
      if (flags[0] && options->value.v_utf8.len) {
         error_set(error, 51107,
                   "%s found regex option(s) specified in both 'regex' and 'option' fields",
                   opname);
         goto done;
      }
      if (options->value.v_utf8.len) {
         flags = options->value.v_utf8.str;
      }
   }
   for (const char *f = flags; *f; f++) {
      if (!strchr("imsx", *f)) {
         error_set(error, 51108, "%s invalid flag in regex options: %c", opname, *f);
         goto done;
      }
   }
   rx->options = bson_strdup(flags);
   if (!filter_compile_regex(&rx->regex, rx->pattern, rx->options, error)) {
      if (error) {
         char message[sizeof error->message];
         memcpy(message, error->message, sizeof message);
         error_set(error, 51111, "Invalid Regex in %s: %s", opname, message);
      }
      goto done;
   }
   ok = true;

done:
   if (!ok) {
      rx_free(rx);
      return false;
   }
   *out = rx;
   return true;
}

fe_expr_t *
expr_string_parse_regex(const op_def_t *op, const bson_iter_t *operand, fe_error_t *error)
{
   static const char *const names[] = {"input", "regex", "options"};
   const bson_value_t *regex, *options = NULL;
   fe_expr_t *e;
   bson_iter_t sub;
   rx_t *rx;

   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      error_set(error, 51103, "%s expects an object of named arguments but found: %s", op->name,
                update_util_type_name(bson_iter_type(operand)));
      return NULL;
   }
   bson_iter_recurse(operand, &sub);
   while (bson_iter_next(&sub)) {
      const char *key = bson_iter_key(&sub);
      if (strcmp(key, "input") != 0 && strcmp(key, "regex") != 0 && strcmp(key, "options") != 0) {
         error_set(error, 31024, "%s found an unknown argument: %s", op->name, key);
         return NULL;
      }
   }
   if (!(e = parse_object(op, operand, names, 3, error))) {
      return NULL;
   }
   if (!e->args[RX_INPUT] || !e->args[RX_REGEX]) {
      error_set(error, e->args[RX_INPUT] ? 31023 : 31022, "%s requires '%s' parameter", op->name,
                e->args[RX_INPUT] ? "regex" : "input");
      expr_destroy(e);
      return NULL;
   }
   /* Constant regex and options: compile now, and report a bad one now, as MongoDB does. */
   if (expr_is_constant(e->args[RX_REGEX], &regex) &&
       (!e->args[RX_OPTIONS] || expr_is_constant(e->args[RX_OPTIONS], &options)) &&
       !expr_val_nullish(regex)) {
      if (!rx_compile(op->name, regex, options, &rx, error)) {
         expr_destroy(e);
         return NULL;
      }
      e->data = rx;
      e->data_free = rx_free;
   }
   return e;
}

/* Appends {match, idx, captures} for the match in md to arr at index n. */
static void
append_match(bson_t *arr, uint32_t n, const char *s, const pcre2_match_data *md, uint32_t groups,
             int32_t idx)
{
   PCRE2_SIZE *ov = pcre2_get_ovector_pointer((pcre2_match_data *) md);
   char keybuf[16];
   const char *key;
   bson_t doc, captures;

   bson_uint32_to_string(n, &key, keybuf, sizeof keybuf);
   bson_append_document_begin(arr, key, -1, &doc);
   bson_append_utf8(&doc, "match", 5, s + ov[0], (int) (ov[1] - ov[0]));
   bson_append_int32(&doc, "idx", 3, idx);
   bson_append_array_begin(&doc, "captures", 8, &captures);
   for (uint32_t g = 1; g <= groups; g++) {
      bson_uint32_to_string(g - 1, &key, keybuf, sizeof keybuf);
      if (ov[2 * g] == PCRE2_UNSET) {
         bson_append_null(&captures, key, -1);
      } else {
         bson_append_utf8(&captures, key, -1, s + ov[2 * g], (int) (ov[2 * g + 1] - ov[2 * g]));
      }
   }
   bson_append_array_end(&doc, &captures);
   bson_append_document_end(arr, &doc);
}

bool
expr_string_regex(const fe_expr_t *e, eval_ctx_t *c, bson_value_t *out)
{
   const char *name = e->op->name;
   bool match_only = strcmp(name, "$regexMatch") == 0, all = strcmp(name, "$regexFindAll") == 0;
   bson_value_t vals[3];
   rx_t *owned = NULL;
   const rx_t *rx = e->data;
   pcre2_match_data *md = NULL;
   bson_t arr = BSON_INITIALIZER;
   bool ok = false;

   memset(out, 0, sizeof *out);
   if (!expr_eval_args(e, c, vals)) {
      bson_destroy(&arr);
      return false;
   }
   if (!expr_val_nullish(&vals[RX_INPUT]) && vals[RX_INPUT].value_type != BSON_TYPE_UTF8) {
      error_set(c->error, 51104, "%s needs 'input' to be of type string", name);
      goto done;
   }
   if (!rx && !expr_val_nullish(&vals[RX_REGEX])) {
      if (!rx_compile(name, &vals[RX_REGEX], &vals[RX_OPTIONS], &owned, c->error)) {
         goto done;
      }
      rx = owned;
   }
   if (expr_val_nullish(&vals[RX_INPUT]) || !rx) {
      /* No input or no regex: no match. */
      if (match_only) {
         out->value_type = BSON_TYPE_BOOL;
         out->value.v_bool = false;
      } else if (all) {
         uint32_t len;
         out->value_type = BSON_TYPE_ARRAY;
         out->value.v_doc.data = bson_destroy_with_steal(&arr, true, &len);
         out->value.v_doc.data_len = len;
      } else {
         expr_val_null(out);
      }
      ok = true;
      goto done;
   }
   {
      const char *s = vals[RX_INPUT].value.v_utf8.str;
      size_t len = vals[RX_INPUT].value.v_utf8.len, pos = 0, cp_pos = 0, cp_at = 0;
      uint32_t groups = 0, n = 0;
      md = pcre2_match_data_create_from_pattern(rx->regex.code, NULL);
      pcre2_pattern_info(rx->regex.code, PCRE2_INFO_CAPTURECOUNT, &groups);
      for (;;) {
         int rc = pcre2_match(rx->regex.code, (PCRE2_SPTR) s, len, pos, 0, md, NULL);
         PCRE2_SIZE *ov;
         if (rc == PCRE2_ERROR_NOMATCH) {
            break;
         }
         if (rc < 0) {
            error_set(
               c->error, 51156,
               "Error occurred while executing the regular expression in %s. Result code: %d", name,
               rc);
            goto done;
         }
         if (match_only) {
            n = 1;
            break;
         }
         ov = pcre2_get_ovector_pointer(md);
         /* The match's index in code points, counted on from the last one. */
         for (; cp_at < ov[0]; cp_at += utf8_len((unsigned char) s[cp_at])) {
            cp_pos++;
         }
         append_match(&arr, n++, s, md, groups, (int32_t) cp_pos);
         if (!all) {
            break;
         }
         if (ov[1] == ov[0]) {
            /* An empty match: go on one code point further. */
            if (ov[1] >= len) {
               break;
            }
            pos = ov[1] + utf8_len((unsigned char) s[ov[1]]);
         } else {
            pos = ov[1];
         }
         if (pos > len) {
            break;
         }
      }
      if (match_only) {
         out->value_type = BSON_TYPE_BOOL;
         out->value.v_bool = n > 0;
      } else if (all) {
         uint32_t blen;
         out->value_type = BSON_TYPE_ARRAY;
         out->value.v_doc.data = bson_destroy_with_steal(&arr, true, &blen);
         out->value.v_doc.data_len = blen;
      } else if (n == 0) {
         expr_val_null(out);
      } else {
         /* The one match is arr[0]: return it as a document. */
         bson_t holder;
         bson_iter_t it, doc;
         uint32_t dlen;
         const uint8_t *data;
         bson_init_static(&holder, bson_get_data(&arr), arr.len);
         bson_iter_init(&it, &holder);
         bson_iter_next(&it);
         bson_iter_document(&it, &dlen, &data);
         (void) doc;
         out->value_type = BSON_TYPE_DOCUMENT;
         out->value.v_doc.data = bson_malloc(dlen);
         memcpy(out->value.v_doc.data, data, dlen);
         out->value.v_doc.data_len = dlen;
      }
   }
   ok = true;

done:
   if (out->value_type != BSON_TYPE_ARRAY) {
      bson_destroy(&arr);
   }
   pcre2_match_data_free(md);
   rx_free(owned);
   for (size_t i = 0; i < 3; i++) {
      bson_value_destroy(&vals[i]);
   }
   return ok;
}

/*
 * Helpers
 */

static fe_expr_t *
parse_object(const op_def_t *op, const bson_iter_t *operand, const char *const *names, size_t n,
             fe_error_t *error)
{
   fe_expr_t *e = expr_node_new(KIND_OP);
   bson_iter_t sub;

   e->op = op;
   e->args = bson_malloc0(sizeof *e->args * n);
   e->n_args = n;
   bson_iter_recurse(operand, &sub);
   while (bson_iter_next(&sub)) {
      for (size_t i = 0; i < n; i++) {
         if (strcmp(names[i], bson_iter_key(&sub)) == 0) {
            expr_destroy(e->args[i]);
            if (!(e->args[i] = expr_compile(&sub, error))) {
               expr_destroy(e);
               return NULL;
            }
         }
      }
   }
   return e;
}

static size_t
utf8_len(unsigned char lead)
{
   return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

/* The code point at s (len bytes available); *n receives its length in bytes. */
static uint32_t
utf8_decode(const char *s, size_t len, size_t *n)
{
   const unsigned char *u = (const unsigned char *) s;
   uint32_t cp;
   *n = utf8_len(u[0]);
   if (*n > len) {
      *n = len;
      return u[0];
   }
   switch (*n) {
   case 1:
      return u[0];
   case 2:
      cp = u[0] & 0x1F;
      break;
   case 3:
      cp = u[0] & 0x0F;
      break;
   default:
      cp = u[0] & 0x07;
      break;
   }
   for (size_t i = 1; i < *n; i++) {
      cp = cp << 6 | (u[i] & 0x3F);
   }
   return cp;
}
