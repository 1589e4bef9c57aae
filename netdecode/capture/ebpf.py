"""eBPF from the standard library: the bpf(2) syscall through ctypes, maps, socket-filter
programs, and a small assembler to write them.

* ``bpf(cmd, attr)`` calls the syscall (its number per architecture, from the kernel's
  syscall tables); a failure raises ``BpfError`` (an OSError with the errno), and a
  machine without the syscall (no number known, ENOSYS under seccomp or an old kernel)
  raises ``BpfUnavailable``.
* ``Map`` creates a map and looks up, updates, deletes and walks it (``items()`` uses
  BPF_MAP_LOOKUP_BATCH where the kernel has it, else get-next-key and lookups).  A
  per-CPU map's value comes back as one value per possible CPU.
* ``Program`` loads a BPF_PROG_TYPE_SOCKET_FILTER program; when the verifier refuses it,
  the program is loaded again with the verifier's log, and the error carries its last
  lines.  ``attach(sock)`` sets SO_ATTACH_BPF on a socket.
* ``Asm`` assembles instructions (``struct.pack('<BBhi', code, src << 4 | dst, off,
  imm)``; a map's fd is a 16-byte ld_imm64 with src BPF_PSEUDO_MAP_FD) with named
  jump targets: 64-bit ALU and jumps, and their 32-bit forms (BPF_ALU, BPF_JMP32 of
  kernel 5.1, which compare the low halves: the immediate is not sign-extended into
  the test) for classic BPF's 32-bit registers.

Every fd is closed by ``close()`` (maps and programs are context managers too).
"""
import ctypes
import errno
import os
import platform
import socket
import struct

__all__ = ["BpfError", "BpfUnavailable", "Map", "Program", "Asm", "bpf", "possible_cpus",
           "MAP_HASH", "MAP_ARRAY", "MAP_PERCPU_HASH", "MAP_PERCPU_ARRAY", "MAP_LRU_HASH",
           "MAP_LRU_PERCPU_HASH", "MAP_NO_PREALLOC", "HELPER_MAP_UPDATE",
           "HELPER_SKB_LOAD_BYTES",
           "R0", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10",
           "B", "H", "W", "DW", "SKB_LEN", "SKB_PKT_TYPE", "SKB_MARK", "SKB_QUEUE_MAPPING",
           "SKB_PROTOCOL", "SKB_VLAN_PRESENT", "SKB_VLAN_TCI", "SKB_VLAN_PROTO",
           "SKB_IFINDEX", "SKB_HASH", "HELPER_MAP_LOOKUP", "HELPER_KTIME_GET_NS",
           "HELPER_GET_PRANDOM_U32", "HELPER_GET_SMP_PROCESSOR_ID"]

# bpf(2) per architecture (arch/*/entry/syscalls, include/uapi/asm-generic/unistd.h)
_SYSCALLS = {"x86_64": 321, "aarch64": 280, "arm64": 280, "armv7l": 386, "armv6l": 386,
             "armv8l": 386, "i386": 357, "i686": 357, "ppc64": 361, "ppc64le": 361,
             "s390x": 351, "riscv64": 280, "mips64": 5315}

