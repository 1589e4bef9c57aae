"""What may stand before a facility's sinks (the facility's own and its log's), making
each frame what the user asked them to count: ``IPBytes`` for ``--bytes ip`` and
``SixInFour`` for ``--v6-in-v4``.  Without those options nothing stands there, so the
default costs nothing; ``-w`` and ``--dump`` always get the frames as they came.

``--bytes ip``: by default (``frame``) every byte count is a wire length, link header
included, as Wireshark and ``/proc/net/dev`` count.  iptraf-ng counts the IP packet
instead: the IPv4 total length, 40 + the payload length for IPv6 (of the outermost
header, for a tunnel), so that its figures are 14 bytes a frame smaller on Ethernet and
its packets fall in other size bins.  ``IPBytes`` hands the sinks each record with its
length so measured; frames that are not IP, and IP headers that do not say (a TSO
super-frame's IPv4 total length of 0, an IPv6 jumbogram), keep the frame's length.  It
has no fast lane: every frame then takes the decoder's path, and the facilities' lanes
(which count the wire length in place) are left alone.

``--v6-in-v4``: IPv6 carried in IPv4 (6in4, protocol 41) shown and counted as IPv6, as
iptraf-ng's "v6-in-v4 traffic as IPv6" option does.  ``SixInFour`` hands the sinks such
a frame with its IPv4 header taken out, the ethertype made IPv6's and the wire length
shortened by the header: a native IPv6 frame, which every facility (its fast lane too)
reads as it reads any.  Ethernet frames (untagged or with one 802.1Q tag) and raw IP
links are unwrapped; other frames pass as they came.
"""
from ..decoding.decode import decode
from ..decoding.packet import DATA, ETHERTYPE, IP6_PLEN, IP_LEN, LEN, TUNNEL

__all__ = ["IPBytes", "SixInFour", "ip_length", "unwrapped"]

_RAW_IP = (101, 228, 12, 14)            # raw IP, IPv4 and the BSD raw DLTs


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


def unwrapped(frame):
    """The frame with its outer IPv4 header taken out when it carries IPv6 (6in4); the
    frame itself otherwise."""
    ts, ifindex, pkttype, linktype, data, n = frame
    if linktype == 1:
        off = 18 if data[12:14] == b"\x81\x00" else 14
        if data[off - 2:off] != b"\x08\x00":
            return frame
    elif linktype in _RAW_IP:
        off = 0
    else:
        return frame
    if len(data) < off + 20 or data[off] >> 4 != 4 or data[off + 9] != 41:
        return frame
    if data[off + 6] & 0x3F or data[off + 7]:
        return frame                    # a fragment: the IPv6 packet is not whole here
    ihl = (data[off] & 15) * 4
    if ihl < 20 or len(data) < off + ihl + 40:
        return frame
    if linktype == 1:
        inner = data[:off - 2] + b"\x86\xdd" + data[off + ihl:]
    else:
        inner = data[off + ihl:]
    return ts, ifindex, pkttype, linktype, inner, n - ihl


class _Front(object):
    """Sinks behind a front: each record (``add``) as ``record(r)`` makes it; ticks go
    to them all, the snapshot is the first one's (the facility's)."""

    def __init__(self, sinks):
        self.sinks = list(sinks)

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.sinks)

    def add(self, r):
        r = self.record(r)
        for sink in self.sinks:
            sink.add(r)

    def tick(self, now):
        for sink in self.sinks:
            sink.tick(now)

    def snapshot(self, **kwargs):
        return self.sinks[0].snapshot(**kwargs)


class IPBytes(_Front):
    """Every record with its IP length in place of the frame's."""

    @staticmethod
    def record(r, _len=ip_length):
        n = _len(r)
        return r if n == r[LEN] else r[:LEN] + (n,) + r[LEN + 1:]


class SixInFour(_Front):
    """6in4 frames as the IPv6 frames they carry."""

    def __init__(self, sinks):
        _Front.__init__(self, sinks)
        lanes = [getattr(sink, "feed", None) for sink in self.sinks]
        if None not in lanes:
            self.lanes = lanes
            self.feed = self._feed      # a lane when every sink behind has one

    def _feed(self, frames, _unwrapped=unwrapped):
        frames = [_unwrapped(frame) for frame in frames]
        for lane in self.lanes:
            lane(frames)

    @staticmethod
    def record(r):
        if r[TUNNEL] != 41 or r[ETHERTYPE] != 0x0800:
            return r
        frame = unwrapped((r[0], r[1], r[2], r[3], r[DATA], r[LEN]))
        return r if frame[4] is r[DATA] else decode(*frame)
