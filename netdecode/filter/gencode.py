"""Code generation: the syntax tree to classic BPF, block by block as libpcap's gencode.c.

``CodeGen(linktype, live)`` holds one compilation: ``gen(tree)`` makes gencode.c's blocks
for every primitive, in the order yacc runs grammar.y's actions, and ``finish(root)``
adds the offset set-up and the two returns.  ``linearize`` lays blocks out as
instructions, as libpcap's icode_to_fcode, for this unoptimized program and for the
optimizer's.  ``Stmt`` and ``Block`` are those blocks (gencode.h's stmt and block).
"""
import re
import socket
import struct

from .bpf import (
    AF_INET, AF_INET6, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_DIV, BPF_H, BPF_IMM,
    BPF_IND, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX,
    BPF_LEN, BPF_LSH, BPF_MEM, BPF_MEMWORDS, BPF_MISC, BPF_MOD, BPF_MSH, BPF_NEG, BPF_RET,
    BPF_RSH, BPF_ST, BPF_SUB, BPF_TAX, BPF_W, BPF_X, ETH_DATA_LEN, ETH_P_8021AD, ETH_P_8021Q,
    ETH_P_802_2, ETH_P_AARP, ETH_P_ARP, ETH_P_ATALK, ETH_P_DNA_DL, ETH_P_DNA_RC, ETH_P_DNA_RT,
    ETH_P_IP, ETH_P_IPV6, ETH_P_LAT, ETH_P_LOOPBACK, ETH_P_PPP_DISC, ETH_P_QINQ1, ETH_P_RARP,
    ETH_P_SCA, IPPROTO_AH, IPPROTO_ESP, IPPROTO_FRAGMENT, IPPROTO_ICMP, IPPROTO_ICMPV6,
    IPPROTO_IGMP, IPPROTO_IGRP, IPPROTO_PIM, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP,
    IPPROTO_VRRP, LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2, LINKTYPE_LOOP, LINKTYPE_NULL, LINKTYPE_RAW, LINKTYPE_RAW_BSDOS,
    LINKTYPE_RAW_OPENBSD, PACKET_OUTGOING, SKF_AD_OFF, SKF_AD_PKTTYPE, SKF_AD_VLAN_TAG,
    SKF_AD_VLAN_TAG_PRESENT, U32, error,
)

__all__ = ["Stmt", "Block", "CodeGen", "linearize"]

_LINKTYPE_NAMES = {
    LINKTYPE_NULL: "BSD loopback (NULL)", LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_RAW_BSDOS: "raw IP", LINKTYPE_RAW_OPENBSD: "raw IP", LINKTYPE_RAW: "raw IP",
    LINKTYPE_LOOP: "OpenBSD loopback (LOOP)", LINKTYPE_LINUX_SLL: "Linux cooked v1",
    LINKTYPE_IPV4: "raw IPv4", LINKTYPE_IPV6: "raw IPv6",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2",
}
_RAW_LINKTYPES = (LINKTYPE_RAW, LINKTYPE_RAW_BSDOS, LINKTYPE_RAW_OPENBSD)

# 802.2 SAPs that libpcap tests specially on Ethernet
_LLC_SAP_IP = 0x06
_LLC_SAP_NETBEUI = 0xF0
_LLC_SAP_ISONS = 0xFE
_LLC_SAP_IPX = 0xE0

_BSD_AF_INET6_BSD = 24          # what NULL/LOOP files from the BSDs and macOS carry
_BSD_AF_INET6_FREEBSD = 28
_BSD_AF_INET6_DARWIN = 30
_IP6_HDRLEN = 40

_ACCEPT = 262144                # what tcpdump's programs return for a match (its snaplen)

_PORT_PROTOS = ("tcp", "udp")
# A few protocol numbers for hosts without /etc/protocols (names as netbase has them).
_PROTO_FALLBACK = {
    "ip": 0, "icmp": 1, "igmp": 2, "ipencap": 4, "tcp": 6, "egp": 8, "igp": 9, "udp": 17,
    "ipv6": 41, "ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47, "esp": 50,
    "ah": 51, "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "eigrp": 88, "ospf": 89,
    "ipip": 94, "pim": 103, "vrrp": 112, "l2tp": 115, "sctp": 132, "udplite": 136,
}
# libpcap's ethertype names (pcap_nametoeproto) and LLC SAP names (pcap_nametollc)
_ETHERPROTO_NAMES = {
    "aarp": ETH_P_AARP, "arp": ETH_P_ARP, "atalk": ETH_P_ATALK, "decnet": ETH_P_DNA_RT,
    "ip": ETH_P_IP, "ip6": ETH_P_IPV6, "lat": ETH_P_LAT, "loopback": ETH_P_LOOPBACK,
    "mopdl": ETH_P_DNA_DL, "moprc": ETH_P_DNA_RC, "rarp": ETH_P_RARP, "sca": ETH_P_SCA,
    "iso": _LLC_SAP_ISONS, "stp": 0x42, "ipx": _LLC_SAP_IPX, "netbeui": _LLC_SAP_NETBEUI,
}


class Stmt(object):
    """One statement of a block; jt/jf name statements of the same block (libpcap's
    block-local jumps, used by the live VLAN test)."""

    __slots__ = ("code", "k", "jt", "jf")

    def __init__(self, code, k=0):
        self.code = code
        self.k = k & U32
        self.jt = None
        self.jf = None


class Block(object):
    """A basic block: statements, then a conditional jump (or a return)."""

    __slots__ = ("stmts", "code", "k", "jt", "jf", "offset", "longjt", "longjf")

    def __init__(self, code, k=0, stmts=None):
        self.stmts = stmts if stmts is not None else []
        self.code = code
        self.k = k & U32
        self.jt = None
        self.jf = None
        self.offset = 0
        self.longjt = 0
        self.longjf = 0


class _Frag(object):
    """A generated test: its first block and the exits still to patch, as (block,
    branch) pairs, branch True for jt; ``t`` exits are taken when the test holds."""

    __slots__ = ("head", "t", "f")

    def __init__(self, head, t, f):
        self.head = head
        self.t = t
        self.f = f


def _leaf(block):
    return _Frag(block, [(block, True)], [(block, False)])


def _patch(exits, target):
    for block, branch in exits:
        if branch:
            block.jt = target
        else:
            block.jf = target


def _and(a, b):
    _patch(a.t, b.head)
    return _Frag(a.head, b.t, a.f + b.f)


def _or(a, b):
    _patch(a.f, b.head)
    return _Frag(a.head, a.t + b.t, b.f)


def _not(a):
    return _Frag(a.head, a.f, a.t)


