/*
 * textsearch.c: text search in the commands (interface in textsearch.h; the text engine is
 * core/query/text.c).
 *
 * Non-unique indexes are metadata in this server, so a text index is the definition $text
 * reads (fields, weights, languages), and every $text query scans the collection. Scores are
 * computed per matching document; find sorts and projects them here, and aggregate carries
 * them in a hidden field (TEXT_SCORE_FIELD) from the leading $match to the end of the
 * pipeline, where a final $unset removes it.
 */
#include "commands/textsearch.h"

#include <stdlib.h>
#include <string.h>

#include "commands/args.h"
#include "query/projection.h"
#include "query/sort.h"
#include "query/text.h"

struct textsearch_source {
   fe_filter_t *filter;    /* owned; bound */
   fe_text_query_t *query; /* borrowed from filter */
   bson_t *spec;           /* owned copy of the $match specification (a pointer: calloc'ed
                            * memory is not aligned enough for a bson_t) */
   pipeline_next_fn next;
   void *next_ctx;
   bson_t *current; /* owned; the last document handed out */
};

static const char *meta_name(const bson_iter_t *iter);
static bool meta_check(const char *name, fe_error_t *error);
static bool scan_meta(const bson_iter_t *iter, bool *text_score, fe_error_t *error);
static void rewrite_value(const char *key, const bson_iter_t *iter, bool in_sort, bson_t *out);

static bool
no_text_score(fe_error_t *error)
{
   return error_set(error, 40218, "query requires text score metadata, but it is not available");
}

bool
textsearch_bind(const fe_store_t *store, const fe_filter_t *filter, bool *has_text,
                fe_error_t *error)
{
   fe_text_query_t *query = NULL;
   fe_index_set_t set = {0};
   fe_text_index_t *index = NULL;
   bool ok = false;

   if (has_text) {
      *has_text = false;
   }
   if (!filter_text_query(filter, &query, error)) {
      goto done;
   }
   if (!query) {
      ok = true;
      goto done;
   }
   if (has_text) {
      *has_text = true;
   }
   if (!indexes_load(store, false, &set, error)) {
      goto done;
   }
   for (size_t i = 0; i < set.count && !index; i++) {
      if (text_spec_is_text(&set.items[i].spec) || bson_has_field(&set.items[i].key, "_fts")) {
         if (!(index = text_index_new(&set.items[i].spec, error))) {
            goto done;
         }
      }
   }
   if (!index) {
      error_set(error, FE_IndexNotFound, "text index required for $text query");
      goto done;
   }
   ok = text_query_bind(query, index, error);

done:
   text_index_destroy(index);
   indexes_set_destroy(&set);
   return ok;
}

bool
textsearch_check_create(const fe_index_set_t *set, const bson_t *spec, fe_error_t *error)
{
   bson_iter_t iter, key;
   const char *name = "";

   if (!bson_iter_init_find(&iter, spec, "key") || !BSON_ITER_HOLDS_DOCUMENT(&iter) ||
       !bson_iter_recurse(&iter, &key) || !bson_iter_find(&key, "_fts")) {
      return true;
   }
   if (bson_iter_init_find(&iter, spec, "name") && BSON_ITER_HOLDS_UTF8(&iter)) {
      name = bson_iter_utf8(&iter, NULL);
   }
   for (size_t i = 0; i < set->count; i++) {
      /* The same name is the existing index, or a conflict the caller reports. */
      if (bson_has_field(&set->items[i].key, "_fts") && strcmp(set->items[i].name, name) != 0) {
         return error_set(error, FE_IndexOptionsConflict,
                          "Index already exists with a different name: %s", set->items[i].name);
      }
   }
   return true;
}

bool
textsearch_uses_meta(const bson_t *sort, const bson_t *projection)
{
   const bson_t *docs[2] = {sort, projection};
   for (int d = 0; d < 2; d++) {
      bson_iter_t iter;
      if (!docs[d] || !bson_iter_init(&iter, docs[d])) {
         continue;
      }
      while (bson_iter_next(&iter)) {
         if (meta_name(&iter)) {
            return true;
         }
      }
   }
   return false;
}

