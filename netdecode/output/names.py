"""Names for display: host names by reverse lookup, service names, MAC descriptions.

Nothing here ever makes its caller wait.  ``Resolver.name(address)`` answers from a
bounded cache and, for an address it does not know, queues a lookup for a few worker
threads and answers ``None`` (show the number) until the name arrives.  A lookup that
runs past ``timeout`` is given up: its address shows as a number, and is asked again
only once its cache entry has aged out.  The queue is bounded too; when it is full, a
new address waits for a later screen update.  Attacker-chosen addresses can therefore
neither grow memory nor stall the screen.

Every name that reaches a screen or a log passes ``printable`` first: a DNS answer or an
``/etc/ethers`` line can hold control characters, which would drive the terminal.
"""
import collections
import os
import socket
import stat
import threading
import time

__all__ = ["Resolver", "Services", "printable", "read_ethers"]

_NOT_FOUND = ""                 # cached: the lookup ended without a name
_PENDING = None                 # cached: queued or running since the stored time


def printable(text):
    """``text`` with every character that is not printable (controls, escapes, line
    breaks, format characters) shown as ``?``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else "?" for c in text)


def _reverse_lookup(address):
    return socket.getnameinfo((address, 0), socket.NI_NAMEREQD)[0]


class Resolver:
    """Reverse DNS off the caller's thread, with a bounded cache.

    ``lookup(address)`` returns a host name or raises ``OSError``; the default asks the
    system resolver (``getnameinfo``, so /etc/hosts and DNS as nsswitch.conf says).
    ``clock`` is passed in so that the timeout and the cache's ageing can be tested.
    """

    def __init__(self, lookup=_reverse_lookup, workers=2, cache_size=4096,
                 queue_size=256, timeout=5.0, retry_after=600.0, clock=time.monotonic):
        self._lookup = lookup
        self._cache_size = cache_size
        self._queue_size = queue_size
        self._timeout = timeout
        self._retry_after = retry_after
        self._clock = clock
        # address -> [name or _PENDING/_NOT_FOUND, time of the last change]
        self._cache = collections.OrderedDict()
        self._queue = collections.deque()
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._closed = False
        self.lookups = self.timeouts = self.refused = 0
        self._threads = [threading.Thread(target=self._worker, name="iptraf-resolver",
                                          daemon=True) for _ in range(workers)]
        for thread in self._threads:
            thread.start()

    def __repr__(self):
        return "Resolver(%d cached, %d queued)" % (len(self._cache), len(self._queue))

    def name(self, address):
        """The host name of ``address`` (text form), or None while it is unknown."""
        now = self._clock()
        with self._lock:
            entry = self._cache.get(address)
            if entry is not None:
                value, since = entry
                if value:
                    self._cache.move_to_end(address)    # the names on screen stay
                    return value
                if value is _PENDING:
                    if now - since > self._timeout:
                        entry[0], entry[1] = _NOT_FOUND, now
                        self.timeouts += 1
                    return None
                if now - since < self._retry_after:
                    return None
            if len(self._queue) >= self._queue_size:
                self.refused += 1
                return None
            self._cache[address] = [_PENDING, now]
            self._cache.move_to_end(address)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            self._queue.append(address)
            self._work.notify()
        return None

    def _worker(self):
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._work.wait()
                if self._closed:
                    return
                address = self._queue.popleft()
            try:
                found = printable(self._lookup(address))
            except (OSError, UnicodeError, ValueError):
                found = _NOT_FOUND
            with self._lock:
                self.lookups += 1
                entry = self._cache.get(address)
                # an entry that timed out or was evicted meanwhile takes the late answer
                # all the same: it is the right name, and it costs nothing to keep
                if entry is None:
                    if len(self._cache) >= self._cache_size:
                        continue
                    self._cache[address] = entry = [None, 0]
                entry[0], entry[1] = found, self._clock()

    def close(self):
        """Stop the workers (a lookup under way still finishes in its thread)."""
        with self._lock:
            self._closed = True
            self._queue.clear()
            self._work.notify_all()


class Services:
    """Port numbers to service names (/etc/services through ``getservbyport``), cached;
    the cache is bounded by the port space itself."""

    def __init__(self):
        self._cache = {}

    def __repr__(self):
        return "Services(%d cached)" % len(self._cache)

    def name(self, port, proto):
        """The service name of ``port`` over ``proto`` ('tcp' or 'udp'), or None."""
        key = (port, proto)
        try:
            return self._cache[key]
        except KeyError:
            pass
        try:
            found = printable(socket.getservbyport(port, proto))
        except (OSError, OverflowError):
            found = None
        self._cache[key] = found
        return found


def read_ethers(path, limit=65536):
    """MAC descriptions from a file in /etc/ethers format (``MAC name`` per line, ``#``
    comments) as {"aa:bb:cc:dd:ee:ff": name}; a file that is missing, unreadable or not
    a regular file (a FIFO would block, /dev/zero never end) gives {}.  Lines that do
    not parse are skipped, as ethers(5) readers do; at most ``limit`` entries."""
    names = {}
    try:
        # O_NONBLOCK: opening a FIFO would otherwise wait for a writer
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), encoding="utf-8",
                  errors="replace") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return {}
            for line in f:
                fields = line.split("#", 1)[0].split()
                if len(fields) < 2:
                    continue
                mac = _mac_key(fields[0])
                if mac is not None and len(names) < limit:
                    names[mac] = printable(fields[1])
    except OSError:
        return {}
    return names


def _mac_key(text):
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6:
        return None
    try:
        octets = [int(p, 16) for p in parts]
    except ValueError:
        return None
    if any(o < 0 or o > 255 or not 1 <= len(p) <= 2 for o, p in zip(octets, parts)):
        return None
    return ":".join("%02x" % o for o in octets)
