"""Unit tests of the frame decoder (netdecode.decoding.decode and its layers).

Every frame comes from tests/builders.py and is registered once in ``FX`` (name ->
``Fixture``) so that the truncation sweep at the end cuts every one of them.  Expected
records are written out field by field: ``check`` compares *every* field of the record,
the ones not named being ``None``, and decodes each frame with both ``decode`` (the fast
path) and ``decode_layers`` (the reference), which must agree.

Expectations follow the record's documentation (netdecode/packet.py) and Wireshark's
first-occurrence fields, as DESIGN.md asks; where Wireshark's behaviour decides a value,
the test says so.
"""
import collections
import os
import random
import re
import struct
import sys
import unittest

_TESTS = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_TESTS)
for _path in (_ROOT, _TESTS):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from builders import (  # noqa: E402
    ah, arp, dstopts, erspan2, erspan3, eth, eth8023, frag6, geneve, gre, gtpu, hopopts, icmp,
    icmp6, igmp, ip, ip4, ip6, jumbo_hopopts, llc, loop, mac, mpls, null, ppp, pppoe_session,
    radiotap_80211, routing, sctp, sll, sll2, snap, tcp, udp, vxlan,
)
import corpus  # noqa: E402
from netdecode.decoding.decode import SUPPORTED_LINKTYPES, decode, decode_layers  # noqa: E402
from netdecode.decoding.ip import ipv4_checksum_ok  # noqa: E402
from netdecode.decoding.packet import FIELDS, Packet  # noqa: E402

CORPUS = corpus.CORPUS

TS = 1700000000123456789
IFINDEX = 3

SMAC, DMAC = "02:00:00:00:00:01", "02:00:00:00:00:02"     # the builders' defaults
S4, D4 = "10.0.0.1", "10.0.0.2"
S6, D6 = "fd00::1", "fd00::2"
INNER_MAC_S, INNER_MAC_D = "02:aa:00:00:00:01", "02:aa:00:00:00:02"
IN4S, IN4D = "192.168.7.1", "192.168.7.2"
IN6S, IN6D = "2001:db8::a", "2001:db8::b"

# The innermost payload of most fixtures: where it starts, every header has ended.
M = b"{PAYLOAD\xa5\x5a}"

_FRAME_FIELDS = ("ts", "ifindex", "pkttype", "linktype", "len", "caplen", "data")
_DATA = FIELDS.index("data")
_ERROR = FIELDS.index("error")

Fixture = collections.namedtuple("Fixture", "name linktype data wirelen hdr_end")


# --- matchers for the few values a test leaves open ------------------------------------

class _Any(object):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __repr__(self):
        return "ANY"


ANY = _Any()


class Err(object):
    """Matches an error text naming ``layer`` (a substring of the layer's name) at
    ``offset``: the record's errors read "<layer> at offset <n>: <why>"."""

    _FORM = re.compile(r"^(.+) at offset (\d+): (.+)$", re.S)

    def __init__(self, layer, offset):
        self.layer = layer
        self.offset = offset

    def __eq__(self, other):
        if not isinstance(other, str):
            return False
        match = self._FORM.match(other)
        return bool(match and self.layer in match.group(1)
                    and int(match.group(2)) == self.offset)

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return "Err(%r at offset %d)" % (self.layer, self.offset)


class _AnyError(object):
    def __eq__(self, other):
        return isinstance(other, str) and bool(other)

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return "ANY_ERROR"


ANY_ERROR = _AnyError()


# --- expected-record pieces ------------------------------------------------------------

def E(src=SMAC, dst=DMAC, ethertype=0x0800, **more):
    out = dict(eth_src=mac(src), eth_dst=mac(dst), ethertype=ethertype)
    out.update(more)
    return out


def IP4(proto, total, hdr=14, src=S4, dst=D4, ttl=64, off=0):
    return dict(ip_src=ip(src), ip_dst=ip(dst), ip_proto=proto, ip_len=total, ip_ttl=ttl,
                ip_off=off, ip_hdr=hdr)


def IP6(nxt, plen, src=S6, dst=D6):
    return dict(ip6_src=ip(src), ip6_dst=ip(dst), ip6_nxt=nxt, ip6_plen=plen)


def TCP(sport=1234, dport=80, flags=0x002, win=65535, seq=0, ack=0, length=0):
    return dict(proto=6, sport=sport, dport=dport, tcp_flags=flags, tcp_win=win,
                tcp_seq=seq, tcp_ack=ack, tcp_len=length)


def UDP(sport=1234, dport=9, length=8):
    return dict(proto=17, sport=sport, dport=dport, udp_len=length)


def INNER(proto, sport=None, dport=None, src=IN4S, dst=IN4D):
    """What a tunnel carries: the innermost IP header's addresses, protocol and ports."""
    return dict(inner_src=ip(src), inner_dst=ip(dst), inner_proto=proto, inner_sport=sport,
                inner_dport=dport)


def rec(*parts, **more):
    out = {}
    for part in parts:
        out.update(part)
    out.update(more)
    return out


def decode_both(data, linktype=1, wirelen=None, pkttype=None, ts=TS, ifindex=IFINDEX):
    """(fast, reference) records of one frame."""
    if wirelen is None:
        wirelen = len(data)
    return (decode(ts, ifindex, pkttype, linktype, data, wirelen),
            decode_layers(ts, ifindex, pkttype, linktype, data, wirelen))


def _short_hex(data, limit=200):
    text = data.hex()
    return text if len(text) <= 2 * limit else text[:2 * limit] + "..."


def differences(a, b):
    """Readable list of the fields where two records differ."""
    return ["%s: %r != %r" % (name, x, y) for name, x, y in zip(FIELDS, a, b) if x != y]


# --- the fixtures ---------------------------------------------------------------------

FX = collections.OrderedDict()


def fx(name, data, linktype=1, wirelen=None, hdr_end=None):
    """Register a fixture.  ``hdr_end``: where the last header ends, by default where M
    starts (or the end of the frame when M is not in it)."""
    assert name not in FX, name
    if wirelen is None:
        wirelen = len(data)
    if hdr_end is None:
        pos = data.find(M)
        hdr_end = pos if pos >= 0 else len(data)
    FX[name] = Fixture(name, linktype, data, wirelen, hdr_end)
    return FX[name]


def _tlv(kind, value):
    """A NFLOG TLV: length and type little-endian (the capturing host's order), the
    value padded to 4 bytes."""
    length = 4 + len(value)
    return struct.pack("<HH", length, kind) + value + bytes(-length % 4)


def nflog(packet, family=2):
    return (bytes((family, 0)) + struct.pack("!H", 0)
            + _tlv(1, struct.pack("!HBB", 0x0800 if family == 2 else 0x86DD, 3, 0))
            + _tlv(10, b"pfx\0")
            + _tlv(9, packet))


def ipoib(packet, ethertype=0x0800):
    return bytes(range(1, 21)) + bytes(range(21, 41)) + struct.pack("!HH", ethertype, 0) + packet


def _pad60(frame):
    return frame + bytes(max(0, 60 - len(frame)))


BPDU = bytes(35)
TCP_OPTS = b"\x02\x04\x05\xb4\x01\x03\x03\x07\x04\x02\x00\x00"     # MSS, NOP, WS, SACKP


