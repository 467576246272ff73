"""Issue 19, items 1, 2 and 6 and the schema message: deploy geometry the
tiling takes from the shape engine, nets read as Caffe builds them at TEST,
the shape engine on nets we did not generate, and Caffe fields outside our
schema.  Each bad input is held to the contract (hostile_fixtures): exit 2,
one line, nothing changed or left behind."""
import argparse
import json
import math
import subprocess
import sys
from dataclasses import replace

import cv2
import numpy as np
import onnx
import pytest
from google.protobuf import descriptor_pb2, text_format

from geometry_fixtures import (DEPLOY_SIZE, caffe_shapes, report_shapes, tiny_deploy,
                               tiny_weights)
from helpers import bvlc_caffe_pb2, caffe_env, run_module
from hostile_fixtures import assert_contract
from onnx_fixtures import random_weights
from prototxt_gen import layers as L
from prototxt_gen import shapes
from prototxt_gen.cli_common import tile_size
from prototxt_gen.nets import deploy_net
from prototxt_gen.schema import pb
from prototxt_gen.spec.datasets import DATASETS
from prototxt_gen.spec.grid import MARGIN, STRIDE, cell_centre
from tools import inference
from tools.tiling import output_stride
from weights_fixtures import narrow, write_net

CLASSES = 11
INPUT = ('layer { name: "d" type: "Input" top: "d" input_param { shape { dim: 2 dim: 4 dim: 8 '
         'dim: 8 } } } ')
RECIPE_LISTS = ["--train-images", "l.txt", "--train-labels", "l.txt", "--val-images", "l.txt",
                "--val-labels", "l.txt"]


@pytest.fixture
def ws(tmp_path):
    work = tmp_path / "ws"
    work.mkdir()
    image = np.random.default_rng(0).integers(0, 256, (21, 35, 3), dtype=np.uint8)
    cv2.imwrite(str(work / "photo.png"), image)
    write_net(work / "deploy.prototxt", tiny_deploy(CLASSES))
    tiny_weights(work / "w.caffemodel", CLASSES)
    (work / "l.txt").write_text("photo.png\n")
    return work


def put(path, text):
    path.write_text(text)
    return path


def with_layers(net, text, feed="final"):
    """`net` (a message) as prototxt text with `text` (layers) before its Softmax
    `prob`, which then reads blob `feed`."""
    source = text_format.MessageToString(net)
    head, tail = source.split('layer {\n  name: "prob"')
    tail = tail.replace('bottom: "final"', 'bottom: "%s"' % feed)
    return head + text + '\nlayer {\n  name: "prob"' + tail


def predict(ws, net, *extra):
    return ["photo.png", "--dataset", "camvid", "--weights", "w.caffemodel", "--net", net,
            "--out", "p"] + list(extra)


# ---- item 1: deploy tiles and the tiling's geometry -------------------------------------

@pytest.mark.parametrize("module, args, word", [
    ("prototxt_gen", ["--deploy-size", "400"], "use 396 or 404"),
    ("prototxt_gen", ["--deploy-size", "900x401"], "401: the front end needs (tile - 372) % 8"),
    ("prototxt_gen", ["--deploy-size", "379"], "use 380 or 388"),
    ("tools.reproduce", ["camvid", "--vgg", "l.txt", "--deploy-size", "404x403"] + RECIPE_LISTS,
     "403"),
])
def test_a_deploy_tile_of_no_whole_cells_is_refused(ws, module, args, word):
    assert_contract(ws, module, args + ["--out" if module == "prototxt_gen" else "--work", "o"],
                    word)


def test_deploy_tiles_are_exactly_those_of_whole_cells():
    for size in range(2 * MARGIN + 1, 1200):
        whole = (size - 2 * MARGIN) % STRIDE == 0 and size >= 2 * MARGIN + STRIDE
        try:
            assert tile_size(str(size)) == (size, size) and whole, size
        except argparse.ArgumentTypeError:
            assert not whole, size


