"""The IP traffic monitor: TCP connections, and everything else, as iptraf shows them.

``TrafficMonitor(options)`` is a sink (see ``monitor``).  Its tables:

* ``tcp``: one entry per TCP connection, keyed without direction (the lower address,
  the higher address, and one int packing the interface index and the two ports: every
  object a key keeps costs memory under a flood); the entry is the first direction's
  half and holds the other's.  ``a`` is the endpoint
  that sent the first packet seen.  Per half: packets, bytes, the flags column, the last
  packet's size and window, the sender's MAC.  Per connection: first and last seen, and
  whether it was already under way when capture began (its first packet seen was not a
  bare SYN: iptraf's ``>`` mark).
* ``other``: a bounded log of every packet that is not TCP in a connection (UDP, ICMP and
  ICMPv6 by type name, ARP, IGMP, OSPF, GRE and other tunnels, non-IP), newest last.
* ``flows``: the same packets aggregated per protocol and address pair (with ports for
  UDP), so that one busy DNS server does not scroll everything else out of the log.

The flags column of a half follows iptraf: the flags of the latest packet that way in
the order ``S P A U``, ``-`` for a clear flag (``S---`` a bare SYN, ``S-A-`` its answer,
``-PA-`` data); then words that outrank them: ``RESET`` once an RST went that way,
``CLOSED`` once a FIN went that way and the other side acknowledged it, ``DONE`` while
such a FIN is not yet acknowledged, ``IDLE`` when the connection has been silent for
``options.idle_timeout``.  A connection that is closed both ways, reset, or idle is
removed ``options.closed_lifetime`` seconds after it got there.

A packet whose transport header sits inside a tunnel (record[TUNNEL]) is logged as the
tunnel's traffic: its outer addresses and inner ports belong to different headers.  Its
entry and its flow keep the outer packet's addresses, as iptraf counts them, and the
inner flow beside them (the ``inner`` key: the carried packet's protocol and ends; in
``flows``, of the latest tunnelled packet).
Every table holds at most ``options.max_entries``; when full, the stalest sixteenth is
evicted (amortised O(1) per packet) and counted.
"""
import itertools
import socket
import struct

from ..decoding.packet import (
    ARP_OP, ARP_SHA, ARP_SPA, ARP_TPA, DATA, DPORT, ETH_DST, ETH_SRC, ETHERTYPE, ICMP6_CODE, ICMP6_TYPE,
    ICMP_CODE, ICMP_TYPE, IFINDEX, INNER_DPORT, INNER_DST, INNER_PROTO, INNER_SPORT, INNER_SRC,
    IP6_DST, IP6_NXT, IP6_PLEN, IP6_SRC, IP_DST, IP_HDR, IP_LEN, IP_PROTO, IP_SRC, LEN, LLC_DSAP,
    LLC_SAP_NAMES, PROTO, SPORT, TCP_ACK, TCP_FLAGS, TCP_LEN, TCP_SEQ, TCP_WIN, TS, TUNNEL,
    ethertype_name, ipproto_name,
)
from ..decoding import shapes
from ..decoding.decode import decode
from ..decoding.transport import UDP_TUNNEL_PORTS
from .detect import KINDS, Detector
from .tables import page_of, stalest

__all__ = ["TrafficMonitor", "flags_text", "icmp_text", "icmp6_text", "endpoint_text",
           "log_entry_json", "last_seen", "alert_json", "RESET", "DONE", "CLOSED",
           "A_IS_LO"]

_FIN, _SYN, _RST, _PSH, _ACK, _URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
RESET, DONE, CLOSED = 1, 2, 3           # a half's state

_ICMP_TYPES = {
    0: "echo reply", 3: "dest unreachable", 4: "source quench", 5: "redirect",
    8: "echo request", 9: "router advertisement", 10: "router solicitation",
    11: "time exceeded", 12: "parameter problem", 13: "timestamp request",
    14: "timestamp reply", 17: "address mask request", 18: "address mask reply",
    42: "extended echo request", 43: "extended echo reply",
}
_UNREACH_CODES = {
    0: "network", 1: "host", 2: "protocol", 3: "port", 4: "fragmentation needed",
    5: "source route failed", 6: "network unknown", 7: "host unknown",
    9: "network prohibited", 10: "host prohibited", 11: "network TOS", 12: "host TOS",
    13: "administratively prohibited",
}
_ICMP6_TYPES = {
    1: "dest unreachable", 2: "packet too big", 3: "time exceeded", 4: "parameter problem",
    128: "echo request", 129: "echo reply", 130: "multicast listener query",
    131: "multicast listener report", 132: "multicast listener done",
    133: "router solicitation", 134: "router advertisement", 135: "neighbor solicitation",
    136: "neighbor advertisement", 137: "redirect", 143: "multicast listener report v2",
}
_UNREACH6_CODES = {0: "no route", 1: "administratively prohibited", 2: "beyond scope",
                   3: "address", 4: "port", 5: "source policy failed", 6: "reject route"}
