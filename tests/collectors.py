"""Real flow collectors for tests: nfdump's nfcapd, and what nfdump reads back.

``Nfcapd(tmp)`` starts ``nfcapd`` on a free UDP port of 127.0.0.1 (inside a network
namespace when given one), and ``flows()`` stops it and returns every flow record it
stored, read back by ``nfdump``: a list of dicts with ``proto``, ``src``, ``sport``,
``dst``, ``dport`` (ICMP: ``icmp`` = type << 8 | code, ports 0), ``packets``, ``bytes``,
``flags`` (nfdump's text), ``start`` and ``end`` (UTC text, to the second),
``duration`` (seconds, to the millisecond) and ``in`` (ingress interface).
Tests that need nfdump skip without it, and fail instead in CI.
"""
import os
import shutil
import socket
import subprocess
import time
import unittest

__all__ = ["Nfcapd", "require_nfdump", "free_udp_port"]

# nfdump's CSV: full IPv6 addresses and plain numbers (its fmt: output shortens both)
_COLUMNS = ("ts", "te", "td", "sa", "da", "sp", "dp", "pr", "flg", "ipkt", "ibyt", "in")

def require_nfdump(testcase):
    if shutil.which("nfcapd") is None or shutil.which("nfdump") is None:
        if os.environ.get("CI") == "true":
            testcase.fail("nfdump (nfcapd) is missing, and CI must run the export tests")
        raise unittest.SkipTest("needs nfdump's nfcapd")


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nfcapd:
    def __init__(self, tmp, netns=None):
        self.dir = os.path.join(tmp, "nfcapd")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_udp_port() if netns is None else 9995
        prefix = [] if netns is None else ["ip", "netns", "exec", netns]
        self.proc = subprocess.Popen(
            prefix + ["nfcapd", "-b", "127.0.0.1", "-p", str(self.port), "-w", self.dir,
                      "-t", "3600", "-B", str(8 << 20)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._ready()

    def _ready(self, limit=10.0):
        """nfcapd says 'Startup' once it listens."""
        end = time.monotonic() + limit
        line = b""
        while time.monotonic() < end and b"Startup" not in line:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                raise AssertionError("nfcapd did not start")
        time.sleep(0.2)

    def url(self, scheme):
        return "%s://127.0.0.1:%d" % (scheme, self.port)

    def stop(self):
        """Stop nfcapd (it writes its file as it goes); again, a no-op."""
        if self.proc.stdout.closed:
            return
        if self.proc.poll() is None:
            time.sleep(0.5)                 # the last datagrams, still in flight
            self.proc.terminate()
        self.proc.communicate(timeout=30)
        self.proc.stdout.close()

    def flows(self):
        """Every record stored, read back with nfdump's CSV (its fmt: output shortens
        IPv6 addresses)."""
        self.stop()
        out = subprocess.run(["nfdump", "-R", self.dir, "-o", "csv"], env=dict(
            os.environ, TZ="UTC"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=60, check=True).stdout.decode()
        lines = out.splitlines()
        if not lines or not lines[0].startswith("ts,"):
            return []
        head = lines[0].split(",")
        rows = []
        for line in lines[1:]:
            if line.startswith("Summary") or line.count(",") < len(head) - 1:
                break                       # the summary, or "No matching flows"
            rows.append(_record(dict(zip(head, line.split(",")))))
        return rows


def _record(row):
    proto = row["pr"].strip()
    dport = int(row["dp"])
    icmp = 0
    if proto in ("ICMP", "ICMP6"):          # type << 8 | code, in the destination port
        icmp, dport = dport, 0
    return {"proto": proto, "src": row["sa"], "sport": int(row["sp"]), "dst": row["da"],
            "dport": dport, "icmp": icmp, "packets": int(row["ipkt"]),
            "bytes": int(row["ibyt"]), "flags": row["flg"], "start": row["ts"],
            "end": row["te"], "duration": float(row["td"]), "in": int(row["in"])}
