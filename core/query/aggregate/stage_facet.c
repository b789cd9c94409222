/*
 * stage_facet.c: $facet (several sub-pipelines over the same input, one output document) and
 * $unionWith (the input, then another collection's documents through an optional pipeline).
 */
#include "query/aggregate/pipeline_int.h"

#include <string.h>

#include "query/update_int.h"

typedef struct facet_entry {
   char *name;              /* owned */
   fe_pipeline_t *pipeline; /* owned */
} facet_entry_t;

struct stage_facet {
   facet_entry_t *facets; /* owned */
   size_t count;
};

struct stage_union {
   char *collection;        /* owned; NULL: the pipeline starts with $documents */
   fe_pipeline_t *pipeline; /* owned; the stages given, possibly none */
};

static bool pipeline_array(const bson_iter_t *iter, bson_t *out);
static bool starts_with_documents(const bson_t *stages);

/*
 * $facet
 */

stage_facet_t *
stage_facet_compile(const bson_iter_t *spec, const fe_expr_var_t *vars, int depth,
                    fe_error_t *error)
{
   stage_facet_t *f = bson_malloc0(sizeof *f);
   bson_iter_t iter, elem;

   if (!BSON_ITER_HOLDS_DOCUMENT(spec) || !bson_iter_recurse(spec, &iter) ||
       !bson_iter_next(&iter)) {
      error_set(error, 40169, "the $facet specification must be a non-empty object");
      goto fail;
   }
   bson_iter_recurse(spec, &iter);
   f->facets = bson_malloc0(sizeof *f->facets);
   while (bson_iter_next(&iter)) {
      const char *name = bson_iter_key(&iter);
      bson_t stages;
      facet_entry_t *entry;

      if (name[0] == '\0' || name[0] == '$' || strchr(name, '.')) {
         error_set(error,
                   name[0] == '\0'  ? 15998
                   : name[0] == '$' ? 16410
                                    : 16412,
                   "$facet pipeline names must follow the naming rules of field path "
                   "expressions: '%s'",
                   name);
         goto fail;
      }
      if (!pipeline_array(&iter, &stages)) {
         error_set(error, 40170, "arguments to $facet must be arrays, %s is type %s", name,
                   update_util_type_name(bson_iter_type(&iter)));
         goto fail;
      }
      bson_iter_init(&elem, &stages);
      while (bson_iter_next(&elem)) {
         if (!BSON_ITER_HOLDS_DOCUMENT(&elem)) {
            error_set(error, 40171,
                      "elements of arrays in $facet spec must be non-empty objects, %s argument "
                      "contained an element of type %s",
                      name, update_util_type_name(bson_iter_type(&elem)));
            goto fail;
         }
      }
      f->facets = bson_realloc(f->facets, sizeof *f->facets * (f->count + 1));
      entry = &f->facets[f->count++];
      entry->name = bson_strdup(name);
      entry->pipeline = pipeline_compile_sub(&stages, vars, "$facet", depth, error);
      if (!entry->pipeline) {
         goto fail;
      }
   }
   return f;

fail:
   stage_facet_destroy(f);
   return NULL;
}

bool
stage_facet_run(const stage_facet_t *f, const pipeline_reader_t *reader, bson_t *const *docs,
                size_t count, bson_t **out, fe_error_t *error)
{
   bson_t *result = bson_new();
   stage_docs_t results = {0};
   bool ok = false;

   *out = NULL;
   for (size_t i = 0; i < f->count; i++) {
      bson_t arr;
      stage_docs_clear(&results);
      if (!pipeline_run_documents(f->facets[i].pipeline, reader, docs, count, stage_docs_collect,
                                  &results, error)) {
         goto done;
      }
      if (result->len + results.bytes > PIPELINE_MAX_DOCUMENT_SIZE) {
         error_set(error, 4031700,
                   "document constructed by $facet is %zu bytes, which exceeds the limit of %d "
                   "bytes",
                   (size_t) result->len + results.bytes, PIPELINE_MAX_DOCUMENT_SIZE);
         goto done;
      }
      bson_append_array_begin(result, f->facets[i].name, -1, &arr);
      for (size_t k = 0; k < results.count; k++) {
         char key[16];
         const char *key_ptr;
         bson_uint32_to_string((uint32_t) k, &key_ptr, key, sizeof key);
         bson_append_document(&arr, key_ptr, -1, results.items[k]);
      }
      bson_append_array_end(result, &arr);
   }
   *out = result;
   result = NULL;
   ok = true;

done:
   stage_docs_clear(&results);
   if (result) {
      bson_destroy(result);
   }
   return ok;
}

