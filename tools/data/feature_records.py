"""Context-stage records (docs/design.md, Records): the front end's stored scores and
the label at the scores' resolution as ONE float Datum of C + 1 channels, so
Caffe's Data layer crops and mirrors them together; `Slice` at C separates them.

The scores are whole deploy tile outputs (tools.features), so a training crop
only ever shows what deploy shows the module; nothing is padded with zeros."""
import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from prototxt_gen.schema import pb
from prototxt_gen.spec.grid import STRIDE
from prototxt_gen.spec.labels import IGNORE

from .validate import BadSample, feature_pair


def feature_label_record(features, label):
    """(C + 1) x H' x W' float32: the scores, then the label pixel (8i, 8j) of
    cell (i, j), 255 for cells past the image."""
    cells = label[::STRIDE, ::STRIDE]
    c, h, w = features.shape
    record = np.full((c + 1, h, w), IGNORE, np.float32)
    record[:c] = features
    record[c, :cells.shape[0], :cells.shape[1]] = cells
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
    features, label = feature_pair(sample, classes)
    if min(features.shape[1:]) < crop:
        raise BadSample("score map %s is %dx%d cells, smaller than the context crop %d: store "
                        "whole deploy tiles with python -m tools.features, or pass "
                        "--context-crop %d" % (sample.source, features.shape[1], features.shape[2],
                                               crop, min(features.shape[1:])))
    record = feature_label_record(features, label)
    return float_datum(record).SerializeToString(), record.shape
