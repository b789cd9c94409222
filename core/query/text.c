/*
 * text.c: text indexes and $text (interface and the languages covered in text.h).
 *
 * Tokens are split on MongoDB's delimiters (white space, dashes, quotation marks, terminal
 * punctuation and pattern syntax: every ASCII punctuation character but '_', and the same
 * classes in Latin-1, general punctuation and the symbol blocks). Folding is Unicode simple
 * case folding for Latin-1, Latin Extended-A and -Additional, Greek and Cyrillic; diacritic
 * removal covers precomposed Latin-1 and Latin Extended-A letters, Greek tonos and dialytika,
 * and drops combining marks (U+0300-U+036F). Scores follow mongod's FTSSpec::_scoreStringV2.
 */
#include "query/text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One term of a document: its score, and the per-string counters of mongod's scoring. */
typedef struct term_entry {
   char *term; /* owned; NULL: free slot */
   size_t len;
   double score;
   double freq;
   double exp;
   unsigned count;
} term_entry_t;

typedef struct term_table {
   term_entry_t *slots; /* owned */
   size_t capacity;     /* a power of two, or 0 */
   size_t used;
} term_table_t;

typedef struct text_field {
   char *path; /* owned; dotted, or "$**" */
   double weight;
} text_field_t;

struct fe_text_index {
   text_field_t *fields; /* owned */
   size_t count;
   bool wildcard;
   double wildcard_weight;
   char *default_language;  /* owned */
   char *language_override; /* owned */
};

typedef struct string_list {
   char **items; /* owned, each owned */
   size_t count;
} string_list_t;

struct fe_text_query {
   char *language; /* owned; NULL: the index's default */
   bool case_sensitive;
   bool diacritic_sensitive;
   char *search;           /* owned */
   string_list_t bounds;   /* positive terms, folded (what the index is searched for) */
   string_list_t positive; /* positive terms folded per the query's options */
   string_list_t negative;
   string_list_t phrases; /* folded per the options */
   string_list_t negated_phrases;
   fe_text_index_t *index; /* owned; NULL until bound */
};

/* The state of one document walk. */
typedef struct walk {
   const fe_text_query_t *query;
   term_table_t scores;    /* case- and diacritic-insensitive terms with scores */
   term_table_t sensitive; /* terms per the query's options (only when it has some) */
   term_table_t local;     /* one string's counters */
   bool *phrase_found;     /* owned; one per positive phrase */
   bool negated_phrase;
   unsigned options;
   double weight; /* of the string being scored */
   unsigned tokens;
} walk_t;

/* ---- characters ---- */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);
static size_t utf8_encode(uint32_t cp, char *out);
static bool is_space(uint32_t cp);
static bool is_delimiter(uint32_t cp);
static uint32_t fold_cp(uint32_t cp, unsigned options);

/* ---- terms ---- */
static void table_clear(term_table_t *table);
static term_entry_t *table_get(term_table_t *table, const char *term, size_t len, bool add);
static bool list_add(string_list_t *list, const char *s, size_t len);
static void list_clear(string_list_t *list);
static bool list_has(const string_list_t *list, const char *s, size_t len);

/* ---- documents ---- */
static void walk_document(walk_t *walk, const bson_t *doc, const char *prefix,
                          const char *language);
static void walk_value(walk_t *walk, const bson_iter_t *iter, const char *path,
                       const char *language);
static bool field_weight(const fe_text_index_t *index, const char *path, double *weight);
static bool path_may_lead(const fe_text_index_t *index, const char *path);

static const char *const stop_words[] = {
   "a",         "about",     "above",      "after",   "again",   "against",   "all",
   "am",        "an",        "and",        "any",     "are",     "aren't",    "as",
   "at",        "be",        "because",    "been",    "before",  "being",     "below",
   "between",   "both",      "but",        "by",      "can",     "can't",     "cannot",
   "could",     "couldn't",  "did",        "didn't",  "do",      "does",      "doesn't",
   "doing",     "don't",     "down",       "during",  "each",    "few",       "for",
   "from",      "further",   "had",        "hadn't",  "has",     "hasn't",    "have",
   "haven't",   "having",    "he",         "he'd",    "he'll",   "he's",      "her",
   "here",      "here's",    "hers",       "herself", "him",     "himself",   "his",
   "how",       "how's",     "i",          "i'd",     "i'll",    "i'm",       "i've",
   "if",        "in",        "into",       "is",      "isn't",   "it",        "it's",
   "its",       "itself",    "let's",      "me",      "more",    "most",      "mustn't",
   "my",        "myself",    "no",         "nor",     "not",     "of",        "off",
   "on",        "once",      "only",       "or",      "other",   "ought",     "our",
   "ours",      "ourselves", "out",        "over",    "own",     "same",      "shan't",
   "she",       "she'd",     "she'll",     "she's",   "should",  "shouldn't", "so",
   "some",      "such",      "than",       "that",    "that's",  "the",       "their",
   "theirs",    "them",      "themselves", "then",    "there",   "there's",   "these",
   "they",      "they'd",    "they'll",    "they're", "they've", "this",      "those",
   "through",   "to",        "too",        "under",   "until",   "up",        "very",
   "was",       "wasn't",    "we",         "we'd",    "we'll",   "we're",     "we've",
   "were",      "weren't",   "what",       "what's",  "when",    "when's",    "where",
   "where's",   "which",     "while",      "who",     "who's",   "whom",      "why",
   "why's",     "will",      "with",       "won't",   "would",   "wouldn't",  "you",
   "you'd",     "you'll",    "you're",     "you've",  "your",    "yours",     "yourself",
   "yourselves"};

