"""The flat per-packet record, its field indexes, and the protocol constants and names.

``decode`` turns a frame into a plain tuple whose layout is ``Packet``'s: a namedtuple
that documents the fields once and gives slow consumers (``--dump``, tests) names
(``Packet._make(record)``).  Hot consumers index the tuple with the module constants
(``record[IP_SRC]``) or unpack it.  A plain tuple is the cheapest record CPython builds
(tests/bench/record.py); the field order matters: the decoder's fast path writes the
first 30 as one tuple display (CPython builds larger displays through a list, at three
times the cost) and appends a constant tail of ``None``.

Fields that do not apply are ``None``.  With tunnels every field keeps its *first
occurrence*, outermost first, as Wireshark's first-occurrence fields do: the IPv4
fields are the outermost IPv4 header, the IPv6 fields the outermost IPv6 header,
``proto``, the ports and ``udp_len`` the first transport header found (inside IP-in-IP
and GRE: the inner packet's; over a UDP tunnel: the outer UDP header), the ``tcp_*``
fields the first TCP header (inside a UDP tunnel too: Wireshark's ``tcp.*`` beside the
outer ``udp.*``).  The ``inner_*`` fields say what a tunnel carries: the innermost IP
header's addresses and its transport header, so that the inner flow of a VXLAN or GTP-U
packet is there to show and the first TCP header's ports (``inner_sport`` when
``proto`` is UDP) are not lost.  Headers quoted inside ICMP errors are not decoded:
they are not this packet's ports.

Addresses stay ``bytes`` (6 for MAC, 4 or 16 for IP); text is the display's business.
Constants keep the Linux header names so that they grep-match the kernel headers.
"""
import collections

__all__ = [
    "Packet", "FIELDS",
    "TS", "IFINDEX", "PKTTYPE", "LINKTYPE", "LEN", "DATA",
    "ETH_SRC", "ETH_DST", "VLAN", "ETHERTYPE",
    "IP_SRC", "IP_DST", "IP_PROTO", "IP_LEN", "IP_TTL", "IP_OFF", "IP_HDR",
    "IP6_SRC", "IP6_DST", "IP6_NXT", "IP6_PLEN",
    "PROTO", "SPORT", "DPORT", "TCP_FLAGS", "TCP_WIN", "TCP_SEQ", "TCP_ACK", "TCP_LEN", "UDP_LEN",
    "LLC_DSAP", "FRAGMENT", "TUNNEL", "ICMP_TYPE", "ICMP_CODE", "ICMP6_TYPE", "ICMP6_CODE",
    "ARP_OP", "ARP_SPA", "ARP_TPA", "ARP_SHA", "ERROR",
    "INNER_SRC", "INNER_DST", "INNER_PROTO", "INNER_SPORT", "INNER_DPORT",
    "PACKET_HOST", "PACKET_BROADCAST", "PACKET_MULTICAST", "PACKET_OTHERHOST",
    "PACKET_OUTGOING",
    "ETH_P_IP", "ETH_P_IPV6", "ETH_P_ARP", "ETH_P_RARP", "ETH_P_8021Q", "ETH_P_8021AD",
    "ETH_P_QINQ1", "ETH_P_MPLS_UC", "ETH_P_MPLS_MC", "ETH_P_PPP_SES", "ETH_P_TEB",
    "IPPROTO_ICMP", "IPPROTO_IGMP", "IPPROTO_IPIP", "IPPROTO_TCP", "IPPROTO_UDP",
    "IPPROTO_IPV6", "IPPROTO_GRE", "IPPROTO_ESP", "IPPROTO_AH", "IPPROTO_ICMPV6",
    "IPPROTO_SCTP",
    "TH_FIN", "TH_SYN", "TH_RST", "TH_PUSH", "TH_ACK", "TH_URG", "TH_ECE", "TH_CWR",
    "TH_AE",
    "ETHERTYPE_NAMES", "IPPROTO_NAMES", "LLC_SAP_NAMES",
    "ethertype_name", "ipproto_name",
]

