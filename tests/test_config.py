"""netdecode.run.settings: settings round-trip through their file, a bad file never stops the
program, and the Filters dialog's switches make expressions the filter compiler takes."""
import itertools
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from netdecode.run.settings import (  # noqa: E402
    FILTER_PROTOCOLS, ConfigError, Settings, default_path, parse_ports)
from netdecode.filter import Filter, FilterError, compile_filter  # noqa: E402


class TestSettingsFile(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="iptraf-config-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.path = os.path.join(self.folder, "sub", "iptraf.conf")

    def test_defaults_without_a_file(self):
        settings = Settings.load(self.path)
        self.assertEqual(settings.problems, [])
        self.assertTrue(settings.reverse_dns)
        self.assertEqual(settings.tcp_timeout, 15)
        self.assertEqual(settings.activity_unit, "kbits")
        self.assertIsNone(settings.filter_expression())

    def test_round_trip(self):
        settings = Settings()
        settings.set("activity_unit", "kbytes")
        settings.set("tcp_timeout", "30")
        settings.set("update_interval", "0.5")
        settings.set("extra_ports", "8080, 5000-5100")
        settings.set("filter_udp", "no")
        settings.set("filter_expr", "host 10.0.0.1")
        settings.save(self.path)
        again = Settings.load(self.path)
        self.assertEqual(again.problems, [])
        self.assertEqual(repr(again), repr(settings))
        self.assertEqual(again.extra_ports, "8080 5000-5100")
        self.assertEqual(again.filter_expression(), "not (udp) and (host 10.0.0.1)")

    def test_a_bad_file_keeps_the_defaults_and_says_where(self):
        os.makedirs(os.path.dirname(self.path))
        with open(self.path, "w") as f:
            f.write("# comment\ntcp_timeout = soon\ncolour = yes\nno equals sign\n"
                    "update_interval = 0.01\nextra_ports = 80-20\ncolor = no\n")
        settings = Settings.load(self.path)
        self.assertFalse(settings.color)
        self.assertEqual(settings.tcp_timeout, 15)
        self.assertEqual(settings.update_interval, 1.0)
        self.assertEqual([p.split(":")[1] for p in settings.problems], ["2", "3", "4", "5", "6"])

    def test_named_entries_round_trip_and_refusals(self):
        settings = Settings()
        settings.set("filter_set.web", "tcp port 80 or tcp port 443")
        settings.set("filter_set.dns", "udp port 53")
        settings.set("filter_applied", "web")
        settings.set("mac_name.02-00-00-00-00-0A", "router")
        self.assertEqual(settings.filter_expression(), "(tcp port 80 or tcp port 443)")
        settings.save(self.path)
        again = Settings.load(self.path)
        self.assertEqual(again.problems, [])
        self.assertEqual(again.filter_sets, settings.filter_sets)
        self.assertEqual(again.mac_descriptions, {"02:00:00:00:00:0a": "router"})
        self.assertEqual(again.filter_expression(), "(tcp port 80 or tcp port 443)")
        again.filter_applied = "gone"                   # a set deleted by hand: nothing
        self.assertIsNone(again.filter_expression())
        for key, text in (("mac_name.02:00:00:00:00", "x"), ("mac_name.zz:00:00:00:00:00", "x"),
                          ("filter_set.", "tcp"), ("filter_set.a#b", "tcp"),
                          ("filter_set.web", ""), ("filter_set.web", "a\x1bb")):
            with self.assertRaises(ConfigError, msg=key):
                settings.set(key, text)

    def test_refused_values(self):
        settings = Settings()
        for key, text in (("tcp_timeout", "0"), ("reverse_dns", "maybe"),
                          ("activity_unit", "bits"), ("mac_names", "a\x1bb"),
                          ("nothing", "1")):
            with self.assertRaises(ConfigError):
                settings.set(key, text)

    def test_unwritable_place_raises_oserror(self):
        blocker = os.path.join(self.folder, "file")
        open(blocker, "w").close()
        with self.assertRaises(OSError):
            Settings().save(os.path.join(blocker, "iptraf.conf"))

    def test_default_path(self):
        self.assertEqual(default_path({"XDG_CONFIG_HOME": "/x"}), "/x/iptraf.py.conf")
        self.assertTrue(default_path({}).endswith("/.config/iptraf.py.conf"))

    def test_ports(self):
        self.assertEqual(parse_ports("22 8080,5000-5100"), [(22, 22), (8080, 8080),
                                                           (5000, 5100)])
        for bad in ("0", "70000", "9-8", "http"):
            with self.assertRaises(ConfigError):
                parse_ports(bad)


class TestFilterSwitches(unittest.TestCase):
    def test_every_combination_compiles_for_every_link_type(self):
        keys = [key for key, _, _ in FILTER_PROTOCOLS]
        for linktype in (1, 101, 113):             # Ethernet, raw IP, Linux SLL
            for off in itertools.chain.from_iterable(
                    itertools.combinations(keys, n) for n in range(len(keys) + 1)):
                settings = Settings()
                for key in off:
                    setattr(settings, key, False)
                expr = settings.filter_expression()
                if expr is None:
                    continue
                try:
                    compile_filter(expr, linktype, live=False)
                except FilterError as e:
                    # nothing left to pass: every switch off, or (raw IP has no ARP
                    # and no non-IP frames) every IP switch off
                    self.assertIn("rejects all packets", str(e))
                    left = set(keys) - set(off)
                    self.assertTrue(not left or (linktype == 101 and left <= {
                        "filter_arp", "filter_rarp", "filter_nonip"}), (linktype, off))

    def test_each_switch_leaves_out_its_protocol(self):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from builders import arp, eth, icmp, icmp6, ip4, ip6, tcp, udp, llc, eth8023
        frames = {
            "filter_tcp": eth(ip4(tcp())), "filter_udp": eth(ip4(udp(), proto=17)),
            "filter_icmp": eth(ip4(icmp(), proto=1)),
            "filter_other_ip": eth(ip4(b"\0" * 8, proto=47)),
            "filter_arp": eth(arp(), type=0x0806),
            "filter_rarp": eth(arp(op=3), type=0x8035),
            "filter_nonip": eth8023(llc(b"\0" * 40, dsap=0x42, ssap=0x42)),
        }
        frames_v6 = {"filter_icmp": eth(ip6(icmp6(), nxt=58), type=0x86DD)}
        for key, _, _ in FILTER_PROTOCOLS:
            settings = Settings()
            setattr(settings, key, False)
            match = Filter(settings.filter_expression()).match
            for other, data in list(frames.items()) + list(frames_v6.items()):
                wanted = other != key
                frame = (0, 0, 0, 1, data, len(data))
                self.assertEqual(match(frame), wanted, (key, other))


if __name__ == "__main__":
    unittest.main()
