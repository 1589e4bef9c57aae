"""The keys every screen and dialog answers the same way."""

__all__ = ["CLOSE", "CTRL_X", "ENTER_KEYS", "ESC", "QUIT_KEYS"]

ESC, CTRL_X = 27, 24
QUIT_KEYS = frozenset((ord("x"), ord("X"), ord("q"), ord("Q"), CTRL_X, ESC))
ENTER_KEYS = frozenset((10, 13))
CLOSE = "close"                 # what a view's key() returns to leave the screen
