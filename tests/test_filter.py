"""Tests of netdecode.filter: tcpdump expressions compiled to classic BPF and run on frames.

Where tcpdump is installed the compiler is checked against it: libpcap's unoptimized
programs line for line (``tcpdump -O -d``), program lengths (``tcpdump -d``), and, on the
frames of every readable capture of ../shared/corpus with a supported link type, the
frames each of some 90 expressions passes (``tcpdump -r FILE -w OUT EXPR``; each frame
gets a unique timestamp, so the frames tcpdump writes out name themselves, whatever its
printers would print).  Without tcpdump those tests are skipped, or fail when CI=true.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import random  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import unittest  # noqa: E402

import builders as b  # noqa: E402
import corpus  # noqa: E402
from netdecode.filter import Filter, FilterError, Program, bpf, compile_filter  # noqa: E402
from netdecode.filter.matcher import matcher  # noqa: E402
from netdecode.capture.pcap import CaptureError, PcapWriter, open_capture  # noqa: E402

CI = os.environ.get("CI") == "true"
TCPDUMP = shutil.which("tcpdump")
CORPUS = corpus.CORPUS

EN10MB, RAW, LOOP, NULL, SLL, IPV4, IPV6, SLL2 = 1, 101, 108, 0, 113, 228, 229, 276
# tcpdump -y names, and what tcpdump calls each link type
DLT_NAMES = {EN10MB: "EN10MB", SLL: "LINUX_SLL", SLL2: "LINUX_SLL2", RAW: "RAW",
             IPV4: "IPV4", IPV6: "IPV6", NULL: "NULL", LOOP: "LOOP"}
ACCEPT = 262144


def require_tcpdump():
    if TCPDUMP is None:
        if CI:
            raise AssertionError("tcpdump is missing: install it (apt-get install tcpdump); "
                                 "CI=true does not skip the comparisons with it")
        raise unittest.SkipTest("tcpdump is not installed")


def tcpdump(*args):
    """(exit status, stdout lines, stderr) of one tcpdump run."""
    r = subprocess.run([TCPDUMP] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    return r.returncode, r.stdout.splitlines(), r.stderr.strip()


def program_or_error(expr, linktype, live=False, optimize=True):
    try:
        return compile_filter(expr, linktype, live=live, optimize=optimize)
    except FilterError:
        return None


# Every primitive, and the link types it has to compile for.
PRIMITIVES = [
    "tcp", "udp", "icmp", "icmp6", "sctp", "ip", "ip6", "arp", "rarp", "igmp", "pim",
    "vrrp", "ah", "esp", "igrp", "carp",
    "host 10.0.0.1", "src host 10.0.0.1", "dst host 10.0.0.1", "src or dst host 10.0.0.1",
    "src and dst host 10.0.0.1", "ip host 10.0.0.1", "arp host 10.0.0.1",
    "rarp dst host 10.0.0.1", "src 10.0.0.1", "host 10.1", "host 167772161",
    "net 10.0.0.0/8", "net 10.0.0.0 mask 255.0.0.0", "net 10", "net 10.1", "net 192.168.1",
    "dst net 192.168.0.0/16", "ip src net 172.16.0.0/12",
    "host fd00::1", "src host fd00::1", "ip6 host fd00::1", "net fd00::/64",
    "dst net 2001:db8::/32", "host ::ffff:10.0.0.1",
    "port 53", "src port 53", "dst port 53", "tcp port 443", "udp port 53", "sctp port 9",
    "tcp src or dst port 80", "port 0x50", "port 010",
    "portrange 6000-6008", "tcp portrange 1-1023", "udp dst portrange 33434-33534",
    "portrange 20",
    "proto 47", "ip proto 47", "ip6 proto 17", "ip proto \\tcp", "proto \\udp",
    "ip proto tcp", "ip6 proto icmp6", "ether proto 0x88cc", "ether proto \\ip",
    "ether proto \\ip6", "ether proto \\arp", "ether proto \\rarp", "link proto 100",
    "ether host 01:02:03:04:05:06", "ether src 01-02-03-04-05-06",
    "ether dst 0102.0304.0506", "ether broadcast", "broadcast", "ether multicast",
    "multicast", "ip broadcast", "ip multicast", "ip6 multicast",
    "vlan", "vlan 100", "vlan (100)", "vlan and vlan 200",
    "less 100", "greater 1000", "len > 100", "len <= 60", "length >= 64",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", "tcp[13] & 2 != 0", "ip[0] & 0xf != 5",
    "icmp[icmptype] == icmp-echo", "icmp[icmpcode] = 0", "icmp6[icmp6type] == icmp6-echo",
    "udp[0:2] = 53", "ip[6:2] & 0x1fff = 0", "ip6[6] = 17", "ether[0] & 1 != 0",
    "link[12:2] = 0x800", "arp[7] = 1", "1 = -ip[0]", "ip[0] * 2 % 3 = 1",
    "ip[0] ^ 3 & 5 = 1", "ip[2:2] - ((ip[0]&0xf)<<2) > 100", "len - 14 > 100",
    "ip[0] / 2 > 1", "ip[0] >> 4 = 4", "ip[0] | 1 = 0x45", "tcp[0:4] > 1",
    "tcp[tcpflags] & (tcp-fin|tcp-rst|tcp-push|tcp-urg|tcp-ece|tcp-cwr) != 0",
    "icmp[icmptype] = icmp-unreach or icmp[icmptype] = icmp-timxceed",
    "pppoed", "decnet", "lat", "sca", "mopdl", "moprc",
    "not arp", "! tcp", "tcp and udp or arp", "tcp && port 80", "tcp || udp",
    "not (tcp or udp)", "host 10.0.0.1 or 10.0.0.2", "port 80 and not 443",
    "(tcp)", "",
]
# what this compiler accepts and tcpdump does not (it wants "\tcp")
EXTENSIONS = ("ip proto tcp", "ip6 proto icmp6")
ETHERNET_ONLY = ("ether host", "ether src", "ether dst", "broadcast", "multicast", "vlan",
                 "ether[", "link[")


class ParseTest(unittest.TestCase):
    """Every primitive compiles; bad expressions say where and what was expected."""

    def test_every_primitive_compiles(self):
        for expr in PRIMITIVES:
            prog = compile_filter(expr, EN10MB)
            self.assertIsInstance(prog, Program, expr)
            self.assertEqual(prog.instructions[-1][0] & 0x07, bpf.BPF_RET, expr)

    def test_primitives_on_other_link_types(self):
        for linktype in (SLL, SLL2, RAW, IPV4, IPV6, NULL, LOOP):
            for expr in PRIMITIVES:
                if any(word in expr for word in ETHERNET_ONLY) or expr in (
                        "pppoed", "decnet", "lat", "sca", "mopdl", "moprc", "arp", "rarp",
                        "link proto 100", "ether proto \\arp", "ether proto \\rarp",
                        "arp[7] = 1", "arp host 10.0.0.1", "rarp dst host 10.0.0.1"):
                    continue
                try:
                    compile_filter(expr, linktype)
                except FilterError as e:
                    if "rejects all packets" not in str(e):
                        raise AssertionError("%r on %d: %s" % (expr, linktype, e))

    def assertError(self, expr, position, text, linktype=EN10MB):
        with self.assertRaises(FilterError) as cm:
            compile_filter(expr, linktype)
        message = str(cm.exception)
        self.assertTrue(message.startswith("filter: "), message)
        self.assertIn(text, message)
        self.assertEqual(cm.exception.position, position, message)
        if position is not None:
            self.assertIn("at %d:" % position, message)

    def test_error_positions(self):
        self.assertError("port", 5, "expected a port number or service name after 'port', "
                         "got end of expression")
        self.assertError("host 300.1.1.1", 6, "invalid IPv4 address '300.1.1.1'")
        self.assertError("tcp and", 8, "expected a filter primitive")
        # an expression that ends inside parentheses: the unclosed '(' is the fault
        self.assertError("(tcp", 1, "'(' is never closed")
        self.assertError("tcp and (", 9, "'(' is never closed")
        self.assertError("tcp and (port 80 or", 9, "'(' is never closed")
        self.assertError("((tcp) and (udp", 12, "'(' is never closed")
        self.assertError("tcp and ()", 10, "expected an address, got ')'")
        self.assertError("foo", 1, "expected a qualifier such as 'host'")
        self.assertError("portrange 10-", 14, "expected the end of the port range after '10-'")
        self.assertError("portrange 10 - 20", 11, "without spaces: 10-20")
        self.assertError("tcp port foo", 10, "expected a port number after 'port', got 'foo'")
        self.assertError("host 10.0.0.1 and foo.example", 19, "names are not looked up")
        self.assertError("host example.com", 6, "no DNS")
        self.assertError("net 10.0.0.1/8", 5, 'non-network bits set in "10.0.0.1/8"')
        self.assertError("net 10.0.0.0/33", 5, "mask length must be <= 32")
        self.assertError("host 10.0.0.0/8", 6, "use 'net 10.0.0.0/8'")
        self.assertError("port 70000", 6, "illegal port number 70000 > 65535")
        self.assertError("vlan 5000", 1, "VLAN tag 5000 greater than maximum 4095")
        self.assertError("tcp and 10.0.0.1", 9, "'10.0.0.1' needs a qualifier")
        self.assertError("ip[0] / 0 = 1", 7, "division by zero")
        self.assertError("ip[0:3] = 1", 1, "data size must be 1, 2, or 4")
        self.assertError("10.0.0.1", 1, "before '10.0.0.1'")
        self.assertError("tcp[13] &", 10, "expected a number")
        self.assertError("port 08", 6, "non-octal digit")
        self.assertError("src or 10.0.0.1", 8, "expected 'dst' after 'src or'")
        self.assertError("host 1.2.3.4 )", 14, "expected 'and', 'or' or the end")
        self.assertError("host 1::2::3", 6, "bogus IPv6 address")
        self.assertError("ip6 host 1.2.3.4", 10, "'ip6' modifier applied to ip host")
        self.assertError("tcp host 1.2.3.4", 10, "'tcp' modifier applied to host")
        self.assertError("udp port http", 10, "port 'http' is tcp") \
            if _service("http") == (80, bpf.IPPROTO_TCP) else None
        self.assertError("ether proto \\foo", 13, "unknown ether proto 'foo'")
        self.assertError("mpls", 1, "'mpls' is not supported")
        self.assertError("tcp # 1", 5, "unexpected character '#'")
        self.assertError("ether host 01:02:03:04:05:06", 12, "only on Ethernet", SLL)
        self.assertError("vlan", 1, "no VLAN support for Linux cooked v1", SLL)
        self.assertError("inbound", 1, "inbound/outbound not supported on Ethernet")
        self.assertError("broadcast", 1, "not a broadcast link", RAW)

    def test_whole_program_errors(self):
        self.assertError("ip and ip6", None, "expression rejects all packets")
        self.assertError("tcp", None, "link type 9 is not supported", 9)
        with self.assertRaises(FilterError):
            Program([(bpf.BPF_LD | bpf.BPF_MEM, 0, 0, 0), (bpf.BPF_RET | bpf.BPF_K, 0, 0, 1)])
        with self.assertRaises(FilterError):
            Program([(bpf.BPF_JMP | bpf.BPF_JEQ, 5, 0, 1), (bpf.BPF_RET | bpf.BPF_K, 0, 0, 1)])
        with self.assertRaises(FilterError):
            Program([(bpf.BPF_LD | bpf.BPF_IMM, 0, 0, 1)])
        with self.assertRaises(FilterError):
            Program([(bpf.BPF_ALU | bpf.BPF_DIV | bpf.BPF_K, 0, 0, 0),
                     (bpf.BPF_RET | bpf.BPF_A, 0, 0, 0)])

    def test_error_is_a_value_error(self):
        self.assertTrue(issubclass(FilterError, ValueError))

    def test_empty_expression_accepts_everything(self):
        prog = compile_filter("", EN10MB)
        self.assertEqual(prog.instructions, [(bpf.BPF_RET | bpf.BPF_K, 0, 0, ACCEPT)])
        self.assertTrue(prog.match(b"", 0))

    def same(self, a, b, linktype=EN10MB):
        self.assertEqual(compile_filter(a, linktype, optimize=False).instructions,
                         compile_filter(b, linktype, optimize=False).instructions, (a, b))

    def test_implicit_qualifiers(self):
        self.same("host 10.0.0.1 or 10.0.0.2", "host 10.0.0.1 or host 10.0.0.2")
        self.same("port 80 and not 443", "port 80 and not port 443")
        self.same("tcp dst port 80 or 81 or 82",
                  "tcp dst port 80 or tcp dst port 81 or tcp dst port 82")
        self.same("src net 10.0.0.0/8 or 192.168.0.0/16",
                  "src net 10.0.0.0/8 or src net 192.168.0.0/16")
        self.same("host 10.0.0.1 and (10.0.0.2 or 10.0.0.3)",
                  "host 10.0.0.1 and (host 10.0.0.2 or host 10.0.0.3)")
        self.same("ether src 01:02:03:04:05:06 or 0a:0b:0c:0d:0e:0f",
                  "ether src 01:02:03:04:05:06 or ether src 0a:0b:0c:0d:0e:0f")
        # a primitive without qualifiers passes none on, and a parenthesis passes on
        # what came before it (grammar.y's $<blk>0)
        self.same("host 10.0.0.1 or (tcp) or 10.0.0.2",
                  "host 10.0.0.1 or (tcp) or host 10.0.0.2")

    def test_precedence(self):
        # "and" and "or" have equal precedence and group to the left; "not" binds tightest
        self.same("tcp or udp and icmp", "(tcp or udp) and icmp")
        self.same("tcp and udp or icmp", "(tcp and udp) or icmp")
        self.same("not tcp and udp", "(not tcp) and udp")
        self.same("! tcp && udp || arp", "((not tcp) and udp) or arp")
        self.same("ip[0] + 1 * 2 = 3", "ip[0] + (1 * 2) = 3")
        self.same("ip[0] & 1 | 2 = 3", "(ip[0] & 1) | 2 = 3")
        self.same("ip[0] + 2 << 1 = 3", "(ip[0] + 2) << 1 = 3")

    def test_names(self):
        self.same("ip proto \\tcp", "ip proto 6")
        self.same("ip proto tcp", "ip proto 6")
        self.same("ether proto \\ip6", "ether proto 0x86dd")
        # port names come from this host's /etc/services, as they do for tcpdump
        for name in ("domain", "http", "ssh", "ntp"):
            port, proto = _service(name)
            if port is None:
                continue
            word = {bpf.IPPROTO_TCP: "tcp ", bpf.IPPROTO_UDP: "udp "}.get(proto, "")
            self.same("port %s" % name, "%sport %d" % (word, port))
            self.same("portrange %s-%s" % (name, name),
                      "%sportrange %d-%d" % (word, port, port))

    def test_number_forms(self):
        self.same("port 0x50", "port 80")
        self.same("port 0120", "port 80")
        self.same("net 10", "net 10.0.0.0/8")
        self.same("net 172.16", "net 172.16.0.0/16")
        self.same("host 10.1", "net 10.1.0.0/16")
        self.same("ether host 0102.0304.0506", "ether host 01:02:03:04:05:06")
        self.same("tcp[tcpflags] & tcp-syn != 0", "tcp[13] & 2 != 0")
        self.same("icmp[icmptype] = icmp-echo", "icmp[0] = 8")


def _service(name):
    """(port, protocol) as this host's /etc/services gives them (None when absent)."""
    ports = {}
    for proto in ("tcp", "udp"):
        try:
            ports[proto] = socket.getservbyname(name, proto)
        except OSError:
            pass
    if "tcp" in ports:
        if ports.get("udp") == ports["tcp"]:
            return ports["tcp"], None
        return ports["tcp"], bpf.IPPROTO_TCP
    if "udp" in ports:
        return ports["udp"], bpf.IPPROTO_UDP
    return None, None


