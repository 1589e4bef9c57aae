"""The grammar of filter expressions: libpcap's scanner.l (tokens) and grammar.y (the tree).

``parse(expr)`` returns the syntax tree of a tcpdump filter expression (pcap-filter(7)),
or None for an empty one; FilterError says where it is not in the grammar.  The parser
makes grammar.y's choices: ``and`` and ``or`` of equal precedence, left-associative;
``not`` binding tightest; an identifier without qualifiers repeats the last ones, so
``host a or b`` is ``host a or host b``.  Code is generated from the tree by ``gencode``.
"""
import re
import socket

from .bpf import (
    BPF_ADD, BPF_AND, BPF_DIV, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_LSH, BPF_MOD, BPF_MUL, BPF_OR,
    BPF_RSH, BPF_SUB, BPF_XOR, U32, FilterError, error,
)

__all__ = ["parse"]

# --- lexer (libpcap scanner.l) ----------------------------------------------------------

_KEYWORDS = {
    "dst": "DST", "src": "SRC",
    "link": "LINK", "ether": "LINK", "ppp": "LINK", "slip": "LINK", "fddi": "LINK",
    "tr": "LINK", "wlan": "LINK",
    "arp": "ARP", "rarp": "RARP", "ip": "IP", "sctp": "SCTP", "tcp": "TCP", "udp": "UDP",
    "icmp": "ICMP", "igmp": "IGMP", "igrp": "IGRP", "pim": "PIM", "vrrp": "VRRP",
    "carp": "CARP", "radio": "RADIO", "ip6": "IPV6", "icmp6": "ICMPV6", "ah": "AH",
    "esp": "ESP", "atalk": "ATALK", "aarp": "AARP", "decnet": "DECNET", "lat": "LAT",
    "sca": "SCA", "moprc": "MOPRC", "mopdl": "MOPDL", "iso": "ISO", "esis": "ESIS",
    "es-is": "ESIS", "isis": "ISIS", "is-is": "ISIS", "l1": "L1", "l2": "L2", "iih": "IIH",
    "lsp": "LSP", "snp": "SNP", "csnp": "CSNP", "psnp": "PSNP", "clnp": "CLNP", "stp": "STP",
    "ipx": "IPX", "netbeui": "NETBEUI",
    "host": "HOST", "net": "NET", "mask": "NETMASK", "port": "PORT",
    "portrange": "PORTRANGE", "proto": "PROTO", "protochain": "PROTOCHAIN",
    "gateway": "GATEWAY", "type": "TYPE", "subtype": "SUBTYPE", "direction": "DIR",
    "dir": "DIR", "address1": "ADDR1", "addr1": "ADDR1", "address2": "ADDR2",
    "addr2": "ADDR2", "address3": "ADDR3", "addr3": "ADDR3", "address4": "ADDR4",
    "addr4": "ADDR4", "ra": "RA", "ta": "TA",
    "less": "LESS", "greater": "GREATER", "byte": "CBYTE", "broadcast": "BROADCAST",
    "multicast": "MULTICAST", "and": "AND", "or": "OR", "not": "!", "len": "LEN",
    "length": "LEN", "inbound": "INBOUND", "outbound": "OUTBOUND", "ifindex": "IFINDEX",
    "vlan": "VLAN", "mpls": "MPLS", "pppoed": "PPPOED", "pppoes": "PPPOES",
    "geneve": "GENEVE", "lane": "LANE", "llc": "LLC", "metac": "METAC", "bcc": "BCC",
    "oam": "OAM", "oamf4": "OAMF4", "oamf4ec": "OAMF4EC", "oamf4sc": "OAMF4SC", "sc": "SC",
    "ilmic": "ILMIC", "vpi": "VPI", "vci": "VCI", "connectmsg": "CONNECTMSG",
    "metaconnect": "METACONNECT", "on": "PF_IFNAME", "ifname": "PF_IFNAME",
    "rset": "PF_RSET", "ruleset": "PF_RSET", "rnr": "PF_RNR", "rulenum": "PF_RNR",
    "srnr": "PF_SRNR", "subrulenum": "PF_SRNR", "reason": "PF_REASON",
    "action": "PF_ACTION", "fisu": "FISU", "lssu": "LSSU", "lsu": "LSSU", "msu": "MSU",
    "hfisu": "HFISU", "hlssu": "HLSSU", "hmsu": "HMSU", "sio": "SIO", "opc": "OPC",
    "dpc": "DPC", "sls": "SLS", "hsio": "HSIO", "hopc": "HOPC", "hdpc": "HDPC",
    "hsls": "HSLS",
}

