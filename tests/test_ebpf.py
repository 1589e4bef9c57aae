"""eBPF: the assembler, maps and programs through the real bpf(2), the fallbacks of
``--capture-mode auto`` forced one by one, and kernel counting checked against ring
mode on the same traffic in namespaces made here (tests/netns.py).

Exactness: ``iptraf.py -z`` and ``-g`` run twice at once on the same veth, one in each
mode, while known traffic, crafted frames (bad checksums, options, extension headers,
802.3, VLAN, QinQ, runts, jumbo) and corpus captures are replayed onto the link; their
last snapshots must be equal but for the clock (ts, rates, peaks, last seen).
"""
import ctypes
import json
import os
import random
import re
import struct
import subprocess
import sys
import time
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import builders as b  # noqa: E402
import netns  # noqa: E402
import iptraf  # noqa: E402
import test_filter  # noqa: E402
from netdecode.accounting import kernel  # noqa: E402
from netdecode.capture import ebpf  # noqa: E402
from netdecode.capture.ebpf import Asm  # noqa: E402
from netdecode.filter import Program, bpf, compile_filter, extended  # noqa: E402
from netdecode.run import runner  # noqa: E402
from netdecode.run.runner import Run, SetupError  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


class AssemblerTest(unittest.TestCase):

    def test_instructions_are_the_kernels_encoding(self):
        a = Asm()
        a.alu("mov", ebpf.R6, Asm.reg(ebpf.R1))     # bf 16 0000 00000000
        a.jmp("jeq", ebpf.R0, 0x0800, "out")        # 15 00 0100 00080000
        a.ld_abs(ebpf.H, 12)                        # 28 00 0000 0c000000
        a.label("out")
        a.alu("mov", ebpf.R0, -1)                   # b7 00 0000 ffffffff
        a.exit()                                    # 95 00 0000 00000000
        self.assertEqual(a.code().hex(), "bf16000000000000" "1500010000080000"
                         "280000000c000000" "b7000000ffffffff" "9500000000000000")

    def test_32_bit_forms_indirect_loads_and_byte_swaps(self):
        a = Asm()
        a.alu32("mov", ebpf.R0, 0xFFFFFFFF)         # b4 00 0000 ffffffff
        a.alu32("div", ebpf.R0, Asm.reg(ebpf.R7))   # 3c 70 0000 00000000
        a.alu32("neg", ebpf.R0, 0)                  # 84 00 0000 00000000
        a.jmp32("jeq", ebpf.R0, 0xFFFFFFFF, "out")  # 16 00 0300 ffffffff
        a.jmp32("jgt", ebpf.R0, Asm.reg(ebpf.R7), "out")    # 2e 70 0200 00000000
        a.ld_ind(ebpf.H, ebpf.R7, 14)               # 48 70 0000 0e000000
        a.endian(ebpf.R0, 16)                       # dc 00 0000 10000000
        a.label("out")
        self.assertEqual(a.code().hex(), "b4000000ffffffff" "3c70000000000000"
                         "8400000000000000" "16000300ffffffff" "2e70020000000000"
                         "487000000e000000" "dc00000010000000")

    def test_a_map_is_a_16_byte_load_with_the_pseudo_fd(self):
        a = Asm()
        a.ld_map(ebpf.R1, mock.Mock(fd=7))
        self.assertEqual(a.code().hex(), "1811000007000000" "0000000000000000")

    def test_unknown_label(self):
        a = Asm()
        a.goto("nowhere")
        with self.assertRaisesRegex(ValueError, "nowhere"):
            a.code()

    def test_no_syscall_known(self):
        with mock.patch("platform.machine", return_value="vax"):
            with self.assertRaisesRegex(ebpf.BpfUnavailable, "no bpf.2. syscall known on vax"):
                ebpf.Map(ebpf.MAP_ARRAY, 4, 8, 1)


class _Root(unittest.TestCase):
    def setUp(self):
        netns.require_live(self)


class MapTest(_Root):

    def test_hash_update_lookup_walk_delete(self):
        with ebpf.Map(ebpf.MAP_HASH, 4, 8, 16, "t") as m:
            for k in range(5):
                m.update(bytes([k, 0, 0, 0]), bytes([k * 2]) + bytes(7))
            self.assertEqual(m.lookup(bytes([3, 0, 0, 0]))[0], 6)
            self.assertIsNone(m.lookup(bytes([9, 0, 0, 0])))
            self.assertEqual(sorted(k[0] for k in m.keys()), [0, 1, 2, 3, 4])
            batch = sorted(m.items())
            m._batch = False                    # the walk the old kernels get
            self.assertEqual(sorted(m.items()), batch)
            self.assertEqual([(k[0], v[0]) for k, v in batch], [(k, k * 2) for k in range(5)])
            m.delete(bytes([3, 0, 0, 0]))
            self.assertIsNone(m.lookup(bytes([3, 0, 0, 0])))
        self.assertIsNone(m.fd)

    def test_batches_go_on_from_their_token(self):
        with ebpf.Map(ebpf.MAP_HASH, 4, 8, 10000) as m, \
                mock.patch.object(ebpf, "_BATCH", 64):
            for k in range(1000):
                m.update(k.to_bytes(4, "little"), (k * 3).to_bytes(8, "little"))
            got = {int.from_bytes(k, "little"): int.from_bytes(v, "little")
                   for k, v in m.items()}
            self.assertTrue(m._batch)
            self.assertEqual(got, {k: k * 3 for k in range(1000)})

    def test_per_cpu_values_come_one_per_cpu(self):
        with ebpf.Map(ebpf.MAP_PERCPU_ARRAY, 4, 12, 2) as m:
            m.update(bytes(4), b"abcdefghijkl")
            values = m.lookup(bytes(4))
            self.assertEqual(values, [b"abcdefghijkl"] * ebpf.possible_cpus())
            self.assertEqual(m.items()[0][1], values)


