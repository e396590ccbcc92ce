"""Importers of published dataset layouts into the standard data folder.

Each importer reads one layout (Dance with Melody, PATS, Speech Drives Templates), validates it
up front (a missing key or a wrong shape names the file, the expected and the found, and
the splits are checked) and writes ``<seq>.<feature>.npy``, split files, ``<feature>.meta.json``
and ``speakers.json`` through :class:`~motionlab.datafolder.DataFolder`, atomically, so an
interrupted import never leaves a half-written file. Arrays are written raw (any old scaler of
the feature is removed); ``motionlab extract scale`` standardises them. The shared helpers live here.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from motionlab.datafolder import SPLITS, DataFolder
from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import atomic_path

log = logging.getLogger(__name__)

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


def split_lists(split_of: Mapping[str, str]) -> dict[str, list[str]]:
    """sequence id -> split  to  split -> sequence ids (in the given order)."""
    return {sp: [q for q, s in split_of.items() if s == sp] for sp in SPLITS}


def check_index(out_dir, split_of: Mapping[str, str], source, allow_empty: bool) -> dict[str, list[str]]:
    """Check the published splits before anything is written: train must have sequences, and
    val/test too unless ``allow_empty`` (then an empty one is logged as a warning)."""
    lists = split_lists(split_of)
    try:
        DataFolder(out_dir).check_splits(lists, allow_empty=allow_empty)
    except MotionlabError as e:
        raise MotionlabError(f"{source}: the published splits of the imported sequences do not suit training: {e} (pass --allow_empty_splits to import anyway)") from None
    for sp in ("val", "test"):
        if not lists[sp]:
            log.warning("%s: the %s split is empty (allowed by --allow_empty_splits)", source, sp)
    return lists


def write_index(out_dir, split_of: Mapping[str, str], speakers: Mapping[str, str] | None = None, *, allow_empty: bool = False) -> None:
    """Write the split files (through DataFolder.write_splits) and speakers.json."""
    df = DataFolder(out_dir)
    df.write_splits(split_lists(split_of), allow_empty=allow_empty)
    if speakers:
        df.write_speakers({s: speakers[s] for s in split_of if s in speakers})


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

