"""Network namespaces for live tests: a pair joined by a veth link, cleaned up always.

``NetnsPair()`` makes namespaces ``<prefix>a`` and ``<prefix>b`` (unique to this
process), joined by veth ``vtha``/``vthb`` with 10.<n>.0.1/.2 and fd00:<n>::1/::2, no
link-local addresses, no DAD, no router solicitations and permanent neighbour entries,
and waits until the link is silent, so that it carries only what a test sends.  ``run(ns, argv)`` runs a command inside a namespace.
Tests that use it skip where root or ``ip`` is missing, and fail instead in CI.
"""
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IPTRAF = os.path.join(ROOT, "iptraf.py")
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "live_peer.py")
_serial = itertools.count(1)


def live_skip_reason():
    """Why live tests cannot run here, or None."""
    if os.environ.get("IPTRAF_LIVE_TESTS") == "main-only":
        return "live tests run on the main interpreter (IPTRAF_LIVE_TESTS=main-only)"
    if os.geteuid() != 0:
        return "live tests need root"
    if shutil.which("ip") is None:
        return "live tests need iproute2's ip"
    return None


def require_live(testcase):
    reason = live_skip_reason()
    if reason:
        if os.environ.get("CI") == "true" and "main-only" not in reason:
            testcase.fail("%s, and CI must run them" % reason)
        raise unittest.SkipTest(reason)


def reap(proc):
    """End a helper process the test started, and collect it."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def sh(*argv, **kwargs):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          check=kwargs.get("check", True), timeout=kwargs.get("timeout", 30))


class NetnsPair:
    def __init__(self):
        serial = next(_serial)
        self.net = 100 + (os.getpid() * 7 + serial) % 150
        self.prefix = "iptr%d%d" % (os.getpid() % 100000, serial)
        self.a, self.b = self.prefix + "a", self.prefix + "b"
        self.ip_a, self.ip_b = "10.%d.0.1" % self.net, "10.%d.0.2" % self.net
        self.ip6_a, self.ip6_b = "fd00:%d::1" % self.net, "fd00:%d::2" % self.net
        self.if_a, self.if_b = "vtha", "vthb"

    def __enter__(self):
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _create(self):
        for ns in (self.a, self.b):
            sh("ip", "netns", "add", ns)
            for key in ("all", "default"):
                self.run(ns, ["sysctl", "-qw", "net.ipv6.conf.%s.accept_dad=0" % key,
                              "net.ipv6.conf.%s.router_solicitations=0" % key,
                              "net.ipv6.conf.%s.accept_ra=0" % key])
            self.run(ns, ["ip", "link", "set", "lo", "up"])
        sh("ip", "link", "add", self.if_a, "netns", self.a, "type", "veth",
           "peer", "name", self.if_b, "netns", self.b)
        for ns, ifname, ip4, ip6 in ((self.a, self.if_a, self.ip_a, self.ip6_a),
                                     (self.b, self.if_b, self.ip_b, self.ip6_b)):
            self.run(ns, ["ip", "link", "set", ifname, "addrgenmode", "none"])
            self.run(ns, ["ip", "addr", "add", ip4 + "/24", "dev", ifname])
            self.run(ns, ["ip", "addr", "add", ip6 + "/64", "dev", ifname, "nodad"])
            self.run(ns, ["ip", "link", "set", ifname, "up"])
        # permanent neighbours: no ARP or neighbour discovery unless a test sends it
        mac_a = self.run(self.a, ["cat", "/sys/class/net/%s/address" % self.if_a]).stdout
        mac_b = self.run(self.b, ["cat", "/sys/class/net/%s/address" % self.if_b]).stdout
        for ns, ifname, ip4, ip6, mac in ((self.a, self.if_a, self.ip_b, self.ip6_b, mac_b),
                                          (self.b, self.if_b, self.ip_a, self.ip6_a, mac_a)):
            for addr in (ip4, ip6):
                self.run(ns, ["ip", "neigh", "replace", addr, "lladdr", mac.decode().strip(),
                              "dev", ifname, "nud", "permanent"])
        self.settle()

    def settle(self, quiet=1.0, limit=8.0):
        """Wait until the link is silent (the reports of the new multicast groups are
        repeated for a second or two after the addresses come up)."""
        end = time.monotonic() + limit
        last = self.counters(self.b, self.if_b)
        while time.monotonic() < end:
            time.sleep(quiet)
            now = self.counters(self.b, self.if_b)
            if now == last:
                return
            last = now

    def run(self, ns, argv, **kwargs):
        return sh("ip", "netns", "exec", ns, *argv, **kwargs)

    def popen(self, ns, argv, **kwargs):
        return subprocess.Popen(["ip", "netns", "exec", ns] + [str(a) for a in argv],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)

    def python(self, ns, script, *args, **kwargs):
        return self.run(ns, [sys.executable, script] + [str(a) for a in args], **kwargs)

    def counters(self, ns, ifname):
        """The kernel's own rx/tx packet and byte counters of an interface."""
        out = {}
        for key in ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes"):
            text = self.run(ns, ["cat", "/sys/class/net/%s/statistics/%s" % (ifname, key)])
            out[key] = int(text.stdout)
        return out

    def close(self):
        for ns in (self.a, self.b):
            sh("ip", "netns", "del", ns, check=False)


class LiveTestCase(unittest.TestCase):
    """A test with a namespace pair of its own (``self.pair``) and a temporary folder
    (``self.tmp``), both removed afterwards; skipped, or failed in CI, where live tests
    cannot run."""

    def setUp(self):
        require_live(self)
        self.pair = NetnsPair().__enter__()
        self.addCleanup(self.pair.close)
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def serve(self, seconds):
        """The traffic peer's UDP and TCP sinks in namespace b, ready, for ``seconds``."""
        pair = self.pair
        server = pair.popen(pair.b, [sys.executable, PEER, "serve", pair.ip_b, pair.ip6_b,
                                     seconds])
        self.addCleanup(reap, server)
        self.assertEqual(server.stdout.readline().strip(), b"ready")
        return server
