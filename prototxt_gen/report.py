"""Output size and receptive field of every layer of a net, computed from the
prototxt alone with Caffe's own size rules (floor for convolution, ceil for
pooling), so a user can check a net before handing it to Caffe.
"""
from dataclasses import dataclass

from google.protobuf import text_format

from .geometry import ReportError, crop_output, extent, window_output
from .schema import pb

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


def load(path):
    net = pb.NetParameter()
    try:
        with open(path, encoding="utf-8") as f:
            text_format.Parse(f.read(), net)
    except OSError as e:
        raise ReportError("cannot read %s: %s" % (path, e.strerror))
    except (text_format.ParseError, UnicodeDecodeError) as e:
        raise ReportError("%s is not a Caffe net: %s" % (path, e))
    return net


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


def layer_outputs(layer, known):
    """The blob(s) one layer produces from the `known` blobs, or None while a bottom
    is unknown.  Shared with the weight tools, which read channels from it."""
    t = layer.type
    bottoms = [known.get(b) for b in layer.bottom]
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


def trace(net, known, sources=True):
    """Rows for every layer whose bottoms are known, starting from `known` blobs
    and, with `sources`, from the net's own Input and Data layers."""
    known, rows = dict(known), []
    for layer in net.layer:
        if not layer.bottom and not sources:
            continue
        tops = layer_outputs(layer, known)
        if tops is None:
            continue
        for name, blob in zip(layer.top, tops):
            known[name] = blob
            rows.append(Row(layer.name, layer.type, name, blob))
    return rows


def context_input(net):
    """The blob the context module reads (bottom of its first layer), or None."""
    for layer in net.layer:
        if layer.type == "Convolution" and layer.name.split("_")[0] in ("ctx", "ct"):
            return layer.bottom[0]
    return None


def context_fields(net, rows):
    """{layer: receptive field in the module's input cells} for the context module."""
    start = context_input(net)
    if start is None:
        return {}
    origin = next(r.blob for r in rows if r.top == start)
    module = trace(net, {start: Blob(origin.channels, origin.height, origin.width)}, False)
    return {r.layer: r.blob.rf[0] for r in module
            if r.type == "Convolution" and r.layer.split("_")[0] in ("ctx", "ct")}


def report(path):
    net = load(path)
    check_bottoms(net)
    rows = trace(net, inputs(net))
    ctx = context_fields(net, rows)
    lines = ["%-22s %-16s %-16s %-22s %10s %10s" % (
        "layer", "type", "top", "output (C x H x W)", "RF (input)", "RF (ctx)")]
    for r in rows:
        shape = "scalar" if r.blob is None else r.blob.shape()
        rf = "" if r.blob is None else "%dx%d" % r.blob.rf
        c = "%dx%d" % (ctx[r.layer], ctx[r.layer]) if r.layer in ctx else ""
        lines.append("%-22s %-16s %-16s %-22s %10s %10s" % (r.layer, r.type, r.top, shape, rf, c))
    if ctx:
        lines.append("")
        lines.append("Context module receptive field (paper Table 1, in input feature cells): "
                     + " ".join(str(v) for v in ctx.values()))
    return "\n".join(lines)
