"""The one loop: frames in, decoded once, handed to every sink, ticks at the interval.

A *sink* is anything with ``add(record)``, ``tick(now)`` and ``snapshot()``:

* ``add(record)`` takes one decoded record (``packet.FIELDS``) per frame and only counts:
  it never formats text, never draws, never blocks;
* ``tick(now)`` is called at every update interval with the time in nanoseconds since
  the epoch (rates, peaks, timeouts and expiry are computed there, from ``now``: the
  packets' own timestamps when reading a file, the clock when live with no packets);
* ``snapshot()`` returns the sink's state as plain JSON-able data.

Each facility is a sink; so are loggers, writers and detectors.  Time always comes from
the packets, so replaying a capture gives what the live capture gave.
``Monitor.snapshot(sink)`` wraps a facility's snapshot in the ``--json`` envelope.
"""
import time

from ..decoding.decode import decode

__all__ = ["Monitor", "wall_clock_ns"]


def wall_clock_ns():
    """Nanoseconds since the epoch (time.time_ns arrived in 3.7)."""
    return int(time.time() * 1e9)


class Monitor:
    """Decodes frames once and feeds every sink; ticks them every ``interval`` seconds."""

    def __init__(self, sinks, interval=1.0, match=None):
        self.sinks = list(sinks)
        self.interval_ns = int(interval * 1e9)
        self.match = match              # a frame filter (netdecode.filter.Filter.match)
        self.packets = 0                # frames seen (before the filter)
        self.filtered = 0               # frames the filter turned away
        self.dropped = 0                # frames the kernel dropped (live)
        self.last_ts = None
        self._next_tick = None

    def __repr__(self):
        return "Monitor(%d sinks, packets=%d)" % (len(self.sinks), self.packets)

    def feed(self, frames):
        """Decode and account a batch of frames; ticks fall where the packets' time says."""
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
        """The end of the input: a last tick at the last packet's time."""
        if self.last_ts is not None:
            for sink in self.sinks:
                sink.tick(self.last_ts)

    def snapshot(self, facility, sink, now):
        """The --json envelope around one facility's snapshot."""
        out = {"facility": facility, "ts": round(now / 1e9, 6) if now is not None else None,
               "capture": {"packets": self.packets, "dropped": self.dropped,
                           "filtered": self.filtered}}
        out.update(sink.snapshot())
        return out
