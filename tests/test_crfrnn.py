"""CRF-RNN (tools/crfrnn): the permutohedral lattice and mean-field layer
against pydensecrf2, their gradients against finite differences, and the
Caffe Python layer in real Caffe: forward on photographs, gradients, and a
short `caffe train` run.  `-s` prints the figures."""
import json
import subprocess

import numpy as np
import pytest

from crfrnn_fixtures import (PHOTOS, agreement, crf_layer, densecrf, image_bottom,
                             random_unaries, training_records)
from helpers import caffe_env, caffe_root, run_caffe
from synthetic import write_lmdb
from tools.crfrnn import meanfield
from tools.crfrnn.lattice import Lattice
from tools.data.feature_records import float_datum
from tools.train import caffe_log
from tools.train.runner import python_layer_path

JOBS = "caffe_crfrnn_jobs.py"
BLOBS = ("spatial", "bilateral", "compatibility")
# pydensecrf and the layer run one algorithm in float32, summing in other
# orders: one mean-field step agrees to rounding (under 5e-7 measured), and
# ten steps amplify that where the field is near a tie (up to 2.5e-4 over 20
# random images and unaries).
ONE_STEP, TEN_STEPS = 2e-6, 1e-3


def check_agreement(figures, bound):
    """Q within `bound`, and an argmax differs only where pydensecrf's top two
    classes are closer than that."""
    assert figures["max_diff"] < bound, figures
    assert figures["gap"] < bound, figures


# ---- NumPy ----------------------------------------------------------------------------

def test_the_transposed_filter_is_the_adjoint():
    rng = np.random.default_rng(0)
    lattice = Lattice(rng.normal(0, 2, (400, 5)), dtype=np.float64)
    x, y = rng.normal(size=(400, 3)), rng.normal(size=(400, 3))
    forward, backward = (y * lattice.filter(x)).sum(), (lattice.filter(y, transpose=True) * x).sum()
    assert abs(forward - backward) < 1e-12 * abs(forward)
    assert not np.allclose(lattice.filter(x), lattice.filter(x, transpose=True))


@pytest.mark.parametrize("iterations, bound", [(1, ONE_STEP), (10, TEN_STEPS)])
def test_forward_matches_pydensecrf_on_random_images(iterations, bound):
    params = meanfield.parse_params("", training=False)
    rng = np.random.default_rng(6)
    image = rng.uniform(-120, 120, (3, 30, 40)).astype(np.float32)
    unary = random_unaries(5, 30, 40, seed=6)
    field = meanfield.MeanField(meanfield.spatial_kernel(30, 40, params),
                                meanfield.bilateral_kernel(image, params))
    scores = field.forward(unary, meanfield.initial_blobs(5, params), iterations, keep=False)
    figures = agreement(scores, densecrf(unary, image, params).inference(iterations))
    print("\nrandom image 30x40, 5 random unaries, %d iterations: %s" % (iterations, figures))
    check_agreement(figures, bound)


def test_gradients_match_finite_differences_in_float64():
    rng = np.random.default_rng(2)
    params = meanfield.DEFAULTS._replace(theta_alpha=4.0, theta_beta=30.0, theta_gamma=2.0)
    image = rng.uniform(-120, 120, (3, 5, 6))
    field = meanfield.MeanField(meanfield.spatial_kernel(5, 6, params, np.float64),
                                meanfield.bilateral_kernel(image, params, np.float64))
    unary = rng.normal(size=(3, 5, 6))
    weights = [w + rng.normal(0, 1, w.shape) for w in meanfield.initial_blobs(3, params)]
    r = rng.normal(size=unary.shape)

    def loss():
        return (field.forward(unary, weights, 3) * r).sum()

    loss()
    analytic = field.backward(r)
    for array, grad in zip([unary] + weights, [analytic[0]] + list(analytic[1])):
        numeric = np.zeros_like(array)
        for i in np.ndindex(array.shape):
            old = array[i]
            array[i] = old + 1e-6
            up = loss()
            array[i] = old - 1e-6
            numeric[i] = (up - loss()) / 2e-6
            array[i] = old
        assert np.abs(numeric - grad).max() < 1e-6 * np.abs(numeric).max()


def test_params_default_to_crfasrnns_and_iterations_to_the_phase():
    defaults = meanfield.Params(160.0, 3.0, 3.0, 5, 3.0, 5.0)
    assert meanfield.parse_params("", training=True) == defaults
    assert meanfield.parse_params("  ", training=False).iterations == 10
    assert meanfield.parse_params('{"iterations": 7, "theta_alpha": 80}', True)[:4] == (80, 3, 3, 7)
    for bad in ('{"iteration": 5}', '{"iterations": 0}', '{"iterations": 5.0}',
                '{"theta_beta": 0}', '{"spatial_weight": "3"}', '{"theta_alpha": NaN}', "[5]"):
        with pytest.raises(ValueError):
            meanfield.parse_params(bad, training=True)
    spatial, bilateral, compatibility = meanfield.initial_blobs(4, meanfield.DEFAULTS)
    assert (spatial == 3 * np.eye(4)).all() and (bilateral == 5 * np.eye(4)).all()
    assert (compatibility == -np.eye(4)).all()


