"""The shape engine against real Caffe on random nets: every blob's
C x H x W equals what Caffe allocates, and every net Caffe rejects is
rejected by the engine with a message."""
import json
import subprocess
import sys

import pytest
from google.protobuf import text_format

from helpers import TESTS, caffe_env
from prototxt_gen import shapes
from prototxt_gen.schema import pb
from random_nets import random_nets

NETS, SEED = 1200, 12
pytestmark = pytest.mark.caffe


def report_shapes(text):
    """{blob: [C, H, W]} as the shape engine traces the net, or its message."""
    net = text_format.Parse(text, pb.NetParameter())
    try:
        shapes.check_bottoms(net)
        rows = shapes.trace(net, shapes.inputs(net))
    except shapes.ReportError as e:
        return str(e)
    return {r.top: [r.blob.channels, r.blob.height, r.blob.width] for r in rows}


def test_random_nets_have_caffes_shapes(tmp_path):
    nets = random_nets(NETS, SEED)
    (tmp_path / "nets.json").write_text(json.dumps(nets))
    proc = subprocess.run([sys.executable, str(TESTS / "caffe_geometry_jobs.py"),
                           str(tmp_path / "nets.json")], env=caffe_env(), capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    caffe = json.loads(proc.stdout.strip().splitlines()[-1])
    outcomes, wrong = {}, []
    for text, built in zip(nets, caffe):
        ours = report_shapes(text)
        if built is None:
            kind = "both reject" if isinstance(ours, str) else "report accepts, Caffe rejects"
        elif isinstance(ours, str):
            empty = any(0 in shape for shape in built.values())
            kind = "report refuses an empty blob" if empty else "report rejects, Caffe accepts"
        else:
            # Caffe's own Split copies (x_..._split_N) of shared blobs are not in the prototxt
            same = all(ours[name] == shape[1:] for name, shape in built.items()
                       if "_split_" not in name)
            kind = "same shapes" if same else "different shapes"
        outcomes[kind] = outcomes.get(kind, 0) + 1
        if kind not in ("both reject", "report refuses an empty blob", "same shapes"):
            wrong.append((kind, text, built, ours))
    print("random nets vs Caffe: %s" % outcomes)
    assert not wrong, "%d of %d disagree; first: %s" % (len(wrong), NETS, wrong[0])
    assert outcomes.get("same shapes", 0) >= 500 and outcomes.get("both reject", 0) >= 50