def _build():
    t4 = tcp(M, sport=40000, dport=443, flags="PA", seq=1000, ack=2000, win=501,
             src=S4, dst=D4)
    u4 = udp(M, sport=5353, dport=53, src=S4, dst=D4)
    t6 = tcp(M, sport=40000, dport=443, flags="PA", seq=1000, ack=2000, win=501,
             src=S6, dst=D6)
    u6 = udp(M, sport=5353, dport=53, src=S6, dst=D6)
    p4t = ip4(t4)                   # 20 + 20 + 11 = 51 bytes
    p4u = ip4(u4, proto=17)         # 20 + 8 + 11 = 39
    p6t = ip6(t6)                   # 40 + 31 = 71
    p6u = ip6(u6, nxt=17)           # 40 + 19 = 59

    # link layers
    fx("eth_ip4_tcp", eth(ip4(t4, ttl=63)))
    fx("eth_ip6_udp", eth(ip6(u6, nxt=17, hlim=255), type=0x86DD))
    fx("stp_8023", _pad60(eth8023(llc(BPDU, dsap=0x42, ssap=0x42), dst="01:80:c2:00:00:00")),
       hdr_end=17)
    fx("snap_arp", eth8023(llc(snap(arp(op=2, sha="02:00:00:00:00:0a", spa="192.168.1.1",
                                        tha="02:00:00:00:00:0b", tpa="192.168.1.2"),
                                    type=0x0806))))
    fx("vlan_1q", eth(p4u, tags=[(0x8100, 10, 5)]))
    fx("vlan_qinq", eth(p4t, tags=[(0x88A8, 100), (0x8100, 200)]))
    fx("vlan_three", eth(p6u, type=0x86DD, tags=[(0x88A8, 100), (0x8100, 200), (0x8100, 300)]))
    fx("vlan_9100", eth(p4t, tags=[(0x9100, 7), (0x8100, 8)]))
    fx("mpls_ip4", eth(mpls(p4t, labels=(100, 200)), type=0x8847))
    fx("mpls_ip6", eth(mpls(p6u, labels=(300, (400, 5, 1))), type=0x8847))
    fx("pppoe_ip4", eth(pppoe_session(p4t), type=0x8864))
    fx("pppoe_ip6", eth(pppoe_session(p6t, proto=0x0057), type=0x8864))
    # PPPoE says the PPP frame is 2 + 50 bytes; IPv4 claims 70 (and 70 were sent)
    fx("pppoe_trim", eth(pppoe_session(ip4(tcp(M + b"x" * 19)), length=52), type=0x8864))
    fx("sll_ip4", sll(p4u, pkttype=4, addr="02:00:00:00:00:0a"), linktype=113)
    fx("sll2_ip6", sll2(p6t, proto=0x86DD, pkttype=1, ifindex=5, addr="02:00:00:00:00:0b"),
       linktype=276)
    for family in (2, 24, 28, 30):
        packet = p4t if family == 2 else p6u
        fx("null_le_%d" % family, null(packet, family=family), linktype=0)
        fx("null_be_%d" % family, null(packet, family=family, big_endian=True), linktype=0)
        fx("loop_%d" % family, loop(packet, family=family), linktype=108)
    fx("ppp_hdlc_ip4", ppp(p4u), linktype=9)
    fx("ppp_plain_ip4", ppp(p4u, hdlc=False), linktype=9)
    fx("ppp_pfc_ip4", b"\x21" + p4u, linktype=9)
    fx("ppp_hdlc_pfc_ip4", b"\xff\x03\x21" + p4u, linktype=9)
    fx("ppp_ip6", ppp(p6t, proto=0x0057), linktype=9)
    fx("ppp50_ip4", ppp(p4t), linktype=50)
    for linktype in (101, 12, 14):
        fx("raw%d_ip4" % linktype, p4t, linktype=linktype)
        fx("raw%d_ip6" % linktype, p6u, linktype=linktype)
    fx("raw228_ip4", p4u, linktype=228)
    fx("raw229_ip6", p6t, linktype=229)
    fx("ipoib_ip4", ipoib(p4u), linktype=242)
    fx("radiotap_ds0", radiotap_80211(p4t, src="02:00:00:00:00:0c", dst="02:00:00:00:00:0d"),
       linktype=127)
    fx("radiotap_tods", radiotap_80211(p4t, src="02:00:00:00:00:0c", dst="02:00:00:00:00:0d",
                                       flags=1), linktype=127)
    fx("radiotap_fromds", radiotap_80211(p6u, type=0x86DD, src="02:00:00:00:00:0c",
                                         dst="02:00:00:00:00:0d", flags=2), linktype=127)
    fx("nflog_ip4", nflog(p4u), linktype=239)
    fx("nflog_ip6", nflog(p6t, family=10), linktype=239)
    fx("unknown_160", eth(p4t), linktype=160, hdr_end=0)

    # IPv4
    fx("ip4_opts_ra", eth(ip4(tcp(M), options=b"\x94\x04\x00\x00", ttl=1)))
    fx("ip4_opts_8", eth(ip4(tcp(M), options=b"\x01\x01\x01\x00\x00\x00\x00\x00", ttl=255)))
    fx("ip4_opts_eol", eth(ip4(tcp(M), options=bytes(4))))
    fx("ip4_pad_udp", eth(ip4(udp(b"ab"), proto=17), pad=True), hdr_end=42)
    fx("ip4_pad_tcp", eth(ip4(tcp(flags="A")), pad=True), hdr_end=54)
    tso = eth(ip4(tcp(M + bytes(2989), flags="PA"), length=0))
    fx("ip4_tso", tso)
    fx("ip4_tso_snap", tso[:128], wirelen=len(tso))
    fx("ip4_frag_first", eth(ip4(tcp(M + b"x" * 13), mf=True, ident=7)))
    fx("ip4_frag_later", eth(ip4(M + b"y" * 21, proto=6, mf=True, frag=4, ident=7)))
    fx("ip4_frag_last_udp", eth(ip4(M + b"z" * 5, proto=17, frag=8, ident=8)))
    fx("ip4_df", eth(ip4(tcp(M), df=True)))
    fx("ip4_ihl4", eth(ip4(tcp(M), ihl=4)))
    fx("ip4_ihl0", eth(ip4(tcp(M), ihl=0)))
    fx("ip4_total_lt_ihl", eth(ip4(tcp(M), length=19)))
    fx("ip4_opts_total_lt_ihl", eth(ip4(tcp(M), options=bytes(4), length=22)))
    fx("ip4_version5", eth(ip4(tcp(M), version=5)))
    fx("ip4_version6", eth(p6u, type=0x0800))
    fx("ip4_cut_base", eth(ip4(tcp(M), ttl=77, df=True)))

    # IPv6 extension headers and tunnels
    def e6(payload, nxt, **kw):
        return eth(ip6(payload, nxt=nxt, **kw), type=0x86DD)

    fx("ip6_hop", e6(hopopts(tcp(M), nxt=6), 0))
    fx("ip6_rt0", e6(routing(udp(M), nxt=17, type=0, addresses=["fd00::9"]), 43))
    fx("ip6_srh", e6(routing(tcp(M), nxt=6, type=4, segleft=1,
                             addresses=["fd00::a", "fd00::b"]), 43))
    fx("ip6_frag_first", e6(frag6(tcp(M + b"x" * 5), nxt=6, m=True, ident=9), 44))
    fx("ip6_frag_later", e6(frag6(M + b"y" * 5, nxt=6, offset=3, m=True, ident=9), 44))
    fx("ip6_frag_last", e6(frag6(M + b"y" * 5, nxt=17, offset=5, ident=9), 44))
    fx("ip6_frag_atomic", e6(frag6(tcp(M), nxt=6, ident=10), 44))
    fx("ip6_dstopts", e6(dstopts(udp(M), nxt=17), 60))
    fx("ip6_ah", e6(ah(tcp(M), nxt=6), 51))
    fx("ip4_ah", eth(ip4(ah(udp(M), nxt=17), proto=51)))
    fx("ip6_nonxt", e6(M, 59))
    fx("ip6_hop_nonxt", e6(hopopts(M, nxt=59), 0))
    fx("ip6_chain", e6(hopopts(dstopts(routing(ah(dstopts(tcp(M), nxt=6), nxt=60), nxt=51,
                                               addresses=["fd00::7"]), nxt=43), nxt=60), 0))
    fx("ip6_chain_frag", e6(hopopts(routing(frag6(dstopts(udp(M), nxt=17), nxt=60, m=True),
                                            nxt=44, type=4, addresses=["fd00::8"]), nxt=43), 0))
    jumbo = e6(jumbo_hopopts(tcp(M + bytes(70000), flags="A"), nxt=6), 0, plen=0)
    fx("ip6_jumbo", jumbo[:200], wirelen=len(jumbo))
    fx("ip6_jumbo_small", e6(jumbo_hopopts(tcp(M + bytes(89), flags="A"), nxt=6), 0, plen=0))
    fx("ip6_4in6", e6(ip4(tcp(M, sport=1, dport=2), src=IN4S, dst=IN4D, ttl=9), 4))
    fx("ip6_6in6", e6(ip6(udp(M, sport=3, dport=4), src=IN6S, dst=IN6D, nxt=17), 41))
    fx("ip4_6in4", eth(ip4(ip6(tcp(M, sport=5, dport=6), src=IN6S, dst=IN6D), proto=41)))
    fx("ip4_4in4", eth(ip4(ip4(tcp(M, sport=7, dport=8), src=IN4S, dst=IN4D, ttl=5),
                           proto=4)))
    fx("ip6_hop_too_long", e6(hopopts(udp(M), nxt=17, options=b"\x01\x0c" + bytes(12)), 0,
                              plen=12))
    fx("ip6_rt_too_long", e6(routing(udp(M), nxt=17, addresses=["fd00::1", "fd00::2"]), 43,
                             plen=16))
    fx("ip6_dst_too_long", e6(dstopts(tcp(M), nxt=6, options=b"\x01\x04" + bytes(4)), 60,
                              plen=7))
    # Router Alert with length 10 in an 8-byte header; then a PadN, then an option type
    # as the header's last byte
    fx("ip6_opt_past", e6(bytes((17, 0, 0x05, 0x0A, 0, 0, 0, 0)) + udp(M), 0))
    fx("ip6_opt_type_last", e6(bytes((17, 0, 0x01, 0x03, 0, 0, 0, 0x05)) + udp(M), 0))
    fx("ip6_dst_opt_past", e6(bytes((6, 0, 0x01, 0x02, 0, 0, 0x07, 0x03)) + tcp(M), 60))

    # transport
    for bit in range(12):
        fx("tcp_flag_%03x" % (1 << bit), eth(ip4(tcp(M, flags=1 << bit))))
        fx("tcp6_flag_%03x" % (1 << bit), e6(tcp(M, flags=1 << bit), 6))
    fx("tcp_all_flags", eth(ip4(tcp(M, flags=0xFFF))))
    fx("tcp_numbers", eth(ip4(tcp(M, sport=65535, dport=1, seq=0xFFFFFFFF, ack=0x80000001,
                                  win=0, flags="A"))))
    fx("tcp_doff4", eth(ip4(tcp(M, doff=4, seq=5, flags="SA"))))
    fx("tcp_doff0", eth(ip4(tcp(M, doff=0))))
    fx("tcp_doff15_past", eth(ip4(tcp(b"", doff=15))))
    fx("tcp_doff6_past", e6(tcp(b"", doff=6), 6))
    fx("tcp_opts", eth(ip4(tcp(M, options=TCP_OPTS, flags="S"))))
    fx("udp4", eth(ip4(udp(M, sport=68, dport=67), proto=17)))
    fx("udp4_badlen", eth(ip4(udp(M, length=99), proto=17)))
    fx("udp6", e6(udp(M, sport=546, dport=547), 17))
    fx("udp6_long", e6(udp(M + b"q" * 30, sport=546, dport=547), 17))
    fx("sctp4", eth(ip4(sctp(M, sport=2905, dport=2906), proto=132)), hdr_end=38)
    fx("sctp6", e6(sctp(M, sport=36412, dport=36412), 132), hdr_end=58)
    fx("dccp4", eth(ip4(struct.pack("!HH", 5001, 5002) + bytes(12) + M, proto=33)),
       hdr_end=38)
    fx("udplite6", e6(udp(M, sport=7000, dport=7001), 136), hdr_end=58)
    for icmp_type, code in ((0, 0), (3, 1), (3, 13), (8, 0), (11, 0), (11, 1)):
        fx("icmp_%d_%d" % (icmp_type, code),
           eth(ip4(icmp(M, type=icmp_type, code=code, rest=b""), proto=1)))
    quoted_udp = ip4(udp(b"12345678", sport=5353, dport=53), src=D4, dst=S4, proto=17)[:28]
    fx("icmp_unreach_udp", eth(ip4(icmp(quoted_udp, type=3, code=3), proto=1)), hdr_end=38)
    quoted_tcp = ip4(tcp(b"", sport=40000, dport=443), src=D4, dst=S4)[:28]
    fx("icmp_ttl_tcp", eth(ip4(icmp(quoted_tcp, type=11), proto=1)), hdr_end=38)
    for icmp6_type in (128, 129, 133, 134, 135, 136, 137):
        fx("icmp6_%d" % icmp6_type,
           e6(icmp6(M, type=icmp6_type, rest=b"", src=S6, dst=D6), 58, hlim=255))
    fx("icmp6_unreach_udp",
       e6(icmp6(ip6(udp(M, sport=5353, dport=53), src=D6, dst=S6, nxt=17)[:48], type=1,
                code=4, src=S6, dst=D6), 58), hdr_end=58)
    fx("igmp", eth(ip4(igmp(type=0x16, group="239.1.1.1"), proto=2, ttl=1)), hdr_end=34)
    for name, proto in (("ospf", 89), ("pim", 103), ("vrrp", 112), ("esp", 50)):
        fx(name, eth(ip4(M, proto=proto)))
    fx("esp6", e6(M, 50))
    fx("ospf6", e6(M, 89))
    inner4 = ip4(tcp(M + b"data", sport=5000, dport=6000), src=IN4S, dst=IN4D, ttl=9)
    fx("gre_plain", eth(ip4(gre(inner4), proto=47)))
    fx("gre_key", eth(ip4(gre(inner4, key=1), proto=47)))
    fx("gre_ksc", eth(ip4(gre(inner4, key=0x1234, seq=7, checksum=True), proto=47)))
    fx("gre_ip6", eth(ip4(gre(ip6(udp(M, sport=11, dport=12), src=IN6S, dst=IN6D, nxt=17),
                              proto=0x86DD), proto=47)))
    fx("gre_teb", eth(ip4(gre(eth(inner4, src=INNER_MAC_S, dst=INNER_MAC_D), proto=0x6558),
                          proto=47)))
    fx("gre_pptp", eth(ip4(gre(ppp(inner4), version=1, key=0x10, seq=1, ack=2), proto=47)))
    fx("gre_pptp_acfc_pfc", eth(ip4(gre(b"\x21" + inner4, version=1, key=0x10, seq=3),
                                    proto=47)))
    fx("gre_pptp_ack_only", eth(ip4(gre(b"", version=1, key=0x10, ack=5), proto=47)))
    inner_frame = eth(ip4(icmp(M, type=8, rest=b""), src=IN4S, dst=IN4D, proto=1),
                      src=INNER_MAC_S, dst=INNER_MAC_D)
    fx("vxlan", eth(ip4(udp(vxlan(inner_frame, vni=42), sport=49152, dport=4789), proto=17)))
    fx("geneve", eth(ip4(udp(geneve(inner_frame), sport=49153, dport=6081), proto=17)))
    inner_tcp_frame = eth(inner4, src=INNER_MAC_S, dst=INNER_MAC_D)
    fx("vxlan_tcp", eth(ip4(udp(vxlan(inner_tcp_frame), sport=49154, dport=4789), proto=17)))
    fx("vxlan_8472", eth(ip4(udp(vxlan(inner_tcp_frame), sport=49155, dport=8472), proto=17)))
    fx("vxlan_in_gre", eth(ip4(gre(ip4(udp(vxlan(inner_tcp_frame), sport=49156, dport=4789),
                                       src="192.168.9.1", dst="192.168.9.2", proto=17)),
                               proto=47)))
    fx("geneve_ospf", eth(ip4(udp(geneve(ip4(M, src=IN4S, dst=IN4D, proto=89), ptype=0x0800),
                                  sport=49157, dport=6081), proto=17)))
    fx("gtpu", eth(ip4(udp(gtpu(inner4, teid=7), sport=2152, dport=2152), proto=17)))
    fx("gtpu_ext", eth(ip4(udp(gtpu(inner4, seq=1, extensions=((0x85, b"\x00\x09"),
                                                               (0x40, b"\x01\x02"))),
                               sport=2152, dport=2152), proto=17)))
    fx("gtpu_echo", eth(ip4(udp(gtpu(b"", msg_type=1, seq=3), sport=2152, dport=2152),
                            proto=17)))
    fx("gtpu_ext_len0", eth(ip4(udp(gtpu(inner4, extensions=((0x85, b"\x00\x09"),))[:12]
                                    + b"\x00" + inner4, sport=2152, dport=2152), proto=17)),
       hdr_end=62)
    fx("erspan1", eth(ip4(gre(inner_tcp_frame, proto=0x88BE), proto=47)))
    fx("erspan2", eth(ip4(gre(erspan2(inner_tcp_frame), proto=0x88BE, seq=1), proto=47)))
    fx("erspan3", eth(ip4(gre(erspan3(inner_tcp_frame, platform=bytes(8)), proto=0x22EB,
                              seq=2), proto=47)))
    fx("arp_request", eth(arp(op=1, spa="192.168.1.1", tpa="192.168.1.2"), type=0x0806,
                          dst="ff:ff:ff:ff:ff:ff"))
    fx("arp_reply", eth(arp(op=2, sha="02:00:00:00:00:09", spa="192.168.1.2",
                            tha=SMAC, tpa="192.168.1.1"), type=0x0806))
    fx("rarp_request", eth(arp(op=3, spa="0.0.0.0", tha=SMAC, tpa="0.0.0.0"), type=0x8035,
                           dst="ff:ff:ff:ff:ff:ff"))
    fx("rarp_reply", eth(arp(op=4, spa="192.168.1.2", tha=SMAC, tpa="192.168.1.9"),
                         type=0x8035))


