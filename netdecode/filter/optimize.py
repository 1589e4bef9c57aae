"""The optimizer: the same outcome for every packet, in fewer instructions.

A path-sensitive symbolic execution of the program ``gencode`` makes: it drops every
load and test whose outcome is already known on the path, emits each surviving test
once, shares identical tails and, as libpcap's optimizer does, regroups chains of tests
so that a value is loaded once; its programs are about as long as libpcap's.  Like
libpcap's, it drops loads whose value no test needs, so a frame captured shorter than
such a load reads is not rejected for it.  It is this compiler's own, not a port of
libpcap's optimize.c; ``optimize(prog)`` is the whole of it.
"""
from .bpf import (
    BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_DIV, BPF_H, BPF_IMM, BPF_IND, BPF_JA,
    BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH,
    BPF_MEM, BPF_MEMWORDS, BPF_MISC, BPF_MOD, BPF_MSH, BPF_MUL, BPF_NEG, BPF_OR, BPF_RET,
    BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_TAX, BPF_TXA, BPF_W, BPF_X, BPF_XOR, SKF_AD_OFF, U32,
)
from .gencode import Block, Stmt, linearize
from .machine import A_BIT, SIZES, X_BIT, evaluate, fold, successors, use_def

__all__ = ["optimize"]

# Symbolic values: an int is a constant; tuples are
#   ("ld", size, k)        packet bytes at the absolute offset k (size 1, 2 or 4)
#   ("ldi", size, k, x)    packet bytes at x + k, x a value
#   ("msh", k)             4 * (packet[k] & 0xf)
#   ("len",)               the wire length
#   ("anc", n, size)       ancillary load SKF_AD_OFF + n
#   ("alu", op, a, b)      a op b, b an int or a value
#   ("neg", a)
# A state is (A, X, M, facts, eA, eX, eM): the values the input program's registers
# hold; the outcomes of the tests taken on the way, (op, value, operand, result); and
# what the registers and temporaries of the *output* program hold (eM: (slot, value)).

_REJECT = ("reject",)
_SIZE_CODES = {4: BPF_W, 2: BPF_H, 1: BPF_B}
_COMMUTATIVE = (BPF_ADD, BPF_MUL, BPF_AND, BPF_OR, BPF_XOR)
_EXPLORE_LIMIT = 30000


class _TooBig(Exception):
    """The optimizer's exploration went over its budget."""


def _alu(op, a, b):
    """The value of a op b, simplified as libpcap's optimizer does (it drops an operand
    only where libpcap does: x & 0, x * 0, and 0 op x); _REJECT for a division by 0."""
    if isinstance(a, int) and isinstance(b, int):
        if op in (BPF_DIV, BPF_MOD) and b == 0:
            return _REJECT
        return fold(op, a, b)
    if isinstance(b, int):
        if b == 0:
            if op in (BPF_ADD, BPF_SUB, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH):
                return a
            if op in (BPF_MUL, BPF_AND):
                return 0
            return _REJECT
        if op == BPF_SUB:
            return _alu(BPF_ADD, a, (-b) & U32)
        if (op == BPF_LSH and b == 2 and a[0] == "alu" and a[1] == BPF_AND and a[3] == 0xF
                and not isinstance(a[2], int) and a[2][0] == "ld" and a[2][1] == 1):
            return ("msh", a[2][2])         # 4 * (p[k] & 0xf): what ldxb computes
        if op in _COMMUTATIVE and a[0] == "alu" and a[1] == op and isinstance(a[3], int):
            return _alu(op, a[2], fold(op, a[3], b))
        return ("alu", op, a, b)
    if isinstance(a, int):
        if a == 0:
            if op in (BPF_ADD, BPF_OR, BPF_XOR):
                return b
            if op != BPF_SUB:
                return 0
        if op in _COMMUTATIVE:
            return _alu(op, b, a)
    return ("alu", op, a, b)


def _bounded(x):
    """A value small enough that x + k cannot wrap around 32 bits."""
    return not isinstance(x, int) and (x[0] == "msh" or (x[0] == "ld" and x[1] <= 2))


