#!/usr/bin/env python3
"""TTL indexes through pymongo (docs/rfc/0007-indexes.md, "TTL"): createIndexes checks
expireAfterSeconds as mongod 7/8 do, listIndexes shows it, and the TTL monitor
(ttl_monitor_interval, here 1 second) deletes documents whose indexed field is a date, or an
array holding one, older than now - expireAfterSeconds; serverStatus counts its work; the
server shuts down promptly while the monitor runs.
"""

import datetime
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

pymongo = harness.import_pymongo()
from bson import Decimal128, Int64, Timestamp  # noqa: E402
from pymongo.errors import OperationFailure  # noqa: E402

DB = 'it_ttl'
# The monitor runs every second; a document must be gone within a few passes.
EXPIRY_WAIT = 15.0


def setUpModule():
    harness.start_module_server(settings={'ttl_monitor_interval': 1})


def tearDownModule():
    harness.stop_module_server()


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def ago(seconds):
    return now() - datetime.timedelta(seconds=seconds)


def ttl_metrics(client):
    return client.admin.command('serverStatus')['metrics']['ttl']


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

    def ids(self, c):
        return sorted(d['_id'] for d in c.find({}, {'_id': 1}))

    def wait_for_ids(self, c, expected, timeout=EXPIRY_WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ids(c) == sorted(expected):
                return
            time.sleep(0.2)
        self.assertEqual(self.ids(c), sorted(expected))

    def wait_passes(self, count):
        """Waits until the monitor has completed count more passes."""
        start = ttl_metrics(self.client)['passes']
        deadline = time.monotonic() + EXPIRY_WAIT
        while ttl_metrics(self.client)['passes'] < start + count:
            self.assertLess(time.monotonic(), deadline, 'the TTL monitor made no progress')
            time.sleep(0.2)


class TestSpecs(Base):
    def assert_code(self, code, keys, **options):
        c = self.db['specs']
        with self.assertRaises(OperationFailure) as cm:
            c.create_index(keys, **options)
        self.assertEqual(cm.exception.code, code, cm.exception.details)

    def test_invalid_specs(self):
        self.db['specs'].drop()
        self.assert_code(67, [('a', 1), ('b', 1)], expireAfterSeconds=10)
        self.assert_code(67, 'a', expireAfterSeconds=-1)
        self.assert_code(67, 'a', expireAfterSeconds='10')
        self.assert_code(67, 'a', expireAfterSeconds=float('nan'))
        self.assert_code(67, 'a', expireAfterSeconds=2147483648)
        self.assert_code(67, 'a', expireAfterSeconds=Int64(9999999999999999))
        self.assert_code(67, 'a', expireAfterSeconds=True)
        with self.assertRaises(OperationFailure) as cm:
            self.db['specs'].create_index('_id', expireAfterSeconds=10)
        self.assertEqual(cm.exception.code, 197)
        self.assertIn("'expireAfterSeconds' is not valid for an _id index", str(cm.exception))
        # Nothing was created by the failures.
        self.assertNotIn('a_1', self.db['specs'].index_information())

    def test_valid_specs_are_listed(self):
        c = self.coll()
        c.create_index('a', expireAfterSeconds=0)
        c.create_index('b', expireAfterSeconds=2147483647)
        # mongod 7 keeps the whole seconds of a fractional value.
        c.create_index('c', expireAfterSeconds=10000.7)
        c.create_index('d', expireAfterSeconds=Int64(3600))
        c.create_index('e', expireAfterSeconds=Decimal128('60'))
        # A descending single field is fine, and so is a field named expireAfterSeconds.
        c.create_index([('f', -1)], expireAfterSeconds=5)
        c.create_index('expireAfterSeconds')
        listed = {ix['name']: ix for ix in c.list_indexes()}
        self.assertEqual(listed['a_1']['expireAfterSeconds'], 0)
        self.assertEqual(listed['b_1']['expireAfterSeconds'], 2147483647)
        self.assertEqual(listed['c_1']['expireAfterSeconds'], 10000)
        self.assertEqual(listed['d_1']['expireAfterSeconds'], 3600)
        self.assertEqual(listed['e_1']['expireAfterSeconds'], 60)
        self.assertEqual(listed['f_-1']['expireAfterSeconds'], 5)
        self.assertNotIn('expireAfterSeconds', listed['expireAfterSeconds_1'])
        # The same TTL index again is no change; another value for the same key conflicts.
        c.create_index('a', expireAfterSeconds=0)
        with self.assertRaises(OperationFailure) as cm:
            c.create_index('a', expireAfterSeconds=1)
        self.assertEqual(cm.exception.code, 85)


class TestExpiry(Base):
    def test_dates_expire_others_stay(self):
        c = self.coll()
        c.create_index('t', expireAfterSeconds=0)
        c.insert_many([
            {'_id': 'old', 't': ago(3600)},
            {'_id': 'just', 't': ago(2)},
            {'_id': 'epoch', 't': datetime.datetime(1970, 1, 1)},
            {'_id': 'before-epoch', 't': datetime.datetime(1900, 1, 1)},
            {'_id': 'future', 't': now() + datetime.timedelta(days=1)},
            {'_id': 'missing'},
            {'_id': 'null', 't': None},
            {'_id': 'string', 't': '2000-01-01T00:00:00Z'},
            {'_id': 'number', 't': 0},
            {'_id': 'timestamp', 't': Timestamp(1, 1)},
            {'_id': 'object', 't': {'d': ago(3600)}},
        ])
        stay = ['future', 'missing', 'null', 'string', 'number', 'timestamp', 'object']
        self.wait_for_ids(c, stay)
        self.wait_passes(2)
        self.assertEqual(self.ids(c), sorted(stay))

    def test_arrays_of_dates(self):
        c = self.coll()
        c.create_index('t', expireAfterSeconds=60)
        c.insert_many([
            # The earliest date counts.
            {'_id': 'mixed', 't': [now() + datetime.timedelta(days=1), ago(3600)]},
            {'_id': 'with-others', 't': ['x', 1, ago(3600)]},
            {'_id': 'all-recent', 't': [now(), now() + datetime.timedelta(days=1)]},
            {'_id': 'no-dates', 't': ['x', 1, None]},
            {'_id': 'empty', 't': []},
            {'_id': 'nested', 't': [[ago(3600)]]},
        ])
        stay = ['all-recent', 'no-dates', 'empty', 'nested']
        self.wait_for_ids(c, stay)
        self.wait_passes(2)
        self.assertEqual(self.ids(c), sorted(stay))

    def test_expire_after_seconds_counts(self):
        c = self.coll()
        c.create_index('t', expireAfterSeconds=3600)
        c.insert_many([{'_id': 'recent', 't': ago(600)}, {'_id': 'old', 't': ago(7200)}])
        self.wait_for_ids(c, ['recent'])
        self.wait_passes(2)
        self.assertEqual(self.ids(c), ['recent'])

    def test_expire_at_a_clock_time(self):
        # expireAfterSeconds 0 with the expiry time in the document (connect-mongo's way).
        c = self.coll()
        c.create_index('expires', expireAfterSeconds=0)
        c.insert_many([{'_id': 'soon', 'expires': now() + datetime.timedelta(seconds=2)},
                       {'_id': 'later', 'expires': now() + datetime.timedelta(hours=1)}])
        self.assertEqual(self.ids(c), ['later', 'soon'])
        self.wait_for_ids(c, ['later'], timeout=EXPIRY_WAIT + 2)

    def test_dotted_path_and_partial_filter(self):
        c = self.coll()
        c.create_index('s.t', expireAfterSeconds=0, partialFilterExpression={'kind': 'temp'})
        c.insert_many([
            {'_id': 'temp', 'kind': 'temp', 's': {'t': ago(60)}},
            {'_id': 'temp-in-array', 'kind': 'temp', 's': [{'t': 1}, {'t': ago(60)}]},
            {'_id': 'keep', 'kind': 'keep', 's': {'t': ago(60)}},
        ])
        self.wait_for_ids(c, ['keep'])

    def test_unique_index_entries_go_with_documents(self):
        c = self.coll()
        c.create_index('t', expireAfterSeconds=0)
        c.create_index('u', unique=True)
        c.insert_many([{'_id': 1, 'u': 'a', 't': ago(60)}, {'_id': 2, 'u': 'b', 't': now() +
                                                            datetime.timedelta(hours=1)}])
        self.wait_for_ids(c, [2])
        # The unique entry of the expired document went with it.
        c.insert_one({'_id': 3, 'u': 'a'})
        with self.assertRaises(pymongo.errors.DuplicateKeyError):
            c.insert_one({'_id': 4, 'u': 'b'})

    def test_coll_mod_is_picked_up(self):
        c = self.coll()
        c.create_index('t', expireAfterSeconds=3600)
        c.insert_one({'_id': 1, 't': ago(120)})
        self.wait_passes(2)
        self.assertEqual(self.ids(c), [1])
        self.db.command('collMod', c.name, index={'keyPattern': {'t': 1},
                                                   'expireAfterSeconds': 60})
        self.wait_for_ids(c, [])

    def test_dropped_index_expires_nothing(self):
        c = self.coll()
        c.create_index('t', expireAfterSeconds=3600)
        c.drop_index('t_1')
        c.insert_one({'_id': 1, 't': ago(7200)})
        self.wait_passes(2)
        self.assertEqual(self.ids(c), [1])

    def test_several_databases_and_many_documents(self):
        other = self.client[DB + '_other']
        self.client.drop_database(other)
        try:
            c = other['many']
            c.create_index('t', expireAfterSeconds=0)
            old = ago(60)
            c.insert_many([{'_id': i, 't': old} for i in range(1200)] + [{'_id': -1}])
            self.wait_for_ids(c, [-1], timeout=EXPIRY_WAIT * 2)
        finally:
            self.client.drop_database(other)

    def test_server_status_metrics(self):
        before = ttl_metrics(self.client)
        self.assertIsInstance(before['deletedDocuments'], int)
        self.assertIsInstance(before['passes'], int)
        c = self.coll()
        c.create_index('t', expireAfterSeconds=0)
        c.insert_many([{'t': ago(60)} for _ in range(3)])
        self.wait_for_ids(c, [])
        after = ttl_metrics(self.client)
        self.assertGreaterEqual(after['deletedDocuments'], before['deletedDocuments'] + 3)
        self.assertGreater(after['passes'], before['passes'])
        r = self.client.admin.command('getParameter', 1, ttlMonitorEnabled=1)
        self.assertIs(r['ttlMonitorEnabled'], True)


class TestLifecycle(unittest.TestCase):
    """Servers of their own: interval 0, and shutdown while the monitor works or sleeps."""

    def start(self, interval):
        server = harness.Server(settings={'ttl_monitor_interval': interval})
        self.addCleanup(server.cleanup)
        server.start()
        self.addCleanup(server.stop, check=False)
        return server

    def test_interval_zero_disables_the_monitor(self):
        server = self.start(0)
        client = server.client()
        try:
            c = client[DB]['off']
            c.create_index('t', expireAfterSeconds=0)
            c.insert_one({'_id': 1, 't': ago(60)})
            time.sleep(2.5)
            self.assertEqual(c.count_documents({}), 1)
            self.assertEqual(ttl_metrics(client)['passes'], 0)
            r = client.admin.command('getParameter', 1, ttlMonitorEnabled=1)
            self.assertIs(r['ttlMonitorEnabled'], False)
        finally:
            client.close()
        server.stop()

    def test_prompt_shutdown_while_sleeping(self):
        server = self.start(3600)
        started = time.monotonic()
        server.stop(timeout=10)
        self.assertLess(time.monotonic() - started, 5)

    def test_prompt_shutdown_while_deleting(self):
        server = self.start(1)
        client = server.client()
        try:
            old = ago(60)
            for n in range(3):
                c = client[DB]['bulk%d' % n]
                c.create_index('t', expireAfterSeconds=0)
                c.create_index('u', unique=True)
                c.insert_many([{'_id': i, 'u': i, 't': old} for i in range(3000)])
            # Wait until the monitor is at work, then stop the server under it.
            deadline = time.monotonic() + EXPIRY_WAIT
            while ttl_metrics(client)['deletedDocuments'] == 0:
                self.assertLess(time.monotonic(), deadline, 'the TTL monitor never started')
                time.sleep(0.02)
        finally:
            client.close()
        started = time.monotonic()
        server.stop(timeout=20)
        self.assertLess(time.monotonic() - started, 10)


if __name__ == '__main__':
    harness.main()
