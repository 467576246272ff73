"""`python -m tools.weights`: every command end to end on small files; bad files
and bad arguments get one line and exit code 2, never a traceback."""
import os

import numpy as np
import pytest

from helpers import REPO
from prototxt_gen.nets import deploy_net
from prototxt_gen.spec.datasets import DATASETS
from tools.weights.caffemodel import Caffemodel
from weights_fixtures import NARROW, narrow, run_cli, write_net, write_vgg_v1

COMMANDS = ("to-npz", "from-npz", "vgg16", "identity", "merge")


def one_line_error(out, hint):
    assert out.returncode == 2, out
    assert out.stdout == "" and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and hint in out.stderr, out.stderr


def test_help_explains_every_command():
    out = run_cli("--help")
    assert out.returncode == 0 and all(c in out.stdout for c in COMMANDS)
    for command in COMMANDS:
        assert run_cli(command, "--help").returncode == 0


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    kitti = DATASETS["kitti"]
    front, joint = (narrow(deploy_net(kitti, stage)) for stage in ("frontend", "joint"))
    return {"vgg": write_vgg_v1(folder / "vgg.caffemodel", NARROW), "dir": folder,
            "front_net": write_net(folder / "front.prototxt", front),
            "joint_net": write_net(folder / "joint.prototxt", joint)}


def test_every_command_end_to_end(files):
    d = files["dir"]
    out = run_cli("vgg16", files["vgg"], d / "front.caffemodel", "--net", files["front_net"],
                  "--any-vgg")
    assert out.returncode == 0 and out.stdout.startswith("wrote")
    assert "left to the net's fillers: final" in out.stdout
    out = run_cli("identity", d / "context.caffemodel", "--dataset", "kitti",
                  "--net", REPO / "caffe_models/kitti/context_train.prototxt")
    assert out.returncode == 0 and "7 layers" in out.stdout
    # the front end lacks its classifier: merging is strict, from-npz is not
    one_line_error(run_cli("merge", d / "front.caffemodel", d / "context.caffemodel",
                           files["joint_net"], d / "joint.caffemodel"), "missing final")
    out = run_cli("to-npz", d / "front.caffemodel", d / "front.npz")
    assert out.returncode == 0 and "fc6              Convolution    20x12x7x7  20" in out.stdout
    out = run_cli("from-npz", d / "front.npz", files["joint_net"], d / "joint.caffemodel")
    assert out.returncode == 0 and "left to the net's fillers: final, ctx_conv1_1" in out.stdout
    model = Caffemodel(d / "joint.caffemodel")
    assert list(model.layers)[-1] == "fc7" and model.layers["fc6"].shapes == ((20, 12, 7, 7), (20,))
    out = run_cli("to-npz", files["vgg"], d / "vgg.npz")
    assert "V1 (legacy `layers`) format: 16 layers" in out.stdout
    assert "20x588 (stored 1x1x20x588)" in out.stdout


def test_identity_options_choose_the_module(files):
    out = run_cli("identity", files["dir"] / "large.caffemodel", "--dataset", "camvid",
                  "--width", "large", "--layers", "10", "--classes", "3", "--noise", "0")
    assert out.returncode == 0
    model = Caffemodel(files["dir"] / "large.caffemodel")
    assert len(model.layers) == 10 and model.layers["ctx_conv1_1"].shapes[0] == (6, 3, 3, 3)
    centre = model.layers["ctx_conv1_1"].load()[0][:, :, 1, 1]
    assert np.array_equal(centre, np.repeat(np.eye(3, dtype=np.float32), 2, axis=0) / 2)


@pytest.mark.parametrize("args, hint", [
    (["bogus"], "invalid choice: 'bogus'"),
    (["to-npz", "only-one-argument"], "the following arguments are required: OUT.npz"),
    (["identity", "x.caffemodel", "--dataset", "voc"],
     "choose from pascal_voc, camvid, kitti, cityscapes"),
    (["identity", "x.caffemodel", "--dataset", "kitti", "--layers", "9"], "invalid choice: 9"),
    (["identity", "x.caffemodel", "--dataset", "kitti", "--noise", "-1"], "must be >= 0"),
    (["to-npz", "missing.caffemodel", "x.npz"], "cannot read missing.caffemodel: No such file"),
    (["from-npz", "missing.npz", "caffe_models/kitti/context_train.prototxt", "x.caffemodel"],
     "cannot read missing.npz as an .npz"),
    (["from-npz", "missing.npz", "missing.prototxt", "x.caffemodel"],
     "cannot read missing.prototxt"),
])
def test_bad_arguments_get_one_line_and_exit_2(args, hint):
    one_line_error(run_cli(*args), hint)


@pytest.mark.parametrize("cut", [0.5, 0.999])
def test_truncated_caffemodel_gets_one_line_and_exit_2(files, cut):
    data = files["vgg"].read_bytes()
    bad = files["dir"] / "truncated.caffemodel"
    bad.write_bytes(data[: int(len(data) * cut)])
    one_line_error(run_cli("to-npz", bad, files["dir"] / "x.npz"),
                   "is not a caffemodel, or it is truncated")
    assert not (files["dir"] / "x.npz").exists()


def test_not_a_caffemodel_and_a_misfit_get_one_line(files):
    one_line_error(run_cli("vgg16", files["front_net"], files["dir"] / "x.caffemodel",
                           "--any-vgg"), "not a caffemodel")
    one_line_error(run_cli("vgg16", files["vgg"], files["dir"] / "x.caffemodel", "--any-vgg"),
                   "conv1_1/0 is 4x3x3x3, the net needs 64x3x3x3")
    assert not (files["dir"] / "x.caffemodel").exists()


def test_pure_python_protobuf_gets_a_warning(files):
    env = dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python")
    out = run_cli("to-npz", files["vgg"], files["dir"] / "slow.npz", env=env)
    assert out.returncode == 0
    assert "warning: protobuf runs its slow pure-Python backend" in out.stderr
    assert "warning" not in run_cli("to-npz", files["vgg"], files["dir"] / "fast.npz").stderr
