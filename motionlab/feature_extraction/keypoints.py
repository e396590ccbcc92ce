"""Keypoint sequences (T x J x D) as training features, and OpenPose JSON folders as keypoints.

Two feature forms:

* ``encode_keypoints`` / ``decode_keypoints`` (for world trajectories, e.g. dance): the root gets
  the treatment BVH features get (``MotionPipeline``'s ``_cr``), so a model learns per-frame
  motion instead of absolute positions it cannot predict: joints relative to the root in the
  character's heading frame, root height, root step in the heading frame and heading change.
  Decoding integrates the steps from any start position and heading.
* ``keypoints_to_features`` flattens joints and coordinates into columns ``j{idx}_{x|y|z}``
  (``features_to_keypoints`` undoes it): for clips that are already normalised per frame.

Detector output has gaps (NaN, low-confidence points, dropped frames); rather than silently
training on garbage, each gap is an error naming the file and the first frame/joint, unless the
caller asks to interpolate it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from motionlab.feature_extraction.rotations import (
    AXES as _AXIS_INDEX,
    axis_vector,
    default_forward_axis,
    heading_yaw,
    quat_apply,
    yaw_quat,
)
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


# ---------------------------------------------------------------- root-relative encoding

KEYPOINT_FORMAT = "motionlab.keypoint_features"
_KEYPOINT_VERSION = 1


def _check_kp(kp, what: str) -> np.ndarray:
    kp = np.asarray(kp, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[2] not in (2, 3) or kp.shape[0] == 0:
        raise MotionlabError(f"{what}: expected keypoints of shape (frames, joints, 2 or 3), found {kp.shape}")
    if not np.isfinite(kp).all():
        t, j, d = np.argwhere(~np.isfinite(kp))[0]
        raise MotionlabError(f"{what}: expected finite keypoints, found NaN/inf (first at frame {t}, joint {j}, coordinate {AXES[d]})")
    return kp


def _joint_index(j, n_joints: int, what: str) -> int:
    if isinstance(j, bool) or not isinstance(j, (int, np.integer)) or not 0 <= int(j) < n_joints:
        raise MotionlabError(f"{what}: expected a joint index in [0, {n_joints}), found {j!r}")
    return int(j)


def _frame_axes(settings: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(up, fwd, side) unit vectors of a 3-D setting; side = up x fwd is where positive yaw turns fwd."""
    up = axis_vector(settings["up_axis"], "keypoint features up_axis")
    fwd = axis_vector(settings["forward_axis"], "keypoint features forward_axis")
    return up, fwd, np.cross(up, fwd)


def _side_axis(settings: dict) -> str:
    return "xyz"[int(np.argmax(np.abs(_frame_axes(settings)[2])))]


def keypoint_feature_columns(settings: dict) -> list[str]:
    """Column names of ``encode_keypoints`` features: root columns, then ``j{idx}_{axis}`` of every
    non-root joint (coordinates relative to the root, in the heading frame for 3-D)."""
    dims, root = settings["dims"], settings["root_joint"]
    if dims == 2:
        cols = ["root_dx", "root_dy"]
    else:
        up, fwd = settings["up_axis"], settings["forward_axis"]
        cols = [f"root_d{_side_axis(settings)}", f"root_d{fwd}"]
        if settings["heading_joints"] is not None:
            cols.append("root_dyaw")
        cols.append(f"root_{up}")
    return cols + [f"j{j}_{AXES[d]}" for j in range(settings["n_joints"]) if j != root for d in range(dims)]


def keypoint_settings(
    n_joints: int,
    dims: int,
    *,
    root_joint: int = 0,
    up_axis: str = "y",
    heading_joints: tuple[int, int] | None = None,
    forward_axis: str | None = None,
) -> dict:
    """Validated, JSON-ready settings of the encoding (what ``decode_keypoints`` needs; store them
    in the feature's meta.json)."""
    if dims not in (2, 3):
        raise MotionlabError(f"keypoint features: expected 2 or 3 coordinates per joint, found {dims}")
    settings = {"format": KEYPOINT_FORMAT, "version": _KEYPOINT_VERSION, "dims": int(dims), "n_joints": int(n_joints)}
    settings["root_joint"] = _joint_index(root_joint, n_joints, "keypoint features root_joint")
    if dims == 2:
        if heading_joints is not None:
            raise MotionlabError("keypoint features heading_joints: 2-D (image) keypoints have no heading; expected None")
        settings.update(up_axis=None, forward_axis=None, heading_joints=None)
        return settings
    axis_vector(up_axis, "keypoint features up_axis")
    forward_axis = default_forward_axis(up_axis) if forward_axis is None else forward_axis
    axis_vector(forward_axis, "keypoint features forward_axis")
    if forward_axis == up_axis:
        raise MotionlabError(f"keypoint features forward_axis: expected an axis other than up_axis {up_axis!r}, found {forward_axis!r}")
    if heading_joints is not None:
        pair = list(heading_joints)
        if len(pair) != 2:
            raise MotionlabError(f"keypoint features heading_joints: expected a (left, right) joint pair, found {heading_joints!r}")
        pair = [_joint_index(j, n_joints, "keypoint features heading_joints") for j in pair]
        if pair[0] == pair[1]:
            raise MotionlabError(f"keypoint features heading_joints: expected two different joints, found {heading_joints!r}")
        heading_joints = pair
    settings.update(up_axis=up_axis, forward_axis=forward_axis, heading_joints=heading_joints)
    return settings


