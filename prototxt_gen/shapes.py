"""The shape engine: the shape, receptive field and cell positions of every
blob of a net, computed from the prototxt alone with Caffe's own rules
(geometry.py), so a net is checked before Caffe runs it.  The shape report,
the weight checks, the ONNX export, the deploy tiling and the train tool's
class count all read their sizes from here, and read the net as Caffe builds
it in a phase (at_phase).
"""
from collections import Counter
from dataclasses import dataclass, replace

from .geometry import ReportError, canonical_axis, crop_output, extent, window_output
from .prototxt import read_prototxt
from .schema import pb
from .spec import crfrnn
from .spec.table1 import is_context_conv

PASS_THROUGH = {"ReLU", "Dropout", "Softmax", "Split", "BatchNorm", "Scale", "Sigmoid", "TanH"}
MANY = None
# Caffe's blob counts per layer type (its layers' Exact/Min/MaxNum{Bottom,Top}Blobs):
# (fewest, most) bottoms and tops.  A loss layer without a top gets one (AutoTopBlobs).
COUNTS = dict(
    {t: ((1, 1), (1, 1)) for t in ("ReLU", "Dropout", "Sigmoid", "TanH", "Softmax", "BatchNorm",
                                   "InnerProduct")},
    Input=((0, 0), (1, MANY)), Data=((0, 0), (1, 2)), Split=((1, 1), (1, MANY)),
    Scale=((1, 2), (1, 1)), Convolution=((1, MANY), (1, MANY)),
    Deconvolution=((1, MANY), (1, MANY)), Pooling=((1, 1), (1, 2)), Crop=((2, 2), (1, 1)),
    Slice=((1, 1), (1, MANY)), Concat=((1, MANY), (1, 1)), SoftmaxWithLoss=((2, 2), (0, 2)),
    Accuracy=((2, 2), (1, 2)), EuclideanLoss=((2, 2), (0, 1)), Silence=((1, MANY), (0, 0)),
    Python=((2, 2), (1, 1)))  # the one Python layer sized: CRF-RNN's (_crf_rnn)
PHASES = {pb.TRAIN: "TRAIN", pb.TEST: "TEST"}


class Unsized(ReportError):
    """A layer Caffe may well build but the engine cannot size from the prototxt."""


@dataclass(frozen=True)
class Blob:
    dims: tuple             # Caffe's shape, N x C x H x W for images; None for an axis the
                            # prototxt leaves open (the channels a Data layer reads)
    rf: tuple = (1, 1)      # receptive field (h, w), in pixels of the traced source
    jump: tuple = (1, 1)    # source pixels between neighbouring cells (h, w)
    centre: tuple = (0, 0)  # source pixel (h, w) on which cell 0 is centred; None where the
                            # cells lie on no one grid (a Concat of unaligned blobs)

    @property
    def channels(self):
        return self.dims[1] if len(self.dims) > 1 else None

    @property
    def height(self):
        return self.dims[2] if len(self.dims) == 4 else None

    @property
    def width(self):
        return self.dims[3] if len(self.dims) == 4 else None

    def shape(self):
        """The shape without the batch axis (C x H x W for an image blob)."""
        return " x ".join("?" if d is None else str(d) for d in self.dims[1:] or self.dims)


@dataclass(frozen=True)
class Row:
    layer: str
    type: str
    top: str
    blob: Blob      # None for scalar outputs (loss, accuracy)


# ---- reading a net as Caffe builds it ------------------------------------------------

def _meets(state, rule):
    """Net::StateMeetsRule: every condition the rule states holds in `state`."""
    return ((not rule.HasField("phase") or rule.phase == state.phase)
            and (not rule.HasField("min_level") or state.level >= rule.min_level)
            and (not rule.HasField("max_level") or state.level <= rule.max_level)
            and all(s in state.stage for s in rule.stage)
            and not any(s in state.stage for s in rule.not_stage))


