"""Output: what leaves the engine: the per-frame dump (``dump``), the log files
(``logs``), the names that make addresses readable (``names``) and flow records for
collectors (``export``)."""
__all__ = []
