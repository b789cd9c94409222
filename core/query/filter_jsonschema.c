/*
 * filter_jsonschema.c: the $jsonSchema query operator, as MongoDB implements JSON Schema draft 4
 * (https://www.mongodb.com/docs/manual/reference/operator/query/jsonSchema/): compiling a schema
 * into a tree of keyword checks, matching documents against it, and explaining a failure as
 * mongod 5+ does in a DocumentValidationFailure's errInfo (schemaRulesNotSatisfied).
 *
 * As in MongoDB, a keyword that constrains one kind of value (minimum, minLength, properties,
 * items...) ignores values of other kinds: only type and bsonType restrict the kind. Field
 * names in properties and required are literal (no dotted paths) and arrays are not traversed.
 * Unsupported keywords ($ref, $schema, default, definitions, format, id) and unknown ones are
 * FailedToParse (9); operands of the wrong BSON type are TypeMismatch (14).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bson/compare.h"
#include "bson/numeric.h"
#include "query/filter_int.h"

/* The keywords, in the order checks run when a schema holds several. */
typedef enum js_kw {
   KW_TYPE,
   KW_BSON_TYPE,
   KW_ENUM,
   KW_MINIMUM,
   KW_MAXIMUM,
   KW_MULTIPLE_OF,
   KW_MIN_LENGTH,
   KW_MAX_LENGTH,
   KW_PATTERN,
   KW_REQUIRED,
   KW_MIN_PROPERTIES,
   KW_MAX_PROPERTIES,
   KW_PROPERTIES,
   KW_PATTERN_PROPERTIES,
   KW_ADDITIONAL_PROPERTIES,
   KW_DEPENDENCIES,
   KW_ITEMS,
   KW_ADDITIONAL_ITEMS,
   KW_MIN_ITEMS,
   KW_MAX_ITEMS,
   KW_UNIQUE_ITEMS,
   KW_ALL_OF,
   KW_ANY_OF,
   KW_ONE_OF,
   KW_NOT,
   KW_COUNT
} js_kw_t;

static const char *const kw_names[KW_COUNT] = {
   "type",
   "bsonType",
   "enum",
   "minimum",
   "maximum",
   "multipleOf",
   "minLength",
   "maxLength",
   "pattern",
   "required",
   "minProperties",
   "maxProperties",
   "properties",
   "patternProperties",
   "additionalProperties",
   "dependencies",
   "items",
   "additionalItems",
   "minItems",
   "maxItems",
   "uniqueItems",
   "allOf",
   "anyOf",
   "oneOf",
   "not",
};

typedef struct js_schema js_schema_t;

typedef struct js_list {
   js_schema_t **items; /* owned, count entries */
   size_t count;
} js_list_t;

typedef struct js_prop {
   const char *name;    /* borrowed from the schema's source */
   js_schema_t *schema; /* owned */
} js_prop_t;

typedef struct js_pattern_prop {
   filter_regex_t regex; /* owned code and match data; pattern borrowed from source */
   js_schema_t *schema;  /* owned */
} js_pattern_prop_t;

typedef struct js_dependency {
   const char *name;    /* borrowed from source */
   js_schema_t *schema; /* owned; NULL for a property dependency */
   bson_t required;     /* static view into source: the array of names, when !schema */
} js_dependency_t;

/* What a value is, for keyword checks: its type, the element (NULL for a document matched as
 * the root of a filter) and, for documents and arrays, their bytes. */
typedef struct js_value {
   bson_type_t type;
   const bson_iter_t *iter; /* borrowed; NULL at the root */
   const uint8_t *data;     /* borrowed; documents and arrays */
   uint32_t len;
} js_value_t;

struct js_schema {
   bson_t *source; /* owned copy of the schema document; the operands below point into it */
   bool present[KW_COUNT];
   uint32_t type_mask; /* type or bsonType: bit n for BSON type n, FILTER_TYPE_MIN/MAXKEY */
   bool exclusive_minimum, exclusive_maximum;
   double multiple_of;
   int64_t min_length, max_length, min_properties, max_properties, min_items, max_items;
   bool unique_items;
   filter_regex_t pattern; /* KW_PATTERN */
   bson_t required;        /* static view into source */
   js_prop_t *properties;
   size_t property_count;
   js_pattern_prop_t *pattern_properties;
   size_t pattern_property_count;
   bool additional_properties;     /* additionalProperties: false or true */
   js_schema_t *additional_schema; /* additionalProperties as a schema */
   js_schema_t *items;             /* items as one schema */
   js_list_t item_list;            /* items as an array of schemas */
   bool additional_items;          /* additionalItems: false or true */
   js_schema_t *additional_items_schema;
   js_list_t all_of, any_of, one_of;
   js_schema_t *not_schema;
   js_dependency_t *dependencies;
   size_t dependency_count;
};

struct filter_jsonschema {
   js_schema_t *root; /* owned */
};

/* ---- compiling ---- */
static js_schema_t *schema_compile(const bson_t *doc, bool top, fe_error_t *error);
static void schema_destroy(js_schema_t *schema);
static bool compile_keyword(js_schema_t *schema, const bson_iter_t *it, bool top,
                            fe_error_t *error);
static js_schema_t *compile_sub(const bson_iter_t *it, const char *keyword, fe_error_t *error);
static bool compile_list(js_list_t *list, const bson_iter_t *it, const char *keyword,
                         fe_error_t *error);
static bool compile_types(js_schema_t *schema, const bson_iter_t *it, bool bson_names,
                          fe_error_t *error);
static bool read_count(const bson_iter_t *it, const char *keyword, int64_t *out, fe_error_t *error);
static bool check_names(const bson_iter_t *it, const char *keyword, bool allow_empty,
                        fe_error_t *error);

