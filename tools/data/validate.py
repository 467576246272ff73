"""Reading and checking inputs before they become records: Caffe would train on
a colour-coded label or a misaligned pair without complaint, so every pair is
read here and a bad one is reported by file name."""
import math
import os

import cv2
import numpy as np
from PIL import Image
from scipy.io import loadmat

from prototxt_gen.cli_common import UserError
from prototxt_gen.spec.grid import STRIDE
from prototxt_gen.spec.labels import IGNORE

from .. import images


class DataError(UserError):
    """Input that cannot be built from at all (missing tree, unequal lists)."""


class BadSample(DataError):
    """One pair that cannot become a record; `--skip-bad` leaves it out."""


def missing_files(samples):
    """{name: BadSample naming its first missing file}: found before any decoding,
    so a wrong path fails in seconds rather than mid-build."""
    missing = {}
    for s in samples:
        for role, path in (("input", s.source), ("label", s.label)):
            if not os.path.isfile(path):
                missing.setdefault(s.name, BadSample("missing %s (the %s of %s)"
                                                     % (path, role, s.name)))
    return missing


def read_image(path):
    """BGR uint8, as the authors' data layer reads it; corrupt data is an error."""
    try:
        return images.read_image(path)
    except UserError as e:
        raise BadSample(str(e))


def read_label(path):
    """Class indices: a PNG's palette indices (never its colours) or SBD's GTcls.Segmentation."""
    if path.endswith(".mat"):
        return _sbd_label(path)
    try:
        with Image.open(path) as img:
            if img.mode not in ("P", "L"):
                raise BadSample("label %s has mode %s, not class indices: labels are palette "
                                "or grayscale PNGs whose pixel values are the classes"
                                % (path, img.mode))
            return np.asarray(img)
    except (OSError, Image.DecompressionBombError) as e:
        raise BadSample("cannot read label %s: %s" % (path, e))


def _sbd_label(path):
    try:
        segmentation = loadmat(path, squeeze_me=True, struct_as_record=False)["GTcls"].Segmentation
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        raise BadSample("label %s has no GTcls.Segmentation: not an SBD dataset/cls .mat file"
                        % path)
    if segmentation.dtype != np.uint8 or segmentation.ndim != 2:
        raise BadSample("label %s: GTcls.Segmentation is %s of shape %s, expected a 2-D uint8 "
                        "array of class indices" % (path, segmentation.dtype, segmentation.shape))
    return segmentation


def check_label(label, classes, path):
    counts = cv2.calcHist([label], [0], None, [256], [0, 256]).ravel()
    bad = np.flatnonzero(counts[classes:IGNORE]) + classes
    if bad.size:
        raise BadSample("label %s in %s: not a class index (expected 0..%d, or 255 to ignore)"
                        % (", ".join(map(str, bad)), path, classes - 1))


def read_features(path):
    try:
        features = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise BadSample("cannot read score map %s: %s" % (path, e))
    if features.dtype != np.float32 or features.ndim != 3:
        raise BadSample("score map %s is %s of shape %s, expected float32 C x H x W"
                        % (path, features.dtype, features.shape))
    if not np.isfinite(features).all():
        raise BadSample("score map %s holds NaN or infinite values: the front end that wrote "
                        "it diverged" % path)
    return features


def image_pair(sample, classes):
    """(image H x W x 3, label H x W), checked."""
    image, label = read_image(sample.source), read_label(sample.label)
    if image.shape[:2] != label.shape:
        raise BadSample("image %s is %dx%d (HxW) but its label %s is %dx%d"
                        % (sample.source, *image.shape[:2], sample.label, *label.shape))
    check_label(label, classes, sample.label)
    return image, label


def feature_pair(sample, classes):
    """(scores C x H' x W', full-resolution label) with H' >= ceil(H / 8): the front
    end's whole deploy tile outputs, cell (i, j) at label pixel (8i, 8j)."""
    features, label = read_features(sample.source), read_label(sample.label)
    check_label(label, classes, sample.label)
    if features.shape[0] != classes:
        raise BadSample("score map %s has %d channels but the data set has %d classes"
                        % (sample.source, features.shape[0], classes))
    cells = tuple(math.ceil(n / STRIDE) for n in label.shape)
    if any(f < n for f, n in zip(features.shape[1:], cells)):
        raise BadSample("score map %s is %dx%d (HxW) but its label %s (%dx%d) needs at least "
                        "%dx%d = ceil(label size / 8)" % (sample.source, *features.shape[1:],
                                                          sample.label, *label.shape, *cells))
    return features, label
