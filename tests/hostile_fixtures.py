"""The contract every hostile-input test holds a command to: exit code 2,
exactly one line on stderr (`<prog>: error: ...`, no traceback), every file
that was there unchanged, and no new file left behind."""
import hashlib
import os
import shutil
import stat

from helpers import run_module

PROGS = {"prototxt_gen": "python -m prototxt_gen", "tools.data": "python -m tools.data",
         "tools.weights": "python -m tools.weights", "tools.train": "python -m tools.train",
         "tools.predict": "python -m tools.predict", "tools.features": "python -m tools.features",
         "tools.evaluate": "python -m tools.evaluate",
         "tools.reproduce": "python -m tools.reproduce"}


def copied(base, tmp_path):
    """A fresh copy of a module's base workspace (symlinks kept as links), so
    that each case starts from the same files and may spoil its own."""
    work = tmp_path / "ws"
    shutil.copytree(base, work, symlinks=True)
    return work


def snapshot(root):
    """{path: SHA-256} of every file (through symlinks: what a reader gets); a
    FIFO or device is recorded by kind, since reading it would block or never end."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            key = os.path.relpath(path, root)
            try:
                if not stat.S_ISREG(os.stat(path).st_mode):
                    found[key] = "special"
                    continue
                with open(path, "rb") as f:
                    found[key] = hashlib.sha256(f.read()).hexdigest()
            except OSError:
                found[key] = "unreadable"
    return found


def assert_contract(ws, module, args, word, env=None):
    before = snapshot(ws)
    out = run_module(module, *args, cwd=ws, env=env)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr and len(lines) == 1, out.stderr[-2000:]
    assert lines[0].startswith(PROGS[module]) and ": error: " in lines[0], lines[0]
    assert word.lower() in lines[0].lower(), (word, lines[0])
    after = snapshot(ws)
    assert {k: after.get(k) for k in before} == before, "an input was modified"
    assert sorted(set(after) - set(before)) == [], "left files behind"
    return lines[0]
