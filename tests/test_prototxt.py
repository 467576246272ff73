"""The one prototxt reader: strict for the shape engine, lenient about fields
outside our schema for files only Caffe reads, one line naming the file."""
import pytest

from prototxt_gen.cli_common import UserError
from prototxt_gen.geometry import ReportError
from prototxt_gen.prototxt import read_prototxt
from prototxt_gen.schema import pb


def test_a_field_outside_our_schema_is_an_error_unless_skipped(tmp_path):
    path = tmp_path / "s.prototxt"
    path.write_text('max_iter: 7 layer_wise_reduce: false')  # a newer Caffe's solver field
    with pytest.raises(UserError, match="s.prototxt is not a Caffe solver: .*layer_wise_reduce"):
        read_prototxt(path, pb.SolverParameter)
    assert read_prototxt(path, pb.SolverParameter, skip_unknown=True).max_iter == 7


@pytest.mark.parametrize("say_kind, message", [
    (False, "^cannot read .*nowhere.prototxt: No such file"),
    (True, "^cannot read Caffe net .*nowhere.prototxt: No such file"),
])
def test_an_unreadable_file_raises_the_callers_error(tmp_path, say_kind, message):
    with pytest.raises(ReportError, match=message):
        read_prototxt(tmp_path / "nowhere.prototxt", pb.NetParameter, ReportError,
                      say_kind=say_kind)