class _Offset(object):
    """libpcap's bpf_abs_offset: a constant part plus, maybe, a scratch register."""

    __slots__ = ("constant", "variable", "reg")

    def __init__(self, constant):
        self.constant = constant
        self.variable = False
        self.reg = -1


class _Arth(object):
    __slots__ = ("s", "regno", "b")

    def __init__(self, s, regno, b=None):
        self.s = s
        self.regno = regno
        self.b = b


# offsets relative to what (gencode.c's enum e_offrel)
(_OR_PACKET, _OR_LINKHDR, _OR_LLC, _OR_LINKTYPE, _OR_LINKPL, _OR_TRAN_IPV4,
 _OR_TRAN_IPV6) = range(7)

_PROTO_WORDS = {
    "LINK": "link", "IP": "ip", "ARP": "arp", "RARP": "rarp", "SCTP": "sctp", "TCP": "tcp",
    "UDP": "udp", "ICMP": "icmp", "IGMP": "igmp", "IGRP": "igrp", "PIM": "pim",
    "VRRP": "vrrp", "CARP": "carp", "ATALK": "atalk", "AARP": "aarp", "DECNET": "decnet",
    "LAT": "lat", "SCA": "sca", "MOPDL": "mopdl", "MOPRC": "moprc", "IPV6": "ip6",
    "ICMPV6": "icmp6", "AH": "ah", "ESP": "esp", "ISO": "iso", "ESIS": "esis",
    "ISIS": "isis", "L1": "l1", "L2": "l2", "IIH": "iih", "LSP": "lsp", "SNP": "snp",
    "PSNP": "psnp", "CSNP": "csnp", "CLNP": "clnp", "STP": "stp", "IPX": "ipx",
    "NETBEUI": "netbeui", "RADIO": "radio",
}


# a protocol keyword alone: (IP protocol, the IP version it implies, the next header
# qualifier) for gen_proto, or an ethertype for gen_linktype (gencode.c's switch)
_ABBREV_IPPROTO = {
    "SCTP": (IPPROTO_SCTP, "DEFAULT", "DEFAULT"),
    "TCP": (IPPROTO_TCP, "DEFAULT", "DEFAULT"),
    "UDP": (IPPROTO_UDP, "DEFAULT", "DEFAULT"),
    "ICMP": (IPPROTO_ICMP, "IP", "DEFAULT"),
    "IGMP": (IPPROTO_IGMP, "IP", "DEFAULT"),
    "IGRP": (IPPROTO_IGRP, "IP", "DEFAULT"),
    "PIM": (IPPROTO_PIM, "DEFAULT", "DEFAULT"),
    "VRRP": (IPPROTO_VRRP, "IP", "DEFAULT"),
    "CARP": (IPPROTO_VRRP, "IP", "DEFAULT"),
    "ICMPV6": (IPPROTO_ICMPV6, "IPV6", "DEFAULT"),
    "AH": (IPPROTO_AH, "DEFAULT", "DEFAULT"),
    "ESP": (IPPROTO_ESP, "DEFAULT", "DEFAULT"),
}
_ABBREV_ETHERTYPE = {
    "IP": ETH_P_IP, "ARP": ETH_P_ARP, "RARP": ETH_P_RARP, "IPV6": ETH_P_IPV6,
    "DECNET": ETH_P_DNA_RT, "SCA": ETH_P_SCA, "LAT": ETH_P_LAT,
    "MOPDL": ETH_P_DNA_DL, "MOPRC": ETH_P_DNA_RC,
}


