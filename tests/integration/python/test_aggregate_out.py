#!/usr/bin/env python3
"""aggregate with a final $out or $merge, and $listLocalSessions, through pymongo against a
real ferretd.

One server per run of this file; each test uses collections named after itself.
"""

import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

pymongo = harness.import_pymongo()
from bson import ObjectId  # noqa: E402
from pymongo.errors import DuplicateKeyError, OperationFailure  # noqa: E402

DB = 'it_agg_out'
OTHER_DB = 'it_agg_out_other'


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

    def colls(self, *suffixes, db=None):
        """Fresh, empty collections named after the test and each suffix."""
        name = self.id().split('.')[-1]
        out = []
        for s in suffixes:
            c = (db or self.db)[name + '_' + s]
            c.drop()
            out.append(c)
        return out

    def names(self, db=None):
        return set((db or self.db).list_collection_names())


class TestOut(Base):
    def test_out_writes_results_and_replies_empty_cursor(self):
        src, dst = self.colls('src', 'dst')
        src.insert_many([{'_id': i, 'x': i * 10} for i in range(5)])
        reply = self.db.command('aggregate', src.name,
                                pipeline=[{'$match': {'_id': {'$gte': 2}}},
                                          {'$project': {'y': '$x'}},
                                          {'$out': dst.name}],
                                cursor={})
        self.assertEqual(reply['cursor']['firstBatch'], [])
        self.assertEqual(reply['cursor']['id'], 0)
        self.assertEqual(list(dst.find().sort('_id', 1)),
                         [{'_id': 2, 'y': 20}, {'_id': 3, 'y': 30}, {'_id': 4, 'y': 40}])

    def test_out_replaces_existing_target(self):
        src, dst = self.colls('src', 'dst')
        src.insert_many([{'_id': 1, 'a': 1}, {'_id': 2, 'a': 2}])
        dst.insert_many([{'_id': 1, 'old': True}, {'_id': 99, 'old': True}])
        self.assertEqual(list(src.aggregate([{'$out': dst.name}])), [])
        self.assertEqual(list(dst.find().sort('_id', 1)), [{'_id': 1, 'a': 1}, {'_id': 2, 'a': 2}])

    def test_out_empty_result_empties_target(self):
        src, dst = self.colls('src', 'dst')
        src.insert_one({'_id': 1})
        dst.insert_one({'_id': 7})
        src.aggregate([{'$match': {'_id': 'none'}}, {'$out': dst.name}])
        self.assertEqual(dst.count_documents({}), 0)
        self.assertIn(dst.name, self.names())

    def test_out_generates_missing_ids(self):
        src, dst = self.colls('src', 'dst')
        src.insert_many([{'_id': 1, 'g': 'a'}, {'_id': 2, 'g': 'a'}, {'_id': 3, 'g': 'b'}])
        src.aggregate([{'$group': {'_id': '$g', 'n': {'$sum': 1}}},
                       {'$project': {'_id': 0, 'g': '$_id', 'n': 1}},
                       {'$out': dst.name}])
        docs = list(dst.find().sort('g', 1))
        self.assertEqual([(d['g'], d['n']) for d in docs], [('a', 2), ('b', 1)])
        for d in docs:
            self.assertIsInstance(d['_id'], ObjectId)

    def test_out_to_other_database(self):
        src, = self.colls('src')
        dst, = self.colls('dst', db=self.client[OTHER_DB])
        src.insert_many([{'_id': 1}, {'_id': 2}])
        src.aggregate([{'$out': {'db': OTHER_DB, 'coll': dst.name}}])
        self.assertEqual(sorted(d['_id'] for d in dst.find()), [1, 2])
        self.assertNotIn(dst.name, self.names())

    def test_out_over_its_own_source(self):
        src, = self.colls('src')
        src.insert_many([{'_id': i} for i in range(4)])
        src.aggregate([{'$match': {'_id': {'$lt': 2}}}, {'$out': src.name}])
        self.assertEqual(sorted(d['_id'] for d in src.find()), [0, 1])

    def test_out_duplicate_id_leaves_target_and_no_temp(self):
        src, dst = self.colls('src', 'dst')
        src.insert_many([{'_id': 1, 'k': 5}, {'_id': 2, 'k': 5}])
        dst.insert_one({'_id': 'kept'})
        with self.assertRaises(OperationFailure) as cm:
            src.aggregate([{'$project': {'_id': '$k'}}, {'$out': dst.name}])
        self.assertEqual(cm.exception.code, 11000)
        self.assertEqual(list(dst.find()), [{'_id': 'kept'}])
        self.assertEqual([n for n in self.names() if n.startswith('tmp.agg_out.')], [])

    def test_out_many_documents(self):
        # More than one insert batch.
        src, dst = self.colls('src', 'dst')
        src.insert_many([{'_id': i, 'v': i} for i in range(2500)])
        src.aggregate([{'$out': dst.name}])
        self.assertEqual(dst.count_documents({}), 2500)
        self.assertEqual(dst.find_one({'_id': 2499}), {'_id': 2499, 'v': 2499})

    def test_out_from_documents(self):
        dst, = self.colls('dst')
        self.db.aggregate([{'$documents': [{'_id': 1, 'z': 'a'}]}, {'$out': dst.name}])
        self.assertEqual(list(dst.find()), [{'_id': 1, 'z': 'a'}])

    def test_out_refuses_bad_targets(self):
        src, = self.colls('src')
        src.insert_one({'_id': 1})
        cases = [({'$out': 'system.foo'}, 17385),
                 ({'$out': {'db': 'admin', 'coll': 'x'}}, 31321),
                 ({'$out': {'db': DB, 'coll': 'a$b'}}, 73)]
        for stage, code in cases:
            with self.subTest(stage=stage):
                with self.assertRaises(OperationFailure) as cm:
                    src.aggregate([stage])
                self.assertEqual(cm.exception.code, code)

    def test_out_must_be_last(self):
        src, dst = self.colls('src', 'dst')
        src.insert_one({'_id': 1})
        with self.assertRaises(OperationFailure):
            src.aggregate([{'$out': dst.name}, {'$match': {}}])
        self.assertNotIn(dst.name, self.names())

    def test_concurrent_readers_never_see_partial_target(self):
        src, dst = self.colls('src', 'dst')
        src.insert_many([{'_id': i} for i in range(500)])
        dst.insert_many([{'_id': i} for i in range(500)])
        counts = []
        stop = threading.Event()

        def reader():
            c = harness.server.client()
            try:
                while not stop.is_set():
                    counts.append(c[DB][dst.name].count_documents({}))
            finally:
                c.close()

        t = threading.Thread(target=reader)
        t.start()
        try:
            # At least ten replacements, and enough of them overlapping reads: on a fast backend
            # ten $out runs can finish before the reader's first count.
            runs = 0
            while runs < 10 or (len(counts) < 20 and runs < 2000):
                src.aggregate([{'$out': dst.name}])
                runs += 1
        finally:
            stop.set()
            t.join()
        self.assertTrue(counts)
        self.assertEqual(set(counts), {500})


