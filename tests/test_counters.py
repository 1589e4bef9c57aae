"""The statistics facilities (-g -d -s -z -l): exact counts of hand-built traffic, rates and
peaks over ticks, eviction at a cap, agreement with Wireshark over the shared corpus, and
with an independent count over the benchmark's generated capture.

The generated capture has IPTRAF_BIG_FRAMES frames (default 200,000 to keep the suite
fast; the benchmark's 1,000,000 takes about five times as long).
"""
import collections
import importlib.util
import os
import random
import shutil
import struct
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import builders as b  # noqa: E402
from netdecode.accounting.counters import (  # noqa: E402
    DetailedStats, GeneralStats, LanStats, ServiceStats, SizeStats,
)
from netdecode.decoding.decode import decode  # noqa: E402
import corpus  # noqa: E402
from netdecode.decoding.ip import ipv4_checksum_ok  # noqa: E402
from netdecode.accounting.tables import Options  # noqa: E402
from netdecode.run.monitor import Monitor  # noqa: E402
from netdecode.decoding.packet import ETHERTYPE  # noqa: E402
from netdecode.capture.pcap import open_capture  # noqa: E402

SEC = 10**9
T0 = 1764000000 * SEC
MS = SEC // 1000
BCAST = "ff:ff:ff:ff:ff:ff"


def options(**kw):
    return Options(interface_name=lambda i: "eth%d" % i, **kw)


def fr(data, ts, pkttype=None, linktype=1, ifindex=0, wirelen=None):
    """A source frame: (ts, ifindex, pkttype, linktype, data, wirelen)."""
    return (ts, ifindex, pkttype, linktype, data, len(data) if wirelen is None else wirelen)


def feed(sinks, frames, interval=1.0, finish=True):
    """Frames through a Monitor into the sinks, as the program does."""
    mon = Monitor(sinks, interval=interval)
    mon.feed(frames)
    if finish:
        mon.finish()
    return mon


def sized(n, dst="02:00:00:00:00:02", src="02:00:00:00:00:01"):
    """A non-IP Ethernet frame (local experimental ethertype) of exactly n bytes."""
    return b.eth(bytes(n - 14), src=src, dst=dst, type=0x88B5)


def pair(packets, nbytes):
    return {"packets": packets, "bytes": nbytes}


def secs(ns):
    return round(ns / 1e9, 6)


A4, B4 = "10.0.0.1", "10.0.0.2"
A6, B6 = "fd00::1", "fd00::2"


def tcp4(data=b"", sport=40000, dport=80, **eth):
    return b.eth(b.ip4(b.tcp(data, sport=sport, dport=dport, flags="PA", src=A4, dst=B4),
                       src=A4, dst=B4), **eth)


def udp4(data=b"", sport=40000, dport=53, dst=B4, **eth):
    return b.eth(b.ip4(b.udp(data, sport=sport, dport=dport, src=A4, dst=dst),
                       src=A4, dst=dst, proto=17), **eth)


def tcp6(data=b"", sport=40000, dport=443):
    return b.eth(b.ip6(b.tcp(data, sport=sport, dport=dport, flags="A", src=A6, dst=B6),
                       src=A6, dst=B6, nxt=6), type=0x86DD)


def udp6(data=b"", sport=40000, dport=53):
    return b.eth(b.ip6(b.udp(data, sport=sport, dport=dport, src=A6, dst=B6),
                       src=A6, dst=B6, nxt=17), type=0x86DD)


# --- general interface statistics ------------------------------------------------------

class GeneralStatsTest(unittest.TestCase):

    def test_counts_per_interface(self):
        good4 = tcp4(b"x" * 10)
        good6 = udp6(b"y" * 5)
        arp = b.eth(b.arp(), dst=BCAST, type=0x0806, pad=True)
        bad_sum = b.eth(b.ip4(b.udp(b"z"), proto=17, checksum=0x1234))
        bad_v6 = b.eth(b.ip6(b"\0" * 8, version=5), type=0x86DD)
        snapped = good4[:20]          # the snap length cut the IPv4 header: not a bad packet
        icmp = b.eth(b.ip4(b.icmp(b"ping"), proto=1))
        frames = [fr(good4, T0), fr(good6, T0 + 80 * MS), fr(arp, T0 + 160 * MS),
                  fr(bad_sum, T0 + 240 * MS), fr(bad_v6, T0 + 320 * MS),
                  fr(snapped, T0 + 400 * MS, wirelen=len(good4)),
                  fr(icmp, T0 + 500 * MS, ifindex=2)]
        g = GeneralStats(options())
        feed([g], frames)
        v4 = len(good4) + len(bad_sum) + len(good4)
        v6 = len(good6) + len(bad_v6)
        total = v4 + v6 + len(arp)
        # one tick, at the last packet: 0.5 s after the first, so bits/s = bytes * 16
        self.assertEqual(g.snapshot(), {"evicted": 0, "interfaces": [
            {"iface": "eth0", "ifindex": 0, "total": pair(6, total), "ipv4": pair(3, v4),
             "ipv6": pair(2, v6), "nonip": pair(1, len(arp)),
             "badip": pair(2, len(bad_sum) + len(bad_v6)),
             "rate": {"bps": total * 16.0, "pps": 12.0},
             "peak": {"bps": total * 16.0, "pps": 12.0}, "last": secs(T0 + 400 * MS)},
            {"iface": "eth2", "ifindex": 2, "total": pair(1, len(icmp)),
             "ipv4": pair(1, len(icmp)), "ipv6": pair(0, 0), "nonip": pair(0, 0),
             "badip": pair(0, 0), "rate": {"bps": len(icmp) * 16.0, "pps": 2.0},
             "peak": {"bps": len(icmp) * 16.0, "pps": 2.0}, "last": secs(T0 + 500 * MS)}]})

    def test_rates_over_ticks_and_peaks(self):
        g = GeneralStats(options())
        mon = Monitor([g], interval=1.0)
        mon.feed([fr(sized(1000), T0), fr(sized(500), T0 + 500 * MS)])
        self.assertEqual(g.snapshot()["interfaces"][0]["rate"], {"bps": 0.0, "pps": 0.0})
        # the frame at 1.0 s ticks first: 1500 bytes, 2 packets in one second
        mon.feed([fr(sized(250), T0 + SEC)])
        row = g.snapshot()["interfaces"][0]
        self.assertEqual(row["rate"], {"bps": 12000.0, "pps": 2.0})
        # the frame at 3.0 s ticks: 250 bytes, 1 packet in two seconds
        mon.feed([fr(sized(4000), T0 + 3 * SEC), fr(sized(1000), T0 + 3500 * MS)])
        row = g.snapshot()["interfaces"][0]
        self.assertEqual(row["rate"], {"bps": 1000.0, "pps": 0.5})
        self.assertEqual(row["peak"], {"bps": 12000.0, "pps": 2.0})
        # the last tick, at the last packet: 5000 bytes, 2 packets in half a second
        mon.finish()
        row = g.snapshot()["interfaces"][0]
        self.assertEqual(row["rate"], {"bps": 80000.0, "pps": 4.0})
        self.assertEqual(row["peak"], {"bps": 80000.0, "pps": 4.0})
        self.assertEqual(row["total"], pair(5, 6750))

    def test_time_going_back_changes_no_rate(self):
        g = GeneralStats(options())
        feed([g], [fr(sized(100), T0), fr(sized(100), T0 + 2 * SEC)], finish=False)
        g.tick(T0 + SEC)              # before the previous tick: the span goes on
        row = g.snapshot()["interfaces"][0]
        self.assertEqual(row["rate"], {"bps": 400.0, "pps": 0.5})

    def test_idle_ticks_before_the_first_packet_start_the_span(self):
        # live, with nothing captured yet, the monitor still ticks: the first span is
        # from the last such tick, not from the first packet
        g = GeneralStats(options())
        g.tick(T0)
        g.add(decode(T0 + 1500 * MS, 0, None, 1, sized(100), 100))
        g.tick(T0 + 2 * SEC)
        self.assertEqual(g.snapshot()["interfaces"][0]["rate"], {"bps": 400.0, "pps": 0.5})
        d = DetailedStats(options())
        d.tick(T0)
        d.add(decode(T0 + 1500 * MS, 0, None, 1, sized(100), 100))
        d.tick(T0 + 2 * SEC)
        self.assertEqual(d.snapshot()["rate"]["total"], {"bps": 400.0, "pps": 0.5})

    def test_eviction_of_the_stalest_interface(self):
        g = GeneralStats(options(max_entries=2))
        feed([g], [fr(sized(60), T0, ifindex=0), fr(sized(60), T0 + 1, ifindex=1),
                   fr(sized(60), T0 + 2, ifindex=0), fr(sized(60), T0 + 3, ifindex=2)])
        snap = g.snapshot()
        self.assertEqual([row["ifindex"] for row in snap["interfaces"]], [0, 2])
        self.assertEqual(snap["evicted"], 1)
        self.assertEqual(snap["interfaces"][0]["total"], pair(2, 120))


