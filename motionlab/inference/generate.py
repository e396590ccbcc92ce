"""Generation entry point: ``motionlab generate <exp> [<seq>] [options]``.

Rebuilds the model from the experiment's ``hparams.yaml`` and its best (or ``--checkpoint``)
checkpoint, takes the sequence's input features from ``--data_dir``, seeds the motion from the
sequence's first frames (or ``--seed_file``), generates, inverse-scales and writes
``<output_folder>/<exp>/<seq>.<feature>.generated.npy``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from motionlab.datasets.multimodal_dataset import load_sequence, read_split
from motionlab.feature_extraction.scalers import load_scaler_if_any
from motionlab.models import find_model_using_name
from motionlab.training.options import load_experiment_options
from motionlab.utils.errors import MotionlabError
from motionlab.utils.io import save_npy


def generate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="motionlab generate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", help="experiment name (folder under --experiments_dir)")
    p.add_argument("sequence", nargs="?", default=None, help="sequence id (default: first of base_filenames_test.txt)")
    p.add_argument("--experiments_dir", default="training/experiments")
    p.add_argument("--data_dir", default=None, help="data folder (default: the one the experiment trained on)")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default: checkpoints/best.ckpt, else last.ckpt)")
    p.add_argument("--output_folder", default="inference/generated")
    p.add_argument("--max_length", type=int, default=0, help="generate at most this many frames (0: whole sequence)")
    p.add_argument("--seed_file", default=None, help=".npy (frames x features) to seed the motion instead of the sequence's first frames")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--num_samples", type=int, default=1)
    p.add_argument("--frames_per_step", type=int, default=1, help="frames emitted per autoregressive step (<= output length)")
    p.add_argument("--random_seed", type=int, default=0)
    p.add_argument("--generate_bvh", action="store_true", help="also write <seq>.bvh through the data's motion pipeline")
    p.add_argument("--generate_video", action="store_true", help="also write <seq>.mp4: the skeleton with the audio muxed in")
    p.add_argument("--audio_file", default=None, help="generate for a new audio file (features extracted with the training settings)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p


def find_checkpoint(exp_dir: Path, checkpoint: str | None) -> Path:
    if checkpoint:
        path = Path(checkpoint)
        if not path.exists():
            raise MotionlabError(f"--checkpoint {path}: file not found")
        return path
    for name in ("best.ckpt", "last.ckpt"):
        path = exp_dir / "checkpoints" / name
        if path.exists():
            return path
    raise MotionlabError(f"experiment {exp_dir} has no checkpoint (expected checkpoints/best.ckpt or last.ckpt); train it first or pass --checkpoint")


def load_model(exp_dir: Path, checkpoint: str | None = None, device: str = "cpu"):
    """Rebuild the model an experiment trained: options from hparams.yaml, weights from the checkpoint."""
    opt = load_experiment_options(exp_dir)
    path = find_checkpoint(exp_dir, checkpoint)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        hp = ckpt["hyper_parameters"]
        state = ckpt["state_dict"]
    except (RuntimeError, KeyError, EOFError, OSError) as e:
        raise MotionlabError(f"{path}: not a readable motionlab checkpoint ({e})") from None
    trained = hp.get("opt", {}).get("model")
    if trained != opt.model:
        raise MotionlabError(f"{path}: checkpoint is of model '{trained}' but {exp_dir / 'hparams.yaml'} names model '{opt.model}'")
    model = find_model_using_name(opt.model)(opt, hp["input_dims"], hp["output_dims"], hp.get("num_speakers", 0))
    model.load_state_dict(state)
    return model.to(device).eval(), opt, path


def new_audio_inputs(opt, data_dir, audio_file) -> dict[str, np.ndarray]:
    """Inputs for an unseen audio file: its features, plus the first test (or train) sequence as motion seed."""
    from motionlab.inference.outputs import audio_features_for_file

    given = [m for m in opt.input_modalities if m not in opt.output_modalities]
    if len(given) != 1:
        raise MotionlabError(f"--audio_file replaces one audio input, but the model takes {given}")
    audio = audio_features_for_file(data_dir, given[0], audio_file)
    seed_seq = next(iter(read_split(data_dir, "test") + read_split(data_dir, "train")), None)
    arrays = {given[0]: audio}
    if seed_seq is not None:
        seeds = load_sequence(data_dir, seed_seq, [m for m in opt.output_modalities if m in opt.input_modalities])
        arrays.update(seeds)
    return arrays


def generate_sequence(model, opt, data_dir, seq: str, *, max_length=0, seed_file=None, arrays=None, **kwargs) -> dict[str, np.ndarray]:
    """Generate one sequence; returns inverse-scaled arrays per output modality."""
    if arrays is None:
        features = list(dict.fromkeys(list(opt.input_modalities) + list(opt.output_modalities)))
        available = [f for f in features if (Path(data_dir) / f"{seq}.{f}.npy").exists() or f not in opt.output_modalities]
        arrays = load_sequence(data_dir, seq, available)
    if max_length:
        arrays = {k: v[:max_length] for k, v in arrays.items()}
    seed = {}
    if seed_file:
        seed_arr = np.load(seed_file, allow_pickle=False)
        if seed_arr.ndim != 2:
            raise MotionlabError(f"--seed_file {seed_file}: expected a rank-2 array (frames x features), found shape {seed_arr.shape}")
        seed[opt.output_modalities[0]] = torch.from_numpy(seed_arr.astype(np.float32))
    inputs = {k: torch.from_numpy(v) for k, v in arrays.items()}
    outputs = model.generate(inputs, seed, **kwargs)
    result = {}
    for name, value in outputs.items():
        arr = value.detach().float().cpu().numpy()
        scaler = load_scaler_if_any(data_dir, name)
        result[name] = scaler.inverse_transform(arr) if scaler is not None else arr
    return result


def main(argv=None) -> int:
    args = generate_parser().parse_args(argv)
    try:
        paths = run(args)
    except MotionlabError as e:
        print(f"motionlab generate: error: {e}", file=sys.stderr)
        return 2
    for p in paths:
        print(f"motionlab: wrote {p}")
    return 0


def run(args) -> list[Path]:
    exp_dir = Path(args.experiments_dir) / args.experiment
    if not exp_dir.is_dir():
        raise MotionlabError(f"experiment folder {exp_dir} does not exist")
    torch.manual_seed(args.random_seed)
    model, opt, ckpt = load_model(exp_dir, args.checkpoint, args.device)
    data_dir = Path(args.data_dir or opt.data_dir)
    arrays, audio_path, audio_start = None, None, 0.0
    if args.audio_file:
        seq = args.sequence or Path(args.audio_file).stem
        arrays = new_audio_inputs(opt, data_dir, args.audio_file)
        audio_path = Path(args.audio_file)
    else:
        seq = args.sequence or next(iter(read_split(data_dir, "test")), None)
        if seq is None:
            raise MotionlabError(f"{data_dir}/base_filenames_test.txt is empty: name a sequence")
    result = generate_sequence(
        model, opt, data_dir, seq, max_length=args.max_length, seed_file=args.seed_file, arrays=arrays,
        temperature=args.temperature, num_samples=args.num_samples, frames_per_step=args.frames_per_step,
    )
    out_dir = Path(args.output_folder) / args.experiment
    written = []
    for name, arr in result.items():
        path = out_dir / f"{seq}.{name}.generated.npy"
        save_npy(path, arr.astype(np.float32))
        written.append(path)
    if args.generate_bvh or args.generate_video:
        written += write_outputs(args, data_dir, seq, result, opt.output_modalities[0], audio_path, audio_start, out_dir)
    return written


def write_outputs(args, data_dir, seq, result, feature, audio_path, audio_start, out_dir) -> list[Path]:
    """BVH and/or video of the (first) output modality, one per sample."""
    from motionlab.inference import outputs

    if audio_path is None:
        audio_path, audio_start = outputs.audio_for(data_dir, seq)
    samples = result[feature]
    samples = samples[None] if samples.ndim == 2 else samples
    written = []
    for k, feats in enumerate(samples):
        stem = seq if len(samples) == 1 else f"{seq}.sample{k}"
        if args.generate_bvh:
            written.append(outputs.write_bvh(data_dir, feature, feats, out_dir / f"{stem}.bvh", seq))
        if args.generate_video:
            if audio_path is None:
                print(f"motionlab: no audio found for {seq}; the video is silent")
            written.append(outputs.write_video(data_dir, feature, feats, out_dir / f"{stem}.mp4", seq, audio_path, audio_start))
    return written


if __name__ == "__main__":
    sys.exit(main())