class TestMerge(Base):
    def setUp(self):
        self.src, self.dst = self.colls('src', 'dst')
        self.src.insert_many([{'_id': 1, 'a': 'new1', 'b': 1}, {'_id': 2, 'a': 'new2'}])
        self.dst.insert_many([{'_id': 1, 'a': 'old1', 'c': 'keep'}, {'_id': 3, 'a': 'old3'}])

    def merge(self, **spec):
        spec['into'] = self.dst.name
        return list(self.src.aggregate([{'$merge': spec}]))

    def target(self):
        return list(self.dst.find().sort('_id', 1))

    def test_defaults_merge_and_insert(self):
        self.assertEqual(self.merge(), [])
        self.assertEqual(self.target(), [{'_id': 1, 'a': 'new1', 'c': 'keep', 'b': 1},
                                         {'_id': 2, 'a': 'new2'},
                                         {'_id': 3, 'a': 'old3'}])

    def test_string_form(self):
        self.src.aggregate([{'$merge': self.dst.name}])
        self.assertEqual(self.target()[0], {'_id': 1, 'a': 'new1', 'c': 'keep', 'b': 1})

    def test_replace(self):
        self.merge(whenMatched='replace')
        self.assertEqual(self.target(), [{'_id': 1, 'a': 'new1', 'b': 1},
                                         {'_id': 2, 'a': 'new2'},
                                         {'_id': 3, 'a': 'old3'}])

    def test_keep_existing(self):
        self.merge(whenMatched='keepExisting')
        self.assertEqual(self.target(), [{'_id': 1, 'a': 'old1', 'c': 'keep'},
                                         {'_id': 2, 'a': 'new2'},
                                         {'_id': 3, 'a': 'old3'}])

    def test_fail_on_match(self):
        with self.assertRaises(OperationFailure) as cm:
            self.merge(whenMatched='fail')
        self.assertEqual(cm.exception.code, 11000)
        self.assertIn('duplicate key', str(cm.exception))
        self.assertEqual(self.target()[0], {'_id': 1, 'a': 'old1', 'c': 'keep'})

    def test_discard_unmatched(self):
        self.merge(whenMatched='replace', whenNotMatched='discard')
        self.assertEqual(self.target(), [{'_id': 1, 'a': 'new1', 'b': 1},
                                         {'_id': 3, 'a': 'old3'}])

    def test_fail_unmatched(self):
        with self.assertRaises(OperationFailure) as cm:
            self.merge(whenNotMatched='fail')
        self.assertEqual(cm.exception.code, 13113)
        self.assertEqual(cm.exception.details.get('codeName'), 'MergeStageNoMatchingDocument')
        # _id 1 came first and was merged before _id 2 failed: $merge is not atomic.
        self.assertEqual(self.target()[0]['a'], 'new1')
        self.assertIsNone(self.dst.find_one({'_id': 2}))

    def test_into_missing_collection_in_other_db(self):
        other, = self.colls('dst', db=self.client[OTHER_DB])
        self.src.aggregate([{'$merge': {'into': {'db': OTHER_DB, 'coll': other.name}}}])
        self.assertEqual(sorted(d['_id'] for d in other.find()), [1, 2])

    def test_numeric_id_equality(self):
        # 1.0 matches the stored 1: the target is found by MongoDB's _id equality.
        self.src.aggregate([{'$project': {'_id': {'$toDouble': '$_id'}, 'd': 'x'}},
                            {'$merge': {'into': self.dst.name, 'whenMatched': 'merge'}}])
        self.assertEqual(self.dst.count_documents({}), 3)
        self.assertEqual(self.dst.find_one({'_id': 1})['d'], 'x')

    def test_generates_missing_ids(self):
        self.src.aggregate([{'$project': {'_id': 0, 'a': 1}},
                            {'$merge': {'into': self.dst.name}}])
        self.assertEqual(self.dst.count_documents({}), 4)

    def test_into_own_source(self):
        self.src.aggregate([{'$set': {'seen': True}},
                            {'$merge': {'into': self.src.name, 'whenMatched': 'merge'}}])
        self.assertEqual(list(self.src.find().sort('_id', 1)),
                         [{'_id': 1, 'a': 'new1', 'b': 1, 'seen': True},
                          {'_id': 2, 'a': 'new2', 'seen': True}])

    def test_bad_options(self):
        cases = [({'into': self.dst.name, 'whenMatched': 'bogus'}, 2),
                 ({'into': 'system.x'}, 31319),
                 ({'into': {'db': 'local', 'coll': 'x'}}, 31320)]
        for spec, code in cases:
            with self.subTest(spec=spec):
                with self.assertRaises(OperationFailure) as cm:
                    self.src.aggregate([{'$merge': spec}])
                self.assertEqual(cm.exception.code, code)
        self.assertEqual(len(self.target()), 2)


