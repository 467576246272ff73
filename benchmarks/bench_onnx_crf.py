"""ONNX Runtime's CPU forward against Caffe's CPU forward on the VOC deploy
tile (dilation8_pascal_voc_deploy, 900 x 900, full width, random weights),
and the dense CRF's cost per VOC-sized image (500 x 375) against the forward.

    source <caffe env.sh>; python benchmarks/bench_onnx_crf.py [--repeat 2]

Caffe runs in a child process (tests/caffe_onnx_jobs.py), ONNX Runtime and the
CRF in this one; each time is the fastest of --repeat runs of the operation
alone (net loading, graph building and session creation excluded).  Both
frameworks use their default CPU threads.  Not a test: timings depend on the
machine and its load; run it by hand.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
VOC = REPO / "caffe_models" / "pascal_voc" / "dilation8_pascal_voc_deploy.prototxt"


def fastest(run, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def caffe_forward(work, weights, repeat):
    env = dict(os.environ, GLOG_minloglevel="2",
               PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests"),
                                           os.environ.get("PYTHONPATH", "")]))
    args = dict(prototxt=str(VOC), weights=str(weights), data=str(work / "data.npy"),
                blobs=["prob"], out=str(work / "caffe.npz"), repeat=repeat)
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "caffe_onnx_jobs.py"), "forward",
                           json.dumps(args)], env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit("Caffe failed:\n" + proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=2, help="runs per operation; the fastest counts")
    args = p.parse_args()
    if not os.environ.get("CAFFE_ROOT"):
        sys.exit("pycaffe is needed: source the env.sh that tools/install_caffe.sh prints")
    import onnxruntime as ort
    from onnx_fixtures import net_input, photo, random_weights
    from prototxt_gen.spec.datasets import DATASETS
    from tools import crf
    from tools.backend import OnnxNet
    from tools.inference import probabilities
    from tools.weights.onnx_export import export

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data, scale = net_input("pascal_voc", 3, 900, 900)
        np.save(work / "data.npy", data)
        weights = random_weights(VOC, work / "w.caffemodel", scale)
        caffe_s = caffe_forward(work, weights, args.repeat)
        session = ort.InferenceSession(export(VOC, weights).SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        onnx_s = fastest(lambda: session.run(["prob"], {"data": data}), args.repeat)
        diff = np.abs(session.run(["prob"], {"data": data})[0] - np.load(work / "caffe.npz")["prob"]).max()
        del session
        image = photo("pascal_voc", 375, 500)
        prob = probabilities(OnnxNet(str(VOC), str(weights)), image, DATASETS["pascal_voc"])
        crf_s = fastest(lambda: crf.refine(prob, image, crf.DEFAULTS), args.repeat)
    print("VOC deploy tile 1x3x900x900 -> 21x66x66, %d CPU threads available; fastest of %d"
          % (os.cpu_count(), args.repeat))
    print("  Caffe CPU forward         %7.2f s" % caffe_s)
    print("  ONNX Runtime CPU forward  %7.2f s   (max |prob diff| vs Caffe %.2g)" % (onnx_s, diff))
    print("  dense CRF, 500x375, 21 classes, %d iterations  %7.2f s" % (crf.DEFAULTS.iterations, crf_s))
    print("  ONNX / Caffe forward      %7.2fx" % (onnx_s / caffe_s))
    print("  CRF / Caffe forward       %7.2fx" % (crf_s / caffe_s))
    print("  CRF / ONNX forward        %7.2fx" % (crf_s / onnx_s))


if __name__ == "__main__":
    main()