# --- detailed interface statistics ------------------------------------------------------

ROWS = ("total", "ipv4", "ipv6", "nonip", "tcp", "udp", "icmp", "icmpv6", "other_ip",
        "broadcast", "multicast", "badip")


def expected_counts(table):
    """Rows from (frame, pkttype, rows it belongs to) declared by hand."""
    out = {}
    for row in ROWS:
        count = {"packets": 0, "bytes": 0, "in": pair(0, 0), "out": pair(0, 0)}
        for frame, pkttype, rows in table:
            if row != "total" and row not in rows:
                continue
            n = len(frame)
            count["packets"] += 1
            count["bytes"] += n
            way = "out" if pkttype == 4 else "in" if pkttype in (0, 1, 2, 3) else None
            if way:
                count[way]["packets"] += 1
                count[way]["bytes"] += n
        out[row] = count
    return out


class DetailedStatsTest(unittest.TestCase):

    def run_table(self, table, **kw):
        d = DetailedStats(options(), **kw)
        feed([d], [fr(frame, T0 + i * MS, pkttype=pt) for i, (frame, pt, _) in enumerate(table)])
        return d.snapshot()

    def test_protocols_and_directions(self):
        table = [
            (tcp4(b"a" * 100), 0, {"ipv4", "tcp"}),                      # in
            (udp4(b"b" * 20), 4, {"ipv4", "udp"}),                       # out
            (tcp6(b"c" * 30), None, {"ipv6", "tcp"}),                    # unknown
            (b.eth(b.ip4(b.icmp(b"d"), proto=1)), 3, {"ipv4", "icmp"}),  # other host: in
            (b.eth(b.ip6(b.icmp6(b"e", src=A6, dst=B6), src=A6, dst=B6, nxt=58), type=0x86DD),
             4, {"ipv6", "icmpv6"}),
            (b.eth(b.ip4(b.igmp(), proto=2)), None, {"ipv4", "other_ip"}),
            (b.eth(b.ip6(b"\0" * 8, nxt=50), type=0x86DD), 0, {"ipv6", "other_ip"}),   # ESP
            (b.eth(b.arp(), dst=BCAST, type=0x0806, pad=True), 1, {"nonip", "broadcast"}),
            (b.eth(b.ip4(b.udp(b"f" * 12, sport=5353, dport=5353), dst="224.0.0.251", proto=17),
                   dst="01:00:5e:00:00:fb"), 2, {"ipv4", "udp", "multicast"}),   # mDNS
            (b.eth8023(b.llc(bytes(35), dsap=0x42, ssap=0x42), dst="01:80:c2:00:00:00"),
             None, {"nonip", "multicast"}),                              # STP
            (tcp4(b"g"), 7, {"ipv4", "tcp"}),       # a packet type that is neither: unknown
        ]
        snap = self.run_table(table)
        self.assertEqual(snap["counts"], expected_counts(table))
        self.assertEqual(snap["ip_checksum_errors"], 0)
        self.assertIsNone(snap["iface"])
        c = snap["counts"]
        self.assertEqual(c["ipv4"]["packets"] + c["ipv6"]["packets"],
                         sum(c[k]["packets"] for k in ("tcp", "udp", "icmp", "icmpv6",
                                                       "other_ip")))
        # unknown direction: in the totals, in neither in nor out
        self.assertEqual(c["total"]["packets"], 11)
        self.assertEqual(c["total"]["in"]["packets"] + c["total"]["out"]["packets"], 7)

    def test_tunnels_fragments_and_icmp_errors(self):
        inner = b.ip4(b.tcp(b"t", sport=1000, dport=22))
        quoted = b.ip4(b.tcp(b"", sport=40000, dport=80))[:28]
        table = [
            # GRE and 6in4 carrying TCP/UDP: the outer packet's protocol, "other IP"
            (b.eth(b.ip4(b.gre(inner, proto=0x0800), proto=47)), None, {"ipv4", "other_ip"}),
            (b.eth(b.ip4(b.ip6(b.udp(b"u"), nxt=17), proto=41)), None, {"ipv4", "other_ip"}),
            (b.eth(b.ip6(inner, nxt=4), type=0x86DD), None, {"ipv6", "other_ip"}),
            # VXLAN is UDP on the wire
            (b.eth(b.ip4(b.udp(b.vxlan(b.eth(inner)), sport=50000, dport=4789), proto=17)),
             None, {"ipv4", "udp"}),
            # later fragments: the protocol of their datagram
            (b.eth(b.ip4(bytes(16), proto=17, frag=185)), None, {"ipv4", "udp"}),
            (b.eth(b.ip6(b.frag6(bytes(16), nxt=6, offset=100), nxt=44), type=0x86DD),
             None, {"ipv6", "tcp"}),
            # a first fragment has its header
            (b.eth(b.ip4(b.udp(bytes(40)), proto=17, mf=True)), None, {"ipv4", "udp"}),
            # an ICMP error quoting a TCP header is ICMP
            (b.eth(b.ip4(b.icmp(quoted, type=3, code=3), proto=1)), None, {"ipv4", "icmp"}),
            # AH before TCP: an extension header, the segment is TCP
            (b.eth(b.ip6(b.ah(b.tcp(b"h", sport=5000, dport=6000), nxt=6), nxt=51),
                   type=0x86DD), None, {"ipv6", "tcp"}),
        ]
        self.assertEqual(self.run_table(table)["counts"], expected_counts(table))

    def test_broadcast_and_multicast(self):
        def raw4(dst):
            return b.ip4(b.udp(b"r"), dst=dst, proto=17)

        cases = [
            # (data, linktype, pkttype, group)
            (b.eth(b.arp(), dst=BCAST, type=0x0806), 1, None, "broadcast"),
            (b.eth(b.ip6(b.udp(b"m"), dst="ff02::1", nxt=17), dst="33:33:00:00:00:01",
                   type=0x86DD), 1, None, "multicast"),
            # a unicast MAC decides, whatever the IP destination
            (b.eth(raw4("224.0.0.1")), 1, None, None),
            (b.eth(raw4("255.255.255.255")), 1, 1, None),
            # no MAC: the packet type, then the IP destination
            (raw4("255.255.255.255"), 101, None, "broadcast"),
            (raw4("239.1.2.3"), 101, None, "multicast"),
            (raw4("10.0.0.255"), 101, None, None),       # the subnet is unknown
            (raw4("240.0.0.1"), 101, None, None),        # class E is not multicast
            (b.ip6(b.udp(b"m"), dst="ff05::2", nxt=17), 101, None, "multicast"),
            (b.ip6(b.udp(b"m"), dst="fd00::9", nxt=17), 101, None, None),
            (b.sll(raw4(B4), pkttype=1, addr="02:00:00:00:00:09"), 113, None, "broadcast"),
            (b.sll(raw4(B4), pkttype=2, addr="02:00:00:00:00:09"), 113, None, "multicast"),
            (b.sll(raw4("255.255.255.255"), pkttype=4, addr="02:00:00:00:00:09"), 113, None,
             "broadcast"),
            (b.sll(b.arp(), pkttype=0, proto=0x0806), 113, None, None),
            # an Ethernet frame inside a tunnel: its MAC is not this link's
            (b.ip4(b.gre(b.eth(raw4(B4), dst=BCAST), proto=0x6558), proto=47), 101, None, None),
        ]
        for data, linktype, pkttype, group in cases:
            with self.subTest(data=data.hex(), linktype=linktype):
                d = DetailedStats(options())
                feed([d], [fr(data, T0, pkttype=pkttype, linktype=linktype)])
                c = d.snapshot()["counts"]
                self.assertEqual(c["broadcast"]["packets"], int(group == "broadcast"))
                self.assertEqual(c["multicast"]["packets"], int(group == "multicast"))
                self.assertEqual(c["broadcast"]["bytes"] + c["multicast"]["bytes"],
                                 len(data) if group else 0)

    def test_bad_ip_and_checksum_errors(self):
        good = tcp4(b"ok")
        cases = [
            # (data, wirelen, bad IP, checksum error)
            (good, None, False, False),
            (b.eth(b.ip4(b.tcp(b"x"), checksum=0xBEEF)), None, True, True),
            (b.eth(b.ip4(b.tcp(b"x"), ihl=4)), None, True, False),          # IHL < 5
            (b.eth(b.ip4(b.tcp(b"x"), length=10)), None, True, False),      # total < header
            (good[:24], len(good), False, False),       # cut by the snap length
            (good[:24], None, True, False),             # a runt: cut short on the wire
            (b.eth(b.ip6(b"\0" * 8, version=4), type=0x86DD), None, True, False),
            (b.eth(b.ip6(b.hopopts(b"", nxt=59, options=b"\x05\x09"), nxt=0), type=0x86DD),
             None, True, False),                        # an option running past its header
            (b.eth(b.ip4(b.tcp(b"x", doff=3))), None, False, False),       # TCP's fault, not IP's
            (b.eth(b.ip4(b.ip4(b.udp(b"i"), proto=17, ihl=3), proto=4)), None, True, False),
        ]
        for data, wirelen, bad, cksum in cases:
            with self.subTest(data=data.hex(), wirelen=wirelen):
                d = DetailedStats(options())
                g = GeneralStats(options())
                feed([d, g], [fr(data, T0, pkttype=0, wirelen=wirelen)])
                snap = d.snapshot()
                n = len(data) if wirelen is None else wirelen
                self.assertEqual(snap["counts"]["badip"],
                                 {"packets": int(bad), "bytes": n if bad else 0,
                                  "in": pair(int(bad), n if bad else 0), "out": pair(0, 0)})
                self.assertEqual(snap["ip_checksum_errors"], int(cksum))
                self.assertEqual(g.snapshot()["interfaces"][0]["badip"],
                                 pair(int(bad), n if bad else 0))

    def test_rates_in_out_and_peaks(self):
        d = DetailedStats(options())
        mon = Monitor([d], interval=1.0)
        mon.feed([fr(sized(1000), T0, pkttype=0), fr(sized(500), T0 + 500 * MS, pkttype=4),
                  fr(sized(250), T0 + SEC, pkttype=0)])
        snap = d.snapshot()
        self.assertEqual(snap["rate"], {"total": {"bps": 12000.0, "pps": 2.0},
                                        "in": {"bps": 8000.0, "pps": 1.0},
                                        "out": {"bps": 4000.0, "pps": 1.0},
                                        "broadcast": {"bps": 0.0, "pps": 0.0}})
        mon.feed([fr(sized(4000), T0 + 3 * SEC, pkttype=4),
                  fr(sized(1000), T0 + 3500 * MS, pkttype=0),
                  fr(sized(77), T0 + 3500 * MS, pkttype=None)])
        snap = d.snapshot()
        self.assertEqual(snap["rate"], {"total": {"bps": 1000.0, "pps": 0.5},
                                        "in": {"bps": 1000.0, "pps": 0.5},
                                        "out": {"bps": 0.0, "pps": 0.0},
                                        "broadcast": {"bps": 0.0, "pps": 0.0}})
        mon.finish()
        snap = d.snapshot()
        self.assertEqual(snap["rate"], {"total": {"bps": 81232.0, "pps": 6.0},
                                        "in": {"bps": 16000.0, "pps": 2.0},
                                        "out": {"bps": 64000.0, "pps": 2.0},
                                        "broadcast": {"bps": 0.0, "pps": 0.0}})
        self.assertEqual(snap["peak"], {"total": {"bps": 81232.0, "pps": 6.0},
                                        "in": {"bps": 16000.0, "pps": 2.0},
                                        "out": {"bps": 64000.0, "pps": 2.0},
                                        "broadcast": {"bps": 0.0, "pps": 0.0}})
        self.assertEqual(snap["counts"]["total"],
                         {"packets": 6, "bytes": 6827, "in": pair(3, 2250),
                          "out": pair(2, 4500)})

    def test_rates_averaged_over_a_window_and_peaks_per_interval(self):
        """A burst in the first second of a 4 s window: the rate stays up, over the
        time since the window's start (1, 2, 3 s), then falls to 0 when the window has
        moved past it; every facility the same; the peaks are the interval's."""
        o = options(rate_window=4.0)
        g, d, s, ln = GeneralStats(o), DetailedStats(o), ServiceStats(o), LanStats(o)
        mon = Monitor([g, d, s, ln], interval=1.0)
        burst = b.eth(b.ip4(b.udp(b"x" * 958, sport=5000, dport=53), proto=17))  # 1000
        mon.feed([fr(burst, T0, pkttype=0), fr(burst, T0 + 500 * MS, pkttype=0)])
        seen = []
        for k in range(1, 6):
            mon.idle(T0 + k * SEC)
            station = [r for r in ln.snapshot()["stations"] if r["in"]["packets"]][0]
            seen.append((g.snapshot()["interfaces"][0]["rate"]["bps"],
                         d.snapshot()["rate"]["total"]["bps"],
                         d.snapshot()["rate"]["in"]["pps"],
                         s.snapshot()["services"][0]["rate"]["bps"],
                         station["in"]["bps"]))
        bps = [16000.0, 8000.0, 5333.333, 0.0, 0.0]
        self.assertEqual([row[0] for row in seen], bps)
        self.assertEqual([row[1] for row in seen], bps)
        self.assertEqual([row[2] for row in seen], [2.0, 1.0, 0.667, 0.0, 0.0])
        self.assertEqual([row[3] for row in seen], bps)
        self.assertEqual([row[4] for row in seen], bps)
        self.assertEqual(g.snapshot()["interfaces"][0]["peak"]["bps"], 16000.0)
        self.assertEqual(d.snapshot()["peak"]["total"]["bps"], 16000.0)
        # no window (the default, and --json's): the rate of each interval alone
        g = GeneralStats(options())
        mon = Monitor([g], interval=1.0)
        mon.feed([fr(burst, T0), fr(burst, T0 + 500 * MS)])
        mon.idle(T0 + SEC)
        mon.idle(T0 + 2 * SEC)
        self.assertEqual(g.snapshot()["interfaces"][0]["rate"]["bps"], 0.0)

    def test_broadcast_rates_and_peak(self):
        d = DetailedStats(options())
        mon = Monitor([d], interval=1.0)
        bcast = "ff:ff:ff:ff:ff:ff"
        mon.feed([fr(sized(1000, dst=bcast), T0, pkttype=1), fr(sized(500), T0 + 500 * MS),
                  fr(sized(250, dst=bcast), T0 + SEC, pkttype=1)])
        self.assertEqual(d.snapshot()["rate"]["broadcast"], {"bps": 8000.0, "pps": 1.0})
        mon.feed([fr(sized(100), T0 + 3 * SEC)])
        snap = d.snapshot()
        self.assertEqual(snap["rate"]["broadcast"], {"bps": 1000.0, "pps": 0.5})
        self.assertEqual(snap["peak"]["broadcast"], {"bps": 8000.0, "pps": 1.0})

    def test_one_interface(self):
        d = DetailedStats(options(), ifindex=3)
        feed([d], [fr(tcp4(), T0, ifindex=3), fr(tcp4(), T0 + 1, ifindex=4),
                   fr(udp4(), T0 + 2, ifindex=3)])
        snap = d.snapshot()
        self.assertEqual(snap["iface"], "eth3")
        self.assertEqual(snap["counts"]["total"]["packets"], 2)
        self.assertEqual(snap["counts"]["udp"]["packets"], 1)


