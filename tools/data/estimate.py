"""Disk and build time of an LMDB before it is written, from the inputs' headers
and per-record figures measured by benchmarks/bench_feed.py: so that a build
that cannot fit is refused before it starts, and `--dry-run` can say what a
data set will cost."""
import math
import os
import shutil

import numpy as np
from PIL import Image

from .image_records import record_side
from .validate import DataError

PAGE = 4096
PAGE_HEADER = 16  # LMDB stores a large value in whole overflow pages after a header

# Measured by benchmarks/bench_feed.py (synthetic VOC-sized photos, see the
# README): bytes on disk of a PNG record per byte of the raw record (level 1's
# ratio bounds levels 2-9 from above), and build rate in megabytes of raw record
# per CPU second (it scales with image size; level 1's rate bounds 2-9 from above).
PNG_SIZE_RATIO = {0: 1.002, 1: 0.566}
BUILD_MB_PER_CPU_S = {"raw": 433.0, "png0": 280.0, "png": 44.8, "context": 76.3}


def record_form(compression):
    return "raw" if compression is None else "png0" if compression == 0 else "png"


def stored_bytes(value_bytes):
    return math.ceil((value_bytes + PAGE_HEADER) / PAGE) * PAGE


def image_bytes(path, crop):
    """Raw record bytes of one image, read from its header only."""
    try:
        with Image.open(path) as img:
            w, h = img.size
    except OSError:
        return None
    return 4 * record_side(h, crop) * record_side(w, crop)


def features_bytes(path):
    """Float record bytes of one score map (scores and label, never padded)."""
    try:
        c, h, w = np.load(path, mmap_mode="r", allow_pickle=False).shape
    except (OSError, ValueError):
        return None
    return 4 * (c + 1) * h * w


def estimate(samples, crop, compression=None, context=False):
    """{records, unreadable, bytes, seconds}: LMDB size and CPU seconds to build it."""
    raw = [features_bytes(s.source) if context else image_bytes(s.source, crop) for s in samples]
    found = [n for n in raw if n is not None]
    form = "context" if context else record_form(compression)
    ratio = 1.0 if form in ("raw", "context") else PNG_SIZE_RATIO[min(compression, 1)]
    disk = sum(stored_bytes(int(n * ratio)) for n in found)
    return dict(records=len(found), unreadable=len(raw) - len(found), bytes=disk,
                seconds=sum(found) / 1e6 / BUILD_MB_PER_CPU_S[form])


def describe(path, guess):
    text = "%s: about %s for %d records, built in about %s of CPU time" % (
        path, size(guess["bytes"]), guess["records"], duration(guess["seconds"]))
    if guess["unreadable"]:
        text += " (%d inputs unreadable or missing, not counted)" % guess["unreadable"]
    return text


def size(n):
    return "%.1f GB" % (n / 1e9) if n >= 1e9 else "%.1f MB" % (n / 1e6)


def duration(seconds):
    return "%d min" % math.ceil(seconds / 60) if seconds >= 60 else "%d s" % math.ceil(seconds)


def existing_folder(path):
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    return folder


def check_space(path, guess):
    """Refuses a build that cannot fit, before a byte is written: the new LMDB
    is complete before an old one at `path` is removed, so it needs all of it."""
    folder = existing_folder(path)
    free = shutil.disk_usage(folder).free
    if guess["bytes"] > free:
        raise DataError("%s needs about %s but %s has %s free (%s short): free space, "
                        "choose another --lmdb-root, or use --compression 1-9"
                        % (path, size(guess["bytes"]), folder, size(free),
                           size(guess["bytes"] - free)))
