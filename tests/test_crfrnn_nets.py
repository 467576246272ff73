"""CRF-RNN nets (`python -m prototxt_gen --crf-rnn`): what the generator
writes, the shape engine's and the weight tools' view of the mean-field
layer, the train tool's environment for it, and the nets in real Caffe."""
import csv
import os
import sysconfig

import cv2
import numpy as np
import pytest

from helpers import REPO, build_lmdbs, caffe_env, caffe_root, run_caffe, run_module
from onnx_fixtures import deploy_prototxt, photo, random_weights
from prototxt_gen import shapes
from prototxt_gen.generate import Options, all_files, render, write
from prototxt_gen.geometry import ReportError
from prototxt_gen.nets import deploy_net
from prototxt_gen.schema import pb
from prototxt_gen.spec import crfrnn, paths
from prototxt_gen.spec.datasets import DATASETS
from tools.crfrnn import trained as crf_rnn
from tools.crfrnn import meanfield
from tools.evaluate.paper import published
from tools.palettes import read_labels, write_labels
from tools.train import runner
from tools.train.solver import Solver
from tools.weights.caffemodel import Caffemodel, Layer, write as write_model
from tools.weights.netcheck import load_net, param_shapes
from weights_fixtures import narrow, run_cli, write_net

DEFAULT = all_files(Options())
WITH = all_files(Options(crf_rnn=True))
VOC = "caffe_models/pascal_voc/"
CRF_FILES = {"%s_crfrnn_%s.prototxt" % (stage, kind) for stage in crfrnn.STAGES
             for kind in ("train", "test", "deploy", "solver")}


def layer(net, name):
    return next(l for l in net.layer if l.name == name)


def sizes(net):
    """{top: dims} as the shape engine traces the net."""
    return {row.top: row.blob.dims for row in shapes.trace(net, shapes.inputs(net)) if row.blob}


def test_crf_rnn_only_adds_files():
    added = {path: message for path, message in WITH.items() if path not in DEFAULT}
    assert all(render(WITH[path]) == render(message) for path, message in DEFAULT.items())
    for name in DATASETS:
        assert {p.rsplit("/", 1)[1] for p in added if "/%s/" % name in p} == CRF_FILES


@pytest.mark.parametrize("stage", crfrnn.STAGES)
def test_voc_train_net_upsamples_crops_the_image_and_sums_the_loss(stage):
    net = WITH[VOC + "%s_crfrnn_train.prototxt" % stage]
    crf = layer(net, crfrnn.NAME)
    assert crf.type == "Python" and list(crf.bottom) == ["upsample", "data_crop"]
    assert (crf.python_param.module, crf.python_param.layer, crf.python_param.param_str) == \
        (crfrnn.MODULE, crfrnn.LAYER, "")
    assert [p.lr_mult for p in crf.param] == list(crfrnn.LR_MULTS)
    image = layer(net, "data_crop")
    assert list(image.bottom) == ["data", "upsample"] and image.crop_param.offset == [186]
    assert layer(net, "data_label").data_param.batch_size == 1
    loss = layer(net, "loss")
    assert list(loss.bottom) == [crf.top[0], "label"]
    assert loss.loss_param.normalization == pb.LossParameter.BATCH_SIZE
    dims = sizes(net)
    assert dims[crf.top[0]] == (1, 21, 500 - 372, 500 - 372) == dims["upsample"]
    assert dims["data_crop"] == (1, None, 128, 128) and dims["label"][2:] == (128, 128)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_deploy_nets_end_in_the_crf_at_the_upsampled_size(name):
    """As the deploy nets with the fixed x8 upsampling (--up), the CRF before the softmax."""
    ds = DATASETS[name]
    for stage in crfrnn.STAGES:
        net = WITH["caffe_models/%s/%s_crfrnn_deploy.prototxt" % (name, stage)]
        crf = layer(net, crfrnn.NAME)
        assert net.layer[-1].type == "Softmax" and list(net.layer[-1].bottom) == list(crf.top)
        upsampled = sizes(deploy_net(ds, stage, upsample=True))["prob"]
        assert sizes(net)["prob"] == upsampled and upsampled[1] == ds.classes


