"""Baselines every evaluation runs through the same metric code as the model.

Each baseline produces, for every test sequence, motion features in the data's units (unscaled),
as long as the sequence's ground truth:

- ``mean_pose``: the train split's mean frame, held still (a frozen character; the floor of every
  distribution metric).
- ``other_clip``: real motion of another test sequence (real motion, wrong audio): the ceiling of
  naturalness with no audio relation, so alignment metrics must beat it. A split of one sequence
  (a single take cut in time) pairs its own motion, circularly shifted by half its length, with
  its audio: still real motion with the wrong audio.
- ``nearest``: nearest-neighbour retrieval: for each window of the sequence's audio features, the
  motion of the train window whose audio features are nearest (L2 in the scaled feature space).
- ``ground_truth``: the sequence's own motion (sanity: distances 0, the best alignment).
"""

from __future__ import annotations

import numpy as np

from motionlab.datafolder import DataFolder
from motionlab.utils.errors import MotionlabError

BASELINES = ("mean_pose", "other_clip", "nearest", "ground_truth")


def train_mean(folder: DataFolder, feature: str) -> np.ndarray:
    """(D,) mean frame of the train split, in the data's units (unscaled)."""
    return folder.train_mean(feature)


def unscale(folder: DataFolder, feature: str, arr: np.ndarray) -> np.ndarray:
    scaler = folder.scaler(feature)
    return np.asarray(scaler.inverse_transform(arr) if scaler is not None else arr, dtype=np.float32)


def mean_pose_baseline(folder: DataFolder, feature: str, lengths: dict[str, int]) -> dict[str, np.ndarray]:
    mean = train_mean(folder, feature)
    return {q: np.repeat(mean[None], n, 0) for q, n in lengths.items()}


def other_clip_baseline(truth: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Sequence i gets the motion of sequence i+1 (cyclically), tiled or cut to its length; a single
    sequence gets its own motion rolled by half its length."""
    seqs = list(truth)
    if not seqs:
        raise MotionlabError("the other-clip baseline needs at least one test sequence")
    if len(seqs) == 1:
        (q,) = seqs
        return {q: np.roll(truth[q], len(truth[q]) // 2, axis=0)}
    out = {}
    for i, q in enumerate(seqs):
        other = truth[seqs[(i + 1) % len(seqs)]]
        n = len(truth[q])
        reps = -(-n // len(other))
        out[q] = np.concatenate([other] * reps)[:n]
    return out


def nearest_baseline(folder: DataFolder, audio: str, feature: str, test_audio: dict[str, np.ndarray], *, window: int, max_train_windows: int = 20000, seed: int = 0) -> dict[str, np.ndarray]:
    """For each ``window``-frame window of each test sequence's audio features (scaled space), the
    motion (unscaled) of the train window whose audio is nearest; the last window is aligned with the end."""
    keys, motions = [], []
    for q in folder.split("train"):
        a = folder.load_sequence(q, [audio, feature])[audio]
        for s in range(0, len(a) - window + 1, max(1, window // 2)):
            keys.append(a[s : s + window].reshape(-1))
            motions.append((q, s))
    if not keys:
        raise MotionlabError(f"{folder.path}: no train sequence is {window} frames long, so the nearest-neighbour baseline has nothing to retrieve")
    rng = np.random.default_rng(seed)
    if len(keys) > max_train_windows:
        keep = np.sort(rng.choice(len(keys), max_train_windows, replace=False))
        keys, motions = [keys[i] for i in keep], [motions[i] for i in keep]
    K = np.stack(keys).astype(np.float32)
    K_sq = (K**2).sum(1)
    dim = folder.open_feature(motions[0][0], feature).shape[1]
    out = {}
    for q, a in test_audio.items():
        n = len(a)
        starts = list(range(0, max(1, n - window + 1), window))
        if starts[-1] + window < n:
            starts.append(n - window)
        result = np.zeros((n, dim), np.float32)
        for s in starts:
            w = a[s : s + window]
            if len(w) < window:  # a sequence shorter than one window: pad by repeating its last frame
                w = np.concatenate([w, np.repeat(w[-1:], window - len(w), 0)])
            x = w.reshape(-1).astype(np.float32)
            k = int(np.argmin(K_sq - 2 * K @ x))
            tq, ts = motions[k]
            piece = np.asarray(folder.open_feature(tq, feature)[ts : ts + window], dtype=np.float32)
            result[s : s + window] = piece[: n - s]
        out[q] = unscale(folder, feature, result)
    return out
