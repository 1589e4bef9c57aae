"""Flow export (netdecode.output.export): IPFIX, NetFlow v9 and v5.

Read back by a real collector, nfdump's nfcapd, from corpus captures, the bundled sample
and live traffic on a veth pair, and compared with the truth: Wireshark's per-frame
fields (the corpus truth) summed per flow, and the monitor's own counts.  The framing
(datagram sizes, templates, sequence numbers, timeouts and end reasons) is read here by
a small parser of the three formats, written from the RFCs.
"""
import collections
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import builders as b  # noqa: E402
import corpus  # noqa: E402
import netns  # noqa: E402
from collectors import Nfcapd, require_nfdump  # noqa: E402
from netdecode.accounting.flows import TrafficMonitor  # noqa: E402
from netdecode.accounting.tables import Options  # noqa: E402
from netdecode.capture.pcap import open_capture  # noqa: E402
from netdecode.decoding.decode import decode  # noqa: E402
from netdecode.decoding.packet import IP6_PLEN, IP_LEN  # noqa: E402
from netdecode.output.export import ExportError, FlowExport, parse_target  # noqa: E402
from netdecode.run.monitor import Monitor  # noqa: E402

IPTRAF = os.path.join(os.path.dirname(HERE), "iptraf.py")
SAMPLE = os.path.join(HERE, "data", "sample.pcap")
T0 = 1764000000 * 10**9
SEC = 10**9

# corpus captures with plain IPv4/IPv6 TCP, UDP and ICMP (no tunnels, no fragments), and
# what each holds
CORPUS_FILES = {
    "zeek__http_1000-requests-one-dropped-response.pcap": "IPv4 TCP, 1000 requests",
    "zeek__dns_mdns.pcap": "IPv4 and IPv6 UDP",
    "dpkt__dns_icmp.pcap": "IPv4 UDP and ICMP",
    "zeek__icmp_5-pings.pcap": "IPv4 ICMP echo",
    "tcpdump__icmpv6.pcap": "ICMPv6 of several types",
    "tcpdump__tcp-handshake-nano.pcap": "IPv4 TCP, nanosecond times",
}