FIELDS = (
    # the frame, as the source gave it (the captured length is len(data))
    "ts",          # int nanoseconds since the epoch, None when the file has none (pcapng SPB)
    "ifindex",     # live interface index, or the pcapng interface id (0 for classic pcap)
    "pkttype",     # PACKET_* direction, None when unknown
    "linktype",    # LINKTYPE_* number the frame was decoded as
    "len",         # wire length: link header included, FCS excluded
    "data",        # the captured bytes
    # link layer
    "eth_src", "eth_dst",   # outermost Ethernet (or the encapsulated one under a non-Ethernet link)
    "vlan",        # outermost VLAN id (802.1ad S-tag, else the first 802.1Q tag)
    "ethertype",   # ethertype of the payload under the link layer (after VLAN/MPLS/PPPoE/SNAP)
    # outermost IPv4 header
    "ip_src", "ip_dst", "ip_proto", "ip_len", "ip_ttl",
    "ip_off",      # the raw 16-bit flags + fragment offset field
    "ip_hdr",      # offset of that header in data (for the checksum check, on demand)
    # outermost IPv6 header
    "ip6_src", "ip6_dst",
    "ip6_nxt",     # next header of the fixed header
    "ip6_plen",
    # the first transport header
    "proto",       # its IP protocol number, after IPv6 extension headers, AH and tunnels
    "sport", "dport",   # TCP, UDP, UDP-Lite, SCTP or DCCP ports; not on later fragments
    "tcp_flags",   # the first TCP header's: the 12 flag bits (AE is 0x100)
    "tcp_win", "tcp_seq", "tcp_ack",
    "tcp_len",     # payload length from the IP lengths (what the headers claim); not on fragments
    "udp_len",     # the UDP length field as written
    # the rarer fields last: the decoder's fast path fills the ones above and no more
    "llc_dsap",    # 802.2 DSAP of an 802.3 frame without SNAP (STP is 0x42)
    "fragment",    # True when this is a fragment of a larger IPv4 or IPv6 datagram
    "tunnel",      # the first encapsulation decoded through (IP protocol 4, 41 or 47, or
                   # a UDP port of transport.UDP_TUNNEL_PORTS): the address fields are
                   # the outer packet's, the inner_* fields the carried packet's
    "icmp_type", "icmp_code", "icmp6_type", "icmp6_code",   # the first ICMP / ICMPv6 header
    "arp_op", "arp_spa", "arp_tpa",                         # ARP and RARP
    "arp_sha",     # the sender's hardware address (arpwatch's, which a spoofer sets)
    "error",       # text: which layer, at which offset, what was wrong; None when all was well
    # what a tunnel carries (None without one): the innermost IP header decoded
    "inner_src", "inner_dst",   # its addresses (4 or 16 bytes)
    "inner_proto",              # its protocol, after extension headers
    "inner_sport", "inner_dport",   # the ports of its TCP, UDP, SCTP... header
)

Packet = collections.namedtuple("Packet", FIELDS)

(TS, IFINDEX, PKTTYPE, LINKTYPE, LEN, DATA,
 ETH_SRC, ETH_DST, VLAN, ETHERTYPE,
 IP_SRC, IP_DST, IP_PROTO, IP_LEN, IP_TTL, IP_OFF, IP_HDR,
 IP6_SRC, IP6_DST, IP6_NXT, IP6_PLEN,
 PROTO, SPORT, DPORT, TCP_FLAGS, TCP_WIN, TCP_SEQ, TCP_ACK, TCP_LEN, UDP_LEN,
 LLC_DSAP, FRAGMENT, TUNNEL, ICMP_TYPE, ICMP_CODE, ICMP6_TYPE, ICMP6_CODE,
 ARP_OP, ARP_SPA, ARP_TPA, ARP_SHA, ERROR,
 INNER_SRC, INNER_DST, INNER_PROTO, INNER_SPORT, INNER_DPORT) = range(len(FIELDS))

# linux/if_packet.h
PACKET_HOST = 0
PACKET_BROADCAST = 1
PACKET_MULTICAST = 2
PACKET_OTHERHOST = 3
PACKET_OUTGOING = 4

# linux/if_ether.h
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_TEB = 0x6558
ETH_P_RARP = 0x8035
ETH_P_8021Q = 0x8100
ETH_P_IPV6 = 0x86DD
ETH_P_MPLS_UC = 0x8847
ETH_P_MPLS_MC = 0x8848
ETH_P_PPP_SES = 0x8864
ETH_P_8021AD = 0x88A8
ETH_P_QINQ1 = 0x9100

# netinet/in.h
IPPROTO_ICMP = 1
IPPROTO_IGMP = 2
IPPROTO_IPIP = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_GRE = 47
IPPROTO_ESP = 50
IPPROTO_AH = 51
IPPROTO_ICMPV6 = 58
IPPROTO_SCTP = 132