@pytest.mark.parametrize("name", ["camvid", "cityscapes"])
@pytest.mark.parametrize("stage, up", [("frontend", False), ("joint", False), ("frontend", True)])
@pytest.mark.parametrize("size", [(400, 404), (900, 900), (852, 1640)])
def test_the_engine_places_our_deploy_outputs_where_the_labels_are(name, stage, up, size):
    net = deploy_net(replace(DATASETS[name], deploy_size=size), stage, upsample=up)
    tops = {r.top: r.blob for r in shapes.trace(net, shapes.inputs(net))}
    for blob, stride in (("prob", 1 if up or stage == "joint" and name == "cityscapes" else 8),
                         ("final", 8)):
        assert tops[blob].centre == (cell_centre(stride),) * 2, blob
        assert output_stride(size, tops[blob].dims[2:], tops[blob]) == stride, blob


def front_end_scores(tmp_path, image, size):
    """Stored scores (tools.inference.scores, ONNX Runtime) of a narrow CamVid front
    end at tile `size`, its weights the same whatever the tile."""
    ds = replace(DATASETS["camvid"], deploy_size=size)
    net = write_net(tmp_path / ("%dx%d.prototxt" % size), narrow(deploy_net(ds, "frontend")))
    weights = tmp_path / "w.caffemodel"
    if not weights.exists():
        random_weights(net, weights, 64.0)
    checked = inference.checked_net(ds, str(net), str(weights), "final", "onnx")
    assert checked.stride == STRIDE
    return inference.scores(checked, image, ds)


@pytest.mark.parametrize("sizes, image", [
    (((400, 400), (404, 404)), (50, 70)),  # the issue's: 28 pixels are 3.5 cells
    (((852, 1640), (852, 1644)), (30, 1300)),  # the released KITTI tile, two across
])
def test_scores_do_not_depend_on_the_tile(tmp_path, sizes, image):
    """A tile whose (tile - 372) is no whole number of cells steps by the whole
    cells in it: the cells on the image are those of a tile that is."""
    pixels = np.random.default_rng(3).integers(0, 256, image + (3,), dtype=np.uint8)
    cells = tuple(math.ceil(n / STRIDE) for n in image)
    first, second = (front_end_scores(tmp_path, pixels, size)[:, :cells[0], :cells[1]]
                     for size in sizes)
    np.testing.assert_allclose(first, second, rtol=1e-4, atol=1e-5)


SHIFTED = [
    ("no-front-end", lambda: tiny_without_pooling(), "centred on tile pixel 0x0, not 186"),
    ("cells-off-the-labels", lambda: with_cells("kernel_size: 372 stride: 8"),
     "centred on tile pixel 185.5x185.5, not 189.5"),
    ("stride-16", lambda: with_cells("kernel_size: 380 stride: 16", tile=396),
     "centred on tile pixel 189.5x189.5, not 193.5"),
    ("too-few-cells", lambda: with_cells("kernel_size: 388 stride: 8", tile=396), "too few"),
    ("strides-differ", lambda: with_cells("kernel_size: 380 stride_h: 8 stride_w: 4", tile=396),
     "8x4 pixels apart"),
    ("half-pixel-cells", lambda: with_layers(tiny_deploy(CLASSES), (
        'layer { name: "up" type: "Deconvolution" bottom: "final" top: "up" convolution_param '
        '{ num_output: 11 group: 11 kernel_size: 32 stride: 16 pad: 8 bias_term: false '
        'weight_filler { type: "bilinear" } } }'), feed="up"), "0.5x0.5 pixels apart"),
    ("no-map", lambda: with_layers(tiny_deploy(CLASSES), (
        'layer { name: "fc" type: "InnerProduct" bottom: "final" top: "fc" inner_product_param { '
        'num_output: 11 } }'), feed="fc"), "no map of cells"),
]


