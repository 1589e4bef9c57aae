"""Flow export: the IP traffic monitor's flows to collectors, as IPFIX, NetFlow v9 or v5.

``FlowExport(traffic, targets)`` is a sink that goes after the ``TrafficMonitor``: it
reads the monitor's tables at each tick and never a packet, so that exporting costs the
packet loop nothing.  A flow is one direction (unidirectional, as NetFlow has them): a
TCP connection's half, or one of the monitor's other flows (UDP by ports, ICMP by type
and code, other IP protocols and tunnels by addresses).  Each record carries what was
counted since the previous record of that flow, so the records of a flow add up to
exactly what the monitor counted:

* octets: the IP header's lengths (IPv4 total length; IPv6 40 + payload length);
* TCP flags: the OR of the flags of the record's packets, in the one byte collectors read;
* flowStart/End: the first and last packet of the record, to the millisecond; a record
  that continues a flow starts where the previous record left off, to within a tick;
* flowEndReason (RFC 7012): 1 idle (``inactive`` seconds without a packet), 2 active
  (the flow has lasted ``active`` seconds: it goes on in a new record), 3 end of flow (a
  FIN or RST went that way), 4 forced end (the end of a file, or of the run), 5 lack of
  resources (the monitor's table was full and evicted it).

Records leave in UDP datagrams of at most 1400 bytes, through a non-blocking socket per
collector: a collector that is down costs a counted error (``stats``), never a wait or an
exit.  The templates go first, then again every 20 messages or 600 seconds of the
packets' time.
"""
import socket
import struct
import time

__all__ = ["FlowExport", "Target", "ExportError", "parse_target"]

MAX_DATAGRAM = 1400
TEMPLATE_EVERY_MESSAGES = 20
TEMPLATE_EVERY_NS = 600 * 10**9
_MS = 10**6

IDLE, ACTIVE, END_OF_FLOW, FORCED_END, LACK_OF_RESOURCES = 1, 2, 3, 4, 5
_DEFAULT_PORTS = {"ipfix": 4739, "netflow9": 2055, "netflow5": 2055}


class ExportError(ValueError):
    """A --export URL that cannot be used: the message is the user's one line."""


class Target:
    """One collector: the scheme, and where datagrams go."""

    def __init__(self, url, scheme, host, port, family, sockaddr):
        self.url, self.scheme, self.host, self.port = url, scheme, host, port
        self.family, self.sockaddr = family, sockaddr

    def __repr__(self):
        return "Target(%r)" % (self.url,)


