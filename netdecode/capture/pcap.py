"""Read and write capture files: classic pcap and pcapng, standard library only.

``open_capture(path)`` recognises the format from the file's magic number, never from its
name, and returns a reader whose ``frames()`` generator yields one plain tuple per packet::

    (ts, ifindex, pkttype, linktype, data, wirelen)

``ts``        int, nanoseconds since the epoch; None for a pcapng Simple Packet Block
``ifindex``   pcapng interface id inside the current section (0 for classic pcap)
``pkttype``   Linux packet type (``man 7 packet``) from the pcapng EPB flags, or None
``linktype``  LINKTYPE_* number (www.tcpdump.org/linktypes.html)
``data``      ``bytes``, the captured bytes
``wirelen``   the original length on the wire

Formats followed: pcap as libpcap writes it (pcap-savefile(5), draft-ietf-opsawg-pcap),
both byte orders, microsecond and nanosecond magics, versions 2.x; pcapng as in
draft-ietf-opsawg-pcapng: any number of sections of either byte order, Interface
Description, Enhanced, Simple and obsolete Packet Blocks, options if_name, if_tsresol,
if_tsoffset and epb_flags.  Every other block is skipped by its length; every length that
moves the offset (block, captured data, option) is checked against the block and the file.

Damage is a ``CaptureError`` (a ``ValueError``) whose one-line message names the file, the
record or block and its offset; ``frames()`` yields every complete frame before raising.

The reader maps the file (``mmap``) and walks one integer offset through it, a window of
it at a time: the pages behind the window are given back (madvise, Python 3.8 and
later), since every page of a mapped file that was read counts in the resident size.  A
file that cannot be mapped (empty, a pipe) is read in large chunks instead.  ``PcapWriter`` and
``PcapngWriter`` stream frames out (``-w``); they never buffer a whole capture.

Left out: the pcap "modified" (Kuznetzov) and other variant magics, pcapng Name
Resolution and Interface Statistics contents, Decryption Secrets, compressed files.  The
pcap header's ``thiszone`` and ``sigfigs`` are ignored (libpcap and Wireshark do too).
"""
import mmap
import os
import struct

__all__ = ["CaptureError", "Interface", "open_capture", "PcapWriter", "PcapngWriter"]

# Linux packet types (linux/if_packet.h), for the pcapng epb_flags mapping.
_PACKET_HOST = 0
_PACKET_BROADCAST = 1
_PACKET_MULTICAST = 2
_PACKET_OTHERHOST = 3
_PACKET_OUTGOING = 4

# Classic pcap: file header and record header, one Struct per byte order.
# magic, version major, minor, thiszone, sigfigs, snaplen, network (link type)
_PCAP_FILE_LE = struct.Struct("<IHHiIII")
_PCAP_FILE_BE = struct.Struct(">IHHiIII")
_PCAP_RECORD_LE = struct.Struct("<IIII")     # ts_sec, ts_frac, incl_len, orig_len
_PCAP_RECORD_BE = struct.Struct(">IIII")
_PCAP_MAGIC_US = 0xA1B2C3D4
_PCAP_MAGIC_NS = 0xA1B23C4D
_PCAP_MAGICS = {                             # first four bytes -> (byte order, nanosecond)
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}
# The link-type field of the pcap header: low 16 bits the LINKTYPE, bits 16-25 reserved
# (must be zero: libpcap and Wireshark refuse the file otherwise), bit 26 "FCS length
# present", bits 28-31 the FCS length in 16-bit words.
_LT_LINKTYPE = 0x0000FFFF
_LT_RESERVED1 = 0x03FF0000

# pcapng block types.
_PCAPNG_SHB = 0x0A0D0D0A                     # a palindrome: the same in both byte orders
_PCAPNG_IDB = 1
_PCAPNG_OPB = 2                              # obsolete Packet Block
_PCAPNG_SPB = 3
_PCAPNG_EPB = 6
_PCAPNG_BOM_LE = b"\x4d\x3c\x2b\x1a"         # byte-order magic 0x1A2B3C4D as stored
_PCAPNG_BOM_BE = b"\x1a\x2b\x3c\x4d"
_OPT_ENDOFOPT = 0
_OPT_IF_NAME = 2
_OPT_IF_TSRESOL = 9
_OPT_IF_TSOFFSET = 14
_OPT_EPB_FLAGS = 2                           # also the obsolete Packet Block's pack_flags

# A captured length or block length above this is damage, not a packet: it also bounds
# what a streamed (unmappable) file makes the reader buffer.
_MAX_RECORD = 256 << 20
# Read size when the file cannot be mapped.
_CHUNK = 1 << 20
_WINDOW = 4 << 20              # bytes of a mapped file read between two releases
_MADVISE = hasattr(mmap.mmap, "madvise")
_NS = 1000000000


