/*
 * idkey.h: the canonical byte key of an _id value, handed to backends (ferret_doc_t.id_key).
 *
 * Two values get byte-equal keys exactly when MongoDB considers them equal: 1, 1.0,
 * NumberLong(1) and NumberDecimal("1.0") share one key; -0.0 and 0 share one key; strings
 * compare by bytes. Embedded documents and arrays are keyed recursively.
 */
#ifndef FE_IDKEY_H
#define FE_IDKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

/* Encodes the value at iter. On success *key is owned by the caller (free with bson_free) and
 * *len is its length. Fails only on a type that cannot be an _id (array, regex, undefined). */
bool idkey_encode(const bson_iter_t *iter, uint8_t **key, size_t *len);

#endif /* FE_IDKEY_H */
