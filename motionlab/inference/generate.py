"""Generation entry point: ``motionlab generate <exp> [<seq>] [options]``.

Rebuilds the model from the experiment (:class:`~motionlab.training.experiment.Experiment`), takes
the sequence's inputs and conditions from the experiment's dataset (``sequence_inputs`` /
``sequence_conditions``) or extracts them from ``--audio_file`` with the training settings, seeds
autoregressive models (the sequence's first frames, ``--seed_file``, or the mean pose), generates,
inverse-scales and writes ``<output_folder>/<exp>/<seq>.<feature>.generated.npy`` and, when asked,
a BVH and a video. The model adds its own options (``--temperature`` for autoregressive models,
``--window_overlap`` for windowed ones, ...): ``motionlab generate <exp> --help`` lists them.
Requested outputs are checked before anything is generated.

Styles (models trained on data with ``speakers.json``): a sequence is generated in its own speaker's
style unless ``--style <label>`` names another style the model knows; ``--sample_all_styles N``
renders the first N test sequences of every style in every other style, as
``<seq>.<source>_to_<target>.<feature>.generated.npy`` (and .bvh/.mp4). Mixture models (Mix-StAGE)
also get ``generator_usage.json``: per target style, the mean weight of each generator and how
often each one dominated (:mod:`motionlab.inference.styles`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from motionlab.datafolder import DataFolder
from motionlab.datasets import find_dataset_using_name
from motionlab.models import find_model_using_name
from motionlab.options import bounded
from motionlab.training.experiment import Experiment
from motionlab.utils.errors import MotionlabError
from motionlab.inference import styles
from motionlab.utils.io import save_npy, write_json


def generate_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="motionlab generate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, add_help=add_help)
    p.add_argument("experiment", help="experiment name (folder under --experiments_dir)")
    p.add_argument("sequence", nargs="?", default=None, help="sequence id (default: first of base_filenames_test.txt)")
    p.add_argument("--experiments_dir", default="training/experiments")
    p.add_argument("--data_dir", default=None, help="data folder (default: the one the experiment trained on)")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default: checkpoints/best.ckpt, else last.ckpt)")
    p.add_argument("--output_folder", default="inference/generated")
    p.add_argument("--max_length", type=bounded(int, 0, what="an integer"), default=0, help="generate at most this many frames (0: whole sequence)")
    p.add_argument("--seed_file", default=None, help="autoregressive models: .npy (frames x features, in the data's units) to seed the motion")
    p.add_argument("--seed_from", default="auto", help="autoregressive models: 'auto' (the sequence's own first frames; the mean pose for --audio_file), 'mean', or a sequence id")
    p.add_argument("--num_samples", type=bounded(int, 1, what="an integer"), default=1, help="samples drawn as one batch (stochastic models)")
    p.add_argument("--random_seed", type=int, default=0)
    p.add_argument("--generate_bvh", action="store_true", help="also write <seq>.bvh through the data's motion pipeline (BVH motion features only)")
    p.add_argument("--generate_video", action="store_true", help="also write <seq>.mp4: the skeleton with the audio muxed in")
    p.add_argument("--compare_ground_truth", action="store_true", help="video: draw the sequence's ground truth beside the generated motion")
    p.add_argument("--audio_file", default=None, help="generate for a new audio file (features extracted with the training settings)")
    p.add_argument("--style", default=None, help="speaker/style label to generate in (default: the sequence's own speaker from speakers.json); output <seq>.<source>_to_<target>")
    p.add_argument("--sample_all_styles", type=bounded(int, 1, what="an integer"), default=0, help="the first N test sequences of every style, each rendered in every other style (<seq>.<source>_to_<target>)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: matrix multiplies in bfloat16 (autocast), ~2-3x faster on CPUs with AVX512-BF16 and on recent GPUs")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")
    return p


def parse_with_model_options(make_parser, argv=None) -> argparse.Namespace:
    """Two stages: the experiment names its model, whose generation options are then added.

    ``make_parser(add_help)`` builds the command's own parser (it must have ``experiment`` and
    ``--experiments_dir``); ``generate`` and ``evaluate`` share this.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    first, _ = make_parser(False).parse_known_args(argv)
    parser = make_parser(True)
    try:
        model_cls = find_model_using_name(Experiment(first.experiment, first.experiments_dir).model_name())
    except MotionlabError:
        model_cls = None  # reported when the command runs; --help still works
    if model_cls is not None:
        model_cls.modify_generation_options(parser.add_argument_group(f"model '{model_cls.__name__}'"))
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        if e.code in (0, None):
            raise
        raise MotionlabError("invalid command line (see the message above)") from None
    args.argv = argv
    return args