def test_solver_is_crfasrnns():
    s = WITH[VOC + "joint_crfrnn_solver.prototxt"]
    assert (s.base_lr, s.lr_policy, s.momentum, s.weight_decay) == \
        (pytest.approx(1e-13), "fixed", pytest.approx(0.99), pytest.approx(5e-4))
    assert not s.HasField("iter_size")
    assert s.train_net == VOC + "joint_crfrnn_train.prototxt"
    assert s.snapshot_prefix == "snapshots/pascal_voc/joint_crfrnn"


def test_the_shape_engine_sizes_only_crf_rnns_python_layer():
    net = deploy_net(DATASETS["pascal_voc"], "frontend", crf_rnn=True)
    layer(net, crfrnn.NAME).bottom[1] = "upsample"  # an image of 21 channels
    with pytest.raises(ReportError, match="CRF-RNN takes unaries"):
        sizes(net)
    layer(net, crfrnn.NAME).python_param.layer = "Other"
    with pytest.raises(shapes.Unsized):
        sizes(net)


def random_model(path, net):
    """A caffemodel with random weights for every layer of `net` that takes
    any, as the weight checks size them."""
    rng = np.random.default_rng(0)
    write_model(path, [Layer.of(name, type_, [rng.normal(size=s).astype(np.float32) for s in blobs])
                       for name, (type_, blobs) in param_shapes(net).items()])
    return path


def test_weight_tools_size_merge_and_round_trip_the_crf_blobs(tmp_path):
    kitti = DATASETS["kitti"]
    front = random_model(tmp_path / "front.caffemodel", narrow(deploy_net(kitti, "frontend")))
    net = narrow(deploy_net(kitti, "joint", crf_rnn=True))
    joint = write_net(tmp_path / "joint.prototxt", net)
    assert param_shapes(net)[crfrnn.NAME] == ("Python", [(1, 1, 11, 11)] * 3)
    context = tmp_path / "context.caffemodel"
    assert run_cli("identity", context, "--dataset", "kitti").returncode == 0
    # merged, the CRF may be missing: it starts from its own Potts values
    out = run_cli("merge", front, context, joint, tmp_path / "j.caffemodel")
    assert out.returncode == 0 and out.stdout.endswith("left to the net's fillers: crf_rnn\n")
    # its three C x C blobs travel through the npz round trip, checked against the net
    with_crf = random_model(tmp_path / "crf.caffemodel", net)
    assert run_cli("to-npz", with_crf, tmp_path / "crf.npz").returncode == 0
    out = run_cli("from-npz", tmp_path / "crf.npz", joint, tmp_path / "back.caffemodel")
    assert out.returncode == 0 and "left" not in out.stdout, out
    given, back = (Caffemodel(p).layers[crfrnn.NAME]
                   for p in (with_crf, tmp_path / "back.caffemodel"))
    assert back.type == "Python" and back.shapes == ((1, 1, 11, 11),) * 3
    assert all((a == b).all() for a, b in zip(back.load(), given.load()))
    voc = Layer.of(crfrnn.NAME, "Python", [np.zeros((1, 1, 21, 21), np.float32)] * 3)
    write_model(tmp_path / "voc.caffemodel", [voc])
    assert run_cli("to-npz", tmp_path / "voc.caffemodel", tmp_path / "voc.npz").returncode == 0
    out = run_cli("from-npz", tmp_path / "voc.npz", joint, tmp_path / "no.caffemodel")
    assert out.returncode == 2 and "crf_rnn/0 is 1x1x21x21, the net needs 1x1x11x11" in out.stderr


def test_train_puts_the_layer_and_numpy_on_caffes_pythonpath(tmp_path):
    write(all_files(Options(datasets=("pascal_voc",), stages=("frontend",), crf_rnn=True,
                            out=str(tmp_path))))
    plain = runner.caffe_env(Solver(str(tmp_path / "pascal_voc" / "frontend_solver.prototxt")))
    env = runner.caffe_env(Solver(str(tmp_path / "pascal_voc" / "frontend_crfrnn_solver.prototxt")))
    # the standard library before site-packages: cityscapesscripts' `typing` backport there
    # would shadow the standard module in Caffe's embedded Python
    where = sysconfig.get_paths()
    assert env["PYTHONPATH"].split(os.pathsep)[:3] == [paths.REPO, where["stdlib"], where["purelib"]]
    assert plain.get("PYTHONPATH") == os.environ.get("PYTHONPATH")


