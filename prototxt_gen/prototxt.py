"""The one reader of prototxt text files (nets and solvers) into messages of
our schema, with a one-line error that names the file.

Our schema is a subset of Caffe's.  The shape engine must understand every
field of a net it sizes, so by default an unknown field is an error; a file
we only hand on to Caffe (the train tool's solvers and nets) may hold fields
we do not model, which are then Caffe's business (`skip_unknown`).  A field
that Caffe has and our schema reserves (caffe_subset.proto) is named as valid
Caffe that this tool does not read, with its layer: the net is not broken.
"""
import re

from google.protobuf import descriptor_pb2, text_format

from .cli_common import UserError

KIND = {"NetParameter": "Caffe net", "SolverParameter": "Caffe solver"}
UNKNOWN_FIELD = re.compile(r'Message type "([\w.]+)" has no field named "(\w+)"')


def read_prototxt(path, message_type, error=UserError, skip_unknown=False, say_kind=False):
    """A `message_type` (pb.NetParameter or pb.SolverParameter) parsed from `path`.
    A file that cannot be opened or parsed raises `error`; with `say_kind` the
    open error says which kind of file it was (a solver names several)."""
    kind = KIND[message_type.DESCRIPTOR.name]
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return text_format.Parse(text, message_type(), allow_unknown_field=skip_unknown)
    except OSError as e:
        raise error("cannot read %s%s: %s" % (kind + " " if say_kind else "", path, e.strerror or e))
    except UnicodeDecodeError as e:
        raise error("%s is not a %s: %s" % (path, kind, e))
    except text_format.ParseError as e:
        field = _caffe_field(message_type, str(e))
        if not field:
            raise error("%s is not a %s: %s" % (path, kind, e))
        layer = _layer_at(text, e.GetLine(), e.GetColumn(), message_type)
        raise error("%s line %d: %s%s is valid Caffe, but outside the part of Caffe's schema "
                    "this tool reads (prototxt_gen/schema/caffe_subset.proto), so it cannot "
                    "check this net; leave the field or layer out, or run the net in Caffe "
                    "without this tool" % (path, e.GetLine(),
                                           "" if layer is None else "layer %s: " % layer, field))


def _caffe_field(message_type, said):
    """The field the parser stopped at, when Caffe has it and our schema
    reserves it; else None."""
    found = UNKNOWN_FIELD.search(said)
    if not found:
        return None
    full_name, field = found.groups()
    proto = descriptor_pb2.DescriptorProto()
    message_type.DESCRIPTOR.file.pool.FindMessageTypeByName(full_name).CopyToProto(proto)
    return field if field in proto.reserved_name else None


def _layer_at(text, line, column, message_type):
    """Name of the layer whose text holds (line, column): the text before that
    point parses once its open blocks are closed, and its last layer is the
    one that was being read.  None outside a net's layers."""
    lines = text.split("\n")
    head = "\n".join(lines[:line - 1] + [lines[line - 1][:column - 1]])
    for depth in range(1, 10):
        try:
            net = text_format.Parse(head + "\n}" * depth, message_type(), allow_unknown_field=True)
        except text_format.ParseError:
            continue
        layers = getattr(net, "layer", None) or getattr(net, "layers", None)
        return layers[-1].name if layers else None
    return None
