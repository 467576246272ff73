"""The recipe of one data set as stages (docs/design.md, Schedules): data ->
initial weights -> front end -> stored features -> context (Basic and/or
Large) -> optional joint -> evaluation.  Every step is another tool's command
line, run in the work directory, so the generated solvers' relative paths
(data/, snapshots/) land there.

Stages are built one at a time, just before they run, because later ones name
files that earlier ones make (final snapshots, the LMDB manifests' samples).
"""
import json
import os
from dataclasses import dataclass
from typing import Callable

from prototxt_gen.cli_common import read_lines, read_text
from prototxt_gen.prototxt import read_prototxt
from prototxt_gen.schema import pb
from prototxt_gen.spec import paths
from prototxt_gen.spec.datasets import DATASETS

from ..data.samples import files, paired
from ..evaluate import paper
from ..data.voc_sbd import voc_inputs

# Our evaluations beside the published rows: VOC's Table 3 row of each stage;
# the other data sets published only their released system (the front end
# with the released context width).
VOC_ROWS = {"frontend": "Front end", "basic": "Front + Basic", "large": "Front + Large",
            "frontend_crfrnn": "Front end + CRF-RNN", "crfrnn_basic": "Front + Basic + CRF-RNN",
            "crfrnn_large": "Front + Large + CRF-RNN"}
GENERATOR_OPTIONS = ("crop", "batch", "iter_size", "context_crop", "context_batch", "test_iter",
                     "deploy_size", "lr_preset", "context_padding")
GENERATOR_FLAGS = ("cpu", "train_upsampled", "no_test_net", "crf_rnn")
# The labelled splits each importer (tools.data DATASET --root) brings.
IMPORTED_SPLITS = {"camvid": ("train", "val", "test"), "kitti": ("train", "val"),
                   "cityscapes": ("train", "val")}


@dataclass
class Write:
    """A step done here, not by a tool: writes a list file from earlier outputs."""
    path: str
    what: str
    make: Callable[[], str]

    def __str__(self):
        return "write %s (%s)" % (self.path, self.what)


@dataclass
class Stage:
    name: str
    steps: list                 # argv lists (module first) and Write steps
    inputs: list
    outputs: list
    force: tuple = ()           # appended to tool commands when the inputs changed
    snapshots: str = None       # snapshot prefix set aside when the inputs changed
    always: bool = False        # cheap and idempotent: run every time (the generator)
    result: str = None          # the file the summary names


def solver_final(solver):
    """(snapshot prefix, final .caffemodel) of a generated solver."""
    param = read_prototxt(solver, pb.SolverParameter)
    return param.snapshot_prefix, paths.snapshot_weights(param.snapshot_prefix, param.max_iter)


def manifest_samples(lmdb):
    """(image, label) pairs of a built LMDB, from the manifest tools.data writes."""
    with open(lmdb + ".json") as f:
        return [(source, label) for _, source, label in json.load(f)["samples"]]


def lines(values):
    return "".join("%s\n" % v for v in values)