void
stage_facet_destroy(stage_facet_t *f)
{
   if (!f) {
      return;
   }
   for (size_t i = 0; i < f->count; i++) {
      bson_free(f->facets[i].name);
      pipeline_destroy(f->facets[i].pipeline);
   }
   bson_free(f->facets);
   bson_free(f);
}

/*
 * $unionWith
 */

stage_union_t *
stage_union_compile(const bson_iter_t *spec, const fe_expr_var_t *vars, int depth,
                    fe_error_t *error)
{
   stage_union_t *u = bson_malloc0(sizeof *u);
   bson_t stages = BSON_INITIALIZER;
   bson_t empty = BSON_INITIALIZER;
   bool has_pipeline = false;
   bson_iter_t iter;

   if (BSON_ITER_HOLDS_UTF8(spec)) {
      u->collection = bson_strdup(bson_iter_utf8(spec, NULL));
   } else if (BSON_ITER_HOLDS_DOCUMENT(spec)) {
      bson_iter_recurse(spec, &iter);
      while (bson_iter_next(&iter)) {
         const char *key = bson_iter_key(&iter);
         if (strcmp(key, "coll") == 0) {
            if (!BSON_ITER_HOLDS_UTF8(&iter)) {
               error_set(error, FE_TypeMismatch,
                         "BSON field '$unionWith.coll' is the wrong type '%s', expected type "
                         "'string'",
                         update_util_type_name(bson_iter_type(&iter)));
               goto fail;
            }
            bson_free(u->collection);
            u->collection = bson_strdup(bson_iter_utf8(&iter, NULL));
         } else if (strcmp(key, "pipeline") == 0) {
            if (!pipeline_array(&iter, &stages)) {
               error_set(error, FE_TypeMismatch,
                         "BSON field '$unionWith.pipeline' is the wrong type '%s', expected "
                         "type 'array'",
                         update_util_type_name(bson_iter_type(&iter)));
               goto fail;
            }
            has_pipeline = true;
         } else {
            error_set(error, 40415, "BSON field '$unionWith.%s' is an unknown field.", key);
            goto fail;
         }
      }
      if (!u->collection && !(has_pipeline && starts_with_documents(&stages))) {
         error_set(error, FE_FailedToParse,
                   "$unionWith stage without explicit collection must have a pipeline with "
                   "$documents as first stage");
         goto fail;
      }
   } else {
      error_set(error, FE_FailedToParse,
                "the $unionWith stage specification must be an object or string, but found %s",
                update_util_type_name(bson_iter_type(spec)));
      goto fail;
   }
   u->pipeline =
      pipeline_compile_sub(has_pipeline ? &stages : &empty, vars, "$unionWith", depth, error);
   if (!u->pipeline) {
      goto fail;
   }
   return u;

fail:
   stage_union_destroy(u);
   return NULL;
}

bool
stage_union_run(const stage_union_t *u, const pipeline_reader_t *reader, stage_docs_t *out,
                fe_error_t *error)
{
   return pipeline_run_collection(u->pipeline, reader, u->collection,
                                  pipeline_leading_match(u->pipeline), stage_docs_collect, out,
                                  error);
}

void
stage_union_destroy(stage_union_t *u)
{
   if (!u) {
      return;
   }
   bson_free(u->collection);
   pipeline_destroy(u->pipeline);
   bson_free(u);
}

/*
 * Helpers
 */

/* A static view of the array at iter. */
static bool
pipeline_array(const bson_iter_t *iter, bson_t *out)
{
   uint32_t len;
   const uint8_t *data;
   if (!BSON_ITER_HOLDS_ARRAY(iter)) {
      return false;
   }
   bson_iter_array(iter, &len, &data);
   return bson_init_static(out, data, len);
}

static bool
starts_with_documents(const bson_t *stages)
{
   bson_iter_t iter, stage;
   return bson_iter_init(&iter, stages) && bson_iter_next(&iter) &&
          BSON_ITER_HOLDS_DOCUMENT(&iter) && bson_iter_recurse(&iter, &stage) &&
          bson_iter_next(&stage) && strcmp(bson_iter_key(&stage), "$documents") == 0;
}