class _PcapngLayout(object):
    """The pcapng block layouts for one byte order (immutable after construction)."""

    __slots__ = ("u32", "shb", "idb", "epb", "spb", "opb", "option", "flags", "tsoffset")

    def __init__(self, order):
        # Block structs start at the block type; "..." is block type, total length.
        self.u32 = struct.Struct(order + "I")           # block type, total length, trailer
        self.shb = struct.Struct(order + "IIIHHq")      # ..., BOM, major, minor, section length
        self.idb = struct.Struct(order + "IIHHI")       # ..., linktype, reserved, snaplen
        self.epb = struct.Struct(order + "IIIIIII")     # ..., if id, ts hi, ts lo, caplen, len
        self.spb = struct.Struct(order + "III")         # ..., original length
        self.opb = struct.Struct(order + "IIHHIIII")    # ..., if id, drops, ts hi, lo, caplen, len
        self.option = struct.Struct(order + "HH")       # option code, length
        self.flags = struct.Struct(order + "HHIHH")     # epb_flags option then opt_endofopt
        self.tsoffset = struct.Struct(order + "q")      # if_tsoffset value


_PCAPNG_LE = _PcapngLayout("<")
_PCAPNG_BE = _PcapngLayout(">")

# Writer records (little-endian, the layout libpcap writes on the usual hosts).
_PCAPNG_SHB_W = struct.Struct("<IIIHHqI")                   # SHB without options
_PCAPNG_EPB_W = struct.Struct("<IIIIIII")
_PCAPNG_EPB_FLAGS_TRAILER_W = struct.Struct("<HHIHHI")      # epb_flags, opt_endofopt, length
_PCAPNG_OPTION_W = struct.Struct("<HH")
_PADDING = (b"", b"\0", b"\0\0", b"\0\0\0")             # by the number of bytes to pad


def _pkttype_table():
    """epb_flags bits 0-4 (direction, reception type) -> Linux packet type or None."""
    by_reception = {1: _PACKET_HOST, 2: _PACKET_MULTICAST, 3: _PACKET_BROADCAST,
                    4: _PACKET_OTHERHOST}
    table = []
    for flags in range(32):
        direction = flags & 3
        if direction == 2:
            table.append(_PACKET_OUTGOING)
        elif (flags >> 2) in by_reception:
            table.append(by_reception[flags >> 2])
        elif direction == 1:
            table.append(_PACKET_HOST)
        else:
            table.append(None)
    return tuple(table)


_PKTTYPE_BY_EPB_FLAGS = _pkttype_table()
# Linux packet type 0..4 -> epb_flags: inbound with its reception type, or outbound.
_EPB_FLAGS_BY_PKTTYPE = (0x05, 0x0D, 0x09, 0x11, 0x02)
_EPB_FLAGS_INBOUND = 0x01


class CaptureError(ValueError):
    """A capture file that cannot be opened or read: the message names the file and place."""


class Interface(object):
    """One capture interface: a pcapng IDB, or the classic pcap file header.

    ``tsresol`` is in ticks per second, ``tsoffset`` in seconds (added to every timestamp).
    """

    __slots__ = ("linktype", "snaplen", "name", "tsresol", "tsoffset")

    def __init__(self, linktype, snaplen, name=None, tsresol=1000000, tsoffset=0):
        self.linktype = linktype
        self.snaplen = snaplen
        self.name = name
        self.tsresol = tsresol
        self.tsoffset = tsoffset

    def __repr__(self):
        return "Interface(linktype=%r, snaplen=%r, name=%r, tsresol=%r, tsoffset=%r)" % (
            self.linktype, self.snaplen, self.name, self.tsresol, self.tsoffset)

    def __eq__(self, other):
        if not isinstance(other, Interface):
            return NotImplemented
        return (self.linktype, self.snaplen, self.name, self.tsresol, self.tsoffset) == (
            other.linktype, other.snaplen, other.name, other.tsresol, other.tsoffset)

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None


def open_capture(path):
    """Open a pcap or pcapng file at ``path``; the format comes from the magic number.

    Returns a reader, a context manager with ``close()`` and:

    ``frames()``    a generator of frame tuples (see the module doc), from the start of
                    the file at every call (a pipe can be read only once)
    ``interfaces``  list of ``Interface`` by interface id: the file header for pcap; for
                    pcapng the current section's IDBs, a new list at every section
    ``linktype``, ``snaplen``, ``nanosecond``  the pcap file header's (pcapng: interface
                    0's of the current section, None before any)
    ``format``      "pcap" or "pcapng"; ``path`` the file name

    Raises CaptureError when the file cannot be opened or its header is not acceptable.
    """
    name = os.fspath(path)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    try:
        fileobj = open(name, "rb", buffering=0)
    except OSError as exc:
        raise CaptureError("%s: %s" % (name, exc.strerror or exc))
    try:
        reader = _open(name, fileobj)
    except BaseException:
        fileobj.close()
        raise
    return reader


