"""``<feature>.meta.json``: what a feature array in a data folder is, written next to it.

Audio, motion and text features share this schema so that dataset code can check frame rates and
dimensions (and show column names) without knowing which extractor produced the array.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import read_json, write_json

META_KEYS = ("feature", "fps", "dims", "columns", "settings", "kind")


def meta_path(data_dir, feature_name: str) -> Path:
    return Path(data_dir) / f"{feature_name}.meta.json"


def write_feature_meta(data_dir, feature_name: str, fps: float, columns: Sequence[str], settings_dict: dict | None = None, *, kind: str) -> Path:
    """Write ``<data_dir>/<feature_name>.meta.json`` atomically and return its path.

    ``kind`` (``audio``, ``motion``, ``keypoints``, ``text``, ``demo`` ...) tells generation how to
    use the feature; ``settings_dict`` must be JSON-serialisable so that the same extraction can be
    repeated on new inputs at generation time.
    """
    columns = [str(c) for c in columns]
    if float(fps) <= 0:
        raise MotionlabError(f"{feature_name}: fps must be positive, got {fps}")
    meta = {
        "feature": str(feature_name),
        "fps": float(fps),
        "dims": len(columns),
        "columns": columns,
        "settings": dict(settings_dict or {}),
        "kind": str(kind),
    }
    path = meta_path(data_dir, feature_name)
    write_json(path, meta)
    return path


def read_feature_meta(data_dir, feature_name: str) -> dict:
    """Read and check a meta file written by :func:`write_feature_meta`."""
    path = meta_path(data_dir, feature_name)
    meta = read_json(path)
    if not isinstance(meta, dict):
        raise MotionlabError(f"{path}: expected a JSON object with keys {list(META_KEYS)}, found {type(meta).__name__}")
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise MotionlabError(f"{path}: expected keys {list(META_KEYS)}, missing {missing}")
    if not isinstance(meta["columns"], list) or len(meta["columns"]) != meta["dims"]:
        raise MotionlabError(
            f"{path}: expected 'columns' to be a list of length dims={meta['dims']}, "
            f"found {type(meta['columns']).__name__} of length "
            f"{len(meta['columns']) if hasattr(meta['columns'], '__len__') else '?'}"
        )
    try:
        fps = float(meta["fps"])
    except (TypeError, ValueError):
        fps = -1.0
    if not fps > 0:
        raise MotionlabError(f"{path}: expected a positive 'fps', found {meta['fps']!r}")
    return meta
