"""The facts of the paper and of the released models, each stated once: the
front end's margin and stride, the ignore label and palettes, the context
module of Table 1, the data sets, and where every generated or trained file
lives (docs/design.md).

Only the standard library is imported here, so the tools that run inside
Python 3.6 containers (no protobuf schema) read the same facts as the
generators.
"""
from dataclasses import replace


def overridden(facts, **choices):
    """`facts` (a Dataset, a ContextModule) with the user's choices; a choice of
    None keeps the default, so every command merges options one way."""
    return replace(facts, **{name: value for name, value in choices.items() if value is not None})
