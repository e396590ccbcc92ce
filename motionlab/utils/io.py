"""Atomic writes: every output goes to a temporary name in the same folder, then is renamed.

An interrupted run therefore never leaves a half-written array, JSON, BVH or text file behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    ``suffix`` keeps the extension for writers that insist on one (``np.save`` appends ``.npy``).
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
        os.close(fd)
        tmp = Path(tmp)
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
        os.replace(tmp, path)
    except OSError as e:
        if e.errno in _DISK_ERRORS:
            from motionlab.utils.errors import MotionlabError

            kept = "the previous file is kept" if path.exists() else "nothing was written"
            raise MotionlabError(f"{path}: could not write: {os.strerror(e.errno).lower()} ({kept})") from None
        raise
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


#: Errors of the output place rather than of the program: a full disk, no permission, a read-only file system, a quota.
_DISK_ERRORS = {errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.EDQUOT}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, array)


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike):
    """Read a JSON file, turning a syntax error into a message that names the file."""
    from motionlab.utils.errors import MotionlabError

    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise MotionlabError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MotionlabError(f"{path}: not valid JSON ({e})") from None
