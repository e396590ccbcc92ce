"""Synthetic data where the same audio goes with two gesture modes: what SDT's templates are for.

Every audio take of :mod:`motionlab.datasets.demo_data` (beats, onset envelope, bands) appears
twice, once with the single dancer's motion (mode A) and once with its mirror image about the
rest pose (mode B, the motion negated). No audio window can tell the modes apart, so an
audio -> motion regressor trained with L1/MSE lands between them (near the rest pose), while a
model told the window's template (SDT-BP's learnt code, SDT-VAE's VAE code of the target)
reproduces the right mode. Takes ``pair_XX_a`` / ``pair_XX_b`` share the audio; the last two
pairs are val and test, so both modes are in every split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionlab.datafolder import DataFolder
from motionlab.datasets.demo_data import AUDIO, FPS, MOTION, _dancer, _sequence
from motionlab.utils.errors import MotionlabError


def make_template_demo_data(out_dir, pairs: int = 8, seconds: float = 6.0, seed: int = 0) -> Path:
    """Write the two-mode folder (``demo_audio``, ``demo_motion``, scalers, splits) and return its path."""
    if pairs < 3:
        raise MotionlabError(f"make_template_demo_data: pairs must be >= 3 (train, val and test each need a pair), got {pairs}")
    rng = np.random.default_rng(seed)
    dancer = _dancer(rng)
    audio, motion, names = {}, {}, []
    for i in range(pairs):
        a, m = _sequence(rng, dancer, seconds)
        for mode, sign in (("a", 1.0), ("b", -1.0)):
            q = f"pair_{i:02d}_{mode}"
            audio[q], motion[q] = a, (sign * m).astype(np.float32)
            names.append(q)
    split_of = lambda q: "test" if q.startswith(f"pair_{pairs - 1:02d}") else "val" if q.startswith(f"pair_{pairs - 2:02d}") else "train"  # noqa: E731
    splits = {s: [q for q in names if split_of(q) == s] for s in ("train", "val", "test")}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df = DataFolder(out)
    df.write_splits(splits)
    settings = {"generator": "motionlab.datasets.demo_template_data", "seed": seed, "pairs": pairs}
    df.write_feature(AUDIO, audio, fps=FPS, columns=["beat", "onset"] + [f"band_{i}" for i in range(14)], settings=settings, kind="demo", scale=True)
    motion_settings = {**settings, "joints": 4, "dims": 3, "edges": [[0, 1], [1, 2], [2, 3]]}
    df.write_feature(MOTION, motion, fps=FPS, columns=[f"j{j}_{c}" for j in range(4) for c in "xyz"], settings=motion_settings, kind="keypoints", scale=True)
    return out
