"""What a stage was run from, so a rerun can tell "done", "interrupted" and
"inputs changed" apart: a JSON stamp per stage holding the commands and a
fingerprint of every input (content hash for small files, size and mtime
for large ones and for the files under a directory).  A stage built from many
files (the data stage: every image and label) names each of them."""
import hashlib
import json
import os

from prototxt_gen.cli_common import atomic_output

HASHED = 1 << 26  # files up to 64 MiB are hashed; larger ones (weights, LMDBs) stat'ed


def _file(path):
    st = os.stat(path)
    if st.st_size > HASHED:
        return "%d:%d" % (st.st_size, st.st_mtime_ns)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(path):
    """A string that changes when the file (or any file under the directory) does."""
    if os.path.isfile(path):
        return _file(path)
    if os.path.isdir(path):
        entries = []
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                st = os.stat(full)
                entries.append("%s:%d:%d" % (os.path.relpath(full, path), st.st_size, st.st_mtime_ns))
        return hashlib.sha256("\n".join(entries).encode()).hexdigest()
    return "missing"


def key(commands, inputs):
    return {"commands": commands, "inputs": {path: fingerprint(path) for path in inputs}}


def read(path):
    """The stamp; None if there is none.  One that is no stamp (damaged, not a
    JSON object) matches no key, so its stage is redone, as after a change."""
    try:
        with open(path) as f:
            stamp = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def write(path, stamp):
    """Whole or not at all (temporary name, then rename)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_output(path) as tmp, open(tmp, "w") as f:
        json.dump(stamp, f, indent=1, sort_keys=True)
