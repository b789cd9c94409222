#!/usr/bin/env python3
"""$setWindowFields, $densify and $fill through pymongo against a real ferretd, with the
manual's examples, and undefined variables refused when parsed (17276).

One server per run of this file; each test uses collections named after itself.
"""

import datetime
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

pymongo = harness.import_pymongo()
from pymongo.errors import OperationFailure, WriteError  # noqa: E402

DB = 'it_window'


def setUpModule():
    harness.start_module_server()


def tearDownModule():
    harness.stop_module_server()


def d(y, m, day):
    return datetime.datetime(y, m, day)


CAKE_SALES = [
    {'_id': 0, 'type': 'chocolate', 'orderDate': d(2020, 5, 18), 'state': 'CA', 'price': 13,
     'quantity': 120},
    {'_id': 1, 'type': 'chocolate', 'orderDate': d(2021, 3, 20), 'state': 'WA', 'price': 14,
     'quantity': 140},
    {'_id': 2, 'type': 'vanilla', 'orderDate': d(2021, 1, 11), 'state': 'CA', 'price': 12,
     'quantity': 145},
    {'_id': 3, 'type': 'vanilla', 'orderDate': d(2020, 2, 8), 'state': 'WA', 'price': 13,
     'quantity': 104},
    {'_id': 4, 'type': 'strawberry', 'orderDate': d(2019, 5, 18), 'state': 'CA', 'price': 41,
     'quantity': 162},
    {'_id': 5, 'type': 'strawberry', 'orderDate': d(2019, 1, 8), 'state': 'WA', 'price': 4,
     'quantity': 134},
]


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = harness.server.client()
        cls.db = cls.client[DB]

    def coll(self, docs=None):
        c = self.db[self._testMethodName]
        c.drop()
        if docs:
            c.insert_many(docs)
        return c

    def code(self, fn):
        with self.assertRaises((OperationFailure, WriteError)) as cm:
            fn()
        return cm.exception.code


