#!/usr/bin/env python3
"""Many simultaneous connections: every acknowledged insert must be found, by everyone.

200 raw sockets are all open at once (so the server holds 200 connections across its workers),
then 200 threads each insert their own documents one at a time and read them back; a pymongo
pool with 32 threads does the same through the driver. Afterwards every _id is found exactly
once and the server is still healthy.
"""

import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

pymongo = harness.import_pymongo()

DB = 'it_conc'
SOCKETS = int(os.environ.get('FERRET_IT_SOCKETS', '200'))
PER_SOCKET = 5
PER_THREAD = 10


def setUpModule():
    harness.start_module_server()


def tearDownModule():
    harness.stop_module_server()


def run_threads(n, fn):
    errors = []
    barrier = threading.Barrier(n)

    def body(i):
        try:
            barrier.wait(60)
            fn(i)
        except BaseException as e:          # reported below, with the thread number
            errors.append('thread %d: %r' % (i, e))

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    hung = [i for i, t in enumerate(threads) if t.is_alive()]
    return errors, hung


class TestConcurrency(unittest.TestCase):
    def test_raw_sockets(self):
        srv = harness.server
        conns = [srv.conn(timeout=120) for _ in range(SOCKETS)]
        try:
            # Every socket is open and served before any thread starts writing.
            for c in conns:
                c.ping()

            def work(i):
                c = conns[i]
                for j in range(PER_SOCKET):
                    _id = i * 1000 + j
                    r = c.command(DB, {'insert': 'raw', 'documents': [{'_id': _id, 't': i}]})
                    if r.get('ok') != 1 or r.get('n') != 1:
                        raise AssertionError('insert %d: %r' % (_id, r))
                    r = c.command(DB, {'find': 'raw', 'filter': {'_id': _id}})
                    batch = r['cursor']['firstBatch']
                    if batch != [{'_id': _id, 't': i}]:
                        raise AssertionError('find %d: %r' % (_id, r))
                r = c.command(DB, {'count': 'raw', 'query': {'t': i}})
                if r.get('n') != PER_SOCKET:
                    raise AssertionError('count for %d: %r' % (i, r))

            errors, hung = run_threads(SOCKETS, work)
            self.assertEqual(hung, [], 'threads still running')
            self.assertEqual(errors[:10], [])
        finally:
            for c in conns:
                c.close()
        client = srv.client()
        try:
            ids = sorted(d['_id'] for d in client[DB].raw.find({}, {'_id': 1}))
            want = sorted(i * 1000 + j for i in range(SOCKETS) for j in range(PER_SOCKET))
            self.assertEqual(len(ids), len(want))
            self.assertEqual(ids, want)
        finally:
            client.close()

    def test_driver_pool(self):
        srv = harness.server
        client = srv.client(maxPoolSize=32)
        coll = client[DB].pool
        try:
            def work(i):
                for j in range(PER_THREAD):
                    _id = '%d-%d' % (i, j)
                    coll.insert_one({'_id': _id, 'i': i})
                    if coll.find_one({'_id': _id}) != {'_id': _id, 'i': i}:
                        raise AssertionError('not found: %s' % _id)
                coll.update_many({'i': i}, {'$set': {'done': True}})
                if coll.count_documents({'i': i, 'done': True}) != PER_THREAD:
                    raise AssertionError('update lost for %d' % i)

            errors, hung = run_threads(32, work)
            self.assertEqual(hung, [])
            self.assertEqual(errors[:10], [])
            self.assertEqual(coll.count_documents({}), 32 * PER_THREAD)
            self.assertEqual(coll.count_documents({'done': True}), 32 * PER_THREAD)
        finally:
            client.close()

    def test_abandoned_cursors(self):
        # Clients that vanish with open cursors: the server must release them (a leak shows
        # at shutdown under LeakSanitizer) and keep serving.
        srv = harness.server
        with srv.conn() as c:
            r = c.command(DB, {'insert': 'curs', 'documents': [{'_id': i} for i in range(100)]})
            self.assertEqual(r['n'], 100)
        for _ in range(30):
            c = srv.conn()
            r = c.command(DB, {'find': 'curs', 'filter': {}, 'batchSize': 2})
            self.assertNotEqual(r['cursor']['id'], 0)
            r = c.command(DB, {'getMore': r['cursor']['id'], 'collection': 'curs',
                               'batchSize': 3})
            self.assertEqual(len(r['cursor']['nextBatch']), 3)
            c.close()
        with srv.conn() as c:
            r = c.command(DB, {'count': 'curs'})
            self.assertEqual(r['n'], 100)

    def test_connect_disconnect_churn(self):
        # Short-lived connections, some closed with a command still unanswered.
        srv = harness.server

        def work(i):
            for j in range(10):
                with srv.conn() as c:
                    if j % 3 == 0:
                        c.send(harness.wire.op_msg({'ping': 1, '$db': 'admin'}))
                        continue              # closed before reading the reply
                    c.ping()

        errors, hung = run_threads(20, work)
        self.assertEqual(hung, [])
        self.assertEqual(errors, [])
        self.assertTrue(srv.alive())
        with srv.conn() as c:
            c.ping()


if __name__ == '__main__':
    harness.main()
