"""`python -m tools.predict IMAGE... --dataset NAME --weights W`: segments
images with a deploy net and writes colour (palette) PNGs.

The default net is the generated caffe_models/<data set>/dilationN_<data
set>_deploy.prototxt, whose layer names are the released models', so the
authors' .caffemodel files load into it.  `--backend onnx` runs it without
Caffe; `--crf` adds the dense CRF.  Runs inside containers too (Python 3.6 in
NVIDIA's Caffe image).
"""
import argparse
import os
import sys

import cv2
import numpy as np

from prototxt_gen.datasets import DATASETS

from . import crf
from .backend import BackendError, add_argument, open_net
from .palettes import write_labels
from .tiling import prepare, tiled

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def zoom(prob, factor, height, width):
    """Bilinear upsampling with the released models' alignment: cell i sits
    at pixel factor x i, so out[c, h, w] mixes cells h // factor and the next
    one with weight h / factor - h // factor (and likewise for w); cells past
    the last one are clamped to it."""
    def axis(size, cells):
        pos = np.arange(size) / float(factor)
        low = np.floor(pos).astype(int)
        return np.minimum(low, cells - 1), np.minimum(low + 1, cells - 1), (pos - low).astype(np.float32)

    r0, r1, rt = axis(height, prob.shape[1])
    c0, c1, ct = axis(width, prob.shape[2])
    top, bottom = prob[:, r0], prob[:, r1]
    top = top[:, :, c0] * (1 - ct) + top[:, :, c1] * ct
    bottom = bottom[:, :, c0] * (1 - ct) + bottom[:, :, c1] * ct
    return top * (1 - rt)[:, None] + bottom * rt[:, None]


def probabilities(net, image, dataset, crf_params=None):
    """C x H x W class probabilities of a BGR image (`net` from backend.open_net),
    refined by a dense CRF with `crf_params`, if given."""
    prob, stride = tiled(net.blob("prob"), prepare(image, dataset.mean), net.tile_shape)
    height, width = image.shape[:2]
    if stride > 1:
        prob = zoom(prob, stride, height, width)
    prob = prob[:, :height, :width]
    return crf.refine(prob, image, crf_params) if crf_params else prob


def segment(net, image, dataset, crf_params=None):
    return probabilities(net, image, dataset, crf_params).argmax(axis=0)


def model_file(dataset, name):
    """A generated file of the data set: caffe_models/<data set>/<name>."""
    return os.path.join(REPO, "caffe_models", dataset.name, name)


def require_files(parser, paths):
    for path in paths:
        if not os.path.exists(path):
            parser.error("%s does not exist" % path)


def read_image(path):
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise IOError("cannot read image %s" % path)
    return image


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m tools.predict", description=__doc__.split("\n\n")[0])
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    p.add_argument("--weights", required=True, metavar="W.caffemodel")
    p.add_argument("--net", metavar="DEPLOY.prototxt",
                   help="deploy net (default: caffe_models/<data set>/dilationN_<data set>_deploy.prototxt)")
    p.add_argument("--out", default="predictions", metavar="DIR",
                   help="where <image name>.png goes (default: %(default)s)")
    p.add_argument("--gpu", type=int, metavar="N", help="GPU to run on (default: CPU)")
    add_argument(p)
    crf.add_arguments(p)
    return p, p.parse_args(argv)


def main(argv=None):
    parser, args = parse_args(sys.argv[1:] if argv is None else argv)
    dataset = DATASETS[args.dataset]
    net_path = args.net or model_file(dataset, dataset.deploy_name)
    require_files(parser, [net_path, args.weights] + args.images)
    crf_params = crf.from_args(args) if args.crf else None
    try:
        if crf_params:
            crf.require()
        net = open_net(args.backend, net_path, args.weights, args.gpu)
    except (BackendError, crf.CrfError) as e:
        parser.error(str(e))
    os.makedirs(args.out, exist_ok=True)
    for path in args.images:
        target = os.path.join(args.out, os.path.splitext(os.path.basename(path))[0] + ".png")
        write_labels(target, segment(net, read_image(path), dataset, crf_params), dataset.name)
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
