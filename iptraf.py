#!/usr/bin/env python3
"""iptraf.py: IPTraf reborn in pure Python, a network monitor for Linux.

This file is the command line (and, later, the curses front end); the engine is the
``netdecode`` package beside it.  Byte counts everywhere are frame (wire) lengths, link
header included, FCS excluded: what Wireshark's statistics and /proc/net/dev count.
"""
import sys

_PROG = "iptraf.py"
_LOG_DIR = "/var/log/iptraf"

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
  sudo python3 iptraf.py -i eth0 -B -L                 in the background, logging to
                                                       /var/log/iptraf/ip_traffic-1.log

--dump keys (a key that does not apply is left out):
  n ts len caplen eth_src eth_dst vlan ip_src ip_dst ip_proto ip_len ip_ttl
  ip_mf ip_frag ip6_src ip6_dst ip6_nxt ip6_plen tcp_sport tcp_dport tcp_flags
  tcp_win tcp_len udp_sport udp_dport udp_len icmp_type icmp_code icmp6_type
  icmp6_code arp_op error iface dir
len is the wire length (link header included, FCS excluded); caplen what was captured.

Byte counts everywhere are wire lengths, link header included and FCS excluded: what
Wireshark's statistics and the kernel's /proc/net/dev count.  Live capture needs root
or CAP_NET_RAW.  Logs go to /var/log/iptraf/; SIGHUP or SIGUSR1 reopen them, SIGUSR2
or SIGTERM end a background (-B) run.
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

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            """One line for a wrong or conflicting flag, then exit 2 (argparse would
            print the whole usage first)."""
            self.exit(2, "%s: %s (see %s --help)\n" % (_PROG, message, _PROG))

    ap = Parser(
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
    ap.add_argument("-L", nargs="?", const="", metavar="FILE", dest="log",
                    help="log to FILE (a bare name goes into %s; no FILE: the facility's "
                         "default name there, as iptraf-ng names them)" % _LOG_DIR)
    ap.add_argument("--log-format", choices=("text", "json"), default="text",
                    help="log lines as text (default) or as JSON objects")
    ap.add_argument("--log-interval", type=float, default=3600.0, metavar="SECONDS",
                    help="report interval of the statistics facilities' logs (default 3600)")
    ap.add_argument("-B", action="store_true", dest="background",
                    help="run in the background, logging (-L, or the default log file); "
                         "SIGUSR2 or SIGTERM end it, SIGHUP or SIGUSR1 reopen the log")
    ap.add_argument("--pid-file", metavar="PATH",
                    help="with -B: where the process id goes (default "
                         "/run/iptraf-FACILITY-IFACE.pid)")
    ap.add_argument("-f", action="store_true", dest="force",
                    help="accepted for iptraf-ng compatibility (no lock files to clear)")
    ap.add_argument("-n", action="store_true", dest="numeric",
                    help="no reverse name lookups (headless output is always numeric)")
    ap.add_argument("--bundle", metavar="PYZ",
                    help="write this program as one file, a zipapp that runs with a bare "
                         "python3 (python3 PYZ ...), and exit")
    return ap


_FACILITIES = ("traffic", "general", "detailed", "services", "sizes", "lan")


def main(argv=None):
    try:
        return _main(argv)
    except _UsageError as e:
        sys.stderr.write(e.message + "\n")
        return 2


def _main(argv):
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
    if args.background:
        if args.read:
            ap.error("-B runs a live capture in the background: not with -r")
        if args.json == "-":
            ap.error("-B: give --json a PATH (a background run has no standard output)")
        if args.log is None:
            args.log = ""
    if args.log_interval <= 0:
        ap.error("--log-interval takes more than 0 seconds")
    if not args.json and args.log is None:
        ap.error("give --json or -L (the monitor's screens are not built yet)")
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
    stop, reopen = [], []
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2):
        signal.signal(signum, lambda *_: stop.append(True))
    out = None
    if args.json:
        out = sys.stdout if args.json == "-" else _open_output(args.json)
    logfile = None
    if facility is not None and args.log is not None:
        from netdecode.logs import LogError, open_log
        try:
            logfile = open_log(args.log, facility, iface, args.log_format)
        except LogError as e:
            raise SystemExit("%s: %s" % (_PROG, e))
        for signum in (signal.SIGHUP, signal.SIGUSR1):
            signal.signal(signum, lambda *_: reopen.append(True))
    run = _Run(args, facility, iface, out, logfile, stop, reopen)
    try:
        if args.read:
            return _run_file(run)
        return _run_live(run)
    except BrokenPipeError:
        # the reader of our output went away (| head): stop quietly, as cat does
        _silence_stdout()
        return 0