class ProgramTest(_Root):

    def test_a_rejected_program_brings_the_verifiers_words(self):
        a = Asm()
        a.ldx(ebpf.DW, ebpf.R0, ebpf.R1, 0)      # __sk_buff has no 8-byte field at 0
        a.exit()
        with self.assertRaises(ebpf.BpfError) as caught:
            ebpf.Program(a.code())
        self.assertIn("the verifier says", caught.exception.strerror)
        self.assertIn("invalid bpf_context access", caught.exception.strerror)

    def test_the_facility_programs_load(self):
        long_filter = compile_filter(" or ".join("tcp port %d" % p for p in range(1, 60))
                                     + " or vlan 7 and ip6", 1, live=True)
        for facility in kernel.KERNEL_FACILITIES:
            for prefilter in (None, long_filter):
                counter = kernel.counter_for(facility, "lo", 1500, 14, prefilter=prefilter)
                self.assertIsNotNone(counter.program.fd)
                counter.close()
                self.assertIsNone(counter.program)
                self.assertEqual(counter.maps, [])


def _translated(prog):
    """The classic ``prog`` as an eBPF program of its own: 0 rejected, 1 accepted."""
    a = Asm()
    a.alu("mov", ebpf.R6, Asm.reg(ebpf.R1))
    extended.emit(a, prog)
    a.alu("mov", ebpf.R0, 1)
    a.exit()
    return ebpf.Program(a.code(), "iptraf_test")


def _in_kernel(program, frame, dst=bytes(6), protocol=0x88B5):
    """``program`` run by the kernel on ``frame``, behind the Ethernet header the test
    run pulls off first: ``dst`` gives the packet type, ``protocol`` skb->protocol (not
    IP by default: the test run refuses IP shorter than its header)."""
    return program.test_run(dst + bytes(6) + struct.pack("!H", protocol) + frame)


tcp4, udp4, tcp6 = test_filter.tcp4, test_filter.udp4, test_filter.tcp6

# every primitive of the brief, byte tests, arithmetic (len, division, modulo), and what
# tcp[tcpflags] makes of the IP header's length (ldx 4*([14]&0xf))
EXPRESSIONS = [
    "host 10.0.0.1", "src host 10.0.0.9", "dst net 10.0.0.0/24", "net 192.168.0.0/16",
    "host fd00::2", "src net fd00::/64", "port 80", "src port 1234 and dst port 80",
    "portrange 50-60", "udp portrange 53-80", "tcp", "udp", "icmp", "icmp6", "arp", "ip",
    "ip6", "vlan", "vlan 5", "vlan 6 and udp", "not vlan", "vlan and vlan", "tcp or udp",
    "not (tcp or udp)", "ip6 and tcp", "ip6 and udp port 53", "tcp[13] & 2 != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn", "tcp[tcpflags] & tcp-fin != 0",
    "ip[2:2] > 100", "ip[2:2] > 0x7fffffff", "ip[12:4] = 0x0a000001", "len > 64", "less 60",
    "greater 100", "len - 14 > ip[2:2]", "len * 3 / 2 > 90", "ip[8] / (ip[9] - 6) > 2",
    "ip[2:2] % 7 = 3", "ip[9] % (ip[8] - 63) = 0", "- ip[1] > 5", "ip[0] << 2 > 0x100",
    "ip[6:2] & 0x1fff != 0", "icmp[icmptype] = icmp-echo", "icmp6[icmp6type] = 128",
    "ether broadcast", "ether multicast", "ip multicast", "ip broadcast",
    "ether src 02:00:00:00:00:01", "inbound", "not outbound and tcp",
] + test_filter.RANDOM_EXPRESSIONS


def _frames():
    """Frames of every shape: IPv4 and IPv6 TCP, UDP, ICMP, options, fragments, ARP,
    tags in the data, broadcast and multicast, big ones, runts and frames cut short
    (at every length of one), then random ones, cut, flipped and padded."""
    syn = b.eth(tcp4(80))
    frames = [
        syn, b.eth(tcp4(80, sport=443, flags="A")), b.eth(tcp4(55, flags="SA")),
        b.eth(tcp4(80, flags="F", src="10.0.0.9", dst="10.0.0.1")),
        b.eth(tcp4(80, options=b"\x01" * 8)), b.eth(tcp4(80, options=b"\x01" * 40)),
        b.eth(tcp4(80, frag=10)), b.eth(tcp4(80, mf=True)),
        b.eth(tcp4(80, src="192.168.7.1", dst="255.255.255.255")),
        b.eth(udp4(53)), b.eth(udp4(55, sport=60)),
        b.eth(udp4(9, src="10.0.0.2", dst="224.0.0.5"), dst="01:00:5e:00:00:05"),
        b.eth(b.ip4(b.icmp(b"x" * 20, type=8), proto=1)),
        b.eth(b.ip4(b.icmp(b"x", type=0), proto=1, ttl=70, tos=0xFF)),
        b.eth(tcp6(443), type=0x86DD), b.eth(tcp6(80, src="fd00::2", dst="fd00::9"),
                                             type=0x86DD),
        b.eth(b.ip6(b.udp(b"q", dport=53), nxt=17), type=0x86DD),
        b.eth(b.ip6(b.icmp6(type=128), nxt=58, dst="ff02::1"), type=0x86DD,
              dst="33:33:00:00:00:01"),
        b.eth(b.ip6(b.hopopts(b.udp(b"y"), nxt=17), nxt=0), type=0x86DD),
        b.eth(b.arp(spa="10.0.0.1", tpa="10.0.0.2"), type=0x0806, dst="ff:ff:ff:ff:ff:ff"),
        b.eth(tcp4(80), tags=[(0x8100, 5)]), b.eth(udp4(53), tags=[(0x8100, 6)]),
        b.eth(udp4(), tags=[(0x88A8, 5), (0x8100, 6)]),
        b.eth(b.ip4(b.udp(b"j" * 1400, dport=53), proto=17)),
        b.eth8023(b.llc(b"z" * 40)), b.eth(b"\x02\x07", type=0x88CC),
        b.eth(tcp4(80), src="02:00:00:00:00:01"),
    ]
    frames += [syn[:n] for n in range(len(syn))]
    frames += test_filter.random_frames(random.Random(5), 300)
    return frames


