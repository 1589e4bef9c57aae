"""The numbers the compiler's stages share, and the error they raise.

The classic BPF instruction set of linux/filter.h and linux/bpf_common.h, its ancillary
loads and struct sock_filter; the socket options that attach a filter
(asm-generic/socket.h); and the link types (the LINKTYPE_* of pcap files), ethertypes
(linux/if_ether.h), IP protocols and address families the generated code tests.  The
names are those of the headers, so that they grep alike.  ``FilterError`` is the one
error of the compiler; ``error(pos, message)`` makes one that says where.
"""
import struct

__all__ = [
    "BPF_LD", "BPF_LDX", "BPF_ST", "BPF_STX", "BPF_ALU", "BPF_JMP", "BPF_RET", "BPF_MISC",
    "BPF_W", "BPF_H", "BPF_B", "BPF_IMM", "BPF_ABS", "BPF_IND", "BPF_MEM", "BPF_LEN", "BPF_MSH",
    "BPF_ADD", "BPF_SUB", "BPF_MUL", "BPF_DIV", "BPF_OR", "BPF_AND", "BPF_LSH", "BPF_RSH",
    "BPF_NEG", "BPF_MOD", "BPF_XOR", "BPF_JA", "BPF_JEQ", "BPF_JGT", "BPF_JGE", "BPF_JSET",
    "BPF_K", "BPF_X", "BPF_A", "BPF_TAX", "BPF_TXA", "BPF_MEMWORDS", "BPF_MAXINSNS",
    "SKF_AD_OFF", "SKF_AD_PROTOCOL", "SKF_AD_PKTTYPE", "SKF_AD_IFINDEX", "SKF_AD_NLATTR",
    "SKF_AD_NLATTR_NEST", "SKF_AD_MARK", "SKF_AD_QUEUE", "SKF_AD_HATYPE", "SKF_AD_RXHASH",
    "SKF_AD_CPU", "SKF_AD_ALU_XOR_X", "SKF_AD_VLAN_TAG", "SKF_AD_VLAN_TAG_PRESENT",
    "SKF_AD_PAY_OFFSET", "SKF_AD_RANDOM", "SKF_AD_VLAN_TPID", "SKF_AD_MAX",
    "SOL_SOCKET", "SO_ATTACH_FILTER", "SO_DETACH_FILTER", "SO_GET_FILTER", "PACKET_OUTGOING",
    "LINKTYPE_NULL", "LINKTYPE_ETHERNET", "LINKTYPE_RAW_BSDOS", "LINKTYPE_RAW_OPENBSD",
    "LINKTYPE_RAW", "LINKTYPE_LOOP", "LINKTYPE_LINUX_SLL", "LINKTYPE_IPV4", "LINKTYPE_IPV6",
    "LINKTYPE_LINUX_SLL2",
    "ETH_P_IP", "ETH_P_ARP", "ETH_P_RARP", "ETH_P_IPV6", "ETH_P_8021Q", "ETH_P_8021AD",
    "ETH_P_QINQ1", "ETH_P_PPP_DISC", "ETH_P_DNA_DL", "ETH_P_DNA_RC", "ETH_P_DNA_RT",
    "ETH_P_LAT", "ETH_P_SCA", "ETH_P_LOOPBACK", "ETH_P_ATALK", "ETH_P_AARP", "ETH_P_802_2",
    "ETH_DATA_LEN",
    "IPPROTO_ICMP", "IPPROTO_IGMP", "IPPROTO_IGRP", "IPPROTO_TCP", "IPPROTO_UDP",
    "IPPROTO_FRAGMENT", "IPPROTO_ESP", "IPPROTO_AH", "IPPROTO_ICMPV6", "IPPROTO_PIM",
    "IPPROTO_VRRP", "IPPROTO_SCTP",
    "AF_INET", "AF_INET6",
    "U32", "SOCK_FILTER", "FilterError", "error",
]

# --- linux/filter.h, linux/bpf_common.h --------------------------------------------------

BPF_LD = 0x00
BPF_LDX = 0x01
BPF_ST = 0x02
BPF_STX = 0x03
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_RET = 0x06
BPF_MISC = 0x07

BPF_W = 0x00
BPF_H = 0x08
BPF_B = 0x10