class CodeGen(object):
    """gencode.c for the supported link types and primitives, one compilation."""

    def __init__(self, linktype, live):
        self.linktype = linktype
        self.live = live
        self.regused = [False] * BPF_MEMWORDS
        self.curreg = 0
        self.vlan_depth = 0
        self.vlan_vloffset = False
        self.off_linkhdr = _Offset(0)
        self.off_nl = 0
        self.off_nl_nosnap = 0
        if linktype == LINKTYPE_ETHERNET:
            self.off_linktype, self.off_linkpl = _Offset(12), _Offset(14)
            self.off_nl_nosnap = 3
        elif linktype == LINKTYPE_LINUX_SLL:
            self.off_linktype, self.off_linkpl = _Offset(14), _Offset(16)
        elif linktype == LINKTYPE_LINUX_SLL2:
            self.off_linktype, self.off_linkpl = _Offset(0), _Offset(20)
        elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
            self.off_linktype, self.off_linkpl = _Offset(0), _Offset(4)
        elif linktype in _RAW_LINKTYPES or linktype in (LINKTYPE_IPV4, LINKTYPE_IPV6):
            self.off_linktype, self.off_linkpl = None, _Offset(0)
        else:
            raise error(None, "link type %r is not supported (supported: %s)" % (
                linktype, ", ".join("%d (%s)" % (n, _LINKTYPE_NAMES[n])
                                    for n in sorted(_LINKTYPE_NAMES))))
        self.pos = None

    def fail(self, message):
        return error(self.pos, message)

    def linkname(self):
        return _LINKTYPE_NAMES[self.linktype]

    # registers
    def alloc_reg(self):
        for _ in range(BPF_MEMWORDS):
            if self.regused[self.curreg]:
                self.curreg = (self.curreg + 1) % BPF_MEMWORDS
            else:
                self.regused[self.curreg] = True
                return self.curreg
        raise self.fail("too many registers needed to evaluate expression")

    def free_reg(self, n):
        self.regused[n] = False

    # loads
    def abs_offset_varpart(self, off):
        if off.variable:
            if off.reg == -1:
                off.reg = self.alloc_reg()
            return [Stmt(BPF_LDX | BPF_MEM, off.reg)]
        return None

    def load_absoffsetrel(self, off, offset, size):
        s = self.abs_offset_varpart(off)
        if s is not None:
            s.append(Stmt(BPF_LD | BPF_IND | size, off.constant + offset))
            return s
        return [Stmt(BPF_LD | BPF_ABS | size, off.constant + offset)]

    def loadx_iphdrlen(self):
        s = self.abs_offset_varpart(self.off_linkpl)
        if s is not None:
            s.append(Stmt(BPF_LD | BPF_IND | BPF_B, self.off_linkpl.constant + self.off_nl))
            s.append(Stmt(BPF_ALU | BPF_AND | BPF_K, 0xF))
            s.append(Stmt(BPF_ALU | BPF_LSH | BPF_K, 2))
            s.append(Stmt(BPF_ALU | BPF_ADD | BPF_X))
            s.append(Stmt(BPF_MISC | BPF_TAX))
            return s
        return [Stmt(BPF_LDX | BPF_MSH | BPF_B, self.off_linkpl.constant + self.off_nl)]

    def load_a(self, offrel, offset, size):
        if offrel == _OR_PACKET:
            return [Stmt(BPF_LD | BPF_ABS | size, offset)]
        if offrel == _OR_LINKHDR:
            return self.load_absoffsetrel(self.off_linkhdr, offset, size)
        if offrel == _OR_LLC:
            return self.load_absoffsetrel(self.off_linkpl, offset, size)
        if offrel == _OR_LINKTYPE:
            return self.load_absoffsetrel(self.off_linktype, offset, size)
        if offrel == _OR_LINKPL:
            return self.load_absoffsetrel(self.off_linkpl, self.off_nl + offset, size)
        if offrel == _OR_TRAN_IPV4:
            s = self.loadx_iphdrlen()
            s.append(Stmt(BPF_LD | BPF_IND | size,
                          self.off_linkpl.constant + self.off_nl + offset))
            return s
        return self.load_absoffsetrel(self.off_linkpl, self.off_nl + _IP6_HDRLEN + offset,
                                      size)

    # comparisons
    def ncmp(self, offrel, offset, size, mask, jtype, reverse, v):
        s = self.load_a(offrel, offset, size)
        if mask != U32:
            s.append(Stmt(BPF_ALU | BPF_AND | BPF_K, mask))
        b = _leaf(Block(BPF_JMP | jtype | BPF_K, v, s))
        if reverse and jtype in (BPF_JGT, BPF_JGE):
            b = _not(b)
        return b

    def cmp(self, offrel, offset, size, v):
        return self.ncmp(offrel, offset, size, U32, BPF_JEQ, False, v)

    def cmp_gt(self, offrel, offset, size, v):
        return self.ncmp(offrel, offset, size, U32, BPF_JGT, False, v)

    def cmp_ge(self, offrel, offset, size, v):
        return self.ncmp(offrel, offset, size, U32, BPF_JGE, False, v)

    def cmp_lt(self, offrel, offset, size, v):
        return self.ncmp(offrel, offset, size, U32, BPF_JGE, True, v)

    def cmp_le(self, offrel, offset, size, v):
        return self.ncmp(offrel, offset, size, U32, BPF_JGT, True, v)

    def mcmp(self, offrel, offset, size, v, mask):
        return self.ncmp(offrel, offset, size, mask, BPF_JEQ, False, v)

    def bcmp(self, offrel, offset, value):
        size = len(value)
        b = None
        while size >= 4:
            w = struct.unpack("!I", value[size - 4:size])[0]
            tmp = self.cmp(offrel, offset + size - 4, BPF_W, w)
            b = tmp if b is None else _and(b, tmp)
            size -= 4
        while size >= 2:
            w = struct.unpack("!H", value[size - 2:size])[0]
            tmp = self.cmp(offrel, offset + size - 2, BPF_H, w)
            b = tmp if b is None else _and(b, tmp)
            size -= 2
        if size > 0:
            tmp = self.cmp(offrel, offset, BPF_B, value[0])
            b = tmp if b is None else _and(b, tmp)
        return b

    def uncond(self, rsense):
        return _leaf(Block(BPF_JMP | BPF_JEQ | BPF_K, 0,
                           [Stmt(BPF_LD | BPF_IMM, 0 if rsense else 1)]))

    def true(self):
        return self.uncond(True)

    def false(self):
        return self.uncond(False)

    # link-layer type tests
    def gen_linktype(self, proto):
        lt = self.linktype
        if lt == LINKTYPE_ETHERNET:
            return self.ether_linktype(proto)
        if lt == LINKTYPE_LINUX_SLL:
            return self.sll_linktype(proto)
        if lt == LINKTYPE_LINUX_SLL2:
            # libpcap 1.10 has no 802.2 special cases for SLL2
            return self.cmp(_OR_LINKTYPE, 0, BPF_H, proto)
        if lt in (LINKTYPE_NULL, LINKTYPE_LOOP):
            if proto == ETH_P_IP:
                return self.loopback_linktype(AF_INET)
            if proto != ETH_P_IPV6:
                return self.false()
            if self.live:
                return self.loopback_linktype(AF_INET6)
            # files: the BSDs' three values for AF_INET6, as tcpdump -r tests them
            b1 = _or(self.loopback_linktype(_BSD_AF_INET6_BSD),
                     self.loopback_linktype(_BSD_AF_INET6_FREEBSD))
            return _or(self.loopback_linktype(_BSD_AF_INET6_DARWIN), b1)
        if lt in _RAW_LINKTYPES:
            if proto == ETH_P_IP:
                return self.mcmp(_OR_LINKHDR, 0, BPF_B, 0x40, 0xF0)
            if proto == ETH_P_IPV6:
                return self.mcmp(_OR_LINKHDR, 0, BPF_B, 0x60, 0xF0)
            return self.false()
        if lt == LINKTYPE_IPV4:
            return self.true() if proto == ETH_P_IP else self.false()
        return self.true() if proto == ETH_P_IPV6 else self.false()

    def loopback_linktype(self, af):
        if self.linktype == LINKTYPE_NULL:
            # the capturing host's byte order: little-endian, as tcpdump on x86 reads it
            af = struct.unpack("<I", struct.pack(">I", af))[0]
        return self.cmp(_OR_LINKHDR, 0, BPF_W, af)

    def unsupported_llc(self, proto):
        if proto in (_LLC_SAP_IPX, ETH_P_ATALK, ETH_P_AARP):
            raise self.fail("IPX and AppleTalk link-layer tests are not supported by this "
                            "filter compiler")

    def ether_linktype(self, proto):
        self.unsupported_llc(proto)
        if proto in (_LLC_SAP_ISONS, _LLC_SAP_IP, _LLC_SAP_NETBEUI):
            b0 = _not(self.cmp_gt(_OR_LINKTYPE, 0, BPF_H, ETH_DATA_LEN))
            b1 = self.cmp(_OR_LLC, 0, BPF_H, (proto << 8) | proto)
            return _and(b0, b1)
        if proto <= ETH_DATA_LEN:
            b0 = _not(self.cmp_gt(_OR_LINKTYPE, 0, BPF_H, ETH_DATA_LEN))
            b1 = self.cmp(_OR_LINKTYPE, 2, BPF_B, proto)
            return _and(b0, b1)
        return self.cmp(_OR_LINKTYPE, 0, BPF_H, proto)

    def sll_linktype(self, proto):
        self.unsupported_llc(proto)
        if proto in (_LLC_SAP_ISONS, _LLC_SAP_IP, _LLC_SAP_NETBEUI):
            b0 = self.cmp(_OR_LINKTYPE, 0, BPF_H, ETH_P_802_2)
            b1 = self.cmp(_OR_LINKPL, 0, BPF_H, (proto << 8) | proto)
            return _and(b0, b1)
        if proto <= ETH_DATA_LEN:
            b0 = self.cmp(_OR_LINKTYPE, 0, BPF_H, ETH_P_802_2)
            b1 = self.cmp(_OR_LINKHDR, self.off_linkpl.constant, BPF_B, proto)
            return _and(b0, b1)
        return self.cmp(_OR_LINKTYPE, 0, BPF_H, proto)

    # hosts and networks
    def gen_hostop(self, addr, mask, direction, proto, src_off, dst_off):
        return self.gen_dirs(direction,
                             lambda: self._hostop(addr, mask, proto, src_off),
                             lambda: self._hostop(addr, mask, proto, dst_off))

    def _hostop(self, addr, mask, proto, offset):
        b0 = self.gen_linktype(proto)
        b1 = self.mcmp(_OR_LINKPL, offset, BPF_W, addr, mask)
        return _and(b0, b1)

    def gen_host(self, addr, mask, proto, direction, typestr):
        if proto == "DEFAULT":
            b0 = self.gen_host(addr, mask, "IP", direction, typestr)
            b1 = self.gen_host(addr, mask, "ARP", direction, typestr)
            b1 = _or(b0, b1)
            b0 = self.gen_host(addr, mask, "RARP", direction, typestr)
            return _or(b1, b0)
        if proto == "IP":
            return self.gen_hostop(addr, mask, direction, ETH_P_IP, 12, 16)
        if proto == "RARP":
            return self.gen_hostop(addr, mask, direction, ETH_P_RARP, 14, 24)
        if proto == "ARP":
            return self.gen_hostop(addr, mask, direction, ETH_P_ARP, 14, 24)
        if proto == "LINK":
            raise self.fail("link-layer modifier applied to %s" % typestr)
        if proto == "IPV6":
            raise self.fail("'ip6' modifier applied to ip %s (an IPv4 address)" % typestr)
        raise self.fail("'%s' modifier applied to %s" % (_PROTO_WORDS[proto], typestr))

    def gen_hostop6(self, addr, mask, direction, proto, src_off, dst_off):
        return self.gen_dirs(direction,
                             lambda: self._hostop6(addr, mask, proto, src_off),
                             lambda: self._hostop6(addr, mask, proto, dst_off))

    def _hostop6(self, addr, mask, proto, offset):
        a = struct.unpack("!4I", addr)
        m = struct.unpack("!4I", mask)
        b1 = self.mcmp(_OR_LINKPL, offset + 12, BPF_W, a[3], m[3])
        b0 = self.mcmp(_OR_LINKPL, offset + 8, BPF_W, a[2], m[2])
        b1 = _and(b0, b1)
        b0 = self.mcmp(_OR_LINKPL, offset + 4, BPF_W, a[1], m[1])
        b1 = _and(b0, b1)
        b0 = self.mcmp(_OR_LINKPL, offset, BPF_W, a[0], m[0])
        b1 = _and(b0, b1)
        b0 = self.gen_linktype(proto)
        return _and(b0, b1)

    def gen_host6(self, addr, mask, proto, direction, typestr):
        if proto in ("DEFAULT", "IPV6"):
            return self.gen_hostop6(addr, mask, direction, ETH_P_IPV6, 8, 24)
        if proto == "LINK":
            raise self.fail("link-layer modifier applied to ip6 %s" % typestr)
        raise self.fail("'%s' modifier applied to ip6 %s" % (_PROTO_WORDS[proto], typestr))

    # ports
    def gen_ipfrag(self):
        s = self.load_a(_OR_LINKPL, 6, BPF_H)
        return _not(_leaf(Block(BPF_JMP | BPF_JSET | BPF_K, 0x1FFF, s)))

    def gen_portatom(self, off, v):
        return self.cmp(_OR_TRAN_IPV4, off, BPF_H, v)

    def gen_portatom6(self, off, v):
        return self.cmp(_OR_TRAN_IPV6, off, BPF_H, v)

    def gen_portrangeatom(self, off, v1, v2):
        if v1 > v2:
            v1, v2 = v2, v1
        b1 = self.cmp_ge(_OR_TRAN_IPV4, off, BPF_H, v1)
        b2 = self.cmp_le(_OR_TRAN_IPV4, off, BPF_H, v2)
        return _and(b1, b2)

    def gen_portrangeatom6(self, off, v1, v2):
        if v1 > v2:
            v1, v2 = v2, v1
        b1 = self.cmp_ge(_OR_TRAN_IPV6, off, BPF_H, v1)
        b2 = self.cmp_le(_OR_TRAN_IPV6, off, BPF_H, v2)
        return _and(b1, b2)

    def gen_dirs(self, direction, src, dst):
        """The source test, the destination test, or both (made in that order, as libpcap
        makes them) joined as the qualifier says: ``src and dst``, else ``or``."""
        if direction == "SRC":
            return src()
        if direction == "DST":
            return dst()
        b0 = src()
        b1 = dst()
        return _and(b0, b1) if direction == "AND" else _or(b0, b1)

    def gen_port_dirs(self, atom, direction):
        """Ports: the source port at transport offset 0, the destination at 2."""
        return self.gen_dirs(direction, lambda: atom(0), lambda: atom(2))

    def gen_portop(self, atom, proto, direction):
        tmp = self.cmp(_OR_LINKPL, 9, BPF_B, proto)
        b0 = _and(tmp, self.gen_ipfrag())
        return _and(b0, self.gen_port_dirs(atom, direction))

    def gen_portop6(self, atom, proto, direction):
        b0 = self.cmp(_OR_LINKPL, 6, BPF_B, proto)
        return _and(b0, self.gen_port_dirs(atom, direction))

    def gen_port_any(self, op, atom, ethertype, proto, direction):
        b0 = self.gen_linktype(ethertype)
        if proto is None:
            tmp = op(atom, IPPROTO_TCP, direction)
            b1 = _or(tmp, op(atom, IPPROTO_UDP, direction))
            b1 = _or(op(atom, IPPROTO_SCTP, direction), b1)
        else:
            b1 = op(atom, proto, direction)
        return _and(b0, b1)

    def gen_ports(self, lo, hi, proto, direction, is_range):
        if is_range:
            atom4 = lambda off: self.gen_portrangeatom(off, lo, hi)
            atom6 = lambda off: self.gen_portrangeatom6(off, lo, hi)
        else:
            atom4 = lambda off: self.gen_portatom(off, lo)
            atom6 = lambda off: self.gen_portatom6(off, lo)
        b = self.gen_port_any(self.gen_portop, atom4, ETH_P_IP, proto, direction)
        b6 = self.gen_port_any(self.gen_portop6, atom6, ETH_P_IPV6, proto, direction)
        return _or(b6, b)

    # protocols
    def gen_proto(self, v, proto, direction):
        if direction != "DEFAULT":
            raise self.fail("direction applied to 'proto'")
        if proto == "DEFAULT":
            b0 = self.gen_proto(v, "IP", direction)
            b1 = self.gen_proto(v, "IPV6", direction)
            return _or(b0, b1)
        if proto == "LINK":
            return self.gen_linktype(v)
        if proto == "IP":
            b0 = self.gen_linktype(ETH_P_IP)
            b1 = self.cmp(_OR_LINKPL, 9, BPF_B, v)
            return _and(b0, b1)
        if proto == "IPV6":
            b0 = self.gen_linktype(ETH_P_IPV6)
            b2 = self.cmp(_OR_LINKPL, 6, BPF_B, IPPROTO_FRAGMENT)
            b1 = self.cmp(_OR_LINKPL, _IP6_HDRLEN, BPF_B, v)
            b1 = _and(b2, b1)
            b2 = self.cmp(_OR_LINKPL, 6, BPF_B, v)
            b1 = _or(b2, b1)
            return _and(b0, b1)
        if proto in ("ARP", "RARP", "LAT", "SCA", "MOPRC", "MOPDL"):
            raise self.fail("%s does not encapsulate another protocol"
                            % _PROTO_WORDS[proto])
        raise self.fail("'%s proto' is bogus" % _PROTO_WORDS[proto])

    def gen_proto_abbrev(self, proto):
        """A protocol keyword on its own (``tcp``, ``arp``...), as gencode.c's switch."""
        ip = _ABBREV_IPPROTO.get(proto)
        if ip is not None:
            return self.gen_proto(*ip)
        ethertype = _ABBREV_ETHERTYPE.get(proto)
        if ethertype is not None:
            return self.gen_linktype(ethertype)
        if proto == "LINK":
            raise self.fail("link layer applied in wrong context")
        raise self.fail("'%s' is not supported by this filter compiler"
                        % _PROTO_WORDS[proto])

    # the identifier productions
    def gen_ncode(self, text, v, q):
        proto, direction, addr, word = q
        if text is None:
            vlen = 32
        else:
            vlen, v = self.atoin(text)
        if addr in ("DEFAULT", "HOST", "NET"):
            if proto == "DECNET":
                raise self.fail("DECnet addresses are not supported by this filter "
                                "compiler")
            if proto == "LINK":
                raise self.fail("illegal link layer address: an IP address after '%s'"
                                % word)
            mask = U32
            if text is None and addr == "NET":
                while v and (v & 0xFF000000) == 0:
                    v = (v << 8) & U32
                    mask = (mask << 8) & U32
            else:
                v = (v << (32 - vlen)) & U32
                mask = (mask << (32 - vlen)) & U32
            return self.gen_host(v, mask, proto, direction,
                                 "net" if addr == "NET" else "host")
        if addr in ("PORT", "PORTRANGE"):
            ipproto = self.port_proto(proto, addr)
            if v > 65535:
                raise self.fail("illegal port number %d > 65535" % v)
            return self.gen_ports(v, v, ipproto, direction, addr == "PORTRANGE")
        if addr == "PROTO":
            return self.gen_proto(v, proto, direction)
        raise self.fail("'%s' needs a qualifier such as 'host' or 'port' before it (an "
                        "address or number repeats only the qualifiers of the primitive "
                        "before it)" % (text if text is not None else v))

    def port_proto(self, proto, addr):
        if proto == "UDP":
            return IPPROTO_UDP
        if proto == "TCP":
            return IPPROTO_TCP
        if proto == "SCTP":
            return IPPROTO_SCTP
        if proto == "DEFAULT":
            return None
        raise self.fail("illegal qualifier of '%s'" % addr.lower())

    def atoin(self, text):
        parts = text.split(".")
        value = 0
        for part in parts:
            if not part.isdigit() or int(part) > 255:
                raise self.fail("invalid IPv4 address '%s'" % text)
            value = (value << 8) | int(part)
        return 8 * len(parts), value

    def gen_mcode(self, s1, s2, masklen, q):
        nlen, n = self.atoin(s1)
        n = (n << (32 - nlen)) & U32
        if s2 is not None:
            mlen, m = self.atoin(s2)
            m = (m << (32 - mlen)) & U32
            if n & ~m & U32:
                raise self.fail('non-network bits set in "%s mask %s"' % (s1, s2))
        else:
            if masklen > 32:
                raise self.fail("mask length must be <= 32")
            m = (U32 << (32 - masklen)) & U32
            if n & ~m & U32:
                raise self.fail('non-network bits set in "%s/%d"' % (s1, masklen))
        if q[2] != "NET":
            raise self.fail("mask syntax is for networks only: use 'net %s'"
                            % (s1 + ("/%d" % masklen if s2 is None else " mask " + s2)))
        return self.gen_host(n, m, q[0], q[1], "net")

    def gen_mcode6(self, text, masklen, q):
        addr = socket.inet_pton(socket.AF_INET6, text)
        if masklen > 128:
            raise self.fail("mask length must be <= 128")
        mask = ((1 << 128) - 1) ^ ((1 << (128 - masklen)) - 1)
        maskb = mask.to_bytes(16, "big")
        if int.from_bytes(addr, "big") & ~mask:
            raise self.fail('non-network bits set in "%s/%d"' % (text, masklen))
        if q[2] in ("DEFAULT", "HOST"):
            if masklen != 128:
                raise self.fail("mask syntax is for networks only: use 'net %s/%d'"
                                % (text, masklen))
        elif q[2] != "NET":
            raise self.fail("invalid qualifier against IPv6 address")
        return self.gen_host6(addr, maskb, q[0], q[1],
                              "net" if q[2] == "NET" else "host")

    def gen_ecode(self, text, q):
        proto, direction, addr, _ = q
        if addr in ("HOST", "DEFAULT") and proto == "LINK":
            if self.linktype != LINKTYPE_ETHERNET:
                raise self.fail("Ethernet addresses are supported only on Ethernet, not "
                                "on %s" % self.linkname())
            mac = bytes(int(x, 16) for x in re.findall(r"[0-9A-Fa-f]{1,2}",
                                                       self.normal_mac(text)))
            return self.gen_ehostop(mac, direction)
        raise self.fail("Ethernet address used in non-ether expression (use 'ether host "
                        "%s')" % text)

    @staticmethod
    def normal_mac(text):
        if re.match(r"^[0-9A-Fa-f]{12}$", text):
            return ":".join(text[i:i + 2] for i in range(0, 12, 2))
        if re.match(r"^[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}$", text):
            h = text.replace(".", "")
            return ":".join(h[i:i + 2] for i in range(0, 12, 2))
        return text.replace("-", ":").replace(".", ":")

    def gen_ehostop(self, mac, direction):
        return self.gen_dirs(direction, lambda: self.bcmp(_OR_LINKHDR, 6, mac),
                             lambda: self.bcmp(_OR_LINKHDR, 0, mac))

    def gen_scode(self, name, q):
        proto, direction, addr, word = q
        if addr in ("DEFAULT", "HOST", "NET"):
            what = "network" if addr == "NET" else "host"
            if proto == "LINK":
                what = "Ethernet host"
            raise self.fail("'%s' is a %s name: names are not looked up (no DNS, hosts, "
                            "networks or ethers files); give a numeric address"
                            % (name, what))
        if addr == "PORT":
            ipproto = self.port_proto(proto, addr)
            port, real = self.port_by_name(name, "port", word)
            real = self.check_port_proto(name, proto, real, "port '%s'" % name)
            if ipproto is not None and real is None:
                real = ipproto
            return self.gen_ports(port, port, real, direction, False)
        if addr == "PORTRANGE":
            ipproto = self.port_proto(proto, addr)
            lo, hi, real = self.portrange_by_name(name, word)
            real = self.check_port_proto(name, proto, real,
                                         "port in range '%s'" % name)
            if ipproto is not None and real is None:
                real = ipproto
            return self.gen_ports(lo, hi, real, direction, True)
        if addr == "PROTO":
            return self.gen_proto(self.lookup_proto(name, proto), proto, direction)
        raise self.fail("'%s' needs a qualifier such as 'host' or 'port' before it (an "
                        "address or name repeats only the qualifiers of the primitive "
                        "before it)" % name)

    def check_port_proto(self, name, proto, real, what):
        names = {IPPROTO_TCP: "tcp", IPPROTO_UDP: "udp", IPPROTO_SCTP: "sctp"}
        for qual, number in (("UDP", IPPROTO_UDP), ("TCP", IPPROTO_TCP),
                             ("SCTP", IPPROTO_SCTP)):
            if proto == qual:
                if real is not None and real != number:
                    raise self.fail("%s is %s" % (what, names[real]))
                return number
        return real

    def port_by_name(self, name, kind, word):
        ports = {}
        for p in _PORT_PROTOS:
            try:
                ports[p] = socket.getservbyname(name, p)
            except (OSError, TypeError):
                pass
        if "tcp" in ports:
            if "udp" in ports and ports["udp"] == ports["tcp"]:
                return ports["tcp"], None
            return ports["tcp"], IPPROTO_TCP
        if "udp" in ports:
            return ports["udp"], IPPROTO_UDP
        raise self.fail("expected a port number after '%s', got '%s' (not a service "
                        "name in /etc/services)" % (word, name))

    def portrange_by_name(self, name, word):
        m = re.match(r"^\s*(\d+)-(\d+)", name)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            real = None
        else:
            first, sep, second = name.partition("-")
            if not sep or not first or not second:
                raise self.fail("expected a port range such as 6000-6010 after '%s', "
                                "got '%s'" % (word, name))
            lo, real1 = self.port_by_name(first, "portrange", word)
            hi, real = self.port_by_name(second, "portrange", word)
            if real1 != real:
                real = None
        for p in (lo, hi):
            if p > 65535:
                raise self.fail("illegal port number %d > 65535" % p)
        return lo, hi, real

    def lookup_proto(self, name, proto):
        if proto in ("DEFAULT", "IP", "IPV6"):
            try:
                return socket.getprotobyname(name)
            except OSError:
                if name in _PROTO_FALLBACK:
                    return _PROTO_FALLBACK[name]
            raise self.fail("unknown ip proto '%s' (not in /etc/protocols)" % name)
        if proto == "LINK":
            if name in _ETHERPROTO_NAMES:
                return _ETHERPROTO_NAMES[name]
            raise self.fail("unknown ether proto '%s'" % name)
        return -1

    # other primitives
    def gen_broadcast(self, proto):
        if proto in ("DEFAULT", "LINK"):
            if self.linktype != LINKTYPE_ETHERNET:
                raise self.fail("not a broadcast link: %s" % self.linkname())
            return self.gen_ehostop(b"\xff" * 6, "DST")
        if proto == "IP":
            # tcpdump compiles files with netmask 0: the host part is the whole address
            hostmask = U32
            b0 = self.gen_linktype(ETH_P_IP)
            b1 = self.mcmp(_OR_LINKPL, 16, BPF_W, 0, hostmask)
            b2 = self.mcmp(_OR_LINKPL, 16, BPF_W, hostmask, hostmask)
            return _and(b0, _or(b1, b2))
        raise self.fail("only link-layer/IP broadcast filters supported")

    def gen_multicast(self, proto):
        if proto in ("DEFAULT", "LINK"):
            if self.linktype == LINKTYPE_ETHERNET:
                s = self.load_a(_OR_LINKHDR, 0, BPF_B)
                return _leaf(Block(BPF_JMP | BPF_JSET | BPF_K, 1, s))
        elif proto == "IP":
            return _and(self.gen_linktype(ETH_P_IP), self.cmp_ge(_OR_LINKPL, 16, BPF_B, 224))
        elif proto == "IPV6":
            return _and(self.gen_linktype(ETH_P_IPV6), self.cmp(_OR_LINKPL, 24, BPF_B, 255))
        raise self.fail("link-layer multicast filters are supported only on Ethernet")

    def gen_inbound(self, outbound):
        if self.linktype == LINKTYPE_LINUX_SLL:
            b0 = self.cmp(_OR_LINKHDR, 0, BPF_H, PACKET_OUTGOING)
        elif self.linktype == LINKTYPE_LINUX_SLL2:
            b0 = self.cmp(_OR_LINKHDR, 10, BPF_B, PACKET_OUTGOING)
        elif self.live:
            b0 = self.cmp(_OR_LINKHDR, SKF_AD_OFF + SKF_AD_PKTTYPE, BPF_H, PACKET_OUTGOING)
        else:
            raise self.fail("inbound/outbound not supported on %s when reading capture "
                            "files" % self.linkname())
        return b0 if outbound else _not(b0)

    def gen_vlan(self, vid):
        if self.linktype != LINKTYPE_ETHERNET:
            raise self.fail("no VLAN support for %s" % self.linkname())
        if vid is not None and vid > 0x0FFF:
            raise self.fail("VLAN tag %d greater than maximum %d" % (vid, 0x0FFF))
        if self.live and self.vlan_depth == 0:
            b0 = self.vlan_bpf_extensions(vid)
        else:
            b0 = self.vlan_tpid_test()
            if vid is not None:
                b0 = _and(b0, self.vlan_vid_test(vid))
            self.off_linkpl.constant += 4
            self.off_linktype.constant += 4
        self.vlan_depth += 1
        return b0

    def vlan_tpid_test(self):
        b0 = self.gen_linktype(ETH_P_8021Q)
        b1 = _or(b0, self.gen_linktype(ETH_P_8021AD))
        return _or(b1, self.gen_linktype(ETH_P_QINQ1))

    def vlan_vid_test(self, vid):
        return self.mcmp(_OR_LINKPL, 0, BPF_H, vid, 0x0FFF)

    def vloffset_add(self, off, v, s):
        off.variable = True
        if off.reg == -1:
            off.reg = self.alloc_reg()
        s.append(Stmt(BPF_LD | BPF_MEM, off.reg))
        s.append(Stmt(BPF_ALU | BPF_ADD | BPF_K, v))
        s.append(Stmt(BPF_ST, off.reg))

    def vlan_bpf_extensions(self, vid):
        """libpcap's live Linux VLAN test: the tag in the metadata, else in the data."""
        s = [Stmt(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT)]
        b0 = _leaf(Block(BPF_JMP | BPF_JEQ | BPF_K, 1, s))
        b_tpid = self.vlan_tpid_test()
        b_vid = self.vlan_vid_test(vid) if vid is not None else None
        # the tag is in the data only when the tpid test runs: offsets move there
        self.vlan_vloffset = True
        s = []
        self.vloffset_add(self.off_linkpl, 4, s)
        self.vloffset_add(self.off_linktype, 4, s)
        b_tpid.head.stmts = s + b_tpid.head.stmts
        b0 = _or(b0, b_tpid)
        if b_vid is not None:
            vid_stmts = b_vid.head.stmts
            present = Stmt(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT)
            jeq = Stmt(BPF_JMP | BPF_JEQ | BPF_K, 1)
            tci = Stmt(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + SKF_AD_VLAN_TAG)
            jeq.jt = tci
            jeq.jf = vid_stmts[0]
            ja = Stmt(BPF_JMP | BPF_JA, len(vid_stmts) - 1)
            b_vid.head.stmts = [present, jeq, tci, ja] + vid_stmts
            b0 = _and(b0, b_vid)
        return b0

    def gen_len(self, jmp, n):
        return _leaf(Block(BPF_JMP | jmp | BPF_K, n, [Stmt(BPF_LD | BPF_W | BPF_LEN)]))

    # arithmetic
    def gen_loadi(self, val):
        reg = self.alloc_reg()
        return _Arth([Stmt(BPF_LD | BPF_IMM, val), Stmt(BPF_ST, reg)], reg)

    def gen_loadlen(self):
        reg = self.alloc_reg()
        return _Arth([Stmt(BPF_LD | BPF_W | BPF_LEN), Stmt(BPF_ST, reg)], reg)

    def gen_neg(self, a):
        a.s.append(Stmt(BPF_LD | BPF_MEM, a.regno))
        a.s.append(Stmt(BPF_ALU | BPF_NEG))
        a.s.append(Stmt(BPF_ST, a.regno))
        return a

    def gen_arth(self, code, a0, a1):
        first = a1.s[0]
        if first.code == BPF_LD | BPF_IMM:
            if code == BPF_DIV and first.k == 0:
                raise self.fail("division by zero")
            if code == BPF_MOD and first.k == 0:
                raise self.fail("modulus by zero")
            if code in (BPF_LSH, BPF_RSH) and first.k > 31:
                raise self.fail("shift by more than 31 bits")
        a0.s.extend(a1.s)
        a0.s.append(Stmt(BPF_LDX | BPF_MEM, a1.regno))
        a0.s.append(Stmt(BPF_LD | BPF_MEM, a0.regno))
        a0.s.append(Stmt(BPF_ALU | BPF_X | code))
        self.free_reg(a0.regno)
        self.free_reg(a1.regno)
        a0.regno = self.alloc_reg()
        a0.s.append(Stmt(BPF_ST, a0.regno))
        # libpcap keeps only a0's protocol checks here: a1's are dropped (so the
        # program for "ip[0] + tcp[0] = 1" does not check for TCP); kept as it is
        return a0

    def gen_load(self, proto, word, inst, size):
        if size not in (1, 2, 4):
            raise self.fail("data size must be 1, 2, or 4")
        size_code = {1: BPF_B, 2: BPF_H, 4: BPF_W}[size]
        regno = self.alloc_reg()
        self.free_reg(inst.regno)
        if proto == "LINK":
            s = [Stmt(BPF_LDX | BPF_MEM, inst.regno),
                 Stmt(BPF_LD | BPF_IND | size_code, self.off_linkhdr.constant)]
            inst.s.extend(s)
        elif proto in ("IP", "ARP", "RARP", "IPV6", "DECNET", "SCA", "LAT", "MOPRC",
                       "MOPDL"):
            s = self.abs_offset_varpart(self.off_linkpl)
            if s is not None:
                s += [Stmt(BPF_LD | BPF_MEM, inst.regno), Stmt(BPF_ALU | BPF_ADD | BPF_X),
                      Stmt(BPF_MISC | BPF_TAX)]
            else:
                s = [Stmt(BPF_LDX | BPF_MEM, inst.regno)]
            s.append(Stmt(BPF_LD | BPF_IND | size_code,
                          self.off_linkpl.constant + self.off_nl))
            inst.s.extend(s)
            b = self.gen_proto_abbrev(proto)
            inst.b = b if inst.b is None else _and(inst.b, b)
        elif proto in ("SCTP", "TCP", "UDP", "ICMP", "IGMP", "IGRP", "PIM", "VRRP",
                       "CARP"):
            s = self.loadx_iphdrlen()
            s += [Stmt(BPF_LD | BPF_MEM, inst.regno), Stmt(BPF_ALU | BPF_ADD | BPF_X),
                  Stmt(BPF_MISC | BPF_TAX),
                  Stmt(BPF_LD | BPF_IND | size_code,
                       self.off_linkpl.constant + self.off_nl)]
            inst.s.extend(s)
            b = _and(self.gen_proto_abbrev(proto), self.gen_ipfrag())
            if inst.b is not None:
                b = _and(inst.b, b)
            inst.b = _and(self.gen_proto_abbrev("IP"), b)
        elif proto == "ICMPV6":
            b = self.gen_proto_abbrev("IPV6")
            inst.b = b if inst.b is None else _and(inst.b, b)
            inst.b = _and(inst.b, self.cmp(_OR_LINKPL, 6, BPF_B, IPPROTO_ICMPV6))
            s = self.abs_offset_varpart(self.off_linkpl)
            if s is not None:
                s += [Stmt(BPF_LD | BPF_MEM, inst.regno), Stmt(BPF_ALU | BPF_ADD | BPF_X),
                      Stmt(BPF_MISC | BPF_TAX)]
            else:
                s = [Stmt(BPF_LDX | BPF_MEM, inst.regno)]
            s.append(Stmt(BPF_LD | BPF_IND | size_code,
                          self.off_linkpl.constant + self.off_nl + _IP6_HDRLEN))
            inst.s.extend(s)
        else:
            raise self.fail("'%s[...]' is not supported: unsupported index operation"
                            % word)
        inst.regno = regno
        inst.s.append(Stmt(BPF_ST, regno))
        return inst

    def gen_relation(self, code, a0, a1, reversed_):
        stmts = a0.s + a1.s + [Stmt(BPF_LDX | BPF_MEM, a1.regno),
                               Stmt(BPF_LD | BPF_MEM, a0.regno)]
        if code == BPF_JEQ:
            stmts.append(Stmt(BPF_ALU | BPF_SUB | BPF_X))
            b = _leaf(Block(BPF_JMP | code | BPF_K, 0, stmts))
        else:
            b = _leaf(Block(BPF_JMP | code | BPF_X, 0, stmts))
        if reversed_:
            b = _not(b)
        self.free_reg(a0.regno)
        self.free_reg(a1.regno)
        if a0.b is not None:
            tmp = _and(a0.b, a1.b) if a1.b is not None else a0.b
        else:
            tmp = a1.b
        if tmp is not None:
            b = _and(tmp, b)
        return b

    # the tree walk, in yacc's action order
    def gen(self, node):
        kind = node[0]
        pos = node[1]
        if kind == "and":
            a = self.gen(node[2])
            b = self.gen(node[3])
            return _and(a, b)
        if kind == "or":
            a = self.gen(node[2])
            b = self.gen(node[3])
            return _or(a, b)
        if kind == "not":
            return _not(self.gen(node[2]))
        if kind == "rel":
            a0 = self.arth(node[4])
            a1 = self.arth(node[5])
            self.pos = pos
            return self.gen_relation(node[2], a0, a1, node[3])
        self.pos = pos
        if kind == "pname":
            return self.gen_proto_abbrev(node[2])
        if kind == "ncode":
            return self.gen_ncode(None, node[3], node[2])
        if kind == "ncode_hid":
            return self.gen_ncode(node[3], 0, node[2])
        if kind == "mcode":
            return self.gen_mcode(node[3], node[4], node[5], node[2])
        if kind == "mcode6":
            return self.gen_mcode6(node[3], node[4], node[2])
        if kind == "ecode":
            return self.gen_ecode(node[3], node[2])
        if kind == "scode":
            return self.gen_scode(node[3], node[2])
        # "other"
        what, arg = node[2], node[3]
        if what == "BROADCAST":
            return self.gen_broadcast(arg[0])
        if what == "MULTICAST":
            return self.gen_multicast(arg[0])
        if what == "LESS":
            return _not(self.gen_len(BPF_JGT, arg))
        if what == "GREATER":
            return self.gen_len(BPF_JGE, arg)
        if what == "VLAN":
            return self.gen_vlan(arg)
        if what in ("INBOUND", "OUTBOUND"):
            return self.gen_inbound(what == "OUTBOUND")
        return self.gen_linktype(ETH_P_PPP_DISC)

    def arth(self, node):
        kind = node[0]
        if kind == "num":
            return self.gen_loadi(node[2])
        if kind == "len":
            return self.gen_loadlen()
        if kind == "neg":
            a = self.arth(node[2])
            return self.gen_neg(a)
        if kind == "arth":
            a0 = self.arth(node[3])
            a1 = self.arth(node[4])
            self.pos = node[1]
            return self.gen_arth(node[2], a0, a1)
        index = self.arth(node[4])
        self.pos = node[1]
        return self.gen_load(node[2], node[3], index, node[5])

    def finish(self, root):
        """gencode.c's finish_parse: the root block gets the offset set-up, the exits
        the two returns."""
        if root is None:
            return Block(BPF_RET | BPF_K, _ACCEPT)
        if self.vlan_vloffset:
            if self.off_linkpl.reg == -1:
                self.off_linkpl.reg = self.alloc_reg()
            if self.off_linktype.reg == -1:
                self.off_linktype.reg = self.alloc_reg()
            root.head.stmts = [Stmt(BPF_LD | BPF_W | BPF_IMM, 0),
                               Stmt(BPF_ST, self.off_linkpl.reg),
                               Stmt(BPF_ST, self.off_linktype.reg)] + root.head.stmts
        _patch(root.t, Block(BPF_RET | BPF_K, _ACCEPT))
        _patch(root.f, Block(BPF_RET | BPF_K, 0))
        return root.head