_build()


class DecodeCase(unittest.TestCase):
    maxDiff = None

    def decoded(self, data, linktype=1, wirelen=None, pkttype=None):
        fast, ref = decode_both(data, linktype, wirelen, pkttype)
        self.assertEqual(len(ref), len(FIELDS))
        if fast != ref:
            self.fail("decode and decode_layers disagree on linktype %d frame %s: %s"
                      % (linktype, _short_hex(data), "; ".join(differences(fast, ref))))
        return ref

    def check(self, fixture, frame_pkttype=None, data=None, **expected):
        """Decode a fixture (or ``data`` cut from it) given ``frame_pkttype`` as the
        source's packet type, and compare every field of the record with ``expected``
        (the frame's own fields by default, None for the others)."""
        wrong, record = self.compare(fixture, frame_pkttype, data, **expected)
        if wrong:
            self.fail("\n".join(wrong))
        return record

    def check_cuts(self, fixture, lengths, expect):
        """``check`` the fixture cut at each of ``lengths`` against ``expect(length)``;
        one failure listing every wrong cut."""
        wrong = []
        for n in lengths:
            wrong.extend(self.compare(fixture, data=fixture.data[:n], **expect(n))[0])
        if wrong:
            self.fail("\n".join(wrong))

    def compare(self, fixture, frame_pkttype=None, data=None, **expected):
        if data is None:
            data = fixture.data
        record = Packet._make(self.decoded(data, fixture.linktype, fixture.wirelen,
                                           frame_pkttype))
        want = dict.fromkeys(FIELDS)
        want.update(ts=TS, ifindex=IFINDEX, pkttype=frame_pkttype, linktype=fixture.linktype,
                    len=fixture.wirelen, data=data)
        if "caplen" in want:
            want["caplen"] = len(data)
        unknown = set(expected) - set(FIELDS)
        if unknown:
            raise KeyError("not record fields: %s" % ", ".join(sorted(unknown)))
        want.update(expected)
        got = record._asdict()
        wrong = ["%s: got %r, expected %r" % (name, got[name], want[name])
                 for name in FIELDS if name != "data" and not want[name] == got[name]]
        self.assertIs(record.data, data)
        if wrong:
            what = (fixture.name if len(data) == len(fixture.data)
                    else "%s cut to %d of %d bytes" % (fixture.name, len(data), len(fixture.data)))
            wrong = ["%s (linktype %d, wirelen %d, %s):\n  %s"
                     % (what, fixture.linktype, fixture.wirelen, _short_hex(data),
                        "\n  ".join(wrong))]
        return wrong, record


