"""The paper's whole workflow on a tiny synthetic VOC with real CPU Caffe, through
the command lines a user runs: VGG-16 surgery -> front end -> stored scores ->
context module (identity init) -> joint -> evaluate -> predict.

Schedules are shortened (a few iterations) and deploy tiles are small (420
pixels: 6 x 6 output cells, one tile per fixture image) so that it takes
minutes; every other file is what `python -m prototxt_gen` generates.
"""
import csv
import math
import os
from dataclasses import replace

import numpy as np
import pytest
from google.protobuf import text_format
from PIL import Image

from conftest import caffe_env, run_module
from data_fixtures import TRAIN, VAL, make_fixture
from prototxt_gen.datasets import DATASETS
from prototxt_gen.nets import deploy_net
from prototxt_gen.schema import pb
from weights_fixtures import FULL, trainable_values, write_net, write_vgg_v1

pytestmark = pytest.mark.caffe

VOC = DATASETS["pascal_voc"]
CROP, TILE, CONTEXT_CROP = 388, 420, 8


def run(work, module, *args):
    proc = run_module(module, *args, cwd=work, env=caffe_env(), timeout=900)
    assert proc.returncode == 0, "%s %s failed:\n%s\n%s" % (module, args[:1], proc.stdout[-2000:],
                                                             proc.stderr[-3000:])
    return proc.stdout


def shorten(path, iterations):
    """The generated solver with a few iterations, one test pass at the end."""
    s = text_format.Parse(open(path).read(), pb.SolverParameter())
    s.max_iter = s.snapshot = s.test_interval = iterations
    s.display = 1
    del s.test_iter[:]
    s.test_iter.append(1)
    s.test_initialization = False
    with open(path, "w") as f:
        f.write(text_format.MessageToString(s))
    return path


def losses(csv_path):
    with open(csv_path) as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


def test_paper_workflow_end_to_end(tmp_path):
    work = tmp_path
    fx = make_fixture(work / "raw")
    models = work / "models"
    data = work / "data"
    voc = "pascal_voc"

    run(work, "tools.data", "voc", "--voc", fx.voc, "--sbd", fx.sbd, "--crop", str(CROP),
        "--lmdb-root", str(data))
    run(work, "prototxt_gen", "--dataset", voc, "--crop", str(CROP), "--batch", "1",
        "--iter-size", "1", "--context-crop", str(CONTEXT_CROP), "--context-batch", "2",
        "--cpu", "--out", str(models), "--lmdb-root", str(data))
    nets = models / voc
    small = replace(VOC, deploy_size=(TILE, TILE))
    frontend_deploy = write_net(work / "frontend_deploy.prototxt", deploy_net(small, "frontend"))
    joint_deploy = write_net(work / "joint_deploy.prototxt", deploy_net(small, "joint"))

    # VGG-16 (legacy V1, full shapes) -> front-end init -> a few front-end iterations.
    vgg = write_vgg_v1(work / "VGG_ILSVRC_16_layers.caffemodel", FULL, trainable_values)
    run(work, "tools.weights", "vgg16", str(vgg), str(work / "frontend_init.caffemodel"))
    run(work, "tools.train", str(shorten(nets / "frontend_solver.prototxt", 3)),
        "--weights", str(work / "frontend_init.caffemodel"))
    snapshots = work / "snapshots" / voc
    front = snapshots / "frontend_iter_3.caffemodel"
    assert front.exists()
    front_losses = losses(snapshots / "frontend_loss.csv")
    assert len(front_losses) >= 3 and all(math.isfinite(x) for x in front_losses)
    assert (snapshots / "frontend_loss.png").stat().st_size > 0

    # Stored scores of every image -> context LMDBs.
    scores = work / "scores"
    for split, keys in (("train", TRAIN), ("val", VAL)):
        images, _ = fx.write_lists(keys, split)
        run(work, "tools.features", "--dataset", voc, "--weights", front, "--net", frontend_deploy,
            "--out", scores / split, "--list", images)
        for key in keys:  # the fixture's score maps give way to the front end's
            fx.features[key] = str(scores / split / (os.path.basename(fx.images[key]).rsplit(".", 1)[0] + ".npy"))
            h, w = fx.truth[key].shape
            assert np.load(fx.features[key]).shape == (VOC.classes, math.ceil(h / 8), math.ceil(w / 8))
        features, labels = fx.write_lists(keys, split, inputs="features")
        run(work, "tools.data", "context", "--dataset", voc, "--split", split,
            "--context-crop", CONTEXT_CROP, "--lmdb-root", data, "--labels", labels, "--features", features)

    # Context module from identity init: its loss must fall.
    run(work, "tools.weights", "identity", "--dataset", voc, str(work / "context_init.caffemodel"))
    run(work, "tools.train", str(shorten(nets / "context_solver.prototxt", 60)),
        "--weights", str(work / "context_init.caffemodel"))
    context = snapshots / "context_iter_60.caffemodel"
    context_losses = losses(snapshots / "context_loss.csv")
    assert all(math.isfinite(x) for x in context_losses)
    assert np.mean(context_losses[-10:]) < np.mean(context_losses[:10]), context_losses

    # Joint: both merged, a few iterations.
    run(work, "tools.weights", "merge", str(front), str(context), str(nets / "joint_train.prototxt"),
        str(work / "joint_init.caffemodel"))
    run(work, "tools.train", str(shorten(nets / "joint_solver.prototxt", 2)),
        "--weights", str(work / "joint_init.caffemodel"))
    joint = snapshots / "joint_iter_2.caffemodel"
    assert all(math.isfinite(x) for x in losses(snapshots / "joint_loss.csv"))

    # Evaluate and predict with the joint net under the released layer names.
    pairs = work / "pairs.txt"
    pairs.write_text("".join("%s %s\n" % (fx.images[k], fx.labels[k]) for k in VAL))
    table = run(work, "tools.evaluate", "--dataset", voc, "--weights", str(joint), "--net",
                str(joint_deploy), "--out", str(work / "evaluation"), str(pairs))
    assert "mean IoU" in table
    assert (work / "evaluation" / "iou.csv").exists() and (work / "evaluation" / "report.html").exists()
    run(work, "tools.predict", fx.images[VAL[0]], "--dataset", voc, "--weights", str(joint),
        "--net", str(joint_deploy), "--out", str(work / "predictions"))
    png = Image.open(work / "predictions" / (VAL[0][1] + ".png"))
    assert png.mode == "P" and png.size[::-1] == fx.truth[VAL[0]].shape
    assert set(np.unique(np.asarray(png))) <= set(range(VOC.classes))