/* ---- matching ---- */
static bool schema_match(const js_schema_t *schema, const js_value_t *value);
static bool keyword_ok(const js_schema_t *schema, js_kw_t kw, const js_value_t *value);
static void value_from_iter(const bson_iter_t *iter, js_value_t *value);
static bool has_field(const js_value_t *object, const char *name);
static bool is_declared(const js_schema_t *schema, const char *name);

/* ---- explaining ---- */
static void explain_schema(const js_schema_t *schema, const js_value_t *value, bson_t *rules);

filter_jsonschema_t *
filter_jsonschema_compile(const bson_iter_t *value, fe_error_t *error)
{
   filter_jsonschema_t *compiled;
   js_schema_t *root;
   bson_t doc;
   const uint8_t *data;
   uint32_t len;

   if (!BSON_ITER_HOLDS_DOCUMENT(value)) {
      error_set(error, FE_TypeMismatch, "$jsonSchema must be an object");
      return NULL;
   }
   bson_iter_document(value, &len, &data);
   if (!bson_init_static(&doc, data, len)) {
      error_set(error, FE_BadValue, "invalid $jsonSchema document");
      return NULL;
   }
   root = schema_compile(&doc, true, error);
   if (!root) {
      return NULL;
   }
   compiled = bson_malloc0(sizeof *compiled);
   compiled->root = root;
   return compiled;
}

void
filter_jsonschema_destroy(filter_jsonschema_t *schema)
{
   if (schema) {
      schema_destroy(schema->root);
      bson_free(schema);
   }
}

bool
filter_jsonschema_match(const filter_jsonschema_t *schema, const bson_iter_t *doc)
{
   js_value_t value = {BSON_TYPE_DOCUMENT, NULL, doc->raw, doc->len};
   return schema_match(schema->root, &value);
}

bool
filter_jsonschema_explain(const fe_filter_t *filter, const bson_t *doc, bson_t *details)
{
   const filter_node_t *root = filter->root;
   js_value_t value = {BSON_TYPE_DOCUMENT, NULL, bson_get_data(doc), doc->len};
   bson_t rules;

   if (root->count != 1 || root->children[0]->kind != FILTER_JSON) {
      return false;
   }
   BSON_APPEND_UTF8(details, "operatorName", "$jsonSchema");
   BSON_APPEND_ARRAY_BEGIN(details, "schemaRulesNotSatisfied", &rules);
   explain_schema(root->children[0]->schema->root, &value, &rules);
   bson_append_array_end(details, &rules);
   return true;
}

/* ---------------------------------------------------------------------------------------------
 * Compiling
 * ------------------------------------------------------------------------------------------- */

static js_schema_t *
schema_compile(const bson_t *doc, bool top, fe_error_t *error)
{
   js_schema_t *schema = bson_malloc0(sizeof *schema);
   bson_iter_t it;
   bson_iter_t other;

   bson_init(&schema->required);
   schema->additional_properties = true;
   schema->additional_items = true;
   schema->source = bson_copy(doc);
   if (bson_iter_init_find(&it, schema->source, "type") &&
       bson_iter_init_find(&other, schema->source, "bsonType")) {
      error_set(error, FE_FailedToParse,
                "Cannot specify both $jsonSchema keywords 'type' and 'bsonType'");
      goto fail;
   }
   bson_iter_init(&it, schema->source);
   while (bson_iter_next(&it)) {
      if (!compile_keyword(schema, &it, top, error)) {
         goto fail;
      }
   }
   if ((schema->exclusive_minimum && !schema->present[KW_MINIMUM]) ||
       (schema->exclusive_maximum && !schema->present[KW_MAXIMUM])) {
      error_set(error, FE_FailedToParse,
                "$jsonSchema keyword '%s' must be a present if %s is present",
                schema->exclusive_minimum ? "minimum" : "maximum",
                schema->exclusive_minimum ? "exclusiveMinimum" : "exclusiveMaximum");
      goto fail;
   }
   return schema;

fail:
   schema_destroy(schema);
   return NULL;
}

static void
list_destroy(js_list_t *list)
{
   for (size_t i = 0; i < list->count; i++) {
      schema_destroy(list->items[i]);
   }
   bson_free(list->items);
}

static void
schema_destroy(js_schema_t *schema)
{
   if (!schema) {
      return;
   }
   if (schema->pattern.code) {
      pcre2_match_data_free(schema->pattern.match_data);
      pcre2_code_free(schema->pattern.code);
   }
   for (size_t i = 0; i < schema->property_count; i++) {
      schema_destroy(schema->properties[i].schema);
   }
   bson_free(schema->properties);
   for (size_t i = 0; i < schema->pattern_property_count; i++) {
      pcre2_match_data_free(schema->pattern_properties[i].regex.match_data);
      pcre2_code_free(schema->pattern_properties[i].regex.code);
      schema_destroy(schema->pattern_properties[i].schema);
   }
   bson_free(schema->pattern_properties);
   for (size_t i = 0; i < schema->dependency_count; i++) {
      schema_destroy(schema->dependencies[i].schema);
   }
   bson_free(schema->dependencies);
   schema_destroy(schema->additional_schema);
   schema_destroy(schema->items);
   list_destroy(&schema->item_list);
   schema_destroy(schema->additional_items_schema);
   list_destroy(&schema->all_of);
   list_destroy(&schema->any_of);
   list_destroy(&schema->one_of);
   schema_destroy(schema->not_schema);
   bson_destroy(schema->source);
   bson_free(schema);
}

static bool
keyword_index(const char *key, js_kw_t *kw)
{
   for (int i = 0; i < KW_COUNT; i++) {
      if (strcmp(kw_names[i], key) == 0) {
         *kw = (js_kw_t) i;
         return true;
      }
   }
   return false;
}