BPF_IMM = 0x00
BPF_ABS = 0x20
BPF_IND = 0x40
BPF_MEM = 0x60
BPF_LEN = 0x80
BPF_MSH = 0xA0

BPF_ADD = 0x00
BPF_SUB = 0x10
BPF_MUL = 0x20
BPF_DIV = 0x30
BPF_OR = 0x40
BPF_AND = 0x50
BPF_LSH = 0x60
BPF_RSH = 0x70
BPF_NEG = 0x80
BPF_MOD = 0x90
BPF_XOR = 0xA0

BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JGT = 0x20
BPF_JGE = 0x30
BPF_JSET = 0x40

BPF_K = 0x00
BPF_X = 0x08
BPF_A = 0x10

BPF_TAX = 0x00
BPF_TXA = 0x80

BPF_MEMWORDS = 16
BPF_MAXINSNS = 4096

# Ancillary loads: ld [SKF_AD_OFF + n] reads socket-buffer metadata instead of data.
SKF_AD_OFF = 0xFFFFF000          # -0x1000 as the unsigned k of the instruction
SKF_AD_PROTOCOL = 0
SKF_AD_PKTTYPE = 4
SKF_AD_IFINDEX = 8
SKF_AD_NLATTR = 12
SKF_AD_NLATTR_NEST = 16
SKF_AD_MARK = 20
SKF_AD_QUEUE = 24
SKF_AD_HATYPE = 28
SKF_AD_RXHASH = 32
SKF_AD_CPU = 36
SKF_AD_ALU_XOR_X = 40
SKF_AD_VLAN_TAG = 44
SKF_AD_VLAN_TAG_PRESENT = 48
SKF_AD_PAY_OFFSET = 52
SKF_AD_RANDOM = 56
SKF_AD_VLAN_TPID = 60
SKF_AD_MAX = 64

# asm-generic/socket.h
SOL_SOCKET = 1
SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
SO_GET_FILTER = SO_ATTACH_FILTER

# linux/if_packet.h
PACKET_OUTGOING = 4

# LINKTYPE_* (www.tcpdump.org/linktypes.html), as pcap files carry them
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_BSDOS = 12
LINKTYPE_RAW_OPENBSD = 14
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

# Ethernet types (linux/if_ether.h names)
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_RARP = 0x8035
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
ETH_P_QINQ1 = 0x9100
ETH_P_PPP_DISC = 0x8863
ETH_P_DNA_DL = 0x6001
ETH_P_DNA_RC = 0x6002
ETH_P_DNA_RT = 0x6003
ETH_P_LAT = 0x6004
ETH_P_SCA = 0x6007
ETH_P_LOOPBACK = 0x9000
ETH_P_ATALK = 0x809B
ETH_P_AARP = 0x80F3
ETH_P_802_2 = 0x0004            # SLL protocol value of an 802.2 LLC frame
ETH_DATA_LEN = 1500             # a type/length field up to this is an 802.3 length

# IP protocols (linux/in.h)
IPPROTO_ICMP = 1
IPPROTO_IGMP = 2
IPPROTO_IGRP = 9
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_FRAGMENT = 44
IPPROTO_ESP = 50
IPPROTO_AH = 51
IPPROTO_ICMPV6 = 58
IPPROTO_PIM = 103
IPPROTO_VRRP = 112
IPPROTO_SCTP = 132

# linux/socket.h: the address family in a NULL/LOOP header (AF_INET6 as Linux has it)
AF_INET = 2
AF_INET6 = 10

U32 = 0xFFFFFFFF                 # A, X and k are 32-bit unsigned

SOCK_FILTER = struct.Struct("=HBBI")          # struct sock_filter: code, jt, jf, k


class FilterError(ValueError):
    """A filter that cannot be compiled: the message says where and why.

    ``position`` is the 1-based character position in the expression (None when the
    error is not about one place, such as an unsupported link type).
    """

    def __init__(self, message, position=None):
        ValueError.__init__(self, message)
        self.position = position


def error(pos, message):
    """A FilterError at the expression's 1-based character pos (None: not about one place)."""
    if pos is None:
        return FilterError("filter: %s" % message)
    return FilterError("filter: at %d: %s" % (pos, message), pos)
