"""Command line of the evaluation; see `python -m tools.evaluate --help`."""
import argparse
import contextlib
import os
import shutil
import sys
import tempfile

import cv2

from prototxt_gen import cli_common
from prototxt_gen.cli_common import UserError, atomic_output
from prototxt_gen.spec.datasets import DATASETS

from .. import backend, crf
from ..crfrnn import trained as crf_rnn
from ..inference import checked_net, default_net
from ..palettes import names, write_labels
from . import cityscapes
from .paper import published
from .scoring import read_pairs, rows, score, systems
from .tables import shown_columns, text_table, write_csv, write_html

DESCRIPTION = """\
Accumulates one confusion matrix over all pairs and prints per-class IoU and
mean IoU in the layout of the paper's Tables 2-4; writes OUT/iou.csv and
OUT/report.html (the table and examples: input, prediction, ground truth),
replacing all outputs of an earlier run in OUT only once this one succeeds.

PAIRS is a text file, one pair per line: PREDICTION.png TRUTH.png [IMAGE]
(IMAGE only shows in the report), or, with --weights, IMAGE TRUTH.png (the
net predicts; predictions are saved in OUT/predictions/); relative paths are
read from PAIRS' folder. Label PNGs hold
class indices (palette or grey PNGs; colour PNGs are mapped through the data
set's palette); 255 is ignored. For VOC, e.g.:
  sed 's#.*#pred/&.png VOC2012/SegmentationClass/&.png VOC2012/JPEGImages/&.jpg#' \\
      VOC2012/ImageSets/Segmentation/val.txt > pairs.txt

With --weights and --crf, each image is scored with and without the dense CRF
from one forward pass: the rows NAME and "NAME + CRF", as in Tables 3 and 4
(e.g. --name "Front + Large" --crf --compare); the CRF's predictions go to
OUT/predictions_crf/. --crf-rnn likewise adds "NAME + CRF-RNN": the CRF-RNN
layer the weights hold (trained with a `prototxt_gen --crf-rnn` net), 10
mean-field iterations over the whole image; its predictions go to
OUT/predictions_crf_rnn/. --crf-search instead scores
every CRF setting of a small grid (bilateral weight 3/4/5 x width 50/69/90/121
x colour width 3/5, the other settings as given) from one forward pass per
image and lists the settings best first (in OUT/iou.csv too); the paper and
DeepLab tuned their CRFs this way on validation images (DeepLab on 100).

Cityscapes: with the official gtFine files as truths (*_gtFine_labelIds.png,
recognised by name, with the *_gtFine_instanceIds.png beside each; needs
`pip install cityscapesscripts`), the labelIds are scored as the 19 trainIds,
and the benchmark's class iIoU, category IoU and category iIoU are added, as
cityscapesscripts' evalPixelLevelSemanticLabeling computes them, with a
"NAME iIoU" row of per-class iIoU; below the table they are printed with the
category figures, and OUT/cityscapes.json holds them all (fractions, under the
script's keys).  Predictions are trainIds, as our nets and tools write them.
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
                   help="also list the authors' published rows for the data set, each with "
                        "its source (VOC: Tables 2-4; CamVid, KITTI: Tables 5, 6; Cityscapes: "
                        "Tables 7, 8 and Cordts et al.'s iIoU)")
    p.add_argument("--examples", type=int, default=8, metavar="N",
                   help="pairs shown in the report (default: %(default)s)")
    p.add_argument("--out", default="evaluation", metavar="DIR", help="(default: %(default)s)")
    p.add_argument("--crf-search", action="store_true",
                   help="grid-search the CRF's bilateral kernel instead (needs --weights)")
    crf.add_arguments(p)
    crf_rnn.add_argument(p)
    return p.parse_args(argv)


def open_model(args, dataset):
    """(the deploy net for --weights, its trained CRF-RNN layer for --crf-rnn),
    None for either not asked for; CRF options need a net."""
    if not args.weights:
        if args.crf or args.crf_search or args.crf_rnn:
            raise UserError("--crf, --crf-rnn and --crf-search need --weights: the CRF refines "
                            "the net's probabilities")
        return None, None
    if args.crf_search and args.crf_rnn:
        raise UserError("--crf-search scores dense CRF settings only: drop --crf-rnn")
    if args.crf or args.crf_search:
        crf.require()
    net = checked_net(dataset, args.net or default_net(dataset, "joint"), args.weights, "prob",
                      args.backend, args.gpu)
    return net, crf_rnn.Trained(args.weights, dataset) if args.crf_rnn else None


# What a run writes in OUT: two files and the folders staged() replaces.
FILES = ("iou.csv", "report.html")
BENCHMARK = "cityscapes.json"  # official Cityscapes truths only; else an old one is removed
FOLDERS = ("examples", "predictions", "predictions_crf", "predictions_crf_rnn")


def check_outputs(args, pairs):
    """Every output is refused before any work if it would overwrite an input,
    or replace a folder that holds one."""
    inputs = [p for pair in pairs for p in pair if p]
    cli_common.require_files(inputs)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UserError("output folder %s is a file; give a folder" % args.out)
    if args.weights:
        # predictions are named after the truth, so two truths of one name would collide
        for folder in FOLDERS[1:]:
            cli_common.output_paths([truth for _, truth, _ in pairs],
                                    os.path.join(args.out, folder), ".png", inputs + [args.pairs])
    for name in FILES + FOLDERS + (BENCHMARK,):
        output = os.path.join(args.out, name)
        cli_common.refuse_overwrite(output, inputs + [args.pairs])
        inside = [p for p in inputs
                  if os.path.realpath(p).startswith(os.path.realpath(output) + os.sep)]
        if inside:
            raise UserError("the input %s is in %s, which this evaluation replaces with its own "
                            "outputs; choose another --out" % (inside[0], output))


@contextlib.contextmanager
def staged(out):
    """A fresh folder in OUT for the run's folders (examples, predictions): once
    the block has succeeded they replace those of any earlier run, so that OUT
    holds this run's outputs and no others.  A failure or Ctrl-C leaves OUT as
    it was (an OUT made for the run is removed)."""
    made = not os.path.isdir(out)
    os.makedirs(out, exist_ok=True)
    folder = tempfile.mkdtemp(prefix=".evaluate-", dir=out)
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder)
        if made:
            os.rmdir(out)
        raise
    replaced = os.path.join(folder, ".replaced")
    os.mkdir(replaced)
    for name in FOLDERS:
        if os.path.lexists(os.path.join(out, name)):
            os.rename(os.path.join(out, name), os.path.join(replaced, name))
        if os.path.lexists(os.path.join(folder, name)):
            os.rename(os.path.join(folder, name), os.path.join(out, name))
    shutil.rmtree(folder)


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


def write_outputs(args, folder, files, dataset, ours, scored, shown, benchmark=None):
    """The table on stdout, the examples in `folder`, the table and the report
    in `files` (iou.csv, report.html, and cityscapes.json with a benchmark)."""
    examples = [save_example(folder, *example, dataset.name) for example in shown]
    classes = names(dataset.name)
    if benchmark:
        ours = benchmark.report(scored, ours)
    table = ours + (published(dataset.name) if args.compare else [])
    print(text_table(table, shown_columns(classes)))
    if "background" in classes:
        print("background IoU %s: in the mean, not shown (as in the paper)" % ", ".join(
            "%.1f" % row.ious["background"] for row in ours))
    if args.crf_search:
        best = next(params for label, params in scored if label == ours[0].name)
        print("best: %s" % (" ".join("--crf-%s %g" % (k.replace("_", "-"), getattr(best, k))
                                     for k in crf.GRID) if best else "no CRF"))
    title = "%s on %s" % (args.name, dataset.name)
    if benchmark:
        print(benchmark.text(scored))
        benchmark.write_json(files[2], scored)
    elif dataset.name == "cityscapes":
        print("%s: note: %s" % (PROG, cityscapes.CLASS_IOU_ONLY), file=sys.stderr)
        title += " (%s)" % cityscapes.CLASS_IOU_ONLY
    write_csv(files[0], table, classes)
    write_html(files[1], title, table, shown_columns(classes), examples)


def run(args):
    dataset = DATASETS[args.dataset]
    pairs = read_pairs(args.pairs)
    check_outputs(args, pairs)
    net, trained = open_model(args, dataset)
    scored = systems(args, trained) if net else [(args.name, None)]
    benchmark = (cityscapes.Benchmark.of_pairs(pairs, len(scored))
                 if dataset.name == "cityscapes" else None)
    folders = []
    if net and not args.crf_search:  # one per scored system
        folders = (["predictions"] + ["predictions_crf"] * args.crf
                   + ["predictions_crf_rnn"] * args.crf_rnn)
    # On success the report and the table replace the old ones, then the folders do.
    benchmark_path = os.path.join(args.out, BENCHMARK)
    with staged(args.out) as out, atomic_output(os.path.join(args.out, FILES[0])) as table, \
            atomic_output(os.path.join(args.out, FILES[1])) as report, \
            contextlib.ExitStack() as optional:
        figures = optional.enter_context(atomic_output(benchmark_path)) if benchmark else None
        for folder in ["examples"] + folders:
            os.mkdir(os.path.join(out, folder))

        def keep(name, found):
            for folder, prediction in zip(folders, found):
                write_labels(os.path.join(out, folder, name + ".png"), prediction, dataset.name)

        # the examples show the last system's prediction (CRF-RNN's, else the CRF's);
        # with --crf-search, no CRF's
        matrices, shown = score(pairs, dataset, net, scored, args.examples,
                                0 if args.crf_search else -1, keep, benchmark)
        if not matrices[0].sum():
            raise UserError("no truth pixel of %s holds a class (all 255?): nothing to score"
                            % args.pairs)
        write_outputs(args, out, (table, report, figures), dataset,
                      rows(scored, matrices, dataset, len(pairs), args.crf_search), scored, shown,
                      benchmark)
    written = [os.path.join(args.out, name) for name in FILES]
    if benchmark:
        written.append(benchmark_path)
    elif os.path.isfile(benchmark_path):  # an earlier run's, of other truths
        os.remove(benchmark_path)
    print("wrote %s and %s" % (", ".join(written[:-1]), written[-1]))
    return 0


def main(argv=None):
    return cli_common.main(PROG, run, parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
