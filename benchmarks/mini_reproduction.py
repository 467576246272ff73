"""A mini reproduction of the paper's context-module experiment (Table 3, top)
on CPU in a few minutes, through the project's own pipeline: synthetic
"front-end scores" -> `tools.data context` LMDBs -> generated context nets
(prototxt_gen) -> `tools.weights identity` init -> `tools.train` (stock
`caffe train`) -> mean IoU of input scores vs + Basic vs + Large.

The synthetic task needs context beyond 3x3: scenes of discs of 10 object
classes on background, in 5 confusable pairs (1, 2), (3, 4), ...  The scores
support the true class everywhere, but inside a disc (more than 2 cells from
its edge) they support its pair partner just as much, so only the rim tells
which one it is; spatially correlated noise on top defeats small windows.
The maps are KITTI-shaped (C = 11, the 7-layer module, receptive field 35).

    source <caffe env.sh>; python benchmarks/mini_reproduction.py [--iterations 600]

Not a test: the numbers depend on the seed and the schedule, and the paper's
(VOC, 64 x 64 maps, 40K+ iterations) are not expected.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace

import cv2
import numpy as np
from google.protobuf import text_format
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from prototxt_gen.generate import Options, dataset_files, write  # noqa: E402
from prototxt_gen.nets import deploy_net  # noqa: E402
from prototxt_gen.spec.datasets import DATASETS  # noqa: E402
from tools.backend import CaffeNet  # noqa: E402
from tools.evaluate.confusion import confusion, iou  # noqa: E402

DATASET = DATASETS["kitti"]
C = DATASET.classes
STRIDE = 8


def scene(rng, size):
    """Background with 2-4 discs of radius 5-10 cells."""
    yy, xx = np.mgrid[:size, :size]
    label = np.zeros((size, size), np.int64)
    for _ in range(rng.integers(2, 5)):
        cy, cx = rng.integers(0, size, 2)
        radius = rng.integers(5, 11)
        label[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2] = rng.integers(1, C)
    return label


def noisy_scores(rng, label, rim=2, strength=2.0, noise=0.6, blur=1.5):
    """C x H x W float32: `strength` for the true class; inside a region (more
    than `rim` cells from its edge) as much for the pair partner; plus
    Gaussian-blurred noise."""
    h, w = label.shape
    scores = strength * np.eye(C, dtype=np.float32)[label].transpose(2, 0, 1)
    partner = np.where(label % 2 == 1, label + 1, label - 1)
    kernel = np.ones((2 * rim + 1, 2 * rim + 1), np.uint8)
    inside = np.zeros((h, w), bool)
    for c in range(1, C):
        inside |= cv2.erode((label == c).astype(np.uint8), kernel,
                            borderType=cv2.BORDER_REPLICATE).astype(bool)
    rows, cols = np.nonzero(inside)
    scores[partner[inside], rows, cols] += strength
    grain = np.stack([cv2.GaussianBlur(x, (0, 0), blur) for x in rng.normal(size=(C, h, w)).astype(np.float32)])
    return scores + grain * (noise / grain.std())


def write_split(folder, split, count, size, rng):
    """<split>_scores.txt / <split>_labels.txt lists of .npy scores and label PNGs
    at 8x the scores' resolution, as `tools.data context` takes them."""
    os.makedirs(os.path.join(folder, split), exist_ok=True)
    lists = {"scores": [], "labels": []}
    for i in range(count):
        label = scene(rng, size)
        npy = os.path.join(folder, split, "%04d.npy" % i)
        png = os.path.join(folder, split, "%04d.png" % i)
        np.save(npy, noisy_scores(rng, label))
        Image.fromarray(np.kron(label, np.ones((STRIDE, STRIDE))).astype(np.uint8)).save(png)
        lists["scores"].append(npy)
        lists["labels"].append(png)
    for kind, paths in lists.items():
        with open(os.path.join(folder, "%s_%s.txt" % (split, kind)), "w") as f:
            f.write("\n".join(paths) + "\n")


def run(*args, cwd=None):
    out = subprocess.run([sys.executable, "-m"] + [str(a) for a in args], cwd=cwd,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                             [REPO, os.environ.get("PYTHONPATH", "")])),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if out.returncode != 0:
        sys.exit("%s failed:\n%s" % (" ".join(map(str, args)), out.stdout[-3000:]))
    return out.stdout


