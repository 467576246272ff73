"""The loss curve as a PNG, drawn with Pillow (no plotting library needed).
Learning-rate changes (the multistep drops) are marked, so a bend in the
curve can be matched to the schedule."""
import math

from PIL import Image, ImageDraw, ImageFont

from prototxt_gen.cli_common import atomic_output

SIZE = (900, 500)
BOX = (70, 40, 870, 450)  # left, top, right, bottom of the plotting area
INK, GRID, CURVE, MARK = (0, 0, 0), (225, 225, 225), (31, 119, 180), (214, 39, 40)


def nice_ticks(low, high, count=6):
    """Round tick values covering [low, high]."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def plot_losses(rows, path, title):
    """rows: (iteration, loss, lr) with finite losses."""
    image = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    left, top, right, bottom = BOX
    draw.text((left, 12), title, fill=INK, font=font)
    if rows:
        its = [r[0] for r in rows]
        losses = [r[1] for r in rows]
        x0, x1 = min(its), max(max(its), min(its) + 1)
        y0, y1 = 0.0, max(losses) * 1.05 or 1.0
        sx = lambda x: left + (x - x0) * (right - left) / (x1 - x0)  # noqa: E731
        sy = lambda y: bottom - (y - y0) * (bottom - top) / (y1 - y0)  # noqa: E731
        for y in nice_ticks(y0, y1):
            draw.line([(left, sy(y)), (right, sy(y))], fill=GRID)
            draw.text((8, sy(y) - 6), "%g" % y, fill=INK, font=font)
        for x in nice_ticks(x0, x1):
            draw.text((sx(x) - 10, bottom + 6), "%g" % x, fill=INK, font=font)
        previous = None
        for it, _, lr in rows:
            if lr is not None and previous is not None and lr != previous:
                for y in range(top, bottom, 8):
                    draw.line([(sx(it), y), (sx(it), y + 4)], fill=MARK)
                draw.text((sx(it) + 4, top + 4), "lr %g" % lr, fill=MARK, font=font)
            previous = lr if lr is not None else previous
        draw.line([(sx(i), sy(v)) for i, v in zip(its, losses)], fill=CURVE, width=2)
    draw.rectangle(BOX, outline=INK)
    draw.text(((left + right) // 2 - 25, bottom + 24), "iteration", fill=INK, font=font)
    draw.text((8, 12), "loss", fill=INK, font=font)
    with atomic_output(path) as tmp:
        image.save(tmp, format="PNG")
