"""Classic BPF to eBPF: a checked classic program emitted into an ``ebpf.Asm`` as the
first part of a bigger eBPF socket filter (a kernel counter's), so that ``-F`` filters
in the kernel before the counting.

``emit(a, program)`` writes the classic program's instructions as eBPF after what ``a``
holds (R6 must already hold the context, as LD_ABS wants): a frame the classic program
rejects (a return of 0, a load outside the frame, a division by zero) ends the eBPF
program returning 0; a frame it accepts goes on after the emitted code, whatever
non-zero value the classic program returned (a snap length there, which the counting
code after it has no use for).  ``check(program)`` raises ``NotTranslatable`` for a
program with no eBPF equivalent, before anything is made.

Only the instructions a path reaches are emitted (the eBPF verifier refuses dead
code, which classic BPF allows); a program that accepts no frame is ``NotTranslatable``
(the code after it would be dead).

The semantics are the kernel's own for a classic filter, since the kernel runs a classic
filter by converting it to eBPF (net/core/filter.c, bpf_convert_filter), and this does
what that converter does: the registers are its (A in R0, X in R7, a temporary in R8;
LD_ABS and LD_IND write R0 and clobber R1-R5, which hold nothing here), A and X are
32-bit (BPF_ALU operations, which zero-extend, and BPF_JMP32 tests, kernel 5.1, whose
immediate is compared as 32 bits: ``jeq #0xffffffff`` is not sign-extended), the scratch
words M[0..15] are on the stack (at R10 - 192 .. - 128, below what the kernel counters
use), a division or modulo by X = 0 returns 0, and ``ldx 4*([k]&0xf)`` saves A in the
temporary around its load.  So a shift by X of 32 or more is the kernel's (the count
taken mod 32), not libpcap's userspace 0.

The ancillary loads (ld [SKF_AD_OFF + n]) become reads of ``struct __sk_buff``
(linux/bpf.h): len, pkt_type, mark, queue_mapping, protocol and vlan_proto (in network
order there: swapped to host order as the classic loads give them), vlan_present,
vlan_tci, ifindex, hash; cpu and random are helper calls, alu_xor_x an XOR.  nlattr,
nlattr_nest, hatype and pay_offset read what an eBPF socket filter cannot see: a
program that uses them is ``NotTranslatable``.
"""
from ..capture.ebpf import (
    B, H, HELPER_GET_PRANDOM_U32, HELPER_GET_SMP_PROCESSOR_ID, R0, R6, R7, R8, R10, SKB_HASH,
    SKB_IFINDEX, SKB_LEN, SKB_MARK, SKB_PKT_TYPE, SKB_PROTOCOL, SKB_QUEUE_MAPPING,
    SKB_VLAN_PRESENT, SKB_VLAN_PROTO, SKB_VLAN_TCI, W, Asm,
)
from . import bpf as c
from .bpf import FilterError
from .machine import successors

__all__ = ["NotTranslatable", "check", "emit", "SCRATCH"]

_A, _X, _TMP = R0, R7, R8
SCRATCH = -192                  # M[k] at R10 + SCRATCH + 4 * k

# SKF_AD_* as __sk_buff fields: (offset, from network order)
_FIELDS = {
    c.SKF_AD_PROTOCOL: (SKB_PROTOCOL, True), c.SKF_AD_PKTTYPE: (SKB_PKT_TYPE, False),
    c.SKF_AD_IFINDEX: (SKB_IFINDEX, False), c.SKF_AD_MARK: (SKB_MARK, False),
    c.SKF_AD_QUEUE: (SKB_QUEUE_MAPPING, False), c.SKF_AD_RXHASH: (SKB_HASH, False),
    c.SKF_AD_VLAN_TAG: (SKB_VLAN_TCI, False),
    c.SKF_AD_VLAN_TAG_PRESENT: (SKB_VLAN_PRESENT, False),
    c.SKF_AD_VLAN_TPID: (SKB_VLAN_PROTO, True),
}
_HELPERS = {c.SKF_AD_CPU: HELPER_GET_SMP_PROCESSOR_ID,
            c.SKF_AD_RANDOM: HELPER_GET_PRANDOM_U32}
_UNSEEN = {c.SKF_AD_NLATTR: "nlattr", c.SKF_AD_NLATTR_NEST: "nlattr_nest",
           c.SKF_AD_HATYPE: "hatype", c.SKF_AD_PAY_OFFSET: "pay_offset"}

_ALU = {c.BPF_ADD: "add", c.BPF_SUB: "sub", c.BPF_MUL: "mul", c.BPF_DIV: "div",
        c.BPF_MOD: "mod", c.BPF_AND: "and", c.BPF_OR: "or", c.BPF_XOR: "xor",
        c.BPF_LSH: "lsh", c.BPF_RSH: "rsh"}
_JMP = {c.BPF_JEQ: "jeq", c.BPF_JGT: "jgt", c.BPF_JGE: "jge", c.BPF_JSET: "jset"}
_INVERSE = {"jeq": "jne", "jgt": "jle", "jge": "jlt"}
_SIZES = {c.BPF_W: W, c.BPF_H: H, c.BPF_B: B}


class NotTranslatable(FilterError):
    """A classic program that reads what an eBPF socket filter cannot."""


def _ancillary(code, k):
    """The ancillary load's number, or None when the instruction is not one."""
    if code & 0x07 == c.BPF_LD and code & 0xE0 == c.BPF_ABS and k >= c.SKF_AD_OFF:
        return k - c.SKF_AD_OFF
    return None


def _reachable(insns):
    """The instructions a path from the first reaches, in order: the eBPF verifier
    refuses unreachable code, which classic BPF allows."""
    seen = {0}
    for pc in range(len(insns)):            # every jump goes forward
        if pc in seen:
            seen.update(successors(insns, pc))
    return sorted(seen)


