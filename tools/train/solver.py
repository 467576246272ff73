"""What the runner must know about a solver before Caffe starts: its nets and
LMDBs (for Docker mounts), the number of classes (for the divergence limit)
and the snapshots already on disk (for resuming).

Paths inside a solver and its nets are relative to the directory Caffe runs
in (`cwd`), as the generated files are.
"""
import os
import re
from dataclasses import dataclass
from functools import cached_property, partial

from google.protobuf import empty_pb2
from google.protobuf.message import DecodeError

from prototxt_gen import shapes
from prototxt_gen.cli_common import UserError
from prototxt_gen.geometry import ReportError
from prototxt_gen.prototxt import read_prototxt
from prototxt_gen.schema import pb
from prototxt_gen.spec import paths
from prototxt_gen.spec.table1 import is_context_conv

# Solvers and nets we hand to Caffe: fields outside our schema are Caffe's business.
read = partial(read_prototxt, skip_unknown=True, say_kind=True)


def intact(path):
    """A snapshot file that parses whole: a run killed while Caffe wrote it (or a
    full disk) leaves a truncated one that Caffe would abort on when resuming.
    HDF5 snapshots are only checked for being non-empty."""
    try:
        if path.endswith(".h5"):
            return os.path.getsize(path) > 0
        with open(path, "rb") as f:
            data = f.read()
        empty_pb2.Empty.FromString(data)  # any message: checks the wire format only
        return bool(data)
    except (OSError, DecodeError):
        return False


@dataclass(frozen=True)
class Snapshot:
    iteration: int
    state: str    # .solverstate (or .solverstate.h5)
    weights: str  # the matching .caffemodel


class Solver:
    def __init__(self, path, cwd="."):
        self.path = os.path.abspath(path)
        self.cwd = os.path.abspath(cwd)
        self.param = read(path, pb.SolverParameter)

    def resolve(self, path):
        return os.path.join(self.cwd, path)

    @property
    def prefix(self):
        """Absolute snapshot prefix, e.g. .../snapshots/pascal_voc/context, as
        Caffe settles it: without snapshot_prefix, the solver file's path less
        its extension; for a folder, the solver file's stem inside it."""
        if not self.param.HasField("snapshot_prefix"):
            return os.path.splitext(self.path)[0]
        prefix = self.resolve(self.param.snapshot_prefix)
        if os.path.isdir(prefix):
            return os.path.join(prefix, os.path.splitext(os.path.basename(self.path))[0])
        return prefix

    @property
    def name(self):
        return os.path.basename(self.prefix)

    @property
    def max_iter(self):
        return self.param.max_iter

    def net_paths(self):
        p = self.param
        return [self.resolve(n) for n in [p.net, p.train_net, *p.test_net] if n]

    @cached_property
    def _nets(self):
        """{path: net}, each file read once however often it is asked about."""
        return {path: read(path, pb.NetParameter) for path in self.net_paths()}

    def nets(self):
        return list(self._nets.values())

    def lmdb_sources(self):
        return sorted({self.resolve(layer.data_param.source)
                       for net in self.nets() for layer in net.layer
                       if layer.type == "Data" and layer.data_param.source})

    def missing(self):
        """Nets and LMDBs the solver names that do not exist (Caffe would abort)."""
        missing = [p for p in self.net_paths() if not os.path.exists(p)]
        return missing or [p for p in self.lmdb_sources() if not os.path.isdir(p)]

    def train_path(self):
        return self.resolve(self.param.train_net or self.param.net)

    def classes(self):
        """Channels of the scores fed to the training loss, as the shape engine
        traces the training net; None where it cannot know them (no loss, a
        layer it does not model, a Data layer without crop_size on the way)."""
        path = self.train_path()
        net = self._nets[path]
        try:
            for layer, bottoms, _ in shapes.walk(net, shapes.inputs(net), lenient=True):
                if layer.type == "SoftmaxWithLoss":
                    return bottoms[0].channels if bottoms and bottoms[0] else None
        except ReportError as e:  # a window Caffe would abort on
            raise UserError("%s: %s" % (path, e))
        return None

    def gpu_mode(self):
        """Caffe trains on the GPU without --gpu only when solver_mode: GPU is
        written (its device_id then picks the GPU); the field's default is not."""
        return (self.param.HasField("solver_mode")
                and self.param.solver_mode == pb.SolverParameter.GPU)

    @cached_property
    def _training(self):
        """The training net's layers as `caffe train` builds them: phase TRAIN, with
        the file's own level and stages (shapes.at_phase; a solver's train_state,
        outside our schema, aside)."""
        path = self.train_path()
        net = self._nets[path]
        try:
            return shapes.at_phase(net, pb.TRAIN, net.state.level).layer
        except ReportError as e:  # rules Caffe refuses
            raise UserError("%s: %s" % (path, e))

    def batch(self):
        """Samples per forward pass of the training net's Data layers (None: none)."""
        return sum(layer.data_param.batch_size for layer in self._training
                   if layer.type == "Data") or None

    def python_layers(self):
        """Python layers of the training net: Caffe's multi-GPU training aborts on them."""
        return [layer.name for layer in self._training if layer.type == "Python"]

    def context_layers(self):
        """Learned context convolutions of the training net (ctx_* / ct_*; not the
        fixed ctx_upsample): Caffe's default filler leaves them 0, where no
        gradient ever moves them, unless the initial weights hold them."""
        return [layer.name for layer in self._nets[self.train_path()].layer
                if is_context_conv(layer.type, layer.name)]

    def snapshots(self):
        """Snapshots of this solver on disk, oldest first."""
        folder, base = os.path.split(self.prefix)
        pattern = re.compile(re.escape(base) + r"_iter_(\d+)\.solverstate(\.h5)?$")
        found = []
        for name in os.listdir(folder) if os.path.isdir(folder) else ():
            m = pattern.match(name)
            if m:
                iteration, h5 = int(m.group(1)), m.group(2) or ""
                weights = paths.snapshot_weights(self.prefix, iteration) + h5
                found.append(Snapshot(iteration, os.path.join(folder, name), weights))
        return sorted(found, key=lambda s: s.iteration)

    def latest(self, warn=None):
        """The newest snapshot whose files are whole; warn(message) is told of
        newer ones that are not."""
        for snap in reversed(self.snapshots()):
            broken = [p for p in (snap.state, snap.weights) if not intact(p)]
            if not broken:
                return snap
            if warn:
                warn("snapshot of iteration %d is truncated or unreadable (%s); falling back to "
                     "the previous one" % (snap.iteration, ", ".join(broken)))
        return None

    def finished(self):
        latest = self.latest()
        return latest is not None and latest.iteration >= self.max_iter
