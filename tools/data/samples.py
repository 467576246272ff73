"""A sample is a named (input, label) pair of files; the input is an image for
the front end or a score map for the context module."""
import os
from typing import NamedTuple

from prototxt_gen.cli_common import UserError, read_lines

from .validate import DataError


class Sample(NamedTuple):
    name: str     # unique within a build; part of the LMDB key and of feature file names
    source: str   # image file, or .npy score map
    label: str    # palette/grayscale PNG or SBD .mat


def read_list(path):
    """One path per line, as in the authors' train_image.txt / train_label.txt."""
    try:
        return read_lines(path)
    except UserError as e:
        raise DataError(str(e))


def paired(sources_list, labels_list):
    """Two parallel lists -> samples named by the source file's stem."""
    sources, labels = read_list(sources_list), read_list(labels_list)
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
