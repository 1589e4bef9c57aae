"""The curses front end: menus, dialogs and one screen per facility, drawn from the
facilities' snapshots.  The only importer of curses; nothing in the engine imports it."""
from .app import interactive

__all__ = ["interactive"]
