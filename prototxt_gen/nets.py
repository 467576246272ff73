"""Every net of one data set: front end, context module and joint, each for
TRAIN, TEST and deploy.  Layer names follow the released models so their
weights load by name (VOC: `fc-final`, `ct_*`; others: `final`, `ctx_*`).

Each builder takes one Dataset, the user's choices already merged into it
(spec.overridden).  One rule holds for every stage (docs/design.md, Joint and
deploy nets): the training and testing nets use exactly the context
convolutions (kernel, dilation, pad, width, names) of the data set's deploy
nets, and a net trained on upsampled scores is deployed with the same upsampling.
"""
from . import layers as L
from .context import context_module
from .data_layers import (feature_label_data, image_label_data, label_at_full_resolution,
                          label_on_output_grid)
from .frontend import front_end
from .heads import VALID, deploy_head, test_head, train_head
from .schema import pb
from .spec import crfrnn
from .spec.grid import MARGIN

def upsample_name(ds, stage):
    """The released Cityscapes model calls its Deconvolution `ctx_upsample`."""
    return ds.context_prefix + "upsample" if stage == "joint" and ds.zoom == 1 else "upsample"


def _head(net, score, label, phase, normalization=VALID):
    (train_head if phase == L.TRAIN else test_head)(net, score, label, normalization)


def image_net(ds, phase, source, with_context, crf_rnn=False):
    """Front end (optionally + context, i.e. the joint net) trained from images.

    Upsampled, the loss reads the fixed bilinear x8 Deconvolution's output at
    label stride 1; otherwise one label per front-end output cell.  With
    `crf_rnn` the net is always upsampled, and CRF-RNN's mean-field layer
    refines the upsampled scores with the image cropped to their region, as
    crfasrnn trains it: batch 1, the loss summed over the pixels."""
    stage = "joint" if with_context else "frontend"
    name = stage + "_crfrnn" * crf_rnn
    net = pb.NetParameter(name="%s_%s_%s" % (ds.name, name, L.PHASE_NAMES[phase]))
    batch = ds.train_batch(stage)[0] if phase == L.TRAIN and not crf_rnn else 1
    data, label_full = image_label_data(net, source, batch, ds.crop, ds.mean, phase)
    first, score = front_end(net, data, ds.classes, ds.classifier, train=phase == L.TRAIN)
    if with_context:
        score = context_module(net, score, ds.context())
    if ds.upsampled or crf_rnn:
        score = L.deconv(net, upsample_name(ds, stage), score, ds.classes, factor=8)
        label = label_at_full_resolution(net, label_full, score)
    else:
        label = label_on_output_grid(net, label_full, first, score)
    if crf_rnn:
        score = _crf_rnn(net, data, score)
    _head(net, score, label, phase, pb.LossParameter.BATCH_SIZE if crf_rnn else VALID)
    return net


def _crf_rnn(net, data, score):
    """The image, cut to the upsampled scores' cells (MARGIN pixels in, as the
    label at stride 1), and the scores through the mean-field layer."""
    image = L.crop(net, "data_crop", data, score, offset=MARGIN)
    return L.crf_rnn(net, crfrnn.NAME, score, image)


def frontend_net(ds, phase, source):
    return image_net(ds, phase, source, with_context=False)


def joint_net(ds, phase, source):
    return image_net(ds, phase, source, with_context=True)


def frontend_crfrnn_net(ds, phase, source):
    return image_net(ds, phase, source, with_context=False, crf_rnn=True)


def joint_crfrnn_net(ds, phase, source):
    return image_net(ds, phase, source, with_context=True, crf_rnn=True)


def context_net(ds, phase, source):
    """The context module alone, trained from stored front-end scores (at the
    scores' resolution for every data set; see README, Cityscapes)."""
    net = pb.NetParameter(name="%s_context_%s" % (ds.name, L.PHASE_NAMES[phase]))
    batch = ds.train_batch("context")[0] if phase == L.TRAIN else 1
    data, label = feature_label_data(net, source, batch, ds.context_crop, ds.classes, phase)
    _head(net, context_module(net, data, ds.context()), label, phase)
    return net


def deploy_net(ds, stage, upsample=False, crf_rnn=False):
    """Input -> stage -> prob.  stage: "frontend", "context" (input: one context
    crop of scores) or "joint".

    Cityscapes' joint net ends in the released model's `ctx_upsample`; `upsample`
    adds the same fixed bilinear x8 Deconvolution to the front end and joint
    nets of the others.  `crf_rnn` (front end and joint): upsampled, then
    CRF-RNN's mean-field layer over the tile's labelled region, as trained.
    """
    net = pb.NetParameter(name="%s_%s_deploy" % (ds.name, stage + "_crfrnn" * crf_rnn))
    if stage == "context":
        top = L.input_blob(net, "data", (1, ds.classes, ds.context_crop, ds.context_crop))
    else:
        data = L.input_blob(net, "data", (1, 3) + ds.deploy_size)
        _, top = front_end(net, data, ds.classes, ds.classifier)
    if stage != "frontend":
        top = context_module(net, top, ds.context())
    name = None
    if stage == "joint" and ds.zoom == 1 or (upsample or crf_rnn) and stage != "context":
        name = upsample_name(ds, stage)
    if crf_rnn:
        top = _crf_rnn(net, data, L.deconv(net, name, top, ds.classes, factor=8))
    deploy_head(net, top, ds.classes, upsample=None if crf_rnn else name)
    return net
