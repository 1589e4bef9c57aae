"""Packet filters: tcpdump expressions compiled to classic BPF, run in the kernel or here.

``compile_filter(expr, linktype, live=False)`` parses a tcpdump filter expression
(pcap-filter(7)) and compiles it to a classic BPF program (linux/filter.h, the code
``tcpdump -d`` prints) for one link type.  The same program serves both ends:

* live capture attaches it to the packet socket (``Program.attach(sock)``, SO_ATTACH_FILTER),
  or runs it first in the eBPF program that counts in the kernel (``extended``);
* files run it here, through a Python function generated from the program once
  (``Program.match``), checked against a plain interpreter with the kernel's semantics
  (``Program.run_reference``).

The compiler follows libpcap 1.10 step by step, so that the frames a filter passes are
the frames ``tcpdump -r FILE EXPR`` passes: the parser reproduces the grammar of
libpcap's grammar.y (``and`` and ``or`` of equal precedence, left-associative; ``not``
binding tightest; an identifier without qualifiers repeats the last ones, so
``host a or b`` is ``host a or host b``), and the code generator reproduces gencode.c's
blocks for every primitive, so that ``compile_filter(..., optimize=False)`` prints what
``tcpdump -O -d`` prints.  The optimizer is this package's own: a path-sensitive
symbolic execution of that program which drops every load and test whose outcome is
already known on the path, emits each surviving test once, shares identical tails and,
as libpcap does, regroups chains of tests so that a value is loaded once; its programs
are about as long as libpcap's.  Like libpcap's, it drops loads whose value no test
needs, so a frame captured shorter than such a load reads is not rejected for it.
Optimizers differ in what they find unneeded: on frames cut short inside the headers
a filter reads, an expression that contradicts itself in part (``udp[4:2] > 9 and
icmp``) can be judged differently from tcpdump; on whole frames never.

Link types: Ethernet (1), Linux cooked SLL (113) and SLL2 (276), raw IP (101, 12, 14),
IPv4 (228), IPv6 (229), BSD NULL (0, address family in little-endian host order, as
tcpdump compiles it on x86) and OpenBSD LOOP (108).

Live capture on Linux: the kernel moves the outer 802.1Q tag of a received frame into
the socket buffer's metadata before a packet socket's filter runs.  With ``live=True``
the ``vlan`` primitive is compiled the way libpcap compiles it for a live Linux socket:
it tests the ancillary VLAN_TAG_PRESENT / VLAN_TAG loads (SKF_AD_OFF + 48 / + 44)
first, and only when no tag is in the metadata does it look for a tag in the frame
(and then moves the following offsets by 4).  Without ``live`` (files), tags are in the
frame data, as ``tcpdump -r`` sees them.  A cooked (SOCK_DGRAM) packet socket filters
packets without the Linux cooked header: ``Program.cooked()`` moves a program compiled
for SLL or SLL2 onto what that socket's filter sees, as libpcap does.

Deliberately left out: host, network, gateway and Ethernet names (no DNS or
/etc/hosts, /etc/networks, /etc/ethers lookups; port and protocol names come from
/etc/services and /etc/protocols), ``protochain``, MPLS, PPPoE sessions, Geneve,
802.11, ATM, SS7, ARCnet, DECnet addresses, IPX/AppleTalk/ISO link tests, ``byte``,
``ifindex``; ``ip broadcast`` uses the netmask 0 that tcpdump uses for files.  One
libpcap quirk is not copied: its optimizer takes ``x & 0xffffffff != 0`` as always
true; here it is tested.  One convenience is added: ``ip proto tcp`` (and the other
protocol keywords after ``proto``) where tcpdump wants ``ip proto \tcp``.

The stages are modules, as libpcap splits the same compiler: ``grammar`` (scanner.l and
grammar.y: the expression to a syntax tree), ``gencode`` (gencode.c: the tree to blocks,
laid out as instructions), ``optimize``, ``machine`` (the kernel's side: the checker,
the reference interpreter, and the ``tcpdump -d`` form of an instruction), ``matcher``
(a program as a Python function) and ``program`` (``compile_filter``, ``Program``,
``Filter``); ``bpf`` holds the numbers they share and ``FilterError``.  ``extended``
translates a live program to eBPF, as the kernel runs it, so that a kernel counter's
program (accounting/kernel.py) can begin with the filter.
"""
from .bpf import FilterError
from .program import Filter, Program, compile_filter

__all__ = ["FilterError", "compile_filter", "Program", "Filter"]
