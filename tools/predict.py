"""`python -m tools.predict IMAGE... --dataset NAME --weights W`: segments
images with a deploy net and writes colour (palette) PNGs.

The default net is the generated caffe_models/<data set>/dilationN_<data
set>_deploy.prototxt, whose layer names are the released models', so the
authors' .caffemodel files load into it.  `--backend onnx` runs it without
Caffe; `--crf` adds the dense CRF, `--crf-rnn` the CRF-RNN layer the weights
hold.  Runs inside containers too (Python 3.6 in NVIDIA's Caffe image).

--labelids (Cityscapes) writes what the benchmark server takes instead:
8-bit grey PNGs of the official labelIds (the trainIds the net predicts,
mapped through cityscapesscripts' label table), at the image's full
resolution, each named after its image (berlin_000000_000019_leftImg8bit.png
-> OUT/berlin_000000_000019_leftImg8bit.png), since the server and
cityscapesscripts find the prediction of <city>_<seq>_<frame>_gtFine_labelIds.png
as the one file <city>_<seq>_<frame>*.png.  Zip OUT for the server.
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
    p.add_argument("--labelids", action="store_true",
                   help="cityscapes: write the benchmark server's format instead of colour "
                        "PNGs: grey PNGs of the official labelIds at the image's resolution, "
                        "each named after its image (<city>_<seq>_<frame>_leftImg8bit.png); "
                        "needs pip install cityscapesscripts")
    return p.parse_args(argv)


def writer(args, dataset):
    """write(path, label map) of the output asked for."""
    if not args.labelids:
        return lambda path, labels: write_labels(path, labels, dataset.name)
    if dataset.name != "cityscapes":
        raise cli_common.UserError("--labelids writes Cityscapes' labelIds for its benchmark "
                                   "server: for --dataset cityscapes only")
    from .evaluate import cityscapes
    cityscapes.check_server_names(args.images)
    tables = cityscapes.Tables("--labelids")
    return lambda path, labels: cityscapes.write_label_ids(path, labels, tables)


def run(args):
    dataset = DATASETS[args.dataset]
    cli_common.require_files(args.images)
    write = writer(args, dataset)
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
        write(target, segment(net, read_image(path), dataset, refinement))
        print(target)
    return 0


def main(argv=None):
    return cli_common.main(PROG, run, parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
