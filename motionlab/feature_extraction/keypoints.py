"""Keypoint sequences (T x J x D) as training features, and OpenPose JSON folders as keypoints.

Keypoints become a feature by flattening joints and coordinates into columns ``j{idx}_{x|y|z}``
(``features_to_keypoints`` undoes it). Detector output has gaps (NaN, low-confidence points,
dropped frames); rather than silently training on garbage, each gap is an error naming the file
and the first frame/joint, unless the caller asks to interpolate it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from motionlab.utils.errors import MotionlabError

AXES = "xyz"

# OpenPose part name -> (JSON key, number of points). "hands" expands to left then right.
OPENPOSE_PARTS = {
    "body": ("pose_keypoints_2d", 25),
    "hand_left": ("hand_left_keypoints_2d", 21),
    "hand_right": ("hand_right_keypoints_2d", 21),
    "face": ("face_keypoints_2d", 70),
}
NECK, R_SHOULDER, L_SHOULDER = 1, 2, 5  # BODY_25 indices
_FRAME_RE = re.compile(r"(\d{12})_keypoints\.json$")
_ANY_NUMBER_RE = re.compile(r"(\d+)_keypoints\.json$")


def keypoint_columns(n_joints: int, dims: int) -> list[str]:
    """Column names of a flattened keypoint feature: j0_x, j0_y, (j0_z,) j1_x, ..."""
    if dims not in (2, 3):
        raise ValueError(f"keypoint dims must be 2 or 3, got {dims}")
    return [f"j{j}_{AXES[d]}" for j in range(n_joints) for d in range(dims)]


def interpolate_gaps(x: np.ndarray, where: str = "array") -> np.ndarray:
    """Fill NaNs along time (axis 0) linearly per column; edges hold the nearest valid value.

    Raises if some column has no valid value at all, since there is nothing to interpolate from.
    """
    x = np.array(x, dtype=np.float64)
    flat = x.reshape(x.shape[0], -1)
    bad = ~np.isfinite(flat)
    if not bad.any():
        return x
    empty = bad.all(0)
    if empty.any():
        raise MotionlabError(f"{where}: column(s) {np.flatnonzero(empty).tolist()[:10]} have no valid value in any frame; cannot interpolate")
    t = np.arange(flat.shape[0])
    for c in np.flatnonzero(bad.any(0)):
        ok = ~bad[:, c]
        flat[bad[:, c], c] = np.interp(t[bad[:, c]], t[ok], flat[ok, c])
    return flat.reshape(x.shape)


def load_keypoints_npy(path, interpolate_nan: bool = False) -> np.ndarray:
    """Load a (T, J, D) keypoint array, D in {2, 3}, as float32.

    NaN/inf is an error naming the first frame/joint (a detector gap would otherwise poison the
    scaler and the loss); ``interpolate_nan=True`` fills gaps linearly per joint coordinate instead.
    """
    path = Path(path)
    try:
        kp = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise MotionlabError(f"{path}: file not found") from None
    except ValueError as e:
        raise MotionlabError(f"{path}: not a numeric .npy array ({e})") from None
    if kp.ndim != 3 or kp.shape[2] not in (2, 3) or kp.shape[0] == 0:
        raise MotionlabError(f"{path}: expected keypoints of shape (frames, joints, 2 or 3), found {kp.shape}")
    if kp.dtype.kind not in "fiu":
        raise MotionlabError(f"{path}: expected a numeric array, found dtype {kp.dtype}")
    kp = kp.astype(np.float64)
    bad = ~np.isfinite(kp)
    if bad.any():
        if not interpolate_nan:
            t, j, d = np.argwhere(bad)[0]
            raise MotionlabError(
                f"{path}: contains {int(bad.sum())} NaN/inf values (first at frame {t}, joint {j}, coordinate {AXES[d]}); "
                "expected finite keypoints (pass interpolate_nan=True to fill gaps)"
            )
        empty = bad.all(0)
        if empty.any():
            j, d = np.argwhere(empty)[0]
            raise MotionlabError(f"{path}: joint {j} coordinate {AXES[d]} is NaN in every frame; cannot interpolate")
        kp = interpolate_gaps(kp, str(path))
    return kp.astype(np.float32)


def keypoints_to_features(kp: np.ndarray, root_joint: int | None = 0, normalise: float | tuple[int, int] | None = None) -> np.ndarray:
    """Flatten (T, J, D) keypoints to (T, J*D) feature columns (see ``keypoint_columns``).

    ``root_joint``: subtract that joint per frame so the feature is translation-free (None keeps
    absolute positions). ``normalise``: None, a scale to divide by, or a joint pair (a, b) whose
    median distance over the take becomes 1 (e.g. shoulders), so body size does not dominate.
    """
    kp = np.asarray(kp, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[2] not in (2, 3):
        raise MotionlabError(f"keypoints: expected shape (frames, joints, 2 or 3), found {kp.shape}")
    if root_joint is not None:
        kp = kp - kp[:, root_joint : root_joint + 1]
    if normalise is not None:
        if isinstance(normalise, (tuple, list)):
            a, b = normalise
            scale = float(np.median(np.linalg.norm(kp[:, a] - kp[:, b], axis=-1)))
        else:
            scale = float(normalise)
        if not np.isfinite(scale) or scale <= 0:
            raise MotionlabError(f"keypoints: normalisation scale must be a positive number, found {scale}")
        kp = kp / scale
    return kp.reshape(kp.shape[0], -1).astype(np.float32)


def features_to_keypoints(feat: np.ndarray, n_joints: int, dims: int) -> np.ndarray:
    """Inverse of the flattening in ``keypoints_to_features``: (T, J*D) -> (T, J, D)."""
    feat = np.asarray(feat)
    if feat.ndim != 2 or feat.shape[1] != n_joints * dims:
        raise MotionlabError(f"keypoint features: expected shape (frames, {n_joints * dims}) for {n_joints} joints x {dims}, found {feat.shape}")
    return feat.reshape(feat.shape[0], n_joints, dims)


# ---------------------------------------------------------------- OpenPose


def _expand_parts(parts: Sequence[str]) -> list[str]:
    out = []
    for p in parts:
        names = ["hand_left", "hand_right"] if p == "hands" else [p]
        for n in names:
            if n not in OPENPOSE_PARTS:
                raise MotionlabError(f"OpenPose parts: unknown part {p!r}; expected some of body, hands, hand_left, hand_right, face")
            if n not in out:
                out.append(n)
    return out


def _frame_number(name: str) -> int | None:
    m = _FRAME_RE.search(name) or _ANY_NUMBER_RE.search(name)
    return int(m.group(1)) if m else None


def _read_person(path: Path, parts: list[str], person: str) -> np.ndarray | None:
    """(P, 3) x/y/confidence of the chosen person in one OpenPose file, or None if nobody."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise MotionlabError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or "people" not in data:
        raise MotionlabError(f"{path}: missing key 'people' (expected an OpenPose *_keypoints.json file)")
    people = data["people"]
    if not people:
        return None
    candidates = []
    for i, p in enumerate(people):
        arrays = []
        for name in parts:
            key, n = OPENPOSE_PARTS[name]
            if key not in p:
                raise MotionlabError(f"{path}: person {i} is missing key '{key}' (run OpenPose with that part, or drop '{name}' from parts)")
            a = np.asarray(p[key], dtype=np.float64)
            if a.size == 0:  # OpenPose writes [] when a part detector did not fire
                a = np.zeros(n * 3)
            if a.shape != (n * 3,):
                raise MotionlabError(f"{path}: person {i} '{key}' expected {n * 3} values ({n} points x (x, y, confidence)), found {a.size}")
            arrays.append(a.reshape(n, 3))
        candidates.append(np.concatenate(arrays, 0))
        if person == "first":
            break
    if person == "first":
        return candidates[0]
    return max(candidates, key=lambda c: c[:, 2].mean())


