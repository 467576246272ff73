"""`tools.weights merge` for Cityscapes: the front end trains through a fixed
bilinear Deconvolution `upsample`, the joint net has its own `ctx_upsample`.
The front end's is left out (nothing learned), a changed one is not."""
import numpy as np

from prototxt_gen.nets import deploy_net
from prototxt_gen.spec.datasets import DATASETS
from tools.weights.bilinear import bilinear
from tools.weights.caffemodel import Caffemodel, Layer, write
from tools.weights.netcheck import param_shapes
from weights_fixtures import narrow, run_cli, write_net

CITYSCAPES = DATASETS["cityscapes"]


def front_end_weights(path, net, upsample_offset=0.0):
    """Every layer of the (narrow) front end; `upsample` as training leaves it."""
    rng = np.random.RandomState(0)
    layers = []
    for name, (type_, shapes) in param_shapes(net).items():
        arrays = [rng.normal(0, 0.01, s).astype(np.float32) for s in shapes]
        if name == "upsample":
            arrays = [bilinear(shapes[0]) + np.float32(upsample_offset)]
        layers.append(Layer.of(name, type_, arrays))
    write(path, layers, net.name)
    return path


def test_cityscapes_front_end_merges_into_the_joint_net(tmp_path):
    front = narrow(deploy_net(CITYSCAPES, "frontend", upsample=True))
    assert "upsample" in [layer.name for layer in front.layer]
    joint = write_net(tmp_path / "joint.prototxt", narrow(deploy_net(CITYSCAPES, "joint")))
    front_end_weights(tmp_path / "front.caffemodel", front)
    out = run_cli("identity", tmp_path / "context.caffemodel", "--dataset", "cityscapes")
    assert out.returncode == 0, out.stderr
    out = run_cli("merge", tmp_path / "front.caffemodel", tmp_path / "context.caffemodel", joint,
                  tmp_path / "joint.caffemodel")
    assert out.returncode == 0, out.stderr
    merged = Caffemodel(tmp_path / "joint.caffemodel").layers
    assert "upsample" not in merged and "ctx_upsample" in merged


def test_a_learned_upsampling_is_not_dropped(tmp_path):
    front = narrow(deploy_net(CITYSCAPES, "frontend", upsample=True))
    joint = write_net(tmp_path / "joint.prototxt", narrow(deploy_net(CITYSCAPES, "joint")))
    front_end_weights(tmp_path / "front.caffemodel", front, upsample_offset=0.01)
    run_cli("identity", tmp_path / "context.caffemodel", "--dataset", "cityscapes")
    out = run_cli("merge", tmp_path / "front.caffemodel", tmp_path / "context.caffemodel", joint,
                  tmp_path / "joint.caffemodel")
    assert out.returncode == 2 and "upsample is not a layer of the net" in out.stderr
    assert not (tmp_path / "joint.caffemodel").exists()
