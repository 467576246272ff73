"""The command line: options take effect, bad values get one line and exit 2."""
import pytest
from google.protobuf import text_format

from helpers import run_module
from prototxt_gen.schema import pb


def run(*args):
    return run_module("prototxt_gen", *args)


def test_help_explains():
    out = run("--help")
    assert out.returncode == 0
    for word in ("--dataset", "--stage", "--crop", "--batch", "--iter-size", "--lmdb-root",
                 "--out", "report", "dilation8_pascal_voc_deploy.prototxt"):
        assert word in out.stdout
    assert run("report", "--help").returncode == 0


@pytest.mark.parametrize("args, hint", [
    (["--crop", "501"], "use 500 or 508"),
    (["--crop", "300"], "use 380 or 388"),
    (["--crop", "big"], "not a whole number"),
    (["--dataset", "voc"], "choose from pascal_voc, camvid, kitti, cityscapes"),
    (["--stage", "train"], "choose from frontend, context, joint"),
    (["--batch", "0"], "must be at least 1"),
    (["report", "missing.prototxt"], "cannot read missing.prototxt"),
])
def test_bad_values_get_one_line_and_exit_2(tmp_path, args, hint):
    out = run(*args, "--out", str(tmp_path)) if args[0] != "report" else run(*args)
    assert out.returncode == 2
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and hint in out.stderr
    assert "Traceback" not in out.stderr


def test_report_rejects_a_non_net(tmp_path):
    bad = tmp_path / "bad.prototxt"
    bad.write_text("layer { nonsense: 1 }")
    out = run("report", str(bad))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "is not a Caffe net" in out.stderr


def test_options_take_effect(tmp_path):
    out = run("--dataset", "kitti", "--stage", "frontend", "--crop", "388", "--batch", "3",
              "--iter-size", "5", "--lmdb-root", "/lmdbs", "--out", str(tmp_path / "m"), "--cpu")
    assert out.returncode == 0, out.stderr
    files = sorted(p.name for p in (tmp_path / "m" / "kitti").iterdir())
    assert files == ["frontend_deploy.prototxt", "frontend_solver.prototxt",
                     "frontend_test.prototxt", "frontend_train.prototxt"]
    net = text_format.Parse((tmp_path / "m/kitti/frontend_train.prototxt").read_text(), pb.NetParameter())
    data = net.layer[0]
    assert (data.transform_param.crop_size, data.data_param.batch_size) == (388, 3)
    assert data.data_param.source == "/lmdbs/kitti/train_lmdb"
    s = text_format.Parse((tmp_path / "m/kitti/frontend_solver.prototxt").read_text(), pb.SolverParameter())
    assert (s.iter_size, s.solver_mode) == (5, pb.SolverParameter.CPU)
    assert s.train_net == str(tmp_path / "m/kitti/frontend_train.prototxt")


def test_report_prints_table1_row():
    for path in ("caffe_models/pascal_voc/dilation8_pascal_voc_deploy.prototxt",
                 "caffe_models/camvid/context_test.prototxt"):
        out = run("report", path)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().endswith("cells): 3 5 9 17 33 65 67 67")
