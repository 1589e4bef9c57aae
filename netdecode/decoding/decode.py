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
    DATA, ERROR, ETHERTYPE, FIELDS, IFINDEX, INNER_PROTO, INNER_SRC, LEN, LINKTYPE, LLC_DSAP,
    PKTTYPE, PROTO, TS,
)
from .transport import TRANSPORT_DECODERS, UDP_TUNNEL_PORTS

__all__ = ["decode", "decode_layers", "SUPPORTED_LINKTYPES"]

SUPPORTED_LINKTYPES = frozenset(LINK_DECODERS)

_IPPROTO = dict(IPPROTO_DECODERS)
_IPPROTO.update(TRANSPORT_DECODERS)
_EMPTY = [None] * len(FIELDS)

_TAIL = (None,) * (len(FIELDS) - LLC_DSAP)    # the fields the fast path never fills
_ETH_IPV4_TCP = struct.Struct("!6s6sHBxH2xHBB2x4s4sHHIIHH")   # TOS, id, checksum skipped
_ETH_IPV6 = struct.Struct("!14xIHBx16s16s")      # the MACs and type were read already
_TCP = struct.Struct("!HHIIHH")
_UDP = struct.Struct("!HHH")


def decode_layers(ts, ifindex, pkttype, linktype, data, wirelen):
    """The reference decoder: every layer through the dispatch tables."""
    f = _EMPTY[:]
    f[TS] = ts
    f[IFINDEX] = ifindex
    f[PKTTYPE] = pkttype
    f[LINKTYPE] = linktype
    f[LEN] = wirelen
    f[DATA] = data
    decoder = LINK_DECODERS.get(linktype)
    if decoder is None:
        # a live interface's ARPHRD type with no link type comes as its negative
        f[ERROR] = ("unsupported link type %d" % linktype if linktype >= 0
                    else "unsupported interface type (ARPHRD %d)" % -linktype)
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
    if last_proto is not None:
        # a protocol with no decoder of its own (OSPF, ESP...) ends the walk
        if f[PROTO] is None:
            f[PROTO] = last_proto
        if f[INNER_SRC] is not None and f[INNER_PROTO] is None:
            f[INNER_PROTO] = last_proto
    return tuple(f)


def decode(ts, ifindex, pkttype, linktype, data, wirelen, _slow=decode_layers,
           _eth_ipv4_tcp=_ETH_IPV4_TCP.unpack_from, _eth_ipv6=_ETH_IPV6.unpack_from,
           _tcp=_TCP.unpack_from, _udp=_UDP.unpack_from, _tunnels=UDP_TUNNEL_PORTS,
           _tail=_TAIL):
    """Decode one frame into a record laid out as ``packet.FIELDS``."""
    if linktype == 1 and len(data) >= 54:
        # read as Ethernet + a 20-byte IPv4 header + TCP whatever it is: one unpack
        # instead of three for the commonest frame; what it yields says if that was right
        (dst, src, etype, vhl, total, frag, ttl, proto, ip_src, ip_dst,
         sport, dport, seq, ack, offflags, win) = _eth_ipv4_tcp(data, 0)
        if etype == 0x0800:
            if vhl == 0x45 and not frag & 0x3FFF and 20 <= total <= wirelen - 14:
                if proto == 6:
                    hlen = offflags >> 12 << 2
                    if 20 <= hlen <= total - 20 and 34 + hlen <= len(data):
                        return (ts, ifindex, pkttype, 1, wirelen, data,
                                src, dst, None, 0x0800,
                                ip_src, ip_dst, 6, total, ttl, frag, 14,
                                None, None, None, None,
                                6, sport, dport, offflags & 0x0FFF, win, seq, ack,
                                total - 20 - hlen, None) + _tail
                elif proto == 17 and total >= 28 and dport not in _tunnels:
                    return (ts, ifindex, pkttype, 1, wirelen, data,
                            src, dst, None, 0x0800,
                            ip_src, ip_dst, 17, total, ttl, frag, 14,
                            None, None, None, None,
                            17, sport, dport, None, None, None, None, None,
                            seq >> 16) + _tail     # the UDP length sits where TCP's seq would
        elif etype == 0x86DD and len(data) >= 74:
            vtcfl, plen, nxt, ip6_src, ip6_dst = _eth_ipv6(data, 0)
            if vtcfl >> 28 == 6 and 0 < plen <= wirelen - 54:
                if nxt == 6 and plen >= 20:
                    sport, dport, seq, ack, offflags, win = _tcp(data, 54)
                    hlen = offflags >> 12 << 2
                    if 20 <= hlen <= plen and 54 + hlen <= len(data):
                        return (ts, ifindex, pkttype, 1, wirelen, data,
                                src, dst, None, 0x86DD,
                                None, None, None, None, None, None, None,
                                ip6_src, ip6_dst, 6, plen,
                                6, sport, dport, offflags & 0x0FFF, win, seq, ack,
                                plen - hlen, None) + _tail
                elif nxt == 17 and plen >= 8:
                    sport, dport, length = _udp(data, 54)
                    if dport not in _tunnels:
                        return (ts, ifindex, pkttype, 1, wirelen, data,
                                src, dst, None, 0x86DD,
                                None, None, None, None, None, None, None,
                                ip6_src, ip6_dst, 17, plen,
                                17, sport, dport, None, None, None, None, None,
                                length) + _tail
    return _slow(ts, ifindex, pkttype, linktype, data, wirelen)
