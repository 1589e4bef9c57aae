"""Logs: ISO times with the zone, file names and places, safe opening, rotation, write
errors, the IP traffic monitor's events and the other facilities' reports."""
import errno
import json
import os
import stat
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import builders as b  # noqa: E402
from netdecode.accounting import counters  # noqa: E402
from netdecode.decoding.decode import decode  # noqa: E402
from netdecode.accounting.flows import TrafficMonitor  # noqa: E402
from netdecode.output.logs import (  # noqa: E402
    DEFAULT_LOG_DIR, LogError, LogFile, ReportLog, TrafficLog, default_log_name, iso_time,
    log_dir, log_path, open_log, running_time_text,
)
from netdecode.accounting.tables import Options  # noqa: E402
from netdecode.run.monitor import Monitor  # noqa: E402

SEC = 10**9
T0 = 1764000000 * SEC            # 2025-11-24T16:00:00Z
C, S = "10.0.0.1", "10.0.0.2"


class _TZ:
    """Run with the TZ environment variable set to a POSIX zone (no tzdata needed)."""

    def __init__(self, zone):
        self.zone = zone

    def __enter__(self):
        self.old = os.environ.get("TZ")
        os.environ["TZ"] = self.zone
        time.tzset()

    def __exit__(self, *exc):
        if self.old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = self.old
        time.tzset()


_UTC = _TZ("UTC")


def setUpModule():
    _UTC.__enter__()


def tearDownModule():
    _UTC.__exit__()


class _Umask:
    def __init__(self, mask):
        self.mask = mask

    def __enter__(self):
        self.old = os.umask(self.mask)

    def __exit__(self, *exc):
        os.umask(self.old)


class TempDirTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="iptraf-logs-")
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for top, dirs, files in os.walk(self.tmp, topdown=False):
            for name in files:
                os.unlink(os.path.join(top, name))
            for name in dirs:
                path = os.path.join(top, name)
                if os.path.islink(path):
                    os.unlink(path)
                else:
                    os.chmod(path, 0o700)
                    os.rmdir(path)
        os.rmdir(self.tmp)

    def path(self, *names):
        return os.path.join(self.tmp, *names)

    def lines(self, *names):
        with open(self.path(*names), encoding="utf-8") as f:
            return f.read().splitlines()


# --- time ------------------------------------------------------------------------------

class TimeTest(unittest.TestCase):

    def test_iso_time_utc(self):
        self.assertEqual(iso_time(T0 + 123456789), "2025-11-24T16:00:00.123456+00:00")
        self.assertEqual(iso_time(T0 + 999999999), "2025-11-24T16:00:00.999999+00:00")

    def test_zone_offsets(self):
        with _TZ("IST-5:30"):
            self.assertEqual(iso_time(T0), "2025-11-24T21:30:00.000000+05:30")
        with _TZ("<-03>3"):
            self.assertEqual(iso_time(T0 + 1000), "2025-11-24T13:00:00.000001-03:00")

    def test_daylight_saving_changes_within_one_log(self):
        july = 1751328000 * SEC                # 2025-07-01T00:00:00Z
        with _TZ("CET-1CEST,M3.5.0,M10.5.0/3"), tempfile.TemporaryDirectory() as tmp:
            with LogFile(os.path.join(tmp, "x.log")) as log:
                self.assertEqual(log.stamp(july), "2025-07-01T02:00:00.000000+02:00")
                self.assertEqual(log.stamp(T0), "2025-11-24T17:00:00.000000+01:00")
                self.assertEqual(log.stamp(july + 1500), "2025-07-01T02:00:00.000001+02:00")

    def test_running_time(self):
        self.assertEqual(running_time_text(3723 * SEC), "1h 02m 03s")
        self.assertEqual(running_time_text(60 * SEC - 1), "0h 00m 59s")
        self.assertEqual(running_time_text(0), "0h 00m 00s")
        self.assertEqual(running_time_text(90000 * SEC), "25h 00m 00s")


# --- names and places --------------------------------------------------------------------

class NamesTest(unittest.TestCase):

    def test_default_names_are_iptraf_ngs(self):
        self.assertEqual([default_log_name(f, "eth0") for f in (
            "traffic", "general", "detailed", "services", "sizes", "lan")], [
            "ip_traffic-1.log", "iface_stats_general.log", "iface_stats_detailed-eth0.log",
            "tcp_udp_services-eth0.log", "packet_size-eth0.log", "lan_statistics-1.log"])
        self.assertEqual(default_log_name("lan", "all", instance=2), "lan_statistics-2.log")

    def test_interface_names_stay_in_the_directory(self):
        self.assertEqual(default_log_name("sizes", "../../etc/x"), "packet_size-.._.._etc_x.log")
        self.assertEqual(default_log_name("detailed", "br 0\n"), "iface_stats_detailed-br_0_.log")
        with self.assertRaises(ValueError):
            default_log_name("nope", "eth0")

    def test_log_path(self):
        self.assertEqual(DEFAULT_LOG_DIR, "/var/log/iptraf")
        self.assertEqual(log_path(None, "traffic", "all"), "/var/log/iptraf/ip_traffic-1.log")
        self.assertEqual(log_path("", "detailed", "eth0"),
                         "/var/log/iptraf/iface_stats_detailed-eth0.log")
        self.assertEqual(log_path("mine.log", "detailed", "eth0"), "/var/log/iptraf/mine.log")
        self.assertEqual(log_path("./mine.log", "detailed", "eth0"), "./mine.log")
        self.assertEqual(log_path("/srv/logs/x.log", "general", None), "/srv/logs/x.log")
        self.assertEqual(log_path("x.log", "general", None, directory="/srv/l"), "/srv/l/x.log")
        self.assertEqual(log_path(None, "general", None, directory="/srv/l"),
                         "/srv/l/iface_stats_general.log")


