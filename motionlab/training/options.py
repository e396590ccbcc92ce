"""The training entry point's options: the base groups, and reading them back from an experiment.

The machinery (typed lists/bools, YAML with ``base:``, the two-stage parse and its precedence:
base defaults < model/dataset defaults < hparams YAML < command line) lives on the ground floor in
:mod:`motionlab.options`; this module only declares the base options and names experiments.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from motionlab import options as _options
from motionlab.options import HPARAMS_DIR, add_bool_option, add_list_option, bounded
from motionlab.utils.errors import MotionlabError

positive_int = bounded(int, 1, what="an integer")
non_negative_int = bounded(int, 0, what="an integer")
non_negative_float = bounded(float, 0.0, what="a number")


def base_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="motionlab train",
        description="Train a motionlab model. Model- and dataset-specific options appear with --model/--dataset_name.",
        add_help=add_help,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("base")
    g.add_argument("--hparams_file", default=None, help="YAML file of option defaults (a name under hparams/ or a path)")
    g.add_argument("--experiment_name", default=None, help="folder name under --experiments_dir (default: hparams name)")
    g.add_argument("--experiments_dir", default="training/experiments", help="where experiments are written")
    g.add_argument("--data_dir", default="data/demo", help="data folder (see README: data layout)")
    g.add_argument("--model", default="transformer", help="model name (motionlab info lists them)")
    g.add_argument("--dataset_name", default="multimodal", help="dataset name (motionlab info lists them)")
    add_list_option(g, "--plugins", str, help="extra modules to search for models/datasets")
    g.add_argument("--batch_size", type=positive_int, default=32)
    g.add_argument("--val_batch_size", type=positive_int, default=None, help="defaults to --batch_size")
    g.add_argument("--num_workers", type=non_negative_int, default=0)
    g.add_argument("--seed", type=int, default=0)

    o = p.add_argument_group("optimisation")
    o.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd"])
    o.add_argument("--learning_rate", type=non_negative_float, default=1e-3)
    o.add_argument("--weight_decay", type=float, default=0.0)
    o.add_argument("--momentum", type=float, default=0.9, help="sgd only")
    o.add_argument("--lr_policy", default="none", choices=["none", "step", "cosine", "plateau", "multistep"])
    add_list_option(o, "--lr_milestones", int, [], "multistep: epochs after which the learning rate is multiplied by --lr_decay_factor (SDT: 90,98 with 0.1)")
    o.add_argument("--lr_decay_steps", type=positive_int, default=1000, help="step: optimizer steps between decays")
    o.add_argument("--lr_decay_factor", type=float, default=0.5, help="step/plateau/multistep: multiplicative factor")
    o.add_argument("--lr_plateau_patience", type=int, default=5, help="plateau: epochs without improvement")
    o.add_argument("--warmup_steps", type=non_negative_int, default=0, help="linear warm-up over this many optimizer steps")
    o.add_argument("--gradient_clip_val", type=non_negative_float, default=0.0, help="0 disables clipping")
    o.add_argument("--accumulate_grad_batches", type=positive_int, default=1)
    o.add_argument("--input_noise", type=non_negative_float, default=0.0, help="std of Gaussian noise added in training to the inputs the model feeds back to itself (modalities both input and output; scaled units): an autoregressive model learns to correct its own errors instead of drifting (0: off)")

    t = p.add_argument_group("trainer")
    t.add_argument("--max_epochs", type=bounded(int, -1, what="an integer"), default=100)
    t.add_argument("--max_steps", type=int, default=-1)
    t.add_argument("--min_epochs", type=int, default=0)
    t.add_argument("--max_time_minutes", type=non_negative_float, default=0.0, help="stop after this wall time (0: no limit)")
    t.add_argument("--early_stopping_patience", type=non_negative_int, default=0, help="epochs without improvement of --monitor (0: off)")
    t.add_argument("--monitor", default="val_loss", help="metric for best checkpoint and early stopping")
    t.add_argument("--monitor_mode", default="min", choices=["min", "max"])
    t.add_argument("--accelerator", default="auto")
    t.add_argument("--devices", default="auto", help="number of devices, 'auto', or a list like 0,1")
    t.add_argument("--num_nodes", type=positive_int, default=1)
    t.add_argument("--strategy", default="auto", help="e.g. ddp, ddp_find_unused_parameters_true")
    t.add_argument("--ddp_timeout_seconds", type=positive_int, default=1800, help="DDP: a collective that waits this long for a lost or stuck rank fails instead of hanging")
    t.add_argument("--precision", default="32-true", help="32-true, 16-mixed, bf16-mixed, ...")
    t.add_argument("--val_check_interval", type=float, default=1.0)
    t.add_argument("--limit_train_batches", type=float, default=1.0)
    t.add_argument("--limit_val_batches", type=float, default=1.0)
    t.add_argument("--log_every_n_steps", type=positive_int, default=20)
    add_bool_option(t, "--resume", False, help="continue from the experiment's last checkpoint")
    t.add_argument("--pretrained_from", default=None, help="checkpoint to load weights from (weights only)")
    add_bool_option(t, "--progress_bar", True)
    add_bool_option(t, "--deterministic", False)

    e = p.add_argument_group("experiment")
    add_bool_option(e, "--make_demo_data", False, "create the demo data when --data_dir is the demo's own folder (data/demo) and missing")
    add_bool_option(e, "--overwrite", False, "replace an existing experiment's checkpoints instead of refusing")
    e.add_argument("--checkpoint_every_n_steps", type=non_negative_int, default=0, help="also save last.ckpt every N steps (0: each epoch)")
    add_bool_option(e, "--log_sample_indices", False, "write the window indices each rank trained on in epoch 0")
    add_list_option(e, "--val_metrics", str, [], "metrics logged from validation as val_<name>: l1, mse, fid (Fréchet distance of the output frames, scaled features); motionlab evaluate computes the rest")
    e.add_argument("--log_video_every_n_val", type=non_negative_int, default=0, help="every N validations, render a short generated sample of the first val sequence (beside its ground truth) to <exp>/samples/ and TensorBoard (0: never)")
    return p




def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    """The training options from ``--hparams_file`` (with its ``base:`` chain) and the command line."""
    opt, hp_path = _options.parse_options(argv, base_parser)
    if opt.hparams_file is not None:
        opt.hparams_file = str(hp_path)
    if opt.experiment_name is None:
        opt.experiment_name = default_experiment_name(hp_path, opt.model)
    return opt


def default_experiment_name(hp_path: Path | None, model: str) -> str:
    """hparams/demo/transflower.yaml -> demo_transflower; a file elsewhere -> its stem; none -> the model name."""
    if hp_path is None:
        return model
    parts = hp_path.resolve().with_suffix("").parts
    if HPARAMS_DIR in parts:
        i = len(parts) - 1 - parts[::-1].index(HPARAMS_DIR)
        return "_".join(parts[i + 1 :])
    return hp_path.stem


def load_experiment_options(exp_dir, argv: list[str] | None = None) -> argparse.Namespace:
    """An experiment's saved ``hparams.yaml`` parsed through the same parser as training.

    Types and choices are checked again (a hand-edited file gets the same messages as a hparams
    file), options added to motionlab since the run take their defaults, and ``argv`` may override
    values (e.g. ``--data_dir``).
    """
    path = Path(exp_dir) / "hparams.yaml"
    if not path.exists():
        raise MotionlabError(f"{path}: no hparams.yaml (is {exp_dir} an experiment folder made by motionlab train?)")
    values = _options.load_yaml(path)
    values.pop("hparams_file", None)  # the run's file may have changed or moved since; the saved values are complete
    opt, _ = _options.parse_options(list(argv or []), base_parser, yaml_values=values, source_name=str(path))
    return opt
