"""The machine's network interfaces: name, index, kind, state, MTU, MAC and addresses.

Read from /sys/class/net (index, ARPHRD type, flags, MTU, MAC, and the directories
that tell a bridge, bond, wireless or tun device), /proc/net/if_inet6 (IPv6 addresses)
and rtnetlink (RTM_GETADDR, IPv4 addresses, every one, not just the primary); the
standard library only.  Kinds follow what `ip -d link` calls them where the kernel says.
"""
import os
import socket
import struct

from ..decoding.link import ARPHRD_TO_LINKTYPE

__all__ = ["Interface", "list_interfaces", "interface_by_name", "interface_up",
           "ARPHRD_LOOPBACK"]

ARPHRD_LOOPBACK = 772
_SYS = "/sys/class/net"
_IFF_UP = 0x1
_IFF_RUNNING = 0x40

_KIND_BY_ARPHRD = {
    1: "ethernet", 772: "loopback", 512: "ppp", 0xFFFE: "tun", 778: "gre", 776: "sit",
    768: "ipip", 769: "ip6tnl", 823: "ip6gre", 32: "ipoib", 801: "wireless",
    803: "wireless (monitor)", 824: "netlink", 65534: "tun",
}
_DEVTYPE_KIND = {"vlan": "vlan", "bridge": "bridge", "bond": "bond", "wlan": "wireless",
                 "wwan": "wwan", "gre": "gre", "macvlan": "macvlan", "vxlan": "vxlan",
                 "wireguard": "wireguard", "dsa": "dsa"}

# rtnetlink (linux/rtnetlink.h, linux/if_addr.h)
_NETLINK_ROUTE = 0
_RTM_GETADDR = 22
_RTM_NEWADDR = 20
_NLM_F_REQUEST = 1
_NLM_F_DUMP = 0x300
_NLMSG_DONE = 3
_NLMSG_ERROR = 2
_IFA_ADDRESS = 1
_IFA_LOCAL = 2
_NLMSGHDR = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")


class Interface:
    """One network interface as the system describes it."""

    __slots__ = ("name", "index", "arphrd", "linktype", "kind", "up", "running", "mtu",
                 "mac", "ipv4", "ipv6")

    def __init__(self, name, index, arphrd, kind, up, running, mtu, mac, ipv4, ipv6):
        self.name = name
        self.index = index
        self.arphrd = arphrd
        # a negative value names an ARPHRD type the decoder has no link type for
        self.linktype = ARPHRD_TO_LINKTYPE.get(arphrd, -arphrd)
        self.kind = kind
        self.up = up
        self.running = running
        self.mtu = mtu
        self.mac = mac
        self.ipv4 = ipv4
        self.ipv6 = ipv6

    def __repr__(self):
        return "Interface(%r, index=%d, kind=%r, up=%r, mtu=%d)" % (
            self.name, self.index, self.kind, self.up, self.mtu)


def _read(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def interface_up(name):
    """Whether interface ``name`` is up (IFF_UP); None when it does not exist."""
    flags = _read(os.path.join(_SYS, name, "flags"))
    try:
        return None if flags is None else bool(int(flags, 16) & _IFF_UP)
    except ValueError:
        return None


def _kind(name, arphrd):
    base = os.path.join(_SYS, name)
    for line in (_read(os.path.join(base, "uevent"), "") or "").splitlines():
        if line.startswith("DEVTYPE="):
            kind = _DEVTYPE_KIND.get(line[8:])
            if kind:
                return kind
    if os.path.isdir(os.path.join(base, "wireless")) or os.path.isdir(
            os.path.join(base, "phy80211")):
        return "wireless"
    if os.path.isdir(os.path.join(base, "bridge")):
        return "bridge"
    if os.path.isdir(os.path.join(base, "bonding")):
        return "bond"
    if os.path.exists(os.path.join(base, "tun_flags")):
        return "tap" if arphrd == 1 else "tun"
    if arphrd == 1 and not os.path.exists(os.path.join(base, "device")):
        return "virtual ethernet"     # veth, dummy, macvlan...: no hardware behind it
    return _KIND_BY_ARPHRD.get(arphrd, "ARPHRD %d" % arphrd)


def _ipv6_addresses():
    """ifindex -> [16-byte address] from /proc/net/if_inet6."""
    out = {}
    for line in (_read("/proc/net/if_inet6", "") or "").splitlines():
        parts = line.split()
        if len(parts) >= 6:
            out.setdefault(int(parts[1], 16), []).append(bytes.fromhex(parts[0]))
    return out


def _ipv4_addresses():
    """ifindex -> [4-byte address], every address, from an rtnetlink dump."""
    out = {}
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_ROUTE)
    except OSError:
        return out
    with sock:
        request = _NLMSGHDR.pack(_NLMSGHDR.size + _IFADDRMSG.size, _RTM_GETADDR,
                                 _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0)
        sock.send(request + _IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0))
        while True:
            buf = sock.recv(65536)
            off = 0
            while off + _NLMSGHDR.size <= len(buf):
                length, mtype, _, _, _ = _NLMSGHDR.unpack_from(buf, off)
                if length < _NLMSGHDR.size or mtype in (_NLMSG_DONE, _NLMSG_ERROR):
                    return out
                if mtype == _RTM_NEWADDR:
                    _parse_newaddr(buf, off + _NLMSGHDR.size, off + length, out)
                off += (length + 3) & ~3
            if not buf:
                return out


def _parse_newaddr(buf, off, end, out):
    family, _, _, _, index = _IFADDRMSG.unpack_from(buf, off)
    if family != socket.AF_INET:
        return
    pos, found = off + _IFADDRMSG.size, {}
    while pos + _RTATTR.size <= end:
        alen, atype = _RTATTR.unpack_from(buf, pos)
        if alen < _RTATTR.size:
            break
        found[atype] = buf[pos + _RTATTR.size:pos + alen]
        pos += (alen + 3) & ~3
    addr = found.get(_IFA_LOCAL) or found.get(_IFA_ADDRESS)
    if addr is not None and len(addr) == 4:
        out.setdefault(index, []).append(addr)


def list_interfaces():
    """Every interface the kernel knows, ordered by index."""
    try:
        names = os.listdir(_SYS)
    except OSError:
        return []
    v4, v6 = _ipv4_addresses(), _ipv6_addresses()
    found = []
    for name in names:
        base = os.path.join(_SYS, name)
        index = _read(os.path.join(base, "ifindex"))
        arphrd = _read(os.path.join(base, "type"))
        if index is None or arphrd is None:
            continue                  # vanished while we looked
        index, arphrd = int(index), int(arphrd)
        flags = int(_read(os.path.join(base, "flags"), "0") or "0", 16)
        mac = _read(os.path.join(base, "address"), "") or ""
        found.append(Interface(
            name, index, arphrd, _kind(name, arphrd), bool(flags & _IFF_UP),
            bool(flags & _IFF_RUNNING), int(_read(os.path.join(base, "mtu"), "0") or 0),
            bytes.fromhex(mac.replace(":", "")) if mac else b"", v4.get(index, []),
            v6.get(index, [])))
    found.sort(key=lambda i: i.index)
    return found


def interface_by_name(name):
    """The Interface called ``name``, or None."""
    for iface in list_interfaces():
        if iface.name == name:
            return iface
    return None