def tcp4(dport=80, sport=1234, src="10.0.0.1", dst="10.0.0.2", flags="S", **kw):
    return b.ip4(b.tcp(b"", sport=sport, dport=dport, flags=flags, src=src, dst=dst),
                 src=src, dst=dst, **kw)


def udp4(dport=53, sport=1234, src="10.0.0.1", dst="10.0.0.2"):
    return b.ip4(b.udp(b"q", sport=sport, dport=dport, src=src, dst=dst), src=src, dst=dst,
                 proto=17)


def tcp6(dport=80, sport=1234, src="fd00::1", dst="fd00::2"):
    return b.ip6(b.tcp(b"", sport=sport, dport=dport, src=src, dst=dst), src=src, dst=dst)


class SemanticsTest(unittest.TestCase):
    """What the programs accept, on frames made by the builders."""

    def check(self, expr, frame, expected, linktype=EN10MB, live=False, **meta):
        prog = compile_filter(expr, linktype, live=live)
        self.assertEqual(prog.match(frame, len(frame), **meta), expected,
                         "%s on %s" % (expr, frame.hex()))
        self.assertEqual(bool(prog.run_reference(frame, len(frame), **meta)), expected, expr)

    def test_ports_and_fragments(self):
        self.check("tcp port 443", b.eth(tcp4(443)), True)
        self.check("tcp port 443", b.eth(tcp4(sport=443, dport=5)), True)
        self.check("tcp port 443", b.eth(udp4(443)), False)
        self.check("udp port 443", b.eth(udp4(443)), True)
        self.check("tcp port 443", b.eth(tcp6(443), type=0x86DD), True)
        self.check("tcp port 443", b.eth(tcp4(443, frag=10)), False)   # not the first
        self.check("tcp port 443", b.eth(tcp4(443, mf=True)), True)
        self.check("tcp port 443", b.eth(tcp4(443, options=b"\x01" * 8)), True)
        self.check("tcp port 443", b.eth(tcp4(443))[:36], False)        # cut in the ports
        self.check("src port 1234 and dst port 80", b.eth(tcp4()), True)
        self.check("portrange 70-90", b.eth(tcp4(80)), True)
        self.check("portrange 81-90", b.eth(tcp4(80)), False)

    def test_hosts_and_nets(self):
        frame = b.eth(tcp4(src="192.168.1.7", dst="10.9.8.7"))
        self.check("host 10.9.8.7", frame, True)
        self.check("src host 10.9.8.7", frame, False)
        self.check("net 192.168.0.0/16 and dst net 10", frame, True)
        self.check("net 192.168.2.0 mask 255.255.255.0", frame, False)
        arp = b.eth(b.arp(spa="10.0.0.5", tpa="10.0.0.6"), type=0x0806)
        self.check("host 10.0.0.6", arp, True)
        self.check("ip host 10.0.0.6", arp, False)
        six = b.eth(tcp6(src="2001:db8::1", dst="fd00::2"), type=0x86DD)
        self.check("net 2001:db8::/32", six, True)
        self.check("dst net 2001:db8::/32", six, False)
        self.check("host fd00::2", six, True)

    def test_link_layer(self):
        frame = b.eth(tcp4(), src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff")
        self.check("ether broadcast and ether src 02:00:00:00:00:01", frame, True)
        self.check("ether multicast", frame, True)
        self.check("ether dst 02:00:00:00:00:01", frame, False)
        self.check("ether proto 0x88cc", b.eth(b"\x02\x07", type=0x88CC), True)
        self.check("less 60", frame, len(frame) <= 60)
        self.check("greater 61", frame, len(frame) >= 61)

    def test_byte_tests(self):
        syn = b.eth(tcp4(flags="S"))
        ack = b.eth(tcp4(flags="A"))
        expr = "tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack = 0"
        self.check(expr, syn, True)
        self.check(expr, ack, False)
        self.check("ip[0] & 0xf != 5", b.eth(tcp4(options=b"\x01\x01\x01\x01")), True)
        self.check("ip[0] & 0xf != 5", syn, False)
        echo = b.eth(b.ip4(b.icmp(b"x", type=8), proto=1))
        self.check("icmp[icmptype] == icmp-echo", echo, True)
        self.check("icmp[icmptype] == icmp-echoreply", echo, False)

    def test_vlan_in_files(self):
        tagged = b.eth(tcp4(80), tags=[(0x8100, 100)])
        self.check("vlan 100 and tcp port 80", tagged, True)
        self.check("vlan 200", tagged, False)
        self.check("vlan", b.eth(tcp4()), False)
        qinq = b.eth(udp4(), tags=[(0x88A8, 10), (0x8100, 20)])
        self.check("vlan 10 and vlan 20 and udp port 53", qinq, True)
        self.check("vlan 20", qinq, False)

    def test_vlan_live(self):
        # the kernel hands a packet socket the frame without its outer tag, and the tag
        # in the metadata; a tag can still be in the data (software-tagged output)
        stripped = b.eth(tcp4(80))
        tagged = b.eth(tcp4(80), tags=[(0x8100, 100)])
        expr = "vlan 100 and tcp port 80"
        self.check(expr, stripped, True, live=True, vlan_tci=100)
        self.check(expr, stripped, True, live=True, vlan_tci=0x2000 | 100)   # PCP 1
        self.check(expr, stripped, False, live=True, vlan_tci=200)
        self.check(expr, tagged, True, live=True)
        self.check(expr, stripped, False, live=True)
        self.check("vlan", stripped, True, live=True, vlan_tci=0)
        self.check("not vlan", stripped, True, live=True)
        # only the outer tag is stripped: an inner one is in the data
        inner = b.eth(udp4(), tags=[(0x8100, 20)])
        self.check("vlan 10 and vlan 20 and udp", inner, True, live=True, vlan_tci=10)
        prog = compile_filter(expr, EN10MB, live=True)
        loads = [k for code, jt, jf, k in prog.instructions
                 if code & 0xE0 == bpf.BPF_ABS and k >= bpf.SKF_AD_OFF]
        self.assertIn(bpf.SKF_AD_OFF + bpf.SKF_AD_VLAN_TAG_PRESENT, loads)
        self.assertIn(bpf.SKF_AD_OFF + bpf.SKF_AD_VLAN_TAG, loads)
        self.assertNotIn("[vlanp]", compile_filter(expr, EN10MB).dump())

    def test_direction(self):
        for pkttype, outbound in ((4, True), (0, False)):
            self.check("outbound", b.sll(tcp4(), pkttype=pkttype), outbound, SLL)
            self.check("inbound", b.sll2(tcp4(), pkttype=pkttype), not outbound, SLL2)
            self.check("outbound", b.eth(tcp4()), outbound, live=True, pkttype=pkttype)

    def test_other_link_types(self):
        self.check("tcp port 80", b.sll(tcp4(80)), True, SLL)
        self.check("tcp port 80", b.sll2(tcp4(80)), True, SLL2)
        self.check("tcp port 80", tcp4(80), True, RAW)
        self.check("ip6", tcp4(80), False, RAW)
        self.check("tcp port 80", tcp4(80), True, IPV4)
        self.check("tcp port 80", tcp6(80), True, IPV6)
        self.check("ip6 or ip", tcp6(80), True, IPV6)
        self.assertRaises(FilterError, compile_filter, "ip", IPV6)    # rejects all
        self.check("tcp port 80", b.null(tcp4(80)), True, NULL)
        self.check("ip6", b.null(tcp6(80), family=30), True, NULL)
        self.check("tcp port 80", b.loop(tcp4(80)), True, LOOP)
        self.check("ip6", b.loop(tcp6(80), family=24), True, LOOP)

    def test_dump_format(self):
        text = compile_filter("tcp port 443", EN10MB).dump()
        self.assertTrue(text.startswith("(000) ldh      [12]\n"))
        self.assertIn("(001) jeq      #0x86dd          jt 2\tjf 8\n", text)
        self.assertIn("(013) ldxb     4*([14]&0xf)\n", text)
        self.assertIn("(014) ldh      [x + 14]\n", text)
        self.assertTrue(text.endswith("(019) ret      #0\n"))
        live = compile_filter("vlan 7", EN10MB, live=True).dump()
        self.assertIn("ldb      [vlanp]", live)
        self.assertIn("ldb      [vlan_tci]", live)


# Expressions run over random frames: every executor must agree on each.
RANDOM_EXPRESSIONS = [
    "tcp", "udp", "icmp", "icmp6", "ip6", "arp", "not ip", "host 10.0.0.1",
    "src net 10.0.0.0/24", "net fd00::/64", "host fd00::1", "port 80", "tcp port 443",
    "udp portrange 50-60", "dst portrange 70-90", "ether host 02:00:00:00:00:01",
    "ether broadcast", "multicast", "ip multicast", "ip6 multicast", "ip broadcast",
    "vlan", "vlan 5 and ip", "vlan and vlan", "less 60", "greater 100", "len > 64",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", "tcp[13] & 2 != 0", "ip[0] & 0xf != 5",
    "icmp[icmptype] == icmp-echo", "icmp6[icmp6type] = 128", "ip[6:2] & 0x1fff != 0",
    "ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2) != 0", "ip[8] / (ip[9] - 6) > 2",
    "ip[0] % 7 * 3 ^ ip[1] > 9", "udp[4:2] > ip[2:2]", "- ip[1] > 5", "ether[0:4] & 0 = 0",
    "(tcp or udp) and not port 53", "host 10.0.0.1 or 10.0.0.2 or 10.0.0.3",
    "port 80 and not 443", "not (tcp or udp) or arp", "proto 47 or ip6 proto 17",
]


def random_frames(rng, count):
    """Frames from the builders, then cut, flipped and padded at random."""
    kinds = [
        lambda: b.eth(tcp4(rng.choice((80, 443, 53, 55)), sport=rng.choice((1234, 80)),
                           flags=rng.choice(("S", "A", "SA", "F")),
                           src=rng.choice(("10.0.0.1", "10.0.0.9")),
                           frag=rng.choice((0, 0, 0, 3)))),
        lambda: b.eth(udp4(rng.choice((53, 55, 80)))),
        lambda: b.eth(tcp6(rng.choice((443, 22))), type=0x86DD),
        lambda: b.eth(b.ip6(b.udp(b"x", dport=rng.choice((53, 55))), nxt=17), type=0x86DD),
        lambda: b.eth(b.ip6(b.icmp6(type=rng.choice((128, 129))), nxt=58), type=0x86DD),
        lambda: b.eth(b.ip4(b.icmp(b"x", type=rng.choice((0, 8))), proto=1)),
        lambda: b.eth(b.arp(spa="10.0.0.1", tpa="10.0.0.2"), type=0x0806,
                      dst="ff:ff:ff:ff:ff:ff"),
        lambda: b.eth(tcp4(80), tags=[(0x8100, rng.choice((5, 6)))]),
        lambda: b.eth(udp4(), tags=[(0x88A8, 5), (0x8100, 6)]),
        lambda: b.eth(b.ip4(b"\x00" * 8, proto=47, dst=rng.choice(("224.0.0.5",
                                                                   "255.255.255.255")))),
    ]
    frames = []
    for _ in range(count):
        frame = bytearray(rng.choice(kinds)())
        roll = rng.random()
        if roll < 0.25:
            del frame[rng.randrange(len(frame) + 1):]
        elif roll < 0.5:
            for _ in range(rng.randrange(1, 4)):
                if frame:
                    frame[rng.randrange(len(frame))] = rng.randrange(256)
        elif roll < 0.6:
            frame += bytes(rng.randrange(256) for _ in range(rng.randrange(100)))
        frames.append(bytes(frame))
    return frames


def random_program(rng, length):
    """A random program the kernel would accept: loads, ALU, scratch, jumps, returns."""
    prog = []
    for slot in range(4):
        prog.append((bpf.BPF_LD | bpf.BPF_IMM, 0, 0, rng.randrange(64)))
        prog.append((bpf.BPF_ST, 0, 0, slot))
    anc = [bpf.SKF_AD_OFF + n for n in (bpf.SKF_AD_VLAN_TAG, bpf.SKF_AD_VLAN_TAG_PRESENT,
                                        bpf.SKF_AD_PKTTYPE)]
    total = len(prog) + length + 1
    for _ in range(length):
        pc = len(prog)
        room = total - pc - 1
        size = rng.choice((bpf.BPF_B, bpf.BPF_H, bpf.BPF_W))
        op = rng.choice((bpf.BPF_ADD, bpf.BPF_SUB, bpf.BPF_MUL, bpf.BPF_DIV, bpf.BPF_MOD,
                         bpf.BPF_AND, bpf.BPF_OR, bpf.BPF_XOR, bpf.BPF_LSH, bpf.BPF_RSH))
        jop = rng.choice((bpf.BPF_JEQ, bpf.BPF_JGT, bpf.BPF_JGE, bpf.BPF_JSET))
        choice = rng.randrange(17)
        if choice == 0:
            insn = (bpf.BPF_LD | bpf.BPF_ABS | size, 0, 0, rng.randrange(70))
        elif choice == 1:
            insn = (bpf.BPF_LD | bpf.BPF_IND | size, 0, 0, rng.randrange(40))
        elif choice == 2:
            insn = (bpf.BPF_LD | bpf.BPF_ABS | size, 0, 0, rng.choice(anc))
        elif choice == 3:
            insn = rng.choice([(bpf.BPF_LD | bpf.BPF_IMM, 0, 0, rng.randrange(1 << 32)),
                               (bpf.BPF_LD | bpf.BPF_W | bpf.BPF_LEN, 0, 0, 0),
                               (bpf.BPF_LD | bpf.BPF_MEM, 0, 0, rng.randrange(4))])
        elif choice == 4:
            insn = rng.choice([
                (bpf.BPF_LDX | bpf.BPF_W | bpf.BPF_IMM, 0, 0, rng.randrange(40)),
                (bpf.BPF_LDX | bpf.BPF_W | bpf.BPF_LEN, 0, 0, 0),
                (bpf.BPF_LDX | bpf.BPF_W | bpf.BPF_MEM, 0, 0, rng.randrange(4)),
                (bpf.BPF_LDX | bpf.BPF_B | bpf.BPF_MSH, 0, 0, rng.randrange(70))])
        elif choice in (5, 6):
            k = rng.randrange(1, 32) if op in (bpf.BPF_LSH, bpf.BPF_RSH) else rng.choice(
                (1, 2, 3, 0xF, 0xFF, 0x1FFF, 0xFFFFFFFF, rng.randrange(1, 1 << 32)))
            insn = (bpf.BPF_ALU | op | bpf.BPF_K, 0, 0, k)
        elif choice == 7:
            insn = (bpf.BPF_ALU | op | bpf.BPF_X, 0, 0, 0)
        elif choice == 8:
            insn = rng.choice([(bpf.BPF_ALU | bpf.BPF_NEG, 0, 0, 0),
                               (bpf.BPF_MISC | bpf.BPF_TAX, 0, 0, 0),
                               (bpf.BPF_MISC | bpf.BPF_TXA, 0, 0, 0)])
        elif choice == 9:
            insn = (rng.choice((bpf.BPF_ST, bpf.BPF_STX)), 0, 0, rng.randrange(4))
        elif choice in (10, 11, 12, 13):
            jt, jf = rng.randrange(min(room, 256)), rng.randrange(min(room, 256))
            k = rng.choice((0, 1, 2, 6, 0x800, rng.randrange(1 << 32)))
            insn = (bpf.BPF_JMP | jop | rng.choice((bpf.BPF_K, bpf.BPF_X)), jt, jf, k)
        elif choice == 14:
            insn = (bpf.BPF_JMP | bpf.BPF_JA, 0, 0, rng.randrange(room))
        elif choice == 15:
            insn = (bpf.BPF_RET | bpf.BPF_K, 0, 0, rng.choice((0, 1, ACCEPT)))
        else:
            insn = (bpf.BPF_RET | bpf.BPF_A, 0, 0, 0)
        prog.append(insn)
    prog.append((bpf.BPF_RET | bpf.BPF_K, 0, 0, rng.choice((0, ACCEPT))))
    return prog


class ExecutorAgreementTest(unittest.TestCase):
    """The generated functions agree with the reference interpreter, frame by frame."""

    def test_expressions_on_random_frames(self):
        rng = random.Random(7)
        frames = random_frames(rng, 400)
        for expr in RANDOM_EXPRESSIONS:
            prog = compile_filter(expr, EN10MB)
            matched = 0
            for frame in frames:
                expected = bool(prog.run_reference(frame, len(frame)))
                self.assertEqual(prog.match(frame, len(frame)), expected,
                                 "%s on %s" % (expr, frame.hex()))
                matched += expected
            if "& 0 =" not in expr:       # libpcap drops the load of x & 0: always true
                self.assertLess(matched, len(frames), expr)

    def test_optimized_agrees_with_unoptimized(self):
        # frames long enough for every load, where libpcap's semantics and the
        # unoptimized program's coincide (dropped dead loads cannot fault there)
        rng = random.Random(11)
        frames = [f + bytes(rng.randrange(256) for _ in range(300))
                  for f in random_frames(rng, 200)]
        for expr in RANDOM_EXPRESSIONS:
            for live in (False, True):
                slow = compile_filter(expr, EN10MB, live=live, optimize=False)
                fast = compile_filter(expr, EN10MB, live=live)
                self.assertLessEqual(len(fast), len(slow), expr)
                for frame in frames:
                    for tci in ((None, 5, 6) if live else (None,)):
                        self.assertEqual(fast.match(frame, len(frame), vlan_tci=tci),
                                         bool(slow.run_reference(frame, len(frame),
                                                                 vlan_tci=tci)),
                                         "%s (live=%s, tci=%r) on %s"
                                         % (expr, live, tci, frame.hex()))

    def test_random_programs(self):
        rng = random.Random(3)
        for trial in range(150):
            prog = Program(random_program(rng, rng.randrange(1, 60)))
            dispatch, _ = matcher(prog.instructions, structured=False)
            for _ in range(25):
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(80)))
                wirelen = len(data) + rng.choice((0, 0, 10))
                meta = {"vlan_tci": rng.choice((None, 0, 5, 0x2005)),
                        "pkttype": rng.choice((None, 0, 4))}
                expected = bool(prog.run_reference(data, wirelen, **meta))
                self.assertEqual(prog.match(data, wirelen, **meta), expected,
                                 "program %r on %s %r" % (prog.instructions, data.hex(), meta))
                self.assertEqual(dispatch(data, wirelen, **meta), expected)

    def test_reference_semantics(self):
        ret = (bpf.BPF_RET | bpf.BPF_A, 0, 0, 0)
        # out of bounds: reject; the last byte is in bounds
        prog = Program([(bpf.BPF_LD | bpf.BPF_H | bpf.BPF_ABS, 0, 0, 2), ret])
        self.assertEqual(prog.run_reference(b"\x00\x00\x12\x34", 4), 0x1234)
        self.assertEqual(prog.run_reference(b"\x00\x00\x12", 4), 0)
        self.assertFalse(prog.match(b"\x00\x00\x12", 4))
        # division by zero rejects; 32-bit arithmetic wraps
        prog = Program([(bpf.BPF_LD | bpf.BPF_IMM, 0, 0, 7),
                        (bpf.BPF_ALU | bpf.BPF_DIV | bpf.BPF_X, 0, 0, 0), ret])
        self.assertEqual(prog.run_reference(b"", 0), 0)
        prog = Program([(bpf.BPF_LD | bpf.BPF_IMM, 0, 0, 0xFFFFFFFF),
                        (bpf.BPF_ALU | bpf.BPF_ADD | bpf.BPF_K, 0, 0, 2), ret])
        self.assertEqual(prog.run_reference(b"", 0), 1)
        # scratch memory, msh, len and ancillary loads
        prog = Program([(bpf.BPF_LDX | bpf.BPF_B | bpf.BPF_MSH, 0, 0, 0),
                        (bpf.BPF_STX, 0, 0, 3), (bpf.BPF_LD | bpf.BPF_W | bpf.BPF_LEN, 0, 0, 0),
                        (bpf.BPF_LDX | bpf.BPF_MEM, 0, 0, 3),
                        (bpf.BPF_ALU | bpf.BPF_ADD | bpf.BPF_X, 0, 0, 0), ret])
        self.assertEqual(prog.run_reference(b"\x45", 100), 120)
        prog = Program([(bpf.BPF_LD | bpf.BPF_B | bpf.BPF_ABS, 0, 0,
                         bpf.SKF_AD_OFF + bpf.SKF_AD_VLAN_TAG), ret])
        self.assertEqual(prog.run_reference(b"", 0, vlan_tci=0x2064), 0x2064)
        self.assertEqual(prog.run_reference(b"", 0), 0)

    def test_long_jumps(self):
        # more than 255 instructions between a branch and its target: ja is inserted
        expr = " or ".join("tcp port %d" % p for p in range(1, 40))
        for optimize in (False, True):
            prog = compile_filter(expr, EN10MB, optimize=optimize)
            if not optimize:
                self.assertGreater(len(prog), 300)
                codes = [code for code, jt, jf, k in prog.instructions]
                self.assertIn(bpf.BPF_JMP | bpf.BPF_JA, codes)
            for port, expected in ((1, True), (39, True), (40, False)):
                for frame in (b.eth(tcp4(port)), b.eth(tcp6(port), type=0x86DD)):
                    self.assertEqual(prog.match(frame, len(frame)), expected, port)
                    self.assertEqual(bool(prog.run_reference(frame, len(frame))), expected)


