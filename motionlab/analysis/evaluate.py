"""``motionlab evaluate <exp> [--split test]``: generate for every sequence of a split, score it and the
baselines with the same metrics, and write ``inference/evaluation/<exp>/``.

Generated motion comes from the experiment's model (``motionlab generate``'s code path, seeded
from each sequence), or from ``--generated_dir`` holding ``<seq>.<feature>.generated.npy`` (so other
systems' outputs can be scored too; missing or extra sequences, other lengths and NaNs are refused).
The baselines (:mod:`motionlab.analysis.baselines`) and the ground truth go through the same
metrics. Output: ``metrics.json`` (every system), ``report.md`` (one table with arrows, the command
that made it) and PNG plots (speed and acceleration histograms, a beat timeline, per-joint error).

Style models: each sequence is generated in its own speaker's style; ``--style_transfer`` also
generates every sequence in every OTHER style the model knows and scores the style classifier
(``--style_model``) against the TARGET style (``transfer_style_*``; the ground-truth column scores
the untransferred source motion against the same targets: what no transfer at all would get).
Models with ``style_codes`` (StAGE, Mix-StAGE) get ``style_space.png``: their learned style space
of the split's real windows, by speaker (``--style_space pca|tsne``), and its silhouette.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from motionlab.analysis import baselines as bl
from motionlab.analysis import report
from motionlab.analysis.scoring import Scorer
from motionlab.datafolder import DataFolder
from motionlab.inference import generate as gen
from motionlab.inference import styles
from motionlab.options import ListType, bounded
from motionlab.training.experiment import Experiment
from motionlab.utils.errors import MotionlabError


def evaluate_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="motionlab evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, add_help=add_help)
    p.add_argument("experiment", help="experiment name (folder under --experiments_dir)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--experiments_dir", default="training/experiments")
    p.add_argument("--data_dir", default=None, help="data folder (default: the one the experiment trained on)")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--generated_dir", default=None, help="score <seq>.<feature>.generated.npy files from this folder instead of generating")
    p.add_argument("--output_folder", default="inference/evaluation")
    p.add_argument("--baselines", type=ListType(str), default=list(bl.BASELINES), help=f"comma-separated, of {', '.join(bl.BASELINES)}")
    p.add_argument("--fgd_model", default=None, help="experiment of a trained motion_autoencoder (./script_train.sh analysis/fgd_autoencoder) for FGD")
    p.add_argument("--ftd_model", default=None, help="experiment of a trained pose2pose_vae (./script_train.sh gesture/pose2pose_vae) for FTD (Fréchet distance of its μ; SDT)")
    p.add_argument("--style_model", default=None, help="experiment of a trained style_classifier for style accuracy/F1/IS")
    p.add_argument("--style_transfer", action="store_true", help="also generate every sequence in every other style of the model and score the style classifier against the target style (needs --style_model)")
    p.add_argument("--style_space", choices=["pca", "tsne"], default="pca", help="projection of the style-space plot (models with style_codes)")
    p.add_argument("--motion_beats", choices=["minima", "maxima"], default="minima", help="kinematic beats for BAS/BC: minima of joint speed (dance, as AIST++/Bailando/EMAGE) or maxima (co-speech gesture: strokes peak at speech onsets; on the real ZEGGS take only maxima rank the ground truth above shifted audio)")
    p.add_argument("--num_samples", type=bounded(int, 1, what="an integer"), default=1, help="samples per input (stochastic models: sample diversity)")
    p.add_argument("--max_sequences", type=bounded(int, 0, what="an integer"), default=0, help="evaluate at most this many sequences (0: all)")
    p.add_argument("--styles", type=ListType(str), default=[], help="only the sequences of these speakers/styles (labels of speakers.json; default: all)")
    p.add_argument("--max_length", type=bounded(int, 0, what="an integer"), default=0, help="frames per sequence at most (0: whole sequences)")
    p.add_argument("--window", type=bounded(int, 2, what="an integer"), default=0, help="clip length in frames for diversity, kinetic features and retrieval (default: 2 s)")
    p.add_argument("--random_seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    return p


def parse_args(argv=None) -> argparse.Namespace:
    """Two stages, like ``motionlab generate``: the experiment's model adds its generation options."""
    return gen.parse_with_model_options(evaluate_parser, argv)


