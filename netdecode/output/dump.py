"""The ``--dump`` view: one JSON object per record, keys named after Wireshark's fields.

The key set is a contract (DESIGN.md, ``../shared/tools/conform.py``): ``n``, ``ts``,
``len``, ``caplen``, ``eth_src``, ``eth_dst``, ``vlan``, ``ip_src``, ``ip_dst``,
``ip_proto``, ``ip_len``, ``ip_ttl``, ``ip_mf``, ``ip_frag``, ``ip6_src``, ``ip6_dst``,
``ip6_nxt``, ``ip6_plen``, ``tcp_sport``, ``tcp_dport``, ``tcp_flags``, ``tcp_win``,
``tcp_len``, ``udp_sport``, ``udp_dport``, ``udp_len``, ``icmp_type``, ``icmp_code``,
``icmp6_type``, ``icmp6_code``, ``arp_op``, ``error``, and ``iface`` (the interface's
name, when known) and ``dir`` (``in`` or ``out``, when known); a key that does not apply
is left out.  A frame with both a UDP and a TCP header (TCP in VXLAN, Geneve, GTP-U) has
both sets: ``udp_*`` the outer header's, ``tcp_*`` the inner one's, as Wireshark's
first-occurrence fields.  ``ts`` is seconds with nine decimals, exact from the integer nanoseconds.
"""
import json
import socket

from ..decoding.packet import (
    ARP_OP, DATA, DPORT, ERROR, ETH_DST, ETH_SRC, ICMP6_CODE, ICMP6_TYPE, ICMP_CODE,
    ICMP_TYPE, IFINDEX, INNER_DPORT, INNER_PROTO, INNER_SPORT, IP6_DST, IP6_NXT, IP6_PLEN,
    IP6_SRC, IP_DST, IP_LEN, IP_OFF, IP_PROTO, IP_SRC, IP_TTL, LEN, PACKET_OUTGOING, PKTTYPE,
    PROTO, SPORT, TCP_FLAGS, TCP_LEN, TCP_WIN, TS, UDP_LEN, VLAN,
)

__all__ = ["Dumper", "mac_text", "ip_text", "seconds_text"]

_AF_BY_SIZE = {4: socket.AF_INET, 16: socket.AF_INET6}


def mac_text(mac):
    """aa:bb:cc:dd:ee:ff"""
    return "%02x:%02x:%02x:%02x:%02x:%02x" % tuple(mac)


def ip_text(addr):
    """Dotted quad or RFC 5952 compressed IPv6."""
    return socket.inet_ntop(_AF_BY_SIZE[len(addr)], addr)


class Dumper:
    """Writes records as JSON lines to a text stream, numbering frames from 1; a monitor
    sink (``add``).  ``interface_name(ifindex)`` gives the ``iface`` key (None: left out).
    """

    def __init__(self, out, interface_name=None):
        self._out = out
        self._iface = interface_name or (lambda ifindex: None)
        self._n = 0
        self._names = {}        # address text, bounded: cleared when it grows past _MAX_NAMES

    _MAX_NAMES = 65536

    def __repr__(self):
        return "Dumper(%r, n=%d)" % (self._out, self._n)

    def _ip(self, addr):
        text = self._names.get(addr)
        if text is None:
            if len(self._names) >= self._MAX_NAMES:
                self._names.clear()
            text = self._names[addr] = ip_text(addr)
        return text

    def tick(self, now):
        self._out.flush()

    def snapshot(self):
        return {}

    def add(self, r):
        self._n += 1
        d = {"len": r[LEN]}
        d["caplen"] = len(r[DATA])
        if r[ETH_SRC] is not None:
            d["eth_src"] = mac_text(r[ETH_SRC])
        if r[ETH_DST] is not None:
            d["eth_dst"] = mac_text(r[ETH_DST])
        if r[VLAN] is not None:
            d["vlan"] = r[VLAN]
        # a header cut short leaves some of its fields out: each key stands alone
        if r[IP_SRC] is not None:
            d["ip_src"] = self._ip(r[IP_SRC])
        if r[IP_DST] is not None:
            d["ip_dst"] = self._ip(r[IP_DST])
        _put(d, "ip_proto", r[IP_PROTO])
        _put(d, "ip_len", r[IP_LEN])
        _put(d, "ip_ttl", r[IP_TTL])
        if r[IP_OFF] is not None:
            d["ip_mf"] = r[IP_OFF] >> 13 & 1
            d["ip_frag"] = r[IP_OFF] & 0x1FFF
        if r[IP6_SRC] is not None:
            d["ip6_src"] = self._ip(r[IP6_SRC])
        if r[IP6_DST] is not None:
            d["ip6_dst"] = self._ip(r[IP6_DST])
        _put(d, "ip6_nxt", r[IP6_NXT])
        _put(d, "ip6_plen", r[IP6_PLEN])
        proto = r[PROTO]
        if proto == 6:
            _put(d, "tcp_sport", r[SPORT])
            _put(d, "tcp_dport", r[DPORT])
        elif proto == 17:
            _put(d, "udp_sport", r[SPORT])
            _put(d, "udp_dport", r[DPORT])
            _put(d, "udp_len", r[UDP_LEN])
            if r[INNER_PROTO] == 6:     # the first TCP header, inside a UDP tunnel
                _put(d, "tcp_sport", r[INNER_SPORT])
                _put(d, "tcp_dport", r[INNER_DPORT])
        _put(d, "tcp_flags", r[TCP_FLAGS])
        _put(d, "tcp_win", r[TCP_WIN])
        _put(d, "tcp_len", r[TCP_LEN])
        _put(d, "icmp_type", r[ICMP_TYPE])
        _put(d, "icmp_code", r[ICMP_CODE])
        _put(d, "icmp6_type", r[ICMP6_TYPE])
        _put(d, "icmp6_code", r[ICMP6_CODE])
        _put(d, "arp_op", r[ARP_OP])
        _put(d, "error", r[ERROR])
        _put(d, "iface", self._iface(r[IFINDEX]))
        pkttype = r[PKTTYPE]
        if pkttype is not None:
            d["dir"] = "out" if pkttype == PACKET_OUTGOING else "in"
        ts = r[TS]
        if ts is None:
            head = '{"n": %d, ' % self._n
        else:
            head = '{"n": %d, "ts": %s, ' % (self._n, seconds_text(ts))
        self._out.write(head + json.dumps(d)[1:] + "\n")


def _put(d, key, value):
    if value is not None:
        d[key] = value


def seconds_text(ns):
    """Integer nanoseconds as decimal seconds with nine digits, exactly (no float rounding)."""
    sign = "-" if ns < 0 else ""
    sec, frac = divmod(abs(ns), 1000000000)
    return "%s%d.%09d" % (sign, sec, frac)