def tiny_without_pooling():
    return text_format.MessageToString(tiny_deploy(CLASSES)).replace(
        'bottom: "cell"', 'bottom: "data"')


def with_cells(pooling, tile=DEPLOY_SIZE):
    """The tiny deploy net with its cells made by another pooling, at another tile."""
    text = text_format.MessageToString(tiny_deploy(CLASSES))
    start = text.index("pooling_param {")
    end = text.index("}", start)
    text = text[:start] + "pooling_param { %s " % pooling + text[end:]
    return text.replace("dim: %d" % DEPLOY_SIZE, "dim: %d" % tile)


@pytest.mark.parametrize("backend", ["caffe", "onnx"])
@pytest.mark.parametrize("case, text, word", SHIFTED, ids=[c[0] for c in SHIFTED])
def test_cells_the_tiling_would_misplace_are_refused_up_front(ws, case, text, word, backend):
    """Before Caffe or ONNX Runtime is loaded, whatever the weights."""
    net = put(ws / "odd.prototxt", text())
    assert_contract(ws, "tools.predict", predict(ws, net, "--backend", backend), word)


# ---- item 2: layers of another phase, stage or level -----------------------------------

RULES = [  # (rule written on a ReLU in place on the classifier, kept by Caffe at TEST?)
    ("include { phase: TRAIN }", False),
    ("exclude { phase: TEST }", False),
    ("include { phase: TEST }", True),
    ("exclude { phase: TRAIN }", True),
    ("include { min_level: 1 }", False),
    ("include { max_level: -1 }", False),
    ("include { max_level: 0 }", True),
    ("include { stage: \"deploy\" }", False),
    ("include { phase: TRAIN } include { not_stage: \"y\" }", True),
    ("exclude { not_stage: \"x\" }", True),
    ("exclude { not_stage: \"y\" }", False),
    ("exclude { stage: \"x\" not_stage: \"y\" }", False),  # the file's own state names x
]
STATE = 'state { level: 3 stage: "x" }\n'  # Net(file, TEST) keeps the stages, sets level 0


def relu_with(rule):
    return STATE + with_layers(tiny_deploy(CLASSES), 'layer { name: "train_relu" type: "ReLU" '
                               'bottom: "final" top: "final" %s }' % rule)


@pytest.mark.parametrize("rule, kept", RULES)
def test_each_reader_keeps_the_layers_caffe_builds_at_test(ws, rule, kept):
    net = put(ws / "rules.prototxt", relu_with(rule))
    assert any(l.name == "train_relu" for l in shapes.load(net, phase=pb.TEST).layer) == kept
    report = run_module("prototxt_gen", "report", net)
    assert report.returncode == 0 and ("train_relu" in report.stdout) == kept, report.stderr
    out = run_module("tools.weights", "to-onnx", net, "w.caffemodel", "o.onnx", cwd=ws)
    assert out.returncode == 0, out.stderr
    ops = [node.op_type for node in onnx.load(str(ws / "o.onnx")).graph.node]
    assert ("Relu" in ops) == kept, ops


@pytest.mark.parametrize("module, args, word", [
    ("prototxt_gen", lambda net: ["report", net], "both include and exclude"),
    ("tools.weights", lambda net: ["to-onnx", net, "w.caffemodel", "o.onnx"],
     "both include and exclude"),
    ("tools.predict", lambda net: ["photo.png", "--dataset", "camvid", "--weights",
                                   "w.caffemodel", "--net", net, "--out", "p"],
     "both include and exclude"),
])
def test_a_layer_with_both_kinds_of_rule_is_refused_as_caffe_does(ws, module, args, word):
    net = put(ws / "both.prototxt", relu_with("include { phase: TEST } exclude { level: 1 }"
                                              .replace("level", "min_level")))
    assert_contract(ws, module, args(net), word)


