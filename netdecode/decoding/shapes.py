"""The common shapes, read in place: what a facility's fast lane may take from a frame
without decoding it.

``frame(linktype, data, wirelen)`` looks at a frame's link header, its IP header and
where its transport header sits, and returns ``(family, proto, off)`` for the frames
whose record it can vouch for, else None.  ``off`` is where the IP header starts (the
link header's length): 14 under Ethernet, 18 under one 802.1Q tag, 16 and 20 under the
Linux cooked headers, 0 for raw IP.

* ``(4, proto, off)``: a plain IPv4 header (IHL 5, not a fragment, a total length that
  fits the frame), then a whole TCP header, a UDP header not to a tunnel port, or ICMP;
  the transport header is at ``off + 20``;
* ``(6, proto, off)``: an IPv6 header with no extension header and a payload length
  that fits, then a whole TCP header, a UDP header not to a tunnel port, or ICMPv6 (at
  ``off + 40``);
* ``(0, ethertype, off)``: a frame that is not IP, whose ethertype is its own (no MPLS,
  PPPoE or bridging header, no second tag before what it carries).

Link types: Ethernet (1), with or without one 802.1Q tag, Linux cooked SLL and SLL2
(113, 276), and raw IP (101, 12, 14, 228, 229).  For these frames the decoder's record
has no error that a facility counts (bad IP), its ethertype is the family's, its
protocol is ``proto``, its ports are set for TCP and UDP, and the fields a lane reads are
where the shape says (a cooked header's direction: ``cooked_pkttype``); every other frame
(stacked tags, tunnels, extension headers, fragments, loopback links, anything cut short
or malformed) goes to the decoder, so that lanes and decoder agree on every frame
(tests/test_lanes.py).  The bench is tests/bench/facilities.py.
"""
import struct

from .link import ETHERTYPE_DECODERS
from .transport import UDP_TUNNEL_PORTS

__all__ = ["frame", "cooked_pkttype", "FRAMING_ETHERTYPES", "ETH_IPV4_TCP_HEAD", "PORTS"]

FRAMING_ETHERTYPES = frozenset(ETHERTYPE_DECODERS)   # what a link header walks through
_ETHERTYPE_MIN = 0x600                      # below: an 802.3 length, LLC follows
_IPV4 = struct.Struct("!BxH2xHxB")          # version and IHL, total length, flags and
#                                             fragment offset, protocol
_RAW = {101: None, 12: None, 14: None, 228: 4, 229: 6}   # raw IP: the family, or by version
_ETH_IPV4 = struct.Struct("!12xHBxH2xHxB")  # the ethertype, then _IPV4's fields at 14
# Linux cooked SLL and SLL2: the header's length, where its protocol and ARPHRD type sit
_COOKED = {113: (16, 14, 2), 276: (20, 0, 8)}

# What the lanes unpack once a shape is known, named after what they read
PORTS = struct.Struct("!HH")                 # a TCP or UDP header's ports
ETH_IPV4_TCP_HEAD = struct.Struct("!12xHBxH2xHxB22xHH")   # the ethertype, _IPV4's fields,
# then TCP's data offset and flags, and window: what the traffic monitor's lane reads of
# its commonest packet, an untagged Ethernet IPv4 TCP segment, in one go


def frame(linktype, data, wirelen, _ipv4=_IPV4.unpack_from, _eth_ipv4=_ETH_IPV4.unpack_from,
          _framing=FRAMING_ETHERTYPES, _tunnels=UDP_TUNNEL_PORTS, _raw=_RAW, _cooked=_COOKED):
    """``(family, proto, off)`` of a frame a lane may read in place, or None."""
    have = len(data)
    if linktype == 1 and have >= 54:
        # the commonest frame first, in one unpack: untagged Ethernet, plain IPv4
        etype, vhl, total, frag, proto = _eth_ipv4(data, 0)
        if etype == 0x0800 and vhl == 0x45:
            if frag & 0x3FFF or not 20 <= total <= wirelen - 14:
                return None
            if proto == 6:
                hlen = data[46] >> 4 << 2
                if 20 <= hlen <= total - 20 and 34 + hlen <= have:
                    return 4, 6, 14
            elif proto == 17:
                if total >= 28 and (data[36] << 8 | data[37]) not in _tunnels:
                    return 4, 17, 14
            elif proto == 1:
                return 4, 1, 14
            return None
    if linktype in _raw:
        if not have:
            return None
        off = 0
        family = _raw[linktype] or data[0] >> 4
    else:
        if linktype == 1:
            if have < 14:
                return None
            etype = data[12] << 8 | data[13]
            off = 14
            if etype == 0x8100:
                if have < 18:
                    return None
                etype = data[16] << 8 | data[17]
                off = 18
        elif linktype in _cooked:
            off, at, hatype = _cooked[linktype]
            # under ARPHRD_NETLINK the "protocol" is a netlink family, no ethertype
            if have < off or (data[hatype] << 8 | data[hatype + 1]) == 824:
                return None
            etype = data[at] << 8 | data[at + 1]
        else:
            return None
        if etype == 0x0800:
            family = 4
        elif etype == 0x86DD:
            family = 6
        elif etype >= _ETHERTYPE_MIN and etype not in _framing:
            return 0, etype, off
        else:
            return None
    if family == 4:
        l4 = off + 20
        if have < l4:
            return None
        vhl, total, frag, proto = _ipv4(data, off)
        if vhl != 0x45 or frag & 0x3FFF or not 20 <= total <= wirelen - off:
            return None
        if proto == 6:
            if have >= l4 + 20:
                hlen = data[l4 + 12] >> 4 << 2
                if 20 <= hlen <= total - 20 and l4 + hlen <= have:
                    return 4, 6, off
        elif proto == 17:
            if total >= 28 and have >= l4 + 8 and \
                    (data[l4 + 2] << 8 | data[l4 + 3]) not in _tunnels:
                return 4, 17, off
        elif proto == 1:
            return 4, 1, off
        return None
    if family == 6:
        l4 = off + 40
        if have < l4 or data[off] >> 4 != 6:
            return None
        plen = data[off + 4] << 8 | data[off + 5]
        if not 0 < plen <= wirelen - l4:
            return None
        nxt = data[off + 6]
        if nxt == 6:
            if plen >= 20 and have >= l4 + 20:
                hlen = data[l4 + 12] >> 4 << 2
                if 20 <= hlen <= plen and l4 + hlen <= have:
                    return 6, 6, off
        elif nxt == 17:
            if plen >= 8 and have >= l4 + 8 and \
                    (data[l4 + 2] << 8 | data[l4 + 3]) not in _tunnels:
                return 6, 17, off
        elif nxt == 58:
            return 6, 58, off
    return None


def cooked_pkttype(linktype, data):
    """The packet type (direction) a Linux cooked header holds, as the decoder takes it
    when the capture gave none; None when the header is cut short or the link not
    cooked."""
    if linktype == 113 and len(data) >= 16:
        return data[0] << 8 | data[1]
    if linktype == 276 and len(data) >= 20:
        return data[10]
    return None
