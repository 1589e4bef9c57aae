#!/usr/bin/env python3
"""iptraf.py: IPTraf reborn in pure Python, a network monitor for Linux.

This file is the command line (and, later, the curses front end); the engine is the
``netdecode`` package beside it.  Byte counts everywhere are frame (wire) lengths, link
header included, FCS excluded: what Wireshark's statistics and /proc/net/dev count.
"""
import sys

_PROG = "iptraf.py"
_LOG_DIR = "/var/log/iptraf"
_INTERVAL = 1.0                 # seconds between updates, unless --interval says
_LOG_INTERVAL = 3600.0          # seconds between the statistics logs' reports

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
    ap.add_argument("--interval", type=float, metavar="SECONDS",
                    help="update interval of screens, logs and --json (default %g; the "
                         "screens: their setting)" % _INTERVAL)
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
    ap.add_argument("--log-interval", type=float, metavar="SECONDS",
                    help="report interval of the statistics facilities' logs (default "
                         "%g; the screens: their setting)" % _LOG_INTERVAL)
    ap.add_argument("-B", action="store_true", dest="background",
                    help="run in the background, logging (-L, or the default log file); "
                         "SIGUSR2 or SIGTERM end it, SIGHUP or SIGUSR1 reopen the log")
    ap.add_argument("--pid-file", metavar="PATH",
                    help="with -B: where the process id goes (default "
                         "/run/iptraf-FACILITY-IFACE.pid)")
    ap.add_argument("-f", action="store_true", dest="force",
                    help="accepted for iptraf-ng compatibility (no lock files to clear)")
    ap.add_argument("-n", action="store_true", dest="numeric",
                    help="numbers, not names: no reverse DNS, no service names (as "
                         "tcpdump -n; headless output is always numeric)")
    ap.add_argument("--config", metavar="PATH",
                    help="the screens' settings file (default $XDG_CONFIG_HOME/iptraf.py.conf, "
                         "else ~/.config/iptraf.py.conf)")
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
    if args.snaplen < 64 or args.ring_mb < 1 or not _positive(args.interval):
        ap.error("--snaplen takes at least 64 bytes, --ring-mb at least 1, "
                 "--interval more than 0")
    if not _positive(args.log_interval):
        ap.error("--log-interval takes more than 0 seconds")
    # the flags win; not given, the screens take their settings and the rest these
    interactive = not args.dump and not args.json and not args.background and (
        args.log is None or _on_terminal())
    if not interactive:
        if args.interval is None:
            args.interval = _INTERVAL
        if args.log_interval is None:
            args.log_interval = _LOG_INTERVAL
    if args.dump and args.json:
        ap.error("--dump and --json: choose one")
    if args.dump:
        if facility not in (None, "traffic"):
            ap.error("--dump reads -r FILE, or captures live on the interface of -i")
        if not args.read and not args.traffic:
            ap.error("give -r FILE or -i IFACE")
        return _run(args, None, args.traffic or "all")
    iface = getattr(args, facility) if facility not in (None, "general") else "all"
    if interactive:
        return _interactive(args, facility, iface)
    if facility is None:
        ap.error("give a facility (-i, -g, -d, -s, -z, -l) with --json, -L or -B")
    if args.background:
        if args.read:
            ap.error("-B runs a live capture in the background: not with -r")
        if args.json == "-":
            ap.error("-B: give --json a PATH (a background run has no standard output)")
        if args.log is None:
            args.log = ""
    return _run(args, facility, iface)


def _positive(value):
    """A number flag not given, or given more than 0 (nan is not)."""
    return value is None or value > 0


def _on_terminal():
    return sys.stdin.isatty() and sys.stdout.isatty()


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


# --- the screens ------------------------------------------------------------------------
#
# Everything below reads snapshots (Monitor.snapshot) and draws them; nothing decodes.
# One loop (_App.loop) serves every facility: it waits on the capture and the keyboard
# at once, feeds what arrived, and redraws at the configured interval, so the screen
# never waits on the capture nor the capture on the screen.

_MIN_COLS, _MIN_ROWS = 40, 10
_ESC, _CTRL_X = 27, 24
_QUIT_KEYS = frozenset((ord("x"), ord("X"), ord("q"), ord("Q"), _CTRL_X, _ESC))
_ENTER_KEYS = frozenset((10, 13))
_CLOSE = "close"
_FILE_SLICE = 4096              # frames fed between two looks at the keyboard
_FILE_BUDGET = 0.05             # seconds of file reading between two looks


class _Quit(Exception):
    """SIGTERM or SIGHUP under the screens: unwinds, so that curses restores the
    terminal on the way out."""


