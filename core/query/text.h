/*
 * text.h: text search as MongoDB's text indexes (version 3) and $text define it: the
 * tokenizer, case and diacritic folding, English stop words and stemming, the $text query
 * (terms, "phrases", -negations), matching and mongod's scoring. Pure code over BSON.
 *
 * Languages: "english" (the default) stems with Snowball English (text_stem.c) and drops
 * English stop words; "none" does neither; every other language MongoDB accepts is accepted
 * and treated as "none" (no stemming, no stop words).
 */
#ifndef FE_TEXT_H
#define FE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include <bson/bson.h>

#include "error/error.h"

/* Longer words are not stemmed. */
#define TEXT_STEM_MAX 64

/* The hidden field an aggregate carries a document's score in between the leading $match
 * and the end of the pipeline. */
#define TEXT_SCORE_FIELD "__ferret_textScore"

typedef struct fe_text_index fe_text_index_t;
typedef struct fe_text_query fe_text_query_t;

/* Folding options for text_fold(). */
enum {
   TEXT_CASE_SENSITIVE = 1,
   TEXT_DIACRITIC_SENSITIVE = 2,
};

/* Stems word[0..len) in place (Snowball English); returns the new length. Words that are
 * not all ASCII lower-case letters are left alone. */
size_t text_stem_english(char *word, size_t len);

/* True for an English stop word (lower-case, unaccented). */
bool text_is_stop_word(const char *word, size_t len);

/* True for a language name or code MongoDB's text search accepts. *stems (nullable) receives
 * whether we stem it (english only). */
bool text_language_known(const char *language, bool *stems);

/* Writes the folded form of in[0..len) to out (at least len + 1 bytes; the result is never
 * longer): lower case unless TEXT_CASE_SENSITIVE, diacritics stripped unless
 * TEXT_DIACRITIC_SENSITIVE. Returns the length written. */
size_t text_fold(const char *in, size_t len, unsigned options, char *out);

/* Calls fn with each term of text as an index or query sees it: folded per options, stop
 * words removed and stemmed for english (language NULL: english). fn's term is borrowed for
 * the call. */
void text_terms(const char *text, size_t len, const char *language, unsigned options,
                void (*fn)(void *ctx, const char *term, size_t term_len), void *ctx);

/* ---- index specifications ---- */

/* True when the key pattern of spec declares a text index ("text" values). */
bool text_spec_is_text(const bson_t *spec);

/* Normalizes a createIndexes specification of a text index into *out (caller storage,
 * initialized even on failure) as mongod lists it: {v: 2, key: {<prefix fields>, _fts:
 * "text", _ftsx: 1, <suffix fields>}, name, <options>, weights, default_language,
 * language_override, textIndexVersion: 3}. The default name is built from the key as given
 * ("title_text_body_text"). Errors: 67 CannotCreateIndex, 17262/17263 for languages and
 * versions as mongod, 197 for unknown options. */
bool text_normalize_spec(const bson_t *spec, bson_t *out, fe_error_t *error);

/* Compiles a normalized text index spec (from the catalog). Returns NULL on a malformed one.
 * Owned by the caller. */
fe_text_index_t *text_index_new(const bson_t *spec, fe_error_t *error);
void text_index_destroy(fe_text_index_t *index);

/* ---- $text ---- */

/* Parses the operand of $text ({$search, $language, $caseSensitive, $diacriticSensitive}).
 * Errors as mongod: 2 BadValue, 14 TypeMismatch, 17262 for an unknown language. Owned by the
 * caller. */
fe_text_query_t *text_query_parse(const bson_iter_t *operand, fe_error_t *error);

/* Attaches the collection's text index (copied); until then nothing matches. */
bool text_query_bind(fe_text_query_t *query, const fe_text_index_t *index, fe_error_t *error);

/* True when the query has an index. */
bool text_query_is_bound(const fe_text_query_t *query);

/* True when doc matches; *score (nullable) receives mongod's score (the sum, over the
 * query's positive terms, of the document's weighted term frequencies). */
bool text_query_match(const fe_text_query_t *query, const bson_t *doc, double *score);

void text_query_destroy(fe_text_query_t *query);

#endif /* FE_TEXT_H */