_ARP_OPS = {1: "request", 2: "reply", 3: "RARP request", 4: "RARP reply"}
_TUNNELS = {4: "IPIP", 41: "IPv6-in-IP", 47: "GRE", 4789: "VXLAN", 8472: "VXLAN",
            6081: "Geneve", 2152: "GTP-U"}


def flags_text(flags):
    """'S-A-' for SYN+ACK: iptraf's order S P A U, '-' where clear."""
    return ("S" if flags & _SYN else "-") + ("P" if flags & _PSH else "-") + (
        "A" if flags & _ACK else "-") + ("U" if flags & _URG else "-")


def icmp_text(icmp_type, code):
    """'dest unreachable (port)', 'echo request', 'ICMP type 99 code 1'."""
    name = _ICMP_TYPES.get(icmp_type)
    if name is None:
        return "ICMP type %d code %d" % (icmp_type, code)
    if icmp_type == 3:
        return "%s (%s)" % (name, _UNREACH_CODES.get(code, "code %d" % code))
    if icmp_type == 11:
        return "%s (%s)" % (name, "in transit" if code == 0 else "reassembly")
    return name


def icmp6_text(icmp_type, code):
    name = _ICMP6_TYPES.get(icmp_type)
    if name is None:
        return "ICMPv6 type %d code %d" % (icmp_type, code)
    if icmp_type == 1:
        return "%s (%s)" % (name, _UNREACH6_CODES.get(code, "code %d" % code))
    return name


def _addr_text(addr):
    return socket.inet_ntop(socket.AF_INET if len(addr) == 4 else socket.AF_INET6, addr)


def endpoint_text(addr, port):
    """'10.0.0.1:80', '[fd00::1]:80', or the bare address when there is no port."""
    text = _addr_text(addr)
    if port is None:
        return text
    return ("[%s]:%d" if len(addr) == 16 else "%s:%d") % (text, port)


def _mac_text(mac):
    """Colon-separated hex, whatever the link address's length (IPoIB's is 20)."""
    return ":".join("%02x" % byte for byte in mac) if mac else None


class _Half:
    """One direction of a TCP connection."""

    __slots__ = ("packets", "bytes", "octets", "flags", "seen", "state", "fin", "size", "win",
                 "mac")

    def __init__(self, mac):
        self.packets = 0
        self.bytes = 0
        self.octets = 0             # IP bytes (the IP header's lengths): what flow export sends
        self.flags = 0
        self.seen = 0               # the OR of the flags since the last flow record went out
        self.state = 0
        self.fin = None             # sequence number a FIN's acknowledgment must reach
        self.size = 0
        self.win = 0
        self.mac = mac

    def __repr__(self):
        return "_Half(packets=%d, bytes=%d, flags=%s, state=%d)" % (
            self.packets, self.bytes, flags_text(self.flags), self.state)


A_IS_LO, _UNDER_WAY, _CLOSING = 1, 2, 4     # a connection's marks: is a the lower endpoint;
# _CLOSING: a FIN or RST was seen, its packets take the complete path (never routed)
_SHARED_MAX = 4096

# Routes: the 12 bytes of addresses and ports of an IPv4 TCP packet (36 of an IPv6 one
# with no extension header), as they sit in the frame, to (key, connection, half,
# ifindex), so that the packets of a busy connection skip
# building and hashing its key (a slice of the frame is a third of that cost,
# tests/bench/flows.py).  A cache: bounded, cleared when full and whenever a connection is
# removed, and never holding a connection that saw a FIN or RST (whose packets must go
# through the flags states).
_ROUTES_MAX = 8192
_ROUTE = struct.Struct("!4s4sHH")       # as they sit in an IPv4 header and the TCP one after it
_ROUTE6 = struct.Struct("!16s16sHH")    # in an IPv6 header and the TCP one after it
_ETH_IPV6_TCP = struct.Struct("!18xH46xHH")  # the IPv6 payload length, and TCP's data
#                                             offset and flags and window, after Ethernet
_ETH_IPV6_UDP = struct.Struct("!18xH34xHH")  # the payload length, and UDP's ports


