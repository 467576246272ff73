"""The one reader of prototxt text files (nets and solvers) into messages of
our schema, with a one-line error that names the file.

Our schema is a subset of Caffe's.  The shape engine must understand every
field of a net it sizes, so by default an unknown field is an error; a file
we only hand on to Caffe (the train tool's solvers and nets) may hold fields
we do not model, which are then Caffe's business (`skip_unknown`).
"""
from google.protobuf import text_format

from .cli_common import UserError

KIND = {"NetParameter": "Caffe net", "SolverParameter": "Caffe solver"}


def read_prototxt(path, message_type, error=UserError, skip_unknown=False, say_kind=False):
    """A `message_type` (pb.NetParameter or pb.SolverParameter) parsed from `path`.
    A file that cannot be opened or parsed raises `error`; with `say_kind` the
    open error says which kind of file it was (a solver names several)."""
    kind = KIND[message_type.DESCRIPTOR.name]
    try:
        with open(path, encoding="utf-8") as f:
            return text_format.Parse(f.read(), message_type(), allow_unknown_field=skip_unknown)
    except OSError as e:
        raise error("cannot read %s%s: %s" % (kind + " " if say_kind else "", path, e.strerror or e))
    except (text_format.ParseError, UnicodeDecodeError) as e:
        raise error("%s is not a %s: %s" % (path, kind, e))
