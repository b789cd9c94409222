#!/usr/bin/env python3
"""Everyday pymongo usage against a real ferretd: server info, namespaces, CRUD, errors.

One server per run of this file; each test uses its own collection so tests do not interact.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

pymongo = harness.import_pymongo()
from bson import Int64, ObjectId  # noqa: E402
from pymongo import ReturnDocument  # noqa: E402
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure  # noqa: E402

DB = 'it_crud'


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

    def coll(self):
        """A fresh, empty collection named after the test."""
        name = self.id().split('.')[-1]
        c = self.db[name]
        c.drop()
        return c


class TestServerInfo(Base):
    def test_ping(self):
        self.assertEqual(self.client.admin.command('ping')['ok'], 1.0)

    def test_hello(self):
        r = self.client.admin.command('hello')
        self.assertEqual(r['ok'], 1.0)
        self.assertIs(r['isWritablePrimary'], True)
        self.assertIsInstance(r['maxWireVersion'], int)
        self.assertGreaterEqual(r['maxWireVersion'], 6)    # OP_MSG
        self.assertLessEqual(r['minWireVersion'], r['maxWireVersion'])
        self.assertEqual(r['maxBsonObjectSize'], 16 * 1024 * 1024)
        self.assertEqual(r['maxMessageSizeBytes'], 48000000)
        self.assertGreater(r['maxWriteBatchSize'], 0)
        self.assertIn('localTime', r)
        self.assertIn('connectionId', r)

    def test_is_master_legacy(self):
        r = self.client.admin.command('isMaster')
        self.assertEqual(r['ok'], 1.0)
        self.assertIs(r['ismaster'], True)

    def test_server_info(self):
        info = self.client.server_info()
        self.assertEqual(info['ok'], 1.0)
        self.assertIsInstance(info['version'], str)
        self.assertRegex(info['version'], r'^\d+\.\d+')
        self.assertIsInstance(info['versionArray'], list)

    def test_misc_admin_commands(self):
        for cmd in ('buildInfo', 'hostInfo', 'whatsmyuri', 'connectionStatus', 'getCmdLineOpts'):
            with self.subTest(cmd=cmd):
                self.assertEqual(self.client.admin.command(cmd)['ok'], 1.0)
        r = self.client.admin.command('getParameter', '*')
        self.assertEqual(r['ok'], 1.0)
        r = self.client.admin.command('whatsmyuri')
        self.assertRegex(r['you'], r'^127\.0\.0\.1:\d+$')
        r = self.client.admin.command('getLog', 'startupWarnings')
        self.assertEqual(r['ok'], 1.0)
        self.assertIsInstance(r['log'], list)

    def test_buildinfo_on_any_db(self):
        r = self.client['anydb'].command('buildinfo')
        self.assertEqual(r['ok'], 1.0)
        self.assertIn('version', r)


class TestNamespaces(Base):
    def test_create_list_drop_collection(self):
        db = self.client['it_ns1']
        self.client.drop_database(db)
        db.create_collection('alpha')
        db.create_collection('beta')
        names = sorted(db.list_collection_names())
        self.assertEqual(names, ['alpha', 'beta'])
        infos = {c['name']: c for c in db.list_collections()}
        self.assertEqual(infos['alpha']['type'], 'collection')
        listed = list(db.list_collections(filter={'name': 'beta'}))
        self.assertEqual([c['name'] for c in listed], ['beta'])
        db.drop_collection('alpha')
        self.assertEqual(db.list_collection_names(), ['beta'])
        self.client.drop_database(db)

    def test_create_existing_collection_fails(self):
        db = self.client['it_ns2']
        self.client.drop_database(db)
        db.create_collection('c')
        with self.assertRaises(OperationFailure) as cm:
            db.command('create', 'c')
        self.assertEqual(cm.exception.code, 48)                 # NamespaceExists
        self.client.drop_database(db)

    def test_drop_missing_collection(self):
        db = self.client['it_ns3']
        # MongoDB 7 answers ok; older ones NamespaceNotFound (26). Either way nothing breaks.
        try:
            r = db.command('drop', 'nothere')
            self.assertEqual(r['ok'], 1.0)
        except OperationFailure as e:
            self.assertEqual(e.code, 26)
        self.assertEqual(db.command('ping')['ok'], 1.0)

    def test_insert_creates_collection_and_database(self):
        self.client.drop_database('it_ns4')
        self.assertNotIn('it_ns4', self.client.list_database_names())
        self.client.it_ns4.things.insert_one({'x': 1})
        self.assertIn('it_ns4', self.client.list_database_names())
        self.assertIn('things', self.client.it_ns4.list_collection_names())
        dbs = self.client.admin.command('listDatabases')
        self.assertEqual(dbs['ok'], 1.0)
        entry = [d for d in dbs['databases'] if d['name'] == 'it_ns4']
        self.assertEqual(len(entry), 1)
        self.assertIn('sizeOnDisk', entry[0])
        self.assertIn('empty', entry[0])
        self.client.drop_database('it_ns4')
        self.assertNotIn('it_ns4', self.client.list_database_names())
        self.assertEqual(self.client.it_ns4.things.count_documents({}), 0)

    def test_name_only(self):
        db = self.client['it_ns5']
        self.client.drop_database(db)
        db.create_collection('one')
        r = db.command('listCollections', nameOnly=True)
        batch = r['cursor']['firstBatch']
        self.assertEqual([c['name'] for c in batch], ['one'])
        self.client.drop_database(db)


class TestInsert(Base):
    def test_insert_one_assigns_objectid(self):
        c = self.coll()
        r = c.insert_one({'a': 1})
        self.assertIsInstance(r.inserted_id, ObjectId)
        self.assertTrue(r.acknowledged)
        doc = c.find_one({'_id': r.inserted_id})
        self.assertEqual(doc, {'_id': r.inserted_id, 'a': 1})

    def test_insert_many_types(self):
        c = self.coll()
        docs = [{'_id': i, 'i32': i, 'i64': Int64(i * 10 ** 10), 'd': i / 2, 's': 'v%d' % i,
                 'arr': [i, [i]], 'sub': {'k': i}, 'b': i % 2 == 0, 'n': None}
                for i in range(50)]
        r = c.insert_many(docs)
        self.assertEqual(r.inserted_ids, list(range(50)))
        got = list(c.find().sort('_id', 1))
        self.assertEqual(got, docs)
        self.assertIsInstance(got[3]['i64'], Int64)

    def test_field_order_preserved(self):
        c = self.coll()
        c.insert_one({'z': 1, '_id': 5, 'a': 2, 'm': 3})
        doc = c.find_one({'_id': 5})
        # MongoDB moves _id first and keeps the rest in insertion order.
        self.assertEqual(list(doc.keys()), ['_id', 'z', 'a', 'm'])

    def test_insert_many_split_by_driver(self):
        # 60 MB of documents: the driver splits them at maxMessageSizeBytes (48,000,000), so
        # the server receives near-maximum OP_MSG document sequences.
        c = self.coll()
        blob = 'z' * (1024 * 1024 - 64)
        r = c.insert_many([{'_id': i, 'blob': blob} for i in range(60)])
        self.assertEqual(len(r.inserted_ids), 60)
        self.assertEqual(c.count_documents({}), 60)
        self.assertEqual(c.find_one({'_id': 59})['blob'], blob)
        c.drop()

    def test_duplicate_key_single(self):
        c = self.coll()
        c.insert_one({'_id': 'k'})
        with self.assertRaises(DuplicateKeyError) as cm:
            c.insert_one({'_id': 'k', 'other': 1})
        self.assertEqual(cm.exception.code, 11000)
        self.assertEqual(c.count_documents({}), 1)
        self.assertEqual(c.find_one({'_id': 'k'}), {'_id': 'k'})

    def test_insert_many_ordered_duplicate(self):
        c = self.coll()
        docs = [{'_id': 1}, {'_id': 2}, {'_id': 1}, {'_id': 3}]
        with self.assertRaises(BulkWriteError) as cm:
            c.insert_many(docs, ordered=True)
        det = cm.exception.details
        self.assertEqual(det['nInserted'], 2)
        self.assertEqual(len(det['writeErrors']), 1)
        we = det['writeErrors'][0]
        self.assertEqual(we['index'], 2)
        self.assertEqual(we['code'], 11000)
        self.assertEqual(we.get('keyValue'), {'_id': 1})
        self.assertIn('E11000', we['errmsg'])
        self.assertEqual(sorted(d['_id'] for d in c.find()), [1, 2])

    def test_insert_many_unordered_duplicates(self):
        c = self.coll()
        c.insert_one({'_id': 0})
        docs = [{'_id': 0}, {'_id': 1}, {'_id': 1}, {'_id': 2}, {'_id': 0}, {'_id': 3}]
        with self.assertRaises(BulkWriteError) as cm:
            c.insert_many(docs, ordered=False)
        det = cm.exception.details
        self.assertEqual(det['nInserted'], 3)
        self.assertEqual([e['index'] for e in det['writeErrors']], [0, 2, 4])
        self.assertTrue(all(e['code'] == 11000 for e in det['writeErrors']))
        self.assertEqual([e.get('keyValue') for e in det['writeErrors']],
                         [{'_id': 0}, {'_id': 1}, {'_id': 0}])
        self.assertEqual(sorted(d['_id'] for d in c.find()), [0, 1, 2, 3])

    def test_numeric_ids_collide_across_types(self):
        c = self.coll()
        c.insert_one({'_id': 1})
        # 1, 1L and 1.0 are the same _id to MongoDB.
        for dup in (Int64(1), 1.0):
            with self.subTest(dup=repr(dup)):
                with self.assertRaises(DuplicateKeyError):
                    c.insert_one({'_id': dup})
        self.assertEqual(c.count_documents({}), 1)

    def test_id_must_not_be_array(self):
        c = self.coll()
        with self.assertRaises((OperationFailure, BulkWriteError)) as cm:
            c.insert_one({'_id': [1, 2]})
        self.assertEqual(c.count_documents({}), 0)
        del cm


class TestFind(Base):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.c = cls.db['find_fixture']
        cls.c.drop()
        cls.docs = [
            {'_id': 1, 'name': 'ant', 'n': 1, 'tags': ['a', 'b'], 'sub': {'x': 1, 'y': 'p'}},
            {'_id': 2, 'name': 'bee', 'n': 2.5, 'tags': ['b'], 'sub': {'x': 2}},
            {'_id': 3, 'name': 'cat', 'n': Int64(3), 'tags': [], 'sub': {'x': 3, 'y': 'q'}},
            {'_id': 4, 'name': 'dog', 'n': None, 'tags': ['c', 'a']},
            {'_id': 5, 'name': 'eel', 'sub': {'x': [4, 5]}},
            {'_id': 6, 'name': 'fox', 'n': 'six', 'tags': 'a'},
        ]
        cls.c.insert_many(cls.docs)

    def ids(self, flt, **kw):
        return sorted(d['_id'] for d in self.c.find(flt, **kw))

    def test_all(self):
        self.assertEqual(self.ids({}), [1, 2, 3, 4, 5, 6])

    def test_equality(self):
        self.assertEqual(self.ids({'name': 'cat'}), [3])
        self.assertEqual(self.ids({'n': 3}), [3])             # int matches long
        self.assertEqual(self.ids({'n': 2.5}), [2])
        self.assertEqual(self.ids({'name': 'nobody'}), [])

    def test_null_matches_missing(self):
        self.assertEqual(self.ids({'n': None}), [4, 5])
        self.assertEqual(self.ids({'n': {'$exists': False}}), [5])

    def test_array_element_match(self):
        self.assertEqual(self.ids({'tags': 'a'}), [1, 4, 6])
        self.assertEqual(self.ids({'tags': ['b']}), [2])
        self.assertEqual(self.ids({'tags': []}), [3])

    def test_comparisons(self):
        self.assertEqual(self.ids({'n': {'$gt': 1}}), [2, 3])
        self.assertEqual(self.ids({'n': {'$gte': 1, '$lt': 3}}), [1, 2])
        self.assertEqual(self.ids({'n': {'$lte': 2.5}}), [1, 2])
        self.assertEqual(self.ids({'n': {'$ne': 1}}), [2, 3, 4, 5, 6])
        self.assertEqual(self.ids({'name': {'$gt': 'cat'}}), [4, 5, 6])   # no cross-type

    def test_in_nin(self):
        self.assertEqual(self.ids({'name': {'$in': ['ant', 'eel', 'zzz']}}), [1, 5])
        self.assertEqual(self.ids({'n': {'$in': [3.0, None]}}), [3, 4, 5])
        self.assertEqual(self.ids({'name': {'$nin': ['ant', 'bee']}}), [3, 4, 5, 6])

    def test_and_or_nor(self):
        self.assertEqual(self.ids({'$or': [{'name': 'ant'}, {'n': {'$gt': 2}}]}), [1, 2, 3])
        self.assertEqual(self.ids({'$and': [{'tags': 'a'}, {'tags': 'c'}]}), [4])
        self.assertEqual(self.ids({'$nor': [{'tags': 'a'}, {'n': None}]}), [2, 3])
        self.assertEqual(self.ids({'name': {'$ne': 'ant'}, '$or': [{'tags': 'b'}, {'_id': 6}]}),
                         [2, 6])

    def test_dotted_paths(self):
        self.assertEqual(self.ids({'sub.x': 2}), [2])
        self.assertEqual(self.ids({'sub.x': 5}), [5])          # array under the path
        self.assertEqual(self.ids({'sub.y': {'$exists': True}}), [1, 3])
        self.assertEqual(self.ids({'sub.x': {'$gte': 3}}), [3, 5])
        self.assertEqual(self.ids({'tags.0': 'c'}), [4])

    def test_regex(self):
        self.assertEqual(self.ids({'name': {'$regex': '^[a-c]'}}), [1, 2, 3])
        self.assertEqual(self.ids({'name': {'$regex': 'E', '$options': 'i'}}), [2, 5])

    def test_sort_skip_limit(self):
        got = [d['_id'] for d in self.c.find({}, sort=[('name', -1)])]
        self.assertEqual(got, [6, 5, 4, 3, 2, 1])
        got = [d['_id'] for d in self.c.find({}).sort('name', 1).skip(2).limit(3)]
        self.assertEqual(got, [3, 4, 5])
        # Mixed types sort by BSON type order: missing/null < numbers < strings.
        got = [d['_id'] for d in self.c.find({}).sort([('n', 1), ('_id', 1)])]
        self.assertEqual(got, [4, 5, 1, 2, 3, 6])
        got = [d['_id'] for d in self.c.find({}).sort('sub.x', -1).limit(1)]
        self.assertEqual(got, [5])

    def test_projection(self):
        d = self.c.find_one({'_id': 1}, {'name': 1})
        self.assertEqual(d, {'_id': 1, 'name': 'ant'})
        d = self.c.find_one({'_id': 1}, {'name': 1, '_id': 0})
        self.assertEqual(d, {'name': 'ant'})
        d = self.c.find_one({'_id': 1}, {'tags': 0, 'sub': 0})
        self.assertEqual(d, {'_id': 1, 'name': 'ant', 'n': 1})
        # _id alone is an inclusion projection.
        d = self.c.find_one({'_id': 1}, {'_id': 1})
        self.assertEqual(d, {'_id': 1})
        d = self.c.find_one({'_id': 1}, {'sub.y': 1})
        self.assertEqual(d, {'_id': 1, 'sub': {'y': 'p'}})

    def test_mixed_projection_rejected(self):
        with self.assertRaises(OperationFailure):
            self.c.find_one({}, {'name': 1, 'tags': 0})

    def test_count_documents(self):
        self.assertEqual(self.c.count_documents({}), 6)
        self.assertEqual(self.c.count_documents({'tags': 'a'}), 3)
        self.assertEqual(self.c.count_documents({'tags': 'a'}, skip=1, limit=1), 1)
        self.assertEqual(self.db.command('count', 'find_fixture', query={'n': {'$gt': 1}})['n'], 2)
        self.assertEqual(self.db.nosuchcollection.count_documents({}), 0)

    def test_distinct(self):
        self.assertEqual(sorted(self.c.distinct('name')),
                         ['ant', 'bee', 'cat', 'dog', 'eel', 'fox'])
        # Array values are unwound.
        self.assertEqual(sorted(self.c.distinct('tags')), ['a', 'b', 'c'])
        self.assertEqual(sorted(self.c.distinct('sub.x', {'_id': {'$lt': 4}})), [1, 2, 3])

    def test_find_missing_collection(self):
        self.assertEqual(list(self.db.does_not_exist.find({})), [])


class TestCursor(Base):
    N = 1500

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.c = cls.db['cursor_fixture']
        cls.c.drop()
        cls.c.insert_many([{'_id': i, 'v': i % 7, 'pad': 'x' * 100} for i in range(cls.N)])

    def test_iterate_all_default_batches(self):
        got = [d['_id'] for d in self.c.find({}, {'pad': 0}).sort('_id', 1)]
        self.assertEqual(got, list(range(self.N)))

    def test_small_batches_use_getmore(self):
        cur = self.c.find({'v': 3}).sort('_id', 1).batch_size(10)
        got = [d['_id'] for d in cur]
        self.assertEqual(got, [i for i in range(self.N) if i % 7 == 3])

    def test_raw_getmore_protocol(self):
        r = self.db.command('find', 'cursor_fixture', filter={}, sort={'_id': 1}, batchSize=100)
        cur = r['cursor']
        self.assertEqual(cur['ns'], DB + '.cursor_fixture')
        self.assertEqual(len(cur['firstBatch']), 100)
        self.assertNotEqual(cur['id'], 0)
        seen = [d['_id'] for d in cur['firstBatch']]
        cid = cur['id']
        while cid:
            r = self.db.command('getMore', cid, collection='cursor_fixture', batchSize=400)
            self.assertLessEqual(len(r['cursor']['nextBatch']), 400)
            seen += [d['_id'] for d in r['cursor']['nextBatch']]
            cid = r['cursor']['id']
        self.assertEqual(seen, list(range(self.N)))

    def test_kill_cursors(self):
        r = self.db.command('find', 'cursor_fixture', batchSize=5)
        cid = r['cursor']['id']
        self.assertNotEqual(cid, 0)
        k = self.db.command('killCursors', 'cursor_fixture', cursors=[cid])
        self.assertEqual(k['cursorsKilled'], [cid])
        with self.assertRaises(OperationFailure) as cm:
            self.db.command('getMore', cid, collection='cursor_fixture')
        self.assertEqual(cm.exception.code, 43)                  # CursorNotFound

    def test_limit_and_single_batch(self):
        got = list(self.c.find({}).sort('_id', -1).limit(250))
        self.assertEqual([d['_id'] for d in got], list(range(self.N - 1, self.N - 251, -1)))
        r = self.db.command('find', 'cursor_fixture', batchSize=3, singleBatch=True)
        self.assertEqual(r['cursor']['id'], 0)
        self.assertEqual(len(r['cursor']['firstBatch']), 3)

    def test_closed_cursor_is_released(self):
        cur = self.c.find({}).batch_size(2)
        next(cur)
        cur.close()
        self.assertEqual(self.c.count_documents({}), self.N)


class TestUpdate(Base):
    def test_update_one_set_unset_inc(self):
        c = self.coll()
        c.insert_many([{'_id': 1, 'a': 1, 'b': 'x'}, {'_id': 2, 'a': 1}])
        r = c.update_one({'a': 1}, {'$set': {'s': 'new', 'sub.k': 2}, '$inc': {'a': 5},
                                    '$unset': {'b': ''}})
        self.assertEqual((r.matched_count, r.modified_count), (1, 1))
        self.assertIsNone(r.upserted_id)
        self.assertEqual(c.find_one({'_id': 1}), {'_id': 1, 'a': 6, 's': 'new', 'sub': {'k': 2}})
        self.assertEqual(c.find_one({'_id': 2}), {'_id': 2, 'a': 1})

    def test_update_many(self):
        c = self.coll()
        c.insert_many([{'_id': i, 'g': i % 2, 'n': 0} for i in range(10)])
        r = c.update_many({'g': 1}, {'$inc': {'n': 2}})
        self.assertEqual((r.matched_count, r.modified_count), (5, 5))
        self.assertEqual(sorted(d['_id'] for d in c.find({'n': 2})), [1, 3, 5, 7, 9])
        r = c.update_many({'g': 1}, {'$set': {'n': 2}})        # no-op change
        self.assertEqual((r.matched_count, r.modified_count), (5, 0))

    def test_replace_one(self):
        c = self.coll()
        c.insert_one({'_id': 7, 'a': 1, 'b': 2})
        r = c.replace_one({'_id': 7}, {'c': 3})
        self.assertEqual((r.matched_count, r.modified_count), (1, 1))
        self.assertEqual(c.find_one({'_id': 7}), {'_id': 7, 'c': 3})

    def test_upsert(self):
        c = self.coll()
        r = c.update_one({'k': 'x'}, {'$set': {'v': 1}}, upsert=True)
        self.assertEqual(r.matched_count, 0)
        self.assertIsInstance(r.upserted_id, ObjectId)
        doc = c.find_one({'_id': r.upserted_id})
        self.assertEqual(doc, {'_id': r.upserted_id, 'k': 'x', 'v': 1})
        r = c.update_one({'k': 'x'}, {'$inc': {'v': 1}}, upsert=True)
        self.assertEqual((r.matched_count, r.modified_count, r.upserted_id), (1, 1, None))
        r = c.replace_one({'_id': 'given'}, {'z': 1}, upsert=True)
        self.assertEqual(r.upserted_id, 'given')
        self.assertEqual(c.find_one({'_id': 'given'}), {'_id': 'given', 'z': 1})
        self.assertEqual(c.count_documents({}), 2)

    def test_update_missing_collection_matches_nothing(self):
        r = self.db.not_there_upd.update_one({'a': 1}, {'$set': {'b': 1}})
        self.assertEqual((r.matched_count, r.modified_count), (0, 0))

    def test_update_id_immutable(self):
        c = self.coll()
        c.insert_one({'_id': 1, 'a': 1})
        with self.assertRaises(OperationFailure) as cm:
            c.update_one({'_id': 1}, {'$set': {'_id': 2}})
        self.assertEqual(cm.exception.code, 66)                  # ImmutableField
        self.assertEqual(c.find_one(), {'_id': 1, 'a': 1})

    def test_inc_non_numeric_fails(self):
        c = self.coll()
        c.insert_one({'_id': 1, 's': 'str'})
        with self.assertRaises(OperationFailure) as cm:
            c.update_one({'_id': 1}, {'$inc': {'s': 1}})
        self.assertEqual(cm.exception.code, 14)                  # TypeMismatch
        self.assertEqual(c.find_one(), {'_id': 1, 's': 'str'})

    def test_find_one_and_update(self):
        c = self.coll()
        c.insert_many([{'_id': 1, 'n': 1}, {'_id': 2, 'n': 5}])
        before = c.find_one_and_update({'n': {'$gt': 2}}, {'$inc': {'n': 1}})
        self.assertEqual(before, {'_id': 2, 'n': 5})
        after = c.find_one_and_update({'_id': 2}, {'$inc': {'n': 1}},
                                      return_document=ReturnDocument.AFTER)
        self.assertEqual(after, {'_id': 2, 'n': 7})
        none = c.find_one_and_update({'_id': 99}, {'$set': {'n': 0}})
        self.assertIsNone(none)
        up = c.find_one_and_update({'_id': 3}, {'$set': {'n': 0}}, upsert=True,
                                   return_document=ReturnDocument.AFTER)
        self.assertEqual(up, {'_id': 3, 'n': 0})
        first = c.find_one_and_update({}, {'$set': {'hit': True}}, sort=[('n', -1)],
                                      projection={'_id': 1},
                                      return_document=ReturnDocument.AFTER)
        self.assertEqual(first, {'_id': 2})
        self.assertEqual(c.find_one({'hit': True})['_id'], 2)

    def test_find_one_and_replace_and_delete(self):
        c = self.coll()
        c.insert_many([{'_id': 1, 'n': 1}, {'_id': 2, 'n': 2}])
        old = c.find_one_and_replace({'_id': 1}, {'m': 9})
        self.assertEqual(old, {'_id': 1, 'n': 1})
        self.assertEqual(c.find_one({'_id': 1}), {'_id': 1, 'm': 9})
        gone = c.find_one_and_delete({'n': 2})
        self.assertEqual(gone, {'_id': 2, 'n': 2})
        self.assertEqual(c.count_documents({}), 1)


class TestDelete(Base):
    def test_delete_one_and_many(self):
        c = self.coll()
        c.insert_many([{'_id': i, 'g': i % 3} for i in range(9)])
        r = c.delete_one({'g': 0})
        self.assertEqual(r.deleted_count, 1)
        self.assertEqual(c.count_documents({'g': 0}), 2)
        r = c.delete_many({'g': {'$in': [0, 1]}})
        self.assertEqual(r.deleted_count, 5)
        self.assertEqual(sorted(d['_id'] for d in c.find()), [2, 5, 8])
        r = c.delete_many({'g': 42})
        self.assertEqual(r.deleted_count, 0)
        r = c.delete_many({})
        self.assertEqual(r.deleted_count, 3)
        self.assertEqual(c.count_documents({}), 0)

    def test_delete_missing_collection(self):
        self.assertEqual(self.db.never_was.delete_many({}).deleted_count, 0)


class TestAggregate(Base):
    def test_basic_pipeline(self):
        c = self.coll()
        c.insert_many([{'_id': i, 'g': 'ab'[i % 2], 'v': i} for i in range(10)])
        got = list(c.aggregate([
            {'$match': {'v': {'$gte': 2}}},
            {'$group': {'_id': '$g', 'total': {'$sum': '$v'}, 'n': {'$sum': 1}}},
            {'$sort': {'_id': 1}},
        ]))
        self.assertEqual(got, [{'_id': 'a', 'total': 2 + 4 + 6 + 8, 'n': 4},
                               {'_id': 'b', 'total': 3 + 5 + 7 + 9, 'n': 4}])

    def test_project_skip_limit_count(self):
        c = self.coll()
        c.insert_many([{'_id': i, 'v': i} for i in range(20)])
        got = list(c.aggregate([{'$sort': {'v': -1}}, {'$skip': 2}, {'$limit': 3},
                                {'$project': {'_id': 0, 'v': 1}}]))
        self.assertEqual(got, [{'v': 17}, {'v': 16}, {'v': 15}])
        got = list(c.aggregate([{'$match': {'v': {'$lt': 5}}}, {'$count': 'k'}]))
        self.assertEqual(got, [{'k': 5}])

    def test_aggregate_large_result_uses_cursor(self):
        c = self.coll()
        c.insert_many([{'_id': i} for i in range(300)])
        got = [d['_id'] for d in c.aggregate([{'$sort': {'_id': 1}}], batchSize=50)]
        self.assertEqual(got, list(range(300)))

    def test_unknown_stage(self):
        c = self.coll()
        c.insert_one({'_id': 1})
        with self.assertRaises(OperationFailure) as cm:
            list(c.aggregate([{'$bogusStage': {}}]))
        self.assertEqual(cm.exception.code, 40324)                # Unrecognized pipeline stage


class TestErrors(Base):
    def test_transactions_are_refused_as_by_a_standalone_server(self):
        c = self.coll()
        with self.assertRaises(OperationFailure) as cm:
            self.db.command({'insert': c.name, 'documents': [{'_id': 1}], 'txnNumber': Int64(1)})
        self.assertEqual(cm.exception.code, 20)
        self.assertEqual(c.count_documents({}), 0)
        with self.assertRaises(OperationFailure) as cm:
            self.client.admin.command('commitTransaction')
        self.assertEqual(cm.exception.code, 20)

    def test_unknown_command(self):
        with self.assertRaises(OperationFailure) as cm:
            self.db.command('definitelyNotACommand')
        self.assertEqual(cm.exception.code, 59)
        self.assertEqual(cm.exception.details.get('codeName'), 'CommandNotFound')
        self.assertEqual(cm.exception.details.get('ok'), 0.0)
        self.assertIn('errmsg', cm.exception.details)

    def test_bad_query_operator(self):
        c = self.coll()
        c.insert_one({'a': 1})
        with self.assertRaises(OperationFailure) as cm:
            list(c.find({'a': {'$bogus': 1}}))
        self.assertEqual(cm.exception.code, 2)                    # BadValue
        self.assertIn('$bogus', str(cm.exception))

    def test_bad_update_operator(self):
        c = self.coll()
        c.insert_one({'_id': 1})
        with self.assertRaises(OperationFailure) as cm:
            c.update_one({'_id': 1}, {'$bogus': {'a': 1}})
        self.assertEqual(cm.exception.code, 9)                    # FailedToParse
        self.assertEqual(c.find_one(), {'_id': 1})

    def test_wrong_type_argument(self):
        with self.assertRaises(OperationFailure) as cm:
            self.db.command('find', 'x', filter='notadocument')
        self.assertEqual(cm.exception.code, 14)                   # TypeMismatch

    def test_invalid_namespace(self):
        with self.assertRaises(Exception):
            self.client['bad.db.name'].c.insert_one({})
        with self.assertRaises(OperationFailure) as cm:
            self.db.command('insert', '', documents=[{}])
        self.assertEqual(cm.exception.code, 73)                   # InvalidNamespace

    def test_connection_survives_errors(self):
        c = self.coll()
        c.insert_one({'_id': 1})
        # One raw socket: every error must come back as a reply on the same connection.
        with harness.server.conn() as conn:
            for _ in range(10):
                r = conn.command(DB, {'noSuchCommand': 1})
                self.assertEqual((r['ok'], r['code']), (0.0, 59))
                r = conn.command(DB, {'find': c.name, 'filter': {'a': {'$bogus': 1}}})
                self.assertEqual((r['ok'], r['code']), (0.0, 2))
                r = conn.command(DB, {'insert': c.name, 'documents': [{'_id': 1}]})
                self.assertEqual(r['ok'], 1.0)
                self.assertEqual(r['n'], 0)
                self.assertEqual(r['writeErrors'][0]['code'], 11000)
                r = conn.command(DB, {'find': 1})
                self.assertEqual(r['ok'], 0.0)
            conn.ping()
            r = conn.command(DB, {'find': c.name, 'filter': {}})
            self.assertEqual(r['cursor']['firstBatch'], [{'_id': 1}])
        # And the pooled driver connection too.
        with self.assertRaises(OperationFailure):
            self.db.command('noSuchCommand')
        self.assertEqual(c.count_documents({}), 1)


if __name__ == '__main__':
    harness.main()
