"""What the screens make of numbers and addresses: counts that fit their column,
rates in the unit of the settings, and names (hosts, services, MACs) as the settings ask."""
from ..output.names import Resolver, Services, printable, read_ethers

__all__ = ["Names", "elapsed_text", "fit", "fit_endpoint", "lookup_note", "owner_text",
           "rate_text"]


def fit(n, width):
    """An integer in at most ``width`` characters: 1234567 -> 1234.6k when it must."""
    text = str(n)
    if len(text) <= width:
        return text
    for unit, size in (("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)):
        text = "%.1f%s" % (n / size, unit)
        if len(text) <= width:
            return text
    return "*" * width


def fit_endpoint(text, width):
    """'host:port' in ``width`` characters: the port kept whole, the host shortened
    (its last kept character a '~'), so that a narrow column never loses the port."""
    if len(text) <= width:
        return text
    host, sep, port = text.rpartition(":")
    room = width - len(port) - 1
    if not sep or room < 2:
        return text[:width]
    return host[:room - 1] + "~:" + port


def rate_text(bps, unit):
    """A rate in the activity unit of the settings: kbits/s or kbytes/s."""
    if unit == "kbytes":
        return "%.2f kB/s" % (bps / 8000.0)
    return "%.2f kbps" % (bps / 1000.0)


def elapsed_text(seconds):
    seconds = int(seconds)
    return "%d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def owner_text(owner):
    """A process as a column shows it: 'comm/pid', '(comm/pid)' once it has exited,
    'uid N' when it could not be read; '' for no owner."""
    if owner is None:
        return ""
    if owner["pid"] is None:
        return "uid %d" % owner["uid"]
    text = "%s/%d" % (owner["comm"], owner["pid"])
    return "(%s)" % text if owner.get("gone") else text


def lookup_note(lookup):
    """The status line's word on the process lookups, or None when they see all."""
    if lookup is None or lookup["complete"]:
        return None
    if lookup["error"]:
        return "Procs: " + lookup["error"]
    return "Procs: %d unreadable, root sees all" % lookup["unreadable"]


def _split_endpoint(text):
    """'10.0.0.1:80' or '[fd00::1]:443' -> (address, port); a bare address or a MAC
    -> (text, None)."""
    if text.startswith("["):
        address, _, port = text[1:].partition("]:")
        return address, int(port)
    address, sep, port = text.rpartition(":")
    if sep and "." in address and ":" not in address:
        return address, int(port)
    return text, None


def _is_mac(text):
    parts = text.split(":")
    return len(parts) == 6 and all(len(part) == 2 for part in parts)


class Names:
    """Host, service and MAC names for display, as the settings ask; never waits."""

    def __init__(self, settings, numeric):
        self.resolver = Resolver() if settings.reverse_dns and not numeric else None
        self.services = Services() if settings.service_names and not numeric else None
        self.ethers = read_ethers(settings.mac_names) if settings.mac_names else {}
        # the descriptions edited in Configure win over the file's
        self.ethers.update((mac, printable(name))
                           for mac, name in settings.mac_descriptions.items())

    def __repr__(self):
        return "Names(dns=%s)" % (self.resolver is not None)

    def host(self, address):
        if self.resolver is None:
            return address
        return self.resolver.name(address) or address

    def service(self, port, proto):
        if self.services is None or port is None:
            return None
        return self.services.name(port, proto)

    def endpoint(self, text, proto):
        """'addr:port' as 'host:service' when names are on; numbers until they come."""
        address, port = _split_endpoint(text)
        if port is None:
            return self.mac(text) if _is_mac(text) else self.host(text)
        host = self.host(address)
        if host == address and ":" in address:
            host = "[%s]" % address
        service = self.service(port, proto) if proto else None
        return "%s:%s" % (host, service or port)

    def mac(self, mac):
        if mac is None:
            return ""
        name = self.ethers.get(mac)
        return mac if name is None else name

    def close(self):
        if self.resolver is not None:
            self.resolver.close()