class _Conn(_Half):
    """A TCP connection, which is also its ``a`` half: the direction of the first packet
    seen.  ``b`` is the other half, made when the other side first speaks (a SYN flood
    then costs one object per connection, not two).  ``b`` is a _Conn too, its
    ``first`` and ``last`` its own direction's, its other connection fields unused: the
    per-packet code then meets one class, which CPython's specialising interpreter needs
    (mixing two cost 17% of the TCP path).  ``first`` and ``last`` are per direction
    (what a flow record needs); the connection's own are ``first`` and ``last_seen``."""

    __slots__ = ("b", "marks", "first", "last", "ended")

    def __init__(self, ts, marks, mac):
        _Half.__init__(self, mac)
        self.b = None
        self.marks = marks
        self.first = ts
        self.last = ts
        self.ended = None           # when it was reset, or closed both ways

    def __repr__(self):
        return "_Conn(a=%s, b=%r)" % (_Half.__repr__(self), self.b)


class TrafficMonitor:
    """The IP traffic monitor facility (iptraf's first screen), as a sink."""

    def __init__(self, options, thresholds=None):
        self.options = options
        # fed by the slow paths only (see detect)
        self.tcp = {}               # (lo addr, hi addr, ifindex << 32 | lo port << 16 | hi port)
        self.detector = Detector(self.tcp, thresholds or options.detection)
        self.flows = {}             # (ifindex, proto, src, sport, dst, dport) -> list (_count_other)
        self.log = []               # compact tuples of the latest other packets
        self.evicted_tcp = 0
        self.evicted_flows = 0
        self.now = None
        self._max = options.max_entries
        self._lines = options.log_lines
        self._shared = {}           # one object per address and MAC that entries keep
        self._touched = None        # (key, connection, half, ifindex) of the latest TCP packet
        self._routes = {}           # see _ROUTES_MAX
        self._routes_get = self._routes.get
        self.expired = []           # (key, connection) the latest tick removed
        # each called as listener(table, gone, evicted) with the (key, entry) pairs that
        # a full table evicted or the user flushed (flow export's last records, the
        # metrics' totals of what left the tables)
        self.on_remove = []
        self.owners = None          # live: processes.Owners, the rows' a_/b_process
        # kernel counting (accounting.kernel.TrafficCounter): called as on_route(route,
        # touched) where a direction gets its route, so that its packets from then on
        # are counted in the kernel
        self.on_route = None

    def __repr__(self):
        return "TrafficMonitor(%d connections, %d flows)" % (len(self.tcp), len(self.flows))

    # the per-packet path

    def add(self, r):
        if r[IP_PROTO] == 6 and r[TUNNEL] is None:
            # TCP right after the outermost IP header, IPv4: the commonest packet.  Its
            # route is the 12 bytes of addresses and ports (one slice, no key to build),
            # when the header has no options (IHL 5) and the packet no FIN or RST.
            flags = r[TCP_FLAGS]
            if flags is not None and not flags & 0x05:
                data = r[DATA]
                hdr = r[IP_HDR]
                if hdr is not None and data[hdr] == 0x45:
                    hit = self._routes_get(data[hdr + 12:hdr + 24])
                    if hit is not None and hit[3] == r[IFINDEX]:
                        self._routed(hit, r[TS], r[LEN], r[IP_LEN], flags, r[TCP_WIN])
                        return
        flags = r[TCP_FLAGS]
        if flags is None or r[TUNNEL] is not None or r[PROTO] != 6:
            self._other(r)
            return
        self._tcp(r, flags)

    def feed(self, frames, _shape=shapes.frame, _decode=decode,
             _head=shapes.ETH_IPV4_TCP_HEAD.unpack_from, _ports=shapes.PORTS.unpack_from,
             _tcp6=_ETH_IPV6_TCP.unpack_from, _udp6=_ETH_IPV6_UDP.unpack_from,
             _tunnels=UDP_TUNNEL_PORTS):
        """The lane: an untagged Ethernet frame's routed TCP packet or UDP datagram of a
        known shape (``shapes``) is counted in place, the rest decoded and added."""
        add = self.add
        routes_get = self._routes_get
        other = self._count_other
        for ts, ifindex, pkttype, linktype, data, n in frames:
            if linktype != 1 or len(data) < 54:
                add(_decode(ts, ifindex, pkttype, linktype, data, n))
                continue
            etype, vhl, total, frag, proto, offflags, win = _head(data)
            hit = None
            if etype == 0x0800:
                # the commonest packet first: shapes.frame's (4, 6, 14), read once
                if (vhl == 0x45 and proto == 6 and not frag & 0x3FFF
                        and 20 <= total <= n - 14
                        and 20 <= offflags >> 12 << 2 <= total - 20
                        and 34 + (offflags >> 12 << 2) <= len(data)):
                    if not offflags & 0x05:
                        hit = routes_get(data[26:38])
                # shapes.frame's (4, 17, 14), read once
                elif (proto == 17 and vhl == 0x45 and not frag & 0x3FFF
                      and 28 <= total <= n - 14):
                    sport, dport = _ports(data, 34)
                    if dport not in _tunnels:
                        other((ts, ifindex, n, 17, None, data[26:30], data[30:34], sport,
                               dport, None, None, None, None, None, None, None, total))
                        continue
            elif etype == 0x86DD:
                shape = _shape(1, data, n)
                if shape == (6, 6, 14):
                    total, offflags, win = _tcp6(data)
                    total += 40
                    if not offflags & 0x05:
                        hit = routes_get(data[22:58])
                elif shape == (6, 17, 14):
                    total, sport, dport = _udp6(data)
                    other((ts, ifindex, n, 17, None, data[22:38], data[38:54], sport, dport,
                           None, None, None, None, None, None, None, total + 40))
                    continue
            if hit is not None and hit[3] == ifindex:
                # a routed connection has seen no FIN or RST (see _tcp), so no state
                # can change (no _touched: the traffic log, its only reader, takes
                # records)
                half = hit[2]
                half.last = ts
                half.packets += 1
                half.bytes += n
                half.octets += total
                half.size = n
                flags = half.flags = offflags & 0x0FFF
                half.seen |= flags
                half.win = win
                continue
            add(_decode(ts, ifindex, pkttype, linktype, data, n))

    def _routed(self, hit, ts, size, octets, flags, win):
        """A packet of a routed connection: it has seen no FIN or RST (see _tcp), so no
        state can change."""
        self._touched = hit
        half = hit[2]
        half.last = ts
        half.packets += 1
        half.bytes += size
        half.octets += octets
        half.size = size
        half.flags = flags
        half.seen |= flags
        half.win = win

    @property
    def touched(self):
        """(key, connection, half) of the latest TCP packet added (``add``: the traffic
        log, which reads it, has no lane, so the monitor gives records to both)."""
        hit = self._touched
        return hit[:3] if hit is not None else None

    def _tcp(self, r, flags):
        """The complete path of a TCP packet: its connection found (or opened) by its
        key, the flags states, and the route for the next packet that way."""
        src = r[IP_SRC]
        if src is None:
            src, dst = r[IP6_SRC], r[IP6_DST]
        else:
            dst = r[IP_DST]
        sport, dport = r[SPORT], r[DPORT]
        if src < dst or (src == dst and sport <= dport):
            forward = 1
            key = (src, dst, r[IFINDEX] << 32 | sport << 16 | dport)
        else:
            forward = 0
            key = (dst, src, r[IFINDEX] << 32 | dport << 16 | sport)
        conn = self.tcp.get(key)
        ts = r[TS]
        if conn is None:
            half = conn = self._open(key, forward, flags, ts, r[ETH_SRC])
            other = None
        else:
            if forward == conn.marks & 1:           # A_IS_LO: this is the a half
                half, other = conn, conn.b
            else:
                half, other = conn.b, conn
                if half is None:
                    # the same class as the a half: the attribute accesses below then see
                    # one type, which CPython's specialising interpreter needs to be fast
                    half = conn.b = _Conn(ts, 0, self._share(r[ETH_SRC]))
            half.last = ts
        size = r[LEN]
        touched = self._touched = (key, conn, half, r[IFINDEX])
        half.packets += 1
        half.bytes += size
        ip_len = r[IP_LEN]
        half.octets += ip_len if ip_len is not None else 40 + r[IP6_PLEN]
        half.size = size
        half.flags = flags
        half.seen |= flags
        half.win = r[TCP_WIN]
        if flags & 0x05 or conn.marks & _CLOSING:
            if not conn.marks & _CLOSING:
                # from now on every packet of this connection takes this path
                conn.marks |= _CLOSING
                route = _ROUTE if len(key[0]) == 4 else _ROUTE6
                self._routes.pop(route.pack(src, dst, sport, dport), None)
                self._routes.pop(route.pack(dst, src, dport, sport), None)
            if flags & 0x05:
                if flags & 0x04:                    # RST
                    half.state = RESET
                    conn.ended = ts
                elif half.state == 0:               # FIN: its ACK will be seq + len + 1
                    half.state = DONE
                    half.fin = (r[TCP_SEQ] + (r[TCP_LEN] or 0) + 1) & 0xFFFFFFFF
            if (flags & 0x10 and other is not None and other.state == DONE
                    and (r[TCP_ACK] - other.fin) & 0xFFFFFFFF < 0x80000000):
                other.state = CLOSED
                if half.state == CLOSED:
                    conn.ended = ts
        elif half.packets > 1 and r[TUNNEL] is None:
            # routed from its second packet that way: a flood of one-packet connections
            # (SYNs from random sources) then leaves the routes empty.  Only a header
            # without options or extension headers is routed (the lanes read the
            # addresses at fixed places), and a route is never overwritten: the same
            # packets seen on two interfaces (-i all: a VLAN and its parent) would
            # otherwise take turns
            if r[IP_PROTO] == 6:
                if r[DATA][r[IP_HDR]] != 0x45:
                    return
                route = _ROUTE
            elif r[IP_PROTO] is None and r[IP6_NXT] == 6:
                route = _ROUTE6
            else:
                return
            routes = self._routes
            if len(routes) >= _ROUTES_MAX:
                routes.clear()
            packed = route.pack(src, dst, sport, dport)
            routes.setdefault(packed, touched)
            if self.on_route is not None:
                self.on_route(packed, touched)

    def _open(self, key, forward, flags, ts, mac):
        """A connection not seen before: make room, and keep shared objects in its key."""
        if len(self.tcp) >= self._max:
            self.evicted_tcp += self._evict("tcp", self.tcp, _conn_age)
            self._routes.clear()
        share = self._share
        key = (share(key[0]), share(key[1]), key[2])
        bare_syn = flags & (_SYN | _ACK) == _SYN
        conn = self.tcp[key] = _Conn(ts, (A_IS_LO if forward else 0) | (
            0 if bare_syn else _UNDER_WAY), share(mac))
        if bare_syn:
            self.detector.attempt(key, ts, forward)
        return conn

    def _share(self, value):
        """The one object kept for equal addresses and MACs: every decoded record brings
        new ones, and a table that kept them all would pay for each (a flood's target
        address and router MAC repeat in every entry).  Bounded: cleared when full."""
        shared = self._shared
        kept = shared.get(value)
        if kept is None:
            if len(shared) >= _SHARED_MAX:
                shared.clear()
            kept = shared[value] = value
        return kept

    def _other(self, r):
        """Log one non-TCP (or tunnelled) packet and count it in its flow."""
        proto, src, dst = r[PROTO], r[IP_SRC], r[IP_DST]
        if src is None:
            src, dst = r[IP6_SRC], r[IP6_DST]
        sport, dport = r[SPORT], r[DPORT]
        tunnel = r[TUNNEL]
        if tunnel is not None:
            sport = dport = None
            # the log entry's tunnel slot: the kind, and the inner flow when one was read
            tunnel = (tunnel, r[INNER_PROTO], r[INNER_SRC], r[INNER_SPORT], r[INNER_DST],
                      r[INNER_DPORT])
        if src is None:                     # not IP: ARP, or by ethertype / LLC
            src, dst = r[ETH_SRC], r[ETH_DST]
            proto = (r[ETHERTYPE], r[LLC_DSAP])
            if r[ARP_SPA] is not None:
                self.detector.arp(r[TS], r[ARP_SPA], r[ARP_SHA])
        ip_len = r[IP_LEN]
        if ip_len is None and r[IP6_PLEN] is not None:
            ip_len = 40 + r[IP6_PLEN]
        self._count_other((r[TS], r[IFINDEX], r[LEN], proto, tunnel, src, dst, sport, dport,
                           r[ICMP_TYPE], r[ICMP_CODE], r[ICMP6_TYPE], r[ICMP6_CODE],
                           r[ARP_OP], r[ARP_SPA], r[ARP_TPA], ip_len))

    def _count_other(self, entry):
        """One entry of the other-traffic log: logged, and counted in its flow.

        A flow is one direction (as flow export wants them; the snapshot pairs them):
        ``[packets, bytes, ip bytes, first, last, tunnel]``, keyed by the interface, the
        protocol (a tunnel's: its outer one, 17 for UDP tunnels), and the addresses and
        ports; for ICMP and ICMPv6 the destination port's place holds type << 8 | code, as
        NetFlow keys them.  ``tunnel`` is the tunnel slot of the latest tunnelled packet's
        entry (what it carried), None for a flow of plain packets."""
        (ts, ifindex, size, proto, tunnel, src, dst, sport, dport, icmp_type, icmp_code,
         icmp6_type, icmp6_code, _, _, _, octets) = entry
        log = self.log
        log.append(entry)
        if len(log) > 2 * self._lines:
            del log[:-self._lines]          # trimmed in bulk: amortised O(1)
        if src is None or dst is None:
            return
        if sport is None:
            if tunnel is not None:
                proto = tunnel[0] if tunnel[0] < 256 else 17
            elif icmp_type is not None:
                dport = icmp_type << 8 | icmp_code
                if icmp_type == 8:
                    self.detector.echo(ts, src, dst)
            elif icmp6_type is not None:
                dport = icmp6_type << 8 | icmp6_code
                if icmp6_type == 128:
                    self.detector.echo(ts, src, dst)
        key = (ifindex, proto, src, sport, dst, dport)
        flow = self.flows.get(key)
        if flow is None:
            if len(self.flows) >= self._max:
                self.evicted_flows += self._evict("flows", self.flows, _flow_age)
            self.flows[key] = [1, size, octets or 0, ts, ts, tunnel]
        else:
            flow[0] += 1
            flow[1] += size
            if octets is not None:
                flow[2] += octets
            flow[4] = ts
            if tunnel is not None:
                flow[5] = tunnel

    # time

    def tick(self, now):
        """Remove connections closed or reset, or idle, for the closed lifetime."""
        self.now = now
        idle = int(self.options.idle_timeout * 1e9)
        linger = int(self.options.closed_lifetime * 1e9)
        self.expired = [(key, conn) for key, conn in self.tcp.items()
                        if (conn.ended is not None and now - conn.ended >= linger)
                        or now - (last_seen(conn) or now) >= idle + linger]
        for key, _ in self.expired:
            del self.tcp[key]
        if self.expired:
            self._routes.clear()
        self.detector.tick(now)

    def finish(self, now):
        """The end of the input (a file): the attempts still awaiting an answer are
        judged by what came."""
        self.detector.tick(now, final=True)

    def alert_counts(self):
        """Alerts raised so far, by kind (every kind, 0 for none)."""
        raised = self.detector.raised
        return {kind: raised[kind] for kind in KINDS}

    def flush_closed(self):
        """Remove closed and reset connections now (iptraf's F key)."""
        gone = [(k, c) for k, c in self.tcp.items() if c.ended is not None]
        for key, _ in gone:
            del self.tcp[key]
        self._routes.clear()
        if gone:
            for listener in self.on_remove:
                listener("tcp", gone, False)

    def _evict(self, name, table, age):
        """Drop the stalest entries of a full table; returns how many went."""
        gone = stalest(table.items(), len(table), lambda item: age(item[1]))
        for key, _ in gone:
            del table[key]
        for listener in self.on_remove:
            listener(name, gone, True)
        return len(gone)

    # presentation data

    def snapshot(self, tcp_page=None, flows_page=None, other_page=None, lazy=False):
        """The tables as JSON-able data.  ``tcp_page`` = (order, start, count), the
        order None (first seen), "packets" or "bytes", ``flows_page`` = (None, start,
        count) (by bytes) and ``other_page`` = (None, start, count) (the log, oldest
        first) ask for one page of that table, its length then in "tcp_total",
        "flows_total" or "other_total": a screen shows a page, and a flood must not make
        every update build every row (a count of 0 asks for the length alone).  With
        ``lazy`` the "tcp" and "flows" tables are iterators that make each row when it
        is taken, for a writer that streams them (100,000 rows built whole take ten
        times the memory of the connections they describe)."""
        extra = {}
        log = self.log[-self._lines:]
        if other_page is not None:
            _, first, count = other_page
            extra["other_total"] = len(log)
            log = log[first:first + count] if count else ()
        name = _cached(self.options.interface_name)
        hosts = _cached(_host_text)
        ends = _cached(_ends_text)
        items = self.tcp.items()
        if tcp_page is not None:
            order, first, count = tcp_page
            items, made = page_of(items, _TCP_ORDERS[order], first, count), {}
            extra["tcp_total"] = len(self.tcp)
        else:
            items, made = _by_first(items, hosts)
        paired = _paired(self.flows)
        flow_items = paired.items()
        if flows_page is not None:
            _, first, count = flows_page
            flow_items = page_of(flow_items, _by_flow_bytes, first, count)
            extra["flows_total"] = len(paired)
        else:
            flow_items = sorted(flow_items, key=lambda item: (
                -item[1][1], ends((item[0][2], item[0][3])), ends((item[0][4], item[0][5]))))
        conns = self._conn_rows(items, made, name, hosts)
        flows = _flow_rows(flow_items, name, ends)
        out = {"tcp": conns if lazy else list(conns),
               "other": [log_entry_json(e, name) for e in log],
               "flows": flows if lazy else list(flows),
               "evicted": {"tcp": self.evicted_tcp, "flows": self.evicted_flows},
               "alerts": [alert_json(alert) for alert in self.detector.alerts.values()],
               "alerts_overflow": dict(self.detector.overflow)}
        out.update(extra)
        if self.owners is not None:
            out["process_lookup"] = self.owners.status()
        return out

    def _conn_rows(self, items, made, name, hosts):
        """A row per connection; ``made`` holds the ends already made, by key."""
        macs = _cached(_mac_text)
        idle = int(self.options.idle_timeout * 1e9)
        now = self.now
        owners = self.owners
        for item in items:
            conn = item[1]
            a, b = made.get(item[0]) or _conn_ends(item, hosts)
            last = last_seen(conn)
            is_idle = now is not None and last is not None and now - last >= idle
            row = {"a": a, "b": b, "iface": name(item[0][2] >> 32),
                   "first": _seconds(conn.first), "last": _seconds(last),
                   "under_way": bool(conn.marks & _UNDER_WAY),
                   "a_to_b": _half_json(conn, is_idle, macs),
                   "b_to_a": _half_json(conn.b, is_idle, macs)}
            if owners is not None:
                owners.name_ends(row, item[0], conn.marks & A_IS_LO)
            yield row


