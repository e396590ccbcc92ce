"""One training per experiment folder: an exclusive lock on ``<exp>/.lock`` held while it trains
(:func:`motionlab.utils.locks.folder_lock`: dropped by the OS when the process dies, names its holder).
DDP: only the launching process (rank 0) takes it; the ranks it starts share its experiment.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from motionlab.utils.locks import folder_lock

LOCK_NAME = ".lock"


def _is_child_rank() -> bool:
    return any(int(os.environ.get(v, "0") or 0) > 0 for v in ("RANK", "LOCAL_RANK", "NODE_RANK"))


@contextlib.contextmanager
def experiment_lock(exp_dir):
    """Hold ``<exp_dir>/.lock`` for the block; MotionlabError naming the holder if another process has it."""
    if _is_child_rank():
        yield
        return
    busy = f"experiment {Path(exp_dir)} is being trained by another {{who}}; wait for it, stop it, or choose another --experiment_name"
    with folder_lock(exp_dir, LOCK_NAME, busy):
        yield
