"""Decoding: one frame of any supported link type into one flat record (``packet``),
layer by layer (``link``, ``ip``, ``transport``, contract in ``layer``), by ``decode``."""
__all__ = []