static bool
static_view(const bson_iter_t *it, bson_t *out)
{
   const uint8_t *data;
   uint32_t len;
   bson_iter_array(it, &len, &data);
   return bson_init_static(out, data, len);
}

static bool
compile_keyword(js_schema_t *schema, const bson_iter_t *it, bool top, fe_error_t *error)
{
   const char *key = bson_iter_key(it);
   bson_type_t type = bson_iter_type(it);
   js_kw_t kw;
   bson_iter_t child;

   (void) top;
   if (strcmp(key, "title") == 0 || strcmp(key, "description") == 0) {
      if (type != BSON_TYPE_UTF8) {
         return error_set(error, FE_TypeMismatch, "$jsonSchema keyword '%s' must be a string", key);
      }
      return true;
   }
   if (strcmp(key, "exclusiveMinimum") == 0 || strcmp(key, "exclusiveMaximum") == 0) {
      if (type != BSON_TYPE_BOOL) {
         return error_set(error, FE_TypeMismatch, "$jsonSchema keyword '%s' must be a boolean",
                          key);
      }
      if (key[9] == 'M' && key[10] == 'i') {
         schema->exclusive_minimum = bson_iter_bool(it);
      } else {
         schema->exclusive_maximum = bson_iter_bool(it);
      }
      return true;
   }
   if (strcmp(key, "$ref") == 0 || strcmp(key, "$schema") == 0 || strcmp(key, "default") == 0 ||
       strcmp(key, "definitions") == 0 || strcmp(key, "format") == 0 || strcmp(key, "id") == 0) {
      return error_set(error, FE_FailedToParse,
                       "$jsonSchema keyword '%s' is not currently supported", key);
   }
   if (!keyword_index(key, &kw)) {
      return error_set(error, FE_FailedToParse, "Unknown $jsonSchema keyword: %s", key);
   }
   schema->present[kw] = true;
   switch (kw) {
   case KW_TYPE:
   case KW_BSON_TYPE:
      return compile_types(schema, it, kw == KW_BSON_TYPE, error);
   case KW_ENUM:
      if (type != BSON_TYPE_ARRAY) {
         return error_set(error, FE_TypeMismatch, "$jsonSchema keyword 'enum' must be an array");
      }
      bson_iter_recurse(it, &child);
      if (!bson_iter_next(&child)) {
         return error_set(error, FE_FailedToParse,
                          "$jsonSchema keyword 'enum' cannot be an empty array");
      }
      return true;
   case KW_MINIMUM:
   case KW_MAXIMUM:
      if (!numeric_is_number(type)) {
         return error_set(error, FE_TypeMismatch, "$jsonSchema keyword '%s' must be a number", key);
      }
      return true;
   case KW_MULTIPLE_OF:
      if (!numeric_is_number(type)) {
         return error_set(error, FE_TypeMismatch,
                          "$jsonSchema keyword 'multipleOf' must be a number");
      }
      schema->multiple_of = numeric_to_double(it);
      if (!(schema->multiple_of > 0) || isinf(schema->multiple_of)) {
         return error_set(error, FE_FailedToParse,
                          "$jsonSchema keyword 'multipleOf' must have a positive value");
      }
      return true;
   case KW_MIN_LENGTH:
      return read_count(it, key, &schema->min_length, error);
   case KW_MAX_LENGTH:
      return read_count(it, key, &schema->max_length, error);
   case KW_MIN_PROPERTIES:
      return read_count(it, key, &schema->min_properties, error);
   case KW_MAX_PROPERTIES:
      return read_count(it, key, &schema->max_properties, error);
   case KW_MIN_ITEMS:
      return read_count(it, key, &schema->min_items, error);
   case KW_MAX_ITEMS:
      return read_count(it, key, &schema->max_items, error);
   case KW_PATTERN: {
      const char *pattern;
      uint32_t len;
      if (type != BSON_TYPE_UTF8) {
         return error_set(error, FE_TypeMismatch, "$jsonSchema keyword 'pattern' must be a string");
      }
      pattern = bson_iter_utf8(it, &len);
      if (strlen(pattern) != len) {
         return error_set(error, FE_BadValue,
                          "Regular expression cannot contain an embedded null byte");
      }
      return filter_compile_regex(&schema->pattern, pattern, "", error);
   }
   case KW_REQUIRED:
      if (!check_names(it, key, false, error)) {
         return false;
      }
      return static_view(it, &schema->required) ||
             error_set(error, FE_BadValue, "malformed $jsonSchema 'required'");
   case KW_PROPERTIES:
   case KW_PATTERN_PROPERTIES: {
      bool patterns = kw == KW_PATTERN_PROPERTIES;
      size_t n = 0;
      if (type != BSON_TYPE_DOCUMENT) {
         return error_set(error, FE_TypeMismatch, "$jsonSchema keyword '%s' must be an object",
                          key);
      }
      bson_iter_recurse(it, &child);
      while (bson_iter_next(&child)) {
         n++;
      }
      if (patterns) {
         schema->pattern_properties =
            bson_malloc0((n ? n : 1) * sizeof *schema->pattern_properties);
      } else {
         schema->properties = bson_malloc0((n ? n : 1) * sizeof *schema->properties);
      }
      bson_iter_recurse(it, &child);
      while (bson_iter_next(&child)) {
         js_schema_t *sub;
         if (!BSON_ITER_HOLDS_DOCUMENT(&child)) {
            return error_set(error, FE_TypeMismatch,
                             "Nested schema for $jsonSchema property '%s' must be an object",
                             bson_iter_key(&child));
         }
         if (patterns) {
            js_pattern_prop_t *p = &schema->pattern_properties[schema->pattern_property_count];
            if (!filter_compile_regex(&p->regex, bson_iter_key(&child), "", error)) {
               return false;
            }
            schema->pattern_property_count++;
            if (!(sub = compile_sub(&child, key, error))) {
               return false;
            }
            p->schema = sub;
         } else {
            js_prop_t *p = &schema->properties[schema->property_count++];
            p->name = bson_iter_key(&child);
            if (!(p->schema = compile_sub(&child, key, error))) {
               return false;
            }
         }
      }
      return true;
   }
   case KW_ADDITIONAL_PROPERTIES:
   case KW_ADDITIONAL_ITEMS: {
      bool items = kw == KW_ADDITIONAL_ITEMS;
      if (type == BSON_TYPE_BOOL) {
         if (items) {
            schema->additional_items = bson_iter_bool(it);
         } else {
            schema->additional_properties = bson_iter_bool(it);
         }
         return true;
      }
      if (type != BSON_TYPE_DOCUMENT) {
         return error_set(error, FE_TypeMismatch,
                          "$jsonSchema keyword '%s' must be either an object or a boolean", key);
      }
      js_schema_t *sub = compile_sub(it, key, error);
      if (items) {
         schema->additional_items_schema = sub;
      } else {
         schema->additional_schema = sub;
      }
      return sub != NULL;
   }
   case KW_DEPENDENCIES: {
      size_t n = 0;
      if (type != BSON_TYPE_DOCUMENT) {
         return error_set(error, FE_TypeMismatch,
                          "$jsonSchema keyword 'dependencies' must be an object");
      }
      bson_iter_recurse(it, &child);
      while (bson_iter_next(&child)) {
         n++;
      }
      schema->dependencies = bson_malloc0((n ? n : 1) * sizeof *schema->dependencies);
      bson_iter_recurse(it, &child);
      while (bson_iter_next(&child)) {
         js_dependency_t *d = &schema->dependencies[schema->dependency_count++];
         d->name = bson_iter_key(&child);
         bson_init(&d->required);
         if (BSON_ITER_HOLDS_DOCUMENT(&child)) {
            if (!(d->schema = compile_sub(&child, key, error))) {
               return false;
            }
         } else if (BSON_ITER_HOLDS_ARRAY(&child)) {
            if (!check_names(&child, "dependencies", false, error)) {
               return false;
            }
            static_view(&child, &d->required);
         } else {
            return error_set(error, FE_TypeMismatch,
                             "property '%s' in $jsonSchema keyword 'dependencies' must be "
                             "either an object or an array",
                             d->name);
         }
      }
      return true;
   }
   case KW_ITEMS:
      if (type == BSON_TYPE_DOCUMENT) {
         return (schema->items = compile_sub(it, key, error)) != NULL;
      }
      if (type == BSON_TYPE_ARRAY) {
         return compile_list(&schema->item_list, it, key, error);
      }
      return error_set(error, FE_TypeMismatch,
                       "$jsonSchema keyword 'items' must be an array or an object");
   case KW_UNIQUE_ITEMS:
      if (type != BSON_TYPE_BOOL) {
         return error_set(error, FE_TypeMismatch,
                          "$jsonSchema keyword 'uniqueItems' must be a boolean");
      }
      schema->unique_items = bson_iter_bool(it);
      return true;
   case KW_ALL_OF:
      return compile_list(&schema->all_of, it, key, error);
   case KW_ANY_OF:
      return compile_list(&schema->any_of, it, key, error);
   case KW_ONE_OF:
      return compile_list(&schema->one_of, it, key, error);
   case KW_NOT:
      if (type != BSON_TYPE_DOCUMENT) {
         return error_set(error, FE_TypeMismatch, "$jsonSchema keyword 'not' must be an object");
      }
      return (schema->not_schema = compile_sub(it, key, error)) != NULL;
   case KW_COUNT:
      break;
   }
   return error_set(error, FE_FailedToParse, "Unknown $jsonSchema keyword: %s", key);
}

