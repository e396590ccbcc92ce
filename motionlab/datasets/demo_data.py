"""A small synthetic but learnable paired dataset, so the demo runs with no downloads.

Each sequence has a tempo; its "audio" has a beat indicator, an onset-like envelope decaying after
each beat and mel-like bands modulated by that envelope. Its "motion" (4 joints x 3) swings with
the beat phase and jumps with the onset envelope, so the next frame is predictable from the past
motion and the music. Features are standardised with scalers fit on the train split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionlab.datafolder import DataFolder

AUDIO, MOTION = "demo_audio", "demo_motion"
FPS = 20


def _dancer(rng: np.random.Generator, n_joints: int = 4) -> dict:
    """How the (single) synthetic dancer moves: shared by all sequences, so it generalises."""
    return {
        "amp": rng.uniform(0.5, 1.5, (n_joints, 3)),
        "shift": rng.uniform(0, 2 * np.pi, (n_joints, 3)),
        "kick": rng.uniform(-0.8, 0.8, (n_joints, 3)),
    }


def _sequence(rng: np.random.Generator, dancer: dict, seconds: float, fps: int = FPS, n_bands: int = 14):
    n = int(round(seconds * fps))
    t = np.arange(n) / fps
    period = 60.0 / rng.uniform(90, 150)
    beat_times = np.arange(rng.uniform(0, period), seconds, period)
    beat_frames = np.round(beat_times * fps).astype(int)
    beat_frames = beat_frames[beat_frames < n]
    beats = np.zeros(n)
    beats[beat_frames] = 1.0
    since = np.full(n, 1e3)
    for b in beat_times:
        d = t - b
        since = np.where((d >= 0) & (d < since), d, since)
    envelope = np.exp(-since / (0.25 * period))
    bands = rng.uniform(0.2, 1.0, n_bands) * envelope[:, None] + 0.05 * rng.standard_normal((n, n_bands))
    audio = np.concatenate([beats[:, None], envelope[:, None], bands], 1)

    phase = (t - beat_times[0]) / period
    amp, shift, kick = dancer["amp"], dancer["shift"], dancer["kick"]
    motion = amp[None] * np.sin(np.pi * phase[:, None, None] + shift[None]) + kick[None] * envelope[:, None, None]
    motion = motion.reshape(n, -1) + 0.01 * rng.standard_normal((n, amp.size))
    return audio.astype(np.float32), motion.astype(np.float32)


def make_demo_data(out_dir, n_sequences: int = 24, seconds: float = 16.0, seed: int = 0) -> Path:
    """Write the demo data folder (features, scalers, metadata, train/val/test splits)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = [f"demo_{i:02d}" for i in range(n_sequences)]
    dancer = _dancer(rng)
    seqs = {s: _sequence(rng, dancer, seconds) for s in ids}
    n_val = max(1, n_sequences // 8)
    splits = {"train": ids[: n_sequences - 2 * n_val], "val": ids[n_sequences - 2 * n_val : n_sequences - n_val], "test": ids[n_sequences - n_val :]}
    df = DataFolder(out)
    df.write_splits(splits)
    settings = {"generator": "motionlab.datasets.demo_data", "seed": seed}
    df.write_feature(AUDIO, {s: seqs[s][0] for s in ids}, fps=FPS, columns=["beat", "onset"] + [f"band_{i}" for i in range(14)], settings=settings, kind="demo", scale=True)
    # The motion is 4 joints x 3 coordinates: drawable and measurable like keypoints (a chain of 3 bones).
    motion_settings = {**settings, "joints": 4, "dims": 3, "edges": [[0, 1], [1, 2], [2, 3]]}
    df.write_feature(MOTION, {s: seqs[s][1] for s in ids}, fps=FPS, columns=[f"j{j}_{c}" for j in range(4) for c in "xyz"], settings=motion_settings, kind="keypoints", scale=True)
    return out
