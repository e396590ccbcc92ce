"""Generation speed of the flow models: seconds of motion generated per second of wall time. Prints JSON.

Real-time factor (RTF) = generated motion seconds (20 fps) / wall seconds, with random weights (the
zero-initialised coupling heads are perturbed so the couplings are not identities) and one frame per
autoregressive step (``--frames_per_step``). Every model at its demo size (``hparams/demo/<model>.yaml``,
demo feature sizes: audio 16, motion 12) generates ``--seconds`` of motion at batch 1; Transflower at
the paper's size (12-layer d=800 cross-modal transformer, 2-layer modality encoders, 16 Flow++
coupling steps, 140 audio + 120 motion frames of context, audio 85 / motion 67 dims) generates a few
frames at batch 1 and 16 and reports the per-frame cost, in fp32 and with bf16 autocast
(``--precision bf16`` of ``motionlab generate``). Also reports the peak RSS.

    python benchmarks/generation.py [--seconds 10] [--paper_frames 3] [--threads 2] [--skip_paper]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time

import torch

from motionlab.dataspec import DataSpec
from motionlab.models import find_model_using_name
from motionlab.training.options import parse_options

FPS = 20
DEMO_MODELS = ("transformer", "transflower", "transformerflow", "transglower", "moglow", "residualflower")
PAPER = dict(
    dhid=800, nlayers=12, input_nlayers=2, nhead=10, num_glow_coupling_blocks=16, flow_hidden=512, flow_nlayers=2, flow_nhead=8,
    num_mixture_components=5, input_lengths=[140, 120], output_lengths=[1], conditioning_seq_lens=[1], output_time_offsets=[120],
)
PAPER_DIMS = {"audio": 85, "motion": 67}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def perturb_zero_heads(model: torch.nn.Module, std: float = 0.02) -> None:
    """Random weights for the zero-initialised (identity) coupling heads, so the flows do real work."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2 and not p.any():
                p.normal_(0.0, std)


def build(name: str, overrides: dict | None = None, dims: dict | None = None):
    hp = "demo" if name == "transformer" else f"demo/{name}"
    argv = ["--hparams_file", hp]
    for k, v in (overrides or {}).items():
        argv += [f"--{k}", ",".join(map(str, v)) if isinstance(v, list) else str(v)]
    opt = parse_options(argv)
    d_audio, d_motion = (dims or {}).get("audio", 16), (dims or {}).get("motion", 12)
    spec = DataSpec(tuple(opt.input_modalities), tuple(opt.output_modalities), (d_audio, d_motion), (d_motion,))
    model = find_model_using_name(opt.model)(opt, spec)
    perturb_zero_heads(model)
    return model.eval(), opt, d_audio, d_motion


def time_generation(model, opt, d_audio, d_motion, frames: int, batch: int, frames_per_step: int = 1, repeats: int = 1, precision: str = "fp32") -> dict:
    spec = model.generation_spec
    T = spec.seed_length(opt.output_modalities[0]) + frames
    g = torch.Generator().manual_seed(0)
    inputs = {opt.input_modalities[0]: torch.randn(T, d_audio, generator=g), opt.output_modalities[0]: torch.randn(T, d_motion, generator=g)}
    model.generate(inputs, temperature=1.0, num_samples=batch, frames_per_step=frames_per_step, precision=precision)  # warm-up (first-call allocations)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        out = model.generate(inputs, temperature=1.0, num_samples=batch, frames_per_step=frames_per_step, precision=precision)
        best = min(best, time.perf_counter() - t)
    assert next(iter(out.values())).shape[-2] == T
    motion_s = frames / FPS
    return {
        "batch": batch, "frames": frames, "frames_per_step": frames_per_step, "precision": precision, "wall_s": round(best, 4),
        "ms_per_step": round(1e3 * best / -(-frames // frames_per_step), 3),
        "rtf_per_sample": round(motion_s / best, 2), "rtf_batch_total": round(batch * motion_s / best, 2),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0, help="motion generated per demo-size run")
    p.add_argument("--paper_frames", type=int, default=3, help="frames generated at the paper's size")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--skip_paper", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    frames = int(args.seconds * FPS)
    res = {"fps": FPS, "torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(), "demo_size": {}, "paper_size_transflower": {}}
    for name in DEMO_MODELS:
        model, opt, da, dm = build(name)
        entry = {"params": sum(p.numel() for p in model.parameters()), "b1": time_generation(model, opt, da, dm, frames, 1, repeats=2)}
        if name in ("transflower", "transglower"):
            N = max(opt.output_lengths)
            if N > 1:
                entry[f"b1_fps{N}"] = time_generation(model, opt, da, dm, frames, 1, frames_per_step=N, repeats=2)
        entry["b16"] = time_generation(model, opt, da, dm, frames, 16)
        res["demo_size"][name] = entry
    if not args.skip_paper:
        model, opt, da, dm = build("transflower", PAPER, PAPER_DIMS)
        cfg = {k: v for k, v in PAPER.items()}
        cfg.update(audio_dim=da, motion_dim=dm, params=sum(p.numel() for p in model.parameters()))
        res["paper_size_transflower"] = {
            "config": cfg,
            "b1": time_generation(model, opt, da, dm, args.paper_frames, 1),
            "b16": time_generation(model, opt, da, dm, max(1, args.paper_frames - 1), 16),
            "b1_bf16": time_generation(model, opt, da, dm, args.paper_frames, 1, precision="bf16"),
            "b16_bf16": time_generation(model, opt, da, dm, max(1, args.paper_frames - 1), 16, precision="bf16"),
        }
    res["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
