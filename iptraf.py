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
  python3 iptraf.py -r capture.pcapng --dump           one JSON object per frame
  sudo python3 iptraf.py -i eth0 --dump -t 30s         30 seconds of eth0, live
  sudo python3 iptraf.py -i all --dump -w all.pcapng   every interface, also to a file

--dump keys (a key that does not apply is left out):
  n ts len caplen eth_src eth_dst vlan ip_src ip_dst ip_proto ip_len ip_ttl
  ip_mf ip_frag ip6_src ip6_dst ip6_nxt ip6_plen tcp_sport tcp_dport tcp_flags
  tcp_win tcp_len udp_sport udp_dport udp_len icmp_type icmp_code icmp6_type
  icmp6_code arp_op error iface dir
len is the wire length (link header included, FCS excluded); caplen what was captured.
Live capture needs root or CAP_NET_RAW.
"""


def _duration(text):
    """-t: minutes as iptraf-ng has it, or a number with s, m or h."""
    import argparse
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            value = float(text[:-1]) * units[text[-1]]
        else:
            value = float(text) * 60
    except ValueError:
        value = -1
    if value <= 0:
        raise argparse.ArgumentTypeError(
            "%r: give minutes, or a number with s, m or h (30s, 5m, 1h)" % text)
    return value


def _parser():
    import argparse
    from netdecode.capture import DEFAULT_RING_BYTES, DEFAULT_SNAPLEN
    ap = argparse.ArgumentParser(
        prog=_PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="IP traffic monitor: decodes live traffic and pcap/pcapng captures.",
        epilog=_EPILOG)
    source = ap.add_mutually_exclusive_group()
    source.add_argument("-i", metavar="IFACE", dest="iface",
                        help="capture live on IFACE, or on every interface with 'all'")
    source.add_argument("-r", metavar="FILE", dest="read",
                        help="read a pcap or pcapng file (the format comes from its contents)")
    ap.add_argument("--dump", action="store_true",
                    help="no screen: write one JSON object per frame to stdout")
    ap.add_argument("-w", metavar="FILE", dest="write",
                    help="also write every frame to FILE: pcap for one interface, "
                         "pcapng (one interface block each) for all")
    ap.add_argument("-t", metavar="TIMEOUT", dest="timeout", type=_duration,
                    help="stop after TIMEOUT: minutes, or 30s, 5m, 1h")
    ap.add_argument("--capture-mode", choices=("ring", "socket"), default="ring",
                    help="live: a TPACKET_V3 ring (default) or plain socket reads")
    ap.add_argument("--snaplen", type=int, default=DEFAULT_SNAPLEN, metavar="BYTES",
                    help="live: bytes kept of each frame (default %(default)s)")
    ap.add_argument("--ring-mb", type=int, default=DEFAULT_RING_BYTES >> 20, metavar="MB",
                    help="live: memory for the capture ring (default %(default)s)")
    ap.add_argument("--promisc", action="store_true",
                    help="live: put the interface in promiscuous mode while capturing")
    return ap


def main(argv=None):
    ap = _parser()
    args = ap.parse_args(argv)
    if not args.dump:
        ap.error("give --dump (the monitor's screens are not built yet)")
    if not args.read and not args.iface:
        ap.error("give -r FILE or -i IFACE")
    if args.snaplen < 64 or args.ring_mb < 1:
        ap.error("--snaplen takes at least 64 bytes, --ring-mb at least 1")
    if args.read:
        return _dump_file(args)
    return _dump_live(args)


def _dump_file(args):
    from netdecode.decode import decode
    from netdecode.dump import Dumper
    from netdecode.pcap import CaptureError, open_capture

    recorder = None
    try:
        with open_capture(args.read) as reader:
            def name(ifindex):
                ifaces = reader.interfaces
                return ifaces[ifindex].name if ifindex < len(ifaces) else None
            write = Dumper(sys.stdout, name).write
            if args.write:
                recorder = _recorder(args.write, None, name)
            for frame in reader.frames():
                if recorder is not None:
                    recorder.write(frame)
                write(decode(*frame))
    except CaptureError as e:
        return _fail(e, recorder)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        return _quiet_exit(recorder)
    return _finish(recorder)


def _dump_live(args):
    import signal
    import time
    from netdecode.capture import CaptureSetupError, InterfaceDown, InterfaceGone, LiveCapture
    from netdecode.decode import decode
    from netdecode.dump import Dumper

    stop = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.append(True))
    ifname = None if args.iface == "all" else args.iface
    try:
        cap = LiveCapture(ifname, mode=args.capture_mode, snaplen=args.snaplen,
                          promisc=args.promisc, ring_bytes=args.ring_mb << 20)
    except CaptureSetupError as e:
        raise SystemExit("%s: %s" % (_PROG, e.strerror))
    except OSError as e:
        raise SystemExit("%s: cannot capture on %s: %s" % (_PROG, args.iface, e.strerror or e))
    out = sys.stdout
    write = Dumper(out, cap.interface_name).write
    recorder = None
    status = 0
    try:
        if args.write:
            linktype = cap.interface_linktype(cap.ifindex) if ifname else None
            recorder = _recorder(args.write, linktype, cap.interface_name)
        deadline = None if args.timeout is None else time.monotonic() + args.timeout
        down = False
        while not stop:
            wait = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
            if wait <= 0:
                break
            cap.wait(wait)
            try:
                frames = cap.read()
            except InterfaceGone as e:
                sys.stderr.write("%s: %s\n" % (_PROG, e.strerror))
                status = 1
                break
            except InterfaceDown as e:
                if not down:
                    sys.stderr.write("%s: %s; waiting for it to come back\n"
                                     % (_PROG, e.strerror))
                down = True
                time.sleep(wait)
                continue
            down = False
            for frame in frames:
                if recorder is not None:
                    recorder.write(frame)
                write(decode(*frame))
            if frames:
                out.flush()
                if recorder is not None:
                    recorder.flush()
    except BrokenPipeError:
        cap.close()
        return _quiet_exit(recorder)
    dropped = cap.stats()["dropped"]
    cap.close()
    if dropped:
        sys.stderr.write("%s: the kernel dropped %d frames\n" % (_PROG, dropped))
    return _finish(recorder) or status


def _recorder(path, linktype, name):
    from netdecode.recorder import Recorder
    try:
        return Recorder(path, linktype, interface_name=name)
    except OSError as e:
        raise SystemExit("%s: cannot write %s: %s" % (_PROG, path, e.strerror or e))


def _finish(recorder):
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return _quiet_exit(recorder)
    if recorder is not None:
        recorder.close()
    return 0


def _fail(error, recorder):
    if recorder is not None:
        recorder.close()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    sys.stderr.write("%s: %s\n" % (_PROG, error))
    return 1


def _quiet_exit(recorder):
    """The reader of our output went away (| head): stop quietly, as cat does."""
    if recorder is not None:
        recorder.close()
    _silence_stdout()
    return 0


def _silence_stdout():
    import os
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