def _ldi(size, k, x):
    if isinstance(x, int):
        if x + k < 0x80000000:
            return ("ld", size, x + k)
    elif (x[0] == "alu" and x[1] == BPF_ADD and isinstance(x[3], int) and _bounded(x[2])
          and k + x[3] < 0x7FFF0000):
        return _ldi(size, k + x[3], x[2])
    return ("ldi", size, k, x)


def _normalize(op, lhs, rhs):
    """The test (op, lhs, rhs) as (op, value, operand, inverted), or (None, outcome)."""
    inverted = False
    while True:
        if isinstance(lhs, int):
            if isinstance(rhs, int):
                return None, evaluate(op, lhs, rhs) != inverted
            if op in (BPF_JEQ, BPF_JSET):
                lhs, rhs = rhs, lhs
            elif op == BPF_JGT:
                op, lhs, rhs, inverted = BPF_JGE, rhs, lhs, not inverted
            else:
                op, lhs, rhs, inverted = BPF_JGT, rhs, lhs, not inverted
            continue
        if op == BPF_JEQ and lhs[0] == "alu":
            aop, a, b = lhs[1], lhs[2], lhs[3]
            if aop == BPF_SUB and rhs == 0:
                lhs, rhs = a, b
                continue
            if isinstance(b, int) and isinstance(rhs, int):
                if aop == BPF_ADD:
                    lhs, rhs = a, (rhs - b) & U32
                    continue
                if aop == BPF_XOR:
                    lhs, rhs = a, rhs ^ b
                    continue
                if aop == BPF_AND and rhs == 0:
                    op, lhs, rhs, inverted = BPF_JSET, a, b, not inverted
                    continue
        if op == BPF_JSET and isinstance(rhs, int):
            if rhs == 0:
                return None, inverted
            if lhs[0] == "alu" and lhs[1] == BPF_AND and isinstance(lhs[3], int):
                lhs, rhs = lhs[2], lhs[3] & rhs
                continue
        return op, lhs, rhs, inverted


def _substitute(e, known):
    """e with the values known to equal constants replaced, folded; None if unknown."""
    if isinstance(e, int):
        return e
    if e in known:
        return known[e]
    if e[0] == "alu":
        a = _substitute(e[2], known)
        b = _substitute(e[3], known)
        if a is None or b is None:
            return None
        value = _alu(e[1], a, b)
        return value if isinstance(value, int) else None
    if e[0] == "neg":
        a = _substitute(e[1], known)
        return None if a is None else (-a) & U32
    if e[0] == "ldi":
        x = _substitute(e[3], known)
        if x is None:
            return None
        return known.get(_ldi(e[1], e[2], x))
    return None


def _decide(op, e, w, facts):
    """The outcome of the test (op, e, w) if the facts on the path settle it."""
    known = {}
    lo, hi = 0, U32
    for fop, fe, fw, result in facts:
        if fe == e and fw == w and fop == op:
            return result
        if fop == BPF_JEQ and result and isinstance(fw, int):
            known[fe] = fw
        if fe == e and isinstance(fw, int):
            if fop == BPF_JGT:
                if result:
                    lo = max(lo, fw + 1)
                else:
                    hi = min(hi, fw)
            elif fop == BPF_JGE:
                if result:
                    lo = max(lo, fw)
                else:
                    hi = min(hi, fw - 1)
    if not known and lo == 0 and hi == U32:
        return None
    a = _substitute(e, known)
    b = w if isinstance(w, int) else _substitute(w, known)
    if a is not None and b is not None:
        return evaluate(op, a, b)
    if b is None or (lo == 0 and hi == U32):
        return None
    if op == BPF_JEQ:
        if b < lo or b > hi:
            return False
    elif op == BPF_JGT:
        if lo > b:
            return True
        if hi <= b:
            return False
    elif op == BPF_JGE:
        if lo >= b:
            return True
        if hi < b:
            return False
    return None


def _leaves(e, out):
    if isinstance(e, int):
        return
    kind = e[0]
    if kind == "ld":
        out.append(e)
    elif kind == "ldi":
        out.append(("ldi", e[1]))
        _leaves(e[3], out)
    elif kind == "msh" or kind == "len":
        out.append(e)
    elif kind == "anc":
        out.append(("anc", e[1]))
    elif kind == "alu":
        _leaves(e[2], out)
        _leaves(e[3], out)
    elif kind == "neg":
        _leaves(e[1], out)


