"""Tests for netdecode.capture.pcap: readers, writers, damaged files, the corpus, external tools.

Hand-made files are built here with ``struct`` (tiny builders below); the corpus is
located from this file (../shared/corpus next to the repository) and its tshark truth
is the reference.  tshark and tcpdump read back what the writers write when installed
(required when CI=true).
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import unittest
from unittest import mock

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _REPO)
sys.path.insert(0, os.path.join(_REPO, "tests"))

import corpus  # noqa: E402
from netdecode.capture import pcap  # noqa: E402
from netdecode.capture.pcap import (  # noqa: E402
    CaptureError, Interface, PcapWriter, PcapngWriter, open_capture)

_CORPUS = corpus.CORPUS
_NS = 10 ** 9


# --- builders -------------------------------------------------------------------------

def pcap_bytes(records, order="<", nanosecond=False, version=(2, 4), snaplen=262144,
               network=1):
    """A classic pcap file; records are (sec, frac, data, wirelen)."""
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, version[0], version[1], 0, 0, snaplen,
                       network)]
    for sec, frac, data, wirelen in records:
        out.append(struct.pack(order + "IIII", sec, frac, len(data), wirelen))
        out.append(data)
    return b"".join(out)


def pad4(data):
    return data + b"\0" * (-len(data) & 3)


def block(order, btype, body):
    body = pad4(body)
    blen = 12 + len(body)
    return struct.pack(order + "II", btype, blen) + body + struct.pack(order + "I", blen)


def option(order, code, value):
    return struct.pack(order + "HH", code, len(value)) + pad4(value)


def endopt(order):
    return struct.pack(order + "HH", 0, 0)


def shb(order="<", version=(1, 0), options=b""):
    return block(order, 0x0A0D0D0A,
                 struct.pack(order + "IHHq", 0x1A2B3C4D, version[0], version[1], -1) + options)


def idb(order="<", linktype=1, snaplen=0, options=b""):
    return block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + options)


def epb(order="<", ifid=0, ticks=0, data=b"", wirelen=None, options=b""):
    wirelen = len(data) if wirelen is None else wirelen
    return block(order, 6, struct.pack(order + "IIIII", ifid, ticks >> 32, ticks & 0xFFFFFFFF,
                                       len(data), wirelen) + pad4(data) + options)


def opb(order="<", ifid=0, ticks=0, data=b"", wirelen=None, options=b""):
    wirelen = len(data) if wirelen is None else wirelen
    return block(order, 2, struct.pack(order + "HHIIII", ifid, 0, ticks >> 32,
                                       ticks & 0xFFFFFFFF, len(data), wirelen)
                 + pad4(data) + options)


def spb(order="<", wirelen=0, data=b""):
    return block(order, 3, struct.pack(order + "I", wirelen) + data)


def flags_option(order, flags):
    return option(order, 2, struct.pack(order + "I", flags)) + endopt(order)


ETH = bytes(bytearray(range(6))) + b"\x02" * 6 + b"\x88\xb5" + b"payload for the test" * 2


def sample_frames():
    """Frames of several link types, lengths, packet types; ts in ns."""
    base = 1600000000 * _NS
    return [
        (base + 123456789, 0, 4, 1, ETH, len(ETH)),
        (base + 987654321, 1, 0, 101, b"\x45" + bytes(27), 28),
        (base + _NS + 1, 0, None, 1, ETH[:17], 1514),
        (base + 2 * _NS, 2, 1, 113, bytes(range(33)), 33),
        (base + 3 * _NS + 999, 1, 2, 101, b"", 0),
        (base + 4 * _NS, 0, 3, 1, ETH * 30, len(ETH) * 30),
        (base + 5 * _NS, 2, None, 113, b"\x01\x02\x03", 3),
    ]


def streamed(chunk):
    """Patches making the reader stream the file in ``chunk``-byte reads (no mmap)."""
    return (mock.patch("mmap.mmap", side_effect=OSError(19, "no mmap in this test")),
            mock.patch.object(pcap, "_CHUNK", chunk))


def read_streamed(path, chunk):
    nomap, small = streamed(chunk)
    with nomap, small:
        return corpus.read_frames(path)


class _FramesCase(unittest.TestCase):

    def assert_frames(self, got, want, msg=None):
        """Frame lists compared frame by frame: a failing assertEqual on long lists of
        bytes has difflib working for many minutes before it reports."""
        self.assertEqual(len(got), len(want), msg)
        for number, (frame, expected) in enumerate(zip(got, want)):
            self.assertEqual(frame, expected, "frame %d %s" % (number, msg or ""))


class _TempDirCase(_FramesCase):

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name

    def make(self, name, content):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(content)
        return path

    def assert_damaged(self, content, nframes, pattern, name="x.pcap"):
        """Reading ``content`` yields ``nframes`` frames then a CaptureError matching
        ``pattern``, whether mapped or streamed in small chunks; returns the frames."""
        path = self.make(name, content)
        frames, exc = corpus.read_frames(path)
        self.assertIsInstance(exc, CaptureError)
        self.assertEqual(len(frames), nframes, str(exc))
        self.assertRegex(str(exc), "^" + re.escape(path) + ": ")
        self.assertRegex(str(exc), pattern)
        self.assertNotIn("\n", str(exc))
        for chunk in (1, 3, 64):
            sframes, sexc = read_streamed(path, chunk)
            self.assert_frames(sframes, frames)
            self.assertEqual(str(sexc), str(exc))
        return frames


# --- writers and round trips ----------------------------------------------------------

class WriterRoundTripTest(_TempDirCase):

    def test_pcap_microseconds_truncates_ts_to_whole_microseconds(self):
        path = os.path.join(self.tmp, "us.pcap")
        frames = sample_frames()
        with PcapWriter(path, 1) as writer:
            for frame in frames:
                writer.write(frame)
        got, exc = corpus.read_frames(path)
        self.assertIsNone(exc)
        # The file holds microseconds: the ns timestamp is truncated, never rounded.
        want = [(ts // 1000 * 1000, 0, None, 1, data, wirelen)
                for ts, _i, _p, _l, data, wirelen in frames]
        self.assert_frames(got, want)
        self.assertEqual(got[0][0], 1600000000123456000)
        with open_capture(path) as reader:
            self.assertEqual((reader.linktype, reader.snaplen, reader.nanosecond),
                             (1, 262144, False))
            self.assertEqual(reader.interfaces, [Interface(1, 262144, None, 10 ** 6, 0)])
            self.assertEqual(reader.format, "pcap")

    def test_pcap_nanoseconds_exact(self):
        path = os.path.join(self.tmp, "ns.pcap")
        frames = sample_frames()
        with PcapWriter(path, 113, snaplen=65535, nanosecond=True) as writer:
            for frame in frames:
                writer.write(frame)
        got, exc = corpus.read_frames(path)
        self.assertIsNone(exc)
        self.assert_frames(got, [(ts, 0, None, 113, data, wirelen)
                               for ts, _i, _p, _l, data, wirelen in frames])
        with open_capture(path) as reader:
            self.assertEqual((reader.linktype, reader.snaplen, reader.nanosecond),
                             (113, 65535, True))
            self.assertEqual(reader.interfaces[0].tsresol, _NS)

    def test_pcap_header_and_record_bytes_are_libpcap_layout(self):
        path = os.path.join(self.tmp, "golden.pcap")
        with PcapWriter(path, 1, snaplen=96) as writer:
            writer.write((1000000002500000, 0, None, 1, b"ab", 60))
        with open(path, "rb") as f:
            content = f.read()
        self.assertEqual(content, bytes.fromhex(
            "d4c3b2a1" "0200" "0400" "00000000" "00000000" "60000000" "01000000"
            "40420f00" "c4090000" "02000000" "3c000000") + b"ab")

    def test_pcap_ts_none_is_zero_and_snaplen_cuts(self):
        path = os.path.join(self.tmp, "snap.pcap")
        with PcapWriter(path, 1, snaplen=10) as writer:
            writer.write((None, 0, None, 1, ETH, len(ETH)))
        got, exc = corpus.read_frames(path)
        self.assertIsNone(exc)
        self.assertEqual(got, [(0, 0, None, 1, ETH[:10], len(ETH))])

    def test_pcap_writer_refuses_unrepresentable_values(self):
        path = os.path.join(self.tmp, "bad.pcap")
        with PcapWriter(path, 1) as writer:
            with self.assertRaises(CaptureError):
                writer.write((-1, 0, None, 1, b"x", 1))
            with self.assertRaises(CaptureError):
                writer.write((2 ** 32 * _NS, 0, None, 1, b"x", 1))
            with self.assertRaises(CaptureError):
                writer.write((0, 0, None, 1, b"x", 2 ** 32))
        self.assertEqual(corpus.read_frames(path), ([], None))
        with self.assertRaises(CaptureError):
            PcapWriter(os.path.join(self.tmp, "bad2.pcap"), -1)

    def test_pcapng_round_trip_interfaces_linktypes_flags(self):
        path = os.path.join(self.tmp, "rt.pcapng")
        frames = sample_frames()
        with PcapngWriter(path) as writer:
            self.assertEqual(writer.add_interface(1, name="eth0"), 0)
            self.assertEqual(writer.add_interface(101, snaplen=65535, tsresol_ns=False), 1)
            self.assertEqual(writer.add_interface(113, name="any\u00e9"), 2)
            for frame in frames:
                writer.write(frame)
        got, exc = corpus.read_frames(path)
        self.assertIsNone(exc)
        # Interface 1 has microsecond resolution: its timestamps lose the nanoseconds.
        want = [(ts // 1000 * 1000 if ifid == 1 else ts, ifid, pkttype, lt, data, wirelen)
                for ts, ifid, pkttype, lt, data, wirelen in frames]
        self.assert_frames(got, want)
        with open_capture(path) as reader:
            self.assertEqual(reader.format, "pcapng")
            self.assertEqual(reader.interfaces, [
                Interface(1, 262144, "eth0", _NS, 0),
                Interface(101, 65535, None, 10 ** 6, 0),
                Interface(113, 262144, "any\u00e9", _NS, 0)])
            self.assertEqual((reader.linktype, reader.snaplen, reader.nanosecond),
                             (1, 262144, True))

    def test_pcapng_explicit_interface_and_other_packet_types(self):
        path = os.path.join(self.tmp, "ids.pcapng")
        with PcapngWriter(path) as writer:
            writer.add_interface(1)
            writer.add_interface(1)
            writer.write((5, 0, 7, 1, b"abc", 3), interface_id=1)
            writer.write((6, 1, None, 1, b"abcd", 4), interface_id=0)
            with self.assertRaises(CaptureError):
                writer.write((7, 2, None, 1, b"", 0))
            with self.assertRaises(CaptureError):
                writer.write((7, 0, None, 1, b"", 0), interface_id=-1)
        got, exc = corpus.read_frames(path)
        self.assertIsNone(exc)
        # A packet type without an epb_flags equivalent (7, PACKET_USER) is written
        # "inbound" and so reads back as PACKET_HOST.
        self.assertEqual(got, [(5, 1, 0, 1, b"abc", 3), (6, 0, None, 1, b"abcd", 4)])

    def test_pcapng_ts_none_and_snaplen_cut(self):
        path = os.path.join(self.tmp, "cut.pcapng")
        with PcapngWriter(path) as writer:
            writer.add_interface(1, snaplen=5)
            writer.write((None, 0, None, 1, ETH, len(ETH)))
        self.assertEqual(corpus.read_frames(path), ([(0, 0, None, 1, ETH[:5], len(ETH))], None))

    def test_writers_take_file_objects_and_leave_them_open(self):
        for make in (lambda f: PcapWriter(f, 1), PcapngWriter):
            path = os.path.join(self.tmp, "fileobj")
            with open(path, "wb") as f:
                writer = make(f)
                if isinstance(writer, PcapngWriter):
                    writer.add_interface(1)
                writer.write((1, 0, None, 1, b"xyz", 3))
                writer.close()
                writer.close()
                self.assertFalse(f.closed)
                with self.assertRaises(ValueError):
                    writer.write((1, 0, None, 1, b"xyz", 3))
            got, exc = corpus.read_frames(path)
            self.assertIsNone(exc)
            self.assertEqual([frame[4] for frame in got], [b"xyz"])

    def test_empty_writers_give_readable_files(self):
        with PcapWriter(os.path.join(self.tmp, "e.pcap"), 1):
            pass
        with PcapngWriter(os.path.join(self.tmp, "e.pcapng")):
            pass
        self.assertEqual(corpus.read_frames(os.path.join(self.tmp, "e.pcap")), ([], None))
        self.assertEqual(corpus.read_frames(os.path.join(self.tmp, "e.pcapng")), ([], None))


# --- readers: formats and options -----------------------------------------------------

class ReaderFormatTest(_TempDirCase):

    def test_pcap_both_byte_orders_and_resolutions(self):
        records = [(1, 2, b"abc", 3), (4294967295, 999999, b"", 60)]
        for order in "<>":
            for nano in (False, True):
                path = self.make("o.pcap", pcap_bytes(records, order, nano, network=101))
                frames, exc = corpus.read_frames(path)
                self.assertIsNone(exc)
                mult = 1 if nano else 1000
                self.assertEqual(frames, [
                    (1 * _NS + 2 * mult, 0, None, 101, b"abc", 3),
                    (4294967295 * _NS + 999999 * mult, 0, None, 101, b"", 60)])
                with open_capture(path) as reader:
                    self.assertEqual(reader.nanosecond, nano)
                    self.assertEqual(reader.byteorder, "little" if order == "<" else "big")

    def test_pcap_fraction_out_of_range_is_kept_raw(self):
        path = self.make("f.pcap", pcap_bytes([(10, 1000000000, b"", 0), (10, 2 ** 32 - 1, b"",
                                                                          0)], nanosecond=True))
        frames, exc = corpus.read_frames(path)
        self.assertIsNone(exc)
        self.assertEqual([f[0] for f in frames], [11 * _NS, 10 * _NS + 2 ** 32 - 1])

    def test_pcap_versions(self):
        for minor in (0, 3, 4, 5):
            frames, exc = corpus.read_frames(self.make("v.pcap", pcap_bytes([(1, 1, b"a", 1)],
                                                                 version=(2, minor))))
            self.assertIsNone(exc)
            self.assertEqual(len(frames), 1)
        for version in ((1, 4), (3, 0), (543, 0)):
            self.assert_damaged(pcap_bytes([(1, 1, b"a", 1)], version=version), 0,
                                r"major version %d unsupported" % version[0])

    def test_pcap_linktype_field(self):
        # FCS length in bits 28-31 and the "FCS present" bit 26 are not the link type.
        frames, exc = corpus.read_frames(self.make("fcs.pcap", pcap_bytes([(1, 1, b"a", 1)],
                                                               network=0x44000069)))
        self.assertIsNone(exc)
        self.assertEqual(frames[0][3], 105)
        self.assert_damaged(pcap_bytes([], network=0x00300000), 0,
                            r"link-type field has reserved bits set \(0x00300000\)")

    def test_pcap_absurd_snaplen_is_only_reported(self):
        for snaplen in (0, 1, 0xFFFFFFFF):
            path = self.make("s.pcap", pcap_bytes([(1, 1, ETH, len(ETH))], snaplen=snaplen))
            frames, exc = corpus.read_frames(path)
            self.assertIsNone(exc)
            self.assertEqual(frames[0][4], ETH)
            with open_capture(path) as reader:
                self.assertEqual(reader.snaplen, snaplen)

    def test_frames_twice_and_iteration(self):
        path = self.make("t.pcap", pcap_bytes([(1, 1, b"a", 1), (2, 2, b"bb", 2)]))
        with open_capture(path) as reader:
            first = list(reader.frames())
            self.assert_frames(list(reader.frames()), first)
            self.assert_frames(list(reader), first)
        nomap, small = streamed(5)
        with nomap, small:
            with open_capture(path) as reader:
                self.assert_frames(list(reader.frames()), first)
                self.assert_frames(list(reader.frames()), first)
        with self.assertRaises(ValueError):
            reader.frames()

    def test_pcapng_both_byte_orders_epb_spb_opb(self):
        for order in "<>":
            content = (shb(order) + idb(order, 1, 0, option(order, 2, b"eth0") + endopt(order))
                       + epb(order, 0, 1234567, b"hello", 60)
                       + spb(order, 3, b"abcdef")
                       + opb(order, 0, 7, b"xyz", 3, flags_option(order, 2)))
            frames, exc = corpus.read_frames(self.make("o.pcapng", content))
            self.assertIsNone(exc)
            self.assertEqual(frames, [
                (1234567000, 0, None, 1, b"hello", 60),
                (None, 0, None, 1, b"abc", 3),
                (7000, 0, 4, 1, b"xyz", 3)])

    def test_pcapng_sections_reset_interfaces(self):
        content = (shb("<") + idb("<", 1) + idb("<", 0) + epb("<", 1, 1, b"a")
                   + shb(">") + idb(">", 101) + epb(">", 0, 2, b"b")
                   + shb("<") + idb("<", 113) + idb("<", 228) + epb("<", 1, 3, b"c"))
        path = self.make("s.pcapng", content)
        with open_capture(path) as reader:
            self.assertEqual([i.linktype for i in reader.interfaces], [1, 0])
            frames = []
            seen = []
            for frame in reader.frames():
                frames.append(frame)
                seen.append([i.linktype for i in reader.interfaces])
        self.assertEqual(frames, [(1000, 1, None, 0, b"a", 1), (2000, 0, None, 101, b"b", 1),
                                  (3000, 1, None, 228, b"c", 1)])
        self.assertEqual(seen, [[1, 0], [101], [113, 228]])
        # An id valid in an earlier section is not valid in a later one.
        self.assert_damaged(shb() + idb() + idb() + epb("<", 1, 0, b"a") + shb() + idb()
                            + epb("<", 1, 0, b"b"), 1,
                            r"EPB at offset \d+: interface id 1 has no Interface "
                            r"Description Block \(1 in this section\)")

    def test_pcapng_timestamp_resolutions_are_exact(self):
        ticks = 0x123456789ABCDEF
        cases = [
            (None, ticks * 1000),
            (b"\x09", ticks),
            (b"\x03", ticks * 10 ** 6),
            (b"\x0c", ticks // 1000),
            (b"\x80", ticks * _NS),
            (b"\x94", ticks * _NS // 2 ** 20),
            (b"\x9e", ticks * _NS // 2 ** 30),
            (b"\xc0", ticks * _NS // 2 ** 64),
        ]
        for value, want in cases:
            opts = b"" if value is None else option("<", 9, value) + endopt("<")
            content = (shb() + idb("<", 1, 0, opts) + epb("<", 0, ticks, b"x")
                       + opb("<", 0, ticks, b"y") + epb("<", 0, ticks + 1, b"z"))
            frames, exc = corpus.read_frames(self.make("r.pcapng", content))
            self.assertIsNone(exc)
            self.assertEqual([frame[0] for frame in frames[:2]], [want, want], value)
            # Exactly floor((ticks + 1) * 10**9 / tsresol) + tsoffset, not an approximation.
            self.assertEqual(frames[2][0], self.exact(ticks + 1, value))
        with open_capture(self.make("r.pcapng", shb() + idb("<", 1, 0, option(
                "<", 9, b"\x9e") + endopt("<")))) as reader:
            self.assertEqual(reader.interfaces[0].tsresol, 2 ** 30)

    @staticmethod
    def exact(ticks, value):
        exponent = 6 if value is None else value[0]
        tsresol = 2 ** (exponent & 0x7F) if exponent & 0x80 else 10 ** exponent
        return ticks * _NS // tsresol

    def test_pcapng_tsoffset(self):
        for order in "<>":
            for offset in (1000, -5):
                opts = option(order, 14, struct.pack(order + "q", offset)) + endopt(order)
                content = shb(order) + idb(order, 1, 0, opts) + epb(order, 0, 2500000, b"x")
                path = self.make("o.pcapng", content)
                frames, exc = corpus.read_frames(path)
                self.assertIsNone(exc)
                self.assertEqual(frames[0][0], (offset * 10 ** 6 + 2500000) * 1000)
                with open_capture(path) as reader:
                    self.assertEqual(reader.interfaces[0].tsoffset, offset)

    def test_pcapng_epb_flags_to_packet_type(self):
        cases = {0: None, 1: 0, 2: 4, 3: None, 1 | 1 << 2: 0, 1 | 2 << 2: 2, 1 | 3 << 2: 1,
                 1 | 4 << 2: 3, 2 | 3 << 2: 4, 0 | 3 << 2: 1, 0 | 4 << 2: 3,
                 0xFFFF0001: 0, 1 | 7 << 2: 0}
        for flags, want in sorted(cases.items()):
            # The usual layout (flags, end of options) and a longer list.
            for opts in (flags_option("<", flags),
                         option("<", 1, b"a comment") + option("<", 2, struct.pack(
                             "<I", flags)) + option("<", 4, b"\0" * 8),
                         option("<", 2, struct.pack("<I", flags))):
                content = shb() + idb() + epb("<", 0, 1, b"abcde", options=opts)
                frames, exc = corpus.read_frames(self.make("f.pcapng", content))
                self.assertIsNone(exc)
                self.assertEqual(frames[0][2], want, (flags, opts))

    def test_pcapng_spb_lengths(self):
        # Cut to the original length, to interface 0's snaplen and to the block.
        content = (shb() + idb("<", 1, 4) + spb("<", 100, b"abcdefgh")
                   + shb() + idb("<", 1, 0) + spb("<", 6, b"abcdefgh") + spb("<", 100, b"abcdefg")
                   + spb("<", 0, b""))
        frames, exc = corpus.read_frames(self.make("s.pcapng", content))
        self.assertIsNone(exc)
        self.assertEqual([(f[4], f[5]) for f in frames], [
            (b"abcd", 100), (b"abcdef", 6), (b"abcdefg\0", 100), (b"", 0)])

    def test_pcapng_skips_other_blocks(self):
        content = (shb("<", options=option("<", 4, b"test") + endopt("<"))
                   + block("<", 0x00000BAD, b"\x00\x00\x7e\x8b custom")
                   + block("<", 4, b"\x00\x00\x00\x00")
                   + idb() + block("<", 5, bytes(12)) + block("<", 0x40000BAD, bytes(8))
                   + block("<", 10, b"dsb") + block("<", 0x12345678, b"")
                   + epb("<", 0, 1, b"a"))
        frames, exc = corpus.read_frames(self.make("k.pcapng", content))
        self.assertIsNone(exc)
        self.assertEqual(frames, [(1000, 0, None, 1, b"a", 1)])

    def test_pcapng_versions(self):
        for version in ((1, 0), (1, 2), (1, 1)):
            frames, exc = corpus.read_frames(self.make("v.pcapng", shb("<", version) + idb()
                                             + epb("<", 0, 1, b"a")))
            self.assertIsNone(exc)
            self.assertEqual(len(frames), 1)
        self.assert_damaged(shb("<", (0, 1)) + idb(), 0, r"unsupported SHB version 0\.1",
                            "x.pcapng")
        self.assert_damaged(shb("<") + idb() + epb("<", 0, 1, b"a") + shb(">", (2, 0)), 1,
                            r"unsupported SHB version 2\.0", "x.pcapng")

    def test_interface_repr_and_equality(self):
        iface = Interface(1, 65535, "eth0", 10 ** 9, 0)
        self.assertEqual(eval(repr(iface), {"Interface": Interface}), iface)
        self.assertNotEqual(iface, Interface(1, 65535, "eth1", 10 ** 9, 0))


# --- damage ---------------------------------------------------------------------------

class DamageTest(_TempDirCase):

    def test_missing_file_and_directory(self):
        missing = os.path.join(self.tmp, "missing.pcap")
        with self.assertRaises(CaptureError) as ctx:
            open_capture(missing)
        self.assertEqual(str(ctx.exception), missing + ": No such file or directory")
        with self.assertRaises(CaptureError) as ctx:
            with open_capture(self.tmp) as reader:
                list(reader.frames())
        self.assertTrue(str(ctx.exception).startswith(self.tmp + ": "))

    def test_empty_short_and_foreign_files(self):
        self.assert_damaged(b"", 0, r": empty file$")
        self.assert_damaged(b"\xd4\xc3", 0, r"2-byte file is too short")
        self.assert_damaged(b"\x12\x34\x56\x78" + bytes(40), 0,
                            r"not a pcap or pcapng file \(magic 0x12345678\)$")
        self.assert_damaged(b"\x1f\x8b\x08\x00" + bytes(40), 0, r"gzip")
        self.assert_damaged(pcap_bytes([])[:20], 0,
                            r"pcap file header cut short: 24 bytes expected, 20 present")
        self.assert_damaged(shb()[:10], 0, r"block \(type 0x0a0d0d0a\) at offset 0 cut "
                            r"short: 12 bytes expected, 10 present$", "x.pcapng")
        self.assert_damaged(shb()[:7], 0, r"block \(type 0x0a0d0d0a\) at offset 0 cut "
                            r"short: 8 bytes expected, 7 present$", "x.pcapng")
        self.assert_damaged(shb()[:-4], 0, r"block \(type 0x0a0d0d0a\) at offset 0 cut short: "
                            r"28 bytes expected, 24 present", "x.pcapng")

    def test_pcap_cut_inside_record_header_and_data(self):
        content = pcap_bytes([(1, 0, b"a" * 60, 60), (2, 0, b"b" * 40, 40),
                              (3, 0, b"c" * 60, 60)])
        cut_header = content[:24 + 76 + 56 + 7]
        self.assert_damaged(cut_header, 2, r"record 3 at offset 156 cut short: 16-byte record "
                            r"header expected, 7 present$")
        cut_data = content[:-48]
        self.assert_damaged(cut_data, 2, r"record 3 at offset 156 cut short: 60 bytes of data "
                            r"expected, 12 present$")

    def test_pcap_implausible_length(self):
        content = pcap_bytes([(1, 0, b"a", 1)]) + struct.pack("<IIII", 1, 0, 0xFFFFFFF0, 1)
        self.assert_damaged(content + bytes(100), 1,
                            r"record 2 at offset 41: captured length 4294967280 is implausible")

    def test_implausible_lengths_present_in_the_file(self):
        with mock.patch.object(pcap, "_MAX_RECORD", 100):
            self.assert_damaged(pcap_bytes([(1, 0, b"a", 1), (2, 0, bytes(101), 101)]), 1,
                                r"record 2 at offset 41: captured length 101 is implausible")
            self.assert_damaged(shb() + idb() + epb("<", 0, 1, b"a") + epb("<", 0, 1, bytes(80)),
                                1, r"EPB at offset 84: block length 112 is implausible",
                                "x.pcapng")

    def test_pcapng_block_lengths(self):
        good = shb() + idb() + epb("<", 0, 1, b"abcd")
        self.assertEqual(len(good), 84)
        bad = bytearray(epb("<", 0, 2, b"efgh"))
        bad[4] += 1
        self.assert_damaged(good + bytes(bad), 1, r"EPB at offset 84: block length 37 is not "
                            r"a multiple of 4", "x.pcapng")
        # A crafted odd length whose "trailer" matches.
        odd = struct.pack("<IIIIIII", 6, 37, 0, 0, 1, 1, 1) + b"a" + bytes(4) + b"\x25\0\0\0"
        self.assert_damaged(good + odd + bytes(3) + epb("<", 0, 2, b"efgh"), 1,
                            r"EPB at offset 84: block length 37 is not a multiple of 4",
                            "x.pcapng")
        self.assert_damaged(good + struct.pack("<II", 6, 8) + bytes(40), 1,
                            r"EPB at offset 84: block length 8 is less than 12", "x.pcapng")
        self.assert_damaged(good + struct.pack("<II", 1, 0), 1,
                            r"IDB at offset 84: block length 0 is less than 12", "x.pcapng")
        trailer = bytearray(epb("<", 0, 2, b"efgh"))
        trailer[-4] += 4
        self.assert_damaged(good + bytes(trailer), 1, r"EPB at offset 84: trailing block "
                            r"length 40 does not match the leading 36", "x.pcapng")
        self.assert_damaged(good + block("<", 6, bytes(8)), 1,
                            r"EPB at offset 84: 20-byte block is too short", "x.pcapng")
        self.assert_damaged(good + struct.pack("<II", 6, 0x7FFFFFFC) + bytes(30), 1,
                            r"block length 2147483644 is implausible", "x.pcapng")

    def test_pcapng_cut_inside_block_header_and_block(self):
        content = shb() + idb() + epb("<", 0, 1, b"abcd") + epb("<", 0, 2, b"efgh")
        self.assertEqual(len(content), 120)
        self.assert_damaged(content[:-26], 1, r"block \(type 0x00000006\) at offset 84 cut "
                            r"short: 36 bytes expected, 10 present$", "x.pcapng")
        self.assert_damaged(content[:-30], 1, r"block \(type 0x00000006\) at offset 84 cut "
                            r"short: 8 bytes expected, 6 present$", "x.pcapng")
        self.assert_damaged(content[:-33], 1, r"block at offset 84 cut short: 8 bytes "
                            r"expected, 3 present$", "x.pcapng")
        be = shb(">") + idb(">") + epb(">", 0, 1, b"abcd") + epb(">", 0, 2, b"efgh")
        self.assert_damaged(be[:-4], 1, r"block \(type 0x00000006\) at offset 84 cut "
                            r"short: 36 bytes expected, 32 present$", "x.pcapng")

    def test_pcapng_options_overrunning(self):
        over = struct.pack("<HH", 2, 200) + b"eth0"
        self.assert_damaged(shb("<", options=over), 0, r"SHB at offset 0: option 2 of length "
                            r"200 at offset 24 overruns the block \(4 bytes left\)", "x.pcapng")
        self.assert_damaged(shb() + idb("<", 1, 0, over), 0, r"IDB at offset 28: option 2 of "
                            r"length 200", "x.pcapng")
        self.assert_damaged(shb() + idb() + epb("<", 0, 1, b"a") + epb("<", 0, 1, b"abc", 3,
                                                                       over), 1,
                            r"EPB at offset 84: option 2 of length 200", "x.pcapng")
        self.assert_damaged(shb() + idb() + opb("<", 0, 1, b"abc", 3, over), 0,
                            r"Packet Block at offset 48: option 2 of length 200", "x.pcapng")

    def test_pcapng_packet_blocks_checked(self):
        self.assert_damaged(shb() + idb() + epb("<", 0, 1, b"a") + epb("<", 3, 1, b"b"), 1,
                            r"EPB at offset 84: interface id 3 has no Interface Description "
                            r"Block \(1 in this section\)", "x.pcapng")
        self.assert_damaged(shb() + epb("<", 0, 1, b"b"), 0,
                            r"EPB at offset 28: interface id 0 has no", "x.pcapng")
        self.assert_damaged(shb() + idb() + opb("<", 1, 1, b"b"), 0,
                            r"Packet Block at offset 48: interface id 1", "x.pcapng")
        self.assert_damaged(shb() + spb("<", 1, b"b"), 0, r"SPB at offset 28: no Interface "
                            r"Description Block", "x.pcapng")
        big = bytearray(epb("<", 0, 1, b"abcd"))
        big[20] = 9
        self.assert_damaged(shb() + idb() + bytes(big), 0, r"EPB at offset 48: captured "
                            r"length 9 does not fit in the 36-byte block", "x.pcapng")
        bom = bytearray(shb(">"))
        bom[8] = 0x77
        self.assert_damaged(shb() + idb() + epb("<", 0, 1, b"a") + bytes(bom), 1,
                            r"SHB at offset 84: byte-order magic 0x772b3c4d", "x.pcapng")

    def test_truncation_sweep(self):
        """Every prefix of a good file: the complete frames, then at most a CaptureError."""
        pcap_path = os.path.join(self.tmp, "full.pcap")
        with PcapWriter(pcap_path, 1, nanosecond=True) as writer:
            for frame in sample_frames():
                writer.write(frame)
        ng = (shb() + idb("<", 1, 0, option("<", 2, b"lo") + endopt("<")) + idb("<", 101)
              + epb("<", 0, 5, b"abcde", options=flags_option("<", 1)) + spb("<", 3, b"xyz")
              + block("<", 0xBAD, b"custom") + opb("<", 1, 9, b"q")
              + shb(">") + idb(">", 113) + epb(">", 0, 7, b"12345678"))
        ng_path = self.make("full.pcapng", ng)
        for path in (pcap_path, ng_path):
            with open(path, "rb") as f:
                content = f.read()
            full, exc = corpus.read_frames(path)
            self.assertIsNone(exc)
            for cut in range(len(content)):
                frames, exc = corpus.read_frames(self.make("cut", content[:cut]))
                self.assert_frames(frames, full[:len(frames)], cut)
                if exc is None:
                    self.assertLess(len(frames), len(full))

    def test_mutation_sweep(self):
        """Every byte overwritten: frames or a CaptureError, never another exception."""
        ng = (shb(">") + idb(">", 1, 0, option(">", 9, b"\x09") + option(">", 14, bytes(8))
                              + endopt(">"))
              + epb(">", 0, 5, b"abcde", options=flags_option(">", 1)) + spb(">", 3, b"xyz")
              + opb(">", 0, 9, b"q") + shb("<") + idb("<", 113) + epb("<", 0, 7, b"12345678"))
        pc = pcap_bytes([(1, 2, b"abc", 3), (4, 5, b"defg", 9)])
        for content in (ng, pc):
            for pos in range(len(content)):
                for value in (0x00, 0x80, 0xFF):
                    mutated = bytearray(content)
                    mutated[pos] = value
                    frames, exc = corpus.read_frames(self.make("m", bytes(mutated)))
                    for frame in frames:
                        self.assertIsInstance(frame[4], bytes)


class StreamingTest(_TempDirCase):
    """Files that cannot be mapped (pipes, empty files) are read in chunks."""

    def test_fifo(self):
        if not hasattr(os, "mkfifo"):
            self.skipTest("no os.mkfifo on this platform")
        frames = sample_frames()
        content_path = os.path.join(self.tmp, "src.pcapng")
        with PcapngWriter(content_path) as writer:
            for linktype in (1, 101, 113):
                writer.add_interface(linktype)
            for frame in frames * 50:
                writer.write(frame)
        with open(content_path, "rb") as f:
            content = f.read()
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)

        errors = []

        def feed():
            try:
                with open(fifo, "wb", buffering=0) as out:
                    for pos in range(0, len(content), 1000):
                        out.write(content[pos:pos + 1000])
            except OSError as exc:      # the reader went away: the assertions say why
                errors.append(exc)

        feeder = threading.Thread(target=feed)
        feeder.daemon = True
        feeder.start()
        try:
            got, exc = corpus.read_frames(fifo)
        finally:
            feeder.join(60)
        self.assertFalse(feeder.is_alive())
        self.assertEqual(errors, [])
        self.assertIsNone(exc)
        self.assert_frames(got, frames * 50)

    def test_streamed_equals_mapped_for_written_files(self):
        path = os.path.join(self.tmp, "w.pcapng")
        with PcapngWriter(path) as writer:
            writer.add_interface(1)
            writer.add_interface(113, tsresol_ns=False)
            for frame in sample_frames():
                writer.write(frame, frame[1] % 2)
        mapped, exc = corpus.read_frames(path)
        self.assertIsNone(exc)
        for chunk in (1, 2, 7, 100, 1 << 20):
            frames, exc = read_streamed(path, chunk)
            self.assertIsNone(exc)
            self.assert_frames(frames, mapped, chunk)


# --- the corpus -----------------------------------------------------------------------

def _corpus_files():
    truth = os.path.join(_CORPUS, "truth")
    return [name for name in sorted(os.listdir(_CORPUS))
            if os.path.isfile(os.path.join(truth, name + ".tsv"))]


def _truth_rows(name):
    return corpus.truth_rows(name, custom_blocks=True)


def _formats():
    with open(os.path.join(_CORPUS, "INDEX.tsv"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    header = lines[0].split("\t")
    return {row["file"]: row["format"] for row in
            (dict(zip(header, line.split("\t"))) for line in lines[1:] if line)}


def _same_time(ts, text):
    """The conformance checker's rule: equal when rounded to 6 decimals, within 2e-6."""
    if text == "":
        return ts is None
    if ts is None:
        return False
    return abs(round(ts / 1e9, 6) - round(float(text), 6)) <= 2e-6


