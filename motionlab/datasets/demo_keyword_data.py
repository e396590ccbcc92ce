"""Synthetic speech where the words carry what the audio does not (CC-NCE's demo, issue 10).

Each take is a stream of words (0.3–0.6 s each, short pauses between). Three keywords trigger their
own gesture for the duration of the word — ``up`` raises every joint, ``left`` and ``right`` swing
the arm chain to one side — and every other word leaves the speaker near rest (a small idle sway).
The "audio" (a voice-activity envelope and noisy bands) shows *when* a word is spoken but not
*which*: an audio-only model can only place the average gesture on every word, a model that reads
the words can place the right one.

Written features: ``demo_audio`` (scaled), ``demo_motion`` (4 joints x 3, scaled, drawable as
keypoints) and ``text_wordpiece_20fps`` (per frame [token_id, token_index], MiniLM's WordPiece ids
— every demo word is one WordPiece token — not scaled) and the train/val/test splits.
:func:`keyword_frames` says which frames of a take are inside a keyword (for evaluating).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionlab.datafolder import DataFolder
from motionlab.datasets.demo_data import AUDIO, FPS, MOTION
from motionlab.feature_extraction.text import wordpiece_frames
from motionlab.utils.errors import MotionlabError

TEXT = f"text_wordpiece_{FPS}fps"
#: bert-base-uncased WordPiece ids (the vocabulary of the packaged all-MiniLM-L6-v2): one token per word.
WORD_IDS = {"the": 1996, "and": 1998, "we": 2057, "so": 2061, "it": 2009, "is": 2003, "that": 2008, "then": 2059, "you": 2017, "know": 2113,
            "up": 2039, "left": 2187, "right": 2157}
KEYWORDS = ("up", "left", "right")
FILLERS = tuple(w for w in WORD_IDS if w not in KEYWORDS)
#: Every joint's (x, y, z) displacement at the peak of each keyword's gesture.
GESTURES = {
    "up": np.tile([0.0, 1.6, 0.0], (4, 1)) * np.array([[0.4], [0.7], [1.0], [1.3]]),
    "left": np.array([[-0.4, 0.2, 0.0], [-0.8, 0.4, 0.2], [-1.2, 0.5, 0.3], [-1.6, 0.6, 0.4]]),
    "right": np.array([[0.4, 0.2, 0.0], [0.8, 0.4, -0.2], [1.2, 0.5, -0.3], [1.6, 0.6, -0.4]]),
}
REST = np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 1.5, 0.0]])
VOCABULARY = {"tokenizer": "all-MiniLM-L6-v2/bert-base-uncased-wordpiece", "size": 30522, "hash": "0f052197aac305fe"}


def _words(rng: np.random.Generator, seconds: float, keyword_rate: float) -> list[tuple[str, float, float]]:
    out, t = [], float(rng.uniform(0.1, 0.4))
    while True:
        dur = float(rng.uniform(0.3, 0.6))
        if t + dur > seconds - 0.05:
            return out
        word = str(rng.choice(KEYWORDS)) if rng.random() < keyword_rate else str(rng.choice(FILLERS))
        out.append((word, round(t, 3), round(t + dur, 3)))
        t += dur + float(rng.choice([0.0, 0.05, 0.1, 0.2]))


def _take(rng: np.random.Generator, seconds: float, keyword_rate: float, n_bands: int = 14):
    n = int(round(seconds * FPS))
    words = _words(rng, seconds, keyword_rate)
    t = np.arange(n) / FPS
    motion = np.tile(REST.reshape(1, -1), (n, 1)) + 0.08 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 2 * np.pi))[:, None]
    voice = np.zeros(n)
    for word, start, end in words:
        lo, hi = int(np.ceil(start * FPS)), min(n, int(np.ceil(end * FPS)))
        phase = (np.arange(lo, hi) / FPS - start) / (end - start)
        bump = np.sin(np.pi * np.clip(phase, 0, 1))
        voice[lo:hi] = bump
        if word in GESTURES:
            motion[lo:hi] += bump[:, None] * GESTURES[word].reshape(1, -1)
    bands = voice[:, None] * rng.uniform(0.5, 1.0, (n, n_bands)) + 0.1 * rng.standard_normal((n, n_bands))
    audio = np.concatenate([voice[:, None], bands], axis=1).astype(np.float32)
    return audio, motion.astype(np.float32), words


def keyword_frames(text: np.ndarray) -> np.ndarray:
    """(T, 2) text feature of a take -> (T,) bool, True inside a keyword."""
    return np.isin(np.round(text[:, 0]).astype(int), [WORD_IDS[k] for k in KEYWORDS])


def make_keyword_data(out_dir, n_sequences: int = 24, seconds: float = 12.0, seed: int = 0, keyword_rate: float = 0.3) -> Path:
    """Write the keyword demo folder (features, scalers, splits: 3/4 train, 1/8 val, 1/8 test)."""
    if n_sequences < 8:
        raise MotionlabError(f"keyword demo data: expected at least 8 sequences (train/val/test), got {n_sequences}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = [f"kw_{i:02d}" for i in range(n_sequences)]
    takes = {q: _take(rng, seconds, keyword_rate) for q in ids}
    n_val = max(1, n_sequences // 8)
    df = DataFolder(out)
    df.write_splits({"train": ids[: -2 * n_val], "val": ids[-2 * n_val : -n_val], "test": ids[-n_val:]})
    settings = {"generator": "motionlab.datasets.demo_keyword_data", "seed": seed, "keyword_rate": keyword_rate}
    df.write_feature(AUDIO, {q: a for q, (a, _, _) in takes.items()}, fps=FPS, columns=["voice"] + [f"band_{i}" for i in range(14)], settings=settings, kind="demo", scale=True)
    motion_settings = {**settings, "joints": 4, "dims": 3, "edges": [[0, 1], [1, 2], [2, 3]]}
    df.write_feature(MOTION, {q: m for q, (_, m, _) in takes.items()}, fps=FPS, columns=[f"j{j}_{c}" for j in range(4) for c in "xyz"], settings=motion_settings, kind="keypoints", scale=True)
    text = {q: wordpiece_frames(w, lambda word: [WORD_IDS[word]], len(m), FPS) for q, (_, m, w) in takes.items()}
    df.write_feature(TEXT, text, fps=FPS, columns=["token_id", "token_index"], settings={**settings, **VOCABULARY, "source": "demo"}, kind="text", scale=False)
    return out


def keyword_l1(model, dataset, batch_size: int = 64) -> dict[str, float]:
    """Mean |generated − ground truth| (scaled units) over a split's windows: on frames inside a keyword,
    on the other frames, and the mean speed (frame-to-frame distance) of the generated and true keyword frames."""
    import torch

    model.eval()
    sums = {"keyword": [0.0, 0], "other": [0.0, 0], "speed_generated": [0.0, 0], "speed_true": [0.0, 0]}
    text_at = list(dataset.inputs).index(TEXT) if TEXT in dataset.inputs else None
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    with torch.no_grad():
        for batch in loader:
            y = batch["outputs"][0]
            fake = model.generate_window(batch["inputs"])[0]
            text = batch["inputs"][text_at] if text_at is not None else None
            if text is None:
                raise MotionlabError("keyword_l1: the dataset has no text_wordpiece_20fps input to find the keyword frames")
            kw = torch.as_tensor(np.isin(text[..., 0].round().long().numpy(), [WORD_IDS[k] for k in KEYWORDS]))
            err = (fake - y).abs().mean(2)
            for name, mask in (("keyword", kw), ("other", ~kw)):
                sums[name][0] += float(err[mask].sum())
                sums[name][1] += int(mask.sum())
            both = kw[:, 1:] & kw[:, :-1]
            for name, seq in (("speed_generated", fake), ("speed_true", y)):
                speed = (seq[:, 1:] - seq[:, :-1]).norm(dim=2)
                sums[name][0] += float(speed[both].sum())
                sums[name][1] += int(both.sum())
    return {k: s / max(n, 1) for k, (s, n) in sums.items()}
