"""netdecode: the engine of iptraf.py — decoding, capture, accounting and I/O, no curses.

Modules: ``packet`` (the flat record and constants), ``decode`` (frame -> record) with its
layers ``link``, ``ip``, ``transport`` (contract in ``layer``), ``pcap`` (pcap and pcapng
files, read and written), ``dump`` (the ``--dump`` JSON view).  Importing the package
does nothing; import the module you need.
"""
__all__ = []
