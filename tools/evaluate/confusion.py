"""Confusion matrix and intersection over union, as the VOC devkit computes
them: pixels whose truth is 255 (or any value outside 0..C-1) are ignored;
a prediction outside 0..C-1 counts as a miss of the true class."""
import numpy as np


def confusion(prediction, truth, classes):
    """C x (C + 1) pixel counts: rows truth, columns prediction; the last
    column gathers predictions that are no class."""
    if prediction.shape != truth.shape:
        raise ValueError("prediction is %s but truth is %s" % (prediction.shape, truth.shape))
    truth = truth.astype(np.int64)
    valid = (truth >= 0) & (truth < classes)
    pred = prediction[valid].astype(np.int64)
    pred = np.where((pred >= 0) & (pred < classes), pred, classes)
    counts = np.bincount(truth[valid] * (classes + 1) + pred, minlength=classes * (classes + 1))
    return counts.reshape(classes, classes + 1)


def iou(matrix):
    """Per-class IoU = TP / (TP + FP + FN) (NaN for a class neither present
    nor predicted) and their mean over the classes that have one."""
    classes = matrix.shape[0]
    tp = np.diag(matrix[:, :classes]).astype(np.float64)
    union = matrix.sum(axis=1) + matrix[:, :classes].sum(axis=0) - tp
    per_class = np.full(classes, np.nan)
    np.divide(tp, union, out=per_class, where=union > 0)
    return per_class, float(np.nanmean(per_class)) if np.isfinite(per_class).any() else float("nan")
