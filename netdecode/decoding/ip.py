"""Network layer: IPv4, IPv6 and its extension headers, ARP/RARP, and IP tunnels.

IPv4 (RFC 791): IHL and total length validated, Ethernet padding trimmed, a total
length of 0 taken as a TSO/BIG TCP super-frame (its length is what the frame holds, as
Wireshark does), fragments (only the first carries the next header), options skipped
by IHL.  The header checksum is verified on demand by ``ipv4_checksum_ok``: it costs a
quarter of the whole per-packet budget and only the detailed statistics ask for it.

IPv6 (RFC 8200): hop-by-hop (with the RFC 2675 jumbo payload option), routing (any type,
SRH included), fragment, destination options, AH (RFC 4302, also inside IPv4) and
mobility (RFC 6275, a final header) are walked as IP protocols so that any order works.

Tunnels: IP-in-IP (4), IPv6-in-IP (41) in either family, and GRE (RFC 2784/2890, and
the enhanced GRE of PPTP, RFC 2637) with checksum, key, sequence and acknowledgment,
carrying any ethertype (IPv4, IPv6, transparent Ethernet, PPP, MPLS, ERSPAN types I,
II and III).
"""
import struct

from .layer import NEXT_ETHERTYPE, NEXT_IPPROTO, NEXT_LINK, STOP, fail, short
from .packet import (
    ARP_OP, ARP_SHA, ARP_SPA, ARP_TPA, DATA, ETH_P_IP, ETH_P_IPV6, FRAGMENT, INNER_DPORT, INNER_DST,
    INNER_PROTO, INNER_SPORT, INNER_SRC, IP6_DST, IP6_NXT, IP6_PLEN, IP6_SRC, IP_DST, IP_HDR,
    IP_LEN, IP_OFF, IP_PROTO, IP_SRC, IP_TTL, PROTO, TUNNEL,
)

__all__ = ["NETWORK_DECODERS", "IPPROTO_DECODERS", "ipv4_checksum_ok"]

_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_ARP = struct.Struct("!HHBBH")
_U16 = struct.Struct("!H")
_FRAG6 = struct.Struct("!BBHI")
_U32 = struct.Struct("!I")
_GRE = struct.Struct("!HH")

_ETH_P_ERSPAN2 = 0x88BE
_ETH_P_ERSPAN3 = 0x22EB
_ETH_P_CISCO_MD = 0x8909     # Cisco MetaData (SGT tags): 8 bytes
_LINKTYPE_ETHERNET = 1
_JUMBO_OPTION = 0xC2
_ARPHRD_ATM = 19


def _ipv4(f, buf, off, end):
    have = len(buf) - off
    if have < 1:
        return short(f, "IPv4 header", off, have, _IPV4.size)
    version = buf[off] >> 4
    if version != 4:
        if version == 6:      # an IPv6 packet under the IPv4 ethertype: follow what it is
            return NEXT_ETHERTYPE, ETH_P_IPV6, off, end
        return fail(f, "IPv4 header", off, "version %d" % version)
    hlen = (buf[off] & 15) * 4
    if hlen < _IPV4.size:
        return fail(f, "IPv4 header", off, "header length %d, at least 20 needed" % hlen)
    if have < 4:
        return short(f, "IPv4 header", off, have, hlen)
    total = _U16.unpack_from(buf, off + 2)[0]
    if total == 0:
        total = end - off     # TSO / BIG TCP: the length is what the frame carries
    first = f[IP_HDR] is None
    if first:
        f[IP_HDR] = off
        f[IP_LEN] = total
    if total < hlen:
        return fail(f, "IPv4 header", off, "total length %d less than header length %d"
                    % (total, hlen))
    if have < hlen:
        if first:
            _ipv4_partial(f, buf, off, have)
        return short(f, "IPv4 header" if have < _IPV4.size else "IPv4 options", off, have, hlen)
    _, _, _, _, frag, ttl, proto, _, src, dst = _IPV4.unpack_from(buf, off)
    if first:
        f[IP_SRC] = src
        f[IP_DST] = dst
        f[IP_PROTO] = proto
        f[IP_TTL] = ttl
        f[IP_OFF] = frag
    if f[TUNNEL] is not None:
        _inner_ip(f, src, dst)
    if frag & 0x3FFF:
        f[FRAGMENT] = True
        if frag & 0x1FFF:
            _later_fragment(f, proto)
            return STOP
    # the payload ends where the header says, or sooner where the layer below ends
    return NEXT_IPPROTO, proto, off + hlen, min(off + total, end)


def _inner_ip(f, src, dst):
    """An IP header inside a tunnel: the innermost so far, what it carries not yet read."""
    f[INNER_SRC] = src
    f[INNER_DST] = dst
    f[INNER_PROTO] = f[INNER_SPORT] = f[INNER_DPORT] = None


def _later_fragment(f, proto):
    """A fragment past the first: its protocol is known, no next header to read."""
    if f[PROTO] is None:
        f[PROTO] = proto
    if f[TUNNEL] is not None:
        f[INNER_PROTO] = proto