def train(work, width, iterations, crop, batch, base_lr, seed):
    """Generated nets and solver for one module width, identity init, training;
    returns (initial weights, final weights, seconds)."""
    folder = os.path.join(work, width)
    ds = replace(DATASET, context_width=width)
    opts = Options(datasets=(ds.name,), stages=("context",), out=os.path.join(folder, "models"),
                   lmdb_root=os.path.join(work, "data"), context_crop=crop, context_batch=batch,
                   cpu=True)
    files = dataset_files(ds, opts)
    solver = next(m for p, m in files.items() if p.endswith("_solver.prototxt"))
    solver.max_iter = solver.snapshot = iterations
    solver.display = 20
    solver.test_interval = iterations
    solver.base_lr = base_lr
    solver.random_seed = seed  # Caffe's crops and mirrors
    files[os.path.join(folder, "solver.prototxt")] = solver
    write(files)
    init = os.path.join(folder, "identity.caffemodel")
    run("tools.weights", "identity", init, "--dataset", ds.name, "--width", width,
        "--net", os.path.join(opts.out, ds.name, "context_train.prototxt"))
    start = time.time()
    run("tools.train", os.path.join(folder, "solver.prototxt"), "--weights", init, cwd=folder)
    final = os.path.join(folder, "snapshots", ds.name, "context_iter_%d.caffemodel" % iterations)
    return init, final, time.time() - start


def evaluate(work, width, weights, size, split="val"):
    """Mean IoU and pixel accuracy of the module's argmax on the split."""
    net_path = os.path.join(work, width, "deploy_%d.prototxt" % size)
    with open(net_path, "w") as f:
        f.write(text_format.MessageToString(
            deploy_net(replace(DATASET, context_width=width, context_crop=size), "context")))
    net = CaffeNet(net_path, weights)
    forward = net.blob("prob")
    return score(work, split, lambda scores: forward(scores).argmax(axis=0))


def score(work, split, predict):
    matrix = np.zeros((C, C + 1), np.int64)
    with open(os.path.join(work, "%s_scores.txt" % split)) as f:
        for npy in f.read().split():
            label = np.array(Image.open(npy[:-4] + ".png"))[::STRIDE, ::STRIDE]
            matrix += confusion(predict(np.load(npy)), label, C)
    return iou(matrix)[1], np.trace(matrix[:, :C]) / matrix.sum()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=600)
    p.add_argument("--lr", type=float, default=1e-3, help="base_lr (default: the paper's 1e-3)")
    p.add_argument("--train", type=int, default=200, help="training maps (default: %(default)s)")
    p.add_argument("--val", type=int, default=50, help="validation maps (default: %(default)s)")
    p.add_argument("--size", type=int, default=40, help="map side in cells (default: %(default)s)")
    p.add_argument("--crop", type=int, default=32, help="training crop (default: %(default)s)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", help="working directory (default: a temporary one)")
    args = p.parse_args()
    work = os.path.abspath(args.work or tempfile.mkdtemp(prefix="mini_repro_"))
    rng = np.random.default_rng(args.seed)
    for split, count in (("train", args.train), ("val", args.val)):
        write_split(work, split, count, args.size, rng)
        run("tools.data", "context", "--dataset", DATASET.name, "--split", split,
            "--features", os.path.join(work, split + "_scores.txt"),
            "--labels", os.path.join(work, split + "_labels.txt"),
            "--lmdb-root", os.path.join(work, "data"), "--context-crop", args.crop)
    rows = [("input scores (argmax)", score(work, "val", lambda s: s.argmax(axis=0)), "")]
    for width in ("basic", "large"):
        init, final, seconds = train(work, width, args.iterations, args.crop, args.batch, args.lr,
                                     args.seed)
        start = evaluate(work, width, init, args.size)
        rows.append(("+ %s, identity init only" % width.capitalize(), start, ""))
        rows.append(("+ %s, trained" % width.capitalize(), evaluate(work, width, final, args.size),
                     "%.0f s" % seconds))
    print("\n%d training / %d validation maps of %d x %d cells, C = %d; %d iterations, batch %d, "
          "crop %d, lr %g; work dir %s" % (args.train, args.val, args.size, args.size, C,
                                          args.iterations, args.batch, args.crop, args.lr, work))
    print("%-34s %9s %10s %9s" % ("", "mean IoU", "pixel acc", "training"))
    for name, (mean, accuracy), seconds in rows:
        print("%-34s %8.1f%% %9.1f%% %9s" % (name, 100 * mean, 100 * accuracy, seconds))


if __name__ == "__main__":
    main()