def _open(name, fileobj):
    try:
        mapped = mmap.mmap(fileobj.fileno(), 0, access=mmap.ACCESS_READ)
    except (ValueError, OSError):
        # Empty files, pipes and character devices cannot be mapped: stream them.
        mapped = None
    if mapped is not None:
        head = mapped
    else:
        head = _read_at_least(name, fileobj, b"", 4)
    try:
        magic = head[:4]
        if len(magic) < 4:
            if not magic:
                raise CaptureError("%s: empty file" % name)
            raise CaptureError("%s: %d-byte file is too short for a capture file header"
                               % (name, len(magic)))
        if magic in _PCAP_MAGICS:
            return _PcapReader(name, fileobj, mapped, head, *_PCAP_MAGICS[magic])
        if magic == b"\x0a\x0d\x0d\x0a":
            return _PcapngReader(name, fileobj, mapped, head)
        hint = " (gzip-compressed: decompress it first)" if magic[:2] == b"\x1f\x8b" else ""
        raise CaptureError("%s: not a pcap or pcapng file (magic 0x%s)%s"
                           % (name, _hex(magic), hint))
    except BaseException:
        if mapped is not None:
            mapped.close()
        raise


def _hex(data):
    return "".join("%02x" % b for b in bytearray(data))


def _read_at_least(name, fileobj, keep, need):
    """``keep`` followed by what the file gives until ``need`` bytes or end of file."""
    parts = [keep]
    have = len(keep)
    while have < need:
        try:
            chunk = fileobj.read(max(_CHUNK, need - have))
        except OSError as exc:
            raise CaptureError("%s: %s" % (name, exc.strerror or exc))
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts) if len(parts) > 1 else keep


class _Reader(object):
    """What both formats share: the file, its map or chunks, closing, context manager."""

    format = None

    def __init__(self, name, fileobj, mapped, head):
        self.path = name
        self._file = fileobj
        self._map = mapped
        self._head = head if mapped is None else None
        self._started = False
        self._released = 0          # the mapped file's bytes given back, from its start

    def close(self):
        """Release the file; a running ``frames()`` generator must not be resumed."""
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._file is not None:
            self._file.close()
            self._file = None
        self._head = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __iter__(self):
        return self.frames()

    def __repr__(self):
        return "<%s reader %r>" % (self.format, self.path)

    def _begin(self, need):
        """The buffer a new pass over the file starts with (``need`` bytes at least, the
        file header, which was checked at open)."""
        if self._file is None:
            raise ValueError("%s: reader is closed" % self.path)
        if self._map is not None:
            self._released = 0
            return self._map
        if not self._started:
            self._started = True
            head, self._head = self._head, None
            return head
        try:
            self._file.seek(0)
        except (OSError, ValueError):
            raise CaptureError("%s: cannot rewind a non-seekable file to read it again"
                               % self.path)
        buf = _read_at_least(self.path, self._file, b"", need)
        if len(buf) < need:
            raise CaptureError("%s: file header cut short: %d bytes expected, %d present"
                               % (self.path, need, len(buf)))
        return buf

    def _window(self, buf, off, need):
        """Where the part of ``buf`` to read next ends: for a mapped file, at least
        ``need`` bytes from ``off`` and a window more, the pages before ``off`` given
        back; otherwise the end of the buffer."""
        if self._map is None or not _MADVISE:
            return len(buf)
        start = off & -mmap.PAGESIZE
        if start > self._released:
            self._map.madvise(mmap.MADV_DONTNEED, self._released, start - self._released)
            self._released = start
        return min(len(buf), off + max(need, _WINDOW))

    def _more(self, buf, off, need):
        """``buf[off:]`` extended to ``need`` bytes from the file, or None if nothing came."""
        if self._map is not None:
            return None
        if self._file is None:
            raise ValueError("%s: reader is closed" % self.path)
        keep = buf[off:]
        more = _read_at_least(self.path, self._file, keep, need)
        if len(more) == len(keep):
            return None
        return more


