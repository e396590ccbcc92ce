"""CC-NCE: generator step time (forward + backward of the G loss) with and without the text encoder and
the contrastive term, at the CPU size (hparams/gesture/ccnce_cpu.yaml) and the paper size (gesture/ccnce).

Prints JSON. Batch of 64-frame windows: 81-d audio (mel80 + onset), 2-column word tokens (a word
every ~8 frames), 228-d poses (the ZEGGS rig's channels); CC-NCE's dictionary is full (max clusters x
members windows re-encoded each step, as in steady state).
    .venv/bin/python benchmarks/ccnce_step_time.py [--repeats 3] [--sizes cpu,paper]
"""

from __future__ import annotations

import argparse
import json

import torch

from gesture_gans import timed  # benchmarks/gesture_gans.py: best of n after a warm-up
from motionlab.dataspec import DataSpec
from motionlab.models import find_model_using_name
from motionlab.training.options import parse_options

AUDIO, MOTION, L = 81, 228, 64
CONFIGS = {
    "audio_only_no_contrastive": ["--text_encoder", "none", "--contrastive", "none"],
    "audio_only_ccnce": ["--text_encoder", "none", "--contrastive", "ccnce"],
    "learned_text_no_contrastive": ["--text_encoder", "learned", "--contrastive", "none"],
    "learned_text_ccnce": ["--text_encoder", "learned", "--contrastive", "ccnce"],
    "minilm_text_no_contrastive": ["--text_encoder", "minilm", "--contrastive", "none"],
    "minilm_text_ccnce": ["--text_encoder", "minilm", "--contrastive", "ccnce"],
    "minilm_text_moco": ["--text_encoder", "minilm", "--contrastive", "moco"],
    "minilm_text_patchnce": ["--text_encoder", "minilm", "--contrastive", "patchnce"],
}


def build(hparams: str, extra: list[str]):
    opt = parse_options(["--hparams_file", hparams, "--data_dir", "unused", "--input_modalities", "a,text_wordpiece_20fps", "--output_modalities", "m",
                         "--curriculum_steps", "0", *extra])
    spec = DataSpec(("a", "text_wordpiece_20fps"), ("m",), (AUDIO, 2), (MOTION,), 20.0)
    model = find_model_using_name("ccnce")(opt, spec)
    model.train()
    return model, opt


def batch(B: int, K: int) -> dict:
    g = torch.Generator().manual_seed(0)
    text = torch.zeros(B, L, 2)
    for b in range(B):
        index = 0
        for start in range(0, L, 8):
            text[b, start : start + 6, 0] = 2000 + (b * 7 + start) % 500
            text[b, start : start + 6, 1] = index
            index += 1
    return {"inputs": [torch.randn(B, L, AUDIO, generator=g), text], "outputs": [torch.randn(B, L, MOTION, generator=g)],
            "pose_cluster": torch.randint(0, K, (B, L), generator=g)}


def fill_dictionary(model, opt) -> None:
    c = model.contrastive
    if c is None or not hasattr(c, "inputs"):
        return
    c.threshold_epoch, c.threshold = -1, 0.3
    for k in range(c.max_clusters):
        c.inputs.append(torch.randn(c.members, opt.hidden_channels, L))
        c.poses.append(torch.randn(c.members, L, MOTION))
        c.last_used.append(0)


def step_seconds(model, b: dict, repeats: int) -> float:
    def once():
        loss, _ = model.generator_loss(b)
        loss.backward()
        model.zero_grad(set_to_none=True)

    return timed(once, repeats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sizes", default="cpu,paper")
    args = p.parse_args()
    out = {"threads": torch.get_num_threads(), "repeats": args.repeats, "sizes": {}}
    for size in args.sizes.split(","):
        hparams = "gesture/ccnce_cpu" if size == "cpu" else "gesture/ccnce"
        rows = {}
        for name, extra in CONFIGS.items():
            model, opt = build(hparams, extra)
            fill_dictionary(model, opt)
            rows[name] = {"g_step_s": round(step_seconds(model, batch(opt.batch_size, opt.pose_clusters), args.repeats), 4),
                          "trainable_generator_parameters": sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and not n.startswith("discriminator."))}
        out["sizes"][size] = {"hparams": hparams, "batch": opt.batch_size, "configs": rows}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
