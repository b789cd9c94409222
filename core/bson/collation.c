/*
 * collation.c: MongoDB collation documents parsed into ICU collators, with the checks and
 * error codes of mongod's collator factory ("Collation" in the MongoDB manual).
 */
#include "bson/collation.h"

#include <stdio.h>
#include <string.h>

#include <unicode/ucol.h>
#include <unicode/uloc.h>
#include <unicode/ustring.h>

struct fe_collator {
   UCollator *ucol;  /* owned */
   char locale[160]; /* the locale as given (checked to be ICU's own name for it) */
   bool case_level;
   int case_first; /* 0 off, 1 upper, 2 lower */
   int strength;   /* 1 to 5 */
   bool numeric_ordering;
   bool shifted;
   bool max_variable_space;
   bool normalization;
   bool backwards;
};

typedef enum field_type { FIELD_STRING, FIELD_BOOL, FIELD_INT } field_type_t;

static const char *type_name(bson_type_t type);
static bool check_type(const bson_iter_t *iter, field_type_t want, fe_error_t *error);
static bool check_locale(const fe_collator_t *c, const bson_t *spec, fe_error_t *error);
static bool apply_options(fe_collator_t *c, const bson_t *spec, fe_error_t *error);
static bool set_attribute(fe_collator_t *c, UColAttribute attribute, UColAttributeValue value,
                          fe_error_t *error);
static void read_defaults(fe_collator_t *c);

bool
collation_parse_iter(const bson_iter_t *iter, const char *field, fe_collator_t **out,
                     fe_error_t *error)
{
   const uint8_t *data;
   uint32_t len;
   bson_t spec;

   *out = NULL;
   if (!BSON_ITER_HOLDS_DOCUMENT(iter)) {
      return error_set(error, FE_TypeMismatch,
                       "BSON field '%s' is the wrong type '%s', expected type 'object'", field,
                       type_name(bson_iter_type(iter)));
   }
   bson_iter_document(iter, &len, &data);
   if (!bson_init_static(&spec, data, len)) {
      return error_set(error, FE_BadValue, "malformed collation document");
   }
   return collation_parse(&spec, out, error);
}

bool
collation_parse(const bson_t *spec, fe_collator_t **out, fe_error_t *error)
{
   fe_collator_t *c = NULL;
   bson_iter_t iter;
   const char *locale;
   uint32_t locale_len;
   UErrorCode status = U_ZERO_ERROR;
   bool ok = false;

   *out = NULL;
   if (!bson_iter_init_find(&iter, spec, "locale")) {
      return error_set(error, 40414,
                       "BSON field 'collation.locale' is missing but a required field");
   }
   if (!check_type(&iter, FIELD_STRING, error)) {
      return false;
   }
   locale = bson_iter_utf8(&iter, &locale_len);
   if (strlen(locale) != locale_len) {
      return error_set(error, FE_BadValue, "Field 'locale' cannot contain null byte");
   }
   if (strcmp(locale, "simple") == 0) {
      if (bson_count_keys(spec) > 1) {
         return error_set(error, FE_FailedToParse,
                          "If locale=simple, no other fields should be present");
      }
      return true;
   }
   if (locale[0] == '\0') {
      return error_set(error, FE_BadValue, "Field 'locale' cannot be the empty string");
   }
   if (locale_len >= sizeof c->locale) {
      return error_set(error, FE_BadValue, "Field 'locale' is invalid: '%s'", locale);
   }
   c = bson_malloc0(sizeof *c);
   memcpy(c->locale, locale, locale_len + 1);
   c->ucol = ucol_open(locale, &status);
   if (U_FAILURE(status) || !c->ucol) {
      error_set(error, FE_BadValue, "Field 'locale' is invalid: '%s'", locale);
      goto done;
   }
   if (!check_locale(c, spec, error)) {
      goto done;
   }
   read_defaults(c);
   if (!apply_options(c, spec, error)) {
      goto done;
   }
   /* Checks of mongod's validateCollationSpec(). */
   if (c->backwards && c->strength == 1) {
      error_set(error, FE_BadValue, "'backwards' is invalid with 'strength' of 1");
      goto done;
   }
   if (c->case_first != 0 && !c->case_level && c->strength < 3) {
      error_set(error, FE_BadValue,
                "'caseFirst' is invalid unless 'caseLevel' is on or 'strength' is greater than 2");
      goto done;
   }
   *out = c;
   c = NULL;
   ok = true;

done:
   collation_destroy(c);
   return ok;
}

