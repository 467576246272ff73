"""Dense CRF post-processing (Kraehenbuehl & Koltun 2011, through pydensecrf2)
of the zoomed class probabilities with the image, as in the paper's "+ CRF"
rows of Tables 3 and 4.

Default parameters are DeepLab-CRF-COCO-LargeFOV's (Chen et al. 2015a), found
by the same kind of validation grid search the paper used for its own CRF, for
a VGG-16 net with output stride 8 trained with COCO, like our VOC model:
Gaussian kernel sxy 3 weight 3, bilateral kernel sxy 69 srgb 5 weight 5, 10
mean-field iterations.  `python -m tools.evaluate --crf-search` tunes the
bilateral kernel on a validation list.

Every parameter is held to the range pydensecrf handles: it takes C floats
and a C int, and its permutohedral lattice keys vertices by C shorts, so a
kernel too narrow for the image overflows them (a segfault, or silently wrong
numbers where the keys wrap); see LATTICE_WIDTHS.

Runs inside containers too (Python 3.6): pydensecrf loads only when used.
"""
import argparse
import itertools
import math
from collections import namedtuple

import numpy as np

from prototxt_gen.cli_common import UserError

CrfParams = namedtuple("CrfParams", "gauss_sxy gauss_compat bilateral_sxy bilateral_srgb "
                                    "bilateral_compat iterations")
DEFAULTS = CrfParams(3.0, 3.0, 69.0, 5.0, 5.0, 10)
# --crf-search: DeepLab's ranges around the defaults (bilateral kernel only;
# DeepLab fixed the Gaussian kernel at 3/3 as we do)
GRID = {"bilateral_compat": (3.0, 4.0, 5.0), "bilateral_sxy": (50.0, 69.0, 90.0, 121.0),
        "bilateral_srgb": (3.0, 5.0)}
FLOAT_MAX = float(np.finfo(np.float32).max)  # pydensecrf's C floats
FLOAT_MIN = float(np.nextafter(np.float32(0), np.float32(1)))  # smaller becomes 0
INT_MAX = 2 ** 31 - 1  # its C int of iterations
SHORT_MAX = 32767  # permutohedral.cpp's lattice keys
GAUSSIAN, BILATERAL = 2, 5  # features of each kernel: x, y; x, y and three colours
COLOURS = 256  # uint8 colour values lie in [0, 256)


def _lattice_widths(features):
    """How many kernel widths a feature may span with every lattice key within a
    C short.  permutohedral.cpp scales feature i by s_i = sqrt(2/3) (d + 1) /
    sqrt((i + 1) (i + 2)) and elevates the d features to d + 1 coordinates
    (Adams et al. 2010), none beyond sum(s_i) times the largest feature (each
    is a partial sum, or j s_(j-1) < sqrt(2/3) (d + 1) < sum(s_i)); rounding to
    the simplex, its vertices and their neighbours add under 4 (d + 1)."""
    d = features
    scale = sum(math.sqrt(2 / 3) * (d + 1) / math.sqrt((i + 1) * (i + 2)) for i in range(d))
    return (SHORT_MAX - 4 * (d + 1)) / scale


LATTICE_WIDTHS = {d: _lattice_widths(d) for d in (GAUSSIAN, BILATERAL)}


def _bounded(kind, low, high, what, why):
    """An argparse type: a `kind` number from low to high (NaN is neither)."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a %s" % (
                text, "whole number" if kind is int else "number"))
        if not low <= value <= high:
            shown = "%d" if kind is int else "%.3g"
            raise argparse.ArgumentTypeError(("%s: give %s from " + shown + " to " + shown + "%s")
                                             % (text, what, low, high, why))
        return value
    return parse


def _width(features, span=1, unit="pixels"):
    """A kernel width: even a 1-pixel image (or one colour value) must keep the
    lattice within its keys, and pydensecrf's float must hold it."""
    return _bounded(float, span / LATTICE_WIDTHS[features], FLOAT_MAX, "a width",
                    " %s; a narrower kernel overflows pydensecrf's lattice (a crash or wrong "
                    "numbers)" % unit)


