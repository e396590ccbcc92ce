"""Import Speech Drives Templates (Qian et al., ICCV 2021) clips into the standard data folder.

Layout (ShenhanQian/SpeechDrivesTemplates): ``<speaker>/processed_137.csv`` (or ``clips.csv``)
with columns ``dataset`` (train/dev/val/test/idle), ``pose_fn`` (npz path relative to the
speaker folder), ``speaker``...; each npz holds ``pose`` (64, 3, 137): x, y, OpenPose confidence
for 137 points in SDT's order (BODY_25, face 70, left hand 21, right hand 21), 15 fps, and
``audio`` (the clip's mono waveform, 16 kHz in the published data, rate not stored).

Written per clip: ``<clip>.pose2d.npy`` (T x 274, j0_x, j0_y, ... relative to the neck, point 1;
confidences dropped) and ``<clip>.wav`` for the audio extractor; plus split files (dev -> val,
idle rows dropped: they are SDT's gap between train and val) and ``speakers.json``.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np

from motionlab.datafolder import DataFolder, check_seq_id
from motionlab.feature_extraction.importers import (
    check_index,
    find_column,
    normalise_split,
    read_csv_rows,
    write_index,
    write_wav,
)
from motionlab.feature_extraction.keypoints import keypoint_columns, keypoints_to_features
from motionlab.utils.errors import MotionlabError

log = logging.getLogger(__name__)

FEATURE = "pose2d"
FPS = 15
N_POINTS = 137
NECK = 1
CSV_NAMES = ("processed_137.csv", "clips.csv")
SR_KEYS = ("audio_sr", "sr", "sample_rate")


def _pick_csv(folder: Path, csv_name: str | None) -> Path | None:
    if csv_name is not None:
        return folder / csv_name if (folder / csv_name).exists() else None
    for name in CSV_NAMES:
        if (folder / name).exists():
            return folder / name
    csvs = sorted(folder.glob("*.csv"))
    if len(csvs) > 1:
        raise MotionlabError(f"{folder}: several csv files {[c.name for c in csvs]}; expected one of {list(CSV_NAMES)} (or pass csv_name)")
    return csvs[0] if csvs else None


def find_index_csvs(src_dir: Path, csv_name: str | None = None) -> list[Path]:
    """The clip index of ``src_dir`` (one speaker) or of each speaker sub-folder (all speakers)."""
    own = _pick_csv(src_dir, csv_name)
    if own is not None:
        return [own]
    found = [c for d in sorted(p for p in src_dir.iterdir() if p.is_dir()) if (c := _pick_csv(d, csv_name)) is not None]
    if not found:
        raise MotionlabError(f"{src_dir}: no clip index csv found (expected {csv_name or ' or '.join(CSV_NAMES)} here or in speaker sub-folders)")
    return found


def _resolve_npz(value: str, csv_path: Path, src_dir: Path) -> Path:
    """Published csvs hold paths relative to the speaker folder (generation wrote absolute ones)."""
    p = Path(value.strip())
    base = csv_path.parent
    for c in (p, base / p, src_dir / p, base / "clips" / "npz" / p.name, base / "npz" / p.name, base / p.name):
        if c.is_file():
            return c
    raise MotionlabError(f"{csv_path}: clip file {value!r} not found (looked relative to {base} and {src_dir})")


def read_sdt_index(csv_path: Path, src_dir: Path) -> list[tuple[str, Path, str, str]]:
    """(clip id, npz path, split, speaker) for every non-idle row of one index csv."""
    fields, rows = read_csv_rows(csv_path)
    file_col = find_column(fields, ("pose_fn", "npz_fn", "clip_fn", "npz", "filename", "file", "path"), csv_path, "clip file (npz)")
    split_col = find_column(fields, ("dataset", "split"), csv_path, "split")
    spk_col = find_column(fields, ("speaker",), csv_path, "speaker", required=False)
    out = []
    for i, r in enumerate(rows, start=2):
        where = f"{csv_path} line {i}"
        split = normalise_split(r[split_col], where)
        if split is None:
            continue
        npz = _resolve_npz(r[file_col], csv_path, src_dir)
        speaker = r[spk_col].strip() if spk_col and r[spk_col].strip() else csv_path.parent.name
        out.append((check_seq_id(npz.stem, where), npz, split, speaker))
    return out


def _read_clip(path: Path, audio_sr: int, n_points: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(pose2d features, audio (samples[, channels]), sample rate) of one clip, validated."""
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise MotionlabError(f"{path}: cannot read as .npz ({e})") from None
    with z:
        for key in ("pose", "audio"):
            if key not in z.files:
                raise MotionlabError(f"{path}: missing key '{key}' (expected 'pose' (T, 3, {n_points}) and 'audio'; found {z.files})")
        try:
            pose = z["pose"]
            audio = z["audio"]
            sr = audio_sr
            for k in SR_KEYS:
                if k in z.files:
                    sr = int(np.asarray(z[k]).reshape(-1)[0])
                    break
        except (ValueError, OSError, zipfile.BadZipFile) as e:  # e.g. an object (pickled) member: never unpickled
            raise MotionlabError(f"{path}: cannot read as numeric arrays ({e})") from None
    if pose.ndim != 3 or pose.shape[1] != 3 or pose.shape[2] != n_points or pose.shape[0] == 0 or pose.dtype.kind not in "fiu":
        raise MotionlabError(f"{path}: 'pose' expected shape (T, 3, {n_points}) (x, y, confidence per point), found {pose.shape} {pose.dtype}")
    if audio.dtype.kind not in "fiu" or audio.ndim not in (1, 2) or audio.size == 0:
        raise MotionlabError(f"{path}: 'audio' expected a non-empty waveform of shape (samples,) or (samples, channels), found {audio.shape} {audio.dtype}")
    if audio.ndim == 2 and audio.shape[0] < audio.shape[1] and audio.shape[0] <= 8:
        audio = audio.T  # (channels, samples) as librosa writes multi-channel audio
    if audio.dtype.kind in "iu":  # integer PCM -> float in [-1, 1)
        audio = audio.astype(np.float32) / float(np.iinfo(audio.dtype).max + 1)
    xy = pose[:, :2, :].astype(np.float64).transpose(0, 2, 1)  # (T, J, 2)
    bad = ~np.isfinite(xy)
    if bad.any():
        t, j, d = np.argwhere(bad)[0]
        raise MotionlabError(f"{path}: 'pose' contains NaN/inf (first at frame {t}, point {j}); expected finite keypoints")
    if not np.isfinite(audio).all():
        raise MotionlabError(f"{path}: 'audio' contains NaN/inf samples")
    if sr <= 0:
        raise MotionlabError(f"{path}: audio sample rate must be positive, found {sr}")
    return keypoints_to_features(xy, root_joint=NECK), audio.astype(np.float32), sr


