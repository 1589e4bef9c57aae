#!/usr/bin/env python3
"""Screen update cost: what one redraw of a facility's screen costs as its table grows.

    python3 tests/bench/screen.py                    # 1,000 / 10,000 / 100,000 entries
    python3 tests/bench/screen.py --sizes 1000,50000

A screen redraws once per update interval (1 s by default), on the same thread as the
capture: what a redraw costs is taken from the capture.  For each size this fills the
traffic monitor with connections (random-source SYNs, the flood case), the service
monitor with ports and the LAN monitor with stations, then times the view's whole
redraw (snapshot of the page shown, formatting, the curses calls) on an 80x24 screen
whose curses calls do nothing, so what is timed is this program's own work, and
reports it as milliseconds and as the share of a 1 s interval; beside it, the cost of
the facility's whole ``--json`` snapshot, which a screen that drew every row would pay.
"""
import argparse
import os
import random
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(HERE))

from builders import eth, ip4, tcp, udp  # noqa: E402
from netdecode.accounting import counters  # noqa: E402
from netdecode.run.settings import Settings  # noqa: E402
from netdecode.decoding.decode import decode  # noqa: E402
from netdecode.accounting.flows import TrafficMonitor  # noqa: E402
from netdecode.accounting.tables import Options  # noqa: E402
from netdecode.run.monitor import Monitor  # noqa: E402
from netdecode.ui.app import App  # noqa: E402
from netdecode.ui.lan import LanView  # noqa: E402
from netdecode.ui.services import ServicesView  # noqa: E402
from netdecode.ui.text import Names  # noqa: E402
from netdecode.ui.traffic import TrafficView  # noqa: E402


class _Screen:
    """An 80x24 curses window whose drawing calls do nothing."""

    def getmaxyx(self):
        return 24, 80

    def addnstr(self, *args):
        pass

    def addch(self, *args):
        pass


_CURSES = types.SimpleNamespace(ACS_ULCORNER=0, ACS_LLCORNER=0, error=Exception)


def _app():
    app = App.__new__(App)
    app.curses, app.scr, app.settings = _CURSES, _Screen(), Settings()
    app.styles = dict.fromkeys(("text", "title", "heading", "status", "select", "alert",
                                "box", "key"), 0)
    app.names = Names(app.settings, numeric=True)
    return app


class _Session:
    """What a view reads of its session, over a sink filled here."""

    def __init__(self, sink):
        self.sink = sink
        self.monitor = Monitor([sink])
        self.note = self.filter_text = self.log_path = None

    def snapshot(self, **page):
        snap = self.sink.snapshot(**page)
        snap["ts"] = 1764000000.0
        return snap

    def state(self):
        return "bench"

    def elapsed(self):
        return 1.0


def _fill(size):
    rng = random.Random(size)
    options = Options(max_entries=size)
    sinks = (TrafficMonitor(options), counters.ServiceStats(options),
             counters.LanStats(options))
    for i in range(size):
        src = "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255)
        mac = "02:00:%02x:%02x:%02x:%02x" % (i >> 24 & 255, i >> 16 & 255, i >> 8 & 255,
                                             i & 255)
        syn = eth(ip4(tcp(sport=rng.randrange(1024, 65536), dport=80, flags="S"),
                      src=src, dst="10.255.0.1"), src=mac)
        datagram = eth(ip4(udp(sport=40000, dport=i % 65535 + 1), src=src, dst="10.255.0.1",
                           proto=17), src=mac)
        for data in (syn, datagram):
            record = decode(1764000000 * 10**9 + i, 1, 0, 1, data, len(data))
            for sink in sinks:
                sink.add(record)
    return sinks


def _time(call, rounds=5):
    best = None
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        took = time.perf_counter() - start
        best = took if best is None or took < best else best
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    args = ap.parse_args()
    app = _app()
    print("%-22s %9s %12s %10s %14s" % ("screen", "entries", "redraw ms", "of 1 s",
                                        "--json snap ms"))
    for size in [int(s) for s in args.sizes.split(",")]:
        traffic, services, lan = _fill(size)
        for label, view_class, sink, count in (
                ("IP traffic monitor", TrafficView, traffic, len(traffic.tcp)),
                ("TCP/UDP services", ServicesView, services, len(services.services)),
                ("LAN stations", LanView, lan, lan.size)):
            view = view_class(app, _Session(sink))
            view.sort = view.sorts[1][1:] if view.sorts else None
            redraw = _time(lambda: view.draw(24, 80))
            whole = _time(sink.snapshot, rounds=2)
            print("%-22s %9d %12.2f %9.1f%% %14.1f" % (label, count, redraw * 1e3,
                                                       redraw * 100, whole * 1e3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