class LinkLayerTest(DecodeCase):

    def test_ethernet_ii_ipv4(self):
        self.check(FX["eth_ip4_tcp"], **rec(
            E(), IP4(6, 51, ttl=63),
            TCP(40000, 443, flags=0x018, win=501, seq=1000, ack=2000, length=11)))

    def test_ethernet_ii_ipv6(self):
        self.check(FX["eth_ip6_udp"], **rec(
            E(ethertype=0x86DD), IP6(17, 19), UDP(5353, 53, 19)))

    def test_frame_fields_pass_through(self):
        fixture = FX["eth_ip4_tcp"]
        record = Packet._make(decode(42, 7, 4, 1, fixture.data, 1514))
        self.assertEqual((record.ts, record.ifindex, record.pkttype, record.linktype,
                          record.len), (42, 7, 4, 1, 1514))
        self.assertIs(record.data, fixture.data)
        record = Packet._make(decode(None, 0, None, 1, fixture.data, 65))
        self.assertEqual((record.ts, record.ifindex, record.pkttype, record.linktype,
                          record.len), (None, 0, None, 1, 65))

    def test_8023_llc_stp(self):
        self.check(FX["stp_8023"], eth_src=mac(SMAC), eth_dst=mac("01:80:c2:00:00:00"),
                   llc_dsap=0x42)

    def test_8023_snap_arp(self):
        self.check(FX["snap_arp"], **rec(
            E(ethertype=0x0806), arp_op=2, arp_spa=ip("192.168.1.1"),
            arp_tpa=ip("192.168.1.2"), arp_sha=mac("02:00:00:00:00:0a")))

    def test_8021q(self):
        # the priority bits (pcp 5) are not part of the id
        self.check(FX["vlan_1q"], **rec(E(vlan=10), IP4(17, 39, hdr=18), UDP(5353, 53, 19)))

    def test_8021ad_and_8021q(self):
        self.check(FX["vlan_qinq"], **rec(
            E(vlan=100), IP4(6, 51, hdr=22),
            TCP(40000, 443, flags=0x018, win=501, seq=1000, ack=2000, length=11)))

    def test_three_stacked_tags(self):
        self.check(FX["vlan_three"], **rec(
            E(ethertype=0x86DD, vlan=100), IP6(17, 19), UDP(5353, 53, 19)))

    def test_9100_outer_tag(self):
        self.check(FX["vlan_9100"], **rec(
            E(vlan=7), IP4(6, 51, hdr=22),
            TCP(40000, 443, flags=0x018, win=501, seq=1000, ack=2000, length=11)))

    def test_mpls_two_labels_ipv4(self):
        self.check(FX["mpls_ip4"], **rec(
            E(), IP4(6, 51, hdr=22),
            TCP(40000, 443, flags=0x018, win=501, seq=1000, ack=2000, length=11)))

    def test_mpls_two_labels_ipv6(self):
        self.check(FX["mpls_ip6"], **rec(E(ethertype=0x86DD), IP6(17, 19), UDP(5353, 53, 19)))

    def test_pppoe_session_ipv4(self):
        self.check(FX["pppoe_ip4"], **rec(
            E(), IP4(6, 51, hdr=22),
            TCP(40000, 443, flags=0x018, win=501, seq=1000, ack=2000, length=11)))

    def test_pppoe_session_ipv6(self):
        self.check(FX["pppoe_ip6"], **rec(
            E(ethertype=0x86DD), IP6(6, 31),
            TCP(40000, 443, flags=0x018, win=501, seq=1000, ack=2000, length=11)))

    def test_pppoe_length_trims_ip_payload(self):
        # IPv4 says 70 bytes, PPPoE 50: Wireshark's tcp.len is 10, ip.len stays 70
        self.check(FX["pppoe_trim"], error=ANY, **rec(E(), IP4(6, 70, hdr=22), TCP(length=10)))

    def test_sll_pkttype_from_header(self):
        self.check(FX["sll_ip4"], frame_pkttype=None, **rec(
            IP4(17, 39, hdr=16), UDP(5353, 53, 19), pkttype=4,
            eth_src=mac("02:00:00:00:00:0a"), ethertype=0x0800))

    def test_sll_pkttype_of_the_frame_wins(self):
        self.check(FX["sll_ip4"], frame_pkttype=0, **rec(
            IP4(17, 39, hdr=16), UDP(5353, 53, 19), pkttype=0,
            eth_src=mac("02:00:00:00:00:0a"), ethertype=0x0800))

    def test_sll2(self):
        self.check(FX["sll2_ip6"], **rec(
            IP6(6, 31), TCP(40000, 443, flags=0x018, win=501, seq=1000, ack=2000, length=11),
            pkttype=1, eth_src=mac("02:00:00:00:00:0b"), ethertype=0x86DD))

    def test_bsd_null_both_byte_orders(self):
        for order in ("le", "be"):
            self.check(FX["null_%s_2" % order], **rec(
                IP4(6, 51, hdr=4), ethertype=0x0800,
                **TCP(40000, 443, flags=0x018, win=501, seq=1000, ack=2000, length=11)))
            for family in (24, 28, 30):
                with self.subTest(order=order, family=family):
                    self.check(FX["null_%s_%d" % (order, family)],
                               **rec(IP6(17, 19), UDP(5353, 53, 19), ethertype=0x86DD))

    def test_loop(self):
        self.check(FX["loop_2"], **rec(
            IP4(6, 51, hdr=4), ethertype=0x0800,
            **TCP(40000, 443, flags=0x018, win=501, seq=1000, ack=2000, length=11)))
        for family in (24, 28, 30):
            with self.subTest(family=family):
                self.check(FX["loop_%d" % family],
                           **rec(IP6(17, 19), UDP(5353, 53, 19), ethertype=0x86DD))

    def test_loop_is_network_byte_order_only(self):
        # AF_INET little-endian is family 0x02000000 under LOOP: not a known family
        fixture = FX["null_le_2"]
        record = Packet._make(self.decoded(fixture.data, 108))
        self.assertEqual(record.error, Err("loopback", 0))
        self.assertIsNone(record.ip_src)

    def test_ppp(self):
        for name, hdr in (("ppp_hdlc_ip4", 4), ("ppp_plain_ip4", 2), ("ppp_pfc_ip4", 1),
                          ("ppp_hdlc_pfc_ip4", 3)):
            with self.subTest(name=name):
                self.check(FX[name], **rec(IP4(17, 39, hdr=hdr), UDP(5353, 53, 19),
                                           ethertype=0x0800))
        self.check(FX["ppp_ip6"], **rec(
            IP6(6, 31), TCP(40000, 443, flags=0x018, win=501, seq=1000, ack=2000, length=11),
            ethertype=0x86DD))

    def test_ppp_hdlc(self):
        self.check(FX["ppp50_ip4"], **rec(
            IP4(6, 51, hdr=4), ethertype=0x0800,
            **TCP(40000, 443, flags=0x018, win=501, seq=1000, ack=2000, length=11)))

    def test_raw_ip(self):
        for linktype in (101, 12, 14):
            with self.subTest(linktype=linktype):
                self.check(FX["raw%d_ip4" % linktype], **rec(
                    IP4(6, 51, hdr=0), ethertype=0x0800,
                    **TCP(40000, 443, flags=0x018, win=501, seq=1000, ack=2000, length=11)))
                self.check(FX["raw%d_ip6" % linktype],
                           **rec(IP6(17, 19), UDP(5353, 53, 19), ethertype=0x86DD))
        self.check(FX["raw228_ip4"], **rec(IP4(17, 39, hdr=0), UDP(5353, 53, 19),
                                           ethertype=0x0800))
        self.check(FX["raw229_ip6"], **rec(
            IP6(6, 31), TCP(40000, 443, flags=0x018, win=501, seq=1000, ack=2000, length=11),
            ethertype=0x86DD))

    def test_raw_ip_bad_version(self):
        data = b"\x55" + FX["raw101_ip4"].data[1:]
        record = Packet._make(self.decoded(data, 101))
        self.assertEqual(record.error, Err("IP", 0))
        self.assertEqual((record.ip_src, record.ip6_src, record.proto), (None, None, None))

    def test_ipoib(self):
        self.check(FX["ipoib_ip4"], **rec(IP4(17, 39, hdr=44), UDP(5353, 53, 19),
                                          ethertype=0x0800))

    def test_radiotap_80211_addresses(self):
        tcp_fields = TCP(40000, 443, flags=0x018, win=501, seq=1000, ack=2000, length=11)
        for name in ("radiotap_ds0", "radiotap_tods"):
            with self.subTest(name=name):
                self.check(FX[name], **rec(
                    E("02:00:00:00:00:0c", "02:00:00:00:00:0d"), IP4(6, 51, hdr=40),
                    tcp_fields))
        self.check(FX["radiotap_fromds"], **rec(
            E("02:00:00:00:00:0c", "02:00:00:00:00:0d", ethertype=0x86DD), IP6(17, 19),
            UDP(5353, 53, 19)))

    def test_radiotap_header_longer_than_captured(self):
        # The radiotap length (20) claims more than was captured (8 or 10 bytes) while
        # the Flags field is announced: the FCS check must not read past the capture.
        frames = (
            bytes.fromhex("0000140002000000"),          # Flags present
            bytes.fromhex("0000140003000000"),          # TSFT and Flags present
            bytes.fromhex("00001400020000800000"),      # Flags, then an extended bitmap
        )
        for data in frames:
            fixture = Fixture("radiotap " + data.hex(), 127, data, 40, 0)
            with self.subTest(frame=data.hex()):
                self.check(fixture, error=ANY_ERROR)

    def test_nflog(self):
        self.check(FX["nflog_ip4"], **rec(IP4(17, 39, hdr=24), UDP(5353, 53, 19),
                                          ethertype=0x0800))
        self.check(FX["nflog_ip6"], **rec(
            IP6(6, 31), TCP(40000, 443, flags=0x018, win=501, seq=1000, ack=2000, length=11),
            ethertype=0x86DD))

    def test_unknown_link_type(self):
        self.check(FX["unknown_160"], error="unsupported link type 160")

    def test_every_supported_link_type_takes_an_empty_frame(self):
        for linktype in sorted(SUPPORTED_LINKTYPES):
            with self.subTest(linktype=linktype):
                record = Packet._make(self.decoded(b"", linktype, 0))
                self.assertEqual((record.data, record.len), (b"", 0))
                self.assertEqual(len(record), len(FIELDS))


