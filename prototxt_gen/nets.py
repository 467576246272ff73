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
from .heads import deploy_head, test_head, train_head
from .schema import pb

def upsample_name(ds, stage):
    """The released Cityscapes model calls its Deconvolution `ctx_upsample`."""
    return ds.context_prefix + "upsample" if stage == "joint" and ds.zoom == 1 else "upsample"


def _head(net, score, label, phase):
    (train_head if phase == L.TRAIN else test_head)(net, score, label)


def image_net(ds, phase, source, with_context):
    """Front end (optionally + context, i.e. the joint net) trained from images.

    Upsampled, the loss reads the fixed bilinear x8 Deconvolution's output at
    label stride 1; otherwise one label per front-end output cell."""
    stage = "joint" if with_context else "frontend"
    net = pb.NetParameter(name="%s_%s_%s" % (ds.name, stage, L.PHASE_NAMES[phase]))
    batch = ds.train_batch(stage)[0] if phase == L.TRAIN else 1
    data, label_full = image_label_data(net, source, batch, ds.crop, ds.mean, phase)
    first, score = front_end(net, data, ds.classes, ds.classifier, train=phase == L.TRAIN)
    if with_context:
        score = context_module(net, score, ds.context())
    if ds.upsampled:
        score = L.deconv(net, upsample_name(ds, stage), score, ds.classes, factor=8)
        label = label_at_full_resolution(net, label_full, score)
    else:
        label = label_on_output_grid(net, label_full, first, score)
    _head(net, score, label, phase)
    return net


def frontend_net(ds, phase, source):
    return image_net(ds, phase, source, with_context=False)


def joint_net(ds, phase, source):
    return image_net(ds, phase, source, with_context=True)


def context_net(ds, phase, source):
    """The context module alone, trained from stored front-end scores (at the
    scores' resolution for every data set; see README, Cityscapes)."""
    net = pb.NetParameter(name="%s_context_%s" % (ds.name, L.PHASE_NAMES[phase]))
    batch = ds.train_batch("context")[0] if phase == L.TRAIN else 1
    data, label = feature_label_data(net, source, batch, ds.context_crop, ds.classes, phase)
    _head(net, context_module(net, data, ds.context()), label, phase)
    return net


def deploy_net(ds, stage, upsample=False):
    """Input -> stage -> prob.  stage: "frontend", "context" (input: one context
    crop of scores) or "joint".

    Cityscapes' joint net ends in the released model's `ctx_upsample`; `upsample`
    adds the same fixed bilinear x8 Deconvolution to the front end and joint
    nets of the others.
    """
    net = pb.NetParameter(name="%s_%s_deploy" % (ds.name, stage))
    if stage == "context":
        top = L.input_blob(net, "data", (1, ds.classes, ds.context_crop, ds.context_crop))
    else:
        _, top = front_end(net, L.input_blob(net, "data", (1, 3) + ds.deploy_size),
                           ds.classes, ds.classifier)
    if stage != "frontend":
        top = context_module(net, top, ds.context())
    name = None
    if stage == "joint" and ds.zoom == 1 or upsample and stage != "context":
        name = upsample_name(ds, stage)
    deploy_head(net, top, ds.classes, upsample=name)
    return net
