"""Transport layer: TCP, UDP, UDP-Lite, SCTP, DCCP, ICMP and ICMPv6, and UDP tunnels.

TCP (RFC 9293): ports, sequence and acknowledgment numbers, the 12 flag bits (AE, the
former NS, is 0x100; the three reserved bits above it are kept), window, data offset
validated, payload length from the IP lengths.  UDP (RFC 768): ports and the length
field as written.  SCTP, UDP-Lite and DCCP: ports.  ICMP and ICMPv6: type and code; the
packet an error message quotes is not decoded (its ports are not this packet's).

The first transport header fills ``proto``, the ports and ``udp_len``; the first TCP
header fills the ``tcp_*`` fields, also inside a UDP tunnel; any transport header past a
tunnel fills the ``inner_*`` ones (the innermost wins).  UDP tunnels decoded through, on
their destination ports: VXLAN (RFC 7348, IANA's 4789 and Linux's older default 8472),
Geneve (RFC 8926, 6081) and GTP-U (3GPP TS 29.281, 2152: a G-PDU's optional fields and
extension headers, then the IPv4 or IPv6 packet it carries).
"""
import struct

from .layer import NEXT_ETHERTYPE, NEXT_LINK, STOP, fail, short
from .packet import (
    DPORT, ETH_P_IP, ETH_P_IPV6, FRAGMENT, ICMP6_CODE, ICMP6_TYPE, ICMP_CODE, ICMP_TYPE,
    INNER_DPORT, INNER_PROTO, INNER_SPORT, PROTO, SPORT, TCP_ACK, TCP_FLAGS, TCP_LEN, TCP_SEQ,
    TCP_WIN, TUNNEL, UDP_LEN,
)

__all__ = ["TRANSPORT_DECODERS", "UDP_TUNNEL_PORTS"]

_PORTS = struct.Struct("!HH")
_TCP = struct.Struct("!HHIIHH")
_UDP = struct.Struct("!HHH")
_ICMP = struct.Struct("!BB")
_GENEVE = struct.Struct("!BBH")

_VXLAN_PORTS = (4789, 8472)
_GENEVE_PORT = 6081
_GTPU_PORT = 2152
UDP_TUNNEL_PORTS = frozenset(_VXLAN_PORTS + (_GENEVE_PORT, _GTPU_PORT))
_LINKTYPE_ETHERNET = 1
_GTP_G_PDU = 255             # the message type that carries a user packet (a T-PDU)


def _ports(f, proto, buf, off):
    """Note a transport header of ``proto`` and its ports where captured: the record's
    when it is the first, the inner ones past a tunnel.  True when it is the first."""
    first = f[PROTO] is None
    if first:
        f[PROTO] = proto
    inner = f[TUNNEL] is not None
    if inner:
        f[INNER_PROTO] = proto
    if len(buf) - off >= 4:
        sport, dport = _PORTS.unpack_from(buf, off)
        if first:
            f[SPORT] = sport
            f[DPORT] = dport
        if inner:
            f[INNER_SPORT] = sport
            f[INNER_DPORT] = dport
    return first


def _tcp(f, buf, off, end):
    # a TCP header carries no tunnel we decode, so the first one is the last transport
    # header of the frame: the record's ports when first, else inside a UDP tunnel
    _ports(f, 6, buf, off)
    have = len(buf) - off
    if have < _TCP.size:
        # what was captured of a cut header still counts, as Wireshark shows it
        return short(f, "TCP header", off, have, 20)
    _, _, seq, ack, offflags, win = _TCP.unpack_from(buf, off)
    f[TCP_SEQ] = seq
    f[TCP_ACK] = ack
    f[TCP_FLAGS] = offflags & 0x0FFF
    f[TCP_WIN] = win
    hlen = (offflags >> 12) * 4
    if hlen < 20:
        return fail(f, "TCP header", off, "data offset %d bytes, at least 20 needed" % hlen)
    if off + hlen > end:
        return fail(f, "TCP header", off, "data offset %d bytes, the segment has %d"
                    % (hlen, end - off))
    if not f[FRAGMENT]:       # a fragment's segment goes on in other packets
        f[TCP_LEN] = end - off - hlen
    if have < hlen:
        return short(f, "TCP header" if have < 20 else "TCP options", off, have, hlen)
    return STOP


