"""The weight tools without Caffe: reading both caffemodel formats, .npz round
trips, shape checks against nets, VGG-16 -> front end, identity and bilinear
weights, joint merge.  (Caffe's own verdicts: test_weights_caffe.py.)"""
import json
from types import SimpleNamespace

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from helpers import REPO
from prototxt_gen.nets import deploy_net
from prototxt_gen.schema import pb
from prototxt_gen.spec.datasets import DATASETS
from prototxt_gen.spec.table1 import ContextModule
from tools.weights import WeightsError
from tools.weights.bilinear import bilinear
from tools.weights.caffemodel import Caffemodel, Layer, v1_type, write
from tools.weights.identity import context_init
from tools.weights.merge import merge
from tools.weights.netcheck import fit, load_net, param_shapes
from tools.weights.npz import Npz, describe, save
from tools.weights.vgg16 import default_net, front_end_init, without_filler
from weights_fixtures import (NARROW, POOL5, SMALL_NET_SHAPES, narrow, small_net, vgg_v1_shapes,
                              write_vgg_v1)

MODULES = [(w, n) for w in ("basic", "large") for n in (7, 8, 10)]


def arrays(model):
    return {name: layer.load() for name, layer in model.layers.items()}


def random_layers(shapes, seed=0, type_="Convolution"):
    rng = np.random.default_rng(seed)
    return {name: Layer.of(name, type_, [rng.normal(size=s).astype(np.float32) for s in blobs])
            for name, blobs in shapes.items()}


@pytest.fixture(scope="module")
def vgg_narrow(tmp_path_factory):
    return write_vgg_v1(tmp_path_factory.mktemp("vgg") / "vgg16_v1_narrow.caffemodel", NARROW)


# --- caffemodel files -------------------------------------------------------------

def test_write_then_read_keeps_names_types_shapes_and_bits(tmp_path):
    special = np.array([-0.0, np.nan, np.inf, 1e-45], np.float32)
    weights = np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)
    layers = {"a": Layer.of("a", "Convolution", [weights, np.array([0.5, -1.5 - 1e-12])]),
              "b": Layer.of("b", "InnerProduct", [special.reshape(2, 2), np.zeros(0, np.float32)]),
              "c": Layer.of("c", "Scale", [np.float32(3).reshape(())])}
    write(tmp_path / "m.caffemodel", layers.values(), "n")
    model = Caffemodel(tmp_path / "m.caffemodel")
    assert (model.name, model.legacy) == ("n", False)
    assert [(l.name, l.type, l.shapes) for l in model.layers.values()] == [
        ("a", "Convolution", ((2, 3, 2, 2), (2,))), ("b", "InnerProduct", ((2, 2), (0,))),
        ("c", "Scale", ((),))]
    for name, got in arrays(model).items():  # float64 stored as Caffe reads it: float32
        for g, want in zip(got, layers[name].load()):
            assert g.dtype == np.float32 and g.tobytes() == want.astype(np.float32).tobytes()


def test_file_is_a_plain_net_parameter_of_our_schema(tmp_path):
    """The fast writer's output parses with the true schema: layer, type, BlobShape."""
    ones = np.ones((2, 1, 1, 1), np.float32)
    write(tmp_path / "m.caffemodel", [Layer.of("a", "Convolution", [ones])], "n")
    net = pb.NetParameter.FromString((tmp_path / "m.caffemodel").read_bytes())
    assert net.name == "n" and len(net.layer) == 1 and not net.layers
    blob = net.layer[0].blobs[0]
    assert list(blob.shape.dim) == [2, 1, 1, 1] and list(blob.data) == [1, 1]


def test_v1_vgg_reads_with_caffes_upgraded_shapes(vgg_narrow):
    model = Caffemodel(vgg_narrow)
    assert model.legacy and model.name == "VGG_ILSVRC_16_layers"
    expected = vgg_v1_shapes(NARROW)
    assert list(model.layers) == list(expected)  # blob-less RELU/POOLING/... not listed
    fc6 = model.layers["fc6"]
    assert fc6.type == "InnerProduct"
    assert fc6.shapes == ((20, 12 * POOL5 * POOL5), (20,))
    assert fc6.file_shapes == ((1, 1, 20, 12 * POOL5 * POOL5), (1, 1, 1, 20))
    conv = model.layers["conv2_1"]
    assert conv.type == "Convolution" and conv.shapes == ((6, 4, 3, 3), (6,))
    assert conv.load()[1].shape == (6,)


