"""Base distributions of the flows: a standard normal and a heavy-tailed Student-t.

Both are factorised over every element of a (B, T, D) window; ``log_prob`` sums over all but
the batch dimension so it adds directly to the flow's log-det. Transflower uses the Student-t
to make the flow robust to outlier poses.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from motionlab.utils.errors import MotionlabError

BASE_DISTRIBUTIONS = ("normal", "studentt")


def _sum_nonbatch(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1).sum(1)


class StandardNormal(nn.Module):
    """N(0, I). ``sample`` scales by ``temperature`` (0 gives the mode, zeros)."""

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return _sum_nonbatch(-0.5 * z * z - 0.5 * math.log(2 * math.pi))

    def sample(self, shape, temperature: float = 1.0, device=None, dtype=None) -> torch.Tensor:
        if temperature == 0:
            return torch.zeros(shape, device=device, dtype=dtype)
        return torch.randn(shape, device=device, dtype=dtype) * temperature


class StudentT(nn.Module):
    """Independent Student-t with ``df`` degrees of freedom per element (location 0, scale 1)."""

    def __init__(self, df: float = 10.0):
        super().__init__()
        if not (isinstance(df, (int, float)) and df > 0 and math.isfinite(df)):
            raise MotionlabError(f"Student-t option 'dist_param' (degrees of freedom) must be a positive number, got {df!r}")
        self.df = float(df)
        v = self.df
        self._const = math.lgamma((v + 1) / 2) - math.lgamma(v / 2) - 0.5 * math.log(v * math.pi)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        v = self.df
        return _sum_nonbatch(self._const - 0.5 * (v + 1) * torch.log1p(z * z / v))

    def sample(self, shape, temperature: float = 1.0, device=None, dtype=None) -> torch.Tensor:
        """Drawn on ``device`` (no host round trip) as N(0, 1) / sqrt(chi2(df) / df); temperature 0 gives zeros (the mode)."""
        dtype = dtype or torch.get_default_dtype()
        if temperature == 0:
            return torch.zeros(shape, device=device, dtype=dtype)
        work = torch.float64 if dtype == torch.float64 else torch.float32  # the gamma sampler needs float32/64
        # no argument validation: it would synchronise with the device
        chi2 = torch.distributions.Chi2(torch.full(tuple(shape), self.df, device=device, dtype=work), validate_args=False).sample()
        return (torch.randn(tuple(shape), device=device, dtype=work) * torch.rsqrt(chi2 / self.df) * temperature).to(dtype)

    def extra_repr(self) -> str:
        return f"df={self.df}"


def make_base_distribution(name: str = "normal", param: float | None = None) -> nn.Module:
    """Base distribution by name: ``normal`` (param ignored) or ``studentt`` (param = degrees of freedom, default 10)."""
    if name == "normal":
        return StandardNormal()
    if name == "studentt":
        return StudentT(10.0 if param is None else param)
    raise MotionlabError(f"option 'dist' must be one of {list(BASE_DISTRIBUTIONS)}, got {name!r}")


def smoothed_noise(base: nn.Module, shape, temperature: float, rho: float, previous: torch.Tensor | None = None, device=None, dtype=None) -> torch.Tensor:
    """Base samples (B, T, D) correlated over time: z_t = rho z_(t-1) + sqrt(1 - rho^2) e_t, e_t from ``base``.

    Each z_t keeps the base's marginal (exactly for the normal; second moments for the Student-t),
    so every frame is still a draw from the model's conditional distribution, but consecutive draws
    differ little: frame-by-frame sampling no longer adds independent per-frame jitter. ``previous``
    (B, D) (or (B, 1, D)) is the last unscaled draw of the previous step (None: start afresh).
    Returns the unscaled draws; multiply by ``temperature`` to use them.
    """
    e = base.sample(shape, 1.0, device=device, dtype=dtype)
    if rho == 0.0:
        return e
    keep, fresh = float(rho), math.sqrt(max(0.0, 1.0 - float(rho) ** 2))
    z = torch.empty_like(e)
    prev = None if previous is None else previous.reshape(e.shape[0], e.shape[2])
    for t in range(e.shape[1]):
        prev = e[:, t] if prev is None else keep * prev + fresh * e[:, t]
        z[:, t] = prev
    return z