class FilterTest(unittest.TestCase):
    """Filter: frames of any supported link type, compiled on first sight."""

    def test_mixed_link_types(self):
        flt = Filter("tcp port 80")
        self.assertEqual(flt.expr, "tcp port 80")
        frames = [(0, 0, None, EN10MB, b.eth(tcp4(80)), 0),
                  (0, 0, None, SLL, b.sll(tcp4(80)), 0),
                  (0, 0, None, RAW, tcp4(81), 0),
                  (0, 0, None, SLL2, b.sll2(udp4(80)), 0)]
        self.assertEqual([flt.match(f) for f in frames], [True, True, False, False])
        self.assertEqual(len(flt.program(EN10MB)), 20)

    def test_unsupported_link_type_raises_once(self):
        flt = Filter("tcp")
        frame = (0, 0, None, 127, b"\x00" * 40, 40)
        with self.assertRaises(FilterError) as cm:
            flt.match(frame)
        self.assertIn("link type 127", str(cm.exception))
        self.assertFalse(flt.match(frame))
        self.assertTrue(flt.match((0, 0, None, EN10MB, b.eth(tcp4()), 0)))

    def test_link_type_the_expression_cannot_take(self):
        flt = Filter("vlan 10")
        with self.assertRaises(FilterError):
            flt.match((0, 0, None, SLL, b.sll(tcp4()), 0))
        self.assertFalse(flt.match((0, 0, None, SLL, b.sll(tcp4()), 0)))

    def test_errors_at_construction(self):
        with self.assertRaises(FilterError):
            Filter("host")
        with self.assertRaises(FilterError):
            Filter("host 300.1.1.1")
        Filter("inbound")           # valid for cooked captures
        Filter("ether host 01:02:03:04:05:06")


