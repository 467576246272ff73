"""Command line of the recipe runner; see `python -m tools.reproduce --help`."""
import argparse
import csv
import glob
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

from prototxt_gen import cli_common
from prototxt_gen.cli_common import (Parser, crop_size, dataset, positive, stage_iterations,
                                     tile_size)
from prototxt_gen.spec.datasets import DATASETS

from . import estimate, stamps
from .plan import Recipe, Write

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROG = "python -m tools.reproduce"
DESCRIPTION = """\
Runs the paper's whole recipe for one data set, each stage through the tool a
user would run by hand, in a work directory (default runs/<data set>):

  nets           python -m prototxt_gen (front end; context + joint per module width)
  data           python -m tools.data voc | lists          -> data/<data set>/{train,val}_lmdb
  lists          image / label / score lists from the LMDB manifests
  init_frontend  python -m tools.weights vgg16             -> init/frontend.caffemodel
  frontend       python -m tools.train frontend_solver
  features       python -m tools.features (whole deploy tile outputs)
  context_data   python -m tools.data context              -> data/<data set>/context_*_lmdb
  evaluate_frontend  python -m tools.evaluate (the front end alone)
  per context width (--context basic / large; default the released model's):
  init_context_W python -m tools.weights identity
  context_W      python -m tools.train context_solver
  init_joint_W, joint_W   (with --joint) tools.weights merge, tools.train joint_solver
  evaluate_W     python -m tools.evaluate with the released-name deploy net
                 (VOC: the paper's Table 3 row beside ours)
  with --crf-rnn (CRF-RNN, crfasrnn's recipe, on the front end and on each W):
  frontend_crfrnn, evaluate_frontend_crfrnn   tools.train, tools.evaluate --crf-rnn
  init_crfrnn_W (without --joint: tools.weights merge), crfrnn_W, evaluate_crfrnn_W

A stage whose outputs are complete is skipped when its inputs and commands are
those recorded in its stamp (stamps/<stage>.json); one whose inputs changed is
redone (LMDBs rebuilt, old snapshots set aside under snapshots/.../stale-*);
one that was interrupted resumes (training from its newest snapshot).  Rerun
the same command after a failure or Ctrl-C.
"""
EPILOG = """\
examples:
  python -m tools.reproduce pascal_voc --voc VOCdevkit/VOC2012 --sbd benchmark_RELEASE \\
      --vgg VGG_ILSVRC_16_layers.caffemodel --context basic --context large --joint --gpu 0
  python -m tools.reproduce camvid --train-images train_image.txt --train-labels train_label.txt \\
      --val-images val_image.txt --val-labels val_label.txt --vgg VGG_ILSVRC_16_layers.caffemodel \\
      --dry-run
"""


