"""The paper's whole workflow on a tiny synthetic VOC with real CPU Caffe, as a
user runs it: ONE `python -m tools.reproduce` command (data -> VGG-16 surgery
-> front end -> stored scores -> context module from identity init -> joint
-> evaluation), then prediction with the released-name deploy net.

The run is reproduce_fixtures.synthetic_voc: shortened schedules and small
deploy tiles, every other file as `python -m prototxt_gen` generates it.
"""
import csv
import math
import time

import numpy as np
import pytest
from PIL import Image

from data_fixtures import TRAIN, VAL
from helpers import caffe_env, run_module
from prototxt_gen.spec.datasets import DATASETS
from prototxt_gen.spec.paths import released_deploy
from reproduce_fixtures import CELLS, statuses, synthetic_voc

pytestmark = pytest.mark.caffe

VOC = DATASETS["pascal_voc"]


def run(work, module, *args):
    proc = run_module(module, *args, cwd=work, env=caffe_env(), timeout=900)
    assert proc.returncode == 0, "%s %s failed:\n%s\n%s" % (module, args[:1], proc.stdout[-3000:],
                                                             proc.stderr[-3000:])
    return proc.stdout


def losses(csv_path):
    with open(csv_path) as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


def test_reproduce_runs_the_paper_workflow(tmp_path):
    fx, work, command = synthetic_voc(tmp_path)
    start = time.time()
    out = run(tmp_path, "tools.reproduce", *command)
    print("\ntools.reproduce pascal_voc (synthetic, CPU): %.0f s wall%s"
          % (time.time() - start, out[out.index("\nsummary"):]))
    first = statuses(out)
    assert len(first) == 13 and set(first.values()) == {"ran"}, first

    snapshots = work / "snapshots"
    front = losses(snapshots / "pascal_voc" / "frontend_loss.csv")
    assert len(front) >= 3 and all(math.isfinite(x) for x in front)
    assert (snapshots / "pascal_voc" / "frontend_loss.png").stat().st_size > 0
    for key in TRAIN + VAL:  # whole deploy tiles, at least the image's cells
        scores = np.load(work / "features" / ("train" if key in TRAIN else "val") / (key[1] + ".npy"))
        h, w = fx.truth[key].shape
        assert scores.shape == (VOC.classes, CELLS * math.ceil(h / 48), CELLS * math.ceil(w / 48))
    context = losses(snapshots / "large" / "pascal_voc" / "context_loss.csv")
    assert all(math.isfinite(x) for x in context)
    quarter = len(context) // 4
    assert np.mean(context[-quarter:]) < np.mean(context[:quarter]), context  # identity init learns
    assert all(math.isfinite(x) for x in losses(snapshots / "large" / "pascal_voc" / "joint_loss.csv"))
    joint = snapshots / "large" / "pascal_voc" / "joint_iter_2.caffemodel"
    assert joint.exists()
    for name in ("frontend", "large"):
        assert (work / "evaluation" / name / "iou.csv").exists()
        assert (work / "evaluation" / name / "report.html").exists()
    assert "mean IoU" in out and "Front + Large" in out  # ours beside the paper's Table 3 row

    again = statuses(run(tmp_path, "tools.reproduce", *command))
    assert again.pop("nets") == "ran" and set(again.values()) == {"skipped"}, again

    deploy = work / "models" / "large" / "pascal_voc" / released_deploy(VOC)
    run(tmp_path, "tools.predict", fx.images[VAL[0]], "--dataset", "pascal_voc", "--weights", joint,
        "--net", deploy, "--out", tmp_path / "predictions")
    png = Image.open(tmp_path / "predictions" / (VAL[0][1] + ".png"))
    assert png.mode == "P" and png.size[::-1] == fx.truth[VAL[0]].shape
    assert set(np.unique(np.asarray(png))) <= set(range(VOC.classes))
