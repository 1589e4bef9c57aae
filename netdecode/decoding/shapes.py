"""The common shapes, read in place: what a facility's fast lane may take from a frame
without decoding it.

``ethernet(data, wirelen)`` looks at an Ethernet frame's link header, its IP header and
where its transport header sits, and returns ``(family, proto)`` for the frames whose
record it can vouch for, else None:

* ``(4, proto)``: a plain IPv4 header at offset 14 (IHL 5, not a fragment, a total
  length that fits the frame), then a whole TCP header (as ``decode``'s fast path takes
  it), a UDP header not to a tunnel port, or ICMP; the transport header is at 34;
* ``(6, proto)``: an IPv6 header at 14 with no extension header, a payload length that
  fits, then a whole TCP header, a UDP header not to a tunnel port, or ICMPv6 (at 54);
* ``(0, ethertype)``: a frame that is not IP, whose ethertype is its own (no VLAN tag,
  MPLS, PPPoE or bridging header before what it carries).

For these frames the decoder's record has no error that a facility counts (bad IP) and
the fields a lane reads are where the shape says; every other frame (tags, tunnels,
extension headers, fragments, anything cut short or malformed) goes to the decoder, so
that lanes and decoder agree on every frame (tests/test_lanes.py).  The checks mirror
``decode``'s fast path; the bench is tests/bench/facilities.py.
"""
import struct

from .link import ETHERTYPE_DECODERS
from .transport import UDP_TUNNEL_PORTS

__all__ = ["ethernet", "FRAMING_ETHERTYPES", "ETH_IPV4_TCP_HEAD", "ETH_IPV4_PORTS",
           "ETH_IPV6_PORTS"]

# ethertype, version and IHL, total length, flags and fragment offset, protocol
_ETH_IPV4 = struct.Struct("!12xHBxH2xHxB")
FRAMING_ETHERTYPES = frozenset(ETHERTYPE_DECODERS)   # what a link header walks through
_ETHERTYPE_MIN = 0x600                      # below: an 802.3 length, LLC follows

# What the lanes unpack once a shape is known, named after what they read
ETH_IPV4_TCP_HEAD = struct.Struct("!12xHBxH2xHxB22xHH")   # _ETH_IPV4's, then TCP's
# data offset and flags, and window: what the traffic monitor's lane reads of its
# commonest packet in one go
ETH_IPV4_PORTS = struct.Struct("!34xHH")     # a TCP or UDP header's ports
ETH_IPV6_PORTS = struct.Struct("!54xHH")


def ethernet(data, wirelen, _ipv4=_ETH_IPV4.unpack_from, _framing=FRAMING_ETHERTYPES,
             _tunnels=UDP_TUNNEL_PORTS):
    """``(family, proto)`` of an Ethernet frame a lane may read in place, or None."""
    if len(data) < 54:
        if len(data) < 14:
            return None
        etype = data[12] << 8 | data[13]
        if etype >= _ETHERTYPE_MIN and etype not in _framing and etype != 0x0800 \
                and etype != 0x86DD:
            return 0, etype
        return None
    etype, vhl, total, frag, proto = _ipv4(data, 0)
    if etype == 0x0800:
        if vhl != 0x45 or frag & 0x3FFF or not 20 <= total <= wirelen - 14:
            return None
        if proto == 6:
            hlen = data[46] >> 4 << 2
            if 20 <= hlen <= total - 20 and 34 + hlen <= len(data):
                return 4, 6
        elif proto == 17:
            if total >= 28 and (data[36] << 8 | data[37]) not in _tunnels:
                return 4, 17
        elif proto == 1:
            return 4, 1
        return None
    if etype == 0x86DD:
        if data[14] >> 4 != 6:
            return None
        plen = data[18] << 8 | data[19]
        if not 0 < plen <= wirelen - 54:
            return None
        nxt = data[20]
        if nxt == 6:
            hlen = data[66] >> 4 << 2 if len(data) > 66 else 0
            if plen >= 20 and 20 <= hlen <= plen and 54 + hlen <= len(data):
                return 6, 6
        elif nxt == 17:
            if plen >= 8 and len(data) >= 62 and (data[56] << 8 | data[57]) not in _tunnels:
                return 6, 17
        elif nxt == 58:
            return 6, 58
        return None
    if etype >= _ETHERTYPE_MIN and etype not in _framing:
        return 0, etype
    return None
