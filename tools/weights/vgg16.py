"""ImageNet VGG-16 (VGG_ILSVRC_16_layers.caffemodel, legacy V1 format) -> the
front end's initial weights (docs/design.md, Initial weights): conv layers as they are,
fc6 and fc7 as the convolutions the front end has in their place, ImageNet's
classifier dropped; the front end's own classifier is left to its filler.
"""
import math

from prototxt_gen.nets import deploy_net
from prototxt_gen.spec.datasets import DATASETS

from . import WeightsError
from .caffemodel import Layer, shape_text

IMAGENET_CLASSIFIER = "fc8"
FILLED = ("Convolution", "Deconvolution", "InnerProduct")  # the types with a weight_filler


def default_net():
    """The generated front end; its classifier is not written, so any data set's fits."""
    return deploy_net(DATASETS["pascal_voc"], "frontend")


def _as_convolution(layer, channels):
    """An InnerProduct over C channels of a k x k grid is a k x k convolution with
    the same memory order: fc6 4096 x 25088 -> 4096 x 512 x 7 x 7, fc7 -> 4096 x 4096 x 1 x 1."""
    weights = layer.shapes[0]
    side = math.isqrt(weights[-1] // channels) if channels and len(weights) == 2 else 0
    if side * side * (channels or 0) != weights[-1]:
        raise WeightsError("InnerProduct %s (%s) does not read %s channels on a square grid"
                           % (layer.name, shape_text(weights), channels))
    shape = (weights[0], channels, side, side)

    def load():
        arrays = layer.load()
        return [arrays[0].reshape(shape)] + arrays[1:]
    return Layer(layer.name, "Convolution", (shape,) + layer.shapes[1:], load,
                 source=layer.source)


def front_end_init(vgg):
    """{name: Layer} of a caffemodel.Caffemodel of VGG-16, without its classifier."""
    layers, channels = {}, None
    for layer in vgg.layers.values():
        if layer.name == IMAGENET_CLASSIFIER:
            continue
        if layer.type == "InnerProduct":
            layer = _as_convolution(layer, channels)
        layers[layer.name] = layer
        channels = layer.shapes[0][0]
    return layers


def without_filler(net):
    """Layers whose weights must come from VGG-16: the convolutions and inner
    products not given a filler (the classifier: Gaussian std 0.001, bias 0)."""
    return {layer.name for layer in net.layer if layer.type in FILLED
            and not layer.convolution_param.HasField("weight_filler")
            and not layer.inner_product_param.HasField("weight_filler")}