# TCP flag bits as they sit in the 12-bit field
TH_FIN = 0x001
TH_SYN = 0x002
TH_RST = 0x004
TH_PUSH = 0x008
TH_ACK = 0x010
TH_URG = 0x020
TH_ECE = 0x040
TH_CWR = 0x080
TH_AE = 0x100

ETHERTYPE_NAMES = {
    0x0800: "IPv4", 0x0806: "ARP", 0x0842: "Wake-on-LAN", 0x22F0: "AVTP",
    0x22F3: "TRILL", 0x6003: "DECnet", 0x6558: "Transparent Ethernet", 0x8035: "RARP",
    0x809B: "AppleTalk", 0x80F3: "AARP", 0x8100: "802.1Q", 0x8137: "IPX", 0x8138: "IPX",
    0x8204: "QNX Qnet", 0x86DD: "IPv6", 0x8808: "Ethernet flow control", 0x8809: "Slow protocols (LACP)",
    0x8819: "CobraNet", 0x8847: "MPLS", 0x8848: "MPLS multicast", 0x8863: "PPPoE discovery",
    0x8864: "PPPoE session", 0x886D: "Intel ANS", 0x887B: "HomePlug", 0x888E: "EAPOL",
    0x8892: "PROFINET", 0x889A: "HyperSCSI", 0x88A2: "ATA over Ethernet", 0x88A4: "EtherCAT",
    0x88A8: "802.1ad", 0x88AB: "Powerlink", 0x88B8: "GOOSE", 0x88B9: "GSE", 0x88BA: "SV",
    0x88CC: "LLDP", 0x88CD: "SERCOS III", 0x88E1: "HomePlug AV", 0x88E3: "MRP",
    0x88E5: "MACsec", 0x88E7: "PBB", 0x88F7: "PTP", 0x88F8: "NC-SI", 0x88FB: "PRP",
    0x8902: "CFM", 0x8906: "FCoE", 0x8914: "FIP", 0x8915: "RoCE", 0x891D: "TTE",
    0x893A: "IEEE 1905", 0x892F: "HSR", 0x9000: "Loopback", 0x9100: "802.1Q (QinQ)",
    0xCAFE: "Veritas LLT",
}

LLC_SAP_NAMES = {
    0x42: "STP", 0xAA: "SNAP", 0xE0: "IPX", 0xF0: "NetBIOS", 0xFE: "OSI", 0x06: "IP",
    0x04: "SNA", 0x98: "ARP", 0xBC: "VINES", 0xF4: "LAN Management", 0xFF: "global",
}

IPPROTO_NAMES = {
    0: "HOPOPT", 1: "ICMP", 2: "IGMP", 3: "GGP", 4: "IPIP", 5: "ST", 6: "TCP", 7: "CBT",
    8: "EGP", 9: "IGP", 12: "PUP", 17: "UDP", 20: "HMP", 22: "XNS-IDP", 27: "RDP",
    29: "ISO-TP4", 33: "DCCP", 36: "XTP", 37: "DDP", 41: "IPv6", 43: "IPv6-Route",
    44: "IPv6-Frag", 45: "IDRP", 46: "RSVP", 47: "GRE", 50: "ESP", 51: "AH",
    55: "MOBILE", 56: "TLSP", 57: "SKIP", 58: "ICMPv6", 59: "IPv6-NoNxt", 60: "IPv6-Opts",
    80: "ISO-IP", 83: "VINES", 88: "EIGRP", 89: "OSPF", 92: "MTP", 94: "IPIP (KA9Q)",
    97: "ETHERIP", 98: "ENCAP", 103: "PIM", 108: "IPComp", 112: "VRRP", 113: "PGM",
    115: "L2TP", 118: "STP", 121: "SMP", 124: "IS-IS", 132: "SCTP", 133: "FC",
    135: "Mobility", 136: "UDPLite", 137: "MPLS-in-IP", 138: "MANET", 139: "HIP",
    140: "Shim6", 141: "WESP", 142: "ROHC", 143: "Ethernet", 253: "experimental",
    254: "experimental", 255: "reserved",
}


def ethertype_name(ethertype):
    """'LLDP' for 0x88cc; the hex number for one without a name."""
    name = ETHERTYPE_NAMES.get(ethertype)
    return name if name is not None else "ethertype 0x%04x" % ethertype


def ipproto_name(proto):
    """'OSPF' for 89; 'IP protocol N' for one without a name."""
    name = IPPROTO_NAMES.get(proto)
    return name if name is not None else "IP protocol %d" % proto
