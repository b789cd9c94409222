#!/usr/bin/env python3
"""Secondary indexes through pymongo: createIndexes, dropIndexes, listIndexes, unique
enforcement on insert, update, upsert and findAndModify, and the hidden collections that hold
them (docs/rfc/0007-indexes.md).
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

pymongo = harness.import_pymongo()
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument  # noqa: E402
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure  # noqa: E402

DB = 'it_indexes'


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
        name = self.id().split('.')[-1]
        c = self.db[name]
        c.drop()
        return c


class TestCatalog(Base):
    def test_create_list_drop(self):
        c = self.coll()
        self.assertEqual(c.create_index('a'), 'a_1')
        self.assertEqual(c.create_index([('b', ASCENDING), ('c', DESCENDING)]), 'b_1_c_-1')
        self.assertEqual(c.create_index('d', unique=True, name='d_unique'), 'd_unique')
        info = c.index_information()
        self.assertEqual(sorted(info), ['_id_', 'a_1', 'b_1_c_-1', 'd_unique'])
        self.assertEqual(info['b_1_c_-1']['key'], [('b', 1), ('c', -1)])
        self.assertTrue(info['d_unique']['unique'])
        self.assertNotIn('unique', info['a_1'])
        names = [ix['name'] for ix in c.list_indexes()]
        self.assertEqual(names, ['_id_', 'a_1', 'b_1_c_-1', 'd_unique'])
        c.drop_index('a_1')
        c.drop_index([('b', 1), ('c', -1)])
        self.assertEqual(sorted(c.index_information()), ['_id_', 'd_unique'])
        c.drop_indexes()
        self.assertEqual(list(c.index_information()), ['_id_'])

    def test_create_reply_and_idempotence(self):
        c = self.coll()
        r = self.db.command('createIndexes', c.name, indexes=[{'key': {'a': 1}, 'name': 'a_1'}])
        self.assertEqual(r['numIndexesBefore'], 1)
        self.assertEqual(r['numIndexesAfter'], 2)
        self.assertTrue(r['createdCollectionAutomatically'])
        self.assertIn(c.name, self.db.list_collection_names())
        r = self.db.command('createIndexes', c.name, indexes=[{'key': {'a': 1}, 'name': 'a_1'}])
        self.assertEqual(r['numIndexesBefore'], 2)
        self.assertEqual(r['numIndexesAfter'], 2)
        self.assertEqual(r['note'], 'all indexes already exist')
        # Several at once; the _id index "exists" already.
        r = self.db.command('createIndexes', c.name, indexes=[
            {'key': {'_id': 1}, 'name': '_id_'}, {'key': {'x': 1}, 'name': 'x_1'},
            {'key': {'y': 'hashed'}, 'name': 'y_hashed'}])
        self.assertEqual((r['numIndexesBefore'], r['numIndexesAfter']), (2, 4))
        self.assertFalse(r['createdCollectionAutomatically'])

    def test_conflicts(self):
        c = self.coll()
        c.create_index('a')
        with self.assertRaises(OperationFailure) as cm:
            c.create_index('b', name='a_1')
        self.assertEqual(cm.exception.code, 86)
        with self.assertRaises(OperationFailure) as cm:
            c.create_index('a', name='other')
        self.assertEqual(cm.exception.code, 85)
        with self.assertRaises(OperationFailure) as cm:
            c.create_index('a', unique=True)
        self.assertEqual(cm.exception.code, 85)

    def test_bad_specs(self):
        c = self.coll()
        c.insert_one({})
        for key, code in [({'a': 'text', 'b': '2d'}, 67), ({'a': '2dsphere'}, 67), ({'a': 'nope'}, 67),
                          ({'a': 0}, 67), ({'a': True}, 67), ({}, 67)]:
            with self.assertRaises(OperationFailure, msg=str(key)) as cm:
                self.db.command('createIndexes', c.name, indexes=[{'key': key, 'name': 'x'}])
            self.assertEqual(cm.exception.code, code, key)
        with self.assertRaises(OperationFailure) as cm:
            self.db.command('createIndexes', c.name,
                            indexes=[{'key': {'a': 1}, 'name': 'a', 'bogus': 1}])
        self.assertEqual(cm.exception.code, 197)
        with self.assertRaises(OperationFailure) as cm:
            self.db.command('createIndexes', c.name, indexes=[])
        self.assertEqual(cm.exception.code, 2)
        with self.assertRaises(OperationFailure) as cm:
            self.db.command('createIndexes', c.name,
                            indexes=[{'key': {'h': 'hashed'}, 'name': 'h', 'unique': True}])
        self.assertEqual(cm.exception.code, 67)
        self.assertEqual(list(c.index_information()), ['_id_'])

    def test_drop_errors(self):
        c = self.coll()
        c.create_index('a')
        with self.assertRaises(OperationFailure) as cm:
            c.drop_index('nope')
        self.assertEqual(cm.exception.code, 27)
        with self.assertRaises(OperationFailure) as cm:
            c.drop_index('_id_')
        self.assertEqual(cm.exception.code, 72)
        with self.assertRaises(OperationFailure) as cm:
            self.db.command('dropIndexes', 'does_not_exist', index='*')
        self.assertEqual(cm.exception.code, 26)
        r = self.db.command('dropIndexes', c.name, index=['a_1'])
        self.assertEqual(r['nIndexesWas'], 2)
        self.assertEqual(list(c.index_information()), ['_id_'])

    def test_expire_after_seconds_is_stored(self):
        c = self.coll()
        c.create_index('t', expireAfterSeconds=3600)
        self.assertEqual(c.index_information()['t_1']['expireAfterSeconds'], 3600)

    def test_hint_by_name_is_accepted(self):
        c = self.coll()
        c.insert_many([{'a': i} for i in range(3)])
        c.create_index('a')
        self.assertEqual(len(list(c.find({'a': {'$gte': 1}}).hint('a_1'))), 2)


class TestHint(Base):
    """A hint must name an existing, visible index by name or key pattern, as mongod's planner
    requires; _id and $natural always exist, and a missing collection takes any hint."""

    MISSING = 'hint provided does not correspond to an existing index'

    def setUp(self):
        self.c = self.coll()
        self.c.insert_many([{'_id': i, 'a': i, 'b': i % 2} for i in range(4)])
        self.c.create_index('a')
        self.c.create_index([('b', 1), ('a', -1)], name='ba')

    def assert_bad_hint(self, fn):
        with self.assertRaises(OperationFailure) as cm:
            fn()
        self.assertEqual(cm.exception.code, 2)
        self.assertIn(self.MISSING, str(cm.exception))

    def test_existing_hints_are_accepted(self):
        c = self.c
        for hint in ['a_1', [('a', 1)], 'ba', [('b', 1), ('a', -1)], '_id_',
                     [('_id', 1)], [('$natural', 1)], [('$natural', -1)]]:
            self.assertEqual(len(list(c.find({'a': {'$gte': 1}}).hint(hint))), 3, hint)
            self.assertEqual(c.count_documents({'a': {'$gte': 1}}, hint=hint), 3)
        self.assertEqual(self.db.command('count', c.name, hint='a_1')['n'], 4)
        r = self.db.command('find', c.name, hint={'a': 1.0})  # {a: 1} and {a: 1.0} are one key
        self.assertEqual(len(r['cursor']['firstBatch']), 4)
        self.assertEqual(sorted(self.db.command('distinct', c.name, key='b', hint='ba')['values']),
                         [0, 1])
        self.assertEqual(len(list(c.aggregate([{'$match': {'b': 1}}], hint='ba'))), 2)
        self.assertEqual(c.update_one({'_id': 0}, {'$set': {'x': 1}}, hint='a_1').modified_count, 1)
        self.assertEqual(c.update_many({}, {'$set': {'y': 1}}, hint=[('b', 1), ('a', -1)])
                         .modified_count, 4)
        self.assertIsNotNone(c.find_one_and_update({'_id': 1}, {'$set': {'x': 2}}, hint='_id_'))
        self.assertEqual(c.delete_one({'_id': 3}, hint=[('a', 1)]).deleted_count, 1)

    def test_unknown_hint_fails_reads(self):
        c = self.c
        for hint in ['nope', [('a', -1)], [('c', 1)], [('_id', -1)], [('a', 1), ('b', 1)]]:
            self.assert_bad_hint(lambda: list(c.find({}).hint(hint)))
            self.assert_bad_hint(lambda: c.count_documents({}, hint=hint))
        self.assert_bad_hint(lambda: self.db.command('count', c.name, hint='nope'))
        self.assert_bad_hint(lambda: self.db.command('distinct', c.name, key='a', hint='nope'))
        self.assert_bad_hint(lambda: list(c.aggregate([], hint='nope')))
        self.assert_bad_hint(lambda: list(c.aggregate([], hint={'zz': 1})))

    def test_unknown_hint_fails_writes(self):
        c = self.c
        self.assert_bad_hint(lambda: c.update_one({'_id': 0}, {'$set': {'x': 1}}, hint='nope'))
        self.assert_bad_hint(lambda: c.delete_many({}, hint=[('zz', 1)]))
        self.assert_bad_hint(lambda: c.find_one_and_delete({'_id': 0}, hint='nope'))
        self.assert_bad_hint(lambda: c.find_one_and_update({'_id': 0}, {'$set': {'x': 1}},
                                                           hint='nope'))
        self.assertEqual(c.count_documents({}), 4)
        self.assertEqual(c.count_documents({'x': 1}), 0)
        # Each statement fails on its own: an unordered command runs the others.
        r = self.db.command('update', c.name, ordered=False, updates=[
            {'q': {'_id': 0}, 'u': {'$set': {'x': 1}}, 'hint': 'nope'},
            {'q': {'_id': 1}, 'u': {'$set': {'x': 1}}, 'hint': 'a_1'}])
        self.assertEqual(r['n'], 1)
        self.assertEqual([(e['index'], e['code']) for e in r['writeErrors']], [(0, 2)])
        self.assertIn(self.MISSING, r['writeErrors'][0]['errmsg'])
        r = self.db.command('delete', c.name, deletes=[
            {'q': {'_id': 0}, 'limit': 1, 'hint': {'nope': 1}},
            {'q': {'_id': 1}, 'limit': 1}])
        self.assertEqual(r['n'], 0)
        self.assertEqual([(e['index'], e['code']) for e in r['writeErrors']], [(0, 2)])

    def test_hidden_index_cannot_be_hinted(self):
        c = self.c
        self.db.command('collMod', c.name, index={'name': 'a_1', 'hidden': True})
        self.assert_bad_hint(lambda: list(c.find({}).hint('a_1')))
        self.assert_bad_hint(lambda: list(c.find({}).hint([('a', 1)])))
        self.db.command('collMod', c.name, index={'name': 'a_1', 'hidden': False})
        self.assertEqual(len(list(c.find({}).hint('a_1'))), 4)

    def test_missing_collection_takes_any_hint(self):
        m = self.db['hint_missing']
        m.drop()
        self.assertEqual(list(m.find({}).hint('nope')), [])
        self.assertEqual(m.count_documents({}, hint='nope'), 0)
        self.assertEqual(self.db.command('distinct', m.name, key='a', hint='nope')['values'], [])
        self.assertEqual(list(m.aggregate([], hint='nope')), [])
        self.assertEqual(m.update_one({'a': 1}, {'$set': {'b': 1}}, hint='nope').matched_count, 0)
        self.assertEqual(m.delete_many({}, hint='nope').deleted_count, 0)
        # An upsert plans against the collection it creates, which has only _id.
        self.assert_bad_hint(lambda: m.update_one({'a': 1}, {'$set': {'b': 1}}, upsert=True,
                                                  hint='nope'))
        self.assertIsNotNone(m.update_one({'a': 1}, {'$set': {'b': 1}}, upsert=True,
                                          hint='_id_').upserted_id)
        m.drop()

    def test_hint_type(self):
        with self.assertRaises(OperationFailure) as cm:
            self.db.command('find', self.c.name, hint=1)
        self.assertEqual(cm.exception.code, 9)


class TestUnique(Base):
    def test_insert_duplicate(self):
        c = self.coll()
        c.create_index('a', unique=True)
        c.insert_one({'_id': 1, 'a': 1})
        with self.assertRaises(DuplicateKeyError) as cm:
            c.insert_one({'_id': 2, 'a': 1.0})
        details = cm.exception.details
        self.assertEqual(details['keyPattern'], {'a': 1})
        self.assertEqual(details['keyValue'], {'a': 1.0})
        self.assertIn('E11000 duplicate key error collection: %s.%s index: a_1 dup key'
                      % (DB, c.name), details['errmsg'])
        self.assertEqual(c.count_documents({}), 1)
        # Missing counts as null: one document without a is allowed, a second is not.
        c.insert_one({'_id': 3})
        with self.assertRaises(DuplicateKeyError):
            c.insert_one({'_id': 4, 'a': None})

    def test_batch_ordered_and_unordered(self):
        c = self.coll()
        c.create_index('a', unique=True)
        with self.assertRaises(BulkWriteError) as cm:
            c.insert_many([{'a': 1}, {'a': 2}, {'a': 1}, {'a': 3}])
        r = cm.exception.details
        self.assertEqual(r['nInserted'], 2)
        self.assertEqual([e['index'] for e in r['writeErrors']], [2])
        self.assertEqual(r['writeErrors'][0]['code'], 11000)
        self.assertEqual(r['writeErrors'][0]['keyValue'], {'a': 1})
        with self.assertRaises(BulkWriteError) as cm:
            c.insert_many([{'a': 3}, {'a': 1}, {'a': 4}, {'a': 4}], ordered=False)
        r = cm.exception.details
        self.assertEqual(r['nInserted'], 2)
        self.assertEqual([e['index'] for e in r['writeErrors']], [1, 3])
        self.assertEqual(sorted(d['a'] for d in c.find()), [1, 2, 3, 4])

    def test_duplicate_id_keeps_index_consistent(self):
        c = self.coll()
        c.create_index('a', unique=True)
        c.insert_one({'_id': 1, 'a': 1})
        with self.assertRaises(DuplicateKeyError) as cm:
            c.insert_one({'_id': 1, 'a': 2})
        self.assertIn('index: _id_', cm.exception.details['errmsg'])
        # a: 2 must not be held by the failed insert.
        c.insert_one({'_id': 2, 'a': 2})

    def test_update_to_duplicate(self):
        c = self.coll()
        c.create_index('a', unique=True)
        c.insert_many([{'_id': 1, 'a': 1}, {'_id': 2, 'a': 2}])
        with self.assertRaises(DuplicateKeyError) as cm:
            c.update_one({'_id': 2}, {'$set': {'a': 1}})
        self.assertEqual(cm.exception.details['keyValue'], {'a': 1})
        self.assertEqual(c.find_one({'_id': 2})['a'], 2)
        # Moving a key frees the old value.
        c.update_one({'_id': 2}, {'$set': {'a': 3}})
        c.update_one({'_id': 1}, {'$set': {'a': 2}})
        self.assertEqual(sorted((d['_id'], d['a']) for d in c.find()), [(1, 2), (2, 3)])
        with self.assertRaises(DuplicateKeyError):
            c.replace_one({'_id': 1}, {'a': 3})
        with self.assertRaises(DuplicateKeyError):
            c.find_one_and_update({'_id': 1}, {'$set': {'a': 3}})
        # An update that keeps the key is fine.
        c.update_one({'_id': 1}, {'$set': {'b': 1}})

    def test_update_many_stops_at_duplicate(self):
        c = self.coll()
        c.create_index('a', unique=True)
        c.insert_many([{'_id': i, 'a': i, 'g': 1} for i in range(3)])
        with self.assertRaises(DuplicateKeyError):
            c.update_many({'g': 1}, {'$set': {'a': 7}})
        self.assertEqual(c.count_documents({'a': 7}), 1)

    def test_upsert(self):
        c = self.coll()
        c.create_index('a', unique=True)
        c.insert_one({'_id': 1, 'a': 1, 'b': 1})
        with self.assertRaises(DuplicateKeyError):
            c.update_one({'b': 2}, {'$set': {'a': 1}}, upsert=True)
        r = c.update_one({'a': 1}, {'$set': {'b': 5}}, upsert=True)
        self.assertIsNone(r.upserted_id)
        r = c.update_one({'a': 2}, {'$set': {'b': 5}}, upsert=True)
        self.assertIsNotNone(r.upserted_id)
        doc = c.find_one_and_update({'a': 3}, {'$set': {'b': 6}}, upsert=True,
                                    return_document=ReturnDocument.AFTER)
        self.assertEqual(doc['a'], 3)
        self.assertEqual(c.count_documents({}), 3)

    def test_delete_frees_key(self):
        c = self.coll()
        c.create_index('a', unique=True)
        c.insert_one({'_id': 1, 'a': 1})
        c.delete_one({'_id': 1})
        c.insert_one({'_id': 2, 'a': 1})
        c.find_one_and_delete({'_id': 2})
        c.insert_one({'_id': 3, 'a': 1})
        c.delete_many({})
        c.insert_one({'_id': 4, 'a': 1})

    def test_compound(self):
        c = self.coll()
        c.create_index([('a', 1), ('b', 1)], unique=True)
        c.insert_many([{'a': 1, 'b': 1}, {'a': 1, 'b': 2}, {'a': 2, 'b': 1}, {'a': 1}])
        with self.assertRaises(DuplicateKeyError) as cm:
            c.insert_one({'a': 1, 'b': 2})
        self.assertEqual(cm.exception.details['keyValue'], {'a': 1, 'b': 2})
        self.assertEqual(cm.exception.details['keyPattern'], {'a': 1, 'b': 1})
        with self.assertRaises(DuplicateKeyError):
            c.insert_one({'a': 1, 'b': None})

    def test_sparse_allows_many_missing(self):
        c = self.coll()
        c.create_index('a', unique=True, sparse=True)
        c.insert_many([{'x': 1}, {'x': 2}, {'a': 1}])
        with self.assertRaises(DuplicateKeyError):
            c.insert_one({'a': 1})

    def test_partial(self):
        c = self.coll()
        c.create_index('a', unique=True, partialFilterExpression={'active': True})
        c.insert_many([{'a': 1, 'active': False}, {'a': 1, 'active': False},
                       {'a': 1, 'active': True}])
        with self.assertRaises(DuplicateKeyError):
            c.insert_one({'a': 1, 'active': True})
        with self.assertRaises(DuplicateKeyError):
            c.update_one({'active': False}, {'$set': {'active': True}})

    def test_multikey(self):
        c = self.coll()
        c.create_index('tags', unique=True)
        c.insert_one({'_id': 1, 'tags': ['a', 'b', 'a']})
        with self.assertRaises(DuplicateKeyError):
            c.insert_one({'_id': 2, 'tags': ['c', 'b']})
        c.insert_one({'_id': 3, 'tags': ['c']})
        with self.assertRaises(DuplicateKeyError):
            c.insert_one({'_id': 4, 'tags': 'a'})
        c.update_one({'_id': 1}, {'$pull': {'tags': 'b'}})
        c.insert_one({'_id': 5, 'tags': 'b'})

    def test_dotted_path(self):
        c = self.coll()
        c.create_index('u.email', unique=True)
        c.insert_one({'u': {'email': 'x@y'}})
        with self.assertRaises(DuplicateKeyError) as cm:
            c.insert_one({'u': {'email': 'x@y', 'n': 1}})
        self.assertEqual(cm.exception.details['keyValue'], {'u.email': 'x@y'})

    def test_build_over_existing_duplicates(self):
        c = self.coll()
        c.insert_many([{'a': 1}, {'a': 2}, {'a': 1}])
        with self.assertRaises(OperationFailure) as cm:
            c.create_index('a', unique=True)
        self.assertEqual(cm.exception.code, 11000)
        self.assertEqual(list(c.index_information()), ['_id_'])
        c.delete_one({'a': 1})
        c.create_index('a', unique=True)
        with self.assertRaises(DuplicateKeyError):
            c.insert_one({'a': 2})

    def test_drop_index_stops_enforcement(self):
        c = self.coll()
        c.create_index('a', unique=True)
        c.insert_one({'a': 1})
        c.drop_index('a_1')
        c.insert_one({'a': 1})
        self.assertEqual(c.count_documents({'a': 1}), 2)

    def test_drop_collection_drops_indexes(self):
        c = self.coll()
        c.create_index('a', unique=True)
        c.insert_one({'a': 1})
        c.drop()
        c.insert_one({'a': 1})
        c.insert_one({'a': 1})
        self.assertEqual(list(c.index_information()), ['_id_'])

    def test_rename_moves_indexes(self):
        c = self.coll()
        target = self.db[c.name + '_renamed']
        target.drop()
        c.create_index('a', unique=True)
        c.insert_one({'a': 1})
        c.rename(target.name)
        self.assertEqual(sorted(target.index_information()), ['_id_', 'a_1'])
        with self.assertRaises(DuplicateKeyError):
            target.insert_one({'a': 1})
        c.insert_one({'a': 1})
        c.insert_one({'a': 1})
        # Across databases.
        other = self.client[DB + '_other'][c.name]
        other.drop()
        self.client.admin.command('renameCollection', '%s.%s' % (DB, target.name),
                                  to='%s.%s' % (other.database.name, other.name))
        self.assertEqual(sorted(other.index_information()), ['_id_', 'a_1'])
        with self.assertRaises(DuplicateKeyError):
            other.insert_one({'a': 1})
        other.insert_one({'a': 2})
        self.client.drop_database(other.database.name)


class TestCatalogChangesReachEveryWorker(Base):
    def test_unique_index_created_after_writes_is_enforced_on_every_connection(self):
        # Writes on many connections (spread over the workers) before the index exists let each
        # worker remember that the collection has none; creating the index must end that.
        c = self.coll()
        clients = [harness.server.client() for _ in range(6)]
        try:
            for i, client in enumerate(clients):
                client[DB][c.name].insert_one({'_id': i, 'k': i})
            c.create_index('k', unique=True)
            for client in clients:
                with self.assertRaises(DuplicateKeyError):
                    client[DB][c.name].insert_one({'k': 0})
            c.drop_index('k_1')
            for client in clients:
                client[DB][c.name].insert_one({'k': 0})
        finally:
            for client in clients:
                client.close()


class TestHidden(Base):
    def test_hidden_collections_never_show(self):
        c = self.coll()
        c.create_index('a', unique=True)
        c.create_index('b')
        c.insert_one({'a': 1, 'b': 1})
        for name in self.db.list_collection_names():
            self.assertFalse(name.startswith('__ferret.'), name)
        stats = self.db.command('dbStats')
        self.assertEqual(stats['collections'], len(self.db.list_collection_names()))
        self.assertEqual(self.db.command('collStats', c.name)['nindexes'], 3)
        with self.assertRaises(OperationFailure) as cm:
            self.db['__ferret.indexes'].insert_one({})
        self.assertEqual(cm.exception.code, 73)
        with self.assertRaises(OperationFailure) as cm:
            self.db.command('drop', '__ferret.indexes')
        self.assertEqual(cm.exception.code, 73)
        # Reads are refused too: the index catalog is the server's, not a client's.
        with self.assertRaises(OperationFailure) as cm:
            list(self.db['__ferret.indexes'].find())
        self.assertEqual(cm.exception.code, 73)
        with self.assertRaises(OperationFailure) as cm:
            list(self.db['__ferret.indexes'].aggregate([]))
        self.assertEqual(cm.exception.code, 73)

    def test_database_with_only_hidden_collections_is_not_listed(self):
        name = DB + '_ghost'
        self.client.drop_database(name)
        coll = self.client[name].c
        coll.create_index('a', unique=True)
        self.assertIn(name, self.client.list_database_names())
        coll.drop()
        self.assertNotIn(name, self.client.list_database_names())
        self.client.drop_database(name)


class TestRestart(unittest.TestCase):
    """The index catalog and entries are stored data: they survive a restart."""

    def test_index_survives_restart(self):
        if not harness.backend_is_persistent():
            self.skipTest('backend does not persist')
        srv = harness.Server()
        try:
            srv.start()
            client = srv.client()
            c = client[DB].restart
            c.drop()
            c.create_index('a', unique=True)
            c.insert_one({'a': 1})
            client.close()
            srv.stop()
            srv.start()
            client = srv.client()
            c = client[DB].restart
            self.assertEqual(sorted(c.index_information()), ['_id_', 'a_1'])
            with self.assertRaises(DuplicateKeyError):
                c.insert_one({'a': 1})
            client.close()
        finally:
            srv.stop()
            srv.cleanup()


if __name__ == '__main__':
    harness.main()