/* The languages of MongoDB's text search (names and ISO 639-1 codes). */
static const char *const languages[] = {
   "none",    "danish",    "dutch",      "english",  "finnish", "french",  "german",  "hungarian",
   "italian", "norwegian", "portuguese", "romanian", "russian", "spanish", "swedish", "turkish",
   "da",      "nl",        "en",         "fi",       "fr",      "de",      "hu",      "it",
   "nb",      "pt",        "ro",         "ru",       "es",      "sv",      "tr",      NULL};

/* Base letters of U+0100-U+017F once diacritics go ('.': none). */
static const char latin_ext_a[] = "aaaaaaccccccccdd"
                                  "ddeeeeeeeeeegggg"
                                  "gggghhhhiiiiiiii"
                                  "ii..jjkk.lllllll"
                                  "lllnnnnnn...oooo"
                                  "oo..rrrrrrssssss"
                                  "ssttttttuuuuuuuu"
                                  "uuuuwwyyyzzzzzz.";

/* Base letters of U+00E0-U+00FF ('.': none). */
static const char latin_1[] = "aaaaaa.ceeeeiiii.nooooo.ouuuuy.y";

/* ---------------------------------------------------------------------------------------------
 * Characters and terms
 * ------------------------------------------------------------------------------------------- */

bool
text_is_stop_word(const char *word, size_t len)
{
   size_t lo = 0, hi = sizeof stop_words / sizeof stop_words[0];
   while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      int c = strncmp(stop_words[mid], word, len);
      if (c == 0) {
         c = stop_words[mid][len] == '\0' ? 0 : 1;
      }
      if (c == 0) {
         return true;
      }
      if (c < 0) {
         lo = mid + 1;
      } else {
         hi = mid;
      }
   }
   return false;
}

bool
text_language_known(const char *language, bool *stems)
{
   for (size_t i = 0; languages[i]; i++) {
      if (strcmp(languages[i], language) == 0) {
         if (stems) {
            *stems = strcmp(language, "english") == 0 || strcmp(language, "en") == 0;
         }
         return true;
      }
   }
   if (stems) {
      *stems = false;
   }
   return false;
}

size_t
text_fold(const char *in, size_t len, unsigned options, char *out)
{
   const unsigned char *s = (const unsigned char *) in;
   size_t used = 0;
   size_t i = 0;

   while (i < len) {
      uint32_t cp;
      size_t n = utf8_decode(s + i, len - i, &cp);
      uint32_t folded = fold_cp(cp, options);
      if (folded == cp || utf8_encode(folded, NULL) > n) {
         /* Unchanged (or an odd mapping that would grow): copy the bytes. */
         if (folded != 0) {
            memcpy(out + used, in + i, n);
            used += n;
         }
      } else if (folded != 0) {
         used += utf8_encode(folded, out + used);
      }
      i += n;
   }
   out[used] = '\0';
   return used;
}

void
text_terms(const char *text, size_t len, const char *language, unsigned options,
           void (*fn)(void *ctx, const char *term, size_t term_len), void *ctx)
{
   const unsigned char *s = (const unsigned char *) text;
   bool stems = true;
   char stack[256];
   char lower_stack[256];
   char *buf = stack;
   char *lower = lower_stack;
   size_t i = 0;

   if (language) {
      text_language_known(language, &stems);
   }
   if (len + 1 > sizeof stack) {
      buf = malloc(len + 1);
      lower = malloc(len + 1);
      if (!buf || !lower) {
         free(buf);
         free(lower);
         return;
      }
   }
   while (i < len) {
      size_t start, end;
      size_t n = 0;
      uint32_t cp = 0;
      /* Skip delimiters, then take the run up to the next one. */
      while (i < len && (n = utf8_decode(s + i, len - i, &cp), is_delimiter(cp))) {
         i += n;
      }
      start = i;
      while (i < len && (n = utf8_decode(s + i, len - i, &cp), !is_delimiter(cp))) {
         i += n;
      }
      end = i;
      if (end == start) {
         continue;
      }
      {
         size_t folded = text_fold(text + start, end - start, options, buf);
         if (folded == 0) {
            continue;
         }
         if (stems) {
            /* Stop words are looked up lower-case and unaccented, whatever the options. */
            size_t plain = options ? text_fold(text + start, end - start, 0, lower) : folded;
            if (text_is_stop_word(options ? lower : buf, plain)) {
               continue;
            }
            folded = text_stem_english(buf, folded);
         }
         fn(ctx, buf, folded);
      }
   }
   if (buf != stack) {
      free(buf);
      free(lower);
   }
}

static size_t
utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
   size_t n;
   uint32_t c = s[0];

   if (c < 0x80) {
      *cp = c;
      return 1;
   }
   n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
   if (n == 1 || n > len) {
      *cp = 0xFFFD; /* stored strings are valid UTF-8; be safe anyway */
      return 1;
   }
   c &= 0xFF >> (n + 1);
   for (size_t i = 1; i < n; i++) {
      if ((s[i] & 0xC0) != 0x80) {
         *cp = 0xFFFD;
         return 1;
      }
      c = (c << 6) | (s[i] & 0x3F);
   }
   *cp = c;
   return n;
}

