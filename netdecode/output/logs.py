"""Logs (-L): the IP traffic monitor's events, and reports from the other facilities.

Two kinds of logger, both sinks (see ``monitor``), each writing to one ``LogFile``:

* ``TrafficLog`` follows a ``flows.TrafficMonitor`` and logs what iptraf logs, in its
  words: a TCP connection first seen, a FIN sent (with that direction's packets, bytes
  and average rate), the FIN acknowledged, a reset, an idle timeout, the connections
  still active at exit, and one line per other packet (UDP, ICMP, ARP, ...), the text
  of the monitor's own other-traffic log.
* ``ReportLog`` writes a report of another facility (-g -d -s -z -l) at every logging
  interval and at exit: the running time, the totals, the average rates over the
  running time and the current rates.

Every line starts with its time in ISO 8601 with the local time zone
(``2026-11-24T15:33:19.123456+00:00``); ``--log-format json`` writes one JSON object per
line instead (``{"time": ..., "ts": seconds, "event": ...}``) with the same facts.

Time: the packets' own timestamps and the ``now`` given to ``tick``/``close``; nothing
here reads the clock.  The running time is ``now`` minus the time logging started (the
first packet or the first tick), and every average rate is over that running time (or,
for a TCP direction, over the connection's first to latest packet): one clock, so the
figures are right, where iptraf-ng divides counts taken on one clock by times taken on
another.

Files are opened ``O_APPEND | O_NOFOLLOW`` and created 0640 in a 0750 directory; a log
that cannot be written does not stop monitoring: the first write error is reported once
(``on_error``), and when writing works again a line says how many lines were lost.
``LogFile.reopen()`` (on SIGHUP/SIGUSR1, from the main loop) follows logrotate.
Text lines escape every non-printable character (``\\x1b``); names from the network
or from a capture file cannot reach a terminal that reads the log.

Left out: iptraf's reverse name lookups and service names in log lines (addresses and
port numbers only), and its per-line MAC addresses.
"""
import errno
import fcntl
import itertools
import json
import os
import stat
import sys
import time

from ..accounting.flows import (
    A_IS_LO, CLOSED, DONE, RESET, alert_json, endpoint_text, last_seen, log_entry_json,
)
from ..decoding.packet import LEN, PROTO, TCP_FLAGS, TS, TUNNEL

__all__ = [
    "DEFAULT_LOG_DIR", "FACILITIES", "LogError", "LogFile", "ReportLog", "TrafficLog",
    "default_log_name", "iso_time", "log_dir", "log_path", "open_log", "running_time_text",
]

DEFAULT_LOG_DIR = "/var/log/iptraf"

# facility -> (title in log lines, default file name as iptraf-ng has it: {iface} is the
# interface, {n} the instance number)
FACILITIES = {
    "traffic": ("IP traffic monitor", "ip_traffic-{n}.log"),
    "general": ("general interface statistics", "iface_stats_general.log"),
    "detailed": ("detailed interface statistics", "iface_stats_detailed-{iface}.log"),
    "services": ("TCP/UDP service monitor", "tcp_udp_services-{iface}.log"),
    "sizes": ("packet size breakdown", "packet_size-{iface}.log"),
    "lan": ("LAN station monitor", "lan_statistics-{n}.log"),
    "processes": ("process monitor", "processes-{iface}.log"),
}

_OPEN_FLAGS = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
               | os.O_NONBLOCK)
_NS = 1000000000


class LogError(OSError):
    """A log directory or file that cannot be used; ``str()`` is one line saying which,
    why, and what to do."""

    def __init__(self, err, message, filename=None):
        OSError.__init__(self, err, message, filename)

    def __str__(self):
        return self.strerror


# --- time --------------------------------------------------------------------------