class TestSetWindowFields(Base):
    def test_cumulative_sum_by_state(self):
        c = self.coll(CAKE_SALES)
        got = list(c.aggregate([{'$setWindowFields': {
            'partitionBy': '$state', 'sortBy': {'orderDate': 1},
            'output': {'cumulativeQuantityForState': {
                '$sum': '$quantity', 'window': {'documents': ['unbounded', 'current']}}}}}]))
        self.assertEqual([(x['_id'], x['cumulativeQuantityForState']) for x in got],
                         [(4, 162), (0, 282), (2, 427), (5, 134), (3, 238), (1, 378)])

    def test_moving_average_and_whole_partition(self):
        c = self.coll(CAKE_SALES)
        got = list(c.aggregate([{'$setWindowFields': {
            'partitionBy': {'$year': '$orderDate'}, 'sortBy': {'orderDate': 1},
            'output': {
                'avg': {'$avg': '$quantity', 'window': {'documents': ['unbounded', 'current']}},
                'total': {'$sum': '$quantity'},
                'n': {'$count': {}},
                'mx': {'$max': '$quantity', 'window': {'documents': [-1, 0]}},
                'types': {'$push': '$type', 'window': {'documents': [0, 1]}},
                'sd': {'$stdDevPop': '$quantity'}}}},
            {'$project': {'avg': 1, 'total': 1, 'n': 1, 'mx': 1, 'types': 1, 'sd': 1}}]))
        by = {x['_id']: x for x in got}
        self.assertEqual(by[5]['avg'], 134)
        self.assertEqual(by[4]['avg'], 148)
        self.assertEqual(by[4]['total'], 296)
        self.assertEqual(by[4]['n'], 2)
        self.assertEqual(by[4]['mx'], 162)
        self.assertEqual(by[5]['types'], ['strawberry', 'strawberry'])
        self.assertEqual(by[4]['types'], ['strawberry'])
        self.assertAlmostEqual(by[4]['sd'], 14.0)

    def test_range_window_numeric_and_dates(self):
        c = self.coll(CAKE_SALES)
        got = list(c.aggregate([{'$setWindowFields': {
            'partitionBy': '$state', 'sortBy': {'price': 1},
            'output': {'q': {'$sum': '$quantity', 'window': {'range': [-10, 10]}}}}}]))
        self.assertEqual({x['_id']: x['q'] for x in got},
                         {0: 265, 2: 265, 4: 162, 5: 378, 3: 378, 1: 378})
        got = list(c.aggregate([{'$setWindowFields': {
            'partitionBy': '$state', 'sortBy': {'orderDate': 1},
            'output': {'recent': {'$sum': '$quantity',
                                  'window': {'range': [-400, 0], 'unit': 'day'}}}}}]))
        self.assertEqual({x['_id']: x['recent'] for x in got if x['state'] == 'WA'},
                         {5: 134, 3: 238, 1: 140})
        self.assertEqual(self.code(lambda: list(c.aggregate([{'$setWindowFields': {
            'sortBy': {'orderDate': 1},
            'output': {'x': {'$sum': 1, 'window': {'range': [-1, 1]}}}}}]))), 5429513)

    def test_rank_dense_rank_document_number(self):
        c = self.coll([{'_id': i, 'v': v} for i, v in enumerate([10, 20, 20, 30])])
        got = list(c.aggregate([{'$setWindowFields': {
            'sortBy': {'v': -1},
            'output': {'r': {'$rank': {}}, 'dr': {'$denseRank': {}},
                       'dn': {'$documentNumber': {}}}}}]))
        self.assertEqual([(x['v'], x['r'], x['dr'], x['dn']) for x in got],
                         [(30, 1, 1, 1), (20, 2, 2, 2), (20, 2, 2, 3), (10, 4, 3, 4)])

    def test_shift_locf_linear_fill(self):
        c = self.coll([{'_id': 1, 't': 1, 'p': 10}, {'_id': 2, 't': 2, 'p': None},
                       {'_id': 3, 't': 3}, {'_id': 4, 't': 4, 'p': 40}])
        got = list(c.aggregate([{'$setWindowFields': {
            'sortBy': {'t': 1},
            'output': {'prev': {'$shift': {'output': '$p', 'by': -1, 'default': 'none'}},
                       'locf': {'$locf': '$p'},
                       'lin': {'$linearFill': '$p'}}}}]))
        self.assertEqual([x['prev'] for x in got], ['none', 10, None, None])
        self.assertEqual([x['locf'] for x in got], [10, 10, 10, 40])
        self.assertEqual([x['lin'] for x in got], [10, 20, 30, 40])

    def test_exp_moving_avg_derivative_integral_covariance(self):
        c = self.coll([{'_id': i, 't': i, 'v': v} for i, v in enumerate([10, 20, 40])])
        got = list(c.aggregate([{'$setWindowFields': {
            'sortBy': {'t': 1},
            'output': {
                'ema': {'$expMovingAvg': {'input': '$v', 'N': 3}},
                'der': {'$derivative': {'input': '$v'}, 'window': {'documents': [-1, 0]}},
                'int': {'$integral': {'input': '$v'},
                        'window': {'documents': ['unbounded', 'current']}},
                'cov': {'$covariancePop': ['$t', '$v']},
                'covs': {'$covarianceSamp': ['$t', '$v']}}}}]))
        self.assertEqual([x['ema'] for x in got], [10, 15, 27.5])
        self.assertEqual([x['der'] for x in got], [None, 10, 20])
        self.assertEqual([x['int'] for x in got], [0, 15, 45])
        self.assertAlmostEqual(got[0]['cov'], 10.0)
        self.assertAlmostEqual(got[0]['covs'], 15.0)

    def test_errors(self):
        c = self.coll([{'_id': 1}])

        def run(stage):
            return self.code(lambda: list(c.aggregate([{'$setWindowFields': stage}])))
        self.assertEqual(run({'output': {'r': {'$rank': {}}}}), 5371602)
        self.assertEqual(run({'sortBy': {'a': 1}, 'output': {'r': {'$rank': 1}}}), 5371603)
        self.assertEqual(run({'sortBy': {'a': 1},
                              'output': {'r': {'$rank': {}, 'window': {}}}}), 5371601)
        self.assertEqual(run({'output': {'r': {'$shift': {'output': 1, 'by': 1}}}}), 5613100)
        self.assertEqual(run({'output': {'r': {'$sum': 1, 'window': {'range': [0, 1]}}}}),
                         5339902)
        self.assertEqual(run({'output': {'r': {'$sum': 1, 'window': {'documents': [0, 1]}}}}),
                         5339901)
        self.assertEqual(run({'output': {'r': {'$sum': 1}}, 'bogus': 1}), 40415)
        self.assertEqual(run({'partitionBy': '$a'}), 40414)