def alert_json(alert):
    """An alert as the README's contract has it: the keys that apply to its kind."""
    out = {"kind": alert.kind, "state": "ended" if alert.ended else "active"}
    for name, value in alert.fields:
        if name in ("mac", "old_mac"):
            out[name] = _mac_text(value)
        elif name == "port":
            out[name] = value
        else:
            out[name] = _addr_text(value)
    out["first"] = _seconds(alert.first)
    out["last"] = _seconds(alert.last)
    out["count"] = alert.count
    if alert.kind == "syn-flood":
        out["sources"] = len(alert.sources or ())
    elif alert.kind == "icmp-flood" and alert.sources is not None:
        out["src"] = _addr_text(alert.sources)
    return out


def _by_first(items, hosts):
    """The connections in the order of the whole listing, and the ends made on the way
    (key -> (a, b)): first seen (to the microsecond, as shown), then a and b as text.
    Sorted by time alone first, and by text only where times tie: text keys for every
    row of a 100,000-row table would double what a snapshot holds."""
    items = sorted(items, key=_first_ns)      # rounding keeps this order
    out = []
    made = {}
    for _, group in itertools.groupby(items, key=_first_seen):
        group = list(group)
        if len(group) > 1:
            for item in group:
                made[item[0]] = _conn_ends(item, hosts)
            group.sort(key=lambda item: made[item[0]])
        out.extend(group)
    return out, made