# linux/bpf.h
_MAP_CREATE, _MAP_LOOKUP, _MAP_UPDATE, _MAP_DELETE, _MAP_NEXT_KEY, _PROG_LOAD = range(6)
_PROG_TEST_RUN = 10
_MAP_LOOKUP_BATCH = 24
MAP_HASH, MAP_ARRAY, MAP_PERCPU_HASH, MAP_PERCPU_ARRAY, MAP_LRU_HASH = 1, 2, 5, 6, 9
MAP_LRU_PERCPU_HASH = 10
MAP_NO_PREALLOC = 1             # a hash map's flag: entries allocated as they are made
_PERCPU = frozenset((MAP_PERCPU_HASH, MAP_PERCPU_ARRAY, MAP_LRU_PERCPU_HASH))
_PROG_SOCKET_FILTER = 1
_PSEUDO_MAP_FD = 1
SO_ATTACH_BPF = 50
HELPER_MAP_LOOKUP = 1
HELPER_MAP_UPDATE = 2
HELPER_KTIME_GET_NS = 5
HELPER_GET_PRANDOM_U32 = 7
HELPER_GET_SMP_PROCESSOR_ID = 8
HELPER_SKB_LOAD_BYTES = 26
# struct __sk_buff: the fields a socket filter reads (protocol and vlan_proto in network
# order)
SKB_LEN, SKB_PKT_TYPE, SKB_MARK, SKB_QUEUE_MAPPING, SKB_PROTOCOL = 0, 4, 8, 12, 16
SKB_VLAN_PRESENT, SKB_VLAN_TCI, SKB_VLAN_PROTO, SKB_IFINDEX, SKB_HASH = 20, 24, 28, 40, 68

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)
B, H, W, DW = 0x10, 0x08, 0x00, 0x18             # sizes
_LD, _LDX, _ST, _STX, _ALU, _JMP, _JMP32, _ALU64 = range(8)
_ABS, _IND, _MEM, _IMM, _ATOMIC = 0x20, 0x40, 0x60, 0x00, 0xc0
_K, _X = 0x00, 0x08
_ALU_OPS = {"add": 0x00, "sub": 0x10, "mul": 0x20, "div": 0x30, "or": 0x40, "and": 0x50,
            "lsh": 0x60, "rsh": 0x70, "neg": 0x80, "mod": 0x90, "xor": 0xa0, "mov": 0xb0}
_END, _TO_BE = 0xd0, 0x08
_JMP_OPS = {"ja": 0x00, "jeq": 0x10, "jgt": 0x20, "jge": 0x30, "jset": 0x40, "jne": 0x50,
            "jlt": 0xa0, "jle": 0xb0}
_CALL, _EXIT = 0x80, 0x90

_INSN = struct.Struct("<BBhi")
_MAP_ATTR = struct.Struct("=IIIIIII16s")
_ELEM_ATTR = struct.Struct("=IIQQQ")
_BATCH_ATTR = struct.Struct("=QQQQIIQQ")
_PROG_ATTR = struct.Struct("=IIQQIIQII16s")
_TEST_ATTR = struct.Struct("=IIIIQQIIIIQQIII")
_ATTR_SIZE = 128
_LOG_BYTES = 1 << 20
_LOG_LINES = 6
_BATCH = 4096                   # entries per BPF_MAP_LOOKUP_BATCH call
_ENOTSUPP = 524                   # the kernel's own, for a map type without batches


class BpfError(OSError):
    """A bpf(2) call failed: errno and a one-line message (with the verifier's words)."""


class BpfUnavailable(BpfError):
    """This machine has no bpf(2) to call."""


_libc = []


def _syscall():
    if not _libc:
        _libc.append(ctypes.CDLL(None, use_errno=True))
    return _libc[0].syscall


def _number():
    return _SYSCALLS.get(platform.machine())


def bpf(cmd, attr, what):
    """bpf(cmd, attr) with ``attr`` a bytes-like object ctypes may write (a
    ctypes buffer); returns the result, raises BpfError saying ``what`` failed."""
    nr = _number()
    if nr is None:
        raise BpfUnavailable(errno.ENOSYS, "no bpf(2) syscall known on %s"
                             % (platform.machine() or "this machine"))
    result = _syscall()(ctypes.c_long(nr), ctypes.c_long(cmd), attr,
                        ctypes.c_uint(ctypes.sizeof(attr)))
    if result < 0:
        err = ctypes.get_errno()
        kind = BpfUnavailable if err == errno.ENOSYS else BpfError
        raise kind(err, "%s: %s" % (what, os.strerror(err)))
    return result


def _attr(packer, *values):
    buf = ctypes.create_string_buffer(_ATTR_SIZE)
    packer.pack_into(buf, 0, *values)
    return buf


def _address(buf):
    return ctypes.addressof(buf) if buf is not None else 0


def possible_cpus():
    """How many CPUs a per-CPU map holds values for (/sys/devices/system/cpu/possible)."""
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            text = f.read().strip()
    except OSError:
        return os.cpu_count() or 1
    top = 0
    for part in text.split(","):
        top = max(top, int(part.split("-")[-1]))
    return top + 1


