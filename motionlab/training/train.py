"""Training entry point: ``python -m motionlab.training.train --hparams_file ... [options]``.

Builds the datasets and the model named by the options, then runs a Lightning Trainer with
TensorBoard logging and checkpoints under ``<experiments_dir>/<experiment_name>/``:
``hparams.yaml`` (the resolved options), ``checkpoints/last.ckpt`` and ``checkpoints/best.ckpt``.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, Timer
from pytorch_lightning.loggers import TensorBoardLogger

from motionlab.datasets import find_dataset_using_name
from motionlab.models import find_model_using_name
from motionlab.options import save_options
from motionlab.training.experiment_lock import experiment_lock
from torchdata.stateful_dataloader import StatefulDataLoader

from motionlab.training.callbacks import (
    KILL_AT_STEP_ENV,
    AtomicCheckpointIO,
    KillAtStepForTests,
    RandomStateCheckpoint,
    RecordSampleIndices,
    SampleVideo,
    SaveOnInterrupt,
    _env_step,
)
from motionlab.training.options import parse_options
from motionlab.utils.checkpoints import load_checkpoint
from motionlab.utils.errors import MotionlabError

log = logging.getLogger("motionlab")


def experiment_dir(opt) -> Path:
    return Path(opt.experiments_dir) / opt.experiment_name


def checkpoint_dir(exp_dir) -> Path:
    return Path(exp_dir) / "checkpoints"


def _devices(value):
    if isinstance(value, int) or value == "auto":
        return value
    s = str(value)
    if "," in s:
        return [int(v) for v in s.split(",") if v.strip()]
    return int(s) if s.lstrip("-").isdigit() else s


#: The demo's own folders and what ``make_demo_data`` writes there (one dancer; four speakers for the style models; words for CC-NCE).
DEMO_DATA_DIRS = {Path("data/demo"): {}, Path("data/demo_speakers"): {"speakers": 4}, Path("data/demo_keywords"): {"keywords": True}}


def build_datasets(opt):
    """The train and val datasets; ``--make_demo_data`` creates the demo data, but only in the demo's own folders."""
    data_dir = Path(opt.data_dir)
    if opt.make_demo_data and not data_dir.exists():
        kind = next((kw for d, kw in DEMO_DATA_DIRS.items() if data_dir.resolve() == d.resolve()), None)
        if kind is None:
            raise MotionlabError(
                f"--data_dir {data_dir}: folder not found (demo data is only created in {' or '.join(map(str, DEMO_DATA_DIRS))}; "
                f"check the path, or prepare your data with `motionlab prepare`)"
            )
        from motionlab.datasets.demo_data import make_demo_data

        if int(os.environ.get("LOCAL_RANK", "0")) == 0:
            print(f"motionlab: creating the demo data in {data_dir}")
            make_demo_data(data_dir, **kind)
    dataset_cls = find_dataset_using_name(opt.dataset_name)
    return dataset_cls(opt, "train"), dataset_cls(opt, "val")


