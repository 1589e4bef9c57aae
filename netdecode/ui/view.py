"""What every facility's screen shares: title, scrolled table, sort prompt, status."""
from .keys import CLOSE, QUIT_KEYS
from .text import elapsed_text

__all__ = ["RateMeter", "View"]


class RateMeter:
    """Rates (bits/s) of one selected row's byte counts, from the snapshots the screen
    draws, over the rate window (or since the last draw when it is 0): iptraf-ng's flow
    rate of the selected connection or port."""

    def __init__(self):
        self.key = None
        self.samples = []           # (ts, counts), oldest first

    def __repr__(self):
        return "RateMeter(%r)" % (self.key,)

    def rates(self, key, ts, counts, window):
        samples = self.samples
        if key != self.key:
            self.key, samples[:] = key, []
        if ts is None:
            return [0.0] * len(counts)
        if not samples or ts > samples[-1][0]:
            samples.append((ts, counts))
        while len(samples) > 2 and ts - samples[1][0] >= window:
            del samples[0]
        (then, before), (now, latest) = samples[0], samples[-1]
        if now <= then:
            return [0.0] * len(counts)
        return [(c - b) * 8 / (now - then) for c, b in zip(latest, before)]


class View:
    """What every facility's screen shares: the title, a scrolled table, the sort
    prompt (``S`` then a letter), the status and help lines.  A view draws from the
    session's snapshot and nothing else."""

    name = ""
    short = None            # the name in a narrow terminal's title
    keys_help = "Up/Down/PgUp/PgDn/Home/End scroll  X exit"
    sorts = ()              # (letter, label, the order's name in the facility's snapshot)
    sort_aliases = {}       # a letter of ours kept beside iptraf-ng's -> iptraf-ng's
    frozen = 0              # table columns (characters) kept when scrolled sideways
    steps = ()              # the widths of the columns after them, one a Left/Right

    def __init__(self, app, session):
        self.app, self.session = app, session
        self.top = 0                # the first table line shown
        self.page = 1               # table lines the last draw had room for
        self.total = 0              # table lines there were
        self.sort = None            # (label, key)
        self.prompting = False
        self.shift = 0              # columns scrolled sideways (Left/Right)
        self.left = 0               # the characters they make
        self.hidden = 0             # characters of the widest table line out of sight

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.session)

    def key(self, key):
        if self.prompting:
            self.prompting = False
            letter = chr(key).upper() if 0 < key < 256 else ""
            letter = self.sort_aliases.get(letter, letter)
            for pick, label, order in self.sorts:
                if letter == pick:
                    self.sort = (label, order)
            return None
        if key in QUIT_KEYS:
            return CLOSE
        if key in (ord("s"), ord("S")) and self.sorts:
            self.prompting = True
            return None
        curses = self.app.curses
        if key == curses.KEY_RIGHT:
            if self.hidden:
                self.shift += 1
            return None
        if key == curses.KEY_LEFT:
            self.shift = max(0, self.shift - 1)
            return None
        if not self.scroll(key):
            self.command(chr(key).upper() if 0 < key < 256 else "", key)
        return None

    def command(self, letter, key):
        """A key of the view's own (the letter upper-cased, or '' for a special key)."""

    def scroll(self, key):
        moved = self.moved(key, self.top, self.page, self.total - self.page)
        if moved is None:
            return False
        self.top = moved
        return True

    def moved(self, key, at, page, last):
        """Where ``at`` goes for a movement key (None for another key), kept in 0..last."""
        curses = self.app.curses
        steps = {curses.KEY_UP: -1, curses.KEY_DOWN: 1, curses.KEY_PPAGE: -page,
                 curses.KEY_NPAGE: page}
        if key in steps:
            at += steps[key]
        elif key == curses.KEY_HOME:
            at = 0
        elif key == curses.KEY_END:
            at = last
        else:
            return None
        return max(0, min(at, last))

    def order(self):
        return None if self.sort is None else self.sort[1]

    def paged(self, fetch, count):
        """The snapshot of one page of ``count`` rows from ``self.top``, by
        ``fetch(page)``; the facility builds no more rows than a screen shows."""
        self.page = max(1, count)
        snap = fetch((self.order(), self.top, self.page))
        self.total = snap["total"]
        top = max(0, min(self.top, self.total - self.page))
        if top != self.top:
            self.top = top
            snap = fetch((self.order(), top, self.page))
        return snap

    def table(self, y, height, heading, lines, paged=False):
        """A heading and a block of lines from row ``y``: scrolled here, or already
        the page that ``paged`` fetched."""
        if not paged:
            self.page, self.total = max(1, height - 1), len(lines)
            self.top = max(0, min(self.top, self.total - self.page))
            lines = lines[self.top:self.top + self.page]
        lines = lines[:height - 1]
        # wider than the terminal: Left/Right scroll what follows the frozen columns
        cols = self.app.scr.getmaxyx()[1]
        wide = max([len(heading)] + [len(line) for line in lines])
        steps = self.steps or (8,) * (wide // 8 + 1)
        self.shift = min(self.shift, len(steps))
        self.left = sum(steps[:self.shift])
        while self.shift and wide - self.left < cols - steps[self.shift - 1]:
            self.shift -= 1                 # no more than what brings the end in sight
            self.left -= steps[self.shift]
        self.hidden = max(0, wide - self.left - cols)
        self.app.put(y, 0, self.shifted(heading), "heading")
        for i, line in enumerate(lines):
            self.app.put(y + 1 + i, 0, self.shifted(line))

    def shifted(self, line):
        """A table line as scrolled sideways: its frozen columns, then the rest from
        where Left/Right left it."""
        frozen = self.frozen
        return line[:frozen] + line[frozen + self.left:]

    def frame(self, rows, status):
        """Title, status line and help line (or the sort prompt) around the content."""
        app, session = self.app, self.session
        state = session.state()
        if self.sort is not None:
            state = "sorted by %s | %s" % (self.sort[0], state)
        app.title(self.name, state, self.short)
        monitor = session.monitor
        # most telling first, since a narrow terminal cuts the line short: a warning,
        # then the filter (it changes what every figure means)
        text = "Pkts %d" % monitor.packets
        if session.note:
            text += " | " + session.note
        if monitor.filtered:
            text += " | Filtered %d" % monitor.filtered
        if session.filter_text:
            text += " | " + session.filter_text
        if status:
            text += " | " + status
        text += " | Drops %d | %s" % (monitor.dropped, elapsed_text(session.elapsed()))
        if session.log_path:
            text += " | Log " + session.log_path
        app.status(rows - 2, text)
        if self.prompting:
            app.help(rows - 1, "Sort by: " + ", ".join(
                "%s %s" % (letter, label) for letter, label, _ in self.sorts)
                + "; any other key cancels")
        elif self.hidden or self.left:
            app.help(rows - 1, "Left/Right columns  " + self.keys_help)
        else:
            app.help(rows - 1, self.keys_help)

    def unit(self):
        return self.app.settings.activity_unit
