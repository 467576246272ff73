"""The context module (paper section 3) appended to a net, layer by layer as
spec.table1.ContextModule describes it."""
from . import layers as L


def context_module(net, bottom, module):
    """Appends the module's layers (ReLU after all but the last); returns its output."""
    top = bottom
    for spec in module.layers():
        top = L.conv(net, spec.name, top, spec.c_out, kernel=spec.kernel,
                     dilation=spec.dilation, pad=spec.pad)
        if spec.relu:
            L.relu(net, spec.name.replace("conv", "relu").replace("fc", "relu_fc"), top)
    return top
