"""Kernel-side accounting: per-facility eBPF socket filters that count every frame in a
per-CPU map and return 0, so that the frame is never copied to us.

``counter_for(facility, ...)`` builds the facility's program and maps (raising
``ebpf.BpfError`` when the kernel will not have them, ``NotInKernel`` when the facility
or an option needs every frame here).  The counter is then the capture's filter (its
``attach(sock)``) and the first sink of the monitor: at every tick (``sync()``) it reads
the maps once and adds what they counted since the last read into the facility's own
sink, whose snapshot is then exactly the one ring mode gives.

What a facility's program cannot decide the way the decoder would, it passes to the
socket (returns non-zero): those frames come through the ring and the facility's lane
counts them as in ring mode.

* ``-z`` (sizes): every frame in the kernel.  One lookup per frame (its direction's
  value: 21 bin counts, bytes, largest).
* ``-g`` (general): one lookup per frame in a per-CPU hash keyed by ifindex, whose value
  userspace creates per interface (with a flag word: Ethernet, loopback).  Counted in
  the kernel: Ethernet frames whose ethertype (after the VLAN tag the kernel strips) is
  IPv4 with a 20-byte header, a total length of at least 20 and a good checksum, IPv6
  carrying TCP, UDP or ICMPv6 whose payload length fits the frame, and other
  ethertypes that are not framing (VLAN, MPLS, PPPoE...) nor 802.3 lengths.  The rest
  (bad checksums, options, extension headers, framing, runts, interfaces that are not
  Ethernet or are new since the last tick) go to the ring, so bad IP is still counted.

* ``-i`` (traffic): the TCP packets of the connections the traffic monitor has routed
  (``TrafficCounter``): one hash lookup per frame; SYN, FIN and RST, and every other
  frame, go to the ring.

With ``-F``, every program begins with the filter's classic program translated to eBPF
(``filter.extended``): a frame it rejects returns 0 there, counted nowhere, as the
frames SO_ATTACH_FILTER turns away in ring mode never reach us; the program goes on with
the frames it accepts.

Wire lengths are the skb's length plus 4 when the kernel stripped a VLAN tag (ring mode
puts it back); the outgoing copy of a loopback frame is not counted, as in ring mode.
"""
import struct
import time

from ..capture import ebpf
from ..capture.ebpf import (
    B, DW, H, HELPER_KTIME_GET_NS, HELPER_MAP_LOOKUP, HELPER_MAP_UPDATE,
    HELPER_SKB_LOAD_BYTES, R0, R1, R2, R3, R4, R6, R7, R8, R9, R10,
    SKB_IFINDEX, SKB_LEN, SKB_PKT_TYPE, SKB_VLAN_PRESENT, W, Asm,
)
from ..capture.ifaces import ARPHRD_LOOPBACK, list_interfaces
from ..decoding.ip import IPPROTO_DECODERS
from ..decoding.link import ETHERTYPE_DECODERS
from ..decoding.transport import UDP_TUNNEL_PORTS
from ..filter import extended
from . import counters

__all__ = ["NotInKernel", "counter_for", "KERNEL_FACILITIES"]

KERNEL_FACILITIES = ("sizes", "general", "detailed", "services", "lan", "traffic")
_PASS = -1                      # hand the whole frame to the socket (the ring)
_OUTGOING = 4
_BINS = 21
_SIZE_VALUE = struct.Struct("=%dQ" % (_BINS + 2))    # bins, bytes, largest
_IF_VALUE = struct.Struct("=8Q")
_SERVICE_VALUE = struct.Struct("=5Q")    # in packets, bytes, out packets, bytes, last
_STATION_VALUE = struct.Struct("=7Q")    # in packets, bytes, IP; out the same; last
_LRU_BYTES = 64 << 20          # the most an LRU map's per-CPU values may take    # ipv4 pk/bytes, ipv6 pk/bytes, nonip pk/bytes, last, flags
_ETHERNET, _LOOPBACK = 1, 2
_FRAMING = sorted(e for e in ETHERTYPE_DECODERS if e >= 0x600)
_WALKED = sorted(IPPROTO_DECODERS)
_LAST, _FLAGS = 48, 56


class NotInKernel(Exception):
    """This run needs every frame in userspace (or has no kernel program yet)."""


