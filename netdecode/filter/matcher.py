"""The matcher: a classic BPF program compiled once to a Python function.

``matcher(prog)`` generates straight-line Python with if/else for the forward jumps,
registers in locals, loads as indexing (an out-of-range index raises IndexError, a
short struct read struct.error: both mean "reject", caught once around the body); past
a size it falls back to a dispatcher over the program's blocks.  Its answers are those
of ``machine.run``, the reference interpreter, which the tests hold it to.
"""
import struct

from .bpf import (
    BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_DIV, BPF_IMM, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT,
    BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MEM, BPF_MEMWORDS,
    BPF_MISC, BPF_MOD, BPF_MSH, BPF_MUL, BPF_NEG, BPF_OR, BPF_RET, BPF_RSH, BPF_ST, BPF_STX,
    BPF_SUB, BPF_TAX, BPF_X, BPF_XOR, SKF_AD_OFF, SKF_AD_PKTTYPE, SKF_AD_VLAN_TAG,
    SKF_AD_VLAN_TAG_PRESENT,
)
from .machine import A_BIT, SIZES, successors, use_def

__all__ = ["matcher"]

_unpack_i = struct.Struct("!I").unpack_from


class _TooBig(Exception):
    """The structured shape went over its size: the block dispatcher takes over."""


_PY_OPS = {BPF_ADD: "+", BPF_SUB: "-", BPF_MUL: "*", BPF_OR: "|", BPF_AND: "&",
           BPF_LSH: "<<", BPF_RSH: ">>", BPF_XOR: "^", BPF_DIV: "//", BPF_MOD: "%"}
_PY_JUMPS = {BPF_JEQ: "==", BPF_JGT: ">", BPF_JGE: ">="}
_PY_NOT_JUMPS = {BPF_JEQ: "!=", BPF_JGT: "<=", BPF_JGE: "<"}
_MAX_LINES = 6000
_MAX_DEPTH = 40


def _py_load(size, offset):
    """Python for a big-endian load of size bytes at offset (a source fragment)."""
    if size == 1:
        return "data[%s]" % offset
    if size == 2:
        if offset.isdigit():
            return "(data[%s] << 8 | data[%d])" % (offset, int(offset) + 1)
        if offset == "X":
            return "(data[X] << 8 | data[X + 1])"
        base, plus = offset.split(" + ")
        return "(data[%s + %s] << 8 | data[%s + %d])" % (base, plus, base, int(plus) + 1)
    return "_i(data, %s)[0]" % offset


