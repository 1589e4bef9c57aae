"""Conformance with Wireshark over the shared corpus, through the real command line.

Runs ../shared/tools/conform.py (which runs ``iptraf.py -r FILE --dump`` on every capture
and compares each field with tshark's truth) and requires every file to agree exactly,
except the differences pinned below, each with the reason we hold our value to be right;
``PinnedReadingsTest`` shows each such frame as we read it, as tshark's truth has it and
as tcpdump -v prints it, with the specification that decides.
"""
import os
import re
import shutil
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import corpus  # noqa: E402
from netdecode.decoding.decode import decode  # noqa: E402
from netdecode.decoding.packet import DPORT, ERROR, PROTO, SPORT  # noqa: E402
SHARED = os.path.join(ROOT, "..", "shared")
CONFORM = os.path.join(SHARED, "tools", "conform.py")

# file -> {(frame, field, kind, want, got)}: where tshark and we differ on purpose
PINNED = {
    # The file stores nanosecond fractions of 10**9 and 2**32-1, which are not valid
    # fractions.  tshark 4.0 prints them digit for digit after the seconds
    # ("1418145370.1000000000", and a negative number for the second); we add them
    # to the seconds, which is what the two integers say: 1418145371.0 and
    # 1418145374.294967295.
    "tcpdump__timestamp_invalid_nano.pcap": {
        (2, "ts", "mismatch", "1418145370.1", "1418145371.0"),
        (3, "ts", "mismatch", "-1418145370.214748", "1418145372.147484"),
    },
    # Frame 1's destination options header is 24 bytes long by its length byte, and
    # holds an unknown option (0xca) whose length byte says 144.  RFC 8200 frames an
    # extension header by its own length field (4.3, 4.6: "Hdr Ext Len ... in 8-octet
    # units"), so the UDP header after it is where it is whatever an option inside
    # says; we record the option as the error and read the UDP header on, as tcpdump
    # does (its default output: "DSTOPT 30000 > 13000: UDP").  tshark's option
    # dissector reads past the header, raises, and stops there: no UDP fields.  (Frame
    # 3, a Home Address option whose length byte says 1, not the 16 of RFC 6275 6.3,
    # both read through to UDP.)  PinnedReadingsTest shows both readings.
    "zeek__ipv6-mobility-dst-opts.pcap": {
        (1, "udp_sport", "extra", "None", "30000"),
        (1, "udp_dport", "extra", "None", "13000"),
        (1, "udp_len", "extra", "None", "12"),
    },
}

_FILE_LINE = re.compile(r"^(\S+)\s+(\d+\.\d+)%\s+frames (\d+)/(\d+)")
_NOTE = re.compile(r"^  frame (\d+) (\w+): (\w+) want (.*) got (.*)$")


@unittest.skipUnless(os.path.isfile(CONFORM) and os.path.isdir(os.path.join(SHARED, "corpus")),
                     "no ../shared/corpus beside the project")
class ConformanceTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        proc = subprocess.run([sys.executable, CONFORM, "-v", "--cmd",
                               "%s %s" % (sys.executable, os.path.join(ROOT, "iptraf.py"))],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=900)
        cls.output = proc.stdout.decode("utf-8", "replace")
        cls.files, cls.notes = {}, {}
        current = None
        for line in cls.output.splitlines():
            m = _FILE_LINE.match(line)
            if m:
                current = m.group(1)
                cls.files[current] = (float(m.group(2)), int(m.group(3)), int(m.group(4)))
                cls.notes[current] = set()
                continue
            m = _NOTE.match(line)
            if m and current:
                frame, field, kind, want, got = m.groups()
                cls.notes[current].add((int(frame), field, kind,
                                        want.strip("'"), got.strip("'")))

    def test_summary(self):
        last = self.output.strip().splitlines()[-1]
        self.assertIn(" 0 crashes; 0 frame-count differences; 0 unclean errors", last, last)

    def test_every_file_agrees_but_the_pinned(self):
        self.assertGreater(len(self.files), 100, self.output[-2000:])
        for name, (agree, got, want) in sorted(self.files.items()):
            with self.subTest(file=name):
                self.assertEqual(got, want, "frame count")
                self.assertEqual(self.notes[name], PINNED.get(name, set()),
                                 "%s agrees %.2f%%" % (name, agree))

    def test_unreadable_files_fail_cleanly(self):
        bad = [line for line in self.output.splitlines() if "NOT a clean error" in line]
        self.assertEqual(bad, [])


