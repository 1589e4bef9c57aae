"""``-w FILE``: every frame captured, written to a capture file as it arrives.

One interface (a single link type known at the start) is written as classic pcap with
nanosecond timestamps, the format every tool reads.  Every interface (``-i all``), or a
source whose link types are not known at the start, is written as pcapng with one
Interface Description Block per interface, named, added when the interface's first
frame arrives; each frame keeps its direction in the EPB flags.  tcpdump's ``-i any``
writes Linux cooked SLL2 instead, which loses the link-layer headers: pcapng keeps them.

Each write goes straight to the file object; ``flush()`` after each batch (and at every
tick, as a monitor sink) and ``close()`` on exit (SIGINT and SIGTERM included) leave
nothing captured unwritten.
"""
from ..decoding.packet import DATA, IFINDEX, LEN, LINKTYPE, PKTTYPE, TS
from .pcap import PcapngWriter, PcapWriter

__all__ = ["Recorder"]


class Recorder:
    """Write frames to ``path``; ``linktype`` given means one link type: classic pcap."""

    def __init__(self, path, linktype=None, snaplen=262144, interface_name=None):
        self.path = path
        self._name = interface_name or (lambda ifindex: None)
        if linktype is not None:
            self._writer = PcapWriter(path, linktype, snaplen, nanosecond=True)
            self._ids = None
        else:
            self._writer = PcapngWriter(path)
            self._ids = {}            # (ifindex, linktype) -> pcapng interface id
        self._snaplen = snaplen

    def __repr__(self):
        return "Recorder(%r)" % (self.path,)

    def add(self, r):
        """As a monitor sink: the frame a record was decoded from."""
        self.write((r[TS], r[IFINDEX], r[PKTTYPE], r[LINKTYPE], r[DATA], r[LEN]))

    def feed(self, frames):
        """As a monitor sink's lane: the frames as they came."""
        write = self.write
        for frame in frames:
            write(frame)

    def tick(self, now):
        self._writer.flush()

    def snapshot(self):
        return {}

    def write(self, frame):
        if self._ids is None:
            self._writer.write(frame)
            return
        key = (frame[1], frame[3])
        ifid = self._ids.get(key)
        if ifid is None:
            ifid = self._ids[key] = self._writer.add_interface(
                frame[3], self._snaplen, self._name(frame[1]))
        self._writer.write(frame, ifid)

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()