class TranslationTest(_Root):
    """Classic programs translated to eBPF, run by the kernel (BPF_PROG_TEST_RUN), accept
    exactly the frames the classic programs accept (the reference interpreter, the
    generated matcher).  A test run has no VLAN tag in the metadata: the live tests
    cover that path."""

    def agree(self, prog, frames, name):
        accepted = 0
        with _translated(prog) as program:
            for frame in frames:
                expected = bool(prog.run_reference(frame, len(frame)))
                self.assertEqual(prog.match(frame, len(frame)), expected)
                self.assertEqual(bool(_in_kernel(program, frame)), expected,
                                 "%s on %s" % (name, frame.hex()))
                accepted += expected
        return accepted

    def test_expressions_on_frames(self):
        frames = _frames()
        for expr in EXPRESSIONS:
            for live in (True, False):
                if not live and expr in ("inbound", "not outbound and tcp"):
                    continue            # live only
                prog = compile_filter(expr, 1, live=live)
                accepted = self.agree(prog, frames, "%r (live=%s)" % (expr, live))
                # some frames in, some out (a test run's packet type is never outgoing)
                if expr not in ("ether[0:4] & 0 = 0", "inbound"):
                    self.assertLess(accepted, len(frames), expr)
                if expr != "ip[2:2] > 0x7fffffff":
                    self.assertGreater(accepted, 0, expr)

    def test_random_programs(self):
        """Loads, ALU, scratch memory, ancillary loads, jumps over dead code: as the
        kernel checks them, less the shifts by X (see test_shift_by_x_is_the_kernels)."""
        rng = random.Random(3)
        tried = 0
        while tried < 120:
            insns = [(code ^ bpf.BPF_X if code & 0xF7 in (bpf.BPF_ALU | bpf.BPF_LSH,
                                                          bpf.BPF_ALU | bpf.BPF_RSH)
                      else code, jt, jf, k)
                     for code, jt, jf, k in test_filter.random_program(rng,
                                                                       rng.randrange(1, 60))]
            insns = [(code, jt, jf, k % 32 if code in (bpf.BPF_ALU | bpf.BPF_LSH,
                                                       bpf.BPF_ALU | bpf.BPF_RSH) else k)
                     for code, jt, jf, k in insns]
            prog = Program(insns)
            try:
                extended.check(prog)
            except extended.NotTranslatable as e:
                self.assertIn("accepts no frame", str(e))
                continue
            tried += 1
            frames = [bytes(rng.randrange(256) for _ in range(rng.randrange(80)))
                      for _ in range(25)]
            self.agree(prog, frames, prog.dump())

    def run_program(self, insns, frame, dst=bytes(6), protocol=0x88B5):
        with _translated(Program(insns)) as program:
            return _in_kernel(program, frame, dst, protocol)

    def test_ancillary_loads(self):
        ret_a = (bpf.BPF_RET | bpf.BPF_A, 0, 0, 0)

        def equals(n, value):
            return [(bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS, 0, 0, bpf.SKF_AD_OFF + n),
                    (bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K, 0, 1, value),
                    (bpf.BPF_RET | bpf.BPF_K, 0, 0, 1), (bpf.BPF_RET | bpf.BPF_K, 0, 0, 0)]

        ip6 = b.eth(tcp6(80), type=0x86DD)
        # the protocol in host order; the packet type from the destination (the test
        # run's device, loopback, has address 0); ifindex: loopback's
        for protocol in (0x86DD, 0x0800, 0x88B5):
            self.assertEqual(self.run_program(equals(bpf.SKF_AD_PROTOCOL, 0x86DD), ip6,
                                              protocol=protocol), protocol == 0x86DD)
        for dst, pkttype in ((bytes(6), 0), (b"\x01\x00\x5e\0\0\1", 2),
                             (b"\x02\0\0\0\0\x09", 3)):
            self.assertEqual(self.run_program(equals(bpf.SKF_AD_PKTTYPE, pkttype), ip6,
                                              dst), 1, pkttype)
            prog = compile_filter("inbound", 1, live=True)
            with _translated(prog) as program:
                self.assertEqual(bool(_in_kernel(program, ip6, dst)),
                                 bool(prog.run_reference(ip6, len(ip6), pkttype=pkttype)))
        self.assertEqual(self.run_program(equals(bpf.SKF_AD_IFINDEX, 1), ip6), 1)
        for n in (bpf.SKF_AD_VLAN_TAG, bpf.SKF_AD_VLAN_TAG_PRESENT, bpf.SKF_AD_VLAN_TPID,
                  bpf.SKF_AD_MARK, bpf.SKF_AD_QUEUE):
            self.assertEqual(self.run_program(equals(n, 0), ip6), 1, n)
        # A ^= X; cpu and random are helper calls (A: any value, not a fault)
        xor = [(bpf.BPF_LDX | bpf.BPF_W | bpf.BPF_IMM, 0, 0, 5),
               (bpf.BPF_LD | bpf.BPF_IMM, 0, 0, 3)] + equals(bpf.SKF_AD_ALU_XOR_X, 6)
        self.assertEqual(self.run_program(xor, ip6), 1)
        for n in (bpf.SKF_AD_CPU, bpf.SKF_AD_RANDOM, bpf.SKF_AD_RXHASH):
            insns = [(bpf.BPF_LD | bpf.BPF_B | bpf.BPF_ABS, 0, 0, bpf.SKF_AD_OFF + n),
                     (bpf.BPF_LD | bpf.BPF_IMM, 0, 0, 9), ret_a]
            self.assertEqual(self.run_program(insns, ip6), 1, n)

    def test_what_has_no_equivalent(self):
        ret = (bpf.BPF_RET | bpf.BPF_K, 0, 0, 1)
        for n, name in ((bpf.SKF_AD_HATYPE, "hatype"), (bpf.SKF_AD_NLATTR, "nlattr"),
                        (bpf.SKF_AD_PAY_OFFSET, "pay_offset")):
            prog = Program([(bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS, 0, 0, bpf.SKF_AD_OFF + n),
                            ret])
            with self.assertRaisesRegex(extended.NotTranslatable, name):
                extended.emit(Asm(), prog)
            with self.assertRaisesRegex(kernel.NotInKernel, name + " ancillary field"):
                kernel.counter_for("sizes", "lo", 1500, 14, prefilter=prog)
        # dead code is left out (the verifier refuses it), never dead filtering
        prog = Program([(bpf.BPF_JMP | bpf.BPF_JA, 0, 0, 1),
                        (bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS, 0, 0,
                         bpf.SKF_AD_OFF + bpf.SKF_AD_HATYPE), ret])
        self.assertEqual(self.run_program(prog.instructions, b.eth(tcp4())), 1)
        with self.assertRaisesRegex(extended.NotTranslatable, "accepts no frame"):
            extended.check(Program([(bpf.BPF_RET | bpf.BPF_K, 0, 0, 0)]))

    def test_32_bit_registers(self):
        """Immediates compare as 32 bits, arithmetic wraps at 32 bits, a division by
        X = 0 rejects, ldx 4*([k]&0xf) keeps A."""
        ret_a = (bpf.BPF_RET | bpf.BPF_A, 0, 0, 0)
        ld = (bpf.BPF_LD | bpf.BPF_IMM, 0, 0, 0xFFFFFFFF)
        jeq = (bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K, 0, 1, 0xFFFFFFFF)
        yes, no = (bpf.BPF_RET | bpf.BPF_K, 0, 0, 1), (bpf.BPF_RET | bpf.BPF_K, 0, 0, 0)
        frame = b.eth(tcp4(80))
        self.assertEqual(self.run_program([ld, jeq, yes, no], frame), 1)
        add = (bpf.BPF_ALU | bpf.BPF_ADD | bpf.BPF_K, 0, 0, 1)     # 0xffffffff + 1 = 0
        self.assertEqual(self.run_program([ld, add, ret_a], frame), 0)
        rsh = (bpf.BPF_ALU | bpf.BPF_RSH | bpf.BPF_K, 0, 0, 4)
        self.assertEqual(self.run_program(
            [ld, rsh, (bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K, 0, 1, 0x0FFFFFFF), yes, no],
            frame), 1)
        mul = [(bpf.BPF_LD | bpf.BPF_IMM, 0, 0, 0x10000),
               (bpf.BPF_ALU | bpf.BPF_MUL | bpf.BPF_K, 0, 0, 0x10000), rsh, ret_a]
        self.assertEqual(self.run_program(mul, frame), 0)
        div = (bpf.BPF_ALU | bpf.BPF_DIV | bpf.BPF_X, 0, 0, 0)
        self.assertEqual(self.run_program([ld, div, yes], frame), 0)
        msh = (bpf.BPF_LDX | bpf.BPF_B | bpf.BPF_MSH, 0, 0, 14)
        txa = (bpf.BPF_MISC | bpf.BPF_TXA, 0, 0, 0)
        self.assertEqual(self.run_program([ld, msh, jeq, yes, no], frame), 1)   # A kept
        self.assertEqual(self.run_program(
            [ld, msh, txa, (bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K, 0, 1, 20), yes, no],
            frame), 1)                                                       # X = 20

    def test_shift_by_x_is_the_kernels(self):
        """A shift by X of 32 or more: the kernel (which runs classic BPF as eBPF) takes
        the count mod 32, libpcap's interpreter (the reference here) gives 0."""
        prog = [(bpf.BPF_LD | bpf.BPF_IMM, 0, 0, 1), (bpf.BPF_LDX | bpf.BPF_W | bpf.BPF_IMM,
                                                     0, 0, 33),
                (bpf.BPF_ALU | bpf.BPF_LSH | bpf.BPF_X, 0, 0, 0),
                (bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K, 0, 1, 2),
                (bpf.BPF_RET | bpf.BPF_K, 0, 0, 1), (bpf.BPF_RET | bpf.BPF_K, 0, 0, 0)]
        self.assertEqual(self.run_program(prog, b.eth(tcp4())), 1)


