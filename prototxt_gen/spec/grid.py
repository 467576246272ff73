"""Where the front end's output cells sit on the input (docs/design.md, The front
end): the unpadded VGG-16 loses MARGIN pixels on each side, and each output
cell is STRIDE pixels from the next, so cell (i, j) stands for the STRIDE x STRIDE
block of input pixels from (MARGIN + STRIDE i, MARGIN + STRIDE j); the training
labels and the zoom take the block's first pixel."""

MARGIN = 186
STRIDE = 8


def output_size(input_size):
    """Front-end output cells of an input side of `input_size` pixels."""
    return (input_size - 2 * MARGIN) // STRIDE


def cell_centre(stride):
    """The input pixel on which cell 0 of an output `stride` pixels apart is
    centred when its cells stand for the blocks from MARGIN on, as above: the
    front end's at 189.5 (its 2 x 2 poolings lean right), their bilinear x8
    upsampling's (layers.deconv) at 186."""
    return MARGIN + (stride - 1) / 2


def crop_problem(size, what="crop"):
    """Why an input side of `size` pixels (a training crop, a deploy tile) does
    not give whole output cells, or None."""
    low = 2 * MARGIN + STRIDE
    if size >= low and (size - 2 * MARGIN) % STRIDE == 0:
        return None
    below = max(low, size - (size - 2 * MARGIN) % STRIDE)
    return ("%d: the front end needs (%s - %d) %% %d == 0 and %s >= %d; use %d or %d"
            % (size, what, 2 * MARGIN, STRIDE, what, low, below, below + STRIDE))
