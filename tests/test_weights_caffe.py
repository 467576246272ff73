"""The weight tools judged by real BVLC Caffe: what Caffe writes we read, what we
write Caffe loads (pycaffe and `caffe train --weights`), bit for bit; our V1
upgrade is Caffe's; identity weights pass the input through the module; our
bilinear weights are Caffe's filler's."""
import subprocess
from dataclasses import replace

import numpy as np
import pytest
from google.protobuf import text_format

from helpers import REPO, caffe_env, caffe_root, run_caffe
from prototxt_gen import layers as L
from prototxt_gen.context import context_module
from prototxt_gen.nets import context_net, deploy_net
from prototxt_gen.schema import pb
from prototxt_gen.spec.datasets import DATASETS
from prototxt_gen.spec.paths import lmdb
from prototxt_gen.spec.table1 import ContextModule
from synthetic import feature_label_records, write_lmdb
from tools.data.feature_records import float_datum
from tools.weights.bilinear import bilinear
from tools.weights.caffemodel import Caffemodel, write
from tools.weights.identity import context_init
from tools.weights.netcheck import fit, load_net, param_shapes
from tools.weights.npz import Npz, save
from tools.weights.vgg16 import default_net
from weights_fixtures import (FULL, digest, narrow, run_cli, small_net, vgg_deploy, write_net,
                              write_vgg_v1)

pytestmark = pytest.mark.caffe
JOBS = "caffe_weight_jobs.py"


def job(name, **args):
    return run_caffe(name, script=JOBS, **args)


def our_digests(model):
    return {name: [digest(a) for a in layer.load()] for name, layer in model.layers.items()}


@pytest.fixture(scope="module")
def vgg_full(tmp_path_factory):
    """A V1 caffemodel with VGG-16's exact layers and shapes (~528 MB), once per run."""
    path = tmp_path_factory.mktemp("vgg_full") / "VGG_ILSVRC_16_layers.caffemodel"
    write_vgg_v1(path, FULL)
    yield path, our_digests(Caffemodel(path))
    path.unlink()


@pytest.mark.parametrize("net", [small_net(), narrow(deploy_net(DATASETS["cityscapes"], "joint"))],
                         ids=["conv_group_deconv_innerproduct", "cityscapes_joint"])
def test_caffe_to_npz_to_caffe_is_bit_identical(tmp_path, net):
    path = write_net(tmp_path / "net.prototxt", net)
    saved = job("save_random", net=str(path), out=str(tmp_path / "caffe.caffemodel"), seed=1)
    model = Caffemodel(tmp_path / "caffe.caffemodel")
    assert our_digests(model) == saved  # we read what Caffe wrote
    save(tmp_path / "w.npz", model)
    layers, _ = fit(load_net(path), Npz(tmp_path / "w.npz").layers, required=None)
    write(tmp_path / "ours.caffemodel", layers, net.name)
    assert job("digests", net=str(path), weights=str(tmp_path / "ours.caffemodel")) == saved


def test_our_v1_upgrade_is_caffes(tmp_path, vgg_full):
    """Caffe upgrades the full-size V1 file itself (V1LayerParameter -> LayerParameter,
    legacy blob dims matched right-aligned); every blob equals what we read."""
    path, ours = vgg_full
    net = write_net(tmp_path / "vgg16_deploy.prototxt", vgg_deploy(FULL))
    caffes = job("digests", net=str(net), weights=str(path))
    assert caffes == ours
    assert caffes["fc6"][0][0] == [4096, 25088] and caffes["fc6"][1][0] == [4096]


def test_full_size_vgg16_becomes_a_front_end_caffe_loads(tmp_path, vgg_full):
    path, source = vgg_full
    out = tmp_path / "front_end_init.caffemodel"
    result = run_cli("vgg16", path, out, "--any-vgg")
    assert result.returncode == 0, result.stderr
    assert "left to the net's fillers: fc-final" in result.stdout
    net = write_net(tmp_path / "front_end.prototxt", default_net())
    loaded = job("digests", net=str(net), weights=str(out))
    assert loaded["fc6"][0][0] == [4096, 512, 7, 7] and loaded["fc7"][0][0] == [4096, 4096, 1, 1]
    for name, blobs in source.items():
        if name != "fc8":  # same bytes; fc6 and fc7 only reshaped
            assert [b[1] for b in loaded[name]] == [b[1] for b in blobs], name
    job("blob", net=str(net), layer="fc-final", index=0, out=str(tmp_path / "final.npy"),
        weights=str(out))
    final = np.load(tmp_path / "final.npy")
    assert final.shape == (21, 4096, 1, 1) and abs(final.std() - 0.001) < 0.00005  # Caffe's filler


