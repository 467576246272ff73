"""CamVid, KITTI and Cityscapes from their official layouts to the table, with
real CPU Caffe: ONE `python -m tools.reproduce DATASET --root DIR` each, on a
tiny synthetic copy (importer_fixtures), Cityscapes with --joint (its front end
trains through `upsample`, its joint net has the released `ctx_upsample`)."""
import csv
import json
import time

import pytest

from helpers import caffe_env, run_module
from importer_fixtures import camvid_root, cityscapes_root, kitti_root
from reproduce_fixtures import statuses, synthetic_urban

pytestmark = pytest.mark.caffe


@pytest.mark.parametrize("dataset, make_root, joint, split", [
    ("camvid", camvid_root, False, "test"),      # CamVid's published figures are on its test split
    ("kitti", kitti_root, False, "val"),
    ("cityscapes", cityscapes_root, True, "val"),
])
def test_reproduce_from_the_official_layout(tmp_path, dataset, make_root, joint, split):
    _, work, command = synthetic_urban(tmp_path, dataset, make_root, joint)
    start = time.time()
    proc = run_module("tools.reproduce", *command, cwd=tmp_path, env=caffe_env(), timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    print("\ntools.reproduce %s (synthetic, CPU): %.0f s%s"
          % (dataset, time.time() - start, out[out.index("\nsummary"):]))
    assert set(statuses(out).values()) == {"ran"}
    assert "--root" in (work / "stamps" / "data.json").read_text()
    assert (work / "lists" / ("%s_pairs.txt" % split)).exists()
    for name in ("frontend", "basic"):
        with open(work / "evaluation" / name / "iou.csv") as f:
            rows = list(csv.DictReader(f))
        ours = [r for r in rows if r["source"].startswith("this evaluation")]
        assert ours and 0 <= float(ours[-1]["mean IoU"]) <= 100
        assert any(not r["source"].startswith("this evaluation") for r in rows), rows  # published
    summary = out[out.index("\nsummary"):]
    assert "basic" in summary and "published" in summary
    if dataset == "cityscapes":  # scored from the official labelIds: iIoU and categories too
        figures = json.loads((work / "evaluation" / "basic" / "cityscapes.json").read_text())
        assert "averageScoreInstClasses" in json.dumps(figures)