class LogDirTest(TempDirTest):

    def assertOneLine(self, err, *words):
        text = str(err)
        self.assertNotIn("\n", text)
        for word in words:
            self.assertIn(word, text)

    def test_creates_it_0750(self):
        target = self.path("var", "log", "iptraf")
        with _Umask(0o022):
            self.assertEqual(log_dir(target), target)
        self.assertEqual(stat.S_IMODE(os.stat(target).st_mode), 0o750)
        self.assertEqual(log_dir(target + "/"), target)       # there already: fine

    def test_refuses_a_symlinked_directory(self):
        os.mkdir(self.path("real"))
        os.symlink(self.path("real"), self.path("link"))
        for given in (self.path("link"), self.path("link") + "/"):
            with self.assertRaises(LogError) as cm:
                log_dir(given)
            self.assertEqual(cm.exception.errno, errno.ELOOP)
            self.assertOneLine(cm.exception, self.path("link"), "symbolic link", "-L")
            self.assertIsInstance(cm.exception, OSError)

    def test_refuses_a_file_and_a_path_under_a_file(self):
        with open(self.path("file"), "w"):
            pass
        with self.assertRaises(LogError) as cm:
            log_dir(self.path("file"))
        self.assertOneLine(cm.exception, self.path("file"), "not a directory")
        with self.assertRaises(LogError) as cm:
            log_dir(self.path("file", "iptraf"))
        self.assertEqual(cm.exception.errno, errno.ENOTDIR)
        self.assertOneLine(cm.exception, self.path("file", "iptraf"),
                           "cannot create or use the log directory", "-L")

    def test_refuses_an_unwritable_directory(self):
        os.chmod(self.tmp, 0o755)
        target = self.path("ro")
        os.mkdir(target, 0o555)
        os.chmod(target, 0o555)
        if os.geteuid() != 0:
            with self.assertRaises(LogError) as cm:
                log_dir(target)
            self.assertOneLine(cm.exception, target, "not writable")
            return
        # root may write anywhere: ask as nobody, in a child that drops its privileges
        # after importing (the tree need not be readable by nobody)
        code = "\n".join((
            "import os, sys",
            "sys.path.insert(0, %r)" % ROOT,
            "from netdecode.output.logs import LogError, LogFile, log_dir",
            "os.setgroups([]); os.setgid(65534); os.setuid(65534)",
            "out = []",
            "for call in (lambda: log_dir(%r), lambda: LogFile(%r)):" % (
                target, os.path.join(target, "x.log")),
            "    try:",
            "        call()",
            "    except LogError as e:",
            "        out.append('%d %s' % (e.errno, e))",
            "sys.stdout.write('\\n'.join(out))",
        ))
        proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        dir_err, file_err = proc.stdout.decode().split("\n")
        self.assertTrue(dir_err.startswith("%d " % errno.EACCES), dir_err)
        self.assertIn(target + ": the log directory is not writable", dir_err)
        self.assertIn("-L", dir_err)
        self.assertIn(os.path.join(target, "x.log") + ": permission denied", file_err)

    def test_open_log_makes_the_directory_for_a_default_name(self):
        where = self.path("logs")
        with _Umask(0o022):
            log = open_log(None, "detailed", "eth0", directory=where)
        log.close()
        self.assertEqual(log.path, os.path.join(where, "iface_stats_detailed-eth0.log"))
        self.assertEqual(stat.S_IMODE(os.stat(where).st_mode), 0o750)
        with open_log(self.path("elsewhere.log"), "general", None, fmt="json") as log:
            self.assertEqual((log.path, log.fmt), (self.path("elsewhere.log"), "json"))


# --- the file -------------------------------------------------------------------------------

