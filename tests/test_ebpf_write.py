"""-w beside kernel counting: the facility counts in the kernel (--capture-mode ebpf)
while the file gets every frame through a capture and a thread of its own.

Live, in namespaces made here (tests/netns.py): the file written beside the kernel holds
the very frames ring mode's file holds (VLAN tags put back, -F applied), as many as the
snapshot's ``capture.packets``; the thread and both packet sockets are gone after every
way a run ends (its end, an exception, SIGTERM, the interface deleted).
"""
import collections
import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netns  # noqa: E402
import test_ebpf  # noqa: E402
from netdecode.capture.pcap import open_capture  # noqa: E402


def _frames(path):
    """The frames of a capture file, as (data, wire length), in the order written."""
    with open_capture(path) as reader:
        return [(bytes(f[4]), f[5]) for f in reader.frames()]


def _tcpdump_count(path):
    """The frames of a capture file as tcpdump reads them (--count: some frames print
    more than one line)."""
    out = subprocess.run(["tcpdump", "--count", "-r", path], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, check=True)
    return int(re.match(br"(\d+) packets", out.stdout).group(1))


class WriteBesideKernelTest(test_ebpf._BothModes):
    """The same traffic, -w in both modes at once: the same frames in both files."""

    def files(self, snap):
        """Both modes' files hold the same frames, as many as the snapshot counted."""
        written = {mode: _frames(os.path.join(self.tmp.name, mode + ".pcap"))
                   for mode in ("ebpf", "ring")}
        # never both a sink and the thread (twice), nor a sink only (the ring's few)
        self.assertEqual(len(written["ebpf"]), snap["capture"]["packets"])
        self.assertEqual(collections.Counter(written["ebpf"]),
                         collections.Counter(written["ring"]))
        if subprocess.run(["which", "tcpdump"], stdout=subprocess.DEVNULL).returncode == 0:
            self.assertEqual(_tcpdump_count(os.path.join(self.tmp.name, "ebpf.pcap")),
                             snap["capture"]["packets"])
        return written["ebpf"]

    def test_sizes(self):
        snap = self.both("-z", self.pair.if_b, write=True)
        frames = self.files(snap)
        self.assertEqual(sum(row["packets"] for row in snap["bins"]), len(frames))
        # the peer's 802.1Q frames: the tag the kernel strips put back, in the file too
        tagged = [data for data, _ in frames
                  if data[12:18] == b"\x81\x00\x00\x2a\x88\xb5"
                  and data[18:35] == b"vlan test payload"]
        self.assertEqual(len(tagged), 5)

    def test_detailed(self):
        """Frames the kernel program passes to the ring (a bad IPv4 checksum...) are
        counted there and written once, by the recording only."""
        snap = self.both("-d", self.pair.if_b, write=True)
        self.assertGreater(snap["ip_checksum_errors"], 0)
        self.files(snap)

    def test_services_filtered(self):
        """-F: the file beside the kernel gets the classic filter, as the ring has."""
        snap = self.both("-s", self.pair.if_b, "-F", "tcp port 9001 or udp port 9000",
                         write=True, least=100)
        frames = self.files(snap)
        self.assertFalse([data for data, _ in frames if data[12:14] != b"\x08\x00"
                          and data[12:14] != b"\x86\xdd"])


_SCRIPT = """
import os, socket, sys, threading, time
from unittest import mock
sys.path.insert(0, %r)
import iptraf
from netdecode.run import headless
from netdecode.run.monitor import wall_clock_ns
from netdecode.run.runner import Run

way, path = sys.argv[1:]

def sockets():
    # the sockets, not their fds: the ring's mmap holds a second fd of its socket
    found = set()
    for fd in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink('/proc/self/fd/' + fd)
        except OSError:
            continue                  # listdir's own fd, closed by now
        if target.startswith('socket:'):
            found.add(target)
    return found

def send():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for n in range(500):
        s.sendto(bytes(n), ('127.0.0.1', 9))
    s.close()
    time.sleep(0.3)

before, threads = sockets(), threading.active_count()
args = iptraf._parser().parse_args(['-z', 'lo', '-w', path, '--capture-mode', 'ebpf',
                                    '--interval', '1'])
run = Run(args, 'sizes', 'lo', None, None, [], [], print)
if way == 'finish':
    cap = run.open_live()
    opened = len(sockets() - before)
    run.start()
    send()
    got = cap.read()
    cap.close()
    status = run.finish(wall_clock_ns(), 0)
else:
    def pump(cap, run, flushes):
        global opened, got
        opened = len(sockets() - before)
        send()
        got = cap.read()
        raise RuntimeError('in the middle')
    with mock.patch.object(headless, '_pump', pump):
        try:
            headless._run_live(run)
        except RuntimeError:
            pass
    status = None
print(opened, len(got), len(sockets() - before), threading.active_count() - threads,
      run.recording.running, status)
"""


class RecordingLifetimeTest(netns.LiveTestCase):
    """The recording's thread, its packet socket and the capture's are closed on every
    way out, and the file holds every frame written until then."""

    def check_file(self, path, count):
        self.assertEqual(len(_frames(path)), count)

    def test_closed_at_the_end_and_on_an_exception(self):
        pair = self.pair
        for way in ("finish", "exception"):
            path = os.path.join(self.tmp.name, way + ".pcap")
            out = pair.run(pair.b, [sys.executable, "-c", _SCRIPT % netns.ROOT, way, path])
            opened, received, sockets, threads, running, status = \
                out.stdout.decode().split()
            # two packet sockets (the counter's, the file's); nothing read by the
            # counter's; both closed, the thread joined
            self.assertEqual((opened, received, sockets, threads, running),
                             ("2", "0", "0", "0", "False"), way)
            self.assertEqual(status, "0" if way == "finish" else "None")
            # 500 datagrams and 500 ICMP port unreachable, loopback's outgoing copies
            # left out, as the counter's socket leaves them
            self.check_file(path, 1000)

    def start(self, path, out):
        pair = self.pair
        proc = pair.popen(pair.b, [sys.executable, netns.IPTRAF, "-z", pair.if_b,
                                   "--capture-mode", "ebpf", "-w", path, "--json", out,
                                   "--interval", "0.5"])
        self.addCleanup(netns.reap, proc)
        time.sleep(1.5)
        pair.python(pair.a, netns.PEER, "flood", pair.if_a, 3000, 200)
        pair.python(pair.a, netns.PEER, "vlan", pair.if_a, 42, 5)
        time.sleep(0.5)
        return proc

    def last(self, out):
        with open(out) as f:
            return json.loads(f.read().splitlines()[-1])

    def test_sigterm(self):
        path, out = (os.path.join(self.tmp.name, n) for n in ("t.pcap", "t.json"))
        proc = self.start(path, out)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        self.assertEqual((proc.returncode, err), (0, b""))
        self.assertEqual(self.last(out)["capture"]["packets"], 3005)
        self.check_file(path, 3005)

    def test_the_interface_deleted(self):
        path, out = (os.path.join(self.tmp.name, n) for n in ("d.pcap", "d.json"))
        proc = self.start(path, out)
        self.pair.run(self.pair.a, ["ip", "link", "del", self.pair.if_a])
        _, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(err.decode(), "iptraf.py: %s: the interface was deleted\n"
                         % self.pair.if_b)
        self.assertEqual(self.last(out)["capture"]["packets"], 3005)
        self.check_file(path, 3005)


if __name__ == "__main__":
    unittest.main()