def _ports_only(proto, name):
    def decoder(f, buf, off, end):
        _ports(f, proto, buf, off)
        have = len(buf) - off
        if have < 4:
            return short(f, name, off, have, 4)
        return STOP
    return decoder


def _udp(f, buf, off, end):
    first = _ports(f, 17, buf, off)
    have = len(buf) - off
    if have < 8:
        return short(f, "UDP header", off, have, 8)
    _, dport, length = _UDP.unpack_from(buf, off)
    if first:
        f[UDP_LEN] = length
    if dport not in UDP_TUNNEL_PORTS:
        return STOP
    off += 8
    if dport == _GTPU_PORT:
        return _gtpu(f, buf, off, end)
    if f[TUNNEL] is None:
        f[TUNNEL] = dport
    if dport == _GENEVE_PORT:
        if len(buf) - off < 8:
            return short(f, "Geneve header", off, len(buf) - off, 8)
        optlen, _, ptype = _GENEVE.unpack_from(buf, off)
        return NEXT_ETHERTYPE, ptype, off + 8 + (optlen & 0x3F) * 4, end
    if len(buf) - off < 8:
        return short(f, "VXLAN header", off, len(buf) - off, 8)
    return NEXT_LINK, _LINKTYPE_ETHERNET, off + 8, end


def _gtpu(f, buf, off, end):
    """A GTPv1-U header: 8 bytes, 4 more when any of the E, S, PN flags is set, then the
    chain of extension headers (each a length in 4-byte units, its last byte the next
    type); a G-PDU then carries an IP packet, told by its version: only then is the
    datagram a tunnel's (echo and error messages are GTP's own)."""
    have = len(buf) - off
    if have < 8:
        return short(f, "GTP-U header", off, have, 8)
    flags = buf[off]
    if flags >> 5 != 1:
        return STOP           # not GTPv1
    size = 8
    if flags & 0x07:
        size = 12
        if have < size:
            return short(f, "GTP-U header", off, have, size)
        nxt = buf[off + 11] if flags & 0x04 else 0
        while nxt:
            if have < size + 1:
                return short(f, "GTP-U extension header", off + size, have - size, 4)
            ext = buf[off + size] * 4
            if ext == 0:
                return fail(f, "GTP-U extension header", off + size, "length 0")
            size += ext
            if have < size:
                return short(f, "GTP-U extension header", off + size - ext,
                             have - size + ext, ext)
            nxt = buf[off + size - 1]
    if buf[off + 1] != _GTP_G_PDU:
        return STOP           # signalling (echo, end marker...): no packet carried
    off += size
    if off >= len(buf):
        return STOP if off >= end else short(f, "GTP-U T-PDU", off, 0, 1)
    version = buf[off] >> 4
    if version != 4 and version != 6:
        return STOP
    if f[TUNNEL] is None:
        f[TUNNEL] = _GTPU_PORT
    return NEXT_ETHERTYPE, ETH_P_IP if version == 4 else ETH_P_IPV6, off, end


def _icmp(f, buf, off, end):
    if f[PROTO] is None:
        f[PROTO] = 1
    if f[TUNNEL] is not None:
        f[INNER_PROTO] = 1
    if f[ICMP_TYPE] is None and _icmp_header(f, buf, off, end, "ICMP header"):
        f[ICMP_TYPE], f[ICMP_CODE] = _ICMP.unpack_from(buf, off)
    return STOP


def _icmp6(f, buf, off, end):
    if f[PROTO] is None:
        f[PROTO] = 58
    if f[TUNNEL] is not None:
        f[INNER_PROTO] = 58
    if f[ICMP6_TYPE] is None and _icmp_header(f, buf, off, end, "ICMPv6 header"):
        f[ICMP6_TYPE], f[ICMP6_CODE] = _ICMP.unpack_from(buf, off)
    return STOP


def _icmp_header(f, buf, off, end, what):
    """Type and code are readable: captured, and within what the IP length claims."""
    if end - off < 4:
        fail(f, what, off, "the IP length leaves %d bytes, 4 needed" % (end - off))
        return False
    if len(buf) - off < 4:
        short(f, what, off, len(buf) - off, 4)
        return False
    return True


TRANSPORT_DECODERS = {
    1: _icmp,
    6: _tcp,
    17: _udp,
    33: _ports_only(33, "DCCP header"),
    58: _icmp6,
    132: _ports_only(132, "SCTP header"),
    136: _ports_only(136, "UDP-Lite header"),
}