WEIGHT = _bounded(float, FLOAT_MIN, FLOAT_MAX, "a weight", " (above 0, in pydensecrf's C float)")
FLAGS = (("gauss_sxy", _width(GAUSSIAN), "width (pixels) of the Gaussian (smoothness) kernel"),
         ("gauss_compat", WEIGHT, "weight of the Gaussian kernel"),
         ("bilateral_sxy", _width(BILATERAL),
          "spatial width (pixels) of the bilateral (appearance) kernel"),
         ("bilateral_srgb", _width(BILATERAL, COLOURS, "colour units"),
          "colour width (0-255 units) of the bilateral kernel"),
         ("bilateral_compat", WEIGHT, "weight of the bilateral kernel"),
         ("iterations", _bounded(int, 1, INT_MAX, "a count", " (pydensecrf's C int)"),
          "mean-field iterations"))
SPATIAL = (("gauss_sxy", GAUSSIAN), ("bilateral_sxy", BILATERAL))


class CrfError(UserError):
    """pydensecrf2 missing, or parameters it cannot take for this image: one line."""


def check_widths(params, height, width):
    """The spatial widths must keep the lattice within its keys across the
    image's larger side, as the colour width does across 256 values."""
    side = max(height, width)
    for field, features in SPATIAL:
        least = side / LATTICE_WIDTHS[features]
        if getattr(params, field) < least:
            raise CrfError("--crf-%s %g is too narrow for a %dx%d image: pydensecrf's lattice "
                           "holds widths from %.3g there (narrower crashes it or gives wrong "
                           "numbers)" % (field.replace("_", "-"), getattr(params, field), width,
                                         height, least))


def add_arguments(parser):
    group = parser.add_argument_group(
        "dense CRF", "pip install -e .[crf]; defaults: DeepLab-CRF-COCO-LargeFOV's validated "
                     "values (Chen et al. 2015a), a VGG-16 net of output stride 8 like ours")
    group.add_argument("--crf", action="store_true",
                       help="refine the zoomed probabilities with a dense CRF over the image")
    for field, parse, text in FLAGS:
        group.add_argument("--crf-" + field.replace("_", "-"), type=parse, dest="crf_" + field,
                           default=getattr(DEFAULTS, field), metavar="X",
                           help="%s (default: %%(default)s)" % text)


def from_args(args):
    return CrfParams(*(getattr(args, "crf_" + field) for field, _, _ in FLAGS))


def grid(base):
    """Every combination of GRID around `base`, GRID's order."""
    keys = list(GRID)
    return [base._replace(**dict(zip(keys, values)))
            for values in itertools.product(*(GRID[k] for k in keys))]


def require():
    """pydensecrf's modules, or CrfError saying how to install them."""
    try:
        import pydensecrf.densecrf as dcrf
        import pydensecrf.utils as utils
    except ImportError as e:
        raise CrfError("--crf needs the crf extra (%s): pip install -e .[crf]" % e)
    return dcrf, utils.unary_from_softmax


def refine(prob, image, params):
    """C x H x W probabilities and the H x W x 3 uint8 image -> C x H x W
    probabilities after mean-field inference.  Colour distances are symmetric
    in the channels, so BGR serves as well as RGB.  Weights large enough to
    overflow float32 energies give NaN: an error, not a wrong label."""
    dcrf, unary_from_softmax = require()
    classes, height, width = prob.shape
    check_widths(params, height, width)
    crf = dcrf.DenseCRF2D(width, height, classes)
    crf.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(prob.astype(np.float32))))
    crf.addPairwiseGaussian(sxy=params.gauss_sxy, compat=params.gauss_compat)
    crf.addPairwiseBilateral(sxy=params.bilateral_sxy, srgb=params.bilateral_srgb,
                             rgbim=np.ascontiguousarray(image, dtype=np.uint8),
                             compat=params.bilateral_compat)
    q = np.array(crf.inference(params.iterations), dtype=np.float32)
    if not np.isfinite(q).all():
        raise CrfError("the CRF's probabilities overflow float32 (NaN) with kernel weights "
                       "--crf-gauss-compat %g and --crf-bilateral-compat %g; give smaller ones"
                       % (params.gauss_compat, params.bilateral_compat))
    return q.reshape(classes, height, width)
