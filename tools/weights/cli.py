"""Command line: `python -m tools.weights {to-npz,from-npz,vgg16,identity,merge,to-onnx}`.

A bad file, a misfit or a bad argument ends in one line and exit code 2, never
a traceback.
"""
import argparse
import sys

from prototxt_gen import cli_common
from prototxt_gen.cli_common import Parser, dataset, positive
from prototxt_gen.spec import overridden
from prototxt_gen.spec import vgg16 as vgg16_facts
from prototxt_gen.spec.datasets import DATASETS

from . import WeightsError
from .caffemodel import ALLOW_NONFINITE, Caffemodel, slow_backend_warning, write
from .identity import AUTHORS_STD, MAX_STD, context_init
from .merge import merge
from .netcheck import crf_rnn_layers, fit, load_net
from .npz import Npz, describe, save
from .vgg16 import RANDOM, default_net, front_end_init, random_init, verify, without_filler

PROG = "python -m tools.weights"
DESCRIPTION = """\
Weight tools for the dilated-convolution nets (no Caffe needed):
  to-npz    caffemodel (current or legacy V1 format) -> .npz + manifest
  from-npz  .npz -> caffemodel, checked against a net prototxt
  vgg16     ImageNet VGG-16 caffemodel (checksum verified) -> the front end's
            initial weights; `random` in place of the file: smoke-test weights
  identity  identity-initialized context module (paper eq. 4, 5)
  merge     trained front end + trained context module -> joint net weights
  to-onnx   deploy prototxt + caffemodel -> ONNX model (opset 17), checked
Fixed bilinear Deconvolution layers of the net (Cityscapes' ctx_upsample) get
their weights written too.
"""

VGG16_DESCRIPTION = """\
conv1_1..conv5_3 copied, fc6 reshaped to 4096x512x7x7, fc7 to 4096x4096x1x1,
fc8 dropped; the classifier (final / fc-final) is left to its filler
(Gaussian std 0.001).

The file must be the published %s (%d bytes):
  %s
  sha256 %s
--any-vgg skips this check, for another VGG-16 file.

The word `random` in place of the file writes random weights of the same
shapes (Caffe's xavier filler, zero biases) to smoke-test the pipeline
without the file: not ImageNet weights, useless for the paper's numbers.
(A file named random: give ./random.)
"""


def noise(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text)
    if not 0 <= value <= MAX_STD:
        raise argparse.ArgumentTypeError("%s: a standard deviation must be >= 0 and at most %.3g, "
                                         "or Caffe's float32 weights overflow" % (text, MAX_STD))
    return value


