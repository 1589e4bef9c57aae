"""The contract between the layer decoders (link, ip, transport) and the driver in decode.

A layer decoder is ``decoder(f, buf, off, end) -> (kind, key, off, end)``:

* ``f`` is the record being filled, a list laid out as ``packet.FIELDS``; a decoder sets
  a field only while it is still ``None`` (Wireshark's first-occurrence rule, so the
  outermost header of each kind wins inside tunnels);
* ``buf`` is the whole captured frame, never sliced; ``off`` is where this layer starts;
* ``end`` is where this layer's data ends *as the headers claim it* (derived from the
  wire length and the length fields), which may lie past ``len(buf)`` when the capture
  was cut short; reads check ``len(buf)``, lengths reported are the claimed ones;
* the result names what comes next: ``(NEXT_LINK, linktype, ...)``,
  ``(NEXT_ETHERTYPE, ethertype, ...)``, ``(NEXT_IPPROTO, protocol, ...)`` or ``STOP``.

A malformed or truncated layer records why in ``f[ERROR]`` and returns ``STOP``; it never
raises.  Everything decoded before that point stays in the record.  A malformed part that
does not move the offset on (an IPv6 option inside a header whose own length is sound) is
recorded the same way, and the walk goes on past it, as Wireshark's does.
"""
from .packet import ERROR

__all__ = ["NEXT_LINK", "NEXT_ETHERTYPE", "NEXT_IPPROTO", "STOP", "fail", "short"]

NEXT_LINK = 0
NEXT_ETHERTYPE = 1
NEXT_IPPROTO = 2
STOP = (3, None, 0, 0)


def fail(f, what, off, why):
    """Record that the layer ``what`` at ``off`` is malformed; return STOP."""
    if f[ERROR] is None:
        f[ERROR] = "%s at offset %d: %s" % (what, off, why)
    return STOP


def short(f, what, off, have, need):
    """Record that only ``have`` of the ``need`` bytes of a header were captured."""
    if have < 0:
        have = 0
    return fail(f, what, off, "%d bytes captured, %d needed" % (have, need))
