"""COCO -> VOC labels for the paper's COCO-augmented front end (docs/design.md, Training sets):
every image with at least one (non-crowd) object of a VOC category, those
objects under their VOC index, everything else background, crowd regions 255.

Labels are written once as VOC-style palette PNGs beside the LMDBs, so the
LMDB build reads COCO exactly as it reads VOC.
"""
import os

import numpy as np
from pycocotools.coco import COCO
from tqdm import tqdm

from prototxt_gen.spec.labels import IGNORE

from ..palettes import write_labels
from .parallel import ordered_map
from .samples import Sample
from .validate import DataError

# COCO category name -> VOC class index.  Matched by name: COCO's ids are not VOC's,
# and six of the names differ (aeroplane, diningtable, motorbike, pottedplant, sofa, tvmonitor).
VOC_INDEX = {
    "airplane": 1, "bicycle": 2, "bird": 3, "boat": 4, "bottle": 5, "bus": 6, "car": 7,
    "cat": 8, "chair": 9, "cow": 10, "dining table": 11, "dog": 12, "horse": 13,
    "motorcycle": 14, "person": 15, "potted plant": 16, "sheep": 17, "couch": 18,
    "train": 19, "tv": 20,
}


def category_map(coco, where):
    """COCO category id -> VOC index."""
    ids = {c["name"]: c["id"] for c in coco.loadCats(coco.getCatIds())}
    absent = sorted(set(VOC_INDEX) - set(ids))
    if absent:
        raise DataError("%s lacks the COCO categories %s: not a COCO instances file"
                        % (where, ", ".join(absent)))
    return {ids[name]: index for name, index in VOC_INDEX.items()}


def voc_label(coco, image, voc_of):
    """Larger objects are painted first, so smaller ones in front of them stay
    visible; crowd regions (of any category) last, as 255."""
    anns = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
    label = np.zeros((image["height"], image["width"]), np.uint8)
    objects = [a for a in anns if not a["iscrowd"] and a["category_id"] in voc_of]
    for a in sorted(objects, key=lambda a: a["area"], reverse=True):
        label[coco.annToMask(a) > 0] = voc_of[a["category_id"]]
    for a in anns:
        if a["iscrowd"]:
            label[coco.annToMask(a) > 0] = IGNORE
    return label


def coco_samples(annotations, images, label_dir, workers=None, force=False, dry_run=False):
    """Writes <label_dir>/<image name>.png for each kept image (existing ones are
    kept unless `force`; none with `dry_run`); returns (samples, counts)."""
    try:
        coco = COCO(annotations)
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as e:
        # pycocotools asserts that the file holds a JSON object
        raise DataError("cannot read COCO annotations %s: %s" % (
            annotations, str(e) or "not a JSON object with images, annotations and categories"))
    voc_of = category_map(coco, annotations)
    with_voc = {a["image_id"] for a in coco.loadAnns(coco.getAnnIds(catIds=list(voc_of),
                                                                    iscrowd=False))}
    kept = coco.loadImgs(sorted(with_voc))
    samples = []
    for img in kept:
        name = os.path.splitext(img["file_name"])[0]
        samples.append(Sample(name, os.path.join(images, img["file_name"]),
                              os.path.join(label_dir, name + ".png")))
    if dry_run:
        return samples, {"images": len(coco.getImgIds()), "with VOC objects": len(kept)}
    todo = [(img, s.label) for img, s in zip(kept, samples) if force or not os.path.isfile(s.label)]
    os.makedirs(label_dir, exist_ok=True)

    def write(item):
        img, path = item
        write_labels(path, voc_label(coco, img, voc_of), "pascal_voc")  # whole or not at all

    for _, done in tqdm(ordered_map(write, todo, workers), total=len(todo), desc="COCO labels",
                        unit="label", disable=None):
        done.result()
    return samples, {"images": len(coco.getImgIds()), "with VOC objects": len(kept),
                     "labels written": len(todo)}
