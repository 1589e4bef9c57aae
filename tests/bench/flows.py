#!/usr/bin/env python3
"""The IP traffic monitor's cost per frame, by path, in the loop it runs in.

    python3 tests/bench/flows.py                  # 200,000 frames
    python3 tests/bench/flows.py --frames 1000000 --repeat 5

On tests/bench/decode.py's capture, through Monitor.feed as tests/bench/facilities.py
runs it (frames read and decoded on the way: records timed apart from that stream sit
in the cache and come out three times cheaper), best of --repeat interleaved runs:

* no-op sink:   a sink that only tells TCP records from the rest (the floor)
* TCP only:     TrafficMonitor.add on the TCP records (the connection table)
* other only:   on the rest (the other-traffic log and its flows)
* all:          every record
* all+snapshot: every record and one snapshot(), what facilities.py times
* snapshot:     snapshot() alone, of the monitor that saw every record

Each in µs per frame of the whole capture and above the floor, and per record of its
kind above the floor.  ``--base DIR`` also times the TrafficMonitor of another tree
(``git worktree add /tmp/base HEAD~1``) in the same runs.
"""
import argparse
import importlib.util
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from decode import bench_capture  # noqa: E402
from netdecode.accounting import flows  # noqa: E402
from netdecode.accounting.tables import Options  # noqa: E402
from netdecode.run.monitor import Monitor  # noqa: E402
from netdecode.decoding.packet import PROTO, TCP_FLAGS, TUNNEL  # noqa: E402
from netdecode.capture.pcap import open_capture  # noqa: E402


def _is_tcp(r):
    return r[TCP_FLAGS] is not None and r[PROTO] == 6 and r[TUNNEL] is None


def _only(monitor_class, want_tcp):
    class Only(monitor_class):
        def add(self, r, _add=monitor_class.add):
            if _is_tcp(r) == want_tcp:
                _add(self, r)

        def snapshot(self):
            return {}
    return Only


class _Floor:
    def __init__(self, options):
        pass

    def add(self, r):
        if _is_tcp(r) == True:      # noqa: E712 (the same work as _only's test)
            pass

    def tick(self, now):
        pass

    def snapshot(self):
        return {}


def _run(path, make):
    options = Options()
    monitor = Monitor([make(options)], options.interval)
    with open_capture(path) as reader:
        monitor.feed(reader.frames())
    monitor.finish()
    monitor.sinks[0].snapshot()
    return monitor.packets


def _count(path):
    tcp = total = 0
    monitor = Monitor([])
    from netdecode.decoding.decode import decode
    with open_capture(path) as reader:
        for frame in reader.frames():
            total += 1
            tcp += _is_tcp(decode(*frame))
    del monitor
    return tcp, total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=200000)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--base",
                    help="another tree whose netdecode/accounting/flows.py to time too")
    args = ap.parse_args()
    path = bench_capture(args.frames)
    classes = [("", flows.TrafficMonitor)]
    if args.base:
        spec = importlib.util.spec_from_file_location(
            "netdecode.accounting.flows_base",
            os.path.join(args.base, "netdecode", "accounting", "flows.py"))
        base = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(base)
        classes.append(("base ", base.TrafficMonitor))
    runs = [("no-op sink", _Floor, None)]
    for prefix, cls in classes:
        runs += [(prefix + "TCP only", _only(cls, True), True),
                 (prefix + "other only", _only(cls, False), False),
                 (prefix + "all", type("All", (cls,), {"snapshot": lambda self: {}}), None),
                 (prefix + "all+snapshot", cls, None)]
    best = {}
    for _ in range(args.repeat):
        for name, make, _ in runs:
            t = time.perf_counter()
            n = _run(path, make)
            dt = (time.perf_counter() - t) / n
            best[name] = min(best.get(name, dt), dt)
    for prefix, cls in classes:
        options = Options()
        full = cls(options)
        monitor = Monitor([full], options.interval)
        with open_capture(path) as reader:
            monitor.feed(reader.frames())
        monitor.finish()
        for _ in range(args.repeat):
            t = time.perf_counter()
            full.snapshot()
            dt = time.perf_counter() - t
            best[prefix + "snapshot"] = min(best.get(prefix + "snapshot", dt), dt)
    tcp, total = _count(path)
    print("python %s, %s (%d frames, %d TCP)" % (sys.version.split()[0], path, total, tcp))
    floor = best["no-op sink"]
    for name, _, kind in runs:
        per = best[name]
        line = "%-18s %6.3f µs/frame  +%.3f" % (name, per * 1e6, (per - floor) * 1e6)
        if kind is not None:
            line += "  (+%.3f per %s record)" % ((per - floor) * 1e6 * total / (
                tcp if kind else total - tcp), "TCP" if kind else "other")
        print(line)
    for prefix, _ in classes:
        print("%-18s %6.1f ms (%.3f µs/frame)" % (prefix + "snapshot", best[prefix + "snapshot"] * 1e3,
                                                 best[prefix + "snapshot"] * 1e6 / total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