def counter_for(facility, ifname, mtu, link_header, max_entries=65536, prefilter=None,
                snaplen=1 << 18):
    """The kernel counter for ``facility`` on ``ifname`` (None: every interface);
    ``prefilter``: -F's classic program (a filter.Program, compiled for the interface's
    link type, live), run before the counting, or None; ``snaplen``: what the ring keeps
    of a frame."""
    if prefilter is not None:
        try:
            extended.check(prefilter)
        except extended.NotTranslatable as e:
            raise NotInKernel(str(e))
    ifaces = [i for i in list_interfaces() if ifname in (None, i.name)]
    loopbacks = [i.index for i in ifaces if i.arphrd == ARPHRD_LOOPBACK]
    if facility == "traffic":
        return TrafficCounter(loopbacks, snaplen, max_entries, prefilter)
    if facility == "sizes":
        return SizeCounter(mtu + link_header, max(1, mtu // (_BINS - 1)), loopbacks,
                           prefilter)
    if facility == "detailed":
        if any(i.linktype != 1 for i in ifaces):
            raise NotInKernel("the kernel program reads Ethernet frames only")
        return DetailedCounter(loopbacks, prefilter)
    if facility == "services":
        if any(i.linktype != 1 for i in ifaces):
            raise NotInKernel("the kernel program reads Ethernet frames only")
        return ServiceCounter(loopbacks, max_entries, snaplen, prefilter)
    if facility == "lan":
        if ifname is None or len(ifaces) != 1 or ifaces[0].linktype != 1:
            raise NotInKernel("the kernel program reads one Ethernet interface")
        return LanCounter(ifaces[0].index, loopbacks, max_entries, prefilter)
    if facility == "general":
        return GeneralCounter(ifname, prefilter)
    raise NotInKernel("the %s facility has no kernel program yet" % facility)


def _wire_length(a, dst):
    """dst = skb->len + 4 when the kernel took out a VLAN tag (R1 clobbered)."""
    a.ldx(W, dst, R6, SKB_LEN)
    a.ldx(W, R1, R6, SKB_VLAN_PRESENT)
    a.alu("lsh", R1, 2)
    a.alu("add", dst, Asm.reg(R1))


def _lookup(a, bpf_map, key_reg, missing):
    """R0 = the map's value under the key in ``key_reg`` (the map's key size: 4 or 8
    bytes, kept at the stack's top); to ``missing`` if none."""
    size = bpf_map.key_size
    a.stx(W if size == 4 else DW, R10, -size, key_reg)
    a.alu("mov", R2, Asm.reg(R10))
    a.alu("add", R2, -size)
    a.ld_map(R1, bpf_map)
    a.call(HELPER_MAP_LOOKUP)
    a.jmp("jeq", R0, 0, missing)


def _lookup_or_insert(a, bpf_map, key_reg, tag):
    """R0 = the map's value under ``key_reg``, made (zero) when missing; to "pass" when
    it cannot be (labels are ``tag``'s)."""
    _lookup(a, bpf_map, key_reg, tag + "_new")
    a.goto(tag + "_found")
    a.label(tag + "_new")
    zero = -16 - (bpf_map.value_size + 7) // 8 * 8     # below the key
    for off in range(0, bpf_map.value_size, 8):
        a.st(DW, R10, zero + off, 0)
    a.alu("mov", R2, Asm.reg(R10))
    a.alu("add", R2, -bpf_map.key_size)
    a.alu("mov", R3, Asm.reg(R10))
    a.alu("add", R3, zero)
    a.alu("mov", R4, 1)                         # BPF_NOEXIST
    a.ld_map(R1, bpf_map)
    a.call(HELPER_MAP_UPDATE)
    _lookup(a, bpf_map, key_reg, "pass")
    a.label(tag + "_found")


def _add(a, ptr, off, operand):
    """*(u64 *)(ptr + off) += operand (per-CPU: no other writer, no atomics)."""
    a.ldx(DW, R1, ptr, off)
    a.alu("add", R1, operand)
    a.stx(DW, ptr, off, R1)


def _ret(a, value):
    a.alu("mov", R0, value)
    a.exit()


def _direction(a, loopbacks, dst):
    """dst = 2 out, 1 in, 0 unknown, from the packet type (R1, R2 clobbered); the
    outgoing copies of the ``loopbacks``' frames go to "skip" (not counted, as in ring
    mode)."""
    a.ldx(W, R2, R6, SKB_PKT_TYPE)
    if loopbacks:
        a.jmp("jne", R2, _OUTGOING, "counted")
        a.ldx(W, R1, R6, SKB_IFINDEX)
        for index in loopbacks:
            a.jmp("jeq", R1, index, "skip")
        a.label("counted")
    a.alu("mov", dst, 2)
    a.jmp("jeq", R2, _OUTGOING, "direction")
    a.alu("mov", dst, 1)
    a.jmp("jle", R2, 3, "direction")
    a.alu("mov", dst, 0)
    a.label("direction")


def _classify(a):
    """The family of an Ethernet frame, decided as the decoder would or not at all: jumps
    to "ipv4" or "ipv6" (R0: the IP protocol, which the decoder takes as the transport),
    "nonip", or "pass" (to the ring: what only the decoder can judge).  R7 = skb->len;
    R9 is clobbered."""
    a.ldx(W, R7, R6, SKB_LEN)
    a.jmp("jlt", R7, 14, "pass")
    a.ld_abs(H, 12)
    a.jmp("jeq", R0, 0x0800, "_ipv4")
    a.jmp("jeq", R0, 0x86DD, "_ipv6")
    a.jmp("jlt", R0, 0x600, "pass")                 # 802.3: LLC, SNAP
    for ethertype in _FRAMING:
        a.jmp("jeq", R0, ethertype, "pass")
    a.goto("nonip")
    a.label("_ipv4")
    a.jmp("jlt", R7, 34, "pass")
    a.ld_abs(B, 14)
    a.jmp("jne", R0, 0x45, "pass")                  # options: the decoder's
    a.ld_abs(H, 16)
    a.jmp("jlt", R0, 20, "pass")                    # a bad total length
    # the header's 16-bit words summed, mod 0xFFFF: not 0 is a bad checksum (the ring's
    # test, int.from_bytes(header) % 0xFFFF, since 2**16 = 1 mod 0xFFFF); to the ring
    a.alu("mov", R9, 0)
    for off in range(14, 34, 2):
        a.ld_abs(H, off)
        a.alu("add", R9, Asm.reg(R0))
    a.alu("mod", R9, 0xFFFF)
    a.jmp("jne", R9, 0, "pass")
    a.ld_abs(B, 23)
    _pass_walked(a)
    a.goto("ipv4")
    a.label("_ipv6")
    a.jmp("jlt", R7, 54, "pass")
    a.ld_abs(B, 14)
    a.alu("rsh", R0, 4)
    a.jmp("jne", R0, 6, "pass")
    a.ld_abs(H, 18)
    a.alu("add", R0, 54)
    a.jmp("jgt", R0, Asm.reg(R7), "pass")           # a payload longer than the frame
    a.ld_abs(B, 20)
    _pass_walked(a)
    a.goto("ipv6")


def _pass_walked(a):
    """To the ring: IP protocols the decoder walks through (extension headers, AH,
    tunnels), whose transport only it can tell."""
    for proto in _WALKED:
        a.jmp("jeq", R0, proto, "pass")


class _Counter(object):
    """What every kernel counter shares: the program, its maps, closing them."""

    def __init__(self, prefilter):
        self.maps = []
        self.program = None
        self.prefilter = prefilter
        self.sink = self.monitor = None
        self.kernel_packets = 0

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.program)

    def _start(self):
        """Every program's beginning: R6 = the context, then -F's filter, if any (a
        frame it rejects returns 0: counted nowhere)."""
        a = Asm()
        a.alu("mov", R6, Asm.reg(R1))
        if self.prefilter is not None:
            extended.emit(a, self.prefilter)
        return a

    def _load(self, code, name):
        try:
            self.program = ebpf.Program(code, name)
        except BaseException:
            self.close()
            raise

    def attach(self, sock):
        self.program.attach(sock)

    def bind(self, sink, monitor):
        """The facility's sink the maps add into, and the monitor whose frame count
        the kernel's frames join."""
        self.sink, self.monitor = sink, monitor

    # a sink of the monitor, the first: it brings the kernel's counts in before the
    # facility's own tick computes rates from them

    def add(self, record):
        pass

    def feed(self, frames):
        pass

    def tick(self, now):
        if self.maps:                 # closed with a capture that ended: counts are in
            self.sync()

    def _read_lru(self, value, width, frames_of):
        """An LRU map's entries whose counts moved since the last read, as (key,
        counts, counts before, last seen), its per-CPU values summed (each value:
        ``width`` counts, then the time); the entries the kernel's LRU let go are
        counted evicted and their frames kept.  Also returns every frame counted so
        far, by ``frames_of(counts)``."""
        seen, now, changed = self._seen, {}, []
        for key, values in self.map.items():
            per_cpu = [value.unpack(v) for v in values]
            counts = tuple(sum(c[i] for c in per_cpu) for i in range(width))
            now[key] = counts
            before = seen.get(key, (0,) * width)
            if counts != before:
                changed.append((key, counts, before,
                                max(c[width] for c in per_cpu) + self._epoch))
        for key, counts in seen.items():
            if key not in now:              # the kernel's LRU let it go
                self.sink.evicted += 1
                self._gone += frames_of(counts)
        self._seen = now
        return changed, self._gone + sum(frames_of(c) for c in now.values())

    def _bring_packets(self, total):
        """The kernel's frames join the envelope's capture.packets."""
        self.monitor.packets += total - self.kernel_packets
        self.kernel_packets = total

    def snapshot(self, lazy=False):
        return {}

    def close(self):
        """The last counts brought in, then every fd closed (the capture closes its
        filter, the counter, on every way out)."""
        if self.sink is not None and self.maps:
            try:
                self.sync()
            except OSError:
                pass          # a map read failing now loses only the last interval
        if self.program is not None:
            self.program.close()
            self.program = None
        for m in self.maps:
            m.close()
        del self.maps[:]


