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

PENDING_MAX = 1 << 17               # SYN attempts awaiting their answer
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

    def __repr__(self):
        return "_Flood(%d steps, %d sources)" % (len(self.steps), len(self.sources))

    def count(self, ts):
        """One packet at ``ts``: in its step, and in the alert while that goes on."""
        step = ts // _STEP
        cell = self.steps.get(step)
        if cell is None:
            self.steps[step] = [1, 0, 0]
        else:
            cell[0] += 1
        self.last = ts
        alert = self.alert
        if alert is not None and not alert.ended:
            alert.count += 1
            alert.last = ts


def _vrrp_or_hsrp(mac):
    """VRRP (00:00:5e:00:01:xx, IPv6 00:00:5e:00:02:xx) and HSRP (00:00:0c:07:ac:xx,
    v2 00:00:0c:9f:fx:xx) virtual router MACs, which move between routers by design."""
    return (mac[:5] in (b"\x00\x00\x5e\x00\x01", b"\x00\x00\x5e\x00\x02",
                        b"\x00\x00\x0c\x07\xac")
            or (mac[:4] == b"\x00\x00\x0c\x9f" and mac[4] & 0xF0 == 0xF0))


class Detector:
    """Watches what the traffic monitor shows it; ``alerts`` is what it found."""

    def __init__(self, connections, thresholds=None):
        self.connections = connections  # the monitor's TCP table, where attempts are judged
        t = self.thresholds = thresholds or Thresholds()
        self._answer = int(t.answer_s * _NS)
        self._window = int(t.window_s * _NS)
        self._quiet = int(t.quiet_s * _NS)
        # the attempts awaiting an answer: a connection's key, its SYN's time and
        # whether the lower end sent it, three slots each (the key and the time are the
        # table's own objects; a tuple per attempt, or holding the connection, would
        # keep five to twenty times as much under a flood, the evicted connections too)
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

    def attempt(self, key, ts, from_lo):
        """A connection opened by a bare SYN at ``ts``: the monitor's key (lower address,
        higher address, ifindex << 32 | lower port << 16 | higher port), and whether the
        lower end sent it.  Counted at once in its destination's SYN window (every SYN,
        and its source), and queued to be judged ``answer_s`` later (as many as fit: the
        judged ones are the sample that gives a flood's completion ratio)."""
        if ts is None:
            return
        lo, hi, ports = key
        if from_lo:
            src, where = lo, (hi, ports & 0xFFFF)
        else:
            src, where = hi, (lo, ports >> 16 & 0xFFFF)
        syn = self._syn
        flood = syn.get(where)
        if flood is None or flood.__class__ is int:
            # a destination's first SYN in a second is kept as its time alone (a port
            # scan makes one per port); a second one within the second makes a window
            if flood is None and len(syn) >= TABLE_MAX and not self._make_room(syn, "syn"):
                pass
            elif flood is None or ts - flood >= _NS:
                syn[where] = ts
            else:
                first, flood = flood, _Flood()
                flood.steps[first // _STEP] = [1, 0, 0]
                syn[where] = flood
        if flood is not None and flood.__class__ is not int:
            flood.count(ts)
            if len(flood.sources) < SOURCES_MAX:
                flood.sources.add(src)
        pending = self._pending
        if len(pending) >= 3 * PENDING_MAX:
            self.overflow["attempts"] += 1
            return
        pending.append(key)
        pending.append(ts)
        pending.append(from_lo)

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
        entry[0].count(ts)

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
        popleft = pending.popleft
        connections = self.connections
        touched = set()
        while pending and (final or pending[1] <= due):
            key, ts, from_lo = popleft(), popleft(), popleft()
            lo, hi, ports = key
            if from_lo:
                src, dst, dport = lo, hi, ports & 0xFFFF
            else:
                src, dst, dport = hi, lo, ports >> 16 & 0xFFFF
            conn = connections.get(key)
            if conn is not None and conn.first != ts:
                conn = None                     # gone, and its key taken by another
            # answered: by more than a lone RST (an evicted connection: unknown, failed)
            answer = conn.b if conn is not None else None
            answered = answer is not None and answer.packets and not (
                answer.state == 1 and answer.packets == 1)
            flood = self._syn.get((dst, dport))
            if flood is not None and flood.__class__ is not int:
                cell = flood.steps.get(ts // _STEP)
                if cell is not None:
                    cell[2] += 1                # judged
                    if answered and conn.packets >= 2:
                        cell[1] += 1            # and the handshake completed
                    touched.add((dst, dport))
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

    def _syn_check(self, key):
        """A destination whose judged attempts came in: a flood when one of its
        1-second windows holds ``syn_rate`` SYNs and fewer than 20% of the judged ones
        completed their handshake."""
        flood = self._syn[key]
        _trim(flood.steps, 2 * self._answer // _NS + 2)
        if (flood.alert is None or flood.alert.ended) and sum(
                cell[0] for cell in flood.steps.values()) < (
                self.thresholds.syn_rate):
            return                  # fewer in all its steps than a window needs
        busiest = _busiest(flood.steps, judged_only=True)
        if busiest is None:
            return
        start, syns, completed, judged = busiest
        if syns >= self.thresholds.syn_rate and judged and completed < 0.2 * judged:
            alert = flood.alert
            if alert is None or alert.ended:
                alert = flood.alert = self._raise(
                    start * _STEP, "syn-flood", (("dst", key[0]), ("port", key[1])))
                alert.count = sum(cell[0] for step, cell in flood.steps.items()
                                  if step >= start)
                alert.last = flood.last
            alert.sources = flood.sources

    def _icmp_check(self, dst, entry):
        flood, source = entry
        _trim(flood.steps, 2)
        if (flood.alert is None or flood.alert.ended) and sum(
                cell[0] for cell in flood.steps.values()) < (
                self.thresholds.icmp_rate):
            busiest = None          # fewer in two seconds than a window needs: no flood
        else:
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
        if not flood.steps and (flood.alert is None or flood.alert.ended):
            del self._echo[dst]

    def _failed(self, ts, src, dst, dport):
        t = self.thresholds
        self._count(self._scans, (src, dst), dport, ts, t.scan_ports, "port-scan",
                    (("src", src), ("dst", dst)))
        self._count(self._sweeps, (src, dport), dst, ts, t.sweep_hosts, "host-sweep",
                    (("src", src), ("port", dport)))

    def _count(self, table, key, item, ts, threshold, kind, fields):
        """One failed attempt on ``item`` (a port, a host) for the pair ``key``.  A pair
        with one item so far is kept as a (time, item) tuple, a third of a _Pair: under
        a flood from random sources nearly every pair is one attempt."""
        pair = table.get(key)
        if pair is None:
            if len(table) >= TABLE_MAX and not self._make_room(table, kind):
                return
            table[key] = (ts, item)
            return
        if pair.__class__ is tuple:
            first, first_item = pair
            if first_item == item or ts - first > self._window:
                table[key] = (first if first_item == item else ts, item)
                return
            pair = table[key] = _Pair(first)
            pair.seen.append(first_item)
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

    def _make_room(self, table, name):
        """A full table drops its single-attempt entries (ints and tuples: a random-source
        flood's, which would otherwise crowd out the real scanners and floods), counted
        in ``overflow``; False when nothing could go."""
        singles = [key for key, entry in table.items()
                   if entry.__class__ is int or entry.__class__ is tuple]
        for key in singles:
            del table[key]
        self.overflow[name] += len(singles) or 1
        return bool(singles)

    def _end_quiet(self, now, due, final):
        """End the attack alerts that have gone quiet (all of them, ``final``): a flood
        after 2 s below its rate, a scan or sweep after ``quiet_s``.  The attempts are
        judged ``answer_s`` late, so scans are timed from ``due``; floods count SYNs as
        they come."""
        for alert in self.alerts.values():
            if alert.ended or alert.kind.startswith("arp-"):
                continue
            kind = alert.kind
            gone = (now if kind.endswith("flood") else due) - alert.last
            if final or gone >= (2 * _NS if kind.endswith("flood") else self._quiet):
                alert.ended = True
                self._tell(now if not final else alert.last, "end", alert)

    def _expire(self, now):
        """Forget scan pairs older than the window, and floods long quiet."""
        horizon = now - self._window
        for table in (self._scans, self._sweeps):
            for key in [k for k, p in table.items()
                        if (p[0] if p.__class__ is tuple else p.last) < horizon]:
                del table[key]
        quiet = now - self._answer - 2 * _NS
        for key, flood in list(self._syn.items()):
            if flood.__class__ is int:
                if flood < quiet:
                    del self._syn[key]
            elif flood.last < quiet and (flood.alert is None or flood.alert.ended):
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


def _busiest(steps, judged_only=False):
    """(first step, packets, completed, judged) of the busiest 1-second window of
    ``steps`` (each [packets, completed, judged]); ``judged_only``: of the windows that
    start with a step already judged."""
    if not steps:
        return None
    best = None
    for start in steps:
        if judged_only and not steps[start][2]:
            continue
        packets = completed = judged = 0
        for step in range(start, start + _STEPS):
            cell = steps.get(step)
            if cell is not None:
                packets += cell[0]
                completed += cell[1]
                judged += cell[2]
        if best is None or packets > best[1]:
            best = (start, packets, completed, judged)
    return best


def _trim(steps, seconds):
    """Keep the last ``seconds`` of steps."""
    if steps:
        latest = max(steps)
        for step in [s for s in steps if s <= latest - seconds * _STEPS]:
            del steps[step]