static js_schema_t *
compile_sub(const bson_iter_t *it, const char *keyword, fe_error_t *error)
{
   const uint8_t *data;
   uint32_t len;
   bson_t doc;

   if (!BSON_ITER_HOLDS_DOCUMENT(it)) {
      error_set(error, FE_TypeMismatch, "$jsonSchema keyword '%s' must hold objects", keyword);
      return NULL;
   }
   bson_iter_document(it, &len, &data);
   if (!bson_init_static(&doc, data, len)) {
      error_set(error, FE_BadValue, "invalid $jsonSchema document");
      return NULL;
   }
   return schema_compile(&doc, false, error);
}

static bool
compile_list(js_list_t *list, const bson_iter_t *it, const char *keyword, fe_error_t *error)
{
   bson_iter_t child;
   size_t n = 0;

   if (!BSON_ITER_HOLDS_ARRAY(it)) {
      return error_set(error, FE_TypeMismatch, "$jsonSchema keyword '%s' must be an array",
                       keyword);
   }
   bson_iter_recurse(it, &child);
   while (bson_iter_next(&child)) {
      n++;
   }
   if (n == 0 && strcmp(keyword, "items") != 0) {
      return error_set(error, FE_FailedToParse,
                       "$jsonSchema keyword '%s' must be a non-empty array", keyword);
   }
   list->items = bson_malloc0((n ? n : 1) * sizeof *list->items);
   bson_iter_recurse(it, &child);
   while (bson_iter_next(&child)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&child)) {
         return error_set(error, FE_TypeMismatch,
                          "$jsonSchema keyword '%s' must be an array of objects", keyword);
      }
      if (!(list->items[list->count] = compile_sub(&child, keyword, error))) {
         return false;
      }
      list->count++;
   }
   return true;
}

typedef struct type_name {
   const char *name;
   uint32_t mask;
} type_name_t;

