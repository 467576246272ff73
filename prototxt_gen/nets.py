"""Every net of one data set: front end, context module and joint, each for
TRAIN, TEST and deploy.  Layer names follow the released models so their
weights load by name (VOC: `fc-final`, `ct_*`; others: `final`, `ctx_*`).
"""
from dataclasses import dataclass

from . import layers as L
from .context import context_module
from .data_layers import feature_label_data, image_label_data, label_on_output_grid
from .frontend import front_end
from .heads import deploy_head, test_head, train_head
from .schema import pb

PHASE_NAMES = {L.TRAIN: "train", L.TEST: "test"}


@dataclass(frozen=True)
class TrainConfig:
    """The user's choices for the training and testing nets of one data set."""
    crop: int
    batch: int
    iter_size: int
    context_crop: int
    context_batch: int
    lmdb_dir: str

    def lmdb(self, split):
        return "%s/%s_lmdb" % (self.lmdb_dir, split)


def _head(net, score, label, phase):
    (train_head if phase == L.TRAIN else test_head)(net, score, label)


def image_net(ds, cfg, phase, source, with_context):
    """Front end (optionally + context, i.e. the joint net) trained from images."""
    stage = "joint" if with_context else "frontend"
    net = pb.NetParameter(name="%s_%s_%s" % (ds.name, stage, PHASE_NAMES[phase]))
    batch = cfg.batch if phase == L.TRAIN else 1
    data, label_full = image_label_data(net, source, batch, cfg.crop, ds.mean, phase)
    score = front_end(net, data, ds.classes, ds.classifier, train=phase == L.TRAIN)
    if with_context:
        score = context_module(net, score, ds.context("same"))
    _head(net, score, label_on_output_grid(net, label_full, "conv1_1", score), phase)
    return net


def context_net(ds, cfg, phase, source):
    """The context module alone, trained from stored front-end scores."""
    net = pb.NetParameter(name="%s_context_%s" % (ds.name, PHASE_NAMES[phase]))
    batch = cfg.context_batch if phase == L.TRAIN else 1
    data, label = feature_label_data(net, source, batch, cfg.context_crop, ds.classes, phase)
    _head(net, context_module(net, data, ds.context("same")), label, phase)
    return net


def deploy_net(ds, stage, context_crop=None, upsample=False):
    """Input -> stage -> prob.  stage: "frontend", "context" or "joint".

    Cityscapes' joint net ends in the released model's `ctx_upsample`; `upsample`
    adds the same fixed bilinear x8 Deconvolution to the others.
    """
    net = pb.NetParameter(name="%s_%s_deploy" % (ds.name, stage))
    if stage == "context":
        top = L.input_blob(net, "data", (1, ds.classes, context_crop, context_crop))
    else:
        top = front_end(net, L.input_blob(net, "data", (1, 3) + ds.deploy_size),
                        ds.classes, ds.classifier)
    if stage != "frontend":
        top = context_module(net, top, ds.context(ds.deploy_padding))
    name = None
    if stage == "joint" and ds.zoom == 1:
        name = ds.context_prefix + "upsample"
    elif upsample and stage != "context":
        name = "upsample"
    deploy_head(net, top, ds.classes, upsample=name)
    return net
