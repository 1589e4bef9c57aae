"""One facility at work under the screens, fed between looks at the keyboard."""
import copy
import itertools
import os
import time

from ..capture.live import InterfaceDown, InterfaceGone
from ..capture.pcap import CaptureError
from ..output.logs import LogError, open_log
from ..run.monitor import wall_clock_ns
from ..run.runner import Run, chain

__all__ = ["Session", "filter_text"]

_FILE_SLICE = 4096              # frames fed between two looks at the keyboard
_FILE_BUDGET = 0.05             # seconds of file reading between two looks


def _combined_filter(*exprs):
    """The command line's filter and the saved one, both applied."""
    exprs = [e for e in exprs if e]
    if len(exprs) < 2:
        return exprs[0] if exprs else None
    return " and ".join("(%s)" % e for e in exprs)


def filter_text(given, saved):
    """What the status line says of the filters at work: -F's and the saved one."""
    if given and saved:
        return "Filter: %s, and saved: %s" % (given, saved)
    if saved:
        return "Filter (saved): " + saved
    return "Filter: " + given if given else None


class Session:
    """One facility at work under the screens: a run (as headless runs have it) fed
    from a file, in slices between looks at the keyboard, or from a live capture."""

    def __init__(self, app, facility, iface):
        settings = app.settings
        args = copy.copy(app.args)
        if args.interval is None:
            args.interval = settings.update_interval
        if args.log_interval is None:
            args.log_interval = settings.log_interval * 60.0
        if args.bytes is None:
            args.bytes = settings.bytes
        if args.v6_in_v4 is None:
            args.v6_in_v4 = settings.v6_in_v4
        args.promisc = args.promisc or settings.promiscuous
        saved = settings.filter_expression()
        args.filter = _combined_filter(app.args.filter, saved)
        self.filter_text = filter_text(app.args.filter, saved)
        self.facility, self.iface = facility, iface
        self.note = None                # the latest warning, for the status line
        self.log_path = None            # the log file, for the status line
        logfile = None
        if args.log is not None or settings.logging:
            try:
                logfile = open_log(args.log or "", facility, iface, args.log_format)
                self.log_path = logfile.path
            except LogError as e:
                self.warn("not logging: %s" % e)
        self.run = Run(args, facility, iface, None, logfile, [], [], self.warn,
                       tuning={"idle_timeout": settings.tcp_timeout * 60.0,
                               "closed_lifetime": float(settings.closed_lifetime),
                               "detection": settings.detection(),
                               "rate_window": settings.rate_window})
        self.cap = self.reader = self.frames = None
        self.first_ts = None
        self.ended = self.down = False
        try:
            if args.read:
                self.reader, first, frames = self.run.open_file()
                if first is not None:
                    self.first_ts = first[0]
                    self.frames = chain(first, frames, ())
                else:
                    self.ended = True
            else:
                self.cap = self.run.open_live()
                self.run.start()
        except BaseException:
            if self.cap is not None:
                self.cap.close()
                self.run.close_recording()
            if logfile is not None:
                logfile.close()
            raise
        self.sink = self.run.sink
        self.monitor = self.run.monitor
        self.started = time.monotonic()

    def __repr__(self):
        return "Session(%r, %r)" % (self.facility, self.iface)

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
        try:
            frames = self.cap.read()
        except InterfaceGone as e:
            self.warn(e.strerror)
            self.monitor.dropped = self.cap.stats()["dropped"]
            self.cap.close()
            self.cap = None
            return
        except InterfaceDown as e:
            self.warn("%s; waiting for it to come back" % e.strerror)
            self.down = True
            return
        if self.down and not self.cap.down:     # the note stays until then
            self.down = False
            self.warn("%s: back up" % self.iface)
        self.monitor.dropped = self.cap.stats()["dropped"]
        if frames:
            self.monitor.feed(frames)

    def _pump_file(self):
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
            self.monitor.idle(wall_clock_ns())
            if self.run.recorder is not None:
                self.run.recorder.flush()

    def now(self):
        if self.run.args.read:
            return self.monitor.last_ts
        return wall_clock_ns()

    def snapshot(self, **page):
        """The facility's snapshot, or the page of it a view asks for, and its time."""
        snap = self.sink.snapshot(**page)
        now = self.now()
        snap["ts"] = None if now is None else now / 1e9
        return snap

    def elapsed(self):
        """Seconds monitored: wall time live, the packets' span in a file."""
        if not self.run.args.read:
            return time.monotonic() - self.started
        if self.first_ts is None or self.monitor.last_ts is None:
            return 0
        return (self.monitor.last_ts - self.first_ts) / 1e9

    def state(self):
        """What the title bar says of the source (and of the bytes, when they are IP
        packets' rather than frames')."""
        counted = "IP bytes | " if self.run.args.bytes == "ip" else ""
        if self.run.args.read:
            name = os.path.basename(self.run.args.read)
            return "%s%s (%s)" % (counted, name, "end of file" if self.ended else "reading")
        return counted + (self.iface if self.iface != "all" else "all interfaces")

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
            now = wall_clock_ns()
        self.run.finish(now, 0)
