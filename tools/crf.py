"""Dense CRF post-processing (Kraehenbuehl & Koltun 2011, through pydensecrf2)
of the zoomed class probabilities with the image, as in the paper's "+ CRF"
rows of Tables 3 and 4.

Default parameters are DeepLab-CRF-COCO-LargeFOV's (Chen et al. 2015a), found
by the same kind of validation grid search the paper used for its own CRF, for
a VGG-16 net with output stride 8 trained with COCO, like our VOC model:
Gaussian kernel sxy 3 weight 3, bilateral kernel sxy 69 srgb 5 weight 5, 10
mean-field iterations.  `python -m tools.evaluate --crf-search` tunes the
bilateral kernel on a validation list.

Runs inside containers too (Python 3.6): pydensecrf loads only when used.
"""
import argparse
import itertools
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
FLAGS = (("gauss_sxy", float, "width (pixels) of the Gaussian (smoothness) kernel"),
         ("gauss_compat", float, "weight of the Gaussian kernel"),
         ("bilateral_sxy", float, "spatial width (pixels) of the bilateral (appearance) kernel"),
         ("bilateral_srgb", float, "colour width (0-255 units) of the bilateral kernel"),
         ("bilateral_compat", float, "weight of the bilateral kernel"),
         ("iterations", int, "mean-field iterations"))


class CrfError(UserError):
    """pydensecrf2 missing: one line for the user."""


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a number" % text)
        if not value > 0:
            raise argparse.ArgumentTypeError("%s: must be > 0" % text)
        return value
    return parse


def add_arguments(parser):
    group = parser.add_argument_group(
        "dense CRF", "pip install -e .[crf]; defaults: DeepLab-CRF-COCO-LargeFOV's validated "
                     "values (Chen et al. 2015a), a VGG-16 net of output stride 8 like ours")
    group.add_argument("--crf", action="store_true",
                       help="refine the zoomed probabilities with a dense CRF over the image")
    for field, kind, text in FLAGS:
        group.add_argument("--crf-" + field.replace("_", "-"), type=_positive(kind), dest="crf_" + field,
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
    in the channels, so BGR serves as well as RGB."""
    dcrf, unary_from_softmax = require()
    classes, height, width = prob.shape
    crf = dcrf.DenseCRF2D(width, height, classes)
    crf.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(prob.astype(np.float32))))
    crf.addPairwiseGaussian(sxy=params.gauss_sxy, compat=params.gauss_compat)
    crf.addPairwiseBilateral(sxy=params.bilateral_sxy, srgb=params.bilateral_srgb,
                             rgbim=np.ascontiguousarray(image, dtype=np.uint8),
                             compat=params.bilateral_compat)
    q = crf.inference(params.iterations)
    return np.array(q, dtype=np.float32).reshape(classes, height, width)
