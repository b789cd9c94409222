/*
 * filter_int.h: the compiled filter tree shared by filter.c (compile) and filter_match.c (match).
 * Private to the filter module.
 */
#ifndef FE_FILTER_INT_H
#define FE_FILTER_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>

#include "bson/path.h"
#include "query/expr.h"
#include "query/filter.h"
#include "query/text.h"

typedef enum filter_kind {
   FILTER_AND,   /* all children; an empty AND is true */
   FILTER_OR,    /* any child */
   FILTER_NOR,   /* no child */
   FILTER_NOT,   /* children[0] does not match */
   FILTER_FALSE, /* never matches ($all: []) */
   FILTER_LEAF,  /* an operator on the values a path reaches */
   FILTER_EXPR,  /* $expr: an aggregation expression on the whole document */
   FILTER_JSON,  /* $jsonSchema (filter_jsonschema.c) */
   FILTER_TEXT,  /* $text: the text query on the whole document (filter_text.c) */
} filter_kind_t;

typedef enum filter_op {
   OP_EQ,
   OP_LT,
   OP_LTE,
   OP_GT,
   OP_GTE,
   OP_IN,
   OP_EXISTS,
   OP_TYPE,
   OP_REGEX,
   OP_MOD,
   OP_SIZE,
   OP_ELEM_MATCH_OBJECT, /* child[0] against each document or array element, as a document */
   OP_ELEM_MATCH_VALUE,  /* child[0] against each element, as a value */
   OP_BITS_ALL_SET,
   OP_BITS_ANY_SET,
   OP_BITS_ALL_CLEAR,
   OP_BITS_ANY_CLEAR,
} filter_op_t;

/* A compiled regular expression: for $regex, regex literals and regexes inside $in. */
typedef struct filter_regex {
   pcre2_code *code;             /* owned */
   pcre2_match_data *match_data; /* owned; see filter.h on threads */
   const char *pattern;          /* borrowed from the node's operand */
   const char *options;          /* borrowed from the node's operand; sorted flags */
} filter_regex_t;

/* Compiles pattern with MongoDB's options (i m s x u) into *regex (caller storage; pattern
 * and options are borrowed and must outlive it). Fails with 51108 for an unknown option and
 * 51091 for a pattern PCRE2 rejects. Also used by the $regex* expressions (expr_string.c). */
bool filter_compile_regex(filter_regex_t *regex, const char *pattern, const char *options,
                          fe_error_t *error);

/* Type masks for $type: bit n for BSON type n (1..19), and these for minKey and maxKey. */
#define FILTER_TYPE_MINKEY (1u << 30)
#define FILTER_TYPE_MAXKEY (1u << 31)

typedef struct filter_node filter_node_t;
typedef struct filter_jsonschema filter_jsonschema_t;

struct filter_node {
   filter_kind_t kind;
   filter_node_t **children; /* owned, count entries */
   size_t count;

   /* FILTER_LEAF */
   filter_op_t op;
   fe_path_t path;          /* count == 0: the value itself (inside $elemMatch on values) */
   unsigned flags;          /* PATH_LEAF_ELEMENTS | PATH_LEAF_WHOLE as the operator traverses */
   bson_t *operand;         /* owned: {"": value} or, for $in, {"": [values]} */
   bson_iter_t value;       /* into operand: the value ($in: the array) */
   filter_regex_t *regexes; /* owned: OP_REGEX one; OP_IN one per regex in the list */
   size_t regex_count;
   bool in_has_null;                 /* OP_IN: the list holds null, so a missing field matches */
   uint32_t type_mask;               /* OP_TYPE */
   int64_t divisor, remainder, size; /* OP_MOD, OP_SIZE */
   uint32_t *bits;                   /* owned: OP_BITS_*: bit positions */
   size_t bit_count;

   /* FILTER_EXPR */
   fe_expr_t *expr;           /* owned */
   const fe_expr_var_t *vars; /* borrowed from the filter's let or its owner's bindings */

   /* FILTER_JSON */
   filter_jsonschema_t *schema; /* owned */
   /* FILTER_TEXT */
   fe_text_query_t *text; /* owned */

   /* Every node: the collation string comparisons use (borrowed from the bindings; NULL:
    * binary). $regex is never collated, as in MongoDB. */
   const fe_collator_t *collator;
};

struct fe_filter {
   filter_node_t *root;              /* owned */
   fe_expr_let_t *let;               /* owned; NULL without let */
   fe_expr_var_t *collation_binding; /* owned; carries the collator; NULL without one */
   fe_collator_t *owned_collator;    /* owned (filter_adopt_collator()), or NULL */
};

/* Evaluates a node in document context: doc iterates a document's children from the start;
 * root is the whole document ($expr's $$ROOT), NULL inside $elemMatch. positional (nullable)
 * receives the array index for `$`. */
bool filter_match_node(const filter_node_t *node, const bson_iter_t *doc, const bson_t *root,
                       int32_t *positional);

/* Compiles {$text: ...} (value) under parent; top is false inside $elemMatch (filter_text.c). */
bool filter_text_compile(filter_node_t *parent, const bson_iter_t *value, bool top,
                         fe_error_t *error);

/* True when a regex matches value (a string or symbol by pattern; a regex by equality). */
bool filter_match_regex(const filter_regex_t *regex, const bson_iter_t *value);

/* $jsonSchema (filter_jsonschema.c): compiles the operand (FailedToParse 9 for unsupported or
 * unknown keywords, TypeMismatch 14 for operands of the wrong type, BadValue 2 for unknown type
 * names); the result is owned by the caller and does not borrow value. Matching takes the
 * document's children, as filter_match_node() does. */
filter_jsonschema_t *filter_jsonschema_compile(const bson_iter_t *value, fe_error_t *error);
bool filter_jsonschema_match(const filter_jsonschema_t *schema, const bson_iter_t *doc);
void filter_jsonschema_destroy(filter_jsonschema_t *schema);

#endif /* FE_FILTER_INT_H */
