"""Reading and checking inputs before they become records: Caffe would train on
a colour-coded label or a misaligned pair without complaint, so every pair is
read here and a bad one is reported by file name."""
import math

import cv2
import numpy as np
from PIL import Image
from scipy.io import loadmat

from prototxt_gen.cli_common import UserError, file_problem, shown
from prototxt_gen.spec.grid import STRIDE
from prototxt_gen.spec.labels import IGNORE

from .. import images
from .conventions import convention_problem


class DataError(UserError):
    """Input that cannot be built from at all (missing tree, unequal lists)."""


class BadSample(DataError):
    """One pair that cannot become a record; `--skip-bad` leaves it out."""


def missing_files(samples):
    """{name: BadSample naming its first file that is missing or not a regular
    file}: found before any decoding, so a wrong path fails in seconds rather
    than mid-build.  The path is the one looked at (relative list entries are
    read from the list's folder), invisible characters escaped."""
    missing = {}
    for s in samples:
        for role, path in (("input", s.source), ("label", s.label)):
            problem = file_problem(path)
            if problem:
                missing.setdefault(s.name, BadSample("%s (the %s of %s) %s"
                                                     % (shown(path), role, s.name, problem)))
    return missing


def read_image(path):
    """BGR uint8, as the authors' data layer reads it; corrupt data is an error."""
    try:
        return images.read_image(path)
    except UserError as e:
        raise BadSample(str(e))


def read_label(path):
    """Class indices: a PNG's palette indices (never its colours; upright by its
    EXIF orientation, as the image is) or SBD's GTcls.Segmentation."""
    if path.endswith(".mat"):
        return _sbd_label(path)
    try:
        img = images.read_label_image(path)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise BadSample("cannot read label %s: %s" % (path, e))
    if img.mode not in ("P", "L"):
        raise BadSample("label %s has mode %s, not class indices: labels are palette "
                        "or grayscale PNGs whose pixel values are the classes" % (path, img.mode))
    return np.asarray(img)


def _sbd_label(path):
    try:
        mat = loadmat(path, squeeze_me=True, struct_as_record=False)
    except NotImplementedError:  # scipy's word for the HDF5 format of `save -v7.3`
        raise BadSample("label %s is a MATLAB v7.3 (HDF5) file, which scipy cannot read: re-save "
                        "it in MATLAB with save(FILE, 'GTcls', '-v7'), the format of SBD's files"
                        % path)
    except Exception as e:  # scipy's decoder has no error contract: a damaged file raises anything
        raise BadSample("cannot read label %s: %s" % (path, str(e) or type(e).__name__))
    try:
        segmentation = mat["GTcls"].Segmentation
    except (KeyError, AttributeError):
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


def label_convention(path, dataset):
    """The line saying that label file `path` is in another convention than
    `dataset`'s (conventions.py), by its name or else its values; None if it is
    not, or cannot be read (that is the sample's own error)."""
    problem = convention_problem(None, path, dataset)
    if problem is None:
        try:
            problem = convention_problem(read_label(path), path, dataset)
        except BadSample:
            return None
    return problem


def refusing_conventions(encode, dataset):
    """encode(sample), except that a sample refused as bad is looked at again
    (its label decoded once more, only then) for another convention: a whole data
    set in the wrong convention is one DataError, never pairs --skip-bad leaves out."""
    def checked(sample):
        try:
            return encode(sample)
        except BadSample:
            problem = label_convention(sample.label, dataset)
            if problem:
                raise DataError(problem)
            raise
    return checked


def load_scores(path, mmap_mode=None):
    """The one array of a .npy score map; an .npz archive (np.savez) holds several."""
    try:
        loaded = np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise BadSample("cannot read score map %s: %s" % (path, e))
    if not isinstance(loaded, np.ndarray):
        loaded.close()
        raise BadSample("score map %s is an .npz archive, not one .npy array: store each map "
                        "with np.save, as python -m tools.features does" % path)
    return loaded


def read_features(path):
    features = load_scores(path)
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
