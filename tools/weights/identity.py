"""Identity initialization of the context module (paper eq. 4 and 5; the
authors' `identity` filler, docs/design.md, Initial weights).  Vanilla Caffe has no such
filler, so the weights go into the module's initial caffemodel.

With zero noise every layer passes its input on: the c_out / C channels of a
group each carry C / c_out of it, and the next layer sums them back.
"""
import numpy as np

from .caffemodel import Layer

AUTHORS_STD = 0.01
# numpy's normal() never draws beyond ~13.7 standard deviations (the tail of its
# ziggurat), so noise up to float32's largest / 16 leaves every weight finite in
# Caffe's float32.
MAX_STD = float(np.finfo(np.float32).max) / 16


def identity(shape, groups, std, rng):
    """N(0, std^2) everywhere, then the centre tap of every (output, input) pair of
    the same group set to groups / c_out."""
    c_out, c_in, kh, kw = shape
    weights = (rng.normal(0.0, std, shape) if std else np.zeros(shape)).astype(np.float32)
    same_group = np.equal.outer(np.arange(c_out) // (c_out // groups),
                                np.arange(c_in) // (c_in // groups))
    weights[:, :, kh // 2, kw // 2][same_group] = groups / c_out
    return weights


def context_init(module, std=AUTHORS_STD, seed=0):
    """{name: Layer} for every conv of a prototxt_gen ContextModule; biases 0."""
    rng = np.random.default_rng(seed)
    return {spec.name: Layer.of(spec.name, "Convolution",
                                [identity(spec.weight_shape, module.classes, std, rng),
                                 np.zeros(spec.c_out, np.float32)])
            for spec in module.layers()}
