"""Labels in another convention, caught by name.  Such labels are often valid
class indices in form, so no per-pixel check catches them: Cityscapes labelIds
read as train ids make the ego vehicle "sidewalk" and road "sign"; SegNet's
CamVid read in the released model's order makes sky "tree".  A finding is one
line naming the convention and the importer that converts it.  It concerns the
whole data set, so callers raise it for the whole build and never offer
--skip-bad.

The file name is looked at first (no decoding); values only where they are
impossible in the data set's own convention and are exactly another's.
"""
import os
import re

import numpy as np
from cityscapesscripts.helpers.labels import labels as cityscapes_labels

from prototxt_gen.spec.labels import SEGNET_VOID

LABEL_IDS = frozenset(label.id for label in cityscapes_labels if label.id >= 0)  # 0..33
TRAIN_IDS = 19
CITYSCAPES_FILE = re.compile(r"_gtFine_(labelIds|instanceIds|color)\.png$")
CAMVID_ORIGINAL_FILE = re.compile(r"_L\.png$", re.IGNORECASE)
KITTI_SEMANTIC_FOLDERS = ("semantic", "semantic_rgb", "instance")
ELEVEN_CLASSES = ("camvid", "kitti")

CITYSCAPES_FIX = ("python -m tools.data cityscapes --root DIR (DIR holds leftImg8bit/ and gtFine/) "
                  "converts them to train ids")
SEGNET_FIX = ("python -m tools.data camvid --root DIR (DIR: SegNet's CamVid/ with train.txt, "
              "trainannot/, ...) converts them to the released model's order")
KITTI_FIX = ("python -m tools.data kitti --root DIR takes the authors' 11-class KITTI labels "
             "(Ros et al. 2015: Training_00/, Validation_07/)")


def convention_problem(label, path, dataset):
    """One line when the label file `path` (with `label`, its decoded values, when
    given; None looks at the name only) is in another convention than the data
    set `dataset`'s class indices, naming the importer that converts it; else None."""
    return _by_name(path, dataset) or (None if label is None else _by_values(label, path, dataset))


def _by_name(path, dataset):
    name = os.path.basename(path)
    if CITYSCAPES_FILE.search(name):
        return ("%s is one of Cityscapes' own label files, whose values are labelIds, not the "
                "19 train ids: %s" % (path, CITYSCAPES_FIX))
    if dataset not in ELEVEN_CLASSES:
        return None
    if CAMVID_ORIGINAL_FILE.search(name):
        return ("%s is a colour label of the original CamVid release (32 classes, *_L.png), "
                "another convention: python -m tools.data camvid --root DIR takes the 11-class "
                "CamVid of SegNet's tutorial (CamVid/ with train.txt, trainannot/, ...)" % path)
    folder = os.path.dirname(os.path.abspath(path))
    if (os.path.basename(folder) in KITTI_SEMANTIC_FOLDERS
            and os.path.isdir(os.path.join(os.path.dirname(folder), "image_2"))):
        return ("%s is a label of KITTI's 2018 semantic benchmark (data_semantics), whose "
                "values are Cityscapes-convention labelIds, not the 11 CamVid classes: %s"
                % (path, KITTI_FIX))
    return None


def present(label):
    """The values a label array holds, as a set of ints."""
    label = np.asarray(label)
    if label.dtype == np.uint8:
        return set(np.flatnonzero(np.bincount(label.ravel(), minlength=256)).tolist())
    return set(np.unique(label).tolist())


def _by_values(label, path, dataset):
    values = present(label)
    if not values:
        return None
    shown = ", ".join(map(str, sorted(values)[-5:]))
    if dataset == "cityscapes":
        if values <= LABEL_IDS and max(values) >= TRAIN_IDS:
            return ("label %s holds %s: Cityscapes labelIds (as in *_gtFine_labelIds.png), not "
                    "the 19 train ids (0..18, 255): %s" % (path, shown, CITYSCAPES_FIX))
    elif dataset in ELEVEN_CLASSES:
        if values <= set(range(SEGNET_VOID + 1)) and SEGNET_VOID in values:
            return ("label %s holds %d, the void of SegNet's CamVid: its labels are in SegNet's "
                    "class order, not the released model's: %s" % (path, SEGNET_VOID, SEGNET_FIX))
        if values <= LABEL_IDS and max(values) > SEGNET_VOID:
            return ("label %s holds %s, not classes of %s (0..%d, 255 ignored): labels of "
                    "another data set, or Cityscapes-convention labelIds such as KITTI's 2018 "
                    "semantic benchmark's semantic/ PNGs? %s"
                    % (path, shown, dataset, SEGNET_VOID - 1, KITTI_FIX))
    return None
