"""The newcomer's path (issue 18, item 5): outputs go into folders not made yet;
the published VGG-16 is named and its checksum verified, with `--any-vgg` for
other VGG-16 files and `random` weights for smoke tests; a pycaffe that lacks
its Python packages names them; a rerun of tools.train that fails at once
leaves the earlier loss CSV and curve byte for byte."""
import hashlib
import math
import os
import re
import sys

import numpy as np
import pytest

from helpers import REPO, run_caffe, run_module
from prototxt_gen import layers as L
from prototxt_gen.cli_common import UserError, atomic_output
from prototxt_gen.nets import deploy_net, frontend_net
from prototxt_gen.spec import vgg16 as published
from prototxt_gen.spec.datasets import DATASETS
from tools import backend
from tools.palettes import write_labels
from tools.train.loss_csv import read_rows
from tools.weights import vgg16
from tools.weights.caffemodel import Caffemodel
from tools.weights.netcheck import fit, load_net
from train_fixtures import make_workspace, solver_copy
from weights_fixtures import CONVS, NARROW, digest, narrow, run_cli, write_net, write_vgg_v1


def one_line(out, *words):
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert all(word in out.stderr for word in words), (words, out.stderr)


@pytest.fixture
def front_net(tmp_path):
    """A narrow CamVid front end (VGG layer names, few channels): fast to fill."""
    return write_net(tmp_path / "front.prototxt", narrow(deploy_net(DATASETS["camvid"], "frontend")))


# ---- outputs into folders not made yet ---------------------------------------------