# --- TCP/UDP service monitor -------------------------------------------------------------

class ServiceStatsTest(unittest.TestCase):

    def test_ports_and_directions(self):
        req = tcp4(b"GET /", sport=40000, dport=80)
        resp = tcp4(b"200 OK" * 10, sport=80, dport=40000)
        dns_q = udp4(b"q" * 20, sport=33333, dport=53)
        dns_r = udp6(b"r" * 60, sport=53, dport=33333)
        ntp = udp4(b"n" * 48, sport=123, dport=123)
        vx = b.eth(b.ip4(b.udp(b.vxlan(tcp4()), sport=50000, dport=4789), proto=17))
        gre_tcp = b.eth(b.ip4(b.gre(b.ip4(b.tcp(b"", sport=1, dport=2)), proto=0x0800),
                              proto=47))
        later = b.eth(b.ip4(bytes(24), proto=17, frag=185))
        cut = udp4(b"z")[:36]           # the IPv4 header and two bytes of UDP
        sctp = b.eth(b.ip4(b.sctp(sport=36412, dport=36412), proto=132))
        frames = [fr(x, T0 + i * 50 * MS) for i, x in enumerate(
            [req, resp, req, dns_q, dns_r, ntp, vx, gre_tcp, later, sctp])]
        frames.append(fr(cut, T0 + 500 * MS, wirelen=len(udp4(b"z"))))
        s = ServiceStats(options())
        feed([s], frames)
        snap = s.snapshot()
        # one tick at the last packet, 0.5 s after the first: bits/s = bytes * 16

        def row(proto, port, inp, outp, last):
            packets = inp[0] + outp[0]
            nbytes = inp[1] + outp[1]
            return {"proto": proto, "port": port, "packets": packets, "bytes": nbytes,
                    "in": dict(pair(*inp), bps=inp[1] * 16.0),
                    "out": dict(pair(*outp), bps=outp[1] * 16.0),
                    "rate": {"bps": nbytes * 16.0, "pps": packets * 2.0}, "last": secs(last)}

        rows = [row("tcp", 80, (2, 2 * len(req)), (1, len(resp)), T0 + 100 * MS),
                row("udp", 53, (1, len(dns_q)), (1, len(dns_r)), T0 + 200 * MS),
                row("udp", 123, (1, len(ntp)), (0, 0), T0 + 250 * MS),
                row("udp", 4789, (1, len(vx)), (0, 0), T0 + 300 * MS)]
        rows.sort(key=lambda r: (-r["bytes"], r["proto"], r["port"]))
        self.assertEqual(snap, {
            "iface": None, "services": rows, "evicted": 0,
            "unported": {"tcp": pair(0, 0), "udp": pair(2, len(later) + len(udp4(b"z")))}})

    def test_eviction_keeps_the_recent(self):
        s = ServiceStats(options(max_entries=4))
        ports = [21, 22, 23, 25]
        frames = [fr(tcp4(sport=40000, dport=p), T0 + i * SEC) for i, p in enumerate(ports)]
        frames.append(fr(tcp4(sport=40000, dport=21), T0 + 10 * SEC))
        frames.append(fr(tcp4(sport=40000, dport=110), T0 + 11 * SEC))
        feed([s], frames)
        snap = s.snapshot()
        self.assertEqual(sorted(r["port"] for r in snap["services"]), [21, 23, 25, 110])
        self.assertEqual(snap["evicted"], 1)

    def test_one_interface(self):
        s = ServiceStats(options(), ifindex=1)
        feed([s], [fr(tcp4(), T0, ifindex=1), fr(tcp4(), T0 + 1, ifindex=2)])
        snap = s.snapshot()
        self.assertEqual(snap["iface"], "eth1")
        self.assertEqual([(r["port"], r["packets"]) for r in snap["services"]], [(80, 1)])