def _tcpdump(path, *flags):
    """tcpdump's lines for a capture (its second opinion), or a skip (a failure in CI)."""
    if shutil.which("tcpdump") is None:
        if os.environ.get("CI") == "true":
            raise AssertionError("tcpdump is missing, and CI must run this test")
        raise unittest.SkipTest("tcpdump is not installed")
    proc = subprocess.run(["tcpdump", "-n", "-r", path] + list(flags), stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, timeout=60)
    return proc.stdout.decode("utf-8", "replace").splitlines()


@unittest.skipUnless(corpus.available(), "no ../shared/corpus beside the project")
class PinnedReadingsTest(unittest.TestCase):
    """The pinned frames, each reading side by side."""

    def test_nanosecond_fraction_of_a_second_or_more(self):
        # draft-ietf-opsawg-pcap, 5 (Packet Record): the second timestamp word is "the
        # number of microseconds or nanoseconds that have elapsed since that seconds",
        # a 32-bit unsigned integer.  Frame 2 says 1418145370 s and 1000000000 ns: one
        # second on, 1418145371.0.  tshark and tcpdump print the integer after the
        # seconds' decimal point ("1418145370.1000000000", no number at all); tshark
        # makes frame 3's 2147483648 negative, as if the word were signed.
        name = "tcpdump__timestamp_invalid_nano.pcap"
        path = os.path.join(corpus.CORPUS, name)
        frames, exc = corpus.read_frames(path)
        self.assertIsNone(exc)
        self.assertEqual([f[0] for f in frames[1:]], [1418145371000000000, 1418145372147483648])
        truth = [row["frame.time_epoch"] for row in corpus.truth_rows(name)[1:]]
        self.assertEqual(truth, ["1418145370.1000000000", "-1418145370.2147483648"])
        lines = _tcpdump(path, "-v", "--time-stamp-precision=nano", "-tt")
        stamps = [line.split()[0] for line in lines if not line.startswith(" ")]
        self.assertEqual(stamps[1:], ["1418145370.1000000000", "1418145370.2147483648"])

    def test_option_running_past_its_extension_header(self):
        # RFC 8200 4.3 and 4.6: "Hdr Ext Len ... Length of the Destination Options header
        # in 8-octet units, not including the first 8 octets" frames the header; the
        # options inside are TLVs (4.2).  Frame 1's 24-byte header holds option 0xca
        # with a length of 144: malformed, but the UDP header still starts 24 bytes on.
        # We record the option and read the UDP header; tshark's option dissector runs
        # out of the header and stops; tcpdump reads the UDP header by default and, with
        # -v, stops where it cannot print the options.
        name = "zeek__ipv6-mobility-dst-opts.pcap"
        path = os.path.join(corpus.CORPUS, name)
        frames, exc = corpus.read_frames(path)
        self.assertIsNone(exc)
        record = decode(*frames[0])
        self.assertEqual((record[PROTO], record[SPORT], record[DPORT]), (17, 30000, 13000))
        self.assertIn("IPv6 destination options header at offset 54: option 0xca",
                      record[ERROR])
        row = corpus.truth_rows(name)[0]
        self.assertEqual(row["frame.protocols"], "eth:ethertype:ipv6:ipv6.dstopts")
        self.assertEqual((row["udp.srcport"], row["udp.dstport"]), ("", ""))
        self.assertIn("DSTOPT 30000 > 13000: UDP", _tcpdump(path)[0])
        self.assertTrue(_tcpdump(path, "-v")[0].endswith("DSTOPT (padn) [|dstopt]"))


if __name__ == "__main__":
    unittest.main()
