#!/usr/bin/env python3
"""iptraf.py: IPTraf reborn in pure Python, a network monitor for Linux.

This file is the command line (and, later, the curses front end); the engine is the
``netdecode`` package beside it.  Byte counts everywhere are frame (wire) lengths, link
header included, FCS excluded: what Wireshark's statistics and /proc/net/dev count.
"""
import sys

_PROG = "iptraf.py"

_EPILOG = """\
facilities (one at a time, as in iptraf-ng):
  -i IFACE|all   IP traffic monitor: TCP connections with flags; other traffic
  -g             general interface statistics
  -d IFACE       detailed interface statistics
  -s IFACE       TCP/UDP service monitor
  -z IFACE       packet size breakdown
  -l IFACE|all   LAN station monitor
With -r FILE, IFACE picks the pcapng interface of that name ('all', or any name for a
classic pcap file, takes every frame).

examples:
  sudo python3 iptraf.py -d eth0 --json -t 1m          a snapshot a second for a minute
  python3 iptraf.py -r capture.pcapng -i all --json    one snapshot of the whole file
  python3 iptraf.py -r capture.pcapng --dump           one JSON object per frame
  sudo python3 iptraf.py -i eth0 --dump -t 30s         30 seconds of eth0, live
  sudo python3 iptraf.py -i all --dump -w all.pcapng   every interface, also to a file
  sudo python3 iptraf.py -s eth0 --json -F 'not port 22'  services, leaving out ssh

--dump keys (a key that does not apply is left out):
  n ts len caplen eth_src eth_dst vlan ip_src ip_dst ip_proto ip_len ip_ttl
  ip_mf ip_frag ip6_src ip6_dst ip6_nxt ip6_plen tcp_sport tcp_dport tcp_flags
  tcp_win tcp_len udp_sport udp_dport udp_len icmp_type icmp_code icmp6_type
  icmp6_code arp_op error iface dir
len is the wire length (link header included, FCS excluded); caplen what was captured.
Live capture needs root or CAP_NET_RAW.
"""


def _duration(text):
    """-t: minutes as iptraf-ng has it, or a number with s, m or h."""
    import argparse
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            value = float(text[:-1]) * units[text[-1]]
        else:
            value = float(text) * 60
    except ValueError:
        value = -1
    if value <= 0:
        raise argparse.ArgumentTypeError(
            "%r: give minutes, or a number with s, m or h (30s, 5m, 1h)" % text)
    return value


def _parser():
    import argparse
    from netdecode.capture import DEFAULT_RING_BYTES, DEFAULT_SNAPLEN
    ap = argparse.ArgumentParser(
        prog=_PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="IP traffic monitor: decodes live traffic and pcap/pcapng captures.",
        epilog=_EPILOG)
    facility = ap.add_mutually_exclusive_group()
    facility.add_argument("-i", metavar="IFACE", dest="traffic",
                          help="IP traffic monitor on IFACE, or on every interface ('all')")
    facility.add_argument("-g", action="store_true", dest="general",
                          help="general interface statistics")
    facility.add_argument("-d", metavar="IFACE", dest="detailed",
                          help="detailed interface statistics on IFACE")
    facility.add_argument("-s", metavar="IFACE", dest="services",
                          help="TCP/UDP service monitor on IFACE")
    facility.add_argument("-z", metavar="IFACE", dest="sizes",
                          help="packet size breakdown on IFACE")
    facility.add_argument("-l", metavar="IFACE", dest="lan",
                          help="LAN station monitor on IFACE, or on every interface ('all')")
    ap.add_argument("-r", metavar="FILE", dest="read",
                    help="read a pcap or pcapng file (the format comes from its contents)")
    ap.add_argument("--json", nargs="?", const="-", metavar="PATH",
                    help="no screen: write the facility's snapshot as one JSON object "
                         "per update interval (with -r: one, at the end) to stdout or PATH")
    ap.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                    help="update interval of screens, logs and --json (default 1)")
    ap.add_argument("--dump", action="store_true",
                    help="no screen: write one JSON object per frame to stdout (from -r "
                         "FILE, or live from the interface of -i)")
    ap.add_argument("-F", "--filter", metavar="EXPR", dest="filter",
                    help="tcpdump-style filter ('tcp port 443', 'host 10.0.0.1 and not "
                         "arp'); attached in the kernel when capturing one interface")
    ap.add_argument("-w", metavar="FILE", dest="write",
                    help="also write every frame to FILE: pcap for one interface, "
                         "pcapng (one interface block each) for all")
    ap.add_argument("-t", metavar="TIMEOUT", dest="timeout", type=_duration,
                    help="stop after TIMEOUT: minutes, or 30s, 5m, 1h")
    ap.add_argument("--capture-mode", choices=("ring", "socket"), default="ring",
                    help="live: a TPACKET_V3 ring (default) or plain socket reads")
    ap.add_argument("--snaplen", type=int, default=DEFAULT_SNAPLEN, metavar="BYTES",
                    help="live: bytes kept of each frame (default %(default)s)")
    ap.add_argument("--ring-mb", type=int, default=DEFAULT_RING_BYTES >> 20, metavar="MB",
                    help="live: memory for the capture ring (default %(default)s)")
    ap.add_argument("--promisc", action="store_true",
                    help="live: put the interface in promiscuous mode while capturing")
    ap.add_argument("--bundle", metavar="PYZ",
                    help="write this program as one file, a zipapp that runs with a bare "
                         "python3 (python3 PYZ ...), and exit")
    return ap