bool
textsearch_find(fe_ctx_t *ctx, const fe_store_t *store, const char *collection,
                const fe_filter_t *filter, const bson_t *filter_spec, const bson_t *sort_spec,
                const bson_t *projection_spec, int64_t skip, int64_t limit, int64_t batch_size,
                bool single_batch, fe_error_t *error)
{
   fe_text_query_t *query = NULL;
   bson_t sort_rewritten = BSON_INITIALIZER;
   bson_t rest = BSON_INITIALIZER;        /* the projection without its $meta fields */
   bson_t meta_fields = BSON_INITIALIZER; /* {name: true} per $meta field */
   fe_sort_t *sort = NULL;
   fe_projection_t *projection = NULL;
   fe_cursor_t *cursor = NULL;
   bson_t **docs = NULL;
   size_t count = 0;
   bson_t **out = NULL;
   size_t kept = 0;
   bson_iter_t iter;
   bool ok = false;

   if (!filter_text_query(filter, &query, error)) {
      goto done;
   }
   if (sort_spec && bson_iter_init(&iter, sort_spec)) {
      while (bson_iter_next(&iter)) {
         const char *meta = meta_name(&iter);
         if (!meta) {
            bson_append_iter(&sort_rewritten, bson_iter_key(&iter), -1, &iter);
            continue;
         }
         if (!meta_check(meta, error)) {
            goto done;
         }
         if (!query) {
            no_text_score(error);
            goto done;
         }
         BSON_APPEND_INT32(&sort_rewritten, TEXT_SCORE_FIELD, -1);
      }
   }
   if (projection_spec && bson_iter_init(&iter, projection_spec)) {
      while (bson_iter_next(&iter)) {
         const char *meta = meta_name(&iter);
         if (!meta) {
            bson_append_iter(&rest, bson_iter_key(&iter), -1, &iter);
            continue;
         }
         if (!meta_check(meta, error)) {
            goto done;
         }
         if (!query) {
            no_text_score(error);
            goto done;
         }
         BSON_APPEND_BOOL(&meta_fields, bson_iter_key(&iter), true);
      }
   }
   if (!bson_empty(&sort_rewritten) && !(sort = sort_compile(&sort_rewritten, error))) {
      goto done;
   }
   if (!bson_empty(&rest) && !(projection = projection_compile(&rest, error))) {
      goto done;
   }
   if (!generic_collect(store, filter, filter_spec, NULL, 0, &docs, &count, error)) {
      goto done;
   }
   /* Each match with its score appended, to sort by it. */
   for (size_t i = 0; i < count; i++) {
      double score = 0;
      bson_t *scored = bson_copy(docs[i]);
      if (query) {
         text_query_match(query, docs[i], &score);
      }
      BSON_APPEND_DOUBLE(scored, TEXT_SCORE_FIELD, score);
      bson_destroy(docs[i]);
      docs[i] = scored;
   }
   if (sort) {
      sort_documents(sort, (const bson_t **) docs, count);
   }
   out = calloc(count ? count : 1, sizeof *out);
   if (!out) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   for (size_t i = (size_t) skip; i < count && (limit <= 0 || kept < (size_t) limit); i++) {
      bson_t plain;
      bson_t projected;
      bson_t *result = bson_new();
      bson_iter_t score_iter;
      double score = 0;
      if (bson_iter_init_find(&score_iter, docs[i], TEXT_SCORE_FIELD)) {
         score = bson_iter_double(&score_iter);
      }
      bson_init(&plain);
      bson_copy_to_excluding_noinit(docs[i], &plain, TEXT_SCORE_FIELD, NULL);
      if (projection) {
         fe_match_info_t match = {-1};
         if (!projection_apply(projection, &plain, &match, &projected, error)) {
            bson_destroy(&plain);
            bson_destroy(&projected);
            bson_destroy(result);
            goto done;
         }
      } else {
         bson_copy_to(&plain, &projected);
      }
      /* $meta fields replace fields of the same name and come last. */
      if (bson_iter_init(&iter, &projected)) {
         while (bson_iter_next(&iter)) {
            if (!bson_has_field(&meta_fields, bson_iter_key(&iter))) {
               bson_append_iter(result, bson_iter_key(&iter), -1, &iter);
            }
         }
      }
      if (bson_iter_init(&iter, &meta_fields)) {
         while (bson_iter_next(&iter)) {
            BSON_APPEND_DOUBLE(result, bson_iter_key(&iter), score);
         }
      }
      bson_destroy(&plain);
      bson_destroy(&projected);
      out[kept++] = result;
   }
   cursor = cursor_new(ctx->db, collection);
   if (!cursor) {
      error_set(error, FE_ExceededMemoryLimit, "out of memory");
      goto done;
   }
   cursor_set_documents(cursor, out, kept);
   out = NULL;
   kept = 0;
   ok = args_reply_first_batch(ctx, cursor, batch_size, single_batch, error);
   cursor = NULL;

done:
   generic_free_documents(docs, count);
   generic_free_documents(out, kept);
   cursor_destroy(cursor);
   sort_destroy(sort);
   projection_destroy(projection);
   bson_destroy(&sort_rewritten);
   bson_destroy(&rest);
   bson_destroy(&meta_fields);
   return ok;
}

