"""Collect the gesture GANs' real-data evaluations into one table (markdown on stdout, JSON with --json).

Run by ``benchmarks/real_gesture_gans.sh`` after it has trained and evaluated the models. Reads
``<eval_dir>/dance_{speech2gesture,stage,mixstage}/metrics.json`` (and
``gesture_speech2gesture`` when present); the baselines (mean pose, other clip, nearest
neighbour, ground truth) are the same in every dance evaluation, so they are read once and checked
to agree.

Speech2Gesture has no style input, so ``evaluate --style_transfer`` refuses it; to compare it with
StAGE / Mix-StAGE on the same footing, its generated test sequences (``--s2g_generated``, written
by ``generate``) are scored by the same style classifier against every OTHER style of the data, as
``evaluate`` scores a transfer: the accuracy a model that cannot follow a style request gets.

    python benchmarks/real_gesture_gans.py --experiments_dir /tmp/gan/exp --eval_dir /tmp/gan/eval \\
        --data_dir /tmp/gan/dance --style_model dance_style --s2g_generated /tmp/gan/generated/dance_speech2gesture
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

MODELS = ("speech2gesture", "stage", "mixstage")
BASELINES = ("mean_pose", "other_clip", "nearest", "ground_truth")
ROWS = [  # (key, label with the better direction)
    ("transfer_style_accuracy", "style transfer accuracy ↑ (target style)"),
    ("transfer_style_f1", "style transfer macro F1 ↑"),
    ("transfer_style_inception_score", "style transfer IS ↑"),
    ("style_accuracy", "own-style accuracy ↑"),
    ("style_f1", "own-style macro F1 ↑"),
    ("fgd", "FGD ↓"),
    ("fid_pose_normalised", "FID of z-normalised poses ↓"),
    ("l1", "L1 (scaled features) ↓"),
    ("bas_music_beats", "BAS over music beats ↑"),
    ("bas_motion_beats", "BAS over motion beats ↑"),
    ("beat_consistency", "beat consistency BC ↑"),
    ("diversity", "diversity (→ ground truth)"),
    ("cluster_f1", "pose-cluster F1 ↑"),
    ("speed_ratio", "speed ratio →1"),
    ("acceleration_ratio", "acceleration ratio →1"),
    ("jerk_ratio", "jerk ratio →1"),
    ("style_space_silhouette", "style-space silhouette ↑"),
]


def read_metrics(path: Path) -> dict:
    if not path.is_file():
        raise SystemExit(f"{path}: not found (run benchmarks/real_gesture_gans.sh, or evaluate that experiment first)")
    return json.loads(path.read_text())


def fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 0.01:
        return f"{v:.3f}".rstrip("0").rstrip(".") if a < 1 else f"{v:.2f}"
    return f"{v:.1e}"


def s2g_transfer(args) -> dict:
    """Score Speech2Gesture's own generations against every other style, as evaluate scores a transfer."""
    from motionlab.analysis.scoring import Scorer
    from motionlab.datafolder import DataFolder

    folder = DataFolder(args.data_dir)
    feature = args.feature
    labels = folder.speakers()
    scorer = Scorer(folder, feature, style_model=args.style_model, experiments_dir=args.experiments_dir)
    styles = sorted(set(labels.values()))
    arrays, targets = {}, {}
    for q in folder.split("test"):
        path = Path(args.s2g_generated) / f"{q}.{feature}.generated.npy"
        if not path.is_file():
            raise SystemExit(f"{path}: not found (generate it: ./script_generate.sh dance_speech2gesture {q} --output_folder ...)")
        a = np.load(path)
        for t in styles:
            if t != labels[q]:
                arrays[f"{q}.{labels[q]}_to_{t}"], targets[f"{q}.{labels[q]}_to_{t}"] = a, t
    return scorer.classified_scores(arrays, targets, prefix="transfer_style")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--experiments_dir", default="/tmp/gan/exp")
    p.add_argument("--eval_dir", default="/tmp/gan/eval")
    p.add_argument("--data_dir", default="/tmp/gan/dance")
    p.add_argument("--feature", default="keypoints3d_cr_25fps")
    p.add_argument("--style_model", default="dance_style")
    p.add_argument("--s2g_generated", default=None, help="folder of Speech2Gesture's generated test sequences (its transfer column)")
    p.add_argument("--prefix", default="dance_")
    p.add_argument("--json", default=None, help="also write the table here")
    args = p.parse_args(argv)
    eval_dir = Path(args.eval_dir)
    columns, baselines = {}, None
    for m in MODELS:
        data = read_metrics(eval_dir / f"{args.prefix}{m}" / "metrics.json")
        columns[m] = dict(data["systems"]["model"])
        base = {b: data["systems"][b] for b in BASELINES if b in data["systems"]}
        if baselines is None:
            baselines = base
        else:  # same data, same baselines: they must agree (transfer scores of the ground truth aside)
            for b, vals in base.items():
                for k in ("fgd", "speed_ratio", "beat_consistency"):
                    if k in vals and k in baselines.get(b, {}) and not np.isclose(vals[k], baselines[b][k], rtol=1e-6):
                        print(f"warning: baseline {b} {k} differs between evaluations ({vals[k]} vs {baselines[b][k]})", file=sys.stderr)
                baselines.setdefault(b, {}).update({k: v for k, v in vals.items() if k not in baselines[b]})
    if args.s2g_generated:
        columns["speech2gesture"].update(s2g_transfer(args))
    columns.update(baselines or {})
    names = list(columns)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key, label in ROWS:
        if any(key in columns[n] for n in names):
            lines.append(f"| {label} | " + " | ".join(fmt(columns[n].get(key)) for n in names) + " |")
    print("\n".join(lines))
    result = {"dance": columns}
    gesture = eval_dir / "gesture_speech2gesture" / "metrics.json"
    if gesture.is_file():
        g = read_metrics(gesture)["systems"]
        gnames = list(g)
        print("\nZEGGS gesture, Speech2Gesture:\n")
        print("| metric | " + " | ".join(gnames) + " |\n|---|" + "---|" * len(gnames))
        for key, label in ROWS:
            if any(key in g[n] for n in gnames):
                print(f"| {label} | " + " | ".join(fmt(g[n].get(key)) for n in gnames) + " |")
        result["gesture"] = g
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