class IPv4Test(DecodeCase):

    def test_options(self):
        self.check(FX["ip4_opts_ra"], **rec(E(), IP4(6, 55, ttl=1), TCP(length=11)))
        self.check(FX["ip4_opts_8"], **rec(E(), IP4(6, 59, ttl=255), TCP(length=11)))

    def test_checksum(self):
        for name in ("eth_ip4_tcp", "ip4_opts_8", "vlan_qinq", "ip4_4in4"):
            fixture = FX[name]
            with self.subTest(name=name):
                self.assertIs(ipv4_checksum_ok(self.decoded(fixture.data)), True)
                hdr = Packet._make(self.decoded(fixture.data)).ip_hdr
                for pos in (hdr + 1, hdr + 8, hdr + 19):
                    broken = bytearray(fixture.data)
                    broken[pos] ^= 0x40
                    self.assertIs(ipv4_checksum_ok(self.decoded(bytes(broken))), False)
                # a payload byte is not the header's business
                broken = bytearray(fixture.data)
                broken[-1] ^= 0xFF
                self.assertIs(ipv4_checksum_ok(self.decoded(bytes(broken))), True)
        broken = bytearray(FX["ip4_opts_8"].data)
        broken[14 + 21] ^= 0x01        # inside the options
        self.assertIs(ipv4_checksum_ok(self.decoded(bytes(broken))), False)
        self.assertIsNone(ipv4_checksum_ok(self.decoded(FX["eth_ip6_udp"].data)))

    def test_ethernet_padding(self):
        self.assertEqual(len(FX["ip4_pad_udp"].data), 60)
        self.check(FX["ip4_pad_udp"], **rec(E(), IP4(17, 30), UDP(length=10)))
        self.assertEqual(len(FX["ip4_pad_tcp"].data), 60)
        self.check(FX["ip4_pad_tcp"], **rec(E(), IP4(6, 40), TCP(flags=0x010, length=0)))

    def test_total_length_zero_is_tso(self):
        self.check(FX["ip4_tso"], **rec(E(), IP4(6, 3040), TCP(flags=0x018, length=3000)))
        # cut by the snap length: the lengths still come from the wire length
        self.check(FX["ip4_tso_snap"], **rec(E(), IP4(6, 3040), TCP(flags=0x018, length=3000)))

    def test_first_fragment(self):
        self.check(FX["ip4_frag_first"], **rec(
            E(), IP4(6, 64, off=0x2000), TCP(length=None), fragment=True))

    def test_later_fragments(self):
        self.check(FX["ip4_frag_later"], **rec(E(), IP4(6, 52, off=0x2004), proto=6,
                                               fragment=True))
        self.check(FX["ip4_frag_last_udp"], **rec(E(), IP4(17, 36, off=8), proto=17,
                                                  fragment=True))

    def test_dont_fragment_is_not_a_fragment(self):
        self.check(FX["ip4_df"], **rec(E(), IP4(6, 51, off=0x4000), TCP(length=11)))

    def test_header_length_below_5(self):
        for name in ("ip4_ihl4", "ip4_ihl0"):
            with self.subTest(name=name):
                self.check(FX[name], error=Err("IPv4", 14), **E())

    def test_total_length_below_header_length(self):
        self.check(FX["ip4_total_lt_ihl"], ip_len=19, ip_hdr=ANY, error=Err("IPv4", 14), **E())
        self.check(FX["ip4_opts_total_lt_ihl"], ip_len=22, ip_hdr=ANY, error=Err("IPv4", 14),
                   **E())

    def test_version_5(self):
        self.check(FX["ip4_version5"], error=Err("IPv4", 14), **E())

    def test_ipv6_under_the_ipv4_ethertype(self):
        # Wireshark's ip dissector hands a version 6 packet to ipv6
        self.check(FX["ip4_version6"], **rec(E(), IP6(17, 19), UDP(5353, 53, 19)))

    def test_header_cut_at_each_length(self):
        fixture = FX["ip4_cut_base"]
        full = dict(ip_len=51, ip_hdr=14, ip_off=0x4000, ip_ttl=77, ip_proto=6, ip_src=ip(S4))

        def expect(n):
            have = n - 14
            shown = set()
            if have >= 4:
                shown |= {"ip_len", "ip_hdr"}
            if have >= 8:
                shown.add("ip_off")
            if have >= 9:
                shown.add("ip_ttl")
            if have >= 10:
                shown.add("ip_proto")
            if have >= 16:
                shown.add("ip_src")
            return rec(E(), dict((name, full[name]) for name in shown),
                       error=Err("IPv4", 14))

        self.check_cuts(fixture, range(14, 34), expect)

    def test_options_cut(self):
        # The destination shows once option bytes do (Wireshark reads the options for a
        # source route first); an EOL first option ends that search at once.
        fixture = FX["ip4_opts_eol"]
        base = dict(ip_len=55, ip_hdr=14, ip_off=0, ip_ttl=64, ip_proto=6, ip_src=ip(S4))

        def expect(n):
            fields = rec(E(), base, error=Err("IPv4", 14))
            if n - 14 > 20:
                fields["ip_dst"] = ip(D4)
            return fields

        self.check_cuts(fixture, range(34, 38), expect)


