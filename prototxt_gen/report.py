"""Output size and receptive field of every layer of a net, computed from the
prototxt alone with Caffe's own size rules (floor for convolution, ceil for
pooling), so a user can check a net before handing it to Caffe.
"""
from dataclasses import dataclass

from google.protobuf import text_format

from .schema import pb

PASS_THROUGH = {"ReLU", "Dropout", "Softmax", "Split", "BatchNorm", "Scale", "Sigmoid", "TanH"}
SCALAR = {"SoftmaxWithLoss", "Accuracy", "EuclideanLoss", "Silence"}


class ReportError(ValueError):
    pass


@dataclass(frozen=True)
class Blob:
    channels: int   # None where the prototxt does not say (Data layers)
    height: int
    width: int
    rf: int = 1     # receptive field, in pixels of the traced source
    jump: float = 1  # source pixels between neighbouring cells

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
        with open(path) as f:
            text_format.Parse(f.read(), net)
    except OSError as e:
        raise ReportError("cannot read %s: %s" % (path, e.strerror))
    except text_format.ParseError as e:
        raise ReportError("%s is not a Caffe net: %s" % (path, e))
    return net


def _first(values, default):
    return values[0] if len(values) else default


def _window(param):
    """(kernel, stride, pad, dilation) of a Convolution/Pooling parameter."""
    if isinstance(param, pb.PoolingParameter):
        return param.kernel_size, param.stride, param.pad, 1
    return (_first(param.kernel_size, None), _first(param.stride, 1),
            _first(param.pad, 0), _first(param.dilation, 1))


def pooled_size(n, kernel, stride, pad):
    """Caffe's pooling output size: rounded up, then, with padding, one less when
    the last window would start in the bottom/right padding (pooling_layer.cpp)."""
    size = -(-(n + 2 * pad - kernel) // stride) + 1
    if pad and (size - 1) * stride >= n + pad:
        size -= 1
    return size


def inputs(net):
    """Blobs declared by the legacy `input` fields (older deploy nets, like the
    released ones); Input and Data layers are traced as layers."""
    known = {}
    for i, name in enumerate(net.input):
        dims = (list(net.input_shape[i].dim) if len(net.input_shape) > i
                else list(net.input_dim[4 * i: 4 * i + 4]))
        known[name] = Blob(dims[1], dims[2], dims[3])
    return known


def layer_outputs(layer, known):
    """The blob(s) one layer produces from the `known` blobs, or None while a bottom
    is unknown.  Shared with the weight tools, which read channels from it."""
    t = layer.type
    bottoms = [known.get(b) for b in layer.bottom]
    if t == "Input":
        return [Blob(int(s.dim[1]), int(s.dim[2]), int(s.dim[3])) for s in layer.input_param.shape]
    if t == "Data":
        size = layer.transform_param.crop_size
        if not size:
            raise ReportError("Data layer %s has no crop_size: its output size depends on the data"
                              % layer.name)
        return [Blob(None, size, size)] * len(layer.top)
    if None in bottoms:
        return None
    b = bottoms[0]
    if t in PASS_THROUGH:
        return [b]
    if t in ("Convolution", "Deconvolution", "Pooling"):
        param = layer.pooling_param if t == "Pooling" else layer.convolution_param
        k, s, p, d = _window(param)
        span = d * (k - 1) + 1
        if t == "Deconvolution":
            size = lambda n: s * (n - 1) + span - 2 * p  # noqa: E731
            jump = b.jump / s
        elif t == "Pooling":
            size = lambda n: pooled_size(n, k, s, p)  # noqa: E731
            jump = b.jump * s
        else:
            size = lambda n: (n + 2 * p - span) // s + 1  # noqa: E731
            jump = b.jump * s
        channels = b.channels if t == "Pooling" else param.num_output
        rf_jump = jump if t == "Deconvolution" else b.jump
        return [Blob(channels, size(b.height), size(b.width), b.rf + (span - 1) * rf_jump, jump)]
    if t == "InnerProduct":  # sees its whole input
        side = max(b.height, b.width) - 1
        return [Blob(layer.inner_product_param.num_output, 1, 1, b.rf + side * b.jump, b.jump)]
    if t == "Crop":
        ref = bottoms[1]
        return [Blob(b.channels, ref.height, ref.width, b.rf, b.jump)]
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
    return {r.layer: r.blob.rf for r in module
            if r.type == "Convolution" and r.layer.split("_")[0] in ("ctx", "ct")}


def report(path):
    net = load(path)
    rows = trace(net, inputs(net))
    ctx = context_fields(net, rows)
    lines = ["%-22s %-16s %-16s %-22s %10s %10s" % (
        "layer", "type", "top", "output (C x H x W)", "RF (input)", "RF (ctx)")]
    for r in rows:
        shape = "scalar" if r.blob is None else r.blob.shape()
        rf = "" if r.blob is None else "%dx%d" % (r.blob.rf, r.blob.rf)
        c = "%dx%d" % (ctx[r.layer], ctx[r.layer]) if r.layer in ctx else ""
        lines.append("%-22s %-16s %-16s %-22s %10s %10s" % (r.layer, r.type, r.top, shape, rf, c))
    if ctx:
        lines.append("")
        lines.append("Context module receptive field (paper Table 1, in input feature cells): "
                     + " ".join(str(v) for v in ctx.values()))
    return "\n".join(lines)
