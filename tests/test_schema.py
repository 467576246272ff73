"""Our schema: the compiled module is the .proto, and it is Caffe's numbering."""
import shutil
import subprocess

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, text_format

from helpers import REPO, bvlc_caffe_pb2
from prototxt_gen.schema import pb

PROTO_DIR = REPO / "prototxt_gen" / "schema"


def test_compiled_module_matches_proto(tmp_path):
    protoc = shutil.which("protoc")
    assert protoc, "protoc is needed (Debian: protobuf-compiler; tools/install_caffe.sh installs it)"
    out = tmp_path / "schema.pb"
    subprocess.run([protoc, "-I", str(PROTO_DIR), "--descriptor_set_out=%s" % out,
                    "caffe_subset.proto"], check=True)
    fresh = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    for message in _nested_protos(fresh.message_type):  # protoc adds these; gencode omits them
        for field in message.field:
            field.ClearField("json_name")
    compiled = descriptor_pb2.FileDescriptorProto()
    pb.DESCRIPTOR.CopyToProto(compiled)
    assert _float_defaults(compiled) == _float_defaults(fresh), \
        "regenerate: cd prototxt_gen/schema && protoc --python_out=. caffe_subset.proto"


def _float_defaults(file_proto):
    """The descriptor with float defaults as float32 values: protoc writes 0.999
    as written, the runtime as float32 prints it (0.999000013)."""
    for message in _nested_protos(file_proto.message_type):
        for field in message.field:
            if field.type == field.TYPE_FLOAT and field.default_value:
                field.default_value = repr(float(np.float32(field.default_value)))
    return file_proto


def _nested_protos(messages):
    for m in messages:
        yield m
        yield from _nested_protos(m.nested_type)


def test_misspelt_field_fails_at_build_time():
    with pytest.raises(ValueError):
        pb.ConvolutionParameter(dilaton=[2])
    with pytest.raises(text_format.ParseError):
        text_format.Parse('layer { convolution_param { dilaton: 2 } }', pb.NetParameter())


def _messages(descriptor):
    for message in descriptor.message_types_by_name.values():
        yield from _nested(message)


def _nested(message):
    yield message
    for inner in message.nested_types:
        yield from _nested(inner)


def _fields(message):
    """{name: (number, type, label, default, packed, type name)} of a message."""
    proto = descriptor_pb2.DescriptorProto()
    message.CopyToProto(proto)
    return {f.name: (f.number, f.type, f.label, f.default_value, f.options.packed,
                     f.type_name.rsplit(".", 1)[-1]) for f in proto.field}


@pytest.mark.caffe
def test_every_field_matches_caffe_proto():
    """Number, type, label and default of every field, and every enum value,
    agree with the caffe_pb2 that Caffe's own build generated."""
    pool = bvlc_caffe_pb2().DESCRIPTOR.pool
    checked = 0
    for ours in _messages(pb.DESCRIPTOR):
        theirs = pool.FindMessageTypeByName("caffe." + ours.full_name.split(".", 1)[1])
        their_fields = _fields(theirs)
        for name, spec in _fields(ours).items():
            assert name in their_fields, "%s.%s is not in caffe.proto" % (ours.name, name)
            assert spec == their_fields[name], "%s.%s differs from caffe.proto" % (ours.name, name)
            checked += 1
        for enum in ours.enum_types:
            their_enum = theirs.enum_types_by_name[enum.name]
            assert {v.name: v.number for v in enum.values}.items() <= \
                {v.name: v.number for v in their_enum.values}.items(), enum.full_name
    for enum in pb.DESCRIPTOR.enum_types_by_name.values():
        assert {v.name: v.number for v in enum.values} == \
            {v.name: v.number for v in pool.FindEnumTypeByName("caffe." + enum.name).values}
    assert checked > 150
