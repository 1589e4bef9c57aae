"""The statistics facilities: general (-g) and detailed (-d) interface statistics, the
TCP/UDP service monitor (-s), the packet size breakdown (-z) and the LAN station monitor
(-l), each a sink (see ``monitor``: ``add(record)``, ``tick(now)``, ``snapshot()``).

Definitions every facility shares:

* **Bytes** are frame (wire) lengths, ``record[LEN]``: link header included, FCS
  excluded, however much of the frame was captured; the same bytes Wireshark and
  /proc/net/dev count.
* **Direction** comes from the packet type (``man 7 packet``): ``PACKET_OUTGOING`` (4) is
  *out*, ``PACKET_HOST``, ``BROADCAST``, ``MULTICAST`` and ``OTHERHOST`` (0-3) are *in*;
  anything else, ``None`` above all (a classic pcap file says nothing), is *unknown*: the
  frame counts in the totals and in neither *in* nor *out*, so in + out <= total.
* **IPv4 / IPv6 / non-IP** follow what the link layer says it carries
  (``record[ETHERTYPE]``: the Ethernet type after VLAN tags, MPLS and PPPoE, the PPP
  protocol, the raw-IP version, the cooked header's protocol): 0x0800 is IPv4, 0x86DD
  IPv6, everything else (ARP, STP, LLDP, a frame too short to say) non-IP.  An IP packet
  carried in a tunnel counts as the tunnel's outer family.
* **Transport** (-d's TCP/UDP/ICMP/ICMPv6/other-IP rows, and -s) is the *outer*
  packet's protocol, as iptraf-ng counts and as the interface carries it: the first
  header after the outer IP header, its IPv6 extension headers and AH.  A TCP segment
  inside GRE, IP-in-IP or 6in4 is GRE / IPIP / IPv6-in-IP traffic, so "other IP"; a
  VXLAN or Geneve frame is UDP (on its outer ports).  ICMP errors count as ICMP (the
  header they quote is not decoded).  Fragments count as IP traffic of their protocol
  (a later IPv4 or IPv6 fragment carries the protocol number, not the header); only the
  first fragment carries ports, so -s counts later fragments in ``unported``.  "Other
  IP" is every IP frame that is not TCP, UDP, ICMP or ICMPv6, including those whose
  header was too damaged to give a protocol: the rows add up (ipv4 + ipv6 = tcp + udp +
  icmp + icmpv6 + other_ip).
* **Bad IP**: an IPv4 or IPv6 frame whose decoding stopped at a malformed IPv4 or IPv6
  header or IPv6 extension header (bad version, header length, total or payload
  length, options running past the header; a header merely cut short by the capture's
  snap length is the capture's loss, not the packet's fault, and does not count), or
  whose outermost IPv4 header checksum is wrong (``ip.ipv4_checksum_ok``, inlined).
  ``ip_checksum_errors`` (-d) counts the checksum failures alone, as iptraf-ng does.
* **Broadcast / multicast** (-d): from the destination MAC when the frame's own link
  layer has one (Ethernet, 802.11): all ones is broadcast, the group bit (the low bit
  of the first byte) otherwise multicast; a frame without one (raw IP, PPP, Linux
  cooked) is broadcast or multicast when the kernel's packet type says so (1, 2), else
  by its outer IP destination: 255.255.255.255 is broadcast (the subnet is unknown, so
  directed broadcasts are not recognised), 224.0.0.0/4 and ff00::/8 multicast.
* **Rates**: ``tick(now)`` (nanoseconds, the packets' own time) closes a span; the
  current rate is what was counted since the previous tick (for the first tick: since
  the first packet counted, or since a tick that came before any packet, as live with
  an idle interface) divided by the time between them: bits/s = bytes * 8 / seconds,
  packets/s = packets / seconds.  A peak is the largest current rate seen at a tick.
  A tick at or before the previous one (a file not in time order) changes nothing:
  the span goes on.  Nothing here reads the clock.
* **Bounds**: every table (interfaces, services, stations) holds at most
  ``options.max_entries``; when a new entry would overflow it, the stalest sixteenth (by
  the time its last packet was seen) is dropped first (``tables.stalest``): O(n log
  n/16) once every n/16 new entries, amortised O(1) per packet.  Each dropped entry is
  counted in ``evicted``.
* ``ifindex`` (the constructor's): count only that interface's frames; None counts all.

Per facility:

* ``GeneralStats``: one row per interface: total, IPv4, IPv6, non-IP and bad-IP
  packets and bytes, current and peak rates.
* ``DetailedStats``: total / IPv4 / IPv6 / non-IP / TCP / UDP / ICMP / ICMPv6 / other IP
  / broadcast / multicast / bad IP, each in packets and bytes, in total, in and out;
  current and peak rates in total, in and out; IPv4 checksum errors.  Kernel drops are
  the capture's: the ``--json`` envelope's ``capture.dropped``.
* ``ServiceStats``: one row per (protocol, port) for TCP and UDP.  The service port is
  the lower of the two ports (iptraf's rule: services listen low, clients pick high
  ephemeral ports); with equal ports it is that port.  *in* is towards the service port
  (its destination port is the service port, which includes equal ports), *out* from it.
* ``SizeStats``: wire lengths in iptraf-ng's 20 bins, each MTU/20 bytes wide (1-75,
  76-150, ... for MTU 1500), with two corrections: the last bin reaches up to the largest
  frame the MTU allows, MTU + link header (1426-1514 on Ethernet; iptraf-ng counts every
  full-size Ethernet frame as oversized because its lengths include the link header and
  its MTU does not) and takes the remainder of an MTU not divisible by 20; and a 21st,
  explicit ``oversized`` bin takes everything longer (lo's 64 KiB, GSO/GRO/TSO
  super-frames, BIG TCP, VLAN tags on the parent interface), so no frame is lost.
  Also the largest and mean size, in total and per direction.
* ``LanStats``: one row per interface and MAC address, from the frame's own link layer
  (Ethernet, 802.11, and the sender's address in a Linux cooked header; MAC addresses
  of a frame carried inside a tunnel are not stations of this LAN).  A station's *out*
  is the frames it sent (source MAC), its *in* the frames sent to it (destination MAC);
  a group destination (broadcast, multicast) is a row of its own, marked ``group``, so
  that every frame with both addresses is one row's out and one row's in.  IP packets
  are those whose link layer says IPv4 or IPv6.
"""
import itertools

