"""Attack detection in the IP traffic monitor: port scans, host sweeps, SYN and ICMP
floods, and ARP changes (arpwatch's events).

The ``Detector`` is fed by the monitor's own slow paths, never by a packet of an
established connection, so that it costs the packet loop almost nothing:

* ``attempt()``: a connection opened by a bare SYN (the monitor's new-connection path).
  Each attempt waits ``answer_s`` (5 s) of packet time in a bounded queue; then it has
  *failed* unless the other side answered with something other than a lone RST (a
  SYN-ACK or data): an RST, an ICMP unreachable and silence all fail, as in Zeek's scan
  policy.  Resolved attempts feed the SYN-flood windows (SYNs and handshakes completed,
  per destination host and port) and, when failed, the scan tables;
* ``echo()``: an ICMP or ICMPv6 echo request (the monitor's other-traffic path);
* ``arp()``: an ARP packet's sender address and MAC.

``tick(now)`` resolves what is due and raises or ends alerts.  The kinds:

* port-scan: one source with failed attempts on ``scan_ports`` (15) distinct ports of
  one host within ``window_s`` (300 s, counted from the pair's first failed attempt, a
  new window starting after it as Zeek's epochs do);
* host-sweep: one source with failed attempts on one port of ``sweep_hosts`` (25)
  distinct hosts within ``window_s``;
* syn-flood: ``syn_rate`` (500) SYNs or more to one host and port in a 1-second window
  (seen in 100 ms steps), fewer than 20% of them completing a handshake; ``sources``
  counts the distinct sources (up to ``SOURCES_MAX``);
* icmp-flood: ``icmp_rate`` (500) echo requests or more to one host in a 1-second window;
* arp-new-station, arp-changed-mac (an address now at another MAC), arp-flip-flop (back
  to the MAC it had before): events, not attacks; VRRP and HSRP virtual MACs are exempt.

An attack alert is *active* while it goes on and *ended* after ``quiet_s`` (60 s) of
packet time without more of it (a flood: 2 s below its rate).  Memory is bounded under
any traffic: the attempts queue, each table and the alert list have fixed caps, what
does not fit is counted (``overflow``), and a scan pair remembers at most threshold + 2
ports (hosts), as Zeek does; past that, its count goes on as failed attempts on other
ports.
"""
import collections

__all__ = ["Detector", "Thresholds", "KINDS"]

KINDS = ("port-scan", "host-sweep", "syn-flood", "icmp-flood", "arp-new-station",
         "arp-changed-mac", "arp-flip-flop")
_NS = 10**9
_STEP = _NS // 10                   # flood windows: 1 s, in 100 ms steps
_STEPS = 10

PENDING_MAX = 1 << 18               # SYN attempts awaiting their answer
TABLE_MAX = 1 << 16                 # scan pairs, sweep pairs, flood and ARP entries
ALERTS_MAX = 10000                  # alerts kept (the oldest ended ones go first)
SOURCES_MAX = 1 << 16               # distinct sources counted per flood


class Thresholds:
    """The detection settings (the Configure dialog and the config file)."""

    def __init__(self, scan_ports=15, sweep_hosts=25, window_s=300.0, syn_rate=500,
                 icmp_rate=500, answer_s=5.0, quiet_s=60.0):
        self.scan_ports, self.sweep_hosts, self.window_s = scan_ports, sweep_hosts, window_s
        self.syn_rate, self.icmp_rate = syn_rate, icmp_rate
        self.answer_s, self.quiet_s = answer_s, quiet_s

    def __repr__(self):
        return "Thresholds(scan_ports=%d, sweep_hosts=%d, syn_rate=%d, icmp_rate=%d)" % (
            self.scan_ports, self.sweep_hosts, self.syn_rate, self.icmp_rate)


class _Alert:
    __slots__ = ("kind", "fields", "first", "last", "count", "ended", "sources")

    def __init__(self, kind, fields, first):
        self.kind, self.fields, self.first, self.last = kind, fields, first, first
        self.count = 0
        self.ended = False
        self.sources = None

    def __repr__(self):
        return "_Alert(%s, %r, ended=%s)" % (self.kind, self.fields, self.ended)


