"""`python -m tools.predict IMAGE... --dataset NAME --weights W`: segments
images with a deploy net and writes colour (palette) PNGs.

The default net is the generated caffe_models/<data set>/dilationN_<data
set>_deploy.prototxt, whose layer names are the released models', so the
authors' .caffemodel files load into it.  `--backend onnx` runs it without
Caffe; `--crf` adds the dense CRF, `--crf-rnn` the CRF-RNN layer the weights
hold.  Runs inside containers too (Python 3.6 in NVIDIA's Caffe image).
"""
import os
import sys

from prototxt_gen import cli_common
from prototxt_gen.spec.datasets import DATASETS

from . import backend, crf
from .crfrnn import trained as crf_rnn
from .images import read_image
from .inference import checked_net, default_net, segment
from .palettes import write_labels

PROG = "python -m tools.predict"


def parse_args(argv):
    p = cli_common.Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--dataset", type=cli_common.dataset, required=True, metavar="NAME",
                   help=", ".join(DATASETS))
    p.add_argument("--weights", required=True, metavar="W.caffemodel")
    p.add_argument("--net", metavar="DEPLOY.prototxt",
                   help="deploy net (default: caffe_models/<data set>/dilationN_<data set>_deploy.prototxt)")
    p.add_argument("--out", default="predictions", metavar="DIR",
                   help="where <image name>.png goes (default: %(default)s)")
    p.add_argument("--gpu", type=cli_common.gpu, metavar="N", help="GPU to run on (default: CPU)")
    backend.add_argument(p)
    crf.add_arguments(p)
    crf_rnn.add_argument(p)
    return p.parse_args(argv)


def run(args):
    dataset = DATASETS[args.dataset]
    cli_common.require_files(args.images)
    outputs = cli_common.output_paths(args.images, args.out, ".png")
    if args.crf and args.crf_rnn:
        raise cli_common.UserError("--crf and --crf-rnn each refine the probabilities: choose one "
                                   "(tools.evaluate scores both side by side)")
    refinement = None
    if args.crf:
        refinement = crf.from_args(args)
        crf.require()
    net = checked_net(dataset, args.net or default_net(dataset, "joint"), args.weights, "prob",
                      args.backend, args.gpu)
    if args.crf_rnn:
        refinement = crf_rnn.Trained(args.weights, dataset)
    os.makedirs(args.out, exist_ok=True)
    for path, target in zip(args.images, outputs):
        write_labels(target, segment(net, read_image(path), dataset, refinement), dataset.name)
        print(target)
    return 0


def main(argv=None):
    return cli_common.main(PROG, run, parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
