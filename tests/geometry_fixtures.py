"""Deploy nets the size of a few cells, and the shape engine held against real
Caffe: what the hostile tiers and the geometry tests share."""
import json
import subprocess
import sys

import numpy as np
from google.protobuf import text_format

from helpers import TESTS, caffe_env
from prototxt_gen import layers as L
from prototxt_gen import shapes
from prototxt_gen.schema import pb
from tools.weights.caffemodel import Layer, write as write_caffemodel

DEPLOY_SIZE = 380  # 2 x 186 + 8: one output cell per tile


def tiny_deploy(classes, classifier="final"):
    """Input -> max pooling over the tile -> 1x1 Convolution `classifier` ->
    Softmax `prob`: a deploy net in the layout the prediction tools read, whose
    one cell per tile sits where the front end's first cell does (8 apart)."""
    net = pb.NetParameter(name="tiny")
    top = L.input_blob(net, "data", (1, 3, DEPLOY_SIZE, DEPLOY_SIZE))
    top = L.max_pool(net, "cell", top, kernel=DEPLOY_SIZE, stride=8)
    top = L.conv(net, classifier, top, classes, kernel=1)
    L.softmax(net, "prob", top)
    return net


def tiny_weights(path, classes, name="final", value=0.0):
    rng = np.random.default_rng(0)
    weights = rng.normal(0, 0.1, (classes, 3, 1, 1)).astype(np.float32) + np.float32(value)
    write_caffemodel(str(path), [Layer.of(name, "Convolution",
                                          [weights, np.zeros(classes, np.float32)])])
    return path


def report_shapes(text):
    """{blob: Caffe's shape} as the shape engine traces the net at TEST, or its message."""
    net = text_format.Parse(text, pb.NetParameter())
    try:
        net = shapes.at_phase(net, pb.TEST)
        shapes.check_bottoms(net)
        rows = shapes.trace(net, shapes.inputs(net))
    except shapes.ReportError as e:
        return str(e)
    return {r.top: list(r.blob.dims) for r in rows if r.blob is not None}


def caffe_shapes(nets, tmp_path):
    """For each net (prototxt text), {blob: shape} as real Caffe builds it at TEST,
    or None where Caffe rejects it."""
    (tmp_path / "nets.json").write_text(json.dumps(nets))
    proc = subprocess.run([sys.executable, str(TESTS / "caffe_geometry_jobs.py"),
                           str(tmp_path / "nets.json")], env=caffe_env(), capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
