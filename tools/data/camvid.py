"""CamVid as almost everyone has it: the CamVid/ folder of SegNet's tutorial,
with train/, trainannot/, val/, valannot/, test/, testannot/ and train.txt,
val.txt, test.txt of "IMAGE LABEL" lines.  Those lines name the files as they
were on SegNet's machine (/SegNet/CamVid/train/0001TP_006690.png ...), so each
entry is found under --root by its last two path components; without a .txt the
folders are listed.

Its labels are grey class indices in SegNet's order with 11 for void; they are
remapped, by class name, to the released model's order with void 255.  Label
PNGs already in the released model's order (palette PNGs with its CamVid
colours) are used as they are, and labels colour-coded in those colours are
mapped to their classes (black is void).  The convention is decided once for
the whole data set, from the label files' mode and palette; a mix is an error.
"""
import os

import numpy as np
from PIL import Image

from prototxt_gen.cli_common import read_text, shown
from prototxt_gen.spec.labels import (CAMVID, CAMVID_VOID_COLOUR, IGNORE, IGNORE_COLOURS,
                                      SEGNET_CAMVID, SEGNET_VOID)

from ..images import read_label_image
from ..palettes import by_colour, colour_key
from .conventions import convention_problem, present
from .lists import Found, folder_pairs, located
from .samples import Sample, unique
from .validate import BadSample, DataError, read_label

SPLITS = ("train", "val", "test")
ORIGINAL = "LabeledApproved_full"  # the original release's label folder
ROOT_HINT = ("the CamVid/ folder of SegNet's tutorial (train/, trainannot/, val/, valannot/, "
             "test/, testannot/, train.txt ...) or the folder holding it")

# The forms a label file can have, by its mode and palette: the convention of
# a data set is the one form all its label files share.
RELEASED, INDICES, COLOUR = ("palette PNGs with the released model's CamVid colours",
                             "grey (or other palette) class indices",
                             "colour-coded in the CamVid colours")
NAMES = [name for name, _ in CAMVID]
# SegNet index -> the released model's, by class name; void and anything past it -> 255
SEGNET_TO_RELEASED = np.full(256, IGNORE, np.uint8)
SEGNET_TO_RELEASED[:len(SEGNET_CAMVID)] = [NAMES.index(name) for name in SEGNET_CAMVID]


# the colours of colour-coded labels and their classes (void and the ignore colours -> 255)
COLOURS = np.array([rgb for _, rgb in CAMVID] + [CAMVID_VOID_COLOUR] + list(IGNORE_COLOURS),
                   np.uint8)
COLOUR_CLASSES = np.array(list(range(len(CAMVID))) + [IGNORE] * (1 + len(IGNORE_COLOURS)),
                          np.uint8)
_PALETTE = [c for _, rgb in CAMVID for c in rgb]


def segnet_labels(path):
    """SegNet's grey labels -> the released model's class indices."""
    label = read_label(path)
    stray = sorted(present(label) - set(range(SEGNET_VOID + 1)))
    if stray:
        problem = convention_problem(label, path, "camvid")
        if problem:
            raise DataError(problem)
        raise BadSample("label %s holds %s: SegNet's CamVid labels are 0..%d and %d for void"
                        % (path, ", ".join(map(str, stray[:5])), SEGNET_VOID - 1, SEGNET_VOID))
    return SEGNET_TO_RELEASED[label]


