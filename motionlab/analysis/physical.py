"""Physical plausibility: EDGE's physical foot contact score (PFC) for 3-D skeletons with named feet.

PFC (Tseng, Castellon & Liu, "EDGE: Editable Dance Generation from Music", CVPR 2023, Sec. 5 and
``eval/eval_pfc.py``): when the centre of mass accelerates (other than falling), at least one foot
must be planted, i.e. not sliding. Per frame t (positions in metres, time in s):

* ``a_t`` = root acceleration ``(p[t+1] - 2 p[t] + p[t-1]) · fps²``, its up component clipped at 0
  (downward acceleration — falling — needs no contact), then ``â_t = ||a_t|| / max_t' ||a_t'||``:
  normalised by the sequence's own maximum, dimensionless in [0, 1];
* ``v^L_t``, ``v^R_t`` = horizontal speed (up axis removed) of each foot from frame t to t+1, m/s,
  the minimum over the foot's joints (ankle, toe: a foot rolling on its toe is still planted);
* ``PFC = mean_t â_t · v^L_t · v^R_t`` in m²/s² — lower is better (0: a foot stays planted whenever
  the root accelerates).

EDGE prints ``10⁴ · mean(â · d^L · d^R)`` with per-frame displacements ``d = v / fps`` at 30 fps:
multiply this module's value by ``10⁴ / 30²`` (:data:`EDGE_REPORT_FACTOR`) to compare with the
numbers in the EDGE paper. EDGE averages per-sequence scores; :class:`FootContact` does the same.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np
import torch
from torchmetrics import Metric

from motionlab.utils.errors import MotionlabError

__all__ = ["foot_joints", "pfc", "FootContact", "EDGE_REPORT_FACTOR", "LEFT_FOOT_NAMES", "RIGHT_FOOT_NAMES"]

EDGE_REPORT_FACTOR = 1e4 / 30 ** 2  # this module's m²/s² -> EDGE's printed number for 30-fps motion

# Normalised names (lower case, no namespace such as ``mixamorig:``, no ``_ -.`` or spaces) of the joints
# that make up a foot: ankle / foot and toe joints of BVH rigs (CMU, Mixamo, ZEGGS, BEAT, 3ds Max biped) and SMPL.
_FOOT_PARTS = ("foot", "ankle", "toebase", "toe", "toes", "ball")
LEFT_FOOT_NAMES = tuple(f"{side}{part}" for side in ("left", "l") for part in _FOOT_PARTS)
RIGHT_FOOT_NAMES = tuple(f"{side}{part}" for side in ("right", "r") for part in _FOOT_PARTS)
_PREFIXES = ("bip001", "bip01")  # 3ds Max biped: "Bip01 L Foot"


def _normalise(name: str) -> str:
    n = re.sub(r"[\s_\-.]", "", name.split(":")[-1].split("|")[-1].lower())
    for prefix in _PREFIXES:
        if n.startswith(prefix):
            n = n[len(prefix):]
    return n


def foot_joints(names: Sequence[str]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(left, right)``: the indices of each foot's joints (ankle/foot and toe) found by name.

    Matching ignores case, a namespace (``mixamorig:LeftFoot``), ``_``/``-``/``.``/spaces and a
    ``Bip01`` prefix; end sites (``LeftToeBaseEnd``, ``LeftToe_End``) are not matched. Recognised:
    ``LeftFoot``, ``LeftAnkle``, ``LeftToeBase``, ``LeftToe``, ``LeftToes``, ``LeftBall``, ``l_foot``,
    ``left_ankle``, ``L Toe`` ... and the same with Right / r. Raises MotionlabError when either foot has
    no joint, naming what was looked for and the skeleton's joint names.
    """
    names = list(names)
    norm = [_normalise(n) for n in names]
    left = tuple(i for i, n in enumerate(norm) if n in LEFT_FOOT_NAMES)
    right = tuple(i for i, n in enumerate(norm) if n in RIGHT_FOOT_NAMES)
    missing = [side for side, found in (("left", left), ("right", right)) if not found]
    if missing:
        raise MotionlabError(
            f"foot_joints: no {' or '.join(missing)} foot joint found by name; looked for (case-insensitive, "
            f"ignoring '_', '-', spaces and a 'namespace:' prefix) {list(LEFT_FOOT_NAMES)} / {list(RIGHT_FOOT_NAMES)}; "
            f"the skeleton has {len(names)} joints: {names}. Pass the foot joint indices yourself (feet=(left, right))."
        )
    return left, right


def _axis(up_axis) -> int:
    axes = {"x": 0, "y": 1, "z": 2}
    if isinstance(up_axis, str) and up_axis.lower() in axes:
        return axes[up_axis.lower()]
    if isinstance(up_axis, (int, np.integer)) and not isinstance(up_axis, bool) and 0 <= up_axis <= 2:
        return int(up_axis)
    raise MotionlabError(f"pfc: up_axis must be 'x', 'y', 'z' or 0, 1, 2, got {up_axis!r}")


