"""The forward pass of predict, features and evaluate, chosen by name: `caffe`
(pycaffe) or `onnx` (ONNX Runtime running the graph that `tools.weights
to-onnx` builds from the same prototxt and caffemodel, so nothing imports
Caffe).  Both give `tile_shape` and `blob(name)`, a forward(tile) -> blob
function for tools.tiling.tiled, so tiling, zoom and reports stay shared.

Runs inside containers too (Python 3.6): the ONNX modules load only for `onnx`.
"""
import importlib.util
import os
import re
import subprocess
import sys

import numpy as np

from prototxt_gen.cli_common import UserError

BACKENDS = ("caffe", "onnx")


class BackendError(UserError):
    """A net or weights the backend cannot run, or a missing extra: one line."""


# What Caffe or CUDA says when a GPU asked for cannot be used (glog FATAL lines,
# and Docker's when it has no GPU to give), and what that means.
GPU_FAILURES = (
    ("Cannot use GPU in CPU-only Caffe", "this Caffe is built CPU-only: use a CUDA build "
                                         "(docker/README.md)"),
    ("invalid device ordinal", "there is no such GPU (CUDA: invalid device ordinal): "
                               "nvidia-smi lists the GPUs, numbered from 0"),
    ("CUDA driver version is insufficient", "CUDA finds no usable NVIDIA driver (CUDA: driver "
                                            "version is insufficient): install or update it"),
    ("no CUDA-capable device is detected", "CUDA sees no GPU here: nvidia-smi should list one"),
    ("all CUDA-capable devices are busy or unavailable",
     "the GPU is busy or held by another process (exclusive mode): wait, or pick another"),
    ("Multi-GPU execution not available", "this Caffe is built without NCCL, so it trains on "
                                          "one GPU only: pass one device, --gpu N"),
    ("could not select device driver", "Docker cannot give the container a GPU: install the "
                                       "NVIDIA Container Toolkit"),
)


def gpu_problem(output, gpu, cpu_fix):
    """One line for Caffe output that says GPU `gpu` cannot be used, or None."""
    for said, meaning in GPU_FAILURES:
        if said in output:
            return "--gpu %s: %s; or %s" % (gpu, meaning, cpu_fix)
    return None


def try_gpu(argv, gpu, cpu_fix):
    """Runs `argv`, a child that only sets up GPU `gpu`: Caffe aborts its whole
    process (exit 134 and a stack trace) on a GPU it cannot use, so the GPU is
    tried apart before the real work; its failure becomes one line."""
    env = dict(os.environ, GLOG_logtostderr="1", GLOG_minloglevel="2")  # FATAL lines only
    try:
        child = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True)  # Python 3.6: no capture_output
    except OSError as e:
        raise UserError("cannot run %s: %s" % (argv[0], e.strerror or e))
    if child.returncode:
        lines = [line.strip() for line in child.stdout.splitlines() if line.strip()]
        fatal = [line for line in lines if re.match(r"F\d{4}", line)]  # glog's FATAL
        raise UserError(gpu_problem(child.stdout, gpu, cpu_fix) or
                        "--gpu %s: Caffe cannot use it (exit %d: %s); or %s"
                        % (gpu, child.returncode, (fatal or lines[-1:] or ["no message"])[0],
                           cpu_fix))


def add_argument(parser):
    parser.add_argument("--backend", choices=BACKENDS, default="caffe",
                        help="forward pass by pycaffe, or by ONNX Runtime without Caffe (CUDA "
                             "when onnxruntime has it, else CPU; pip install -e .[onnx]) "
                             "(default: %(default)s)")


def open_net(backend, prototxt, weights, gpu=None, checked=None):
    """A deploy net of `backend` with tile_shape and blob(name); `checked`, the
    (net, fitted layers) the caller already read, spares ONNX a second read."""
    if backend == "caffe":
        return CaffeNet(prototxt, weights, gpu)
    return OnnxNet(prototxt, weights, gpu, checked)


# What `import caffe` imports beyond this project's own dependencies (numpy,
# scipy, protobuf): module -> the package that installs it.
PYCAFFE_IMPORTS = (("six", "six"), ("skimage", "scikit-image"))


