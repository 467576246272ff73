"""The generated nets and solvers say what the paper and docs/design.md say."""
import pytest
from google.protobuf import text_format

from helpers import REPO
from prototxt_gen.generate import Options, all_files, render
from prototxt_gen.schema import pb
from prototxt_gen.spec.datasets import DATASETS
from prototxt_gen.spec.paths import released_deploy
from prototxt_gen.spec.table1 import ContextModule

FILES = all_files(Options())
VOC = "caffe_models/pascal_voc/"


def parsed(path, kind=pb.NetParameter):
    return text_format.Parse((REPO / path).read_text(), kind())


def layer(net, name):
    return next(l for l in net.layer if l.name == name)


def test_checked_in_files_are_current():
    on_disk = {str(p.relative_to(REPO)) for p in (REPO / "caffe_models").rglob("*.prototxt")}
    assert on_disk == set(FILES), "run `python -m prototxt_gen` and commit caffe_models/"
    for path, message in FILES.items():
        assert (REPO / path).read_text() == render(message), "%s is stale: run python -m prototxt_gen" % path


def test_released_deploy_names():
    names = {p.rsplit("/", 1)[1] for p in FILES if "dilation" in p}
    assert names == {"dilation8_pascal_voc_deploy.prototxt", "dilation8_camvid_deploy.prototxt",
                     "dilation7_kitti_deploy.prototxt", "dilation10_cityscapes_deploy.prototxt"}


