"""The curses program, driven in a real terminal (tmux): menus, the six screens, sort and
column cycling, resizing, the Configure and Filters dialogs with their saved settings,
and a clean exit by key and by signal.  The file tests read tests/data/sample.pcap and
captures built here; the live test watches lo inside a namespace of its own."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from builders import eth, ip4, ip6, pcap_bytes, sll, tcp, udp
from netns import IPTRAF, reap, require_live, sh
from terminal import Terminal, require_tmux

SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sample.pcap")
ENCAP_VXLAN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "encap",
                           "vxlan-live.pcap")


class ScreenTestCase(unittest.TestCase):
    def setUp(self):
        require_tmux(self)
        self.folder = tempfile.mkdtemp(prefix="iptraf-screens-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.config = os.path.join(self.folder, "iptraf.conf")

    def start(self, *args, **kwargs):
        """iptraf.py with ``args`` in a terminal of its own (cols x rows)."""
        argv = (kwargs.pop("prefix", []) + [sys.executable, IPTRAF, "--config", self.config]
                + list(args))
        term = Terminal(argv, kwargs.pop("cols", 80), kwargs.pop("rows", 24))
        self.addCleanup(term.close)
        return term

    def assertCleanExit(self, term, keys=("x",)):
        term.keys(*keys)
        status, screen, modes = term.exited()
        self.assertEqual(status, 0, screen)
        self.assertNotIn("Traceback", screen)
        # the terminal is given back as it was: line editing and echo on
        self.assertIn("icanon", modes, screen)
        self.assertIn("echo", modes, screen)
        return screen

    def write_capture(self, frames):
        path = os.path.join(self.folder, "capture.pcap")
        with open(path, "wb") as f:
            f.write(pcap_bytes(frames))
        return path


def _opened(term, name):
    """The screen of facility ``name`` (or its short name, in a narrow terminal), once
    the whole file has been read into it."""
    return term.wait_for(lambda s: any(" %s " % n in s.split("\n")[0]
                                       for n in (name, _SHORT_NAMES.get(name)))
                         and "(end of file)" in s)


_SHORT_NAMES = {"IP traffic monitor": "IP traffic",
                "General interface statistics": "General statistics",
                "Detailed interface statistics": "Detailed statistics",
                "TCP/UDP service monitor": "TCP/UDP services",
                "Packet size breakdown": "Packet sizes", "LAN station monitor": "LAN stations"}


def _edit_expression(term, text):
    """In the Filters dialog: the expression line (below the protocols) set to text."""
    from netdecode.run.settings import FILTER_PROTOCOLS
    term.keys(*["Down"] * len(FILTER_PROTOCOLS))
    term.keys("Enter", "C-u", text, "Enter")


def _row(screen, text):
    """The screen line that holds ``text``."""
    for line in screen.splitlines():
        if text in line:
            return line
    raise AssertionError("%r not on the screen:\n%s" % (text, screen))


class TestMenus(ScreenTestCase):
    def test_every_menu_entry_opens_its_screen(self):
        term = self.start("-r", SAMPLE, "-n")
        screen = term.wait_for("LAN station monitor")
        for entry in ("IP traffic monitor", "General interface statistics",
                      "Detailed interface statistics", "Statistical breakdowns",
                      "Filters", "Configure", "About", "Exit"):
            self.assertIn(entry, screen)

        term.keys("i")
        screen = term.wait_for("end of file")
        self.assertIn("TCP Connections (Source Host:Port)", screen)
        self.assertEqual(_row(screen, "10.1.0.10:40000").split()[1:5],
                         ["=", "6", "361", "CLOSED"])       # = seen from its SYN
        self.assertEqual(_row(screen, "10.2.0.80:80 ").split()[1:4], ["4", "1257", "CLOSED"])
        self.assertEqual(_row(screen, "[fd00::10]:40001").split()[1:5], ["=", "1", "74", "S---"])
        self.assertIn("UDP (71 bytes) from 10.1.0.10:53000 to 10.1.0.1:53 on if0", screen)
        self.assertIn("ICMP echo request (98 bytes)", screen)
        self.assertIn("Pkts 20", screen)
        self.assertIn("TCP 2 Other 9", screen)
        term.keys("x")

        term.keys("g")
        screen = _opened(term, "General interface statistics")
        self.assertEqual(_row(screen, "if0").split()[:6], ["if0", "20", "16", "1", "3", "0"])
        term.keys("x")

        term.keys("d")
        screen = _opened(term, "Detailed interface statistics")
        self.assertEqual(_row(screen, "Total:").split()[1:3], ["20", "2414"])
        self.assertEqual(_row(screen, "TCP:").split()[1:3], ["11", "1692"])
        self.assertEqual(_row(screen, "Non-IP:").split()[1:3], ["3", "172"])
        self.assertIn("IP checksum errors: 0", screen)
        self.assertEqual(_row(screen, "Broadcast rates:").split()[2:4], ["0.44", "kbps"])
        term.keys("x")

        term.keys("s")
        term.wait_for("By packet size")
        term.keys("s")
        screen = _opened(term, "Packet size breakdown")
        self.assertEqual(_row(screen, "1 to 75:").split()[3], "13")
        self.assertIn("Largest packet: 1095 bytes", screen)
        term.keys("x")
        term.keys("s", "p")
        screen = _opened(term, "TCP/UDP service monitor")
        self.assertEqual(_row(screen, "TCP/80").split()[1:7],
                         ["10", "1618", "6", "361", "4", "1257"])
        self.assertEqual(_row(screen, "UDP/53").split()[1:3], ["2", "158"])
        term.keys("x")

        term.keys("l")
        screen = _opened(term, "LAN station monitor")
        self.assertIn("02:00:00:00:00:10 on if0", screen)
        lines = screen.splitlines()
        counts = lines[lines.index(_row(screen, "02:00:00:00:00:10 on if0")) + 1].split()
        self.assertEqual(counts[:3] + counts[5:8], ["8", "7", "1600", "11", "10", "762"])
        term.keys("x")

        term.keys("a")
        self.assertIn("standard library only", term.wait_for("Press a key"))
        term.keys("Enter")
        # each dialog waited for by its own text: the menu behind says "Filters" too
        term.keys("f")
        self.assertIn("[x] Non-IP", term.wait_for("[x] UDP"))
        term.keys("x")
        term.keys("c")
        self.assertIn("Reverse DNS lookups", term.wait_for("TCP idle timeout"))
        term.keys("x")
        term.wait_for("LAN station monitor")
        self.assertCleanExit(term)

    def test_logging_shows_its_file_in_the_status_line(self):
        log = os.path.join(self.folder, "g.log")
        term = self.start("-r", SAMPLE, "-n", "-g", "-L", log, cols=200)
        screen = _opened(term, "General interface statistics")
        self.assertIn("| Log %s" % log, _row(screen, "Pkts 20"))
        self.assertCleanExit(term)
        with open(log) as f:
            self.assertIn("logging started", f.read())

    def test_facility_flag_opens_the_screen_and_x_leaves_the_program(self):
        term = self.start("-r", SAMPLE, "-n", "-z", "all")
        _opened(term, "Packet size breakdown")
        self.assertCleanExit(term)

    def test_no_terminal_says_so_in_one_line(self):
        out = subprocess.run([sys.executable, IPTRAF, "-r", SAMPLE, "-i", "all"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
        self.assertEqual(out.returncode, 2)
        self.assertEqual(out.stderr.strip().count("\n"), 0, out.stderr)
        self.assertIn("need a terminal", out.stderr)

    def test_an_unreadable_file_ends_in_one_line(self):
        broken = os.path.join(self.folder, "broken.pcap")
        with open(broken, "wb") as f:
            f.write(b"not a capture at all")
        term = self.start("-r", broken, "-n", "-i", "all")
        status, screen, _ = term.exited()
        self.assertEqual(status, 1)
        self.assertIn("iptraf.py: ", screen)
        self.assertNotIn("Traceback", screen)


class TestTrafficScreen(ScreenTestCase):
    def capture(self):
        """A small connection first, then a busy one: sorting must swap them."""
        a, b, c = "10.1.0.1", "10.1.0.2", "10.1.0.3"
        t = 1764000000 * 10**9
        frames = [(t, eth(ip4(tcp(sport=1111, dport=80, flags="S"), src=a, dst=b)))]
        for i in range(5):
            frames.append((t + (i + 1) * 10**6,
                           eth(ip4(tcp(b"x" * 100, sport=2222, dport=443, flags="PA"),
                                   src=a, dst=c))))
        return self.write_capture(frames)

    def test_sort_and_column_cycling(self):
        term = self.start("-r", self.capture(), "-n", "-i", "all")
        screen = term.wait_for("end of file")
        order = [l for l in screen.splitlines() if "10.1.0.1:" in l]
        self.assertIn(":1111", order[0])
        self.assertIn("> ", _row(screen, "10.1.0.1:2222"))     # already under way
        self.assertIn("= ", _row(screen, "10.1.0.1:1111"))     # seen from its SYN
        self.assertNotIn("=", _row(screen, "10.1.0.2:80"))     # the mark is the first line's
        term.keys("s", "p")
        screen = term.wait_for("sorted by packets")
        order = [l for l in screen.splitlines() if "10.1.0.1:" in l]
        self.assertIn(":2222", order[0])
        self.assertEqual(_row(screen, "10.1.0.1:2222").split()[2:5], ["5", "770", "-PA-"])

        term.keys("m")
        screen = term.wait_for("Pktsize")
        self.assertEqual(_row(screen, "10.1.0.1:2222").split()[2:5], ["5", "154", "65535"])
        term.keys("m")
        screen = term.wait_for("Source MAC")
        self.assertIn("02:00:00:00:00:01", _row(screen, "10.1.0.1:2222"))
        term.keys("m")
        term.wait_for(lambda s: "Bytes" in s and "Source MAC" not in s)

        term.keys("a")
        screen = term.wait_for("Other traffic by address pair")
        term.keys("w", "Down", "End", "Home")
        self.assertCleanExit(term)

    def test_a_tunnel_shows_the_flow_inside(self):
        # TCP, UDP and pings through VXLAN on 4789 and 8472 (tests/data/make_encap.py):
        # the outer flow counted, each entry followed by the inner one
        term = self.start("-r", ENCAP_VXLAN, "-n", "-i", "all", cols=100, rows=40)
        screen = term.wait_for("end of file")
        self.assertIn("TCP 0 Other 29", screen)
        self.assertIn("VXLAN carrying ICMP (92 bytes) from 10.217.0.2 to 10.217.0.1", screen)
        self.assertIn("  inside VXLAN: ICMP 10.64.0.2 to 10.64.0.1", screen)
        self.assertIn("  inside VXLAN: UDP 10.64.0.2:5300 to 10.64.0.1:", screen)
        term.keys("a")
        screen = term.wait_for("Other traffic by address pair (1)")
        self.assertIn("29 pkts  3298 bytes", _row(screen, "10.217.0.1 <-> 10.217.0.2"))
        self.assertIn("  inside VXLAN: ICMP 10.64.0.2 to 10.64.0.1", screen)
        self.assertCleanExit(term)

    def test_resizing_while_a_screen_runs(self):
        term = self.start("-r", SAMPLE, "-n", "-i", "all")
        term.wait_for("end of file")
        for cols, rows in ((80, 24), (60, 15), (200, 60), (30, 8), (80, 24)):
            term.resize(cols, rows)
            if cols < 40:
                screen = term.wait_for("Terminal too small (30x8)")
            else:
                screen = term.wait_for(
                    lambda s: len(s.splitlines()) >= rows - 1 and "Pkts 20" in s
                    and "TCP Connections" in s)
                self.assertEqual(term.size(), "%dx%d" % (cols, rows))
                self.assertLessEqual(max(len(l) for l in screen.splitlines()), cols)
            self.assertNotIn("Traceback", screen)
        self.assertCleanExit(term)

    def test_a_monochrome_terminal(self):
        term = self.start("-r", SAMPLE, "-n", "-i", "all", prefix=["env", "TERM=vt100"])
        screen = term.wait_for("end of file")
        self.assertEqual(_row(screen, "10.1.0.10:40000").split()[1:5],
                         ["=", "6", "361", "CLOSED"])
        self.assertCleanExit(term)

    def test_starting_in_a_tiny_terminal(self):
        term = self.start("-r", SAMPLE, "-n", cols=30, rows=8)
        term.wait_for("Terminal too small")
        self.assertCleanExit(term)


class TestNarrowTerminals(ScreenTestCase):
    """Every screen at 40x10, 60x15 and 80x24: nothing past the edge, a space between
    the title and its label, and what matters most in sight."""

    SCREENS = (("-i", "IP traffic monitor", "10.1.0.10:40000 "),
               ("-g", "General interface statistics", "if0 "),
               ("-d", "Detailed interface statistics", "Total:"),
               ("-s", "TCP/UDP service monitor", "TCP/80 "),
               ("-z", "Packet size breakdown", "1 to 75:"),
               ("-l", "LAN station monitor", "02:00:00:00:00:10"))

    def test_every_screen_at_every_size(self):
        for flag, name, wanted in self.SCREENS:
            for cols, rows in ((40, 10), (60, 15), (80, 24)):
                with self.subTest(screen=name, size="%dx%d" % (cols, rows)):
                    argv = ["-r", SAMPLE, "-n", flag] + ([] if flag == "-g" else ["all"])
                    term = self.start(*argv, cols=cols, rows=rows)
                    screen = _opened(term, name)
                    lines = screen.splitlines()
                    self.assertLessEqual(max(len(l) for l in lines), cols, screen)
                    title = lines[0]                # never "breakdownsample"
                    self.assertTrue(" %s " % name in title
                                    or " %s " % _SHORT_NAMES[name] in title, title)
                    self.assertIn(wanted, screen)
                    self.assertCleanExit(term)

    def test_left_and_right_reach_the_columns_out_of_sight(self):
        term = self.start("-r", SAMPLE, "-n", "-s", "all", cols=40, rows=10)
        screen = _opened(term, "TCP/UDP service monitor")
        self.assertNotIn("BytesFrom", screen)
        self.assertIn("Left/Right columns", screen)
        term.keys("Right", "Right", "Right", "Right", "Right", "Right")
        screen = term.wait_for("BytesFrom Rate")
        self.assertTrue(_row(screen, "TCP/80 ").startswith("TCP/80 "))   # the label stays
        self.assertIn("11.84", _row(screen, "TCP/80 "))
        term.keys("Left", "Left", "Left", "Left", "Left", "Left")
        term.wait_for(lambda s: "Pkts     Bytes" in s)
        self.assertCleanExit(term)

    def test_configure_keeps_its_values_at_40_columns(self):
        term = self.start("-r", SAMPLE, "-n", cols=40, rows=24)
        term.wait_for("Configure")
        term.keys("c")
        screen = term.wait_for("Reverse DNS")
        self.assertIn("yes", _row(screen, "Reverse DNS"))
        self.assertIn("/etc/ethers", _row(screen, "MAC address desc"))
        term.keys("x")
        term.wait_for("LAN station monitor")
        self.assertCleanExit(term)

    def test_an_endpoint_keeps_its_port_when_the_host_is_shortened(self):
        from netdecode.ui.text import fit_endpoint
        self.assertEqual(fit_endpoint("localhost:37412", 12), "local~:37412")
        self.assertEqual(fit_endpoint("[fd00::10]:40001", 30), "[fd00::10]:40001")


class TestSizesScreen(ScreenTestCase):
    def test_in_and_out_per_bin_and_the_largest_each_way(self):
        t = 1764000000 * 10**9
        # Linux cooked frames: the packet type says the direction (0 in, 4 out)
        frames = [(t + i, sll(ip4(udp(b"x" * size)), pkttype=way))
                  for i, (size, way) in enumerate(((10, 0), (20, 0), (30, 4), (900, 4),
                                                   (500, 0)))]
        path = os.path.join(self.folder, "cooked.pcap")
        with open(path, "wb") as f:
            f.write(pcap_bytes(frames, linktype=113))
        term = self.start("-r", path, "-n", "-z", "all")
        screen = _opened(term, "Packet size breakdown")
        self.assertEqual(_row(screen, "Count").split()[:5],
                         ["Packet", "size", "Count", "In", "Out"])
        self.assertEqual(_row(screen, "1 to 75:").split()[3:6], ["3", "2", "1"])
        self.assertEqual(_row(screen, "901 to 975:").split()[9:12], ["1", "0", "1"])  # right
        self.assertEqual(_row(screen, "526 to 600:").split()[3:6], ["1", "1", "0"])
        self.assertIn("Largest packet: 944 bytes   in: 544   out: 944", screen)
        self.assertIn("Packets: 5   in: 3   out: 2", screen)
        term.resize(60, 15)             # one column then, scrolled
        screen = term.wait_for(lambda s: "Count" in s and s.count("Count") == 1)
        self.assertEqual(_row(screen, "1 to 75:").split()[3:6], ["3", "2", "1"])
        self.assertCleanExit(term)


class TestSortKeys(ScreenTestCase):
    """iptraf-ng's sort keys, each putting a different row first."""

    def first_after(self, term, keys, label, marker):
        """The first table row holding ``marker`` once ``keys`` sorted by ``label``."""
        term.keys("s", keys)
        screen = term.wait_for("sorted by %s |" % label)
        return [line for line in screen.splitlines()[1:] if marker in line][0]

    def test_services_keys_as_iptraf_ng_has_them(self):
        a, b = "10.1.0.1", "10.1.0.2"
        t = 1764000000 * 10**9
        frames = [(t, eth(ip4(tcp(b"x" * 1400, sport=5000, dport=22, flags="PA"),
                              src=a, dst=b)))]                      # bytes to, bytes
        frames += [(t + i, eth(ip4(tcp(sport=5001, dport=80, flags="A"), src=a, dst=b)))
                   for i in range(1, 6)]                             # packets to, packets
        frames += [(t + i, eth(ip4(tcp(sport=443, dport=5002, flags="A"), src=b, dst=a)))
                   for i in range(6, 9)]                             # packets from
        frames += [(t + 9, eth(ip4(tcp(b"x" * 1000, sport=25, dport=5003, flags="PA"),
                                   src=b, dst=a)))]                  # bytes from
        term = self.start("-r", self.write_capture(frames), "-n", "-s", "all")
        _opened(term, "TCP/UDP service monitor")
        for keys, label, first in (("r", "port", "TCP/22"), ("p", "packets", "TCP/80"),
                                   ("b", "bytes", "TCP/22"), ("t", "packets to", "TCP/80"),
                                   ("o", "bytes to", "TCP/22"),
                                   ("f", "packets from", "TCP/443"),
                                   ("m", "bytes from", "TCP/25"), ("r", "port", "TCP/22")):
            self.assertIn(first + " ", self.first_after(term, keys, label, "TCP/"), keys)
        # K, our key for packets before iptraf-ng's were taken, still sorts by packets
        self.assertIn("TCP/80 ", self.first_after(term, "k", "packets", "TCP/"))
        self.assertCleanExit(term)

    def test_services_the_selected_ports_rates(self):
        term = self.start("-r", SAMPLE, "-n", "-s", "all")
        screen = _opened(term, "TCP/UDP service monitor")
        # bytes to 80 and from it, over the same time as the total: 361 and 1257 of 1618
        self.assertIn("TCP/80: 11.84 kbps total, 2.64 kbps to, 9.20 kbps from", screen)
        term.keys("Down")
        term.wait_for("UDP/53: 1.16 kbps total, 0.52 kbps to, 0.64 kbps from")
        term.keys("End")
        term.wait_for("TCP/443: 0.54 kbps total, 0.54 kbps to, 0.00 kbps from")
        self.assertCleanExit(term)

    def test_lan_ip_packets_in_and_out(self):
        t = 1764000000 * 10**9
        frames = [(t + i, eth(b"\0" * 46, src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b",
                              type=0x88B5)) for i in range(5)]       # not IP
        frames += [(t + i, eth(ip4(tcp(flags="A")), src="02:00:00:00:00:0c",
                               dst="02:00:00:00:00:0d")) for i in range(5, 8)]
        term = self.start("-r", self.write_capture(frames), "-n", "-l", "all")
        _opened(term, "LAN station monitor")
        for keys, label, first in (("p", "packets in", "0b"), ("i", "IP packets in", "0d"),
                                   ("k", "packets out", "0a"),
                                   ("o", "IP packets out", "0c")):
            self.assertIn("02:00:00:00:00:" + first,
                          self.first_after(term, keys, label, " on if0"), keys)
        self.assertCleanExit(term)