def at_phase(net, phase, level=0):
    """`net` with the layers Caffe builds at `phase` (Net::FilterNet), in the state
    that Net(file, phase) sets, as pycaffe and `caffe test` load a net: that phase,
    level 0 and the stages of the file's own `state` (`caffe train` keeps the
    file's level too: pass it).  A layer without rules is kept; one with include
    rules only if its state meets one of them; one with exclude rules unless it
    meets one."""
    state = pb.NetState(phase=phase, level=level, stage=net.state.stage)
    kept = pb.NetParameter()
    kept.CopyFrom(net)
    kept.state.CopyFrom(state)
    del kept.layer[:]
    for layer in net.layer:
        if layer.include and layer.exclude:
            raise ReportError("layer %s has both include and exclude rules; Caffe takes one kind "
                              "per layer" % layer.name)
        met = [_meets(state, rule) for rule in layer.include or layer.exclude]
        if any(met) == bool(layer.include):
            kept.layer.add().CopyFrom(layer)
    return kept


def load(path, error=ReportError, phase=None):
    """The net at `path`, every field of it in our schema, as Caffe builds it at
    `phase` (pb.TEST or pb.TRAIN; see at_phase), its bottoms checked.  Without a
    phase: at TEST, as pycaffe runs a deploy net, unless only TRAIN connects its
    layers (a training net, whose data layers are TRAIN only).  An unreadable file
    or a net Caffe would not connect raises `error`, naming the file."""
    net = read_prototxt(path, pb.NetParameter, error)
    try:
        if phase is None:
            phase = pb.TRAIN if _unconnected(net, pb.TEST) and not _unconnected(net, pb.TRAIN) \
                else pb.TEST
        net = at_phase(net, phase)
        check_bottoms(net)
    except ReportError as e:
        raise error("%s: %s" % (path, e))
    return net


def _unconnected(net, phase):
    try:
        check_bottoms(at_phase(net, phase))
    except ReportError:
        return True
    return False


def check_bottoms(net):
    """Caffe stops at a bottom no earlier layer (or net input) makes; at a top an
    earlier layer makes, unless the layer works in place on it (the same name at
    the same place among its bottoms); at a Split in place; and at a layer in
    place on a blob that another layer reads too (InsertSplits renames the
    bottom of each reader of a shared blob, so the top is made twice)."""
    writer = {name: name for name in net.input}  # blob -> what made its current value
    readers, in_place = Counter(), []
    for i, layer in enumerate(net.layer):
        for j, bottom in enumerate(layer.bottom):
            if bottom not in writer:
                raise ReportError("layer %s: bottom %r is not a top of any layer before it (at "
                                  "%s)" % (layer.name, bottom, PHASES[net.state.phase]))
            readers[writer[bottom]] += 1
            if j < len(layer.top) and layer.top[j] == bottom:
                if layer.type == "Split":
                    raise ReportError("layer %s: a Split cannot work in place; give its tops "
                                      "their own names" % layer.name)
                in_place.append((layer.name, bottom, writer[bottom]))
        for j, top in enumerate(layer.top):
            if top in writer and not (j < len(layer.bottom) and layer.bottom[j] == top):
                raise ReportError("layer %s: top %r is made by an earlier layer too; a layer may "
                                  "only rewrite its own bottom of the same place (in place)"
                                  % (layer.name, top))
            writer[top] = (i, j)
            readers[(i, j)] += j < len(layer.loss_weight) and layer.loss_weight[j] != 0
    for name, blob, source in in_place:
        if readers[source] > 1:
            raise ReportError("layer %s works in place on %r, which %d layers read; Caffe then "
                              "makes %r twice: give its top its own name"
                              % (name, blob, readers[source], blob))


# ---- sizing ------------------------------------------------------------------------

def _nchw(dims, where):
    if len(dims) != 4 or min(dims) < 1:
        raise ReportError("%s: shape %s; give N x C x H x W, each at least 1" % (where, list(dims)))
    return Blob(tuple(int(d) for d in dims))


def inputs(net):
    """Blobs declared by the legacy `input` fields (older deploy nets, like the
    released ones); Input and Data layers are traced as layers."""
    known = {}
    for i, name in enumerate(net.input):
        dims = (list(net.input_shape[i].dim) if len(net.input_shape) > i
                else list(net.input_dim[4 * i: 4 * i + 4]))
        known[name] = _nchw(dims, "net input %s" % name)
    return known


