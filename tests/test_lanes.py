"""Every facility's fast lane agrees with the decoder's path on every frame.

A lane (``feed(frames)``) reads the common shapes in place and hands the rest to the
decoder; the record path (``add(decode(frame))``) decodes everything.  Both must leave
the facility in the same state: the same snapshot, on every readable file of the corpus,
on every decoder fixture, and on mutated frames from the fuzz run's seeds (bad
checksums, cut headers, wrong lengths, odd ethertypes), with directions, interfaces and
ticks mixed in.  The Monitor takes the record path when one of its sinks has no lane,
which ``sinks.RecordsOnly`` is.
"""
import os
import random
import sys
import unittest

_TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_TESTS))
sys.path.insert(0, _TESTS)

import builders as b  # noqa: E402
import corpus  # noqa: E402
from netdecode.accounting import counters  # noqa: E402
from netdecode.accounting.flows import TrafficMonitor  # noqa: E402
from netdecode.accounting.processes import ProcessMonitor  # noqa: E402
from netdecode.accounting.tables import Options  # noqa: E402
from netdecode.capture.pcap import CaptureError  # noqa: E402
from netdecode.decoding import shapes  # noqa: E402
from netdecode.decoding.decode import decode  # noqa: E402
from netdecode.decoding.packet import (  # noqa: E402
    ERROR, ETHERTYPE, IP_HDR, PROTO, SPORT, TUNNEL,
)
from netdecode.run.monitor import Monitor  # noqa: E402
from sinks import RecordsOnly  # noqa: E402
from test_fuzz import mutate, seed_frames, wire_length  # noqa: E402

T0 = 1700000000 * 10**9
MUTATED = int(os.environ.get("IPTRAF_LANE_FRAMES", "30000"))


def _facilities():
    """A fresh instance of every facility, as the command line builds them (small
    tables, so that eviction is exercised too)."""
    options = Options(max_entries=64, log_lines=50, interface_name=lambda i: "if%d" % i)
    return [TrafficMonitor(options), counters.GeneralStats(options),
            counters.DetailedStats(options), counters.DetailedStats(options, 1),
            counters.ServiceStats(options), counters.ServiceStats(options, 1),
            counters.SizeStats(options), counters.SizeStats(options, 0, 1400, 0),
            counters.LanStats(options), counters.LanStats(options, 1),
            ProcessMonitor(options)]


def _snapshots(frames, lanes):
    out = []
    for sink in _facilities():
        monitor = Monitor([sink] if lanes else [sink, RecordsOnly()], interval=0.5)
        monitor.feed(frames)
        monitor.finish()
        out.append((type(sink).__name__, monitor.snapshot("x", sink, monitor.last_ts)))
    return out