def test_a_train_only_layer_a_deploy_net_needs_is_refused_at_test(ws):
    net = put(ws / "needs.prototxt", text_format.MessageToString(tiny_deploy(CLASSES)).replace(
        'name: "cell"\n  type: "Pooling"', 'name: "cell"\n  type: "Pooling"\n  include {\n'
        '    phase: TRAIN\n  }'))
    assert_contract(ws, "tools.predict", predict(ws, net, "--backend", "onnx"),
                    "bottom 'cell' is not a top of any layer before it (at TEST)")


def test_a_layer_caffe_runs_as_in_training_has_no_onnx_mapping(ws):
    net = put(ws / "drop.prototxt", with_layers(tiny_deploy(CLASSES), (
        'layer { name: "drop" type: "Dropout" bottom: "final" top: "final" phase: TRAIN }')))
    assert_contract(ws, "tools.weights", ["to-onnx", net, "w.caffemodel", "o.onnx"],
                    "phase: TRAIN")


# ---- item 6: the shape engine on nets we did not generate ------------------------------

SHAPES = [  # (layers after INPUT, {top: Caffe's shape}), each checked in real Caffe below
    ('layer { name: "s" type: "Slice" bottom: "d" top: "a" top: "b" slice_param { axis: 2 '
     'slice_point: 1 } }', {"a": [2, 4, 1, 8], "b": [2, 4, 7, 8]}),
    ('layer { name: "s" type: "Slice" bottom: "d" top: "a" top: "b" slice_param { axis: -1 } }',
     {"a": [2, 4, 8, 4], "b": [2, 4, 8, 4]}),
    ('layer { name: "s" type: "Slice" bottom: "d" top: "a" top: "b" slice_param { slice_dim: 0 '
     '} }', {"a": [1, 4, 8, 8], "b": [1, 4, 8, 8]}),
    ('layer { name: "s" type: "Slice" bottom: "d" top: "a" top: "b" top: "c" slice_param { '
     'slice_point: 1 slice_point: 3 } }', {"a": [2, 1, 8, 8], "b": [2, 2, 8, 8], "c": [2, 1, 8, 8]}),
    ('layer { name: "f" type: "InnerProduct" bottom: "d" top: "f" inner_product_param { '
     'num_output: 5 axis: 2 } }', {"f": [2, 4, 5]}),
    ('layer { name: "f" type: "InnerProduct" bottom: "d" top: "f" inner_product_param { '
     'num_output: 5 axis: -1 } }', {"f": [2, 4, 8, 5]}),
    ('layer { name: "c" type: "Concat" bottom: "d" bottom: "d" top: "c" concat_param { axis: 3 '
     '} }', {"c": [2, 4, 8, 16]}),
    ('layer { name: "c" type: "Concat" bottom: "d" bottom: "d" top: "c" concat_param { '
     'concat_dim: 0 } }', {"c": [4, 4, 8, 8]}),
    ('layer { name: "m" type: "Softmax" bottom: "d" top: "m" softmax_param { axis: -4 } }',
     {"m": [2, 4, 8, 8]}),
]
REFUSED = [  # (layers after INPUT, words of the one line), each aborts real Caffe
    ('layer { name: "s" type: "Slice" bottom: "d" top: "a" top: "b" slice_param { axis: 4 } }',
     "axis 4 is outside the 4 axes"),
    ('layer { name: "s" type: "Slice" bottom: "d" top: "a" top: "b" slice_param { slice_dim: 4 '
     '} }', "slice_dim 4 is outside"),
    ('layer { name: "s" type: "Slice" bottom: "d" top: "a" top: "b" slice_param { axis: 1 '
     'slice_dim: 1 } }', "not both"),
    ('layer { name: "s" type: "Slice" bottom: "d" top: "a" top: "b" top: "c" slice_param { '
     'slice_point: 3 slice_point: 1 } }', "must rise"),
    ('layer { name: "s" type: "Slice" bottom: "d" top: "a" top: "b" slice_param { '
     'slice_point: 6 } }', "do not fit axis 1 of 4"),
    ('layer { name: "s" type: "Slice" bottom: "d" top: "a" top: "b" top: "c" slice_param { '
     'axis: 0 } }', "3 tops do not divide axis 0 of 2"),
    ('layer { name: "m" type: "Softmax" bottom: "d" top: "m" softmax_param { axis: 5 } }',
     "axis 5 is outside the 4 axes"),
    ('layer { name: "f" type: "InnerProduct" bottom: "d" top: "f" inner_product_param { '
     'num_output: 5 axis: -5 } }', "axis -5"),
    ('layer { name: "f" type: "InnerProduct" bottom: "d" top: "f" inner_product_param { '
     'num_output: 0 } }', "num_output must be at least 1"),
    ('layer { name: "f" type: "InnerProduct" bottom: "d" top: "f" inner_product_param { '
     'num_output: 5 } } layer { name: "c" type: "Concat" bottom: "d" bottom: "f" top: "c" }',
     "cannot concatenate"),
    ('layer { name: "r" type: "ReLU" bottom: "d" top: "r" } layer { name: "x" type: "ReLU" '
     'bottom: "d" top: "r" }', "made by an earlier layer"),
    ('layer { name: "c" type: "Concat" bottom: "d" bottom: "d" top: "d" }', "which 2 layers read"),
    ('layer { name: "s" type: "Split" bottom: "d" top: "d" top: "e" }', "Split cannot work in place"),
    ('layer { name: "r" type: "ReLU" bottom: "d" bottom: "d" top: "r" }', "takes 1 bottom blobs, not 2"),
    ('layer { name: "p" type: "Pooling" bottom: "d" top: "p" top: "m" pooling_param { pool: AVE '
     'kernel_size: 2 } }', "only MAX pooling has a second top"),
    ('layer { name: "f" type: "InnerProduct" bottom: "d" top: "f" inner_product_param { '
     'num_output: 5 } } layer { name: "p" type: "Pooling" bottom: "f" top: "p" pooling_param { '
     'kernel_size: 1 } }', "a Pooling of a 2-axis blob"),
]


