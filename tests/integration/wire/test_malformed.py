#!/usr/bin/env python3
"""Hostile and malformed messages over raw sockets.

For every case the server must either answer with an error reply or close that one
connection, promptly (a server that waits for 48 MB that will never come fails). Meanwhile a
second connection, opened before the hostile one, keeps working (ping and find), and the server
process stays alive. A few positive controls show the parser is not simply rejecting
everything: pipelined messages, a byte-by-byte trickle, optional flag bits, legacy OP_QUERY
hello, a document just under 16 MiB.
"""

import os
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

harness.import_pymongo()
import bson  # noqa: E402
from harness import wire  # noqa: E402
from harness.wire import OP_MSG, header, op_msg  # noqa: E402

DB = 'it_wire'
MIB = 1024 * 1024


def setUpModule():
    harness.start_module_server()
    with harness.server.conn() as c:
        r = c.command(DB, {'insert': 'probe', 'documents': [{'_id': 1, 'v': 'ok'}]})
        assert r.get('ok') == 1, r


def tearDownModule():
    harness.stop_module_server()


def raw_doc_nested(depth, leaf=b'\x10x\x00\x01\x00\x00\x00'):
    """{'a': {'a': ... {x: 1}}} with depth levels of nesting, built without recursion limits."""
    body = leaf
    doc = struct.pack('<i', 4 + len(body) + 1) + body + b'\x00'
    for _ in range(depth):
        body = b'\x03a\x00' + doc
        doc = struct.pack('<i', 4 + len(body) + 1) + body + b'\x00'
    return doc


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = CRC32C_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def msg_with_payload(payload, opcode=OP_MSG, length=None, request_id=4242):
    n = 16 + len(payload) if length is None else length
    return header(n, request_id, 0, opcode) + payload


def ping_body():
    return bson.encode({'ping': 1, '$db': 'admin'})


class Base(unittest.TestCase):
    def setUp(self):
        self.srv = harness.server
        self.assertTrue(self.srv.alive(), 'server died earlier\n' + self.srv.log_tail())
        # The bystander is connected and served before the hostile message is sent.
        self.other = self.srv.conn()
        self.other.ping()
        self.bad = self.srv.conn()

    def tearDown(self):
        self.bad.close()
        self.other.close()

    def check_bystander(self):
        self.assertTrue(self.srv.alive(), 'server died\n' + self.srv.log_tail())
        self.other.settimeout(30)
        self.other.ping()
        r = self.other.command(DB, {'find': 'probe', 'filter': {'_id': 1}})
        self.assertEqual(r['cursor']['firstBatch'], [{'_id': 1, 'v': 'ok'}])
        # A brand-new connection is accepted too.
        with self.srv.conn() as fresh:
            fresh.ping()

    def send_ignoring_reset(self, data):
        try:
            self.bad.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass                              # closed by the server before we finished

    def expect_error_or_close(self, data, timeout=10):
        """Sends data; returns 'closed' or the decoded error reply (ok:0 or a write error)."""
        self.send_ignoring_reset(data)
        try:
            out = wire.outcome(self.bad, timeout)
        except socket.timeout:
            self.fail('server neither replied nor closed within %d s' % timeout)
        if out != 'closed':
            doc = out.doc
            if doc.get('ok') == 1 and doc.get('writeErrors'):
                # A write command reports a rejected document as a write error, as MongoDB does.
                err = doc['writeErrors'][0]
                self.assertEqual(doc.get('n'), 0, doc)
            else:
                self.assertEqual(doc.get('ok'), 0, 'expected an error reply, got %r' % (doc,))
                err = doc
            self.assertIsInstance(err.get('errmsg'), str)
            self.assertIsInstance(err.get('code'), int)
            self.assertNotEqual(err.get('code'), 0)
            out = doc
        self.check_bystander()
        return out

    def expect_close(self, data, timeout=10):
        """For framing errors: nothing sensible can follow, so the server must close."""
        self.send_ignoring_reset(data)
        self.bad.settimeout(timeout)
        got = b''
        try:
            while True:
                chunk = self.bad.sock.recv(65536)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
        except socket.timeout:
            self.fail('server did not close within %d s (received %d bytes)'
                      % (timeout, len(got)))
        self.check_bystander()
        return got