class Receiver:
    """A UDP socket on 127.0.0.1 that keeps what arrives."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # room for a whole test's datagrams, sent in a burst (SO_RCVBUFFORCE: root)
        self.sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]

    def datagrams(self):
        out = []
        try:
            while True:
                out.append(self.sock.recv(65535))
        except socket.timeout:
            pass
        self.sock.close()
        return out


def parse(datagram, templates):
    """One IPFIX, v9 or v5 message: (header dict, [record dict]), reading templates into
    ``templates`` (template id -> [(ie, length)]) as they come."""
    version = struct.unpack_from("!H", datagram)[0]
    if version == 5:
        count, uptime, secs, nsecs, seq = struct.unpack_from("!HIIII", datagram, 2)
        records = []
        for i in range(count):
            (src, dst, _, ingress, _, packets, octets, first, last, sport, dport, flags,
             proto) = struct.unpack_from("!4s4s4sHHIIIIHHxBB", datagram, 24 + 48 * i)
            records.append({1: octets, 2: packets, 4: proto, 6: flags, 7: sport, 11: dport,
                            8: src, 12: dst, 10: ingress, 22: first, 21: last})
        header = {"version": 5, "count": count, "length": 24 + 48 * count,
                  "sequence": seq, "uptime": uptime, "secs": secs}
        return header, records
    if version == 10:
        _, length, secs, seq, _ = struct.unpack_from("!HHIII", datagram)
        header = {"version": 10, "length": length, "sequence": seq, "secs": secs}
        offset, template_set = 16, 2
    else:
        _, count, uptime, secs, seq, _ = struct.unpack_from("!HHIIII", datagram)
        header = {"version": 9, "count": count, "sequence": seq, "uptime": uptime,
                  "secs": secs, "length": len(datagram)}
        offset, template_set = 20, 0
    header["templates"] = 0
    records = []
    while offset + 4 <= len(datagram):
        set_id, set_len = struct.unpack_from("!HH", datagram, offset)
        body, end = offset + 4, offset + set_len
        if set_id == template_set:
            while body + 4 <= end:
                tid, n = struct.unpack_from("!HH", datagram, body)
                fields = [struct.unpack_from("!HH", datagram, body + 4 + 4 * i)
                          for i in range(n)]
                templates[tid] = fields
                header["templates"] += 1
                body += 4 + 4 * n
        else:
            fields = templates[set_id]
            size = sum(length for _, length in fields)
            while body + size <= end:
                record = {}
                for ie, length in fields:
                    raw = datagram[body:body + length]
                    record[ie] = raw if ie in (8, 12, 27, 28) else int.from_bytes(raw, "big")
                    body += length
                records.append(record)
        offset = end
    return header, records


def frames_of(packets, ts=T0, step=SEC // 100, ifindex=0):
    """(ts, ifindex, pkttype, linktype, data, wirelen) frames, ``step`` apart."""
    return [(ts + i * step, ifindex, None, 1, data, len(data))
            for i, data in enumerate(packets)]


def export_frames(frames, scheme="ipfix", active=1800.0, inactive=15.0, end=None):
    """Feed frames through a TrafficMonitor and a FlowExport to a local receiver; returns
    (parsed messages, the monitor, the exporter, raw datagrams)."""
    receiver = Receiver()
    traffic = TrafficMonitor(Options())
    export = FlowExport(traffic, [parse_target("%s://127.0.0.1:%d" % (scheme,
                                                                       receiver.port))],
                        active, inactive)
    monitor = Monitor([traffic, export], 1.0)
    monitor.feed(frames)
    monitor.finish()
    export.close(end if end is not None else monitor.last_ts)
    raw = receiver.datagrams()
    templates = {}
    return [parse(d, templates) for d in raw], traffic, export, raw


def _udp(i, payload=b"x" * 40, src="10.0.0.1", dst="10.0.0.2"):
    return b.eth(b.ip4(b.udp(payload, sport=1000 + i, dport=53), src=src, dst=dst,
                       proto=17))


class TargetTest(unittest.TestCase):

    def test_urls(self):
        t = parse_target("ipfix://127.0.0.1:4739")
        self.assertEqual((t.scheme, t.port, t.sockaddr[0]), ("ipfix", 4739, "127.0.0.1"))
        self.assertEqual(parse_target("netflow9://127.0.0.1").port, 2055)
        self.assertEqual(parse_target("netflow5://localhost:9/").port, 9)
        t = parse_target("ipfix://[::1]:4739")
        self.assertEqual((t.family, t.sockaddr[0]), (socket.AF_INET6, "::1"))

    def test_bad_urls_say_what_is_wrong(self):
        for url, words in (("sflow://x:1", "give ipfix://"), ("127.0.0.1:9", "give ipfix://"),
                           ("ipfix://127.0.0.1:0", "1 to 65535"),
                           ("ipfix://127.0.0.1:70000", "1 to 65535"),
                           ("ipfix://127.0.0.1:port", "1 to 65535"),
                           ("ipfix://:9", "no host"), ("ipfix://[::1", "[ADDRESS]:PORT"),
                           ("ipfix://no-such-host.invalid:9", "cannot resolve")):
            with self.assertRaises(ExportError) as cm:
                parse_target(url)
            self.assertIn(words, str(cm.exception), url)

    def test_command_line(self):
        for argv, words in ((["-i", "all", "--export", "x://y"], "give ipfix://"),
                            (["-g", "--export", "ipfix://127.0.0.1:9"], "give -i"),
                            (["-i", "all", "--export", "ipfix://127.0.0.1:9",
                              "--export-inactive", "0"], "more than 0")):
            proc = subprocess.run([sys.executable, IPTRAF, "-r", SAMPLE, "--json"] + argv,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(proc.returncode, 2)
            err = proc.stderr.decode()
            self.assertIn(words, err)
            self.assertEqual(err.count("\n"), 1, err)


class FramingTest(unittest.TestCase):

    def test_datagrams_templates_and_sequence_numbers(self):
        # 3000 one-packet flows, IPv4 and IPv6: many messages
        packets = []
        for i in range(1500):
            packets.append(_udp(i))
            packets.append(b.eth(b.ip6(b.udp(b"y" * 20, sport=2000 + i, dport=53),
                                       nxt=17), type=0x86DD))
        for scheme, version in (("ipfix", 10), ("netflow9", 9), ("netflow5", 5)):
            with self.subTest(scheme):
                messages, traffic, export, raw = export_frames(frames_of(packets), scheme)
                self.assertTrue(all(len(d) <= 1400 for d in raw))
                records = [r for _, rs in messages for r in rs]
                self.assertEqual(len(records), 1500 if version == 5 else 3000)
                self.assertEqual(sum(r[2] for r in records), len(records))
                headers = [h for h, _ in messages]
                self.assertTrue(all(h["version"] == version for h in headers))
                self.assertEqual([h["length"] for h in headers], [len(d) for d in raw])
                if version == 10:       # the data records sent before each message
                    seen = 0
                    for header, rs in messages:
                        self.assertEqual(header["sequence"], seen)
                        seen += len(rs)
                elif version == 9:      # the export packets
                    self.assertEqual([h["sequence"] for h in headers],
                                     list(range(len(headers))))
                    self.assertEqual([h["count"] for h in headers],
                                     [len(rs) + h["templates"] for h, rs in messages])
                else:                   # v5: the flows before each packet, 30 at most
                    seen = 0
                    for header, rs in messages:
                        self.assertEqual(header["sequence"], seen)
                        self.assertLessEqual(header["count"], 30)
                        seen += len(rs)
                    self.assertEqual(export.exporters[0].skipped, 1500)
                if version != 5:
                    # templates in the first message and in every 20th after it
                    with_templates = [i for i, (h, _) in enumerate(messages) if h["templates"]]
                    self.assertEqual(with_templates, list(range(0, len(messages), 20)))
                    self.assertTrue(all(h["templates"] in (0, 2) for h in headers))

    def test_templates_again_after_600_seconds(self):
        frames = [frames_of([_udp(i)], ts=T0 + at * SEC)[0] for i, at in enumerate((0, 100, 700))]
        # records go out at 100 s (the first, idle), 700 s (the second), and at the end
        messages, _, _, _ = export_frames(frames, inactive=50)
        self.assertEqual([h["templates"] for h, _ in messages], [2, 2, 0])

    def test_records_add_up_to_what_the_monitor_counted(self):
        ts_opt = b"\x01\x01\x08\x0a" + bytes(8)
        packets = []
        for i in range(200):
            packets.append(b.eth(b.ip4(b.tcp(bytes(i * 5), sport=40000, dport=443,
                                             flags="PA", options=ts_opt),
                                       src="10.0.0.1", dst="10.0.0.2")))
            packets.append(b.eth(b.ip4(b.tcp(b"", sport=443, dport=40000, flags="A"),
                                       src="10.0.0.2", dst="10.0.0.1")))
        packets.append(b.eth(b.ip4(b.icmp(bytes(56)), src="10.0.0.1", dst="10.0.0.2",
                                   proto=1)))
        packets.append(b.eth(b.ip4(b.icmp(bytes(56), type=0), src="10.0.0.2",
                                   dst="10.0.0.1", proto=1)))
        # active timeout 1 s over 4 s of packets: several records a direction
        messages, traffic, _, _ = export_frames(frames_of(packets), active=1.0)
        records = [r for _, rs in messages for r in rs]
        per_flow = collections.defaultdict(lambda: [0, 0, 0])
        for r in records:
            key = (r[8], r[7], r[12], r[11], r[4], r[32])
            per_flow[key][0] += r[2]
            per_flow[key][1] += r[1]
            per_flow[key][2] |= r[6]
        a, b_ = socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2")
        self.assertEqual(per_flow[(a, 40000, b_, 443, 6, 0)][:2],
                         [200, sum(20 + 32 + i * 5 for i in range(200))])
        self.assertEqual(per_flow[(b_, 443, a, 40000, 6, 0)], [200, 200 * 40, 0x10])
        self.assertEqual(per_flow[(a, 40000, b_, 443, 6, 0)][2], 0x18)
        self.assertEqual(per_flow[(a, 0, b_, 0, 1, 8 << 8)][:2], [1, 84])
        self.assertEqual(per_flow[(b_, 0, a, 0, 1, 0)][:2], [1, 84])
        reasons = collections.Counter(r[136] for r in records)
        self.assertGreater(reasons[2], 4)                   # active timeouts
        self.assertEqual(reasons[4], 2)                     # ICMP's, at the end
        # each direction's records follow one another in time, none overlapping
        starts = sorted((r[152], r[153]) for r in records
                        if (r[8], r[7]) == (a, 40000))
        self.assertTrue(all(s2 >= e1 for (_, e1), (s2, _) in zip(starts, starts[1:])))
        self.assertEqual(starts[0][0], T0 // 10**6)

    def test_idle_and_end_of_flow(self):
        packets = [
            b.eth(b.ip4(b.tcp(sport=5000, dport=80, flags="S"), src="10.0.0.1", dst="10.0.0.2")),
            b.eth(b.ip4(b.tcp(sport=80, dport=5000, flags="SA"), src="10.0.0.2", dst="10.0.0.1")),
            b.eth(b.ip4(b.tcp(sport=5000, dport=80, flags="FA", seq=1, ack=1),
                        src="10.0.0.1", dst="10.0.0.2")),
            _udp(1),
        ]
        frames = frames_of(packets, step=SEC // 10)
        # then a packet of another flow 30 s later: the UDP flow and the SYN-ACK's went idle
        frames += frames_of([_udp(2)], ts=T0 + 30 * SEC)
        messages, _, _, _ = export_frames(frames)
        records = [r for _, rs in messages for r in rs]
        by_port = {(r[7], r[4]): r for r in records}
        self.assertEqual(by_port[(5000, 6)][136], 3)         # a FIN went that way
        self.assertEqual(by_port[(5000, 6)][6], 0x13)        # S, A, F
        self.assertEqual(by_port[(80, 6)][136], 1)           # idle
        self.assertEqual(by_port[(1001, 17)][136], 1)
        self.assertEqual(by_port[(1002, 17)][136], 4)        # still going at the end

    def test_an_evicted_flow_goes_out_at_once(self):
        receiver = Receiver()
        traffic = TrafficMonitor(Options(max_entries=32))
        export = FlowExport(traffic, [parse_target("ipfix://127.0.0.1:%d" % receiver.port)])
        monitor = Monitor([traffic, export], 1.0)
        monitor.feed(frames_of([_udp(i) for i in range(100)], step=1000))
        self.assertGreater(traffic.evicted_flows, 0)
        monitor.finish()
        export.close(monitor.last_ts)
        templates = {}
        records = [r for d in receiver.datagrams() for r in parse(d, templates)[1]]
        self.assertEqual(len(records), 100)
        self.assertEqual(collections.Counter(r[136] for r in records)[5],
                         traffic.evicted_flows)

    def test_a_collector_that_is_not_there_is_counted(self):
        port = Receiver()                 # bound, then closed: nothing listens there
        port.sock.close()
        warned = []
        traffic = TrafficMonitor(Options())
        export = FlowExport(traffic, [parse_target("ipfix://127.0.0.1:%d" % port.port)],
                            warn=warned.append)
        monitor = Monitor([traffic, export], 1.0)
        monitor.feed(frames_of([_udp(i) for i in range(50)], step=SEC))
        monitor.finish()
        export.close(monitor.last_ts)
        (stats,) = export.stats()
        self.assertGreater(stats["errors"], 0)
        self.assertEqual(len(warned), 1)
        self.assertIn("counted", warned[0])


def _truth_flows(name):
    """Wireshark's fields of a capture summed per direction: (proto, src, sport, dst,
    dport, icmp type << 8 | code) -> [packets, IP bytes]."""
    flows = collections.defaultdict(lambda: [0, 0])
    for row in corpus.truth_rows(name):
        src, dst = row.get("ip.src") or row.get("ipv6.src"), row.get("ip.dst") or row.get("ipv6.dst")
        if not src:
            continue
        # the upper-layer protocol (IPv6: past the extension headers, as collectors and
        # flow exporters have it; the truth's ipv6.nxt is the fixed header's)
        if row.get("icmpv6.type"):
            proto = 58
        elif row.get("tcp.srcport") or row.get("udp.srcport"):
            proto = 6 if row.get("tcp.srcport") else 17
        else:
            proto = int(row.get("ip.proto") or row.get("ipv6.nxt"))
        octets = int(row["ip.len"]) if row.get("ip.len") else 40 + int(row["ipv6.plen"])
        sport = int(row.get("tcp.srcport") or row.get("udp.srcport") or 0)
        dport = int(row.get("tcp.dstport") or row.get("udp.dstport") or 0)
        kind = row.get("icmp.type") or row.get("icmpv6.type")
        code = row.get("icmp.code") or row.get("icmpv6.code")
        icmp = int(kind) << 8 | int(code) if kind else 0
        flow = flows[(proto, src, sport, dst, dport, icmp)]
        flow[0] += 1
        flow[1] += octets
    return dict(flows)


_PROTOS = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMP6": 58, "IGMP": 2}


def _collected(records):
    flows = collections.defaultdict(lambda: [0, 0])
    for r in records:
        proto = _PROTOS.get(r["proto"]) or int(r["proto"])
        flow = flows[(proto, r["src"], r["sport"], r["dst"], r["dport"], r["icmp"])]
        flow[0] += r["packets"]
        flow[1] += r["bytes"]
    return dict(flows)


class CollectorTest(unittest.TestCase):
    """nfcapd stores what the monitor exports; nfdump reads it back."""

    def setUp(self):
        require_nfdump(self)
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def collect(self, path, scheme, *flags):
        collector = Nfcapd(os.path.join(self.tmp.name, "%s-%s" % (scheme, os.path.basename(path))))
        self.addCleanup(collector.stop)
        proc = subprocess.run([sys.executable, IPTRAF, "-r", path, "-i", "all", "--json",
                               "--export", collector.url(scheme)] + list(flags),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout.decode()), collector.flows()

    def test_corpus_captures_read_back_exactly(self):
        if not corpus.available():
            self.skipTest("no shared corpus")
        for name, holds in corpus.sampled(sorted(CORPUS_FILES.items())):
            truth = _truth_flows(name)
            v4 = {k: v for k, v in truth.items() if ":" not in k[1]}
            for scheme in ("ipfix", "netflow9", "netflow5"):
                with self.subTest(name=name, holds=holds, scheme=scheme):
                    snap, records = self.collect(os.path.join(corpus.CORPUS, name), scheme)
                    self.assertEqual(_collected(records),
                                     v4 if scheme == "netflow5" else truth)
                    (stats,) = snap["export"]
                    self.assertEqual((stats["errors"], stats["records"]),
                                     (0, len(records)))

    def test_softflowd_reads_the_same_flows(self):
        """softflowd, a second exporter, on the same captures: the same flows, packets
        and bytes reach nfcapd (its times from a file are not usable)."""
        if not corpus.available():
            self.skipTest("no shared corpus")
        if shutil.which("softflowd") is None:
            if os.environ.get("CI") == "true":
                self.fail("softflowd is missing, and CI must run this test")
            self.skipTest("needs softflowd")
        for name in ("zeek__dns_mdns.pcap", "dpkt__dns_icmp.pcap",
                     "zeek__http_1000-requests-one-dropped-response.pcap"):
            with self.subTest(name):
                path = os.path.join(corpus.CORPUS, name)
                _, ours = self.collect(path, "ipfix")
                theirs = Nfcapd(os.path.join(self.tmp.name, "softflowd-" + name))
                self.addCleanup(theirs.stop)
                subprocess.run(["softflowd", "-r", path, "-n", "127.0.0.1:%d" % theirs.port,
                                "-v", "10", "-d"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=120, check=True)
                self.assertEqual(_collected(ours), _collected(theirs.flows()))

    def test_the_sample_with_its_times_and_flags(self):
        snap, records = self.collect(SAMPLE, "ipfix")
        (conn,) = [c for c in snap["tcp"] if c["a"] == "10.1.0.10:40000"]
        (out,) = [r for r in records if r["src"] == "10.1.0.10" and r["proto"] == "TCP"]
        self.assertEqual(out["packets"], conn["a_to_b"]["packets"])
        self.assertEqual(out["bytes"], conn["a_to_b"]["bytes"] - 14 * out["packets"])
        self.assertEqual(out["flags"], "...AP.SF")
        self.assertEqual(out["start"], "2025-11-24 16:00:00")
        self.assertAlmostEqual(out["duration"], conn["last"] - conn["first"], delta=0.05)


class LiveExportTest(netns.LiveTestCase):
    """Live traffic on a veth pair, exported from inside the namespace to an nfcapd
    there, against what the monitor counted and what its -w capture holds."""

    def test_live_flows_reach_the_collector(self):
        require_nfdump(self)
        pair = self.pair
        collector = Nfcapd(self.tmp.name, netns=pair.b)
        self.addCleanup(collector.stop)
        self.serve(8)
        capture = os.path.join(self.tmp.name, "live.pcap")
        proc = pair.popen(pair.b, [sys.executable, IPTRAF, "-i", pair.if_b, "--json",
                                   "--interval", "0.5", "-t", "4s", "-w", capture,
                                   "--export", collector.url("ipfix")])
        self.addCleanup(netns.reap, proc)
        time.sleep(1.0)
        pair.python(pair.a, netns.PEER, "client", pair.ip_b, pair.ip6_b, 3000)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        last = json.loads(out.decode().splitlines()[-1])
        records = collector.flows()
        self.assertEqual(last["export"][0]["errors"], 0)
        self.assertEqual(sum(r["packets"] for r in records), last["capture"]["packets"])
        # the bytes: IP lengths of the frames the monitor wrote with -w
        octets = 0
        with open_capture(capture) as reader:
            for frame in reader.frames():
                r = decode(*frame)
                octets += r[IP_LEN] if r[IP_LEN] is not None else 40 + (r[IP6_PLEN] or 0)
        self.assertEqual(sum(r["bytes"] for r in records), octets)
        tcp = [c for c in last["tcp"] if c["b"].endswith(":9001")]
        self.assertTrue(tcp)
        for conn in tcp:
            ends = [r for r in records if r["proto"] == "TCP"
                    and "%s:%d" % (r["src"] if ":" not in r["src"] else "[%s]" % r["src"],
                                   r["sport"]) == conn["a"]]
            self.assertEqual(sum(r["packets"] for r in ends), conn["a_to_b"]["packets"])


if __name__ == "__main__":
    unittest.main()
