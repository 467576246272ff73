"""A tiny training workspace laid out like the repository root: the generated
CamVid context solver on synthetic records."""
from google.protobuf import text_format

from prototxt_gen.generate import Options, all_files, write
from prototxt_gen.schema import pb
from synthetic import feature_label_records, write_lmdb
from tools.data.feature_records import float_datum

CLASSES = 11  # CamVid: its context module is the small Basic one


def make_workspace(root):
    """models/camvid/context_* at a 24-cell crop, batch 2, on 4 synthetic records."""
    opts = Options(datasets=("camvid",), stages=("context",), out="models", lmdb_root="data",
                   context_crop=24, context_batch=2, cpu=True)
    write(all_files(opts), root=str(root))
    for split in ("context_train", "context_val"):
        write_lmdb(root / "data" / "camvid" / ("%s_lmdb" % split),
                   map(float_datum, feature_label_records(4, 24, CLASSES)))
    return root


def solver_copy(root, name, **fields):
    """models/camvid/context_solver.prototxt with some fields changed, snapshots
    under snapshots/camvid/<name>; written with our schema."""
    param = text_format.Parse((root / "models/camvid/context_solver.prototxt").read_text(),
                              pb.SolverParameter())
    param.test_iter[0] = 1
    param.test_interval = 1000
    param.snapshot_prefix = "snapshots/camvid/%s" % name
    param.random_seed = 7
    stepvalue = fields.pop("stepvalue", None)
    for key, value in fields.items():
        setattr(param, key, value)
    if stepvalue:
        param.stepvalue.extend(stepvalue)
    path = root / ("%s_solver.prototxt" % name)
    path.write_text(text_format.MessageToString(param))
    return path
