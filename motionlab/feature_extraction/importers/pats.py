"""Import PATS (Pose, Audio, Transcript, Style; Ahuja et al. 2020) into the standard data folder.

Layout: ``cmu_intervals_df.csv`` (one row per interval: ``interval_id``, ``speaker``,
``dataset`` = train/dev/test) and ``processed/<speaker>/<interval_id>.h5`` holding
``pose/data`` and ``pose/normalize`` (T x 104: 52 x then 52 y, relative to the neck),
``audio/log_mel_400`` (~100 frames/s, 64 mels), ``text/bert`` etc. at the pose rate (15 fps).

Written per interval: ``<interval>.pose_normalize.npy`` reordered to j0_x, j0_y, j1_x, ... (the
library's keypoint column convention), ``<interval>.audio_log_mel_400.npy`` resampled to the
pose frames (the data folder needs time-synced arrays), ``<interval>.text_<name>.npy``; plus
split files (dev -> val) and ``speakers.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from motionlab.datafolder import DataFolder, check_seq_id
from motionlab.feature_extraction.importers import (
    as_float32_2d,
    check_index,
    find_column,
    normalise_split,
    read_csv_rows,
    resample_frames,
    write_index,
)
from motionlab.feature_extraction.keypoints import keypoint_columns
from motionlab.utils.errors import MotionlabError

log = logging.getLogger(__name__)

FPS = 15
N_JOINTS = 52
CSV_NAME = "cmu_intervals_df.csv"


def feature_name(key: str) -> str:
    """h5 dataset path -> feature name: ``audio/log_mel_400`` -> ``audio_log_mel_400``."""
    return key.strip("/").replace("/", "_")


def _find_csv(src_dir: Path, split_csv) -> Path:
    if split_csv is not None:
        return Path(split_csv)
    if (src_dir / CSV_NAME).exists():
        return src_dir / CSV_NAME
    csvs = sorted(src_dir.glob("*.csv"))
    if len(csvs) != 1:
        raise MotionlabError(f"{src_dir}: expected {CSV_NAME} (or exactly one .csv split file), found {[c.name for c in csvs]}")
    return csvs[0]


def read_pats_index(path) -> dict[str, tuple[str | None, str]]:
    """interval id -> (split or None if excluded, speaker), tolerant of column names."""
    fields, rows = read_csv_rows(path)
    id_col = find_column(fields, ("interval_id", "interval", "id"), path, "interval id")
    split_col = find_column(fields, ("dataset", "split"), path, "split")
    spk_col = find_column(fields, ("speaker",), path, "speaker")
    index: dict[str, tuple[str | None, str]] = {}
    for i, r in enumerate(rows, start=2):
        where = f"{path} line {i}"
        seq = check_seq_id(r[id_col], where)
        entry = (normalise_split(r[split_col], where), r[spk_col].strip())
        if seq in index and index[seq] != entry:
            raise MotionlabError(f"{where}: interval {seq} listed twice with different split/speaker: {index[seq]} and {entry}")
        index[seq] = entry
    return index


def _missing_intervals(src_dir: Path) -> set[str]:
    """Intervals PATS itself marks incomplete (``missing_intervals.h5``); excluded like the benchmark does."""
    import h5py

    p = src_dir / "missing_intervals.h5"
    if not p.exists():
        return set()
    with h5py.File(p, "r") as f:
        if "intervals" not in f:
            return set()
        return {v.decode() if isinstance(v, bytes) else str(v) for v in f["intervals"][()]}


def _pose_to_joint_major(a: np.ndarray) -> np.ndarray:
    """(T, 104) as 52 x then 52 y -> (T, 104) as j0_x, j0_y, j1_x, ..."""
    return a.reshape(a.shape[0], 2, N_JOINTS).transpose(0, 2, 1).reshape(a.shape[0], -1)


def _read_interval(path: Path, pose_keys: Sequence[str], audio_keys: Sequence[str], text_keys: Sequence[str], load: bool = True) -> dict:
    """Requested features of one interval, validated and time-synced to the pose frames.

    ``load=False`` checks keys, dtypes and shapes from the h5 metadata only (cheap validation
    pass before anything is written) and returns feature name -> column count.
    """
    import h5py

    out: dict = {}
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise MotionlabError(f"{path}: cannot open as HDF5 ({e})") from None
    with f:

        def get(key):
            if key not in f or not isinstance(f[key], h5py.Dataset):
                raise MotionlabError(f"{path}: missing dataset '{key}' (found {sorted(_datasets(f))})")
            d = f[key]
            if d.dtype.kind not in "fiub" or d.ndim < 1 or d.shape[0] == 0:
                raise MotionlabError(f"{path}: dataset '{key}' expected a numeric (frames, ...) array, found dtype {d.dtype} shape {d.shape}")
            return d

        def cols(d):
            return int(np.prod(d.shape[1:], dtype=np.int64))

        n = None
        for key in pose_keys:
            d = get(key)
            if d.ndim != 2 or d.shape[1] != 2 * N_JOINTS:
                raise MotionlabError(f"{path}: dataset '{key}' expected shape (T, {2 * N_JOINTS}) (52 x then 52 y), found {d.shape}")
            if n is not None and d.shape[0] != n:
                raise MotionlabError(f"{path}: dataset '{key}' expected {n} frames like the other pose data, found {d.shape[0]}")
            n = d.shape[0]
            out[feature_name(key)] = _pose_to_joint_major(as_float32_2d(d[()])) if load else d.shape[1]
        for key in audio_keys:
            d = get(key)
            out[feature_name(key)] = resample_frames(as_float32_2d(d[()]), n) if load else cols(d)
        for key in text_keys:
            d = get(key)
            if d.shape[0] != n:
                raise MotionlabError(f"{path}: dataset '{key}' expected {n} frames (one per pose frame), found shape {d.shape}")
            out[feature_name(key)] = as_float32_2d(d[()]) if load else cols(d)
    if load:
        for k, a in out.items():
            if not np.isfinite(a).all():
                t, c = np.argwhere(~np.isfinite(a))[0]
                raise MotionlabError(f"{path}: '{k}' contains NaN/inf (first at frame {t}, column {c})")
    return out


def _datasets(f) -> list[str]:
    import h5py

    names = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def import_pats(
    src_dir,
    out_dir,
    split_csv=None,
    pose_keys: Iterable[str] = ("pose/normalize",),
    audio_keys: Iterable[str] = ("audio/log_mel_400",),
    text_keys: Iterable[str] = ("text/bert",),
    speakers: Iterable[str] | None = None,
    skip_missing_intervals: bool = True,
    allow_empty_splits: bool = False,
) -> dict[str, str]:
    """Import every interval h5 under ``src_dir`` (searched recursively) that the csv lists.

    ``speakers`` restricts to those speakers. Csv rows without an h5 file are skipped (PATS is
    downloaded per speaker); an h5 file the csv does not list is an error, since its split is
    unknown. The published splits are kept; an empty val or test split among the imported
    intervals is an error unless ``allow_empty_splits`` (then a logged warning); an empty train
    split always is. Returns interval id -> split.
    """
    src_dir = Path(src_dir)
    if not src_dir.is_dir():
        raise MotionlabError(f"{src_dir}: PATS folder not found")
    pose_keys, audio_keys, text_keys = list(pose_keys), list(audio_keys), list(text_keys)
    if not pose_keys:
        raise MotionlabError("PATS import: pose_keys is empty; at least one pose dataset sets the frame count")
    csv_path = _find_csv(src_dir, split_csv)
    index = read_pats_index(csv_path)
    excluded = _missing_intervals(src_dir) if skip_missing_intervals else set()
    wanted = set(speakers) if speakers is not None else None
    files = {}
    for p in sorted(src_dir.rglob("*.h5")):
        if p.name == "missing_intervals.h5":
            continue
        seq = p.stem
        if seq in files:
            raise MotionlabError(f"{p}: interval {seq} also found at {files[seq]}")
        if seq not in index:
            raise MotionlabError(f"{p}: interval {seq} is not listed in {csv_path} (expected a row with its interval_id, speaker and dataset)")
        split, spk = index[seq]
        if split is None or seq in excluded or (wanted is not None and spk not in wanted):
            continue
        files[seq] = p
    if not files:
        raise MotionlabError(f"{src_dir}: no interval .h5 files listed in {csv_path} found (expected processed/<speaker>/<interval_id>.h5)")

    # Validate everything first (keys, shapes, frame counts); write only then.
    dims: dict[str, int] = {}
    for seq, p in files.items():
        for k, c in _read_interval(p, pose_keys, audio_keys, text_keys, load=False).items():
            if dims.setdefault(k, c) != c:
                raise MotionlabError(f"{p}: '{k}' expected {dims[k]} columns like earlier intervals, found {c}")
    split_of = {seq: index[seq][0] for seq in files}
    check_index(out_dir, split_of, csv_path, allow_empty_splits)
    df = DataFolder(out_dir)
    for seq, p in files.items():
        for k, a in _read_interval(p, pose_keys, audio_keys, text_keys).items():
            df.write_array(seq, k, a)  # one interval at a time: PATS does not fit in memory
    common = {"source": "pats", "src_dir": str(src_dir), "split_csv": str(csv_path), "scaled": False}
    for key in pose_keys:
        df.write_meta(feature_name(key), FPS, keypoint_columns(N_JOINTS, 2), {**common, "h5_key": key, "layout": "52 upper-body joints relative to the neck, reordered to joint-major x, y", "joints": N_JOINTS, "dims": 2}, kind="keypoints")
    for key in audio_keys:
        name = feature_name(key)
        df.write_meta(name, FPS, [f"{name}_{i}" for i in range(dims[name])], {**common, "h5_key": key, "resampled": "linearly to the pose frames"}, kind="audio")
    for key in text_keys:
        name = feature_name(key)
        df.write_meta(name, FPS, [f"{name}_{i}" for i in range(dims[name])], {**common, "h5_key": key}, kind="text")
    write_index(out_dir, split_of, {seq: index[seq][1] for seq in files}, allow_empty=allow_empty_splits)
    skipped = sum(1 for s, (sp, spk) in index.items() if sp is not None and s not in files and (wanted is None or spk in wanted))
    if skipped:
        log.info("PATS: %d csv intervals had no h5 file (or are marked missing) and were skipped", skipped)
    return split_of
