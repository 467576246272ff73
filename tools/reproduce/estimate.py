"""What a recipe will cost, for `--dry-run`: the training compute of every
solver, counted from its net's shapes (the multiply-adds of each convolution,
x2 for FLOPs, x3 for forward and backward), its time at a stated throughput,
and the disk its snapshots take (weights and solver state, float32).  The
LMDBs' disk and build time are tools.data's own --dry-run figures."""
import math
import os

from prototxt_gen import shapes
from prototxt_gen.prototxt import read_prototxt
from prototxt_gen.schema import pb

from ..data.estimate import size
from ..weights.netcheck import param_shapes

# An assumption, printed with every time figure: what one large GPU sustains on
# these nets in Caffe's im2col convolutions (no cuDNN); a CPU is ~100x slower.
ASSUMED_TFLOPS = {"gpu": 10.0, "cpu": 0.1}
IMAGE_CHANNELS = 3  # a Data layer leaves its channels open; the first convolution reads B, G, R


def multiply_adds(net):
    """Per forward pass of the whole batch."""
    total = 0
    for layer, bottoms, tops in shapes.walk(net, shapes.inputs(net), lenient=True):
        if layer.type not in ("Convolution", "Deconvolution") or not tops or None in (
                bottoms[0], tops[0]):
            continue
        cp = layer.convolution_param
        taps = math.prod(layer_kernel(cp))
        if layer.type == "Convolution":
            channels = bottoms[0].channels or IMAGE_CHANNELS
            total += math.prod(tops[0].dims) * channels // cp.group * taps
        else:
            total += math.prod(bottoms[0].dims) * cp.num_output // cp.group * taps
    return total


def layer_kernel(cp):
    kernel = list(cp.kernel_size) or [cp.kernel_h, cp.kernel_w]
    return kernel * 2 if len(kernel) == 1 else kernel


def solver_cost(solver_path, root="."):
    """{iterations, flops, snapshot_bytes} of one generated solver (paths in it
    are relative to `root`, where caffe train runs)."""
    solver = read_prototxt(solver_path, pb.SolverParameter)
    net = shapes.load(os.path.join(root, solver.train_net), phase=pb.TRAIN)
    per_pass = multiply_adds(net) * 2 * 3
    iterations = solver.max_iter
    weights = 4 * sum(math.prod(s) for _, blobs in param_shapes(net).values() for s in blobs
                      if None not in s)
    kept = math.ceil(iterations / solver.snapshot) if solver.snapshot else 1
    return dict(iterations=iterations, flops=per_pass * max(solver.iter_size, 1) * iterations,
                snapshot_bytes=kept * 2 * weights)  # each snapshot: .caffemodel + .solverstate


def hours(seconds):
    if seconds < 3600:
        return "%d min" % math.ceil(seconds / 60)
    return "%.1f h" % (seconds / 3600) if seconds < 72 * 3600 else "%.1f days" % (seconds / 86400)


def rows(solvers, root, device):
    """Table rows (stage, iterations, PFLOP, time, snapshots on disk) and the totals."""
    tflops = ASSUMED_TFLOPS[device]
    table, flops, disk = [], 0, 0
    for stage, path in solvers:
        cost = solver_cost(path, root)
        flops += cost["flops"]
        disk += cost["snapshot_bytes"]
        table.append((stage, cost["iterations"], "%.1f" % (cost["flops"] / 1e15),
                      hours(cost["flops"] / (tflops * 1e12)), size(cost["snapshot_bytes"])))
    table.append(("total", "-", "%.1f" % (flops / 1e15), hours(flops / (tflops * 1e12)),
                  size(disk)))
    return table, tflops
