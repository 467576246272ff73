"""Weight tools: .caffemodel <-> .npz, ImageNet VGG-16 -> front end, identity
initialization of the context module, joint merge, bilinear upsampling.

Run `python -m tools.weights --help`.  Caffe is never imported: caffemodels are
read and written with our own schema (prototxt_gen.schema), so these tools work
where no Caffe is installed.
"""
import contextlib
import os


class WeightsError(Exception):
    """A bad file or weights that do not fit a net: one line for the user, not a traceback."""


@contextlib.contextmanager
def whole_file(path):
    """Yields a temporary name that replaces `path` only once the block is done,
    so an interrupted or failed write never leaves a truncated file behind."""
    tmp = "%s.tmp%d" % (path, os.getpid())
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        raise WeightsError("cannot write %s: %s" % (path, e.strerror))
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
