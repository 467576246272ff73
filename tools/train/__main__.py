"""Command line of the training runner; see `python -m tools.train --help`."""
import argparse
import os
import shutil
import sys

from prototxt_gen import cli_common
from prototxt_gen.cli_common import Parser, UserError

from tools.backend import try_gpu
from tools.weights.caffemodel import Caffemodel

from .command import image_problem, local_caffe
from .runner import DONE, Divergence, Launch, Run, cpu_fix, say
from .solver import Solver

DESCRIPTION = """\
Trains with the stock `caffe train` CLI, locally or inside a Docker image, from
the directory the solver's relative paths start at (the repository root for
caffe_models/*). Shows progress with loss, learning rate and ETA; writes the
full log, a CSV of (iteration, loss, lr) and a loss-curve PNG beside the
snapshots. A rerun resumes from the newest snapshot. Training stops when the
loss turns NaN or exceeds FACTOR x ln(classes); snapshots taken after the
last healthy loss are renamed *.diverged, so a rerun resumes from a good one.

Several solvers run one after another, each later one starting from the
previous one's final weights (finished ones are skipped): the paper's
two-stage COCO front end is
  python -m tools.train caffe_models/pascal_voc/frontend_coco_stage1_solver.prototxt \\
      caffe_models/pascal_voc/frontend_coco_stage2_solver.prototxt --weights vgg16.caffemodel
"""


def factor(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text)
    if not value > 0 or value == float("inf"):  # NaN would never stop a diverging run
        raise argparse.ArgumentTypeError("%s: the factor must be a positive finite number" % text)
    return value


def parse_args(argv):
    p = Parser(prog="python -m tools.train", description=DESCRIPTION,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("solvers", nargs="+", metavar="SOLVER")
    p.add_argument("--weights", action="append", default=[], metavar="W.caffemodel",
                   help="initial weights of the first solver (repeatable), unless it resumes")
    p.add_argument("--gpu", type=cli_common.gpus, metavar="N|0,1,...|all",
                   help="GPU(s) to train on, as caffe's --gpu (several: the batch is multiplied); "
                        "default: the CPU, for solvers with solver_mode: CPU")
    p.add_argument("--docker", metavar="IMAGE",
                   help="run `caffe train` in this image (e.g. bvlc/caffe:gpu); see docker/README.md")
    p.add_argument("--mount", action="append", default=[], metavar="DIR",
                   help="extra host directory to mount in the container (repeatable)")
    p.add_argument("--caffe", metavar="BIN", help="local caffe binary (default: caffe on PATH)")
    p.add_argument("--diverge-factor", type=factor, default=3.0, metavar="F",
                   help="stop when loss > F x ln(classes) (default: %(default)s)")
    p.add_argument("--grace", type=int, default=20, metavar="N",
                   help="iterations before the loss limit applies; NaN stops at once "
                        "(default: %(default)s)")
    p.add_argument("--allow-missing-init", action="store_true",
                   help="train a context or joint net even when --weights lack its context "
                        "layers (they then start at 0 and never learn); refused otherwise")
    return p, p.parse_args(argv)


def missing_context(solver, models):
    """Context layers of the solver's training net that no --weights model holds."""
    held = set().union(*(model.layers for model in models))
    return [name for name in solver.context_layers() if name not in held]


def check_devices(solver, gpus):
    """What Caffe would do with the solver's mode and --gpu that a user would not
    expect: use the solver's GPU unasked (or abort, CPU-only), or abort on a
    Python layer in multi-GPU training."""
    name = os.path.relpath(solver.path)
    if gpus is None and solver.gpu_mode():
        raise UserError("%s: solver_mode is GPU but no --gpu was given: pass --gpu N, or "
                        "regenerate the solvers for the CPU with python -m prototxt_gen --cpu"
                        % name)
    several = gpus is not None and (gpus == "all" or "," in gpus)
    python = solver.python_layers() if several else []
    if python:
        raise UserError("%s: --gpu %s may train on several GPUs, and Caffe's multi-GPU training "
                        "cannot run the Python layer(s) %s of its training net: pass one "
                        "device, --gpu N" % (name, gpus, ", ".join(python)))
    if several and solver.batch():  # each GPU runs the whole batch: never a silent change
        count = "N" if gpus == "all" else len(gpus.split(","))
        say("%s: effective batch on %s GPUs = %d per GPU x %s x iter_size %d; solvers from "
            "python -m prototxt_gen --gpus %s keep the paper's" % (
                name, count, solver.batch(), count, solver.param.iter_size, count))


def executable(path):
    """The local caffe binary to run, checked before any work starts."""
    found = shutil.which(path)
    if not found:
        raise UserError("--caffe %s: %s" % (path, "not executable (chmod +x it)"
                                            if os.path.isfile(path) else "no such program"))
    return found


def run(args):
    caffe = args.caffe or (None if args.docker else local_caffe())
    if not args.docker and not caffe:
        raise UserError("no `caffe` on PATH: source the env file tools/install_caffe.sh prints, "
                        "or use --docker IMAGE")
    cli_common.require_files(args.solvers + args.weights)
    for path in args.weights:  # caffe train --weights=A,B reads a comma as a separator
        if "," in path:
            raise UserError("--weights %s: Caffe splits weights paths at commas; rename the file "
                            "or link it under a name without one" % path)
    # each file read once: a truncated one is an error now, not an abort inside Caffe
    models = [Caffemodel(path) for path in args.weights]
    solvers = [Solver(path) for path in args.solvers]
    for solver in solvers:
        for path in solver.missing():
            raise UserError("%s names %s, which does not exist (paths are relative to %s)"
                            % (os.path.relpath(solver.path), path, solver.cwd))
        solver.nets()  # a malformed net is an error now, not an abort inside Caffe
        check_devices(solver, args.gpu)
    first = solvers[0]
    if not args.allow_missing_init and not first.finished() and first.latest() is None:
        missing = missing_context(first, models)
        if missing:
            raise UserError("%s: %s lacks the context layers %s; they would start at 0 and never "
                            "learn: make them with `python -m tools.weights identity` (then "
                            "`tools.weights merge` for a joint net), or pass --allow-missing-init"
                            % (os.path.relpath(first.path), " + ".join(args.weights) or
                               "no --weights", ", ".join(missing)))
    if args.docker:
        problem = image_problem(args.docker)
        if problem:
            raise UserError("--docker %s: %s" % (args.docker, problem))
    if caffe and not args.docker:
        caffe = executable(caffe)
        if args.gpu is not None:  # Caffe's abort on a GPU it cannot use, as one line now
            try_gpu([caffe, "device_query", "--gpu=%s" % args.gpu], args.gpu, cpu_fix(solvers))
    launch = Launch(caffe=caffe, image=args.docker, gpu=args.gpu, extra_mounts=tuple(args.mount))
    weights = [os.path.abspath(w) for w in args.weights]
    for solver in solvers:
        if solver.finished():
            say("%s already finished (%s)" % (solver.name, solver.latest().weights))
        else:
            divergence = Divergence(solver.classes(), args.diverge_factor, args.grace)
            code = Run(solver, launch, divergence, weights).execute()
            if code != DONE:
                return code
        weights = [solver.latest().weights]
    return DONE


def main(argv=None):
    return cli_common.main("python -m tools.train", run, parse_args(sys.argv[1:] if argv is None
                                                                    else argv)[1])


if __name__ == "__main__":
    sys.exit(main())
