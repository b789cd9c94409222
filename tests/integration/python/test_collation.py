#!/usr/bin/env python3
"""Collations through pymongo (core/bson/collation.c, ICU): the per-command collation option of
find, count, distinct, aggregate, update, delete and findAndModify; a collection's default
collation from create (listCollections shows it); indexes with a collation (listIndexes shows
the full specification; a unique index at strength 2 treats "A" and "a" as one key), or the
collection's default when they name none; update operators comparing under the statement's
collation; and the errors of a bad collation document.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

pymongo = harness.import_pymongo()
from pymongo.collation import Collation  # noqa: E402
from pymongo.errors import DuplicateKeyError, OperationFailure  # noqa: E402

DB = 'it_collation'
CI = {'locale': 'en', 'strength': 2}  # case-insensitive


def setUpModule():
    harness.start_module_server()


def tearDownModule():
    harness.stop_module_server()


class CollationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = harness.server.client()
        cls.db = cls.client[DB]

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def coll(self, docs=None):
        name = self.id().split('.')[-1]
        c = self.db[name]
        c.drop()
        if docs:
            c.insert_many(docs)
        return c

    def names(self, cursor):
        return [d['name'] for d in cursor]

    def test_find_strength_2(self):
        c = self.coll([{'_id': i, 'name': n} for i, n in enumerate(['a', 'A', 'b', 'B', 'c'])])
        self.assertEqual(sorted(self.names(c.find({'name': 'a'}, collation=CI))), ['A', 'a'])
        self.assertEqual(self.names(c.find({'name': 'a'})), ['a'])
        self.assertEqual(c.count_documents({'name': {'$in': ['B']}}, collation=CI), 2)
        self.assertEqual(c.count_documents({'name': {'$ne': 'a'}}, collation=CI), 3)
        self.assertEqual(c.count_documents({'name': {'$nin': ['a', 'b']}}, collation=CI), 1)
        self.assertEqual(c.count_documents({'name': {'$gt': 'a'}}, collation=CI), 3)
        # $regex is never collated.
        self.assertEqual(c.count_documents({'name': {'$regex': '^a'}}, collation=CI), 1)

    def test_nested_strings(self):
        c = self.coll([{'_id': 1, 'v': {'x': 'Hello'}}, {'_id': 2, 'v': ['WORLD']}])
        self.assertEqual(c.count_documents({'v': {'x': 'hello'}}, collation=CI), 1)
        self.assertEqual(c.count_documents({'v': ['world']}, collation=CI), 1)
        self.assertEqual(c.count_documents({'v': 'world'}, collation=CI), 1)

    def test_sort_numeric_and_case_first(self):
        c = self.coll([{'name': n} for n in ['10', '9', '1', '2']])
        got = self.names(c.find().sort('name', 1).collation({'locale': 'en', 'numericOrdering': True}))
        self.assertEqual(got, ['1', '2', '9', '10'])
        self.assertEqual(self.names(c.find().sort('name', 1)), ['1', '10', '2', '9'])
        c = self.coll([{'name': n} for n in ['b', 'a', 'B', 'A']])
        upper = {'locale': 'en', 'caseFirst': 'upper'}
        self.assertEqual(self.names(c.find().sort('name', 1).collation(upper)), ['A', 'a', 'B', 'b'])
        self.assertEqual(self.names(c.find().sort('name', 1)), ['A', 'B', 'a', 'b'])

    def test_distinct(self):
        c = self.coll([{'name': n} for n in ['a', 'A', 'b']])
        self.assertEqual(len(c.distinct('name', collation=CI)), 2)
        self.assertEqual(len(c.distinct('name')), 3)

    def test_aggregate(self):
        c = self.coll([{'_id': i, 'name': n} for i, n in enumerate(['a', 'A', 'b', 'B', 'c'])])
        out = list(c.aggregate([{'$match': {'name': 'b'}}, {'$count': 'n'}], collation=CI))
        self.assertEqual(out, [{'n': 2}])
        groups = list(c.aggregate([{'$group': {'_id': '$name', 'n': {'$sum': 1}}},
                                   {'$sort': {'_id': 1}}], collation=CI))
        self.assertEqual([(g['_id'].lower(), g['n']) for g in groups], [('a', 2), ('b', 2), ('c', 1)])
        out = list(c.aggregate([{'$project': {'_id': 0, 'eq': {'$eq': ['$name', 'A']},
                                              'cmp': {'$cmp': ['$name', 'B']}}},
                                {'$limit': 1}], collation=CI))
        self.assertEqual(out, [{'eq': True, 'cmp': -1}])
        out = list(c.aggregate([{'$group': {'_id': None, 's': {'$addToSet': '$name'}}}],
                               collation=CI))
        self.assertEqual(len(out[0]['s']), 3)
        out = list(c.aggregate([{'$project': {'_id': 0, 'u': {'$setUnion': [['a', 'A', 'b']]}}},
                                {'$limit': 1}], collation=CI))
        self.assertEqual(len(out[0]['u']), 2)

    def test_update_delete_find_and_modify(self):
        c = self.coll([{'_id': i, 'name': n} for i, n in enumerate(['a', 'A', 'b'])])
        r = c.update_many({'name': 'a'}, {'$set': {'hit': True}}, collation=CI)
        self.assertEqual(r.modified_count, 2)
        doc = c.find_one_and_update({'name': 'B'}, {'$set': {'x': 1}}, collation=CI)
        self.assertEqual(doc['name'], 'b')
        r = c.delete_many({'name': 'A'}, collation=CI)
        self.assertEqual(r.deleted_count, 2)
        self.assertEqual(c.count_documents({}), 1)

    def test_string_id_not_pushed_down(self):
        c = self.coll([{'_id': 'abc'}, {'_id': 'x'}])
        self.assertEqual(c.count_documents({'_id': 'ABC'}, collation=CI), 1)
        self.assertEqual(len(list(c.find({'_id': 'ABC'}, collation=CI))), 1)
        self.assertEqual(c.count_documents({'_id': 'ABC'}), 0)

    def test_collection_default(self):
        self.db.drop_collection('withdefault')
        c = self.db.create_collection('withdefault', collation=CI)
        info = [i for i in self.db.list_collections() if i['name'] == 'withdefault'][0]
        spec = info['options']['collation']
        self.assertEqual(spec['locale'], 'en')
        self.assertEqual(spec['strength'], 2)
        self.assertEqual(spec['caseFirst'], 'off')
        c.insert_many([{'name': 'a'}, {'name': 'A'}])
        self.assertEqual(c.count_documents({'name': 'a'}), 2)
        self.assertEqual(c.count_documents({'name': 'a'}, collation={'locale': 'simple'}), 1)
        self.assertEqual(len(c.distinct('name')), 1)

    def test_unique_index_strength_2(self):
        c = self.coll()
        c.create_index('name', unique=True, collation=CI, name='name_ci')
        spec = [i for i in c.list_indexes() if i['name'] == 'name_ci'][0]
        self.assertEqual(dict(spec['collation']), {
            'locale': 'en', 'caseLevel': False, 'caseFirst': 'off', 'strength': 2,
            'numericOrdering': False, 'alternate': 'non-ignorable', 'maxVariable': 'punct',
            'normalization': False, 'backwards': False, 'version': '57.1'})
        c.insert_one({'name': 'A'})
        with self.assertRaises(DuplicateKeyError):
            c.insert_one({'name': 'a'})
        c.insert_one({'name': 'b'})
        with self.assertRaises(DuplicateKeyError):
            c.update_one({'name': 'b'}, {'$set': {'name': 'a'}})

    def test_index_inherits_collection_default(self):
        self.db.drop_collection('inherits')
        c = self.db.create_collection('inherits', collation=CI)
        c.create_index('name', unique=True, name='name_default')
        c.create_index('code', unique=True, name='code_simple',
                       collation={'locale': 'simple'})
        specs = {i['name']: i for i in c.list_indexes()}
        self.assertEqual(specs['name_default']['collation']['locale'], 'en')
        self.assertEqual(specs['name_default']['collation']['strength'], 2)
        self.assertNotIn('collation', specs['code_simple'])
        # The same request again is the same index (the inherited collation included).
        c.create_index('name', unique=True, name='name_default')
        c.insert_one({'name': 'A', 'code': 'X'})
        with self.assertRaises(DuplicateKeyError):
            c.insert_one({'name': 'a', 'code': 'y'})
        c.insert_one({'name': 'b', 'code': 'x'})  # the simple index: "X" and "x" differ
        with self.assertRaises(DuplicateKeyError):
            c.insert_one({'name': 'c', 'code': 'x'})
        self.db.drop_collection('inherits')

    def test_update_operators(self):
        c = self.coll([{'_id': 1, 'a': ['A', 'b'], 's': 'B',
                        'o': [{'n': 'X'}, {'n': 'y'}]}])
        c.update_one({'_id': 1}, {'$addToSet': {'a': 'a'}}, collation=CI)
        self.assertEqual(c.find_one()['a'], ['A', 'b'])
        c.update_one({'_id': 1}, {'$addToSet': {'a': 'a'}})
        self.assertEqual(c.find_one()['a'], ['A', 'b', 'a'])
        c.update_one({'_id': 1}, {'$pull': {'a': 'A'}}, collation=CI)
        self.assertEqual(c.find_one()['a'], ['b'])
        c.update_one({'_id': 1}, {'$pull': {'o': {'n': 'x'}}}, collation=CI)
        self.assertEqual(c.find_one()['o'], [{'n': 'y'}])
        c.update_one({'_id': 1}, {'$push': {'a': {'$each': ['C', 'a'], '$sort': 1}}},
                     collation=CI)
        self.assertEqual(c.find_one()['a'], ['a', 'b', 'C'])
        c.update_one({'_id': 1}, {'$pullAll': {'a': ['A', 'B']}}, collation=CI)
        self.assertEqual(c.find_one()['a'], ['C'])
        c.update_one({'_id': 1}, {'$min': {'s': 'a'}}, collation=CI)
        self.assertEqual(c.find_one()['s'], 'a')
        c.update_one({'_id': 1}, {'$set': {'a.$[e]': 'z'}}, array_filters=[{'e': 'c'}],
                     collation=CI)
        self.assertEqual(c.find_one()['a'], ['z'])
        doc = c.find_one_and_update({'_id': 1}, {'$addToSet': {'a': 'Z'}}, collation=CI,
                                    return_document=pymongo.ReturnDocument.AFTER)
        self.assertEqual(doc['a'], ['z'])
        # Through a collection's default collation too.
        self.db.drop_collection('ops_default')
        d = self.db.create_collection('ops_default', collation=CI)
        d.insert_one({'_id': 1, 'a': ['A', 'b']})
        d.update_one({'_id': 1}, {'$addToSet': {'a': 'a'}})
        d.update_one({'_id': 1}, {'$pull': {'a': 'B'}})
        self.assertEqual(d.find_one()['a'], ['A'])
        d.update_one({'_id': 1}, {'$addToSet': {'a': 'a'}}, collation={'locale': 'simple'})
        self.assertEqual(d.find_one()['a'], ['A', 'a'])
        self.db.drop_collection('ops_default')

    def test_errors(self):
        c = self.coll([{'name': 'a'}])
        cases = [
            ({'locale': 'xx'}, 2),
            ({'strength': 2}, 40414),
            ({'locale': 'en', 'bogus': 1}, 40415),
            ({'locale': 1}, 14),
            ({'locale': 'en', 'strength': '2'}, 14),
            ({'locale': 'en', 'strength': 9}, 51024),
            ({'locale': 'en', 'caseFirst': 'sideways'}, 2),
            ({'locale': 'simple', 'strength': 2}, 9),
        ]
        for spec, code in cases:
            with self.subTest(spec=spec):
                with self.assertRaises(OperationFailure) as cm:
                    list(c.find({}, collation=spec))
                self.assertEqual(cm.exception.code, code)
        self.assertEqual(len(list(c.find({}, collation={'locale': 'simple'}))), 1)
        self.assertEqual(len(list(c.find({}, collation=Collation('fr', backwards=True)))), 1)


if __name__ == '__main__':
    unittest.main()
