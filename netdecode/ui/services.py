"""The TCP/UDP service monitor screen (-s): one line per protocol and port, sortable,
with service names."""
from ..run.settings import parse_ports
from .text import fit, rate_text
from .view import View

__all__ = ["ServicesView"]


class ServicesView(View):
    name = "TCP/UDP service monitor"
    keys_help = "Up/Down/PgUp/PgDn/Home/End scroll  S sort  X exit"
    # iptraf-ng's keys; K, ours for packets before them, still works
    sorts = (("R", "port", "port"), ("P", "packets", "packets"), ("B", "bytes", "bytes"),
             ("T", "packets to", "packets_in"), ("O", "bytes to", "bytes_in"),
             ("F", "packets from", "packets_out"), ("M", "bytes from", "bytes_out"))
    sort_aliases = {"K": "P"}

    def draw(self, rows, cols):
        extra = parse_ports(self.app.settings.extra_ports)

        def shown(port):
            # iptraf's rule: ports below 1024 always, above only those asked for
            return port < 1024 or any(low <= port <= high for low, high in extra)
        ports = shown if extra else None
        snap = self.paged(lambda page: self.session.snapshot(page=page, ports=ports),
                          rows - 4)
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
        self.table(1, rows - 3, "%-15s %7s %9s %7s %9s %7s %9s %s" % (
            "Proto/Port", "Pkts", "Bytes", "PktsTo", "BytesTo", "PktsFrom", "BytesFrom",
            "Rate"), lines, paged=True)
        status = "Ports %d" % self.total
        other = snap.get("other_ports")
        if other and other["packets"]:
            status += " | Other ports %s pkts" % other["packets"]
        self.frame(rows, status)