class SizeCounter(_Counter):
    """-z: a per-CPU array of three values (unknown, in, out direction)."""

    def __init__(self, top, width, loopbacks, prefilter=None):
        _Counter.__init__(self, prefilter)
        self.top, self.width = top, width
        self.map = ebpf.Map(ebpf.MAP_PERCPU_ARRAY, 4, _SIZE_VALUE.size, 3, "iptraf_sizes")
        self.maps.append(self.map)
        self._seen = [[0] * (_BINS + 2) for _ in range(3)]
        self._load(self._code(loopbacks), "iptraf_sizes")

    def _code(self, loopbacks):
        a = self._start()
        _direction(a, loopbacks, R9)
        _lookup(a, self.map, R9, "skip")
        a.alu("mov", R8, Asm.reg(R0))
        _wire_length(a, R7)
        a.alu("mov", R2, 8 * (_BINS - 1))          # oversized
        a.jmp("jgt", R7, self.top, "bin")
        a.alu("mov", R2, 0)
        a.jmp("jeq", R7, 0, "bin")
        a.alu("mov", R2, Asm.reg(R7))
        a.alu("sub", R2, 1)
        a.alu("div", R2, self.width)
        a.jmp("jle", R2, _BINS - 2, "scale")
        a.alu("mov", R2, _BINS - 2)
        a.label("scale")
        a.alu("lsh", R2, 3)
        a.label("bin")
        a.alu("add", R2, Asm.reg(R8))
        a.ldx(DW, R1, R2, 0)
        a.alu("add", R1, 1)
        a.stx(DW, R2, 0, R1)
        _add(a, R8, 8 * _BINS, Asm.reg(R7))
        a.ldx(DW, R1, R8, 8 * (_BINS + 1))
        a.jmp("jge", R1, Asm.reg(R7), "skip")
        a.stx(DW, R8, 8 * (_BINS + 1), R7)
        a.label("skip")
        _ret(a, 0)
        return a.code()

    def sync(self):
        counts = self.sink._counts
        total = 0
        for key, values in self.map.items():
            d = struct.unpack("=I", key)[0]
            per_cpu = [_SIZE_VALUE.unpack(v) for v in values]
            now = [sum(c[i] for c in per_cpu) for i in range(_BINS + 1)]
            seen, c = self._seen[d], counts[d]
            for i in range(_BINS + 1):
                c[i] += now[i] - seen[i]
                seen[i] = now[i]
            largest = max(c[_BINS + 1] for c in per_cpu)
            if largest > counts[d][_BINS + 1]:
                counts[d][_BINS + 1] = largest
            total += sum(now[:_BINS])
        self._bring_packets(total)