#define BIT(t) (1u << (t))
#define NUMBER_MASK                                                                                \
   (BIT(BSON_TYPE_DOUBLE) | BIT(BSON_TYPE_INT32) | BIT(BSON_TYPE_INT64) | BIT(BSON_TYPE_DECIMAL128))

static const type_name_t bson_type_names[] = {
   {"double", BIT(BSON_TYPE_DOUBLE)},
   {"string", BIT(BSON_TYPE_UTF8)},
   {"object", BIT(BSON_TYPE_DOCUMENT)},
   {"array", BIT(BSON_TYPE_ARRAY)},
   {"binData", BIT(BSON_TYPE_BINARY)},
   {"undefined", BIT(BSON_TYPE_UNDEFINED)},
   {"objectId", BIT(BSON_TYPE_OID)},
   {"bool", BIT(BSON_TYPE_BOOL)},
   {"date", BIT(BSON_TYPE_DATE_TIME)},
   {"null", BIT(BSON_TYPE_NULL)},
   {"regex", BIT(BSON_TYPE_REGEX)},
   {"dbPointer", BIT(BSON_TYPE_DBPOINTER)},
   {"javascript", BIT(BSON_TYPE_CODE)},
   {"symbol", BIT(BSON_TYPE_SYMBOL)},
   {"javascriptWithScope", BIT(BSON_TYPE_CODEWSCOPE)},
   {"int", BIT(BSON_TYPE_INT32)},
   {"timestamp", BIT(BSON_TYPE_TIMESTAMP)},
   {"long", BIT(BSON_TYPE_INT64)},
   {"decimal", BIT(BSON_TYPE_DECIMAL128)},
   {"minKey", FILTER_TYPE_MINKEY},
   {"maxKey", FILTER_TYPE_MAXKEY},
   {"number", NUMBER_MASK},
};

/* JSON Schema's own type names; "integer" is not supported, as in MongoDB. */
static const type_name_t json_type_names[] = {
   {"object", BIT(BSON_TYPE_DOCUMENT)},
   {"array", BIT(BSON_TYPE_ARRAY)},
   {"number", NUMBER_MASK},
   {"boolean", BIT(BSON_TYPE_BOOL)},
   {"string", BIT(BSON_TYPE_UTF8)},
   {"null", BIT(BSON_TYPE_NULL)},
};

static bool
type_one(js_schema_t *schema, const bson_iter_t *it, bool bson_names, fe_error_t *error)
{
   const type_name_t *names = bson_names ? bson_type_names : json_type_names;
   size_t count = bson_names ? sizeof bson_type_names / sizeof bson_type_names[0]
                             : sizeof json_type_names / sizeof json_type_names[0];
   const char *keyword = bson_names ? "bsonType" : "type";
   const char *name;

   if (!BSON_ITER_HOLDS_UTF8(it)) {
      return error_set(error, FE_TypeMismatch,
                       "$jsonSchema keyword '%s' must be either a string or an array of strings",
                       keyword);
   }
   name = bson_iter_utf8(it, NULL);
   for (size_t i = 0; i < count; i++) {
      if (strcmp(names[i].name, name) == 0) {
         schema->type_mask |= names[i].mask;
         return true;
      }
   }
   if (!bson_names && strcmp(name, "integer") == 0) {
      return error_set(error, FE_BadValue,
                       "$jsonSchema type 'integer' is not currently supported.");
   }
   return error_set(error, FE_BadValue, "Unknown type name alias: %s", name);
}

static bool
compile_types(js_schema_t *schema, const bson_iter_t *it, bool bson_names, fe_error_t *error)
{
   bson_iter_t child;
   bool any = false;

   if (!BSON_ITER_HOLDS_ARRAY(it)) {
      return type_one(schema, it, bson_names, error);
   }
   bson_iter_recurse(it, &child);
   while (bson_iter_next(&child)) {
      if (!type_one(schema, &child, bson_names, error)) {
         return false;
      }
      any = true;
   }
   if (!any) {
      return error_set(error, FE_FailedToParse,
                       "$jsonSchema keyword '%s' must name at least one type",
                       bson_names ? "bsonType" : "type");
   }
   return true;
}

static bool
read_count(const bson_iter_t *it, const char *keyword, int64_t *out, fe_error_t *error)
{
   if (!numeric_is_number(bson_iter_type(it))) {
      return error_set(error, FE_TypeMismatch, "$jsonSchema keyword '%s' must be a number",
                       keyword);
   }
   if (!numeric_to_int64_exact(it, out)) {
      return error_set(error, FE_FailedToParse,
                       "$jsonSchema keyword '%s' must be representable as an integer", keyword);
   }
   if (*out < 0) {
      return error_set(error, FE_FailedToParse, "$jsonSchema keyword '%s' must be non-negative",
                       keyword);
   }
   return true;
}

/* An array of distinct strings (required, and property dependencies). */
static bool
check_names(const bson_iter_t *it, const char *keyword, bool allow_empty, fe_error_t *error)
{
   bson_iter_t child, other;
   bool any = false;

   if (!BSON_ITER_HOLDS_ARRAY(it)) {
      return error_set(error, FE_TypeMismatch, "$jsonSchema keyword '%s' must be an array",
                       keyword);
   }
   bson_iter_recurse(it, &child);
   while (bson_iter_next(&child)) {
      any = true;
      if (!BSON_ITER_HOLDS_UTF8(&child)) {
         return error_set(error, FE_TypeMismatch,
                          "$jsonSchema keyword '%s' must contain only strings", keyword);
      }
      other = child;
      while (bson_iter_next(&other)) {
         if (BSON_ITER_HOLDS_UTF8(&other) &&
             strcmp(bson_iter_utf8(&other, NULL), bson_iter_utf8(&child, NULL)) == 0) {
            return error_set(error, FE_FailedToParse,
                             "$jsonSchema keyword '%s' array cannot contain duplicate values",
                             keyword);
         }
      }
   }
   if (!any && !allow_empty) {
      return error_set(error, FE_FailedToParse, "$jsonSchema keyword '%s' cannot be an empty array",
                       keyword);
   }
   return true;
}

