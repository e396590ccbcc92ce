"""One training per experiment folder: an exclusive ``flock`` on ``<exp>/.lock`` held while it trains.

The operating system drops the lock when the process dies (SIGKILL, a pre-empted job), so a stale
lock never blocks; the file records who holds it (pid, host, start time) for the refusal message.
DDP: only the launching process (rank 0) takes it; the ranks it starts share its experiment.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from motionlab.utils.errors import MotionlabError

LOCK_NAME = ".lock"


def _is_child_rank() -> bool:
    return any(int(os.environ.get(v, "0") or 0) > 0 for v in ("RANK", "LOCAL_RANK", "NODE_RANK"))


@contextlib.contextmanager
def experiment_lock(exp_dir):
    """Hold ``<exp_dir>/.lock`` for the block; MotionlabError naming the holder if another process has it."""
    if _is_child_rank():
        yield
        return
    exp_dir = Path(exp_dir)
    created = not exp_dir.exists()
    exp_dir.mkdir(parents=True, exist_ok=True)
    path = exp_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
            except (ValueError, UnicodeDecodeError):
                holder = {}
            who = f"process {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started', '?')}"
            raise MotionlabError(f"experiment {exp_dir} is being trained by another {who}; wait for it, stop it, or choose another --experiment_name") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
        if created and [p.name for p in exp_dir.iterdir()] == [LOCK_NAME]:  # a run refused before writing anything leaves nothing
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                exp_dir.rmdir()