from ..decoding import shapes
from ..decoding.decode import decode
from ..decoding.packet import (
    DATA, DPORT, ERROR, ETH_DST, ETH_SRC, ETHERTYPE, IFINDEX, IP6_DST, IP_DST, IP_HDR, LEN,
    LINKTYPE, PKTTYPE, PROTO, SPORT, TS, TUNNEL,
)
from ..decoding.transport import UDP_TUNNEL_PORTS
from .tables import page_of, stalest

__all__ = ["GeneralStats", "DetailedStats", "ServiceStats", "SizeStats", "LanStats"]

_ETH_P_IP = 0x0800
_ETH_P_IPV6 = 0x86DD
_BROADCAST_MAC = b"\xff\xff\xff\xff\xff\xff"
_LIMITED_BROADCAST = b"\xff\xff\xff\xff"

# packet type -> 1 in, 2 out; every other value (None first) is 0, unknown
_DIRECTION = {0: 1, 1: 1, 2: 1, 3: 1, 4: 2}

# record[TUNNEL] -> the protocol of the outer packet that carries the tunnel
_TUNNEL_PROTO = dict.fromkeys(UDP_TUNNEL_PORTS, 17)
_TUNNEL_PROTO.update({4: 4, 41: 41, 47: 47})

# link types whose record[ETH_SRC] is the frame's own sender: Ethernet (1), 802.11 under
# radiotap (127), Linux cooked (113, 276: the sender only); of these, Ethernet and 802.11
# give the frame's own destination MAC too
_MAC_LINKTYPES = frozenset((1, 113, 127, 276))

_PROTO_NAMES = {6: "tcp", 17: "udp"}
_SIZE_BINS = 20


def _seconds(ns):
    """Nanoseconds as seconds for JSON, to the microsecond (a float holds no more)."""
    return None if ns is None else round(ns / 1e9, 6)


def _mac_text(mac):
    return ":".join("%02x" % b for b in bytearray(mac))


def _pair(packets, nbytes):
    return {"packets": packets, "bytes": nbytes}


def _rate(bps, pps):
    return {"bps": round(bps, 3), "pps": round(pps, 3)}


def _ip_damaged(record):
    """True when the decoder stopped at a malformed IPv4/IPv6 header (not a capture cut)."""
    err = record[ERROR]
    if err is None or not err.startswith(("IPv4", "IPv6")):
        return False
    # short() says "N bytes captured, M needed": on a frame the snap length cut, that is
    # the capture's loss; on a frame captured whole it is a runt, malformed on the wire
    return not (" bytes captured, " in err and len(record[DATA]) < record[LEN])


def _last_seen(entry):
    last = entry.last
    return last if last is not None else -1


def _admit(stats, table, key, entry, ts):
    """``entry`` into one of a facility's tables under ``key``: when the table is full,
    its stalest sixteenth goes first (counted in ``stats.evicted``); the facility's first
    span starts at the first entry's packet."""
    if len(table) >= stats._cap:
        for old, _ in stalest(table.items(), len(table), _item_last_seen):
            del table[old]
            stats.evicted += 1
    if stats._span.start is None:
        stats._span.start = ts
    table[key] = entry
    return entry


def _item_last_seen(item):
    return _last_seen(item[1])


class _Span(object):
    """The time between ticks: the first span starts at the first packet counted."""

    __slots__ = ("start", "prev")

    def __init__(self):
        self.start = None
        self.prev = None

    def close(self, now):
        """Nanoseconds since the previous tick, or None when no time has passed."""
        if now is None:
            return None
        prev = self.prev if self.prev is not None else self.start
        if prev is None:                 # nothing counted yet: the first span starts now
            self.prev = now
            return None
        if now <= prev:
            return None
        self.prev = now
        return now - prev


class _Window(object):
    """Rates averaged over a window of time (``rate_window`` seconds), as iptraf-ng's
    screens show them: a burst stays in the rate for a few seconds, then it falls to 0.

    The window turns in halves: each entry holds its counts at the window's start and
    at its middle (``held``); when half a window has passed since the middle, the middle
    becomes the start.  A rate is then the counts since the start over the time since
    it: between half the window and the whole of it, two counts an entry and no history.
    """

    __slots__ = ("half", "start", "mid", "since", "turned")

    def __init__(self, seconds):
        self.half = int(seconds * 5e8)
        self.start = self.mid = None
        self.since = 0
        self.turned = False

    def advance(self, now, previous):
        """At a tick at ``now`` (ns), the previous one (or the first packet) at
        ``previous``."""
        if self.start is None:
            self.start = self.mid = previous
        self.turned = now - self.mid >= self.half
        if self.turned:
            self.start, self.mid = self.mid, now
        self.since = now - self.start

    def average(self, held, counts):
        """(held anew, the counts per second since the window's start)."""
        if held is None:                      # a new entry: nothing at the start
            held = ((0,) * len(counts),) * 2
        if self.turned:
            held = (held[1], counts)
        since = self.since
        return held, [(c - b) * 1e9 / since for c, b in zip(counts, held[0])]


def _window(options):
    """The facility's _Window, or None when rates are per update interval."""
    seconds = options.rate_window
    return _Window(seconds) if seconds > options.interval else None


# --- general interface statistics (-g) ----------------------------------------------

