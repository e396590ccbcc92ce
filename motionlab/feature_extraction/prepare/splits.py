"""Choosing train/val/test: whole takes shuffled with a seed, or each take split in time.

Shared with the importers of layouts that publish no split (Dance with Melody).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from motionlab.datafolder import SPLITS
from motionlab.utils.errors import MotionlabError

MIN_TAKES = 3  # one each for train, val and test


@dataclass(frozen=True)
class Segment:
    """Where a sequence comes from: frames [start, end) of a take, and its split."""

    split: str
    take: str
    start: int
    end: int
    mirrored: bool = False  # a left/right mirrored copy (train only)


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise MotionlabError(f"--val_fraction {val_fraction} and --test_fraction {test_fraction} must be in [0, 1) and sum to less than 1")


def assign_takes(takes: Iterable[str], val_fraction: float, test_fraction: float, seed: int, *, what: str = "takes") -> dict[str, str]:
    """take -> split: shuffled with ``seed``; val/test get round(fraction x n) takes, at least one each
    when their fraction is positive. Needs 3 takes when both val and test are wanted."""
    check_fractions(val_fraction, test_fraction)
    order = [str(t) for t in np.random.default_rng(seed).permutation(sorted(takes))]
    n = len(order)
    n_test = max(int(round(test_fraction * n)), 1) if test_fraction else 0
    n_val = max(int(round(val_fraction * n)), 1) if val_fraction else 0
    if n - n_test - n_val < 1:
        raise MotionlabError(
            f"{n} {what} cannot make a train split plus {n_val} val and {n_test} test {what} "
            f"(found {sorted(order)}); at least {1 + n_val + n_test} are needed (or lower --val_fraction/--test_fraction)"
        )
    return {t: "test" if i < n_test else "val" if i < n_test + n_val else "train" for i, t in enumerate(order)}


def make_splits(takes: list[str], lengths: Mapping[str, int], mode: str, val_fraction: float, test_fraction: float, seed: int) -> dict[str, Segment]:
    """sequence id -> Segment. ``takes`` mode splits whole takes, ``time`` cuts every take into
    train/val/test stretches (ids ``<take>``, ``<take>-val``, ``<take>-test``), ``auto`` is
    ``takes`` from 3 takes on."""
    if mode == "auto":
        mode = "takes" if len(takes) >= MIN_TAKES else "time"
    check_fractions(val_fraction, test_fraction)
    if mode == "takes":
        return {t: Segment(split, t, 0, lengths[t]) for t, split in assign_takes(takes, val_fraction, test_fraction, seed).items()}
    if mode == "time":
        seqs = {}
        for t in sorted(takes):
            T = lengths[t]
            a = int(round(T * (1 - val_fraction - test_fraction)))
            b = int(round(T * (1 - test_fraction)))
            for split, lo, hi in (("train", 0, a), ("val", a, b), ("test", b, T)):
                if hi > lo:
                    seqs[t if split == "train" else f"{t}-{split}"] = Segment(split, t, lo, hi)
        return seqs
    raise MotionlabError(f"--split_mode must be takes, time or auto, found {mode!r}")


def split_lists(segments: Mapping[str, Segment]) -> dict[str, list[str]]:
    """train/val/test -> sorted sequence ids, for ``DataFolder.write_splits``."""
    out: dict[str, list[str]] = {sp: [] for sp in SPLITS}
    for q, seg in segments.items():
        out[seg.split].append(q)
    return {sp: sorted(ids) for sp, ids in out.items()}