def check(program):
    """NotTranslatable when ``program`` (a filter.Program) has no eBPF equivalent."""
    insns = program.instructions
    accepts = False
    for pc in _reachable(insns):
        code, _, _, k = insns[pc]
        n = _ancillary(code, k)
        if n in _UNSEEN:
            raise NotTranslatable(
                "filter: instruction %d loads the %s ancillary field, which an eBPF "
                "socket filter cannot read" % (pc, _UNSEEN[n]))
        accepts = accepts or code == c.BPF_RET | c.BPF_A or (
            code == c.BPF_RET | c.BPF_K and k != 0)
    if not accepts:     # the code after it would be unreachable: the verifier refuses
        raise NotTranslatable("filter: the program accepts no frame")


def _signed(k):
    return k - (1 << 32) if k & 0x80000000 else k


def emit(a, program, tag="cbpf"):
    """The classic ``program`` (a checked filter.Program) as eBPF into ``a``: rejected
    frames return 0, accepted ones go on after it.  R0-R5, R7, R8 and the scratch words
    are clobbered; labels start with ``tag``."""
    check(program)
    insns = program.instructions
    drop, accept = tag + "_drop", tag + "_accept"

    def at(pc):
        return "%s%d" % (tag, pc)

    dropped = []                    # whether anything goes to the drop

    def to_drop():
        dropped.append(True)
        return drop

    a.alu32("mov", _A, 0)           # the classic machine starts with A = X = 0
    a.alu32("mov", _X, 0)
    for pc in _reachable(insns):
        code, jt, jf, k = insns[pc]
        a.label(at(pc))
        cls = code & 0x07
        mode = code & 0xE0
        if cls == c.BPF_LD:
            if mode == c.BPF_IMM:
                a.alu32("mov", _A, k)
            elif mode == c.BPF_ABS and k >= c.SKF_AD_OFF:
                _emit_ancillary(a, k - c.SKF_AD_OFF)
            elif mode == c.BPF_ABS:
                a.ld_abs(_SIZES[code & 0x18], _signed(k))
            elif mode == c.BPF_IND:
                a.ld_ind(_SIZES[code & 0x18], _X, _signed(k))
            elif mode == c.BPF_MEM:
                a.ldx(W, _A, R10, SCRATCH + 4 * k)
            else:
                a.ldx(W, _A, R6, SKB_LEN)
        elif cls == c.BPF_LDX:
            if mode == c.BPF_IMM:
                a.alu32("mov", _X, k)
            elif mode == c.BPF_MEM:
                a.ldx(W, _X, R10, SCRATCH + 4 * k)
            elif mode == c.BPF_LEN:
                a.ldx(W, _X, R6, SKB_LEN)
            else:                               # X = 4 * (P[k] & 0xf), A kept
                a.alu("mov", _TMP, Asm.reg(_A))
                a.ld_abs(B, _signed(k))
                a.alu32("and", R0, 0xF)
                a.alu32("lsh", R0, 2)
                a.alu32("mov", _X, Asm.reg(R0))
                a.alu("mov", _A, Asm.reg(_TMP))
        elif cls == c.BPF_ST:
            a.stx(W, R10, SCRATCH + 4 * k, _A)
        elif cls == c.BPF_STX:
            a.stx(W, R10, SCRATCH + 4 * k, _X)
        elif cls == c.BPF_ALU:
            op = code & 0xF0
            if op == c.BPF_NEG:
                a.alu32("neg", _A, 0)
            elif code & c.BPF_X:
                if op in (c.BPF_DIV, c.BPF_MOD):
                    a.jmp32("jeq", _X, 0, to_drop())    # classic BPF: return 0
                a.alu32(_ALU[op], _A, Asm.reg(_X))
            else:
                a.alu32(_ALU[op], _A, k)
        elif cls == c.BPF_JMP:
            op = code & 0xF0
            if op == c.BPF_JA:
                a.goto(at(pc + 1 + k))
                continue
            name = _JMP[op]
            operand = Asm.reg(_X) if code & c.BPF_X else k
            if jt == jf:
                if jt:
                    a.goto(at(pc + 1 + jt))
            elif jf == 0:
                a.jmp32(name, _A, operand, at(pc + 1 + jt))
            elif jt == 0 and name in _INVERSE:
                a.jmp32(_INVERSE[name], _A, operand, at(pc + 1 + jf))
            else:
                a.jmp32(name, _A, operand, at(pc + 1 + jt))
                a.goto(at(pc + 1 + jf))
        elif cls == c.BPF_RET:
            if code & 0x18 == c.BPF_A:
                a.jmp32("jeq", _A, 0, to_drop())
                a.goto(accept)
            else:
                a.goto(accept if k else to_drop())
        elif code == c.BPF_MISC | c.BPF_TAX:
            a.alu32("mov", _X, Asm.reg(_A))
        else:
            a.alu32("mov", _A, Asm.reg(_X))
    if dropped:
        a.label(drop)
        a.alu("mov", R0, 0)
        a.exit()
    a.label(accept)


def _emit_ancillary(a, n):
    """A = the ancillary field n (check has turned away the ones with no equivalent)."""
    if n in _FIELDS:
        offset, network = _FIELDS[n]
        a.ldx(W, _A, R6, offset)
        if network:
            a.endian(_A, 16)
    elif n in _HELPERS:
        a.call(_HELPERS[n])         # R1-R5 clobbered, as a load clobbers them
    else:                           # SKF_AD_ALU_XOR_X
        a.alu32("xor", _A, Asm.reg(_X))