_FACILITIES = ("traffic", "general", "detailed", "services", "sizes", "lan")


def main(argv=None):
    ap = _parser()
    args = ap.parse_args(argv)
    if args.bundle:
        return _bundle(args.bundle)
    facility = next((f for f in _FACILITIES if getattr(args, f)), None)
    if args.snaplen < 64 or args.ring_mb < 1 or args.interval <= 0:
        ap.error("--snaplen takes at least 64 bytes, --ring-mb at least 1, "
                 "--interval more than 0")
    if args.dump and args.json:
        ap.error("--dump and --json: choose one")
    if args.dump:
        if facility not in (None, "traffic"):
            ap.error("--dump reads -r FILE, or captures live on the interface of -i")
        if not args.read and not args.traffic:
            ap.error("give -r FILE or -i IFACE")
        return _run(args, None, args.traffic or "all")
    if facility is None:
        ap.error("give a facility (-i, -g, -d, -s, -z, -l) or --dump")
    if not args.json:
        ap.error("give --json (the monitor's screens are not built yet)")
    return _run(args, facility, getattr(args, facility) if facility != "general" else "all")


_BUNDLE_MAIN = """\
import sys

import iptraf

sys.exit(iptraf.main())
"""


def _bundle(path):
    """A stdlib zipapp of iptraf.py and netdecode/, stored uncompressed so that it runs
    even where Python was built without zlib."""
    import os
    import zipfile
    here = os.path.dirname(os.path.abspath(__file__))
    package = os.path.join(here, "netdecode")
    if not os.path.isdir(package):
        raise SystemExit("%s: --bundle runs from the source tree (no netdecode/ beside %s)"
                         % (_PROG, __file__))
    modules = sorted(n for n in os.listdir(package) if n.endswith(".py"))
    part = path + ".part"
    try:
        with open(part, "wb") as f:
            f.write(b"#!/usr/bin/env python3\n")
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
                z.writestr("__main__.py", _BUNDLE_MAIN)
                z.write(os.path.join(here, "iptraf.py"), "iptraf.py")
                for name in modules:
                    z.write(os.path.join(package, name), "netdecode/" + name)
        os.chmod(part, 0o755)
        os.replace(part, path)
    except OSError as e:
        raise SystemExit("%s: cannot write %s: %s" % (_PROG, path, e.strerror or e))
    return 0


def _sink(facility, options, ifindex, mtu, link_header):
    """The facility's sink; with no facility, the --dump writer."""
    if facility is None:
        from netdecode.dump import Dumper
        return Dumper(sys.stdout, options.interface_name)
    if facility == "traffic":
        from netdecode.flows import TrafficMonitor
        return TrafficMonitor(options)
    from netdecode import counters
    if facility == "general":
        return counters.GeneralStats(options)
    if facility == "detailed":
        return counters.DetailedStats(options, ifindex)
    if facility == "services":
        return counters.ServiceStats(options, ifindex)
    if facility == "sizes":
        return counters.SizeStats(options, ifindex, mtu, link_header)
    return counters.LanStats(options, ifindex)


