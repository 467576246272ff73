"""ONNX export without Caffe: every generated deploy net (VGG layers narrowed)
converts through the command line, passes the ONNX checker and runs in ONNX
Runtime at its deploy size; the released nets' legacy form gives the same
graph; Caffe's pooling rounding; one-line errors.  test_onnx_caffe.py judges
the numbers against real Caffe."""
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from helpers import DEPLOY_NETS, REPO, run_module
from onnx_fixtures import net_input, random_weights, zoo_net
from prototxt_gen.geometry import pooled_size
from prototxt_gen.shapes import inputs, load, trace
from tools.weights.netcheck import load_net
from tools.weights.onnx_export import OPSET, export, to_model
from weights_fixtures import narrow, write_net



def to_onnx(*args):
    return run_module("tools.weights", "to-onnx", *args)


def run(model, data, output="prob"):
    session = ort.InferenceSession(model.SerializeToString() if hasattr(model, "SerializeToString")
                                   else str(model), providers=["CPUExecutionProvider"])
    return session.run([output], {session.get_inputs()[0].name: data})[0]


def report_shape(prototxt, blob="prob"):
    net = load(prototxt)
    found = {r.top: r.blob for r in trace(net, inputs(net))}[blob]
    return [found.channels, found.height, found.width]


def test_every_generated_deploy_net_is_exported():
    assert len(DEPLOY_NETS) == 12


@pytest.mark.parametrize("relative", DEPLOY_NETS)
def test_deploy_net_exports_checks_and_runs_at_its_size(tmp_path, relative):
    dataset = Path(relative).parts[1]
    prototxt = write_net(tmp_path / "net.prototxt", narrow(load_net(REPO / relative)))
    weights = random_weights(prototxt, tmp_path / "w.caffemodel")
    out = to_onnx(prototxt, weights, tmp_path / "net.onnx")
    assert out.returncode == 0, out.stderr
    assert "opset %d" % OPSET in out.stdout
    onnx.checker.check_model(str(tmp_path / "net.onnx"))
    assert sorted(os.listdir(tmp_path)) == ["net.onnx", "net.prototxt", "w.caffemodel"]
    model = onnx.load(str(tmp_path / "net.onnx"))
    assert model.opset_import[0].version == OPSET
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][1:]
    prob = run(model, net_input(dataset, *shape)[0])
    assert list(prob.shape[1:]) == report_shape(prototxt)
    np.testing.assert_allclose(prob.sum(axis=1), 1, rtol=1e-5)


def test_released_legacy_form_gives_the_same_graph(tmp_path):
    """The authors' deploy files declare `input:` / `input_dim:` and keep Dropout
    after fc6 and fc7; both vanish in the graph."""
    generated = narrow(load_net(REPO / "caffe_models/pascal_voc/dilation8_pascal_voc_deploy.prototxt"))
    text = write_net(tmp_path / "gen.prototxt", generated).read_text()
    body = text.split("layer {", 2)[2]  # drop the Input layer
    for relu in ("relu6", "relu7"):
        blob = relu.replace("relu", "fc")
        end = body.index("layer {", body.index('name: "%s"' % relu))
        body = body[:end] + ('layer {\n  name: "drop%s"\n  type: "Dropout"\n  bottom: "%s"\n  '
                             'top: "%s"\n  dropout_param { dropout_ratio: 0.5 }\n}\n'
                             % (blob[2:], blob, blob)) + body[end:]
    legacy = tmp_path / "legacy.prototxt"
    legacy.write_text('input: "data"\n' + "".join("input_dim: %d\n" % d for d in (1, 3, 900, 900))
                      + "layer {" + body)
    assert load_net(legacy).layer[0].type == "Convolution"
    assert sum(layer.type == "Dropout" for layer in load_net(legacy).layer) == 2
    weights = random_weights(tmp_path / "gen.prototxt", tmp_path / "w.caffemodel")
    ours, theirs = export(tmp_path / "gen.prototxt", weights), export(legacy, weights)
    assert list(ours.graph.node) == list(theirs.graph.node)
    assert ours.graph.input == theirs.graph.input and ours.graph.output == theirs.graph.output


# ---- Caffe's pooling rounding ---------------------------------------------------------------

def caffe_max_pool(x, kernel, stride, pad):
    """pooling_layer.cpp's forward, literally: windows clipped to the input."""
    c, h, w = x.shape
    oh, ow = pooled_size(h, kernel, stride, pad), pooled_size(w, kernel, stride, pad)
    out = np.empty((c, oh, ow), x.dtype)
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * stride - pad, j * stride - pad
            h1, w1 = min(h0 + kernel, h + pad, h), min(w0 + kernel, w + pad, w)
            out[:, i, j] = x[:, max(h0, 0):h1, max(w0, 0):w1].max(axis=(1, 2))
    return out