# ---- real Caffe -------------------------------------------------------------------------

@pytest.mark.caffe
@pytest.mark.parametrize("phase, iterations", [("test", 10), ("train", 5)])
def test_caffe_layer_matches_pydensecrf_on_photographs(tmp_path, phase, iterations):
    """The layer's default iterations in each phase, on three photographs."""
    params = meanfield.DEFAULTS
    unary = np.stack([random_unaries(21, 120, 160, seed=i) for i in range(len(PHOTOS))])
    image = np.stack([image_bottom(dataset, 120, 160) for dataset in PHOTOS])
    np.savez(tmp_path / "in.npz", unary=unary, image=image)
    shapes = run_caffe("forward", script=JOBS, work=str(tmp_path), arrays=str(tmp_path / "in.npz"),
                       out=str(tmp_path / "out.npz"), params={}, phase=phase)["blobs"]
    assert shapes == [[1, 1, 21, 21]] * 3
    pred = np.load(tmp_path / "out.npz")["pred"]
    for dataset, u, i, p in zip(PHOTOS, unary, image, pred):
        figures = agreement(p, densecrf(u, i, params).inference(iterations))
        print("\n%s's photograph 120x160, 21 random unaries, %d iterations (%s): %s"
              % (dataset, iterations, phase, figures))
        check_agreement(figures, TEN_STEPS)


@pytest.mark.caffe
def test_caffe_gradients_match_finite_differences(tmp_path):
    """Two 4x5 images, 3 classes, 3 iterations, kernels narrow enough to
    matter at that size."""
    errors = run_caffe("gradients", script=JOBS, work=str(tmp_path), shape=[2, 3, 4, 5], params={
        "iterations": 3, "theta_alpha": 4, "theta_beta": 40, "theta_gamma": 2})
    print("\nworst relative error, float32 Caffe, central differences (step 0.01): %s" % errors)
    assert errors.pop("image_diff_zero")
    assert set(errors) == {"unary"} | set(BLOBS)
    assert max(errors.values()) < 2e-3


SOLVER = """net: "net.prototxt"
test_iter: {records}
test_interval: {iterations}
test_initialization: true
base_lr: 0.002
lr_policy: "fixed"
momentum: 0.9
max_iter: {iterations}
display: 1
snapshot_prefix: "crf"
solver_mode: CPU
"""
NET = """layer {{ name: "data" type: "Data" top: "record"
  data_param {{ source: "records_lmdb" backend: LMDB batch_size: 1 }} }}
layer {{ name: "slice" type: "Slice" bottom: "record" top: "unary" top: "image" top: "label"
  slice_param {{ slice_point: {classes} slice_point: {image_end} }} }}
{crf}layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "pred" bottom: "label" top: "loss" }}
"""


@pytest.mark.caffe
def test_caffe_train_lowers_the_loss_and_moves_the_crf(tmp_path):
    """`caffe train` (the binary, as tools.train runs it) on four photographs:
    5 iterations in TRAIN, 10 in the TEST net that scores all four before
    and after 40 steps."""
    records = list(training_records(classes=3))
    write_lmdb(tmp_path / "records_lmdb", map(float_datum, records))
    (tmp_path / "net.prototxt").write_text(NET.format(
        classes=3, image_end=6, crf=crf_layer({}, lr_mults=(1, 1, 1))))
    (tmp_path / "solver.prototxt").write_text(SOLVER.format(records=len(records), iterations=40))
    env = caffe_env()
    # the binary's embedded Python finds the layer, and NumPy and SciPy, as tools.train sets it
    env["PYTHONPATH"] = python_layer_path(env["PYTHONPATH"])
    env["GLOG_minloglevel"] = "0"
    proc = subprocess.run([str(caffe_root() / "build" / "tools" / "caffe"), "train",
                           "--solver=solver.prototxt"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [caffe_log.parse(line) for line in proc.stderr.splitlines()]
    tests = [e.value for e in events if isinstance(e, caffe_log.TestOutput)]
    assert len(tests) == 2, proc.stderr[-3000:]
    trained = run_caffe("blobs", script=JOBS, cwd=tmp_path, net="net.prototxt",
                        weights="crf_iter_40.caffemodel")
    initial = meanfield.initial_blobs(3, meanfield.DEFAULTS)
    moved = {name: float(np.abs(np.array(trained[name]) - init).max())
             for name, init in zip(BLOBS, initial)}
    print("\ncaffe train, 40 steps: TEST loss %.4f -> %.4f; largest change of each blob %s"
          % (tests[0], tests[1], json.dumps(moved)))
    assert tests[1] < 0.9 * tests[0]
    assert min(moved.values()) > 1e-3
