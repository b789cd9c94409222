#!/usr/bin/env python3
"""The MongoDB 8.0 bulkWrite admin command (client bulk write) and update statements with
sort, through pymongo against a real ferretd.

pymongo from Debian (3.x) has no MongoClient.bulk_write, so the command is sent as drivers
send it: with admin.command(), and through raw OP_MSG with ops and nsInfo as document
sequences (kind 1), which is how drivers actually send them.

One server per run of this file; each test uses collections named after itself.
"""

import os
import sys
import unittest

from bson.son import SON

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402
from harness import wire  # noqa: E402

pymongo = harness.import_pymongo()
from pymongo.errors import OperationFailure  # noqa: E402

DB = 'it_bulkwrite'
OTHER_DB = 'it_bulkwrite_other'


def setUpModule():
    harness.start_module_server()


def tearDownModule():
    harness.stop_module_server()


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = harness.server.client()
        cls.admin = cls.client.admin
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

    def bulk(self, ops, ns, **options):
        """Runs bulkWrite; returns the reply with the cursor's results drained into 'results'."""
        cmd = SON([('bulkWrite', 1), ('ops', ops),
                   ('nsInfo', [{'ns': c.full_name} for c in ns])])
        cmd.update(options)
        reply = self.admin.command(cmd)
        results = list(reply['cursor']['firstBatch'])
        cursor_id = reply['cursor']['id']
        while cursor_id:
            more = self.admin.command(SON([('getMore', cursor_id),
                                           ('collection', '$cmd.bulkWrite')]))
            results.extend(more['cursor']['nextBatch'])
            cursor_id = more['cursor']['id']
        reply['results'] = results
        return reply

    def assertFails(self, code, cmd, db=None):
        with self.assertRaises(OperationFailure) as cm:
            (db or self.admin).command(cmd)
        self.assertEqual(cm.exception.code, code, cm.exception.details)
        return cm.exception


