"""Transflower generation side by side with the reference implementation (guillefix/transflower-lightning).

Needs a checkout of the reference (``--reference PATH``; not needed by the tests). Both models are
built with random weights at the same sizes — the reference's input encoders have 2 layers and a
feed-forward width of d, post-norm, so motionlab runs with ``--input_nlayers 2 --dim_feedforward d
--no-norm_first`` for identical per-step work — and generate ``--frames`` frames one step at a time
at batch 1 (the reference: ``model.forward`` on the context windows, as its
``autoregressive_generation_multimodal`` does per frame; motionlab: ``model.generate``). Timings
alternate reference / motionlab, best of ``--repeats``. Prints JSON with ms/frame and the ratios
(reference / motionlab: > 1 means motionlab is faster), also for motionlab in bf16.

The reference imports optimiser and x-transformers packages its generation does not use (madgrad,
pl_bolts, einops, entmax); when they are not installed, empty stand-ins are registered for them.

    .venv/bin/python benchmarks/compare_reference.py --reference /path/to/transflower-lightning [--sizes small,paper]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from pathlib import Path

import torch

from generation import perturb_zero_heads, time_generation  # benchmarks/generation.py
from motionlab.dataspec import DataSpec
from motionlab.models import find_model_using_name
from motionlab.training.options import parse_options

SIZES = {
    "small": dict(dhid=32, nlayers=1, nhead=2, steps=3, flow_hidden=32, flow_nlayers=1, flow_nhead=2, mixtures=2, lengths=(20, 10), dims=(16, 12), head_std=0.02),
    # random coupling heads at this size saturate the reference's mixture CDF (its inverse refuses y = 1), with its
    # own default init too: both get zero heads (identity couplings; the reference's bisection runs its full
    # iterations anyway, motionlab's Newton solve may stop an iteration or two earlier)
    "paper": dict(dhid=800, nlayers=12, nhead=10, steps=16, flow_hidden=512, flow_nlayers=2, flow_nhead=8, mixtures=5, lengths=(140, 120), dims=(85, 67), head_std=0.0),
}
UNUSED_BY_GENERATION = ("madgrad", "pl_bolts", "pl_bolts.optimizers", "pl_bolts.optimizers.lr_scheduler", "einops", "einops.layers", "einops.layers.torch", "entmax")


class _Placeholder(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {"__init__": lambda self, *a, **k: None})


def import_reference(path: Path):
    """The reference's TransflowerModel class, with stand-ins for packages only its training needs."""
    sys.path.insert(0, str(path))
    for name in UNUSED_BY_GENERATION:
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = _Placeholder(name)
    from models.transflower_model import TransflowerModel  # noqa: E402  (the reference's package)

    return TransflowerModel


def reference_model(cls, s: dict):
    parser = argparse.ArgumentParser()
    cls.modify_commandline_options(parser, None)
    (a_len, m_len), (a_dim, m_dim) = s["lengths"], s["dims"]
    opt = parser.parse_args([
        "--dhid", str(s["dhid"]), "--nlayers", str(s["nlayers"]), "--nhead", str(s["nhead"]), "--dhid_flow", str(s["flow_hidden"]),
        "--num_heads_flow", str(s["flow_nhead"]), "--scales", f"[[{s['steps']},0]]", "--num_glow_coupling_blocks", str(s["flow_nlayers"]),
        "--num_mixture_components", str(s["mixtures"]), "--dropout", "0", "--conditioning_seq_lens", "1",
        "--use_transformer_nn", "--use_pos_emb_coupling", "--cond_concat_dims", "--use_pos_emb_output",
    ])
    extra = dict(input_modalities="audio,motion", output_modalities="motion", dins=f"{a_dim},{m_dim}", douts=str(m_dim),
                 input_lengths=f"{a_len},{m_len}", output_lengths="1", output_time_offsets=str(m_len), input_time_offsets="0,0",
                 input_types=None, input_fix_length_types=None, output_fix_length_types=None, input_num_tokens=None, output_num_tokens=None)
    for k, v in extra.items():
        setattr(opt, k, v)
    model = cls(opt)
    with torch.no_grad():  # the same coupling heads as motionlab's: each coupling network's last Linear, zero + std head_std
        for glow in model.output_mod_glows:
            for coupling in (m for m in glow.modules() if hasattr(m, "nn") and isinstance(m.nn, torch.nn.Module)):
                last = [m for m in coupling.nn.modules() if isinstance(m, torch.nn.Linear)][-1]
                last.weight.normal_(0.0, s["head_std"]) if s["head_std"] else last.weight.zero_()
                last.bias.zero_()
    return model.eval()