class IPv6Test(DecodeCase):

    def test_hop_by_hop(self):
        self.check(FX["ip6_hop"], **rec(E(ethertype=0x86DD), IP6(0, 39), TCP(length=11)))

    def test_routing_type_0(self):
        self.check(FX["ip6_rt0"], **rec(E(ethertype=0x86DD), IP6(43, 43), UDP(length=19)))

    def test_segment_routing_header(self):
        self.check(FX["ip6_srh"], **rec(E(ethertype=0x86DD), IP6(43, 71), TCP(length=11)))

    def test_first_fragment(self):
        self.check(FX["ip6_frag_first"], **rec(
            E(ethertype=0x86DD), IP6(44, 44), TCP(length=None), fragment=True))

    def test_later_fragments(self):
        self.check(FX["ip6_frag_later"], **rec(E(ethertype=0x86DD), IP6(44, 24), proto=6,
                                               fragment=True))
        self.check(FX["ip6_frag_last"], **rec(E(ethertype=0x86DD), IP6(44, 24), proto=17,
                                              fragment=True))

    def test_atomic_fragment_is_not_a_fragment(self):
        # RFC 6946: offset 0 and no more fragments is a whole datagram
        self.check(FX["ip6_frag_atomic"], **rec(E(ethertype=0x86DD), IP6(44, 39),
                                                TCP(length=11)))

    def test_destination_options(self):
        self.check(FX["ip6_dstopts"], **rec(E(ethertype=0x86DD), IP6(60, 27), UDP(length=19)))

    def test_authentication_header(self):
        self.check(FX["ip6_ah"], **rec(E(ethertype=0x86DD), IP6(51, 55), TCP(length=11)))
        self.check(FX["ip4_ah"], **rec(E(), IP4(51, 63), UDP(length=19)))

    def test_no_next_header(self):
        self.check(FX["ip6_nonxt"], **rec(E(ethertype=0x86DD), IP6(59, 11), proto=59))
        self.check(FX["ip6_hop_nonxt"], **rec(E(ethertype=0x86DD), IP6(0, 19), proto=59))

    def test_chain_of_extension_headers(self):
        # hop-by-hop 8, destination 8, routing 24, AH 24, destination 8, TCP 20 + 11
        self.check(FX["ip6_chain"], **rec(E(ethertype=0x86DD), IP6(0, 103), TCP(length=11)))
        # hop-by-hop 8, SRH 24, fragment 8, destination 8, UDP 8 + 11
        self.check(FX["ip6_chain_frag"], **rec(E(ethertype=0x86DD), IP6(0, 67),
                                               UDP(length=19), fragment=True))

    def test_jumbogram(self):
        self.check(FX["ip6_jumbo"], **rec(E(ethertype=0x86DD), IP6(0, 0),
                                          TCP(flags=0x010, length=70011)))
        self.check(FX["ip6_jumbo_small"], **rec(E(ethertype=0x86DD), IP6(0, 0),
                                                TCP(flags=0x010, length=100)))

    def test_4in6(self):
        self.check(FX["ip6_4in6"], tunnel=4, **rec(
            E(ethertype=0x86DD), IP6(4, 51), IP4(6, 51, hdr=54, src=IN4S, dst=IN4D, ttl=9),
            TCP(1, 2, length=11), INNER(6, 1, 2)))

    def test_6in6(self):
        self.check(FX["ip6_6in6"], tunnel=41, **rec(E(ethertype=0x86DD), IP6(41, 59),
                                         UDP(3, 4, length=19), INNER(17, 3, 4, IN6S, IN6D)))

    def test_6in4(self):
        self.check(FX["ip4_6in4"], tunnel=41, **rec(
            E(), IP4(41, 91), IP6(6, 31, src=IN6S, dst=IN6D), TCP(5, 6, length=11),
            INNER(6, 5, 6, IN6S, IN6D)))

    def test_4in4(self):
        self.check(FX["ip4_4in4"], tunnel=4, **rec(E(), IP4(4, 71), TCP(7, 8, length=11),
                                                   INNER(6, 7, 8)))

    def test_extension_header_longer_than_payload(self):
        self.check(FX["ip6_hop_too_long"], proto=ANY, error=Err("hop-by-hop", 54),
                   **rec(E(ethertype=0x86DD), IP6(0, 12)))
        self.check(FX["ip6_rt_too_long"], proto=ANY, error=Err("routing", 54),
                   **rec(E(ethertype=0x86DD), IP6(43, 16)))
        self.check(FX["ip6_dst_too_long"], proto=ANY, error=Err("destination", 54),
                   **rec(E(ethertype=0x86DD), IP6(60, 7)))

    def test_option_running_past_its_header(self):
        # The header's length byte frames it (RFC 8200 4.3, 4.6): a malformed option
        # inside is the error, and the next header is read on, as Wireshark does
        # (tshark 4.0 marks the option malformed and dissects the UDP or TCP after it)
        self.check(FX["ip6_opt_past"], error=Err("hop-by-hop", 54),
                   **rec(E(ethertype=0x86DD), IP6(0, 27), UDP(length=19)))
        self.check(FX["ip6_opt_type_last"], error=Err("hop-by-hop", 54),
                   **rec(E(ethertype=0x86DD), IP6(0, 27), UDP(length=19)))
        self.check(FX["ip6_dst_opt_past"], error=Err("destination", 54),
                   **rec(E(ethertype=0x86DD), IP6(60, 39), TCP(length=11)))

    def test_header_cut(self):
        # What Wireshark shows of a cut IPv6 header (checked with tshark 4.x): the payload
        # length and next header together once the next-header byte is there (7 bytes),
        # the source once it is whole (24), the destination only in a whole header
        fixture = FX["eth_ip6_udp"]

        def expect(n):
            have = n - 14
            fields = rec(E(ethertype=0x86DD), error=Err("IPv6", 14))
            if have >= 7:
                fields["ip6_plen"] = 19
                fields["ip6_nxt"] = 17
            if have >= 24:
                fields["ip6_src"] = ip(S6)
            return fields

        self.check_cuts(fixture, range(14, 54), expect)


