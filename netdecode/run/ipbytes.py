"""``--bytes ip``: the facilities count IP bytes, as iptraf-ng does, instead of frames.

By default (``frame``) every byte count is a wire length, link header included, as
Wireshark and ``/proc/net/dev`` count.  iptraf-ng counts the IP packet instead: the IPv4
total length, 40 + the payload length for IPv6 (of the outermost header, for a tunnel),
so that its figures are 14 bytes a frame smaller on Ethernet and its packets fall in
other size bins.  ``IPBytes`` stands before the facility's sink (and its log) and hands
them each record with its length so measured; frames that are not IP, and IP headers
that do not say (a TSO super-frame's IPv4 total length of 0, an IPv6 jumbogram), keep
the frame's length.

It has no fast lane: in ip mode every frame takes the decoder's path, once for every
sink, and the facilities' lanes (which count the wire length in place) are left alone,
so the default frame mode pays nothing for it.
"""
from ..decoding.packet import ETHERTYPE, IP6_PLEN, IP_LEN, LEN

__all__ = ["BYTE_MODES", "IPBytes", "ip_length"]

BYTE_MODES = ("frame", "ip")


def ip_length(r):
    """The record's IP packet length (its outermost IP header's word), else its frame
    length."""
    et = r[ETHERTYPE]
    if et == 0x0800:
        n = r[IP_LEN]
    elif et == 0x86DD:
        n = r[IP6_PLEN]
        n = 40 + n if n else None
    else:
        return r[LEN]
    return n if n else r[LEN]


class IPBytes:
    """The sinks (the facility's, its log's) seeing every record with its IP length in
    place of the frame's; ticks and the snapshot are the first sink's."""

    def __init__(self, sinks):
        self.sinks = list(sinks)

    def __repr__(self):
        return "IPBytes(%r)" % (self.sinks,)

    def add(self, r, _len=ip_length):
        n = _len(r)
        if n != r[LEN]:
            r = r[:LEN] + (n,) + r[LEN + 1:]
        for sink in self.sinks:
            sink.add(r)

    def tick(self, now):
        for sink in self.sinks:
            sink.tick(now)

    def snapshot(self, **kwargs):
        return self.sinks[0].snapshot(**kwargs)
