"""The one loop: frames in, read once, handed to every sink, ticks at the interval.

A *sink* is anything with ``add(record)``, ``tick(now)`` and ``snapshot()``, and
optionally ``feed(frames)``:

* ``add(record)`` takes one decoded record (``packet.FIELDS``) per frame and only counts:
  it never formats text, never draws, never blocks;
* ``feed(frames)`` is the sink's fast lane: a list of frames ``(ts, ifindex, pkttype,
  linktype, data, wirelen)``, in order and all before the next tick, which the sink reads
  in place for the shapes it knows and decodes (``add(decode(*frame))``) for the rest.
  When every sink has a lane, frames go to the lanes and nothing is decoded here; when
  one has none (the --dump writer, the traffic log, which reads what the monitor just
  counted), every frame is decoded once and every sink gets the record;
* ``tick(now)`` is called at every update interval with the time in nanoseconds since
  the epoch (rates, peaks, timeouts and expiry are computed there, from ``now``: the
  packets' own timestamps when reading a file, the clock when live with no packets);
* ``snapshot()`` returns the sink's state as plain JSON-able data.

Each facility is a sink; so are loggers, writers and detectors.  Time always comes from
the packets, so replaying a capture gives what the live capture gave.
``Monitor.snapshot(sink)`` wraps a facility's snapshot in the ``--json`` envelope.
"""
import itertools
import operator
import time

from ..decoding.decode import decode

__all__ = ["Monitor", "wall_clock_ns"]

# Frames handed to the lanes at once: fewer than the collector's first threshold (700
# new objects), so that a chunk's frames die young instead of being promoted and then
# walked again by every full collection, which costs the traffic monitor (whose tables
# the collector walks too) a third of its speed (tests/bench/facilities.py)
_CHUNK = 256
_TS = operator.itemgetter(0)


def wall_clock_ns():
    """Nanoseconds since the epoch (time.time_ns arrived in 3.7)."""
    return int(time.time() * 1e9)


class Monitor:
    """Feeds every sink's lane (or decodes each frame once for them all, when one has no
    lane); ticks them every ``interval`` seconds of the packets' time."""

    def __init__(self, sinks, interval=1.0, match=None):
        self.sinks = list(sinks)
        self.interval_ns = int(interval * 1e9)
        self.match = match              # a frame filter (netdecode.filter.Filter.match)
        self.packets = 0                # frames seen (before the filter)
        self.filtered = 0               # frames the filter turned away
        self.dropped = 0                # frames the kernel dropped (live)
        self.last_ts = None
        self.extras = []                # callables adding entries to the envelope
        self._next_tick = None

    def __repr__(self):
        return "Monitor(%d sinks, packets=%d)" % (len(self.sinks), self.packets)

    def feed(self, frames):
        """Account a batch of frames; ticks fall where the packets' time says."""
        lanes = [getattr(sink, "feed", None) for sink in self.sinks]
        if None in lanes:
            self._feed_records(frames)
            return
        if isinstance(frames, list) and len(frames) <= _CHUNK:
            self._feed_lanes(frames, lanes)
            return
        frames = iter(frames)
        while True:
            chunk = []
            try:
                chunk.extend(itertools.islice(frames, _CHUNK))
            except Exception:
                # a file's frames can end in a CaptureError: what came before still
                # counts (extend keeps the frames it took), and the error goes on up
                self._feed_lanes(chunk, lanes)
                raise
            if chunk:
                self._feed_lanes(chunk, lanes)
            if len(chunk) < _CHUNK:
                return

    def _feed_lanes(self, chunk, lanes):
        """One chunk to the lanes, split where ticks fall."""
        self.packets += len(chunk)
        match = self.match
        if match is not None:
            kept = [frame for frame in chunk if match(frame)]
            self.filtered += len(chunk) - len(kept)
            chunk = kept
        if not chunk:
            return
        next_tick = self._next_tick
        try:
            latest = max(map(_TS, chunk))
        except TypeError:               # a frame without a time (a pcapng simple block)
            latest = None
        if latest is not None and next_tick is not None and latest < next_tick:
            for lane in lanes:          # no tick falls inside: the commonest case
                lane(chunk)
            self.last_ts = chunk[-1][0]
            return
        start = 0
        last = None
        for i, frame in enumerate(chunk):
            ts = frame[0]
            if ts is None:
                continue
            last = ts
            if next_tick is None:
                next_tick = ts + self.interval_ns
            elif ts >= next_tick:
                if i > start:
                    for lane in lanes:
                        lane(chunk[start:i])
                start = i
                next_tick = self._tick_to(ts, next_tick)
        for lane in lanes:
            lane(chunk[start:])
        if last is not None:
            self.last_ts = last
        self._next_tick = next_tick

    def _feed_records(self, frames):
        """Decode every frame once and give every sink the record."""
        adds = [sink.add for sink in self.sinks]
        only = adds[0] if len(adds) == 1 else None
        match = self.match
        next_tick = self._next_tick
        count = filtered = 0
        last = None
        try:
            for frame in frames:
                count += 1
                if match is not None and not match(frame):
                    filtered += 1
                    continue
                ts = frame[0]
                if ts is not None:
                    last = ts
                    if next_tick is None:
                        next_tick = ts + self.interval_ns
                    elif ts >= next_tick:
                        next_tick = self._tick_to(ts, next_tick)
                record = decode(*frame)
                if only is not None:
                    only(record)
                else:
                    for add in adds:
                        add(record)
        finally:
            # a file's frames can end in a CaptureError: what came before still counts
            if last is not None:
                self.last_ts = last
            self.packets += count
            self.filtered += filtered
            self._next_tick = next_tick

    def _tick_to(self, now, due):
        """Tick every sink at ``now``; returns the next tick after it, on the grid that
        started at the first packet."""
        for sink in self.sinks:
            sink.tick(now)
        step = self.interval_ns
        return due + ((now - due) // step + 1) * step

    def idle(self, now):
        """Live, with no packets: let time move on to ``now`` (ns) and tick if due."""
        if self._next_tick is None:
            self._next_tick = now + self.interval_ns
        elif now >= self._next_tick:
            self._next_tick = self._tick_to(now, self._next_tick)

    def finish(self):
        """The end of the input: a last tick at the last packet's time, then the
        sinks' own ``finish(now)`` where they have one (what waits on later packets,
        such as an attempt's answer, is judged now)."""
        if self.last_ts is not None:
            for sink in self.sinks:
                sink.tick(self.last_ts)
            for sink in self.sinks:
                finish = getattr(sink, "finish", None)
                if finish is not None:
                    finish(self.last_ts)

    def snapshot(self, facility, sink, now, lazy=False):
        """The --json envelope around one facility's snapshot (with its big tables as
        iterators, ``lazy``, for a writer that streams them)."""
        out = {"facility": facility, "ts": round(now / 1e9, 6) if now is not None else None,
               "capture": {"packets": self.packets, "dropped": self.dropped,
                           "filtered": self.filtered}}
        for extra in self.extras:
            out.update(extra())
        out.update(sink.snapshot(lazy=True) if lazy else sink.snapshot())
        return out