@pytest.mark.parametrize("layers, expected", SHAPES)
def test_the_engine_gives_caffes_shapes_on_any_axis(layers, expected):
    net = text_format.Parse(INPUT + layers, pb.NetParameter())
    rows = {r.top: list(r.blob.dims) for r in shapes.trace(net, shapes.inputs(net))}
    assert {k: rows[k] for k in expected} == expected


@pytest.mark.parametrize("layers, word", REFUSED)
def test_nets_caffe_aborts_on_are_one_line_from_the_report(ws, layers, word):
    assert_contract(ws, "prototxt_gen", ["report", put(ws / "n.prototxt", INPUT + layers)], word)


def test_weights_for_a_slice_on_height_fit(ws):
    """The issue's case: a Slice on axis 2 keeps the channels, so a convolution
    after it takes weights of 4 input channels (it once said 2)."""
    net = put(ws / "n.prototxt", INPUT + (
        'layer { name: "s" type: "Slice" bottom: "d" top: "a" top: "b" slice_param { axis: 2 '
        'slice_point: 2 } } layer { name: "c" type: "Convolution" bottom: "b" top: "c" '
        'convolution_param { num_output: 3 kernel_size: 3 } }'))
    np.savez(ws / "w.npz", **{"c/0": np.ones((3, 4, 3, 3), np.float32), "c/1": np.zeros(3)})
    out = run_module("tools.weights", "from-npz", "w.npz", net, "o.caffemodel", cwd=ws)
    assert out.returncode == 0, out.stderr


# ---- fields of real Caffe outside our schema --------------------------------------------

