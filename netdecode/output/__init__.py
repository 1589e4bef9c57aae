"""Output: what leaves the engine as text: the per-frame dump (``dump``), the log files
(``logs``), and the names that make addresses readable (``names``)."""
__all__ = []