int
collation_compare(const fe_collator_t *collator, const char *a, size_t a_len, const char *b,
                  size_t b_len)
{
   UErrorCode status = U_ZERO_ERROR;
   UCollationResult r;

   if (!collator) {
      size_t n = a_len < b_len ? a_len : b_len;
      int c = n ? memcmp(a, b, n) : 0;
      if (c != 0) {
         return c < 0 ? -1 : 1;
      }
      return (a_len > b_len) - (a_len < b_len);
   }
   r = ucol_strcollUTF8(collator->ucol, a, (int32_t) a_len, b, (int32_t) b_len, &status);
   if (U_FAILURE(status)) {
      /* Only invalid arguments fail; compare the bytes rather than call everything equal. */
      return collation_compare(NULL, a, a_len, b, b_len);
   }
   return r == UCOL_LESS ? -1 : r == UCOL_GREATER ? 1 : 0;
}

char *
collation_key(const fe_collator_t *collator, const char *s, size_t len, size_t *key_len)
{
   static const char digits[] = "0123456789abcdef";
   UErrorCode status = U_ZERO_ERROR;
   UChar stack_buf[256];
   UChar *utf16 = stack_buf;
   int32_t utf16_len = 0;
   uint8_t key_buf[512];
   uint8_t *key = key_buf;
   int32_t n;
   char *hex;

   u_strFromUTF8Lenient(utf16, (int32_t) (sizeof stack_buf / sizeof *stack_buf), &utf16_len, s,
                        (int32_t) len, &status);
   if (status == U_BUFFER_OVERFLOW_ERROR) {
      status = U_ZERO_ERROR;
      utf16 = bson_malloc(((size_t) utf16_len + 1) * sizeof *utf16);
      u_strFromUTF8Lenient(utf16, utf16_len + 1, &utf16_len, s, (int32_t) len, &status);
   }
   if (U_FAILURE(status)) {
      utf16_len = 0;
   }
   n = ucol_getSortKey(collator->ucol, utf16, utf16_len, key, (int32_t) sizeof key_buf);
   if (n > (int32_t) sizeof key_buf) {
      key = bson_malloc((size_t) n);
      n = ucol_getSortKey(collator->ucol, utf16, utf16_len, key, n);
   }
   /* The key ends with a zero byte, which is not part of the ordering. */
   if (n > 0 && key[n - 1] == 0) {
      n--;
   }
   hex = bson_malloc((size_t) n * 2 + 1);
   for (int32_t i = 0; i < n; i++) {
      hex[2 * i] = digits[key[i] >> 4];
      hex[2 * i + 1] = digits[key[i] & 15];
   }
   hex[n * 2] = '\0';
   *key_len = (size_t) n * 2;
   if (utf16 != stack_buf) {
      bson_free(utf16);
   }
   if (key != key_buf) {
      bson_free(key);
   }
   return hex;
}

void
collation_append_key_value(const fe_collator_t *collator, bson_t *out, const char *key,
                           const bson_iter_t *value)
{
   bson_type_t type = bson_iter_type(value);

   if (!collator) {
      bson_append_iter(out, key, -1, value);
      return;
   }
   switch (type) {
   case BSON_TYPE_UTF8:
   case BSON_TYPE_SYMBOL: {
      uint32_t len;
      size_t key_len;
      const char *s =
         type == BSON_TYPE_UTF8 ? bson_iter_utf8(value, &len) : bson_iter_symbol(value, &len);
      char *sort_key = collation_key(collator, s, len, &key_len);
      /* Symbols and strings compare as one type, so both become strings. */
      bson_append_utf8(out, key, -1, sort_key, (int) key_len);
      bson_free(sort_key);
      return;
   }
   case BSON_TYPE_DOCUMENT:
   case BSON_TYPE_ARRAY: {
      bson_iter_t child;
      bson_t sub;
      if (type == BSON_TYPE_DOCUMENT) {
         bson_append_document_begin(out, key, -1, &sub);
      } else {
         bson_append_array_begin(out, key, -1, &sub);
      }
      if (bson_iter_recurse(value, &child)) {
         while (bson_iter_next(&child)) {
            collation_append_key_value(collator, &sub, bson_iter_key(&child), &child);
         }
      }
      if (type == BSON_TYPE_DOCUMENT) {
         bson_append_document_end(out, &sub);
      } else {
         bson_append_array_end(out, &sub);
      }
      return;
   }
   default:
      bson_append_iter(out, key, -1, value);
      return;
   }
}