def parse_args(argv):
    p = Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", type=dataset, metavar="DATASET", help=", ".join(DATASETS))
    p.add_argument("--work", metavar="DIR", help="work directory (default: runs/<data set>)")
    p.add_argument("--vgg", required=True, metavar="VGG_ILSVRC_16_layers.caffemodel|random",
                   help="ImageNet VGG-16, the front end's initialization (its published checksum "
                        "is verified); `random`: weights of the right shapes, for smoke tests "
                        "only; --dry-run plans without the file")
    p.add_argument("--any-vgg", action="store_true",
                   help="take a VGG-16 file other than the published one (no checksum check)")
    src = p.add_argument_group("data (VOC: --voc and --sbd [--coco]; Cityscapes, CamVid, KITTI: "
                               "--root; any data set: the four lists)")
    src.add_argument("--voc", metavar="DIR", help="the VOC2012 directory")
    src.add_argument("--sbd", metavar="DIR", help="SBD's benchmark_RELEASE directory")
    src.add_argument("--coco", nargs=2, action="append", metavar=("ANNOTATIONS", "IMAGES"),
                     help="VOC: a COCO instances JSON and its images (repeatable): the paper's "
                          "two-stage front end, VOC + COCO then VOC alone (tools.data coco)")
    src.add_argument("--root", metavar="DIR",
                     help="the data set as downloaded, read by `python -m tools.data DATASET "
                          "--root DIR` (Cityscapes: leftImg8bit/ and gtFine/; CamVid: SegNet's "
                          "CamVid/; KITTI: see python -m tools.data kitti --help)")
    for split in ("train", "val"):
        src.add_argument("--%s-images" % split, metavar="LIST", help="one %s image per line" % split)
        src.add_argument("--%s-labels" % split, metavar="LIST",
                         help="one %s label per line, paired by line" % split)
    p.add_argument("--context", action="append", choices=("basic", "large"),
                   help="context module width (repeatable: both are trained from the same "
                        "front end); default: the released model's (VOC large, others basic)")
    p.add_argument("--joint", action="store_true",
                   help="also train front end + context jointly and evaluate that")
    p.add_argument("--crf-rnn", action="store_true",
                   help="also train CRF-RNN on the trained front end and on each context (or "
                        "joint) net, and evaluate each with --crf-rnn (VOC: beside the paper's "
                        "'+ CRF-RNN' rows of Table 3)")
    p.add_argument("--gpu", type=cli_common.gpus, metavar="N|0,1,...",
                   help="GPU(s) for training, with solvers written for that many GPUs "
                        "(prototxt_gen --gpus); features and evaluation use the first")
    p.add_argument("--caffe", metavar="BIN",
                   help="the caffe binary for training (default: caffe on PATH); a pycaffe in "
                        "its build (BIN/../../python) is used for stored scores and evaluation")
    p.add_argument("--docker", metavar="IMAGE",
                   help="run every Caffe step in this image: training (tools.train --docker), "
                        "stored scores and evaluation (docker/run.sh); e.g. dilation-caffe:cpu, "
                        "see docker/README.md")
    p.add_argument("--dry-run", action="store_true",
                   help="print every stage's commands (and whether it would run) without running")
    gen = p.add_argument_group("passed to python -m prototxt_gen (see its --help)")
    gen.add_argument("--crop", type=crop_size, metavar="N")
    gen.add_argument("--batch", type=positive, metavar="N")
    gen.add_argument("--iter-size", type=positive, metavar="N")
    gen.add_argument("--context-crop", type=positive, metavar="N")
    gen.add_argument("--context-batch", type=positive, metavar="N")
    gen.add_argument("--test-iter", type=positive, metavar="N")
    gen.add_argument("--deploy-size", metavar="N|HxW")
    gen.add_argument("--lr-preset", choices=("paper", "authors-code"))
    gen.add_argument("--context-padding", choices=("same", "buffer"))
    gen.add_argument("--max-iter", type=stage_iterations, action="append", default=[],
                     metavar="STAGE=N")
    gen.add_argument("--cpu", action="store_true")
    gen.add_argument("--train-upsampled", action="store_true")
    gen.add_argument("--no-test-net", action="store_true")
    args = p.parse_args(argv)
    if args.deploy_size:
        try:
            tile_size(args.deploy_size)
        except argparse.ArgumentTypeError as e:
            p.error("argument --deploy-size: %s" % e)
    lists = [args.train_images, args.train_labels, args.val_images, args.val_labels]
    if args.voc or args.sbd:
        if args.dataset != "pascal_voc" or not (args.voc and args.sbd):
            p.error("--voc and --sbd go together, for pascal_voc only")
    elif args.root:
        if args.dataset == "pascal_voc":
            p.error("--root is for cityscapes, camvid and kitti; VOC takes --voc and --sbd")
    elif None in lists:
        p.error("give --voc and --sbd (pascal_voc), --root (cityscapes, camvid, kitti) or all of "
                "--train-images, --train-labels, --val-images, --val-labels")
    if args.coco and not args.voc:
        p.error("--coco augments VOC: give it with --voc and --sbd")
    if args.vgg == "random":
        print("%s: --vgg random: the front end starts from random weights, not ImageNet's; for "
              "smoke tests only" % PROG, file=sys.stderr)
    for name in ("vgg", "voc", "sbd", "root", "caffe", "train_images", "train_labels",
                 "val_images", "val_labels"):
        path = getattr(args, name)
        if path is not None and path != "random":
            planned = name == "vgg" and args.dry_run  # a dry run plans without the 528 MB file
            if not (os.path.exists(path) or planned):
                p.error("%s does not exist (--%s)" % (path, name.replace("_", "-")))
            setattr(args, name, os.path.abspath(path))
    for pair in args.coco or ():
        for path in pair:
            if not os.path.exists(path):
                p.error("%s does not exist (--coco)" % path)
        pair[:] = [os.path.abspath(path) for path in pair]
    if args.gpu == "all":
        p.error("--gpu all: name the devices (e.g. --gpu 0,1,2,3), so that the solvers keep the "
                "paper's effective batch on that many GPUs (prototxt_gen --gpus)")
    if args.gpu is None and not args.cpu:  # else tools.train refuses them, hours in
        p.error("the generated solvers would train on the GPU (solver_mode: GPU): pass --gpu N, "
                "or --cpu to generate them for the CPU")
    args.work = os.path.abspath(args.work or os.path.join("runs", args.dataset))
    return args


