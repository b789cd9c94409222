#!/usr/bin/env python3
"""Read-only views through pymongo (docs/rfc/0008-views.md): create with viewOn and pipeline
(checked as mongod checks it), reads on a view (find, aggregate, count, distinct,
count_documents, estimated_document_count, $lookup/$unionWith/$graphLookup/$facet of a view),
views over views, listCollections, drop, dropDatabase, collMod, and the refusals: writes
(166), a collection and a view under one name (48), renaming a view (166), cycles (5).
"""

import os
import sys
import unittest

from bson.son import SON

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

pymongo = harness.import_pymongo()
from pymongo.errors import OperationFailure  # noqa: E402

DB = 'it_views'


def setUpModule():
    harness.start_module_server()


def tearDownModule():
    harness.stop_module_server()


class Views(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = harness.server.client()
        cls.client.drop_database(DB)
        cls.db = cls.client[DB]

    @classmethod
    def tearDownClass(cls):
        cls.client.drop_database(DB)
        cls.client.close()

    def setUp(self):
        for name in self.db.list_collection_names():
            self.db.drop_collection(name)
        self.db.src.insert_many([
            {'_id': 1, 'name': 'ada', 'age': 36, 'tags': ['x', 'y'], 'team': 'a'},
            {'_id': 2, 'name': 'bob', 'age': 17, 'tags': ['y'], 'team': 'b'},
            {'_id': 3, 'name': 'cy', 'age': 52, 'tags': [], 'team': 'a'},
            {'_id': 4, 'name': 'dee', 'age': 29, 'team': 'b'},
        ])
        self.db.create_collection('adults', viewOn='src',
                                  pipeline=[{'$match': {'age': {'$gte': 18}}},
                                            {'$project': {'secret': 0}}])

    def assertCode(self, code, fn, *args, **kwargs):
        with self.assertRaises(OperationFailure) as ctx:
            fn(*args, **kwargs)
        self.assertEqual(ctx.exception.code, code, ctx.exception.details)
        return ctx.exception

    # ---- reads ----

    def test_find(self):
        v = self.db.adults
        self.assertEqual([d['_id'] for d in v.find().sort('_id', 1)], [1, 3, 4])
        self.assertEqual([d['name'] for d in v.find({'team': 'a'}, {'name': 1, '_id': 0})
                          .sort('age', -1)], ['cy', 'ada'])
        self.assertEqual([d['_id'] for d in v.find().sort('age', 1).skip(1).limit(1)], [1])
        self.assertEqual(v.find_one({'_id': 3})['name'], 'cy')
        self.assertIsNone(v.find_one({'_id': 2}))

    def test_find_batches(self):
        self.db.many.insert_many([{'_id': i, 'n': i} for i in range(250)])
        self.db.create_collection('even', viewOn='many', pipeline=[{'$match': {'n': {'$mod': [2, 0]}}}])
        got = [d['_id'] for d in self.db.even.find().sort('_id', 1).batch_size(7)]
        self.assertEqual(got, list(range(0, 250, 2)))
        reply = self.db.command('find', 'even', batchSize=3)
        self.assertEqual(reply['cursor']['ns'], DB + '.even')
        self.assertEqual(len(reply['cursor']['firstBatch']), 3)
        self.assertNotEqual(reply['cursor']['id'], 0)

    def test_aggregate(self):
        got = list(self.db.adults.aggregate([{'$group': {'_id': '$team', 'n': {'$sum': 1}}},
                                             {'$sort': {'_id': 1}}]))
        self.assertEqual(got, [{'_id': 'a', 'n': 2}, {'_id': 'b', 'n': 1}])

    def test_count_and_distinct(self):
        v = self.db.adults
        self.assertEqual(v.count_documents({}), 3)
        self.assertEqual(v.count_documents({'team': 'b'}), 1)
        self.assertEqual(v.estimated_document_count(), 3)
        self.assertEqual(self.db.command('count', 'adults', query={'age': {'$gt': 30}})['n'], 2)
        self.assertEqual(self.db.command('count', 'adults', skip=1, limit=1)['n'], 1)
        self.assertEqual(v.distinct('team'), ['a', 'b'])
        self.assertEqual(v.distinct('tags'), ['x', 'y'])
        self.assertEqual(v.distinct('name', {'team': 'a'}), ['ada', 'cy'])

    def test_view_on_view(self):
        self.db.create_collection('a_adults', viewOn='adults',
                                  pipeline=[{'$match': {'team': 'a'}}])
        self.assertEqual(sorted(d['_id'] for d in self.db.a_adults.find()), [1, 3])
        self.assertEqual(self.db.a_adults.count_documents({}), 2)

    def test_view_on_missing_collection(self):
        self.db.create_collection('ghost', viewOn='nothing_here', pipeline=[])
        self.assertEqual(list(self.db.ghost.find()), [])

    def test_lookup_union_graph_facet(self):
        self.db.teams.insert_many([{'_id': 'a'}, {'_id': 'b'}])
        got = list(self.db.teams.aggregate([
            {'$lookup': {'from': 'adults', 'localField': '_id', 'foreignField': 'team',
                         'as': 'people'}},
            {'$project': {'n': {'$size': '$people'}}}, {'$sort': {'_id': 1}}]))
        self.assertEqual(got, [{'_id': 'a', 'n': 2}, {'_id': 'b', 'n': 1}])
        got = list(self.db.teams.aggregate([{'$unionWith': 'adults'}, {'$count': 'n'}]))
        self.assertEqual(got, [{'n': 5}])
        got = list(self.db.teams.aggregate([
            {'$match': {'_id': 'a'}},
            {'$graphLookup': {'from': 'adults', 'startWith': '$_id', 'connectFromField': 'x',
                              'connectToField': 'team', 'as': 'found'}},
            {'$project': {'n': {'$size': '$found'}}}]))
        self.assertEqual(got, [{'_id': 'a', 'n': 2}])
        got = list(self.db.adults.aggregate([{'$facet': {'n': [{'$count': 'n'}]}}]))
        self.assertEqual(got, [{'n': [{'n': 3}]}])

    def test_view_with_lookup_of_a_view(self):
        self.db.teams.insert_many([{'_id': 'a'}, {'_id': 'b'}])
        self.db.create_collection('team_people', viewOn='teams', pipeline=[
            {'$lookup': {'from': 'adults', 'localField': '_id', 'foreignField': 'team',
                         'as': 'people'}}])
        got = {d['_id']: len(d['people']) for d in self.db.team_people.find()}
        self.assertEqual(got, {'a': 2, 'b': 1})

    # ---- catalog ----

    def test_list_collections(self):
        infos = {c['name']: c for c in self.db.list_collections()}
        self.assertEqual(infos['adults']['type'], 'view')
        self.assertEqual(infos['adults']['options']['viewOn'], 'src')
        self.assertEqual(len(infos['adults']['options']['pipeline']), 2)
        self.assertTrue(infos['adults']['info']['readOnly'])
        self.assertEqual(infos['src']['type'], 'collection')
        names = [c['name'] for c in self.db.list_collections(filter={'type': 'view'})]
        self.assertEqual(names, ['adults'])
        self.assertIn('adults', self.db.list_collection_names())
        self.assertNotIn('__ferret.views', self.db.list_collection_names())
        nameonly = self.db.command('listCollections', nameOnly=True,
                                   filter={'name': 'adults'})['cursor']['firstBatch']
        self.assertEqual(nameonly, [{'name': 'adults', 'type': 'view'}])

    def test_drop(self):
        reply = self.db.command('drop', 'adults')
        self.assertEqual(reply['ns'], DB + '.adults')
        self.assertNotIn('adults', self.db.list_collection_names())
        self.assertEqual(self.db.src.count_documents({}), 4)
        # The name is free again, for a collection.
        self.db.adults.insert_one({'_id': 9})
        self.assertEqual(self.db.adults.count_documents({}), 1)

    def test_drop_database(self):
        other = self.client['it_views_dropdb']
        other.c.insert_one({})
        other.create_collection('v', viewOn='c', pipeline=[])
        self.client.drop_database('it_views_dropdb')
        self.assertEqual(other.list_collection_names(), [])
        other.v.insert_one({'_id': 1})  # a collection now
        self.assertEqual(other.v.find_one(), {'_id': 1})
        self.client.drop_database('it_views_dropdb')

    def test_coll_mod(self):
        self.db.command('collMod', 'adults', viewOn='src', pipeline=[{'$match': {'age': {'$lt': 18}}}])
        self.assertEqual([d['_id'] for d in self.db.adults.find()], [2])
        info = self.db.command('listCollections', filter={'name': 'adults'})['cursor']['firstBatch'][0]
        self.assertEqual(info['options']['pipeline'], [{'$match': {'age': {'$lt': 18}}}])
        self.assertCode(72, self.db.command, 'collMod', 'adults', viewOn='src')
        self.assertCode(72, self.db.command, 'collMod', 'src', viewOn='x', pipeline=[])

    def test_create_same_view_again(self):
        self.db.command('create', 'adults', viewOn='src',
                        pipeline=[{'$match': {'age': {'$gte': 18}}}, {'$project': {'secret': 0}}])
        self.assertCode(48, self.db.command, 'create', 'adults', viewOn='src', pipeline=[])

    # ---- refusals ----

    def test_writes_refused(self):
        v = self.db.adults
        e = self.assertCode(166, v.insert_one, {'_id': 7})
        self.assertEqual(e.details['errmsg'], 'Namespace it_views.adults is a view, not a collection')
        self.assertCode(166, v.update_one, {}, {'$set': {'a': 1}})
        self.assertCode(166, v.delete_many, {})
        self.assertCode(166, v.find_one_and_update, {}, {'$set': {'a': 1}})
        e = self.assertCode(166, v.create_index, 'a')
        self.assertEqual(e.details['errmsg'], 'Cannot create indexes on a view: it_views.adults')
        self.assertCode(166, v.drop_index, 'a_1')
        self.assertCode(166, lambda: list(v.list_indexes()))
        self.assertEqual(self.db.src.count_documents({}), 4)

    def test_bulk_write_refused(self):
        """bulkWrite refuses each operation on a view (166) as that operation's error."""
        ops = [{'insert': 0, 'document': {'_id': 7}},
               {'insert': 1, 'document': {'_id': 7}},
               {'update': 0, 'filter': {}, 'updateMods': {'$set': {'a': 1}}},
               {'delete': 0, 'filter': {}}]
        r = self.client.admin.command(SON([
            ('bulkWrite', 1), ('ops', ops), ('ordered', False),
            ('nsInfo', [{'ns': DB + '.adults'}, {'ns': DB + '.src'}])]))
        self.assertEqual((r['nErrors'], r['nInserted'], r['nModified'], r['nDeleted']),
                         (3, 1, 0, 0))
        res = r['cursor']['firstBatch']
        self.assertEqual([(x['idx'], x['ok'], x.get('code')) for x in res],
                         [(0, 0, 166), (1, 1, None), (2, 0, 166), (3, 0, 166)])
        self.assertEqual(res[0]['errmsg'], 'Namespace it_views.adults is a view, not a collection')
        self.assertEqual(self.db.src.count_documents({}), 5)
        r = self.client.admin.command(SON([
            ('bulkWrite', 1), ('ops', ops), ('nsInfo', [{'ns': DB + '.adults'}, {'ns': DB + '.src'}])]))
        self.assertEqual((r['nErrors'], [x['idx'] for x in r['cursor']['firstBatch']]), (1, [0]))

    def test_out_to_view_refused(self):
        self.assertCode(166, lambda: list(self.db.src.aggregate([{'$out': 'adults'}])))

    def test_names_shared(self):
        self.assertCode(48, self.db.command, 'create', 'adults')
        self.assertCode(48, self.db.command, 'create', 'src', viewOn='adults', pipeline=[])

    def test_rename(self):
        self.assertCode(166, self.client.admin.command, 'renameCollection', DB + '.adults',
                        to=DB + '.grown')
        self.db.other.insert_one({})
        self.assertCode(48, self.client.admin.command, 'renameCollection', DB + '.other',
                        to=DB + '.adults', dropTarget=True)

    def test_bad_definitions(self):
        self.assertCode(157, self.db.command, 'create', 'w', viewOn='src',
                        pipeline=[{'$out': 'x'}])
        self.assertCode(157, self.db.command, 'create', 'w', viewOn='src',
                        pipeline=[{'$merge': {'into': 'x'}}])
        self.assertCode(40324, self.db.command, 'create', 'w', viewOn='src',
                        pipeline=[{'$nope': {}}])
        self.assertCode(14, self.db.command, 'create', 'w', viewOn=1, pipeline=[])
        self.assertCode(14, self.db.command, 'create', 'w', viewOn='src', pipeline={})
        self.assertCode(72, self.db.command, 'create', 'w', pipeline=[])
        self.assertCode(72, self.db.command, 'create', 'w', viewOn='src', capped=True)
        self.assertCode(2, self.db.command, 'create', 'w', viewOn='', pipeline=[])
        self.assertNotIn('w', self.db.list_collection_names())

    def test_cycles(self):
        self.assertCode(5, self.db.command, 'create', 'selfish', viewOn='selfish', pipeline=[])
        self.db.create_collection('v1', viewOn='src', pipeline=[])
        self.db.create_collection('v2', viewOn='v1', pipeline=[])
        self.assertCode(5, self.db.command, 'collMod', 'v1', viewOn='v2', pipeline=[])
        self.assertCode(5, self.db.command, 'collMod', 'v1', viewOn='src',
                        pipeline=[{'$lookup': {'from': 'v2', 'localField': 'a',
                                               'foreignField': 'a', 'as': 'b'}}])
        self.assertEqual(self.db.v2.count_documents({}), 4)

    def test_depth_limit(self):
        previous = 'src'
        for i in range(20):
            self.db.create_collection('d%d' % i, viewOn=previous, pipeline=[])
            previous = 'd%d' % i
        self.assertEqual(self.db.d19.count_documents({}), 4)
        self.assertCode(149, self.db.command, 'create', 'd20', viewOn='d19', pipeline=[])

    def test_collation(self):
        self.db.create_collection('simple', viewOn='src', pipeline=[],
                                  collation={'locale': 'simple'})
        info = self.db.command('listCollections', filter={'name': 'simple'})['cursor']['firstBatch'][0]
        self.assertEqual(info['options']['collation'], {'locale': 'simple'})


if __name__ == '__main__':
    harness.main()
