"""Seeded mutation fuzzing of the frame decoder.

Seed frames: every fixture of tests/test_decode.py (every link type, tunnel, extension
header and transport the decoder knows, built with tests/builders.py), plus a sample
of the capture corpus when it is there.  Each iteration takes one seed and applies one
to four mutations: byte and bit flips, insertions, deletions, truncation, 16-bit
"length" values and header nibbles written where the headers are; then it picks a
wire length (the data's, smaller, or larger) and, sometimes, another link type.

Every mutated frame goes through ``decode`` and ``decode_layers``; nothing may escape
them, they must agree, and the record must have the layout of ``packet.FIELDS`` with
the frame's own data and an error that is None or text.

The run is reproducible: ``random.Random(seed)``, the seed fixed below unless
IPTRAF_FUZZ_SEED says otherwise; IPTRAF_FUZZ_FRAMES sets the number of mutated frames
(200000 by default), e.g. ``IPTRAF_FUZZ_FRAMES=5000000 python3 -m unittest
discover -s tests -p test_fuzz.py`` for a longer run.  A failure names the seed, the
iteration, the link type, the wire length and the frame in hex.
"""
import os
import random
import sys
import traceback
import unittest

_TESTS = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_TESTS)
for _path in (_ROOT, _TESTS):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from netdecode.decoding.decode import SUPPORTED_LINKTYPES, decode, decode_layers  # noqa: E402
from netdecode.decoding.packet import FIELDS  # noqa: E402
from test_decode import CORPUS, FX, corpus_files  # noqa: E402

SEED = int(os.environ.get("IPTRAF_FUZZ_SEED", "20241124"))
FRAMES = int(os.environ.get("IPTRAF_FUZZ_FRAMES", "200000"))
MAX_FAILURES = 10             # stop collecting after this many, to keep the report readable

_DATA = FIELDS.index("data")
_LEN = FIELDS.index("len")
_LINKTYPE = FIELDS.index("linktype")
_ERROR = FIELDS.index("error")
_CAPLEN = FIELDS.index("caplen") if "caplen" in FIELDS else None
_NFIELDS = len(FIELDS)

# the link types a mutation may switch to: every supported one, and two that are not
_LINKTYPES = sorted(SUPPORTED_LINKTYPES) + [160, 274]

_CORPUS_SAMPLE = 1500         # corpus frames kept as seeds, at most
_CORPUS_KEEP = 2048           # bytes of a corpus frame kept (the wire length stays)


def seed_frames():
    """[(name, linktype, data, wirelen, hdr_end)] to mutate."""
    seeds = [(f.name, f.linktype, f.data, f.wirelen, f.hdr_end) for f in FX.values()]
    seeds.extend(_corpus_seeds())
    return seeds


def _corpus_seeds():
    if not os.path.isdir(CORPUS):
        return []
    try:
        from netdecode.capture.pcap import CaptureError, open_capture
    except ImportError:
        return []       # the corpus differential in test_decode reports a missing reader
    frames = []
    for path in corpus_files():
        try:
            reader = open_capture(path)
        except CaptureError:
            continue
        with reader:
            try:
                for number, frame in enumerate(reader.frames(), 1):
                    data = frame[4]
                    frames.append(("%s#%d" % (os.path.basename(path), number), frame[3],
                                   data[:_CORPUS_KEEP], max(frame[5], len(data)),
                                   min(len(data), 128)))
            except CaptureError:
                pass
    if len(frames) > _CORPUS_SAMPLE:
        step = len(frames) / float(_CORPUS_SAMPLE)
        frames = [frames[int(i * step)] for i in range(_CORPUS_SAMPLE)]
    return frames


def _interesting16(rng, size, pos):
    return rng.choice((0, 1, 2, 3, 4, 5, 7, 8, 14, 19, 20, 21, 24, 28, 40, 60, 64,
                       size, size - pos, size - pos + 1, max(0, size - pos - 1),
                       0x05DC, 0x0600, 0x0800, 0x86DD, 0x8100, 0x88A8, 0x8847, 0x8864,
                       0x7FFF, 0x8000, 0xFFFE, 0xFFFF, rng.randrange(65536)))