SMALL = 388  # 2 x 2 front-end cells: 16 x 16 pixels through the CRF


@pytest.mark.caffe
def test_generated_nets_run_forward_and_backward_in_caffe(tmp_path):
    """VOC's joint CRF-RNN nets (front end, context, upsampling, CRF) at a
    small crop: the loss reaches the CRF's blobs and conv1_1."""
    voc = DATASETS["pascal_voc"]
    build_lmdbs(tmp_path / "data", [voc], lambda d: SMALL, lambda d: 4, records=1)
    write(all_files(Options(datasets=("pascal_voc",), stages=("joint",), crf_rnn=True, cpu=True,
                            out=str(tmp_path / "models"), lmdb_root=str(tmp_path / "data"),
                            crop=SMALL, deploy_size=(SMALL, SMALL))))
    folder = tmp_path / "models" / "pascal_voc"
    result = run_caffe("generated_nets", script="caffe_crfrnn_jobs.py",
                       **{kind: str(folder / ("joint_crfrnn_%s.prototxt" % kind))
                          for kind in ("train", "test", "deploy")})
    print("\nCRF-RNN joint nets at crop %d: TRAIN loss %.1f, |gradient| %s, TEST %s"
          % (SMALL, result["loss"], result["grads"], result["test"]))
    assert result["crf_blobs"] == [[1, 1, 21, 21]] * 3
    assert np.isfinite(result["loss"]) and result["loss"] > 0
    assert min(result["grads"].values()) > 0, result["grads"]
    assert 0 <= result["test"]["accuracy"] <= 1 and np.isfinite(result["test"]["loss"])
    assert result["prob_sum_error"] < 1e-5
    for phase in ("train", "test", "deploy"):
        assert result["shapes"][phase]["crf_rnn_score"] == [1, 21, 16, 16]


# ---- --crf-rnn in tools.predict and tools.evaluate -----------------------------------------

TILE = (388, 404)  # 2 x 4 output cells per tile


def crf_layer_message(weights, module=crfrnn.MODULE, layer_class=crfrnn.LAYER):
    """One serialized caffemodel layer as Caffe's snapshot writes CRF-RNN's:
    Python, its python_param and three 1 x 1 x C x C blobs; appended to a
    caffemodel file it merges into it (protobuf's rule)."""
    net = pb.NetParameter()
    layer_ = net.layer.add(name=crfrnn.NAME, type="Python", python_param=pb.PythonParameter(
        module=module, layer=layer_class))
    for w in weights:
        layer_.blobs.add(shape=pb.BlobShape(dim=[1, 1] + list(w.shape)), data=w.ravel().tolist())
    return net.SerializeToString()


@pytest.fixture(scope="module")
def camvid(tmp_path_factory):
    """A narrowed CamVid joint deploy net with random weights, the same weights
    with a CRF-RNN layer (Potts, strong enough to move labels), a photograph
    and its label map."""
    tmp = tmp_path_factory.mktemp("crf_rnn")
    net = write_net(tmp / "net.prototxt",
                    narrow(load_net(deploy_prototxt(tmp, "camvid", "joint", TILE))))
    plain = random_weights(net, tmp / "plain.caffemodel", input_std=16.0)
    eye = np.eye(11, dtype=np.float32)
    crf = tmp / "crf.caffemodel"
    crf.write_bytes(plain.read_bytes() + crf_layer_message([30 * eye, 50 * eye, -eye]))
    image = tmp / "coffee.png"
    cv2.imwrite(str(image), photo("camvid", 37, 45))
    truth = tmp / "coffee_truth.png"
    labels = np.zeros((37, 45), np.uint8)
    labels[:, 20:] = 3
    write_labels(str(truth), labels, "camvid")
    (tmp / "pairs.txt").write_text("%s %s\n" % (image, truth))
    return dict(dir=tmp, net=net, plain=plain, crf=crf, image=image, pairs=tmp / "pairs.txt")


