"""Rotation helpers shared by the BVH parser, the motion pipeline and the keypoint features.

Quaternions are scipy's scalar-last ``(x, y, z, w)``. One-dimensional batches go through
``scipy.spatial.transform.Rotation``; the three ``quat_*`` helpers are plain numpy on ``(..., 4)``
arrays because forward kinematics works on (frames, joints) batches, which ``Rotation`` only
accepts from scipy 1.17 on (setup.py allows 1.10), and because numpy broadcasts them for free.

The heading ("yaw") helpers define the character frame used by both BVH and keypoint features:
``up`` is a world axis, ``fwd`` the rest facing direction, and a positive yaw turns ``fwd``
towards ``side = up x fwd``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from motionlab.utils.errors import MotionlabError

AXES = {"x": 0, "y": 1, "z": 2}
ROTATION_COMPONENTS = {
    "expmap": ("expmap_x", "expmap_y", "expmap_z"),
    "rot6d": tuple(f"rot6d_{k}" for k in range(6)),
    "quat": ("quat_x", "quat_y", "quat_z", "quat_w"),
}
_IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])


# ----------------------------------------------------------------------------- quaternion algebra


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a*b (apply b first, then a), broadcasting over leading axes."""
    ax, ay, az, aw = np.moveaxis(a, -1, 0)
    bx, by, bz, bw = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        axis=-1,
    )


def quat_conj(q: np.ndarray) -> np.ndarray:
    """Inverse of a unit quaternion."""
    return q * np.array([-1.0, -1.0, -1.0, 1.0])


def quat_apply(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4)."""
    u = q[..., :3]
    w = q[..., 3:4]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


# ----------------------------------------------------------------------------- encodings


def encode_rotation(q: np.ndarray, rep: str) -> np.ndarray:
    """(T, 4) quaternions -> (T, d) features in ``rep`` (one of ``ROTATION_COMPONENTS``)."""
    if rep == "expmap":
        return Rotation.from_quat(q).as_rotvec()
    if rep == "rot6d":
        m = Rotation.from_quat(q).as_matrix()
        return np.concatenate([m[:, :, 0], m[:, :, 1]], axis=-1)  # first two columns (Zhou et al. 2019)
    if rep == "quat":
        q = np.array(q, dtype=np.float64)
        if len(q):
            if q[0, 3] < 0:
                q[0] *= -1.0
            # flip signs so consecutive quaternions stay on one hemisphere (smooth features)
            dots = np.einsum("ij,ij->i", q[1:], q[:-1])
            flips = np.cumprod(np.where(dots < 0, -1.0, 1.0))
            q[1:] *= flips[:, None]
        return q
    raise MotionlabError(f"rotation encoding: expected one of {', '.join(ROTATION_COMPONENTS)}, found {rep!r}")


def decode_rotation(f: np.ndarray, rep: str) -> np.ndarray:
    """(T, d) features -> (T, 4) unit quaternions; degenerate inputs (zero vectors) become identity,
    since a generated feature can be anything and must still decode."""
    f = np.asarray(f, dtype=np.float64)
    if rep == "expmap":
        return Rotation.from_rotvec(f).as_quat()
    if rep == "quat":
        n = np.linalg.norm(f, axis=-1, keepdims=True)
        return np.where(n > 1e-8, f / np.maximum(n, 1e-12), _IDENTITY)
    if rep == "rot6d":
        a1, a2 = f[:, :3], f[:, 3:6]
        n1 = np.linalg.norm(a1, axis=-1, keepdims=True)
        b1 = a1 / np.maximum(n1, 1e-12)
        a2 = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
        n2 = np.linalg.norm(a2, axis=-1, keepdims=True)
        b2 = a2 / np.maximum(n2, 1e-12)
        b3 = np.cross(b1, b2)
        ok = (n1[:, 0] > 1e-8) & (n2[:, 0] > 1e-8)
        m = np.stack([b1, b2, b3], axis=-1)
        m[~ok] = np.eye(3)
        return Rotation.from_matrix(m).as_quat()
    raise MotionlabError(f"rotation encoding: expected one of {', '.join(ROTATION_COMPONENTS)}, found {rep!r}")


def kabsch(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Batched rotation R minimising sum_k w_k |R a_k - b_k|^2.  a, b: (T, K, 3); w: (T, K) -> (T, 4).

    (``Rotation.align_vectors`` solves one frame at a time; this solves all frames in one SVD.)
    """
    h = np.einsum("tk,tki,tkj->tij", w, b, a)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))
    d[d == 0] = 1.0
    u[:, :, 2] *= d[:, None]
    return Rotation.from_matrix(u @ vt).as_quat()


# ----------------------------------------------------------------------------- heading (yaw)


def axis_vector(axis: str, what: str = "axis") -> np.ndarray:
    """Unit vector of a world axis name ``x``/``y``/``z``."""
    if axis not in AXES:
        raise MotionlabError(f"{what}: expected one of x, y, z, found {axis!r}")
    v = np.zeros(3)
    v[AXES[axis]] = 1.0
    return v


def default_forward_axis(up_axis: str) -> str:
    """Rest facing direction when none is given: z (y when z is up)."""
    return "z" if up_axis != "z" else "y"


def heading_yaw(directions: np.ndarray, up: np.ndarray, fwd: np.ndarray) -> np.ndarray:
    """Unwrapped yaw (T,) of direction vectors (T, 3) about ``up``, 0 along ``fwd``.

    Unwrapping keeps the yaw continuous, so its frame differences are true angular velocities.
    """
    side = np.cross(up, fwd)
    return np.unwrap(np.arctan2(directions @ side, directions @ fwd))


def yaw_quat(yaw: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) of rotations by ``yaw`` radians about the unit vector ``up``."""
    yaw = np.asarray(yaw, dtype=np.float64)[..., None]
    return np.concatenate([np.sin(yaw / 2) * up, np.cos(yaw / 2)], axis=-1)
