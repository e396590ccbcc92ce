"""``motionlab continual <hparams> --styles a,b,c --k_shot 28 --seeds 1,2,3``: continual few-shot learning (C-DiffGAN).

For every seed, stage 1 trains on the first style's full data (or starts from ``--pretrained_from``)
and every later stage adds one style from ``--k_shot`` windows, starting from the stage before it
(model ``cdiffgan``, dataset ``continual``). Every stage is an ordinary experiment,
``<experiments_dir>/<name>/seed<S>/stage<i>_<style>/``, checkpointed like any training; after it,
``motionlab evaluate`` runs on every style seen so far. ``stage.json`` marks a finished stage, so
running the same command again resumes where it stopped (a stage cut short continues with
``--resume``). ``continual.json`` records the settings: resuming with other settings is refused.
At the end, ``report.{json,md,png}`` (:mod:`motionlab.analysis.continual_report`).

Methods (``--method``): ``cdiffgan`` (pseudo-alignment replay + grounding shift), ``no_shift``
(replay without the shift), ``diffgan`` (fine-tuning on the new style only), ``buffer`` (replay of the
older styles' real k-shot windows), ``joint`` (every seen style's full data, all modules trained).
Options this command does not know are training options for every stage (e.g. ``--data_dir``,
``--max_epochs``, ``--max_time_minutes``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from motionlab.options import ListType, bounded
from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import read_json, write_json

log = logging.getLogger("motionlab")

METHODS = {
    "cdiffgan": {"replay": "pseudo", "shift": True},
    "no_shift": {"replay": "pseudo", "shift": False},
    "diffgan": {"replay": "none", "shift": True},
    "buffer": {"replay": "real", "shift": True},
    "joint": {"replay": "real", "shift": False},
}
#: Metrics kept per stage and style: name in evaluate's metrics.json -> True when higher is better.
METRICS = {"pck@0.1": True, "pck@0.2": True, "fid_pose_normalised": False, "fgd": False, "l1": False, "style_accuracy": True}
SETTINGS = ("hparams", "styles", "k_shot", "seeds", "method", "pretrained_from", "k_shot_replacement", "training_options")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="motionlab continual", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("hparams", help="hparams file of the stage model (e.g. demo/cdiffgan)")
    p.add_argument("--styles", type=ListType(str), required=True, help="the style sequence a,b,c,... (labels of speakers.json)")
    p.add_argument("--k_shot", type=bounded(int, 1, what="an integer"), default=28, help="training windows per later style (the paper: 7, 28, 140)")
    p.add_argument("--seeds", type=ListType(int), default=[1], help="k-shot draws and training seeds, one run each")
    p.add_argument("--method", choices=list(METHODS), default="cdiffgan")
    p.add_argument("--pretrained_from", default="", help="checkpoint that starts stage 1 (e.g. a Mix-StAGE trained on the first style)")
    p.add_argument("--k_shot_replacement", action="store_true", help="draw k windows with replacement (needed when k exceeds a style's windows)")
    p.add_argument("--experiments_dir", default="training/experiments")
    p.add_argument("--experiment_name", default="", help="default: continual_<method>_k<K>")
    p.add_argument("--evaluate", action=argparse.BooleanOptionalAction, default=True, help="evaluate every seen style after every stage")
    p.add_argument("--eval_split", default="test", choices=["train", "val", "test"])
    p.add_argument("--style_model", default=None, help="style_classifier experiment (in --experiments_dir) for style accuracy")
    p.add_argument("--fgd_model", default=None, help="motion_autoencoder experiment (in --experiments_dir) for FGD")
    p.add_argument("--eval_max_length", type=bounded(int, 0, what="an integer"), default=0, help="frames per evaluated sequence at most (0: whole)")
    args, training = p.parse_known_args(argv)
    if not args.styles:
        p.error("--styles: name at least one style")
    if len(set(args.styles)) != len(args.styles):
        raise MotionlabError(f"--styles: a style appears twice in {','.join(args.styles)}")
    if not args.seeds:
        p.error("--seeds: name at least one seed")
    args.training_options = training
    args.experiment_name = args.experiment_name or f"continual_{args.method}_k{args.k_shot}"
    return args


def run_dir(args) -> Path:
    return Path(args.experiments_dir) / args.experiment_name


def check_settings(args) -> None:
    """Write ``continual.json`` on the first run; refuse a rerun with other settings."""
    path = run_dir(args) / "continual.json"
    wanted = {k: getattr(args, k) for k in SETTINGS}
    if path.exists():
        stored = read_json(path)
        diff = [f"{k}: {stored.get(k)!r} then, {wanted[k]!r} now" for k in SETTINGS if stored.get(k) != wanted[k]]
        if diff:
            raise MotionlabError(f"{path}: this continual run was started with other settings ({'; '.join(diff)}); rerun it with the same settings to resume, or choose another --experiment_name")
    else:
        write_json(path, wanted)


def stage_name(i: int, style: str) -> str:
    return f"stage{i + 1}_{style}"


def stage_options(args, seed: int, i: int, previous: Path | None, seed_dir: Path) -> list[str]:
    """The training options of stage ``i`` (0-based) for ``seed``."""
    method, styles = METHODS[args.method], args.styles[: i + 1]
    joint = args.method == "joint"
    opts = [
        "--hparams_file", args.hparams, "--dataset_name", "continual", "--model", "cdiffgan",
        "--continual_styles", ",".join(styles), "--k_shot", str(args.k_shot), "--k_shot_seed", str(seed), "--seed", str(seed),
        "--full_styles", ",".join(styles if joint else styles[:1] if i == 0 else []), "--pose_cluster_styles", styles[0], "--renorm_style", styles[0],
        "--replay", method["replay"], "--grounding_shift" if method["shift"] else "--no-grounding_shift",
        "--experiments_dir", str(seed_dir), "--experiment_name", stage_name(i, styles[-1]),
    ]
    if args.k_shot_replacement:
        opts.append("--k_shot_replacement")
    if previous is not None:
        opts += ["--pretrained_from", str(previous)]
        opts += ["--trainable_modules", "all"] if joint else ["--source_checkpoint", str(previous)]
    elif args.pretrained_from:
        opts += ["--pretrained_from", args.pretrained_from]
    return opts + list(args.training_options)


def _feature_network(args, name):
    """A feature network named relative to the user's --experiments_dir (stages live deeper)."""
    if not name:
        return None
    path = Path(args.experiments_dir) / name
    return str(path.resolve()) if path.is_dir() else name