def parse_args(argv=None) -> argparse.Namespace:
    return parse_with_model_options(generate_parser, argv)


def generation_options(model, args) -> dict:
    """The keyword options of ``model.generate`` that the model's generation group added to ``args``."""
    scratch = argparse.ArgumentParser(add_help=False)
    type(model).modify_generation_options(scratch)
    return {a.dest: getattr(args, a.dest) for a in scratch._actions if hasattr(args, a.dest)}


def build_dataset(opt):
    """The experiment's dataset class in generation mode (no windows enumerated)."""
    return find_dataset_using_name(opt.dataset_name)(opt, None)


def seed_arrays(model, opt, dataset, arrays: dict, seq: str, folder: DataFolder, seed_file=None, seed_from: str = "auto") -> tuple[dict, str]:
    """The frames that start an autoregressive rollout and a sentence saying where they come from."""
    if model.generation_mode() != "autoregressive":
        return {}, ""
    spec = model.generation_spec
    need = {n: spec.seed_length(n) for n in spec.output_modalities if spec.seed_length(n) > 0}
    if not need:
        return {}, ""
    name = opt.output_modalities[0]
    if seed_file:
        path = Path(seed_file)
        try:
            seed = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise MotionlabError(f"--seed_file {path}: not a readable .npy array ({e})") from None
        dim = model.data_spec.dim(name)
        if seed.ndim != 2 or seed.shape[1] != dim or seed.shape[0] < need.get(name, 0):
            raise MotionlabError(f"--seed_file {path}: expected an array of at least {need.get(name, 0)} frames x {dim} features ('{name}'), found shape {seed.shape}")
        return {name: scale(folder, name, seed.astype(np.float32))}, f"seed: {need.get(name, 0)} frames of {path}"
    mode = seed_from
    if mode == "auto":
        mode = "sequence" if all(n in arrays for n in need) else "mean"
    if mode == "sequence":
        missing = [n for n in need if n not in arrays]
        if missing:
            raise MotionlabError(f"sequence '{seq}' has no '{missing[0]}' frames to seed from; use --seed_from mean or --seed_file")
        return {}, f"seed: the first {max(need.values())} frames of {seq}"
    if mode == "mean":
        return {n: mean_pose(folder, dataset, n, L) for n, L in need.items()}, f"seed: the mean pose of the train split ({max(need.values())} frames)"
    other = dataset.sequence_inputs(mode)
    missing = [n for n in need if n not in other]
    if missing:
        raise MotionlabError(f"--seed_from {mode}: that sequence has no '{missing[0]}' feature")
    return {n: torch.from_numpy(other[n][:L]) for n, L in need.items()}, f"seed: the first {max(need.values())} frames of sequence {mode}"


def mean_pose(folder: DataFolder, dataset, name: str, frames: int) -> torch.Tensor:
    """(frames, D) of the train split's mean frame, in the model's (scaled) units."""
    mean = scale(folder, name, folder.train_mean(name)[None])[0]
    return torch.from_numpy(np.repeat(np.asarray(mean, np.float32)[None], frames, 0))


def scale(folder: DataFolder, name: str, arr: np.ndarray) -> np.ndarray:
    scaler = folder.scaler(name)
    return scaler.transform(arr) if scaler is not None else arr


def unscale(folder: DataFolder, name: str, arr: np.ndarray) -> np.ndarray:
    scaler = folder.scaler(name)
    return scaler.inverse_transform(arr) if scaler is not None else arr


def check_outputs(args, folder: DataFolder, feature: str) -> None:
    """Refuse BVH/video requests the data cannot satisfy before spending time generating."""
    if args.generate_bvh:
        folder.pipeline(feature)
    if args.generate_video:
        if not folder.meta_path(feature).exists():
            raise MotionlabError(f"{folder.meta_path(feature)}: missing; --generate_video needs to know how '{feature}' was made (prepare the data with `motionlab prepare`)")
        kind = folder.meta(feature)["kind"]
        if kind not in ("motion", "keypoints"):
            raise MotionlabError(f"--generate_video: '{feature}' is a '{kind}' feature; only motion (BVH) and keypoint features can be drawn as a skeleton")
    folder.scaler(feature)  # a stale scaler is refused now, not after generating