def shown(step):
    return str(step) if isinstance(step, Write) else "python -m " + " ".join(map(shlex.quote, step))


def set_aside(work, prefix):
    """Snapshots and records of a training stage whose inputs changed, moved out of
    the runner's way (never deleted)."""
    found = [p for p in glob.glob(os.path.join(work, prefix) + "*")
             if os.path.isfile(p) and os.path.basename(p).startswith(os.path.basename(prefix) + "_")
             or p == os.path.join(work, prefix) + ".log"]
    if found:
        aside = os.path.join(os.path.dirname(os.path.join(work, prefix)),
                             "stale-%s" % time.strftime("%Y%m%d-%H%M%S"))
        os.makedirs(aside, exist_ok=True)
        for path in found:
            shutil.move(path, aside)
        print("  inputs changed: %d old files set aside in %s" % (len(found), aside), flush=True)


def pycaffe_of(caffe):
    """The pycaffe of the build a caffe binary belongs to (build/tools/caffe ->
    python/), or None."""
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(caffe))), "python")
    return folder if os.path.isdir(os.path.join(folder, "caffe")) else None


def env(caffe=None):
    e = dict(os.environ)
    first = [REPO] + ([pycaffe_of(caffe)] if caffe and pycaffe_of(caffe) else [])
    e["PYTHONPATH"] = os.pathsep.join(first + ([e["PYTHONPATH"]] if e.get("PYTHONPATH") else []))
    return e


# Tools that need pycaffe: with --docker they run inside the image too, so the
# host needs no Caffe of its own.
IN_IMAGE = ("tools.features", "tools.evaluate")


def command(argv, recipe):
    """The process that runs one step: `python -m TOOL`, or docker/run.sh for a
    tool that runs inside the image, with the data set's folders mounted."""
    image = recipe and recipe.args.docker
    if not (image and argv[0] in IN_IMAGE):
        return [sys.executable, "-m"] + argv, env(recipe and recipe.args.caffe)
    script = os.path.join(REPO, "docker", "run.sh")
    if not os.path.isfile(script):
        raise cli_common.UserError("--docker runs %s through %s, which this installation lacks: "
                                   "run tools.reproduce from a checkout of the repository"
                                   % (argv[0], script))
    mounts = os.pathsep.join(recipe.sample_dirs())
    return ["bash", script, image, argv[0].split(".", 1)[1]] + argv[1:], dict(env(),
                                                                             DOCKER_MOUNTS=mounts)


class Failed(Exception):
    def __init__(self, stage, step, code):
        super().__init__("stage %s failed: `%s` exited with %d; fix the cause and rerun the same "
                         "command to resume" % (stage, shown(step), code))
        self.code = code