class _Descriptor:
    """What a map and a program share: a file descriptor, closed once."""

    fd = None

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class Map(_Descriptor):
    """One BPF map.  Keys and values are bytes; a per-CPU map's ``lookup`` and ``items``
    give a list of one value per possible CPU."""

    def __init__(self, map_type, key_size, value_size, max_entries, name="", flags=0):
        self.map_type, self.key_size, self.value_size = map_type, key_size, value_size
        self.max_entries = max_entries
        self.percpu = map_type in _PERCPU
        self.cpus = possible_cpus() if self.percpu else 1
        self._slot = (value_size + 7) // 8 * 8 if self.percpu else value_size
        attr = _attr(_MAP_ATTR, map_type, key_size, value_size, max_entries, flags, 0, 0,
                     name.encode()[:15])
        self.fd = bpf(_MAP_CREATE, attr, "cannot create a BPF map (type %d)" % map_type)
        self._batch = True

    def __repr__(self):
        return "Map(type=%d, fd=%r)" % (self.map_type, self.fd)

    def _values(self, raw):
        if not self.percpu:
            return bytes(raw)
        slot, size = self._slot, self.value_size
        return [bytes(raw[i * slot:i * slot + size]) for i in range(self.cpus)]

    def lookup(self, key):
        """The value under ``key``, or None when there is none."""
        k = ctypes.create_string_buffer(bytes(key), self.key_size)
        v = ctypes.create_string_buffer(self._slot * self.cpus)
        try:
            bpf(_MAP_LOOKUP, _attr(_ELEM_ATTR, self.fd, 0, _address(k), _address(v), 0),
                "map lookup")
        except BpfError as e:
            if e.errno == errno.ENOENT:
                return None
            raise
        return self._values(v.raw)

    def update(self, key, value, flags=0):
        """Store ``value`` (for a per-CPU map: the same value on every CPU)."""
        value = bytes(value).ljust(self._slot, b"\0")
        k = ctypes.create_string_buffer(bytes(key), self.key_size)
        v = ctypes.create_string_buffer(value * self.cpus, self._slot * self.cpus)
        bpf(_MAP_UPDATE, _attr(_ELEM_ATTR, self.fd, 0, _address(k), _address(v), flags),
            "map update")

    def delete(self, key):
        k = ctypes.create_string_buffer(bytes(key), self.key_size)
        bpf(_MAP_DELETE, _attr(_ELEM_ATTR, self.fd, 0, _address(k), 0, 0), "map delete")

    def keys(self):
        """Every key, walked with BPF_MAP_GET_NEXT_KEY."""
        out = []
        k = None
        nxt = ctypes.create_string_buffer(self.key_size)
        while True:
            try:
                bpf(_MAP_NEXT_KEY, _attr(_ELEM_ATTR, self.fd, 0, _address(k), _address(nxt),
                                         0), "map walk")
            except BpfError as e:
                if e.errno == errno.ENOENT:
                    return out
                raise
            out.append(nxt.raw)
            k = ctypes.create_string_buffer(nxt.raw, self.key_size)

    def items(self):
        """Every (key, value): one BPF_MAP_LOOKUP_BATCH call where the kernel has it,
        otherwise a walk of the keys and a lookup each."""
        if self._batch:
            try:
                return self._batch_items()
            except BpfError as e:
                if e.errno not in (errno.EINVAL, _ENOTSUPP, errno.ENOSYS, errno.ENOSPC):
                    raise
                self._batch = False
        found = []
        for key in self.keys():
            value = self.lookup(key)
            if value is not None:
                found.append((key, value))
        return found

    def _batch_items(self):
        """BPF_MAP_LOOKUP_BATCH, _BATCH entries a call, each call going on from the
        token the one before left."""
        chunk = max(1, min(self.max_entries, _BATCH))
        size = self._slot * self.cpus
        keys = ctypes.create_string_buffer(self.key_size * chunk)
        values = ctypes.create_string_buffer(size * chunk)
        token_in = ctypes.create_string_buffer(max(8, self.key_size))
        token_out = ctypes.create_string_buffer(max(8, self.key_size))
        found = []
        first = True
        while True:
            attr = _attr(_BATCH_ATTR, 0 if first else _address(token_in),
                         _address(token_out), _address(keys), _address(values), chunk,
                         self.fd, 0, 0)
            done = False
            try:
                bpf(_MAP_LOOKUP_BATCH, attr, "map batch lookup")
            except BpfError as e:
                if e.errno != errno.ENOENT:       # ENOENT: the walk reached the end
                    raise
                done = True
            got = struct.unpack_from("=I", attr, 32)[0]
            raw_keys, raw_values = keys.raw, values.raw
            ks = self.key_size
            found.extend((raw_keys[i * ks:(i + 1) * ks],
                          self._values(raw_values[i * size:(i + 1) * size]))
                         for i in range(got))
            if done:
                return found
            ctypes.memmove(token_in, token_out, len(token_out))
            first = False


