"""Command line of the evaluation; see `python -m tools.evaluate --help`."""
import argparse
import os
import sys

import cv2

from prototxt_gen import cli_common
from prototxt_gen.cli_common import UserError, atomic_output
from prototxt_gen.spec.datasets import DATASETS

from .. import backend, crf
from ..inference import checked_net, default_net
from ..palettes import names, write_labels
from .paper import rows as paper_rows
from .scoring import read_pairs, rows, score, systems
from .tables import shown_columns, text_table, write_csv, write_html

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


PROG = "python -m tools.evaluate"


def parse_args(argv):
    p = cli_common.Parser(prog=PROG, description=DESCRIPTION,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pairs", metavar="PAIRS")
    p.add_argument("--dataset", type=cli_common.dataset, required=True, metavar="NAME",
                   help=", ".join(DATASETS))
    p.add_argument("--weights", metavar="W.caffemodel", help="predict with this model")
    p.add_argument("--net", metavar="DEPLOY.prototxt",
                   help="deploy net for --weights (default: the data set's dilationN deploy net)")
    p.add_argument("--gpu", type=cli_common.gpu, metavar="N",
                   help="GPU for --weights (default: CPU)")
    backend.add_argument(p)
    p.add_argument("--name", default="ours", help="row label of this result (default: %(default)s)")
    p.add_argument("--compare", action="store_true",
                   help="also print the paper's rows (Tables 2-4, VOC 2012)")
    p.add_argument("--examples", type=int, default=8, metavar="N",
                   help="pairs shown in the report (default: %(default)s)")
    p.add_argument("--out", default="evaluation", metavar="DIR", help="(default: %(default)s)")
    p.add_argument("--crf-search", action="store_true",
                   help="grid-search the CRF's bilateral kernel instead (needs --weights)")
    crf.add_arguments(p)
    return p.parse_args(argv)


def open_model(args, dataset):
    """The deploy net for --weights, or None; CRF options need one."""
    if not args.weights:
        if args.crf or args.crf_search:
            raise UserError("--crf and --crf-search need --weights: the CRF refines the net's "
                            "probabilities")
        return None
    if args.crf or args.crf_search:
        crf.require()
    return checked_net(dataset, args.net or default_net(dataset, "joint"), args.weights, "prob",
                       args.backend, args.gpu)


def check_outputs(args, pairs):
    """Every output is refused before any work if it would overwrite an input."""
    inputs = [p for pair in pairs for p in pair if p]
    cli_common.require_files(inputs)
    if args.weights:
        # predictions are named after the truth, so two truths of one name would collide
        for folder in ("predictions", "predictions_crf"):
            cli_common.output_paths([truth for _, truth, _ in pairs],
                                    os.path.join(args.out, folder), ".png", inputs + [args.pairs])
    for name in ("iou.csv", "report.html"):
        cli_common.refuse_overwrite(os.path.join(args.out, name), inputs + [args.pairs])


def save_example(folder, index, name, image, prediction, truth, dataset):
    """Writes one example's images; returns their paths relative to the report."""
    stem = "examples/%03d_" % index
    paths = {"name": name, "input": None, "prediction": stem + "prediction.png",
             "truth": stem + "truth.png"}
    write_labels(os.path.join(folder, paths["prediction"]), prediction, dataset)
    write_labels(os.path.join(folder, paths["truth"]), truth, dataset)
    if image is not None:
        paths["input"] = stem + "input.jpg"
        with atomic_output(os.path.join(folder, paths["input"])) as tmp, open(tmp, "wb") as f:
            f.write(cv2.imencode(".jpg", image)[1].tobytes())
    return paths


def write_outputs(args, dataset, ours, scored, shown):
    """The table on stdout, OUT/iou.csv, and OUT/report.html with its examples."""
    examples = [save_example(args.out, *example, dataset.name) for example in shown]
    classes = names(dataset.name)
    table = ours + (paper_rows() if args.compare else [])
    print(text_table(table, shown_columns(classes)))
    if "background" in classes:
        print("background IoU %s: in the mean, not shown (as in the paper)" % ", ".join(
            "%.1f" % row.ious["background"] for row in ours))
    if args.crf_search:
        best = next(params for label, params in scored if label == ours[0].name)
        print("best: %s" % (" ".join("--crf-%s %g" % (k.replace("_", "-"), getattr(best, k))
                                     for k in crf.GRID) if best else "no CRF"))
    write_csv(os.path.join(args.out, "iou.csv"), table, classes)
    write_html(os.path.join(args.out, "report.html"), "%s on %s" % (args.name, dataset.name),
               table, shown_columns(classes), examples)
    print("wrote %s and %s" % (os.path.join(args.out, "iou.csv"), os.path.join(args.out, "report.html")))


def run(args):
    dataset = DATASETS[args.dataset]
    if args.compare and dataset.name != "pascal_voc":
        raise UserError("--compare: the paper's tables are for pascal_voc only")
    pairs = read_pairs(args.pairs)
    check_outputs(args, pairs)
    net = open_model(args, dataset)
    scored = systems(args) if net else [(args.name, None)]
    folders = ["predictions", "predictions_crf"][:len(scored)] if net and not args.crf_search else []
    for folder in ["examples"] + folders:
        os.makedirs(os.path.join(args.out, folder), exist_ok=True)

    def keep(name, found):
        for folder, prediction in zip(folders, found):
            write_labels(os.path.join(args.out, folder, name + ".png"), prediction, dataset.name)

    # with --crf the examples show the CRF's prediction; with --crf-search, no CRF's
    matrices, shown = score(pairs, dataset, net, scored, args.examples,
                            0 if args.crf_search else -1, keep)
    if not matrices[0].sum():
        raise UserError("no truth pixel of %s holds a class (all 255?): nothing to score"
                        % args.pairs)
    write_outputs(args, dataset, rows(scored, matrices, dataset, len(pairs), args.crf_search),
                  scored, shown)
    return 0


def main(argv=None):
    return cli_common.main(PROG, run, parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