def _check_settings(settings) -> dict:
    keys = ("format", "version", "dims", "n_joints", "root_joint", "up_axis", "forward_axis", "heading_joints")
    if not isinstance(settings, dict) or settings.get("format") != KEYPOINT_FORMAT:
        raise MotionlabError(f"keypoint feature settings: expected the dict returned by encode_keypoints (format {KEYPOINT_FORMAT!r}), found {settings!r:.200}")
    missing = [k for k in keys if k not in settings]
    if missing:
        raise MotionlabError(f"keypoint feature settings: missing key(s) {missing}")
    if settings["version"] != _KEYPOINT_VERSION:
        raise MotionlabError(f"keypoint feature settings: version {settings['version']}, this code reads {_KEYPOINT_VERSION}")
    # re-validate: settings usually come back from a meta.json
    return keypoint_settings(
        settings["n_joints"],
        settings["dims"],
        root_joint=settings["root_joint"],
        up_axis=settings["up_axis"],
        heading_joints=settings["heading_joints"],
        forward_axis=settings["forward_axis"],
    )


def _yaw(kp: np.ndarray, settings: dict) -> np.ndarray:
    """Unwrapped heading (T,) from the left->right joint pair; zeros without a pair.

    The forward direction is up x (right - left) (a character facing +z with y up has its left
    side at +x). Frames where the pair is (nearly) parallel to up have no heading and are
    interpolated from their neighbours.
    """
    if settings["heading_joints"] is None:
        return np.zeros(len(kp))
    up, fwd, _ = _frame_axes(settings)
    left, right = settings["heading_joints"]
    f = np.cross(up, kp[:, right] - kp[:, left])
    n = np.linalg.norm(f, axis=-1)
    ok = n > 1e-6 * max(float(np.linalg.norm(kp[:, right] - kp[:, left], axis=-1).max()), 1e-12)
    if not ok.any():
        raise MotionlabError(
            f"keypoint features heading_joints {settings['heading_joints']}: the pair is vertical or coincident in every frame; "
            "expected a left/right pair spanning the horizontal plane (e.g. the hips)"
        )
    t = np.arange(len(kp))
    return np.interp(t, t[ok], heading_yaw(f[ok], up, fwd))


def keypoints_start_state(kp, settings: dict) -> tuple[np.ndarray, float]:
    """Root position and heading (radians) of frame 0: the ``start_position`` / ``start_heading``
    with which ``decode_keypoints`` reproduces ``kp`` itself (e.g. to draw the ground truth)."""
    settings = _check_settings(settings)
    kp = _check_kp(kp, "keypoints")
    if kp.shape[1:] != (settings["n_joints"], settings["dims"]):
        raise MotionlabError(f"keypoints_start_state: expected keypoints (frames, {settings['n_joints']}, {settings['dims']}), found {kp.shape}")
    return kp[0, settings["root_joint"]].copy(), float(_yaw(kp, settings)[0])


def encode_keypoints(
    kp,
    *,
    root_joint: int = 0,
    up_axis: str = "y",
    heading_joints: tuple[int, int] | None = None,
    forward_axis: str | None = None,
) -> tuple[np.ndarray, list[str], dict]:
    """World keypoints (T, J, 3) or image keypoints (T, J, 2) -> (features (T, F) float32, columns, settings).

    3-D: per frame, the root's step to the next frame in the heading frame (``root_d<side>``,
    ``root_d<forward>``), the heading change ``root_dyaw`` (radians per frame), the root height
    ``root_<up>``, and every other joint relative to the root rotated into the heading frame.
    The heading comes from ``heading_joints`` = (left, right), e.g. the hips; without a pair the
    heading is held fixed (no ``root_dyaw`` column, steps and joints stay in world axes).
    2-D (image coordinates, no up or heading): ``root_dx``, ``root_dy`` per frame and joints
    relative to the root. Steps are per frame; the last frame repeats the previous step (decoding
    never reads it).
    """
    kp = _check_kp(kp, "encode_keypoints")
    T, J, D = kp.shape
    s = keypoint_settings(J, D, root_joint=root_joint, up_axis=up_axis, heading_joints=heading_joints, forward_axis=forward_axis)
    root = kp[:, s["root_joint"]]
    others = [j for j in range(J) if j != s["root_joint"]]
    rel = kp[:, others] - root[:, None]
    step = np.zeros((T, D))
    step[:-1] = np.diff(root, axis=0)
    if T > 1:
        step[-1] = step[-2]
    if D == 2:
        cols = [step, rel.reshape(T, -1)]
    else:
        up, fwd, side = _frame_axes(s)
        yaw = _yaw(kp, s)
        inv = yaw_quat(-yaw, up)
        local_step = quat_apply(inv, step)
        cols = [local_step @ side[:, None], local_step @ fwd[:, None]]
        if s["heading_joints"] is not None:
            dyaw = np.zeros(T)
            dyaw[:-1] = np.diff(yaw)
            if T > 1:
                dyaw[-1] = dyaw[-2]
            cols.append(dyaw[:, None])
        cols.append(root[:, _AXIS_INDEX[s["up_axis"]], None])
        cols.append(quat_apply(inv[:, None], rel).reshape(T, -1))
    return np.concatenate(cols, axis=1).astype(np.float32), keypoint_feature_columns(s), s