# --- packet size breakdown ----------------------------------------------------------------

class SizeStatsTest(unittest.TestCase):

    def bins(self, mtu, link_header=14):
        snap = SizeStats(options(), mtu=mtu, link_header=link_header).snapshot()
        return [(x["min"], x["max"]) for x in snap["bins"]]

    def test_bins_follow_the_mtu(self):
        self.assertEqual(self.bins(1500), [(75 * i + 1, 75 * i + 75) for i in range(19)]
                         + [(1426, 1514), (1515, None)])
        self.assertEqual(self.bins(9000, 0), [(450 * i + 1, 450 * i + 450) for i in range(19)]
                         + [(8551, 9000), (9001, None)])
        # lo: 65536 is not a multiple of 20, the remainder goes to the last bin
        self.assertEqual(self.bins(65536)[-2:], [(62245, 65550), (65551, None)])
        with self.assertRaises(ValueError):
            SizeStats(options(), mtu=10)

    def test_counts_largest_and_mean(self):
        lengths = [(60, 0), (75, 0), (76, 4), (150, None), (151, 0), (1500, 4), (1514, 0),
                   (1515, 4), (9000, None), (80000, 0), (1514, 2)]
        z = SizeStats(options())
        frames = [fr(sized(min(n, 200))[:min(n, 200)], T0 + i, pkttype=pt, wirelen=n)
                  for i, (n, pt) in enumerate(lengths)]
        feed([z], frames)
        snap = z.snapshot()
        got = {i: (x["packets"], x["in"], x["out"]) for i, x in enumerate(snap["bins"])
               if x["packets"]}
        self.assertEqual(got, {0: (2, 2, 0), 1: (2, 0, 1), 2: (1, 1, 0), 19: (3, 2, 1),
                               20: (3, 1, 1)})
        total = sum(n for n, _ in lengths)
        self.assertEqual(snap["packets"], 11)
        self.assertEqual(snap["bytes"], total)
        self.assertEqual(snap["largest"], 80000)
        self.assertEqual(snap["mean"], round(total / 11, 3))
        self.assertEqual(snap["in"], {"packets": 6, "bytes": 60 + 75 + 151 + 1514 + 80000 + 1514,
                                      "largest": 80000})
        self.assertEqual(snap["out"], {"packets": 3, "bytes": 76 + 1500 + 1515,
                                       "largest": 1515})

    def test_one_interface(self):
        z = SizeStats(options(), ifindex=5, mtu=1500)
        feed([z], [fr(sized(100), T0, ifindex=5), fr(sized(1000), T0 + 1, ifindex=6)])
        snap = z.snapshot()
        self.assertEqual((snap["iface"], snap["packets"], snap["largest"]), ("eth5", 1, 100))


