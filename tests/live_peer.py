"""Known traffic for the live tests, run inside a namespace by tests/netns.py.

    live_peer.py serve IP4 IP6 SECONDS      UDP sink on 9000, TCP sink on 9001 (v4 and v6)
    live_peer.py client IP4 IP6 TCPBYTES    UDP 100,200,300,1000 bytes to IP4 and 150,250
                                            to IP6; a TCP connection to IP4 sending
                                            TCPBYTES then a clean close; 3 ICMP echoes
    live_peer.py arp IFACE IP4              one broadcast ARP request for IP4
    live_peer.py vlan IFACE VID COUNT       COUNT broadcast 802.1Q frames, VLAN VID
    live_peer.py flood IFACE COUNT SIZE     COUNT broadcast frames of SIZE bytes, ethertype
                                            0x88b5 (local experimental), as fast as it can
    live_peer.py lo COUNT                   COUNT UDP datagrams of 100 bytes to 127.0.0.1

Bounded in count and time; only to the addresses given (the test's own namespaces).
"""
import select
import socket
import struct
import sys
import time

UDP4 = (100, 200, 300, 1000)
UDP6 = (150, 250)
ECHOES = 3


def serve(ip4, ip6, seconds):
    socks = []
    for family, addr in ((socket.AF_INET, ip4), (socket.AF_INET6, ip6)):
        u = socket.socket(family, socket.SOCK_DGRAM)
        u.bind((addr, 9000))
        t = socket.socket(family, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((addr, 9001))
        t.listen(4)
        socks += [u, t]
    print("ready", flush=True)
    end = time.monotonic() + float(seconds)
    conns = []
    while time.monotonic() < end:
        ready, _, _ = select.select(socks + conns, [], [], 0.1)
        for s in ready:
            if s.type == socket.SOCK_DGRAM:
                s.recv(65536)
            elif s in conns:
                if not s.recv(65536):
                    conns.remove(s)
                    s.close()
            else:
                conns.append(s.accept()[0])


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def client(ip4, ip6, tcp_bytes):
    u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for size in UDP4:
        u4.sendto(b"u" * size, (ip4, 9000))
        time.sleep(0.02)
    u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    for size in UDP6:
        u6.sendto(b"v" * size, (ip6, 9000))
        time.sleep(0.02)
    t = socket.create_connection((ip4, 9001), timeout=5)
    t.sendall(b"t" * int(tcp_bytes))
    t.shutdown(socket.SHUT_WR)
    t.settimeout(5)
    while t.recv(65536):
        pass
    t.close()
    icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    icmp.settimeout(2)
    for seq in range(ECHOES):
        body = struct.pack("!BBHHH", 8, 0, 0, 0x4242, seq) + b"p" * 56
        body = body[:2] + struct.pack("!H", _checksum(body)) + body[4:]
        icmp.sendto(body, (ip4, 0))
        icmp.recv(2048)
    time.sleep(0.2)


def vlan(ifname, vid, count):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    src = s.getsockname()[4]
    frame = (b"\xff" * 6 + src + struct.pack("!HHH", 0x8100, int(vid), 0x88B5)
             + b"vlan test payload".ljust(46, b"\0"))
    for _ in range(int(count)):
        s.send(frame)
        time.sleep(0.01)


def arp(ifname, target):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    mac = s.getsockname()[4]
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect((target, 9))
    own = socket.inet_aton(probe.getsockname()[0])
    body = (struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + own + b"\0" * 6
            + socket.inet_aton(target))
    s.send(b"\xff" * 6 + mac + b"\x08\x06" + body.ljust(46, b"\0"))
    time.sleep(0.2)


def flood(ifname, count, size):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    frame = (b"\xff" * 6 + s.getsockname()[4] + b"\x88\xb5").ljust(int(size), b"f")
    send = s.send
    for _ in range(int(count)):
        while True:
            try:
                send(frame)
                break
            except BlockingIOError:
                time.sleep(0.001)


def lo(count):
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.bind(("127.0.0.1", 9002))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(int(count)):
        s.sendto(b"l" * 100, ("127.0.0.1", 9002))
        r.recv(2048)


if __name__ == "__main__":
    commands = {"serve": serve, "client": client, "arp": arp, "vlan": vlan, "flood": flood,
                "lo": lo}
    sys.exit(commands[sys.argv[1]](*sys.argv[2:]))
