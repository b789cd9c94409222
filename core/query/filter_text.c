/*
 * filter_text.c: $text in query filters. The filter holds the parsed query; the command binds
 * the collection's text index to it (filter_text_query(), text_query_bind()) before matching,
 * and until then a $text matches nothing.
 */
#include "query/filter_int.h"

static bool find_text(filter_node_t *node, bool under_nor, filter_node_t **found, int *count,
                      fe_error_t *error);

bool
filter_text_compile(filter_node_t *parent, const bson_iter_t *value, bool top, fe_error_t *error)
{
   filter_node_t *node;
   fe_text_query_t *query;

   if (!top) {
      return error_set(error, FE_BadValue, "$text is not allowed in this context");
   }
   if (!(query = text_query_parse(value, error))) {
      return false;
   }
   /* Built as the other node kinds are (filter.c's node_new() is static). */
   node = bson_aligned_alloc0(128, (sizeof *node + 127) / 128 * 128);
   node->kind = FILTER_TEXT;
   node->text = query;
   parent->children =
      bson_realloc(parent->children, (parent->count + 1) * sizeof *parent->children);
   parent->children[parent->count++] = node;
   return true;
}

bool
filter_text_query(const fe_filter_t *filter, fe_text_query_t **query, fe_error_t *error)
{
   filter_node_t *found = NULL;
   int count = 0;

   *query = NULL;
   if (!find_text(filter->root, false, &found, &count, error)) {
      return false;
   }
   if (count > 1) {
      return error_set(error, FE_BadValue, "Too many text expressions");
   }
   *query = found ? found->text : NULL;
   return true;
}

static bool
find_text(filter_node_t *node, bool under_nor, filter_node_t **found, int *count, fe_error_t *error)
{
   if (node->kind == FILTER_TEXT) {
      if (under_nor) {
         return error_set(error, FE_BadValue, "text expression not allowed in nor");
      }
      *found = node;
      (*count)++;
      return true;
   }
   for (size_t i = 0; i < node->count; i++) {
      if (!find_text(node->children[i],
                     under_nor || node->kind == FILTER_NOR || node->kind == FILTER_NOT, found,
                     count, error)) {
         return false;
      }
   }
   return true;
}
