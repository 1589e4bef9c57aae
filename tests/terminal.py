"""A real terminal for the screen tests: tmux, driven by send-keys, read by capture-pane.

``Terminal(argv, cols, rows)`` starts a private tmux server (its own socket in a temp
folder, so tests never touch a user's sessions) running ``argv`` in a shell that, when
the program ends, keeps its exit status and what ``stty -a`` says, so a test can check
that the program left a sane terminal.  Tests that use it skip where tmux is
missing, and fail instead in CI.
"""
import os
import shlex
import shutil
import subprocess
import tempfile
import time
import unittest

TMUX = shutil.which("tmux")


def require_tmux(testcase):
    if TMUX is None:
        if os.environ.get("CI") == "true":
            testcase.fail("tmux is missing, and CI must run the screen tests")
        raise unittest.SkipTest("the screen tests need tmux")


class Terminal:
    def __init__(self, argv, cols=80, rows=24, env=None):
        self.folder = tempfile.mkdtemp(prefix="iptraf-tmux-")
        self.socket = os.path.join(self.folder, "tmux.sock")
        command = " ".join(shlex.quote(a) for a in argv)
        self.status_file = os.path.join(self.folder, "status")
        self.modes_file = os.path.join(self.folder, "stty")
        # the shell ignores the Ctrl-C meant for the program (a trap, not SIG_IGN,
        # which the program would inherit), then notes how it ended
        script = ("trap true INT; %s; echo $? > %s; stty -a > %s; sleep 600"
                  % (command, shlex.quote(self.status_file), shlex.quote(self.modes_file)))
        environment = dict(os.environ, **(env or {}))
        environment.pop("TMUX", None)
        self.tmux("new-session", "-d", "-s", "t", "-x", str(cols), "-y", str(rows),
                  "sh", "-c", script, env=environment)
        # the pane must keep the size asked for even with no client attached
        self.tmux("set-option", "-t", "t", "window-size", "manual", check=False)
        self.resize(cols, rows)

    def tmux(self, *args, **kwargs):
        check = kwargs.pop("check", True)
        return subprocess.run([TMUX, "-S", self.socket] + list(args), check=check,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, **kwargs)

    def keys(self, *keys):
        """Keys as tmux names them ('Down', 'Enter', 'Escape', 'C-c') or literal text."""
        for key in keys:
            self.tmux("send-keys", "-t", "t", key)
            time.sleep(0.05)

    def text(self):
        return self.tmux("capture-pane", "-p", "-t", "t").stdout

    def wait_for(self, wanted, timeout=15.0):
        """Wait until ``wanted`` (text, or a function of the screen) shows; returns the
        screen, or fails with the screen last seen."""
        end = time.monotonic() + timeout
        while True:
            screen = self.text()
            found = wanted(screen) if callable(wanted) else wanted in screen
            if found:
                return screen
            if time.monotonic() > end:
                raise AssertionError("%r not on the screen after %.0f s:\n%s"
                                     % (wanted, timeout, screen))
            time.sleep(0.1)

    def resize(self, cols, rows):
        self.tmux("resize-window", "-t", "t", "-x", str(cols), "-y", str(rows))

    def size(self):
        out = self.tmux("display-message", "-p", "-t", "t", "#{pane_width}x#{pane_height}")
        return out.stdout.strip()

    def exited(self, timeout=15.0):
        """Wait for the program to end; returns its status, the screen it left, and
        the terminal's modes after it (``stty -a``, split into words)."""
        end = time.monotonic() + timeout
        while not (os.path.exists(self.modes_file) and os.path.getsize(self.modes_file)):
            if time.monotonic() > end:
                raise AssertionError("the program did not end in %.0f s:\n%s"
                                     % (timeout, self.text()))
            time.sleep(0.1)
        time.sleep(0.2)                 # stty's whole output, and the screen after it
        with open(self.status_file) as f:
            status = int(f.read())
        with open(self.modes_file) as f:
            modes = f.read().split()
        return status, self.text(), modes

    def close(self):
        self.tmux("kill-server", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
