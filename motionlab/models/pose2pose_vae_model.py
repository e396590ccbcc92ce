"""Pose2PoseVaeModel: the template VAE of Speech Drives Templates (Qian et al. 2021).

SDT-VAE reads its per-window template codes from this network's encoder, and FTD (Fréchet
Template Distance) compares the encoder's μ of generated and ground-truth windows. It is the
FGD autoencoder (:class:`MotionAutoencoderModel`: same conv encoder, mirrored decoder, options
``--ae_channels``/``--conv_norm``) made variational: the flattened bottleneck goes to μ and
log σ² (``--latent_dim``, 32 in the paper), the decoder reads μ + σ·ε while training and μ
otherwise. Loss: L1 of the reconstruction + ``--kl_weight`` (0.1) x KL(q(z|x) || N(0, I)), the
KL averaged over batch and latent dims as the original does.

``encode`` returns μ, so every consumer of the FGD autoencoder's latents (``embed_windows``,
``load_feature_network``) works on a VAE unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from motionlab.models.motion_autoencoder_model import MotionAutoencoderModel
from motionlab.options import bounded


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """0.5 · mean(−log σ² + μ² + σ² − 1): KL(N(μ, σ²) || N(0, 1)) averaged over every element (SDT's form)."""
    return 0.5 * torch.mean(-logvar + mu.pow(2) + logvar.exp() - 1)


class Pose2PoseVaeModel(MotionAutoencoderModel):
    """Variational conv autoencoder of motion windows -> μ, log σ² per window (SDT's pose2pose VAE)."""

    @staticmethod
    def modify_commandline_options(parser, known):
        MotionAutoencoderModel.modify_commandline_options(parser, known)
        parser.add_argument("--kl_weight", type=bounded(float, 0.0, what="a number"), default=0.1, help="weight of the KL term (SDT: 0.1)")
        return parser

    def __init__(self, opt, spec):
        super().__init__(opt, spec)
        self.to_logvar = nn.Linear(self.to_latent.in_features, self.opt.latent_dim)

    def encode_distribution(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, D) scaled windows -> (μ, log σ²), each (B, latent_dim)."""
        h = self.encoder_convs(windows.transpose(1, 2)).flatten(1)
        return self.to_latent(h), self.to_logvar(h)

    def encode(self, windows: torch.Tensor) -> torch.Tensor:
        """μ of each window: the template code (SDT-VAE) and FTD's feature."""
        return super().encode(windows)

    def forward(self, windows):
        mu, logvar = self.encode_distribution(windows)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return self.decode(z), mu, logvar

    def compute_loss(self, batch):
        target = batch["outputs"][0]
        recon, mu, logvar = self(batch["inputs"][0])
        terms = {"l1": F.l1_loss(recon, target), "kl": gaussian_kl(mu, logvar)}
        loss = terms["l1"] + self.opt.kl_weight * terms["kl"]
        if self.opt.velocity_weight:
            terms["velocity_l1"] = F.l1_loss(recon.diff(dim=1), target.diff(dim=1))
            loss = loss + self.opt.velocity_weight * terms["velocity_l1"]
        return loss, terms

    def generate_window(self, window_inputs, **cond):
        """Reconstruction from μ (what a template code keeps of the motion)."""
        return [self(window_inputs[0])[0]]