def _args(*argv):
    return iptraf._parser().parse_args(list(argv) + ["--interval", "1"])


class TrafficCounterTest(_Root):
    """-i's entries through the real maps, the kernel's counts written into them as the
    program would: what a read brings into the traffic monitor."""

    def setUp(self):
        _Root.setUp(self)
        from netdecode.accounting.flows import TrafficMonitor
        from netdecode.accounting.tables import Options
        from netdecode.decoding.decode import decode
        self.decode = decode
        self.counter = kernel.counter_for("traffic", "lo", 65536, 14, 1000)
        self.addCleanup(self.counter.close)
        self.sink = TrafficMonitor(Options())
        self.monitor = mock.Mock(packets=0)
        self.counter.bind(self.sink, self.monitor)
        self.t = int(time.time() * 1e9)

    def seg(self, from_a, flags, win=100, data=b""):
        src, dst, sport, dport = (("10.0.0.1", "10.0.0.2", 40000, 80) if from_a else
                                  ("10.0.0.2", "10.0.0.1", 80, 40000))
        frame = b.eth(b.ip4(b.tcp(data, sport=sport, dport=dport, flags=flags, win=win),
                            src=src, dst=dst))
        self.t += 1000000
        self.sink.add(self.decode(self.t, 1, 0, 1, frame, len(frame)))
        self.monitor.packets += 1
        return frame

    def idle_out(self):
        """Time enough for the monitor to remove its idle connections."""
        self.t += 10 ** 9 * 86400
        self.sink.tick(self.t)
        self.assertEqual(self.sink.tcp, {})

    def kernel_counts(self, key, packets, last_ns, flags=0x18, win=700, size=90):
        """What the program would have left in the entry (its ktime: the epoch off)."""
        value = kernel._CONN_VALUE.pack(packets, packets * size, packets * (size - 14),
                                        last_ns - self.counter._epoch, flags, win, size,
                                        flags, 0)
        self.counter.v4.update(key, value)

    def test_entries_made_read_and_dropped(self):
        self.seg(True, "S")
        self.seg(False, "SA")
        self.assertEqual(self.counter._entries, {})      # one packet each way: none yet
        self.seg(True, "A")
        frame = self.seg(True, "PA", data=b"x" * 10)
        (key,) = self.counter._entries
        self.assertEqual(key, frame[26:38] + struct.pack("=I", 1))
        self.assertEqual(self.counter.v4.lookup(key), bytes(kernel._CONN_VALUE.size))
        (conn,) = self.sink.tcp.values()
        # the kernel counted 5 packets, the latest 3 ms after the ring's
        self.kernel_counts(key, 5, self.t + 3000000)
        self.seg(True, "A", win=1)              # a ring packet read late, though older
        ring = (conn.packets, conn.bytes, conn.octets)
        self.counter.sync()
        self.assertEqual((conn.packets, conn.bytes, conn.octets),
                         (ring[0] + 5, ring[1] + 5 * 90, ring[2] + 5 * 76))
        self.assertEqual((conn.flags, conn.win, conn.size), (0x18, 700, 90))
        self.assertEqual(self.monitor.packets, 5 + 5)
        self.seg(True, "A", win=2)              # another, after the read
        self.counter.sync()                     # nothing new in the kernel: put right
        self.assertEqual((conn.packets, conn.flags, conn.win), (10, 0x18, 700))
        self.seg(False, "A")
        self.seg(False, "A")                    # b's second packet: its entry
        self.assertEqual(len(self.counter._entries), 2)
        self.idle_out()                         # the monitor removed the connection
        self.counter.sync()
        self.assertEqual(self.counter._entries, {})
        self.assertEqual(self.counter.v4.keys(), [])
        self.assertEqual(self.monitor.packets, 8 + 5)     # its kernel packets still count

    def test_a_gone_connections_entry_is_remade(self):
        for from_a, flags in ((True, "S"), (False, "SA"), (True, "A"), (True, "A")):
            self.seg(from_a, flags)
        (key,) = self.counter._entries
        self.kernel_counts(key, 3, self.t)
        self.idle_out()
        for from_a, flags in ((True, "A"), (True, "A")):  # the same ends, a new connection
            self.seg(from_a, flags)
        (conn,) = self.sink.tcp.values()
        self.assertIs(self.counter._entries[key][0][1], conn)
        self.assertEqual(self.counter.v4.lookup(key), bytes(kernel._CONN_VALUE.size))
        self.counter.sync()
        self.assertEqual(conn.packets, 2)
        self.assertEqual(self.monitor.packets, 6 + 3)


