#!/usr/bin/env python3
"""pymongo's everyday administrative surface: create_collection with options, listing
collections with a filter, indexes (list, information, drop), find options drivers send
(hint, max_time_ms, comment, allow_disk_use, batch size), rename, dbStats/collStats with a
scale, validate, server_info, and the standalone answers for profiling, replication and
change streams.
"""

import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

pymongo = harness.import_pymongo()
from pymongo import ASCENDING, DESCENDING  # noqa: E402
from pymongo.errors import CollectionInvalid, OperationFailure  # noqa: E402

DB = 'it_clients'


def setUpModule():
    harness.start_module_server()


def tearDownModule():
    harness.stop_module_server()


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = harness.server.client()
        cls.db = cls.client[DB]

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def coll(self, suffix=''):
        name = self.id().split('.')[-1] + suffix
        c = self.db[name]
        c.drop()
        return c


class TestCollections(Base):
    def test_create_collection_with_options(self):
        self.db.drop_collection('capped_opts')
        c = self.db.create_collection('capped_opts', capped=True, size=65536, max=50)
        self.assertEqual(c.name, 'capped_opts')
        self.assertEqual(c.options(), {'capped': True, 'size': 65536, 'max': 50})
        with self.assertRaises(CollectionInvalid):
            self.db.create_collection('capped_opts')
        with self.assertRaises(OperationFailure) as cm:
            self.db.create_collection('capped_no_size', capped=True)
        self.assertEqual(cm.exception.code, 72)
        self.assertNotIn('capped_no_size', self.db.list_collection_names())
        stats = self.db.command('collStats', 'capped_opts')
        self.assertTrue(stats['capped'])
        self.assertEqual(stats['max'], 50)

    def test_list_collection_names_with_filter(self):
        for name in ('lf_alpha', 'lf_beta', 'other_gamma'):
            self.db.drop_collection(name)
            self.db.create_collection(name)
        names = self.db.list_collection_names(filter={'name': {'$regex': '^lf_'}})
        self.assertEqual(sorted(names), ['lf_alpha', 'lf_beta'])
        self.assertEqual(self.db.list_collection_names(filter={'name': 'other_gamma'}),
                         ['other_gamma'])
        infos = list(self.db.list_collections(filter={'name': 'lf_alpha'}))
        self.assertEqual(len(infos), 1)
        self.assertEqual(infos[0]['type'], 'collection')
        r = self.db.command('listCollections', 1, filter={'name': 'lf_beta'}, nameOnly=True,
                            authorizedCollections=True)
        self.assertEqual(r['cursor']['firstBatch'], [{'name': 'lf_beta', 'type': 'collection'}])

    def test_rename(self):
        src = self.coll('_src')
        dst = self.coll('_dst')
        src.insert_many([{'_id': i} for i in range(5)])
        src.create_index('x', name='x_1')
        src.rename(dst.name)
        self.assertNotIn(src.name, self.db.list_collection_names())
        self.assertEqual(dst.count_documents({}), 5)
        self.assertIn('x_1', dst.index_information())
        src.insert_one({'_id': 1})
        with self.assertRaises(OperationFailure) as cm:
            src.rename(dst.name)
        self.assertEqual(cm.exception.code, 48)
        src.rename(dst.name, dropTarget=True)
        self.assertEqual(dst.count_documents({}), 1)

    def test_drop_reply(self):
        c = self.coll()
        c.insert_one({'_id': 1})
        c.create_index('a')
        r = self.db.command('drop', c.name)
        self.assertEqual(r['ns'], '%s.%s' % (DB, c.name))
        self.assertEqual(r['nIndexesWas'], 2)


