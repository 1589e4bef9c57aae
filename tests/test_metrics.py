"""The Prometheus endpoint (netdecode.output.metrics): checked by promtool, the real
tool, by a test that no series repeats (promtool does not catch that), and against the
facilities' own JSON, from a file, under the screens and on live veth traffic.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import netns  # noqa: E402
from collectors import free_udp_port  # noqa: E402
from netdecode.accounting import counters  # noqa: E402
from netdecode.accounting.flows import TrafficMonitor  # noqa: E402
from netdecode.accounting.tables import Options  # noqa: E402
from netdecode.capture.pcap import open_capture  # noqa: E402
from netdecode.output.metrics import (  # noqa: E402
    CONTENT_TYPE, Metrics, MetricsError, MetricsServer, parse_address,
)
from netdecode.run.monitor import Monitor  # noqa: E402
from terminal import Terminal, require_tmux  # noqa: E402

IPTRAF = os.path.join(os.path.dirname(HERE), "iptraf.py")
SAMPLE = os.path.join(HERE, "data", "sample.pcap")
_SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+]+)$")


def series(text):
    """{(name, labels text): value} of an exposition, failing on a repeated series."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_LINE.match(line)
        assert m, "not a sample line: %r" % line
        key = (m.group(1), m.group(2) or "")
        assert key not in out, "series %r repeats" % (key,)
        out[key] = float(m.group(3))
    return out


