"""Raw MongoDB wire-protocol helpers for tests that must control every byte.

Drivers refuse to send malformed messages and re-encode documents; these helpers do neither.
Only OP_MSG (2013), OP_QUERY (2004) and OP_REPLY (1) are understood. BSON encoding and decoding
come from pymongo's bson package, which is always present where pymongo is.
"""

import itertools
import socket
import struct
import threading

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

OP_REPLY = 1
OP_QUERY = 2004
OP_MSG = 2013

RAW = CodecOptions(document_class=RawBSONDocument)

_ids = itertools.count(1)
_ids_lock = threading.Lock()


def next_request_id():
    with _ids_lock:
        return next(_ids)


def header(length, request_id, response_to, opcode):
    return struct.pack('<iiii', length, request_id, response_to, opcode)


def encode(doc):
    """bytes unchanged, a RawBSONDocument's bytes, or a dict encoded by pymongo."""
    if isinstance(doc, (bytes, bytearray)):
        return bytes(doc)
    if isinstance(doc, RawBSONDocument):
        return doc.raw
    return bson.encode(doc)


def op_msg(body, sequences=(), flags=0, request_id=None):
    """An OP_MSG with one kind-0 body and optional kind-1 sequences [(identifier, [doc, ...])]."""
    payload = struct.pack('<I', flags) + b'\x00' + encode(body)
    for ident, docs in sequences:
        data = ident.encode() + b'\x00' + b''.join(encode(d) for d in docs)
        payload += b'\x01' + struct.pack('<i', 4 + len(data)) + data
    rid = request_id if request_id is not None else next_request_id()
    return header(16 + len(payload), rid, 0, OP_MSG) + payload


def op_query(ns, query, flags=0, skip=0, n_return=-1):
    payload = (struct.pack('<i', flags) + ns.encode() + b'\x00' +
               struct.pack('<ii', skip, n_return) + encode(query))
    return header(16 + len(payload), next_request_id(), 0, OP_QUERY) + payload


class Closed(Exception):
    """The server closed the connection (EOF or reset) at a message boundary."""


class Truncated(Exception):
    """The server closed the connection in the middle of a reply."""


class Reply:
    def __init__(self, request_id, response_to, opcode, raw_docs, flags):
        self.request_id = request_id
        self.response_to = response_to
        self.opcode = opcode
        self.raw_docs = raw_docs          # list of bytes, one per document
        self.flags = flags

    @property
    def doc(self):
        """The first (for OP_MSG: the body) document, decoded to a dict."""
        return bson.decode(self.raw_docs[0])

    @property
    def raw(self):
        return bson.decode(self.raw_docs[0], codec_options=RAW)


class Conn:
    """One blocking TCP connection speaking raw messages."""

    def __init__(self, port, host='127.0.0.1', timeout=30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        self.sock.sendall(data)

    def _recv_exact(self, n, at_boundary):
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except (ConnectionResetError, BrokenPipeError):
                chunk = b''
            if not chunk:
                if at_boundary and not buf:
                    raise Closed('connection closed by server')
                raise Truncated('connection closed after %d of %d bytes' % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def recv(self):
        """Reads one reply. Raises Closed, Truncated or socket.timeout."""
        hdr = self._recv_exact(16, True)
        length, rid, rto, opcode = struct.unpack('<iiii', hdr)
        if length < 16 or length > 64 * 1024 * 1024:
            raise AssertionError('reply with messageLength %d' % length)
        body = self._recv_exact(length - 16, False)
        if opcode == OP_MSG:
            flags = struct.unpack_from('<I', body, 0)[0]
            docs = []
            pos = 4
            end = len(body) - (4 if flags & 1 else 0)
            while pos < end:
                kind = body[pos]
                pos += 1
                if kind == 0:
                    n = struct.unpack_from('<i', body, pos)[0]
                    docs.insert(0, body[pos:pos + n])
                    pos += n
                elif kind == 1:
                    size = struct.unpack_from('<i', body, pos)[0]
                    pos += size
                else:
                    raise AssertionError('reply with section kind %d' % kind)
            return Reply(rid, rto, opcode, docs, flags)
        if opcode == OP_REPLY:
            flags, _cursor, _start, nret = struct.unpack_from('<iqii', body, 0)
            pos = 20
            docs = []
            for _ in range(nret):
                n = struct.unpack_from('<i', body, pos)[0]
                docs.append(body[pos:pos + n])
                pos += n
            return Reply(rid, rto, opcode, docs, flags)
        raise AssertionError('reply with unexpected opcode %d' % opcode)

    def request(self, data):
        """Sends one message and returns its reply, checking responseTo."""
        rid = struct.unpack_from('<i', data, 4)[0]
        self.send(data)
        reply = self.recv()
        if reply.response_to != rid:
            raise AssertionError('responseTo %d, expected %d' % (reply.response_to, rid))
        return reply

    def command(self, db, cmd, sequences=()):
        """Runs a command via OP_MSG; returns the decoded reply body (dict)."""
        body = dict(cmd)
        body['$db'] = db
        return self.request(op_msg(body, sequences)).doc

    def command_raw(self, db, cmd, sequences=()):
        """As command(), returning the body as a RawBSONDocument (nothing re-encoded)."""
        body = dict(cmd)
        body['$db'] = db
        return self.request(op_msg(body, sequences)).raw

    def ping(self):
        reply = self.command('admin', {'ping': 1})
        if reply.get('ok') != 1:
            raise AssertionError('ping failed: %r' % (reply,))
        return reply


def outcome(conn, timeout=10.0):
    """After sending something hostile: 'closed', or the reply (Reply). Raises on a hang.

    A reply truncated by a close counts as 'closed' (the peer may give up mid-way); a server
    that neither answers nor closes within timeout fails the caller with socket.timeout.
    """
    conn.settimeout(timeout)
    try:
        return conn.recv()
    except (Closed, Truncated):
        return 'closed'
