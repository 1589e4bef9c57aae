"""The front end's settings and the plain-text file that keeps them.

The file holds one ``key = value`` per line; ``#`` starts a comment; keys it does not
know and values that do not parse are reported (``Settings.problems``) and the default
kept, so that a hand-edited file never stops the program.  Its place is ``--config
PATH`` when given, else ``$XDG_CONFIG_HOME/iptraf.py.conf`` (``~/.config`` when that is
unset; under sudo, root's home).  Saving writes a new file and renames it over the old
one, so a crash mid-save leaves the old settings whole.
"""
import os

from ..accounting.detect import Thresholds

__all__ = ["Settings", "SETTINGS", "FILTER_PROTOCOLS", "NAMED", "ConfigError",
           "default_path", "parse_ports"]


class ConfigError(ValueError):
    pass


def _bool(text):
    value = text.strip().lower()
    if value in ("yes", "on", "true", "1"):
        return True
    if value in ("no", "off", "false", "0"):
        return False
    raise ConfigError("%r is not yes or no" % text)


def _number(low, high, kind=float):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise ConfigError("%r is not a number" % text)
        if not low <= value <= high:
            raise ConfigError("%s is not between %s and %s" % (text, low, high))
        return value
    return parse


def _choice(*choices):
    def parse(text):
        value = text.strip().lower()
        if value not in choices:
            raise ConfigError("%r is not one of %s" % (text, ", ".join(choices)))
        return value
    return parse


def _text(text):
    if any(not c.isprintable() for c in text):
        raise ConfigError("control characters are not allowed")
    return text.strip()


def parse_ports(text):
    """'8080, 5000-5100' -> [(8080, 8080), (5000, 5100)]."""
    ranges = []
    for part in text.replace(",", " ").split():
        low, sep, high = part.partition("-")
        try:
            low = int(low)
            high = int(high) if sep else low
        except ValueError:
            raise ConfigError("%r is not a port or a range of ports" % part)
        if not 1 <= low <= high <= 65535:
            raise ConfigError("%r is not a range of ports between 1 and 65535" % part)
        ranges.append((low, high))
    return ranges


def _ports(text):
    parse_ports(text)
    return " ".join(text.replace(",", " ").split())


def _show_bool(value):
    return "yes" if value else "no"


# key, parser, default, what the Configure dialog calls it
SETTINGS = (
    ("reverse_dns", _bool, True, "Reverse DNS lookups"),
    ("service_names", _bool, True, "TCP/UDP service names"),
    ("promiscuous", _bool, False, "Force promiscuous mode"),
    ("color", _bool, True, "Color"),
    ("logging", _bool, False, "Logging (to /var/log/iptraf)"),
    ("activity_unit", _choice("kbits", "kbytes"), "kbits", "Activity mode (kbits/kbytes)"),
    ("source_mac", _bool, False, "Show source MAC addresses in traffic monitor"),
    ("tcp_timeout", _number(1, 1440, int), 15, "TCP idle timeout (minutes)"),
    ("closed_lifetime", _number(0, 86400, int), 60, "Closed/idle entries kept (seconds)"),
    ("log_interval", _number(1, 1440, int), 60, "Log interval (minutes)"),
    ("update_interval", _number(0.1, 60.0), 1.0, "Screen update interval (seconds)"),
    ("extra_ports", _ports, "", "Additional ports (service monitor; empty: all)"),
    ("mac_names", _text, "/etc/ethers", "MAC address descriptions (ethers file)"),
    ("scan_ports", _number(2, 65535, int), 15, "Port scan: failed ports on one host in 5 min"),
    ("sweep_hosts", _number(2, 65535, int), 25, "Host sweep: failed hosts on one port in 5 min"),
    ("syn_flood_rate", _number(1, 10**7, int), 500, "SYN flood: SYNs per second to one port"),
    ("icmp_flood_rate", _number(1, 10**7, int), 500, "ICMP flood: echo requests per second"),
    ("bytes", _choice("frame", "ip"), "frame", "Bytes counted (frame/ip, as iptraf-ng)"),
    ("rate_window", _number(0.0, 60.0), 5.0, "Rates averaged over (seconds; 0: one update)"),
    ("v6_in_v4", _bool, False, "Show v6-in-v4 traffic as IPv6"),
)

# the Filters dialog's protocol switches: key, label, the tcpdump expression it covers
FILTER_PROTOCOLS = (
    ("filter_tcp", "TCP", "tcp"),
    ("filter_udp", "UDP", "udp"),
    ("filter_icmp", "ICMP", "icmp or icmp6"),
    ("filter_other_ip", "Other IP",
     "(ip or ip6) and not tcp and not udp and not icmp and not icmp6"),
    ("filter_arp", "ARP", "arp"),
    ("filter_rarp", "RARP", "rarp"),
    ("filter_nonip", "Non-IP", "not ip and not ip6 and not arp and not rarp"),
)
_FILTER_SETTINGS = tuple((key, _bool, True, label) for key, label, _ in FILTER_PROTOCOLS) + (
    ("filter_expr", _text, "", "Filter expression"),)