bool
textsearch_aggregate(const fe_store_t *store, const bson_t *stages, pipeline_next_fn next,
                     void *next_ctx, bson_t *rest, textsearch_source_t **source, fe_error_t *error)
{
   textsearch_source_t *text = NULL;
   bson_iter_t iter, stage;
   bool text_score = false;
   bool has_text = false;
   bool first = true;
   uint32_t index = 0;
   bool ok = false;

   bson_init(rest);
   *source = NULL;
   if (!bson_iter_init(&iter, stages)) {
      return true;
   }
   /* A leading {$match: {... $text ...}}. */
   if (bson_iter_next(&iter) && BSON_ITER_HOLDS_DOCUMENT(&iter) &&
       bson_iter_recurse(&iter, &stage) && bson_iter_next(&stage) &&
       strcmp(bson_iter_key(&stage), "$match") == 0 && BSON_ITER_HOLDS_DOCUMENT(&stage)) {
      const uint8_t *data;
      uint32_t len;
      bson_t spec;
      bson_iter_t top;
      bson_iter_document(&stage, &len, &data);
      if (bson_init_static(&spec, data, len) && bson_iter_init(&top, &spec)) {
         while (bson_iter_next(&top)) {
            has_text = has_text || strcmp(bson_iter_key(&top), "$text") == 0;
         }
      }
      if (has_text && store) {
         bool bound = false;
         text = calloc(1, sizeof *text);
         if (!text) {
            error_set(error, FE_ExceededMemoryLimit, "out of memory");
            goto done;
         }
         text->spec = bson_copy(&spec);
         text->next = next;
         text->next_ctx = next_ctx;
         if (!(text->filter = filter_compile(&spec, error)) ||
             !textsearch_bind(store, text->filter, &bound, error) ||
             !filter_text_query(text->filter, &text->query, error)) {
            goto done;
         }
      }
   }
   /* Every stage but that one: check the $meta kinds, rewrite textScore. */
   bson_iter_init(&iter, stages);
   while (bson_iter_next(&iter)) {
      bson_iter_t check = iter;
      if (first && text) {
         first = false;
         continue;
      }
      first = false;
      if (!scan_meta(&check, &text_score, error)) {
         goto done;
      }
   }
   if (text_score && !text) {
      no_text_score(error);
      goto done;
   }
   if (!text) {
      ok = true;
      goto done;
   }
   bson_iter_init(&iter, stages);
   bson_iter_next(&iter);
   {
      bool unset_done = false;
      while (bson_iter_next(&iter)) {
         char key[16];
         const char *key_ptr;
         bson_iter_t inner;
         bool output = bson_iter_recurse(&iter, &inner) && bson_iter_next(&inner) &&
                       (strcmp(bson_iter_key(&inner), "$out") == 0 ||
                        strcmp(bson_iter_key(&inner), "$merge") == 0);
         if (output && !unset_done) {
            bson_uint32_to_string(index++, &key_ptr, key, sizeof key);
            BCON_APPEND(rest, key_ptr, "{", "$unset", BCON_UTF8(TEXT_SCORE_FIELD), "}");
            unset_done = true;
         }
         bson_uint32_to_string(index++, &key_ptr, key, sizeof key);
         rewrite_value(key_ptr, &iter, false, rest);
      }
      if (!unset_done) {
         char key[16];
         const char *key_ptr;
         bson_uint32_to_string(index++, &key_ptr, key, sizeof key);
         BCON_APPEND(rest, key_ptr, "{", "$unset", BCON_UTF8(TEXT_SCORE_FIELD), "}");
      }
   }
   *source = text;
   text = NULL;
   ok = true;

done:
   textsearch_source_destroy(text);
   if (!ok) {
      bson_reinit(rest);
   }
   return ok;
}

const bson_t *
textsearch_source_filter(const textsearch_source_t *source)
{
   return source->spec;
}

bool
textsearch_pull(void *ctx, const bson_t **doc, fe_error_t *error)
{
   textsearch_source_t *text = ctx;

   for (;;) {
      const bson_t *next = NULL;
      double score = 0;
      if (!text->next(text->next_ctx, &next, error)) {
         return false;
      }
      if (!next) {
         *doc = NULL;
         return true;
      }
      if (!filter_match(text->filter, next, NULL) || !text_query_match(text->query, next, &score)) {
         continue;
      }
      if (text->current) {
         bson_destroy(text->current);
      }
      text->current = bson_copy(next);
      BSON_APPEND_DOUBLE(text->current, TEXT_SCORE_FIELD, score);
      *doc = text->current;
      return true;
   }
}

