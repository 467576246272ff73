"""The data sets of the released models (docs/design.md, Data sets), as data."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    name: str
    classes: int
    context_layers: int
    context_width: str      # "basic" or "large"
    deploy_padding: str     # context padding of the released deploy net
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

    def context(self, padding="same"):
        # Imported here: predict/features/evaluate read this table inside Python 3.6
        # containers whose protobuf is too old for our schema, which context imports.
        from .context import ContextModule
        return ContextModule(self.classes, self.context_layers, self.context_width,
                             padding, self.context_prefix)

    @property
    def deploy_name(self):
        """The file name of the authors' released deploy net."""
        return "dilation%d_%s_deploy.prototxt" % (self.context_layers, self.name)


DATASETS = {d.name: d for d in (
    Dataset("pascal_voc", 21, 8, "large", "buffer", (900, 900), 8,
            (102.93, 111.36, 116.52), crop=500, context_crop=66,
            classifier="fc-final", context_prefix="ct_", coco=True),
    Dataset("camvid", 11, 8, "basic", "same", (900, 1100), 8,
            (110.70, 108.78, 105.41), crop=900, context_crop=96,
            batch=4, iter_size=2, context_batch=20),
    Dataset("kitti", 11, 7, "basic", "same", (852, 1640), 8,
            (96.19, 95.55, 91.35), crop=500, context_crop=48,
            batch=4, iter_size=2, context_batch=20),
    Dataset("cityscapes", 19, 10, "basic", "same", (1396, 1396), 1,
            (72.39, 82.91, 73.16), crop=1396, context_crop=128,
            batch=1, iter_size=8, context_batch=8),
)}
