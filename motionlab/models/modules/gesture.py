"""Building blocks of the gesture-GAN family (Speech2Gesture, StAGE, Mix-StAGE; specs/gesture-systems.md §1).

Tensors over time are (B, C, T) inside the blocks; model-facing windows are (B, L, D).

- ``AudioEncoder2D``: the audio window as a one-channel "image" (time x mel) through 2-D conv blocks,
  a last conv over all remaining frequency bins, and a linear resampling to the motion window's
  length, so any audio frame rate and feature count gives per-frame features at the motion rate.
- ``UNet1D``: downsampling convs to a short bottleneck and back with skip additions; windows whose
  length is not a multiple of ``2**depth`` are padded (last frame repeated) and cropped back.
- ``PoseEncoder`` (motion window -> content features, Mix-StAGE's curriculum) and ``PoseDecoder``.
- ``VelocityDiscriminator``: patch scores of a motion window's velocities (frame 0 = 0) or poses.
- ``PoseStyleEncoder``: downsampling convs, mean over time -> per-window style logits.
- ``ClusterClassifier``: per-frame logits of the pose clusters (which generator to use).
- ``MixtureOfGenerators``: K decoders in one grouped convolution, mixed per frame by the softmax of
  the cluster logits (or one forced generator). With K = 1 it is the plain ``PoseDecoder``.

Blocks are conv -> norm -> LeakyReLU(0.2) as in the original ("CNR").
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from motionlab.models.modules.conv import ConvNormReLU, norm_layer
from motionlab.utils.errors import MotionlabError

LEAKY = 0.2
DISC_INPUTS = ("velocity", "pose")


def velocity(y: torch.Tensor) -> torch.Tensor:
    """(B, L, D) poses -> (B, L, D) frame differences with frame 0 = 0 (the discriminator's input)."""
    return torch.cat([torch.zeros_like(y[:, :1]), y[:, 1:] - y[:, :-1]], dim=1)


@contextlib.contextmanager
def frozen_batch_stats(*modules: nn.Module):
    """BatchNorm layers of ``modules`` normalise with the batch but leave their running statistics alone.

    For forward passes whose inputs eval mode never sees (Mix-StAGE's curriculum content from the
    ground-truth pose, the style encoder scoring generated windows): their statistics would mix into
    the running ones, and a short run then generates with statistics of inputs it no longer gets.
    """
    norms = [m for mod in modules if mod is not None for m in mod.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, v in zip(norms, saved):
            m.momentum = v


@contextlib.contextmanager
def eval_mode(*modules: nn.Module):
    """``modules`` (and their children) in eval mode for the block, their previous modes restored after."""
    changed = [m for mod in modules if mod is not None for m in mod.modules() if m.training]
    for m in changed:
        m.training = False
    try:
        yield
    finally:
        for m in changed:
            m.training = True


def pad_time(x: torch.Tensor, length: int, dim: int = -1) -> torch.Tensor:
    """Pad ``x`` along ``dim`` to ``length`` by repeating its last entry (no-op when long enough)."""
    n = x.shape[dim]
    if n >= length:
        return x
    last = x.narrow(dim, n - 1, 1)
    shape = list(x.shape)
    shape[dim] = length - n
    return torch.cat([x, last.expand(*shape)], dim=dim)


def _norm2d(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    norm_layer(kind, channels)  # "none" -> Identity; anything else raises the option's message
    return nn.Identity()


class ConvNormReLU2d(nn.Sequential):
    """2-D conv -> norm -> LeakyReLU over (time, frequency): k3 s1, or k4 s2 p1 along each axis ``down`` names."""

    def __init__(self, cin: int, cout: int, *, down: bool | tuple[bool, bool] = False, norm: str = "batch", negative_slope: float = LEAKY):
        d_time, d_freq = (down, down) if isinstance(down, bool) else down
        kernel, stride = (4 if d_time else 3, 4 if d_freq else 3), (2 if d_time else 1, 2 if d_freq else 1)
        super().__init__(nn.Conv2d(cin, cout, kernel_size=kernel, stride=stride, padding=1), _norm2d(norm, cout), nn.LeakyReLU(negative_slope))


def audio_time_halvings(audio_length: int, motion_length: int, most: int = 3) -> int:
    """How many of the audio encoder's halvings may also shorten time: as long as the audio window keeps
    at least one frame per motion frame (a mel at 4x the motion rate: 2; audio at the motion rate: 0),
    so the encoder never blurs timing finer than the motion's frame (a beat's phase) before resampling."""
    k = 0
    while k < most and audio_length // 2 ** (k + 1) >= motion_length:
        k += 1
    return k


class AudioEncoder2D(nn.Module):
    """(B, L_audio, F) audio window -> (B, out_channels, L_motion) per-frame features at the motion rate.

    The original's stack on a 64 x 64 mel image: 1 -> w -> w↓ -> 2w -> 2w↓ -> 4w -> 4w↓ -> 4w (w = 64),
    then a conv whose kernel spans all remaining frequency bins (the original's (3, 8) kernel on the
    8 bins left of 64 mels), so which band is active is kept, not averaged away; the time axis is then
    linearly resampled to ``L_motion`` frames. The frequency axis is halved three times; time only
    ``time_halvings`` times (default 3, as the original; models pass :func:`audio_time_halvings`,
    so audio at about the motion rate keeps its per-frame timing). Both axes are padded (last entry
    repeated) so the halvings never reach zero; ``n_features`` fixes the frequency width.
    """

    #: (channel multiplier of ``width``, downsample) per block; a last conv outputs ``out_channels``.
    PLAN = ((1, False), (1, True), (2, False), (2, True), (4, False), (4, True), (4, False))

    def __init__(self, n_features: int, width: int = 64, out_channels: int = 256, *, time_halvings: int = 3, norm: str = "batch", negative_slope: float = LEAKY):
        super().__init__()
        halvings = sum(d for _, d in self.PLAN)
        if not 0 <= int(time_halvings) <= halvings:
            raise MotionlabError(f"audio encoder: time_halvings must be in 0..{halvings}, got {time_halvings}")
        self.time_halvings = int(time_halvings)
        blocks, cin, done = [], 1, 0
        for mult, down in self.PLAN:
            blocks.append(ConvNormReLU2d(cin, mult * width, down=(down and done < self.time_halvings, down), norm=norm, negative_slope=negative_slope))
            done += int(down)
            cin = mult * width
        self.n_features = int(n_features)
        self.min_size = 2**halvings
        self.min_time = 2**self.time_halvings
        bins = max(self.n_features, self.min_size)
        for _, down in self.PLAN:
            bins = bins // 2 if down else bins
        blocks += [nn.Conv2d(cin, out_channels, kernel_size=(3, bins), padding=(1, 0)), _norm2d(norm, out_channels), nn.LeakyReLU(negative_slope)]
        self.net = nn.Sequential(*blocks)

    def forward(self, audio: torch.Tensor, length: int) -> torch.Tensor:
        if audio.dim() != 3 or audio.shape[2] != self.n_features:
            raise MotionlabError(f"audio encoder: expected windows (B, L_audio, {self.n_features}) (features as in training), got shape {tuple(audio.shape)}")
        x = pad_time(pad_time(audio, self.min_time, 1), self.min_size, 2).unsqueeze(1)  # (B, 1, time, freq)
        x = self.net(x).squeeze(3)  # (B, C, time')
        if x.shape[2] == int(length):
            return x
        return F.interpolate(x, size=int(length), mode="linear", align_corners=False)


class UNet1D(nn.Module):
    """Skip-connected 1-D U-Net over time: 2 convs, ``depth`` halvings, nearest x2 upsampling + skip add + conv."""

    def __init__(self, channels: int = 256, depth: int = 5, *, norm: str = "batch", negative_slope: float = LEAKY):
        super().__init__()
        if depth < 0:
            raise MotionlabError(f"--unet_depth: expected an integer >= 0, got {depth}")
        cnr = lambda resample=None: ConvNormReLU(channels, channels, resample=resample, norm=norm, negative_slope=negative_slope)  # noqa: E731
        self.depth = depth
        self.pre = nn.Sequential(cnr(), cnr())
        self.down = nn.ModuleList([cnr("down") for _ in range(depth)])
        self.up = nn.ModuleList([cnr() for _ in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[2]
        multiple = 2**self.depth
        x = pad_time(x, -(-T // multiple) * multiple, 2)
        x = self.pre(x)
        skips = []
        for down in self.down:
            skips.append(x)
            x = down(x)
        for up, skip in zip(self.up, reversed(skips)):
            x = up(F.interpolate(x, scale_factor=2, mode="nearest") + skip)
        return x[:, :, :T]


class PoseEncoder(nn.Sequential):
    """(B, C_pose, T) motion -> (B, channels, T) content features, standing in for the audio encoder (curriculum)."""

    def __init__(self, dim: int, channels: int = 256, *, layers: int = 2, norm: str = "batch", negative_slope: float = LEAKY):
        super().__init__(*[ConvNormReLU(dim if i == 0 else channels, channels, norm=norm, negative_slope=negative_slope) for i in range(max(1, layers))])


class MixtureOfGenerators(nn.Module):
    """K pose decoders in one grouped convolution, mixed per frame by softmax weights.

    Input (B, C_in, T) is repeated K times along channels; group k of every conv sees only its own
    copy, so generator k is ``layers`` CNRs (C_in -> hidden -> ... -> hidden) + a 1x1 conv to
    ``out_dim``, independent of the others. ``forward`` returns (mixed (B, out_dim, T), per-generator
    outputs (B, K, out_dim, T), weights (B, K, T)).
    """

    def __init__(self, in_channels: int, out_dim: int, k: int = 1, *, hidden: int = 256, layers: int = 4, norm: str = "batch", negative_slope: float = LEAKY):
        super().__init__()
        if k < 1:
            raise MotionlabError(f"mixture of generators: expected at least one generator, got {k}")
        self.k, self.out_dim = k, out_dim
        blocks = [ConvNormReLU((in_channels if i == 0 else hidden) * k, hidden * k, norm=norm, negative_slope=negative_slope, groups=k) for i in range(max(1, layers))]
        self.body = nn.Sequential(*blocks)
        self.head = nn.Conv1d(hidden * k, out_dim * k, kernel_size=1, groups=k)

    def generators(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, T) -> (B, K, out_dim, T): every generator's output."""
        B, _, T = x.shape
        h = self.head(self.body(x.repeat(1, self.k, 1)))
        return h.view(B, self.k, self.out_dim, T)

    def weights(self, logits: torch.Tensor | None, B: int, T: int, device, dtype, force: int | None = None) -> torch.Tensor:
        """(B, K, T) mixing weights: softmax of the cluster logits, one-hot for a forced generator, 1 for K = 1."""
        if force is not None:
            if not 0 <= int(force) < self.k:
                raise MotionlabError(f"force_generator={force}: the model has {self.k} generator(s) (0..{self.k - 1})")
            w = torch.zeros(B, self.k, T, device=device, dtype=dtype)
            w[:, int(force)] = 1.0
            return w
        if logits is None:
            if self.k != 1:
                raise MotionlabError(f"mixture of {self.k} generators needs cluster logits to weight them")
            return torch.ones(B, 1, T, device=device, dtype=dtype)
        return logits.softmax(dim=1)

    def forward(self, x: torch.Tensor, logits: torch.Tensor | None = None, *, force: int | None = None):
        each = self.generators(x)
        w = self.weights(logits, x.shape[0], x.shape[2], x.device, x.dtype, force)
        return (each * w.unsqueeze(2)).sum(dim=1), each, w


class PoseDecoder(MixtureOfGenerators):
    """(B, C_in, T) -> (B, out_dim, T): ``layers`` CNRs and a 1x1 conv (Speech2Gesture's decoder; a mixture of one)."""

    def __init__(self, in_channels: int, out_dim: int, *, hidden: int = 256, layers: int = 4, norm: str = "batch", negative_slope: float = LEAKY):
        super().__init__(in_channels, out_dim, 1, hidden=hidden, layers=layers, norm=norm, negative_slope=negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generators(x)[:, 0]


def _downsampling_stack(dim: int, channels, out: int | None, length: int, *, first_keeps: bool, norm: str, negative_slope: float):
    """CNRs that halve the time length while it is >= 2 (a bare conv to ``out`` last): the style encoder and classifier shape."""
    blocks, L = [], length
    for i, (cin, cout) in enumerate(zip([dim] + list(channels[:-1]), channels)):
        down = "down" if L >= 2 and not (first_keeps and i == 0) else None
        blocks.append(ConvNormReLU(cin, cout, resample=down, norm=norm, negative_slope=negative_slope))
        L = L // 2 if down else L
    if out is not None:
        from motionlab.models.modules.conv import conv

        blocks.append(conv(channels[-1], out, "down" if L >= 2 else None))
    return nn.Sequential(*blocks)


class PoseStyleEncoder(nn.Module):
    """(B, L, D) motion window -> (B, n_styles) style logits: Conv D->64, then 64↓ 128↓ 128↓ 256↓ 256↓ n↓, mean over time."""

    def __init__(self, dim: int, n_styles: int, length: int, channels=(64, 64, 128, 128, 256, 256), *, norm: str = "batch", negative_slope: float = LEAKY):
        super().__init__()
        if n_styles < 1:
            raise MotionlabError("pose style encoder: needs at least one style")
        self.net = _downsampling_stack(dim, list(channels), n_styles, length, first_keeps=True, norm=norm, negative_slope=negative_slope)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(y.transpose(1, 2)).mean(dim=2)


class ClusterClassifier(nn.Sequential):
    """(B, C_in, T) -> (B, K, T) per-frame logits of the K pose clusters: CNR C_in->h, ``layers`` x CNR h, 1x1 conv -> K."""

    def __init__(self, in_channels: int, k: int, *, hidden: int = 256, layers: int = 5, norm: str = "batch", negative_slope: float = LEAKY):
        blocks = [ConvNormReLU(in_channels, hidden, norm=norm, negative_slope=negative_slope)]
        blocks += [ConvNormReLU(hidden, hidden, norm=norm, negative_slope=negative_slope) for _ in range(layers)]
        super().__init__(*blocks, nn.Conv1d(hidden, k, kernel_size=1))


class VelocityDiscriminator(nn.Module):
    """(B, L, D) motion window -> (B, N) patch scores, on velocities (frame 0 = 0) or poses.

    Conv(D, c0, k4 s2) + LeakyReLU -> CNR(c0 -> c1, ↓) -> CNR(c1 -> c2, k4 s1 p1) -> Conv(c2, 1, k4):
    64 frames give 12 scores. Windows shorter than 16 frames are padded (last frame repeated) and the
    last kernel shrinks so at least one score remains.
    """

    MIN_LENGTH = 16

    def __init__(self, dim: int, length: int, channels=(64, 128, 256), *, input_kind: str = "velocity", norm: str = "batch", negative_slope: float = LEAKY):
        super().__init__()
        if input_kind not in DISC_INPUTS:
            raise MotionlabError(f"--disc_input: expected one of {', '.join(DISC_INPUTS)}, got '{input_kind}'")
        if len(channels) != 3 or min(channels) < 1:
            raise MotionlabError(f"--disc_channels: expected three positive channel counts, got {list(channels)}")
        c0, c1, c2 = channels
        self.input_kind, self.length = input_kind, max(int(length), self.MIN_LENGTH)
        L = (self.length // 2) // 2 - 1
        self.net = nn.Sequential(
            nn.Conv1d(dim, c0, kernel_size=4, stride=2, padding=1),
            nn.LeakyReLU(negative_slope),
            ConvNormReLU(c0, c1, resample="down", norm=norm, negative_slope=negative_slope),
            nn.Conv1d(c1, c2, kernel_size=4, stride=1, padding=1),
            norm_layer(norm, c2),
            nn.LeakyReLU(negative_slope),
            nn.Conv1d(c2, 1, kernel_size=min(4, L)),
        )

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        x = velocity(y) if self.input_kind == "velocity" else y
        x = pad_time(x, self.length, 1)
        return self.net(x.transpose(1, 2)).squeeze(1)
