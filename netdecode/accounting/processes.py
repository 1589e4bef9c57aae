"""Which local program owns each connection, and the process monitor (-P).

``Owners`` answers "which process owns the local socket of this TCP connection or UDP
flow" from a table that a background thread fills; the caller (a facility's snapshot
or tick, never the packet loop) reads it with one dict lookup and never waits.  A key
not yet in the table is queued for the thread, which

* dumps the kernel's socket tables through netlink sock_diag (NETLINK_SOCK_DIAG,
  ``inet_diag_req_v2``, man 7 sock_diag) for TCP and UDP over IPv4 and IPv6: each socket's
  addresses, ports, uid and inode;
* finds the process holding that inode among the ``/proc/PID/fd`` links
  (``socket:[INODE]``), scanning the processes that owned sockets before first and
  stopping once every inode asked for is found, the processes found cached;
* retries a key for ``retry`` seconds (a connection younger than its socket's accept()
  has no inode yet), then leaves it for a while;
* works in slices and sleeps between them, so that it never takes more than
  ``cpu_share`` of a core (and of the interpreter's lock, which the packet loop needs).

sock_diag answers for the network namespace the program runs in, which is the one of
the interfaces it captures on: traffic seen there whose socket belongs to another
namespace (a bridge, a veth to a container) has no owner here.  A UDP datagram is
matched to a connected socket first, then to one bound to its local address, then to
the wildcard.  A process that exits keeps its sockets' owner, marked ``gone``; a socket
whose process cannot be read (another user's, without root) is shown with its uid
alone, marked ``hidden``, and ``status()`` counts such processes.

``ProcessMonitor`` is the -P facility: a fast lane of its own counts each direction of
every TCP and UDP flow (the addresses and ports as they sit in the frame are the key);
at each tick the flows are summed per owning process, in and out, with rates and the
number of connections, and what has no local owner (forwarded, or not found) goes to
one row of its own, its direction the capture's (out: sent by this host).
"""
import collections
import itertools
import os
import socket
import struct
import threading
import time

from ..decoding import shapes
from ..decoding.decode import decode
from ..decoding.packet import (
    DPORT, IP6_DST, IP6_SRC, IP_DST, IP_SRC, LEN, PACKET_OUTGOING, PKTTYPE, PROTO, SPORT,
    TS, TUNNEL,
)
from .tables import page_of, stalest

__all__ = ["Owner", "Owners", "ProcessMonitor", "socket_table"]

# linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x01
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
_NLMSGHDR = struct.Struct("=IHHII")         # len, type, flags, seq, pid
_INET_DIAG_REQ_V2 = struct.Struct("=BBBBI48x")   # family, protocol, ext, pad, states;
#                                                  the socket id left zero: a dump
_DIAG_ID = struct.Struct("!HH16s16s")       # inet_diag_msg's ports and addresses, at 4
_DIAG_UID_INODE = struct.Struct("=II")      # its uid and inode, at 64
_DIAG_MSG_SIZE = 72
_ALL_STATES = 0xFFFFFFFF
_V4_MAPPED = b"\0" * 10 + b"\xff\xff"
_ANY4, _ANY6 = b"\0" * 4, b"\0" * 16

_TABLE_MAX = 65536          # owners kept, by socket key (the oldest half goes when full)
_ASKED_MAX = 4096           # keys waiting for the thread
_INODES_MAX = 1 << 17       # inode -> pid links kept from the scans
_REASK_S = 30.0             # a key given up on is not looked for again before this
_GONE_CHECK_S = 2.0         # how often owners are checked for having exited
_SLICE_S = 0.005            # work between two rests of the thread
_RETIRED_MAX = 4096         # -P: owners whose flows are kept as totals, before gone ones go


class Owner:
    """A process that owns sockets: pid, comm (its name) and uid; ``gone`` once it has
    exited.  A socket whose process could not be read has pid and comm None."""

    __slots__ = ("pid", "comm", "uid", "gone")

    def __init__(self, pid, comm, uid):
        self.pid, self.comm, self.uid = pid, comm, uid
        self.gone = False

    def __repr__(self):
        return "Owner(%r, %r, %r%s)" % (self.pid, self.comm, self.uid,
                                         ", gone" if self.gone else "")

    def json(self):
        """{"pid", "comm", "uid"}, and "gone": true or "hidden": true when so."""
        out = {"pid": self.pid, "comm": self.comm, "uid": self.uid}
        if self.gone:
            out["gone"] = True
        if self.pid is None:
            out["hidden"] = True
        return out