def cli(module, model, weights, *args, **kw):
    first = model["pairs"] if module == "tools.evaluate" else model["image"]
    return run_module(module, first, "--dataset", "camvid", "--net", model["net"], "--weights",
                      weights, *args, **kw)


def test_refining_probabilities_is_refining_the_scores():
    """log(prob) differs from the scores by one constant per pixel, which the
    mean field ignores: the layer on scores and --crf-rnn on probabilities agree."""
    rng = np.random.default_rng(0)
    scores = rng.normal(0, 3, (4, 20, 30)).astype(np.float32)
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    trained = object.__new__(crf_rnn.Trained)
    trained.params = meanfield.DEFAULTS._replace(iterations=10)
    trained.weights = [w + rng.normal(0, 0.5, w.shape).astype(np.float32)
                       for w in meanfield.initial_blobs(4, trained.params)]
    mean = (100.0, 110.0, 120.0)
    bottom = (image.astype(np.float32) - np.float32(mean)).transpose(2, 0, 1)
    field = meanfield.MeanField(meanfield.spatial_kernel(20, 30, trained.params),
                                meanfield.bilateral_kernel(bottom, trained.params))
    expected = field.forward(scores, trained.weights, 10, keep=False)
    expected = np.exp(expected - expected.max(axis=0))
    prob = np.exp(scores - scores.max(axis=0))
    got = trained.refine(prob / prob.sum(axis=0), image, mean)
    assert np.abs(got - expected / expected.sum(axis=0)).max() < 1e-5