def test_v1_type_names_are_caffes():
    names = {v: v1_type(getattr(pb.V1LayerParameter, v)) for v in
             ("CONVOLUTION", "INNER_PRODUCT", "RELU", "SOFTMAX_LOSS", "HDF5_DATA", "DECONVOLUTION",
              "TANH", "LRN", "SIGMOID_CROSS_ENTROPY_LOSS", "ABSVAL")}
    assert names == {"CONVOLUTION": "Convolution", "INNER_PRODUCT": "InnerProduct", "RELU": "ReLU",
                     "SOFTMAX_LOSS": "SoftmaxWithLoss", "HDF5_DATA": "HDF5Data",
                     "DECONVOLUTION": "Deconvolution", "TANH": "TanH", "LRN": "LRN",
                     "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "ABSVAL": "AbsVal"}


def test_legacy_blob_dims_in_the_current_format_are_upgraded_too(tmp_path):
    net = pb.NetParameter()
    ip = net.layer.add(name="ip", type="InnerProduct")
    ip.blobs.add(num=1, channels=1, height=2, width=3, data=range(6))
    ip.blobs.add(num=1, channels=1, height=1, width=2, double_data=[7, 8])
    conv = net.layer.add(name="conv", type="Convolution")
    conv.blobs.add(num=1, channels=2, height=1, width=1, data=[1, 2])  # one output: stays 4-D
    (tmp_path / "m.caffemodel").write_bytes(net.SerializeToString())
    model = Caffemodel(tmp_path / "m.caffemodel")
    assert model.layers["ip"].shapes == ((2, 3), (2,))
    assert model.layers["conv"].shapes == ((1, 2, 1, 1),)
    weights, bias = model.layers["ip"].load()
    assert weights.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert bias.dtype == np.float64 and bias.tolist() == [7, 8]


def unpacked_net_class():
    """Our schema with `data` not packed, as a writer without [packed=true] emits it."""
    proto = descriptor_pb2.FileDescriptorProto()
    pb.DESCRIPTOR.CopyToProto(proto)
    blob = next(m for m in proto.message_type if m.name == "BlobProto")
    next(f for f in blob.field if f.name == "data").options.packed = False
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    net = pool.FindMessageTypeByName(pb.NetParameter.DESCRIPTOR.full_name)
    return message_factory.GetMessageClass(net)


def test_unpacked_floats_are_read_exactly(tmp_path):
    net = unpacked_net_class()()
    net.layer.add(name="a", type="Convolution").blobs.add(shape={"dim": [3]}, data=[1.5, -2, 3])
    data = net.SerializeToString()
    assert data != pb.NetParameter.FromString(data).SerializeToString()  # really unpacked
    (tmp_path / "m.caffemodel").write_bytes(data)
    assert Caffemodel(tmp_path / "m.caffemodel").layers["a"].load()[0].tolist() == [1.5, -2, 3]


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[: len(b) // 2], "not a caffemodel, or it is truncated"),
    (lambda b: b"", "holds no layers"),
    (lambda b: b"name: 'not binary'\n", "not a caffemodel"),
], ids=["truncated", "empty", "text"])
def test_bad_files_raise_one_clear_error(tmp_path, vgg_narrow, mutate, message):
    (tmp_path / "bad.caffemodel").write_bytes(mutate(vgg_narrow.read_bytes()))
    with pytest.raises(WeightsError, match=message):
        Caffemodel(tmp_path / "bad.caffemodel")


def test_missing_file_and_inconsistent_blobs(tmp_path):
    with pytest.raises(WeightsError, match="cannot read .*nope.caffemodel: No such file"):
        Caffemodel(tmp_path / "nope.caffemodel")
    net = pb.NetParameter()
    net.layer.add(name="a", type="Convolution").blobs.add(shape={"dim": [2, 3]}, data=range(5))
    net.layer.add(name="a", type="Convolution").blobs.add(data=[1])
    (tmp_path / "m.caffemodel").write_bytes(net.SerializeToString())
    with pytest.raises(WeightsError, match="holds layer 'a' twice"):
        Caffemodel(tmp_path / "m.caffemodel")
    del net.layer[1]
    (tmp_path / "m.caffemodel").write_bytes(net.SerializeToString())
    with pytest.raises(WeightsError, match="layer 'a' blob 0 holds 5 values, its shape"):
        Caffemodel(tmp_path / "m.caffemodel").layers["a"].load()


# --- .npz ---------------------------------------------------------------------

