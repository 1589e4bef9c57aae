"""The common encapsulations decoded to their inner frame, against tshark, field by field.

tests/data/encap/ holds one small capture per encapsulation (VXLAN on 4789 and 8472
captured live between namespaces; Geneve, GRE-TEB, ERSPAN I/II/III, MPLS, GTP-U and
PPPoE built, see tests/data/make_encap.py) and tshark's truth of each in the shared
corpus's format.  The captures go through ``iptraf.py --dump`` and
../shared/tools/conform.py as the corpus does, and must agree on every field; with
tshark installed the truth is made again and must be what is stored, and the built
captures must be what the generator builds.  Live, VXLAN between two namespaces is
captured by ``iptraf.py -i --dump -w`` and must agree with tshark on the file it wrote.
"""
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _path in (ROOT, HERE, os.path.join(HERE, "data")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import corpus  # noqa: E402
import make_encap  # noqa: E402
import netns  # noqa: E402
from netdecode.decoding.decode import decode  # noqa: E402
from netdecode.decoding.packet import (  # noqa: E402
    INNER_DPORT, INNER_DST, INNER_PROTO, INNER_SPORT, INNER_SRC, PROTO, TUNNEL,
)

CONFORM = os.path.join(ROOT, "..", "shared", "tools", "conform.py")
CAPTURES = sorted(n for n in os.listdir(make_encap.ENCAP) if n.endswith(".pcap"))


def _frames(name):
    frames, exc = corpus.read_frames(os.path.join(make_encap.ENCAP, name))
    if exc is not None:
        raise exc
    return frames


def _require_tshark(testcase):
    if shutil.which("tshark") is None:
        if os.environ.get("CI") == "true":
            testcase.fail("tshark is missing, and CI must run this test")
        raise unittest.SkipTest("tshark is not installed")


class EncapsulationTest(unittest.TestCase):

    def test_every_encapsulation_is_there(self):
        self.assertEqual(CAPTURES, ["erspan.pcap", "geneve.pcap", "gre-teb.pcap", "gtpu.pcap",
                                    "mpls.pcap", "pppoe.pcap", "vxlan-live.pcap"])
        for name in CAPTURES:
            self.assertTrue(os.path.isfile(os.path.join(make_encap.TRUTH, name + ".tsv")), name)

    @unittest.skipUnless(os.path.isfile(CONFORM), "no ../shared/tools/conform.py")
    def test_dump_agrees_with_tshark_on_every_field(self):
        out, status = _conform(make_encap.ENCAP)
        last = out.strip().splitlines()[-1]
        self.assertIn("100.000% of", last, out)
        self.assertIn("%d/%d files clean; 0 crashes" % (len(CAPTURES), len(CAPTURES)), last)
        self.assertEqual(status, 0, out)

    def test_the_inner_flow_is_the_carried_packet(self):
        # every tunnelled frame's inner_* fields name the inner ends the captures use
        inner_nets = [ipaddress.ip_network(n) for n in
                      ("10.62.0.0/24", "10.63.0.0/24", "10.64.0.0/24", "fd00:62::/64")]
        tunnels = {}
        for name in CAPTURES:
            for frame in _frames(name):
                r = decode(*frame)
                if r[TUNNEL] is None:
                    self.assertIsNone(r[INNER_SRC], name)
                    continue
                tunnels[r[TUNNEL]] = tunnels.get(r[TUNNEL], 0) + 1
                if r[INNER_SRC] is None:
                    continue        # GTP-U's echo request carries no packet
                for addr in (r[INNER_SRC], r[INNER_DST]):
                    self.assertTrue(any(ipaddress.ip_address(addr) in net
                                        for net in inner_nets), (name, addr))
                if r[INNER_PROTO] in (6, 17):
                    self.assertIsNotNone(r[INNER_SPORT], name)
                    self.assertIsNotNone(r[INNER_DPORT], name)
                if r[PROTO] != 17:      # inside GRE the first transport is the inner one
                    self.assertEqual(r[INNER_PROTO], r[PROTO], name)
        self.assertEqual(tunnels, {47: 8, 4789: 14, 8472: 15, 6081: 3, 2152: 4})

    def test_the_built_captures_are_what_the_generator_builds(self):
        for name, frames in make_encap.built().items():
            with self.subTest(capture=name):
                with open(os.path.join(make_encap.ENCAP, name + ".pcap"), "rb") as f:
                    self.assertEqual(f.read(), make_encap.capture_bytes(frames))

    def test_the_truth_is_tsharks(self):
        _require_tshark(self)
        for name in CAPTURES:
            with self.subTest(capture=name):
                with open(os.path.join(make_encap.TRUTH, name + ".tsv"), encoding="utf-8") as f:
                    stored = f.read()
                self.assertEqual(make_encap.truth_of(os.path.join(make_encap.ENCAP, name)),
                                 stored)


def _conform(corpus_dir):
    """conform.py's output and exit status over a folder of captures and truth/."""
    proc = subprocess.run([sys.executable, CONFORM, "-v", "--corpus", corpus_dir, "--cmd",
                           "%s %s" % (sys.executable, netns.IPTRAF)], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    return proc.stdout.decode("utf-8", "replace"), proc.returncode


@unittest.skipUnless(os.path.isfile(CONFORM), "no ../shared/tools/conform.py")
class LiveVxlanTest(netns.LiveTestCase):

    def test_vxlan_captured_live_agrees_with_tshark(self):
        _require_tshark(self)
        pair = self.pair
        make_encap.vxlan_devices(pair)
        pair.settle()
        folder = self.tmp.name
        path = os.path.join(folder, "vxlan.pcap")
        proc = pair.popen(pair.a, [sys.executable, netns.IPTRAF, "-i", pair.if_a, "--dump",
                                   "-w", path, "-F", "udp port 4789 or udp port 8472"])
        self.addCleanup(netns.reap, proc)
        time.sleep(1.0)
        make_encap.vxlan_traffic(pair)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        live = [json.loads(line) for line in out.decode().splitlines()]
        # both transport headers on every TCP segment through each port: the handshake,
        # the request, the answer and two FINs at least, each to or from port 8080
        for port in (4789, 8472):
            tcp = [f for f in live if f.get("udp_dport") == port and "tcp_sport" in f]
            self.assertGreaterEqual(len(tcp), 7, (port, live))
            for f in tcp:
                self.assertIn(8080, (f["tcp_sport"], f["tcp_dport"]), f)
                self.assertIn("tcp_flags", f)
        # what was dumped live is what the file it wrote reads back as, and tshark agrees
        # with that on every field
        with_file = subprocess.run([sys.executable, netns.IPTRAF, "-r", path, "--dump"],
                                   stdout=subprocess.PIPE, timeout=60, check=True)
        read = [json.loads(line) for line in with_file.stdout.decode().splitlines()]
        for frame in live:
            del frame["iface"], frame["dir"]
        for frame in read:
            frame.pop("iface", None)
            frame.pop("dir", None)
        self.assertEqual(live, read)
        os.mkdir(os.path.join(folder, "truth"))
        with open(os.path.join(folder, "truth", "vxlan.pcap.tsv"), "w") as f:
            f.write(make_encap.truth_of(path))
        output, status = _conform(folder)
        self.assertIn("100.000% of", output.strip().splitlines()[-1], output)
        self.assertEqual(status, 0, output)


if __name__ == "__main__":
    unittest.main()
