"""Sinks for tests and benchmarks.

``RecordsOnly`` has no lane: a Monitor with it among its sinks decodes every frame once
and gives every sink the record, which is how the tests and benchmarks hold a
facility's fast lane against the decoder's path.
"""

__all__ = ["RecordsOnly"]


class RecordsOnly:
    """A sink without a lane, that keeps nothing."""

    def add(self, record):
        pass

    def tick(self, now):
        pass

    def snapshot(self):
        return {}
