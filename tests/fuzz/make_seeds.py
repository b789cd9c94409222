#!/usr/bin/env python3
"""Writes seed inputs for fuzz_filter: a filter (or projection/sort/update spec) followed by a
document, both BSON, so the fuzzer starts from inputs that reach the query engine."""
import os
import sys

import bson

SPECS = [
    {}, {"a": 1}, {"a": {"$gt": 1, "$lt": 5}}, {"a.b": {"$in": [1, "x", None]}},
    {"$or": [{"a": 1}, {"b": {"$exists": False}}]}, {"a": {"$elemMatch": {"b": {"$gte": 2}}}},
    {"a": {"$all": [1, 2]}, "b": {"$size": 2}}, {"s": {"$regex": "^ab", "$options": "i"}},
    {"n": {"$mod": [3, 1]}}, {"n": {"$bitsAllSet": 5}}, {"$expr": {"$gt": ["$a", "$b"]}},
    {"a": {"$not": {"$type": "string"}}}, {"$nor": [{"a": 1}]}, {"a": 1, "_id": 0},
    {"a.b": 1}, {"a": {"$slice": [1, 2]}}, {"a": -1, "b": 1}, {"$set": {"a.b": 1}},
    {"$inc": {"n": 2}, "$unset": {"s": ""}}, {"$push": {"a": {"$each": [3, 1], "$sort": 1}}},
    {"$pull": {"a": {"b": 2}}}, {"$rename": {"s": "t"}}, {"$min": {"n": 0}, "$max": {"m": 9}},
]
DOCS = [
    {"_id": 1, "a": 1, "b": 2, "s": "abc", "n": 7},
    {"_id": 2, "a": [1, 2, {"b": 3}], "b": [1, 2], "s": "ABx", "n": 5.5},
    {"_id": 3, "a": {"b": [1, {"c": 2}]}, "m": None, "n": bson.int64.Int64(1 << 40)},
]

def main(out):
    os.makedirs(out, exist_ok=True)
    for i, spec in enumerate(SPECS):
        for j, doc in enumerate(DOCS):
            with open(os.path.join(out, f"seed_{i:02d}_{j}"), "wb") as f:
                f.write(bson.encode(spec) + bson.encode(doc))

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "seeds")