class FallbackTest(_Root):
    """Every way --capture-mode auto ends in the ring, with its notice; ebpf refuses."""

    def open(self, facility, *argv):
        notes = []
        run = Run(_args(*argv), facility, "lo", None, None, [], [], notes.append)
        cap = run.open_live()
        self.addCleanup(cap.close)
        if run.recorder is not None:
            self.addCleanup(run.recorder.close)
        self.addCleanup(run.close_recording)
        return run, cap, notes

    def fallback(self, expect, facility="sizes", *argv, **quiet):
        run, cap, notes = self.open(facility, "-z", "lo", *argv)
        self.assertIsNone(run.kernel)
        self.assertIsNotNone(cap._ring)
        if quiet:
            self.assertEqual(notes, [])
        else:
            self.assertEqual(len(notes), 1, notes)
            self.assertIn("capture mode ring, not ebpf: ", notes[0])
            self.assertIn(expect, notes[0])
        with self.assertRaisesRegex(SetupError, "--capture-mode ebpf: .*" + re.escape(expect)):
            Run(_args("-z", "lo", "--capture-mode", "ebpf", *argv), facility, "lo", None,
                None, [], [], notes.append).open_live()

    def test_ebpf_where_it_can(self):
        run, cap, notes = self.open("sizes", "-z", "lo")
        self.assertEqual(notes, [])
        self.assertIsNotNone(run.kernel.program.fd)
        self.assertIs(run.monitor.sinks[0], run.kernel)
        maps = list(run.kernel.maps)
        cap.close()                 # closes the counter too
        self.assertIsNone(run.kernel.program)
        self.assertTrue(all(m.fd is None for m in maps))

    def test_no_bpf_syscall(self):
        with mock.patch.dict(ebpf._SYSCALLS, clear=True):
            self.fallback("no bpf(2) syscall known")

    def test_enosys(self):
        def enosys(*_):
            ctypes.set_errno(38)
            return -1
        with mock.patch.object(ebpf, "_syscall", return_value=enosys):
            self.fallback("Function not implemented")

    def test_verifier_rejection(self):
        bad = Asm()
        bad.ldx(ebpf.DW, ebpf.R0, ebpf.R1, 0)
        bad.exit()
        with mock.patch.object(kernel.SizeCounter, "_code", return_value=bad.code()):
            self.fallback("the verifier says")

    def test_attach_refused_closes_the_counter(self):
        made = []
        real = kernel.counter_for

        def counter_for(*a):
            made.append(real(*a))
            return made[-1]

        with mock.patch.object(kernel, "counter_for", counter_for), \
                mock.patch.object(ebpf.Program, "attach",
                                  side_effect=PermissionError(1, "Operation not permitted")):
            self.fallback("Operation not permitted")
        self.assertTrue(made)
        self.assertTrue(all(c.program is None and not c.maps for c in made))

    def test_what_needs_every_frame(self):
        """--dump, --metrics take the ring quietly (ebpf refuses); the others say why."""
        self.fallback("--dump needs every frame", None, quiet=True)
        self.assertEqual(runner._needs_frames(_args("-z", "lo", "--metrics", "9"), "sizes"),
                         "--metrics needs every frame")
        self.fallback("--bytes ip is counted from every frame here", "sizes", "--bytes", "ip")
        self.fallback("--v6-in-v4 is counted from every frame here", "sizes", "--v6-in-v4")

    def test_write_beside_the_kernel(self):
        """-w no longer takes the ring: the facility counts in the kernel, and the file
        gets a capture of its own (no sink of the monitor, which sees too few frames)."""
        self.assertIsNone(runner._needs_frames(_args("-z", "lo", "-w", os.devnull),
                                               "sizes"))
        for mode in ("auto", "ebpf"):
            run, cap, notes = self.open("sizes", "-z", "lo", "-w", os.devnull,
                                        "--capture-mode", mode)
            self.assertEqual(notes, [])
            self.assertIsNotNone(run.kernel.program.fd)
            self.assertIsNone(run.recorder)
            recording = run.recording
            self.assertNotIn(recording.recorder, run.monitor.sinks)
            self.assertIsNot(recording.capture, cap)
            self.assertIsNone(recording.capture._filter)     # no counting program
            self.assertFalse(recording.running)               # until start()
            run.start()
            self.assertTrue(recording.running)
            cap.close()
            self.assertTrue(run.close_recording())
            self.assertFalse(recording.running)
            self.assertIsNone(recording.capture)
        # ring mode: the recorder is the monitor's first sink, as before
        run, cap, notes = self.open("sizes", "-z", "lo", "-w", os.devnull,
                                    "--capture-mode", "ring")
        self.assertEqual((run.kernel, run.recording), (None, None))
        self.assertIs(run.monitor.sinks[0], run.recorder)

    def test_a_filter_runs_in_the_kernel_program(self):
        for mode in ("auto", "ebpf"):
            for flag, facility in (("-z", "sizes"), ("-d", "detailed"), ("-s", "services"),
                                   ("-l", "lan")):
                run, cap, notes = self.open(facility, flag, "lo", "--capture-mode", mode,
                                            "-F", "udp or vlan 7")
                self.assertEqual(notes, [])
                self.assertIsNotNone(run.kernel.program.fd, facility)
                self.assertEqual(run.kernel.prefilter.expr, "udp or vlan 7")
                self.assertTrue(run.kernel.prefilter.live)
                cap.close()

    def test_a_filter_the_kernel_program_cannot_run(self):
        hatype = Program([(bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS, 0, 0,
                           bpf.SKF_AD_OFF + bpf.SKF_AD_HATYPE),
                          (bpf.BPF_RET | bpf.BPF_K, 0, 0, 1)])
        with mock.patch.object(runner, "_kernel_filter", return_value=hatype):
            self.fallback("loads the hatype ancillary field, which an eBPF socket filter "
                          "cannot read", "sizes", "-F", "udp")

    def test_a_filter_on_every_interface(self):
        """-g (every interface, mixed link types): the filter runs here, so the ring."""
        notes = []
        run = Run(_args("-g", "-F", "udp"), "general", "all", None, None, [], [],
                  notes.append)
        cap = run.open_live()
        self.addCleanup(cap.close)
        self.assertIsNone(run.kernel)
        self.assertEqual(notes, ["capture mode ring, not ebpf: -F on every interface runs "
                                 "here, per link type, on every frame"])
        with self.assertRaisesRegex(SetupError, "--capture-mode ebpf: -F on every"):
            Run(_args("-g", "-F", "udp", "--capture-mode", "ebpf"), "general", "all", None,
                None, [], [], notes.append).open_live()

    def test_facilities_without_a_program(self):
        """The ring, quietly (as expected); ebpf refuses, saying why."""
        for facility in ("processes",):
            self.fallback("the %s facility has no kernel program yet" % facility, facility,
                          quiet=True)

    def test_ring_and_socket_are_as_asked(self):
        for mode in ("ring", "socket"):
            run, cap, notes = self.open("sizes", "-z", "lo", "--capture-mode", mode)
            self.assertEqual((run.kernel, notes, cap.mode), (None, [], mode))


