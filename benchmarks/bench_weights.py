"""Speed and peak memory of `tools.weights` to-npz / from-npz on a VGG-16-sized
caffemodel (138M parameters, ~528 MB), against pycaffe and a raw read.

    source <caffe env.sh>; python benchmarks/bench_weights.py [--repeat 3] [--dir DIR]

The model is written by Caffe itself (net.save of the ImageNet VGG-16 deploy
net).  Every operation runs in a fresh child process; its time is taken inside
the child around the operation only (imports and set-up excluded), its peak
memory is the child's ru_maxrss (os.wait4).  The files stay in the page cache,
so the raw read is the cost of getting the bytes at all.

  raw_read          open(model).read()
  raw_copy          its bytes read and written to a new file: the least a converter does
  to_npz            Caffemodel(model) -> npz.save
  pycaffe_load      caffe.Net(deploy, weights=model) + every param copied to numpy
  from_npz          Npz -> netcheck.fit(deploy) -> caffemodel.write
  pycaffe_save      net.save(out) of a loaded net (the load is not timed)
  pycaffe_from_npz  caffe.Net(deploy) + np.load(npz) into its params + net.save:
                    what from_npz does, done with pycaffe
Not a test: timings depend on the machine and its load; run it by hand.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
OPS = ("raw_read", "raw_copy", "to_npz", "pycaffe_load", "from_npz", "pycaffe_save",
       "pycaffe_from_npz")
TARGETS = (("to_npz", "pycaffe_load"), ("from_npz", "pycaffe_save"),
           ("from_npz", "pycaffe_from_npz"))


def make_model(files):
    """VGG-16's deploy net in the current format, and a caffemodel Caffe writes for it."""
    import caffe
    import numpy as np
    from weights_fixtures import FULL, vgg_deploy, write_net
    write_net(Path(files["deploy"]), vgg_deploy(FULL))
    net = caffe.Net(files["deploy"], caffe.TEST)
    pattern = np.random.default_rng(0).normal(0, 0.01, 4099).astype(np.float32)
    for blobs in net.params.values():
        for blob in blobs:
            blob.data[...] = np.resize(pattern, blob.data.shape)
    net.save(files["model"])


def raw_op(op, files):
    model = Path(files["model"])
    if op == "raw_read":
        return model.read_bytes
    return lambda: Path(files["copy"]).write_bytes(model.read_bytes())


def pycaffe_op(op, files):
    import caffe
    import numpy as np
    caffe.set_mode_cpu()

    def load():
        return caffe.Net(files["deploy"], caffe.TEST, weights=files["model"])

    def from_npz():
        net = caffe.Net(files["deploy"], caffe.TEST)
        with np.load(files["npz"]) as npz:
            for name, blobs in net.params.items():
                for i, blob in enumerate(blobs):
                    blob.data[...] = npz["%s/%d" % (name, i)]
        net.save(files["caffes"])

    if op == "pycaffe_load":
        return lambda: {name: [b.data.copy() for b in blobs]
                        for name, blobs in load().params.items()}
    if op == "pycaffe_save":
        net = load()
        return lambda: net.save(files["caffes"])
    return from_npz


def our_op(op, files):
    from tools.weights.caffemodel import Caffemodel, write
    from tools.weights.netcheck import fit, load_net
    from tools.weights.npz import Npz, save

    def from_npz():
        net = load_net(files["deploy"])
        write(files["ours"], fit(net, Npz(files["npz"]).layers)[0], net.name)

    if op == "to_npz":
        return lambda: save(files["npz"], Caffemodel(files["model"]))
    return from_npz


def child(op, files):
    """Runs one operation in this (child) process; prints its seconds."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    if op == "make_model":
        run = partial(make_model, files)
    elif op.startswith("raw"):
        run = raw_op(op, files)
    else:
        run = (pycaffe_op if op.startswith("pycaffe") else our_op)(op, files)
    start = time.perf_counter()
    run()
    print(json.dumps(time.perf_counter() - start))


def measure(op, files):
    """(seconds, peak resident MB) of one child process."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", op, json.dumps(files)],
                            stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status):
        sys.exit("%s failed (%s)" % (op, os.waitstatus_to_exitcode(status)))
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3, help="runs per operation; the fastest counts")
    p.add_argument("--dir", help="where the ~2.6 GB of files go (default: a temporary directory)")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args.child[0], json.loads(args.child[1]))
    if not os.environ.get("CAFFE_ROOT"):
        sys.exit("pycaffe is needed: source the env.sh that tools/install_caffe.sh prints")
    with tempfile.TemporaryDirectory(dir=args.dir) as work:
        files = {k: os.path.join(work, v) for k, v in dict(
            deploy="vgg16_deploy.prototxt", model="vgg16.caffemodel", npz="vgg16.npz",
            ours="ours.caffemodel", caffes="caffes.caffemodel", copy="copy.caffemodel").items()}
        measure("make_model", files)
        size = os.path.getsize(files["model"]) / 2 ** 20
        results = {}
        for op in OPS:
            runs = [measure(op, files) for _ in range(args.repeat)]
            results[op] = (min(t for t, _ in runs), max(m for _, m in runs))
    print("VGG-16-sized caffemodel, %.0f MB; fastest of %d runs; peak = the child's max RSS"
          % (size, args.repeat))
    for op, (seconds, peak) in results.items():
        print("  %-17s %6.2f s   peak %5.0f MB" % (op, seconds, peak))
    raw, copy = results["raw_read"][0], results["raw_copy"][0]
    for ours, theirs in TARGETS:
        print("  %-9s %5.2fx %-17s %5.2fx raw read   %5.2fx raw copy" % (
            ours, results[ours][0] / results[theirs][0], theirs, results[ours][0] / raw,
            results[ours][0] / copy))
    print("  targets: <= 0.5x pycaffe, <= 2x raw read")


if __name__ == "__main__":
    main()