def _second_text(sec):
    """('2026-11-24T15:33:19', '+00:00') for a second since the epoch, local time."""
    tm = time.localtime(sec)
    off = tm.tm_gmtoff
    sign = "-" if off < 0 else "+"
    off = abs(off)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", tm),
            "%s%02d:%02d" % (sign, off // 3600, off // 60 % 60))


def iso_time(ts_ns):
    """'2026-11-24T15:33:19.123456+00:00': ns since the epoch, local time with its zone."""
    sec, ns = divmod(ts_ns, _NS)
    day, zone = _second_text(sec)
    return "%s.%06d%s" % (day, ns // 1000, zone)


def running_time_text(ns):
    """'1h 02m 03s' for a duration in nanoseconds (whole seconds, rounded down)."""
    s = max(0, ns) // _NS
    return "%dh %02dm %02ds" % (s // 3600, s // 60 % 60, s % 60)


def _seconds(ns):
    return None if ns is None else round(ns / 1e9, 6)


def _printable(text):
    """``text`` with every non-printable character escaped, as Python writes it."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append("\\x%02x" % code if code < 0x100 else
                       "\\u%04x" % code if code < 0x10000 else "\\U%08x" % code)
    return "".join(out)


# --- files and names ------------------------------------------------------------------

def default_log_name(facility, iface, instance=1):
    """The file name iptraf-ng gives the facility's log: 'ip_traffic-1.log',
    'iface_stats_general.log', 'iface_stats_detailed-eth0.log', 'tcp_udp_services-eth0.log',
    'packet_size-eth0.log', 'lan_statistics-1.log'."""
    try:
        template = FACILITIES[facility][1]
    except KeyError:
        raise ValueError("no log for facility %r (one of %s)"
                         % (facility, ", ".join(sorted(FACILITIES))))
    name = "".join(c if c.isalnum() or c in "._-@+:" else "_" for c in (iface or "all"))
    return template.format(iface=name, n=instance)


def log_path(arg, facility, iface, directory=None):
    """Where -L ARG writes: ARG itself when it holds a slash, else ARG in the log
    directory; no ARG (None or ''): the facility's default name in the log directory."""
    if arg and "/" in arg:
        return arg
    return os.path.join(directory or DEFAULT_LOG_DIR,
                        arg or default_log_name(facility, iface))


def log_dir(path=None):
    """Make sure the log directory (``/var/log/iptraf`` unless given) exists, created
    0750 if missing, is a real directory (not a symbolic link) and is writable; returns
    its path.  Raises LogError with a one-line message otherwise."""
    path = path or DEFAULT_LOG_DIR
    if len(path) > 1:
        path = path.rstrip("/") or "/"     # 'dir/' would let lstat follow a link
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        try:
            os.makedirs(path, 0o750)
        except FileExistsError:
            pass                           # made meanwhile: checked below
        except OSError as e:
            raise LogError(e.errno, "%s: cannot create the log directory: %s (create it, "
                           "or give -L a path in a writable directory)"
                           % (path, e.strerror), path)
        st = os.lstat(path)
    except OSError as e:                   # a file on the way, a directory we cannot search
        raise LogError(e.errno, "%s: cannot create or use the log directory: %s (give -L a "
                       "path in a writable directory)" % (path, e.strerror), path)
    if stat.S_ISLNK(st.st_mode):
        raise LogError(errno.ELOOP, "%s: the log directory is a symbolic link, which logs "
                       "do not follow (make it a real directory, or give -L a path)"
                       % path, path)
    if not stat.S_ISDIR(st.st_mode):
        raise LogError(errno.ENOTDIR, "%s: not a directory, so it cannot hold the logs "
                       "(remove it, or give -L a path)" % path, path)
    if not os.access(path, os.W_OK | os.X_OK):
        raise LogError(errno.EACCES, "%s: the log directory is not writable (run as root, "
                       "or give -L a path in a writable directory)" % path, path)
    return path


def _open_message(path, e):
    if e.errno == errno.ELOOP:
        return ("%s is a symbolic link, which logs do not follow (remove it, or give -L "
                "another file)" % path)
    if e.errno in (errno.EACCES, errno.EPERM):
        return ("%s: permission denied (run as root, or give -L a file in a writable "
                "directory)" % path)
    if e.errno == errno.ENOENT:
        return "%s: no such directory (create it, or give -L another path)" % path
    if e.errno == errno.EISDIR:
        return "%s is a directory (give -L a file name)" % path
    if e.errno == errno.ENXIO:
        return "%s: a FIFO that nobody reads (start its reader first)" % path
    return "cannot open the log %s: %s" % (path, e.strerror)


def _open_log(path):
    """A descriptor appending to ``path``: created 0640 (less with a stricter umask),
    never through a symbolic link, not inherited by children."""
    try:
        fd = os.open(path, _OPEN_FLAGS, 0o640)
    except OSError as e:
        raise LogError(e.errno, _open_message(path, e), path)
    try:
        # O_NONBLOCK only kept open() from hanging on a FIFO with no reader
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except OSError as e:
        os.close(fd)
        raise LogError(e.errno, "cannot open the log %s: %s" % (path, e.strerror), path)
    return fd


def _stderr_error(message):
    sys.stderr.write("iptraf.py: %s\n" % message)
    sys.stderr.flush()


class LogFile:
    """One log file, appended a line at a time (one write per line or report block,
    nothing kept in a buffer, so nothing is lost at exit or rotation).

    ``fmt`` is "text" (``ISO-TIME text``) or "json" (one object per line).  Write errors
    (a full disk, a revoked permission) never raise: the first is passed to
    ``on_error(message)`` (default: one line on stderr), later ones are silent and only
    counted in ``lost``, until a write works again; then a line says how many lines were
    lost, and the next error is reported again.
    """

    def __init__(self, path, fmt="text", on_error=None):
        if fmt not in ("text", "json"):
            raise ValueError("log format %r: text or json" % (fmt,))
        self.path = path
        self.fmt = fmt
        self.on_error = on_error or _stderr_error
        self.lost = 0               # lines lost to write errors, in all
        self._missing = 0           # lines lost since writing last worked
        self._error = None          # the error that started the losses
        self._partial = False       # a write cut short left a line without its end
        self._sec = None            # the second whose text is cached
        self._day = self._zone = ""
        self._fd = _open_log(path)

    def __repr__(self):
        return "LogFile(%r, %r)" % (self.path, self.fmt)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def closed(self):
        return self._fd is None

    def stamp(self, ts_ns):
        """iso_time(ts_ns), cached per second (the zone offset changes on whole seconds)."""
        sec, ns = divmod(ts_ns, _NS)
        if sec != self._sec:
            self._day, self._zone = _second_text(sec)
            self._sec = sec
        return "%s.%06d%s" % (self._day, ns // 1000, self._zone)

    def _json_line(self, ts_ns, fields):
        out = {"time": self.stamp(ts_ns), "ts": _seconds(ts_ns)}
        out.update(fields)
        return json.dumps(out) + "\n"

    def write_line(self, ts_ns, text, fields=None):
        """Log one event at ``ts_ns``: ``text`` in the text format, ``fields`` (a dict;
        None: {"text": text}) in the JSON format.  True when it was written."""
        if self.fmt == "text":
            line = "%s %s\n" % (self.stamp(ts_ns), _printable(text))
        else:
            line = self._json_line(ts_ns, {"text": text} if fields is None else fields)
        return self._emit(ts_ns, line)

    def write_block(self, ts_ns, texts, fields=None):
        """Several lines at once (a report): in the text format each of ``texts`` with
        the time in front, in the JSON format one object of ``fields``; one write."""
        if self.fmt == "text":
            stamp = self.stamp(ts_ns)
            data = "".join("%s %s\n" % (stamp, _printable(t)) for t in texts)
        else:
            data = self._json_line(ts_ns, {"text": "\n".join(texts)} if fields is None
                                   else fields)
        return self._emit(ts_ns, data)

    def _emit(self, ts_ns, data):
        if self._fd is None:
            return False
        lines = data.count("\n")       # a JSON object is one line: json.dumps escapes "\n"
        if self._missing:
            lost = self._missing
            text = "%d log lines lost: %s" % (lost, self._error)
            if self.fmt == "text":
                note = "%s %s\n" % (self.stamp(ts_ns), text)
            else:
                note = self._json_line(ts_ns, {"event": "lost", "lines": lost,
                                               "error": self._error})
            data = note + data
        if self._partial:
            data = "\n" + data
        if self._write(data.encode("utf-8", "backslashreplace")):
            self._missing = 0
            self._error = None
            return True
        self.lost += lines
        self._missing += lines
        return False

    def _write(self, data):
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as e:
            self._partial = len(view) < len(data)
            if not self._missing:
                self._error = e.strerror or str(e)
                self.on_error("cannot write the log %s: %s; monitoring goes on, and lines "
                              "are lost until it can be written" % (self.path, self._error))
            return False
        self._partial = False
        return True

    def reopen(self):
        """Open the path again (after logrotate moved the file away) and write there
        from now on; the old file keeps what was written before.  Call it from the main
        loop when a signal handler has set a flag, not in the handler.  When the path
        cannot be opened, the error goes to on_error and the old file stays in use;
        returns whether the log was reopened."""
        if self._fd is None:
            return False
        try:
            fd = _open_log(self.path)
        except LogError as e:
            self.on_error("cannot reopen the log: %s; still writing to the file it was" % e)
            return False
        old, self._fd = self._fd, fd
        self._partial = False
        os.close(old)
        return True

    def close(self):
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def open_log(arg, facility, iface, fmt="text", on_error=None, directory=None):
    """The LogFile for -L ARG (None or '' for the default name): the log directory is
    checked (and made) first when the file goes there.  Raises LogError."""
    path = log_path(arg, facility, iface, directory)
    if not (arg and "/" in arg):
        log_dir(directory)
    return LogFile(path, fmt, on_error)


def _label(iface):
    return "all interfaces" if iface in (None, "all") else iface


# --- the IP traffic monitor's events -----------------------------------------------------

def _span(conn):
    """The connection's first to latest packet, in ns; None when no time has passed."""
    first, last = conn.first, last_seen(conn)
    if first is None or last is None or last <= first:
        return None
    return last - first


def _flow_text(half, span):
    packets, nbytes = (half.packets, half.bytes) if half is not None else (0, 0)
    if span is None:
        return "%d packets, %d bytes, avg flow rate n/a" % (packets, nbytes)
    return "%d packets, %d bytes, avg flow rate %.2f kbps" % (   # as iptraf-ng logs it
        packets, nbytes, nbytes * 8e6 / span)


def _flow_json(half, span):
    packets, nbytes = (half.packets, half.bytes) if half is not None else (0, 0)
    avg = None if span is None else {"bytes_per_s": round(nbytes * 1e9 / span, 3),
                                     "bits_per_s": round(nbytes * 8e9 / span, 3)}
    return {"packets": packets, "bytes": nbytes, "avg": avg}


class TrafficLog:
    """The IP traffic monitor's log, as a sink placed after its ``TrafficMonitor`` in the
    same Monitor: it sees each record once the monitor's tables hold it.

    Text lines, after the time (iptraf's wording; ``A`` sent the connection's first
    packet seen, rates are bytes over the connection's first to latest packet)::

      TCP; eth0; 74 bytes; from A to B; first packet (SYN)
      TCP; eth0; 66 bytes; from A to B; FIN sent; <this way>
      TCP; eth0; 66 bytes; from B to A; FIN acknowledged
      TCP; eth0; 54 bytes; from B to A; Connection reset; <this way>; opposite direction <other>
      TCP; eth0; from A to B; idle timeout, no packets for 900 s; <ab>; opposite direction <ba>
      TCP; eth0; from A to B; active; <ab>; opposite direction <ba>
      UDP; eth0; 76 bytes; from 10.0.0.1:5353 to 10.0.0.2:53
      ICMP; eth0; 70 bytes; from 10.0.0.2 to 10.0.0.1; dest unreachable (port)
      ALERT; syn-flood; started; dst 10.0.0.2; port 80; count 2000; sources 1984
      ALERT; syn-flood; ended; dst 10.0.0.2; port 80; count 20000; sources 19511
      ALERT; arp-changed-mac; ip 10.0.0.5; mac 02:00:00:00:00:0b; old_mac 02:00:00:00:00:0a

    where a direction (``<ab>`` is A to B) is ``N packets, M bytes, avg flow rate R
    bytes/s`` (``n/a`` when no time has passed); the ``active`` lines are written at
    ``close``.  An attack alert (``detect``) has a line when it starts and one when it
    ends, an ARP event one line.  JSON: ``event`` tcp_first, tcp_fin, tcp_fin_ack,
    tcp_reset, tcp_idle, tcp_active, other (the monitor's other-traffic entry), alert
    (the snapshot's alert object, ``state`` active when it starts), start, stop.
    """

    def __init__(self, monitor, logfile, iface=None):
        self.monitor = monitor
        self.logfile = logfile
        self.iface = iface
        self.start = None            # when logging started: the first packet or tick
        self.now = None              # the latest tick
        self._json = logfile.fmt == "json"
        self._tcp = monitor.tcp
        self._name = monitor.options.interface_name
        self._last_entry = None      # the monitor's latest other-traffic entry, logged
        # connection key -> (connection, both halves' states packed a | b << 2): kept
        # only for connections with a FIN or RST, so that each change is logged once
        self._states = {}
        self._idle = {}              # key -> (connection, its last packet) logged idle
        self._cap = 2 * max(1, monitor.options.max_entries) + 1024
        monitor.detector.events = []  # the alerts' starts and ends, drained at each tick

    def __repr__(self):
        return "TrafficLog(%r)" % (self.logfile,)

    # the per-packet path: no formatting unless something is logged

    def add(self, r):
        if self.start is None:
            self._begin(r[TS])
        flags = r[TCP_FLAGS]
        if r[PROTO] != 6 or flags is None or r[TUNNEL] is not None:
            log = self.monitor.log
            if log and log[-1] is not self._last_entry:
                self._last_entry = log[-1]
                self._other(log[-1])
            if self.monitor.detector.events:
                self._alerts()              # an ARP event, right after its packet's line
            return
        key, conn, half = self.monitor.touched     # what the monitor just counted
        other = conn.b if half is conn else conn
        if half is conn and conn.packets == 1 and not flags & 0x04:
            self._packet_event(key, conn, half, r, "tcp_first", "first packet (SYN)"
                               if flags & 0x02 else "first packet", {"syn": bool(flags & 2)})
        # only a FIN or RST changes the sender's state, only an ACK the other's to CLOSED
        if flags & 0x05 or (flags & 0x10 and other is not None and other.state == CLOSED):
            self._changes(key, conn, half, r)

    def _changes(self, key, conn, half, r):
        b = conn.b
        a_state = conn.state
        b_state = b.state if b is not None else 0
        cur = a_state | b_state << 2
        kept = self._states.get(key)
        prev = kept[1] if kept is not None and kept[0] is conn else 0
        if cur == prev:
            return
        self._states[key] = (conn, cur)
        if len(self._states) > self._cap:
            _prune(self._states, self._tcp)
        if a_state != prev & 3:
            self._state_event(key, conn, conn, a_state, half, r)
        if b_state != prev >> 2:
            self._state_event(key, conn, b, b_state, half, r)

    def _state_event(self, key, conn, changed, state, half, r):
        span = _span(conn)
        other = conn.b if changed is conn else conn
        if state == RESET:
            self._packet_event(key, conn, half, r, "tcp_reset", "Connection reset; %s; "
                               "opposite direction %s" % (_flow_text(changed, span),
                                                          _flow_text(other, span)),
                               {"flow": _flow_json(changed, span),
                                "opposite": _flow_json(other, span)})
        elif state == DONE:
            self._packet_event(key, conn, half, r, "tcp_fin",
                               "FIN sent; %s" % _flow_text(changed, span),
                               {"flow": _flow_json(changed, span)})
        elif state == CLOSED:
            # logged with the packet that acknowledged the FIN, from the side that sent it
            self._packet_event(key, conn, half, r, "tcp_fin_ack", "FIN acknowledged", {})

    def _ends(self, key, conn):
        """(interface name, a's endpoint, b's endpoint) from a connection's key."""
        lo_addr, hi_addr, ports = key
        lo = endpoint_text(lo_addr, ports >> 16 & 0xFFFF)
        hi = endpoint_text(hi_addr, ports & 0xFFFF)
        a, b = (lo, hi) if conn.marks & A_IS_LO else (hi, lo)
        return self._name(ports >> 32), a, b

    def _packet_event(self, key, conn, half, r, event, message, fields):
        iface, a, b = self._ends(key, conn)
        src, dst = (a, b) if half is conn else (b, a)
        ts = self._ts(r[TS])
        size = r[LEN]
        if self._json:
            out = {"event": event, "iface": iface, "bytes": size, "src": src, "dst": dst}
            out.update(fields)
            self.logfile.write_line(ts, None, out)
        else:
            self.logfile.write_line(ts, "TCP; %s; %d bytes; from %s to %s; %s"
                                    % (iface, size, src, dst, message))

    def _conn_event(self, ts, key, conn, event, message, fields):
        """An event of a whole connection (idle, active), not of one packet."""
        iface, a, b = self._ends(key, conn)
        span = _span(conn)
        if self._json:
            out = {"event": event, "iface": iface, "src": a, "dst": b}
            out.update(fields)
            out["flow"] = _flow_json(conn, span)
            out["opposite"] = _flow_json(conn.b, span)
            self.logfile.write_line(ts, None, out)
        else:
            self.logfile.write_line(ts, "TCP; %s; from %s to %s; %s; %s; opposite direction %s"
                                    % (iface, a, b, message, _flow_text(conn, span),
                                       _flow_text(conn.b, span)))

    def _other(self, entry):
        o = log_entry_json(entry, self._name)
        ts = self._ts(entry[0])
        if self._json:
            del o["ts"]
            out = {"event": "other"}
            out.update(o)
            self.logfile.write_line(ts, None, out)
            return
        parts = [o["proto"], o["iface"], "%d bytes" % o["bytes"]]
        src, dst = o.get("src"), o.get("dst")
        if src is not None or dst is not None:
            parts.append("from %s to %s" % (src or "?", dst or "?"))
        if o["text"] != o["proto"]:
            parts.append(o["text"])
        inner = o.get("inner")
        if inner is not None:
            parts.append("inner %s from %s to %s" % (inner["proto"], inner["src"], inner["dst"]))
        self.logfile.write_line(ts, "; ".join(parts))

    def _ts(self, ts):
        """A record's time; a frame without one (pcapng SPB) takes the latest known."""
        if ts is not None:
            return ts
        return self.now if self.now is not None else (self.start or 0)

    def _begin(self, ts):
        if ts is None:
            return
        self.start = ts
        title = "IP traffic monitor on %s" % _label(self.iface)
        self.logfile.write_line(ts, "%s: logging started" % title, {
            "event": "start", "facility": "traffic", "iface": self.iface})

    # time

    def tick(self, now):
        """Log the connections that went idle (no packet for options.idle_timeout) since
        they were last logged idle; forget the connections the monitor has removed."""
        if self.start is None:
            self._begin(now)
        self.now = now
        idle_ns = int(self.monitor.options.idle_timeout * 1e9)
        seen = self._idle
        # with flows.TrafficMonitor.expired (the connections its last tick removed), the
        # ones that went idle and were removed in one tick (a gap in a capture file
        # longer than the closed lifetime) are logged too
        expired = self.monitor.expired
        for key, conn in itertools.chain(expired, self._tcp.items()):
            last = last_seen(conn)
            if conn.ended is None and last is not None and now - last >= idle_ns:
                kept = seen.get(key)
                if kept is None or kept[0] is not conn or kept[1] != last:
                    seen[key] = (conn, last)
                    self._conn_event(now, key, conn, "tcp_idle",
                                     "idle timeout, no packets for %d s" % ((now - last) // _NS),
                                     {"idle_s": _seconds(now - last)})
        _prune(seen, self._tcp)
        _prune(self._states, self._tcp)
        self._alerts()

    def _alerts(self):
        """A line for each alert that started or ended since the last tick."""
        for ts, what, alert in self.monitor.detector.drain():
            out = alert_json(alert)
            if what == "start" and not alert.kind.startswith("arp-"):
                out["state"] = "active"
            if self._json:
                line = {"event": "alert"}
                line.update(out)
                self.logfile.write_line(self._ts(ts), None, line)
                continue
            parts = ["ALERT", out["kind"]]
            if not alert.kind.startswith("arp-"):
                parts.append("started" if what == "start" else "ended")
            parts += ["%s %s" % (key, out[key]) for key in (
                "src", "dst", "port", "ip", "mac", "old_mac", "count", "sources")
                if key in out and not (key == "count" and alert.kind.startswith("arp-"))]
            self.logfile.write_line(self._ts(ts), "; ".join(parts))

    def snapshot(self):
        return {}

    def close(self, now=None):
        """At exit: log the connections still active (not closed, reset or idle) and a
        closing line with the running time at ``now``, then close the log file."""
        if now is None:
            now = self.now
        if now is not None and not self.logfile.closed:
            if self.start is None:
                self._begin(now)
            idle_ns = int(self.monitor.options.idle_timeout * 1e9)
            conns = sorted(self._tcp.items(), key=lambda item: (item[1].first or 0))
            for key, conn in conns:
                if conn.ended is None and not now - (last_seen(conn) or now) >= idle_ns:
                    self._conn_event(now, key, conn, "tcp_active", "active", {})
            self._alerts()
            running = max(0, now - self.start)
            self.logfile.write_line(now, "IP traffic monitor on %s: logging stopped; running "
                                    "time: %s" % (_label(self.iface), running_time_text(running)),
                                    {"event": "stop", "facility": "traffic",
                                     "iface": self.iface, "running_time": _seconds(running)})
        self.logfile.close()


def _prune(kept, table):
    """Forget what was kept for connections no longer in the monitor's table."""
    get = table.get
    for key in [k for k, v in kept.items() if get(k) is not v[0]]:
        del kept[key]


# --- the other facilities' reports --------------------------------------------------------

def _avg(nbytes, packets, span):
    """(bits/s, bytes/s, packets/s) over ``span`` ns; None when no time has passed."""
    if not span or span <= 0:
        return None
    return nbytes * 8e9 / span, nbytes * 1e9 / span, packets * 1e9 / span


def _avg_text(avg):
    if avg is None:
        return "avg n/a"
    return "avg %.2f bits/s (%.2f bytes/s), %.2f packets/s" % avg


def _avg_json(avg):
    if avg is None:
        return None
    return {"bits_per_s": round(avg[0], 3), "bytes_per_s": round(avg[1], 3),
            "packets_per_s": round(avg[2], 3)}


def _rate_text(label, rate):
    return "%s %.2f bits/s, %.2f packets/s" % (label, rate["bps"], rate["pps"])


def _rate_json(rate):
    return {"bits_per_s": rate["bps"], "packets_per_s": rate["pps"]}


def _pair_text(pair):
    return "%d packets, %d bytes" % (pair["packets"], pair["bytes"])


def _pair(pair):
    return {"packets": pair["packets"], "bytes": pair["bytes"]}


def _evicted(snap, lines):
    evicted = snap.get("evicted", 0)
    if evicted:
        lines.append("entries evicted (table full): %d" % evicted)
    return evicted


def _report_general(snap, span):
    lines, rows = [], []
    for row in snap["interfaces"]:
        name = row["iface"] if row["iface"] is not None else "?"
        total = row["total"]
        avg = _avg(total["bytes"], total["packets"], span)
        lines.append("%s: total %s; IPv4 %s; IPv6 %s; non-IP %s; bad IP %s; %s; %s; %s" % (
            name, _pair_text(total), _pair_text(row["ipv4"]), _pair_text(row["ipv6"]),
            _pair_text(row["nonip"]), _pair_text(row["badip"]), _avg_text(avg),
            _rate_text("current", row["rate"]), _rate_text("peak", row["peak"])))
        rows.append({"iface": row["iface"], "total": _pair(total),
                     "ipv4": _pair(row["ipv4"]), "ipv6": _pair(row["ipv6"]),
                     "nonip": _pair(row["nonip"]), "badip": _pair(row["badip"]),
                     "avg": _avg_json(avg), "current": _rate_json(row["rate"]),
                     "peak": _rate_json(row["peak"])})
    return lines, {"interfaces": rows, "evicted": _evicted(snap, lines)}


_DETAILED_ROWS = (("total", "total"), ("ipv4", "IPv4"), ("ipv6", "IPv6"),
                  ("nonip", "non-IP"), ("tcp", "TCP"), ("udp", "UDP"), ("icmp", "ICMP"),
                  ("icmpv6", "ICMPv6"), ("other_ip", "other IP"),
                  ("broadcast", "broadcast"), ("multicast", "multicast"), ("badip", "bad IP"))


def _report_detailed(snap, span):
    lines = []
    counts = snap["counts"]
    for key, label in _DETAILED_ROWS:
        row = counts[key]
        lines.append("%s: %s; in %s; out %s" % (label, _pair_text(row), _pair_text(row["in"]),
                                                 _pair_text(row["out"])))
    lines.append("IP checksum errors: %d" % snap["ip_checksum_errors"])
    total = counts["total"]
    avgs = {"total": _avg(total["bytes"], total["packets"], span),
            "in": _avg(total["in"]["bytes"], total["in"]["packets"], span),
            "out": _avg(total["out"]["bytes"], total["out"]["packets"], span)}
    for way in ("total", "in", "out"):
        lines.append("%s rates: %s; %s; %s" % (way, _avg_text(avgs[way]),
                                              _rate_text("current", snap["rate"][way]),
                                              _rate_text("peak", snap["peak"][way])))
    fields = {"counts": {key: {"packets": counts[key]["packets"],
                               "bytes": counts[key]["bytes"],
                               "in": _pair(counts[key]["in"]), "out": _pair(counts[key]["out"])}
                         for key, _ in _DETAILED_ROWS},
              "ip_checksum_errors": snap["ip_checksum_errors"],
              "avg": {way: _avg_json(avgs[way]) for way in ("total", "in", "out")},
              "current": {way: _rate_json(snap["rate"][way]) for way in ("total", "in", "out")},
              "peak": {way: _rate_json(snap["peak"][way]) for way in ("total", "in", "out")}}
    return lines, fields


def _report_services(snap, span):
    lines, rows = [], []
    for row in snap["services"]:
        avg = _avg(row["bytes"], row["packets"], span)
        lines.append("%s/%d: %s; in %s; out %s; %s; %s" % (
            row["proto"], row["port"], _pair_text(row), _pair_text(row["in"]),
            _pair_text(row["out"]), _avg_text(avg), _rate_text("current", row["rate"])))
        rows.append({"proto": row["proto"], "port": row["port"], "packets": row["packets"],
                     "bytes": row["bytes"], "in": _pair(row["in"]), "out": _pair(row["out"]),
                     "avg": _avg_json(avg), "current": _rate_json(row["rate"])})
    unported = snap["unported"]
    lines.append("without ports (later fragments): tcp %s; udp %s" % (
        _pair_text(unported["tcp"]), _pair_text(unported["udp"])))
    return lines, {"services": rows,
                   "unported": {"tcp": _pair(unported["tcp"]), "udp": _pair(unported["udp"])},
                   "evicted": _evicted(snap, lines)}


def _report_sizes(snap, span):
    lines = ["MTU %d, link header %d bytes" % (snap["mtu"], snap["link_header"])]
    bins = []
    for b in snap["bins"]:
        if b["max"] is None:
            lines.append("%d+ bytes (oversized): %d packets (in %d, out %d)"
                         % (b["min"], b["packets"], b["in"], b["out"]))
        else:
            lines.append("%d-%d bytes: %d packets (in %d, out %d)"
                         % (b["min"], b["max"], b["packets"], b["in"], b["out"]))
        bins.append({"min": b["min"], "max": b["max"], "packets": b["packets"],
                     "in": b["in"], "out": b["out"]})
    avg = _avg(snap["bytes"], snap["packets"], span)
    lines.append("total: %s; largest %d bytes, mean %.2f bytes; %s" % (
        _pair_text(snap), snap["largest"], snap["mean"], _avg_text(avg)))
    return lines, {"mtu": snap["mtu"], "link_header": snap["link_header"], "bins": bins,
                   "packets": snap["packets"], "bytes": snap["bytes"],
                   "largest": snap["largest"], "mean": snap["mean"],
                   "in": dict(snap["in"]), "out": dict(snap["out"]), "avg": _avg_json(avg)}


def _report_lan(snap, span):
    lines, rows = [], []
    for row in snap["stations"]:
        cin, cout = row["in"], row["out"]
        avg_in = _avg(cin["bytes"], cin["packets"], span)
        avg_out = _avg(cout["bytes"], cout["packets"], span)
        lines.append(
            "%s%s on %s: in %s, %d IP; out %s, %d IP; in %s; out %s; in %s; out %s" % (
                row["mac"], " (group)" if row["group"] else "", row["iface"] or "?",
                _pair_text(cin), cin["ip_packets"], _pair_text(cout), cout["ip_packets"],
                _avg_text(avg_in), _avg_text(avg_out), _rate_text("current", cin),
                _rate_text("current", cout)))
        rows.append({"mac": row["mac"], "iface": row["iface"], "group": row["group"],
                     "in": {"packets": cin["packets"], "bytes": cin["bytes"],
                            "ip_packets": cin["ip_packets"]},
                     "out": {"packets": cout["packets"], "bytes": cout["bytes"],
                             "ip_packets": cout["ip_packets"]},
                     "avg": {"in": _avg_json(avg_in), "out": _avg_json(avg_out)},
                     "current": {"in": _rate_json(cin), "out": _rate_json(cout)}})
    return lines, {"stations": rows, "evicted": _evicted(snap, lines)}


def _report_processes(snap, span):
    lines = []
    for row in snap["processes"]:
        if row.get("unknown"):
            who = "forwarded or unknown"
        elif row["pid"] is None:
            who = "uid %d (process not readable)" % row["uid"]
        else:
            who = "%s pid %d uid %d%s" % (row["comm"], row["pid"], row["uid"],
                                          " (gone)" if row.get("gone") else "")
        lines.append("%s: in %d packets, %d bytes; out %d packets, %d bytes; "
                     "%d connections; current in %.2f bits/s, out %.2f bits/s" % (
                         who, row["in_packets"], row["in_bytes"], row["out_packets"],
                         row["out_bytes"], row["connections"], row["in_bps"],
                         row["out_bps"]))
    lookup = snap["process_lookup"]
    if not lookup["complete"]:
        lines.append("processes not readable: %d%s" % (
            lookup["unreadable"], "; %s" % lookup["error"] if lookup["error"] else ""))
    return lines, {"processes": snap["processes"], "process_lookup": lookup,
                   "evicted": _evicted(snap, lines)}


_REPORTS = {"general": _report_general, "detailed": _report_detailed,
            "services": _report_services, "sizes": _report_sizes, "lan": _report_lan,
            "processes": _report_processes}


class ReportLog:
    """A facility's report at every logging interval and at exit, as a sink placed after
    the facility's sink (so that its current rates are the latest tick's).

    ``facility`` is "general", "detailed", "services", "sizes" or "lan"; ``sink`` the
    facility's sink (its ``snapshot()`` gives the figures); ``interval_s`` the logging
    interval: a report is written at the first tick at least that long after the last
    report (or the start), and one more at ``close(now)``.  Each report: a header with
    the facility, interface and running time, then the figures: totals, average rates
    over the running time, current rates (and peaks where the facility keeps them).
    JSON: one object per report, ``event`` "report".
    """

    def __init__(self, facility, sink, logfile, interval_s, iface=None):
        if facility not in _REPORTS:
            raise ValueError("no report log for facility %r (one of %s; the IP traffic "
                             "monitor has TrafficLog)" % (facility, ", ".join(sorted(_REPORTS))))
        if not interval_s > 0:
            raise ValueError("logging interval %r: more than 0 seconds" % (interval_s,))
        self.facility = facility
        self.sink = sink
        self.logfile = logfile
        self.interval_ns = int(round(interval_s * 1e9))
        self.iface = iface
        self.start = None           # when logging started: the first packet or tick
        self.last_report = None     # when the latest report was written (or the start)
        self.reports = 0
        self._title = FACILITIES[facility][0]

    def __repr__(self):
        return "ReportLog(%r, %r)" % (self.facility, self.logfile)

    def add(self, r):
        if self.start is None:
            self._begin(r[TS])

    def feed(self, frames):
        if self.start is None and frames:
            self._begin(frames[0][0])

    def tick(self, now):
        if self.start is None:
            self._begin(now)
        elif now - self.last_report >= self.interval_ns:
            self.report(now)

    def snapshot(self):
        return {}

    def _iface(self, snap):
        if self.iface is not None:
            return self.iface
        return snap.get("iface")

    def _begin(self, ts):
        if ts is None:
            return
        self.start = self.last_report = ts
        iface = self._iface(self.sink.snapshot())
        self.logfile.write_line(ts, "%s on %s: logging started" % (self._title, _label(iface)),
                                {"event": "start", "facility": self.facility, "iface": iface})

    def report(self, now, final=False):
        """Write one report at ``now`` (ns)."""
        if self.start is None:
            self._begin(now)
        snap = self.sink.snapshot()
        iface = self._iface(snap)
        running = max(0, now - self.start)
        lines, fields = _REPORTS[self.facility](snap, running)
        header = "%s on %s: %s; running time: %s" % (
            self._title, _label(iface), "final report" if final else "report",
            running_time_text(running))
        out = {"event": "report", "facility": self.facility, "iface": iface, "final": final,
               "running_time": _seconds(running)}
        out.update(fields)
        self.logfile.write_block(now, [header] + lines, out)
        self.last_report = now
        self.reports += 1

    def close(self, now=None):
        """At exit: the final report at ``now`` (after the last tick), then close the log."""
        if now is None:
            now = self.last_report
        if now is not None and not self.logfile.closed:
            self.report(now, final=True)
        self.logfile.close()
