#!/usr/bin/env python3
"""The BSON corpus through a real server: byte-exact round trips and decode errors.

For every valid case of $FERRET_SPEC_DIR/bson-corpus/*.json, canonical_bson is stored twice,
without any re-encoding on our side (raw bytes in an OP_MSG document sequence):
  top-level: the case's elements with an _id element put in front, as one document;
  nested:    {_id: N, v: <the case's document>}.
Each is read back with find and must come back byte for byte. Cases whose top-level keys the
server rejects as MongoDB does ('$'-prefixed names, for example) are counted as skipped with
the server's reason, never as passed; a rejection of any other case is a failure.

For every decodeErrors case the bytes are sent as the insert's document; the reply must be an
error (ok:0 or a write error) and the same connection must keep working.
"""

import glob
import json
import os
import struct
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

harness.import_pymongo()
import bson  # noqa: E402
from harness import wire  # noqa: E402

DB = 'it_corpus'
CORPUS = os.path.join(harness.spec_dir(), 'bson-corpus')
# InvalidBSON 22, BadValue 2, FailedToParse 9, TypeMismatch 14, BSONObjectTooLarge 10334,
# InvalidLength 16 etc. are all acceptable; what matters is an error reply.


def load_cases():
    valid, decode_errors = [], []
    for path in sorted(glob.glob(os.path.join(CORPUS, '*.json'))):
        with open(path) as f:
            suite = json.load(f)
        name = os.path.basename(path)[:-5]
        for i, case in enumerate(suite.get('valid', [])):
            valid.append((name, i, case['description'], bytes.fromhex(case['canonical_bson'])))
        for i, case in enumerate(suite.get('decodeErrors', [])):
            decode_errors.append((name, i, case['description'], bytes.fromhex(case['bson'])))
    return valid, decode_errors


VALID, DECODE_ERRORS = load_cases()


def elements(doc):
    """The element bytes of a well-formed document (without length and terminator)."""
    return doc[4:-1]


def make_doc(elems):
    return struct.pack('<i', len(elems) + 5) + elems + b'\x00'


def id_elem(n):
    return b'\x10_id\x00' + struct.pack('<i', n)


def starts_with_id(doc):
    """True when the first element is _id (multi-type.json); no corpus case has it elsewhere."""
    return doc[5:9] == b'_id\x00'


class Conn:
    """One connection shared by the valid cases, replaced when a failed test broke it."""

    conn = None

    @classmethod
    def get(cls):
        if cls.conn is None:
            cls.conn = harness.server.conn(timeout=60)
        return cls.conn

    @classmethod
    def reset(cls):
        if cls.conn is not None:
            cls.conn.close()
        cls.conn = None


def setUpModule():
    if not VALID:
        raise unittest.SkipTest('no BSON corpus in %s' % CORPUS)
    harness.start_module_server()
    Conn.get().command(DB, {'drop': 'top'})
    Conn.get().command(DB, {'drop': 'nested'})


def tearDownModule():
    Conn.reset()
    harness.stop_module_server()


def insert_raw(conn, coll, raw):
    return conn.request(wire.op_msg({'insert': coll, '$db': DB}, [('documents', [raw])])).doc


def find_raw(conn, coll, _id):
    """The stored bytes of the document with this _id, as the server sent them, or None."""
    r = conn.request(wire.op_msg({'find': coll, 'filter': {'_id': _id}, '$db': DB}))
    body = r.raw
    if body['ok'] != 1:
        raise AssertionError('find failed: %r' % bson.decode(body.raw))
    batch = body['cursor']['firstBatch']
    # Indexing a RawBSONDocument array yields RawBSONDocuments whose .raw is the exact bytes.
    docs = [d.raw for d in batch]
    if len(docs) > 1:
        raise AssertionError('%d documents with _id %r' % (len(docs), _id))
    return docs[0] if docs else None


def rejected(reply):
    if reply.get('ok') != 1:
        return '%s (%s)' % (reply.get('errmsg'), reply.get('code'))
    if reply.get('writeErrors'):
        we = reply['writeErrors'][0]
        return '%s (%s)' % (we.get('errmsg'), we.get('code'))
    if reply.get('n') != 1:
        return 'n=%r' % reply.get('n')
    return None


