/*
 * collation.h: MongoDB collations (locale-aware string comparison) on ICU, as mongod does.
 *
 * A collator is parsed from a collation document ({locale: "fr", strength: 2, ...}). The simple
 * collation ({locale: "simple"}, or no collation at all) is binary comparison and has no
 * collator: every function taking a collator treats NULL as "compare the UTF-8 bytes". A
 * collator is immutable once parsed and may be shared by the threads of one command.
 */
#ifndef FE_COLLATION_H
#define FE_COLLATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "error/error.h"

typedef struct fe_collator fe_collator_t;

/* The collation version mongod reports and accepts (the ICU release it bundles). ferret uses
 * the system's ICU; the version is reported as mongod's so that specifications copied from
 * mongod (listIndexes, listCollections) are accepted back. */
#define COLLATION_VERSION "57.1"

/* Parses a collation document. *out (caller storage) receives an owned collator, or NULL for
 * the simple collation. Errors, as mongod 8.0: 40414 when locale is missing, 14 TypeMismatch
 * for a field of the wrong type, 40415 for an unknown field, 2 BadValue for a locale ICU does
 * not know or a bad option value or combination, 51024 for a strength outside 1 to 5, 9
 * FailedToParse for {locale: "simple"} with other fields, 161 IncompatibleCollationVersion for
 * another version. */
bool collation_parse(const bson_t *spec, fe_collator_t **out, fe_error_t *error);

/* As collation_parse() for the value at iter, which must be a document (else 14, naming
 * field). */
bool collation_parse_iter(const bson_iter_t *iter, const char *field, fe_collator_t **out,
                          fe_error_t *error);

/* Compares two UTF-8 strings: <0, 0 or >0. collator NULL compares the bytes. */
int collation_compare(const fe_collator_t *collator, const char *a, size_t a_len, const char *b,
                      size_t b_len);

/* The ICU sort key of a UTF-8 string as lower-case hex text (valid UTF-8, ordered as the
 * strings are under the collation, equal exactly when they compare equal). Owned by the
 * caller (bson_free); *len receives its length. */
char *collation_key(const fe_collator_t *collator, const char *s, size_t len, size_t *key_len);

/* Appends value under key to out, with every string (and symbol) in it, at any depth, replaced
 * by its collation_key(): two values compare equal under the collation exactly when their
 * rewritten forms are equal in binary (what hashed groups and unique index keys need).
 * collator NULL appends the value unchanged. */
void collation_append_key_value(const fe_collator_t *collator, bson_t *out, const char *key,
                                const bson_iter_t *value);

/* Appends the full specification as mongod reports it ({locale, caseLevel, caseFirst,
 * strength, numericOrdering, alternate, maxVariable, normalization, backwards, version}). */
void collation_append_spec(const fe_collator_t *collator, bson_t *out);

/* True when both are the same collation (NULL is the simple one). */
bool collation_equal(const fe_collator_t *a, const fe_collator_t *b);

void collation_destroy(fe_collator_t *collator);

#endif /* FE_COLLATION_H */
