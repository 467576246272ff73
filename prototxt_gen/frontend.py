"""The front end (paper section 4): VGG-16 with pool4/pool5 removed, later
convolutions dilated instead, and no padding anywhere.

The output cell (i, j) sees input pixel 186 + 8i at its centre, so an input of
S pixels gives (S - 372) / 8 cells (spec.grid; tests check these layers give it).
"""
from . import layers as L

# (block, convolutions, channels, dilation, followed by a 2x2 max pool)
VGG_BLOCKS = (
    (1, 2, 64, 1, True),
    (2, 2, 128, 1, True),
    (3, 3, 256, 1, True),
    (4, 3, 512, 1, False),  # pool4 removed
    (5, 3, 512, 2, False),  # pool5 removed; dilated by 2 for pool4
)
FC6 = dict(num_output=4096, kernel=7, dilation=4)  # dilated by 4: after both removed pools
FC7 = dict(num_output=4096, kernel=1)
FINAL_FILLER = dict(type="gaussian", std=0.001)


def front_end(net, bottom, num_classes, classifier="final", train=False):
    """Appends conv1_1 ... fc7 and the classifier; returns (its first conv's top,
    the score blob): the labels are cut to the first conv's grid."""
    top, first = bottom, None
    for block, count, channels, dilation, pooled in VGG_BLOCKS:
        for i in range(1, count + 1):
            name = "conv%d_%d" % (block, i)
            top = L.conv(net, name, top, channels, dilation=dilation)
            first = first or top
            L.relu(net, "relu%d_%d" % (block, i), top)
        if pooled:
            top = L.max_pool(net, "pool%d" % block, top, kernel=2, stride=2)
    for n, spec in ((6, FC6), (7, FC7)):
        top = L.conv(net, "fc%d" % n, top, **spec)
        L.relu(net, "relu%d" % n, top)
        if train:
            L.dropout(net, "drop%d" % n, top)
    return first, L.conv(net, classifier, top, num_classes, kernel=1, weight_filler=FINAL_FILLER)