class GeneralCounter(_Counter):
    """-g: a per-CPU hash of per-interface values; interfaces it has no entry for yet
    are passed to the ring (and get one at the next tick)."""

    def __init__(self, ifname, prefilter=None):
        _Counter.__init__(self, prefilter)
        self.ifname = ifname
        self.map = ebpf.Map(ebpf.MAP_PERCPU_HASH, 4, _IF_VALUE.size, 4096, "iptraf_ifaces")
        self.maps.append(self.map)
        self._seen = {}
        # ktime (CLOCK_MONOTONIC) to the epoch, for an interface's last frame
        self._epoch = int(time.time() * 1e9) - int(time.monotonic() * 1e9)
        self._load(self._code(), "iptraf_general")
        self._known = set()
        self._enter_interfaces()

    def _enter_interfaces(self):
        for i in list_interfaces():
            if i.index in self._known or (self.ifname is not None and i.name != self.ifname):
                continue
            flags = (_ETHERNET if i.linktype == 1 else 0) | (
                _LOOPBACK if i.arphrd == ARPHRD_LOOPBACK else 0)
            self.map.update(struct.pack("=I", i.index), _IF_VALUE.pack(0, 0, 0, 0, 0, 0, 0,
                                                                        flags))
            self._known.add(i.index)

    def _code(self):
        a = self._start()
        a.ldx(W, R7, R6, SKB_IFINDEX)
        _lookup(a, self.map, R7, "pass")
        a.alu("mov", R8, Asm.reg(R0))
        a.ldx(DW, R9, R8, _FLAGS)
        a.ldx(W, R1, R6, SKB_PKT_TYPE)
        a.jmp("jne", R1, _OUTGOING, "not_lo_out")
        a.jmp("jset", R9, _LOOPBACK, "skip")
        a.label("not_lo_out")
        a.jmp("jset", R9, _ETHERNET, "ethernet")
        a.goto("pass")
        a.label("ethernet")
        _classify(a)
        a.label("ipv4")
        a.goto("count0")
        a.label("ipv6")
        a.goto("count1")
        a.label("nonip")
        a.goto("count2")
        for family in range(3):
            a.label("count%d" % family)
            _wire_length(a, R7)
            _add(a, R8, 16 * family, 1)
            _add(a, R8, 16 * family + 8, Asm.reg(R7))
            a.goto("stamp")
        a.label("stamp")
        a.call(HELPER_KTIME_GET_NS)
        a.stx(DW, R8, _LAST, R0)
        a.label("skip")
        _ret(a, 0)
        a.label("pass")
        _ret(a, _PASS)
        return a.code()

    def sync(self):
        table = self.sink.interfaces
        total = 0
        for key, values in self.map.items():
            ifindex = struct.unpack("=I", key)[0]
            per_cpu = [_IF_VALUE.unpack(v) for v in values]
            now = [sum(c[i] for c in per_cpu) for i in range(6)]
            total += now[0] + now[2] + now[4]
            seen = self._seen.get(ifindex, (0,) * 6)
            if now == list(seen):
                continue
            self._seen[ifindex] = now
            last = max(c[6] for c in per_cpu) + self._epoch
            e = table.get(ifindex)
            if e is None:
                e = self.sink._new(ifindex, last)
            e.ipv4 += now[0] - seen[0]
            e.ipv4_bytes += now[1] - seen[1]
            e.ipv6 += now[2] - seen[2]
            e.ipv6_bytes += now[3] - seen[3]
            e.nonip += now[4] - seen[4]
            e.nonip_bytes += now[5] - seen[5]
            if e.last is None or last > e.last:
                e.last = last
        self._bring_packets(total)
        self._enter_interfaces()


class DetailedCounter(_Counter):
    """-d: a per-CPU array of DetailedStats's cells (direction + kind + group), each a
    packets and bytes pair: one lookup per frame.  Checksum errors, options and what
    the decoder must walk go to the ring, where DetailedStats counts them itself."""

    def __init__(self, loopbacks, prefilter=None):
        _Counter.__init__(self, prefilter)
        cells = 3 * counters._GROUP
        self.map = ebpf.Map(ebpf.MAP_PERCPU_ARRAY, 4, 16, cells, "iptraf_detail")
        self.maps.append(self.map)
        self._seen = [(0, 0)] * cells
        self._started = int(time.time() * 1e9)
        self._load(self._code(loopbacks), "iptraf_detailed")

    def _code(self, loopbacks):
        a = self._start()
        _direction(a, loopbacks, R8)
        _classify(a)
        for family, kinds, other in (("ipv4", counters._KIND_IPV4, counters._OTHER_IPV4),
                                     ("ipv6", counters._KIND_IPV6, counters._OTHER_IPV6)):
            a.label(family)
            a.alu("mov", R9, other)
            for proto, cell in sorted(kinds.items()):
                a.jmp("jne", R0, proto, "%s_not%d" % (family, proto))
                a.alu("mov", R9, cell)
                a.goto("group")
                a.label("%s_not%d" % (family, proto))
            a.goto("group")
        a.label("nonip")
        a.alu("mov", R9, counters._KIND_NONIP)
        a.label("group")                        # by the destination MAC, as ring mode
        a.ld_abs(B, 0)
        a.jmp("jset", R0, 1, "grouped")
        a.goto("cell")
        a.label("grouped")
        for off in (0, 2, 4):
            a.ld_abs(H, off)
            a.jmp("jne", R0, 0xFFFF, "multicast")
        a.alu("add", R9, counters._GROUP)
        a.goto("cell")
        a.label("multicast")
        a.alu("add", R9, 2 * counters._GROUP)
        a.label("cell")
        a.alu("add", R9, Asm.reg(R8))
        _lookup(a, self.map, R9, "skip")
        a.alu("mov", R8, Asm.reg(R0))
        _wire_length(a, R7)
        _add(a, R8, 0, 1)
        _add(a, R8, 8, Asm.reg(R7))
        a.label("skip")
        _ret(a, 0)
        a.label("pass")
        _ret(a, _PASS)
        return a.code()

    def sync(self):
        sink = self.sink
        total = 0
        for key, values in self.map.items():
            cell = struct.unpack("=I", key)[0]
            pairs = [struct.unpack("=QQ", v) for v in values]
            packets, nbytes = sum(p for p, _ in pairs), sum(n for _, n in pairs)
            total += packets
            seen = self._seen[cell]
            if packets != seen[0]:
                sink.packets[cell] += packets - seen[0]
                sink.bytes[cell] += nbytes - seen[1]
                self._seen[cell] = (packets, nbytes)
        if total and sink._span.start is None:
            sink._span.start = self._started     # the first span: from the start
        self._bring_packets(total)


