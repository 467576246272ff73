"""Cityscapes as downloaded (leftImg8bit_trainvaltest.zip, gtFine_trainvaltest.zip):
leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png and
gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png.

The labels hold labelIds (34 classes); the released model predicts the 19
train ids, so they are mapped with the official table (cityscapesscripts),
every id without a train id to 255.  The evaluation keeps scoring the original
labelIds (with the instanceIds beside them), as the official scripts do.  The
test split's labels are placeholders: only its images are listed.
"""
import functools
import os

from prototxt_gen.cli_common import shown

from ..evaluate.cityscapes import Tables
from .conventions import LABEL_IDS, present
from .lists import Found, located
from .samples import Sample, unique
from .validate import BadSample, DataError, read_label

IMAGES, LABELS = "leftImg8bit", "gtFine"
IMAGE_END, LABEL_END = "_leftImg8bit.png", "_gtFine_labelIds.png"
LABELLED, UNLABELLED = ("train", "val"), ("test",)
ROOT_HINT = ("the Cityscapes folder holding leftImg8bit/ and gtFine/ (as the two zips unpack), or "
             "the folder holding cityscapes/")
CONVENTION = ("Cityscapes labelIds (*_gtFine_labelIds.png): mapped to the 19 train ids with "
              "cityscapesscripts' table, ids without one -> 255; pairs score the original labelIds")

@functools.lru_cache(maxsize=None)
def tables():
    """cityscapesscripts' table, as tools.evaluate scores with it."""
    return Tables("tools.data cityscapes")


def train_ids(path):
    """A *_gtFine_labelIds.png -> train ids."""
    label = read_label(path)
    stray = sorted(present(label) - LABEL_IDS)
    if stray:
        raise BadSample("label %s holds %s, not Cityscapes labelIds (0..%d)"
                        % (path, ", ".join(map(str, stray[:5])), max(LABEL_IDS)))
    return tables().train_of_label[label]


def _images(folder):
    """{name: image path} of leftImg8bit/<split>/<city>/*_leftImg8bit.png."""
    found = {}
    for city in sorted(os.listdir(folder)):
        city_folder = os.path.join(folder, city)
        if not os.path.isdir(city_folder):
            continue
        for name in sorted(os.listdir(city_folder)):
            if name.endswith(IMAGE_END):
                found[name[:-len(IMAGE_END)]] = os.path.join(city_folder, name)
    return found


def cityscapes_sets(root):
    """-> Found: train and val with their labelIds, test (where present) without labels."""
    root = located(root, [os.path.join(d, s) for d in (IMAGES, LABELS) for s in LABELLED],
                   ROOT_HINT, nested="cityscapes")
    splits, counts = {}, {}
    for split in LABELLED + UNLABELLED:
        folder = os.path.join(root, IMAGES, split)
        if split in UNLABELLED and not os.path.isdir(folder):
            continue
        images = _images(folder)
        if not images:
            raise DataError("%s holds no <city>/*%s images" % (shown(folder), IMAGE_END))
        samples = []
        for name, image in images.items():
            label = None
            if split in LABELLED:
                city = os.path.basename(os.path.dirname(image))
                label = os.path.join(root, LABELS, split, city, name + LABEL_END)
                if not os.path.isfile(label):
                    raise DataError("image %s has no label %s" % (shown(image), shown(label)))
            samples.append(Sample(name, image, label))
        splits[split] = unique(samples, folder)
        counts["Cityscapes " + split] = {
            "images": len(samples), "cities": len({os.path.dirname(s.source) for s in samples})}
    return Found(splits, CONVENTION, train_ids, counts, score_official=True)