def load_weights(model, path) -> None:
    """--pretrained_from: copy matching weights only (no optimizer state, step count or hparams)."""
    path = Path(path)
    if not path.exists():
        raise MotionlabError(f"--pretrained_from {path}: checkpoint not found")
    ckpt = load_checkpoint(path, "--pretrained_from checkpoint")
    if not isinstance(ckpt.get("state_dict"), dict):
        raise MotionlabError(f"--pretrained_from {path}: no 'state_dict' in the checkpoint")
    state = ckpt["state_dict"]
    own = model.state_dict()
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if mismatched:
        raise MotionlabError(f"--pretrained_from {path}: shapes differ for {', '.join(mismatched[:5])}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    log.info("loaded weights from %s (missing %d, unexpected %d)", path, len(missing), len(unexpected))


def train(opt) -> dict:
    """Train according to ``opt``; returns the experiment folder and final metrics."""
    pl.seed_everything(opt.seed, workers=True, verbose=False)
    exp = experiment_dir(opt)
    ckpt_dir = checkpoint_dir(exp)
    last = ckpt_dir / "last.ckpt"
    with experiment_lock(exp):  # a second training of the same experiment is refused, naming the first
        return _train_locked(opt, exp, ckpt_dir, last)


def _train_locked(opt, exp: Path, ckpt_dir: Path, last: Path) -> dict:
    if last.exists() and not (opt.resume or opt.overwrite):
        raise MotionlabError(f"experiment {exp} already has checkpoints: pass --resume to continue it, --overwrite to start again, or another --experiment_name")
    if opt.resume and not last.exists():
        raise MotionlabError(f"--resume: no {last} to continue from")
    for stale in ckpt_dir.glob(".*.ckpt.*.tmp"):  # left by a run killed while writing a checkpoint (we hold the lock: no writer now)
        stale.unlink()
    train_set, val_set = build_datasets(opt)
    if len(train_set) == 0:
        raise MotionlabError(f"{opt.data_dir}: the train split has no windows (sequences shorter than the window?)")
    model = find_model_using_name(opt.model).from_dataset(opt, train_set)
    if opt.pretrained_from and not opt.resume:
        load_weights(model, opt.pretrained_from)

    loader_args = dict(num_workers=opt.num_workers, persistent_workers=opt.num_workers > 0, pin_memory=torch.cuda.is_available())
    sampler = train_set.train_sampler(opt.seed) if hasattr(train_set, "train_sampler") else None  # e.g. --balance_speakers
    # Stateful: Lightning saves the loader's position (sampler and workers) in checkpoints, so --resume
    # continues an epoch at the batch after the last checkpoint instead of restarting the epoch's order.
    train_loader = StatefulDataLoader(train_set, batch_size=opt.batch_size, shuffle=sampler is None, sampler=sampler, drop_last=len(train_set) > opt.batch_size, **loader_args)
    val_loader = torch.utils.data.DataLoader(val_set, batch_size=opt.val_batch_size or opt.batch_size, shuffle=False, **loader_args)

    # last.ckpt has its own callback (no monitor: overwritten at every save): Lightning's save_last only
    # writes it when the monitored value improves, which left --resume a stale state.
    every = {"every_n_train_steps": opt.checkpoint_every_n_steps} if opt.checkpoint_every_n_steps else {"every_n_epochs": 1}
    callbacks = [
        ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=opt.monitor, mode=opt.monitor_mode, save_top_k=1, enable_version_counter=False),
        ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, enable_version_counter=False, **every),
        LearningRateMonitor(logging_interval="step"),
        SaveOnInterrupt(last),
        RandomStateCheckpoint(),
    ]
    if (kill_step := _env_step(KILL_AT_STEP_ENV)) is not None:
        callbacks.append(KillAtStepForTests(kill_step))  # test-only (tests/test_exact_resume.py)
    if opt.early_stopping_patience:
        callbacks.append(EarlyStopping(monitor=opt.monitor, mode=opt.monitor_mode, patience=opt.early_stopping_patience))
    if opt.log_sample_indices:
        callbacks.append(RecordSampleIndices(exp))
    if opt.log_video_every_n_val:
        callbacks.append(SampleVideo(exp, opt.log_video_every_n_val))

    trainer_args = dict(
        default_root_dir=exp,
        logger=TensorBoardLogger(save_dir=opt.experiments_dir, name=opt.experiment_name, version="tb", default_hp_metric=False),
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        accelerator=opt.accelerator,
        devices=_devices(opt.devices),
        num_nodes=opt.num_nodes,
        strategy=opt.strategy,
        precision=opt.precision,
        max_epochs=opt.max_epochs,
        max_steps=opt.max_steps,
        min_epochs=opt.min_epochs,
        max_time={"minutes": opt.max_time_minutes} if opt.max_time_minutes else None,
        gradient_clip_val=opt.gradient_clip_val or None,
        accumulate_grad_batches=opt.accumulate_grad_batches,
        val_check_interval=opt.val_check_interval,
        limit_train_batches=opt.limit_train_batches,
        limit_val_batches=opt.limit_val_batches,
        log_every_n_steps=opt.log_every_n_steps,
        enable_progress_bar=opt.progress_bar,
        deterministic=opt.deterministic,
        enable_model_summary=False,
    )
    trainer = pl.Trainer(**with_ddp_timeout(model.adjust_trainer_arguments(trainer_args), opt.ddp_timeout_seconds))
    if trainer.is_global_zero:
        save_options(opt, exp / "hparams.yaml")
    if opt.resume:
        restore_loader_position(train_loader, last)
    try:
        trainer.fit(model, train_loader, val_loader, ckpt_path=str(last) if opt.resume else None)
    except RuntimeError as e:
        if not is_distributed_failure(e):
            raise
        where = f"{last} (step {_checkpoint_step(last)})" if last.exists() else "none was written yet"
        raise MotionlabError(
            f"distributed training stopped: another process of the run was lost or stuck ({str(e).splitlines()[0][:200]}); "
            f"the last checkpoint is {where}: check the other ranks' logs, then run the same command with --resume"
        ) from None
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    reason = stop_reason(trainer, opt)
    if trainer.is_global_zero:
        log.info("motionlab: training stopped: %s", reason)
    return {"experiment_dir": str(exp), "global_step": trainer.global_step, "metrics": metrics, "best_checkpoint": callbacks[0].best_model_path, "stop_reason": reason}