def _find_slot(em, value):
    for slot, v in em:
        if v == value and type(v) is type(value):
            return slot
    return None


def _same(a, b):
    return a == b and type(a) is type(b)


def _mat_a(e, em):
    """Instructions that leave the value e in A, given the output registers em."""
    ea, ex, mm = em
    if _same(ea, e):
        return [], em
    if isinstance(e, int):
        return [(BPF_LD | BPF_IMM, e)], (e, ex, mm)
    slot = _find_slot(mm, e)
    if slot is not None:
        return [(BPF_LD | BPF_MEM, slot)], (e, ex, mm)
    if _same(ex, e):
        return [(BPF_MISC | BPF_TXA, 0)], (e, ex, mm)
    kind = e[0]
    if kind == "ld":
        return [(BPF_LD | BPF_ABS | _SIZE_CODES[e[1]], e[2])], (e, ex, mm)
    if kind == "anc":
        return [(BPF_LD | BPF_ABS | _SIZE_CODES[e[2]], SKF_AD_OFF + e[1])], (e, ex, mm)
    if kind == "len":
        return [(BPF_LD | BPF_W | BPF_LEN, 0)], (e, ex, mm)
    if kind == "ldi":
        ins, (_, ex, mm) = _mat_x(e[3], em)
        ins.append((BPF_LD | BPF_IND | _SIZE_CODES[e[1]], e[2]))
        return ins, (e, ex, mm)
    if kind == "msh":
        ins, (_, ex, mm) = _mat_x(e, em)
        ins.append((BPF_MISC | BPF_TXA, 0))
        return ins, (e, ex, mm)
    if kind == "neg":
        ins, (_, ex, mm) = _mat_a(e[1], em)
        ins.append((BPF_ALU | BPF_NEG, 0))
        return ins, (e, ex, mm)
    op, a, b = e[1], e[2], e[3]
    if isinstance(b, int):
        ins, (_, ex, mm) = _mat_a(a, em)
        if op == BPF_ADD and b & 0x80000000:
            ins.append((BPF_ALU | BPF_SUB | BPF_K, (-b) & U32))   # reads better
        else:
            ins.append((BPF_ALU | op | BPF_K, b))
        return ins, (e, ex, mm)
    ins, (_, ex, mm) = _mat_ax(a, b, em)
    ins.append((BPF_ALU | op | BPF_X, 0))
    return ins, (e, ex, mm)


def _mat_x(e, em):
    ea, ex, mm = em
    if _same(ex, e):
        return [], em
    if isinstance(e, int):
        return [(BPF_LDX | BPF_W | BPF_IMM, e)], (ea, e, mm)
    slot = _find_slot(mm, e)
    if slot is not None:
        return [(BPF_LDX | BPF_W | BPF_MEM, slot)], (ea, e, mm)
    if e[0] == "msh":
        return [(BPF_LDX | BPF_B | BPF_MSH, e[1])], (ea, e, mm)
    if e[0] == "len":
        return [(BPF_LDX | BPF_W | BPF_LEN, 0)], (ea, e, mm)
    if _same(ea, e):
        return [(BPF_MISC | BPF_TAX, 0)], (ea, e, mm)
    ins, (_, _, mm) = _mat_a(e, em)
    ins.append((BPF_MISC | BPF_TAX, 0))
    return ins, (e, e, mm)


def _mat_ax(a, b, em):
    """Instructions that leave a in A and b in X."""
    best = None
    ins1, em1 = _mat_a(a, em)
    ins2, em2 = _mat_x(b, em1)
    if _same(em2[0], a):
        best = (ins1 + ins2, em2)
    ins1, em1 = _mat_x(b, em)
    ins2, em2 = _mat_a(a, em1)
    if _same(em2[1], b) and (best is None or len(ins1) + len(ins2) < len(best[0])):
        best = (ins1 + ins2, em2)
    if best is not None:
        return best
    # spill b to a free scratch word
    ins1, (ea, ex, mm) = _mat_a(b, em)
    used = set(slot for slot, _ in mm)
    free = [s for s in range(BPF_MEMWORDS) if s not in used]
    if free:
        slot = free[0]
    else:
        slot = mm[0][0]
        mm = mm[1:]
    ins1.append((BPF_ST, slot))
    mm = mm + ((slot, b),)
    ins2, (ea, ex, mm) = _mat_a(a, (ea, ex, mm))
    ins2.append((BPF_LDX | BPF_W | BPF_MEM, slot))
    return ins1 + ins2, (ea, b, mm)


