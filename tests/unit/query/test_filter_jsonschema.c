/*
 * test_filter_jsonschema.c: the $jsonSchema query operator (core/query/filter_jsonschema.c),
 * keyword by keyword from the MongoDB manual's $jsonSchema page, its refusals, and the
 * schemaRulesNotSatisfied explanation.
 */
#include "../bson/test_util.h"

#include "query/filter.h"

typedef struct schema_case {
   const char *schema; /* JSON with ' for " */
   const char *doc;
   bool expected;
} schema_case_t;

static fe_filter_t *
compile_schema(const char *schema, fe_error_t *error)
{
   char *json = bson_strdup_printf("{'$jsonSchema': %s}", schema);
   bson_t *spec = tu_json_q(json);
   fe_filter_t *filter = filter_compile(spec, error);
   bson_destroy(spec);
   bson_free(json);
   return filter;
}

static void
run_cases(const schema_case_t *cases, size_t n)
{
   int failures = 0;
   for (size_t i = 0; i < n; i++) {
      fe_error_t error = {0};
      fe_filter_t *filter = compile_schema(cases[i].schema, &error);
      bson_t *doc = tu_json_q(cases[i].doc);
      if (!filter) {
         print_error("case %zu: schema %s failed to compile: %s\n", i, cases[i].schema,
                     error.message);
         failures++;
      } else if (filter_match(filter, doc, NULL) != cases[i].expected) {
         print_error("case %zu: schema %s on %s: expected %s\n", i, cases[i].schema, cases[i].doc,
                     cases[i].expected ? "match" : "no match");
         failures++;
      }
      filter_destroy(filter);
      bson_destroy(doc);
   }
   assert_int_equal(failures, 0);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])
#define Y true
#define N false

static void
test_types(void **state)
{
   (void) state;
   static const schema_case_t cases[] = {
      {"{'bsonType': 'object'}", "{'a': 1}", Y},
      {"{'type': 'object'}", "{'a': 1}", Y},
      {"{'properties': {'a': {'bsonType': 'int'}}}", "{'a': 1}", Y},
      {"{'properties': {'a': {'bsonType': 'int'}}}", "{'a': 1.5}", N},
      {"{'properties': {'a': {'bsonType': 'int'}}}", "{'b': 1.5}", Y},
      {"{'properties': {'a': {'bsonType': 'long'}}}", "{'a': {'$numberLong': '1'}}", Y},
      {"{'properties': {'a': {'bsonType': 'number'}}}", "{'a': {'$numberDecimal': '1'}}", Y},
      {"{'properties': {'a': {'bsonType': 'number'}}}", "{'a': '1'}", N},
      {"{'properties': {'a': {'bsonType': ['string', 'null']}}}", "{'a': null}", Y},
      {"{'properties': {'a': {'bsonType': ['string', 'null']}}}", "{'a': 3}", N},
      {"{'properties': {'a': {'bsonType': 'objectId'}}}",
       "{'a': {'$oid': '0123456789abcdef01234567'}}", Y},
      {"{'properties': {'a': {'bsonType': 'date'}}}", "{'a': {'$date': '2020-01-01T00:00:00Z'}}",
       Y},
      {"{'properties': {'a': {'type': 'number'}}}", "{'a': 2.5}", Y},
      {"{'properties': {'a': {'type': 'boolean'}}}", "{'a': true}", Y},
      {"{'properties': {'a': {'type': 'boolean'}}}", "{'a': 1}", N},
      {"{'properties': {'a': {'type': ['array', 'string']}}}", "{'a': [1]}", Y},
      /* Arrays are not traversed: the type is the array's. */
      {"{'properties': {'a': {'type': 'string'}}}", "{'a': ['x']}", N},
      {"{'properties': {'a': {'type': 'object'}}}", "{'a': {'b': 1}}", Y},
   };
   RUN(cases);
}

