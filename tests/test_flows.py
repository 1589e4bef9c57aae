"""The IP traffic monitor: TCP flag states, ageing, the other-traffic log, bounds."""
import os
import random
import struct
import sys
import tracemalloc
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import builders as b  # noqa: E402
from netdecode.decoding.decode import decode  # noqa: E402
from netdecode.accounting.flows import TrafficMonitor, icmp_text  # noqa: E402
from netdecode.accounting.tables import Options  # noqa: E402
from netdecode.decoding.packet import FIELDS, TCP_FLAGS, Packet  # noqa: E402

C, S = "10.0.0.1", "10.0.0.2"
SEC = 10**9
T0 = 1764000000 * SEC


class Conversation:
    """Feeds TCP segments between client C:40000 and server S:80 into a monitor."""

    def __init__(self, test, **options):
        self.mon = TrafficMonitor(Options(interface_name=lambda i: "eth%d" % i, **options))
        self.t = T0

    def seg(self, from_client, flags, seq=0, ack=0, data=b"", ifindex=0):
        src, dst, sport, dport = (C, S, 40000, 80) if from_client else (S, C, 80, 40000)
        frame = b.eth(b.ip4(b.tcp(data, sport=sport, dport=dport, flags=flags, seq=seq,
                                  ack=ack, win=1000 + len(data)), src=src, dst=dst))
        self.t += SEC // 100
        self.mon.add(decode(self.t, ifindex, None, 1, frame, len(frame)))
        return len(frame)

    def tick(self, seconds):
        self.t += int(seconds * SEC)
        self.mon.tick(self.t)

    def conns(self):
        return self.mon.snapshot()["tcp"]

    def flags(self):
        (conn,) = self.conns()
        return conn["a_to_b"]["flags"], conn["b_to_a"]["flags"]