/* Encodes cp to out (nullable: only count); returns its length. */
static size_t
utf8_encode(uint32_t cp, char *out)
{
   char tmp[4];
   size_t n;
   char *o = out ? out : tmp;

   if (cp < 0x80) {
      o[0] = (char) cp;
      return 1;
   }
   if (cp < 0x800) {
      n = 2;
      o[0] = (char) (0xC0 | (cp >> 6));
   } else if (cp < 0x10000) {
      n = 3;
      o[0] = (char) (0xE0 | (cp >> 12));
      o[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
   } else {
      n = 4;
      o[0] = (char) (0xF0 | (cp >> 18));
      o[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
      o[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
   }
   o[n - 1] = (char) (0x80 | (cp & 0x3F));
   return n;
}

static bool
is_space(uint32_t cp)
{
   return cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
          (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
          cp == 0x205F || cp == 0x3000;
}

static bool
is_delimiter(uint32_t cp)
{
   if (cp < 0x80) {
      return is_space(cp) || cp < 0x20 || cp == 0x7F ||
             (cp != '_' && ((cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) ||
                            (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E)));
   }
   if (is_space(cp)) {
      return true;
   }
   if (cp < 0x100) {
      return (cp >= 0xA1 && cp <= 0xA7) || cp == 0xA9 || cp == 0xAB || cp == 0xAC || cp == 0xAE ||
             cp == 0xB0 || cp == 0xB1 || cp == 0xB6 || cp == 0xB7 || cp == 0xBB || cp == 0xBF ||
             cp == 0xD7 || cp == 0xF7;
   }
   return cp == 0x37E || cp == 0x387 || (cp >= 0x55C && cp <= 0x55E) || cp == 0x589 ||
          cp == 0x58A || cp == 0x5BE || cp == 0x60C || cp == 0x61B || cp == 0x61F || cp == 0x6D4 ||
          (cp >= 0x2010 && cp <= 0x2027) || (cp >= 0x2030 && cp <= 0x205E) ||
          (cp >= 0x2190 && cp <= 0x2BFF) || (cp >= 0x2E00 && cp <= 0x2E7F) ||
          (cp >= 0x3001 && cp <= 0x3003) || (cp >= 0x3008 && cp <= 0x3020) || cp == 0x3030 ||
          (cp >= 0xFE10 && cp <= 0xFE19) || (cp >= 0xFE30 && cp <= 0xFE6B) ||
          (cp >= 0xFF01 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
          (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65);
}

/* The folded code point; 0 drops it (a combining mark when diacritics are ignored). */
static uint32_t
fold_cp(uint32_t cp, unsigned options)
{
   if (!(options & TEXT_CASE_SENSITIVE)) {
      if (cp >= 'A' && cp <= 'Z') {
         cp += 0x20;
      } else if (cp < 0x80) {
         return cp;
      } else if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) {
         cp += 0x20;
      } else if (cp >= 0x100 && cp <= 0x17F) {
         if (cp == 0x178) {
            cp = 0xFF;
         } else if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) {
            cp += cp & 1;
         } else if (cp != 0x130 && cp != 0x131 && cp != 0x138 && cp != 0x149 && cp != 0x17F) {
            cp |= 1;
         }
      } else if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) {
         cp += 0x20;
      } else if (cp == 0x386) {
         cp = 0x3AC;
      } else if (cp >= 0x388 && cp <= 0x38A) {
         cp += 0x25;
      } else if (cp == 0x38C) {
         cp = 0x3CC;
      } else if (cp == 0x38E || cp == 0x38F) {
         cp += 0x3F;
      } else if (cp >= 0x410 && cp <= 0x42F) {
         cp += 0x20;
      } else if (cp >= 0x400 && cp <= 0x40F) {
         cp += 0x50;
      } else if (cp >= 0x1E00 && cp <= 0x1EFF && !(cp >= 0x1E96 && cp <= 0x1E9F)) {
         cp |= 1;
      }
   }
   if (!(options & TEXT_DIACRITIC_SENSITIVE)) {
      if (cp >= 0x300 && cp <= 0x36F) {
         return 0;
      }
      if (cp >= 0xC0 && cp <= 0xFF && cp != 0xDF) {
         char base = latin_1[(cp & 0xDF) - 0xC0];
         if (base != '.') {
            return cp >= 0xE0 ? (uint32_t) base : (uint32_t) base - 0x20;
         }
      } else if (cp >= 0x100 && cp <= 0x17F && latin_ext_a[cp - 0x100] != '.') {
         bool upper = (options & TEXT_CASE_SENSITIVE) && cp != 0x131 &&
                      (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
                          ? (cp & 1)
                          : !(cp & 1) || cp == 0x130);
         return (uint32_t) latin_ext_a[cp - 0x100] - (upper ? 0x20 : 0);
      } else if (cp == 0x3AC || cp == 0x3AD || cp == 0x3AE || cp == 0x3AF || cp == 0x3CC ||
                 cp == 0x3CD || cp == 0x3CE || cp == 0x3CA || cp == 0x3CB || cp == 0x390 ||
                 cp == 0x3B0) {
         switch (cp) {
         case 0x3AC:
            return 0x3B1;
         case 0x3AD:
            return 0x3B5;
         case 0x3AE:
            return 0x3B7;
         case 0x3AF:
         case 0x3CA:
         case 0x390:
            return 0x3B9;
         case 0x3CC:
            return 0x3BF;
         case 0x3CE:
            return 0x3C9;
         default:
            return 0x3C5;
         }
      }
   }
   return cp;
}

static uint64_t
hash_term(const char *s, size_t len)
{
   uint64_t h = 1469598103934665603ULL;
   for (size_t i = 0; i < len; i++) {
      h = (h ^ (unsigned char) s[i]) * 1099511628211ULL;
   }
   return h;
}

static void
table_clear(term_table_t *table)
{
   for (size_t i = 0; i < table->capacity; i++) {
      free(table->slots[i].term);
   }
   free(table->slots);
   memset(table, 0, sizeof *table);
}

/* The entry of term, added (zeroed) when add; NULL when absent or out of memory. */
static term_entry_t *
table_get(term_table_t *table, const char *term, size_t len, bool add)
{
   size_t mask;
   size_t i;

   if (table->capacity == 0 && !add) {
      return NULL;
   }
   if (add && (table->used + 1) * 2 > table->capacity) {
      term_table_t bigger = {0};
      bigger.capacity = table->capacity ? table->capacity * 2 : 32;
      bigger.slots = calloc(bigger.capacity, sizeof *bigger.slots);
      if (!bigger.slots) {
         return NULL;
      }
      for (size_t k = 0; k < table->capacity; k++) {
         term_entry_t *old = &table->slots[k];
         if (old->term) {
            size_t j = hash_term(old->term, old->len) & (bigger.capacity - 1);
            while (bigger.slots[j].term) {
               j = (j + 1) & (bigger.capacity - 1);
            }
            bigger.slots[j] = *old;
            bigger.used++;
         }
      }
      free(table->slots);
      *table = bigger;
   }
   mask = table->capacity - 1;
   for (i = hash_term(term, len) & mask; table->slots[i].term; i = (i + 1) & mask) {
      if (table->slots[i].len == len && memcmp(table->slots[i].term, term, len) == 0) {
         return &table->slots[i];
      }
   }
   if (!add) {
      return NULL;
   }
   table->slots[i].term = malloc(len + 1);
   if (!table->slots[i].term) {
      return NULL;
   }
   memcpy(table->slots[i].term, term, len);
   table->slots[i].term[len] = '\0';
   table->slots[i].len = len;
   table->used++;
   return &table->slots[i];
}

static bool
list_add(string_list_t *list, const char *s, size_t len)
{
   char **bigger;
   if (list_has(list, s, len)) {
      return true;
   }
   bigger = realloc(list->items, (list->count + 1) * sizeof *bigger);
   if (!bigger) {
      return false;
   }
   list->items = bigger;
   list->items[list->count] = malloc(len + 1);
   if (!list->items[list->count]) {
      return false;
   }
   memcpy(list->items[list->count], s, len);
   list->items[list->count][len] = '\0';
   list->count++;
   return true;
}

static bool
list_has(const string_list_t *list, const char *s, size_t len)
{
   for (size_t i = 0; i < list->count; i++) {
      if (strlen(list->items[i]) == len && memcmp(list->items[i], s, len) == 0) {
         return true;
      }
   }
   return false;
}

static void
list_clear(string_list_t *list)
{
   for (size_t i = 0; i < list->count; i++) {
      free(list->items[i]);
   }
   free(list->items);
   memset(list, 0, sizeof *list);
}

/* ---------------------------------------------------------------------------------------------
 * Index specifications
 * ------------------------------------------------------------------------------------------- */

bool
text_spec_is_text(const bson_t *spec)
{
   bson_iter_t iter, key;
   if (!bson_iter_init_find(&iter, spec, "key") || !BSON_ITER_HOLDS_DOCUMENT(&iter) ||
       !bson_iter_recurse(&iter, &key)) {
      return false;
   }
   while (bson_iter_next(&key)) {
      if (BSON_ITER_HOLDS_UTF8(&key) && strcmp(bson_iter_utf8(&key, NULL), "text") == 0) {
         return true;
      }
   }
   return false;
}

/* Adds field with weight to the sorted weights being built (names[i], values[i]). */
static bool
weights_set(char ***names, double **values, size_t *count, const char *field, double weight,
            bool replace)
{
   char **n;
   double *v;
   for (size_t i = 0; i < *count; i++) {
      if (strcmp((*names)[i], field) == 0) {
         if (replace) {
            (*values)[i] = weight;
         }
         return true;
      }
   }
   n = realloc(*names, (*count + 1) * sizeof *n);
   if (!n) {
      return false;
   }
   *names = n;
   v = realloc(*values, (*count + 1) * sizeof *v);
   if (!v) {
      return false;
   }
   *values = v;
   n[*count] = bson_strdup(field);
   v[*count] = weight;
   (*count)++;
   return true;
}

bool
text_normalize_spec(const bson_t *spec, bson_t *out, fe_error_t *error)
{
   bson_iter_t iter, key;
   bson_t prefix = BSON_INITIALIZER; /* non-text fields before the text fields */
   bson_t suffix = BSON_INITIALIZER;
   bson_t options = BSON_INITIALIZER;
   char **names = NULL;
   double *values = NULL;
   size_t count = 0;
   const char *name = NULL;
   const char *default_language = "english";
   const char *language_override = "language";
   char generated[1024] = "";
   size_t used = 0;
   bool seen_text = false;
   bool after_text = false;
   bool ok = false;

   bson_init(out);
   if (!bson_iter_init_find(&iter, spec, "key") || !BSON_ITER_HOLDS_DOCUMENT(&iter) ||
       !bson_iter_recurse(&iter, &key)) {
      error_set(error, FE_CannotCreateIndex, "malformed index key pattern");
      goto done;
   }
   while (bson_iter_next(&key)) {
      const char *field = bson_iter_key(&key);
      bool text = BSON_ITER_HOLDS_UTF8(&key) && strcmp(bson_iter_utf8(&key, NULL), "text") == 0;
      int written = snprintf(generated + used, sizeof generated - used, "%s%s_%s", used ? "_" : "",
                             field, text ? "text" : (BSON_ITER_HOLDS_UTF8(&key) ? "" : "1"));
      if (written > 0 && used + (size_t) written < sizeof generated) {
         if (!text && BSON_ITER_HOLDS_NUMBER(&key)) {
            /* The number as given: a_1, a_-1. */
            used += (size_t) snprintf(generated + used, sizeof generated - used, "%s%s_%lld",
                                      used ? "_" : "", field, (long long) bson_iter_as_int64(&key));
         } else {
            used += (size_t) written;
         }
      }
      if (strcmp(field, "_fts") == 0 || strcmp(field, "_ftsx") == 0) {
         /* The listed form (mongorestore): the fields come from weights. */
         seen_text = true;
         after_text = strcmp(field, "_ftsx") == 0;
         continue;
      }
      if (text) {
         if (after_text) {
            error_set(error, FE_CannotCreateIndex,
                      "text index fields must be next to each other in the key pattern");
            goto done;
         }
         seen_text = true;
         if (!weights_set(&names, &values, &count, field, 1.0, false)) {
            error_set(error, FE_ExceededMemoryLimit, "out of memory");
            goto done;
         }
         continue;
      }
      if (BSON_ITER_HOLDS_UTF8(&key)) {
         error_set(error, FE_CannotCreateIndex,
                   "Can't use a text index together with a '%s' index in one key pattern",
                   bson_iter_utf8(&key, NULL));
         goto done;
      }
      if (!BSON_ITER_HOLDS_NUMBER(&key) || bson_iter_as_double(&key) == 0) {
         error_set(error, FE_CannotCreateIndex,
                   "Values in the index key pattern can't be 0 or NaN: '%s'", field);
         goto done;
      }
      after_text = after_text || seen_text;
      bson_append_iter(after_text ? &suffix : &prefix, field, -1, &key);
   }
   bson_iter_init(&iter, spec);
   while (bson_iter_next(&iter)) {
      const char *field = bson_iter_key(&iter);
      if (strcmp(field, "key") == 0 || strcmp(field, "v") == 0 ||
          strcmp(field, "background") == 0 || strcmp(field, "ns") == 0 ||
          strcmp(field, "storageEngine") == 0) {
         continue;
      }
      if (strcmp(field, "name") == 0) {
         if (!BSON_ITER_HOLDS_UTF8(&iter) || bson_iter_utf8(&iter, NULL)[0] == '\0') {
            error_set(error, FE_TypeMismatch, "The 'name' field must be a non-empty string");
            goto done;
         }
         name = bson_iter_utf8(&iter, NULL);
      } else if (strcmp(field, "weights") == 0) {
         bson_iter_t w;
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter) || !bson_iter_recurse(&iter, &w)) {
            error_set(error, FE_CannotCreateIndex, "weights must be an object");
            goto done;
         }
         while (bson_iter_next(&w)) {
            double weight;
            if (!BSON_ITER_HOLDS_NUMBER(&w)) {
               error_set(error, FE_CannotCreateIndex, "weight for text index needs numeric type");
               goto done;
            }
            weight = bson_iter_as_double(&w);
            if (!(weight > 0 && weight < 100000)) {
               error_set(error, FE_CannotCreateIndex,
                         "text index weight must be in the exclusive interval (0,100000) but "
                         "found: %g",
                         weight);
               goto done;
            }
            if (!weights_set(&names, &values, &count, bson_iter_key(&w), weight, true)) {
               error_set(error, FE_ExceededMemoryLimit, "out of memory");
               goto done;
            }
         }
      } else if (strcmp(field, "default_language") == 0 ||
                 strcmp(field, "language_override") == 0) {
         if (!BSON_ITER_HOLDS_UTF8(&iter)) {
            error_set(error, FE_CannotCreateIndex, "%s must be a string", field);
            goto done;
         }
         if (field[0] == 'd') {
            default_language = bson_iter_utf8(&iter, NULL);
            if (!text_language_known(default_language, NULL)) {
               error_set(error, 17262, "default_language: unsupported language: \"%s\"",
                         default_language);
               goto done;
            }
         } else {
            language_override = bson_iter_utf8(&iter, NULL);
         }
      } else if (strcmp(field, "textIndexVersion") == 0) {
         if (!BSON_ITER_HOLDS_NUMBER(&iter) || bson_iter_as_double(&iter) != 3) {
            error_set(error, 17364, "currently only textIndexVersion 3 is supported, not %s",
                      BSON_ITER_HOLDS_NUMBER(&iter) ? "this version" : "a non-number");
            goto done;
         }
      } else if (strcmp(field, "sparse") == 0 || strcmp(field, "hidden") == 0) {
         if (bson_iter_as_bool(&iter)) {
            BSON_APPEND_BOOL(&options, field, true);
         }
      } else if (strcmp(field, "partialFilterExpression") == 0 || strcmp(field, "collation") == 0) {
         /* Checked by indexes_normalize_spec() before it hands text indexes over. */
         bson_append_iter(&options, field, -1, &iter);
      } else if (strcmp(field, "unique") == 0 && !bson_iter_as_bool(&iter)) {
         continue;
      } else {
         error_set(error, FE_InvalidIndexSpecificationOption,
                   "The field '%s' is not valid for a text index specification", field);
         goto done;
      }
   }
   if (count == 0) {
      error_set(error, FE_CannotCreateIndex, "text index option 'weights' must list a field");
      goto done;
   }
   {
      bson_t k, weights;
      /* mongod lists weights by field name. */
      for (size_t i = 1; i < count; i++) {
         for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *tn = names[j];
            double tv = values[j];
            names[j] = names[j - 1];
            values[j] = values[j - 1];
            names[j - 1] = tn;
            values[j - 1] = tv;
         }
      }
      BSON_APPEND_INT32(out, "v", 2);
      BSON_APPEND_DOCUMENT_BEGIN(out, "key", &k);
      bson_concat(&k, &prefix);
      BSON_APPEND_UTF8(&k, "_fts", "text");
      BSON_APPEND_INT32(&k, "_ftsx", 1);
      bson_concat(&k, &suffix);
      bson_append_document_end(out, &k);
      BSON_APPEND_UTF8(out, "name", name ? name : generated);
      bson_concat(out, &options);
      BSON_APPEND_DOCUMENT_BEGIN(out, "weights", &weights);
      for (size_t i = 0; i < count; i++) {
         if (values[i] == floor(values[i])) {
            BSON_APPEND_INT32(&weights, names[i], (int32_t) values[i]);
         } else {
            BSON_APPEND_DOUBLE(&weights, names[i], values[i]);
         }
      }
      bson_append_document_end(out, &weights);
      BSON_APPEND_UTF8(out, "default_language", default_language);
      BSON_APPEND_UTF8(out, "language_override", language_override);
      BSON_APPEND_INT32(out, "textIndexVersion", 3);
   }
   ok = true;