def generate_sequence(model, opt, dataset, seq: str, *, arrays=None, conditions=None, max_length=0, num_samples=1, seed_file=None, seed_from="auto", progress=False, precision="fp32", **options) -> dict[str, np.ndarray]:
    """Generate one sequence; returns inverse-scaled arrays per output modality ((T, D), or (K, T, D) for K samples).

    ``arrays``/``conditions`` default to the dataset's ``sequence_inputs(seq)`` / ``sequence_conditions(seq)``.
    """
    folder = getattr(dataset, "folder", None) or DataFolder(opt.data_dir)
    if arrays is None:
        arrays = dataset.sequence_inputs(seq)
        conditions = dataset.sequence_conditions(seq) if conditions is None else conditions
    if max_length:
        arrays = {k: v[:max_length] for k, v in arrays.items()}
    seed, note = seed_arrays(model, opt, dataset, arrays, seq, folder, seed_file, seed_from)
    if note:
        print(f"motionlab: {note}", file=sys.stderr)
    inputs = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
    out = model.generate(inputs, seed, num_samples=num_samples, progress=progress, precision=precision, **(conditions or {}), **options)
    return {name: unscale(folder, name, value.detach().float().cpu().numpy()) for name, value in out.items()}


def new_audio_inputs(opt, data_dir, audio_file) -> dict[str, np.ndarray]:
    """Inputs for an unseen audio file: its features, extracted with the training settings and scaler."""
    from motionlab.inference.outputs import audio_features_for_file

    spec_given = [m for m in opt.input_modalities if m not in opt.output_modalities]
    if len(spec_given) != 1:
        raise MotionlabError(f"--audio_file replaces one audio input, but the model takes {spec_given}")
    return {spec_given[0]: audio_features_for_file(data_dir, spec_given[0], audio_file)}


def command_main(prog: str, parse, run_fn, argv=None) -> int:
    """Run a command that writes files: print each path, or the error in one line (exit 2). Shared by generate and evaluate."""
    try:
        paths = run_fn(parse(argv))
    except MotionlabError as e:
        print(f"motionlab {prog}: error: {e}", file=sys.stderr)
        return 2
    for p in paths:
        print(f"motionlab: wrote {p}")
    return 0


def main(argv=None) -> int:
    return command_main("generate", parse_args, run, argv)


def run(args) -> list[Path]:
    exp = Experiment(args.experiment, args.experiments_dir)
    torch.manual_seed(args.random_seed)
    overrides = ["--data_dir", args.data_dir] if args.data_dir else []
    if args.sample_all_styles and (args.sequence or args.audio_file or args.style):
        raise MotionlabError("--sample_all_styles chooses the sequences and styles itself: do not also name a sequence, --audio_file or --style")
    model, opt, _ = exp.load_model(args.checkpoint, args.device, overrides)
    data_dir = Path(opt.data_dir)
    feature = opt.output_modalities[0]
    dataset = build_dataset(opt)
    folder = getattr(dataset, "folder", None) or DataFolder(data_dir)
    model.check_data_folder(folder)
    check_outputs(args, folder, feature)
    out_dir = Path(args.output_folder) / exp.name
    if args.sample_all_styles:
        return run_all_styles(args, model, opt, dataset, folder, feature, out_dir)
    audio_path, audio_start = None, 0.0
    if args.audio_file:
        if args.compare_ground_truth:
            raise MotionlabError("--compare_ground_truth needs a sequence of the data folder, not --audio_file (there is no ground truth)")
        seq = args.sequence or Path(args.audio_file).stem
        arrays = new_audio_inputs(opt, data_dir, args.audio_file)
        audio_path = Path(args.audio_file)
        conditions, source, target = styles.conditions_for(model, folder, None, args.style)
    else:
        seq = args.sequence or next(iter(folder.split("test")), None)
        if seq is None:
            raise MotionlabError(f"{data_dir}/base_filenames_test.txt is empty: name a sequence")
        arrays = dataset.sequence_inputs(seq)
        conditions, source, target = styles.conditions_for(model, folder, seq, args.style)
    stem = styles.transfer_stem(seq, source, target) if args.style else seq
    written = generate_and_write(args, model, opt, dataset, folder, feature, seq, stem, arrays, conditions, out_dir, audio_path, audio_start)
    if hasattr(model, "mixture_weights") and "speaker" in conditions:
        usage = styles.GeneratorUsage(model)
        usage.add(target, styles.generator_weights(model, {k: v[: args.max_length or None] for k, v in arrays.items()}, conditions["speaker"]), seq, source)
        path = out_dir / f"{stem}.generator_usage.json"
        write_json(path, usage.to_json())
        written.append(path)
    return written