def _crafted():
    """Frames the -g program must pass to the ring, and some it counts."""
    src, dst = "10.9.0.1", "10.9.0.2"
    udp = b.udp(b"x" * 30, src=src, dst=dst)
    return [
        b.eth(b.ip4(udp, src=src, dst=dst, proto=17)),                       # counted
        b.eth(b.ip4(udp, src=src, dst=dst, proto=17, checksum=0x1234)),      # bad IP
        b.eth(b.ip4(udp, src=src, dst=dst, proto=17, options=b"\x01\x01\x01\x01")),
        b.eth(b.ip4(udp, src=src, dst=dst, proto=17, length=12)),            # bad IP
        b.eth(b.ip4(udp, src=src, dst=dst, proto=17, version=5)),
        b.eth(b.ip6(b.udp(b"y" * 20), nxt=17)),                               # counted
        b.eth(b.ip6(b.icmp6(b"p" * 8), nxt=58), dst="33:33:00:00:00:01"),     # counted
        b.eth(b.ip6(b.hopopts(b.udp(b"y" * 20), nxt=17), nxt=0)),
        b.eth(b.ip6(b.udp(b"y" * 20), nxt=17, plen=400)),
        b.eth(b.ip6(b.udp(b"y" * 20), nxt=17, version=4)),
        b.eth(b.arp(), type=0x0806),                                          # counted
        b.eth8023(b.llc(b"z" * 40)),
        b.eth(b.snap(b.ip4(udp, src=src, dst=dst, proto=17)), type=60),
        b.eth(b.ip4(udp, src=src, dst=dst, proto=17), tags=[(0x8100, 7)]),
        b.eth(b.ip4(udp, src=src, dst=dst, proto=17), tags=[(0x88a8, 5), (0x8100, 6)]),
        b.eth(b.mpls(b.ip4(udp, src=src, dst=dst, proto=17)), type=0x8847),
        b.eth(b.pppoe_session(b.ip4(udp, src=src, dst=dst, proto=17)), type=0x8864),
        b.eth(b.ip4(b.udp(b"j" * 1472, src=src, dst=dst), src=src, dst=dst, proto=17)),
        b.eth(b"", type=0x88b5)[:14],
    ]


_CLOCK = ("ts", "rate", "peak", "last")


def _without_clock(value, more=()):
    """``value`` but for its time fields (and ``more``); a list of rows in one order (each
    run's clock orders the rows it times)."""
    if isinstance(value, dict):
        return {k: _without_clock(v, more) for k, v in value.items()
                if k not in _CLOCK and k not in more}
    if isinstance(value, list):
        rows = [_without_clock(v, more) for v in value]
        if all(isinstance(row, dict) for row in rows):
            rows.sort(key=lambda row: json.dumps(row, sort_keys=True))
        return rows
    return value