void
collation_append_spec(const fe_collator_t *c, bson_t *out)
{
   static const char *const case_first[] = {"off", "upper", "lower"};

   BSON_APPEND_UTF8(out, "locale", c->locale);
   BSON_APPEND_BOOL(out, "caseLevel", c->case_level);
   BSON_APPEND_UTF8(out, "caseFirst", case_first[c->case_first]);
   BSON_APPEND_INT32(out, "strength", c->strength);
   BSON_APPEND_BOOL(out, "numericOrdering", c->numeric_ordering);
   BSON_APPEND_UTF8(out, "alternate", c->shifted ? "shifted" : "non-ignorable");
   BSON_APPEND_UTF8(out, "maxVariable", c->max_variable_space ? "space" : "punct");
   BSON_APPEND_BOOL(out, "normalization", c->normalization);
   BSON_APPEND_BOOL(out, "backwards", c->backwards);
   BSON_APPEND_UTF8(out, "version", COLLATION_VERSION);
}

bool
collation_equal(const fe_collator_t *a, const fe_collator_t *b)
{
   if (!a || !b) {
      return a == b;
   }
   return strcmp(a->locale, b->locale) == 0 && a->case_level == b->case_level &&
          a->case_first == b->case_first && a->strength == b->strength &&
          a->numeric_ordering == b->numeric_ordering && a->shifted == b->shifted &&
          a->max_variable_space == b->max_variable_space && a->normalization == b->normalization &&
          a->backwards == b->backwards;
}

void
collation_destroy(fe_collator_t *collator)
{
   if (collator) {
      if (collator->ucol) {
         ucol_close(collator->ucol);
      }
      bson_free(collator);
   }
}

/* Helpers */

static const char *
type_name(bson_type_t type)
{
   switch (type) {
   case BSON_TYPE_DOUBLE:
      return "double";
   case BSON_TYPE_UTF8:
      return "string";
   case BSON_TYPE_DOCUMENT:
      return "object";
   case BSON_TYPE_ARRAY:
      return "array";
   case BSON_TYPE_BOOL:
      return "bool";
   case BSON_TYPE_NULL:
      return "null";
   case BSON_TYPE_INT32:
      return "int";
   case BSON_TYPE_INT64:
      return "long";
   case BSON_TYPE_DECIMAL128:
      return "decimal";
   default:
      return "other";
   }
}

/* The IDL parser's type checks: a string field takes a string, a bool field a bool, an int
 * field a number with an integral value. */
static bool
check_type(const bson_iter_t *iter, field_type_t want, fe_error_t *error)
{
   bson_type_t type = bson_iter_type(iter);
   const char *expected = want == FIELD_STRING ? "string" : want == FIELD_BOOL ? "bool" : "int";
   bool fits = false;

   switch (want) {
   case FIELD_STRING:
      fits = type == BSON_TYPE_UTF8;
      break;
   case FIELD_BOOL:
      fits = type == BSON_TYPE_BOOL;
      break;
   case FIELD_INT:
      fits = type == BSON_TYPE_INT32 || type == BSON_TYPE_INT64 || type == BSON_TYPE_DOUBLE ||
             type == BSON_TYPE_DECIMAL128;
      break;
   }
   if (!fits) {
      return error_set(error, FE_TypeMismatch,
                       "BSON field 'collation.%s' is the wrong type '%s', expected type '%s'",
                       bson_iter_key(iter), type_name(type), expected);
   }
   return true;
}