# --- LAN station monitor --------------------------------------------------------------------

MAC_A, MAC_B, MAC_C = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"


class LanStatsTest(unittest.TestCase):

    def test_stations(self):
        ab = b.eth(b.ip4(b.tcp(b"x" * 40)), src=MAC_A, dst=MAC_B)
        ba = b.eth(b.ip4(b.tcp(b"y" * 4)), src=MAC_B, dst=MAC_A)
        arp = b.eth(b.arp(sha=MAC_A), src=MAC_A, dst=BCAST, type=0x0806)
        mld = b.eth(b.ip6(b.icmp6(b""), dst="ff02::1", nxt=58), src=MAC_C,
                    dst="33:33:00:00:00:01", type=0x86DD)
        cooked = b.sll(b.ip4(b.udp(b"c")), pkttype=4, addr=MAC_C)
        tunnelled = b.ip4(b.gre(b.eth(b.ip4(b.udp(b"t")), src="02:00:00:00:00:0d"),
                                proto=0x6558), proto=47)
        wifi = b.radiotap_80211(b.ip4(b.udp(b"w")), src=MAC_A, dst=MAC_B, flags=1)
        frames = [fr(ab, T0), fr(ba, T0 + 100 * MS), fr(arp, T0 + 200 * MS),
                  fr(mld, T0 + 300 * MS), fr(cooked, T0 + 400 * MS, linktype=113),
                  fr(tunnelled, T0 + 450 * MS, linktype=101),
                  fr(wifi, T0 + 500 * MS, linktype=127)]
        ln = LanStats(options())
        feed([ln], frames)

        # one tick at the last packet, 0.5 s after the first: bits/s = bytes * 16
        def way(packets, nbytes, ip):
            return {"packets": packets, "bytes": nbytes, "ip_packets": ip,
                    "bps": nbytes * 16.0, "pps": packets * 2.0}

        def station(mac, inw, outw, last):
            return {"mac": mac, "iface": "eth0", "group": bool(int(mac[:2], 16) & 1),
                    "in": way(*inw), "out": way(*outw), "last": secs(last)}

        want = [
            station(MAC_A, (1, len(ba), 1), (3, len(ab) + len(arp) + len(wifi), 2), T0 + 500 * MS),
            station(MAC_B, (2, len(ab) + len(wifi), 2), (1, len(ba), 1), T0 + 500 * MS),
            station(BCAST, (1, len(arp), 0), (0, 0, 0), T0 + 200 * MS),
            station(MAC_C, (0, 0, 0), (2, len(mld) + len(cooked), 2), T0 + 400 * MS),
            station("33:33:00:00:00:01", (1, len(mld), 1), (0, 0, 0), T0 + 300 * MS),
        ]
        want.sort(key=lambda s: (-(s["in"]["bytes"] + s["out"]["bytes"]), s["mac"]))
        self.assertEqual(ln.snapshot(), {"iface": None, "stations": want, "evicted": 0})
        # every frame with both addresses is one station's out and another's in
        ins = sum(s["in"]["packets"] for s in want)
        outs = sum(s["out"]["packets"] for s in want)
        self.assertEqual(outs - ins, 1)                # the cooked frame has no destination

    def test_rates_over_ticks(self):
        ln = LanStats(options())
        mon = Monitor([ln], interval=1.0)
        # the frame at 1 s ticks first: A sent 1000 bytes and got 500 in that second
        mon.feed([fr(sized(1000, src=MAC_A, dst=MAC_B), T0),
                  fr(sized(500, src=MAC_B, dst=MAC_A), T0 + 500 * MS),
                  fr(sized(100, src=MAC_C, dst=MAC_A), T0 + SEC)])
        rows = {s["mac"]: s for s in ln.snapshot()["stations"]}
        self.assertEqual((rows[MAC_A]["out"]["bps"], rows[MAC_A]["out"]["pps"]), (8000.0, 1.0))
        self.assertEqual((rows[MAC_A]["in"]["bps"], rows[MAC_A]["in"]["pps"]), (4000.0, 1.0))
        self.assertEqual((rows[MAC_B]["in"]["bps"], rows[MAC_B]["out"]["bps"]), (8000.0, 4000.0))
        self.assertEqual(rows[MAC_C]["out"]["bps"], 0.0)      # its frame came after the tick
        # the frame at 2 s ticks: in the second before it only C's frame to A
        mon.feed([fr(sized(100, src=MAC_C, dst=MAC_B), T0 + 2 * SEC)])
        rows = {s["mac"]: s for s in ln.snapshot()["stations"]}
        self.assertEqual(rows[MAC_A]["out"], {"packets": 1, "bytes": 1000, "ip_packets": 0,
                                              "bps": 0.0, "pps": 0.0})
        self.assertEqual((rows[MAC_A]["in"]["bps"], rows[MAC_A]["in"]["pps"]), (800.0, 1.0))
        self.assertEqual(rows[MAC_C]["out"]["bps"], 800.0)
        self.assertEqual(rows[MAC_B]["in"]["bps"], 0.0)

    def test_interfaces_apart_and_one_interface(self):
        frames = [fr(sized(100, src=MAC_A, dst=MAC_B), T0, ifindex=1),
                  fr(sized(100, src=MAC_A, dst=MAC_B), T0 + 1, ifindex=2)]
        ln = LanStats(options())
        feed([ln], frames)
        self.assertEqual(sorted((s["iface"], s["mac"]) for s in ln.snapshot()["stations"]),
                         [("eth1", MAC_A), ("eth1", MAC_B), ("eth2", MAC_A), ("eth2", MAC_B)])
        one = LanStats(options(), ifindex=2)
        feed([one], frames)
        snap = one.snapshot()
        self.assertEqual((snap["iface"], len(snap["stations"])), ("eth2", 2))

    def test_eviction_at_a_small_cap(self):
        ln = LanStats(options(max_entries=4))
        macs = ["02:00:00:00:01:%02x" % i for i in range(8)]
        # stations 0..3 seen in that order, then 0 again, then 4 arrives: 1 goes
        frames = [fr(sized(60, src=macs[i], dst=macs[i]), T0 + i * SEC) for i in range(4)]
        frames.append(fr(sized(60, src=macs[0], dst=macs[0]), T0 + 10 * SEC))
        frames.append(fr(sized(60, src=macs[4], dst=macs[4]), T0 + 11 * SEC))
        feed([ln], frames)
        snap = ln.snapshot()
        self.assertEqual(sorted(s["mac"] for s in snap["stations"]),
                         [macs[0], macs[2], macs[3], macs[4]])
        self.assertEqual(snap["evicted"], 1)
        self.assertEqual({s["mac"]: s["out"]["packets"] for s in snap["stations"]}[macs[0]], 2)

    def test_flood_of_random_macs_stays_bounded(self):
        cap, frames_count = 10000, 30000
        rng = random.Random(7)
        ln = LanStats(options(max_entries=cap))
        body = b.ip4(b.udp(b"flood"), proto=17)
        unique = rng.sample(range(1 << 40), 2 * frames_count)
        add = ln.add
        peak = 0
        for i in range(frames_count):
            src = b"\x02" + unique[2 * i].to_bytes(5, "big")
            dst = b"\x02" + unique[2 * i + 1].to_bytes(5, "big")
            data = dst + src + b"\x08\x00" + body
            add(decode(T0 + i * 1000, 0, None, 1, data, len(data)))
            if ln.size > peak:
                peak = ln.size
        # the same arithmetic, independently: a sixteenth goes whenever a new station
        # would find the table full
        size = evicted = 0
        for _ in range(2 * frames_count):
            if size >= cap:
                size -= cap // 16
                evicted += cap // 16
            size += 1
        self.assertLessEqual(peak, cap)
        self.assertEqual(ln.size, size)
        self.assertEqual(sum(len(t) for t in ln.tables.values()), size)
        snap = ln.snapshot()
        self.assertEqual(snap["evicted"], evicted)
        self.assertEqual(len(snap["stations"]), size)


