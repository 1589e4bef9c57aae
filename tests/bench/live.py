#!/usr/bin/env python3
"""Live capture cost: frames sent, captured, dropped, and capturer CPU per frame.

    sudo python3 tests/bench/live.py                   # steps up to the generator's ceiling
    sudo python3 tests/bench/live.py --rates 50000,100000 --seconds 2

Makes a namespace pair joined by veth (tests/netns.py), sends 128-byte UDP frames from
namespace a with an AF_PACKET generator at stepped rates, and captures them in namespace
b with each capturer in turn, on the same traffic: 'ring' is LiveCapture + decode of
every frame, 'socket' the same in socket mode, 'ring-only' LiveCapture's ring without
decoding (the capture's own share of the cost), 'minimal' the floor, a minimal Python
ring reader that unpacks each frame's Ethernet, IPv4 and port fields in place; -i, -g,
-d, -s, -z and -l each facility as iptraf.py runs it (the ring, then the facility's
lane), what iptraf-ng's figures are for; 'tcpdump' is `tcpdump -w /dev/null`.  For each
run: frames sent, captured, kernel drops, and the capturer's CPU time per frame (user +
system, from /proc/PID/stat).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.dirname(TESTS))
sys.path.insert(0, TESTS)

_TICK = os.sysconf("SC_CLK_TCK")
_FRAME_SIZE = 128


def _frame(src_mac, dst_mac, seq):
    """Ethernet/IPv4/UDP, 128 bytes on the wire, a sequence number in the payload."""
    payload = struct.pack("!I", seq).ljust(_FRAME_SIZE - 42, b"b")
    udp = struct.pack("!HHHH", 40000, 9000, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton("10.250.0.1"), socket.inet_aton("10.250.0.2"))
    return dst_mac + src_mac + b"\x08\x00" + ip + udp


def generate(ifname, rate, seconds):
    """The generator role: `rate` frames/s (0: as fast as it can) for `seconds`."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    frames = [_frame(s.getsockname()[4], b"\xff" * 6, i) for i in range(256)]
    send = s.send
    rate, seconds = int(rate), float(seconds)
    total = int(rate * seconds) if rate else None
    sent = 0
    start = time.monotonic()
    end = start + seconds
    burst = max(1, rate // 1000) if rate else 256
    while True:
        now = time.monotonic()
        if now >= end or (total is not None and sent >= total):
            break
        if rate and sent >= (now - start) * rate:
            time.sleep(0.0005)
            continue
        for frame in frames[:burst]:
            try:
                send(frame)
                sent += 1
            except BlockingIOError:
                break
    print(json.dumps({"sent": sent, "seconds": time.monotonic() - start}))


_MIN_BLOCK = struct.Struct("=III")            # block_status, num_pkts, offset_to_first_pkt
_MIN_PKT = struct.Struct("=I8xI8xH")          # tp_next_offset, tp_snaplen, tp_mac
_MIN_HDRS = struct.Struct("!12xH9xB2x4s4sHH")  # ethertype, protocol, addresses, ports


def _minimal_read(ring, blocks, block_bytes, state):
    """The minimal ring reader: every frame the kernel handed over, its headers unpacked
    where they lie and nothing kept; returns how many."""
    count = 0
    while True:
        base = state[0] * block_bytes
        status, packets, off = _MIN_BLOCK.unpack_from(ring, base + 8)
        if not status & 1:                          # TP_STATUS_USER
            return count
        off += base
        for _ in range(packets):
            step, snaplen, mac = _MIN_PKT.unpack_from(ring, off)
            if snaplen >= 38:
                _MIN_HDRS.unpack_from(ring, off + mac)
            off += step
        count += packets
        struct.pack_into("=I", ring, base + 8, 0)   # back to the kernel
        state[0] = (state[0] + 1) % blocks


def capture(ifname, capturer):
    """The capturer role until SIGTERM: LiveCapture + decode of every frame ('ring',
    'socket'), LiveCapture's ring alone ('ring-only', the capture's own cost), the
    minimal reader on LiveCapture's ring ('minimal'), or a facility through its lane, as
    iptraf.py runs it ('-i', '-g', '-d', '-s', '-z', '-l')."""
    from netdecode.accounting import counters
    from netdecode.accounting.flows import TrafficMonitor
    from netdecode.accounting.tables import Options
    from netdecode.capture import live
    from netdecode.decoding.decode import decode
    from netdecode.run.monitor import Monitor
    facilities = {"-i": TrafficMonitor, "-g": counters.GeneralStats,
                  "-d": counters.DetailedStats, "-s": counters.ServiceStats,
                  "-z": counters.SizeStats, "-l": counters.LanStats}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    count = 0
    mode = "socket" if capturer == "socket" else "ring"
    with live.LiveCapture(ifname, mode=mode) as cap:
        if capturer == "minimal":
            state = [0]
            read = lambda: _minimal_read(cap._ring, cap._blocks, live._BLOCK_BYTES, state)
        elif capturer in facilities:
            monitor = Monitor([facilities[capturer](Options())])

            def read():
                frames = cap.read()
                monitor.feed(frames)
                return len(frames)
        elif capturer == "ring-only":
            read = lambda: len(cap.read())
        else:
            def read():
                frames = cap.read()
                for frame in frames:
                    decode(*frame)
                return len(frames)
        print("ready", flush=True)
        while True:
            last = bool(stop)
            if not last:
                cap.wait(0.1)
            count += read()
            if last:
                break
        print(json.dumps({"captured": count, "dropped": cap.stats()["dropped"]}), flush=True)


def _cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _run_step(pair, rate, seconds, capturer):
    """One generator pass with one capturer; returns the step's figures."""
    if capturer == "tcpdump":
        proc = pair.popen(pair.b, ["tcpdump", "-i", pair.if_b, "-w", "/dev/null", "-n",
                                   "-B", "8192", "udp port 9000"])
        time.sleep(1.5)
    else:
        proc = pair.popen(pair.b, [sys.executable, os.path.abspath(__file__), "capture",
                                   pair.if_b, capturer])
        assert proc.stdout.readline().strip() == b"ready"
    cpu0 = _cpu_seconds(proc.pid)
    gen = pair.python(pair.a, os.path.abspath(__file__), "generate", pair.if_a, rate, seconds,
                      timeout=seconds + 60)
    sent = json.loads(gen.stdout.decode())
    time.sleep(0.5)
    cpu = _cpu_seconds(proc.pid) - cpu0
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    if capturer == "tcpdump":
        text = err.decode()
        captured = int(text.split(" packets captured")[0].split()[-1])
        dropped = int(text.split(" packets dropped by kernel")[0].split()[-1])
    else:
        result = json.loads(out.decode().strip().splitlines()[-1])
        captured, dropped = result["captured"], result["dropped"]
    return {"rate": rate, "sent": sent["sent"], "achieved": sent["sent"] / sent["seconds"],
            "capturer": capturer, "captured": captured, "dropped": dropped,
            "us_per_frame": 1e6 * cpu / captured if captured else float("nan")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rates", default="25000,50000,100000,200000,0",
                    help="frames/s per step, comma-separated; 0: the generator's ceiling")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--capturers", default="ring-only,minimal,-i,-g,-d,-s,-z,-l,tcpdump",
                    help="comma-separated: ring, ring-only, minimal, socket, tcpdump, and "
                         "the facilities -i -g -d -s -z -l (default: %(default)s)")
    args = ap.parse_args()
    import netns
    reason = netns.live_skip_reason()
    if reason:
        raise SystemExit("live.py: %s" % reason)
    capturers = args.capturers.split(",")
    if "tcpdump" in capturers and not shutil.which("tcpdump"):
        capturers.remove("tcpdump")
    print("python %s; %d-byte frames; capturers: %s" % (
        sys.version.split()[0], _FRAME_SIZE, ", ".join(capturers)))
    print("%-9s %-9s %9s %11s %9s %8s %10s" % ("rate", "capturer", "sent", "achieved/s",
                                               "captured", "dropped", "cpu us/fr"))
    with netns.NetnsPair() as pair:
        for rate in [int(r) for r in args.rates.split(",")]:
            for capturer in capturers:
                r = _run_step(pair, rate, args.seconds, capturer)
                print("%-9s %-9s %9d %11.0f %9d %8d %10.2f" % (
                    rate or "max", capturer, r["sent"], r["achieved"], r["captured"],
                    r["dropped"], r["us_per_frame"]))
    return 0


if __name__ == "__main__":
    roles = {"generate": generate, "capture": capture}
    if len(sys.argv) > 1 and sys.argv[1] in roles:
        sys.exit(roles[sys.argv[1]](*sys.argv[2:]))
    sys.exit(main())
