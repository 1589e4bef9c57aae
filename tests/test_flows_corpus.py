"""The IP traffic monitor against Wireshark: per connection, per direction, every file.

For every readable corpus capture, the TCP connections of ``TrafficMonitor`` (packets and
wire bytes each way) must equal what tshark's per-frame truth gives when its TCP frames
are grouped by address and port pair, as ``tshark -z conv,tcp`` groups them.  Frames
left to the "other" table on purpose are left out of the truth too: TCP inside a tunnel
(IP-in-IP, 6in4, GRE, VXLAN...), TCP headers quoted in ICMP errors, and headers cut
before the flags.
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import corpus  # noqa: E402
from netdecode.accounting.flows import TrafficMonitor  # noqa: E402
from netdecode.accounting.tables import Options  # noqa: E402
from netdecode.run.monitor import Monitor  # noqa: E402
from netdecode.capture.pcap import CaptureError, open_capture  # noqa: E402

_TUNNELS = {"gre", "vxlan", "geneve", "teredo", "gtp"}

def _truth_connections(name):
    conns = {}
    for row in corpus.truth_rows(name):
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


@unittest.skipUnless(corpus.available(), "no ../shared/corpus beside the project")
class TrafficAgainstWiresharkTest(unittest.TestCase):

    def test_every_file(self):
        compared = 0
        for name in corpus.captures():
            truth = _truth_connections(name)
            ours = _our_connections(os.path.join(corpus.CORPUS, name))
            with self.subTest(file=name):
                self.assertEqual(ours, truth)
            compared += sum(p for per_dir in truth.values() for p, _ in per_dir.values())
        self.assertGreater(compared, 5000)        # TCP frames in connections, all files

if __name__ == "__main__":
    unittest.main()
