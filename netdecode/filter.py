"""Packet filters: tcpdump expressions compiled to classic BPF, run in the kernel or here.

``compile_filter(expr, linktype, live=False)`` parses a tcpdump filter expression
(pcap-filter(7)) and compiles it to a classic BPF program (linux/filter.h, the code
``tcpdump -d`` prints) for one link type.  The same program serves both ends:

* live capture attaches it to the packet socket (``Program.attach(sock)``, SO_ATTACH_FILTER);
* files run it here, through a Python function generated from the program once
  (``Program.match``), checked against a plain interpreter with the kernel's semantics
  (``Program.run_reference``).

The compiler follows libpcap 1.10 step by step, so that the frames a filter passes are
the frames ``tcpdump -r FILE EXPR`` passes: the parser reproduces the grammar of
libpcap's grammar.y (``and`` and ``or`` of equal precedence, left-associative; ``not``
binding tightest; an identifier without qualifiers repeats the last ones, so
``host a or b`` is ``host a or host b``), and the code generator reproduces gencode.c's
blocks for every primitive, so that ``compile_filter(..., optimize=False)`` prints what
``tcpdump -O -d`` prints.  The optimizer is this module's own: a path-sensitive
symbolic execution of that program which drops every load and test whose outcome is
already known on the path, emits each surviving test once, shares identical tails and,
as libpcap does, regroups chains of tests so that a value is loaded once; its programs
are about as long as libpcap's.  Like libpcap's, it drops loads whose value no test
needs, so a frame captured shorter than such a load reads is not rejected for it.
Optimizers differ in what they find unneeded: on frames cut short inside the headers
a filter reads, an expression that contradicts itself in part (``udp[4:2] > 9 and
icmp``) can be judged differently from tcpdump; on whole frames never.

Link types: Ethernet (1), Linux cooked SLL (113) and SLL2 (276), raw IP (101, 12, 14),
IPv4 (228), IPv6 (229), BSD NULL (0, address family in little-endian host order, as
tcpdump compiles it on x86) and OpenBSD LOOP (108).

Live capture on Linux: the kernel moves the outer 802.1Q tag of a received frame into
the socket buffer's metadata before a packet socket's filter runs.  With ``live=True``
the ``vlan`` primitive is compiled the way libpcap compiles it for a live Linux socket:
it tests the ancillary VLAN_TAG_PRESENT / VLAN_TAG loads (SKF_AD_OFF + 48 / + 44)
first, and only when no tag is in the metadata does it look for a tag in the frame
(and then moves the following offsets by 4).  Without ``live`` (files), tags are in the
frame data, as ``tcpdump -r`` sees them.  A cooked (SOCK_DGRAM) packet socket filters
packets without the Linux cooked header: ``Program.cooked()`` moves a program compiled
for SLL or SLL2 onto what that socket's filter sees, as libpcap does.

Deliberately left out: host, network, gateway and Ethernet names (no DNS or
/etc/hosts, /etc/networks, /etc/ethers lookups; port and protocol names come from
/etc/services and /etc/protocols), ``protochain``, MPLS, PPPoE sessions, Geneve,
802.11, ATM, SS7, ARCnet, DECnet addresses, IPX/AppleTalk/ISO link tests, ``byte``,
``ifindex``; ``ip broadcast`` uses the netmask 0 that tcpdump uses for files.  One
libpcap quirk is not copied: its optimizer takes ``x & 0xffffffff != 0`` as always
true; here it is tested.  One convenience is added: ``ip proto tcp`` (and the other
protocol keywords after ``proto``) where tcpdump wants ``ip proto \tcp``.
"""
import re
import socket
import struct

__all__ = ["FilterError", "compile_filter", "Program", "Filter"]

# --- linux/filter.h, linux/bpf_common.h --------------------------------------------------

_BPF_LD = 0x00
_BPF_LDX = 0x01
_BPF_ST = 0x02
_BPF_STX = 0x03
_BPF_ALU = 0x04
_BPF_JMP = 0x05
_BPF_RET = 0x06
_BPF_MISC = 0x07

_BPF_W = 0x00
_BPF_H = 0x08
_BPF_B = 0x10

_BPF_IMM = 0x00
_BPF_ABS = 0x20
_BPF_IND = 0x40
_BPF_MEM = 0x60
_BPF_LEN = 0x80
_BPF_MSH = 0xA0

_BPF_ADD = 0x00
_BPF_SUB = 0x10
_BPF_MUL = 0x20
_BPF_DIV = 0x30
_BPF_OR = 0x40
_BPF_AND = 0x50
_BPF_LSH = 0x60
_BPF_RSH = 0x70
_BPF_NEG = 0x80
_BPF_MOD = 0x90
_BPF_XOR = 0xA0

_BPF_JA = 0x00
_BPF_JEQ = 0x10
_BPF_JGT = 0x20
_BPF_JGE = 0x30
_BPF_JSET = 0x40

_BPF_K = 0x00
_BPF_X = 0x08
_BPF_A = 0x10

_BPF_TAX = 0x00
_BPF_TXA = 0x80

_BPF_MEMWORDS = 16
_BPF_MAXINSNS = 4096

# Ancillary loads: ld [SKF_AD_OFF + n] reads socket-buffer metadata instead of data.
_SKF_AD_OFF = 0xFFFFF000          # -0x1000 as the unsigned k of the instruction
_SKF_AD_PROTOCOL = 0
_SKF_AD_PKTTYPE = 4
_SKF_AD_IFINDEX = 8
_SKF_AD_NLATTR = 12
_SKF_AD_NLATTR_NEST = 16
_SKF_AD_MARK = 20
_SKF_AD_QUEUE = 24
_SKF_AD_HATYPE = 28
_SKF_AD_RXHASH = 32
_SKF_AD_CPU = 36
_SKF_AD_ALU_XOR_X = 40
_SKF_AD_VLAN_TAG = 44
_SKF_AD_VLAN_TAG_PRESENT = 48
_SKF_AD_PAY_OFFSET = 52
_SKF_AD_RANDOM = 56
_SKF_AD_VLAN_TPID = 60
_SKF_AD_MAX = 64

# asm-generic/socket.h
_SOL_SOCKET = 1
_SO_ATTACH_FILTER = 26
_SO_DETACH_FILTER = 27
_SO_GET_FILTER = _SO_ATTACH_FILTER

# linux/if_packet.h
_PACKET_OUTGOING = 4

# LINKTYPE_* (www.tcpdump.org/linktypes.html), as pcap files carry them
_LINKTYPE_NULL = 0
_LINKTYPE_ETHERNET = 1
_LINKTYPE_RAW_BSDOS = 12
_LINKTYPE_RAW_OPENBSD = 14
_LINKTYPE_RAW = 101
_LINKTYPE_LOOP = 108
_LINKTYPE_LINUX_SLL = 113
_LINKTYPE_IPV4 = 228
_LINKTYPE_IPV6 = 229
_LINKTYPE_LINUX_SLL2 = 276

_LINKTYPE_NAMES = {
    _LINKTYPE_NULL: "BSD loopback (NULL)", _LINKTYPE_ETHERNET: "Ethernet",
    _LINKTYPE_RAW_BSDOS: "raw IP", _LINKTYPE_RAW_OPENBSD: "raw IP", _LINKTYPE_RAW: "raw IP",
    _LINKTYPE_LOOP: "OpenBSD loopback (LOOP)", _LINKTYPE_LINUX_SLL: "Linux cooked v1",
    _LINKTYPE_IPV4: "raw IPv4", _LINKTYPE_IPV6: "raw IPv6",
    _LINKTYPE_LINUX_SLL2: "Linux cooked v2",
}
_RAW_LINKTYPES = (_LINKTYPE_RAW, _LINKTYPE_RAW_BSDOS, _LINKTYPE_RAW_OPENBSD)

# Ethernet types (linux/if_ether.h names)
_ETH_P_IP = 0x0800
_ETH_P_ARP = 0x0806
_ETH_P_RARP = 0x8035
_ETH_P_IPV6 = 0x86DD
_ETH_P_8021Q = 0x8100
_ETH_P_8021AD = 0x88A8
_ETH_P_QINQ1 = 0x9100
_ETH_P_PPP_DISC = 0x8863
_ETH_P_DNA_DL = 0x6001
_ETH_P_DNA_RC = 0x6002
_ETH_P_DNA_RT = 0x6003
_ETH_P_LAT = 0x6004
_ETH_P_SCA = 0x6007
_ETH_P_LOOPBACK = 0x9000
_ETH_P_ATALK = 0x809B
_ETH_P_AARP = 0x80F3
_ETH_P_802_2 = 0x0004            # SLL protocol value of an 802.2 LLC frame
_ETH_DATA_LEN = 1500             # a type/length field up to this is an 802.3 length

# 802.2 SAPs that libpcap tests specially on Ethernet
_LLC_SAP_IP = 0x06
_LLC_SAP_NETBEUI = 0xF0
_LLC_SAP_ISONS = 0xFE
_LLC_SAP_IPX = 0xE0

_IPPROTO_ICMP = 1
_IPPROTO_IGMP = 2
_IPPROTO_IGRP = 9
_IPPROTO_TCP = 6
_IPPROTO_UDP = 17
_IPPROTO_FRAGMENT = 44
_IPPROTO_ESP = 50
_IPPROTO_AH = 51
_IPPROTO_ICMPV6 = 58
_IPPROTO_PIM = 103
_IPPROTO_VRRP = 112
_IPPROTO_SCTP = 132

_AF_INET = 2
_AF_INET6 = 10                  # Linux's value, for live NULL/LOOP tests
_BSD_AF_INET6_BSD = 24          # what NULL/LOOP files from the BSDs and macOS carry
_BSD_AF_INET6_FREEBSD = 28
_BSD_AF_INET6_DARWIN = 30
_IP6_HDRLEN = 40

_ACCEPT = 262144                # what tcpdump's programs return for a match (its snaplen)
_U32 = 0xFFFFFFFF

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
    "aarp": _ETH_P_AARP, "arp": _ETH_P_ARP, "atalk": _ETH_P_ATALK, "decnet": _ETH_P_DNA_RT,
    "ip": _ETH_P_IP, "ip6": _ETH_P_IPV6, "lat": _ETH_P_LAT, "loopback": _ETH_P_LOOPBACK,
    "mopdl": _ETH_P_DNA_DL, "moprc": _ETH_P_DNA_RC, "rarp": _ETH_P_RARP, "sca": _ETH_P_SCA,
    "iso": _LLC_SAP_ISONS, "stp": 0x42, "ipx": _LLC_SAP_IPX, "netbeui": _LLC_SAP_NETBEUI,
}

_ANCILLARY_NAMES = {
    _SKF_AD_PROTOCOL: "proto", _SKF_AD_PKTTYPE: "type", _SKF_AD_IFINDEX: "ifidx",
    _SKF_AD_NLATTR: "nla", _SKF_AD_NLATTR_NEST: "nlan", _SKF_AD_MARK: "mark",
    _SKF_AD_QUEUE: "queue", _SKF_AD_HATYPE: "hatype", _SKF_AD_RXHASH: "rxhash",
    _SKF_AD_CPU: "cpu", _SKF_AD_ALU_XOR_X: "xor_x", _SKF_AD_VLAN_TAG: "vlan_tci",
    _SKF_AD_VLAN_TAG_PRESENT: "vlanp", _SKF_AD_PAY_OFFSET: "poff", _SKF_AD_RANDOM: "rand",
    _SKF_AD_VLAN_TPID: "vlan_tpid",
}

_SOCK_FILTER = struct.Struct("=HBBI")          # struct sock_filter: code, jt, jf, k


class FilterError(ValueError):
    """A filter that cannot be compiled: the message says where and why.

    ``position`` is the 1-based character position in the expression (None when the
    error is not about one place, such as an unsupported link type).
    """

    def __init__(self, message, position=None):
        ValueError.__init__(self, message)
        self.position = position


def _error(pos, message):
    if pos is None:
        return FilterError("filter: %s" % message)
    return FilterError("filter: at %d: %s" % (pos, message), pos)


# --- lexer (libpcap scanner.l) ----------------------------------------------------------

_KEYWORDS = {
    "dst": "DST", "src": "SRC",
    "link": "LINK", "ether": "LINK", "ppp": "LINK", "slip": "LINK", "fddi": "LINK",
    "tr": "LINK", "wlan": "LINK",
    "arp": "ARP", "rarp": "RARP", "ip": "IP", "sctp": "SCTP", "tcp": "TCP", "udp": "UDP",
    "icmp": "ICMP", "igmp": "IGMP", "igrp": "IGRP", "pim": "PIM", "vrrp": "VRRP",
    "carp": "CARP", "radio": "RADIO", "ip6": "IPV6", "icmp6": "ICMPV6", "ah": "AH",
    "esp": "ESP", "atalk": "ATALK", "aarp": "AARP", "decnet": "DECNET", "lat": "LAT",
    "sca": "SCA", "moprc": "MOPRC", "mopdl": "MOPDL", "iso": "ISO", "esis": "ESIS",
    "es-is": "ESIS", "isis": "ISIS", "is-is": "ISIS", "l1": "L1", "l2": "L2", "iih": "IIH",
    "lsp": "LSP", "snp": "SNP", "csnp": "CSNP", "psnp": "PSNP", "clnp": "CLNP", "stp": "STP",
    "ipx": "IPX", "netbeui": "NETBEUI",
    "host": "HOST", "net": "NET", "mask": "NETMASK", "port": "PORT",
    "portrange": "PORTRANGE", "proto": "PROTO", "protochain": "PROTOCHAIN",
    "gateway": "GATEWAY", "type": "TYPE", "subtype": "SUBTYPE", "direction": "DIR",
    "dir": "DIR", "address1": "ADDR1", "addr1": "ADDR1", "address2": "ADDR2",
    "addr2": "ADDR2", "address3": "ADDR3", "addr3": "ADDR3", "address4": "ADDR4",
    "addr4": "ADDR4", "ra": "RA", "ta": "TA",
    "less": "LESS", "greater": "GREATER", "byte": "CBYTE", "broadcast": "BROADCAST",
    "multicast": "MULTICAST", "and": "AND", "or": "OR", "not": "!", "len": "LEN",
    "length": "LEN", "inbound": "INBOUND", "outbound": "OUTBOUND", "ifindex": "IFINDEX",
    "vlan": "VLAN", "mpls": "MPLS", "pppoed": "PPPOED", "pppoes": "PPPOES",
    "geneve": "GENEVE", "lane": "LANE", "llc": "LLC", "metac": "METAC", "bcc": "BCC",
    "oam": "OAM", "oamf4": "OAMF4", "oamf4ec": "OAMF4EC", "oamf4sc": "OAMF4SC", "sc": "SC",
    "ilmic": "ILMIC", "vpi": "VPI", "vci": "VCI", "connectmsg": "CONNECTMSG",
    "metaconnect": "METACONNECT", "on": "PF_IFNAME", "ifname": "PF_IFNAME",
    "rset": "PF_RSET", "ruleset": "PF_RSET", "rnr": "PF_RNR", "rulenum": "PF_RNR",
    "srnr": "PF_SRNR", "subrulenum": "PF_SRNR", "reason": "PF_REASON",
    "action": "PF_ACTION", "fisu": "FISU", "lssu": "LSSU", "lsu": "LSSU", "msu": "MSU",
    "hfisu": "HFISU", "hlssu": "HLSSU", "hmsu": "HMSU", "sio": "SIO", "opc": "OPC",
    "dpc": "DPC", "sls": "SLS", "hsio": "HSIO", "hopc": "HOPC", "hdpc": "HDPC",
    "hsls": "HSLS",
}