def restore_loader_position(loader: StatefulDataLoader, path: Path) -> None:
    """Put the train loader where the checkpoint left it (the sampler's permutation and how far it got).

    Lightning saves the loader's state but does not load it back here (its loops are not "restarting"),
    so a resumed epoch's order would start again from its beginning."""
    ckpt = load_checkpoint(path, "--resume checkpoint")
    fit_loop = ckpt.get("loops", {}).get("fit_loop", {})
    states = fit_loop.get("state_dict", {}).get("combined_loader") or []
    if len(states) != 1:
        return
    loader.load_state_dict(states[0])
    if fit_loop.get("epoch_loop.batch_progress", {}).get("is_last_batch"):
        # Saved after the epoch's last batch (the loader may not be exhausted: --limit_train_batches):
        # the next epoch starts a new pass, drawn after this one's, as the uninterrupted run did.
        iter(loader)


DDP_STRATEGIES = {"ddp": None, "ddp_find_unused_parameters_true": True, "ddp_find_unused_parameters_false": False}


def with_ddp_timeout(trainer_args: dict, seconds: int) -> dict:
    """A DDP strategy given by name becomes a DDPStrategy with ``--ddp_timeout_seconds``: a rank that dies
    or hangs makes the others fail after at most that long instead of waiting forever (gloo notices a
    dead peer at once; a stuck one only through the timeout)."""
    name = trainer_args.get("strategy")
    if name not in DDP_STRATEGIES:
        return trainer_args
    from datetime import timedelta

    from pytorch_lightning.strategies import DDPStrategy

    unused = DDP_STRATEGIES[name]
    return {**trainer_args, "strategy": DDPStrategy(timeout=timedelta(seconds=int(seconds)), **({} if unused is None else {"find_unused_parameters": unused}))}


def is_distributed_failure(error: BaseException) -> bool:
    """A collective that failed because a peer process died or timed out (gloo/NCCL), not a bug of this process."""
    if isinstance(error, getattr(torch.distributed, "DistError", ())):
        return True
    text = str(error)
    return any(s in text for s in ("Connection closed by peer", "Connection reset by peer", "Timed out", "timed out", "remote worker crashing", "NCCL communicator was aborted"))


def _checkpoint_step(path: Path) -> str:
    try:
        return str(load_checkpoint(path, "last checkpoint").get("global_step", "?"))
    except MotionlabError:
        return "?"


def stop_reason(trainer: pl.Trainer, opt) -> str:
    """Why ``fit`` returned, in words: early stopping, the time limit, max_steps or max_epochs."""
    for cb in trainer.callbacks:
        if isinstance(cb, EarlyStopping) and cb.stopped_epoch > 0:
            return f"early stopping: {opt.monitor} did not improve for {opt.early_stopping_patience} validation checks (epoch {trainer.current_epoch}, step {trainer.global_step})"
        if isinstance(cb, Timer) and cb.time_remaining() is not None and cb.time_remaining() <= 0:
            return f"time limit: --max_time_minutes {opt.max_time_minutes:g} reached (epoch {trainer.current_epoch}, step {trainer.global_step})"
    if opt.max_steps > 0 and trainer.global_step >= opt.max_steps:
        return f"max_steps={opt.max_steps} reached"
    if trainer.interrupted:
        return f"interrupted at epoch {trainer.current_epoch}, step {trainer.global_step}; continue with --resume"
    return f"max_epochs={opt.max_epochs} reached (step {trainer.global_step})"


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        opt = parse_options(argv)
        result = train(opt)
    except MotionlabError as e:
        print(f"motionlab train: error: {e}", file=sys.stderr)
        return 2
    if result["best_checkpoint"]:
        print(f"motionlab: best checkpoint {result['best_checkpoint']}")
    print(f"motionlab: experiment written to {result['experiment_dir']} (tensorboard --logdir {Path(result['experiment_dir']).parent})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
