"""A run: one facility (or the ``--dump`` writer) over a file or a live capture.

``Run`` is what the command line's options make of a run, headless or under the
screens: it opens the source, builds the monitor with the facility's sink, the ``-w``
recorder (beside kernel counting, with a capture and a thread of its own) and the
logger, and compiles ``-F`` for the kernel or for here.  A run that cannot start raises
``SetupError`` with the one line the user reads (``UsageError`` for a wrong flag or
filter, exit 2); the program's name is the caller's to put in front.
"""
import json
import sys

from ..accounting import counters
from ..accounting.flows import TrafficMonitor
from ..accounting.processes import Owners, ProcessMonitor
from ..accounting.tables import Options
from ..accounting import kernel as kernel_counters
from ..capture.ebpf import BpfError
from ..capture.ifaces import interface_by_name
from ..capture.live import CaptureSetupError, LiveCapture
from ..capture.pcap import CaptureError, open_capture
from ..capture.recorder import Recorder, Recording
from ..filter import Filter, FilterError, compile_filter
from ..output import logs
from ..output.dump import Dumper
from ..output.export import FlowExport
from ..output.metrics import Metrics, MetricsServer
from .fronts import IPBytes, SixInFour
from .monitor import Monitor

__all__ = ["Run", "SetupError", "UsageError", "chain"]


class SetupError(Exception):
    """A run cannot start: the message is the one line the user reads."""


class UsageError(SetupError):
    """A wrong flag or filter (the command line exits 2 on it)."""


