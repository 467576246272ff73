"""Where every generated, built and trained file lives (docs/design.md, Files).

Generated solvers name nets, LMDBs and snapshots by these paths relative to
the directory `caffe train` runs in, so the trees can move together.
"""
import os

STAGES = ("frontend", "context", "joint")
MODELS = "caffe_models"     # generated nets and solvers: MODELS/<data set>/<file>
LMDB_ROOT = "data"          # LMDB_ROOT/<data set>/<split>_lmdb
SNAPSHOT_ROOT = "snapshots"  # SNAPSHOT_ROOT/<data set>/<solver>_iter_N.caffemodel
IMAGE_SPLITS = ("train", "val", "train_coco")
CONTEXT_SPLITS = ("context_train", "context_val")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def net_file(stage, phase):
    """e.g. frontend_train.prototxt; phase: train, test or deploy."""
    return "%s_%s.prototxt" % (stage, phase)


def solver_file(solver):
    return "%s_solver.prototxt" % solver


def released_deploy(ds):
    """The file name of the authors' released deploy net of data set `ds`."""
    return "dilation%d_%s_deploy.prototxt" % (ds.context_layers, ds.name)


def lmdb(root, dataset, split):
    return "%s/%s/%s_lmdb" % (root, dataset, split)


def snapshot_prefix(root, dataset, solver):
    return "%s/%s/%s" % (root, dataset, solver)


def snapshot_weights(prefix, iteration):
    """The .caffemodel Caffe writes at `iteration` under a solver's snapshot prefix."""
    return "%s_iter_%d.caffemodel" % (prefix, iteration)


def model_file(dataset, name, root=os.path.join(REPO, MODELS)):
    """A generated file of the checked-in tree: caffe_models/<data set>/<name>."""
    return os.path.join(root, dataset, name)


def deploy_file(ds, stage, crf_rnn=False):
    """The deploy net of a stage; the joint one carries the released name, and
    one with CRF-RNN (--crf-rnn) is <stage>_crfrnn_deploy.prototxt."""
    if crf_rnn:
        return net_file(stage + "_crfrnn", "deploy")
    return released_deploy(ds) if stage == "joint" else net_file(stage, "deploy")