def socket_table(sock, rest=None):
    """Every TCP and UDP socket of this network namespace, by netlink sock_diag on
    ``sock`` (AF_NETLINK, NETLINK_SOCK_DIAG): (proto, local addr, local port, remote
    addr, remote port) -> (uid, inode), addresses as 4 or 16 bytes (an IPv4-mapped IPv6
    address as the IPv4 one).  Sockets with no inode (TIME_WAIT, a connection not yet
    accepted) are left out.  ``rest()`` is called between reads (the caller's CPU cap).
    Raises OSError when the kernel refuses all four tables."""
    table = {}
    seq = 0
    refused = []
    for proto in (6, 17):
        for family in (socket.AF_INET, socket.AF_INET6):
            seq += 1
            sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + _INET_DIAG_REQ_V2.size,
                                     SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
                      + _INET_DIAG_REQ_V2.pack(family, proto, 0, 0, _ALL_STATES))
            try:
                _read_dump(sock, proto, table, rest)
            except _Refused as e:
                # a kernel without IPv6, or without udp_diag: the other tables still count
                refused.append(e)
    if len(refused) == 4:
        raise refused[0]
    return table


class _Refused(OSError):
    """The kernel's error answer to one dump."""


def _read_dump(sock, proto, table, rest):
    while True:
        data = sock.recv(1 << 17)
        off = 0
        while off + _NLMSGHDR.size <= len(data):
            length, kind = _NLMSGHDR.unpack_from(data, off)[:2]
            if length < _NLMSGHDR.size or off + length > len(data):
                raise OSError(0, "sock_diag: a netlink message of %d bytes at %d of %d"
                              % (length, off, len(data)))
            if kind == NLMSG_DONE:
                return
            if kind == NLMSG_ERROR:
                error = -struct.unpack_from("=i", data, off + _NLMSGHDR.size)[0]
                raise _Refused(error, os.strerror(error))
            body = off + _NLMSGHDR.size
            if kind == SOCK_DIAG_BY_FAMILY and length - _NLMSGHDR.size >= _DIAG_MSG_SIZE:
                uid, inode = _DIAG_UID_INODE.unpack_from(data, body + 64)
                if inode:
                    sport, dport, src, dst = _DIAG_ID.unpack_from(data, body + 4)
                    if data[body] == socket.AF_INET:
                        src, dst = src[:4], dst[:4]
                    else:
                        src, dst = _unmapped(src), _unmapped(dst)
                    table[(proto, src, sport, dst, dport)] = (uid, inode)
            off += (length + 3) & ~3
        if rest is not None:
            rest()


def _unmapped(addr):
    return addr[12:] if addr[:12] == _V4_MAPPED else addr


def _udp_fallbacks(key):
    """A UDP key, then the socket bound to its local address, then the wildcard ones."""
    proto, laddr, lport = key[:3]
    yield key
    yield (proto, laddr, lport, _ANY4 if len(laddr) == 4 else _ANY6, 0)
    if len(laddr) == 4:
        yield (proto, _ANY4, lport, _ANY4, 0)
    yield (proto, _ANY6, lport, _ANY6, 0)