class TestSettings(ScreenTestCase):
    def saved_settings(self, term):
        """Leave the dialog and the program; what the settings file then holds."""
        term.keys("x")
        term.wait_for("LAN station monitor")
        self.assertCleanExit(term)
        with open(self.config) as f:
            return f.read()

    def test_configure_is_saved_and_kept_after_a_restart(self):
        term = self.start("-r", SAMPLE, "-n")
        term.wait_for("Configure")
        term.keys("c")
        term.wait_for("Activity mode")
        term.keys("Down", "Down", "Down", "Down", "Down", "Enter")     # kbits -> kbytes
        self.assertIn("kbytes", _row(term.wait_for("kbytes"), "Activity mode"))
        # a value typed in: the TCP idle timeout
        term.keys("Down", "Down", "Enter", "C-u", "30", "Enter")
        term.wait_for(lambda s: "30" in _row(s, "TCP idle timeout").split())
        saved = self.saved_settings(term)
        self.assertIn("activity_unit = kbytes", saved)
        self.assertIn("tcp_timeout = 30", saved)

        term = self.start("-r", SAMPLE, "-n", "-g")
        self.assertIn("kB/s", _row(term.wait_for("if0"), "if0"))
        self.assertCleanExit(term)

    def test_bytes_counted_as_ip_packets_from_configure_and_the_flag(self):
        term = self.start("-r", SAMPLE, "-n")
        term.wait_for("Configure")
        term.keys("c")
        term.wait_for("Bytes counted")
        term.keys("Up", "Up", "Up", "Up", "Enter")          # from the end: frame -> ip
        term.wait_for(lambda s: "ip" in _row(s, "Bytes counted").split())
        term.keys("x", "d")
        screen = _opened(term, "Detailed interface statistics")
        self.assertIn("IP bytes | sample.pcap", screen)     # the screens say so
        self.assertEqual(_row(screen, "Total:").split()[1:3], ["20", "2176"])
        term.keys("x")
        term.wait_for("LAN station monitor")
        self.assertCleanExit(term)
        with open(self.config) as f:
            self.assertIn("bytes = ip", f.read())
        term = self.start("-r", SAMPLE, "-n", "-d", "all", "--bytes", "frame")   # the flag wins
        screen = _opened(term, "Detailed interface statistics")
        self.assertNotIn("IP bytes", screen)
        self.assertEqual(_row(screen, "Total:").split()[1:3], ["20", "2414"])
        self.assertCleanExit(term)

    def test_v6_in_v4_as_ipv6_from_configure(self):
        t = 1764000000 * 10**9
        inner = ip6(tcp(sport=40000, dport=80, flags="S"), src="fd00::1", dst="fd00::2")
        path = self.write_capture([(t, eth(ip4(inner, proto=41)))])
        term = self.start("-r", path, "-n", rows=30)        # Configure's every line
        term.wait_for("Configure")
        term.keys("c")
        term.wait_for("Show v6-in-v4 traffic as IPv6")
        term.keys("Up", "Up", "Enter")                      # no -> yes
        term.wait_for(lambda s: "yes" in _row(s, "Show v6-in-v4").split())
        term.keys("x", "i")
        screen = term.wait_for("end of file")
        self.assertIn("[fd00::1]:40000", screen)
        term.keys("x")
        term.wait_for("LAN station monitor")
        self.assertCleanExit(term)
        with open(self.config) as f:
            self.assertIn("v6_in_v4 = yes", f.read())

    def test_a_bad_value_is_refused_with_a_message(self):
        term = self.start("-r", SAMPLE, "-n")
        term.wait_for("Configure")
        term.keys("c")
        term.wait_for("TCP idle timeout")
        for _ in range(7):
            term.keys("Down")
        term.keys("Enter", "C-u", "soon", "Enter")
        self.assertIn("not a number", term.wait_for("Press a key"))
        term.keys("Enter", "x")
        term.wait_for("LAN station monitor")
        self.assertCleanExit(term)

    def test_filters_dialog_protocols_and_expression(self):
        term = self.start("-r", SAMPLE, "-n")
        term.wait_for("Filters")
        term.keys("f")
        term.wait_for("[x] TCP")
        term.keys("Enter")                                  # TCP off
        term.wait_for("[ ] TCP")
        term.keys("x")
        term.wait_for("A saved filter is on: not (tcp) (F: Filters)")    # the menu says so
        term.keys("i")
        screen = term.wait_for("end of file")
        self.assertNotIn("10.1.0.10:40000", screen)
        self.assertIn("Pkts 20 | Filtered 11 | Filter (saved): not (tcp) |", screen)
        term.resize(120, 24)                                # the rest of the status line
        self.assertIn("TCP 0 Other 9", term.wait_for("Drops 0"))
        term.resize(80, 24)
        term.keys("x", "f")
        term.wait_for("[ ] TCP")
        _edit_expression(term, "icmp")
        term.wait_for("Expression: icmp")
        term.keys("x", "i")
        screen = term.wait_for("end of file")
        self.assertIn("Other traffic (4, newest last)", screen)
        self.assertIn("Filtered 16 | Filter (saved): not (tcp) and (icmp)", screen)
        term.keys("x", "f")
        term.wait_for("Expression: icmp")
        _edit_expression(term, "port port")                 # refused, and kept as it was
        term.wait_for("Filter not taken")
        term.keys("Enter")
        term.wait_for("Expression: icmp")
        saved = self.saved_settings(term)
        self.assertIn("filter_tcp = no", saved)
        self.assertIn("filter_expr = icmp", saved)
        # the next run says at once that the saved filter is on, and with -F, both
        term = self.start("-r", SAMPLE, "-n", "-F", "ip", cols=120)
        term.wait_for("A saved filter is on: not (tcp) and (icmp)")
        term.keys("g")
        screen = _opened(term, "General interface statistics")
        self.assertIn("| Filter: ip, and saved: not (tcp) and (icmp)", screen)
        term.keys("x")
        self.assertCleanExit(term)


