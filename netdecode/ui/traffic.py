"""The IP traffic monitor screen (-i): TCP connections above, two bracketed lines each,
and the other traffic below, as a log or aggregated per address pair."""
from .text import fit, fit_endpoint, lookup_note, owner_text, rate_text
from .view import RateMeter, View

__all__ = ["TrafficView", "alert_text"]


def _half_bytes(conn):
    return conn["a_to_b"]["bytes"] + conn["b_to_a"]["bytes"]


class TrafficView(View):
    """The IP traffic monitor: TCP connections above, two lines each (one a direction),
    bracketed; everything else below, as a log or aggregated per address pair."""

    name = "IP traffic monitor"
    short = "IP traffic"
    keys_help = "Up/Dn/PgUp/PgDn  W pane  M more  S sort  F flush  A aggr  P procs  X exit"
    sorts = (("P", "packets", "packets"), ("B", "bytes", "bytes"))
    _MODES = (
        (("Packets", 9), ("Bytes", 11), ("Flag", 7), ("Iface", 8)),
        (("Packets", 9), ("Pktsize", 8), ("Win", 7), ("Flag", 7), ("Iface", 8)),
        (("Packets", 9), ("Source MAC", 17), ("Iface", 8)),
    )
    _PROCESS = ("Process", 18)     # the P column: the program of a local end

    def __init__(self, app, session):
        View.__init__(self, app, session)
        self.mode = 2 if app.settings.source_mac else 0
        self.pane = 0               # 0 TCP, 1 other
        self.cursor = 0             # the selected connection
        self.other_top = None       # None: follow the newest
        self.other_page = self.other_total = 1
        self.aggregate = False
        self.processes = False      # the process column shown
        self.flow = RateMeter()     # the selected connection's rate

    def command(self, letter, key):
        if letter == "M":
            self.mode = (self.mode + 1) % len(self._MODES)
        elif letter == "W" or key == 9:
            self.pane ^= 1
        elif letter == "F":
            self.session.sink.flush_closed()
        elif letter == "A":
            self.aggregate = not self.aggregate
            self.other_top = None
        elif letter == "P":
            self.processes = not self.processes

    def scroll(self, key):
        if self.pane == 0:
            moved = self.moved(key, self.cursor, self.page, self.total - 1)
            if moved is None:
                return False
            self.cursor = moved
            return True
        last = max(0, self.other_total - self.other_page)
        moved = self.moved(key, self.other_start(), self.other_page, last)
        if moved is None:
            return False
        # the log follows its newest lines again once scrolled back to them
        self.other_top = None if moved >= last and not self.aggregate else moved
        return True

    def draw(self, rows, cols):
        app = self.app
        content = rows - 4             # less the title, the heading, status and help
        upper = max(2, content * 2 // 3 // 2 * 2)
        lower = content - upper
        snap = self.fetch(upper // 2, lower - 1)
        conns = snap["tcp"]
        columns = self._MODES[self.mode] + ((self._PROCESS,) if self.processes else ())
        # a narrow terminal drops the columns from the right before the address
        # column gets narrower than an IPv4 address and port
        while len(columns) > 1 and cols - 2 - sum(w + 1 for _, w in columns) < 21:
            columns = columns[:-1]
        right = sum(width + 1 for _, width in columns)
        ends = max(12, cols - 2 - right)
        heading = "TCP Connections (Source Host:Port)"[:ends].ljust(ends) + "".join(
            " " + (label.rjust(w) if label in ("Packets", "Bytes", "Pktsize", "Win")
                   else label.ljust(w)) for label, w in columns)
        app.put(1, 0, " " + heading, "heading" if self.pane == 0 else "text")
        for i, conn in enumerate(conns):
            selected = self.top + i == self.cursor
            style = "select" if selected and self.pane == 0 else "text"
            for j, (end, half) in enumerate(((conn["a"], conn["a_to_b"]),
                                             (conn["b"], conn["b_to_a"]))):
                y = 2 + 2 * i + j
                self.bracket(y, j == 0, style)
                app.put(y, 1, self.tcp_line(conn, end, half, j == 0, ends, columns), style)
        rate = self.selected_rate(conns, snap["ts"])
        self.draw_other(snap, 2 + upper, lower)
        status = "Flow %s | TCP %d Other %d" % (rate_text(rate, self.unit()), self.total,
                                                self.other_total)
        note = lookup_note(snap.get("process_lookup")) if self.processes else None
        self.frame(rows, status if note is None else status + " | " + note)

    def fetch(self, page, other_page):
        """The snapshot with the page of connections that holds the cursor (and, when
        aggregated, the page of flows shown); fetched again when the table's length,
        changed since the last draw, moves the page."""
        self.page, self.other_page = max(1, page), max(1, other_page)
        while True:
            self.cursor = max(0, min(self.cursor, self.total - 1))
            if self.cursor < self.top:
                self.top = self.cursor
            elif self.cursor >= self.top + self.page:
                self.top = self.cursor - self.page + 1
            self.top = max(0, min(self.top, self.total - self.page))
            other_top = self.other_start()
            other = (None, other_top, self.other_page)
            none = (None, 0, 0)
            snap = self.session.snapshot(
                tcp_page=(self.order(), self.top, self.page),
                flows_page=other if self.aggregate else none,
                other_page=none if self.aggregate else other)
            total = snap["tcp_total"]
            other_total = snap["flows_total" if self.aggregate else "other_total"]
            if (total, other_total) == (self.total, self.other_total):
                return snap
            self.total, self.other_total = total, other_total

    def other_start(self):
        """The first line of the lower pane: the newest page of the log unless the user
        scrolled; the top of the flows, largest first."""
        last = max(0, self.other_total - self.other_page)
        if self.other_top is None:
            return 0 if self.aggregate else last
        return min(self.other_top, last)

    def bracket(self, y, first, style):
        curses = self.app.curses
        char = curses.ACS_ULCORNER if first else curses.ACS_LLCORNER
        try:
            self.app.scr.addch(y, 0, char, self.app.styles[style])
        except curses.error:
            pass

    def tcp_line(self, conn, end, half, first, ends, columns):
        names = self.app.names
        cells = []
        for label, width in columns:
            if label == "Packets":
                # iptraf-ng's marks: > under way when capture began, = seen from its SYN
                mark = ("> " if conn["under_way"] else "= ") if first else ""
                cells.append((mark + fit(half["packets"], width - len(mark))).rjust(width))
            elif label == "Bytes":
                cells.append(fit(half["bytes"], width).rjust(width))
            elif label == "Flag":
                cells.append(half["flags"].ljust(width))
            elif label == "Iface":
                cells.append(str(conn["iface"])[:width].ljust(width))
            elif label == "Pktsize":
                cells.append(str(half["size"]).rjust(width))
            elif label == "Win":
                cells.append(str(half["win"]).rjust(width))
            elif label == "Process":
                owner = conn.get("a_process" if first else "b_process")
                cells.append(owner_text(owner)[:width].ljust(width))
            else:
                cells.append(names.mac(half["mac"])[:width].ljust(width))
        return (fit_endpoint(names.endpoint(end, "tcp"), ends).ljust(ends)
                + "".join(" " + c for c in cells))

    def selected_rate(self, conns, ts):
        """The selected connection's rate (iptraf's TCP flow rate) in bits/s, over the
        rate window as the facilities' rates are (else since the last draw)."""
        if not conns or ts is None:
            return 0.0
        conn = conns[self.cursor - self.top]
        return self.flow.rates((conn["a"], conn["b"], conn["iface"]), ts,
                               (_half_bytes(conn),), self.app.settings.rate_window)[0]

    def draw_other(self, snap, y, height):
        app = self.app
        if self.aggregate:
            entries = snap["flows"]
            heading = "Other traffic by address pair (%d)" % self.other_total
        else:
            entries = snap["other"]
            heading = "Other traffic (%d, newest last)" % self.other_total
        app.put(y, 0, " " + heading, "heading" if self.pane == 1 else "text")
        alert = alert_text(snap["alerts"])
        if alert:
            app.put(y, len(heading) + 3, alert, "alert")
        groups = []
        for entry in entries:
            group = [self.other_line(entry)]
            inner = entry.get("inner")
            if inner is not None:
                group.append("  inside " + self.inner_text(inner))
            groups.append(group)
        # the detail lines take room: the log keeps its newest entries, the flows their
        # top ones, each whole
        following = not self.aggregate and self.other_top is None
        lines = []
        for group in reversed(groups) if following else groups:
            if len(lines) + len(group) > height - 1:
                break
            lines = group + lines if following else lines + group
        for i, line in enumerate(lines):
            app.put(y + 1 + i, 0, " " + line)

    def other_line(self, entry):
        """An entry of the log, or a flow, as one line."""
        names = self.app.names
        proto = _service_proto(entry["proto"])
        if self.aggregate:
            return "%-8s %s <-> %s  %s pkts  %s bytes  on %s" % (
                entry["proto"], names.endpoint(entry["a"], proto),
                names.endpoint(entry["b"], proto), entry["packets"], entry["bytes"],
                entry["iface"])
        text = entry["text"]
        if not text.startswith(entry["proto"]):
            text = "%s %s" % (entry["proto"], text)
        line = "%s (%d bytes)" % (text, entry["bytes"])
        if "src" in entry:
            line += " from " + names.endpoint(entry["src"], proto)
        if "dst" in entry:
            line += " to " + names.endpoint(entry["dst"], proto)
        return line + " on %s" % entry["iface"]

    def inner_text(self, inner):
        """What a tunnel carries: 'VXLAN: TCP 10.0.0.1:40001 to 10.0.0.2:http', the ends
        named as the screen names them."""
        names = self.app.names
        service = _service_proto(inner["proto"])
        return "%s: %s %s to %s" % (inner["tunnel"], inner["proto"],
                                    names.endpoint(inner["src"], service),
                                    names.endpoint(inner["dst"], service))


def _service_proto(proto):
    """The protocol whose service names a port takes ('tcp', 'udp'), else None."""
    proto = proto.lower()
    return proto if proto in ("udp", "tcp") else None


_ATTACKS = ("syn-flood", "icmp-flood", "port-scan", "host-sweep")
_WHAT = {"syn-flood": "SYNs", "icmp-flood": "echo requests", "port-scan": "ports",
         "host-sweep": "hosts"}


def alert_text(alerts):
    """The heading's alert: the newest attack, the active ones first ('ALERT syn-flood
    to 10.0.0.2:80 active, 5000 SYNs from 4996 sources (+1)'); '' for none."""
    attacks = [a for a in alerts if a["kind"] in _ATTACKS]
    if not attacks:
        return ""
    active = [a for a in attacks if a["state"] == "active"]
    alert = (active or attacks)[-1]
    where = alert.get("dst", "")
    if "port" in alert:
        where = ("[%s]:%d" if ":" in where else "%s:%d") % (where, alert["port"]) if where \
            else "port %d" % alert["port"]
    text = "ALERT %s %s%s %s, %d %s" % (
        alert["kind"], "from %s " % alert["src"] if "src" in alert else "",
        ("to " + where) if where else "", alert["state"], alert["count"], _WHAT[alert["kind"]])
    if "sources" in alert:
        text += " from %d sources" % alert["sources"]
    if len(attacks) > 1:
        text += " (+%d)" % (len(attacks) - 1)
    return text