class _PcapReader(_Reader):
    """Classic pcap: one 24-byte file header, then 16-byte record headers and data."""

    format = "pcap"

    def __init__(self, name, fileobj, mapped, head, order, nanosecond):
        _Reader.__init__(self, name, fileobj, mapped, head)
        if mapped is None:
            head = self._head = _read_at_least(name, fileobj, head, _PCAP_FILE_LE.size)
        layout = _PCAP_FILE_LE if order == "<" else _PCAP_FILE_BE
        if len(head) < layout.size:
            raise CaptureError("%s: pcap file header cut short: %d bytes expected, %d present"
                               % (name, layout.size, len(head)))
        magic, major, minor, _zone, _sigfigs, snaplen, network = layout.unpack_from(head, 0)
        # libpcap reads 2.0 to 2.4 (2.3 files exist); Wireshark reads any 2.x, so does this.
        if major != 2:
            raise CaptureError("%s: major version %d unsupported (pcap version %d.%d)"
                               % (name, major, major, minor))
        if network & _LT_RESERVED1:
            raise CaptureError("%s: link-type field has reserved bits set (0x%08x)"
                               % (name, network & _LT_RESERVED1))
        self.byteorder = "little" if order == "<" else "big"
        self.version = (major, minor)
        self.linktype = network & _LT_LINKTYPE
        self.snaplen = snaplen
        self.nanosecond = nanosecond
        self.interfaces = [Interface(self.linktype, snaplen, None,
                                     _NS if nanosecond else 1000000, 0)]
        self._record = _PCAP_RECORD_LE if order == "<" else _PCAP_RECORD_BE

    def frames(self):
        """Yield ``(ts, 0, None, linktype, data, wirelen)`` per record; see the module doc."""
        buf = self._begin(_PCAP_FILE_LE.size)
        return self._frames(buf)

    def _frames(self, buf):
        unpack = self._record.unpack_from
        hsize = self._record.size
        linktype = self.linktype
        # Timestamps are sec * 10**9 + frac * mult with the raw fraction, even when it is
        # out of range (tcpdump__timestamp_invalid_nano.pcap has 1000000000 and 2147483648
        # ns): tshark prints such values verbatim as "1418145370.1000000000", which is no
        # number at all, so no arithmetic could match it; the raw sum keeps the order of the
        # records and loses nothing.
        mult = 1 if self.nanosecond else 1000
        maxrec = _MAX_RECORD
        unpack_error = struct.error
        off = _PCAP_FILE_LE.size
        end = self._window(buf, off, 0)
        base = 0            # file offset of buf[0]
        counted = 0         # records before `first` (streamed files drop what they read)
        first = off
        lastsec = -1
        secns = 0
        while True:
            try:
                while True:
                    sec, frac, incl, orig = unpack(buf, off)
                    start = off + hsize
                    nxt = start + incl
                    if nxt > end or incl > maxrec:
                        break
                    # Seconds change rarely: one big multiplication per second, not per frame.
                    if sec != lastsec:
                        lastsec = sec
                        secns = sec * _NS
                    yield (secns + frac * mult, 0, None, linktype, buf[start:nxt], orig)
                    off = nxt
            except unpack_error:
                pass        # fewer than 16 bytes left: the record header is not all here
            avail = end - off
            if avail >= hsize:
                incl = unpack(buf, off)[2]
                if incl > maxrec:
                    raise CaptureError(
                        "%s: record %d at offset %d: captured length %d is implausible "
                        "(more than %d), the file is damaged" % (
                            self.path, counted + self._count(buf, first, off) + 1,
                            base + off, incl, maxrec))
                need = hsize + incl
            else:
                need = hsize
            if end < len(buf):          # the window of a mapped file moves on
                end = self._window(buf, off, need)
                continue
            more = self._more(buf, off, need)
            if more is None:
                if avail == 0:
                    return
                number = counted + self._count(buf, first, off) + 1
                if avail < hsize:
                    what = "%d-byte record header expected, %d present" % (hsize, avail)
                else:
                    what = "%d bytes of data expected, %d present" % (incl, avail - hsize)
                raise CaptureError("%s: record %d at offset %d cut short: %s"
                                   % (self.path, number, base + off, what))
            counted += self._count(buf, first, off)
            base += off
            buf = more
            end = len(buf)
            off = first = 0

    def _count(self, buf, off, stop):
        """How many records lie in buf[off:stop] (for error messages; keeps the loop lean)."""
        unpack = self._record.unpack_from
        hsize = self._record.size
        count = 0
        while off < stop:
            off += hsize + unpack(buf, off)[2]
            count += 1
        return count


