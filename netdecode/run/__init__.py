"""Running a facility: the one loop (``monitor``), the settings (``settings``), and a run
built from the command line's options, headless or under the screens."""
__all__ = []