def load_openpose_folder(
    folder,
    parts: Sequence[str] = ("body", "hands", "face"),
    min_confidence: float = 0.1,
    fill_missing: bool = False,
    person: str = "first",
) -> tuple[np.ndarray, dict]:
    """Read a take of OpenPose ``*_keypoints.json`` files into (T, J, 2) normalised keypoints.

    Points are ordered body (BODY_25), left hand, right hand, face as selected by ``parts``
    (137 with all). Points below ``min_confidence`` are interpolated over time from confident
    frames; positions are made relative to the neck and divided by the median shoulder width, so
    takes filmed at different distances look alike. A frame missing from the numbering, or with
    nobody in it, is an error unless ``fill_missing`` (then it is interpolated too).
    ``person``: "first" or "most_confident" when several people are detected.

    Returns (keypoints float32, info) with info keys ``scale`` (pixels per unit), ``root`` (T, 2
    neck trajectory in pixels), ``frames`` (frame numbers) and ``filled`` (interpolated frames):
    ``kp * scale + root[:, None]`` gives pixels back.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MotionlabError(f"{folder}: OpenPose folder not found")
    if person not in ("first", "most_confident"):
        raise MotionlabError(f"OpenPose person: expected 'first' or 'most_confident', found {person!r}")
    out_parts = _expand_parts(parts)
    read_parts = ["body"] + [p for p in out_parts if p != "body"]  # body always read: neck/shoulders normalise
    files = {}
    for f in folder.glob("*_keypoints.json"):
        n = _frame_number(f.name)
        if n is None:
            raise MotionlabError(f"{f}: no frame number in the name (expected e.g. take_000000000012_keypoints.json)")
        if n in files:
            raise MotionlabError(f"{folder}: frame {n} appears twice ({files[n].name}, {f.name})")
        files[n] = f
    if not files:
        raise MotionlabError(f"{folder}: no *_keypoints.json files found")
    first, last = min(files), max(files)
    frames = list(range(first, last + 1))
    n_points = sum(OPENPOSE_PARTS[p][1] for p in read_parts)
    raw = np.full((len(frames), n_points, 3), np.nan)
    missing = []
    for i, n in enumerate(frames):
        pts = _read_person(files[n], read_parts, person) if n in files else None
        if pts is None:
            missing.append(n)
        else:
            raw[i] = pts
    if missing and not fill_missing:
        shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
        raise MotionlabError(
            f"{folder}: {len(missing)} missing frame(s) (no file or nobody detected): {shown}; "
            f"expected every frame {first}..{last} (pass fill_missing=True to interpolate them)"
        )
    xy = raw[..., :2].copy()
    conf = raw[..., 2]
    xy[~(conf >= min_confidence)] = np.nan  # also catches missing frames (NaN confidence)
    never = np.flatnonzero(np.isnan(xy[..., 0]).all(0))
    if never.size:
        raise MotionlabError(
            f"{folder}: point(s) {never.tolist()[:20]} (order: {', '.join(read_parts)}) never reach confidence "
            f"{min_confidence} in any frame; lower min_confidence or drop that part"
        )
    xy = interpolate_gaps(xy, str(folder))
    root = xy[:, NECK].copy()
    widths = np.linalg.norm(xy[:, R_SHOULDER] - xy[:, L_SHOULDER], axis=-1)
    scale = float(np.median(widths))
    if not scale > 0:
        raise MotionlabError(f"{folder}: median shoulder width (BODY_25 points 2-5) is {scale}; expected a positive distance")
    kp = (xy - root[:, None]) / scale
    # Select the requested parts in the requested order.
    offsets, o = {}, 0
    for p in read_parts:
        offsets[p] = o
        o += OPENPOSE_PARTS[p][1]
    idx = np.concatenate([np.arange(offsets[p], offsets[p] + OPENPOSE_PARTS[p][1]) for p in out_parts])
    info = {"scale": scale, "root": root.astype(np.float32), "frames": frames, "filled": missing, "parts": out_parts}
    return kp[:, idx].astype(np.float32), info
