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
    live_peer.py sweep IFACE IP4 COUNT      a SYN to port 22 of COUNT other hosts of IP4's
                                            /24, broadcast on IFACE (none answers)
    live_peer.py pingflood IP4 COUNT        COUNT ICMP echo requests to IP4, as fast as it can
    live_peer.py arpflip IFACE IP4          ARP replies for IP4: at MAC A, then B, then A
    live_peer.py busy IP4 IP6 SOURCES...    ordinary busy traffic: 2000 short HTTP-like
                                            TCP connections from the SOURCES addresses, 20
                                            at a time, DNS-like UDP queries, a bulk TCP
                                            transfer and a bulk UDP stream (v4 and v6)

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
        t.listen(128)
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


def _ip4_tcp_syn(src, dst, sport, dport):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, src, dst)
    return ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:] + tcp


def sweep(ifname, ip4, count):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    mac = s.getsockname()[4]
    own = socket.inet_aton(ip4)
    for host in range(10, 10 + int(count)):
        dst = own[:3] + bytes([host])
        s.send(b"\xff" * 6 + mac + b"\x08\x00" + _ip4_tcp_syn(own, dst, 40000 + host, 22))
        time.sleep(0.02)
    time.sleep(0.2)


def pingflood(ip4, count):
    icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    for seq in range(int(count)):
        body = struct.pack("!BBHHH", 8, 0, 0, 0x4343, seq & 0xFFFF) + b"f" * 56
        body = body[:2] + struct.pack("!H", _checksum(body)) + body[4:]
        icmp.sendto(body, (ip4, 0))
    time.sleep(0.2)


def arpflip(ifname, ip4):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    own = s.getsockname()[4]
    for mac in (b"\x02\x00\x00\x00\x0a\x01", b"\x02\x00\x00\x00\x0b\x02",
                b"\x02\x00\x00\x00\x0a\x01"):
        body = (struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + mac + socket.inet_aton(ip4)
                + b"\xff" * 6 + socket.inet_aton(ip4))
        s.send(b"\xff" * 6 + own + b"\x08\x06" + body.ljust(46, b"\0"))
        time.sleep(0.3)


def busy(ip4, ip6, *sources):
    import threading
    sources = list(sources) or [None]

    def web(worker):
        for i in range(100):
            src = sources[(worker + i) % len(sources)]
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.settimeout(5)
            if src is not None:
                c.bind((src, 0))
            c.connect((ip4, 9001))
            c.sendall(b"GET /%d HTTP/1.0\r\nHost: test\r\n\r\n" % i)
            c.shutdown(socket.SHUT_WR)
            while c.recv(65536):
                pass
            c.close()
    workers = [threading.Thread(target=web, args=(w,)) for w in range(20)]
    for w in workers:
        w.start()
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(300):
        dns.sendto(b"\x12\x34\x01\x00\x00\x01" + bytes(6) + b"\x07example\x03com\x00\x00\x01\x00\x01",
                   (ip4, 9000))
        time.sleep(0.002)
    for family, addr in ((socket.AF_INET, ip4), (socket.AF_INET6, ip6)):
        bulk = socket.socket(family, socket.SOCK_STREAM)
        bulk.settimeout(10)
        bulk.connect((addr, 9001))
        bulk.sendall(b"b" * (1 << 20))
        bulk.shutdown(socket.SHUT_WR)
        while bulk.recv(65536):
            pass
        bulk.close()
        stream = socket.socket(family, socket.SOCK_DGRAM)
        for _ in range(1000):
            stream.sendto(b"s" * 1200, (addr, 9000))
    for w in workers:
        w.join()
    time.sleep(0.2)


def lo(count):
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.bind(("127.0.0.1", 9002))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(int(count)):
        s.sendto(b"l" * 100, ("127.0.0.1", 9002))
        r.recv(2048)


if __name__ == "__main__":
    commands = {"serve": serve, "client": client, "arp": arp, "vlan": vlan, "flood": flood,
                "lo": lo, "sweep": sweep, "pingflood": pingflood, "arpflip": arpflip,
                "busy": busy}
    sys.exit(commands[sys.argv[1]](*sys.argv[2:]))
