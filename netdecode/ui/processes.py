"""The process monitor screen (-P): one line per local program, its traffic in and out
and its connections, by rate; one line for the traffic no local program owns."""
from .text import fit, lookup_note, rate_text
from .view import View

__all__ = ["ProcessesView"]

# the uid last: an 80-column terminal shows all but it
_COLUMNS = "%-7s %-14s %5s %6s %7s %10s %6s %7s %10s %5s"


class ProcessesView(View):
    name = "Process monitor"
    keys_help = "Up/Down/PgUp/PgDn/Home/End scroll  S sort  X exit"
    sorts = (("R", "rate", None), ("B", "bytes", "bytes"), ("P", "packets", "packets"),
             ("C", "connections", "connections"), ("N", "name", "name"))

    def draw(self, rows, cols):
        snap = self.paged(lambda page: self.session.snapshot(page=page), rows - 4)
        unit = self.unit()
        lines = []
        for row in snap["processes"]:
            if row.get("unknown"):
                pid, uid, name = "-", "-", "(fwd/unknown)"
            elif row["pid"] is None:
                pid, uid, name = "?", str(row["uid"]), "(not readable)"
            else:
                pid, uid = str(row["pid"]), str(row["uid"])
                name = (row["comm"] or "?") + (" (gone)" if row.get("gone") else "")
            lines.append(_COLUMNS % (
                pid, name[:14], fit(row["connections"], 5), fit(row["in_packets"], 6),
                fit(row["in_bytes"], 7), rate_text(row["in_bps"], unit),
                fit(row["out_packets"], 6), fit(row["out_bytes"], 7),
                rate_text(row["out_bps"], unit), uid[:5]))
        self.table(1, rows - 3, _COLUMNS % (
            "PID", "Program", "Conns", "PktsIn", "BytesIn", "InRate", "PktsOut",
            "BytesOut", "OutRate", "UID"), lines, paged=True)
        status = "Processes %d" % self.total
        note = lookup_note(snap.get("process_lookup"))
        self.frame(rows, status if note is None else status + " | " + note)
