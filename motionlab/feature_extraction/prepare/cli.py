"""``motionlab prepare DIR`` and ``motionlab extract audio|motion|keypoints|text|scale DIR``."""

from __future__ import annotations

import argparse
import logging

from motionlab.feature_extraction.prepare.run import prepare, scale_features
from motionlab.feature_extraction.prepare.settings import STEPS, PrepareSettings
from motionlab.utils.errors import MotionlabError

EXTRACT_STEPS = {"audio": ("audio",), "motion": ("motion",), "keypoints": ("motion",), "text": ("text",)}


def add_prepare_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    d = PrepareSettings()
    p.add_argument("dir", help="folder of paired takes (take1.bvh + take1.wav, ...); features are written into it")
    p.add_argument("--fps", type=float, default=d.fps, help="frame rate of every feature")
    p.add_argument("--audio_features", default=",".join(d.audio_features), help="comma-separated: mel, logmel, mfcc, chroma, onset, beats, downbeats, flux, rms")
    p.add_argument("--n_mels", type=int, default=d.n_mels)
    p.add_argument("--sample_rate", type=int, default=d.sample_rate, help="audio is resampled to this rate before analysis")
    p.add_argument("--motion_representation", default=d.motion_representation, choices=["expmap", "rot6d", "quat", "positions"])
    p.add_argument("--joints", default=None, help="comma-separated BVH joint names to keep (default: all)")
    p.add_argument("--mirror", action="store_true", help="add left/right mirrored copies of the train takes")
    p.add_argument("--keypoints_fps", type=float, default=None, help="frame rate of .npy / OpenPose keypoint takes")
    p.add_argument("--keypoints_heading_joints", default=None, metavar="L,R",
                   help="3-D keypoint takes: indices of a left,right joint pair (e.g. the hips) whose direction gives the heading; "
                   "root steps and joints are then stored in the character's frame (default: heading held fixed, world axes)")
    p.add_argument("--keypoints_up_axis", default=d.keypoints_up_axis, choices=["x", "y", "z"], help="vertical axis of 3-D keypoint takes")
    p.add_argument("--split_mode", default=d.split_mode, choices=["auto", "takes", "time"])
    p.add_argument("--val_fraction", type=float, default=d.val_fraction)
    p.add_argument("--test_fraction", type=float, default=d.test_fraction)
    p.add_argument("--text_embeddings", action="store_true", help="also per-frame sentence embeddings (pip install motionlab[text])")
    p.add_argument("--transcribe", action=argparse.BooleanOptionalAction, default=None,
                   help="takes with audio but no <take>.words.csv / .TextGrid: word timings by PocketSphinx, offline (aligning <take>.txt when present); "
                   "default: on for `extract text`, off for `prepare`")
    p.add_argument("--strict", action="store_true", help="refuse takes whose audio and motion durations differ by more than 1 s")
    p.add_argument("--seed", type=int, default=d.seed, help="shuffles takes into splits")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--replace_existing", action="store_true", help="recompute even when prepare.json says the folder is up to date")
    p.add_argument("--no_progress", action="store_true")
    return p


def parse_joint_pair(value: str | None, option: str) -> list[int] | None:
    """'16,7' -> [16, 7] (None stays None); anything else is an error naming the option."""
    if value is None or value == "":
        return None
    parts = [v.strip() for v in str(value).split(",")]
    try:
        pair = [int(v) for v in parts]
    except ValueError:
        pair = []
    if len(pair) != 2 or any(j < 0 for j in pair):
        raise MotionlabError(f"{option}: expected two joint indices 'left,right' (e.g. 16,7), found {value!r}")
    return pair


def settings_from_args(args) -> PrepareSettings:
    return PrepareSettings(
        fps=args.fps, audio_features=[f for f in args.audio_features.split(",") if f], n_mels=args.n_mels, sample_rate=args.sample_rate,
        motion_representation=args.motion_representation, joints=args.joints.split(",") if args.joints else None, mirror=args.mirror,
        keypoints_fps=args.keypoints_fps, keypoints_heading_joints=parse_joint_pair(args.keypoints_heading_joints, "--keypoints_heading_joints"),
        keypoints_up_axis=args.keypoints_up_axis, split_mode=args.split_mode, val_fraction=args.val_fraction, test_fraction=args.test_fraction,
        text_embeddings=args.text_embeddings, transcribe=bool(args.transcribe), strict=args.strict, seed=args.seed,
    )


def prepare_lock(folder):
    """One prepare/extract at a time per data folder: a second one is refused while the first writes."""
    from pathlib import Path

    from motionlab.utils.locks import directory_lock

    if not Path(folder).is_dir():
        raise MotionlabError(f"{folder}: folder not found")
    return directory_lock(folder, f"{folder}: another motionlab prepare/extract is writing this folder; wait for it to finish, then run this again")


def main(argv=None, steps=STEPS, prog="motionlab prepare") -> int:
    from motionlab.feature_extraction import prepare as package

    p = add_prepare_arguments(argparse.ArgumentParser(prog=prog, description=package.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))
    args = p.parse_args(argv)
    if args.transcribe is None:
        args.transcribe = steps == ("text",)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with prepare_lock(args.dir):
        summary = prepare(args.dir, settings_from_args(args), steps=steps, jobs=args.jobs, replace_existing=args.replace_existing, progress=not args.no_progress)
    print(summary.text(args.dir))
    return 0


def extract_main(argv) -> int:
    """``motionlab extract audio|motion|keypoints|text|scale|clusters DIR ...``: one step of prepare."""
    if argv and argv[0] == "clusters":
        from motionlab.feature_extraction.pose_clusters import main as clusters_main

        return clusters_main(argv[1:])
    if argv and argv[0] == "scale":
        p = argparse.ArgumentParser(prog="motionlab extract scale", description=scale_features.__doc__)
        p.add_argument("dir")
        p.add_argument("--features", default="", help="comma-separated feature names (default: every feature with a .meta.json)")
        args = p.parse_args(argv[1:])
        with prepare_lock(args.dir):
            scaled = scale_features(args.dir, [f for f in args.features.split(",") if f] or None)
        for name, what in scaled.items():
            print(f"{name}: {what}")
        return 0
    if not argv or argv[0] not in EXTRACT_STEPS:
        raise MotionlabError(f"usage: motionlab extract {{{'|'.join(EXTRACT_STEPS)}|scale|clusters}} DIR [options]")
    return main(argv[1:], steps=EXTRACT_STEPS[argv[0]], prog=f"motionlab extract {argv[0]}")
