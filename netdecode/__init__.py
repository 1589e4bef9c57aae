"""netdecode: the engine of iptraf.py.  Frames come in from a capture or a file, are
decoded once, counted by a facility, and leave as snapshots for the screens and scripts.

Rooms: ``decoding`` (frame -> flat record), ``capture`` (live rings and sockets, pcap
files, the recorder, interfaces), ``filter`` (tcpdump expressions to BPF), ``accounting``
(the facilities' state), ``output`` (dump, logs, names), ``run`` (the one loop and the
headless runs), ``ui`` (the curses front end, the only importer of curses).  Importing a
package does nothing; import the module you need.
"""
__all__ = []