class SocketTest(unittest.TestCase):
    """The struct sock_fprog layout, and the kernel accepting the programs."""

    def test_sock_filter_layout(self):
        prog = compile_filter("ip6", EN10MB)
        raw = prog.sock_fprog_bytes()
        self.assertEqual(len(raw), 8 * len(prog))
        self.assertEqual(raw[:8], struct.pack("=HBBI", 0x28, 0, 0, 12))
        self.assertEqual(raw[8:16], struct.pack("=HBBI", 0x15, 0, 1, 0x86DD))
        self.assertEqual([struct.unpack_from("=HBBI", raw, 8 * i) for i in range(len(prog))],
                         prog.instructions)

    def packet_socket(self):
        try:
            return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        except PermissionError:
            if CI:
                raise AssertionError("CI=true: the kernel test needs root or CAP_NET_RAW")
            raise unittest.SkipTest("AF_PACKET needs root or CAP_NET_RAW")

    def test_kernel_accepts_programs(self):
        cases = [("tcp port 443", EN10MB, False), ("vlan 100 and tcp", EN10MB, True),
                 ("vlan and vlan 300 and ip", EN10MB, True), ("outbound", EN10MB, True),
                 ("host 10.0.0.1 or fd00::1", EN10MB, False), ("udp port 53", SLL, True),
                 ("tcp[tcpflags] & tcp-syn != 0", RAW, True), ("", EN10MB, True),
                 ("ip[2:2] - ((ip[0]&0xf)<<2) > 100", EN10MB, False),
                 (" or ".join("port %d" % p for p in range(30)), EN10MB, False)]
        for expr, linktype, live in cases:
            for optimize in (True, False):
                prog = compile_filter(expr, linktype, live=live, optimize=optimize)
                # a socket each: a replaced filter's memory comes back to the socket only
                # after an RCU grace period, and optmem_max is small
                sock = self.packet_socket()
                self.addCleanup(sock.close)
                prog.attach(sock)
                n = len(prog)
                if n <= 128:        # Python's getsockopt buffer stops at 1024 bytes
                    # SO_GET_FILTER answers in instructions, and Python keeps that many
                    # bytes of what the kernel copied: the count and the first bytes
                    got = sock.getsockopt(bpf.SOL_SOCKET, bpf.SO_GET_FILTER, 8 * n)
                    self.assertEqual(len(got), n, expr)
                    self.assertEqual(got, prog.sock_fprog_bytes()[:n], expr)
        sock = self.packet_socket()
        self.addCleanup(sock.close)
        prog.attach(sock.fileno())
        Program.detach(sock)
        Program.detach(sock.fileno())       # no filter: nothing to do

    def test_cooked_socket_programs(self):
        prog = compile_filter("udp port 53 and outbound", SLL, live=True)
        cooked = prog.cooked()
        pairs = list(zip(prog.instructions, cooked.instructions))
        ldh = bpf.BPF_LD | bpf.BPF_H | bpf.BPF_ABS
        # the protocol field of the cooked header becomes the ancillary protocol load
        self.assertEqual(pairs[0], ((ldh, 0, 0, 14),
                                    (ldh, 0, 0, bpf.SKF_AD_OFF + bpf.SKF_AD_PROTOCOL)))
        for (code, jt, jf, k), (code2, jt2, jf2, k2) in pairs:
            self.assertEqual((code, jt, jf), (code2, jt2, jf2))
            if code & 0x07 in (bpf.BPF_LD, bpf.BPF_LDX) and code & 0xE0 in (
                    bpf.BPF_ABS, bpf.BPF_IND, bpf.BPF_MSH) and k >= 16:
                self.assertEqual(k2, k - 16)
        self.assertIn("ldh      [type]", cooked.dump())
        sll2 = compile_filter("tcp and inbound", SLL2, live=True).cooked().dump()
        self.assertIn("[proto]", sll2)
        self.assertIn("ldb      [type]", sll2)
        with self.assertRaises(FilterError):
            compile_filter("link[2:2] = 1", SLL).cooked()
        with self.assertRaises(FilterError):
            compile_filter("tcp", EN10MB).cooked()
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
        except PermissionError:
            if CI:
                raise AssertionError("CI=true: the kernel test needs root or CAP_NET_RAW")
            raise unittest.SkipTest("AF_PACKET needs root or CAP_NET_RAW")
        self.addCleanup(sock.close)
        cooked.attach(sock)

    def test_kernel_refuses_what_the_checker_refuses(self):
        sock = self.packet_socket()
        self.addCleanup(sock.close)
        prog = compile_filter("tcp", EN10MB)
        # a program the checker lets through is patched into one it would not
        prog.instructions[-1] = (bpf.BPF_LD | bpf.BPF_IMM, 0, 0, 0)
        with self.assertRaises(OSError):
            prog.attach(sock)