done:
   for (size_t i = 0; i < count; i++) {
      bson_free(names[i]);
   }
   free(names);
   free(values);
   bson_destroy(&prefix);
   bson_destroy(&suffix);
   bson_destroy(&options);
   if (!ok) {
      bson_reinit(out);
   }
   return ok;
}

fe_text_index_t *
text_index_new(const bson_t *spec, fe_error_t *error)
{
   fe_text_index_t *index = calloc(1, sizeof *index);
   bson_iter_t iter, w;

   if (!index) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      return NULL;
   }
   index->default_language = bson_strdup("english");
   index->language_override = bson_strdup("language");
   index->wildcard_weight = 1.0;
   if (bson_iter_init_find(&iter, spec, "default_language") && BSON_ITER_HOLDS_UTF8(&iter)) {
      bson_free(index->default_language);
      index->default_language = bson_strdup(bson_iter_utf8(&iter, NULL));
   }
   if (bson_iter_init_find(&iter, spec, "language_override") && BSON_ITER_HOLDS_UTF8(&iter)) {
      bson_free(index->language_override);
      index->language_override = bson_strdup(bson_iter_utf8(&iter, NULL));
   }
   if (!bson_iter_init_find(&iter, spec, "weights") || !BSON_ITER_HOLDS_DOCUMENT(&iter) ||
       !bson_iter_recurse(&iter, &w)) {
      text_index_destroy(index);
      error_set(error, FE_InternalError, "stored text index has no weights");
      return NULL;
   }
   while (bson_iter_next(&w)) {
      text_field_t *bigger = realloc(index->fields, (index->count + 1) * sizeof *bigger);
      if (!bigger) {
         text_index_destroy(index);
         error_set(error, FE_ExceededMemoryLimit, "out of memory");
         return NULL;
      }
      index->fields = bigger;
      index->fields[index->count].path = bson_strdup(bson_iter_key(&w));
      index->fields[index->count].weight = bson_iter_as_double(&w);
      if (strcmp(bson_iter_key(&w), "$**") == 0) {
         index->wildcard = true;
         index->wildcard_weight = bson_iter_as_double(&w);
      }
      index->count++;
   }
   return index;
}