class Program(_Descriptor):
    """A loaded socket-filter program (``code``: assembled instructions)."""

    def __init__(self, code, name=""):
        self.insns = len(code) // _INSN.size
        self._code = ctypes.create_string_buffer(bytes(code), len(code))
        self._license = ctypes.create_string_buffer(b"GPL")
        self._name = name.encode()[:15]
        try:
            self.fd = self._load(0, None)
        except BpfError as e:
            if isinstance(e, BpfUnavailable) or e.errno not in (errno.EACCES, errno.EINVAL):
                raise
            log = ctypes.create_string_buffer(_LOG_BYTES)
            try:
                self.fd = self._load(1, log)
            except BpfError as again:
                raise BpfError(again.errno, "%s; the verifier says: %s"
                               % (again.strerror, _tail(log.value)))
            # the second load passed (it should not): keep it

    def _load(self, level, log):
        attr = _attr(_PROG_ATTR, _PROG_SOCKET_FILTER, self.insns, _address(self._code),
                     _address(self._license), level, _LOG_BYTES if log is not None else 0,
                     _address(log), 0, 0, self._name)
        return bpf(_PROG_LOAD, attr, "the kernel refused the eBPF program")

    def __repr__(self):
        return "Program(%d insns, fd=%r)" % (self.insns, self.fd)

    def attach(self, sock):
        """SO_ATTACH_BPF on ``sock``: from now on the program decides what it receives."""
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, struct.pack("i", self.fd))

    def test_run(self, data):
        """The program's return value on ``data``, run once by the kernel
        (BPF_PROG_TEST_RUN).  The kernel takes ``data`` as an Ethernet frame and pulls
        its 14-byte header off before a socket filter runs (as the IP stack would), so
        the program sees ``data[14:]``, with skb->protocol and the packet type from that
        header; ``data`` is at least 14 bytes."""
        buf = ctypes.create_string_buffer(bytes(data), len(data))
        attr = _attr(_TEST_ATTR, self.fd, 0, len(data), 0, _address(buf), 0, 1, 0, 0, 0,
                     0, 0, 0, 0, 0)
        bpf(_PROG_TEST_RUN, attr, "BPF_PROG_TEST_RUN")
        return struct.unpack_from("=I", attr, 4)[0]


def _signed32(imm):
    """An immediate given as u32 (0xFFFFFFFF) as the instruction's signed field holds it."""
    return imm - (1 << 32) if imm >= 1 << 31 else imm


def _tail(log):
    lines = [line for line in log.decode("utf-8", "replace").splitlines() if line.strip()]
    return " | ".join(lines[-_LOG_LINES:]) or "(no log)"


