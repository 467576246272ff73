"""Random small nets of window layers (Convolution, Deconvolution, Pooling,
Crop) with every way Caffe lets their geometry be written, and a share of
parameters Caffe rejects, to hold the report's shape engine against Caffe."""
import random

from google.protobuf import text_format

from prototxt_gen.schema import pb


def _conv_geometry(rng, cp):
    form = rng.random()
    if form < 0.4:
        cp.kernel_size.append(rng.randint(1, 5))
    elif form < 0.7:
        cp.kernel_size.extend([rng.randint(1, 5), rng.randint(1, 5)])
    else:
        cp.kernel_h, cp.kernel_w = rng.randint(1, 5), rng.randint(1, 5)
    if rng.random() < 0.5:
        cp.stride_h, cp.stride_w = rng.randint(1, 3), rng.randint(1, 3)
    else:
        cp.stride.extend(rng.randint(1, 3) for _ in range(rng.randint(0, 2)))
    if rng.random() < 0.5:
        cp.pad_h, cp.pad_w = rng.randint(0, 2), rng.randint(0, 2)
    else:
        cp.pad.extend(rng.randint(0, 2) for _ in range(rng.randint(0, 2)))
    cp.dilation.extend(rng.randint(1, 3) for _ in range(rng.randint(0, 2)))


def _pool_geometry(rng, pp):
    if rng.random() < 0.15:
        pp.global_pooling = True
        return
    if rng.random() < 0.5:
        pp.kernel_size = rng.randint(1, 5)
    else:
        pp.kernel_h, pp.kernel_w = rng.randint(1, 5), rng.randint(1, 5)
    if rng.random() < 0.5:
        pp.stride = rng.randint(1, 3)
    else:
        pp.stride_h, pp.stride_w = rng.randint(1, 3), rng.randint(1, 3)
    pads = rng.random()
    if pads < 0.3:
        pp.pad = rng.randint(0, 2)
    elif pads < 0.6:
        pp.pad_h, pp.pad_w = rng.randint(0, 2), rng.randint(0, 2)
    pp.pool = rng.choice([pp.MAX, pp.AVE])


def _spoil(rng, layer):
    """One parameter Caffe rejects (or aborts on)."""
    if layer.type == "Pooling":
        pp = layer.pooling_param
        choice = rng.randrange(4)
        if choice == 0:
            pp.stride = 0
        elif choice == 1:
            pp.kernel_size, pp.kernel_h = 3, 2
        elif choice == 2:
            pp.global_pooling, pp.kernel_size = True, 2
        else:
            pp.kernel_size, pp.pad = 2, 2
        return
    cp = layer.convolution_param
    choice = rng.randrange(5)
    if choice == 0:
        cp.ClearField("stride_h"), cp.ClearField("stride_w")
        cp.stride[:] = [0]
    elif choice == 1:
        cp.kernel_size[:] = [3, 3, 3]
        cp.ClearField("kernel_h"), cp.ClearField("kernel_w")
    elif choice == 2:
        cp.kernel_h, cp.kernel_w = 2, 2
        cp.kernel_size[:] = [2]
    elif choice == 3:
        cp.group = 0
    else:
        cp.num_output, cp.group = 3, 2


def random_net(rng, index):
    net = pb.NetParameter(name="random%d" % index)
    data = net.layer.add(name="data", type="Input", top=["data"])
    data.input_param.shape.add(dim=[1, rng.choice([1, 2, 4]), rng.randint(1, 24), rng.randint(1, 24)])
    blobs = ["data"]
    for i in range(rng.randint(1, 4)):
        kind = rng.choice(["Convolution", "Deconvolution", "Pooling", "Crop"])
        name = "l%d" % i
        layer = net.layer.add(name=name, type=kind, top=[name], bottom=[rng.choice(blobs)])
        if kind == "Crop":  # mostly from a larger blob (the first one) to a smaller one
            layer.bottom[0] = "data"
            layer.bottom.append(rng.choice(blobs))
            cp = layer.crop_param
            cp.axis = rng.choice([1, 2, 2, 3, -1, -2])
            axis = cp.axis % 4
            cp.offset.extend(rng.choice([0, 0, 1]) for _ in range(rng.choice([0, 1, 4 - axis])))
        elif kind == "Pooling":
            _pool_geometry(rng, layer.pooling_param)
        else:
            cp = layer.convolution_param
            cp.group = rng.choice([1, 1, 1, 2])
            cp.num_output = cp.group * rng.randint(1, 3)
            _conv_geometry(rng, cp)
        if kind != "Crop" and rng.random() < 0.08:
            _spoil(rng, layer)
        if rng.random() < 0.01:
            layer.bottom[0] = "nowhere"
        blobs.append(name)
    return text_format.MessageToString(net)


def random_nets(count, seed):
    rng = random.Random(seed)
    return [random_net(rng, i) for i in range(count)]
