"""A full disk or an unwritable folder (issue 13): every atomic write fails with a MotionlabError naming
the path and the cause, keeps the previous good file and leaves no partial file behind.

The test machine runs as root, where chmod does not stop writes, so the full disk is simulated by
making the writer raise ENOSPC half-way through its temporary file.
"""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
import torch
from lightning_fabric.plugins.io import torch_io

from motionlab.training.callbacks import AtomicCheckpointIO
from motionlab.utils import io
from motionlab.utils.errors import MotionlabError


def half_then_enospc(path, *args, **kwargs):
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY partial")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_keeps_the_previous_array_and_names_the_path(tmp_path, monkeypatch):
    target = tmp_path / "feat.npy"
    io.save_npy(target, np.arange(4.0))
    monkeypatch.setattr(np, "save", half_then_enospc)
    with pytest.raises(MotionlabError, match=rf"{target}: could not write: no space left on device \(the previous file is kept\)"):
        io.save_npy(target, np.zeros(4))
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["feat.npy"]  # no temporary left
    np.testing.assert_array_equal(np.load(target), np.arange(4.0))


def test_full_disk_during_a_checkpoint_keeps_last_ckpt(tmp_path, monkeypatch):
    last = tmp_path / "checkpoints" / "last.ckpt"
    ckpt_io = AtomicCheckpointIO()
    ckpt_io.save_checkpoint({"global_step": 4, "w": torch.ones(3)}, last)
    monkeypatch.setattr(torch_io, "_atomic_save", lambda checkpoint, path: half_then_enospc(path))  # Lightning's file writer
    with pytest.raises(MotionlabError, match=rf"{last}: could not write: no space left on device"):
        ckpt_io.save_checkpoint({"global_step": 8, "w": torch.zeros(3)}, last)
    monkeypatch.undo()
    assert os.listdir(last.parent) == ["last.ckpt"]
    assert torch.load(last, weights_only=True)["global_step"] == 4


def test_nothing_written_yet_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "save", half_then_enospc)
    with pytest.raises(MotionlabError, match=r"new\.npy: could not write: no space left on device \(nothing was written\)"):
        io.save_npy(tmp_path / "new.npy", np.zeros(2))
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod")
def test_unwritable_folder(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out").chmod(0o500)
    try:
        with pytest.raises(MotionlabError, match=r"out/a\.json: could not write: permission denied"):
            io.write_json(tmp_path / "out" / "a.json", {"a": 1})
    finally:
        (tmp_path / "out").chmod(0o700)