def test_npz_holds_every_blob_and_a_manifest(tmp_path, vgg_narrow):
    model = Caffemodel(vgg_narrow)
    manifest = save(tmp_path / "w.npz", model)
    plain = np.load(tmp_path / "w.npz")  # numpy alone reads it
    keys = ["%s/%d" % (name, i) for name in model.layers for i in (0, 1)]
    assert sorted(plain.files) == sorted(["manifest"] + keys)
    assert json.loads(str(plain["manifest"])) == manifest
    assert manifest["format"].startswith("V1") and manifest["net"] == "VGG_ILSVRC_16_layers"
    fc6 = next(e for e in manifest["layers"] if e["name"] == "fc6")
    assert fc6 == {"name": "fc6", "type": "InnerProduct", "shapes": [[20, 588], [20]],
                   "dtypes": ["float32", "float32"],
                   "file_shapes": [[1, 1, 20, 588], [1, 1, 1, 20]]}
    text = describe(manifest)
    assert "16 layers with weights" in text and "20x588 (stored 1x1x20x588)" in text
    for name, blobs in arrays(model).items():
        for i, want in enumerate(blobs):
            assert plain["%s/%d" % (name, i)].tobytes() == want.tobytes()


def test_npz_back_to_caffemodel_is_byte_identical_to_our_own_write(tmp_path):
    layers = random_layers(SMALL_NET_SHAPES)
    net = small_net()
    layers["up"] = Layer.of("up", "Deconvolution", [bilinear((6, 1, 4, 4))])
    fitted, _ = fit(net, layers)
    write(tmp_path / "a.caffemodel", fitted, net.name)
    save(tmp_path / "a.npz", Caffemodel(tmp_path / "a.caffemodel"))
    back, left = fit(net, Npz(tmp_path / "a.npz").layers, required=())
    write(tmp_path / "b.caffemodel", back, net.name)
    assert left == []
    assert (tmp_path / "a.caffemodel").read_bytes() == (tmp_path / "b.caffemodel").read_bytes()


def test_npz_written_by_numpy_alone_works_and_bad_ones_are_named(tmp_path):
    np.savez(tmp_path / "plain.npz", **{"conv/0": np.ones((6, 2, 3, 3)), "conv/1": np.zeros(6)})
    npz = Npz(tmp_path / "plain.npz")
    assert npz.manifest is None and npz.layers["conv"].shapes == ((6, 2, 3, 3), (6,))
    np.savez(tmp_path / "gap.npz", **{"conv/0": np.ones(1), "conv/2": np.ones(1)})
    with pytest.raises(WeightsError, match=r"layer 'conv' has blobs \[0, 2\]"):
        Npz(tmp_path / "gap.npz")
    np.savez(tmp_path / "name.npz", conv=np.ones(1))
    with pytest.raises(WeightsError, match="not named <layer>/<blob index>"):
        Npz(tmp_path / "name.npz")
    np.savez(tmp_path / "text.npz", **{"conv/0": np.array(["a"])})
    with pytest.raises(WeightsError, match="not numbers"):
        Npz(tmp_path / "text.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 nothing")
    with pytest.raises(WeightsError, match="cannot read .* as an .npz"):
        Npz(tmp_path / "junk.npz")


# --- shapes a net implies ----------------------------------------------------------

def test_param_shapes_follow_caffes_rules():
    shapes = {name: s for name, (_, s) in param_shapes(small_net()).items()}
    assert shapes == SMALL_NET_SHAPES


def test_param_shapes_of_generated_nets():
    models = REPO / "caffe_models"
    voc = param_shapes(load_net(models / "pascal_voc/dilation8_pascal_voc_deploy.prototxt"))
    assert voc["fc6"] == ("Convolution", [(4096, 512, 7, 7), (4096,)])
    assert voc["ct_conv1_1"][1][0] == (42, 21, 3, 3) and voc["ct_final"][1][0] == (21, 672, 1, 1)
    train = param_shapes(load_net(models / "cityscapes/joint_train.prototxt"))
    assert train["conv1_1"][1][0] == (64, None, 3, 3)  # channels read from a Data layer: open
    deploy = param_shapes(load_net(models / "cityscapes/dilation10_cityscapes_deploy.prototxt"))
    assert deploy["ctx_upsample"] == ("Deconvolution", [(19, 1, 16, 16)])


