"""The layer vocabulary of our nets: one short function per Caffe layer type.

Each function appends a `LayerParameter` to a `NetParameter` and returns the
name of its top blob, so net definitions read top to bottom like the paper's
tables (the same style as Caffe's `net_spec.py` and FCN's `net.py`).
"""
from .schema import pb
from .spec import crfrnn

LEARNED = (dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0))
FROZEN = (dict(lr_mult=0, decay_mult=0),)
TRAIN, TEST = pb.TRAIN, pb.TEST
PHASE_NAMES = {TRAIN: "train", TEST: "test"}


def add(net, name, type_, bottoms, tops=None, **fields):
    """Appends one layer; `fields` are LayerParameter fields, checked by protobuf."""
    tops = [name] if tops is None else list(tops)
    net.layer.add(name=name, type=type_, bottom=list(bottoms), top=tops, **fields)
    return tops[0] if len(tops) == 1 else tops


def conv(net, name, bottom, num_output, kernel=3, dilation=1, pad=0, stride=1,
         group=1, weight_filler=None, bias=True, params=LEARNED, type_="Convolution"):
    cp = pb.ConvolutionParameter(num_output=num_output, kernel_size=[kernel])
    if dilation != 1:
        cp.dilation.append(dilation)
    if pad:
        cp.pad.append(pad)
    if stride != 1:
        cp.stride.append(stride)
    if group != 1:
        cp.group = group
    if not bias:
        cp.bias_term = False
    if weight_filler is not None:
        cp.weight_filler.CopyFrom(pb.FillerParameter(**weight_filler))
        if bias:
            cp.bias_filler.CopyFrom(pb.FillerParameter(type="constant", value=0))
    return add(net, name, type_, [bottom], convolution_param=cp,
               param=[pb.ParamSpec(**p) for p in params[: 1 + bias]])


def deconv(net, name, bottom, channels, factor):
    """Fixed bilinear upsampling by `factor`, one group per channel (FCN style)."""
    return conv(net, name, bottom, channels, kernel=2 * factor, stride=factor,
                pad=factor // 2, group=channels, bias=False,
                weight_filler=dict(type="bilinear"), params=FROZEN,
                type_="Deconvolution")


def relu(net, name, bottom):
    """In place, as in VGG-16."""
    return add(net, name, "ReLU", [bottom], [bottom])


def dropout(net, name, bottom, ratio=0.5):
    return add(net, name, "Dropout", [bottom], [bottom],
               dropout_param=pb.DropoutParameter(dropout_ratio=ratio))


def max_pool(net, name, bottom, kernel, stride):
    return add(net, name, "Pooling", [bottom], pooling_param=pb.PoolingParameter(
        pool=pb.PoolingParameter.MAX, kernel_size=kernel, stride=stride))


def crop(net, name, bottom, reference, offset, axis=2):
    return add(net, name, "Crop", [bottom, reference],
               crop_param=pb.CropParameter(axis=axis, offset=[offset]))


def slice_channels(net, name, bottom, tops, point):
    return add(net, name, "Slice", [bottom], tops,
               slice_param=pb.SliceParameter(axis=1, slice_point=[point]))


def softmax(net, name, bottom):
    return add(net, name, "Softmax", [bottom])


def softmax_loss(net, name, score, label, ignore_label=255, normalization=pb.LossParameter.VALID):
    """`propagate_down: false` for the label: when it is cut out of the data by
    Crop layers whose reference is a learned blob, Caffe would otherwise ask the
    loss for a label gradient and abort."""
    return add(net, name, "SoftmaxWithLoss", [score, label], propagate_down=[True, False],
               loss_param=pb.LossParameter(ignore_label=ignore_label,
                                           normalization=normalization))


def accuracy(net, name, score, label, ignore_label=255):
    return add(net, name, "Accuracy", [score, label],
               accuracy_param=pb.AccuracyParameter(ignore_label=ignore_label))


def crf_rnn(net, name, unary, image):
    """CRF-RNN's mean-field layer (tools/crfrnn), a Caffe Python layer with
    crfasrnn's learning rates; its param_str stays empty, so the layer's own
    defaults (crfasrnn's, 5 iterations in TRAIN and 10 in TEST) apply."""
    return add(net, name, "Python", [unary, image], [name + "_score"],
               param=[pb.ParamSpec(lr_mult=m) for m in crfrnn.LR_MULTS],
               python_param=pb.PythonParameter(module=crfrnn.MODULE, layer=crfrnn.LAYER))


def input_blob(net, name, shape):
    return add(net, name, "Input", [], input_param=pb.InputParameter(
        shape=[pb.BlobShape(dim=list(shape))]))


def lmdb_data(net, name, source, batch_size, crop_size, phase, mean=(), mirror=False):
    """Stock Data layer over one multi-channel record (image + label together)."""
    tp = pb.TransformationParameter(crop_size=crop_size, mirror=mirror,
                                    mean_value=list(mean))
    return add(net, name, "Data", [], transform_param=tp,
               data_param=pb.DataParameter(source=source, batch_size=batch_size,
                                           backend=pb.DataParameter.LMDB),
               include=[pb.NetStateRule(phase=phase)])
