"""Link layers: from the start of a frame to the ethertype of what it carries.

Ethernet II and 802.3 (LLC, SNAP, Novell raw), 802.1Q / 802.1ad / 0x9100 tags of any
depth, MPLS label stacks, PPPoE sessions, PPP (with or without HDLC framing, protocol
field compression), Linux cooked SLL and SLL2, BSD NULL and LOOP, raw IP (101, 12, 14,
228, 229), IP over InfiniBand (242), NFLOG (239), and 802.11 data frames under radiotap
(127) through LLC/SNAP.  ``ARPHRD_TO_LINKTYPE`` maps the live interface types onto these.

Each decoder follows the contract in ``layer``.  Left out: 802.11 management and control
frames and encrypted data (decoded up to the MAC header), Token Ring, FDDI, ATM.
"""
import struct

from .layer import NEXT_ETHERTYPE, NEXT_LINK, STOP, fail, short
from .packet import (
    ETH_DST, ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, ETH_P_MPLS_MC, ETH_P_MPLS_UC,
    ETH_P_PPP_SES, ETH_P_QINQ1, ETH_P_TEB, ETH_SRC, ETHERTYPE, LLC_DSAP, PKTTYPE, VLAN,
)

__all__ = [
    "LINKTYPE_NULL", "LINKTYPE_ETHERNET", "LINKTYPE_PPP", "LINKTYPE_RAW_BSDOS",
    "LINKTYPE_RAW_OPENBSD", "LINKTYPE_PPP_HDLC", "LINKTYPE_RAW", "LINKTYPE_LINUX_SLL",
    "LINKTYPE_LOOP", "LINKTYPE_IEEE802_11_RADIOTAP", "LINKTYPE_NFLOG", "LINKTYPE_IPOIB",
    "LINKTYPE_IPV4", "LINKTYPE_IPV6", "LINKTYPE_LINUX_SLL2",
    "ARPHRD_TO_LINKTYPE", "LINK_DECODERS", "ETHERTYPE_DECODERS",
]

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9
LINKTYPE_RAW_BSDOS = 12
LINKTYPE_RAW_OPENBSD = 14
LINKTYPE_PPP_HDLC = 50
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IEEE802_11_RADIOTAP = 127
LINKTYPE_NFLOG = 239
LINKTYPE_IPOIB = 242
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

# linux/if_arp.h device types, and what a packet socket's frames on them start with
ARPHRD_TO_LINKTYPE = {
    1: LINKTYPE_ETHERNET,         # ARPHRD_ETHER (also veth, bridges, bonds, tap)
    772: LINKTYPE_ETHERNET,       # ARPHRD_LOOPBACK: Linux lo carries zeroed Ethernet headers
    512: LINKTYPE_RAW,            # ARPHRD_PPP: the kernel hands over bare IP
    0xFFFE: LINKTYPE_RAW,         # ARPHRD_NONE: tun, wireguard
    778: LINKTYPE_RAW,            # ARPHRD_IPGRE
    776: LINKTYPE_RAW,            # ARPHRD_SIT
    768: LINKTYPE_RAW,            # ARPHRD_TUNNEL (ipip)
    769: LINKTYPE_RAW,            # ARPHRD_TUNNEL6
    823: LINKTYPE_RAW,            # ARPHRD_IP6GRE
    803: LINKTYPE_IEEE802_11_RADIOTAP,  # ARPHRD_IEEE80211_RADIOTAP
    824: LINKTYPE_NFLOG,          # ARPHRD_NETLINK (nflog via nlmon is not this; kept for completeness)
}

_ETH = struct.Struct("!6s6sH")
_TAG = struct.Struct("!HH")
_U16 = struct.Struct("!H")
_U16LE = struct.Struct("<H")
_U32 = struct.Struct("!I")
_U32LE = struct.Struct("<I")
_LLC = struct.Struct("!BBB")
_SNAP = struct.Struct("!3sH")
_PPPOE = struct.Struct("!BBHH")
_SLL = struct.Struct("!HHH8sH")
_SLL2 = struct.Struct("!HHIHBB8s")
_RADIOTAP = struct.Struct("<BBH")
_WLAN = struct.Struct("<BBH6s6s6sH")
_NFLOG_TLV = struct.Struct("<HH")

_ETHERTYPE_MIN = 0x0600          # below: an 802.3 length field
_SNAP_SAP = 0xAA
_NOVELL_RAW = 0xFFFF             # IPX straight over 802.3, no LLC
_ETH_P_IPX = 0x8137
_ETH_P_PPP = 0x880B              # PPP inside GRE (PPTP)

