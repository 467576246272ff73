"""ONNX Runtime against real Caffe: the same caffemodel, the same photograph,
`prob` within 1e-4 and the same argmax on >= 99.99% of cells.

Every generated deploy net runs at its data set's deploy size with its VGG
layers narrowed (4-20 channels; every layer, size rule and context module is
kept, so a CPU pass takes seconds); the VOC net, with the Large buffer-padded
module, also runs at full width (141M parameters, about a minute per
framework on a CPU).  The zoo net adds the rules our nets never reach."""
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from helpers import DEPLOY_NETS, REPO, run_caffe
from onnx_fixtures import net_input, random_weights, zoo_net
from tools.weights.netcheck import load_net
from tools.weights.onnx_export import export, input_blobs
from weights_fixtures import narrow, write_net

JOBS = "caffe_onnx_jobs.py"
VOC = "caffe_models/pascal_voc/dilation8_pascal_voc_deploy.prototxt"
CASES = [(p, "narrow") for p in DEPLOY_NETS] + [(VOC, "full width"), ("zoo", "zoo")]


def prepare(tmp_path, relative, kind):
    if kind == "zoo":
        return write_net(tmp_path / "zoo.prototxt", zoo_net()), "pascal_voc"
    net = load_net(REPO / relative)
    if kind == "narrow":
        net = narrow(net)
    return write_net(tmp_path / "net.prototxt", net), Path(relative).parts[1]


@pytest.mark.caffe
@pytest.mark.parametrize("relative, kind", CASES)
def test_onnx_runtime_equals_caffe(tmp_path, relative, kind):
    prototxt, dataset = prepare(tmp_path, relative, kind)
    blob = next(iter(input_blobs(load_net(prototxt)).values()))
    data, scale = net_input(dataset, blob.channels, blob.height, blob.width)
    weights = random_weights(prototxt, tmp_path / "w.caffemodel", scale)
    np.save(tmp_path / "data.npy", data)
    timing = run_caffe("forward", script=JOBS, prototxt=str(prototxt), weights=str(weights),
                       data=str(tmp_path / "data.npy"), blobs=["prob"], out=str(tmp_path / "caffe.npz"))
    caffe_prob = np.load(tmp_path / "caffe.npz")["prob"]
    session = ort.InferenceSession(export(prototxt, weights).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    onnx_prob = session.run(["prob"], {"data": data})[0]
    assert onnx_prob.shape == caffe_prob.shape
    diff = float(np.abs(onnx_prob - caffe_prob).max())
    agree = float((onnx_prob.argmax(axis=1) == caffe_prob.argmax(axis=1)).mean())
    print("\nONNX vs Caffe, %s (%s) %s: max |prob diff| %.3g, argmax agreement %.6f over %d "
          "cells, Caffe forward %.1f s" % (relative, kind, "x".join(map(str, data.shape)), diff,
                                            agree, caffe_prob[:, 0].size, timing["seconds"]))
    top = caffe_prob.max(axis=1)
    print("classes chosen %d, median top probability %.3f" % (
        np.unique(caffe_prob.argmax(axis=1)).size, np.median(top)))
    assert np.unique(caffe_prob.argmax(axis=1)).size >= 2 and np.median(top) < 0.99, \
        "random weights should give probabilities neither flat nor one-hot"
    assert diff <= 1e-4 and agree >= 0.9999
