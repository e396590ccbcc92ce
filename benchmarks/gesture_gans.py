"""Gesture GANs: training step time (G step, D step) and generation real-time factor, at paper and demo size.

Prints JSON. Paper size: 64-mel audio and 96-d poses over 64-frame windows, batch 16, 256 channels
(Mix-StAGE with 8 generators); demo size: hparams/demo/*.yaml on 16-d audio / 12-d motion, 32 frames.
Real-time factor = seconds of motion generated (at 15 fps for paper size, 20 for demo) per second
of wall time, one 60 s sequence through the overlapping-window stitch.
    .venv/bin/python benchmarks/gesture_gans.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from motionlab.dataspec import DataSpec
from motionlab.models import find_model_using_name
from motionlab.training.options import parse_options

SIZES = {
    "paper": {"hparams": "gesture/{}", "audio": 64, "motion": 96, "L": 64, "batch": 16, "fps": 15.0, "extra": []},
    "demo": {"hparams": "demo/{}", "audio": 16, "motion": 12, "L": 32, "batch": 32, "fps": 20.0, "extra": []},
}


def build(name: str, size: dict):
    opt = parse_options(["--hparams_file", size["hparams"].format(name), "--input_modalities", "a", "--output_modalities", "m",
                         "--input_lengths", str(size["L"]), "--output_lengths", str(size["L"]), "--input_time_offsets", "0", "--output_time_offsets", "0",
                         *(["--curriculum_steps", "0"] if name != "speech2gesture" else [])])  # the audio path every step, as after the curriculum
    if name != "mixstage":
        opt.pose_clusters = 0
    spec = DataSpec(("a",), ("m",), (size["audio"],), (size["motion"],), size["fps"], ("s0", "s1", "s2", "s3"))
    return find_model_using_name(name)(opt, spec)


def timed(fn, repeats: int) -> float:
    """Best of ``repeats`` after one warm-up call: the least disturbed figure on a shared machine."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench(name: str, size: dict, repeats: int) -> dict:
    torch.manual_seed(0)
    model = build(name, size).train()
    B, L = size["batch"], size["L"]
    batch = {"inputs": [torch.randn(B, L, size["audio"])], "outputs": [torch.randn(B, L, size["motion"])], "speaker": torch.arange(B) % 4,
             "pose_cluster": torch.randint(0, max(1, getattr(model, "k", 1)), (B, L))}
    g = torch.optim.Adam(model.generator_parameters(), 1e-4)
    d = torch.optim.Adam(model.discriminator_parameters(), 1e-4)

    def step(opt, loss_fn):
        opt.zero_grad(set_to_none=True)
        loss_fn(batch)[0].backward()
        opt.step()

    g_time = timed(lambda: step(g, model.generator_loss), repeats)
    d_time = timed(lambda: step(d, model.discriminator_loss), repeats)
    model.eval()
    seconds = 60.0
    audio = torch.randn(int(seconds * size["fps"]), size["audio"])
    cond = {"speaker": 0} if name != "speech2gesture" else {}
    gen = timed(lambda: model.generate({"a": audio}, **cond), max(1, repeats // 2))
    return {"params": sum(p.numel() for p in model.parameters()), "g_step_s": round(g_time, 4), "d_step_s": round(d_time, 4), "generation_rtf": round(seconds / gen, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sizes", default="demo,paper")
    args = p.parse_args()
    out = {"torch_threads": torch.get_num_threads()}
    for size in args.sizes.split(","):
        out[size] = {name: bench(name, SIZES[size], args.repeats) for name in ("speech2gesture", "stage", "mixstage")}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