class _Interface(object):
    """One interface's row in the general statistics."""

    __slots__ = ("ifindex", "ipv4", "ipv4_bytes", "ipv6", "ipv6_bytes",
                 "nonip", "nonip_bytes", "badip", "badip_bytes", "last",
                 "base_packets", "base_bytes", "bps", "pps", "peak_bps", "peak_pps",
                 "window")

    def __init__(self, ifindex):
        self.ifindex = ifindex
        self.ipv4 = self.ipv4_bytes = self.ipv6 = self.ipv6_bytes = 0
        self.nonip = self.nonip_bytes = self.badip = self.badip_bytes = 0
        self.last = None
        self.base_packets = self.base_bytes = 0
        self.bps = self.pps = self.peak_bps = self.peak_pps = 0.0
        self.window = None              # its counts where the rate window starts

    @property
    def packets(self):
        return self.ipv4 + self.ipv6 + self.nonip

    @property
    def bytes(self):
        return self.ipv4_bytes + self.ipv6_bytes + self.nonip_bytes

    def __repr__(self):
        return "_Interface(%r, packets=%d, bytes=%d)" % (self.ifindex, self.packets, self.bytes)


class GeneralStats(object):
    """General interface statistics (-g): every interface's totals and activity.

    Snapshot: ``{"interfaces": [row...], "evicted": N}``, rows in interface index order,
    each ``{"iface", "ifindex", "total", "ipv4", "ipv6", "nonip", "badip" (each
    {"packets", "bytes"}), "rate", "peak" (each {"bps", "pps"}), "last"}``.

    Live, ``follow(present)`` lists every interface there is.
    """

    def __init__(self, options):
        self.options = options
        self.interfaces = {}
        self.evicted = 0
        self._cap = max(1, options.max_entries)
        self._span = _Span()
        self._window = _window(options)
        self.present = None

    def follow(self, present):
        """Rows for the interfaces there are, by ``present()`` (their indexes), asked now
        and at every tick: every interface has one from the start (zeros until it
        carries a packet), a new one gains one, a deleted one's goes."""
        self.present = present
        self._follow(present())

    def _follow(self, indexes):
        table = self.interfaces
        for ifindex in set(table).difference(indexes):
            del table[ifindex]
        for ifindex in indexes:
            if ifindex not in table and len(table) < self._cap:
                table[ifindex] = _Interface(ifindex)

    def __repr__(self):
        return "GeneralStats(%d interfaces)" % len(self.interfaces)

    def _new(self, ifindex, ts):
        return _admit(self, self.interfaces, ifindex, _Interface(ifindex), ts)

    def feed(self, frames, _shape=shapes.frame, _decode=decode, _from_bytes=int.from_bytes):
        """The lane: frames of a known shape (``shapes``) counted in place, the rest
        decoded and added."""
        table = self.interfaces
        for ts, ifindex, pkttype, linktype, data, n in frames:
            shape = _shape(linktype, data, n)
            if shape is None:
                self.add(_decode(ts, ifindex, pkttype, linktype, data, n))
                continue
            e = table.get(ifindex)
            if e is None:
                e = self._new(ifindex, ts)
            e.last = ts
            family, _, off = shape
            if family == 4:
                e.ipv4 += 1
                e.ipv4_bytes += n
                if _from_bytes(data[off:off + 20], "big") % 0xFFFF:
                    e.badip += 1
                    e.badip_bytes += n
            elif family == 6:
                e.ipv6 += 1
                e.ipv6_bytes += n
            else:
                e.nonip += 1
                e.nonip_bytes += n

    def add(self, r, _from_bytes=int.from_bytes, _damaged=_ip_damaged):
        e = self.interfaces.get(r[IFINDEX])
        if e is None:
            e = self._new(r[IFINDEX], r[TS])
        n = r[LEN]
        e.last = r[TS]
        et = r[ETHERTYPE]
        if et == 0x0800:
            e.ipv4 += 1
            e.ipv4_bytes += n
            off = r[IP_HDR]     # ip.ipv4_checksum_ok inlined: the call costs a third more
            if off is not None:
                data = r[DATA]
                end = off + (data[off] & 15) * 4
                if end <= len(data) and _from_bytes(data[off:end], "big") % 0xFFFF:
                    e.badip += 1
                    e.badip_bytes += n
                    return
            if r[ERROR] is not None and _damaged(r):
                e.badip += 1
                e.badip_bytes += n
        elif et == 0x86DD:
            e.ipv6 += 1
            e.ipv6_bytes += n
            if r[ERROR] is not None and _damaged(r):
                e.badip += 1
                e.badip_bytes += n
        else:
            e.nonip += 1
            e.nonip_bytes += n

    def tick(self, now):
        if self.present is not None:
            self._follow(self.present())
        elapsed = self._span.close(now)
        if elapsed is None:
            return
        window = self._window
        if window is not None:
            window.advance(now, now - elapsed)
        for e in self.interfaces.values():
            packets, nbytes = e.packets, e.bytes
            e.bps = (nbytes - e.base_bytes) * 8e9 / elapsed
            e.pps = (packets - e.base_packets) * 1e9 / elapsed
            e.base_bytes = nbytes
            e.base_packets = packets
            if e.bps > e.peak_bps:              # peaks: of an interval, windowed or not
                e.peak_bps = e.bps
            if e.pps > e.peak_pps:
                e.peak_pps = e.pps
            if window is not None:
                e.window, (pps, per_s) = window.average(e.window, (packets, nbytes))
                e.bps, e.pps = per_s * 8, pps

    def snapshot(self, lazy=False):
        """The state as JSON-able data (``lazy`` changes nothing: no table here grows
        with the traffic beyond the interfaces)."""
        name = self.options.interface_name
        rows = []
        for ifindex in sorted(self.interfaces, key=lambda i: (i is None, i)):
            e = self.interfaces[ifindex]
            rows.append({
                "iface": name(ifindex) if ifindex is not None else None,
                "ifindex": ifindex,
                "total": _pair(e.packets, e.bytes),
                "ipv4": _pair(e.ipv4, e.ipv4_bytes),
                "ipv6": _pair(e.ipv6, e.ipv6_bytes),
                "nonip": _pair(e.nonip, e.nonip_bytes),
                "badip": _pair(e.badip, e.badip_bytes),
                "rate": _rate(e.bps, e.pps),
                "peak": _rate(e.peak_bps, e.peak_pps),
                "last": _seconds(e.last),
            })
        return {"interfaces": rows, "evicted": self.evicted}


# --- detailed interface statistics (-d) ---------------------------------------------

