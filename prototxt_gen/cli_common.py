"""The contract every command keeps, in one place: bad input is one line
`<prog>: error: ...` and exit code 2; Ctrl-C is exit 130 without a traceback;
a closed pipe (`... | head`) ends quietly; outputs are written whole, through
symlinks, into folders made as needed, and never over an input.

Only `UserError` (and the few OS errors listed in `main`) become messages;
anything else is our bug and keeps its traceback.  The argument types every
command shares live here too.  Imports only the facts (spec), so the container
tools (Python 3.6, no schema) use it too.
"""
import argparse
import contextlib
import errno
import os
import re
import stat
import sys

from .spec import grid, paths
from .spec.datasets import DATASETS

USAGE, INTERRUPTED, BROKEN_PIPE = 2, 130, 141
# OS errors a user's paths or disk cause
USER_ERRNOS = {errno.ENOENT, errno.EEXIST, errno.EACCES, errno.EPERM, errno.EISDIR,
               errno.ENOTDIR, errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO,
               errno.ENAMETOOLONG, errno.ELOOP, errno.EFBIG}
# A write that fails for want of room (or on a failing device) raises from
# write() or close(), which name no file: the output being written is named.
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG}


class UserError(Exception):
    """Something the user can fix; its text is the whole message."""


class Parser(argparse.ArgumentParser):
    """argparse, but an error is a single line (usage is in --help)."""

    def error(self, message):
        self.exit(USAGE, "%s: error: %s\n" % (self.prog, message))


# ---- argument types: argparse turns their ArgumentTypeError into one line ----

def positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text)
    if value < 1:
        raise argparse.ArgumentTypeError("%d must be at least 1" % value)
    return value


def crop_size(text):
    value = positive(text)
    problem = grid.crop_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def dataset(text):
    if text not in DATASETS:
        raise argparse.ArgumentTypeError(
            "unknown data set %r; choose from %s" % (text, ", ".join(DATASETS)))
    return text


def stage(text):
    if text not in paths.STAGES:
        raise argparse.ArgumentTypeError("unknown stage %r; choose from %s"
                                         % (text, ", ".join(paths.STAGES)))
    return text


def stage_iterations(text):
    """STAGE=N -> (stage, N)."""
    name, _, count = text.partition("=")
    return stage(name), positive(count)


def tile_size(text):
    """N or HxW (deploy tile in pixels; each side > 372 and a whole number of
    output cells, so that the tiles abut: tools/tiling.py)."""
    sides = text.lower().split("x")
    if len(sides) > 2:
        raise argparse.ArgumentTypeError("%r: give N or HxW" % text)
    sizes = tuple(positive(s) for s in sides)
    if min(sizes) <= 2 * grid.MARGIN:
        raise argparse.ArgumentTypeError("%r: a deploy tile must be larger than %d pixels"
                                         % (text, 2 * grid.MARGIN))
    problems = [grid.crop_problem(side, "tile") for side in sizes]
    if any(problems):
        raise argparse.ArgumentTypeError("%r: %s" % (text, next(filter(None, problems))))
    return sizes * 2 if len(sizes) == 1 else sizes


def gpus(text):
    """--gpu of `caffe train`: N, several as 0,1,... (one solver per GPU) or all,
    returned as the text caffe's --gpu takes; Caffe itself would abort (or
    throw from boost) on anything else."""
    if text == "all":
        return text
    numbers = text.split(",")
    if not all(re.match(r"[0-9]{1,9}\Z", n) for n in numbers):  # int32, as Caffe parses it
        raise argparse.ArgumentTypeError("%r: give a GPU number N, several as 0,1,... or all"
                                         % text)
    devices = [int(n) for n in numbers]
    if len(set(devices)) < len(devices):
        raise argparse.ArgumentTypeError("%r names a GPU twice" % text)
    return ",".join(map(str, devices))


def gpu(text):
    """--gpu of a command that runs one pycaffe net: a single device number."""
    value = gpus(text)
    if value == "all" or "," in value:
        raise argparse.ArgumentTypeError("%r: this command runs one net on one GPU; give one "
                                         "device number, e.g. --gpu 0" % text)
    return int(value)


# ---- the handler and the file checks ----

def os_error(error, action="access"):
    """One line for an OSError on a user's path."""
    name = error.filename if error.filename is not None else "a file"
    return "cannot %s %s: %s" % (action, name, error.strerror or error)


def main(prog, body, *args):
    """Runs body(*args) -> exit code, turning what a user can cause into one line."""
    try:
        return body(*args)
    except UserError as e:
        message = str(e)
    except BrokenPipeError:
        # Whoever read our output left (`| head`): stop quietly, and keep the
        # interpreter's final flush from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    except OSError as e:
        if e.errno not in USER_ERRNOS:
            raise  # e.g. EBADF, EINVAL: our bug, with its traceback
        message = os_error(e)
    except KeyboardInterrupt:
        print("%s: interrupted; partial outputs removed" % prog, file=sys.stderr)
        return INTERRUPTED
    print("%s: error: %s" % (prog, message.replace("\n", " ")), file=sys.stderr)
    return USAGE


