"""Synthetic inputs for the weight-tool tests: a legacy V1 caffemodel with
VGG-16's exact layer names and types (full size or narrow), the new-format
ImageNet deploy net Caffe needs to load it, and narrow versions of our nets."""
import hashlib
from pathlib import Path

import numpy as np
from google.protobuf import text_format

from helpers import run_module
from prototxt_gen import layers as L
from prototxt_gen.schema import pb
from tools.weights.caffemodel import RawNet

REPO = Path(__file__).resolve().parents[1]
V1 = pb.V1LayerParameter
BLOCKS = ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
CONVS = ["conv%d_%d" % (b, i) for b, n in BLOCKS for i in range(1, n + 1)]
FULL = dict({c: (64, 128, 256, 512, 512)[int(c[4]) - 1] for c in CONVS},
            fc6=4096, fc7=4096, fc8=1000)
# Narrow but uneven widths, so a transposed or mis-reshaped blob cannot pass.
NARROW = dict({c: (4, 6, 8, 10, 12)[int(c[4]) - 1] for c in CONVS}, fc6=20, fc7=16, fc8=10)
POOL5 = 7  # VGG-16 at 224 x 224


def vgg_v1_shapes(widths):
    """{layer: [(V1 type, legacy num/channels/height/width) per blob]} as in
    VGG_ILSVRC_16_layers.caffemodel: conv weights O x I x 3 x 3, InnerProduct
    weights 1 x 1 x M x N, biases 1 x 1 x 1 x O."""
    shapes, c_in = {}, 3
    for name in CONVS:
        shapes[name] = (V1.CONVOLUTION, [(widths[name], c_in, 3, 3), (1, 1, 1, widths[name])])
        c_in = widths[name]
    k = c_in * POOL5 * POOL5
    for name in ("fc6", "fc7", "fc8"):
        shapes[name] = (V1.INNER_PRODUCT, [(1, 1, widths[name], k), (1, 1, 1, widths[name])])
        k = widths[name]
    return shapes


def vgg_values(count, seed):
    """Cheap random-ish values: a short random pattern tiled (a prime length)."""
    pattern = np.random.default_rng(seed).normal(0, 0.01, 4099).astype(np.float32) + seed
    return np.resize(pattern, count)


def _v1_layer(name, type_, blobs=()):
    net = RawNet()
    layer = net.layers.add(name=name, type=type_, bottom=["x"], top=[name])
    for shape, values in blobs:
        blob = layer.blobs.add(num=shape[0], channels=shape[1], height=shape[2], width=shape[3])
        blob.data = values.tobytes()
    return net.SerializeToString()


def trainable_values(shape, seed):
    """A VGG-shaped init that trains: weights of std sqrt(1 / fan-in), which
    halves the variance at every ReLU, so pixel-scale input reaches fc7 near
    unit scale as in the real VGG-16; zero biases.  (InnerProduct rows are
    the last legacy axis.)"""
    if shape[:3] == (1, 1, 1):
        return np.zeros(int(np.prod(shape)), np.float32)
    fan_in = int(np.prod(shape[1:])) if shape[0] > 1 else shape[-1]
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(np.prod(shape))) * np.sqrt(1.0 / fan_in)).astype(np.float32)


def write_vgg_v1(path, widths, values=lambda shape, seed: vgg_values(int(np.prod(shape)), seed)):
    """The V1 file, one layer at a time (concatenated messages parse as one), with
    VGG-16's blob-less RELU / POOLING / DROPOUT / SOFTMAX layers too.  `values`
    gives each blob's contents from its legacy shape and a seed."""
    with open(path, "wb") as f:
        f.write(RawNet(name="VGG_ILSVRC_16_layers").SerializeToString())
        for seed, (name, (type_, shapes)) in enumerate(vgg_v1_shapes(widths).items()):
            f.write(_v1_layer(name, type_, [(s, values(s, seed * 2 + i))
                                            for i, s in enumerate(shapes)]))
            if name.startswith("conv") or name in ("fc6", "fc7"):
                f.write(_v1_layer(name.replace("conv", "relu").replace("fc", "relu"), V1.RELU))
            if name in ("conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3"):
                f.write(_v1_layer("pool" + name[4], V1.POOLING))
            if name in ("fc6", "fc7"):
                f.write(_v1_layer(name.replace("fc", "drop"), V1.DROPOUT))
        f.write(_v1_layer("prob", V1.SOFTMAX))
    return path


def vgg_deploy(widths):
    """The ImageNet VGG-16 deploy net in the current format (pad 1, five pools,
    InnerProduct fc6..fc8), which Caffe loads the V1 file into."""
    net = pb.NetParameter(name="VGG_ILSVRC_16_layers")
    top = L.input_blob(net, "data", (1, 3, 32 * POOL5, 32 * POOL5))
    for block, count in BLOCKS:
        for i in range(1, count + 1):
            name = "conv%d_%d" % (block, i)
            top = L.conv(net, name, top, widths[name], pad=1)
            L.relu(net, name.replace("conv", "relu"), top)
        top = L.max_pool(net, "pool%d" % block, top, 2, 2)
    for name in ("fc6", "fc7", "fc8"):
        top = L.add(net, name, "InnerProduct", [top],
                    inner_product_param=pb.InnerProductParameter(num_output=widths[name]))
    L.softmax(net, "prob", top)
    return net


def small_net():
    """Every shape rule at once: grouped conv, pooled size, grouped bilinear
    Deconvolution, InnerProduct flattening C x H x W."""
    net = pb.NetParameter(name="small")
    top = L.input_blob(net, "data", (1, 4, 10, 10))
    top = L.conv(net, "conv", top, 6, kernel=3, group=2)
    L.relu(net, "relu", top)
    top = L.max_pool(net, "pool", top, 2, 2)
    top = L.deconv(net, "up", top, 6, factor=2)
    L.add(net, "ip", "InnerProduct", [top],
          inner_product_param=pb.InnerProductParameter(num_output=5))
    return net


SMALL_NET_SHAPES = {"conv": [(6, 2, 3, 3), (6,)], "up": [(6, 1, 4, 4)],
                    "ip": [(5, 6 * 8 * 8), (5,)]}


def narrow(net, widths=NARROW):
    """One of our generated nets with the VGG layers narrowed (names unchanged)."""
    for layer in net.layer:
        if layer.name in widths:
            layer.convolution_param.num_output = widths[layer.name]
    return net


def write_net(path, net):
    path.write_text(text_format.MessageToString(net))
    return path


def digest(array):
    """[shape, SHA-256 of the float32 bytes]: equal digests mean bit-identical blobs."""
    data = np.ascontiguousarray(array, "<f4").tobytes()
    return [list(array.shape), hashlib.sha256(data).hexdigest()]


def run_cli(*args, env=None):
    return run_module("tools.weights", *args, env=env)
