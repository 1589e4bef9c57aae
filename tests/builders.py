"""Tiny composable builders of raw frames for tests and benchmark captures.

Each builder takes its payload (bytes) first, keyword arguments with
defaults, and returns the header followed by the payload, with lengths and
checksums filled in so that Wireshark reads the result as valid::

    eth(ip4(tcp(b"hi", sport=1234, dport=80, flags="PA",
                src="10.0.0.1", dst="10.0.0.2"),
            src="10.0.0.1", dst="10.0.0.2"))

Every computed field has a keyword override (``length=``, ``ihl=``,
``checksum=``, ``doff=``, ``plen=``...) for building broken frames on
purpose.  Addresses are text ("10.0.0.1", "fd00::1", "aa:bb:cc:dd:ee:ff")
or already packed bytes.  TCP, UDP and ICMPv6 checksums need the IP
addresses (``src=``/``dst=``, the same ones given to ``ip4``/``ip6``)
because the builders run inside out; without them the checksum is 0.

A header that is selected by the enclosing header's type field is built by
its own builder and the enclosing builder is told the type, the same way for
every protocol: ``eth(mpls(...), type=0x8847)``,
``eth(pppoe_session(...), type=0x8864)``.  802.1Q tags follow that rule
too: ``vlan()`` returns the TCI, the inner EtherType and the payload, and the
TPID is the type of whatever encloses it, so
``eth(vlan(ip4(...), vid=10), type=0x8100)`` is a tagged frame and stacked
tags nest: ``eth(vlan(vlan(p, vid=200), vid=100, type=0x8100),
type=0x88a8)``.  ``eth(p, tags=[(0x88a8, 100), (0x8100, 200)])`` is the
shorthand for exactly that (outermost tag first).

``pcap_bytes`` and ``pcapng_bytes`` write whole capture files and are
independent of the project's own writer on purpose, so tests of the writer
and of the reader are not circular.

References: RFC 791, 8200 (and 2675 jumbograms, 8754 SRH, 4302 AH), 793/9293,
768, 792, 4443, 4960 (CRC32c from RFC 3309), 2236, 2784/2890 and 2637
(GRE, PPTP), 7348, 2516, 1661, IEEE 802.1Q/802.2, radiotap.org,
tcpdump.org/linktypes and the pcap/pcapng drafts (draft-ietf-opsawg-pcap,
-pcapng).

Deliberately left out: validation of arguments (speed matters more: the
benchmark builds about a million frames), options parsing, IPv6 routing
header types other than 0/2/4 laid out specially, 4-address 802.11 frames,
SCTP chunk builders, pcapng options other than if_tsresol.
"""

import socket
import struct

__all__ = [
    "mac", "ip", "inet_checksum", "crc32c",
    "eth", "vlan", "llc", "snap", "eth8023", "mpls", "pppoe_session",
    "sll", "sll2", "null", "loop", "ppp", "radiotap_80211",
    "ip4", "ip6", "hopopts", "dstopts", "routing", "frag6", "ah",
    "jumbo_hopopts", "arp",
    "tcp", "udp", "icmp", "icmp6", "sctp", "igmp", "gre", "vxlan",
    "geneve", "gtpu", "erspan2", "erspan3",
    "pcap_bytes", "pcapng_bytes",
]

DEFAULT_SRC_MAC = "02:00:00:00:00:01"
DEFAULT_DST_MAC = "02:00:00:00:00:02"
DEFAULT_SRC_IP4 = "10.0.0.1"
DEFAULT_DST_IP4 = "10.0.0.2"
DEFAULT_SRC_IP6 = "fd00::1"
DEFAULT_DST_IP6 = "fd00::2"

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_RARP = 0x8035
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
ETH_P_IPV6 = 0x86DD
ETH_P_MPLS_UC = 0x8847
ETH_P_PPP_SES = 0x8864
PPP_IP = 0x0021
PPP_COMP = 0x00FD
GRE_PPP = 0x880B
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58
IPPROTO_SCTP = 132

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LOOP = 108
LINKTYPE_IEEE802_11_RADIOTAP = 127
LINKTYPE_LINUX_SLL2 = 276

