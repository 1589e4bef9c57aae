#!/usr/bin/env python3
"""Writes the encapsulation captures in encap/ and their tshark truth in encap/truth/.

One small capture per encapsulation, each of frames whose inner packet is known:

* ``vxlan-live.pcap``: captured here, on a veth pair between two network namespaces
  that run VXLAN devices on ports 4789 and 8472, a TCP connection, a UDP datagram and a
  ping through each (root and iproute2 needed: ``--live``; the file is kept in git);
* the rest built with tests/builders.py, the kernel here having no Geneve, GRE-TAP,
  ERSPAN, MPLS or GTP devices: Geneve with and without options, GRE transparent
  Ethernet bridging, ERSPAN types I, II and III (with the platform subheader, and
  over IPv6), MPLS label stacks (IPv4, IPv6, under a VLAN tag, inside GRE), GTP-U (plain, with a
  sequence number, with an extension header chain, IPv6 inside, an echo request),
  PPPoE sessions (IPv4 TCP, IPv6 UDP).

The truth is tshark's, made as the shared corpus's is (corpus/README.md), with one
addition: ``-d udp.port==8472,vxlan`` (Wireshark maps VXLAN to 4789 alone).  Run
``make_encap.py`` again after changing it (``--live`` to capture VXLAN again);
tests/test_encap.py checks the captures against the truth, and the truth against
tshark where it is installed.
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)

from builders import (  # noqa: E402
    erspan2, erspan3, eth, geneve, gre, gtpu, icmp, icmp6, ip4, ip6, mpls, pcap_bytes,
    pppoe_session, tcp, udp,
)

__all__ = ["ENCAP", "TRUTH", "TSHARK_ARGS", "built", "capture_bytes", "vxlan_devices",
           "vxlan_traffic", "truth_of", "main"]

ENCAP = os.path.join(HERE, "encap")
TRUTH = os.path.join(ENCAP, "truth")

TSHARK_ARGS = [
    "-n", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
    "-o", "tcp.desegment_tcp_streams:FALSE", "-d", "udp.port==8472,vxlan",
    "-T", "fields", "-E", "header=y", "-E", "separator=/t", "-E", "occurrence=f",
    "-E", "quote=n",
] + [arg for field in (
    "frame.number", "frame.len", "frame.cap_len", "frame.protocols", "eth.src", "eth.dst",
    "vlan.id", "ip.src", "ip.dst", "ip.proto", "ip.len", "ip.ttl", "ip.flags.mf",
    "ip.frag_offset", "ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.plen", "tcp.srcport",
    "tcp.dstport", "tcp.flags", "tcp.window_size_value", "tcp.len", "udp.srcport",
    "udp.dstport", "udp.length", "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
    "arp.opcode", "frame.time_epoch", "frame.interface_id", "ieee8021ad.id", "sll.pkttype",
) for arg in ("-e", field)]

# outer and inner ends
OUT_A, OUT_B = "10.61.0.1", "10.61.0.2"
OUT6_A, OUT6_B = "fd00:61::1", "fd00:61::2"
IN_A, IN_B = "10.62.0.1", "10.62.0.2"
IN6_A, IN6_B = "fd00:62::1", "fd00:62::2"
MAC_A, MAC_B = "02:61:00:00:00:01", "02:61:00:00:00:02"
IMAC_A, IMAC_B = "02:62:00:00:00:01", "02:62:00:00:00:02"
DATA = b"GET / HTTP/1.1\r\n\r\n"


def _inner_tcp(flags="PA", payload=DATA, sport=40001, dport=80):
    return ip4(tcp(payload, sport=sport, dport=dport, flags=flags, seq=1000, ack=2000,
                   win=501, src=IN_A, dst=IN_B), src=IN_A, dst=IN_B, ttl=63)


def _inner_udp6():
    return ip6(udp(b"dns?", sport=5353, dport=53, src=IN6_A, dst=IN6_B),
               src=IN6_A, dst=IN6_B, nxt=17)


def _inner_ping():
    return ip4(icmp(b"ping", type=8, rest=b"\0\x01\0\x01"), src=IN_A, dst=IN_B, proto=1)


def _inner_frame(packet, type=0x0800):
    return eth(packet, src=IMAC_A, dst=IMAC_B, type=type)


def _outer4(payload, proto):
    return eth(ip4(payload, src=OUT_A, dst=OUT_B, proto=proto, ttl=64), src=MAC_A, dst=MAC_B)


def _outer6(payload, nxt):
    return eth(ip6(payload, src=OUT6_A, dst=OUT6_B, nxt=nxt), src=MAC_A, dst=MAC_B,
               type=0x86DD)


def _udp4(payload, sport, dport):
    return _outer4(udp(payload, sport=sport, dport=dport, src=OUT_A, dst=OUT_B), 17)


def built():
    """name -> frames of the hand-built captures."""
    syn = _inner_tcp("S", b"")
    ping6 = ip6(icmp6(b"ping", type=128, src=IN6_A, dst=IN6_B), src=IN6_A, dst=IN6_B, nxt=58)
    sgt = bytes((0, 1, 2, 3, 4, 5, 6, 7))
    return {
        "geneve": [
            _udp4(geneve(_inner_frame(_inner_tcp()), vni=7), 50001, 6081),
            _udp4(geneve(_inner_frame(syn), vni=7, options=bytes.fromhex(
                "01020301" "0000000a")), 50002, 6081),
            _udp4(geneve(_inner_udp6(), ptype=0x86DD, vni=8), 50003, 6081),
        ],
        "gre-teb": [
            _outer4(gre(_inner_frame(_inner_tcp()), proto=0x6558), 47),
            _outer4(gre(_inner_frame(_inner_udp6(), 0x86DD), proto=0x6558, key=9), 47),
        ],
        "erspan": [
            _outer4(gre(_inner_frame(_inner_tcp()), proto=0x88BE), 47),    # type I
            _outer4(gre(erspan2(_inner_frame(_inner_tcp()), session=12), proto=0x88BE,
                        seq=1), 47),
            _outer4(gre(erspan3(_inner_frame(syn), session=13, timestamp=77),
                        proto=0x22EB, seq=2), 47),
            _outer4(gre(erspan3(_inner_frame(_inner_ping()), session=14, platform=sgt),
                        proto=0x22EB, seq=3), 47),
            _outer6(gre(erspan3(_inner_frame(_inner_udp6(), 0x86DD), session=15),
                        proto=0x22EB, seq=4), 47),
        ],
        "mpls": [
            eth(mpls(_inner_tcp(), labels=((100, 0, 64), (200, 0, 64))), src=MAC_A,
                dst=MAC_B, type=0x8847),
            eth(mpls(_inner_udp6(), labels=((300, 5, 10), (301, 0, 10), (302, 0, 10))),
                src=MAC_A, dst=MAC_B, type=0x8847),
            eth(mpls(_inner_ping(), labels=(16,)), src=MAC_A, dst=MAC_B, type=0x8847,
                tags=[(0x8100, 42)]),
            _outer4(gre(mpls(_inner_tcp(), labels=(17, 18)), proto=0x8847), 47),
        ],
        "gtpu": [
            _udp4(gtpu(_inner_tcp(), teid=0x1001), 2152, 2152),
            _udp4(gtpu(syn, teid=0x1002, seq=9), 2152, 2152),
            _udp4(gtpu(_inner_ping(), teid=0x1003, extensions=((0x85, b"\x00\x09"),)),
                  2152, 2152),
            _udp4(gtpu(ping6, teid=0x1004), 2152, 2152),
            _udp4(gtpu(b"", teid=0, msg_type=1, seq=1), 2152, 2152),
        ],
        "pppoe": [
            eth(pppoe_session(_inner_tcp(), session=0x11), src=MAC_A, dst=MAC_B,
                type=0x8864),
            eth(pppoe_session(_inner_udp6(), session=0x11, proto=0x0057), src=MAC_A,
                dst=MAC_B, type=0x8864),
        ],
    }


def capture_bytes(frames):
    """A built capture's file: the frames from 2026-01-01, a millisecond apart."""
    t = 1767225600 * 10**9
    return pcap_bytes([(t + i * 10**6, frame) for i, frame in enumerate(frames)])


