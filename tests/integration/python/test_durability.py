#!/usr/bin/env python3
"""Crash durability and graceful shutdown.

kill -9: several threads insert documents one by one (w:1, acknowledged) and record each
acknowledged _id; the server is killed with SIGKILL mid-stream and restarted on the same data;
every acknowledged _id must be there.

SIGTERM: clients are mid-operation when the server is told to stop; each request already sent
is answered in full or the connection is closed at a message boundary (never a torn reply),
the server exits 0, and after a restart every acknowledged write is present.
"""

import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402
from harness import wire  # noqa: E402

pymongo = harness.import_pymongo()

DB = 'it_dur'
THREADS = 6


class Writers:
    """THREADS threads inserting over raw sockets until stopped or the connection dies."""

    def __init__(self, server, coll):
        self.server = server
        self.coll = coll
        self.acked = set()
        self.sent = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.problems = []
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(THREADS)]

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)
        return [i for i, t in enumerate(self.threads) if t.is_alive()]

    def run(self, i):
        try:
            conn = self.server.conn(timeout=60)
        except OSError as e:
            self.problems.append('thread %d could not connect: %r' % (i, e))
            return
        n = 0
        try:
            while not self.stop.is_set():
                _id = i * 10 ** 7 + n
                n += 1
                with self.lock:
                    self.sent.add(_id)
                try:
                    r = conn.command(DB, {'insert': self.coll,
                                          'documents': [{'_id': _id, 'pad': 'p' * 64}],
                                          'writeConcern': {'w': 1}})
                except (wire.Closed, ConnectionError, OSError):
                    return                       # the server went away at a boundary
                except wire.Truncated as e:
                    self.problems.append('thread %d: torn reply: %s' % (i, e))
                    return
                if r.get('ok') == 1 and r.get('n') == 1 and not r.get('writeErrors'):
                    with self.lock:
                        self.acked.add(_id)
                elif r.get('ok') == 1:
                    self.problems.append('thread %d: insert %d not applied: %r' % (i, _id, r))
                    return
                # ok:0 during shutdown (e.g. ShutdownInProgress) is a clean refusal.
        finally:
            conn.close()


def present_ids(server, coll):
    client = server.client()
    try:
        return set(d['_id'] for d in client[DB][coll].find({}, {'_id': 1}))
    finally:
        client.close()


def needs_persistence(test):
    return unittest.skipUnless(
        harness.backend_is_persistent(),
        'backend %r keeps its data in memory' % harness.backend_name())(test)


