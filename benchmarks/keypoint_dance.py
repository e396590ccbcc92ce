"""Does a dance generated on keypoint features move like the real one? Prints JSON.

Imports the real Dance with Melody takes (``$MOTIONLAB_REAL_DATA/paired/dance_with_melody``) with
``motionlab import dance_melody`` (root as per-frame steps + heading, joints relative to the root),
adds audio features, standardises, trains a small model for ``--minutes``, generates every test
take and compares, in world units (cm per frame at 25 fps): the root's speed, the joints' speed
relative to the root, and the spread of the root path, generated against ground truth. Also writes
a side-by-side video (generated | ground truth) and one PNG frame of it to ``--out``.

    python benchmarks/keypoint_dance.py [--model transflower] [--minutes 3] [--temperature 1] [--no-residual] [--out /tmp/kpdance]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def speeds(pos: np.ndarray) -> dict:
    """Root speed, root-relative joint speed (cm/frame) and root path extent (cm) of (T, J, 3) positions (root last)."""
    root = pos[:, -1]
    rel = pos[:, :-1] - root[:, None]
    return {
        "root_speed": float(np.linalg.norm(np.diff(root[:, [0, 2]], axis=0), axis=-1).mean()),
        "root_max_step": float(np.linalg.norm(np.diff(root[:, [0, 2]], axis=0), axis=-1).max()),
        "joint_speed": float(np.linalg.norm(np.diff(rel, axis=0), axis=-1).mean()),
        "root_path_extent": float(np.ptp(root[:, [0, 2]], axis=0).max()),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="transflower", help="a demo model: hparams/demo/<model>.yaml")
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--residual", action=argparse.BooleanOptionalAction, default=True, help="model each frame as its change from the last (flow models)")
    p.add_argument("--out", default=None, help="folder for the video and PNG (default: a temporary folder)")
    args = p.parse_args(argv)
    real = Path(os.environ.get("MOTIONLAB_REAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "real"))
    src = real / "paired" / "dance_with_melody"
    if not src.is_dir():
        print(f"no Dance with Melody takes in {src}", file=sys.stderr)
        return 2
    from motionlab.cli import main as cli
    from motionlab.datafolder import DataFolder
    from motionlab.inference import generate as gen
    from motionlab.inference.outputs import positions_and_bones, write_video
    from motionlab.training.options import parse_options
    from motionlab.training.train import train

    tmp = Path(tempfile.mkdtemp(prefix="kpdance_"))
    out = Path(args.out) if args.out else tmp / "out"
    data = tmp / "data"
    assert cli(["import", "dance_melody", str(src), str(data)]) == 0
    assert cli(["extract", "audio", str(data), "--fps", "25", "--no_progress"]) == 0
    assert cli(["extract", "scale", str(data)]) == 0
    folder = DataFolder(data)
    audio = next(f for f in folder.feature_names() if f.startswith("audio_"))
    motion = "keypoints3d_cr_25fps"
    opt = parse_options([
        "--hparams_file", f"demo/{args.model}", "--data_dir", str(data), "--experiments_dir", str(tmp / "exp"), "--experiment_name", "kp",
        "--input_modalities", f"{audio},{motion}", "--output_modalities", motion, "--no-make_demo_data", "--max_epochs", "100000",
        "--max_time_minutes", str(args.minutes), "--lr_policy", "none", "--no-progress_bar", "--batch_size", "32",
        *(["--residual"] if args.residual else []),
    ])
    result = train(opt)
    report = {"model": args.model, "minutes": args.minutes, "temperature": args.temperature, "residual": args.residual, "stop_reason": result["stop_reason"], "val_loss": result["metrics"].get("val_loss"),
              "train_takes": len(folder.split("train")), "test_takes": folder.split("test"), "takes": {}}
    model, opt2, _ = gen.Experiment("kp", tmp / "exp").load_model()
    dataset = gen.build_dataset(opt2)
    for seq in folder.split("test"):
        generated = gen.generate_sequence(model, opt2, dataset, seq, seed_from="auto", temperature=args.temperature)[motion]
        truth = gen.unscale(folder, motion, dataset.sequence_inputs(seq)[motion])
        g, _, _ = positions_and_bones(data, motion, generated, seq)
        t, _, _ = positions_and_bones(data, motion, truth, seq)
        report["takes"][seq] = {"generated": speeds(g), "ground_truth": speeds(t), "frames": len(g)}
        audio_path, start = folder.audio_for(seq)
        video = write_video(data, motion, generated[:500], out / f"{seq}.mp4", seq, audio_path, start, compare_features=truth[:500])
        import imageio_ffmpeg

        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-ss", "8", "-i", str(video), "-frames:v", "1", str(out / f"{seq}.png")], check=True)
    report["video_folder"] = str(out)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
