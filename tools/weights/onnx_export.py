"""A Caffe deploy net and its weights as an ONNX model (opset 17), built with
onnx.helper / numpy_helper from the prototxt we already parse (shapes.load)
and the weights fit() has checked, so any runtime can run the released models.

Sizes come from the shape engine (prototxt_gen.shapes, Caffe's rounding rules).  Max
pooling does not use ONNX's ceil_mode: tools disagree on a ceil-mode window
that would start in the padding (for 9 pixels, kernel 2, stride 2, pad 1, onnx
1.23's shape inference says 6 windows, onnxruntime 1.32 computes 5, as Caffe
does).  Each Pooling gets explicit bottom/right padding instead, which makes
ONNX's floor rule give Caffe's count everywhere, windows clipped to the input
as Caffe clips them (padding never wins a max).
"""
import numpy as np
import onnx
from onnx import helper, numpy_helper

from prototxt_gen import geometry, shapes
from prototxt_gen.cli_common import atomic_output
from prototxt_gen.schema import pb
from prototxt_gen.shapes import input_blobs

from . import WeightsError
from .caffemodel import caffe_arrays
from .netcheck import BROKEN, fit_caffemodel, load_net

OPSET = 17
IR_VERSION = 8  # the IR of opset 17, so older runtimes load the file too
IDENTITY = ("Dropout", "Split")  # Dropout is the identity at inference
MAPPED = ("Input", "Convolution", "Deconvolution", "Pooling", "ReLU", "Softmax", "Crop") + IDENTITY


def _conv(layer, x, weights, shape):
    window = geometry.conv_window(layer)
    op = "Conv" if layer.type == "Convolution" else "ConvTranspose"
    return op, [x] + weights, dict(kernel_shape=list(shape[2:]), strides=list(window.stride),
                                   pads=list(window.pad) * 2, dilations=list(window.dilation),
                                   group=layer.convolution_param.group)


def _pool(layer, x, bottom, top):
    pp = layer.pooling_param
    if pp.pool != pp.MAX or pp.global_pooling:
        raise WeightsError("layer %s: only MAX pooling with a kernel (not global) has an "
                           "ONNX mapping" % layer.name)
    (kh, kw), (sh, sw), (ph, pw) = geometry.pool_window(layer, bottom.height, bottom.width)[:3]
    # bottom/right padding that makes floor((n + pads - k) / s) + 1 equal Caffe's size
    end = [max(0, (out - 1) * s + k - n - p) for out, n, k, s, p in
           ((top.height, bottom.height, kh, sh, ph), (top.width, bottom.width, kw, sw, pw))]
    return "MaxPool", [x], dict(kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw] + end)


def _crop(layer, x, bottom, ref):
    """Caffe's Crop over height and width (axis 2, the shape engine's model of it)."""
    offsets = list(layer.crop_param.offset) or [0]
    offsets = offsets * 2 if len(offsets) == 1 else offsets
    sizes, dims = (ref.height, ref.width), (bottom.height, bottom.width)
    if layer.crop_param.axis != 2 or len(offsets) != 2 or any(
            o + s > d for o, s, d in zip(offsets, sizes, dims)):
        raise WeightsError("layer %s: only a Crop of axis 2 with offsets that fit has an ONNX "
                           "mapping" % layer.name)
    consts = [(layer.name + "/" + k, np.array(v, dtype=np.int64)) for k, v in
              (("starts", offsets), ("ends", [o + s for o, s in zip(offsets, sizes)]),
               ("axes", [2, 3]))]
    return "Slice", [x] + [name for name, _ in consts], {}, consts


def check_mapped(net):
    """Every layer has an ONNX mapping, and runs as at TEST: a layer's own `phase`
    field overrides the net's in Caffe (a Dropout with phase TRAIN drops at random)."""
    for layer in net.layer:
        if layer.type not in MAPPED:
            raise WeightsError("layer %s: type %s has no ONNX mapping (mapped: %s)"
                               % (layer.name, layer.type, ", ".join(MAPPED)))
        if layer.HasField("phase") and layer.phase != pb.TEST:
            raise WeightsError("layer %s: its own `phase: %s` makes Caffe run it as in "
                               "training, which has no ONNX mapping; remove that field"
                               % (layer.name, shapes.PHASES[layer.phase]))


def _net_outputs(net):
    """Caffe's rule: blobs that no later layer reads."""
    outputs = []
    for i, layer in enumerate(net.layer):
        read_later = {b for later in net.layer[i + 1:] for b in later.bottom}
        outputs += [t for t in layer.top if t not in read_later and t not in outputs]
    return outputs


def _value_info(name, blob):
    """A float tensor N x C x H x W; the batch N is left open."""
    return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT,
                                         ["N", blob.channels, blob.height, blob.width])


