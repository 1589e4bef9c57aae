"""Live capture, end to end: the real iptraf.py inside network namespaces made here.

Each test builds a namespace pair joined by a veth link (tests/netns.py), runs
``iptraf.py -i vthb --dump`` inside namespace b in both capture modes, sends known
traffic from namespace a (tests/live_peer.py), and checks the frames against what was
sent and against the kernel's own interface counters, which count the same bytes
(link header included, FCS excluded).
"""
import decimal
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netns  # noqa: E402
from netdecode.capture.pcap import open_capture  # noqa: E402

import live_peer  # noqa: E402

TCP_BYTES = 5000


def _frames(stdout):
    """The --dump lines, with ts kept exact (a Decimal, not a float)."""
    return [json.loads(line, parse_float=decimal.Decimal)
            for line in stdout.decode().splitlines() if line.strip()]


class _Live(netns.LiveTestCase):

    def capture(self, ns, ifname, seconds, *extra):
        """Start iptraf.py --dump in a namespace; returns the process once it captures."""
        proc = self.pair.popen(ns, [sys.executable, netns.IPTRAF, "-i", ifname, "--dump",
                                    "-t", "%ds" % seconds] + list(extra))
        self.addCleanup(netns.reap, proc)
        time.sleep(1.0)       # started and bound: the program needs well under a second
        self.assertIsNone(proc.poll(), proc.stderr.read() if proc.poll() is not None else "")
        return proc


class VethTest(_Live):
    """UDP of known sizes, a TCP transfer with a clean close, ICMP echo, ARP, IPv6."""

    def check_mode(self, mode):
        pair = self.pair
        self.serve(8)
        written = os.path.join(self.tmp.name, "veth.pcap")
        proc = self.capture(pair.b, pair.if_b, 5, "--capture-mode", mode, "-w", written)
        before = pair.counters(pair.b, pair.if_b)
        pair.python(pair.a, netns.PEER, "arp", pair.if_a, pair.ip_b)
        pair.python(pair.a, netns.PEER, "client", pair.ip_b, pair.ip6_b, TCP_BYTES)
        time.sleep(0.5)
        after = pair.counters(pair.b, pair.if_b)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        frames = _frames(out)

        # every frame once, exactly as the kernel counted them
        inbound = [f for f in frames if f.get("dir") == "in"]
        outbound = [f for f in frames if f.get("dir") == "out"]
        self.assertEqual(len(inbound) + len(outbound), len(frames))
        self.assertEqual(len(inbound), after["rx_packets"] - before["rx_packets"])
        self.assertEqual(len(outbound), after["tx_packets"] - before["tx_packets"])
        self.assertEqual(sum(f["len"] for f in inbound), after["rx_bytes"] - before["rx_bytes"])
        self.assertEqual(sum(f["len"] for f in outbound), after["tx_bytes"] - before["tx_bytes"])
        self.assertTrue(all(f["iface"] == pair.if_b for f in frames))

        udp4 = [f["len"] for f in inbound if f.get("udp_dport") == 9000 and "ip_src" in f]
        self.assertEqual(udp4, [14 + 20 + 8 + n for n in live_peer.UDP4])
        udp6 = [f["len"] for f in inbound if f.get("udp_dport") == 9000 and "ip6_src" in f]
        self.assertEqual(udp6, [14 + 40 + 8 + n for n in live_peer.UDP6])

        tcp_in = [f for f in inbound if f.get("tcp_dport") == 9001]
        tcp_out = [f for f in outbound if f.get("tcp_sport") == 9001]
        self.assertEqual(sum(f["tcp_len"] for f in tcp_in), TCP_BYTES)
        self.assertEqual(sum(f["tcp_len"] for f in tcp_out), 0)
        self.assertEqual([f["tcp_flags"] for f in tcp_in][0], 0x002)       # SYN
        self.assertEqual([f["tcp_flags"] for f in tcp_out][0], 0x012)      # SYN+ACK
        self.assertEqual(sum(1 for f in tcp_in if f["tcp_flags"] & 1), 1)  # one FIN each way
        self.assertEqual(sum(1 for f in tcp_out if f["tcp_flags"] & 1), 1)

        echo_in = [f for f in inbound if f.get("icmp_type") == 8]
        echo_out = [f for f in outbound if f.get("icmp_type") == 0]
        self.assertEqual(len(echo_in), live_peer.ECHOES)
        self.assertEqual(len(echo_out), live_peer.ECHOES)
        self.assertEqual({f["len"] for f in echo_in + echo_out}, {14 + 20 + 8 + 56})
        self.assertEqual([f["arp_op"] for f in inbound if "arp_op" in f], [1])
        self.assertEqual([f["arp_op"] for f in outbound if "arp_op" in f], [2])

        # -w: the same frames, read back by our reader and by tshark
        with open_capture(written) as reader:
            back = [(fr[0], len(fr[4]), fr[5]) for fr in reader.frames()]
        self.assertEqual(back, [(int(f["ts"] * 10**9), f["caplen"], f["len"]) for f in frames])
        tshark = _tshark_lengths(self, written)
        if tshark is not None:
            self.assertEqual(tshark, [(f["len"], f["caplen"]) for f in frames])

    def test_ring(self):
        self.check_mode("ring")

    def test_socket(self):
        self.check_mode("socket")


