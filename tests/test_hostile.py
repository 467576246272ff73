"""Hostile and careless input thrown at every command: each case must end in
exit code 2 with exactly one line on stderr (`<prog>: error: ...`, no
traceback), leave every file that was there unchanged, and leave no new file
behind (no temporary, no partial output).

A case is (id, module, setup): setup(ws) makes the bad input in a fresh copy
of a small workspace and returns the command's arguments and a word the
message must contain.  Cases that can only go wrong after a net is loaded run
real Caffe and carry the `caffe` marker.
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

import cv2
import numpy as np
import pytest
from google.protobuf import text_format

from data_fixtures import CLASSES, TRAIN, VAL, make_fixture
from helpers import REPO, caffe_env, caffe_root, run_module
from geometry_fixtures import tiny_deploy, tiny_weights
from hostile_fixtures import assert_contract, copied
from prototxt_gen.schema import pb
from tools.palettes import write_labels
from tools.weights.caffemodel import Layer, write as write_caffemodel
from weights_fixtures import small_net, write_net

NOT_UTF8 = b"\xff\xfe\x00bad \xc3\x28 list\n"
INPUT = ('layer { name: "d" type: "Input" top: "d" input_param { shape { dim: 1 dim: 3 dim: 8 '
         'dim: 8 } } } ')
RECIPE_LISTS = ["--train-images", "images.txt", "--train-labels", "labels.txt",
                "--val-images", "images.txt", "--val-labels", "labels.txt"]
PYTHON_LAYER = ('layer { name: "py" type: "Python" bottom: "ip" top: "py" '
                'python_param { module: "m" layer: "L" } }')


# ---- the workspace ---------------------------------------------------------------

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def decompression_bomb(path):
    """A tiny PNG that claims 30000 x 30000 pixels, past Pillow's bomb limit."""
    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
                     + png_chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + png_chunk(b"IEND", b""))
    return path


