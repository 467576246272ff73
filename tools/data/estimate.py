"""Disk and build time of an LMDB before it is written, from the inputs' headers
and per-record figures measured by benchmarks/bench_feed.py: so that a build
that cannot fit is refused before it starts, and `--dry-run` can say what a
data set will cost.

Raw, PNG level 0 and context records have a size known from their shape, so
the disk figure is an upper bound of the LMDB (data.mdb and lock.mdb), page
overhead included; PNG levels 1-9 compress by an amount only the build finds
out, so theirs is the measured typical size, beside the bound."""
import math
import os
import shutil

from PIL import Image, UnidentifiedImageError

from prototxt_gen.cli_common import UserError, file_problem

from ..images import read_image
from .image_records import record_side
from .validate import BadSample, DataError, load_scores

# LMDB's layout (mdb.c): pages of the OS page size (at most 64 KiB), each with a
# 16-byte header; a leaf node is an 8-byte header, the key and the value, or,
# when that exceeds NODEMAX, the number of the first of the whole overflow pages
# that hold the value; every node has a 2-byte slot in its page.
PAGE = min(os.sysconf("SC_PAGE_SIZE"), 1 << 16)
PAGE_HEADER, NODE_HEADER, SLOT, PAGE_NUMBER = 16, 8, 2, 8
NODEMAX = ((PAGE - PAGE_HEADER) // 2 & ~1) - SLOT
META_PAGES = 2
FREE_PAGES = 16         # the tree path and free list the last commits copied; reused, not summed
LOCK_FILE = 8192        # lock.mdb with LMDB's 126 reader slots
DATUM_HEADER = 32       # a Datum's fields around its data: channels, height, width, tags, lengths
# libpng's deflate, incompressible data at worst: stored blocks in IDAT chunks of
# 8 KiB, each with its 12-byte chunk frame and at most 8 bytes of block headers.
PNG_CHUNK, PNG_CHUNK_FRAME, PNG_FILE_FRAME = 8192, 20, 256

# Measured by benchmarks/bench_feed.py (synthetic VOC-sized photos, see the
# README): bytes on disk of a PNG record per byte of the raw record at levels
# 1-9 (level 1's ratio bounds 2-9 from above), and build rate in megabytes of
# raw record per CPU second (it scales with image size; level 1's rate bounds
# 2-9 from above).
PNG_SIZE_RATIO = 0.566
BUILD_MB_PER_CPU_S = {"raw": 433.0, "png0": 280.0, "png": 44.8, "context": 76.3}


def record_form(compression):
    return "raw" if compression is None else "png0" if compression == 0 else "png"


def image_shape(path, crop):
    """C x H x W of an image's record: the size from Pillow's reading of the
    header; a format Pillow does not know (e.g. Radiance .hdr) is decoded by the
    build's own decoder.  None if neither reads it."""
    try:
        with Image.open(path) as img:
            w, h = img.size  # an EXIF rotation swaps the sides, not their product
    except UnidentifiedImageError:
        try:
            h, w = read_image(path).shape[:2]
        except UserError:
            return None
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return 4, record_side(h, crop), record_side(w, crop)


def features_shape(path):
    """C x H x W of a score map's record (scores and label, never padded)."""
    try:
        c, h, w = load_scores(path, mmap_mode="r").shape
    except (BadSample, ValueError):
        return None
    return c + 1, h, w


def png_bytes(shape):
    """At most: rows of one filter byte and the pixels, stored without compression."""
    c, h, w = shape
    rows = h * (1 + c * w)
    return rows + math.ceil(rows / PNG_CHUNK) * PNG_CHUNK_FRAME + PNG_FILE_FRAME


def lmdb_bytes(values, keys):
    """At most the size of an LMDB of values and keys of these lengths: overflow
    pages, leaf pages at half their room (what a split leaves), as many branch
    pages, the meta pages, and the pages the last commits freed."""
    overflow = leaf = 0
    for value, key in zip(values, keys):
        if NODE_HEADER + key + value > NODEMAX:
            overflow += math.ceil((value + PAGE_HEADER) / PAGE)
            leaf += NODE_HEADER + key + PAGE_NUMBER + SLOT
        else:
            leaf += NODE_HEADER + key + value + SLOT
    leaf_pages = math.ceil(2 * leaf / (PAGE - PAGE_HEADER)) + 1
    pages = META_PAGES + overflow + 2 * leaf_pages + FREE_PAGES
    return pages * PAGE + LOCK_FILE


def estimate(samples, crop, compression=None, context=False):
    """{records, unreadable, bytes, bound, seconds}: LMDB size (`bound` at most,
    `bytes` the figure to expect) and CPU seconds to build it."""
    shapes = [None if file_problem(s.source)  # e.g. a FIFO, which would block the reading
              else features_shape(s.source) if context else image_shape(s.source, crop)
              for s in samples]
    found = [(shape, s) for shape, s in zip(shapes, samples) if shape is not None]
    raw = [math.prod(shape) * (4 if context else 1) for shape, _ in found]
    keys = [9 + len(s.name.encode()) for _, s in found]  # "%08d_<name>"
    form = "context" if context else record_form(compression)
    stored = [png_bytes(shape) for shape, _ in found] if form.startswith("png") else raw
    bound = lmdb_bytes([n + DATUM_HEADER for n in stored], keys)
    typical = (lmdb_bytes([int(n * PNG_SIZE_RATIO) + DATUM_HEADER for n in raw], keys)
               if form == "png" else bound)
    return dict(records=len(found), unreadable=len(samples) - len(found), bytes=typical,
                bound=bound, seconds=sum(raw) / 1e6 / BUILD_MB_PER_CPU_S[form])


def describe(path, guess):
    amount = ("at most %s" % size(guess["bound"]) if guess["bytes"] == guess["bound"] else
              "about %s (at most %s)" % (size(guess["bytes"]), size(guess["bound"])))
    text = "%s: %s for %d records, built in about %s of CPU time" % (
        path, amount, guess["records"], duration(guess["seconds"]))
    if guess["unreadable"]:
        text += " (%d inputs unreadable or missing, not counted)" % guess["unreadable"]
    return text


def size(n):
    """Rounded up, so that a bound stays one."""
    unit, name = (1e9, "GB") if n >= 1e9 else (1e6, "MB")
    return "%.1f %s" % (math.ceil(n / unit * 10) / 10, name)


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
