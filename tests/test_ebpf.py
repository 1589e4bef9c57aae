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
import re
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
from netdecode.accounting import kernel  # noqa: E402
from netdecode.capture import ebpf  # noqa: E402
from netdecode.capture.ebpf import Asm  # noqa: E402
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
        for facility in kernel.KERNEL_FACILITIES:
            counter = kernel.counter_for(facility, "lo", 1500, 14)
            self.assertIsNotNone(counter.program.fd)
            counter.close()
            self.assertIsNone(counter.program)
            self.assertEqual(counter.maps, [])


def _args(*argv):
    return iptraf._parser().parse_args(list(argv) + ["--interval", "1"])


class FallbackTest(_Root):
    """Every way --capture-mode auto ends in the ring, with its notice; ebpf refuses."""

    def open(self, facility, *argv):
        notes = []
        run = Run(_args(*argv), facility, "lo", None, None, [], [], notes.append)
        cap = run.open_live()
        self.addCleanup(cap.close)
        if run.recorder is not None:
            self.addCleanup(run.recorder.close)
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
        """-w, --dump, --metrics take the ring quietly (ebpf refuses); -F says why."""
        self.fallback("-w needs every frame", "sizes", "-w", os.devnull, quiet=True)
        self.fallback("--dump needs every frame", None, quiet=True)
        self.assertEqual(runner._needs_frames(_args("-z", "lo", "--metrics", "9"), "sizes"),
                         "--metrics needs every frame")
        self.fallback("-F is not compiled to eBPF yet", "sizes", "-F", "udp")
        self.fallback("--bytes ip is counted from every frame here", "sizes", "--bytes", "ip")
        self.fallback("--v6-in-v4 is counted from every frame here", "sizes", "--v6-in-v4")

    def test_facilities_without_a_program(self):
        """The ring, quietly (as expected); ebpf refuses, saying why."""
        for facility in ("traffic",):
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


def _without_clock(value):
    if isinstance(value, dict):
        return {k: _without_clock(v) for k, v in value.items() if k not in _CLOCK}
    if isinstance(value, list):
        return [_without_clock(v) for v in value]
    return value


class ExactnessTest(netns.LiveTestCase):
    maxDiff = None
    """The same traffic, counted by both modes at once: the same snapshot."""

    def both(self, *facility):
        pair = self.pair
        procs = {}
        for mode in ("ebpf", "ring"):
            procs[mode] = pair.popen(pair.b, [sys.executable, netns.IPTRAF] + list(facility)
                                     + ["--json", "-", "-t", "9s", "--capture-mode", mode])
            self.addCleanup(netns.reap, procs[mode])
        time.sleep(1.5)
        self.traffic()
        snaps = {}
        for mode, proc in procs.items():
            out, err = proc.communicate(timeout=30)
            self.assertEqual((proc.returncode, err), (0, b""))
            snaps[mode] = json.loads(out.decode().splitlines()[-1])
        self.assertEqual(_without_clock(snaps["ebpf"]), _without_clock(snaps["ring"]))
        self.assertGreater(snaps["ring"]["capture"]["packets"], 1000)
        return snaps["ebpf"]

    def traffic(self):
        pair = self.pair
        self.serve(6)
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


class KernelOnlyTest(netns.LiveTestCase):
    """In ebpf mode the socket receives nothing, the kernel counts every frame, and the
    capabilities missing (EPERM) bring the ring, said in one line."""

    def test_counted_without_a_frame_received(self):
        pair = self.pair
        script = (
            "import sys, socket, time\n"
            "sys.path.insert(0, %r)\n"
            "import iptraf\n"
            "from netdecode.run.runner import Run\n"
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
            "cap.close()\n" % netns.ROOT)
        pair.run(pair.b, ["ip", "link", "set", "lo", "up"])
        for flag, facility, iface in (("-z", "sizes", "lo"), ("-d", "detailed", "lo"),
                                      ("-s", "services", "lo"), ("-l", "lan", "lo"),
                                      ("-g", "general", "all")):
            out = pair.run(pair.b, [sys.executable, "-c", script, flag, facility, iface])
            # 500 datagrams in, 500 ICMP port unreachable back; loopback's outgoing
            # copies are not counted; nothing was copied to the socket
            self.assertEqual(out.stdout.decode().split(), ["0", "0", "1000"], facility)

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
