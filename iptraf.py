#!/usr/bin/env python3
"""iptraf.py: IPTraf reborn in pure Python, a network monitor for Linux.

This file is the command line (and, later, the curses front end); the engine is the
``netdecode`` package beside it.  Byte counts everywhere are frame (wire) lengths, link
header included, FCS excluded: what Wireshark's statistics and /proc/net/dev count.
"""
import sys

_PROG = "iptraf.py"

_EPILOG = """\
examples:
  python3 iptraf.py -r capture.pcapng --dump     one JSON object per frame
  python3 iptraf.py -r capture.pcap --dump | head

--dump keys (a key that does not apply is left out):
  n ts len caplen eth_src eth_dst vlan ip_src ip_dst ip_proto ip_len ip_ttl
  ip_mf ip_frag ip6_src ip6_dst ip6_nxt ip6_plen tcp_sport tcp_dport tcp_flags
  tcp_win tcp_len udp_sport udp_dport udp_len icmp_type icmp_code icmp6_type
  icmp6_code arp_op error
len is the wire length (link header included, FCS excluded); caplen what was captured.
"""


def _parser():
    import argparse
    ap = argparse.ArgumentParser(
        prog=_PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="IP traffic monitor: decodes pcap and pcapng captures.",
        epilog=_EPILOG)
    ap.add_argument("-r", metavar="FILE", dest="read",
                    help="read a pcap or pcapng file (the format comes from its contents)")
    ap.add_argument("--dump", action="store_true",
                    help="no screen: write one JSON object per frame to stdout")
    return ap


def main(argv=None):
    ap = _parser()
    args = ap.parse_args(argv)
    if not args.dump or not args.read:
        ap.error("give -r FILE --dump (the live monitor and its screens are not built yet)")
    return _dump(args.read)


def _dump(path):
    from netdecode.decode import decode
    from netdecode.dump import Dumper
    from netdecode.pcap import CaptureError, open_capture

    out = sys.stdout
    dumper = Dumper(out)
    write = dumper.write
    try:
        with open_capture(path) as reader:
            for frame in reader.frames():
                write(decode(*frame))
    except CaptureError as e:
        out.flush()
        sys.stderr.write("%s: %s\n" % (_PROG, e))
        return 1
    except BrokenPipeError:
        # the reader of our output went away (| head): stop quietly, as cat does
        _silence_stdout()
        return 0
    try:
        out.flush()
    except BrokenPipeError:
        _silence_stdout()
    return 0


def _silence_stdout():
    import os
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
