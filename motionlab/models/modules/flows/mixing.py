"""Invertible 1x1 "convolution" (Glow): a learned D x D channel mixing applied to every frame."""

from __future__ import annotations

import torch
from torch import nn

from .transform import Transform, constant_logdet


class InvertibleLinear(Transform):
    """z_t = W x_t for every frame t; random orthogonal init (log-det 0 at the start).

    With ``lu=True`` W = P L (U + diag(sign * exp(log_s))) with P fixed, L unit lower triangular and
    U strictly upper triangular, so the log-det is sum(log_s) (O(D)) and W stays invertible.
    """

    def __init__(self, D: int, lu: bool = True):
        super().__init__()
        self.D, self.lu = D, lu
        self._inverse_cache = None  # (key, W^-T, -log|det W|, kept tensors) with grad disabled: see _cached_inverse
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

    def forward(self, x: torch.Tensor, cond=None, state=None):
        w, logabsdet = self._weight()
        return x @ w.T.to(x.dtype), constant_logdet(logabsdet, x).to(x.dtype)

    def inverse(self, z: torch.Tensor, cond=None, state=None):
        if torch.is_grad_enabled():
            w, logabsdet = self._weight()
            return z @ torch.linalg.inv(w).T.to(z.dtype), constant_logdet(logabsdet, z, sign=-1).to(z.dtype)
        inv_t, neg_logabsdet = self._cached_inverse(z.dtype)
        return z @ inv_t, constant_logdet(neg_logabsdet, z)

    def _cached_inverse(self, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(W^-T, -log|det W|) in ``dtype`` (W inverted in float64), reused while W is unchanged.

        The key holds the storage address and in-place version counter of every parameter and buffer
        (an optimizer step, ``load_state_dict``, ``.to()`` or any in-place update under ``no_grad``
        changes one of them; writes through ``param.data`` bypass the counter), the dtype and the
        device. The entry keeps those storages alive so their addresses cannot be reused by new
        tensors. Only used with grad disabled (the cached tensors carry no graph).
        """
        tensors = (*self._parameters.values(), *self._buffers.values())  # everything W is built from (this is the hot path)
        try:
            key = (*[(t.data_ptr(), t._version) for t in tensors], dtype, tensors[0].device)
        except RuntimeError:  # inference tensors have no version counter to key on
            return self._inverse_and_logdet(dtype)
        cached = self._inverse_cache
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        inv_t, neg_logabsdet = self._inverse_and_logdet(dtype)
        self._inverse_cache = (key, inv_t, neg_logabsdet, tuple(t.detach() for t in tensors))
        return inv_t, neg_logabsdet

    @torch.no_grad()
    def _inverse_and_logdet(self, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        w, logabsdet = self._weight()
        return torch.linalg.inv(w.double()).T.to(dtype).contiguous(), (-logabsdet).to(dtype)

    def extra_repr(self) -> str:
        return f"D={self.D}, lu={self.lu}"
