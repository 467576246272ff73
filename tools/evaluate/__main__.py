"""Command line of the evaluation; see `python -m tools.evaluate --help`."""
import argparse
import os
import sys

import cv2
import numpy as np
from tqdm import tqdm

from prototxt_gen.datasets import DATASETS

from .. import crf
from ..backend import BackendError, add_argument, open_net
from ..palettes import names, read_labels, write_labels
from ..predict import model_file, probabilities, read_image, require_files
from .confusion import confusion, iou
from .paper import rows as paper_rows
from .report import Row, shown_columns, text_table, write_csv, write_html

DESCRIPTION = """\
Accumulates one confusion matrix over all pairs and prints per-class IoU and
mean IoU in the layout of the paper's Tables 2-4; writes OUT/iou.csv and
OUT/report.html (the table and examples: input, prediction, ground truth).

PAIRS is a text file, one pair per line: PREDICTION.png TRUTH.png [IMAGE]
(IMAGE only shows in the report), or, with --weights, IMAGE TRUTH.png (the
net predicts; predictions are saved in OUT/predictions/). Label PNGs hold
class indices (palette or grey PNGs; colour PNGs are mapped through the data
set's palette); 255 is ignored. For VOC, e.g.:
  sed 's#.*#pred/&.png VOC2012/SegmentationClass/&.png VOC2012/JPEGImages/&.jpg#' \\
      VOC2012/ImageSets/Segmentation/val.txt > pairs.txt

With --weights and --crf, each image is scored with and without the dense CRF
from one forward pass: the rows NAME and "NAME + CRF", as in Tables 3 and 4
(e.g. --name "Front + Large" --crf --compare); the CRF's predictions go to
OUT/predictions_crf/. --crf-search instead scores
every CRF setting of a small grid (bilateral weight 3/4/5 x width 50/69/90/121
x colour width 3/5, the other settings as given) from one forward pass per
image and lists the settings best first (in OUT/iou.csv too); the paper and
DeepLab tuned their CRFs this way on validation images (DeepLab on 100).
"""


def read_pairs(path):
    pairs = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) not in (2, 3):
                raise ValueError("%s:%d: expected 2 or 3 paths, got %d" % (path, number, len(fields)))
            pairs.append((fields[0], fields[1], fields[2] if len(fields) == 3 else None))
    return pairs


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m tools.evaluate", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pairs", metavar="PAIRS")
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    p.add_argument("--weights", metavar="W.caffemodel", help="predict with this model")
    p.add_argument("--net", metavar="DEPLOY.prototxt",
                   help="deploy net for --weights (default: the data set's dilationN deploy net)")
    p.add_argument("--gpu", type=int, metavar="N", help="GPU for --weights (default: CPU)")
    add_argument(p)
    p.add_argument("--name", default="ours", help="row label of this result (default: %(default)s)")
    p.add_argument("--compare", action="store_true",
                   help="also print the paper's rows (Tables 2-4, VOC 2012)")
    p.add_argument("--examples", type=int, default=8, metavar="N",
                   help="pairs shown in the report (default: %(default)s)")
    p.add_argument("--out", default="evaluation", metavar="DIR", help="(default: %(default)s)")
    p.add_argument("--crf-search", action="store_true",
                   help="grid-search the CRF's bilateral kernel instead (needs --weights)")
    crf.add_arguments(p)
    return p, p.parse_args(argv)


def save_example(folder, index, name, image, prediction, truth, dataset):
    """Writes one example's images; returns their paths relative to the report."""
    stem = "examples/%03d_" % index
    paths = {"name": name, "input": None, "prediction": stem + "prediction.png",
             "truth": stem + "truth.png"}
    write_labels(os.path.join(folder, paths["prediction"]), prediction, dataset)
    write_labels(os.path.join(folder, paths["truth"]), truth, dataset)
    if image is not None:
        paths["input"] = stem + "input.jpg"
        cv2.imwrite(os.path.join(folder, paths["input"]), image)
    return paths


def systems(args):
    """(row name, CRF parameters or None) of each prediction scored per image."""
    params = crf.from_args(args)
    if args.crf_search:
        return [("no CRF", None)] + [
            ("CRF w%g sxy%g srgb%g" % (p.bilateral_compat, p.bilateral_sxy, p.bilateral_srgb), p)
            for p in crf.grid(params)]
    return [(args.name, None)] + ([(args.name + " + CRF", params)] if args.crf else [])