def parse_target(url):
    """``ipfix://HOST:PORT``, ``netflow9://``, ``netflow5://`` (the port may be left out:
    4739 for IPFIX, 2055 for NetFlow; an IPv6 host goes in brackets) as a ``Target``,
    its host resolved now.  Raises ExportError."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _DEFAULT_PORTS:
        raise ExportError("--export %s: give ipfix://, netflow9:// or netflow5:// "
                          "HOST:PORT" % url)
    rest = rest.rstrip("/")
    if rest.startswith("["):
        host, bracket, port_text = rest[1:].partition("]")
        if not bracket or (port_text and not port_text.startswith(":")):
            raise ExportError("--export %s: an IPv6 host goes as [ADDRESS]:PORT" % url)
        port_text = port_text[1:]
    else:
        host, _, port_text = rest.rpartition(":") if ":" in rest else (rest, "", "")
    if not host:
        raise ExportError("--export %s: no host" % url)
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ExportError("--export %s: the port is a number from 1 to 65535" % url)
        port = int(port_text)
    else:
        port = _DEFAULT_PORTS[scheme]
    try:
        found = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    except (socket.gaierror, UnicodeError) as e:
        raise ExportError("--export %s: cannot resolve %s: %s"
                          % (url, host, getattr(e, "strerror", None) or e))
    family, _, _, _, sockaddr = found[0]
    return Target(url, scheme, host, port, family, sockaddr)


class _Record:
    """One flow record on its way out."""

    __slots__ = ("src", "dst", "sport", "dport", "proto", "packets", "octets", "flags",
                 "start", "end", "ifindex", "reason", "icmp")

    def __init__(self, src, dst, sport, dport, proto, packets, octets, flags, start, end,
                 ifindex, reason, icmp):
        self.src, self.dst, self.sport, self.dport = src, dst, sport, dport
        self.proto, self.packets, self.octets, self.flags = proto, packets, octets, flags
        self.start, self.end, self.ifindex = start, end, ifindex
        self.reason, self.icmp = reason, icmp

    def __repr__(self):
        return "_Record(proto=%d, packets=%d, octets=%d, reason=%d)" % (
            self.proto, self.packets, self.octets, self.reason)


class FlowExport:
    """The sink: flows of ``traffic`` (a flows.TrafficMonitor) to every target."""

    def __init__(self, traffic, targets, active=1800.0, inactive=15.0, warn=None):
        self.traffic = traffic
        self.active_ns = int(active * 1e9)
        self.inactive_ns = int(inactive * 1e9)
        self.exporters = [_EXPORTERS[t.scheme](t, warn) for t in targets]
        self.records = 0            # flow records made (each exporter sends them all)
        self._sent = {}             # id(direction) -> [direction, packets, octets, start]
        self._scanned = None        # the previous tick's time
        traffic.on_remove.append(self._removed)

    def __repr__(self):
        return "FlowExport(%s)" % ", ".join(e.target.url for e in self.exporters)

    def add(self, record):
        pass

    def feed(self, frames):
        pass

    def tick(self, now):
        """Records for the flows that ended, went idle or lasted the active timeout, and
        for the connections the monitor's tick just removed."""
        out = []
        for key, conn in self.traffic.expired:
            self._conn_records(key, conn, now, out, final=True)
        for key, conn in self.traffic.tcp.items():
            self._conn_records(key, conn, now, out, final=False)
        for key, flow in self.traffic.flows.items():
            self._flow_record(key, flow, now, out, final=False)
        self._scanned = now
        self._send(out, now)

    def close(self, now):
        """The end of the input (or of the run): every flow's last record goes out."""
        if now is None:
            return
        out = []
        for key, conn in self.traffic.tcp.items():
            self._conn_records(key, conn, now, out, final=True)
        for key, flow in self.traffic.flows.items():
            self._flow_record(key, flow, now, out, final=True)
        for exporter in self.exporters:
            exporter.paced = True
        self._send(out, now)
        for exporter in self.exporters:
            exporter.close()

    def snapshot(self):
        return {}

    def stats(self):
        """Per collector: its URL, records and datagrams sent, send errors (the JSON
        snapshot's ``export``)."""
        return [{"url": e.target.url, "records": e.records, "datagrams": e.datagrams,
                 "errors": e.errors, "skipped": e.skipped} for e in self.exporters]

    # the monitor's tables, read

    def _removed(self, table, gone, evicted):
        """The monitor dropped ``gone`` (key, entry) pairs of its ``table`` ("tcp" or
        "flows"), ``evicted`` from a full table (else flushed by the user): their last
        records go out now, as they can no longer be read at the next tick."""
        out = []
        now = self.traffic.now
        reason = LACK_OF_RESOURCES if evicted else None
        for key, entry in gone:
            if table == "tcp":
                self._conn_records(key, entry, now, out, True, reason)
            else:
                self._flow_record(key, entry, now, out, True, reason)
        self._send(out, now)

    def _conn_records(self, key, conn, now, out, final, reason=None):
        lo, hi, packed = key
        ifindex = packed >> 32
        lo_port, hi_port = packed >> 16 & 0xFFFF, packed & 0xFFFF
        a_is_lo = conn.marks & 1
        ends = ((lo, lo_port, hi, hi_port), (hi, hi_port, lo, lo_port))
        for half, (src, sport, dst, dport) in ((conn, ends[0 if a_is_lo else 1]),
                                               (conn.b, ends[1 if a_is_lo else 0])):
            if half is None:
                continue
            why = reason
            if why is None and half.state:
                why = END_OF_FLOW
            made = self._due(half, half.packets, half.octets, half.first, half.last, now,
                             final, why)
            if made is not None:
                packets, octets, start, why = made
                out.append(_Record(src, dst, sport, dport, 6, packets, octets,
                                   half.seen & 0xFF, start, half.last, ifindex, why, 0))
                half.seen = 0

    def _flow_record(self, key, flow, now, out, final, reason=None):
        ifindex, proto, src, sport, dst, dport = key
        if len(src) not in (4, 16) or not isinstance(proto, int):
            return                          # not IP: no flow record holds it
        made = self._due(flow, flow[0], flow[2], flow[3], flow[4], now, final, reason)
        if made is None:
            return
        packets, octets, start, why = made
        icmp = 0
        if sport is None and proto in (1, 58) and dport is not None:
            icmp, dport = dport, None
        out.append(_Record(src, dst, sport or 0, dport or 0, proto, packets, octets, 0,
                           start, flow[4], ifindex, why, icmp))

    def _due(self, direction, packets, octets, first, last, now, final, reason):
        """(packets, octets, start, reason) of the record ``direction`` owes now, or None:
        the counts since its previous record, when it has ended, gone idle or lasted
        the active timeout (or ``final``: the entry goes away)."""
        sent = self._sent.get(id(direction))
        if sent is not None and sent[0] is not direction:
            sent = None                     # an id reused by a new entry
        if sent is None:
            sent_packets = sent_octets = 0
            start = first
        else:
            _, sent_packets, sent_octets, start = sent
            if start is None and packets > sent_packets:
                # its first packet since the previous record came after the previous scan
                start = last if packets - sent_packets == 1 else self._scanned
                sent[3] = start
        new = packets - sent_packets
        if new <= 0:
            if final and sent is not None:
                del self._sent[id(direction)]
            return None
        if last is None or now is None:
            why = reason or FORCED_END
        elif reason is not None:
            why = reason
        elif now - last >= self.inactive_ns:
            why = IDLE
        elif start is not None and now - start >= self.active_ns:
            why = ACTIVE
        elif final:
            why = FORCED_END
        else:
            return None
        if final:
            self._sent.pop(id(direction), None)
        else:
            self._sent[id(direction)] = [direction, packets, octets, None]
        return new, octets - sent_octets, start if start is not None else last, why

    def _send(self, records, now):
        if not records:
            return
        self.records += len(records)
        for exporter in self.exporters:
            exporter.send(records, now)