def _node(layer, tensor, bottoms, tops, weights):
    """(ONNX op, inputs, attributes, constants) of one mapped layer."""
    x, bottom = tensor[layer.bottom[0]], bottoms[0]
    if layer.type in ("Convolution", "Deconvolution"):
        arrays = weights[layer.name]
        consts = [("%s/%d" % (layer.name, j), a) for j, a in enumerate(arrays)]
        return _conv(layer, x, [n for n, _ in consts], arrays[0].shape) + (consts,)
    if layer.type == "Pooling":
        return _pool(layer, x, bottom, tops[0]) + ([],)
    if layer.type == "ReLU":
        slope = layer.relu_param.negative_slope
        return ("LeakyRelu", [x], dict(alpha=slope), []) if slope else ("Relu", [x], {}, [])
    if layer.type == "Softmax":
        return "Softmax", [x], dict(axis=layer.softmax_param.axis), []
    return _crop(layer, x, bottom, bottoms[1])


def to_model(net, layers, outputs=None):
    """ONNX ModelProto of `net` (a parsed deploy prototxt) with `layers` (as fit()
    returns them), exposing blobs `outputs` (default: the net's own outputs).
    The weights go in as Caffe reads them (float32)."""
    check_mapped(net)
    weights = {layer.name: caffe_arrays(layer) for layer in layers}
    known = shapes.inputs(net)
    graph_inputs = [_value_info(name, blob) for name, blob in input_blobs(net).items()]
    last_writer = {top: i for i, layer in enumerate(net.layer) if layer.type not in IDENTITY
                   for top in layer.top}
    tensor = {name: name for name in known}  # Caffe blob -> the ONNX tensor holding it now
    nodes, initializers = [], []
    for i, (layer, bottoms, tops) in enumerate(shapes.walk(net, known)):
        known.update(zip(layer.top, tops))
        if layer.type == "Input":
            tensor.update((top, top) for top in layer.top)
        elif layer.type in IDENTITY:
            tensor.update((top, tensor[layer.bottom[0]]) for top in layer.top)
        else:
            op, args, attrs, consts = _node(layer, tensor, bottoms, tops, weights)
            initializers += [numpy_helper.from_array(value, name) for name, value in consts]
            top = layer.top[0]
            tensor[top] = top if last_writer[top] == i else "%s@%s" % (top, layer.name)
            nodes.append(helper.make_node(op, args, [tensor[top]], name=layer.name, **attrs))
    wanted = list(outputs or _net_outputs(net))
    unknown = [name for name in wanted if known.get(name) is None]
    if unknown:
        raise WeightsError("net %r has no image blob %s to output" % (net.name, ", ".join(unknown)))
    for name in wanted:
        if tensor[name] != name:  # renamed by an identity layer, or written again later
            nodes.append(helper.make_node("Identity", [tensor[name]], [name], name=name + "/output"))
    graph_outputs = [_value_info(name, known[name]) for name in wanted]
    weights_as_inputs = [helper.make_tensor_value_info(t.name, t.data_type, t.dims)
                         for t in initializers]
    _check(_model(nodes, net.name, graph_inputs + weights_as_inputs, graph_outputs, []))
    return _model(nodes, net.name, graph_inputs, graph_outputs, initializers)


def _model(nodes, name, inputs, outputs, initializers):
    graph = helper.make_graph(nodes, name or "caffe_net", inputs, outputs, initializer=initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                             producer_name="dilation-caffe tools.weights", ir_version=IR_VERSION)


def _check(model):
    """onnx.checker, then ONNX's own shape inference must reach Caffe's sizes.
    Run on the graph with its weights as typed inputs: both serialize the whole
    model, which takes ~10 s with VGG's 540 MB of weights in it."""
    onnx.checker.check_model(model)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    declared = {v.name: v for v in model.graph.output}
    for value in inferred.graph.output:
        have = [d.dim_value for d in value.type.tensor_type.shape.dim][1:]
        need = [d.dim_value for d in declared[value.name].type.tensor_type.shape.dim][1:]
        if have != need:
            raise WeightsError("ONNX computes %s as %s, Caffe as %s" % (value.name, have, need))


def load(prototxt, caffemodel, nonfinite=BROKEN):
    """(net, layers) of a deploy prototxt and a caffemodel, checked as
    netcheck.fit_caffemodel checks them for Caffe (NaN or infinity is refused
    with `nonfinite`, None lets it pass)."""
    net = load_net(prototxt, pb.TEST)  # a deploy net, as pycaffe runs it
    check_mapped(net)  # before reading a large caffemodel
    return net, fit_caffemodel(net, caffemodel, nonfinite)


def export(prototxt, caffemodel, outputs=None, nonfinite=BROKEN):
    return to_model(*load(prototxt, caffemodel, nonfinite), outputs=outputs)


def save(model, path):
    """Writes the model whole or not at all."""
    with atomic_output(path) as tmp:
        onnx.save_model(model, tmp)