class ServiceCounter(_Counter):
    """-s: an LRU per-CPU hash keyed by protocol << 16 | service port, each value in and
    out packets and bytes and the last time (one lookup per TCP or UDP frame; a new
    service costs an insert and a second lookup), and a per-CPU count of the frames that
    are neither (for capture.packets).  Only the frames the fast lane would read in
    place (``shapes.frame``'s conditions) are counted here; fragments, tunnels' UDP
    ports, odd headers go to the ring.  The LRU holds twice the table's bound, so that
    the table's own eviction comes first; what the kernel evicts between two reads is
    lost and counted in ``evicted``."""

    def __init__(self, loopbacks, max_entries, snaplen, prefilter=None):
        _Counter.__init__(self, prefilter)
        self.map = ebpf.Map(ebpf.MAP_LRU_PERCPU_HASH, 4, _SERVICE_VALUE.size,
                            _lru_entries(max_entries, _SERVICE_VALUE.size), "iptraf_services")
        self.maps.append(self.map)
        self.others = ebpf.Map(ebpf.MAP_PERCPU_ARRAY, 4, 8, 1, "iptraf_others")
        self.maps.append(self.others)
        self._seen = {}
        self._gone = 0                  # packets of the services the kernel evicted
        self._epoch = int(time.time() * 1e9) - int(time.monotonic() * 1e9)
        self._load(self._code(loopbacks, snaplen), "iptraf_services")

    def _code(self, loopbacks, snaplen):
        a = self._start()
        _direction(a, loopbacks, R8)                # only for the loopback skip
        _classify(a)
        for family, l4, length in (("ipv4", 34, 16), ("ipv6", 54, 18)):
            a.label(family)
            a.alu("mov", R9, Asm.reg(R0))
            a.jmp("jeq", R9, 6, family + "_tcp")
            a.jmp("jeq", R9, 17, family + "_udp")
            a.goto("other")
            # R8: the IP payload's length as the header says
            a.label(family + "_tcp")
            _ip_payload(a, family, length)
            a.jmp("jlt", R8, 20, "pass")
            a.jmp("jlt", R7, l4 + 20, "pass")
            _whole_tcp_header(a, l4, snaplen)
            a.goto(family + "_ports")
            a.label(family + "_udp")
            _ip_payload(a, family, length)
            a.jmp("jlt", R8, 8, "pass")
            a.jmp("jlt", R7, l4 + 8, "pass")
            a.ld_abs(H, l4 + 2)
            for port in sorted(UDP_TUNNEL_PORTS):
                a.jmp("jeq", R0, port, "pass")
            a.label(family + "_ports")
            a.ld_abs(H, l4)
            a.alu("mov", R8, Asm.reg(R0))           # R8 source port
            a.ld_abs(H, l4 + 2)                     # R0 destination port
            a.goto("service")
        a.label("service")
        # from the service (sport < dport): out, key sport; else in, key dport.  R7: the
        # value's offset of the direction's pair
        a.alu("lsh", R9, 16)
        a.jmp("jge", R8, Asm.reg(R0), "towards")
        a.alu("or", R9, Asm.reg(R8))
        a.alu("mov", R7, 16)
        a.goto("key")
        a.label("towards")
        a.alu("or", R9, Asm.reg(R0))
        a.alu("mov", R7, 0)
        a.label("key")
        _lookup_or_insert(a, self.map, R9, "service")
        a.alu("add", R7, Asm.reg(R0))
        a.alu("mov", R8, Asm.reg(R0))
        _wire_length(a, R9)
        _add(a, R7, 0, 1)
        _add(a, R7, 8, Asm.reg(R9))
        a.call(HELPER_KTIME_GET_NS)
        a.stx(DW, R8, 32, R0)
        _ret(a, 0)
        a.label("nonip")
        a.label("other")
        a.alu("mov", R9, 0)
        _lookup(a, self.others, R9, "skip")
        _add(a, R0, 0, 1)
        a.label("skip")
        _ret(a, 0)
        a.label("pass")
        _ret(a, _PASS)
        return a.code()

    def sync(self):
        sink = self.sink
        changed, frames = self._read_lru(_SERVICE_VALUE, 4, _service_frames)
        for key, counts, before, last in changed:
            service = struct.unpack("=I", key)[0]
            e = sink.services.get(service)
            if e is None:
                e = sink._new(service, last)
            _add_deltas(e, _SERVICE_FIELDS, counts, before, last)
        others = sum(struct.unpack("=Q", v)[0] for v in self.others.lookup(bytes(4)))
        self._bring_packets(frames + others)


_SERVICE_FIELDS = ("in_packets", "in_bytes", "out_packets", "out_bytes")
_STATION_FIELDS = ("in_packets", "in_bytes", "in_ip", "out_packets", "out_bytes", "out_ip")


def _service_frames(counts):
    return counts[0] + counts[2]


def _station_frames(counts):
    return counts[3]


