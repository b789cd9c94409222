#!/usr/bin/env python3
"""Runs one external test program against a fresh ferretd.

    run_with_server.py PROGRAM [ARGS...]

Starts a server as the Python tests do (same environment contract), runs PROGRAM with
FERRET_URI (a mongodb:// URI), FERRET_HOST and FERRET_PORT in its environment, then stops the
server. The exit status is the program's (77 passes through as SKIP); a server that crashed,
reported a sanitizer error or exited badly turns success into failure.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402
from harness.ferretd import Server, ServerError, Skip, check_prerequisites  # noqa: E402


def main(argv):
    if len(argv) < 2:
        print('usage: run_with_server.py PROGRAM [ARGS...]', file=sys.stderr)
        return 2
    try:
        check_prerequisites()
    except Skip as e:
        print('SKIP: %s' % e)
        return harness.SKIP
    srv = Server()
    status = 1
    try:
        srv.start()
        env = dict(os.environ, FERRET_URI=srv.uri, FERRET_HOST=srv.host,
                   FERRET_PORT=str(srv.port))
        print('running %s against %s' % (' '.join(argv[1:]), srv.uri), flush=True)
        status = subprocess.call(argv[1:], env=env, timeout=600)
        print('%s exited with status %d' % (argv[1], status), flush=True)
        srv.stop()
    except ServerError as e:
        print('SERVER FAILURE: %s' % e, flush=True)
        status = 1
    finally:
        srv.cleanup()
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv))
