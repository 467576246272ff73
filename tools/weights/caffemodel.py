"""Reading and writing .caffemodel files (Caffe's NetParameter) with our own
schema, in both the current (`layer`, BlobShape) and the legacy V1 (`layers`,
num/channels/height/width) formats.

Speed comes from a view of the schema in which BlobProto's packed float arrays
are `bytes`: a packed repeated field and a bytes field share one wire encoding
(length-delimited), so protobuf itself hands over the little-endian array for
numpy to wrap without a copy, and takes an array back as one bytes value
(`extend()` of VGG-16's fc6 through the repeated field takes ~20 s).  Writers
that split an array over several packed chunks, or do not pack it, are read
exactly through the true schema instead.
"""
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.internal import api_implementation
from google.protobuf.message import DecodeError
from tqdm import tqdm

from prototxt_gen.schema import pb

from prototxt_gen.cli_common import atomic_output

from . import WeightsError

ARRAY_FIELDS = ("data", "diff", "double_data", "double_diff")
LEGACY_FIELDS = ("num", "channels", "height", "width")
MAX_AXES = 32  # Caffe's kMaxBlobAxes
# Rank of each parameter blob where Caffe's layer allocates fewer than the 4
# legacy axes: old files store an InnerProduct weight as 1 x 1 x M x N and every
# bias as 1 x 1 x 1 x N, and Caffe matches them right-aligned (Blob::ShapeEquals).
PARAM_RANKS = {"Convolution": (4, 1), "Deconvolution": (4, 1), "InnerProduct": (2, 1),
               "BatchNorm": (1, 1, 1), "Scale": (1, 1), "Bias": (1,), "PReLU": (1,)}
# Caffe's nets are Blob<float>: Blob::FromProto casts double_data to float.
CAFFE_FLOAT = np.dtype("<f4")
ALLOW_NONFINITE = "--allow-nonfinite writes them anyway"
# V1 enum names whose new type string is not the name in CamelCase (upgrade_proto.cpp).
V1_TYPES = {"NONE": "", "ABSVAL": "AbsVal", "ARGMAX": "ArgMax", "BNLL": "BNLL",
            "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output", "IM2COL": "Im2col",
            "LRN": "LRN", "MVN": "MVN", "RELU": "ReLU", "SOFTMAX_LOSS": "SoftmaxWithLoss",
            "TANH": "TanH"}


def _raw_schema():
    """NetParameter of a copy of our schema whose BlobProto arrays are bytes."""
    proto = descriptor_pb2.FileDescriptorProto()
    pb.DESCRIPTOR.CopyToProto(proto)
    blob = next(m for m in proto.message_type if m.name == "BlobProto")
    for field in blob.field:
        if field.name in ARRAY_FIELDS:
            field.type, field.label = FieldDescriptor.TYPE_BYTES, FieldDescriptor.LABEL_OPTIONAL
            field.ClearField("options")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    net = pool.FindMessageTypeByName(pb.NetParameter.DESCRIPTOR.full_name)
    return message_factory.GetMessageClass(net)


RawNet = _raw_schema()


def slow_backend_warning():
    """A warning line when protobuf runs in pure Python (minutes for VGG-16), else None."""
    if api_implementation.Type() == "python":
        return ("warning: protobuf runs its slow pure-Python backend (not upb); a VGG-16-sized "
                "caffemodel takes minutes. Install protobuf>=4.21 wheels and unset "
                "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION.")
    return None


def progress_bar(total, desc, show):
    """tqdm over parameter counts; show=None lets tqdm decide (on only for a terminal)."""
    return tqdm(total=total, desc=desc, unit="param", unit_scale=True, leave=False,
                disable=None if show is None else not show)


@dataclass(frozen=True)
class Layer:
    """One layer's weights.  `load()` makes the arrays only when they are used, so
    a VGG-16-sized model is never held whole beside its parsed file."""
    name: str
    type: str
    shapes: tuple                 # Caffe's shape of each blob
    load: Callable[[], list]      # -> the arrays, in those shapes
    file_shapes: tuple = None     # as stored, where an old file stores them differently
    source: str = None            # the file they come from, for messages

    @classmethod
    def of(cls, name, type_, arrays):
        arrays = list(arrays)
        return cls(name, type_, tuple(a.shape for a in arrays), lambda: arrays)

    @property
    def count(self):
        return sum(math.prod(s) for s in self.shapes)


def shape_text(shape):
    """4096x512x7x7; ? for a dimension not known."""
    return "x".join("?" if d is None else str(d) for d in shape) or "scalar"


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise WeightsError("cannot read %s: %s" % (path, e.strerror))


def _parse(cls, data, path):
    try:
        return cls.FromString(data)
    except DecodeError as e:
        raise WeightsError("%s is not a caffemodel, or it is truncated (protobuf: %s)" % (path, e))


def v1_type(value):
    """Caffe's new type string of a V1 LayerType enum value."""
    name = pb.V1LayerParameter.LayerType.Name(value)
    return V1_TYPES[name] if name in V1_TYPES else name.title().replace("_", "")


def _file_shape(blob, where):
    """The stored shape: legacy 4-D if any legacy field is set (as Blob::FromProto)."""
    legacy = any(blob.HasField(f) for f in LEGACY_FIELDS)
    dims = tuple(getattr(blob, f) for f in LEGACY_FIELDS) if legacy else tuple(blob.shape.dim)
    if len(dims) > MAX_AXES or any(d < 0 for d in dims):
        raise WeightsError("%s has an impossible shape %s" % (where, dims))
    return dims, legacy


def _caffe_shape(layer_type, index, dims):
    """A legacy 4-D shape as the layer's own blob shape (Caffe's upgrade)."""
    ranks = PARAM_RANKS.get(layer_type, ())
    rank = ranks[index] if index < len(ranks) else 4
    return dims[len(dims) - rank:] if all(d == 1 for d in dims[:len(dims) - rank]) else dims