def read_text(path, what="list"):
    """A UTF-8 text file (a list, a pairs file) whole.  A byte-order mark (some
    editors write one) is dropped; a NUL byte, which no path holds, is refused."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except OSError as e:
        raise UserError("cannot read %s %s: %s" % (what, path, e.strerror or e))
    except UnicodeDecodeError as e:
        raise UserError("%s %s is not UTF-8 text (byte 0x%02x at offset %d): a %s holds one "
                        "path per line" % (what, path, e.object[e.start], e.start, what))
    if "\0" in text:
        raise UserError("%s %s holds a NUL character (line %d): a %s is text, one path per line"
                        % (what, path, text.count("\n", 0, text.index("\0")) + 1, what))
    return text


def read_lines(path, what="list"):
    """The non-blank lines of a UTF-8 text file, stripped."""
    return [line.strip() for line in read_text(path, what).splitlines() if line.strip()]


def listed(entry, list_path):
    """A path named in a list file: a relative one is read from the list's own
    folder, so a list names the same files whatever directory it is used from."""
    return os.path.join(os.path.dirname(os.path.abspath(list_path)), entry)


def read_paths(path, what="list"):
    """The paths a list names, one per non-blank line (see `listed`)."""
    return [listed(line, path) for line in read_lines(path, what)]


def shown(path):
    """A path as a message prints it: characters that show as nothing (a stray
    byte-order mark, a zero-width space, a control character) are escaped."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(path))


FILE_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
              (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def file_problem(path):
    """Why `path` is not an input file a command can read, or None: a FIFO or a
    device (e.g. /dev/null) exists but would block, or read as empty."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return "does not exist"
        return "cannot be read (%s)" % (e.strerror or e)
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    kind = next((name for test, name in FILE_KINDS if test(mode)), "a special file")
    return "is %s, not a regular file" % kind


def require_files(files):
    for path in files:
        problem = file_problem(path)
        if problem:
            raise UserError("%s %s" % (shown(path), problem))


def same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_overwrite(output, inputs):
    """An output that is one of the inputs would destroy it: refuse first."""
    for path in inputs:
        if path and same_file(output, path):
            raise UserError("output %s is the input %s; choose another output name"
                            % (output, path))


def output_paths(sources, folder, extension, inputs=None):
    """One output per source, OUT/<stem><extension>; two sources with one stem
    would overwrite each other, and an output must not be an input (default:
    the sources)."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UserError("output folder %s is a file; give a folder" % folder)
    made = {}
    for path in sources:
        target = os.path.join(folder, os.path.splitext(os.path.basename(path))[0] + extension)
        if target in made:
            raise UserError("%s and %s would both be written to %s; rename one or run them "
                            "separately" % (made[target], path, target))
        made[target] = path
        refuse_overwrite(target, sources if inputs is None else inputs)
    return list(made)


def make_folder(folder, output):
    """Makes `folder` and its missing parents, so that an output may name a folder
    not made yet (init/frontend.caffemodel on a fresh clone); returns the
    folders made, deepest first."""
    made = []
    while not os.path.isdir(folder):
        made.append(folder)
        folder = os.path.dirname(folder)
    try:
        for path in reversed(made):
            try:
                os.mkdir(path)
            except FileExistsError:
                if not os.path.isdir(path):  # else another process made it just now
                    raise
    except OSError as e:  # a file where a folder must go, no permission, a read-only disk
        remove_folders(made)
        why = "a file is in the way" if e.errno == errno.EEXIST else e.strerror or e
        raise UserError("cannot make the folder %s for %s: %s" % (e.filename, output, why))
    return made


def remove_folders(folders):
    """Removes the folders make_folder made, deepest first, where still empty."""
    for path in folders:
        try:
            os.rmdir(path)
        except OSError:
            pass


@contextlib.contextmanager
def atomic_output(path, inputs=()):
    """Yields a temporary name in the directory of the file `path` leads to (a
    symlink is written through; missing folders are made); the file replaces
    that target only once the block has succeeded, so a failure or Ctrl-C
    leaves the old file (or none, and no folder made for it)."""
    refuse_overwrite(path, inputs)
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise UserError("output %s is a directory; give a file name" % path)
    made = make_folder(os.path.dirname(target), path)
    tmp = os.path.join(os.path.dirname(target), ".%s.tmp%d" % (os.path.basename(target), os.getpid()))
    done = False
    try:
        yield tmp
        os.replace(tmp, target)
        done = True
    except OSError as e:
        if e.filename not in (tmp, target) and not (e.filename is None
                                                    and e.errno in DISK_ERRNOS):
            raise
        raise UserError("cannot write %s: %s" % (path, e.strerror or e))
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)
        if not done:
            remove_folders(made)
