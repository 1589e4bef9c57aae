#!/usr/bin/env python3
"""Kernel-side accounting: whole-machine CPU per frame of each capturer, eBPF and ring.

    sudo python3 tests/bench/ebpf.py                     # 1,000,000 frames per run
    sudo python3 tests/bench/ebpf.py --frames 100000 --only ebpf-z,ring-z --repeat 1
    sudo python3 tests/bench/ebpf.py --pps 200000 --repeat 1      # every frame counted?

Makes a namespace pair joined by veth (tests/netns.py), writes a capture of 128-byte
UDP frames from a to b, and replays it with ``tcpreplay --topspeed`` onto a's end while
each capturer runs on b's end.  Whole-machine CPU is the busy time of every CPU from
/proc/stat over the replay and until the capturer has caught up; a replay with no
capturer, run just before each, is subtracted; the remainder per frame is
the capturer's cost, the kernel's work on its behalf included (at top speed the
generator is CPU-bound, so that work shows).  Capturers: iptraf.py -z, -g, -d, -s, -l
and -i in ebpf and ring mode, the floor (a socket whose filter returns 0 at once),
``tcpdump -w /dev/null``, iptraf-ng -d and -i (in a tmux
session, where installed).  The rows marked ``tcp`` replay instead one TCP connection's
128-byte data segments (its handshake replayed before the measured replay: -i counts an
established connection in the kernel); UDP frames are the other pane's, which -i logs
in Python in either mode.  For iptraf.py the last snapshot's capture.packets is checked
against the frames sent.

The machine's other load adds noise: the load average is printed with the figures.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.dirname(TESTS))
sys.path.insert(0, TESTS)

import builders as b  # noqa: E402
import netns  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")
_SETTLE = 1.5               # seconds after the replay for a capturer to catch up


def _busy():
    """Jiffies every CPU spent busy (all but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def _capture_file(pair, path, frames):
    """Broadcast frames to an address b does not have: b's stack drops them unanswered."""
    dst = pair.ip_b.rsplit(".", 1)[0] + ".99"
    frame = b.eth(b.ip4(b.udp(bytes(128 - 42), sport=40000, dport=9000, src=pair.ip_a,
                              dst=dst), src=pair.ip_a, dst=dst, proto=17),
                  dst="ff:ff:ff:ff:ff:ff")
    with open(path, "wb") as f:
        f.write(b.pcap_bytes([frame]))
        record = b.pcap_bytes([frame])[24:]
        f.write(record * (frames - 1))


def _tcp_files(pair, path, prelude, frames):
    """A TCP connection between two addresses b does not have: its handshake in
    ``prelude`` (each direction's first two packets, after which -i counts it in the
    kernel), then ``frames`` 128-byte data segments one way in ``path``."""
    lo, hi = pair.ip_b.rsplit(".", 1)[0] + ".98", pair.ip_b.rsplit(".", 1)[0] + ".99"

    def segment(src, dst, sport, dport, flags, payload=b""):
        return b.eth(b.ip4(b.tcp(payload, sport=sport, dport=dport, flags=flags, src=src,
                                 dst=dst), src=src, dst=dst, proto=6),
                     dst="ff:ff:ff:ff:ff:ff")
    with open(prelude, "wb") as f:
        f.write(b.pcap_bytes([segment(lo, hi, 40000, 80, 0x02),
                              segment(hi, lo, 80, 40000, 0x12),
                              segment(lo, hi, 40000, 80, 0x10),
                              segment(hi, lo, 80, 40000, 0x10)]))
    data = segment(lo, hi, 40000, 80, 0x18, bytes(128 - 54))
    with open(path, "wb") as f:
        f.write(b.pcap_bytes([data]))
        f.write(b.pcap_bytes([data])[24:] * (frames - 1))


_SPEED = ["--topspeed"]          # or --pps N (main's --pps): to check the counts at a rate


def _replay(pair, path):
    """One replay at top speed, pinned to the first CPU (where the veth's receive work,
    the capturers' kernel side, runs too): less spread between replays."""
    start = time.monotonic()
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    pair.run(pair.a, pin + ["tcpreplay", "-q", "-K"] + _SPEED + ["-i", pair.if_a, path],
             timeout=600)
    return time.monotonic() - start


def _window(pair, path):
    """Busy CPU seconds over one replay and the settle time after it."""
    before = _busy()
    _replay(pair, path)
    time.sleep(_SETTLE)
    return (_busy() - before) / _TICK


def _iptraf(pair, facility, mode, out):
    argv = [sys.executable, netns.IPTRAF] + facility + ["--json", out, "--capture-mode",
                                                        mode, "-t", "10m"]
    proc = pair.popen(pair.b, argv)
    time.sleep(1.5)

    def stop():
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        with open(out) as f:
            lines = f.read().splitlines()
        return json.loads(lines[-1])["capture"]["packets"] if lines else None
    return stop


def _process(pair, argv):
    proc = pair.popen(pair.b, argv)
    time.sleep(1.5)

    def stop():
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    return stop


def _iptraf_ng(pair, args):
    name = "bench-iptraf-ng-%d" % os.getpid()
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40",
                    "ip netns exec %s iptraf-ng %s" % (pair.b, args)], check=True)
    time.sleep(2.0)

    def stop():
        subprocess.run(["tmux", "kill-session", "-t", name])
    return stop