class Asm:
    """Instructions in order, jumps to named labels resolved by ``code()``.

    ``alu(op, dst, src_or_imm)`` (an int immediate, or ``("r", reg)`` for a register:
    written ``Asm.reg(n)``; ``neg`` takes 0), ``jmp(op, dst, src_or_imm, label)``,
    ``alu32`` and ``jmp32`` (the same on the low 32 bits, an ALU result zero-extended;
    their immediate may be given as an unsigned 32-bit number), ``endian(dst, bits)``
    (dst = the low ``bits`` of dst from network order to host order, zero-extended),
    ``ld_abs(size, off)`` (R0 = the packet's bytes at ``off``, network order; R6 must
    hold the context; out of the packet, the program ends returning 0; R1-R5 are
    clobbered), ``ld_ind(size, src, off)`` (the same at ``src`` + ``off``),
    ``ldx(size, dst, src, off)``, ``stx(size, dst, off, src)``, ``st(size, dst, off,
    imm)``, ``atomic_add(size, dst, off, src)`` (``*(dst + off) += src`` as one atomic
    step, for a value other CPUs update too), ``ld_map(dst, map)``, ``call(helper)``,
    ``exit()``, ``label(name)``.
    """

    class reg(int):
        """A register used as an operand (where an immediate could be)."""

    def __init__(self):
        self._items = []              # (code, dst, src, off, imm or label) or ("label", name)
        self._labels = {}
        self._slots = 0

    def __repr__(self):
        return "Asm(%d slots)" % self._slots

    def _emit(self, code, dst=0, src=0, off=0, imm=0):
        self._items.append((code, dst, src, off, imm))
        self._slots += 1

    def label(self, name):
        self._labels[name] = self._slots

    def alu(self, op, dst, operand):
        if isinstance(operand, Asm.reg):
            self._emit(_ALU64 | _ALU_OPS[op] | _X, dst, int(operand))
        else:
            self._emit(_ALU64 | _ALU_OPS[op] | _K, dst, 0, 0, operand)

    def jmp(self, op, dst, operand, target):
        if isinstance(operand, Asm.reg):
            self._emit(_JMP | _JMP_OPS[op] | _X, dst, int(operand), target, 0)
        else:
            self._emit(_JMP | _JMP_OPS[op] | _K, dst, 0, target, operand)

    def alu32(self, op, dst, operand):
        if isinstance(operand, Asm.reg):
            self._emit(_ALU | _ALU_OPS[op] | _X, dst, int(operand))
        else:
            self._emit(_ALU | _ALU_OPS[op] | _K, dst, 0, 0, _signed32(operand))

    def jmp32(self, op, dst, operand, target):
        if isinstance(operand, Asm.reg):
            self._emit(_JMP32 | _JMP_OPS[op] | _X, dst, int(operand), target, 0)
        else:
            self._emit(_JMP32 | _JMP_OPS[op] | _K, dst, 0, target, _signed32(operand))

    def endian(self, dst, bits):
        self._emit(_ALU | _END | _TO_BE, dst, 0, 0, bits)

    def goto(self, target):
        self._emit(_JMP | _JMP_OPS["ja"], 0, 0, target)

    def ld_abs(self, size, off):
        self._emit(_LD | _ABS | size, 0, 0, 0, off)

    def ld_ind(self, size, src, off):
        self._emit(_LD | _IND | size, 0, src, 0, off)

    def ldx(self, size, dst, src, off):
        self._emit(_LDX | _MEM | size, dst, src, off)

    def stx(self, size, dst, off, src):
        self._emit(_STX | _MEM | size, dst, src, off)

    def st(self, size, dst, off, imm):
        self._emit(_ST | _MEM | size, dst, 0, off, imm)

    def atomic_add(self, size, dst, off, src):
        self._emit(_STX | _ATOMIC | size, dst, src, off, 0)     # imm BPF_ADD

    def ld_map(self, dst, bpf_map):
        self._emit(_LD | _IMM | DW, dst, _PSEUDO_MAP_FD, 0, bpf_map.fd)
        self._emit(0, 0, 0, 0, 0)

    def call(self, helper):
        self._emit(_JMP | _CALL, 0, 0, 0, helper)

    def exit(self):
        self._emit(_JMP | _EXIT)

    def code(self):
        """The program's bytes."""
        out = []
        for slot, (code, dst, src, off, imm) in enumerate(self._items):
            if isinstance(off, str):
                if off not in self._labels:
                    raise ValueError("jump to an unknown label %r" % off)
                off = self._labels[off] - slot - 1
            out.append(_INSN.pack(code, src << 4 | dst, off, imm))
        return b"".join(out)
