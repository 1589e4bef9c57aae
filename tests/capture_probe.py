"""Runs netdecode's LiveCapture inside a test namespace and prints what it saw, as JSON.

    capture_probe.py hold IFACE MODE RING_MB SECONDS    capture without reading for
        SECONDS (the ring or socket buffer overflows), then drain it: frames and drops
    capture_probe.py filter IFACE MODE EXPR SECONDS    capture through a kernel filter:
        the frames read, their UDP ports, and the packets the kernel handed over
    capture_probe.py ifaces                            the interface inventory
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from netdecode.capture.live import LiveCapture  # noqa: E402
from netdecode.output.dump import ip_text, mac_text  # noqa: E402
from netdecode.capture.ifaces import list_interfaces  # noqa: E402


def hold(ifname, mode, ring_mb, seconds):
    with LiveCapture(ifname, mode=mode, ring_bytes=int(ring_mb) << 20) as cap:
        print("ready", flush=True)
        time.sleep(float(seconds))
        frames = 0
        while True:
            batch = cap.read()
            if not batch:
                break
            frames += sum(1 for f in batch if f[4][12:14] == b"\x88\xb5")
        print(json.dumps({"frames": frames, "dropped": cap.stats()["dropped"]}))


def filtered(ifname, mode, expr, seconds):
    from netdecode.decoding.decode import decode
    from netdecode.filter import compile_filter
    from netdecode.capture.ifaces import interface_by_name
    from netdecode.decoding.packet import DPORT, PROTO
    program = compile_filter(expr, interface_by_name(ifname).linktype, live=True)
    ports = []
    with LiveCapture(ifname, mode=mode, bpf=program) as cap:
        print("ready", flush=True)
        end = time.monotonic() + float(seconds)
        while time.monotonic() < end:
            cap.wait(0.1)
            for frame in cap.read():
                record = decode(*frame)
                ports.append([record[PROTO], record[DPORT]])
        print(json.dumps({"frames": ports, "kernel_packets": cap.stats()["packets"]}))


def ifaces():
    print(json.dumps([{"name": i.name, "index": i.index, "kind": i.kind, "up": i.up,
                       "mtu": i.mtu, "mac": mac_text(i.mac) if len(i.mac) == 6 else "",
                       "ipv4": [ip_text(a) for a in i.ipv4],
                       "ipv6": [ip_text(a) for a in i.ipv6]} for i in list_interfaces()]))


if __name__ == "__main__":
    sys.exit({"hold": hold, "filter": filtered, "ifaces": ifaces}[sys.argv[1]](*sys.argv[2:]))