/* ---------------------------------------------------------------------------------------------
 * Matching
 * ------------------------------------------------------------------------------------------- */

static void
value_from_iter(const bson_iter_t *iter, js_value_t *value)
{
   value->type = bson_iter_type(iter);
   value->iter = iter;
   value->data = NULL;
   value->len = 0;
   if (value->type == BSON_TYPE_DOCUMENT) {
      bson_iter_document(iter, &value->len, &value->data);
   } else if (value->type == BSON_TYPE_ARRAY) {
      bson_iter_array(iter, &value->len, &value->data);
   }
}

static bool
schema_match(const js_schema_t *schema, const js_value_t *value)
{
   for (int kw = 0; kw < KW_COUNT; kw++) {
      if (schema->present[kw] && !keyword_ok(schema, (js_kw_t) kw, value)) {
         return false;
      }
   }
   return true;
}

static bool
children(const js_value_t *value, bson_iter_t *it)
{
   return value->data && bson_iter_init_from_data(it, value->data, value->len);
}

static bool
has_field(const js_value_t *object, const char *name)
{
   bson_iter_t it;
   return children(object, &it) && bson_iter_find(&it, name);
}

static bool
is_declared(const js_schema_t *schema, const char *name)
{
   for (size_t i = 0; i < schema->property_count; i++) {
      if (strcmp(schema->properties[i].name, name) == 0) {
         return true;
      }
   }
   return false;
}

static uint32_t
type_bit(bson_type_t t)
{
   return t == BSON_TYPE_MINKEY   ? FILTER_TYPE_MINKEY
          : t == BSON_TYPE_MAXKEY ? FILTER_TYPE_MAXKEY
          : (uint32_t) t < 30     ? 1u << t
                                  : 0;
}

/* value (the root document has no element of its own) equal to the element candidate. */
static bool
value_equals(const js_value_t *value, const bson_iter_t *candidate)
{
   bson_t wrapper = BSON_INITIALIZER;
   bson_t doc;
   bson_iter_t it;
   bool equal = false;

   if (value->iter) {
      return compare_values_equal(value->iter, candidate);
   }
   if (bson_init_static(&doc, value->data, value->len) &&
       bson_append_document(&wrapper, "", 0, &doc) && bson_iter_init(&it, &wrapper) &&
       bson_iter_next(&it)) {
      equal = compare_values_equal(&it, candidate);
   }
   bson_destroy(&wrapper);
   return equal;
}

static int64_t
count_children(const js_value_t *value)
{
   bson_iter_t it;
   int64_t n = 0;
   if (children(value, &it)) {
      while (bson_iter_next(&it)) {
         n++;
      }
   }
   return n;
}

/* Code points in a UTF-8 string: the bytes that do not continue a sequence. */
static int64_t
utf8_length(const bson_iter_t *iter)
{
   uint32_t len;
   const char *s = bson_iter_utf8(iter, &len);
   int64_t n = 0;
   for (uint32_t i = 0; i < len; i++) {
      if (((unsigned char) s[i] & 0xC0) != 0x80) {
         n++;
      }
   }
   return n;
}

static bool
list_count_matches(const js_list_t *list, const js_value_t *value, size_t stop_at, size_t *n)
{
   *n = 0;
   for (size_t i = 0; i < list->count && *n < stop_at; i++) {
      if (schema_match(list->items[i], value)) {
         (*n)++;
      }
   }
   return true;
}

static bool
bound_ok(const js_schema_t *schema, const js_value_t *value, bool minimum)
{
   bson_iter_t bound;
   int c;

   if (!value->iter || !numeric_is_number(value->type) ||
       !bson_iter_init_find(&bound, schema->source, minimum ? "minimum" : "maximum")) {
      return true;
   }
   if (isnan(numeric_to_double(value->iter))) {
      return false;
   }
   c = compare_values(value->iter, &bound);
   if (minimum) {
      return schema->exclusive_minimum ? c > 0 : c >= 0;
   }
   return schema->exclusive_maximum ? c < 0 : c <= 0;
}

static bool
properties_ok(const js_schema_t *schema, const js_value_t *value, js_kw_t kw)
{
   bson_iter_t it;

   if (!children(value, &it)) {
      return true;
   }
   while (bson_iter_next(&it)) {
      const char *name = bson_iter_key(&it);
      js_value_t field;
      bool matched_pattern = false;
      value_from_iter(&it, &field);
      if (kw == KW_PROPERTIES) {
         for (size_t i = 0; i < schema->property_count; i++) {
            if (strcmp(schema->properties[i].name, name) == 0 &&
                !schema_match(schema->properties[i].schema, &field)) {
               return false;
            }
         }
         continue;
      }
      for (size_t i = 0; i < schema->pattern_property_count; i++) {
         const js_pattern_prop_t *p = &schema->pattern_properties[i];
         if (pcre2_match(p->regex.code, (PCRE2_SPTR) name, strlen(name), 0, 0, p->regex.match_data,
                         NULL) >= 0) {
            matched_pattern = true;
            if (kw == KW_PATTERN_PROPERTIES && !schema_match(p->schema, &field)) {
               return false;
            }
         }
      }
      if (kw == KW_ADDITIONAL_PROPERTIES && !matched_pattern && !is_declared(schema, name)) {
         if (schema->additional_schema ? !schema_match(schema->additional_schema, &field)
                                       : !schema->additional_properties) {
            return false;
         }
      }
   }
   return true;
}

