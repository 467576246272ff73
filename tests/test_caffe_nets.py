"""Every generated net and solver, judged by real BVLC Caffe."""
import math
from dataclasses import replace

import pytest
from google.protobuf import text_format

from helpers import DEPLOY_SHAPES, run_caffe
from prototxt_gen.generate import Options, all_files
from prototxt_gen.nets import deploy_net, upsample_name
from prototxt_gen.shapes import context_fields, inputs, load, trace
from prototxt_gen.spec.datasets import DATASETS
from prototxt_gen.spec.paths import released_deploy

pytestmark = pytest.mark.caffe

FILES = sorted(all_files(Options()))
NETS = [p for p in FILES if not p.endswith("_solver.prototxt")]
SOLVERS = [p for p in FILES if p.endswith("_solver.prototxt")]
VOC_DEPLOY = "caffe_models/pascal_voc/dilation8_pascal_voc_deploy.prototxt"


def phase(path):
    return "train" if path.endswith("_train.prototxt") else "test"


def assert_report_agrees(path, caffe_blobs):
    """The report's size for every top equals the blob Caffe allocated."""
    net = load(path)
    for row in trace(net, inputs(net)):
        shape = caffe_blobs[row.top]
        if row.blob is None:
            assert shape == [], row
            continue
        assert shape[2:] == [row.blob.height, row.blob.width], row
        if row.blob.channels is not None:
            assert shape[1] == row.blob.channels, row


@pytest.mark.parametrize("path", NETS)
def test_checked_in_net_instantiates(full_size_workdir, path):
    result = run_caffe("load", cwd=full_size_workdir, path=path, phase=phase(path))
    assert result["layers"]
    assert_report_agrees(full_size_workdir / path, result["blobs"])


@pytest.mark.parametrize("path", SOLVERS)
def test_checked_in_solver_builds(full_size_workdir, path):
    result = run_caffe("solver", cwd=full_size_workdir, path=path)
    assert result["test_nets"] == 1
    assert "loss" in result["train_blobs"] and "accuracy" in result["test_blobs"][0]


@pytest.mark.parametrize("name", DEPLOY_SHAPES)
def test_deploy_output_shape(full_size_workdir, name):
    path = "caffe_models/%s/%s" % (name, released_deploy(DATASETS[name]))
    blobs = run_caffe("load", cwd=full_size_workdir, path=path, phase="test")["blobs"]
    assert blobs["prob"] == [1, *DEPLOY_SHAPES[name]]


def test_voc_deploy_parameter_count(full_size_workdir):
    result = run_caffe("load", cwd=full_size_workdir, path=VOC_DEPLOY, phase="test")
    assert result["params"] == 141_149_720


def test_front_end_train_net_at_crop_500(full_size_workdir):
    path = "caffe_models/pascal_voc/frontend_train.prototxt"
    blobs = run_caffe("load", cwd=full_size_workdir, path=path, phase="train")["blobs"]
    assert blobs["data"] == [7, 3, 500, 500]
    assert blobs["fc-final"] == [7, 21, 16, 16]
    assert blobs["label"] == [7, 1, 16, 16]


def small_train_nets():
    for name, ds in DATASETS.items():
        stages = ["frontend", "context", "joint"] + (["frontend_coco"] if ds.coco else [])
        for stage in stages:
            yield name, stage


@pytest.mark.parametrize("name, stage", list(small_train_nets()))
def test_forward_backward_every_train_net(small_models, name, stage):
    ds = DATASETS[name]
    first = ds.context().names()[0] if stage == "context" else "conv1_1"
    path = small_models / name / ("%s_train.prototxt" % stage)
    result = run_caffe("forward_backward", path=str(path), first_param=first)
    assert math.isfinite(result["loss"]) and result["loss"] > 0
    assert result["first_grad_abs_sum"] > 0, "no gradient reached %s" % first
    blobs = result["blobs"]
    score = ds.classifier if stage.startswith("frontend") else ds.context().names()[-1]
    if ds.zoom == 1 and stage != "context":  # Cityscapes: the loss reads the x8 upsampled scores
        score = upsample_name(ds, stage)
        assert blobs[score][2:] == [8 * n for n in blobs[ds.classifier][2:]]
    assert blobs["label"][2:] == blobs[score][2:]
    assert blobs[score][1] == ds.classes


@pytest.mark.parametrize("name, stage", [(n, s) for n in DATASETS for s in ("frontend", "context", "joint")])
def test_forward_every_test_net(small_models, name, stage):
    result = run_caffe("test_forward", path=str(small_models / name / ("%s_test.prototxt" % stage)))
    assert 0 <= result["accuracy"] <= 1 and math.isfinite(result["loss"])


@pytest.mark.parametrize("name", DATASETS)
def test_receptive_fields_measured_by_backprop(tmp_path, name):
    """Table 1's receptive fields, measured in Caffe, equal the report's."""
    ds = DATASETS[name]
    module = ds.context()
    size = module.receptive_fields()[-1] + 2
    net = deploy_net(replace(ds, context_crop=size), "context")
    net.force_backward = True
    path = tmp_path / "context.prototxt"
    path.write_text(text_format.MessageToString(net))
    names = module.names()
    measured = run_caffe("receptive_fields", path=str(path), layers=names)
    reported = context_fields(net, trace(net, inputs(net)))
    assert [measured[n] for n in names] == [[rf, rf] for rf in module.receptive_fields()]
    assert [reported[n] for n in names] == module.receptive_fields()