# DetailedStats counts each frame once, in one cell of (direction, kind, group):
# direction 0 unknown, 1 in, 2 out; kind 0-4 IPv4 TCP, UDP, ICMP, ICMPv6, other, 5-9
# the same over IPv6, 10 non-IP; group 0 unicast (or not known), 1 broadcast,
# 2 multicast.  The rows are sums of cells, made at ticks and snapshots: one counter
# pair per frame instead of one per row.
_KINDS = 11
_GROUP = 3 * _KINDS                     # the cell offset of one group step
_KIND_IPV4 = {6: 0, 17: 3, 1: 6, 58: 9}      # -> 3 * kind; missing: 12, other IP
_KIND_IPV6 = {6: 15, 17: 18, 1: 21, 58: 24}  # missing: 27
_OTHER_IPV4, _OTHER_IPV6, _KIND_NONIP = 12, 27, 30
_ROWS = (                               # row -> (kinds, groups)
    ("total", range(_KINDS), (0, 1, 2)),
    ("ipv4", range(0, 5), (0, 1, 2)),
    ("ipv6", range(5, 10), (0, 1, 2)),
    ("nonip", (10,), (0, 1, 2)),
    ("tcp", (0, 5), (0, 1, 2)),
    ("udp", (1, 6), (0, 1, 2)),
    ("icmp", (2, 7), (0, 1, 2)),
    ("icmpv6", (3, 8), (0, 1, 2)),
    ("other_ip", (4, 9), (0, 1, 2)),
    ("broadcast", range(_KINDS), (1,)),
    ("multicast", range(_KINDS), (2,)),
)


def _group_without_mac(pkttype, et, dst):
    """0, or the cell offset of broadcast or multicast, for a frame with no MAC header:
    by its packet type, then by ``dst``, the destination of its IPv4 or IPv6 header
    (``et`` says which; None when it has none)."""
    if pkttype == 1:                        # PACKET_BROADCAST
        return _GROUP
    if pkttype == 2:                        # PACKET_MULTICAST
        return 2 * _GROUP
    if dst is not None:
        if et == _ETH_P_IP:
            if dst == _LIMITED_BROADCAST:
                return _GROUP
            if dst[0] & 0xF0 == 0xE0:       # 224.0.0.0/4
                return 2 * _GROUP
        elif et == _ETH_P_IPV6 and dst[0] == 0xFF:
            return 2 * _GROUP
    return 0


