"""Hostile weights, nets and CRF settings (issue 19, items 3, 4 and 12): each
bad case ends in exit code 2 and one line (no traceback, no RuntimeWarning),
touches no file and leaves none behind (hostile_fixtures.assert_contract).

- Weights are checked as Caffe reads them: float32, into which Caffe casts
  double_data (1e300 becomes inf), in every command that writes, exports or
  runs them.
- Every layer type with weights is sized as Caffe sizes it (BatchNorm, Scale,
  Bias, PReLU, ...) or refused by name; a BatchNorm without statistics never runs.
- CRF widths, weights and iterations stay in the range pydensecrf handles.

The `caffe` tests hold the checks to real Caffe's verdicts.
"""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from google.protobuf import text_format

from geometry_fixtures import tiny_deploy
from helpers import REPO, caffe_env, run_module
from hostile_fixtures import assert_contract
from prototxt_gen.nets import deploy_net
from prototxt_gen.schema import pb
from prototxt_gen.spec.datasets import DATASETS
from tools import crf
from tools.weights import WeightsError
from tools.weights.caffemodel import Caffemodel, Layer, caffe_arrays, write
from tools.weights.identity import MAX_STD
from tools.weights.netcheck import fit_caffemodel, load_net, param_shapes
from weights_fixtures import NARROW, narrow, write_net, write_vgg_v1

CLASSES = 11  # camvid
FINAL = param_shapes(tiny_deploy(CLASSES))["final"][1][0]  # the classifier's weights

# Every rule Caffe sizes weights by: grouped and one-sided kernels, BatchNorm,
# Scale over other axes (to the end, none: a scalar) and by a second bottom with
# its bias (without it, none), InnerProduct over axis 2, -1 (transposed) and 0,
# BatchNorm on its N x C x M output, grouped Deconvolution, Bias (by a second
# bottom: none) and PReLU.
ZOO = """name: "params"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 2 dim: 3 dim: 6 dim: 5 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "other" type: "Convolution" bottom: "data" top: "other"
        convolution_param { num_output: 4 kernel_h: 3 kernel_w: 1 pad_h: 1 bias_term: false } }
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" }
layer { name: "affine" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: true } }
layer { name: "spatial" type: "Scale" bottom: "conv" top: "spatial"
        scale_param { axis: -2 num_axes: 2 } }
layer { name: "rest" type: "Scale" bottom: "spatial" top: "rest"
        scale_param { num_axes: -1 bias_term: true } }
layer { name: "scalar" type: "Scale" bottom: "rest" top: "scalar"
        scale_param { axis: 0 num_axes: 0 } }
layer { name: "by" type: "Scale" bottom: "scalar" bottom: "other" top: "by"
        scale_param { axis: 0 bias_term: true } }
layer { name: "ip" type: "InnerProduct" bottom: "by" top: "ip"
        inner_product_param { num_output: 7 axis: 2 } }
layer { name: "bn2" type: "BatchNorm" bottom: "ip" top: "ip" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip" top: "ip2"
        inner_product_param { num_output: 3 axis: -1 transpose: true } }
layer { name: "ip3" type: "InnerProduct" bottom: "ip2" top: "ip3"
        inner_product_param { num_output: 5 bias_term: false } }
layer { name: "up" type: "Deconvolution" bottom: "conv" top: "up"
        convolution_param { num_output: 6 kernel_size: 2 stride: 2 group: 2 } }
layer { name: "bias" type: "Bias" bottom: "up" top: "up" }
layer { name: "prelu" type: "PReLU" bottom: "up" top: "up" }
layer { name: "times" type: "Scale" bottom: "by" bottom: "other" top: "times"
        scale_param { axis: 0 } }
layer { name: "flat" type: "InnerProduct" bottom: "data" top: "flat"
        inner_product_param { num_output: 4 axis: 0 } }
layer { name: "plus" type: "Bias" bottom: "conv" bottom: "flat" top: "plus" }
"""


# ---- inputs -----------------------------------------------------------------------