class TestNamedEntries(ScreenTestCase):
    def test_filter_sets_defined_applied_edited_detached_deleted_and_kept(self):
        from netdecode.run.settings import FILTER_PROTOCOLS
        term = self.start("-r", SAMPLE, "-n")
        term.wait_for("Filters")
        term.keys("f")
        term.wait_for("Filter sets (0; applied: none)")
        term.keys(*["Down"] * (len(FILTER_PROTOCOLS) + 1))
        term.keys("Enter")
        term.wait_for("New filter set")
        term.keys("n", "web", "Enter", "udp", "Enter")
        term.wait_for("[ ] web: udp")
        term.keys("Enter")                                  # apply it (the new one)
        term.wait_for("[*] web: udp")
        term.keys("x")
        term.wait_for("Filter sets (1; applied: web)")
        term.keys("x")
        term.wait_for("A saved filter is on: (udp)")
        term.keys("i")
        screen = term.wait_for("end of file")
        self.assertIn("Other traffic (2, newest last)", screen)
        self.assertIn("Filtered 18", screen)
        term.keys("x")
        term.wait_for("LAN station monitor")
        self.assertCleanExit(term)
        with open(self.config) as f:
            saved = f.read()
        self.assertIn("filter_set.web = udp", saved)
        self.assertIn("filter_applied = web", saved)

        term = self.start("-r", SAMPLE, "-n")             # kept: on at the next start
        term.wait_for("A saved filter is on: (udp)")
        term.keys("f")
        term.wait_for("Filter sets (1; applied: web)")
        term.keys(*["Down"] * (len(FILTER_PROTOCOLS) + 1))
        term.keys("Enter")
        term.wait_for("[*] web: udp")
        term.keys("e", "C-u", "port port", "Enter")          # refused, kept as it was
        term.wait_for("Filter set not taken")
        term.keys("Enter")
        term.keys("e", "C-u", "icmp", "Enter")
        term.wait_for("[*] web: icmp")
        term.keys("Enter")                                  # detach it
        term.wait_for("[ ] web: icmp")
        term.keys("d")
        term.wait_for(lambda s: "web" not in s)
        term.keys("x")
        term.wait_for("Filter sets (0; applied: none)")
        term.keys("x")
        term.wait_for("LAN station monitor")
        self.assertCleanExit(term)
        with open(self.config) as f:
            saved = f.read()
        self.assertNotIn("filter_set.", saved)
        self.assertIn("filter_applied = \n", saved)

    def test_mac_descriptions_edited_in_configure(self):
        term = self.start("-r", SAMPLE, "-n", rows=30)      # Configure's every line
        term.wait_for("Configure")
        term.keys("c")
        term.wait_for("MAC address descriptions (0 here)")
        term.keys("Up", "Enter")                            # the last line
        term.wait_for("New mac address")
        term.keys("n", "02-00-00-00-00-1O", "Enter")         # not hex: refused
        term.wait_for("MAC address not taken")
        term.keys("Enter")
        term.keys("n", "02-00-00-00-00-10", "Enter", "the client", "Enter")
        term.wait_for("02:00:00:00:00:10: the client")
        term.keys("x")
        term.wait_for("MAC address descriptions (1 here)")
        term.keys("x", "l")
        screen = _opened(term, "LAN station monitor")
        self.assertIn("02:00:00:00:00:10 (the client) on if0", screen)
        term.keys("x")
        term.wait_for("LAN station monitor")
        self.assertCleanExit(term)
        with open(self.config) as f:
            self.assertIn("mac_name.02:00:00:00:00:10 = the client", f.read())