def colour_labels(path):
    """Labels colour-coded in the CamVid colours -> class indices."""
    try:
        rgb = np.asarray(read_label_image(path).convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise BadSample("cannot read label %s: %s" % (path, e))
    labels, known, keys = by_colour(rgb, COLOURS, COLOUR_CLASSES)
    if not known.all():
        key = int(keys[~known][0])
        raise BadSample("label %s has %d pixels in colours outside the 11 CamVid colours and "
                        "black (void), e.g. RGB %d,%d,%d: labels of another convention (the "
                        "original CamVid release's 32 classes?)" % (
                            path, int((~known).sum()), key >> 16, (key >> 8) & 255, key & 255))
    return labels


# form -> (convention taken, as printed; converter, None: used as they are)
TAKEN = {
    RELEASED: ("in the released model's order (palette PNGs with its colours), used as they are",
               None),
    INDICES: ("SegNet's CamVid (grey, SegNet's class order, 11 = void): remapped to the released "
              "model's order, void -> 255", segnet_labels),
    COLOUR: ("colour-coded in the released model's CamVid colours (black = void): mapped to "
             "class indices, void -> 255", colour_labels),
}


def file_form(path):
    """RELEASED, INDICES or COLOUR from the file's header (a palette PNG whose
    palette is not the released model's is decoded: if every colour it shows is
    a CamVid colour or black, it is colour-coded), None if it cannot be read
    (its sample then fails on its own, by name)."""
    try:
        with Image.open(path) as image:
            mode = image.mode
            if mode != "P":
                shown_colours = None
            elif (image.getpalette() or [])[:len(_PALETTE)] == _PALETTE:
                return RELEASED
            else:
                palette = np.array(image.getpalette(), np.uint8).reshape(-1, 3)
                used = np.flatnonzero(np.bincount(np.asarray(image).ravel(), minlength=256))
                shown_colours = palette[used[used < len(palette)]]
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    if mode == "P" and np.isin(colour_key(shown_colours), colour_key(COLOURS)).all():
        return COLOUR
    if mode in ("P", "L"):
        return INDICES
    if mode in ("RGB", "RGBA"):
        return COLOUR
    raise DataError("label %s has mode %s: neither class indices (palette or grey PNG) nor "
                    "colours" % (path, mode))


def label_form(samples, dataset):
    """The one form of a data set's label files, from every file's header (name
    first: a file of another convention is refused by its name)."""
    seen = {}
    for s in samples:
        problem = convention_problem(None, s.label, dataset)
        if problem:
            raise DataError(problem)
        form = file_form(s.label)
        if form:
            seen.setdefault(form, s.label)
    if len(seen) > 1:
        raise DataError("the %s labels mix conventions: %s; give them all in one" % (
            dataset, "; ".join("%s: %s" % (path, form) for form, path in seen.items())))
    return next(iter(seen), RELEASED)


def camvid_sets(root):
    """-> Found: train, val and, where present, test, in one convention."""
    if os.path.isdir(os.path.join(root, ORIGINAL)):
        raise DataError("%s is the original CamVid release (32-class colour labels, *_L.png), "
                        "another convention: --root is %s" % (shown(root), ROOT_HINT))
    root = located(root, ["train", "trainannot", "val", "valannot"], ROOT_HINT, nested="CamVid")
    splits, counts = {}, {}
    for split in SPLITS:
        pairs, source = _entries(root, split)
        if pairs is None:
            continue
        splits[split] = unique([Sample(os.path.splitext(os.path.basename(image))[0], image, label)
                                for image, label in pairs], source)
        counts["CamVid " + split] = {"pairs": len(pairs)}
    taken, convert = TAKEN[label_form([s for samples in splits.values() for s in samples], "camvid")]
    return Found(splits, taken, convert, counts)


def _entries(root, split):
    """([(image, label)], where they were listed) of a split, from <split>.txt or
    else by listing <split>/ and <split>annot/; (None, None) if it has neither."""
    listed = os.path.join(root, split + ".txt")
    if os.path.isfile(listed):
        return _listed(root, listed), listed
    images, labels = os.path.join(root, split), os.path.join(root, split + "annot")
    if not os.path.isdir(images):
        return None, None
    return folder_pairs(images, labels, "camvid"), images


def _listed(root, listed):
    """The "IMAGE LABEL" lines of SegNet's lists, each path found under `root` by
    its last two components (SegNet's lists name /SegNet/CamVid/train/...)."""
    pairs = []
    for number, line in enumerate(read_text(listed).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DataError("%s:%d: expected IMAGE LABEL, got %d fields" % (listed, number,
                                                                          len(fields)))
        found = []
        for field in fields:
            path = os.path.join(root, *field.replace("\\", "/").split("/")[-2:])
            if not os.path.isfile(path):
                raise DataError("%s:%d names %s, found under --root as %s, which does not "
                                "exist" % (listed, number, shown(field), shown(path)))
            found.append(path)
        pairs.append(tuple(found))
    if not pairs:
        raise DataError("%s lists no pairs" % listed)
    return pairs