def read_generated_dir(path: Path, feature: str, truth: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``<seq>.<feature>.generated.npy`` for exactly the split's sequences, each as long as its ground truth and finite."""
    path = Path(path)
    if not path.is_dir():
        raise MotionlabError(f"--generated_dir {path}: folder not found")
    tail = f".{feature}.generated.npy"
    found = {p.name[: -len(tail)]: p for p in path.glob(f"*{tail}")}
    missing = [q for q in truth if q not in found]
    if missing:
        raise MotionlabError(f"--generated_dir {path}: no {missing[0]}{tail} (missing {len(missing)} of the split's {len(truth)} sequences: {', '.join(missing[:5])})")
    extra = sorted(set(found) - set(truth))
    if extra:
        raise MotionlabError(f"--generated_dir {path}: {found[extra[0]].name} is not a sequence of the split (extra: {', '.join(extra[:5])}); evaluate another --split or remove it")
    out = {}
    for q, t in truth.items():
        p = found[q]
        try:
            a = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise MotionlabError(f"{p}: not a readable .npy array ({e})") from None
        if a.ndim == 3:  # (K, T, D): several samples
            pass
        elif a.ndim != 2:
            raise MotionlabError(f"{p}: expected (frames, {t.shape[1]}) or (samples, frames, {t.shape[1]}), found shape {a.shape}")
        if a.shape[-1] != t.shape[1] or a.shape[-2] != len(t):
            raise MotionlabError(f"{p}: expected {len(t)} frames x {t.shape[1]} features like the ground truth, found shape {a.shape}")
        bad = ~np.isfinite(a)
        if bad.any():
            first = np.argwhere(bad)[0]
            raise MotionlabError(f"{p}: contains {int(bad.sum())} NaN/inf values (first at index {tuple(int(i) for i in first)})")
        out[q] = a.astype(np.float32)
    return out


def sequences_of_styles(folder, seqs: list[str], styles: list[str]) -> list[str]:
    """The sequences of ``seqs`` whose speakers.json label is one of ``styles`` (unknown labels are refused, naming the known ones)."""
    labels = folder.speakers()
    if not labels:
        raise MotionlabError(f"--styles: {folder.path / 'speakers.json'} is missing; choosing sequences by style needs a label per sequence")
    known = sorted(set(labels.values()))
    unknown = [s for s in styles if s not in known]
    if unknown:
        raise MotionlabError(f"--styles: unknown style '{unknown[0]}' (the data has {', '.join(known)})")
    return [q for q in seqs if labels.get(q) in styles]


def run(args) -> list[Path]:
    exp = Experiment(args.experiment, args.experiments_dir)
    torch.manual_seed(args.random_seed)
    overrides = ["--data_dir", args.data_dir] if args.data_dir else []
    model, opt, ckpt = exp.load_model(args.checkpoint, args.device, overrides)
    dataset = gen.build_dataset(opt)
    folder: DataFolder = getattr(dataset, "folder", None) or DataFolder(opt.data_dir)
    feature = opt.output_modalities[0]
    given = [m for m in opt.input_modalities if m not in opt.output_modalities]
    audio = given[0] if given else None
    unknown = [b for b in args.baselines if b not in bl.BASELINES]
    if unknown:
        raise MotionlabError(f"--baselines: unknown '{unknown[0]}' (choose from {', '.join(bl.BASELINES)})")
    seqs = folder.split(args.split)
    if args.styles:
        seqs = sequences_of_styles(folder, seqs, args.styles)
    if args.max_sequences:
        seqs = seqs[: args.max_sequences]
    if not seqs:
        raise MotionlabError(f"{folder.split_file(args.split)}: the {args.split} split is empty")
    if args.style_transfer and not args.style_model:
        raise MotionlabError("--style_transfer scores the transferred motion with a style classifier: name one with --style_model (train it: ./script_train.sh analysis/style_classifier --data_dir ...)")
    if args.style_transfer and args.generated_dir:
        raise MotionlabError("--style_transfer generates the transfers with the experiment's model; it cannot be combined with --generated_dir")
    scorer = Scorer(folder, feature, exp=exp, fgd_model=args.fgd_model, ftd_model=args.ftd_model, style_model=args.style_model, experiments_dir=args.experiments_dir, window=args.window or None, motion_beats=args.motion_beats)

    inputs, truth = {}, {}
    for q in seqs:
        arrays = dataset.sequence_inputs(q)
        if feature not in arrays:
            raise MotionlabError(f"{folder.feature_path(q, feature)}: missing: the {args.split} sequence '{q}' has no ground truth to compare with")
        if args.max_length:
            arrays = {k: v[: args.max_length] for k, v in arrays.items()}
        inputs[q] = arrays
        truth[q] = bl.unscale(folder, feature, arrays[feature])

    if args.generated_dir:
        generated = read_generated_dir(Path(args.generated_dir), feature, truth)
    else:
        generated = {}
        options = gen.generation_options(model, args)
        for q in seqs:
            conditions = styles.conditions_for(model, folder, q)[0]
            out = gen.generate_sequence(model, opt, dataset, q, arrays=inputs[q], conditions=conditions, num_samples=args.num_samples, progress=args.progress, **options)
            generated[q] = out[feature]
    systems = {"model": generated}
    lengths = {q: len(t) for q, t in truth.items()}
    notes = []
    for b in args.baselines:
        if b == "mean_pose":
            systems[b] = bl.mean_pose_baseline(folder, feature, lengths)
        elif b == "other_clip":
            if len(truth) < 2:
                notes.append("other_clip: the split has one sequence, so its own motion is shifted by half its length against its audio")
            systems[b] = bl.other_clip_baseline(truth)
        elif b == "nearest":
            if audio is None:
                notes.append("nearest baseline skipped: the model has no audio input to retrieve by")
                continue
            systems[b] = bl.nearest_baseline(folder, audio, feature, {q: inputs[q][audio] for q in seqs}, window=scorer.window, seed=args.random_seed)
        elif b == "ground_truth":
            systems[b] = truth
    results = {name: scorer.score(name, arrays, truth, model=model if name == "model" and not args.generated_dir else None, dataset_split=args.split, opt=opt) for name, arrays in systems.items()}
    if args.style_transfer:
        transfer_scores(args, model, opt, dataset, folder, feature, seqs, inputs, truth, scorer, results, notes)
    out_dir = Path(args.output_folder) / exp.name
    extra_plots = []
    if hasattr(model, "style_codes") and not args.generated_dir:
        labels = {q: v for q, v in folder.speakers().items() if v in styles.model_styles(model)}
        if labels:
            from motionlab.analysis.style_space import style_space

            plot, silhouette = style_space(model, {q: inputs[q][feature] for q in seqs}, labels, out_dir / "style_space.png", args.style_space, args.random_seed)
            extra_plots.append(plot)
            results["model"]["style_space_silhouette"] = silhouette
        else:
            notes.append("style-space plot skipped: no sequence of the split is by a speaker the model knows")
    notes += scorer.notes

    settings = {
        "experiment": exp.name, "checkpoint": str(ckpt), "split": args.split, "sequences": len(seqs), "frames": int(sum(lengths.values())),
        "seconds": float(sum(lengths.values()) / scorer.fps), "fps": scorer.fps, "feature": feature, "generated_dir": args.generated_dir,
        "command": "motionlab evaluate " + " ".join(shlex.quote(a) for a in args.argv), "num_samples": args.num_samples,
    }
    plots = scorer.plots(out_dir, systems, truth) + extra_plots
    written = [report.write_metrics_json(out_dir / "metrics.json", results, settings), report.write_report(out_dir / "report.md", results, settings, notes, plots)]
    return written + plots


def transfer_scores(args, model, opt, dataset, folder, feature, seqs, inputs, truth, scorer, results, notes) -> None:
    """``--style_transfer``: every sequence of ``seqs`` in every other style; classifier scores against the target."""
    plan, plan_notes = styles.transfer_plan(model, folder, args.split, 0)
    plan = [(q, src, tgt) for q, src, tgt in plan if q in truth]
    notes += plan_notes
    names = styles.model_styles(model)
    options = gen.generation_options(model, args)
    transferred, from_truth, targets = {}, {}, {}
    for q, source, target in plan:
        key = styles.transfer_stem(q, source, target)
        out = gen.generate_sequence(model, opt, dataset, q, arrays=inputs[q], conditions={"speaker": names.index(target)}, num_samples=args.num_samples, progress=args.progress, **options)
        transferred[key], from_truth[key], targets[key] = out[feature], truth[q], target
    results["model"].update(scorer.classified_scores(transferred, targets, prefix="transfer_style"))
    if "ground_truth" in results:
        results["ground_truth"].update(scorer.classified_scores(from_truth, targets, prefix="transfer_style"))
    notes.append(f"style transfer: {len(plan)} generations ({len(set(q for q, _, _ in plan))} sequences x the other {len(names) - 1} styles), scored against the target style; chance = {1 / len(names):.3f}")


def main(argv=None) -> int:
    return gen.command_main("evaluate", parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
