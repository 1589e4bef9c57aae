"""The curses program: the menus, the screen primitives, and the one loop that runs a
facility's view.  Everything here reads snapshots and draws them; nothing decodes.  The
loop waits on the capture and the keyboard at once, feeds what arrived, and redraws at
the configured interval, so the screen never waits on the capture nor the capture on
the screen."""
import os
import select
import signal
import sys
import tempfile
import time
import traceback

from ..output.names import printable
from ..run.runner import SetupError, UsageError
from ..run.settings import Settings, default_path
from . import dialogs
from .detailed import DetailedView
from .general import GeneralView
from .keys import CLOSE
from .lan import LanView
from .processes import ProcessesView
from .services import ServicesView
from .session import Session
from .sizes import SizesView
from .text import Names
from .traffic import TrafficView

__all__ = ["App", "interactive", "styles"]


_MIN_COLS, _MIN_ROWS = 40, 10


class _Quit(Exception):
    """SIGTERM or SIGHUP under the screens: unwinds, so that curses restores the
    terminal on the way out."""


def interactive(args, facility, iface):
    """The curses program: the menus, or the facility named on the command line (with
    ``args`` as the command line parsed them).  Trouble ends it with a SetupError."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the screens need a terminal; scripts use --json, --dump or -L "
                         "(see iptraf.py --help)")
    path = args.config or default_path()
    settings = Settings.load(path)
    os.environ.setdefault("ESCDELAY", "25")     # Esc answers at once, not after 1 s

    def quit_(signum, frame):
        raise _Quit()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, quit_)
    import curses
    failure = []
    try:
        curses.wrapper(lambda scr: App(scr, args, settings, path).run(
            facility, iface, failure))
    except (KeyboardInterrupt, _Quit):
        pass
    except curses.error as e:
        raise SetupError("cannot drive this terminal (TERM=%s): %s"
                         % (os.environ.get("TERM", ""), e))
    except Exception as e:
        # broad on purpose: curses.wrapper has restored the terminal by now; the user
        # gets one line, and the traceback goes to a file for the bug report
        fd, name = tempfile.mkstemp(prefix="iptraf-error-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            traceback.print_exc(file=f)
        raise SetupError("internal error: %s (details in %s)" % (e, name))
    if failure:
        raise SetupError(failure[0])
    return 0


def styles(curses, color):
    """Style name -> curses attribute; colour when asked for and there, else reverse
    and bold, which every terminal has."""
    styles = {"text": curses.A_NORMAL, "title": curses.A_REVERSE, "heading": curses.A_BOLD,
              "status": curses.A_REVERSE, "select": curses.A_REVERSE,
              "alert": curses.A_BOLD, "box": curses.A_NORMAL, "key": curses.A_BOLD}
    if not (color and curses.has_colors()):
        return styles
    try:
        curses.use_default_colors()
        background = -1
    except curses.error:
        background = curses.COLOR_BLACK
    pairs = (("title", curses.COLOR_WHITE, curses.COLOR_BLUE, curses.A_BOLD),
             ("heading", curses.COLOR_YELLOW, background, curses.A_BOLD),
             ("status", curses.COLOR_BLACK, curses.COLOR_CYAN, 0),
             ("select", curses.COLOR_BLACK, curses.COLOR_WHITE, 0),
             ("alert", curses.COLOR_RED, background, curses.A_BOLD),
             ("box", curses.COLOR_CYAN, background, 0),
             ("key", curses.COLOR_GREEN, background, curses.A_BOLD))
    for number, (name, fg, bg, extra) in enumerate(pairs, 1):
        try:
            curses.init_pair(number, fg, bg)
        except curses.error:
            return styles
        styles[name] = curses.color_pair(number) | extra
    return styles


_MAIN_MENU = (
    ("I", "IP traffic monitor", "traffic"),
    ("G", "General interface statistics", "general"),
    ("D", "Detailed interface statistics", "detailed"),
    ("S", "Statistical breakdowns...", "breakdowns"),
    ("L", "LAN station monitor", "lan"),
    ("P", "Process monitor", "processes"),
    None,
    ("F", "Filters...", "filters"),
    None,
    ("C", "Configure...", "configure"),
    ("A", "About...", "about"),
    None,
    ("X", "Exit", None),
)
_BREAKDOWN_MENU = (
    ("S", "By packet size", "sizes"),
    ("P", "By TCP/UDP port", "services"),
    None,
    ("X", "Exit menu", None),
)


class App:
    """The curses program: menus, dialogs, and the loop that runs a facility's view."""

    def __init__(self, scr, args, settings, config_path):
        import curses
        self.curses = curses
        self.scr = scr
        self.args = args
        self.settings = settings
        self.config_path = config_path
        try:
            curses.curs_set(0)
        except curses.error:
            pass                # a terminal that cannot hide its cursor still works
        scr.keypad(True)
        self.styles = styles(curses, settings.color)
        self.names = Names(settings, args.numeric)

    def __repr__(self):
        return "App(%r)" % (self.config_path,)

    def restyle(self):
        """Names and colours anew, as changed settings ask."""
        self.names.close()
        self.names = Names(self.settings, self.args.numeric)
        self.styles = styles(self.curses, self.settings.color)

    # --- running -------------------------------------------------------------------

    def run(self, facility, iface, failure):
        """The facility of the command line, or the menus; a facility that cannot start
        from the command line ends the program with its one line (in ``failure``)."""
        try:
            if self.settings.problems:
                dialogs.message(self, "Settings file: " + "; ".join(self.settings.problems[:3]))
            if facility is not None:
                error = self.facility(facility, iface)
                if error:
                    failure.append(error)
                return
            self.menu()
        finally:
            self.names.close()

    def menu(self):
        while True:
            saved = self.settings.filter_expression()
            footer = dialogs.MENU_FOOTER
            if saved:           # it filters every screen: say so before one opens
                footer = "A saved filter is on: %s (F: Filters)" % saved
            action = dialogs.choose(self, "iptraf.py", _MAIN_MENU, footer)
            if action is None:
                return
            if action == "breakdowns":
                action = dialogs.choose(self, "Statistical breakdowns", _BREAKDOWN_MENU)
                if action is None:
                    continue
            if action == "filters":
                dialogs.filters(self)
            elif action == "configure":
                dialogs.configure(self)
            elif action == "about":
                dialogs.about(self)
            else:
                iface = "all"
                if not self.args.read and action != "general":
                    iface = dialogs.choose_interface(self, action)
                    if iface is None:
                        continue
                error = self.facility(action, iface)
                if error:
                    dialogs.message(self, error)

    def facility(self, facility, iface):
        """Run one facility's screen until the user leaves it; returns the error that
        kept it from starting, or None."""
        try:
            session = Session(self, facility, iface)
        except SetupError as e:
            return str(e)
        try:
            self.loop(session, _VIEWS[facility](self, session))
        finally:
            session.close()
        return None

    def loop(self, session, view):
        curses, scr = self.curses, self.scr
        interval = session.run.args.interval     # --interval, else the setting
        timeout = self.args.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        keyboard = sys.stdin.fileno()
        next_draw = 0.0
        scr.nodelay(True)
        try:
            while True:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return
                if now >= next_draw:
                    session.idle()
                    self.draw(view)
                    next_draw = now + interval
                if not session.busy():
                    # ncurses learns of a resize from SIGWINCH, which does not wake
                    # select: look at the keyboard at least ten times a second
                    wait = min(next_draw - now, 0.1)
                    if deadline is not None:
                        wait = min(wait, deadline - now)
                    fd = session.fileno()
                    select.select([keyboard] if fd is None else [keyboard, fd], [], [],
                                  max(0.0, wait))
                session.pump()
                while True:
                    key = scr.getch()
                    if key == -1:
                        break
                    next_draw = 0.0         # answer a key at once
                    if key == curses.KEY_RESIZE:
                        self.resized()
                    elif view.key(key) is CLOSE:
                        return
        finally:
            scr.nodelay(False)

    def resized(self):
        try:
            self.curses.update_lines_cols()
        except AttributeError:
            pass                # curses before 3.5 tracks the size in getmaxyx alone

    def draw(self, view):
        scr = self.scr
        scr.erase()
        rows, cols = scr.getmaxyx()
        if rows < _MIN_ROWS or cols < _MIN_COLS:
            self.too_small(rows, cols)
        else:
            view.draw(rows, cols)
        scr.noutrefresh()
        self.curses.doupdate()

    def too_small(self, rows, cols):
        self.put(0, 0, "Terminal too small (%dx%d)." % (cols, rows), "alert")
        self.put(1, 0, "iptraf.py needs %dx%d;" % (_MIN_COLS, _MIN_ROWS))
        self.put(2, 0, "enlarge it, or press X.")

    # --- drawing -------------------------------------------------------------------

    def put(self, y, x, text, style="text", width=None):
        """Text at (y, x), made printable and clipped to the screen (and to ``width``)."""
        rows, cols = self.scr.getmaxyx()
        room = cols - x
        if y == rows - 1:
            room -= 1           # the bottom-right cell would scroll the screen
        if width is not None:
            room = min(room, width)
        if y < 0 or y >= rows or x < 0 or room <= 0:
            return
        try:
            self.scr.addnstr(y, x, printable(text), room, self.styles[style])
        except self.curses.error:
            pass                # a write that ends in the last cell: drawn all the same

    def bar(self, y, text, style):
        cols = self.scr.getmaxyx()[1]
        self.put(y, 0, text.ljust(cols), style)

    def title(self, text, right="", short=None):
        cols = self.scr.getmaxyx()[1]
        left = " iptraf.py | " + text
        if len(left) + len(right) + 2 > cols:
            # narrow: the program's name goes first, then the screen's long name, then
            # the label's beginning (its end says whether a file is still being read)
            left = " " + (short or text)
            room = cols - len(left) - 2
            if len(right) > room and right.endswith(")") and " (" in right:
                right = right[right.rindex(" (") + 1:]
            right = right[-room:] if room >= 8 else ""
        gap = max(1, cols - len(left) - len(right) - 1)     # never run into the label
        self.bar(0, left + " " * gap + right + " ", "title")

    def status(self, y, text):
        self.bar(y, " " + text, "status")

    def help(self, y, text):
        self.bar(y, " " + text, "text")

    def box(self, top, left, height, width, heading):
        """A framed rectangle, cleared inside, with a heading in its top edge."""
        curses = self.curses
        try:
            win = self.scr.derwin(height, width, top, left)
        except curses.error:
            return False
        win.erase()
        win.attrset(self.styles["box"])
        win.box()
        win.attrset(0)
        self.put(top, left + 2, " %s " % heading, "heading", width - 4)
        return True

    # --- keys and boxes ------------------------------------------------------------

    def getkey(self):
        """The next key (waiting); KEY_RESIZE is answered here and returned too."""
        key = self.scr.getch()
        if key == self.curses.KEY_RESIZE:
            self.resized()
        return key

    def framed(self, heading, lines, width, selected=None, footer=""):
        """A centred box of ``lines`` (text or None for a rule); ``selected`` shown
        highlighted.  False when the terminal is too small."""
        scr = self.scr
        scr.erase()
        rows, cols = scr.getmaxyx()
        if rows < _MIN_ROWS or cols < _MIN_COLS:
            self.too_small(rows, cols)
            scr.noutrefresh()
            self.curses.doupdate()
            return False
        self.title(heading)
        width = min(width, cols - 2)
        height = min(len(lines) + 2, rows - 3)
        top, left = max(1, (rows - 1 - height) // 2), (cols - width) // 2
        self.box(top, left, height, width, heading)
        shown = height - 2
        first = 0
        if selected is not None and selected >= shown:
            first = selected - shown + 1
        for row, line in enumerate(lines[first:first + shown]):
            y = top + 1 + row
            if line is None:
                try:
                    self.scr.hline(y, left + 1, self.curses.ACS_HLINE, width - 2)
                except self.curses.error:
                    pass
                continue
            style = "select" if first + row == selected else "text"
            self.put(y, left + 1, (" " + line).ljust(width - 2), style, width - 2)
        if footer:
            self.help(rows - 1, footer)
        scr.noutrefresh()
        self.curses.doupdate()
        return True


_VIEWS = {"traffic": TrafficView, "general": GeneralView, "detailed": DetailedView,
          "services": ServicesView, "sizes": SizesView, "lan": LanView,
          "processes": ProcessesView}
