"""The Prometheus endpoint: ``--metrics [HOST:]PORT`` serves the run's counters as text.

``Metrics(run_monitor, facility_sink, name)`` is a sink: its lane counts every frame per
interface and direction (one pass over the frames' tuples, no header read), and the
rest comes from what the facility and the monitor already count.  ``MetricsServer``
answers GET and HEAD on /metrics (404 elsewhere) from a thread of stdlib http.server;
the text is made there, from copies of the counters taken whole (a dict copied by
``list()`` cannot change under the copy), so a scrape never stops the packet loop and
never sees a table half-updated.

Series (Prometheus text format 0.0.4, every name with HELP and TYPE, no label per
connection or address):

* ``iptraf_interface_{receive,transmit}_{packets,bytes}_total{device}``, named as
  node_exporter names its own; a frame of unknown direction (a pcap without it) counts
  as received;
* ``iptraf_capture_{packets,dropped,filtered}_total``: the frames seen, those the kernel
  dropped, those the filter turned away;
* ``iptraf_protocol_{packets,bytes}_total{protocol}``, from the facilities that count
  protocols: -d (ipv4, ipv6, tcp, udp, icmp, icmpv6, other_ip, non_ip), -g (ipv4, ipv6,
  non_ip) and -i (by IP protocol, from its tables: what they hold and what left them);
* -i: ``iptraf_tcp_connections`` and ``iptraf_flows`` (tracked now),
  ``iptraf_{tcp_connections,flows}_evicted_total``, ``iptraf_alerts_total{kind}``;
* with --export: ``iptraf_export_{records,datagrams,errors}_total{collector}``.
"""
import socket
import threading

try:                            # 3.7+
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
except ImportError:             # 3.6
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from socketserver import ThreadingMixIn

    class ThreadingHTTPServer(ThreadingMixIn, HTTPServer):
        daemon_threads = True

from ..decoding.packet import ipproto_name