def pycaffe_problem(error, find_spec=importlib.util.find_spec):
    """One line for an ImportError of `import caffe`: the Python packages pycaffe
    imports that are missing here, with the pip command, and where pycaffe itself
    comes from when it is not found."""
    missing = [package for module, package in PYCAFFE_IMPORTS if find_spec(module) is None]
    name = getattr(error, "name", None) or ""
    top = name.split(".")[0]
    other = top and top != "caffe" and top not in dict(PYCAFFE_IMPORTS)
    if other:
        missing.append(top)  # another module pycaffe imports; its package is likely so named
    pip = "%s -m pip install " % shown_python()
    install = pip + " ".join(missing) + (
        "" if other else " (or, in this checkout, %s-e .[caffe])" % pip)
    needs = "the Python package%s %s" % ("s" if len(missing) > 1 else "", ", ".join(missing))
    if missing and name != "caffe":
        return "cannot import pycaffe (%s): it needs %s, missing here: %s" % (error, needs, install)
    return ("cannot import pycaffe (%s): source the env file tools/install_caffe.sh prints, or run "
            "in a Caffe image%s" % (error, "; it also needs %s: %s" % (needs, install)
                                    if missing else ""))


def shown_python():
    """This interpreter as a user would type it: .venv/bin/python in the checkout."""
    if not sys.executable:
        return "python3"
    relative = os.path.relpath(sys.executable)
    return relative if not relative.startswith("..") else sys.executable


def import_pycaffe():
    try:
        import caffe
    except ImportError as e:
        raise UserError(pycaffe_problem(e))
    return caffe


# pycaffe sets up GPU argv[1], and nothing else (run by this interpreter, in this
# environment and folder, it is the pycaffe this process loads).
PYCAFFE_GPU = "import sys, caffe; caffe.set_device(int(sys.argv[1])); caffe.set_mode_gpu()"


class CaffeNet:
    """A pycaffe net in TEST phase whose first input takes one tile."""

    def __init__(self, prototxt, weights, gpu=None):
        os.environ.setdefault("GLOG_minloglevel", "1")  # no INFO dump of every layer
        caffe = import_pycaffe()  # here: --backend onnx runs without Caffe
        if gpu is None:
            caffe.set_mode_cpu()
        else:
            try_gpu([sys.executable, "-c", PYCAFFE_GPU, str(gpu)], gpu,
                    "leave out --gpu to run on the CPU")
            caffe.set_device(gpu)
            caffe.set_mode_gpu()
        self.net = caffe.Net(str(prototxt), caffe.TEST, weights=str(weights))
        self.input = self.net.inputs[0]
        self.tile_shape = tuple(self.net.blobs[self.input].data.shape[2:])

    def blob(self, name):
        """forward() for `tiled` that returns blob `name` of the tile."""
        if name not in self.net.blobs:
            raise KeyError("the net has no blob %r (it has %s)" % (name, ", ".join(self.net.blobs)))

        def forward(tile):
            self.net.blobs[self.input].data[0] = tile
            self.net.forward()
            return self.net.blobs[name].data[0].copy()
        return forward


def providers(available, gpu):
    """ONNX Runtime execution providers: CUDA (device `gpu`, default 0) when this
    onnxruntime has it, then the CPU."""
    if "CUDAExecutionProvider" in available:
        return [("CUDAExecutionProvider", {"device_id": gpu or 0}), "CPUExecutionProvider"]
    if gpu is not None:
        raise BackendError("--gpu %d: this onnxruntime has no CUDAExecutionProvider; install "
                           "onnxruntime-gpu, or leave out --gpu to run on the CPU" % gpu)
    return ["CPUExecutionProvider"]


class OnnxNet:
    """A deploy net and caffemodel run by ONNX Runtime; each blob asked for gets
    a graph that outputs it."""

    def __init__(self, prototxt, weights, gpu=None, checked=None):
        try:
            import onnxruntime
            from .weights import WeightsError
            from .weights import onnx_export
        except ImportError as e:
            raise BackendError("--backend onnx needs the onnx extra (%s): pip install -e .[onnx]" % e)
        self._runtime, self._export = onnxruntime, onnx_export
        self._providers = providers(onnxruntime.get_available_providers(), gpu)
        try:
            if checked:
                onnx_export.check_mapped(checked[0])
            self._net, self._layers = checked or onnx_export.load(prototxt, weights)
        except WeightsError as e:
            raise BackendError(str(e))
        self._sessions = {}
        self.input, blob = next(iter(onnx_export.input_blobs(self._net).items()))
        self.tile_shape = (blob.height, blob.width)

    def blob(self, name):
        """forward() for `tiled` that returns blob `name` of the tile; the graph
        and session of each blob are built once (seconds for VGG)."""
        if name not in self._sessions:
            try:
                model = self._export.to_model(self._net, self._layers, [name])
            except self._export.WeightsError as e:
                raise BackendError(str(e))
            self._sessions[name] = self._runtime.InferenceSession(model.SerializeToString(),
                                                                  providers=self._providers)
        session = self._sessions[name]

        def forward(tile):
            batch = np.ascontiguousarray(tile[None], dtype=np.float32)
            return session.run([name], {self.input: batch})[0][0]
        return forward
