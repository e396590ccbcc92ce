"""Per-feature standardisation saved as plain arrays (``<feature>.scaler.npz``: mean, scale).

Fit on the train split only; ``prepare`` applies it, generation inverts it. No pickle: loading a
data folder never executes code. Where the file lives and the record of which arrays it scaled
belong to :class:`motionlab.datafolder.DataFolder`; this module is the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from motionlab.datafolder import NPY_ERRORS
from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import save_npz


@dataclass
class StandardScaler:
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, arrays: Iterable[np.ndarray], min_scale: float = 1e-8) -> "StandardScaler":
        """Streaming mean/std over frames of several arrays (float64 sums, so long data stays exact)."""
        n, s, ss = 0, None, None
        for a in arrays:
            a = np.asarray(a, dtype=np.float64)
            s = a.sum(0) if s is None else s + a.sum(0)
            ss = (a**2).sum(0) if ss is None else ss + (a**2).sum(0)
            n += a.shape[0]
        if n == 0:
            raise MotionlabError("cannot fit a scaler on zero frames (is the train split empty?)")
        mean = s / n
        std = np.sqrt(np.maximum(ss / n - mean**2, 0.0))
        std[std < min_scale] = 1.0  # constant columns pass through unscaled
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale).astype(np.float32)

    def inverse_transform(self, x):
        return x * self.scale + self.mean

    def save(self, path) -> None:
        save_npz(path, mean=self.mean, scale=self.scale)

    @classmethod
    def load(cls, path) -> "StandardScaler":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(z["mean"].astype(np.float32), z["scale"].astype(np.float32))
        except FileNotFoundError:
            raise MotionlabError(f"{path}: scaler file not found") from None
        except NPY_ERRORS as e:
            raise MotionlabError(f"{path}: not a motionlab scaler (expected an .npz with 'mean' and 'scale'): {e}") from None