# BSD address families in NULL/LOOP headers; IPv6 has three values across the BSDs
_AF_TO_ETHERTYPE = {2: ETH_P_IP, 24: ETH_P_IPV6, 28: ETH_P_IPV6, 30: ETH_P_IPV6, 23: _ETH_P_IPX}

# PPP protocol numbers (RFC 1661 and the IANA list) carrying something we decode
_PPP_TO_ETHERTYPE = {0x0021: ETH_P_IP, 0x0057: ETH_P_IPV6, 0x0281: ETH_P_MPLS_UC,
                     0x0283: ETH_P_MPLS_MC, 0x002B: _ETH_P_IPX}

# SLL protocol values that are not ethertypes (linux/if_ether.h ETH_P_802_3, ETH_P_802_2)
_SLL_802_3 = 0x0001
_SLL_802_2 = 0x0004


def _ethernet(f, buf, off, end):
    if len(buf) - off < 14:
        return short(f, "Ethernet header", off, len(buf) - off, 14)
    dst, src, etype = _ETH.unpack_from(buf, off)
    if f[ETH_SRC] is None:
        f[ETH_SRC] = src
        f[ETH_DST] = dst
    off += 14
    if etype < _ETHERTYPE_MIN:
        # 802.3: a length, then LLC (or Novell's raw IPX); bytes past it are padding
        if off + etype < end:
            end = off + etype
        return _llc(f, buf, off, end)
    return NEXT_ETHERTYPE, etype, off, end


def _llc(f, buf, off, end):
    if len(buf) - off >= 2 and buf[off] == 0xFF and buf[off + 1] == 0xFF:
        return _ethertype_known(f, _ETH_P_IPX)
    if len(buf) - off < 3:
        return short(f, "LLC header", off, len(buf) - off, 3)
    dsap, ssap, ctrl = _LLC.unpack_from(buf, off)
    if dsap == _SNAP_SAP and ssap == _SNAP_SAP:
        if len(buf) - off < 8:
            return short(f, "SNAP header", off, len(buf) - off, 8)
        oui, etype = _SNAP.unpack_from(buf, off + 3)
        return NEXT_ETHERTYPE, etype, off + 8, end
    if f[LLC_DSAP] is None:
        f[LLC_DSAP] = dsap
    return STOP


def _ethertype_known(f, etype):
    if f[ETHERTYPE] is None:
        f[ETHERTYPE] = etype
    return STOP


def _vlan(f, buf, off, end):
    if len(buf) - off < 4:
        return short(f, "802.1Q tag", off, len(buf) - off, 4)
    tci, etype = _TAG.unpack_from(buf, off)
    if f[VLAN] is None:
        f[VLAN] = tci & 0x0FFF
    return NEXT_ETHERTYPE, etype, off + 4, end


def _mpls(f, buf, off, end):
    """Label stack entries down to the bottom of stack, then IP guessed by its version."""
    have = len(buf)
    while True:
        if have - off < 4:
            return short(f, "MPLS label", off, have - off, 4)
        entry = _U32.unpack_from(buf, off)[0]
        off += 4
        if entry & 0x100:
            break
    if off >= have:
        return short(f, "MPLS payload", off, 0, 1)
    version = buf[off] >> 4
    if version == 4:
        return NEXT_ETHERTYPE, ETH_P_IP, off, end
    if version == 6:
        return NEXT_ETHERTYPE, ETH_P_IPV6, off, end
    return STOP


def _pppoe_session(f, buf, off, end):
    if len(buf) - off < 8:
        return short(f, "PPPoE header", off, len(buf) - off, 8)
    vertype, code, session, length = _PPPOE.unpack_from(buf, off)
    if off + 6 + length < end:
        end = off + 6 + length
    return _ppp_protocol(f, buf, off + 6, end)


def _ppp_protocol(f, buf, off, end):
    """The PPP protocol field, one byte when compressed (RFC 1661 PFC: the low bit set)."""
    have = len(buf)
    if have - off < 1:
        return short(f, "PPP protocol", off, 0, 2)
    if buf[off] & 1:
        proto = buf[off]
        off += 1
    else:
        if have - off < 2:
            return short(f, "PPP protocol", off, have - off, 2)
        proto = _U16.unpack_from(buf, off)[0]
        off += 2
    etype = _PPP_TO_ETHERTYPE.get(proto)
    if etype is None:
        return STOP
    return NEXT_ETHERTYPE, etype, off, end


