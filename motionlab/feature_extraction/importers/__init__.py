"""Importers of published dataset layouts into the standard data folder.

Each importer reads one layout (Dance with Melody, PATS, Speech Drives Templates), validates it
up front (a missing key or a wrong shape names the file, the expected and the found) and writes
``<seq>.<feature>.npy``, split files, ``<feature>.meta.json`` and ``speakers.json`` atomically,
so an interrupted import never leaves a half-written file. The shared helpers live here.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import atomic_path, write_json, write_text

SPLITS = ("train", "val", "test")
# Published split names -> ours. SDT's "idle" rows are the gap between train and val: dropped.
SPLIT_ALIASES = {"train": "train", "training": "train", "dev": "val", "val": "val", "valid": "val", "validation": "val", "test": "test"}
SKIPPED_SPLITS = {"idle"}


def normalise_split(value: str, where: str) -> str | None:
    """Map a published split name to train/val/test (None: deliberately excluded rows)."""
    v = str(value).strip().lower()
    if v in SKIPPED_SPLITS:
        return None
    if v not in SPLIT_ALIASES:
        raise MotionlabError(f"{where}: unknown split {value!r}; expected one of train, dev/val, test (or idle, which is skipped)")
    return SPLIT_ALIASES[v]


def check_seq_id(seq: str, where: str) -> str:
    """Sequence ids become file names and split-file lines: refuse ones that cannot round-trip."""
    seq = str(seq).strip()
    if not seq or any(c in seq for c in "/\\\n\r\t ") or seq.startswith("#"):
        raise MotionlabError(f"{where}: sequence id {seq!r} cannot be used as a file name (expected no slashes, spaces or leading '#')")
    return seq


def find_column(fieldnames: Iterable[str], candidates: Iterable[str], path, what: str, required: bool = True) -> str | None:
    """The first of ``candidates`` present among the csv columns (case-insensitive)."""
    lower = {f.strip().lower(): f for f in fieldnames if f is not None}
    for c in candidates:
        if c in lower:
            return lower[c]
    if required:
        raise MotionlabError(f"{path}: missing {what} column; expected one of {list(candidates)}, found columns {sorted(lower)}")
    return None


def read_csv_rows(path) -> tuple[list[str], list[dict]]:
    path = Path(path)
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except FileNotFoundError:
        raise MotionlabError(f"{path}: index csv not found") from None


def write_index(out_dir, splits: Mapping[str, str], speakers: Mapping[str, str] | None = None) -> None:
    """Write the three split files (empty ones too, so readers find them) and speakers.json."""
    out_dir = Path(out_dir)
    for split in SPLITS:
        names = [s for s, sp in splits.items() if sp == split]
        write_text(out_dir / f"base_filenames_{split}.txt", "".join(n + "\n" for n in names))
    if speakers:
        write_json(out_dir / "speakers.json", {s: speakers[s] for s in splits if s in speakers})


def write_wav(path, audio: np.ndarray, sr: int, subtype: str = "FLOAT") -> None:
    """Write (samples,) or (samples, channels) audio atomically (temp name + rename)."""
    import soundfile as sf

    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(str(tmp), np.asarray(audio), int(sr), subtype=subtype, format="WAV")


def as_float32_2d(a: np.ndarray) -> np.ndarray:
    """(T, ...) -> contiguous float32 (T, prod(...)): the standard rank-2 feature array."""
    a = np.asarray(a)
    return np.ascontiguousarray(a.reshape(a.shape[0], -1), dtype=np.float32)


def resample_frames(x: np.ndarray, n: int, mode: str = "linear") -> np.ndarray:
    """Resample (T, D) to (n, D) over the same duration (frame centres), linear or nearest."""
    t_in = len(x)
    if t_in == n:
        return x
    pos = (np.arange(n) + 0.5) * t_in / n - 0.5
    if mode == "nearest":
        return x[np.clip(np.round(pos).astype(int), 0, t_in - 1)]
    pos = np.clip(pos, 0, t_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, t_in - 1)
    w = (pos - lo)[:, None]
    return ((1 - w) * x[lo] + w * x[hi]).astype(x.dtype)