static bool
items_ok(const js_schema_t *schema, const js_value_t *value, js_kw_t kw)
{
   bson_iter_t it;
   size_t index = 0;

   if (!children(value, &it)) {
      return true;
   }
   if (kw == KW_ITEMS && !schema->items && schema->item_list.count == 0) {
      return true;
   }
   if (kw == KW_ADDITIONAL_ITEMS && !schema->present[KW_ITEMS]) {
      return true; /* additionalItems only means something beside items as an array */
   }
   if (kw == KW_ADDITIONAL_ITEMS && schema->items) {
      return true;
   }
   for (; bson_iter_next(&it); index++) {
      js_value_t item;
      value_from_iter(&it, &item);
      if (kw == KW_ITEMS) {
         const js_schema_t *sub =
            schema->items
               ? schema->items
               : (index < schema->item_list.count ? schema->item_list.items[index] : NULL);
         if (sub && !schema_match(sub, &item)) {
            return false;
         }
      } else if (index >= schema->item_list.count) {
         if (schema->additional_items_schema ? !schema_match(schema->additional_items_schema, &item)
                                             : !schema->additional_items) {
            return false;
         }
      }
   }
   return true;
}

static bool
unique_ok(const js_value_t *value)
{
   bson_iter_t it, other;

   if (!children(value, &it)) {
      return true;
   }
   while (bson_iter_next(&it)) {
      other = it;
      while (bson_iter_next(&other)) {
         if (bson_iter_type(&it) == bson_iter_type(&other) ||
             (numeric_is_number(bson_iter_type(&it)) &&
              numeric_is_number(bson_iter_type(&other)))) {
            if (compare_values_equal(&it, &other)) {
               return false;
            }
         }
      }
   }
   return true;
}

static bool
dependencies_ok(const js_schema_t *schema, const js_value_t *value)
{
   for (size_t i = 0; i < schema->dependency_count; i++) {
      const js_dependency_t *d = &schema->dependencies[i];
      bson_iter_t names;
      if (!has_field(value, d->name)) {
         continue;
      }
      if (d->schema) {
         if (!schema_match(d->schema, value)) {
            return false;
         }
         continue;
      }
      bson_iter_init(&names, &d->required);
      while (bson_iter_next(&names)) {
         if (!has_field(value, bson_iter_utf8(&names, NULL))) {
            return false;
         }
      }
   }
   return true;
}

static bool
keyword_ok(const js_schema_t *schema, js_kw_t kw, const js_value_t *value)
{
   bool object = value->type == BSON_TYPE_DOCUMENT;
   bool array = value->type == BSON_TYPE_ARRAY;
   bool string = value->type == BSON_TYPE_UTF8;

   switch (kw) {
   case KW_TYPE:
   case KW_BSON_TYPE:
      return (schema->type_mask & type_bit(value->type)) != 0;
   case KW_ENUM: {
      bson_iter_t list, candidate;
      if (!bson_iter_init_find(&list, schema->source, "enum") ||
          !bson_iter_recurse(&list, &candidate)) {
         return false;
      }
      while (bson_iter_next(&candidate)) {
         if ((bson_iter_type(&candidate) == value->type ||
              (numeric_is_number(value->type) && numeric_is_number(bson_iter_type(&candidate)))) &&
             value_equals(value, &candidate)) {
            return true;
         }
      }
      return false;
   }
   case KW_MINIMUM:
   case KW_MAXIMUM:
      return bound_ok(schema, value, kw == KW_MINIMUM);
   case KW_MULTIPLE_OF: {
      double v, q;
      if (!value->iter || !numeric_is_number(value->type)) {
         return true;
      }
      v = numeric_to_double(value->iter);
      if (!isfinite(v)) {
         return false;
      }
      q = v / schema->multiple_of;
      return isfinite(q) && q == floor(q);
   }
   case KW_MIN_LENGTH:
      return !string || utf8_length(value->iter) >= schema->min_length;
   case KW_MAX_LENGTH:
      return !string || utf8_length(value->iter) <= schema->max_length;
   case KW_PATTERN:
      return !string || filter_match_regex(&schema->pattern, value->iter);
   case KW_REQUIRED: {
      bson_iter_t names;
      if (!object) {
         return true;
      }
      bson_iter_init(&names, &schema->required);
      while (bson_iter_next(&names)) {
         if (!has_field(value, bson_iter_utf8(&names, NULL))) {
            return false;
         }
      }
      return true;
   }
   case KW_MIN_PROPERTIES:
      return !object || count_children(value) >= schema->min_properties;
   case KW_MAX_PROPERTIES:
      return !object || count_children(value) <= schema->max_properties;
   case KW_PROPERTIES:
   case KW_PATTERN_PROPERTIES:
   case KW_ADDITIONAL_PROPERTIES:
      return !object || properties_ok(schema, value, kw);
   case KW_DEPENDENCIES:
      return !object || dependencies_ok(schema, value);
   case KW_ITEMS:
   case KW_ADDITIONAL_ITEMS:
      return !array || items_ok(schema, value, kw);
   case KW_MIN_ITEMS:
      return !array || count_children(value) >= schema->min_items;
   case KW_MAX_ITEMS:
      return !array || count_children(value) <= schema->max_items;
   case KW_UNIQUE_ITEMS:
      return !array || !schema->unique_items || unique_ok(value);
   case KW_ALL_OF: {
      size_t n;
      list_count_matches(&schema->all_of, value, SIZE_MAX, &n);
      return n == schema->all_of.count;
   }
   case KW_ANY_OF: {
      size_t n;
      list_count_matches(&schema->any_of, value, 1, &n);
      return n >= 1;
   }
   case KW_ONE_OF: {
      size_t n;
      list_count_matches(&schema->one_of, value, 2, &n);
      return n == 1;
   }
   case KW_NOT:
      return !schema_match(schema->not_schema, value);
   case KW_COUNT:
      break;
   }
   return true;
}