class TransportTest(DecodeCase):

    def test_tcp_flag_bits(self):
        for bit in range(12):
            flag = 1 << bit
            with self.subTest(flag=hex(flag)):
                self.check(FX["tcp_flag_%03x" % flag],
                           **rec(E(), IP4(6, 51), TCP(flags=flag, length=11)))
                self.check(FX["tcp6_flag_%03x" % flag],
                           **rec(E(ethertype=0x86DD), IP6(6, 31), TCP(flags=flag, length=11)))
        self.check(FX["tcp_all_flags"], **rec(E(), IP4(6, 51), TCP(flags=0xFFF, length=11)))

    def test_tcp_numbers(self):
        self.check(FX["tcp_numbers"], **rec(
            E(), IP4(6, 51),
            TCP(65535, 1, flags=0x010, win=0, seq=0xFFFFFFFF, ack=0x80000001, length=11)))

    def test_tcp_options(self):
        self.check(FX["tcp_opts"], **rec(E(), IP4(6, 63), TCP(length=11)))

    def test_tcp_data_offset_below_5(self):
        # the ports are read before the data offset; what follows is left open
        for name in ("tcp_doff4", "tcp_doff0"):
            with self.subTest(name=name):
                self.check(FX[name], proto=6, sport=1234, dport=80, tcp_flags=ANY,
                           tcp_win=ANY, tcp_seq=ANY, tcp_ack=ANY, tcp_len=ANY,
                           error=Err("TCP", 34), **rec(E(), IP4(6, 51)))

    def test_tcp_data_offset_past_the_segment(self):
        # A 60-byte (or 24-byte) header in a 20-byte segment: Wireshark shows no tcp.len
        # ("Short segment ... does not contain a full TCP header") and marks it
        # malformed.  A negative payload length must not reach the counters.
        self.check(FX["tcp_doff15_past"], error=Err("TCP", 34), **rec(
            E(), IP4(6, 40), TCP(length=None)))
        self.check(FX["tcp_doff6_past"], error=Err("TCP", 54), **rec(
            E(ethertype=0x86DD), IP6(6, 20), TCP(length=None)))

    def test_tcp_header_cut(self):
        # As Wireshark shows a cut header: the ports from 4 bytes on; from 16 bytes on
        # (up to the window) the numbers, flags, window and the claimed tcp.len too; and
        # "[Packet size limited during capture: TCP truncated]" for every cut
        fixture = FX["eth_ip4_tcp"]

        def expect(n):
            fields = rec(E(), IP4(6, 51, ttl=63), proto=6, error=Err("TCP", 34))
            if n - 34 >= 16:
                fields.update(TCP(40000, 443, flags=0x018, win=501, seq=1000, ack=2000,
                                  length=11))
            elif n - 34 >= 4:
                fields.update(sport=40000, dport=443)
            return fields

        self.check_cuts(fixture, range(34, 54), expect)

    def test_tcp_options_cut(self):
        # Wireshark: "[Packet size limited during capture: TCP truncated]"; every fixed
        # field is there and tcp.len is the claimed 11
        self.check_cuts(FX["tcp_opts"], range(54, 66), lambda n: rec(
            E(), IP4(6, 63), TCP(length=11), error=Err("TCP", 34)))

    def test_udp(self):
        self.check(FX["udp4"], **rec(E(), IP4(17, 39), UDP(68, 67, 19)))
        self.check(FX["udp4_badlen"], **rec(E(), IP4(17, 39), UDP(length=99)))
        self.check(FX["udp6"], **rec(E(ethertype=0x86DD), IP6(17, 19), UDP(546, 547, 19)))
        self.check(FX["udp6_long"], **rec(E(ethertype=0x86DD), IP6(17, 49),
                                          UDP(546, 547, 49)))

    def test_udp_header_cut(self):
        def expect(n):
            fields = rec(E(), IP4(17, 39), proto=17, error=Err("UDP", 34))
            if n - 34 >= 4:
                fields.update(sport=68, dport=67)
            return fields

        self.check_cuts(FX["udp4"], range(34, 42), expect)

    def test_port_only_protocols(self):
        self.check(FX["sctp4"], **rec(E(), IP4(132, 43), proto=132, sport=2905, dport=2906))
        self.check(FX["sctp6"], **rec(E(ethertype=0x86DD), IP6(132, 23), proto=132,
                                      sport=36412, dport=36412))
        self.check(FX["dccp4"], **rec(E(), IP4(33, 47), proto=33, sport=5001, dport=5002))
        self.check(FX["udplite6"], **rec(E(ethertype=0x86DD), IP6(136, 19), proto=136,
                                         sport=7000, dport=7001))

    def test_icmp_types(self):
        for icmp_type, code in ((0, 0), (3, 1), (3, 13), (8, 0), (11, 0), (11, 1)):
            with self.subTest(type=icmp_type, code=code):
                self.check(FX["icmp_%d_%d" % (icmp_type, code)], **rec(
                    E(), IP4(1, 35), proto=1, icmp_type=icmp_type, icmp_code=code))

    def test_icmp_error_quotes_are_not_decoded(self):
        self.check(FX["icmp_unreach_udp"], **rec(E(), IP4(1, 56), proto=1, icmp_type=3,
                                                 icmp_code=3))
        self.check(FX["icmp_ttl_tcp"], **rec(E(), IP4(1, 56), proto=1, icmp_type=11,
                                             icmp_code=0))

    def test_icmp_header_cut(self):
        # Wireshark: "[Packet size limited during capture: ICMP truncated]" and no
        # icmp.type; a type without its code and checksum is a cut header
        self.check_cuts(FX["icmp_8_0"], range(34, 38), lambda n: rec(
            E(), IP4(1, 35), proto=1, icmp_type=ANY, icmp_code=ANY, error=Err("ICMP", 34)))

    def test_icmpv6(self):
        for icmp6_type in (128, 129, 133, 134, 135, 136, 137):
            with self.subTest(type=icmp6_type):
                self.check(FX["icmp6_%d" % icmp6_type], **rec(
                    E(ethertype=0x86DD), IP6(58, 15), proto=58, icmp6_type=icmp6_type,
                    icmp6_code=0))
        self.check(FX["icmp6_unreach_udp"], **rec(
            E(ethertype=0x86DD), IP6(58, 56), proto=58, icmp6_type=1, icmp6_code=4))

    def test_protocols_known_by_name(self):
        self.check(FX["igmp"], **rec(E(), IP4(2, 28, ttl=1), proto=2))
        for name, proto in (("ospf", 89), ("pim", 103), ("vrrp", 112), ("esp", 50)):
            with self.subTest(name=name):
                self.check(FX[name], **rec(E(), IP4(proto, 31), proto=proto))
        self.check(FX["esp6"], **rec(E(ethertype=0x86DD), IP6(50, 11), proto=50))
        self.check(FX["ospf6"], **rec(E(ethertype=0x86DD), IP6(89, 11), proto=89))

    def _inner_tcp(self):
        return rec(TCP(5000, 6000, length=15), INNER(6, 5000, 6000))

    def test_gre_ipv4(self):
        for name, total in (("gre_plain", 79), ("gre_key", 83), ("gre_ksc", 91)):
            with self.subTest(name=name):
                self.check(FX[name], tunnel=47, **rec(E(), IP4(47, total), self._inner_tcp()))

    def test_gre_ipv6(self):
        self.check(FX["gre_ip6"], tunnel=47, **rec(
            E(), IP4(47, 83), IP6(17, 19, src=IN6S, dst=IN6D), UDP(11, 12, 19),
            INNER(17, 11, 12, IN6S, IN6D)))

    def test_gre_transparent_ethernet_bridging(self):
        self.check(FX["gre_teb"], tunnel=47, **rec(E(), IP4(47, 93), self._inner_tcp()))

    def test_gre_pptp(self):
        # enhanced GRE: 16 bytes with key, sequence and acknowledgment numbers
        self.check(FX["gre_pptp"], tunnel=47, **rec(E(), IP4(47, 95), self._inner_tcp()))
        self.check(FX["gre_pptp_acfc_pfc"], tunnel=47, **rec(E(), IP4(47, 88), self._inner_tcp()))

    def test_gre_pptp_acknowledgment_only(self):
        # RFC 2637 4.4: an acknowledgment without data has no payload at all; Wireshark
        # reads it without complaint
        self.check(FX["gre_pptp_ack_only"], **rec(E(), IP4(47, 32), proto=47))

    def test_vxlan(self):
        # outer Ethernet, IPv4 and UDP; the ICMP header is the inner packet's
        self.check(FX["vxlan"], tunnel=4789, **rec(
            E(), IP4(17, 85), UDP(49152, 4789, 65), INNER(1), icmp_type=8, icmp_code=0))

    def test_geneve(self):
        self.check(FX["geneve"], tunnel=6081, **rec(
            E(), IP4(17, 85), UDP(49153, 6081, 65), INNER(1), icmp_type=8, icmp_code=0))

    def test_tcp_inside_a_udp_tunnel(self):
        # both transport headers: the outer UDP's ports and length, the inner TCP's
        # flags, window and length, its ports among the inner fields (Wireshark's udp.*
        # of the outer header and tcp.* of the inner)
        for name, sport, dport in (("vxlan_tcp", 49154, 4789), ("vxlan_8472", 49155, 8472)):
            with self.subTest(name=name):
                self.check(FX[name], tunnel=dport, **rec(
                    E(), IP4(17, 105), UDP(sport, dport, 85), INNER(6, 5000, 6000),
                    tcp_flags=0x002, tcp_win=65535, tcp_seq=0, tcp_ack=0, tcp_len=15))
        self.check(FX["gtpu"], tunnel=2152, **rec(
            E(), IP4(17, 91), UDP(2152, 2152, 71), INNER(6, 5000, 6000),
            tcp_flags=0x002, tcp_win=65535, tcp_seq=0, tcp_ack=0, tcp_len=15))

    def test_nested_tunnels_keep_the_first_and_the_innermost(self):
        # GRE, then VXLAN in it: the tunnel is the first (GRE), the transport fields the
        # first header (the UDP inside GRE), the inner fields the innermost packet's
        self.check(FX["vxlan_in_gre"], tunnel=47, **rec(
            E(), IP4(47, 129), UDP(49156, 4789, 85), INNER(6, 5000, 6000),
            tcp_flags=0x002, tcp_win=65535, tcp_seq=0, tcp_ack=0, tcp_len=15))

    def test_an_inner_protocol_without_a_decoder(self):
        self.check(FX["geneve_ospf"], tunnel=6081, **rec(
            E(), IP4(17, 67), UDP(49157, 6081, 47), INNER(89)))

    def test_gtpu(self):
        # a sequence number and two extension headers before the packet
        self.check(FX["gtpu_ext"], tunnel=2152, **rec(
            E(), IP4(17, 103), UDP(2152, 2152, 83), INNER(6, 5000, 6000),
            tcp_flags=0x002, tcp_win=65535, tcp_seq=0, tcp_ack=0, tcp_len=15))
        # an echo request is GTP's own message: no tunnel
        self.check(FX["gtpu_echo"], **rec(E(), IP4(17, 40), UDP(2152, 2152, 20)))
        self.check(FX["gtpu_ext_len0"], error=Err("GTP-U extension header", 54), **rec(
            E(), IP4(17, 96), UDP(2152, 2152, 76)))

    def test_erspan(self):
        # type I (no sequence number in GRE, no ERSPAN header), II (8 bytes), III (12,
        # and 8 more with the platform subheader), each down to the mirrored frame
        for name, total in (("erspan1", 93), ("erspan2", 105), ("erspan3", 117)):
            with self.subTest(name=name):
                self.check(FX[name], tunnel=47, **rec(E(), IP4(47, total), self._inner_tcp()))

    def test_arp(self):
        self.check(FX["arp_request"], **rec(
            E(dst="ff:ff:ff:ff:ff:ff", ethertype=0x0806), arp_op=1,
            arp_spa=ip("192.168.1.1"), arp_tpa=ip("192.168.1.2"), arp_sha=mac(SMAC)))
        self.check(FX["arp_reply"], **rec(
            E(ethertype=0x0806), arp_op=2, arp_spa=ip("192.168.1.2"),
            arp_tpa=ip("192.168.1.1"), arp_sha=mac("02:00:00:00:00:09")))

    def test_rarp(self):
        self.check(FX["rarp_request"], **rec(
            E(dst="ff:ff:ff:ff:ff:ff", ethertype=0x8035), arp_op=3, arp_spa=ip("0.0.0.0"),
            arp_tpa=ip("0.0.0.0"), arp_sha=mac(SMAC)))
        self.check(FX["rarp_reply"], **rec(
            E(ethertype=0x8035), arp_op=4, arp_spa=ip("192.168.1.2"),
            arp_tpa=ip("192.168.1.9"), arp_sha=mac(SMAC)))

    def test_arp_cut(self):
        # Wireshark: "[Packet size limited during capture: ARP/RARP truncated]"
        self.check_cuts(FX["arp_request"], range(14, 42), lambda n: rec(
            E(dst="ff:ff:ff:ff:ff:ff", ethertype=0x0806), arp_op=ANY, error=Err("ARP", 14)))


class CutLinkHeaderTest(DecodeCase):
    """Frames cut inside a link header that the sweep below also covers, spelt out."""

    def test_mpls_cut_after_the_label_stack(self):
        # Wireshark: "[Packet size limited during capture: MPLS truncated]"
        fixture = FX["mpls_ip4"]
        self.check(fixture, data=fixture.data[:22], error=ANY_ERROR, **E(ethertype=ANY))

    def test_ppp_cut_after_the_address_byte(self):
        fixture = FX["ppp_hdlc_ip4"]
        self.check(fixture, data=fixture.data[:1], error=ANY_ERROR)

    def test_nflog_cut_inside_a_tlv(self):
        self.check_cuts(FX["nflog_ip4"], range(0, 24), lambda n: dict(error=ANY_ERROR))


# --- fast path against the reference -------------------------------------------------

