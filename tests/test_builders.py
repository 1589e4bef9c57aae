"""Self-test of tests/builders.py, independent of the project's decoder.

The byte layouts are checked directly, and the frames are read back by
tshark (when it is on PATH) with checksum validation switched on: every
checksum must read "Good" and the fields must read as built.  Without
tshark the tshark tests are skipped, except on CI (CI=true), where they
fail.
"""

import decimal
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import builders as b  # noqa: E402

S4, D4 = "10.0.0.1", "10.0.0.2"
S6, D6 = "fd00::1", "fd00::2"

# Checksum status values of Wireshark's *.checksum.status fields.
GOOD, BAD = "1", "0"

_TSHARK_PREFS = (
    "ip.check_checksum:TRUE",
    "tcp.check_checksum:TRUE",
    "udp.check_checksum:TRUE",
    "sctp.checksum:CRC 32c",
    "ip.defragment:FALSE",
    "tcp.relative_sequence_numbers:FALSE",
)


def udp4(payload=b"data", dport=5001):
    return b.ip4(b.udp(payload, sport=40000, dport=dport, src=S4, dst=D4),
                 proto=17)


def udp6(payload=b"data", dport=5001):
    return b.ip6(b.udp(payload, sport=40000, dport=dport, src=S6, dst=D6),
                 nxt=17)


