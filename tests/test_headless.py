"""Headless --json, end to end through the real iptraf.py: files and live namespaces."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import netns  # noqa: E402

IPTRAF = netns.IPTRAF
SAMPLE = os.path.join(HERE, "data", "sample.pcap")


def _run(*args):
    return subprocess.run([sys.executable, IPTRAF] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120)


class FileTest(unittest.TestCase):

    def test_traffic_monitor_on_the_sample(self):
        proc = _run("-r", SAMPLE, "-i", "all", "--json")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        (snap,) = [json.loads(line) for line in proc.stdout.decode().splitlines()]
        self.assertEqual(snap["facility"], "traffic")
        self.assertEqual(snap["capture"], {"packets": 20, "dropped": 0, "filtered": 0})
        self.assertEqual(snap["ts"], 1764000001.102)
        web, syn6 = snap["tcp"]
        self.assertEqual((web["a"], web["b"]), ("10.1.0.10:40000", "10.2.0.80:80"))
        self.assertEqual((web["a_to_b"]["packets"], web["b_to_a"]["packets"]), (6, 4))
        self.assertEqual((web["a_to_b"]["bytes"], web["b_to_a"]["bytes"]), (361, 1257))
        self.assertEqual((web["a_to_b"]["flags"], web["b_to_a"]["flags"]), ("CLOSED", "CLOSED"))
        self.assertEqual((syn6["a"], syn6["a_to_b"]["flags"]), ("[fd00::10]:40001", "S---"))
        self.assertEqual([o["proto"] for o in snap["other"]],
                         ["ARP", "ARP", "UDP", "UDP", "ICMP", "ICMP", "ICMP", "ICMP", "STP"])

    def test_json_to_a_file_and_bad_usage(self):
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "out.json")
            self.assertEqual(_run("-r", SAMPLE, "-i", "all", "--json", path).returncode, 0)
            with open(path) as f:
                self.assertEqual(json.loads(f.read())["capture"]["packets"], 20)
        for argv, text in ((["-r", SAMPLE, "-i", "all"], "need a terminal"),
                           (["-r", SAMPLE], "need a terminal"),
                           (["-r", SAMPLE, "--json"], "give a facility"),
                           (["-r", SAMPLE, "--dump", "--json"], "choose one"),
                           (["-i", "lo", "-g", "--json"], "not allowed with argument"),
                           (["-r", SAMPLE, "-i", "all", "--json", "-t", "x"], "30s, 5m, 1h")):
            with self.subTest(argv=argv):
                proc = _run(*argv)
                self.assertEqual(proc.returncode, 2)
                self.assertIn(text, proc.stderr.decode())
                self.assertNotIn("Traceback", proc.stderr.decode())


    def test_help_says_the_output_is_json_lines(self):
        help_text = " ".join(_run("--help").stdout.decode().split())
        self.assertIn("--json and --dump write JSON Lines", help_text)
        self.assertIn("| jq -c", help_text)
        self.assertIn("json.tool --json-lines", help_text)

    def test_bytes_ip_counts_ip_packets_as_iptraf_ng_does(self):
        frames = [json.loads(line) for line in _run("-r", SAMPLE, "--dump").stdout.splitlines()]

        def ip_length(f):
            if "ip_len" in f:
                return f["ip_len"]
            return 40 + f["ip6_plen"] if "ip6_plen" in f else f["len"]
        sizes = [ip_length(f) for f in frames]
        self.assertEqual(sum(f["len"] for f in frames) - sum(sizes), 17 * 14)

        def snap(facility, *mode):
            proc = _run("-r", SAMPLE, facility, *(("all",) if facility != "-g" else ())
                        + ("--json",) + mode)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            return json.loads(proc.stdout.decode())
        self.assertEqual(snap("-g", "--bytes", "ip")["interfaces"][0]["total"]["bytes"],
                         sum(sizes))
        self.assertEqual(snap("-g", "--bytes", "frame")["interfaces"][0]["total"]["bytes"],
                         sum(f["len"] for f in frames))
        self.assertEqual(snap("-d", "--bytes", "ip")["counts"]["total"]["bytes"], sum(sizes))
        z = snap("-z", "--bytes", "ip")
        self.assertEqual((z["largest"], z["bytes"]), (max(sizes), sum(sizes)))
        self.assertEqual(z["bins"][-2]["max"], 1500)            # the bins end at the MTU
        self.assertEqual([b["packets"] for b in z["bins"][:2]],
                         [sum(1 for n in sizes if n <= 75),
                          sum(1 for n in sizes if 75 < n <= 150)])
        s = snap("-s", "--bytes", "ip")
        web = [f for f in frames if 80 in (f.get("tcp_sport"), f.get("tcp_dport"))]
        self.assertEqual([r["bytes"] for r in s["services"] if r["port"] == 80],
                         [sum(ip_length(f) for f in web)])
        i = snap("-i", "--bytes", "ip")
        self.assertEqual(i["tcp"][0]["a_to_b"]["bytes"],
                         sum(ip_length(f) for f in web if f["tcp_dport"] == 80))
        lan = snap("-l", "--bytes", "ip")
        self.assertEqual(sum(r["out"]["bytes"] for r in lan["stations"]), sum(sizes))

    def test_v6_in_v4_counted_and_shown_as_ipv6(self):
        import tempfile
        from builders import eth, ip4, ip6, pcap_bytes, tcp, vlan
        t = 1764000000 * 10**9

        def six_in_four(i, tagged):
            inner = ip6(tcp(b"x" * 10, sport=40000, dport=80, flags="S" if not i else "A"),
                        src="fd00::1", dst="fd00::2")
            outer = ip4(inner, proto=41, src="10.0.0.1", dst="10.0.0.2")
            return eth(vlan(outer, vid=5), type=0x8100) if tagged else eth(outer)
        frames = [(t + i * 1000, six_in_four(i, i == 2)) for i in range(3)]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "6in4.pcap")
            with open(path, "wb") as f:
                f.write(pcap_bytes(frames))

            def snap(*argv):
                proc = _run("-r", path, "--json", *argv)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                return json.loads(proc.stdout.decode())
            plain = snap("-g")["interfaces"][0]
            self.assertEqual((plain["ipv4"]["packets"], plain["ipv6"]["packets"]), (3, 0))
            row = snap("-g", "--v6-in-v4")["interfaces"][0]
            self.assertEqual((row["ipv4"]["packets"], row["ipv6"]["packets"]), (0, 3))
            self.assertEqual(row["total"]["bytes"], plain["total"]["bytes"] - 3 * 20)
            self.assertEqual(snap("-i", "all")["tcp"], [])      # a tunnel, without it
            written = os.path.join(tmp, "w.pcap")
            log = os.path.join(tmp, "t.log")
            for extra in ([], ["-L", log], ["-w", written]):     # the lane, the records
                (conn,) = snap("-i", "all", "--v6-in-v4", *extra)["tcp"]
                self.assertEqual((conn["a"], conn["b"]), ("[fd00::1]:40000", "[fd00::2]:80"))
                self.assertEqual(conn["a_to_b"]["packets"], 3)
                self.assertFalse(conn["under_way"])
            from netdecode.capture.pcap import open_capture
            with open_capture(written) as reader:                # -w: the frames as they came
                self.assertEqual([bytes(fr[4]) for fr in reader.frames()],
                                 [data for _, data in frames])
            self.assertEqual(snap("-d", "all", "--v6-in-v4", "--bytes", "ip")
                             ["counts"]["ipv6"]["bytes"], 3 * (40 + 20 + 10))

    def test_filter_on_a_file(self):
        proc = _run("-r", SAMPLE, "--dump", "-F", "tcp and not ip6")
        frames = [json.loads(line) for line in proc.stdout.decode().splitlines()]
        self.assertEqual(len(frames), 10)
        self.assertTrue(all("tcp_sport" in f and "ip_src" in f for f in frames))
        proc = _run("-r", SAMPLE, "-g", "--json", "-F", "icmp or arp")
        snap = json.loads(proc.stdout.decode())
        self.assertEqual(snap["capture"], {"packets": 20, "dropped": 0, "filtered": 14})
        self.assertEqual(snap["interfaces"][0]["total"]["packets"], 6)
        proc = _run("-r", SAMPLE, "--dump", "-F", "port")
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(proc.stderr.decode(),
                         "iptraf.py: filter: at 5: expected a port number or service name "
                         "after 'port', got end of expression\n")

    def test_a_file_cut_short_still_reports_what_came_before(self):
        cut = os.path.join(HERE, "..", "..", "shared", "corpus", "dpkt__truncated_dns_2.pcap")
        if not os.path.exists(cut):
            self.skipTest("no shared corpus")
        proc = _run("-r", cut, "-g", "--json")
        self.assertEqual(proc.returncode, 1)
        (snap,) = [json.loads(line) for line in proc.stdout.decode().splitlines()]
        self.assertEqual(snap["capture"]["packets"], 1)
        self.assertEqual(snap["interfaces"][0]["total"]["packets"], 1)
        self.assertIn("cut short", proc.stderr.decode())
        self.assertEqual(proc.stderr.decode().count("\n"), 1)


class LiveTest(netns.LiveTestCase):

    def test_tcp_connection_closed_and_sigterm_ends_with_a_snapshot(self):
        pair = self.pair
        self.serve(6)
        proc = pair.popen(pair.b, [sys.executable, IPTRAF, "-i", pair.if_b, "--json",
                                   "--interval", "0.5"])
        self.addCleanup(netns.reap, proc)
        time.sleep(1.0)
        pair.python(pair.a, netns.PEER, "client", pair.ip_b, pair.ip6_b, 3000)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        snaps = [json.loads(line) for line in out.decode().splitlines()]
        self.assertGreaterEqual(len(snaps), 3)        # one per interval, and a last one
        if sys.version_info >= (3, 9):                # JSON Lines, as --help says (--compact: 3.9)
            lines = subprocess.run([sys.executable, "-m", "json.tool", "--json-lines",
                                    "--compact"], input=out, stdout=subprocess.PIPE,
                                   check=True).stdout.decode().splitlines()
            self.assertEqual([json.loads(line) for line in lines], snaps)
        last = snaps[-1]
        (conn,) = [c for c in last["tcp"] if c["b"] == "%s:9001" % pair.ip_b]
        self.assertEqual((conn["a_to_b"]["flags"], conn["b_to_a"]["flags"]), ("CLOSED", "CLOSED"))
        self.assertEqual(conn["iface"], pair.if_b)
        self.assertFalse(conn["under_way"])
        self.assertGreaterEqual(conn["a_to_b"]["bytes"], 3000)
        self.assertEqual(last["capture"]["dropped"], 0)
        self.assertEqual(last["capture"]["packets"],
                         sum(c["a_to_b"]["packets"] + c["b_to_a"]["packets"]
                             for c in last["tcp"]) + sum(f["packets"] for f in last["flows"]))

    def test_general_lists_every_interface_as_they_come_and_go(self):
        pair = self.pair
        proc = pair.popen(pair.b, [sys.executable, IPTRAF, "-g", "--json", "--interval", "0.3"])
        self.addCleanup(netns.reap, proc)

        def names_until(wanted, limit=40):
            """The interface rows of each snapshot until ``wanted(rows)``."""
            for _ in range(limit):
                line = proc.stdout.readline()
                if not line:
                    self.fail(proc.stderr.read())
                rows = {r["iface"]: r for r in json.loads(line)["interfaces"]}
                if wanted(rows):
                    return rows
            self.fail("not seen in %d snapshots: %s" % (limit, sorted(rows)))
        # from the start, every interface, quiet ones too, with zeros
        rows = names_until(lambda rows: True)
        self.assertEqual(sorted(rows), ["lo", pair.if_b])
        self.assertEqual(rows["lo"]["total"], {"packets": 0, "bytes": 0})
        self.assertEqual(rows["lo"]["rate"], {"bps": 0.0, "pps": 0.0})
        pair.run(pair.b, ["ip", "link", "add", "gx0", "type", "veth", "peer", "name", "gx1"])
        rows = names_until(lambda rows: "gx0" in rows and "gx1" in rows)
        self.assertEqual(rows["gx0"]["total"]["packets"], 0)
        pair.run(pair.b, ["ip", "link", "del", "gx0"])
        names_until(lambda rows: sorted(rows) == ["lo", pair.if_b])
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0)

    def test_an_interface_down_then_back_up_is_told_both_times(self):
        pair = self.pair
        proc = pair.popen(pair.b, [sys.executable, IPTRAF, "-d", pair.if_b, "--json",
                                   "--interval", "0.3"])
        self.addCleanup(netns.reap, proc)
        time.sleep(1.0)
        pair.run(pair.b, ["ip", "link", "set", pair.if_b, "down"])
        time.sleep(1.5)
        pair.run(pair.b, ["ip", "link", "set", pair.if_b, "up"])
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(err.decode().splitlines(), [
            "iptraf.py: %s: the interface went down; waiting for it to come back" % pair.if_b,
            "iptraf.py: %s: back up" % pair.if_b])

    def test_timeout_ends_with_a_snapshot(self):
        pair = self.pair
        start = time.monotonic()
        proc = pair.run(pair.b, [sys.executable, IPTRAF, "-i", pair.if_b, "--json", "-t", "2s",
                                 "--interval", "5"])
        self.assertLess(time.monotonic() - start, 6)
        (snap,) = [json.loads(line) for line in proc.stdout.decode().splitlines()]
        self.assertEqual(snap["facility"], "traffic")


if __name__ == "__main__":
    unittest.main()