class TestFraming(Base):
    def test_negative_length(self):
        self.expect_close(header(-1, 1, 0, OP_MSG) + b'\x00' * 32)

    def test_min_negative_length(self):
        self.expect_close(header(-2 ** 31, 1, 0, OP_MSG) + b'\x00' * 32)

    def test_zero_length(self):
        self.expect_close(header(0, 1, 0, OP_MSG) + b'\x00' * 32)

    def test_length_below_header(self):
        for n in (1, 4, 15):
            with self.subTest(length=n):
                if n != 1:
                    self.bad.close()
                    self.bad = self.srv.conn()
                self.expect_close(header(n, 1, 0, OP_MSG) + b'\x00' * 32)

    def test_length_just_over_max(self):
        # 48,000,001 bytes announced, 100 sent: the server must not wait for the rest.
        self.expect_close(header(48000001, 1, 0, OP_MSG) + b'\x00' * 100)

    def test_length_int_max(self):
        self.expect_close(header(2 ** 31 - 1, 1, 0, OP_MSG) + b'\x00' * 100)

    def test_http_request(self):
        self.expect_close(b'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')

    def test_length_too_short_for_sections(self):
        # messageLength says 21: flags and a kind byte, but the body document is cut off.
        payload = struct.pack('<I', 0) + b'\x00' + ping_body()
        self.expect_error_or_close(msg_with_payload(payload[:5], length=21) + payload[5:])

    def test_truncated_then_close(self):
        data = op_msg({'ping': 1, '$db': 'admin'})
        self.bad.send(data[:len(data) // 2])
        time.sleep(0.1)
        self.bad.close()
        time.sleep(0.1)
        self.check_bystander()

    def test_truncated_header_then_close(self):
        self.bad.send(b'\x30\x00\x00')
        self.bad.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(wire.outcome(self.bad, 10), 'closed')
        self.check_bystander()

    def test_reset_mid_message(self):
        data = op_msg({'insert': 'probe2', 'documents': [{'x': 'y' * 5000}], '$db': DB})
        self.bad.send(data[:3000])
        # SO_LINGER 0 makes close() send RST instead of FIN.
        self.bad.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        self.bad.close()
        time.sleep(0.1)
        self.check_bystander()


class TestOpcodes(Base):
    def test_unknown_opcode(self):
        self.expect_error_or_close(msg_with_payload(b'\x00' * 16, opcode=9999))

    def test_negative_opcode(self):
        self.expect_error_or_close(msg_with_payload(b'\x00' * 16, opcode=-5))

    def test_removed_legacy_opcodes(self):
        # OP_UPDATE 2001, OP_INSERT 2002, OP_GET_MORE 2005, OP_DELETE 2006, OP_KILL_CURSORS 2007:
        # removed in MongoDB 6.0; an error reply or a close, never a crash.
        for op in (2001, 2002, 2005, 2006, 2007):
            with self.subTest(opcode=op):
                payload = struct.pack('<i', 0) + DB.encode() + b'.probe\x00' + struct.pack(
                    '<i', 0) + bson.encode({'_id': 99})
                self.expect_error_or_close(msg_with_payload(payload, opcode=op))
                self.bad.close()
                self.bad = self.srv.conn()

    def test_op_compressed_without_negotiation(self):
        payload = struct.pack('<iiB', OP_MSG, 100, 1) + b'\x00' * 40
        self.expect_error_or_close(msg_with_payload(payload, opcode=2012))

    def test_reply_opcode_from_client(self):
        self.expect_error_or_close(msg_with_payload(b'\x00' * 20, opcode=1))

    def test_legacy_op_query_hello(self):
        r = self.bad.request(wire.op_query('admin.$cmd', {'isMaster': 1}))
        self.assertEqual(r.opcode, wire.OP_REPLY)
        doc = r.doc
        self.assertEqual(doc['ok'], 1)
        self.assertIs(doc['ismaster'], True)
        r = self.bad.request(wire.op_query('admin.$cmd', {'hello': 1}))
        self.assertEqual(r.doc['ok'], 1)
        # The same connection then speaks OP_MSG.
        self.bad.ping()
        self.check_bystander()

    def test_op_query_not_a_command(self):
        out = self.expect_error_or_close(wire.op_query(DB + '.probe', {'_id': 1}))
        del out

    def test_op_query_invalid_bson(self):
        payload = (struct.pack('<i', 0) + b'admin.$cmd\x00' + struct.pack('<ii', 0, -1) +
                   b'\x20\x00\x00\x00\x10ismaster\x00\x01\x00')
        self.expect_error_or_close(msg_with_payload(payload, opcode=2004))


class TestOpMsgStructure(Base):
    def test_required_unknown_flag_bits(self):
        for bit in (2, 5, 15):
            with self.subTest(bit=bit):
                self.expect_error_or_close(op_msg({'ping': 1, '$db': 'admin'}, flags=1 << bit))
                self.bad.close()
                self.bad = self.srv.conn()

    def test_optional_unknown_flag_bit_is_ignored(self):
        # Bits 16-31 are optional: a parser must ignore unknown ones (OP_MSG spec).
        r = self.bad.request(op_msg({'ping': 1, '$db': 'admin'}, flags=1 << 20))
        self.assertEqual(r.doc['ok'], 1)
        self.check_bystander()

    def test_exhaust_allowed_bit(self):
        # exhaustAllowed (bit 16) on a command that does not stream: an ordinary reply.
        r = self.bad.request(op_msg({'ping': 1, '$db': 'admin'}, flags=1 << 16))
        self.assertEqual(r.doc['ok'], 1)

    def test_more_to_come_gets_no_reply(self):
        # moreToCome (bit 1) from a client: an unacknowledged write, answered with nothing.
        self.bad.send(op_msg({'insert': 'w0', '$db': DB, 'documents': [{'_id': 'w0'}],
                              'writeConcern': {'w': 0}}, flags=1 << 1, request_id=501))
        r = self.bad.request(op_msg({'ping': 1, '$db': 'admin'}, request_id=502))
        self.assertEqual(r.response_to, 502)
        self.assertEqual(r.doc['ok'], 1)
        r = self.bad.command(DB, {'find': 'w0', 'filter': {}})
        self.assertEqual(r['cursor']['firstBatch'], [{'_id': 'w0'}])
        self.check_bystander()

    def test_valid_checksum_accepted(self):
        data = bytearray(op_msg({'ping': 1, '$db': 'admin'}, flags=1, request_id=601))
        struct.pack_into('<i', data, 0, len(data) + 4)
        data += struct.pack('<I', crc32c(bytes(data)))
        self.bad.send(bytes(data))
        r = self.bad.recv()
        self.assertEqual(r.response_to, 601)
        self.assertEqual(r.doc['ok'], 1)

    def test_checksum_flag_without_checksum(self):
        # checksumPresent with no room for the CRC: the last 4 bytes of the body are taken as it.
        self.expect_error_or_close(op_msg({'ping': 1, '$db': 'admin'}, flags=1))

    def test_bad_section_kind(self):
        for kind in (2, 3, 0x7f, 0xff):
            with self.subTest(kind=kind):
                payload = struct.pack('<I', 0) + bytes([kind]) + ping_body()
                self.expect_error_or_close(msg_with_payload(payload))
                self.bad.close()
                self.bad = self.srv.conn()

    def test_no_body_section(self):
        seq = b'documents\x00' + bson.encode({'a': 1})
        payload = struct.pack('<I', 0) + b'\x01' + struct.pack('<i', 4 + len(seq)) + seq
        self.expect_error_or_close(msg_with_payload(payload))

    def test_two_body_sections(self):
        payload = struct.pack('<I', 0) + b'\x00' + ping_body() + b'\x00' + ping_body()
        self.expect_error_or_close(msg_with_payload(payload))

    def test_empty_payload(self):
        self.expect_error_or_close(msg_with_payload(struct.pack('<I', 0)))

    def test_sequence_size_past_end(self):
        body = bson.encode({'insert': 'probe', '$db': DB})
        seq = b'documents\x00' + bson.encode({'a': 1})
        payload = (struct.pack('<I', 0) + b'\x00' + body + b'\x01' +
                   struct.pack('<i', len(seq) + 1000) + seq)
        self.expect_error_or_close(msg_with_payload(payload))

    def test_sequence_size_negative(self):
        body = bson.encode({'insert': 'probe', '$db': DB})
        payload = struct.pack('<I', 0) + b'\x00' + body + b'\x01' + struct.pack('<i', -8)
        self.expect_error_or_close(msg_with_payload(payload))

    def test_sequence_identifier_unterminated(self):
        body = bson.encode({'insert': 'probe', '$db': DB})
        seq = b'documents'
        payload = (struct.pack('<I', 0) + b'\x00' + body + b'\x01' +
                   struct.pack('<i', 4 + len(seq)) + seq)
        self.expect_error_or_close(msg_with_payload(payload))

    def test_body_trailing_garbage(self):
        payload = struct.pack('<I', 0) + b'\x00' + ping_body() + b'\x99\x99'
        self.expect_error_or_close(msg_with_payload(payload))

    def test_missing_db(self):
        r = self.bad.request(op_msg({'ping': 1}))
        self.assertEqual(r.doc['ok'], 0)
        self.check_bystander()

    def test_empty_command(self):
        r = self.bad.request(op_msg({'$db': 'admin'}))
        self.assertEqual(r.doc['ok'], 0)
        self.check_bystander()


class TestInvalidBson(Base):
    def send_body(self, raw_body):
        payload = struct.pack('<I', 0) + b'\x00' + raw_body
        return self.expect_error_or_close(msg_with_payload(payload))

    def test_body_length_larger_than_section(self):
        b = bytearray(ping_body())
        struct.pack_into('<i', b, 0, len(b) + 50)
        self.send_body(bytes(b))

    def test_body_length_smaller_than_content(self):
        b = bytearray(ping_body())
        struct.pack_into('<i', b, 0, len(b) - 3)
        self.send_body(bytes(b))

    def test_body_length_negative(self):
        b = bytearray(ping_body())
        struct.pack_into('<i', b, 0, -1)
        self.send_body(bytes(b))

    def test_body_missing_terminator(self):
        b = bytearray(ping_body())
        b[-1] = 0x01
        self.send_body(bytes(b))

    def test_body_bad_element_type(self):
        b = bytearray(ping_body())
        b[4] = 0x42                    # type of the first element ('ping')
        self.send_body(bytes(b))

    def test_body_bad_string_length(self):
        raw = bson.encode({'ping': 1, '$db': 'admin'})
        i = raw.index(b'$db\x00') + 4
        b = bytearray(raw)
        struct.pack_into('<i', b, i, 1000)
        self.send_body(bytes(b))

    def test_body_invalid_utf8(self):
        raw = bson.encode({'ping': 1, '$db': 'admin', 's': 'abc'})
        b = bytearray(raw)
        b[raw.index(b'abc')] = 0xff
        self.send_body(bytes(b))

    def test_document_sequence_invalid_doc(self):
        body = bson.encode({'insert': 'probe_bad', '$db': DB})
        bad_doc = bytearray(bson.encode({'_id': 5, 'a': 'x'}))
        struct.pack_into('<i', bad_doc, 0, len(bad_doc) + 7)
        seq = b'documents\x00' + bytes(bad_doc)
        payload = (struct.pack('<I', 0) + b'\x00' + body + b'\x01' +
                   struct.pack('<i', 4 + len(seq)) + seq)
        self.expect_error_or_close(msg_with_payload(payload))
        r = self.other.command(DB, {'count': 'probe_bad'})
        self.assertEqual(r.get('n', 0), 0)


class TestSizeAndDepth(Base):
    def insert_raw(self, coll, raw_doc, conn=None):
        body = {'insert': coll, '$db': DB}
        return op_msg(body, [('documents', [raw_doc])])

    def count(self, coll, flt=None):
        r = self.other.command(DB, {'count': coll, 'query': flt or {}})
        return r.get('n', 0)

    def test_document_over_16mib_in_sequence(self):
        doc = bson.encode({'_id': 'big', 's': 'x' * (16 * MIB + 1024)})
        self.expect_error_or_close(self.insert_raw('big1', doc), timeout=60)
        self.assertEqual(self.count('big1'), 0)

    def test_document_over_16mib_in_body(self):
        data = op_msg({'insert': 'big2', '$db': DB,
                       'documents': [{'_id': 'big', 's': 'x' * (16 * MIB + 1024)}]})
        self.expect_error_or_close(data, timeout=60)
        self.assertEqual(self.count('big2'), 0)

    def test_document_just_under_16mib_round_trips(self):
        s = 'y' * (16 * MIB - 200)
        r = self.bad.command(DB, {'insert': 'big3'}, [('documents', [{'_id': 'fits', 's': s}])])
        self.assertEqual(r.get('ok'), 1, r)
        self.assertEqual(r.get('n'), 1, r)
        r = self.bad.command(DB, {'find': 'big3', 'filter': {'_id': 'fits'}})
        self.assertEqual(len(r['cursor']['firstBatch']), 1)
        self.assertEqual(r['cursor']['firstBatch'][0]['s'], s)
        self.bad.command(DB, {'drop': 'big3'})
        self.check_bystander()

    def test_nested_200_levels_insert(self):
        doc = raw_doc_nested(200, leaf=b'\x10_id\x00\x07\x00\x00\x00')
        # The _id is at the bottom level; give the top an _id so the insert is otherwise fine.
        top = bson.encode({'_id': 200})[:-1] + b'\x03n\x00' + doc + b'\x00'
        top = struct.pack('<i', len(top)) + top[4:]
        out = self.expect_error_or_close(self.insert_raw('deep', top))
        self.assertEqual(self.count('deep', {'_id': 200}), 0, 'stored: %r' % (out,))

    def test_nested_50_levels_round_trips(self):
        doc = raw_doc_nested(50)
        top = bson.encode({'_id': 50})[:-1] + b'\x03n\x00' + doc + b'\x00'
        top = struct.pack('<i', len(top)) + top[4:]
        r = self.bad.request(self.insert_raw('deep_ok', top)).doc
        self.assertEqual((r.get('ok'), r.get('n')), (1, 1), r)
        back = self.bad.request(op_msg({'find': 'deep_ok', 'filter': {'_id': 50}, '$db': DB}))
        self.assertIn(top, back.raw_docs[0])
        self.check_bystander()

    def test_nested_filter_200_levels(self):
        flt = {'v': 1}
        for _ in range(200):
            flt = {'$and': [flt]}
        try:
            data = op_msg({'find': 'probe', 'filter': flt, '$db': DB})
        except Exception as e:          # pymongo may refuse to encode that deep
            self.skipTest('cannot encode: %r' % e)
        self.send_ignoring_reset(data)
        out = wire.outcome(self.bad, 10)
        if out != 'closed':
            self.assertIn(out.doc.get('ok'), (0, 1))
        self.check_bystander()

    def test_nested_5000_levels_survives(self):
        # Deep enough to overflow a recursive parser's stack in a worker thread.
        doc = raw_doc_nested(5000)
        body = bson.encode({'insert': 'deeper', '$db': DB})
        data = op_msg(body, [('documents', [doc])])
        self.send_ignoring_reset(data)
        out = wire.outcome(self.bad, 20)
        if out != 'closed':
            self.assertTrue(out.doc.get('ok') == 0 or out.doc.get('writeErrors'), out.doc)
        self.check_bystander()
        self.assertEqual(self.count('deeper'), 0)

    def test_nested_5000_levels_in_filter(self):
        deep = raw_doc_nested(5000)
        body = bson.encode({'find': 'probe', '$db': DB})[:-1] + b'\x03filter\x00' + deep + b'\x00'
        body = struct.pack('<i', len(body)) + body[4:]
        payload = struct.pack('<I', 0) + b'\x00' + body
        self.send_ignoring_reset(msg_with_payload(payload))
        out = wire.outcome(self.bad, 20)
        del out
        self.check_bystander()


class TestStreaming(Base):
    def test_pipelined_messages(self):
        msgs = [op_msg({'ping': 1, '$db': 'admin'}, request_id=1000 + i) for i in range(50)]
        self.bad.send(b''.join(msgs))
        for i in range(50):
            r = self.bad.recv()
            self.assertEqual(r.response_to, 1000 + i)
            self.assertEqual(r.doc['ok'], 1)
        self.check_bystander()

    def test_byte_by_byte(self):
        data = op_msg({'find': 'probe', 'filter': {'_id': 1}, '$db': DB}, request_id=77)
        for i in range(len(data)):
            self.bad.send(data[i:i + 1])
            if i % 16 == 0:
                time.sleep(0.002)
        r = self.bad.recv()
        self.assertEqual(r.response_to, 77)
        self.assertEqual(r.doc['cursor']['firstBatch'], [{'_id': 1, 'v': 'ok'}])

    def test_error_then_valid_on_same_connection(self):
        # A well-framed message with a bad command does not cost the connection.
        r = self.bad.command(DB, {'nope': 1})
        self.assertEqual(r['code'], 59)
        self.bad.ping()

    def test_bystander_during_slow_sender(self):
        # A client that sends half a message and stalls must not block others on its worker.
        data = op_msg({'ping': 1, '$db': 'admin'})
        self.bad.send(data[:10])
        others = [self.srv.conn() for _ in range(8)]
        try:
            for c in others:
                c.ping()
        finally:
            for c in others:
                c.close()
        self.bad.send(data[10:])
        self.assertEqual(self.bad.recv().doc['ok'], 1)


if __name__ == '__main__':
    harness.main()
