"""Per-channel normalisation flow layers: ActNorm (Glow) and an invertible BatchNorm (RealNVP).

Statistics are per channel over batch and time, so each frame is transformed independently and
the layers stay causal for step-by-step (MoGlow) generation.
"""

from __future__ import annotations

import torch
from torch import nn

from .transform import Transform, constant_logdet


class ActNorm(Transform):
    """z = (x + bias) * exp(logs), initialised from the first training batch to zero mean / unit variance.

    The ``initialized`` flag is a buffer so a restored checkpoint does not re-initialise.
    """

    def __init__(self, D: int, eps: float = 1e-6, min_std: float = 1e-2):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(D))
        self.logs = nn.Parameter(torch.zeros(D))
        self.eps = eps
        # A channel (nearly) constant in the first batch must not be amplified without bound:
        # with small batches that made the next batch's values explode to inf.
        self.min_std = min_std
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _init(self, x: torch.Tensor) -> None:
        flat = x.reshape(-1, x.shape[-1])
        mean = flat.mean(0)
        std = flat.std(0, unbiased=False) if flat.shape[0] > 1 else torch.ones_like(mean)
        self.bias.copy_(-mean)
        self.logs.copy_(-torch.log(std.clamp_min(self.min_std) + self.eps))
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor, cond=None, state=None):
        if self.training and not bool(self.initialized):
            self._init(x)
        z = (x + self.bias) * torch.exp(self.logs)
        return z, constant_logdet(self.logs.sum(), x)

    def inverse(self, z: torch.Tensor, cond=None, state=None):
        neg_logs = -self.logs  # sum(-logs) is exactly -sum(logs)
        return z * torch.exp(neg_logs) - self.bias, constant_logdet(neg_logs.sum(), z)


class BatchNormFlow(Transform):
    """Invertible batch normalisation: batch statistics in training forward, running statistics otherwise.

    The log-det is that of the affine map with the statistics actually used (the batch
    statistics are treated as constants, as in RealNVP). ``inverse`` always uses the running
    statistics, since sampling has no data batch to normalise, so it undoes ``forward`` (and its
    log-det is minus forward's) in eval mode.
    """

    def __init__(self, D: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.log_gamma = nn.Parameter(torch.zeros(D))
        self.beta = nn.Parameter(torch.zeros(D))
        self.momentum, self.eps = momentum, eps
        self.register_buffer("running_mean", torch.zeros(D))
        self.register_buffer("running_var", torch.ones(D))

    def forward(self, x: torch.Tensor, cond=None, state=None):
        if self.training:
            flat = x.reshape(-1, x.shape[-1])
            mean = flat.mean(0)
            var = flat.var(0, unbiased=False)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
                self.running_var.lerp_(var.detach().to(self.running_var.dtype), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        log_scale = self.log_gamma - 0.5 * torch.log(var + self.eps)
        z = (x - mean) * torch.exp(log_scale) + self.beta
        return z, constant_logdet(log_scale.sum(), x)

    def inverse(self, z: torch.Tensor, cond=None, state=None):
        neg_log_scale = -(self.log_gamma - 0.5 * torch.log(self.running_var + self.eps))
        return (z - self.beta) * torch.exp(neg_log_scale) + self.running_mean, constant_logdet(neg_log_scale.sum(), z)


class IdentityNorm(Transform):
    """``norm='none'``: keeps the step structure uniform."""

    def forward(self, x: torch.Tensor, cond=None, state=None):
        return x, x.new_zeros(x.shape[0])

    def inverse(self, z: torch.Tensor, cond=None, state=None):
        return z, z.new_zeros(z.shape[0])
