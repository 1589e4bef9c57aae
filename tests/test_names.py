"""netdecode.output.names: the resolver never makes its caller wait, keeps its cache and queue
bounded, gives up on slow lookups; every name is made printable; ethers files parse."""
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from netdecode.output.names import Resolver, Services, printable, read_ethers  # noqa: E402


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def settle(resolver, address, timeout=5.0):
    """Ask until an answer is cached (the worker threads are real)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        name = resolver.name(address)
        if name is not None:
            return name
        time.sleep(0.01)
    return None


class TestPrintable(unittest.TestCase):
    def test_control_characters_never_reach_the_screen(self):
        self.assertEqual(printable("host.example"), "host.example")
        self.assertEqual(printable("evil\x1b[2J\x07name\n"), "evil?[2J?name?")
        self.assertEqual(printable("a\x9bb\u202ec"), "a?b?c")      # C1 CSI, RTL override
        self.assertEqual(printable("münchen.de"), "münchen.de")


class TestResolver(unittest.TestCase):
    def test_answers_at_once_then_the_name_arrives(self):
        release = threading.Event()

        def lookup(address):
            release.wait(5)
            return "host-" + address
        resolver = Resolver(lookup=lookup)
        self.addCleanup(resolver.close)
        started = time.monotonic()
        self.assertIsNone(resolver.name("10.0.0.1"))
        self.assertLess(time.monotonic() - started, 0.5)
        release.set()
        self.assertEqual(settle(resolver, "10.0.0.1"), "host-10.0.0.1")
        self.assertEqual(resolver.lookups, 1)

    def test_names_are_escaped(self):
        resolver = Resolver(lookup=lambda address: "bad\x1b]0;title\x07")
        self.addCleanup(resolver.close)
        resolver.name("10.0.0.2")
        self.assertEqual(settle(resolver, "10.0.0.2"), "bad?]0;title?")

    def test_failures_are_cached_and_retried_later(self):
        calls = []
        clock = FakeClock()

        def lookup(address):
            calls.append(address)
            raise OSError("no name")
        resolver = Resolver(lookup=lookup, retry_after=60, clock=clock)
        self.addCleanup(resolver.close)
        resolver.name("10.0.0.3")
        end = time.monotonic() + 5
        while resolver.lookups < 1 and time.monotonic() < end:
            time.sleep(0.01)
        for _ in range(5):
            self.assertIsNone(resolver.name("10.0.0.3"))
        time.sleep(0.1)
        self.assertEqual(calls, ["10.0.0.3"])
        clock.now += 61
        resolver.name("10.0.0.3")
        end = time.monotonic() + 5
        while len(calls) < 2 and time.monotonic() < end:
            time.sleep(0.01)
        self.assertEqual(calls, ["10.0.0.3", "10.0.0.3"])

    def test_a_stuck_lookup_times_out_and_the_queue_stays_bounded(self):
        stuck = threading.Event()
        self.addCleanup(stuck.set)
        clock = FakeClock()
        resolver = Resolver(lookup=lambda address: stuck.wait(30) and "late",
                            workers=1, queue_size=10, cache_size=50, timeout=2.0,
                            clock=clock)
        self.addCleanup(resolver.close)
        for i in range(1000):                   # a flood of new addresses
            self.assertIsNone(resolver.name("10.1.%d.%d" % (i // 256, i % 256)))
        self.assertLessEqual(len(resolver._queue), 10)
        self.assertLessEqual(len(resolver._cache), 50)
        self.assertGreater(resolver.refused, 900)
        clock.now += 3
        self.assertIsNone(resolver.name("10.1.0.0"))     # given up: a number it stays
        self.assertEqual(resolver.timeouts, 1)

    def test_the_cache_keeps_the_names_in_use(self):
        resolver = Resolver(lookup=lambda address: "host-" + address, cache_size=2)
        self.addCleanup(resolver.close)
        settle(resolver, "10.0.0.1")
        settle(resolver, "10.0.0.2")
        self.assertEqual(resolver.name("10.0.0.1"), "host-10.0.0.1")   # in use again
        settle(resolver, "10.0.0.3")                # one must go: the least recently used
        self.assertEqual(resolver.name("10.0.0.1"), "host-10.0.0.1")
        self.assertEqual(resolver.lookups, 3)
        self.assertIsNone(resolver.name("10.0.0.2"))  # gone: asked again

    def test_the_system_resolver_names_localhost(self):
        resolver = Resolver()
        self.addCleanup(resolver.close)
        resolver.name("127.0.0.1")
        self.assertIn("localhost", settle(resolver, "127.0.0.1") or "")


class TestServicesAndEthers(unittest.TestCase):
    def test_service_names(self):
        services = Services()
        self.assertEqual(services.name(80, "tcp"), "http")
        self.assertEqual(services.name(53, "udp"), "domain")
        self.assertIsNone(services.name(70000, "tcp"))

    def test_ethers_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".ethers", delete=False) as f:
            f.write("# lab\n02:00:00:00:00:10 printer\n"
                    "2-0-0-0-0-1 router  # the gateway\n"
                    "not-a-mac name\n02:00:00:00:00:99\n0A:0B:0C:0D:0E:0F evil\x1b[0m\n")
        self.addCleanup(os.unlink, f.name)
        self.assertEqual(read_ethers(f.name), {
            "02:00:00:00:00:10": "printer", "02:00:00:00:00:01": "router",
            "0a:0b:0c:0d:0e:0f": "evil?[0m"})
        self.assertEqual(read_ethers(f.name + ".missing"), {})

    def test_ethers_path_that_is_no_file_gives_no_names_and_never_waits(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        fifo = os.path.join(folder, "fifo")
        os.mkfifo(fifo)                     # no writer: a plain open would wait forever
        plain = os.path.join(folder, "plain")
        open(plain, "w").close()
        for path in (fifo, "/dev/zero", folder, os.path.join(plain, "x")):
            self.assertEqual(read_ethers(path), {}, path)


if __name__ == "__main__":
    unittest.main()
