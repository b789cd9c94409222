/*
 * text_stem.c: the Snowball English ("Porter2") stemmer, as the libstemmer MongoDB links
 * applies it to the terms of text indexes and $text queries (interface in text.h).
 *
 * Written from the algorithm's description (snowballstem.org/algorithms/english); words of
 * ASCII lower-case letters only, anything else is left as it is.
 */
#include <stdbool.h>
#include <string.h>

#include "query/text.h"

/* A 'y' the algorithm treats as a consonant ("Y" in the description). */
#define MARK_Y '\x01'

typedef struct stem {
   char w[TEXT_STEM_MAX + 1];
   size_t len;
   size_t r1, r2;
} stem_t;

static bool
is_vowel(char c)
{
   return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

static bool
ends(const stem_t *s, const char *suffix)
{
   size_t n = strlen(suffix);
   return s->len >= n && memcmp(s->w + s->len - n, suffix, n) == 0;
}

static void
set_to(stem_t *s, size_t suffix_len, const char *with)
{
   size_t n = strlen(with);
   s->len -= suffix_len;
   memcpy(s->w + s->len, with, n);
   s->len += n;
   s->w[s->len] = '\0';
}

/* The longest of list (NULL-terminated) that s ends with, or -1. */
static int
longest(const stem_t *s, const char *const *list)
{
   int best = -1;
   size_t best_len = 0;
   for (int i = 0; list[i]; i++) {
      size_t n = strlen(list[i]);
      if (n > best_len && ends(s, list[i])) {
         best = i;
         best_len = n;
      }
   }
   return best;
}

static bool
has_vowel(const char *w, size_t len)
{
   for (size_t i = 0; i < len; i++) {
      if (is_vowel(w[i])) {
         return true;
      }
   }
   return false;
}

/* The region after the first non-vowel following a vowel, from start. */
static size_t
region_after(const stem_t *s, size_t start)
{
   for (size_t i = start + 1; i < s->len; i++) {
      if (!is_vowel(s->w[i]) && is_vowel(s->w[i - 1])) {
         return i + 1;
      }
   }
   return s->len;
}

/* The word up to len ends in a short syllable. */
static bool
short_syllable(const char *w, size_t len)
{
   if (len == 2) {
      return is_vowel(w[0]) && !is_vowel(w[1]);
   }
   if (len >= 3) {
      char c = w[len - 1];
      return !is_vowel(w[len - 3]) && is_vowel(w[len - 2]) && !is_vowel(c) && c != 'w' &&
             c != 'x' && c != MARK_Y;
   }
   return false;
}

static bool
is_double(const stem_t *s)
{
   static const char *const doubles[] = {"bb", "dd", "ff", "gg", "mm",
                                         "nn", "pp", "rr", "tt", NULL};
   return longest(s, doubles) >= 0;
}

static bool
in_r(size_t region, const stem_t *s, size_t suffix_len)
{
   return s->len - suffix_len >= region;
}

static bool
valid_li(char c)
{
   return c && strchr("cdeghkmnrt", c) != NULL;
}

static bool
exception1(stem_t *s)
{
   static const char *const from[] = {"skis",   "skies", "dying", "lying", "tying",  "idly",
                                      "gently", "ugly",  "early", "only",  "singly", NULL};
   static const char *const to[] = {"ski",   "sky",  "die",   "lie",  "tie",  "idl",
                                    "gentl", "ugli", "earli", "onli", "singl"};
   static const char *const same[] = {"sky",    "news", "howe",  "atlas",
                                      "cosmos", "bias", "andes", NULL};
   for (int i = 0; from[i]; i++) {
      if (strcmp(s->w, from[i]) == 0) {
         s->len = strlen(to[i]);
         memcpy(s->w, to[i], s->len + 1);
         return true;
      }
   }
   for (int i = 0; same[i]; i++) {
      if (strcmp(s->w, same[i]) == 0) {
         return true;
      }
   }
   return false;
}

static void
step_1a(stem_t *s)
{
   static const char *const list[] = {"sses", "ied", "ies", "s", "us", "ss", NULL};
   switch (longest(s, list)) {
   case 0:
      set_to(s, 4, "ss");
      break;
   case 1:
   case 2:
      set_to(s, 3, s->len > 4 ? "i" : "ie");
      break;
   case 3:
      /* Delete the s when a vowel comes before the letter before it (gaps, not gas). */
      if (s->len >= 3 && has_vowel(s->w, s->len - 2)) {
         set_to(s, 1, "");
      }
      break;
   default:
      break;
   }
}

static void
step_1b(stem_t *s)
{
   static const char *const list[] = {"eed", "eedly", "ed", "edly", "ing", "ingly", NULL};
   static const char *const fix[] = {"at", "bl", "iz", NULL};
   int i = longest(s, list);
   size_t n;

   if (i < 0) {
      return;
   }
   n = strlen(list[i]);
   if (i <= 1) {
      if (in_r(s->r1, s, n)) {
         set_to(s, n, "ee");
      }
      return;
   }
   if (!has_vowel(s->w, s->len - n)) {
      return;
   }
   set_to(s, n, "");
   if (longest(s, fix) >= 0) {
      set_to(s, 0, "e");
   } else if (is_double(s)) {
      set_to(s, 1, "");
   } else if (short_syllable(s->w, s->len) && s->r1 >= s->len) {
      set_to(s, 0, "e");
   }
}

static void
step_1c(stem_t *s)
{
   if (s->len > 2 && (s->w[s->len - 1] == 'y' || s->w[s->len - 1] == MARK_Y) &&
       !is_vowel(s->w[s->len - 2])) {
      s->w[s->len - 1] = 'i';
   }
}

static void
step_2(stem_t *s)
{
   static const char *const from[] = {
      "tional", "enci",  "anci",  "abli",  "entli",   "izer",  "ization", "ational", "ation",
      "ator",   "alism", "aliti", "alli",  "fulness", "ousli", "ousness", "iveness", "iviti",
      "biliti", "bli",   "ogi",   "fulli", "lessli",  "li",    NULL};
   static const char *const to[] = {"tion", "ence", "ance", "able", "ent", "ize", "ize",  "ate",
                                    "ate",  "ate",  "al",   "al",   "al",  "ful", "ous",  "ous",
                                    "ive",  "ive",  "ble",  "ble",  "og",  "ful", "less", ""};
   int i = longest(s, from);
   size_t n;

   if (i < 0) {
      return;
   }
   n = strlen(from[i]);
   if (!in_r(s->r1, s, n)) {
      return;
   }
   if (strcmp(from[i], "ogi") == 0 && !(s->len > n && s->w[s->len - n - 1] == 'l')) {
      return;
   }
   if (strcmp(from[i], "li") == 0 && !(s->len > n && valid_li(s->w[s->len - n - 1]))) {
      return;
   }
   set_to(s, n, to[i]);
}

static void
step_3(stem_t *s)
{
   static const char *const from[] = {"tional", "ational", "alize", "icate", "iciti",
                                      "ical",   "ful",     "ness",  "ative", NULL};
   static const char *const to[] = {"tion", "ate", "al", "ic", "ic", "ic", "", "", ""};
   int i = longest(s, from);
   size_t n;

   if (i < 0) {
      return;
   }
   n = strlen(from[i]);
   if (!in_r(s->r1, s, n) || (strcmp(from[i], "ative") == 0 && !in_r(s->r2, s, n))) {
      return;
   }
   set_to(s, n, to[i]);
}

static void
step_4(stem_t *s)
{
   static const char *const list[] = {"al",  "ance",  "ence", "er",  "ic",  "able", "ible",
                                      "ant", "ement", "ment", "ent", "ism", "ate",  "iti",
                                      "ous", "ive",   "ize",  "ion", NULL};
   int i = longest(s, list);
   size_t n;

   if (i < 0) {
      return;
   }
   n = strlen(list[i]);
   if (!in_r(s->r2, s, n)) {
      return;
   }
   if (strcmp(list[i], "ion") == 0 &&
       !(s->len > n && (s->w[s->len - n - 1] == 's' || s->w[s->len - n - 1] == 't'))) {
      return;
   }
   set_to(s, n, "");
}

static void
step_5(stem_t *s)
{
   if (ends(s, "e")) {
      if (in_r(s->r2, s, 1) || (in_r(s->r1, s, 1) && !short_syllable(s->w, s->len - 1))) {
         set_to(s, 1, "");
      }
   } else if (ends(s, "ll") && in_r(s->r2, s, 1)) {
      set_to(s, 1, "");
   }
}

size_t
text_stem_english(char *word, size_t len)
{
   static const char *const stop_after_1a[] = {"inning",  "outing", "canning", "herring", "earring",
                                               "proceed", "exceed", "succeed", NULL};
   stem_t s;

   if (len <= 2 || len > TEXT_STEM_MAX) {
      return len;
   }
   for (size_t i = 0; i < len; i++) {
      if (word[i] < 'a' || word[i] > 'z') {
         return len;
      }
   }
   memcpy(s.w, word, len);
   s.w[len] = '\0';
   s.len = len;
   if (exception1(&s)) {
      goto out;
   }
   for (size_t i = 0; i < s.len; i++) {
      if (s.w[i] == 'y' && (i == 0 || is_vowel(s.w[i - 1]))) {
         s.w[i] = MARK_Y;
      }
   }
   if (strncmp(s.w, "gener", 5) == 0 || strncmp(s.w, "arsen", 5) == 0) {
      s.r1 = 5;
   } else if (strncmp(s.w, "commun", 6) == 0) {
      s.r1 = 6;
   } else {
      s.r1 = region_after(&s, 0);
   }
   s.r2 = s.r1 < s.len ? region_after(&s, s.r1) : s.len;
   step_1a(&s);
   for (int i = 0; stop_after_1a[i]; i++) {
      if (strcmp(s.w, stop_after_1a[i]) == 0) {
         goto unmark;
      }
   }
   step_1b(&s);
   step_1c(&s);
   step_2(&s);
   step_3(&s);
   step_4(&s);
   step_5(&s);
unmark:
   for (size_t i = 0; i < s.len; i++) {
      if (s.w[i] == MARK_Y) {
         s.w[i] = 'y';
      }
   }
out:
   memcpy(word, s.w, s.len);
   return s.len;
}