_ALL = SETTINGS + _FILTER_SETTINGS + (
    ("filter_applied", _text, "", "The filter set applied (empty: none)"),)
_PARSERS = {key: parse for key, parse, _, _ in _ALL}

# named entries, one a line as ``PREFIX.NAME = VALUE``: the filter sets (a name, one
# tcpdump expression) and the MAC address descriptions edited in the program
NAMED = {"filter_set": "filter_sets", "mac_name": "mac_descriptions"}


def _entry_name(prefix, name):
    """The NAME of a ``PREFIX.NAME`` key, checked: a MAC address is kept in the form
    the screens look it up by."""
    if prefix == "mac_name":
        parts = name.lower().replace("-", ":").split(":")
        if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdef"
                                                          for c in p) for p in parts):
            raise ConfigError("%r is not a MAC address (aa:bb:cc:dd:ee:ff)" % name)
        return ":".join(parts)
    if not name or any(c in name for c in "=#") or name != name.strip():
        raise ConfigError("%r: a name without '=', '#' or edge spaces" % name)
    return _text(name)


def default_path(environ=os.environ):
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(
        os.path.expanduser("~"), ".config")
    return os.path.join(base, "iptraf.py.conf")


class Settings:
    """Every setting as an attribute, defaults first; ``problems`` lists what the file
    held that could not be used."""

    def __init__(self):
        for key, _, default, _ in _ALL:
            setattr(self, key, default)
        self.filter_sets = {}           # name -> expression
        self.mac_descriptions = {}      # "aa:bb:cc:dd:ee:ff" -> description
        self.problems = []

    def __repr__(self):
        return "Settings(%s)" % ", ".join("%s=%r" % (k, getattr(self, k)) for k, _, _, _ in _ALL)

    def set(self, key, text):
        """Parse ``text`` for ``key`` and keep it; ConfigError says why not."""
        prefix, dot, name = key.partition(".")
        if dot and prefix in NAMED:
            value = _text(text)
            if not value:
                raise ConfigError("%s: no value" % key)
            getattr(self, NAMED[prefix])[_entry_name(prefix, name)] = value
            return
        if key not in _PARSERS:
            raise ConfigError("no setting called %r" % key)
        setattr(self, key, _PARSERS[key](text))

    def name_entry(self, prefix, name):
        """A named entry's NAME as it is kept (ConfigError when it cannot be one)."""
        return _entry_name(prefix, name)

    def text(self, key):
        value = getattr(self, key)
        return _show_bool(value) if isinstance(value, bool) else str(value)

    def detection(self):
        """The IP traffic monitor's attack-detection thresholds."""
        return Thresholds(scan_ports=self.scan_ports, sweep_hosts=self.sweep_hosts,
                          syn_rate=self.syn_flood_rate, icmp_rate=self.icmp_flood_rate)

    def filter_expression(self):
        """The tcpdump expression the Filters dialog describes, or None for all."""
        off = [expr for key, _, expr in FILTER_PROTOCOLS if not getattr(self, key)]
        parts = ["not (%s)" % expr for expr in off]
        if self.filter_expr:
            parts.append("(%s)" % self.filter_expr)
        applied = self.filter_sets.get(self.filter_applied)
        if applied:
            parts.append("(%s)" % applied)
        return " and ".join(parts) or None

    @classmethod
    def load(cls, path):
        settings = cls()
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return settings
        except OSError as e:
            settings.problems.append("%s: %s" % (path, e.strerror or e))
            return settings
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            try:
                if not sep:
                    raise ConfigError("not key = value")
                settings.set(key.strip(), value.strip())
            except ConfigError as e:
                settings.problems.append("%s:%d: %s" % (path, number, e))
        return settings

    def save(self, path):
        """Write every setting to ``path`` (its folder made when missing); OSError
        when that cannot be done."""
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        lines = ["# iptraf.py settings: key = value; written by the Configure and "
                 "Filters dialogs"]
        for key, _, _, label in _ALL:
            lines.append("# %s" % label)
            lines.append("%s = %s" % (key, self.text(key)))
        for prefix, attribute in sorted(NAMED.items()):
            for name, value in sorted(getattr(self, attribute).items()):
                lines.append("%s.%s = %s" % (prefix, name, value))
        part = path + ".part"
        with open(part, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(part, path)
