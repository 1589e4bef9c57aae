"""Live capture on Linux AF_PACKET sockets: frames that look exactly like a file's.

``LiveCapture(ifname)`` (``None`` for every interface) opens a packet socket and hands
back, per ``read()``, a list of frames ``(ts, ifindex, pkttype, linktype, data, wirelen)``
as ``netdecode.capture.pcap`` yields them: nanosecond timestamps, the interface index, the
packet type (direction), the link type from the interface's ARPHRD type, the captured
bytes and the wire length.

Two ways to receive (packet(7), Documentation/networking/packet_mmap.rst):

* ``ring`` (the default): a TPACKET_V3 receive ring mapped into our memory.  The kernel
  fills blocks of frames; we read every block it has handed over and give it back.
  Block size, count and timeout come from a memory budget (``ring_bytes``).
* ``socket``: ``recvmsg_into`` on a preallocated buffer, with PACKET_AUXDATA for the
  VLAN tag and SO_TIMESTAMPNS for the time; for old kernels, and to cross-check.

Both give the same frames.  Details that matter:

* The socket is opened with protocol 0 (it receives nothing), set up (ring, filter),
  and only then bound to ETH_P_ALL on its interface (ifindex 0 for all), so no frame
  of another interface, and none from before the set-up, slips in.
* The kernel strips the outer VLAN tag before a packet socket sees the frame; it comes
  back in ``tp_vlan_tci`` or the auxiliary data, and is put back into the frame (as
  libpcap does), so the decoder, the filters and ``-w`` files see it.
* On loopback every packet passes twice, outgoing then incoming: the outgoing copy is
  dropped, as libpcap does, so each packet counts once.
* ``stats()`` reads PACKET_STATISTICS (which the kernel resets on each read) and keeps
  running totals of kernel drops and ring freezes.
* An interface that goes down is reported by ``read()`` raising ``InterfaceDown``; one
  that is deleted raises ``InterfaceGone``.  With every interface captured, neither
  happens: the others go on.
"""
import ctypes
import errno
import mmap
import os
import select
import socket
import struct

from ..decoding.link import LINKTYPE_ETHERNET
from ..decoding.packet import PACKET_OUTGOING
from .ifaces import ARPHRD_LOOPBACK, interface_up, list_interfaces

__all__ = ["LiveCapture", "CaptureSetupError", "InterfaceDown", "InterfaceGone",
           "DEFAULT_RING_BYTES", "DEFAULT_SNAPLEN"]

# linux/if_packet.h, linux/if_ether.h, asm-generic/socket.h
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_AUXDATA = 8
PACKET_VERSION = 10
TPACKET_V3 = 2
PACKET_MR_PROMISC = 1
ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
ETH_P_8021Q = 0x8100

DEFAULT_RING_BYTES = 8 << 20      # 8 MiB: sane on a small router, --ring-mb raises it
DEFAULT_SNAPLEN = 262144
_BLOCK_BYTES = 1 << 20            # holds a 64 KiB loopback frame many times over
_FRAME_BYTES = 2048               # only a bookkeeping unit for TPACKET_V3
_BLOCK_TIMEOUT_MS = 50            # a part-filled block is handed over after this
_RCVBUF = 8 << 20

_REQ3 = struct.Struct("=7I")
_BLOCK_HDR = struct.Struct("=III")          # block_status, num_pkts, offset_to_first_pkt
_U32 = struct.Struct("=I")
# tpacket3_hdr then sockaddr_ll at TPACKET_ALIGN(48) = 48, only the fields we use:
# next_offset sec nsec snaplen len status mac [net rxhash vlan_tci vlan_tpid
# padding tp_padding[8] sll_family sll_protocol] sll_ifindex [sll_hatype] sll_pkttype
_PKT_HDR = struct.Struct("=IIIIIIH26xi2xB")
_PKT_TAG = struct.Struct("=32xIH")           # vlan_tci, vlan_tpid: read when the status says
_STATS_V3 = struct.Struct("=III")
_STATS = struct.Struct("=II")
_AUXDATA = struct.Struct("=IIIHHHH")
_TIMESPEC = struct.Struct("=qq")
_SOCKADDR_LL = struct.Struct("=HHiHBB8s")
_MREQ = struct.Struct("=iHH8s")
_TAG = struct.Struct("!HH")


class CaptureSetupError(OSError):
    """The capture could not start; the message is one line that says what to do."""


class InterfaceDown(OSError):
    """The captured interface went down; capture resumes if it comes back up."""


class InterfaceGone(OSError):
    """The captured interface was deleted; this capture is over."""