def generate_and_write(args, model, opt, dataset, folder, feature, seq, stem, arrays, conditions, out_dir, audio_path=None, audio_start=0.0) -> list[Path]:
    """Generate one sequence with ``conditions`` and write ``<stem>.<feature>.generated.npy`` (+ BVH/video as asked)."""
    result = generate_sequence(
        model, opt, dataset, seq, arrays=arrays, conditions=conditions, max_length=args.max_length, num_samples=args.num_samples,
        seed_file=args.seed_file, seed_from=args.seed_from, progress=args.progress, precision=args.precision, **generation_options(model, args),
    )
    written = []
    for name, arr in result.items():
        path = out_dir / f"{stem}.{name}.generated.npy"
        save_npy(path, arr.astype(np.float32))
        written.append(path)
    if args.generate_bvh or args.generate_video:
        truth = unscale(folder, feature, arrays[feature][: args.max_length or None]) if args.compare_ground_truth and feature in arrays else None
        if args.compare_ground_truth and truth is None:
            raise MotionlabError(f"--compare_ground_truth: sequence '{seq}' has no '{feature}' ground truth")
        written += write_outputs(args, folder, seq, result, feature, audio_path, audio_start, out_dir, truth, stem=stem)
    return written


def run_all_styles(args, model, opt, dataset, folder, feature, out_dir) -> list[Path]:
    """``--sample_all_styles N``: every planned (sequence, source, target) generated and written, then generator_usage.json for mixture models."""
    plan, notes = styles.transfer_plan(model, folder, "test", args.sample_all_styles)
    for note in notes:
        print(f"motionlab: {note}", file=sys.stderr)
    usage = styles.GeneratorUsage(model) if hasattr(model, "mixture_weights") else None
    names = styles.model_styles(model)
    written, inputs = [], {}
    for seq, source, target in plan:
        if seq not in inputs:
            inputs[seq] = dataset.sequence_inputs(seq)
        conditions = {"speaker": names.index(target)}
        written += generate_and_write(args, model, opt, dataset, folder, feature, seq, styles.transfer_stem(seq, source, target), inputs[seq], conditions, out_dir)
        if usage is not None:
            arrays = {k: v[: args.max_length or None] for k, v in inputs[seq].items()}
            usage.add(target, styles.generator_weights(model, arrays, conditions["speaker"]), seq, source)
    if usage is not None:
        path = out_dir / "generator_usage.json"
        write_json(path, usage.to_json())
        written.append(path)
    return written


def write_outputs(args, folder: DataFolder, seq, result, feature, audio_path, audio_start, out_dir, truth=None, stem=None) -> list[Path]:
    """BVH and/or video of the (first) output modality, one per sample, named ``<stem>`` (default: the sequence id)."""
    from motionlab.inference import outputs

    if audio_path is None:
        audio_path, audio_start = folder.audio_for(seq)
    samples = result[feature]
    samples = samples[None] if samples.ndim == 2 else samples
    written = []
    for k, feats in enumerate(samples):
        name = (stem or seq) if len(samples) == 1 else f"{stem or seq}.sample{k}"
        if args.generate_bvh:
            written.append(outputs.write_bvh(folder.path, feature, feats, out_dir / f"{name}.bvh", seq))
        if args.generate_video:
            if audio_path is None:
                print(f"motionlab: no audio found for {seq}; the video is silent", file=sys.stderr)
            written.append(outputs.write_video(folder.path, feature, feats, out_dir / f"{name}.mp4", seq, audio_path, audio_start, compare_features=truth))
    return written


if __name__ == "__main__":
    sys.exit(main())

