"""Toy plugin models for the tests of the model contract (loaded with ``--plugins toy_models``).

``ToyGanModel``: two networks with their own optimisers under manual optimisation, as the gesture
GANs will be. ``ToyWindowedModel``: a feed-forward model that maps windows and generates through
the shared stitch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from motionlab.models.base_model import BaseModel


class ToyGanModel(BaseModel):
    """Generator audio->motion frames and a discriminator on motion frames, stepped by their own optimisers."""

    @staticmethod
    def modify_commandline_options(parser, known):
        parser.add_argument("--d_learning_rate", type=float, default=None, help="discriminator LR (default: --learning_rate)")
        return parser

    def __init__(self, opt, spec):
        super().__init__(opt, spec)
        self.automatic_optimization = False
        self.generator = nn.Linear(self.input_dims[0], self.output_dims[0])
        self.discriminator = nn.Linear(self.output_dims[0], 1)

    def configure_optimizers(self):
        g = self.build_optimizer(self.generator.parameters())
        d = self.build_optimizer(self.discriminator.parameters(), lr=self.opt.d_learning_rate)
        return [g, d]

    def fake(self, batch):
        L = batch["outputs"][0].shape[1]
        return self.generator(batch["inputs"][0][:, :L])

    def compute_loss(self, batch):
        fake = self.fake(batch)
        l1 = F.l1_loss(fake, batch["outputs"][0])
        adv = F.softplus(-self.discriminator(fake)).mean()
        return l1 + 0.1 * adv, {"l1": l1.detach(), "adv": adv.detach()}

    def training_step(self, batch, batch_idx):
        g_opt, d_opt = self.optimizers()
        real = batch["outputs"][0]
        d_loss = F.softplus(-self.discriminator(real)).mean() + F.softplus(self.discriminator(self.fake(batch).detach())).mean()
        self.manual_step(d_opt, d_loss)
        g_loss, terms = self.compute_loss(batch)
        self.manual_step(g_opt, g_loss)
        self.log_terms("train", g_loss, {**terms, "d_loss": d_loss.detach()}, self.batch_size_of(batch))


class ToyWindowedModel(BaseModel):
    """Feed-forward: one linear map per frame of the first input window; generates through the shared stitch."""

    def __init__(self, opt, spec):
        super().__init__(opt, spec)
        self.net = nn.Linear(self.input_dims[0], self.output_dims[0])

    def generate_window(self, window_inputs, **cond):
        return [self.net(window_inputs[0])]

    def compute_loss(self, batch):
        loss = F.mse_loss(self.generate_window(batch["inputs"])[0], batch["outputs"][0])
        return loss, {}


class EchoWindowedModel(ToyWindowedModel):
    """Returns its first input window unchanged (plus ``shift``): makes the stitch's arithmetic observable."""

    shift = 0.0

    def generate_window(self, window_inputs, **cond):
        return [window_inputs[0][..., : self.output_dims[0]] + self.shift]


class ToyStyleModel(ToyWindowedModel):
    """Windowed and style-conditioned like Mix-StAGE: a per-style offset on the linear map, a 2-generator
    mixture whose weights depend on the style (``mixture_weights``) and ``style_codes`` of motion windows."""

    def __init__(self, opt, spec):
        super().__init__(opt, spec)
        n = max(spec.num_speakers, 1)
        self.style = nn.Embedding(n, self.output_dims[0])
        self.gate = nn.Embedding(n, 2)
        self.code = nn.Linear(self.output_dims[0], 3)

    def uses_speakers(self) -> bool:
        return True

    def _ids(self, speaker, batch_size, device):
        if speaker is None:
            raise ValueError("ToyStyleModel needs a speaker")
        return torch.as_tensor(speaker, device=device).long().reshape(-1).expand(batch_size)

    def generate_window(self, window_inputs, speaker=None, **cond):
        x = window_inputs[0]
        return [self.net(x) + self.style(self._ids(speaker, x.shape[0], x.device))[:, None]]

    def mixture_weights(self, window_inputs, speaker):
        x = window_inputs[0]
        w = torch.softmax(self.gate(self._ids(speaker, x.shape[0], x.device)), dim=-1)
        return w[:, None].expand(-1, x.shape[1], -1)

    def style_codes(self, motion_windows):
        return self.code(motion_windows).mean(1)

    def compute_loss(self, batch):
        loss = F.mse_loss(self.generate_window(batch["inputs"], speaker=batch["speaker"])[0], batch["outputs"][0])
        return loss, {}
