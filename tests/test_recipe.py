"""The training recipe of docs/design.md (Padding, Schedules), read from the generated files:
train what you deploy (context convolutions, Cityscapes' upsampled loss) and
the recipe's knobs (learning-rate presets, solvers without a test net)."""
import pytest
from google.protobuf import text_format

from helpers import REPO
from prototxt_gen.cli import main as generate
from prototxt_gen.schema import pb
from prototxt_gen.spec.datasets import DATASETS
from prototxt_gen.spec.paths import released_deploy

STAGE_NETS = ("context_train", "context_test", "context_deploy", "joint_train", "joint_test")


def parsed(path, kind=pb.NetParameter):
    return text_format.Parse(open(str(path)).read(), kind())


def context_convs(net, prefix):
    """(name, kernel, dilation, pad, width) of every context convolution."""
    return [(l.name, list(l.convolution_param.kernel_size), list(l.convolution_param.dilation),
             list(l.convolution_param.pad), l.convolution_param.num_output)
            for l in net.layer if l.type == "Convolution" and l.name.startswith(prefix)]


def layer(net, name):
    return next(l for l in net.layer if l.name == name)


def assert_rule(folder, ds, padding):
    released = context_convs(parsed(folder / released_deploy(ds)), ds.context_prefix)
    assert len(released) == ds.context_layers
    pads = [c[3] for c in released]
    if padding == "buffer":
        margin = (ds.context().receptive_fields()[-1] - 1) // 2
        assert pads == [[margin]] + [[]] * (ds.context_layers - 1)
    else:
        assert pads == [[d] for d in ds.context().dilations()] + [[]]
    for stage in STAGE_NETS:
        assert context_convs(parsed(folder / (stage + ".prototxt")), ds.context_prefix) == released, \
            "%s/%s differs from %s" % (folder, stage, released_deploy(ds))


@pytest.mark.parametrize("name, padding", [("pascal_voc", "buffer"), ("camvid", "same"),
                                           ("kitti", "same"), ("cityscapes", "same")])
def test_checked_in_stages_use_the_released_context_convolutions(name, padding):
    assert DATASETS[name].context_padding == padding
    assert_rule(REPO / "caffe_models" / name, DATASETS[name], padding)


@pytest.mark.parametrize("name, padding", [("pascal_voc", "same"), ("kitti", "buffer")])
def test_context_padding_option_changes_every_net_alike(tmp_path, name, padding):
    assert generate(["--dataset", name, "--context-padding", padding, "--out", str(tmp_path)]) == 0
    assert_rule(tmp_path / name, DATASETS[name], padding)


def assert_upsampled_loss(net, name, classes):
    up = layer(net, name)
    cp = up.convolution_param
    assert up.type == "Deconvolution"
    assert (cp.kernel_size, cp.stride, cp.pad, cp.group, cp.num_output) == ([16], [8], [4], classes, classes)
    assert not cp.bias_term and cp.weight_filler.type == "bilinear"
    assert [(p.lr_mult, p.decay_mult) for p in up.param] == [(0, 0)]
    assert layer(net, "loss").bottom == [name, "label"]
    label = layer(net, "label")
    assert label.type == "Crop" and label.bottom == ["label_full", name]
    assert list(label.crop_param.offset) == [186] and label.crop_param.axis == 2
    assert not any(l.name in ("label_crop", "label_subsample") for l in net.layer)
    assert {l.type for l in net.layer} <= {"Data", "Slice", "Convolution", "ReLU", "Dropout", "Pooling",
                                           "Deconvolution", "Crop", "SoftmaxWithLoss", "Accuracy"}


@pytest.mark.parametrize("stage, name", [("frontend", "upsample"), ("joint", "ctx_upsample")])
def test_cityscapes_trains_after_the_released_upsampling(stage, name):
    folder = REPO / "caffe_models" / "cityscapes"
    for phase in ("train", "test"):
        assert_upsampled_loss(parsed(folder / ("%s_%s.prototxt" % (stage, phase))), name, 19)
    deploy = "frontend_deploy.prototxt" if stage == "frontend" else released_deploy(DATASETS["cityscapes"])
    assert layer(parsed(folder / deploy), "prob").bottom == [name]


def test_train_upsampled_option_for_other_data_sets(tmp_path):
    assert generate(["--dataset", "camvid", "--train-upsampled", "--out", str(tmp_path)]) == 0
    folder = tmp_path / "camvid"
    for stage in ("frontend", "joint"):
        for phase in ("train", "test"):
            assert_upsampled_loss(parsed(folder / ("%s_%s.prototxt" % (stage, phase))), "upsample", 11)
    assert layer(parsed(folder / "dilation8_camvid_deploy.prototxt"), "prob").bottom == ["upsample"]
    plain = parsed(REPO / "caffe_models" / "camvid" / "joint_train.prototxt")
    assert layer(plain, "loss").bottom == ["ctx_final", "label"]


@pytest.mark.parametrize("preset, rates", [
    ("paper", dict(frontend=1e-3, context=1e-3, joint=1e-5, frontend_coco_stage1=1e-3)),
    ("authors-code", dict(frontend=1e-4, context=1e-3, joint=1e-5, frontend_coco_stage1=1e-3)),
])
def test_learning_rate_presets(tmp_path, preset, rates):
    assert generate(["--dataset", "pascal_voc", "--lr-preset", preset, "--out", str(tmp_path)]) == 0
    for name, lr in rates.items():
        s = parsed(tmp_path / "pascal_voc" / ("%s_solver.prototxt" % name), pb.SolverParameter)
        assert s.base_lr == pytest.approx(lr), name


def test_no_test_net_and_short_schedules(tmp_path):
    assert generate(["--dataset", "cityscapes", "--no-test-net", "--max-iter", "joint=30",
                     "--out", str(tmp_path)]) == 0
    s = parsed(tmp_path / "cityscapes" / "joint_solver.prototxt", pb.SolverParameter)
    assert not s.test_net and not s.test_iter and not s.HasField("test_interval")
    assert (s.max_iter, s.snapshot) == (30, 30)
    front = parsed(tmp_path / "cityscapes" / "frontend_solver.prototxt", pb.SolverParameter)
    assert front.max_iter == 60000 and front.snapshot == 2000


@pytest.mark.parametrize("args, message", [
    (["--max-iter", "warmup=3"], "unknown stage"),
    (["--max-iter", "joint=x"], "not a whole number"),
    (["--deploy-size", "300"], "larger than 372"),
    (["--context-padding", "reflect"], "invalid choice"),
])
def test_bad_recipe_options_are_one_line(capsys, args, message):
    with pytest.raises(SystemExit) as e:
        generate(args + ["--out", "unused"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