# tshark prints an out-of-range nanosecond fraction verbatim ("1418145370.1000000000",
# "-1418145370.2147483648"): no number to compare with.  The reader keeps the raw
# sec * 10**9 + frac; these are the values it must give.
_RAW_TIMESTAMPS = {
    "tcpdump__timestamp_invalid_nano.pcap": [1418145369999999999, 1418145371000000000,
                                             1418145372147483648],
}


@unittest.skipUnless(os.path.isdir(_CORPUS), "corpus not found at %s" % _CORPUS)
class CorpusTest(_FramesCase):

    def test_corpus_is_there(self):
        self.assertGreater(len(_corpus_files()), 100)

    def test_unreadable_files(self):
        unreadable = corpus.frames_read()
        formats = _formats()
        self.assertTrue(unreadable)
        for name, nread in sorted(unreadable.items()):
            with self.subTest(file=name):
                frames, exc = corpus.read_frames(os.path.join(_CORPUS, name))
                self.assertIsInstance(exc, CaptureError)
                self.assertEqual(len(frames), nread)
                self.assertTrue(str(exc).startswith(os.path.join(_CORPUS, name) + ": "))
                if nread:
                    self.assertIn("cut short", str(exc))
                    self._check_frames(name, frames, _truth_rows(name), formats[name])

    def test_readable_files_match_tshark(self):
        unreadable = corpus.frames_read()
        formats = _formats()
        checked = 0
        for name in _corpus_files():
            if name in unreadable:
                continue
            with self.subTest(file=name):
                frames, exc = corpus.read_frames(os.path.join(_CORPUS, name))
                self.assertIsNone(exc)
                rows = _truth_rows(name)
                self._check_frames(name, frames, rows, formats[name])
                checked += 1
        self.assertGreater(checked, 100)

    def test_streamed_matches_mapped(self):
        for name in _corpus_files():
            path = os.path.join(_CORPUS, name)
            if os.path.getsize(path) > 100000:
                continue
            with self.subTest(file=name):
                mapped_frames, mapped_exc = corpus.read_frames(path)
                for chunk in (1, 61):
                    frames, exc = read_streamed(path, chunk)
                    self.assert_frames(frames, mapped_frames)
                    self.assertEqual(str(exc), str(mapped_exc))

    @unittest.skipUnless(pcap._MADVISE, "no madvise before Python 3.8: the map is read whole")
    def test_a_small_window_reads_what_the_whole_map_reads(self):
        """The window a mapped file is read through (and released behind) moves on
        mid-record and mid-block alike: every file reads the same, damage included."""
        for name in _corpus_files():
            path = os.path.join(_CORPUS, name)
            whole, whole_exc = corpus.read_frames(path)
            for window in (1, 4099):
                with self.subTest(file=name, window=window), \
                        mock.patch.object(pcap, "_WINDOW", window):
                    frames, exc = corpus.read_frames(path)
                    self.assert_frames(frames, whole)
                    self.assertEqual(str(exc), str(whole_exc))

    def _check_frames(self, name, frames, rows, fmt):
        if fmt == "pcapng":
            # tshark 4.0 lists pcapng Custom Blocks as frames without an interface id.
            rows = [row for row in rows if row.get("frame.interface_id", "") != ""]
        self.assertEqual(len(frames), len(rows))
        raw = _RAW_TIMESTAMPS.get(name)
        if raw is not None:
            self.assertEqual([frame[0] for frame in frames], raw)
        for number, (frame, row) in enumerate(zip(frames, rows), 1):
            ts, ifindex, _pkttype, _linktype, data, wirelen = frame
            where = "%s frame %d" % (name, number)
            self.assertIsInstance(data, bytes)
            self.assertEqual(wirelen, int(row["frame.len"]), where)
            self.assertEqual(len(data), int(row["frame.cap_len"]), where)
            if raw is None:
                self.assertTrue(_same_time(ts, row["frame.time_epoch"]),
                                "%s: %r vs %s" % (where, ts, row["frame.time_epoch"]))
            if fmt == "pcapng":
                self.assertEqual(ifindex, int(row["frame.interface_id"]), where)
            else:
                self.assertEqual(ifindex, 0, where)


