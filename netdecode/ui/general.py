"""The general interface statistics screen (-g): every interface's packets by kind and
its activity rate, one line each."""
from .text import fit, rate_text
from .view import View

__all__ = ["GeneralView"]


class GeneralView(View):
    name = "General interface statistics"
    short = "General statistics"
    frozen = 13                 # the label column stays when scrolled sideways
    steps = (11,) * 5

    def draw(self, rows, cols):
        snap = self.session.snapshot()
        unit = self.unit()
        lines = ["%-12s %10s %10s %10s %10s %10s  %s" % (
            str(row["iface"])[:12], fit(row["total"]["packets"], 10),
            fit(row["ipv4"]["packets"], 10), fit(row["ipv6"]["packets"], 10),
            fit(row["nonip"]["packets"], 10), fit(row["badip"]["packets"], 10),
            rate_text(row["rate"]["bps"], unit)) for row in snap["interfaces"]]
        self.table(1, rows - 3, "%-12s %10s %10s %10s %10s %10s  %s" % (
            "Iface", "Total", "IPv4", "IPv6", "NonIP", "BadIP", "Activity"), lines)
        self.frame(rows, "Interfaces %d" % len(lines))
