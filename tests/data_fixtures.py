"""A small synthetic Pascal VOC 2012, SBD and COCO in their real directory
layouts (JPEG images, palette PNG labels, SBD's GTcls .mat files, a COCO
instances JSON with polygons and an iscrowd RLE), with known contents, for
the data tool tests."""
import json
import math
import os
from dataclasses import dataclass, field

import cv2
import numpy as np
import scipy.sparse
from scipy.io import savemat

from tools.palettes import write_labels

CLASSES = 21
# Stored score maps are whole deploy tile outputs, as tools.features stores them:
# 6 x 6 cells per tile (a 420-pixel deploy tile), so every fixture image has one.
TILE_CELLS = 6
# id -> (height, width).  Padded by 186, 2007_000063 is still shorter than the
# tests' crops (388, 404), so it is padded again up to the crop; at crop 404 most are.
VOC_TRAIN = {"2007_000032": (30, 40), "2007_000039": (17, 31), "2007_000063": (12, 10)}
VOC_VAL = {"2007_000033": (24, 20), "2007_000042": (21, 26)}
# 2007_000039 is in VOC train too (VOC's label wins), 2007_000033 is VOC val
# (removed), 2008_000002 is in both SBD lists (kept once).
SBD_TRAIN = {"2007_000039": (17, 31), "2008_000002": (26, 22), "2007_000033": (24, 20)}
SBD_VAL = {"2008_000003": (20, 34), "2008_000002": (26, 22)}
TRAIN = [("voc", "2007_000032"), ("voc", "2007_000039"), ("voc", "2007_000063"),
         ("sbd", "2008_000002"), ("sbd", "2008_000003")]
VAL = [("voc", "2007_000033"), ("voc", "2007_000042")]

# COCO category ids of the real instances files (the 20 VOC ones, and two others).
COCO_CATEGORIES = {
    "person": 1, "bicycle": 2, "car": 3, "motorcycle": 4, "airplane": 5, "bus": 6, "train": 7,
    "boat": 9, "bird": 16, "cat": 17, "dog": 18, "horse": 19, "sheep": 20, "cow": 21,
    "giraffe": 25, "bottle": 44, "chair": 62, "couch": 63, "potted plant": 64,
    "dining table": 67, "tv": 72, "book": 84,
}
# image id -> (height, width, [(category, iscrowd, (x0, y0, x1, y1))]) in annotation order.
# Rectangles with integer corners cover rows y0..y1-1, columns x0..x1-1.
COCO_IMAGES = {
    9: (36, 44, [("dog", 0, (20, 10, 30, 22)), ("person", 0, (5, 5, 35, 30)),
                 ("giraffe", 0, (0, 28, 12, 36)), ("person", 1, (36, 0, 44, 12))]),
    25: (20, 24, [("giraffe", 0, (2, 2, 20, 18))]),       # no VOC object: dropped
    30: (20, 24, [("person", 1, (0, 0, 10, 10))]),        # VOC only as crowd: dropped
    34: (28, 30, [("tv", 0, (1, 1, 15, 12)), ("couch", 0, (10, 14, 29, 27)),
                  ("book", 0, (3, 3, 6, 6))]),
}
# The labels those annotations mean: largest object painted first, crowd 255.
COCO_VOC = {"dog": 12, "person": 15, "tv": 20, "couch": 18}
# pycocotools' mask decoding under NumPy 2; harmless, and not ours to fix.
COCO_NUMPY2 = "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"


@dataclass
class Fixture:
    root: str
    voc: str
    sbd: str
    coco_annotations: str
    coco_images: str
    images: dict = field(default_factory=dict)   # (tree, id) -> image path
    labels: dict = field(default_factory=dict)   # (tree, id) -> label path
    truth: dict = field(default_factory=dict)    # (tree, id) -> label array
    features: dict = field(default_factory=dict)  # (tree, id) -> .npy path (whole tiles)

    def image(self, key):
        """The image as every reader of it decodes it (JPEG is lossy)."""
        return cv2.imread(self.images[key], cv2.IMREAD_COLOR)

    def write_lists(self, keys, stem, inputs="images"):
        """Two parallel lists, as the authors' train_image.txt / train_label.txt."""
        paths = []
        for kind, table in ((inputs, getattr(self, inputs)), ("labels", self.labels)):
            paths.append(os.path.join(self.root, "%s_%s.txt" % (stem, kind)))
            with open(paths[-1], "w") as f:
                f.write("".join(table[k] + "\n" for k in keys))
        return paths