def _ipv4_partial(f, buf, off, have):
    """What Wireshark shows of an IPv4 header cut short: each field whose bytes are
    there; the destination only when some option bytes are there too (Wireshark looks
    for a source route among the options before it shows the destination)."""
    if have >= 8:
        f[IP_OFF] = _U16.unpack_from(buf, off + 6)[0]
    if have >= 9:
        f[IP_TTL] = buf[off + 8]
    if have >= 10:
        f[IP_PROTO] = buf[off + 9]
    if have >= 16:
        f[IP_SRC] = buf[off + 12:off + 16]
    if have > 20:
        f[IP_DST] = buf[off + 16:off + 20]


def ipv4_checksum_ok(record):
    """True when the outermost IPv4 header's checksum is right; None when there is none.

    The one's-complement sum of a correct header is 0xFFFF, and such a sum is congruent
    to the header read as one big integer modulo 0xFFFF: one C-level operation.
    """
    off = record[IP_HDR]
    if off is None:
        return None
    data = record[DATA]
    hlen = (data[off] & 15) * 4
    if hlen < 20 or off + hlen > len(data):
        return None
    return int.from_bytes(data[off:off + hlen], "big") % 0xFFFF == 0


def _ipv6(f, buf, off, end):
    have = len(buf) - off
    if have < 1:
        return short(f, "IPv6 header", off, have, _IPV6.size)
    version = buf[off] >> 4
    if version != 6:
        return fail(f, "IPv6 header", off, "version %d" % version)
    if have < _IPV6.size:
        if f[IP6_PLEN] is None:
            _ipv6_partial(f, buf, off, have)
        return short(f, "IPv6 header", off, have, _IPV6.size)
    _, plen, nxt, _, src, dst = _IPV6.unpack_from(buf, off)
    if f[IP6_SRC] is None:
        f[IP6_SRC] = src
        f[IP6_DST] = dst
        f[IP6_NXT] = nxt
        f[IP6_PLEN] = plen
    if f[TUNNEL] is not None:
        _inner_ip(f, src, dst)
    off += _IPV6.size
    if plen or nxt != 0:
        end = min(off + plen, end)
    # else a possible jumbogram: the hop-by-hop header that follows sets the length
    return NEXT_IPPROTO, nxt, off, end


def _ipv6_partial(f, buf, off, have):
    """The fields of an IPv6 header cut short whose bytes are there, as Wireshark shows."""
    if have >= 7:             # Wireshark shows the length only with the next header
        f[IP6_PLEN] = _U16.unpack_from(buf, off + 4)[0]
        f[IP6_NXT] = buf[off + 6]
    if have >= 24:
        f[IP6_SRC] = buf[off + 8:off + 24]


def _ext_len(f, buf, off, end, what, unit, extra):
    """Length of an extension header from its length byte, or None (recorded) when it
    is cut short or runs past the payload length."""
    have = len(buf) - off
    if have < 2:
        short(f, what, off, have, 2)
        return None
    size = (buf[off + 1] + extra) * unit
    if off + size > end:
        fail(f, what, off, "%d bytes long, the payload length leaves %d" % (size, end - off))
        return None
    if have < size:
        short(f, what, off, have, size)
        return None
    return size


def _options(f, buf, off, size, what):
    """Walk the TLV options of a hop-by-hop or destination options header; the jumbo
    payload length when the option is there, else -1.

    An option that runs past the header is recorded as the error, and the walk goes on
    to the next header all the same: the header's length byte frames it (RFC 8200 4.3,
    4.6), whatever an option inside says, and Wireshark reads on the same way.
    """
    pos, stop, jumbo = off + 2, off + size, -1
    while pos < stop:
        opt = buf[pos]
        if opt == 0:          # Pad1
            pos += 1
            continue
        if pos + 2 > stop or pos + 2 + buf[pos + 1] > stop:
            fail(f, what, off, "option 0x%02x at offset %d runs past the header" % (opt, pos))
            return -1
        if opt == _JUMBO_OPTION and buf[pos + 1] == 4:
            jumbo = _U32.unpack_from(buf, pos + 2)[0]
        pos += 2 + buf[pos + 1]
    return jumbo


def _hopopts(f, buf, off, end):
    what = "IPv6 hop-by-hop header"
    size = _ext_len(f, buf, off, end, what, 8, 1)
    if size is None:
        return STOP
    jumbo = _options(f, buf, off, size, what)
    if jumbo >= 0 and f[IP6_PLEN] == 0:
        end = off + jumbo     # the jumbo length counts from the end of the fixed header
    return NEXT_IPPROTO, buf[off], off + size, end


def _dstopts(f, buf, off, end):
    what = "IPv6 destination options header"
    size = _ext_len(f, buf, off, end, what, 8, 1)
    if size is None:
        return STOP
    _options(f, buf, off, size, what)
    return NEXT_IPPROTO, buf[off], off + size, end