# Bit i of the TCP flags field is letter i; N is the AE bit (ex-NS).
_TCP_FLAG_LETTERS = "FSRPAUECN"

_ETH = struct.Struct("!6s6sH")
_VLAN = struct.Struct("!HH")
_LLC = struct.Struct("!BBB")
_LLC_IFORMAT = struct.Struct("!BBH")
_SNAP = struct.Struct("!3sH")
_MPLS = struct.Struct("!I")
_PPPOE_SESSION = struct.Struct("!BBHHH")
_SLL = struct.Struct("!HHH8sH")
_SLL2 = struct.Struct("!HHIHBB8s")
_NULL_LE = struct.Struct("<I")
_NULL_BE = struct.Struct(">I")
_PPP_HDLC = struct.Struct("!BBH")
_PPP = struct.Struct("!H")
_RADIOTAP = struct.Struct("<BBHI")
_DOT11_DATA = struct.Struct("<BBH6s6s6sH")
_LLC_SNAP = struct.Struct("!BBB3sH")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_IPV6_OPTS = struct.Struct("!BB")
_IPV6_ROUTING = struct.Struct("!BBBBI")
_IPV6_SRH = struct.Struct("!BBBBBBH")
_IPV6_FRAG = struct.Struct("!BBHI")
_AH = struct.Struct("!BBHII")
_JUMBO_HOPOPTS = struct.Struct("!BBBBI")
_ARP = struct.Struct("!HHBBH")
_PSEUDO4 = struct.Struct("!4s4sBBH")
_PSEUDO6 = struct.Struct("!16s16sIxxxB")
_TCP = struct.Struct("!HHIIHHHH")
_UDP = struct.Struct("!HHHH")
_ICMP = struct.Struct("!BBH")
_SCTP = struct.Struct("!HHII")
_IGMP = struct.Struct("!BBH4s")
_GRE = struct.Struct("!HH")
_GRE_CHECKSUM = struct.Struct("!HH")
_GRE_WORD = struct.Struct("!I")
_GRE_PPTP_KEY = struct.Struct("!HH")
_VXLAN = struct.Struct("!B3xI")
_GENEVE = struct.Struct("!BBHI")
_GTPU = struct.Struct("!BBHI")
_GTPU_OPTIONAL = struct.Struct("!HBB")
_ERSPAN2 = struct.Struct("!HHI")
_ERSPAN3 = struct.Struct("!HHIHH")
_PCAP_HEADER_LE = struct.Struct("<IHHiIII")
_PCAP_HEADER_BE = struct.Struct(">IHHiIII")
_PCAP_RECORD_LE = struct.Struct("<IIII")
_PCAP_RECORD_BE = struct.Struct(">IIII")
_PCAPNG_SHB_LE = struct.Struct("<IIIHHqI")
_PCAPNG_SHB_BE = struct.Struct(">IIIHHqI")
_PCAPNG_IDB_LE = struct.Struct("<IIHHIHHB3xHHI")
_PCAPNG_IDB_BE = struct.Struct(">IIHHIHHB3xHHI")
_PCAPNG_EPB_LE = struct.Struct("<IIIIIII")
_PCAPNG_EPB_BE = struct.Struct(">IIIIIII")
_PCAPNG_TRAILER_LE = struct.Struct("<I")
_PCAPNG_TRAILER_BE = struct.Struct(">I")

_PCAP_MAGIC_USEC = 0xA1B2C3D4
_PCAP_MAGIC_NSEC = 0xA1B23C4D
_PCAPNG_SHB_TYPE = 0x0A0D0D0A
_PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
_PCAPNG_IDB_TYPE = 1
_PCAPNG_EPB_TYPE = 6
_PCAPNG_IF_TSRESOL = 9


def _crc32c_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


# --- helpers -----------------------------------------------------------------