# --- comparisons with tcpdump --------------------------------------------------------

# Unoptimized programs, compared line for line with tcpdump -O -d.
UNOPTIMIZED = PRIMITIVES + [
    "host 1.2.3.4 and not (5.6.7.8 or 9.9.9.9)", "port (80 or 443)",
    "src host 1.1.1.1 or dst 2.2.2.2", "ip host 1.1.1.1 and not 2.2.2.2",
    "not not tcp", "((tcp) and (udp))", "len >= 100 and len <= 200",
    "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420", "udp and (dst port 53 or src port 53)",
    "src net fd00::/8 or dst net fc00::/7", "icmp6 and ip6[40] = 135",
    "ip proto 6 or ip6 proto 6", "arp host 10.0.0.1", "host 10.0.0.1 or port 80",
    "ip[0] % 3 * 2 = 1", "ip[0] & 3 ^ 5 = 1", "ip[0] + 1 - 2 = 1", "0x10 = 16",
    "dst portrange 100-10", "ether proto \\loopback", "tcp[0:2] > 1023",
    "vlan 100 and vlan 200 and tcp port 80", "vlan and ip6 and udp port 53",
    "tcp port 80 and vlan 5", "vlan 5 or vlan 6", "not vlan",
    "port 1 or 2 or 3 or 4 or 5", "host 10.0.0.1 and host 10.0.0.2 and host 10.0.0.3",
    " or ".join("port %d" % p for p in range(20)),       # long jumps: ja after branches
]
LIVE = ["vlan", "vlan 100", "vlan 100 and ip", "vlan and vlan 300 and ip",
        "tcp port 80 and vlan 5", "vlan 10 and host 10.0.0.1", "vlan and ip6 and udp port 53",
        "vlan 5 or vlan 6", "vlan and tcp[13] & 2 != 0", "vlan and ip[0] & 0xf != 5",
        "vlan and icmp6[icmp6type] = 128", "inbound", "outbound", "not vlan",
        "vlan 100 and vlan 200"]
