"""Which weights a net takes, read from its prototxt, and whether given weights
fit it.  Caffe stops at the first misfit with a CHECK failure deep in its log
(exit 134); we name the misfits (the first eight, then a count) in one line
before anything is written or run.

Every layer type of BVLC Caffe that holds weights is sized here as Caffe sizes
it (SIZED), or refused by name (UNSIZED); a Python layer's weights are known
only to its code, so weights given for one are refused, except CRF-RNN's
mean-field layer (tools/crfrnn): three 1 x 1 x C x C blobs for C classes.  A type BVLC Caffe
does not have may hold weights too, and Caffe would refuse the net: refused.
Input channels come from the shape engine (prototxt_gen.shapes); where the
prototxt leaves a dimension open (channels read from a Data layer, a layer the
engine does not model), that dimension is not checked.
"""
import math
from dataclasses import replace

import numpy as np

from prototxt_gen import shapes
from prototxt_gen.geometry import ReportError, canonical_axis, conv_window

from . import WeightsError
from .bilinear import bilinear
from .caffemodel import Caffemodel, Layer, caffe_arrays, shape_text

SIZED = ("Convolution", "Deconvolution", "InnerProduct", "BatchNorm", "Scale", "Bias", "PReLU")
# Types with weights that these checks do not size: their parameters (embed_param,
# parameter_param, recurrent_param) are outside our schema.
UNSIZED = ("Embed", "Parameter", "RNN", "LSTM")
# BVLC Caffe's layer types without weights (its layer registry, less SIZED,
# UNSIZED and Python).
NO_WEIGHTS = frozenset((
    "AbsVal", "Accuracy", "ArgMax", "BNLL", "BatchReindex", "Clip", "Concat", "ContrastiveLoss",
    "Crop", "Data", "Dropout", "DummyData", "ELU", "Eltwise", "EuclideanLoss", "Exp", "Filter",
    "Flatten", "HDF5Data", "HDF5Output", "HingeLoss", "Im2col", "ImageData", "InfogainLoss",
    "Input", "LRN", "LSTMUnit", "Log", "MVN", "MemoryData", "MultinomialLogisticLoss",
    "Pooling", "Power", "ReLU", "Reduction", "Reshape", "SPP", "Sigmoid",
    "SigmoidCrossEntropyLoss", "Silence", "Slice", "Softmax", "SoftmaxWithLoss", "Split",
    "Swish", "TanH", "Threshold", "Tile", "WindowData"))
SHOWN = 8  # misfits named in the error line
BROKEN = "the weights are broken (a diverged training run?)"


def load_net(path, phase=None):
    """The net at `path` as Caffe builds it at `phase` (shapes.load)."""
    net = shapes.load(path, WeightsError, phase)
    if net.layers:
        raise WeightsError("%s uses the legacy V1 `layers` format; upgrade it with Caffe's "
                           "upgrade_net_proto_text" % path)
    return net


def _span(layer, dims, axis, num_axes):
    """Caffe's shape of a Scale or Bias parameter, dims[axis:axis + num_axes]
    (num_axes -1: to the end); None where the input is not known."""
    if dims is None:
        return None if num_axes == -1 else (None,) * max(num_axes, 0)
    start = canonical_axis(layer, axis, len(dims))
    if num_axes < -1 or start + num_axes > len(dims):
        raise ReportError("layer %s: num_axes %d from axis %d does not fit its %d-axis input"
                          % (layer.name, num_axes, axis, len(dims)))
    return dims[start:] if num_axes == -1 else dims[start:start + num_axes]