class _Reporter:
    """A sink that writes the facility's --json snapshot at every tick."""

    def __init__(self, monitor, facility, sink, out):
        self.monitor, self.facility, self.sink, self.out = monitor, facility, sink, out

    def __repr__(self):
        return "_Reporter(%r)" % (self.facility,)

    def add(self, record):
        pass

    def tick(self, now):
        self.emit(now)

    def snapshot(self):
        return {}

    def emit(self, now):
        import json
        self.out.write(json.dumps(self.monitor.snapshot(self.facility, self.sink, now)) + "\n")
        self.out.flush()


def _run(args, facility, iface):
    """One monitor over a file or a live capture, with the facility's sink (or the
    --dump writer), the -w recorder and, for --json, the reporter."""
    import signal
    stop = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.append(True))
    out = None
    if facility is not None:
        out = sys.stdout if args.json == "-" else _open_output(args.json)
    try:
        if args.read:
            return _run_file(args, facility, iface, out, stop)
        return _run_live(args, facility, iface, out, stop)
    except BrokenPipeError:
        # the reader of our output went away (| head): stop quietly, as cat does
        _silence_stdout()
        return 0


def _monitor(args, facility, options, ifindex, mtu, link_header, recorder, out, match=None):
    from netdecode.monitor import Monitor
    sink = _sink(facility, options, ifindex, mtu, link_header)
    sinks = [sink] if recorder is None else [recorder, sink]
    monitor = Monitor(sinks, args.interval, match)
    reporter = _Reporter(monitor, facility, sink, out) if facility is not None else None
    return monitor, reporter


def _run_file(args, facility, iface, out, stop):
    from netdecode.monitor import Options
    from netdecode.pcap import CaptureError, open_capture
    try:
        reader = open_capture(args.read)
    except CaptureError as e:
        raise SystemExit("%s: %s" % (_PROG, e))
    with reader:
        frames = reader.frames()
        try:
            first = next(frames, None)          # reads the interface blocks before it
        except CaptureError as e:
            raise SystemExit("%s: %s" % (_PROG, e))
        names = [i.name for i in reader.interfaces]
        ifindex = None
        if iface != "all" and any(names):
            if iface not in names:
                raise SystemExit("%s: %s: no interface of that name in %s (it has: %s)"
                                 % (_PROG, iface, args.read, ", ".join(n for n in names if n)))
            ifindex = names.index(iface)

        def name(index):
            return names[index] if index < len(names) else None
        options = Options(interval=args.interval, interface_name=(
            name if facility is None else lambda index: name(index) or "if%d" % index))
        recorder = _recorder(args.write, None, name) if args.write else None
        match = _user_filter(args.filter)
        if ifindex is not None:
            match = _on_interface(ifindex, match)
        monitor, reporter = _monitor(args, facility, options, ifindex, 1500, 14, recorder,
                                     out, match)
        status = 0
        try:
            if first is not None:
                monitor.feed(_chain(first, frames, stop))
        except CaptureError as e:
            sys.stdout.flush()
            sys.stderr.write("%s: %s\n" % (_PROG, e))
            status = 1
        monitor.finish()
        if reporter is not None:
            reporter.emit(monitor.last_ts)
        if recorder is not None:
            recorder.close()
        sys.stdout.flush()
        return status


def _chain(first, rest, stop):
    """The frames of a file until its end or a stop signal."""
    yield first
    for frame in rest:
        if stop:
            return
        yield frame


def _run_live(args, facility, iface, out, stop):
    from netdecode.monitor import Options, wall_clock_ns
    ifname = None if iface == "all" else iface
    kernel_filter = _kernel_filter(args.filter, ifname) if ifname else None
    cap = _open_live(args, ifname, kernel_filter)
    try:
        options = Options(interval=args.interval, interface_name=cap.interface_name)
        linktype = cap.interface_linktype(cap.ifindex) if ifname else None
        recorder = _recorder(args.write, linktype, cap.interface_name) if args.write else None
        # every interface at once mixes link types: one kernel program cannot read them
        # all, so the filter runs here, per frame, as on a file
        match = _user_filter(args.filter) if ifname is None else None
        monitor, reporter = _monitor(args, facility, options, None, _mtu(iface),
                                     14 if linktype in (None, 1) else 0, recorder, out, match)
        if reporter is not None:
            monitor.sinks.append(reporter)
        status = _pump(cap, monitor, args.timeout, stop,
                       [sys.stdout.flush] + ([recorder.flush] if recorder else []))
        monitor.dropped = cap.stats()["dropped"]
    finally:
        cap.close()
    if reporter is not None:
        monitor.idle(wall_clock_ns())
        reporter.emit(wall_clock_ns())      # the last snapshot, whatever ended the run
    elif monitor.dropped:
        sys.stderr.write("%s: the kernel dropped %d frames\n" % (_PROG, monitor.dropped))
    if recorder is not None:
        recorder.close()
    sys.stdout.flush()
    return status


