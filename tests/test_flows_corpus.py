"""The IP traffic monitor against Wireshark: per connection, per direction, every file.

For every readable corpus capture, the TCP connections of ``TrafficMonitor`` (packets and
wire bytes each way) must equal what tshark's per-frame truth gives when its TCP frames
are grouped by address and port pair, as ``tshark -z conv,tcp`` groups them.  Frames
left to the "other" table on purpose are left out of the truth too: TCP inside a tunnel
(IP-in-IP, 6in4, GRE, VXLAN...), TCP headers quoted in ICMP errors, and headers cut
before the flags.
"""
import csv
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from netdecode.flows import TrafficMonitor  # noqa: E402
from netdecode.monitor import Monitor, Options  # noqa: E402
from netdecode.pcap import CaptureError, open_capture  # noqa: E402

CORPUS = os.path.join(HERE, "..", "..", "shared", "corpus")
_TUNNELS = {"gre", "vxlan", "geneve", "teredo", "gtp"}

def _truth_connections(path, pcapng):
    conns = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    for row in rows:
        if pcapng and not row.get("frame.interface_id"):
            continue                      # a custom block, not a frame
        chain = row["frame.protocols"].split(":")
        if "tcp" not in chain or not row.get("tcp.flags"):
            continue
        before = chain[:chain.index("tcp")]
        ips = [p for p in before if p in ("ip", "ipv6")]
        if len(ips) != 1 or _TUNNELS & set(before) or "icmp" in before or "icmpv6" in before:
            continue
        if ips[0] == "ip":
            src, dst = row["ip.src"], row["ip.dst"]
            a = "%s:%s" % (src, row["tcp.srcport"])
            b = "%s:%s" % (dst, row["tcp.dstport"])
        else:
            src, dst = row["ipv6.src"], row["ipv6.dst"]
            a = "[%s]:%s" % (src, row["tcp.srcport"])
            b = "[%s]:%s" % (dst, row["tcp.dstport"])
        iface = row.get("frame.interface_id") or "0"
        key = (iface, frozenset((a, b)))
        per_dir = conns.setdefault(key, {})
        packets, size = per_dir.get(a, (0, 0))
        per_dir[a] = (packets + 1, size + int(row["frame.len"]))
    return conns


def _our_connections(path):
    # whole-file totals: nothing may age out (some files jump years between frames)
    options = Options(idle_timeout=10**12, closed_lifetime=10**12, max_entries=10**7,
                      interface_name=str)
    monitor_sink = TrafficMonitor(options)
    monitor = Monitor([monitor_sink], interval=10**6)
    with open_capture(path) as reader:
        try:
            monitor.feed(reader.frames())
        except CaptureError:
            pass                              # the two files cut short: what came before
    conns = {}
    for c in monitor_sink.snapshot()["tcp"]:
        per_dir = {}
        for end, half in ((c["a"], c["a_to_b"]), (c["b"], c["b_to_a"])):
            if half["packets"]:
                per_dir[end] = (half["packets"], half["bytes"])
        conns[(c["iface"], frozenset((c["a"], c["b"])))] = per_dir
    return conns


@unittest.skipUnless(os.path.isdir(CORPUS), "no ../shared/corpus beside the project")
class TrafficAgainstWiresharkTest(unittest.TestCase):

    def test_every_file(self):
        unreadable = set()
        with open(os.path.join(CORPUS, "truth", "UNREADABLE.txt")) as f:
            for line in f:
                if "frames_read=0" in line:
                    unreadable.add(line.split("\t")[0])
        files = sorted(n for n in os.listdir(CORPUS) if n.endswith((".pcap", ".pcapng"))
                       and n not in unreadable)
        compared = 0
        for name in files:
            path = os.path.join(CORPUS, name)
            with open(path, "rb") as f:
                pcapng = f.read(4) == b"\x0a\x0d\x0d\x0a"
            truth = _truth_connections(os.path.join(CORPUS, "truth", name + ".tsv"), pcapng)
            ours = _our_connections(path)
            with self.subTest(file=name):
                self.assertEqual(ours, truth)
            compared += sum(p for per_dir in truth.values() for p, _ in per_dir.values())
        self.assertGreater(compared, 5000)        # TCP frames in connections, all files


if __name__ == "__main__":
    unittest.main()