static fe_text_index_t *
text_index_copy(const fe_text_index_t *from)
{
   fe_text_index_t *index = calloc(1, sizeof *index);
   if (!index) {
      return NULL;
   }
   *index = *from;
   index->fields = calloc(from->count ? from->count : 1, sizeof *index->fields);
   index->default_language = bson_strdup(from->default_language);
   index->language_override = bson_strdup(from->language_override);
   if (!index->fields) {
      index->count = 0;
      text_index_destroy(index);
      return NULL;
   }
   for (size_t i = 0; i < from->count; i++) {
      index->fields[i].path = bson_strdup(from->fields[i].path);
      index->fields[i].weight = from->fields[i].weight;
   }
   return index;
}

void
text_index_destroy(fe_text_index_t *index)
{
   if (!index) {
      return;
   }
   for (size_t i = 0; i < index->count; i++) {
      bson_free(index->fields[i].path);
   }
   free(index->fields);
   bson_free(index->default_language);
   bson_free(index->language_override);
   free(index);
}

/* ---------------------------------------------------------------------------------------------
 * $text
 * ------------------------------------------------------------------------------------------- */

typedef struct add_ctx {
   string_list_t *list;
   bool failed;
} add_ctx_t;

static void
add_term(void *ctx, const char *term, size_t len)
{
   add_ctx_t *add = ctx;
   if (!list_add(add->list, term, len)) {
      add->failed = true;
   }
}