def test_pooled_size_is_caffes():
    assert pooled_size(9, 2, 2, 1) == 5, "the sixth window would start in the padding"
    assert pooled_size(14, 2, 2, 1) == 8
    assert pooled_size(8, 3, 2, 0) == 4, "rounded up"
    assert pooled_size(900 - 4, 2, 2, 0) == 448


@pytest.mark.parametrize("kernel, stride, pad", [(2, 2, 0), (3, 2, 0), (2, 2, 1), (3, 3, 1),
                                                 (3, 2, 2), (3, 1, 1)])
def test_max_pooling_equals_caffes_windows(tmp_path, kernel, stride, pad):
    from prototxt_gen import layers as L
    from prototxt_gen.schema import pb
    net = pb.NetParameter(name="pool")
    L.input_blob(net, "data", (1, 2, 9, 14))
    L.add(net, "pool", "Pooling", ["data"], pooling_param=pb.PoolingParameter(
        pool=pb.PoolingParameter.MAX, kernel_size=kernel, stride=stride, pad=pad))
    prototxt = write_net(tmp_path / "pool.prototxt", net)
    x = np.random.default_rng(kernel * 10 + pad).normal(size=(1, 2, 9, 14)).astype(np.float32)
    x -= 5  # all negative: a padded cell that won a max would show as 0
    got = run(to_model(load_net(prototxt), []), x, "pool")
    np.testing.assert_array_equal(got[0], caffe_max_pool(x[0], kernel, stride, pad))


def test_every_mapped_layer_runs(tmp_path):
    prototxt = write_net(tmp_path / "zoo.prototxt", zoo_net())
    model = export(prototxt, random_weights(prototxt, tmp_path / "w.caffemodel"))
    ops = [node.op_type for node in model.graph.node]
    assert ops == ["Conv", "LeakyRelu", "MaxPool", "ConvTranspose", "Slice", "MaxPool", "Softmax"]
    assert list(run(model, net_input("pascal_voc", 3, 20, 30)[0]).shape[1:]) == report_shape(prototxt)


# ---- errors: one line, exit 2 ----------------------------------------------------------------

def one_line_error(out, *words):
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr and all(w in out.stderr for w in words), out.stderr


def test_unmapped_layer_type_is_named(tmp_path):
    net = zoo_net()
    net.layer.add(name="norm", type="LRN", bottom=["prob"], top=["norm"])
    prototxt = write_net(tmp_path / "lrn.prototxt", net)
    weights = random_weights(write_net(tmp_path / "zoo.prototxt", zoo_net()), tmp_path / "w.caffemodel")
    out = to_onnx(prototxt, weights, tmp_path / "x.onnx")
    one_line_error(out, "norm", "LRN", "no ONNX mapping")
    assert not (tmp_path / "x.onnx").exists()


def test_missing_weights_are_named_and_nothing_is_written(tmp_path):
    zoo = write_net(tmp_path / "zoo.prototxt", zoo_net())
    net = zoo_net()
    net.layer[1].name = "conv_renamed"
    weights = random_weights(write_net(tmp_path / "renamed.prototxt", net), tmp_path / "w.caffemodel")
    out = to_onnx(zoo, weights, tmp_path / "x.onnx")
    one_line_error(out, "missing conv")
    assert sorted(os.listdir(tmp_path)) == ["renamed.prototxt", "w.caffemodel", "zoo.prototxt"]


def test_output_option_exposes_inner_blobs(tmp_path):
    zoo = write_net(tmp_path / "zoo.prototxt", zoo_net())
    weights = random_weights(zoo, tmp_path / "w.caffemodel")
    out = to_onnx(zoo, weights, tmp_path / "x.onnx", "--output", "conv", "--output", "prob")
    assert out.returncode == 0, out.stderr
    model = onnx.load(str(tmp_path / "x.onnx"))
    assert [o.name for o in model.graph.output] == ["conv", "prob"]
    one_line_error(to_onnx(zoo, weights, tmp_path / "y.onnx", "--output", "nope"), "nope")


def test_help_states_the_opset():
    out = run_module("tools.weights", "to-onnx", "--help")
    assert "opset %d" % OPSET in " ".join(out.stdout.split())
    assert "opset %d" % OPSET in (REPO / "README.md").read_text()