class _PcapngReader(_Reader):
    """pcapng: blocks of sections, each section with its own byte order and interfaces."""

    format = "pcapng"

    def __init__(self, name, fileobj, mapped, head):
        _Reader.__init__(self, name, fileobj, mapped, head)
        self.interfaces = []
        self._reset()
        # The first block must be a complete and acceptable Section Header Block.
        buf = head
        while True:
            nxt, need = self._block(buf, 0, len(buf), 0)
            if nxt is not None:
                break
            more = self._more(buf, 0, need)
            if more is None:
                self._block_cut(buf, 0, len(buf), 0, need)
            buf = more
        if mapped is None:
            self._head = buf
        # The Interface Description Blocks right after it are read now, so that
        # ``interfaces`` is known before the first frame for the usual files.
        end = len(buf)
        try:
            u32 = self._layout.u32.unpack_from
            while nxt + 12 <= end and u32(buf, nxt)[0] == _PCAPNG_IDB:
                nxt = self._block(buf, nxt, end, 0)[0]
                if nxt is None:
                    break
        except CaptureError:
            # Not the header's fault: frames() meets the same block and raises this
            # error after the frames before it, where it belongs.
            pass

    def _reset(self):
        self._layout = _PCAPNG_LE
        self._times = []        # per interface: (linktype, mul, div, offset ns)

    @property
    def linktype(self):
        """Link type of interface 0 of the current section, or None."""
        return self.interfaces[0].linktype if self.interfaces else None

    @property
    def snaplen(self):
        """Snapshot length of interface 0 of the current section, or None."""
        return self.interfaces[0].snaplen if self.interfaces else None

    @property
    def nanosecond(self):
        """Whether interface 0 of the current section has sub-microsecond resolution."""
        return self.interfaces[0].tsresol > 1000000 if self.interfaces else None

    def frames(self):
        """Yield ``(ts, ifindex, pkttype, linktype, data, wirelen)`` per packet block."""
        buf = self._begin(0)
        self._reset()
        return self._frames(buf)

    def _frames(self, buf):
        unpack_error = struct.error
        flags_table = _PKTTYPE_BY_EPB_FLAGS
        epb_pkttype = self._epb_pkttype
        maxrec = _MAX_RECORD
        off = 0
        end = self._window(buf, off, 0)
        base = 0            # file offset of buf[0]
        while True:
            # Section state, reloaded after every block the slow path handled.
            layout = self._layout
            epb = layout.epb.unpack_from
            u32 = layout.u32.unpack_from
            flags_option = layout.flags.unpack_from
            times = self._times
            nif = len(times)
            lasthigh = lastif = -1
            try:
                # The fast path: Enhanced Packet Blocks without surprises.  Anything else
                # (another block type, damage, a block not all in the buffer) leaves this
                # loop for self._block, which handles exactly one block.
                while True:
                    btype, blen, ifid, tshigh, tslow, caplen, wirelen = epb(buf, off)
                    nxt = off + blen
                    if btype != 6 or nxt > end or blen & 3 or blen > maxrec:
                        break
                    start = off + 28
                    stop = start + caplen
                    trailer = nxt - 4
                    # (stop > trailer also catches a block length below 32.)
                    if ifid >= nif or stop > trailer or u32(buf, trailer)[0] != blen:
                        break
                    if stop + 4 > trailer:
                        pkttype = None      # no options
                    else:
                        # Options: the usual "epb_flags, opt_endofopt" is read here, any
                        # other list by the general parser.
                        optstart = start + ((caplen + 3) & -4)
                        if trailer - optstart == 12:
                            code, length, flags, endcode, _ = flags_option(buf, optstart)
                            if code == 2 and length == 4 and endcode == 0:
                                pkttype = flags_table[flags & 31]
                            else:
                                pkttype = epb_pkttype(buf, optstart, trailer, base, off, 6)
                        else:
                            pkttype = epb_pkttype(buf, optstart, trailer, base, off, 6)
                    # ts = (tshigh << 32 | tslow) * mul // div + offset, exactly, with the
                    # part of the high word computed once per change of the high word
                    # (every 71 minutes at microsecond resolution) or of the interface.
                    if tshigh != lasthigh or ifid != lastif:
                        linktype, mul, div, offset = times[ifid]
                        highq, highr = divmod((tshigh << 32) * mul, div)
                        highq += offset
                        lasthigh = tshigh
                        lastif = ifid
                    if div == 1:
                        ts = highq + tslow * mul
                    else:
                        ts = highq + (highr + tslow * mul) // div
                    yield (ts, ifid, pkttype, linktype, buf[start:stop], wirelen)
                    off = nxt
            except unpack_error:
                pass        # fewer than 28 bytes left: the slow path looks closer
            nxt, frame = self._block(buf, off, end, base)
            if nxt is not None:
                if frame is not None:
                    yield frame
                off = nxt
                continue
            if end < len(buf):          # the window of a mapped file moves on
                end = self._window(buf, off, frame)
                continue
            more = self._more(buf, off, frame)
            if more is None:
                if off == end:
                    return
                self._block_cut(buf, off, end, base, frame)
            base += off
            buf = more
            end = len(buf)
            off = 0

    def _block_cut(self, buf, off, end, base, need):
        if end - off >= 4:
            what = "block (type 0x%08x)" % self._layout.u32.unpack_from(buf, off)[0]
        else:
            what = "block"
        raise CaptureError("%s: %s at offset %d cut short: %d bytes expected, %d present"
                           % (self.path, what, base + off, need, end - off))

    def _damage(self, base, off, btype, what):
        kind = {_PCAPNG_SHB: "SHB", _PCAPNG_IDB: "IDB", _PCAPNG_OPB: "Packet Block",
                _PCAPNG_SPB: "SPB", _PCAPNG_EPB: "EPB"}.get(btype)
        if kind is None:
            kind = "block (type 0x%08x)" % btype
        return CaptureError("%s: %s at offset %d: %s" % (self.path, kind, base + off, what))

    def _block(self, buf, off, end, base):
        """Handle the one block at ``buf[off]``: returns (next offset, frame or None), or
        (None, bytes needed) when the block is not all in ``buf``."""
        if end - off < 8:
            return None, 8
        layout = self._layout
        btype = layout.u32.unpack_from(buf, off)[0]
        if btype == _PCAPNG_SHB:
            if end - off < 12:
                return None, 12
            bom = buf[off + 8:off + 12]
            if bom == _PCAPNG_BOM_LE:
                layout = _PCAPNG_LE
            elif bom == _PCAPNG_BOM_BE:
                layout = _PCAPNG_BE
            else:
                raise self._damage(base, off, btype, "byte-order magic 0x%s is neither "
                                   "1a2b3c4d nor 4d3c2b1a" % _hex(bom))
        blen = layout.u32.unpack_from(buf, off + 4)[0]
        if blen & 3 or blen < 12:
            raise self._damage(base, off, btype, "block length %d is %s" % (
                blen, "not a multiple of 4" if blen & 3 else "less than 12"))
        if blen > _MAX_RECORD:
            raise self._damage(base, off, btype, "block length %d is implausible (more than "
                               "%d), the file is damaged" % (blen, _MAX_RECORD))
        nxt = off + blen
        if nxt > end:
            return None, blen
        trailer = nxt - 4
        tail = layout.u32.unpack_from(buf, trailer)[0]
        if tail != blen:
            raise self._damage(base, off, btype, "trailing block length %d does not match "
                               "the leading %d" % (tail, blen))
        if btype == _PCAPNG_EPB:
            return nxt, self._packet(buf, off, trailer, base, btype)
        if btype == _PCAPNG_SHB:
            self._shb(buf, off, trailer, base, layout)
        elif btype == _PCAPNG_IDB:
            self._idb(buf, off, trailer, base)
        elif btype == _PCAPNG_SPB:
            return nxt, self._spb(buf, off, trailer, base)
        elif btype == _PCAPNG_OPB:
            return nxt, self._packet(buf, off, trailer, base, btype)
        return nxt, None

    def _too_short(self, base, off, trailer, btype, size):
        if trailer - off < size:
            raise self._damage(base, off, btype, "%d-byte block is too short (at least %d "
                               "bytes)" % (trailer + 4 - off, size + 4))

    def _shb(self, buf, off, trailer, base, layout):
        self._too_short(base, off, trailer, _PCAPNG_SHB, layout.shb.size)
        major, minor = layout.shb.unpack_from(buf, off)[3:5]
        # Only the major version breaks compatibility (libpcap and Wireshark read 1.0 and
        # 1.2); libpcap__pcapng-invalid-vers-1.pcapng is 0.1.
        if major != 1:
            raise CaptureError("%s: unsupported SHB version %d.%d (SHB at offset %d)"
                               % (self.path, major, minor, base + off))
        self._options(buf, off + layout.shb.size, trailer, base, off, _PCAPNG_SHB, layout)
        self._layout = layout
        self._times = []
        self.interfaces = []    # interface ids restart in every section

    def _idb(self, buf, off, trailer, base):
        layout = self._layout
        self._too_short(base, off, trailer, _PCAPNG_IDB, layout.idb.size)
        linktype, _reserved, snaplen = layout.idb.unpack_from(buf, off)[2:]
        name = None
        tsresol = 1000000
        tsoffset = 0
        for code, vstart, vlen in self._options(buf, off + layout.idb.size, trailer, base,
                                                off, _PCAPNG_IDB, layout):
            if code == _OPT_IF_NAME and name is None:
                name = buf[vstart:vstart + vlen].rstrip(b"\0").decode("utf-8", "replace")
            elif code == _OPT_IF_TSRESOL and vlen >= 1:
                exponent = buf[vstart]
                if exponent & 0x80:
                    tsresol = 1 << (exponent & 0x7F)
                else:
                    tsresol = 10 ** exponent
            elif code == _OPT_IF_TSOFFSET and vlen == 8:
                tsoffset = layout.tsoffset.unpack_from(buf, vstart)[0]
        # ticks * 10**9 // tsresol exactly, as ticks * mul // div with the fraction reduced.
        common = _gcd(_NS, tsresol)
        self._times.append((linktype, _NS // common, tsresol // common, tsoffset * _NS))
        self.interfaces.append(Interface(linktype, snaplen, name, tsresol, tsoffset))

    def _spb(self, buf, off, trailer, base):
        layout = self._layout
        self._too_short(base, off, trailer, _PCAPNG_SPB, layout.spb.size)
        if not self.interfaces:
            raise self._damage(base, off, _PCAPNG_SPB, "no Interface Description Block in "
                               "this section before it")
        wirelen = layout.spb.unpack_from(buf, off)[2]
        start = off + layout.spb.size
        # An SPB has no captured length: what the block holds, cut to the wire length and
        # to the snaplen of interface 0 (0: no limit).  Its padding is not data.
        caplen = min(wirelen, trailer - start)
        snaplen = self.interfaces[0].snaplen
        if snaplen:
            caplen = min(caplen, snaplen)
        return (None, 0, None, self.interfaces[0].linktype, buf[start:start + caplen],
                wirelen)

    def _packet(self, buf, off, trailer, base, btype):
        """An Enhanced or obsolete Packet Block at ``off``, fully checked."""
        layout = self._layout
        if btype == _PCAPNG_EPB:
            self._too_short(base, off, trailer, btype, layout.epb.size)
            ifid, tshigh, tslow, caplen, wirelen = layout.epb.unpack_from(buf, off)[2:]
            start = off + layout.epb.size
        else:
            self._too_short(base, off, trailer, btype, layout.opb.size)
            ifid, _drops, tshigh, tslow, caplen, wirelen = layout.opb.unpack_from(buf, off)[2:]
            start = off + layout.opb.size
        if ifid >= len(self._times):
            raise self._damage(base, off, btype, "interface id %d has no Interface Description "
                               "Block (%d in this section)" % (ifid, len(self._times)))
        if caplen > trailer - start:
            raise self._damage(base, off, btype, "captured length %d does not fit in the "
                               "%d-byte block" % (caplen, trailer + 4 - off))
        optstart = start + ((caplen + 3) & -4)
        pkttype = None
        if optstart < trailer:
            pkttype = self._epb_pkttype(buf, optstart, trailer, base, off, btype)
        linktype, mul, div, offset = self._times[ifid]
        ts = (tshigh << 32 | tslow) * mul // div + offset
        return (ts, ifid, pkttype, linktype, buf[start:start + caplen], wirelen)

    def _epb_pkttype(self, buf, start, stop, base, boff, btype):
        """The packet type from the epb_flags (pack_flags) option in buf[start:stop]."""
        layout = self._layout
        for code, vstart, vlen in self._options(buf, start, stop, base, boff, btype, layout):
            if code == _OPT_EPB_FLAGS and vlen == 4:
                return _PKTTYPE_BY_EPB_FLAGS[layout.u32.unpack_from(buf, vstart)[0] & 31]
        return None

    def _options(self, buf, off, stop, base, boff, btype, layout):
        """(code, value offset, value length) of each option in buf[off:stop], every
        length checked against the block (the block starts at buf[boff])."""
        unpack = layout.option.unpack_from
        found = []
        while off < stop:
            if stop - off < 4:
                raise self._damage(base, boff, btype, "%d bytes at offset %d are too short "
                                   "for an option header" % (stop - off, base + off))
            code, length = unpack(buf, off)
            if code == _OPT_ENDOFOPT:
                break
            vstart = off + 4
            if length > stop - vstart:
                raise self._damage(base, boff, btype, "option %d of length %d at offset %d "
                                   "overruns the block (%d bytes left)" % (
                                       code, length, base + off, stop - vstart))
            found.append((code, vstart, length))
            off = vstart + ((length + 3) & -4)
        return found


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def _closed(*args):
    raise ValueError("write to a closed capture writer")


class _Writer(object):
    """File handling shared by the writers: a path is opened (and closed) here, a file
    object is used as given and only flushed on close."""

    def __init__(self, fileobj):
        if hasattr(fileobj, "write"):
            self._fileobj = fileobj
            self._own = False
        else:
            self._fileobj = open(fileobj, "wb")
            self._own = True
        self._write = self._fileobj.write

    def flush(self):
        """Push buffered bytes to the file."""
        if self._fileobj is not None:
            self._fileobj.flush()

    def close(self):
        """Flush; close the file only if the writer opened it from a path."""
        if self._fileobj is None:
            return
        fileobj, self._fileobj = self._fileobj, None
        self._write = _closed
        try:
            fileobj.flush()
        finally:
            if self._own:
                fileobj.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class PcapWriter(_Writer):
    """Write classic pcap (little-endian, version 2.4): ``write(frame)`` per frame tuple.

    With ``nanosecond=False`` the timestamp is truncated to whole microseconds (the file
    format's resolution).  Data longer than ``snaplen`` is cut to it (``snaplen`` 0: no cut).
    """

    def __init__(self, fileobj, linktype, snaplen=262144, nanosecond=False):
        _Writer.__init__(self, fileobj)
        self.linktype = linktype
        self.snaplen = snaplen
        self.nanosecond = bool(nanosecond)
        self._div = 1 if nanosecond else 1000
        self._cut = snaplen if snaplen > 0 else 0xFFFFFFFF
        try:
            header = _PCAP_FILE_LE.pack(_PCAP_MAGIC_NS if nanosecond else _PCAP_MAGIC_US,
                                        2, 4, 0, 0, snaplen, linktype)
        except struct.error as exc:
            self.close()
            raise CaptureError("pcap header: snaplen %r or linktype %r out of range (%s)"
                               % (snaplen, linktype, exc))
        self._write(header)
        self._pack = _PCAP_RECORD_LE.pack

    def write(self, frame):
        """Write one ``(ts, ifindex, pkttype, linktype, data, wirelen)`` frame."""
        ts, _ifindex, _pkttype, _linktype, data, wirelen = frame
        caplen = len(data)
        if caplen > self._cut:
            caplen = self._cut
            data = data[:caplen]
        sec, frac = divmod(ts or 0, _NS)
        try:
            self._write(self._pack(sec, frac // self._div, caplen, wirelen) + data)
        except struct.error:
            raise CaptureError("pcap record: timestamp %r ns or length %r does not fit the "
                               "format" % (ts, wirelen))


class PcapngWriter(_Writer):
    """Write pcapng (little-endian, one section): ``add_interface`` then ``write``.

    Each frame becomes an Enhanced Packet Block; its ``pkttype`` (when not None) becomes
    an epb_flags option: PACKET_OUTGOING -> outbound, PACKET_HOST, BROADCAST, MULTICAST
    and OTHERHOST -> inbound with that reception type, other types -> inbound.
    """

    def __init__(self, fileobj):
        _Writer.__init__(self, fileobj)
        self._write(_PCAPNG_SHB_W.pack(_PCAPNG_SHB, _PCAPNG_SHB_W.size, 0x1A2B3C4D, 1, 0, -1,
                                       _PCAPNG_SHB_W.size))
        self._ifaces = {}           # interface id -> (ticks divisor, snaplen cut)
        self._pack = _PCAPNG_EPB_W.pack
        self._tail = _PCAPNG_EPB_FLAGS_TRAILER_W.pack
        self._u32 = _PCAPNG_LE.u32.pack

    def add_interface(self, linktype, snaplen=262144, name=None, tsresol_ns=True):
        """Write an Interface Description Block; returns its interface id."""
        options = []
        if name is not None:
            value = name.encode("utf-8") if not isinstance(name, bytes) else name
            options.append(_PCAPNG_OPTION_W.pack(_OPT_IF_NAME, len(value)))
            options.append(value + b"\0" * (-len(value) & 3))
        if tsresol_ns:
            options.append(_PCAPNG_OPTION_W.pack(_OPT_IF_TSRESOL, 1) + b"\x09\0\0\0")
        if options:
            options.append(_PCAPNG_OPTION_W.pack(_OPT_ENDOFOPT, 0))
        body = b"".join(options)
        blen = 20 + len(body)
        try:
            head = _PCAPNG_LE.idb.pack(_PCAPNG_IDB, blen, linktype, 0, snaplen)
        except struct.error as exc:
            raise CaptureError("pcapng IDB: linktype %r or snaplen %r out of range (%s)"
                               % (linktype, snaplen, exc))
        self._write(head + body + self._u32(blen))
        ifid = len(self._ifaces)
        self._ifaces[ifid] = (1 if tsresol_ns else 1000, snaplen if snaplen > 0 else 0xFFFFFFFF)
        return ifid

    def write(self, frame, interface_id=None):
        """Write one frame as an EPB on ``interface_id`` (default: the frame's ifindex)."""
        ts, ifindex, pkttype, _linktype, data, wirelen = frame
        if interface_id is None:
            interface_id = ifindex
        try:
            div, cut = self._ifaces[interface_id]
        except (KeyError, TypeError):
            raise CaptureError("pcapng EPB: interface id %r was not added (%d interfaces)"
                               % (interface_id, len(self._ifaces)))
        caplen = len(data)
        if caplen > cut:
            caplen = cut
            data = data[:caplen]
        ticks = (ts or 0) // div
        pad = -caplen & 3
        try:
            if pkttype is None:
                blen = 32 + caplen + pad
                tail = self._u32(blen)
            else:
                blen = 44 + caplen + pad
                tail = self._tail(_OPT_EPB_FLAGS, 4, _EPB_FLAGS_BY_PKTTYPE[pkttype]
                                  if 0 <= pkttype <= 4 else _EPB_FLAGS_INBOUND, 0, 0, blen)
            head = self._pack(_PCAPNG_EPB, blen, interface_id, ticks >> 32,
                              ticks & 0xFFFFFFFF, caplen, wirelen)
        except struct.error:
            raise CaptureError("pcapng EPB: timestamp %r ns or length %r does not fit the "
                               "format" % (ts, wirelen))
        self._write(b"".join((head, data, _PADDING[pad], tail)))
