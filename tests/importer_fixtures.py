"""Small synthetic copies of Cityscapes, SegNet's CamVid and Ros et al.'s KITTI
(and of KITTI's 2018 semantic benchmark, which the importer refuses) in their
official layouts, for the importer tests and the end-to-end runs.  Contents are
deterministic (seeded); every labelled image holds every class value of its
convention at least once, in square blocks (CELL pixels, smaller where the
image is too small for one block of each value).  Callers may pass any size;
the defaults are the smallest the CI's real-Caffe runs take (crops of 388)."""
import math
import os

import cv2
import numpy as np
from cityscapesscripts.helpers.labels import labels as cityscapes_labels
from PIL import Image

from data_fixtures import smooth_image
from prototxt_gen.spec.labels import CAMVID, CAMVID_VOID_COLOUR, SEGNET_VOID
from tools.palettes import write_labels

CELL = 20
# Cityscapes: every labelId of the table; these have instances in *_gtFine_instanceIds.png
CITYSCAPES_IDS = sorted(label.id for label in cityscapes_labels if label.id >= 0)
INSTANCE_CLASSES = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
CITIES = {"train": ("aachen", "bochum"), "val": ("frankfurt",), "test": ("berlin",)}
# CamVid: the SegNet tutorial's file name prefixes per split (sequences of the real release)
CAMVID_SEQUENCES = {"train": "0001TP", "val": "0016E5", "test": "Seq05VD"}
SEGNET_PREFIX = "/SegNet/CamVid"
KITTI_FOLDERS = {"train": "Training_00", "val": "Validation_07"}


def cell(shape, count):
    """The side of the blocks: CELL, or less so that `count` blocks fit."""
    side = CELL
    while side > 1 and math.ceil(shape[0] / side) * math.ceil(shape[1] / side) < count:
        side -= 1
    return side


def blocks(rng, shape, values):
    """H x W uint16 of square blocks (side `cell`), each one of `values`, every
    value at least once if the image has as many pixels."""
    h, w = shape
    side = cell(shape, len(values))
    rows, cols = math.ceil(h / side), math.ceil(w / side)
    grid = np.concatenate([values, rng.choice(values, max(0, rows * cols - len(values)))])
    grid = rng.permutation(grid[:rows * cols]).reshape(rows, cols).astype(np.uint16)
    return np.repeat(np.repeat(grid, side, 0), side, 1)[:h, :w]


def write_photo(path, rng, shape):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, smooth_image(rng, *shape))


def write_png(path, array, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array, mode).save(path)


# ---- Cityscapes -----------------------------------------------------------------------------

def instance_ids(label_ids):
    """*_gtFine_instanceIds.png: labelId * 1000 + k for each block k of an instance
    class, the plain labelId elsewhere."""
    with_instances = {l.id for l in cityscapes_labels if l.name in INSTANCE_CLASSES}
    out = label_ids.astype(np.int32)
    h, w = label_ids.shape
    side, k = cell(label_ids.shape, len(CITYSCAPES_IDS)), 0
    for y in range(0, h, side):
        for x in range(0, w, side):
            block = out[y:y + side, x:x + side]
            if block[0, 0] in with_instances:
                block[...] = block[0, 0] * 1000 + k
                k += 1
    return out.astype(np.uint16)


def cityscapes_root(path, splits={"train": 2, "val": 2, "test": 1}, size=(200, 400), seed=0):
    """<path>/cityscapes as the two zips unpack: leftImg8bit/<split>/<city>/ and
    gtFine/<split>/<city>/ with *_gtFine_labelIds.png, *_gtFine_instanceIds.png and
    *_gtFine_color.png (test: the release's placeholder labels, all 0)."""
    root = os.path.join(str(path), "cityscapes")
    rng = np.random.default_rng(seed)
    colour = {l.id: l.color for l in cityscapes_labels}
    for split, count in splits.items():
        for i in range(count):
            city = CITIES[split][i % len(CITIES[split])]
            name = "%s_%06d_%06d" % (city, i, 19 + i)
            write_photo(os.path.join(root, "leftImg8bit", split, city, name + "_leftImg8bit.png"),
                        rng, size)
            ids = (np.zeros(size, np.uint16) if split == "test"
                   else blocks(rng, size, CITYSCAPES_IDS))
            stem = os.path.join(root, "gtFine", split, city, name + "_gtFine_")
            write_png(stem + "labelIds.png", ids.astype(np.uint8), "L")
            cv2.imwrite(stem + "instanceIds.png", instance_ids(ids))
            rgba = np.zeros(size + (4,), np.uint8)
            rgba[..., 3] = 255
            for value in np.unique(ids):
                rgba[ids == value, :3] = colour[int(value)]
            write_png(stem + "color.png", rgba, "RGBA")
    return root