def _interactive(args, facility, iface):
    """The curses program: the menus, or the facility named on the command line."""
    import os
    import signal
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise _UsageError("%s: the screens need a terminal; scripts use --json, --dump "
                          "or -L (see %s --help)" % (_PROG, _PROG))
    from netdecode.config import Settings, default_path
    path = args.config or default_path()
    settings = Settings.load(path)
    os.environ.setdefault("ESCDELAY", "25")     # Esc answers at once, not after 1 s

    def quit_(signum, frame):
        raise _Quit()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, quit_)
    import curses
    failure = []
    try:
        curses.wrapper(lambda scr: _App(scr, args, settings, path).run(
            facility, iface, failure))
    except (KeyboardInterrupt, _Quit):
        pass
    except curses.error as e:
        raise SystemExit("%s: cannot drive this terminal (TERM=%s): %s"
                         % (_PROG, os.environ.get("TERM", ""), e))
    except Exception as e:
        # broad on purpose: curses.wrapper has restored the terminal by now; the user
        # gets one line, and the traceback goes to a file for the bug report
        import tempfile
        import traceback
        fd, name = tempfile.mkstemp(prefix="iptraf-error-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            traceback.print_exc(file=f)
        raise SystemExit("%s: internal error: %s (details in %s)" % (_PROG, e, name))
    if failure:
        raise SystemExit("%s: %s" % (_PROG, failure[0]))
    return 0


def _combined_filter(*exprs):
    exprs = [e for e in exprs if e]
    if len(exprs) < 2:
        return exprs[0] if exprs else None
    return " and ".join("(%s)" % e for e in exprs)


def _count(n, width):
    """An integer in at most ``width`` characters: 1234567 -> 1234.6k when it must."""
    text = str(n)
    if len(text) <= width:
        return text
    for unit, size in (("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)):
        text = "%.1f%s" % (n / size, unit)
        if len(text) <= width:
            return text
    return "*" * width


def _rate(bps, unit):
    """A rate in the activity unit of the settings: kbits/s or kbytes/s."""
    if unit == "kbytes":
        return "%.2f kB/s" % (bps / 8000.0)
    return "%.2f kbps" % (bps / 1000.0)


def _elapsed(seconds):
    seconds = int(seconds)
    return "%d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def _split_endpoint(text):
    """'10.0.0.1:80' or '[fd00::1]:443' -> (address, port); a bare address or a MAC
    -> (text, None)."""
    if text.startswith("["):
        address, _, port = text[1:].partition("]:")
        return address, int(port)
    address, sep, port = text.rpartition(":")
    if sep and "." in address and ":" not in address:
        return address, int(port)
    return text, None


def _is_mac(text):
    parts = text.split(":")
    return len(parts) == 6 and all(len(part) == 2 for part in parts)


class _Names:
    """Host, service and MAC names for display, as the settings ask; never waits."""

    def __init__(self, settings, numeric):
        from netdecode.names import Resolver, Services, read_ethers
        self.resolver = Resolver() if settings.reverse_dns and not numeric else None
        self.services = Services() if settings.service_names and not numeric else None
        self.ethers = read_ethers(settings.mac_names) if settings.mac_names else {}

    def __repr__(self):
        return "_Names(dns=%s)" % (self.resolver is not None)

    def host(self, address):
        if self.resolver is None:
            return address
        return self.resolver.name(address) or address

    def service(self, port, proto):
        if self.services is None or port is None:
            return None
        return self.services.name(port, proto)

    def endpoint(self, text, proto):
        """'addr:port' as 'host:service' when names are on; numbers until they come."""
        address, port = _split_endpoint(text)
        if port is None:
            return self.mac(text) if _is_mac(text) else self.host(text)
        host = self.host(address)
        if host == address and ":" in address:
            host = "[%s]" % address
        service = self.service(port, proto) if proto else None
        return "%s:%s" % (host, service or port)

    def mac(self, mac):
        if mac is None:
            return ""
        name = self.ethers.get(mac)
        return mac if name is None else name

    def close(self):
        if self.resolver is not None:
            self.resolver.close()


def _styles(curses, color):
    """Style name -> curses attribute; colour when asked for and there, else reverse
    and bold, which every terminal has."""
    styles = {"text": curses.A_NORMAL, "title": curses.A_REVERSE, "heading": curses.A_BOLD,
              "status": curses.A_REVERSE, "select": curses.A_REVERSE,
              "alert": curses.A_BOLD, "box": curses.A_NORMAL, "key": curses.A_BOLD}
    if not (color and curses.has_colors()):
        return styles
    try:
        curses.use_default_colors()
        background = -1
    except curses.error:
        background = curses.COLOR_BLACK
    pairs = (("title", curses.COLOR_WHITE, curses.COLOR_BLUE, curses.A_BOLD),
             ("heading", curses.COLOR_YELLOW, background, curses.A_BOLD),
             ("status", curses.COLOR_BLACK, curses.COLOR_CYAN, 0),
             ("select", curses.COLOR_BLACK, curses.COLOR_WHITE, 0),
             ("alert", curses.COLOR_RED, background, curses.A_BOLD),
             ("box", curses.COLOR_CYAN, background, 0),
             ("key", curses.COLOR_GREEN, background, curses.A_BOLD))
    for number, (name, fg, bg, extra) in enumerate(pairs, 1):
        try:
            curses.init_pair(number, fg, bg)
        except curses.error:
            return styles
        styles[name] = curses.color_pair(number) | extra
    return styles


class _Session:
    """One facility at work under the screens: a run (as headless runs have it) fed
    from a file, in slices between looks at the keyboard, or from a live capture."""

    def __init__(self, app, facility, iface):
        import copy
        import time
        settings = app.settings
        args = copy.copy(app.args)
        if args.interval is None:
            args.interval = settings.update_interval
        if args.log_interval is None:
            args.log_interval = settings.log_interval * 60.0
        args.promisc = args.promisc or settings.promiscuous
        args.filter = _combined_filter(app.args.filter, settings.filter_expression())
        self.facility, self.iface = facility, iface
        self.note = None                # the latest warning, for the status line
        logfile = None
        if args.log is not None or settings.logging:
            from netdecode.logs import LogError, open_log
            try:
                logfile = open_log(args.log or "", facility, iface, args.log_format)
            except LogError as e:
                self.warn("not logging: %s" % e)
        self.run = _Run(args, facility, iface, None, logfile, [], [], warn=self.warn,
                        tuning={"idle_timeout": settings.tcp_timeout * 60.0,
                                "closed_lifetime": float(settings.closed_lifetime)})
        self.cap = self.reader = self.frames = None
        self.first_ts = None
        self.ended = self.down = False
        try:
            if args.read:
                self.reader, first, frames = _open_file(self.run)
                if first is not None:
                    self.first_ts = first[0]
                    self.frames = _chain(first, frames, ())
                else:
                    self.ended = True
            else:
                self.cap = _open_live_run(self.run)
        except BaseException:
            if logfile is not None:
                logfile.close()
            raise
        self.sink = self.run.sink
        self.monitor = self.run.monitor
        self.started = time.monotonic()

    def __repr__(self):
        return "_Session(%r, %r)" % (self.facility, self.iface)

    def warn(self, text):
        self.note = text

    def fileno(self):
        return self.cap.fileno() if self.cap is not None else None

    def busy(self):
        """A file still being read: the loop must not sleep."""
        return self.frames is not None and not self.ended

    def pump(self):
        if self.cap is not None:
            self._pump_live()
        elif self.busy():
            self._pump_file()

    def _pump_live(self):
        from netdecode.capture import InterfaceDown, InterfaceGone
        try:
            frames = self.cap.read()
        except InterfaceGone as e:
            self.warn(e.strerror)
            self.monitor.dropped = self.cap.stats()["dropped"]
            self.cap.close()
            self.cap = None
            return
        except InterfaceDown as e:
            if not self.down:
                self.warn("%s; waiting for it to come back" % e.strerror)
            self.down = True
            return
        if self.down:
            self.down, self.note = False, None
        self.monitor.dropped = self.cap.stats()["dropped"]
        if frames:
            self.monitor.feed(frames)

    def _pump_file(self):
        import itertools
        import time
        from netdecode.pcap import CaptureError
        deadline = time.monotonic() + _FILE_BUDGET
        monitor = self.monitor
        while time.monotonic() < deadline:
            before = monitor.packets
            try:
                monitor.feed(itertools.islice(self.frames, _FILE_SLICE))
                if monitor.packets - before == _FILE_SLICE:
                    continue                  # a whole slice: the file may hold more
            except CaptureError as e:         # the end, early: what came before counts
                self.warn(str(e))
            self.ended = True
            monitor.finish()
            return

    def idle(self):
        """Live: let the facility's clock run on (rates fall when the traffic stops, or
        when the interface is gone)."""
        if not self.run.args.read:
            from netdecode.monitor import wall_clock_ns
            self.monitor.idle(wall_clock_ns())
            if self.run.recorder is not None:
                self.run.recorder.flush()

    def now(self):
        if self.run.args.read:
            return self.monitor.last_ts
        from netdecode.monitor import wall_clock_ns
        return wall_clock_ns()

    def snapshot(self, **page):
        """The facility's snapshot, or the page of it a view asks for, and its time."""
        snap = self.sink.snapshot(**page)
        now = self.now()
        snap["ts"] = None if now is None else now / 1e9
        return snap

    def elapsed(self):
        """Seconds monitored: wall time live, the packets' span in a file."""
        import time
        if not self.run.args.read:
            return time.monotonic() - self.started
        if self.first_ts is None or self.monitor.last_ts is None:
            return 0
        return (self.monitor.last_ts - self.first_ts) / 1e9

    def state(self):
        """What the title bar says of the source."""
        if self.run.args.read:
            import os
            name = os.path.basename(self.run.args.read)
            return "%s (%s)" % (name, "end of file" if self.ended else "reading")
        return self.iface if self.iface != "all" else "all interfaces"

    def close(self):
        if self.cap is not None:
            self.monitor.dropped = self.cap.stats()["dropped"]
            self.cap.close()
            self.cap = None
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        now = self.now()
        if now is None:                 # a file without a frame
            from netdecode.monitor import wall_clock_ns
            now = wall_clock_ns()
        self.run.finish(now, 0)


_MAIN_MENU = (
    ("I", "IP traffic monitor", "traffic"),
    ("G", "General interface statistics", "general"),
    ("D", "Detailed interface statistics", "detailed"),
    ("S", "Statistical breakdowns...", "breakdowns"),
    ("L", "LAN station monitor", "lan"),
    None,
    ("F", "Filters...", "filters"),
    None,
    ("C", "Configure...", "configure"),
    ("A", "About...", "about"),
    None,
    ("X", "Exit", None),
)
_BREAKDOWN_MENU = (
    ("S", "By packet size", "sizes"),
    ("P", "By TCP/UDP port", "services"),
    None,
    ("X", "Exit menu", None),
)
_ALL_INTERFACES = ("traffic", "lan")     # the facilities that take "all"


class _App:
    """The curses program: menus, dialogs, and the loop that runs a facility's view."""

    def __init__(self, scr, args, settings, config_path):
        import curses
        self.curses = curses
        self.scr = scr
        self.args = args
        self.settings = settings
        self.config_path = config_path
        try:
            curses.curs_set(0)
        except curses.error:
            pass                # a terminal that cannot hide its cursor still works
        scr.keypad(True)
        self.styles = _styles(curses, settings.color)
        self.names = _Names(settings, args.numeric)

    def __repr__(self):
        return "_App(%r)" % (self.config_path,)

    # --- running -------------------------------------------------------------------

    def run(self, facility, iface, failure):
        """The facility of the command line, or the menus; a facility that cannot start
        from the command line ends the program with its one line (in ``failure``)."""
        try:
            if self.settings.problems:
                self.message("Settings file: " + "; ".join(self.settings.problems[:3]))
            if facility is not None:
                error = self.facility(facility, iface)
                if error:
                    failure.append(error)
                return
            self.menu()
        finally:
            self.names.close()

    def menu(self):
        while True:
            action = self.choose("iptraf.py", _MAIN_MENU)
            if action is None:
                return
            if action == "breakdowns":
                action = self.choose("Statistical breakdowns", _BREAKDOWN_MENU)
                if action is None:
                    continue
            if action == "filters":
                self.filters_dialog()
            elif action == "configure":
                self.configure_dialog()
            elif action == "about":
                self.about()
            else:
                iface = "all"
                if not self.args.read and action != "general":
                    iface = self.choose_interface(action)
                    if iface is None:
                        continue
                error = self.facility(action, iface)
                if error:
                    self.message(error)

    def facility(self, facility, iface):
        """Run one facility's screen until the user leaves it; returns the error that
        kept it from starting, or None."""
        try:
            session = _Session(self, facility, iface)
        except SystemExit as e:
            return _error_text(e)
        try:
            self.loop(session, _VIEWS[facility](self, session))
        finally:
            session.close()
        return None

    def loop(self, session, view):
        import select
        import time
        curses, scr = self.curses, self.scr
        interval = session.run.args.interval     # --interval, else the setting
        timeout = self.args.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        keyboard = sys.stdin.fileno()
        next_draw = 0.0
        scr.nodelay(True)
        try:
            while True:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return
                if now >= next_draw:
                    session.idle()
                    self.draw(view)
                    next_draw = now + interval
                if not session.busy():
                    # ncurses learns of a resize from SIGWINCH, which does not wake
                    # select: look at the keyboard at least ten times a second
                    wait = min(next_draw - now, 0.1)
                    if deadline is not None:
                        wait = min(wait, deadline - now)
                    fd = session.fileno()
                    select.select([keyboard] if fd is None else [keyboard, fd], [], [],
                                  max(0.0, wait))
                session.pump()
                while True:
                    key = scr.getch()
                    if key == -1:
                        break
                    next_draw = 0.0         # answer a key at once
                    if key == curses.KEY_RESIZE:
                        self.resized()
                    elif view.key(key) is _CLOSE:
                        return
        finally:
            scr.nodelay(False)

    def resized(self):
        try:
            self.curses.update_lines_cols()
        except AttributeError:
            pass                # curses before 3.5 tracks the size in getmaxyx alone

    def draw(self, view):
        scr = self.scr
        scr.erase()
        rows, cols = scr.getmaxyx()
        if rows < _MIN_ROWS or cols < _MIN_COLS:
            self.too_small(rows, cols)
        else:
            view.draw(rows, cols)
        scr.noutrefresh()
        self.curses.doupdate()

    def too_small(self, rows, cols):
        self.put(0, 0, "Terminal too small (%dx%d)." % (cols, rows), "alert")
        self.put(1, 0, "iptraf.py needs %dx%d;" % (_MIN_COLS, _MIN_ROWS))
        self.put(2, 0, "enlarge it, or press X.")

    # --- drawing -------------------------------------------------------------------

    def put(self, y, x, text, style="text", width=None):
        """Text at (y, x), made printable and clipped to the screen (and to ``width``)."""
        from netdecode.names import printable
        rows, cols = self.scr.getmaxyx()
        room = cols - x
        if y == rows - 1:
            room -= 1           # the bottom-right cell would scroll the screen
        if width is not None:
            room = min(room, width)
        if y < 0 or y >= rows or x < 0 or room <= 0:
            return
        try:
            self.scr.addnstr(y, x, printable(text), room, self.styles[style])
        except self.curses.error:
            pass                # a write that ends in the last cell: drawn all the same

    def bar(self, y, text, style):
        cols = self.scr.getmaxyx()[1]
        self.put(y, 0, text.ljust(cols), style)

    def title(self, text, right=""):
        cols = self.scr.getmaxyx()[1]
        left = " iptraf.py | " + text
        self.bar(0, left + right.rjust(max(0, cols - len(left) - 1)) + " ", "title")

    def status(self, y, text):
        self.bar(y, " " + text, "status")

    def help(self, y, text):
        self.bar(y, " " + text, "text")

    def box(self, top, left, height, width, heading):
        """A framed rectangle, cleared inside, with a heading in its top edge."""
        curses = self.curses
        try:
            win = self.scr.derwin(height, width, top, left)
        except curses.error:
            return False
        win.erase()
        win.attrset(self.styles["box"])
        win.box()
        win.attrset(0)
        self.put(top, left + 2, " %s " % heading, "heading", width - 4)
        return True

    # --- dialogs -------------------------------------------------------------------

    def getkey(self):
        """The next key (waiting); KEY_RESIZE is answered here and returned too."""
        key = self.scr.getch()
        if key == self.curses.KEY_RESIZE:
            self.resized()
        return key

    def framed(self, heading, lines, width, selected=None, footer=""):
        """A centred box of ``lines`` (text or None for a rule); ``selected`` shown
        highlighted.  False when the terminal is too small."""
        scr = self.scr
        scr.erase()
        rows, cols = scr.getmaxyx()
        if rows < _MIN_ROWS or cols < _MIN_COLS:
            self.too_small(rows, cols)
            scr.noutrefresh()
            self.curses.doupdate()
            return False
        self.title(heading)
        width = min(width, cols - 2)
        height = min(len(lines) + 2, rows - 3)
        top, left = max(1, (rows - 1 - height) // 2), (cols - width) // 2
        self.box(top, left, height, width, heading)
        shown = height - 2
        first = 0
        if selected is not None and selected >= shown:
            first = selected - shown + 1
        for row, line in enumerate(lines[first:first + shown]):
            y = top + 1 + row
            if line is None:
                try:
                    self.scr.hline(y, left + 1, self.curses.ACS_HLINE, width - 2)
                except self.curses.error:
                    pass
                continue
            style = "select" if first + row == selected else "text"
            self.put(y, left + 1, (" " + line).ljust(width - 2), style, width - 2)
        if footer:
            self.help(rows - 1, footer)
        scr.noutrefresh()
        self.curses.doupdate()
        return True

    def choose(self, heading, items, footer="Up/Down select, Enter open, or the "
               "capital letter; X: back"):
        """A menu of (hotkey, label, action) items and None rules; the chosen action,
        or None."""
        curses = self.curses
        picks = [i for i, item in enumerate(items) if item is not None]
        at = 0
        width = max([len(item[1]) + 8 for item in items if item is not None]
                    + [len(heading) + 8])
        while True:
            lines = [None if item is None else "%s  %s" % (item[0], item[1])
                     for item in items]
            self.framed(heading, lines, width, picks[at], footer)
            key = self.getkey()
            if key in (curses.KEY_UP, ord("k")):
                at = (at - 1) % len(picks)
            elif key in (curses.KEY_DOWN, ord("j"), 9):
                at = (at + 1) % len(picks)
            elif key in (curses.KEY_HOME, curses.KEY_PPAGE):
                at = 0
            elif key in (curses.KEY_END, curses.KEY_NPAGE):
                at = len(picks) - 1
            elif key in _ENTER_KEYS or key == curses.KEY_ENTER:
                return items[picks[at]][2]
            elif key in (_ESC, _CTRL_X):
                return None
            elif 0 < key < 256:
                letter = chr(key).upper()
                for item in items:
                    if item is not None and item[0] and item[0] == letter:
                        return item[2]

    def choose_interface(self, facility):
        """The interface chooser: name, kind, state and addresses of each; None when
        the user goes back."""
        import socket
        from netdecode.ifaces import list_interfaces
        items = []
        if facility in _ALL_INTERFACES:
            items.append(("*", "All interfaces", "all"))
        for i in sorted(list_interfaces(), key=lambda i: i.index):
            state = "up" if i.up else "down"
            addresses = " ".join([socket.inet_ntop(socket.AF_INET, a) for a in i.ipv4[:1]]
                                 + [socket.inet_ntop(socket.AF_INET6, a) for a in i.ipv6[:1]])
            items.append(("", "%-15s %-10s %-4s %s" % (i.name, i.kind, state, addresses),
                          i.name))
        items.append(None)
        items.append(("X", "Back", None))
        return self.choose("Select interface", items,
                           "Up/Down select, Enter choose; X: back")

    def message(self, text):
        """A box with ``text``, until a key (a resize redraws it)."""
        import textwrap
        cols = self.scr.getmaxyx()[1]
        lines = textwrap.wrap(text, max(20, min(70, cols - 8))) + ["", "Press a key"]
        while True:
            self.framed("iptraf.py", lines, max(len(line) for line in lines) + 6)
            if self.getkey() != self.curses.KEY_RESIZE:
                return

    def about(self):
        import platform
        self.message(
            "iptraf.py: IPTraf reborn in pure Python, the standard library only. "
            "Python %s. Settings: %s. Byte counts are wire lengths, link header "
            "included, FCS excluded." % (platform.python_version(), self.config_path))

    def edit_line(self, prompt, initial):
        """A one-line editor on the bottom line: Enter keeps the text, Esc gives None."""
        curses = self.curses
        text = initial
        try:
            curses.curs_set(1)
        except curses.error:
            pass
        try:
            while True:
                rows, cols = self.scr.getmaxyx()
                shown = prompt + text
                self.bar(rows - 1, shown[-(cols - 2):], "status")
                try:
                    self.scr.move(rows - 1, min(len(shown), cols - 2))
                except curses.error:
                    pass
                self.scr.refresh()
                key = self.getkey()
                if key in _ENTER_KEYS or key == curses.KEY_ENTER:
                    return text
                if key == _ESC:
                    return None
                if key in (curses.KEY_BACKSPACE, 127, 8):
                    text = text[:-1]
                elif key == 21:                     # Ctrl-U: clear, as a shell has it
                    text = ""
                elif 32 <= key < 127:
                    text += chr(key)
        finally:
            try:
                curses.curs_set(0)
            except curses.error:
                pass

    def save_settings(self):
        try:
            self.settings.save(self.config_path)
        except OSError as e:
            self.message("Could not save the settings to %s: %s"
                         % (self.config_path, e.strerror or e))

    def configure_dialog(self):
        from netdecode.config import SETTINGS, ConfigError
        curses = self.curses
        at = 0
        width = max(len(label) for _, _, _, label in SETTINGS) + 24
        while True:
            lines = ["%-*s %s" % (width - 24, label, self.settings.text(key))
                     for key, _, _, label in SETTINGS]
            self.framed("Configure", lines, width, at,
                        "Up/Down select, Enter/Space change; X: save and back "
                        "(to %s)" % self.config_path)
            key = self.getkey()
            if key == curses.KEY_UP:
                at = (at - 1) % len(SETTINGS)
            elif key in (curses.KEY_DOWN, 9):
                at = (at + 1) % len(SETTINGS)
            elif key in _QUIT_KEYS:
                break
            elif key in _ENTER_KEYS or key in (curses.KEY_ENTER, ord(" ")):
                name, _, _, label = SETTINGS[at]
                value = getattr(self.settings, name)
                if isinstance(value, bool):
                    setattr(self.settings, name, not value)
                elif name == "activity_unit":
                    self.settings.activity_unit = "kbytes" if value == "kbits" else "kbits"
                else:
                    text = self.edit_line(label + ": ", self.settings.text(name))
                    if text is not None:
                        try:
                            self.settings.set(name, text)
                        except ConfigError as e:
                            self.message("%s: %s" % (label, e))
        self.save_settings()
        self.names.close()
        self.names = _Names(self.settings, self.args.numeric)
        self.styles = _styles(self.curses, self.settings.color)

    def filters_dialog(self):
        from netdecode.config import FILTER_PROTOCOLS
        from netdecode.filter import Filter, FilterError
        curses = self.curses
        at = 0
        count = len(FILTER_PROTOCOLS) + 2
        while True:
            lines = ["[%s] %s" % ("x" if getattr(self.settings, key) else " ", label)
                     for key, label, _ in FILTER_PROTOCOLS]
            lines.append("Expression: %s" % (self.settings.filter_expr or "(none)"))
            lines.append("Clear the expression, every protocol on")
            self.framed("Filters", lines, 60, at,
                        "Up/Down select, Enter/Space toggle or edit; X: save and back")
            key = self.getkey()
            if key == curses.KEY_UP:
                at = (at - 1) % count
            elif key in (curses.KEY_DOWN, 9):
                at = (at + 1) % count
            elif key in _QUIT_KEYS:
                break
            elif key in _ENTER_KEYS or key in (curses.KEY_ENTER, ord(" ")):
                if at < len(FILTER_PROTOCOLS):
                    name = FILTER_PROTOCOLS[at][0]
                    setattr(self.settings, name, not getattr(self.settings, name))
                elif at == len(FILTER_PROTOCOLS):
                    text = self.edit_line("Filter (tcpdump syntax): ",
                                          self.settings.filter_expr)
                    if text is not None:
                        try:
                            if text.strip():
                                Filter(text)
                            self.settings.set("filter_expr", text)
                        except (FilterError, ValueError) as e:
                            self.message("Filter not taken: %s" % e)
                else:
                    for name, _, _ in FILTER_PROTOCOLS:
                        setattr(self.settings, name, True)
                    self.settings.filter_expr = ""
        self.save_settings()


class _View:
    """What every facility's screen shares: the title, a scrolled table, the sort
    prompt (``S`` then a letter), the status and help lines.  A view draws from the
    session's snapshot and nothing else."""

    name = ""
    keys_help = "Up/Down/PgUp/PgDn/Home/End scroll  X exit"
    sorts = ()              # (letter, label, the order's name in the facility's snapshot)

    def __init__(self, app, session):
        self.app, self.session = app, session
        self.top = 0                # the first table line shown
        self.page = 1               # table lines the last draw had room for
        self.total = 0              # table lines there were
        self.sort = None            # (label, key)
        self.prompting = False

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.session)

    def key(self, key):
        if self.prompting:
            self.prompting = False
            letter = chr(key).upper() if 0 < key < 256 else ""
            for pick, label, order in self.sorts:
                if letter == pick:
                    self.sort = (label, order)
            return None
        if key in _QUIT_KEYS:
            return _CLOSE
        if key in (ord("s"), ord("S")) and self.sorts:
            self.prompting = True
            return None
        if not self.scroll(key):
            self.command(chr(key).upper() if 0 < key < 256 else "", key)
        return None

    def command(self, letter, key):
        """A key of the view's own (the letter upper-cased, or '' for a special key)."""

    def scroll(self, key):
        moved = self.moved(key, self.top, self.page, self.total - self.page)
        if moved is None:
            return False
        self.top = moved
        return True

    def moved(self, key, at, page, last):
        """Where ``at`` goes for a movement key (None for another key), kept in 0..last."""
        curses = self.app.curses
        steps = {curses.KEY_UP: -1, curses.KEY_DOWN: 1, curses.KEY_PPAGE: -page,
                 curses.KEY_NPAGE: page}
        if key in steps:
            at += steps[key]
        elif key == curses.KEY_HOME:
            at = 0
        elif key == curses.KEY_END:
            at = last
        else:
            return None
        return max(0, min(at, last))

    def order(self):
        return None if self.sort is None else self.sort[1]

    def paged(self, fetch, count):
        """The snapshot of one page of ``count`` rows from ``self.top``, by
        ``fetch(page)``; the facility builds no more rows than a screen shows."""
        self.page = max(1, count)
        snap = fetch((self.order(), self.top, self.page))
        self.total = snap["total"]
        top = max(0, min(self.top, self.total - self.page))
        if top != self.top:
            self.top = top
            snap = fetch((self.order(), top, self.page))
        return snap

    def table(self, y, height, heading, lines, paged=False):
        """A heading and a block of lines from row ``y``: scrolled here, or already
        the page that ``paged`` fetched."""
        self.app.put(y, 0, heading, "heading")
        if not paged:
            self.page, self.total = max(1, height - 1), len(lines)
            self.top = max(0, min(self.top, self.total - self.page))
            lines = lines[self.top:self.top + self.page]
        for i, line in enumerate(lines[:height - 1]):
            self.app.put(y + 1 + i, 0, line)

    def frame(self, rows, status):
        """Title, status line and help line (or the sort prompt) around the content."""
        app, session = self.app, self.session
        state = session.state()
        if self.sort is not None:
            state = "sorted by %s | %s" % (self.sort[0], state)
        app.title(self.name, state)
        monitor = session.monitor
        text = "Pkts %d" % monitor.packets
        if monitor.filtered:
            text += " | Filtered %d" % monitor.filtered
        if status:
            text += " | " + status
        text += " | Drops %d | %s" % (monitor.dropped, _elapsed(session.elapsed()))
        if session.note:
            text += " | " + session.note
        app.status(rows - 2, text)
        if self.prompting:
            app.help(rows - 1, "Sort by: " + ", ".join(
                "%s %s" % (letter, label) for letter, label, _ in self.sorts)
                + "; any other key cancels")
        else:
            app.help(rows - 1, self.keys_help)

    def unit(self):
        return self.app.settings.activity_unit


def _half_bytes(conn):
    return conn["a_to_b"]["bytes"] + conn["b_to_a"]["bytes"]


class _TrafficView(_View):
    """The IP traffic monitor: TCP connections above, two lines each (one a direction),
    bracketed; everything else below, as a log or aggregated per address pair."""

    name = "IP traffic monitor"
    keys_help = "Up/Dn/PgUp/PgDn scroll  W pane  M more  S sort  F flush  A aggregate  X exit"
    sorts = (("P", "packets", "packets"), ("B", "bytes", "bytes"))
    _MODES = (
        (("Packets", 9), ("Bytes", 11), ("Flag", 7), ("Iface", 8)),
        (("Packets", 9), ("Pktsize", 8), ("Win", 7), ("Flag", 7), ("Iface", 8)),
        (("Packets", 9), ("Source MAC", 17), ("Iface", 8)),
    )

    def __init__(self, app, session):
        _View.__init__(self, app, session)
        self.mode = 2 if app.settings.source_mac else 0
        self.pane = 0               # 0 TCP, 1 other
        self.cursor = 0             # the selected connection
        self.other_top = None       # None: follow the newest
        self.other_page = self.other_total = 1
        self.aggregate = False
        self.flow_rate = (None, 0, 0, 0.0)  # selected key, its bytes, at ts, rate b/s

    def command(self, letter, key):
        if letter == "M":
            self.mode = (self.mode + 1) % len(self._MODES)
        elif letter == "W" or key == 9:
            self.pane ^= 1
        elif letter == "F":
            self.session.sink.flush_closed()
        elif letter == "A":
            self.aggregate = not self.aggregate
            self.other_top = None

    def scroll(self, key):
        if self.pane == 0:
            moved = self.moved(key, self.cursor, self.page, self.total - 1)
            if moved is None:
                return False
            self.cursor = moved
            return True
        last = max(0, self.other_total - self.other_page)
        moved = self.moved(key, self.other_start(), self.other_page, last)
        if moved is None:
            return False
        # the log follows its newest lines again once scrolled back to them
        self.other_top = None if moved >= last and not self.aggregate else moved
        return True

    def draw(self, rows, cols):
        app = self.app
        content = rows - 4             # less the title, the heading, status and help
        upper = max(2, content * 2 // 3 // 2 * 2)
        lower = content - upper
        snap = self.fetch(upper // 2, lower - 1)
        conns = snap["tcp"]
        columns = self._MODES[self.mode]
        right = sum(width + 1 for _, width in columns)
        ends = max(12, cols - 2 - right)
        heading = "TCP Connections (Source Host:Port)"[:ends].ljust(ends) + "".join(
            " " + (label.rjust(w) if label in ("Packets", "Bytes", "Pktsize", "Win")
                   else label.ljust(w)) for label, w in columns)
        app.put(1, 0, " " + heading, "heading" if self.pane == 0 else "text")
        for i, conn in enumerate(conns):
            selected = self.top + i == self.cursor
            style = "select" if selected and self.pane == 0 else "text"
            for j, (end, half) in enumerate(((conn["a"], conn["a_to_b"]),
                                             (conn["b"], conn["b_to_a"]))):
                y = 2 + 2 * i + j
                self.bracket(y, j == 0, style)
                app.put(y, 1, self.tcp_line(conn, end, half, j == 0, ends, columns), style)
        rate = self.selected_rate(conns, snap["ts"])
        self.draw_other(snap, 2 + upper, lower)
        self.frame(rows, "Flow %s | TCP %d Other %d" % (
            _rate(rate, self.unit()), self.total, self.other_total))

    def fetch(self, page, other_page):
        """The snapshot with the page of connections that holds the cursor (and, when
        aggregated, the page of flows shown); fetched again when the table's length,
        changed since the last draw, moves the page."""
        self.page, self.other_page = max(1, page), max(1, other_page)
        while True:
            self.cursor = max(0, min(self.cursor, self.total - 1))
            if self.cursor < self.top:
                self.top = self.cursor
            elif self.cursor >= self.top + self.page:
                self.top = self.cursor - self.page + 1
            self.top = max(0, min(self.top, self.total - self.page))
            other_top = self.other_start()
            other = (None, other_top, self.other_page)
            none = (None, 0, 0)
            snap = self.session.snapshot(
                tcp_page=(self.order(), self.top, self.page),
                flows_page=other if self.aggregate else none,
                other_page=none if self.aggregate else other)
            total = snap["tcp_total"]
            other_total = snap["flows_total" if self.aggregate else "other_total"]
            if (total, other_total) == (self.total, self.other_total):
                return snap
            self.total, self.other_total = total, other_total

    def other_start(self):
        """The first line of the lower pane: the newest page of the log unless the user
        scrolled; the top of the flows, largest first."""
        last = max(0, self.other_total - self.other_page)
        if self.other_top is None:
            return 0 if self.aggregate else last
        return min(self.other_top, last)

    def bracket(self, y, first, style):
        curses = self.app.curses
        char = curses.ACS_ULCORNER if first else curses.ACS_LLCORNER
        try:
            self.app.scr.addch(y, 0, char, self.app.styles[style])
        except curses.error:
            pass

    def tcp_line(self, conn, end, half, first, ends, columns):
        names = self.app.names
        cells = []
        for label, width in columns:
            if label == "Packets":
                mark = "> " if first and conn["under_way"] else ""
                cells.append((mark + _count(half["packets"], width - len(mark))).rjust(width))
            elif label == "Bytes":
                cells.append(_count(half["bytes"], width).rjust(width))
            elif label == "Flag":
                cells.append(half["flags"].ljust(width))
            elif label == "Iface":
                cells.append(str(conn["iface"])[:width].ljust(width))
            elif label == "Pktsize":
                cells.append(str(half["size"]).rjust(width))
            elif label == "Win":
                cells.append(str(half["win"]).rjust(width))
            else:
                cells.append(names.mac(half["mac"])[:width].ljust(width))
        return names.endpoint(end, "tcp")[:ends].ljust(ends) + "".join(" " + c for c in cells)

    def selected_rate(self, conns, ts):
        """The selected connection's rate since the last draw (iptraf's TCP flow rate)."""
        if not conns or ts is None:
            return 0.0
        conn = conns[self.cursor - self.top]
        key = (conn["a"], conn["b"], conn["iface"])
        total = _half_bytes(conn)
        was, before, then, rate = self.flow_rate
        if key == was and ts > then:
            rate = (total - before) * 8 / (ts - then)
        elif key != was:
            rate = 0.0
        if key != was or ts > then:
            self.flow_rate = (key, total, ts, rate)
        return rate

    def draw_other(self, snap, y, height):
        app, names = self.app, self.app.names
        if self.aggregate:
            entries = snap["flows"]
            heading = "Other traffic by address pair (%d)" % self.other_total
        else:
            entries = snap["other"]
            heading = "Other traffic (%d, newest last)" % self.other_total
        app.put(y, 0, " " + heading, "heading" if self.pane == 1 else "text")
        for i, entry in enumerate(entries):
            proto = entry["proto"].lower()
            proto = proto if proto in ("udp", "tcp") else None
            if self.aggregate:
                line = "%-8s %s <-> %s  %s pkts  %s bytes  on %s" % (
                    entry["proto"], names.endpoint(entry["a"], proto),
                    names.endpoint(entry["b"], proto), entry["packets"], entry["bytes"],
                    entry["iface"])
            else:
                text = entry["text"]
                if not text.startswith(entry["proto"]):
                    text = "%s %s" % (entry["proto"], text)
                line = "%s (%d bytes)" % (text, entry["bytes"])
                if "src" in entry:
                    line += " from " + names.endpoint(entry["src"], proto)
                if "dst" in entry:
                    line += " to " + names.endpoint(entry["dst"], proto)
                line += " on %s" % entry["iface"]
            app.put(y + 1 + i, 0, " " + line)


class _GeneralView(_View):
    name = "General interface statistics"

    def draw(self, rows, cols):
        snap = self.session.snapshot()
        unit = self.unit()
        lines = ["%-12s %10s %10s %10s %10s %10s  %s" % (
            str(row["iface"])[:12], _count(row["total"]["packets"], 10),
            _count(row["ipv4"]["packets"], 10), _count(row["ipv6"]["packets"], 10),
            _count(row["nonip"]["packets"], 10), _count(row["badip"]["packets"], 10),
            _rate(row["rate"]["bps"], unit)) for row in snap["interfaces"]]
        self.table(1, rows - 3, "%-12s %10s %10s %10s %10s %10s  %s" % (
            "Iface", "Total", "IPv4", "IPv6", "NonIP", "BadIP", "Activity"), lines)
        self.frame(rows, "Interfaces %d" % len(lines))


_DETAILED_ROWS = (("total", "Total"), ("ipv4", "IPv4"), ("ipv6", "IPv6"), ("tcp", "TCP"),
                  ("udp", "UDP"), ("icmp", "ICMP"), ("icmpv6", "ICMPv6"),
                  ("other_ip", "Other IP"), ("nonip", "Non-IP"),
                  ("broadcast", "Broadcast"), ("multicast", "Multicast"),
                  ("badip", "Bad IP"))


class _DetailedView(_View):
    name = "Detailed interface statistics"

    def draw(self, rows, cols):
        snap = self.session.snapshot()
        unit = self.unit()
        counts = snap["counts"]
        lines = []
        for key, label in _DETAILED_ROWS:
            c = counts[key]
            lines.append("%-10s %9s %11s %9s %11s %9s %11s" % (
                label + ":", _count(c["packets"], 9), _count(c["bytes"], 11),
                _count(c["in"]["packets"], 9), _count(c["in"]["bytes"], 11),
                _count(c["out"]["packets"], 9), _count(c["out"]["bytes"], 11)))
        lines.append("")
        for key, label in (("total", "Total"), ("in", "Incoming"), ("out", "Outgoing")):
            rate, peak = snap["rate"][key], snap["peak"][key]
            lines.append("%-15s %13s %9.1f/s   peak %13s %9.1f/s" % (
                label + " rates:", _rate(rate["bps"], unit), rate["pps"],
                _rate(peak["bps"], unit), peak["pps"]))
        lines.append("")
        lines.append("IP checksum errors: %d" % snap["ip_checksum_errors"])
        self.table(1, rows - 3, "%-10s %9s %11s %9s %11s %9s %11s" % (
            "", "Packets", "Bytes", "In pkts", "In bytes", "Out pkts", "Out bytes"), lines)
        self.frame(rows, "")


class _ServicesView(_View):
    name = "TCP/UDP service monitor"
    keys_help = "Up/Down/PgUp/PgDn/Home/End scroll  S sort  X exit"
    sorts = (("P", "port", "port"), ("K", "packets", "packets"), ("B", "bytes", "bytes"),
             ("T", "bytes to", "bytes_in"), ("F", "bytes from", "bytes_out"))

    def draw(self, rows, cols):
        from netdecode.config import parse_ports
        extra = parse_ports(self.app.settings.extra_ports)
        ports = None
        if extra:
            # iptraf's rule: ports below 1024 always, above only those asked for
            def ports(port):
                return port < 1024 or any(low <= port <= high for low, high in extra)
        snap = self.paged(lambda page: self.session.snapshot(page=page, ports=ports),
                          rows - 4)
        unit = self.unit()
        names = self.app.names
        lines = []
        for row in snap["services"]:
            service = names.service(row["port"], row["proto"])
            label = "%s/%d" % (row["proto"].upper(), row["port"])
            if service:
                label += " " + service
            lines.append("%-15s %7s %9s %7s %9s %7s %9s %s" % (
                label[:15], _count(row["packets"], 7), _count(row["bytes"], 9),
                _count(row["in"]["packets"], 7), _count(row["in"]["bytes"], 9),
                _count(row["out"]["packets"], 7), _count(row["out"]["bytes"], 9),
                _rate(row["rate"]["bps"], unit)))
        self.table(1, rows - 3, "%-15s %7s %9s %7s %9s %7s %9s %s" % (
            "Proto/Port", "Pkts", "Bytes", "PktsTo", "BytesTo", "PktsFrom", "BytesFrom",
            "Rate"), lines, paged=True)
        status = "Ports %d" % self.total
        other = snap.get("other_ports")
        if other and other["packets"]:
            status += " | Other ports %s pkts" % other["packets"]
        self.frame(rows, status)


class _SizesView(_View):
    name = "Packet size breakdown"

    def draw(self, rows, cols):
        snap = self.session.snapshot()
        bins = snap["bins"]
        cells = []
        for b in bins:
            if b["max"] is None:
                span = "%d and up:" % b["min"]
            else:
                span = "%d to %d:" % (b["min"], b["max"])
            cells.append("%-15s %9s" % (span, _count(b["packets"], 9)))
        half = (len(cells) + 1) // 2
        lines = []
        for i in range(half):
            right = cells[half + i] if half + i < len(cells) else ""
            lines.append("%s     %s" % (cells[i], right))
        lines.append("")
        lines.append("Interface MTU is %d bytes, not counting the %d-byte link header"
                     % (snap["mtu"], snap["link_header"]))
        lines.append("Largest packet: %d bytes   Mean size: %.1f bytes   Packets: %d" % (
            snap["largest"], snap["mean"], snap["packets"]))
        self.table(1, rows - 3, "%-15s %9s     %-15s %9s" % (
            "Packet size", "Count", "Packet size", "Count"), lines)
        self.frame(rows, "")


_LAN_COLUMNS = "  %7s %7s %9s %11s %7s %7s %9s %11s"


class _LanView(_View):
    name = "LAN station monitor"
    keys_help = "Up/Down/PgUp/PgDn/Home/End scroll  S sort  X exit"
    sorts = (("P", "packets in", "packets_in"), ("B", "bytes in", "bytes_in"),
             ("K", "packets out", "packets_out"), ("Y", "bytes out", "bytes_out"),
             ("M", "address", "mac"))

    def draw(self, rows, cols):
        # two lines a station
        snap = self.paged(lambda page: self.session.snapshot(page=page),
                          (rows - 4) // 2)
        unit = self.unit()
        names = self.app.names
        lines = []
        for row in snap["stations"]:
            i, o = row["in"], row["out"]
            described = names.mac(row["mac"])
            address = row["mac"] if described == row["mac"] else "%s (%s)" % (
                row["mac"], described)
            lines.append("%s on %s" % (address, row["iface"]))
            lines.append(_LAN_COLUMNS % (
                _count(i["packets"], 7), _count(i["ip_packets"], 7), _count(i["bytes"], 9),
                _rate(i["bps"], unit), _count(o["packets"], 7), _count(o["ip_packets"], 7),
                _count(o["bytes"], 9), _rate(o["bps"], unit)))
        self.table(1, rows - 3, _LAN_COLUMNS % (
            "PktsIn", "IP In", "BytesIn", "InRate", "PktsOut", "IP Out", "BytesOut",
            "OutRate"), lines, paged=True)
        self.frame(rows, "Stations %d" % self.total)


_VIEWS = {"traffic": _TrafficView, "general": _GeneralView, "detailed": _DetailedView,
          "services": _ServicesView, "sizes": _SizesView, "lan": _LanView}


if __name__ == "__main__":
    sys.exit(main())
