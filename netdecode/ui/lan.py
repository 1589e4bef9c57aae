"""The LAN station monitor screen (-l): two lines per MAC address, sortable."""
from .text import fit, rate_text
from .view import View

__all__ = ["LanView"]


_LAN_COLUMNS = "  %7s %7s %9s %11s %7s %7s %9s %11s"


class LanView(View):
    name = "LAN station monitor"
    short = "LAN stations"
    keys_help = "Up/Down/PgUp/PgDn/Home/End scroll  S sort  X exit"
    sorts = (("P", "packets in", "packets_in"), ("I", "IP packets in", "ip_in"),
             ("B", "bytes in", "bytes_in"), ("K", "packets out", "packets_out"),
             ("O", "IP packets out", "ip_out"), ("Y", "bytes out", "bytes_out"),
             ("M", "address", "mac"))

    steps = (9, 8, 10, 12, 8, 8, 10, 12)

    def shifted(self, line):
        # a station's address line stays whole; its counts line scrolls sideways
        return View.shifted(self, line) if line.startswith(" ") else line

    def draw(self, rows, cols):
        # two lines a station
        snap = self.paged(lambda page: self.session.snapshot(page=page),
                          (rows - 4) // 2)
        unit = self.unit()
        names = self.app.names
        lines = []
        for row in snap["stations"]:
            i, o = row["in"], row["out"]
            described = names.mac(row["mac"])
            address = row["mac"] if described == row["mac"] else "%s (%s)" % (
                row["mac"], described)
            lines.append("%s on %s" % (address, row["iface"]))
            lines.append(_LAN_COLUMNS % (
                fit(i["packets"], 7), fit(i["ip_packets"], 7), fit(i["bytes"], 9),
                rate_text(i["bps"], unit), fit(o["packets"], 7), fit(o["ip_packets"], 7),
                fit(o["bytes"], 9), rate_text(o["bps"], unit)))
        self.table(1, rows - 3, _LAN_COLUMNS % (
            "PktsIn", "IP In", "BytesIn", "InRate", "PktsOut", "IP Out", "BytesOut",
            "OutRate"), lines, paged=True)
        self.frame(rows, "Stations %d" % self.total)