class TestDurability(unittest.TestCase):
    def setUp(self):
        self.server = harness.Server()

    def tearDown(self):
        try:
            self.server.stop()
        finally:
            self.server.cleanup()

    @needs_persistence
    def test_kill9_keeps_acknowledged_writes(self):
        srv = self.server
        srv.start()
        w = Writers(srv, 'k9')
        w.start()
        time.sleep(2.0)
        self.assertTrue(srv.alive())
        srv.kill9()
        hung = w.join()
        self.assertEqual(hung, [])
        self.assertEqual(w.problems, [])
        self.assertGreater(len(w.acked), 20, 'too few writes to prove anything')
        srv.start()
        got = present_ids(srv, 'k9')
        print('\n  kill -9 after %d acknowledged of %d sent inserts; %d present after restart'
              % (len(w.acked), len(w.sent), len(got)), end=' ', flush=True)
        missing = sorted(w.acked - got)
        self.assertEqual(missing[:20], [], '%d acknowledged inserts lost' % len(missing))
        # Nothing appears that was never sent.
        self.assertEqual(sorted(got - w.sent)[:20], [])
        # The restarted server still takes writes on the same collection.
        client = srv.client()
        try:
            client[DB].k9.insert_one({'_id': 'after'})
            self.assertEqual(client[DB].k9.count_documents({}), len(got) + 1)
        finally:
            client.close()

    @needs_persistence
    def test_kill9_twice_and_reopen(self):
        srv = self.server
        srv.start()
        client = srv.client()
        client[DB].twice.insert_many([{'_id': i} for i in range(100)])
        client.close()
        srv.kill9()
        srv.start()
        srv.kill9()
        srv.start()
        self.assertEqual(present_ids(srv, 'twice'), set(range(100)))

    def test_sigterm_during_load(self):
        srv = self.server
        srv.start()
        w = Writers(srv, 'term')
        w.start()
        # A large batch in flight when the signal arrives: it must be answered in full.
        big = srv.conn(timeout=120)
        docs = [{'_id': 'big%d' % i, 'v': i} for i in range(20000)]
        big_msg = wire.op_msg({'insert': 'term_big', '$db': DB}, [('documents', docs)])
        time.sleep(1.0)
        big.send(big_msg)
        time.sleep(0.15)
        srv.signal(signal.SIGTERM)
        code = srv.wait_exit(60)
        hung = w.join()
        try:
            big_reply = wire.outcome(big, timeout=10)
        finally:
            big.close()
        srv.check_log()
        print('\n  SIGTERM: %d writes acknowledged; in-flight batch %s' % (
            len(w.acked), 'closed' if big_reply == 'closed' else big_reply.doc),
            end=' ', flush=True)
        self.assertEqual(code, 0, 'exit status after SIGTERM\n' + srv.log_tail())
        self.assertEqual(hung, [])
        self.assertEqual(w.problems, [])
        self.assertGreater(len(w.acked), 10)
        if not harness.backend_is_persistent():
            return                        # nothing to look at after a restart
        srv.start()
        got = present_ids(srv, 'term')
        self.assertEqual(sorted(w.acked - got)[:20], [])
        big_ids = present_ids(srv, 'term_big')
        if big_reply == 'closed':
            # Refused before it started: then none of it may have been applied half-way...
            # unless the server applied it fully and died before replying, which a graceful
            # shutdown must not do for a command it had begun.
            self.assertEqual(len(big_ids), 0,
                             'batch applied (%d docs) but its reply was dropped' % len(big_ids))
        else:
            r = big_reply.doc
            if r.get('ok') == 1:
                self.assertEqual(r.get('n'), len(docs))
                self.assertEqual(len(big_ids), len(docs))
            else:
                # An error reply (e.g. 91 ShutdownInProgress) is acceptable: n says how much.
                self.assertEqual(len(big_ids), r.get('n', 0))

    def test_sigterm_completes_inflight_batch(self):
        # No other load: the batch is surely being executed when the signal arrives (it takes
        # longer than the pause), so it must finish and be answered before the server exits.
        srv = self.server
        srv.start()
        docs = [{'_id': i, 'v': 'x' * 20} for i in range(20000)]
        with srv.conn(timeout=120) as conn:
            conn.send(wire.op_msg({'insert': 'inflight', '$db': DB}, [('documents', docs)],
                                  request_id=9001))
            time.sleep(0.3)
            srv.signal(signal.SIGTERM)
            out = wire.outcome(conn, timeout=60)
        code = srv.wait_exit(60)
        srv.check_log()
        self.assertEqual(code, 0)
        self.assertNotEqual(out, 'closed', 'in-flight insert dropped without a reply')
        self.assertEqual(out.response_to, 9001)
        self.assertEqual((out.doc.get('ok'), out.doc.get('n')), (1, len(docs)), out.doc)
        if harness.backend_is_persistent():
            srv.start()
            client = srv.client()
            try:
                self.assertEqual(client[DB].inflight.count_documents({}), len(docs))
            finally:
                client.close()

    def test_sigterm_idle_exits_zero(self):
        srv = self.server
        srv.start()
        idle = [srv.conn() for _ in range(5)]
        for c in idle:
            c.ping()
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)
        code = srv.wait_exit(30)
        elapsed = time.monotonic() - t0
        srv.check_log()
        self.assertEqual(code, 0)
        self.assertLess(elapsed, 20, 'idle connections delayed shutdown')
        for c in idle:
            self.assertEqual(wire.outcome(c, timeout=5), 'closed')
            c.close()

    def test_sigterm_with_stalled_client(self):
        # Half a message on one connection, an open cursor on another: neither may hold up
        # a graceful shutdown.
        srv = self.server
        srv.start()
        stalled = srv.conn()
        data = wire.op_msg({'ping': 1, '$db': 'admin'})
        stalled.send(data[:12])
        holder = srv.conn()
        holder.command(DB, {'insert': 'held', 'documents': [{'_id': i} for i in range(10)]})
        r = holder.command(DB, {'find': 'held', 'filter': {}, 'batchSize': 1})
        self.assertNotEqual(r['cursor']['id'], 0)
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)
        code = srv.wait_exit(30)
        srv.check_log()
        self.assertEqual(code, 0)
        self.assertLess(time.monotonic() - t0, 20)
        stalled.close()
        holder.close()

    def test_sigint_exits_zero(self):
        srv = self.server
        srv.start()
        srv.signal(signal.SIGINT)
        self.assertEqual(srv.wait_exit(30), 0)
        srv.check_log()


if __name__ == '__main__':
    harness.main()