def _first_ns(item):
    return item[1].first or 0


def _first_seen(item):
    return _seconds(item[1].first) or 0


def _conn_ends(item, hosts):
    """A connection's (a, b) as text: 'addr:port', a the end that spoke first."""
    (lo_addr, hi_addr, ports), conn = item
    lo = "%s:%d" % (hosts(lo_addr), ports >> 16 & 0xFFFF)
    hi = "%s:%d" % (hosts(hi_addr), ports & 0xFFFF)
    return (lo, hi) if conn.marks & A_IS_LO else (hi, lo)


def _paired(flows):
    """The flows of both directions of a pair as one: (ifindex, proto, lo addr, lo port,
    hi addr, hi port) -> [packets, bytes, first, last, tunnel], ICMP's types dropped, the
    tunnel slot the later direction's."""
    out = {}
    get = out.get
    for (ifindex, proto, src, sport, dst, dport), (packets, size, _, first, last, tunnel) in (
            flows.items()):
        if sport is None:
            dport = None
        if src < dst or (src == dst and (sport or 0) <= (dport or 0)):
            key = (ifindex, proto, src, sport, dst, dport)
        else:
            key = (ifindex, proto, dst, dport, src, sport)
        pair = get(key)
        if pair is None:
            out[key] = [packets, size, first, last, tunnel]
        else:
            pair[0] += packets
            pair[1] += size
            if pair[2] is None or (first is not None and first < pair[2]):
                pair[2] = first
            if last is not None and (pair[3] is None or last > pair[3]):
                pair[3] = last
                if tunnel is not None:
                    pair[4] = tunnel
            elif pair[4] is None:
                pair[4] = tunnel
    return out


