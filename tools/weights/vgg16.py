"""ImageNet VGG-16 (VGG_ILSVRC_16_layers.caffemodel, legacy V1 format) -> the
front end's initial weights (docs/design.md, Initial weights): conv layers as they are,
fc6 and fc7 as the convolutions the front end has in their place, ImageNet's
classifier dropped; the front end's own classifier is left to its filler.

The file is checked against the published checksum (prototxt_gen/spec/vgg16.py)
before it is used; `random` in its place gives weights of the same shapes for
smoke tests.
"""
import hashlib
import math
import os

import numpy as np
from tqdm import tqdm

from prototxt_gen.nets import deploy_net
from prototxt_gen.spec import vgg16 as published
from prototxt_gen.spec.datasets import DATASETS

from . import WeightsError
from .caffemodel import Layer, shape_text
from .netcheck import param_shapes

RANDOM = "random"  # in place of the file: xavier-random weights (random_init)
CHUNK = 1 << 22

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


def sha256(path, show=None):
    """The file's SHA-256, read in chunks; a progress bar appears only when it
    takes over 2 s (528 MB on a slow disk), and only on a terminal (show=None)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f, tqdm(
                total=os.fstat(f.fileno()).st_size, unit="B", unit_scale=True, leave=False,
                delay=2, desc="sha256 %s" % os.path.basename(path),
                disable=None if show is None else not show) as bar:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                digest.update(chunk)
                bar.update(len(chunk))
    except OSError as e:
        raise WeightsError("cannot read %s: %s" % (path, e.strerror or e))
    return digest.hexdigest()


def verify(path, show=None):
    """Refuses a file that is not the published VGG-16: a partial or damaged
    download, or another model under its name."""
    found = sha256(path, show)
    if found == published.SHA256:
        return
    size = os.path.getsize(path)
    short = (" (%d of its %d bytes: an interrupted download?)" % (size, published.SIZE)
             if size < published.SIZE else "")
    raise WeightsError("%s is not the published %s: sha256 %s, expected %s%s; download it from "
                       "%s, or pass --any-vgg to use another VGG-16"
                       % (path, published.FILE, found, published.SHA256, short, published.URL))


def _xavier(name, type_, shapes, seed):
    """A Layer of Caffe's XavierFiller weights (uniform within +-sqrt(3 / fan-in),
    fan-in = count / outputs) and zero biases, made when loaded."""
    def load():
        weights = shapes[0]
        scale = np.float32(math.sqrt(3.0 / (math.prod(weights) // weights[0])))
        array = np.random.default_rng(seed).random(weights, dtype=np.float32)
        array *= 2 * scale
        array -= scale
        return [array] + [np.zeros(shape, np.float32) for shape in shapes[1:]]
    return Layer(name, type_, tuple(shapes), load, source=RANDOM)


def random_init(net, seed=0):
    """{name: Layer} for the layers of `net` that VGG-16 fills (without_filler),
    in its shapes, with random weights: a smoke test of the pipeline without
    the 528 MB file, never the paper's starting point.  Each layer draws from
    its own stream of `seed`, so a layer's values do not depend on the others."""
    expected, vgg = param_shapes(net), without_filler(net)
    layers = {}
    for index, name in enumerate(n for n in expected if n in vgg):
        type_, shapes = expected[name]
        if any(None in shape for shape in shapes):
            raise WeightsError("net %r does not size layer %s (%s): give its input shape"
                               % (net.name, name, ", ".join(map(shape_text, shapes))))
        layers[name] = _xavier(name, type_, shapes, [seed, index])
    return layers