def import_sdt(
    src_dir,
    out_dir,
    audio_sr: int = 16000,
    fps: float = FPS,
    csv_name: str | None = None,
    n_points: int = N_POINTS,
    wav_subtype: str = "FLOAT",
    allow_empty_splits: bool = False,
) -> dict[str, str]:
    """Import SDT clips of one speaker folder, or of every speaker sub-folder, into ``out_dir``.

    ``audio_sr`` is used when the npz stores no rate (the published clips don't: 16 kHz).
    The published splits are kept; an empty val or test split is an error unless
    ``allow_empty_splits`` (then a logged warning). Returns clip id -> split.
    """
    src_dir = Path(src_dir)
    if not src_dir.is_dir():
        raise MotionlabError(f"{src_dir}: Speech Drives Templates folder not found")
    clips: dict[str, tuple[Path, str, str]] = {}
    for csv_path in find_index_csvs(src_dir, csv_name):
        for seq, npz, split, speaker in read_sdt_index(csv_path, src_dir):
            if seq in clips and clips[seq] != (npz, split, speaker):
                raise MotionlabError(f"{csv_path}: clip id {seq} ({npz}) clashes with {clips[seq][0]} (split/speaker {clips[seq][1:]} vs {(split, speaker)})")
            clips[seq] = (npz, split, speaker)
    if not clips:
        raise MotionlabError(f"{src_dir}: the clip index lists no train/val/test clips")
    for npz, _, _ in clips.values():  # validate every clip and the splits before writing anything
        _read_clip(npz, audio_sr, n_points)
    split_of = {s: c[1] for s, c in clips.items()}
    check_index(out_dir, split_of, src_dir, allow_empty_splits)
    df = DataFolder(out_dir)
    rates, poses = set(), {}
    for seq, (npz, _, _) in clips.items():
        pose, audio, sr = _read_clip(npz, audio_sr, n_points)
        rates.add(sr)
        if abs(len(audio) / sr - len(pose) / fps) > 1.0 / fps:
            log.info("%s: audio %.3f s vs pose %.3f s", npz, len(audio) / sr, len(pose) / fps)
        poses[seq] = pose
        write_wav(df.path / f"{seq}.wav", audio, sr, subtype=wav_subtype)
    settings = {
        "source": "speech_drives_templates",
        "src_dir": str(src_dir),
        "points": "SDT/OpenPose order: BODY_25 0-24, face 25-94, left hand 95-115, right hand 116-136" if n_points == N_POINTS else f"{n_points} points as in the npz",
        "root_joint": NECK,
        "confidence": "dropped",
        "audio_sr": sorted(rates),
        "joints": n_points,
        "dims": 2,
    }
    df.write_feature(FEATURE, poses, fps=fps, columns=keypoint_columns(n_points, 2), settings=settings, kind="keypoints", scale=None)
    write_index(out_dir, split_of, {s: c[2] for s, c in clips.items()}, allow_empty=allow_empty_splits)
    return split_of
