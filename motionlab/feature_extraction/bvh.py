"""BVH skeletons and motions: parse, forward kinematics, write back.

Conventions (the ones Blender's importer uses, so files round-trip through it):

* Rotation channels are intrinsic Euler angles in the order they are listed, in degrees:
  ``Zrotation Xrotation Yrotation`` means ``R = Rz @ Rx @ Ry`` = ``Rotation.from_euler('ZXY', ...)``.
* Position channels give the joint's translation in its parent's frame and *replace* the matching
  component of ``OFFSET`` (for the root this is the world translation; a root OFFSET is ignored on
  the axes that have a position channel). Joints without position channels use ``OFFSET``.
* Quaternions are scipy's scalar-last ``(x, y, z, w)``.

The hierarchy is parsed line by line (so errors can name a line); the MOTION block is parsed in one
vectorised ``np.array(text.split(), float)`` call, so multi-megabyte files load in tens of ms.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from motionlab.feature_extraction.rotations import quat_apply, quat_mul
from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import atomic_path

POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
VALID_CHANNELS = POSITION_CHANNELS + ROTATION_CHANNELS
_AXIS = {"X": 0, "Y": 1, "Z": 2}


# ----------------------------------------------------------------------------- data classes


@dataclass
class Skeleton:
    """Joint hierarchy of a BVH file.

    ``channels[j]`` lists joint j's channel names in file order; the motion's columns are these
    lists concatenated. ``end_sites`` maps a joint index to its End Site offset (kept so that saving
    reproduces the file's hierarchy and so that leaf bones have a length).
    """

    names: list[str]
    parents: np.ndarray
    offsets: np.ndarray
    channels: list[list[str]]
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        self.names = list(self.names)
        self.parents = np.asarray(self.parents, dtype=np.int64).reshape(-1)
        self.offsets = np.asarray(self.offsets, dtype=np.float64).reshape(-1, 3)
        self.channels = [list(c) for c in self.channels]
        self.end_sites = {int(k): np.asarray(v, dtype=np.float64).reshape(3) for k, v in self.end_sites.items()}
        n = len(self.names)
        if not (len(self.parents) == len(self.offsets) == len(self.channels) == n):
            raise MotionlabError(
                f"skeleton: names/parents/offsets/channels must have one entry per joint, "
                f"found {n}/{len(self.parents)}/{len(self.offsets)}/{len(self.channels)}"
            )
        # depth-first pre-order (as written in a file): the column order of the channels depends on it
        ok = n > 0 and self.parents[0] == -1
        stack = [0]
        for j in range(1, n if ok else 0):
            p = self.parents[j]
            while stack and stack[-1] != p:
                stack.pop()
            if not stack:
                ok = False
                break
            stack.append(j)
        if not ok:
            raise MotionlabError(
                f"skeleton: joints must be listed in depth-first order (as in a BVH file) with the single "
                f"root first; found parents {self.parents.tolist()}"
            )

    def copy(self) -> "Skeleton":
        return Skeleton(self.names, self.parents.copy(), self.offsets.copy(), self.channels, dict(self.end_sites))

    # -- layout
    @property
    def n_joints(self) -> int:
        return len(self.names)

    @property
    def n_channels(self) -> int:
        return sum(len(c) for c in self.channels)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise MotionlabError(f"skeleton has no joint named {name!r} (joints: {', '.join(self.names)})") from None

    def children(self, j: int) -> list[int]:
        return [int(c) for c in np.flatnonzero(self.parents == j)]

    def channel_starts(self) -> np.ndarray:
        """Column index of each joint's first channel."""
        return np.concatenate([[0], np.cumsum([len(c) for c in self.channels])[:-1]]).astype(int)

    def channel_names(self) -> list[str]:
        return [f"{n}_{c}" for n, cs in zip(self.names, self.channels) for c in cs]

    def rotation_order(self, j: int) -> str:
        """Uppercase (intrinsic) scipy Euler order of joint j's rotation channels, '' if none."""
        return "".join(c[0] for c in self.channels[j] if c in ROTATION_CHANNELS)

    def rotation_columns(self, j: int) -> list[int]:
        s = self.channel_starts()[j]
        return [s + i for i, c in enumerate(self.channels[j]) if c in ROTATION_CHANNELS]

    def position_columns(self, j: int) -> list[tuple[int, int]]:
        """(column, axis) pairs of joint j's position channels."""
        s = self.channel_starts()[j]
        return [(s + i, _AXIS[c[0]]) for i, c in enumerate(self.channels[j]) if c in POSITION_CHANNELS]

    def same_layout(self, other: "Skeleton") -> bool:
        """Same joints, parents and channels (offsets may differ slightly between takes)."""
        return (
            self.names == other.names
            and np.array_equal(self.parents, other.parents)
            and self.channels == other.channels
        )

    def rest_positions(self) -> np.ndarray:
        """(J, 3) global joint positions with zero rotations and OFFSETs as translations."""
        pos = np.zeros((self.n_joints, 3))
        for j in range(1, self.n_joints):
            pos[j] = pos[self.parents[j]] + self.offsets[j]
        return pos

    # -- serialisation (plain JSON types: used by the motion pipeline's save files)
    def to_dict(self) -> dict:
        return {
            "names": list(self.names),
            "parents": [int(p) for p in self.parents],
            "offsets": self.offsets.tolist(),
            "channels": [list(c) for c in self.channels],
            "end_sites": {str(k): v.tolist() for k, v in sorted(self.end_sites.items())},
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Skeleton":
        return cls(
            names=d["names"],
            parents=d["parents"],
            offsets=d["offsets"],
            channels=d["channels"],
            end_sites={int(k): v for k, v in d.get("end_sites", {}).items()},
        )


@dataclass
class Motion:
    """A skeleton plus ``values`` (frames x channels, float64, file channel order) at ``frame_time`` s."""

    skeleton: Skeleton
    values: np.ndarray
    frame_time: float

    def __post_init__(self):
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.values.ndim != 2 or self.values.shape[1] != self.skeleton.n_channels:
            raise MotionlabError(
                f"motion values must be (frames, {self.skeleton.n_channels}) for this skeleton, "
                f"found shape {self.values.shape}"
            )
        self.frame_time = float(self.frame_time)
        if not self.frame_time > 0:
            raise MotionlabError(f"motion frame time must be > 0, found {self.frame_time}")

    @property
    def n_frames(self) -> int:
        return self.values.shape[0]

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def copy(self) -> "Motion":
        return Motion(self.skeleton.copy(), self.values.copy(), self.frame_time)

    def slice(self, start: int | None = None, stop: int | None = None, step: int | None = None) -> "Motion":
        """Frames [start:stop:step] (a step multiplies the frame time)."""
        return Motion(self.skeleton, self.values[start:stop:step].copy(), self.frame_time * (step or 1))

    # -- kinematics
    def local_quats(self) -> np.ndarray:
        """(frames, joints, 4) local rotations as scalar-last quaternions (identity without channels)."""
        sk = self.skeleton
        q = np.zeros((self.n_frames, sk.n_joints, 4))
        q[..., 3] = 1.0
        for j in range(sk.n_joints):
            order = sk.rotation_order(j)
            if order:
                angles = self.values[:, sk.rotation_columns(j)]
                q[:, j] = Rotation.from_euler(order, angles, degrees=True).as_quat()
        return q

    def rotations(self) -> Rotation:
        """Local joint rotations as a scipy Rotation of shape (frames, joints)."""
        return Rotation.from_quat(self.local_quats())

    def translations(self) -> np.ndarray:
        """(frames, joints, 3) local translations: OFFSET, with position channels replacing components."""
        sk = self.skeleton
        t = np.broadcast_to(sk.offsets, (self.n_frames, sk.n_joints, 3)).copy()
        for j in range(sk.n_joints):
            for col, axis in sk.position_columns(j):
                t[:, j, axis] = self.values[:, col]
        return t

    def global_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """Forward kinematics: (frames, joints, 4) global quaternions and (frames, joints, 3) positions."""
        sk = self.skeleton
        lq, lt = self.local_quats(), self.translations()
        gq, gp = np.empty_like(lq), np.empty_like(lt)
        gq[:, 0], gp[:, 0] = lq[:, 0], lt[:, 0]
        for j in range(1, sk.n_joints):
            p = sk.parents[j]
            gq[:, j] = quat_mul(gq[:, p], lq[:, j])
            gp[:, j] = gp[:, p] + quat_apply(gq[:, p], lt[:, j])
        return gq, gp

    def positions(self) -> np.ndarray:
        """(frames, joints, 3) global joint positions by forward kinematics."""
        return self.global_transforms()[1]

    def with_rotations(
        self,
        rot: Rotation | np.ndarray,
        root_pos: np.ndarray | None = None,
        translations: np.ndarray | None = None,
        frame_time: float | None = None,
    ) -> "Motion":
        """New motion on this skeleton from local rotations (Rotation (T, J) or quats (T, J, 4)).

        Euler angles are written in each joint's own channel order. Position channels come from
        ``translations`` (T, J, 3 local) if given, else from this motion when the frame count
        matches, else from the OFFSETs; ``root_pos`` (T, 3) overrides the root's.
        """
        sk = self.skeleton
        q = rot.as_quat() if isinstance(rot, Rotation) else np.asarray(rot, dtype=np.float64)
        if q.ndim != 3 or q.shape[1:] != (sk.n_joints, 4):
            raise MotionlabError(f"with_rotations: expected rotations of shape (frames, {sk.n_joints}), found {q.shape[:-1]}")
        T = q.shape[0]
        if translations is None:
            translations = self.translations() if T == self.n_frames else np.broadcast_to(sk.offsets, (T, sk.n_joints, 3))
        translations = np.array(translations, dtype=np.float64)
        if root_pos is not None:
            translations[:, 0] = np.asarray(root_pos, dtype=np.float64).reshape(T, 3)
        values = np.zeros((T, sk.n_channels))
        for j in range(sk.n_joints):
            order = sk.rotation_order(j)
            if order:
                if len(order) != 3:
                    raise MotionlabError(
                        f"joint {sk.names[j]} has only {len(order)} rotation channel(s) ({order}); "
                        "cannot write arbitrary rotations to it"
                    )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # gimbal lock: the angles still encode the rotation
                    values[:, sk.rotation_columns(j)] = Rotation.from_quat(q[:, j]).as_euler(order, degrees=True)
            for col, axis in sk.position_columns(j):
                values[:, col] = translations[:, j, axis]
        return Motion(sk, values, self.frame_time if frame_time is None else frame_time)


# ----------------------------------------------------------------------------- loading


def _err(path, msg: str) -> MotionlabError:
    return MotionlabError(f"{path}: {msg}")


def _parse_floats(path, lineno: int, tokens: Sequence[str], n: int, what: str) -> np.ndarray:
    if len(tokens) != n:
        raise _err(path, f"line {lineno}: {what} expects {n} numbers, found {len(tokens)}")
    try:
        return np.array([float(t) for t in tokens])
    except ValueError:
        raise _err(path, f"line {lineno}: {what} has a non-numeric value ({' '.join(tokens)})") from None


def _parse_hierarchy(path, lines: list[str]) -> tuple[Skeleton, int]:
    """Parse HIERARCHY up to MOTION; return the skeleton and the index of the MOTION line."""
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i == len(lines) or lines[i].split()[0] != "HIERARCHY":
        found = lines[i].strip()[:40] if i < len(lines) else "nothing"
        raise _err(path, f"expected a BVH file starting with HIERARCHY, found {found!r}")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[np.ndarray | None] = []
    channels: list[list[str]] = []
    end_sites: dict[int, np.ndarray] = {}
    stack: list[tuple[str, int]] = []  # ("joint", index) or ("end", parent index)
    pending: tuple[str, int] | None = None
    for i in range(i + 1, len(lines)):
        lineno = i + 1
        raw = lines[i].strip()
        if not raw:
            continue
        # tolerate "JOINT name {" and "}" sharing lines with other statements
        parts = re.split(r"([{}])", raw)
        for part in (p.strip() for p in parts):
            if not part:
                continue
            tok = part.split()
            kw = tok[0]
            if kw == "MOTION":
                if stack or pending:
                    raise _err(path, f"line {lineno}: MOTION reached with {len(stack)} unclosed '{{' (unbalanced braces)")
                if not names:
                    raise _err(path, "HIERARCHY declares no ROOT joint")
                for j, o in enumerate(offsets):
                    if o is None:
                        raise _err(path, f"joint {names[j]} has no OFFSET")
                return Skeleton(names, parents, np.array(offsets), channels, end_sites), i
            if kw in ("ROOT", "JOINT"):
                if pending is not None:
                    raise _err(path, f"line {lineno}: expected '{{' after the previous joint, found {kw}")
                if kw == "ROOT" and (stack or names):
                    raise _err(path, f"line {lineno}: a second ROOT (only one skeleton per file is supported)")
                if kw == "JOINT" and (not stack or stack[-1][0] != "joint"):
                    raise _err(path, f"line {lineno}: JOINT outside of a joint's braces")
                if len(tok) < 2:
                    raise _err(path, f"line {lineno}: {kw} without a name")
                name = " ".join(tok[1:])
                if name in names:
                    raise _err(path, f"line {lineno}: duplicate joint name {name!r}")
                names.append(name)
                parents.append(stack[-1][1] if stack else -1)
                offsets.append(None)
                channels.append([])
                pending = ("joint", len(names) - 1)
            elif kw == "End":
                if not stack or stack[-1][0] != "joint":
                    raise _err(path, f"line {lineno}: End Site outside of a joint")
                if stack[-1][1] in end_sites:
                    raise _err(path, f"line {lineno}: joint {names[stack[-1][1]]} has more than one End Site")
                pending = ("end", stack[-1][1])
                end_sites[stack[-1][1]] = np.zeros(3)
            elif kw == "{":
                if pending is None:
                    raise _err(path, f"line {lineno}: '{{' without a ROOT/JOINT/End Site before it")
                stack.append(pending)
                pending = None
            elif kw == "}":
                if not stack:
                    raise _err(path, f"line {lineno}: '}}' without a matching '{{' (unbalanced braces)")
                stack.pop()
            elif kw == "OFFSET":
                if not stack:
                    raise _err(path, f"line {lineno}: OFFSET outside of a joint")
                off = _parse_floats(path, lineno, tok[1:], 3, "OFFSET")
                kind, j = stack[-1]
                if kind == "end":
                    end_sites[j] = off
                else:
                    offsets[j] = off
            elif kw == "CHANNELS":
                if not stack or stack[-1][0] != "joint":
                    raise _err(path, f"line {lineno}: CHANNELS outside of a joint")
                j = stack[-1][1]
                try:
                    n = int(tok[1])
                except (IndexError, ValueError):
                    raise _err(path, f"line {lineno}: CHANNELS needs a count, found {' '.join(tok[1:])!r}") from None
                chans = tok[2:]
                if len(chans) != n:
                    raise _err(path, f"line {lineno}: CHANNELS declares {n} channels but lists {len(chans)}")
                for c in chans:
                    if c not in VALID_CHANNELS:
                        raise _err(
                            path,
                            f"line {lineno}: unknown channel {c!r} for joint {names[j]} "
                            f"(expected one of {', '.join(VALID_CHANNELS)})",
                        )
                if len(set(chans)) != len(chans):
                    raise _err(path, f"line {lineno}: repeated channel in {' '.join(chans)}")
                channels[j] = chans
            else:
                raise _err(path, f"line {lineno}: unexpected {kw!r} in HIERARCHY")
    if stack or pending:
        raise _err(path, f"file ends inside the HIERARCHY with {len(stack)} unclosed '{{' (truncated file?)")
    raise _err(path, "missing MOTION section after the HIERARCHY")


def _parse_motion(path, lines: list[str], start: int, n_channels: int) -> tuple[np.ndarray, float]:
    """Parse 'Frames:' / 'Frame Time:' and the rows after line index ``start`` (the MOTION line)."""
    i = start + 1

    def header(prefix: str) -> tuple[str, int]:
        nonlocal i
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines):
            raise _err(path, f"missing '{prefix}' line after MOTION (truncated file?)")
        line = lines[i].strip()
        if not line.startswith(prefix):
            raise _err(path, f"line {i + 1}: expected '{prefix} ...', found {line[:40]!r}")
        i += 1
        return line[len(prefix):].strip(), i

    txt, ln = header("Frames:")
    try:
        n_frames = int(txt)
    except ValueError:
        raise _err(path, f"line {ln}: 'Frames:' needs an integer, found {txt!r}") from None
    txt, ln = header("Frame Time:")
    try:
        frame_time = float(txt)
    except ValueError:
        raise _err(path, f"line {ln}: 'Frame Time:' needs a number, found {txt!r}") from None
    if not frame_time > 0:
        raise _err(path, f"line {ln}: 'Frame Time:' must be > 0, found {frame_time}")

    rows = lines[i:]
    if n_channels == 0:  # rows are blank lines; nothing to parse
        return np.zeros((n_frames, 0)), frame_time
    counts = np.fromiter((len(r.split()) for r in rows), dtype=np.int64, count=len(rows))
    nonempty = np.flatnonzero(counts)
    n_rows = len(nonempty)
    if n_rows < n_frames:
        raise _err(path, f"truncated: 'Frames: {n_frames}' but only {n_rows} rows of motion data found")
    if n_rows > n_frames:
        raise _err(path, f"'Frames: {n_frames}' but {n_rows} rows of motion data found")
    bad = nonempty[counts[nonempty] != n_channels]
    if len(bad):
        k = int(np.searchsorted(nonempty, bad[0]))
        hint = " (truncated file?)" if k == n_rows - 1 else ""
        raise _err(
            path,
            f"frame {k} (line {i + bad[0] + 1}): expected {n_channels} values (one per channel), "
            f"found {counts[bad[0]]}{hint}",
        )
    text = " ".join(rows) if n_rows else ""
    try:
        values = np.array(text.split(), dtype=np.float64).reshape(n_frames, n_channels)
    except ValueError:
        for k, r in enumerate(nonempty):
            for tok in rows[r].split():
                try:
                    float(tok)
                except ValueError:
                    raise _err(path, f"frame {k} (line {i + r + 1}): non-numeric value {tok!r}") from None
        raise
    if not np.isfinite(values).all():
        k = int(np.flatnonzero(~np.isfinite(values).all(1))[0])
        raise _err(path, f"frame {k} (line {i + nonempty[k] + 1}): non-finite value (nan/inf)")
    return values, frame_time


def load_bvh(path: str | os.PathLike) -> Motion:
    """Read a BVH file; any malformation raises MotionlabError naming the file and the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise MotionlabError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise MotionlabError(f"{path}: is a directory, expected a .bvh file") from None
    if not text.strip():
        raise _err(path, "empty file (expected a BVH HIERARCHY and MOTION)")
    lines = text.splitlines()
    skeleton, motion_line = _parse_hierarchy(path, lines)
    values, frame_time = _parse_motion(path, lines, motion_line, skeleton.n_channels)
    return Motion(skeleton, values, frame_time)


# ----------------------------------------------------------------------------- saving


def _hierarchy_lines(sk: Skeleton) -> list[str]:
    out = ["HIERARCHY"]

    def f3(v) -> str:
        return " ".join(f"{x:.6f}" for x in v)

    def joint(j: int, depth: int):
        ind = "\t" * depth
        out.append(f"{ind}{'ROOT' if j == 0 else 'JOINT'} {sk.names[j]}")
        out.append(f"{ind}{{")
        out.append(f"{ind}\tOFFSET {f3(sk.offsets[j])}")
        out.append(f"{ind}\tCHANNELS {len(sk.channels[j])} {' '.join(sk.channels[j])}".rstrip())
        for c in sk.children(j):
            joint(c, depth + 1)
        if j in sk.end_sites:
            out.append(f"{ind}\tEnd Site")
            out.append(f"{ind}\t{{")
            out.append(f"{ind}\t\tOFFSET {f3(sk.end_sites[j])}")
            out.append(f"{ind}\t}}")
        out.append(f"{ind}}}")

    joint(0, 0)
    return out


def _format_rows(values: np.ndarray, chunk: int = 512) -> Iterator[str]:
    """Motion rows as text, a chunk at a time (6 decimals: reload matches to 5e-7)."""
    fmt = " ".join(["%.6f"] * values.shape[1])
    for s in range(0, len(values), chunk):
        yield "".join((fmt % tuple(r)) + "\n" for r in values[s : s + chunk].tolist())


def save_bvh(motion: Motion, path: str | os.PathLike) -> Path:
    """Write a standard BVH atomically (temp file + rename: an interrupted write leaves the old file)."""
    path = Path(path)
    if not np.isfinite(motion.values).all():
        raise MotionlabError(f"{path}: refusing to write non-finite (nan/inf) motion values")
    header = "\n".join(
        _hierarchy_lines(motion.skeleton)
        + ["MOTION", f"Frames: {motion.n_frames}", f"Frame Time: {motion.frame_time:.10g}"]
    )
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(header + "\n")
            if motion.values.shape[1]:
                for block in _format_rows(motion.values):
                    f.write(block)
            else:
                f.write("\n" * motion.n_frames)
    return path