static void
test_objects(void **state)
{
   (void) state;
   static const schema_case_t cases[] = {
      {"{'required': ['a', 'b']}", "{'a': 1, 'b': 2}", Y},
      {"{'required': ['a', 'b']}", "{'a': 1}", N},
      {"{'required': ['a']}", "{'a': null}", Y},
      {"{'properties': {'o': {'required': ['x']}}}", "{'o': {'x': 1}}", Y},
      {"{'properties': {'o': {'required': ['x']}}}", "{'o': {'y': 1}}", N},
      /* required only applies to objects. */
      {"{'properties': {'o': {'required': ['x']}}}", "{'o': 5}", Y},
      {"{'minProperties': 2}", "{'a': 1}", N},
      {"{'minProperties': 2}", "{'a': 1, 'b': 1}", Y},
      {"{'maxProperties': 1}", "{'a': 1, 'b': 1}", N},
      {"{'properties': {'a': {}}, 'additionalProperties': false}", "{'a': 1}", Y},
      {"{'properties': {'a': {}}, 'additionalProperties': false}", "{'a': 1, 'b': 2}", N},
      {"{'properties': {'a': {}}, 'additionalProperties': true}", "{'a': 1, 'b': 2}", Y},
      {"{'properties': {'a': {}}, 'additionalProperties': {'type': 'string'}}",
       "{'a': 1, 'b': 'x'}", Y},
      {"{'properties': {'a': {}}, 'additionalProperties': {'type': 'string'}}", "{'a': 1, 'b': 2}",
       N},
      {"{'patternProperties': {'^s_': {'type': 'string'}}}", "{'s_x': 'v', 'n': 1}", Y},
      {"{'patternProperties': {'^s_': {'type': 'string'}}}", "{'s_x': 1}", N},
      {"{'patternProperties': {'^s_': {}}, 'additionalProperties': false}", "{'s_x': 1}", Y},
      {"{'patternProperties': {'^s_': {}}, 'additionalProperties': false}", "{'t': 1}", N},
      {"{'dependencies': {'a': ['b']}}", "{'a': 1, 'b': 1}", Y},
      {"{'dependencies': {'a': ['b']}}", "{'a': 1}", N},
      {"{'dependencies': {'a': ['b']}}", "{'c': 1}", Y},
      {"{'dependencies': {'a': {'required': ['c']}}}", "{'a': 1, 'c': 1}", Y},
      {"{'dependencies': {'a': {'required': ['c']}}}", "{'a': 1}", N},
      {"{'title': 't', 'description': 'd', 'required': ['a']}", "{'a': 1}", Y},
   };
   RUN(cases);
}

static void
test_scalars(void **state)
{
   (void) state;
   static const schema_case_t cases[] = {
      {"{'properties': {'n': {'minimum': 5}}}", "{'n': 5}", Y},
      {"{'properties': {'n': {'minimum': 5}}}", "{'n': 4.9}", N},
      {"{'properties': {'n': {'minimum': 5, 'exclusiveMinimum': true}}}", "{'n': 5}", N},
      {"{'properties': {'n': {'maximum': 5}}}", "{'n': {'$numberLong': '5'}}", Y},
      {"{'properties': {'n': {'maximum': 5, 'exclusiveMaximum': true}}}", "{'n': 5}", N},
      {"{'properties': {'n': {'maximum': 5}}}", "{'n': 6}", N},
      /* minimum ignores non-numbers. */
      {"{'properties': {'n': {'minimum': 5}}}", "{'n': 'abc'}", Y},
      {"{'properties': {'n': {'multipleOf': 3}}}", "{'n': 9}", Y},
      {"{'properties': {'n': {'multipleOf': 3}}}", "{'n': 10}", N},
      {"{'properties': {'n': {'multipleOf': 0.5}}}", "{'n': 2.5}", Y},
      {"{'properties': {'s': {'minLength': 2}}}", "{'s': 'ab'}", Y},
      {"{'properties': {'s': {'minLength': 3}}}", "{'s': 'ab'}", N},
      {"{'properties': {'s': {'maxLength': 2}}}", "{'s': '\\u00e9\\u00e9'}", Y},
      {"{'properties': {'s': {'maxLength': 1}}}", "{'s': 'ab'}", N},
      {"{'properties': {'s': {'pattern': '^a.c$'}}}", "{'s': 'abc'}", Y},
      {"{'properties': {'s': {'pattern': '^a.c$'}}}", "{'s': 'abd'}", N},
      {"{'properties': {'s': {'pattern': '^a'}}}", "{'s': 5}", Y},
      {"{'properties': {'e': {'enum': [1, 'x', null]}}}", "{'e': 1.0}", Y},
      {"{'properties': {'e': {'enum': [1, 'x', null]}}}", "{'e': 'x'}", Y},
      {"{'properties': {'e': {'enum': [1, 'x', null]}}}", "{'e': 'y'}", N},
      {"{'properties': {'e': {'enum': [[1, 2]]}}}", "{'e': [1, 2]}", Y},
      {"{'properties': {'e': {'enum': [[1, 2]]}}}", "{'e': 1}", N},
      {"{'enum': [{'a': 1}]}", "{'a': 1}", Y},
      {"{'enum': [{'a': 1}]}", "{'a': 2}", N},
   };
   RUN(cases);
}