def test_batch_norm_and_scale_parameters_are_read(ws):
    net = put(ws / "bn.prototxt", with_layers(tiny_deploy(CLASSES), (
        'layer { name: "bn" type: "BatchNorm" bottom: "final" top: "final" batch_norm_param { '
        'use_global_stats: true eps: 0.001 } } layer { name: "sc" type: "Scale" bottom: "final" '
        'top: "final" scale_param { bias_term: true } }')))
    out = run_module("prototxt_gen", "report", net)
    assert out.returncode == 0 and "BatchNorm" in out.stdout, out.stderr


@pytest.mark.parametrize("module, args", [
    ("prototxt_gen", lambda net: ["report", net]),
    ("tools.weights", lambda net: ["to-onnx", net, "w.caffemodel", "o.onnx"]),
    ("tools.weights", lambda net: ["from-npz", "w.npz", net, "o.caffemodel"]),
    ("tools.predict", lambda net: ["photo.png", "--dataset", "camvid", "--weights",
                                   "w.caffemodel", "--net", net, "--out", "p"]),
])
@pytest.mark.parametrize("layer, word", [
    ('layer { name: "norm1" type: "LRN" bottom: "final" top: "final" lrn_param { local_size: 5 '
     '} }', "layer norm1: lrn_param is valid Caffe"),
    ('layer { name: "pool9" type: "Pooling" bottom: "final" top: "p9" pooling_param { '
     'kernel_size: 1 round_mode: FLOOR } }', "layer pool9: round_mode is valid Caffe"),
    ('layer { name: "e" type: "Eltwise" bottom: "final" bottom: "final" top: "e" eltwise_param '
     '{ operation: SUM } }', "layer e: eltwise_param is valid Caffe"),
])
def test_a_caffe_field_outside_our_schema_is_named_as_valid_caffe(ws, module, args, layer, word):
    np.savez(ws / "w.npz", x=np.zeros(1))
    net = put(ws / "odd.prototxt", with_layers(tiny_deploy(CLASSES), layer))
    assert_contract(ws, module, args(net), word)


# ---- judged by real Caffe ---------------------------------------------------------------

def _messages(descriptor):
    for message in descriptor.message_types_by_name.values():
        yield message
        yield from message.nested_types


@pytest.mark.caffe
def test_our_schema_reserves_each_other_field_of_caffes_net_messages():
    """Every field of Caffe's message is ours or reserved by name and number, so
    the reader can tell valid Caffe from a misspelling (solvers aside: the train
    tool hands their fields on to Caffe)."""
    ref = bvlc_caffe_pb2()
    for ours in _messages(pb.DESCRIPTOR):
        if ours.name == "SolverParameter":
            continue
        theirs = ref.DESCRIPTOR.pool.FindMessageTypeByName("caffe." + ours.full_name.split(".", 1)[1])
        proto = descriptor_pb2.DescriptorProto()
        ours.CopyToProto(proto)
        missing = {f.name: f.number for f in theirs.fields if f.name not in ours.fields_by_name}
        assert set(proto.reserved_name) == set(missing), ours.name
        assert {n for r in proto.reserved_range for n in range(r.start, r.end)} == \
            set(missing.values()), ours.name


@pytest.mark.caffe
def test_the_hand_made_nets_agree_with_caffe(tmp_path):
    nets = [INPUT + layers for layers, _ in SHAPES + REFUSED]
    built = caffe_shapes(nets, tmp_path)
    for (layers, expected), caffe in zip(SHAPES, built):
        assert caffe is not None and {k: caffe[k] for k in expected} == expected, layers
        assert {k: report_shapes(INPUT + layers)[k] for k in expected} == expected
    for (layers, _), caffe in zip(REFUSED, built[len(SHAPES):]):
        assert caffe is None, layers


@pytest.mark.caffe
@pytest.mark.parametrize("rule", ["include { phase: TRAIN }", "exclude { phase: TEST }",
                                  "include { min_level: 1 }", "exclude { not_stage: \"y\" }"])