class DetailedStats(object):
    """Detailed interface statistics (-d): counts by protocol and direction, rates, peaks.

    Snapshot: ``{"iface", "counts": {row: {"packets", "bytes", "in": {"packets",
    "bytes"}, "out": {...}}}, "rate": {"total"|"in"|"out"|"broadcast": {"bps", "pps"}},
    "peak": {...},
    "ip_checksum_errors": N}`` with the rows total, ipv4, ipv6, nonip, tcp, udp, icmp,
    icmpv6, other_ip, broadcast, multicast, badip.
    """

    def __init__(self, options, ifindex=None):
        self.options = options
        self.ifindex = ifindex
        self.packets = [0] * (3 * _GROUP)       # per cell
        self.bytes = [0] * (3 * _GROUP)
        self.badip = [0] * 6                     # packets, then bytes, per direction
        self.checksum_errors = 0
        self._span = _Span()
        self._base = (0,) * 8           # packets, bytes: total, in, out, broadcast
        self._rate = [0.0] * 8          # bps, pps: total, in, out, broadcast
        self._peak = [0.0] * 8
        self._window = _window(options)
        self._held = None               # its counts where the rate window starts

    def __repr__(self):
        return "DetailedStats(ifindex=%r, packets=%d)" % (self.ifindex, sum(self.packets))

    def add(self, r, _direction=_DIRECTION.get, _kind4=_KIND_IPV4.get, _kind6=_KIND_IPV6.get,
            _outer=_TUNNEL_PROTO.get, _from_bytes=int.from_bytes, _damaged=_ip_damaged,
            _no_mac=_group_without_mac, _bcast_mac=_BROADCAST_MAC, _other4=_OTHER_IPV4,
            _other6=_OTHER_IPV6, _nonip=_KIND_NONIP, _bcast=_GROUP, _mcast=2 * _GROUP):
        if self.ifindex is not None and r[IFINDEX] != self.ifindex:
            return
        span = self._span
        if span.start is None:
            span.start = r[TS]
        n = r[LEN]
        d = _direction(r[PKTTYPE], 0)
        et = r[ETHERTYPE]
        if et == 0x0800:
            t = r[TUNNEL]
            i = d + _kind4(r[PROTO] if t is None else _outer(t), _other4)
            bad = False
            off = r[IP_HDR]     # ip.ipv4_checksum_ok inlined: the call costs a third more
            if off is not None:
                data = r[DATA]
                end = off + (data[off] & 15) * 4
                if end <= len(data) and _from_bytes(data[off:end], "big") % 0xFFFF:
                    self.checksum_errors += 1
                    bad = True
            if bad or r[ERROR] is not None and _damaged(r):
                self._bad(d, n)
        elif et == 0x86DD:
            t = r[TUNNEL]
            i = d + _kind6(r[PROTO] if t is None else _outer(t), _other6)
            if r[ERROR] is not None and _damaged(r):
                self._bad(d, n)
        else:
            i = d + _nonip
        lt = r[LINKTYPE]
        if lt == 1 or lt == 127:                   # Ethernet, 802.11: the destination MAC
            dst = r[ETH_DST]
            if dst is not None and dst[0] & 1:
                i += _bcast if dst == _bcast_mac else _mcast
        else:
            i += _no_mac(r[PKTTYPE], et, r[IP_DST] if et == _ETH_P_IP else r[IP6_DST])
        self.packets[i] += 1
        self.bytes[i] += n

    def feed(self, frames, _shape=shapes.frame, _decode=decode, _direction=_DIRECTION.get,
             _cooked_pkttype=shapes.cooked_pkttype, _kind4=_KIND_IPV4.get,
             _kind6=_KIND_IPV6.get, _from_bytes=int.from_bytes, _bcast_mac=_BROADCAST_MAC,
             _no_mac=_group_without_mac, _other4=_OTHER_IPV4, _other6=_OTHER_IPV6,
             _nonip=_KIND_NONIP, _bcast=_GROUP, _mcast=2 * _GROUP):
        """The lane: frames of a known shape (``shapes``) counted in place, the rest
        decoded and added."""
        only = self.ifindex
        span = self._span
        packets, nbytes = self.packets, self.bytes
        for ts, ifindex, pkttype, linktype, data, n in frames:
            if only is not None and ifindex != only:
                continue
            shape = _shape(linktype, data, n)
            if shape is None:
                self.add(_decode(ts, ifindex, pkttype, linktype, data, n))
                continue
            if span.start is None:
                span.start = ts
            if pkttype is None:
                pkttype = _cooked_pkttype(linktype, data)
            d = _direction(pkttype, 0)
            family, proto, off = shape
            if family == 4:
                i = d + _kind4(proto, _other4)
                if _from_bytes(data[off:off + 20], "big") % 0xFFFF:
                    self.checksum_errors += 1
                    self._bad(d, n)
            elif family == 6:
                i = d + _kind6(proto, _other6)
            else:
                i = d + _nonip
            # a group destination: by its MAC under Ethernet, else as the record path
            # finds it, by the packet type, then the IP destination
            if linktype == 1:
                if data[0] & 1:
                    i += _bcast if data[:6] == _bcast_mac else _mcast
            elif family == 4:
                i += _no_mac(pkttype, 0x0800, data[off + 16:off + 20])
            elif family == 6:
                i += _no_mac(pkttype, 0x86DD, data[off + 24:off + 40])
            else:
                i += _no_mac(pkttype, proto, None)
            packets[i] += 1
            nbytes[i] += n

    def _bad(self, d, n):
        self.badip[d] += 1
        self.badip[d + 3] += n

    def _sums(self, kinds, groups):
        """(packets, bytes) per direction (unknown, in, out) over the given cells."""
        pk, by = self.packets, self.bytes
        out = []
        for d in range(3):
            cells = [d + 3 * k + _GROUP * g for k in kinds for g in groups]
            out.append((sum(pk[c] for c in cells), sum(by[c] for c in cells)))
        return out

    def tick(self, now):
        elapsed = self._span.close(now)
        if elapsed is None:
            return
        (up, ub), (ip, ib), (op, ob) = self._sums(range(_KINDS), (0, 1, 2))
        bcast = self._sums(range(_KINDS), (1,))
        counts = (up + ip + op, ub + ib + ob, ip, ib, op, ob,
                  sum(p for p, _ in bcast), sum(b for _, b in bcast))
        base = self._base
        rate, peak = self._rate, self._peak
        for k in range(4):
            rate[2 * k] = (counts[2 * k + 1] - base[2 * k + 1]) * 8e9 / elapsed
            rate[2 * k + 1] = (counts[2 * k] - base[2 * k]) * 1e9 / elapsed
        for k in range(8):
            if rate[k] > peak[k]:               # peaks: of an interval, windowed or not
                peak[k] = rate[k]
        self._base = counts
        window = self._window
        if window is not None:
            window.advance(now, now - elapsed)
            self._held, per_s = window.average(self._held, counts)
            for k in range(4):
                rate[2 * k], rate[2 * k + 1] = per_s[2 * k + 1] * 8, per_s[2 * k]

    def snapshot(self, lazy=False):
        """The counts as JSON-able data (``lazy`` changes nothing: the rows are fixed)."""
        counts = {}
        for name, kinds, groups in _ROWS:
            (up, ub), (ip, ib), (op, ob) = self._sums(kinds, groups)
            counts[name] = {"packets": up + ip + op, "bytes": ub + ib + ob,
                            "in": _pair(ip, ib), "out": _pair(op, ob)}
        bad = self.badip
        counts["badip"] = {"packets": bad[0] + bad[1] + bad[2], "bytes": bad[3] + bad[4] + bad[5],
                           "in": _pair(bad[1], bad[4]), "out": _pair(bad[2], bad[5])}
        rate, peak = self._rate, self._peak
        return {
            "iface": (self.options.interface_name(self.ifindex)
                      if self.ifindex is not None else None),
            "counts": counts,
            "rate": _rates(rate), "peak": _rates(peak),
            "ip_checksum_errors": self.checksum_errors,
        }


def _rates(values):
    """The detailed statistics' rates (or peaks), (bps, pps) by turns, by name."""
    return {name: _rate(values[2 * k], values[2 * k + 1])
            for k, name in enumerate(("total", "in", "out", "broadcast"))}


# --- TCP/UDP service monitor (-s) ----------------------------------------------------

class _Service(object):
    """One (protocol, port) row of the service monitor."""

    __slots__ = ("key", "in_packets", "in_bytes", "out_packets", "out_bytes", "last",
                 "base", "bps", "pps", "in_bps", "out_bps", "window")

    def __init__(self, key):
        self.key = key              # protocol << 16 | port
        self.in_packets = self.in_bytes = self.out_packets = self.out_bytes = 0
        self.last = None
        self.base = (0, 0, 0, 0)    # the counts at the previous tick
        self.bps = self.pps = self.in_bps = self.out_bps = 0.0
        self.window = None          # its counts where the rate window starts

    def __repr__(self):
        return "_Service(%s/%d, in=%d, out=%d)" % (
            _PROTO_NAMES.get(self.key >> 16), self.key & 0xFFFF, self.in_packets,
            self.out_packets)


