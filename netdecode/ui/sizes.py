"""The packet size breakdown screen (-z): counts in size bins up to the MTU."""
from .text import fit
from .view import View

__all__ = ["SizesView"]


class SizesView(View):
    name = "Packet size breakdown"

    def draw(self, rows, cols):
        snap = self.session.snapshot()
        bins = snap["bins"]
        cells = []
        for b in bins:
            if b["max"] is None:
                span = "%d and up:" % b["min"]
            else:
                span = "%d to %d:" % (b["min"], b["max"])
            cells.append("%-15s %9s" % (span, fit(b["packets"], 9)))
        half = (len(cells) + 1) // 2
        lines = []
        for i in range(half):
            right = cells[half + i] if half + i < len(cells) else ""
            lines.append("%s     %s" % (cells[i], right))
        lines.append("")
        lines.append("Interface MTU is %d bytes, not counting the %d-byte link header"
                     % (snap["mtu"], snap["link_header"]))
        lines.append("Largest packet: %d bytes   Mean size: %.1f bytes   Packets: %d" % (
            snap["largest"], snap["mean"], snap["packets"]))
        self.table(1, rows - 3, "%-15s %9s     %-15s %9s" % (
            "Packet size", "Count", "Packet size", "Count"), lines)
        self.frame(rows, "")