def smooth_image(rng, h, w, cell=4):
    """Photo-like content: noise upsampled from one value per `cell` pixels, plus grain."""
    small = rng.integers(0, 256, (max(2, h // cell), max(2, w // cell), 3)).astype(np.uint8)
    image = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    return np.clip(image + rng.integers(-12, 13, image.shape), 0, 255).astype(np.uint8)


def block_label(rng, h, w, boundaries):
    """Blocks of random classes; VOC-style 255 boundaries between them if asked."""
    label = rng.integers(0, CLASSES, (math.ceil(h / 4), math.ceil(w / 4))).astype(np.uint8)
    label = np.repeat(np.repeat(label, 4, 0), 4, 1)[:h, :w]
    if boundaries:
        label[::5, :] = 255
    return label


def write_sbd_mat(path, label):
    """SBD's dataset/cls/*.mat: struct GTcls with Boundaries (20 x 1 cell of sparse
    matrices), Segmentation (uint8 class indices) and CategoriesPresent."""
    boundaries = np.empty((20, 1), dtype=object)
    for c in range(20):
        boundaries[c, 0] = scipy.sparse.csc_matrix(label == c + 1)
    present = np.unique(label[(label > 0) & (label < 255)]).astype(np.uint8)[:, None]
    savemat(path, {"GTcls": {"Boundaries": boundaries, "Segmentation": label,
                             "CategoriesPresent": present}})


def uncompressed_rle(mask):
    """COCO's iscrowd segmentation: run lengths over the column-major mask, zeros first."""
    flat = mask.ravel(order="F")
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    runs = np.diff(bounds).tolist()
    return {"counts": runs if flat[0] == 0 else [0] + runs, "size": list(mask.shape)}


def coco_truth(h, w, objects):
    label = np.zeros((h, w), np.uint8)
    painted = sorted((o for o in objects if not o[1] and o[0] in COCO_VOC),
                     key=lambda o: (o[2][2] - o[2][0]) * (o[2][3] - o[2][1]), reverse=True)
    for name, _, (x0, y0, x1, y1) in painted:
        label[y0:y1, x0:x1] = COCO_VOC[name]
    for name, crowd, (x0, y0, x1, y1) in objects:
        if crowd:
            label[y0:y1, x0:x1] = 255
    return label


def write_coco(fx, rng):
    os.makedirs(fx.coco_images)
    images, annotations = [], []
    for image_id, (h, w, objects) in COCO_IMAGES.items():
        name = "COCO_train2014_%012d" % image_id
        fx.images[("coco", name)] = os.path.join(fx.coco_images, name + ".jpg")
        cv2.imwrite(fx.images[("coco", name)], smooth_image(rng, h, w))
        images.append({"id": image_id, "file_name": name + ".jpg", "height": h, "width": w})
        if any(c in COCO_VOC and not crowd for c, crowd, _ in objects):
            fx.truth[("coco", name)] = coco_truth(h, w, objects)
        for category, crowd, (x0, y0, x1, y1) in objects:
            if crowd:
                mask = np.zeros((h, w), np.uint8)
                mask[y0:y1, x0:x1] = 1
                segmentation = uncompressed_rle(mask)
            else:
                segmentation = [[x0, y0, x1, y0, x1, y1, x0, y1]]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": COCO_CATEGORIES[category], "iscrowd": crowd,
                                "segmentation": segmentation, "area": (x1 - x0) * (y1 - y0),
                                "bbox": [x0, y0, x1 - x0, y1 - y0]})
    os.makedirs(os.path.dirname(fx.coco_annotations))
    with open(fx.coco_annotations, "w") as f:
        json.dump({"info": {"description": "synthetic"}, "licenses": [], "images": images,
                   "annotations": annotations,
                   "categories": [{"id": i, "name": n, "supercategory": ""}
                                  for n, i in COCO_CATEGORIES.items()]}, f)


def make_fixture(root, seed=0):
    root = str(root)
    fx = Fixture(root, os.path.join(root, "VOCdevkit", "VOC2012"),
                 os.path.join(root, "benchmark_RELEASE"),
                 os.path.join(root, "coco", "annotations", "instances_train2014.json"),
                 os.path.join(root, "coco", "train2014"))
    rng = np.random.default_rng(seed)
    photos = {}  # one photo per id, in every tree that has it

    def photo(i, h, w):
        if i not in photos:
            photos[i] = smooth_image(rng, h, w)
        return photos[i]

    sbd = os.path.join(fx.sbd, "dataset")
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        os.makedirs(os.path.join(fx.voc, d))
    for d in ("img", "cls"):
        os.makedirs(os.path.join(sbd, d))
    for split, ids in (("train", VOC_TRAIN), ("val", VOC_VAL)):
        with open(os.path.join(fx.voc, "ImageSets", "Segmentation", split + ".txt"), "w") as f:
            f.write("".join(i + "\n" for i in ids))
        for i, (h, w) in ids.items():
            key = ("voc", i)
            fx.images[key] = os.path.join(fx.voc, "JPEGImages", i + ".jpg")
            fx.labels[key] = os.path.join(fx.voc, "SegmentationClass", i + ".png")
            fx.truth[key] = block_label(rng, h, w, boundaries=True)
            cv2.imwrite(fx.images[key], photo(i, h, w))
            write_labels(fx.labels[key], fx.truth[key], "pascal_voc")
    for split, ids in (("train", SBD_TRAIN), ("val", SBD_VAL)):
        with open(os.path.join(sbd, split + ".txt"), "w") as f:
            f.write("".join(i + "\n" for i in ids))
        for i, (h, w) in ids.items():
            key = ("sbd", i)
            if key in fx.truth:
                continue
            fx.images[key] = os.path.join(sbd, "img", i + ".jpg")
            fx.labels[key] = os.path.join(sbd, "cls", i + ".mat")
            fx.truth[key] = block_label(rng, h, w, boundaries=False)
            cv2.imwrite(fx.images[key], photo(i, h, w))
            write_sbd_mat(fx.labels[key], fx.truth[key])
    features = os.path.join(root, "scores")
    os.makedirs(features)
    for key in TRAIN + VAL:
        h, w = fx.truth[key].shape
        fx.features[key] = os.path.join(features, key[1] + ".npy")
        cells = [TILE_CELLS * math.ceil(n / (8 * TILE_CELLS)) for n in (h, w)]
        np.save(fx.features[key], rng.normal(size=(CLASSES, *cells)).astype(np.float32))
    write_coco(fx, rng)
    return fx
