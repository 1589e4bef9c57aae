"""The compiler's public face: ``compile_filter``, ``Program`` and ``Filter``.

``compile_filter`` runs the stages (``grammar``, ``gencode``, ``optimize``);
``Program`` checks a program as the kernel would (``machine``) and carries its two
executors, the generated ``matcher`` and the reference interpreter, and what attaching
it to a socket takes; ``Filter`` compiles an expression per link type for capture files.
"""
import socket

from .bpf import (
    BPF_ABS, BPF_IND, BPF_K, BPF_LD, BPF_LDX, BPF_MAXINSNS, BPF_MSH, BPF_RET, LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW, SKF_AD_IFINDEX, SKF_AD_OFF,
    SKF_AD_PKTTYPE, SKF_AD_PROTOCOL, SO_ATTACH_FILTER, SO_DETACH_FILTER, SOCK_FILTER,
    SOL_SOCKET, FilterError, error,
)
from .gencode import CodeGen, linearize
from .grammar import parse
from .machine import check, image, run
from .matcher import matcher
from .optimize import optimize as _optimize

__all__ = ["compile_filter", "Program", "Filter"]


def _generate(expr, linktype, live):
    """The unoptimized program of libpcap for expr (what tcpdump -O -d prints)."""
    tree = parse(expr)
    gen = CodeGen(linktype, live)
    root = gen.gen(tree) if tree is not None else None
    return linearize(gen.finish(root))


class Program(object):
    """A checked classic BPF program and its two executors.

    ``instructions``   list of ``(code, jt, jf, k)`` tuples (struct sock_filter)
    ``match(data, wirelen, vlan_tci=None, pkttype=None)``
        True when the program accepts the frame; a Python function generated from the
        program once (an attribute, not a method, to save a call per frame).
        ``vlan_tci`` and ``pkttype`` answer the ancillary loads of a live program.
    ``run_reference(data, wirelen, vlan_tci=None, pkttype=None)``
        the program's return value (0 = reject), one instruction at a time: the
        reference ``match`` is tested against.

    ``Program(instructions)`` checks them as the kernel would (FilterError if it would
    refuse them); ``compile_filter`` makes them from an expression.
    """

    __slots__ = ("instructions", "match", "expr", "linktype", "live", "_source")

    def __init__(self, instructions, expr=None, linktype=None, live=False):
        instructions = [tuple(int(v) for v in insn) for insn in instructions]
        check(instructions)
        self.instructions = instructions
        self.expr = expr
        self.linktype = linktype
        self.live = live
        self.match, self._source = matcher(instructions)

    def __repr__(self):
        return "<Program %r for link type %r%s: %d instructions>" % (
            self.expr, self.linktype, " (live)" if self.live else "",
            len(self.instructions))

    def __len__(self):
        return len(self.instructions)

    def run_reference(self, data, wirelen, vlan_tci=None, pkttype=None):
        """The program's return value for one frame (see the class docstring)."""
        return run(self.instructions, data, wirelen, vlan_tci, pkttype)

    def sock_fprog_bytes(self):
        """The instructions as the kernel's struct sock_filter array (native order)."""
        return b"".join(SOCK_FILTER.pack(*insn) for insn in self.instructions)

    def dump(self):
        """The program as ``tcpdump -d`` prints it, one line per instruction."""
        return "".join(image(insn, n) + "\n" for n, insn in enumerate(self.instructions))

    def cooked(self):
        """The program for a cooked (SOCK_DGRAM) packet socket, as libpcap's fix_program
        makes it: the kernel runs the filter on the packet without the Linux cooked
        header that the program (compiled for SLL or SLL2) expects, so loads past the
        header move back by its length and the header's packet type, protocol (and, for
        SLL2, interface index) fields become ancillary loads.  FilterError when the
        program reads another header field (libpcap then filters in user space)."""
        if self.linktype == LINKTYPE_LINUX_SLL:
            header, fields = 16, {0: SKF_AD_PKTTYPE, 14: SKF_AD_PROTOCOL}
        elif self.linktype == LINKTYPE_LINUX_SLL2:
            header, fields = 20, {0: SKF_AD_PROTOCOL, 4: SKF_AD_IFINDEX,
                                  10: SKF_AD_PKTTYPE}
        else:
            raise error(None, "a cooked socket program is made from one compiled for "
                        "Linux cooked captures (113, 276), not for link type %r"
                        % self.linktype)
        out = []
        for code, jt, jf, k in self.instructions:
            cls = code & 0x07
            mode = code & 0xE0
            if ((cls == BPF_LD and mode in (BPF_ABS, BPF_IND))
                    or (cls == BPF_LDX and mode == BPF_MSH)) and k < SKF_AD_OFF:
                if k >= header:
                    k -= header
                elif k in fields and mode == BPF_ABS:
                    k = SKF_AD_OFF + fields[k]
                elif k < 0x80000000:
                    raise error(None, "%r reads the cooked header at offset %d, which a "
                                "cooked socket's filter cannot see" % (self.expr, k))
            out.append((code, jt, jf, k))
        return Program(out, self.expr, self.linktype, True)

    def attach(self, sock):
        """Attach the program to a socket (SO_ATTACH_FILTER); it replaces any other.

        ``sock`` is a socket object or a file descriptor; OSError if the kernel refuses.
        """
        import ctypes

        class _SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        code = self.sock_fprog_bytes()
        buf = ctypes.create_string_buffer(code, len(code))
        fprog = _SockFprog(len(self.instructions), ctypes.addressof(buf))
        raw = ctypes.string_at(ctypes.addressof(fprog), ctypes.sizeof(fprog))
        _setsockopt(sock, SO_ATTACH_FILTER, raw)
        del buf         # the kernel copied the instructions during the call

    @staticmethod
    def detach(sock):
        """Remove the socket's filter (SO_DETACH_FILTER); nothing if it has none."""
        try:
            _setsockopt(sock, SO_DETACH_FILTER, 0)
        except OSError as e:
            if e.errno != 2:            # ENOENT: no filter attached
                raise