def _ppp(f, buf, off, end):
    """PPP as LINKTYPE_PPP, PPP_HDLC and inside GRE: address/control bytes when present."""
    have = len(buf) - off
    if have >= 1 and buf[off] == 0xFF:
        if have < 2:
            return short(f, "PPP header", off, have, 2)
        if buf[off + 1] == 0x03:
            off += 2
    return _ppp_protocol(f, buf, off, end)


def _sll(f, buf, off, end):
    if len(buf) - off < 16:
        return short(f, "Linux cooked header", off, len(buf) - off, 16)
    pkttype, hatype, halen, addr, proto = _SLL.unpack_from(buf, off)
    return _cooked(f, buf, off + 16, end, pkttype, hatype, halen, addr, proto)


def _sll2(f, buf, off, end):
    if len(buf) - off < 20:
        return short(f, "Linux cooked v2 header", off, len(buf) - off, 20)
    proto, _, ifindex, hatype, pkttype, halen, addr = _SLL2.unpack_from(buf, off)
    return _cooked(f, buf, off + 20, end, pkttype, hatype, halen, addr, proto)


def _cooked(f, buf, off, end, pkttype, hatype, halen, addr, proto):
    if f[PKTTYPE] is None:
        f[PKTTYPE] = pkttype
    if hatype == 1 and halen == 6 and f[ETH_SRC] is None:
        f[ETH_SRC] = addr[:6]       # the sender's MAC; a cooked header has no destination
    if proto == _SLL_802_2:
        return _llc(f, buf, off, end)
    if proto == _SLL_802_3:
        return _ethertype_known(f, _ETH_P_IPX)
    if hatype == 824:               # ARPHRD_NETLINK: the protocol is a netlink family
        return STOP
    return NEXT_ETHERTYPE, proto, off, end


def _raw(f, buf, off, end):
    """Bare IP: the version nibble says which."""
    if off >= len(buf):
        return short(f, "IP header", off, 0, 1)
    version = buf[off] >> 4
    if version == 4:
        return NEXT_ETHERTYPE, ETH_P_IP, off, end
    if version == 6:
        return NEXT_ETHERTYPE, ETH_P_IPV6, off, end
    return fail(f, "raw IP packet", off, "IP version %d" % version)


def _ipv4_only(f, buf, off, end):
    return NEXT_ETHERTYPE, ETH_P_IP, off, end


def _ipv6_only(f, buf, off, end):
    return NEXT_ETHERTYPE, ETH_P_IPV6, off, end


def _null(f, buf, off, end):
    """BSD loopback: a 4-byte address family in the byte order of the capturing host."""
    if len(buf) - off < 4:
        return short(f, "loopback header", off, len(buf) - off, 4)
    family = _U32LE.unpack_from(buf, off)[0]
    if family & 0xFFFF0000:
        family = _U32.unpack_from(buf, off)[0]
    return _family(f, family, off, end)


def _loop(f, buf, off, end):
    """OpenBSD loopback: the address family in network byte order."""
    if len(buf) - off < 4:
        return short(f, "loopback header", off, len(buf) - off, 4)
    return _family(f, _U32.unpack_from(buf, off)[0], off, end)


def _family(f, family, off, end):
    etype = _AF_TO_ETHERTYPE.get(family)
    if etype is None:
        return fail(f, "loopback header", off, "unknown address family %d" % family)
    return NEXT_ETHERTYPE, etype, off + 4, end


def _ipoib(f, buf, off, end):
    """IP over InfiniBand (LINKTYPE_IPOIB): 20-byte destination and source hardware
    addresses, then RFC 4391's 2-byte ethertype and 2 reserved bytes."""
    if len(buf) - off < 44:
        return short(f, "IPoIB header", off, len(buf) - off, 44)
    return NEXT_ETHERTYPE, _U16.unpack_from(buf, off + 40)[0], off + 44, end


def _nflog(f, buf, off, end):
    """Linux NFLOG: family, version, resource id, then TLVs; NFULA_PAYLOAD (9) is the packet."""
    have = len(buf)
    if have - off < 4:
        return short(f, "NFLOG header", off, have - off, 4)
    family = buf[off]
    pos = off + 4
    while pos + 4 <= have:
        length, tlv_type = _NFLOG_TLV.unpack_from(buf, pos)
        if length < 4:
            return fail(f, "NFLOG TLV", pos, "length %d" % length)
        if tlv_type & 0x7FFF == 9:
            payload_end = pos + length
            if family == 2:
                return NEXT_ETHERTYPE, ETH_P_IP, pos + 4, payload_end
            if family == 10:
                return NEXT_ETHERTYPE, ETH_P_IPV6, pos + 4, payload_end
            return _raw(f, buf, pos + 4, payload_end)
        pos += (length + 3) & ~3
    if pos < have:
        return short(f, "NFLOG TLV", pos, have - pos, 4)
    return short(f, "NFLOG packet", pos, 0, 1)