def _blob_shapes(layer, bottoms):
    """Caffe's parameter shapes of one layer from its bottom blobs.  None stands
    for a bottom, or a dimension, not known; a parameter shape of None is not
    known even in its rank."""
    x = bottoms[0].dims if bottoms and bottoms[0] is not None else None
    c = None if x is None else x[1] if len(x) > 1 else 1
    if layer.type == "InnerProduct":
        ip = layer.inner_product_param
        flat = None if x is None else x[canonical_axis(layer, ip.axis, len(x)):]
        k = None if flat is None or None in flat else math.prod(flat)
        weights = (k, ip.num_output) if ip.transpose else (ip.num_output, k)
        return [weights, (ip.num_output,)][:1 + ip.bias_term]
    if layer.type == "BatchNorm":  # mean, variance, the moving average's scale factor
        return [(c,), (c,), (1,)]
    if layer.type == "PReLU":  # one slope per channel: prelu_param is outside our schema
        return [(c,)]
    if layer.type in ("Scale", "Bias"):  # bias_param is outside our schema: its defaults
        sp = layer.scale_param if layer.type == "Scale" else None
        if len(bottoms) > 1:  # the second bottom is the scale (or bias): no weights of its own
            own, bias = [], None if bottoms[1] is None else bottoms[1].dims
        else:
            own = [_span(layer, x, *((sp.axis, sp.num_axes) if sp else (1, 1)))]
            bias = own[0]
        return own + ([bias] if sp and sp.bias_term else [])
    cp = layer.convolution_param
    kernel = conv_window(layer).kernel
    n = cp.num_output
    if layer.type == "Convolution":
        io = (n, None if c is None else c // cp.group)
    else:
        io = (c, n // cp.group)
    return [io + kernel, (n,)][:1 + cp.bias_term]


def _crf_rnn_blob(bottoms):
    """The shape of each of CRF-RNN's blobs (spatial and bilateral kernel
    weights, compatibility), 1 x 1 x C x C for the unaries' C classes."""
    classes = bottoms[0].channels if bottoms[0] is not None else None
    return (1, 1, classes, classes)


def crf_rnn_layers(net):
    """Names of the net's CRF-RNN layers: without given weights, each starts
    from crfasrnn's Potts values by itself (tools/crfrnn)."""
    return {layer.name for layer in net.layer if shapes.is_crf_rnn(layer)}


def param_shapes(net):
    """{layer: (type, [blob shapes])} for every layer with weights, in net order.
    A net Caffe would abort on, or a layer whose weights cannot be checked, is
    a WeightsError."""
    try:
        shapes.check_bottoms(net)
        expected = {}
        for layer, bottoms, _ in shapes.walk(net, shapes.inputs(net), lenient=True):
            if layer.type in UNSIZED:
                raise WeightsError("layer %s: type %s holds weights these checks cannot size "
                                   "(they size %s); leave it out of the net"
                                   % (layer.name, layer.type, ", ".join(SIZED)))
            if layer.type not in NO_WEIGHTS and layer.type not in SIZED + ("Python",):
                raise WeightsError("layer %s: type %r is not a layer type of BVLC Caffe, which "
                                   "would refuse the net, and its weights cannot be checked"
                                   % (layer.name, layer.type))
            if shapes.is_crf_rnn(layer):
                blobs = [_crf_rnn_blob(bottoms)] * 3
            else:
                blobs = _blob_shapes(layer, bottoms) if layer.type in SIZED else []
            if blobs:  # a Scale or Bias by a second bottom may have none
                expected[layer.name] = (layer.type, blobs)
        return expected
    except ReportError as e:
        raise WeightsError(str(e))


def _fits(have, need):
    return need is None or (len(have) == len(need)
                            and all(n is None or h == n for h, n in zip(have, need)))


def _fixed_upsampling(net, expected):
    """Bilinear weights for bias-free "bilinear" Deconvolution layers (a bias would
    need its own filler) whose shape the prototxt fixes."""
    for layer in net.layer:
        cp = layer.convolution_param
        fixed = cp.weight_filler.type == "bilinear" and not cp.bias_term
        if layer.type == "Deconvolution" and fixed:
            shape = expected[layer.name][1][0]
            if None not in shape:
                yield Layer.of(layer.name, layer.type, [bilinear(shape)])


def _without_weights(name, type_):
    """Why weights named `name` have no place in a net where that layer is `type_`."""
    if type_ is None:
        return "%s is not a layer of the net" % name
    if type_ == "Python":
        return "%s is a Python layer, whose weights only its code can check" % name
    return "%s is a %s layer, which takes no weights" % (name, type_)


def fit(net, layers, required=None):
    """The given layers ({name: Layer}) as the net takes them: in its order and with
    its types, plus bilinear weights for fixed upsampling layers not given.
    `required` names the layers that must be given (None: all).  Returns (layers,
    names left to the net's fillers); raises WeightsError naming the misfits."""
    expected = param_shapes(net)
    types = {layer.name: layer.type for layer in net.layer}
    layers = dict(layers)
    for layer in _fixed_upsampling(net, expected):
        layers.setdefault(layer.name, layer)
    left = [name for name in expected if name not in layers]
    missing = [name for name in left if required is None or name in required]
    problems = ["missing " + ", ".join(missing)] if missing else []
    for name, layer in layers.items():
        if name not in expected:
            problems.append(_without_weights(name, types.get(name)))
            continue
        type_, shapes = expected[name]
        if len(layer.shapes) != len(shapes):
            problems.append("%s has %d blobs, the net's %s takes %d"
                            % (name, len(layer.shapes), type_, len(shapes)))
            continue
        problems += ["%s/%d is %s, the net needs %s" % (name, i, shape_text(have), shape_text(need))
                     for i, (have, need) in enumerate(zip(layer.shapes, shapes))
                     if not _fits(have, need)]
    if problems:
        if len(problems) > SHOWN:
            problems[SHOWN:] = ["%d more" % (len(problems) - SHOWN)]
        raise WeightsError("weights do not fit net %r: %s" % (net.name, "; ".join(problems)))
    fitted = [replace(layers[name], type=expected[name][0]) for name in expected if name in layers]
    return fitted, left


def _statistics_problem(arrays, param):
    """Why a BatchNorm's stored statistics would normalize wrongly at TEST, or
    None.  Caffe divides mean and variance by the scale factor (0 when it is 0)
    and takes sqrt(variance + eps); a layer the weights lack stays at zeros."""
    mean, variance, factor = arrays
    if factor[0] == 0:
        return "its scale factor (blob 2) is 0, as Caffe leaves a BatchNorm the weights lack"
    if not (mean.any() or variance.any()):
        return "its mean and variance are all 0"
    with np.errstate(all="ignore"):
        spread = variance * (np.float32(1) / factor[0]) + np.float32(param.eps)
    if np.any(spread <= 0):
        return ("variance / scale factor + eps is %g <= 0 in channel %d, which Caffe takes "
                "the square root of" % (spread.min(), int(spread.argmin())))
    return None


def fit_caffemodel(net, path, nonfinite=BROKEN):
    """fit() of a caffemodel file's layers as Caffe loads them into the net at
    TEST: every layer with weights must be there (fixed bilinear upsampling
    excepted), weights for a layer without any abort Caffe, and layers the net
    lacks are ignored, as Caffe ignores them.  NaN or infinity is refused with
    `nonfinite` (None lets it pass), and so is a BatchNorm that normalizes with
    its stored statistics when they are unset or give no real deviation."""
    layers = {layer.name: layer for layer in net.layer}
    given = {name: layer for name, layer in Caffemodel(path).layers.items() if name in layers}
    try:
        fitted = fit(net, given)[0]
    except WeightsError as e:
        raise WeightsError("%s: %s" % (path, e))
    for layer in fitted:
        arrays = caffe_arrays(layer, nonfinite)
        bn = layers[layer.name].batch_norm_param
        stored = bn.use_global_stats if bn.HasField("use_global_stats") else True  # at TEST
        if layer.type == "BatchNorm" and stored:
            problem = _statistics_problem(arrays, bn)
            if problem:
                raise WeightsError("%s: BatchNorm %s holds no usable statistics (%s); give "
                                   "weights with its trained mean and variance"
                                   % (path, layer.name, problem))
    return fitted