class LogFileTest(TempDirTest):

    def test_created_0640_and_appended(self):
        path = self.path("a.log")
        with open(path, "w") as f:
            f.write("kept\n")
        os.unlink(path)
        with _Umask(0o022), LogFile(path) as log:
            log.write_line(T0, "one")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o640)
        with LogFile(path) as log:
            log.write_line(T0 + SEC, "two")
        self.assertEqual(self.lines("a.log"), ["2025-11-24T16:00:00.000000+00:00 one",
                                               "2025-11-24T16:00:01.000000+00:00 two"])

    def test_json_lines(self):
        with LogFile(self.path("j.log"), "json") as log:
            log.write_line(T0 + 1500000, "ignored in json", {"event": "x", "n": 1})
            log.write_line(T0 + 2 * SEC, "plain")
            log.write_block(T0 + 3 * SEC, ["a", "b"], {"event": "report"})
        objs = [json.loads(line) for line in self.lines("j.log")]
        self.assertEqual(objs, [
            {"time": "2025-11-24T16:00:00.001500+00:00", "ts": 1764000000.0015, "event": "x",
             "n": 1},
            {"time": "2025-11-24T16:00:02.000000+00:00", "ts": 1764000002.0, "text": "plain"},
            {"time": "2025-11-24T16:00:03.000000+00:00", "ts": 1764000003.0,
             "event": "report"}])
        with self.assertRaises(ValueError):
            LogFile(self.path("j.log"), "xml")

    def test_text_block_and_escaping(self):
        with LogFile(self.path("t.log")) as log:
            log.write_block(T0, ["header", "eth\x1b[31m0\tred"])
            log.write_line(T0, "caf\u00e9 \u2028")
        self.assertEqual(self.lines("t.log"), [
            "2025-11-24T16:00:00.000000+00:00 header",
            "2025-11-24T16:00:00.000000+00:00 eth\\x1b[31m0\\x09red",
            "2025-11-24T16:00:00.000000+00:00 caf\u00e9 \\u2028"])

    def test_refuses_a_symlink_at_the_log_path(self):
        target = self.path("target")
        with open(target, "w") as f:
            f.write("precious\n")
        os.symlink(target, self.path("x.log"))
        with self.assertRaises(LogError) as cm:
            LogFile(self.path("x.log"))
        self.assertEqual(cm.exception.errno, errno.ELOOP)
        self.assertEqual(str(cm.exception), "%s is a symbolic link, which logs do not follow "
                         "(remove it, or give -L another file)" % self.path("x.log"))
        with open(target) as f:
            self.assertEqual(f.read(), "precious\n")

    def test_other_open_errors_are_one_line(self):
        for path, words in ((self.tmp, "is a directory"),
                            (self.path("no", "such", "x.log"), "no such directory")):
            with self.assertRaises(LogError) as cm:
                LogFile(path)
            self.assertIn(words, str(cm.exception))
            self.assertNotIn("\n", str(cm.exception))
        os.mkfifo(self.path("fifo"))
        with self.assertRaises(LogError) as cm:          # no reader: refused, not hung
            LogFile(self.path("fifo"))
        self.assertEqual(cm.exception.errno, errno.ENXIO)

    def test_reopen_after_rename_loses_nothing(self):
        path = self.path("r.log")
        log = LogFile(path)
        for i in range(3):
            log.write_line(T0 + i, "before %d" % i)
        os.rename(path, path + ".1")                     # logrotate moves it away...
        for i in range(2):
            log.write_line(T0 + 10 + i, "between %d" % i)   # ...these still go there
        with _Umask(0o022):
            self.assertTrue(log.reopen())                # postrotate: kill -HUP
        for i in range(4):
            log.write_line(T0 + 20 + i, "after %d" % i)
        log.close()
        old, new = self.lines("r.log.1"), self.lines("r.log")
        self.assertEqual([line.split(" ", 1)[1] for line in old],
                         ["before 0", "before 1", "before 2", "between 0", "between 1"])
        self.assertEqual([line.split(" ", 1)[1] for line in new],
                         ["after 0", "after 1", "after 2", "after 3"])
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o640)

    def test_a_failed_reopen_keeps_the_old_file(self):
        errors = []
        path = self.path("r.log")
        log = LogFile(path, on_error=errors.append)
        os.rename(path, path + ".1")
        os.symlink(self.path("elsewhere"), path)         # planted meanwhile
        self.assertFalse(log.reopen())
        self.assertEqual(len(errors), 1)
        self.assertIn("symbolic link", errors[0])
        self.assertTrue(log.write_line(T0, "still logged"))
        log.close()
        self.assertEqual(len(self.lines("r.log.1")), 1)
        self.assertFalse(os.path.exists(self.path("elsewhere")))

    def test_write_errors_are_reported_once_and_lines_counted(self):
        errors = []
        log = LogFile("/dev/full", on_error=errors.append)
        for i in range(5):
            self.assertFalse(log.write_line(T0 + i, "lost %d" % i))
        self.assertFalse(log.write_block(T0 + 5, ["a", "b"]))
        self.assertEqual(len(errors), 1)
        self.assertEqual(errors[0], "cannot write the log /dev/full: No space left on device; "
                         "monitoring goes on, and lines are lost until it can be written")
        self.assertEqual(log.lost, 7)                   # lines, the block's two included
        # writing works again (as after logrotate freed space): a line says what was lost
        log.path = self.path("ok.log")
        self.assertTrue(log.reopen())
        self.assertTrue(log.write_line(T0 + 9, "back"))
        self.assertTrue(log.write_line(T0 + 10, "normal"))
        self.assertEqual(self.lines("ok.log"), [
            "2025-11-24T16:00:00.000000+00:00 7 log lines lost: No space left on device",
            "2025-11-24T16:00:00.000000+00:00 back",
            "2025-11-24T16:00:00.000000+00:00 normal"])
        # and a new failure is reported again
        log.path = "/dev/full"
        self.assertTrue(log.reopen())
        log.write_line(T0 + 11, "lost again")
        log.write_line(T0 + 12, "lost again")
        self.assertEqual(len(errors), 2)
        self.assertEqual(log.lost, 9)
        log.close()
        log.close()
        self.assertFalse(log.write_line(T0, "after close"))

    def test_lost_lines_in_json(self):
        log = LogFile("/dev/full", "json", on_error=lambda message: None)
        log.write_line(T0, None, {"event": "a"})
        log.write_line(T0, None, {"event": "b"})
        log.path = self.path("ok.json")
        log.reopen()
        log.write_line(T0 + SEC, None, {"event": "c"})
        log.close()
        self.assertEqual([json.loads(line) for line in self.lines("ok.json")], [
            {"time": "2025-11-24T16:00:01.000000+00:00", "ts": 1764000001.0, "event": "lost",
             "lines": 2, "error": "No space left on device"},
            {"time": "2025-11-24T16:00:01.000000+00:00", "ts": 1764000001.0, "event": "c"}])

    def test_a_pipe_closed_at_the_other_end(self):
        errors = []
        os.mkfifo(self.path("fifo"))
        reader = os.open(self.path("fifo"), os.O_RDONLY | os.O_NONBLOCK)
        log = LogFile(self.path("fifo"), "json", on_error=errors.append)
        self.assertTrue(log.write_line(T0, None, {"event": "a"}))
        self.assertEqual(json.loads(os.read(reader, 4096).decode())["event"], "a")
        os.close(reader)
        for _ in range(3):
            self.assertFalse(log.write_line(T0, None, {"event": "b"}))
        log.close()
        self.assertEqual(len(errors), 1)
        self.assertIn("Broken pipe", errors[0])


# --- the IP traffic monitor ---------------------------------------------------------------

def _record(t, frame, ifindex=0):
    return decode(t, ifindex, None, 1, frame, len(frame))


def _tcp(from_client, flags, seq=0, ack=0, data=b"", port=40000):
    src, dst, sport, dport = (C, S, port, 80) if from_client else (S, C, 80, port)
    return b.eth(b.ip4(b.tcp(data, sport=sport, dport=dport, flags=flags, seq=seq, ack=ack),
                       src=src, dst=dst))