# Named constants the scanner turns into numbers (pcap-filter(7)).
_NAMED_NUMBERS = {
    "icmptype": 0, "icmpcode": 1, "icmp-echoreply": 0, "icmp-unreach": 3,
    "icmp-sourcequench": 4, "icmp-redirect": 5, "icmp-echo": 8, "icmp-routeradvert": 9,
    "icmp-routersolicit": 10, "icmp-timxceed": 11, "icmp-paramprob": 12,
    "icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15, "icmp-ireqreply": 16,
    "icmp-maskreq": 17, "icmp-maskreply": 18,
    "icmp6type": 0, "icmp6code": 1, "icmp6-destinationunreach": 1,
    "icmp6-packettoobig": 2, "icmp6-timeexceeded": 3, "icmp6-parameterproblem": 4,
    "icmp6-echo": 128, "icmp6-echoreply": 129, "icmp6-multicastlistenerquery": 130,
    "icmp6-multicastlistenerreportv1": 131, "icmp6-multicastlistenerdone": 132,
    "icmp6-routersolicit": 133, "icmp6-routeradvert": 134, "icmp6-neighborsolicit": 135,
    "icmp6-neighboradvert": 136, "icmp6-redirect": 137, "icmp6-routerrenum": 138,
    "icmp6-nodeinformationquery": 139, "icmp6-nodeinformationresponse": 140,
    "icmp6-ineighbordiscoverysolicit": 141, "icmp6-ineighbordiscoveryadvert": 142,
    "icmp6-multicastlistenerreportv2": 143, "icmp6-homeagentdiscoveryrequest": 144,
    "icmp6-homeagentdiscoveryreply": 145, "icmp6-mobileprefixsolicit": 146,
    "icmp6-mobileprefixadvert": 147, "icmp6-certpathsolicit": 148,
    "icmp6-certpathadvert": 149, "icmp6-multicastrouteradvert": 151,
    "icmp6-multicastroutersolicit": 152, "icmp6-multicastrouterterm": 153,
    "tcpflags": 13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
    "tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
}

_N = r"(?:0[Xx][0-9A-Fa-f]+|[0-9]+)"
_B = r"[0-9A-Fa-f]{1,2}"
_B2 = r"[0-9A-Fa-f]{4}"
_RE_ID = re.compile(r"[A-Za-z0-9](?:[-_.A-Za-z0-9]*[.A-Za-z0-9])?")
_RE_NUM = re.compile(_N)
_RE_HID = re.compile(_N + r"(?:\." + _N + r"){1,3}")
_RE_MACS = tuple(re.compile(p) for p in (
    ":".join([_B] * 6), r"\-".join([_B] * 6), r"\.".join([_B] * 6),
    r"\.".join([_B2] * 3), _B2 * 3))
