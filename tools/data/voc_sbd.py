"""The paper's Pascal VOC sets (docs/design.md, Training sets): training = VOC 2012 train
+ SBD train + SBD val with every VOC 2012 val image removed, each image once;
validation = VOC 2012 val.

An image in both VOC train and SBD keeps its VOC label (finer, with 255 on
object boundaries).
"""
import os

from prototxt_gen.cli_common import read_lines

from .samples import Sample, files, unique
from .validate import DataError


def _ids(path, hint):
    if not os.path.isfile(path):
        raise DataError("missing %s (%s)" % (path, hint))
    return [line.split()[0] for line in read_lines(path)]


def voc_list(voc, split):
    return os.path.join(voc, "ImageSets", "Segmentation", split + ".txt")


def sbd_list(sbd, split):
    return os.path.join(sbd, "dataset", split + ".txt")


def voc_samples(voc, split):
    """VOC2012/ImageSets/Segmentation/<split>.txt with JPEGImages/ and SegmentationClass/."""
    ids = _ids(voc_list(voc, split), "--voc is the VOC2012 directory, the one holding JPEGImages/")
    return unique([Sample(i, os.path.join(voc, "JPEGImages", i + ".jpg"),
                          os.path.join(voc, "SegmentationClass", i + ".png")) for i in ids],
                  split + ".txt")


def sbd_samples(sbd, split):
    """SBD's dataset/<split>.txt with dataset/img/*.jpg and dataset/cls/*.mat."""
    root = os.path.join(sbd, "dataset")
    ids = _ids(sbd_list(sbd, split),
               "--sbd is SBD's benchmark_RELEASE directory, the one holding dataset/")
    return unique([Sample(i, os.path.join(root, "img", i + ".jpg"),
                          os.path.join(root, "cls", i + ".mat")) for i in ids],
                  sbd_list(sbd, split))


def voc_sets(voc, sbd):
    """-> (train samples, val samples, {source: counts}) for printing and the manifest."""
    val = voc_samples(voc, "val")
    val_names = {s.name for s in val}
    taken = set(val_names)
    train, counts = [], {}
    for source, samples in (("VOC 2012 train", voc_samples(voc, "train")),
                            ("SBD train", sbd_samples(sbd, "train")),
                            ("SBD val", sbd_samples(sbd, "val"))):
        added = []
        for s in samples:
            if s.name not in taken:
                taken.add(s.name)
                added.append(s)
        in_val = sum(s.name in val_names for s in samples)
        counts[source] = {"listed": len(samples), "added": len(added), "in VOC val": in_val,
                          "duplicates": len(samples) - len(added) - in_val}
        train.extend(added)
    counts["VOC 2012 val"] = {"listed": len(val)}
    return train, val, counts


def voc_inputs(voc, sbd):
    """Every file the VOC + SBD LMDBs are built from: the four id lists (their
    order is the validation set's record order) and each image and label."""
    train, val, _ = voc_sets(voc, sbd)
    return ([voc_list(voc, split) for split in ("train", "val")]
            + [sbd_list(sbd, split) for split in ("train", "val")] + files(train + val))