# Program lengths pinned against tcpdump -d.
PINNED = ["tcp", "udp port 53", "host 10.0.0.1", "ip6", "tcp port 443", "not arp", "vlan 100"]


class TcpdumpProgramTest(unittest.TestCase):
    """Programs against tcpdump's own (-O -d unoptimized, -d optimized)."""

    @classmethod
    def setUpClass(cls):
        require_tcpdump()

    def compare(self, expr, linktype, args, live=False):
        if expr in EXTENSIONS:
            return 0
        status, theirs, err = tcpdump(*(args + [expr]))
        ours = program_or_error(expr, linktype, live=live, optimize=False)
        if status != 0:
            self.assertIsNone(ours, "tcpdump refuses %r (%s), we do not" % (expr, err))
            return 0
        self.assertIsNotNone(ours, "we refuse %r, tcpdump does not" % expr)
        self.assertEqual(ours.dump().splitlines(), theirs, "%r on %s" % (expr, args))
        return 1

    def test_unoptimized_programs_equal_libpcaps(self):
        compared = 0
        for linktype in (EN10MB, SLL, SLL2, RAW, IPV4, IPV6):
            for expr in UNOPTIMIZED:
                if expr in ("inbound", "outbound") and linktype not in (SLL, SLL2):
                    continue    # tcpdump -y compiles the live form (ancillary pkttype)
                compared += self.compare(expr, linktype, ["-O", "-d", "-y",
                                                          DLT_NAMES[linktype]])
        self.assertGreater(compared, 600)

    def test_unoptimized_loopback_programs(self):
        # -y NULL compiles for the host's AF_INET6; a file gets the BSD values: use files
        path = os.path.join(tempfile.mkdtemp(), "x.pcap")
        self.addCleanup(shutil.rmtree, os.path.dirname(path))
        for linktype, frame in ((NULL, b.null(tcp4())), (LOOP, b.loop(tcp4()))):
            with open(path, "wb") as f:
                f.write(b.pcap_bytes([frame], linktype=linktype))
            for expr in ("ip", "ip6", "tcp port 80", "host fd00::1", "icmp6", "arp"):
                self.compare(expr, linktype, ["-r", path, "-O", "-d"])

    def test_live_programs(self):
        status, _, err = tcpdump("-i", "lo", "-d", "ip")
        if status != 0:
            if CI:
                raise AssertionError("tcpdump -i lo -d failed: %s" % err)
            raise unittest.SkipTest("tcpdump cannot open lo: %s" % err)
        for expr in LIVE:
            self.compare(expr, EN10MB, ["-i", "lo", "-O", "-d"], live=True)
            status, theirs, _ = tcpdump("-i", "lo", "-d", expr)
            self.assertLessEqual(len(compile_filter(expr, EN10MB, live=True)),
                                 len(theirs) + 3, expr)

    def test_program_lengths(self):
        rows = []
        for linktype in (EN10MB, SLL):
            for expr in PINNED:
                status, theirs, _ = tcpdump("-d", "-y", DLT_NAMES[linktype], expr)
                ours = program_or_error(expr, linktype)
                if status != 0:
                    self.assertIsNone(ours, expr)
                    continue
                rows.append((expr, linktype, len(ours), len(theirs)))
                self.assertLessEqual(len(ours), len(theirs) + 3, (expr, linktype))
        self.assertEqual(len(rows), 13)


