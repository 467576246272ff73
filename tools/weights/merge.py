"""Joint initialization: a trained front end and a trained context module in one
caffemodel for the joint net (checked strictly against it by netcheck.fit)."""
import numpy as np

from . import WeightsError
from .bilinear import bilinear
from .caffemodel import caffe_arrays


def fixed_upsampling(layer):
    """Whether a layer's weights are a bias-free Deconvolution's bilinear filter:
    lr_mult 0 keeps it so through training, so it carries nothing learned (the
    joint net fills its own, e.g. Cityscapes' front end `upsample` becomes the
    joint net's `ctx_upsample`)."""
    if layer.type != "Deconvolution" or len(layer.shapes) != 1 or len(layer.shapes[0]) != 4:
        return False
    return np.array_equal(caffe_arrays(layer)[0], bilinear(layer.shapes[0]))


def merge(front_end, context, net_layers=None):
    """Both caffemodel.Caffemodels' layers; a name in both is an error (which wins?).
    With `net_layers` (the joint net's layer names), fixed upsampling layers the
    net does not have are left out, since the net fills its own."""
    both = [name for name in context.layers if name in front_end.layers]
    if both:
        raise WeightsError("layers in both %s and %s: %s"
                           % (front_end.path, context.path, ", ".join(both)))
    layers = {**front_end.layers, **context.layers}
    if net_layers is None:
        return layers
    return {name: layer for name, layer in layers.items()
            if name in net_layers or not fixed_upsampling(layer)}
