#!/usr/bin/env python3
"""iptraf.py: IPTraf reborn in pure Python, a network monitor for Linux.

This file is the command line: the flags, which facility runs and how (the screens,
or headless), and the exit status (0, 1 for a run that could not start or ended in
trouble, 2 for a wrong flag).  The engine and the screens are the ``netdecode``
package beside it.  Byte counts everywhere are frame (wire) lengths, link
header included, FCS excluded: what Wireshark's statistics and /proc/net/dev count.
"""
import sys

_PROG = "iptraf.py"
_LOG_DIR = "/var/log/iptraf"
_INTERVAL = 1.0                 # seconds between updates, unless --interval says
_LOG_INTERVAL = 3600.0          # seconds between the statistics logs' reports

_EPILOG = """\
facilities (one at a time, as in iptraf-ng):
  -i IFACE|all   IP traffic monitor: TCP connections with flags; other traffic
  -g             general interface statistics
  -d IFACE       detailed interface statistics
  -s IFACE       TCP/UDP service monitor
  -z IFACE       packet size breakdown
  -l IFACE|all   LAN station monitor
  -P IFACE|all   process monitor: traffic per local program (live only)
With -r FILE, IFACE picks the pcapng interface of that name ('all', or any name for a
classic pcap file, takes every frame).

examples:
  sudo python3 iptraf.py -d eth0 --json -t 1m          a snapshot a second for a minute
  python3 iptraf.py -r capture.pcapng -i all --json    one snapshot of the whole file
  python3 iptraf.py -r capture.pcapng --dump           one JSON object per frame
  sudo python3 iptraf.py -i eth0 --dump -t 30s         30 seconds of eth0, live
  sudo python3 iptraf.py -i all --dump -w all.pcapng   every interface, also to a file
  sudo python3 iptraf.py -s eth0 --json -F 'not port 22'  services, leaving out ssh
  sudo python3 iptraf.py -i eth0 -B -L                 in the background, logging to
                                                       /var/log/iptraf/ip_traffic-1.log

--dump keys (a key that does not apply is left out):
  n ts len caplen eth_src eth_dst vlan ip_src ip_dst ip_proto ip_len ip_ttl
  ip_mf ip_frag ip6_src ip6_dst ip6_nxt ip6_plen tcp_sport tcp_dport tcp_flags
  tcp_win tcp_len udp_sport udp_dport udp_len icmp_type icmp_code icmp6_type
  icmp6_code arp_op error iface dir
len is the wire length (link header included, FCS excluded); caplen what was captured.

--json and --dump write JSON Lines: one JSON object per line, a line per update (or
frame), not one JSON document.  Read them with jq, which takes one object at a time:
  sudo python3 iptraf.py -g --json | jq -c '.interfaces[] | {iface, total: .total.packets}'
or with python3 -m json.tool --json-lines (without --json-lines it stops at "Extra data").

Byte counts everywhere are wire lengths, link header included and FCS excluded: what
Wireshark's statistics and the kernel's /proc/net/dev count.  Live capture needs root
or CAP_NET_RAW.  Logs go to /var/log/iptraf/; SIGHUP or SIGUSR1 reopen them, SIGUSR2
or SIGTERM end a background (-B) run.
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
    from netdecode.capture.live import DEFAULT_RING_BYTES, DEFAULT_SNAPLEN

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            """One line for a wrong or conflicting flag, then exit 2 (argparse would
            print the whole usage first)."""
            self.exit(2, "%s: %s (see %s --help)\n" % (_PROG, message, _PROG))

    ap = Parser(
        prog=_PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="IP traffic monitor: decodes live traffic and pcap/pcapng captures.",
        epilog=_EPILOG)
    facility = ap.add_mutually_exclusive_group()
    facility.add_argument("-i", metavar="IFACE", dest="traffic",
                          help="IP traffic monitor on IFACE, or on every interface ('all')")
    facility.add_argument("-g", action="store_true", dest="general",
                          help="general interface statistics")
    facility.add_argument("-d", metavar="IFACE", dest="detailed",
                          help="detailed interface statistics on IFACE")
    facility.add_argument("-s", metavar="IFACE", dest="services",
                          help="TCP/UDP service monitor on IFACE")
    facility.add_argument("-z", metavar="IFACE", dest="sizes",
                          help="packet size breakdown on IFACE")
    facility.add_argument("-l", metavar="IFACE", dest="lan",
                          help="LAN station monitor on IFACE, or on every interface ('all')")
    facility.add_argument("-P", metavar="IFACE", dest="processes",
                          help="process monitor on IFACE, or on every interface ('all'): "
                               "traffic per local program")
    ap.add_argument("-r", metavar="FILE", dest="read",
                    help="read a pcap or pcapng file (the format comes from its contents)")
    ap.add_argument("--json", nargs="?", const="-", metavar="PATH",
                    help="no screen: write the facility's snapshot as JSON Lines, one "
                         "object per line per update interval (with -r: one, at the end), "
                         "to stdout or PATH")
    ap.add_argument("--interval", type=float, metavar="SECONDS",
                    help="update interval of screens, logs and --json (default %g; the "
                         "screens: their setting)" % _INTERVAL)
    ap.add_argument("--dump", action="store_true",
                    help="no screen: write one JSON object per frame to stdout (from -r "
                         "FILE, or live from the interface of -i)")
    ap.add_argument("-F", "--filter", metavar="EXPR", dest="filter",
                    help="tcpdump-style filter ('tcp port 443', 'host 10.0.0.1 and not "
                         "arp'); attached in the kernel when capturing one interface")
    ap.add_argument("-w", metavar="FILE", dest="write",
                    help="also write every frame to FILE: pcap for one interface, "
                         "pcapng (one interface block each) for all")
    ap.add_argument("-t", metavar="TIMEOUT", dest="timeout", type=_duration,
                    help="stop after TIMEOUT: minutes, or 30s, 5m, 1h")
    ap.add_argument("--export", action="append", metavar="URL", default=[],
                    help="with -i: send its flows to a collector, ipfix://HOST:PORT, "
                         "netflow9://HOST:PORT or netflow5://HOST:PORT (UDP); repeatable")
    ap.add_argument("--export-active", type=float, default=1800.0, metavar="SECONDS",
                    help="flow export: a flow still going after this long goes out as a "
                         "record and goes on in the next (default %(default)g)")
    ap.add_argument("--export-inactive", type=float, default=15.0, metavar="SECONDS",
                    help="flow export: a flow silent this long ends (default %(default)g)")
    ap.add_argument("--metrics", metavar="[HOST:]PORT",
                    help="serve Prometheus metrics on http://HOST:PORT/metrics (host "
                         "default 127.0.0.1), with any facility")
    ap.add_argument("--bytes", choices=("frame", "ip"),
                    help="byte counts and size bins of frames (default: wire lengths, as "
                         "Wireshark) or of IP packets (as iptraf-ng; the screens: their "
                         "setting)")
    ap.add_argument("--v6-in-v4", action="store_true", default=None,
                    help="count and show IPv6 carried in IPv4 (6in4) as IPv6, as "
                         "iptraf-ng's option does (the screens: their setting)")
    ap.add_argument("--capture-mode", choices=("auto", "ebpf", "ring", "socket"),
                    default="auto",
                    help="live: count in the kernel with eBPF where it can (auto, the "
                         "default; ebpf: or fail), a TPACKET_V3 ring, plain socket reads")
    ap.add_argument("--snaplen", type=int, default=DEFAULT_SNAPLEN, metavar="BYTES",
                    help="live: bytes kept of each frame (default %(default)s)")
    ap.add_argument("--ring-mb", type=int, default=DEFAULT_RING_BYTES >> 20, metavar="MB",
                    help="live: memory for the capture ring (default %(default)s)")
    ap.add_argument("--promisc", action="store_true",
                    help="live: put the interface in promiscuous mode while capturing")
    ap.add_argument("-L", nargs="?", const="", metavar="FILE", dest="log",
                    help="log to FILE (a bare name goes into %s; no FILE: the facility's "
                         "default name there, as iptraf-ng names them)" % _LOG_DIR)
    ap.add_argument("--log-format", choices=("text", "json"), default="text",
                    help="log lines as text (default) or as JSON objects")
    ap.add_argument("--log-interval", type=float, metavar="SECONDS",
                    help="report interval of the statistics facilities' logs (default "
                         "%g; the screens: their setting)" % _LOG_INTERVAL)
    ap.add_argument("-B", action="store_true", dest="background",
                    help="run in the background, logging (-L, or the default log file); "
                         "SIGUSR2 or SIGTERM end it, SIGHUP or SIGUSR1 reopen the log")
    ap.add_argument("--pid-file", metavar="PATH",
                    help="with -B: where the process id goes (default "
                         "/run/iptraf-FACILITY-IFACE.pid)")
    ap.add_argument("-f", action="store_true", dest="force",
                    help="accepted for iptraf-ng compatibility (no lock files to clear)")
    ap.add_argument("-n", action="store_true", dest="numeric",
                    help="numbers, not names: no reverse DNS, no service names (as "
                         "tcpdump -n; headless output is always numeric)")
    ap.add_argument("--config", metavar="PATH",
                    help="the screens' settings file (default $XDG_CONFIG_HOME/iptraf.py.conf, "
                         "else ~/.config/iptraf.py.conf)")
    ap.add_argument("--bundle", metavar="PYZ",
                    help="write this program as one file, a zipapp that runs with a bare "
                         "python3 (python3 PYZ ...), and exit")
    return ap


_FACILITIES = ("traffic", "general", "detailed", "services", "sizes", "lan", "processes")


def main(argv=None):
    from netdecode.run.runner import SetupError, UsageError
    try:
        return _main(argv)
    except SetupError as e:
        sys.stderr.write("%s: %s\n" % (_PROG, e))
        return 2 if isinstance(e, UsageError) else 1


def _main(argv):
    ap = _parser()
    args = ap.parse_args(argv)
    if args.bundle:
        return _bundle(args.bundle)
    facility = next((f for f in _FACILITIES if getattr(args, f)), None)
    if args.snaplen < 64 or args.ring_mb < 1 or not _positive(args.interval):
        ap.error("--snaplen takes at least 64 bytes, --ring-mb at least 1, "
                 "--interval more than 0")
    if not _positive(args.log_interval):
        ap.error("--log-interval takes more than 0 seconds")
    if args.metrics:
        from netdecode.output.metrics import MetricsError, parse_address
        if facility is None:
            ap.error("--metrics serves a facility's counters: give one")
        try:
            args.metrics = parse_address(args.metrics)
        except MetricsError as e:
            ap.error(str(e))
    if args.export:
        from netdecode.output.export import ExportError, parse_target
        if facility != "traffic":
            ap.error("--export sends the IP traffic monitor's flows: give -i")
        if not (args.export_active > 0 and args.export_inactive > 0):
            ap.error("--export-active and --export-inactive take more than 0 seconds")
        try:
            args.export = [parse_target(url) for url in args.export]
        except ExportError as e:
            ap.error(str(e))
    # the flags win; not given, the screens take their settings and the rest these
    screens = not args.dump and not args.json and not args.background and (
        args.log is None or _on_terminal())
    if not screens:
        if args.interval is None:
            args.interval = _INTERVAL
        if args.log_interval is None:
            args.log_interval = _LOG_INTERVAL
        if args.bytes is None:
            args.bytes = "frame"
        args.v6_in_v4 = bool(args.v6_in_v4)
    if args.dump and args.json:
        ap.error("--dump and --json: choose one")
    if args.dump:
        if facility not in (None, "traffic"):
            ap.error("--dump reads -r FILE, or captures live on the interface of -i")
        if not args.read and not args.traffic:
            ap.error("give -r FILE or -i IFACE")
        return _headless(args, None, args.traffic or "all")
    iface = getattr(args, facility) if facility not in (None, "general") else "all"
    if screens:
        from netdecode.ui import interactive
        return interactive(args, facility, iface)
    if facility is None:
        ap.error("give a facility (-i, -g, -d, -s, -z, -l, -P) with --json, -L or -B")
    if args.background:
        if args.read:
            ap.error("-B runs a live capture in the background: not with -r")
        if args.json == "-":
            ap.error("-B: give --json a PATH (a background run has no standard output)")
        if args.log is None:
            args.log = ""
    return _headless(args, facility, iface)


def _headless(args, facility, iface):
    from netdecode.run.headless import run
    return run(args, facility, iface, _warn)


def _warn(text):
    sys.stderr.write("%s: %s\n" % (_PROG, text))


def _positive(value):
    """A number flag not given, or given more than 0 (nan is not)."""
    return value is None or value > 0


def _on_terminal():
    return sys.stdin.isatty() and sys.stdout.isatty()


_BUNDLE_MAIN = """\
import sys

import iptraf

sys.exit(iptraf.main())
"""


def _bundle(path):
    """A stdlib zipapp of iptraf.py and netdecode/, stored uncompressed so that it runs
    even where Python was built without zlib."""
    import os
    import zipfile
    here = os.path.dirname(os.path.abspath(__file__))
    package = os.path.join(here, "netdecode")
    if not os.path.isdir(package):
        raise SystemExit("%s: --bundle runs from the source tree (no netdecode/ beside %s)"
                         % (_PROG, __file__))
    modules = sorted(os.path.relpath(os.path.join(folder, name), here)
                     for folder, _, names in os.walk(package)
                     for name in names if name.endswith(".py"))
    part = path + ".part"
    try:
        with open(part, "wb") as f:
            f.write(b"#!/usr/bin/env python3\n")
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
                z.writestr("__main__.py", _BUNDLE_MAIN)
                z.write(os.path.join(here, "iptraf.py"), "iptraf.py")
                for name in modules:
                    z.write(os.path.join(here, name), name.replace(os.sep, "/"))
        os.chmod(part, 0o755)
        os.replace(part, path)
    except OSError as e:
        raise SystemExit("%s: cannot write %s: %s" % (_PROG, path, e.strerror or e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
