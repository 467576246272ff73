"""COCO -> VOC labels for the paper's COCO-augmented front end (docs/design.md, Training sets):
every image with at least one (non-crowd) object of a VOC category, those
objects under their VOC index, everything else background, crowd regions 255.

Labels are written once as VOC-style palette PNGs beside the LMDBs, so the
LMDB build reads COCO exactly as it reads VOC.

The instances file is checked here, not by pycocotools (used for its masks
only), because real files hold what pycocotools fails on or misreads: an
annotation without a region (`segmentation: []`, or none) or of an image the
file does not list is left out and counted, as COCO's tools leave it out; so
is a polygon of fewer than 3 points, which pycocotools would take for a box.
Anything that would change a label (a missing category, an image size that is
no size, a malformed polygon or RLE) stops the build with one line naming the
annotation or image.
"""
import collections
import json
import math
import os

import numpy as np
from pycocotools import mask as masks
from tqdm import tqdm

from prototxt_gen.spec.labels import IGNORE

from ..palettes import write_labels
from .parallel import ordered_map
from .samples import Sample, unique
from .validate import DataError

# COCO category name -> VOC class index.  Matched by name: COCO's ids are not VOC's,
# and six of the names differ (aeroplane, diningtable, motorbike, pottedplant, sofa, tvmonitor).
VOC_INDEX = {
    "airplane": 1, "bicycle": 2, "bird": 3, "boat": 4, "bottle": 5, "bus": 6, "car": 7,
    "cat": 8, "chair": 9, "cow": 10, "dining table": 11, "dog": 12, "horse": 13,
    "motorcycle": 14, "person": 15, "potted plant": 16, "sheep": 17, "couch": 18,
    "train": 19, "tv": 20,
}
POLYGON_MIN = 6  # numbers: 3 points; pycocotools reads 4 numbers as a box


def whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