_RE_V6 = (re.compile(r"[0-9A-Fa-f:]*:" + r"\.".join([_N] * 4)),    # ::ffff:10.0.0.1
          re.compile(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*"))
_RE_BOGUS_MAC = re.compile(_B + r":+(?:" + _B + r":+)+")
_RE_AID = re.compile(r"\$" + _B)
_RE_ESCAPED = re.compile(r"\\[^ !()\n\t]+")
_RE_SPACE = re.compile(r"[ \r\n\t]+")
_TWO_CHAR = {">=": "GEQ", "<=": "LEQ", "!=": "NEQ", "==": "=", "<<": "LSH", ">>": "RSH",
             "&&": "AND", "||": "OR"}
_ONE_CHAR = frozenset("+-*/%:[]!<>()&|^=")

# Rule order of scanner.l, which decides between matches of equal length.
(_R_KEYWORD, _R_PUNCT, _R_AID, _R_MAC, _R_NUM, _R_HID, _R_V6, _R_BOGUS_MAC, _R_NAMED,
 _R_ID, _R_ESCAPED) = range(11)


class _Token(object):
    __slots__ = ("kind", "value", "pos", "text")

    def __init__(self, kind, value, pos, text):
        self.kind = kind
        self.value = value
        self.pos = pos
        self.text = text

    def __repr__(self):
        return "_Token(%r, %r, %d)" % (self.kind, self.value, self.pos)

    def describe(self):
        if self.kind == "EOF":
            return "end of expression"
        return "'%s'" % self.text


def _number(text, pos):
    """A NUM token's value: decimal, 0x hex or 0 octal, at most 32 bits (libpcap stoulen)."""
    if text[:2] in ("0x", "0X"):
        value = int(text[2:], 16)
    elif text[0] == "0" and len(text) > 1:
        if not re.match(r"[0-7]+$", text[1:]):
            raise error(pos, "number %s contains non-octal digit" % text)
        value = int(text[1:], 8)
    else:
        value = int(text)
    if value > U32:
        raise error(pos, "number %s overflows 32 bits" % text)
    return value


def _tokenize(expr):
    tokens = []
    i = 0
    end = len(expr)
    while i < end:
        space = _RE_SPACE.match(expr, i)
        if space:
            i = space.end()
            continue
        pos = i + 1
        best_len, best_rule = 0, None
        candidates = []
        m = _RE_ID.match(expr, i)
        if m:
            text = m.group()
            if text in _KEYWORDS:
                candidates.append((len(text), _R_KEYWORD))
            elif text in _NAMED_NUMBERS:
                candidates.append((len(text), _R_NAMED))
            else:
                candidates.append((len(text), _R_ID))
        two = expr[i:i + 2]
        if two in _TWO_CHAR:
            candidates.append((2, _R_KEYWORD if two in ("&&", "||") else _R_PUNCT))
        elif expr[i] in _ONE_CHAR:
            candidates.append((1, _R_PUNCT))
        for rule, regex in ((_R_AID, _RE_AID), (_R_NUM, _RE_NUM), (_R_HID, _RE_HID),
                            (_R_BOGUS_MAC, _RE_BOGUS_MAC), (_R_ESCAPED, _RE_ESCAPED)):
            m = regex.match(expr, i)
            if m:
                candidates.append((m.end() - i, rule))
        for regex in _RE_MACS:
            m = regex.match(expr, i)
            if m:
                candidates.append((m.end() - i, _R_MAC))
        for regex in _RE_V6:
            m = regex.match(expr, i)
            if m:
                text = m.group()
                head = text.rsplit(":", 1)[0] if "." in text else text
                if "::" in text or head.count(":") >= 6:
                    candidates.append((len(text), _R_V6))
        for length, rule in candidates:
            if length > best_len or (length == best_len and rule < best_rule):
                best_len, best_rule = length, rule
        if best_rule is None:
            raise error(pos, "unexpected character %r" % expr[i])
        text = expr[i:i + best_len]
        if best_rule == _R_KEYWORD:
            kind = _TWO_CHAR.get(text) or _KEYWORDS[text]
            tokens.append(_Token(kind, text, pos, text))
        elif best_rule == _R_PUNCT:
            tokens.append(_Token(_TWO_CHAR.get(text, text), text, pos, text))
        elif best_rule == _R_NAMED:
            tokens.append(_Token("NUM", _NAMED_NUMBERS[text], pos, text))
        elif best_rule == _R_NUM:
            tokens.append(_Token("NUM", _number(text, pos), pos, text))
        elif best_rule == _R_ID:
            tokens.append(_Token("ID", text, pos, text))
        elif best_rule == _R_ESCAPED:
            tokens.append(_Token("ID", text[1:], pos, text))
        elif best_rule == _R_HID:
            tokens.append(_Token("HID", text, pos, text))
        elif best_rule == _R_MAC:
            tokens.append(_Token("EID", text, pos, text))
        elif best_rule == _R_AID:
            tokens.append(_Token("AID", text, pos, text))
        elif best_rule == _R_V6:
            try:
                socket.inet_pton(socket.AF_INET6, text)
            except (OSError, ValueError):
                raise error(pos, "bogus IPv6 address %s" % text)
            tokens.append(_Token("HID6", text, pos, text))
        else:
            raise error(pos, "bogus ethernet address %s" % text)
        i += best_len
    tokens.append(_Token("EOF", None, end + 1, ""))
    return tokens


# --- parser (libpcap grammar.y) -> syntax tree ------------------------------------------
#
# The tree is built first and code generated from it afterwards, in the order yacc runs
# the grammar's actions (children left to right, then the parent), which is what makes
# "vlan" shift the offsets of everything after it, as in libpcap.
#
# Qualifiers are (proto, dir, addr, word): proto a pname token kind or "DEFAULT", dir one
# of DEFAULT SRC DST OR AND, addr one of DEFAULT HOST NET PORT PORTRANGE PROTO
# PROTOCHAIN GATEWAY; word is the keyword that set them, for messages.  QERR is what a
# primitive without qualifiers leaves for an identifier after it (a syntax error).

_PNAMES = frozenset((
    "LINK", "IP", "ARP", "RARP", "SCTP", "TCP", "UDP", "ICMP", "IGMP", "IGRP", "PIM",
    "VRRP", "CARP", "ATALK", "AARP", "DECNET", "LAT", "SCA", "MOPDL", "MOPRC", "IPV6",
    "ICMPV6", "AH", "ESP", "ISO", "ESIS", "ISIS", "L1", "L2", "IIH", "LSP", "SNP", "PSNP",
    "CSNP", "CLNP", "STP", "IPX", "NETBEUI", "RADIO"))
_AQUALS = frozenset(("HOST", "NET", "PORT", "PORTRANGE"))
_HEAD_WORDS = frozenset(("SRC", "DST", "HOST", "NET", "PORT", "PORTRANGE", "PROTO",
                         "PROTOCHAIN", "GATEWAY", "ADDR1", "ADDR2", "ADDR3", "ADDR4",
                         "RA", "TA"))
_UNSUPPORTED = frozenset((
    "CBYTE", "IFINDEX", "MPLS", "PPPOES", "GENEVE", "LANE", "LLC", "METAC", "BCC", "OAM",
    "OAMF4", "OAMF4EC", "OAMF4SC", "SC", "ILMIC", "VPI", "VCI", "CONNECTMSG", "METACONNECT",
    "PF_IFNAME", "PF_RSET", "PF_RNR", "PF_SRNR", "PF_REASON", "PF_ACTION", "FISU", "LSSU",
    "MSU", "HFISU", "HLSSU", "HMSU", "SIO", "OPC", "DPC", "SLS", "HSIO", "HOPC", "HDPC",
    "HSLS", "TYPE", "SUBTYPE", "DIR"))
_ARITH_OPS = {"|": 1, "&": 2, "LSH": 3, "RSH": 3, "+": 4, "-": 4, "*": 5, "/": 5,
              "%": None, "^": None}
_ARITH_CODES = {"|": BPF_OR, "&": BPF_AND, "LSH": BPF_LSH, "RSH": BPF_RSH, "+": BPF_ADD,
                "-": BPF_SUB, "*": BPF_MUL, "/": BPF_DIV, "%": BPF_MOD, "^": BPF_XOR}
_UMINUS = 6
_RELOPS = {">": (BPF_JGT, False), "GEQ": (BPF_JGE, False), "=": (BPF_JEQ, False),
           "LEQ": (BPF_JGT, True), "<": (BPF_JGE, True), "NEQ": (BPF_JEQ, True)}
_QERR = ("UNDEF", "UNDEF", "UNDEF", None)
# protocol keywords accepted after "proto" without tcpdump's backslash
_PROTO_KEYWORDS = {"ICMP": 1, "IGMP": 2, "TCP": 6, "IGRP": 9, "UDP": 17, "ESP": 50,
                   "AH": 51, "ICMPV6": 58, "PIM": 103, "VRRP": 112, "CARP": 112,
                   "SCTP": 132}


class _Parser(object):
    """Recursive descent over the tokens, reproducing grammar.y's choices."""

    def __init__(self, expr):
        self.tokens = _tokenize(expr)
        self.i = 0

    @property
    def tok(self):
        return self.tokens[self.i]

    def peek(self, n=1):
        return self.tokens[min(self.i + n, len(self.tokens) - 1)]

    def advance(self):
        t = self.tokens[self.i]
        self.i += 1
        return t

    def expected(self, what, tok=None):
        tok = tok or self.tok
        if tok.kind in _UNSUPPORTED or tok.kind in ("GATEWAY", "PROTOCHAIN", "AID"):
            return error(tok.pos, "%s is not supported by this filter compiler"
                         % tok.describe())
        return error(tok.pos, "expected %s, got %s" % (what, tok.describe()))

    def expect(self, kind, what):
        if self.tok.kind != kind:
            raise self.expected(what)
        return self.advance()

    def parse(self):
        if self.tok.kind == "EOF":
            return None
        try:
            node, _ = self.expr(_QERR)
        except FilterError as e:
            opened = self.unclosed()
            if opened is None or e.position != self.tokens[-1].pos:
                raise
            # the expression ran out inside parentheses: that, not what the last
            # alternative wanted next, is the fault
            raise error(opened.pos, "'(' is never closed (the expression ends before "
                        "its ')')")
        if self.tok.kind != "EOF":
            raise self.expected("'and', 'or' or the end of the expression")
        return node

    def unclosed(self):
        """The innermost '(' with no ')' to match it, or None."""
        opened = []
        for t in self.tokens:
            if t.kind == "(":
                opened.append(t)
            elif t.kind == ")" and opened:
                opened.pop()
        return opened[-1] if opened else None

    def attempt(self, *alternatives):
        """The first alternative that parses; else the error that got furthest."""
        start = self.i
        best = None
        for alternative in alternatives:
            self.i = start
            try:
                return alternative()
            except FilterError as e:
                if best is None or (e.position or 0) > (best.position or 0):
                    best = e
        raise best

    # expr: term | expr and term | expr and id | expr or term | expr or id
    def expr(self, q):
        node, q = self.term(q)
        while self.tok.kind in ("AND", "OR"):
            op = self.advance()
            if self.id_follows():
                prev = q
                right, q = self.attempt(lambda: self.id(prev), lambda: self.term(prev))
            else:
                right, q = self.term(q)
            node = ("and" if op.kind == "AND" else "or", op.pos, node, right)
        return node, q

    def id_follows(self):
        """After and/or: does an identifier (rather than a term) follow?"""
        n = 0
        while self.peek(n).kind == "!":
            n += 1
        t = self.peek(n)
        if t.kind in ("HID", "HID6", "EID", "AID", "ID", "("):
            return True
        if t.kind == "NUM":
            return not (self.peek(n + 1).kind in _ARITH_OPS
                        or self.peek(n + 1).kind in _RELOPS)
        return False

    # term: rterm | not term
    def term(self, q):
        if self.tok.kind == "!":
            pos = self.advance().pos
            node, q = self.term(q)
            return ("not", pos, node), q
        return self.rterm(q)

    def rterm(self, q):
        t = self.tok
        kind = t.kind
        if kind == "(":
            return self.attempt(self.relation, lambda: self.paren_expr(q))
        if kind in ("NUM", "-", "LEN"):
            return self.relation()
        if kind in _PNAMES:
            nxt = self.peek().kind
            if nxt == "[":
                return self.relation()
            if nxt in _HEAD_WORDS:
                return self.head_id()
            if nxt in ("BROADCAST", "MULTICAST"):
                self.advance()
                other = self.advance()
                return ("other", other.pos, other.kind, (kind, t.text)), _QERR
            self.advance()
            return ("pname", t.pos, kind, t.text), _QERR
        if kind in _HEAD_WORDS:
            return self.head_id()
        if kind in ("BROADCAST", "MULTICAST"):
            self.advance()
            return ("other", t.pos, kind, ("DEFAULT", None)), _QERR
        if kind in ("LESS", "GREATER"):
            self.advance()
            n = self.expect("NUM", "a length after '%s'" % t.text)
            return ("other", t.pos, kind, n.value), _QERR
        if kind == "VLAN":
            self.advance()
            if self.tok.kind in ("NUM", "("):
                return ("other", t.pos, kind, self.pnum("a VLAN id after 'vlan'")), _QERR
            return ("other", t.pos, kind, None), _QERR
        if kind in ("INBOUND", "OUTBOUND", "PPPOED"):
            self.advance()
            return ("other", t.pos, kind, None), _QERR
        if kind in ("HID", "HID6", "EID", "ID"):
            raise error(t.pos, "expected a qualifier such as 'host', 'net' or 'port' "
                        "before %s" % t.describe())
        raise self.expected("a filter primitive (such as 'host', 'port', 'tcp')")

    def paren_expr(self, q):
        self.expect("(", "'('")
        node, _ = self.expr(q)
        self.expect(")", "')' or 'and' or 'or'")
        return node, q

    def pnum(self, what):
        if self.tok.kind == "(":
            self.advance()
            value = self.pnum(what)
            self.expect(")", "')'")
            return value
        return self.expect("NUM", what).value

    # head: pqual dqual aqual | pqual dqual | pqual aqual | pqual PROTO | ...
    def head_id(self):
        proto = "DEFAULT"
        word = None
        if self.tok.kind in _PNAMES:
            proto = self.tok.kind
            word = self.advance().text
        direction = "DEFAULT"
        addr = "DEFAULT"
        t = self.tok
        if t.kind in ("SRC", "DST"):
            self.advance()
            word = t.text
            direction = "SRC" if t.kind == "SRC" else "DST"
            if self.tok.kind in ("OR", "AND"):
                other = "DST" if t.kind == "SRC" else "SRC"
                conj = self.advance()
                o = self.expect(other, "'%s' after '%s %s'" % (other.lower(), t.text,
                                                               conj.text))
                direction = "OR" if conj.kind == "OR" else "AND"
                word = o.text
            if self.tok.kind in _AQUALS:
                word = self.tok.text
                addr = self.advance().kind
        elif t.kind in _AQUALS or t.kind == "PROTO":
            word = t.text
            addr = self.advance().kind
        elif t.kind in ("PROTOCHAIN", "GATEWAY"):
            raise self.expected("")
        else:
            raise error(t.pos, "'%s' applies only to IEEE 802.11 link layers" % t.text)
        return self.id((proto, direction, addr, word))

    # id: nid | pnum | paren pid ')'
    def id(self, q):
        t = self.tok
        if t.kind == "!":
            self.advance()
            node, q2 = self.id(q)
            return ("not", t.pos, node), q2
        if t.kind == "(":
            self.advance()
            node, q2 = self.pid(q)
            self.expect(")", "')'")
            if self.tok.kind in _ARITH_OPS or self.tok.kind in _RELOPS:
                raise self.expected("'and', 'or' or ')'")
            return node, q2
        if t.kind == "NUM":
            self.advance()
            if q[2] == "PORTRANGE" and self.tok.kind == "-":
                # "portrange 10-" and "portrange 10 - 20" are not one ID token
                self.advance()
                if self.tok.kind == "NUM":
                    raise error(t.pos, "write the port range without spaces: %d-%d"
                                % (t.value, self.tok.value))
                raise self.expected("the end of the port range after '%d-'" % t.value)
            return ("ncode", t.pos, q, t.value), q
        return self.nid(q)

    # pid: nid | qid and id | qid or id ;  qid: pnum | pid
    def pid(self, q):
        if self.tok.kind == "NUM":
            t = self.advance()
            node = ("ncode", t.pos, q, t.value)
        elif self.tok.kind == "(":
            node, q = self.id(q)
        else:
            node, q = self.nid(q)
        while self.tok.kind in ("AND", "OR"):
            op = self.advance()
            right, q = self.id(q)
            node = ("and" if op.kind == "AND" else "or", op.pos, node, right)
        return node, q

    def nid(self, q):
        t = self.tok
        proto, direction, addr, word = q
        after = " after '%s'" % word if word else ""
        if t.kind == "!":
            self.advance()
            node, q2 = self.id(q)
            return ("not", t.pos, node), q2
        if t.kind == "HID":
            self.advance()
            if self.tok.kind == "/":
                self.advance()
                length = self.expect("NUM", "a prefix length after '/'")
                what = "IP address and prefix length"
                node = ("mcode", t.pos, q, t.text, None, length.value)
            elif self.tok.kind == "NETMASK":
                self.advance()
                m = self.expect("HID", "a dotted netmask after 'mask'")
                what = "IP address and netmask"
                node = ("mcode", t.pos, q, t.text, m.text, 0)
            else:
                what = "IP address"
                node = ("ncode_hid", t.pos, q, t.text)
            self.check_address_qualifier(t, q, what, after)
            return node, q
        if t.kind == "HID6":
            self.advance()
            masklen = 128
            what = "IP address"
            if self.tok.kind == "/":
                self.advance()
                masklen = self.expect("NUM", "a prefix length after '/'").value
                what = "IP address and prefix length"
            self.check_address_qualifier(t, q, what, after)
            return ("mcode6", t.pos, q, t.text, masklen), q
        if t.kind == "EID":
            self.advance()
            return ("ecode", t.pos, q, t.text), q
        if t.kind == "ID":
            self.advance()
            return ("scode", t.pos, q, t.value), q
        if addr == "PROTO" and t.kind in _PROTO_KEYWORDS:
            # "ip proto tcp": tcpdump wants "\tcp"; the keyword can only mean this here
            self.advance()
            return ("ncode", t.pos, q, _PROTO_KEYWORDS[t.kind]), q
        if addr == "PORT":
            raise self.expected("a port number or service name" + after)
        if addr == "PORTRANGE":
            raise self.expected("a port range such as 6000-6010" + after)
        if addr == "PROTO":
            raise self.expected("a protocol number or name" + after)
        raise self.expected("an address" + after)

    def check_address_qualifier(self, t, q, what, after):
        addr = q[2]
        if addr == "PORT":
            raise error(t.pos, "expected a port number%s, got %s %s"
                        % (after, what, t.describe()))
        if addr == "PORTRANGE":
            raise error(t.pos, "expected a port range%s, got %s %s"
                        % (after, what, t.describe()))
        if addr in ("PROTO", "PROTOCHAIN"):
            raise error(t.pos, "expected a protocol%s, got %s %s"
                        % (after, what, t.describe()))

    # rterm: arth relop arth | arth irelop arth
    def relation(self):
        pos = self.tok.pos
        left = self.arth()
        t = self.tok
        if t.kind not in _RELOPS:
            raise self.expected("a comparison (=, !=, <, <=, >, >=)")
        self.advance()
        right = self.arth()
        code, reversed_ = _RELOPS[t.kind]
        return ("rel", pos, code, reversed_, left, right), _QERR

    def arth(self):
        """Arithmetic with grammar.y's precedences; '%' and '^' have none there, so
        yacc always shifts on them (their right operand extends as far as it can)."""
        operands = [None]
        ops = []                        # (kind, pos, precedence)

        def reduce_top():
            kind, pos, _ = ops.pop()
            if kind == "neg":
                operands[-1] = ("neg", pos, operands[-1])
            else:
                b = operands.pop()
                a = operands.pop()
                operands.append(("arth", pos, _ARITH_CODES[kind], a, b))

        operands.pop()
        while True:
            while self.tok.kind == "-":
                t = self.advance()
                ops.append(("neg", t.pos, _UMINUS))
            operands.append(self.arth_primary())
            t = self.tok
            if t.kind not in _ARITH_OPS:
                break
            prec = _ARITH_OPS[t.kind]
            while ops and prec is not None and ops[-1][2] is not None and ops[-1][2] >= prec:
                reduce_top()
            self.advance()
            ops.append((t.kind, t.pos, prec))
        while ops:
            reduce_top()
        return operands[0]

    def arth_primary(self):
        t = self.tok
        if t.kind == "NUM":
            self.advance()
            return ("num", t.pos, t.value)
        if t.kind == "LEN":
            self.advance()
            return ("len", t.pos)
        if t.kind == "(":
            self.advance()
            node = self.arth()
            self.expect(")", "')'")
            return node
        if t.kind in _PNAMES and self.peek().kind == "[":
            self.advance()
            self.advance()
            index = self.arth()
            size = 1
            if self.tok.kind == ":":
                self.advance()
                size = self.expect("NUM", "a size (1, 2 or 4) after ':'").value
            self.expect("]", "']'")
            return ("load", t.pos, t.kind, t.text, index, size)
        raise self.expected("a number, 'len' or a packet field such as ip[0]")


def parse(expr):
    """The syntax tree of expr, None for an empty expression (FilterError if it is not
    in the grammar)."""
    return _Parser(expr).parse()