def test_both_backends_drop_what_caffe_drops_at_test(ws, rule):
    """The issue's recipe: a ReLU only for TRAIN on the classifier; Caffe's scores
    keep their negative values, and so do ONNX Runtime's."""
    net = put(ws / "rules.prototxt", relu_with(rule))
    stored = {}
    for backend in ("caffe", "onnx"):
        out = run_module("tools.features", "photo.png", "--dataset", "camvid", "--weights",
                         "w.caffemodel", "--net", net, "--out", backend, "--backend", backend,
                         cwd=ws, env=caffe_env())
        assert out.returncode == 0, out.stderr
        stored[backend] = np.load(ws / backend / "photo.npy")
    assert stored["caffe"].min() < 0
    np.testing.assert_allclose(stored["onnx"], stored["caffe"], rtol=1e-5, atol=1e-6)


# Caffe's input gradient of one output cell: its extent (the cell's receptive
# field) and its centroid, in input pixels, each (h, w).
GRADIENT_JOB = r"""
import json, sys
import numpy as np
import caffe
caffe.set_mode_cpu()
path, blob, cell, randomize = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
net = caffe.Net(path, caffe.TEST)
rng = np.random.default_rng(0)
for params in net.params.values() if randomize == "yes" else ():
    for p in params:
        p.data[...] = 0.01 + rng.random(p.data.shape)  # positive: every ReLU stays open
data = net.blobs[net.inputs[0]]
data.data[...] = 1 + rng.random(data.data.shape)
net.forward()
net.blobs[blob].diff[...] = 0
net.blobs[blob].diff[0, 0, cell[0], cell[1]] = 1
net.backward(start=blob)  # the layer of that name makes the blob
grad = np.abs(data.diff[0]).sum(axis=0)
out = []
for axis in (0, 1):
    profile = grad.sum(axis=1 - axis)
    hit = np.nonzero(profile)[0]
    out.append([float(hit.min() + hit.max()) / 2,
                float((profile * np.arange(len(profile))).sum() / profile.sum())])
print(json.dumps(out))
"""


def caffe_gradient(path, blob, cell, randomize):
    proc = subprocess.run([sys.executable, "-c", GRADIENT_JOB, str(path), blob, json.dumps(cell),
                           "yes" if randomize else "no"], env=caffe_env(), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.caffe
def test_the_engine_centres_cells_where_caffe_computes_them(tmp_path):
    """The front end's cell (i, j) reads the input window whose middle the engine
    gives (189.5 + 8 i: its receptive field, measured by backpropagation), and
    the recipe's bilinear x8 upsampling centres its pixel o on (o - 3.5) / 8 cells
    of its input (the centroid of its weights)."""
    net = narrow(deploy_net(replace(DATASETS["camvid"], deploy_size=(404, 412)), "frontend"))
    net.force_backward = True
    final = {r.top: r.blob for r in shapes.trace(net, shapes.inputs(net))}["final"]
    path = write_net(tmp_path / "frontend.prototxt", net)
    for cell in ((0, 0), (2, 3)):
        measured = caffe_gradient(path, "final", cell, randomize=True)
        assert [extent for extent, _ in measured] == [
            final.centre[a] + final.jump[a] * cell[a] for a in (0, 1)]
    up = pb.NetParameter(name="up", force_backward=True)
    L.deconv(up, "up", L.input_blob(up, "cells", (1, 2, 6, 6)), 2, factor=STRIDE)
    upsampled = {r.top: r.blob for r in shapes.trace(up, shapes.inputs(up))}["up"]
    path = write_net(tmp_path / "up.prototxt", up)
    for pixel in ((20, 21), (27, 30)):
        measured = caffe_gradient(path, "up", pixel, randomize=False)
        assert [centroid for _, centroid in measured] == pytest.approx(
            [upsampled.centre[a] + upsampled.jump[a] * pixel[a] for a in (0, 1)], abs=1e-6)