def _flow_rows(items, name, ends):
    protos = _cached(_proto_name)
    for key, (packets, size, first, last, tunnel) in items:
        ifindex, proto, lo_addr, lo_port, hi_addr, hi_port = key
        row = {"proto": protos(proto), "iface": name(ifindex),
               "a": ends((lo_addr, lo_port)), "b": ends((hi_addr, hi_port)),
               "packets": packets, "bytes": size,
               "first": _seconds(first), "last": _seconds(last)}
        if tunnel is not None:
            _put_inner(row, tunnel)
        yield row


def _put_inner(out, tunnel):
    """The ``inner`` key of a tunnelled entry: what the tunnel carries, when known."""
    kind, proto, src, sport, dst, dport = tunnel
    if src is not None:
        out["inner"] = {"tunnel": _TUNNELS.get(kind, ipproto_name(kind)),
                        "proto": _proto_name(proto), "src": endpoint_text(src, sport),
                        "dst": endpoint_text(dst, dport)}


def _conn_total(conn, field):
    other = conn.b
    return getattr(conn, field) + (getattr(other, field) if other is not None else 0)


# the orders of a page of the TCP table (first seen: the table's own order on a tie)
_TCP_ORDERS = {
    None: lambda item: item[1].first or 0,
    "packets": lambda item: -_conn_total(item[1], "packets"),
    "bytes": lambda item: -_conn_total(item[1], "bytes"),
}


