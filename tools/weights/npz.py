"""Weights as .npz: one array per blob named `<layer>/<index>`, plus a JSON
manifest (net name, source format, each layer's type and shapes) stored as the
string array `manifest`, so the file reads with numpy alone and describes
itself.  Arrays are written and read one at a time through numpy's .npy format
inside the zip (np.savez would need them all in memory at once).
"""
import json
import math
import os
import zipfile

import numpy as np

from prototxt_gen.cli_common import atomic_output

from . import WeightsError
from .caffemodel import ALLOW_NONFINITE, Layer, caffe_arrays, progress_bar, shape_text

MANIFEST = "manifest"
NUMERIC = "fiub"  # dtype kinds Caffe can take (as float32)


def _member(zf, name, array):
    with zf.open(name + ".npy", "w", force_zip64=True) as f:
        np.lib.format.write_array(f, array, allow_pickle=False)


def save(path, model, progress=False, finite=False):
    """Writes the arrays of a caffemodel.Caffemodel as Caffe reads them (float32);
    returns the manifest."""
    manifest = {"source": os.path.basename(model.path), "net": model.name,
                "format": "V1 (legacy `layers`)" if model.legacy else "current (`layer`)",
                "layers": []}
    layers = list(model.layers.values())
    with atomic_output(path) as tmp, \
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf, \
            progress_bar(sum(l.count for l in layers), "to-npz", progress) as bar:
        for layer in layers:
            entry = {"name": layer.name, "type": layer.type,
                     "shapes": [list(s) for s in layer.shapes], "dtypes": []}
            if layer.file_shapes:
                entry["file_shapes"] = [list(s) for s in layer.file_shapes]
            for i, array in enumerate(caffe_arrays(layer, ALLOW_NONFINITE if finite else None)):
                _member(zf, "%s/%d" % (layer.name, i), array)
                entry["dtypes"].append(array.dtype.name)
            manifest["layers"].append(entry)
            bar.update(layer.count)
        _member(zf, MANIFEST, np.array(json.dumps(manifest, indent=1)))
    return manifest


def describe(manifest):
    """The manifest as text: one line per layer with its blob shapes."""
    lines = ["net %r from %s, %s format: %d layers with weights, %d parameters" % (
        manifest["net"], manifest["source"], manifest["format"], len(manifest["layers"]),
        sum(math.prod(s) for entry in manifest["layers"] for s in entry["shapes"]))]
    for entry in manifest["layers"]:
        stored = entry.get("file_shapes", entry["shapes"])
        shapes = [shape_text(s) + ("" if s == f else " (stored %s)" % shape_text(f))
                  for s, f in zip(entry["shapes"], stored)]
        lines.append("  %-16s %-14s %s" % (entry["name"], entry["type"], "  ".join(shapes)))
    return "\n".join(lines)


class Npz:
    """An .npz of weights: `layers` (caffemodel.Layer; shapes from the .npy headers,
    arrays read when loaded) in file order, and `manifest` (dict, or None for an
    .npz written by other means; layer types then come from the net)."""

    def __init__(self, path):
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as e:
            raise WeightsError("cannot read %s as an .npz: %s" % (path, e))
        members, self.manifest, types = {}, None, {}
        for member in self._zip.namelist():
            key = member[:-4] if member.endswith(".npy") else member
            if key == MANIFEST:
                self.manifest, types = self._manifest(member)
                continue
            layer, slash, index = key.rpartition("/")
            if not slash or not index.isdigit() or str(int(index)) != index:
                raise WeightsError("%s: array %r is not named <layer>/<blob index>"
                                   % (path, member))
            members.setdefault(layer, {})[int(index)] = member
        self.layers = {}
        for name, blobs in members.items():
            if sorted(blobs) != list(range(len(blobs))):
                raise WeightsError("%s: layer %r has blobs %s; they must be numbered 0 to %d"
                                   % (path, name, sorted(blobs), len(blobs) - 1))
            names = [blobs[i] for i in range(len(blobs))]
            self.layers[name] = Layer(name, types.get(name, ""),
                                      tuple(self._shape(m) for m in names),
                                      lambda names=names: [self._array(m) for m in names],
                                      source=str(path))

    def _open(self, member, read):
        try:
            with self._zip.open(member) as f:
                return read(f)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise WeightsError("%s: cannot read %s: %s" % (self.path, member, e))

    def _shape(self, member):
        def header(f):
            version = np.lib.format.read_magic(f)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            return read(f)
        shape, _, dtype = self._open(member, header)
        if dtype.kind not in NUMERIC:
            raise WeightsError("%s: %s holds %s, not numbers" % (self.path, member, dtype))
        return shape

    def _array(self, member):
        return self._open(member, lambda f: np.lib.format.read_array(f, allow_pickle=False))

    def _manifest(self, member):
        """The manifest and the layer types it names."""
        try:
            manifest = json.loads(str(self._array(member)[()]))
            return manifest, {e["name"]: e["type"] for e in manifest["layers"]}
        except (ValueError, KeyError, TypeError) as e:
            raise WeightsError("%s: its manifest is not ours (%s)" % (self.path, e))