# Named constants the scanner turns into numbers (pcap-filter(7)).
_NAMED_NUMBERS = {
    "icmptype": 0, "icmpcode": 1, "icmp-echoreply": 0, "icmp-unreach": 3,
    "icmp-sourcequench": 4, "icmp-redirect": 5, "icmp-echo": 8, "icmp-routeradvert": 9,
    "icmp-routersolicit": 10, "icmp-timxceed": 11, "icmp-paramprob": 12,
    "icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15, "icmp-ireqreply": 16,
    "icmp-maskreq": 17, "icmp-maskreply": 18,
    "icmp6type": 0, "icmp6code": 1, "icmp6-destinationunreach": 1,
    "icmp6-packettoobig": 2, "icmp6-timeexceeded": 3, "icmp6-parameterproblem": 4,
    "icmp6-echo": 128, "icmp6-echoreply": 129, "icmp6-multicastlistenerquery": 130,
    "icmp6-multicastlistenerreportv1": 131, "icmp6-multicastlistenerdone": 132,
    "icmp6-routersolicit": 133, "icmp6-routeradvert": 134, "icmp6-neighborsolicit": 135,
    "icmp6-neighboradvert": 136, "icmp6-redirect": 137, "icmp6-routerrenum": 138,
    "icmp6-nodeinformationquery": 139, "icmp6-nodeinformationresponse": 140,
    "icmp6-ineighbordiscoverysolicit": 141, "icmp6-ineighbordiscoveryadvert": 142,
    "icmp6-multicastlistenerreportv2": 143, "icmp6-homeagentdiscoveryrequest": 144,
    "icmp6-homeagentdiscoveryreply": 145, "icmp6-mobileprefixsolicit": 146,
    "icmp6-mobileprefixadvert": 147, "icmp6-certpathsolicit": 148,
    "icmp6-certpathadvert": 149, "icmp6-multicastrouteradvert": 151,
    "icmp6-multicastroutersolicit": 152, "icmp6-multicastrouterterm": 153,
    "tcpflags": 13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
    "tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
}

_N = r"(?:0[Xx][0-9A-Fa-f]+|[0-9]+)"
_B = r"[0-9A-Fa-f]{1,2}"
_B2 = r"[0-9A-Fa-f]{4}"
_RE_ID = re.compile(r"[A-Za-z0-9](?:[-_.A-Za-z0-9]*[.A-Za-z0-9])?")
_RE_NUM = re.compile(_N)
_RE_HID = re.compile(_N + r"(?:\." + _N + r"){1,3}")
_RE_MACS = tuple(re.compile(p) for p in (
    ":".join([_B] * 6), r"\-".join([_B] * 6), r"\.".join([_B] * 6),
    r"\.".join([_B2] * 3), _B2 * 3))
