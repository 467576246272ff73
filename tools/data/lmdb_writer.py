"""Records -> an LMDB that Caffe's Data layer reads, built so that a killed or
failed build is never taken for a complete one.

A build writes `<path>.partial`, syncs it, renames it to `<path>` and only then
writes the companion `<path>.json`: that manifest is the completion marker.  A
build first removes leftovers of an earlier one (the marker first), so a rerun
after a kill starts over cleanly.  It holds `<path>.lock` throughout, so a
second build of the same LMDB stops instead of removing the first one's work.
"""
import collections
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time

import lmdb
from tqdm import tqdm

from prototxt_gen.cli_common import USER_ERRNOS, atomic_output

from .parallel import ordered_map
from .validate import BadSample, DataError, missing_files

INITIAL_MAP_SIZE = 1 << 30
COMMIT_BYTES = 64 << 20


def manifest_path(path):
    """Beside the LMDB itself: a symlinked LMDB directory keeps its manifest at its target."""
    return os.path.realpath(path) + ".json"


def is_complete(path):
    """The manifest is written last, so its presence means the LMDB is whole."""
    return os.path.isdir(path) and os.path.isfile(manifest_path(path))


def read_manifest(path):
    try:
        with open(manifest_path(path)) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise DataError("cannot read the manifest %s (%s); --force rebuilds the LMDB"
                        % (manifest_path(path), e))


def shuffled(samples, seed):
    """Caffe reads records in key order, so the key prefix is the training order:
    sorted by a hash of (seed, name), the same on every machine and every Python."""
    if seed is None:
        return list(samples)
    return sorted(samples,
                  key=lambda s: hashlib.sha256(b"%d:%s" % (seed, s.name.encode())).digest())


def list_checksum(samples):
    text = "".join("%s\t%s\t%s\n" % s for s in samples)
    return hashlib.sha256(text.encode()).hexdigest()


def build(path, samples, encode, info, seed=None, workers=None, skip_bad=False,
          map_size=INITIAL_MAP_SIZE):
    """Writes encode(sample) -> (serialized Datum, record shape) for every sample,
    keyed "%08d_<name>" in `shuffled` order, replacing whatever is at `path`.
    `info` goes into the manifest, which is returned.  A symlink at `path` is
    built through: the LMDB replaces its target and the link stays."""
    path = os.path.realpath(path)
    if not samples:
        raise DataError("no samples to write to %s" % path)
    missing = missing_files(samples)
    if missing and not skip_bad:
        raise next(iter(missing.values()))
    skipped = [str(e) for e in missing.values()]
    keyed = [(b"%08d_%s" % (i, s.name.encode()), s)
             for i, s in enumerate(shuffled(samples, seed)) if s.name not in missing]
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with locked(path):
        for leftover in (manifest_path(path), path + ".partial", path + ".old"):
            _remove(leftover)
        try:
            written = _write(path + ".partial", keyed, encode, workers, skip_bad, map_size,
                             os.path.basename(path))
        except lmdb.Error as e:
            _remove(path + ".partial")
            code = _errno(e)
            if code is None:
                raise
            raise DataError("cannot write %s: %s; nothing was kept (free space, or choose "
                            "another --lmdb-root)" % (path, os.strerror(code)))
        except BaseException:
            _remove(path + ".partial")
            raise
        if not written["samples"]:
            _remove(path + ".partial")
            raise DataError("no sample of %d could be read; nothing written to %s"
                            % (len(samples), path))
        _replace_dir(path + ".partial", path)
        manifest = dict(info, lmdb=os.path.abspath(path), records=len(written["samples"]),
                        skipped=skipped + written["skipped"], seed=seed,
                        list_sha256=list_checksum(samples), data_bytes=written["bytes"],
                        file_bytes=os.path.getsize(os.path.join(path, "data.mdb")),
                        record_shapes=written["shapes"],
                        created=time.strftime("%Y-%m-%d %H:%M:%S"),
                        samples=[[key.decode(), os.path.abspath(s.source),
                                  os.path.abspath(s.label)] for key, s in written["samples"]])
        _write_json(manifest_path(path), manifest)
    return manifest


@contextlib.contextmanager
def locked(path):
    """Holds an exclusive flock on `<path>.lock`, which names the holder's pid;
    one that is held stops this build with one line.  The file is removed while
    held, so a lock taken on a file no longer at that name is taken again."""
    lock = path + ".lock"
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DataError("another build of %s is running (pid %s): let it finish, or stop it "
                            "and run this again" % (path, holder))
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % os.getpid())
        yield
    finally:
        os.remove(lock)
        os.close(fd)


def _errno(error):
    """The user-caused OS error behind an lmdb.Error (a full disk: ENOSPC, or EIO
    for a short write), else None: its message ends in strerror (older py-lmdb
    has no `.code`)."""
    return next((n for n in USER_ERRNOS if str(error).endswith(os.strerror(n))), None)


def _write(partial, keyed, encode, workers, skip_bad, map_size, desc):
    done, skipped, shapes, total = [], [], collections.Counter(), 0
    batch, batch_bytes = [], 0
    # No writemap: with it, a full disk is a SIGBUS in the middle of a copy and
    # leaves a file as large as the map; without it, ENOSPC is an error at commit.
    with lmdb.open(partial, map_size=map_size, sync=False) as env, \
            tqdm(total=len(keyed), desc=desc, unit="pair", disable=None) as bar:
        for (key, sample), future in ordered_map(lambda item: encode(item[1]), keyed, workers):
            bar.update()
            try:
                value, shape = future.result()
            except BadSample as e:
                if not skip_bad:
                    raise
                skipped.append(str(e))
                continue
            done.append((key, sample))
            shapes["x".join(map(str, shape))] += 1
            batch.append((key, value))
            batch_bytes += len(value)
            total += len(value)
            if batch_bytes >= COMMIT_BYTES:
                _commit(env, batch)
                batch, batch_bytes = [], 0
        _commit(env, batch)
        env.sync(True)
    return dict(samples=done, skipped=skipped, shapes=dict(shapes), bytes=total)


def _commit(env, batch):
    """Grows the map instead of failing: the aborted transaction is redone in a larger one."""
    while True:
        try:
            with env.begin(write=True) as txn:
                for key, value in batch:
                    txn.put(key, value, append=True)
            return
        except lmdb.MapFullError:
            env.set_mapsize(2 * env.info()["map_size"])


def _replace_dir(new, path):
    """Two renames; a kill between them leaves no `path`, i.e. an incomplete build."""
    if os.path.exists(path):
        os.rename(path, path + ".old")
    os.rename(new, path)
    _remove(path + ".old")


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def _write_json(path, data):
    with atomic_output(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
