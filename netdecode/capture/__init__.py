"""Capture and files: frames from a live AF_PACKET socket (``live``) or a pcap/pcapng file
(``pcap``), written back by the ``recorder``; what the interfaces are (``ifaces``)."""
__all__ = []
