"""Label PNGs coloured by each data set's palette (spec.labels).

Predictions are written as palette ("P") PNGs: viewers show the colours,
while readers get the class indices back unchanged, as with VOC's own labels.
"""
import numpy as np
from PIL import Image

from prototxt_gen.cli_common import UserError, atomic_output
from prototxt_gen.spec.datasets import DATASETS
from prototxt_gen.spec.labels import IGNORE, IGNORE_COLOURS

from .images import read_label_image


def names(dataset):
    return [name for name, _ in DATASETS[dataset].palette]


def colours(dataset):
    """C x 3 uint8 RGB."""
    return np.array([rgb for _, rgb in DATASETS[dataset].palette], dtype=np.uint8)


def write_labels(path, labels, dataset):
    """H x W class indices -> palette PNG (index 255, "ignore", is white)."""
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    table = np.full((256, 3), 255, dtype=np.uint8)
    table[:len(DATASETS[dataset].palette)] = colours(dataset)
    image.putpalette(table.ravel().tolist())
    with atomic_output(path) as tmp:
        image.save(tmp, format="PNG")


def read_labels(path, dataset):
    """Class indices of a label PNG (upright by its EXIF orientation, as the
    images are): palette or grey images hold them directly;
    colour images are mapped back through the data set's colours; a colour
    outside that palette (and the ignore colours) is an error, since scoring it
    as "ignore" would give a wrong number."""
    try:
        image = read_label_image(path)
        if image.mode in ("P", "L", "I", "I;16"):
            return np.array(image).astype(np.int64)
        rgb = np.array(image.convert("RGB")).astype(np.int64)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise UserError("cannot read label image %s: %s" % (path, e))
    classes = len(DATASETS[dataset].palette)
    labels, found, keys = by_colour(
        rgb, np.concatenate([colours(dataset), np.array(IGNORE_COLOURS, np.uint8)]),
        list(range(classes)) + [IGNORE] * len(IGNORE_COLOURS))
    if not found.all():
        key = int(keys[~found][0])
        raise UserError("%s is a colour image with %d pixels in colours outside the %s palette "
                        "(e.g. RGB %d,%d,%d): write class indices (palette or grey PNG) or "
                        "use that data set's colours" % (path, int((~found).sum()), dataset,
                                                          key >> 16, (key >> 8) & 255, key & 255))
    return labels.astype(np.int64)


def colour_key(rgb):
    """One int64 per RGB triple (the last axis), to sort and look colours up by."""
    rgb = np.asarray(rgb, np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def by_colour(rgb, table, values):
    """Each pixel's value: values[i] where its colour is table[i].  -> (values,
    mask of the pixels whose colour is in the table, every pixel's colour key);
    the value of a pixel outside the table is meaningless."""
    known = colour_key(table)
    order = np.argsort(known)
    keys = colour_key(rgb)
    at = np.minimum(np.searchsorted(known[order], keys), len(known) - 1)
    return np.asarray(values)[order][at], known[order][at] == keys, keys
