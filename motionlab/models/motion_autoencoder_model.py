"""MotionAutoencoderModel: the feature network of the Fréchet Gesture Distance (Yoon et al. 2020).

FGD compares the latent vectors of real and generated motion windows, so the network has to be
trained on the user's own feature (same skeleton, same scaling) rather than downloaded: train it
with ``./script_train.sh analysis/fgd_autoencoder --data_dir D --input_modalities F --output_modalities F``
and load it with :func:`motionlab.analysis.feature_networks.load_feature_network`.

Architecture, on windows (B, L, D) of one motion feature (input = output modality, same frames):
encoder = one downsampling ``ConvNormReLU`` per ``--ae_channels`` entry (L -> L / 2^k), flattened,
then a linear map to ``--latent_dim``; decoder = the mirror image (linear, upsampling blocks,
a final kernel-3 conv back to D, no activation). Loss: MSE of the reconstruction, plus
``--velocity_weight`` x MSE of its frame-to-frame differences (0 by default).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from motionlab.models.base_model import BaseModel
from motionlab.models.modules.conv import NORMS, ConvNormReLU, check_window_batch, conv, motion_window
from motionlab.options import add_list_option, bounded
from motionlab.utils.errors import MotionlabError


class MotionAutoencoderModel(BaseModel):
    """1-D conv autoencoder of motion windows -> one latent vector per window (FGD's feature network)."""

    @staticmethod
    def modify_commandline_options(parser, known):
        parser.add_argument("--latent_dim", type=bounded(int, 1, what="an integer"), default=32, help="size of the latent vector of a window (Yoon et al.'s FGD: 32)")
        add_list_option(parser, "--ae_channels", int, [64, 128, 128], "channels of the encoder's downsampling blocks (each halves the window; the window must be divisible by 2^len)")
        parser.add_argument("--conv_norm", default="batch", choices=list(NORMS), help="normalisation in the conv blocks")
        parser.add_argument("--velocity_weight", type=bounded(float, 0.0, what="a number"), default=0.0, help="weight of the MSE of frame-to-frame differences (0: off)")
        return parser

    def __init__(self, opt, spec):
        super().__init__(opt, spec)
        o = self.opt
        self.feature, self.window, self.dim = motion_window(self)
        channels = list(o.ae_channels)
        if not channels or min(channels) < 1:
            raise MotionlabError(f"--ae_channels: expected a non-empty list of positive integers, got {channels}")
        factor = 2 ** len(channels)
        if self.window % factor:
            raise MotionlabError(f"--input_lengths {self.window}: the autoencoder's {len(channels)} downsampling blocks need a window divisible by {factor}")
        self.bottleneck = (channels[-1], self.window // factor)
        ins = [self.dim] + channels[:-1]
        self.encoder_convs = nn.Sequential(*(ConvNormReLU(a, b, resample="down", norm=o.conv_norm) for a, b in zip(ins, channels)))
        flat = channels[-1] * self.bottleneck[1]
        self.to_latent = nn.Linear(flat, o.latent_dim)
        self.from_latent = nn.Sequential(nn.Linear(o.latent_dim, flat), nn.ReLU())
        rev = channels[::-1]
        self.decoder_convs = nn.Sequential(*(ConvNormReLU(a, b, resample="up", norm=o.conv_norm) for a, b in zip(rev, rev[1:] + [rev[-1]])))
        self.to_motion = conv(rev[-1], self.dim)

    def encode(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, L, D) windows in the data's scaled space -> (B, latent_dim)."""
        check_window_batch(self, windows, self.window, self.dim)
        h = self.encoder_convs(windows.transpose(1, 2))
        return self.to_latent(h.flatten(1))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim) -> (B, L, D)."""
        h = self.from_latent(latent).view(-1, *self.bottleneck)
        return self.to_motion(self.decoder_convs(h)).transpose(1, 2)

    def forward(self, windows):
        return self.decode(self.encode(windows))

    def compute_loss(self, batch):
        target = batch["outputs"][0]
        recon = self(batch["inputs"][0])
        terms = {"mse": F.mse_loss(recon, target)}
        loss = terms["mse"]
        if self.opt.velocity_weight:
            terms["velocity_mse"] = F.mse_loss(recon.diff(dim=1), target.diff(dim=1))
            loss = loss + self.opt.velocity_weight * terms["velocity_mse"]
        return loss, terms

    def generate_window(self, window_inputs, **cond):
        """Reconstruction: ``motionlab generate`` on an autoencoder shows what its latents keep of the motion."""
        return [self(window_inputs[0])]