class _BothModes(netns.LiveTestCase):
    """The same traffic, counted by both modes at once: the same snapshot."""
    maxDiff = None

    def both(self, *facility, **kwargs):
        """``facility``'s last snapshot in ebpf mode, checked equal to ring mode's (but
        for ``kwargs["clock"]``'s fields too; at least ``kwargs["least"]`` frames);
        ``kwargs["traffic"]``: what runs after the common traffic, within
        ``kwargs["seconds"]``; ``kwargs["write"]``: each mode also writes -w MODE.pcap
        in ``self.tmp``."""
        pair = self.pair
        seconds = kwargs.get("seconds", 9)
        procs = {}
        outs = {}
        for mode in ("ebpf", "ring"):
            # to a file: a pipe nobody reads until the end would stall the run
            outs[mode] = os.path.join(self.tmp.name, mode + ".json")
            write = (["-w", os.path.join(self.tmp.name, mode + ".pcap")]
                     if kwargs.get("write") else [])
            procs[mode] = pair.popen(pair.b, [sys.executable, netns.IPTRAF] + list(facility)
                                     + ["--json", outs[mode], "-t", "%ds" % seconds,
                                        "--capture-mode", mode] + write
                                     + list(kwargs.get("options", ())))
            self.addCleanup(netns.reap, procs[mode])
        time.sleep(1.5)
        self.traffic(seconds - 3)
        if "traffic" in kwargs:
            kwargs["traffic"]()
        snaps = {}
        for mode, proc in procs.items():
            out, err = proc.communicate(timeout=30 + seconds)
            self.assertEqual((proc.returncode, out, err), (0, b"", b""))
            with open(outs[mode]) as f:
                snaps[mode] = json.loads(f.read().splitlines()[-1])
        clock = kwargs.get("clock", ())
        self.assertEqual(_without_clock(snaps["ebpf"], clock),
                         _without_clock(snaps["ring"], clock))
        self.assertGreater(snaps["ring"]["capture"]["packets"], kwargs.get("least", 1000))
        return snaps["ebpf"]

    def traffic(self, seconds):
        """Known traffic, crafted frames and corpus captures; the peer's sinks serve for
        ``seconds``."""
        pair = self.pair
        self.serve(seconds)
        pair.python(pair.a, netns.PEER, "arp", pair.if_a, pair.ip_b)
        pair.python(pair.a, netns.PEER, "client", pair.ip_b, pair.ip6_b, 200000)
        pair.python(pair.a, netns.PEER, "vlan", pair.if_a, 42, 5)
        crafted = os.path.join(self.tmp.name, "crafted.pcap")
        with open(crafted, "wb") as f:
            f.write(b.pcap_bytes(_crafted() * 3))
        for capture in (crafted, os.path.join(DATA, "sample.pcap"),
                        os.path.join(DATA, "encap", "mpls.pcap"),
                        os.path.join(DATA, "encap", "pppoe.pcap"),
                        os.path.join(DATA, "attacks", "busy.pcap")):
            pair.run(pair.a, ["tcpreplay", "-q", "--topspeed", "-i", pair.if_a, capture])
        time.sleep(0.5)


class ExactnessTest(_BothModes):

    def test_traffic(self):
        """-i: the connections of busy traffic (2,000 short ones, bulk over IPv4 and
        IPv6) and of the replays, and the other traffic's log, in both modes."""
        pair = self.pair

        def busy():
            pair.python(pair.a, netns.PEER, "busy", pair.ip_b, pair.ip6_b)
        snap = self.both("-i", pair.if_b, seconds=15, traffic=busy, clock=(
            "first", "a_process", "b_process", "process_lookup"))
        self.assertGreater(len(snap["tcp"]), 2000)
        bulk = max(snap["tcp"], key=lambda row: row["a_to_b"]["bytes"])
        self.assertGreater(bulk["a_to_b"]["bytes"], 1 << 20)
        self.assertEqual(bulk["b_to_a"]["flags"], "CLOSED")
        self.assertGreater(len(snap["other"]), 100)

    def test_sizes(self):
        snap = self.both("-z", self.pair.if_b)
        self.assertGreater(snap["bins"][-2]["packets"], 0)

    def test_detailed(self):
        snap = self.both("-d", self.pair.if_b)
        counts = snap["counts"]
        self.assertGreater(snap["ip_checksum_errors"], 0)   # passed to the ring, counted
        for row in ("tcp", "udp", "icmp", "icmpv6", "other_ip", "nonip", "broadcast",
                    "multicast", "badip"):
            self.assertGreater(counts[row]["packets"], 0, row)

    def test_services(self):
        snap = self.both("-s", self.pair.if_b)
        ports = {(row["proto"], row["port"]) for row in snap["services"]}
        self.assertTrue({("tcp", 9001), ("udp", 9000)} <= ports, ports)

    def test_lan(self):
        snap = self.both("-l", self.pair.if_b)
        self.assertGreater(len(snap["stations"]), 3)

    def test_general(self):
        snap = self.both("-g")
        (row,) = [r for r in snap["interfaces"] if r["iface"] == self.pair.if_b]
        self.assertGreater(row["badip"]["packets"], 0)     # passed to the ring, counted
        self.assertGreater(row["ipv6"]["packets"], 0)