static void
test_arrays(void **state)
{
   (void) state;
   static const schema_case_t cases[] = {
      {"{'properties': {'a': {'items': {'type': 'number'}}}}", "{'a': [1, 2.5]}", Y},
      {"{'properties': {'a': {'items': {'type': 'number'}}}}", "{'a': [1, 'x']}", N},
      {"{'properties': {'a': {'items': [{'type': 'number'}, {'type': 'string'}]}}}",
       "{'a': [1, 'x', true]}", Y},
      {"{'properties': {'a': {'items': [{'type': 'number'}, {'type': 'string'}]}}}", "{'a': ['x']}",
       N},
      {"{'properties': {'a': {'items': [{}], 'additionalItems': false}}}", "{'a': [1]}", Y},
      {"{'properties': {'a': {'items': [{}], 'additionalItems': false}}}", "{'a': [1, 2]}", N},
      {"{'properties': {'a': {'items': [{}], 'additionalItems': {'type': 'string'}}}}",
       "{'a': [1, 'x']}", Y},
      {"{'properties': {'a': {'items': [{}], 'additionalItems': {'type': 'string'}}}}",
       "{'a': [1, 2]}", N},
      {"{'properties': {'a': {'additionalItems': false}}}", "{'a': [1, 2]}", Y},
      {"{'properties': {'a': {'minItems': 2}}}", "{'a': [1]}", N},
      {"{'properties': {'a': {'maxItems': 2}}}", "{'a': [1, 2]}", Y},
      {"{'properties': {'a': {'maxItems': 1}}}", "{'a': [1, 2]}", N},
      {"{'properties': {'a': {'uniqueItems': true}}}", "{'a': [1, 2, 3]}", Y},
      {"{'properties': {'a': {'uniqueItems': true}}}", "{'a': [1, 2, 1.0]}", N},
      {"{'properties': {'a': {'uniqueItems': true}}}", "{'a': [{'x': 1}, {'x': 1}]}", N},
      {"{'properties': {'a': {'uniqueItems': false}}}", "{'a': [1, 1]}", Y},
   };
   RUN(cases);
}

static void
test_logic(void **state)
{
   (void) state;
   static const schema_case_t cases[] = {
      {"{'properties': {'n': {'allOf': [{'minimum': 1}, {'maximum': 3}]}}}", "{'n': 2}", Y},
      {"{'properties': {'n': {'allOf': [{'minimum': 1}, {'maximum': 3}]}}}", "{'n': 4}", N},
      {"{'properties': {'n': {'anyOf': [{'type': 'string'}, {'minimum': 3}]}}}", "{'n': 'x'}", Y},
      {"{'properties': {'n': {'anyOf': [{'type': 'string'}, {'minimum': 3}]}}}", "{'n': 1}", N},
      {"{'properties': {'n': {'oneOf': [{'minimum': 1}, {'maximum': 3}]}}}", "{'n': 5}", Y},
      {"{'properties': {'n': {'oneOf': [{'minimum': 1}, {'maximum': 3}]}}}", "{'n': 2}", N},
      {"{'properties': {'n': {'not': {'type': 'string'}}}}", "{'n': 2}", Y},
      {"{'properties': {'n': {'not': {'type': 'string'}}}}", "{'n': 'x'}", N},
      {"{'not': {'required': ['a']}}", "{'b': 1}", Y},
   };
   RUN(cases);
}

static void
test_combined(void **state)
{
   (void) state;
   static const struct {
      const char *filter;
      const char *doc;
      bool expected;
   } cases[] = {
      {"{'a': 1, '$jsonSchema': {'required': ['b']}}", "{'a': 1, 'b': 1}", Y},
      {"{'a': 1, '$jsonSchema': {'required': ['b']}}", "{'a': 2, 'b': 1}", N},
      {"{'$or': [{'$jsonSchema': {'required': ['b']}}, {'c': 1}]}", "{'c': 1}", Y},
      {"{'$nor': [{'$jsonSchema': {'required': ['b']}}]}", "{'b': 1}", N},
   };
   int failures = 0;
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      fe_error_t error = {0};
      bson_t *spec = tu_json_q(cases[i].filter);
      bson_t *doc = tu_json_q(cases[i].doc);
      fe_filter_t *filter = filter_compile(spec, &error);
      if (!filter || filter_match(filter, doc, NULL) != cases[i].expected) {
         print_error("case %zu: %s on %s\n", i, cases[i].filter, cases[i].doc);
         failures++;
      }
      filter_destroy(filter);
      bson_destroy(spec);
      bson_destroy(doc);
   }
   assert_int_equal(failures, 0);
}