def identity_nets():
    """Basic (same padding) and Large (same and buffer) modules of 7, 8 and 10 layers."""
    for name in ("kitti", "camvid", "cityscapes", "pascal_voc"):  # Basic 7, 8, 10; Large buffer
        ds = DATASETS[name]
        yield pytest.param(ds.context(), deploy_net(replace(ds, context_crop=16), "context"), id=name)
    for classes, num_layers in ((21, 8), (4, 7), (3, 10)):
        module = ContextModule(classes, num_layers, "large", "same")
        net = pb.NetParameter(name="large%d_same" % num_layers)
        context_module(net, L.input_blob(net, "data", (1, classes, 16, 16)), module)
        yield pytest.param(module, net, id=net.name)


@pytest.mark.parametrize("module, net", list(identity_nets()))
def test_identity_init_passes_the_input_through_caffe(tmp_path, module, net):
    path = write_net(tmp_path / "context.prototxt", net)
    layers, _ = fit(net, context_init(module, std=0), required=None)
    write(tmp_path / "identity.caffemodel", layers, net.name)
    result = job("pass_through", net=str(path), weights=str(tmp_path / "identity.caffemodel"),
                 top=module.names()[-1], seed=5)
    assert result["shape"] == result["input_shape"]
    assert result["equal"], result


def test_caffe_train_loads_our_weights(tmp_path):
    """`caffe train --weights` with our identity init (noise 0.01) and learning rate
    0: the snapshot Caffe writes holds exactly our weights."""
    ds = replace(DATASETS["camvid"], crop=388, batch=1, iter_size=1, context_crop=24,
                 context_batch=2)
    source = lmdb(str(tmp_path), ds.name, "context_train")
    write_lmdb(source, map(float_datum, feature_label_records(2, 24, ds.classes)))
    net = write_net(tmp_path / "train.prototxt", context_net(ds, L.TRAIN, source))
    solver = pb.SolverParameter(net=str(net), base_lr=0, lr_policy="fixed", momentum=0.9,
                                weight_decay=5e-4, max_iter=1, display=1,
                                snapshot_prefix=str(tmp_path / "snap"),
                                solver_mode=pb.SolverParameter.CPU)
    (tmp_path / "solver.prototxt").write_text(text_format.MessageToString(solver))
    init = context_init(ds.context(), std=0.01, seed=2)
    write(tmp_path / "init.caffemodel", init.values())
    proc = subprocess.run([str(caffe_root() / "build/tools/caffe"), "train",
                           "--solver=%s" % (tmp_path / "solver.prototxt"),
                           "--weights=%s" % (tmp_path / "init.caffemodel")],
                          env=caffe_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    snapshot = Caffemodel(tmp_path / "snap_iter_1.caffemodel")
    assert our_digests(snapshot) == {name: [digest(a) for a in layer.load()]
                                     for name, layer in init.items()}


def test_bilinear_weights_are_caffes_filler(tmp_path):
    net = str(REPO / "caffe_models/cityscapes/dilation10_cityscapes_deploy.prototxt")
    job("blob", net=net, layer="ctx_upsample", index=0, out=str(tmp_path / "up.npy"))
    caffes = np.load(tmp_path / "up.npy")
    assert caffes.shape == (19, 1, 16, 16) and caffes.dtype == np.float32
    assert np.array_equal(caffes, bilinear((19, 1, 16, 16)))
    assert param_shapes(load_net(net))["ctx_upsample"][1] == [caffes.shape]


def test_merged_joint_weights_load_in_caffe(tmp_path):
    """merge (CLI) of a front end and an identity context module for the narrowed
    Cityscapes joint deploy net, whose ctx_upsample gets our bilinear weights."""
    ds = DATASETS["cityscapes"]
    net = write_net(tmp_path / "joint.prototxt", narrow(deploy_net(ds, "joint")))
    front = write_net(tmp_path / "front.prototxt", narrow(deploy_net(ds, "frontend")))
    job("save_random", net=str(front), out=str(tmp_path / "front.caffemodel"), seed=3)
    write(tmp_path / "context.caffemodel", context_init(ds.context()).values())
    result = run_cli("merge", tmp_path / "front.caffemodel", tmp_path / "context.caffemodel", net,
                     tmp_path / "joint.caffemodel", "--allow-nonfinite")  # save_random has NaN
    assert result.returncode == 0, result.stderr
    merged = Caffemodel(tmp_path / "joint.caffemodel")
    loaded = job("digests", net=str(net), weights=str(tmp_path / "joint.caffemodel"))
    assert loaded == our_digests(merged) and list(loaded) == list(merged.layers)
    assert loaded["ctx_upsample"] == [digest(bilinear((19, 1, 16, 16)))]