class Run:
    """What one run is made of: the options (``args``, as the command line parsed them),
    the facility, where its output and log go, the flags the signal handlers raise, and
    where warnings go (stderr headless, the status line under the screens).  ``tuning``
    holds Options settings beyond the interval (the screens' idle timeout and closed
    lifetime)."""

    def __init__(self, args, facility, iface, out, logfile, stop, reopen, warn,
                 tuning=None):
        self.args, self.facility, self.iface = args, facility, iface
        self.out, self.logfile, self.stop, self.reopen = out, logfile, stop, reopen
        self.warn = warn
        self.tuning = tuning or {}
        self.monitor = self.sink = self.reporter = self.logger = self.recorder = None
        self.export = self.metrics = self.metrics_server = None
        self.owners = None
        self.kernel = None            # the eBPF counter, in --capture-mode ebpf
        self.recording = None         # -w beside the counter: a capture and thread

    def __repr__(self):
        return "Run(%r, %r)" % (self.facility, self.iface)

    def options(self, interface_name):
        return Options(interval=self.args.interval, interface_name=interface_name,
                       **self.tuning)

    def build(self, options, ifindex, mtu, link_header, recorder, match=None):
        """The monitor and its sinks: the recorder, the facility's sink (or the --dump
        writer), then its logger and its --json reporter, which read what it counted."""
        ip_bytes = self.facility is not None and self.args.bytes == "ip"
        if ip_bytes:
            link_header = 0                     # the size bins then end at the MTU
        sink = self.sink = _sink(self.facility, options, ifindex, mtu, link_header)
        sinks = [sink] if recorder is None else [recorder, sink]
        self.recorder = recorder
        args = self.args
        if getattr(args, "export", None) and self.facility == "traffic":
            # after the monitor: it reads what the monitor's tick left
            self.export = FlowExport(sink, args.export, args.export_active,
                                     args.export_inactive, self.warn)
            sinks.append(self.export)
        if self.logfile is not None:
            if self.facility == "traffic":
                self.logger = logs.TrafficLog(sink, self.logfile, self.iface)
            else:
                self.logger = logs.ReportLog(self.facility, sink, self.logfile,
                                             self.args.log_interval, self.iface)
            sinks.append(self.logger)
        # what the facility and its log are to count, the frames as -w keeps them
        at = sinks.index(sink)
        if ip_bytes:
            sinks[at:] = [IPBytes(sinks[at:])]
        if self.facility is not None and self.args.v6_in_v4:
            sinks[at:] = [SixInFour(sinks[at:])]
        self.monitor = Monitor(sinks, self.args.interval, match)
        if self.export is not None:
            self.monitor.extras.append(lambda: {"export": self.export.stats()})
        if getattr(args, "metrics", None) and self.facility is not None:
            self._serve_metrics(options)
        if self.out is not None:
            self.reporter = Reporter(self.monitor, self.facility, sink, self.out)

    def _serve_metrics(self, options):
        """The --metrics sink (after the facility, whose tick it reads) and its server."""
        self.metrics = Metrics(self.monitor, self.facility, self.sink,
                               options.interface_name, self.export)
        self.monitor.sinks.append(self.metrics)
        host, port = self.args.metrics
        try:
            self.metrics_server = MetricsServer(self.metrics, host, port)
        except OSError as e:
            raise SetupError("cannot serve metrics on %s:%d: %s"
                             % (host, port, e.strerror or e))

    def open_file(self):
        """Open -r FILE and build the monitor; returns the reader, its first frame (None
        for an empty file) and the iterator of the rest."""
        args, facility, iface = self.args, self.facility, self.iface
        if facility == "processes":
            raise UsageError("the process monitor (-P) finds the programs of a live "
                             "capture: not with -r")
        try:
            reader = open_capture(args.read)
        except CaptureError as e:
            raise SetupError(str(e))
        try:
            frames = reader.frames()
            try:
                first = next(frames, None)          # reads the interface blocks before it
            except CaptureError as e:
                raise SetupError(str(e))
            names = [i.name for i in reader.interfaces]
            ifindex = None
            if iface != "all" and any(names):
                if iface not in names:
                    raise SetupError("%s: no interface of that name in %s (it has: %s)"
                                     % (iface, args.read, ", ".join(n for n in names if n)))
                ifindex = names.index(iface)

            def name(index):
                return names[index] if index < len(names) else None
            options = self.options(
                name if facility is None else lambda index: name(index) or "if%d" % index)
            recorder = _recorder(args.write, None, name) if args.write else None
            match = _user_filter(args.filter, self.warn)
            if ifindex is not None:
                match = _on_interface(ifindex, match)
            self.build(options, ifindex, 1500, 14, recorder, match)
        except BaseException:
            reader.close()
            raise
        return reader, first, frames

    def open_live(self):
        """Start capturing on the run's interface (or all) and build the monitor;
        returns the capture."""
        args = self.args
        ifname = None if self.iface == "all" else self.iface
        kernel_filter = _kernel_filter(args.filter, ifname) if ifname else None
        found = interface_by_name(ifname) if ifname else None
        link_header = 14 if found is None or found.linktype == 1 else 0
        cap = self._open_kernel(ifname, link_header, kernel_filter)
        if cap is None:
            cap = _open_live(args, ifname, kernel_filter)
        try:
            options = self.options(cap.interface_name)
            recorder = None
            if args.write and self.kernel is not None:
                self.recording = self._recording(ifname, kernel_filter)
            elif args.write:
                linktype = cap.interface_linktype(cap.ifindex) if ifname else None
                recorder = _recorder(args.write, linktype, cap.interface_name)
            # every interface at once mixes link types: one kernel program cannot read
            # them all, so the filter runs here, per frame, as on a file
            match = _user_filter(args.filter, self.warn) if ifname is None else None
            self.build(options, None, _mtu(self.iface), link_header, recorder, match)
            if hasattr(self.sink, "owners"):
                # the owners of local sockets: looked up in a thread, read at snapshots
                self.owners = self.sink.owners = Owners()
            if self.facility == "general":        # every interface, as they come and go
                self.sink.follow(cap.interfaces)
            if self.kernel is not None:
                self.kernel.bind(self.sink, self.monitor)
                self.monitor.sinks.insert(0, self.kernel)
        except BaseException:
            cap.close()
            self.close_recording()
            raise
        return cap

    def _recording(self, ifname, kernel_filter):
        """-w beside the kernel's counting, which keeps most frames from the ring: a
        capture of its own (-F's classic filter on it, as the ring would have), read
        in a thread that start() starts, writing every frame to the file."""
        args = self.args
        tap = _open_live(args, ifname, kernel_filter, "ring")
        try:
            linktype = tap.interface_linktype(tap.ifindex) if ifname else None
            recorder = _recorder(args.write, linktype, tap.interface_name)
        except BaseException:
            tap.close()
            raise
        return Recording(tap, recorder)

    def start(self):
        """Start what runs beside the live capture (the -w recording's thread): after
        -B's fork, which a thread would not survive."""
        if self.recording is not None:
            self.recording.start()

    def close_recording(self):
        """Stop the -w recording's thread after its last frames, and close its capture
        and file (from every way out: more than once is harmless).  False when the
        file could not be written whole (said through ``warn``)."""
        recording = self.recording
        if recording is None:
            return True
        dropped = recording.close()
        if dropped:
            self.warn("-w %s: the kernel dropped %d frames (--ring-mb gives it more room)"
                      % (self.args.write, dropped))
        if recording.error is not None:
            error, recording.error = recording.error, None
            self.warn("-w %s: cannot write: %s" % (self.args.write,
                                                   error.strerror or error))
            return False
        return True

    def _open_kernel(self, ifname, link_header, kernel_filter):
        """--capture-mode auto or ebpf: the capture with the facility's eBPF counter as
        its filter (beginning with -F's ``kernel_filter``, translated), or None (auto,
        with a one-line notice saying why) for the ring."""
        args = self.args
        if args.capture_mode not in ("auto", "ebpf"):
            return None
        if ifname is not None and interface_by_name(ifname) is None:
            return None               # the ring's set-up says which interfaces there are
        why = _needs_frames(args, self.facility)
        if why is None and args.filter and ifname is None:
            # every interface at once mixes link types, which one classic program
            # cannot read: the filter runs here, frame by frame, so every frame must come
            why = "-F on every interface runs here, per link type, on every frame"
        if why is None and args.capture_mode == "auto" and self.facility not in \
                kernel_counters.KERNEL_FACILITIES:
            return None               # no program for it: the ring, as expected
        counter = None
        if why is None:
            try:
                counter = kernel_counters.counter_for(
                    self.facility, ifname, _mtu(self.iface), link_header,
                    self.options(None).max_entries, kernel_filter, args.snaplen)
                cap = _open_live(args, ifname, counter, mode="ring")
                self.kernel = counter
                return cap
            except kernel_counters.NotInKernel as e:
                why = str(e)
            except BpfError as e:
                why = e.strerror
            except SetupError as e:
                why = str(e)          # the attach failed
            if counter is not None:
                counter.close()
        if args.capture_mode == "ebpf":
            raise SetupError("--capture-mode ebpf: %s" % why)
        if why.endswith("needs every frame"):
            return None               # -w, --dump: the ring, as expected
        self.warn("capture mode ring, not ebpf: %s" % why)
        return None

    def between_batches(self):
        """A reopen asked for by SIGHUP or SIGUSR1 (never done inside the handler)."""
        if self.reopen:
            del self.reopen[:]
            self.logfile.reopen()

    def finish(self, now, status):
        """The last words: the final snapshot and log report, files flushed and closed."""
        if not self.close_recording():
            status = status or 1
        if self.export is not None:
            self.export.close(now)
        if self.reporter is not None:
            self.reporter.emit(now)
        if self.logger is not None:
            self.logger.close(now)
        if self.recorder is not None:
            self.recorder.close()
        if self.metrics_server is not None:
            self.metrics_server.close()
        if self.owners is not None:
            self.owners.close()
        if self.out is not None:
            self.out.flush()
        sys.stdout.flush()
        return status