class LayoutTest(unittest.TestCase):
    """Byte-level checks that need no external tool."""

    def test_inet_checksum(self):
        # RFC 1071 section 3 example: the sum is 0xddf2.
        self.assertEqual(b.inet_checksum(bytes.fromhex("0001f203f4f5f6f7")),
                         ~0xDDF2 & 0xFFFF)
        self.assertEqual(b.inet_checksum(b"\0\0\0"), 0xFFFF)
        self.assertEqual(b.inet_checksum(b"\x01"), 0xFEFF)
        self.assertEqual(b.inet_checksum(b"\xff\xff"), 0)
        header = b.ip4(b"", options=b"\x94\x04\0\0")[:24]
        self.assertEqual(b.inet_checksum(header), 0)

    def test_crc32c(self):
        self.assertEqual(b.crc32c(b"123456789"), 0xE3069283)

    def test_addresses(self):
        self.assertEqual(b.mac("aa:bb:cc:dd:ee:ff"), bytes.fromhex("aabbccddeeff"))
        self.assertEqual(b.mac("aa-bb-cc-dd-ee-ff"), bytes.fromhex("aabbccddeeff"))
        self.assertEqual(b.mac(b"\1" * 6), b"\1" * 6)
        self.assertEqual(b.ip("10.0.0.1"), b"\x0a\0\0\x01")
        self.assertEqual(b.ip("fd00::1"), b"\xfd" + bytes(14) + b"\x01")
        self.assertEqual(b.ip(b"\1\2\3\4"), b"\1\2\3\4")

    def test_vlan_tags_shorthand_is_nesting(self):
        inner = udp4()
        nested = b.eth(b.vlan(b.vlan(inner, vid=200, pcp=3), vid=100,
                              type=0x8100), type=0x88A8)
        self.assertEqual(b.eth(inner, tags=[(0x88A8, 100), (0x8100, 200, 3)]),
                         nested)
        self.assertEqual(nested[12:22], bytes.fromhex("88a8 0064 8100 60c8 0800"
                                                      .replace(" ", "")))

    def test_header_sizes(self):
        self.assertEqual(len(b.sll(b"")), 16)
        self.assertEqual(len(b.sll2(b"")), 20)
        self.assertEqual(len(b.null(b"")), 4)
        self.assertEqual(b.null(b"", 30), b"\x1e\0\0\0")
        self.assertEqual(b.null(b"", 30, big_endian=True), b"\0\0\0\x1e")
        self.assertEqual(b.loop(b"", 24), b"\0\0\0\x18")
        self.assertEqual(b.ppp(b""), b"\xff\x03\x00\x21")
        self.assertEqual(b.ppp(b"", 0x0057, hdlc=False), b"\x00\x57")
        self.assertEqual(len(b.radiotap_80211(b"")), 8 + 24 + 8)
        self.assertEqual(len(b.vxlan(b"")), 8)
        self.assertEqual(len(b.jumbo_hopopts(b"", 17)), 8)
        self.assertEqual(len(b.eth(b"", pad=True)), 60)
        for n in range(20):
            header = b.hopopts(b"", 17, options=b"\x1e" + bytes(n))
            self.assertEqual(len(header) % 8, 0)
            self.assertEqual(header[1], len(header) // 8 - 1)

    def test_overrides(self):
        packet = b.ip4(b"xyz", ihl=4, length=99, checksum=0xBEEF, version=5,
                       frag=5, mf=True)
        self.assertEqual(packet[0], 0x54)
        self.assertEqual(struct.unpack("!HHHBBH", packet[2:12]),
                         (99, 0, 0x2005, 64, 6, 0xBEEF))
        segment = b.tcp(doff=3, flags="FSRPAUECN", checksum=7)
        self.assertEqual(struct.unpack("!HH", segment[12:14] + segment[16:18]),
                         (0x31FF, 7))
        self.assertEqual(b.udp(b"ab", length=3)[4:6], b"\0\x03")

    def test_mpls_bottom_of_stack(self):
        stack = b.mpls(b"", labels=[(16, 1, 64), (17, 0, 63), 18])
        self.assertEqual(struct.unpack("!III", stack),
                         ((16 << 12) | (1 << 9) | 64, (17 << 12) | 63,
                          (18 << 12) | (1 << 8) | 64))

    def test_capture_file_layouts(self):
        frames = [b"\1" * 5, (3000000123, b"\2" * 8), (4 * 10 ** 9, b"\3", 60)]
        data = b.pcap_bytes(frames, nanosecond=True, big_endian=True, linktype=9)
        self.assertEqual(struct.unpack(">IHHiIII", data[:24]),
                         (0xA1B23C4D, 2, 4, 0, 0, 262144, 9))
        self.assertEqual(struct.unpack(">IIII", data[24 + 16 + 5:24 + 32 + 5]),
                         (3, 123, 8, 8))
        data = b.pcapng_bytes(frames)
        offset, types = 0, []
        while offset < len(data):
            btype, length = struct.unpack_from("<II", data, offset)
            self.assertEqual(length % 4, 0)
            self.assertEqual(struct.unpack_from("<I", data, offset + length - 4)[0],
                             length)
            types.append(btype)
            offset += length
        self.assertEqual(offset, len(data))
        self.assertEqual(types, [0x0A0D0D0A, 1, 6, 6, 6])


class TsharkTest(unittest.TestCase):
    """Frames read back by tshark with checksum validation on."""

    def setUp(self):
        self.tshark = shutil.which("tshark")
        if self.tshark is None:
            if os.environ.get("CI") == "true":
                self.fail("tshark is missing: install it (Debian/Ubuntu: "
                          "apt-get install tshark) to check the builders")
            self.skipTest("tshark is not on PATH")
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.files = 0

    def read(self, data, fields, suffix=".pcap"):
        """Rows of tshark -T fields for the capture file bytes in data, each
        a dict field -> text (occurrences joined by ",", booleans as 1/0)."""
        self.files += 1
        path = os.path.join(self.tmp, "f%d%s" % (self.files, suffix))
        with open(path, "wb") as out:
            out.write(data)
        command = [self.tshark, "-n", "-r", path, "-T", "fields",
                   "-E", "separator=|", "-E", "occurrence=a",
                   "-E", "aggregator=,"]
        for pref in _TSHARK_PREFS:
            command += ["-o", pref]
        for field in fields:
            command += ["-e", field]
        # A private configuration directory keeps the user's preferences out.
        env = dict(os.environ, WIRESHARK_CONFIG_DIR=self.tmp)
        proc = subprocess.run(command, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, timeout=120)
        if proc.returncode:
            self.fail("tshark failed (%d): %s" % (
                proc.returncode, proc.stderr.decode("utf-8", "replace")))
        rows = []
        for line in proc.stdout.decode("utf-8").splitlines():
            values = [",".join({"True": "1", "False": "0"}.get(v, v)
                               for v in value.split(","))
                      for value in line.split("|")]
            rows.append(dict(zip(fields, values)))
        return rows

    def check(self, rows, expected):
        self.assertEqual(len(rows), len(expected))
        for i, (row, want) in enumerate(zip(rows, expected)):
            for field, value in want.items():
                self.assertEqual(row[field], value,
                                 "frame %d field %s: %r" % (i + 1, field, row))

    def test_ethernet_ip_tcp(self):
        mss = b"\x02\x04\x05\xb4"
        frames = [
            b.eth(b.ip4(b.tcp(sport=40000, dport=5001, seq=1000, flags="S",
                              options=mss, src=S4, dst=D4),
                        src=S4, dst=D4, df=True, ident=1)),
            b.eth(b.ip4(b.tcp(b"hello", sport=40000, dport=5001, seq=1001,
                              ack=7, flags="PA", win=512, src=S4, dst=D4),
                        src=S4, dst=D4)),
            b.eth(b.ip6(b.tcp(b"hello6", sport=40001, dport=5002, flags="APN",
                              src=S6, dst=D6), src=S6, dst=D6), type=0x86DD),
            b.eth(b.ip4(b.tcp(flags="R", src=S4, dst=D4)), pad=True),
            b.eth(b.ip4(b.tcp(flags=0x12, src=S4, dst=D4, checksum=1),
                        checksum=2)),
        ]
        fields = ["ip.checksum.status", "tcp.checksum.status", "tcp.srcport",
                  "tcp.dstport", "tcp.flags", "tcp.len", "tcp.hdr_len",
                  "tcp.seq", "tcp.ack", "tcp.window_size_value",
                  "tcp.options.mss_val", "ip.len", "ipv6.plen",
                  "ip.flags.df", "frame.len"]
        rows = self.read(b.pcap_bytes(frames), fields)
        for row in rows:
            row["tcp.flags"] = "%#x" % int(row["tcp.flags"], 16)
        self.check(rows, [
            {"ip.checksum.status": GOOD, "tcp.checksum.status": GOOD,
             "tcp.srcport": "40000", "tcp.dstport": "5001",
             "tcp.flags": "0x2", "tcp.len": "0", "tcp.hdr_len": "24",
             "tcp.seq": "1000", "tcp.options.mss_val": "1460",
             "ip.len": "44", "ip.flags.df": "1"},
            {"ip.checksum.status": GOOD, "tcp.checksum.status": GOOD,
             "tcp.flags": "0x18", "tcp.len": "5", "tcp.hdr_len": "20",
             "tcp.seq": "1001", "tcp.ack": "7",
             "tcp.window_size_value": "512", "ip.len": "45",
             "ip.flags.df": "0"},
            {"tcp.checksum.status": GOOD, "tcp.srcport": "40001",
             "tcp.flags": "0x118", "tcp.len": "6", "ipv6.plen": "26"},
            {"ip.checksum.status": GOOD, "tcp.checksum.status": GOOD,
             "tcp.flags": "0x4", "ip.len": "40", "frame.len": "60"},
            {"ip.checksum.status": BAD, "tcp.checksum.status": BAD,
             "tcp.flags": "0x12"},
        ])

    def test_vlan_ip6_udp(self):
        frames = [
            b.eth(b.vlan(udp6(b"abc", 5002), vid=200, pcp=5, type=0x86DD),
                  type=0x8100),
            b.eth(udp6(b"abc", 5002), tags=[(0x88A8, 100), (0x8100, 200, 3)],
                  type=0x86DD),
            b.eth(b.vlan(udp4(b"v4", 5003), vid=4094), type=0x8100),
        ]
        fields = ["ieee8021ad.id", "vlan.id", "vlan.priority",
                  "udp.checksum.status",
                  "udp.dstport", "udp.length", "ipv6.plen", "ip.checksum.status"]
        self.check(self.read(b.pcap_bytes(frames), fields), [
            {"ieee8021ad.id": "", "vlan.id": "200", "vlan.priority": "5",
             "udp.dstport": "5002",
             "udp.checksum.status": GOOD, "udp.length": "11",
             "ipv6.plen": "11"},
            {"ieee8021ad.id": "100", "vlan.id": "200", "vlan.priority": "3",
             "udp.checksum.status": GOOD, "udp.length": "11"},
            {"vlan.id": "4094", "udp.dstport": "5003",
             "udp.checksum.status": GOOD, "ip.checksum.status": GOOD},
        ])

    def test_arp_and_rarp(self):
        mac1, mac2 = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
        frames = [
            b.eth(b.arp(op=1, sha=mac1, spa="192.0.2.1", tpa="192.0.2.2"),
                  dst="ff:ff:ff:ff:ff:ff", type=0x0806),
            b.eth(b.arp(op=2, sha=mac2, spa="192.0.2.2", tha=mac1,
                        tpa="192.0.2.1"), type=0x0806),
            b.eth(b.arp(op=3, sha=mac1, spa="0.0.0.0", tha=mac1,
                        tpa="0.0.0.0"), type=0x8035),
        ]
        fields = ["arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4",
                  "arp.dst.hw_mac", "arp.dst.proto_ipv4"]
        self.check(self.read(b.pcap_bytes(frames), fields), [
            {"arp.opcode": "1", "arp.src.hw_mac": mac1,
             "arp.src.proto_ipv4": "192.0.2.1",
             "arp.dst.hw_mac": "00:00:00:00:00:00",
             "arp.dst.proto_ipv4": "192.0.2.2"},
            {"arp.opcode": "2", "arp.src.hw_mac": mac2, "arp.dst.hw_mac": mac1},
            {"arp.opcode": "3", "arp.dst.hw_mac": mac1},
        ])

    def test_ip4_options_and_fragments(self):
        datagram = b.udp(b"0123456789abcdef", sport=40000, dport=5004,
                         src=S4, dst=D4)
        frames = [
            b.eth(b.ip4(b.udp(b"ra", dport=5004, src=S4, dst=D4), proto=17,
                        options=b"\x94\x04\x00\x00")),
            b.eth(b.ip4(b.udp(b"nop", dport=5004, src=S4, dst=D4), proto=17,
                        options=b"\x01\x01\x01", ttl=1, tos=0xB8)),
            b.eth(b.ip4(datagram[:16], proto=17, ident=77, mf=True)),
            b.eth(b.ip4(datagram[16:], proto=17, ident=77, frag=2)),
        ]
        fields = ["ip.hdr_len", "ip.len", "ip.checksum.status", "ip.opt.type",
                  "ip.id", "ip.flags.mf", "ip.frag_offset", "ip.ttl",
                  "ip.dsfield", "udp.checksum.status"]
        rows = self.read(b.pcap_bytes(frames), fields)
        self.check(rows, [
            {"ip.hdr_len": "24", "ip.len": "34", "ip.checksum.status": GOOD,
             "ip.opt.type": "148", "udp.checksum.status": GOOD},
            {"ip.hdr_len": "24", "ip.checksum.status": GOOD,
             "ip.opt.type": "1,1,1,0", "ip.ttl": "1",
             "udp.checksum.status": GOOD},
            {"ip.checksum.status": GOOD, "ip.id": "0x004d", "ip.flags.mf": "1",
             "ip.frag_offset": "0", "ip.len": "36"},
            {"ip.checksum.status": GOOD, "ip.id": "0x004d", "ip.flags.mf": "0",
             "ip.len": "28"},
        ])
        self.assertEqual(int(rows[1]["ip.dsfield"], 16), 0xB8)
        # Wireshark versions differ: the offset in 8-byte units or in bytes.
        self.assertIn(rows[3]["ip.frag_offset"], ("2", "16"))

    def test_icmp_icmp6_igmp(self):
        frames = [
            b.eth(b.ip4(b.icmp(b"ping", rest=b"\x12\x34\x00\x01"), proto=1)),
            b.eth(b.ip6(b.icmp6(b"ping6", src=S6, dst=D6), nxt=58),
                  type=0x86DD),
            b.eth(b.ip4(b.igmp(0x16, group="239.1.2.3"), proto=2,
                        dst="239.1.2.3", ttl=1)),
            b.eth(b.ip4(b.icmp(b"odd", type=0, checksum=1), proto=1)),
        ]
        fields = ["icmp.checksum.status", "icmp.type", "icmp.ident",
                  "icmp.seq", "icmpv6.checksum.status", "icmpv6.type",
                  "igmp.checksum.status", "igmp.type", "igmp.maddr"]
        self.check(self.read(b.pcap_bytes(frames), fields), [
            {"icmp.checksum.status": GOOD, "icmp.type": "8",
             "icmp.ident": "4660", "icmp.seq": "1"},
            {"icmpv6.checksum.status": GOOD, "icmpv6.type": "128"},
            {"igmp.checksum.status": GOOD, "igmp.type": "0x16",
             "igmp.maddr": "239.1.2.3"},
            {"icmp.checksum.status": BAD, "icmp.type": "0"},
        ])

    def test_gre(self):
        inner = b.ip4(b.icmp(b"x"), src="192.0.2.1", dst="192.0.2.2", proto=1)
        frames = [
            b.eth(b.ip4(b.gre(udp4(b"in gre"), checksum=True, key=5, seq=7),
                        proto=47)),
            b.eth(b.ip4(b.gre(b.ppp(inner), version=1, key=9, seq=1, ack=3),
                        proto=47)),
            b.eth(b.ip4(b.gre(inner), proto=47)),
        ]
        fields = ["gre.checksum.status", "gre.key", "gre.sequence_number",
                  "gre.ack_number", "gre.key.call_id", "gre.key.payload_length",
                  "gre.proto", "ppp.protocol", "ip.checksum.status",
                  "udp.checksum.status", "icmp.checksum.status"]
        self.check(self.read(b.pcap_bytes(frames), fields), [
            {"gre.checksum.status": GOOD, "gre.key": "0x00000005",
             "gre.sequence_number": "7", "gre.proto": "0x0800",
             "ip.checksum.status": "1,1", "udp.checksum.status": GOOD},
            {"gre.key.call_id": "9", "gre.key.payload_length": "33",
             "gre.sequence_number": "1", "gre.ack_number": "3",
             "gre.proto": "0x880b", "ppp.protocol": "0x0021",
             "ip.checksum.status": "1,1", "icmp.checksum.status": GOOD},
            {"gre.proto": "0x0800", "ip.checksum.status": "1,1",
             "icmp.checksum.status": GOOD},
        ])

    def test_mpls_pppoe_llc_vxlan_sctp(self):
        chunk = struct.pack("!BBHIHHI", 0, 3, 20, 1, 0, 0, 0) + b"data"
        frames = [
            b.eth(b.mpls(udp4(), labels=[(16, 1, 64), (17, 0, 63)]),
                  type=0x8847),
            b.eth(b.pppoe_session(udp4(), session=0x1234), type=0x8864),
            b.eth8023(b.llc(b.snap(udp4(), type=0x0800), 0xAA, 0xAA)),
            b.eth(b.ip4(b.udp(b.vxlan(b.eth(udp4(b"inner", 5005)), vni=42),
                              sport=40000, dport=4789, src=S4, dst=D4),
                        proto=17)),
            b.eth(b.ip4(b.sctp(chunk, sport=5000, dport=5001,
                               vtag=0x11223344), proto=132)),
        ]
        fields = ["mpls.label", "mpls.exp", "mpls.bottom", "mpls.ttl",
                  "pppoe.session_id", "pppoe.payload_length", "llc.type",
                  "eth.len", "vxlan.vni", "sctp.checksum.status",
                  "sctp.srcport", "sctp.verification_tag",
                  "ip.checksum.status", "udp.checksum.status", "udp.dstport"]
        rows = self.read(b.pcap_bytes(frames), fields)
        self.check(rows, [
            {"mpls.label": "16,17", "mpls.exp": "1,0", "mpls.bottom": "0,1",
             "mpls.ttl": "64,63", "ip.checksum.status": GOOD,
             "udp.checksum.status": GOOD},
            {"pppoe.payload_length": "34", "ip.checksum.status": GOOD,
             "udp.checksum.status": GOOD},
            {"llc.type": "0x0800", "eth.len": "40",
             "ip.checksum.status": GOOD, "udp.checksum.status": GOOD},
            {"vxlan.vni": "42", "ip.checksum.status": "1,1",
             "udp.checksum.status": "1,1", "udp.dstport": "4789,5005"},
            {"sctp.checksum.status": GOOD, "sctp.srcport": "5000",
             "sctp.verification_tag": "0x11223344"},
        ])
        self.assertEqual(int(rows[1]["pppoe.session_id"], 16), 0x1234)

    def test_ipv6_extension_headers(self):
        datagram = b.udp(b"data", sport=40000, dport=5006, src=S6, dst=D6)
        srh = b.routing(datagram, 17, type=4, addresses=[D6, "fd00::3"])
        frames = [
            b.ip6(b.hopopts(b.dstopts(b.routing(b.frag6(datagram, 17, ident=5),
                                                44, addresses=["fd00::9"]),
                                      43, options=b"\x1e\x03abc"), 60),
                  nxt=0),
            b.ip6(srh, nxt=43),
            b.ip6(b.ah(datagram, 17, spi=0x100, seq=2), nxt=51),
            b.ip4(b.ah(b.udp(b"ah4", dport=5006, src=S4, dst=D4), 17, spi=7),
                  proto=51),
            # Wireshark ignores a Jumbo Payload option below 65536 (RFC 2675).
            b.ip6(b.jumbo_hopopts(b.udp(b"j" * 70000, dport=5006, length=0,
                                        src=S6, dst=D6), 17),
                  plen=0, nxt=0),
        ]
        fields = ["ipv6.nxt", "ipv6.hopopts.nxt", "ipv6.hopopts.len",
                  "ipv6.dstopts.nxt", "ipv6.dstopts.len", "ipv6.routing.nxt",
                  "ipv6.routing.type", "ipv6.routing.segleft",
                  "ipv6.routing.srh.last_entry", "ipv6.routing.srh.addr",
                  "ipv6.fraghdr.nxt", "ipv6.fraghdr.ident", "ah.spi",
                  "ah.sequence", "ah.length", "ipv6.opt.jumbo",
                  "ip.checksum.status", "udp.checksum.status", "udp.dstport"]
        rows = self.read(b.pcap_bytes(frames, linktype=b.LINKTYPE_RAW), fields)
        self.check(rows, [
            {"ipv6.nxt": "0", "ipv6.hopopts.nxt": "60", "ipv6.hopopts.len": "0",
             "ipv6.dstopts.nxt": "43", "ipv6.dstopts.len": "0",
             "ipv6.routing.nxt": "44", "ipv6.routing.type": "0",
             "ipv6.routing.segleft": "0", "ipv6.fraghdr.nxt": "17",
             "ipv6.fraghdr.ident": "0x00000005",
             "udp.checksum.status": GOOD, "udp.dstport": "5006"},
            {"ipv6.routing.type": "4", "ipv6.routing.srh.last_entry": "1",
             "ipv6.routing.srh.addr": "fd00::2,fd00::3",
             "udp.checksum.status": GOOD, "udp.dstport": "5006"},
            {"ah.spi": "0x00000100", "ah.sequence": "2", "ah.length": "4",
             "udp.checksum.status": GOOD, "udp.dstport": "5006"},
            {"ah.spi": "0x00000007", "ip.checksum.status": GOOD,
             "udp.checksum.status": GOOD, "udp.dstport": "5006"},
            {"ipv6.opt.jumbo": "70016", "udp.checksum.status": GOOD},
        ])

    def test_other_link_types(self):
        v4 = udp4(b"link", 5007)
        v6 = udp6(b"link", 5007)
        cases = [
            (b.LINKTYPE_LINUX_SLL, [b.sll(v4, pkttype=4, addr=b.DEFAULT_SRC_MAC)],
             "sll.pkttype", "4"),
            (b.LINKTYPE_LINUX_SLL2, [b.sll2(v4, ifindex=3, addr=b.DEFAULT_SRC_MAC)],
             "sll.ifindex", "3"),
            (b.LINKTYPE_NULL, [b.null(v4), b.null(v6, 30),
                               b.null(v4, big_endian=True)],
             "null.family", None),
            (b.LINKTYPE_LOOP, [b.loop(v4), b.loop(v6, 24)], None, None),
            (b.LINKTYPE_PPP, [b.ppp(v4), b.ppp(v6, 0x0057, hdlc=False)],
             "ppp.protocol", None),
            (b.LINKTYPE_IEEE802_11_RADIOTAP,
             [b.radiotap_80211(v4), b.radiotap_80211(v6, type=0x86DD, flags=2)],
             "wlan.bssid", "02:00:00:00:00:03"),
            (b.LINKTYPE_RAW, [v4, v6], None, None),
        ]
        for linktype, frames, field, value in cases:
            fields = ["udp.checksum.status", "udp.dstport"]
            if field:
                fields.append(field)
            rows = self.read(b.pcap_bytes(frames, linktype=linktype), fields)
            self.assertEqual(len(rows), len(frames), linktype)
            for row in rows:
                self.assertEqual((row["udp.checksum.status"], row["udp.dstport"]),
                                 (GOOD, "5007"), (linktype, row))
                if value is not None:
                    self.assertEqual(row[field], value, (linktype, row))
            if field == "ppp.protocol":
                self.assertEqual([r[field] for r in rows], ["0x0021", "0x0057"])
            if field == "null.family":
                self.assertEqual([r[field] for r in rows], ["2", "30", "2"])

    def test_capture_files(self):
        frame = b.eth(udp4(b"file", 5008))
        frames = [(1600000000123456789, frame),
                  (1600000001000000001, frame, 1514),
                  frame]
        fields = ["frame.time_epoch", "frame.len", "frame.cap_len",
                  "udp.checksum.status"]
        n = len(frame)
        usec = ["1600000000.123456", "1600000001.000000", "0.002"]
        nsec = ["1600000000.123456789", "1600000001.000000001", "0.002"]
        variants = [
            (b.pcap_bytes(frames), ".pcap", usec),
            (b.pcap_bytes(frames, nanosecond=True, big_endian=True), ".pcap",
             nsec),
            (b.pcapng_bytes(frames), ".pcapng", nsec),
            (b.pcapng_bytes(frames, big_endian=True, linktype=1), ".pcapng",
             nsec),
        ]
        for data, suffix, times in variants:
            rows = self.read(data, fields, suffix)
            self.assertEqual(
                [decimal.Decimal(r["frame.time_epoch"]) for r in rows],
                [decimal.Decimal(t) for t in times])
            self.assertEqual(
                [(r["frame.len"], r["frame.cap_len"],
                  r["udp.checksum.status"]) for r in rows],
                [(str(n), str(n), GOOD), ("1514", str(n), GOOD),
                 (str(n), str(n), GOOD)])
        for data, suffix in ((b.pcap_bytes([frame], snaplen=20), ".pcap"),
                             (b.pcapng_bytes([frame], snaplen=20), ".pcapng")):
            rows = self.read(data, fields, suffix)
            self.assertEqual([(r["frame.len"], r["frame.cap_len"]) for r in rows],
                             [(str(n), "20")])


if __name__ == "__main__":
    unittest.main()