def number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_annotations(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise DataError("cannot read COCO annotations %s: %s" % (path, e.strerror or e))
    except ValueError as e:
        raise DataError("COCO annotations %s are not JSON: %s" % (path, e))
    if not isinstance(data, dict) or not all(
            isinstance(data.get(key), list) for key in ("images", "annotations", "categories")):
        raise DataError("%s is not a COCO instances file: a JSON object with the lists images, "
                        "annotations and categories" % path)
    return data


def category_map(categories, where):
    """COCO category id -> VOC index (None for the other categories)."""
    ids = {}
    for c in categories:
        if not (isinstance(c, dict) and whole(c.get("id")) and isinstance(c.get("name"), str)):
            raise DataError("%s: category %s lacks a whole-number id or a name"
                            % (where, json.dumps(c)[:80]))
        ids[c["name"]] = c["id"]
    absent = sorted(set(VOC_INDEX) - set(ids))
    if absent:
        raise DataError("%s lacks the COCO categories %s: not a COCO instances file"
                        % (where, ", ".join(absent)))
    voc_of = dict.fromkeys(ids.values())
    voc_of.update({ids[name]: index for name, index in VOC_INDEX.items()})
    return voc_of


def image_table(images, where):
    """id -> image entry; a repeated id makes annotations ambiguous."""
    table = {}
    for image in images:
        key = image.get("id") if isinstance(image, dict) else None
        if not whole(key):
            raise DataError("%s: image entry %s has no whole-number id"
                            % (where, json.dumps(image)[:80]))
        if key in table:
            raise DataError("%s: image id %d is listed twice" % (where, key))
        table[key] = image
    return table


def check_image(image, where):
    """An image some object is painted into needs a file and a size."""
    problems = ["%s is %s, not a positive whole number of pixels"
                % (side, json.dumps(image.get(side)))
                for side in ("height", "width") if not (whole(image.get(side)) and image[side] > 0)]
    if not (isinstance(image.get("file_name"), str) and image["file_name"]):
        problems.append("file_name is %s" % json.dumps(image.get("file_name")))
    if problems:
        raise DataError("COCO image %d in %s: %s; fix or remove it"
                        % (image["id"], where, "; ".join(problems)))


class Malformed(Exception):
    """What is wrong with one annotation."""


def polygons(segmentation, dropped):
    """The polygons of 3 or more points; shorter ones have no area and are dropped."""
    kept = []
    for polygon in segmentation:
        if not (isinstance(polygon, list) and all(number(v) for v in polygon)):
            raise Malformed("a polygon is %s, not a list of x, y numbers"
                            % json.dumps(polygon)[:60])
        if len(polygon) % 2:
            raise Malformed("a polygon has %d numbers, not x, y pairs" % len(polygon))
        if len(polygon) < POLYGON_MIN:
            dropped["polygons of fewer than 3 points (left out)"] += 1
        else:
            kept.append(polygon)
    return kept


def region(annotation, image, dropped):
    """The annotation's segmentation in a form pycocotools' masks take, or None
    when it has no region."""
    segmentation = annotation.get("segmentation")
    if not segmentation:  # absent, null, [] or {}
        return None
    h, w = image["height"], image["width"]
    if isinstance(segmentation, list):
        kept = polygons(segmentation, dropped)
        return masks.merge(masks.frPyObjects(kept, h, w)) if kept else None
    if not isinstance(segmentation, dict):
        raise Malformed("segmentation is %s, neither polygons nor RLE"
                        % json.dumps(segmentation)[:60])
    if segmentation.get("size") != [h, w]:
        raise Malformed("its RLE size %s is not the image's [%d, %d]"
                        % (json.dumps(segmentation.get("size")), h, w))
    counts = segmentation.get("counts")
    if isinstance(counts, list):
        if not (all(whole(n) and n >= 0 for n in counts) and sum(counts) == h * w):
            raise Malformed("its RLE counts are not run lengths that add up to %d x %d pixels"
                            % (h, w))
        return masks.frPyObjects(segmentation, h, w)
    if not isinstance(counts, str):
        raise Malformed("its RLE counts are %s" % json.dumps(counts)[:60])
    return segmentation


def objects_by_image(data, images, voc_of, where):
    """{image id: [(VOC index or IGNORE for crowd, RLE)]} of every annotation
    that paints a label, and the counts of those left out."""
    found, dropped = collections.defaultdict(list), collections.Counter()
    for position, annotation in enumerate(data["annotations"]):
        try:
            painted = paint(annotation, images, voc_of, where, dropped)
        except Malformed as e:
            name = annotation.get("id") if isinstance(annotation, dict) else None
            raise DataError("COCO annotation %s in %s: %s; fix or remove it" % (
                "number %d (no id)" % position if name is None else json.dumps(name), where, e))
        if painted:
            found[painted[0]].append(painted[1:])
    return found, dropped


def paint(annotation, images, voc_of, where, dropped):
    """(image id, VOC index or IGNORE for a crowd, RLE) of one annotation, or
    None for one that paints nothing (another category, or left out)."""
    if not isinstance(annotation, dict):
        raise Malformed("it is not a JSON object")
    crowd = annotation.get("iscrowd", 0)  # absent: not a crowd, as COCOeval reads it
    if crowd not in (0, 1):
        raise Malformed("iscrowd is %s, not 0 or 1" % json.dumps(crowd))
    for key in ("image_id",) + (() if crowd else ("category_id",)):
        if key not in annotation:
            raise Malformed("it has no %s" % key)
        if not whole(annotation[key]):
            raise Malformed("%s is %s, not a whole number" % (key, json.dumps(annotation[key])))
    category = annotation.get("category_id")
    if not crowd and category not in voc_of:
        raise Malformed("category_id %d is not one of the file's categories" % category)
    if not crowd and voc_of[category] is None:
        return None  # background
    image = images.get(annotation["image_id"])
    if image is None:
        dropped["annotations of images the file does not list (left out)"] += 1
        return None
    check_image(image, where)
    rle = region(annotation, image, dropped)
    if rle is None:
        dropped["annotations without a region (left out)"] += 1
        return None
    return image["id"], IGNORE if crowd else voc_of[category], rle


def voc_label(image, objects):
    """Larger objects are painted first, so smaller ones in front of them stay
    visible (sizes from the masks: a file's `area` may be missing or null);
    crowd regions (of any category) last, as 255."""
    label = np.zeros((image["height"], image["width"]), np.uint8)
    painted = [o for o in objects if o[0] != IGNORE]
    for index, rle in sorted(painted, key=lambda o: masks.area(o[1]), reverse=True):
        label[masks.decode(rle) > 0] = index
    for index, rle in objects:
        if index == IGNORE:
            label[masks.decode(rle) > 0] = IGNORE
    return label


def coco_samples(annotations, images, label_dir, workers=None, force=False, dry_run=False):
    """Writes <label_dir>/<image name>.png for each kept image (existing ones are
    kept unless `force`; none with `dry_run`); returns (samples, counts)."""
    data = read_annotations(annotations)
    voc_of = category_map(data["categories"], annotations)
    table = image_table(data["images"], annotations)
    objects, dropped = objects_by_image(data, table, voc_of, annotations)
    kept = [table[i] for i in sorted(objects) if any(o[0] != IGNORE for o in objects[i])]
    stems = [os.path.splitext(img["file_name"])[0] for img in kept]
    samples = unique([Sample(stem, os.path.join(images, img["file_name"]),
                             os.path.join(label_dir, stem + ".png"))
                      for stem, img in zip(stems, kept)], annotations)
    counts = dict({"images": len(table), "with VOC objects": len(kept)}, **dropped)
    if dry_run:
        return samples, counts
    todo = [(img, s.label) for img, s in zip(kept, samples) if force or not os.path.isfile(s.label)]
    os.makedirs(label_dir, exist_ok=True)

    def write(item):
        img, path = item
        write_labels(path, voc_label(img, objects[img["id"]]), "pascal_voc")  # whole or not at all

    for _, done in tqdm(ordered_map(write, todo, workers), total=len(todo), desc="COCO labels",
                        unit="label", disable=None):
        done.result()
    return samples, dict(counts, **{"labels written": len(todo)})
