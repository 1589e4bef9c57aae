#!/usr/bin/env python3
"""The ring read path without a kernel: LiveCapture._read_ring over synthetic blocks.

    python3 tests/bench/ring.py                  # 128-byte UDP frames, 4 blocks
    python3 tests/bench/ring.py --frames-per-block 2000 --repeat 9

Lays out TPACKET_V3 blocks (Documentation/networking/packet_mmap.rst) in an anonymous
mmap as the kernel would hand them over, full of the frames tests/bench/live.py sends,
and times, best of --repeat runs, in one process:

* read:         LiveCapture._read_ring alone (the capture's share of live.py's cost)
* read+decode:  the same and netdecode.decoding.decode.decode of every frame

in µs per frame.  Needs no root and no network: live.py measures the real thing.
"""
import argparse
import mmap
import os
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from live import _frame  # noqa: E402
from netdecode.capture import live as capture  # noqa: E402
from netdecode.decoding.decode import decode  # noqa: E402

_PKT = struct.Struct("=IIIIIIHHIIHH8xHHiHBB")   # tpacket3_hdr then sockaddr_ll (at 48)


def fake_capture(blocks, per_block, ifindex=7):
    """A LiveCapture whose ring holds ``blocks`` full blocks, and a function that hands
    them all back to 'user space' again."""
    cap = object.__new__(capture.LiveCapture)
    size = capture._BLOCK_BYTES
    ring = mmap.mmap(-1, blocks * size)
    frame = _frame(b"\x02\x00\x00\x00\x00\x01", b"\xff" * 6, 1)
    mac = 48 + 20 + 2                  # TPACKET_ALIGN(48 + sockaddr_ll) + NET_IP_ALIGN
    step = (mac + len(frame) + 15) & ~15
    if per_block * step + 48 > size:
        raise SystemExit("ring.py: %d frames of %d bytes do not fit a block" % (
            per_block, step))
    for b in range(blocks):
        base = b * size
        off = base + 48
        for i in range(per_block):
            _PKT.pack_into(ring, off, step if i < per_block - 1 else 0, 1764000000 + i // 1000,
                           i * 1000, len(frame), len(frame), 0, mac, mac + 14, 0, 0, 0, 0,
                           17, 8, ifindex, 1, 0, 6)
            ring[off + mac:off + mac + len(frame)] = frame
            off += step
        struct.pack_into("=III", ring, base + 8, capture.TP_STATUS_USER, per_block, 48)
    cap._ring = ring
    cap._blocks = blocks
    cap._next_block = 0
    cap._ifaces = {ifindex: ("veth0", capture.LINKTYPE_ETHERNET, False)}
    cap._sock = None

    def refill():
        for b in range(blocks):
            struct.pack_into("=I", ring, b * size + 8, capture.TP_STATUS_USER)
        cap._next_block = 0
    return cap, refill


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--frames-per-block", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    cap, refill = fake_capture(args.blocks, args.frames_per_block)
    total = args.blocks * args.frames_per_block

    def read():
        refill()
        return cap._read_ring()

    def read_decode():
        refill()
        for frame in cap._read_ring():
            decode(*frame)

    print("python %s, %d blocks of %d frames" % (sys.version.split()[0], args.blocks,
                                                 args.frames_per_block))
    best = {}
    for _ in range(args.repeat):
        for name, fn in (("read", read), ("read+decode", read_decode)):
            t = time.perf_counter()
            fn()
            dt = (time.perf_counter() - t) / total
            best[name] = min(best.get(name, dt), dt)
    for name in ("read", "read+decode"):
        print("%-12s %6.3f µs/frame" % (name, best[name] * 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