static void
test_errors(void **state)
{
   (void) state;
   static const struct {
      const char *schema;
      int32_t code;
   } cases[] = {
      {"{'$ref': '#/x'}", 9},
      {"{'format': 'email'}", 9},
      {"{'default': 1}", 9},
      {"{'definitions': {}}", 9},
      {"{'id': 'x'}", 9},
      {"{'$schema': 'x'}", 9},
      {"{'bogus': 1}", 9},
      {"{'type': 'object', 'bsonType': 'object'}", 9},
      {"{'type': 'integer'}", 2},
      {"{'bsonType': 'nosuch'}", 2},
      {"{'bsonType': 1}", 14},
      {"{'required': 'a'}", 14},
      {"{'required': []}", 9},
      {"{'required': ['a', 'a']}", 9},
      {"{'properties': 1}", 14},
      {"{'properties': {'a': 1}}", 14},
      {"{'minimum': 'x'}", 14},
      {"{'exclusiveMinimum': true}", 9},
      {"{'multipleOf': 0}", 9},
      {"{'minLength': -1}", 9},
      {"{'minLength': 1.5}", 9},
      {"{'allOf': []}", 9},
      {"{'not': []}", 14},
      {"{'enum': []}", 9},
      {"{'additionalProperties': 1}", 14},
      {"{'pattern': '('}", 51091},
      {"{'title': 1}", 14},
   };
   int failures = 0;
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      fe_error_t error = {0};
      fe_filter_t *filter = compile_schema(cases[i].schema, &error);
      if (filter || error.code != cases[i].code) {
         print_error("case %zu: %s: expected code %d, got %d (%s)\n", i, cases[i].schema,
                     cases[i].code, error.code, error.message);
         failures++;
      }
      filter_destroy(filter);
   }
   /* The operand itself must be a document. */
   {
      fe_error_t error = {0};
      bson_t *spec = tu_json_q("{'$jsonSchema': 1}");
      assert_null(filter_compile(spec, &error));
      assert_int_equal(error.code, 14);
      bson_destroy(spec);
   }
   assert_int_equal(failures, 0);
}

static void
test_explain(void **state)
{
   (void) state;
   fe_error_t error = {0};
   fe_filter_t *filter =
      compile_schema("{'required': ['name', 'age'], 'properties': {'age': {'bsonType': 'int', "
                     "'minimum': 0}}}",
                     &error);
   bson_t *doc = tu_json_q("{'_id': 1, 'age': -1}");
   bson_t details = BSON_INITIALIZER;
   bson_t *plain_spec = tu_json_q("{'a': 1}");
   fe_filter_t *plain = filter_compile(plain_spec, &error);

   assert_non_null(filter);
   assert_true(filter_jsonschema_explain(filter, doc, &details));
   tu_assert_doc_eq(
      &details,
      "{\"operatorName\": \"$jsonSchema\", \"schemaRulesNotSatisfied\": ["
      "{\"operatorName\": \"required\", \"specifiedAs\": {\"required\": [\"name\", \"age\"]}, "
      "\"missingProperties\": [\"name\"]}, "
      "{\"operatorName\": \"properties\", \"propertiesNotSatisfied\": [{\"propertyName\": "
      "\"age\", \"details\": [{\"operatorName\": \"minimum\", \"specifiedAs\": {\"minimum\": 0}, "
      "\"reason\": \"specified constraint was not satisfied\", \"consideredValue\": -1}]}]}]}");
   bson_reinit(&details);
   assert_non_null(plain);
   assert_false(filter_jsonschema_explain(plain, doc, &details));
   assert_true(bson_empty(&details));
   bson_destroy(&details);
   bson_destroy(doc);
   bson_destroy(plain_spec);
   filter_destroy(plain);
   filter_destroy(filter);
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_types),   cmocka_unit_test(test_objects),
      cmocka_unit_test(test_scalars), cmocka_unit_test(test_arrays),
      cmocka_unit_test(test_logic),   cmocka_unit_test(test_combined),
      cmocka_unit_test(test_errors),  cmocka_unit_test(test_explain),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