def test_fit_names_every_kind_of_misfit_in_one_line():
    layers = random_layers(SMALL_NET_SHAPES)
    layers["conv"] = random_layers({"conv": [(6, 4, 3, 3), (6,)]})["conv"]  # group ignored
    layers["ip"] = random_layers({"ip": [(5, 384)]})["ip"]                   # bias missing
    layers["extra"] = random_layers({"extra": [(1,)]})["extra"]
    with pytest.raises(WeightsError) as error:
        fit(small_net(), layers)
    message = str(error.value)
    assert "\n" not in message
    for part in ("conv/0 is 6x4x3x3, the net needs 6x2x3x3", "extra is not a layer of the net",
                 "ip has 1 blobs, the net's InnerProduct takes 2"):
        assert part in message
    del layers["up"], layers["extra"], layers["conv"]
    with pytest.raises(WeightsError, match="missing conv"):
        fit(small_net(), layers)


def test_fit_orders_types_and_adds_fixed_bilinear_upsampling():
    layers = random_layers({n: SMALL_NET_SHAPES[n] for n in ("ip", "conv")}, type_="")
    fitted, left = fit(small_net(), layers)
    assert [(l.name, l.type) for l in fitted] == [("conv", "Convolution"), ("up", "Deconvolution"),
                                                  ("ip", "InnerProduct")]
    assert left == [] and np.array_equal(fitted[1].load()[0], bilinear((6, 1, 4, 4)))
    assert fit(small_net(), {"conv": layers["conv"]}, required=())[1] == ["ip"]


# --- VGG-16 -> front end ---------------------------------------------------------

def test_vgg16_becomes_the_front_end_init(vgg_narrow):
    vgg = Caffemodel(vgg_narrow)
    net = narrow(deploy_net(DATASETS["camvid"], "frontend"))
    fitted, left = fit(net, front_end_init(vgg), without_filler(net))
    assert left == ["final"] and "fc8" not in [l.name for l in fitted]
    got = {l.name: l for l in fitted}
    assert got["fc6"].type == "Convolution" and got["fc6"].shapes == ((20, 12, 7, 7), (20,))
    assert got["fc7"].shapes == ((16, 20, 1, 1), (16,))
    source = arrays(vgg)
    for name, layer in got.items():
        for g, want in zip(layer.load(), source[name]):
            assert g.tobytes() == want.tobytes()  # same memory order: fc6 reshaped only
    assert np.array_equal(got["fc6"].load()[0][3, 5, 2, 6], source["fc6"][0][3, 5 * 49 + 2 * 7 + 6])


def test_vgg16_must_fill_every_layer_but_the_classifier(vgg_narrow):
    vgg = front_end_init(Caffemodel(vgg_narrow))
    del vgg["conv3_2"]
    net = narrow(deploy_net(DATASETS["pascal_voc"], "frontend"))
    with pytest.raises(WeightsError, match="missing conv3_2$"):
        fit(net, vgg, without_filler(net))
    assert without_filler(default_net()) == {l.name for l in default_net().layer
                                             if l.type == "Convolution"} - {"fc-final"}


def test_vgg16_rejects_an_inner_product_that_is_no_square_grid():
    layers = {"conv": Layer.of("conv", "Convolution", [np.ones((3, 1, 1, 1)), np.ones(3)]),
              "fc6": Layer.of("fc6", "InnerProduct", [np.ones((2, 3 * 6)), np.ones(2)])}
    with pytest.raises(WeightsError, match="fc6 .2x18. does not read 3 channels on a square grid"):
        front_end_init(SimpleNamespace(layers=layers))


# --- identity initialization -------------------------------------------------------