class FlagStateTest(unittest.TestCase):

    def test_handshake_data_and_clean_close(self):
        c = Conversation(self)
        c.seg(True, "S", seq=100)
        self.assertEqual(c.flags(), ("S---", ""))
        c.seg(False, "SA", seq=500, ack=101)
        self.assertEqual(c.flags(), ("S---", "S-A-"))
        c.seg(True, "A", seq=101, ack=501)
        c.seg(True, "PA", seq=101, ack=501, data=b"x" * 10)
        self.assertEqual(c.flags(), ("-PA-", "S-A-"))
        c.seg(True, "FA", seq=111, ack=501)
        self.assertEqual(c.flags(), ("DONE", "S-A-"))
        c.seg(False, "A", seq=501, ack=111)          # acknowledges the data, not the FIN
        self.assertEqual(c.flags(), ("DONE", "--A-"))
        c.seg(False, "A", seq=501, ack=112)
        self.assertEqual(c.flags(), ("CLOSED", "--A-"))
        c.seg(False, "FA", seq=501, ack=112)
        self.assertEqual(c.flags(), ("CLOSED", "DONE"))
        c.seg(True, "A", seq=112, ack=502)
        self.assertEqual(c.flags(), ("CLOSED", "CLOSED"))
        (conn,) = c.conns()
        self.assertEqual((conn["a"], conn["b"], conn["iface"]), ("10.0.0.1:40000",
                                                                  "10.0.0.2:80", "eth0"))
        self.assertEqual((conn["a_to_b"]["packets"], conn["b_to_a"]["packets"]), (5, 4))
        self.assertFalse(conn["under_way"])
        self.assertEqual(conn["a_to_b"]["mac"], "02:00:00:00:00:01")

    def test_bytes_are_wire_lengths_and_size_window_are_the_latest(self):
        c = Conversation(self)
        sizes = [c.seg(True, "S"), c.seg(True, "PA", data=b"y" * 100)]
        (conn,) = c.conns()
        self.assertEqual(conn["a_to_b"]["bytes"], sum(sizes))
        self.assertEqual((conn["a_to_b"]["size"], conn["a_to_b"]["win"]), (sizes[1], 1100))

    def test_reset(self):
        c = Conversation(self)
        c.seg(True, "S", seq=1)
        c.seg(False, "RA", ack=2)
        self.assertEqual(c.flags(), ("S---", "RESET"))
        c.seg(False, "A")                             # RESET stays
        self.assertEqual(c.flags(), ("S---", "RESET"))

    def test_unanswered_syn(self):
        c = Conversation(self)
        for _ in range(3):
            c.seg(True, "S", seq=7)
        (conn,) = c.conns()
        self.assertEqual((conn["a_to_b"]["flags"], conn["a_to_b"]["packets"]), ("S---", 3))
        self.assertEqual(conn["b_to_a"]["packets"], 0)

    def test_simultaneous_close(self):
        c = Conversation(self)
        c.seg(True, "S", seq=10)
        c.seg(False, "SA", seq=20, ack=11)
        c.seg(True, "FA", seq=11, ack=21)
        c.seg(False, "FA", seq=21, ack=11)            # crossed: does not ack the FIN
        self.assertEqual(c.flags(), ("DONE", "DONE"))
        c.seg(True, "A", seq=12, ack=22)
        c.seg(False, "A", seq=22, ack=12)
        self.assertEqual(c.flags(), ("CLOSED", "CLOSED"))

    def test_mid_stream_connection_is_marked(self):
        c = Conversation(self)
        c.seg(False, "PA", seq=5000, ack=900, data=b"z")
        (conn,) = c.conns()
        self.assertTrue(conn["under_way"])
        self.assertEqual(conn["a"], "10.0.0.2:80")   # a is who sent the first packet seen

    def test_sequence_numbers_wrap(self):
        c = Conversation(self)
        c.seg(True, "FA", seq=0xFFFFFFFF, ack=1)
        c.seg(False, "A", seq=1, ack=0)               # 0xFFFFFFFF + 1 wraps to 0
        self.assertEqual(c.flags()[0], "CLOSED")

    def test_idle_then_removed(self):
        c = Conversation(self, idle_timeout=60, closed_lifetime=10)
        c.seg(True, "S")
        c.tick(59)
        self.assertEqual(c.flags(), ("S---", ""))
        c.tick(2)
        self.assertEqual(c.flags(), ("IDLE", ""))
        c.tick(9)
        self.assertEqual(c.conns(), [])

    def test_closed_removed_after_lifetime_and_flush(self):
        c = Conversation(self, closed_lifetime=5)
        c.seg(True, "S", seq=1)
        c.seg(False, "RA", ack=2)
        c.tick(4)
        self.assertEqual(len(c.conns()), 1)
        c.tick(1.5)
        self.assertEqual(c.conns(), [])
        c.seg(True, "S", seq=1)
        c.seg(False, "RA", ack=2)
        c.seg(True, "S", seq=1, ifindex=3)            # another interface: its own entry
        self.assertEqual(len(c.conns()), 2)
        c.mon.flush_closed()
        self.assertEqual([conn["iface"] for conn in c.conns()], ["eth3"])

    def test_ipv6_endpoints(self):
        mon = TrafficMonitor(Options())
        frame = b.eth(b.ip6(b.tcp(sport=1, dport=2), src="fd00::1", dst="fd00::2"),
                      type=0x86DD)
        mon.add(decode(T0, 0, None, 1, frame, len(frame)))
        (conn,) = mon.snapshot()["tcp"]
        self.assertEqual((conn["a"], conn["b"]), ("[fd00::1]:1", "[fd00::2]:2"))


