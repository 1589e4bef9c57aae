#!/usr/bin/env python3
"""Decoder throughput: frames per second reading a capture, and reading plus decoding.

    python3 tests/bench/decode.py                 # 1,000,000 frames
    python3 tests/bench/decode.py --frames 200000 --repeat 3

Builds (once, deterministically, cached in the temp directory) a realistic capture: TCP
bulk transfers with their ACKs, short TCP exchanges, DNS over UDP, IPv6 TCP and UDP,
VLAN-tagged frames, ARP and ICMP, in proportions typical of an office uplink.  Then,
in one run, it times:

* read:            netdecode.capture.pcap's reader alone
* read+decode:     the reader and netdecode.decoding.decode.decode (the fast path)
* read+reference:  the reader and decode_layers (the reference path, every layer)
* read+flows:      read+decode plus a dict of flows keyed by address and port pair
* minimal parser:  a hand-written struct parser with a flow dict, the floor to beat
* dpkt:            dpkt's Ethernet parse over the same file, when dpkt is installed

and prints frames/s for each, best of --repeat runs, with ratios to read+decode.
"""
import argparse
import os
import random
import struct
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.dirname(HERE))

import builders  # noqa: E402
from netdecode.decoding.decode import decode, decode_layers  # noqa: E402
from netdecode.decoding.packet import DPORT, IP6_DST, IP6_SRC, IP_DST, IP_SRC, PROTO, SPORT  # noqa: E402
from netdecode.capture.pcap import PcapWriter, open_capture  # noqa: E402

_SEED = 20261124


def _templates(rng):
    """A few thousand distinct frames: (weight, frame bytes) pairs."""
    out = []
    hosts = ["10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))
             for _ in range(200)]
    hosts6 = ["fd00::%x:%x" % (rng.randrange(65536), rng.randrange(65536)) for _ in range(60)]
    ts_opt = b"\x01\x01\x08\x0a" + bytes(8)
    for i in range(1500):
        a, b = rng.sample(hosts, 2)
        sport, dport = rng.randrange(1024, 65535), rng.choice((443, 80, 22, 993, 8080))
        data = builders.eth(builders.ip4(
            builders.tcp(bytes(rng.randrange(200, 1449)), sport=dport, dport=sport,
                         flags="PA", seq=i, ack=i, options=ts_opt), src=b, dst=a))
        ack = builders.eth(builders.ip4(
            builders.tcp(b"", sport=sport, dport=dport, flags="A", seq=i, ack=i,
                         options=ts_opt), src=a, dst=b))
        out.append((22, data))
        out.append((34, ack))
    for i in range(600):
        a, b = rng.sample(hosts, 2)
        q = builders.eth(builders.ip4(builders.udp(bytes(rng.randrange(20, 60)),
                         sport=rng.randrange(1024, 65535), dport=53), src=a, dst=b, proto=17))
        r = builders.eth(builders.ip4(builders.udp(bytes(rng.randrange(60, 400)), sport=53,
                         dport=rng.randrange(1024, 65535)), src=b, dst=a, proto=17))
        out.append((12, q))
        out.append((12, r))
    for i in range(300):
        a, b = rng.sample(hosts6, 2)
        t6 = builders.eth(builders.ip6(builders.tcp(bytes(rng.choice((0, 0, 512, 1200))),
                          sport=rng.randrange(1024, 65535), dport=443, flags="A"),
                          src=a, dst=b, nxt=6), type=0x86DD)
        u6 = builders.eth(builders.ip6(builders.udp(bytes(rng.randrange(30, 300)),
                          sport=rng.randrange(1024, 65535), dport=443), src=a, dst=b, nxt=17),
                          type=0x86DD)
        out.append((25, t6))
        out.append((12, u6))
    for i in range(200):
        a, b = rng.sample(hosts, 2)
        tagged = builders.eth(builders.vlan(builders.ip4(builders.tcp(
            b"", sport=rng.randrange(1024, 65535), dport=443, flags="A"), src=a, dst=b),
            vid=rng.randrange(1, 4095)), type=0x8100)
        out.append((8, tagged))
        out.append((4, builders.eth(builders.arp(spa=a, tpa=b), dst="ff:ff:ff:ff:ff:ff",
                                    type=0x0806, pad=True)))
        out.append((4, builders.eth(builders.ip4(builders.icmp(bytes(56)), src=a, dst=b,
                                                 proto=1))))
    return out


