"""``<feature>.meta.json`` helpers kept for callers that have a folder path, not a DataFolder.

The schema, its checks and the writer live in :class:`motionlab.datafolder.DataFolder`
(``meta``, ``write_meta``); these three functions only delegate to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from motionlab.datafolder import META_KEYS, DataFolder  # noqa: F401  (META_KEYS re-exported)


def meta_path(data_dir, feature_name: str) -> Path:
    return DataFolder(data_dir).meta_path(feature_name)


def write_feature_meta(data_dir, feature_name: str, fps: float, columns: Sequence[str], settings_dict: dict | None = None, *, kind: str) -> Path:
    """Write ``<data_dir>/<feature_name>.meta.json`` atomically and return its path."""
    return DataFolder(data_dir).write_meta(feature_name, fps, columns, settings_dict, kind=kind)


def read_feature_meta(data_dir, feature_name: str) -> dict:
    """Read and check ``<data_dir>/<feature_name>.meta.json``."""
    return DataFolder(data_dir).meta(feature_name)
