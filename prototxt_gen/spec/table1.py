"""The context module of the paper's Table 1, as data.

`ContextModule.layers()` is the single description of the module: the net
builder, the shape report and the identity initialization all read it.
"""
from dataclasses import dataclass

# Layer-name prefixes of the released models' context modules (VOC `ct_`, the
# others `ctx_`); the fixed `ctx_upsample` Deconvolution is not a context conv.
PREFIXES = ("ctx_", "ct_")


def is_context_conv(layer_type, name):
    return layer_type == "Convolution" and name.split("_")[0] + "_" in PREFIXES


@dataclass(frozen=True)
class ConvSpec:
    name: str
    kernel: int
    dilation: int
    pad: int
    relu: bool
    c_in: int
    c_out: int

    @property
    def weight_shape(self):
        return (self.c_out, self.c_in, self.kernel, self.kernel)


@dataclass(frozen=True)
class ContextModule:
    """`num_layers` counts every conv of the module, as docs/design.md does (7, 8, 10).

    `width` is "basic" (C channels everywhere) or "large" (Table 1's 2C ... 32C);
    `padding` is "same" (each 3x3 conv pads by its dilation) or "buffer" (the
    first conv pads by the whole margin, as the released VOC model does).
    """
    classes: int
    num_layers: int = 8
    width: str = "basic"
    padding: str = "same"
    prefix: str = "ctx_"

    def dilations(self):
        """Dilations of the 3x3 layers: 1, 1, 2, 4, ..., then 1 (fc1)."""
        doubling = self.num_layers - 4
        return [1] + [2 ** i for i in range(doubling + 1)] + [1]

    def widths(self):
        """Output channels of every layer: Basic C; Large 2C, 2C, 4C, ... then C."""
        c = self.classes
        if self.width == "basic":
            return [c] * self.num_layers
        grown = [2 * c * d for d in self.dilations()[:-1]]
        return grown + [grown[-1], c]

    def names(self):
        doubling = self.num_layers - 4
        return ([self.prefix + "conv1_1", self.prefix + "conv1_2"]
                + [self.prefix + "conv%d_1" % (i + 2) for i in range(doubling)]
                + [self.prefix + "fc1", self.prefix + "final"])

    def layers(self):
        """One ConvSpec per layer, Table 1 left to right."""
        kernels = [3] * (self.num_layers - 1) + [1]
        dilations = self.dilations() + [1]
        buffer = (self.receptive_fields()[-1] - 1) // 2
        specs, c_in = [], self.classes
        for i, (name, k, d, c_out) in enumerate(zip(self.names(), kernels, dilations, self.widths())):
            if self.padding == "same":
                pad = d if k == 3 else 0
            else:
                pad = buffer if i == 0 else 0
            specs.append(ConvSpec(name, k, d, pad, i < self.num_layers - 1, c_in, c_out))
            c_in = c_out
        return specs

    def receptive_fields(self):
        """Table 1's last row: 3, 5, 9, 17, 33, 65, 67, 67 for 8 layers."""
        rf, out = 1, []
        for k, d in zip([3] * (self.num_layers - 1) + [1], self.dilations() + [1]):
            rf += (k - 1) * d
            out.append(rf)
        return out