class Recipe:
    """Knows the work directory's layout and makes each stage on demand."""

    def __init__(self, args, facts="."):
        self.args, self.ds = args, args.dataset
        self.facts = facts  # where models/ is read from (a scratch copy in a dry run)

    def one_gpu(self):
        """--gpu for features and evaluation, which run one net: the first device."""
        gpus = self.args.gpu
        return [] if gpus is None else ["--gpu", gpus.split(",")[0]]

    def sample_dirs(self):
        """The folders of every image and label the LMDBs were built from, and of
        the pairs scored (Cityscapes: the official labelIds and instanceIds),
        which a tool running in a container must see."""
        work = self.args.work
        paths = [path for split in ("train", "val")
                 for pair in manifest_samples(os.path.join(work, self.lmdb(split))) for path in pair]
        scored = os.path.join(work, "lists", "%s_pairs.txt" % self.evaluated_split())
        if os.path.exists(scored):
            paths += [path for line in read_lines(scored) for path in line.split("\t")]
        return sorted({os.path.dirname(os.path.join(work, path)) for path in paths})

    def lmdb(self, split):
        """The LMDB of a split, as the generated nets read it (--lmdb-root data)."""
        return paths.lmdb(paths.LMDB_ROOT, self.ds, split)

    def model(self, group, name):
        return os.path.join("models", group, self.ds, name)

    def final(self, solver):
        """(snapshot prefix, final weights) of a generated solver."""
        return solver_final(os.path.join(self.facts, solver))

    def widths(self):
        return self.args.context or [self.released_width()]

    def names(self):
        crf_rnn = self.args.crf_rnn
        names = ["nets", "data", "lists", "init_frontend"] + ["frontend_coco"] * bool(
            self.args.coco) + ["frontend", "features", "context_data", "evaluate_frontend"] + ["frontend_crfrnn", "evaluate_frontend_crfrnn"] * crf_rnn
        for w in self.widths():
            names += ["init_context_" + w, "context_" + w]
            if self.args.joint:
                names += ["init_joint_" + w, "joint_" + w]
            names.append("evaluate_" + w)
            if crf_rnn:  # on the joint net's weights, or on the front end and context merged
                names += ([] if self.args.joint else ["init_crfrnn_" + w]) + [
                    "crfrnn_" + w, "evaluate_crfrnn_" + w]
        return names

    def stage(self, name):
        kind, _, width = name.rpartition("_") if name.rsplit("_", 1)[-1] in ("basic", "large") \
            else (name, "", "")
        return getattr(self, kind)(width) if width else getattr(self, kind)()

    # ---- nets, data, lists ------------------------------------------------------------

    def generator(self, out, extra=()):
        a = self.args
        argv = ["prototxt_gen", "--dataset", self.ds, "--out", out, "--lmdb-root", paths.LMDB_ROOT]
        for key in GENERATOR_OPTIONS:
            value = getattr(a, key)
            if value is not None:
                argv += ["--" + key.replace("_", "-"), str(value)]
        argv += ["--" + key.replace("_", "-") for key in GENERATOR_FLAGS if getattr(a, key)]
        if a.gpu and "," in a.gpu:  # solvers that keep the paper's batch on that many GPUs
            argv += ["--gpus", str(len(a.gpu.split(",")))]
        for stage, count in a.max_iter:
            argv += ["--max-iter", "%s=%d" % (stage, count)]
        return argv + list(extra)

    def generator_steps(self, out):
        steps = [self.generator(os.path.join(out, "front"), ["--stage", "frontend"])]
        for w in self.widths():
            steps.append(self.generator(os.path.join(out, w), [
                "--stage", "context", "--stage", "joint", "--context-width", w,
                "--snapshot-root", os.path.join(paths.SNAPSHOT_ROOT, w)]))
        return steps

    def nets(self):
        return Stage("nets", self.generator_steps("models"), [],
                     [self.model("front", paths.solver_file("frontend"))], always=True)

    def data(self):
        a = self.args
        out = ["--lmdb-root", paths.LMDB_ROOT] + (["--crop", str(a.crop)] if a.crop else [])
        lmdbs = [self.lmdb(split) for split in ("train", "val")]
        if a.voc:
            steps = [["tools.data", "voc", "--voc", a.voc, "--sbd", a.sbd] + out]
            inputs = voc_inputs(a.voc, a.sbd)
            if a.coco:
                steps.append(["tools.data", "coco", "--voc", a.voc, "--sbd", a.sbd] + [
                    arg for pair in a.coco for arg in ["--coco"] + list(pair)] + out)
                inputs += [path for pair in a.coco for path in pair]
                lmdbs.append(self.lmdb("train_coco"))
        elif a.root:  # the importer finds every file; the stamp fingerprints the whole tree
            steps = [["tools.data", self.ds, "--root", a.root] + out]
            inputs = [a.root]
        else:
            steps = [["tools.data", "lists", "--dataset", self.ds, "--split", split,
                      "--images", getattr(a, split + "_images"), "--labels", getattr(a, split + "_labels")]
                     + out for split in ("train", "val")]
            # the lists and, by content, every image and label they name
            inputs = [a.train_images, a.train_labels, a.val_images, a.val_labels] + files(
                paired(a.train_images, a.train_labels) + paired(a.val_images, a.val_labels))
        return Stage("data", steps, inputs, [p + ".json" for p in lmdbs], force=("--force",))

    def lists(self):
        steps = []
        for split in ("train", "val"):
            lmdb = self.lmdb(split)
            pairs = lambda lmdb=lmdb: manifest_samples(os.path.join(self.args.work, lmdb))  # noqa: E731
            steps += [
                Write("lists/%s_images.txt" % split, "images of " + lmdb,
                      lambda pairs=pairs: lines(i for i, _ in pairs())),
                Write("lists/%s_labels.txt" % split, "labels of " + lmdb,
                      lambda pairs=pairs: lines(l for _, l in pairs())),
                Write("lists/%s_features.txt" % split, "their stored scores under features/" + split,
                      lambda pairs=pairs, split=split: lines(  # read from lists/: ../features
                          "../features/%s/%s.npy" % (split, os.path.splitext(os.path.basename(i))[0])
                          for i, _ in pairs())),
            ]
        split = self.evaluated_split()
        if self.args.root:  # the importer's pairs: Cityscapes' official labelIds for its metrics
            imported = os.path.join(self.args.work, paths.LMDB_ROOT, self.ds, "lists",
                                    split + "_pairs.txt")
            steps.append(Write("lists/%s_pairs.txt" % split, "the pairs tools.data %s wrote"
                               % self.ds, lambda: read_text(imported, "pairs file")))
        else:
            steps.append(Write("lists/val_pairs.txt", "image and label of each validation sample",
                               lambda: lines("%s\t%s" % p for p in manifest_samples(
                                   os.path.join(self.args.work, self.lmdb("val"))))))
        return Stage("lists", steps, [self.lmdb(s) + ".json" for s in ("train", "val")],
                     [s.path for s in steps])

    def evaluated_split(self):
        """The split scored: the published figures' where the data has its labels
        (CamVid's test split comes with the importer), else validation."""
        labelled = IMPORTED_SPLITS.get(self.ds, ()) if self.args.root else ("val",)
        return "test" if "test" in labelled and paper.final(self.ds, "test") else "val"

    def published_row(self, evaluation):
        """The published row our evaluation (a folder under evaluation/) stands
        beside, on the split we score, or None."""
        split = self.evaluated_split()
        if self.ds == "pascal_voc":
            name = VOC_ROWS.get(evaluation)
            return next((r for r in paper.published(self.ds, split) if r.name == name), None)
        return paper.final(self.ds, split) if evaluation == self.released_width() else None

    def released_width(self):
        return DATASETS[self.ds].context_width

    # ---- weights and training ---------------------------------------------------------

    def train_stage(self, name, solver, init):
        prefix, final = self.final(solver)
        argv = ["tools.train", solver, "--weights", init]
        if self.args.gpu is not None:
            argv += ["--gpu", self.args.gpu]
        if self.args.caffe:
            argv += ["--caffe", self.args.caffe]
        if self.args.docker:
            argv += ["--docker", self.args.docker]
        nets = [solver.replace("_solver.", "_train."), solver.replace("_solver.", "_test.")]
        kind = "context_" if name.startswith("context") else ""
        lmdbs = [self.lmdb(kind + split) for split in (
            "train_coco" if name == "frontend_coco" else "train", "val")]
        return Stage(name, [argv], [solver, init] + nets + [l + ".json" for l in lmdbs], [final],
                     snapshots=prefix, result=final)

    def frontend_solver(self, stage=2):
        """The front end's solver: with --coco, stage 1 (VOC + COCO) or 2 (VOC)."""
        name = "frontend_coco_stage%d" % stage if self.args.coco else "frontend"
        return self.model("front", paths.solver_file(name))

    def frontend_weights(self):
        return self.final(self.frontend_solver())[1]

    def init_frontend(self):
        out = "init/frontend.caffemodel"
        vgg = self.args.vgg
        return Stage("init_frontend", [["tools.weights", "vgg16", vgg, out] + ["--any-vgg"] * self.args.any_vgg],
                     [] if vgg == "random" else [vgg], [out], result=out)

    def frontend_coco(self):
        return self.train_stage("frontend_coco", self.frontend_solver(1), "init/frontend.caffemodel")

    def frontend(self):
        init = self.final(self.frontend_solver(1))[1] if self.args.coco else "init/frontend.caffemodel"
        return self.train_stage("frontend", self.frontend_solver(), init)

    def features(self):
        front, net = self.frontend_weights(), self.model("front", paths.net_file("frontend", "deploy"))
        steps = [["tools.features", "--dataset", self.ds, "--weights", front, "--net", net,
                  "--list", "lists/%s_images.txt" % split, "--out", "features/" + split]
                 + self.one_gpu() for split in ("train", "val")]
        return Stage("features", steps, [front, net, "lists/train_images.txt", "lists/val_images.txt"],
                     ["lists/train_features.txt", "lists/val_features.txt", "features/train", "features/val"])

    def context_data(self):
        crop = ["--context-crop", str(self.args.context_crop)] if self.args.context_crop else []
        steps = [["tools.data", "context", "--dataset", self.ds, "--split", split, "--lmdb-root", paths.LMDB_ROOT,
                  "--labels", "lists/%s_labels.txt" % split, "--features", "lists/%s_features.txt" % split]
                 + crop for split in ("train", "val")]
        return Stage("context_data", steps, ["features/train", "features/val", "lists/train_labels.txt",
                                              "lists/val_labels.txt"],
                     [self.lmdb("context_" + s) + ".json" for s in ("train", "val")],
                     force=("--force",))

    def init_context(self, width):
        out = "init/context_%s.caffemodel" % width
        return Stage("init_context_" + width, [["tools.weights", "identity", "--dataset", self.ds,
                                                "--width", width, out]], [], [out], result=out)

    def context(self, width):
        return self.train_stage("context_" + width, self.model(width, paths.solver_file("context")),
                                "init/context_%s.caffemodel" % width)

    def merged(self, stage, width):
        """The front end and the context module merged for a joint net
        (`stage`: joint or joint_crfrnn) -> init/<its name>_W.caffemodel."""
        name = "joint" if stage == "joint" else "crfrnn"
        out = "init/%s_%s.caffemodel" % (name, width)
        context = self.final(self.model(width, paths.solver_file("context")))[1]
        net = self.model(width, paths.net_file(stage, "train"))
        front = self.frontend_weights()
        return Stage("init_%s_%s" % (name, width),
                     [["tools.weights", "merge", front, context, net, out]],
                     [front, context, net], [out], result=out)

    def init_joint(self, width):
        return self.merged("joint", width)

    def joint(self, width):
        return self.train_stage("joint_" + width, self.model(width, paths.solver_file("joint")),
                                "init/joint_%s.caffemodel" % width)

    # ---- CRF-RNN (--crf-rnn): crfasrnn's recipe on each trained net ---------------------

    def frontend_crfrnn(self):
        return self.train_stage("frontend_crfrnn",
                                self.model("front", paths.solver_file("frontend_crfrnn")),
                                self.frontend_weights())

    def init_crfrnn(self, width):
        return self.merged("joint_crfrnn", width)

    def crfrnn(self, width):
        init = (self.final(self.model(width, paths.solver_file("joint")))[1] if self.args.joint
                else "init/crfrnn_%s.caffemodel" % width)
        return self.train_stage("crfrnn_" + width,
                                self.model(width, paths.solver_file("joint_crfrnn")), init)

    # ---- evaluation -------------------------------------------------------------------

    def evaluate_stage(self, name, weights, net, label, inputs=None, crf_rnn=False):
        """With `crf_rnn`, the rows LABEL and LABEL + CRF-RNN (the layer the
        weights hold); the summary takes the last."""
        out = "evaluation/" + name.split("_", 1)[1]
        pairs = "lists/%s_pairs.txt" % self.evaluated_split()
        argv = ["tools.evaluate", pairs, "--dataset", self.ds, "--weights", weights,
                "--net", net, "--name", label, "--out", out] + ["--crf-rnn"] * crf_rnn
        argv += self.one_gpu() + ["--compare"]
        return Stage(name, [argv], (inputs or [weights]) + [net, pairs],
                     [out + "/iou.csv", out + "/report.html"], result=out + "/report.html")

    def evaluate_frontend(self):
        return self.evaluate_stage("evaluate_frontend", self.frontend_weights(),
                                   self.model("front", paths.net_file("frontend", "deploy")), "front end")

    def evaluate(self, width):
        solver = paths.solver_file("joint" if self.args.joint else "context")
        weights = self.final(self.model(width, solver))[1]
        label = "front end + %s context%s" % (width, " (joint)" if self.args.joint else "")
        deploy = self.model(width, paths.released_deploy(DATASETS[self.ds]))
        if not self.args.joint:
            # A context module alone is deployed behind the front end: merge both for
            # the released-name deploy net (the same tool the joint stage starts from).
            merged = "init/deploy_%s.caffemodel" % width
            stage = self.evaluate_stage("evaluate_" + width, merged, deploy, label,
                                        [self.frontend_weights(), weights])
            stage.steps.insert(0, ["tools.weights", "merge", self.frontend_weights(), weights,
                                   deploy, merged])
            return stage
        return self.evaluate_stage("evaluate_" + width, weights, deploy, label)

    def evaluate_frontend_crfrnn(self):
        weights = self.final(self.model("front", paths.solver_file("frontend_crfrnn")))[1]
        return self.evaluate_stage("evaluate_frontend_crfrnn", weights,
                                   self.model("front", paths.net_file("frontend", "deploy")),
                                   "front end", crf_rnn=True)

    def evaluate_crfrnn(self, width):
        weights = self.final(self.model(width, paths.solver_file("joint_crfrnn")))[1]
        label = "front end + %s context%s" % (width, " (joint)" if self.args.joint else "")
        return self.evaluate_stage("evaluate_crfrnn_" + width, weights,
                                   self.model(width, paths.released_deploy(DATASETS[self.ds])),
                                   label, crf_rnn=True)
