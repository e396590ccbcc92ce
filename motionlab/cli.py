"""The ``motionlab`` command: train, generate, info, make-demo-data (and more as they are added)."""

from __future__ import annotations

import argparse
import sys

from motionlab.utils.errors import MotionlabError


def _info(argv) -> int:
    p = argparse.ArgumentParser(prog="motionlab info", description="List registered models and datasets.")
    p.add_argument("--plugins", default="", help="extra plugin modules, comma-separated")
    args = p.parse_args(argv)
    from motionlab import registry
    from motionlab.datasets import registered_datasets
    from motionlab.models import registered_models

    registry.add_plugin_modules(args.plugins)
    for title, found in (("models", registered_models()), ("datasets", registered_datasets())):
        print(f"{title}:")
        width = max((len(n) for n in found), default=0)
        for name, cls in sorted(found.items()):
            print(f"  {name.ljust(width)}  {registry.describe(cls)}")
    return 0


def _make_demo_data(argv) -> int:
    p = argparse.ArgumentParser(prog="motionlab make-demo-data", description="Write the synthetic demo dataset.")
    p.add_argument("dir", help="output folder (e.g. data/demo)")
    p.add_argument("--sequences", type=int, default=None, help="number of takes (default: 24; 40 with --speakers)")
    p.add_argument("--seconds", type=float, default=None, help="length of each take (default: 16; 8 with --speakers)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speakers", type=int, default=0, help="0: one dancer; S > 0: S speakers with their own gesture signature, labelled in speakers.json")
    p.add_argument("--keywords", action="store_true", help="speech whose words (up/left/right) trigger gestures the audio cannot tell (CC-NCE's demo)")
    args = p.parse_args(argv)
    from motionlab.datasets.demo_data import make_demo_data

    out = make_demo_data(args.dir, args.sequences, args.seconds, args.seed, speakers=args.speakers, keywords=args.keywords)
    print(f"motionlab: demo data written to {out}")
    return 0


def _train(argv) -> int:
    from motionlab.training.train import main

    return main(argv)


def _generate(argv) -> int:
    from motionlab.inference.generate import main

    return main(argv)


def _evaluate(argv) -> int:
    from motionlab.analysis.evaluate import main

    return main(argv)


def _prepare(argv) -> int:
    from motionlab.feature_extraction.prepare.cli import main

    return main(argv)


def _extract(argv) -> int:
    from motionlab.feature_extraction.prepare.cli import extract_main

    return extract_main(argv)


def _import(argv) -> int:
    from motionlab.feature_extraction.importers.cli import main

    return main(argv)


def _continual(argv) -> int:
    from motionlab.continual import main

    return main(argv)


COMMANDS = {
    "train": (_train, "train a model (options: motionlab train --help)"),
    "generate": (_generate, "generate from a trained experiment"),
    "evaluate": (_evaluate, "score an experiment and the baselines on a split: metrics.json, report.md, plots"),
    "continual": (_continual, "continual few-shot learning over a sequence of styles (C-DiffGAN): stages, evaluation, report"),
    "info": (_info, "list registered models and datasets"),
    "make-demo-data": (_make_demo_data, "write the synthetic demo dataset"),
    "prepare": (_prepare, "features, splits, scalers and metadata from a folder of paired takes"),
    "extract": (_extract, "one step of prepare: extract audio|motion|keypoints|text DIR"),
    "import": (_import, "import a published layout: import dance_melody|pats|sdt SRC OUT"),
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: motionlab <command> [options]\n\ncommands:")
        for name, (_, help_) in COMMANDS.items():
            print(f"  {name:16s}{help_}")
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nmotionlab: unknown command '{argv[0]}'", file=sys.stderr)
            return 2
        return 0
    try:
        return COMMANDS[argv[0]][0](argv[1:])
    except MotionlabError as e:
        print(f"motionlab {argv[0]}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
