"""The menus' dialogs: choosing, messages, the line editor, Configure and Filters."""
import platform
import socket
import textwrap

from ..capture.ifaces import list_interfaces
from ..filter import Filter, FilterError
from ..run.settings import FILTER_PROTOCOLS, NAMED, SETTINGS, ConfigError
from .keys import CTRL_X, ENTER_KEYS, ESC, QUIT_KEYS

__all__ = ["MENU_FOOTER", "about", "choose", "choose_interface", "configure", "filters",
           "message", "named_entries"]

_ALL_INTERFACES = ("traffic", "lan", "processes")     # the facilities that take "all"


MENU_FOOTER = "Up/Down select, Enter open, or the capital letter; X: back"


def choose(app, heading, items, footer=MENU_FOOTER):
    """A menu of (hotkey, label, action) items and None rules; the chosen action,
    or None."""
    curses = app.curses
    picks = [i for i, item in enumerate(items) if item is not None]
    at = 0
    width = max([len(item[1]) + 8 for item in items if item is not None]
                + [len(heading) + 8])
    while True:
        lines = [None if item is None else "%s  %s" % (item[0], item[1])
                 for item in items]
        app.framed(heading, lines, width, picks[at], footer)
        key = app.getkey()
        if key in (curses.KEY_UP, ord("k")):
            at = (at - 1) % len(picks)
        elif key in (curses.KEY_DOWN, ord("j"), 9):
            at = (at + 1) % len(picks)
        elif key in (curses.KEY_HOME, curses.KEY_PPAGE):
            at = 0
        elif key in (curses.KEY_END, curses.KEY_NPAGE):
            at = len(picks) - 1
        elif key in ENTER_KEYS or key == curses.KEY_ENTER:
            return items[picks[at]][2]
        elif key in (ESC, CTRL_X):
            return None
        elif 0 < key < 256:
            letter = chr(key).upper()
            for item in items:
                if item is not None and item[0] and item[0] == letter:
                    return item[2]

def choose_interface(app, facility):
    """The interface chooser: name, kind, state and addresses of each; None when
    the user goes back."""
    items = []
    if facility in _ALL_INTERFACES:
        items.append(("*", "All interfaces", "all"))
    found = sorted(list_interfaces(), key=lambda i: i.index)
    # columns as wide as their longest entry ("virtual ethernet"), so that they align
    name_width = max([len(i.name) for i in found] + [4])
    kind_width = max([len(i.kind) for i in found] + [4])
    for i in found:
        state = "up" if i.up else "down"
        addresses = " ".join([socket.inet_ntop(socket.AF_INET, a) for a in i.ipv4[:1]]
                             + [socket.inet_ntop(socket.AF_INET6, a) for a in i.ipv6[:1]])
        items.append(("", "%-*s %-*s %-4s %s" % (name_width, i.name, kind_width, i.kind,
                                                 state, addresses), i.name))
    items.append(None)
    items.append(("X", "Back", None))
    return choose(app, "Select interface", items,
                       "Up/Down select, Enter choose; X: back")

def message(app, text):
    """A box with ``text``, until a key (a resize redraws it)."""
    cols = app.scr.getmaxyx()[1]
    lines = textwrap.wrap(text, max(20, min(70, cols - 8))) + ["", "Press a key"]
    while True:
        app.framed("iptraf.py", lines, max(len(line) for line in lines) + 6)
        if app.getkey() != app.curses.KEY_RESIZE:
            return

def about(app):
    message(app, 
        "iptraf.py: IPTraf reborn in pure Python, the standard library only. "
        "Python %s. Settings: %s. Byte counts are %s." % (
            platform.python_version(), app.config_path,
            "IP packet lengths, as iptraf-ng counts them" if app.settings.bytes == "ip"
            else "wire lengths, link header included, FCS excluded"))