def _routing(f, buf, off, end):
    size = _ext_len(f, buf, off, end, "IPv6 routing header", 8, 1)
    if size is None:
        return STOP
    return NEXT_IPPROTO, buf[off], off + size, end


def _frag6(f, buf, off, end):
    have = len(buf) - off
    if have < _FRAG6.size:
        return short(f, "IPv6 fragment header", off, have, _FRAG6.size)
    nxt, _, offlg, ident = _FRAG6.unpack_from(buf, off)
    if offlg & 0xFFF9:        # an offset or more fragments: part of a larger datagram
        f[FRAGMENT] = True
    if offlg >> 3:
        _later_fragment(f, nxt)
        return STOP
    return NEXT_IPPROTO, nxt, off + _FRAG6.size, end


def _ah(f, buf, off, end):
    size = _ext_len(f, buf, off, end, "AH header", 4, 2)
    if size is None:
        return STOP
    return NEXT_IPPROTO, buf[off], off + size, end


def _ipip(f, buf, off, end):
    if f[TUNNEL] is None:
        f[TUNNEL] = 4
    return NEXT_ETHERTYPE, ETH_P_IP, off, end


def _ipv6_in_ip(f, buf, off, end):
    if f[TUNNEL] is None:
        f[TUNNEL] = 41
    return NEXT_ETHERTYPE, ETH_P_IPV6, off, end


def _gre(f, buf, off, end):
    have = len(buf) - off
    if have < _GRE.size:
        return short(f, "GRE header", off, have, _GRE.size)
    flags, ptype = _GRE.unpack_from(buf, off)
    size = 4
    if flags & 0xC000:        # checksum present, or routing present (RFC 1701): 4 bytes
        size += 4
    if flags & 0x2000:        # key (for PPTP: payload length and call id)
        size += 4
    if flags & 0x1000:        # sequence number
        size += 4
    if flags & 7 == 1 and flags & 0x0080:   # enhanced GRE acknowledgment number
        size += 4
    if flags & 0x4000:        # RFC 1701 source route entries, to the null one
        while True:
            if have < size + 4:
                return short(f, "GRE source route", off + size, have - size, 4)
            sre_len = buf[off + size + 3]
            size += 4 + sre_len
            if sre_len == 0:
                break
    if have < size:
        return short(f, "GRE header", off, have, size)
    off += size
    if off >= end:
        return STOP           # nothing carried: a PPTP acknowledgment, a keepalive
    if f[TUNNEL] is None:
        f[TUNNEL] = 47
    if ptype == _ETH_P_ERSPAN2:
        # type II has a sequence number in GRE and an 8-byte header; type I neither
        return _erspan(f, buf, off, end, 8 if flags & 0x1000 else 0)
    if ptype == _ETH_P_ERSPAN3:
        if len(buf) - off < 12:
            return short(f, "ERSPAN header", off, len(buf) - off, 12)
        return _erspan(f, buf, off, end, 20 if buf[off + 11] & 1 else 12)
    if ptype == _ETH_P_CISCO_MD:
        # in GRE the inner ethertype comes first, then version, length, option, SGT
        if len(buf) - off < 8:
            return short(f, "Cisco metadata header", off, len(buf) - off, 8)
        return NEXT_ETHERTYPE, _U16.unpack_from(buf, off)[0], off + 8, end
    return NEXT_ETHERTYPE, ptype, off, end


def _erspan(f, buf, off, end, size):
    if len(buf) - off < size:
        return short(f, "ERSPAN header", off, len(buf) - off, size)
    return NEXT_LINK, _LINKTYPE_ETHERNET, off + size, end


def _arp(f, buf, off, end):
    have = len(buf) - off
    if have < _ARP.size:
        return short(f, "ARP header", off, have, _ARP.size)
    htype, ptype, hlen, plen, op = _ARP.unpack_from(buf, off)
    if htype == _ARPHRD_ATM:
        return STOP           # ATMARP (RFC 2225): another layout under the same ethertype
    if f[ARP_OP] is None:
        f[ARP_OP] = op
        size = _ARP.size + 2 * (hlen + plen)
        if have < size:
            return short(f, "ARP addresses", off, have, size)
        if ptype == ETH_P_IP and plen == 4:
            spa = off + 8 + hlen
            tpa = spa + 4 + hlen
            f[ARP_SPA] = buf[spa:spa + 4]
            f[ARP_TPA] = buf[tpa:tpa + 4]
            f[ARP_SHA] = buf[off + 8:spa]
    return STOP


# ethertypes of network layers (the link framing ones live in link.ETHERTYPE_DECODERS)
NETWORK_DECODERS = {
    ETH_P_IP: _ipv4,
    ETH_P_IPV6: _ipv6,
    0x0806: _arp,
    0x8035: _arp,             # RARP has ARP's layout
}

# IPv6 extension headers and tunnels: protocols that lead to another IP-level header
IPPROTO_DECODERS = {
    0: _hopopts,
    4: _ipip,
    41: _ipv6_in_ip,
    43: _routing,
    44: _frag6,
    47: _gre,
    51: _ah,
    60: _dstopts,
}