def _by_flow_bytes(item):
    return -item[1][1]


def last_seen(conn):
    """When a connection last carried a packet, either way (each half keeps its own);
    None when its packets had no time (a pcapng simple packet block)."""
    last, other = conn.last, conn.b
    if other is not None and other.last is not None and (last is None or other.last > last):
        return other.last
    return last


def _conn_age(conn):
    return last_seen(conn) or 0


def _flow_age(flow):
    return flow[4] if flow[4] is not None else 0


def _seconds(ns):
    """Nanoseconds as seconds for JSON, to the microsecond (a float holds no more)."""
    return None if ns is None else round(ns / 1e9, 6)


def _half_json(half, idle, mac_text=_mac_text):
    if half is None:
        return {"packets": 0, "bytes": 0, "flags": "", "size": 0, "win": 0, "mac": None}
    if half.state == RESET:
        text = "RESET"
    elif half.state == CLOSED:
        text = "CLOSED"
    elif half.state == DONE:
        text = "DONE"
    elif idle:
        text = "IDLE"
    else:
        text = flags_text(half.flags)
    return {"packets": half.packets, "bytes": half.bytes, "flags": text, "size": half.size,
            "win": half.win, "mac": mac_text(half.mac)}


def _cached(fn):
    """``fn`` remembering its results, for one snapshot: its thousands of entries name a
    few interfaces, hosts and MACs (bounded by the tables it reads, dropped with it)."""
    results = {}
    get = results.get

    def cached(arg):
        text = get(arg)
        if text is None:
            text = results[arg] = fn(arg)
        return text
    return cached