def mac(text):
    """Return the 6 bytes of "aa:bb:cc:dd:ee:ff" (or "-" separated); bytes pass."""
    if isinstance(text, (bytes, bytearray)):
        return bytes(text)
    return bytes.fromhex(text.replace(":", "").replace("-", ""))


def ip(text):
    """Return the packed address (4 or 16 bytes) of IPv4 or IPv6 text; bytes pass."""
    if isinstance(text, (bytes, bytearray)):
        return bytes(text)
    if ":" in text:
        return socket.inet_pton(socket.AF_INET6, text)
    return socket.inet_pton(socket.AF_INET, text)


def inet_checksum(data):
    """RFC 1071 checksum of data (odd lengths padded with a zero byte)."""
    if len(data) & 1:
        data = bytes(data) + b"\0"
    # 2**16 is 1 modulo 0xffff, so the end-around-carry sum of the 16-bit
    # words is the whole buffer as one integer modulo 0xffff (with 0xffff,
    # not 0, for non-zero data).
    value = int.from_bytes(data, "big")
    total = value % 0xFFFF
    if total == 0 and value:
        total = 0xFFFF
    return ~total & 0xFFFF


def crc32c(data):
    """CRC32c (Castagnoli) as used by SCTP (RFC 3309), as an integer."""
    table = _CRC32C_TABLE
    crc = 0xFFFFFFFF
    for byte in bytearray(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _pseudo_header(src, dst, proto, length):
    src = ip(src)
    dst = ip(dst)
    if len(src) == 4:
        return _PSEUDO4.pack(src, dst, 0, proto, length)
    return _PSEUDO6.pack(src, dst, length, proto)


# --- link layer --------------------------------------------------------------

def eth(payload, src=DEFAULT_SRC_MAC, dst=DEFAULT_DST_MAC, type=ETH_P_IP,
        tags=(), pad=False):
    """Ethernet II: dst, src, EtherType, payload.

    tags: 802.1Q/802.1ad tags, outermost first, as (tpid, vid) or
    (tpid, vid, pcp) tuples, placed between the addresses and ``type``.
    pad: pad with zeros to the 60-byte minimum (without FCS), as a NIC
    would on the wire; captures of sent frames are usually unpadded.
    """
    for tag in reversed(tags):
        payload = vlan(payload, vid=tag[1], pcp=tag[2] if len(tag) > 2 else 0,
                       type=type)
        type = tag[0]
    frame = _ETH.pack(mac(dst), mac(src), type) + payload
    if pad and len(frame) < 60:
        frame += bytes(60 - len(frame))
    return frame


def vlan(payload, vid=1, pcp=0, type=ETH_P_IP, dei=0):
    """802.1Q tag body: TCI and inner EtherType, then payload.

    The TPID is the enclosing header's type (``eth(..., type=0x8100)`` or
    ``0x88a8``): see the module docstring and ``eth(tags=...)``.
    """
    return _VLAN.pack((pcp << 13) | (dei << 12) | (vid & 0xFFF), type) + payload


def llc(payload, dsap=0xAA, ssap=0xAA, ctrl=3):
    """802.2 LLC: DSAP, SSAP, control (1 byte; 2 bytes if ctrl > 0xff)."""
    if ctrl > 0xFF:
        return _LLC_IFORMAT.pack(dsap, ssap, ctrl) + payload
    return _LLC.pack(dsap, ssap, ctrl) + payload


def snap(payload, oui=0, type=ETH_P_IP):
    """SNAP: 3-byte OUI and EtherType (after ``llc(..., 0xaa, 0xaa, 3)``)."""
    return _SNAP.pack(oui.to_bytes(3, "big"), type) + payload


def eth8023(payload, src=DEFAULT_SRC_MAC, dst=DEFAULT_DST_MAC, length=None):
    """IEEE 802.3 frame: dst, src, length of payload (usually LLC), payload."""
    if length is None:
        length = len(payload)
    return _ETH.pack(mac(dst), mac(src), length) + payload


def mpls(payload, labels=((16, 0, 64),)):
    """MPLS label stack, top first; (label, tc, ttl) each, S bit on the last.

    A bare int is a label with tc 0 and ttl 64.
    """
    out = []
    last = len(labels) - 1
    for i, entry in enumerate(labels):
        if isinstance(entry, int):
            label, tc, ttl = entry, 0, 64
        else:
            label, tc, ttl = entry
        out.append(_MPLS.pack((label << 12) | (tc << 9) | ((i == last) << 8)
                              | ttl))
    return b"".join(out) + payload


def pppoe_session(payload, session=1, proto=PPP_IP, code=0, length=None):
    """PPPoE session stage (RFC 2516): version/type 0x11, code, session id,
    length (PPP protocol field + payload), then the 2-byte PPP protocol."""
    if length is None:
        length = len(payload) + 2
    return _PPPOE_SESSION.pack(0x11, code, session, length, proto) + payload


def sll(payload, pkttype=0, hatype=1, addr=b"", proto=ETH_P_IP, halen=None):
    """Linux cooked capture v1 header (16 bytes, LINKTYPE_LINUX_SLL 113).

    addr: link-layer address (MAC text or bytes, up to 8 bytes kept).
    """
    addr = mac(addr)
    if halen is None:
        halen = len(addr)
    return _SLL.pack(pkttype, hatype, halen, addr[:8], proto) + payload


def sll2(payload, proto=ETH_P_IP, ifindex=1, hatype=1, pkttype=0, addr=b"",
         halen=None):
    """Linux cooked capture v2 header (20 bytes, LINKTYPE_LINUX_SLL2 276)."""
    addr = mac(addr)
    if halen is None:
        halen = len(addr)
    return _SLL2.pack(proto, 0, ifindex, hatype, pkttype, halen,
                      addr[:8]) + payload


def null(payload, family=2, big_endian=False):
    """BSD loopback (LINKTYPE_NULL 0): 4-byte AF_ value in the writer's byte
    order.  AF_INET is 2; AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD),
    30 (macOS)."""
    header = _NULL_BE if big_endian else _NULL_LE
    return header.pack(family) + payload


def loop(payload, family=2):
    """OpenBSD loopback (LINKTYPE_LOOP 108): the AF_ value in network order."""
    return _NULL_BE.pack(family) + payload


def ppp(payload, proto=PPP_IP, hdlc=True):
    """PPP (LINKTYPE_PPP 9): ff 03 address/control when hdlc (as most
    captures have it, RFC 1662), then the 2-byte protocol."""
    if hdlc:
        return _PPP_HDLC.pack(0xFF, 0x03, proto) + payload
    return _PPP.pack(proto) + payload


def radiotap_80211(payload, type=ETH_P_IP, src=DEFAULT_SRC_MAC,
                   dst=DEFAULT_DST_MAC, bssid="02:00:00:00:00:03", flags=0,
                   seq=0, duration=0):
    """Radiotap (8 bytes, no fields) + 802.11 data frame header (24 bytes)
    + LLC/SNAP with ``type``: LINKTYPE_IEEE802_11_RADIOTAP 127.

    flags is the frame-control flags byte; its To DS (0x01) / From DS (0x02)
    bits choose the address order.  Both set (4 addresses) is not built.
    """
    ds = flags & 3
    if ds == 0:
        addrs = (dst, src, bssid)
    elif ds == 1:
        addrs = (bssid, src, dst)
    elif ds == 2:
        addrs = (dst, bssid, src)
    else:
        raise ValueError("4-address (WDS) 802.11 frames are not built: flags=%#x"
                         % flags)
    return (_RADIOTAP.pack(0, 0, _RADIOTAP.size, 0)
            + _DOT11_DATA.pack(0x08, flags, duration, mac(addrs[0]),
                               mac(addrs[1]), mac(addrs[2]), seq << 4)
            + _LLC_SNAP.pack(0xAA, 0xAA, 0x03, b"\0\0\0", type) + payload)


# --- network layer -----------------------------------------------------------

def ip4(payload, src=DEFAULT_SRC_IP4, dst=DEFAULT_DST_IP4, proto=IPPROTO_TCP,
        ttl=64, ident=0, df=False, mf=False, frag=0, tos=0, options=b"",
        length=None, ihl=None, checksum=None, version=4):
    """IPv4 header (RFC 791); frag is the offset in 8-byte units.

    options are padded with zeros (EOL) to a multiple of 4 bytes.
    """
    if len(options) & 3:
        options += bytes(4 - (len(options) & 3))
    hlen = _IPV4.size + len(options)
    if ihl is None:
        ihl = hlen >> 2
    if length is None:
        length = hlen + len(payload)
    fragfield = (df << 14) | (mf << 13) | frag
    src = ip(src)
    dst = ip(dst)
    vihl = (version << 4) | ihl
    if checksum is None:
        checksum = inet_checksum(
            _IPV4.pack(vihl, tos, length, ident, fragfield, ttl, proto, 0,
                       src, dst) + options)
    return _IPV4.pack(vihl, tos, length, ident, fragfield, ttl, proto,
                      checksum, src, dst) + options + payload


def ip6(payload, src=DEFAULT_SRC_IP6, dst=DEFAULT_DST_IP6, nxt=IPPROTO_TCP,
        hlim=64, plen=None, tc=0, flow=0, version=6):
    """IPv6 fixed header (RFC 8200); plen=0 with ``jumbo_hopopts``."""
    if plen is None:
        plen = len(payload)
    return _IPV6.pack((version << 28) | (tc << 20) | flow, plen, nxt, hlim,
                      ip(src), ip(dst)) + payload


def _padded_options(options):
    """Options padded so that the 2-byte header plus options fill 8n bytes."""
    need = -(2 + len(options)) % 8
    if need == 1:
        return options + b"\0"            # Pad1
    if need:
        return options + bytes((1, need - 2)) + bytes(need - 2)  # PadN
    return options


def hopopts(payload, nxt, options=b""):
    """Hop-by-Hop Options header; options padded to 8n with Pad1/PadN."""
    options = _padded_options(options)
    return _IPV6_OPTS.pack(nxt, (2 + len(options)) // 8 - 1) + options + payload


def dstopts(payload, nxt, options=b""):
    """Destination Options header; options padded to 8n with Pad1/PadN."""
    return hopopts(payload, nxt, options)


def routing(payload, nxt, type=0, segleft=0, addresses=(), last_entry=None,
            flags=0, tag=0):
    """Routing header with a list of 16-byte addresses (text or bytes).

    type 4 is the Segment Routing Header (RFC 8754): addresses is the
    segment list in header order (segment 0, the final one, first) and
    last_entry defaults to its last index.  Other types (0, 2) get 4
    reserved bytes before the addresses.
    """
    packed = b"".join(ip(a) for a in addresses)
    hdrlen = len(packed) // 8
    if type == 4:
        if last_entry is None:
            last_entry = max(len(addresses) - 1, 0)
        header = _IPV6_SRH.pack(nxt, hdrlen, 4, segleft, last_entry, flags, tag)
    else:
        header = _IPV6_ROUTING.pack(nxt, hdrlen, type, segleft, 0)
    return header + packed + payload


def frag6(payload, nxt, offset=0, m=False, ident=1):
    """Fragment header; offset in 8-byte units."""
    return _IPV6_FRAG.pack(nxt, 0, (offset << 3) | m, ident) + payload


def ah(payload, nxt, spi=1, seq=1, icv=bytes(12), length=None):
    """Authentication Header (RFC 4302) for IPv4 or IPv6: length is in 32-bit
    words minus 2.  The ICV is not computed (any bytes given are used)."""
    if length is None:
        length = (_AH.size + len(icv)) // 4 - 2
    return _AH.pack(nxt, length, 0, spi, seq) + icv + payload


def jumbo_hopopts(payload, nxt, jumbo_len=None):
    """Hop-by-Hop header holding only a Jumbo Payload option (RFC 2675).

    jumbo_len defaults to the length after the IPv6 header (this header
    included); give the IPv6 header plen=0.
    """
    if jumbo_len is None:
        jumbo_len = _JUMBO_HOPOPTS.size + len(payload)
    return _JUMBO_HOPOPTS.pack(nxt, 0, 0xC2, 4, jumbo_len) + payload


def arp(op=1, sha=DEFAULT_SRC_MAC, spa=DEFAULT_SRC_IP4, tha="00:00:00:00:00:00",
        tpa=DEFAULT_DST_IP4, htype=1, ptype=ETH_P_IP):
    """ARP/RARP body (RFC 826/903): op 1/2 ARP, 3/4 RARP (EtherType 0x8035
    at the Ethernet level).  Hardware/protocol lengths come from the
    addresses."""
    sha = mac(sha)
    tha = mac(tha)
    spa = ip(spa)
    tpa = ip(tpa)
    return _ARP.pack(htype, ptype, len(sha), len(spa), op) + sha + spa + tha + tpa


# --- transport layer ---------------------------------------------------------

def _tcp_flags(flags):
    if isinstance(flags, int):
        return flags
    bits = 0
    for letter in flags:
        bits |= 1 << _TCP_FLAG_LETTERS.index(letter)
    return bits


def tcp(payload=b"", sport=1234, dport=80, seq=0, ack=0, flags="S", win=65535,
        options=b"", doff=None, urp=0, src=None, dst=None, checksum=None):
    """TCP header (RFC 9293).

    flags: letters F S R P A U E C, and N for the AE (ex-NS) bit, or an int.
    options are padded with zeros (EOL) to a multiple of 4 bytes.  The
    checksum is computed when src and dst (the IP addresses, v4 or v6) are
    given, else it is 0 unless ``checksum`` is.
    """
    if len(options) & 3:
        options += bytes(4 - (len(options) & 3))
    if doff is None:
        doff = (_TCP.size + len(options)) >> 2
    offflags = (doff << 12) | _tcp_flags(flags)
    if checksum is None:
        if src is None:
            checksum = 0
        else:
            segment = _TCP.pack(sport, dport, seq, ack, offflags, win, 0,
                                urp) + options + payload
            checksum = inet_checksum(
                _pseudo_header(src, dst, IPPROTO_TCP, len(segment)) + segment)
    return _TCP.pack(sport, dport, seq, ack, offflags, win, checksum,
                     urp) + options + payload


def udp(payload=b"", sport=1234, dport=9, length=None, src=None, dst=None,
        checksum=None):
    """UDP header (RFC 768); checksum computed when src/dst are given, else 0
    (which means "none" over IPv4 and is invalid over IPv6)."""
    if length is None:
        length = _UDP.size + len(payload)
    if checksum is None:
        if src is None:
            checksum = 0
        else:
            datagram = _UDP.pack(sport, dport, length, 0) + payload
            checksum = inet_checksum(
                _pseudo_header(src, dst, IPPROTO_UDP, len(datagram))
                + datagram) or 0xFFFF
    return _UDP.pack(sport, dport, length, checksum) + payload


def icmp(payload=b"", type=8, code=0, rest=b"\0\0\0\0", checksum=None):
    """ICMP (RFC 792): type, code, checksum, the 4 ``rest`` bytes (identifier
    and sequence for echo), payload."""
    if checksum is None:
        checksum = inet_checksum(_ICMP.pack(type, code, 0) + rest + payload)
    return _ICMP.pack(type, code, checksum) + rest + payload


def icmp6(payload=b"", type=128, code=0, rest=b"\0\0\0\0", src=None, dst=None,
          checksum=None):
    """ICMPv6 (RFC 4443); checksum over the IPv6 pseudo-header when src/dst
    are given, else 0."""
    if checksum is None:
        if src is None:
            checksum = 0
        else:
            message = _ICMP.pack(type, code, 0) + rest + payload
            checksum = inet_checksum(
                _pseudo_header(src, dst, IPPROTO_ICMPV6, len(message))
                + message)
    return _ICMP.pack(type, code, checksum) + rest + payload


def sctp(payload=b"", sport=1234, dport=80, vtag=0, checksum=None):
    """SCTP common header (RFC 4960) with CRC32c; payload is the chunks."""
    if checksum is None:
        value = crc32c(_SCTP.pack(sport, dport, vtag, 0) + payload)
        # The CRC goes on the wire least significant byte first (RFC 3309).
        checksum = int.from_bytes(value.to_bytes(4, "little"), "big")
    return _SCTP.pack(sport, dport, vtag, checksum) + payload


def igmp(type=0x11, code=0, group="0.0.0.0", checksum=None):
    """IGMPv1/v2 message (RFC 2236), 8 bytes; code is the max response time."""
    group = ip(group)
    if checksum is None:
        checksum = inet_checksum(_IGMP.pack(type, code, 0, group))
    return _IGMP.pack(type, code, checksum, group)


def gre(payload, proto=None, key=None, seq=None, checksum=False, version=0,
        ack=None):
    """GRE header (RFC 2784/2890), or PPTP enhanced GRE (RFC 2637) when
    version is 1.

    proto defaults to 0x0800, or 0x880b (PPP) for version 1.
    checksum: False (absent), True (present and computed), or an int
    (present with that value).  For version 1, key is the call id (the
    payload length is filled in) or a (payload length, call id) tuple, and
    ack adds the acknowledgement number.
    """
    if proto is None:
        proto = GRE_PPP if version == 1 else ETH_P_IP
    bits = version
    parts = []
    if checksum is not False:
        bits |= 0x8000
    if key is not None:
        bits |= 0x2000
        if version == 1:
            if isinstance(key, int):
                key = (len(payload), key)
            parts.append(_GRE_PPTP_KEY.pack(key[0], key[1]))
        else:
            parts.append(_GRE_WORD.pack(key))
    if seq is not None:
        bits |= 0x1000
        parts.append(_GRE_WORD.pack(seq))
    if ack is not None:
        bits |= 0x0080
        parts.append(_GRE_WORD.pack(ack))
    tail = b"".join(parts) + payload
    header = _GRE.pack(bits, proto)
    if checksum is False:
        return header + tail
    if checksum is True:
        checksum = inet_checksum(header + _GRE_CHECKSUM.pack(0, 0) + tail)
    return header + _GRE_CHECKSUM.pack(checksum, 0) + tail


def vxlan(payload, vni=1, flags=0x08):
    """VXLAN header (RFC 7348), 8 bytes; the caller puts it in UDP port 4789."""
    return _VXLAN.pack(flags, vni << 8) + payload


def geneve(payload, ptype=0x6558, vni=5, options=b""):
    """Geneve header (RFC 8926): version 0, the options' length in 4-byte words, the
    protocol type of the payload (0x6558: Ethernet), VNI; the caller puts it in UDP 6081."""
    return _GENEVE.pack(len(options) >> 2, 0, ptype, vni << 8) + options + payload


def gtpu(payload, teid=1, msg_type=255, seq=None, extensions=()):
    """GTPv1-U header (3GPP TS 29.281): version 1, PT 1, the E and S flags when there are
    extension headers or a sequence number (then the 4 optional bytes), message type
    (255: a G-PDU carrying ``payload``), length of all after the first 8 bytes, TEID.
    ``extensions``: (type, content) pairs, each content 2 bytes short of a multiple of 4
    (a length byte and the next type byte complete it)."""
    flags = 0x30
    optional = b""
    if seq is not None or extensions:
        flags |= (0x02 if seq is not None else 0) | (0x04 if extensions else 0)
        chain = b""
        for i, (_, content) in enumerate(extensions):
            nxt = extensions[i + 1][0] if i + 1 < len(extensions) else 0
            chain += bytes(((len(content) + 2) >> 2,)) + content + bytes((nxt,))
        optional = _GTPU_OPTIONAL.pack(seq or 0, 0, extensions[0][0] if extensions else 0)
        optional += chain
    body = optional + payload
    return _GTPU.pack(flags, msg_type, len(body), teid) + body


def erspan2(payload, session=1, vlan=0, index=0):
    """ERSPAN type II header (8 bytes): version 1, VLAN, session id, port index; it
    follows a GRE header of protocol 0x88be with a sequence number."""
    return _ERSPAN2.pack(0x1000 | vlan, session & 0x3FF, index & 0xFFFFF) + payload


def erspan3(payload, session=1, vlan=0, timestamp=0, platform=None):
    """ERSPAN type III header (12 bytes): version 2, VLAN, session id, timestamp, SGT,
    then the flags (the O bit: an 8-byte platform subheader, ``platform``, follows);
    GRE protocol 0x22eb."""
    flags = 1 if platform is not None else 0
    return (_ERSPAN3.pack(0x2000 | vlan, session & 0x3FF, timestamp, 0, flags)
            + (platform or b"") + payload)


# --- capture files -----------------------------------------------------------

def _records(frames):
    """Yield (ts_ns, data, wirelen) for bytes or (ts_ns, data[, wirelen]).

    A frame given as bytes alone is stamped i milliseconds after the epoch.
    """
    for i, frame in enumerate(frames):
        if isinstance(frame, (bytes, bytearray)):
            yield i * 1000000, frame, len(frame)
        elif len(frame) == 2:
            yield frame[0], frame[1], len(frame[1])
        else:
            yield frame[0], frame[1], frame[2]


def pcap_bytes(frames, linktype=LINKTYPE_ETHERNET, nanosecond=False,
               big_endian=False, snaplen=262144):
    """A whole classic pcap file (version 2.4) as bytes.

    frames: bytes, or (ts_ns, data) or (ts_ns, data, wirelen) tuples.  Data
    longer than snaplen is cut to it (the wire length is kept).
    """
    header = _PCAP_HEADER_BE if big_endian else _PCAP_HEADER_LE
    record = _PCAP_RECORD_BE if big_endian else _PCAP_RECORD_LE
    magic = _PCAP_MAGIC_NSEC if nanosecond else _PCAP_MAGIC_USEC
    divisor = 1 if nanosecond else 1000
    out = [header.pack(magic, 2, 4, 0, 0, snaplen, linktype)]
    for ts_ns, data, wirelen in _records(frames):
        data = data[:snaplen]
        seconds, fraction = divmod(ts_ns, 1000000000)
        out.append(record.pack(seconds, fraction // divisor, len(data), wirelen))
        out.append(bytes(data))
    return b"".join(out)


def pcapng_bytes(frames, linktype=LINKTYPE_ETHERNET, big_endian=False,
                 snaplen=0):
    """A whole pcapng file as bytes: one Section Header Block, one Interface
    Description Block (if_tsresol 9: nanoseconds) and one Enhanced Packet
    Block per frame.

    frames as for ``pcap_bytes``; snaplen 0 means no limit.
    """
    shb = _PCAPNG_SHB_BE if big_endian else _PCAPNG_SHB_LE
    idb = _PCAPNG_IDB_BE if big_endian else _PCAPNG_IDB_LE
    epb = _PCAPNG_EPB_BE if big_endian else _PCAPNG_EPB_LE
    trailer = _PCAPNG_TRAILER_BE if big_endian else _PCAPNG_TRAILER_LE
    out = [
        shb.pack(_PCAPNG_SHB_TYPE, shb.size, _PCAPNG_BYTE_ORDER_MAGIC, 1, 0,
                 -1, shb.size),
        idb.pack(_PCAPNG_IDB_TYPE, idb.size, linktype, 0, snaplen,
                 _PCAPNG_IF_TSRESOL, 1, 9, 0, 0, idb.size),
    ]
    for ts_ns, data, wirelen in _records(frames):
        if snaplen:
            data = data[:snaplen]
        pad = -len(data) % 4
        total = epb.size + len(data) + pad + trailer.size
        out.append(epb.pack(_PCAPNG_EPB_TYPE, total, 0, ts_ns >> 32,
                            ts_ns & 0xFFFFFFFF, len(data), wirelen))
        out.append(bytes(data))
        out.append(bytes(pad))
        out.append(trailer.pack(total))
    return b"".join(out)