/* Adds the terms of text[0..len) as mongod's _addTerms does. */
static bool
query_add_terms(fe_text_query_t *query, const char *text, size_t len, bool negated)
{
   unsigned options = (query->case_sensitive ? TEXT_CASE_SENSITIVE : 0) |
                      (query->diacritic_sensitive ? TEXT_DIACRITIC_SENSITIVE : 0);
   add_ctx_t bounds = {&query->bounds, false};
   add_ctx_t active = {negated ? &query->negative : &query->positive, false};
   if (!negated) {
      text_terms(text, len, query->language, 0, add_term, &bounds);
   }
   text_terms(text, len, query->language, options, add_term, &active);
   return !bounds.failed && !active.failed;
}

static bool
query_add_phrase(fe_text_query_t *query, const char *text, size_t len, bool negated)
{
   unsigned options = (query->case_sensitive ? TEXT_CASE_SENSITIVE : 0) |
                      (query->diacritic_sensitive ? TEXT_DIACRITIC_SENSITIVE : 0);
   char *folded = malloc(len + 1);
   size_t n;
   bool ok;
   if (!folded) {
      return false;
   }
   n = text_fold(text, len, options, folded);
   ok = list_add(negated ? &query->negated_phrases : &query->phrases, folded, n);
   free(folded);
   return ok;
}

/* mongod's FTSQueryImpl::parse: text runs, single delimiters and white space runs. */
static bool
query_parse_search(fe_text_query_t *query)
{
   const char *q = query->search;
   const unsigned char *s = (const unsigned char *) q;
   size_t len = strlen(q);
   size_t i = 0;
   bool in_negation = false;
   bool in_phrase = false;
   bool previous_space = true;
   size_t quote = 0;

   while (i < len) {
      uint32_t cp;
      size_t n = utf8_decode(s + i, len - i, &cp);
      if (is_space(cp)) {
         while (i < len && (n = utf8_decode(s + i, len - i, &cp), is_space(cp))) {
            i += n;
         }
         if (!in_phrase) {
            in_negation = false;
         }
         previous_space = true;
         continue;
      }
      if (is_delimiter(cp)) {
         if (cp == '-') {
            if (!in_phrase && previous_space) {
               in_negation = true;
            }
         } else if (cp == '"') {
            if (in_phrase) {
               if (!query_add_phrase(query, q + quote + 1, i - quote - 1, in_negation)) {
                  return false;
               }
               in_phrase = false;
            } else {
               in_phrase = true;
               if (in_negation && previous_space) {
                  in_negation = false;
               }
               quote = i;
            }
         }
         previous_space = false;
         i += n;
         continue;
      }
      {
         size_t start = i;
         while (i < len && (n = utf8_decode(s + i, len - i, &cp), !is_delimiter(cp))) {
            i += n;
         }
         if (!(in_phrase && in_negation) &&
             !query_add_terms(query, q + start, i - start, in_negation)) {
            return false;
         }
         if (in_negation && !in_phrase) {
            in_negation = false;
         }
         previous_space = false;
      }
   }
   return true;
}

