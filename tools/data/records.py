"""Samples -> LMDB records in the layout the generated nets read (design.md
3b): image and label stored as ONE array, so Caffe's Data layer crops and
mirrors them together, already padded as the authors' data layer pads."""
import cv2
import numpy as np

from prototxt_gen.frontend import MARGIN
from prototxt_gen.schema import pb

from .validate import IGNORE, image_pair

# Raw (unencoded) Datums are the default: Caffe's one prefetch thread copies
# them instead of decoding a PNG (benchmarks/bench_feed.py).  PNG (compression
# 1-9) saves disk at a large cost in feed rate; at level 0 (no deflate) row
# filters only cost time.
PNG_FILTER_NONE = ([cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
                   if hasattr(cv2, "IMWRITE_PNG_FILTER") else [])


def split(size, crop):
    """(before, after) padding that brings `size` up to `crop`: the authors' split."""
    extra = max(0, crop - size)
    return extra // 2, extra - extra // 2


def image_label_record(image, label, crop):
    """H x W x 4 uint8 (B, G, R, label): pad by 186 (image reflect-101, label 255),
    then, if still shorter than the crop, pad again to it the same way."""
    record = cv2.copyMakeBorder(cv2.merge([image, label]), MARGIN, MARGIN, MARGIN, MARGIN,
                                cv2.BORDER_REFLECT_101)
    (top, bottom), (left, right) = (split(n + 2 * MARGIN, crop) for n in label.shape)
    if top or bottom or left or right:
        record = cv2.copyMakeBorder(record, top, bottom, left, right, cv2.BORDER_REFLECT_101)
    y, x = MARGIN + top, MARGIN + left
    h, w = label.shape
    for border in (np.s_[:y], np.s_[y + h:], np.s_[:, :x], np.s_[:, x + w:]):
        record[:, :, 3][border] = IGNORE
    return record


def png_datum(record, compression):
    ok, png = cv2.imencode(".png", record, [cv2.IMWRITE_PNG_COMPRESSION, compression]
                           + (PNG_FILTER_NONE if compression == 0 else []))
    if not ok:
        raise RuntimeError("OpenCV could not encode a %s record as PNG" % (record.shape,))
    h, w, c = record.shape
    return pb.Datum(channels=c, height=h, width=w, data=png.tobytes(), encoded=True)


def raw_datum(record):
    """Unencoded: Caffe reads `data` as channels x height x width bytes."""
    h, w, c = record.shape
    return pb.Datum(channels=c, height=h, width=w, data=record.transpose(2, 0, 1).tobytes())


def image_record(sample, classes, crop, compression=None):
    """Front-end sample -> (serialized Datum, record shape); compression None
    writes a raw Datum, 0-9 a PNG of that level."""
    record = image_label_record(*image_pair(sample, classes), crop)
    datum = raw_datum(record) if compression is None else png_datum(record, compression)
    return datum.SerializeToString(), record.shape
