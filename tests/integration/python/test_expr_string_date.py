#!/usr/bin/env python3
"""String and date aggregation expressions (core/query/expr_string.c, expr_date.c) through
pymongo against a real ferretd: in $project, in $group keys and in find's $expr.
"""

import datetime
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

pymongo = harness.import_pymongo()
from pymongo.errors import OperationFailure  # noqa: E402

DB = 'it_expr_string_date'
UTC = datetime.timezone.utc


def setUpModule():
    harness.start_module_server()


def tearDownModule():
    harness.stop_module_server()


class ExprStringDate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = harness.server.client()
        cls.coll = cls.client[DB]['sales']
        cls.coll.drop()
        cls.coll.insert_many([
            {'_id': 1, 'item': '  abc ', 'date': datetime.datetime(2014, 1, 1, 8, 15, 39, 736000)},
            {'_id': 2, 'item': 'jkl', 'date': datetime.datetime(2021, 3, 14, 7, 0, 0)},
            {'_id': 3, 'item': 'xyz1', 'date': datetime.datetime(1969, 12, 31, 23, 59, 59)},
        ])

    @classmethod
    def tearDownClass(cls):
        cls.client.drop_database(DB)
        cls.client.close()

    def test_project(self):
        rows = list(self.coll.aggregate([
            {'$sort': {'_id': 1}},
            {'$project': {
                'item': {'$trim': {'input': '$item'}},
                'digits': {'$regexFind': {'input': '$item', 'regex': '[0-9]+'}},
                'day': {'$dateToString': {'format': '%Y-%m-%d %H:%M %z', 'date': '$date',
                                          'timezone': 'America/New_York'}},
                'iso': {'$isoWeek': '$date'},
                'next': {'$dateAdd': {'startDate': '$date', 'unit': 'month', 'amount': 1}},
            }},
        ]))
        self.assertEqual([r['item'] for r in rows], ['abc', 'jkl', 'xyz1'])
        self.assertEqual(rows[2]['digits'], {'match': '1', 'idx': 3, 'captures': []})
        self.assertIsNone(rows[0]['digits'])
        self.assertEqual([r['day'] for r in rows],
                         ['2014-01-01 03:15 -0500', '2021-03-14 03:00 -0400',
                          '1969-12-31 18:59 -0500'])
        self.assertEqual([r['iso'] for r in rows], [1, 10, 1])
        self.assertEqual(rows[0]['next'], datetime.datetime(2014, 2, 1, 8, 15, 39, 736000))

    def test_group_by_year(self):
        rows = list(self.coll.aggregate([
            {'$group': {'_id': {'$year': '$date'}, 'n': {'$sum': 1}}},
            {'$sort': {'_id': 1}},
        ]))
        self.assertEqual(rows, [{'_id': 1969, 'n': 1}, {'_id': 2014, 'n': 1},
                                {'_id': 2021, 'n': 1}])

    def test_expr_in_find(self):
        found = self.coll.find({'$expr': {'$and': [
            {'$regexMatch': {'input': '$item', 'regex': '^J', 'options': 'i'}},
            {'$eq': [{'$dayOfWeek': '$date'}, 1]},
        ]}})
        self.assertEqual([d['_id'] for d in found], [2])
        found = self.coll.find({'$expr': {'$gt': [
            {'$dateDiff': {'startDate': '$date', 'endDate': datetime.datetime(2022, 1, 1),
                           'unit': 'year'}}, 5]}})
        self.assertEqual(sorted(d['_id'] for d in found), [1, 3])

    def test_errors(self):
        with self.assertRaises(OperationFailure) as ctx:
            list(self.coll.aggregate([{'$project': {
                'y': {'$year': {'date': '$date', 'timezone': 'Nowhere/Nothing'}}}}]))
        self.assertEqual(ctx.exception.code, 40485)
        with self.assertRaises(OperationFailure) as ctx:
            list(self.coll.aggregate([{'$project': {'y': {'$strLenBytes': 5}}}]))
        self.assertEqual(ctx.exception.code, 34473)
        rows = list(self.coll.aggregate([
            {'$match': {'_id': 1}},
            {'$project': {'d': {'$dateFromString': {'dateString': 'not a date',
                                                    'onError': 'bad'}}}},
        ]))
        self.assertEqual(rows[0]['d'], 'bad')


if __name__ == '__main__':
    unittest.main(verbosity=2)