def _tshark_lengths(testcase, path):
    import shutil
    if shutil.which("tshark") is None:
        if os.environ.get("CI") == "true":
            testcase.fail("tshark is missing: .ci/run installs it")
        return None
    out = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.len",
                          "-e", "frame.cap_len"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, check=True, timeout=60).stdout
    return [tuple(int(x) for x in line.split("\t")) for line in out.decode().splitlines()]


class LoopbackTest(_Live):
    """Loopback shows every packet twice to a packet socket: we count it once."""

    def check_mode(self, mode):
        pair = self.pair
        proc = self.capture(pair.b, "lo", 3, "--capture-mode", mode)
        before = pair.counters(pair.b, "lo")
        pair.python(pair.b, netns.PEER, "lo", 20)
        after = pair.counters(pair.b, "lo")
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        frames = _frames(out)
        ours = [f for f in frames if f.get("udp_dport") == 9002]
        self.assertEqual(len(ours), 20)
        self.assertEqual({f["len"] for f in ours}, {14 + 20 + 8 + 100})
        self.assertEqual(len(frames), after["rx_packets"] - before["rx_packets"])
        # lo counts bytes after taking off the (all-zero) 14-byte Ethernet header
        self.assertEqual(sum(f["len"] - 14 for f in frames),
                         after["rx_bytes"] - before["rx_bytes"])

    def test_ring(self):
        self.check_mode("ring")

    def test_socket(self):
        self.check_mode("socket")


class VlanTest(_Live):
    """The kernel strips the 802.1Q tag on receive; the frames show it again."""

    def check_mode(self, mode):
        pair = self.pair
        proc = self.capture(pair.b, pair.if_b, 3, "--capture-mode", mode)
        pair.python(pair.a, netns.PEER, "vlan", pair.if_a, 42, 5)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        tagged = [f for f in _frames(out) if f.get("eth_dst") == "ff:ff:ff:ff:ff:ff"]
        self.assertEqual([f.get("vlan") for f in tagged], [42] * 5)
        self.assertEqual({f["len"] for f in tagged}, {64})

    def test_ring(self):
        self.check_mode("ring")

    def test_socket(self):
        self.check_mode("socket")


class FaultTest(_Live):

    def test_interface_deleted_while_captured(self):
        pair = self.pair
        for mode in ("ring", "socket"):
            with self.subTest(mode=mode):
                pair.run(pair.b, ["ip", "link", "add", "gone0", "type", "veth", "peer", "name",
                                  "gone1"])
                pair.run(pair.b, ["ip", "link", "set", "gone0", "up"])
                proc = self.capture(pair.b, "gone0", 20, "--capture-mode", mode)
                start = time.monotonic()
                pair.run(pair.b, ["ip", "link", "del", "gone0"])
                out, err = proc.communicate(timeout=30)
                self.assertLess(time.monotonic() - start, 5)
                self.assertEqual(proc.returncode, 1)
                lines = err.decode().strip().splitlines()
                self.assertEqual(lines[-1], "iptraf.py: gone0: the interface was deleted")
                self.assertLessEqual(len(lines), 2)   # "went down" may come first

    def test_unknown_interface(self):
        out = self.pair.run(self.pair.b, [sys.executable, netns.IPTRAF, "-i", "nosuch0",
                                          "--dump"], check=False)
        self.assertEqual(out.returncode, 1)
        self.assertEqual(out.stderr.decode().strip(),
                         "iptraf.py: nosuch0: no such interface (there are: lo, vthb)")

    def test_not_root(self):
        if not hasattr(os, "setuid"):
            self.skipTest("no setuid")
        out = self.pair.run(self.pair.b, ["setpriv", "--reuid=65534", "--regid=65534",
                                          "--clear-groups", "--inh-caps=-all",
                                          sys.executable, netns.IPTRAF, "-i", "lo", "--dump"],
                            check=False)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertEqual(out.stderr.decode().strip(),
                         "iptraf.py: capturing packets needs root or CAP_NET_RAW "
                         "(try: sudo python3 iptraf.py ...)")


PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "capture_probe.py")