def open_model(parser, args, dataset):
    """The deploy net for --weights, or None; CRF options need one."""
    if not args.weights:
        if args.crf or args.crf_search:
            parser.error("--crf and --crf-search need --weights: the CRF refines the net's "
                         "probabilities")
        return None
    net_path = args.net or model_file(dataset, dataset.deploy_name)
    require_files(parser, [net_path, args.weights])
    try:
        if args.crf or args.crf_search:
            crf.require()
        return open_net(args.backend, net_path, args.weights, args.gpu)
    except (BackendError, crf.CrfError) as e:
        parser.error(str(e))


def predictions(net, image, dataset, scored):
    """The label map of each scored system from one forward pass."""
    prob = probabilities(net, image, dataset)
    return [(crf.refine(prob, image, params) if params else prob).argmax(axis=0)
            for _, params in scored]


def main(argv=None):
    parser, args = parse_args(sys.argv[1:] if argv is None else argv)
    dataset = DATASETS[args.dataset]
    if args.compare and dataset.name != "pascal_voc":
        parser.error("--compare: the paper's tables are for pascal_voc only")
    require_files(parser, [args.pairs])
    try:
        pairs = read_pairs(args.pairs)
    except ValueError as e:
        parser.error(str(e))
    net = open_model(parser, args, dataset)
    require_files(parser, [p for pair in pairs for p in pair if p])
    scored = systems(args) if net else [(args.name, None)]
    folders = ["predictions", "predictions_crf"][:len(scored)] if net and not args.crf_search else []
    for folder in ["examples"] + folders:
        os.makedirs(os.path.join(args.out, folder), exist_ok=True)
    matrices = np.zeros((len(scored), dataset.classes, dataset.classes + 1), dtype=np.int64)
    examples = []
    for index, (first, truth_path, image_path) in enumerate(tqdm(pairs, unit="image", file=sys.stderr)):
        truth = read_labels(truth_path, dataset.name)
        name = os.path.splitext(os.path.basename(truth_path))[0]
        if net:
            image = read_image(first)
            found = predictions(net, image, dataset, scored)
            for folder, prediction in zip(folders, found):
                write_labels(os.path.join(args.out, folder, name + ".png"), prediction, dataset.name)
        else:
            image = read_image(image_path) if image_path else None
            found = [read_labels(first, dataset.name)]
        try:
            for matrix, prediction in zip(matrices, found):
                matrix += confusion(prediction, truth, dataset.classes)
        except ValueError as e:
            parser.error("%s vs %s: %s" % (first, truth_path, e))
        if index < args.examples:  # with --crf, the CRF's prediction; with --crf-search, none's
            shown = found[0 if args.crf_search else -1]
            examples.append(save_example(args.out, index, name, image, shown, truth, dataset.name))
    classes = names(dataset.name)
    rows = []
    for (label, _), matrix in zip(scored, matrices):
        per_class, mean = iou(matrix)
        rows.append(Row("this evaluation, %d images" % len(pairs), label,
                        dict(zip(classes, 100 * per_class)), 100 * mean))
    if args.crf_search:
        rows.sort(key=lambda row: -row.mean)
    ours = rows[:]
    if args.compare:
        rows += paper_rows()
    print(text_table(rows, shown_columns(classes)))
    if "background" in classes:
        print("background IoU %s: in the mean, not shown (as in the paper)" % ", ".join(
            "%.1f" % row.ious["background"] for row in ours))
    if args.crf_search:
        best = next(params for label, params in scored if label == rows[0].name)
        print("best: %s" % (" ".join("--crf-%s %g" % (k.replace("_", "-"), getattr(best, k))
                                     for k in crf.GRID) if best else "no CRF"))
    write_csv(os.path.join(args.out, "iou.csv"), rows, classes)
    write_html(os.path.join(args.out, "report.html"), "%s on %s" % (args.name, dataset.name),
               rows, shown_columns(classes), examples)
    print("wrote %s and %s" % (os.path.join(args.out, "iou.csv"), os.path.join(args.out, "report.html")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
