"""The classic BPF machine as the kernel defines it (net/core/filter.c).

What an instruction reads and writes (``use_def``) and where it goes next
(``successors``), its arithmetic and its tests (``fold``, ``evaluate``): the facts the
optimizer and the matcher build on.  ``check`` rejects what the kernel's checker
(bpf_check_classic) rejects; ``run`` is the reference interpreter, one instruction at a
time; ``image`` prints an instruction as libpcap's bpf_image does (``tcpdump -d``).
"""
from .bpf import (
    BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_DIV, BPF_H, BPF_IMM, BPF_IND, BPF_JA,
    BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH,
    BPF_MAXINSNS, BPF_MEM, BPF_MEMWORDS, BPF_MISC, BPF_MOD, BPF_MSH, BPF_MUL, BPF_NEG, BPF_OR,
    BPF_RET, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_TAX, BPF_TXA, BPF_W, BPF_X, BPF_XOR,
    SKF_AD_ALU_XOR_X, SKF_AD_CPU, SKF_AD_HATYPE, SKF_AD_IFINDEX, SKF_AD_MARK, SKF_AD_MAX,
    SKF_AD_NLATTR, SKF_AD_NLATTR_NEST, SKF_AD_OFF, SKF_AD_PAY_OFFSET, SKF_AD_PKTTYPE,
    SKF_AD_PROTOCOL, SKF_AD_QUEUE, SKF_AD_RANDOM, SKF_AD_RXHASH, SKF_AD_VLAN_TAG,
    SKF_AD_VLAN_TAG_PRESENT, SKF_AD_VLAN_TPID, U32, error,
)

__all__ = [
    "A_BIT", "X_BIT", "SIZES", "use_def", "successors", "fold", "evaluate", "check", "run",
    "image",
]

# use_def's register masks: bit n for M[n], then A and X
A_BIT = 1 << 16
X_BIT = 1 << 17
SIZES = {BPF_W: 4, BPF_H: 2, BPF_B: 1}


def use_def(insn):
    """The registers insn reads and writes: masks of 1 << n for M[n], A_BIT, X_BIT."""
    code, jt, jf, k = insn
    cls = code & 0x07
    if cls == BPF_LD:
        mode = code & 0xE0
        if mode == BPF_IND:
            return X_BIT, A_BIT
        if mode == BPF_MEM:
            return 1 << k, A_BIT
        return 0, A_BIT
    if cls == BPF_LDX:
        if code & 0xE0 == BPF_MEM:
            return 1 << k, X_BIT
        return 0, X_BIT
    if cls == BPF_ST:
        return A_BIT, 1 << k
    if cls == BPF_STX:
        return X_BIT, 1 << k
    if cls == BPF_ALU:
        if code & BPF_X and code & 0xF0 != BPF_NEG:
            return A_BIT | X_BIT, A_BIT
        return A_BIT, A_BIT
    if cls == BPF_JMP:
        if code == BPF_JMP | BPF_JA:
            return 0, 0
        return (A_BIT | X_BIT) if code & BPF_X else A_BIT, 0
    if cls == BPF_RET:
        return (A_BIT if code == BPF_RET | BPF_A else 0), 0
    if code == BPF_MISC | BPF_TAX:
        return A_BIT, X_BIT
    return X_BIT, A_BIT


def successors(prog, pc):
    """The instructions that can run after the one at pc."""
    code, jt, jf, k = prog[pc]
    cls = code & 0x07
    if cls == BPF_RET:
        return ()
    if cls == BPF_JMP:
        if code == BPF_JMP | BPF_JA:
            return (pc + 1 + k,)
        return (pc + 1 + jt, pc + 1 + jf)
    return (pc + 1,)


def fold(op, a, b):
    """a op b for an ALU op, in 32 bits (b is not 0 for a division)."""
    if op == BPF_ADD:
        return (a + b) & U32
    if op == BPF_SUB:
        return (a - b) & U32
    if op == BPF_MUL:
        return (a * b) & U32
    if op == BPF_DIV:
        return a // b
    if op == BPF_MOD:
        return a % b
    if op == BPF_AND:
        return a & b
    if op == BPF_OR:
        return a | b
    if op == BPF_XOR:
        return a ^ b
    if op == BPF_LSH:
        return (a << b) & U32 if b < 32 else 0
    return a >> b if b < 32 else 0