class TestSignals(ScreenTestCase):
    def test_sigterm_restores_the_terminal(self):
        term = self.start("-r", SAMPLE, "-n", "-i", "all")
        term.wait_for("end of file")
        pid = _pid_of(self.config)
        os.kill(pid, signal.SIGTERM)
        status, screen, modes = term.exited()
        self.assertEqual(status, 0, screen)
        self.assertIn("icanon", modes)
        self.assertIn("echo", modes)

    def test_ctrl_c_leaves_quietly(self):
        term = self.start("-r", SAMPLE, "-n", "-d", "all")
        term.wait_for("end of file")
        term.keys("C-c")
        status, screen, _ = term.exited()
        self.assertEqual(status, 0, screen)
        self.assertNotIn("Traceback", screen)


def _pid_of(config):
    """The iptraf.py started with this --config (the only one)."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if config.encode() in argv and any(a.endswith(b"iptraf.py") for a in argv):
            return int(name)
    raise AssertionError("no iptraf.py running with %s" % config)


_LO_TRAFFIC = r"""
import socket, sys, time
payload = int(sys.argv[1])
server = socket.socket()
server.bind(("127.0.0.1", 45678))
server.listen(1)
client = socket.create_connection(("127.0.0.1", 45678))
peer, _ = server.accept()
client.sendall(b"x" * payload)
got = 0
while got < payload:
    got += len(peer.recv(65536))
