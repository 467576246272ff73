"""Sizes and receptive fields from the prototxt alone, with Caffe's rounding."""
import pytest

from conftest import REPO
from prototxt_gen.datasets import DATASETS
from prototxt_gen.frontend import output_size
from prototxt_gen.report import context_fields, load, trace, inputs

DEPLOY_SHAPES = {"pascal_voc": (21, 66, 66), "camvid": (11, 66, 91),
                 "kitti": (11, 60, 159), "cityscapes": (19, 1024, 1024)}


def rows(path):
    net = load(REPO / path)
    return net, trace(net, inputs(net))


@pytest.mark.parametrize("name", DEPLOY_SHAPES)
def test_deploy_output_shapes(name):
    _, rs = rows("caffe_models/%s/%s" % (name, DATASETS[name].deploy_name))
    prob = next(r.blob for r in rs if r.top == "prob")
    assert (prob.channels, prob.height, prob.width) == DEPLOY_SHAPES[name]


def test_front_end_train_at_crop_500_gives_16x16():
    _, rs = rows("caffe_models/pascal_voc/frontend_train.prototxt")
    blobs = {r.top: r.blob for r in rs}
    assert (blobs["fc-final"].height, blobs["label"].height) == (16, 16)
    assert blobs["fc-final"].rf == 380 and blobs["fc-final"].jump == 8
    assert [output_size(s) for s in (500, 900, 1396)] == [16, 66, 128]


@pytest.mark.parametrize("name, row", [
    ("kitti", [3, 5, 9, 17, 33, 35, 35]),
    ("pascal_voc", [3, 5, 9, 17, 33, 65, 67, 67]),
    ("cityscapes", [3, 5, 9, 17, 33, 65, 129, 257, 259, 259]),
])
def test_context_receptive_fields(name, row):
    for f in ("context_deploy.prototxt", DATASETS[name].deploy_name):
        net, rs = rows("caffe_models/%s/%s" % (name, f))
        assert list(context_fields(net, rs).values()) == row


def test_legacy_input_fields_like_the_released_nets(tmp_path):
    """The released deploy nets declare `input:` / `input_dim:` instead of an Input layer."""
    text = (REPO / "caffe_models/pascal_voc/dilation8_pascal_voc_deploy.prototxt").read_text()
    body = text.split("layer {", 2)[2]  # drop the Input layer
    legacy = tmp_path / "legacy.prototxt"
    legacy.write_text('input: "data"\n' + "".join("input_dim: %d\n" % d for d in (1, 3, 900, 900))
                      + "layer {" + body)
    _, rs = rows(legacy)
    prob = next(r.blob for r in rs if r.top == "prob")
    assert (prob.channels, prob.height, prob.width) == DEPLOY_SHAPES["pascal_voc"]


def test_inner_product_sees_its_whole_input():
    from prototxt_gen.report import Blob, layer_outputs
    from prototxt_gen.schema import pb
    ip = pb.LayerParameter(name="fc", type="InnerProduct", bottom=["x"], top=["fc"],
                           inner_product_param=pb.InnerProductParameter(num_output=10))
    (out,) = layer_outputs(ip, {"x": Blob(512, 7, 7, rf=212, jump=32)})
    assert (out.channels, out.height, out.width, out.rf) == (10, 1, 1, 212 + 6 * 32)