fe_text_query_t *
text_query_parse(const bson_iter_t *operand, fe_error_t *error)
{
   fe_text_query_t *query = NULL;
   bson_iter_t iter;
   bool has_search = false;

   if (!BSON_ITER_HOLDS_DOCUMENT(operand)) {
      error_set(error, FE_BadValue, "$text expects an object");
      return NULL;
   }
   query = calloc(1, sizeof *query);
   if (!query) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      return NULL;
   }
   bson_iter_recurse(operand, &iter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "$search") == 0) {
         if (!BSON_ITER_HOLDS_UTF8(&iter)) {
            error_set(error, FE_TypeMismatch, "$search requires a string value");
            goto fail;
         }
         bson_free(query->search);
         query->search = bson_strdup(bson_iter_utf8(&iter, NULL));
         has_search = true;
      } else if (strcmp(key, "$language") == 0) {
         if (!BSON_ITER_HOLDS_UTF8(&iter)) {
            error_set(error, FE_TypeMismatch, "$language requires a string value");
            goto fail;
         }
         bson_free(query->language);
         query->language = bson_strdup(bson_iter_utf8(&iter, NULL));
         if (!text_language_known(query->language, NULL)) {
            error_set(error, 17262, "unsupported language: \"%s\" for text index version 3",
                      query->language);
            goto fail;
         }
      } else if (strcmp(key, "$caseSensitive") == 0 || strcmp(key, "$diacriticSensitive") == 0) {
         if (!BSON_ITER_HOLDS_BOOL(&iter)) {
            error_set(error, FE_TypeMismatch, "%s requires a boolean value", key);
            goto fail;
         }
         if (key[1] == 'c') {
            query->case_sensitive = bson_iter_bool(&iter);
         } else {
            query->diacritic_sensitive = bson_iter_bool(&iter);
         }
      } else {
         error_set(error, FE_BadValue, "extra fields in $text");
         goto fail;
      }
   }
   if (!has_search) {
      error_set(error, FE_FailedToParse, "$text requires a $search field");
      goto fail;
   }
   return query;

fail:
   text_query_destroy(query);
   return NULL;
}

bool
text_query_bind(fe_text_query_t *query, const fe_text_index_t *index, fe_error_t *error)
{
   text_index_destroy(query->index);
   query->index = NULL;
   if (!query->language) {
      query->language = bson_strdup(index->default_language);
   }
   list_clear(&query->bounds);
   list_clear(&query->positive);
   list_clear(&query->negative);
   list_clear(&query->phrases);
   list_clear(&query->negated_phrases);
   if (!query_parse_search(query) || !(query->index = text_index_copy(index))) {
      return error_set(error, FE_ExceededMemoryLimit, "out of memory");
   }
   return true;
}

bool
text_query_is_bound(const fe_text_query_t *query)
{
   return query->index != NULL;
}

void
text_query_destroy(fe_text_query_t *query)
{
   if (!query) {
      return;
   }
   bson_free(query->language);
   bson_free(query->search);
   list_clear(&query->bounds);
   list_clear(&query->positive);
   list_clear(&query->negative);
   list_clear(&query->phrases);
   list_clear(&query->negated_phrases);
   text_index_destroy(query->index);
   free(query);
}

/* ---------------------------------------------------------------------------------------------
 * Documents
 * ------------------------------------------------------------------------------------------- */

static void
count_term(void *ctx, const char *term, size_t len)
{
   walk_t *walk = ctx;
   term_entry_t *entry = table_get(&walk->local, term, len, true);
   if (!entry) {
      return;
   }
   entry->exp = entry->exp > 0 ? entry->exp * 2 : 1;
   entry->count++;
   entry->freq += 1 / entry->exp;
   walk->tokens++;
}

static void
sensitive_term(void *ctx, const char *term, size_t len)
{
   walk_t *walk = ctx;
   table_get(&walk->sensitive, term, len, true);
}

static void
score_string(walk_t *walk, const char *raw, size_t raw_len, const char *language)
{
   walk->tokens = 0;
   text_terms(raw, raw_len, language, 0, count_term, walk);
   for (size_t i = 0; i < walk->local.capacity; i++) {
      term_entry_t *local = &walk->local.slots[i];
      term_entry_t *entry;
      double coeff, adjustment = 1;
      if (!local->term) {
         continue;
      }
      /* Weight a term by how much of the string it is, and a little more when it is the
       * whole string (mongod's _scoreStringV2). */
      coeff = (0.5 * local->count / walk->tokens) + 0.5;
      if (raw_len == local->len && strncasecmp(raw, local->term, raw_len) == 0) {
         adjustment += 0.1;
      }
      entry = table_get(&walk->scores, local->term, local->len, true);
      if (entry) {
         entry->score += walk->weight * local->freq * coeff * adjustment;
      }
   }
   table_clear(&walk->local);
   if (walk->options) {
      text_terms(raw, raw_len, language, walk->options, sensitive_term, walk);
   }
   if (walk->query->phrases.count || walk->query->negated_phrases.count) {
      char stack[256];
      char *folded = raw_len < sizeof stack ? stack : malloc(raw_len + 1);
      if (!folded) {
         return;
      }
      text_fold(raw, raw_len, walk->options, folded);
      for (size_t i = 0; i < walk->query->phrases.count; i++) {
         walk->phrase_found[i] =
            walk->phrase_found[i] || strstr(folded, walk->query->phrases.items[i]) != NULL;
      }
      for (size_t i = 0; i < walk->query->negated_phrases.count; i++) {
         walk->negated_phrase =
            walk->negated_phrase || strstr(folded, walk->query->negated_phrases.items[i]);
      }
      if (folded != stack) {
         free(folded);
      }
   }
}

