"""Integration-test harness: a real ferretd per test module, raw wire helpers, a runner.

A test program is a plain unittest module run as a script:

    import harness
    pymongo = harness.import_pymongo()

    def setUpModule(): harness.start_module_server()
    def tearDownModule(): harness.stop_module_server()   # fails on crash/sanitizer/bad exit
    ...
    if __name__ == '__main__':
        harness.main()

main() exits 0 when every test passed, 1 on any failure or error, and 77 (meson's SKIP) only
when a prerequisite is missing: no ferretd, no pymongo, no PostgreSQL for the postgres backend.
"""

import os
import sys
import unittest

from .ferretd import (SKIP, Server, ServerError, Skip, backend_is_persistent, backend_name,
                      check_prerequisites, spec_dir)
from . import wire

__all__ = ['SKIP', 'Server', 'ServerError', 'Skip', 'backend_is_persistent', 'backend_name',
           'spec_dir', 'wire',
           'main', 'import_pymongo', 'start_module_server', 'stop_module_server', 'server']

# The module-level server of the running test program (see start_module_server).
server = None


def import_pymongo():
    try:
        import pymongo
    except ImportError as e:
        print('SKIP: pymongo is not importable by %s: %s' % (sys.executable, e))
        sys.exit(SKIP)
    return pymongo


def start_module_server(**kw):
    global server
    server = Server(**kw)
    try:
        server.start()
    except BaseException:
        server.cleanup()
        server = None
        raise
    return server


def stop_module_server():
    global server
    s, server = server, None
    if s is None:
        return
    try:
        s.stop()
    finally:
        s.cleanup()


def main():
    try:
        check_prerequisites()
    except Skip as e:
        print('SKIP: %s' % e)
        sys.exit(SKIP)
    print('ferretd=%s backend=%s plugin_dir=%s' % (os.environ.get('FERRETD'), backend_name(),
                                                  os.environ.get('FERRET_PLUGIN_DIR', '')))
    sys.stdout.flush()
    prog = unittest.main(module='__main__', verbosity=2, exit=False, buffer=False)
    r = prog.result
    print('\nSUMMARY: %d run, %d failures, %d errors, %d skipped, %d expected failures'
          % (r.testsRun, len(r.failures), len(r.errors), len(r.skipped),
             len(r.expectedFailures)))
    for test, reason in r.skipped:
        print('  skipped %s: %s' % (test.id(), reason))
    sys.exit(0 if r.wasSuccessful() and r.testsRun > 0 else 1)
