"""The data sets of the released models (docs/design.md, Data sets), as data:
each row is the recipe the generators, data tools and inference tools share;
a user's options replace fields of it (spec.overridden)."""
from dataclasses import dataclass

from . import labels
from .table1 import ContextModule


@dataclass(frozen=True)
class Dataset:
    name: str
    palette: tuple          # ((class name, RGB), ...) in label order
    context_layers: int
    context_width: str      # "basic" or "large"
    context_padding: str    # "same" or "buffer", of every context net (the released deploy net's)
    deploy_size: tuple      # (H, W) of one deploy tile
    zoom: int               # upsampling after the net (1: the net upsamples itself)
    mean: tuple             # BGR
    crop: int               # front-end / joint training crop
    context_crop: int       # context training crop, in front-end output cells (VOC: one
                            # deploy tile's whole output, as the authors' label_shape 66 66)
    batch: int = 7          # front-end batch x iter_size = the paper's 14
    iter_size: int = 2
    context_batch: int = 60
    classifier: str = "final"
    context_prefix: str = "ctx_"
    coco: bool = False      # the paper's COCO-augmented two-stage front end
    train_upsampled: bool = False  # front-end/joint loss after the fixed x8 Deconvolution

    @property
    def classes(self):
        return len(self.palette)

    @property
    def upsampled(self):
        """Trained (and so deployed) upsampled: by choice, or because the released
        net upsamples itself (zoom 1: Cityscapes)."""
        return self.train_upsampled or self.zoom == 1

    def context(self):
        return ContextModule(self.classes, self.context_layers, self.context_width,
                             self.context_padding, self.context_prefix)

    def train_batch(self, stage):
        """(batch per forward pass, iter_size) of a stage's train net and solver."""
        group = next(g for g in TRAIN_BATCHES if stage in g.stages)
        return getattr(self, group.size), getattr(self, group.passes) if group.passes else 1


@dataclass(frozen=True)
class TrainBatch:
    """The Dataset fields (and the options of the same names) that size the
    training of some stages: `size` samples per forward pass on each GPU and
    `passes` forward passes accumulated per update (iter_size; None: never
    accumulated).  Their product is the recipe's effective batch on one GPU."""
    stages: tuple
    size: str
    passes: str = None


# The front end (COCO schedule included) and the joint net accumulate to the
# paper's mini-batch; the context stage takes one batch per update.
TRAIN_BATCHES = (TrainBatch(("frontend", "joint"), "batch", "iter_size"),
                 TrainBatch(("context",), "context_batch"))


DATASETS = {d.name: d for d in (
    Dataset("pascal_voc", labels.VOC, 8, "large", "buffer", (900, 900), 8,
            (102.93, 111.36, 116.52), crop=500, context_crop=66,
            classifier="fc-final", context_prefix="ct_", coco=True),
    Dataset("camvid", labels.CAMVID, 8, "basic", "same", (900, 1100), 8,
            (110.70, 108.78, 105.41), crop=900, context_crop=96,
            batch=4, iter_size=2, context_batch=20),
    Dataset("kitti", labels.CAMVID, 7, "basic", "same", (852, 1640), 8,
            (96.19, 95.55, 91.35), crop=500, context_crop=48,
            batch=4, iter_size=2, context_batch=20),
    Dataset("cityscapes", labels.CITYSCAPES, 10, "basic", "same", (1396, 1396), 1,
            (72.39, 82.91, 73.16), crop=1396, context_crop=128,
            batch=1, iter_size=8, context_batch=8),
)}