class TestIndexes(Base):
    def test_list_information_drop(self):
        c = self.coll()
        c.insert_many([{'_id': i, 'a': i % 3, 'b': str(i)} for i in range(20)])
        self.assertEqual(c.create_index([('a', ASCENDING), ('b', DESCENDING)], name='ab'), 'ab')
        self.assertEqual(c.create_index('b', unique=True), 'b_1')
        self.assertEqual([ix['name'] for ix in c.list_indexes()], ['_id_', 'ab', 'b_1'])
        info = c.index_information()
        self.assertEqual(info['ab']['key'], [('a', 1), ('b', -1)])
        self.assertTrue(info['b_1']['unique'])
        c.drop_indexes()
        self.assertEqual(list(c.index_information()), ['_id_'])

    def test_parallel_builds_in_a_new_database(self):
        # What an ODM does at start-up: every model's indexes at once, on a database whose
        # index catalog does not exist yet (regression: WriteConflict on postgres).
        for round_no in range(3):
            db = self.client['%s_par%d' % (DB, round_no)]
            self.client.drop_database(db.name)
            errors = []

            def build(n):
                try:
                    client = harness.server.client()
                    try:
                        client[db.name]['c%d' % n].create_index('k%d' % n, unique=n % 2 == 0)
                    finally:
                        client.close()
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(e)

            threads = [threading.Thread(target=build, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(errors, [])
            for n in range(8):
                self.assertIn('k%d_1' % n, db['c%d' % n].index_information())
            self.client.drop_database(db.name)

    def test_coll_mod_index(self):
        c = self.coll()
        c.create_index('t', expireAfterSeconds=100)
        r = self.db.command('collMod', c.name, index={'name': 't_1', 'expireAfterSeconds': 5})
        self.assertEqual((r['expireAfterSeconds_old'], r['expireAfterSeconds_new']), (100, 5))
        r = self.db.command('collMod', c.name, index={'keyPattern': {'t': 1}, 'hidden': True})
        self.assertEqual((r['hidden_old'], r['hidden_new']), (False, True))
        info = c.index_information()['t_1']
        self.assertEqual((info['expireAfterSeconds'], info['hidden']), (5, True))
        with self.assertRaises(OperationFailure) as cm:
            self.db.command('collMod', c.name, index={'name': 'missing', 'hidden': True})
        self.assertEqual(cm.exception.code, 27)
        with self.assertRaises(OperationFailure) as cm:
            self.db.command('collMod', 'no_such_collection', index={'name': 't_1', 'hidden': 1})
        self.assertEqual(cm.exception.code, 26)
        # A validator set by collMod applies to the next writes (test_validation.py has more).
        self.db.command('collMod', c.name, validator={'t': {'$exists': True}})
        with self.assertRaises(OperationFailure) as cm:
            c.insert_one({'u': 1})
        self.assertEqual(cm.exception.code, 121)
        with self.assertRaises(OperationFailure) as cm:
            self.db.command('collMod', c.name, bogus=1)
        self.assertEqual(cm.exception.code, 40415)
        self.assertEqual(self.db.command('collMod', c.name)['ok'], 1.0)


class TestFind(Base):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.items = cls.db['find_items']
        cls.items.drop()
        cls.items.insert_many([{'_id': i, 'a': i % 10, 'b': 'v%03d' % i} for i in range(250)])
        cls.items.create_index([('a', 1), ('b', -1)], name='ab')

    def test_hint_max_time_comment_disk_use(self):
        self.assertEqual(len(list(self.items.find({'a': 1}).hint('ab'))), 25)
        self.assertEqual(len(list(self.items.find({'a': 1}).hint([('a', 1), ('b', -1)]))), 25)
        self.assertEqual(len(list(self.items.find({}).max_time_ms(5000))), 250)
        self.assertEqual(len(list(self.items.find({'a': 2}).comment('from the test'))), 25)
        docs = list(self.items.find({}, allow_disk_use=True).sort('b', -1).limit(3))
        self.assertEqual([d['_id'] for d in docs], [249, 248, 247])

    def test_batches(self):
        cursor = self.items.find({}, batch_size=7).sort('_id', 1)
        seen = [d['_id'] for d in cursor]
        self.assertEqual(seen, list(range(250)))
        batches = self.db.command('find', self.items.name, batchSize=7)
        self.assertEqual(len(batches['cursor']['firstBatch']), 7)
        self.assertNotEqual(batches['cursor']['id'], 0)
        self.db.command('killCursors', self.items.name, cursors=[batches['cursor']['id']])


class TestStats(Base):
    def test_db_stats_scale(self):
        c = self.coll()
        c.insert_many([{'_id': i, 'pad': 'x' * 200} for i in range(50)])
        plain = self.db.command('dbStats')
        self.assertEqual(plain['db'], DB)
        self.assertEqual(plain['scaleFactor'], 1)
        self.assertGreaterEqual(plain['objects'], 50)
        scaled = self.db.command('dbStats', scale=1024)
        self.assertEqual(scaled['scaleFactor'], 1024)
        self.assertAlmostEqual(scaled['dataSize'], plain['dataSize'] / 1024.0)
        self.assertEqual(scaled['storageSize'], plain['storageSize'] // 1024)
        with self.assertRaises(OperationFailure) as cm:
            self.db.command('dbStats', scale=0)
        self.assertEqual(cm.exception.code, 51024)

    def test_coll_stats_and_data_size(self):
        c = self.coll()
        c.insert_many([{'_id': i, 'pad': 'x' * 100} for i in range(30)])
        c.create_index('pad', unique=False)
        stats = self.db.command('collStats', c.name)
        self.assertEqual(stats['count'], 30)
        self.assertEqual(stats['nindexes'], 2)
        self.assertEqual(sorted(stats['indexSizes']), ['_id_', 'pad_1'])
        self.assertFalse(stats['capped'])
        kb = self.db.command('collStats', c.name, scale=1024)
        self.assertEqual(kb['size'], stats['size'] // 1024)
        size = self.db.command('dataSize', '%s.%s' % (DB, c.name))
        self.assertEqual((size['numObjects'], size['size']), (30, stats['size']))
        part = self.db.command('dataSize', '%s.%s' % (DB, c.name), keyPattern={'_id': 1},
                               min={'_id': 10}, max={'_id': 20})
        self.assertEqual(part['numObjects'], 10)

    def test_validate(self):
        c = self.coll()
        c.insert_many([{'_id': i, 'u': i, 'tags': [i, i + 100]} for i in range(40)])
        c.create_index('u', unique=True)
        c.create_index('tags')
        r = self.db.validate_collection(c.name)
        self.assertTrue(r['valid'])
        self.assertEqual(r['nrecords'], 40)
        self.assertEqual(r['nIndexes'], 3)
        self.assertEqual(r['keysPerIndex'], {'_id_': 40, 'u_1': 40, 'tags_1': 80})
        self.assertEqual(r['errors'], [])
        with self.assertRaises(OperationFailure) as cm:
            self.db.validate_collection('no_such_collection')
        self.assertEqual(cm.exception.code, 26)


class TestServer(Base):
    def test_server_info_and_standalone_answers(self):
        info = self.client.server_info()
        self.assertGreaterEqual(info['versionArray'][0], 7)
        self.assertEqual(info['version'], '.'.join(str(n) for n in info['versionArray'][:3]))
        fcv = '%d.%d' % tuple(info['versionArray'][:2])
        status = self.client.admin.command('serverStatus')
        self.assertGreaterEqual(status['connections']['current'], 1)
        self.assertIn('storageEngine', status)
        self.assertEqual(self.db.command('profile', -1)['was'], 0)
        with self.assertRaises(OperationFailure) as cm:
            self.db.command('profile', 1)
        self.assertEqual(cm.exception.code, 115)
        with self.assertRaises(OperationFailure) as cm:
            self.client.admin.command('replSetGetStatus')
        self.assertEqual(cm.exception.code, 76)
        self.assertEqual(cm.exception.details['codeName'], 'NoReplicationEnabled')
        ops = self.client.admin.command('currentOp')
        self.assertEqual(len(ops['inprog']), 1)
        self.assertEqual(ops['inprog'][0]['command']['currentOp'], 1)
        none = self.client.admin.command('currentOp', ns='nothing.here')
        self.assertEqual(none['inprog'], [])
        params = self.client.admin.command('getParameter', '*')
        self.assertEqual(params['featureCompatibilityVersion'], {'version': fcv})

    def test_watch_fails_cleanly(self):
        c = self.coll()
        c.insert_one({'_id': 1})
        with self.assertRaises(OperationFailure) as cm:
            with c.watch():
                pass
        # What a standalone mongod answers.
        self.assertEqual(cm.exception.code, 40573)
        self.assertIn('$changeStream', str(cm.exception))
        self.assertEqual(c.count_documents({}), 1)

    def test_current_op_stage(self):
        ops = list(self.client.admin.aggregate([{'$currentOp': {'allUsers': True}},
                                                {'$match': {'op': 'command'}},
                                                {'$project': {'active': 1, 'pipeline':
                                                              '$command.pipeline'}}]))
        self.assertEqual(len(ops), 1)
        self.assertTrue(ops[0]['active'])
        self.assertEqual(list(ops[0]['pipeline'][0]), ['$currentOp'])
        none = list(self.client.admin.aggregate([{'$currentOp': {}}, {'$match': {'op': 'x'}}]))
        self.assertEqual(none, [])
        for pipeline, db, code in [
            ([{'$currentOp': {}}], self.client[DB], 73),  # admin only
            ([{'$match': {}}, {'$currentOp': {}}], self.client.admin, 40602),  # first only
            ([{'$currentOp': 1}], self.client.admin, 9),
        ]:
            with self.subTest(pipeline=pipeline):
                with self.assertRaises(OperationFailure) as cm:
                    list(db.aggregate(pipeline))
                self.assertEqual(cm.exception.code, code)


if __name__ == '__main__':
    harness.main()