def bn_deploy():
    """The hostile tier's deploy net with a ResNet's BatchNorm `bn` and Scale `sc`
    (bias_term) on its classifier `final`."""
    net = tiny_deploy(CLASSES)
    layers = list(net.layer)
    del net.layer[:]
    for layer in layers:
        if layer.type == "Softmax":
            net.layer.add(name="bn", type="BatchNorm", bottom=["final"], top=["final"])
            net.layer.add(name="sc", type="Scale", bottom=["final"], top=["final"],
                          scale_param=pb.ScaleParameter(bias_term=True))
        net.layer.add().CopyFrom(layer)
    return net


def bn_layers(**changed):
    """{name: (type, arrays)} of trained-looking weights for bn_deploy(); a
    changed layer given as None is left out."""
    rng = np.random.default_rng(0)
    layers = {"final": ("Convolution", [rng.normal(0, 0.1, FINAL).astype(np.float32),
                                        np.zeros(CLASSES, np.float32)]),
              "bn": ("BatchNorm", [rng.normal(0, 1, CLASSES).astype(np.float32),
                                   rng.uniform(0.5, 2, CLASSES).astype(np.float32),
                                   np.array([0.999], np.float32)]),
              "sc": ("Scale", [np.ones(CLASSES, np.float32), np.zeros(CLASSES, np.float32)])}
    layers.update(changed)
    return {name: value for name, value in layers.items() if value is not None}


def write_layers(path, layers):
    write(str(path), [Layer.of(name, type_, arrays) for name, (type_, arrays) in layers.items()])
    return path


def with_doubles(path, layer, index, values):
    """The caffemodel at `path` with blob `index` of `layer` stored as
    double_data, as some converters write it (Caffe casts it to float)."""
    net = pb.NetParameter.FromString(path.read_bytes())
    blob = next(l for l in list(net.layer) + list(net.layers) if l.name == layer).blobs[index]
    blob.ClearField("data")
    blob.double_data[:] = np.asarray(values, np.float64).reshape(-1).tolist()
    path.write_bytes(net.SerializeToString())
    return path


def huge_final(path, only=None):
    """bn_deploy's weights (or those named in `only`) whose classifier holds
    1e300 in double_data."""
    write_layers(path, {k: v for k, v in bn_layers().items() if only is None or k in only})
    values = np.full(FINAL, 0.01)
    values[0, 0, 0, 0] = 1e300
    return with_doubles(path, "final", 0, values)


def npz(path, **arrays):
    np.savez(path, **{key.replace(".", "/"): value for key, value in arrays.items()})
    return path


def layer_net(ws, text):
    """bn_deploy with `text` (prototxt layers) before its Softmax."""
    net = bn_deploy()
    source = text_format.MessageToString(net)
    head, tail = source.split('layer {\n  name: "prob"')
    return put_text(ws / "odd.prototxt", head + text + '\nlayer {\n  name: "prob"' + tail)


