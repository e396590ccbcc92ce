"""Invertible 1x1 "convolution" (Glow): a learned D x D channel mixing applied to every frame."""

from __future__ import annotations

import torch
from torch import nn


class InvertibleLinear(nn.Module):
    """z_t = W x_t for every frame t; random orthogonal init (log-det 0 at the start).

    With ``lu=True`` W = P L (U + diag(sign * exp(log_s))) with P fixed, L unit lower triangular and
    U strictly upper triangular, so the log-det is sum(log_s) (O(D)) and W stays invertible.
    """

    def __init__(self, D: int, lu: bool = True):
        super().__init__()
        self.D, self.lu = D, lu
        w = torch.linalg.qr(torch.randn(D, D))[0]
        if not lu:
            self.weight = nn.Parameter(w)
            return
        P, L, U = torch.linalg.lu(w)
        s = torch.diagonal(U)
        self.register_buffer("P", P)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(D, D), -1))
        self.register_buffer("eye", torch.eye(D))
        self.L = nn.Parameter(L * self.lower_mask)
        self.U = nn.Parameter(torch.triu(U, 1))
        self.log_s = nn.Parameter(torch.log(s.abs()))

    def _weight(self):
        """(W, log|det W|)."""
        if not self.lu:
            return self.weight, torch.linalg.slogdet(self.weight)[1]
        L = self.L * self.lower_mask + self.eye
        U = self.U * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.P @ L @ U, self.log_s.sum()

    def forward(self, x: torch.Tensor, cond=None):
        w, logabsdet = self._weight()
        return x @ w.T.to(x.dtype), (logabsdet * x.shape[1]).expand(x.shape[0]).to(x.dtype)

    def inverse(self, z: torch.Tensor, cond=None) -> torch.Tensor:
        w, _ = self._weight()
        return z @ torch.linalg.inv(w).T.to(z.dtype)

    def extra_repr(self) -> str:
        return f"D={self.D}, lu={self.lu}"