/* mongod refuses a locale ICU would silently replace (an unknown one falls back to the root
 * collation): the collator's valid locale must be the one asked for. */
static bool
check_locale(const fe_collator_t *c, const bson_t *spec, fe_error_t *error)
{
   UErrorCode status = U_ZERO_ERROR;
   const char *valid = ucol_getLocaleByType(c->ucol, ULOC_VALID_LOCALE, &status);
   char *json;
   bool ok;

   (void) spec;
   if (U_FAILURE(status) || !valid) {
      return error_set(error, FE_BadValue, "Field 'locale' is invalid: '%s'", c->locale);
   }
   ok = strcmp(valid, c->locale) == 0;
   if (ok) {
      return true;
   }
   json = bson_as_relaxed_extended_json(spec, NULL);
   if (strcmp(valid, "root") != 0 && valid[0] != '\0') {
      error_set(error, FE_BadValue, "Field 'locale' is invalid in: %s. Did you mean '%s'?",
                json ? json : "{}", valid);
   } else {
      error_set(error, FE_BadValue, "Field 'locale' is invalid in: %s", json ? json : "{}");
   }
   bson_free(json);
   return false;
}

/* What the locale chose, for the fields the spec leaves out (listIndexes shows them). */
static void
read_defaults(fe_collator_t *c)
{
   UErrorCode status = U_ZERO_ERROR;
   UColAttributeValue v;

   c->case_level = ucol_getAttribute(c->ucol, UCOL_CASE_LEVEL, &status) == UCOL_ON;
   v = ucol_getAttribute(c->ucol, UCOL_CASE_FIRST, &status);
   c->case_first = v == UCOL_UPPER_FIRST ? 1 : v == UCOL_LOWER_FIRST ? 2 : 0;
   v = ucol_getAttribute(c->ucol, UCOL_STRENGTH, &status);
   c->strength = v == UCOL_PRIMARY      ? 1
                 : v == UCOL_SECONDARY  ? 2
                 : v == UCOL_QUATERNARY ? 4
                 : v == UCOL_IDENTICAL  ? 5
                                        : 3;
   c->numeric_ordering = ucol_getAttribute(c->ucol, UCOL_NUMERIC_COLLATION, &status) == UCOL_ON;
   c->shifted = ucol_getAttribute(c->ucol, UCOL_ALTERNATE_HANDLING, &status) == UCOL_SHIFTED;
   c->max_variable_space = ucol_getMaxVariable(c->ucol) == UCOL_REORDER_CODE_SPACE;
   c->normalization = ucol_getAttribute(c->ucol, UCOL_NORMALIZATION_MODE, &status) == UCOL_ON;
   c->backwards = ucol_getAttribute(c->ucol, UCOL_FRENCH_COLLATION, &status) == UCOL_ON;
}

static bool
set_attribute(fe_collator_t *c, UColAttribute attribute, UColAttributeValue value,
              fe_error_t *error)
{
   UErrorCode status = U_ZERO_ERROR;
   ucol_setAttribute(c->ucol, attribute, value, &status);
   if (U_FAILURE(status)) {
      return error_set(error, FE_OperationFailed, "failed to set a collation attribute: %s",
                       u_errorName(status));
   }
   return true;
}