def _pump(cap, monitor, timeout, stop, flushes):
    """Feed live frames to the monitor until a signal, the timeout, or the interface is
    deleted (1, reported); an interface that goes down is reported once and waited for."""
    import time
    from netdecode.capture import InterfaceDown, InterfaceGone
    from netdecode.monitor import wall_clock_ns
    deadline = None if timeout is None else time.monotonic() + timeout
    down = False
    while not stop:
        wait = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
        if wait <= 0:
            return 0
        cap.wait(wait)
        try:
            frames = cap.read()
        except InterfaceGone as e:
            sys.stderr.write("%s: %s\n" % (_PROG, e.strerror))
            return 1
        except InterfaceDown as e:
            if not down:
                sys.stderr.write("%s: %s; waiting for it to come back\n" % (_PROG, e.strerror))
            down = True
            time.sleep(wait)
            continue
        down = False
        monitor.dropped = cap.stats()["dropped"]
        monitor.feed(frames)
        monitor.idle(wall_clock_ns())
        if frames:
            for flush in flushes:
                flush()
    return 0


def _mtu(iface):
    from netdecode.ifaces import interface_by_name
    found = interface_by_name(iface) if iface != "all" else None
    return found.mtu if found is not None and found.mtu else 1500


def _user_filter(expr):
    """Filter.match for frames read here (files, every interface), or None.  A frame of a
    link type the filter cannot read is reported once and not passed."""
    if expr is None:
        return None
    from netdecode.filter import Filter, FilterError
    try:
        compiled = Filter(expr)
    except FilterError as e:
        raise _usage_error(e)
    warned = []

    def match(frame, _match=compiled.match):
        try:
            return _match(frame)
        except FilterError as e:
            if not warned:
                sys.stderr.write("%s: %s; such frames are left out\n" % (_PROG, e))
                warned.append(True)
            return False
    return match


def _on_interface(ifindex, match):
    if match is None:
        return lambda frame: frame[1] == ifindex
    return lambda frame: frame[1] == ifindex and match(frame)


def _kernel_filter(expr, ifname):
    """The filter compiled for one live interface's link type, to attach in the kernel."""
    if expr is None:
        return None
    from netdecode.filter import FilterError, compile_filter
    from netdecode.ifaces import interface_by_name
    found = interface_by_name(ifname)
    if found is None:
        return None       # LiveCapture says which interfaces there are
    try:
        return compile_filter(expr, found.linktype, live=True)
    except FilterError as e:
        raise _usage_error(e)


def _usage_error(error):
    sys.stderr.write("%s: %s\n" % (_PROG, error))
    return SystemExit(2)


def _open_live(args, ifname, bpf=None):
    from netdecode.capture import CaptureSetupError, LiveCapture
    try:
        return LiveCapture(ifname, mode=args.capture_mode, snaplen=args.snaplen,
                           promisc=args.promisc, ring_bytes=args.ring_mb << 20, bpf=bpf)
    except CaptureSetupError as e:
        raise SystemExit("%s: %s" % (_PROG, e.strerror))
    except OSError as e:
        raise SystemExit("%s: cannot capture on %s: %s" % (_PROG, ifname or "all interfaces",
                                                           e.strerror or e))


def _open_output(path):
    try:
        return open(path, "w")
    except OSError as e:
        raise SystemExit("%s: cannot write %s: %s" % (_PROG, path, e.strerror or e))


def _recorder(path, linktype, name):
    from netdecode.recorder import Recorder
    try:
        return Recorder(path, linktype, interface_name=name)
    except OSError as e:
        raise SystemExit("%s: cannot write %s: %s" % (_PROG, path, e.strerror or e))


def _silence_stdout():
    import os
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