class FilteredExactnessTest(_BothModes):
    """-F: translated to eBPF at the head of the kernel program (ebpf) and attached as
    classic BPF (ring), on the same traffic: the same snapshot.  The 802.1Q frames reach
    the filter with their tag in the metadata (the kernel strips it): ``vlan`` takes the
    ancillary loads; as in libpcap, what follows ``vlan`` in an expression reads 4 bytes
    further when the tag is in the frame (so ``vlan`` comes last here)."""

    def test_sizes_filtered(self):
        snap = self.both("-z", self.pair.if_b, "-F", "udp port 9000 or vlan 42", least=20)
        in_bins = sum(row["packets"] for row in snap["bins"])
        self.assertEqual(in_bins, snap["capture"]["packets"])

    def test_detailed_filtered(self):
        snap = self.both("-d", self.pair.if_b, "-F", "not tcp and not vlan", least=100)
        counts = snap["counts"]
        # thousands without -F; left: TCP inside MPLS and PPPoE, where `tcp` does not look
        self.assertLess(counts["tcp"]["packets"], 10)
        self.assertGreater(snap["ip_checksum_errors"], 0)   # passed on to the ring
        for row in ("udp", "icmp", "icmpv6", "nonip", "broadcast"):
            self.assertGreater(counts[row]["packets"], 0, row)

    def test_services_filtered(self):
        snap = self.both("-s", self.pair.if_b, "-F", "tcp port 9001 or udp port 9000",
                         least=100)
        ports = {(row["proto"], row["port"]) for row in snap["services"]}
        self.assertTrue({("tcp", 9001), ("udp", 9000)} <= ports, ports)
        self.assertNotIn(("udp", 9), ports)                 # the crafted frames': out

    def test_traffic_filtered(self):
        snap = self.both("-i", self.pair.if_b, "-F", "tcp port 9001 or icmp", least=100,
                         clock=("first", "a_process", "b_process", "process_lookup"))
        self.assertEqual({row["b"].rsplit(":", 1)[1] for row in snap["tcp"]}, {"9001"})
        self.assertEqual({row["proto"] for row in snap["other"]}, {"ICMP"})


# the head of a script that opens a Run in this tree, in a namespace
_IN_PROCESS = ("import sys, socket, time\n"
               "sys.path.insert(0, %r)\n"
               "import iptraf\n"
               "from netdecode.run.runner import Run\n" % netns.ROOT)


class KernelOnlyTest(netns.LiveTestCase):
    """In ebpf mode the socket receives nothing, the kernel counts every frame, and the
    capabilities missing (EPERM) bring the ring, said in one line."""

    def test_counted_without_a_frame_received(self):
        pair = self.pair
        script = _IN_PROCESS + (
            "flag, facility, iface = sys.argv[1:]\n"
            "argv = [flag] + ([iface] if iface != 'all' else [])\n"
            "args = iptraf._parser().parse_args(argv + ['--capture-mode', 'ebpf',\n"
            "                                           '--interval', '1'])\n"
            "run = Run(args, facility, iface, None, None, [], [], print)\n"
            "cap = run.open_live()\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for n in range(500): s.sendto(bytes(n), ('127.0.0.1', 9))\n"
            "time.sleep(0.3)\n"
            "got = cap.read()\n"
            "run.kernel.sync()\n"
            "print(len(got), cap.stats()['packets'], run.monitor.packets)\n"
            "cap.close()\n")
        pair.run(pair.b, ["ip", "link", "set", "lo", "up"])
        for flag, facility, iface in (("-z", "sizes", "lo"), ("-d", "detailed", "lo"),
                                      ("-s", "services", "lo"), ("-l", "lan", "lo"),
                                      ("-g", "general", "all")):
            out = pair.run(pair.b, [sys.executable, "-c", script, flag, facility, iface])
            # 500 datagrams in, 500 ICMP port unreachable back; loopback's outgoing
            # copies are not counted; nothing was copied to the socket
            self.assertEqual(out.stdout.decode().split(), ["0", "0", "1000"], facility)

    def test_a_connection_counted_in_the_kernel(self):
        """-i: a connection's packets after its first two each way are counted in the
        kernel, not copied to the socket; a FIN brings them back to the ring."""
        pair = self.pair
        script = _IN_PROCESS + (
            "args = iptraf._parser().parse_args(['-i', 'lo', '--capture-mode', 'ebpf',\n"
            "                                    '--interval', '1'])\n"
            "run = Run(args, 'traffic', 'lo', None, None, [], [], print)\n"
            "cap = run.open_live()\n"
            "got = []\n"
            "def pump():\n"
            "    time.sleep(0.1)\n"
            "    frames = cap.read()\n"
            "    got.extend(frames)\n"
            "    run.monitor.feed(frames)\n"
            "server = socket.socket()\n"
            "server.bind(('127.0.0.1', 9100))\n"
            "server.listen(1)\n"
            "client = socket.create_connection(('127.0.0.1', 9100))\n"
            "client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\n"
            "peer = server.accept()[0]\n"
            "pump()\n"
            "for n in range(400):\n"
            "    client.send(b'x' * 100)\n"
            "    peer.recv(100)\n"
            "    if n % 100 == 0:\n"
            "        pump()\n"
            "pump()\n"
            "run.kernel.sync()\n"
            "(conn,) = run.sink.tcp.values()\n"
            "print(len(got), conn.packets, conn.bytes, conn.flags, conn.size)\n"
            "client.close()\n"
            "peer.close()\n"
            "pump()\n"
            "run.kernel.sync()\n"
            "print(len(got), conn.packets, conn.state, conn.b.state)\n"
            "cap.close()\n")
        out = pair.run(pair.b, [sys.executable, "-c", script]).stdout.decode().splitlines()
        received, packets, size, flags, last = (int(v) for v in out[0].split())
        # SYN, the handshake's ACK, 400 segments of 100 bytes (and 32 of headers, 12 of
        # them TCP timestamps) counted; only the first few packets each way received
        self.assertEqual((packets, flags, last), (402, 0x18, 166), out)
        self.assertEqual(size, 74 + 66 + 400 * 166)
        self.assertLess(received, 12, out)
        received, packets, a_state, b_state = (int(v) for v in out[1].split())
        self.assertEqual((packets, a_state, b_state), (404, 3, 3), out)  # FIN, its ACK
        self.assertLess(received, 20, out)

    def test_without_the_capabilities(self):
        if subprocess.run(["which", "capsh"], stdout=subprocess.DEVNULL).returncode:
            self.skipTest("no capsh")
        pair = self.pair
        out = pair.run(pair.b, ["capsh", "--drop=cap_bpf,cap_sys_admin,cap_perfmon", "--",
                                "-c", "%s %s -z lo --json - -t 1s" % (sys.executable,
                                                                       netns.IPTRAF)])
        self.assertIn(b"capture mode ring, not ebpf: ", out.stderr)
        self.assertIn(b"Operation not permitted", out.stderr)
        self.assertEqual(len(out.stderr.splitlines()), 1)
        self.assertEqual(json.loads(out.stdout.decode().splitlines()[-1])["facility"],
                         "sizes")


if __name__ == "__main__":
    unittest.main()