def linearize(root):
    """libpcap's icode_to_fcode: blocks in reverse post-order (false branch first), jumps
    resolved, a ja added after a branch whose target is 256 or more away."""
    while True:
        placed = []
        seen = set()
        stack = [(root, False)]
        while stack:
            b, place = stack.pop()
            if place:
                placed.append(b)
                continue
            if b is None or id(b) in seen:
                continue
            seen.add(id(b))
            stack.append((b, True))
            stack.append((b.jt, False))
            stack.append((b.jf, False))
        order = placed[::-1]
        offset = 0
        for b in order:
            b.offset = offset
            offset += len(b.stmts) + 1 + b.longjt + b.longjf
        out = []
        retry = False
        for b in order:
            index = {id(s): i for i, s in enumerate(b.stmts)}
            for i, s in enumerate(b.stmts):
                if s.code & 0x07 == BPF_JMP and s.code != BPF_JMP | BPF_JA:
                    out.append((s.code, index[id(s.jt)] - i - 1, index[id(s.jf)] - i - 1,
                                s.k))
                else:
                    out.append((s.code, 0, 0, s.k))
            if b.code & 0x07 == BPF_RET:
                out.append((b.code, 0, 0, b.k))
                continue
            here = b.offset + len(b.stmts)
            extra = []
            jt = b.jt.offset - here - 1
            if jt >= 256:
                if not b.longjt:
                    b.longjt = 1
                    retry = True
                    break
                extra.append((BPF_JMP | BPF_JA, 0, 0, jt - 1))
                jt = 0
            jf = b.jf.offset - here - 1
            if jf >= 256:
                if not b.longjf:
                    b.longjf = 1
                    retry = True
                    break
                n = len(extra)
                extra.append((BPF_JMP | BPF_JA, 0, 0, jf - n - 1))
                jf = n
            out.append((b.code, jt, jf, b.k))
            out.extend(extra)
        if not retry:
            return out
