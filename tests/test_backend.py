"""`--backend caffe|onnx` and `--crf` in predict, features and evaluate.  The
quick tier runs the commands with a `caffe` module on the path that ends any
process importing it, so `--backend onnx` provably needs no Caffe; the Caffe
tier proves both backends write the same prediction PNG, scores and report."""
import csv
import os

import cv2
import numpy as np
import pytest

from helpers import REPO, caffe_env, run_module
from onnx_fixtures import deploy_prototxt, photo, random_weights
from prototxt_gen.spec.datasets import DATASETS
from tools.backend import BackendError, OnnxNet, providers
from tools.inference import segment
from tools.palettes import write_labels
from tools.weights.netcheck import load_net
from weights_fixtures import narrow, write_net

TILE = (388, 404)  # 2 x 4 output cells per tile


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A CamVid joint deploy net (front end narrowed, Basic context module) with
    random weights, a 37 x 45 photograph (3 x 2 tiles) and its label map."""
    tmp = tmp_path_factory.mktemp("backend")
    net = write_net(tmp / "net.prototxt", narrow(load_net(deploy_prototxt(tmp, "camvid", "joint", TILE))))
    front = write_net(tmp / "front.prototxt",
                      narrow(load_net(deploy_prototxt(tmp, "camvid", "frontend", TILE))))
    weights = random_weights(net, tmp / "w.caffemodel", input_std=16.0)
    image = tmp / "coffee.png"
    cv2.imwrite(str(image), photo("camvid", 37, 45))
    truth = tmp / "coffee_truth.png"
    labels = np.zeros((37, 45), np.uint8)
    labels[:, 20:], labels[30:] = 3, 255
    write_labels(str(truth), labels, "camvid")
    (tmp / "pairs.txt").write_text("%s %s\n" % (image, truth))
    return dict(dir=tmp, net=net, front=front, weights=weights, image=image, pairs=tmp / "pairs.txt")


def no_caffe_env(tmp_path, *blocked):
    """PYTHONPATH with stand-ins for `caffe` (and `blocked` modules) that end
    the process when imported."""
    stand_ins = dict({name: "raise ImportError('%s is blocked in this test')" % name
                      for name in blocked}, caffe="import sys; sys.exit('caffe was imported')")
    for name, code in stand_ins.items():
        (tmp_path / "blocked" / name).mkdir(parents=True)
        (tmp_path / "blocked" / name / "__init__.py").write_text(code + "\n")
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "blocked"), str(REPO)]))


def tool(module, *args, env):
    out = run_module(module, *map(str, args), env=env)
    assert out.returncode == 0, out.stderr
    return out


def predict(model, backend, out, env, *extra):
    return tool("tools.predict", model["image"], "--dataset", "camvid", "--net", model["net"],
                "--weights", model["weights"], "--backend", backend, "--out", out, *extra, env=env)


def test_onnx_backend_needs_no_caffe(model, tmp_path):
    env = no_caffe_env(tmp_path)
    predict(model, "onnx", tmp_path / "pred", env)
    assert (tmp_path / "pred" / "coffee.png").exists()
    tool("tools.features", model["image"], "--dataset", "camvid", "--net", model["front"],
         "--weights", model["weights"], "--backend", "onnx", "--out", tmp_path / "scores",
         "--write-list", tmp_path / "lists" / "scores.txt", env=env)
    # Whole deploy tiles of 2 x 4 cells (TILE), as many as cover ceil(H/8) x ceil(W/8) = 5 x 6.
    assert np.load(tmp_path / "scores" / "coffee.npy").shape == (11, 6, 8)
    assert (tmp_path / "lists" / "scores.txt").read_text() == "%s\n" % (tmp_path / "scores" / "coffee.npy")
    out = run_module("tools.predict", model["image"], "--dataset", "camvid", "--net", model["net"],
                     "--weights", model["weights"], "--out", tmp_path / "p2", env=env)
    assert out.returncode != 0 and "caffe was imported" in out.stderr, "the stand-in must bite"


def test_evaluate_adds_crf_rows_in_the_papers_layout(model, tmp_path):
    out = tool("tools.evaluate", model["pairs"], "--dataset", "camvid", "--net", model["net"],
               "--weights", model["weights"], "--backend", "onnx", "--crf", "--name", "Context",
               "--out", tmp_path / "eval", env=no_caffe_env(tmp_path))
    assert "Context + CRF" in out.stdout
    with open(tmp_path / "eval" / "iou.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["Context", "Context + CRF"]
    assert all(float(r["mean IoU"]) >= 0 for r in rows)
    for folder in ("predictions", "predictions_crf"):
        assert (tmp_path / "eval" / folder / "coffee_truth.png").exists()


def test_crf_search_lists_the_grid_best_first(model, tmp_path):
    out = tool("tools.evaluate", model["pairs"], "--dataset", "camvid", "--net", model["net"],
               "--weights", model["weights"], "--backend", "onnx", "--crf-search",
               "--out", tmp_path / "eval", env=no_caffe_env(tmp_path))
    with open(tmp_path / "eval" / "iou.csv") as f:
        means = [float(r["mean IoU"]) for r in csv.DictReader(f)]
    assert len(means) == 1 + 3 * 4 * 2 and means == sorted(means, reverse=True)
    assert "best: " in out.stdout


def test_missing_extras_are_one_line_errors(model, tmp_path):
    env = no_caffe_env(tmp_path, "onnxruntime", "pydensecrf")
    for backend, extra, fix in (("onnx", [], ".[onnx]"), ("caffe", ["--crf"], ".[crf]")):
        out = run_module("tools.predict", model["image"], "--dataset", "camvid", "--weights",
                         model["weights"], "--net", model["net"], "--backend", backend, *extra,
                         "--out", tmp_path / "p", env=env)
        assert out.returncode == 2 and fix in out.stderr.splitlines()[-1], out.stderr
        assert "Traceback" not in out.stderr


def test_the_graph_of_a_blob_is_built_once_for_all_images(model, monkeypatch):
    from tools.weights import onnx_export
    net = OnnxNet(str(model["net"]), str(model["weights"]))
    built, to_model = [], onnx_export.to_model
    monkeypatch.setattr(onnx_export, "to_model", lambda *a: built.append(a[2]) or to_model(*a))
    image = cv2.imread(str(model["image"]))
    first, second = (segment(net, image, DATASETS["camvid"]) for _ in range(2))
    assert built == [["prob"]] and first.shape == (37, 45)
    np.testing.assert_array_equal(first, second)


def test_weights_that_miss_a_layer_are_named(model, tmp_path):
    context_only = random_weights(REPO / "caffe_models/camvid/context_deploy.prototxt",
                                  tmp_path / "context.caffemodel")
    out = run_module("tools.predict", model["image"], "--dataset", "camvid", "--weights", context_only,
                     "--net", model["net"], "--backend", "onnx", "--out", tmp_path / "p",
                     env=no_caffe_env(tmp_path))
    assert out.returncode == 2 and "missing conv1_1" in out.stderr.splitlines()[-1], out.stderr
    assert not (tmp_path / "p").exists()


def test_cuda_is_used_when_onnxruntime_has_it():
    assert providers(["CPUExecutionProvider"], None) == ["CPUExecutionProvider"]
    assert providers(["CUDAExecutionProvider", "CPUExecutionProvider"], 1)[0] == (
        "CUDAExecutionProvider", {"device_id": 1})
    with pytest.raises(BackendError, match="onnxruntime-gpu"):
        providers(["CPUExecutionProvider"], 0)


@pytest.mark.caffe
def test_both_backends_write_the_same_prediction(model, tmp_path):
    env = caffe_env()
    for backend in ("caffe", "onnx"):
        predict(model, backend, tmp_path / backend, env)
        tool("tools.features", model["image"], "--dataset", "camvid", "--net", model["front"],
             "--weights", model["weights"], "--backend", backend, "--out", tmp_path / ("s" + backend),
             env=env)
        tool("tools.evaluate", model["pairs"], "--dataset", "camvid", "--net", model["net"],
             "--weights", model["weights"], "--backend", backend, "--out", tmp_path / ("e" + backend),
             env=env)
    pngs = [(tmp_path / b / "coffee.png").read_bytes() for b in ("caffe", "onnx")]
    scores = [np.load(tmp_path / ("s" + b) / "coffee.npy") for b in ("caffe", "onnx")]
    reports = [(tmp_path / ("e" + b) / "iou.csv").read_text() for b in ("caffe", "onnx")]
    print("\nbackends: PNG bytes equal %s (%d bytes); max |score diff| %.3g; iou.csv equal %s"
          % (pngs[0] == pngs[1], len(pngs[0]), np.abs(scores[0] - scores[1]).max(),
             reports[0] == reports[1]))
    assert pngs[0] == pngs[1] and reports[0] == reports[1]
    np.testing.assert_allclose(scores[0], scores[1], rtol=1e-4, atol=1e-5)


def test_onnx_reads_the_caffemodel_once(model, monkeypatch):
    """The checks before running and the ONNX graph share one read of the weights."""
    from tools.weights import netcheck
    from tools import inference
    reads = []
    real = netcheck.Caffemodel
    monkeypatch.setattr(netcheck, "Caffemodel", lambda path: reads.append(path) or real(path))
    net = inference.checked_net(DATASETS["camvid"], str(model["net"]), str(model["weights"]),
                                "prob", "onnx")
    assert net.tile_shape == TILE and reads == [str(model["weights"])]
