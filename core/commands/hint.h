/*
 * hint.h: the check mongod's planner makes of a `hint`: it must name an existing, visible
 * index of the collection, by name or by key pattern.
 */
#ifndef FE_HINT_H
#define FE_HINT_H

#include <stdbool.h>

#include <bson/bson.h>

#include "backend/generic.h"
#include "error/error.h"

/* Checks the "hint" field of doc (a command, or one write statement), if there is one, against
 * the indexes of store->ns. A hint is an index name or a key pattern equal to one index's
 * ({a: 1} and {a: 1.0} are equal); "_id_" and {_id: 1} always exist, {$natural: ...} and {}
 * are always accepted; a hidden index is not there for a hint. A missing collection accepts
 * any hint (mongod plans nothing for it) unless upsert: an upsert creates it, with only the
 * _id index, before planning. Errors: 2 BadValue "... hint provided does not correspond to an
 * existing index", 2 for a key pattern that matches two indexes, 9 FailedToParse for a hint
 * neither string nor document. Queries no catalog when there is no hint or it names _id. */
bool hint_check(const fe_store_t *store, const bson_t *doc, bool upsert, fe_error_t *error);

#endif /* FE_HINT_H */