def motionlab_model(s: dict):
    (a_len, m_len), (a_dim, m_dim) = s["lengths"], s["dims"]
    opt = parse_options([
        "--hparams_file", "demo/transflower", "--dhid", str(s["dhid"]), "--nlayers", str(s["nlayers"]), "--input_nlayers", "2", "--nhead", str(s["nhead"]),
        "--dim_feedforward", str(s["dhid"]), "--no-norm_first", "--num_glow_coupling_blocks", str(s["steps"]), "--flow_hidden", str(s["flow_hidden"]),
        "--flow_nlayers", str(s["flow_nlayers"]), "--flow_nhead", str(s["flow_nhead"]), "--num_mixture_components", str(s["mixtures"]),
        "--input_lengths", f"{a_len},{m_len}", "--output_lengths", "1", "--conditioning_seq_lens", "1", "--output_time_offsets", str(m_len), "--dropout", "0",
    ])
    spec = DataSpec(tuple(opt.input_modalities), tuple(opt.output_modalities), (a_dim, m_dim), (m_dim,))
    model = find_model_using_name("transflower")(opt, spec)
    perturb_zero_heads(model, s["head_std"])
    return model.eval(), opt


def time_reference(model, s: dict, frames: int) -> float:
    (a_len, m_len), (a_dim, m_dim) = s["lengths"], s["dims"]
    audio, motion = torch.randn(a_len, 1, a_dim), torch.randn(m_len, 1, m_dim)
    with torch.no_grad():
        model.forward([audio, motion])  # warm-up
        t = time.perf_counter()
        for _ in range(frames):
            out = model.forward([audio, motion])[0]
            motion = torch.cat([motion[1:], out[:1]])  # the new frame fed back, as the reference's loop does
    return (time.perf_counter() - t) / frames


def time_motionlab(model, opt, s: dict, frames: int, precision: str) -> float:
    """Seconds per frame of ``model.generate`` (benchmarks/generation.py's timing: seed context + ``frames``)."""
    a_dim, m_dim = s["dims"]
    return time_generation(model, opt, a_dim, m_dim, frames, 1, precision=precision)["ms_per_step"] / 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reference", required=True, help="checkout of guillefix/transflower-lightning")
    p.add_argument("--sizes", default="small,paper")
    p.add_argument("--frames", type=int, default=0, help="frames per timing (0: 200 small, 4 paper)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ref_cls = import_reference(Path(args.reference))
    out = {"threads": torch.get_num_threads(), "torch": torch.__version__, "sizes": {}}
    for size in args.sizes.split(","):
        s = SIZES[size]
        frames = args.frames or (200 if size == "small" else 4)
        torch.manual_seed(0)
        ref = reference_model(ref_cls, s)
        ours, opt = motionlab_model(s)
        best = {"reference": float("inf"), "motionlab": float("inf"), "motionlab_bf16": float("inf")}
        for _ in range(args.repeats):  # interleaved, so a busy moment of the machine hits both
            best["reference"] = min(best["reference"], time_reference(ref, s, frames))
            best["motionlab"] = min(best["motionlab"], time_motionlab(ours, opt, s, frames, "fp32"))
            best["motionlab_bf16"] = min(best["motionlab_bf16"], time_motionlab(ours, opt, s, frames, "bf16"))
        out["sizes"][size] = {
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in s.items()}, "frames": frames,
            "params": {"reference": sum(q.numel() for q in ref.parameters()), "motionlab": sum(q.numel() for q in ours.parameters())},
            "ms_per_frame": {k: round(1e3 * v, 3) for k, v in best.items()},
            "reference_over_motionlab": round(best["reference"] / best["motionlab"], 3),
            "reference_over_motionlab_bf16": round(best["reference"] / best["motionlab_bf16"], 3),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