# --- Wireshark's view of the shared corpus -----------------------------------------------------

# tshark layer names that sit between an IP header and its transport header
_IP_EXTENSIONS = {"ipv6.hopopts", "ipv6.routing", "ipv6.fraghdr", "ipv6.dstopts", "ah"}
_PROTO_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}

# file -> {(facility, key...): (truth, ours)}: where the counts differ on purpose
PINNED = {
    # 802.11 frames: our broadcast/multicast rule reads the 802.11 destination address;
    # the truth has no wlan.da column to count it from (eth.dst is empty).
    "libpcap__wpa-Induction.pcap": {
        ("detailed", "broadcast", "packets"): (0, 1),
        ("detailed", "broadcast", "bytes"): (0, 404)},
    "zeek__radiotap.pcap": {
        ("detailed", "multicast", "packets"): (0, 1),
        ("detailed", "multicast", "bytes"): (0, 389)},
    # The link type says IPv4 and the packet is IPv6 carrying UDP to port 53.  We count
    # it where its link layer puts it (IPv4) and by the transport the decoder found (UDP);
    # tshark's chain "ip:ipv6:udp" reads as IPv4 carrying IPv6, "other IP".
    "tcpdump__LINKTYPE_IPV4_invalid.pcap": {
        ("detailed", "other_ip", "packets"): (1, 0), ("detailed", "other_ip", "bytes"): (77, 0),
        ("detailed", "udp", "packets"): (0, 1), ("detailed", "udp", "bytes"): (0, 77),
        ("service", "udp", 53, "in", "packets"): (0, 1),
        ("service", "udp", 53, "in", "bytes"): (0, 77)},
    # Frames 2 and 4 carry the IPv6 ethertype and an IPv6 header of version 0.  We count
    # what the link layer says (IPv6, and bad IP); tshark hands them to "data", no IPv6.
    "tcpdump__ipv6-bad-version.pcap": {
        ("detailed", "ipv6", "packets"): (2, 4), ("detailed", "ipv6", "bytes"): (156, 328),
        ("detailed", "nonip", "packets"): (2, 0), ("detailed", "nonip", "bytes"): (172, 0),
        ("detailed", "other_ip", "packets"): (0, 2), ("detailed", "other_ip", "bytes"): (0, 172),
        ("general", 0, "ipv6", "packets"): (2, 4), ("general", 0, "ipv6", "bytes"): (156, 328),
        ("general", 0, "nonip", "packets"): (2, 0), ("general", 0, "nonip", "bytes"): (172, 0),
        ("lan", 0, "24:84:3f:eb:3c:ee", "out", "ip_packets"): (0, 2),
        ("lan", 0, "33:33:00:00:00:01", "in", "ip_packets"): (0, 2)},
    # Later IPv6 fragments: we count them by their fragment header's next header (IGMP
    # here, UDP in the DNS file); the truth has no column for it ("ipv6.fraghdr:data").
    "tcpdump__ipv6_frag6_negative_len.pcap": {
        ("detailed", "other_ip", "packets"): (0, 1),
        ("detailed", "other_ip", "bytes"): (0, 32896)},
    "zeek__ipv6-fragmented-dns.pcap": {
        ("detailed", "udp", "packets"): (5, 8), ("detailed", "udp", "bytes"): (2286, 4620),
        ("service", "unported", "udp", "packets"): (0, 3),
        ("service", "unported", "udp", "bytes"): (0, 2334)},
    # Frame 1's destination options hold an option whose length runs past the header
    # (see test_conformance): the header's own length frames it (RFC 8200 4.3), so we
    # read the UDP header after it; tshark stops at the option.
    "zeek__ipv6-mobility-dst-opts.pcap": {
        ("detailed", "other_ip", "packets"): (2, 1), ("detailed", "other_ip", "bytes"): (196, 106),
        ("detailed", "udp", "packets"): (1, 2), ("detailed", "udp", "bytes"): (90, 180),
        ("service", "udp", 13000, "in", "packets"): (1, 2),
        ("service", "udp", 13000, "in", "bytes"): (90, 180)},
}


