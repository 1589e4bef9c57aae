"""One frame in, one flat record out: the decoder every facility reads.

``decode(ts, ifindex, pkttype, linktype, data, wirelen)`` returns a tuple laid out as
``packet.FIELDS``.  It never raises on frame contents: a malformed or truncated frame
comes back with ``record[ERROR]`` saying which layer, where and why, and with every field
decoded before that point.  A link type it does not know is reported the same way
("unsupported link type 160").

Two paths give the same records.  ``decode_layers`` is the reference: it walks the layer
decoders of ``link``, ``ip`` and ``transport`` through the dispatch tables below, filling
a list with Wireshark's first-occurrence rule.  ``decode`` first tries a straight-line
path for the frames that make up nearly all traffic (Ethernet, a plain IPv4 or IPv6
header, a complete TCP or UDP header, nothing cut short) and hands everything else to
``decode_layers``; tests/test_decode.py checks that both agree on every frame of the
corpus and of the fuzz run.  The fast path exists because it measured about three times
faster (tests/bench/decode.py).
"""
import struct

from .ip import IPPROTO_DECODERS, NETWORK_DECODERS
from .layer import NEXT_ETHERTYPE, NEXT_IPPROTO, NEXT_LINK
from .link import ETHERTYPE_DECODERS, LINK_DECODERS
from .packet import (
    CAPLEN, DATA, ERROR, ETHERTYPE, FIELDS, IFINDEX, LEN, LINKTYPE, PKTTYPE, PROTO, TS,
)
from .transport import TRANSPORT_DECODERS, UDP_TUNNEL_PORTS

__all__ = ["decode", "decode_layers", "SUPPORTED_LINKTYPES"]

SUPPORTED_LINKTYPES = frozenset(LINK_DECODERS)

_IPPROTO = dict(IPPROTO_DECODERS)
_IPPROTO.update(TRANSPORT_DECODERS)
_EMPTY = [None] * len(FIELDS)

_ETH_IPV4 = struct.Struct("!6s6sHBBHHHBBH4s4s")
_ETH_IPV6 = struct.Struct("!6s6sHIHBB16s16s")
_TCP = struct.Struct("!HHIIHH")
_UDP = struct.Struct("!HHH")
_ETH_P_IP = 0x0800
_ETH_P_IPV6 = 0x86DD


def decode_layers(ts, ifindex, pkttype, linktype, data, wirelen):
    """The reference decoder: every layer through the dispatch tables."""
    f = _EMPTY[:]
    f[TS] = ts
    f[IFINDEX] = ifindex
    f[PKTTYPE] = pkttype
    f[LINKTYPE] = linktype
    f[LEN] = wirelen
    f[CAPLEN] = len(data)
    f[DATA] = data
    decoder = LINK_DECODERS.get(linktype)
    if decoder is None:
        f[ERROR] = "unsupported link type %d" % linktype
        return tuple(f)
    kind, key, off, end = decoder(f, data, 0, wirelen)
    last_proto = None
    in_link = True          # ethertypes seen before the first network layer are the link's
    # every two steps move at least one byte on, so the frame's length bounds the walk
    for _ in range(2 * len(data) + 2):
        if kind == NEXT_ETHERTYPE:
            if in_link:
                f[ETHERTYPE] = key
            decoder = ETHERTYPE_DECODERS.get(key)
            if decoder is None:
                in_link = False
                decoder = NETWORK_DECODERS.get(key)
        elif kind == NEXT_IPPROTO:
            last_proto = key
            decoder = _IPPROTO.get(key)
        elif kind == NEXT_LINK:
            decoder = LINK_DECODERS.get(key)
        else:
            break
        if decoder is None:
            break
        kind, key, off, end = decoder(f, data, off, end)
    if f[PROTO] is None and last_proto is not None:
        f[PROTO] = last_proto
    return tuple(f)


def decode(ts, ifindex, pkttype, linktype, data, wirelen, _slow=decode_layers,
           _eth_ipv4=_ETH_IPV4.unpack_from, _eth_ipv6=_ETH_IPV6.unpack_from,
           _tcp=_TCP.unpack_from, _udp=_UDP.unpack_from, _tunnels=UDP_TUNNEL_PORTS):
    """Decode one frame into a record laid out as ``packet.FIELDS``."""
    caplen = len(data)
    if linktype == 1 and caplen >= 54:
        etype = data[12] << 8 | data[13]
        if etype == _ETH_P_IP:
            (dst, src, _, vhl, _, total, _, frag, ttl, proto, _, ip_src,
             ip_dst) = _eth_ipv4(data, 0)
            if vhl == 0x45 and not frag & 0x3FFF and 20 <= total <= wirelen - 14:
                if proto == 6:
                    sport, dport, seq, ack, offflags, win = _tcp(data, 34)
                    hlen = offflags >> 12 << 2
                    if 20 <= hlen <= total - 20 and 34 + hlen <= caplen:
                        return (ts, ifindex, pkttype, 1, wirelen, caplen, data,
                                src, dst, None, _ETH_P_IP, None,
                                ip_src, ip_dst, 6, total, ttl, frag, 14,
                                None, None, None, None, None,
                                6, sport, dport, offflags & 0x0FFF, win, seq, ack,
                                total - 20 - hlen, None,
                                None, None, None, None, None, None, None, None)
                elif proto == 17 and total >= 28:
                    sport, dport, length = _udp(data, 34)
                    if dport not in _tunnels:
                        return (ts, ifindex, pkttype, 1, wirelen, caplen, data,
                                src, dst, None, _ETH_P_IP, None,
                                ip_src, ip_dst, 17, total, ttl, frag, 14,
                                None, None, None, None, None,
                                17, sport, dport, None, None, None, None, None, length,
                                None, None, None, None, None, None, None, None)
        elif etype == _ETH_P_IPV6 and caplen >= 74:
            dst, src, _, vtcfl, plen, nxt, _, ip6_src, ip6_dst = _eth_ipv6(data, 0)
            if vtcfl >> 28 == 6 and 0 < plen <= wirelen - 54:
                if nxt == 6 and plen >= 20:
                    sport, dport, seq, ack, offflags, win = _tcp(data, 54)
                    hlen = offflags >> 12 << 2
                    if 20 <= hlen <= plen and 54 + hlen <= caplen:
                        return (ts, ifindex, pkttype, 1, wirelen, caplen, data,
                                src, dst, None, _ETH_P_IPV6, None,
                                None, None, None, None, None, None, None,
                                ip6_src, ip6_dst, 6, plen, None,
                                6, sport, dport, offflags & 0x0FFF, win, seq, ack,
                                plen - hlen, None,
                                None, None, None, None, None, None, None, None)
                elif nxt == 17 and plen >= 8:
                    sport, dport, length = _udp(data, 54)
                    if dport not in _tunnels:
                        return (ts, ifindex, pkttype, 1, wirelen, caplen, data,
                                src, dst, None, _ETH_P_IPV6, None,
                                None, None, None, None, None, None, None,
                                ip6_src, ip6_dst, 17, plen, None,
                                17, sport, dport, None, None, None, None, None, length,
                                None, None, None, None, None, None, None, None)
    return _slow(ts, ifindex, pkttype, linktype, data, wirelen)