def mutate(rng, data, hdr_end):
    """One to four random mutations of data; positions mostly inside the headers."""
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        size = len(buf)
        if size and rng.random() < 0.85:
            pos = rng.randrange(min(size, hdr_end + 8) or 1)
        else:
            pos = rng.randrange(size + 1)
        op = rng.randrange(9)
        if op == 0 and pos < size:                  # a random byte
            buf[pos] = rng.randrange(256)
        elif op == 1 and pos < size:                # a bit
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 2:                               # insertion
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 4, 8))))
        elif op == 3:                               # deletion
            del buf[pos:pos + rng.choice((1, 2, 4, 8, 20))]
        elif op == 4:                               # truncation
            del buf[rng.randrange(size + 1):]
        elif op == 5 and pos + 1 < size:            # a length field, either byte order
            value = _interesting16(rng, size, pos)
            if rng.random() < 0.8:
                buf[pos], buf[pos + 1] = value >> 8, value & 0xFF
            else:
                buf[pos], buf[pos + 1] = value & 0xFF, value >> 8
        elif op == 6 and pos < size:                # a header nibble (version, IHL, offset)
            if rng.random() < 0.5:
                buf[pos] = (buf[pos] & 0xF0) | rng.randrange(16)
            else:
                buf[pos] = (buf[pos] & 0x0F) | rng.randrange(16) << 4
        elif op == 7 and pos < size:                # an extreme byte
            buf[pos] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF))
        elif op == 8 and pos + 3 < size:            # a 32-bit value (jumbo, TLV, label)
            value = rng.choice((0, 1, 0xFFFFFFFF, 0x80000000, rng.getrandbits(32), size))
            buf[pos:pos + 4] = value.to_bytes(4, rng.choice(("big", "little")))
    return bytes(buf)


def wire_length(rng, data, wirelen):
    roll = rng.random()
    if roll < 0.55:
        return len(data)
    if roll < 0.70:
        return max(wirelen, len(data))
    if roll < 0.85:
        return rng.randrange(len(data) + 1)         # smaller than what was captured
    return len(data) + rng.choice((1, 4, 100, 1500, 65535, 70000, rng.randrange(1, 1 << 20)))


def check_frame(linktype, data, wirelen):
    """None when all is well, else what went wrong."""
    try:
        fast = decode(1, 0, None, linktype, data, wirelen)
        ref = decode_layers(1, 0, None, linktype, data, wirelen)
    except Exception:  # noqa: B902 - any exception escaping the decoder is the failure
        return "raised:\n" + traceback.format_exc()
    if fast != ref:
        return "decode and decode_layers disagree: " + "; ".join(
            "%s: %r != %r" % (name, x, y) for name, x, y in zip(FIELDS, fast, ref) if x != y)
    for record in (fast, ref):
        if type(record) is not tuple or len(record) != _NFIELDS:
            return "record is a %s of %d entries, %d expected" % (
                type(record).__name__, len(record), _NFIELDS)
        if record[_DATA] is not data or len(record[_DATA]) != len(data):
            return "record's data is not the frame's"
        if _CAPLEN is not None and record[_CAPLEN] != len(data):
            return "caplen %r, the frame has %d bytes" % (record[_CAPLEN], len(data))
        if record[_LEN] != wirelen or record[_LINKTYPE] != linktype:
            return "len/linktype %r/%r" % (record[_LEN], record[_LINKTYPE])
        error = record[_ERROR]
        if error is not None and (type(error) is not str or not error):
            return "error is %r" % (error,)
    return None


class FuzzTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.seeds = seed_frames()

    def report(self, failures, total):
        if failures:
            self.fail("%d failure(s) in %d frames (IPTRAF_FUZZ_SEED=%d):\n%s"
                      % (len(failures), total, SEED, "\n".join(failures)))

    def test_seed_frames_decode_under_every_link_type(self):
        failures = []
        total = 0
        for name, _, data, wirelen, _ in self.seeds:
            for linktype in _LINKTYPES:
                for length in (len(data), wirelen, 0):
                    total += 1
                    problem = check_frame(linktype, data, length)
                    if problem and len(failures) < MAX_FAILURES:
                        failures.append("seed frame %s, linktype %d, wirelen %d, frame %s: %s"
                                        % (name, linktype, length, data.hex(), problem))
        self.report(failures, total)

    def test_mutated_frames(self):
        self.assertGreater(len(self.seeds), 150)
        rng = random.Random(SEED)
        seeds = self.seeds
        failures = []
        for iteration in range(FRAMES):
            name, linktype, data, wirelen, hdr_end = seeds[rng.randrange(len(seeds))]
            data = mutate(rng, data, hdr_end)
            wirelen = wire_length(rng, data, wirelen)
            if rng.random() < 0.08:
                linktype = rng.choice(_LINKTYPES)
            problem = check_frame(linktype, data, wirelen)
            if problem:
                failures.append("seed %d, iteration %d (from %s), linktype %d, wirelen %d, "
                                "frame %s: %s" % (SEED, iteration, name, linktype, wirelen,
                                                  data.hex(), problem))
                if len(failures) >= MAX_FAILURES:
                    break
        self.report(failures, FRAMES)


if __name__ == "__main__":
    unittest.main()