def _edit_line(app, prompt, initial):
    """A one-line editor on the bottom line: Enter keeps the text, Esc gives None."""
    curses = app.curses
    text = initial
    try:
        curses.curs_set(1)
    except curses.error:
        pass
    try:
        while True:
            rows, cols = app.scr.getmaxyx()
            shown = prompt + text
            app.bar(rows - 1, shown[-(cols - 2):], "status")
            try:
                app.scr.move(rows - 1, min(len(shown), cols - 2))
            except curses.error:
                pass
            app.scr.refresh()
            key = app.getkey()
            if key in ENTER_KEYS or key == curses.KEY_ENTER:
                return text
            if key == ESC:
                return None
            if key in (curses.KEY_BACKSPACE, 127, 8):
                text = text[:-1]
            elif key == 21:                     # Ctrl-U: clear, as a shell has it
                text = ""
            elif 32 <= key < 127:
                text += chr(key)
    finally:
        try:
            curses.curs_set(0)
        except curses.error:
            pass

def _save_settings(app):
    try:
        app.settings.save(app.config_path)
    except OSError as e:
        message(app, "Could not save the settings to %s: %s"
                     % (app.config_path, e.strerror or e))

def configure(app):
    curses = app.curses
    at = 0
    width = max(len(label) for _, _, _, label in SETTINGS) + 24
    while True:
        # a narrow terminal shortens the labels, never the values
        values = [app.settings.text(key) for key, _, _, _ in SETTINGS]
        room = min(width, app.scr.getmaxyx()[1] - 2) - 4
        label_width = max(8, min(width - 24, room - min(20, max(map(len, values)))))
        lines = ["%-*s %s" % (label_width, label[:label_width], value)
                 for (_, _, _, label), value in zip(SETTINGS, values)]
        lines.append("MAC address descriptions (%d here)..."
                     % len(app.settings.mac_descriptions))
        app.framed("Configure", lines, width, at,
                    "Up/Down select, Enter/Space change; X: save and back "
                    "(to %s)" % app.config_path)
        key = app.getkey()
        if key == curses.KEY_UP:
            at = (at - 1) % len(lines)
        elif key in (curses.KEY_DOWN, 9):
            at = (at + 1) % len(lines)
        elif key in QUIT_KEYS:
            break
        elif at == len(SETTINGS) and (key in ENTER_KEYS or key == curses.KEY_ENTER):
            named_entries(app, "MAC address descriptions", "mac_name", "MAC address",
                          "Description")
        elif key in ENTER_KEYS or key in (curses.KEY_ENTER, ord(" ")):
            if at == len(SETTINGS):
                continue
            name, _, _, label = SETTINGS[at]
            value = getattr(app.settings, name)
            if isinstance(value, bool):
                setattr(app.settings, name, not value)
            elif name == "activity_unit":
                app.settings.activity_unit = "kbytes" if value == "kbits" else "kbits"
            elif name == "bytes":
                app.settings.bytes = "ip" if value == "frame" else "frame"
            else:
                text = _edit_line(app, label + ": ", app.settings.text(name))
                if text is not None:
                    try:
                        app.settings.set(name, text)
                    except ConfigError as e:
                        message(app, "%s: %s" % (label, e))
    _save_settings(app)
    app.restyle()

