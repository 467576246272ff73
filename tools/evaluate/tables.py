"""An evaluation as the paper shows it: one line per system, a column per
class (VOC: aero ... tv; background counts in the mean but, as in the paper,
gets no column), then mean IoU and any further metrics some row has (e.g.
Cityscapes' iIoU); as text, CSV and an HTML page with examples."""
import csv
import math
import os
from collections import namedtuple

import jinja2

# ious: {class name: percent}; metrics: {metric name: percent}, shown after mean IoU
Row = namedtuple("Row", "source name ious mean metrics")
Row.__new__.__defaults__ = (None,)  # metrics optional: defaults= needs Python 3.7


def metric_columns(rows):
    """The metrics any row has, in the order of the row with the most; a row
    without one shows '-'."""
    found = []
    for row in sorted(rows, key=lambda r: -len(r.metrics or {})):
        found += [m for m in row.metrics or {} if m not in found]
    return found


def _metric(row, name):
    return (row.metrics or {}).get(name)


def shown_columns(names):
    return [n for n in names if n != "background"]


def _cell(value, width):
    return ("-" if value is None or math.isnan(value) else "%.1f" % value).rjust(width)


def text_table(rows, columns):
    name_width = max(len(r.name) for r in rows)
    widths = [max(5, len(c)) for c in columns]
    metrics = metric_columns(rows)
    lines = [" " * name_width + " " + " ".join(c.rjust(w) for c, w in zip(columns, widths))
             + "  mean IoU" + "".join("  " + m for m in metrics)]
    source = None
    for row in rows:
        if row.source != source:
            source = row.source
            lines.append("[%s]" % source)
        cells = [_cell(row.ious.get(c), w) for c, w in zip(columns, widths)]
        lines.append(row.name.ljust(name_width) + " " + " ".join(cells) + _cell(row.mean, 10)
                     + "".join(_cell(_metric(row, m), len(m) + 2) for m in metrics))
    return "\n".join(lines)


def write_csv(path, rows, columns):
    """To `path`, a temporary name the caller renames (atomic_output)."""
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        metrics = metric_columns(rows)
        out.writerow(["source", "name"] + list(columns) + ["mean IoU"] + metrics)
        for row in rows:
            values = ([row.ious.get(c) for c in columns] + [row.mean]
                      + [_metric(row, m) for m in metrics])
            out.writerow([row.source, row.name] + ["" if v is None or math.isnan(v) else "%.2f" % v
                                                   for v in values])


def write_html(path, title, rows, columns, examples):
    """To `path`, a temporary name the caller renames (atomic_output).  examples:
    dicts with name and the paths of input (or None), prediction and truth
    images, relative to the page."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.dirname(__file__)),
                             autoescape=True)
    metrics = metric_columns(rows)
    page = env.get_template("report.html.j2").render(
        title=title, columns=columns, metrics=metrics, examples=examples,
        rows=[(r.source, r.name, [_cell(r.ious.get(c), 0) for c in columns], _cell(r.mean, 0),
               [_cell(_metric(r, m), 0) for m in metrics]) for r in rows])
    with open(path, "w") as f:
        f.write(page)