def write(name, frames):
    path = os.path.join(ENCAP, name + ".pcap")
    with open(path, "wb") as f:
        f.write(capture_bytes(frames))
    return path


def vxlan_devices(pair):
    """In both namespaces of a ``netns.NetnsPair``: a VXLAN device on 4789 (VNI 42,
    10.63.0.0/24) and one on 8472 (VNI 43, 10.64.0.0/24) over the veth link, with
    static neighbours (ARP is not the point) and no IPv6 of their own."""
    for ns, local, remote, veth, last in ((pair.a, pair.ip_a, pair.ip_b, pair.if_a, 1),
                                          (pair.b, pair.ip_b, pair.ip_a, pair.if_b, 2)):
        for dev, vni, port, net in (("vx0", 42, 4789, 63), ("vx1", 43, 8472, 64)):
            pair.run(ns, ["ip", "link", "add", dev, "type", "vxlan", "id", str(vni),
                          "dstport", str(port), "local", local, "remote", remote,
                          "dev", veth])
            pair.run(ns, ["ip", "link", "set", dev, "address",
                          "02:%02x:00:00:00:%02x" % (net, last), "addrgenmode", "none"])
            pair.run(ns, ["ip", "addr", "add", "10.%d.0.%d/24" % (net, last), "dev", dev])
            pair.run(ns, ["ip", "link", "set", dev, "up"])
            other = 3 - last
            pair.run(ns, ["ip", "neigh", "replace", "10.%d.0.%d" % (net, other),
                          "lladdr", "02:%02x:00:00:00:%02x" % (net, other), "dev", dev,
                          "nud", "permanent"])