def _add_deltas(entry, fields, counts, before, last):
    """What an LRU entry counted since the last read, into the sink's entry."""
    for name, new, old in zip(fields, counts, before):
        setattr(entry, name, getattr(entry, name) + new - old)
    if entry.last is None or last > entry.last:
        entry.last = last


def _lru_entries(max_entries, value_size):
    """Twice the table's bound, unless the per-CPU values would pass _LRU_BYTES (on a
    machine of many CPUs): then as many as fit, at least 1024."""
    per_entry = (value_size + 7) // 8 * 8 * ebpf.possible_cpus()
    return max(1024, min(2 * max_entries, _LRU_BYTES // per_entry))


def _ip_payload(a, family, length):
    """R8 = the IP payload's length from the header (IPv4: not a fragment, and its total
    length within the frame, as shapes.frame asks; else to the ring)."""
    a.ld_abs(H, length)
    a.alu("mov", R8, Asm.reg(R0))
    if family == "ipv4":
        a.alu("add", R0, 14)
        a.jmp("jgt", R0, Asm.reg(R7), "pass")
        a.alu("sub", R8, 20)
        a.ld_abs(H, 20)
        a.alu("and", R0, 0x3FFF)
        a.jmp("jne", R0, 0, "pass")
    else:
        a.jmp("jeq", R8, 0, "pass")


class LanCounter(_Counter):
    """-l: an LRU per-CPU hash keyed by MAC address, each value in and out packets,
    bytes and IP packets and the last time: two lookups per frame (the sender's out, the
    receiver's in).  Counted here: Ethernet frames whose ethertype is their own, as the
    fast lane reads them (after the VLAN tag the kernel strips, which changes no MAC);
    the rest (802.3, framing ethertypes, runts) go to the ring.  The LRU holds twice the
    table's bound; a station the kernel evicts between two reads counts in ``evicted``."""

    def __init__(self, ifindex, loopbacks, max_entries, prefilter=None):
        _Counter.__init__(self, prefilter)
        self.ifindex = ifindex
        self.map = ebpf.Map(ebpf.MAP_LRU_PERCPU_HASH, 8, _STATION_VALUE.size,
                            _lru_entries(max_entries, _STATION_VALUE.size), "iptraf_lan")
        self.maps.append(self.map)
        self._seen = {}
        self._gone = 0
        self._epoch = int(time.time() * 1e9) - int(time.monotonic() * 1e9)
        self._load(self._code(loopbacks), "iptraf_lan")

    def _code(self, loopbacks):
        a = self._start()
        _direction(a, loopbacks, R8)
        a.ldx(W, R7, R6, SKB_LEN)
        a.jmp("jlt", R7, 14, "pass")
        a.ld_abs(H, 12)
        a.jmp("jlt", R0, 0x600, "pass")
        for ethertype in _FRAMING:
            a.jmp("jeq", R0, ethertype, "pass")
        a.alu("mov", R8, 0)                         # R8: 1 for IP
        a.jmp("jeq", R0, 0x0800, "ip")
        a.jmp("jne", R0, 0x86DD, "macs")
        a.label("ip")
        a.alu("mov", R8, 1)
        a.label("macs")
        for tag, at, offset in (("src", 6, 24), ("dst", 0, 0)):
            a.ld_abs(W, at)                         # the MAC as a 48-bit number
            a.alu("mov", R9, Asm.reg(R0))
            a.alu("lsh", R9, 16)
            a.ld_abs(H, at + 4)
            a.alu("or", R9, Asm.reg(R0))
            _lookup_or_insert(a, self.map, R9, tag)
            a.alu("mov", R9, Asm.reg(R0))
            _wire_length(a, R7)
            _add(a, R9, offset, 1)
            _add(a, R9, offset + 8, Asm.reg(R7))
            _add(a, R9, offset + 16, Asm.reg(R8))
            a.call(HELPER_KTIME_GET_NS)
            a.stx(DW, R9, 48, R0)
        a.label("skip")
        _ret(a, 0)
        a.label("pass")
        _ret(a, _PASS)
        return a.code()

    def sync(self):
        sink = self.sink
        table = sink.tables.get(self.ifindex)
        if table is None:
            table = sink.tables[self.ifindex] = {}
        # every frame is one sender's out
        changed, frames = self._read_lru(_STATION_VALUE, 6, _station_frames)
        for key, counts, before, last in changed:
            mac = struct.unpack("=Q", key)[0].to_bytes(6, "big")
            e = table.get(mac)
            if e is None:
                e = sink._new(table, self.ifindex, mac, last)
            _add_deltas(e, _STATION_FIELDS, counts, before, last)
        self._bring_packets(frames)


_CONN_VALUE = struct.Struct("=4Q5I4x")   # packets, bytes, IP bytes, last; the last
#                                          packet's flags, window, size; the OR of the
#                                          flags; frozen
_PACKETS, _BYTES, _OCTETS, _CONN_LAST = 0, 8, 16, 24
_CONN_FLAGS, _WIN, _SIZE, _SEEN, _FROZEN = 32, 36, 40, 44, 48
_CONTROL = 0x07                 # FIN, SYN, RST: what changes a connection's state
_IFINDEX = struct.Struct("=I")


class TrafficCounter(_Counter):
    """-i: a hash per IP family keyed by one direction of a TCP connection, the bytes
    that route it in the traffic monitor (addresses and ports as they sit in the
    frame) and the interface index.  Userspace makes an entry when the monitor routes a
    direction (its second packet that way, no FIN or RST yet: ``register``); from then
    on the program counts that direction's packets in it, one lookup per frame, and
    keeps the last packet's flags, window, size and time: what the monitor's lane keeps.

    Everything else goes to the ring: other protocols, connections without an entry,
    shapes the lane would not read in place (``shapes.frame``'s conditions are
    mirrored), and every SYN, FIN and RST.  Such a control packet also freezes both
    directions' entries, so that from then on the connection's packets reach the
    monitor in order through the ring (a FIN's acknowledgment must meet its FIN's
    state).  So every packet the kernel counts came after the ring packets of its
    direction that made the entry, and before any that came after a freeze; at each
    read the kernel's last packet is taken where it is later than the ring's (ktime on
    the epoch's clock), which also puts right a ring packet read after the kernel's
    newer ones.

    The entries are userspace's to make and delete, never evicted by the kernel: a read
    drops those of the connections the monitor no longer has (closed, idle, evicted),
    their last counts joining capture.packets.  The values are shared by every CPU
    (atomic adds), so that a freeze is seen everywhere."""

    def __init__(self, loopbacks, snaplen, max_entries, prefilter=None):
        _Counter.__init__(self, prefilter)
        entries = max(1024, 2 * max_entries)
        self.v4 = ebpf.Map(ebpf.MAP_HASH, 16, _CONN_VALUE.size, entries, "iptraf_tcp4",
                           ebpf.MAP_NO_PREALLOC)
        self.maps.append(self.v4)
        self.v6 = ebpf.Map(ebpf.MAP_HASH, 40, _CONN_VALUE.size, entries, "iptraf_tcp6",
                           ebpf.MAP_NO_PREALLOC)
        self.maps.append(self.v6)
        # key -> [touched, its value and last packet's time as last read, the packets,
        # bytes and IP bytes brought in]
        self._entries = {}
        self._gone = 0              # packets of the entries dropped
        self._ethernet = {}         # ifindex -> whether the program reads its frames
        self._epoch = int(time.time() * 1e9) - int(time.monotonic() * 1e9)
        self._load(self._code(loopbacks, snaplen), "iptraf_traffic")

    def bind(self, sink, monitor):
        _Counter.bind(self, sink, monitor)
        sink.on_route = self.register

    def _code(self, loopbacks, snaplen):
        a = self._start()
        _direction(a, loopbacks, R8)                # only for the loopback skip
        a.ldx(W, R7, R6, SKB_LEN)
        a.jmp("jlt", R7, 54, "pass")
        a.ld_abs(H, 12)
        a.jmp("jeq", R0, 0x86DD, "ipv6")
        a.jmp("jne", R0, 0x0800, "pass")
        # R8: the IP header's length of its payload; R7: the frame's (then IP bytes)
        a.ld_abs(B, 14)
        a.jmp("jne", R0, 0x45, "pass")
        a.ld_abs(B, 23)
        a.jmp("jne", R0, 6, "pass")
        a.ld_abs(H, 20)
        a.alu("and", R0, 0x3FFF)
        a.jmp("jne", R0, 0, "pass")                 # a fragment
        a.ld_abs(H, 16)
        a.jmp("jlt", R0, 40, "pass")
        a.alu("mov", R1, Asm.reg(R7))
        a.alu("sub", R1, 14)
        a.jmp("jgt", R0, Asm.reg(R1), "pass")       # longer than the frame
        a.alu("mov", R8, Asm.reg(R0))
        a.alu("mov", R9, Asm.reg(R0))
        a.alu("sub", R8, 20)
        _whole_tcp_header(a, 34, snaplen)
        a.alu("mov", R7, Asm.reg(R9))
        a.ld_abs(H, 46)
        a.alu("mov", R9, Asm.reg(R0))               # data offset and flags
        self._count(a, "ipv4", self.v4, 26, 12, 48)
        a.label("ipv6")
        a.jmp("jlt", R7, 74, "pass")
        a.ld_abs(B, 14)
        a.alu("rsh", R0, 4)
        a.jmp("jne", R0, 6, "pass")
        a.ld_abs(B, 20)
        a.jmp("jne", R0, 6, "pass")                 # extension headers: the decoder's
        a.ld_abs(H, 18)
        a.jmp("jlt", R0, 20, "pass")
        a.alu("mov", R1, Asm.reg(R7))
        a.alu("sub", R1, 54)
        a.jmp("jgt", R0, Asm.reg(R1), "pass")
        a.alu("mov", R8, Asm.reg(R0))
        _whole_tcp_header(a, 54, snaplen)
        a.alu("mov", R7, Asm.reg(R8))
        a.alu("add", R7, 40)
        a.ld_abs(H, 66)
        a.alu("mov", R9, Asm.reg(R0))
        self._count(a, "ipv6", self.v6, 22, 36, 68)
        a.label("skip")
        _ret(a, 0)
        a.label("pass")
        _ret(a, _PASS)
        return a.code()

    @staticmethod
    def _count(a, tag, bpf_map, at, size, window):
        """The key (``size`` bytes of addresses and ports from ``at``, then the
        interface index) on the stack's top; a packet with an entry not frozen counted
        in it, a control packet freezing both directions' entries.  R7: its IP bytes,
        R9: TCP's data offset and flags."""
        length = bpf_map.key_size
        a.alu("mov", R1, Asm.reg(R6))
        a.alu("mov", R2, at)
        a.alu("mov", R3, Asm.reg(R10))
        a.alu("add", R3, -length)
        a.alu("mov", R4, size)
        a.call(HELPER_SKB_LOAD_BYTES)
        a.jmp("jne", R0, 0, "pass")
        a.ldx(W, R1, R6, SKB_IFINDEX)
        a.stx(W, R10, -4, R1)
        a.jmp("jset", R9, _CONTROL, tag + "_control")
        _lookup_key(a, bpf_map, -length, "pass")
        a.ldx(W, R1, R0, _FROZEN)
        a.jmp("jne", R1, 0, "pass")
        a.alu("mov", R8, Asm.reg(R0))
        a.alu("mov", R1, 1)
        a.atomic_add(DW, R8, _PACKETS, R1)
        a.atomic_add(DW, R8, _OCTETS, R7)
        _wire_length(a, R7)
        a.atomic_add(DW, R8, _BYTES, R7)
        a.stx(W, R8, _SIZE, R7)
        a.alu("and", R9, 0x0FFF)
        a.stx(W, R8, _CONN_FLAGS, R9)
        a.ldx(W, R1, R8, _SEEN)
        a.alu("or", R1, Asm.reg(R9))
        a.stx(W, R8, _SEEN, R1)
        a.ld_abs(H, window)
        a.stx(W, R8, _WIN, R0)
        a.call(HELPER_KTIME_GET_NS)
        a.stx(DW, R8, _CONN_LAST, R0)
        a.goto("skip")
        # a SYN, FIN or RST: both directions frozen (the other's key below this one's:
        # addresses and ports swapped, in aligned moves)
        a.label(tag + "_control")
        _lookup_key(a, bpf_map, -length, tag + "_reverse")
        a.st(W, R0, _FROZEN, 1)
        a.label(tag + "_reverse")
        _reverse_key(a, length)
        _lookup_key(a, bpf_map, -2 * length, "pass")
        a.st(W, R0, _FROZEN, 1)
        a.goto("pass")

    def register(self, route, touched):
        """The monitor routed a direction (``route``: its addresses and ports as they
        sit in the frame; ``touched``: (key, connection, half, ifindex)): its entry is
        made, unless it has one (never remade: the kernel may have frozen it)."""
        ifindex = touched[3]
        ethernet = self._ethernet.get(ifindex)
        if ethernet is None:
            ethernet = self._ethernet[ifindex] = any(
                i.index == ifindex and i.linktype == 1 for i in list_interfaces())
        if not ethernet:
            return
        key = route + _IFINDEX.pack(ifindex)
        kept = self._entries.get(key)
        if kept is not None:
            if kept[0][1] is touched[1]:
                return
            self._drop(key, self._map(key).lookup(key))   # a connection that is gone
        try:
            self._map(key).update(key, bytes(_CONN_VALUE.size))
        except ebpf.BpfError:
            return                  # no room: this direction stays on the ring
        self._entries[key] = [touched, None, None, 0, 0, 0]

    def _map(self, key):
        return self.v4 if len(key) == 16 else self.v6

    def _drop(self, key, value):
        """An entry whose connection the monitor removed: its last packets join the
        count of frames, the entry goes."""
        del self._entries[key]
        if value is not None:
            self._gone += _CONN_VALUE.unpack(value)[0]
        try:
            self._map(key).delete(key)
        except ebpf.BpfError:
            pass                    # already gone

    def sync(self):
        """Every entry read: what its direction counted since the last read brought in,
        its last packet taken where it is later than the ring's; the entries of
        connections the monitor removed dropped."""
        tcp_get = self.sink.tcp.get
        values = dict(self.v4.items())
        values.update(self.v6.items())
        unpack = _CONN_VALUE.unpack
        epoch = self._epoch
        frames = 0
        for key, kept in list(self._entries.items()):
            value = values.get(key)
            touched = kept[0]
            if value is None or tcp_get(touched[0]) is not touched[1]:
                self._drop(key, value)
                continue
            if value == kept[1]:                # nothing new (the commonest entry)
                if kept[2] is None:
                    continue
                half = touched[2]
                if half.last is not None and half.last >= kept[2]:
                    frames += kept[3]
                    continue
            packets, nbytes, octets, last, flags, win, size, seen, _ = unpack(value)
            if not packets:
                kept[1] = value
                continue
            frames += packets
            half = touched[2]
            if packets != kept[3]:
                half.packets += packets - kept[3]
                half.bytes += nbytes - kept[4]
                half.octets += octets - kept[5]
                half.seen |= seen
            last += epoch
            kept[1:] = value, last, packets, nbytes, octets
            if half.last is None or last > half.last:
                half.last = last
                half.flags = flags
                half.win = win
                half.size = size
        self._bring_packets(self._gone + frames)


def _whole_tcp_header(a, l4, snaplen):
    """To the ring unless a whole TCP header of a sane data offset fits the IP payload
    (R8, its length) and the frame (R7) as captured: shapes.frame's conditions."""
    a.ld_abs(B, l4 + 12)
    a.alu("rsh", R0, 4)
    a.alu("lsh", R0, 2)
    a.jmp("jlt", R0, 20, "pass")
    a.jmp("jgt", R0, Asm.reg(R8), "pass")
    a.alu("add", R0, l4)
    a.jmp("jgt", R0, Asm.reg(R7), "pass")
    a.jmp("jgt", R0, snaplen, "pass")


def _reverse_key(a, length):
    """The other direction's key, at R10 - 2 * ``length``, from this one's at R10 -
    ``length``: the addresses swapped, the ports swapped, the interface index kept
    (aligned moves through R1)."""
    addr = (length - 8) // 2
    width, step = (DW, 8) if addr % 8 == 0 else (W, 4)
    moves = [(off, addr + off, width) for off in range(0, addr, step)]
    moves += [(addr + off, off, width) for off in range(0, addr, step)]
    moves += [(2 * addr, 2 * addr + 2, H), (2 * addr + 2, 2 * addr, H),
              (2 * addr + 4, 2 * addr + 4, W)]
    for src, dst, size in moves:
        a.ldx(size, R1, R10, src - length)
        a.stx(size, R10, dst - 2 * length, R1)


def _lookup_key(a, bpf_map, at, missing):
    """R0 = the map's value under the key already at R10 + ``at``; to ``missing`` if
    none."""
    a.alu("mov", R2, Asm.reg(R10))
    a.alu("add", R2, at)
    a.ld_map(R1, bpf_map)
    a.call(HELPER_MAP_LOOKUP)
    a.jmp("jeq", R0, 0, missing)