class TestBulkWrite(Base):
    def test_mixed_operations_across_namespaces(self):
        a, = self.colls('a')
        b, = self.colls('b', db=self.client[OTHER_DB])
        a.insert_many([{'_id': 1, 'x': 1}, {'_id': 2, 'x': 2}])
        r = self.bulk([
            {'insert': 0, 'document': {'_id': 3, 'x': 3}},
            {'insert': 1, 'document': {'_id': 'b1'}},
            {'update': 0, 'filter': {'x': {'$gte': 2}}, 'updateMods': {'$inc': {'x': 10}},
             'multi': True},
            {'update': 0, 'filter': {'_id': 9}, 'updateMods': {'$set': {'x': 9}},
             'upsert': True},
            {'update': 1, 'filter': {'_id': 'b1'}, 'updateMods': [{'$set': {'p': 1}}]},
            {'delete': 0, 'filter': {'_id': 1}},
        ], [a, b])
        self.assertEqual(r['ok'], 1)
        self.assertEqual((r['nErrors'], r['nInserted'], r['nMatched'], r['nModified'],
                          r['nUpserted'], r['nDeleted']), (0, 2, 3, 3, 1, 1))
        self.assertEqual(r['cursor']['ns'], 'admin.$cmd.bulkWrite')
        res = r['results']
        self.assertEqual([x['idx'] for x in res], list(range(6)))
        self.assertTrue(all(x['ok'] == 1 for x in res))
        self.assertEqual(res[0]['n'], 1)
        self.assertEqual((res[2]['n'], res[2]['nModified']), (2, 2))
        self.assertEqual(res[3]['upserted'], {'_id': 9})
        self.assertEqual(res[3]['n'], 1)
        self.assertEqual(res[5]['n'], 1)
        self.assertEqual(sorted(d['_id'] for d in a.find()), [2, 3, 9])
        self.assertEqual(list(b.find()), [{'_id': 'b1', 'p': 1}])

    def test_document_sequences(self):
        c, = self.colls('c')
        with wire.Conn(harness.server.port) as conn:
            reply = conn.command('admin', {'bulkWrite': 1}, sequences=[
                ('ops', [{'insert': 0, 'document': {'_id': i}} for i in range(5)] +
                        [{'delete': 0, 'filter': {'_id': {'$lt': 2}}, 'multi': True}]),
                ('nsInfo', [{'ns': c.full_name}]),
            ])
        self.assertEqual(reply['ok'], 1, reply)
        self.assertEqual((reply['nInserted'], reply['nDeleted']), (5, 2))
        self.assertEqual(sorted(d['_id'] for d in c.find()), [2, 3, 4])

    def test_unacknowledged_sends_no_reply(self):
        c, = self.colls('c')
        with wire.Conn(harness.server.port) as conn:
            # moreToCome (flag bit 1): the server runs the command and replies nothing, so the
            # next reply on the connection is the ping's.
            conn.send(wire.op_msg({'bulkWrite': 1, 'ordered': False, 'errorsOnly': True,
                                   'writeConcern': {'w': 0}, '$db': 'admin'},
                                  [('ops', [{'insert': 0, 'document': {'_id': 1}},
                                            {'insert': 0, 'document': {'_id': 1}},
                                            {'insert': 0, 'document': {'_id': 2}}]),
                                   ('nsInfo', [{'ns': c.full_name}])], flags=2))
            self.assertEqual(conn.command('admin', {'ping': 1}), {'ok': 1.0})
        self.assertEqual(sorted(d['_id'] for d in c.find()), [1, 2])

    def test_bad_ns_info_index_fails_the_command(self):
        c, = self.colls('c')
        for index in (1, -1, 'x'):
            cmd = SON([('bulkWrite', 1),
                       ('ops', [{'insert': 0, 'document': {'_id': 1}},
                                {'insert': index, 'document': {'_id': 2}}]),
                       ('nsInfo', [{'ns': c.full_name}])])
            self.assertFails(2 if index != 'x' else 14, cmd)
        # Nothing ran: the command is checked whole first.
        self.assertEqual(c.count_documents({}), 0)

    def test_malformed_commands(self):
        c, = self.colls('c')
        ns = [{'ns': c.full_name}]
        cases = [
            (40414, SON([('bulkWrite', 1), ('nsInfo', ns)])),                       # no ops
            (40414, SON([('bulkWrite', 1), ('ops', [{'insert': 0, 'document': {}}])])),
            (16, SON([('bulkWrite', 1), ('ops', []), ('nsInfo', ns)])),            # empty
            (9, SON([('bulkWrite', 1), ('ops', [{'upsert': 0}]), ('nsInfo', ns)])),
            (40415, SON([('bulkWrite', 1),
                         ('ops', [{'insert': 0, 'document': {}, 'bogus': 1}]),
                         ('nsInfo', ns)])),
            (40414, SON([('bulkWrite', 1), ('ops', [{'update': 0, 'filter': {}}]),
                         ('nsInfo', ns)])),                                         # no updateMods
            (14, SON([('bulkWrite', 1), ('ops', [{'delete': 0, 'filter': 1}]),
                      ('nsInfo', ns)])),
            (73, SON([('bulkWrite', 1), ('ops', [{'insert': 0, 'document': {}}]),
                      ('nsInfo', [{'ns': 'nodot'}])])),
        ]
        for code, cmd in cases:
            with self.subTest(cmd=cmd):
                self.assertFails(code, cmd)
        # Only the admin database runs it.
        self.assertFails(13, SON([('bulkWrite', 1), ('ops', [{'insert': 0, 'document': {}}]),
                                  ('nsInfo', ns)]), db=self.db)

    def test_ordered_stops_at_the_first_error(self):
        c, = self.colls('c')
        c.insert_one({'_id': 1})
        r = self.bulk([
            {'insert': 0, 'document': {'_id': 0}},
            {'insert': 0, 'document': {'_id': 1}},          # duplicate key
            {'insert': 0, 'document': {'_id': 2}},
            {'delete': 0, 'filter': {'_id': 0}},
        ], [c])
        self.assertEqual(r['ok'], 1)
        self.assertEqual((r['nErrors'], r['nInserted'], r['nDeleted']), (1, 1, 0))
        res = r['results']
        self.assertEqual([x['idx'] for x in res], [0, 1])
        err = res[1]
        self.assertEqual((err['ok'], err['code'], err['n']), (0, 11000, 0))
        self.assertEqual(err['keyPattern'], {'_id': 1})
        self.assertEqual(err['keyValue'], {'_id': 1})
        self.assertIn('errmsg', err)
        self.assertEqual(sorted(d['_id'] for d in c.find()), [0, 1])

    def test_unordered_goes_on_after_errors(self):
        c, = self.colls('c')
        c.insert_one({'_id': 1})
        r = self.bulk([
            {'insert': 0, 'document': {'_id': 1}},          # duplicate key
            {'insert': 0, 'document': {'_id': 2}},
            {'update': 0, 'filter': {'$bad': 1}, 'updateMods': {'$set': {'y': 1}}},
            {'delete': 0, 'filter': {'$expr': {'$eq': ['$_id', '$$nope']}}},
            {'update': 0, 'filter': {'_id': 2}, 'updateMods': {'$set': {'y': 1}}},
        ], [c], ordered=False)
        self.assertEqual((r['nErrors'], r['nInserted'], r['nMatched'], r['nModified']),
                         (3, 1, 1, 1))
        res = r['results']
        self.assertEqual([(x['idx'], x['ok']) for x in res],
                         [(0, 0), (1, 1), (2, 0), (3, 0), (4, 1)])
        self.assertEqual(res[0]['code'], 11000)
        self.assertEqual(res[2]['code'], 2)
        self.assertEqual(res[3]['code'], 17276)

    def test_errors_only(self):
        c, = self.colls('c')
        r = self.bulk([
            {'insert': 0, 'document': {'_id': 1}},
            {'insert': 0, 'document': {'_id': 1}},
            {'insert': 0, 'document': {'_id': 2}},
        ], [c], ordered=False, errorsOnly=True)
        self.assertEqual((r['nErrors'], r['nInserted']), (1, 2))
        self.assertEqual([(x['idx'], x['ok'], x['code']) for x in r['results']], [(1, 0, 11000)])
        r = self.bulk([{'insert': 0, 'document': {'_id': 3}}], [c], errorsOnly=True)
        self.assertEqual((r['nErrors'], r['nInserted'], r['results']), (0, 1, []))

    def test_results_beyond_the_batch_come_by_get_more(self):
        c, = self.colls('c')
        ops = [{'insert': 0, 'document': {'_id': i}} for i in range(25)]
        r = self.bulk(ops, [c], cursor={'batchSize': 10})
        self.assertEqual(len(r['cursor']['firstBatch']), 10)
        self.assertNotEqual(r['cursor']['id'], 0)
        self.assertEqual([x['idx'] for x in r['results']], list(range(25)))
        self.assertEqual(c.count_documents({}), 25)

    def test_let_constants_and_sort(self):
        c, = self.colls('c')
        c.insert_many([{'_id': i, 'x': i} for i in range(1, 4)])
        r = self.bulk([
            {'update': 0, 'filter': {'$expr': {'$gt': ['$x', '$$lo']}}, 'sort': {'x': -1},
             'updateMods': [{'$set': {'tag': '$$tag'}}], 'constants': {'tag': 'top'}},
            {'delete': 0, 'filter': {'$expr': {'$eq': ['$x', '$$lo']}}},
        ], [c], let={'lo': 1})
        self.assertEqual((r['nErrors'], r['nModified'], r['nDeleted']), (0, 1, 1))
        self.assertEqual(list(c.find({}, sort=[('_id', 1)])),
                         [{'_id': 2, 'x': 2}, {'_id': 3, 'x': 3, 'tag': 'top'}])

    def test_sort_with_multi_is_an_operation_error(self):
        c, = self.colls('c')
        r = self.bulk([{'update': 0, 'filter': {}, 'updateMods': {'$set': {'y': 1}},
                        'multi': True, 'sort': {'_id': 1}}], [c])
        self.assertEqual(r['results'][0]['code'], 72)

    def test_collation(self):
        c, = self.colls('c')
        c.insert_many([{'_id': 1, 's': 'A'}, {'_id': 2, 's': 'b'}])
        r = self.bulk([{'delete': 0, 'filter': {'s': 'a'}, 'collation': {'locale': 'xx'}}], [c])
        self.assertEqual((r['nErrors'], r['results'][0]['code']), (1, 2))
        r = self.bulk([{'delete': 0, 'filter': {'s': 'a'},
                        'collation': {'locale': 'fr', 'strength': 2}}], [c])
        self.assertEqual((r['nErrors'], r['nDeleted']), (0, 1))
        self.assertEqual(c.count_documents({}), 1)

    def test_hint_must_name_an_index(self):
        c, = self.colls('c')
        c.insert_many([{'_id': 1, 'a': 1}, {'_id': 2, 'a': 2}])
        c.create_index('a')
        r = self.bulk([
            {'update': 0, 'filter': {'_id': 1}, 'updateMods': {'$set': {'y': 1}}, 'hint': 'nope'},
            {'update': 0, 'filter': {'_id': 1}, 'updateMods': {'$set': {'y': 1}}, 'hint': 'a_1'},
            {'delete': 0, 'filter': {'_id': 2}, 'hint': {'b': 1}},
            {'delete': 0, 'filter': {'_id': 2}, 'hint': {'_id': 1}},
        ], [c], ordered=False)
        self.assertEqual((r['nErrors'], r['nModified'], r['nDeleted']), (2, 1, 1))
        res = r['results']
        self.assertEqual([(x['idx'], x['ok'], x.get('code')) for x in res],
                         [(0, 0, 2), (1, 1, None), (2, 0, 2), (3, 1, None)])
        self.assertIn('hint provided does not correspond to an existing index', res[0]['errmsg'])


