"""Inputs for the ONNX tests: random weights for any deploy net, written with
our own caffemodel writer (so Caffe and the exporter read one file), real
photographs shipped by scikit-image, and small deploy nets."""
from dataclasses import replace

import cv2
import numpy as np
import skimage.data
from google.protobuf import text_format

from prototxt_gen import layers as L
from prototxt_gen.nets import deploy_net
from prototxt_gen.schema import pb
from prototxt_gen.spec.datasets import DATASETS
from tools.weights.caffemodel import Layer, write
from tools.weights.netcheck import fit, load_net, param_shapes

PHOTOS = {"pascal_voc": "astronaut", "camvid": "coffee", "kitti": "chelsea", "cityscapes": "rocket"}


def random_weights(prototxt, out, input_std=1.0, seed=0):
    """He-scaled weights (std sqrt(2 / fan-in), which keeps the scale through
    every ReLU), the first layer's divided by `input_std`, so the classifier
    sees unit-scale input and the softmax is neither flat nor one-hot; biases
    N(0, 0.1), so a dropped or misplaced bias shows.  Fixed bilinear
    upsampling is left to fit()."""
    net = load_net(str(prototxt))
    bilinear = {layer.name for layer in net.layer
                if layer.convolution_param.weight_filler.type == "bilinear"}
    rng = np.random.default_rng(seed)
    layers, scale = {}, 1.0 / input_std
    for name, (type_, shapes) in param_shapes(net).items():
        if name in bilinear:
            continue
        weights = rng.standard_normal(shapes[0], dtype=np.float32)
        weights *= np.float32(scale * np.sqrt(2.0 / np.prod(shapes[0][1:])))
        biases = [np.float32(0.1) * rng.standard_normal(s, dtype=np.float32) for s in shapes[1:]]
        layers[name], scale = Layer.of(name, type_, [weights] + biases), 1.0
    write(str(out), fit(net, layers, required=None)[0], net.name)
    return out


def photo(dataset, height, width):
    """The data set's photograph, BGR, resized to height x width."""
    rgb = getattr(skimage.data, PHOTOS[dataset])()
    return cv2.resize(rgb[:, :, ::-1], (width, height), interpolation=cv2.INTER_AREA)


def net_input(dataset, channels, height, width):
    """(1 x C x H x W float32 input, its scale): the mean-subtracted photograph
    for an image net (its scale: 16, a quarter of the pixels' spread, so the
    classifier sees logits of a few units); for a context module (C classes), the
    photograph's colours mixed into C unit-scale score channels, so the scores
    have a real image's structure."""
    image = photo(dataset, height, width).astype(np.float32)
    if channels == 3:
        data, scale = image - np.float32(DATASETS[dataset].mean), 16.0
    else:
        mix = np.random.default_rng(channels).normal(0, 1, (3, channels)).astype(np.float32)
        data, scale = (image / np.float32(64) - 2) @ mix, 1.0
    return np.ascontiguousarray(data.transpose(2, 0, 1)[None]), scale


def deploy_prototxt(directory, dataset, stage, size):
    """A generated deploy net of the data set at tile size `size`."""
    ds = replace(DATASETS[dataset], deploy_size=size)
    path = directory / ("%s_%s_%dx%d_deploy.prototxt" % (dataset, stage, size[0], size[1]))
    path.write_text(text_format.MessageToString(deploy_net(ds, stage)))
    return path


def zoo_net():
    """Every mapped layer type and the rules our deploy nets never reach: a
    strided, padded, dilated, grouped convolution; leaky ReLU; padded pooling
    whose last window Caffe drops (height 9: ceil gives 6 windows, Caffe 5);
    unpadded pooling that rounds up (width 8 -> 4); a learned Deconvolution
    with bias; Crop; Dropout; Softmax."""
    net = pb.NetParameter(name="zoo")
    top = L.input_blob(net, "data", (1, 3, 20, 30))
    top = L.conv(net, "conv", top, 6, kernel=3, dilation=2, pad=1, stride=2, group=3)
    L.add(net, "leaky", "ReLU", [top], [top], relu_param=pb.ReLUParameter(negative_slope=0.1))
    pooled = L.add(net, "pool_pad", "Pooling", [top], pooling_param=pb.PoolingParameter(
        pool=pb.PoolingParameter.MAX, kernel_size=2, stride=2, pad=1))
    top = L.conv(net, "up", pooled, 6, kernel=4, stride=2, pad=1, group=2, type_="Deconvolution")
    top = L.crop(net, "crop", top, pooled, offset=1)
    L.dropout(net, "drop", top)
    top = L.max_pool(net, "pool_ceil", top, 3, 2)
    L.softmax(net, "prob", top)
    return net
