"""Operations on a BVH :class:`~motionlab.feature_extraction.bvh.Motion` that keep it a Motion.

Resampling to a target fps, left/right mirroring (data augmentation), and the skeleton's height
(the scale that tolerances and renderers need). The feature encoding itself is
:class:`~motionlab.feature_extraction.motion.MotionPipeline`.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from motionlab.feature_extraction.bvh import Motion, Skeleton
from motionlab.feature_extraction.rotations import AXES, axis_vector
from motionlab.utils.errors import MotionlabError


def skeleton_height(skeleton: Skeleton, up_axis: str = "y") -> float:
    """Extent of the rest pose (joints and end sites) along the up axis: the scale for tolerances."""
    rest = skeleton.rest_positions()
    ends = [rest[j] + v for j, v in skeleton.end_sites.items()]
    pts = np.concatenate([rest, np.array(ends).reshape(-1, 3)])
    k = int(np.argmax(axis_vector(up_axis, "skeleton_height up_axis")))
    return float(pts[:, k].max() - pts[:, k].min())


# ----------------------------------------------------------------------------- resampling


def resample(motion: Motion, fps: float | None) -> Motion:
    """Motion at ``fps``: a frame stride when the ratio is an integer, else Slerp / linear interpolation.

    Strided frames keep the file's exact channel values; interpolation re-derives Euler angles.
    """
    if fps is None:
        return motion
    fps = float(fps)
    if not fps > 0:
        raise MotionlabError(f"target fps must be > 0, found {fps}")
    ratio = motion.fps / fps
    if abs(ratio - 1.0) < 1e-4:
        return motion
    if ratio > 1 and abs(ratio - round(ratio)) < 1e-3:
        return Motion(motion.skeleton, motion.values[:: int(round(ratio))].copy(), 1.0 / fps)
    if motion.n_frames < 2:
        return Motion(motion.skeleton, motion.values.copy(), 1.0 / fps)
    src_t = np.arange(motion.n_frames) * motion.frame_time
    new_t = np.arange(0.0, src_t[-1] + 1e-9, 1.0 / fps)
    q = motion.local_quats()
    out_q = np.empty((len(new_t),) + q.shape[1:])
    for j in range(q.shape[1]):
        out_q[:, j] = Slerp(src_t, Rotation.from_quat(q[:, j]))(new_t).as_quat()
    tr = motion.translations()
    out_t = np.empty((len(new_t),) + tr.shape[1:])
    for j in range(tr.shape[1]):
        for k in range(3):
            out_t[:, j, k] = np.interp(new_t, src_t, tr[:, j, k])
    return motion.with_rotations(out_q, translations=out_t, frame_time=1.0 / fps)


# ----------------------------------------------------------------------------- mirroring

_WORD_SWAP = {"Left": "Right", "Right": "Left", "left": "right", "right": "left", "LEFT": "RIGHT", "RIGHT": "LEFT"}
_LR = {"L": "R", "R": "L", "l": "r", "r": "l"}
_MIRROR_RULES: list[tuple[re.Pattern, Callable]] = [
    # LeftUpLeg, mixamorig:LeftHand, left_hand, Hand_Left ...
    (re.compile(r"Left|Right|left|right|LEFT|RIGHT"), lambda m: _WORD_SWAP[m.group(0)]),
    # CMU LHipJoint, L_Hip, mixamorig:LHand (an uppercase L/R prefix followed by uppercase or '_')
    (re.compile(r"^((?:[^:]*:)?)([LR])(?=[A-Z_.\-])"), lambda m: m.group(1) + _LR[m.group(2)]),
    # l_hip, r.hand
    (re.compile(r"^((?:[^:]*:)?)([lr])(?=[_.\-])"), lambda m: m.group(1) + _LR[m.group(2)]),
    # Hip_L, hand.l, Arm-R
    (re.compile(r"([_.\-])([LRlr])$"), lambda m: m.group(1) + _LR[m.group(2)]),
    # Arm_L_01
    (re.compile(r"([_.\-])([LRlr])(?=[_.\-])"), lambda m: m.group(1) + _LR[m.group(2)]),
]


def joint_side(name: str) -> str | None:
    """"left", "right" or None (centre) from a joint name, by the same conventions as mirroring
    (LeftArm, left_hand, LHipJoint, L_Hip, l.hand, Hip_L, Arm_R_01)."""
    for pattern, _ in _MIRROR_RULES:
        m = pattern.search(name)
        if m:
            return "left" if m.group(m.lastindex or 0)[0] in "lL" else "right"
    return None


def mirror_pairs(names: Sequence[str], name_map: dict[str, str] | None = None) -> np.ndarray:
    """Index of each joint's left/right counterpart (itself for centre joints).

    Recognises Left/Right words (also ``mixamorig:Left...``, ``left_``), CMU-style ``L``/``R``
    prefixes (``LHipJoint``), and ``_L``/``.R`` suffixes. ``name_map`` (name -> counterpart) wins
    over the rules; it is made symmetric.
    """
    names = list(names)
    where = {n: i for i, n in enumerate(names)}
    perm = np.arange(len(names))
    explicit: dict[str, str] = {}
    for a, b in (name_map or {}).items():
        for n in (a, b):
            if n not in where:
                raise MotionlabError(f"mirror name map: no joint named {n!r} in the skeleton")
        explicit[a], explicit[b] = b, a
    for i, n in enumerate(names):
        if n in explicit:
            perm[i] = where[explicit[n]]
            continue
        for pattern, repl in _MIRROR_RULES:
            cand = pattern.sub(repl, n)
            if cand != n and cand in where:
                perm[i] = where[cand]
                break
    bad = [names[i] for i in range(len(names)) if perm[perm[i]] != i]
    if bad:
        raise MotionlabError(
            f"mirror: left/right pairing is not one-to-one for joints {bad}; pass an explicit name_map"
        )
    return perm


def mirror(motion: Motion, name_map: dict[str, str] | None = None, axis: str = "x") -> Motion:
    """Reflect a motion across the plane normal to ``axis`` and swap left/right joints.

    A reflection M maps a rotation R to M R M: for the quaternion the component along ``axis`` is
    kept and the other two vector components are negated. Translations (root, position channels)
    are reflected. Mirroring twice is the identity; the mirrored pose is the exact reflection when
    the skeleton's rest pose is itself symmetric.
    """
    if axis not in AXES:
        raise MotionlabError(f"mirror axis must be one of x, y, z, found {axis!r}")
    perm = mirror_pairs(motion.skeleton.names, name_map)
    k = AXES[axis]
    qsign = -np.ones(4)
    qsign[k] = qsign[3] = 1.0
    tsign = np.ones(3)
    tsign[k] = -1.0
    q = motion.local_quats()[:, perm] * qsign
    t = motion.translations()[:, perm] * tsign
    return motion.with_rotations(q, translations=t)