class TestUpdateSort(Base):
    def test_update_one_takes_the_first_in_sort_order(self):
        c, = self.colls('c')
        c.insert_many([{'_id': i, 'x': i} for i in range(1, 4)])
        r = self.db.command('update', c.name, updates=[
            {'q': {'_id': {'$gt': 1}}, 'u': {'x': 0}, 'sort': {'_id': -1}}])
        self.assertEqual((r['n'], r['nModified']), (1, 1))
        self.assertEqual(list(c.find({}, sort=[('_id', 1)])),
                         [{'_id': 1, 'x': 1}, {'_id': 2, 'x': 2}, {'_id': 3, 'x': 0}])
        # After the replacement x: 0 sorts first.
        r = self.db.command('update', c.name, updates=[
            {'q': {}, 'u': {'$set': {'low': True}}, 'sort': {'x': 1}}])
        self.assertEqual(c.find_one({'low': True})['_id'], 3)

    def test_sort_with_multi_is_refused(self):
        c, = self.colls('c')
        r = self.db.command('update', c.name, updates=[
            {'q': {}, 'u': {'$set': {'y': 1}}, 'multi': True, 'sort': {'_id': 1}}])
        self.assertEqual(r['writeErrors'][0]['code'], 72)


if __name__ == '__main__':
    harness.main()