def _feet(feet, n_joints: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        left, right = feet
        left, right = np.atleast_1d(np.asarray(left, dtype=int)), np.atleast_1d(np.asarray(right, dtype=int))
    except (TypeError, ValueError):
        raise MotionlabError(f"pfc: feet must be (left joint indices, right joint indices), got {feet!r}") from None
    for side, idx in (("left", left), ("right", right)):
        if idx.size == 0 or idx.min() < 0 or idx.max() >= n_joints:
            raise MotionlabError(f"pfc: {side} foot indices must be non-empty and within 0..{n_joints - 1}, got {idx.tolist()}")
    return left, right


def pfc(positions, fps: float, feet, up_axis, *, root: int = 0, metres_per_unit: float = 1.0) -> float:
    """EDGE's physical foot contact score of one sequence, m²/s² (lower is better); see the module doc.

    ``positions`` (T, J, 3) world positions (T >= 3); ``feet`` = (left indices, right indices), e.g.
    from :func:`foot_joints`; ``up_axis`` 'x'/'y'/'z' or 0/1/2; ``root`` the joint standing in for
    the centre of mass (EDGE: the pelvis, joint 0); ``metres_per_unit`` converts the positions'
    units (0.01 for cm). A sequence whose root never accelerates scores 0.
    """
    p = np.asarray(positions.detach().cpu() if isinstance(positions, torch.Tensor) else positions, dtype=np.float64)
    if p.ndim != 3 or p.shape[-1] != 3:
        raise MotionlabError(f"pfc: expected 3-D positions (T, J, 3), got shape {p.shape}")
    if p.shape[0] < 3:
        raise MotionlabError(f"pfc: need at least 3 frames for an acceleration, got {p.shape[0]}")
    if not np.isfinite(p).all():
        raise MotionlabError("pfc: positions contain NaN/inf")
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise MotionlabError(f"pfc: fps must be a finite number > 0, got {fps!r}")
    if not (math.isfinite(metres_per_unit) and metres_per_unit > 0):
        raise MotionlabError(f"pfc: metres_per_unit must be > 0, got {metres_per_unit}")
    if not -p.shape[1] <= root < p.shape[1]:
        raise MotionlabError(f"pfc: root must index one of the {p.shape[1]} joints, got {root}")
    up = _axis(up_axis)
    left, right = _feet(feet, p.shape[1])
    p = p * metres_per_unit
    r = p[:, root]
    acc = (r[2:] - 2 * r[1:-1] + r[:-2]) * fps ** 2  # centred on frames 1..T-2
    acc[:, up] = np.maximum(acc[:, up], 0.0)
    acc = np.linalg.norm(acc, axis=-1)
    peak = acc.max()
    if peak <= 0:
        return 0.0
    flat = [a for a in range(3) if a != up]
    step = p[2:, :, flat] - p[1:-1, :, flat]  # from frame t to t+1 for t = 1..T-2, as in EDGE's code
    speed = np.linalg.norm(step, axis=-1) * fps
    v_left, v_right = speed[:, left].min(axis=1), speed[:, right].min(axis=1)
    return float(np.mean(acc / peak * v_left * v_right))


class FootContact(Metric):
    """PFC (:func:`pfc`) averaged over sequences, m²/s², lower is better.

    ``update(positions)`` adds one sequence (T, J, 3) or a batch (B, T, J, 3) of equal-length
    sequences, each scored on its own (the acceleration normalisation is per sequence, as in EDGE).
    States: sum of scores and number of sequences, summed across DDP ranks.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, fps: float, feet, up_axis, *, root: int = 0, metres_per_unit: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.fps, self.feet, self.up_axis, self.root, self.metres_per_unit = fps, feet, up_axis, root, metres_per_unit
        _axis(up_axis)
        self.add_state("total", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("sequences", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, positions) -> None:
        p = positions.detach().cpu().numpy() if isinstance(positions, torch.Tensor) else np.asarray(positions, dtype=np.float64)
        if p.ndim == 3:
            p = p[None]
        if p.ndim != 4:
            raise MotionlabError(f"FootContact.update: expected positions (T, J, 3) or (B, T, J, 3), got shape {p.shape}")
        for seq in p:
            self.total += pfc(seq, self.fps, self.feet, self.up_axis, root=self.root, metres_per_unit=self.metres_per_unit)
            self.sequences += 1

    def compute(self) -> torch.Tensor:
        if float(self.sequences) < 1:
            raise MotionlabError("FootContact: compute() needs at least one sequence from update(), got none")
        return self.total / self.sequences