class TestDensifyFill(Base):
    def test_densify_full_and_partition(self):
        c = self.coll([{'_id': 1, 'k': 'a', 'v': 0}, {'_id': 2, 'k': 'a', 'v': 4},
                       {'_id': 3, 'k': 'b', 'v': 2}])
        got = list(c.aggregate([{'$densify': {'field': 'v', 'range': {'step': 2,
                                                                      'bounds': 'full'}}},
                                {'$project': {'_id': 0, 'v': 1}}]))
        self.assertEqual([x['v'] for x in got], [0, 2, 4])
        got = list(c.aggregate([{'$densify': {'field': 'v', 'partitionByFields': ['k'],
                                              'range': {'step': 1, 'bounds': 'full'}}},
                                {'$project': {'_id': 0, 'k': 1, 'v': 1}}]))
        self.assertEqual([(x['k'], x['v']) for x in got],
                         [('a', 0), ('a', 1), ('a', 2), ('a', 3), ('a', 4),
                          ('b', 0), ('b', 1), ('b', 2), ('b', 3), ('b', 4)])
        got = list(c.aggregate([{'$densify': {'field': 'v', 'partitionByFields': ['k'],
                                              'range': {'step': 1, 'bounds': 'partition'}}},
                                {'$project': {'_id': 0, 'k': 1, 'v': 1}}]))
        self.assertEqual([(x['k'], x['v']) for x in got],
                         [('a', 0), ('a', 1), ('a', 2), ('a', 3), ('a', 4), ('b', 2)])

    def test_densify_dates_and_bounds(self):
        c = self.coll([{'_id': 1, 't': d(2021, 5, 18, ), 'x': 1},
                       {'_id': 2, 't': d(2021, 5, 18) + datetime.timedelta(hours=3)}])
        got = list(c.aggregate([{'$densify': {'field': 't', 'range': {
            'step': 1, 'unit': 'hour', 'bounds': 'full'}}}]))
        self.assertEqual(len(got), 4)
        c = self.coll([{'_id': 1, 'v': 5}])
        got = list(c.aggregate([{'$densify': {'field': 'v', 'range': {
            'step': 2, 'bounds': [0, 6]}}}, {'$project': {'_id': 0, 'v': 1}}]))
        self.assertEqual([x['v'] for x in got], [0, 2, 4, 5])
        self.assertEqual(self.code(lambda: list(c.aggregate([{'$densify': {
            'field': 'v', 'range': {'step': 0, 'bounds': 'full'}}}]))), 5733401)

    def test_fill(self):
        c = self.coll([{'_id': 1, 'h': 1, 'score': 10, 'c': 'x'},
                       {'_id': 2, 'h': 2, 'c': None},
                       {'_id': 3, 'h': 3, 'score': 30}])
        got = list(c.aggregate([{'$fill': {'sortBy': {'h': 1}, 'output': {
            'score': {'method': 'linear'}, 'c': {'value': 'unknown'}}}}]))
        self.assertEqual([x['score'] for x in got], [10, 20, 30])
        self.assertEqual([x['c'] for x in got], ['x', 'unknown', 'unknown'])
        got = list(c.aggregate([{'$fill': {'sortBy': {'h': 1},
                                           'output': {'score': {'method': 'locf'}}}}]))
        self.assertEqual([x['score'] for x in got], [10, 10, 30])


class TestUndefinedVariables(Base):
    def test_refused_when_parsed(self):
        c = self.coll([{'_id': 1, 'a': 1}])
        self.assertEqual(self.code(lambda: list(c.find(
            {'$expr': {'$eq': ['$a', '$$x']}}))), 17276)
        # Also when no document would evaluate the expression.
        c2 = self.db['empty_' + self._testMethodName]
        c2.drop()
        self.assertEqual(self.code(lambda: list(c2.aggregate(
            [{'$project': {'v': '$$nope'}}]))), 17276)
        self.assertEqual(self.code(lambda: c.delete_one(
            {'$expr': {'$eq': ['$a', '$$x']}})), 17276)
        self.assertEqual(self.code(lambda: c.update_one(
            {}, [{'$set': {'b': '$$y'}}])), 17276)
        found = self.db.command({'find': c.name, 'filter': {'$expr': {'$eq': ['$a', '$$x']}},
                                 'let': {'x': 1}})
        self.assertEqual(len(found['cursor']['firstBatch']), 1)
        got = list(c.aggregate([{'$project': {
            'm': {'$map': {'input': [1, 2], 'in': {'$add': ['$$this', '$$k']}}},
            'l': {'$let': {'vars': {'z': 2}, 'in': '$$z'}},
            'r': {'$reduce': {'input': [1, 2], 'initialValue': 0,
                              'in': {'$add': ['$$value', '$$this']}}}}}], let={'k': 1}))
        self.assertEqual(got[0]['m'], [2, 3])
        self.assertEqual(got[0]['l'], 2)
        self.assertEqual(got[0]['r'], 3)
        self.assertEqual(self.code(lambda: list(c.aggregate([{'$project': {
            'l': {'$let': {'vars': {'z': '$$z'}, 'in': 1}}}}]))), 17276)
        self.assertEqual(self.code(lambda: list(c.aggregate([{'$project': {
            'm': {'$map': {'input': [1], 'as': 'e', 'in': '$$this'}}}}]))), 17276)
        self.assertEqual(self.code(lambda: list(c.aggregate([{'$lookup': {
            'from': 'other', 'let': {'a': '$a'},
            'pipeline': [{'$match': {'$expr': {'$eq': ['$$a', '$$b']}}}],
            'as': 'o'}}]))), 17276)
        got = list(c.aggregate([{'$lookup': {
            'from': 'other', 'let': {'a': '$a'},
            'pipeline': [{'$match': {'$expr': {'$eq': ['$$a', '$$ROOT.x']}}}], 'as': 'o'}}]))
        self.assertEqual(got[0]['o'], [])


if __name__ == '__main__':
    unittest.main()
