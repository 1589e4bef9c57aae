"""Output: what leaves the engine: the per-frame dump (``dump``), the log files
(``logs``), the names that make addresses readable (``names``), flow records for
collectors (``export``) and the Prometheus endpoint (``metrics``)."""
__all__ = []
