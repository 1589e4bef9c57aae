"""The TCP/UDP service monitor screen (-s): one line per protocol and port, sortable,
with service names, and the selected port's total, incoming and outgoing rates."""
from ..run.settings import parse_ports
from .text import fit, rate_text
from .view import View

__all__ = ["ServicesView"]


class ServicesView(View):
    name = "TCP/UDP service monitor"
    short = "TCP/UDP services"
    frozen = 16                 # the label column stays when scrolled sideways
    steps = (8, 10) * 3
    keys_help = "Up/Down select  PgUp/PgDn/Home/End scroll  S sort  X exit"
    # iptraf-ng's keys; K, ours for packets before them, still works
    sorts = (("R", "port", "port"), ("P", "packets", "packets"), ("B", "bytes", "bytes"),
             ("T", "packets to", "packets_in"), ("O", "bytes to", "bytes_in"),
             ("F", "packets from", "packets_out"), ("M", "bytes from", "bytes_out"))
    sort_aliases = {"K": "P"}

    def __init__(self, app, session):
        View.__init__(self, app, session)
        self.cursor = 0             # the selected row

    def scroll(self, key):
        moved = self.moved(key, self.cursor, self.page, self.total - 1)
        if moved is None:
            return False
        self.cursor = moved
        return True

    def draw(self, rows, cols):
        extra = parse_ports(self.app.settings.extra_ports)

        def shown(port):
            # iptraf's rule: ports below 1024 always, above only those asked for
            return port < 1024 or any(low <= port <= high for low, high in extra)
        ports = shown if extra else None
        count = rows - 5            # less a line for the selected port's rates
        # the page that holds the cursor, fetched again if the table's length moved it
        while True:
            self.cursor = max(0, min(self.cursor, self.total - 1))
            self.top = min(self.top, self.cursor)
            self.top = max(self.top, self.cursor - max(1, count) + 1)
            total = self.total
            snap = self.paged(lambda page: self.session.snapshot(page=page, ports=ports),
                              count)
            if self.total == total:
                break
        unit = self.unit()
        names = self.app.names
        lines = []
        for row in snap["services"]:
            service = names.service(row["port"], row["proto"])
            label = "%s/%d" % (row["proto"].upper(), row["port"])
            if service:
                label += " " + service
            lines.append("%-15s %7s %9s %7s %9s %7s %9s %s" % (
                label[:15], fit(row["packets"], 7), fit(row["bytes"], 9),
                fit(row["in"]["packets"], 7), fit(row["in"]["bytes"], 9),
                fit(row["out"]["packets"], 7), fit(row["out"]["bytes"], 9),
                rate_text(row["rate"]["bps"], unit)))
        self.table(1, rows - 4, "%-15s %7s %9s %7s %9s %7s %9s %s" % (
            "Proto/Port", "Pkts", "Bytes", "PktsTo", "BytesTo", "PktsFrom", "BytesFrom",
            "Rate"), lines, paged=True)
        selected = self.cursor - self.top
        if 0 <= selected < len(lines):
            self.app.put(2 + selected, 0, self.shifted(lines[selected]).ljust(cols), "select")
            row = snap["services"][selected]
            # iptraf-ng's line under the table: the selected port's rates
            self.app.put(rows - 3, 0, "%s/%d: %s total, %s to, %s from" % (
                row["proto"].upper(), row["port"], rate_text(row["rate"]["bps"], unit),
                rate_text(row["in"]["bps"], unit), rate_text(row["out"]["bps"], unit)))
        status = "Ports %d" % self.total
        other = snap.get("other_ports")
        if other and other["packets"]:
            status += " | Other ports %s pkts" % other["packets"]
        self.frame(rows, status)
