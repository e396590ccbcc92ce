"""How long evaluation takes: seconds to score one hour of motion, and the FGD autoencoder's training time. Prints JSON.

A synthetic demo data folder whose test split holds ``--hours`` of motion at 20 fps (4 joints) is
scored with ``motionlab evaluate --generated_dir`` (the ground truth copied as the "generated"
motion, so generation time is not counted) against all four baselines, with FGD. The FGD
autoencoder (``hparams/analysis/fgd_autoencoder.yaml``) is trained on the train split first and
timed. Beat metrics need audio files, which the demo data has not; ``--real`` also times the beat
and foot-contact metrics on the real ZEGGS take (``$MOTIONLAB_REAL_DATA``), per minute of motion.

    python benchmarks/evaluation.py [--hours 1] [--real]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hours", type=float, default=1.0)
    p.add_argument("--real", action="store_true")
    args = p.parse_args(argv)
    from motionlab.analysis import evaluate
    from motionlab.datafolder import DataFolder
    from motionlab.datasets.demo_data import make_demo_data
    from motionlab.training.options import parse_options
    from motionlab.training.train import train

    tmp = Path(tempfile.mkdtemp(prefix="evalbench_"))
    seconds_per_seq = 120.0
    n_test = max(1, int(round(args.hours * 3600 / seconds_per_seq)))
    n = 8 * n_test  # demo splits: 1/8 val, 1/8 test
    data = make_demo_data(tmp / "data", n_sequences=n, seconds=seconds_per_seq)
    folder = DataFolder(data)
    exp = tmp / "exp"
    common = ["--data_dir", str(data), "--experiments_dir", str(exp), "--no-progress_bar", "--no-make_demo_data"]
    train(parse_options(["--hparams_file", "demo", *common, "--max_epochs", "1", "--limit_train_batches", "2", "--limit_val_batches", "1"]))
    t = time.perf_counter()
    ae = train(parse_options(["--hparams_file", "analysis/fgd_autoencoder", *common, "--input_modalities", "demo_motion", "--output_modalities", "demo_motion", "--experiment_name", "fgd"]))
    fgd_seconds = time.perf_counter() - t
    gen_dir = tmp / "generated"
    gen_dir.mkdir()
    for q in folder.split("test"):
        raw = folder.scaler("demo_motion").inverse_transform(np.asarray(folder.open_feature(q, "demo_motion")))
        np.save(gen_dir / f"{q}.demo_motion.generated.npy", raw.astype(np.float32))
    t = time.perf_counter()
    rc = evaluate.main(["demo", "--experiments_dir", str(exp), "--generated_dir", str(gen_dir), "--fgd_model", "fgd", "--output_folder", str(tmp / "eval"), "--no-progress"])
    eval_seconds = time.perf_counter() - t
    test_frames = sum(len(folder.open_feature(q, "demo_motion")) for q in folder.split("test"))
    out = {
        "test_hours": round(test_frames / 20 / 3600, 3), "sequences": len(folder.split("test")), "systems": 5,
        "evaluate_seconds": round(eval_seconds, 1), "evaluate_seconds_per_hour": round(eval_seconds / (test_frames / 20 / 3600), 1),
        "fgd_autoencoder_train_seconds": round(fgd_seconds, 1), "fgd_autoencoder_stop": ae["stop_reason"], "fgd_autoencoder_val_loss": ae["metrics"].get("val_loss"),
        "train_hours": round(sum(len(folder.open_feature(q, "demo_motion")) for q in folder.split("train")) / 20 / 3600, 3), "exit_code": rc,
    }
    if args.real:
        out["real"] = time_real_metrics()
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=2))
    return 0


def time_real_metrics() -> dict:
    """Beat and foot-contact metrics on the real ZEGGS take: seconds per minute of motion."""
    from motionlab.analysis import alignment, physical
    from motionlab.feature_extraction.bvh import load_bvh

    real = Path(os.environ.get("MOTIONLAB_REAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "real"))
    take = real / "paired" / "zeggs_067_speech_2"
    motion = load_bvh(take / "067_Speech_2_x_1_0.bvh")
    pos, fps = motion.positions(), motion.fps
    minutes = len(pos) / fps / 60
    t = time.perf_counter()
    beats, onsets = alignment.audio_beats(take / "067_Speech_2_x_1_0.wav"), alignment.audio_onsets(take / "067_Speech_2_x_1_0.wav")
    mb = alignment.motion_beats(pos, fps)
    alignment.beat_consistency(onsets, mb)
    alignment.beat_alignment_over_music_beats(beats, mb)
    beat_s = time.perf_counter() - t
    t = time.perf_counter()
    feet = physical.foot_joints(motion.skeleton.names)
    physical.pfc(pos, fps, feet, "y")
    pfc_s = time.perf_counter() - t
    return {"minutes": round(minutes, 2), "beat_metrics_seconds_per_minute": round(beat_s / minutes, 3), "pfc_seconds_per_minute": round(pfc_s / minutes, 4)}


if __name__ == "__main__":
    sys.exit(main())
