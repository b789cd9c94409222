"""Starting and stopping a real ferretd for the integration tests.

Environment contract (the same tests run on every backend, which gives the parity matrix):
  FERRETD             path to the ferretd executable (required)
  FERRET_PLUGIN_DIR   colon-separated plugin directories (optional)
  FERRET_BACKEND      backend name, 'sqlite' (default) or 'postgres', or a path to a .so
  FERRET_PG_CONNINFO  libpq conninfo of a running cluster (postgres only); without it the
                      harness starts a throwaway cluster with tests/support/pg_cluster.sh
  FERRET_WORKERS      worker threads for the server (default 2)
  FERRET_SPEC_DIR     the shared spec directory (default: ../shared/spec from the repo root)

Each Server owns a fresh temporary directory holding its config file, its stderr log and (for
sqlite) its data directory; for postgres it owns a fresh database created in the cluster, so
runs never see each other's data. Restarting a Server reuses its data.
"""

import atexit
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

from . import wire

SKIP = 77
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))

# A report from any sanitizer or a glibc abort, anywhere in the server's stderr, fails the test.
SANITIZER_RE = re.compile(
    r'ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer|MemorySanitizer)'
    r'|runtime error:|UndefinedBehaviorSanitizer|WARNING: ThreadSanitizer'
    r'|malloc\(\): |free\(\): |double free|stack smashing detected|Assertion .* failed')


class Skip(Exception):
    """A prerequisite of the whole test program is missing: exit 77."""


class ServerError(AssertionError):
    """The server failed to start, crashed, reported a sanitizer error or exited badly."""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def backend_name():
    b = os.environ.get('FERRET_BACKEND', '') or 'sqlite'
    if b.endswith('.so'):
        return os.path.basename(b)[:-3]
    return b


# Backends whose data outlives the process. Others (the in-memory skeleton) skip restart tests;
# FERRET_BACKEND_PERSISTENT=1 or 0 overrides, for a third-party backend.
PERSISTENT_BACKENDS = ('sqlite', 'postgres')


def backend_is_persistent():
    env = os.environ.get('FERRET_BACKEND_PERSISTENT')
    if env:
        return env not in ('0', 'no', 'false')
    return backend_name() in PERSISTENT_BACKENDS


def spec_dir():
    d = os.environ.get('FERRET_SPEC_DIR') or os.path.join(REPO_ROOT, '..', 'shared', 'spec')
    return os.path.abspath(d)


def ferretd_path():
    path = os.environ.get('FERRETD')
    if not path:
        cand = os.path.join(REPO_ROOT, 'build', 'core', 'ferretd')
        if os.path.exists(cand):
            path = cand
    if not path or not os.access(path, os.X_OK):
        raise Skip('FERRETD is not set or not executable (%r)' % (path,))
    return path


def _psql():
    p = shutil.which('psql')
    if p:
        return p
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/psql'))
    if found:
        return found[-1]
    raise Skip('postgres backend: psql not found')


def _with_dbname(conninfo, dbname):
    if conninfo.startswith(('postgres://', 'postgresql://')):
        from urllib.parse import urlsplit, urlunsplit
        u = urlsplit(conninfo)
        return urlunsplit((u.scheme, u.netloc, '/' + dbname, u.query, u.fragment))
    # In a key=value string a later key overrides an earlier one.
    return (conninfo + ' dbname=' + dbname).strip()


