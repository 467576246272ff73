"""The shape engine: output size, channels and receptive field of every blob
of a net, computed from the prototxt alone with Caffe's own size rules
(geometry.py), so a net is checked before Caffe runs it.  The shape report,
the weight checks, the ONNX export and the train tool's class count all read
their sizes from here.
"""
from dataclasses import dataclass

from .geometry import ReportError, crop_output, extent, window_output
from .prototxt import read_prototxt
from .schema import pb
from .spec.table1 import is_context_conv

PASS_THROUGH = {"ReLU", "Dropout", "Softmax", "Split", "BatchNorm", "Scale", "Sigmoid", "TanH"}
WINDOWED = {"Convolution", "Deconvolution", "Pooling", "Crop"}
SCALAR = {"SoftmaxWithLoss", "Accuracy", "EuclideanLoss", "Silence"}


@dataclass(frozen=True)
class Blob:
    channels: int   # None where the prototxt does not say (Data layers)
    height: int
    width: int
    rf: tuple = (1, 1)      # receptive field (h, w), in pixels of the traced source
    jump: tuple = (1, 1)    # source pixels between neighbouring cells (h, w)

    def shape(self):
        c = "?" if self.channels is None else str(self.channels)
        return "%s x %d x %d" % (c, self.height, self.width)


@dataclass(frozen=True)
class Row:
    layer: str
    type: str
    top: str
    blob: Blob      # None for scalar outputs (loss, accuracy)


def load(path, error=ReportError):
    """A net prototxt, every field of it in our schema; an unreadable file raises `error`."""
    return read_prototxt(path, pb.NetParameter, error)


def _nchw(dims, where):
    if len(dims) != 4 or min(dims) < 1:
        raise ReportError("%s: shape %s; give N x C x H x W, each at least 1" % (where, list(dims)))
    return Blob(int(dims[1]), int(dims[2]), int(dims[3]))


def inputs(net):
    """Blobs declared by the legacy `input` fields (older deploy nets, like the
    released ones); Input and Data layers are traced as layers."""
    known = {}
    for i, name in enumerate(net.input):
        dims = (list(net.input_shape[i].dim) if len(net.input_shape) > i
                else list(net.input_dim[4 * i: 4 * i + 4]))
        known[name] = _nchw(dims, "net input %s" % name)
    return known


def check_bottoms(net):
    """Caffe stops at a bottom no earlier layer (or net input) produces."""
    made = set(net.input)
    for layer in net.layer:
        for bottom in layer.bottom:
            if bottom not in made:
                raise ReportError("layer %s: bottom %r is not a top of any layer before it"
                                  % (layer.name, bottom))
        made.update(layer.top)


def _windowed(layer, b):
    window, height, width = window_output(layer, b.channels, b.height, b.width)
    rf, jump = [], []
    for axis in (0, 1):
        span, stride = extent(window, axis), window.stride[axis]
        if layer.type == "Deconvolution":
            jump.append(b.jump[axis] / stride)
            rf.append(b.rf[axis] + (span - 1) * jump[axis])
        else:
            jump.append(b.jump[axis] * stride)
            rf.append(b.rf[axis] + (span - 1) * b.jump[axis])
    channels = b.channels if layer.type == "Pooling" else layer.convolution_param.num_output
    return Blob(channels, height, width, tuple(rf), tuple(jump))


def layer_outputs(layer, bottoms):
    """The blob(s) one layer produces from its bottom blobs, or None while one of
    them is unknown (None)."""
    t = layer.type
    if t == "Input":
        return [_nchw(s.dim, "layer %s" % layer.name) for s in layer.input_param.shape]
    if t == "Data":
        size = layer.transform_param.crop_size
        if not size:
            raise ReportError("Data layer %s has no crop_size: its output size depends on the data"
                              % layer.name)
        return [Blob(None, size, size)] * len(layer.top)
    if not bottoms or (t == "Crop" and len(bottoms) != 2):
        raise ReportError("layer %s: a %s layer takes %s bottom" % (
            layer.name, t, "two (data, reference)" if t == "Crop" else "a"))
    if None in bottoms:
        return None
    b = bottoms[0]
    if t in PASS_THROUGH:
        return [b]
    if t in WINDOWED - {"Crop"}:
        return [_windowed(layer, b)]
    if t == "InnerProduct":  # sees its whole input
        rf = (b.rf[0] + (b.height - 1) * b.jump[0], b.rf[1] + (b.width - 1) * b.jump[1])
        return [Blob(layer.inner_product_param.num_output, 1, 1, rf, b.jump)]
    if t == "Crop":
        ref = bottoms[1]
        shape = crop_output(layer, (b.channels, b.height, b.width),
                            (ref.channels, ref.height, ref.width))
        return [Blob(*shape, rf=b.rf, jump=b.jump)]
    if t == "Slice":
        points = list(layer.slice_param.slice_point)
        if b.channels is None or not points:
            return [Blob(None, b.height, b.width, b.rf, b.jump)] * len(layer.top)
        edges = [0] + points + [b.channels]
        return [Blob(hi - lo, b.height, b.width, b.rf, b.jump) for lo, hi in zip(edges, edges[1:])]
    if t in SCALAR:
        return [None] * len(layer.top)
    raise ReportError("layer %s: type %s is not understood by the report" % (layer.name, t))


def walk(net, known, sources=True, lenient=False):
    """(layer, bottom blobs, top blobs) of every layer in net order, starting
    from `known` blobs and, with `sources`, from the net's own Input and Data
    layers; a blob not known is None, and so are the tops of a layer with such
    a bottom.  With `lenient`, a layer the engine cannot size (a type it does
    not model, a Data layer without crop_size) leaves its tops unknown instead
    of raising; a window layer whose parameters Caffe would abort on still raises."""
    known = dict(known)
    for layer in net.layer:
        if not layer.bottom and not sources:
            continue
        bottoms = [known.get(b) for b in layer.bottom]
        try:
            tops = layer_outputs(layer, bottoms)
        except ReportError:
            if not lenient or layer.type in WINDOWED:
                raise
            tops = None
        known.update(zip(layer.top, tops or ()))
        yield layer, bottoms, tops


def trace(net, known, sources=True):
    """Rows for every layer whose bottoms are known (see walk)."""
    return [Row(layer.name, layer.type, name, blob)
            for layer, _, tops in walk(net, known, sources) if tops is not None
            for name, blob in zip(layer.top, tops)]


def context_input(net):
    """The blob the context module reads (bottom of its first layer), or None."""
    for layer in net.layer:
        if is_context_conv(layer.type, layer.name):
            return layer.bottom[0]
    return None


def context_fields(net, rows):
    """{layer: receptive field in the module's input cells} for the context module."""
    start = context_input(net)
    if start is None:
        return {}
    origin = next(r.blob for r in rows if r.top == start)
    module = trace(net, {start: Blob(origin.channels, origin.height, origin.width)}, False)
    return {r.layer: r.blob.rf[0] for r in module if is_context_conv(r.type, r.layer)}