class _PyGen(object):
    """Python source for one program (see matcher)."""

    def __init__(self, prog):
        self.prog = prog
        n = len(prog)
        live = [0] * n
        for pc in range(n - 1, -1, -1):
            use, define = use_def(prog[pc])
            out = 0
            for s in successors(prog, pc):
                out |= live[s]
            live[pc] = use | (out & ~define)
        self.live = live
        self.lines = 0

    def live_after(self, pc):
        out = 0
        for s in successors(self.prog, pc):
            out |= self.live[s]
        return out

    def operand(self, size, offset):
        return _py_load(size, offset)

    def straight(self, pc, depth, out):
        """Emit from pc to the end of its path; every path ends in a return."""
        prog = self.prog
        pending = None          # an expression for A not yet assigned (no side effects lost)
        pending_loads = False
        ind = "    " * depth
        while True:
            self.lines += 1
            if self.lines > _MAX_LINES or depth > _MAX_DEPTH:
                raise _TooBig()
            code, jt, jf, k = prog[pc]
            cls = code & 0x07

            def flush():
                if pending is not None:
                    out.append("%sA = %s" % (ind, pending))

            if cls == BPF_LD:
                mode = code & 0xE0
                size = SIZES[code & 0x18]
                if mode == BPF_IMM:
                    expr, loads = "%d" % k, False
                elif mode == BPF_LEN:
                    expr, loads = "wirelen", False
                elif mode == BPF_MEM:
                    expr, loads = "m%d" % k, False
                elif mode == BPF_ABS and k >= SKF_AD_OFF:
                    anc = k - SKF_AD_OFF
                    if anc == SKF_AD_VLAN_TAG_PRESENT:
                        expr = "(0 if vlan_tci is None else 1)"
                    elif anc == SKF_AD_VLAN_TAG:
                        expr = "(0 if vlan_tci is None else vlan_tci & 65535)"
                    elif anc == SKF_AD_PKTTYPE:
                        expr = "(0 if pkttype is None else pkttype)"
                    else:
                        flush()
                        out.append("%sreturn False" % ind)
                        return
                    loads = False
                elif mode == BPF_ABS:
                    expr, loads = self.operand(size, "%d" % k), True
                else:
                    expr, loads = self.operand(size, "X + %d" % k if k else "X"), True
                if pending_loads:
                    flush()
                pending, pending_loads = expr, loads
            elif cls == BPF_LDX:
                # a pending A may read X: assign it before X changes
                flush()
                if pending is not None:
                    pending, pending_loads = "A", False
                mode = code & 0xE0
                if mode == BPF_IMM:
                    expr = "%d" % k
                elif mode == BPF_LEN:
                    expr = "wirelen"
                elif mode == BPF_MEM:
                    expr = "m%d" % k
                else:
                    expr = "(data[%d] & 15) << 2" % k
                out.append("%sX = %s" % (ind, expr))
            elif cls == BPF_ST or cls == BPF_STX:
                flush()
                if pending is not None:
                    pending, pending_loads = "A", False
                out.append("%sm%d = %s" % (ind, k, "A" if cls == BPF_ST else "X"))
            elif cls == BPF_ALU:
                op = code & 0xF0
                a = pending if pending is not None else "A"
                if op == BPF_NEG:
                    expr = "(-%s & 4294967295)" % a
                else:
                    rhs = "X" if code & BPF_X else "%d" % k
                    if op in (BPF_DIV, BPF_MOD) and code & BPF_X:
                        flush()
                        out.append("%sif X == 0:" % ind)
                        out.append("%s    return False" % ind)
                        a = "A"
                    if op in (BPF_LSH, BPF_RSH) and code & BPF_X:
                        expr = "((%s %s X) & 4294967295 if X < 32 else 0)" % (
                            a, _PY_OPS[op])
                    elif op in (BPF_ADD, BPF_SUB, BPF_MUL, BPF_LSH):
                        expr = "((%s %s %s) & 4294967295)" % (a, _PY_OPS[op], rhs)
                    else:
                        expr = "(%s %s %s)" % (a, _PY_OPS[op], rhs)
                pending = expr
            elif cls == BPF_MISC:
                if code == BPF_MISC | BPF_TAX:
                    flush()
                    if pending is not None:
                        pending, pending_loads = "A", False
                    out.append("%sX = A" % ind)
                else:
                    if pending_loads:
                        flush()
                    pending, pending_loads = "X", False
            elif cls == BPF_RET:
                if code == BPF_RET | BPF_K:
                    flush()
                    out.append("%sreturn %s" % (ind, "True" if k else "False"))
                else:
                    out.append("%sreturn %s != 0" % (ind, pending or "A"))
                return
            elif code == BPF_JMP | BPF_JA:
                pc = pc + 1 + k
                if pending is not None:
                    flush()
                    pending, pending_loads = None, False
                continue
            else:
                op = code & 0xF0
                a = pending if pending is not None else "A"
                if pending is not None and self.live_after(pc) & A_BIT:
                    flush()
                    a = "A"
                pending, pending_loads = None, False
                rhs = "X" if code & BPF_X else "%d" % k
                if op == BPF_JSET:
                    cond = "%s & %s" % (a, rhs)
                    neg = "not %s & %s" % (a, rhs)
                else:
                    cond = "%s %s %s" % (a, _PY_JUMPS[op], rhs)
                    neg = "%s %s %s" % (a, _PY_NOT_JUMPS[op], rhs)
                t, f = pc + 1 + jt, pc + 1 + jf
                if t == f:
                    out.append("%sif %s:" % (ind, cond))
                    out.append("%s    pass" % ind)
                    pc = t
                    continue
                # the branch with the shorter path is nested; the other continues here
                if self.size(t) <= self.size(f):
                    out.append("%sif %s:" % (ind, cond))
                    self.straight(t, depth + 1, out)
                    pc = f
                else:
                    out.append("%sif %s:" % (ind, neg))
                    self.straight(f, depth + 1, out)
                    pc = t
                continue
            pc += 1

    def size(self, pc):
        """Instructions on the longest path from pc (a cheap proxy for code size)."""
        sizes = getattr(self, "_sizes", None)
        if sizes is None:
            prog = self.prog
            sizes = [0] * len(prog)
            for p in range(len(prog) - 1, -1, -1):
                sizes[p] = 1 + max([sizes[s] for s in successors(prog, p)] or [0])
            self._sizes = sizes
        return sizes[pc]

    def dispatch(self, out):
        """The fallback shape: every basic block guarded by "if b == N" in program
        order (jumps only go forward, so one pass down the blocks runs the program)."""
        prog = self.prog
        n = len(prog)
        leaders = {0}
        for pc in range(n):
            succ = successors(prog, pc)
            if prog[pc][0] & 0x07 in (BPF_JMP, BPF_RET):
                leaders.update(succ)
                if pc + 1 < n:
                    leaders.add(pc + 1)
        ind = "        "
        out.append("    b = 0")
        for pc in range(n):
            code, jt, jf, k = prog[pc]
            if pc in leaders:
                out.append("    if b == %d:" % pc)
            cls = code & 0x07
            line = None
            if cls == BPF_LD:
                mode = code & 0xE0
                size = SIZES[code & 0x18]
                if mode == BPF_IMM:
                    line = "A = %d" % k
                elif mode == BPF_LEN:
                    line = "A = wirelen"
                elif mode == BPF_MEM:
                    line = "A = m%d" % k
                elif mode == BPF_ABS and k >= SKF_AD_OFF:
                    anc = k - SKF_AD_OFF
                    value = _ANCILLARY_PY.get(anc)
                    line = "A = %s" % value if value else "return False"
                elif mode == BPF_ABS:
                    line = "A = %s" % _py_load(size, "%d" % k)
                else:
                    line = "A = %s" % _py_load(size, "X + %d" % k)
            elif cls == BPF_LDX:
                mode = code & 0xE0
                line = "X = %s" % {BPF_IMM: "%d" % k, BPF_LEN: "wirelen",
                                   BPF_MEM: "m%d" % k,
                                   BPF_MSH: "(data[%d] & 15) << 2" % k}[mode]
            elif cls == BPF_ST:
                line = "m%d = A" % k
            elif cls == BPF_STX:
                line = "m%d = X" % k
            elif cls == BPF_ALU:
                op = code & 0xF0
                rhs = "X" if code & BPF_X else "%d" % k
                if op == BPF_NEG:
                    line = "A = -A & 4294967295"
                elif op in (BPF_DIV, BPF_MOD) and code & BPF_X:
                    out.append(ind + "if X == 0:")
                    out.append(ind + "    return False")
                    line = "A = A %s X" % _PY_OPS[op]
                elif op in (BPF_LSH, BPF_RSH) and code & BPF_X:
                    line = "A = (A %s X) & 4294967295 if X < 32 else 0" % _PY_OPS[op]
                else:
                    line = "A = (A %s %s) & 4294967295" % (_PY_OPS[op], rhs)
            elif cls == BPF_MISC:
                line = "X = A" if code == BPF_MISC | BPF_TAX else "A = X"
            elif cls == BPF_RET:
                line = ("return %s" % ("True" if k else "False")
                        if code == BPF_RET | BPF_K else "return A != 0")
            elif code == BPF_JMP | BPF_JA:
                line = "b = %d" % (pc + 1 + k)
            else:
                op = code & 0xF0
                rhs = "X" if code & BPF_X else "%d" % k
                cond = ("A & %s" % rhs if op == BPF_JSET
                        else "A %s %s" % (_PY_JUMPS[op], rhs))
                line = "b = %d if %s else %d" % (pc + 1 + jt, cond, pc + 1 + jf)
            out.append(ind + line)
            if cls not in (BPF_JMP, BPF_RET) and pc + 1 in leaders:
                out.append(ind + "b = %d" % (pc + 1))


