"""The layout holds: the command line in iptraf.py, the engine in netdecode's rooms, and
the curses front end in netdecode/ui, the only importer of curses, which nothing in the
engine imports."""
import ast
import glob
import os
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "netdecode")
UI = os.path.join(PACKAGE, "ui")
ROOMS = ("accounting", "capture", "decoding", "filter", "output", "run", "ui")


def _modules():
    return sorted(glob.glob(os.path.join(PACKAGE, "**", "*.py"), recursive=True))


def _imports(path):
    """The absolute names a module imports, relative imports resolved."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    here = os.path.relpath(os.path.dirname(path), ROOT).split(os.sep)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                names.extend([module] + ["%s.%s" % (module, a.name) for a in node.names])
            else:
                names.append(node.module)
    return tree, names


class LayoutTest(unittest.TestCase):

    def test_the_top_holds_only_what_the_project_is(self):
        tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, stdout=subprocess.PIPE,
                                 universal_newlines=True)
        if tracked.returncode != 0:
            self.skipTest("not a git checkout")
        top = {name.split("/")[0] for name in tracked.stdout.split()}
        self.assertEqual(top, {"iptraf.py", "netdecode", "tests", "README.md", "LICENSE",
                               ".ci", ".gitignore"})

    def test_the_rooms_are_packages_that_say_what_they_are_for(self):
        for room in ROOMS:
            init = os.path.join(PACKAGE, room, "__init__.py")
            with open(init, encoding="utf-8") as f:
                doc = ast.get_docstring(ast.parse(f.read()))
            self.assertTrue(doc, room)
        loose = [os.path.basename(p) for p in glob.glob(os.path.join(PACKAGE, "*.py"))]
        self.assertEqual(loose, ["__init__.py"])

    def test_only_the_front_end_imports_curses(self):
        offenders = []
        for path in [os.path.join(ROOT, "iptraf.py")] + _modules():
            _, names = _imports(path)
            inside_ui = path.startswith(UI + os.sep)
            for name in names:
                if name.split(".")[0] == "curses" and not inside_ui:
                    offenders.append("%s imports %s" % (path, name))
                if name.startswith("netdecode.ui") and not inside_ui and \
                        not path.endswith("iptraf.py"):
                    offenders.append("%s imports %s" % (path, name))
        self.assertEqual(offenders, [])

    def test_the_engine_runs_without_curses(self):
        code = ("import sys\n"
                "import netdecode.run.headless, netdecode.run.daemon\n"
                "import netdecode.capture.recorder, netdecode.output.dump\n"
                "assert 'curses' not in sys.modules and '_curses' not in sys.modules\n")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60,
                             stderr=subprocess.PIPE, universal_newlines=True)
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_every_module_has_a_docstring_and_names_its_public_face(self):
        for path in _modules():
            tree, _ = _imports(path)
            self.assertTrue(ast.get_docstring(tree), path)
            exported = [node for node in tree.body if isinstance(node, ast.Assign)
                        and any(getattr(t, "id", None) == "__all__" for t in node.targets)]
            self.assertEqual(len(exported), 1, path)

    def test_no_room_holds_too_much(self):
        sizes = {}
        for path in [os.path.join(ROOT, "iptraf.py")] + _modules():
            with open(path, encoding="utf-8") as f:
                sizes[os.path.relpath(path, ROOT)] = sum(1 for _ in f)
        self.assertLessEqual(sizes.pop("iptraf.py"), 600)
        self.assertEqual({p: n for p, n in sizes.items() if n > 1500}, {})


if __name__ == "__main__":
    unittest.main()
