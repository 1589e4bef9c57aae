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

With the facility counting in the kernel (``--capture-mode auto|ebpf``), most frames
never reach the monitor, so the recorder is no sink of it: ``Recording`` gives it a
capture of its own on the same interface (no counting program; ``-F``'s classic filter,
as the ring would have), read in a thread of its own.  A thread, not a second fd in the
event loops: the headless loop and the screens' loop stay as they are, and writing the
file never waits on the screen.  The kernel hands a frame to each packet socket, so the
file holds every frame whichever of them the counting program keeps.
"""
import threading

from ..decoding.packet import DATA, IFINDEX, LEN, LINKTYPE, PKTTYPE, TS
from .live import InterfaceDown, InterfaceGone
from .pcap import PcapngWriter, PcapWriter

__all__ = ["Recorder", "Recording"]

_POLL = 0.1          # seconds the thread waits for frames before it looks at its stop


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


class Recording:
    """``recorder`` fed from ``capture`` (a LiveCapture of its own) by a thread: every
    frame written, the file flushed after each batch.  ``start()`` after any fork (-B:
    a thread does not survive one); ``close()`` stops the thread after a last read,
    joins it, and closes the capture and the recorder: on every way out, and more than
    once if need be.  The thread is the only user of both until ``close()``."""

    def __init__(self, capture, recorder):
        self.capture, self.recorder = capture, recorder
        self.error = None             # the OSError that ended the writing, if one did
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="iptraf-w", daemon=True)

    def __repr__(self):
        return "Recording(%r, %r)" % (self.capture, self.recorder)

    def start(self):
        if self._thread.ident is None:
            self._thread.start()

    @property
    def running(self):
        return self._thread.is_alive()

    def _run(self):
        cap, stop = self.capture, self._stop
        write, flush = self.recorder.write, self.recorder.flush
        try:
            while True:
                # set while waiting: one more read takes what came before the stop
                stopping = stop.is_set()
                cap.wait(_POLL)
                try:
                    frames = cap.read()
                except InterfaceDown:
                    if stopping:
                        return
                    stop.wait(_POLL)
                    continue
                except InterfaceGone:
                    return            # the run sees it too, and ends
                for frame in frames:
                    write(frame)
                if frames:
                    flush()
                if stopping:
                    return
        except OSError as e:
            self.error = e            # the file (disk full): told at close()

    def close(self):
        """Stop, join and close; returns the kernel's drops on this capture."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()
        dropped = 0
        if self.capture is not None:
            dropped = self.capture.stats()["dropped"]
            self.capture.close()
            self.capture = None
            try:
                self.recorder.close()
            except OSError as e:
                self.error = self.error or e
        return dropped
