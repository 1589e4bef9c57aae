"""The packet size breakdown screen (-z): counts in size bins up to the MTU, with
iptraf-ng's split into incoming and outgoing."""
from .text import fit
from .view import View

__all__ = ["SizesView"]


class SizesView(View):
    name = "Packet size breakdown"
    short = "Packet sizes"

    def draw(self, rows, cols):
        snap = self.session.snapshot()
        spans = ["%d to %d:" % (b["min"], b["max"]) if b["max"] is not None
                 else "%d and up:" % b["min"] for b in snap["bins"]]
        width = max(len(span) for span in spans)
        cell = "%-*s %7s %7s %7s"
        cells = [cell % (width, span, fit(b["packets"], 7), fit(b["in"], 7),
                         fit(b["out"], 7)) for span, b in zip(spans, snap["bins"])]
        heading = cell % (width, "Packet size", "Count", "In", "Out")
        # two columns when they fit side by side, else one, scrolled
        if 2 * len(heading) + 4 <= cols:
            half = (len(cells) + 1) // 2
            right = cells[half:] + [""]
            lines = ["%s    %s" % (cells[i], right[i]) for i in range(half)]
            heading = "%s    %s" % (heading, heading)
        else:
            lines = cells
        lines.append("")
        if self.session.run.args.bytes == "ip":
            lines.append("Interface MTU is %d bytes; sizes are IP packet lengths"
                         % snap["mtu"])
        else:
            lines.append("Interface MTU is %d bytes, not counting the %d-byte link header"
                         % (snap["mtu"], snap["link_header"]))
        lines.append("Largest packet: %d bytes   in: %d   out: %d" % (
            snap["largest"], snap["in"]["largest"], snap["out"]["largest"]))
        lines.append("Mean size: %.1f bytes   Packets: %d   in: %d   out: %d" % (
            snap["mean"], snap["packets"], snap["in"]["packets"], snap["out"]["packets"]))
        self.table(1, rows - 3, heading, lines)
        self.frame(rows, "")