__all__ = ["Metrics", "MetricsServer", "MetricsError", "parse_address", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_OUTGOING = 4                   # PACKET_OUTGOING


class MetricsError(ValueError):
    """A --metrics address that cannot be used: the user's one line."""


def parse_address(text):
    """``PORT``, ``HOST:PORT`` or ``[IPV6]:PORT`` as (host, port); the host defaults to
    127.0.0.1 (serving every address is a choice: ``0.0.0.0:PORT``)."""
    host, port = "127.0.0.1", text
    if text.startswith("["):
        inner, bracket, rest = text[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise MetricsError("--metrics %s: an IPv6 host goes as [ADDRESS]:PORT" % text)
        host, port = inner, rest[1:]
    elif ":" in text:
        host, port = text.rsplit(":", 1)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise MetricsError("--metrics %s: give [HOST:]PORT, the port from 1 to 65535" % text)
    return host or "127.0.0.1", int(port)


class Metrics:
    """The sink that counts per interface and direction; ``text()`` the whole page."""

    def __init__(self, monitor, facility, sink, interface_name, export=None):
        self.monitor, self.facility, self.sink = monitor, facility, sink
        self.interface_name = interface_name
        self.export = export
        self.interfaces = {}        # ifindex -> [in packets, in bytes, out packets, out bytes]
        self.removed = {}           # -i: protocol -> [packets, bytes] that left its tables
        if facility == "traffic":
            sink.on_remove.append(self._removed)

    def __repr__(self):
        return "Metrics(%r)" % (self.facility,)

    def feed(self, frames):
        """Per run of frames from one interface (a whole chunk, when capturing one):
        the sums in locals, written once (a third of the cost of updating the row for
        each frame)."""
        rows = self.interfaces
        while frames:
            ifindex = frames[0][1]
            in_bytes = out_packets = out_bytes = 0
            count = len(frames)
            for _, index, pkttype, _, _, n in frames:
                if index != ifindex:
                    count = next(i for i, frame in enumerate(frames) if frame[1] != ifindex)
                    break
                if pkttype == _OUTGOING:
                    out_packets += 1
                    out_bytes += n
                else:
                    in_bytes += n
            row = rows.get(ifindex)
            if row is None:
                row = rows[ifindex] = [0, 0, 0, 0]
            row[0] += count - out_packets
            row[1] += in_bytes
            row[2] += out_packets
            row[3] += out_bytes
            frames = frames[count:]

    def add(self, record):
        self.feed((record[:6],))

    def tick(self, now):
        if self.facility == "traffic":
            self._removed("tcp", self.sink.expired, False)

    def snapshot(self):
        return {}

    def _removed(self, table, gone, evicted):
        """What left the -i tables, so that its protocol counters never go down."""
        removed = self.removed
        for key, entry in gone:
            if table == "tcp":
                proto = 6
                packets, size = entry.packets, entry.bytes
                if entry.b is not None:
                    packets += entry.b.packets
                    size += entry.b.bytes
            else:
                proto, packets, size = key[1], entry[0], entry[1]
            total = removed.get(proto)
            if total is None:
                total = removed[proto] = [0, 0]
            total[0] += packets
            total[1] += size

    # the page

    def text(self):
        out = []
        monitor = self.monitor
        name = self.interface_name
        rows = sorted(list(self.interfaces.items()), key=lambda item: (item[0] is None,
                                                                       item[0]))
        for index, (metric, help_text) in enumerate((
                ("iptraf_interface_receive_packets_total",
                 "Frames received (or of unknown direction) on the interface."),
                ("iptraf_interface_receive_bytes_total",
                 "Bytes of the frames received, link header included."),
                ("iptraf_interface_transmit_packets_total", "Frames sent on the interface."),
                ("iptraf_interface_transmit_bytes_total",
                 "Bytes of the frames sent, link header included."))):
            _family(out, metric, "counter", help_text,
                    [({"device": _device(name, ifindex)}, row[index])
                     for ifindex, row in rows])
        _family(out, "iptraf_capture_packets_total", "counter",
                "Frames seen by the monitor, before the filter.", [({}, monitor.packets)])
        _family(out, "iptraf_capture_dropped_total", "counter",
                "Frames the kernel dropped before the monitor could read them.",
                [({}, monitor.dropped)])
        _family(out, "iptraf_capture_filtered_total", "counter",
                "Frames the filter turned away.", [({}, monitor.filtered)])
        protocols = self._protocols()
        if protocols is not None:
            _family(out, "iptraf_protocol_packets_total", "counter",
                    "Packets by protocol, as the facility counts them.",
                    [({"protocol": p}, packets) for p, (packets, _) in protocols])
            _family(out, "iptraf_protocol_bytes_total", "counter",
                    "Bytes by protocol (frame bytes), as the facility counts them.",
                    [({"protocol": p}, size) for p, (_, size) in protocols])
        if self.facility == "traffic":
            self._traffic(out)
        if self.export is not None:
            stats = self.export.stats()
            for key, help_text in (("records", "Flow records sent to the collector."),
                                   ("datagrams", "Datagrams sent to the collector."),
                                   ("errors", "Datagrams the collector could not be sent.")):
                _family(out, "iptraf_export_%s_total" % key, "counter", help_text,
                        [({"collector": s["url"]}, s[key]) for s in stats])
        return "".join(out)

    def _protocols(self):
        """[(protocol name, (packets, bytes))], or None for a facility without them."""
        if self.facility == "detailed":
            counts = _retrying(self.sink.snapshot)["counts"]
            return [(p, (counts[key]["packets"], counts[key]["bytes"]))
                    for p, key in (("ipv4", "ipv4"), ("ipv6", "ipv6"), ("tcp", "tcp"),
                                   ("udp", "udp"), ("icmp", "icmp"), ("icmpv6", "icmpv6"),
                                   ("other_ip", "other_ip"), ("non_ip", "nonip"))]
        if self.facility == "general":
            totals = {"ipv4": [0, 0], "ipv6": [0, 0], "non_ip": [0, 0]}
            for row in _retrying(self.sink.snapshot)["interfaces"]:
                for p, key in (("ipv4", "ipv4"), ("ipv6", "ipv6"), ("non_ip", "nonip")):
                    totals[p][0] += row[key]["packets"]
                    totals[p][1] += row[key]["bytes"]
            return [(p, tuple(totals[p])) for p in ("ipv4", "ipv6", "non_ip")]
        if self.facility == "traffic":
            totals = {}
            for proto, (packets, size) in list(self.removed.items()):
                totals[proto] = [packets, size]
            tcp = totals.setdefault(6, [0, 0])
            for conn in list(self.sink.tcp.values()):
                other = conn.b
                tcp[0] += conn.packets + (other.packets if other is not None else 0)
                tcp[1] += conn.bytes + (other.bytes if other is not None else 0)
            for key, flow in list(self.sink.flows.items()):
                total = totals.setdefault(key[1], [0, 0])
                total[0] += flow[0]
                total[1] += flow[1]
            named = {}
            for proto, (packets, size) in totals.items():
                label = _protocol_label(proto)
                kept = named.setdefault(label, [0, 0])
                kept[0] += packets
                kept[1] += size
            return sorted((label, tuple(v)) for label, v in named.items())
        return None

    def _traffic(self, out):
        sink = self.sink
        _family(out, "iptraf_tcp_connections", "gauge", "TCP connections tracked now.",
                [({}, len(sink.tcp))])
        _family(out, "iptraf_flows", "gauge", "Other flows (one direction each) tracked now.",
                [({}, len(sink.flows))])
        _family(out, "iptraf_tcp_connections_evicted_total", "counter",
                "TCP connections evicted from the full table.", [({}, sink.evicted_tcp)])
        _family(out, "iptraf_flows_evicted_total", "counter",
                "Flows evicted from the full table.", [({}, sink.evicted_flows)])
        _family(out, "iptraf_alerts_total", "counter", "Alerts raised, by kind.",
                [({"kind": kind}, count) for kind, count in sorted(sink.alert_counts().items())])


def _protocol_label(proto):
    if isinstance(proto, int):
        return ipproto_name(proto).lower().replace(" ", "_").replace("-", "_")
    return "non_ip"


def _device(name, ifindex):
    if ifindex is None:
        return "unknown"
    return name(ifindex) or "if%d" % ifindex


def _retrying(snapshot, attempts=5):
    """A facility's snapshot taken from the server's thread: a table that grows while
    it is read (a new interface) makes it start over."""
    for _ in range(attempts - 1):
        try:
            return snapshot()
        except RuntimeError:
            continue
    return snapshot()


def _family(out, name, kind, help_text, samples):
    out.append("# HELP %s %s\n# TYPE %s %s\n" % (name, help_text, name, kind))
    for labels, value in samples:
        if labels:
            text = ",".join('%s="%s"' % (k, _escape(v)) for k, v in sorted(labels.items()))
            out.append("%s{%s} %d\n" % (name, text, value))
        else:
            out.append("%s %d\n" % (name, value))


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class MetricsServer:
    """/metrics over HTTP, served from daemon threads until ``close()``."""

    def __init__(self, metrics, host, port):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("Server", (ThreadingHTTPServer,), {
            "address_family": family, "daemon_threads": True, "allow_reuse_address": True})
        self.server = server_class((host, port), _handler(metrics))
        self.address = self.server.server_address[:2]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       name="iptraf-metrics", daemon=True)
        self.thread.start()

    def __repr__(self):
        return "MetricsServer(%s:%d)" % self.address

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _handler(metrics):
    class Handler(BaseHTTPRequestHandler):
        server_version = "iptraf.py"

        def do_GET(self):
            self._answer(True)

        def do_HEAD(self):
            self._answer(False)

        def _answer(self, with_body):
            if self.path.split("?", 1)[0] != "/metrics":
                body, status, kind = b"not found: try /metrics\n", 404, "text/plain"
            else:
                body, status, kind = metrics.text().encode(), 200, CONTENT_TYPE
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def log_message(self, *args):
            pass                # no line per scrape on the terminal
    return Handler