class Reporter:
    """A sink that writes the facility's --json snapshot at every tick."""

    def __init__(self, monitor, facility, sink, out):
        self.monitor, self.facility, self.sink, self.out = monitor, facility, sink, out

    def __repr__(self):
        return "Reporter(%r)" % (self.facility,)

    def add(self, record):
        pass

    def feed(self, frames):
        pass

    def tick(self, now):
        self.emit(now)

    def snapshot(self):
        return {}

    def emit(self, now):
        """One snapshot, one line: its tables written row by row as they are made, so
        that a table of 100,000 connections is never held whole, as rows or as text."""
        write = self.out.write
        snapshot = self.monitor.snapshot(self.facility, self.sink, now, lazy=True)
        write("{")
        for i, (key, value) in enumerate(snapshot.items()):
            write(("%s: " if not i else ", %s: ") % json.dumps(key))
            if isinstance(value, (dict, list, str, int, float)) or value is None:
                write(json.dumps(value))
                continue
            write("[")
            for j, row in enumerate(value):
                write(json.dumps(row) if not j else ", " + json.dumps(row))
            write("]")
        write("}\n")
        self.out.flush()


def chain(first, rest, stop):
    """The frames of a file until its end or a stop signal (``stop`` turns true)."""
    yield first
    for frame in rest:
        if stop:
            return
        yield frame


