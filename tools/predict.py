"""`python -m tools.predict IMAGE... --dataset NAME --weights W`: segments
images with a deploy net and writes colour (palette) PNGs.

The default net is the generated caffe_models/<data set>/dilationN_<data
set>_deploy.prototxt, whose layer names are the released models', so the
authors' .caffemodel files load into it.  `--backend onnx` runs it without
Caffe; `--crf` adds the dense CRF.  Runs inside containers too (Python 3.6 in
NVIDIA's Caffe image).
"""
import os
import sys

import numpy as np

from prototxt_gen import cli_common
from prototxt_gen.cli_common import UserError, require_files
from prototxt_gen.spec.datasets import DATASETS
from prototxt_gen.spec.paths import model_file, released_deploy

from . import backend, crf
from .images import read_image
from .palettes import write_labels
from .tiling import DeployNet, prepare, tiled

PROG = "python -m tools.predict"


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
    finite(prob, "class probabilities")
    height, width = image.shape[:2]
    if stride > 1:
        prob = zoom(prob, stride, height, width)
    prob = prob[:, :height, :width]
    return crf.refine(prob, image, crf_params) if crf_params else prob


def segment(net, image, dataset, crf_params=None):
    return probabilities(net, image, dataset, crf_params).argmax(axis=0)


def finite(array, what, allow=False):
    """NaN would become class 0 (argmax) or a silently poisoned score map."""
    if not allow and not np.isfinite(array).all():
        raise UserError("the net's %s hold NaN or infinite values: the weights are broken "
                        "(a diverged training run?)" % what)


def check_classes(net_path, blob, channels, dataset):
    if channels != dataset.classes:
        raise UserError("net %s gives %s classes in %r but %s has %d; use that data set's net"
                        % (net_path, channels, blob, dataset.name, dataset.classes))


def check_before_caffe(dataset, net_path, weights, blob):
    """What Caffe would not say: a layer the weights lack stays at its filler
    without a word (a renamed classifier predicts class 0 everywhere), a misfit
    aborts it, and a net of another data set runs happily.  So the net is
    traced and every parameter layer checked by name and shape first.  Needs
    our schema (protobuf >= 3.20): inside a Python 3.6 container only the class
    count is checked, after loading."""
    try:
        from tools.weights.netcheck import fit_caffemodel, load_net
        from prototxt_gen.report import inputs, trace
    except ImportError:
        return
    net = load_net(net_path)
    tops = {row.top: row.blob for row in trace(net, inputs(net))}
    if blob not in tops:
        raise UserError("net %s has no blob %r: not a deploy net of this project"
                        % (net_path, blob))
    check_classes(net_path, blob, tops[blob].channels, dataset)
    fit_caffemodel(net, weights)


def checked_net(dataset, net_path, args, blob):
    """The deploy net of args.backend, checked against args.weights and the data
    set's class count."""
    require_files([net_path, args.weights])
    check_before_caffe(dataset, net_path, args.weights, blob)
    net = backend.open_net(args.backend, net_path, args.weights, args.gpu)
    if isinstance(net, DeployNet):  # pycaffe says what the net gives, schema or not
        if blob not in net.net.blobs:
            raise UserError("net %s has no blob %r: not a deploy net of this project"
                            % (net_path, blob))
        check_classes(net_path, blob, net.net.blobs[blob].data.shape[1], dataset)
    return net


def targets(paths, folder, extension, inputs=None):
    """One output per path, OUT/<stem><extension>; two paths with one stem
    would overwrite each other, and an output must not be an input (default:
    the paths)."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UserError("output folder %s is a file; give a folder" % folder)
    made = {}
    for path in paths:
        target = os.path.join(folder, os.path.splitext(os.path.basename(path))[0] + extension)
        if target in made:
            raise UserError("%s and %s would both be written to %s; rename one or run them "
                            "separately" % (made[target], path, target))
        made[target] = path
        cli_common.refuse_overwrite(target, paths if inputs is None else inputs)
    return list(made)


def parse_args(argv):
    p = cli_common.Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    p.add_argument("--weights", required=True, metavar="W.caffemodel")
    p.add_argument("--net", metavar="DEPLOY.prototxt",
                   help="deploy net (default: caffe_models/<data set>/dilationN_<data set>_deploy.prototxt)")
    p.add_argument("--out", default="predictions", metavar="DIR",
                   help="where <image name>.png goes (default: %(default)s)")
    p.add_argument("--gpu", type=int, metavar="N", help="GPU to run on (default: CPU)")
    backend.add_argument(p)
    crf.add_arguments(p)
    return p.parse_args(argv)


def run(args):
    dataset = DATASETS[args.dataset]
    require_files(args.images)
    outputs = targets(args.images, args.out, ".png")
    crf_params = crf.from_args(args) if args.crf else None
    if crf_params:
        crf.require()
    net = checked_net(dataset, args.net or model_file(dataset.name, released_deploy(dataset)), args, "prob")
    os.makedirs(args.out, exist_ok=True)
    for path, target in zip(args.images, outputs):
        write_labels(target, segment(net, read_image(path), dataset, crf_params), dataset.name)
        print(target)
    return 0


def main(argv=None):
    return cli_common.main(PROG, run, parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
