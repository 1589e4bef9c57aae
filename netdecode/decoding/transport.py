"""Transport layer: TCP, UDP, UDP-Lite, SCTP, DCCP, ICMP and ICMPv6, and UDP tunnels.

TCP (RFC 9293): ports, sequence and acknowledgment numbers, the 12 flag bits (AE, the
former NS, is 0x100; the three reserved bits above it are kept), window, data offset
validated, payload length from the IP lengths.  UDP (RFC 768): ports and the length
field as written.  SCTP, UDP-Lite and DCCP: ports.  ICMP and ICMPv6: type and code; the
packet an error message quotes is not decoded (its ports are not this packet's).

The first transport header fills the transport fields; a later one (inside a tunnel)
leaves them alone.  UDP tunnels decoded through, on their IANA destination ports:
VXLAN (RFC 7348, 4789) and Geneve (RFC 8926, 6081).
"""
import struct

from .layer import NEXT_ETHERTYPE, NEXT_LINK, STOP, fail, short
from .packet import (
    DPORT, FRAGMENT, ICMP6_CODE, ICMP6_TYPE, ICMP_CODE, ICMP_TYPE, PROTO, SPORT, TCP_ACK, TCP_FLAGS,
    TCP_LEN, TCP_SEQ, TCP_WIN, TUNNEL, UDP_LEN,
)

__all__ = ["TRANSPORT_DECODERS", "UDP_TUNNEL_PORTS"]

_PORTS = struct.Struct("!HH")
_TCP = struct.Struct("!HHIIHH")
_UDP = struct.Struct("!HHH")
_ICMP = struct.Struct("!BB")
_GENEVE = struct.Struct("!BBH")

_VXLAN_PORT = 4789
_GENEVE_PORT = 6081
UDP_TUNNEL_PORTS = frozenset((_VXLAN_PORT, _GENEVE_PORT))
_LINKTYPE_ETHERNET = 1


def _tcp(f, buf, off, end):
    if f[PROTO] is not None:
        return STOP
    f[PROTO] = 6
    have = len(buf) - off
    if have < 4:
        return short(f, "TCP header", off, have, 20)
    if have < _TCP.size:
        # what was captured of a cut header still counts, as Wireshark shows it
        f[SPORT], f[DPORT] = _PORTS.unpack_from(buf, off)
        return short(f, "TCP header", off, have, 20)
    sport, dport, seq, ack, offflags, win = _TCP.unpack_from(buf, off)
    f[SPORT] = sport
    f[DPORT] = dport
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


def _ports(proto, name):
    def decoder(f, buf, off, end):
        if f[PROTO] is not None:
            return STOP
        f[PROTO] = proto
        have = len(buf) - off
        if have < 4:
            return short(f, name, off, have, 4)
        f[SPORT], f[DPORT] = _PORTS.unpack_from(buf, off)
        return STOP
    return decoder


def _udp(f, buf, off, end):
    have = len(buf) - off
    first = f[PROTO] is None
    if first:
        f[PROTO] = 17
    if have < 8:
        if first and have >= 4:
            f[SPORT], f[DPORT] = _PORTS.unpack_from(buf, off)
        return short(f, "UDP header", off, have, 8)
    sport, dport, length = _UDP.unpack_from(buf, off)
    if first:
        f[SPORT] = sport
        f[DPORT] = dport
        f[UDP_LEN] = length
    off += 8
    if dport in UDP_TUNNEL_PORTS and f[TUNNEL] is None:
        f[TUNNEL] = dport
    if dport == _VXLAN_PORT:
        if len(buf) - off < 8:
            return short(f, "VXLAN header", off, len(buf) - off, 8)
        return NEXT_LINK, _LINKTYPE_ETHERNET, off + 8, end
    if dport == _GENEVE_PORT:
        if len(buf) - off < 8:
            return short(f, "Geneve header", off, len(buf) - off, 8)
        optlen, _, ptype = _GENEVE.unpack_from(buf, off)
        return NEXT_ETHERTYPE, ptype, off + 8 + (optlen & 0x3F) * 4, end
    return STOP


def _icmp(f, buf, off, end):
    if f[PROTO] is None:
        f[PROTO] = 1
    if f[ICMP_TYPE] is None and _icmp_header(f, buf, off, end, "ICMP header"):
        f[ICMP_TYPE], f[ICMP_CODE] = _ICMP.unpack_from(buf, off)
    return STOP


def _icmp6(f, buf, off, end):
    if f[PROTO] is None:
        f[PROTO] = 58
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
    33: _ports(33, "DCCP header"),
    58: _icmp6,
    132: _ports(132, "SCTP header"),
    136: _ports(136, "UDP-Lite header"),
}