class RoutesTest(unittest.TestCase):
    """The per-direction routes (a cache) change nothing: random conversations, with
    FINs, RSTs, IP options, two interfaces, IPv6 and expiry, counted the same as by the
    complete path alone."""

    def test_fin_after_both_ways_routed(self):
        c = Conversation(self)
        c.seg(True, "S", seq=100)
        c.seg(False, "SA", seq=500, ack=101)
        for i in range(3):
            c.seg(True, "PA", seq=101 + i, ack=501, data=b"x")
            c.seg(False, "PA", seq=501 + i, ack=102 + i, data=b"y")
        c.seg(True, "FA", seq=104, ack=504)
        c.seg(False, "A", seq=504, ack=105)
        self.assertEqual(c.flags(), ("CLOSED", "--A-"))
        (conn,) = c.conns()
        self.assertEqual((conn["a_to_b"]["packets"], conn["b_to_a"]["packets"]), (5, 5))

    def test_routed_equals_complete(self):
        rng = random.Random(5)
        ends = [("10.0.0.%d" % i, 1000 + i) for i in range(1, 5)] + [("10.0.0.1", 80)]
        mon = TrafficMonitor(Options(closed_lifetime=1, idle_timeout=2))
        ref = TrafficMonitor(Options(closed_lifetime=1, idle_timeout=2))
        t = T0
        routed = 0
        for i in range(6000):
            (src, sport), (dst, dport) = rng.sample(ends, 2)
            flags = rng.choice(["A", "PA", "S", "SA", "FA", "R", "RA"] if rng.random() < 0.05
                               else ["A", "PA"])
            if rng.random() < 0.1:
                ip = b.ip6(b.tcp(b"x" * rng.randrange(3), sport=sport, dport=dport,
                                 flags=flags, seq=i, ack=rng.randrange(i + 2)),
                           src="fd00::" + src[-1], dst="fd00::" + dst[-1])
                frame = b.eth(ip, type=0x86DD)
            else:
                # options where a header without them has its ports: those of another
                # connection between the same addresses, which must not be counted there
                options = (struct.pack("!HH", rng.choice(ends)[1], rng.choice(ends)[1])
                           if rng.random() < 0.1 else b"")
                frame = b.eth(b.ip4(b.tcp(b"x" * rng.randrange(3), sport=sport, dport=dport,
                                          flags=flags, seq=i, ack=rng.randrange(i + 2)),
                                    src=src, dst=dst, options=options))
            t += rng.randrange(SEC // 100) if i % 1500 != 999 else 5 * SEC   # all expire
            record = decode(t, rng.choice((0, 0, 0, 1)), None, 1, frame, len(frame))
            mon.add(record)
            ref._tcp(record, record[TCP_FLAGS])
            self.assertEqual(mon.touched[0], ref.touched[0])
            self.assertEqual(mon.touched[1] is mon.touched[2], ref.touched[1] is ref.touched[2])
            if i % 500 == 499:
                routed = max(routed, len(mon._routes))
                mon.tick(t)
                ref.tick(t)
        self.assertGreater(routed, 0)
        self.assertEqual(mon.snapshot(), ref.snapshot())


    def test_routes_only_where_they_serve_and_never_taken_in_turns(self):
        mon = TrafficMonitor(Options())
        with_options = b.eth(b.ip4(b.tcp(b"x", sport=1000, dport=80, flags="PA"),
                                   options=b"\x01\x01\x01\x00"))
        plain = b.eth(b.ip4(b.tcp(b"x", sport=1001, dport=80, flags="PA")))
        for i in range(6):
            mon.add(decode(T0 + i, 0, None, 1, with_options, len(with_options)))
        self.assertEqual(mon._routes, {})       # the fast path reads a 20-byte header only
        for i in range(6):                      # the same packets on a VLAN and its parent
            mon.add(decode(T0 + i, i % 2, None, 1, plain, len(plain)))
        (route,) = mon._routes.values()
        self.assertEqual(route[3], 0)           # the first interface keeps its route
        halves = [c["a_to_b"]["packets"] for c in mon.snapshot()["tcp"]]
        self.assertEqual(halves, [6, 3, 3])


class OtherTrafficTest(unittest.TestCase):

    def feed(self, mon, frame, ts=T0):
        mon.add(decode(ts, 0, None, 1, frame, len(frame)))

    def test_log_lines_and_flows(self):
        mon = TrafficMonitor(Options(log_lines=3, interface_name=lambda i: "lo"))
        dns = b.eth(b.ip4(b.udp(b"q" * 20, sport=5353, dport=53), proto=17))
        for _ in range(5):
            self.feed(mon, dns)
        self.feed(mon, b.eth(b.ip4(b.icmp(type=3, code=3), proto=1)))
        self.feed(mon, b.eth(b.arp(op=1, spa="10.0.0.1", tpa="10.0.0.9"), type=0x0806, pad=True))
        self.feed(mon, b.eth(b.ip4(b.gre(b.ip4(b.tcp(sport=1, dport=2))), proto=47)))
        snap = mon.snapshot()
        self.assertEqual(snap["tcp"], [])             # the tunnelled TCP is the tunnel's
        self.assertEqual([o["text"] for o in snap["other"]], [
            "dest unreachable (port)", "ARP request: who-has 10.0.0.9 tell 10.0.0.1",
            "GRE carrying TCP"])
        udp = [f for f in snap["flows"] if f["proto"] == "UDP"]
        self.assertEqual(len(udp), 1)
        self.assertEqual((udp[0]["packets"], udp[0]["bytes"]), (5, 5 * len(dns)))
        self.assertEqual({udp[0]["a"], udp[0]["b"]}, {"10.0.0.1:5353", "10.0.0.2:53"})

    def test_a_tunnel_counts_its_outer_flow_and_shows_the_inner_one(self):
        mon = TrafficMonitor(Options(interface_name=lambda i: "eth0"))
        inner = b.eth(b.ip4(b.tcp(b"GET", sport=40001, dport=80, flags="PA"),
                            src="10.9.0.1", dst="10.9.0.2"), src="02:09:00:00:00:01")
        vxlan = b.eth(b.ip4(b.udp(b.vxlan(inner), sport=50000, dport=4789), proto=17))
        ping6 = b.ip6(b.icmp6(type=128), src="fd00:9::1", dst="fd00:9::2", nxt=58)
        gtp = b.eth(b.ip4(b.udp(b.gtpu(ping6), sport=2152, dport=2152), proto=17))
        plain = b.eth(b.ip4(b.udp(b"q", sport=5353, dport=53), proto=17))
        for frame in (vxlan, vxlan, gtp, plain):
            self.feed(mon, frame)
        snap = mon.snapshot()
        self.assertEqual(snap["tcp"], [])
        other = snap["other"]
        self.assertEqual([o["text"] for o in other], [
            "VXLAN carrying TCP", "VXLAN carrying TCP", "GTP-U carrying ICMPv6", "UDP"])
        self.assertEqual(other[0]["inner"], {"tunnel": "VXLAN", "proto": "TCP",
                                             "src": "10.9.0.1:40001", "dst": "10.9.0.2:80"})
        self.assertEqual(other[2]["inner"], {"tunnel": "GTP-U", "proto": "ICMPv6",
                                             "src": "fd00:9::1", "dst": "fd00:9::2"})
        self.assertNotIn("inner", other[3])
        # the outer flow, as iptraf counts it: both tunnels between the same two hosts,
        # with the inner flow of the latest tunnelled packet
        (tunnels,) = [f for f in snap["flows"] if f["a"] == "10.0.0.1"]
        self.assertEqual((tunnels["proto"], tunnels["b"], tunnels["packets"]),
                         ("UDP", "10.0.0.2", 3))
        self.assertEqual(tunnels["inner"], other[2]["inner"])
        (dns,) = [f for f in snap["flows"] if f["a"] != "10.0.0.1"]
        self.assertNotIn("inner", dns)

    def test_icmp_names(self):
        self.assertEqual(icmp_text(8, 0), "echo request")
        self.assertEqual(icmp_text(11, 0), "time exceeded (in transit)")
        self.assertEqual(icmp_text(99, 1), "ICMP type 99 code 1")

    def test_log_is_bounded(self):
        mon = TrafficMonitor(Options(log_lines=100))
        frame = b.eth(b.ip4(b.udp(sport=1, dport=2), proto=17))
        for _ in range(1000):
            self.feed(mon, frame)
        self.assertLessEqual(len(mon.log), 200)
        self.assertEqual(len(mon.snapshot()["other"]), 100)


class PageTest(unittest.TestCase):
    """A screen asks for one page of the TCP and flow tables: each page is the slice of
    the whole table in that order."""

    def test_pages_are_slices_of_the_whole(self):
        rng = random.Random(3)
        tm = TrafficMonitor(Options())
        for i in range(400):
            src = "10.0.%d.%d" % (rng.randrange(4), rng.randrange(1, 255))
            if rng.random() < 0.6:
                data = b.eth(b.ip4(b.tcp(b"x" * rng.randrange(100), sport=rng.randrange(
                    1024, 1100), dport=80, flags=rng.choice(["S", "PA", "A"])), src=src))
            else:
                data = b.eth(b.ip4(b.udp(b"y" * rng.randrange(100), sport=53, dport=rng.randrange(
                    1024, 1100)), src=src, proto=17))
            tm.add(decode(i * 10**6, 1, 0, 1, data, len(data)))
        whole = tm.snapshot()
        ident = lambda c: (c["a"], c["b"])  # noqa: E731
        for order, key in ((None, None),
                           ("packets", lambda c: -(c["a_to_b"]["packets"]
                                                   + c["b_to_a"]["packets"])),
                           ("bytes", lambda c: -(c["a_to_b"]["bytes"] + c["b_to_a"]["bytes"]))):
            ranked = sorted(whole["tcp"], key=key) if key else whole["tcp"]
            for start, count in ((0, 5), (7, 9), (len(ranked) - 2, 9), (len(ranked) + 3, 2)):
                page = tm.snapshot(tcp_page=(order, start, count))
                self.assertEqual(page["tcp_total"], len(ranked))
                got = [ident(c) for c in page["tcp"]]
                want = [ident(c) for c in ranked[start:start + count]]
                if key is None:
                    self.assertEqual(got, want)
                else:     # equal totals may come in either order
                    self.assertEqual([key(c) for c in page["tcp"]],
                                     [key(c) for c in ranked[start:start + count]])
        flows = whole["flows"]
        page = tm.snapshot(flows_page=(None, 3, 6))
        self.assertEqual(page["flows_total"], len(flows))
        self.assertEqual([f["bytes"] for f in page["flows"]],
                         [f["bytes"] for f in flows[3:9]])
        self.assertEqual(tm.snapshot(flows_page=(None, 0, 0))["flows"], [])
        log = whole["other"]
        page = tm.snapshot(other_page=(None, len(log) - 4, 10))
        self.assertEqual(page["other_total"], len(log))
        self.assertEqual(page["other"], log[-4:])
        self.assertEqual(tm.snapshot(other_page=(None, 0, 0))["other"], [])


class BoundsTest(unittest.TestCase):
    """A SYN flood from random sources: the table stays at its cap, evictions counted."""

    def syn_records(self, count, seed=7):
        rng = random.Random(seed)
        tail = (None,) * (len(FIELDS) - 10)
        base = Packet._make((T0, 0, None, 1, 60, b"") + (None,) * (len(FIELDS) - 6))
        base = base._replace(eth_src=b"\x02" * 6, eth_dst=b"\x04" * 6, ethertype=0x800,
                             ip_dst=b"\x0a\x00\x00\x02", ip_len=40, ip_proto=6, proto=6,
                             dport=80,
                             tcp_flags=2, tcp_win=1024, tcp_seq=1, tcp_ack=0, tcp_len=0)
        del tail
        getrandbits = rng.getrandbits
        for i in range(count):
            yield base._replace(ts=T0 + i, ip_src=getrandbits(32).to_bytes(4, "big"),
                                sport=getrandbits(16))

    def test_flood_stays_at_cap(self):
        count = int(os.environ.get("IPTRAF_FLOOD_SYNS", "1000000"))
        mon = TrafficMonitor(Options(max_entries=100000))
        add = mon.add
        for record in self.syn_records(count):
            add(tuple(record))
        self.assertLessEqual(len(mon.tcp), 100000)
        self.assertEqual(len(mon.tcp) + mon.evicted_tcp, count)

    def test_bytes_per_connection(self):
        """Everything the table keeps per connection, with records decoded from real
        frames (each with its own address and MAC objects, as in a live flood): the dict
        slot, the key and the objects it holds, the entry and its half."""
        rng = random.Random(11)
        template = b.eth(b.ip4(b.tcp(sport=1, dport=80, flags="S", win=29200),
                               src="10.0.0.1", dst="10.0.0.2"))
        mon = TrafficMonitor(Options(max_entries=200000))
        count = 50000

        def frames():
            for i in range(count):
                data = (template[:26] + rng.getrandbits(32).to_bytes(4, "big")
                        + template[30:34] + rng.getrandbits(16).to_bytes(2, "big")
                        + template[36:])
                yield decode(T0 + i, 0, None, 1, data, len(data))

        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for record in frames():
                mon.add(record)
            used = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        self.assertEqual(len(mon.tcp), count)
        per_conn = used / count
        # 400 was the target, 390 reached; flow export's two fields per direction (IP
        # bytes and the OR of the flags) made it 406, and the attack detector 473: a
        # bare SYN's attempt waits 5 s in its queue (three slots) to be judged, and its
        # source joins its destination's SYN window (a set, up to 65,536 sources;
        # every one of these 50,000 SYNs goes to one server).  Before 3.8 every tracked
        # object carried an 8-byte larger GC header (bpo-33597), three per connection
        ceiling = 480 if sys.version_info >= (3, 8) else 510
        self.assertLess(per_conn, ceiling, "%.0f bytes per connection" % per_conn)

if __name__ == "__main__":
    unittest.main()