def corrupt_scan(path):
    """JPEG whose entropy-coded data is garbled: libjpeg decodes it with warnings."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 24] = bytes([0xff, 0x00] * 12)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_base")
    fx = make_fixture(root / "fx")
    images, labels = fx.write_lists(TRAIN, str(root / "train"))
    features, feature_labels = fx.write_lists(VAL, str(root / "ctx"), inputs="features")
    shutil.copy(images, root / "images.txt")
    shutil.copy(labels, root / "labels.txt")
    shutil.copy(features, root / "features.txt")
    shutil.copy(feature_labels, root / "feature_labels.txt")
    write_net(root / "small.prototxt", small_net())
    write_net(root / "deploy.prototxt", tiny_deploy(11))
    tiny_weights(root / "w.caffemodel", 11)
    run_module("tools.weights", "to-npz", root / "w.caffemodel", root / "w.npz", cwd=root)
    image = cv2.imread(fx.images[TRAIN[0]])
    cv2.imwrite(str(root / "photo.jpg"), image)
    cv2.imwrite(str(root / "photo.png"), image)
    write_labels(str(root / "truth.png"), np.zeros((8, 8), np.uint8), "camvid")
    write_labels(str(root / "pred.png"), np.ones((8, 8), np.uint8), "camvid")
    (root / "pairs.txt").write_text("pred.png truth.png\n")
    solver = pb.SolverParameter(net="net.prototxt", base_lr=0.01, max_iter=10,
                                snapshot_prefix="snaps/x", solver_mode=pb.SolverParameter.CPU)
    (root / "solver.prototxt").write_text(text_format.MessageToString(solver))
    write_net(root / "net.prototxt", small_net())
    fake = root / "fake_caffe"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    return root


@pytest.fixture
def ws(base, tmp_path):
    return copied(base, tmp_path)


# ---- the cases ----------------------------------------------------------------------

def put(ws, name, data):
    path = ws / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return path


def lists(*extra):
    return ["lists", "--dataset", "pascal_voc", "--split", "train", "--lmdb-root", "lmdb",
            "--workers", "1"] + list(extra)


def first_line_replaced(ws, list_name, path):
    lines = (ws / list_name).read_text().splitlines()
    lines[0] = str(path)
    (ws / list_name).write_text("\n".join(lines) + "\n")


def bad_image(ws, spoil, source="photo.jpg"):
    image = ws / ("spoilt" + os.path.splitext(source)[1])
    shutil.copy(ws / source, image)
    spoil(image)
    first_line_replaced(ws, "images.txt", image)
    return lists("--images", "images.txt", "--labels", "labels.txt")


def built_then(ws, *changed):
    """A complete LMDB, then a rerun that asks for something else."""
    args = lists("--images", "images.txt", "--labels", "labels.txt")
    out = run_module("tools.data", *args, cwd=ws)
    assert out.returncode == 0, out.stderr
    return args + list(changed)


def truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    return path


def nan_weights(ws):
    path = ws / "nan.caffemodel"
    tiny_weights(path, 11, value=np.nan)
    return path


def solver_with(ws, **fields):
    solver = pb.SolverParameter()
    text_format.Parse((ws / "solver.prototxt").read_text(), solver)
    for key, value in fields.items():
        setattr(solver, key, value)
    (ws / "solver.prototxt").write_text(text_format.MessageToString(solver))
    return ["solver.prototxt", "--caffe", "fake_caffe"]


def coloured(ws, rgb):
    image = np.zeros((8, 8, 3), np.uint8)
    image[...] = rgb[::-1]
    cv2.imwrite(str(ws / "pred.png"), image)


CASES = [
    # prototxt_gen
    ("report-missing", "prototxt_gen", lambda ws: (["report", "nowhere.prototxt"], "nowhere")),
    ("report-directory", "prototxt_gen", lambda ws: (["report", "."], "cannot read")),
    ("report-not-utf8", "prototxt_gen",
     lambda ws: (["report", put(ws, "n.prototxt", NOT_UTF8)], "not a Caffe net")),
    ("report-stride-0", "prototxt_gen", lambda ws: (["report", put(
        ws, "n.prototxt", 'layer { name: "d" type: "Input" top: "d" input_param { shape { dim: 1 '
        'dim: 1 dim: 8 dim: 8 } } } layer { name: "c" type: "Convolution" bottom: "d" top: "c" '
        'convolution_param { num_output: 1 kernel_size: 3 stride: 0 } }')], "stride")),
    ("report-unknown-bottom", "prototxt_gen", lambda ws: (["report", put(
        ws, "n.prototxt", 'layer { name: "r" type: "ReLU" bottom: "ghost" top: "r" }')], "ghost")),
    ("report-3d-input", "prototxt_gen", lambda ws: (["report", put(
        ws, "n.prototxt", 'layer { name: "d" type: "Input" top: "d" input_param { shape { dim: 1 '
        'dim: 8 dim: 8 } } }')], "N x C x H x W")),
    ("report-no-bottom", "prototxt_gen", lambda ws: (["report", put(
        ws, "n.prototxt", 'layer { name: "c" type: "Convolution" top: "c" convolution_param '
        '{ num_output: 1 kernel_size: 1 } }')], "bottom")),
    ("report-global-pooling-with-kernel", "prototxt_gen", lambda ws: (["report", put(
        ws, "n.prototxt", INPUT + 'layer { name: "p" type: "Pooling" bottom: "d" top: "p" '
        'pooling_param { global_pooling: true kernel_size: 2 } }')], "global_pooling")),
    ("report-crop-past-the-edge", "prototxt_gen", lambda ws: (["report", put(
        ws, "n.prototxt", INPUT + 'layer { name: "c" type: "Convolution" bottom: "d" top: "c" '
        'convolution_param { num_output: 1 kernel_size: 3 } } layer { name: "x" type: "Crop" '
        'bottom: "c" bottom: "d" top: "x" }')], "cannot crop")),
    ("report-group-does-not-divide", "prototxt_gen", lambda ws: (["report", put(
        ws, "n.prototxt", INPUT + 'layer { name: "c" type: "Convolution" bottom: "d" top: "c" '
        'convolution_param { num_output: 4 group: 2 kernel_h: 3 kernel_w: 1 } }')], "group")),
    ("generate-out-is-a-file", "prototxt_gen",
     lambda ws: (["--dataset", "camvid", "--out", "images.txt"], "images.txt")),
    # tools.data
    ("lists-not-utf8", "tools.data", lambda ws: (lists(
        "--images", put(ws, "bad.txt", NOT_UTF8), "--labels", "labels.txt"), "UTF-8")),
    ("lists-missing-list", "tools.data",
     lambda ws: (lists("--images", "nowhere.txt", "--labels", "labels.txt"), "nowhere.txt")),
    ("lists-list-is-a-directory", "tools.data",
     lambda ws: (lists("--images", "fx", "--labels", "labels.txt"), "fx")),
    ("lists-duplicate-stem", "tools.data", lambda ws: (
        first_line_replaced(ws, "images.txt", (ws / "images.txt").read_text().split()[1])
        or lists("--images", "images.txt", "--labels", "labels.txt"), "listed twice")),
    ("lists-unequal", "tools.data", lambda ws: (lists(
        "--images", put(ws, "short.txt", (ws / "images.txt").read_text().splitlines()[0] + "\n"),
        "--labels", "labels.txt"), "pair line by line")),
    ("lists-truncated-jpeg", "tools.data", lambda ws: (bad_image(ws, truncate), "spoilt.jpg")),
    ("lists-corrupt-jpeg-scan", "tools.data",
     lambda ws: (bad_image(ws, corrupt_scan), "corrupt")),
    ("lists-corrupt-png", "tools.data",
     lambda ws: (bad_image(ws, corrupt_scan, "photo.png"), "spoilt.png")),
    ("lists-empty-image", "tools.data",
     lambda ws: (bad_image(ws, lambda p: p.write_bytes(b"")), "empty")),
    ("lists-decompression-bomb-label", "tools.data", lambda ws: (
        first_line_replaced(ws, "labels.txt", decompression_bomb(ws / "bomb.png"))
        or lists("--images", "images.txt", "--labels", "labels.txt"), "bomb.png")),
    ("lists-lmdb-root-is-a-file", "tools.data", lambda ws: (
        lists("--images", "images.txt", "--labels", "labels.txt", "--lmdb-root", "images.txt"),
        "images.txt")),
    ("lists-image-is-a-directory", "tools.data", lambda ws: (
        first_line_replaced(ws, "images.txt", ws / "fx")
        or lists("--images", "images.txt", "--labels", "labels.txt"), "is a directory")),
    ("lists-rerun-other-crop", "tools.data", lambda ws: (built_then(ws, "--crop", "388"), "crop")),
    ("lists-rerun-other-compression", "tools.data",
     lambda ws: (built_then(ws, "--compression", "3"), "compression")),
    ("lists-rerun-other-list", "tools.data", lambda ws: (
        built_then(ws) and (ws / "labels.txt").write_text(
            "\n".join((ws / "labels.txt").read_text().splitlines()[::-1]) + "\n")
        and lists("--images", "images.txt", "--labels", "labels.txt"), "list_sha256")),
    ("voc-duplicate-val-id", "tools.data", lambda ws: (
        (ws / "fx/VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt").write_text(
            "2007_000033\n2007_000042\n2007_000033\n")
        and ["voc", "--voc", "fx/VOCdevkit/VOC2012", "--sbd", "fx/benchmark_RELEASE",
             "--lmdb-root", "lmdb"], "listed twice")),
    ("voc-val-not-utf8", "tools.data", lambda ws: (
        put(ws, "fx/VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt", NOT_UTF8)
        and ["voc", "--voc", "fx/VOCdevkit/VOC2012", "--sbd", "fx/benchmark_RELEASE",
             "--lmdb-root", "lmdb"], "UTF-8")),
    ("voc-missing-tree", "tools.data", lambda ws: (
        ["voc", "--voc", "nowhere", "--sbd", "fx/benchmark_RELEASE", "--lmdb-root", "lmdb"],
        "nowhere")),
    ("coco-json-not-an-object", "tools.data", lambda ws: (
        ["coco", "--voc", "fx/VOCdevkit/VOC2012", "--sbd", "fx/benchmark_RELEASE", "--lmdb-root",
         "lmdb", "--coco", put(ws, "list.json", "[1, 2]"), "fx/coco/train2014"], "list.json")),
    ("coco-json-broken", "tools.data", lambda ws: (
        ["coco", "--voc", "fx/VOCdevkit/VOC2012", "--sbd", "fx/benchmark_RELEASE", "--lmdb-root",
         "lmdb", "--coco", put(ws, "b.json", '{"images": ['), "fx/coco/train2014"], "b.json")),
    ("context-nan-scores", "tools.data", lambda ws: (
        np.save(ws / (ws / "features.txt").read_text().splitlines()[0],
                np.full((CLASSES, 3, 3), np.nan, np.float32)) or
        ["context", "--dataset", "pascal_voc", "--split", "val", "--lmdb-root", "lmdb",
         "--features", "features.txt", "--labels", "feature_labels.txt"], "NaN")),
    ("context-pickled-npy", "tools.data", lambda ws: (
        np.save(ws / (ws / "features.txt").read_text().splitlines()[0],
                np.array([{"a": 1}], dtype=object), allow_pickle=True) or
        ["context", "--dataset", "pascal_voc", "--split", "val", "--lmdb-root", "lmdb",
         "--features", "features.txt", "--labels", "feature_labels.txt"], "score map")),
    ("context-not-npy", "tools.data", lambda ws: (
        put(ws, "fake.npy", "text") and first_line_replaced(ws, "features.txt", ws / "fake.npy")
        or ["context", "--dataset", "pascal_voc", "--split", "val", "--lmdb-root", "lmdb",
            "--features", "features.txt", "--labels", "feature_labels.txt"], "fake.npy")),
    # tools.weights
    ("to-npz-output-is-input", "tools.weights",
     lambda ws: (["to-npz", "w.caffemodel", "w.caffemodel"], "is the input")),
    ("to-npz-output-links-to-input", "tools.weights", lambda ws: (
        os.symlink("w.caffemodel", ws / "link.npz") or ["to-npz", "w.caffemodel", "link.npz"],
        "is the input")),
    ("vgg16-output-is-input", "tools.weights",
     lambda ws: (["vgg16", "w.caffemodel", "w.caffemodel"], "is the input")),
    ("from-npz-output-is-the-net", "tools.weights",
     lambda ws: (["from-npz", "w.npz", "deploy.prototxt", "deploy.prototxt"], "is the input")),
    ("to-npz-truncated", "tools.weights", lambda ws: (
        ["to-npz", truncate(ws / "w.caffemodel", 0.7), "o.npz"], "truncated")),
    ("to-npz-text-file", "tools.weights", lambda ws: (["to-npz", "pairs.txt", "o.npz"], "pairs.txt")),
    ("reproduce-missing-vgg", "tools.reproduce", lambda ws: (
        ["camvid", "--vgg", "nowhere.caffemodel"] + RECIPE_LISTS + ["--cpu"], "nowhere")),
    ("reproduce-voc-without-sbd", "tools.reproduce",
     lambda ws: (["pascal_voc", "--vgg", "w.caffemodel", "--voc", "."], "--sbd")),
    ("reproduce-work-is-a-file", "tools.reproduce", lambda ws: (
        ["camvid", "--vgg", "w.caffemodel", "--work", "pairs.txt", "--cpu"] + RECIPE_LISTS,
        "pairs.txt")),
    ("reproduce-gpu-garbage", "tools.reproduce", lambda ws: (
        ["camvid", "--vgg", "w.caffemodel", "--gpu", "0,,1"] + RECIPE_LISTS, "--gpu")),
    ("reproduce-gpu-solvers-without-gpu", "tools.reproduce", lambda ws: (
        ["camvid", "--vgg", "w.caffemodel"] + RECIPE_LISTS, "--cpu")),
    ("to-npz-directory", "tools.weights", lambda ws: (["to-npz", "fx", "o.npz"], "fx")),
    ("to-npz-output-folder-is-a-file", "tools.weights",
     lambda ws: (["to-npz", "w.caffemodel", "pairs.txt/o.npz"], "pairs.txt/o.npz")),
    ("to-npz-output-is-a-directory", "tools.weights",
     lambda ws: (["to-npz", "w.caffemodel", "fx"], "directory")),
    ("to-npz-nan-weights", "tools.weights",
     lambda ws: (["to-npz", nan_weights(ws), "o.npz"], "NaN")),
    ("from-npz-net-stride-0", "tools.weights", lambda ws: (
        put(ws, "deploy.prototxt", (ws / "deploy.prototxt").read_text().replace(
            "kernel_size: 1", "kernel_size: 1\n    stride: 0")) and
        ["from-npz", "w.npz", "deploy.prototxt", "o.caffemodel"], "stride")),
    ("from-npz-net-unknown-bottom", "tools.weights", lambda ws: (
        put(ws, "deploy.prototxt", (ws / "deploy.prototxt").read_text().replace(
            'bottom: "data"', 'bottom: "ghost"')) and
        ["from-npz", "w.npz", "deploy.prototxt", "o.caffemodel"], "ghost")),
    ("from-npz-net-not-utf8", "tools.weights", lambda ws: (
        ["from-npz", "w.npz", put(ws, "n.prototxt", NOT_UTF8), "o.caffemodel"], "n.prototxt")),
    ("from-npz-pickled-array", "tools.weights", lambda ws: (
        np.savez(ws / "p.npz", **{"final/0": np.array([{"a": 1}], dtype=object)}) or
        ["from-npz", "p.npz", "deploy.prototxt", "o.caffemodel"], "not numbers")),
    ("merge-missing-input", "tools.weights", lambda ws: (
        ["merge", "nowhere.caffemodel", "w.caffemodel", "deploy.prototxt", "o.caffemodel"],
        "nowhere.caffemodel")),
    ("identity-net-is-a-directory", "tools.weights", lambda ws: (
        ["identity", "o.caffemodel", "--dataset", "camvid", "--net", "fx"], "fx")),
    # tools.train
    ("train-solver-missing", "tools.train",
     lambda ws: (["nowhere.prototxt", "--caffe", "fake_caffe"], "nowhere.prototxt")),
    ("train-solver-malformed", "tools.train", lambda ws: (
        [put(ws, "s.prototxt", "base_lr: {"), "--caffe", "fake_caffe"], "not a Caffe solver")),
    ("train-solver-is-a-directory", "tools.train",
     lambda ws: (["fx", "--caffe", "fake_caffe"], "directory")),
    ("train-solver-not-utf8", "tools.train", lambda ws: (
        [put(ws, "s.prototxt", NOT_UTF8), "--caffe", "fake_caffe"], "s.prototxt")),
    ("train-net-malformed", "tools.train", lambda ws: (
        put(ws, "net.prototxt", "layer { name: ") and solver_with(ws), "not a Caffe net")),
    ("train-net-is-a-directory", "tools.train",
     lambda ws: (solver_with(ws, net="fx"), "directory")),
    ("train-caffe-missing", "tools.train",
     lambda ws: (["solver.prototxt", "--caffe", "no_caffe_here"], "no_caffe_here")),
    ("train-caffe-not-executable", "tools.train",
     lambda ws: (["solver.prototxt", "--caffe", "pairs.txt"], "not executable")),
    ("train-weights-missing", "tools.train", lambda ws: (
        ["solver.prototxt", "--caffe", "fake_caffe", "--weights", "nowhere.caffemodel"],
        "nowhere.caffemodel")),
    ("train-weights-truncated", "tools.train", lambda ws: (
        ["solver.prototxt", "--caffe", "fake_caffe", "--weights",
         truncate(ws / "w.caffemodel", 0.7)], "truncated")),
    ("train-diverge-factor-nan", "tools.train", lambda ws: (
        ["solver.prototxt", "--caffe", "fake_caffe", "--diverge-factor", "nan"], "positive")),
    ("train-gpu-empty-device", "tools.train",
     lambda ws: (["solver.prototxt", "--caffe", "fake_caffe", "--gpu", "0,,1"], "--gpu")),
    ("train-gpu-negative", "tools.train",
     lambda ws: (["solver.prototxt", "--caffe", "fake_caffe", "--gpu", "-1"], "--gpu")),
    ("train-gpu-not-a-number", "tools.train",
     lambda ws: (["solver.prototxt", "--caffe", "fake_caffe", "--gpu", "x"], "--gpu")),
    ("train-gpu-solver-without-gpu", "tools.train", lambda ws: (
        solver_with(ws, solver_mode=pb.SolverParameter.GPU), "solver_mode is GPU")),
    ("train-python-layer-on-several-gpus", "tools.train", lambda ws: (
        put(ws, "net.prototxt", (ws / "net.prototxt").read_text() + PYTHON_LAYER)
        and ["solver.prototxt", "--caffe", "fake_caffe", "--gpu", "0,1"], "Python layer")),
    # tools.predict (all of these stop before Caffe is loaded)
    ("predict-image-missing", "tools.predict", lambda ws: (
        ["nowhere.jpg", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         "deploy.prototxt"], "nowhere.jpg")),
    ("predict-image-is-a-directory", "tools.predict", lambda ws: (
        ["fx", "--dataset", "camvid", "--weights", "w.caffemodel", "--net", "deploy.prototxt"],
        "directory")),
    ("predict-two-inputs-one-stem", "tools.predict", lambda ws: (
        ["photo.jpg", "photo.png", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         "deploy.prototxt", "--out", "preds"], "both be written")),
    ("predict-output-over-input", "tools.predict", lambda ws: (
        ["photo.png", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         "deploy.prototxt", "--out", "."], "is the input")),
    ("predict-out-is-a-file", "tools.predict", lambda ws: (
        ["photo.jpg", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         "deploy.prototxt", "--out", "pairs.txt"], "pairs.txt")),
    ("predict-weights-lack-a-layer", "tools.predict", lambda ws: (
        ["photo.jpg", "--dataset", "camvid", "--weights",
         tiny_weights(ws / "other.caffemodel", 11, name="fc-final"), "--net", "deploy.prototxt"],
        "missing final")),
    ("predict-weights-misfit", "tools.predict", lambda ws: (
        ["photo.jpg", "--dataset", "camvid", "--weights", tiny_weights(ws / "o.caffemodel", 12),
         "--net", "deploy.prototxt"], "12x3x1x1")),
    ("predict-weights-truncated", "tools.predict", lambda ws: (
        ["photo.jpg", "--dataset", "camvid", "--weights", truncate(ws / "w.caffemodel", 0.7),
         "--net", "deploy.prototxt"], "truncated")),
    ("predict-net-of-another-data-set", "tools.predict", lambda ws: (
        write_net(ws / "voc.prototxt", tiny_deploy(21)) and
        ["photo.jpg", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         "voc.prototxt"], "21 classes")),
    ("predict-net-malformed", "tools.predict", lambda ws: (
        ["photo.jpg", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         put(ws, "n.prototxt", "layer {")], "n.prototxt")),
    ("predict-gpu-all", "tools.predict", lambda ws: (
        ["photo.jpg", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         "deploy.prototxt", "--gpu", "all"], "one GPU")),
    ("predict-gpu-several", "tools.predict", lambda ws: (
        ["photo.jpg", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         "deploy.prototxt", "--gpu", "0,1"], "one GPU")),
    ("predict-gpu-not-a-number", "tools.predict", lambda ws: (
        ["photo.jpg", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         "deploy.prototxt", "--gpu", "x"], "--gpu")),
    # tools.features
    ("features-list-not-utf8", "tools.features", lambda ws: (
        ["--list", put(ws, "l.txt", NOT_UTF8), "--dataset", "camvid", "--weights",
         "w.caffemodel", "--net", "deploy.prototxt", "--out", "f"], "UTF-8")),
    ("features-list-missing", "tools.features", lambda ws: (
        ["--list", "nowhere.txt", "--dataset", "camvid", "--weights", "w.caffemodel", "--out", "f"],
        "nowhere.txt")),
    ("features-no-images", "tools.features", lambda ws: (
        ["--list", put(ws, "l.txt", "\n\n"), "--dataset", "camvid", "--weights",
         "w.caffemodel", "--out", "f"], "no images")),
    ("features-two-inputs-one-stem", "tools.features", lambda ws: (
        ["photo.jpg", "photo.png", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         "deploy.prototxt", "--out", "f"], "both be written")),
    # tools.evaluate
    ("evaluate-empty-pairs", "tools.evaluate", lambda ws: (
        [put(ws, "p.txt", "\n \n"), "--dataset", "camvid", "--out", "e"], "no pairs")),
    ("evaluate-pairs-not-utf8", "tools.evaluate",
     lambda ws: ([put(ws, "p.txt", NOT_UTF8), "--dataset", "camvid", "--out", "e"], "UTF-8")),
    ("evaluate-pairs-missing", "tools.evaluate",
     lambda ws: (["nowhere.txt", "--dataset", "camvid", "--out", "e"], "nowhere.txt")),
    ("evaluate-pairs-one-field", "tools.evaluate", lambda ws: (
        [put(ws, "p.txt", "pred.png\n"), "--dataset", "camvid", "--out", "e"], "expected 2 or 3")),
    ("evaluate-unknown-palette", "tools.evaluate", lambda ws: (
        coloured(ws, (10, 20, 30)) or ["pairs.txt", "--dataset", "camvid", "--out", "e"],
        "palette")),
    ("evaluate-labels-of-another-data-set", "tools.evaluate", lambda ws: (
        write_labels(str(ws / "truth.png"), np.full((8, 8), 15, np.uint8), "pascal_voc")
        or ["pairs.txt", "--dataset", "camvid", "--out", "e"], "not classes of camvid")),
    ("evaluate-truncated-prediction", "tools.evaluate", lambda ws: (
        truncate(ws / "pred.png", 0.6) and ["pairs.txt", "--dataset", "camvid", "--out", "e"],
        "pred.png")),
    ("evaluate-bomb-truth", "tools.evaluate", lambda ws: (
        decompression_bomb(ws / "truth.png") and ["pairs.txt", "--dataset", "camvid", "--out", "e"],
        "truth.png")),
    ("evaluate-16-bit-prediction", "tools.evaluate", lambda ws: (
        cv2.imwrite(str(ws / "pred.png"), np.full((8, 8), 300, np.uint16))
        and ["pairs.txt", "--dataset", "camvid", "--out", "e"], "300")),
    ("evaluate-sizes-differ", "tools.evaluate", lambda ws: (
        write_labels(str(ws / "pred.png"), np.ones((4, 8), np.uint8), "camvid")
        or ["pairs.txt", "--dataset", "camvid", "--out", "e"], "pred.png")),
    ("evaluate-nothing-to-score", "tools.evaluate", lambda ws: (
        write_labels(str(ws / "truth.png"), np.full((8, 8), 255, np.uint8), "camvid")
        or ["pairs.txt", "--dataset", "camvid", "--out", "e"], "nothing to score")),
    ("evaluate-report-over-input", "tools.evaluate", lambda ws: (
        shutil.copy(ws / "pairs.txt", ws / "iou.csv") and
        ["iou.csv", "--dataset", "camvid", "--out", "."], "is the input")),
]


@pytest.mark.parametrize("case, module, setup", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(ws, case, module, setup):
    args, word = setup(ws)
    assert_contract(ws, module, [str(a) for a in args], word)


# Cases that only go wrong once the net has run: real Caffe.
CAFFE_CASES = [
    ("predict-truncated-jpeg", "tools.predict", lambda ws: (
        ["spoilt.jpg", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         "deploy.prototxt", "--out", "p"], "spoilt.jpg"), truncate),
    ("predict-corrupt-jpeg-scan", "tools.predict", lambda ws: (
        ["spoilt.jpg", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         "deploy.prototxt", "--out", "p"], "corrupt"), corrupt_scan),
    ("predict-empty-image", "tools.predict", lambda ws: (
        ["spoilt.jpg", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         "deploy.prototxt", "--out", "p"], "empty"), lambda p: p.write_bytes(b"")),
    ("features-corrupt-jpeg-scan", "tools.features", lambda ws: (
        ["spoilt.jpg", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         "deploy.prototxt", "--out", "f"], "corrupt"), corrupt_scan),
    ("features-nan-scores", "tools.features", lambda ws: (
        ["photo.jpg", "--dataset", "camvid", "--weights", nan_weights(ws), "--net",
         "deploy.prototxt", "--out", "f"], "NaN"), None),
    ("evaluate-with-weights-corrupt-image", "tools.evaluate", lambda ws: (
        [put(ws, "p.txt", "spoilt.jpg truth.png\n"), "--dataset", "camvid", "--weights",
         "w.caffemodel", "--net", "deploy.prototxt", "--out", "e"], "corrupt"), corrupt_scan),
]


def real_caffe():
    return str(caffe_root() / "build" / "tools" / "caffe")


# --gpu on this CPU-only Caffe (pycaffe and `caffe train` alike), or on a GPU
# that does not exist: Caffe's abort becomes one line, before anything is written.
GPU_CASES = [
    ("predict-gpu-0", "tools.predict", lambda ws: (
        ["photo.jpg", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         "deploy.prototxt", "--out", "p", "--gpu", "0"], "CPU-only")),
    ("predict-gpu-99", "tools.predict", lambda ws: (
        ["photo.jpg", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         "deploy.prototxt", "--out", "p", "--gpu", "99"], "--gpu 99")),
    ("features-gpu-0", "tools.features", lambda ws: (
        ["photo.jpg", "--dataset", "camvid", "--weights", "w.caffemodel", "--net",
         "deploy.prototxt", "--out", "f", "--gpu", "0"], "CPU-only")),
    ("evaluate-gpu-0", "tools.evaluate", lambda ws: (
        [put(ws, "p.txt", "photo.jpg truth.png\n"), "--dataset", "camvid", "--weights",
         "w.caffemodel", "--net", "deploy.prototxt", "--out", "e", "--gpu", "0"], "CPU-only")),
    ("train-gpu-0-cpu-solver", "tools.train", lambda ws: (
        ["solver.prototxt", "--caffe", real_caffe(), "--gpu", "0"], "CPU-only")),
    ("train-gpu-0-gpu-solver", "tools.train", lambda ws: (
        solver_with(ws, solver_mode=pb.SolverParameter.GPU)[:1]
        + ["--caffe", real_caffe(), "--gpu", "0"], "python -m prototxt_gen --cpu")),
    ("train-gpu-99", "tools.train", lambda ws: (
        ["solver.prototxt", "--caffe", real_caffe(), "--gpu", "99"], "--gpu 99")),
    ("train-gpu-all", "tools.train", lambda ws: (
        ["solver.prototxt", "--caffe", real_caffe(), "--gpu", "all"], "CPU-only")),
]


@pytest.mark.caffe
@pytest.mark.parametrize("case, module, setup", GPU_CASES, ids=[c[0] for c in GPU_CASES])
def test_gpu_on_a_cpu_only_caffe(ws, case, module, setup):
    args, word = setup(ws)
    assert_contract(ws, module, [str(a) for a in args], word, env=caffe_env())


@pytest.mark.caffe
@pytest.mark.parametrize("case, module, setup, spoil", CAFFE_CASES, ids=[c[0] for c in CAFFE_CASES])
def test_bad_input_after_the_net_loads(ws, case, module, setup, spoil):
    shutil.copy(ws / "photo.jpg", ws / "spoilt.jpg")
    if spoil:
        spoil(ws / "spoilt.jpg")
    args, word = setup(ws)
    assert_contract(ws, module, [str(a) for a in args], word, env=caffe_env())


# ---- interrupts, pipes, symlinks ---------------------------------------------------------

def test_ctrl_c_during_an_lmdb_build_is_exit_130_and_leaves_no_partial(ws):
    image, label = (ws / "images.txt").read_text().split()[0], (ws / "labels.txt").read_text().split()[0]
    many = 8000  # 3000 could finish within the 0.3 s below on an idle machine
    for i in range(many):  # one photo under many names: a build of some seconds
        os.symlink(image, ws / ("i%04d.jpg" % i))
    (ws / "many_images.txt").write_text("".join("i%04d.jpg\n" % i for i in range(many)))
    (ws / "many_labels.txt").write_text((label + "\n") * many)
    proc = subprocess.Popen([sys.executable, "-m", "tools.data"] + lists(
        "--images", "many_images.txt", "--labels", "many_labels.txt"), cwd=ws,
        env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    deadline = time.time() + 60
    partial = ws / "lmdb" / "pascal_voc" / "train_lmdb.partial"
    while not (partial / "data.mdb").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].endswith("partial outputs removed")
    assert not partial.exists() and not (ws / "lmdb/pascal_voc/train_lmdb").exists()


def test_output_piped_into_head_ends_quietly(ws):
    layers = [Layer.of("l%d" % i, "Convolution", [np.zeros((1, 1, 1, 1), np.float32)])
              for i in range(3000)]
    write_caffemodel(str(ws / "many.caffemodel"), layers)
    proc = subprocess.run("%s -m tools.weights to-npz many.caffemodel o.npz | head -1"
                          % sys.executable, shell=True, cwd=ws, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.stdout.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr == ""


def test_a_symlinked_output_is_written_through(ws):
    (ws / "real").mkdir()
    (ws / "real" / "o.npz").write_bytes(b"old")
    os.symlink("real/o.npz", ws / "o.npz")
    out = run_module("tools.weights", "to-npz", "w.caffemodel", "o.npz", cwd=ws)
    assert out.returncode == 0, out.stderr
    assert os.path.islink(ws / "o.npz") and (ws / "real" / "o.npz").read_bytes()[:2] == b"PK"
    assert sorted(os.listdir(ws / "real")) == ["o.npz"]


def test_a_symlinked_lmdb_is_rebuilt_through_the_link_and_found_again(ws):
    (ws / "elsewhere").mkdir()
    (ws / "lmdb" / "pascal_voc").mkdir(parents=True)
    os.symlink(str(ws / "elsewhere" / "train_lmdb"), ws / "lmdb" / "pascal_voc" / "train_lmdb")
    args = lists("--images", "images.txt", "--labels", "labels.txt")
    for extra in (["--force"], ["--force"], []):
        out = run_module("tools.data", *args, *extra, cwd=ws)
        assert out.returncode == 0, out.stderr
    assert "complete, kept" in out.stdout
    assert os.path.islink(ws / "lmdb" / "pascal_voc" / "train_lmdb")
    assert (ws / "elsewhere" / "train_lmdb" / "data.mdb").exists()
    manifest = json.loads((ws / "elsewhere" / "train_lmdb.json").read_text())
    assert manifest["records"] == len(TRAIN)


def test_nonfinite_weights_pass_with_the_flag(ws):
    out = run_module("tools.weights", "to-npz", nan_weights(ws), "o.npz", "--allow-nonfinite",
                     cwd=ws)
    assert out.returncode == 0, out.stderr