# The method's floor: a packet socket whose eBPF filter returns 0 at once (no map, no
# ring): what any kernel counter pays per frame before its own work.
_FLOOR = """
import socket, sys, time
sys.path.insert(0, %r)
from netdecode.capture import ebpf
a = ebpf.Asm()
a.alu("mov", ebpf.R0, 0)
a.exit()
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
ebpf.Program(a.code(), "floor").attach(s)
s.bind((sys.argv[1], socket.htons(3)))
time.sleep(3600)
""" % os.path.dirname(TESTS)


def _capturers(pair, tmp):
    """(name, start, workload): the UDP frames, or the TCP connection's segments."""
    out = os.path.join(tmp, "snap.json")
    ifb = pair.if_b
    runs = []
    for letter, facility in (("z", ["-z", ifb]), ("g", ["-g"]), ("d", ["-d", ifb]),
                             ("s", ["-s", ifb]), ("l", ["-l", ifb]), ("i", ["-i", ifb])):
        for mode in ("ebpf", "ring"):
            runs.append(("%s-%s" % (mode, letter),
                         lambda f=facility, m=mode: _iptraf(pair, f, m, out), "udp"))
    for mode in ("ebpf", "ring"):
        runs.append(("%s-i tcp" % mode,
                     lambda m=mode: _iptraf(pair, ["-i", ifb], m, out), "tcp"))
    runs.append(("floor", lambda: _process(pair, [sys.executable, "-c", _FLOOR, ifb]), "udp"))
    for workload in ("udp", "tcp"):
        runs.append(("tcpdump -w" + (" tcp" if workload == "tcp" else ""),
                     lambda: _process(pair, ["tcpdump", "-q", "-i", ifb, "-w", "/dev/null"]),
                     workload))
    if shutil.which("iptraf-ng") and shutil.which("tmux"):
        runs.append(("iptraf-ng -d", lambda: _iptraf_ng(pair, "-d " + ifb), "udp"))
        runs.append(("iptraf-ng -i", lambda: _iptraf_ng(pair, "-i " + ifb), "udp"))
        runs.append(("iptraf-ng -i tcp", lambda: _iptraf_ng(pair, "-i " + ifb), "tcp"))
    return runs


def _measure(pair, start, path, prelude):
    """Busy CPU seconds a capturer adds to a replay of ``path`` (its ``prelude``
    replayed first, unmeasured), the bare replay's, and what it counted."""
    base = _window(pair, path)          # a bare replay next to each measurement
    stop = start()
    try:
        if prelude is not None:
            _replay(pair, prelude)      # the connection, before it is measured
            time.sleep(_SETTLE)
        busy = _window(pair, path)
    finally:
        counted = stop()
    return busy - base, base, counted


def _median(values):
    values = sorted(values)
    return values[len(values) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=1000000)
    ap.add_argument("--only", help="comma-separated capturer names")
    ap.add_argument("--repeat", type=int, default=3,
                    help="measurements per capturer, each against a bare replay of its "
                         "own (the median is shown, and the spread)")
    ap.add_argument("--pps", type=int,
                    help="replay at this rate instead of top speed (the counts are what "
                         "matters then: pacing spins, the CPU figures mean little)")
    args = ap.parse_args()
    if args.pps:
        _SPEED[:] = ["--pps", str(args.pps)]
    reason = netns.live_skip_reason()
    if reason or not shutil.which("tcpreplay"):
        sys.exit(reason or "needs tcpreplay")
    with netns.NetnsPair() as pair, tempfile.TemporaryDirectory() as tmp:
        files = {"udp": os.path.join(tmp, "frames.pcap"), "tcp": os.path.join(tmp, "tcp.pcap")}
        prelude = os.path.join(tmp, "handshake.pcap")
        _capture_file(pair, files["udp"], args.frames)
        _tcp_files(pair, files["tcp"], prelude, args.frames)
        for path in files.values():
            _replay(pair, path)                           # warm the page cache
        print("load average %s; %d frames per replay"
              % (" ".join(open("/proc/loadavg").read().split()[:3]), args.frames))
        print("%-16s %9s %15s %10s %10s" % ("capturer", "us/frame", "spread", "bare us/fr",
                                             "counted"))
        only = set(args.only.split(",")) if args.only else None
        for name, start, workload in _capturers(pair, tmp):
            if only is not None and name not in only:
                continue
            extras, bares, counts = [], [], []
            sent = args.frames + (4 if workload == "tcp" else 0)
            for _ in range(args.repeat):
                extra, base, counted = _measure(pair, start, files[workload], prelude
                                                if workload == "tcp" else None)
                extras.append(extra / args.frames * 1e6)
                bares.append(base / args.frames * 1e6)
                counts.append(counted)
            counted = "-" if counts[0] is None else ", ".join(
                "%d" % c if c == sent else "%d (of %d)" % (c, sent) for c in sorted(set(counts)))
            print("%-16s %+9.3f %7.3f..%-6.3f %10.3f %10s" % (
                name, _median(extras), min(extras), max(extras), _median(bares), counted))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