def evaluate(op, a, b):
    """The outcome of the conditional jump op on a and b."""
    if op == BPF_JEQ:
        return a == b
    if op == BPF_JGT:
        return a > b
    if op == BPF_JGE:
        return a >= b
    return (a & b) != 0


def _signed(k):
    return k - (1 << 32) if k & 0x80000000 else k


# --- the kernel's checker (net/core/filter.c bpf_check_classic) -------------------------

_VALID_CODES = frozenset([
    BPF_ALU | op | src for op in (BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_AND,
                                  BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH)
    for src in (BPF_K, BPF_X)] + [
    BPF_ALU | BPF_NEG,
    BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_H | BPF_ABS, BPF_LD | BPF_B | BPF_ABS,
    BPF_LD | BPF_W | BPF_IND, BPF_LD | BPF_H | BPF_IND, BPF_LD | BPF_B | BPF_IND,
    BPF_LD | BPF_W | BPF_LEN, BPF_LD | BPF_IMM, BPF_LD | BPF_MEM,
    BPF_LDX | BPF_W | BPF_IMM, BPF_LDX | BPF_W | BPF_LEN, BPF_LDX | BPF_W | BPF_MEM,
    BPF_LDX | BPF_B | BPF_MSH, BPF_ST, BPF_STX, BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA,
    BPF_RET | BPF_K, BPF_RET | BPF_A, BPF_JMP | BPF_JA] + [
    BPF_JMP | op | src for op in (BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET)
    for src in (BPF_K, BPF_X)])

_KNOWN_ANCILLARY = frozenset(range(0, SKF_AD_MAX, 4))


def check(prog):
    """Reject what the kernel's checker rejects, with the reason (a FilterError)."""
    n = len(prog)
    if not 0 < n <= BPF_MAXINSNS:
        raise error(None, "program of %d instructions (the kernel takes 1 to %d)"
                    % (n, BPF_MAXINSNS))
    for pc, insn in enumerate(prog):
        if len(insn) != 4:
            raise error(None, "instruction %d: %r is not (code, jt, jf, k)" % (pc, insn))
        code, jt, jf, k = insn
        if not (0 <= jt <= 255 and 0 <= jf <= 255 and 0 <= k <= U32):
            raise error(None, "instruction %d: %r: jt and jf take 8 bits, k 32" % (pc, insn))
        if code not in _VALID_CODES:
            raise error(None, "instruction %d: unknown opcode 0x%x" % (pc, code))
        cls = code & 0x07
        if cls == BPF_ALU and not code & BPF_X:
            op = code & 0xF0
            if op in (BPF_DIV, BPF_MOD) and k == 0:
                raise error(None, "instruction %d: division by the constant 0" % pc)
            if op in (BPF_LSH, BPF_RSH) and k >= 32:
                raise error(None, "instruction %d: shift by %d" % (pc, k))
        if code in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX):
            if k >= BPF_MEMWORDS:
                raise error(None, "instruction %d: scratch memory M[%d] (16 words)"
                            % (pc, k))
        if cls == BPF_LD and code & 0xE0 == BPF_ABS and k >= SKF_AD_OFF:
            if k - SKF_AD_OFF not in _KNOWN_ANCILLARY:
                raise error(None, "instruction %d: unknown ancillary load %d"
                            % (pc, _signed(k)))
        if code == BPF_JMP | BPF_JA:
            if k >= n - pc - 1:
                raise error(None, "instruction %d: ja %d leaves the program" % (pc, k))
        elif cls == BPF_JMP:
            if pc + 1 + max(jt, jf) >= n:
                raise error(None, "instruction %d: a branch leaves the program" % pc)
    if prog[-1][0] & 0x07 != BPF_RET:
        raise error(None, "the program does not end with a return")
    # scratch memory read only where every path has written it (check_load_and_stores)
    full = (1 << BPF_MEMWORDS) - 1
    masks = [full] * n
    valid = 0
    for pc, (code, jt, jf, k) in enumerate(prog):
        valid &= masks[pc]
        if code in (BPF_ST, BPF_STX):
            valid |= 1 << k
        elif code in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM):
            if not valid >> k & 1:
                raise error(None, "instruction %d reads M[%d] before it is written" % (pc, k))
        elif code == BPF_JMP | BPF_JA:
            masks[pc + 1 + k] &= valid
            valid = full
        elif code & 0x07 == BPF_JMP:
            masks[pc + 1 + jt] &= valid
            masks[pc + 1 + jf] &= valid
            valid = full