_RE_V6 = (re.compile(r"[0-9A-Fa-f:]*:" + r"\.".join([_N] * 4)),    # ::ffff:10.0.0.1
          re.compile(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*"))
_RE_BOGUS_MAC = re.compile(_B + r":+(?:" + _B + r":+)+")
_RE_AID = re.compile(r"\$" + _B)
_RE_ESCAPED = re.compile(r"\\[^ !()\n\t]+")
_RE_SPACE = re.compile(r"[ \r\n\t]+")
_TWO_CHAR = {">=": "GEQ", "<=": "LEQ", "!=": "NEQ", "==": "=", "<<": "LSH", ">>": "RSH",
             "&&": "AND", "||": "OR"}
_ONE_CHAR = frozenset("+-*/%:[]!<>()&|^=")

# Rule order of scanner.l, which decides between matches of equal length.
(_R_KEYWORD, _R_PUNCT, _R_AID, _R_MAC, _R_NUM, _R_HID, _R_V6, _R_BOGUS_MAC, _R_NAMED,
 _R_ID, _R_ESCAPED) = range(11)


class _Token(object):
    __slots__ = ("kind", "value", "pos", "text")

    def __init__(self, kind, value, pos, text):
        self.kind = kind
        self.value = value
        self.pos = pos
        self.text = text

    def __repr__(self):
        return "_Token(%r, %r, %d)" % (self.kind, self.value, self.pos)

    def describe(self):
        if self.kind == "EOF":
            return "end of expression"
        return "'%s'" % self.text


def _number(text, pos):
    """A NUM token's value: decimal, 0x hex or 0 octal, at most 32 bits (libpcap stoulen)."""
    if text[:2] in ("0x", "0X"):
        value = int(text[2:], 16)
    elif text[0] == "0" and len(text) > 1:
        if not re.match(r"[0-7]+$", text[1:]):
            raise _error(pos, "number %s contains non-octal digit" % text)
        value = int(text[1:], 8)
    else:
        value = int(text)
    if value > _U32:
        raise _error(pos, "number %s overflows 32 bits" % text)
    return value


def _tokenize(expr):
    tokens = []
    i = 0
    end = len(expr)
    while i < end:
        space = _RE_SPACE.match(expr, i)
        if space:
            i = space.end()
            continue
        pos = i + 1
        best_len, best_rule = 0, None
        candidates = []
        m = _RE_ID.match(expr, i)
        if m:
            text = m.group()
            if text in _KEYWORDS:
                candidates.append((len(text), _R_KEYWORD))
            elif text in _NAMED_NUMBERS:
                candidates.append((len(text), _R_NAMED))
            else:
                candidates.append((len(text), _R_ID))
        two = expr[i:i + 2]
        if two in _TWO_CHAR:
            candidates.append((2, _R_KEYWORD if two in ("&&", "||") else _R_PUNCT))
        elif expr[i] in _ONE_CHAR:
            candidates.append((1, _R_PUNCT))
        for rule, regex in ((_R_AID, _RE_AID), (_R_NUM, _RE_NUM), (_R_HID, _RE_HID),
                            (_R_BOGUS_MAC, _RE_BOGUS_MAC), (_R_ESCAPED, _RE_ESCAPED)):
            m = regex.match(expr, i)
            if m:
                candidates.append((m.end() - i, rule))
        for regex in _RE_MACS:
            m = regex.match(expr, i)
            if m:
                candidates.append((m.end() - i, _R_MAC))
        for regex in _RE_V6:
            m = regex.match(expr, i)
            if m:
                text = m.group()
                head = text.rsplit(":", 1)[0] if "." in text else text
                if "::" in text or head.count(":") >= 6:
                    candidates.append((len(text), _R_V6))
        for length, rule in candidates:
            if length > best_len or (length == best_len and rule < best_rule):
                best_len, best_rule = length, rule
        if best_rule is None:
            raise _error(pos, "unexpected character %r" % expr[i])
        text = expr[i:i + best_len]
        if best_rule == _R_KEYWORD:
            kind = _TWO_CHAR.get(text) or _KEYWORDS[text]
            tokens.append(_Token(kind, text, pos, text))
        elif best_rule == _R_PUNCT:
            tokens.append(_Token(_TWO_CHAR.get(text, text), text, pos, text))
        elif best_rule == _R_NAMED:
            tokens.append(_Token("NUM", _NAMED_NUMBERS[text], pos, text))
        elif best_rule == _R_NUM:
            tokens.append(_Token("NUM", _number(text, pos), pos, text))
        elif best_rule == _R_ID:
            tokens.append(_Token("ID", text, pos, text))
        elif best_rule == _R_ESCAPED:
            tokens.append(_Token("ID", text[1:], pos, text))
        elif best_rule == _R_HID:
            tokens.append(_Token("HID", text, pos, text))
        elif best_rule == _R_MAC:
            tokens.append(_Token("EID", text, pos, text))
        elif best_rule == _R_AID:
            tokens.append(_Token("AID", text, pos, text))
        elif best_rule == _R_V6:
            try:
                socket.inet_pton(socket.AF_INET6, text)
            except (OSError, ValueError):
                raise _error(pos, "bogus IPv6 address %s" % text)
            tokens.append(_Token("HID6", text, pos, text))
        else:
            raise _error(pos, "bogus ethernet address %s" % text)
        i += best_len
    tokens.append(_Token("EOF", None, end + 1, ""))
    return tokens


# --- parser (libpcap grammar.y) -> syntax tree ------------------------------------------
#
# The tree is built first and code generated from it afterwards, in the order yacc runs
# the grammar's actions (children left to right, then the parent), which is what makes
# "vlan" shift the offsets of everything after it, as in libpcap.
#
# Qualifiers are (proto, dir, addr, word): proto a pname token kind or "DEFAULT", dir one
# of DEFAULT SRC DST OR AND, addr one of DEFAULT HOST NET PORT PORTRANGE PROTO
# PROTOCHAIN GATEWAY; word is the keyword that set them, for messages.  QERR is what a
# primitive without qualifiers leaves for an identifier after it (a syntax error).

_PNAMES = frozenset((
    "LINK", "IP", "ARP", "RARP", "SCTP", "TCP", "UDP", "ICMP", "IGMP", "IGRP", "PIM",
    "VRRP", "CARP", "ATALK", "AARP", "DECNET", "LAT", "SCA", "MOPDL", "MOPRC", "IPV6",
    "ICMPV6", "AH", "ESP", "ISO", "ESIS", "ISIS", "L1", "L2", "IIH", "LSP", "SNP", "PSNP",
    "CSNP", "CLNP", "STP", "IPX", "NETBEUI", "RADIO"))
_AQUALS = frozenset(("HOST", "NET", "PORT", "PORTRANGE"))
_HEAD_WORDS = frozenset(("SRC", "DST", "HOST", "NET", "PORT", "PORTRANGE", "PROTO",
                         "PROTOCHAIN", "GATEWAY", "ADDR1", "ADDR2", "ADDR3", "ADDR4",
                         "RA", "TA"))
_UNSUPPORTED = frozenset((
    "CBYTE", "IFINDEX", "MPLS", "PPPOES", "GENEVE", "LANE", "LLC", "METAC", "BCC", "OAM",
    "OAMF4", "OAMF4EC", "OAMF4SC", "SC", "ILMIC", "VPI", "VCI", "CONNECTMSG", "METACONNECT",
    "PF_IFNAME", "PF_RSET", "PF_RNR", "PF_SRNR", "PF_REASON", "PF_ACTION", "FISU", "LSSU",
    "MSU", "HFISU", "HLSSU", "HMSU", "SIO", "OPC", "DPC", "SLS", "HSIO", "HOPC", "HDPC",
    "HSLS", "TYPE", "SUBTYPE", "DIR"))
_ARITH_OPS = {"|": 1, "&": 2, "LSH": 3, "RSH": 3, "+": 4, "-": 4, "*": 5, "/": 5,
              "%": None, "^": None}
_ARITH_CODES = {"|": _BPF_OR, "&": _BPF_AND, "LSH": _BPF_LSH, "RSH": _BPF_RSH, "+": _BPF_ADD,
                "-": _BPF_SUB, "*": _BPF_MUL, "/": _BPF_DIV, "%": _BPF_MOD, "^": _BPF_XOR}
_UMINUS = 6
_RELOPS = {">": (_BPF_JGT, False), "GEQ": (_BPF_JGE, False), "=": (_BPF_JEQ, False),
           "LEQ": (_BPF_JGT, True), "<": (_BPF_JGE, True), "NEQ": (_BPF_JEQ, True)}
_QERR = ("UNDEF", "UNDEF", "UNDEF", None)
# protocol keywords accepted after "proto" without tcpdump's backslash
_PROTO_KEYWORDS = {"ICMP": 1, "IGMP": 2, "TCP": 6, "IGRP": 9, "UDP": 17, "ESP": 50,
                   "AH": 51, "ICMPV6": 58, "PIM": 103, "VRRP": 112, "CARP": 112,
                   "SCTP": 132}


class _Parser(object):
    """Recursive descent over the tokens, reproducing grammar.y's choices."""

    def __init__(self, expr):
        self.tokens = _tokenize(expr)
        self.i = 0

    @property
    def tok(self):
        return self.tokens[self.i]

    def peek(self, n=1):
        return self.tokens[min(self.i + n, len(self.tokens) - 1)]

    def advance(self):
        t = self.tokens[self.i]
        self.i += 1
        return t

    def expected(self, what, tok=None):
        tok = tok or self.tok
        if tok.kind in _UNSUPPORTED or tok.kind in ("GATEWAY", "PROTOCHAIN", "AID"):
            return _error(tok.pos, "%s is not supported by this filter compiler"
                          % tok.describe())
        return _error(tok.pos, "expected %s, got %s" % (what, tok.describe()))

    def expect(self, kind, what):
        if self.tok.kind != kind:
            raise self.expected(what)
        return self.advance()

    def parse(self):
        if self.tok.kind == "EOF":
            return None
        node, _ = self.expr(_QERR)
        if self.tok.kind != "EOF":
            raise self.expected("'and', 'or' or the end of the expression")
        return node

    def attempt(self, *alternatives):
        """The first alternative that parses; else the error that got furthest."""
        start = self.i
        best = None
        for alternative in alternatives:
            self.i = start
            try:
                return alternative()
            except FilterError as e:
                if best is None or (e.position or 0) > (best.position or 0):
                    best = e
        raise best

    # expr: term | expr and term | expr and id | expr or term | expr or id
    def expr(self, q):
        node, q = self.term(q)
        while self.tok.kind in ("AND", "OR"):
            op = self.advance()
            if self.id_follows():
                prev = q
                right, q = self.attempt(lambda: self.id(prev), lambda: self.term(prev))
            else:
                right, q = self.term(q)
            node = ("and" if op.kind == "AND" else "or", op.pos, node, right)
        return node, q

    def id_follows(self):
        """After and/or: does an identifier (rather than a term) follow?"""
        n = 0
        while self.peek(n).kind == "!":
            n += 1
        t = self.peek(n)
        if t.kind in ("HID", "HID6", "EID", "AID", "ID", "("):
            return True
        if t.kind == "NUM":
            return not (self.peek(n + 1).kind in _ARITH_OPS
                        or self.peek(n + 1).kind in _RELOPS)
        return False

    # term: rterm | not term
    def term(self, q):
        if self.tok.kind == "!":
            pos = self.advance().pos
            node, q = self.term(q)
            return ("not", pos, node), q
        return self.rterm(q)

    def rterm(self, q):
        t = self.tok
        kind = t.kind
        if kind == "(":
            return self.attempt(self.relation, lambda: self.paren_expr(q))
        if kind in ("NUM", "-", "LEN"):
            return self.relation()
        if kind in _PNAMES:
            nxt = self.peek().kind
            if nxt == "[":
                return self.relation()
            if nxt in _HEAD_WORDS:
                return self.head_id()
            if nxt in ("BROADCAST", "MULTICAST"):
                self.advance()
                other = self.advance()
                return ("other", other.pos, other.kind, (kind, t.text)), _QERR
            self.advance()
            return ("pname", t.pos, kind, t.text), _QERR
        if kind in _HEAD_WORDS:
            return self.head_id()
        if kind in ("BROADCAST", "MULTICAST"):
            self.advance()
            return ("other", t.pos, kind, ("DEFAULT", None)), _QERR
        if kind in ("LESS", "GREATER"):
            self.advance()
            n = self.expect("NUM", "a length after '%s'" % t.text)
            return ("other", t.pos, kind, n.value), _QERR
        if kind == "VLAN":
            self.advance()
            if self.tok.kind in ("NUM", "("):
                return ("other", t.pos, kind, self.pnum("a VLAN id after 'vlan'")), _QERR
            return ("other", t.pos, kind, None), _QERR
        if kind in ("INBOUND", "OUTBOUND", "PPPOED"):
            self.advance()
            return ("other", t.pos, kind, None), _QERR
        if kind in ("HID", "HID6", "EID", "ID"):
            raise _error(t.pos, "expected a qualifier such as 'host', 'net' or 'port' "
                         "before %s" % t.describe())
        raise self.expected("a filter primitive (such as 'host', 'port', 'tcp')")

    def paren_expr(self, q):
        self.expect("(", "'('")
        node, _ = self.expr(q)
        self.expect(")", "')' or 'and' or 'or'")
        return node, q

    def pnum(self, what):
        if self.tok.kind == "(":
            self.advance()
            value = self.pnum(what)
            self.expect(")", "')'")
            return value
        return self.expect("NUM", what).value

    # head: pqual dqual aqual | pqual dqual | pqual aqual | pqual PROTO | ...
    def head_id(self):
        proto = "DEFAULT"
        word = None
        if self.tok.kind in _PNAMES:
            proto = self.tok.kind
            word = self.advance().text
        direction = "DEFAULT"
        addr = "DEFAULT"
        t = self.tok
        if t.kind in ("SRC", "DST"):
            self.advance()
            word = t.text
            direction = "SRC" if t.kind == "SRC" else "DST"
            if self.tok.kind in ("OR", "AND"):
                other = "DST" if t.kind == "SRC" else "SRC"
                conj = self.advance()
                o = self.expect(other, "'%s' after '%s %s'" % (other.lower(), t.text,
                                                              conj.text))
                direction = "OR" if conj.kind == "OR" else "AND"
                word = o.text
            if self.tok.kind in _AQUALS:
                word = self.tok.text
                addr = self.advance().kind
        elif t.kind in _AQUALS or t.kind == "PROTO":
            word = t.text
            addr = self.advance().kind
        elif t.kind in ("PROTOCHAIN", "GATEWAY"):
            raise self.expected("")
        else:
            raise _error(t.pos, "'%s' applies only to IEEE 802.11 link layers" % t.text)
        return self.id((proto, direction, addr, word))

    # id: nid | pnum | paren pid ')'
    def id(self, q):
        t = self.tok
        if t.kind == "!":
            self.advance()
            node, q2 = self.id(q)
            return ("not", t.pos, node), q2
        if t.kind == "(":
            self.advance()
            node, q2 = self.pid(q)
            self.expect(")", "')'")
            if self.tok.kind in _ARITH_OPS or self.tok.kind in _RELOPS:
                raise self.expected("'and', 'or' or ')'")
            return node, q2
        if t.kind == "NUM":
            self.advance()
            if q[2] == "PORTRANGE" and self.tok.kind == "-":
                # "portrange 10-" and "portrange 10 - 20" are not one ID token
                self.advance()
                if self.tok.kind == "NUM":
                    raise _error(t.pos, "write the port range without spaces: %d-%d"
                                 % (t.value, self.tok.value))
                raise self.expected("the end of the port range after '%d-'" % t.value)
            return ("ncode", t.pos, q, t.value), q
        return self.nid(q)

    # pid: nid | qid and id | qid or id ;  qid: pnum | pid
    def pid(self, q):
        if self.tok.kind == "NUM":
            t = self.advance()
            node = ("ncode", t.pos, q, t.value)
        elif self.tok.kind == "(":
            node, q = self.id(q)
        else:
            node, q = self.nid(q)
        while self.tok.kind in ("AND", "OR"):
            op = self.advance()
            right, q = self.id(q)
            node = ("and" if op.kind == "AND" else "or", op.pos, node, right)
        return node, q

    def nid(self, q):
        t = self.tok
        proto, direction, addr, word = q
        after = " after '%s'" % word if word else ""
        if t.kind == "!":
            self.advance()
            node, q2 = self.id(q)
            return ("not", t.pos, node), q2
        if t.kind == "HID":
            self.advance()
            if self.tok.kind == "/":
                self.advance()
                length = self.expect("NUM", "a prefix length after '/'")
                what = "IP address and prefix length"
                node = ("mcode", t.pos, q, t.text, None, length.value)
            elif self.tok.kind == "NETMASK":
                self.advance()
                m = self.expect("HID", "a dotted netmask after 'mask'")
                what = "IP address and netmask"
                node = ("mcode", t.pos, q, t.text, m.text, 0)
            else:
                what = "IP address"
                node = ("ncode_hid", t.pos, q, t.text)
            self.check_address_qualifier(t, q, what, after)
            return node, q
        if t.kind == "HID6":
            self.advance()
            masklen = 128
            what = "IP address"
            if self.tok.kind == "/":
                self.advance()
                masklen = self.expect("NUM", "a prefix length after '/'").value
                what = "IP address and prefix length"
            self.check_address_qualifier(t, q, what, after)
            return ("mcode6", t.pos, q, t.text, masklen), q
        if t.kind == "EID":
            self.advance()
            return ("ecode", t.pos, q, t.text), q
        if t.kind == "ID":
            self.advance()
            return ("scode", t.pos, q, t.value), q
        if addr == "PROTO" and t.kind in _PROTO_KEYWORDS:
            # "ip proto tcp": tcpdump wants "\tcp"; the keyword can only mean this here
            self.advance()
            return ("ncode", t.pos, q, _PROTO_KEYWORDS[t.kind]), q
        if addr == "PORT":
            raise self.expected("a port number or service name" + after)
        if addr == "PORTRANGE":
            raise self.expected("a port range such as 6000-6010" + after)
        if addr == "PROTO":
            raise self.expected("a protocol number or name" + after)
        raise self.expected("an address" + after)

    def check_address_qualifier(self, t, q, what, after):
        addr = q[2]
        if addr == "PORT":
            raise _error(t.pos, "expected a port number%s, got %s %s"
                         % (after, what, t.describe()))
        if addr == "PORTRANGE":
            raise _error(t.pos, "expected a port range%s, got %s %s"
                         % (after, what, t.describe()))
        if addr in ("PROTO", "PROTOCHAIN"):
            raise _error(t.pos, "expected a protocol%s, got %s %s"
                         % (after, what, t.describe()))

    # rterm: arth relop arth | arth irelop arth
    def relation(self):
        pos = self.tok.pos
        left = self.arth()
        t = self.tok
        if t.kind not in _RELOPS:
            raise self.expected("a comparison (=, !=, <, <=, >, >=)")
        self.advance()
        right = self.arth()
        code, reversed_ = _RELOPS[t.kind]
        return ("rel", pos, code, reversed_, left, right), _QERR

    def arth(self):
        """Arithmetic with grammar.y's precedences; '%' and '^' have none there, so
        yacc always shifts on them (their right operand extends as far as it can)."""
        operands = [None]
        ops = []                        # (kind, pos, precedence)

        def reduce_top():
            kind, pos, _ = ops.pop()
            if kind == "neg":
                operands[-1] = ("neg", pos, operands[-1])
            else:
                b = operands.pop()
                a = operands.pop()
                operands.append(("arth", pos, _ARITH_CODES[kind], a, b))

        operands.pop()
        while True:
            while self.tok.kind == "-":
                t = self.advance()
                ops.append(("neg", t.pos, _UMINUS))
            operands.append(self.arth_primary())
            t = self.tok
            if t.kind not in _ARITH_OPS:
                break
            prec = _ARITH_OPS[t.kind]
            while ops and prec is not None and ops[-1][2] is not None and ops[-1][2] >= prec:
                reduce_top()
            self.advance()
            ops.append((t.kind, t.pos, prec))
        while ops:
            reduce_top()
        return operands[0]

    def arth_primary(self):
        t = self.tok
        if t.kind == "NUM":
            self.advance()
            return ("num", t.pos, t.value)
        if t.kind == "LEN":
            self.advance()
            return ("len", t.pos)
        if t.kind == "(":
            self.advance()
            node = self.arth()
            self.expect(")", "')'")
            return node
        if t.kind in _PNAMES and self.peek().kind == "[":
            self.advance()
            self.advance()
            index = self.arth()
            size = 1
            if self.tok.kind == ":":
                self.advance()
                size = self.expect("NUM", "a size (1, 2 or 4) after ':'").value
            self.expect("]", "']'")
            return ("load", t.pos, t.kind, t.text, index, size)
        raise self.expected("a number, 'len' or a packet field such as ip[0]")


# --- code generation (libpcap gencode.c) ------------------------------------------------

class _Stmt(object):
    """One statement of a block; jt/jf name statements of the same block (libpcap's
    block-local jumps, used by the live VLAN test)."""

    __slots__ = ("code", "k", "jt", "jf")

    def __init__(self, code, k=0):
        self.code = code
        self.k = k & _U32
        self.jt = None
        self.jf = None


class _Block(object):
    """A basic block: statements, then a conditional jump (or a return)."""

    __slots__ = ("stmts", "code", "k", "jt", "jf", "offset", "longjt", "longjf")

    def __init__(self, code, k=0, stmts=None):
        self.stmts = stmts if stmts is not None else []
        self.code = code
        self.k = k & _U32
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
    "SCTP": (_IPPROTO_SCTP, "DEFAULT", "DEFAULT"),
    "TCP": (_IPPROTO_TCP, "DEFAULT", "DEFAULT"),
    "UDP": (_IPPROTO_UDP, "DEFAULT", "DEFAULT"),
    "ICMP": (_IPPROTO_ICMP, "IP", "DEFAULT"),
    "IGMP": (_IPPROTO_IGMP, "IP", "DEFAULT"),
    "IGRP": (_IPPROTO_IGRP, "IP", "DEFAULT"),
    "PIM": (_IPPROTO_PIM, "DEFAULT", "DEFAULT"),
    "VRRP": (_IPPROTO_VRRP, "IP", "DEFAULT"),
    "CARP": (_IPPROTO_VRRP, "IP", "DEFAULT"),
    "ICMPV6": (_IPPROTO_ICMPV6, "IPV6", "DEFAULT"),
    "AH": (_IPPROTO_AH, "DEFAULT", "DEFAULT"),
    "ESP": (_IPPROTO_ESP, "DEFAULT", "DEFAULT"),
}
_ABBREV_ETHERTYPE = {
    "IP": _ETH_P_IP, "ARP": _ETH_P_ARP, "RARP": _ETH_P_RARP, "IPV6": _ETH_P_IPV6,
    "DECNET": _ETH_P_DNA_RT, "SCA": _ETH_P_SCA, "LAT": _ETH_P_LAT,
    "MOPDL": _ETH_P_DNA_DL, "MOPRC": _ETH_P_DNA_RC,
}


class _CodeGen(object):
    """gencode.c for the supported link types and primitives, one compilation."""

    def __init__(self, linktype, live):
        self.linktype = linktype
        self.live = live
        self.regused = [False] * _BPF_MEMWORDS
        self.curreg = 0
        self.vlan_depth = 0
        self.vlan_vloffset = False
        self.off_linkhdr = _Offset(0)
        self.off_nl = 0
        self.off_nl_nosnap = 0
        if linktype == _LINKTYPE_ETHERNET:
            self.off_linktype, self.off_linkpl = _Offset(12), _Offset(14)
            self.off_nl_nosnap = 3
        elif linktype == _LINKTYPE_LINUX_SLL:
            self.off_linktype, self.off_linkpl = _Offset(14), _Offset(16)
        elif linktype == _LINKTYPE_LINUX_SLL2:
            self.off_linktype, self.off_linkpl = _Offset(0), _Offset(20)
        elif linktype in (_LINKTYPE_NULL, _LINKTYPE_LOOP):
            self.off_linktype, self.off_linkpl = _Offset(0), _Offset(4)
        elif linktype in _RAW_LINKTYPES or linktype in (_LINKTYPE_IPV4, _LINKTYPE_IPV6):
            self.off_linktype, self.off_linkpl = None, _Offset(0)
        else:
            raise _error(None, "link type %r is not supported (supported: %s)" % (
                linktype, ", ".join("%d (%s)" % (n, _LINKTYPE_NAMES[n])
                                    for n in sorted(_LINKTYPE_NAMES))))
        self.pos = None

    def fail(self, message):
        return _error(self.pos, message)

    def linkname(self):
        return _LINKTYPE_NAMES[self.linktype]

    # registers
    def alloc_reg(self):
        for _ in range(_BPF_MEMWORDS):
            if self.regused[self.curreg]:
                self.curreg = (self.curreg + 1) % _BPF_MEMWORDS
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
            return [_Stmt(_BPF_LDX | _BPF_MEM, off.reg)]
        return None

    def load_absoffsetrel(self, off, offset, size):
        s = self.abs_offset_varpart(off)
        if s is not None:
            s.append(_Stmt(_BPF_LD | _BPF_IND | size, off.constant + offset))
            return s
        return [_Stmt(_BPF_LD | _BPF_ABS | size, off.constant + offset)]

    def loadx_iphdrlen(self):
        s = self.abs_offset_varpart(self.off_linkpl)
        if s is not None:
            s.append(_Stmt(_BPF_LD | _BPF_IND | _BPF_B, self.off_linkpl.constant + self.off_nl))
            s.append(_Stmt(_BPF_ALU | _BPF_AND | _BPF_K, 0xF))
            s.append(_Stmt(_BPF_ALU | _BPF_LSH | _BPF_K, 2))
            s.append(_Stmt(_BPF_ALU | _BPF_ADD | _BPF_X))
            s.append(_Stmt(_BPF_MISC | _BPF_TAX))
            return s
        return [_Stmt(_BPF_LDX | _BPF_MSH | _BPF_B, self.off_linkpl.constant + self.off_nl)]

    def load_a(self, offrel, offset, size):
        if offrel == _OR_PACKET:
            return [_Stmt(_BPF_LD | _BPF_ABS | size, offset)]
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
            s.append(_Stmt(_BPF_LD | _BPF_IND | size,
                           self.off_linkpl.constant + self.off_nl + offset))
            return s
        return self.load_absoffsetrel(self.off_linkpl, self.off_nl + _IP6_HDRLEN + offset,
                                      size)

    # comparisons
    def ncmp(self, offrel, offset, size, mask, jtype, reverse, v):
        s = self.load_a(offrel, offset, size)
        if mask != _U32:
            s.append(_Stmt(_BPF_ALU | _BPF_AND | _BPF_K, mask))
        b = _leaf(_Block(_BPF_JMP | jtype | _BPF_K, v, s))
        if reverse and jtype in (_BPF_JGT, _BPF_JGE):
            b = _not(b)
        return b

    def cmp(self, offrel, offset, size, v):
        return self.ncmp(offrel, offset, size, _U32, _BPF_JEQ, False, v)

    def cmp_gt(self, offrel, offset, size, v):
        return self.ncmp(offrel, offset, size, _U32, _BPF_JGT, False, v)

    def cmp_ge(self, offrel, offset, size, v):
        return self.ncmp(offrel, offset, size, _U32, _BPF_JGE, False, v)

    def cmp_lt(self, offrel, offset, size, v):
        return self.ncmp(offrel, offset, size, _U32, _BPF_JGE, True, v)

    def cmp_le(self, offrel, offset, size, v):
        return self.ncmp(offrel, offset, size, _U32, _BPF_JGT, True, v)

    def mcmp(self, offrel, offset, size, v, mask):
        return self.ncmp(offrel, offset, size, mask, _BPF_JEQ, False, v)

    def bcmp(self, offrel, offset, value):
        size = len(value)
        b = None
        while size >= 4:
            w = struct.unpack("!I", value[size - 4:size])[0]
            tmp = self.cmp(offrel, offset + size - 4, _BPF_W, w)
            b = tmp if b is None else _and(b, tmp)
            size -= 4
        while size >= 2:
            w = struct.unpack("!H", value[size - 2:size])[0]
            tmp = self.cmp(offrel, offset + size - 2, _BPF_H, w)
            b = tmp if b is None else _and(b, tmp)
            size -= 2
        if size > 0:
            tmp = self.cmp(offrel, offset, _BPF_B, value[0])
            b = tmp if b is None else _and(b, tmp)
        return b

    def uncond(self, rsense):
        return _leaf(_Block(_BPF_JMP | _BPF_JEQ | _BPF_K, 0,
                            [_Stmt(_BPF_LD | _BPF_IMM, 0 if rsense else 1)]))

    def true(self):
        return self.uncond(True)

    def false(self):
        return self.uncond(False)

    # link-layer type tests
    def gen_linktype(self, proto):
        lt = self.linktype
        if lt == _LINKTYPE_ETHERNET:
            return self.ether_linktype(proto)
        if lt == _LINKTYPE_LINUX_SLL:
            return self.sll_linktype(proto)
        if lt == _LINKTYPE_LINUX_SLL2:
            # libpcap 1.10 has no 802.2 special cases for SLL2
            return self.cmp(_OR_LINKTYPE, 0, _BPF_H, proto)
        if lt in (_LINKTYPE_NULL, _LINKTYPE_LOOP):
            if proto == _ETH_P_IP:
                return self.loopback_linktype(_AF_INET)
            if proto != _ETH_P_IPV6:
                return self.false()
            if self.live:
                return self.loopback_linktype(_AF_INET6)
            # files: the BSDs' three values for AF_INET6, as tcpdump -r tests them
            b1 = _or(self.loopback_linktype(_BSD_AF_INET6_BSD),
                     self.loopback_linktype(_BSD_AF_INET6_FREEBSD))
            return _or(self.loopback_linktype(_BSD_AF_INET6_DARWIN), b1)
        if lt in _RAW_LINKTYPES:
            if proto == _ETH_P_IP:
                return self.mcmp(_OR_LINKHDR, 0, _BPF_B, 0x40, 0xF0)
            if proto == _ETH_P_IPV6:
                return self.mcmp(_OR_LINKHDR, 0, _BPF_B, 0x60, 0xF0)
            return self.false()
        if lt == _LINKTYPE_IPV4:
            return self.true() if proto == _ETH_P_IP else self.false()
        return self.true() if proto == _ETH_P_IPV6 else self.false()

    def loopback_linktype(self, af):
        if self.linktype == _LINKTYPE_NULL:
            # the capturing host's byte order: little-endian, as tcpdump on x86 reads it
            af = struct.unpack("<I", struct.pack(">I", af))[0]
        return self.cmp(_OR_LINKHDR, 0, _BPF_W, af)

    def unsupported_llc(self, proto):
        if proto in (_LLC_SAP_IPX, _ETH_P_ATALK, _ETH_P_AARP):
            raise self.fail("IPX and AppleTalk link-layer tests are not supported by this "
                            "filter compiler")

    def ether_linktype(self, proto):
        self.unsupported_llc(proto)
        if proto in (_LLC_SAP_ISONS, _LLC_SAP_IP, _LLC_SAP_NETBEUI):
            b0 = _not(self.cmp_gt(_OR_LINKTYPE, 0, _BPF_H, _ETH_DATA_LEN))
            b1 = self.cmp(_OR_LLC, 0, _BPF_H, (proto << 8) | proto)
            return _and(b0, b1)
        if proto <= _ETH_DATA_LEN:
            b0 = _not(self.cmp_gt(_OR_LINKTYPE, 0, _BPF_H, _ETH_DATA_LEN))
            b1 = self.cmp(_OR_LINKTYPE, 2, _BPF_B, proto)
            return _and(b0, b1)
        return self.cmp(_OR_LINKTYPE, 0, _BPF_H, proto)

    def sll_linktype(self, proto):
        self.unsupported_llc(proto)
        if proto in (_LLC_SAP_ISONS, _LLC_SAP_IP, _LLC_SAP_NETBEUI):
            b0 = self.cmp(_OR_LINKTYPE, 0, _BPF_H, _ETH_P_802_2)
            b1 = self.cmp(_OR_LINKPL, 0, _BPF_H, (proto << 8) | proto)
            return _and(b0, b1)
        if proto <= _ETH_DATA_LEN:
            b0 = self.cmp(_OR_LINKTYPE, 0, _BPF_H, _ETH_P_802_2)
            b1 = self.cmp(_OR_LINKHDR, self.off_linkpl.constant, _BPF_B, proto)
            return _and(b0, b1)
        return self.cmp(_OR_LINKTYPE, 0, _BPF_H, proto)

    # hosts and networks
    def gen_hostop(self, addr, mask, direction, proto, src_off, dst_off):
        return self.gen_dirs(direction,
                             lambda: self._hostop(addr, mask, proto, src_off),
                             lambda: self._hostop(addr, mask, proto, dst_off))

    def _hostop(self, addr, mask, proto, offset):
        b0 = self.gen_linktype(proto)
        b1 = self.mcmp(_OR_LINKPL, offset, _BPF_W, addr, mask)
        return _and(b0, b1)

    def gen_host(self, addr, mask, proto, direction, typestr):
        if proto == "DEFAULT":
            b0 = self.gen_host(addr, mask, "IP", direction, typestr)
            b1 = self.gen_host(addr, mask, "ARP", direction, typestr)
            b1 = _or(b0, b1)
            b0 = self.gen_host(addr, mask, "RARP", direction, typestr)
            return _or(b1, b0)
        if proto == "IP":
            return self.gen_hostop(addr, mask, direction, _ETH_P_IP, 12, 16)
        if proto == "RARP":
            return self.gen_hostop(addr, mask, direction, _ETH_P_RARP, 14, 24)
        if proto == "ARP":
            return self.gen_hostop(addr, mask, direction, _ETH_P_ARP, 14, 24)
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
        b1 = self.mcmp(_OR_LINKPL, offset + 12, _BPF_W, a[3], m[3])
        b0 = self.mcmp(_OR_LINKPL, offset + 8, _BPF_W, a[2], m[2])
        b1 = _and(b0, b1)
        b0 = self.mcmp(_OR_LINKPL, offset + 4, _BPF_W, a[1], m[1])
        b1 = _and(b0, b1)
        b0 = self.mcmp(_OR_LINKPL, offset, _BPF_W, a[0], m[0])
        b1 = _and(b0, b1)
        b0 = self.gen_linktype(proto)
        return _and(b0, b1)

    def gen_host6(self, addr, mask, proto, direction, typestr):
        if proto in ("DEFAULT", "IPV6"):
            return self.gen_hostop6(addr, mask, direction, _ETH_P_IPV6, 8, 24)
        if proto == "LINK":
            raise self.fail("link-layer modifier applied to ip6 %s" % typestr)
        raise self.fail("'%s' modifier applied to ip6 %s" % (_PROTO_WORDS[proto], typestr))

    # ports
    def gen_ipfrag(self):
        s = self.load_a(_OR_LINKPL, 6, _BPF_H)
        return _not(_leaf(_Block(_BPF_JMP | _BPF_JSET | _BPF_K, 0x1FFF, s)))

    def gen_portatom(self, off, v):
        return self.cmp(_OR_TRAN_IPV4, off, _BPF_H, v)

    def gen_portatom6(self, off, v):
        return self.cmp(_OR_TRAN_IPV6, off, _BPF_H, v)

    def gen_portrangeatom(self, off, v1, v2):
        if v1 > v2:
            v1, v2 = v2, v1
        b1 = self.cmp_ge(_OR_TRAN_IPV4, off, _BPF_H, v1)
        b2 = self.cmp_le(_OR_TRAN_IPV4, off, _BPF_H, v2)
        return _and(b1, b2)

    def gen_portrangeatom6(self, off, v1, v2):
        if v1 > v2:
            v1, v2 = v2, v1
        b1 = self.cmp_ge(_OR_TRAN_IPV6, off, _BPF_H, v1)
        b2 = self.cmp_le(_OR_TRAN_IPV6, off, _BPF_H, v2)
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
        tmp = self.cmp(_OR_LINKPL, 9, _BPF_B, proto)
        b0 = _and(tmp, self.gen_ipfrag())
        return _and(b0, self.gen_port_dirs(atom, direction))

    def gen_portop6(self, atom, proto, direction):
        b0 = self.cmp(_OR_LINKPL, 6, _BPF_B, proto)
        return _and(b0, self.gen_port_dirs(atom, direction))

    def gen_port_any(self, op, atom, ethertype, proto, direction):
        b0 = self.gen_linktype(ethertype)
        if proto is None:
            tmp = op(atom, _IPPROTO_TCP, direction)
            b1 = _or(tmp, op(atom, _IPPROTO_UDP, direction))
            b1 = _or(op(atom, _IPPROTO_SCTP, direction), b1)
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
        b = self.gen_port_any(self.gen_portop, atom4, _ETH_P_IP, proto, direction)
        b6 = self.gen_port_any(self.gen_portop6, atom6, _ETH_P_IPV6, proto, direction)
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
            b0 = self.gen_linktype(_ETH_P_IP)
            b1 = self.cmp(_OR_LINKPL, 9, _BPF_B, v)
            return _and(b0, b1)
        if proto == "IPV6":
            b0 = self.gen_linktype(_ETH_P_IPV6)
            b2 = self.cmp(_OR_LINKPL, 6, _BPF_B, _IPPROTO_FRAGMENT)
            b1 = self.cmp(_OR_LINKPL, _IP6_HDRLEN, _BPF_B, v)
            b1 = _and(b2, b1)
            b2 = self.cmp(_OR_LINKPL, 6, _BPF_B, v)
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
            mask = _U32
            if text is None and addr == "NET":
                while v and (v & 0xFF000000) == 0:
                    v = (v << 8) & _U32
                    mask = (mask << 8) & _U32
            else:
                v = (v << (32 - vlen)) & _U32
                mask = (mask << (32 - vlen)) & _U32
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
            return _IPPROTO_UDP
        if proto == "TCP":
            return _IPPROTO_TCP
        if proto == "SCTP":
            return _IPPROTO_SCTP
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
        n = (n << (32 - nlen)) & _U32
        if s2 is not None:
            mlen, m = self.atoin(s2)
            m = (m << (32 - mlen)) & _U32
            if n & ~m & _U32:
                raise self.fail('non-network bits set in "%s mask %s"' % (s1, s2))
        else:
            if masklen > 32:
                raise self.fail("mask length must be <= 32")
            m = (_U32 << (32 - masklen)) & _U32
            if n & ~m & _U32:
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
            if self.linktype != _LINKTYPE_ETHERNET:
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
        names = {_IPPROTO_TCP: "tcp", _IPPROTO_UDP: "udp", _IPPROTO_SCTP: "sctp"}
        for qual, number in (("UDP", _IPPROTO_UDP), ("TCP", _IPPROTO_TCP),
                             ("SCTP", _IPPROTO_SCTP)):
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
            return ports["tcp"], _IPPROTO_TCP
        if "udp" in ports:
            return ports["udp"], _IPPROTO_UDP
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
            if self.linktype != _LINKTYPE_ETHERNET:
                raise self.fail("not a broadcast link: %s" % self.linkname())
            return self.gen_ehostop(b"\xff" * 6, "DST")
        if proto == "IP":
            # tcpdump compiles files with netmask 0: the host part is the whole address
            hostmask = _U32
            b0 = self.gen_linktype(_ETH_P_IP)
            b1 = self.mcmp(_OR_LINKPL, 16, _BPF_W, 0, hostmask)
            b2 = self.mcmp(_OR_LINKPL, 16, _BPF_W, hostmask, hostmask)
            return _and(b0, _or(b1, b2))
        raise self.fail("only link-layer/IP broadcast filters supported")

    def gen_multicast(self, proto):
        if proto in ("DEFAULT", "LINK"):
            if self.linktype == _LINKTYPE_ETHERNET:
                s = self.load_a(_OR_LINKHDR, 0, _BPF_B)
                return _leaf(_Block(_BPF_JMP | _BPF_JSET | _BPF_K, 1, s))
        elif proto == "IP":
            return _and(self.gen_linktype(_ETH_P_IP), self.cmp_ge(_OR_LINKPL, 16, _BPF_B, 224))
        elif proto == "IPV6":
            return _and(self.gen_linktype(_ETH_P_IPV6), self.cmp(_OR_LINKPL, 24, _BPF_B, 255))
        raise self.fail("link-layer multicast filters are supported only on Ethernet")

    def gen_inbound(self, outbound):
        if self.linktype == _LINKTYPE_LINUX_SLL:
            b0 = self.cmp(_OR_LINKHDR, 0, _BPF_H, _PACKET_OUTGOING)
        elif self.linktype == _LINKTYPE_LINUX_SLL2:
            b0 = self.cmp(_OR_LINKHDR, 10, _BPF_B, _PACKET_OUTGOING)
        elif self.live:
            b0 = self.cmp(_OR_LINKHDR, _SKF_AD_OFF + _SKF_AD_PKTTYPE, _BPF_H, _PACKET_OUTGOING)
        else:
            raise self.fail("inbound/outbound not supported on %s when reading capture "
                            "files" % self.linkname())
        return b0 if outbound else _not(b0)

    def gen_vlan(self, vid):
        if self.linktype != _LINKTYPE_ETHERNET:
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
        b0 = self.gen_linktype(_ETH_P_8021Q)
        b1 = _or(b0, self.gen_linktype(_ETH_P_8021AD))
        return _or(b1, self.gen_linktype(_ETH_P_QINQ1))

    def vlan_vid_test(self, vid):
        return self.mcmp(_OR_LINKPL, 0, _BPF_H, vid, 0x0FFF)

    def vloffset_add(self, off, v, s):
        off.variable = True
        if off.reg == -1:
            off.reg = self.alloc_reg()
        s.append(_Stmt(_BPF_LD | _BPF_MEM, off.reg))
        s.append(_Stmt(_BPF_ALU | _BPF_ADD | _BPF_K, v))
        s.append(_Stmt(_BPF_ST, off.reg))

    def vlan_bpf_extensions(self, vid):
        """libpcap's live Linux VLAN test: the tag in the metadata, else in the data."""
        s = [_Stmt(_BPF_LD | _BPF_B | _BPF_ABS, _SKF_AD_OFF + _SKF_AD_VLAN_TAG_PRESENT)]
        b0 = _leaf(_Block(_BPF_JMP | _BPF_JEQ | _BPF_K, 1, s))
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
            present = _Stmt(_BPF_LD | _BPF_B | _BPF_ABS, _SKF_AD_OFF + _SKF_AD_VLAN_TAG_PRESENT)
            jeq = _Stmt(_BPF_JMP | _BPF_JEQ | _BPF_K, 1)
            tci = _Stmt(_BPF_LD | _BPF_B | _BPF_ABS, _SKF_AD_OFF + _SKF_AD_VLAN_TAG)
            jeq.jt = tci
            jeq.jf = vid_stmts[0]
            ja = _Stmt(_BPF_JMP | _BPF_JA, len(vid_stmts) - 1)
            b_vid.head.stmts = [present, jeq, tci, ja] + vid_stmts
            b0 = _and(b0, b_vid)
        return b0

    def gen_len(self, jmp, n):
        return _leaf(_Block(_BPF_JMP | jmp | _BPF_K, n, [_Stmt(_BPF_LD | _BPF_W | _BPF_LEN)]))

    # arithmetic
    def gen_loadi(self, val):
        reg = self.alloc_reg()
        return _Arth([_Stmt(_BPF_LD | _BPF_IMM, val), _Stmt(_BPF_ST, reg)], reg)

    def gen_loadlen(self):
        reg = self.alloc_reg()
        return _Arth([_Stmt(_BPF_LD | _BPF_W | _BPF_LEN), _Stmt(_BPF_ST, reg)], reg)

    def gen_neg(self, a):
        a.s.append(_Stmt(_BPF_LD | _BPF_MEM, a.regno))
        a.s.append(_Stmt(_BPF_ALU | _BPF_NEG))
        a.s.append(_Stmt(_BPF_ST, a.regno))
        return a

    def gen_arth(self, code, a0, a1):
        first = a1.s[0]
        if first.code == _BPF_LD | _BPF_IMM:
            if code == _BPF_DIV and first.k == 0:
                raise self.fail("division by zero")
            if code == _BPF_MOD and first.k == 0:
                raise self.fail("modulus by zero")
            if code in (_BPF_LSH, _BPF_RSH) and first.k > 31:
                raise self.fail("shift by more than 31 bits")
        a0.s.extend(a1.s)
        a0.s.append(_Stmt(_BPF_LDX | _BPF_MEM, a1.regno))
        a0.s.append(_Stmt(_BPF_LD | _BPF_MEM, a0.regno))
        a0.s.append(_Stmt(_BPF_ALU | _BPF_X | code))
        self.free_reg(a0.regno)
        self.free_reg(a1.regno)
        a0.regno = self.alloc_reg()
        a0.s.append(_Stmt(_BPF_ST, a0.regno))
        # libpcap keeps only a0's protocol checks here: a1's are dropped (so the
        # program for "ip[0] + tcp[0] = 1" does not check for TCP); kept as it is
        return a0

    def gen_load(self, proto, word, inst, size):
        if size not in (1, 2, 4):
            raise self.fail("data size must be 1, 2, or 4")
        size_code = {1: _BPF_B, 2: _BPF_H, 4: _BPF_W}[size]
        regno = self.alloc_reg()
        self.free_reg(inst.regno)
        if proto == "LINK":
            s = [_Stmt(_BPF_LDX | _BPF_MEM, inst.regno),
                 _Stmt(_BPF_LD | _BPF_IND | size_code, self.off_linkhdr.constant)]
            inst.s.extend(s)
        elif proto in ("IP", "ARP", "RARP", "IPV6", "DECNET", "SCA", "LAT", "MOPRC",
                       "MOPDL"):
            s = self.abs_offset_varpart(self.off_linkpl)
            if s is not None:
                s += [_Stmt(_BPF_LD | _BPF_MEM, inst.regno), _Stmt(_BPF_ALU | _BPF_ADD | _BPF_X),
                      _Stmt(_BPF_MISC | _BPF_TAX)]
            else:
                s = [_Stmt(_BPF_LDX | _BPF_MEM, inst.regno)]
            s.append(_Stmt(_BPF_LD | _BPF_IND | size_code,
                           self.off_linkpl.constant + self.off_nl))
            inst.s.extend(s)
            b = self.gen_proto_abbrev(proto)
            inst.b = b if inst.b is None else _and(inst.b, b)
        elif proto in ("SCTP", "TCP", "UDP", "ICMP", "IGMP", "IGRP", "PIM", "VRRP",
                       "CARP"):
            s = self.loadx_iphdrlen()
            s += [_Stmt(_BPF_LD | _BPF_MEM, inst.regno), _Stmt(_BPF_ALU | _BPF_ADD | _BPF_X),
                  _Stmt(_BPF_MISC | _BPF_TAX),
                  _Stmt(_BPF_LD | _BPF_IND | size_code,
                        self.off_linkpl.constant + self.off_nl)]
            inst.s.extend(s)
            b = _and(self.gen_proto_abbrev(proto), self.gen_ipfrag())
            if inst.b is not None:
                b = _and(inst.b, b)
            inst.b = _and(self.gen_proto_abbrev("IP"), b)
        elif proto == "ICMPV6":
            b = self.gen_proto_abbrev("IPV6")
            inst.b = b if inst.b is None else _and(inst.b, b)
            inst.b = _and(inst.b, self.cmp(_OR_LINKPL, 6, _BPF_B, _IPPROTO_ICMPV6))
            s = self.abs_offset_varpart(self.off_linkpl)
            if s is not None:
                s += [_Stmt(_BPF_LD | _BPF_MEM, inst.regno), _Stmt(_BPF_ALU | _BPF_ADD | _BPF_X),
                      _Stmt(_BPF_MISC | _BPF_TAX)]
            else:
                s = [_Stmt(_BPF_LDX | _BPF_MEM, inst.regno)]
            s.append(_Stmt(_BPF_LD | _BPF_IND | size_code,
                           self.off_linkpl.constant + self.off_nl + _IP6_HDRLEN))
            inst.s.extend(s)
        else:
            raise self.fail("'%s[...]' is not supported: unsupported index operation"
                            % word)
        inst.regno = regno
        inst.s.append(_Stmt(_BPF_ST, regno))
        return inst

    def gen_relation(self, code, a0, a1, reversed_):
        stmts = a0.s + a1.s + [_Stmt(_BPF_LDX | _BPF_MEM, a1.regno),
                               _Stmt(_BPF_LD | _BPF_MEM, a0.regno)]
        if code == _BPF_JEQ:
            stmts.append(_Stmt(_BPF_ALU | _BPF_SUB | _BPF_X))
            b = _leaf(_Block(_BPF_JMP | code | _BPF_K, 0, stmts))
        else:
            b = _leaf(_Block(_BPF_JMP | code | _BPF_X, 0, stmts))
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
            return _not(self.gen_len(_BPF_JGT, arg))
        if what == "GREATER":
            return self.gen_len(_BPF_JGE, arg)
        if what == "VLAN":
            return self.gen_vlan(arg)
        if what in ("INBOUND", "OUTBOUND"):
            return self.gen_inbound(what == "OUTBOUND")
        return self.gen_linktype(_ETH_P_PPP_DISC)

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
            return _Block(_BPF_RET | _BPF_K, _ACCEPT)
        if self.vlan_vloffset:
            if self.off_linkpl.reg == -1:
                self.off_linkpl.reg = self.alloc_reg()
            if self.off_linktype.reg == -1:
                self.off_linktype.reg = self.alloc_reg()
            root.head.stmts = [_Stmt(_BPF_LD | _BPF_W | _BPF_IMM, 0),
                               _Stmt(_BPF_ST, self.off_linkpl.reg),
                               _Stmt(_BPF_ST, self.off_linktype.reg)] + root.head.stmts
        _patch(root.t, _Block(_BPF_RET | _BPF_K, _ACCEPT))
        _patch(root.f, _Block(_BPF_RET | _BPF_K, 0))
        return root.head


def _linearize(root):
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
                if s.code & 0x07 == _BPF_JMP and s.code != _BPF_JMP | _BPF_JA:
                    out.append((s.code, index[id(s.jt)] - i - 1, index[id(s.jf)] - i - 1,
                                s.k))
                else:
                    out.append((s.code, 0, 0, s.k))
            if b.code & 0x07 == _BPF_RET:
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
                extra.append((_BPF_JMP | _BPF_JA, 0, 0, jt - 1))
                jt = 0
            jf = b.jf.offset - here - 1
            if jf >= 256:
                if not b.longjf:
                    b.longjf = 1
                    retry = True
                    break
                n = len(extra)
                extra.append((_BPF_JMP | _BPF_JA, 0, 0, jf - n - 1))
                jf = n
            out.append((b.code, jt, jf, b.k))
            out.extend(extra)
        if not retry:
            return out


# --- printing (libpcap bpf_image, the format of tcpdump -d) -----------------------------

def _signed(k):
    return k - (1 << 32) if k & 0x80000000 else k


_ALU_NAMES = {_BPF_ADD: "add", _BPF_SUB: "sub", _BPF_MUL: "mul", _BPF_DIV: "div", _BPF_OR: "or",
              _BPF_AND: "and", _BPF_LSH: "lsh", _BPF_RSH: "rsh", _BPF_MOD: "mod",
              _BPF_XOR: "xor"}
_JMP_NAMES = {_BPF_JEQ: "jeq", _BPF_JGT: "jgt", _BPF_JGE: "jge", _BPF_JSET: "jset"}
_LD_NAMES = {_BPF_W: "ld", _BPF_H: "ldh", _BPF_B: "ldb"}


def _image(insn, n):
    code, jt, jf, k = insn
    cls = code & 0x07
    op, operand = "unimp", "0x%x" % code
    if cls == _BPF_RET:
        if code == _BPF_RET | _BPF_K:
            op, operand = "ret", "#%d" % _signed(k)
        elif code == _BPF_RET | _BPF_A:
            op, operand = "ret", ""
    elif cls == _BPF_LD:
        mode, size = code & 0xE0, code & 0x18
        name = _LD_NAMES.get(size)
        if mode == _BPF_ABS and name:
            anc = k - _SKF_AD_OFF
            if k >= _SKF_AD_OFF and anc in _ANCILLARY_NAMES:
                op, operand = name, "[%s]" % _ANCILLARY_NAMES[anc]
            else:
                op, operand = name, "[%d]" % _signed(k)
        elif mode == _BPF_IND and name:
            op, operand = name, "[x + %d]" % _signed(k)
        elif code == _BPF_LD | _BPF_W | _BPF_LEN:
            op, operand = "ld", "#pktlen"
        elif code == _BPF_LD | _BPF_IMM:
            op, operand = "ld", "#0x%x" % k
        elif code == _BPF_LD | _BPF_MEM:
            op, operand = "ld", "M[%d]" % k
    elif cls == _BPF_LDX:
        if code == _BPF_LDX | _BPF_IMM:
            op, operand = "ldx", "#0x%x" % k
        elif code == _BPF_LDX | _BPF_MSH | _BPF_B:
            op, operand = "ldxb", "4*([%d]&0xf)" % k
        elif code == _BPF_LDX | _BPF_MEM:
            op, operand = "ldx", "M[%d]" % k
        elif code == _BPF_LDX | _BPF_W | _BPF_LEN:
            op, operand = "ldx", "#pktlen"
    elif code == _BPF_ST:
        op, operand = "st", "M[%d]" % k
    elif code == _BPF_STX:
        op, operand = "stx", "M[%d]" % k
    elif cls == _BPF_JMP:
        if code == _BPF_JMP | _BPF_JA:
            op, operand = "ja", "%d" % (n + 1 + k)
        elif code & 0xF0 in _JMP_NAMES:
            op = _JMP_NAMES[code & 0xF0]
            operand = "x" if code & _BPF_X else "#0x%x" % k
    elif cls == _BPF_ALU:
        alu = code & 0xF0
        if alu == _BPF_NEG:
            op, operand = "neg", ""
        elif alu in _ALU_NAMES:
            op = _ALU_NAMES[alu]
            if code & _BPF_X:
                operand = "x"
            elif alu in (_BPF_AND, _BPF_OR, _BPF_XOR):
                operand = "#0x%x" % k
            else:
                operand = "#%d" % _signed(k)
    elif code == _BPF_MISC | _BPF_TAX:
        op, operand = "tax", ""
    elif code == _BPF_MISC | _BPF_TXA:
        op, operand = "txa", ""
    if cls == _BPF_JMP and code != _BPF_JMP | _BPF_JA:
        return "(%03d) %-8s %-16s jt %d\tjf %d" % (n, op, operand, n + 1 + jt, n + 1 + jf)
    return "(%03d) %-8s %s" % (n, op, operand)


def _generate(expr, linktype, live):
    """The unoptimized program of libpcap for expr (what tcpdump -O -d prints)."""
    tree = _Parser(expr).parse()
    gen = _CodeGen(linktype, live)
    root = gen.gen(tree) if tree is not None else None
    return _linearize(gen.finish(root))


# --- the kernel's checker (net/core/filter.c bpf_check_classic) -------------------------

_VALID_CODES = frozenset([
    _BPF_ALU | op | src for op in (_BPF_ADD, _BPF_SUB, _BPF_MUL, _BPF_DIV, _BPF_MOD, _BPF_AND,
                                  _BPF_OR, _BPF_XOR, _BPF_LSH, _BPF_RSH)
    for src in (_BPF_K, _BPF_X)] + [
    _BPF_ALU | _BPF_NEG,
    _BPF_LD | _BPF_W | _BPF_ABS, _BPF_LD | _BPF_H | _BPF_ABS, _BPF_LD | _BPF_B | _BPF_ABS,
    _BPF_LD | _BPF_W | _BPF_IND, _BPF_LD | _BPF_H | _BPF_IND, _BPF_LD | _BPF_B | _BPF_IND,
    _BPF_LD | _BPF_W | _BPF_LEN, _BPF_LD | _BPF_IMM, _BPF_LD | _BPF_MEM,
    _BPF_LDX | _BPF_W | _BPF_IMM, _BPF_LDX | _BPF_W | _BPF_LEN, _BPF_LDX | _BPF_W | _BPF_MEM,
    _BPF_LDX | _BPF_B | _BPF_MSH, _BPF_ST, _BPF_STX, _BPF_MISC | _BPF_TAX, _BPF_MISC | _BPF_TXA,
    _BPF_RET | _BPF_K, _BPF_RET | _BPF_A, _BPF_JMP | _BPF_JA] + [
    _BPF_JMP | op | src for op in (_BPF_JEQ, _BPF_JGT, _BPF_JGE, _BPF_JSET)
    for src in (_BPF_K, _BPF_X)])

_KNOWN_ANCILLARY = frozenset(range(0, _SKF_AD_MAX, 4))


def _check(prog):
    """Reject what the kernel's checker rejects, with the reason (a FilterError)."""
    n = len(prog)
    if not 0 < n <= _BPF_MAXINSNS:
        raise _error(None, "program of %d instructions (the kernel takes 1 to %d)"
                     % (n, _BPF_MAXINSNS))
    for pc, insn in enumerate(prog):
        if len(insn) != 4:
            raise _error(None, "instruction %d: %r is not (code, jt, jf, k)" % (pc, insn))
        code, jt, jf, k = insn
        if not (0 <= jt <= 255 and 0 <= jf <= 255 and 0 <= k <= _U32):
            raise _error(None, "instruction %d: %r: jt and jf take 8 bits, k 32" % (pc, insn))
        if code not in _VALID_CODES:
            raise _error(None, "instruction %d: unknown opcode 0x%x" % (pc, code))
        cls = code & 0x07
        if cls == _BPF_ALU and not code & _BPF_X:
            op = code & 0xF0
            if op in (_BPF_DIV, _BPF_MOD) and k == 0:
                raise _error(None, "instruction %d: division by the constant 0" % pc)
            if op in (_BPF_LSH, _BPF_RSH) and k >= 32:
                raise _error(None, "instruction %d: shift by %d" % (pc, k))
        if code in (_BPF_LD | _BPF_MEM, _BPF_LDX | _BPF_MEM, _BPF_ST, _BPF_STX):
            if k >= _BPF_MEMWORDS:
                raise _error(None, "instruction %d: scratch memory M[%d] (16 words)"
                             % (pc, k))
        if cls == _BPF_LD and code & 0xE0 == _BPF_ABS and k >= _SKF_AD_OFF:
            if k - _SKF_AD_OFF not in _KNOWN_ANCILLARY:
                raise _error(None, "instruction %d: unknown ancillary load %d"
                             % (pc, _signed(k)))
        if code == _BPF_JMP | _BPF_JA:
            if k >= n - pc - 1:
                raise _error(None, "instruction %d: ja %d leaves the program" % (pc, k))
        elif cls == _BPF_JMP:
            if pc + 1 + max(jt, jf) >= n:
                raise _error(None, "instruction %d: a branch leaves the program" % pc)
    if prog[-1][0] & 0x07 != _BPF_RET:
        raise _error(None, "the program does not end with a return")
    # scratch memory read only where every path has written it (check_load_and_stores)
    full = (1 << _BPF_MEMWORDS) - 1
    masks = [full] * n
    valid = 0
    for pc, (code, jt, jf, k) in enumerate(prog):
        valid &= masks[pc]
        if code in (_BPF_ST, _BPF_STX):
            valid |= 1 << k
        elif code in (_BPF_LD | _BPF_MEM, _BPF_LDX | _BPF_MEM):
            if not valid >> k & 1:
                raise _error(None, "instruction %d reads M[%d] before it is written" % (pc, k))
        elif code == _BPF_JMP | _BPF_JA:
            masks[pc + 1 + k] &= valid
            valid = full
        elif code & 0x07 == _BPF_JMP:
            masks[pc + 1 + jt] &= valid
            masks[pc + 1 + jf] &= valid
            valid = full


def _successors(prog, pc):
    code, jt, jf, k = prog[pc]
    cls = code & 0x07
    if cls == _BPF_RET:
        return ()
    if cls == _BPF_JMP:
        if code == _BPF_JMP | _BPF_JA:
            return (pc + 1 + k,)
        return (pc + 1 + jt, pc + 1 + jf)
    return (pc + 1,)


# --- the optimizer ----------------------------------------------------------------------
#
# Symbolic values: an int is a constant; tuples are
#   ("ld", size, k)        packet bytes at the absolute offset k (size 1, 2 or 4)
#   ("ldi", size, k, x)    packet bytes at x + k, x a value
#   ("msh", k)             4 * (packet[k] & 0xf)
#   ("len",)               the wire length
#   ("anc", n, size)       ancillary load SKF_AD_OFF + n
#   ("alu", op, a, b)      a op b, b an int or a value
#   ("neg", a)
# A state is (A, X, M, facts, eA, eX, eM): the values the input program's registers
# hold; the outcomes of the tests taken on the way, (op, value, operand, result); and
# what the registers and temporaries of the *output* program hold (eM: (slot, value)).

_A_BIT = 1 << 16
_X_BIT = 1 << 17
_REJECT = ("reject",)
_SIZES = {_BPF_W: 4, _BPF_H: 2, _BPF_B: 1}
_SIZE_CODES = {4: _BPF_W, 2: _BPF_H, 1: _BPF_B}
_COMMUTATIVE = (_BPF_ADD, _BPF_MUL, _BPF_AND, _BPF_OR, _BPF_XOR)
_EXPLORE_LIMIT = 30000


class _TooBig(Exception):
    """The optimizer's exploration went over its budget."""


def _use_def(insn):
    code, jt, jf, k = insn
    cls = code & 0x07
    if cls == _BPF_LD:
        mode = code & 0xE0
        if mode == _BPF_IND:
            return _X_BIT, _A_BIT
        if mode == _BPF_MEM:
            return 1 << k, _A_BIT
        return 0, _A_BIT
    if cls == _BPF_LDX:
        if code & 0xE0 == _BPF_MEM:
            return 1 << k, _X_BIT
        return 0, _X_BIT
    if cls == _BPF_ST:
        return _A_BIT, 1 << k
    if cls == _BPF_STX:
        return _X_BIT, 1 << k
    if cls == _BPF_ALU:
        if code & _BPF_X and code & 0xF0 != _BPF_NEG:
            return _A_BIT | _X_BIT, _A_BIT
        return _A_BIT, _A_BIT
    if cls == _BPF_JMP:
        if code == _BPF_JMP | _BPF_JA:
            return 0, 0
        return (_A_BIT | _X_BIT) if code & _BPF_X else _A_BIT, 0
    if cls == _BPF_RET:
        return (_A_BIT if code == _BPF_RET | _BPF_A else 0), 0
    if code == _BPF_MISC | _BPF_TAX:
        return _A_BIT, _X_BIT
    return _X_BIT, _A_BIT


def _fold(op, a, b):
    if op == _BPF_ADD:
        return (a + b) & _U32
    if op == _BPF_SUB:
        return (a - b) & _U32
    if op == _BPF_MUL:
        return (a * b) & _U32
    if op == _BPF_DIV:
        return a // b
    if op == _BPF_MOD:
        return a % b
    if op == _BPF_AND:
        return a & b
    if op == _BPF_OR:
        return a | b
    if op == _BPF_XOR:
        return a ^ b
    if op == _BPF_LSH:
        return (a << b) & _U32 if b < 32 else 0
    return a >> b if b < 32 else 0


def _alu(op, a, b):
    """The value of a op b, simplified as libpcap's optimizer does (it drops an operand
    only where libpcap does: x & 0, x * 0, and 0 op x); _REJECT for a division by 0."""
    if isinstance(a, int) and isinstance(b, int):
        if op in (_BPF_DIV, _BPF_MOD) and b == 0:
            return _REJECT
        return _fold(op, a, b)
    if isinstance(b, int):
        if b == 0:
            if op in (_BPF_ADD, _BPF_SUB, _BPF_OR, _BPF_XOR, _BPF_LSH, _BPF_RSH):
                return a
            if op in (_BPF_MUL, _BPF_AND):
                return 0
            return _REJECT
        if op == _BPF_SUB:
            return _alu(_BPF_ADD, a, (-b) & _U32)
        if (op == _BPF_LSH and b == 2 and a[0] == "alu" and a[1] == _BPF_AND and a[3] == 0xF
                and not isinstance(a[2], int) and a[2][0] == "ld" and a[2][1] == 1):
            return ("msh", a[2][2])         # 4 * (p[k] & 0xf): what ldxb computes
        if op in _COMMUTATIVE and a[0] == "alu" and a[1] == op and isinstance(a[3], int):
            return _alu(op, a[2], _fold(op, a[3], b))
        return ("alu", op, a, b)
    if isinstance(a, int):
        if a == 0:
            if op in (_BPF_ADD, _BPF_OR, _BPF_XOR):
                return b
            if op != _BPF_SUB:
                return 0
        if op in _COMMUTATIVE:
            return _alu(op, b, a)
    return ("alu", op, a, b)


def _bounded(x):
    """A value small enough that x + k cannot wrap around 32 bits."""
    return not isinstance(x, int) and (x[0] == "msh" or (x[0] == "ld" and x[1] <= 2))


def _ldi(size, k, x):
    if isinstance(x, int):
        if x + k < 0x80000000:
            return ("ld", size, x + k)
    elif (x[0] == "alu" and x[1] == _BPF_ADD and isinstance(x[3], int) and _bounded(x[2])
          and k + x[3] < 0x7FFF0000):
        return _ldi(size, k + x[3], x[2])
    return ("ldi", size, k, x)


def _evaluate(op, a, b):
    if op == _BPF_JEQ:
        return a == b
    if op == _BPF_JGT:
        return a > b
    if op == _BPF_JGE:
        return a >= b
    return (a & b) != 0


def _normalize(op, lhs, rhs):
    """The test (op, lhs, rhs) as (op, value, operand, inverted), or (None, outcome)."""
    inverted = False
    while True:
        if isinstance(lhs, int):
            if isinstance(rhs, int):
                return None, _evaluate(op, lhs, rhs) != inverted
            if op in (_BPF_JEQ, _BPF_JSET):
                lhs, rhs = rhs, lhs
            elif op == _BPF_JGT:
                op, lhs, rhs, inverted = _BPF_JGE, rhs, lhs, not inverted
            else:
                op, lhs, rhs, inverted = _BPF_JGT, rhs, lhs, not inverted
            continue
        if op == _BPF_JEQ and lhs[0] == "alu":
            aop, a, b = lhs[1], lhs[2], lhs[3]
            if aop == _BPF_SUB and rhs == 0:
                lhs, rhs = a, b
                continue
            if isinstance(b, int) and isinstance(rhs, int):
                if aop == _BPF_ADD:
                    lhs, rhs = a, (rhs - b) & _U32
                    continue
                if aop == _BPF_XOR:
                    lhs, rhs = a, rhs ^ b
                    continue
                if aop == _BPF_AND and rhs == 0:
                    op, lhs, rhs, inverted = _BPF_JSET, a, b, not inverted
                    continue
        if op == _BPF_JSET and isinstance(rhs, int):
            if rhs == 0:
                return None, inverted
            if lhs[0] == "alu" and lhs[1] == _BPF_AND and isinstance(lhs[3], int):
                lhs, rhs = lhs[2], lhs[3] & rhs
                continue
        return op, lhs, rhs, inverted


def _substitute(e, known):
    """e with the values known to equal constants replaced, folded; None if unknown."""
    if isinstance(e, int):
        return e
    if e in known:
        return known[e]
    if e[0] == "alu":
        a = _substitute(e[2], known)
        b = _substitute(e[3], known)
        if a is None or b is None:
            return None
        value = _alu(e[1], a, b)
        return value if isinstance(value, int) else None
    if e[0] == "neg":
        a = _substitute(e[1], known)
        return None if a is None else (-a) & _U32
    if e[0] == "ldi":
        x = _substitute(e[3], known)
        if x is None:
            return None
        return known.get(_ldi(e[1], e[2], x))
    return None


def _decide(op, e, w, facts):
    """The outcome of the test (op, e, w) if the facts on the path settle it."""
    known = {}
    lo, hi = 0, _U32
    for fop, fe, fw, result in facts:
        if fe == e and fw == w and fop == op:
            return result
        if fop == _BPF_JEQ and result and isinstance(fw, int):
            known[fe] = fw
        if fe == e and isinstance(fw, int):
            if fop == _BPF_JGT:
                if result:
                    lo = max(lo, fw + 1)
                else:
                    hi = min(hi, fw)
            elif fop == _BPF_JGE:
                if result:
                    lo = max(lo, fw)
                else:
                    hi = min(hi, fw - 1)
    if not known and lo == 0 and hi == _U32:
        return None
    a = _substitute(e, known)
    b = w if isinstance(w, int) else _substitute(w, known)
    if a is not None and b is not None:
        return _evaluate(op, a, b)
    if b is None or (lo == 0 and hi == _U32):
        return None
    if op == _BPF_JEQ:
        if b < lo or b > hi:
            return False
    elif op == _BPF_JGT:
        if lo > b:
            return True
        if hi <= b:
            return False
    elif op == _BPF_JGE:
        if lo >= b:
            return True
        if hi < b:
            return False
    return None


def _leaves(e, out):
    if isinstance(e, int):
        return
    kind = e[0]
    if kind == "ld":
        out.append(e)
    elif kind == "ldi":
        out.append(("ldi", e[1]))
        _leaves(e[3], out)
    elif kind == "msh" or kind == "len":
        out.append(e)
    elif kind == "anc":
        out.append(("anc", e[1]))
    elif kind == "alu":
        _leaves(e[2], out)
        _leaves(e[3], out)
    elif kind == "neg":
        _leaves(e[1], out)


def _find_slot(em, value):
    for slot, v in em:
        if v == value and type(v) is type(value):
            return slot
    return None


def _same(a, b):
    return a == b and type(a) is type(b)


def _mat_a(e, em):
    """Instructions that leave the value e in A, given the output registers em."""
    ea, ex, mm = em
    if _same(ea, e):
        return [], em
    if isinstance(e, int):
        return [(_BPF_LD | _BPF_IMM, e)], (e, ex, mm)
    slot = _find_slot(mm, e)
    if slot is not None:
        return [(_BPF_LD | _BPF_MEM, slot)], (e, ex, mm)
    if _same(ex, e):
        return [(_BPF_MISC | _BPF_TXA, 0)], (e, ex, mm)
    kind = e[0]
    if kind == "ld":
        return [(_BPF_LD | _BPF_ABS | _SIZE_CODES[e[1]], e[2])], (e, ex, mm)
    if kind == "anc":
        return [(_BPF_LD | _BPF_ABS | _SIZE_CODES[e[2]], _SKF_AD_OFF + e[1])], (e, ex, mm)
    if kind == "len":
        return [(_BPF_LD | _BPF_W | _BPF_LEN, 0)], (e, ex, mm)
    if kind == "ldi":
        ins, (_, ex, mm) = _mat_x(e[3], em)
        ins.append((_BPF_LD | _BPF_IND | _SIZE_CODES[e[1]], e[2]))
        return ins, (e, ex, mm)
    if kind == "msh":
        ins, (_, ex, mm) = _mat_x(e, em)
        ins.append((_BPF_MISC | _BPF_TXA, 0))
        return ins, (e, ex, mm)
    if kind == "neg":
        ins, (_, ex, mm) = _mat_a(e[1], em)
        ins.append((_BPF_ALU | _BPF_NEG, 0))
        return ins, (e, ex, mm)
    op, a, b = e[1], e[2], e[3]
    if isinstance(b, int):
        ins, (_, ex, mm) = _mat_a(a, em)
        if op == _BPF_ADD and b & 0x80000000:
            ins.append((_BPF_ALU | _BPF_SUB | _BPF_K, (-b) & _U32))   # reads better
        else:
            ins.append((_BPF_ALU | op | _BPF_K, b))
        return ins, (e, ex, mm)
    ins, (_, ex, mm) = _mat_ax(a, b, em)
    ins.append((_BPF_ALU | op | _BPF_X, 0))
    return ins, (e, ex, mm)


def _mat_x(e, em):
    ea, ex, mm = em
    if _same(ex, e):
        return [], em
    if isinstance(e, int):
        return [(_BPF_LDX | _BPF_W | _BPF_IMM, e)], (ea, e, mm)
    slot = _find_slot(mm, e)
    if slot is not None:
        return [(_BPF_LDX | _BPF_W | _BPF_MEM, slot)], (ea, e, mm)
    if e[0] == "msh":
        return [(_BPF_LDX | _BPF_B | _BPF_MSH, e[1])], (ea, e, mm)
    if e[0] == "len":
        return [(_BPF_LDX | _BPF_W | _BPF_LEN, 0)], (ea, e, mm)
    if _same(ea, e):
        return [(_BPF_MISC | _BPF_TAX, 0)], (ea, e, mm)
    ins, (_, _, mm) = _mat_a(e, em)
    ins.append((_BPF_MISC | _BPF_TAX, 0))
    return ins, (e, e, mm)


def _mat_ax(a, b, em):
    """Instructions that leave a in A and b in X."""
    best = None
    ins1, em1 = _mat_a(a, em)
    ins2, em2 = _mat_x(b, em1)
    if _same(em2[0], a):
        best = (ins1 + ins2, em2)
    ins1, em1 = _mat_x(b, em)
    ins2, em2 = _mat_a(a, em1)
    if _same(em2[1], b) and (best is None or len(ins1) + len(ins2) < len(best[0])):
        best = (ins1 + ins2, em2)
    if best is not None:
        return best
    # spill b to a free scratch word
    ins1, (ea, ex, mm) = _mat_a(b, em)
    used = set(slot for slot, _ in mm)
    free = [s for s in range(_BPF_MEMWORDS) if s not in used]
    if free:
        slot = free[0]
    else:
        slot = mm[0][0]
        mm = mm[1:]
    ins1.append((_BPF_ST, slot))
    mm = mm + ((slot, b),)
    ins2, (ea, ex, mm) = _mat_a(a, (ea, ex, mm))
    ins2.append((_BPF_LDX | _BPF_W | _BPF_MEM, slot))
    return ins1 + ins2, (ea, b, mm)


def _reads(ins, jump_code):
    """Registers (bit mask, M words then A and X) a node reads before writing them."""
    written = 0
    read = 0
    for code, k in ins:
        use, define = _use_def((code, 0, 0, k))
        read |= use & ~written
        written |= define
    if jump_code is not None:
        use, _ = _use_def((jump_code, 0, 0, 0))
        read |= use & ~written
    return read, written


class _Optimizer(object):
    """Path-sensitive symbolic execution of a program, re-emitting what is not known."""

    def __init__(self, prog, reset_at_joins):
        self.prog = prog
        self.reset_at_joins = reset_at_joins
        n = len(prog)
        self.preds = [0] * n
        self.preds[0] = 1
        live = [0] * n
        sites = [frozenset()] * n
        for pc in range(n):
            for s in _successors(prog, pc):
                self.preds[s] += 1
        for pc in range(n - 1, -1, -1):
            insn = prog[pc]
            use, define = _use_def(insn)
            out = 0
            down = set()
            for s in _successors(prog, pc):
                out |= live[s]
                down |= sites[s]
            live[pc] = use | (out & ~define)
            site = self.site(insn)
            if site is not None:
                down.add(site)
            sites[pc] = frozenset(down)
        self.live = live
        self.sites = sites
        self.memo = {}
        self.nodes = {}
        self.node_keys = []
        self.node_reads = []
        self.steps = 0

    @staticmethod
    def site(insn):
        code, _, _, k = insn
        cls = code & 0x07
        if cls == _BPF_LD:
            mode = code & 0xE0
            if mode == _BPF_ABS:
                if k >= _SKF_AD_OFF:
                    return ("anc", k - _SKF_AD_OFF)
                return ("ld", _SIZES[code & 0x18], k)
            if mode == _BPF_IND:
                return ("ldi", _SIZES[code & 0x18])
            if mode == _BPF_LEN:
                return ("len",)
        elif cls == _BPF_LDX:
            if code & 0xE0 == _BPF_MSH:
                return ("msh", k)
            if code & 0xE0 == _BPF_LEN:
                return ("len",)
        return None

    def relevant(self, value, sites):
        out = []
        _leaves(value, out)
        for leaf in out:
            if leaf in sites:
                continue
            if leaf[0] == "ld" and ("ldi", leaf[1]) in sites:
                continue
            return False
        return True

    def key(self, pc, st):
        a, x, m, facts, ea, ex, em = st
        live = self.live[pc]
        if not live & _A_BIT:
            a = None
        if not live & _X_BIT:
            x = None
        if live & 0xFFFF:
            m = tuple(v if live >> i & 1 else None for i, v in enumerate(m))
        else:
            m = ()
        if self.reset_at_joins and self.preds[pc] > 1:
            facts = frozenset()
            ea = ex = None
            em = ()
        elif facts:
            sites = self.sites[pc]
            facts = frozenset(f for f in facts if self.relevant(f[1], sites)
                              and (isinstance(f[2], int) or self.relevant(f[2], sites)))
        st = (a, x, m if m else (None,) * _BPF_MEMWORDS, facts, ea, ex, em)
        return (pc, a, x, m, facts, ea, ex, em), st

    def node(self, key, reads):
        nid = self.nodes.get(key)
        if nid is None:
            nid = self.nodes[key] = len(self.node_keys)
            self.node_keys.append(key)
            self.node_reads.append(reads)
        return nid

    def ret_node(self, k):
        return self.node(("ret", k), 0)

    def test_node(self, ins, code, k, t, f, test):
        reads, written = _reads(ins, code)
        if t == f and not (self.node_reads[t] & written):
            return t
        reads |= (self.node_reads[t] | self.node_reads[f]) & ~written
        return self.node((tuple(ins), code, k, t, f, test), reads)

    def solve(self):
        st0 = (0, 0, (None,) * _BPF_MEMWORDS, frozenset(), 0, 0, ())
        key0, st0 = self.key(0, st0)
        stack = [(self.walk(0, st0), key0)]
        value = None
        memo = self.memo
        while stack:
            gen, key = stack[-1]
            try:
                request = gen.send(value)
            except StopIteration as stop:
                stack.pop()
                value = memo[key] = stop.value
                continue
            pc, st = request
            key, st = self.key(pc, st)
            value = memo.get(key)
            if value is None:
                self.steps += 1
                if self.steps > _EXPLORE_LIMIT:
                    raise _TooBig()
                stack.append((self.walk(pc, st), key))
        return value

    def walk(self, pc, st):
        prog = self.prog
        a, x, m, facts, ea, ex, em = st
        m = list(m)
        while True:
            code, jt, jf, k = prog[pc]
            cls = code & 0x07
            if cls == _BPF_LD:
                mode = code & 0xE0
                if mode == _BPF_ABS:
                    size = _SIZES[code & 0x18]
                    a = ("anc", k - _SKF_AD_OFF, size) if k >= _SKF_AD_OFF else ("ld", size, k)
                elif mode == _BPF_IND:
                    a = _ldi(_SIZES[code & 0x18], k, x)
                elif mode == _BPF_LEN:
                    a = ("len",)
                elif mode == _BPF_IMM:
                    a = k
                else:
                    a = m[k] if m[k] is not None else 0
            elif cls == _BPF_LDX:
                mode = code & 0xE0
                if mode == _BPF_IMM:
                    x = k
                elif mode == _BPF_LEN:
                    x = ("len",)
                elif mode == _BPF_MSH:
                    x = ("msh", k)
                else:
                    x = m[k] if m[k] is not None else 0
            elif cls == _BPF_ST:
                m[k] = a
            elif cls == _BPF_STX:
                m[k] = x
            elif cls == _BPF_ALU:
                op = code & 0xF0
                if op == _BPF_NEG:
                    a = (-a) & _U32 if isinstance(a, int) else ("neg", a)
                else:
                    a = _alu(op, a, x if code & _BPF_X else k)
                    if a is _REJECT:
                        return self.ret_node(0)
            elif cls == _BPF_MISC:
                if code == _BPF_MISC | _BPF_TAX:
                    x = a
                else:
                    a = x
            elif cls == _BPF_RET:
                if code == _BPF_RET | _BPF_K:
                    return self.ret_node(k)
                ins, _ = _mat_a(a, (ea, ex, em))
                return self.node((tuple(ins), _BPF_RET | _BPF_A, 0, None, None, None),
                                 _reads(ins, _BPF_RET | _BPF_A)[0])
            else:
                if code == _BPF_JMP | _BPF_JA:
                    target = pc + 1 + k
                else:
                    op = code & 0xF0
                    norm = _normalize(op, a, x if code & _BPF_X else k)
                    if norm[0] is None:
                        target = pc + 1 + (jt if norm[1] else jf)
                    else:
                        op, e, w, inverted = norm
                        outcome = _decide(op, e, w, facts)
                        if outcome is not None:
                            target = pc + 1 + (jt if outcome != inverted else jf)
                        else:
                            if isinstance(w, int):
                                ins, (ea2, ex2, em2) = _mat_a(e, (ea, ex, em))
                                jcode, jk = _BPF_JMP | op | _BPF_K, w
                            else:
                                ins, (ea2, ex2, em2) = _mat_ax(e, w, (ea, ex, em))
                                jcode, jk = _BPF_JMP | op | _BPF_X, 0
                            pc_true, pc_false = pc + 1 + jt, pc + 1 + jf
                            if inverted:
                                pc_true, pc_false = pc_false, pc_true
                            mt = tuple(m)
                            node_true = yield (pc_true, (a, x, mt, facts | {(op, e, w, True)},
                                                         ea2, ex2, em2))
                            node_false = yield (pc_false, (a, x, mt,
                                                           facts | {(op, e, w, False)},
                                                           ea2, ex2, em2))
                            return self.test_node(ins, jcode, jk, node_true, node_false,
                                                  (op, e, w))
                if self.preds[target] > 1:
                    node = yield (target, (a, x, tuple(m), facts, ea, ex, em))
                    return node
                pc = target
                continue
            pc += 1

    def regroup(self, root):
        """libpcap's or/and pull-up: in a chain of tests that all branch to one node C
        on one side and on to the next test on the other, the order does not change
        the outcome (a test reads, it does not write); tests of the same value are put
        next to each other, so that the value is loaded once.  Like libpcap's, this can
        move a load that would fault after a test that sends the packet to C."""
        keys = self.node_keys
        preds = {}
        seen = {root}
        todo = [root]
        while todo:
            nid = todo.pop()
            key = keys[nid]
            if key[0] == "ret" or key[3] is None:
                continue
            for child in (key[3], key[4]):
                preds[child] = preds.get(child, 0) + 1
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        done = {}
        depth = [0]

        def chain_from(nid, common):
            members = []
            while True:
                key = keys[nid]
                if key[0] == "ret" or key[5] is None:
                    break
                if members and preds.get(nid, 0) != 1:
                    break
                if key[3] == common:
                    members.append((nid, True))
                    nid = key[4]
                elif key[4] == common:
                    members.append((nid, False))
                    nid = key[3]
                else:
                    break
            return members, nid

        def rewrite(nid):
            if nid in done:
                return done[nid]
            key = keys[nid]
            if key[0] == "ret" or key[3] is None:
                done[nid] = nid
                return nid
            depth[0] += 1
            if depth[0] > 400:
                raise _TooBig()
            best = ([], None, None)
            for common in (key[3], key[4]):
                members, last = chain_from(nid, common)
                if len(members) > len(best[0]):
                    best = (members, last, common)
            members, last, common = best
            tests = [keys[m][5][1] for m, _ in members]
            order = sorted(range(len(members)), key=lambda i: tests.index(tests[i]))
            if (len(members) > 2 and order != list(range(len(members)))
                    and not self.node_reads[common] and not self.node_reads[last]):
                common2 = rewrite(common)
                nxt = rewrite(last)
                em = (None, None, ())
                built = []
                for i in order:
                    m, to_common = members[i]
                    op, e, w = keys[m][5]
                    if isinstance(w, int):
                        ins, em = _mat_a(e, em)
                        built.append((ins, _BPF_JMP | op | _BPF_K, w, to_common, (op, e, w)))
                    else:
                        ins, em = _mat_ax(e, w, em)
                        built.append((ins, _BPF_JMP | op | _BPF_X, 0, to_common, (op, e, w)))
                for ins, code, k, to_common, test in reversed(built):
                    t, f = (common2, nxt) if to_common else (nxt, common2)
                    nxt = self.test_node(ins, code, k, t, f, test)
                new = nxt
            else:
                t = rewrite(key[3])
                f = rewrite(key[4])
                if (t, f) == (key[3], key[4]):
                    new = nid
                else:
                    new = self.test_node(list(key[0]), key[1], key[2], t, f, key[5])
            depth[0] -= 1
            done[nid] = new
            return new

        try:
            return rewrite(root)
        except _TooBig:
            return root

    def blocks(self, root):
        """The chosen nodes as libpcap blocks, for _linearize."""
        made = {}
        order = [root]
        seen = {root}
        while order:
            nid = order.pop()
            key = self.node_keys[nid]
            if key[0] == "ret":
                made[nid] = _Block(_BPF_RET | _BPF_K, key[1])
                continue
            ins, code, k, t, f, _ = key
            made[nid] = _Block(code, k, [_Stmt(c, kk) for c, kk in ins])
            for child in (t, f):
                if child is not None and child not in seen:
                    seen.add(child)
                    order.append(child)
        for nid, block in made.items():
            key = self.node_keys[nid]
            if key[0] != "ret" and key[3] is not None:
                block.jt = made[key[3]]
                block.jf = made[key[4]]
        return made[root]


def _optimize(prog):
    """A shorter program with the same outcome for every packet (as libpcap's optimizer
    defines it); the input itself when the search grows too large."""
    for reset_at_joins in (False, True):
        opt = _Optimizer(prog, reset_at_joins)
        try:
            root = opt.solve()
        except _TooBig:
            continue
        root = opt.regroup(root)
        out = _linearize(opt.blocks(root))
        if len(out) <= len(prog):
            return out
        return prog
    return prog


# --- executors --------------------------------------------------------------------------

_unpack_i = struct.Struct("!I").unpack_from


def _ancillary(n, wirelen, vlan_tci, pkttype):
    """The value of ancillary load n for a frame, or None when it is not known here."""
    if n == _SKF_AD_VLAN_TAG_PRESENT:
        return 0 if vlan_tci is None else 1
    if n == _SKF_AD_VLAN_TAG:
        return 0 if vlan_tci is None else vlan_tci & 0xFFFF
    if n == _SKF_AD_PKTTYPE:
        return 0 if pkttype is None else pkttype
    return None


def _run(prog, data, wirelen, vlan_tci, pkttype):
    """The reference interpreter: one instruction at a time, as the kernel defines them.

    A load outside the captured bytes, an unknown ancillary load and a division by zero
    end the program with 0 (reject); A and X are 32-bit unsigned; M holds 16 words.
    """
    n = len(data)
    a = x = 0
    mem = [0] * _BPF_MEMWORDS
    pc = 0
    while True:
        code, jt, jf, k = prog[pc]
        pc += 1
        cls = code & 0x07
        if cls == _BPF_LD or cls == _BPF_LDX:
            mode = code & 0xE0
            if mode == _BPF_IMM:
                value = k
            elif mode == _BPF_LEN:
                value = wirelen & _U32
            elif mode == _BPF_MEM:
                value = mem[k]
            elif mode == _BPF_MSH:
                if k >= n:
                    return 0
                value = (data[k] & 0x0F) << 2
            else:
                size = _SIZES[code & 0x18]
                if mode == _BPF_ABS and k >= _SKF_AD_OFF:
                    value = _ancillary(k - _SKF_AD_OFF, wirelen, vlan_tci, pkttype)
                    if value is None:
                        return 0
                else:
                    offset = k + x if mode == _BPF_IND else k
                    if offset + size > n:
                        return 0
                    value = int.from_bytes(bytes(data[offset:offset + size]), "big")
            if cls == _BPF_LD:
                a = value
            else:
                x = value
        elif cls == _BPF_ST:
            mem[k] = a
        elif cls == _BPF_STX:
            mem[k] = x
        elif cls == _BPF_ALU:
            op = code & 0xF0
            if op == _BPF_NEG:
                a = (-a) & _U32
            else:
                operand = x if code & _BPF_X else k
                if op in (_BPF_DIV, _BPF_MOD) and operand == 0:
                    return 0
                a = _fold(op, a, operand)
        elif cls == _BPF_JMP:
            op = code & 0xF0
            if op == _BPF_JA:
                pc += k
            else:
                pc += jt if _evaluate(op, a, x if code & _BPF_X else k) else jf
        elif cls == _BPF_RET:
            return k if code == _BPF_RET | _BPF_K else a
        elif code == _BPF_MISC | _BPF_TAX:
            x = a
        else:
            a = x


# The generated matcher: straight-line Python with if/else for the forward jumps,
# registers in locals, loads as indexing (an out-of-range index raises IndexError, a
# short struct read struct.error: both mean "reject", caught once around the body).

_PY_OPS = {_BPF_ADD: "+", _BPF_SUB: "-", _BPF_MUL: "*", _BPF_OR: "|", _BPF_AND: "&",
           _BPF_LSH: "<<", _BPF_RSH: ">>", _BPF_XOR: "^", _BPF_DIV: "//", _BPF_MOD: "%"}
_PY_JUMPS = {_BPF_JEQ: "==", _BPF_JGT: ">", _BPF_JGE: ">="}
_PY_NOT_JUMPS = {_BPF_JEQ: "!=", _BPF_JGT: "<=", _BPF_JGE: "<"}
_MAX_LINES = 6000
_MAX_DEPTH = 40


def _py_load(size, offset):
    """Python for a big-endian load of size bytes at offset (a source fragment)."""
    if size == 1:
        return "data[%s]" % offset
    if size == 2:
        if offset.isdigit():
            return "(data[%s] << 8 | data[%d])" % (offset, int(offset) + 1)
        if offset == "X":
            return "(data[X] << 8 | data[X + 1])"
        base, plus = offset.split(" + ")
        return "(data[%s + %s] << 8 | data[%s + %d])" % (base, plus, base, int(plus) + 1)
    return "_i(data, %s)[0]" % offset


class _PyGen(object):
    """Python source for one program (see _matcher)."""

    def __init__(self, prog):
        self.prog = prog
        n = len(prog)
        live = [0] * n
        for pc in range(n - 1, -1, -1):
            use, define = _use_def(prog[pc])
            out = 0
            for s in _successors(prog, pc):
                out |= live[s]
            live[pc] = use | (out & ~define)
        self.live = live
        self.lines = 0

    def live_after(self, pc):
        out = 0
        for s in _successors(self.prog, pc):
            out |= self.live[s]
        return out

    def operand(self, size, offset):
        return _py_load(size, offset)

    def straight(self, pc, depth, out):
        """Emit from pc to the end of its path; every path ends in a return."""
        prog = self.prog
        pending = None          # an expression for A not yet assigned (no side effects lost)
        pending_loads = False
        ind = "    " * depth
        while True:
            self.lines += 1
            if self.lines > _MAX_LINES or depth > _MAX_DEPTH:
                raise _TooBig()
            code, jt, jf, k = prog[pc]
            cls = code & 0x07

            def flush():
                if pending is not None:
                    out.append("%sA = %s" % (ind, pending))

            if cls == _BPF_LD:
                mode = code & 0xE0
                size = _SIZES[code & 0x18]
                if mode == _BPF_IMM:
                    expr, loads = "%d" % k, False
                elif mode == _BPF_LEN:
                    expr, loads = "wirelen", False
                elif mode == _BPF_MEM:
                    expr, loads = "m%d" % k, False
                elif mode == _BPF_ABS and k >= _SKF_AD_OFF:
                    anc = k - _SKF_AD_OFF
                    if anc == _SKF_AD_VLAN_TAG_PRESENT:
                        expr = "(0 if vlan_tci is None else 1)"
                    elif anc == _SKF_AD_VLAN_TAG:
                        expr = "(0 if vlan_tci is None else vlan_tci & 65535)"
                    elif anc == _SKF_AD_PKTTYPE:
                        expr = "(0 if pkttype is None else pkttype)"
                    else:
                        flush()
                        out.append("%sreturn False" % ind)
                        return
                    loads = False
                elif mode == _BPF_ABS:
                    expr, loads = self.operand(size, "%d" % k), True
                else:
                    expr, loads = self.operand(size, "X + %d" % k if k else "X"), True
                if pending_loads:
                    flush()
                pending, pending_loads = expr, loads
            elif cls == _BPF_LDX:
                # a pending A may read X: assign it before X changes
                flush()
                if pending is not None:
                    pending, pending_loads = "A", False
                mode = code & 0xE0
                if mode == _BPF_IMM:
                    expr = "%d" % k
                elif mode == _BPF_LEN:
                    expr = "wirelen"
                elif mode == _BPF_MEM:
                    expr = "m%d" % k
                else:
                    expr = "(data[%d] & 15) << 2" % k
                out.append("%sX = %s" % (ind, expr))
            elif cls == _BPF_ST or cls == _BPF_STX:
                flush()
                if pending is not None:
                    pending, pending_loads = "A", False
                out.append("%sm%d = %s" % (ind, k, "A" if cls == _BPF_ST else "X"))
            elif cls == _BPF_ALU:
                op = code & 0xF0
                a = pending if pending is not None else "A"
                if op == _BPF_NEG:
                    expr = "(-%s & 4294967295)" % a
                else:
                    rhs = "X" if code & _BPF_X else "%d" % k
                    if op in (_BPF_DIV, _BPF_MOD) and code & _BPF_X:
                        flush()
                        out.append("%sif X == 0:" % ind)
                        out.append("%s    return False" % ind)
                        a = "A"
                    if op in (_BPF_LSH, _BPF_RSH) and code & _BPF_X:
                        expr = "((%s %s X) & 4294967295 if X < 32 else 0)" % (
                            a, _PY_OPS[op])
                    elif op in (_BPF_ADD, _BPF_SUB, _BPF_MUL, _BPF_LSH):
                        expr = "((%s %s %s) & 4294967295)" % (a, _PY_OPS[op], rhs)
                    else:
                        expr = "(%s %s %s)" % (a, _PY_OPS[op], rhs)
                pending = expr
            elif cls == _BPF_MISC:
                if code == _BPF_MISC | _BPF_TAX:
                    flush()
                    if pending is not None:
                        pending, pending_loads = "A", False
                    out.append("%sX = A" % ind)
                else:
                    if pending_loads:
                        flush()
                    pending, pending_loads = "X", False
            elif cls == _BPF_RET:
                if code == _BPF_RET | _BPF_K:
                    flush()
                    out.append("%sreturn %s" % (ind, "True" if k else "False"))
                else:
                    out.append("%sreturn %s != 0" % (ind, pending or "A"))
                return
            elif code == _BPF_JMP | _BPF_JA:
                pc = pc + 1 + k
                if pending is not None:
                    flush()
                    pending, pending_loads = None, False
                continue
            else:
                op = code & 0xF0
                a = pending if pending is not None else "A"
                if pending is not None and self.live_after(pc) & _A_BIT:
                    flush()
                    a = "A"
                pending, pending_loads = None, False
                rhs = "X" if code & _BPF_X else "%d" % k
                if op == _BPF_JSET:
                    cond = "%s & %s" % (a, rhs)
                    neg = "not %s & %s" % (a, rhs)
                else:
                    cond = "%s %s %s" % (a, _PY_JUMPS[op], rhs)
                    neg = "%s %s %s" % (a, _PY_NOT_JUMPS[op], rhs)
                t, f = pc + 1 + jt, pc + 1 + jf
                if t == f:
                    out.append("%sif %s:" % (ind, cond))
                    out.append("%s    pass" % ind)
                    pc = t
                    continue
                # the branch with the shorter path is nested; the other continues here
                if self.size(t) <= self.size(f):
                    out.append("%sif %s:" % (ind, cond))
                    self.straight(t, depth + 1, out)
                    pc = f
                else:
                    out.append("%sif %s:" % (ind, neg))
                    self.straight(f, depth + 1, out)
                    pc = t
                continue
            pc += 1

    def size(self, pc):
        """Instructions on the longest path from pc (a cheap proxy for code size)."""
        sizes = getattr(self, "_sizes", None)
        if sizes is None:
            prog = self.prog
            sizes = [0] * len(prog)
            for p in range(len(prog) - 1, -1, -1):
                sizes[p] = 1 + max([sizes[s] for s in _successors(prog, p)] or [0])
            self._sizes = sizes
        return sizes[pc]

    def dispatch(self, out):
        """The fallback shape: every basic block guarded by "if b == N" in program
        order (jumps only go forward, so one pass down the blocks runs the program)."""
        prog = self.prog
        n = len(prog)
        leaders = {0}
        for pc in range(n):
            succ = _successors(prog, pc)
            if prog[pc][0] & 0x07 in (_BPF_JMP, _BPF_RET):
                leaders.update(succ)
                if pc + 1 < n:
                    leaders.add(pc + 1)
        ind = "        "
        out.append("    b = 0")
        for pc in range(n):
            code, jt, jf, k = prog[pc]
            if pc in leaders:
                out.append("    if b == %d:" % pc)
            cls = code & 0x07
            line = None
            if cls == _BPF_LD:
                mode = code & 0xE0
                size = _SIZES[code & 0x18]
                if mode == _BPF_IMM:
                    line = "A = %d" % k
                elif mode == _BPF_LEN:
                    line = "A = wirelen"
                elif mode == _BPF_MEM:
                    line = "A = m%d" % k
                elif mode == _BPF_ABS and k >= _SKF_AD_OFF:
                    anc = k - _SKF_AD_OFF
                    value = _ANCILLARY_PY.get(anc)
                    line = "A = %s" % value if value else "return False"
                elif mode == _BPF_ABS:
                    line = "A = %s" % _py_load(size, "%d" % k)
                else:
                    line = "A = %s" % _py_load(size, "X + %d" % k)
            elif cls == _BPF_LDX:
                mode = code & 0xE0
                line = "X = %s" % {_BPF_IMM: "%d" % k, _BPF_LEN: "wirelen",
                                   _BPF_MEM: "m%d" % k,
                                   _BPF_MSH: "(data[%d] & 15) << 2" % k}[mode]
            elif cls == _BPF_ST:
                line = "m%d = A" % k
            elif cls == _BPF_STX:
                line = "m%d = X" % k
            elif cls == _BPF_ALU:
                op = code & 0xF0
                rhs = "X" if code & _BPF_X else "%d" % k
                if op == _BPF_NEG:
                    line = "A = -A & 4294967295"
                elif op in (_BPF_DIV, _BPF_MOD) and code & _BPF_X:
                    out.append(ind + "if X == 0:")
                    out.append(ind + "    return False")
                    line = "A = A %s X" % _PY_OPS[op]
                elif op in (_BPF_LSH, _BPF_RSH) and code & _BPF_X:
                    line = "A = (A %s X) & 4294967295 if X < 32 else 0" % _PY_OPS[op]
                else:
                    line = "A = (A %s %s) & 4294967295" % (_PY_OPS[op], rhs)
            elif cls == _BPF_MISC:
                line = "X = A" if code == _BPF_MISC | _BPF_TAX else "A = X"
            elif cls == _BPF_RET:
                line = ("return %s" % ("True" if k else "False")
                        if code == _BPF_RET | _BPF_K else "return A != 0")
            elif code == _BPF_JMP | _BPF_JA:
                line = "b = %d" % (pc + 1 + k)
            else:
                op = code & 0xF0
                rhs = "X" if code & _BPF_X else "%d" % k
                cond = ("A & %s" % rhs if op == _BPF_JSET
                        else "A %s %s" % (_PY_JUMPS[op], rhs))
                line = "b = %d if %s else %d" % (pc + 1 + jt, cond, pc + 1 + jf)
            out.append(ind + line)
            if cls not in (_BPF_JMP, _BPF_RET) and pc + 1 in leaders:
                out.append(ind + "b = %d" % (pc + 1))


_ANCILLARY_PY = {
    _SKF_AD_VLAN_TAG_PRESENT: "0 if vlan_tci is None else 1",
    _SKF_AD_VLAN_TAG: "0 if vlan_tci is None else vlan_tci & 65535",
    _SKF_AD_PKTTYPE: "0 if pkttype is None else pkttype",
}


def _matcher(prog, structured=True):
    """Compile prog to a Python function f(data, wirelen, vlan_tci=None, pkttype=None)
    returning True where the program returns non-zero; also returns its source.

    The structured shape nests the branches and repeats the blocks two paths share;
    past a size it gives way to the block dispatcher (also chosen by structured=False).
    """
    gen = _PyGen(prog)
    body = []
    try:
        if not structured:
            raise _TooBig()
        gen.straight(0, 2, body)
    except _TooBig:
        body = []
        gen.dispatch(body)
        body = ["    " + line for line in body]
    uses_mem = any(i[0] in (_BPF_LD | _BPF_MEM, _BPF_LDX | _BPF_MEM) for i in prog)
    head = ["def _match(data, wirelen, vlan_tci=None, pkttype=None):",
            "    A = X = 0"]
    if uses_mem:
        head.append("    " + " = ".join("m%d" % i for i in range(_BPF_MEMWORDS)) + " = 0")
    source = "\n".join(head + ["    try:"] + body + [
        "    except (IndexError, _struct_error):",
        "        return False",
        "    return False", ""])
    namespace = {"_i": _unpack_i, "_struct_error": struct.error}
    exec(compile(source, "<bpf filter>", "exec"), namespace)
    return namespace["_match"], source


# --- the public classes -------------------------------------------------------------------

class Program(object):
    """A checked classic BPF program and its two executors.

    ``instructions``   list of ``(code, jt, jf, k)`` tuples (struct sock_filter)
    ``match(data, wirelen, vlan_tci=None, pkttype=None)``
        True when the program accepts the frame; a Python function generated from the
        program once (an attribute, not a method, to save a call per frame).
        ``vlan_tci`` and ``pkttype`` answer the ancillary loads of a live program.
    ``run_reference(data, wirelen, vlan_tci=None, pkttype=None)``
        the program's return value (0 = reject), one instruction at a time: the
        reference ``match`` is tested against.

    ``Program(instructions)`` checks them as the kernel would (FilterError if it would
    refuse them); ``compile_filter`` makes them from an expression.
    """

    __slots__ = ("instructions", "match", "expr", "linktype", "live", "_source")

    def __init__(self, instructions, expr=None, linktype=None, live=False):
        instructions = [tuple(int(v) for v in insn) for insn in instructions]
        _check(instructions)
        self.instructions = instructions
        self.expr = expr
        self.linktype = linktype
        self.live = live
        self.match, self._source = _matcher(instructions)

    def __repr__(self):
        return "<Program %r for link type %r%s: %d instructions>" % (
            self.expr, self.linktype, " (live)" if self.live else "",
            len(self.instructions))

    def __len__(self):
        return len(self.instructions)

    def run_reference(self, data, wirelen, vlan_tci=None, pkttype=None):
        """The program's return value for one frame (see the class docstring)."""
        return _run(self.instructions, data, wirelen, vlan_tci, pkttype)

    def sock_fprog_bytes(self):
        """The instructions as the kernel's struct sock_filter array (native order)."""
        return b"".join(_SOCK_FILTER.pack(*insn) for insn in self.instructions)

    def dump(self):
        """The program as ``tcpdump -d`` prints it, one line per instruction."""
        return "".join(_image(insn, n) + "\n" for n, insn in enumerate(self.instructions))

    def cooked(self):
        """The program for a cooked (SOCK_DGRAM) packet socket, as libpcap's fix_program
        makes it: the kernel runs the filter on the packet without the Linux cooked
        header that the program (compiled for SLL or SLL2) expects, so loads past the
        header move back by its length and the header's packet type, protocol (and, for
        SLL2, interface index) fields become ancillary loads.  FilterError when the
        program reads another header field (libpcap then filters in user space)."""
        if self.linktype == _LINKTYPE_LINUX_SLL:
            header, fields = 16, {0: _SKF_AD_PKTTYPE, 14: _SKF_AD_PROTOCOL}
        elif self.linktype == _LINKTYPE_LINUX_SLL2:
            header, fields = 20, {0: _SKF_AD_PROTOCOL, 4: _SKF_AD_IFINDEX,
                                  10: _SKF_AD_PKTTYPE}
        else:
            raise _error(None, "a cooked socket program is made from one compiled for "
                         "Linux cooked captures (113, 276), not for link type %r"
                         % self.linktype)
        out = []
        for code, jt, jf, k in self.instructions:
            cls = code & 0x07
            mode = code & 0xE0
            if ((cls == _BPF_LD and mode in (_BPF_ABS, _BPF_IND))
                    or (cls == _BPF_LDX and mode == _BPF_MSH)) and k < _SKF_AD_OFF:
                if k >= header:
                    k -= header
                elif k in fields and mode == _BPF_ABS:
                    k = _SKF_AD_OFF + fields[k]
                elif k < 0x80000000:
                    raise _error(None, "%r reads the cooked header at offset %d, which a "
                                 "cooked socket's filter cannot see" % (self.expr, k))
            out.append((code, jt, jf, k))
        return Program(out, self.expr, self.linktype, True)

    def attach(self, sock):
        """Attach the program to a socket (SO_ATTACH_FILTER); it replaces any other.

        ``sock`` is a socket object or a file descriptor; OSError if the kernel refuses.
        """
        import ctypes

        class _SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        code = self.sock_fprog_bytes()
        buf = ctypes.create_string_buffer(code, len(code))
        fprog = _SockFprog(len(self.instructions), ctypes.addressof(buf))
        raw = ctypes.string_at(ctypes.addressof(fprog), ctypes.sizeof(fprog))
        _setsockopt(sock, _SO_ATTACH_FILTER, raw)
        del buf         # the kernel copied the instructions during the call

    @staticmethod
    def detach(sock):
        """Remove the socket's filter (SO_DETACH_FILTER); nothing if it has none."""
        try:
            _setsockopt(sock, _SO_DETACH_FILTER, 0)
        except OSError as e:
            if e.errno != 2:            # ENOENT: no filter attached
                raise


def _setsockopt(sock, option, value):
    if isinstance(sock, int):
        s = socket.socket(fileno=sock)
        try:
            s.setsockopt(_SOL_SOCKET, option, value)
        finally:
            s.detach()
    else:
        sock.setsockopt(_SOL_SOCKET, option, value)


def compile_filter(expr, linktype, live=False, optimize=True):
    """Compile a tcpdump filter expression for frames of one LINKTYPE_* into a Program.

    ``live=True`` compiles for a Linux packet socket (the outer VLAN tag is in the
    metadata, see the module docstring); ``optimize=False`` gives libpcap's
    unoptimized program, line for line what ``tcpdump -O -d`` prints.  An empty
    expression accepts everything.  FilterError says where and why it cannot.
    """
    prog = _generate(expr, linktype, live)
    if optimize:
        prog = _optimize(prog)
        if len(prog) == 1 and prog[0] == (_BPF_RET | _BPF_K, 0, 0, 0):
            raise _error(None, "expression rejects all packets: %s" % expr)
    if len(prog) > _BPF_MAXINSNS:
        raise _error(None, "the program for %r has %d instructions, more than the kernel's "
                     "%d" % (expr, len(prog), _BPF_MAXINSNS))
    return Program(prog, expr, linktype, live)


def _reject_all(data, wirelen, vlan_tci=None, pkttype=None):
    return False


class Filter(object):
    """A filter for capture files: compiled once per link type, on its first frame.

    ``Filter(expr)`` checks the expression at once (FilterError for a syntax error, or
    for an error it has with Ethernet, raw IP and Linux cooked frames alike).
    ``match(frame)`` takes the ``(ts, ifindex, pkttype, linktype, data, wirelen)`` tuple
    the readers yield and returns True or False.  A link type the expression cannot be
    compiled for raises FilterError once, at its first frame; its later frames are
    rejected.
    """

    __slots__ = ("expr", "_matchers", "_programs")

    def __init__(self, expr):
        self.expr = expr
        self._matchers = {}
        self._programs = {}
        tree = _Parser(expr).parse()
        errors = []
        for linktype in (_LINKTYPE_ETHERNET, _LINKTYPE_RAW, _LINKTYPE_LINUX_SLL):
            gen = _CodeGen(linktype, False)
            try:
                gen.finish(gen.gen(tree) if tree is not None else None)
            except FilterError as e:
                errors.append(e)
        if len(errors) == 3:
            raise errors[0]

    def __repr__(self):
        return "Filter(%r)" % self.expr

    def program(self, linktype):
        """The Program used for frames of this link type (FilterError if none)."""
        prog = self._programs.get(linktype)
        if prog is None:
            prog = self._programs[linktype] = compile_filter(self.expr, linktype)
        return prog

    def match(self, frame):
        """True when the frame passes the filter."""
        _, _, _, linktype, data, wirelen = frame
        try:
            fn = self._matchers[linktype]
        except KeyError:
            fn = self._first(linktype)
        return fn(data, wirelen)

    def _first(self, linktype):
        try:
            fn = self.program(linktype).match
        except FilterError:
            self._matchers[linktype] = _reject_all
            raise
        self._matchers[linktype] = fn
        return fn
