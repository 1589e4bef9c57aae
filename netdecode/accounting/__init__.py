"""Accounting: the facilities' state, fed one record a frame and read as snapshots:
the IP traffic monitor (``flows``), the statistics (``counters``), their bounds (``tables``)."""
__all__ = []
