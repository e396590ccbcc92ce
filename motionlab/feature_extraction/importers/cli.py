"""``motionlab import dance_melody|pats|sdt SRC OUT``: bring a published layout into a data folder."""

from __future__ import annotations

import argparse

from motionlab.utils.errors import MotionlabError


def main(argv) -> int:
    p = argparse.ArgumentParser(prog="motionlab import", description=__doc__)
    sub = p.add_subparsers(dest="layout", required=True)
    d = sub.add_parser("dance_melody", help="Dance with Melody takes (skeletons.json, audio.mp3, config.json)")
    d.add_argument("--val_takes", default="", help="comma-separated take names for the val split (default: chosen with --seed)")
    d.add_argument("--test_takes", default="", help="comma-separated take names for the test split (default: chosen with --seed)")
    d.add_argument("--seed", type=int, default=0, help="shuffles the takes into the splits nobody named")
    d.add_argument("--split_mode", choices=["takes", "time"], default="takes", help="whole takes per split, or every take cut in time (its last --test_fraction is <take>-test, the --val_fraction before it <take>-val): every style in every split")
    d.add_argument("--val_fraction", type=float, default=0.15, help="--split_mode time: share of each take for val")
    d.add_argument("--test_fraction", type=float, default=0.15, help="--split_mode time: share of each take for test")
    pa = sub.add_parser("pats", help="PATS h5 intervals + split csv")
    pa.add_argument("--split_csv", default=None)
    pa.add_argument("--speakers", default="", help="comma-separated speakers to import (default all)")
    sd = sub.add_parser("sdt", help="Speech Drives Templates npz clips + csv index")
    sd.add_argument("--audio_sr", type=int, default=16000, help="sample rate of the npz audio when it records none")
    for sp in (pa, sd):
        sp.add_argument("--allow_empty_splits", action="store_true", help="import even when the published val or test split has no imported sequence (a warning)")
    for sp in (d, pa, sd):
        sp.add_argument("src", help="source folder")
        sp.add_argument("out", help="data folder to write")
    args = p.parse_args(argv)
    split = lambda s: [x for x in s.split(",") if x]  # noqa: E731
    if args.layout == "dance_melody":
        from motionlab.feature_extraction.importers.dance_melody import import_dance_melody, motion_feature_name

        takes = import_dance_melody(args.src, args.out, val_takes=split(args.val_takes), test_takes=split(args.test_takes), seed=args.seed,
                                    split_mode=args.split_mode, val_fraction=args.val_fraction, test_fraction=args.test_fraction)
        chosen = ", ".join(f"{sp}: {' '.join(t['take'] for t in takes if t['split'] == sp)}" for sp in ("val", "test"))
        print(
            f"motionlab: imported {len(takes)} {'sequences' if args.split_mode == 'time' else 'takes'} into {args.out} ({chosen}) as motion feature {motion_feature_name(25)} "
            f"(root steps + heading, joints relative to the root); next: motionlab extract audio {args.out} --fps 25 && motionlab extract scale {args.out}, "
            f"then train with --output_modalities {motion_feature_name(25)}"
        )
    elif args.layout == "pats":
        from motionlab.feature_extraction.importers.pats import import_pats

        done = import_pats(args.src, args.out, split_csv=args.split_csv, speakers=split(args.speakers) or None, allow_empty_splits=args.allow_empty_splits)
        print(f"motionlab: imported {len(done)} intervals into {args.out}; next: motionlab extract scale {args.out}")
    elif args.layout == "sdt":
        from motionlab.feature_extraction.importers.sdt import import_sdt

        done = import_sdt(args.src, args.out, audio_sr=args.audio_sr, allow_empty_splits=args.allow_empty_splits)
        print(f"motionlab: imported {len(done)} clips into {args.out}; next: motionlab extract audio {args.out} --fps 15 && motionlab extract scale {args.out}")
    else:  # argparse already refuses other names
        raise MotionlabError(f"unknown layout {args.layout}")
    return 0
