/*
 * fuzz_filter.c: libFuzzer target for the query engine. The input is split into a filter and a
 * document (both BSON); any valid pair must compile or fail with an error, and matching must
 * not crash. Projections, sorts and updates built from the same bytes go through the same.
 */
#include <stdint.h>
#include <string.h>

#include <bson/bson.h>

#include "query/filter.h"
#include "query/projection.h"
#include "query/sort.h"
#include "query/update.h"
#include "wire/header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
take_document(const uint8_t **data, size_t *size, bson_t *out)
{
   uint32_t len;
   if (*size < 5) {
      return false;
   }
   memcpy(&len, *data, 4);
   len = BSON_UINT32_FROM_LE(len);
   /* Exactly the check every client document passes before it reaches the engine. */
   if (len < 5 || len > *size ||
       !header_validate_bson(*data, len, HEADER_MAX_NESTING_DEPTH, NULL) ||
       !bson_init_static(out, *data, len)) {
      return false;
   }
   *data += len;
   *size -= len;
   return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
   bson_t spec, doc;
   fe_error_t error;
   fe_filter_t *filter;
   fe_projection_t *projection;
   fe_sort_t *sort;
   fe_update_t *update;

   if (!take_document(&data, &size, &spec) || !take_document(&data, &size, &doc)) {
      return 0;
   }
   if ((filter = filter_compile(&spec, &error))) {
      fe_match_info_t match = {-1};
      filter_match(filter, &doc, &match);
      filter_destroy(filter);
   }
   if ((projection = projection_compile(&spec, &error))) {
      fe_match_info_t match = {-1};
      bson_t out;
      projection_apply(projection, &doc, &match, &out, &error);
      bson_destroy(&out);
      projection_destroy(projection);
   }
   if ((sort = sort_compile(&spec, &error))) {
      const bson_t *docs[2] = {&doc, &spec};
      sort_documents(sort, docs, 2);
      sort_destroy(sort);
   }
   if ((update = update_compile(&spec, false, NULL, &error))) {
      fe_match_info_t match = {-1};
      bson_t out;
      update_apply(update, &doc, &match, false, &out, &error);
      bson_destroy(&out);
      update_destroy(update);
   }
   return 0;
}
