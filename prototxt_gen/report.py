"""`python -m prototxt_gen report NET.prototxt`: the shape engine's answer
(shapes.py) as a table, one row per top, plus the context module's receptive
fields as the paper's Table 1 prints them, so a user can check a net before
handing it to Caffe.
"""
from .shapes import check_bottoms, context_fields, inputs, load, trace

COLUMNS = "%-22s %-16s %-16s %-22s %10s %10s"


def report(path):
    """The table of every layer of the net at `path`; raises ReportError."""
    net = load(path)
    check_bottoms(net)
    rows = trace(net, inputs(net))
    ctx = context_fields(net, rows)
    lines = [COLUMNS % ("layer", "type", "top", "output (C x H x W)", "RF (input)", "RF (ctx)")]
    for r in rows:
        shape = "scalar" if r.blob is None else r.blob.shape()
        rf = "" if r.blob is None else "%dx%d" % r.blob.rf
        c = "%dx%d" % (ctx[r.layer], ctx[r.layer]) if r.layer in ctx else ""
        lines.append(COLUMNS % (r.layer, r.type, r.top, shape, rf, c))
    if ctx:
        lines.append("")
        lines.append("Context module receptive field (paper Table 1, in input feature cells): "
                     + " ".join(str(v) for v in ctx.values()))
    return "\n".join(lines)
