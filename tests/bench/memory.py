#!/usr/bin/env python3
"""Peak memory of the IP traffic monitor under a SYN flood from random sources, and
under a full port scan beside many scanning sources.

    python3 tests/bench/memory.py                   # 1,000,000 SYNs
    python3 tests/bench/memory.py --syns 200000
    python3 tests/bench/memory.py --scan            # 65,535 ports, and 10,000 sources

Builds (once, cached in the temp directory) a capture of SYNs from random addresses and
ports to one server, then runs the real program on it, ``iptraf.py -r FLOOD -i all
--json`` (its table capped at 100,000 connections, the rest evicted and counted), and
reports the child's peak resident memory (getrusage's ru_maxrss), how many connections
the final snapshot held and how many were evicted, the alerts raised and what the
detector's full tables turned away, and the time it took.  ``--scan``: one source over
every port of a host and 10,000 sources over 10 ports each, 20,000 SYNs a second.
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(HERE))

import builders  # noqa: E402
from netdecode.capture.pcap import PcapWriter  # noqa: E402


def flood_capture(syns):
    path = os.path.join(tempfile.gettempdir(), "iptraf-flood-%d.pcap" % syns)
    if os.path.exists(path):
        return path
    rng = random.Random(syns)
    template = builders.eth(builders.ip4(builders.tcp(sport=1, dport=80, flags="S"),
                                         src="10.0.0.1", dst="10.0.0.2"))
    part = "%s.%d.part" % (path, os.getpid())
    ts = 1764000000 * 10**9
    with PcapWriter(part, 1, nanosecond=True) as w:
        for i in range(syns):
            data = (template[:26] + rng.getrandbits(32).to_bytes(4, "big") + template[30:34]
                    + rng.getrandbits(16).to_bytes(2, "big") + template[36:])
            w.write((ts + i * 1000, 0, None, 1, data, len(data)))
    os.rename(part, path)
    return path


def scan_capture():
    path = os.path.join(tempfile.gettempdir(), "iptraf-scan-65535-10000.pcap")
    if os.path.exists(path):
        return path
    part = "%s.%d.part" % (path, os.getpid())
    ts = 1764000000 * 10**9
    with PcapWriter(part, 1, nanosecond=True) as w:
        n = 0
        attempts = [("10.0.0.66", "10.0.0.2", port) for port in range(1, 65536)]
        attempts += [("10.%d.%d.%d" % (1 + i // 65536, i // 256 % 256, i % 256), "10.0.0.3",
                      port) for port in range(1, 11) for i in range(10000)]
        for src, dst, port in attempts:
            data = builders.eth(builders.ip4(builders.tcp(sport=40000, dport=port, flags="S"),
                                             src=src, dst=dst))
            w.write((ts + n * 50000, 0, None, 1, data, len(data)))
            n += 1
    os.rename(part, path)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--syns", type=int, default=1000000)
    ap.add_argument("--scan", action="store_true")
    args = ap.parse_args()
    path = scan_capture() if args.scan else flood_capture(args.syns)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, os.path.join(ROOT, "iptraf.py"), "-r", path, "-i",
                          "all", "--json"], stdout=subprocess.PIPE, check=True)
    took = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    snap = json.loads(out.stdout.decode().splitlines()[-1])
    kinds = {}
    for alert in snap["alerts"]:
        kinds[alert["kind"]] = kinds.get(alert["kind"], 0) + 1
    print("python %s, %s: peak RSS %.1f MB, %d connections kept, %d evicted, "
          "%.1f s, %d bytes of JSON; alerts %s, detector overflow %s" % (
              sys.version.split()[0], "scan" if args.scan else "%d SYNs" % args.syns,
              peak_kb / 1024.0, len(snap["tcp"]), snap["evicted"]["tcp"], took,
              len(out.stdout), kinds, snap["alerts_overflow"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