/* ---------------------------------------------------------------------------------------------
 * Explaining: one rule document per failing keyword, {operatorName, specifiedAs, reason, ...},
 * with the failing properties of `properties` explained recursively, close to what mongod 5+
 * reports.
 * ------------------------------------------------------------------------------------------- */

static void
append_specified_as(const js_schema_t *schema, js_kw_t kw, bson_t *rule)
{
   bson_iter_t it;
   bson_t child;

   BSON_APPEND_DOCUMENT_BEGIN(rule, "specifiedAs", &child);
   if (bson_iter_init_find(&it, schema->source, kw_names[kw])) {
      bson_append_iter(&child, kw_names[kw], -1, &it);
   }
   bson_append_document_end(rule, &child);
}

static void
append_considered(const js_value_t *value, bson_t *rule)
{
   if (value->iter) {
      bson_append_iter(rule, "consideredValue", -1, value->iter);
   }
}

static void
explain_keyword(const js_schema_t *schema, js_kw_t kw, const js_value_t *value, bson_t *rule)
{
   bson_t list;
   bson_iter_t it;
   uint32_t n = 0;
   char key[16];
   const char *key_ptr;

   BSON_APPEND_UTF8(rule, "operatorName", kw_names[kw]);
   switch (kw) {
   case KW_REQUIRED:
      append_specified_as(schema, kw, rule);
      BSON_APPEND_ARRAY_BEGIN(rule, "missingProperties", &list);
      bson_iter_init(&it, &schema->required);
      while (bson_iter_next(&it)) {
         const char *name = bson_iter_utf8(&it, NULL);
         if (!has_field(value, name)) {
            bson_uint32_to_string(n++, &key_ptr, key, sizeof key);
            BSON_APPEND_UTF8(&list, key_ptr, name);
         }
      }
      bson_append_array_end(rule, &list);
      return;
   case KW_PROPERTIES:
      BSON_APPEND_ARRAY_BEGIN(rule, "propertiesNotSatisfied", &list);
      if (children(value, &it)) {
         while (bson_iter_next(&it)) {
            for (size_t i = 0; i < schema->property_count; i++) {
               js_value_t field;
               bson_t entry, details;
               if (strcmp(schema->properties[i].name, bson_iter_key(&it)) != 0) {
                  continue;
               }
               value_from_iter(&it, &field);
               if (schema_match(schema->properties[i].schema, &field)) {
                  continue;
               }
               bson_uint32_to_string(n++, &key_ptr, key, sizeof key);
               bson_append_document_begin(&list, key_ptr, -1, &entry);
               BSON_APPEND_UTF8(&entry, "propertyName", schema->properties[i].name);
               BSON_APPEND_ARRAY_BEGIN(&entry, "details", &details);
               explain_schema(schema->properties[i].schema, &field, &details);
               bson_append_array_end(&entry, &details);
               bson_append_document_end(&list, &entry);
            }
         }
      }
      bson_append_array_end(rule, &list);
      return;
   case KW_ADDITIONAL_PROPERTIES:
      append_specified_as(schema, kw, rule);
      BSON_APPEND_ARRAY_BEGIN(rule, "additionalProperties", &list);
      if (children(value, &it)) {
         while (bson_iter_next(&it)) {
            const char *name = bson_iter_key(&it);
            bool matched = is_declared(schema, name);
            for (size_t i = 0; i < schema->pattern_property_count && !matched; i++) {
               const js_pattern_prop_t *p = &schema->pattern_properties[i];
               matched = pcre2_match(p->regex.code, (PCRE2_SPTR) name, strlen(name), 0, 0,
                                     p->regex.match_data, NULL) >= 0;
            }
            if (!matched) {
               bson_uint32_to_string(n++, &key_ptr, key, sizeof key);
               BSON_APPEND_UTF8(&list, key_ptr, name);
            }
         }
      }
      bson_append_array_end(rule, &list);
      return;
   case KW_TYPE:
   case KW_BSON_TYPE:
      append_specified_as(schema, kw, rule);
      BSON_APPEND_UTF8(rule, "reason", "type did not match");
      append_considered(value, rule);
      {
         const char *name = "object";
         for (size_t i = 0; i < sizeof bson_type_names / sizeof bson_type_names[0]; i++) {
            if (bson_type_names[i].mask == type_bit(value->type)) {
               name = bson_type_names[i].name;
               break;
            }
         }
         BSON_APPEND_UTF8(rule, "consideredType", name);
      }
      return;
   default:
      append_specified_as(schema, kw, rule);
      BSON_APPEND_UTF8(rule, "reason",
                       kw == KW_NOT    ? "child expression matched"
                       : kw == KW_ENUM ? "value was not found in enum"
                                       : "specified constraint was not satisfied");
      append_considered(value, rule);
      return;
   }
}

static void
explain_schema(const js_schema_t *schema, const js_value_t *value, bson_t *rules)
{
   uint32_t n = 0;
   char key[16];
   const char *key_ptr;

   for (int kw = 0; kw < KW_COUNT; kw++) {
      bson_t rule;
      if (!schema->present[kw] || keyword_ok(schema, (js_kw_t) kw, value)) {
         continue;
      }
      bson_uint32_to_string(n++, &key_ptr, key, sizeof key);
      bson_append_document_begin(rules, key_ptr, -1, &rule);
      explain_keyword(schema, (js_kw_t) kw, value, &rule);
      bson_append_document_end(rules, &rule);
   }
}
