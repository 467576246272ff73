"""Every net of one data set: front end, context module and joint, each for
TRAIN, TEST and deploy.  Layer names follow the released models so their
weights load by name (VOC: `fc-final`, `ct_*`; others: `final`, `ctx_*`).

One rule holds for every stage (docs/design.md, Joint and deploy nets): the training and testing
nets use exactly the context convolutions (kernel, dilation, pad, width, names)
of the data set's deploy nets, and a net trained on upsampled scores is
deployed with the same upsampling.
"""
from dataclasses import dataclass

from . import layers as L
from .context import context_module
from .data_layers import (feature_label_data, image_label_data, label_at_full_resolution,
                          label_on_output_grid)
from .frontend import front_end
from .heads import deploy_head, test_head, train_head
from .schema import pb

PHASE_NAMES = {L.TRAIN: "train", L.TEST: "test"}


@dataclass(frozen=True)
class TrainConfig:
    """The user's choices for the nets of one data set."""
    crop: int
    batch: int
    iter_size: int
    context_crop: int
    context_batch: int
    lmdb_dir: str
    context_padding: str    # "same" or "buffer": train, test and deploy alike
    upsampled: bool         # front end and joint: loss after the fixed x8 Deconvolution

    def lmdb(self, split):
        return "%s/%s_lmdb" % (self.lmdb_dir, split)


def upsample_name(ds, stage):
    """The released Cityscapes model calls its Deconvolution `ctx_upsample`."""
    return ds.context_prefix + "upsample" if stage == "joint" and ds.zoom == 1 else "upsample"


def _head(net, score, label, phase):
    (train_head if phase == L.TRAIN else test_head)(net, score, label)


def image_net(ds, cfg, phase, source, with_context):
    """Front end (optionally + context, i.e. the joint net) trained from images.

    Upsampled, the loss reads the fixed bilinear x8 Deconvolution's output at
    label stride 1; otherwise one label per front-end output cell."""
    stage = "joint" if with_context else "frontend"
    net = pb.NetParameter(name="%s_%s_%s" % (ds.name, stage, PHASE_NAMES[phase]))
    batch = cfg.batch if phase == L.TRAIN else 1
    data, label_full = image_label_data(net, source, batch, cfg.crop, ds.mean, phase)
    score = front_end(net, data, ds.classes, ds.classifier, train=phase == L.TRAIN)
    if with_context:
        score = context_module(net, score, ds.context(cfg.context_padding))
    if cfg.upsampled:
        score = L.deconv(net, upsample_name(ds, stage), score, ds.classes, factor=8)
        label = label_at_full_resolution(net, label_full, score)
    else:
        label = label_on_output_grid(net, label_full, "conv1_1", score)
    _head(net, score, label, phase)
    return net


def context_net(ds, cfg, phase, source):
    """The context module alone, trained from stored front-end scores (at the
    scores' resolution for every data set; see README, Cityscapes)."""
    net = pb.NetParameter(name="%s_context_%s" % (ds.name, PHASE_NAMES[phase]))
    batch = cfg.context_batch if phase == L.TRAIN else 1
    data, label = feature_label_data(net, source, batch, cfg.context_crop, ds.classes, phase)
    _head(net, context_module(net, data, ds.context(cfg.context_padding)), label, phase)
    return net


def deploy_net(ds, stage, context_crop=None, upsample=False, padding=None):
    """Input -> stage -> prob.  stage: "frontend", "context" or "joint".

    Cityscapes' joint net ends in the released model's `ctx_upsample`; `upsample`
    adds the same fixed bilinear x8 Deconvolution to the front end and joint
    nets of the others.  `padding` defaults to the released model's.
    """
    net = pb.NetParameter(name="%s_%s_deploy" % (ds.name, stage))
    if stage == "context":
        top = L.input_blob(net, "data", (1, ds.classes, context_crop, context_crop))
    else:
        top = front_end(net, L.input_blob(net, "data", (1, 3) + ds.deploy_size),
                        ds.classes, ds.classifier)
    if stage != "frontend":
        top = context_module(net, top, ds.context(padding or ds.deploy_padding))
    name = None
    if stage == "joint" and ds.zoom == 1 or upsample and stage != "context":
        name = upsample_name(ds, stage)
    deploy_head(net, top, ds.classes, upsample=name)
    return net
