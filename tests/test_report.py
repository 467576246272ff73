"""Sizes and receptive fields from the prototxt alone, with Caffe's rounding."""
import pytest
from google.protobuf import text_format

from helpers import DEPLOY_SHAPES, REPO
from prototxt_gen.schema import pb
from prototxt_gen.shapes import (Blob, ReportError, context_fields, inputs, layer_outputs, load,
                                  trace)
from prototxt_gen.spec.datasets import DATASETS
from prototxt_gen.spec.grid import output_size
from prototxt_gen.spec.paths import released_deploy



def rows(path):
    net = load(REPO / path)
    return net, trace(net, inputs(net))


@pytest.mark.parametrize("name", DEPLOY_SHAPES)
def test_deploy_output_shapes(name):
    _, rs = rows("caffe_models/%s/%s" % (name, released_deploy(DATASETS[name])))
    prob = next(r.blob for r in rs if r.top == "prob")
    assert (prob.channels, prob.height, prob.width) == DEPLOY_SHAPES[name]


def test_front_end_train_at_crop_500_gives_16x16():
    _, rs = rows("caffe_models/pascal_voc/frontend_train.prototxt")
    blobs = {r.top: r.blob for r in rs}
    assert (blobs["fc-final"].height, blobs["label"].height) == (16, 16)
    assert blobs["fc-final"].rf == (380, 380) and blobs["fc-final"].jump == (8, 8)
    assert [output_size(s) for s in (500, 900, 1396)] == [16, 66, 128]


@pytest.mark.parametrize("name, row", [
    ("kitti", [3, 5, 9, 17, 33, 35, 35]),
    ("pascal_voc", [3, 5, 9, 17, 33, 65, 67, 67]),
    ("cityscapes", [3, 5, 9, 17, 33, 65, 129, 257, 259, 259]),
])
def test_context_receptive_fields(name, row):
    for f in ("context_deploy.prototxt", released_deploy(DATASETS[name])):
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
    ip = pb.LayerParameter(name="fc", type="InnerProduct", bottom=["x"], top=["fc"],
                           inner_product_param=pb.InnerProductParameter(num_output=10))
    (out,) = layer_outputs(ip, [Blob((1, 512, 7, 7), rf=(212, 212), jump=(32, 32))])
    assert (out.dims, out.rf) == ((1, 10), (212 + 6 * 32,) * 2)  # Caffe's N x num_output


# ---- Caffe's window rules (the random-net test in test_geometry_caffe.py holds
# them against real Caffe; these name the cases that once crashed or misreported)

def one_layer(text, size=(3, 20, 15)):
    net = text_format.Parse(
        'layer { name: "d" type: "Input" top: "d" input_param { shape { dim: 1 dim: %d dim: %d '
        'dim: %d } } } layer { name: "x" bottom: "d" top: "x" %s }' % (size + (text,)),
        pb.NetParameter())
    return {r.top: r.blob for r in trace(net, inputs(net))}["x"]


@pytest.mark.parametrize("text, shape, rf", [
    ('type: "Convolution" convolution_param { num_output: 2 kernel_h: 3 kernel_w: 1 }',
     (2, 18, 15), (3, 1)),
    ('type: "Convolution" convolution_param { num_output: 2 kernel_size: 5 kernel_size: 3 '
     'stride: 2 stride: 1 pad: 1 dilation: 2 }', (2, 7, 13), (9, 5)),
    ('type: "Convolution" convolution_param { num_output: 2 kernel_size: 4 stride_h: 3 '
     'stride_w: 2 }', (2, 6, 6), (4, 4)),  # C's division truncates: (20 - 4) / 3 + 1 = 6
    ('type: "Deconvolution" convolution_param { num_output: 3 group: 3 kernel_h: 4 kernel_w: 2 '
     'stride: 2 pad_h: 1 }', (3, 40, 30), (2.5, 1.5)),
    ('type: "Pooling" pooling_param { global_pooling: true }', (3, 1, 1), (20, 15)),
    ('type: "Pooling" pooling_param { kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 3 }',
     (3, 10, 6), (3, 2)),
    ('type: "Pooling" pooling_param { kernel_size: 2 stride_h: 2 stride_w: 3 pad_h: 1 pad_w: 0 }',
     (3, 11, 5), (2, 2)),  # padding on one axis clips the last window on both
])
def test_window_layers_follow_caffe(text, shape, rf):
    blob = one_layer(text)
    assert (blob.channels, blob.height, blob.width) == shape and blob.rf == rf


@pytest.mark.parametrize("text, words", [
    ('type: "Convolution" convolution_param { num_output: 2 kernel_size: 3 stride: 0 }', "stride"),
    ('type: "Convolution" convolution_param { num_output: 2 kernel_size: 3 kernel_h: 3 '
     'kernel_w: 3 }', "not both"),
    ('type: "Convolution" convolution_param { num_output: 2 kernel_size: 1 kernel_size: 2 '
     'kernel_size: 3 }', "once per spatial axis"),
    ('type: "Convolution" convolution_param { num_output: 2 }', "kernel_size"),
    ('type: "Convolution" convolution_param { num_output: 2 kernel_size: 1 group: 2 }',
     "input channels"),
    ('type: "Pooling" pooling_param { kernel_h: 2 }', "kernel_h and kernel_w"),
    ('type: "Pooling" pooling_param { kernel_size: 2 pad: 2 }', "smaller than the kernel"),
    ('type: "Pooling" pooling_param { global_pooling: true stride: 2 }', "stride 1"),
    ('type: "Convolution" convolution_param { num_output: 2 kernel_size: 30 }', "output"),
])
def test_nets_caffe_rejects_are_errors(text, words):
    with pytest.raises(ReportError, match=words):
        one_layer(text)
