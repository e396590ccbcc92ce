"""Find the takes of a folder: motion, audio and word files paired by base name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from motionlab.datafolder import AUDIO_EXTENSIONS


@dataclass
class Take:
    name: str
    motion: Path | None = None
    motion_kind: str | None = None  # bvh | keypoints | openpose
    audio: Path | None = None
    words: Path | None = None


def discover_takes(src: Path) -> dict[str, Take]:
    """Pair motion, audio and word files of a folder by base name."""
    takes: dict[str, Take] = {}

    def take(name: str) -> Take:
        return takes.setdefault(name, Take(name))

    for p in sorted(src.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir():
            if any(p.glob("*_keypoints.json")):
                take(p.name).motion, take(p.name).motion_kind = p, "openpose"
            continue
        suffix = p.suffix.lower()
        if suffix == ".bvh":
            take(p.stem).motion, take(p.stem).motion_kind = p, "bvh"
        elif suffix == ".npy" and "." not in p.stem:  # features are <seq>.<feature>.npy
            take(p.stem).motion, take(p.stem).motion_kind = p, "keypoints"
        elif suffix in AUDIO_EXTENSIONS:
            take(p.stem).audio = p
        elif p.name.endswith(".words.csv"):
            take(p.name[: -len(".words.csv")]).words = p
        elif suffix == ".textgrid" and take(p.stem).words is None:  # a words.csv beside it wins
            take(p.stem).words = p
    return takes


def fingerprint(paths) -> dict:
    """Path -> [size, mtime] (OpenPose folders: [file count, newest mtime]): prepare.json's 'unchanged sources' test."""
    out = {}
    for p in paths:
        if p is None:
            continue
        p = Path(p)
        if p.is_dir():
            files = sorted(p.glob("*_keypoints.json"))
            out[str(p)] = [len(files), max((f.stat().st_mtime_ns for f in files), default=0)]
        else:
            st = p.stat()
            out[str(p)] = [st.st_size, st.st_mtime_ns]
    return out
