"""Per-process attribution: the owners of real sockets, the process monitor (-P), and
a_process/b_process in the IP traffic monitor.

The owner lookups run against the real kernel: sockets this test opens on loopback
(netlink sock_diag needs no rights for that), processes it starts and ends.  The live
tests run the program inside namespaces of their own, on a veth pair, and hold its
answers against ``ss -tnp`` and nethogs on the same traffic.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

_TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_TESTS))
sys.path.insert(0, _TESTS)

import builders as b  # noqa: E402
import netns  # noqa: E402
from terminal import Terminal, require_tmux  # noqa: E402
from netdecode.accounting.processes import (  # noqa: E402
    NETLINK_SOCK_DIAG, Owners, ProcessMonitor, socket_table,
)
from netdecode.accounting.tables import Options  # noqa: E402
from netdecode.run.monitor import Monitor  # noqa: E402

LOCALHOST = socket.inet_aton("127.0.0.1")
T0 = 1700000000 * 10**9


class Clock:
    """A clock the test moves (Owners' retries and checks read it)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


class OwnerTestCase(unittest.TestCase):
    def setUp(self):
        self.diag = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
        self.addCleanup(self.diag.close)
        self.clock = Clock()
        self.owners = Owners(period=None, clock=self.clock)     # its rounds run here

    def pair(self, family=socket.AF_INET, host="127.0.0.1"):
        """A TCP connection on loopback: (client, server's accepted socket)."""
        listener = socket.socket(family)
        self.addCleanup(listener.close)
        listener.bind((host, 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname()[:2])
        self.addCleanup(client.close)
        accepted = listener.accept()[0]
        self.addCleanup(accepted.close)
        return client, accepted

    def ask(self, *key):
        """The owner of ``key`` after the lookup thread's round (run here, in step)."""
        self.assertIsNone(self.owners.owner(*key))
        self.owners.refresh(self.diag)
        return self.owners.owner(*key)


class OwnersTest(OwnerTestCase):

    def test_both_ends_of_a_loopback_connection_are_this_process(self):
        client, accepted = self.pair()
        cport, sport = client.getsockname()[1], accepted.getsockname()[1]
        mine = (os.getpid(), _comm(os.getpid()), os.geteuid())
        for key in ((6, LOCALHOST, cport, LOCALHOST, sport),
                    (6, LOCALHOST, sport, LOCALHOST, cport)):
            owner = self.ask(*key)
            self.assertEqual((owner.pid, owner.comm, owner.uid), mine)
            self.assertEqual(owner.json(), dict(zip(("pid", "comm", "uid"), mine)))
        self.assertEqual(self.owners.status(),
                         {"complete": True, "unreadable": 0, "error": None})

    def test_ipv6_connection(self):
        try:
            client, accepted = self.pair(socket.AF_INET6, "::1")
        except OSError as e:
            self.skipTest("no IPv6 loopback here: %s" % e)
        loop6 = socket.inet_pton(socket.AF_INET6, "::1")
        owner = self.ask(6, loop6, client.getsockname()[1], loop6, accepted.getsockname()[1])
        self.assertEqual(owner.pid, os.getpid())

    def test_udp_finds_the_bound_and_the_wildcard_socket(self):
        bound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(bound.close)
        bound.bind(("127.0.0.1", 0))
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sender.close)
        sender.sendto(b"x", bound.getsockname())        # binds it to 0.0.0.0:port
        port, sport = bound.getsockname()[1], sender.getsockname()[1]
        self.assertEqual(self.ask(17, LOCALHOST, port, LOCALHOST, sport).pid, os.getpid())
        self.assertEqual(self.ask(17, LOCALHOST, sport, LOCALHOST, port).pid, os.getpid())

    def test_an_address_with_no_local_socket_is_given_up_after_the_retries(self):
        key = (6, socket.inet_aton("10.255.255.1"), 1, socket.inet_aton("10.255.255.2"), 2)
        self.assertIsNone(self.ask(*key))
        self.assertIn(key, self.owners._pending)
        self.clock.now += self.owners.retry
        self.owners.refresh(self.diag)
        self.assertEqual(self.owners._pending, {})
        # asked again soon: not looked for again
        self.owners.owner(*key)
        self.owners.refresh(self.diag)
        self.assertEqual(self.owners._pending, {})

    def test_a_process_that_exits_keeps_its_owner_marked_gone(self):
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        child = subprocess.Popen(
            [sys.executable, "-c", "import socket, sys; s = socket.create_connection("
             "('127.0.0.1', %d)); print(s.getsockname()[1], flush=True); sys.stdin.read()"
             % listener.getsockname()[1]],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.addCleanup(_end, child)
        cport = int(child.stdout.readline())
        accepted = listener.accept()[0]
        self.addCleanup(accepted.close)
        key = (6, LOCALHOST, cport, LOCALHOST, listener.getsockname()[1])
        owner = self.ask(*key)
        self.assertEqual((owner.pid, owner.gone), (child.pid, False))
        child.stdin.close()
        child.wait(10)
        self.clock.now += 5
        self.owners.refresh(self.diag)
        owner = self.owners.owner(*key)
        self.assertEqual(owner.json(), {"pid": child.pid, "comm": owner.comm,
                                        "uid": os.geteuid(), "gone": True})

    def test_a_socket_that_outlives_its_owner_is_found_with_its_heir(self):
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        child = subprocess.Popen([sys.executable, "-c", _BEQUEATH % listener.getsockname()[1]],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.addCleanup(_end, child)
        cport = int(child.stdout.readline())
        accepted = listener.accept()[0]
        self.addCleanup(accepted.close)
        key = (6, LOCALHOST, cport, LOCALHOST, listener.getsockname()[1])
        self.assertEqual(self.ask(*key).pid, child.pid)
        child.stdin.write(b"go\n")
        child.stdin.flush()
        heir = int(child.stdout.readline())
        self.addCleanup(_kill, heir)
        child.stdin.close()
        child.wait(10)
        self.clock.now += 5
        self.owners.refresh(self.diag)
        owner = self.owners.owner(*key)
        self.assertEqual((owner.pid, owner.comm, owner.gone), (heir, "sleep", False))

    def test_the_thread_answers_and_stops(self):
        client, accepted = self.pair()
        key = (6, LOCALHOST, client.getsockname()[1], LOCALHOST, accepted.getsockname()[1])
        owners = Owners(period=0.05).start()
        self.addCleanup(owners.close)
        end = time.monotonic() + 10
        while owners.owner(*key) is None and time.monotonic() < end:
            time.sleep(0.05)
        self.assertEqual(owners.owner(*key).pid, os.getpid())
        owners.close()
        self.assertFalse(owners._thread.is_alive())

    def test_the_thread_starts_at_the_first_lookup(self):
        client, accepted = self.pair()
        key = (6, LOCALHOST, client.getsockname()[1], LOCALHOST, accepted.getsockname()[1])
        owners = Owners(period=0.05)
        self.addCleanup(owners.close)
        self.assertIsNone(owners._thread)
        owners.owner(*key)
        end = time.monotonic() + 10
        while owners.owner(*key) is None and time.monotonic() < end:
            time.sleep(0.05)
        self.assertEqual(owners.owner(*key).pid, os.getpid())


def _tcp_frame(src_port, dst_port, payload, flags="A"):
    return b.eth(b.ip4(b.tcp(payload, sport=src_port, dport=dst_port, flags=flags),
                       src="127.0.0.1", dst="127.0.0.1"))


class ProcessMonitorTest(OwnerTestCase):

    def test_a_connection_of_this_process_and_the_rest_unknown(self):
        client, accepted = self.pair()
        cport, sport = client.getsockname()[1], accepted.getsockname()[1]
        frames = []
        for i in range(5):                       # client to server, seen outgoing
            frames.append((T0 + i, 1, 4, 1, _tcp_frame(cport, sport, b"q" * 10), 64))
        for i in range(3):
            frames.append((T0 + 10 + i, 1, 0, 1, _tcp_frame(sport, cport, b"r" * 100), 154))
        stranger = b.eth(b.ip4(b.udp(b"u" * 20, sport=5000, dport=53), src="10.255.0.1",
                               dst="10.255.0.2", proto=17))
        frames.append((T0 + 20, 1, 0, 1, stranger, len(stranger)))
        ping = b.eth(b.ip4(b.icmp(b"p" * 8), proto=1))
        frames.append((T0 + 21, 1, 4, 1, ping, len(ping)))
        sink = ProcessMonitor(Options(), self.owners)
        monitor = Monitor([sink])
        monitor.feed(frames)
        sink.snapshot()                         # asks for the owners
        self.owners.refresh(self.diag)
        rows = sink.snapshot()["processes"]
        mine, unknown = rows
        self.assertEqual(mine["pid"], os.getpid())
        self.assertEqual((mine["out_packets"], mine["out_bytes"], mine["in_packets"],
                          mine["in_bytes"], mine["connections"]),
                         (8, 5 * 64 + 3 * 154, 8, 5 * 64 + 3 * 154, 1))
        self.assertEqual(unknown["unknown"], True)
        self.assertEqual((unknown["in_packets"], unknown["in_bytes"], unknown["out_packets"],
                          unknown["out_bytes"], unknown["connections"]),
                         (1, len(stranger), 1, len(ping), 1))

    def test_rates_and_flows_folded_when_quiet(self):
        client, accepted = self.pair()
        cport, sport = client.getsockname()[1], accepted.getsockname()[1]
        sink = ProcessMonitor(Options(closed_lifetime=10), self.owners)
        frame = _tcp_frame(cport, sport, b"q")
        sink.feed([(T0, 1, 4, 1, frame, 100)])
        sink.snapshot()
        self.owners.refresh(self.diag)
        sink.tick(T0 + 10**9)
        sink.feed([(T0 + 10**9 + i, 1, 4, 1, frame, 100) for i in range(4)])
        sink.tick(T0 + 3 * 10**9)                  # 400 bytes in 2 s: 1600 bits/s
        row, unknown = sink.snapshot()["processes"]
        self.assertEqual((unknown["unknown"], unknown["in_bytes"], unknown["out_bytes"]),
                         (True, 0, 0))
        self.assertEqual((row["out_bps"], row["in_bps"], row["out_bytes"]),
                         (1600.0, 1600.0, 500))
        sink.tick(T0 + 20 * 10**9)                  # silent for 10 s: folded
        self.assertEqual(sink.flows[6], {})
        row = sink.snapshot()["processes"][0]
        self.assertEqual((row["out_bytes"], row["connections"], row["out_bps"]),
                         (500, 0, 0.0))


_HOLD = r"""
import socket, sys, time
role, host, port, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
spread = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0   # seconds the sending takes
if role == "server":
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1)
    print("ready", flush=True)
    conn = listener.accept()[0]
else:
    conn = socket.create_connection((host, port))
    print("connected", conn.getsockname()[1], flush=True)
got = 0
if role == "server":
    while got < size:
        got += len(conn.recv(65536))
    print("received", got, flush=True)
else:
    for _ in range(20):
        conn.sendall(b"x" * (size // 20))
        time.sleep(spread / 20)
    conn.sendall(b"x" * (size % 20))
sys.stdin.read()                # hold the connection until told
"""


# connects, says its port; on a line, hands the socket to a sleep and says its pid;
# ends on end of input
_BEQUEATH = r"""
import socket, subprocess, sys
s = socket.create_connection(("127.0.0.1", %d))
print(s.getsockname()[1], flush=True)
sys.stdin.readline()
heir = subprocess.Popen(["sleep", "60"], pass_fds=[s.fileno()])
print(heir.pid, flush=True)
sys.stdin.read()
"""


# nobody, with the one capability capture needs: other users' /proc/PID/fd are closed
_UNPRIVILEGED = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                 "--inh-caps=+net_raw", "--ambient-caps=+net_raw"]


def _until(condition, what, timeout=15.0):
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("waited %.0f s for %s" % (timeout, what))
        time.sleep(0.1)


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _end(proc):
    """End a process the test started (it may have been told to end already)."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _ss_owner(pair, ns, port):
    """(comm, pid) of the socket on local ``port``, as ``ss -tnp`` says."""
    out = pair.run(ns, ["ss", "-tnpH", "sport", "= :%d" % port]).stdout.decode()
    users = out.split("users:((", 1)[1]
    comm, pid = users.split(",")[:2]
    return comm.strip('"'), int(pid.split("=")[1])


class LiveTest(netns.LiveTestCase):
    """The program in namespace b, a server there, its client in a."""

    def hold(self, ns, role, host, size, spread=0.0):
        proc = self.pair.popen(ns, [sys.executable, "-c", _HOLD, role, host, 9100, size,
                                    spread],
                               stdin=subprocess.PIPE)
        self.addCleanup(_end, proc)
        return proc

    def connected(self, size, spread=0.0, host=None):
        """A server in b (on ``host``, else its IPv4 address) that received ``size``
        bytes from a client in a (sent over ``spread`` seconds), both held."""
        pair = self.pair
        host = host or pair.ip_b
        server = self.hold(pair.b, "server", host, size)
        self.assertEqual(server.stdout.readline().strip(), b"ready")
        client = self.hold(pair.a, "client", host, size, spread)
        cport = int(client.stdout.readline().split()[1])
        self.assertEqual(server.stdout.readline().split(), [b"received", str(size).encode()])
        return server, client, cport

    def monitor(self, *argv, **kwargs):
        prefix = kwargs.get("prefix", [])
        proc = self.pair.popen(self.pair.b, prefix + [sys.executable, netns.IPTRAF] + list(argv)
                               + ["--json", "--interval", "0.5"])
        self.addCleanup(netns.reap, proc)
        time.sleep(1.0)
        return proc

    def snapshots(self, proc):
        time.sleep(2.5)                  # the lookups' round, and a tick after it
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        return [json.loads(line) for line in out.decode().splitlines()]

    def test_process_monitor_against_ss(self):
        pair = self.pair
        before = pair.counters(pair.b, pair.if_b)
        log = os.path.join(self.tmp.name, "p.log")
        proc = self.monitor("-P", pair.if_b, "-L", log, "--log-format", "json")
        server, client, cport = self.connected(200000)
        comm, pid = _ss_owner(pair, pair.b, 9100)
        self.assertEqual(pid, server.pid)
        last = self.snapshots(proc)[-1]
        self.assertEqual(last["facility"], "processes")
        self.assertTrue(last["process_lookup"]["complete"])
        (row,) = [r for r in last["processes"] if r["pid"] == pid]
        self.assertEqual((row["comm"], row["uid"], row["connections"]), (comm, 0, 1))
        self.assertGreater(row["in_bytes"], 200000)
        self.assertGreater(row["out_packets"], 0)          # its acknowledgments
        # nothing else on the link: every frame is the server's
        after = pair.counters(pair.b, pair.if_b)
        self.assertEqual(row["in_packets"] + row["out_packets"], last["capture"]["packets"])
        self.assertEqual((row["in_packets"], row["out_packets"], row["in_bytes"],
                          row["out_bytes"]),
                         tuple(after[k] - before[k] for k in
                               ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes")))
        # the log's final report says the same
        with open(log) as f:
            final = [json.loads(line) for line in f][-1]
        self.assertEqual((final["event"], final["facility"], final["final"]),
                         ("report", "processes", True))
        self.assertIn(row, final["processes"])

    def test_ipv6(self):
        pair = self.pair
        proc = self.monitor("-P", pair.if_b)
        server, client, cport = self.connected(50000, host=pair.ip6_b)
        self.assertEqual(_ss_owner(pair, pair.b, 9100)[1], server.pid)
        last = self.snapshots(proc)[-1]
        (row,) = [r for r in last["processes"] if r["pid"] == server.pid]
        self.assertEqual(row["connections"], 1)
        self.assertGreater(row["in_bytes"], 50000)

    def test_in_the_background(self):
        pair = self.pair
        log = os.path.join(self.tmp.name, "p.log")
        pid_file = os.path.join(self.tmp.name, "p.pid")
        pair.run(pair.b, [sys.executable, netns.IPTRAF, "-P", pair.if_b, "-B", "-L", log,
                          "--log-format", "json", "--pid-file", pid_file])
        _until(lambda: os.path.exists(pid_file) and os.path.getsize(pid_file), "a pid file")
        with open(pid_file) as f:
            daemon = int(f.read())
        self.addCleanup(_kill, daemon)
        time.sleep(1.0)
        server, client, cport = self.connected(100000)
        time.sleep(2.5)                 # the owner found by the daemon's own thread
        os.kill(daemon, signal.SIGUSR2)
        _until(lambda: not os.path.exists(pid_file), "the daemon's end")
        with open(log) as f:
            final = [json.loads(line) for line in f if '"report"' in line][-1]
        self.assertTrue(final["final"])
        (row,) = [r for r in final["processes"] if r["pid"] == server.pid]
        self.assertGreater(row["in_bytes"], 100000)

    def test_traffic_monitor_names_the_local_end_and_marks_it_gone(self):
        pair = self.pair
        proc = self.monitor("-i", pair.if_b)
        server, client, cport = self.connected(5000)
        comm, pid = _ss_owner(pair, pair.b, 9100)
        time.sleep(2.0)                 # the owner found while the server lives
        server.stdin.close()
        server.wait(10)
        snaps = self.snapshots(proc)
        (conn,) = [c for c in snaps[-1]["tcp"] if c["b"] == "%s:9100" % pair.ip_b]
        # the client's socket is in namespace a: not a local end here
        self.assertNotIn("a_process", conn)
        self.assertEqual(conn["b_process"], {"pid": pid, "comm": comm, "uid": 0,
                                             "gone": True})
        seen = [c["b_process"] for s in snaps for c in s["tcp"] if "b_process" in c]
        self.assertIn({"pid": pid, "comm": comm, "uid": 0}, seen)   # before it exited

    def test_without_rights_the_uid_alone_and_it_says_so(self):
        if shutil.which("setpriv") is None:
            if os.environ.get("CI") == "true":
                self.fail("setpriv (util-linux) is missing, and CI must run this test")
            self.skipTest("needs setpriv (util-linux) to drop root")
        pair = self.pair
        proc = self.monitor("-P", pair.if_b, prefix=_UNPRIVILEGED)
        self.connected(3000)
        last = self.snapshots(proc)[-1]
        lookup = last["process_lookup"]
        self.assertFalse(lookup["complete"])
        self.assertGreater(lookup["unreadable"], 0)
        hidden = [r for r in last["processes"] if r.get("hidden")]
        self.assertEqual([(r["pid"], r["comm"], r["uid"]) for r in hidden], [(None, None, 0)])
        self.assertGreater(hidden[0]["in_bytes"], 3000)

    def test_nethogs_sees_the_same_program(self):
        if shutil.which("nethogs") is None:
            if os.environ.get("CI") == "true":
                self.fail("nethogs is missing, and CI must run this test")
            self.skipTest("the nethogs oracle needs nethogs")
        pair = self.pair
        proc = self.monitor("-P", pair.if_b)
        hogs = pair.popen(pair.b, ["nethogs", "-t", "-d", "1", pair.if_b])
        self.addCleanup(netns.reap, hogs)
        time.sleep(1.0)
        # spread over 3 s: nethogs reports per refresh, and must see some of it
        server, client, cport = self.connected(2000000, 3.0)
        time.sleep(1.5)
        hogs.send_signal(signal.SIGINT)
        lines = hogs.communicate(timeout=30)[0].decode(errors="replace").splitlines()
        last = self.snapshots(proc)[-1]
        (row,) = [r for r in last["processes"] if r["pid"] == server.pid]
        # nethogs -t: "program/pid/uid<TAB>sent KB/s<TAB>received KB/s"
        named = [line.split("\t")[0] for line in lines if "/%d/" % server.pid in line]
        self.assertTrue(named, "\n".join(lines))
        program, pid, uid = named[-1].rsplit("/", 2)
        self.assertEqual((int(pid), int(uid)), (row["pid"], row["uid"]))
        self.assertGreater(row["in_bytes"], 2000000)


SAMPLE = os.path.join(_TESTS, "data", "sample.pcap")


class FileTest(unittest.TestCase):
    """A file has no processes: -P says so, in one line or in the menu's message."""

    def test_headless(self):
        proc = subprocess.run([sys.executable, netns.IPTRAF, "-r", SAMPLE, "-P", "all",
                               "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=60)
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(proc.stdout, b"")
        self.assertEqual(proc.stderr.decode().count("\n"), 1)
        self.assertIn("live capture: not with -r", proc.stderr.decode())

    def test_the_menu_entry(self):
        require_tmux(self)
        folder = tempfile.mkdtemp(prefix="iptraf-processes-")
        self.addCleanup(shutil.rmtree, folder, True)
        term = Terminal([sys.executable, netns.IPTRAF, "--config", os.path.join(folder, "c"),
                         "-r", SAMPLE], 80, 24)
        self.addCleanup(term.close)
        term.wait_for("Process monitor")
        term.keys("p")
        self.assertIn("process monitor (-P)", term.wait_for("Press a key"))
        term.keys("Enter")
        term.wait_for("LAN station monitor")
        term.keys("x")
        self.assertEqual(term.exited()[0], 0)


class ScreenTest(unittest.TestCase):
    """The screens in a real terminal, in a namespace of the test's own (its lo up)."""

    def setUp(self):
        require_tmux(self)
        netns.require_live(self)
        self.ns = "iptrprc%d" % os.getpid()
        netns.sh("ip", "netns", "add", self.ns)
        self.addCleanup(netns.sh, "ip", "netns", "del", self.ns)
        netns.sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        self.folder = tempfile.mkdtemp(prefix="iptraf-processes-")
        self.addCleanup(shutil.rmtree, self.folder, True)

    def start(self, *args, **kwargs):
        term = Terminal(["ip", "netns", "exec", self.ns] + kwargs.get("prefix", [])
                        + [sys.executable, netns.IPTRAF,
                           "--config", os.path.join(self.folder, "conf"), "-n"] + list(args),
                        100, 24)
        self.addCleanup(term.close)
        return term

    def held(self):
        """A server and its client on the namespace's lo, both held: (server, client)."""
        inside = ["ip", "netns", "exec", self.ns, sys.executable, "-c", _HOLD]
        server = subprocess.Popen(inside + ["server", "127.0.0.1", "9100", "3000"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.addCleanup(_end, server)
        self.assertEqual(server.stdout.readline().strip(), b"ready")
        client = subprocess.Popen(inside + ["client", "127.0.0.1", "9100", "3000"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.addCleanup(_end, client)
        self.assertEqual(client.stdout.readline().split()[0], b"connected")
        self.assertEqual(server.stdout.readline().split()[0], b"received")
        return server, client

    def test_the_process_monitor_lists_both_programs(self):
        term = self.start("-P", "lo")
        term.wait_for("Process monitor")
        server, client = self.held()
        screen = term.wait_for(lambda s: str(server.pid) in s and str(client.pid) in s)
        for pid in (server.pid, client.pid):
            cells = [line for line in screen.splitlines() if line.startswith(str(pid))][0]
            # PID, program, connections: one each
            self.assertEqual(cells.split()[1:3], [_comm(pid), "1"], screen)
        self.assertIn("(fwd/unknown)", screen)
        term.keys("s", "n")
        term.wait_for("sorted by name")
        term.keys("x")
        self.assertEqual(term.exited()[0], 0)

    def test_without_rights_the_status_line_says_so(self):
        if shutil.which("setpriv") is None:
            if os.environ.get("CI") == "true":
                self.fail("setpriv (util-linux) is missing, and CI must run this test")
            self.skipTest("needs setpriv (util-linux) to drop root")
        os.chmod(self.folder, 0o755)            # the settings file, for nobody
        term = self.start("-P", "lo", prefix=_UNPRIVILEGED)
        term.wait_for("Process monitor")
        self.held()
        screen = term.wait_for("(not readable)")
        self.assertIn("unreadable, root sees all", screen)
        cells = [line for line in screen.splitlines() if "(not readable)" in line][0].split()
        self.assertEqual((cells[0], cells[-1]), ("?", "0"))    # no pid; the uid, root's
        term.keys("x")
        self.assertEqual(term.exited()[0], 0)

    def test_the_traffic_monitor_shows_each_end_s_program_on_p(self):
        term = self.start("-i", "lo")
        term.wait_for("IP traffic monitor")
        server, client = self.held()
        term.wait_for(":9100")
        self.assertNotIn("Process", term.text())
        term.keys("p")
        screen = term.wait_for(lambda s: "%s/%d" % (_comm(server.pid), server.pid) in s
                               and "/%d" % client.pid in s)
        self.assertIn("Process", screen)
        server_line = [line for line in screen.splitlines() if "127.0.0.1:9100 " in line][0]
        self.assertTrue(server_line.rstrip().endswith("/%d" % server.pid), screen)
        term.keys("p")
        term.wait_for(lambda s: "/%d" % server.pid not in s)
        term.keys("x")
        self.assertEqual(term.exited()[0], 0)


if __name__ == "__main__":
    unittest.main()