def put_text(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def ws(tmp_path):
    work = tmp_path / "ws"
    work.mkdir()
    write_net(work / "bn.prototxt", bn_deploy())
    write_layers(work / "bn.caffemodel", bn_layers())
    image = np.random.default_rng(1).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    cv2.imwrite(str(work / "photo.png"), image)
    return work


def predict(weights, *extra, net="bn.prototxt"):
    return ["photo.png", "--dataset", "camvid", "--weights", weights, "--net", net,
            "--out", "p"] + list(extra)


def predict_with(ws, **changed):
    return predict(write_layers(ws / "changed.caffemodel", bn_layers(**changed)))


# ---- item 3: non-finite as Caffe reads it ------------------------------------------

# tools.weights: NaN or infinity as Caffe reads it, and the arguments that would make it.
WEIGHT_COMMANDS = [
    ("from-npz-float64-overflows", lambda ws: ([
        "from-npz", npz(ws / "w.npz", **{"final.0": np.full(FINAL, 1e300),
                                         "final.1": np.zeros(11)}),
        "bn.prototxt", "o.caffemodel"], "as Caffe reads them")),
    ("from-npz-longdouble-overflows", lambda ws: ([
        "from-npz", npz(ws / "w.npz", **{"final.0": np.full(FINAL, np.longdouble("1e4000")),
                                         "final.1": np.zeros(11)}),
        "bn.prototxt", "o.caffemodel"], "'final' blob 0")),
    ("from-npz-nan-bias", lambda ws: ([
        "from-npz", npz(ws / "w.npz", **{"final.0": np.ones(FINAL),
                                         "final.1": np.full(11, np.nan)}),
        "bn.prototxt", "o.caffemodel"], "blob 1 holds 11 NaN")),
    ("to-npz-double-data-overflows", lambda ws: (
        ["to-npz", huge_final(ws / "big.caffemodel"), "o.npz"], "big.caffemodel: layer 'final'")),
    ("merge-double-data-overflows", lambda ws: ([
        "merge", huge_final(ws / "front.caffemodel", only=["final"]),
        write_layers(ws / "rest.caffemodel", {k: bn_layers()[k] for k in ("bn", "sc")}),
        "bn.prototxt", "o.caffemodel"], "as Caffe reads them")),
    ("vgg16-double-data-overflows", lambda ws: ([
        "vgg16", "--any-vgg", with_doubles(write_vgg_v1(ws / "vgg.caffemodel", NARROW), "conv1_1",
                                           1, [1e300] * NARROW["conv1_1"]), "o.caffemodel", "--net",
        write_net(ws / "front.prototxt", narrow(deploy_net(DATASETS["camvid"], "frontend")))],
        "'conv1_1' blob 1")),
    ("identity-noise-overflows", lambda ws: (
        ["identity", "o.caffemodel", "--dataset", "camvid", "--noise", "1e39"], "--noise")),
    ("identity-noise-inf", lambda ws: (
        ["identity", "o.caffemodel", "--dataset", "camvid", "--noise", "inf"], "--noise")),
    ("identity-noise-nan", lambda ws: (
        ["identity", "o.caffemodel", "--dataset", "camvid", "--noise", "nan"], "--noise")),
    ("identity-negative-seed", lambda ws: (
        ["identity", "o.caffemodel", "--dataset", "camvid", "--seed", "-1"], "--seed")),
    ("identity-too-many-classes", lambda ws: (  # past any address space: no allocation happens
        ["identity", "o.caffemodel", "--dataset", "camvid", "--classes", "10000000"],
        "--classes")),
    ("to-onnx-nan", lambda ws: (
        ["to-onnx", write_net(ws / "tiny.prototxt", tiny_deploy(CLASSES)),
         write_layers(ws / "nan.caffemodel", {"final": ("Convolution", [
             np.full(FINAL, np.nan), np.zeros(11)])}), "o.onnx"],
        "'final' blob 0 holds %d NaN" % np.prod(FINAL))),
    ("to-onnx-double-data-overflows", lambda ws: (
        ["to-onnx", write_net(ws / "tiny.prototxt", tiny_deploy(CLASSES)),
         huge_final(ws / "big.caffemodel"), "o.onnx"], "--allow-nonfinite")),
]


@pytest.mark.parametrize("case, setup", WEIGHT_COMMANDS, ids=[c[0] for c in WEIGHT_COMMANDS])
def test_nonfinite_weights_as_caffe_reads_them(ws, case, setup):
    args, word = setup(ws)
    assert_contract(ws, "tools.weights", [str(a) for a in args], word)


@pytest.mark.parametrize("backend", ["caffe", "onnx"])
@pytest.mark.parametrize("weights", [huge_final, lambda path: write_layers(path, bn_layers(
    bn=("BatchNorm", [np.zeros(11), np.full(11, np.inf), np.ones(1)])))], ids=["1e300", "inf"])
def test_the_prediction_tools_refuse_nonfinite_weights_before_running(ws, backend, weights):
    """Both backends: the check comes before Caffe or ONNX Runtime is loaded."""
    args = predict(weights(ws / "bad.caffemodel"), "--backend", backend)
    assert_contract(ws, "tools.predict", [str(a) for a in args], "NaN or infinite")


def test_float64_is_written_as_the_float32_caffe_reads(ws):
    """from-npz stores Caffe's own cast; to-npz and from-npz again give the
    same file byte for byte, and --allow-nonfinite writes an overflow as inf
    without a warning."""
    weights = np.random.default_rng(2).normal(0, 0.1, FINAL) + 1e-12
    big = weights.copy()
    big[0, 0, 0, 0] = 1e39
    for name, array in (("w", weights), ("big", big)):
        npz(ws / (name + ".npz"), **{"final.0": array, "final.1": np.zeros(11)})
        out = run_module("tools.weights", "from-npz", name + ".npz", "bn.prototxt",
                         name + ".caffemodel", "--allow-nonfinite", cwd=ws)
        assert out.returncode == 0 and out.stderr == "", out.stderr
    stored = Caffemodel(ws / "w.caffemodel").layers["final"].load()[0]
    assert stored.dtype == np.float32 and stored.tobytes() == weights.astype(np.float32).tobytes()
    assert np.isposinf(Caffemodel(ws / "big.caffemodel").layers["final"].load()[0][0, 0, 0, 0])
    for args in (("to-npz", "w.caffemodel", "again.npz"),
                 ("from-npz", "again.npz", "bn.prototxt", "again.caffemodel")):
        assert run_module("tools.weights", *args, cwd=ws).returncode == 0
    assert (ws / "again.caffemodel").read_bytes() == (ws / "w.caffemodel").read_bytes()


def test_nonfinite_weights_pass_to_onnx_with_the_flag_and_without_warnings(ws):
    net = write_net(ws / "tiny.prototxt", tiny_deploy(CLASSES))
    out = run_module("tools.weights", "to-onnx", net, huge_final(ws / "big.caffemodel"), "o.onnx",
                     "--allow-nonfinite", cwd=ws)
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_identity_takes_the_largest_noise_that_fits(ws):
    out = run_module("tools.weights", "identity", "o.caffemodel", "--dataset", "camvid",
                     "--noise", repr(MAX_STD), cwd=ws)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert all(np.isfinite(a).all() for layer in Caffemodel(ws / "o.caffemodel").layers.values()
               for a in layer.load())


# ---- item 4: every layer type with weights ----------------------------------------

NETS = [
    ("bn-missing", lambda ws: predict_with(ws, bn=None), "missing bn"),
    ("scale-missing", lambda ws: predict_with(ws, sc=None), "missing sc"),
    ("bn-two-blobs", lambda ws: predict_with(ws, bn=("BatchNorm", bn_layers()["bn"][1][:2])),
     "bn has 2 blobs, the net's BatchNorm takes 3"),
    ("bn-mean-of-12", lambda ws: predict_with(ws, bn=("BatchNorm", [
        np.zeros(12), np.ones(11), np.ones(1)])), "bn/0 is 12, the net needs 11"),
    ("bn-factor-of-2", lambda ws: predict_with(ws, bn=("BatchNorm", [
        np.zeros(11), np.ones(11), np.ones(2)])), "bn/2 is 2, the net needs 1"),
    ("bn-variance-2d", lambda ws: predict_with(ws, bn=("BatchNorm", [
        np.zeros(11), np.ones((1, 11)), np.ones(1)])), "bn/1 is 1x11"),
    ("bn-zero-factor", lambda ws: predict_with(ws, bn=("BatchNorm", [
        np.ones(11), np.ones(11), np.zeros(1)])), "scale factor (blob 2) is 0"),
    ("bn-zero-statistics", lambda ws: predict_with(ws, bn=("BatchNorm", [
        np.zeros(11), np.zeros(11), np.ones(1)])), "mean and variance are all 0"),
    ("bn-negative-variance", lambda ws: predict_with(ws, bn=("BatchNorm", [
        np.zeros(11), np.r_[np.ones(10), -1.0], np.ones(1)])), "channel 10"),
    ("bn-negative-factor", lambda ws: predict_with(ws, bn=("BatchNorm", [
        np.zeros(11), np.ones(11), -np.ones(1)])), "no usable statistics"),
    ("scale-without-its-bias", lambda ws: predict_with(ws, sc=("Scale", [np.ones(11)])),
     "sc has 1 blobs, the net's Scale takes 2"),
    ("scale-of-3-channels", lambda ws: predict_with(ws, sc=("Scale", [np.ones(3), np.ones(11)])),
     "sc/0 is 3"),
    ("weights-for-the-softmax", lambda ws: predict_with(ws, prob=("Softmax", [np.ones(1)])),
     "prob is a Softmax layer, which takes no weights"),
]


@pytest.mark.parametrize("case, setup, word", NETS, ids=[c[0] for c in NETS])
def test_every_layer_with_weights_is_checked_before_caffe(ws, case, setup, word):
    assert_contract(ws, "tools.predict", [str(a) for a in setup(ws)], word)


def from_npz(ws, layer, **arrays):
    """from-npz of bn_deploy's classifier (and `arrays`) for bn_deploy with `layer` added."""
    given = dict({"final.0": np.ones(FINAL), "final.1": np.zeros(11)}, **arrays)
    return ["from-npz", npz(ws / "w.npz", **given), layer_net(ws, layer), "o.caffemodel"]


# A net the prediction tools' trace refuses already (it sizes every layer), read by
# the weight tools, which size only what they must.
UNCHECKABLE = [
    ("lstm", lambda ws: from_npz(
        ws, 'layer { name: "lstm" type: "LSTM" bottom: "final" bottom: "final" top: "x" }'),
     "type LSTM holds weights these checks cannot size"),
    ("embed", lambda ws: from_npz(ws, 'layer { name: "e" type: "Embed" bottom: "final" top: "x" }'),
     "type Embed"),
    ("unknown-type", lambda ws: from_npz(
        ws, 'layer { name: "interp" type: "Interp" bottom: "final" top: "x" }'),
     "'Interp' is not a layer type of BVLC Caffe"),
    ("weights-for-a-python-layer", lambda ws: from_npz(
        ws, 'layer { name: "py" type: "Python" bottom: "final" top: "x" python_param { '
            'module: "m" layer: "L" } }', **{"py.0": np.ones(3)}), "py is a Python layer"),
    ("weights-for-a-relu", lambda ws: from_npz(
        ws, 'layer { name: "r" type: "ReLU" bottom: "final" top: "final" }', **{"r.0": np.ones(3)}),
     "r is a ReLU layer, which takes no weights"),
    ("prelu-of-3", lambda ws: from_npz(
        ws, 'layer { name: "act" type: "PReLU" bottom: "final" top: "final" }',
        **{"act.0": np.ones(3)}), "act/0 is 3, the net needs 11"),
    ("bias-of-1x11", lambda ws: from_npz(
        ws, 'layer { name: "b" type: "Bias" bottom: "final" top: "final" }',
        **{"b.0": np.ones((1, 11))}), "b/0 is 1x11, the net needs 11"),
]


@pytest.mark.parametrize("case, setup, word", UNCHECKABLE, ids=[c[0] for c in UNCHECKABLE])
def test_weights_the_checks_cannot_size_are_refused_by_name(ws, case, setup, word):
    assert_contract(ws, "tools.weights", [str(a) for a in setup(ws)], word)


def test_from_npz_leaves_batchnorm_to_training(ws):
    """Initial weights may leave a BatchNorm out: training fills its statistics."""
    args = from_npz(ws, 'layer { name: "act" type: "PReLU" bottom: "final" top: "final" }',
                    **{"act.0": np.full(11, 0.25)})
    out = run_module("tools.weights", *args, cwd=ws)
    assert out.returncode == 0 and "left to the net's fillers: bn, sc" in out.stdout, out.stderr


def test_zoo_param_shapes():
    shapes = {name: s for name, (_, s) in param_shapes(text_format.Parse(
        ZOO, pb.NetParameter())).items()}
    assert shapes["by"] == [(2, 4, 6, 5)] and shapes["scalar"] == [()]
    assert shapes["ip"] == [(7, 30), (7,)] and shapes["ip2"] == [(7, 3), (3,)]
    assert shapes["bn2"] == [(4,), (4,), (1,)] and shapes["rest"] == [(4, 6, 5)] * 2


def test_scale_axes_caffe_aborts_on_are_one_line():
    bad = ZOO.replace("axis: -2 num_axes: 2", "axis: -2 num_axes: 3")
    with pytest.raises(WeightsError, match="layer spatial: num_axes 3 from axis -2"):
        param_shapes(text_format.Parse(bad, pb.NetParameter()))


# ---- item 12: the dense CRF's range ------------------------------------------------

CRF_FLAGS = [("--crf-bilateral-sxy", "1e-10"), ("--crf-gauss-sxy", "1e-10"),
             ("--crf-bilateral-srgb", "1e-10"), ("--crf-bilateral-srgb", "0.05"),
             ("--crf-gauss-sxy", "inf"), ("--crf-bilateral-sxy", "nan"),
             ("--crf-bilateral-sxy", "1e39"), ("--crf-gauss-compat", "inf"),
             ("--crf-bilateral-compat", "nan"), ("--crf-gauss-compat", "1e39"),
             ("--crf-gauss-compat", "1e-46"), ("--crf-bilateral-compat", "-1"),
             ("--crf-iterations", "0"), ("--crf-iterations", str(2 ** 31)),
             ("--crf-iterations", "2.5")]


@pytest.mark.parametrize("module", ["tools.predict", "tools.evaluate"])
@pytest.mark.parametrize("flag, value", CRF_FLAGS, ids=["%s=%s" % c for c in CRF_FLAGS])
def test_crf_settings_pydensecrf_cannot_take_are_refused(ws, module, flag, value):
    put_text(ws / "pairs.txt", "photo.png photo.png\n")
    args = (predict("bn.caffemodel", "--crf") if module == "tools.predict" else
            ["pairs.txt", "--dataset", "camvid", "--weights", "bn.caffemodel", "--net",
             "bn.prototxt", "--out", "e", "--crf"])
    assert_contract(ws, module, args + [flag, value], flag)


def scene(height, width, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    prob = rng.random((classes, height, width)).astype(np.float32)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return prob / prob.sum(axis=0), image


def test_a_width_too_narrow_for_the_image_is_refused_before_pydensecrf():
    prob, image = scene(30, 2000)
    least = 2000 / crf.LATTICE_WIDTHS[crf.BILATERAL]
    with pytest.raises(crf.CrfError, match=r"--crf-bilateral-sxy 0.5 is too narrow for a 2000x30 "
                                           r"image: .* from 0.542 there"):
        crf.refine(prob, image, crf.DEFAULTS._replace(bilateral_sxy=0.5))
    assert 0.5 < least < 0.55


def test_overflowing_crf_weights_are_an_error_not_a_label():
    prob, image = scene(20, 30)
    with pytest.raises(crf.CrfError, match="overflow float32"):
        crf.refine(prob, image, crf.DEFAULTS._replace(gauss_compat=3e38, bilateral_compat=3e38))


def narrowest_widths_run():
    """The narrowest widths allowed, on a 4000-pixel side and the full colour range."""
    side = 4000
    params = crf.DEFAULTS._replace(
        gauss_sxy=side / crf.LATTICE_WIDTHS[crf.GAUSSIAN], iterations=2,
        bilateral_sxy=side / crf.LATTICE_WIDTHS[crf.BILATERAL],
        bilateral_srgb=crf.COLOURS / crf.LATTICE_WIDTHS[crf.BILATERAL])
    prob, image = scene(9, side)
    image[0, 0], image[-1, -1] = 255, 0
    assert np.isfinite(crf.refine(prob, image, params)).all()


def test_the_narrowest_widths_allowed_run_in_pydensecrf():
    """In a child process: a lattice that overflowed would crash it."""
    proc = subprocess.run([sys.executable, __file__, "narrowest_widths_run"], capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr[-2000:]


# ---- real Caffe's verdicts --------------------------------------------------------

CAFFE_CHILD = """
import json, sys
import caffe
net = caffe.Net(sys.argv[1], caffe.TEST, **({"weights": sys.argv[2]} if len(sys.argv) > 2 else {}))
print(json.dumps({name: [list(b.data.shape) for b in blobs] for name, blobs in net.params.items()}))
"""


def caffe_load(net, weights=None):
    """(exit code, {layer: blob shapes}) of real Caffe loading `net` at TEST."""
    proc = subprocess.run([sys.executable, "-c", CAFFE_CHILD, str(net)] + (
        [str(weights)] if weights else []), env=caffe_env(), capture_output=True, text=True,
        timeout=300)
    lines = proc.stdout.strip().splitlines()
    return proc.returncode, ({k: [tuple(s) for s in v] for k, v in json.loads(lines[-1]).items()}
                             if proc.returncode == 0 else None)


@pytest.mark.caffe
def test_param_shapes_are_caffes(tmp_path):
    net = put_text(tmp_path / "zoo.prototxt", ZOO)
    code, caffes = caffe_load(net)
    assert code == 0
    assert {name: s for name, (_, s) in param_shapes(load_net(net)).items()} == caffes


# (case, changed layers, whether Caffe aborts on them; None: weights we accept)
VERDICTS = [
    ("trained", {}, None),
    ("bn-two-blobs", dict(bn=("BatchNorm", bn_layers()["bn"][1][:2])), True),
    ("bn-mean-of-12", dict(bn=("BatchNorm", [np.zeros(12), np.ones(11), np.ones(1)])), True),
    ("bn-factor-1x1", dict(bn=("BatchNorm", [np.zeros(11), np.ones(11), np.ones((1, 1))])), True),
    ("scale-without-its-bias", dict(sc=("Scale", [np.ones(11)])), True),
    ("scale-of-1x11", dict(sc=("Scale", [np.ones((1, 11)), np.zeros(11)])), True),
    ("weights-for-the-softmax", dict(prob=("Softmax", [np.ones(1)])), True),
    ("bn-missing", dict(bn=None), False),
    ("bn-zero-factor", dict(bn=("BatchNorm", [np.ones(11), np.ones(11), np.zeros(1)])), False),
    ("nan", dict(sc=("Scale", [np.full(11, np.nan), np.zeros(11)])), False),
]


@pytest.mark.caffe
@pytest.mark.parametrize("case, changed, aborts", VERDICTS, ids=[c[0] for c in VERDICTS])
def test_our_refusals_are_caffes_aborts_or_its_silent_errors(ws, case, changed, aborts):
    """What we refuse, Caffe either aborts on (exit 134) or runs with zero
    statistics or NaN without a word; what we accept, Caffe loads."""
    net, weights = ws / "bn.prototxt", write_layers(ws / "w.caffemodel", bn_layers(**changed))
    code, _ = caffe_load(net, weights)
    try:
        fit_caffemodel(load_net(net, pb.TEST), weights)
        refused = False
    except WeightsError:
        refused = True
    assert (refused, code != 0) == ((False, False) if aborts is None else (True, aborts)), code


@pytest.mark.caffe
def test_caffe_reads_double_data_as_our_float32(ws):
    """1e300 in double_data is inf to Caffe, and every value its float cast:
    caffe_arrays is what Caffe holds, bit for bit."""
    values = np.random.default_rng(3).normal(0, 0.1, FINAL) + 1e-9
    values[0, 0, 0, 0] = 1e300
    weights = with_doubles(write_layers(ws / "w.caffemodel", bn_layers()), "final", 0, values)
    ours = caffe_arrays(Caffemodel(weights).layers["final"])[0]
    child = ("import sys, numpy as np, caffe; net = caffe.Net(sys.argv[1], caffe.TEST, "
             "weights=sys.argv[2]); np.save(sys.argv[3], net.params['final'][0].data)")
    subprocess.run([sys.executable, "-c", child, str(ws / "bn.prototxt"), str(weights),
                    str(ws / "caffe.npy")], env=caffe_env(), check=True, timeout=300)
    caffes = np.load(ws / "caffe.npy")
    assert np.isposinf(caffes[0, 0, 0, 0]) and caffes.tobytes() == ours.tobytes()


if __name__ == "__main__":
    globals()[sys.argv[1]]()
