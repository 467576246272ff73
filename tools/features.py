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
import argparse
import os
import sys

import numpy as np
from tqdm import tqdm

from prototxt_gen.datasets import DATASETS

from .backend import BackendError, add_argument, open_net
from .predict import model_file, read_image, require_files
from .tiling import prepare, tiled


def scores(net, image, dataset):
    """C x H' x W' float32 classifier scores of a BGR image: every tile's whole output."""
    out, _ = tiled(net.blob(dataset.classifier), prepare(image, dataset.mean), net.tile_shape)
    return np.ascontiguousarray(out, dtype=np.float32)


def image_paths(images, list_file):
    paths = list(images)
    if list_file:
        with open(list_file) as f:
            paths += [line.strip() for line in f if line.strip()]
    return paths


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m tools.features", description=__doc__.split("\n\n")[0])
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.add_argument("--list", metavar="FILE", help="more images, one path per line")
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    p.add_argument("--weights", required=True, metavar="W.caffemodel", help="trained front end")
    p.add_argument("--net", metavar="DEPLOY.prototxt",
                   help="front-end deploy net (default: caffe_models/<data set>/frontend_deploy.prototxt)")
    p.add_argument("--out", required=True, metavar="DIR", help="where <image name>.npy goes")
    p.add_argument("--gpu", type=int, metavar="N", help="GPU to run on (default: CPU)")
    add_argument(p)
    return p, p.parse_args(argv)


def main(argv=None):
    parser, args = parse_args(sys.argv[1:] if argv is None else argv)
    dataset = DATASETS[args.dataset]
    net_path = args.net or model_file(dataset, "frontend_deploy.prototxt")
    paths = image_paths(args.images, args.list)
    if not paths:
        parser.error("no images: give IMAGE paths or --list FILE")
    require_files(parser, [net_path, args.weights] + paths)
    try:
        net = open_net(args.backend, net_path, args.weights, args.gpu)
    except BackendError as e:
        parser.error(str(e))
    os.makedirs(args.out, exist_ok=True)
    for path in tqdm(paths, unit="image", file=sys.stderr):
        target = os.path.join(args.out, os.path.splitext(os.path.basename(path))[0] + ".npy")
        np.save(target, scores(net, read_image(path), dataset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