def centre_product(layers):
    """The module's linear map on one pixel (ReLUs are the identity on >= 0)."""
    product = None
    for layer in layers.values():
        w = layer.load()[0].astype(np.float64)
        centre = w[:, :, w.shape[2] // 2, w.shape[3] // 2]
        product = centre if product is None else centre @ product
    return product


@pytest.mark.parametrize("width, num_layers", MODULES)
def test_identity_without_noise_is_eq_4_and_5(width, num_layers):
    module = ContextModule(5, num_layers, width)
    layers = context_init(module, std=0)
    assert list(layers) == module.names()
    for spec, layer in zip(module.layers(), layers.values()):
        w, b = layer.load()
        assert w.shape == spec.weight_shape and w.dtype == np.float32 and not b.any()
        off_centre = w.copy()
        off_centre[:, :, w.shape[2] // 2, w.shape[3] // 2] = 0
        assert not off_centre.any()
    assert np.array_equal(centre_product(layers), np.eye(5))  # the whole module passes its input on
    first = layers[module.names()[0]].load()[0][:, :, 1, 1]
    if width == "basic":
        assert np.array_equal(first, np.eye(5))
    else:  # C -> 2C: W[2i, i] = W[2i+1, i] = 0.5
        assert first[0, 0] == first[1, 0] == first[9, 4] == 0.5 and first.sum() == 5


def test_identity_noise_has_the_std_asked_for():
    module = DATASETS["pascal_voc"].context()  # Large, 21 classes: millions of samples
    layers = context_init(module, std=0.01, seed=3)
    w = layers["ct_fc1"].load()[0]
    noise = np.delete(w.reshape(w.shape[0], w.shape[1], -1), 4, axis=2)
    assert abs(noise.std() - 0.01) < 0.0002 and abs(noise.mean()) < 0.0002
    centre = w[:, :, 1, 1]
    same = np.equal.outer(np.arange(672) // 32, np.arange(672) // 32)
    assert np.all(centre[same] == np.float32(21 / 672)) and abs(centre[~same].std() - 0.01) < 0.0002
    again = context_init(module, std=0.01, seed=3)["ct_conv1_1"].load()[0]
    assert np.array_equal(again, layers["ct_conv1_1"].load()[0])
    assert not np.array_equal(again, context_init(module, std=0.01, seed=4)["ct_conv1_1"].load()[0])


# --- bilinear upsampling -------------------------------------------------------------

def fcn_upsample_filt(size):
    """FCN's surgery.upsample_filt, in float64."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = np.ogrid[:size, :size]
    return (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)


@pytest.mark.parametrize("k", [4, 16])
def test_bilinear_is_fcns_kernel_on_every_channel(k):
    w = bilinear((19, 1, k, k))
    assert w.dtype == np.float32 and w.shape == (19, 1, k, k)
    assert np.allclose(w, fcn_upsample_filt(k), atol=1e-7, rtol=0)


def test_bilinear_kernel_of_factor_2():
    assert np.array_equal(bilinear((1, 1, 4, 4))[0, 0, 0], [1 / 16, 3 / 16, 3 / 16, 1 / 16])


# --- joint merge -----------------------------------------------------------------

def joint_parts(tmp_path, name, net):
    """Trained-looking parts for a narrowed joint net: a front end and a context
    module.  (A train net leaves conv1_1's input open: it is BGR.)"""
    module = DATASETS[name].context()
    context = module.names() + ["ctx_upsample"]
    front = {n: [tuple(3 if d is None else d for d in shape) for shape in shapes]
             for n, (_, shapes) in param_shapes(net).items() if n not in context}
    write(tmp_path / "front.caffemodel", random_layers(front).values())
    write(tmp_path / "context.caffemodel", context_init(module).values())
    return Caffemodel(tmp_path / "front.caffemodel"), Caffemodel(tmp_path / "context.caffemodel")


@pytest.mark.parametrize("name, net", [
    ("cityscapes", narrow(deploy_net(DATASETS["cityscapes"], "joint"))),
    ("pascal_voc", narrow(load_net(REPO / "caffe_models/pascal_voc/joint_train.prototxt")))],
    ids=["cityscapes_deploy", "pascal_voc_train"])
def test_merge_fills_the_joint_net(tmp_path, name, net):
    fitted, left = fit(net, merge(*joint_parts(tmp_path, name, net)))
    names = [l.name for l in fitted]
    assert left == [] and names == list(param_shapes(net)) and names[0] == "conv1_1"
    if name == "cityscapes":  # its fixed upsampling gets bilinear weights
        assert names[-1] == "ctx_upsample"
        assert np.array_equal(fitted[-1].load()[0], bilinear((19, 1, 16, 16)))
    else:
        assert names[names.index("fc-final") + 1:] == DATASETS[name].context().names()


def test_merge_names_missing_unexpected_misshapen_and_doubled_layers(tmp_path):
    net = narrow(deploy_net(DATASETS["cityscapes"], "joint"))
    front, context = joint_parts(tmp_path, "cityscapes", net)
    layers = merge(front, context)
    del layers["ctx_fc1"]
    layers["final"] = Layer.of("final", "", [np.ones((19, 17, 1, 1)), np.ones(19)])
    layers["fc8"] = layers["fc7"]
    with pytest.raises(WeightsError) as error:
        fit(net, layers)
    assert str(error.value) == (
        "weights do not fit net 'cityscapes_joint_deploy': missing ctx_fc1; final/0 is 19x17x1x1, "
        "the net needs 19x16x1x1; fc8 is not a layer of the net")
    write(tmp_path / "doubled.caffemodel", [front.layers["conv1_1"], context.layers["ctx_final"]])
    with pytest.raises(WeightsError, match="layers in both .* conv1_1$"):
        merge(front, Caffemodel(tmp_path / "doubled.caffemodel"))