# Expressions compared on the corpus, frame by frame (every primitive, and combinations).
CORPUS_EXPRESSIONS = [
    "tcp", "udp", "icmp", "icmp6", "sctp", "ip", "ip6", "arp", "rarp", "not arp",
    "igmp", "pim", "ah or esp", "vrrp",
    "host 172.17.0.184", "src host 131.151.32.21", "dst host 131.151.32.21",
    "net 131.151.0.0/16", "net 172.16", "net 10", "src net 172.17.0.0 mask 255.255.255.0",
    "host ::1", "host fe80::1", "net 3ffe::/16", "dst net 2001:db8:1::/48",
    "port 80", "port 53", "tcp port 443", "udp port 53", "src port 80", "dst port 445",
    "port http", "portrange 1-1023", "tcp portrange 1024-65535", "udp src portrange 60-70",
    "sctp port 7", "ip proto 47", "proto 50", "ip6 proto 58", "ip proto \\tcp",
    "proto \\udp", "ip6 proto 0",
    "ether host 00:1f:29:da:2d:79", "ether src 00:50:56:99:2e:14",
    "ether dst ff:ff:ff:ff:ff:ff", "ether proto 0x88cc", "ether proto \\arp",
    "ether proto 0x32", "ether broadcast", "multicast", "ip broadcast", "ip multicast",
    "ip6 multicast",
    "vlan", "vlan 3704", "vlan and ip", "vlan and vlan", "vlan 1213 and tcp",
    "vlan 30 and vlan 81",
    "less 64", "greater 1000", "len > 1500", "len - 14 > 100",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0",
    "tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0",
    "tcp[13] & 2 != 0", "ip[0] & 0xf != 5", "icmp[icmptype] == icmp-echo",
    "icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply",
    "icmp6[icmp6type] == icmp6-echo", "icmp6[icmp6type] = icmp6-neighborsolicit",
    "ip[6:2] & 0x1fff != 0", "ip[8] < 64", "udp[4:2] > 100", "ether[0] & 1 != 0",
    "ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2) != 0", "ip6 and tcp[0:2] = 80",
    "tcp and (port 80 or port 443)", "not tcp and not udp",
    "host 172.17.0.184 or 131.151.32.21", "port 80 and not 44730",
    "src host 172.17.0.189 and dst port 445", "(tcp or udp) and not port 53",
    "ip and not icmp", "tcp or udp and icmp", "! ip6 && ! ip || arp", "inbound",
    "outbound", "tcp port 80 or 7000 or 7001", "ip6 and not icmp6 and not udp",
    "host 172.17.0.184 or 131.151.32.21 or 72.205.54.70 or ::1",
    "port 80 or 445 or 53 or 67 or 68", "not port 80 and not port 445 and not port 53",
    "udp and not port 53 and not port 67 and not port 5353",
]