static bool
apply_options(fe_collator_t *c, const bson_t *spec, fe_error_t *error)
{
   bson_iter_t iter;

   if (!bson_iter_init(&iter, spec)) {
      return error_set(error, FE_BadValue, "malformed collation document");
   }
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "locale") == 0) {
         continue;
      }
      if (strcmp(key, "caseLevel") == 0 || strcmp(key, "numericOrdering") == 0 ||
          strcmp(key, "normalization") == 0 || strcmp(key, "backwards") == 0) {
         bool on;
         UColAttribute attribute;
         if (!check_type(&iter, FIELD_BOOL, error)) {
            return false;
         }
         on = bson_iter_bool(&iter);
         if (key[0] == 'c') {
            c->case_level = on;
            attribute = UCOL_CASE_LEVEL;
         } else if (key[0] == 'n' && key[1] == 'u') {
            c->numeric_ordering = on;
            attribute = UCOL_NUMERIC_COLLATION;
         } else if (key[0] == 'n') {
            c->normalization = on;
            attribute = UCOL_NORMALIZATION_MODE;
         } else {
            c->backwards = on;
            attribute = UCOL_FRENCH_COLLATION;
         }
         if (!set_attribute(c, attribute, on ? UCOL_ON : UCOL_OFF, error)) {
            return false;
         }
      } else if (strcmp(key, "strength") == 0) {
         static const UColAttributeValue levels[] = {UCOL_PRIMARY, UCOL_SECONDARY, UCOL_TERTIARY,
                                                     UCOL_QUATERNARY, UCOL_IDENTICAL};
         double value;
         if (!check_type(&iter, FIELD_INT, error)) {
            return false;
         }
         value = bson_iter_as_double(&iter);
         if (value != (double) (int64_t) value) {
            return error_set(error, FE_TypeMismatch,
                             "BSON field 'collation.strength' has a non-integral value");
         }
         if (value < 1 || value > 5) {
            return error_set(error, 51024,
                             "BSON field 'strength' value must be %s, actual value '%lld'",
                             value < 1 ? ">= 1" : "<= 5", (long long) value);
         }
         c->strength = (int) value;
         if (!set_attribute(c, UCOL_STRENGTH, levels[c->strength - 1], error)) {
            return false;
         }
      } else if (strcmp(key, "caseFirst") == 0 || strcmp(key, "alternate") == 0 ||
                 strcmp(key, "maxVariable") == 0) {
         const char *value;
         if (!check_type(&iter, FIELD_STRING, error)) {
            return false;
         }
         value = bson_iter_utf8(&iter, NULL);
         if (key[0] == 'c') {
            if (strcmp(value, "off") == 0) {
               c->case_first = 0;
            } else if (strcmp(value, "upper") == 0) {
               c->case_first = 1;
            } else if (strcmp(value, "lower") == 0) {
               c->case_first = 2;
            } else {
               goto bad_enum;
            }
            if (!set_attribute(c, UCOL_CASE_FIRST,
                               c->case_first == 1   ? UCOL_UPPER_FIRST
                               : c->case_first == 2 ? UCOL_LOWER_FIRST
                                                    : UCOL_OFF,
                               error)) {
               return false;
            }
         } else if (key[0] == 'a') {
            if (strcmp(value, "non-ignorable") == 0) {
               c->shifted = false;
            } else if (strcmp(value, "shifted") == 0) {
               c->shifted = true;
            } else {
               goto bad_enum;
            }
            if (!set_attribute(c, UCOL_ALTERNATE_HANDLING,
                               c->shifted ? UCOL_SHIFTED : UCOL_NON_IGNORABLE, error)) {
               return false;
            }
         } else {
            UErrorCode status = U_ZERO_ERROR;
            if (strcmp(value, "punct") == 0) {
               c->max_variable_space = false;
            } else if (strcmp(value, "space") == 0) {
               c->max_variable_space = true;
            } else {
               goto bad_enum;
            }
            ucol_setMaxVariable(c->ucol,
                                c->max_variable_space ? UCOL_REORDER_CODE_SPACE
                                                      : UCOL_REORDER_CODE_PUNCTUATION,
                                &status);
            if (U_FAILURE(status)) {
               return error_set(error, FE_OperationFailed, "failed to set maxVariable: %s",
                                u_errorName(status));
            }
         }
         continue;
      bad_enum:
         return error_set(error, FE_BadValue,
                          "Enumeration value '%s' for field 'collation.%s' is not a valid value.",
                          value, key);
      } else if (strcmp(key, "version") == 0) {
         if (!check_type(&iter, FIELD_STRING, error)) {
            return false;
         }
         if (strcmp(bson_iter_utf8(&iter, NULL), COLLATION_VERSION) != 0) {
            return error_set(error, FE_IncompatibleCollationVersion,
                             "Requested collation version %s but the only available collator "
                             "version was %s",
                             bson_iter_utf8(&iter, NULL), COLLATION_VERSION);
         }
      } else {
         return error_set(error, 40415, "BSON field 'collation.%s' is an unknown field.", key);
      }
   }
   return true;
}