void
textsearch_source_destroy(textsearch_source_t *source)
{
   if (!source) {
      return;
   }
   if (source->filter) {
      filter_destroy(source->filter);
   }
   if (source->current) {
      bson_destroy(source->current);
   }
   if (source->spec) {
      bson_destroy(source->spec);
   }
   free(source);
}

/* The name in {$meta: "<name>"}, or NULL when iter holds something else. */
static const char *
meta_name(const bson_iter_t *iter)
{
   bson_iter_t child;
   const char *name;
   if (!BSON_ITER_HOLDS_DOCUMENT(iter) || !bson_iter_recurse(iter, &child) ||
       !bson_iter_next(&child) || strcmp(bson_iter_key(&child), "$meta") != 0 ||
       !BSON_ITER_HOLDS_UTF8(&child)) {
      return NULL;
   }
   name = bson_iter_utf8(&child, NULL);
   return bson_iter_next(&child) ? NULL : name;
}

static bool
meta_check(const char *name, fe_error_t *error)
{
   static const char *const known[] = {"indexKey",
                                       "searchScore",
                                       "searchHighlights",
                                       "searchScoreDetails",
                                       "recordId",
                                       "sortKey",
                                       "geoNearDistance",
                                       "geoNearPoint",
                                       "randVal",
                                       "textScore",
                                       NULL};
   if (strcmp(name, "textScore") == 0) {
      return true;
   }
   for (size_t i = 0; known[i]; i++) {
      if (strcmp(known[i], name) == 0) {
         return error_set(error, FE_NotImplemented, "$meta: '%s' is not supported", name);
      }
   }
   return error_set(error, 17308, "Unsupported argument to $meta: %s", name);
}

/* Walks a value for {$meta: ...}: checks each, notes a textScore. */
static bool
scan_meta(const bson_iter_t *iter, bool *text_score, fe_error_t *error)
{
   const char *meta = meta_name(iter);
   bson_iter_t child;

   if (meta) {
      if (!meta_check(meta, error)) {
         return false;
      }
      *text_score = true;
      return true;
   }
   if ((BSON_ITER_HOLDS_DOCUMENT(iter) || BSON_ITER_HOLDS_ARRAY(iter)) &&
       bson_iter_recurse(iter, &child)) {
      while (bson_iter_next(&child)) {
         if (!scan_meta(&child, text_score, error)) {
            return false;
         }
      }
   }
   return true;
}

/* Appends iter's value under key with every {$meta: "textScore"} reading the hidden field:
 * an expression becomes "$<field>", a $sort key sorts the field descending. */
static void
rewrite_value(const char *key, const bson_iter_t *iter, bool in_sort, bson_t *out)
{
   bson_iter_t child;
   bson_t sub;
   bool array = BSON_ITER_HOLDS_ARRAY(iter);

   if (meta_name(iter)) {
      if (in_sort) {
         BSON_APPEND_INT32(out, TEXT_SCORE_FIELD, -1);
      } else {
         BSON_APPEND_UTF8(out, key, "$" TEXT_SCORE_FIELD);
      }
      return;
   }
   if (!(BSON_ITER_HOLDS_DOCUMENT(iter) || array) || !bson_iter_recurse(iter, &child)) {
      bson_append_iter(out, key, -1, iter);
      return;
   }
   if (array) {
      bson_append_array_begin(out, key, -1, &sub);
   } else {
      bson_append_document_begin(out, key, -1, &sub);
   }
   while (bson_iter_next(&child)) {
      bool sort_stage = !array && strcmp(bson_iter_key(&child), "$sort") == 0;
      if (sort_stage && BSON_ITER_HOLDS_DOCUMENT(&child)) {
         bson_iter_t keys;
         bson_t sort;
         bson_append_document_begin(&sub, "$sort", -1, &sort);
         bson_iter_recurse(&child, &keys);
         while (bson_iter_next(&keys)) {
            rewrite_value(bson_iter_key(&keys), &keys, true, &sort);
         }
         bson_append_document_end(&sub, &sort);
         continue;
      }
      rewrite_value(bson_iter_key(&child), &child, false, &sub);
   }
   if (array) {
      bson_append_array_end(out, &sub);
   } else {
      bson_append_document_end(out, &sub);
   }
}