def promtool(test, text):
    tool = shutil.which("promtool")
    if tool is None:
        if os.environ.get("CI") == "true":
            test.fail("promtool (Debian package prometheus) is missing, and CI needs it")
        test.skipTest("needs promtool")
    proc = subprocess.run([tool, "check", "metrics"], input=text.encode(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    test.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)


def fetch(url, method="GET"):
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, answer.headers.get("Content-Type"), answer.read()


def scrape(port, host="127.0.0.1"):
    return fetch("http://%s:%d/metrics" % (host, port))[2].decode()


def served(facility, make):
    """A file's frames through one facility and the metrics sink, and its server."""
    options = Options()
    sink = make(options)
    monitor = Monitor([sink], 1.0)
    metrics = Metrics(monitor, facility, sink, options.interface_name)
    monitor.sinks.append(metrics)
    with open_capture(SAMPLE) as reader:
        monitor.feed(reader.frames())
    monitor.finish()
    server = MetricsServer(metrics, "127.0.0.1", 0)
    return server, sink, monitor


class AddressTest(unittest.TestCase):

    def test_addresses(self):
        self.assertEqual(parse_address("9100"), ("127.0.0.1", 9100))
        self.assertEqual(parse_address("0.0.0.0:9100"), ("0.0.0.0", 9100))
        self.assertEqual(parse_address("[::1]:9100"), ("::1", 9100))
        for bad in ("", "x", "0", "70000", "host:", "[::1]9100", "[::1"):
            with self.assertRaises(MetricsError):
                parse_address(bad)

    def test_command_line(self):
        for argv, words in ((["-g", "--metrics", "99999"], "1 to 65535"),
                            (["--dump", "--metrics", "9100"], "give one")):
            proc = subprocess.run([sys.executable, IPTRAF, "-r", SAMPLE] + argv,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(proc.returncode, 2)
            self.assertIn(words, proc.stderr.decode())
            self.assertEqual(proc.stderr.decode().count("\n"), 1)

    def test_a_port_in_use_is_one_line(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            proc = subprocess.run([sys.executable, IPTRAF, "-r", SAMPLE, "-g", "--json",
                                   "--metrics", str(port)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(proc.stderr.decode(), "iptraf.py: cannot serve metrics on "
                         "127.0.0.1:%d: Address already in use\n" % port)


class EndpointTest(unittest.TestCase):

    def test_every_facility_serves_valid_text(self):
        for facility, make in (
                ("traffic", TrafficMonitor), ("general", counters.GeneralStats),
                ("detailed", counters.DetailedStats), ("services", counters.ServiceStats),
                ("sizes", counters.SizeStats), ("lan", counters.LanStats)):
            with self.subTest(facility):
                server, sink, monitor = served(facility, make)
                try:
                    port = server.address[1]
                    status, kind, body = fetch("http://127.0.0.1:%d/metrics" % port)
                    self.assertEqual((status, kind), (200, CONTENT_TYPE))
                    text = body.decode()
                    promtool(self, text)
                    got = series(text)
                    self.assertEqual(got[("iptraf_capture_packets_total", "")], 20)
                    self.assertEqual(got[("iptraf_interface_receive_packets_total",
                                          '{device="if0"}')], 20)
                    self.assertEqual(got[("iptraf_interface_receive_bytes_total",
                                          '{device="if0"}')], 2414)
                    # HEAD: the headers alone; elsewhere: 404
                    status, kind, body = fetch("http://127.0.0.1:%d/metrics" % port, "HEAD")
                    self.assertEqual((status, kind, body), (200, CONTENT_TYPE, b""))
                    with self.assertRaises(urllib.error.HTTPError) as cm:
                        fetch("http://127.0.0.1:%d/" % port)
                    self.assertEqual(cm.exception.code, 404)
                    if facility == "traffic":
                        self.assertEqual(got[("iptraf_tcp_connections", "")], len(sink.tcp))
                        self.assertEqual(got[("iptraf_protocol_packets_total",
                                              '{protocol="tcp"}')], 11)
                        self.assertEqual(sum(v for (name, _), v in got.items()
                                             if name == "iptraf_protocol_packets_total"), 20)
                    if facility == "detailed":
                        counts = sink.snapshot()["counts"]
                        self.assertEqual(got[("iptraf_protocol_bytes_total",
                                              '{protocol="udp"}')], counts["udp"]["bytes"])
                finally:
                    server.close()

    def test_interfaces_and_directions_mixed_in_one_batch(self):
        metrics = Metrics(Monitor([]), "sizes", None, Options().interface_name)
        frames = [(i, i % 3, 4 if i % 5 == 0 else 0, 1, b"", 60 + i) for i in range(1000)]
        metrics.feed(frames[:700])
        metrics.feed(frames[700:])
        for ifindex in range(3):
            mine = [f for f in frames if f[1] == ifindex]
            out = [f for f in mine if f[2] == 4]
            self.assertEqual(metrics.interfaces[ifindex], [
                len(mine) - len(out), sum(f[5] for f in mine) - sum(f[5] for f in out),
                len(out), sum(f[5] for f in out)])

    def test_protocol_counters_never_go_down_when_tables_evict(self):
        options = Options(max_entries=4)
        sink = TrafficMonitor(options)
        monitor = Monitor([sink], 1.0)
        metrics = Metrics(monitor, "traffic", sink, options.interface_name)
        monitor.sinks.append(metrics)
        with open_capture(SAMPLE) as reader:
            monitor.feed(reader.frames())
        monitor.finish()
        self.assertGreater(sink.evicted_flows, 0)
        got = series(metrics.text())
        self.assertEqual(sum(v for (name, _), v in got.items()
                             if name == "iptraf_protocol_packets_total"), 20)


class ScreensTest(unittest.TestCase):

    def test_served_while_the_screens_run(self):
        require_tmux(self)
        port = free_udp_port()
        term = Terminal([sys.executable, IPTRAF, "-r", SAMPLE, "-i", "all", "-n",
                         "--metrics", str(port)])
        self.addCleanup(term.close)
        term.wait_for("end of file")
        got = series(scrape(port))
        self.assertEqual(got[("iptraf_capture_packets_total", "")], 20)
        term.keys("x")


class LiveMetricsTest(netns.LiveTestCase):

    def test_live_counts_match_the_facility(self):
        pair = self.pair
        self.serve(8)
        port = 19000 + os.getpid() % 1000
        proc = pair.popen(pair.b, [sys.executable, IPTRAF, "-d", pair.if_b, "--json",
                                   "--interval", "0.5", "--metrics", str(port)])
        self.addCleanup(netns.reap, proc)
        time.sleep(1.0)
        pair.python(pair.a, netns.PEER, "client", pair.ip_b, pair.ip6_b, 3000)
        time.sleep(1.5)
        text = pair.run(pair.b, [sys.executable, "-c",
                                 "import urllib.request, sys; sys.stdout.write(urllib."
                                 "request.urlopen('http://127.0.0.1:%d/metrics', timeout=10)"
                                 ".read().decode())" % port]).stdout.decode()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        promtool(self, text)
        got = series(text)
        last = json.loads(out.decode().splitlines()[-1])
        total = last["counts"]["total"]
        device = '{device="%s"}' % pair.if_b
        self.assertEqual(got[("iptraf_interface_receive_packets_total", device)],
                         total["in"]["packets"])
        self.assertEqual(got[("iptraf_interface_transmit_packets_total", device)],
                         total["out"]["packets"])
        self.assertEqual(got[("iptraf_interface_transmit_bytes_total", device)],
                         total["out"]["bytes"])
        self.assertGreater(total["out"]["packets"], 0)
        self.assertEqual(got[("iptraf_protocol_packets_total", '{protocol="tcp"}')],
                         last["counts"]["tcp"]["packets"])


if __name__ == "__main__":
    unittest.main()
