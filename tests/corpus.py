"""The shared capture corpus (../shared/corpus) and Wireshark's truth about it, for tests.

``CORPUS`` and ``TRUTH`` are its folders (``available()`` says whether they are there);
``frames_read()`` maps each file tshark could not read whole to the frames it read
before failing (0: not at all); ``captures()`` lists the capture files, the unreadable
ones left out unless asked for; ``truth_rows(name)`` gives a file's per-frame truth as
dicts, leaving out the rows tshark 4.0 makes of pcapng custom blocks, which are no frames;
``read_frames(path)`` reads any capture whole, as far as it goes; ``sampled(names)``
takes every IPTRAF_CORPUS_STRIDE-th name (all of them unless set: .ci/run sets it for
the interpreters after the first, where a sweep that starts a process per capture tests
the same code again at length).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from netdecode.capture.pcap import CaptureError, open_capture  # noqa: E402

__all__ = ["CORPUS", "TRUTH", "available", "frames_read", "captures", "is_pcapng",
           "truth_rows", "read_frames", "sampled"]

CORPUS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                       "shared", "corpus"))
TRUTH = os.path.join(CORPUS, "truth")


def available():
    return os.path.isdir(TRUTH)


def frames_read():
    """file -> frames tshark read before it failed (truth/UNREADABLE.txt)."""
    out = {}
    with open(os.path.join(TRUTH, "UNREADABLE.txt"), encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                fields = line.split("\t")
                out[fields[0]] = int(fields[2].split("=")[1])
    return out


def captures(unreadable=False):
    """The capture files' names, sorted; those no tool can open only when asked."""
    skip = set() if unreadable else {n for n, read in frames_read().items() if read == 0}
    return sorted(n for n in os.listdir(CORPUS)
                  if n.endswith((".pcap", ".pcapng")) and n not in skip)


def sampled(names):
    """Every IPTRAF_CORPUS_STRIDE-th of ``names`` (in order), all by default."""
    return list(names)[::max(1, int(os.environ.get("IPTRAF_CORPUS_STRIDE", "1")))]


def is_pcapng(name):
    with open(os.path.join(CORPUS, name), "rb") as f:
        return f.read(4) == b"\x0a\x0d\x0d\x0a"


def truth_rows(name, custom_blocks=False):
    """tshark's per-frame truth of one capture, a dict per frame, in file order (with
    the rows of pcapng custom blocks only when asked)."""
    with open(os.path.join(TRUTH, name + ".tsv"), encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    if not lines:
        return []
    head = lines[0].split("\t")
    rows = [dict(zip(head, line.split("\t"))) for line in lines[1:] if line]
    if not custom_blocks and is_pcapng(name):
        rows = [row for row in rows if row.get("frame.interface_id")]
    return rows


def read_frames(path):
    """(every frame the file yields, the CaptureError that stopped it or None); any
    other exception propagates into the test."""
    frames = []
    try:
        with open_capture(path) as reader:
            for frame in reader.frames():
                frames.append(frame)
    except CaptureError as exc:
        return frames, exc
    return frames, None
