"""Exact resume (issue 13): a run SIGKILLed between checkpoints, or half-way through writing one, and
continued with --resume ends with the same weights, optimiser states and logged losses, bit for bit,
as the run that was never interrupted — mid-epoch too (the data order continues, not restarts).

The kill is real (a subprocess SIGKILLs itself at a known step through the test-only environment
variables of motionlab.training.callbacks); the runs are tiny (a few dozen steps on CPU).
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch

from conftest import run_cli
from motionlab.training.callbacks import KILL_AT_STEP_ENV, KILL_IN_CHECKPOINT_ENV

#: 8 train batches an epoch, 20 steps: the kills at 7 and 13 fall mid-epoch; checkpoints every 4 steps.
COMMON = ["--max_steps", "20", "--max_epochs", "10", "--limit_train_batches", "8", "--limit_val_batches", "1",
          "--checkpoint_every_n_steps", "4", "--log_every_n_steps", "1", "--no-progress_bar", "--seed", "3"]
MODELS = {
    "transformer": ["--hparams_file", "demo"],
    "speech2gesture": ["--hparams_file", "demo/speech2gesture"],
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, small_demo):
    """The uninterrupted run of a model (once per model for the module)."""
    done = {}

    def get(model, num_workers):
        if (model, num_workers) not in done:
            exp = tmp_path_factory.mktemp("reference")
            proc = run(small_demo, exp, "ref", model, "--num_workers", num_workers)
            assert proc.returncode == 0, proc.stderr[-2000:]
            done[model, num_workers] = exp / "ref"
        return done[model, num_workers]

    return get


def run(data, exp, name, model, *extra, env=None):
    return run_cli("-m", "motionlab.training.train", *MODELS[model], "--data_dir", str(data), "--experiments_dir", str(exp),
                   "--experiment_name", name, *COMMON, *extra, env=env)


def losses(exp_dir: Path) -> dict:
    """Every logged training scalar by (tag, step), from the TensorBoard event files of all the run's segments."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = {}
    for events in sorted((exp_dir / "tb").glob("events.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            if tag.startswith("train") or "loss" in tag and not tag.startswith("val"):
                for e in acc.Scalars(tag):
                    out[(tag, e.step)] = e.value
    return out


def assert_same_state(a: Path, b: Path):
    ca, cb = (torch.load(p, weights_only=True) for p in (a, b))
    assert ca["global_step"] == cb["global_step"] == 20
    assert ca["state_dict"].keys() == cb["state_dict"].keys()
    for k in ca["state_dict"]:
        assert torch.equal(ca["state_dict"][k], cb["state_dict"][k]), k
    assert len(ca["optimizer_states"]) == len(cb["optimizer_states"])
    for oa, ob in zip(ca["optimizer_states"], cb["optimizer_states"]):
        for i in oa["state"]:
            for name, v in oa["state"][i].items():
                assert torch.equal(v, ob["state"][i][name]), (i, name)


@pytest.mark.parametrize("model, num_workers, kill_env, step", [
    ("transformer", "0", KILL_AT_STEP_ENV, 7),  # mid-epoch, 3 steps after the step-4 checkpoint
    ("transformer", "2", KILL_IN_CHECKPOINT_ENV, 12),  # 2 loader workers; half-way through writing the step-12 checkpoint: step 8's (end of epoch 0) is used
    ("speech2gesture", "0", KILL_AT_STEP_ENV, 13),  # two optimisers, D/G counters
])
def test_killed_run_resumes_bit_identical(tmp_path, small_demo, reference, model, num_workers, kill_env, step):
    ref_dir = reference(model, num_workers)

    killed = run(small_demo, tmp_path, "cut", model, "--num_workers", num_workers, env={kill_env: str(step)})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    last = tmp_path / "cut" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] == (step // 4) * 4 - (4 if kill_env == KILL_IN_CHECKPOINT_ENV else 0)  # the previous good one
    partial = [p.name for p in last.parent.iterdir() if p.name not in ("last.ckpt", "best.ckpt")]
    assert len(partial) == (kill_env == KILL_IN_CHECKPOINT_ENV) and all(n.startswith(".last.ckpt.") for n in partial)  # the half-written temporary

    resumed = run(small_demo, tmp_path, "cut", model, "--num_workers", num_workers, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert sorted(p.name for p in last.parent.iterdir()) == ["best.ckpt", "last.ckpt"]  # the stale temporary removed
    assert_same_state(ref_dir / "checkpoints" / "last.ckpt", last)
    ref_losses, cut_losses = losses(ref_dir), losses(tmp_path / "cut")
    assert len(ref_losses) >= 20 and ref_losses == cut_losses
