"""Caffe's own rules for the window layers' parameters and output sizes
(base_conv_layer.cpp, conv_layer.cpp, deconv_layer.cpp, pooling_layer.cpp,
crop_layer.cpp), per spatial axis: a net Caffe would abort on is an error
here with the reason in words, and every size is the one Caffe allocates.
"""
import math
from collections import namedtuple

import numpy as np

from .cli_common import UserError


class ReportError(UserError, ValueError):
    """A net the shape engine (and Caffe) cannot take."""


Window = namedtuple("Window", "kernel stride pad dilation")  # each an (h, w) pair


def _pair(layer, param, field, default):
    """A field given once, once per axis, or as <field>_h / <field>_w."""
    values = list(getattr(param, field))
    h, w = field.replace("_size", "") + "_h", field.replace("_size", "") + "_w"
    if field != "dilation" and (param.HasField(h) or param.HasField(w)):
        if values:
            raise ReportError("layer %s: give %s or %s/%s, not both" % (layer.name, field, h, w))
        return getattr(param, h), getattr(param, w)
    if len(values) > 2 or (default is None and not values):
        raise ReportError("layer %s: %s must be given once or once per spatial axis (2), not %d "
                          "times" % (layer.name, field, len(values)))
    if not values:
        return default, default
    return values[0], values[-1]


def conv_window(layer):
    """Window of a Convolution or Deconvolution layer, checked as Caffe checks it."""
    cp = layer.convolution_param
    window = Window(_pair(layer, cp, "kernel_size", None), _pair(layer, cp, "stride", 1),
                    _pair(layer, cp, "pad", 0), _pair(layer, cp, "dilation", 1))
    for name in ("kernel", "stride", "dilation"):
        if 0 in getattr(window, name):
            raise ReportError("layer %s: %s %s; every %s must be at least 1"
                              % (layer.name, name, "x".join(map(str, getattr(window, name))), name))
    if cp.num_output < 1:
        raise ReportError("layer %s: num_output must be at least 1" % layer.name)
    if cp.group < 1 or cp.num_output % cp.group:
        raise ReportError("layer %s: group %d must divide num_output %d"
                          % (layer.name, cp.group, cp.num_output))
    return window


def pool_window(layer, height, width):
    """Window of a Pooling layer over an input of height x width, checked as Caffe does."""
    pp = layer.pooling_param
    has = pp.HasField
    if pp.global_pooling:
        if has("kernel_size") or has("kernel_h") or has("kernel_w"):
            raise ReportError("layer %s: global_pooling takes no kernel size" % layer.name)
        kernel = (height, width)
    elif has("kernel_size") == (has("kernel_h") and has("kernel_w")):
        raise ReportError("layer %s: give kernel_size, or both kernel_h and kernel_w" % layer.name)
    else:
        kernel = (pp.kernel_size,) * 2 if has("kernel_size") else (pp.kernel_h, pp.kernel_w)
    pairs = []
    for field in ("pad", "stride"):
        h, w = field + "_h", field + "_w"
        if has(h) or has(w):
            if has(field) or not (has(h) and has(w)):
                raise ReportError("layer %s: give %s, or both %s and %s" % (layer.name, field, h, w))
            pairs.append((getattr(pp, h), getattr(pp, w)))
        else:
            pairs.append((getattr(pp, field),) * 2)
    pad, stride = pairs
    if 0 in kernel or 0 in stride:
        raise ReportError("layer %s: kernel %s, stride %s; both must be at least 1"
                          % (layer.name, "x".join(map(str, kernel)), "x".join(map(str, stride))))
    if pp.global_pooling and (pad != (0, 0) or stride != (1, 1)):
        raise ReportError("layer %s: global_pooling takes only pad 0 and stride 1" % layer.name)
    if pad != (0, 0):
        if pp.pool not in (pp.MAX, pp.AVE):
            raise ReportError("layer %s: padding works only for MAX and AVE pooling" % layer.name)
        if pad[0] >= kernel[0] or pad[1] >= kernel[1]:
            raise ReportError("layer %s: pad %s must be smaller than the kernel %s" % (
                layer.name, "x".join(map(str, pad)), "x".join(map(str, kernel))))
    return Window(kernel, stride, pad, (1, 1))