def test_predict_and_evaluate_refine_with_the_trained_layer(camvid, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = cli("tools.evaluate", camvid, camvid["crf"], "--backend", "onnx", "--crf-rnn",
              "--name", "Context", "--out", tmp_path / "eval", env=env)
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "eval" / "iou.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["Context", "Context + CRF-RNN"]
    plain, refined = (read_labels(str(tmp_path / "eval" / folder / "coffee_truth.png"), "camvid")
                      for folder in ("predictions", "predictions_crf_rnn"))
    assert (plain != refined).any(), "a CRF this strong moves labels"
    out = cli("tools.predict", camvid, camvid["crf"], "--backend", "onnx", "--crf-rnn",
              "--out", tmp_path / "pred", env=env)
    assert out.returncode == 0, out.stderr
    predicted = read_labels(str(tmp_path / "pred" / "coffee.png"), "camvid")
    np.testing.assert_array_equal(predicted, refined)


@pytest.mark.parametrize("weights, args, hint", [
    ("plain", ["--crf-rnn"], "holds no CRF-RNN layer"),
    ("crf", ["--crf-rnn", "--crf"], "choose one"),
    ("other", ["--crf-rnn"], "holds no CRF-RNN layer"),
    ("wrong", ["--crf-rnn"], "not three 1x1x11x11"),
])
def test_crf_rnn_misuse_is_one_line(camvid, tmp_path, weights, args, hint):
    eye = np.eye(11, dtype=np.float32)
    if weights == "other":  # another class's Python layer
        path = tmp_path / "other.caffemodel"
        path.write_bytes(camvid["plain"].read_bytes()
                         + crf_layer_message([eye] * 3, "mine", "Layer"))
    elif weights == "wrong":  # the blobs of another data set's classes
        path = tmp_path / "wrong.caffemodel"
        path.write_bytes(camvid["plain"].read_bytes() + crf_layer_message([np.eye(21)] * 3))
    else:
        path = camvid[weights]
    out = cli("tools.predict", camvid, path, "--backend", "onnx", *args, "--out", tmp_path / "p",
              env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and hint in out.stderr, out.stderr
    assert out.stderr.startswith("python -m tools.predict: error: ")


def test_the_papers_crf_rnn_rows():
    found = {(r.source, r.name): r.mean for r in published("pascal_voc") if r.name.endswith("+ CRF-RNN")}
    assert found == {("paper, Table 3 (VOC 2012 val)", "Front end + CRF-RNN"): 72.5,
                     ("paper, Table 3 (VOC 2012 val)", "Front + Basic + CRF-RNN"): 73.1,
                     ("paper, Table 3 (VOC 2012 val)", "Front + Large + CRF-RNN"): 73.9,
                     ("paper, Table 4 (VOC 2012 test)", "Context + CRF-RNN"): 75.3}


@pytest.mark.caffe
def test_the_caffe_backend_refines_as_the_onnx_backend(camvid, tmp_path):
    for backend in ("caffe", "onnx"):
        out = cli("tools.predict", camvid, camvid["crf"], "--backend", backend, "--crf-rnn",
                  "--out", tmp_path / backend, env=caffe_env())
        assert out.returncode == 0, out.stderr
    caffe, onnx = (read_labels(str(tmp_path / b / "coffee.png"), "camvid")
                   for b in ("caffe", "onnx"))
    assert (caffe == onnx).mean() > 0.999


@pytest.mark.parametrize("joint", [False, True])
def test_reproduce_adds_the_crf_rnn_stages(tmp_path, joint):
    for name in ("train_images", "train_labels", "val_images", "val_labels"):
        (tmp_path / (name + ".txt")).write_text("a.png\n")
    (tmp_path / "vgg.caffemodel").write_bytes(b"")
    out = run_module("tools.reproduce", "camvid", "--work", tmp_path / "work", "--vgg",
                     tmp_path / "vgg.caffemodel", "--context", "basic", "--crf-rnn", "--cpu",
                     "--dry-run", *["--joint"] * joint,
                     *[a for n in ("train", "val") for kind in ("images", "labels")
                       for a in ("--%s-%s" % (n, kind), tmp_path / ("%s_%s.txt" % (n, kind)))])
    assert out.returncode == 0, out.stderr
    init = "snapshots/basic/camvid/joint_iter_40000" if joint else "init/crfrnn_basic"
    for text in ("--crf-rnn --stage frontend",
                 "python -m tools.train models/front/camvid/frontend_crfrnn_solver.prototxt "
                 "--weights snapshots/camvid/frontend_iter_60000.caffemodel",
                 "--weights snapshots/camvid/frontend_crfrnn_iter_20000.caffemodel --net "
                 "models/front/camvid/frontend_deploy.prototxt --name 'front end' --out "
                 "evaluation/frontend_crfrnn --crf-rnn",
                 "python -m tools.train models/basic/camvid/joint_crfrnn_solver.prototxt "
                 "--weights %s.caffemodel" % init,
                 "--weights snapshots/basic/camvid/joint_crfrnn_iter_20000.caffemodel --net "
                 "models/basic/camvid/dilation8_camvid_deploy.prototxt"):
        assert text in out.stdout, text
    assert ("tools.weights merge snapshots/camvid/frontend_iter_60000.caffemodel "
            "snapshots/basic/camvid/context_iter_40000.caffemodel "
            "models/basic/camvid/joint_crfrnn_train.prototxt" in out.stdout) != joint


@pytest.mark.caffe
def test_tools_train_runs_a_crf_rnn_net_with_no_pythonpath_given(tmp_path):
    """The `caffe` binary's embedded Python finds the layer, NumPy and SciPy
    only through the PYTHONPATH tools.train sets: here it names pycaffe alone,
    as the env file of tools/install_caffe.sh sets it."""
    build_lmdbs(tmp_path / "data", [DATASETS["pascal_voc"]], lambda d: 380, lambda d: 4, records=1)
    write(all_files(Options(datasets=("pascal_voc",), stages=("frontend",), crf_rnn=True, cpu=True,
                            out="models", lmdb_root="data", crop=380, no_test_net=True,
                            max_iter=(("frontend", 2),))), root=str(tmp_path))
    env = dict(caffe_env(), PYTHONPATH=str(caffe_root() / "python"))
    out = run_module("tools.train", "models/pascal_voc/frontend_crfrnn_solver.prototxt", "--caffe",
                     str(caffe_root() / "build" / "tools" / "caffe"), cwd=tmp_path,
                     env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "snapshots/pascal_voc/frontend_crfrnn_iter_2.caffemodel").exists()