# --- the reference interpreter (the kernel's semantics, one instruction at a time) ------

def _ancillary(n, wirelen, vlan_tci, pkttype):
    """The value of ancillary load n for a frame, or None when it is not known here."""
    if n == SKF_AD_VLAN_TAG_PRESENT:
        return 0 if vlan_tci is None else 1
    if n == SKF_AD_VLAN_TAG:
        return 0 if vlan_tci is None else vlan_tci & 0xFFFF
    if n == SKF_AD_PKTTYPE:
        return 0 if pkttype is None else pkttype
    return None


def run(prog, data, wirelen, vlan_tci, pkttype):
    """The reference interpreter: one instruction at a time, as the kernel defines them.

    A load outside the captured bytes, an unknown ancillary load and a division by zero
    end the program with 0 (reject); A and X are 32-bit unsigned; M holds 16 words.
    """
    n = len(data)
    a = x = 0
    mem = [0] * BPF_MEMWORDS
    pc = 0
    while True:
        code, jt, jf, k = prog[pc]
        pc += 1
        cls = code & 0x07
        if cls == BPF_LD or cls == BPF_LDX:
            mode = code & 0xE0
            if mode == BPF_IMM:
                value = k
            elif mode == BPF_LEN:
                value = wirelen & U32
            elif mode == BPF_MEM:
                value = mem[k]
            elif mode == BPF_MSH:
                if k >= n:
                    return 0
                value = (data[k] & 0x0F) << 2
            else:
                size = SIZES[code & 0x18]
                if mode == BPF_ABS and k >= SKF_AD_OFF:
                    value = _ancillary(k - SKF_AD_OFF, wirelen, vlan_tci, pkttype)
                    if value is None:
                        return 0
                else:
                    offset = k + x if mode == BPF_IND else k
                    if offset + size > n:
                        return 0
                    value = int.from_bytes(bytes(data[offset:offset + size]), "big")
            if cls == BPF_LD:
                a = value
            else:
                x = value
        elif cls == BPF_ST:
            mem[k] = a
        elif cls == BPF_STX:
            mem[k] = x
        elif cls == BPF_ALU:
            op = code & 0xF0
            if op == BPF_NEG:
                a = (-a) & U32
            else:
                operand = x if code & BPF_X else k
                if op in (BPF_DIV, BPF_MOD) and operand == 0:
                    return 0
                a = fold(op, a, operand)
        elif cls == BPF_JMP:
            op = code & 0xF0
            if op == BPF_JA:
                pc += k
            else:
                pc += jt if evaluate(op, a, x if code & BPF_X else k) else jf
        elif cls == BPF_RET:
            return k if code == BPF_RET | BPF_K else a
        elif code == BPF_MISC | BPF_TAX:
            x = a
        else:
            a = x


# --- printing (libpcap bpf_image, the format of tcpdump -d) -----------------------------

_ANCILLARY_NAMES = {
    SKF_AD_PROTOCOL: "proto", SKF_AD_PKTTYPE: "type", SKF_AD_IFINDEX: "ifidx",
    SKF_AD_NLATTR: "nla", SKF_AD_NLATTR_NEST: "nlan", SKF_AD_MARK: "mark",
    SKF_AD_QUEUE: "queue", SKF_AD_HATYPE: "hatype", SKF_AD_RXHASH: "rxhash",
    SKF_AD_CPU: "cpu", SKF_AD_ALU_XOR_X: "xor_x", SKF_AD_VLAN_TAG: "vlan_tci",
    SKF_AD_VLAN_TAG_PRESENT: "vlanp", SKF_AD_PAY_OFFSET: "poff", SKF_AD_RANDOM: "rand",
    SKF_AD_VLAN_TPID: "vlan_tpid",
}