def _classify(row):
    """What each counter means, from tshark's columns: (family, transport, ported,
    direction, group); None where the truth cannot tell."""
    chain = row["frame.protocols"].split(":")
    family, transport, ported = "nonip", None, False
    first = next((i for i, p in enumerate(chain) if p in ("ip", "ipv6")), None)
    if first is not None:
        family = "ipv4" if chain[first] == "ip" else "ipv6"
        j = first + 1
        while j < len(chain) and chain[j] in _IP_EXTENSIONS:
            j += 1
        after = chain[j] if j < len(chain) else None
        if (family == "ipv4" and after == "data"
                and row.get("ip.frag_offset", "") not in ("", "0")):
            transport = _PROTO_NAMES.get(row["ip.proto"], "other_ip")  # a later fragment
        elif after in ("tcp", "udp", "icmp", "icmpv6"):
            transport = after
            ported = after in ("tcp", "udp")
        elif "ipv6.fraghdr" in chain[first:j] and after in (None, "data"):
            transport = None            # a later IPv6 fragment: its protocol is not a column
        else:
            transport = "other_ip"
    pkttype = row.get("sll.pkttype", "")
    way = "out" if pkttype == "4" else "in" if pkttype in ("0", "1", "2", "3") else None
    group = None
    if chain[0] == "eth":
        dst = row.get("eth.dst", "")
        if dst == BCAST:
            group = "broadcast"
        elif dst and int(dst[:2], 16) & 1:
            group = "multicast"
    elif chain[0] != "radiotap":        # 802.11 addresses are not truth columns
        if pkttype == "1":
            group = "broadcast"
        elif pkttype == "2":
            group = "multicast"
        elif family == "ipv4":
            dst = row.get("ip.dst", "")
            if dst == "255.255.255.255":
                group = "broadcast"
            elif dst and 224 <= int(dst.split(".")[0]) < 240:
                group = "multicast"
        elif family == "ipv6" and row.get("ipv6.dst", "").lower().startswith("ff"):
            group = "multicast"
    return chain, family, transport, ported, way, group