def _sink(facility, options, ifindex, mtu, link_header):
    """The facility's sink; with no facility, the --dump writer."""
    if facility is None:
        return Dumper(sys.stdout, options.interface_name)
    if facility == "traffic":
        return TrafficMonitor(options)
    if facility == "general":
        return counters.GeneralStats(options)
    if facility == "detailed":
        return counters.DetailedStats(options, ifindex)
    if facility == "services":
        return counters.ServiceStats(options, ifindex)
    if facility == "sizes":
        return counters.SizeStats(options, ifindex, mtu, link_header)
    if facility == "processes":
        return ProcessMonitor(options)
    return counters.LanStats(options, ifindex)


def _mtu(iface):
    found = interface_by_name(iface) if iface != "all" else None
    return found.mtu if found is not None and found.mtu else 1500


def _user_filter(expr, warn):
    """Filter.match for frames read here (files, every interface), or None.  A frame of a
    link type the filter cannot read is reported once, through ``warn``, and not passed."""
    if expr is None:
        return None
    try:
        compiled = Filter(expr)
    except FilterError as e:
        raise UsageError(str(e))
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
    found = interface_by_name(ifname)
    if found is None:
        return None       # LiveCapture says which interfaces there are
    try:
        return compile_filter(expr, found.linktype, live=True)
    except FilterError as e:
        raise UsageError(str(e))


def _needs_frames(args, facility):
    """Why this run needs every frame here (so no kernel counting), or None."""
    if facility is None:
        return "--dump needs every frame"
    if getattr(args, "metrics", None):
        return "--metrics needs every frame"      # its interface counters count them
    if getattr(args, "bytes", None) == "ip":
        return "--bytes ip is counted from every frame here"
    if getattr(args, "v6_in_v4", None):
        return "--v6-in-v4 is counted from every frame here"
    return None


def _open_live(args, ifname, bpf=None, mode=None):
    if mode is None:
        mode = "ring" if args.capture_mode in ("auto", "ebpf") else args.capture_mode
    try:
        return LiveCapture(ifname, mode=mode, snaplen=args.snaplen,
                           promisc=args.promisc, ring_bytes=args.ring_mb << 20, bpf=bpf)
    except CaptureSetupError as e:
        raise SetupError(e.strerror)
    except OSError as e:
        raise SetupError("cannot capture on %s: %s" % (ifname or "all interfaces",
                                                       e.strerror or e))


def _recorder(path, linktype, name):
    try:
        return Recorder(path, linktype, interface_name=name)
    except OSError as e:
        raise SetupError("cannot write %s: %s" % (path, e.strerror or e))