def dollar_or_dot_keys(doc):
    try:
        d = bson.decode(doc, codec_options=wire.RAW)
        return any(k.startswith('$') or '.' in k for k in d.keys())
    except Exception:
        return False


class TestValid(unittest.TestCase):
    pass


class TestDecodeErrors(unittest.TestCase):
    pass


def resetting(fn):
    """A test whose failure drops the shared connection (it may be mid-conversation)."""
    def wrapper(self):
        try:
            fn(self)
        except unittest.SkipTest:
            raise
        except BaseException:
            Conn.reset()
            raise
    return wrapper


def add_valid(n, name, idx, desc, raw):
    def test_top_level(self):
        conn = Conn.get()
        if starts_with_id(raw):
            doc = raw                              # already has an _id (multi-type)
            self.assertEqual(raw[4], 0x07, 'expected an ObjectId _id')
            _id = bson.ObjectId(raw[9:21])
            # multi-type and multi-type-deprecated share their _id.
            conn.command(DB, {'delete': 'top', 'deletes': [{'q': {'_id': _id}, 'limit': 1}]})
        else:
            doc = make_doc(id_elem(n) + elements(raw))
            _id = n
        reply = insert_raw(conn, 'top', doc)
        why = rejected(reply)
        if why:
            if dollar_or_dot_keys(raw):
                self.skipTest('server rejects this top-level key as MongoDB may: %s' % why)
            self.fail('insert rejected: %s' % why)
        back = find_raw(conn, 'top', _id)
        self.assertIsNotNone(back, 'inserted document not found')
        self.assertEqual(back.hex(), doc.hex())

    def test_nested(self):
        conn = Conn.get()
        doc = make_doc(id_elem(n) + b'\x03v\x00' + raw)
        reply = insert_raw(conn, 'nested', doc)
        why = rejected(reply)
        self.assertIsNone(why, 'insert rejected')
        back = find_raw(conn, 'nested', n)
        self.assertIsNotNone(back, 'inserted document not found')
        self.assertEqual(back.hex(), doc.hex())

    slug = '%s_%03d' % (name.replace('-', '_'), idx)
    for fn, kind in ((test_top_level, 'top'), (test_nested, 'nested')):
        fn = resetting(fn)
        fn.__doc__ = '%s: %s (%s)' % (name, desc, kind)
        setattr(TestValid, 'test_%s_%s' % (slug, kind), fn)


def add_decode_error(name, idx, desc, raw):
    def test(self):
        with harness.server.conn(timeout=30) as conn:
            check_decode_error(self, conn, raw)

    test.__doc__ = '%s: %s' % (name, desc)
    setattr(TestDecodeErrors, 'test_%s_%03d' % (name.replace('-', '_'), idx), test)


def check_decode_error(self, conn, raw):
    body = {'insert': 'decode_errors', '$db': DB}
    try:
        reply = conn.request(wire.op_msg(body, [('documents', [raw])])).doc
    except (wire.Closed, wire.Truncated, ConnectionError) as e:
        self.fail('connection closed instead of an error reply: %s' % e)
    if reply.get('ok') == 1:
        self.assertTrue(reply.get('writeErrors'), 'accepted invalid BSON: %r' % (reply,))
        self.assertEqual(reply.get('n'), 0)
    else:
        self.assertIsInstance(reply.get('code'), int)
        self.assertNotEqual(reply.get('code'), 0)
    # The connection survives, and nothing was stored.
    try:
        conn.ping()
    except (wire.Closed, wire.Truncated, ConnectionError) as e:
        self.fail('connection closed after the error reply %r: %s' % (reply, e))
    r = conn.command(DB, {'count': 'decode_errors'})
    self.assertEqual(r.get('n', 0), 0)


for _n, (_name, _idx, _desc, _raw) in enumerate(VALID):
    add_valid(_n + 1, _name, _idx, _desc, _raw)
for _name, _idx, _desc, _raw in DECODE_ERRORS:
    add_decode_error(_name, _idx, _desc, _raw)


if __name__ == '__main__':
    harness.main()