# ---- CamVid (SegNet's tutorial) ---------------------------------------------------------

def camvid_label(rng, shape, form):
    """A label of the form: "segnet" (grey, SegNet's order, 11 void), "released"
    (palette PNG in the released model's order and colours, 255 void) or
    "colour" (RGB in the CamVid colours, black void)."""
    values = blocks(rng, shape, list(range(SEGNET_VOID + 1))).astype(np.uint8)
    if form == "segnet":
        return values
    values[values == SEGNET_VOID] = 255
    if form == "released":
        return values
    colours = np.array([rgb for _, rgb in CAMVID] + [CAMVID_VOID_COLOUR], np.uint8)
    return colours[np.where(values == 255, len(CAMVID), values)]


def write_camvid_label(path, label, form):
    if form == "released":
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_labels(path, label, "camvid")
    else:
        write_png(path, label, "L" if form == "segnet" else "RGB")


def camvid_root(path, splits={"train": 2, "val": 2, "test": 1}, size=(240, 320), form="segnet",
                lists=True, seed=0):
    """<path>/CamVid as SegNet's tutorial has it: <split>/ and <split>annot/ PNGs of
    the same names and, with `lists`, <split>.txt of "IMAGE LABEL" lines under
    SegNet's own absolute prefix /SegNet/CamVid.  `form`: see camvid_label."""
    root = os.path.join(str(path), "CamVid")
    rng = np.random.default_rng(seed)
    for split, count in splits.items():
        lines = []
        for i in range(count):
            name = "%s_%06d.png" % (CAMVID_SEQUENCES[split], 30 * (i + 1))
            write_photo(os.path.join(root, split, name), rng, size)
            write_camvid_label(os.path.join(root, split + "annot", name),
                               camvid_label(rng, size, form), form)
            lines.append("%s/%s/%s %s/%sannot/%s\n" % (SEGNET_PREFIX, split, name, SEGNET_PREFIX,
                                                      split, name))
        if lists:
            with open(os.path.join(root, split + ".txt"), "w") as f:
                f.write("".join(lines))
    return root


# ---- KITTI ------------------------------------------------------------------------------------

def kitti_root(path, splits={"train": 2, "val": 2}, size=(200, 480), form="colour", seed=0):
    """<path>/KITTI_SEMANTIC as Ros et al. distribute it: Training_00/ and
    Validation_07/, each with RGB/<frame>.png and GT/<frame>.png, GT colour-coded in
    the CamVid colours with black void (`form`: see camvid_label)."""
    root = os.path.join(str(path), "KITTI_SEMANTIC")
    rng = np.random.default_rng(seed)
    for split, count in splits.items():
        folder = os.path.join(root, KITTI_FOLDERS[split])
        for i in range(count):
            name = "%06d.png" % (10 * i + (0 if split == "train" else 5))
            write_photo(os.path.join(folder, "RGB", name), rng, size)
            write_camvid_label(os.path.join(folder, "GT", name), camvid_label(rng, size, form),
                               form)
    return root


def kitti_semantic_root(path, count=2, size=(200, 480), seed=0):
    """<path>/data_semantics: KITTI's 2018 semantic benchmark, training/image_2 and
    training/semantic (Cityscapes-convention labelIds), testing/image_2."""
    root = os.path.join(str(path), "data_semantics")
    rng = np.random.default_rng(seed)
    for i in range(count):
        name = "%06d_10.png" % i
        write_photo(os.path.join(root, "training", "image_2", name), rng, size)
        write_photo(os.path.join(root, "testing", "image_2", name), rng, size)
        write_png(os.path.join(root, "training", "semantic", name),
                  blocks(rng, size, CITYSCAPES_IDS).astype(np.uint8), "L")
    return root