_ALU_NAMES = {BPF_ADD: "add", BPF_SUB: "sub", BPF_MUL: "mul", BPF_DIV: "div", BPF_OR: "or",
              BPF_AND: "and", BPF_LSH: "lsh", BPF_RSH: "rsh", BPF_MOD: "mod",
              BPF_XOR: "xor"}
_JMP_NAMES = {BPF_JEQ: "jeq", BPF_JGT: "jgt", BPF_JGE: "jge", BPF_JSET: "jset"}
_LD_NAMES = {BPF_W: "ld", BPF_H: "ldh", BPF_B: "ldb"}


def image(insn, n):
    """Instruction n as tcpdump -d prints it."""
    code, jt, jf, k = insn
    cls = code & 0x07
    op, operand = "unimp", "0x%x" % code
    if cls == BPF_RET:
        if code == BPF_RET | BPF_K:
            op, operand = "ret", "#%d" % _signed(k)
        elif code == BPF_RET | BPF_A:
            op, operand = "ret", ""
    elif cls == BPF_LD:
        mode, size = code & 0xE0, code & 0x18
        name = _LD_NAMES.get(size)
        if mode == BPF_ABS and name:
            anc = k - SKF_AD_OFF
            if k >= SKF_AD_OFF and anc in _ANCILLARY_NAMES:
                op, operand = name, "[%s]" % _ANCILLARY_NAMES[anc]
            else:
                op, operand = name, "[%d]" % _signed(k)
        elif mode == BPF_IND and name:
            op, operand = name, "[x + %d]" % _signed(k)
        elif code == BPF_LD | BPF_W | BPF_LEN:
            op, operand = "ld", "#pktlen"
        elif code == BPF_LD | BPF_IMM:
            op, operand = "ld", "#0x%x" % k
        elif code == BPF_LD | BPF_MEM:
            op, operand = "ld", "M[%d]" % k
    elif cls == BPF_LDX:
        if code == BPF_LDX | BPF_IMM:
            op, operand = "ldx", "#0x%x" % k
        elif code == BPF_LDX | BPF_MSH | BPF_B:
            op, operand = "ldxb", "4*([%d]&0xf)" % k
        elif code == BPF_LDX | BPF_MEM:
            op, operand = "ldx", "M[%d]" % k
        elif code == BPF_LDX | BPF_W | BPF_LEN:
            op, operand = "ldx", "#pktlen"
    elif code == BPF_ST:
        op, operand = "st", "M[%d]" % k
    elif code == BPF_STX:
        op, operand = "stx", "M[%d]" % k
    elif cls == BPF_JMP:
        if code == BPF_JMP | BPF_JA:
            op, operand = "ja", "%d" % (n + 1 + k)
        elif code & 0xF0 in _JMP_NAMES:
            op = _JMP_NAMES[code & 0xF0]
            operand = "x" if code & BPF_X else "#0x%x" % k
    elif cls == BPF_ALU:
        alu = code & 0xF0
        if alu == BPF_NEG:
            op, operand = "neg", ""
        elif alu in _ALU_NAMES:
            op = _ALU_NAMES[alu]
            if code & BPF_X:
                operand = "x"
            elif alu in (BPF_AND, BPF_OR, BPF_XOR):
                operand = "#0x%x" % k
            else:
                operand = "#%d" % _signed(k)
    elif code == BPF_MISC | BPF_TAX:
        op, operand = "tax", ""
    elif code == BPF_MISC | BPF_TXA:
        op, operand = "txa", ""
    if cls == BPF_JMP and code != BPF_JMP | BPF_JA:
        return "(%03d) %-8s %-16s jt %d\tjf %d" % (n, op, operand, n + 1 + jt, n + 1 + jf)
    return "(%03d) %-8s %s" % (n, op, operand)
