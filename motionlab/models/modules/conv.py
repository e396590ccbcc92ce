"""1-D convolution blocks over time, and the window contract of the motion feature networks.

``ConvNormReLU`` is the conv -> norm -> ReLU block of the gesture CNNs (Speech2Gesture, Mix-StAGE's
style classifier, the FGD autoencoder of Yoon et al.): tensors are (B, C, T); ``resample="down"``
halves T (kernel 4, stride 2), ``"up"`` doubles it (nearest upsampling, then a kernel-3 conv),
``None`` keeps it. ``motion_window`` checks that a model reads one motion feature and sees the same
window as input and output, as the autoencoder and the classifier both do.
"""

from __future__ import annotations

from torch import nn

from motionlab.utils.errors import MotionlabError

NORMS = ("batch", "instance", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(channels)
    if kind == "instance":
        return nn.InstanceNorm1d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise MotionlabError(f"--conv_norm: unknown normalisation '{kind}' (expected one of {', '.join(NORMS)})")


def conv(cin: int, cout: int, resample: str | None = None, groups: int = 1) -> nn.Module:
    """A bare Conv1d that halves ('down'), doubles ('up') or keeps (None) the time length.

    ``groups`` > 1 makes independent convolutions over channel groups (Mix-StAGE's K generators in one conv).
    """
    if resample == "down":
        return nn.Conv1d(cin, cout, kernel_size=4, stride=2, padding=1, groups=groups)
    if resample == "up":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv1d(cin, cout, kernel_size=3, padding=1, groups=groups))
    if resample is None:
        return nn.Conv1d(cin, cout, kernel_size=3, padding=1, groups=groups)
    raise ValueError(f"resample must be 'down', 'up' or None, got {resample!r}")


class ConvNormReLU(nn.Sequential):
    """conv (down/up/same) -> norm -> ReLU (leaky when ``negative_slope`` > 0) -> optional dropout."""

    def __init__(self, cin: int, cout: int, *, resample: str | None = None, norm: str = "batch", negative_slope: float = 0.0, dropout: float = 0.0, groups: int = 1):
        layers = [conv(cin, cout, resample, groups), norm_layer(norm, cout)]
        layers.append(nn.LeakyReLU(negative_slope) if negative_slope > 0 else nn.ReLU())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


def motion_window(model) -> tuple[str, int, int]:
    """(feature, window length, dim) of a model that reads one motion feature and predicts the same window of it.

    The feature networks see exactly the windows they are asked about: one modality, given as both
    input and output (the dataset needs an output), with the same length and offset.
    """
    spec, name = model.spec, model.opt.model
    ins, outs = list(spec.input_modalities), list(spec.output_modalities)
    if len(ins) != 1 or ins != outs:
        raise MotionlabError(
            f"model '{name}' reads one motion feature as both input and output, got --input_modalities {ins} --output_modalities {outs}; "
            f"pass --input_modalities F --output_modalities F with the same feature F"
        )
    if list(spec.input_lengths) != list(spec.output_lengths) or list(spec.input_offsets) != list(spec.output_offsets):
        raise MotionlabError(
            f"model '{name}': input and output windows must be the same frames, got --input_lengths {list(spec.input_lengths)} "
            f"--output_lengths {list(spec.output_lengths)}, offsets {list(spec.input_offsets)} / {list(spec.output_offsets)}"
        )
    return ins[0], int(spec.input_lengths[0]), int(model.input_dims[0])


def check_window_batch(model, windows, length: int, dim: int) -> None:
    """Refuse a batch that is not (B, length, dim): a network trained on other windows would answer silently wrong."""
    shape = tuple(windows.shape)
    if len(shape) != 3 or shape[1] != length or shape[2] != dim:
        raise MotionlabError(f"model '{model.opt.model}': expected windows of shape (B, {length}, {dim}) (the windows it was trained on), got {shape}")