class CorpusTest(unittest.TestCase):
    """The frames each expression passes are exactly the frames tcpdump -r passes."""

    @classmethod
    def setUpClass(cls):
        if not os.path.isdir(CORPUS):
            raise unittest.SkipTest("no corpus at %s" % CORPUS)
        require_tcpdump()
        cls.tmp = tempfile.mkdtemp(prefix="test-filter-")
        unreadable = {name for name, read in corpus.frames_read().items() if read == 0}
        cls.frames = {}
        for name in sorted(os.listdir(CORPUS)):
            path = os.path.join(CORPUS, name)
            if name in unreadable or not os.path.isfile(path) or name.endswith(
                    (".md", ".tsv")):
                continue
            try:
                with open_capture(path) as reader:
                    for frame in reader.frames():
                        if frame[3] in DLT_NAMES:
                            cls.frames.setdefault(frame[3], []).append(frame)
            except CaptureError:
                pass        # the frames before the damage count
        # one file per link type, frame i stamped i + 1 seconds: what tcpdump writes out
        # names the frames it passed
        cls.paths = {}
        for linktype, frames in cls.frames.items():
            path = os.path.join(cls.tmp, "%d.pcap" % linktype)
            with PcapWriter(path, linktype) as w:
                for i, frame in enumerate(frames):
                    w.write(((i + 1) * 10 ** 9, 0, None, linktype, frame[4], frame[5]))
            cls.paths[linktype] = path

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tcpdump_passes(self, linktype, expr):
        out = os.path.join(self.tmp, "out.pcap")
        status, _, err = tcpdump("-r", self.paths[linktype], "-w", out, expr)
        if status != 0:
            return None, err
        with open_capture(out) as reader:
            return set(frame[0] // 10 ** 9 - 1 for frame in reader.frames()), None

    def test_corpus_frames(self):
        self.assertGreaterEqual(len(CORPUS_EXPRESSIONS), 60)
        self.assertTrue({EN10MB, SLL, RAW} <= set(self.frames), sorted(self.frames))
        compared = 0
        mismatches = []
        for expr in CORPUS_EXPRESSIONS:
            for linktype, frames in sorted(self.frames.items()):
                theirs, err = self.tcpdump_passes(linktype, expr)
                prog = program_or_error(expr, linktype)
                if theirs is None:
                    if prog is not None:
                        mismatches.append("%r on %s: tcpdump refuses it (%s)"
                                          % (expr, DLT_NAMES[linktype], err))
                    continue
                if prog is None:
                    mismatches.append("%r on %s: we refuse it" % (expr, DLT_NAMES[linktype]))
                    continue
                match, run = prog.match, prog.run_reference
                ours = set(i for i, f in enumerate(frames) if match(f[4], f[5]))
                reference = set(i for i, f in enumerate(frames) if run(f[4], f[5]))
                compared += 1
                if ours != theirs or reference != theirs:
                    mismatches.append("%r on %s: tcpdump passes %d, match %d, reference %d; "
                                      "differ at %s" % (
                                          expr, DLT_NAMES[linktype], len(theirs), len(ours),
                                          len(reference), sorted(ours ^ theirs)[:5]))
        self.assertEqual(mismatches, [])
        self.assertGreater(compared, 500)


if __name__ == "__main__":
    unittest.main()