class Owners:
    """The owner of each local socket, found by a background thread (see the module's
    docstring); ``owner(...)`` never waits.  The thread starts at the first lookup (so
    after -B has forked, which no thread survives) and ends at ``close()``; with
    ``period`` None there is none, and the caller runs ``refresh(sock)`` itself."""

    def __init__(self, period=1.0, retry=5.0, cpu_share=0.05, clock=time.monotonic,
                 proc="/proc"):
        self.period, self.retry, self.cpu_share = period, retry, cpu_share
        self.clock, self.proc = clock, proc
        self.error = None           # why no owner can be found at all (text)
        self.unreadable = 0         # processes the latest scan could not read
        self._table = {}            # socket key -> Owner: replaced whole, never changed
        self._asked = collections.deque(maxlen=_ASKED_MAX)
        self._pending = {}          # socket key -> when the thread first looked for it
        self._given_up = {}         # socket key -> when the thread gave up on it
        self._inode_pid = {}        # from the scans
        self._by_pid = {}           # pid -> Owner, of the processes found
        self._hidden = {}           # uid -> Owner with no pid, for unreadable processes
        self._orphans = set()       # socket keys whose owner has exited
        self._last_check = 0.0
        self._resumed = 0.0         # when the thread last began to work
        self._closing = threading.Event()
        self._thread = None

    def __repr__(self):
        return "Owners(%d sockets, %d processes)" % (len(self._table), len(self._by_pid))

    def start(self):
        if self._thread is None and self.period is not None:
            self._thread = threading.Thread(target=self._run, name="iptraf.py owners")
            self._thread.daemon = True
            self._thread.start()
        return self

    def close(self):
        self._closing.set()
        if self._thread is not None:
            self._thread.join(5.0)

    # the caller's side: lookups that never wait

    def owner(self, proto, laddr, lport, raddr, rport):
        """The Owner of the local socket (laddr, lport) talking to (raddr, rport) over
        ``proto`` (6 or 17), or None (not local, or not found yet: then asked for)."""
        key = (proto, laddr, lport, raddr, rport)
        found = self._table.get(key)
        if found is None:
            self._asked.append(key)
            if self._thread is None:
                self.start()
        return found

    def name_ends(self, row, key, a_is_lo):
        """Give an IP traffic monitor row (TrafficMonitor.tcp ``key``) its
        ``a_process`` and ``b_process``, for each end that is a local socket."""
        lo, hi, ports = key
        lo_port, hi_port = ports >> 16 & 0xFFFF, ports & 0xFFFF
        lo_owner = self.owner(6, lo, lo_port, hi, hi_port)
        hi_owner = self.owner(6, hi, hi_port, lo, lo_port)
        a, b = (lo_owner, hi_owner) if a_is_lo else (hi_owner, lo_owner)
        if a is not None:
            row["a_process"] = a.json()
        if b is not None:
            row["b_process"] = b.json()

    def status(self):
        """What the lookups can see: "complete" is false when some processes could not
        be read (not root) or the socket tables cannot be had ("error")."""
        return {"complete": self.error is None and not self.unreadable,
                "unreadable": self.unreadable, "error": self.error}

    # the thread

    def _run(self):
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
        except (OSError, AttributeError) as e:
            self.error = "no socket tables (netlink sock_diag: %s)" % (
                getattr(e, "strerror", None) or e)
            return
        with sock:
            while not self._closing.wait(self.period):
                try:
                    self.refresh(sock)
                except OSError as e:
                    self.error = "socket tables: %s" % (e.strerror or e)
                else:
                    self.error = None

    def refresh(self, sock):
        """One round of the thread: the keys asked for since the last, looked up."""
        now = self.clock()
        self._resumed = time.monotonic()
        pending, given_up = self._pending, self._given_up
        asked = self._asked
        while asked:
            key = asked.popleft()
            if key in pending or key in self._table:
                continue
            if now - given_up.get(key, -_REASK_S) >= _REASK_S:
                pending[key] = now
        if now - self._last_check >= _GONE_CHECK_S:
            self._last_check = now
            self._check_gone()
        if not pending and not self._orphans:
            return
        sockets = socket_table(sock, self._rest)
        found = {}
        # with them, the sockets whose owner exited: one that lives on (passed to a
        # child, or its key taken by a new socket) is looked for again
        orphans, self._orphans = self._orphans, set()
        for key in itertools.chain(pending, orphans):
            for candidate in (_udp_fallbacks(key) if key[0] == 17 else (key,)):
                hit = sockets.get(candidate)
                if hit is not None:
                    found[key] = hit
                    break
        missing = set(inode for _, inode in found.values()
                      if inode not in self._inode_pid)
        if missing:
            self._scan(missing)
        table = dict(self._table)
        for key, (uid, inode) in found.items():
            owner = self._owner_of(inode, uid, inode in missing)
            if owner is not None:
                table[key] = owner
                pending.pop(key, None)
        for key, first in list(pending.items()):
            if now - first >= self.retry:
                del pending[key]
                given_up[key] = now
        if len(given_up) > _TABLE_MAX:
            given_up.clear()
        if len(table) > _TABLE_MAX:
            for key in list(table)[:len(table) // 2]:
                del table[key]
        self._table = table

    def _owner_of(self, inode, uid, unseen):
        """The Owner of a socket: its process when a scan found it; else, when the scan
        read every process it could, found it in none (``unseen``) and some could not be
        read, one with its uid alone; else None (to be retried)."""
        pid = self._inode_pid.get(inode)
        if pid is not None:
            owner = self._by_pid.get(pid)
            if owner is None:
                owner = self._by_pid[pid] = self._process(pid, uid)
            return owner
        if unseen and self.unreadable:
            owner = self._hidden.get(uid)
            if owner is None:
                owner = self._hidden[uid] = Owner(None, None, uid)
            return owner
        return None

    def _process(self, pid, uid):
        base = "%s/%d" % (self.proc, pid)
        try:
            with open(base + "/comm", "rb") as f:
                comm = f.read().rstrip(b"\n").decode("utf-8", "replace")
            uid = os.stat(base).st_uid
        except OSError:
            owner = Owner(pid, None, uid)       # exited since the scan
            owner.gone = True
            return owner
        return Owner(pid, comm, uid)

    def _check_gone(self):
        """Mark the owners that have exited; forget them, and their sockets' inodes."""
        dead = [pid for pid in self._by_pid if not os.path.exists("%s/%d" % (self.proc, pid))]
        for pid in dead:
            self._by_pid.pop(pid).gone = True
        if dead:
            dead = set(dead)
            self._inode_pid = {inode: pid for inode, pid in self._inode_pid.items()
                               if pid not in dead}
            self._orphans.update(key for key, owner in self._table.items()
                                 if owner.pid in dead)

    def _scan(self, missing):
        """Read /proc/PID/fd until every inode of ``missing`` is found: the processes
        that owned sockets before first (a program that opened one opens more), then the
        rest.  Counts the processes it could not read, when it read them all."""
        try:
            pids = [int(name) for name in os.listdir(self.proc) if name.isdigit()]
        except OSError:
            return
        known = self._by_pid
        order = [pid for pid in pids if pid in known] + [pid for pid in pids if pid not in known]
        unreadable = 0
        inode_pid = self._inode_pid
        if len(inode_pid) > _INODES_MAX:
            inode_pid.clear()
        for pid in order:
            fds = "%s/%d/fd/" % (self.proc, pid)
            try:
                names = os.listdir(fds)
            except PermissionError:
                unreadable += 1
                continue
            except OSError:
                continue                    # exited meanwhile
            for name in names:
                try:
                    link = os.readlink(fds + name)
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inode = int(link[8:-1])
                    inode_pid[inode] = pid
                    missing.discard(inode)
            if not missing:
                return
            self._rest()
        self.unreadable = unreadable

    def _rest(self):
        """Sleep after each slice of work, long enough to keep to ``cpu_share``."""
        worked = time.monotonic() - self._resumed
        if worked >= _SLICE_S:
            self._closing.wait(worked * (1 - self.cpu_share) / self.cpu_share)
            self._resumed = time.monotonic()


_PORTS = struct.Struct("!HH")
_IN_P, _IN_B, _OUT_P, _OUT_B, _CONNS = range(5)     # a process's counts


def _split(key):
    """A flow key (source and destination addresses, then their ports, as they sit in
    the frame) -> (src, sport, dst, dport)."""
    size = (len(key) - 4) // 2
    sport, dport = _PORTS.unpack_from(key, 2 * size)
    return key[:size], sport, key[size:2 * size], dport


def _reverse(key):
    size = (len(key) - 4) // 2
    return key[size:2 * size] + key[:size] + key[-2:] + key[-4:-2]


class ProcessMonitor:
    """The process monitor (-P) as a sink: each direction of every TCP and UDP flow
    counted by its lane, summed per owning process (``owners``, an Owners) when asked.
    A flow silent for ``options.closed_lifetime`` is folded into its owners' totals
    and dropped; a full table folds its stalest sixteenth the same way."""

    def __init__(self, options, owners=None):
        self.options = options
        self.owners = owners
        self.flows = {6: {}, 17: {}}    # proto -> {flow key: [packets, bytes, last, out]}
        self.unported = [0, 0, 0, 0, 0]     # the rest (no ports): as a process's counts
        self.retired = {}               # Owner (None: no owner) -> counts of flows gone
        self.evicted = 0
        self.now = None
        self._rates = {}                # Owner -> (in b/s, out b/s) at the latest tick
        self._before = {}               # Owner -> (in bytes, out bytes) at that tick
        self._then = None
        self._max = options.max_entries

    def __repr__(self):
        return "ProcessMonitor(%d TCP flows, %d UDP flows)" % (len(self.flows[6]),
                                                               len(self.flows[17]))

    # the per-packet path

    def feed(self, frames, _shape=shapes.frame, _decode=decode):
        """The lane: a TCP or UDP packet of a known shape whose flow exists is counted
        in place (its addresses and ports, as they sit in the frame, are the key)."""
        tcp, udp = self.flows[6], self.flows[17]
        add = self.add
        for ts, ifindex, pkttype, linktype, data, n in frames:
            shape = _shape(linktype, data, n)
            if shape is not None:
                family, proto, off = shape
                table = tcp if proto == 6 else udp if proto == 17 else None
                if table is not None:
                    flow = table.get(data[off + 12:off + 24] if family == 4
                                     else data[off + 8:off + 44])
                    if flow is not None:
                        flow[0] += 1
                        flow[1] += n
                        flow[2] = ts
                        continue
            add(_decode(ts, ifindex, pkttype, linktype, data, n))

    def add(self, r):
        out = r[PKTTYPE] == PACKET_OUTGOING
        proto = r[PROTO]
        src, dst = r[IP_SRC], r[IP_DST]
        if src is None:
            src, dst = r[IP6_SRC], r[IP6_DST]
        if ((proto == 6 or proto == 17) and r[TUNNEL] is None and r[SPORT] is not None
                and src is not None):
            key = src + dst + _PORTS.pack(r[SPORT], r[DPORT])
            table = self.flows[proto]
            flow = table.get(key)
            if flow is None:
                if len(table) >= self._max:
                    gone = stalest(table.items(), len(table), _flow_age)
                    for old, counts in gone:
                        self._count(self.retired, proto, old, counts)
                        del table[old]
                    self.evicted += len(gone)
                table[key] = [1, r[LEN], r[TS], out]
            else:
                flow[0] += 1
                flow[1] += r[LEN]
                flow[2] = r[TS]
            return
        counts = self.unported
        if out:
            counts[_OUT_P] += 1
            counts[_OUT_B] += r[LEN]
        else:
            counts[_IN_P] += 1
            counts[_IN_B] += r[LEN]

    # time

    def tick(self, now):
        """Fold the flows silent for the closed lifetime into their owners' totals;
        the rates since the last tick."""
        linger = int(self.options.closed_lifetime * 1e9)
        for proto, table in self.flows.items():
            quiet = [item for item in table.items()
                     if item[1][2] is not None and now - item[1][2] >= linger]
            for key, flow in quiet:
                self._count(self.retired, proto, key, flow)
                del table[key]
        if len(self.retired) > _RETIRED_MAX:
            for owner in [o for o in self.retired if o is not None and o.gone]:
                del self.retired[owner]
        totals = self._totals()
        then, self._then, self.now = self._then, now, now
        before, self._before = self._before, {
            owner: (counts[_IN_B], counts[_OUT_B]) for owner, counts in totals.items()}
        self._rates = {}
        if then is None or now <= then:
            return
        span = (now - then) / 1e9
        for owner, counts in totals.items():
            was = before.get(owner)
            if was is not None:     # an owner found this tick brings its past: no rate yet
                self._rates[owner] = (max(0, counts[_IN_B] - was[0]) * 8 / span,
                                      max(0, counts[_OUT_B] - was[1]) * 8 / span)

    def _count(self, totals, proto, key, flow, table=None):
        """Add one direction of a flow to its owners' counts in ``totals``: the sender's
        out, the receiver's in; with no local owner at either end, to None's, by the
        capture's direction.  With ``table`` (the flow's own, live) the connection is
        counted too, once for its two directions."""
        src, sport, dst, dport = _split(key)
        owners = self.owners
        if owners is not None:
            sender = owners.owner(proto, src, sport, dst, dport)
            receiver = owners.owner(proto, dst, dport, src, sport)
        else:
            sender = receiver = None
        packets, size = flow[0], flow[1]
        if sender is None and receiver is None:
            counts = _counts_of(totals, None)
            if flow[3]:
                counts[_OUT_P] += packets
                counts[_OUT_B] += size
            else:
                counts[_IN_P] += packets
                counts[_IN_B] += size
            ends = (None,)
        else:
            if sender is not None:
                counts = _counts_of(totals, sender)
                counts[_OUT_P] += packets
                counts[_OUT_B] += size
            if receiver is not None:
                counts = _counts_of(totals, receiver)
                counts[_IN_P] += packets
                counts[_IN_B] += size
            ends = (sender,) if receiver is None or receiver is sender else (
                (receiver,) if sender is None else (sender, receiver))
        if table is not None:
            back = _reverse(key)
            if key <= back or back not in table:
                for owner in ends:
                    _counts_of(totals, owner)[_CONNS] += 1

    def _totals(self):
        """Owner -> counts, now: the retired flows', the live ones', the rest's."""
        totals = {owner: list(counts) for owner, counts in self.retired.items()}
        for proto, table in self.flows.items():
            for key, flow in table.items():
                self._count(totals, proto, key, flow, table)
        unknown = _counts_of(totals, None)
        for i, value in enumerate(self.unported):
            unknown[i] += value
        return totals

    # presentation data

    def snapshot(self, page=None, lazy=False):
        """{"processes": one row per owner, and one for no owner (``unknown``), by rate;
        "evicted"; "process_lookup"}.  ``page`` = (order, start, count), the order None
        (rate), "bytes", "packets", "connections" or "name", asks for one page, the
        number of rows then in "total"."""
        rates = self._rates
        rows = [(owner, counts, rates.get(owner, (0.0, 0.0)))
                for owner, counts in self._totals().items()]
        out = {}
        if page is not None:
            order, first, count = page
            out["total"] = len(rows)
            rows = page_of(rows, _ORDERS[order], first, count)
        else:
            rows.sort(key=_ORDERS[None])
        out["processes"] = [_row_json(row) for row in rows]
        out["evicted"] = self.evicted
        out["process_lookup"] = (self.owners.status() if self.owners is not None else
                                 {"complete": False, "unreadable": 0,
                                  "error": "no lookups (not a live capture)"})
        return out


def _counts_of(totals, owner):
    counts = totals.get(owner)
    if counts is None:
        counts = totals[owner] = [0, 0, 0, 0, 0]
    return counts


def _flow_age(item):
    return item[1][2] or 0


def _row_json(row):
    owner, counts, (in_bps, out_bps) = row
    out = owner.json() if owner is not None else {"pid": None, "comm": None, "uid": None,
                                                  "unknown": True}
    out.update({"in_bytes": counts[_IN_B], "out_bytes": counts[_OUT_B],
                "in_packets": counts[_IN_P], "out_packets": counts[_OUT_P],
                "connections": counts[_CONNS], "in_bps": in_bps, "out_bps": out_bps})
    return out


def _owner_text(owner):
    return "" if owner is None else owner.comm or ""


def _owner_pid(owner):
    return -1 if owner is None or owner.pid is None else owner.pid


# the orders of the rows: each largest first, ties by name and pid
_ORDERS = {
    None: lambda row: (-(row[2][0] + row[2][1]), -(row[1][_IN_B] + row[1][_OUT_B]),
                       _owner_text(row[0]), _owner_pid(row[0])),
    "bytes": lambda row: (-(row[1][_IN_B] + row[1][_OUT_B]), _owner_text(row[0]),
                          _owner_pid(row[0])),
    "packets": lambda row: (-(row[1][_IN_P] + row[1][_OUT_P]), _owner_text(row[0]),
                            _owner_pid(row[0])),
    "connections": lambda row: (-row[1][_CONNS], _owner_text(row[0]), _owner_pid(row[0])),
    "name": lambda row: (_owner_text(row[0]), _owner_pid(row[0])),
}
