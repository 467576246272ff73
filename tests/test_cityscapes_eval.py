"""Cityscapes' benchmark figures against cityscapesscripts' own
evalPixelLevelSemanticLabeling on the same files (every figure equal, to the
bit), in tools.evaluate's output, and labelId PNGs for the benchmark server
from tools.predict (run with --backend onnx: no Caffe)."""
import copy
import csv
import json
import math
import os

import numpy as np
import pytest
from PIL import Image

from cityscapes_eval_fixtures import (ABSENT_TRAIN_ID, label_tables, official_figures,
                                      small_net, write_images, write_official_layout)
from helpers import REPO, run_module
from prototxt_gen.cli_common import UserError
from tools.evaluate import cityscapes
from tools.palettes import names, read_labels, write_labels

KEYS = ("classScores", "classInstScores", "categoryScores", "categoryInstScores")
AVERAGES = ("averageScoreClasses", "averageScoreInstClasses", "averageScoreCategories",
            "averageScoreInstCategories")


def same(ours, theirs):
    """Equal floats, NaN (JSON null in ours) matching NaN."""
    if ours is None or math.isnan(ours):
        return math.isnan(theirs)
    return ours == theirs


def assert_official(ours, theirs):
    """Every figure of ours equals the script's; the script's that ours leaves
    out (ignored labels, the void category, categories without instances) are NaN."""
    for key in AVERAGES:
        assert same(ours[key], theirs[key]), key
    for key in KEYS:
        for name, value in theirs[key].items():
            if name in ours[key]:
                assert same(ours[key][name], value), (key, name, ours[key][name], value)
            else:
                assert math.isnan(value), (key, name)
    assert len(ours["classScores"]) == 19 and len(ours["categoryScores"]) == 7
    assert sorted(ours["categoryInstScores"]) == ["human", "vehicle"]


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """Three frames in the official layout, and the script's figures on them."""
    root = tmp_path_factory.mktemp("cityscapes")
    files = write_official_layout(root)
    return dict(root=root, files=files,
                official=official_figures([p for _, p, _ in files], [t for t, _, _ in files]))


def test_every_figure_equals_the_official_scripts(layout):
    theirs = layout["official"]
    pairs = [(str(train), str(truth), None) for truth, _, train in layout["files"]]
    benchmark = cityscapes.Benchmark.of_pairs(pairs, 1)
    for prediction, truth, _ in pairs:
        benchmark.add([read_labels(prediction, "cityscapes")], benchmark.read(truth), truth)
    ours = benchmark.results(0)
    assert_official(ours, theirs)
    # the cases the fixture builds: train in no truth and never predicted (NaN), bus
    # predicted but in no truth (0), motorcycle a crowd region only (iIoU 0: no instance)
    train = names("cityscapes")[ABSENT_TRAIN_ID]
    assert math.isnan(ours["classScores"][train]) and math.isnan(ours["classInstScores"][train])
    assert ours["classScores"]["bus"] == 0 and ours["classInstScores"]["motorcycle"] == 0
    assert 0 < ours["averageScoreInstClasses"] < 1 and ours["classScores"]["motorcycle"] > 0
    assert all(0 < ours["classInstScores"][c] < 1 for c in ("person", "rider", "car", "bicycle"))


def test_several_systems_accumulate_apart(layout):
    """Two systems in one pass (as --crf adds one): each gets the figures it
    would get alone; the second predicts the truth itself."""
    train_of, _ = label_tables()
    pairs = [(str(train), str(truth), None) for truth, _, train in layout["files"]]
    benchmark = cityscapes.Benchmark.of_pairs(pairs, 2)
    for prediction, truth, _ in pairs:
        official = benchmark.read(truth)
        perfect = np.where(official.train_ids == 255, 0, official.train_ids)
        benchmark.add([read_labels(prediction, "cityscapes"), perfect], official, truth)
    assert_official(benchmark.results(0), layout["official"])
    for key in AVERAGES:
        assert benchmark.results(1)[key] == 1.0


def evaluate(*args, cwd):
    return run_module("tools.evaluate", *args, cwd=cwd)


def write_pairs(path, pairs):
    path.write_text("".join("%s %s\n" % pair for pair in pairs))
    return path


