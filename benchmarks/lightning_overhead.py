"""Training-step overhead of motionlab's Lightning loop over a bare PyTorch loop (issue 14: ≤ 5 %).

The same model (hparams/demo.yaml's transformer, or --hparams_file), the same data (the demo folder)
and the same batches: (1) a bare loop — a StatefulDataLoader, ``model.compute_loss``, backward,
gradient clipping, optimiser and per-step LR schedule steps; (2) ``motionlab.training.train.train`` with every callback of a real run except
validation (limit_val_batches 0) and the progress bar, TensorBoard logging every
``--log_every_n_steps``. Each is timed over the steps after a warm-up; best of ``--repeats``.
Prints JSON with the ratio Lightning / bare.

    .venv/bin/python benchmarks/lightning_overhead.py [--steps 200] [--hparams_file demo/transflower]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from torchdata.stateful_dataloader import StatefulDataLoader

from motionlab.datasets.demo_data import make_demo_data
from motionlab.datasets.multimodal_dataset import MultimodalDataset
from motionlab.models import find_model_using_name
from motionlab.training.options import parse_options
from motionlab.training.train import train


class StepTimes(pl.Callback):
    """Wall time from the start of training step ``warmup`` to the end of the last one."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.end = warmup, None, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.warmup and self.start is None:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.end = time.perf_counter()


def bare(opt, steps: int, warmup: int) -> float:
    pl.seed_everything(opt.seed, verbose=False)
    data = MultimodalDataset(opt, "train")
    model = find_model_using_name(opt.model).from_dataset(opt, data)
    model.train()
    config = model.configure_optimizers()  # the same optimiser and per-step LR schedule Lightning drives
    optimizer = config["optimizer"] if isinstance(config, dict) else config
    schedule = config.get("lr_scheduler") if isinstance(config, dict) else None
    scheduler = schedule["scheduler"] if schedule and schedule.get("interval") == "step" else None
    loader = StatefulDataLoader(data, batch_size=opt.batch_size, shuffle=True, drop_last=True, num_workers=0)
    done, start = 0, None
    while done < steps:
        for batch in loader:
            if done == warmup:
                start = time.perf_counter()
            loss, _ = model.compute_loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if opt.gradient_clip_val:
                torch.nn.utils.clip_grad_norm_(model.parameters(), opt.gradient_clip_val)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            done += 1
            if done == steps:
                break
    return (time.perf_counter() - start) / (steps - warmup)


def lightning(opt, steps: int, warmup: int) -> float:
    timer = StepTimes(warmup)
    import motionlab.training.train as train_module

    original = train_module.pl.Trainer

    def with_timer(*args, **kwargs):
        kwargs["callbacks"] = list(kwargs.get("callbacks") or []) + [timer]
        return original(*args, **kwargs)

    train_module.pl.Trainer = with_timer
    try:
        train(opt)
    finally:
        train_module.pl.Trainer = original
    return (timer.end - timer.start) / (steps - warmup)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hparams_file", default="demo")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = make_demo_data(Path(tmp) / "data")
        results = {"bare": [], "lightning": []}
        for r in range(args.repeats):
            common = ["--hparams_file", args.hparams_file, "--data_dir", str(data), "--experiments_dir", str(Path(tmp) / "exp"), "--no-progress_bar",
                      "--max_steps", str(args.steps), "--max_epochs", "1000", "--limit_val_batches", "0", "--num_workers", "0", "--overwrite",
                      "--experiment_name", f"run{r}"]
            opt = parse_options(common)
            results["bare"].append(bare(opt, args.steps, args.warmup))
            results["lightning"].append(lightning(opt, args.steps, args.warmup))
    b, lt = min(results["bare"]), min(results["lightning"])
    print(json.dumps({"hparams_file": args.hparams_file, "model": opt.model, "batch_size": opt.batch_size, "steps_timed": args.steps - args.warmup,
                      "threads": torch.get_num_threads(), "bare_ms_per_step": round(1000 * b, 3), "lightning_ms_per_step": round(1000 * lt, 3),
                      "lightning_over_bare": round(lt / b, 4)}, indent=1))


if __name__ == "__main__":
    main()
