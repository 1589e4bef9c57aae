"""One file, every Python: the --bundle zipapp, and the standard-library-only rule."""
import ast
import glob
import importlib.util
import os
import subprocess
import sys
import sysconfig
import tempfile
import unittest
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IPTRAF = os.path.join(ROOT, "iptraf.py")
SAMPLE = os.path.join(ROOT, "tests", "data", "sample.pcap")


def _interpreters():
    """The oldest and newest CPython 3 under ~/.pyenv/versions, and this one."""
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")),
                   key=lambda p: tuple(int(x) for x in p.split("/")[-3].split(".")[:2]))
    return sorted({sys.executable} | set(found[:1] + found[-1:]))


class BundleTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.pyz = os.path.join(self.tmp.name, "iptraf.pyz")
        subprocess.run([sys.executable, IPTRAF, "--bundle", self.pyz], check=True, timeout=60)

    def test_holds_the_program_only_uncompressed(self):
        with zipfile.ZipFile(self.pyz) as z:
            names = sorted(z.namelist())
            self.assertTrue(all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist()))
        expected = ["__main__.py", "iptraf.py"] + sorted(
            os.path.relpath(p, ROOT).replace(os.sep, "/") for p in _sources())
        self.assertEqual(names, expected)
        with open(self.pyz, "rb") as f:
            self.assertEqual(f.readline(), b"#!/usr/bin/env python3\n")

    def test_behaves_like_the_tree_on_oldest_and_newest(self):
        runs = (["-r", SAMPLE, "--dump"], ["-r", SAMPLE, "-i", "all", "--json"])
        for argv in runs:
            tree = subprocess.run([sys.executable, IPTRAF] + argv, stdout=subprocess.PIPE,
                                  check=True, timeout=60).stdout
            self.assertTrue(tree)
            for python in _interpreters():
                with self.subTest(python=python, argv=argv):
                    out = subprocess.run([python, self.pyz] + argv, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, timeout=60)
                    self.assertEqual(out.returncode, 0, out.stderr)
                    self.assertEqual(out.stdout, tree)

    def test_exit_status_passes_through(self):
        out = subprocess.run([sys.executable, self.pyz, "-r", os.path.join(self.tmp.name, "no")
                              , "--dump"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=60)
        self.assertEqual(out.returncode, 1)
        self.assertEqual(out.stderr.decode().count("\n"), 1)
        self.assertEqual(subprocess.run([sys.executable, self.pyz, "--nonsense"],
                                        stderr=subprocess.PIPE, timeout=60).returncode, 2)


def _sources():
    """Every module of the netdecode package, its subpackages' included."""
    return glob.glob(os.path.join(ROOT, "netdecode", "**", "*.py"), recursive=True)


class ImportAuditTest(unittest.TestCase):
    """iptraf.py and netdecode/ import nothing outside the standard library."""

    def test_standard_library_only(self):
        stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
        sources = [IPTRAF] + _sources()
        bad = []
        for path in sources:
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in ("netdecode", "iptraf") or top in sys.builtin_module_names:
                        continue
                    spec = importlib.util.find_spec(top)
                    origin = spec.origin if spec is not None else None
                    if origin in (None, "built-in", "frozen"):
                        if spec is None:
                            bad.append("%s: %s not found" % (path, name))
                        continue
                    if not os.path.realpath(origin).startswith(stdlib) or "site-packages" in origin:
                        bad.append("%s imports %s from %s" % (path, name, origin))
        self.assertEqual(bad, [])


if __name__ == "__main__":
    unittest.main()