_ANCILLARY_PY = {
    SKF_AD_VLAN_TAG_PRESENT: "0 if vlan_tci is None else 1",
    SKF_AD_VLAN_TAG: "0 if vlan_tci is None else vlan_tci & 65535",
    SKF_AD_PKTTYPE: "0 if pkttype is None else pkttype",
}


def matcher(prog, structured=True):
    """Compile prog to a Python function f(data, wirelen, vlan_tci=None, pkttype=None)
    returning True where the program returns non-zero; also returns its source.

    The structured shape nests the branches and repeats the blocks two paths share;
    past a size it gives way to the block dispatcher (also chosen by structured=False).
    """
    gen = _PyGen(prog)
    body = []
    try:
        if not structured:
            raise _TooBig()
        gen.straight(0, 2, body)
    except _TooBig:
        body = []
        gen.dispatch(body)
        body = ["    " + line for line in body]
    uses_mem = any(i[0] in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM) for i in prog)
    head = ["def _match(data, wirelen, vlan_tci=None, pkttype=None):",
            "    A = X = 0"]
    if uses_mem:
        head.append("    " + " = ".join("m%d" % i for i in range(BPF_MEMWORDS)) + " = 0")
    source = "\n".join(head + ["    try:"] + body + [
        "    except (IndexError, _struct_error):",
        "        return False",
        "    return False", ""])
    namespace = {"_i": _unpack_i, "_struct_error": struct.error}
    exec(compile(source, "<bpf filter>", "exec"), namespace)
    return namespace["_match"], source