def test_command_line_prints_and_writes_the_official_figures(layout, tmp_path):
    theirs = layout["official"]
    pairs = write_pairs(tmp_path / "pairs.txt",
                        [(train, truth) for truth, _, train in layout["files"]])
    out = evaluate(pairs, "--dataset", "cityscapes", "--name", "toy", "--out", "eval", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "eval" / "cityscapes.json") as f:
        written = json.load(f)
    assert written["images"] == 3 and list(written["systems"]) == ["toy"]
    assert_official(written["systems"]["toy"], theirs)
    figures = [100 * theirs[key] for key in AVERAGES]
    lines = out.stdout.splitlines()
    block = lines.index("cityscapesscripts' evalPixelLevelSemanticLabeling, 3 images (%):")
    assert lines[block + 1].split() == ["class", "IoU", "class", "iIoU", "category", "IoU",
                                        "category", "iIoU"]
    assert lines[block + 2].split() == ["toy"] + ["%.1f" % v for v in figures]
    category = lines[block + 4].split()
    assert category[:2] == ["toy", "IoU"] and category[2] == "%.1f" % (
        100 * theirs["categoryScores"]["flat"])
    with open(tmp_path / "eval" / "iou.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["toy", "toy iIoU"]
    assert [rows[0][m] for m in ("mean IoU", "class iIoU", "category IoU", "category iIoU")] == [
        "%.2f" % v for v in (figures[0], figures[1], figures[2], figures[3])]
    for name, column in (("person", "person"), ("traffic light", "light"), ("train", "train")):
        value = 100 * theirs["classScores"][name]
        assert rows[0][column] == ("" if math.isnan(value) else "%.2f" % value)
    for name in ("person", "rider", "car", "truck", "bus", "motorcycle", "bicycle"):
        assert rows[1][name] == "%.2f" % (100 * theirs["classInstScores"][name])
    assert rows[1]["road"] == rows[1]["train"] == rows[1]["mean IoU"] == ""
    assert rows[1]["class iIoU"] == "%.2f" % figures[1]
    html = (tmp_path / "eval" / "report.html").read_text()
    assert "toy iIoU" in html and "<th>class iIoU</th>" in html
    assert "wrote eval/iou.csv, eval/report.html and eval/cityscapes.json" in out.stdout

    # trainId truths (our converted labels): the class IoU only, and the old figures go
    train_of, _ = label_tables()
    converted = []
    for index, (truth, _, train) in enumerate(layout["files"]):
        ids = np.array(Image.open(truth))
        path = tmp_path / ("truth%d.png" % index)
        write_labels(path, np.vectorize(train_of.get)(ids), "cityscapes")
        converted.append((train, path))
    out = evaluate(write_pairs(tmp_path / "converted.txt", converted), "--dataset", "cityscapes",
                   "--name", "toy", "--out", "eval", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "need the official *_gtFine_labelIds.png truths" in out.stderr
    assert "evalPixelLevelSemanticLabeling" not in out.stdout
    assert not (tmp_path / "eval" / "cityscapes.json").exists()
    with open(tmp_path / "eval" / "iou.csv") as f:
        again = list(csv.DictReader(f))
    assert [r["name"] for r in again] == ["toy"] and again[0]["mean IoU"] == rows[0]["mean IoU"]
    assert "need the official" in (tmp_path / "eval" / "report.html").read_text()


def test_missing_instances_and_mixed_truths_are_one_line_errors(layout, tmp_path):
    truth = layout["files"][0][0]
    copied = tmp_path / truth.name
    copied.write_bytes(truth.read_bytes())
    pairs = write_pairs(tmp_path / "pairs.txt", [(layout["files"][0][2], copied)])
    out = evaluate(pairs, "--dataset", "cityscapes", cwd=tmp_path)
    instances = str(copied).replace("_labelIds.png", "_instanceIds.png")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.splitlines() == [
        "python -m tools.evaluate: error: %s does not exist: Cityscapes' iIoU weighs each instance "
        "by its size, read from the *_gtFine_instanceIds.png beside each *_gtFine_labelIds.png "
        "(from gtFine_trainvaltest.zip)" % instances]
    assert not (tmp_path / "evaluation").exists()
    other = tmp_path / "converted.png"
    write_labels(other, np.zeros((64, 128)), "cityscapes")
    (tmp_path / instances).write_bytes(truth.read_bytes())
    mixed = write_pairs(tmp_path / "mixed.txt", [(layout["files"][0][2], copied),
                                                  (layout["files"][0][2], other)])
    out = evaluate(mixed, "--dataset", "cityscapes", cwd=tmp_path)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert "converted.png is not" in out.stderr and "not both at once" in out.stderr


def test_label_ids_and_the_servers_naming_rule(tmp_path):
    tables = cityscapes.Tables("this test")
    _, label_of = label_tables()
    train = np.array([list(range(19)) + [255]], np.uint8)
    cityscapes.write_label_ids(tmp_path / "x.png", train, tables)
    image = Image.open(tmp_path / "x.png")
    assert image.mode == "L"
    assert np.array(image).tolist() == [[label_of[t] for t in train[0]]]
    assert np.array(image)[0, :3].tolist() == [7, 8, 11] and np.array(image)[0, -1] == 0
    with pytest.raises(ValueError):
        tables.label_ids(np.array([19]))
    assert cityscapes.frame("a/berlin_000000_000019_leftImg8bit.png") == "berlin_000000_000019"
    assert cityscapes.frame("bad-honnef_000123_004567.jpg") == "bad-honnef_000123_004567"
    for name in ("berlin_00000_000019_leftImg8bit.png", "berlin_000000_0000190.png", "x.png"):
        assert cityscapes.frame(name) is None
    cityscapes.check_server_names(["berlin_000000_000019_leftImg8bit.png",
                                   "berlin_000000_000020.png"])
    with pytest.raises(UserError, match="not named <city>_<seq>_<frame>"):
        cityscapes.check_server_names(["photo.png"])
    with pytest.raises(UserError, match="are both frame berlin_000000_000019"):
        cityscapes.check_server_names(["a/berlin_000000_000019_leftImg8bit.png",
                                       "b/berlin_000000_000019_leftImg8bit.jpg"])


def get_prediction(folder, truth):
    """The file cityscapesscripts (and the server) takes as the prediction of `truth`."""
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as script
    args = copy.copy(script.args)
    args.predictionPath, args.predictionWalk = str(folder), None
    return script.getPrediction(args, str(truth))


def test_predict_labelids_for_the_server_and_evaluate_with_weights(layout, tmp_path):
    """tools.predict --labelids writes what the script finds and reads; its
    figures on those files equal tools.evaluate's with the same net."""
    net, weights = small_net(tmp_path)
    truths = [truth for truth, _, _ in layout["files"]]
    images = write_images(tmp_path, truths)
    common = ["--dataset", "cityscapes", "--net", net, "--weights", weights, "--backend", "onnx"]
    out = run_module("tools.predict", *images, *common, "--labelids", "--out", tmp_path / "server")
    assert out.returncode == 0, out.stderr
    colour = run_module("tools.predict", images[0], *common, "--out", tmp_path / "colour")
    assert colour.returncode == 0, colour.stderr
    _, label_of = label_tables()
    written = []
    for image, truth in zip(images, truths):
        found = get_prediction(tmp_path / "server", truth)
        assert found == str(tmp_path / "server" / image.name)
        label_ids = Image.open(found)
        assert label_ids.mode == "L" and label_ids.size == (128, 64)
        written.append(found)
    expected = np.vectorize(label_of.get)(read_labels(tmp_path / "colour" / images[0].name,
                                                      "cityscapes"))
    np.testing.assert_array_equal(np.array(Image.open(written[0])), expected)

    pairs = write_pairs(tmp_path / "pairs.txt", list(zip(images, truths)))
    out = evaluate(pairs, *common, "--out", "eval", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "eval" / "cityscapes.json") as f:
        ours = json.load(f)["systems"]["ours"]
    assert_official(ours, official_figures(written, truths))


def test_refusals_of_predict_labelids(tmp_path):
    image = tmp_path / "berlin_000000_000019_leftImg8bit.png"
    Image.new("RGB", (8, 8)).save(image)
    common = [image, "--weights", tmp_path / "w.caffemodel", "--labelids", "--out", tmp_path]
    out = run_module("tools.predict", *common, "--dataset", "camvid")
    assert out.returncode == 2 and out.stderr.splitlines() == [
        "python -m tools.predict: error: --labelids writes Cityscapes' labelIds for its benchmark "
        "server: for --dataset cityscapes only"]
    blocked = tmp_path / "blocked" / "cityscapesscripts"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('No module named cityscapesscripts')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "blocked"), str(REPO)]))
    out = run_module("tools.predict", *common, "--dataset", "cityscapes", env=env)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert "--labelids takes the labels from the cityscapesscripts package" in out.stderr
    assert out.stderr.rstrip().endswith("pip install cityscapesscripts")