def _setsockopt(sock, option, value):
    if isinstance(sock, int):
        s = socket.socket(fileno=sock)
        try:
            s.setsockopt(SOL_SOCKET, option, value)
        finally:
            s.detach()
    else:
        sock.setsockopt(SOL_SOCKET, option, value)


def compile_filter(expr, linktype, live=False, optimize=True):
    """Compile a tcpdump filter expression for frames of one LINKTYPE_* into a Program.

    ``live=True`` compiles for a Linux packet socket (the outer VLAN tag is in the
    metadata, see the package's docstring); ``optimize=False`` gives libpcap's
    unoptimized program, line for line what ``tcpdump -O -d`` prints.  An empty
    expression accepts everything.  FilterError says where and why it cannot.
    """
    prog = _generate(expr, linktype, live)
    if optimize:
        prog = _optimize(prog)
        if len(prog) == 1 and prog[0] == (BPF_RET | BPF_K, 0, 0, 0):
            raise error(None, "expression rejects all packets: %s" % expr)
    if len(prog) > BPF_MAXINSNS:
        raise error(None, "the program for %r has %d instructions, more than the kernel's "
                    "%d" % (expr, len(prog), BPF_MAXINSNS))
    return Program(prog, expr, linktype, live)


def _reject_all(data, wirelen, vlan_tci=None, pkttype=None):
    return False


class Filter(object):
    """A filter for capture files: compiled once per link type, on its first frame.

    ``Filter(expr)`` checks the expression at once (FilterError for a syntax error, or
    for an error it has with Ethernet, raw IP and Linux cooked frames alike).
    ``match(frame)`` takes the ``(ts, ifindex, pkttype, linktype, data, wirelen)`` tuple
    the readers yield and returns True or False.  A link type the expression cannot be
    compiled for raises FilterError once, at its first frame; its later frames are
    rejected.
    """

    __slots__ = ("expr", "_matchers", "_programs")

    def __init__(self, expr):
        self.expr = expr
        self._matchers = {}
        self._programs = {}
        tree = parse(expr)
        errors = []
        for linktype in (LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL):
            gen = CodeGen(linktype, False)
            try:
                gen.finish(gen.gen(tree) if tree is not None else None)
            except FilterError as e:
                errors.append(e)
        if len(errors) == 3:
            raise errors[0]

    def __repr__(self):
        return "Filter(%r)" % self.expr

    def program(self, linktype):
        """The Program used for frames of this link type (FilterError if none)."""
        prog = self._programs.get(linktype)
        if prog is None:
            prog = self._programs[linktype] = compile_filter(self.expr, linktype)
        return prog

    def match(self, frame):
        """True when the frame passes the filter."""
        _, _, _, linktype, data, wirelen = frame
        try:
            fn = self._matchers[linktype]
        except KeyError:
            fn = self._first(linktype)
        return fn(data, wirelen)

    def _first(self, linktype):
        try:
            fn = self.program(linktype).match
        except FilterError:
            self._matchers[linktype] = _reject_all
            raise
        self._matchers[linktype] = fn
        return fn
