"""-B and -L end to end: detaching, logging, log rotation with no line lost, ending on
SIGUSR2 with the pid file removed; log directory errors; -t ending a headless run."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import live_peer  # noqa: E402
import netns  # noqa: E402


def _wait_for(predicate, seconds=10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _lines(path):
    with open(path) as f:
        return f.read().splitlines()


class BackgroundTest(netns.LiveTestCase):

    def _alive(self, pid):
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False

    def test_detach_log_rotate_and_end_on_sigusr2(self):
        pair, tmp = self.pair, self.tmp.name
        log, pid_file = os.path.join(tmp, "traffic.log"), os.path.join(tmp, "iptraf.pid")
        self.serve(20)
        start = time.monotonic()
        proc = pair.run(pair.b, [sys.executable, netns.IPTRAF, "-i", pair.if_b, "-B", "-L", log,
                                 "--pid-file", pid_file, "--interval", "0.2"])
        self.assertLess(time.monotonic() - start, 5)          # detached: the shell got back
        self.assertEqual((proc.returncode, proc.stdout, proc.stderr), (0, b"", b""))
        self.assertTrue(_wait_for(lambda: os.path.exists(pid_file)))
        with open(pid_file) as f:
            pid = int(f.read())
        self.addCleanup(lambda: self._alive(pid) and os.kill(pid, signal.SIGKILL))
        self.assertEqual(oct(os.stat(log).st_mode & 0o777), "0o640")

        pair.python(pair.a, netns.PEER, "client", pair.ip_b, pair.ip6_b, 1000)
        time.sleep(0.6)
        os.rename(log, log + ".1")                            # what logrotate does
        os.kill(pid, signal.SIGHUP)
        self.assertTrue(_wait_for(lambda: os.path.exists(log)))
        pair.python(pair.a, netns.PEER, "client", pair.ip_b, pair.ip6_b, 1000)
        time.sleep(0.6)
        os.kill(pid, signal.SIGUSR2)
        self.assertTrue(_wait_for(lambda: not self._alive(pid)))
        self.assertFalse(os.path.exists(pid_file))

        old, new = _lines(log + ".1"), _lines(log)
        for lines in (old, new):
            udp = [line for line in lines if line.split(" ", 1)[1].startswith("UDP; ")]
            self.assertEqual(len(udp), len(live_peer.UDP4) + len(live_peer.UDP6), lines)
            self.assertEqual(sum("echo request" in line for line in lines), live_peer.ECHOES)
            self.assertEqual(sum("first packet (SYN)" in line for line in lines), 1)
            self.assertEqual(sum("FIN acknowledged" in line for line in lines), 2)
        self.assertIn("logging started", old[0])
        self.assertIn("logging stopped", new[-1])

    def test_statistics_report_blocks_in_json(self):
        pair, tmp = self.pair, self.tmp.name
        log = os.path.join(tmp, "detail.log")
        proc = pair.popen(pair.b, [sys.executable, netns.IPTRAF, "-d", pair.if_b, "-L", log,
                                   "--log-format", "json", "--log-interval", "1",
                                   "--interval", "0.5", "-t", "3s"])
        time.sleep(1.0)
        pair.python(pair.a, netns.PEER, "arp", pair.if_a, pair.ip_b)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        events = [json.loads(line) for line in _lines(log)]
        reports = [e for e in events if e["event"] == "report"]
        self.assertGreaterEqual(len(reports), 2)
        final = reports[-1]
        self.assertTrue(final["final"])
        self.assertEqual(final["counts"]["total"]["packets"], 2)        # the ARP exchange
        self.assertAlmostEqual(final["running_time"], 3.0, delta=1.0)


class LogDirectoryTest(unittest.TestCase):

    def run_iptraf(self, *args):
        return subprocess.run([sys.executable, netns.IPTRAF] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)

    def test_unusable_log_paths_are_one_line(self):
        sample = os.path.join(HERE, "data", "sample.pcap")
        with tempfile.TemporaryDirectory() as tmp:
            target = os.path.join(tmp, "real")
            os.mkdir(target)
            link = os.path.join(tmp, "linked")
            os.symlink(target, link)
            plain = os.path.join(tmp, "plain")
            with open(plain, "w") as f:
                f.write("x")
            os.symlink(plain, os.path.join(target, "trap.log"))
            for path in (os.path.join(plain, "sub", "x.log"),
                         os.path.join(target, "trap.log")):
                with self.subTest(path=path):
                    proc = self.run_iptraf("-r", sample, "-g", "-L", path)
                    self.assertEqual(proc.returncode, 1, proc.stderr)
                    self.assertEqual(proc.stderr.decode().count("\n"), 1, proc.stderr)
                    self.assertTrue(proc.stderr.decode().startswith("iptraf.py: "))
                    self.assertNotIn("Traceback", proc.stderr.decode())

    def test_bad_combinations(self):
        for argv, text in ((["-g", "-B", "-r", "x.pcap"], "not with -r"),
                           (["-g", "-B", "--json"], "give --json a PATH"),
                           (["-g", "--log-interval", "0", "--json"], "--log-interval"),
                           (["-g"], "need a terminal"),
                           (["-i", "lo", "-g", "--json"], "not allowed with argument"),
                           (["-d"], "expected one argument"),
                           (["-g", "--json", "--snaplen", "10"], "--snaplen"),
                           (["-g", "--json", "--ring-mb", "0"], "--ring-mb"),
                           (["-g", "--json", "--interval", "-1"], "--interval"),
                           (["-g", "--json", "--capture-mode", "mmap"], "invalid choice"),
                           (["--dump", "-s", "lo"], "--dump reads"),
                           (["--dump"], "give -r FILE or -i IFACE"),
                           (["--frobnicate"], "unrecognized arguments")):
            with self.subTest(argv=argv):
                proc = self.run_iptraf(*argv)
                self.assertEqual(proc.returncode, 2)
                err = proc.stderr.decode()
                self.assertIn(text, err)
                self.assertEqual(err.count("\n"), 1, err)
                self.assertTrue(err.startswith("iptraf.py: ") and err.endswith("--help)\n"))


if __name__ == "__main__":
    unittest.main()
