"""Where the front end's output cells sit on the input (docs/design.md, The front
end): the unpadded VGG-16 loses MARGIN pixels on each side, and each output
cell is STRIDE pixels from the next, so cell (i, j) is centred on input pixel
(MARGIN + STRIDE i, MARGIN + STRIDE j)."""

MARGIN = 186
STRIDE = 8


def output_size(input_size):
    """Front-end output cells of an input side of `input_size` pixels."""
    return (input_size - 2 * MARGIN) // STRIDE


def crop_problem(size):
    """Why a training crop does not give whole output cells, or None."""
    low = 2 * MARGIN + STRIDE
    if size >= low and (size - 2 * MARGIN) % STRIDE == 0:
        return None
    below = max(low, size - (size - 2 * MARGIN) % STRIDE)
    return ("%d: the front end needs (crop - %d) %% %d == 0 and crop >= %d; use %d or %d"
            % (size, 2 * MARGIN, STRIDE, low, below, below + STRIDE))