# --- external tools -------------------------------------------------------------------

def _ns_from_text(text):
    sec, _, frac = text.partition(".")
    return int(sec) * _NS + int((frac + "000000000")[:9])


class ExternalToolTest(_TempDirCase):
    """tshark and tcpdump read what the writers write."""

    def tool(self, name):
        path = shutil.which(name)
        if path is None:
            if os.environ.get("CI") == "true":
                self.fail("%s is not installed: CI must install it to check the writers"
                          % name)
            self.skipTest("%s is not installed" % name)
        return path

    def written(self):
        """(path, format, frames as read back) for a pcap, a ns pcap and a pcapng."""
        frames = sample_frames()
        result = []
        for name, nano in (("us.pcap", False), ("ns.pcap", True)):
            path = os.path.join(self.tmp, name)
            with PcapWriter(path, 1, nanosecond=nano) as writer:
                for frame in frames:
                    writer.write(frame)
            result.append((path, "pcap", corpus.read_frames(path)[0]))
        path = os.path.join(self.tmp, "ng.pcapng")
        with PcapngWriter(path) as writer:
            writer.add_interface(1, name="eth0")
            writer.add_interface(101, tsresol_ns=False)
            writer.add_interface(113)
            for frame in frames:
                writer.write(frame)
        result.append((path, "pcapng", corpus.read_frames(path)[0]))
        return result

    def run_tool(self, argv):
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=300)
        self.assertEqual(proc.returncode, 0, "%s: %s" % (" ".join(argv), proc.stderr))
        return proc.stdout

    def test_tshark_reads_written_files(self):
        tshark = self.tool("tshark")
        for path, fmt, frames in self.written():
            with self.subTest(file=os.path.basename(path)):
                self.assertEqual(len(frames), len(sample_frames()))
                out = self.run_tool([tshark, "-n", "-r", path, "-T", "fields",
                                     "-e", "frame.len", "-e", "frame.cap_len",
                                     "-e", "frame.time_epoch", "-e", "frame.interface_id"])
                rows = [line.split("\t") for line in out.splitlines()]
                self.assertEqual(len(rows), len(frames))
                for frame, row in zip(frames, rows):
                    self.assertEqual(int(row[0]), frame[5])
                    self.assertEqual(int(row[1]), len(frame[4]))
                    self.assertEqual(_ns_from_text(row[2]), frame[0])
                    if fmt == "pcapng":
                        self.assertEqual(row[3], str(frame[1]))
                    else:
                        self.assertIn(row[3], ("", "0"))

    def test_tcpdump_reads_written_files(self):
        tcpdump = self.tool("tcpdump")
        # tcpdump prints "[Invalid header: caplen==0, len==0]" instead of a packet line for
        # an empty record, which pcap allows: leave it out here.
        frames = [frame for frame in sample_frames() if frame[4]]
        paths = []
        for name, nano in (("us.pcap", False), ("ns.pcap", True)):
            paths.append(os.path.join(self.tmp, name))
            with PcapWriter(paths[-1], 1, nanosecond=nano) as writer:
                for frame in frames:
                    writer.write(frame)
        # libpcap reads a pcapng only when all its interfaces have one link type.
        paths.append(os.path.join(self.tmp, "single.pcapng"))
        with PcapngWriter(paths[-1]) as writer:
            writer.add_interface(1)
            writer.add_interface(1, tsresol_ns=False)
            for frame in frames:
                writer.write(frame, frame[1] % 2)
        stamp = re.compile(r"^(\d+)\.(\d{6}) ")
        for path in paths:
            with self.subTest(file=os.path.basename(path)):
                out = self.run_tool([tcpdump, "-r", path, "-nn", "-tt"])
                stamps = [stamp.match(line) for line in out.splitlines()]
                stamps = [int(m.group(1)) * 10 ** 6 + int(m.group(2)) for m in stamps if m]
                self.assertEqual(stamps, [frame[0] // 1000 for frame in frames])


if __name__ == "__main__":
    unittest.main()
