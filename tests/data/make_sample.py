#!/usr/bin/env python3
"""Writes sample.pcap beside this file: the capture the README's first command reads.

A minute of a small LAN, made with tests/builders.py so that its contents are known
exactly: ARP for the gateway, a DNS lookup over UDP, an HTTP/1.1 exchange over TCP with
a clean FIN close, a ping, an IPv6 TCP SYN left unanswered, and an STP frame.
Run it again after changing it; tests/test_sample.py pins what the file holds.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from builders import arp, eth, eth8023, icmp, ip4, ip6, llc, pcap_bytes, tcp, udp  # noqa: E402

PC, GW = "02:00:00:00:00:10", "02:00:00:00:00:01"
A, DNS, WEB = "10.1.0.10", "10.1.0.1", "10.2.0.80"


def frames():
    t = 1764000000 * 10**9
    out = []

    def add(data, gap_ms=3):
        nonlocal t
        t += gap_ms * 10**6
        out.append((t, data))

    def v4(payload, src, dst, proto, from_pc=True):
        return eth(ip4(payload, src=src, dst=dst, proto=proto),
                   src=PC if from_pc else GW, dst=GW if from_pc else PC)

    def seg(src, dst, sport, dport, flags, seq, ack, data=b"", from_pc=True):
        return v4(tcp(data, sport=sport, dport=dport, flags=flags, seq=seq, ack=ack,
                      src=src, dst=dst), src, dst, 6, from_pc)

    add(eth(arp(op=1, sha=PC, spa=A, tpa=DNS), src=PC, dst="ff:ff:ff:ff:ff:ff",
            type=0x0806, pad=True))
    add(eth(arp(op=2, sha=GW, spa=DNS, tha=PC, tpa=A), src=GW, dst=PC, type=0x0806, pad=True))
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03org\x00\x00\x01\x00\x01"
    add(v4(udp(query, sport=53000, dport=53, src=A, dst=DNS), A, DNS, 17))
    add(v4(udp(query[:2] + b"\x81\x80" + query[4:] + bytes(16), sport=53, dport=53000,
               src=DNS, dst=A), DNS, A, 17, False), 20)
    request = b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000
    c, s = 1000, 5000
    add(seg(A, WEB, 40000, 80, "S", c, 0))
    add(seg(WEB, A, 80, 40000, "SA", s, c + 1, from_pc=False), 30)
    add(seg(A, WEB, 40000, 80, "A", c + 1, s + 1))
    add(seg(A, WEB, 40000, 80, "PA", c + 1, s + 1, request))
    c += 1 + len(request)
    add(seg(WEB, A, 80, 40000, "A", s + 1, c, from_pc=False), 30)
    add(seg(WEB, A, 80, 40000, "PA", s + 1, c, response, from_pc=False), 5)
    s += 1 + len(response)
    add(seg(A, WEB, 40000, 80, "A", c, s))
    add(seg(A, WEB, 40000, 80, "FA", c, s))
    add(seg(WEB, A, 80, 40000, "FA", s, c + 1, from_pc=False), 30)
    add(seg(A, WEB, 40000, 80, "A", c + 1, s + 1))
    for i in range(2):
        add(v4(icmp(bytes(56), type=8, rest=b"\x00\x07\x00" + bytes([i])), A, WEB, 1), 100)
        add(v4(icmp(bytes(56), type=0, rest=b"\x00\x07\x00" + bytes([i])), WEB, A, 1, False), 30)
    add(eth(ip6(tcp(b"", sport=40001, dport=443, flags="S", src="fd00::10", dst="fd00::80"),
                src="fd00::10", dst="fd00::80", nxt=6), src=PC, dst=GW, type=0x86DD), 200)
    add(eth8023(llc(bytes(35), dsap=0x42, ssap=0x42), src="02:00:00:00:00:99",
                dst="01:80:c2:00:00:00"), 500)
    return out


def main():
    path = os.path.join(HERE, "sample.pcap")
    with open(path, "wb") as f:
        f.write(pcap_bytes(frames()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
