"""KITTI as the authors used it: the semantic labels of Ros et al. 2015
("Vision-based offline-online perception paradigm for autonomous driving",
WACV 2015), the 11 CamVid classes in the CamVid colours, on frames of KITTI's
odometry sequences.  That data set comes as one folder (KITTI_SEMANTIC/) with
Training_00/ (sequence 00: the training set) and Validation_07/ (sequence 07:
the validation set), each holding RGB/ (images) and GT/ (labels of the same
file names, colour-coded in the CamVid colours, black = void).  Labels already
in the released model's order (palette PNGs with its colours) are taken too.

KITTI's own semantic benchmark (data_semantics: training/image_2 and
training/semantic, Cityscapes-convention labelIds) is another labelling and is
refused by name.
"""
import os

from prototxt_gen.cli_common import shown

from .camvid import INDICES, TAKEN, label_form
from .conventions import KITTI_FIX
from .lists import Found, folder_pairs, located
from .samples import Sample, unique
from .validate import DataError

SPLITS = {"train": "Training_00", "val": "Validation_07"}
ROOT_HINT = ("the folder of Ros et al.'s KITTI labels (KITTI_SEMANTIC/, holding Training_00/ and "
             "Validation_07/, each with RGB/ and GT/) or the folder holding it")


def refuse_benchmark(root):
    """KITTI's 2018 semantic benchmark, found by its folder names."""
    for folder in (root, os.path.join(root, "training")):
        if all(os.path.isdir(os.path.join(folder, d)) for d in ("image_2", "semantic")):
            raise DataError("%s is KITTI's 2018 semantic benchmark (image_2/, semantic/), whose "
                            "labels are Cityscapes-convention labelIds, not the authors' 11-class "
                            "labels: %s" % (shown(folder), KITTI_FIX))


def kitti_sets(root):
    """-> Found: Training_00 as train, Validation_07 as val."""
    refuse_benchmark(root)
    root = located(root, [os.path.join(folder, sub) for folder in SPLITS.values()
                          for sub in ("RGB", "GT")], ROOT_HINT, nested="KITTI_SEMANTIC")
    splits, counts = {}, {}
    for split, folder in SPLITS.items():
        images = os.path.join(root, folder, "RGB")
        samples = [Sample(os.path.splitext(os.path.basename(image))[0], image, label)
                   for image, label in folder_pairs(images, os.path.join(root, folder, "GT"),
                                                    "kitti")]
        splits[split] = unique(samples, images)
        counts["KITTI " + folder] = {"pairs": len(samples)}
    form = label_form([s for samples in splits.values() for s in samples], "kitti")
    if form == INDICES:
        raise DataError("the KITTI labels (e.g. %s) are grey class indices, in an order the "
                        "importer cannot know: it takes Ros et al.'s GT/ as distributed "
                        "(colour-coded in the CamVid colours) or palette PNGs in the released "
                        "model's order" % shown(splits["train"][0].label))
    taken, convert = TAKEN[form]
    return Found(splits, taken, convert, counts)