class _Run:
    """What one run is made of: the options, the facility, where its output and log go,
    the flags the signal handlers raise, and where warnings go (stderr headless, the
    status line under the screens).  ``tuning`` holds Options settings beyond the
    interval (the screens' idle timeout and closed lifetime)."""

    def __init__(self, args, facility, iface, out, logfile, stop, reopen, warn=None,
                 tuning=None):
        self.args, self.facility, self.iface = args, facility, iface
        self.out, self.logfile, self.stop, self.reopen = out, logfile, stop, reopen
        self.warn = warn or _warn
        self.tuning = tuning or {}
        self.monitor = self.sink = self.reporter = self.logger = self.recorder = None

    def __repr__(self):
        return "_Run(%r, %r)" % (self.facility, self.iface)

    def options(self, interface_name):
        from netdecode.monitor import Options
        return Options(interval=self.args.interval, interface_name=interface_name,
                       **self.tuning)

    def build(self, options, ifindex, mtu, link_header, recorder, match=None):
        """The monitor and its sinks: the recorder, the facility's sink (or the --dump
        writer), then its logger and its --json reporter, which read what it counted."""
        from netdecode.monitor import Monitor
        sink = self.sink = _sink(self.facility, options, ifindex, mtu, link_header)
        sinks = [sink] if recorder is None else [recorder, sink]
        self.recorder = recorder
        if self.logfile is not None:
            from netdecode import logs
            if self.facility == "traffic":
                self.logger = logs.TrafficLog(sink, self.logfile, self.iface)
            else:
                self.logger = logs.ReportLog(self.facility, sink, self.logfile,
                                             self.args.log_interval, self.iface)
            sinks.append(self.logger)
        self.monitor = Monitor(sinks, self.args.interval, match)
        if self.out is not None:
            self.reporter = _Reporter(self.monitor, self.facility, sink, self.out)

    def between_batches(self):
        """A reopen asked for by SIGHUP or SIGUSR1 (never done inside the handler)."""
        if self.reopen:
            del self.reopen[:]
            self.logfile.reopen()

    def finish(self, now, status):
        """The last words: the final snapshot and log report, files flushed and closed."""
        if self.reporter is not None:
            self.reporter.emit(now)
        if self.logger is not None:
            self.logger.close(now)
        if self.recorder is not None:
            self.recorder.close()
        if self.out is not None:
            self.out.flush()
        sys.stdout.flush()
        return status


def _warn(text):
    sys.stderr.write("%s: %s\n" % (_PROG, text))


def _run_file(run):
    from netdecode.pcap import CaptureError
    reader, first, frames = _open_file(run)
    with reader:
        status = 0
        try:
            if first is not None:
                run.monitor.feed(_chain(first, frames, run.stop))
        except CaptureError as e:
            sys.stdout.flush()
            run.warn(str(e))
            status = 1
        run.monitor.finish()
        return run.finish(run.monitor.last_ts, status)


def _open_file(run):
    """Open -r FILE and build the run's monitor; returns the reader, its first frame
    (None for an empty file) and the iterator of the rest."""
    from netdecode.pcap import CaptureError, open_capture
    args, facility, iface = run.args, run.facility, run.iface
    try:
        reader = open_capture(args.read)
    except CaptureError as e:
        raise SystemExit("%s: %s" % (_PROG, e))
    try:
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
        options = run.options(
            name if facility is None else lambda index: name(index) or "if%d" % index)
        recorder = _recorder(args.write, None, name) if args.write else None
        match = _user_filter(args.filter, run.warn)
        if ifindex is not None:
            match = _on_interface(ifindex, match)
        run.build(options, ifindex, 1500, 14, recorder, match)
    except BaseException:
        reader.close()
        raise
    return reader, first, frames


def _chain(first, rest, stop):
    """The frames of a file until its end or a stop signal."""
    yield first
    for frame in rest:
        if stop:
            return
        yield frame