class ServiceStats(object):
    """TCP/UDP service monitor (-s): packets and bytes per protocol and service port.

    Snapshot: ``{"iface", "services": [row...], "unported": {"tcp"|"udp": {"packets",
    "bytes"}}, "evicted": N}``; rows by bytes, largest first, each ``{"proto" ("tcp" or
    "udp"), "port", "packets", "bytes", "in": {"packets", "bytes", "bps"}, "out": {...},
    "rate": {"bps", "pps"}, "last"}``.  ``unported`` holds the TCP and UDP frames without
    ports: later fragments, headers cut short before the ports.
    """

    def __init__(self, options, ifindex=None):
        self.options = options
        self.ifindex = ifindex
        self.services = {}
        self.evicted = 0
        self.unported = [0, 0, 0, 0]       # tcp packets, bytes, udp packets, bytes
        self._cap = max(1, options.max_entries)
        self._span = _Span()
        self._window = _window(options)

    def __repr__(self):
        return "ServiceStats(ifindex=%r, %d services)" % (self.ifindex, len(self.services))

    def _new(self, key, ts):
        return _admit(self, self.services, key, _Service(key), ts)

    def add(self, r):
        if self.ifindex is not None and r[IFINDEX] != self.ifindex:
            return
        t = r[TUNNEL]
        if t is not None and t < 256:
            return                 # IP-in-IP, 6in4, GRE: the ports are the inner packet's
        p = r[PROTO]
        if p != 6 and p != 17:
            return
        sport = r[SPORT]
        if sport is None:
            self._unported(p, r[LEN])
            return
        self._count(p, sport, r[DPORT], r[LEN], r[TS])

    def feed(self, frames, _shape=shapes.frame, _decode=decode,
             _ports=shapes.PORTS.unpack_from):
        """The lane: frames of a known shape (``shapes``) counted in place, the rest
        decoded and added."""
        only = self.ifindex
        count = self._count
        for ts, ifindex, pkttype, linktype, data, n in frames:
            if only is not None and ifindex != only:
                continue
            shape = _shape(linktype, data, n)
            if shape is None:
                self.add(_decode(ts, ifindex, pkttype, linktype, data, n))
                continue
            family, p, off = shape
            if p == 6 or p == 17:              # a non-IP shape's ethertype is never 6 or 17
                sport, dport = _ports(data, off + 20 if family == 4 else off + 40)
                count(p, sport, dport, n, ts)

    def _count(self, p, sport, dport, n, ts):
        if sport < dport:          # from the service
            key = p << 16 | sport
            e = self.services.get(key)
            if e is None:
                e = self._new(key, ts)
            e.out_packets += 1
            e.out_bytes += n
        else:                      # towards it (equal ports too)
            key = p << 16 | dport
            e = self.services.get(key)
            if e is None:
                e = self._new(key, ts)
            e.in_packets += 1
            e.in_bytes += n
        e.last = ts

    def _unported(self, proto, size):
        i = 0 if proto == 6 else 2
        self.unported[i] += 1
        self.unported[i + 1] += size

    def tick(self, now):
        elapsed = self._span.close(now)
        if elapsed is None:
            return
        window = self._window
        if window is not None:
            window.advance(now, now - elapsed)
        for e in self.services.values():
            counts = (e.in_packets, e.in_bytes, e.out_packets, e.out_bytes)
            if window is not None:
                e.window, (in_pps, in_per_s, out_pps, out_per_s) = window.average(
                    e.window, counts)
            else:
                base = e.base
                in_pps = (counts[0] - base[0]) * 1e9 / elapsed
                in_per_s = (counts[1] - base[1]) * 1e9 / elapsed
                out_pps = (counts[2] - base[2]) * 1e9 / elapsed
                out_per_s = (counts[3] - base[3]) * 1e9 / elapsed
                e.base = counts
            e.in_bps, e.out_bps = in_per_s * 8, out_per_s * 8
            e.bps, e.pps = e.in_bps + e.out_bps, in_pps + out_pps

    def snapshot(self, page=None, ports=None, lazy=False):
        """The table, or with ``page`` = (order, start, count) only that page of it in
        that order (None, "port", "packets", "bytes", "packets_in", "bytes_in",
        "packets_out", "bytes_out": *in* is towards the port) and its
        length in "total": a screen shows a page, and a flood of ports must not make
        every update build them all.  ``ports(port)`` keeps a port in the page; the
        rest are summed in "other_ports".  With ``lazy`` "services" is an iterator that
        makes each row when taken, for a writer that streams it."""
        entries = self.services.values()
        extra = {}
        if ports is not None:
            kept, other = [], [0, 0]
            for e in entries:
                if ports(e.key & 0xFFFF):
                    kept.append(e)
                else:
                    other[0] += e.in_packets + e.out_packets
                    other[1] += e.in_bytes + e.out_bytes
            entries = kept
            extra["other_ports"] = _pair(other[0], other[1])
        if page is not None:
            order, start, count = page
            extra["total"] = len(entries)
            entries = page_of(entries, _SERVICE_ORDERS[order], start, count)
        else:
            entries = sorted(entries, key=_service_listing)
        rows = _service_rows(entries)
        u = self.unported
        out = {"iface": (self.options.interface_name(self.ifindex)
                         if self.ifindex is not None else None),
               "services": rows if lazy else list(rows),
               "unported": {"tcp": _pair(u[0], u[1]), "udp": _pair(u[2], u[3])},
               "evicted": self.evicted}
        out.update(extra)
        return out


def _service_listing(e):
    """The whole table's order: bytes, largest first, then protocol name and port."""
    return (-(e.in_bytes + e.out_bytes), _PROTO_NAMES[e.key >> 16], e.key & 0xFFFF)


def _service_rows(entries):
    for e in entries:
        key = e.key
        yield {"proto": _PROTO_NAMES[key >> 16], "port": key & 0xFFFF,
               "packets": e.in_packets + e.out_packets,
               "bytes": e.in_bytes + e.out_bytes,
               "in": {"packets": e.in_packets, "bytes": e.in_bytes,
                      "bps": round(e.in_bps, 3)},
               "out": {"packets": e.out_packets, "bytes": e.out_bytes,
                       "bps": round(e.out_bps, 3)},
               "rate": _rate(e.bps, e.pps), "last": _seconds(e.last)}


_SERVICE_ORDERS = {
    None: lambda e: (-(e.in_bytes + e.out_bytes), e.key),
    "port": lambda e: (e.key & 0xFFFF, e.key),
    "packets": lambda e: (-(e.in_packets + e.out_packets), e.key),
    "bytes": lambda e: (-(e.in_bytes + e.out_bytes), e.key),
    "packets_in": lambda e: (-e.in_packets, e.key),
    "bytes_in": lambda e: (-e.in_bytes, e.key),
    "packets_out": lambda e: (-e.out_packets, e.key),
    "bytes_out": lambda e: (-e.out_bytes, e.key),
}