class _PgCluster:
    """The cluster for this process: FERRET_PG_CONNINFO, or one we start and stop ourselves."""

    conninfo = None
    _dir = None

    @classmethod
    def get(cls):
        if cls.conninfo:
            return cls.conninfo
        env = os.environ.get('FERRET_PG_CONNINFO')
        if env:
            cls.conninfo = env
            return env
        script = os.path.join(REPO_ROOT, 'tests', 'support', 'pg_cluster.sh')
        if not os.path.exists(script):
            raise Skip('postgres backend: FERRET_PG_CONNINFO unset and %s missing' % script)
        cls._dir = tempfile.mkdtemp(prefix='ferret-pg-')
        os.chmod(cls._dir, 0o777)
        res = subprocess.run(['bash', script, 'start', cls._dir], capture_output=True, text=True,
                             timeout=120)
        if res.returncode != 0:
            raise Skip('postgres backend: pg_cluster.sh start failed (%d): %s'
                       % (res.returncode, res.stderr.strip()[-2000:]))
        lines = [l for l in res.stdout.strip().splitlines() if l.strip()]
        if not lines:
            raise Skip('postgres backend: pg_cluster.sh printed no conninfo')
        cls.conninfo = lines[-1].strip()
        atexit.register(cls._stop)
        return cls.conninfo

    @classmethod
    def _stop(cls):
        script = os.path.join(REPO_ROOT, 'tests', 'support', 'pg_cluster.sh')
        subprocess.run(['bash', script, 'stop', cls._dir], capture_output=True, timeout=120)
        shutil.rmtree(cls._dir, ignore_errors=True)


