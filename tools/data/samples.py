"""A sample is a named (input, label) pair of files; the input is an image for
the front end or a score map for the context module."""
import os
from typing import NamedTuple

from prototxt_gen.cli_common import read_paths

from .validate import DataError


class Sample(NamedTuple):
    name: str     # unique within a build; part of the LMDB key and of feature file names
    source: str   # image file, or .npy score map
    label: str    # palette/grayscale PNG or SBD .mat


def paired(sources_list, labels_list):
    """Two parallel lists, as the authors' train_image.txt / train_label.txt ->
    samples named by the source file's stem.  A relative entry is read from its
    list's folder, wherever the command runs (tools.reproduce runs it elsewhere)."""
    sources, labels = read_paths(sources_list), read_paths(labels_list)
    if len(sources) != len(labels):
        raise DataError("%s lists %d files but %s lists %d: the lists must pair line by line"
                        % (sources_list, len(sources), labels_list, len(labels)))
    samples = [Sample(os.path.splitext(os.path.basename(s))[0], s, l)
               for s, l in zip(sources, labels)]
    return unique(samples, sources_list)


def unique(samples, where):
    """Names key the records and the context stage's score maps, so they must not repeat."""
    seen = set()
    for s in samples:
        if s.name in seen:
            raise DataError("%s is listed twice in %s" % (s.name, where))
        seen.add(s.name)
    return samples


def files(samples):
    """Every file the samples are read from: what a build's result depends on."""
    return [path for s in samples for path in (s.source, s.label)]