static const char *
document_language(const walk_t *walk, const bson_t *doc, const char *inherited)
{
   bson_iter_t iter;
   if (bson_iter_init_find(&iter, doc, walk->query->index->language_override) &&
       BSON_ITER_HOLDS_UTF8(&iter) && text_language_known(bson_iter_utf8(&iter, NULL), NULL)) {
      return bson_iter_utf8(&iter, NULL);
   }
   return inherited;
}

static void
walk_document(walk_t *walk, const bson_t *doc, const char *prefix, const char *language)
{
   bson_iter_t iter;
   language = document_language(walk, doc, language);
   if (!bson_iter_init(&iter, doc)) {
      return;
   }
   while (bson_iter_next(&iter)) {
      char *path = prefix ? bson_strdup_printf("%s.%s", prefix, bson_iter_key(&iter))
                          : bson_strdup(bson_iter_key(&iter));
      if (path_may_lead(walk->query->index, path)) {
         walk_value(walk, &iter, path, language);
      }
      bson_free(path);
   }
}

/* Arrays keep their parent's path, as in mongod's FTSElementIterator. */
static void
walk_value(walk_t *walk, const bson_iter_t *iter, const char *path, const char *language)
{
   if (BSON_ITER_HOLDS_UTF8(iter)) {
      uint32_t len;
      const char *s = bson_iter_utf8(iter, &len);
      if (field_weight(walk->query->index, path, &walk->weight)) {
         score_string(walk, s, len, language);
      }
   } else if (BSON_ITER_HOLDS_DOCUMENT(iter) || BSON_ITER_HOLDS_ARRAY(iter)) {
      const uint8_t *data;
      uint32_t len;
      bson_t child;
      bson_iter_t elements;
      if (BSON_ITER_HOLDS_DOCUMENT(iter)) {
         bson_iter_document(iter, &len, &data);
         if (bson_init_static(&child, data, len)) {
            walk_document(walk, &child, path, language);
         }
         return;
      }
      if (!bson_iter_recurse(iter, &elements)) {
         return;
      }
      while (bson_iter_next(&elements)) {
         walk_value(walk, &elements, path, language);
      }
   }
}

static bool
field_weight(const fe_text_index_t *index, const char *path, double *weight)
{
   for (size_t i = 0; i < index->count; i++) {
      if (strcmp(index->fields[i].path, path) == 0) {
         *weight = index->fields[i].weight;
         return true;
      }
   }
   *weight = index->wildcard_weight;
   return index->wildcard;
}

static bool
path_may_lead(const fe_text_index_t *index, const char *path)
{
   size_t len = strlen(path);
   if (index->wildcard) {
      return true;
   }
   for (size_t i = 0; i < index->count; i++) {
      const char *field = index->fields[i].path;
      if (strncmp(field, path, len) == 0 && (field[len] == '\0' || field[len] == '.')) {
         return true;
      }
   }
   return false;
}

bool
text_query_match(const fe_text_query_t *query, const bson_t *doc, double *score)
{
   walk_t walk = {0};
   double total = 0;
   bool any = false;
   bool matched = false;

   if (score) {
      *score = 0;
   }
   if (!query->index || query->bounds.count == 0) {
      return false;
   }
   walk.query = query;
   walk.options = (query->case_sensitive ? TEXT_CASE_SENSITIVE : 0) |
                  (query->diacritic_sensitive ? TEXT_DIACRITIC_SENSITIVE : 0);
   walk.phrase_found = calloc(query->phrases.count + 1, sizeof *walk.phrase_found);
   if (!walk.phrase_found) {
      return false;
   }
   walk_document(&walk, doc, NULL, query->index->default_language);
   for (size_t i = 0; i < query->bounds.count; i++) {
      term_entry_t *entry =
         table_get(&walk.scores, query->bounds.items[i], strlen(query->bounds.items[i]), false);
      if (entry) {
         any = true;
         total += entry->score;
      }
   }
   if (!any) {
      goto done;
   }
   if (walk.options) {
      /* The index finds candidates case- and diacritic-insensitively; the options then ask
       * for one positive term as written. */
      any = false;
      for (size_t i = 0; i < query->positive.count && !any; i++) {
         any = table_get(&walk.sensitive, query->positive.items[i],
                         strlen(query->positive.items[i]), false) != NULL;
      }
      if (!any) {
         goto done;
      }
   }
   for (size_t i = 0; i < query->negative.count; i++) {
      const term_table_t *terms = walk.options ? &walk.sensitive : &walk.scores;
      if (table_get((term_table_t *) terms, query->negative.items[i],
                    strlen(query->negative.items[i]), false)) {
         goto done;
      }
   }
   for (size_t i = 0; i < query->phrases.count; i++) {
      if (!walk.phrase_found[i]) {
         goto done;
      }
   }
   if (walk.negated_phrase) {
      goto done;
   }
   matched = true;
   if (score) {
      *score = total;
   }

done:
   table_clear(&walk.scores);
   table_clear(&walk.sensitive);
   table_clear(&walk.local);
   free(walk.phrase_found);
   return matched;
}
