"""Training/testing input from stock Caffe layers only (docs/design.md,
Training input from stock layers).

Each LMDB record holds image and label as ONE multi-channel sample, so the
stock Data layer's random crop and mirror move them together; Slice separates
them and Crop + Pooling + Crop pick the label of each output cell.  No Python
layer, no fork: `caffe train` runs unchanged in any Caffe image.
"""
from . import layers as L
from .spec.grid import MARGIN, STRIDE


def image_label_data(net, source, batch, crop, mean, phase):
    """B, G, R, label records -> ('data', 'label_full'); mirror only in TRAIN."""
    record = L.lmdb_data(net, "data_label", source, batch, crop, phase,
                         mean=list(mean) + [0], mirror=phase == L.TRAIN)
    return L.slice_channels(net, "slice", record, ["data", "label_full"], 3)


def feature_label_data(net, source, batch, crop, classes, phase):
    """C score channels + label (already at feature resolution) -> ('data', 'label')."""
    record = L.lmdb_data(net, "data_label", source, batch, crop, phase,
                         mirror=phase == L.TRAIN)
    return L.slice_channels(net, "slice", record, ["data", "label"], classes)


def label_on_output_grid(net, label_full, first_conv, score):
    """label[h][w] = label_full[186 + 8h][186 + 8w], sized like `score`.

    Crop to the first conv's shape starting at 186 % 8, keep every 8th row and
    column (max pooling with kernel 1), then drop the first 186 // 8 cells.
    """
    near = L.crop(net, "label_crop", label_full, first_conv, offset=MARGIN % STRIDE)
    grid = L.max_pool(net, "label_subsample", near, kernel=1, stride=STRIDE)
    return L.crop(net, "label", grid, score, offset=MARGIN // STRIDE)


def label_at_full_resolution(net, label_full, score):
    """label[h][w] = label_full[186 + h][186 + w], sized like the upsampled `score`
    (the label stride 1 of the authors' `--up`)."""
    return L.crop(net, "label", label_full, score, offset=MARGIN)
