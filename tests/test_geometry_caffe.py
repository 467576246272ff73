"""The shape engine against real Caffe on random nets: every blob's shape
equals what Caffe allocates, and every net Caffe rejects is rejected by the
engine with a message.  Two kinds of net: window layers in every way Caffe
lets their geometry be written (random_nets.py), and the layers with an axis
(Slice, Concat, InnerProduct, Softmax, Crop), blob counts, tops written twice
and include/exclude rules, read as pycaffe builds a net at TEST."""
import random

import pytest
from google.protobuf import text_format

from geometry_fixtures import caffe_shapes, report_shapes
from prototxt_gen.schema import pb
from random_nets import random_nets

NETS, SEED = 1200, 12
AXIS_NETS, AXIS_SEED = 800, 19
pytestmark = pytest.mark.caffe


def outcome(text, built):
    ours = report_shapes(text)
    if built is None:
        return ("both reject" if isinstance(ours, str) else "report accepts, Caffe rejects"), ours
    if isinstance(ours, str):
        if "changes its shape" in ours:  # Caffe computes such a layer from a reshaped blob
            return "report refuses an in-place reshape", ours
        empty = any(0 in shape for shape in built.values())
        return ("report refuses an empty blob" if empty else "report rejects, Caffe accepts"), ours
    # Caffe's own Split copies (x_..._split_N) of shared blobs are not in the prototxt, and
    # the engine has no shape for a scalar (a loss)
    same = all(ours.get(name) == shape for name, shape in built.items()
               if "_split_" not in name and shape)
    return ("same shapes" if same else "different shapes"), ours


def compare(nets, tmp_path):
    """{outcome: count} of the nets against Caffe; asserts none disagrees."""
    outcomes, wrong = {}, []
    for text, built in zip(nets, caffe_shapes(nets, tmp_path)):
        kind, ours = outcome(text, built)
        outcomes[kind] = outcomes.get(kind, 0) + 1
        if kind not in ("both reject", "report refuses an empty blob", "same shapes",
                        "report refuses an in-place reshape"):
            wrong.append((kind, text, built, ours))
    print("random nets vs Caffe: %s" % outcomes)
    assert not wrong, "%d of %d disagree; first: %s" % (len(wrong), len(nets), wrong[0])
    return outcomes


def test_random_nets_have_caffes_shapes(tmp_path):
    outcomes = compare(random_nets(NETS, SEED), tmp_path)
    assert outcomes.get("same shapes", 0) >= 500 and outcomes.get("both reject", 0) >= 50


# ---- layers with an axis, blob counts, phase rules ------------------------------------

def _axis(rng):
    return rng.choice([-5, -4, -3, -2, -1, 0, 1, 2, 3, 4])


def _rule(rng):
    rule = pb.NetStateRule()
    if rng.random() < 0.6:
        rule.phase = rng.choice([pb.TRAIN, pb.TEST])
    if rng.random() < 0.2:
        rule.min_level = rng.randint(-1, 1)
    if rng.random() < 0.2:
        rule.max_level = rng.randint(-1, 1)
    if rng.random() < 0.2:
        rule.stage.append(rng.choice(["deploy", "other"]))
    if rng.random() < 0.2:
        rule.not_stage.append(rng.choice(["deploy", "other"]))
    return rule


def _axis_layer(rng, net, name, blobs):
    kind = rng.choice(["Slice", "Slice", "Concat", "InnerProduct", "Softmax", "Crop", "Split",
                       "Pooling", "ReLU"])
    layer = net.layer.add(name=name, type=kind, bottom=[rng.choice(blobs)], top=[name])
    if kind == "Slice":
        sp = layer.slice_param
        if rng.random() < 0.3:
            sp.slice_dim = rng.randint(0, 4)
        if rng.random() < 0.8:
            sp.axis = _axis(rng)
        tops = rng.randint(1, 3)
        layer.top[:] = ["%s_%d" % (name, i) for i in range(tops)]
        if rng.random() < 0.7:
            sp.slice_point.extend(sorted(rng.sample(range(1, 5), tops - 1)))
            if rng.random() < 0.15:
                sp.slice_point.reverse()
            if rng.random() < 0.1:
                sp.slice_point.append(rng.randint(0, 5))
    elif kind == "Concat":
        layer.bottom.extend(rng.choice(blobs) for _ in range(rng.randint(0, 2)))
        if rng.random() < 0.2:
            layer.concat_param.concat_dim = rng.randint(0, 4)
        if rng.random() < 0.8:
            layer.concat_param.axis = _axis(rng)
    elif kind == "InnerProduct":
        ip = layer.inner_product_param
        ip.num_output = rng.choice([0, 1, 2, 3, 3])
        ip.axis = _axis(rng)
    elif kind == "Softmax":
        layer.softmax_param.axis = _axis(rng)
    elif kind == "Crop":
        layer.bottom.append(rng.choice(blobs))
        layer.crop_param.axis = rng.choice([-4, -1, 0, 1, 2, 3, 4])
        layer.crop_param.offset.extend(rng.randint(0, 1) for _ in range(rng.choice([0, 1, 2])))
    elif kind == "Split":
        layer.top[:] = ["%s_%d" % (name, i) for i in range(rng.randint(0, 3))]
    elif kind == "Pooling":
        layer.pooling_param.kernel_size = 2
        layer.pooling_param.pool = rng.choice([pb.PoolingParameter.MAX, pb.PoolingParameter.AVE])
        if rng.random() < 0.5:
            layer.top.append(name + "_mask")
    elif rng.random() < 0.5:  # ReLU, in place
        layer.top[0] = layer.bottom[0]
    if layer.top and rng.random() < 0.05:  # a top some layer already makes
        layer.top[0] = rng.choice(blobs)
    if rng.random() < 0.25:
        getattr(layer, rng.choice(["include", "exclude"])).append(_rule(rng))
        if rng.random() < 0.1:
            layer.include.append(_rule(rng))
    return list(layer.top)


def axis_net(rng, index):
    net = pb.NetParameter(name="axes%d" % index)
    if rng.random() < 0.3:
        net.state.stage.append(rng.choice(["deploy", "other"]))
    if rng.random() < 0.2:
        net.state.level = rng.randint(1, 2)  # pycaffe builds at level 0 all the same
    data = net.layer.add(name="data", type="Input", top=["data"])
    data.input_param.shape.add(dim=[rng.randint(1, 3), rng.randint(1, 4), rng.randint(1, 6),
                                    rng.randint(1, 6)])
    blobs = ["data"]
    for i in range(rng.randint(1, 4)):
        blobs += _axis_layer(rng, net, "l%d" % i, blobs)
    return text_format.MessageToString(net)


def test_layers_with_an_axis_and_phase_rules_have_caffes_shapes(tmp_path):
    rng = random.Random(AXIS_SEED)
    outcomes = compare([axis_net(rng, i) for i in range(AXIS_NETS)], tmp_path)
    assert outcomes.get("same shapes", 0) >= 200 and outcomes.get("both reject", 0) >= 400
