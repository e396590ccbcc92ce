"""Motion features from BVH, each invertible back to a BVH of the original skeleton.

``MotionPipeline`` turns a :class:`~motionlab.feature_extraction.bvh.Motion` into a float32 matrix
(frames x features) and back. The root is encoded like Transflower's ``expmap_cr``: horizontal
velocity in the character's own heading frame, heading (yaw) velocity, absolute height and the root
rotation relative to the heading, so a generated motion can be integrated from any start position
and heading. Joints are encoded as local rotations (``expmap``, ``rot6d``, ``quat``) or as positions
relative to the root in the heading frame (``positions``; the BVH inverse then solves rotations by
aligning bones to the target positions).

Everything fitted (constant columns, mean rotations of dropped joints, the skeleton itself) is
saved as JSON + ``.npz`` (no pickle), so generation can write a BVH without the source files.
Rotation maths lives in :mod:`.rotations`; resampling and mirroring a Motion in :mod:`.motion_ops`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
from scipy.spatial.transform import Rotation

from motionlab.datafolder import fps_tag
from motionlab.feature_extraction.bvh import Motion, Skeleton
from motionlab.feature_extraction.motion_ops import resample
from motionlab.feature_extraction.rotations import (
    AXES,
    ROTATION_COMPONENTS,
    axis_vector,
    decode_rotation,
    default_forward_axis,
    encode_rotation,
    heading_yaw,
    kabsch,
    quat_apply,
    quat_conj,
    quat_mul,
    yaw_quat,
)
from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import read_json, save_npz, write_json

REPRESENTATIONS = ("expmap", "rot6d", "quat", "positions")
_COMPONENTS = {**ROTATION_COMPONENTS, "positions": ("pos_x", "pos_y", "pos_z")}
_FORMAT = "motionlab.MotionPipeline"
_VERSION = 1


# ----------------------------------------------------------------------------- the pipeline


@dataclass
class MotionPipeline:
    """Settings + fitted state of the BVH feature pipeline.

    representation: joint encoding, one of ``expmap``, ``rot6d``, ``quat``, ``positions``.
    fps: target frame rate (None keeps the source rate; all fitted motions must then share it).
    joints: names of the joints to keep (root always kept); dropped joints get their mean rotation.
    up_axis / forward_axis: world up and the character's rest facing direction (heading reference).
    constant_threshold: columns with std below this over the fitted data are removed and restored
    from their mean in the inverse.
    """

    representation: str = "expmap"
    fps: float | None = None
    joints: list[str] | None = None
    up_axis: str = "y"
    forward_axis: str | None = None
    constant_threshold: float = 1e-6

    # fitted state
    skeleton: Skeleton | None = field(default=None, init=False, repr=False)
    frame_time: float | None = field(default=None, init=False, repr=False)
    all_columns: list[str] | None = field(default=None, init=False, repr=False)
    keep: np.ndarray | None = field(default=None, init=False, repr=False)
    const_values: np.ndarray | None = field(default=None, init=False, repr=False)
    mean_quats: np.ndarray | None = field(default=None, init=False, repr=False)
    mean_translations: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        if self.representation not in REPRESENTATIONS:
            raise MotionlabError(
                f"motion representation must be one of {', '.join(REPRESENTATIONS)}, found {self.representation!r}"
            )
        if self.up_axis not in AXES:
            raise MotionlabError(f"up_axis must be one of x, y, z, found {self.up_axis!r}")
        if self.forward_axis is None:
            self.forward_axis = default_forward_axis(self.up_axis)
        if self.forward_axis not in AXES or self.forward_axis == self.up_axis:
            raise MotionlabError(
                f"forward_axis must be x, y or z and differ from up_axis {self.up_axis!r}, found {self.forward_axis!r}"
            )
        if self.fps is not None:
            self.fps = float(self.fps)
            if not self.fps > 0:
                raise MotionlabError(f"fps must be > 0, found {self.fps}")
        if self.joints is not None:
            self.joints = list(self.joints)

    # -- geometry of the heading frame
    @property
    def _up(self) -> np.ndarray:
        return axis_vector(self.up_axis)

    @property
    def _fwd(self) -> np.ndarray:
        return axis_vector(self.forward_axis)

    @property
    def _side(self) -> np.ndarray:
        # rotating fwd by +yaw about up moves it towards up x fwd
        return np.cross(self._up, self._fwd)

    @property
    def _side_axis(self) -> str:
        return "xyz"[int(np.argmax(np.abs(self._side)))]

    @property
    def _root_rep(self) -> str:
        return "rot6d" if self.representation == "positions" else self.representation

    # -- status
    @property
    def fitted(self) -> bool:
        return self.skeleton is not None

    def _check_fitted(self):
        if not self.fitted:
            raise MotionlabError("motion pipeline is not fitted: call fit(motions) or load a saved pipeline")

    @property
    def target_fps(self) -> float:
        self._check_fitted()
        return 1.0 / self.frame_time

    @property
    def columns(self) -> list[str]:
        """Names of the output feature columns (after constant removal)."""
        self._check_fitted()
        return [c for c, k in zip(self.all_columns, self.keep) if k]

    def feature_name(self) -> str:
        """E.g. ``bvh_expmap_cr_20fps`` (``_<n>joints`` appended for a joint subset)."""
        fps = self.fps if self.fps is not None else (self.target_fps if self.fitted else None)
        name = f"bvh_{self.representation}_cr"
        if fps is not None:
            name += f"_{fps_tag(fps)}"
        if self.joints is not None:
            name += f"_{len(self._kept_joints()) if self.fitted else len(self.joints)}joints"
        return name

    # -- layout
    def _kept_joints(self) -> list[int]:
        sk = self.skeleton
        if self.joints is None:
            return list(range(sk.n_joints))
        missing = [n for n in self.joints if n not in sk.names]
        if missing:
            raise MotionlabError(f"pipeline joints {missing} are not in the skeleton (joints: {', '.join(sk.names)})")
        wanted = set(self.joints) | {sk.names[0]}
        return [j for j, n in enumerate(sk.names) if n in wanted]

    def _layout(self) -> list[tuple[str, int, list[str]]]:
        """Blocks of the full feature vector: (kind, joint, column names)."""
        sk = self.skeleton
        rep = self.representation
        blocks = [
            ("root_vel", 0, [f"root_vel_{self._side_axis}", f"root_vel_{self.forward_axis}"]),
            ("root_yaw_vel", 0, ["root_yaw_vel"]),
            ("root_height", 0, [f"root_pos_{self.up_axis}"]),
        ]
        if sk.rotation_order(0):
            blocks.append(("root_rot", 0, [f"root_rot_{c}" for c in _COMPONENTS[self._root_rep]]))
        for j in self._kept_joints():
            if j == 0:
                continue
            name = sk.names[j]
            if rep == "positions":
                blocks.append(("pos", j, [f"{name}_{c}" for c in _COMPONENTS[rep]]))
            else:
                if sk.rotation_order(j):
                    blocks.append(("rot", j, [f"{name}_{c}" for c in _COMPONENTS[rep]]))
                chans = [c for c in sk.channels[j] if c.endswith("position")]
                if chans:
                    blocks.append(("trans", j, [f"{name}_{c}" for c in chans]))
        return blocks

    # -- forward
    def resample(self, motion: Motion) -> Motion:
        """The motion at the pipeline's target fps (what transform encodes and inverse reproduces)."""
        if self.fitted:
            return resample(motion, self.target_fps)
        return resample(motion, self.fps)

    def _root_state(self, motion: Motion) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Root world position (T, 3), unwrapped heading yaw (T,), root quaternion (T, 4)."""
        q0 = motion.local_quats()[:, 0]
        pos = motion.translations()[:, 0]
        f = quat_apply(q0, np.broadcast_to(self._fwd, q0[:, :3].shape))
        yaw = heading_yaw(f, self._up, self._fwd)
        return pos, yaw, q0

    def start_state(self, motion: Motion) -> tuple[np.ndarray, float]:
        """Root position (3,) and heading (rad) of the first resampled frame: inverse's start point."""
        pos, yaw, _ = self._root_state(self.resample(motion).slice(0, 1))
        return pos[0], float(yaw[0])

    def _full_features(self, m: Motion) -> np.ndarray:
        """(T, D_full) float64 features of a motion already at the target fps."""
        T = m.n_frames
        fps = 1.0 / self.frame_time
        pos, yaw, q_root = self._root_state(m)
        q_yaw = yaw_quat(yaw, self._up)
        lq = m.local_quats()
        tr = m.translations()
        gp = m.positions() if self.representation == "positions" else None
        cols = []
        for kind, j, names in self._layout():
            if kind == "root_vel":
                v = np.zeros((T, 2))
                if T > 1:
                    d = quat_apply(quat_conj(q_yaw[:-1]), pos[1:] - pos[:-1]) * fps
                    v[:-1] = np.stack([d @ self._side, d @ self._fwd], axis=-1)
                    v[-1] = v[-2]
                cols.append(v)
            elif kind == "root_yaw_vel":
                w = np.zeros((T, 1))
                if T > 1:
                    w[:-1, 0] = np.diff(yaw) * fps
                    w[-1] = w[-2]
                cols.append(w)
            elif kind == "root_height":
                cols.append(pos[:, AXES[self.up_axis], None])
            elif kind == "root_rot":
                cols.append(encode_rotation(quat_mul(quat_conj(q_yaw), q_root), self._root_rep))
            elif kind == "rot":
                cols.append(encode_rotation(lq[:, j], self.representation))
            elif kind == "trans":
                sk = self.skeleton
                cols.append(np.stack([tr[:, j, axis] for _, axis in sk.position_columns(j)], axis=-1))
            elif kind == "pos":
                cols.append(quat_apply(quat_conj(q_yaw), gp[:, j] - pos))
        return np.concatenate(cols, axis=-1) if cols else np.zeros((T, 0))

    def _check_motion(self, motion: Motion, what: str = "motion"):
        if not isinstance(motion, Motion):
            raise MotionlabError(f"{what}: expected a bvh.Motion, found {type(motion).__name__}")
        if not self.skeleton.same_layout(motion.skeleton):
            sk, other = self.skeleton, motion.skeleton
            raise MotionlabError(
                f"{what}: skeleton differs from the one the pipeline was fitted on "
                f"(expected {sk.n_joints} joints / {sk.n_channels} channels starting {sk.names[:3]}, "
                f"found {other.n_joints} / {other.n_channels} starting {other.names[:3]})"
            )

    def fit(self, motions: Motion | Iterable[Motion]) -> "MotionPipeline":
        """Fit on one or more motions of the same skeleton: constant columns, mean rotations, fps."""
        motions = [motions] if isinstance(motions, Motion) else list(motions)
        if not motions:
            raise MotionlabError("motion pipeline: fit needs at least one motion")
        first = motions[0]
        self.skeleton = first.skeleton.copy()
        if self.fps is not None:
            self.frame_time = 1.0 / self.fps
        else:
            self.frame_time = first.frame_time
            for i, m in enumerate(motions):
                if abs(m.frame_time - first.frame_time) > 1e-6 * first.frame_time:
                    raise MotionlabError(
                        f"motion {i} runs at {m.fps:.3f} fps but motion 0 at {first.fps:.3f} fps; "
                        "set the pipeline's fps to resample them to one rate"
                    )
        for i, m in enumerate(motions):
            self._check_motion(m, f"motion {i}")
        self._kept_joints()  # validates names
        ms = [resample(m, 1.0 / self.frame_time) for m in motions]
        lq = np.concatenate([m.local_quats() for m in ms])
        self.mean_quats = np.stack([Rotation.from_quat(lq[:, j]).mean().as_quat() for j in range(lq.shape[1])])
        self.mean_translations = np.concatenate([m.translations() for m in ms]).mean(axis=0)
        self.all_columns = [c for _, _, names in self._layout() for c in names]
        self.keep = np.ones(len(self.all_columns), dtype=bool)
        feats = np.concatenate([self._full_features(m) for m in ms])
        self.const_values = feats.mean(axis=0) if len(feats) else np.zeros(feats.shape[1])
        self.keep = feats.std(axis=0) >= self.constant_threshold if len(feats) else self.keep
        return self

    def transform(self, motion: Motion) -> tuple[np.ndarray, list[str]]:
        """Features (T, D) float32 at the target fps, and their column names."""
        self._check_fitted()
        self._check_motion(motion)
        m = resample(motion, 1.0 / self.frame_time)
        return self._full_features(m)[:, self.keep].astype(np.float32), self.columns

    # -- inverse
    def _full_from_features(self, features: np.ndarray) -> np.ndarray:
        self._check_fitted()
        f = np.asarray(features, dtype=np.float64)
        n = int(self.keep.sum())
        if f.ndim != 2 or f.shape[1] != n:
            raise MotionlabError(
                f"{self.feature_name()} inverse: expected features of shape (frames, {n}), found {f.shape}"
            )
        if not np.isfinite(f).all():
            raise MotionlabError(f"{self.feature_name()} inverse: features contain nan/inf")
        full = np.broadcast_to(self.const_values, (len(f), len(self.keep))).copy()
        full[:, self.keep] = f
        return full

    def _decode_root(self, blocks: dict, T: int, start_position, start_heading: float):
        fps = 1.0 / self.frame_time
        vel, w = blocks["root_vel"], blocks["root_yaw_vel"][:, 0]
        yaw = float(start_heading) + np.concatenate([[0.0], np.cumsum(w[:-1]) / fps])
        q_yaw = yaw_quat(yaw, self._up)
        step = vel[:, :1] * self._side + vel[:, 1:2] * self._fwd
        disp = quat_apply(q_yaw[:-1], step[:-1]) / fps
        start = np.zeros(3) if start_position is None else np.asarray(start_position, dtype=np.float64).reshape(3)
        pos = start + np.concatenate([np.zeros((1, 3)), np.cumsum(disp, axis=0)])
        pos[:, AXES[self.up_axis]] = blocks["root_height"][:, 0]
        if "root_rot" in blocks:
            q_root = quat_mul(q_yaw, decode_rotation(blocks["root_rot"], self._root_rep))
        else:
            q_root = np.broadcast_to(self.mean_quats[0], (T, 4)).copy()
        return pos, q_yaw, q_root

    def _split(self, full: np.ndarray) -> tuple[dict, dict, dict, dict]:
        """Full feature matrix -> root blocks by kind, and per-joint rotation/translation/position blocks."""
        blocks, per_joint = {}, {"rot": {}, "trans": {}, "pos": {}}
        i = 0
        for kind, j, names in self._layout():
            part = full[:, i : i + len(names)]
            i += len(names)
            if kind in per_joint:
                per_joint[kind][j] = part
            else:
                blocks[kind] = part
        return blocks, per_joint["rot"], per_joint["trans"], per_joint["pos"]

    def inverse(self, features: np.ndarray, start_position=None, start_heading: float = 0.0) -> Motion:
        """A Motion of the fitted skeleton at the target fps from features (T, D).

        The root is integrated from ``start_position`` (its height comes from the features) and
        ``start_heading`` (yaw in radians); use :meth:`start_state` to reproduce a source motion.
        """
        full = self._full_from_features(features)
        T = len(full)
        sk = self.skeleton
        blocks, rot, trans, pos = self._split(full)
        root_pos, q_yaw, q_root = self._decode_root(blocks, T, start_position, start_heading)
        tr = np.broadcast_to(self.mean_translations, (T, sk.n_joints, 3)).copy()
        tr[:, 0] = root_pos
        for j, vals in trans.items():
            for k, (_, axis) in enumerate(sk.position_columns(j)):
                tr[:, j, axis] = vals[:, k]
        if self.representation == "positions":
            targets = {j: root_pos + quat_apply(q_yaw, p) for j, p in pos.items()}
            lq = self._solve_ik(targets, root_pos, q_root, tr)
        else:
            lq = np.broadcast_to(self.mean_quats, (T, sk.n_joints, 4)).copy()
            lq[:, 0] = q_root
            for j, vals in rot.items():
                lq[:, j] = decode_rotation(vals, self.representation)
        template = Motion(sk, np.zeros((0, sk.n_channels)), self.frame_time)
        return template.with_rotations(lq, translations=tr)

    def inverse_positions(self, features: np.ndarray, start_position=None, start_heading: float = 0.0) -> np.ndarray:
        """(T, J, 3) world joint positions from features.

        For ``positions`` these are the encoded positions themselves (no IK); joints outside the
        kept subset come from forward kinematics of :meth:`inverse`.
        """
        if self.representation != "positions":
            return self.inverse(features, start_position, start_heading).positions()
        full = self._full_from_features(features)
        blocks, _, _, pos = self._split(full)
        root_pos, q_yaw, _ = self._decode_root(blocks, len(full), start_position, start_heading)
        kept = self._kept_joints()
        if len(kept) < self.skeleton.n_joints:
            out = self.inverse(features, start_position, start_heading).positions()
        else:
            out = np.empty((len(full), self.skeleton.n_joints, 3))
        out[:, 0] = root_pos
        for j, p in pos.items():
            out[:, j] = root_pos + quat_apply(q_yaw, p)
        return out

    def _chain_targets(self) -> dict[int, list[tuple[int, np.ndarray]]]:
        """For each joint, its nearest kept descendants and their (constant) vectors in its frame.

        Dropped joints in between hold their mean rotation, so the vector is fixed.
        """
        sk = self.skeleton
        kept = set(self._kept_joints())
        out: dict[int, list[tuple[int, np.ndarray]]] = {}

        def below(c: int) -> list[tuple[int, np.ndarray]]:
            t = self.mean_translations[c]
            if c in kept:
                return [(c, t)]
            return [(d, t + quat_apply(self.mean_quats[c], v)) for g in sk.children(c) for d, v in below(g)]

        for j in range(sk.n_joints):
            out[j] = [dv for c in sk.children(j) for dv in below(c)]
        return out

    def _solve_ik(self, targets: dict, root_pos, q_root, tr) -> np.ndarray:
        """Local rotations that point each kept joint's bones at the target positions.

        Each joint is solved in its parent's (already solved) frame by weighted Kabsch on bone
        directions, plus a tiny pull towards the fitted mean rotation that fixes the twist of
        single-bone joints (and any other direction the targets leave free).
        """
        sk = self.skeleton
        T = len(root_pos)
        kept = set(self._kept_joints())
        chains = self._chain_targets()
        lq = np.broadcast_to(self.mean_quats, (T, sk.n_joints, 4)).copy()
        lq[:, 0] = q_root
        gq = np.empty_like(lq)
        gp = np.empty((T, sk.n_joints, 3))
        gq[:, 0], gp[:, 0] = q_root, root_pos
        eye = np.eye(3)
        eps = 1e-6
        for j in range(1, sk.n_joints):
            p = sk.parents[j]
            gp[:, j] = gp[:, p] + quat_apply(gq[:, p], tr[:, j])
            goals = [(d, v) for d, v in chains[j] if d in targets and np.linalg.norm(v) > 1e-9]
            if j in kept and sk.rotation_order(j) and goals:
                a_list, b_list, w_list = [], [], []
                inv_parent = quat_conj(gq[:, p])
                for d, v in goals:
                    b = quat_apply(inv_parent, targets[d] - gp[:, j])
                    nb = np.linalg.norm(b, axis=-1, keepdims=True)
                    a_list.append(np.broadcast_to(v / np.linalg.norm(v), (T, 3)))
                    b_list.append(b / np.maximum(nb, 1e-12))
                    w_list.append((nb[:, 0] > 1e-9).astype(float))
                prior = Rotation.from_quat(self.mean_quats[j]).apply(eye)
                for k in range(3):
                    a_list.append(np.broadcast_to(eye[k], (T, 3)))
                    b_list.append(np.broadcast_to(prior[k], (T, 3)))
                    w_list.append(np.full(T, eps))
                lq[:, j] = kabsch(np.stack(a_list, 1), np.stack(b_list, 1), np.stack(w_list, 1))
            gq[:, j] = quat_mul(gq[:, p], lq[:, j])
        return lq

    # -- persistence
    @staticmethod
    def _paths(path: str | os.PathLike) -> tuple[Path, Path]:
        p = Path(path)
        if p.suffix in (".json", ".npz"):
            p = p.with_suffix("")
        return p.with_name(p.name + ".json"), p.with_name(p.name + ".npz")

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``<prefix>.json`` (settings, columns, skeleton) and ``<prefix>.npz`` (fitted arrays)."""
        self._check_fitted()
        jpath, npath = self._paths(path)
        save_npz(
            npath,
            keep=self.keep,
            const_values=self.const_values,
            mean_quats=self.mean_quats,
            mean_translations=self.mean_translations,
        )
        settings = {
            "representation": self.representation,
            "fps": self.fps,
            "joints": self.joints,
            "up_axis": self.up_axis,
            "forward_axis": self.forward_axis,
            "constant_threshold": self.constant_threshold,
        }
        write_json(
            jpath,
            {
                "format": _FORMAT,
                "version": _VERSION,
                "feature_name": self.feature_name(),
                "settings": settings,
                "frame_time": self.frame_time,
                "arrays": npath.name,
                "columns": self.columns,
                "all_columns": self.all_columns,
                "skeleton": self.skeleton.to_dict(),
            },
        )
        return jpath

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MotionPipeline":
        """Read a pipeline written by :meth:`save` (give the .json path or the common prefix)."""
        jpath, _ = cls._paths(path)
        meta = read_json(jpath)
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise MotionlabError(f"{jpath}: not a saved motion pipeline (expected format {_FORMAT!r})")
        if meta.get("version") != _VERSION:
            raise MotionlabError(f"{jpath}: pipeline file version {meta.get('version')}, this code reads {_VERSION}")
        npath = jpath.with_name(meta["arrays"])
        try:
            with np.load(npath, allow_pickle=False) as z:
                arrays = {k: z[k] for k in ("keep", "const_values", "mean_quats", "mean_translations")}
        except FileNotFoundError:
            raise MotionlabError(f"{npath}: arrays of pipeline {jpath.name} not found") from None
        except KeyError as e:
            raise MotionlabError(f"{npath}: missing array {e}") from None
        except (ValueError, OSError) as e:  # e.g. an object (pickled) member: never unpickled
            raise MotionlabError(f"{npath}: arrays of pipeline {jpath.name} not readable as numeric arrays ({e})") from None
        self = cls(**meta["settings"])
        self.skeleton = Skeleton.from_dict(meta["skeleton"])
        self.frame_time = float(meta["frame_time"])
        self.all_columns = list(meta["all_columns"])
        self.keep = arrays["keep"].astype(bool)
        self.const_values = arrays["const_values"].astype(np.float64)
        self.mean_quats = arrays["mean_quats"].astype(np.float64)
        self.mean_translations = arrays["mean_translations"].astype(np.float64)
        if len(self.keep) != len(self.all_columns) or [c for _, _, n in self._layout() for c in n] != self.all_columns:
            raise MotionlabError(f"{jpath}: column list does not match the saved settings and skeleton")
        return self
