"""What sits on top of the scores: loss, accuracy, probabilities, upsampling."""
from . import layers as L
from .schema import pb

VALID = pb.LossParameter.VALID


def train_head(net, score, label, normalization=VALID):
    L.softmax_loss(net, "loss", score, label, normalization=normalization)


def test_head(net, score, label, normalization=VALID):
    L.softmax_loss(net, "loss", score, label, normalization=normalization)
    L.accuracy(net, "accuracy", score, label)


def deploy_head(net, score, classes, upsample=None):
    """Softmax probabilities, optionally after a fixed bilinear x8 Deconvolution."""
    if upsample:
        score = L.deconv(net, upsample, score, classes, factor=8)
    return L.softmax(net, "prob", score)