def test_outputs_go_into_folders_not_made_yet(tmp_path, front_net):
    """The README's commands on a fresh clone: init/, results/... do not exist."""
    out = run_module("tools.weights", "identity", "--dataset", "camvid",
                     "init/context.caffemodel", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    out = run_module("tools.weights", "vgg16", "random", "init/deep/er/frontend.caffemodel",
                     "--net", front_net, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert set(Caffemodel(tmp_path / "init/deep/er/frontend.caffemodel").layers) == set(
        CONVS + ["fc6", "fc7"])
    write_labels(str(tmp_path / "pred.png"), np.ones((8, 8), np.uint8), "camvid")
    write_labels(str(tmp_path / "truth.png"), np.ones((8, 8), np.uint8), "camvid")
    (tmp_path / "pairs.txt").write_text("pred.png truth.png\n")
    out = run_module("tools.evaluate", "pairs.txt", "--dataset", "camvid", "--out",
                     "results/camvid/val", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "results/camvid/val").is_dir()


def test_a_failed_output_leaves_no_folder_behind(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_output(str(tmp_path / "a/b/out.txt")) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("the write failed")
    assert os.listdir(tmp_path) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="a file is in the way"):
        with atomic_output(str(tmp_path / "file/sub/out.txt")):
            pass
    assert os.listdir(tmp_path) == ["file"]


def test_a_file_in_the_way_of_a_folder_is_one_line(tmp_path):
    (tmp_path / "init").write_text("not a folder")
    out = run_module("tools.weights", "identity", "--dataset", "camvid",
                     "init/context.caffemodel", cwd=tmp_path)
    one_line(out, "init/context.caffemodel", "a file is in the way")


# ---- the published VGG-16 -------------------------------------------------------------

def test_the_published_vgg16_is_named_once():
    assert re.fullmatch(r"[0-9a-f]{64}", published.SHA256)
    assert published.URL.endswith("/" + published.FILE) and published.URL.startswith("http")
    assert 500 * 2 ** 20 < published.SIZE < 530 * 2 ** 20  # "528 MB"


def test_another_vgg16_is_refused_naming_both_digests_and_the_url(tmp_path, front_net):
    vgg = write_vgg_v1(tmp_path / "VGG_ILSVRC_16_layers.caffemodel", NARROW)
    found = hashlib.sha256(vgg.read_bytes()).hexdigest()
    out = run_cli("vgg16", vgg, tmp_path / "init/front.caffemodel", "--net", front_net)
    one_line(out, str(vgg), found, published.SHA256, published.URL, "--any-vgg",
             "an interrupted download?")
    assert not (tmp_path / "init").exists()
    out = run_cli("vgg16", vgg, tmp_path / "init/front.caffemodel", "--net", front_net,
                  "--any-vgg")
    assert out.returncode == 0, out.stderr
    assert "RANDOM" not in out.stdout


def test_the_published_digest_passes(tmp_path, monkeypatch):
    """Streamed in chunks: a file of several chunks hashes as one read does."""
    path = tmp_path / "vgg.caffemodel"
    path.write_bytes(np.random.default_rng(0).bytes(2 * vgg16.CHUNK + 3))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert vgg16.sha256(str(path), show=False) == digest
    monkeypatch.setattr(published, "SHA256", digest)
    vgg16.verify(str(path), show=False)


# ---- random VGG-16 weights -----------------------------------------------------------

def test_random_weights_have_vgg16s_shapes_and_fit_every_front_end():
    layers = vgg16.random_init(vgg16.default_net())
    assert list(layers) == CONVS + ["fc6", "fc7"]
    assert layers["conv1_1"].shapes == ((64, 3, 3, 3), (64,))
    assert layers["conv5_3"].shapes == ((512, 512, 3, 3), (512,))
    assert layers["fc6"].shapes == ((4096, 512, 7, 7), (4096,))
    assert layers["fc7"].shapes == ((4096, 4096, 1, 1), (4096,))
    for ds in DATASETS.values():
        for net in (frontend_net(ds, L.TRAIN, "lmdb"), frontend_net(ds, L.TEST, "lmdb"),
                    deploy_net(ds, "frontend")):
            fitted, left = fit(net, layers, required=vgg16.without_filler(net))
            assert left == [ds.classifier], (net.name, left)
            assert {l.name for l in fitted} >= set(layers)


def test_random_weights_are_xaviers_zero_biased_and_seeded(front_net):
    net = load_net(str(front_net))
    first, again, other = (vgg16.random_init(net, seed) for seed in (0, 0, 1))
    weights, bias = first["fc6"].load()
    fan_in = NARROW["conv5_3"] * 7 * 7
    bound = math.sqrt(3.0 / fan_in)
    assert weights.dtype == np.float32 and weights.shape == (NARROW["fc6"], NARROW["conv5_3"], 7, 7)
    assert np.abs(weights).max() <= bound and np.abs(weights).max() > 0.95 * bound
    assert abs(weights.std() - math.sqrt(1.0 / fan_in)) < 0.05 * math.sqrt(1.0 / fan_in)
    assert abs(weights.mean()) < 0.05 * bound and not bias.any()
    for name in first:
        assert np.array_equal(first[name].load()[0], again[name].load()[0])
        assert not np.array_equal(first[name].load()[0], other[name].load()[0])
    assert not np.array_equal(first["conv3_1"].load()[0].ravel()[:50],
                              first["conv3_2"].load()[0].ravel()[:50])


def test_vgg16_random_on_the_command_line_says_it_is_not_imagenet(tmp_path, front_net):
    out = run_cli("vgg16", "random", tmp_path / "front.caffemodel", "--net", front_net,
                  "--seed", "3")
    assert out.returncode == 0, out.stderr
    assert "RANDOM weights" in out.stdout and "not ImageNet's VGG-16" in out.stdout
    assert "seed 3" in out.stdout
    model = Caffemodel(tmp_path / "front.caffemodel")
    net = load_net(str(front_net))
    fit(net, model.layers, required=vgg16.without_filler(net))


@pytest.mark.caffe
def test_caffe_loads_random_weights_as_written(tmp_path, front_net):
    out = run_cli("vgg16", "random", tmp_path / "front.caffemodel", "--net", front_net)
    assert out.returncode == 0, out.stderr
    ours = {name: [digest(a) for a in layer.load()]
            for name, layer in Caffemodel(tmp_path / "front.caffemodel").layers.items()}
    caffes = run_caffe("digests", script="caffe_weight_jobs.py", net=str(front_net),
                       weights=str(tmp_path / "front.caffemodel"))
    assert {name: caffes[name] for name in ours} == ours


# ---- pycaffe's imports -------------------------------------------------------------------

@pytest.mark.parametrize("missing, packages", [
    (("six", "skimage"), "six scikit-image"), (("skimage",), "scikit-image")])
def test_pycaffe_without_its_packages_names_them(tmp_path, monkeypatch, missing, packages):
    """A pycaffe whose own imports fail (as after set-up command 1): the message
    names the packages and the pip command, not the env file."""
    (tmp_path / "caffe").mkdir()
    (tmp_path / "caffe" / "__init__.py").write_text("import six\nimport skimage.io\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "caffe", raising=False)
    for module in missing:
        monkeypatch.setitem(sys.modules, module, None)  # import fails, find_spec is None
    monkeypatch.setenv("GLOG_minloglevel", "1")
    with pytest.raises(UserError) as error:
        backend.CaffeNet("deploy.prototxt", "w.caffemodel")
    message = str(error.value)
    assert "\n" not in message and "env file" not in message, message
    assert "-m pip install %s (or" % packages in message, message
    assert "-m pip install -e .[caffe]" in message, message


def test_pycaffe_not_found_points_at_the_env_file():
    error = ModuleNotFoundError("No module named 'caffe'", name="caffe")
    assert "source the env file" in backend.pycaffe_problem(error, find_spec=lambda m: 1)
    both = backend.pycaffe_problem(error, find_spec=lambda m: None)
    assert "source the env file" in both and "six scikit-image" in both


# ---- a failed rerun keeps the loss records ------------------------------------------------

FAKE_CAFFE = '#!/bin/sh\ncat "$FAKE_CAFFE_LOG"\nexit "$FAKE_CAFFE_EXIT"\n'


def caffe_lines(losses):
    """Caffe's log of (iteration, loss) pairs, each with its learning rate."""
    lines = []
    for iteration, loss in losses:
        lines.append("I0101 00:00:00.000000 1 solver.cpp:239] Iteration %d (9 iter/s, 0.5s/5 "
                     "iters), loss = %g" % (iteration, loss))
        lines.append("I0101 00:00:00.000000 1 sgd_solver.cpp:112] Iteration %d, lr = 0.001"
                     % iteration)
    return lines


def fake_train(root, solver, lines, code):
    """tools.train with a stand-in `caffe` that prints `lines` and exits with `code`."""
    caffe = root / "fake_caffe"
    caffe.write_text(FAKE_CAFFE)
    caffe.chmod(0o755)
    (root / "fake.log").write_text("".join(line + "\n" for line in lines))
    env = dict(os.environ, PYTHONPATH=str(REPO), FAKE_CAFFE_LOG=str(root / "fake.log"),
               FAKE_CAFFE_EXIT=str(code))
    return run_module("tools.train", solver, "--caffe", caffe, "--allow-missing-init", cwd=root,
                      env=env)


FAILS_AT_ONCE = ["F0101 00:00:00.000000 1 net.cpp:757] Check failed: target_blobs.size() == "
                 "source_layer.blobs_size() (2 vs. 1) Incompatible number of blobs"]


@pytest.fixture
def trained(tmp_path):
    """A first run that logged four losses: (workspace, solver, csv, png)."""
    root = make_workspace(tmp_path)
    solver = solver_copy(root, "rerun", max_iter=40, snapshot=10)
    out = fake_train(root, solver, caffe_lines([(0, 2.4), (5, 2.3), (10, 2.2), (15, 2.1)]), 1)
    assert out.returncode == 1 and "caffe failed" in out.stderr, out.stderr
    csv, png = (root / "snapshots/camvid" / ("rerun_loss." + ext) for ext in ("csv", "png"))
    assert [r[:2] for r in read_rows(csv)] == [(0, 2.4), (5, 2.3), (10, 2.2), (15, 2.1)]
    return root, solver, csv, png


def test_a_rerun_that_fails_at_once_keeps_the_loss_csv_and_curve(trained):
    root, solver, csv, png = trained
    before = csv.read_bytes(), png.read_bytes()
    out = fake_train(root, solver, FAILS_AT_ONCE, 1)
    assert out.returncode == 1 and "Incompatible number of blobs" in out.stderr, out.stderr
    assert (csv.read_bytes(), png.read_bytes()) == before
    assert [f for f in os.listdir(csv.parent) if f.startswith(".")] == []


def test_a_resumed_rerun_keeps_the_rows_before_its_snapshot(trained):
    root, solver, csv, png = trained
    for ext in ("solverstate", "caffemodel"):  # a snapshot of iteration 10 (whole protobuf)
        (csv.parent / ("rerun_iter_10." + ext)).write_bytes(b"\x08\x01")
    before = csv.read_bytes(), png.read_bytes()
    out = fake_train(root, solver, [], 1)  # resumes, then Caffe dies without a word
    assert "resuming rerun from iteration 10" in out.stderr, out.stderr
    assert (csv.read_bytes(), png.read_bytes()) == before
    out = fake_train(root, solver, caffe_lines([(10, 1.5), (15, 1.4)]), 1)
    assert "--snapshot=" in (csv.parent / "rerun.log").read_text()
    assert [r[:2] for r in read_rows(csv)] == [(0, 2.4), (5, 2.3), (10, 1.5), (15, 1.4)]
    assert png.read_bytes() != before[1]