def decode_keypoints(features, settings: dict, start_position=None, start_heading: float = 0.0) -> np.ndarray:
    """Features of ``encode_keypoints`` -> (T, J, D) positions, float64.

    The root is integrated from ``start_position`` (default the origin; for 3-D only its horizontal
    part is used, the height comes from the features) and ``start_heading`` (radians about up;
    ignored for 2-D). ``keypoints_start_state`` gives the values that reproduce a source take.
    """
    s = _check_settings(settings)
    f = np.asarray(features, dtype=np.float64)
    J, D, r = s["n_joints"], s["dims"], s["root_joint"]
    n_cols = len(keypoint_feature_columns(s))
    if f.ndim != 2 or f.shape[1] != n_cols:
        raise MotionlabError(f"decode_keypoints: expected features of shape (frames, {n_cols}) for {J} joints x {D}, found {f.shape}")
    if not np.isfinite(f).all():
        raise MotionlabError("decode_keypoints: features contain NaN/inf")
    T = len(f)
    start = np.zeros(D) if start_position is None else np.asarray(start_position, dtype=np.float64).reshape(-1)
    if start.shape != (D,):
        raise MotionlabError(f"decode_keypoints start_position: expected {D} coordinates, found {start.shape[0]}")
    others = [j for j in range(J) if j != r]
    out = np.empty((T, J, D))
    if D == 2:
        root = start + np.concatenate([np.zeros((1, 2)), np.cumsum(f[:-1, :2], axis=0)])
        rel = f[:, 2:].reshape(T, -1, 2)
    else:
        up, fwd, side = _frame_axes(s)
        has_yaw = s["heading_joints"] is not None
        yaw = np.full(T, float(start_heading))
        if has_yaw:
            yaw[1:] += np.cumsum(f[:-1, 2])
        q = yaw_quat(yaw, up)
        i = 3 if has_yaw else 2
        step = quat_apply(q, f[:, :1] * side + f[:, 1:2] * fwd)
        root = start + np.concatenate([np.zeros((1, 3)), np.cumsum(step[:-1], axis=0)])
        root[:, _AXIS_INDEX[s["up_axis"]]] = f[:, i]
        rel = quat_apply(q[:, None], f[:, i + 1 :].reshape(T, -1, 3))
    out[:, r] = root
    out[:, others] = root[:, None] + rel
    return out


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


# ---------------------------------------------------------------- SDT face/hands hierarchy

#: SDT's 137-point layout: (anchor, first, last) — face points relative to the nose tip (face 30),
#: left/right hand points relative to the body's left (7) / right (4) wrist. The anchors stay as they are.
SDT_HIERARCHY = ((25 + 30, 25, 94), (7, 95, 115), (4, 116, 136))


def _hierarchy_groups(kp: np.ndarray, groups) -> list[tuple[int, np.ndarray]]:
    if kp.ndim != 3:
        raise MotionlabError(f"face/hands hierarchy: expected keypoints (T, J, D), got shape {kp.shape}")
    need = max(max(a, last) for a, _, last in groups) + 1
    if kp.shape[1] < need:
        raise MotionlabError(f"face/hands hierarchy: needs {need} points (SDT: 137 = BODY_25, face 70, hands 2 x 21), got {kp.shape[1]}")
    out = []
    for anchor, first, last in groups:
        members = np.array([j for j in range(first, last + 1) if j != anchor])
        out.append((anchor, members))
    return out


def hierarchy_forward(kp, groups=SDT_HIERARCHY) -> np.ndarray:
    """Face points relative to the nose tip, hand points relative to their wrist (SDT's importer):
    small face/hand motions are not drowned by the body's (T, J, D) -> same shape."""
    kp = np.array(kp, dtype=np.float64)
    for anchor, members in _hierarchy_groups(kp, groups):
        kp[:, members] -= kp[:, anchor : anchor + 1]
    return kp


def hierarchy_inverse(kp, groups=SDT_HIERARCHY) -> np.ndarray:
    """Undo :func:`hierarchy_forward` (anchors are never moved, so the order of groups does not matter)."""
    kp = np.array(kp, dtype=np.float64)
    for anchor, members in _hierarchy_groups(kp, groups):
        kp[:, members] += kp[:, anchor : anchor + 1]
    return kp