def input_blobs(net):
    """{name: Blob} of the net's inputs: legacy `input` fields, then Input layers."""
    blobs = inputs(net)
    for layer in net.layer:
        if layer.type == "Input":
            blobs.update(zip(layer.top, layer_outputs(layer, [])))
    return blobs


def _check_counts(layer, bottoms, tops):
    (low, high), (top_low, top_high) = COUNTS[layer.type]
    for what, n, least, most in (("bottom", bottoms, low, high), ("top", tops, top_low, top_high)):
        if n < least or (most is not MANY and n > most):
            raise ReportError("layer %s: a %s layer takes %s %s blobs, not %d" % (
                layer.name, layer.type, least if least == most else
                "%d or more" % least if most is MANY else "%d to %d" % (least, most), what, n))


def _windowed(layer, b):
    if len(b.dims) != 4:
        raise ReportError("layer %s: a %s of a %d-axis blob; Caffe's pooling, and this tool's "
                          "convolutions, take N x C x H x W" % (layer.name, layer.type, len(b.dims)))
    if layer.type != "Pooling" and canonical_axis(layer, layer.convolution_param.axis, 4) != 1:
        raise ReportError("layer %s: convolution_param axis %d; this tool sizes convolutions "
                          "over the channels (axis 1) and then height and width only"
                          % (layer.name, layer.convolution_param.axis))
    window, height, width = window_output(layer, b.channels, b.height, b.width)
    rf, jump, centre = [], [], []
    for axis in (0, 1):
        span, stride, pad = extent(window, axis), window.stride[axis], window.pad[axis]
        if layer.type == "Deconvolution":  # input cell i feeds outputs i s - p ... i s - p + span - 1
            jump.append(b.jump[axis] / stride)
            rf.append(b.rf[axis] + (span - 1) * jump[axis])
            centre.append(b.centre and b.centre[axis] + (pad - (span - 1) / 2) * jump[axis])
        else:  # output cell i reads inputs i s - p ... i s - p + span - 1
            jump.append(b.jump[axis] * stride)
            rf.append(b.rf[axis] + (span - 1) * b.jump[axis])
            centre.append(b.centre and b.centre[axis] + ((span - 1) / 2 - pad) * b.jump[axis])
    channels = b.channels if layer.type == "Pooling" else layer.convolution_param.num_output
    return Blob((b.dims[0], channels, height, width), tuple(rf), tuple(jump),
                b.centre and tuple(centre))


def _shifted(b, axis, cells):
    """Geometry of a part of `b` that starts `cells` cells along `axis`."""
    if axis < 2 or len(b.dims) != 4 or b.centre is None:
        return b.centre
    centre = list(b.centre)
    centre[axis - 2] += cells * b.jump[axis - 2]
    return tuple(centre)


def _legacy_axis(layer, param, legacy, rank):
    """The axis of a Slice or Concat: `axis`, or the older uint32 `slice_dim` /
    `concat_dim`, which counts from the front only."""
    if param.HasField(legacy):
        if param.HasField("axis"):
            raise ReportError("layer %s: give axis or %s, not both" % (layer.name, legacy))
        if getattr(param, legacy) >= rank:
            raise ReportError("layer %s: %s %d is outside the %d axes of its input (0 to %d)"
                              % (layer.name, legacy, getattr(param, legacy), rank, rank - 1))
        return getattr(param, legacy)
    return canonical_axis(layer, param.axis, rank)


