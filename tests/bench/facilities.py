#!/usr/bin/env python3
"""Facility throughput: frames/s of the monitor loop with each facility, and all at once.

    python3 tests/bench/facilities.py                # 1,000,000 frames
    python3 tests/bench/facilities.py --frames 200000

On the capture tests/bench/decode.py builds, in one run: the minimal parser (a
hand-written struct parser with a flow dict: the baseline every ratio is taken to),
reading alone, read+decode, then the Monitor loop (what ``iptraf.py -r FILE --json``
runs) with each facility as its one sink, through its fast lane and, for comparison,
through the decoder (``record path``: what a sink without a lane makes the monitor
do), then all six together, and the traffic monitor with flow export (IPFIX to a local
socket) and the metrics sink and server (scraped once at the end) beside it: what
``-i --export ... --metrics ...`` adds; and the traffic monitor with its attack
detector idle (every call a no-op): what detection costs.
"""
import argparse
import os
import socket
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from decode import bench_capture, run_decode, run_minimal, run_read  # noqa: E402
from netdecode.accounting import counters  # noqa: E402
from netdecode.accounting.flows import TrafficMonitor  # noqa: E402
from netdecode.accounting.tables import Options  # noqa: E402
from netdecode.run.monitor import Monitor  # noqa: E402
from netdecode.capture.pcap import open_capture  # noqa: E402
from netdecode.output.export import FlowExport, parse_target  # noqa: E402
from netdecode.output.metrics import Metrics, MetricsServer  # noqa: E402
from sinks import RecordsOnly  # noqa: E402

FACILITIES = [
    ("-i traffic monitor", lambda o: TrafficMonitor(o)),
    ("-g general", lambda o: counters.GeneralStats(o)),
    ("-d detailed", lambda o: counters.DetailedStats(o)),
    ("-s services", lambda o: counters.ServiceStats(o)),
    ("-z sizes", lambda o: counters.SizeStats(o)),
    ("-l LAN stations", lambda o: counters.LanStats(o)),
]


def run_monitor(path, makers, lanes=True):
    options = Options()
    sinks = [make(options) for make in makers] + ([] if lanes else [RecordsOnly()])
    monitor = Monitor(sinks, options.interval)
    with open_capture(path) as reader:
        monitor.feed(reader.frames())
    monitor.finish()
    for sink in monitor.sinks:
        sink.snapshot()
    return monitor.packets


class _IdleDetector:
    """The detector's calls, doing nothing: -i without detection, for its cost."""

    alerts, overflow, raised = {}, {}, {}

    def attempt(self, key, ts, from_lo):
        pass

    def echo(self, ts, src, dst):
        pass

    def arp(self, ts, ip, mac):
        pass

    def tick(self, now, final=False):
        pass


def undetected(options):
    traffic = TrafficMonitor(options)
    traffic.detector = _IdleDetector()
    return traffic


def run_exporting(path):
    """-i with --export ipfix://127.0.0.1:PORT (a socket that never reads: the kernel
    drops what overflows, as a slow collector would) and --metrics."""
    collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    collector.bind(("127.0.0.1", 0))
    options = Options()
    traffic = TrafficMonitor(options)
    export = FlowExport(traffic, [parse_target("ipfix://127.0.0.1:%d"
                                               % collector.getsockname()[1])])
    monitor = Monitor([traffic, export], options.interval)
    metrics = Metrics(monitor, "traffic", traffic, options.interface_name, export)
    monitor.sinks.append(metrics)
    server = MetricsServer(metrics, "127.0.0.1", 0)
    try:
        with open_capture(path) as reader:
            monitor.feed(reader.frames())
        monitor.finish()
        export.close(monitor.last_ts)
        traffic.snapshot()
        urllib.request.urlopen("http://127.0.0.1:%d/metrics" % server.address[1]).read()
    finally:
        server.close()
        collector.close()
    return monitor.packets


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=1000000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--records", action="store_true",
                    help="also time each facility through the decoder, without its lane")
    args = ap.parse_args()
    path = bench_capture(args.frames)
    runs = [("minimal parser", lambda: run_minimal(path)), ("read", lambda: run_read(path)),
            ("read+decode", lambda: run_decode(path))]
    for name, make in FACILITIES:
        runs.append((name, lambda make=make: run_monitor(path, [make])))
        if args.records:
            runs.append((name + " (record path)",
                         lambda make=make: run_monitor(path, [make], lanes=False)))
    runs.append(("all six together", lambda: run_monitor(path, [m for _, m in FACILITIES])))
    runs.append(("-i with --export and --metrics", lambda: run_exporting(path)))
    runs.append(("-i without its attack detector", lambda: run_monitor(path, [undetected])))
    print("python %s, %s (%d frames)" % (sys.version.split()[0], path, args.frames))
    # round robin, best of --repeat: a machine whose speed drifts (a shared VM) slows
    # every run alike instead of the ones that happen to fall in a slow spell
    best = {}
    for _ in range(args.repeat):
        for name, fn in runs:
            t = time.perf_counter()
            n = fn()
            dt = time.perf_counter() - t
            best[name] = min(best.get(name, dt), dt)
    base = n / best[runs[0][0]]
    for name, _ in runs:
        rate = n / best[name]
        print("%-34s %10.0f frames/s  %5.2fx the minimal parser" % (name, rate, rate / base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