def build_capture(path, count):
    rng = random.Random(_SEED)
    templates = _templates(rng)
    frames = [t for w, t in templates for _ in range(w)]
    rng.shuffle(frames)
    ts = 1764000000 * 10**9
    with PcapWriter(path, 1, nanosecond=True) as w:
        for i in range(count):
            data = frames[i % len(frames)]
            ts += rng.randrange(1000, 3000)
            w.write((ts, 0, None, 1, data, len(data)))


def bench_capture(frames, path=None):
    """The benchmark capture of ``frames`` frames, built once (deterministically) and
    kept in the temp directory; ``path`` uses a given file instead."""
    if path is None:
        path = os.path.join(tempfile.gettempdir(), "iptraf-bench-%d-%d.pcap" % (_SEED, frames))
    if not os.path.exists(path):
        t = time.perf_counter()
        part = "%s.%d.part" % (path, os.getpid())     # CI runs interpreters side by side
        build_capture(part, frames)
        os.rename(part, path)
        print("built %s (%d frames, %.1f MB) in %.1f s" % (
            path, frames, os.path.getsize(path) / 1e6, time.perf_counter() - t))
    return path


def run_read(path):
    n = 0
    with open_capture(path) as r:
        for _ in r.frames():
            n += 1
    return n


def run_decode(path):
    n = 0
    with open_capture(path) as r:
        for frame in r.frames():
            decode(*frame)
            n += 1
    return n


def run_reference(path):
    n = 0
    with open_capture(path) as r:
        for frame in r.frames():
            decode_layers(*frame)
            n += 1
    return n


def run_flows(path):
    flows = {}
    n = 0
    get = flows.get
    with open_capture(path) as r:
        for frame in r.frames():
            p = decode(*frame)
            src = p[IP_SRC] or p[IP6_SRC]
            key = (src, p[IP_DST] or p[IP6_DST], p[PROTO], p[SPORT], p[DPORT])
            flows[key] = get(key, 0) + frame[5]
            n += 1
    return n


_REC = struct.Struct("<IIII")
_ETH_IP = struct.Struct("!12xHBBHHHBBH4s4s")
_PORTS = struct.Struct("!HH")


def run_minimal(path):
    """The floor: a hand-written parser of Ethernet/IPv4/ports and a flow dict."""
    flows = {}
    get = flows.get
    n = 0
    with open(path, "rb") as f:
        buf = f.read()
    off, end = 24, len(buf)
    unpack_rec, unpack_ip, unpack_ports = _REC.unpack_from, _ETH_IP.unpack_from, _PORTS.unpack_from
    while off < end:
        _, _, incl, orig = unpack_rec(buf, off)
        pos = off + 16
        off = pos + incl
        n += 1
        etype, vhl, _, _, _, _, _, proto, _, src, dst = unpack_ip(buf, pos)
        if etype == 0x0800:
            sport, dport = unpack_ports(buf, pos + 14 + (vhl & 15) * 4)
            key = (src, dst, proto, sport, dport)
            flows[key] = get(key, 0) + orig
    return n


def run_dpkt(path):
    import dpkt
    n = 0
    with open(path, "rb") as f:
        for _, buf in dpkt.pcap.Reader(f):
            dpkt.ethernet.Ethernet(buf)
            n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=1000000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--file", help="capture to use (default: build one in the temp dir)")
    args = ap.parse_args()
    path = bench_capture(args.frames, args.file)
    runs = [("read", run_read), ("read+decode", run_decode), ("read+reference", run_reference),
            ("read+decode+flows", run_flows), ("minimal parser+flows", run_minimal)]
    try:
        import dpkt  # noqa: F401
        runs.append(("dpkt", run_dpkt))
    except ImportError:
        print("dpkt not installed: its run is left out")
    print("python %s, %s" % (sys.version.split()[0], path))
    results = {}
    for name, fn in runs:
        best = None
        for _ in range(args.repeat):
            t = time.perf_counter()
            n = fn(path)
            dt = time.perf_counter() - t
            best = dt if best is None or dt < best else best
        results[name] = n / best
    base = results["read+decode"]
    for name, _ in runs:
        rate = results[name]
        print("%-22s %10.0f frames/s  %5.2fx read+decode" % (name, rate, rate / base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
