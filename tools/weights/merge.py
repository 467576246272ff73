"""Joint initialization: a trained front end and a trained context module in one
caffemodel for the joint net (checked strictly against it by netcheck.fit)."""
from . import WeightsError


def merge(front_end, context):
    """Both caffemodel.Caffemodels' layers; a name in both is an error (which wins?)."""
    both = [name for name in context.layers if name in front_end.layers]
    if both:
        raise WeightsError("layers in both %s and %s: %s"
                           % (front_end.path, context.path, ", ".join(both)))
    return {**front_end.layers, **context.layers}