client.shutdown(socket.SHUT_WR)
assert peer.recv(10) == b""
peer.close()
client.recv(10)
client.close()
server.close()
# a SYN nobody answers: 10.99.0.0/24 is routed to lo, and nothing there replies
lost = socket.socket()
lost.setblocking(False)
lost.bind(("127.0.0.1", 45680))
lost.connect_ex(("10.99.0.1", 45681))
time.sleep(0.3)
lost.close()
"""


class NamespaceScreenTestCase(ScreenTestCase):
    """A network namespace of the test's own, its lo up, 10.99.0.0/24 routed to lo."""

    def setUp(self):
        require_live(self)
        ScreenTestCase.setUp(self)
        self.ns = "iptrafscr%d" % os.getpid()
        sh("ip", "netns", "add", self.ns)
        self.addCleanup(sh, "ip", "netns", "del", self.ns)
        sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.ns, "route", "add", "10.99.0.0/24", "dev", "lo")


class TestLive(NamespaceScreenTestCase):
    def test_lo_connection_counts_closed_and_unanswered_syn(self):
        if shutil.which("tcpdump") is None:
            if os.environ.get("CI") == "true":
                self.fail("tcpdump is missing, and CI must run this test")
            self.skipTest("the live screen test counts with tcpdump")
        inside = ["ip", "netns", "exec", self.ns]
        term = self.start("-i", "lo", prefix=inside)         # names on: lo is localhost
        term.wait_for("IP traffic monitor")
        pcap = os.path.join(self.folder, "truth.pcap")
        dump = subprocess.Popen(inside + ["tcpdump", "-i", "lo", "-U", "-w", pcap],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(reap, dump)
        self.assertIn(b"listening on", dump.stderr.readline())
        subprocess.run(inside + [sys.executable, "-c", _LO_TRAFFIC, "3000"], check=True,
                       timeout=30)
        term.wait_for(lambda s: s.count("CLOSED") == 2 and "S---" in s)
        time.sleep(0.5)
        dump.send_signal(signal.SIGINT)
        dump.wait(10)
        time.sleep(1.5)                         # a screen update after the last packet
        screen = term.text()

        expected = _tcpdump_counts(pcap)
        server = _row(screen, ":45678").split()         # what the server sent
        client = [l for l in screen.splitlines() if "CLOSED" in l and ":45678" not in l]
        self.assertEqual([int(server[1]), int(server[2]), server[3]],
                         expected["from 45678"] + ["CLOSED"], screen)
        client = client[0].split()
        self.assertEqual(client[1], "=")                # seen from its SYN
        self.assertEqual([int(client[2]), int(client[3]), client[4]],
                         expected["to 45678"] + ["CLOSED"], screen)
        self.assertEqual(_row(screen, "S---").split()[1:3], ["=", "1"])
        # the names came from the background resolver, /etc/hosts's localhost
        term.wait_for("localhost:")
        self.assertCleanExit(term)


_UDP_FLOW = r"""
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.monotonic() + 20
while time.monotonic() < end:
    try:
        s.sendto(b"x" * 100, ("10.98.0.2", 9))
    except OSError:
        break                       # the interface, and with it the route, is gone
    time.sleep(0.005)
"""


class TestInterfaceDeleted(NamespaceScreenTestCase):
    def test_interval_flag_wins_and_rates_fall_to_zero_once_the_interface_is_gone(self):
        with open(self.config, "w") as f:
            f.write("update_interval = 60\n")      # the flag must win over it
        # a veth pair inside the namespace, the far end's MAC fixed: no ARP to wait for
        sh("ip", "-n", self.ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1")
        sh("ip", "-n", self.ns, "link", "set", "d1", "up")
        sh("ip", "-n", self.ns, "link", "set", "d0", "up")
        sh("ip", "-n", self.ns, "addr", "add", "10.98.0.1/24", "dev", "d0")
        sh("ip", "-n", self.ns, "neigh", "add", "10.98.0.2", "lladdr", "02:00:00:00:00:02",
           "dev", "d0")
        inside = ["ip", "netns", "exec", self.ns]
        term = self.start("-n", "-d", "d0", "--interval", "0.3", prefix=inside)
        term.wait_for("Total rates:")
        sender = subprocess.Popen(inside + [sys.executable, "-c", _UDP_FLOW])
        self.addCleanup(reap, sender)

        def packet_rate(screen):
            return float(_row(screen, "Total rates:").split()[4].rstrip("/s"))
        term.wait_for(lambda s: packet_rate(s) > 20)      # no key pressed: the interval
        sh("ip", "-n", self.ns, "link", "del", "d0")
        term.wait_for("deleted")
        screen = term.wait_for(lambda s: packet_rate(s) == 0)   # the clock still ticks
        self.assertGreater(float(_row(screen, "Total rates:").split()[8].rstrip("/s")), 20)
        self.assertEqual(sender.wait(10), 0)
        self.assertCleanExit(term)


class TestGeneralLive(NamespaceScreenTestCase):
    def test_every_interface_from_the_start_and_as_they_come_and_go(self):
        term = self.start("-n", "-g", "--interval", "0.3",
                          prefix=["ip", "netns", "exec", self.ns])
        screen = term.wait_for("Interfaces 1")
        self.assertEqual(_row(screen, "lo ").split()[:6], ["lo", "0", "0", "0", "0", "0"])
        sh("ip", "-n", self.ns, "link", "add", "gx0", "type", "veth", "peer", "name", "gx1")
        screen = term.wait_for("Interfaces 3")
        self.assertEqual(_row(screen, "gx1 ").split()[:2], ["gx1", "0"])
        sh("ip", "-n", self.ns, "link", "del", "gx0")
        screen = term.wait_for("Interfaces 1")
        self.assertNotIn("gx0", screen)
        self.assertCleanExit(term)


_UDP_BURST = r"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(200):
    s.sendto(b"x" * 100, ("10.98.0.2", 9))
"""


class TestRateWindow(NamespaceScreenTestCase):
    def test_a_burst_stays_in_the_rates_for_the_window_then_falls_to_zero(self):
        sh("ip", "-n", self.ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1")
        sh("ip", "-n", self.ns, "link", "set", "d1", "up")
        sh("ip", "-n", self.ns, "link", "set", "d0", "up")
        sh("ip", "-n", self.ns, "addr", "add", "10.98.0.1/24", "dev", "d0")
        sh("ip", "-n", self.ns, "neigh", "add", "10.98.0.2", "lladdr", "02:00:00:00:00:02",
           "dev", "d0")
        with open(self.config, "w") as f:
            f.write("rate_window = 3\n")
        inside = ["ip", "netns", "exec", self.ns]
        term = self.start("-n", "-d", "d0", "--interval", "0.3", prefix=inside)
        term.wait_for("Total rates:")

        def rates(screen):
            cells = _row(screen, "Total rates:").split()
            return float(cells[2]), float(cells[6])     # the rate, its peak (kbps)
        subprocess.run(inside + [sys.executable, "-c", _UDP_BURST], check=True, timeout=30)
        term.wait_for(lambda s: rates(s)[0] > 0)
        time.sleep(1.2)                     # four updates later the burst still counts
        rate, peak = rates(term.text())
        self.assertGreater(rate, 0)
        self.assertGreaterEqual(peak, rate)
        screen = term.wait_for(lambda s: rates(s)[0] == 0)      # the window moved on
        self.assertEqual(rates(screen)[1], peak)                 # the peak stays
        self.assertCleanExit(term)


class TestInterfaceDown(NamespaceScreenTestCase):
    def test_down_waiting_then_back_up_in_the_status_line(self):
        sh("ip", "-n", self.ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1")
        sh("ip", "-n", self.ns, "link", "set", "d1", "up")
        sh("ip", "-n", self.ns, "link", "set", "d0", "up")
        term = self.start("-n", "-d", "d0", "--interval", "0.3", cols=120,
                          prefix=["ip", "netns", "exec", self.ns])
        term.wait_for("Total rates:")
        sh("ip", "-n", self.ns, "link", "set", "d0", "down")
        term.wait_for("d0: the interface went down; waiting for it to come back")
        time.sleep(1.5)                 # redraws later, it still says so
        self.assertIn("went down; waiting", term.text())
        sh("ip", "-n", self.ns, "link", "set", "d0", "up")
        screen = term.wait_for("d0: back up")
        self.assertNotIn("went down", screen)
        self.assertCleanExit(term)


class TestInterfaceChooser(NamespaceScreenTestCase):
    def test_the_chooser_lists_kind_and_state_and_opens_the_screen(self):
        # a veth pair too, whose kind ("virtual ethernet") is the longest there is
        sh("ip", "-n", self.ns, "link", "add", "c0", "type", "veth", "peer", "name",
           "c1-longer-name")
        term = self.start("-n", prefix=["ip", "netns", "exec", self.ns])
        term.wait_for("LAN station monitor")
        term.keys("d")                      # detailed statistics: no "All interfaces"
        screen = term.wait_for("Select interface")
        self.assertNotIn("All interfaces", screen)
        self.assertRegex(_row(screen, " lo "), r"lo +loopback +up +127\.0\.0\.1")
        rows = [_row(screen, " lo "), _row(screen, " c0 "), _row(screen, " c1-longer-name ")]
        self.assertIn("virtual ethernet", rows[1])
        # the columns line up: each row's state begins at the same place
        self.assertEqual(len({re.search(r" (up|down) ", r).start() for r in rows}), 1, screen)
        term.keys("Enter")
        screen = term.wait_for(" | Detailed interface statistics ")
        self.assertTrue(_row(screen, "Detailed interface statistics").rstrip().endswith("lo"))
        term.keys("x", "l")                 # the LAN monitor offers every interface
        self.assertIn("All interfaces", term.wait_for("Select interface"))
        term.keys("Enter")
        term.wait_for("all interfaces")
        term.keys("x")
        term.wait_for("LAN station monitor")
        self.assertCleanExit(term)


def _tcpdump_counts(path):
    """Packets and wire bytes of the test connection in each direction, from tcpdump."""
    from netdecode.decoding.decode import decode
    from netdecode.decoding.packet import DPORT, LEN, SPORT
    from netdecode.capture.pcap import open_capture
    counts = {"to 45678": [0, 0], "from 45678": [0, 0]}
    with open_capture(path) as reader:
        for frame in reader.frames():
            record = decode(*frame)
            way = ("to 45678" if record[DPORT] == 45678 else
                   "from 45678" if record[SPORT] == 45678 else None)
            if way:
                counts[way][0] += 1
                counts[way][1] += record[LEN]
    return counts


if __name__ == "__main__":
    unittest.main()
