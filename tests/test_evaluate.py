"""Evaluation: IoU from hand-computed confusion matrices, the paper's tables
as data and layout, label PNGs, and the command line's CSV/HTML output."""
import csv
import math
from dataclasses import replace

import numpy as np
import pytest
from google.protobuf import text_format
from PIL import Image

from helpers import caffe_env, run_caffe, run_module
from prototxt_gen.nets import deploy_net
from prototxt_gen.spec.datasets import DATASETS
from tools.evaluate.confusion import confusion, iou
from tools.evaluate.paper import COLUMNS, published
from tools.evaluate.tables import Row, shown_columns, text_table
from tools.palettes import colours, names, read_labels, write_labels


# ---- confusion and IoU ------------------------------------------------------------

def test_confusion_by_hand():
    truth = np.array([[0, 0, 1, 1],
                      [2, 2, 255, 1]])
    pred = np.array([[0, 1, 1, 1],
                     [2, 0, 2, 9]])
    # rows: truth 0, 1, 2; columns: predicted 0, 1, 2, no class
    expected = np.array([[1, 1, 0, 0],
                         [0, 2, 0, 1],
                         [1, 0, 1, 0]])
    np.testing.assert_array_equal(confusion(pred, truth, 3), expected)


def test_iou_by_hand():
    matrix = np.array([[1, 1, 0, 0],
                       [0, 2, 0, 1],
                       [1, 0, 1, 0]])
    per_class, mean = iou(matrix)
    # class 0: TP 1, FN 1, FP 1 -> 1/3; class 1: TP 2, FN 1, FP 1 -> 2/4; class 2: TP 1, FN 1 -> 1/2
    np.testing.assert_allclose(per_class, [1 / 3, 1 / 2, 1 / 2])
    assert mean == pytest.approx((1 / 3 + 1 / 2 + 1 / 2) / 3)


def test_absent_class_is_left_out_of_the_mean():
    matrix = np.array([[4, 0, 0, 0],
                       [0, 0, 0, 0],
                       [0, 0, 2, 2]])
    per_class, mean = iou(matrix)
    assert per_class[0] == 1 and math.isnan(per_class[1]) and per_class[2] == 0.5
    assert mean == 0.75


def test_matrices_of_several_images_add_up():
    rng = np.random.default_rng(0)
    truths = [rng.integers(0, 4, (5, 6)) for _ in range(3)]
    preds = [rng.integers(0, 4, (5, 6)) for _ in range(3)]
    total = sum(confusion(p, t, 4) for p, t in zip(preds, truths))
    np.testing.assert_array_equal(total, confusion(np.concatenate(preds), np.concatenate(truths), 4))
    assert total.sum() == 90


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="prediction is"):
        confusion(np.zeros((2, 3)), np.zeros((3, 2)), 2)


# ---- the paper's tables -----------------------------------------------------------

def test_paper_rows_as_data():
    rows = published("pascal_voc")
    assert len(rows) == 4 + 9 + 7
    assert all(len(r.ious) == 20 for r in rows)
    means = {(r.source, r.name): r.mean for r in rows}
    assert means["paper, Table 3 (VOC 2012 val)", "Front end"] == 69.8
    assert means["paper, Table 3 (VOC 2012 val)", "Front + Basic"] == 71.3
    assert means["paper, Table 3 (VOC 2012 val)", "Front + Large"] == 72.1
    assert means["paper, Table 2 (VOC 2012 test)", "Our front end"] == 67.6
    assert means["paper, Table 4 (VOC 2012 test)", "Context"] == 73.5
    front = next(r for r in rows if r.name == "Front end")
    assert front.ious["aero"] == 86.3 and front.ious["tv"] == 66.3


def test_table_layout_is_the_papers():
    columns = shown_columns(names("pascal_voc"))
    assert columns == COLUMNS and columns[0] == "aero" and columns[-1] == "tv" and len(columns) == 20
    ours = Row("ours", "Front end (ours)", dict(zip(columns, [50.0] * 19 + [float("nan")])), 48.0)
    lines = text_table([ours] + published("pascal_voc")[4:5], columns).splitlines()
    assert lines[0].split() == columns + ["mean", "IoU"]
    assert lines[2].split()[-3:] == ["50.0", "-", "48.0"]
    assert lines[4].split()[-1] == "69.8"
    assert len({len(line) for line in lines if not line.startswith("[")}) == 1, "columns align"


# ---- label PNGs -------------------------------------------------------------------

def test_palettes():
    assert [d.classes for d in DATASETS.values()] == [21, 11, 11, 19]
    assert tuple(colours("pascal_voc")[15]) == (192, 128, 128)  # person
    assert tuple(colours("cityscapes")[0]) == (128, 64, 128)    # road
    assert tuple(colours("kitti")[10]) == (0, 128, 192)