class LaneTest(unittest.TestCase):

    def assertSameState(self, frames, what):
        by_lane, by_record = _snapshots(frames, True), _snapshots(frames, False)
        for (name, lane), (_, record) in zip(by_lane, by_record):
            if lane != record:
                diff = sorted(k for k in set(lane) | set(record) if lane.get(k) != record.get(k))
                self.fail("%s: %s differs between the lane and the decoder in %s"
                          % (what, name, ", ".join(diff)))

    @unittest.skipUnless(corpus.available(), "the shared corpus is not there")
    def test_every_corpus_file(self):
        for name in corpus.captures():
            frames, _ = corpus.read_frames(os.path.join(corpus.CORPUS, name))
            with self.subTest(name):
                self.assertSameState(frames, name)

    def test_every_encapsulation_capture(self):
        # tests/data/encap: tunnels on UDP ports the lanes must leave to the decoder
        folder = os.path.join(_TESTS, "data", "encap")
        for name in sorted(n for n in os.listdir(folder) if n.endswith(".pcap")):
            frames, exc = corpus.read_frames(os.path.join(folder, name))
            self.assertIsNone(exc)
            with self.subTest(name):
                self.assertSameState(frames, name)

    def test_mutated_frames_with_directions_interfaces_and_ticks(self):
        rng = random.Random(20261204)
        seeds = seed_frames()                   # every link type the decoder knows
        frames = []
        ts = T0
        for _ in range(MUTATED):
            name, linktype, data, wirelen, hdr_end = seeds[rng.randrange(len(seeds))]
            if rng.random() < 0.7:
                data = mutate(rng, data, hdr_end)
                wirelen = wire_length(rng, data, wirelen)
            ts += rng.choice((0, 1000, 10**6, 10**8))
            frames.append((ts if rng.random() > 0.01 else None, rng.choice((0, 1, 2)),
                           rng.choice((0, 1, 2, 3, 4, None)), linktype, data, wirelen))
        for start in range(0, len(frames), 5000):
            self.assertSameState(frames[start:start + 5000], "mutated frames %d+" % start)

    def test_group_destinations_under_raw_ip_and_tags(self):
        """Broadcast and multicast by MAC, packet type and IP destination, on every link
        type a lane reads: each way of being a group destination, and its near misses."""
        packets = []
        # each pair its own size, so that a group taken from the wrong address shows
        for n, (src, dst) in enumerate((
                ("10.0.0.1", "255.255.255.255"), ("255.255.255.255", "10.0.0.1"),
                ("10.0.0.1", "224.0.0.251"), ("224.0.0.251", "10.0.0.1"),
                ("10.0.0.1", "10.0.0.2"))):
            pad = bytes(n * 7)
            for payload, proto in ((b.udp(pad, sport=5353, dport=5353), 17),
                                   (b.tcp(pad, flags="A"), 6), (b.icmp(pad, type=8), 1)):
                packets.append((b.ip4(payload, src=src, dst=dst, proto=proto), 0x0800))
        for n, (src, dst) in enumerate((("fe80::2", "ff02::fb"), ("ff02::fb", "fe80::2"),
                                        ("fe80::2", "fe80::1"))):
            packets.append((b.ip6(b.udp(bytes(n * 5), sport=5353, dport=5353), src=src,
                                  dst=dst, nxt=17), 0x86DD))
        frames = []
        ts = T0
        for ip, ethertype in packets:
            for linktype, data in self._framed(ip, ethertype):
                for pkttype in (None, 0, 1, 2, 4):
                    ts += 10**6
                    frames.append((ts, 0, pkttype, linktype, data, len(data)))
        self.assertSameState(frames, "group destinations")

    @staticmethod
    def _framed(ip, ethertype):
        """The IP packet under every link a lane reads: raw, Linux cooked in each
        direction, Ethernet to a unicast, broadcast and multicast MAC, and under an
        802.1Q tag."""
        out = [(101, ip), (228 if ethertype == 0x0800 else 229, ip)]
        for pkttype in (0, 1, 2, 4):        # the cooked header's own direction
            out.append((113, b.sll(ip, pkttype=pkttype, addr="02:00:00:00:00:02",
                                   proto=ethertype)))
            out.append((276, b.sll2(ip, pkttype=pkttype, addr="02:00:00:00:00:02",
                                    proto=ethertype)))
        for mac in ("02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:fb"):
            out.append((1, b.eth(ip, dst=mac, type=ethertype)))
            out.append((1, b.eth(b.vlan(ip, vid=7, type=ethertype), dst=mac, type=0x8100)))
        return out

    def test_a_file_that_fails_midway_keeps_what_came_before(self):
        good = [(T0 + i, 0, 0, 1, data, len(data)) for i, data in
                enumerate(s[2] for s in seed_frames() if s[1] == 1)]
        many = (good * (10000 // len(good) + 1))[:10000]

        def cut():
            for frame in many:
                yield frame
            raise CaptureError("cut short")
        sink = counters.SizeStats(Options())
        monitor = Monitor([sink])
        with self.assertRaises(CaptureError):
            monitor.feed(cut())
        self.assertEqual(monitor.packets, 10000)
        self.assertEqual(sink.snapshot()["packets"], 10000)


class ShapeTest(unittest.TestCase):
    """What ``shapes.frame`` vouches for is what the decoder finds."""

    def test_shapes_agree_with_the_record(self):
        rng = random.Random(7)
        seeds = seed_frames()
        seen = set()
        for i in range(40000):
            _, linktype, data, wirelen, hdr_end = seeds[i % len(seeds)]
            if i >= len(seeds):
                data = mutate(rng, data, hdr_end)
                wirelen = wire_length(rng, data, wirelen)
            shape = shapes.frame(linktype, data, wirelen)
            if shape is None:
                continue
            family, proto, off = shape
            seen.add((linktype, off, family, proto))
            r = decode(0, 0, 0, linktype, data, wirelen)
            what = "linktype %d frame %s: %r" % (linktype, data.hex(), shape)
            self.assertIsNone(r[TUNNEL], what)
            if family == 0:
                self.assertEqual(r[ETHERTYPE], proto, what)
                self.assertIsNone(r[PROTO], what)
                continue
            self.assertEqual(r[ETHERTYPE], 0x0800 if family == 4 else 0x86DD, what)
            self.assertEqual(r[PROTO], proto, what)
            if family == 4:
                self.assertEqual(r[IP_HDR], off, what)
            error = r[ERROR] or ""
            self.assertFalse(error.startswith(("IPv4", "IPv6")), what + ": " + error)
            if proto in (6, 17):
                self.assertIsNotNone(r[SPORT], what)
        for expected in ((1, 14, 4, 6), (1, 14, 4, 17), (1, 14, 6, 6), (1, 14, 6, 17),
                         (1, 14, 4, 1), (1, 18, 4, 6), (101, 0, 4, 6), (113, 16, 4, 6),
                         (276, 20, 4, 6)):
            self.assertIn(expected, seen)


if __name__ == "__main__":
    unittest.main()
