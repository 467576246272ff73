"""Weight tools: .caffemodel <-> .npz, ImageNet VGG-16 -> front end, identity
initialization of the context module, joint merge, bilinear upsampling.

Run `python -m tools.weights --help`.  Caffe is never imported: caffemodels are
read and written with our own schema (prototxt_gen.schema), so these tools work
where no Caffe is installed.
"""
from prototxt_gen.cli_common import UserError


class WeightsError(UserError):
    """A bad file or weights that do not fit a net: one line for the user, not a traceback."""
