#!/usr/bin/env python3
"""The aggregation stages that read other collections or reshape whole inputs ($lookup,
$graphLookup, $unionWith, $facet, $bucket, $bucketAuto, $sample, $redact) through pymongo
against a real ferretd, with the error codes MongoDB gives.

One server per run of this file; each test uses collections named after itself.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

pymongo = harness.import_pymongo()
from bson import Regex  # noqa: E402
from pymongo.errors import OperationFailure  # noqa: E402

DB = 'it_agg_stages'


def setUpModule():
    harness.start_module_server()


def tearDownModule():
    harness.stop_module_server()


def by_id(docs):
    return sorted(docs, key=lambda d: repr(d.get('_id')))


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = harness.server.client()
        cls.db = cls.client[DB]

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def colls(self, *suffixes):
        """Fresh, empty collections named after the test and each suffix."""
        name = self.id().split('.')[-1]
        out = []
        for s in suffixes:
            c = self.db[name + '_' + s]
            c.drop()
            out.append(c)
        return out

    def agg(self, coll, pipeline, **kw):
        return list(coll.aggregate(pipeline, **kw))

    def fails(self, coll, pipeline, code, **kw):
        with self.assertRaises(OperationFailure) as cm:
            list(coll.aggregate(pipeline, **kw))
        self.assertEqual(cm.exception.code, code, cm.exception.details)
        return cm.exception


class TestLookupEquality(Base):
    def setUp(self):
        self.orders, self.inventory = self.colls('orders', 'inventory')
        self.orders.insert_many([
            {'_id': 1, 'item': 'almonds', 'price': 12, 'quantity': 2},
            {'_id': 2, 'item': 'pecans', 'price': 20, 'quantity': 1},
            {'_id': 3},
        ])
        self.inventory.insert_many([
            {'_id': 1, 'sku': 'almonds', 'description': 'product 1', 'instock': 120},
            {'_id': 2, 'sku': 'bread', 'description': 'product 2', 'instock': 80},
            {'_id': 3, 'sku': 'cashews', 'description': 'product 3', 'instock': 60},
            {'_id': 4, 'sku': 'pecans', 'description': 'product 4', 'instock': 70},
            {'_id': 5, 'sku': None, 'description': 'Incomplete'},
            {'_id': 6},
        ])

    def test_documented_example_with_missing_and_null(self):
        got = self.agg(self.orders, [
            {'$lookup': {'from': self.inventory.name, 'localField': 'item',
                         'foreignField': 'sku', 'as': 'inventory_docs'}},
            {'$sort': {'_id': 1}}])
        self.assertEqual([[d['_id'] for d in o['inventory_docs']] for o in got],
                         [[1], [4], [5, 6]])
        self.assertEqual(got[0]['item'], 'almonds')
        self.assertEqual(got[0]['inventory_docs'][0]['instock'], 120)

    def test_missing_from_collection_gives_empty_arrays(self):
        got = self.agg(self.orders, [
            {'$lookup': {'from': 'no_such_collection', 'localField': 'item',
                         'foreignField': 'sku', 'as': 'x'}},
            {'$sort': {'_id': 1}}])
        self.assertEqual([o['x'] for o in got], [[], [], []])

    def test_arrays_on_both_sides(self):
        a, b = self.colls('a', 'b')
        a.insert_many([{'_id': 1, 'tags': ['x', 'y']}, {'_id': 2, 'tags': []},
                       {'_id': 3, 'tags': 'z'}])
        b.insert_many([{'_id': 10, 't': 'x'}, {'_id': 11, 't': ['y', 'q']},
                       {'_id': 12, 't': ['z']}, {'_id': 13}])
        got = self.agg(a, [{'$lookup': {'from': b.name, 'localField': 'tags',
                                        'foreignField': 't', 'as': 'm'}},
                           {'$sort': {'_id': 1}}])
        ids = [sorted(d['_id'] for d in o['m']) for o in got]
        # An empty local array has no values: it matches like null (missing foreign field).
        self.assertEqual(ids, [[10, 11], [13], [12]])

    def test_dotted_paths_through_arrays(self):
        a, b = self.colls('a', 'b')
        a.insert_many([{'_id': 1, 'x': [{'k': 1}, {'k': 2}]}, {'_id': 2, 'x': {'k': 3}}])
        b.insert_many([{'_id': 'p', 'y': {'k': 1}}, {'_id': 'q', 'y': [{'k': 2}, {'k': 3}]}])
        got = self.agg(a, [{'$lookup': {'from': b.name, 'localField': 'x.k',
                                        'foreignField': 'y.k', 'as': 'out.list'}},
                           {'$sort': {'_id': 1}}])
        self.assertEqual([sorted(d['_id'] for d in o['out']['list']) for o in got],
                         [['p', 'q'], ['q']])

    def test_foreign_id_is_pushed_down_and_exact(self):
        a, b = self.colls('a', 'b')
        b.insert_many([{'_id': i, 'v': i * i} for i in range(50)])
        a.insert_many([{'_id': 1, 'ref': 7}, {'_id': 2, 'ref': 7.0}, {'_id': 3, 'ref': 99},
                       {'_id': 4, 'ref': [1, 2]}])
        got = self.agg(a, [{'$lookup': {'from': b.name, 'localField': 'ref',
                                        'foreignField': '_id', 'as': 'r'}},
                           {'$sort': {'_id': 1}}])
        self.assertEqual([[d['v'] for d in o['r']] for o in got], [[49], [49], [], [1, 4]])

    def test_regex_values_compare_as_values(self):
        a, b = self.colls('a', 'b')
        a.insert_many([{'_id': 1, 'r': [Regex('^a'), 'b']}])
        b.insert_many([{'_id': 1, 's': 'abc'}, {'_id': 2, 's': Regex('^a')}, {'_id': 3, 's': 'b'}])
        got = self.agg(a, [{'$lookup': {'from': b.name, 'localField': 'r',
                                        'foreignField': 's', 'as': 'm'}}])
        self.assertEqual(sorted(d['_id'] for d in got[0]['m']), [2, 3])

    def test_as_replaces_existing_field(self):
        got = self.agg(self.orders, [
            {'$match': {'_id': 1}},
            {'$lookup': {'from': self.inventory.name, 'localField': 'item',
                         'foreignField': 'sku', 'as': 'price'}}])
        self.assertEqual(list(got[0].keys()), ['_id', 'item', 'price', 'quantity'])
        self.assertEqual(len(got[0]['price']), 1)

    def test_errors(self):
        inv = self.inventory.name
        cases = [
            ({'$lookup': {'from': inv, 'localField': 'a', 'foreignField': 'b', 'as': 'x',
                          'bogus': 'y'}}, 9),
            ({'$lookup': {'from': inv, 'localField': 'a', 'foreignField': 'b'}}, 9),
            ({'$lookup': {'from': inv, 'localField': 'a', 'as': 'x'}}, 9),
            ({'$lookup': {'from': inv, 'as': 'x'}}, 9),
            ({'$lookup': {'from': inv, 'localField': 'a', 'foreignField': 'b', 'as': 'x',
                          'let': {'v': 1}}}, 9),
            ({'$lookup': {'from': 1, 'localField': 'a', 'foreignField': 'b', 'as': 'x'}}, 9),
            ({'$lookup': {'from': inv, 'localField': 1, 'foreignField': 'b', 'as': 'x'}}, 9),
            ({'$lookup': 'x'}, 9),
            ({'$lookup': {'localField': 'a', 'foreignField': 'b', 'as': 'x'}}, 9),
            ({'$lookup': {'from': inv, 'pipeline': [], 'as': 'x', 'let': {'Bad': 1}}}, 16867),
            ({'$lookup': {'from': inv, 'pipeline': [{'$out': 'z'}], 'as': 'x'}}, 51047),
            ({'$lookup': {'from': inv, 'pipeline': [{'$merge': 'z'}], 'as': 'x'}}, 51047),
            ({'$lookup': {'from': inv, 'pipeline': [{'$bogus': 1}], 'as': 'x'}}, 40324),
            ({'$lookup': {'from': 'a$b', 'localField': 'a', 'foreignField': 'b', 'as': 'x'}},
             73),
        ]
        for stage, code in cases:
            with self.subTest(stage=stage):
                self.fails(self.orders, [stage], code)


class TestLookupPipeline(Base):
    def setUp(self):
        self.orders, self.warehouses = self.colls('orders', 'warehouses')
        self.orders.insert_many([
            {'_id': 1, 'item': 'almonds', 'price': 12, 'ordered': 2},
            {'_id': 2, 'item': 'pecans', 'price': 20, 'ordered': 1},
            {'_id': 3, 'item': 'cookies', 'price': 10, 'ordered': 60},
        ])
        self.warehouses.insert_many([
            {'_id': 1, 'stock_item': 'almonds', 'warehouse': 'A', 'instock': 120},
            {'_id': 2, 'stock_item': 'pecans', 'warehouse': 'A', 'instock': 80},
            {'_id': 3, 'stock_item': 'almonds', 'warehouse': 'B', 'instock': 60},
            {'_id': 4, 'stock_item': 'cookies', 'warehouse': 'B', 'instock': 40},
            {'_id': 5, 'stock_item': 'cookies', 'warehouse': 'A', 'instock': 80},
        ])

    def test_correlated_let_and_expr(self):
        got = self.agg(self.orders, [
            {'$lookup': {
                'from': self.warehouses.name,
                'let': {'order_item': '$item', 'order_qty': '$ordered'},
                'pipeline': [
                    {'$match': {'$expr': {'$and': [
                        {'$eq': ['$stock_item', '$$order_item']},
                        {'$gte': ['$instock', '$$order_qty']}]}}},
                    {'$project': {'stock_item': 0, '_id': 0}},
                    {'$sort': {'warehouse': 1}}],
                'as': 'stockdata'}},
            {'$sort': {'_id': 1}}])
        self.assertEqual([o['stockdata'] for o in got], [
            [{'warehouse': 'A', 'instock': 120}, {'warehouse': 'B', 'instock': 60}],
            [{'warehouse': 'A', 'instock': 80}],
            [{'warehouse': 'A', 'instock': 80}],
        ])

    def test_uncorrelated_pipeline_and_command_let(self):
        got = self.agg(self.orders, [
            {'$match': {'_id': 1}},
            {'$lookup': {'from': self.warehouses.name,
                         'pipeline': [{'$match': {'$expr': {'$eq': ['$warehouse', '$$wh']}}},
                                      {'$count': 'n'}],
                         'as': 'a'}}], let={'wh': 'B'})
        self.assertEqual(got[0]['a'], [{'n': 2}])

    def test_let_variable_in_later_stages_and_nested_lookup(self):
        got = self.agg(self.orders, [
            {'$match': {'_id': 3}},
            {'$lookup': {
                'from': self.warehouses.name,
                'let': {'it': '$item'},
                'pipeline': [
                    {'$match': {'$expr': {'$eq': ['$stock_item', '$$it']}}},
                    {'$lookup': {'from': self.orders.name,
                                 'let': {'w': '$warehouse'},
                                 'pipeline': [{'$match': {'$expr': {'$eq': ['$item', '$$it']}}},
                                              {'$project': {'_id': 0, 'w': '$$w',
                                                            'it': '$$it'}}],
                                 'as': 'back'}},
                    {'$project': {'_id': 0, 'warehouse': 1, 'back': 1, 'tag': '$$it'}},
                    {'$sort': {'warehouse': 1}}],
                'as': 'w'}}])
        self.assertEqual(got[0]['w'], [
            {'warehouse': 'A', 'back': [{'w': 'A', 'it': 'cookies'}], 'tag': 'cookies'},
            {'warehouse': 'B', 'back': [{'w': 'B', 'it': 'cookies'}], 'tag': 'cookies'},
        ])

    def test_combined_form(self):
        got = self.agg(self.orders, [
            {'$lookup': {'from': self.warehouses.name, 'localField': 'item',
                         'foreignField': 'stock_item', 'let': {'q': '$ordered'},
                         'pipeline': [{'$match': {'$expr': {'$gte': ['$instock', '$$q']}}},
                                      {'$project': {'_id': 1}}, {'$sort': {'_id': 1}}],
                         'as': 'w'}},
            {'$sort': {'_id': 1}}])
        self.assertEqual([o['w'] for o in got],
                         [[{'_id': 1}, {'_id': 3}], [{'_id': 2}], [{'_id': 5}]])

    def test_documents_without_from(self):
        got = self.agg(self.orders, [
            {'$match': {'_id': 1}},
            {'$lookup': {'let': {'p': '$price'},
                         'pipeline': [{'$documents': [{'x': 1}, {'x': '$$p'}]}],
                         'as': 'd'}}])
        self.assertEqual(got[0]['d'], [{'x': 1}, {'x': 12}])

    def test_lookup_inside_facet_and_union(self):
        got = self.agg(self.orders, [
            {'$facet': {
                'joined': [{'$match': {'_id': 2}},
                           {'$lookup': {'from': self.warehouses.name, 'localField': 'item',
                                        'foreignField': 'stock_item', 'as': 'w'}},
                           {'$project': {'n': {'$size': '$w'}}}],
                'count': [{'$count': 'n'}]}}])
        self.assertEqual(got, [{'joined': [{'_id': 2, 'n': 1}], 'count': [{'n': 3}]}])
        got = self.agg(self.orders, [
            {'$match': {'_id': 1}},
            {'$unionWith': {'coll': self.orders.name, 'pipeline': [
                {'$match': {'_id': 2}},
                {'$lookup': {'from': self.warehouses.name, 'localField': 'item',
                             'foreignField': 'stock_item', 'as': 'w'}}]}},
            {'$project': {'n': {'$size': {'$ifNull': ['$w', []]}}}}])
        self.assertEqual(got, [{'_id': 1, 'n': 0}, {'_id': 2, 'n': 1}])


class TestUnionWith(Base):
    def test_union_forms(self):
        a, b = self.colls('a', 'b')
        a.insert_many([{'_id': 1, 'x': 1}, {'_id': 2, 'x': 2}])
        b.insert_many([{'_id': 10, 'x': 10}, {'_id': 11, 'x': 11}])
        self.assertEqual([d['_id'] for d in self.agg(a, [{'$unionWith': b.name}])],
                         [1, 2, 10, 11])
        got = self.agg(a, [{'$match': {'x': 1}},
                           {'$unionWith': {'coll': b.name,
                                           'pipeline': [{'$match': {'x': {'$gt': 10}}},
                                                        {'$set': {'from': 'b'}}]}},
                           {'$sort': {'x': -1}}])
        self.assertEqual(got, [{'_id': 11, 'x': 11, 'from': 'b'}, {'_id': 1, 'x': 1}])
        got = self.agg(a, [{'$limit': 1},
                           {'$unionWith': {'pipeline': [{'$documents': [{'d': 1}]}]}}])
        self.assertEqual(got, [{'_id': 1, 'x': 1}, {'d': 1}])
        self.assertEqual(len(self.agg(a, [{'$unionWith': 'missing_coll'}])), 2)
        got = self.agg(a, [{'$unionWith': {'coll': b.name, 'pipeline': [
            {'$match': {'$expr': {'$eq': ['$x', '$$v']}}}]}}], let={'v': 10})
        self.assertEqual([d['_id'] for d in got], [1, 2, 10])

    def test_errors(self):
        a, = self.colls('a')
        cases = [
            ({'$unionWith': 1}, 9),
            ({'$unionWith': {'coll': 'x', 'bogus': 1}}, 40415),
            ({'$unionWith': {'coll': 1}}, 14),
            ({'$unionWith': {'pipeline': [{'$match': {}}]}}, 9),
            ({'$unionWith': {'coll': 'x', 'pipeline': [{'$out': 'y'}]}}, 31441),
            ({'$unionWith': {'coll': 'x', 'pipeline': 1}}, 14),
        ]
        for stage, code in cases:
            with self.subTest(stage=stage):
                self.fails(a, [stage], code)


class TestFacet(Base):
    def test_facets_share_the_input(self):
        a, = self.colls('a')
        a.insert_many([{'_id': i, 'k': i % 3, 'p': i * 10} for i in range(9)])
        got = self.agg(a, [
            {'$match': {'_id': {'$lt': 8}}},
            {'$facet': {
                'byK': [{'$sortByCount': '$k'}, {'$sort': {'_id': 1}}],
                'top': [{'$sort': {'p': -1}}, {'$limit': 2}, {'$project': {'_id': 1}}],
                'all': [],
                'nothing': [{'$match': {'none': True}}]}}])
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]['byK'], [{'_id': 0, 'count': 3}, {'_id': 1, 'count': 3},
                                         {'_id': 2, 'count': 2}])
        self.assertEqual(got[0]['top'], [{'_id': 7}, {'_id': 6}])
        self.assertEqual(len(got[0]['all']), 8)
        self.assertEqual(got[0]['nothing'], [])
        self.assertEqual(list(got[0].keys()), ['byK', 'top', 'all', 'nothing'])

    def test_empty_input_gives_one_document(self):
        a, = self.colls('a')
        self.assertEqual(self.agg(a, [{'$facet': {'x': [{'$count': 'n'}]}}]), [{'x': []}])

    def test_errors(self):
        a, = self.colls('a')
        cases = [
            ({'$facet': {}}, 40169),
            ({'$facet': 1}, 40169),
            ({'$facet': {'x': 1}}, 40170),
            ({'$facet': {'x': [1]}}, 40171),
            ({'$facet': {'x': [{'$out': 'y'}]}}, 40600),
            ({'$facet': {'x': [{'$facet': {'y': []}}]}}, 40600),
            ({'$facet': {'x': [{'$documents': []}]}}, 40600),
            ({'$facet': {'$x': []}}, 16410),
        ]
        for stage, code in cases:
            with self.subTest(stage=stage):
                self.fails(a, [stage], code)


class TestBucket(Base):
    def setUp(self):
        self.artists, = self.colls('artists')
        self.artists.insert_many([
            {'_id': 1, 'last_name': 'Bernard', 'year_born': 1845, 'year_died': 1934},
            {'_id': 2, 'last_name': 'Rippl-Ronai', 'year_born': 1861, 'year_died': 1927},
            {'_id': 3, 'last_name': 'Ostroumova', 'year_born': 1871, 'year_died': 1955},
            {'_id': 4, 'last_name': 'Van Gogh', 'year_born': 1853, 'year_died': 1890},
            {'_id': 5, 'last_name': 'Maurer', 'year_born': 1868, 'year_died': 1932},
            {'_id': 6, 'last_name': 'Munch', 'year_born': 1863, 'year_died': 1944},
            {'_id': 7, 'last_name': 'Redon', 'year_born': 1840, 'year_died': 1916},
            {'_id': 8, 'last_name': 'Diriks', 'year_born': 1855, 'year_died': 1930},
        ])

    def test_documented_example(self):
        got = self.agg(self.artists, [{'$bucket': {
            'groupBy': '$year_born', 'boundaries': [1840, 1850, 1860, 1870, 1880],
            'default': 'Other',
            'output': {'count': {'$sum': 1},
                       'artists': {'$push': {'$concat': ['$last_name', ' ', 'x']}}}}}])
        self.assertEqual([(d['_id'], d['count']) for d in got],
                         [(1840, 2), (1850, 2), (1860, 3), (1870, 1)])
        got = self.agg(self.artists, [{'$bucket': {
            'groupBy': '$year_born', 'boundaries': [1850, 1860], 'default': 'Other'}}])
        self.assertEqual(got, [{'_id': 1850, 'count': 2}, {'_id': 'Other', 'count': 6}])

    def test_no_default_and_no_branch(self):
        self.fails(self.artists, [{'$bucket': {'groupBy': '$year_born',
                                               'boundaries': [1850, 1860]}}], 40066)

    def test_errors(self):
        cases = [
            ({'$bucket': 1}, 40201),
            ({'$bucket': {'groupBy': '$a'}}, 40198),
            ({'$bucket': {'groupBy': 'a', 'boundaries': [1, 2]}}, 40202),
            ({'$bucket': {'groupBy': '$a', 'boundaries': 1}}, 40200),
            ({'$bucket': {'groupBy': '$a', 'boundaries': [1]}}, 40192),
            ({'$bucket': {'groupBy': '$a', 'boundaries': [2, 1]}}, 40194),
            ({'$bucket': {'groupBy': '$a', 'boundaries': [1, 'a']}}, 40193),
            ({'$bucket': {'groupBy': '$a', 'boundaries': ['$x', 'y']}}, 40191),
            ({'$bucket': {'groupBy': '$a', 'boundaries': [1, 5], 'default': 3}}, 40199),
            ({'$bucket': {'groupBy': '$a', 'boundaries': [1, 5], 'bogus': 3}}, 40197),
            ({'$bucket': {'groupBy': '$a', 'boundaries': [1, 5], 'output': 3}}, 40196),
        ]
        for stage, code in cases:
            with self.subTest(stage=stage):
                self.fails(self.artists, [stage], code)


class TestBucketAuto(Base):
    def test_even_buckets(self):
        a, = self.colls('a')
        a.insert_many([{'_id': i, 'v': i} for i in range(10)])
        got = self.agg(a, [{'$bucketAuto': {'groupBy': '$v', 'buckets': 3}}])
        self.assertEqual(got, [{'_id': {'min': 0, 'max': 3}, 'count': 3},
                               {'_id': {'min': 3, 'max': 6}, 'count': 3},
                               {'_id': {'min': 6, 'max': 9}, 'count': 4}])

    def test_equal_values_stay_together_and_output(self):
        a, = self.colls('a')
        a.insert_many([{'_id': i, 'v': v} for i, v in enumerate([1, 1, 1, 1, 2, 3])])
        got = self.agg(a, [{'$bucketAuto': {'groupBy': '$v', 'buckets': 3,
                                            'output': {'ids': {'$push': '$_id'}}}}])
        self.assertEqual(got, [{'_id': {'min': 1, 'max': 2}, 'ids': [0, 1, 2, 3]},
                               {'_id': {'min': 2, 'max': 3}, 'ids': [4, 5]}])

    def test_missing_is_null_and_more_buckets_than_documents(self):
        a, = self.colls('a')
        a.insert_many([{'_id': 1}, {'_id': 2, 'v': 5}])
        got = self.agg(a, [{'$bucketAuto': {'groupBy': '$v', 'buckets': 5}}])
        self.assertEqual(got, [{'_id': {'min': None, 'max': 5}, 'count': 1},
                               {'_id': {'min': 5, 'max': 5}, 'count': 1}])

    def test_granularity(self):
        a, = self.colls('a')
        a.insert_many([{'_id': i, 'v': v} for i, v in enumerate([1, 3, 7, 12, 25, 40])])
        got = self.agg(a, [{'$bucketAuto': {'groupBy': '$v', 'buckets': 3,
                                            'granularity': 'POWERSOF2'}}])
        self.assertEqual([d['_id'] for d in got],
                         [{'min': 0.5, 'max': 4}, {'min': 4, 'max': 16}, {'min': 16, 'max': 64}])
        got = self.agg(a, [{'$bucketAuto': {'groupBy': '$v', 'buckets': 2,
                                            'granularity': 'R5'}}])
        self.assertEqual([d['_id'] for d in got],
                         [{'min': 0.63, 'max': 10.0}, {'min': 10.0, 'max': 63.0}])
        self.fails(a, [{'$bucketAuto': {'groupBy': '$v', 'buckets': 2, 'granularity': 'X'}}],
                   40257)

    def test_errors(self):
        a, = self.colls('a')
        a.insert_one({'v': 'str'})
        cases = [
            ({'$bucketAuto': 1}, 40240),
            ({'$bucketAuto': {'groupBy': '$v'}}, 40246),
            ({'$bucketAuto': {'groupBy': 'v', 'buckets': 1}}, 40239),
            ({'$bucketAuto': {'groupBy': '$v', 'buckets': 'x'}}, 40241),
            ({'$bucketAuto': {'groupBy': '$v', 'buckets': 1.5}}, 40242),
            ({'$bucketAuto': {'groupBy': '$v', 'buckets': 0}}, 40243),
            ({'$bucketAuto': {'groupBy': '$v', 'buckets': 1, 'output': 1}}, 40244),
            ({'$bucketAuto': {'groupBy': '$v', 'buckets': 1, 'bogus': 1}}, 40245),
            ({'$bucketAuto': {'groupBy': '$v', 'buckets': 1, 'granularity': 1}}, 40261),
            ({'$bucketAuto': {'groupBy': '$v', 'buckets': 1, 'granularity': 'R5'}}, 40258),
        ]
        for stage, code in cases:
            with self.subTest(stage=stage):
                self.fails(a, [stage], code)


class TestSample(Base):
    def test_sample(self):
        a, = self.colls('a')
        a.insert_many([{'_id': i} for i in range(100)])
        got = self.agg(a, [{'$sample': {'size': 10}}])
        self.assertEqual(len(got), 10)
        self.assertEqual(len({d['_id'] for d in got}), 10)
        self.assertEqual(len(self.agg(a, [{'$sample': {'size': 1000}}])), 100)
        self.assertEqual(self.agg(a, [{'$sample': {'size': 0}}]), [])
        seen = set()
        for _ in range(20):
            seen.update(d['_id'] for d in self.agg(a, [{'$sample': {'size': 3}}]))
        self.assertGreater(len(seen), 10)  # random, not the first documents

    def test_errors(self):
        a, = self.colls('a')
        cases = [
            ({'$sample': 1}, 28745),
            ({'$sample': {'size': 'x'}}, 28746),
            ({'$sample': {'size': -1}}, 28747),
            ({'$sample': {'size': 1, 'bogus': 1}}, 28748),
            ({'$sample': {}}, 28749),
        ]
        for stage, code in cases:
            with self.subTest(stage=stage):
                self.fails(a, [stage], code)


class TestGraphLookup(Base):
    def setUp(self):
        self.employees, = self.colls('employees')
        self.employees.insert_many([
            {'_id': 1, 'name': 'Dev'},
            {'_id': 2, 'name': 'Eliot', 'reportsTo': 'Dev'},
            {'_id': 3, 'name': 'Ron', 'reportsTo': 'Eliot'},
            {'_id': 4, 'name': 'Andrew', 'reportsTo': 'Eliot'},
            {'_id': 5, 'name': 'Asya', 'reportsTo': 'Ron'},
            {'_id': 6, 'name': 'Dan', 'reportsTo': 'Andrew'},
        ])

    def hierarchy(self, **extra):
        spec = {'from': self.employees.name, 'startWith': '$reportsTo',
                'connectFromField': 'reportsTo', 'connectToField': 'name',
                'as': 'reportingHierarchy'}
        spec.update(extra)
        return self.agg(self.employees, [{'$graphLookup': spec}, {'$sort': {'_id': 1}}])

    def test_documented_example(self):
        got = self.hierarchy()
        names = [sorted(d['name'] for d in e['reportingHierarchy']) for e in got]
        self.assertEqual(names, [[], ['Dev'], ['Dev', 'Eliot'], ['Dev', 'Eliot'],
                                 ['Dev', 'Eliot', 'Ron'], ['Andrew', 'Dev', 'Eliot']])

    def test_max_depth_and_depth_field(self):
        got = self.hierarchy(maxDepth=1, depthField='hops')
        asya = got[4]['reportingHierarchy']
        self.assertEqual(sorted((d['name'], d['hops']) for d in asya),
                         [('Eliot', 1), ('Ron', 0)])
        got = self.hierarchy(maxDepth=0)
        self.assertEqual([len(e['reportingHierarchy']) for e in got], [0, 1, 1, 1, 1, 1])

    def test_restrict_search_with_match(self):
        got = self.hierarchy(restrictSearchWithMatch={'name': {'$ne': 'Eliot'}})
        self.assertEqual(sorted(d['name'] for d in got[4]['reportingHierarchy']), ['Ron'])

    def test_cycles_and_arrays(self):
        g, = self.colls('g')
        g.insert_many([{'_id': 'a', 'to': ['b', 'c']}, {'_id': 'b', 'to': ['a']},
                       {'_id': 'c', 'to': 'd'}, {'_id': 'd', 'to': 'a'}])
        got = self.agg(g, [{'$match': {'_id': 'a'}},
                           {'$graphLookup': {'from': g.name, 'startWith': '$to',
                                             'connectFromField': 'to', 'connectToField': '_id',
                                             'as': 'reach', 'depthField': 'd'}}])
        self.assertEqual(sorted((d['_id'], d['d']) for d in got[0]['reach']),
                         [('a', 1), ('b', 0), ('c', 0), ('d', 1)])

    def test_errors(self):
        e = self.employees.name
        base = {'from': e, 'startWith': '$x', 'connectFromField': 'a', 'connectToField': 'b',
                'as': 'o'}
        cases = [
            ({'$graphLookup': 1}, 9),
            ({'$graphLookup': {'from': e, 'as': 'o'}}, 40105),
            ({'$graphLookup': dict(base, bogus='x')}, 40104),
            ({'$graphLookup': dict(base, maxDepth=-1)}, 40101),
            ({'$graphLookup': dict(base, maxDepth='x')}, 40100),
            ({'$graphLookup': dict(base, connectToField=1)}, 40103),
            ({'$graphLookup': dict(base, restrictSearchWithMatch=1)}, 40185),
        ]
        for stage, code in cases:
            with self.subTest(stage=stage):
                self.fails(self.employees, [stage], code)


class TestRedact(Base):
    def test_documented_example(self):
        a, = self.colls('a')
        a.insert_one({
            '_id': 1, 'title': '123 Department Report', 'tags': ['G', 'STLW'], 'year': 2014,
            'subsections': [
                {'subtitle': 'Section 1: Overview', 'tags': ['SI', 'G'],
                 'content': 'Section 1: This is the content of section 1.'},
                {'subtitle': 'Section 2: Analysis', 'tags': ['STLW'],
                 'content': 'Section 2: This is the content of section 2.'},
                {'subtitle': 'Section 3: Budgeting', 'tags': ['TK'],
                 'content': {'text': 'Section 3: This is the content of section 3.',
                             'tags': ['HCS']}}]})
        user_access = ['STLW', 'G']
        got = self.agg(a, [{'$match': {'year': 2014}}, {'$redact': {'$cond': {
            'if': {'$gt': [{'$size': {'$filter': {
                'input': '$tags', 'as': 't', 'cond': {'$in': ['$$t', user_access]}}}}, 0]},
            'then': '$$DESCEND', 'else': '$$PRUNE'}}}])
        self.assertEqual([s['subtitle'] for s in got[0]['subsections']],
                         ['Section 1: Overview', 'Section 2: Analysis'])
        got = self.agg(a, [{'$redact': {'$cond': [{'$eq': ['$year', 2014]}, '$$KEEP',
                                                  '$$PRUNE']}}])
        self.assertEqual(len(got[0]['subsections']), 3)
        self.assertEqual(self.agg(a, [{'$redact': '$$PRUNE'}]), [])

    def test_bad_result(self):
        a, = self.colls('a')
        a.insert_one({'_id': 1})
        self.fails(a, [{'$redact': 'keep it'}], 17053)


if __name__ == '__main__':
    harness.main()