def _host_text(addr):
    """An address as it goes before ':port': IPv6 in brackets."""
    return ("[%s]" if len(addr) == 16 else "%s") % _addr_text(addr)


def _ends_text(end):
    return _endpoint_or_mac(*end)


def _proto_name(proto):
    """An IP protocol number, or (ethertype, LLC DSAP) for a frame that is not IP."""
    if proto is None:
        return "IP"
    if isinstance(proto, tuple):
        ethertype, dsap = proto
        if ethertype is not None:
            return ethertype_name(ethertype)
        if dsap is not None:
            return LLC_SAP_NAMES.get(dsap, "LLC SAP 0x%02x" % dsap)
        return "non-IP"
    return ipproto_name(proto)


def _endpoint_or_mac(addr, port):
    if len(addr) in (4, 16):
        return endpoint_text(addr, port)
    return _mac_text(addr)


def log_entry_json(entry, name):
    """One entry of TrafficMonitor.log as JSON-able data (the `other` table, the logs)."""
    (ts, ifindex, size, proto, tunnel, src, dst, sport, dport, icmp_type, icmp_code,
     icmp6_type, icmp6_code, arp_op, arp_spa, arp_tpa, _) = entry
    if arp_op is not None:
        op = _ARP_OPS.get(arp_op, "op %d" % arp_op)
        if arp_spa is not None and arp_op in (1, 3):
            text = "ARP %s: who-has %s tell %s" % (op, _addr_text(arp_tpa), _addr_text(arp_spa))
        elif arp_spa is not None:
            text = "ARP %s: %s is-at %s" % (op, _addr_text(arp_spa), _mac_text(src))
        else:
            text = "ARP %s" % op
        kind = "ARP"
    elif tunnel is not None:
        kind = _TUNNELS.get(tunnel[0], ipproto_name(tunnel[0]))
        text = "%s carrying %s" % (kind, _proto_name(
            tunnel[1] if tunnel[1] is not None else proto))
    elif icmp_type is not None and proto == 1:
        kind, text = "ICMP", icmp_text(icmp_type, icmp_code)
    elif icmp6_type is not None and proto == 58:
        kind, text = "ICMPv6", icmp6_text(icmp6_type, icmp6_code)
    else:
        kind = text = _proto_name(proto)
    out = {"ts": _seconds(ts), "iface": name(ifindex), "proto": kind, "text": text,
           "bytes": size}
    if src is not None:
        out["src"] = _endpoint_or_mac(src, sport)
    if dst is not None:
        out["dst"] = _endpoint_or_mac(dst, dport)
    if tunnel is not None:
        _put_inner(out, tunnel)
    return out