def evaluate_stage(args, seed_dir: Path, name: str, styles: list[str]) -> dict:
    """``motionlab evaluate`` of the stage's last checkpoint on each seen style: {style: {metric: value}}."""
    from motionlab.analysis import evaluate

    out = {}
    for style in styles:
        folder = seed_dir / name / "evaluation"
        argv = [name, "--experiments_dir", str(seed_dir), "--checkpoint", "last", "--split", args.eval_split, "--styles", style,
                "--output_folder", str(folder / style), "--baselines", "ground_truth", "--no-progress"]
        if args.eval_max_length:
            argv += ["--max_length", str(args.eval_max_length)]
        for flag, net in (("--style_model", args.style_model), ("--fgd_model", args.fgd_model)):
            if net:
                argv += [flag, _feature_network(args, net)]
        evaluate.run(evaluate.parse_args(argv))
        systems = read_json(folder / style / name / "metrics.json")["systems"]["model"]
        out[style] = {k: float(systems[k]) for k in METRICS if k in systems}
    return out


def run(args) -> dict:
    """Every seed's stages (skipping finished ones), then the report. Returns the report dict."""
    from motionlab.analysis import continual_report
    from motionlab.training.options import parse_options
    from motionlab.training.train import train

    root = run_dir(args)
    check_settings(args)
    results = {}
    for seed in args.seeds:
        seed_dir = root / f"seed{seed}"
        previous = None
        results[seed] = []
        for i, style in enumerate(args.styles):
            name = stage_name(i, style)
            exp = seed_dir / name
            done = exp / "stage.json"
            last = exp / "checkpoints" / "last.ckpt"
            if done.exists():
                record = read_json(done)
                log.info("motionlab continual: seed %d %s already done", seed, name)
            else:
                opts = stage_options(args, seed, i, previous, seed_dir)
                if last.exists():
                    opts.append("--resume")
                    log.info("motionlab continual: seed %d %s: resuming %s", seed, name, last)
                elif exp.exists():
                    opts.append("--overwrite")  # started but no checkpoint yet: nothing to keep
                log.info("motionlab continual: seed %d stage %d/%d: %s", seed, i + 1, len(args.styles), "+".join(args.styles[: i + 1]))
                result = train(parse_options(opts))
                if result["stop_reason"].startswith("interrupted"):
                    raise MotionlabError(f"{exp}: stage {i + 1} was interrupted at step {result['global_step']}; run the same command again to resume it")
                metrics = evaluate_stage(args, seed_dir, name, args.styles[: i + 1]) if args.evaluate else {}
                record = {"seed": seed, "stage": i + 1, "styles": args.styles[: i + 1], "checkpoint": str(last), "global_step": result["global_step"], "metrics": metrics}
                write_json(done, record)
            if not last.exists():
                raise MotionlabError(f"{exp}: the stage finished without {last}")
            previous = last
            results[seed].append(record)
    report = continual_report.build(results, args.styles, METRICS, settings={k: getattr(args, k) for k in SETTINGS})
    if args.evaluate:
        continual_report.write(report, root)
    return report


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        args = parse_args(argv)
        report = run(args)
    except MotionlabError as e:
        print(f"motionlab continual: error: {e}", file=sys.stderr)
        return 2
    from motionlab.analysis import continual_report

    root = run_dir(args)
    if args.evaluate:
        print(continual_report.summary(report))
        print(f"motionlab: continual report written to {root / 'report.md'} (and report.json, report.png)")
    print(f"motionlab: stages in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
