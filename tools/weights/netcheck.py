"""Which weights a net takes, read from its prototxt, and whether given weights
fit it.  Caffe stops at the first misfit with a CHECK failure deep in its log;
we name the misfits (the first eight, then a count) in one line before anything
is written.

Input channels come from the shape engine (prototxt_gen.shapes); where the
prototxt leaves a dimension open (channels read from a Data layer, a layer the
engine does not model), that dimension is not checked.
"""
from dataclasses import replace

from prototxt_gen import shapes
from prototxt_gen.geometry import ReportError, conv_window

from . import WeightsError
from .bilinear import bilinear
from .caffemodel import Caffemodel, Layer, shape_text

PARAM_TYPES = ("Convolution", "Deconvolution", "InnerProduct")
SHOWN = 8  # misfits named in the error line


def load_net(path):
    net = shapes.load(path, WeightsError)
    if net.layers:
        raise WeightsError("%s uses the legacy V1 `layers` format; upgrade it with Caffe's "
                           "upgrade_net_proto_text" % path)
    return net


def _blob_shapes(layer, bottom):
    """Caffe's parameter shapes of one layer; None for a dimension not known."""
    c = bottom.channels if bottom else None
    if layer.type == "InnerProduct":
        ip = layer.inner_product_param
        k = c * bottom.height * bottom.width if c is not None and ip.axis == 1 else None
        weights = (k, ip.num_output) if ip.transpose else (ip.num_output, k)
        return [weights, (ip.num_output,)][:1 + ip.bias_term]
    cp = layer.convolution_param
    kernel = conv_window(layer).kernel
    n = cp.num_output
    if layer.type == "Convolution":
        io = (n, None if c is None else c // cp.group)
    else:
        io = (c, n // cp.group)
    return [io + kernel, (n,)][:1 + cp.bias_term]


def param_shapes(net):
    """{layer: (type, [blob shapes])} for every Convolution, Deconvolution and
    InnerProduct layer, in net order; a net Caffe would abort on is a WeightsError."""
    try:
        shapes.check_bottoms(net)
        return {layer.name: (layer.type, _blob_shapes(layer, bottoms[0] if bottoms else None))
                for layer, bottoms, _ in shapes.walk(net, shapes.inputs(net), lenient=True)
                if layer.type in PARAM_TYPES}
    except ReportError as e:
        raise WeightsError(str(e))


def _fits(have, need):
    return len(have) == len(need) and all(n is None or h == n for h, n in zip(have, need))


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


def fit(net, layers, required=None):
    """The given layers ({name: Layer}) as the net takes them: in its order and with
    its types, plus bilinear weights for fixed upsampling layers not given.
    `required` names the layers that must be given (None: all).  Returns (layers,
    names left to the net's fillers); raises WeightsError naming the misfits."""
    expected = param_shapes(net)
    layers = dict(layers)
    for layer in _fixed_upsampling(net, expected):
        layers.setdefault(layer.name, layer)
    left = [name for name in expected if name not in layers]
    missing = [name for name in left if required is None or name in required]
    problems = ["missing " + ", ".join(missing)] if missing else []
    for name, layer in layers.items():
        if name not in expected:
            problems.append("%s is not a layer with weights (%s) in the net"
                            % (name, ", ".join(PARAM_TYPES)))
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


def fit_caffemodel(net, path):
    """fit() of a caffemodel file's layers: every parameter layer of the net must
    be there (fixed bilinear upsampling excepted); layers the net lacks are
    ignored, as Caffe ignores them.  A misfit names the file."""
    wanted = param_shapes(net)
    given = {name: layer for name, layer in Caffemodel(path).layers.items() if name in wanted}
    try:
        return fit(net, given)[0]
    except WeightsError as e:
        raise WeightsError("%s: %s" % (path, e))
