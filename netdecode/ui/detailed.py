"""The detailed interface statistics screen (-d): packets and bytes by protocol and
direction, rates and peaks, IP checksum errors."""
from .text import fit, rate_text
from .view import View

__all__ = ["DetailedView"]


_DETAILED_ROWS = (("total", "Total"), ("ipv4", "IPv4"), ("ipv6", "IPv6"), ("tcp", "TCP"),
                  ("udp", "UDP"), ("icmp", "ICMP"), ("icmpv6", "ICMPv6"),
                  ("other_ip", "Other IP"), ("nonip", "Non-IP"),
                  ("broadcast", "Broadcast"), ("multicast", "Multicast"),
                  ("badip", "Bad IP"))


class DetailedView(View):
    name = "Detailed interface statistics"
    short = "Detailed statistics"
    frozen = 11                 # the label column stays when scrolled sideways
    steps = (10, 12) * 3

    def draw(self, rows, cols):
        snap = self.session.snapshot()
        unit = self.unit()
        counts = snap["counts"]
        lines = []
        for key, label in _DETAILED_ROWS:
            c = counts[key]
            lines.append("%-10s %9s %11s %9s %11s %9s %11s" % (
                label + ":", fit(c["packets"], 9), fit(c["bytes"], 11),
                fit(c["in"]["packets"], 9), fit(c["in"]["bytes"], 11),
                fit(c["out"]["packets"], 9), fit(c["out"]["bytes"], 11)))
        lines.append("")
        for key, label in (("total", "Total"), ("in", "Incoming"), ("out", "Outgoing"),
                           ("broadcast", "Broadcast")):
            rate, peak = snap["rate"][key], snap["peak"][key]
            lines.append("%-15s %13s %9.1f/s   peak %13s %9.1f/s" % (
                label + " rates:", rate_text(rate["bps"], unit), rate["pps"],
                rate_text(peak["bps"], unit), peak["pps"]))
        lines.append("")
        lines.append("IP checksum errors: %d" % snap["ip_checksum_errors"])
        self.table(1, rows - 3, "%-10s %9s %11s %9s %11s %9s %11s" % (
            "", "Packets", "Bytes", "In pkts", "In bytes", "Out pkts", "Out bytes"), lines)
        self.frame(rows, "")