def _reads(ins, jump_code):
    """Registers (bit mask, M words then A and X) a node reads before writing them."""
    written = 0
    read = 0
    for code, k in ins:
        use, define = use_def((code, 0, 0, k))
        read |= use & ~written
        written |= define
    if jump_code is not None:
        use, _ = use_def((jump_code, 0, 0, 0))
        read |= use & ~written
    return read, written


class _Optimizer(object):
    """Path-sensitive symbolic execution of a program, re-emitting what is not known."""

    def __init__(self, prog, reset_at_joins):
        self.prog = prog
        self.reset_at_joins = reset_at_joins
        n = len(prog)
        self.preds = [0] * n
        self.preds[0] = 1
        live = [0] * n
        sites = [frozenset()] * n
        for pc in range(n):
            for s in successors(prog, pc):
                self.preds[s] += 1
        for pc in range(n - 1, -1, -1):
            insn = prog[pc]
            use, define = use_def(insn)
            out = 0
            down = set()
            for s in successors(prog, pc):
                out |= live[s]
                down |= sites[s]
            live[pc] = use | (out & ~define)
            site = self.site(insn)
            if site is not None:
                down.add(site)
            sites[pc] = frozenset(down)
        self.live = live
        self.sites = sites
        self.memo = {}
        self.nodes = {}
        self.node_keys = []
        self.node_reads = []
        self.steps = 0

    @staticmethod
    def site(insn):
        code, _, _, k = insn
        cls = code & 0x07
        if cls == BPF_LD:
            mode = code & 0xE0
            if mode == BPF_ABS:
                if k >= SKF_AD_OFF:
                    return ("anc", k - SKF_AD_OFF)
                return ("ld", SIZES[code & 0x18], k)
            if mode == BPF_IND:
                return ("ldi", SIZES[code & 0x18])
            if mode == BPF_LEN:
                return ("len",)
        elif cls == BPF_LDX:
            if code & 0xE0 == BPF_MSH:
                return ("msh", k)
            if code & 0xE0 == BPF_LEN:
                return ("len",)
        return None

    def relevant(self, value, sites):
        out = []
        _leaves(value, out)
        for leaf in out:
            if leaf in sites:
                continue
            if leaf[0] == "ld" and ("ldi", leaf[1]) in sites:
                continue
            return False
        return True

    def key(self, pc, st):
        a, x, m, facts, ea, ex, em = st
        live = self.live[pc]
        if not live & A_BIT:
            a = None
        if not live & X_BIT:
            x = None
        if live & 0xFFFF:
            m = tuple(v if live >> i & 1 else None for i, v in enumerate(m))
        else:
            m = ()
        if self.reset_at_joins and self.preds[pc] > 1:
            facts = frozenset()
            ea = ex = None
            em = ()
        elif facts:
            sites = self.sites[pc]
            facts = frozenset(f for f in facts if self.relevant(f[1], sites)
                              and (isinstance(f[2], int) or self.relevant(f[2], sites)))
        st = (a, x, m if m else (None,) * BPF_MEMWORDS, facts, ea, ex, em)
        return (pc, a, x, m, facts, ea, ex, em), st

    def node(self, key, reads):
        nid = self.nodes.get(key)
        if nid is None:
            nid = self.nodes[key] = len(self.node_keys)
            self.node_keys.append(key)
            self.node_reads.append(reads)
        return nid

    def ret_node(self, k):
        return self.node(("ret", k), 0)

    def test_node(self, ins, code, k, t, f, test):
        reads, written = _reads(ins, code)
        if t == f and not (self.node_reads[t] & written):
            return t
        reads |= (self.node_reads[t] | self.node_reads[f]) & ~written
        return self.node((tuple(ins), code, k, t, f, test), reads)

    def solve(self):
        st0 = (0, 0, (None,) * BPF_MEMWORDS, frozenset(), 0, 0, ())
        key0, st0 = self.key(0, st0)
        stack = [(self.walk(0, st0), key0)]
        value = None
        memo = self.memo
        while stack:
            gen, key = stack[-1]
            try:
                request = gen.send(value)
            except StopIteration as stop:
                stack.pop()
                value = memo[key] = stop.value
                continue
            pc, st = request
            key, st = self.key(pc, st)
            value = memo.get(key)
            if value is None:
                self.steps += 1
                if self.steps > _EXPLORE_LIMIT:
                    raise _TooBig()
                stack.append((self.walk(pc, st), key))
        return value

    def walk(self, pc, st):
        prog = self.prog
        a, x, m, facts, ea, ex, em = st
        m = list(m)
        while True:
            code, jt, jf, k = prog[pc]
            cls = code & 0x07
            if cls == BPF_LD:
                mode = code & 0xE0
                if mode == BPF_ABS:
                    size = SIZES[code & 0x18]
                    a = ("anc", k - SKF_AD_OFF, size) if k >= SKF_AD_OFF else ("ld", size, k)
                elif mode == BPF_IND:
                    a = _ldi(SIZES[code & 0x18], k, x)
                elif mode == BPF_LEN:
                    a = ("len",)
                elif mode == BPF_IMM:
                    a = k
                else:
                    a = m[k] if m[k] is not None else 0
            elif cls == BPF_LDX:
                mode = code & 0xE0
                if mode == BPF_IMM:
                    x = k
                elif mode == BPF_LEN:
                    x = ("len",)
                elif mode == BPF_MSH:
                    x = ("msh", k)
                else:
                    x = m[k] if m[k] is not None else 0
            elif cls == BPF_ST:
                m[k] = a
            elif cls == BPF_STX:
                m[k] = x
            elif cls == BPF_ALU:
                op = code & 0xF0
                if op == BPF_NEG:
                    a = (-a) & U32 if isinstance(a, int) else ("neg", a)
                else:
                    a = _alu(op, a, x if code & BPF_X else k)
                    if a is _REJECT:
                        return self.ret_node(0)
            elif cls == BPF_MISC:
                if code == BPF_MISC | BPF_TAX:
                    x = a
                else:
                    a = x
            elif cls == BPF_RET:
                if code == BPF_RET | BPF_K:
                    return self.ret_node(k)
                ins, _ = _mat_a(a, (ea, ex, em))
                return self.node((tuple(ins), BPF_RET | BPF_A, 0, None, None, None),
                                 _reads(ins, BPF_RET | BPF_A)[0])
            else:
                if code == BPF_JMP | BPF_JA:
                    target = pc + 1 + k
                else:
                    op = code & 0xF0
                    norm = _normalize(op, a, x if code & BPF_X else k)
                    if norm[0] is None:
                        target = pc + 1 + (jt if norm[1] else jf)
                    else:
                        op, e, w, inverted = norm
                        outcome = _decide(op, e, w, facts)
                        if outcome is not None:
                            target = pc + 1 + (jt if outcome != inverted else jf)
                        else:
                            if isinstance(w, int):
                                ins, (ea2, ex2, em2) = _mat_a(e, (ea, ex, em))
                                jcode, jk = BPF_JMP | op | BPF_K, w
                            else:
                                ins, (ea2, ex2, em2) = _mat_ax(e, w, (ea, ex, em))
                                jcode, jk = BPF_JMP | op | BPF_X, 0
                            pc_true, pc_false = pc + 1 + jt, pc + 1 + jf
                            if inverted:
                                pc_true, pc_false = pc_false, pc_true
                            mt = tuple(m)
                            node_true = yield (pc_true, (a, x, mt, facts | {(op, e, w, True)},
                                                         ea2, ex2, em2))
                            node_false = yield (pc_false, (a, x, mt,
                                                           facts | {(op, e, w, False)},
                                                           ea2, ex2, em2))
                            return self.test_node(ins, jcode, jk, node_true, node_false,
                                                  (op, e, w))
                if self.preds[target] > 1:
                    node = yield (target, (a, x, tuple(m), facts, ea, ex, em))
                    return node
                pc = target
                continue
            pc += 1

    def regroup(self, root):
        """libpcap's or/and pull-up: in a chain of tests that all branch to one node C
        on one side and on to the next test on the other, the order does not change
        the outcome (a test reads, it does not write); tests of the same value are put
        next to each other, so that the value is loaded once.  Like libpcap's, this can
        move a load that would fault after a test that sends the packet to C."""
        keys = self.node_keys
        preds = {}
        seen = {root}
        todo = [root]
        while todo:
            nid = todo.pop()
            key = keys[nid]
            if key[0] == "ret" or key[3] is None:
                continue
            for child in (key[3], key[4]):
                preds[child] = preds.get(child, 0) + 1
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        done = {}
        depth = [0]

        def chain_from(nid, common):
            members = []
            while True:
                key = keys[nid]
                if key[0] == "ret" or key[5] is None:
                    break
                if members and preds.get(nid, 0) != 1:
                    break
                if key[3] == common:
                    members.append((nid, True))
                    nid = key[4]
                elif key[4] == common:
                    members.append((nid, False))
                    nid = key[3]
                else:
                    break
            return members, nid

        def rewrite(nid):
            if nid in done:
                return done[nid]
            key = keys[nid]
            if key[0] == "ret" or key[3] is None:
                done[nid] = nid
                return nid
            depth[0] += 1
            if depth[0] > 400:
                raise _TooBig()
            best = ([], None, None)
            for common in (key[3], key[4]):
                members, last = chain_from(nid, common)
                if len(members) > len(best[0]):
                    best = (members, last, common)
            members, last, common = best
            tests = [keys[m][5][1] for m, _ in members]
            order = sorted(range(len(members)), key=lambda i: tests.index(tests[i]))
            if (len(members) > 2 and order != list(range(len(members)))
                    and not self.node_reads[common] and not self.node_reads[last]):
                common2 = rewrite(common)
                nxt = rewrite(last)
                em = (None, None, ())
                built = []
                for i in order:
                    m, to_common = members[i]
                    op, e, w = keys[m][5]
                    if isinstance(w, int):
                        ins, em = _mat_a(e, em)
                        built.append((ins, BPF_JMP | op | BPF_K, w, to_common, (op, e, w)))
                    else:
                        ins, em = _mat_ax(e, w, em)
                        built.append((ins, BPF_JMP | op | BPF_X, 0, to_common, (op, e, w)))
                for ins, code, k, to_common, test in reversed(built):
                    t, f = (common2, nxt) if to_common else (nxt, common2)
                    nxt = self.test_node(ins, code, k, t, f, test)
                new = nxt
            else:
                t = rewrite(key[3])
                f = rewrite(key[4])
                if (t, f) == (key[3], key[4]):
                    new = nid
                else:
                    new = self.test_node(list(key[0]), key[1], key[2], t, f, key[5])
            depth[0] -= 1
            done[nid] = new
            return new

        try:
            return rewrite(root)
        except _TooBig:
            return root

    def blocks(self, root):
        """The chosen nodes as libpcap blocks, for linearize."""
        made = {}
        order = [root]
        seen = {root}
        while order:
            nid = order.pop()
            key = self.node_keys[nid]
            if key[0] == "ret":
                made[nid] = Block(BPF_RET | BPF_K, key[1])
                continue
            ins, code, k, t, f, _ = key
            made[nid] = Block(code, k, [Stmt(c, kk) for c, kk in ins])
            for child in (t, f):
                if child is not None and child not in seen:
                    seen.add(child)
                    order.append(child)
        for nid, block in made.items():
            key = self.node_keys[nid]
            if key[0] != "ret" and key[3] is not None:
                block.jt = made[key[3]]
                block.jf = made[key[4]]
        return made[root]


def optimize(prog):
    """A shorter program with the same outcome for every packet (as libpcap's optimizer
    defines it); the input itself when the search grows too large."""
    for reset_at_joins in (False, True):
        opt = _Optimizer(prog, reset_at_joins)
        try:
            root = opt.solve()
        except _TooBig:
            continue
        root = opt.regroup(root)
        out = linearize(opt.blocks(root))
        if len(out) <= len(prog):
            return out
        return prog
    return prog