class TestListLocalSessions(Base):
    def test_lists_the_calling_session(self):
        with self.client.start_session() as s:
            docs = list(self.client.admin.aggregate([{'$listLocalSessions': {}}], session=s))
            self.assertEqual(len(docs), 1)
            listed = docs[0]['_id']['id']
            listed = listed.bytes if hasattr(listed, 'bytes') else bytes(listed)
            self.assertEqual(listed, bytes(s.session_id['id']))
            self.assertEqual(len(docs[0]['_id']['uid']), 32)
            self.assertIn('lastUse', docs[0])

    def test_needs_aggregate_1(self):
        c, = self.colls('c')
        with self.assertRaises(OperationFailure):
            list(c.aggregate([{'$listLocalSessions': {}}]))


class TestOutputKeepsUniqueIndexes(Base):
    def test_out_keeps_the_targets_indexes_and_enforces_them(self):
        src, dst = self.colls('src', 'dst')
        dst.create_index('e', unique=True)
        dst.insert_one({'_id': 0, 'e': 'old'})
        src.insert_many([{'_id': 1, 'e': 'a'}, {'_id': 2, 'e': 'a'}])
        with self.assertRaises(OperationFailure) as cm:
            list(src.aggregate([{'$out': dst.name}]))
        self.assertEqual(cm.exception.code, 11000)
        # The failed $out left the target as it was, indexes included.
        self.assertEqual(list(dst.find()), [{'_id': 0, 'e': 'old'}])
        self.assertIn('e_1', dst.index_information())
        src.update_one({'_id': 2}, {'$set': {'e': 'b'}})
        list(src.aggregate([{'$out': dst.name}]))
        self.assertEqual(sorted(d['e'] for d in dst.find()), ['a', 'b'])
        self.assertIn('e_1', dst.index_information())
        with self.assertRaises(DuplicateKeyError):
            dst.insert_one({'_id': 3, 'e': 'a'})

    def test_merge_respects_unique_indexes(self):
        src, dst = self.colls('src', 'dst')
        dst.create_index('e', unique=True)
        dst.insert_one({'_id': 9, 'e': 'taken'})
        src.insert_one({'_id': 1, 'e': 'taken'})
        with self.assertRaises(OperationFailure) as cm:
            list(src.aggregate([{'$merge': {'into': dst.name}}]))
        self.assertEqual(cm.exception.code, 11000)
        self.assertEqual(cm.exception.details.get('keyPattern'), {'e': 1})
        self.assertEqual(dst.count_documents({}), 1)


class TestCollStats(Base):
    def test_coll_stats_source_stage(self):
        (c,) = self.colls('c')
        c.insert_many([{'x': i} for i in range(7)])
        docs = list(c.aggregate([{'$collStats': {'storageStats': {}, 'count': {}}},
                                 {'$project': {'n': '$storageStats.count', 'count': 1,
                                               'nindexes': '$storageStats.nindexes'}}]))
        self.assertEqual(len(docs), 1)
        self.assertEqual(docs[0]['n'], 7)
        self.assertEqual(docs[0]['count'], 7)
        self.assertEqual(docs[0]['nindexes'], 1)

    def test_coll_stats_must_come_first(self):
        (c,) = self.colls('c')
        with self.assertRaises(OperationFailure) as cm:
            list(c.aggregate([{'$match': {}}, {'$collStats': {}}]))
        self.assertEqual(cm.exception.code, 40602)


if __name__ == '__main__':
    harness.main()