class EngineTest(_Live):
    """Kernel drops, every interface at once, promiscuous mode, the interface list."""

    def test_drops_are_counted(self):
        pair = self.pair
        for mode in ("ring", "socket"):
            with self.subTest(mode=mode):
                probe = pair.popen(pair.b, [sys.executable, PROBE, "hold", pair.if_b, mode,
                                            2, 3])
                self.addCleanup(netns.reap, probe)
                self.assertEqual(probe.stdout.readline().strip(), b"ready")
                pair.python(pair.a, netns.PEER, "flood", pair.if_a, 20000, 1000)
                out, err = probe.communicate(timeout=30)
                seen = json.loads(out.decode())
                self.assertGreater(seen["dropped"], 0, "the buffer should have overflowed")
                self.assertEqual(seen["frames"] + seen["dropped"], 20000, seen)

    def test_all_interfaces_to_pcapng(self):
        pair = self.pair
        written = os.path.join(self.tmp.name, "all.pcapng")
        proc = self.capture(pair.b, "all", 3, "-w", written)
        pair.python(pair.b, netns.PEER, "lo", 3)
        pair.python(pair.a, netns.PEER, "arp", pair.if_a, pair.ip_b)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        frames = _frames(out)
        self.assertEqual(sum(1 for f in frames if f.get("udp_dport") == 9002), 3)
        self.assertEqual([(f["iface"], f["dir"], f["arp_op"]) for f in frames if "arp_op" in f],
                         [(pair.if_b, "in", 1), (pair.if_b, "out", 2)])
        with open_capture(written) as reader:
            back = list(reader.frames())
            names = {fr[1]: reader.interfaces[fr[1]].name for fr in back}
        self.assertEqual([names[fr[1]] for fr in back], [f["iface"] for f in frames])
        self.assertEqual([fr[2] == 4 for fr in back], [f["dir"] == "out" for f in frames])

    def test_promiscuous_while_capturing(self):
        pair = self.pair

        def promisc():
            flags = pair.run(pair.b, ["cat", "/sys/class/net/%s/flags" % pair.if_b]).stdout
            return bool(int(flags, 16) & 0x100)

        self.assertFalse(promisc())
        proc = self.capture(pair.b, pair.if_b, 2, "--promisc")
        self.assertTrue(promisc())
        proc.communicate(timeout=30)
        self.assertFalse(promisc())

    def test_interface_list(self):
        pair = self.pair
        listed = json.loads(pair.python(pair.b, PROBE, "ifaces").stdout.decode())
        by_name = {i["name"]: i for i in listed}
        self.assertEqual(sorted(by_name), ["lo", pair.if_b])
        self.assertEqual(by_name["lo"]["kind"], "loopback")
        veth = by_name[pair.if_b]
        self.assertEqual(veth["kind"], "virtual ethernet")
        self.assertTrue(veth["up"])
        self.assertEqual(veth["mtu"], 1500)
        self.assertEqual(veth["ipv4"], [pair.ip_b])
        self.assertEqual(veth["ipv6"], [pair.ip6_b])


class KernelFilterTest(_Live):
    """A filter attached to the socket: only matching frames reach user space."""

    def test_only_matching_traffic_is_delivered(self):
        pair = self.pair
        self.serve(10)
        for mode in ("ring", "socket"):
            with self.subTest(mode=mode):
                probe = pair.popen(pair.b, [sys.executable, PROBE, "filter", pair.if_b, mode,
                                            "udp dst port 9000", 3])
                self.addCleanup(netns.reap, probe)
                self.assertEqual(probe.stdout.readline().strip(), b"ready")
                before = pair.counters(pair.b, pair.if_b)
                pair.python(pair.a, netns.PEER, "client", pair.ip_b, pair.ip6_b, 2000)
                after = pair.counters(pair.b, pair.if_b)
                out, err = probe.communicate(timeout=30)
                seen = json.loads(out.decode())
                sent = len(live_peer.UDP4) + len(live_peer.UDP6)
                self.assertEqual(seen["frames"], [[17, 9000]] * sent)
                self.assertEqual(seen["kernel_packets"], sent)
                on_the_wire = (after["rx_packets"] - before["rx_packets"]
                               + after["tx_packets"] - before["tx_packets"])
                self.assertGreater(on_the_wire, sent + 10)   # TCP, ICMP: never delivered

    def test_filter_errors_are_one_line(self):
        out = self.pair.run(self.pair.b, [sys.executable, netns.IPTRAF, "-i", self.pair.if_b,
                                          "--dump", "-F", "tcp and"], check=False)
        self.assertEqual(out.returncode, 2)
        self.assertEqual(out.stderr.decode().count("\n"), 1)
        self.assertIn("filter: at", out.stderr.decode())