def _c_div(a, b):
    """C's integer division (towards zero), as conv_layer.cpp divides."""
    q = abs(a) // b
    return q if a >= 0 else -q


def extent(window, axis):
    return window.dilation[axis] * (window.kernel[axis] - 1) + 1


def output_size(layer_type, window, axis, size):
    k, s, p = extent(window, axis), window.stride[axis], window.pad[axis]
    if layer_type == "Convolution":
        return _c_div(size + 2 * p - k, s) + 1
    if layer_type == "Deconvolution":
        return s * (size - 1) + k - 2 * p
    # Pooling rounds up in single precision; with padding on either axis the last
    # window of each axis must start inside the image (pooling_layer.cpp).
    out = int(math.ceil(np.float32(size + 2 * p - k) / np.float32(s))) + 1
    if any(window.pad) and (out - 1) * s >= size + p:
        out -= 1
    return out


def pooled_size(n, kernel, stride, pad):
    """Caffe's pooling output size along one axis of a square window."""
    return output_size("Pooling", Window((kernel,) * 2, (stride,) * 2, (pad,) * 2, (1, 1)), 0, n)


def window_output(layer, channels, height, width):
    """(window, output height, output width) of a Convolution, Deconvolution or
    Pooling layer; an output Caffe cannot allocate or that would be empty is an error."""
    if layer.type == "Pooling":
        window = pool_window(layer, height, width)
    else:
        window = conv_window(layer)
        group = layer.convolution_param.group
        if channels is not None and channels % group:
            raise ReportError("layer %s: group %d must divide its %d input channels"
                              % (layer.name, group, channels))
    out = [output_size(layer.type, window, axis, n) for axis, n in enumerate((height, width))]
    if min(out) < 1:
        raise ReportError("layer %s: its %dx%d input gives a %dx%d output; make the input larger "
                          "or the kernel, stride or padding smaller" % (layer.name, height, width,
                                                                        out[0], out[1]))
    return window, out[0], out[1]


def canonical_axis(layer, axis, rank, field="axis"):
    """Caffe's Blob::CanonicalAxisIndex: an axis of a `rank`-axis blob, counted
    from the end when negative; one outside the blob aborts Caffe."""
    if not -rank <= axis < rank:
        raise ReportError("layer %s: %s %d is outside the %d axes of its input (%d to %d)"
                          % (layer.name, field, axis, rank, -rank, rank - 1))
    return axis % rank


def crop_output(layer, data, reference):
    """(shape, offsets) of a Crop of the `data` blob to the `reference` blob
    (shape tuples; None for an axis not known), each offset per axis of data."""
    cp = layer.crop_param
    axis = canonical_axis(layer, cp.axis, len(data))
    offsets = list(cp.offset)
    if len(offsets) > 1 and axis + len(offsets) != len(data):
        raise ReportError("layer %s: %d offsets given; from axis %d it takes 1 or %d"
                          % (layer.name, len(offsets), axis, len(data) - axis))
    if len(reference) < len(data):
        raise ReportError("layer %s: its reference blob has %d axes, fewer than the %d it crops"
                          % (layer.name, len(reference), len(data)))
    shape, at = list(data), [0] * len(data)
    for i in range(axis, len(data)):
        at[i] = offsets[0] if len(offsets) == 1 else offsets[i - axis] if offsets else 0
        have, want = data[i], reference[i]
        if have is not None and want is not None and have - at[i] < want:
            raise ReportError("layer %s: cannot crop %d cells at offset %d from %d on axis %d"
                              % (layer.name, want, at[i], have, i))
        shape[i] = want
    return tuple(shape), at