def _bind(sock, ifindex, protocol):
    """bind(2) a packet socket to an interface index (0: all), which Python's bind,
    taking only a name, cannot say."""
    libc = ctypes.CDLL(None, use_errno=True)
    addr = _SOCKADDR_LL.pack(socket.AF_PACKET, socket.htons(protocol), ifindex, 0, 0, 0,
                             b"\0" * 8)
    if libc.bind(sock.fileno(), ctypes.c_char_p(addr), len(addr)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class LiveCapture:
    """Frames from one interface (``ifname``) or all of them (``None``)."""

    def __init__(self, ifname=None, mode="ring", snaplen=DEFAULT_SNAPLEN, promisc=False,
                 ring_bytes=DEFAULT_RING_BYTES, bpf=None):
        if mode not in ("ring", "socket"):
            raise ValueError("capture mode %r: 'ring' or 'socket'" % (mode,))
        self.ifname = ifname
        self.mode = mode
        self.snaplen = snaplen
        self._ifaces = {}             # ifindex -> (name, linktype, is_loopback)
        self._refresh_interfaces()
        self.ifindex = 0
        if ifname is not None:
            self.ifindex = self._index_of(ifname)
        self._packets = self._dropped = self._frozen = 0
        self._down = False            # went down: deleted next, or back up
        self._ring = None
        self._filter = bpf            # closed with the capture, where it has a close()
        try:
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        except PermissionError:
            raise CaptureSetupError(
                errno.EPERM, "capturing packets needs root or CAP_NET_RAW "
                "(try: sudo python3 iptraf.py ...)")
        try:
            self._setup(promisc, ring_bytes, bpf)
        except BaseException:
            self.close()
            raise

    def __repr__(self):
        return "LiveCapture(%r, mode=%r)" % (self.ifname, self.mode)

    # set-up

    def _index_of(self, name):
        for index, (known, _, _) in self._ifaces.items():
            if known == name:
                return index
        names = ", ".join(sorted(n for n, _, _ in self._ifaces.values()))
        raise CaptureSetupError(errno.ENODEV, "%s: no such interface (there are: %s)"
                                % (name, names))

    def _refresh_interfaces(self):
        self._ifaces = {i.index: (i.name, i.linktype, i.arphrd == ARPHRD_LOOPBACK)
                        for i in list_interfaces()}

    def _setup(self, promisc, ring_bytes, bpf):
        sock = self._sock
        if bpf is not None:
            bpf.attach(sock)
        if self.mode == "ring":
            self._setup_ring(ring_bytes)
        else:
            sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            except OSError:
                pass      # the default buffer still works, only drops come sooner
            self._buf = bytearray(self.snaplen)
            self._view = memoryview(self._buf)
            self._ancsize = socket.CMSG_SPACE(_AUXDATA.size) + socket.CMSG_SPACE(
                _TIMESPEC.size)
        sock.setblocking(False)
        _bind(sock, self.ifindex, ETH_P_ALL)
        if promisc and self.ifindex:
            sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP,
                            _MREQ.pack(self.ifindex, PACKET_MR_PROMISC, 0, b"\0" * 8))
        elif promisc:
            for index in self._ifaces:
                sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP,
                                _MREQ.pack(index, PACKET_MR_PROMISC, 0, b"\0" * 8))

    def _setup_ring(self, ring_bytes):
        sock = self._sock
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        blocks = max(2, ring_bytes // _BLOCK_BYTES)
        req = _REQ3.pack(_BLOCK_BYTES, blocks, _FRAME_BYTES,
                         blocks * (_BLOCK_BYTES // _FRAME_BYTES), _BLOCK_TIMEOUT_MS, 0, 0)
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
        self._ring = mmap.mmap(sock.fileno(), blocks * _BLOCK_BYTES, mmap.MAP_SHARED,
                               mmap.PROT_READ | mmap.PROT_WRITE)
        self._blocks = blocks
        self._next_block = 0

    # reading

    def fileno(self):
        return self._sock.fileno()

    def wait(self, timeout):
        """Block until frames may be there or ``timeout`` seconds pass."""
        select.select([self._sock], [], [], timeout)

    def read(self):
        """The frames available now (an empty list when there are none)."""
        if self._ring is not None:
            frames = self._read_ring()
        else:
            frames = self._read_socket()
        if self._down:
            # frames read after the interface went down may be the last ones from before
            # it: only its own state says whether it is back up, or gone
            up = self._state()
            if up is None:
                if not frames:
                    raise InterfaceGone(errno.ENODEV,
                                        "%s: the interface was deleted" % self.ifname)
            elif up and frames:
                self._down = False
        return frames

    def _read_ring(self, _hdr=_PKT_HDR.unpack_from, _block=_BLOCK_HDR.unpack_from,
                   _release=_U32.pack_into, _tag=_PKT_TAG.unpack_from):
        ring = self._ring
        ifaces = self._ifaces
        frames = []
        append = frames.append
        # per frame, only what changes: the interface's facts and the second's
        # nanoseconds are looked up or multiplied when they change, not per frame
        last_if = lastsec = None
        linktype = secns = 0
        skip_out = vlan_ok = False
        while True:
            base = self._next_block * _BLOCK_BYTES
            status, count, off = _block(ring, base + 8)
            if not status & TP_STATUS_USER:
                break
            off += base
            for _ in range(count):
                step, sec, nsec, caplen, wirelen, pstatus, mac, ifindex, pkttype = _hdr(ring, off)
                if ifindex != last_if:
                    info = ifaces.get(ifindex)
                    if info is None:
                        info = self._learn(ifindex)
                    last_if = ifindex
                    linktype = info[1]
                    skip_out = info[2]
                    vlan_ok = linktype == LINKTYPE_ETHERNET
                if pkttype != PACKET_OUTGOING or not skip_out:
                    if sec != lastsec:
                        lastsec = sec
                        secns = sec * 1000000000
                    start = off + mac
                    data = ring[start:start + caplen]
                    if pstatus & TP_STATUS_VLAN_VALID and vlan_ok:
                        tci, tpid = _tag(ring, off)
                        data, wirelen = _with_tag(data, wirelen, tci, tpid, pstatus)
                    append((secns + nsec, ifindex, pkttype, linktype, data, wirelen))
                off += step
            _release(ring, base + 8, TP_STATUS_KERNEL)
            self._next_block = (self._next_block + 1) % self._blocks
        if not frames:
            self._check_error()
        return frames

    def _read_socket(self):
        sock, view = self._sock, self._view
        frames = []
        flags = socket.MSG_TRUNC | socket.MSG_DONTWAIT
        while len(frames) < 4096:
            try:
                wirelen, ancdata, _, addr = sock.recvmsg_into([view], self._ancsize, flags)
            except BlockingIOError:
                break
            except OSError as e:
                self._raise_for(e.errno)
                raise
            ts, tci, tpid, status = None, 0, 0, 0
            for level, kind, value in ancdata:
                if level == SOL_PACKET and kind == PACKET_AUXDATA:
                    status, wirelen, _, _, _, tci, tpid = _AUXDATA.unpack_from(value)
                elif level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack_from(value)
                    ts = sec * 1000000000 + nsec
            name, _, pkttype = addr[0], addr[1], addr[2]
            ifindex = self._index_for_name(name)
            info = self._ifaces[ifindex]
            if pkttype == PACKET_OUTGOING and info[2]:
                continue
            data = bytes(view[:min(wirelen, len(view))])
            if status & TP_STATUS_VLAN_VALID and info[1] == LINKTYPE_ETHERNET:
                data, wirelen = _with_tag(data, wirelen, tci, tpid, status)
            frames.append((ts, ifindex, pkttype, info[1], data, wirelen))
        if not frames:
            self._check_error()
        return frames

    def _index_for_name(self, name):
        for index, info in self._ifaces.items():
            if info[0] == name:
                return index
        self._refresh_interfaces()
        return self._index_of(name)

    def _learn(self, ifindex):
        """An interface index not seen before (created since we started): look again."""
        self._refresh_interfaces()
        info = self._ifaces.get(ifindex)
        if info is None:
            info = ("if%d" % ifindex, -0xFFFF, False)
            self._ifaces[ifindex] = info
        return info

    def _check_error(self):
        err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._raise_for(err)

    def _raise_for(self, err):
        """The kernel reports ENETDOWN once, when the interface goes down; deleting an
        interface takes it down first, so read() keeps asking whether it still exists."""
        if err in (errno.ENETDOWN, errno.ENXIO, errno.ENODEV):
            self._down = True
            if self._state() is None:
                raise InterfaceGone(err, "%s: the interface was deleted" % self.ifname)
            raise InterfaceDown(err, "%s: the interface went down" % self.ifname)

    @property
    def down(self):
        """Whether the interface went down and is not up again (nor yet found deleted:
        read() says that)."""
        return self._down and self._state() is False

    def _state(self):
        """Whether the interface is up; None when it no longer exists."""
        return True if self.ifname is None else interface_up(self.ifname)

    # bookkeeping

    def interfaces(self):
        """The indexes of the interfaces there are now, their names learnt afresh: for
        a facility that lists every interface as they come and go."""
        self._refresh_interfaces()
        return sorted(self._ifaces)

    def interface_name(self, ifindex):
        info = self._ifaces.get(ifindex)
        return info[0] if info is not None else "if%d" % ifindex

    def interface_linktype(self, ifindex):
        info = self._ifaces.get(ifindex)
        return info[1] if info is not None else None

    def stats(self):
        """Running totals: {'packets': frames the kernel handed to this socket (after a
        filter; drops included), 'dropped': kernel drops, 'frozen': ring freezes}."""
        if self._sock is not None:
            if self._ring is not None:
                raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _STATS_V3.size)
                packets, drops, frozen = _STATS_V3.unpack(raw)
                self._frozen += frozen
            else:
                raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _STATS.size)
                packets, drops = _STATS.unpack(raw)
            self._packets += packets
            self._dropped += drops
        return {"packets": self._packets, "dropped": self._dropped, "frozen": self._frozen}

    def close(self):
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        closer = getattr(self._filter, "close", None)
        if closer is not None:
            closer()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _with_tag(data, wirelen, tci, tpid, status):
    """Put back the 802.1Q tag the kernel took out of an Ethernet frame."""
    if not status & TP_STATUS_VLAN_TPID_VALID or not tpid:
        tpid = ETH_P_8021Q
    return data[:12] + _TAG.pack(tpid, tci) + data[12:], wirelen + 4