def seed(text):
    """numpy seeds are whole numbers >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text)
    if value < 0:
        raise argparse.ArgumentTypeError("%d: a seed must be >= 0" % value)
    return value


def parser():
    p = Parser(prog=PROG, description=DESCRIPTION,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("to-npz", help="caffemodel -> .npz; prints the manifest",
                       description="Every blob of every layer as an array `<layer>/<index>` "
                                   "in float32, as Caffe reads it (double_data cast), plus a "
                                   "JSON manifest `manifest`. Legacy V1 files get Caffe's "
                                   "upgraded shapes (InnerProduct 1x1xMxN -> MxN, biases "
                                   "1x1x1xN -> N).")
    c.add_argument("model", metavar="MODEL.caffemodel")
    c.add_argument("out", metavar="OUT.npz")

    c = sub.add_parser("from-npz", help=".npz -> caffemodel for a net",
                       description="Checks every array against the shapes the net's prototxt "
                                   "implies, then writes the caffemodel. Layers of the net not in "
                                   "the .npz are left to the net's fillers.")
    c.add_argument("npz", metavar="IN.npz")
    c.add_argument("net", metavar="NET.prototxt")
    c.add_argument("out", metavar="OUT.caffemodel")

    c = sub.add_parser("vgg16", help="ImageNet VGG-16 -> front-end initial weights",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=VGG16_DESCRIPTION % (vgg16_facts.FILE, vgg16_facts.SIZE,
                                                        vgg16_facts.URL, vgg16_facts.SHA256))
    c.add_argument("vgg", metavar="VGG_ILSVRC_16_layers.caffemodel|random")
    c.add_argument("out", metavar="OUT.caffemodel")
    c.add_argument("--net", metavar="NET.prototxt",
                   help="front-end net to check against (default: the generated front end)")
    c.add_argument("--any-vgg", action="store_true",
                   help="skip the checksum: a VGG-16 that is not the published file (converted, "
                        "or a synthetic one for tests); its layers are still checked against "
                        "the net")
    c.add_argument("--seed", type=seed, default=0, help="seed of `random` weights (default 0)")

    c = sub.add_parser("identity", help="identity-initialized context module",
                       description="Context module weights by paper eq. 4/5 "
                                   "(docs/design.md, Initial weights): "
                                   "N(0, noise^2), then every centre tap of a group set to "
                                   "C/c_out; biases 0. Module and layer names from the data set.")
    c.add_argument("out", metavar="OUT.caffemodel")
    c.add_argument("--dataset", type=dataset, required=True, metavar="NAME",
                   help="one of %s" % ", ".join(DATASETS))
    c.add_argument("--width", choices=("basic", "large"), help="default: the data set's")
    c.add_argument("--layers", type=int, choices=(7, 8, 10), help="default: the data set's")
    c.add_argument("--classes", type=positive, help="C (default: the data set's)")
    c.add_argument("--noise", type=noise, default=AUTHORS_STD,
                   help="std of the noise (default %(default)s, the authors'; 0 gives eq. 4)")
    c.add_argument("--seed", type=seed, default=0)
    c.add_argument("--net", metavar="NET.prototxt", help="also check against this net")

    c = sub.add_parser("merge", help="front end + context module -> joint net weights",
                       description="All layers of both, checked against the joint net: missing, "
                                   "unexpected and misshapen layers are errors; a CRF-RNN layer "
                                   "(a --crf-rnn net) may be missing: it starts from crfasrnn's "
                                   "Potts values. A fixed bilinear upsampling layer the net lacks "
                                   "(Cityscapes' front end `upsample`, the joint net's "
                                   "`ctx_upsample`) is left out: it holds nothing learned.")
    c.add_argument("front_end", metavar="FRONTEND.caffemodel")
    c.add_argument("context", metavar="CONTEXT.caffemodel")
    c.add_argument("net", metavar="JOINT.prototxt")
    c.add_argument("out", metavar="OUT.caffemodel")

    c = sub.add_parser("to-onnx", help="deploy net + caffemodel -> ONNX model (opset 17)",
                       description="An ONNX model (opset 17, IR 8; batch size left open) of a "
                                   "deploy net, legacy `input:` fields included: Convolution "
                                   "(dilation, pad, group, stride), Deconvolution, MAX Pooling "
                                   "with Caffe's rounding, ReLU, Softmax, Crop; Dropout and Split "
                                   "pass through. Any other layer type is an error. Every "
                                   "parameter layer must be in the caffemodel (fixed bilinear "
                                   "upsampling is filled in); its other layers are ignored, as "
                                   "Caffe ignores them. The ONNX checker and ONNX's shape "
                                   "inference (against Caffe's sizes) must pass. Needs the onnx "
                                   "extra: pip install -e .[onnx]")
    c.add_argument("net", metavar="DEPLOY.prototxt")
    c.add_argument("model", metavar="W.caffemodel")
    c.add_argument("out", metavar="OUT.onnx")
    c.add_argument("--output", action="append", metavar="BLOB",
                   help="blob to expose as an output, repeatable (default: the net's outputs, "
                        "e.g. prob)")
    for c in sub.choices.values():
        c.add_argument("--allow-nonfinite", action="store_true",
                       help="write NaN or infinite weights (as Caffe reads them: float32) "
                            "instead of refusing them")
    return p


def _to_onnx(args):
    try:
        from . import onnx_export
    except ImportError as e:
        raise WeightsError("to-onnx needs the onnx package (%s): pip install -e .[onnx]" % e)
    model = onnx_export.export(args.net, args.model, args.output,
                               None if args.allow_nonfinite else ALLOW_NONFINITE)
    onnx_export.save(model, args.out)
    shapes = ["%s %s" % (v.name, "x".join(str(d.dim_value or d.dim_param)
                                           for d in v.type.tensor_type.shape.dim))
              for v in model.graph.output]
    return "wrote %s: opset %d, %d nodes, outputs %s" % (
        args.out, onnx_export.OPSET, len(model.graph.node), ", ".join(shapes))


def _written(args, net, layers, left=()):
    out = args.out
    write(out, layers, net.name if net else "", progress=None, finite=not args.allow_nonfinite)
    line = "wrote %s: %d layers, %d parameters" % (
        out, len(layers), sum(l.count for l in layers))
    return line + ("; left to the net's fillers: %s" % ", ".join(left) if left else "")


INPUTS = {"to-npz": ("model",), "from-npz": ("npz", "net"), "vgg16": ("vgg", "net"),
          "identity": ("net",), "merge": ("front_end", "context", "net"),
          "to-onnx": ("net", "model")}


def run(args):
    cli_common.refuse_overwrite(args.out, [getattr(args, name) for name in INPUTS[args.command]])
    if args.command == "to-npz":
        manifest = save(args.out, Caffemodel(args.model), progress=None,
                        finite=not args.allow_nonfinite)
        return describe(manifest) + "\nwrote %s" % args.out
    if args.command == "from-npz":
        net = load_net(args.net)
        return _written(args, net, *fit(net, Npz(args.npz).layers, required=()))
    if args.command == "vgg16":
        net = load_net(args.net) if args.net else default_net()
        if args.vgg == RANDOM:
            layers = random_init(net, args.seed)
            return _written(args, net, *fit(net, layers, required=without_filler(net))) + (
                "\nRANDOM weights (Caffe's xavier filler, seed %d), not ImageNet's VGG-16: for "
                "smoke tests only, never for the paper's numbers" % args.seed)
        cli_common.require_files([args.vgg])
        if not args.any_vgg:
            verify(args.vgg)
        layers = front_end_init(Caffemodel(args.vgg))
        return _written(args, net, *fit(net, layers, required=without_filler(net)))
    if args.command == "identity":
        ds = overridden(DATASETS[args.dataset], context_layers=args.layers,
                        context_width=args.width)
        module = overridden(ds.context(), classes=args.classes)
        try:
            layers = context_init(module, args.noise, args.seed)
        except MemoryError as e:  # numpy names the size: "Unable to allocate 671. GiB ..."
            raise WeightsError("a context module of %d classes does not fit in memory (%s); "
                               "give fewer --classes" % (module.classes, e))
        if args.net:
            net = load_net(args.net)
            return _written(args, net, *fit(net, layers, required=()))
        return _written(args, None, list(layers.values()))
    if args.command == "to-onnx":
        return _to_onnx(args)
    net = load_net(args.net)
    layers = merge(Caffemodel(args.front_end), Caffemodel(args.context),
                   {layer.name for layer in net.layer})
    everything_but_crf_rnn = {layer.name for layer in net.layer} - crf_rnn_layers(net)
    return _written(args, net, *fit(net, layers, required=everything_but_crf_rnn))


def main(argv=None):
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    warning = slow_backend_warning()
    if warning:
        print(warning, file=sys.stderr)
    return cli_common.main("%s %s" % (PROG, args.command), lambda: print(run(args)) or 0)