class Caffemodel:
    """A parsed caffemodel: `name`, `legacy` (V1 format) and `layers`, a dict of
    the layers that hold blobs, in file order, with Caffe's upgraded shapes."""

    def __init__(self, path):
        self.path = path
        net = _parse(RawNet, _read(path), path)
        if net.layer and net.layers:
            raise WeightsError("%s mixes the V1 `layers` and the current `layer` format" % path)
        if not net.layer and not net.layers:
            raise WeightsError("%s holds no layers: not a caffemodel" % path)
        self._net, self._exact = net, None
        self.name, self.legacy = net.name, bool(net.layers)
        self.layers = {}
        for index, message in enumerate(net.layers or net.layer):
            if not message.blobs:
                continue
            if message.name in self.layers:
                raise WeightsError("%s holds layer %r twice" % (path, message.name))
            self.layers[message.name] = self._layer(index, message)

    def _layer(self, index, message):
        layer_type = v1_type(message.type) if self.legacy else message.type
        stored, shapes = [], []
        for i, blob in enumerate(message.blobs):
            dims, legacy = _file_shape(blob, "%s: layer %r blob %d" % (self.path, message.name, i))
            stored.append(dims)
            shapes.append(_caffe_shape(layer_type, i, dims) if legacy else dims)
        load = lambda: [self._array(index, i, s) for i, s in enumerate(shapes)]  # noqa: E731
        return Layer(message.name, layer_type, tuple(shapes), load,
                     None if stored == shapes else tuple(stored), str(self.path))

    def python_params(self):
        """{layer name: python_param} of its Python layers that hold blobs (a
        CRF-RNN layer's module, class and param_str)."""
        return {m.name: m.python_param for m in self._messages(self._net)
                if m.name in self.layers and m.type == "Python"}

    def _messages(self, net):
        return net.layers if self.legacy else net.layer

    def _array(self, layer, index, shape):
        """Caffe's rule: double_data when present, else data; the count must fit."""
        blob = self._messages(self._net)[layer].blobs[index]
        raw, dtype = (blob.double_data if blob.HasField("double_data") else b""), np.dtype("<f8")
        if not raw:
            raw, dtype = blob.data, np.dtype("<f4")
        if len(raw) == math.prod(shape) * dtype.itemsize:
            return np.frombuffer(raw, dtype).reshape(shape)
        return self._exact_array(layer, index, shape)

    def _exact_array(self, layer, index, shape):
        if self._exact is None:
            self._exact = _parse(pb.NetParameter, _read(self.path), self.path)
        message = self._messages(self._exact)[layer]
        blob = message.blobs[index]
        values = blob.double_data if len(blob.double_data) else blob.data
        if len(values) != math.prod(shape):
            raise WeightsError("%s: layer %r blob %d holds %d values, its shape %s needs %d"
                               % (self.path, message.name, index, len(values), shape,
                                  math.prod(shape)))
        return np.asarray(values, "<f8" if len(blob.double_data) else "<f4").reshape(shape)


def _as_bytes(array):
    """The float32 array's bytes.  An array that spans a whole bytes object (as
    read from a caffemodel: vgg16, merge) is handed over as it is, which spares
    VGG-16's fc6 a 400 MB copy."""
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, bytes) and array.flags.c_contiguous and array.nbytes == len(base):
        return base
    return np.ascontiguousarray(array).tobytes()


def caffe_arrays(layer, nonfinite=None):
    """The layer's arrays as Caffe's float blobs hold them: float32, cast as
    Caffe casts double_data (1e300 becomes inf), without numpy's overflow
    warning.  With `nonfinite` (what the user can do about it), NaN or infinity
    there is an error naming the blob: Caffe would run on it without a word."""
    arrays = []
    with np.errstate(over="ignore", invalid="ignore"):
        for i, array in enumerate(layer.load()):
            floats = np.asarray(array, CAFFE_FLOAT)
            bad = 0 if nonfinite is None else floats.size - np.count_nonzero(np.isfinite(floats))
            if bad:
                raise WeightsError(
                    "%slayer %r blob %d holds %d NaN or infinite values as Caffe reads them "
                    "(float32: beyond +-3.4e38 is infinite); %s"
                    % (layer.source + ": " if layer.source else "", layer.name, i, bad, nonfinite))
            arrays.append(floats)
    return arrays


def _serialized(layer, nonfinite):
    """One layer as a NetParameter of its own (its arrays are freed on return)."""
    net = RawNet()
    message = net.layer.add(name=layer.name, type=layer.type)
    for array in caffe_arrays(layer, nonfinite):
        blob = message.blobs.add()
        blob.shape.dim.extend(array.shape)
        blob.data = _as_bytes(array)
    return net.SerializeToString()


def write(path, layers, name="", progress=False, finite=False):
    """Writes `layer` entries (name, type, blobs with BlobShape) as Caffe's net.save
    does.  Each layer is serialized alone and appended: concatenated messages
    parse as one (protobuf's merge rule), so memory holds one layer at a time.
    Every array goes to `data` as float32, what Caffe reads and writes itself,
    so what is checked is what Caffe will see.  With `finite` (the command
    line's default), NaN or infinity is refused.  The file appears whole or
    not at all."""
    layers = list(layers)
    total = sum(layer.count for layer in layers)
    with atomic_output(path) as tmp, open(tmp, "wb") as f, \
            progress_bar(total, "write", progress) as bar:
        f.write(RawNet(name=name).SerializeToString())
        for layer in layers:
            f.write(_serialized(layer, ALLOW_NONFINITE if finite else None))
            bar.update(layer.count)