def run_stage(stage, work, dry_run, recipe=None):
    """-> "skipped", "ran" or, in a dry run, "would run"."""
    key = stamps.key([shown(s) for s in stage.steps], [os.path.join(work, p) for p in stage.inputs])
    path = os.path.join(work, "stamps", stage.name + ".json")
    old = stamps.read(path)
    complete = all(os.path.exists(os.path.join(work, p)) for p in stage.outputs)
    if not stage.always and old and old.get("done") and old.get("key") == key and complete:
        return "skipped"
    changed = old is not None and old.get("key") != key
    if dry_run:
        for step in stage.steps:
            print("  " + shown(step))
        return "would redo" if changed else "would run"
    if changed and stage.snapshots:
        set_aside(work, stage.snapshots)
    stamps.write(path, {"key": key, "done": False})
    for output in stage.outputs:  # the tools write files, not folders
        os.makedirs(os.path.dirname(os.path.join(work, output)), exist_ok=True)
    for step in stage.steps:
        if isinstance(step, Write):
            target = os.path.join(work, step.path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with cli_common.atomic_output(target) as tmp, open(tmp, "w") as f:
                f.write(step.make())
            continue
        argv = list(step) + (list(stage.force) if changed and step[0] == "tools.data" else [])
        print("  $ " + shown(argv), flush=True)
        process, environment = command(argv, recipe)
        code = subprocess.call(process, cwd=work, env=environment)
        if code:
            raise Failed(stage.name, argv, code)
    stamps.write(path, {"key": key, "done": True})
    return "ran"


def results(recipe):
    """(our row, its mean IoU, the published row, its mean IoU, where it was
    printed) per evaluation: the last row of ours (with --crf-rnn, the CRF-RNN one)."""
    rows = []
    for name in [n.split("_", 1)[1] for n in recipe.names() if n.startswith("evaluate_")]:
        path = os.path.join(recipe.args.work, "evaluation", name, "iou.csv")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            ours = [r for r in csv.DictReader(f) if r["source"].startswith("this evaluation")]
        if ours:
            paper = recipe.published_row(name)
            rows.append((ours[-1]["name"], ours[-1]["mean IoU"]) + (
                (paper.name, "%.1f" % paper.mean, paper.source) if paper else ("-", "-", "")))
    return rows


def print_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())


def dry_facts(recipe, scratch):
    """In a dry run the solvers are generated into a scratch copy, only to read
    their iteration counts and snapshot names."""
    for step in recipe.generator_steps(os.path.join(scratch, "models")):
        code = subprocess.call([sys.executable, "-m"] + step, cwd=scratch, env=env(),
                               stdout=subprocess.DEVNULL)
        if code:
            raise Failed("nets", step, code)


def data_estimate(stage, scratch):
    """tools.data's own --dry-run figures for the LMDBs a data stage builds."""
    for step in stage.steps:
        code = subprocess.call([sys.executable, "-m"] + step + ["--dry-run"], cwd=scratch,
                               env=env())
        if code:
            raise Failed(stage.name, step, code)


def print_estimate(trained, scratch, device):
    table, tflops = estimate.rows(trained, scratch, device)
    print("\nestimate: training compute from the nets' shapes; time at %g TFLOP/s sustained, an "
          "assumption for %s (time one iteration of yours and scale)" % (tflops, device.upper()))
    print_table(("stage", "iterations", "PFLOP", "time", "snapshots"), table)


def run(args):
    scratch = tempfile.mkdtemp(prefix="reproduce-") if args.dry_run else None
    recipe = Recipe(args, scratch or args.work)
    names = recipe.names()
    summary, started, trained = [], time.time(), []
    try:
        if scratch:
            dry_facts(recipe, scratch)
        else:
            os.makedirs(args.work, exist_ok=True)
        print("%s %s in %s: %d stages" % (PROG, args.dataset, args.work, len(names)), flush=True)
        for i, name in enumerate(names, 1):
            begin = time.time()
            stage = recipe.stage(name)
            print("[%d/%d] %s" % (i, len(names), name), flush=True)
            status = run_stage(stage, args.work, args.dry_run, recipe)
            if args.dry_run and name == "data":
                data_estimate(stage, scratch)
            trained += [(name, os.path.join(scratch, step[1])) for step in stage.steps
                        if scratch and isinstance(step, list) and step[0] == "tools.train"]
            summary.append((name, status, "%.0f" % (time.time() - begin), stage.result or ""))
            if status == "skipped":
                print("  skipped: complete, inputs unchanged", flush=True)
        if scratch:
            print_estimate(trained, scratch, "cpu" if args.cpu else "gpu")
    except Failed as e:
        # A stage's own exit code says whose fault it was: 2 is bad input.
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        return 2 if e.code == 2 else 1
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    print("\nsummary (%.0f s)" % (time.time() - started))
    print_table(("stage", "status", "seconds", "output"), summary)
    if not args.dry_run:
        rows = results(recipe)
        if rows:
            print("\nscored on the %s split" % recipe.evaluated_split())
            print_table(("ours", "mean IoU", "published", "mean IoU", "source"), rows)
    return 0


def main(argv=None):
    return cli_common.main(PROG, run, parse_args(sys.argv[1:] if argv is None else argv))
