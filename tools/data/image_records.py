"""Samples -> LMDB records in the layout the generated nets read (docs/design.md,
Records): image and label stored as ONE array, so Caffe's Data layer crops and
mirrors them together, already padded as the authors' data layer pads."""
import cv2
import numpy as np

from prototxt_gen.schema import pb
from prototxt_gen.spec.grid import MARGIN
from prototxt_gen.spec.labels import IGNORE

from .validate import image_pair

# Raw (unencoded) Datums are the default: Caffe's one prefetch thread copies
# them instead of decoding a PNG (benchmarks/bench_feed.py).  PNG (compression
# 1-9) saves disk at a large cost in feed rate; at level 0 (no deflate) row
# filters only cost time.
PNG_FILTER_NONE = ([cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
                   if hasattr(cv2, "IMWRITE_PNG_FILTER") else [])


def record_side(size, crop):
    """A record side of an image side: the margin on both ends, then up to the crop."""
    return max(size + 2 * MARGIN, crop)


def split(size, crop):
    """(smaller, larger) halves of the padding that brings `size` up to `crop`."""
    extra = max(0, crop - size)
    return extra // 2, extra - extra // 2


def image_label_record(image, label, crop):
    """4 x H x W uint8 planes (B, G, R, label), the channel-major order of an
    unencoded Datum: padded by 186 (image reflect-101, label 255), then, if still
    shorter than the crop, padded again to it the same way, an odd amount split
    as the authors' fork splits it (docs/design.md, Padding): the larger half at the
    bottom and, because its copyMakeBorder call swaps left and right, on the
    LEFT.  Each plane is padded straight into its place (measured: 5x faster
    than padding a 4-channel image and transposing it)."""
    h, w = label.shape
    top, bottom = split(h + 2 * MARGIN, crop)
    right, left = split(w + 2 * MARGIN, crop)
    record = np.empty((4, record_side(h, crop), record_side(w, crop)), np.uint8)
    for plane, out in zip(cv2.split(image), record):
        if top or bottom or left or right:  # reflects the padded image, as the authors do
            plane = cv2.copyMakeBorder(plane, MARGIN, MARGIN, MARGIN, MARGIN,
                                       cv2.BORDER_REFLECT_101)
            cv2.copyMakeBorder(plane, top, bottom, left, right, cv2.BORDER_REFLECT_101, dst=out)
        else:
            cv2.copyMakeBorder(plane, MARGIN, MARGIN, MARGIN, MARGIN, cv2.BORDER_REFLECT_101,
                               dst=out)
    cv2.copyMakeBorder(label, MARGIN + top, MARGIN + bottom, MARGIN + left, MARGIN + right,
                       cv2.BORDER_CONSTANT, dst=record[3], value=IGNORE)
    return record


def png_datum(record, compression):
    """A 4-channel PNG of the C x H x W record (Caffe decodes it to H x W x C)."""
    ok, png = cv2.imencode(".png", cv2.merge(list(record)),
                           [cv2.IMWRITE_PNG_COMPRESSION, compression]
                           + (PNG_FILTER_NONE if compression == 0 else []))
    if not ok:
        raise RuntimeError("OpenCV could not encode a %s record as PNG" % (record.shape,))
    c, h, w = record.shape
    return pb.Datum(channels=c, height=h, width=w, data=png.tobytes(), encoded=True)


def raw_datum(record):
    """Unencoded: Caffe reads `data` as C x H x W bytes, the record's own order."""
    c, h, w = record.shape
    return pb.Datum(channels=c, height=h, width=w, data=record.tobytes())


def image_record(sample, classes, crop, compression=None):
    """Front-end sample -> (serialized Datum, record shape); compression None
    writes a raw Datum, 0-9 a PNG of that level."""
    record = image_label_record(*image_pair(sample, classes), crop)
    datum = raw_datum(record) if compression is None else png_datum(record, compression)
    return datum.SerializeToString(), record.shape