# --- packet size breakdown (-z) -------------------------------------------------------

class SizeStats(object):
    """Packet size breakdown (-z): wire lengths in MTU-based bins, largest and mean.

    ``mtu`` is the interface's (1500 unless told); ``link_header`` the bytes its link
    layer adds to the MTU in a full-size frame (14 for Ethernet, 0 for raw IP such as tun
    or WireGuard): bins reach up to ``mtu + link_header``, then ``oversized``.

    Snapshot: ``{"iface", "mtu", "link_header", "bins": [{"min", "max", "packets", "in",
    "out"}...] (21 bins, the last ``oversized`` with "max" null), "packets", "bytes",
    "largest", "mean", "in": {"packets", "bytes", "largest"}, "out": {...}}``.
    """

    def __init__(self, options, ifindex=None, mtu=1500, link_header=14):
        if mtu < _SIZE_BINS or link_header < 0:
            raise ValueError("SizeStats: MTU %r, link header %r: the MTU must be at least %d "
                             "bytes and the header not negative" % (mtu, link_header, _SIZE_BINS))
        self.options = options
        self.ifindex = ifindex
        self.mtu = mtu
        self.link_header = link_header
        width = max(1, mtu // _SIZE_BINS)
        self.top = top = mtu + link_header
        # bin floors: width * i + 1 for 20 bins; the last runs to top
        self.floors = [width * i + 1 for i in range(_SIZE_BINS)] + [top + 1]
        last = _SIZE_BINS - 1
        # length -> bin, for every length up to top (0, a broken file's, goes in the first)
        self._bin = bytes(min(max(n - 1, 0) // width, last) for n in range(top + 1))
        # per direction (unknown, in, out): 21 bin counts, then bytes, then the largest
        self._counts = [[0] * (_SIZE_BINS + 3) for _ in range(3)]

    def __repr__(self):
        return "SizeStats(ifindex=%r, mtu=%d)" % (self.ifindex, self.mtu)

    def add(self, r):
        self.feed(((r[TS], r[IFINDEX], r[PKTTYPE], r[LINKTYPE], r[DATA], r[LEN]),))

    def feed(self, frames, _direction=_DIRECTION.get, _cooked_pkttype=shapes.cooked_pkttype):
        """The lane: a size needs nothing decoded, only the wire length and direction
        (which a Linux cooked header holds when the capture did not say)."""
        only, counts, bins, top = self.ifindex, self._counts, self._bin, self.top
        for _, ifindex, pkttype, linktype, data, n in frames:
            if only is not None and ifindex != only:
                continue
            if pkttype is None:
                pkttype = _cooked_pkttype(linktype, data)
            c = counts[_direction(pkttype, 0)]
            c[bins[n] if n <= top else 20] += 1
            c[21] += n
            if n > c[22]:
                c[22] = n

    def tick(self, now):
        """Sizes have no rates: nothing to do at a tick."""

    def snapshot(self, lazy=False):
        """The bins as JSON-able data (``lazy`` changes nothing: there are 21)."""
        unknown, cin, cout = self._counts
        bins = []
        floors = self.floors
        for i in range(_SIZE_BINS + 1):
            bins.append({"min": floors[i],
                         "max": floors[i + 1] - 1 if i < _SIZE_BINS else None,
                         "packets": unknown[i] + cin[i] + cout[i], "in": cin[i], "out": cout[i]})
        packets = sum(b["packets"] for b in bins)
        nbytes = unknown[21] + cin[21] + cout[21]
        return {"iface": (self.options.interface_name(self.ifindex)
                          if self.ifindex is not None else None),
                "mtu": self.mtu, "link_header": self.link_header, "bins": bins,
                "packets": packets, "bytes": nbytes,
                "largest": max(unknown[22], cin[22], cout[22]),
                "mean": round(nbytes / packets, 3) if packets else 0.0,
                "in": {"packets": sum(cin[:21]), "bytes": cin[21], "largest": cin[22]},
                "out": {"packets": sum(cout[:21]), "bytes": cout[21], "largest": cout[22]}}


# --- LAN station monitor (-l) ----------------------------------------------------------

class _Station(object):
    """One MAC address on one interface."""

    __slots__ = ("ifindex", "mac", "in_packets", "in_bytes", "in_ip", "out_packets",
                 "out_bytes", "out_ip", "last", "base", "rates", "window")

    def __init__(self, ifindex, mac):
        self.ifindex = ifindex
        self.mac = mac
        self.in_packets = self.in_bytes = self.in_ip = 0
        self.out_packets = self.out_bytes = self.out_ip = 0
        self.last = None
        self.base = (0, 0, 0, 0)            # in packets, in bytes, out packets, out bytes
        self.rates = (0.0, 0.0, 0.0, 0.0)   # in bps, in pps, out bps, out pps
        self.window = None                  # its counts where the rate window starts

    def __repr__(self):
        return "_Station(%r, %s, in=%d, out=%d)" % (self.ifindex, _mac_text(self.mac),
                                                    self.in_packets, self.out_packets)


class LanStats(object):
    """LAN station monitor (-l): packets, bytes, IP packets and rates per MAC address.

    Snapshot: ``{"iface", "stations": [row...], "evicted": N}``; rows by bytes in + out,
    largest first, each ``{"mac", "iface", "group" (broadcast or multicast address),
    "in": {"packets", "bytes", "ip_packets", "bps", "pps"}, "out": {...}, "last"}``.
    """

    def __init__(self, options, ifindex=None):
        self.options = options
        self.ifindex = ifindex
        self.tables = {}            # ifindex -> {mac: _Station}
        self.size = 0
        self.evicted = 0
        self._cap = max(1, options.max_entries)
        self._span = _Span()
        self._window = _window(options)

    def __repr__(self):
        return "LanStats(ifindex=%r, %d stations)" % (self.ifindex, self.size)

    def _new(self, table, ifindex, mac, ts):
        if self.size >= self._cap:
            stations = itertools.chain.from_iterable(t.values() for t in self.tables.values())
            for entry in stalest(stations, self.size, _last_seen):
                del self.tables[entry.ifindex][entry.mac]
                self.evicted += 1
                self.size -= 1
        if self._span.start is None:
            self._span.start = ts
        entry = table[mac] = _Station(ifindex, mac)
        self.size += 1
        return entry

    def add(self, r, _links=_MAC_LINKTYPES):
        src = r[ETH_SRC]
        if src is None or r[LINKTYPE] not in _links:
            return
        ifindex = r[IFINDEX]
        if self.ifindex is not None and ifindex != self.ifindex:
            return
        et = r[ETHERTYPE]
        self._count(ifindex, src, r[ETH_DST], r[LEN], et == 0x0800 or et == 0x86DD, r[TS])

    def feed(self, frames, _decode=decode, _framing=shapes.FRAMING_ETHERTYPES):
        """The lane: an Ethernet frame whose ethertype is its own (no tag, MPLS or PPPoE
        header to walk) gives both MACs and whether it is IP in place; the rest is
        decoded and added."""
        only = self.ifindex
        count = self._count
        for ts, ifindex, pkttype, linktype, data, n in frames:
            if linktype == 1 and len(data) >= 14:
                et = data[12] << 8 | data[13]
                if et >= 0x600 and et not in _framing:
                    if only is None or ifindex == only:
                        count(ifindex, data[6:12], data[:6], n,
                              et == 0x0800 or et == 0x86DD, ts)
                    continue
            self.add(_decode(ts, ifindex, pkttype, linktype, data, n))

    def _count(self, ifindex, src, dst, n, ip, ts):
        table = self.tables.get(ifindex)
        if table is None:
            table = self.tables[ifindex] = {}
        e = table.get(src)
        if e is None:
            e = self._new(table, ifindex, src, ts)
        e.out_packets += 1
        e.out_bytes += n
        e.out_ip += ip
        e.last = ts
        if dst is None:
            return
        e = table.get(dst)
        if e is None:
            e = self._new(table, ifindex, dst, ts)
        e.in_packets += 1
        e.in_bytes += n
        e.in_ip += ip
        e.last = ts

    def tick(self, now):
        elapsed = self._span.close(now)
        if elapsed is None:
            return
        window = self._window
        if window is not None:
            window.advance(now, now - elapsed)
            average = window.average
            for table in self.tables.values():
                for e in table.values():
                    e.window, per_s = average(e.window, (e.in_packets, e.in_bytes,
                                                         e.out_packets, e.out_bytes))
                    e.rates = (per_s[1] * 8, per_s[0], per_s[3] * 8, per_s[2])
            return
        for table in self.tables.values():
            for e in table.values():
                base = e.base
                counts = (e.in_packets, e.in_bytes, e.out_packets, e.out_bytes)
                if counts == base:
                    if e.rates[0] or e.rates[1] or e.rates[2] or e.rates[3]:
                        e.rates = (0.0, 0.0, 0.0, 0.0)
                    continue
                e.rates = ((counts[1] - base[1]) * 8e9 / elapsed,
                           (counts[0] - base[0]) * 1e9 / elapsed,
                           (counts[3] - base[3]) * 8e9 / elapsed,
                           (counts[2] - base[2]) * 1e9 / elapsed)
                e.base = counts

    def snapshot(self, page=None, lazy=False):
        """The stations, or with ``page`` = (order, start, count) one page of them in
        that order (None, "packets_in", "ip_in", "bytes_in", "packets_out", "ip_out",
        "bytes_out", "mac")
        and their number in "total".  With ``lazy`` "stations" is an iterator that makes
        each row when taken, for a writer that streams it."""
        name = _cached_name(self.options.interface_name)
        stations = itertools.chain.from_iterable(t.values() for t in self.tables.values())
        out = {"iface": (self.options.interface_name(self.ifindex)
                         if self.ifindex is not None else None)}
        if page is not None:
            order, start, count = page
            out["total"] = self.size
            stations = page_of(stations, _STATION_ORDERS[order], start, count)
        else:
            # a MAC's bytes sort as its text does (six of them, as hex, every time)
            stations = sorted(stations, key=lambda e: (
                -(e.in_bytes + e.out_bytes), name(e.ifindex) or "", e.mac))
        rows = _station_rows(stations, name)
        out["stations"] = rows if lazy else list(rows)
        out["evicted"] = self.evicted
        return out


def _cached_name(interface_name):
    """An interface's name, asked once per index for one snapshot (None for None)."""
    names = {}

    def name(ifindex):
        if ifindex not in names:
            names[ifindex] = interface_name(ifindex) if ifindex is not None else None
        return names[ifindex]
    return name


def _station_rows(stations, name):
    for e in stations:
        rates, mac = e.rates, e.mac
        yield {"mac": _mac_text(mac), "iface": name(e.ifindex), "group": bool(mac[0] & 1),
               "in": {"packets": e.in_packets, "bytes": e.in_bytes, "ip_packets": e.in_ip,
                      "bps": round(rates[0], 3), "pps": round(rates[1], 3)},
               "out": {"packets": e.out_packets, "bytes": e.out_bytes,
                       "ip_packets": e.out_ip,
                       "bps": round(rates[2], 3), "pps": round(rates[3], 3)},
               "last": _seconds(e.last)}


_STATION_ORDERS = {
    None: lambda e: (-(e.in_bytes + e.out_bytes), e.ifindex or 0, e.mac),
    "packets_in": lambda e: (-e.in_packets, e.ifindex or 0, e.mac),
    "ip_in": lambda e: (-e.in_ip, e.ifindex or 0, e.mac),
    "bytes_in": lambda e: (-e.in_bytes, e.ifindex or 0, e.mac),
    "packets_out": lambda e: (-e.out_packets, e.ifindex or 0, e.mac),
    "ip_out": lambda e: (-e.out_ip, e.ifindex or 0, e.mac),
    "bytes_out": lambda e: (-e.out_bytes, e.ifindex or 0, e.mac),
    "mac": lambda e: (e.mac, e.ifindex or 0),
}