def _run_live(run):
    from netdecode.monitor import wall_clock_ns
    args = run.args
    cap = _open_live_run(run)
    pid_file = None
    try:
        if run.reporter is not None:
            run.monitor.sinks.append(run.reporter)
        if args.background:
            pid_file = _detach(args.pid_file or "/run/iptraf-%s-%s.pid"
                               % (run.facility, run.iface))
        flushes = [sys.stdout.flush] + ([run.recorder.flush] if run.recorder else [])
        status = _pump(cap, run, flushes)
        run.monitor.dropped = cap.stats()["dropped"]
    finally:
        cap.close()
    now = wall_clock_ns()
    run.monitor.idle(now)
    if run.reporter is None and run.monitor.dropped and not args.background:
        run.warn("the kernel dropped %d frames" % run.monitor.dropped)
    status = run.finish(now, status)
    if pid_file is not None:
        _remove(pid_file)
    return status


def _open_live_run(run):
    """Start capturing on the run's interface (or all) and build its monitor."""
    args = run.args
    ifname = None if run.iface == "all" else run.iface
    kernel_filter = _kernel_filter(args.filter, ifname) if ifname else None
    cap = _open_live(args, ifname, kernel_filter)
    try:
        options = run.options(cap.interface_name)
        linktype = cap.interface_linktype(cap.ifindex) if ifname else None
        recorder = _recorder(args.write, linktype, cap.interface_name) if args.write else None
        # every interface at once mixes link types: one kernel program cannot read them
        # all, so the filter runs here, per frame, as on a file
        match = _user_filter(args.filter, run.warn) if ifname is None else None
        run.build(options, None, _mtu(run.iface), 14 if linktype in (None, 1) else 0,
                  recorder, match)
    except BaseException:
        cap.close()
        raise
    return cap


def _pump(cap, run, flushes):
    """Feed live frames to the monitor until a signal, the timeout, or the interface is
    deleted (1, reported); an interface that goes down is reported once and waited for."""
    import time
    from netdecode.capture import InterfaceDown, InterfaceGone
    from netdecode.monitor import wall_clock_ns
    monitor, stop = run.monitor, run.stop
    timeout = run.args.timeout
    deadline = None if timeout is None else time.monotonic() + timeout
    down = False
    while not stop:
        run.between_batches()
        wait = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
        if wait <= 0:
            return 0
        cap.wait(wait)
        try:
            frames = cap.read()
        except InterfaceGone as e:
            run.warn(e.strerror)
            return 1
        except InterfaceDown as e:
            if not down:
                run.warn("%s; waiting for it to come back" % e.strerror)
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


def _detach(pid_path):
    """Become a daemon: fork, setsid, fork, stdio to /dev/null, write the pid file.
    The capture, the log and the outputs are open already, so every error that can be
    told on the terminal was."""
    import errno
    import os
    try:
        with open(pid_path) as f:
            old = int(f.read().strip() or 0)
        if old:
            os.kill(old, 0)
            raise SystemExit("%s: already running in the background (pid %d, %s)"
                             % (_PROG, old, pid_path))
    except (OSError, ValueError) as e:
        if getattr(e, "errno", errno.ESRCH) not in (errno.ENOENT, errno.ESRCH):
            raise SystemExit("%s: cannot use the pid file %s: %s" % (_PROG, pid_path, e))
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    os.umask(0o027)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    fd = os.open(pid_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write("%d\n" % os.getpid())
    return pid_path


def _remove(path):
    import os
    try:
        os.unlink(path)
    except OSError:
        pass


def _mtu(iface):
    from netdecode.ifaces import interface_by_name
    found = interface_by_name(iface) if iface != "all" else None
    return found.mtu if found is not None and found.mtu else 1500


def _user_filter(expr, warn):
    """Filter.match for frames read here (files, every interface), or None.  A frame of a
    link type the filter cannot read is reported once, through ``warn``, and not passed."""
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
                warn("%s; such frames are left out" % e)
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


class _UsageError(SystemExit):
    """A wrong flag or filter: main() writes its one line to stderr and exits 2."""

    def __init__(self, message):
        SystemExit.__init__(self, 2)
        self.message = message


def _usage_error(error):
    return _UsageError("%s: %s" % (_PROG, error))


def _error_text(exit):
    """The one line a SystemExit raised by the set-up says, without the program name."""
    text = exit.message if isinstance(exit, _UsageError) else str(exit.code)
    prefix = _PROG + ": "
    return text[len(prefix):] if text.startswith(prefix) else text


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
