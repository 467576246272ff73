"""Mutated and truncated caffemodels (seeded): the reader ends each in our one
error class or a valid result, never another exception, a crash or a hang.

The cases run in a child process with a time limit, so a crash inside protobuf
or numpy, or a hang, fails the test instead of killing the run.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

CASES = 1200


def base_files(folder):
    """A narrow V1 VGG-16 and a current-format file with legacy dims, double_data
    and several blobs per layer."""
    from prototxt_gen.schema import pb
    from weights_fixtures import NARROW, write_vgg_v1

    net = pb.NetParameter(name="current")
    conv = net.layer.add(name="conv", type="Convolution")
    conv.blobs.add(shape={"dim": [4, 3, 3, 3]}, data=np.arange(108) / 7.0)
    conv.blobs.add(shape={"dim": [4]}, double_data=[1, 2, 3, 4])
    ip = net.layer.add(name="ip", type="InnerProduct")
    ip.blobs.add(num=1, channels=1, height=5, width=36, data=np.arange(180) % 11)
    ip.blobs.add(num=1, channels=1, height=1, width=5, data=range(5))
    net.layer.add(name="relu", type="ReLU")
    (folder / "current.caffemodel").write_bytes(net.SerializeToString())
    return [(folder / "current.caffemodel").read_bytes(),
            write_vgg_v1(folder / "v1.caffemodel", NARROW).read_bytes()]


def mutate(data, rng):
    """One of: truncate, flip bytes, overwrite with extremes, insert, delete or
    duplicate a span; often two at once."""
    data = bytearray(data)
    for _ in range(rng.integers(1, 3)):
        i = int(rng.integers(0, len(data) + 1))
        kind = rng.integers(0, 6)
        if kind == 0:
            data = data[:i]
        elif kind == 1:
            for j in rng.integers(0, max(1, len(data)), rng.integers(1, 9)):
                if j < len(data):
                    data[j] ^= int(rng.integers(1, 256))
        elif kind == 2:
            data[i:i + 1] = bytes([int(rng.choice([0x00, 0x7F, 0x80, 0xFF]))])
        elif kind == 3:
            data[i:i] = rng.integers(0, 256, int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
        elif kind == 4:
            del data[i:i + int(rng.integers(1, 64))]
        else:
            data[i:i] = data[i:i + int(rng.integers(1, 64))]
    return bytes(data)


def fuzz(folder, cases, seed):
    """Reads every mutated file fully; returns how each ended."""
    from tools.weights import WeightsError
    from tools.weights.caffemodel import Caffemodel

    rng = np.random.default_rng(seed)
    bases, outcomes = base_files(folder), {"valid": 0, "error": 0}
    path = folder / "mutated.caffemodel"
    for case in range(cases):
        path.write_bytes(mutate(bases[case % len(bases)], rng))
        try:
            for layer in Caffemodel(path).layers.values():
                assert [a.shape for a in layer.load()] == list(layer.shapes), (case, layer)
            outcomes["valid"] += 1
        except WeightsError as e:
            assert "\n" not in str(e)
            outcomes["error"] += 1
    return outcomes


def test_mutated_caffemodels_end_in_our_error_or_a_valid_result(tmp_path):
    tests = Path(__file__).resolve().parent
    proc = subprocess.run([sys.executable, __file__, str(tmp_path), str(CASES), "7"],
                          cwd=tests.parent, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcomes = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sum(outcomes.values()) == CASES and min(outcomes.values()) > 50, outcomes


if __name__ == "__main__":
    sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
    print(json.dumps(fuzz(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