def _slice(layer, b, tops):
    """The tops of a Slice; where the sliced axis is not known (the channels a
    Data layer reads), so are theirs."""
    sp = layer.slice_param
    axis = _legacy_axis(layer, sp, "slice_dim", len(b.dims))
    size, points = b.dims[axis], list(sp.slice_point)
    if points:
        if len(points) != tops - 1:
            raise ReportError("layer %s: %d slice points for %d tops; give one fewer than the tops"
                              % (layer.name, len(points), tops))
        if points != sorted(set(points)) or points[0] < 1:
            raise ReportError("layer %s: slice points %s must rise from at least 1"
                              % (layer.name, points))
        if size is not None and (tops > size or points[-1] > size):
            raise ReportError("layer %s: slice points %s do not fit axis %d of %d"
                              % (layer.name, points, axis, size))
    elif size is not None and size % tops:
        raise ReportError("layer %s: %d tops do not divide axis %d of %d evenly; give slice points"
                          % (layer.name, tops, axis, size))
    if size is None:
        return [b] * tops
    edges = [0] + points + [size] if points else [size * i // tops for i in range(tops + 1)]
    parts = []
    for lo, hi in zip(edges, edges[1:]):
        dims = list(b.dims)
        dims[axis] = hi - lo
        parts.append(replace(b, dims=tuple(dims), centre=_shifted(b, axis, lo)))
    return parts


def _concat(layer, bottoms):
    rank = len(bottoms[0].dims)
    axis = _legacy_axis(layer, layer.concat_param, "concat_dim", rank)
    dims = list(bottoms[0].dims)
    for b in bottoms[1:]:
        if len(b.dims) != rank or any(
                None not in (have, want) and have != want
                for i, (have, want) in enumerate(zip(b.dims, dims)) if i != axis):
            raise ReportError("layer %s: cannot concatenate %s and %s on axis %d; all other axes "
                              "must agree" % (layer.name, bottoms[0].shape(), b.shape(), axis))
        dims[axis] = None if None in (dims[axis], b.dims[axis]) else dims[axis] + b.dims[axis]
    same_grid = all((b.jump, b.centre) == (bottoms[0].jump, bottoms[0].centre) for b in bottoms)
    spatial = rank == 4 and axis >= 2 and len(bottoms) > 1
    return Blob(tuple(dims), tuple(max(b.rf[i] for b in bottoms) for i in (0, 1)),
                bottoms[0].jump, bottoms[0].centre if same_grid and not spatial else None)


def _inner_product(layer, b):
    ip = layer.inner_product_param
    if ip.num_output < 1:
        raise ReportError("layer %s: num_output must be at least 1" % layer.name)
    axis = canonical_axis(layer, ip.axis, len(b.dims))
    rf, centre = list(b.rf), b.centre and list(b.centre)
    for i in range(max(axis, 2), len(b.dims)) if len(b.dims) == 4 else ():  # axes it reads whole
        rf[i - 2] += (b.dims[i] - 1) * b.jump[i - 2]
        if centre:
            centre[i - 2] += (b.dims[i] - 1) / 2 * b.jump[i - 2]
    return Blob(b.dims[:axis] + (ip.num_output,), tuple(rf), b.jump, centre and tuple(centre))


def _input(layer):
    shapes = layer.input_param.shape
    if len(shapes) not in (1, len(layer.top)):
        raise ReportError("layer %s: %d shapes for %d tops; give one, or one per top"
                          % (layer.name, len(shapes), len(layer.top)))
    return [_nchw(shapes[i if len(shapes) > 1 else 0].dim, "layer %s" % layer.name)
            for i in range(len(layer.top))]


def _data(layer):
    size, batch = layer.transform_param.crop_size, layer.data_param.batch_size
    if not size:
        raise Unsized("Data layer %s has no crop_size: its output size depends on the data"
                      % layer.name)
    batch = batch or None  # not given: not known here (Caffe would read an empty batch)
    return [Blob((batch, None, size, size)), Blob((batch,))][:len(layer.top)]


def is_crf_rnn(layer):
    """CRF-RNN's mean-field layer (tools/crfrnn), the Python layer of our nets."""
    return (layer.type == "Python" and layer.python_param.module == crfrnn.MODULE
            and layer.python_param.layer == crfrnn.LAYER)


def _crf_rnn(layer, unary, image):
    """Scores of the unaries' shape, from the unaries and an N x 3 image of
    their size (the layer's own check; a Data layer's channels are open)."""
    if (len(unary.dims) != 4 or len(image.dims) != 4 or image.dims[2:] != unary.dims[2:]
            or image.dims[1] not in (3, None)):
        raise ReportError("layer %s: CRF-RNN takes unaries N x C x H x W and an image "
                          "N x 3 x H x W, not %s and %s" % (layer.name, unary.shape(), image.shape()))
    return unary


def layer_outputs(layer, bottoms):
    """The blob(s) one layer produces from its bottom blobs, or None while one of
    them is unknown (None)."""
    t = layer.type
    if t not in COUNTS or t == "Python" and not is_crf_rnn(layer):
        raise Unsized("layer %s: type %s is not understood by the report" % (layer.name, t))
    _check_counts(layer, len(bottoms), len(layer.top))
    if t == "Pooling" and len(layer.top) == 2 and layer.pooling_param.pool != pb.PoolingParameter.MAX:
        raise ReportError("layer %s: only MAX pooling has a second top (the mask)" % layer.name)
    if t == "Input":
        return _input(layer)
    if t == "Data":
        return _data(layer)
    if None in bottoms:
        return None
    b = bottoms[0]
    if t in ("Convolution", "Deconvolution") and any(o.dims != b.dims for o in bottoms):
        raise ReportError("layer %s: its bottoms differ in shape (%s); Caffe convolves blobs of "
                          "one shape" % (layer.name, ", ".join(o.shape() for o in bottoms)))
    if t in ("Softmax", "SoftmaxWithLoss"):
        canonical_axis(layer, layer.softmax_param.axis, len(b.dims))
    if t == "Accuracy":
        canonical_axis(layer, layer.accuracy_param.axis, len(b.dims))
    if t in PASS_THROUGH:
        return [b] * len(layer.top)
    if t == "Python":
        return [_crf_rnn(layer, b, bottoms[1])]
    if t in ("Convolution", "Deconvolution", "Pooling"):
        return [_windowed(layer, b)] * len(layer.top)
    if t == "InnerProduct":
        return [_inner_product(layer, b)]
    if t == "Crop":
        dims, offsets = crop_output(layer, b.dims, bottoms[1].dims)
        centre = b.centre and tuple(c + o * j for c, o, j in zip(b.centre, offsets[2:], b.jump))
        return [replace(b, dims=dims, centre=centre if len(dims) == 4 else b.centre)]
    if t == "Slice":
        return _slice(layer, b, len(layer.top))
    if t == "Concat":
        return [_concat(layer, bottoms)]
    return [None] * len(layer.top)  # losses and accuracy: scalars


def walk(net, known, sources=True, lenient=False):
    """(layer, bottom blobs, top blobs) of every layer in net order, starting
    from `known` blobs and, with `sources`, from the net's own Input and Data
    layers; a blob not known is None, and so are the tops of a layer with such
    a bottom.  With `lenient`, a layer the engine cannot size (Unsized: a type
    it does not model, a Data layer without crop_size) leaves its tops unknown
    instead of raising; a layer Caffe would abort on still raises."""
    known = dict(known)
    for layer in net.layer:
        if not layer.bottom and not sources:
            continue
        bottoms = [known.get(b) for b in layer.bottom]
        try:
            tops = layer_outputs(layer, bottoms)
        except Unsized:
            if not lenient:
                raise
            tops = None
        for bottom, top, before, after in zip(layer.bottom, layer.top, bottoms, tops or ()):
            if bottom == top and None not in (before, after) and before.dims != after.dims:
                raise ReportError("layer %s works in place on %r but changes its shape (%s to %s), "
                                  "so Caffe computes it from a blob it has just reshaped: give "
                                  "its top its own name"
                                  % (layer.name, top, before.shape(), after.shape()))
        if tops and any(top is not None and 0 in top.dims for top in tops):
            raise ReportError("layer %s: gives an empty blob (%s)" % (
                layer.name, ", ".join(top.shape() for top in tops if top is not None)))
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
    module = trace(net, {start: Blob(origin.dims)}, False)
    return {r.layer: r.blob.rf[0] for r in module if is_context_conv(r.type, r.layer)}