def random_frames(rng, count):
    """(linktype, data, wirelen) built with random lengths, ports, flags, padding,
    tags and extension headers, then sometimes cut or given another wire length."""
    out = []
    fixtures = list(FX.values())
    for _ in range(count):
        kind = rng.randrange(6)
        linktype = 1
        payload = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 5, 40, 300))))
        sport = rng.randrange(65536)
        dport = rng.choice((80, 53, 4789, 6081, rng.randrange(65536)))
        if kind == 0:
            segment = tcp(payload, sport=sport, dport=dport, flags=rng.getrandbits(12),
                          seq=rng.getrandbits(32), ack=rng.getrandbits(32),
                          win=rng.randrange(65536), options=bytes(4 * rng.randrange(11)))
            data = eth(ip4(segment, ttl=rng.randrange(256), df=rng.random() < 0.5,
                           mf=rng.random() < 0.1, frag=rng.choice((0, 0, 0, 3)),
                           options=bytes(4 * rng.choice((0, 0, 1, 10)))),
                       pad=rng.random() < 0.5)
        elif kind == 1:
            data = eth(ip4(udp(payload, sport=sport, dport=dport), proto=17),
                       pad=rng.random() < 0.5)
        elif kind == 2:
            nxt = rng.choice((6, 17))
            inner = (tcp(payload, sport=sport, dport=dport, flags=rng.getrandbits(12))
                     if nxt == 6 else udp(payload, sport=sport, dport=dport))
            for _ in range(rng.randrange(3)):
                ext = rng.choice((0, 60, 43))
                inner = (routing(inner, nxt, addresses=["fd00::5"]) if ext == 43
                         else hopopts(inner, nxt))
                nxt = ext
            data = eth(ip6(inner, nxt=nxt), type=0x86DD)
        elif kind == 3:
            tags = [(rng.choice((0x8100, 0x88A8, 0x9100)), rng.randrange(4096))
                    for _ in range(rng.randrange(1, 4))]
            data = eth(ip4(tcp(payload, sport=sport, dport=dport)), tags=tags)
        elif kind == 4:
            data = eth(ip4(udp(vxlan(eth(ip4(tcp(payload, sport=sport)))), dport=4789),
                           proto=17))
        else:
            fixture = rng.choice(fixtures)
            linktype, data = fixture.linktype, fixture.data
        wirelen = len(data)
        roll = rng.random()
        if roll < 0.25:
            data = data[:rng.randrange(len(data) + 1)]
        elif roll < 0.35:
            wirelen = rng.randrange(len(data) + 1)
        elif roll < 0.45:
            wirelen = len(data) + rng.randrange(1, 70000)
        out.append((linktype, data, wirelen))
    return out


class FastPathTest(DecodeCase):

    def test_every_fixture(self):
        for fixture in FX.values():
            with self.subTest(name=fixture.name):
                self.decoded(fixture.data, fixture.linktype, fixture.wirelen)

    def test_random_variations(self):
        rng = random.Random(20240601)
        for i, (linktype, data, wirelen) in enumerate(random_frames(rng, 600)):
            fast, ref = decode_both(data, linktype, wirelen)
            if fast != ref:
                self.fail("frame %d, linktype %d, wirelen %d, data %s: %s"
                          % (i, linktype, wirelen, _short_hex(data),
                             "; ".join(differences(fast, ref))))

    def test_fast_path_serves_the_common_frames(self):
        # Without this, the comparisons above could pass with a fast path that never
        # answers.  ``_slow`` is decode's hook to the reference decoder.
        def refuse(*frame):
            raise AssertionError("the fast path handed this frame on")

        for name in ("eth_ip4_tcp", "ip4_pad_udp", "ip4_pad_tcp", "ip4_df", "udp6_long",
                     "tcp_all_flags", "tcp_numbers", "tcp_opts", "tcp6_flag_100"):
            fixture = FX[name]
            with self.subTest(name=name):
                try:
                    fast = decode(TS, 1, 0, 1, fixture.data, fixture.wirelen, _slow=refuse)
                except TypeError:
                    self.skipTest("decode has no _slow hook")
                self.assertEqual(fast, decode_layers(TS, 1, 0, 1, fixture.data,
                                                     fixture.wirelen))


# --- corpus differential ----------------------------------------------------------------

def corpus_files():
    names = []
    for name in sorted(os.listdir(CORPUS)):
        path = os.path.join(CORPUS, name)
        if os.path.isfile(path) and not name.endswith((".md", ".tsv", ".txt")):
            names.append(path)
    return names


@unittest.skipUnless(os.path.isdir(CORPUS), "no capture corpus at %s" % CORPUS)
class CorpusTest(unittest.TestCase):

    def test_fast_path_agrees_on_every_corpus_frame(self):
        from netdecode.capture.pcap import CaptureError, open_capture
        total = 0
        problems = []
        for path in corpus_files():
            name = os.path.basename(path)
            try:
                reader = open_capture(path)
            except CaptureError:
                continue        # not a capture the reader accepts: test_pcap's business
            with reader:
                number = 0
                try:
                    for frame in reader.frames():
                        number += 1
                        total += 1
                        try:
                            fast = decode(*frame)
                            ref = decode_layers(*frame)
                        except Exception as exc:  # noqa: B902 - any escape is the failure
                            problems.append("%s frame %d (linktype %d, %s): %r"
                                            % (name, number, frame[3], _short_hex(frame[4]), exc))
                            continue
                        if fast != ref:
                            problems.append("%s frame %d (linktype %d, %s): %s"
                                            % (name, number, frame[3], _short_hex(frame[4]),
                                               "; ".join(differences(fast, ref))))
                        elif len(ref) != len(FIELDS) or ref[_DATA] is not frame[4]:
                            problems.append("%s frame %d: bad record shape" % (name, number))
                except CaptureError:
                    pass                      # a damaged capture: the frames before it count
        self.assertGreater(total, 1000)
        self.assertEqual(problems[:20], [], "%d corpus frames failed" % len(problems))


# --- truncation sweep ------------------------------------------------------------------

# fields that must not take values a whole frame does not have when it is cut short
# (ethertype and proto name the last layer reached, which a cut legitimately moves)
_SUBSET_FIELDS = tuple(
    i for i, name in enumerate(FIELDS)
    if name not in _FRAME_FIELDS + ("error", "ethertype", "proto"))
_INNER_SRC = FIELDS.index("inner_src")
_INNER_FIELDS = frozenset(i for i, name in enumerate(FIELDS) if name.startswith("inner_"))
# what a cut that leaves every header whole may change: the captured bytes (and the
# captured length, in a layout that has one)
_CUT_FIELDS = frozenset(i for i, name in enumerate(FIELDS) if name in ("data", "caplen"))


def _headers_only(record):
    return tuple(value for i, value in enumerate(record) if i not in _CUT_FIELDS)


class TruncationSweepTest(unittest.TestCase):

    def sweep(self, fixture):
        """Failures of one fixture cut at every length, as text."""
        out = []
        data, linktype, wirelen = fixture.data, fixture.linktype, fixture.wirelen
        full = decode_layers(TS, IFINDEX, None, linktype, data, wirelen)
        for n in range(len(data) + 1):
            cut = data[:n]
            try:
                fast, ref = decode_both(cut, linktype, wirelen)
            except Exception as exc:  # noqa: B902 - any escape is the failure
                out.append("cut at %d raised %r" % (n, exc))
                continue
            if fast != ref:
                out.append("cut at %d: decode and decode_layers disagree: %s"
                           % (n, "; ".join(differences(fast, ref))))
                continue
            if n == len(data) or full[_ERROR] is not None:
                continue
            if n < fixture.hdr_end:
                if ref[_ERROR] is None:
                    out.append("cut at %d (headers end at %d): no error" % (n, fixture.hdr_end))
                # a cut inside nested tunnels reaches a less inner packet: its inner_*
                # fields are that packet's, not a part of the innermost one's
                skip = _INNER_FIELDS if ref[_INNER_SRC] != full[_INNER_SRC] else ()
                wrong = [FIELDS[i] for i in _SUBSET_FIELDS
                         if ref[i] is not None and ref[i] != full[i] and i not in skip]
                if wrong:
                    out.append("cut at %d: %s differ from the whole frame's"
                               % (n, ", ".join(wrong)))
            else:
                # only payload is missing: the record is the whole frame's
                if _headers_only(ref) != _headers_only(full):
                    out.append("cut at %d (payload only): %s"
                               % (n, "; ".join(differences(ref, full))))
        return out

    def test_every_fixture_cut_at_every_length(self):
        self.assertGreater(len(FX), 150)
        failures = []
        for fixture in FX.values():
            problems = self.sweep(fixture)
            if problems:
                hexed = _short_hex(fixture.data)
                failures.append("%s (linktype %d, wirelen %d, %d of %d cuts wrong, %s):\n"
                                "    %s" % (fixture.name, fixture.linktype, fixture.wirelen,
                                            len(problems), len(fixture.data) + 1, hexed,
                                            "\n    ".join(problems[:4])))
        if failures:
            self.fail("%d of %d fixtures:\n%s" % (len(failures), len(FX),
                                                  "\n".join(failures[:40])))

    def test_header_ends_are_sane(self):
        for fixture in FX.values():
            with self.subTest(name=fixture.name):
                self.assertLessEqual(fixture.hdr_end, len(fixture.data))
                self.assertLessEqual(len(fixture.data), fixture.wirelen)


if __name__ == "__main__":
    unittest.main()
