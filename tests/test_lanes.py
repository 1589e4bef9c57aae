"""Every facility's fast lane agrees with the decoder's path on every frame.

A lane (``feed(frames)``) reads the common shapes in place and hands the rest to the
decoder; the record path (``add(decode(frame))``) decodes everything.  Both must leave
the facility in the same state: the same snapshot, on every readable file of the corpus,
on every decoder fixture, and on mutated frames from the fuzz run's seeds (bad
checksums, cut headers, wrong lengths, odd ethertypes), with directions, interfaces and
ticks mixed in.  The Monitor takes the record path when one of its sinks has no lane,
which ``_RecordsOnly`` is.
"""
import os
import random
import sys
import unittest

_TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_TESTS))
sys.path.insert(0, _TESTS)

import corpus  # noqa: E402
from netdecode.accounting import counters  # noqa: E402
from netdecode.accounting.flows import TrafficMonitor  # noqa: E402
from netdecode.accounting.tables import Options  # noqa: E402
from netdecode.capture.pcap import CaptureError  # noqa: E402
from netdecode.decoding import shapes  # noqa: E402
from netdecode.decoding.decode import decode  # noqa: E402
from netdecode.decoding.packet import ERROR, ETHERTYPE, PROTO, SPORT, TUNNEL  # noqa: E402
from netdecode.run.monitor import Monitor  # noqa: E402
from test_fuzz import mutate, seed_frames, wire_length  # noqa: E402

T0 = 1700000000 * 10**9
MUTATED = int(os.environ.get("IPTRAF_LANE_FRAMES", "30000"))


class _RecordsOnly:
    """A sink without a lane: the monitor then decodes every frame for every sink."""

    def add(self, record):
        pass

    def tick(self, now):
        pass

    def snapshot(self):
        return {}


def _facilities():
    """A fresh instance of every facility, as the command line builds them (small
    tables, so that eviction is exercised too)."""
    options = Options(max_entries=64, log_lines=50, interface_name=lambda i: "if%d" % i)
    return [TrafficMonitor(options), counters.GeneralStats(options),
            counters.DetailedStats(options), counters.DetailedStats(options, 1),
            counters.ServiceStats(options), counters.ServiceStats(options, 1),
            counters.SizeStats(options), counters.SizeStats(options, 0, 1400, 0),
            counters.LanStats(options), counters.LanStats(options, 1)]


def _snapshots(frames, lanes):
    out = []
    for sink in _facilities():
        monitor = Monitor([sink] if lanes else [sink, _RecordsOnly()], interval=0.5)
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

    def test_mutated_frames_with_directions_interfaces_and_ticks(self):
        rng = random.Random(20261204)
        seeds = [s for s in seed_frames() if s[1] == 1] or seed_frames()
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
    """What ``shapes.ethernet`` vouches for is what the decoder finds."""

    def test_shapes_agree_with_the_record(self):
        rng = random.Random(7)
        seeds = [s for s in seed_frames() if s[1] == 1]
        seen = set()
        for i in range(20000):
            _, _, data, wirelen, hdr_end = seeds[i % len(seeds)]
            if i >= len(seeds):
                data = mutate(rng, data, hdr_end)
                wirelen = wire_length(rng, data, wirelen)
            shape = shapes.ethernet(data, wirelen)
            if shape is None:
                continue
            seen.add(shape)
            r = decode(0, 0, 0, 1, data, wirelen)
            family, proto = shape
            self.assertIsNone(r[TUNNEL])
            if family == 0:
                self.assertEqual(r[ETHERTYPE], proto)
                self.assertIsNone(r[PROTO])
                continue
            self.assertEqual(r[ETHERTYPE], 0x0800 if family == 4 else 0x86DD)
            self.assertEqual(r[PROTO], proto)
            error = r[ERROR] or ""
            self.assertFalse(error.startswith(("IPv4", "IPv6")), error)
            if proto in (6, 17):
                self.assertIsNone(r[ERROR])
                self.assertIsNotNone(r[SPORT])
        self.assertTrue({(4, 6), (4, 17), (6, 6), (6, 17), (4, 1)} <= seen, seen)


if __name__ == "__main__":
    unittest.main()
