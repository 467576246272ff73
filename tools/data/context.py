"""Context-stage records (design.md 3, 3b): the front end's stored scores and
the label at the scores' resolution as ONE float Datum of C + 1 channels, so
Caffe's Data layer crops and mirrors them together; `Slice` at C separates them."""
import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

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


def packed_datum_class():
    """Caffe's Datum with `float_data` packed: the same field on the wire, which
    proto2 parsers accept either way, but 4 bytes a value instead of 5, and Caffe
    parses it as one block instead of value by value (benchmarks/bench_feed.py)."""
    datum = descriptor_pb2.DescriptorProto()
    pb.Datum.DESCRIPTOR.CopyToProto(datum)
    next(f for f in datum.field if f.name == "float_data").options.packed = True
    package = pb.Datum.DESCRIPTOR.file.package
    proto = descriptor_pb2.FileDescriptorProto(name="packed_datum.proto", package=package,
                                               syntax="proto2", message_type=[datum])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(package + ".Datum"))


PackedDatum = packed_datum_class()


def float_datum(record, packed=True):
    c, h, w = record.shape
    return (PackedDatum if packed else pb.Datum)(channels=c, height=h, width=w,
                                                 float_data=record.ravel().tolist())


def feature_record(sample, classes, crop):
    """Context sample -> (serialized Datum, record shape)."""
    record = feature_label_record(*feature_pair(sample, classes), crop)
    return float_datum(record).SerializeToString(), record.shape
