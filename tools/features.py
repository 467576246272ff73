"""`python -m tools.features`: stores a trained front end's pre-softmax scores
(`final`, or `fc-final` for VOC) of each image as float32 C x H' x W' .npy,
the input of the context stage (tools/data builds its LMDB from them).

What is stored is what deploy feeds the context module: the WHOLE output of
every deploy tile, concatenated, cells past the image included (they see the
reflected border), as the authors' test.py stores it; H' is a whole number
of tile outputs (66 per 900-pixel VOC tile), at least ceil(H / 8).  Cell
(i, j) is centred on pixel (8i, 8j).  The deploy tiling is the one prediction
uses.  Runs inside containers too (Python 3.6).
"""
import os
import sys

import numpy as np
from tqdm import tqdm

from prototxt_gen import cli_common
from prototxt_gen.cli_common import UserError, atomic_output, read_paths
from prototxt_gen.spec.datasets import DATASETS

from . import backend
from .images import read_image
from .inference import checked_net, default_net, scores

PROG = "python -m tools.features"


def image_paths(images, list_file):
    return list(images) + (read_paths(list_file) if list_file else [])


def parse_args(argv):
    p = cli_common.Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.add_argument("--list", metavar="FILE",
                   help="more images, one path per line (relative to the list's own folder)")
    p.add_argument("--dataset", type=cli_common.dataset, required=True, metavar="NAME",
                   help=", ".join(DATASETS))
    p.add_argument("--weights", required=True, metavar="W.caffemodel", help="trained front end")
    p.add_argument("--net", metavar="DEPLOY.prototxt",
                   help="front-end deploy net (default: caffe_models/<data set>/frontend_deploy.prototxt)")
    p.add_argument("--out", required=True, metavar="DIR", help="where <image name>.npy goes")
    p.add_argument("--write-list", metavar="FILE",
                   help="also write FILE: the stored .npy files, one per line in the images' "
                        "order, so it pairs by line with their labels list (tools.data context "
                        "--features FILE)")
    p.add_argument("--gpu", type=cli_common.gpu, metavar="N", help="GPU to run on (default: CPU)")
    backend.add_argument(p)
    p.add_argument("--allow-nonfinite", action="store_true",
                   help="store NaN or infinite scores instead of stopping at them")
    return p.parse_args(argv)


def run(args):
    dataset = DATASETS[args.dataset]
    paths = image_paths(args.images, args.list)
    if not paths:
        raise UserError("no images: give IMAGE paths or --list FILE")
    cli_common.require_files(paths)
    outputs = cli_common.output_paths(paths, args.out, ".npy")
    net = checked_net(dataset, args.net or default_net(dataset, "frontend"), args.weights,
                      dataset.classifier, args.backend, args.gpu)
    os.makedirs(args.out, exist_ok=True)
    bar = tqdm(list(zip(paths, outputs)), unit="image", file=sys.stderr, disable=None)
    for path, target in bar:
        array = scores(net, read_image(path), dataset, args.allow_nonfinite)
        with atomic_output(target) as tmp, open(tmp, "wb") as f:
            np.save(f, array)
    if args.write_list:  # in the images' order: it pairs by line with their labels list
        with atomic_output(args.write_list) as tmp, open(tmp, "w") as f:
            f.writelines(os.path.abspath(target) + "\n" for target in outputs)
    return 0


def main(argv=None):
    return cli_common.main(PROG, run, parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
