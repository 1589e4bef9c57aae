"""Headless runs: ``--json``, ``--dump``, ``-L`` and ``-B`` without the screens.

A file is read to its end; a live capture is pumped until a signal, ``-t``, or the
interface is deleted.  SIGINT, SIGTERM and SIGUSR2 end the run with one last snapshot
and log report; SIGHUP and SIGUSR1 reopen the log (between batches, never inside the
handler).  A reader of our output that goes away (``| head``) ends the run quietly.
"""
import os
import signal
import sys
import time

from ..capture.live import InterfaceDown, InterfaceGone
from ..capture.pcap import CaptureError
from ..output.logs import LogError, open_log
from .daemon import detach, remove
from .monitor import wall_clock_ns
from .runner import Run, SetupError, chain
from .settings import Settings, default_path

__all__ = ["run"]


def run(args, facility, iface, warn):
    """One monitor over a file or a live capture, with the facility's sink (or the
    --dump writer, for no facility), the -w recorder and, for --json, the reporter;
    returns the exit status.  ``warn(text)`` tells the user of trouble on the way."""
    stop, reopen = [], []
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2):
        signal.signal(signum, lambda *_: stop.append(True))
    out = None
    if args.json:
        out = sys.stdout if args.json == "-" else _open_output(args.json)
    logfile = None
    if facility is not None and args.log is not None:
        try:
            logfile = open_log(args.log, facility, iface, args.log_format)
        except LogError as e:
            raise SetupError(str(e))
        for signum in (signal.SIGHUP, signal.SIGUSR1):
            signal.signal(signum, lambda *_: reopen.append(True))
    tuning = None
    if facility == "traffic":
        # the attack thresholds of the settings file, as the screens have them
        settings = Settings.load(args.config or default_path())
        for problem in settings.problems:
            warn("settings: %s (the default kept)" % problem)
        tuning = {"detection": settings.detection()}
    this = Run(args, facility, iface, out, logfile, stop, reopen, warn, tuning)
    try:
        if args.read:
            return _run_file(this)
        return _run_live(this)
    except BrokenPipeError:
        # the reader of our output went away (| head): stop quietly, as cat does
        _silence_stdout()
        return 0


def _run_file(run):
    reader, first, frames = run.open_file()
    with reader:
        status = 0
        try:
            if first is not None:
                run.monitor.feed(chain(first, frames, run.stop))
        except CaptureError as e:
            sys.stdout.flush()
            run.warn(str(e))
            status = 1
        run.monitor.finish()
        return run.finish(run.monitor.last_ts, status)


def _run_live(run):
    args = run.args
    cap = run.open_live()
    pid_file = None
    try:
        if run.reporter is not None:
            run.monitor.sinks.append(run.reporter)
        if args.background:
            pid_file = detach(args.pid_file or "/run/iptraf-%s-%s.pid"
                              % (run.facility, run.iface))
        run.start()
        flushes = [sys.stdout.flush] + ([run.recorder.flush] if run.recorder else [])
        status = _pump(cap, run, flushes)
        run.monitor.dropped = cap.stats()["dropped"]
    except BaseException:
        run.close_recording()        # finish() does it on the way out that has one
        raise
    finally:
        cap.close()
    now = wall_clock_ns()
    run.monitor.idle(now)
    if run.reporter is None and run.monitor.dropped and not args.background:
        run.warn("the kernel dropped %d frames" % run.monitor.dropped)
    status = run.finish(now, status)
    if pid_file is not None:
        remove(pid_file)
    return status


def _pump(cap, run, flushes):
    """Feed live frames to the monitor until a signal, the timeout, or the interface is
    deleted (1, reported); an interface that goes down is reported once and waited for."""
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
        if down and not cap.down:
            down = False
            run.warn("%s: back up" % run.iface)
        monitor.dropped = cap.stats()["dropped"]
        monitor.feed(frames)
        monitor.idle(wall_clock_ns())
        if frames:
            for flush in flushes:
                flush()
    return 0


def _open_output(path):
    try:
        return open(path, "w")
    except OSError as e:
        raise SetupError("cannot write %s: %s" % (path, e.strerror or e))


def _silence_stdout():
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
