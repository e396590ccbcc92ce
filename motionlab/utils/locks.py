"""Exclusive folder locks: one writer per folder (a training per experiment, a prepare per data folder).

An ``flock`` on a file in the folder, held for the block. The operating system drops it when the
process dies (SIGKILL, a pre-empted job), so a stale lock never blocks; the file records who holds it
(pid, host, start time) so the refusal can name the other process.
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


@contextlib.contextmanager
def folder_lock(folder, lock_name: str, busy: str):
    """Hold ``<folder>/<lock_name>`` for the block. ``busy`` (with ``{who}``) is the MotionlabError's message
    when another process holds it. A folder this call created and nothing else wrote is removed again."""
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / lock_name
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
            raise MotionlabError(busy.format(who=who)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
        if created and [p.name for p in folder.iterdir()] == [lock_name]:  # refused before writing anything: leave nothing
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                folder.rmdir()


@contextlib.contextmanager
def directory_lock(folder, busy: str):
    """Hold an ``flock`` on the folder itself for the block (no lock file is left among the user's files);
    MotionlabError(``busy``) when another process holds it."""
    fd = os.open(Path(folder), os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MotionlabError(busy) from None
        yield
    finally:
        os.close(fd)
