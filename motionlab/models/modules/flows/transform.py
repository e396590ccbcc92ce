"""The one interface of every flow block: an invertible map of (B, T, D) windows with its log-determinant.

Every block (norms, 1x1 mixings, couplings, flow steps, whole flows) is a :class:`Transform`::

    forward(x, cond=None, state=None) -> (z, logdet)   # logdet = log|det dz/dx|, shape (B,)
    inverse(z, cond=None, state=None) -> (x, logdet)   # logdet = log|det dx/dz| = -forward's logdet at x

so blocks compose without special cases (:class:`CompositeTransform`, as in nflows). ``cond`` is
the conditioning (blocks without conditioning ignore it). ``state`` carries memory across calls
(MoGlow's LSTM coupling nets): a :class:`TransformState` passed in, read and updated in place by the
blocks that have memory and ignored by the rest; the return value never changes with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn


class TransformState(dict):
    """Memory of a flow's recurrent parts between calls, ``{module: its state}``, updated in place.

    A module with memory reads its entry (missing: the start of a sequence) and stores its state
    after the call, so passing the same object to the next call continues the sequence (chunk by
    chunk equals the whole sequence at once). Keys are the modules themselves, so one object can
    serve several flows. ``state=None`` instead: start fresh, keep nothing. ``copy()`` branches.
    """

    def copy(self) -> "TransformState":
        return TransformState(self)


class Transform(nn.Module):
    """Abstract invertible map of (B, T, D) windows; see the module docstring for the contract."""

    def forward(self, x: torch.Tensor, cond=None, state: TransformState | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x, cond, state) -> (z, logdet)")

    def inverse(self, z: torch.Tensor, cond=None, state: TransformState | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must implement inverse(z, cond, state) -> (x, logdet)")


def constant_logdet(log_abs_det_per_frame: torch.Tensor, like: torch.Tensor, sign: int = 1) -> torch.Tensor:
    """(B,) log-det of a per-frame map with the same Jacobian on every frame of ``like`` (B, T, D); ``sign=-1``
    for an inverse (exactly minus the forward's).

    Frame-by-frame generation computes this every step, so the one-frame case skips the (exact) multiplication.
    """
    n = sign * like.shape[1]
    ld = log_abs_det_per_frame if n == 1 else -log_abs_det_per_frame if n == -1 else log_abs_det_per_frame * n
    return ld.expand(like.shape[0])


class CompositeTransform(Transform):
    """Transforms applied in order (inverse: in reverse order); log-dets add up.

    ``transforms`` is a sequence (children named ``0``, ``1``, ...) or a mapping name -> transform
    (children keep those names, so parameter names read ``norm.bias`` rather than ``0.bias``).
    """

    def __init__(self, transforms: Iterable[Transform] | Mapping[str, Transform]):
        super().__init__()
        items = transforms.items() if isinstance(transforms, Mapping) else ((str(i), t) for i, t in enumerate(transforms))
        for name, t in items:
            if not isinstance(t, Transform):
                raise TypeError(f"CompositeTransform: {name!r} is a {type(t).__name__}, not a Transform")
            self.add_module(name, t)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, i: int) -> Transform:
        return list(self._modules.values())[i]

    # the sums start from the first block's log-det (the same value as from zeros, one op less per composite)
    def forward(self, x, cond=None, state=None):
        logdet = None
        for t in self._modules.values():
            x, ld = t(x, cond, state)
            logdet = ld if logdet is None else logdet + ld
        return x, x.new_zeros(x.shape[0]) if logdet is None else logdet

    def inverse(self, z, cond=None, state=None):
        logdet = None
        for t in reversed(self._modules.values()):
            z, ld = t.inverse(z, cond, state)
            logdet = ld if logdet is None else logdet + ld
        return z, z.new_zeros(z.shape[0]) if logdet is None else logdet