def test_palette_png_round_trip_and_colour_png_mapping(tmp_path):
    labels = np.array([[0, 1, 2], [20, 255, 7]])
    write_labels(tmp_path / "p.png", labels, "pascal_voc")
    image = Image.open(tmp_path / "p.png")
    assert image.mode == "P"
    np.testing.assert_array_equal(read_labels(tmp_path / "p.png", "pascal_voc"), labels)
    rgb = np.array(image.convert("RGB"))
    assert tuple(rgb[0, 1]) == (128, 0, 0) and tuple(rgb[1, 1]) == (255, 255, 255)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_labels(tmp_path / "rgb.png", "pascal_voc"), labels)


# ---- command line -----------------------------------------------------------------

def evaluate(*args, cwd, env=None):
    """python -m tools.evaluate ARGS; pass caffe_env() when it runs a net."""
    return run_module("tools.evaluate", *args, cwd=cwd, env=env)


def test_command_line_csv_and_html(tmp_path):
    truth = np.zeros((8, 8), dtype=np.uint8)
    truth[:, 4:] = 1        # left: background, right: aero
    truth[0] = 255
    pred = np.zeros((8, 8), dtype=np.uint8)
    pred[:, 6:] = 1         # aero found on half of its pixels
    lines = []
    for i in range(2):
        write_labels(tmp_path / ("t%d.png" % i), truth, "pascal_voc")
        write_labels(tmp_path / ("p%d.png" % i), pred, "pascal_voc")
        Image.new("RGB", (8, 8)).save(tmp_path / ("i%d.jpg" % i))
        lines.append("p%d.png t%d.png i%d.jpg" % (i, i, i))
    (tmp_path / "pairs.txt").write_text("\n".join(lines) + "\n")
    out = evaluate("pairs.txt", "--dataset", "pascal_voc", "--compare", "--name", "toy", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    # background: TP 28, FN 0, FP 14 -> 2/3; aero: TP 14, FN 14 -> 1/2; others absent
    with open(tmp_path / "evaluation" / "iou.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[0]["background"]) == pytest.approx(66.67, abs=0.01)
    assert float(rows[0]["aero"]) == 50.0 and rows[0]["bike"] == ""
    assert float(rows[0]["mean IoU"]) == pytest.approx((200 / 3 + 50) / 2, abs=0.01)
    assert [r["name"] for r in rows[1:]] == [r.name for r in published("pascal_voc")]
    assert "toy" in out.stdout and "Front + Large" in out.stdout and "background IoU 66.7" in out.stdout
    html = (tmp_path / "evaluation" / "report.html").read_text()
    assert "<th>aero</th>" in html and "Front + Basic" in html
    for kind in ("input.jpg", "prediction.png", "truth.png"):
        assert 'src="examples/000_%s"' % kind in html
        assert (tmp_path / "evaluation" / "examples" / ("001_%s" % kind)).exists()


def test_a_bad_pairs_line_is_one_line(tmp_path):
    (tmp_path / "bad.txt").write_text("a.png\n")
    out = evaluate("bad.txt", "--dataset", "camvid", cwd=tmp_path)
    assert out.returncode == 2 and "bad.txt:1: expected 2 or 3 paths" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.caffe
def test_evaluation_with_a_net_predicts_like_the_predict_tool(tmp_path):
    """Evaluating the predict tool's own output as ground truth gives 100% IoU."""
    ds = replace(DATASETS["kitti"], deploy_size=(388, 388))
    net = tmp_path / "deploy.prototxt"
    net.write_text(text_format.MessageToString(deploy_net(ds, "frontend")))
    weights = tmp_path / "w.caffemodel"
    run_caffe("make_weights", script="caffe_workflow_jobs.py", prototxt=str(net), out=str(weights), seed=3)
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
        tmp_path / "img.png")
    common = ["--dataset", "kitti", "--weights", weights, "--net", net]
    predicted = run_module("tools.predict", "img.png", *common, "--out", "truth",
                           cwd=tmp_path, env=caffe_env())
    assert predicted.returncode == 0, predicted.stderr
    (tmp_path / "pairs.txt").write_text("img.png truth/img.png\n")
    out = evaluate("pairs.txt", *common, cwd=tmp_path, env=caffe_env())
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "evaluation" / "iou.csv") as f:
        row = next(csv.DictReader(f))
    assert float(row["mean IoU"]) == 100.0
    assert (tmp_path / "evaluation" / "predictions" / "img.png").exists()


@pytest.mark.parametrize("dataset, values, hint", [
    ("cityscapes", [7, 26, 1], "python -m tools.data cityscapes --root"),   # labelIds: road, car, ego
    ("camvid", [0, 3, 11], "python -m tools.data camvid --root"),           # SegNet's order, void 11
])
def test_truths_in_another_convention_are_named(tmp_path, dataset, values, hint):
    truth = np.array(values * 4, np.uint8).reshape(3, 4)
    write_labels(tmp_path / "truth.png", truth, dataset)
    write_labels(tmp_path / "pred.png", np.zeros((3, 4)), dataset)
    (tmp_path / "pairs.txt").write_text("pred.png truth.png\n")
    out = evaluate("pairs.txt", "--dataset", dataset, "--out", "o", cwd=tmp_path)
    assert out.returncode == 2 and hint in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
