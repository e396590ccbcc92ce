"""Distributed faults (issue 13): a 2-process CPU DDP run that loses a rank stops the other within a
bounded time with a clear message (no hang, no traceback), and --resume continues from the last checkpoint."""

from __future__ import annotations

import time

import pytest

from conftest import run_cli
from motionlab.training.callbacks import KILL_AT_STEP_ENV, KILL_RANK_ENV
from motionlab.training.train import is_distributed_failure, with_ddp_timeout


def test_ddp_strategy_names_get_the_timeout():
    args = with_ddp_timeout({"strategy": "ddp_find_unused_parameters_true", "devices": 2}, 42)
    strategy = args["strategy"]
    assert strategy._timeout.total_seconds() == 42 and strategy._ddp_kwargs["find_unused_parameters"] is True
    assert with_ddp_timeout({"strategy": "auto"}, 42) == {"strategy": "auto"}  # single process: untouched
    assert is_distributed_failure(RuntimeError("[gloo/transport/tcp/pair.cc:537] Read error: Connection reset by peer"))
    assert not is_distributed_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_a_killed_rank_stops_the_other_with_a_message_and_resume_continues(small_demo, tmp_path):
    common = ["-m", "motionlab.training.train", "--hparams_file", "demo", "--data_dir", str(small_demo), "--experiments_dir", str(tmp_path),
              "--experiment_name", "ddp", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--max_epochs", "2",
              "--checkpoint_every_n_steps", "2", "--ddp_timeout_seconds", "60", "--no-progress_bar"]
    start = time.monotonic()
    proc = run_cli(*common, env={KILL_AT_STEP_ENV: "3", KILL_RANK_ENV: "1"}, timeout=300)
    took = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert took < 120  # bounded: no wait for a collective that never completes
    err = proc.stderr
    assert "distributed training stopped: another process of the run was lost or stuck" in err and "Traceback" not in err
    assert f"{tmp_path / 'ddp' / 'checkpoints' / 'last.ckpt'} (step 2)" in err and "--resume" in err
    resumed = run_cli(*common, "--resume", timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    import torch

    assert torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] > 2
