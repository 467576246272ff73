"""Context-stage records (design.md 3, 3b): the front end's stored scores and
the label at the scores' resolution as ONE float Datum of C + 1 channels, so
Caffe's Data layer crops and mirrors them together; `Slice` at C separates them."""
import numpy as np

from prototxt_gen.frontend import STRIDE
from prototxt_gen.schema import pb

from .records import split
from .validate import IGNORE, feature_pair


def feature_label_record(features, label, crop):
    """(C + 1) x H' x W' float32: the scores, then the label at the scores'
    resolution (pixel (8i, 8j) for cell (i, j)); padded up to the crop with
    scores 0 and label 255."""
    cells = label[::STRIDE, ::STRIDE]
    (top, bottom), (left, right) = (split(n, crop) for n in cells.shape)
    c, h, w = features.shape
    record = np.zeros((c + 1, top + h + bottom, left + w + right), np.float32)
    record[c] = IGNORE
    record[:c, top:top + h, left:left + w] = features
    record[c, top:top + h, left:left + w] = cells
    return record


def float_datum(record):
    c, h, w = record.shape
    return pb.Datum(channels=c, height=h, width=w, float_data=record.ravel().tolist())


def feature_record(sample, classes, crop):
    """Context sample -> (serialized Datum, record shape)."""
    record = feature_label_record(*feature_pair(sample, classes), crop)
    return float_datum(record).SerializeToString(), record.shape
