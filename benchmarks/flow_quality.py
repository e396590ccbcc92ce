"""Held-out NLL of the flow models on a real take, against a per-dimension Gaussian baseline.

Prepares the ZEGGS speech take of the real data folder at 20 fps with a time split (first 80%
train, last 20% validation), trains each flow model at its demo size for at most ``--minutes``
on this machine, and reports the validation NLL in nats per dimension of the best checkpoint
next to the NLL of a diagonal Gaussian fit to the training frames. Prints JSON.

    MOTIONLAB_REAL_DATA=../shared/data/real python benchmarks/flow_quality.py --minutes 6
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

MODELS = ["transflower", "transformerflow", "moglow", "transglower", "residualflower"]


def gaussian_baseline(data_dir: Path, feature: str) -> float:
    """NLL (nats/dim) of validation frames under a per-dimension Gaussian fit to the training frames."""
    read = lambda split: np.concatenate([np.load(data_dir / f"{s}.{feature}.npy") for s in (data_dir / f"base_filenames_{split}.txt").read_text().split()])  # noqa: E731
    train, val = read("train").astype(np.float64), read("val").astype(np.float64)
    mu, var = train.mean(0), train.var(0) + 1e-6
    return float(np.mean(0.5 * np.log(2 * math.pi * var) + (val - mu) ** 2 / (2 * var)))


def heldout_nll(exp_dir: Path, opt) -> float:
    from motionlab.datasets import find_dataset_using_name
    from motionlab.training.experiment import Experiment

    model, _, _ = Experiment(exp_dir).load_model()
    val = find_dataset_using_name(opt.dataset_name)(opt, "val")
    total, n = 0.0, 0
    with torch.no_grad():
        for batch in torch.utils.data.DataLoader(val, batch_size=256):
            _, terms = model.compute_loss(batch)
            key = "nll_nats_per_dim" if "nll_nats_per_dim" in terms else next(k for k in terms if k.endswith("nll_nats_per_dim"))
            b = batch["outputs"][0].shape[0]
            total += float(terms[key]) * b
            n += b
    return total / n


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--minutes", type=float, default=6.0)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--residual", action=argparse.BooleanOptionalAction, default=True, help="flows model the change from the last input frame (--residual; residual_residual for residualflower)")
    args = p.parse_args(argv)
    real = Path(os.environ.get("MOTIONLAB_REAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "real"))
    from motionlab.feature_extraction.prepare import PrepareSettings, prepare
    from motionlab.options import build_parser
    from motionlab.training.options import base_parser, parse_options
    from motionlab.training.train import train

    out = {"take": "zeggs_067_speech_2", "fps": 20, "split": "time 80/20", "minutes_per_model": args.minutes, "residual": args.residual, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        for f in (real / "paired" / "zeggs_067_speech_2").iterdir():
            (data / f.name).symlink_to(f)
        prepare(data, PrepareSettings(fps=20, split_mode="time", val_fraction=0.2, test_fraction=0.0), progress=False)
        audio, motion = "audio_mel80_onset_beats_20fps", "bvh_expmap_cr_20fps"
        out["motion_dims"] = int(np.load(data / f"067_Speech_2_x_1_0.{motion}.npy").shape[1])
        out["gaussian_baseline_nats_per_dim"] = round(gaussian_baseline(data, motion), 4)
        for name in args.models.split(","):
            residual_flag = f"--{'residual_' if name == 'residualflower' else ''}residual"
            known = build_parser(base_parser(), name, "multimodal")._option_string_actions
            use_residual = args.residual and residual_flag in known  # moglow has no residual option
            opt = parse_options([
                "--hparams_file", f"demo/{name}", "--data_dir", str(data), "--experiments_dir", str(Path(tmp) / "exp"),
                "--input_modalities", f"{audio},{motion}", "--output_modalities", motion, "--no-make_demo_data",
                "--max_epochs", "100000", "--max_time_minutes", str(args.minutes), "--lr_policy", "none", "--no-progress_bar",
                *([residual_flag] if use_residual else []),
            ])
            t = time.perf_counter()
            result = train(opt)
            nll = heldout_nll(Path(result["experiment_dir"]), opt)
            out["models"][name] = {
                "heldout_nll_nats_per_dim": round(nll, 4),
                "better_than_gaussian_by_nats_per_dim": round(out["gaussian_baseline_nats_per_dim"] - nll, 4),
                "train_minutes": round((time.perf_counter() - t) / 60, 2),
                "steps": result["global_step"],
                "residual": use_residual,
            }
            print(json.dumps({name: out["models"][name]}), file=sys.stderr)
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
