#!/usr/bin/env python3
"""The failCommand fail point (configureFailPoint), which drivers' specification tests use:
refused unless test commands are enabled; modes times, skip, alwaysOn and off; errorCode with
errorLabels, closeConnection, writeConcernError, and the appName and failCommands filters.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

pymongo = harness.import_pymongo()
from pymongo.errors import AutoReconnect, OperationFailure  # noqa: E402

DB = 'it_failpoint'


def setUpModule():
    harness.start_module_server(settings={'enable_test_commands': 'true'})


def tearDownModule():
    harness.stop_module_server()


class FailCommand(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = harness.server.client(retryWrites=False, retryReads=False)
        cls.admin = cls.client.admin
        cls.coll = cls.client[DB].things

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def tearDown(self):
        self.admin.command({'configureFailPoint': 'failCommand', 'mode': 'off'})

    def arm(self, mode, **data):
        return self.admin.command({'configureFailPoint': 'failCommand', 'mode': mode,
                                   'data': data})

    def test_times_fails_that_many_then_runs(self):
        self.arm({'times': 2}, failCommands=['insert'], errorCode=8,
                 errorLabels=['RetryableWriteError'])
        for _ in range(2):
            with self.assertRaises(OperationFailure) as caught:
                self.coll.insert_one({'a': 1})
            self.assertEqual(caught.exception.code, 8)
            self.assertIn('failCommand', caught.exception.details['errmsg'])
            self.assertEqual(caught.exception.details['errorLabels'], ['RetryableWriteError'])
        self.coll.insert_one({'a': 2})
        self.assertEqual(self.coll.count_documents({'a': 2}), 1)
        self.assertEqual(self.coll.count_documents({'a': 1}), 0, 'a failed insert was applied')

    def test_other_commands_are_untouched(self):
        self.arm('alwaysOn', failCommands=['delete'], errorCode=2)
        self.coll.insert_one({'b': 1})
        self.assertEqual(self.coll.find_one({'b': 1})['b'], 1)
        with self.assertRaises(OperationFailure) as caught:
            self.coll.delete_one({'b': 1})
        self.assertEqual(caught.exception.code, 2)

    def test_skip_lets_the_first_ones_through(self):
        self.arm({'skip': 1}, failCommands=['count'], errorCode=96)
        self.assertEqual(self.client[DB].command('count', 'things', query={'none': 1})['n'], 0)
        with self.assertRaises(OperationFailure) as caught:
            self.client[DB].command('count', 'things')
        self.assertEqual(caught.exception.code, 96)

    def test_count_reports_activations(self):
        self.arm('alwaysOn', failCommands=['ping'], errorCode=1)
        for _ in range(3):
            with self.assertRaises(OperationFailure):
                self.admin.command('ping')
        reply = self.admin.command({'configureFailPoint': 'failCommand', 'mode': 'off'})
        self.assertEqual(reply['count'], 3)
        self.assertEqual(self.admin.command('ping')['ok'], 1.0)

    def test_close_connection(self):
        self.arm({'times': 1}, failCommands=['find'], closeConnection=True)
        with self.assertRaises(AutoReconnect):
            self.coll.find_one({})
        # The server and a new connection are fine afterwards.
        self.coll.insert_one({'c': 1})
        self.assertEqual(self.coll.find_one({'c': 1})['c'], 1)

    def test_write_concern_error_after_the_write(self):
        self.arm({'times': 1}, failCommands=['insert'],
                 writeConcernError={'code': 91, 'errmsg': 'Replication is being shut down'})
        reply = self.client[DB].command('insert', 'things', documents=[{'d': 1}])
        self.assertEqual(reply['ok'], 1.0)
        self.assertEqual(reply['n'], 1)
        self.assertEqual(reply['writeConcernError']['code'], 91)
        self.assertEqual(self.coll.count_documents({'d': 1}), 1)

    def test_app_name_filter(self):
        self.arm('alwaysOn', failCommands=['find'], errorCode=8, appName='the-other-app')
        self.assertIsNone(self.coll.find_one({'none': 1}))
        other = harness.server.client(appname='the-other-app', retryReads=False)
        try:
            with self.assertRaises(OperationFailure) as caught:
                other[DB].things.find_one({})
            self.assertEqual(caught.exception.code, 8)
        finally:
            other.close()

    def test_bad_configurations(self):
        for command, code in [
            ({'configureFailPoint': 'noSuchFailPoint', 'mode': 'alwaysOn'}, 2),
            ({'configureFailPoint': 'failCommand', 'mode': 'sometimes'}, 2),
            ({'configureFailPoint': 'failCommand', 'mode': {'times': -1},
              'data': {'failCommands': ['find']}}, 2),
            ({'configureFailPoint': 'failCommand', 'mode': 'alwaysOn', 'data': {}}, 2),
            ({'configureFailPoint': 'failCommand', 'mode': 'alwaysOn',
              'data': {'failCommands': 'find'}}, 14),
        ]:
            with self.subTest(command=command):
                with self.assertRaises(OperationFailure) as caught:
                    self.admin.command(command)
                self.assertEqual(caught.exception.code, code)
        with self.assertRaises(OperationFailure) as caught:
            self.client[DB].command({'configureFailPoint': 'failCommand', 'mode': 'off'})
        self.assertEqual(caught.exception.code, 13)  # admin only


class Disabled(unittest.TestCase):
    def test_refused_without_test_commands(self):
        srv = harness.Server()
        try:
            srv.start()
            client = srv.client()
            with self.assertRaises(OperationFailure) as caught:
                client.admin.command({'configureFailPoint': 'failCommand', 'mode': 'off'})
            self.assertEqual(caught.exception.code, 59)
            self.assertEqual(client.admin.command('ping')['ok'], 1.0)
            client.close()
            srv.stop()
        finally:
            srv.cleanup()


if __name__ == '__main__':
    unittest.main(verbosity=2)