def _size_bin(n, mtu=1500, header=14):
    """iptraf-ng's bins (MTU/20 wide), the last to MTU + link header, then oversized."""
    if n > mtu + header:
        return 20
    return min(max(n - 1, 0) // (mtu // 20), 19)


def truth_counts(rows):
    """Every facility's counters, computed from the truth rows alone."""
    want = collections.Counter()
    for row in rows:
        n = int(row["frame.len"])
        chain, family, transport, ported, way, group = _classify(row)
        ifid = int(row.get("frame.interface_id") or 0)
        for key in ("total", family, transport, group):
            if key is None:
                continue
            want["detailed", key, "packets"] += 1
            want["detailed", key, "bytes"] += n
            if way:
                want["detailed", key, way, "packets"] += 1
                want["detailed", key, way, "bytes"] += n
        for key in ("total", family):
            want["general", ifid, key, "packets"] += 1
            want["general", ifid, key, "bytes"] += n
        want["size", _size_bin(n)] += 1
        if transport in ("tcp", "udp"):
            sport = row.get(transport + ".srcport", "")
            dport = row.get(transport + ".dstport", "")
            if ported and sport and dport:
                sport, dport = int(sport), int(dport)
                port, way = (sport, "out") if sport < dport else (dport, "in")
                want["service", transport, port, way, "packets"] += 1
                want["service", transport, port, way, "bytes"] += n
            else:
                want["service", "unported", transport, "packets"] += 1
                want["service", "unported", transport, "bytes"] += n
        if chain[0] == "eth" and row.get("eth.src"):
            ip = int(family != "nonip")
            for mac, way in ((row["eth.src"], "out"), (row.get("eth.dst"), "in")):
                if mac:
                    want["lan", ifid, mac, way, "packets"] += 1
                    want["lan", ifid, mac, way, "bytes"] += n
                    want["lan", ifid, mac, way, "ip_packets"] += ip
    return want


def our_counts(general, detailed, service, size, lan, ethernet):
    """The same counters from the facilities' snapshots (LAN: Ethernet interfaces only)."""
    got = collections.Counter()
    for name, count in detailed.snapshot()["counts"].items():
        if name == "badip":
            continue
        for f in ("packets", "bytes"):
            got["detailed", name, f] += count[f]
            for way in ("in", "out"):
                got["detailed", name, way, f] += count[way][f]
    for row in general.snapshot()["interfaces"]:
        for key in ("total", "ipv4", "ipv6", "nonip"):
            for f in ("packets", "bytes"):
                got["general", row["ifindex"], key, f] += row[key][f]
    snap = service.snapshot()
    for row in snap["services"]:
        for way in ("in", "out"):
            for f in ("packets", "bytes"):
                got["service", row["proto"], row["port"], way, f] += row[way][f]
    for proto, count in snap["unported"].items():
        for f in ("packets", "bytes"):
            got["service", "unported", proto, f] += count[f]
    for i, count in enumerate(size.snapshot()["bins"]):
        got["size", i] += count["packets"]
    for ifindex, table in lan.tables.items():
        if ifindex not in ethernet:
            continue
        for mac, e in table.items():
            text = ":".join("%02x" % x for x in bytearray(mac))
            for way in ("in", "out"):
                got["lan", ifindex, text, way, "packets"] += getattr(e, way + "_packets")
                got["lan", ifindex, text, way, "bytes"] += getattr(e, way + "_bytes")
                got["lan", ifindex, text, way, "ip_packets"] += getattr(e, way + "_ip")
    return got


class PagedSnapshotTest(unittest.TestCase):
    """A screen asks for one page of the service and station tables: each page is the
    slice of the whole table in that order, whatever the order."""

    def feed(self, sink):
        rng = random.Random(7)
        for i in range(300):
            sport, dport = rng.randrange(1, 3000), rng.randrange(1, 3000)
            src = "02:00:00:00:%02x:%02x" % (rng.randrange(4), rng.randrange(256))
            data = b.eth(b.ip4(b.udp(b"x" * rng.randrange(40), sport=sport, dport=dport),
                               proto=17), src=src)
            if i % 4 == 0:      # not IP: the stations' IP counts part from their totals
                data = b.eth(b.arp(), src=src, type=0x0806)
            sink.add(decode(i * 10**6, 1, 0, 1, data, len(data)))

    def check(self, sink, table, orders, key):
        whole = sink.snapshot()[table]
        for order, ranked in orders:
            expected = sorted(whole, key=ranked) if ranked else whole
            for start, count in ((0, 7), (5, 10), (len(whole) - 3, 10), (len(whole) + 5, 3)):
                page = sink.snapshot(page=(order, start, count))
                self.assertEqual(page["total"], len(whole))
                self.assertEqual([key(r) for r in page[table]],
                                 [key(r) for r in expected[start:start + count]], order)

    def test_services(self):
        s = ServiceStats(options())
        self.feed(s)
        self.check(s, "services", (
            (None, None), ("port", lambda r: (r["port"], r["proto"])),
            ("packets", lambda r: (-r["packets"], r["proto"], r["port"])),
            ("packets_in", lambda r: (-r["in"]["packets"], r["proto"], r["port"])),
            ("bytes_in", lambda r: (-r["in"]["bytes"], r["proto"], r["port"])),
            ("packets_out", lambda r: (-r["out"]["packets"], r["proto"], r["port"])),
            ("bytes_out", lambda r: (-r["out"]["bytes"], r["proto"], r["port"]))),
            lambda r: (r["proto"], r["port"]))

    def test_services_other_ports(self):
        s = ServiceStats(options())
        self.feed(s)
        whole = s.snapshot()["services"]
        page = s.snapshot(page=(None, 0, 1000), ports=lambda port: port < 1024)
        self.assertEqual([r["port"] for r in page["services"]],
                         [r["port"] for r in whole if r["port"] < 1024])
        self.assertEqual(page["other_ports"]["packets"],
                         sum(r["packets"] for r in whole if r["port"] >= 1024))
        self.assertEqual(page["other_ports"]["bytes"],
                         sum(r["bytes"] for r in whole if r["port"] >= 1024))

    def test_stations(self):
        ln = LanStats(options())
        self.feed(ln)
        self.check(ln, "stations", (
            (None, None), ("mac", lambda r: r["mac"]),
            ("packets_in", lambda r: (-r["in"]["packets"], r["mac"])),
            ("ip_in", lambda r: (-r["in"]["ip_packets"], r["mac"])),
            ("ip_out", lambda r: (-r["out"]["ip_packets"], r["mac"])),
            ("bytes_out", lambda r: (-r["out"]["bytes"], r["mac"]))), lambda r: r["mac"])


@unittest.skipUnless(corpus.available(), "no ../shared/corpus beside the project")
class CorpusTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.cut_short = {n for n, read in corpus.frames_read().items() if read}
        cls.files = corpus.captures()

    def test_every_facility_agrees_with_wireshark(self):
        self.assertGreater(len(self.files), 100)
        for name in self.files:
            with self.subTest(file=name):
                frames, error = corpus.read_frames(os.path.join(corpus.CORPUS, name))
                # the two cut-short files: the frames before the damage
                self.assertEqual(error is not None, name in self.cut_short, str(error))
                rows = corpus.truth_rows(name)
                self.assertEqual(len(frames), len(rows), "frame count")
                o = options()
                sinks = (GeneralStats(o), DetailedStats(o), ServiceStats(o), SizeStats(o),
                         LanStats(o))
                feed(sinks, frames)
                linktypes = collections.defaultdict(set)
                for frame in frames:
                    linktypes[frame[1]].add(frame[3])
                ethernet = {i for i, kinds in linktypes.items() if kinds == {1}}
                want = truth_counts(rows)
                got = our_counts(*sinks, ethernet=ethernet)
                for key in list(want):
                    if key[0] == "lan" and key[1] not in ethernet:
                        del want[key]
                diff = {key: (want[key], got[key]) for key in set(want) | set(got)
                        if want[key] != got[key]}
                self.assertEqual(diff, PINNED.get(name, {}))

    def test_checksum_errors_match_the_reference_check(self):
        """The facilities inline ip.ipv4_checksum_ok for speed: same verdicts."""
        errors = 0
        for name in self.files:
            frames, _ = corpus.read_frames(os.path.join(corpus.CORPUS, name))
            records = [decode(*frame) for frame in frames]
            d = DetailedStats(options())
            for record in records:
                d.add(record)
            want = sum(1 for r in records
                       if r[ETHERTYPE] == 0x0800 and ipv4_checksum_ok(r) is False)
            self.assertEqual(d.checksum_errors, want, name)
            errors += want
        self.assertGreater(errors, 100)


# --- the benchmark's generated capture ----------------------------------------------------------

def _bench_module():
    spec = importlib.util.spec_from_file_location(
        "bench_decode", os.path.join(HERE, "bench", "decode.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ETH = struct.Struct("!6s6sH")
_PORTS = struct.Struct("!HH")


def independent_counts(frames):
    """The facilities' counters from a plain struct walk of the generated frames (Ethernet,
    maybe one 802.1Q tag, IPv4 without options or IPv6, TCP/UDP/ICMP, ARP)."""
    want = collections.Counter()
    for _, ifindex, _, _, data, n in frames:
        dst, src, etype = _ETH.unpack_from(data, 0)
        off = 14
        if etype == 0x8100:
            etype = _PORTS.unpack_from(data, 14)[1]
            off = 18
        proto = None
        if etype == 0x0800:
            family, proto, l4 = "ipv4", data[off + 9], off + (data[off] & 15) * 4
        elif etype == 0x86DD:
            family, proto, l4 = "ipv6", data[off + 6], off + 40
        else:
            family = "nonip"
        transport = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}.get(proto, "other_ip")
        group = "broadcast" if dst == b"\xff" * 6 else "multicast" if dst[0] & 1 else None
        for key in ("total", family, transport if proto is not None else None, group):
            if key is not None:
                want["detailed", key, "packets"] += 1
                want["detailed", key, "bytes"] += n
        for key in ("total", family):
            want["general", ifindex, key, "packets"] += 1
            want["general", ifindex, key, "bytes"] += n
        want["size", _size_bin(n)] += 1
        if proto in (6, 17):
            sport, dport = _PORTS.unpack_from(data, l4)
            port, way = (sport, "out") if sport < dport else (dport, "in")
            want["service", transport, port, way, "packets"] += 1
            want["service", transport, port, way, "bytes"] += n
        ip = int(family != "nonip")
        for mac, way in ((src, "out"), (dst, "in")):
            text = ":".join("%02x" % x for x in bytearray(mac))
            want["lan", ifindex, text, way, "packets"] += 1
            want["lan", ifindex, text, way, "bytes"] += n
            want["lan", ifindex, text, way, "ip_packets"] += ip
    return want


class GeneratedCaptureTest(unittest.TestCase):

    def test_facilities_agree_with_an_independent_count(self):
        count = int(os.environ.get("IPTRAF_BIG_FRAMES", "200000"))
        tmp = tempfile.mkdtemp(prefix="iptraf-counters-")
        self.addCleanup(shutil.rmtree, tmp)
        path = os.path.join(tmp, "generated.pcap")
        _bench_module().build_capture(path, count)
        o = options()
        sinks = (GeneralStats(o), DetailedStats(o), ServiceStats(o), SizeStats(o), LanStats(o))
        with open_capture(path) as reader:        # streamed: a million frames do not fit
            feed(sinks, reader.frames())
        got = our_counts(*sinks, ethernet={0})
        with open_capture(path) as reader:
            want = independent_counts(reader.frames())
        diff = {key: (want[key], got[key]) for key in set(want) | set(got)
                if want[key] != got[key]}
        self.assertEqual(diff, {})
        detailed = sinks[1].snapshot()
        self.assertEqual(detailed["counts"]["badip"]["packets"], 0)
        self.assertEqual(detailed["ip_checksum_errors"], 0)
        self.assertEqual(detailed["counts"]["total"]["packets"], count)
        self.assertGreater(detailed["counts"]["broadcast"]["packets"], 0)


if __name__ == "__main__":
    unittest.main()
