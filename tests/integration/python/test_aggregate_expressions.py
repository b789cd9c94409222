#!/usr/bin/env python3
"""The math, array, set and type expressions and the $group accumulators through pymongo
against a real ferretd: results, types (int/long/double/decimal) and error codes as a client
sees them.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

pymongo = harness.import_pymongo()
from bson import Decimal128, Int64  # noqa: E402
from pymongo.errors import OperationFailure  # noqa: E402

DB = 'it_agg_expr'


def setUpModule():
    harness.start_module_server()


def tearDownModule():
    harness.stop_module_server()


class Expressions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = harness.server.client()
        cls.coll = cls.client[DB]['scores']
        cls.coll.drop()
        cls.coll.insert_many([
            {'_id': 1, 'game': 'G1', 'player': 'A', 'score': 31, 'tags': ['b', 'a']},
            {'_id': 2, 'game': 'G1', 'player': 'B', 'score': 33, 'tags': ['a']},
            {'_id': 3, 'game': 'G1', 'player': 'C', 'score': 99, 'tags': []},
            {'_id': 4, 'game': 'G2', 'player': 'A', 'score': 10, 'tags': ['c']},
            {'_id': 5, 'game': 'G2', 'player': 'D', 'score': 80, 'tags': ['a', 'c']},
        ])

    @classmethod
    def tearDownClass(cls):
        cls.client.drop_database(DB)
        cls.client.close()

    def project(self, expr, _id=1):
        out = list(self.coll.aggregate([{'$match': {'_id': _id}}, {'$project': {'_id': 0, 'r': expr}}]))
        return out[0]['r']

    def test_math(self):
        self.assertEqual(self.project({'$round': [12.5, 0]}), 12.0)
        self.assertEqual(self.project({'$round': [Decimal128('1.298'), 1]}), Decimal128('1.3'))
        self.assertEqual(self.project({'$trunc': ['$score', -1]}), 30)
        r = self.project({'$round': [2147483647, -1]})
        self.assertIsInstance(r, Int64)
        self.assertEqual(r, 2147483650)
        self.assertEqual(self.project({'$pow': ['$score', 2]}), 961)
        self.assertEqual(self.project({'$sqrt': 16}), 4.0)
        self.assertEqual(self.project({'$log': [8, 2]}), 3.0)
        with self.assertRaises(OperationFailure) as ctx:
            self.project({'$sqrt': -1})
        self.assertEqual(ctx.exception.code, 28714)
        with self.assertRaises(OperationFailure) as ctx:
            self.project({'$ln': 0})
        self.assertEqual(ctx.exception.code, 28766)

    def test_arrays_and_sets(self):
        self.assertEqual(self.project({'$reduce': {'input': {'$range': [0, 5]}, 'initialValue': 0,
                                                   'in': {'$add': ['$$value', '$$this']}}}), 10)
        self.assertEqual(self.project({'$sortArray': {'input': '$tags', 'sortBy': 1}}), ['a', 'b'])
        self.assertEqual(self.project({'$setUnion': ['$tags', ['c', 'a']]}), ['a', 'b', 'c'])
        self.assertEqual(self.project({'$zip': {'inputs': ['$tags', [1, 2]]}}), [['b', 1], ['a', 2]])
        self.assertEqual(self.project({'$arrayToObject': [[['k', '$score']]]}), {'k': 31})
        self.assertEqual(self.project({'$slice': ['$tags', -1]}), ['a'])
        self.assertEqual(self.project({'$isNumber': '$score'}), True)
        with self.assertRaises(OperationFailure) as ctx:
            self.project({'$reverseArray': '$score'})
        self.assertEqual(ctx.exception.code, 34435)

    def test_group_accumulators(self):
        out = list(self.coll.aggregate([
            {'$group': {
                '_id': '$game',
                'top': {'$topN': {'n': 2, 'output': '$player', 'sortBy': {'score': -1}}},
                'bottom': {'$bottom': {'output': '$player', 'sortBy': {'score': -1}}},
                'maxN': {'$maxN': {'n': 2, 'input': '$score'}},
                'firstN': {'$firstN': {'n': 1, 'input': '$player'}},
                'sd': {'$stdDevPop': '$score'},
                'median': {'$median': {'input': '$score', 'method': 'approximate'}},
            }},
            {'$sort': {'_id': 1}},
        ]))
        self.assertEqual([d['_id'] for d in out], ['G1', 'G2'])
        self.assertEqual(out[0]['top'], ['C', 'B'])
        self.assertEqual(out[0]['bottom'], 'A')
        self.assertEqual(out[0]['maxN'], [99, 33])
        self.assertEqual(out[1]['firstN'], ['A'])
        self.assertAlmostEqual(out[1]['sd'], 35.0)
        self.assertEqual(out[0]['median'], 33.0)
        with self.assertRaises(OperationFailure) as ctx:
            list(self.coll.aggregate([{'$group': {'_id': None, 'x': {
                '$topN': {'n': 0, 'output': '$player', 'sortBy': {'score': 1}}}}}]))
        self.assertEqual(ctx.exception.code, 5787908)


if __name__ == '__main__':
    unittest.main()