# --- the wire formats -----------------------------------------------------------------------

class _Exporter:
    """One collector's socket, counters, and message framing; the formats below say how
    a header, a template and a record look."""

    max_records = None              # per message (NetFlow v5's fixed limit)
    paced = False                   # the last flush: a pause every PACE datagrams, so
    PACE = 32                       # that a collector's socket buffer keeps up
    def __init__(self, target, warn):
        self.target = target
        self.warn = warn
        self.records = self.datagrams = self.errors = 0
        self.skipped = 0            # records this format cannot carry (IPv6 in v5)
        self.messages = 0
        self._template_due = 0      # messages until the templates go again
        self._template_at = None    # when they last went (packets' time)
        self.boot = None            # NetFlow's "uptime" zero: a second before the first flow
        self.sock = socket.socket(target.family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        try:
            # connected: a collector that is not listening answers with an ICMP error,
            # which a later send reports (ECONNREFUSED), counted
            self.sock.connect(target.sockaddr)
        except OSError as e:
            self._failed(e)

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.target.url)

    def close(self):
        self.sock.close()

    def uptime(self, ns):
        """NetFlow's times: milliseconds since ``boot``, which falls on a whole second, so
        that the header's whole-second clock and its uptime give collectors back the
        packets' own times (0 would read as no time: boot is a second early)."""
        return max(0, ((ns or 0) - self.boot) // _MS) & 0xFFFFFFFF

    def send(self, records, now):
        """Every record, in as few datagrams as fit."""
        if self.boot is None:
            first = min([r.start for r in records if r.start is not None] + [now or 0])
            self.boot = (first // 10**9 - 1) * 10**9
        families = ([r for r in records if len(r.src) == 4],
                    [r for r in records if len(r.src) == 16])
        pending = []                # (family index, records left)
        for index, group in enumerate(families):
            if group and self.carries(index):
                pending.append([index, group])
            elif group:
                self.skipped += len(group)
        while pending:
            templates = self._templates_due(now)
            room = MAX_DATAGRAM - self.header_size - (
                self.template_size if templates else 0)
            sets = []
            count = 0
            while pending and room > self.set_header + self.record_size[pending[0][0]]:
                index, group = pending[0]
                fit = (room - self.set_header) // self.record_size[index]
                if self.max_records is not None:
                    fit = min(fit, self.max_records - count)
                if fit <= 0:
                    break
                taken, pending[0][1] = group[:fit], group[fit:]
                if not pending[0][1]:
                    pending.pop(0)
                sets.append((index, taken))
                count += len(taken)
                room -= self.set_header + len(taken) * self.record_size[index]
            body = self.templates() if templates else b""
            body += b"".join(self.data_set(index, taken, now) for index, taken in sets)
            self._emit(self.header(len(body), count, now, templates) + body, count)

    def _templates_due(self, now):
        if not self.has_templates:
            return False
        if (self._template_due <= 0 or self._template_at is None
                or (now is not None and now - self._template_at >= TEMPLATE_EVERY_NS)):
            self._template_due = TEMPLATE_EVERY_MESSAGES
            self._template_at = now
            return True
        return False

    def _emit(self, datagram, count):
        self.messages += 1
        self._template_due -= 1
        if self.paced and not self.messages % self.PACE:
            time.sleep(0.001)
        try:
            self.sock.send(datagram)
            self.datagrams += 1
            self.records += count
        except OSError as e:
            self._failed(e)

    def _failed(self, error):
        if not self.errors and self.warn is not None:
            self.warn("export to %s: %s (counted; the capture goes on)"
                      % (self.target.url, error.strerror or error))
        self.errors += 1

    def carries(self, family_index):
        return True


# Information elements (RFC 7012) and their lengths, in the order of the records:
# octetDeltaCount, packetDeltaCount, the start and end (flowStart/EndMilliseconds for
# IPFIX, First/LastSwitched uptimes for v9), the source and destination addresses,
# ingressInterface, the ports, icmpTypeCode, protocolIdentifier, tcpControlBits (the
# one-byte form collectors read), flowEndReason
def _fields(times, family, icmp6):
    src, dst, size, icmp = ((8, 12, 4, 32), (27, 28, 16, icmp6))[family]
    return ((1, 8), (2, 8)) + times + ((src, size), (dst, size), (10, 4), (7, 2), (11, 2),
                                       (icmp, 2), (4, 1), (6, 1), (136, 1))


class _Templated(_Exporter):
    """What IPFIX and NetFlow v9 share: a template per address family (256 for IPv4,
    257 for IPv6), sets of records that follow them."""

    has_templates = True
    set_header = 4
    template_set_id = None
    times = None                    # ((start IE, length), (end IE, length))
    icmp6 = None                    # the IE of ICMPv6's type and code
    formats = None                  # struct formats of an IPv4 and an IPv6 record

    def __init__(self, target, warn):
        _Exporter.__init__(self, target, warn)
        self.structs = [struct.Struct(f) for f in self.formats]
        self.record_size = [s.size for s in self.structs]
        self.template_size = len(self.templates())

    def templates(self):
        sets = b""
        for family in (0, 1):
            fields = _fields(self.times, family, self.icmp6)
            sets += struct.pack("!HH", 256 + family, len(fields)) + b"".join(
                struct.pack("!HH", ie, length) for ie, length in fields)
        return struct.pack("!HH", self.template_set_id, 4 + len(sets)) + sets

    def data_set(self, index, records, now):
        pack = self.structs[index].pack
        body = b"".join(pack(min(r.octets, 2**64 - 1), min(r.packets, 2**64 - 1),
                             self.when(r.start, now), self.when(r.end, now), r.src, r.dst,
                             r.ifindex or 0, r.sport, r.dport, r.icmp, r.proto, r.flags,
                             r.reason)
                        for r in records)
        return struct.pack("!HH", 256 + index, 4 + len(body)) + body


class IpfixExporter(_Templated):
    """IPFIX (RFC 7011): version 10; the sequence number counts the data records sent
    before the message."""

    header_size = 16
    template_set_id = 2
    times = ((152, 8), (153, 8))
    icmp6 = 139                     # icmpTypeCodeIPv6
    formats = ("!QQQQ4s4sIHHHBBB", "!QQQQ16s16sIHHHBBB")

    def __init__(self, target, warn):
        _Templated.__init__(self, target, warn)
        self.sequence = 0

    def header(self, body_size, count, now, templates):
        out = struct.pack("!HHIII", 10, self.header_size + body_size,
                          (now or 0) // 10**9 & 0xFFFFFFFF, self.sequence & 0xFFFFFFFF, 0)
        self.sequence += count
        return out

    def when(self, ns, now):
        return (ns or 0) // _MS


class NetflowV9Exporter(_Templated):
    """NetFlow v9 (RFC 3954): times as milliseconds of "uptime" since the run's first
    packet; the sequence number counts the export packets."""

    header_size = 20
    template_set_id = 0
    times = ((22, 4), (21, 4))      # FIRST_SWITCHED, LAST_SWITCHED
    icmp6 = 32                      # ICMP_TYPE: v9 has one for both families
    formats = ("!QQII4s4sIHHHBBB", "!QQII16s16sIHHHBBB")

    def header(self, body_size, count, now, templates):
        seconds = (now or 0) // 10**9
        return struct.pack("!HHIIII", 9, count + (2 if templates else 0),
                           self.uptime(seconds * 10**9), seconds, self.messages & 0xFFFFFFFF,
                           0)

    def when(self, ns, now):
        return self.uptime(ns)


class NetflowV5Exporter(_Exporter):
    """NetFlow v5: IPv4 only (IPv6 records are counted as skipped), at most 30 records
    of 48 bytes a packet (28 here, to stay within 1400 bytes), 32-bit counters (a record
    over 4 GiB goes as several), ICMP's type and code in the destination port."""

    has_templates = False
    header_size = 24
    set_header = 0
    template_size = 0
    max_records = 28
    _RECORD = struct.Struct("!4s4s4sHHIIIIHHxBBBHHBBxx")
    record_size = [_RECORD.size, _RECORD.size]

    def __init__(self, target, warn):
        _Exporter.__init__(self, target, warn)
        self.flows = 0

    def carries(self, family_index):
        return family_index == 0

    def send(self, records, now):
        _Exporter.send(self, _split_32bit(records), now)

    def header(self, body_size, count, now, templates):
        seconds = (now or 0) // 10**9
        out = struct.pack("!HHIIIIBBH", 5, count, self.uptime(seconds * 10**9), seconds, 0,
                          self.flows & 0xFFFFFFFF, 0, 0, 0)
        self.flows += count
        return out

    def data_set(self, index, records, now):
        pack = self._RECORD.pack
        return b"".join(pack(r.src, r.dst, b"\0\0\0\0", (r.ifindex or 0) & 0xFFFF, 0,
                             r.packets, r.octets, self.uptime(r.start), self.uptime(r.end),
                             r.sport, r.icmp or r.dport, r.flags, r.proto, 0, 0, 0, 0, 0)
                        for r in records)


def _split_32bit(records):
    """Records whose counts fit NetFlow v5's 32 bits: a bigger one goes as several."""
    limit = 0xFFFFFFFF
    out = []
    for r in records:
        while r.packets > limit or r.octets > limit:
            packets, octets = min(r.packets, limit), min(r.octets, limit)
            out.append(_Record(r.src, r.dst, r.sport, r.dport, r.proto, packets, octets,
                               r.flags, r.start, r.end, r.ifindex, r.reason, r.icmp))
            r = _Record(r.src, r.dst, r.sport, r.dport, r.proto, r.packets - packets,
                        r.octets - octets, r.flags, r.start, r.end, r.ifindex, r.reason,
                        r.icmp)
        out.append(r)
    return out


_EXPORTERS = {"ipfix": IpfixExporter, "netflow9": NetflowV9Exporter,
              "netflow5": NetflowV5Exporter}
