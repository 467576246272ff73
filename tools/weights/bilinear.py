"""Bilinear upsampling weights for a Deconvolution layer (FCN style, one kernel
per channel with group = channels), e.g. Cityscapes' `ctx_upsample`.

Caffe fills such a layer itself ("bilinear" filler), but a caffemodel that
carries the weights is complete on its own; computing them as Caffe's filler
does (float32, its formula) makes ours equal to what Caffe would fill.
"""
import math

import numpy as np


def bilinear(shape):
    """Weights of `shape` (..., k, k): every k x k kernel is Caffe's BilinearFiller's."""
    k = shape[-1]
    f = math.ceil(k / 2)
    c = np.float32((2 * f - 1 - f % 2) / (2.0 * f))
    line = 1 - np.abs(np.arange(k, dtype=np.float32) / np.float32(f) - c)
    return np.broadcast_to(np.outer(line, line), shape).copy()
