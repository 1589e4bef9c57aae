"""What every facility's tables share: the options they read, how a full table makes
room, and how a screen's page of one is taken.  Every table keyed by packet data is
bounded, since an attacker picks its keys.
"""
import heapq

__all__ = ["Options", "page_of", "stalest"]

EVICT_SHARE = 16        # a full table drops this fraction of itself at once


def stalest(entries, size, age):
    """What a full table of ``size`` entries drops: its stalest sixteenth (at least one)
    by ``age(entry)``, the time last seen.  Dropping a share at once keeps eviction
    amortised O(1) per new entry, where dropping one would scan the table every time."""
    return heapq.nsmallest(max(1, size // EVICT_SHARE), entries, key=age)


def page_of(entries, order, start, count):
    """Entries start..start+count in ``order`` (a key function), as sorted() would give
    them: a heap keeps only what the page needs, where sorting a 100,000-row table whole
    for a screen's 20 rows would not."""
    if not count:
        return []
    return heapq.nsmallest(start + count, entries, key=order)[start:]


class Options:
    """Settings every facility reads; one object, passed explicitly."""

    def __init__(self, interval=1.0, idle_timeout=15 * 60.0, closed_lifetime=60.0,
                 max_entries=100000, log_lines=1000, interface_name=None, detection=None,
                 rate_window=0.0):
        self.interval = interval                  # seconds between ticks
        self.rate_window = rate_window            # seconds rates average over (0: a tick)
        self.idle_timeout = idle_timeout          # seconds before a flow is IDLE
        self.closed_lifetime = closed_lifetime    # seconds a closed or reset flow stays
        self.max_entries = max_entries            # cap of every table
        self.log_lines = log_lines                # lines kept in scrolling logs
        self.interface_name = interface_name or (lambda ifindex: "if%d" % ifindex)
        self.detection = detection                # detect.Thresholds (None: the defaults)

    def __repr__(self):
        return "Options(interval=%r, idle_timeout=%r, max_entries=%r)" % (
            self.interval, self.idle_timeout, self.max_entries)