@pytest.mark.parametrize("layers, dilations, rf", [
    (7, [1, 1, 2, 4, 8, 1, 1], [3, 5, 9, 17, 33, 35, 35]),
    (8, [1, 1, 2, 4, 8, 16, 1, 1], [3, 5, 9, 17, 33, 65, 67, 67]),
    (10, [1, 1, 2, 4, 8, 16, 32, 64, 1, 1], [3, 5, 9, 17, 33, 65, 129, 257, 259, 259]),
])
def test_context_module_table1(layers, dilations, rf):
    specs = ContextModule(21, layers).layers()
    assert [s.dilation for s in specs] == dilations
    assert [s.kernel for s in specs] == [3] * (layers - 1) + [1]
    assert [s.relu for s in specs] == [True] * (layers - 1) + [False]
    assert ContextModule(21, layers).receptive_fields() == rf
    assert [s.pad for s in specs] == dilations[:-1] + [0]  # "same"
    assert [s.pad for s in ContextModule(21, layers, padding="buffer").layers()] == \
        [(rf[-1] - 1) // 2] + [0] * (layers - 1)


def test_large_module_widths_and_identity_shapes():
    c = 21
    large = ContextModule(c, 8, "large").layers()
    assert [s.c_out for s in large] == [2 * c, 2 * c, 4 * c, 8 * c, 16 * c, 32 * c, 32 * c, c]
    assert [s.weight_shape for s in large][:2] == [(42, 21, 3, 3), (42, 42, 3, 3)]
    assert large[-1].weight_shape == (21, 672, 1, 1)
    assert all(s.c_in == s.c_out == c for s in ContextModule(c, 8).layers())


def test_voc_deploy_matches_released_model():
    net = parsed(VOC + "dilation8_pascal_voc_deploy.prototxt")
    convs = [l for l in net.layer if l.type == "Convolution"]
    names = [l.name for l in convs]
    assert names[-9:] == ["fc-final", "ct_conv1_1", "ct_conv1_2", "ct_conv2_1", "ct_conv3_1",
                          "ct_conv4_1", "ct_conv5_1", "ct_fc1", "ct_final"]
    assert layer(net, "ct_conv1_1").convolution_param.pad == [33]
    assert all(not l.convolution_param.pad for l in convs if l.name != "ct_conv1_1")
    assert [l.name for l in net.layer if l.type == "Pooling"] == ["pool1", "pool2", "pool3"]
    assert layer(net, "conv5_1").convolution_param.dilation == [2]
    fc6 = layer(net, "fc6").convolution_param
    assert (fc6.kernel_size, fc6.dilation, fc6.num_output) == ([7], [4], 4096)
    final = layer(net, "fc-final")
    assert final.convolution_param.weight_filler.std == pytest.approx(0.001)
    assert not any(l.type == "ReLU" and l.bottom == ["fc-final"] for l in net.layer)
    assert all([(p.lr_mult, p.decay_mult) for p in c.param] == [(1, 1), (2, 0)] for c in convs)


@pytest.mark.parametrize("name, classifier, prefix", [
    ("camvid", "final", "ctx_"), ("kitti", "final", "ctx_"), ("cityscapes", "final", "ctx_")])
def test_other_deploy_nets_use_basic_same_module(name, classifier, prefix):
    ds = DATASETS[name]
    net = parsed("caffe_models/%s/%s" % (name, released_deploy(ds)))
    layer(net, classifier)
    ctx = [l for l in net.layer if l.name.startswith(prefix) and l.type == "Convolution"]
    assert len(ctx) == ds.context_layers
    assert all(l.convolution_param.num_output == ds.classes for l in ctx)
    assert [list(l.convolution_param.pad) for l in ctx] == \
        [[d] for d in ds.context().dilations()] + [[]]


def test_cityscapes_upsample():
    net = parsed("caffe_models/cityscapes/dilation10_cityscapes_deploy.prototxt")
    up = layer(net, "ctx_upsample")
    cp = up.convolution_param
    assert up.type == "Deconvolution"
    assert (cp.kernel_size, cp.stride, cp.pad, cp.group, cp.num_output) == ([16], [8], [4], 19, 19)
    assert not cp.bias_term and cp.weight_filler.type == "bilinear"
    assert [(p.lr_mult, p.decay_mult) for p in up.param] == [(0, 0)]
    assert layer(net, "prob").bottom == ["ctx_upsample"]


def test_training_data_layers_follow_design_3b():
    train, test = parsed(VOC + "frontend_train.prototxt"), parsed(VOC + "frontend_test.prototxt")
    for net, phase, mirror, batch in ((train, pb.TRAIN, True, 7), (test, pb.TEST, False, 1)):
        data = layer(net, "data_label")
        assert data.type == "Data" and data.include[0].phase == phase
        tp = data.transform_param
        assert (tp.crop_size, tp.mirror) == (500, mirror)
        assert list(tp.mean_value) == pytest.approx([102.93, 111.36, 116.52, 0])
        assert data.data_param.batch_size == batch and data.data_param.backend == pb.DataParameter.LMDB
        assert layer(net, "slice").slice_param.slice_point == [3]
        assert layer(net, "label_crop").bottom == ["label_full", "conv1_1"]
        assert layer(net, "label_crop").crop_param.offset == [2]
        pool = layer(net, "label_subsample").pooling_param
        assert (pool.kernel_size, pool.stride, pool.pool) == (1, 8, pb.PoolingParameter.MAX)
        assert layer(net, "label").crop_param.offset == [23]
        assert layer(net, "label").bottom == ["label_subsample", "fc-final"]
        loss = layer(net, "loss")
        assert loss.loss_param.ignore_label == 255
        assert loss.loss_param.normalization == pb.LossParameter.VALID
        assert list(loss.propagate_down) == [True, False]
    assert layer(test, "accuracy").accuracy_param.ignore_label == 255
    assert {l.name for l in train.layer if l.type == "Dropout"} == {"drop6", "drop7"}
    assert not any(l.type == "Dropout" for l in test.layer)


def test_context_training_reads_features_and_label():
    net = parsed(VOC + "context_train.prototxt")
    tp = layer(net, "data_label").transform_param
    assert (tp.crop_size, tp.mirror, list(tp.mean_value)) == (66, True, [])
    assert layer(net, "slice").slice_param.slice_point == [21]
    assert layer(net, "ct_conv1_1").bottom == ["data"]
    assert layer(net, "loss").bottom == ["ct_final", "label"]


def solver(path):
    return parsed(path, pb.SolverParameter)


@pytest.mark.parametrize("name, lr, max_iter, policy, drops", [
    ("frontend", 1e-3, 60000, "fixed", []),
    ("frontend_coco_stage1", 1e-3, 140000, "multistep", [100000]),
    ("frontend_coco_stage2", 1e-5, 50000, "fixed", []),
    ("context", 1e-3, 40000, "fixed", []),
    ("joint", 1e-5, 40000, "fixed", []),
])
def test_voc_schedules(name, lr, max_iter, policy, drops):
    s = solver(VOC + name + "_solver.prototxt")
    assert s.base_lr == pytest.approx(lr) and s.max_iter == max_iter
    assert s.lr_policy == policy and list(s.stepvalue) == drops
    if drops:
        assert s.gamma == pytest.approx(0.1)
    assert s.momentum == pytest.approx(0.9) and s.weight_decay == pytest.approx(5e-4)
    assert s.snapshot == 2000 and s.snapshot_prefix == "snapshots/pascal_voc/" + name
    assert s.solver_mode == pb.SolverParameter.GPU


def test_effective_batch_is_14_and_solvers_name_their_nets():
    s = solver(VOC + "frontend_solver.prototxt")
    train = parsed(s.train_net)
    assert layer(train, "data_label").data_param.batch_size * s.iter_size == 14
    assert s.test_net == [VOC + "frontend_test.prototxt"]
    assert solver(VOC + "frontend_coco_stage1_solver.prototxt").train_net == VOC + "frontend_coco_train.prototxt"
    assert layer(parsed(VOC + "frontend_coco_train.prototxt"), "data_label").data_param.source == \
        "data/pascal_voc/train_coco_lmdb"
    assert solver(VOC + "frontend_coco_stage2_solver.prototxt").train_net == VOC + "frontend_train.prototxt"


def test_solvers_use_no_field_caffe_1_0_lacks():
    for path in FILES:
        if path.endswith("_solver.prototxt"):
            text = (REPO / path).read_text()
            assert "\nweights:" not in text and "\ntype:" not in text, path