class _Pair:
    """A scan or sweep candidate: the distinct ports (hosts) of its failed attempts, up
    to the threshold + 2, and the failed attempts on others past that."""

    __slots__ = ("seen", "more", "first", "last", "alert")

    def __init__(self, ts):
        self.seen = []
        self.more = 0
        self.first = self.last = ts
        self.alert = None


class _Flood:
    """A destination's flood window: per 100 ms step, [packets, completed]."""

    __slots__ = ("steps", "sources", "alert", "last")

    def __init__(self):
        self.steps = {}
        self.sources = set()
        self.alert = None
        self.last = None


def _vrrp_or_hsrp(mac):
    """VRRP (00:00:5e:00:01:xx, IPv6 00:00:5e:00:02:xx) and HSRP (00:00:0c:07:ac:xx,
    v2 00:00:0c:9f:fx:xx) virtual router MACs, which move between routers by design."""
    return (mac[:5] in (b"\x00\x00\x5e\x00\x01", b"\x00\x00\x5e\x00\x02",
                        b"\x00\x00\x0c\x07\xac")
            or (mac[:4] == b"\x00\x00\x0c\x9f" and mac[4] & 0xF0 == 0xF0))


class Detector:
    """Watches what the traffic monitor shows it; ``alerts`` is what it found."""

    def __init__(self, thresholds=None):
        t = self.thresholds = thresholds or Thresholds()
        self._answer = int(t.answer_s * _NS)
        self._window = int(t.window_s * _NS)
        self._quiet = int(t.quiet_s * _NS)
        # the attempts awaiting an answer: a connection's key then the connection, two
        # slots each (a tuple per attempt would cost 5 times as much under a flood)
        self._pending = collections.deque()
        self._scans = {}            # (src, dst) -> _Pair of ports
        self._sweeps = {}           # (src, dport) -> _Pair of hosts
        self._syn = {}              # (dst, dport) -> _Flood
        self._echo = {}             # dst -> [_Flood, the one source or None]
        self._arp = {}              # ip -> [mac, the mac before]
        self.alerts = collections.OrderedDict()     # (kind, key) -> _Alert, oldest first
        self.raised = collections.Counter()         # kind -> alerts raised
        self.overflow = collections.Counter()       # table -> what did not fit
        self.events = None          # a list, when a log wants (ts, "start"|"end", _Alert)
        self._next_expiry = None

    def __repr__(self):
        return "Detector(%d alerts, %d pending)" % (len(self.alerts), len(self._pending))

    # fed by the monitor

    def attempt(self, key, conn):
        """A connection opened by a bare SYN: the monitor's key (lower address, higher
        address, ifindex << 32 | lower port << 16 | higher port) and the connection,
        whose ``first`` is the SYN's time and whose A_IS_LO mark says which end sent it."""
        pending = self._pending
        if len(pending) >= 2 * PENDING_MAX:
            self.overflow["attempts"] += 1
            return
        pending.append(key)
        pending.append(conn)

    def echo(self, ts, src, dst):
        """An ICMP or ICMPv6 echo request."""
        if ts is None:
            return
        entry = self._echo.get(dst)
        if entry is None:
            if len(self._echo) >= TABLE_MAX:
                self.overflow["icmp"] += 1
                return
            entry = self._echo[dst] = [_Flood(), src]
        elif entry[1] is not None and entry[1] != src:
            entry[1] = None                     # more than one source
        flood = entry[0]
        step = ts // _STEP
        cell = flood.steps.get(step)
        if cell is None:
            flood.steps[step] = [1, 0]
        else:
            cell[0] += 1
        flood.last = ts
        alert = flood.alert
        if alert is not None and not alert.ended:
            alert.count += 1
            alert.last = ts

    def arp(self, ts, ip, mac):
        """An ARP packet's sender: arpwatch's new station, changed MAC and flip-flop."""
        if mac is None or ip == b"\0\0\0\0" or _vrrp_or_hsrp(mac):
            return
        known = self._arp.get(ip)
        if known is None:
            if len(self._arp) >= TABLE_MAX:
                self.overflow["arp"] += 1
                return
            self._arp[ip] = [mac, None]
            self._event(ts, "arp-new-station", (("ip", ip), ("mac", mac)))
        elif known[0] != mac:
            kind = "arp-flip-flop" if known[1] == mac else "arp-changed-mac"
            self._event(ts, kind, (("ip", ip), ("mac", mac), ("old_mac", known[0])))
            known[1], known[0] = known[0], mac

    # time

    def tick(self, now, final=False):
        """Resolve the attempts that are due (all of them, ``final``: the end of the
        input), raise and end alerts."""
        if now is None:
            return
        due = now if final else now - self._answer
        pending = self._pending
        touched = set()
        while pending and (final or pending[1].first is None or pending[1].first <= due):
            (lo, hi, ports), conn = pending.popleft(), pending.popleft()
            ts = conn.first
            if ts is None:
                continue
            if conn.marks & 1:                  # flows.A_IS_LO: the SYN came from lo
                src, dst, dport = lo, hi, ports & 0xFFFF
            else:
                src, dst, dport = hi, lo, ports >> 16 & 0xFFFF
            answer = conn.b
            answered = answer is not None and answer.packets and not (
                answer.state == 1 and answer.packets == 1)      # a lone RST
            completed = answered and conn.packets >= 2
            self._syn_window(ts, src, dst, dport, completed, touched)
            if not answered:
                self._failed(ts, src, dst, dport)
        for key in touched:
            self._syn_check(key)
        for dst, entry in list(self._echo.items()):
            self._icmp_check(dst, entry)
        self._end_quiet(now, due, final)
        if self._next_expiry is None or now >= self._next_expiry or final:
            self._expire(now)
            self._next_expiry = now + 10 * _NS

    def _syn_window(self, ts, src, dst, dport, completed, touched):
        key = (dst, dport)
        flood = self._syn.get(key)
        if flood is None:
            if len(self._syn) >= TABLE_MAX:
                self.overflow["syn"] += 1
                return
            flood = self._syn[key] = _Flood()
        step = ts // _STEP
        cell = flood.steps.get(step)
        if cell is None:
            cell = flood.steps[step] = [0, 0]
        cell[0] += 1
        if completed:
            cell[1] += 1
        if len(flood.sources) < SOURCES_MAX:
            flood.sources.add(src)
        flood.last = ts
        alert = flood.alert
        if alert is not None and not alert.ended:
            alert.count += 1
            alert.last = ts
        touched.add(key)

    def _syn_check(self, key):
        flood = self._syn[key]
        busiest = _busiest(flood.steps)
        if busiest is None:
            return
        start, syns, completed = busiest
        if syns >= self.thresholds.syn_rate and completed < 0.2 * syns:
            alert = flood.alert
            if alert is None or alert.ended:
                alert = flood.alert = self._raise(
                    start * _STEP, "syn-flood", (("dst", key[0]), ("port", key[1])))
                alert.count = sum(cell[0] for step, cell in flood.steps.items()
                                  if step >= start)
                alert.last = flood.last
            alert.sources = flood.sources
        _trim(flood.steps)

    def _icmp_check(self, dst, entry):
        flood, source = entry
        busiest = _busiest(flood.steps)
        if busiest is not None and busiest[1] >= self.thresholds.icmp_rate:
            alert = flood.alert
            if alert is None or alert.ended:
                start = busiest[0]
                alert = flood.alert = self._raise(start * _STEP, "icmp-flood",
                                                  (("dst", dst),))
                alert.count = sum(cell[0] for step, cell in flood.steps.items()
                                  if step >= start)
                alert.last = flood.last
            alert.sources = source      # the one source, or None for several
        _trim(flood.steps)
        if not flood.steps and (flood.alert is None or flood.alert.ended):
            del self._echo[dst]

    def _failed(self, ts, src, dst, dport):
        t = self.thresholds
        self._count(self._scans, (src, dst), dport, ts, t.scan_ports, "port-scan",
                    (("src", src), ("dst", dst)))
        self._count(self._sweeps, (src, dport), dst, ts, t.sweep_hosts, "host-sweep",
                    (("src", src), ("port", dport)))

    def _count(self, table, key, item, ts, threshold, kind, fields):
        pair = table.get(key)
        if pair is None:
            if len(table) >= TABLE_MAX:
                self.overflow[kind] += 1
                return
            pair = table[key] = _Pair(ts)
        elif ts - pair.first > self._window and (pair.alert is None or pair.alert.ended):
            pair.seen, pair.more, pair.first = [], 0, ts     # a new window (Zeek's epoch)
        pair.last = ts
        if item not in pair.seen:
            if len(pair.seen) < threshold + 2:
                pair.seen.append(item)
            else:
                pair.more += 1
        if len(pair.seen) >= threshold:
            alert = pair.alert
            if alert is None or alert.ended:
                alert = pair.alert = self._raise(pair.first, kind, fields)
            alert.last = ts
            alert.count = len(pair.seen) + pair.more

    def _end_quiet(self, now, due, final):
        """End the attack alerts that have gone quiet (all of them, ``final``): a flood
        after 2 s below its rate, a scan or sweep after ``quiet_s``.  The attempts are
        judged ``answer_s`` late, so their alerts are timed from ``due``."""
        for alert in self.alerts.values():
            if alert.ended or alert.kind.startswith("arp-"):
                continue
            kind = alert.kind
            gone = (now if kind == "icmp-flood" else due) - alert.last
            if final or gone >= (2 * _NS if kind.endswith("flood") else self._quiet):
                alert.ended = True
                self._tell(now if not final else alert.last, "end", alert)

    def _expire(self, now):
        """Forget scan pairs older than the window, and floods long quiet."""
        horizon = now - self._window
        for table in (self._scans, self._sweeps):
            for key in [k for k, p in table.items() if p.last < horizon]:
                del table[key]
        for key in [k for k, f in self._syn.items()
                    if f.last < now - 2 * _NS and (f.alert is None or f.alert.ended)]:
            del self._syn[key]

    # alerts

    def _raise(self, ts, kind, fields):
        alert = _Alert(kind, fields, ts)
        key = (kind, fields, ts)
        alerts = self.alerts
        if len(alerts) >= ALERTS_MAX:
            self.overflow["alerts"] += 1
            for old_key, old in alerts.items():
                if old.ended:
                    del alerts[old_key]
                    break
            else:
                alerts.popitem(last=False)
        alerts[key] = alert
        self.raised[kind] += 1
        self._tell(ts, "start", alert)
        return alert

    def _tell(self, ts, what, alert):
        if self.events is not None:
            self.events.append((ts, what, alert))

    def _event(self, ts, kind, fields):
        """An instant event (ARP): raised and ended at once."""
        alert = self._raise(ts, kind, fields)
        alert.ended = True
        alert.count = 1

    def drain(self):
        """The alerts started and ended since the last drain (for the log, which asks
        for them by setting ``events`` to a list)."""
        events, self.events = self.events, []
        return events or []


def _busiest(steps):
    """(first step, packets, completed) of the busiest 1-second window of ``steps``."""
    if not steps:
        return None
    best = None
    for start in steps:
        packets = completed = 0
        for step in range(start, start + _STEPS):
            cell = steps.get(step)
            if cell is not None:
                packets += cell[0]
                completed += cell[1]
        if best is None or packets > best[1]:
            best = (start, packets, completed)
    return best


def _trim(steps):
    """Keep the last two seconds of steps."""
    if steps:
        latest = max(steps)
        for step in [s for s in steps if s <= latest - 2 * _STEPS]:
            del steps[step]
