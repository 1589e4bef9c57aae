#!/usr/bin/env python3
"""Filter throughput: what a tcpdump filter costs next to decoding, on files.

    python3 tests/bench/filter.py                  # 1,000,000 frames
    python3 tests/bench/filter.py --frames 200000 --repeat 3 --expr 'tcp port 443'

Uses the capture of tests/bench/decode.py (its ``bench_capture``, same seed, same cached
file in the temp directory) and times, in one run:

* read:                       netdecode.capture.pcap's reader alone
* read+decode:                the reader and netdecode.decoding.decode.decode, every frame
* read+match:                 the reader and Filter.match (the generated Python function)
* read+match+decode (all):    match, then decode every frame (the monitor counts the
                              filtered ones too)
* read+match+decode (passed): match, then decode only the frames that pass
* reference interpreter:      Program.run_reference on the first --reference-frames
                              frames, for scale

and prints frames/s for each, best of --repeat runs, with ratios to read+decode.  The
target: read+match+decode runs at two thirds or more of read+decode, i.e. matching
costs at most a third of the decode throughput.
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)

from decode import bench_capture  # noqa: E402  (tests/bench/decode.py)
from netdecode.decoding.decode import decode  # noqa: E402
from netdecode.filter import Filter  # noqa: E402
from netdecode.capture.pcap import open_capture  # noqa: E402


def run_read(path, flt):
    n = 0
    with open_capture(path) as r:
        for _ in r.frames():
            n += 1
    return n, 0


def run_decode(path, flt):
    n = 0
    with open_capture(path) as r:
        for frame in r.frames():
            decode(*frame)
            n += 1
    return n, 0


def run_match(path, flt):
    n = passed = 0
    match = flt.match
    with open_capture(path) as r:
        for frame in r.frames():
            if match(frame):
                passed += 1
            n += 1
    return n, passed


def run_match_decode_all(path, flt):
    n = passed = 0
    match = flt.match
    with open_capture(path) as r:
        for frame in r.frames():
            if match(frame):
                passed += 1
            decode(*frame)
            n += 1
    return n, passed


def run_match_decode_passed(path, flt):
    n = passed = 0
    match = flt.match
    with open_capture(path) as r:
        for frame in r.frames():
            if match(frame):
                decode(*frame)
                passed += 1
            n += 1
    return n, passed


def run_reference(path, flt, limit):
    n = passed = 0
    with open_capture(path) as r:
        for frame in r.frames():
            run = flt.program(frame[3]).run_reference
            if run(frame[4], frame[5]):
                passed += 1
            n += 1
            if n >= limit:
                break
    return n, passed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=1000000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--expr", default="tcp port 443")
    ap.add_argument("--reference-frames", type=int, default=50000)
    ap.add_argument("--file", help="capture to use (default: build one in the temp dir)")
    args = ap.parse_args()
    path = bench_capture(args.frames, args.file)
    flt = Filter(args.expr)
    print("python %s, %s, filter %r" % (sys.version.split()[0], path, args.expr))
    runs = [("read", run_read), ("read+decode", run_decode), ("read+match", run_match),
            ("read+match+decode (all)", run_match_decode_all),
            ("read+match+decode (passed)", run_match_decode_passed),
            ("reference interpreter", lambda p, f: run_reference(p, f, args.reference_frames))]
    results = {}
    passed = {}
    for name, fn in runs:
        best = None
        for _ in range(args.repeat):
            t = time.perf_counter()
            n, passed[name] = fn(path, flt)
            dt = time.perf_counter() - t
            best = dt if best is None or dt < best else best
        results[name] = (n, n / best)
    base = results["read+decode"][1]
    for name, _ in runs:
        n, rate = results[name]
        extra = ""
        if name.startswith("read+match") or name.startswith("reference"):
            extra = "  (%d of %d passed)" % (passed[name], n)
        print("%-27s %10.0f frames/s  %5.2fx read+decode%s" % (name, rate, rate / base,
                                                              extra))
    read = results["read"][1]
    per_match = 1.0 / results["read+match"][1] - 1.0 / read
    per_decode = 1.0 / base - 1.0 / read
    print("match alone: %.2f us/frame; decode alone: %.2f us/frame; "
          "match costs %.0f%% of read+decode time" % (
              per_match * 1e6, per_decode * 1e6, 100.0 * per_match * base))
    ok = results["read+match+decode (all)"][1] >= base * 2.0 / 3.0
    print("target (read+match+decode >= 2/3 of read+decode): %s" % ("met" if ok else "MISSED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