def _conversation():
    """(seconds after T0, frame): a clean close, an RST, mid-stream starts, other traffic."""
    frames = [
        _tcp(True, "S", seq=100),
        _tcp(False, "SA", seq=500, ack=101),
        _tcp(True, "A", seq=101, ack=501),
        _tcp(True, "PA", seq=101, ack=501, data=b"x" * 100),
        _tcp(True, "FA", seq=201, ack=501),             # FIN sent
        _tcp(True, "FA", seq=201, ack=501),             # retransmitted: logged once
        _tcp(False, "A", seq=501, ack=202),             # FIN acknowledged
        _tcp(False, "FA", seq=501, ack=202),            # the other FIN
        _tcp(True, "A", seq=202, ack=502),              # acknowledged: closed both ways
        _tcp(True, "A", seq=202, ack=502),              # nothing new
        _tcp(True, "S", seq=1, port=40001),
        _tcp(False, "RA", ack=2, port=40001),           # reset
        _tcp(False, "RA", ack=2, port=40001),           # again: logged once
        _tcp(True, "R", seq=9, port=40002),             # a reset first seen: only the reset
        _tcp(False, "PA", seq=5000, ack=900, data=b"y" * 10, port=40003),   # under way
        b.eth(b.ip4(b.udp(b"q" * 20, sport=5353, dport=53), proto=17)),
        b.eth(b.ip4(b.icmp(type=3, code=3), src=S, dst=C, proto=1)),
        b.eth(b.arp(op=1, spa="10.0.0.1", tpa="10.0.0.9"), type=0x0806, pad=True),
        b.eth(b.ip6(b.tcp(sport=1, dport=2), src="fd00::1", dst="fd00::2"), type=0x86DD),
        b.eth(b.ip4(b.udp(b.vxlan(b.eth(b.ip4(b.tcp(sport=7, dport=8), src="10.9.0.1",
                                              dst="10.9.0.2"))),
                          sport=50000, dport=4789), proto=17)),          # a tunnel
    ]
    return [((i + 1) * SEC // 10, frame) for i, frame in enumerate(frames)]


_EXPECTED_TEXT = [
    "2025-11-24T16:00:00.100000+00:00 IP traffic monitor on eth0: logging started",
    "2025-11-24T16:00:00.100000+00:00 TCP; eth0; 54 bytes; from 10.0.0.1:40000 to "
    "10.0.0.2:80; first packet (SYN)",
    "2025-11-24T16:00:00.500000+00:00 TCP; eth0; 54 bytes; from 10.0.0.1:40000 to "
    "10.0.0.2:80; FIN sent; 4 packets, 316 bytes, avg flow rate 6.32 kbps",
    "2025-11-24T16:00:00.700000+00:00 TCP; eth0; 54 bytes; from 10.0.0.2:80 to "
    "10.0.0.1:40000; FIN acknowledged",
    "2025-11-24T16:00:00.800000+00:00 TCP; eth0; 54 bytes; from 10.0.0.2:80 to "
    "10.0.0.1:40000; FIN sent; 3 packets, 162 bytes, avg flow rate 1.85 kbps",
    "2025-11-24T16:00:00.900000+00:00 TCP; eth0; 54 bytes; from 10.0.0.1:40000 to "
    "10.0.0.2:80; FIN acknowledged",
    "2025-11-24T16:00:01.100000+00:00 TCP; eth0; 54 bytes; from 10.0.0.1:40001 to "
    "10.0.0.2:80; first packet (SYN)",
    "2025-11-24T16:00:01.200000+00:00 TCP; eth0; 54 bytes; from 10.0.0.2:80 to "
    "10.0.0.1:40001; Connection reset; 1 packets, 54 bytes, avg flow rate 4.32 kbps; "
    "opposite direction 1 packets, 54 bytes, avg flow rate 4.32 kbps",
    "2025-11-24T16:00:01.400000+00:00 TCP; eth0; 54 bytes; from 10.0.0.1:40002 to "
    "10.0.0.2:80; Connection reset; 1 packets, 54 bytes, avg flow rate n/a; "
    "opposite direction 0 packets, 0 bytes, avg flow rate n/a",
    "2025-11-24T16:00:01.500000+00:00 TCP; eth0; 64 bytes; from 10.0.0.2:80 to "
    "10.0.0.1:40003; first packet",
    "2025-11-24T16:00:01.600000+00:00 UDP; eth0; 62 bytes; from 10.0.0.1:5353 to 10.0.0.2:53",
    "2025-11-24T16:00:01.700000+00:00 ICMP; eth0; 42 bytes; from 10.0.0.2 to 10.0.0.1; "
    "dest unreachable (port)",
    "2025-11-24T16:00:01.800000+00:00 ARP; eth0; 60 bytes; from 02:00:00:00:00:01 to "
    "02:00:00:00:00:02; ARP request: who-has 10.0.0.9 tell 10.0.0.1",
    "2025-11-24T16:00:01.800000+00:00 ALERT; arp-new-station; ip 10.0.0.1; "
    "mac 02:00:00:00:00:01",
    "2025-11-24T16:00:01.900000+00:00 TCP; eth0; 74 bytes; from [fd00::1]:1 to [fd00::2]:2; "
    "first packet (SYN)",
    "2025-11-24T16:00:02.000000+00:00 VXLAN; eth0; 104 bytes; from 10.0.0.1 to 10.0.0.2; "
    "VXLAN carrying TCP; inner TCP from 10.9.0.1:7 to 10.9.0.2:8",
    "2025-11-24T16:00:03.000000+00:00 TCP; eth0; from 10.0.0.2:80 to 10.0.0.1:40003; active; "
    "1 packets, 64 bytes, avg flow rate n/a; opposite direction 0 packets, 0 bytes, "
    "avg flow rate n/a",
    "2025-11-24T16:00:03.000000+00:00 TCP; eth0; from [fd00::1]:1 to [fd00::2]:2; active; "
    "1 packets, 74 bytes, avg flow rate n/a; opposite direction 0 packets, 0 bytes, "
    "avg flow rate n/a",
    "2025-11-24T16:00:03.000000+00:00 IP traffic monitor on eth0: logging stopped; "
    "running time: 0h 00m 02s",
]


def _flow(packets, nbytes, bytes_per_s=None):
    avg = None if bytes_per_s is None else {"bytes_per_s": bytes_per_s,
                                            "bits_per_s": round(bytes_per_s * 8, 3)}
    return {"packets": packets, "bytes": nbytes, "avg": avg}


def _tcp_json(seconds, event, size, src, dst, **fields):
    out = {"time": iso_time(T0 + int(seconds * 10) * SEC // 10),
           "ts": round(T0 / 1e9 + seconds, 6), "event": event, "iface": "eth0"}
    if size is not None:
        out["bytes"] = size
    out.update(src=src, dst=dst)
    out.update(fields)
    return out


_EXPECTED_JSON = [
    {"time": "2025-11-24T16:00:00.100000+00:00", "ts": 1764000000.1, "event": "start",
     "facility": "traffic", "iface": "eth0"},
    _tcp_json(0.1, "tcp_first", 54, "10.0.0.1:40000", "10.0.0.2:80", syn=True),
    _tcp_json(0.5, "tcp_fin", 54, "10.0.0.1:40000", "10.0.0.2:80", flow=_flow(4, 316, 790.0)),
    _tcp_json(0.7, "tcp_fin_ack", 54, "10.0.0.2:80", "10.0.0.1:40000"),
    _tcp_json(0.8, "tcp_fin", 54, "10.0.0.2:80", "10.0.0.1:40000",
              flow={"packets": 3, "bytes": 162,
                    "avg": {"bytes_per_s": 231.429, "bits_per_s": 1851.429}}),
    _tcp_json(0.9, "tcp_fin_ack", 54, "10.0.0.1:40000", "10.0.0.2:80"),
    _tcp_json(1.1, "tcp_first", 54, "10.0.0.1:40001", "10.0.0.2:80", syn=True),
    _tcp_json(1.2, "tcp_reset", 54, "10.0.0.2:80", "10.0.0.1:40001",
              flow=_flow(1, 54, 540.0), opposite=_flow(1, 54, 540.0)),
    _tcp_json(1.4, "tcp_reset", 54, "10.0.0.1:40002", "10.0.0.2:80",
              flow=_flow(1, 54), opposite=_flow(0, 0)),
    _tcp_json(1.5, "tcp_first", 64, "10.0.0.2:80", "10.0.0.1:40003", syn=False),
    {"time": "2025-11-24T16:00:01.600000+00:00", "ts": 1764000001.6, "event": "other",
     "iface": "eth0", "proto": "UDP", "text": "UDP", "bytes": 62, "src": "10.0.0.1:5353",
     "dst": "10.0.0.2:53"},
    {"time": "2025-11-24T16:00:01.700000+00:00", "ts": 1764000001.7, "event": "other",
     "iface": "eth0", "proto": "ICMP", "text": "dest unreachable (port)", "bytes": 42,
     "src": "10.0.0.2", "dst": "10.0.0.1"},
    {"time": "2025-11-24T16:00:01.800000+00:00", "ts": 1764000001.8, "event": "other",
     "iface": "eth0", "proto": "ARP", "text": "ARP request: who-has 10.0.0.9 tell 10.0.0.1",
     "bytes": 60, "src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"},
    {"time": "2025-11-24T16:00:01.800000+00:00", "ts": 1764000001.8, "event": "alert",
     "kind": "arp-new-station", "state": "ended", "ip": "10.0.0.1",
     "mac": "02:00:00:00:00:01", "first": 1764000001.8, "last": 1764000001.8, "count": 1},
    _tcp_json(1.9, "tcp_first", 74, "[fd00::1]:1", "[fd00::2]:2", syn=True),
    {"time": "2025-11-24T16:00:02.000000+00:00", "ts": 1764000002.0, "event": "other",
     "iface": "eth0", "proto": "VXLAN", "text": "VXLAN carrying TCP", "bytes": 104,
     "src": "10.0.0.1", "dst": "10.0.0.2",
     "inner": {"tunnel": "VXLAN", "proto": "TCP", "src": "10.9.0.1:7", "dst": "10.9.0.2:8"}},
    _tcp_json(3.0, "tcp_active", None, "10.0.0.2:80", "10.0.0.1:40003",
              flow=_flow(1, 64), opposite=_flow(0, 0)),
    _tcp_json(3.0, "tcp_active", None, "[fd00::1]:1", "[fd00::2]:2",
              flow=_flow(1, 74), opposite=_flow(0, 0)),
    {"time": "2025-11-24T16:00:03.000000+00:00", "ts": 1764000003.0, "event": "stop",
     "facility": "traffic", "iface": "eth0", "running_time": 2.9},
]


class TrafficLogTest(TempDirTest):

    def run_conversation(self, fmt, **options):
        mon = TrafficMonitor(Options(interface_name=lambda i: "eth%d" % i, **options))
        log = TrafficLog(mon, LogFile(self.path("ip.%s" % fmt), fmt), iface="eth0")
        for seconds, frame in _conversation():
            record = _record(T0 + seconds, frame)
            mon.add(record)
            log.add(record)
        log.close(T0 + 3 * SEC)
        self.assertTrue(log.logfile.closed)
        return self.lines("ip.%s" % fmt)

    def test_text_lines(self):
        lines = self.run_conversation("text")
        self.assertEqual(lines, _EXPECTED_TEXT)

    def test_json_lines(self):
        lines = self.run_conversation("json")
        self.assertEqual([json.loads(line) for line in lines], _EXPECTED_JSON)

    def test_through_the_monitor_loop(self):
        """Wired as the lead wires it: [TrafficMonitor, TrafficLog] in one Monitor."""
        mon = TrafficMonitor(Options(interface_name=lambda i: "eth%d" % i))
        log = TrafficLog(mon, LogFile(self.path("ip.text")), iface="eth0")
        loop = Monitor([mon, log], interval=0.25)
        loop.feed([(T0 + t, 0, None, 1, f, len(f)) for t, f in _conversation()])
        loop.finish()
        log.close(T0 + 3 * SEC)
        self.assertEqual(self.lines("ip.text"), _EXPECTED_TEXT)

    def test_idle_timeout_with_ticks(self):
        mon = TrafficMonitor(Options(interface_name=lambda i: "eth%d" % i, idle_timeout=60,
                                     closed_lifetime=10))
        log = TrafficLog(mon, LogFile(self.path("idle.log")))

        def feed(seconds, frame):
            record = _record(T0 + int(seconds * SEC), frame)
            mon.add(record)
            log.add(record)

        def tick(seconds):
            mon.tick(T0 + seconds * SEC)
            log.tick(T0 + seconds * SEC)

        feed(0, _tcp(True, "S", seq=1))
        feed(0.5, _tcp(False, "SA", seq=7, ack=2))
        for seconds in (30, 60, 61, 62, 65):       # idle from 60.5: logged once, at 61
            tick(seconds)
        feed(66, _tcp(True, "A", seq=2, ack=8))    # busy again...
        tick(100)
        tick(127)                                  # ...and idle again: logged again
        tick(140)                                  # removed at 66 + 60 + 10
        self.assertEqual(mon.tcp, {})
        log.close(T0 + 150 * SEC)
        lines = self.lines("idle.log")
        self.assertEqual(lines[0], "2025-11-24T16:00:00.000000+00:00 IP traffic monitor on "
                         "all interfaces: logging started")
        self.assertEqual(lines[2:4], [
            "2025-11-24T16:01:01.000000+00:00 TCP; eth0; from 10.0.0.1:40000 to 10.0.0.2:80; "
            "idle timeout, no packets for 60 s; 1 packets, 54 bytes, avg flow rate 0.86 "
            "kbps; opposite direction 1 packets, 54 bytes, avg flow rate 0.86 kbps",
            "2025-11-24T16:02:07.000000+00:00 TCP; eth0; from 10.0.0.1:40000 to 10.0.0.2:80; "
            "idle timeout, no packets for 61 s; 2 packets, 108 bytes, avg flow rate 0.01 "
            "kbps; opposite direction 1 packets, 54 bytes, avg flow rate 0.01 kbps"])
        self.assertEqual(lines[4], "2025-11-24T16:02:30.000000+00:00 IP traffic monitor on all "
                         "interfaces: logging stopped; running time: 0h 02m 30s")
        self.assertEqual(len(lines), 5)

    def test_idle_connections_the_monitor_removed_in_the_same_tick(self):
        """With ``expired`` on the monitor (the connections its last tick removed), a
        connection that went idle inside a gap of a capture file is still logged idle."""

        class Expiring(TrafficMonitor):
            def tick(self, now):
                before = dict(self.tcp)
                TrafficMonitor.tick(self, now)
                self.expired = [(k, c) for k, c in before.items() if k not in self.tcp]

        mon = Expiring(Options(interface_name=lambda i: "eth%d" % i, idle_timeout=60,
                               closed_lifetime=10))
        log = TrafficLog(mon, LogFile(self.path("gap.log"), "json"))
        record = _record(T0, _tcp(True, "S", seq=1))
        mon.add(record)
        log.add(record)
        mon.tick(T0 + 3600 * SEC)
        log.tick(T0 + 3600 * SEC)
        self.assertEqual(mon.tcp, {})
        log.close(T0 + 3600 * SEC)
        events = [json.loads(line) for line in self.lines("gap.log")]
        self.assertEqual([e["event"] for e in events], ["start", "tcp_first", "tcp_idle", "stop"])
        self.assertEqual((events[2]["idle_s"], events[2]["src"]), (3600.0, "10.0.0.1:40000"))

    def test_a_connection_seen_again_after_removal_is_new(self):
        mon = TrafficMonitor(Options(interface_name=lambda i: "eth%d" % i, closed_lifetime=1))
        log = TrafficLog(mon, LogFile(self.path("again.log")))
        for round_ in range(2):
            base = T0 + round_ * 10 * SEC
            for i, frame in enumerate((_tcp(True, "S", seq=1), _tcp(False, "RA", ack=2))):
                record = _record(base + i * SEC // 10, frame)
                mon.add(record)
                log.add(record)
            mon.tick(base + 5 * SEC)
            log.tick(base + 5 * SEC)
        log.close(T0 + 20 * SEC)
        events = [line.split("; ")[4] for line in self.lines("again.log")[1:-1]]
        self.assertEqual(events, ["first packet (SYN)", "Connection reset"] * 2)

    def test_names_from_the_network_are_escaped(self):
        mon = TrafficMonitor(Options(interface_name=lambda i: "ev\x1b[2Jil"))
        log = TrafficLog(mon, LogFile(self.path("esc.log")))
        record = _record(T0, _tcp(True, "S"))
        mon.add(record)
        log.add(record)
        log.close(T0)
        self.assertIn("TCP; ev\\x1b[2Jil; 54 bytes;", self.lines("esc.log")[1])

    def test_a_full_disk_does_not_stop_monitoring(self):
        errors = []
        mon = TrafficMonitor(Options(interface_name=lambda i: "eth%d" % i))
        log = TrafficLog(mon, LogFile("/dev/full", on_error=errors.append))
        loop = Monitor([mon, log], interval=0.25)
        loop.feed([(T0 + t, 0, None, 1, f, len(f)) for t, f in _conversation()])
        loop.finish()
        log.close(T0 + 3 * SEC)
        self.assertEqual(len(errors), 1)
        self.assertEqual(log.logfile.lost, len(_EXPECTED_TEXT))
        self.assertEqual(loop.packets, len(_conversation()))
        self.assertEqual(len(mon.snapshot()["tcp"]), 5)


# --- the other facilities' reports ------------------------------------------------------------

def _frame_sized(size, pkttype, ts):
    """A TCP frame to port 80 whose wire length is ``size`` (the captured part is small)."""
    frame = _tcp(True, "A")
    return decode(ts, 0, pkttype, 1, frame, size)


class ReportLogTest(TempDirTest):

    def run_reports(self, facility, sink, fmt="text", interval=20):
        """Three frames of 1,000,000 bytes at 0, 30 and 59 s (in, out, out), a tick every
        10 s up to 60, a report every 20 s, the final one at 90 s."""
        log = ReportLog(facility, sink, LogFile(self.path("r.log"), fmt), interval)
        frames = {0: (1000000, 0), 30: (1000000, 4), 59: (1000000, 4)}
        for second in range(0, 61):
            if second in frames:
                record = _frame_sized(frames[second][0], frames[second][1], T0 + second * SEC)
                sink.add(record)
                log.add(record)
            if second and second % 10 == 0:
                sink.tick(T0 + second * SEC)
                log.tick(T0 + second * SEC)
        log.close(T0 + 90 * SEC)
        return log

    def blocks(self):
        """The text log as {header: [lines]} per report, times stripped."""
        out, current = [], None
        for line in self.lines("r.log"):
            stamp, text = line.split(" ", 1)
            if "report; running time" in text or "logging started" in text:
                current = [stamp, text, []]
                out.append(current)
            else:
                current[2].append(text)
        return out

    def options(self):
        return Options(interface_name=lambda i: "eth%d" % i)

    def test_detailed_running_time_and_average_rates(self):
        log = self.run_reports("detailed", counters.DetailedStats(self.options(), 0))
        self.assertEqual(log.reports, 4)
        blocks = self.blocks()
        self.assertEqual([(stamp, header) for stamp, header, _ in blocks], [
            ("2025-11-24T16:00:00.000000+00:00",
             "detailed interface statistics on eth0: logging started"),
            ("2025-11-24T16:00:20.000000+00:00",
             "detailed interface statistics on eth0: report; running time: 0h 00m 20s"),
            ("2025-11-24T16:00:40.000000+00:00",
             "detailed interface statistics on eth0: report; running time: 0h 00m 40s"),
            ("2025-11-24T16:01:00.000000+00:00",
             "detailed interface statistics on eth0: report; running time: 0h 01m 00s"),
            ("2025-11-24T16:01:30.000000+00:00",
             "detailed interface statistics on eth0: final report; running time: 0h 01m 30s")])
        self.assertEqual(blocks[3][2], [
            "total: 3 packets, 3000000 bytes; in 1 packets, 1000000 bytes; "
            "out 2 packets, 2000000 bytes",
            "IPv4: 3 packets, 3000000 bytes; in 1 packets, 1000000 bytes; "
            "out 2 packets, 2000000 bytes",
            "IPv6: 0 packets, 0 bytes; in 0 packets, 0 bytes; out 0 packets, 0 bytes",
            "non-IP: 0 packets, 0 bytes; in 0 packets, 0 bytes; out 0 packets, 0 bytes",
            "TCP: 3 packets, 3000000 bytes; in 1 packets, 1000000 bytes; "
            "out 2 packets, 2000000 bytes",
            "UDP: 0 packets, 0 bytes; in 0 packets, 0 bytes; out 0 packets, 0 bytes",
            "ICMP: 0 packets, 0 bytes; in 0 packets, 0 bytes; out 0 packets, 0 bytes",
            "ICMPv6: 0 packets, 0 bytes; in 0 packets, 0 bytes; out 0 packets, 0 bytes",
            "other IP: 0 packets, 0 bytes; in 0 packets, 0 bytes; out 0 packets, 0 bytes",
            "broadcast: 0 packets, 0 bytes; in 0 packets, 0 bytes; out 0 packets, 0 bytes",
            "multicast: 0 packets, 0 bytes; in 0 packets, 0 bytes; out 0 packets, 0 bytes",
            "bad IP: 0 packets, 0 bytes; in 0 packets, 0 bytes; out 0 packets, 0 bytes",
            "IP checksum errors: 0",
            # 3,000,000 bytes over exactly 60 s: 50,000 bytes/s, 400,000 bits/s
            "total rates: avg 400000.00 bits/s (50000.00 bytes/s), 0.05 packets/s; "
            "current 800000.00 bits/s, 0.10 packets/s; peak 800000.00 bits/s, 0.10 packets/s",
            "in rates: avg 133333.33 bits/s (16666.67 bytes/s), 0.02 packets/s; "
            "current 0.00 bits/s, 0.00 packets/s; peak 800000.00 bits/s, 0.10 packets/s",
            "out rates: avg 266666.67 bits/s (33333.33 bytes/s), 0.03 packets/s; "
            "current 800000.00 bits/s, 0.10 packets/s; peak 800000.00 bits/s, 0.10 packets/s"])
        self.assertEqual(blocks[1][2][-3], "total rates: avg 400000.00 bits/s (50000.00 bytes/s),"
                         " 0.05 packets/s; current 0.00 bits/s, 0.00 packets/s; peak 800000.00 "
                         "bits/s, 0.10 packets/s")          # 1,000,000 bytes over 20 s
        self.assertEqual(blocks[4][2][-3], "total rates: avg 266666.67 bits/s (33333.33 bytes/s),"
                         " 0.03 packets/s; current 800000.00 bits/s, 0.10 packets/s; peak "
                         "800000.00 bits/s, 0.10 packets/s")

    def test_detailed_json(self):
        self.run_reports("detailed", counters.DetailedStats(self.options(), 0), fmt="json")
        objs = [json.loads(line) for line in self.lines("r.log")]
        self.assertEqual([(o["event"], o.get("running_time"), o.get("final")) for o in objs], [
            ("start", None, None), ("report", 20.0, False), ("report", 40.0, False),
            ("report", 60.0, False), ("report", 90.0, True)])
        at60 = objs[3]
        self.assertEqual((at60["time"], at60["ts"], at60["facility"], at60["iface"]),
                         ("2025-11-24T16:01:00.000000+00:00", 1764000060.0, "detailed", "eth0"))
        self.assertEqual(at60["avg"]["total"], {"bits_per_s": 400000.0, "bytes_per_s": 50000.0,
                                                "packets_per_s": 0.05})
        self.assertEqual(at60["avg"]["in"]["bytes_per_s"], 16666.667)
        self.assertEqual(at60["current"]["total"], {"bits_per_s": 800000.0,
                                                    "packets_per_s": 0.1})
        self.assertEqual(at60["counts"]["tcp"], {"packets": 3, "bytes": 3000000,
                                                 "in": {"packets": 1, "bytes": 1000000},
                                                 "out": {"packets": 2, "bytes": 2000000}})
        self.assertEqual(at60["ip_checksum_errors"], 0)

    def test_general(self):
        self.run_reports("general", counters.GeneralStats(self.options()))
        blocks = self.blocks()
        self.assertEqual(blocks[3][1], "general interface statistics on all interfaces: report; "
                         "running time: 0h 01m 00s")
        self.assertEqual(blocks[3][2], [
            "eth0: total 3 packets, 3000000 bytes; IPv4 3 packets, 3000000 bytes; "
            "IPv6 0 packets, 0 bytes; non-IP 0 packets, 0 bytes; bad IP 0 packets, 0 bytes; "
            "avg 400000.00 bits/s (50000.00 bytes/s), 0.05 packets/s; "
            "current 800000.00 bits/s, 0.10 packets/s; peak 800000.00 bits/s, 0.10 packets/s"])

    def test_services_json(self):
        self.run_reports("services", counters.ServiceStats(self.options(), 0), fmt="json")
        at60 = json.loads(self.lines("r.log")[3])
        self.assertEqual(at60["services"], [{
            "proto": "tcp", "port": 80, "packets": 3, "bytes": 3000000,
            "in": {"packets": 3, "bytes": 3000000}, "out": {"packets": 0, "bytes": 0},
            "avg": {"bits_per_s": 400000.0, "bytes_per_s": 50000.0, "packets_per_s": 0.05},
            "current": {"bits_per_s": 800000.0, "packets_per_s": 0.1}}])
        self.assertEqual(at60["unported"]["tcp"], {"packets": 0, "bytes": 0})

    def test_services_text(self):
        self.run_reports("services", counters.ServiceStats(self.options(), 0))
        self.assertEqual(self.blocks()[3][2], [
            "tcp/80: 3 packets, 3000000 bytes; in 3 packets, 3000000 bytes; out 0 packets, "
            "0 bytes; avg 400000.00 bits/s (50000.00 bytes/s), 0.05 packets/s; "
            "current 800000.00 bits/s, 0.10 packets/s",
            "without ports (later fragments): tcp 0 packets, 0 bytes; udp 0 packets, 0 bytes"])

    def test_sizes(self):
        self.run_reports("sizes", counters.SizeStats(self.options(), 0))
        body = self.blocks()[3][2]
        self.assertEqual(body[0], "MTU 1500, link header 14 bytes")
        self.assertEqual(body[1], "1-75 bytes: 0 packets (in 0, out 0)")
        self.assertEqual(body[20], "1426-1514 bytes: 0 packets (in 0, out 0)")
        self.assertEqual(body[21], "1515+ bytes (oversized): 3 packets (in 1, out 2)")
        self.assertEqual(body[22], "total: 3 packets, 3000000 bytes; largest 1000000 bytes, "
                         "mean 1000000.00 bytes; avg 400000.00 bits/s (50000.00 bytes/s), "
                         "0.05 packets/s")
        self.assertEqual(len(body), 23)

    def test_lan(self):
        self.run_reports("lan", counters.LanStats(self.options(), 0), fmt="json")
        at60 = json.loads(self.lines("r.log")[3])
        sender, receiver = at60["stations"]
        self.assertEqual((sender["mac"], sender["group"]), ("02:00:00:00:00:01", False))
        self.assertEqual(sender["out"], {"packets": 3, "bytes": 3000000, "ip_packets": 3})
        self.assertEqual(sender["avg"]["out"]["bits_per_s"], 400000.0)
        self.assertEqual(sender["avg"]["in"],
                         {"bits_per_s": 0.0, "bytes_per_s": 0.0, "packets_per_s": 0.0})
        self.assertEqual(receiver["in"]["bytes"], 3000000)
        self.assertEqual(receiver["current"]["in"], {"bits_per_s": 800000.0,
                                                     "packets_per_s": 0.1})

    def test_lan_text(self):
        self.run_reports("lan", counters.LanStats(self.options(), 0))
        self.assertEqual(self.blocks()[3][2][0],
                         "02:00:00:00:00:01 on eth0: in 0 packets, 0 bytes, 0 IP; "
                         "out 3 packets, 3000000 bytes, 3 IP; in avg 0.00 bits/s (0.00 bytes/s), "
                         "0.00 packets/s; out avg 400000.00 bits/s (50000.00 bytes/s), "
                         "0.05 packets/s; in current 0.00 bits/s, 0.00 packets/s; "
                         "out current 800000.00 bits/s, 0.10 packets/s")

    def test_running_time_starts_at_a_tick_before_any_packet(self):
        """Live on a quiet interface: logging starts at the first tick, not the first
        packet, and the running time and averages count from there."""
        sink = counters.DetailedStats(self.options(), 0)
        log = ReportLog("detailed", sink, LogFile(self.path("r.log"), "json"), 3600)
        sink.tick(T0)
        log.tick(T0)
        record = _frame_sized(3000000, 0, T0 + 30 * SEC)
        sink.add(record)
        log.add(record)
        sink.tick(T0 + 60 * SEC)
        log.tick(T0 + 60 * SEC)
        self.assertEqual(log.reports, 0)            # the interval has not passed
        log.close(T0 + 60 * SEC)
        final = json.loads(self.lines("r.log")[-1])
        self.assertEqual((final["running_time"], final["final"]), (60.0, True))
        self.assertEqual(final["avg"]["total"]["bytes_per_s"], 50000.0)
        self.assertEqual(final["avg"]["total"]["bits_per_s"], 400000.0)

    def test_through_the_monitor_loop(self):
        sink = counters.GeneralStats(self.options())
        log = ReportLog("general", sink, LogFile(self.path("r.log"), "json"), 20)
        loop = Monitor([sink, log], interval=1.0)
        frame = _tcp(True, "A")
        loop.feed([(T0 + k * SEC, 0, 0, 1, frame, 50000) for k in range(61)])
        loop.finish()
        log.close(loop.last_ts)
        objs = [json.loads(line) for line in self.lines("r.log")]
        self.assertEqual([o.get("running_time") for o in objs], [None, 20.0, 40.0, 60.0, 60.0])
        eth0 = objs[-1]["interfaces"][0]
        self.assertEqual(eth0["total"], {"packets": 61, "bytes": 3050000})
        self.assertEqual(eth0["avg"]["bytes_per_s"], round(3050000 / 60, 3))

    def test_no_time_no_rates(self):
        sink = counters.DetailedStats(self.options(), 0)
        log = ReportLog("detailed", sink, LogFile(self.path("r.log")), 60)
        record = _frame_sized(100, 0, T0)
        sink.add(record)
        log.add(record)
        log.close(T0)
        self.assertIn("total rates: avg n/a; current 0.00 bits/s", "\n".join(self.lines("r.log")))

    def test_bad_arguments(self):
        sink = counters.GeneralStats(self.options())
        with LogFile(self.path("r.log")) as f:
            for facility, interval in (("traffic", 60), ("general", 0)):
                with self.assertRaises(ValueError):
                    ReportLog(facility, sink, f, interval)


if __name__ == "__main__":
    unittest.main()
