"""Attack detection (netdecode.accounting.detect) in the IP traffic monitor.

Frames built here for each kind and its near misses; the corpus (no attack in any of its
files, which a test holds to); and real attacks on veth pairs in namespaces: hping3's
SYN flood, nmap's SYN scan, and stdlib senders for a host sweep, an ICMP flood and ARP
replies that change and flip a MAC, each also kept as a pcap fixture in tests/data/attacks,
plus ordinary busy traffic that must raise nothing.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import builders as b  # noqa: E402
import corpus  # noqa: E402
import netns  # noqa: E402
from netdecode.accounting.flows import TrafficMonitor  # noqa: E402
from netdecode.accounting.tables import Options  # noqa: E402
from netdecode.run.monitor import Monitor  # noqa: E402

IPTRAF = os.path.join(os.path.dirname(HERE), "iptraf.py")
ATTACKS = os.path.join(HERE, "data", "attacks")
T0 = 1764000000 * 10**9
SEC = 10**9
ATTACK_KINDS = ("port-scan", "host-sweep", "syn-flood", "icmp-flood")

# the corpus files that hold something the detector reports, and what: none holds an
# attack; one (a fuzzed ARP capture) holds ARP replies whose MACs change
CORPUS_EVENTS = {"tcpdump__arp-oobr.pcap": {"arp-changed-mac", "arp-flip-flop",
                                            "arp-new-station"}}


def syn(src, dst, sport, dport):
    return b.eth(b.ip4(b.tcp(sport=sport, dport=dport, flags="S"), src=src, dst=dst))


def reply(src, dst, sport, dport, flags):
    return b.eth(b.ip4(b.tcp(sport=sport, dport=dport, flags=flags, seq=0, ack=1),
                       src=src, dst=dst))


def run(frames, thresholds=None):
    """The alerts of the frames ((ts, data) pairs) through the monitor, as the JSON
    snapshot has them at the end of the input."""
    traffic = TrafficMonitor(Options(), thresholds)
    monitor = Monitor([traffic], 1.0)
    monitor.feed([(ts, 0, None, 1, data, len(data)) for ts, data in frames])
    monitor.finish()
    return traffic.snapshot()["alerts"]


def attacks(alerts):
    return [a for a in alerts if a["kind"] in ATTACK_KINDS]


class KindsTest(unittest.TestCase):

    def test_syn_flood_from_random_sources(self):
        rng = random.Random(5)
        frames = [(T0 + i * SEC // 2000,
                   syn("10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256),
                                        rng.randrange(1, 255)), "10.0.0.2",
                       rng.randrange(1024, 65535), 80)) for i in range(3000)]
        (alert,) = attacks(run(frames))
        self.assertEqual((alert["kind"], alert["dst"], alert["port"], alert["state"]),
                         ("syn-flood", "10.0.0.2", 80, "ended"))
        self.assertEqual(alert["count"], 3000)
        self.assertGreater(alert["sources"], 2900)
        self.assertEqual(alert["first"], T0 / 1e9)
        self.assertEqual(set(alert), {"kind", "state", "dst", "port", "first", "last",
                                      "count", "sources"})

    def test_busy_server_answering_is_no_flood(self):
        frames = []
        for i in range(3000):
            ts = T0 + i * SEC // 2000
            client, port = "10.1.%d.%d" % (i // 250, i % 250 + 1), 10000 + i
            frames.append((ts, syn(client, "10.0.0.2", port, 80)))
            frames.append((ts + 1000, reply("10.0.0.2", client, 80, port, "SA")))
            frames.append((ts + 2000, reply(client, "10.0.0.2", port, 80, "A")))
        self.assertEqual(attacks(run(frames)), [])

    def test_a_flood_below_the_rate_is_none(self):
        frames = [(T0 + i * SEC // 400, syn("10.9.0.%d" % (i % 250 + 1), "10.0.0.2",
                                            20000 + i, 80)) for i in range(2000)]
        self.assertEqual(attacks(run(frames)), [])

    def test_port_scan_answered_by_resets(self):
        frames = []
        for i, port in enumerate(range(1, 21)):
            ts = T0 + i * SEC // 10
            frames.append((ts, syn("10.0.0.66", "10.0.0.2", 40000, port)))
            frames.append((ts + 1000, reply("10.0.0.2", "10.0.0.66", port, 40000, "RA")))
        (alert,) = attacks(run(frames))
        self.assertEqual({k: alert[k] for k in ("kind", "src", "dst", "count")},
                         {"kind": "port-scan", "src": "10.0.0.66", "dst": "10.0.0.2",
                          "count": 20})
        self.assertNotIn("port", alert)

    def test_fourteen_ports_are_no_scan_and_open_ports_do_not_count(self):
        frames = []
        for i, port in enumerate(range(1, 30)):
            ts = T0 + i * SEC // 10
            frames.append((ts, syn("10.0.0.66", "10.0.0.2", 40000 + port, port)))
            if port > 14:           # open: the handshake completes
                frames.append((ts + 1000, reply("10.0.0.2", "10.0.0.66", port,
                                                40000 + port, "SA")))
        self.assertEqual(attacks(run(frames)), [])

    def test_host_sweep_unanswered(self):
        frames = [(T0 + i * SEC // 20, syn("10.0.0.66", "10.0.1.%d" % (i + 1), 40000 + i, 22))
                  for i in range(30)]
        (alert,) = attacks(run(frames))
        self.assertEqual({k: alert[k] for k in ("kind", "src", "port", "count")},
                         {"kind": "host-sweep", "src": "10.0.0.66", "port": 22, "count": 30})

    def test_a_scan_outside_the_window_is_none(self):
        frames = [(T0 + i * 30 * SEC, syn("10.0.0.66", "10.0.0.2", 40000, i + 1))
                  for i in range(20)]         # 20 ports over 10 minutes: 10 per 5 minutes
        self.assertEqual(attacks(run(frames)), [])

    def test_icmp_flood_from_one_source(self):
        frames = [(T0 + i * SEC // 1000, b.eth(b.ip4(b.icmp(bytes(56)), src="10.0.0.7",
                                                   dst="10.0.0.2", proto=1)))
                  for i in range(1500)]
        (alert,) = attacks(run(frames))
        self.assertEqual({k: alert[k] for k in ("kind", "src", "dst", "count")},
                         {"kind": "icmp-flood", "src": "10.0.0.7", "dst": "10.0.0.2",
                          "count": 1500})
        # a ping a second is none
        self.assertEqual(attacks(run(frames[::1000])), [])

    def test_icmpv6_flood_from_several_sources(self):
        frames = [(T0 + i * SEC // 1000, b.eth(b.ip6(b.icmp6(bytes(56)), src="fd00::%x" % (i % 7 + 1),
                                                   dst="fd00::2", nxt=58), type=0x86DD))
                  for i in range(1500)]
        (alert,) = attacks(run(frames))
        self.assertEqual((alert["kind"], alert["dst"]), ("icmp-flood", "fd00::2"))
        self.assertNotIn("src", alert)

    def test_arp_changes_and_flip_flops(self):
        mac_a, mac_b, vrrp = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "00:00:5e:00:01:07"

        def is_at(mac, ip="10.0.0.5"):
            return b.eth(b.arp(op=2, sha=mac, spa=ip, tpa="10.0.0.1"), src=mac,
                         type=0x0806, pad=True)
        frames = [(T0 + i * SEC, data) for i, data in enumerate([
            is_at(mac_a), is_at(mac_a), is_at(mac_b), is_at(mac_a),
            is_at(vrrp, "10.0.0.254"), is_at(mac_a, "10.0.0.254")])]
        alerts = run(frames)
        self.assertEqual([(a["kind"], a["ip"], a["mac"], a.get("old_mac")) for a in alerts], [
            ("arp-new-station", "10.0.0.5", mac_a, None),
            ("arp-changed-mac", "10.0.0.5", mac_b, mac_a),
            ("arp-flip-flop", "10.0.0.5", mac_a, mac_b),
            ("arp-new-station", "10.0.0.254", mac_a, None)])   # the VRRP MAC: exempt

    def test_no_attack_in_the_corpus(self):
        if not corpus.available():
            self.skipTest("no shared corpus")
        for name in corpus.sampled(corpus.captures()):
            proc = subprocess.run([sys.executable, IPTRAF, "-r",
                                   os.path.join(corpus.CORPUS, name), "-i", "all", "--json"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            if not proc.stdout:
                continue                    # unreadable: its error is tested elsewhere
            alerts = json.loads(proc.stdout.decode().splitlines()[-1])["alerts"]
            kinds = {a["kind"] for a in alerts} - {"arp-new-station"}
            expected = CORPUS_EVENTS.get(name, set()) - {"arp-new-station"}
            self.assertEqual(kinds, expected, name)


class BoundsTest(unittest.TestCase):

    def test_a_full_port_scan_from_many_sources_stays_bounded(self):
        from netdecode.accounting import detect
        traffic = TrafficMonitor(Options(max_entries=100000))
        monitor = Monitor([traffic], 1.0)
        frames = []
        # one source over every port, and 2000 sources over 40 ports each, 10,000
        # attempts a second
        for port in range(1, 65536):
            data = syn("10.0.0.66", "10.0.0.2", 40000, port)
            frames.append((T0 + port * 100000, 0, None, 1, data, len(data)))
        for i in range(80000):
            data = syn("10.%d.%d.1" % (i % 2000 // 250, i % 250), "10.0.0.3", 30000, i // 2000 + 1)
            frames.append((T0 + (65536 + i) * 100000, 0, None, 1, data, len(data)))
        monitor.feed(frames)
        monitor.finish()
        det = traffic.detector
        scans = [a for a in det.alerts.values() if a.kind == "port-scan"]
        self.assertEqual(len(scans), 2001)
        self.assertTrue(all(len(p.seen) <= 17 for p in det._scans.values()
                            if not isinstance(p, tuple)))
        self.assertLessEqual(len(det._scans), detect.TABLE_MAX)
        self.assertLessEqual(len(det._pending), 2 * detect.PENDING_MAX)
        (full,) = [a for a in scans if a.fields[0][1] == b"\x0a\x00\x00\x42"]
        self.assertEqual(full.count, 65535)


def _alerts_of(path):
    proc = subprocess.run([sys.executable, IPTRAF, "-r", path, "-i", "all", "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    return json.loads(proc.stdout.decode())["alerts"]


class FixturesTest(unittest.TestCase):
    """The captures the live tests made, kept: each holds its attack, and only it."""

    def test_each_fixture_holds_its_attack(self):
        expected = {"syn-flood.pcap": ["syn-flood"], "port-scan.pcap": ["port-scan"],
                    "host-sweep.pcap": ["host-sweep"], "icmp-flood.pcap": ["icmp-flood"],
                    "busy.pcap": []}
        for name, kinds in sorted(expected.items()):
            with self.subTest(name):
                alerts = _alerts_of(os.path.join(ATTACKS, name))
                self.assertEqual([a["kind"] for a in attacks(alerts)], kinds)
        arp = [a["kind"] for a in _alerts_of(os.path.join(ATTACKS, "arp-changes.pcap"))]
        self.assertEqual(arp, ["arp-new-station", "arp-changed-mac", "arp-flip-flop"])


class ShownTest(unittest.TestCase):
    """The alert on the screen, the thresholds from the settings file, the metrics."""

    def test_the_screen_shows_the_alert_above_the_other_traffic(self):
        from terminal import Terminal, require_tmux
        require_tmux(self)
        term = Terminal([sys.executable, IPTRAF, "-r", os.path.join(ATTACKS, "syn-flood.pcap"),
                         "-i", "all", "-n"], cols=120, rows=30)
        self.addCleanup(term.close)
        screen = term.wait_for("end of file")
        self.assertIn("TCP Connections", screen)
        (line,) = [l for l in screen.splitlines() if "Other traffic" in l]
        self.assertRegex(line, r"ALERT syn-flood to 10\.\d+\.0\.2:80 ended, \d+ SYNs "
                               r"from \d+ sources")
        term.keys("x")

    def test_thresholds_come_from_the_settings_file(self):
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "iptraf.conf")
            path = os.path.join(ATTACKS, "port-scan.pcap")
            for ports, found in (("15", ["port-scan"]), ("1000", [])):
                with open(config, "w") as f:
                    f.write("scan_ports = %s\n" % ports)
                proc = subprocess.run([sys.executable, IPTRAF, "-r", path, "-i", "all",
                                       "--json", "--config", config],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      timeout=120)
                self.assertEqual(proc.stderr, b"")
                alerts = json.loads(proc.stdout.decode())["alerts"]
                self.assertEqual([a["kind"] for a in attacks(alerts)], found, ports)

    def test_metrics_count_alerts_by_kind(self):
        from netdecode.output.metrics import Metrics
        traffic = TrafficMonitor(Options())
        monitor = Monitor([traffic], 1.0)
        metrics = Metrics(monitor, "traffic", traffic, traffic.options.interface_name)
        monitor.sinks.append(metrics)
        from netdecode.capture.pcap import open_capture
        with open_capture(os.path.join(ATTACKS, "icmp-flood.pcap")) as reader:
            monitor.feed(reader.frames())
        monitor.finish()
        text = metrics.text()
        self.assertIn('iptraf_alerts_total{kind="icmp-flood"} 1\n', text)
        self.assertIn('iptraf_alerts_total{kind="syn-flood"} 0\n', text)


def _tool(test, name):
    if shutil.which(name) is None:
        if os.environ.get("CI") == "true":
            test.fail("%s is missing, and CI must run this test" % name)
        test.skipTest("needs %s" % name)


class LiveAttackTest(netns.LiveTestCase):
    """The monitor in namespace b on vthb, the attacker in a; JSON and the log read."""

    def monitor(self, *flags):
        pair = self.pair
        self.runs = getattr(self, "runs", 0) + 1
        self.capture = os.path.join(self.tmp.name, "attack%d.pcap" % self.runs)
        self.log = os.path.join(self.tmp.name, "attack%d.log" % self.runs)
        proc = pair.popen(pair.b, [sys.executable, IPTRAF, "-i", pair.if_b, "--json",
                                   "--interval", "0.5", "-w", self.capture, "-L", self.log,
                                   "--log-format", "json", "--snaplen", "96"] + list(flags))
        self.addCleanup(netns.reap, proc)
        time.sleep(1.0)
        return proc

    def finish(self, proc, wait=6.5, kind=None):
        """Stop the monitor ``wait`` seconds on (the answers' 5 s, and a tick), or, with
        ``kind``, once a snapshot holds an alert of that kind (within 30 s: a loaded
        machine may take longer); its last snapshot's alerts and the log's alert lines."""
        if kind is None:
            time.sleep(wait)
        else:
            end = time.monotonic() + 30
            while time.monotonic() < end:
                line = proc.stdout.readline()
                if not line or any(a["kind"] == kind for a in json.loads(line)["alerts"]):
                    break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        last = json.loads(out.decode().splitlines()[-1])
        with open(self.log) as f:
            lines = [json.loads(line) for line in f]
        return last["alerts"], [line for line in lines if line.get("event") == "alert"]

    def keep(self, name):
        """The capture as a fixture, when IPTRAF_KEEP_FIXTURES asks for it (headers
        only: --snaplen 96)."""
        if os.environ.get("IPTRAF_KEEP_FIXTURES"):
            os.makedirs(ATTACKS, exist_ok=True)
            shutil.copy(self.capture, os.path.join(ATTACKS, name))

    def test_hping3_syn_flood(self):
        _tool(self, "hping3")
        pair = self.pair
        listener = pair.popen(pair.b, [sys.executable, "-c",
                                       "import socket,time; s=socket.socket(); s.bind(('%s', 80));"
                                       " s.listen(5); time.sleep(20)" % pair.ip_b])
        self.addCleanup(netns.reap, listener)
        proc = self.monitor()
        pair.run(pair.a, ["hping3", "-q", "-S", "-p", "80", "--rand-source", "-c", "5000",
                          "--faster", pair.ip_b], timeout=60, check=False)
        alerts, logged = self.finish(proc, kind="syn-flood")
        (alert,) = attacks(alerts)
        self.assertEqual((alert["kind"], alert["dst"], alert["port"]),
                         ("syn-flood", pair.ip_b, 80))
        self.assertGreater(alert["sources"], 1000)
        self.assertGreater(alert["count"], 1000)
        self.assertEqual([(e["kind"], e["state"]) for e in logged
                          if e["kind"] == "syn-flood"][:1], [("syn-flood", "active")])
        self.keep("syn-flood.pcap")

    def test_nmap_syn_scan(self):
        _tool(self, "nmap")
        pair = self.pair
        proc = self.monitor()
        pair.run(pair.a, ["nmap", "-sS", "-Pn", "-n", "-p", "1-200", "--max-retries", "0",
                          pair.ip_b], timeout=120, check=False)
        alerts, logged = self.finish(proc, kind="port-scan")
        (alert,) = attacks(alerts)
        self.assertEqual((alert["kind"], alert["src"], alert["dst"]),
                         ("port-scan", pair.ip_a, pair.ip_b))
        self.assertGreaterEqual(alert["count"], 150)
        self.assertTrue(logged)
        self.keep("port-scan.pcap")

    def test_stdlib_sweep_icmp_flood_and_arp(self):
        pair = self.pair
        proc = self.monitor()
        pair.python(pair.a, netns.PEER, "sweep", pair.if_a, pair.ip_a, 30, timeout=60)
        alerts, _ = self.finish(proc, kind="host-sweep")
        self.assertEqual([a["kind"] for a in attacks(alerts)], ["host-sweep"])
        self.keep("host-sweep.pcap")

        proc = self.monitor()
        pair.python(pair.a, netns.PEER, "pingflood", pair.ip_b, 2000, timeout=60)
        alerts, _ = self.finish(proc, kind="icmp-flood")
        (alert,) = attacks(alerts)
        self.assertEqual((alert["kind"], alert["dst"], alert["src"]),
                         ("icmp-flood", pair.ip_b, pair.ip_a))
        self.keep("icmp-flood.pcap")

        proc = self.monitor()
        pair.python(pair.a, netns.PEER, "arpflip", pair.if_a, "10.%d.0.77" % pair.net,
                    timeout=60)
        alerts, logged = self.finish(proc, wait=1.5)
        self.assertEqual([a["kind"] for a in alerts],
                         ["arp-new-station", "arp-changed-mac", "arp-flip-flop"])
        self.assertEqual(len(logged), 3)
        self.keep("arp-changes.pcap")

    def test_busy_ordinary_traffic_raises_nothing(self):
        pair = self.pair
        self.serve(40)
        # tens of clients: 20 more addresses in namespace a
        sources = ["10.%d.0.%d" % (pair.net, 100 + i) for i in range(20)]
        for addr in sources:
            pair.run(pair.a, ["ip", "addr", "add", addr + "/24", "dev", pair.if_a])
        proc = self.monitor()
        pair.python(pair.a, netns.PEER, "busy", pair.ip_b, pair.ip6_b, *sources, timeout=120)
        alerts, logged = self.finish(proc)
        self.assertEqual(attacks(alerts), [])
        self.assertEqual([e for e in logged if e["kind"] in ATTACK_KINDS], [])
        self.keep("busy.pcap")


if __name__ == "__main__":
    unittest.main()