def filters(app):
    curses = app.curses
    at = 0
    count = len(FILTER_PROTOCOLS) + 3
    while True:
        lines = ["[%s] %s" % ("x" if getattr(app.settings, key) else " ", label)
                 for key, label, _ in FILTER_PROTOCOLS]
        lines.append("Expression: %s" % (app.settings.filter_expr or "(none)"))
        lines.append("Filter sets (%d; applied: %s)..." % (
            len(app.settings.filter_sets), app.settings.filter_applied or "none"))
        lines.append("Clear the expression and the set, every protocol on")
        app.framed("Filters", lines, 60, at,
                    "Up/Down select, Enter/Space toggle or edit; X: save and back")
        key = app.getkey()
        if key == curses.KEY_UP:
            at = (at - 1) % count
        elif key in (curses.KEY_DOWN, 9):
            at = (at + 1) % count
        elif key in QUIT_KEYS:
            break
        elif key in ENTER_KEYS or key in (curses.KEY_ENTER, ord(" ")):
            if at < len(FILTER_PROTOCOLS):
                name = FILTER_PROTOCOLS[at][0]
                setattr(app.settings, name, not getattr(app.settings, name))
            elif at == len(FILTER_PROTOCOLS):
                text = _edit_line(app, "Filter (tcpdump syntax): ",
                                      app.settings.filter_expr)
                if text is not None:
                    try:
                        if text.strip():
                            Filter(text)
                        app.settings.set("filter_expr", text)
                    except (FilterError, ValueError) as e:
                        message(app, "Filter not taken: %s" % e)
            elif at == len(FILTER_PROTOCOLS) + 1:
                named_entries(app, "Filter sets", "filter_set", "Filter set",
                              "Filter (tcpdump syntax)", check=Filter, apply=True)
            else:
                for name, _, _ in FILTER_PROTOCOLS:
                    setattr(app.settings, name, True)
                app.settings.filter_expr = app.settings.filter_applied = ""
    _save_settings(app)


def named_entries(app, heading, prefix, what, prompt, check=None, apply=False):
    """A list of named entries (the filter sets, the MAC address descriptions), kept
    in the settings: N adds one, E edits the selected one's value, D deletes it; Enter
    applies or detaches a filter set (``apply``), else edits.  ``check(value)`` refuses
    a value with a ValueError."""
    curses, settings = app.curses, app.settings
    table = getattr(settings, NAMED[prefix])
    at = 0
    footer = ("Enter apply/detach, N new, E edit, D delete; X: back" if apply
              else "Enter edit, N new, D delete; X: back")
    while True:
        names = sorted(table)
        lines = ["%s%s: %s" % (("[*] " if name == settings.filter_applied else "[ ] ")
                               if apply else "", name, table[name]) for name in names]
        lines.append("New %s..." % what.lower())
        at = min(at, len(lines) - 1)
        app.framed(heading, lines, 70, at, footer)
        key = app.getkey()
        letter = chr(key).upper() if 0 < key < 256 else ""
        chosen = names[at] if at < len(names) else None
        if key == curses.KEY_UP:
            at = (at - 1) % len(lines)
        elif key in (curses.KEY_DOWN, 9):
            at = (at + 1) % len(lines)
        elif key in QUIT_KEYS:
            return
        elif letter == "N" or (chosen is None and (key in ENTER_KEYS
                                                    or key == curses.KEY_ENTER)):
            name = _edit_line(app, "%s name: " % what, "")
            if name is None or not name.strip():
                continue
            try:
                name = settings.name_entry(prefix, name.strip())
            except ConfigError as e:
                message(app, "%s not taken: %s" % (what, e))
                continue
            _edit_entry(app, prefix, table, name, prompt, check, what)
            if name in table:
                at = sorted(table).index(name)      # the new entry selected
        elif chosen is None:
            continue
        elif letter == "D":
            del table[chosen]
            if settings.filter_applied == chosen:
                settings.filter_applied = ""
        elif apply and (key in ENTER_KEYS or key == curses.KEY_ENTER):
            settings.filter_applied = "" if settings.filter_applied == chosen else chosen
        elif letter == "E" or key in ENTER_KEYS or key == curses.KEY_ENTER:
            _edit_entry(app, prefix, table, chosen, prompt, check, what)


def _edit_entry(app, prefix, table, name, prompt, check, what):
    """The value of entry ``name`` typed (anew, or from what it was); refused values
    leave the entry as it was."""
    text = _edit_line(app, "%s: " % prompt, table.get(name, ""))
    if text is None or not text.strip():
        return
    try:
        if check is not None:
            check(text)
        app.settings.set("%s.%s" % (prefix, name), text)
    except (FilterError, ValueError) as e:
        message(app, "%s not taken: %s" % (what, e))