def _pg_exec(conninfo, sql):
    res = subprocess.run([_psql(), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', conninfo, '-c', sql],
                         capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise ServerError('psql %r failed: %s' % (sql, res.stderr.strip()))


def check_prerequisites():
    """Raises Skip when the environment cannot run integration tests at all."""
    ferretd_path()
    if backend_name() == 'postgres':
        _PgCluster.get()


class Server:
    """One ferretd process plus the data it owns. start()/stop() may be repeated."""

    def __init__(self, workers=None, extra_config='', settings=None):
        self.ferretd = ferretd_path()
        self.backend = os.environ.get('FERRET_BACKEND', '') or 'sqlite'
        self.backend_name = backend_name()
        self.plugin_dir = os.environ.get('FERRET_PLUGIN_DIR', '')
        self.workers = int(workers or os.environ.get('FERRET_WORKERS', '2'))
        self.extra_config = extra_config
        self.settings = dict(settings or {})  # top-level keys, e.g. enable_test_commands
        self.dir = tempfile.mkdtemp(prefix='ferret-it-')
        self.data_dir = os.path.join(self.dir, 'data')
        os.mkdir(self.data_dir)
        self.pg_db = None
        self.pg_conninfo = None
        if self.backend_name == 'postgres':
            base = _PgCluster.get()
            self.pg_db = 'ferret_it_%d_%s' % (os.getpid(), uuid.uuid4().hex[:8])
            _pg_exec(base, 'CREATE DATABASE %s' % self.pg_db)
            self.pg_conninfo = _with_dbname(base, self.pg_db)
            self._pg_base = base
        self.proc = None
        self.port = None
        self.host = '127.0.0.1'
        self.starts = 0
        self._log = None
        self.log_paths = []

    # --- lifecycle -----------------------------------------------------------------------------

    def _write_config(self):
        lines = ['# written by tests/integration/harness',
                 'listen = %s:%d' % (self.host, self.port),
                 'backend = %s' % self.backend,
                 'workers = %d' % self.workers]
        if self.plugin_dir:
            lines.append('plugin_dir = %s' % self.plugin_dir)
        lines += ['%s = %s' % item for item in self.settings.items()]
        lines += ['', '[sqlite]', 'data_dir = %s' % self.data_dir]
        if self.pg_conninfo:
            lines += ['', '[postgres]', 'conninfo = %s' % self.pg_conninfo]
        if self.extra_config:
            lines += ['', self.extra_config]
        path = os.path.join(self.dir, 'ferretd.conf')
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def start(self, timeout=20.0):
        """Starts the server and waits until it answers a ping. Raises ServerError."""
        assert self.proc is None, 'server already running'
        last = None
        for _attempt in range(3):
            self.port = free_port()
            conf = self._write_config()
            self.starts += 1
            log_path = os.path.join(self.dir, 'stderr.%d.log' % self.starts)
            self.log_paths.append(log_path)
            self._log = open(log_path, 'wb')
            self.proc = subprocess.Popen([self.ferretd, '--config', conf],
                                         stdin=subprocess.DEVNULL, stdout=self._log,
                                         stderr=subprocess.STDOUT, cwd=self.dir)
            try:
                self._wait_ready(timeout)
                return self
            except ServerError as e:
                last = e
                code = self.proc.poll()
                if code is None:
                    self._terminate_quietly()
                self.proc = None
                self._log.close()
                text = self.log_text()
                # A port taken between free_port() and bind() is the only reason to retry.
                if 'in use' not in text.lower():
                    break
        raise last

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        err = None
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise ServerError('ferretd exited with status %d during startup\n%s'
                                  % (code, self.log_tail()))
            try:
                with wire.Conn(self.port, timeout=2.0) as c:
                    c.ping()
                    return
            except (OSError, wire.Closed, wire.Truncated, AssertionError) as e:
                err = e
            time.sleep(0.05)
        raise ServerError('ferretd did not answer ping within %.0f s (last error: %r)\n%s'
                          % (timeout, err, self.log_tail()))

    def _terminate_quietly(self):
        try:
            self.proc.kill()
            self.proc.wait(10)
        except Exception:
            pass

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30.0, check=True):
        """SIGTERM, then SIGKILL after timeout. Returns the exit status.

        With check, a status other than 0, a SIGKILL that was needed, or a sanitizer report in
        stderr raises ServerError with the tail of the log.
        """
        if self.proc is None:
            return None
        killed = False
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            killed = True
            self.proc.kill()
            code = self.proc.wait(10)
        self.proc = None
        self._log.close()
        if check:
            self.check_log()
            if killed:
                raise ServerError('ferretd ignored SIGTERM for %.0f s and was killed\n%s'
                                  % (timeout, self.log_tail()))
            if code != 0:
                raise ServerError('ferretd exited with status %d\n%s' % (code, self.log_tail()))
        return code

    def kill9(self):
        """SIGKILL, as a crash would; the log is still checked for sanitizer reports."""
        self.proc.send_signal(signal.SIGKILL)
        code = self.proc.wait(10)
        self.proc = None
        self._log.close()
        self.check_log()
        return code

    def wait_exit(self, timeout):
        """Waits for an exit started elsewhere (a signal sent by the test)."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
            self._log.close()
            raise ServerError('ferretd did not exit within %.0f s\n%s' % (timeout, self.log_tail()))
        self.proc = None
        self._log.close()
        return code

    def check_log(self):
        text = self.log_text(all_runs=True)
        m = SANITIZER_RE.search(text)
        if m:
            start = max(0, m.start() - 2000)
            raise ServerError('sanitizer or abort report in ferretd stderr:\n%s'
                              % text[start:start + 8000])

    def cleanup(self):
        """Stops (unchecked) and removes everything the Server owns."""
        if self.proc is not None:
            self._terminate_quietly()
            self.proc = None
        if self.pg_db:
            try:
                _pg_exec(self._pg_base, 'DROP DATABASE IF EXISTS %s WITH (FORCE)' % self.pg_db)
            except Exception as e:
                print('warning: could not drop %s: %s' % (self.pg_db, e), file=sys.stderr)
            self.pg_db = None
        if os.environ.get('FERRET_KEEP_TMP'):
            print('kept %s' % self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- logs and addresses --------------------------------------------------------------------

    def log_text(self, all_runs=False):
        paths = self.log_paths if all_runs else self.log_paths[-1:]
        out = []
        for p in paths:
            try:
                with open(p, 'rb') as f:
                    out.append(f.read().decode('utf-8', 'replace'))
            except OSError:
                pass
        return '\n'.join(out)

    def log_tail(self, lines=60):
        tail = self.log_text().splitlines()[-lines:]
        return '--- ferretd stderr (last %d lines) ---\n%s\n--- end ---' % (len(tail), '\n'.join(tail))

    @property
    def uri(self):
        return 'mongodb://%s:%d/?directConnection=true' % (self.host, self.port)

    def client(self, **kw):
        """A pymongo MongoClient for this server, with short timeouts."""
        import pymongo
        opts = dict(serverSelectionTimeoutMS=10000, connectTimeoutMS=10000,
                    socketTimeoutMS=60000, directConnection=True)
        opts.update(kw)
        return pymongo.MongoClient(self.host, self.port, **opts)

    def conn(self, timeout=30.0):
        return wire.Conn(self.port, self.host, timeout)
