"""The ferretd command line and configuration file, seen from outside: --help, --version,
flags over the file, and the errors that name the file and line or the backend's path."""

import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

FERRETD = os.environ.get('FERRETD', '')
PLUGIN_DIR = os.environ.get('FERRET_PLUGIN_DIR', '')


def run(*args, config=None, timeout=20):
    """Runs ferretd to completion (every case here fails before listening, or is --help)."""
    argv = [FERRETD]
    tmp = None
    if config is not None:
        tmp = tempfile.NamedTemporaryFile('w', suffix='.conf', delete=False)
        tmp.write(config)
        tmp.close()
        argv += ['--config', tmp.name]
    try:
        p = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        out = p.stdout + p.stderr
        # Error paths must not leak or misbehave either: the sanitizer build would say so here.
        if 'Sanitizer' in out or 'runtime error' in out:
            raise AssertionError('sanitizer report from ferretd %s:\n%s' % (args, out))
        return p.returncode, out, tmp.name if tmp else None
    finally:
        if tmp:
            os.unlink(tmp.name)


class TestCommandLine(unittest.TestCase):
    def test_help_and_version(self):
        code, out, _ = run('--help')
        self.assertEqual(code, 0)
        for flag in ('--config', '--listen', '--backend', '--plugin-dir'):
            self.assertIn(flag, out)
        code, out, _ = run('--version')
        self.assertEqual(code, 0)
        self.assertRegex(out, r'ferretd \d+\.\d+\.\d+ .*ABI 1\.\d+')

    def test_unknown_flag(self):
        code, _, _ = run('--no-such-flag')
        self.assertEqual(code, 2)

    def test_unknown_key_names_file_and_line(self):
        code, out, path = run(config='# comment\nlisten = 127.0.0.1:0\nbogus = 1\n')
        self.assertNotEqual(code, 0)
        self.assertIn('%s:3' % path, out)
        self.assertIn("unknown key 'bogus'", out)

    def test_bad_value_names_file_and_line(self):
        code, out, path = run(config='\nworkers = lots\n')
        self.assertNotEqual(code, 0)
        self.assertIn('%s:2' % path, out)

    def test_unknown_key_in_the_backends_section(self):
        code, out, path = run('--backend', harness.backend_name(), '--plugin-dir', PLUGIN_DIR,
                              '--listen', '127.0.0.1:0', config='[%s]\nnot_a_key = 1\n[other]\nignored = 1\n'
                              % harness.backend_name())
        self.assertNotEqual(code, 0)
        self.assertIn('%s:2' % path, out)
        self.assertIn("unknown key 'not_a_key'", out)

    def test_missing_backend_is_named(self):
        code, out, _ = run('--backend', 'nosuchbackend', '--plugin-dir', PLUGIN_DIR,
                           '--listen', '127.0.0.1:0')
        self.assertNotEqual(code, 0)
        self.assertIn('nosuchbackend', out)
        self.assertIn('not found', out)


if __name__ == '__main__':
    if not FERRETD or not os.access(FERRETD, os.X_OK):
        print('SKIP: FERRETD is not set or not executable')
        sys.exit(harness.SKIP)
    harness.main()
