"""The benchmarks in tests/bench/ run (at small sizes): numbers are theirs, not ours."""
import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import netns  # noqa: E402

BENCH = os.path.join(HERE, "bench")
_RATE = re.compile(r"^(.+?)\s+(\d+) frames/s\s+([\d.]+)x", re.M)


def _bench(name, *args):
    proc = subprocess.run([sys.executable, os.path.join(BENCH, name)] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


class BenchSmokeTest(unittest.TestCase):

    def test_decode(self):
        rc, out, err = _bench("decode.py", "--frames", "20000", "--repeat", "1")
        self.assertEqual(rc, 0, err)
        rows = {m.group(1).strip(): int(m.group(2)) for m in _RATE.finditer(out)}
        for name in ("read", "read+decode", "read+reference", "minimal parser+flows"):
            self.assertGreater(rows.get(name, 0), 0, out)

    def test_facilities(self):
        rc, out, err = _bench("facilities.py", "--frames", "20000", "--repeat", "1",
                              "--records")
        self.assertEqual(rc, 0, err)
        rows = {m.group(1).strip(): int(m.group(2)) for m in _RATE.finditer(out)}
        self.assertEqual(len(rows), 18, out)
        for name in ("minimal parser", "-i traffic monitor", "-i traffic monitor (record path)",
                     "-z sizes", "all six together", "-i with --export and --metrics",
                     "-i without its attack detector"):
            self.assertGreater(rows.get(name, 0), 0, out)

    def test_memory(self):
        rc, out, err = _bench("memory.py", "--syns", "20000")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"20000 SYNs: peak RSS [0-9.]+ MB, 20000 connections kept, "
                              r"0 evicted")

    def test_filter(self):
        rc, out, err = _bench("filter.py", "--frames", "20000", "--repeat", "1",
                              "--reference-frames", "2000")
        self.assertEqual(rc, 0, err)
        rows = {m.group(1).strip(): int(m.group(2)) for m in _RATE.finditer(out)}
        for name in ("read+decode", "read+match", "read+match+decode (all)"):
            self.assertGreater(rows.get(name, 0), 0, out)

    def test_screen(self):
        rc, out, err = _bench("screen.py", "--sizes", "300")
        self.assertEqual(rc, 0, err)
        rows = [line.split() for line in out.splitlines()[1:]]
        self.assertEqual(len(rows), 3, out)
        for row in rows:
            self.assertGreater(int(row[-4]), 250, out)      # entries: the cap, less evictions
            self.assertGreater(float(row[-3]), 0, out)      # the redraw's milliseconds

    def test_live(self):
        netns.require_live(self)
        rc, out, err = _bench("live.py", "--rates", "20000", "--seconds", "1",
                              "--capturers", "ring,ring-only,minimal,socket,-i,-d")
        self.assertEqual(rc, 0, err)
        rows = [line.split() for line in out.splitlines() if line.startswith("20000")]
        self.assertEqual({"ring", "ring-only", "minimal", "socket", "-i", "-d"},
                         {row[1] for row in rows}, out)
        for row in rows:
            sent, captured, dropped = int(row[2]), int(row[4]), int(row[5])
            self.assertEqual(captured + dropped, sent, row)


if __name__ == "__main__":
    unittest.main()