def vxlan_traffic(pair):
    """Through each VXLAN device, from a to b: a TCP exchange, a UDP datagram and its
    echo, a ping and its reply."""
    server = pair.popen(pair.b, [sys.executable, "-c", _SERVER])
    try:
        time.sleep(0.5)
        for net in (63, 64):
            pair.run(pair.a, [sys.executable, "-c", _CLIENT, "10.%d.0.2" % net])
            pair.run(pair.a, [sys.executable, "-c", _PING, "10.%d.0.2" % net])
        time.sleep(0.5)
    finally:
        server.kill()
        server.communicate()


def live_vxlan(path):
    """Capture VXLAN on 4789 and 8472 between two namespaces into ``path``."""
    from netns import NetnsPair
    with NetnsPair() as pair:
        vxlan_devices(pair)
        pair.settle()
        dump = pair.popen(pair.a, ["tcpdump", "-U", "-n", "-i", pair.if_a, "-w", path,
                                   "udp port 4789 or udp port 8472"])
        try:
            time.sleep(1.0)
            vxlan_traffic(pair)
        finally:
            time.sleep(0.5)
            dump.terminate()
            dump.communicate(timeout=10)


# in b: a TCP server that answers one line on each connection, and a UDP echo
_SERVER = """
import socket, threading
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 5300))
    while True:
        data, peer = s.recvfrom(100)
        s.sendto(data, peer)
threading.Thread(target=udp, daemon=True).start()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 8080))
srv.listen(4)
while True:
    conn, _ = srv.accept()
    conn.recv(100)
    conn.sendall(b"HTTP/1.1 200 OK\\r\\n\\r\\n")
    conn.close()
"""
# in a: one echo request (a raw socket: no ping here), its reply awaited
_PING = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(3)
s.sendto(bytes.fromhex("0800f7fd00010001"), (sys.argv[1], 0))
s.recvfrom(100)
"""
# in a: one TCP exchange and one UDP datagram to the address given
_CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], 8080), timeout=3)
c.sendall(b"GET / HTTP/1.1\\r\\n\\r\\n")
c.recv(100)
c.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(3)
u.sendto(b"hello", (sys.argv[1], 5300))
u.recvfrom(100)
"""


def truth_of(path):
    """tshark's truth of one capture, as text (the corpus's .tsv format)."""
    return subprocess.run(["tshark"] + TSHARK_ARGS + ["-r", path], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, check=True,
                          timeout=120).stdout.decode("utf-8")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--live", action="store_true", help="capture vxlan-live.pcap again")
    args = ap.parse_args(argv)
    os.makedirs(TRUTH, exist_ok=True)
    paths = [write(name, frames) for name, frames in sorted(built().items())]
    live = os.path.join(ENCAP, "vxlan-live.pcap")
    if args.live:
        live_vxlan(live)
    if os.path.exists(live):
        paths.append(live)
    for path in paths:
        with open(os.path.join(TRUTH, os.path.basename(path) + ".tsv"), "w") as f:
            f.write(truth_of(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