def _radiotap(f, buf, off, end):
    """Radiotap, then an 802.11 frame; data frames go on through LLC/SNAP."""
    have = len(buf)
    if have - off < 8:
        return short(f, "radiotap header", off, have - off, 8)
    version, _, length = _RADIOTAP.unpack_from(buf, off)
    if length < 8:
        return fail(f, "radiotap header", off, "length %d" % length)
    if have - off < length:
        return short(f, "radiotap header", off, have - off, length)
    if _radiotap_fcs(buf, off, length):
        end -= 4
    return _ieee80211(f, buf, off + length, end)


def _radiotap_fcs(buf, off, length):
    """True when the radiotap Flags field says the frame ends in an FCS.

    Flags is field 1; only TSFT (8 bytes, aligned to 8) can come before it.
    """
    present = _U32LE.unpack_from(buf, off + 4)[0]
    if not present & 0x2:
        return False
    pos = off + 8
    word = present
    while word & 0x80000000:            # extended presence bitmaps
        if pos + 4 > off + length:
            return False
        word = _U32LE.unpack_from(buf, pos)[0]
        pos += 4
    if present & 0x1:
        pos = off + ((pos - off + 7) & ~7) + 8
    return pos < off + length and bool(buf[pos] & 0x10)


def _ieee80211(f, buf, off, end):
    have = len(buf)
    if have - off < 24:
        return short(f, "802.11 header", off, have - off, 24)
    fc0, fc1, _, a1, a2, a3, _ = _WLAN.unpack_from(buf, off)
    if (fc0 >> 2) & 3 != 2:
        return STOP                     # management or control frame: not IP
    to_ds, from_ds = fc1 & 1, fc1 & 2
    size = 24
    if to_ds and from_ds:
        if have - off < 30:
            return short(f, "802.11 header", off, have - off, 30)
        src, dst = buf[off + 24:off + 30], a3
        size = 30
    elif to_ds:
        src, dst = a2, a3
    elif from_ds:
        src, dst = a3, a1
    else:
        src, dst = a2, a1
    if f[ETH_SRC] is None:
        f[ETH_SRC] = src
        f[ETH_DST] = dst
    if fc0 & 0x80:                      # QoS data: a 2-byte QoS control, maybe HT control
        size += 2
        if fc1 & 0x80:
            size += 4
    if fc1 & 0x40 or fc0 & 0x40:        # protected, or a null-data subtype: no LLC to read
        return STOP
    return _llc(f, buf, off + size, end)


def _teb(f, buf, off, end):
    """An Ethernet frame inside a tunnel (GRE 0x6558, Geneve, VXLAN)."""
    return NEXT_LINK, LINKTYPE_ETHERNET, off, end


LINK_DECODERS = {
    LINKTYPE_NULL: _null,
    LINKTYPE_ETHERNET: _ethernet,
    LINKTYPE_PPP: _ppp,
    LINKTYPE_RAW_BSDOS: _raw,
    LINKTYPE_RAW_OPENBSD: _raw,
    LINKTYPE_PPP_HDLC: _ppp,
    LINKTYPE_RAW: _raw,
    LINKTYPE_LOOP: _loop,
    LINKTYPE_LINUX_SLL: _sll,
    LINKTYPE_IEEE802_11_RADIOTAP: _radiotap,
    LINKTYPE_NFLOG: _nflog,
    LINKTYPE_IPOIB: _ipoib,
    LINKTYPE_IPV4: _ipv4_only,
    LINKTYPE_IPV6: _ipv6_only,
    LINKTYPE_LINUX_SLL2: _sll2,
}

# ethertypes that are link-layer framing, not a network layer
ETHERTYPE_DECODERS = {
    ETH_P_8021Q: _vlan,
    ETH_P_8021AD: _vlan,
    ETH_P_QINQ1: _vlan,
    ETH_P_MPLS_UC: _mpls,
    ETH_P_MPLS_MC: _mpls,
    ETH_P_PPP_SES: _pppoe_session,
    ETH_P_TEB: _teb,
    _ETH_P_PPP: _ppp,
}
